//! Projection lag under load (DESIGN §10: p99 ≤ 50 ms at 5k commands/s): the time from a
//! position being committed (the writer's committed watch moves past it) to the read models
//! having applied it (`ReadModels::wait_for` returns it), for every event of a paced workload of
//! §2.5 orders placed and paid.
//!
//! - `embedded`: SQLite log, SQLite read models (`<dir>/read`), `projections::spawn_embedded`.
//! - `jetstream`: PostgreSQL log and read models (a fresh schema of database `test`), the relay to
//!   the local NATS (a stream of its own), the JetStream consumer.
//!
//! cargo run --release -p benches --bin lag-bench -- <embedded|jetstream> [commands/s] [seconds]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::{fund_customer, percentile, BenchSchema};
use commands::testing::{purchase, setup_world};
use commands::{Writer, WriterConfig, WriterHandle};
use event_log::relay::{spawn_relay, RelayConfig};
use event_log::LogAppend;
use event_log::{PostgresReader, PostgresStore, SqliteStore};
use projections::{spawn_embedded, spawn_jetstream_with, JetStreamConfig, ReadModels};

/// Commands are sent on this tick, `rate × tick` at a time.
const PACING_TICK: Duration = Duration::from_millis(2);
/// Lags of the first seconds (caches cold, batches forming) are not counted.
const WARM_UP: Duration = Duration::from_secs(2);
const CATCH_UP_MAX: Duration = Duration::from_secs(120);

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let mode = arguments.first().map(String::as_str).unwrap_or("embedded").to_owned();
    let rate: u64 = arguments.get(1).map(|value| value.parse().expect("a rate")).unwrap_or(5_000);
    let seconds: u64 = arguments.get(2).map(|value| value.parse().expect("seconds")).unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match mode.as_str() {
        "embedded" => {
            let directory = tempfile::tempdir().unwrap();
            let store = SqliteStore::open_writer(directory.path()).unwrap();
            let reader = event_log::AsyncLog::new(store.reopen().unwrap());
            let read_models = ReadModels::open_sqlite(&directory.path().join("read")).unwrap();
            runtime.block_on(async {
                let writer = Writer::start(store, WriterConfig::default()).unwrap();
                let runner = spawn_embedded(
                    read_models.clone(),
                    reader,
                    writer.handle().committed(),
                    Some(writer.handle().feed()),
                );
                measure("embedded (SQLite log and read models)", &writer.handle(), &read_models, rate, seconds).await;
                tokio::task::spawn_blocking(move || writer.shutdown()).await.unwrap();
                let _ = runner.await;
            });
        }
        "jetstream" => {
            let schema = BenchSchema::create();
            let store = PostgresStore::open_writer(&schema.config(), "lag-bench").unwrap();
            let (relay_reader, consumer_reader) =
                (PostgresReader::open(&schema.config()).unwrap(), PostgresReader::open(&schema.config()).unwrap());
            runtime.block_on(async {
                let nats = async_nats::connect("127.0.0.1:4222").await.expect("NATS is reachable (ops/services start)");
                let name = format!("kboss_bench_{}", uuid::Uuid::now_v7().simple());
                let relay_config = RelayConfig {
                    stream: name.to_uppercase(),
                    subject_prefix: format!("{name}.events"),
                    ..RelayConfig::default()
                };
                let consumer_config =
                    JetStreamConfig { stream: relay_config.stream.clone(), ..JetStreamConfig::new("lag_bench") };
                let read_models = ReadModels::open_postgres(schema.pool()).await.unwrap();
                let writer = Writer::start(store, WriterConfig::default()).unwrap();
                let relay = spawn_relay(
                    event_log::AsyncLog::new(relay_reader),
                    nats.clone(),
                    Some(writer.handle().committed()),
                    relay_config.clone(),
                );
                let consumer = spawn_jetstream_with(
                    read_models.clone(),
                    nats.clone(),
                    event_log::AsyncLog::new(consumer_reader),
                    consumer_config,
                );
                measure(
                    "jetstream (PostgreSQL log and read models, relay, consumer)",
                    &writer.handle(),
                    &read_models,
                    rate,
                    seconds,
                )
                .await;
                consumer.shutdown().await;
                relay.shutdown().await;
                tokio::task::spawn_blocking(move || writer.shutdown()).await.unwrap();
                let _ = async_nats::jetstream::new(nats).delete_stream(&relay_config.stream).await;
            });
        }
        other => panic!("unknown mode {other}: embedded or jetstream"),
    }
}

async fn measure(label: &str, handle: &WriterHandle, read_models: &ReadModels, rate: u64, seconds: u64) {
    let world = Arc::new(setup_world(handle).await.unwrap());
    fund_customer(handle, &world).await;
    read_models.wait_for(*handle.committed().borrow(), CATCH_UP_MAX).await.expect("the set-up is applied");

    // Every commit, as (last position, when); the observer pops them as they are applied.
    let commits: Arc<Mutex<VecDeque<(u64, Instant)>>> = Arc::default();
    let watcher = {
        let (mut committed, commits) = (handle.committed(), commits.clone());
        tokio::spawn(async move {
            while committed.changed().await.is_ok() {
                let position = *committed.borrow_and_update();
                commits.lock().unwrap().push_back((position, Instant::now()));
            }
        })
    };
    let started = Instant::now();
    let counting_from = started + WARM_UP;
    let observer = {
        let (commits, read_models) = (commits.clone(), read_models.clone());
        tokio::spawn(async move {
            let (mut lags_us, mut previous) = (Vec::new(), 0_u64);
            loop {
                let front = commits.lock().unwrap().front().copied();
                let Some((position, _)) = front else {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    continue;
                };
                if position == u64::MAX {
                    return lags_us;
                }
                let reached = read_models.wait_for(position, CATCH_UP_MAX).await.expect("the read models keep up");
                let now = Instant::now();
                let mut commits = commits.lock().unwrap();
                while let Some(&(position, committed_at)) = commits.front() {
                    if position > reached {
                        break;
                    }
                    commits.pop_front();
                    if committed_at >= counting_from {
                        // One sample per event of the commit.
                        let lag = now.duration_since(committed_at).as_micros() as u64;
                        lags_us.extend(std::iter::repeat(lag).take((position - previous.min(position)) as usize));
                    }
                    previous = position;
                }
            }
        })
    };

    // The paced load: purchase n is placed then paid; `rate` commands/s in all.
    let purchases_per_tick = rate as f64 * PACING_TICK.as_secs_f64() / 2.0;
    let mut tick = tokio::time::interval(PACING_TICK);
    let (mut n, mut credit, mut tasks) = (0_u64, 0.0_f64, Vec::new());
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        credit += purchases_per_tick;
        while credit >= 1.0 {
            credit -= 1.0;
            let (handle, world) = (handle.clone(), world.clone());
            let [_, place, pay] = purchase(&world, n);
            n += 1;
            tasks.push(tokio::spawn(async move {
                handle.submit(place).await.expect("commits");
                handle.submit(pay).await.expect("commits");
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let last = *handle.committed().borrow();
    read_models.wait_for(last, CATCH_UP_MAX).await.expect("the read models catch up");
    watcher.abort();
    commits.lock().unwrap().push_back((u64::MAX, Instant::now()));
    let mut lags_us = observer.await.unwrap();
    lags_us.sort_unstable();
    println!(
        "lag-bench {label}: {} commands in {elapsed:.1} s = {:.0} commands/s offered {rate}/s; lag over {} events \
         (after {} s warm-up): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        n * 2,
        (n * 2) as f64 / elapsed,
        lags_us.len(),
        WARM_UP.as_secs(),
        percentile(&lags_us, 0.50) as f64 / 1e3,
        percentile(&lags_us, 0.99) as f64 / 1e3,
        *lags_us.last().unwrap() as f64 / 1e3,
    );
}
