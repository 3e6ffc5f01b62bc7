//! The in-process writer on the embedded SQLite store, durable (WAL, synchronous = FULL):
//! commands per second for the DESIGN §2.5 purchase (place an order, pay it from balance), with
//! `concurrency` submitters, and the latency of each command.
//!
//! cargo run --release -p benches --bin writer-bench -- [purchases] [concurrency]
//! (with `KBOSS_BENCH_DATA_DIR=<dir>` the log is kept in `<dir>`)

use std::sync::Arc;
use std::time::Instant;

use benches::{fund_customer, percentile, place_and_pay};
use commands::testing::setup_world;
use commands::{Writer, WriterConfig};
use event_log::SqliteStore;

fn main() {
    let arguments: Vec<u64> = std::env::args().skip(1).map(|argument| argument.parse().expect("a number")).collect();
    let purchases = arguments.first().copied().unwrap_or(100_000);
    let concurrency = arguments.get(1).copied().unwrap_or(256);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run(purchases, concurrency));
}

async fn run(purchases: u64, concurrency: u64) {
    // KBOSS_BENCH_DATA_DIR keeps the log there (to time `kboss rebuild` of it); a temporary
    // directory otherwise.
    let temporary = tempfile::tempdir().unwrap();
    let kept = std::env::var_os("KBOSS_BENCH_DATA_DIR").map(std::path::PathBuf::from);
    let directory = kept.as_deref().unwrap_or(temporary.path());
    let writer = Writer::start(SqliteStore::open_writer(directory).unwrap(), WriterConfig::default()).unwrap();
    let handle = writer.handle();
    let world = Arc::new(setup_world(&handle).await.unwrap());
    fund_customer(&handle, &world).await;
    let started = Instant::now();
    let latencies_us = place_and_pay(&handle, &world, purchases, concurrency).await;
    let elapsed = started.elapsed();
    let commands = latencies_us.len() as f64;
    let log_bytes = std::fs::metadata(event_log::sqlite::database_path(directory)).map(|meta| meta.len()).unwrap_or(0);
    writer.shutdown();
    println!(
        "writer-bench sqlite durable: {} commands ({} purchases) with {} submitters in {:.2} s = {:.0} commands/s; \
         latency p50 {} us, p99 {} us, max {} us; database {} MiB",
        latencies_us.len(),
        purchases,
        concurrency,
        elapsed.as_secs_f64(),
        commands / elapsed.as_secs_f64(),
        percentile(&latencies_us, 0.50),
        percentile(&latencies_us, 0.99),
        latencies_us.last().unwrap(),
        log_bytes >> 20,
    );
}
