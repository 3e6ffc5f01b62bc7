//! The in-process writer on the embedded SQLite store, durable (WAL, synchronous = FULL):
//! commands per second for the DESIGN §2.5 purchase (place an order, pay it from balance), with
//! `concurrency` submitters, and the latency of each command.
//!
//! cargo run --release -p benches --bin writer-bench -- [purchases] [concurrency]

use std::sync::Arc;
use std::time::Instant;

use benches::percentile;
use commands::testing::{command, purchase, setup_world};
use commands::{Request, SqliteStore, Writer, WriterConfig};
use ledger_core::ids::{RechargeId, TradeNumber};
use ledger_core::money::Amount;
use ledger_core::CommandBody;

fn main() {
    let arguments: Vec<u64> = std::env::args().skip(1).map(|argument| argument.parse().expect("a number")).collect();
    let purchases = arguments.first().copied().unwrap_or(100_000);
    let concurrency = arguments.get(1).copied().unwrap_or(256);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run(purchases, concurrency));
}

async fn run(purchases: u64, concurrency: u64) {
    let directory = tempfile::tempdir().unwrap();
    let writer = Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), WriterConfig::default()).unwrap();
    let handle = writer.handle();
    let world = Arc::new(setup_world(&handle).await.unwrap());
    let funding = CommandBody::ConfirmOnlineRecharge {
        recharge_id: RechargeId::from_u128(0xF00D),
        customer_id: world.customer,
        amount: Amount::parse("900000000000.00").unwrap(),
        channel: "alipay".into(),
        trade_number: TradeNumber::try_from("FUNDING".to_owned()).unwrap(),
    };
    handle.submit(Request::new(command(&world.r2_finance, funding))).await.unwrap();
    let started = Instant::now();
    let lanes: Vec<_> = (0..concurrency)
        .map(|lane| {
            let (handle, world) = (handle.clone(), world.clone());
            tokio::spawn(async move {
                let mut latencies_us = Vec::new();
                for n in (lane..purchases).step_by(concurrency as usize) {
                    let [_, place, pay] = purchase(&world, n);
                    for request in [place, pay] {
                        let sent = Instant::now();
                        handle.submit(request).await.expect("the command commits");
                        latencies_us.push(sent.elapsed().as_micros() as u64);
                    }
                }
                latencies_us
            })
        })
        .collect();
    let mut latencies_us = Vec::with_capacity(purchases as usize * 2);
    for lane in lanes {
        latencies_us.extend(lane.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies_us.sort_unstable();
    let commands = latencies_us.len() as f64;
    let log_bytes =
        std::fs::metadata(commands::sqlite::database_path(directory.path())).map(|meta| meta.len()).unwrap_or(0);
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
