//! One conformance suite for every event store: each check runs against SQLite (a temporary data
//! directory) and PostgreSQL (a fresh schema in the local server, dropped afterwards).
//!
//! PostgreSQL is reached at `KBOSS_TEST_DATABASE_URL` (default: the local server on 127.0.0.1,
//! trust auth, database `test`). When it is down these tests fail; they are never skipped.

use std::sync::Arc;

use commands::testing::{run_purchase, setup_world};
use commands::{Writer, WriterConfig};
use event_log::{IdempotencyRecord, LogAppend, LogRead, PostgresReader, SqliteReader, StoreError};
use event_log::{PostgresStore, SqliteStore};
use ledger_core::event::EncodedEvent;
use ledger_core::testing::WorkedExample;
use ledger_core::OrderCommand;
use ledger_core::RecordedEvent;

trait Backend {
    type Store: LogAppend;
    type Reader: LogRead;
    fn writer(&self) -> Result<Self::Store, StoreError>;
    fn reader(&self) -> Self::Reader;
    fn inject_failure_after(store: &mut Self::Store, events: usize);
}

struct Sqlite {
    directory: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite { directory: tempfile::tempdir().unwrap() }
    }
}

impl Backend for Sqlite {
    type Store = SqliteStore;
    type Reader = SqliteReader;
    fn writer(&self) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_writer(self.directory.path())
    }
    fn reader(&self) -> SqliteReader {
        SqliteReader::open(self.directory.path()).unwrap()
    }
    fn inject_failure_after(store: &mut SqliteStore, events: usize) {
        store.inject_append_failure_after(events);
    }
}

struct Postgres {
    config: ::postgres::Config,
    admin: ::postgres::Config,
    schema: String,
}

impl Postgres {
    fn new() -> Postgres {
        let url = std::env::var("KBOSS_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        let admin: ::postgres::Config = url.parse().expect("KBOSS_TEST_DATABASE_URL parses");
        let schema = format!("kboss_test_{}", uuid::Uuid::now_v7().simple());
        let mut client = admin.connect(::postgres::NoTls).expect("PostgreSQL is reachable (ops/services start)");
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
        let mut config = admin.clone();
        config.options(&format!("-c search_path={schema}"));
        Postgres { config, admin, schema }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect(::postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema));
        }
    }
}

impl Backend for Postgres {
    type Store = PostgresStore;
    type Reader = PostgresReader;
    fn writer(&self) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_writer(&self.config, &format!("test writer in {}", self.schema))
    }
    fn reader(&self) -> PostgresReader {
        PostgresReader::open(&self.config).unwrap()
    }
    fn inject_failure_after(store: &mut PostgresStore, events: usize) {
        store.inject_append_failure_after(events);
    }
}

/// The events of the paid §2.5 world, as a writer would hand them to a store.
fn sample_log() -> Vec<EncodedEvent> {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, ledger_core::CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    world.ledger.log.iter().map(|event| EncodedEvent::of(event.clone())).collect()
}

fn plain(events: &[EncodedEvent]) -> Vec<RecordedEvent> {
    events.iter().map(|encoded| encoded.event.clone()).collect()
}

fn key(name: &str, first: u64, last: u64) -> IdempotencyRecord {
    IdempotencyRecord {
        scoped_key: name.to_owned(),
        // A request hash is a SHA-256 in hex (the stores keep its 32 bytes).
        request_hash: format!("{:0>64}", hex::encode(name)),
        first_position: first,
        last_position: last,
    }
}

fn an_empty_store_has_nothing<B: Backend>(backend: B) {
    let mut store = backend.writer().unwrap();
    assert_eq!(store.last_position().unwrap(), 0);
    assert!(store.read_after(0, 10).unwrap().is_empty());
    assert_eq!(store.read_one(1).unwrap(), None);
    assert_eq!(store.find_key("nobody").unwrap(), None);
    assert_eq!(store.latest_snapshot().unwrap(), None);
}

fn appended_events_read_back_exactly<B: Backend>(backend: B) {
    let log = sample_log();
    let mut store = backend.writer().unwrap();
    let (head, tail) = log.split_at(10);
    store.append(head, &[key("a", 1, 10)]).unwrap();
    store.append(tail, &[]).unwrap();
    let mut reader = backend.reader();
    assert_eq!(reader.last_position().unwrap(), log.len() as u64);
    assert_eq!(reader.read_after(0, 1_000).unwrap(), plain(&log), "every field, hash included");
    assert_eq!(reader.read_after(5, 3).unwrap(), plain(&log[5..8]), "chunks");
    assert_eq!(reader.read_one(7).unwrap().as_ref(), Some(&log[6].event));
    for event in reader.read_after(0, 1_000).unwrap() {
        assert_eq!(event.record_hash(), event.hash, "what comes back hashes to what went in");
    }
    assert!(event_log::verify_store(&mut reader, |_| {}).is_ok());
}

fn a_batch_that_does_not_follow_the_log_is_refused<B: Backend>(backend: B) {
    let log = sample_log();
    let mut store = backend.writer().unwrap();
    store.append(&log[..3], &[]).unwrap();
    let error = store.append(&log[4..6], &[key("skips", 5, 6)]).unwrap_err();
    assert!(matches!(error, StoreError::NotContiguous { first: 5, last: 3 }), "{error:?}");
    assert!(matches!(store.append(&log[..2], &[]), Err(StoreError::NotContiguous { .. })), "no repeats");
    assert_eq!(store.last_position().unwrap(), 3);
    assert_eq!(store.find_key("skips").unwrap(), None);
}

fn keys_commit_with_their_events_or_not_at_all<B: Backend>(backend: B) {
    let log = sample_log();
    let mut store = backend.writer().unwrap();
    store.append(&log[..4], &[key("first", 1, 2), key("second", 3, 4), key("empty", 0, 4)]).unwrap();
    assert_eq!(store.find_key("second").unwrap(), Some(key("second", 3, 4)));
    let found = store.find_keys(&["first", "empty", "absent"]).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found["empty"], key("empty", 0, 4));
    // A key already committed fails the whole batch: its events are not written either.
    let error = store.append(&log[4..6], &[key("first", 5, 6)]).unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert_eq!(store.last_position().unwrap(), 4);
}

fn a_failure_mid_batch_writes_nothing<B: Backend>(backend: B) {
    let log = sample_log();
    let mut store = backend.writer().unwrap();
    store.append(&log[..2], &[]).unwrap();
    B::inject_failure_after(&mut store, 2);
    assert!(store.append(&log[2..8], &[key("lost", 3, 8)]).is_err());
    assert_eq!(store.last_position().unwrap(), 2);
    assert_eq!(store.find_key("lost").unwrap(), None);
    store.append(&log[2..8], &[key("lost", 3, 8)]).unwrap();
    assert_eq!(backend.reader().read_after(0, 100).unwrap(), plain(&log[..8]));
}

fn the_newest_two_snapshots_are_kept<B: Backend>(backend: B) {
    let mut store = backend.writer().unwrap();
    for position in [10_u64, 20, 30] {
        store.save_snapshot(position, &position.to_le_bytes()).unwrap();
    }
    assert_eq!(store.latest_snapshot().unwrap(), Some((30, 30_u64.to_le_bytes().to_vec())));
}

fn a_second_writer_is_refused_while_the_first_holds_the_log<B: Backend>(backend: B) {
    let first = backend.writer().unwrap();
    assert!(matches!(backend.writer(), Err(StoreError::Locked { .. })));
    let _reader = backend.reader();
    drop(first);
    assert!(backend.writer().is_ok(), "the lock goes with its holder");
}

fn the_writer_runs_on_the_store<B: Backend>(backend: B) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Blocking clients (PostgreSQL's) connect outside the runtime; the writer thread owns it after.
    let store = backend.writer().unwrap();
    let live = runtime.block_on(async {
        let writer =
            Writer::start(store, WriterConfig { snapshot_every_events: 100, ..WriterConfig::default() }).unwrap();
        let handle = writer.handle();
        let world = Arc::new(setup_world(&handle).await.unwrap());
        let tasks: Vec<_> = (0..100)
            .map(|n| {
                let (handle, world) = (handle.clone(), world.clone());
                tokio::spawn(async move { run_purchase(&handle, &world, n).await.unwrap() })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let live = handle.state().await.unwrap();
        writer.shutdown();
        live
    });
    let mut reader = backend.reader();
    assert_eq!(event_log::verify_store(&mut reader, |_| {}).unwrap().state, live);
    assert_eq!(event_log::load_state(&mut reader).unwrap(), live, "snapshot + tail");
    assert_eq!(live.last_position, 12 + 300);
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $check() { super::$check(super::Sqlite::new()); })*
        }
        mod postgres {
            $(#[test] fn $check() { super::$check(super::Postgres::new()); })*
        }
    };
}

conformance!(
    an_empty_store_has_nothing,
    appended_events_read_back_exactly,
    a_batch_that_does_not_follow_the_log_is_refused,
    keys_commit_with_their_events_or_not_at_all,
    a_failure_mid_batch_writes_nothing,
    the_newest_two_snapshots_are_kept,
    a_second_writer_is_refused_while_the_first_holds_the_log,
    the_writer_runs_on_the_store,
);
