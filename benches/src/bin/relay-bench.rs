//! The relay's throughput: a log of §2.5 orders placed and paid, built with the writer on SQLite,
//! then published from position 1 by `event_log::relay` to a fresh stream on the local NATS
//! (JetStream, file storage), every publish acknowledged (stream sequence = position).
//!
//! cargo run --release -p benches --bin relay-bench -- [purchases] [publishes in flight]

use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::{fund_customer, place_and_pay};
use commands::testing::setup_world;
use commands::{Writer, WriterConfig};
use event_log::relay::{spawn_relay, RelayConfig};
use event_log::{LogRead, SqliteReader, SqliteStore};

const BUILD_SUBMITTERS: u64 = 1_024;

fn main() {
    let arguments: Vec<u64> = std::env::args().skip(1).map(|argument| argument.parse().expect("a number")).collect();
    let purchases = arguments.first().copied().unwrap_or(20_000);
    let in_flight = arguments.get(1).copied().unwrap_or(256) as usize;
    let directory = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let writer =
            Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), WriterConfig::default()).unwrap();
        let handle = writer.handle();
        let world = Arc::new(setup_world(&handle).await.unwrap());
        fund_customer(&handle, &world).await;
        place_and_pay(&handle, &world, purchases, BUILD_SUBMITTERS).await;
        tokio::task::spawn_blocking(move || writer.shutdown()).await.unwrap();

        let mut reader = SqliteReader::open(directory.path()).unwrap();
        let last = reader.last_position().unwrap();
        let nats = async_nats::connect("127.0.0.1:4222").await.expect("NATS is reachable (ops/services start)");
        let name = format!("kboss_bench_{}", uuid::Uuid::now_v7().simple());
        let config = RelayConfig {
            stream: name.to_uppercase(),
            subject_prefix: format!("{name}.events"),
            publishes_in_flight_max: in_flight,
            ..RelayConfig::default()
        };
        let started = Instant::now();
        let relay = spawn_relay(event_log::AsyncLog::new(reader), nats.clone(), None, config.clone());
        let mut published = relay.published();
        tokio::time::timeout(Duration::from_secs(600), published.wait_for(|position| *position >= last))
            .await
            .expect("the relay publishes the log")
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        relay.shutdown().await;
        let _ = async_nats::jetstream::new(nats).delete_stream(&config.stream).await;
        println!(
            "relay-bench: published {last} events with {in_flight} in flight in {seconds:.2} s = {:.0} events/s",
            last as f64 / seconds
        );
    });
}
