//! The in-process writer on PostgreSQL (durable: the server's `synchronous_commit = on`, fsync
//! on) against the plain-SQL baseline of `ops/bench-baseline`, in the same run: first pgbench
//! (one balanced two-line posting per transaction, 8 clients; then 1000 per transaction), then
//! the writer placing and paying §2.5 orders with `submitters` concurrent callers, each command
//! answered only once its batch is committed.
//!
//! cargo run --release -p benches --bin pg-writer-bench -- [purchases] [submitters] [baseline seconds]

use std::sync::Arc;
use std::time::Instant;

use benches::{fund_customer, percentile, place_and_pay, BenchSchema};
use commands::testing::setup_world;
use commands::{Writer, WriterConfig};
use event_log::PostgresStore;

fn main() {
    let arguments: Vec<u64> = std::env::args().skip(1).map(|argument| argument.parse().expect("a number")).collect();
    let purchases = arguments.first().copied().unwrap_or(50_000);
    let submitters = arguments.get(1).copied().unwrap_or(1_024);
    let baseline_seconds = arguments.get(2).copied().unwrap_or(20);

    let baseline = baseline(baseline_seconds);
    print!("{baseline}");
    let naive = postings_per_second(&baseline, "naive");

    let schema = BenchSchema::create();
    let mut store = PostgresStore::open_writer(&schema.config(), "pg-writer-bench").expect("the log opens");
    // Experiments on the table layout (RESULTS.md says which were run), e.g.
    // KBOSS_BENCH_PG_SETUP="ALTER TABLE events ALTER COLUMN body SET STORAGE EXTERNAL".
    if let Ok(sql) = std::env::var("KBOSS_BENCH_PG_SETUP") {
        let mut client = schema.config().connect(postgres::NoTls).expect("connect");
        client.batch_execute(&sql).expect("the setup SQL runs");
        println!("setup: {sql}");
    }
    let _ = event_log::LogRead::last_position(&mut store);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (commands, seconds, latencies_us) = runtime.block_on(run(store, purchases, submitters));
    let rate = commands as f64 / seconds;
    println!(
        "pg-writer-bench: {commands} commands ({purchases} purchases) with {submitters} submitters in {seconds:.2} s = \
         {rate:.0} commands/s; latency p50 {} us, p99 {} us, max {} us; {:.1}x the naive baseline",
        percentile(&latencies_us, 0.50),
        percentile(&latencies_us, 0.99),
        latencies_us.last().unwrap(),
        rate / naive,
    );
}

/// Runs `ops/bench-baseline` and answers what it printed.
fn baseline(seconds: u64) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/bench-baseline");
    let output =
        std::process::Command::new(script).arg(seconds.to_string()).arg("8").output().expect("ops/bench-baseline runs");
    assert!(output.status.success(), "ops/bench-baseline failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn postings_per_second(baseline: &str, name: &str) -> f64 {
    let prefix = format!("baseline {name}: ");
    let line = baseline.lines().find(|line| line.starts_with(&prefix)).expect("the baseline printed it");
    line[prefix.len()..].split(' ').next().unwrap().parse().expect("a rate")
}

async fn run(store: PostgresStore, purchases: u64, submitters: u64) -> (usize, f64, Vec<u64>) {
    let writer = Writer::start(store, WriterConfig::default()).expect("the writer starts");
    let handle = writer.handle();
    let world = Arc::new(setup_world(&handle).await.expect("the world is set up"));
    fund_customer(&handle, &world).await;
    let started = Instant::now();
    let latencies_us = place_and_pay(&handle, &world, purchases, submitters).await;
    let seconds = started.elapsed().as_secs_f64();
    // The blocking client's threads end here, off the runtime.
    tokio::task::spawn_blocking(move || writer.shutdown()).await.unwrap();
    (latencies_us.len(), seconds, latencies_us)
}
