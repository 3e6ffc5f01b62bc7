//! Replay rates (DESIGN §10: ≥ 1M events/s from SQLite, ≥ 300k/s from PostgreSQL). Builds a log
//! of §2.5 purchases with the real writer on SQLite, copies it event for event (same bytes, same
//! hashes) into a fresh PostgreSQL schema, then measures on each backend:
//! - read: `read_after` in chunks of `REPLAY_CHUNK_EVENTS`, rows fetched and decoded into
//!   `RecordedEvent`s (what every catch-up reader pays);
//! - load: `load_state` with no snapshot, i.e. read + verify (position, chain hash recomputed
//!   from the canonical encoding, balanced entries, wallets) + evolve: the writer's start-up.
//!
//! cargo run --release -p benches --bin replay-bench -- [purchases]

use std::sync::Arc;
use std::time::Instant;

use benches::{fund_customer, place_and_pay, BenchSchema};
use commands::testing::setup_world;
use commands::{Writer, WriterConfig};
use event_log::LogAppend;
use event_log::{LogRead, PostgresStore, SqliteStore};
use event_log::{PostgresReader, SqliteReader, REPLAY_CHUNK_EVENTS};
use ledger_core::event::EncodedEvent;

/// Submitters building the log: enough to fill the writer's batches.
const BUILD_SUBMITTERS: u64 = 1_024;

fn main() {
    let purchases: u64 = std::env::args().nth(1).map(|argument| argument.parse().expect("a number")).unwrap_or(100_000);
    let directory = tempfile::tempdir().unwrap();
    let built = Instant::now();
    build_log(directory.path(), purchases);
    let mut sqlite = SqliteReader::open(directory.path()).unwrap();
    let events = sqlite.last_position().unwrap();
    println!("replay-bench: built a log of {events} events in {:.1} s", built.elapsed().as_secs_f64());

    let schema = BenchSchema::create();
    let mut postgres = PostgresStore::open_writer(&schema.config(), "replay-bench").unwrap();
    copy_log(&mut sqlite, &mut postgres);
    drop(postgres);
    let mut postgres = PostgresReader::open(&schema.config()).unwrap();

    for round in 1..=2 {
        measure(&format!("sqlite   (round {round})"), &mut sqlite, events);
        measure(&format!("postgres (round {round})"), &mut postgres, events);
    }

    // How fast the read models fold the log (what bounds projection lag under load).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let until = events.min(READ_MODEL_EVENTS_MAX);
        let read_models = projections::ReadModels::open_sqlite(&directory.path().join("read")).unwrap();
        rebuild_rate("sqlite  ", &read_models, &event_log::AsyncLog::new(sqlite), until).await;
        let read_models = projections::ReadModels::open_postgres(schema.pool()).await.unwrap();
        rebuild_rate("postgres", &read_models, &event_log::AsyncLog::new(postgres), until).await;
    });
}

/// Events folded into read models per measurement at most (they are much slower than replay).
const READ_MODEL_EVENTS_MAX: u64 = 40_000;

async fn rebuild_rate<R: LogRead>(
    label: &str,
    read_models: &projections::ReadModels,
    store: &event_log::AsyncLog<R>,
    until: u64,
) {
    let started = Instant::now();
    let reached = projections::catch_up(read_models, store, Some(until), |_, _| {}).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "replay-bench read models {label}: catch_up applied {reached} events in {seconds:.2} s = {:.0} events/s",
        reached as f64 / seconds
    );
}

fn build_log(directory: &std::path::Path, purchases: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // No snapshot: the load below replays the whole log.
        let config = WriterConfig { snapshot_every_events: u64::MAX, ..WriterConfig::default() };
        let writer = Writer::start(SqliteStore::open_writer(directory).unwrap(), config).unwrap();
        let handle = writer.handle();
        let world = Arc::new(setup_world(&handle).await.unwrap());
        fund_customer(&handle, &world).await;
        place_and_pay(&handle, &world, purchases, BUILD_SUBMITTERS).await;
        writer.shutdown();
    });
}

fn copy_log(from: &mut impl LogRead, to: &mut impl LogAppend) {
    let mut after = 0;
    loop {
        let chunk = from.read_after(after, REPLAY_CHUNK_EVENTS).unwrap();
        let Some(last) = chunk.last() else { return };
        after = last.position;
        let encoded: Vec<EncodedEvent> = chunk.into_iter().map(EncodedEvent::of).collect();
        to.append(&encoded, &[]).unwrap();
    }
}

fn measure(label: &str, store: &mut impl LogRead, events: u64) {
    let started = Instant::now();
    let (mut after, mut read) = (0, 0_u64);
    loop {
        let chunk = store.read_after(after, REPLAY_CHUNK_EVENTS).unwrap();
        let Some(last) = chunk.last() else { break };
        after = last.position;
        read += chunk.len() as u64;
    }
    let read_seconds = started.elapsed().as_secs_f64();
    assert_eq!(read, events);
    let started = Instant::now();
    let state = event_log::load_state(store).unwrap();
    let load_seconds = started.elapsed().as_secs_f64();
    assert_eq!(state.last_position, events);
    println!(
        "replay-bench {label}: read + decode {events} events in {read_seconds:.2} s = {:.0} events/s; \
         load_state (read + verify + evolve) in {load_seconds:.2} s = {:.0} events/s",
        events as f64 / read_seconds,
        events as f64 / load_seconds,
    );
}
