//! The sequencer against the real SQLite store: concurrency, idempotency, backpressure, the
//! writer lock, snapshots.

use std::collections::{BTreeMap, HashSet};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use commands::testing::{purchase, run_purchase, setup_world};
use commands::{AppendedBatch, BatchObserver, CommandError, Request, Writer, WriterConfig};
use event_log::SqliteStore;
use event_log::{IdempotencyRecord, LogAppend, LogRead, SqliteReader, StoreError};
use ledger_core::event::EncodedEvent;
use ledger_core::RecordedEvent;

fn all_events(store: &mut impl LogRead) -> Vec<RecordedEvent> {
    store.read_after(0, usize::MAX >> 1).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_concurrent_commands_are_each_in_the_log_once_without_gaps() {
    let directory = tempfile::tempdir().unwrap();
    let writer = Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), WriterConfig::default()).unwrap();
    let handle = writer.handle();
    let world = Arc::new(setup_world(&handle).await.unwrap());
    const PURCHASES: u64 = 1_000;
    let mut tasks = Vec::new();
    for n in 0..PURCHASES {
        let (handle, world) = (handle.clone(), world.clone());
        tasks.push(tokio::spawn(async move { run_purchase(&handle, &world, n).await.unwrap() }));
    }
    let mut answered: BTreeMap<u64, String> = BTreeMap::new();
    for task in tasks {
        for (key, committed) in task.await.unwrap() {
            assert!(!committed.replayed);
            assert_eq!(committed.events.last().map(|event| event.position), Some(committed.position));
            for event in committed.events {
                assert!(
                    answered.insert(event.position, key.clone()).is_none(),
                    "position {} answered twice",
                    event.position
                );
            }
        }
    }
    writer.shutdown();
    let mut store = SqliteReader::open(directory.path()).unwrap();
    let log = all_events(&mut store);
    let setup_events =
        log.iter().take_while(|event| event.idempotency_key.as_deref().unwrap_or("").starts_with("setup-")).count();
    assert_eq!(answered.len() as u64, PURCHASES * 3, "every purchase command appended one event");
    for (index, event) in log.iter().enumerate() {
        assert_eq!(event.position, index as u64 + 1, "no gaps");
        if index >= setup_events {
            assert_eq!(
                answered.get(&event.position),
                event.idempotency_key.as_ref(),
                "the log holds what was answered"
            );
        }
    }
    assert_eq!(log.len(), setup_events + answered.len());
    let keys: HashSet<_> = log.iter().filter_map(|event| event.idempotency_key.clone()).collect();
    let setup_commands = world.setup_commands().len() as u64;
    assert_eq!(keys.len() as u64, setup_commands + PURCHASES * 3, "every command's key, once");
    let report = event_log::verify_store(&mut store, |_| {}).unwrap();
    assert_eq!(report.events, log.len() as u64);
    assert!(ledger_core::invariants::violations(&report.state, &log).is_empty());
    assert_eq!(report.state.wallet(world.customer).balance.to_string(), "0.00", "950 in, 950 spent, a thousand times");
}

/// Remembers every batch the appender reports.
#[derive(Default)]
struct Batches(Mutex<Vec<AppendedBatch>>);

impl BatchObserver for Batches {
    fn batch_appended(&self, batch: &AppendedBatch) {
        self.0.lock().unwrap().push(*batch);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_observer_is_told_of_every_batch_with_its_commands_events_and_append_time() {
    let directory = tempfile::tempdir().unwrap();
    let batches = Arc::new(Batches::default());
    let config = WriterConfig { batch_observer: Some(batches.clone()), ..WriterConfig::default() };
    let writer = Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), config).unwrap();
    let handle = writer.handle();
    let world = Arc::new(setup_world(&handle).await.unwrap());
    const PURCHASES: u64 = 50;
    let tasks: Vec<_> = (0..PURCHASES)
        .map(|n| {
            let (handle, world) = (handle.clone(), world.clone());
            tokio::spawn(async move { run_purchase(&handle, &world, n).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // Alone in its batch: a replay writes nothing, so the store is not asked to append.
    let [recharge, _, _] = purchase(&world, 0);
    assert!(handle.submit(recharge).await.unwrap().replayed);
    writer.shutdown();

    let batches = batches.0.lock().unwrap().clone();
    let log = all_events(&mut SqliteReader::open(directory.path()).unwrap());
    let submitted = world.setup_commands().len() + PURCHASES as usize * 3 + 1;
    assert_eq!(batches.iter().map(|batch| batch.commands).sum::<usize>(), submitted, "every command, once");
    assert_eq!(batches.iter().map(|batch| batch.events).sum::<usize>(), log.len(), "every event, once");
    assert!(batches.iter().all(|batch| batch.commands > 0 && (batch.events == 0 || batch.append.is_some())));
    assert_eq!(batches.last(), Some(&AppendedBatch { commands: 1, events: 0, append: None }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_returns_the_stored_answer_and_another_body_conflicts() {
    let directory = tempfile::tempdir().unwrap();
    let writer = Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), WriterConfig::default()).unwrap();
    let handle = writer.handle();
    let world = setup_world(&handle).await.unwrap();
    let [recharge, place, _] = purchase(&world, 7);
    let first = handle.submit(recharge.clone()).await.unwrap();
    let again = handle.submit(recharge.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, first.events, "the stored answer, event for event");
    // A replay answers only a caller who may issue the command now: a colleague of the org
    // without the role gets the refusal a fresh request gets; one with it, the stored answer.
    let mut colleague = recharge.clone();
    colleague.command.actor = world.r2_sales.clone();
    let refused = handle.submit(colleague.clone()).await.unwrap_err();
    assert!(matches!(&refused, CommandError::Rejected(error) if error.code() == "forbidden"), "{refused:?}");
    colleague.command.actor = ledger_core::testing::actor(world.r2, 0xF1, &[ledger_core::org::Role::Finance]);
    assert_eq!(handle.submit(colleague).await.unwrap().events, first.events);
    let [other_recharge, _, _] = purchase(&world, 8);
    let mut other_body = other_recharge;
    other_body.idempotency_key = recharge.idempotency_key.clone();
    assert_eq!(handle.submit(other_body).await.unwrap_err(), CommandError::IdempotencyConflict);
    // The same key from another org is another key.
    let mut other_org = recharge.clone();
    other_org.command.actor = world.r1_finance.clone();
    assert!(matches!(handle.submit(other_org).await, Err(CommandError::Rejected(_))));
    // Concurrent duplicates, most of them in one batch, book once.
    let results = futures_join(handle.clone(), place, 50).await;
    let fresh = results.iter().filter(|committed| !committed.replayed).count();
    assert_eq!(fresh, 1);
    assert!(results.iter().all(|committed| committed.events == results[0].events));
    drop(handle);
    writer.shutdown();
}

async fn futures_join(handle: commands::WriterHandle, request: Request, copies: usize) -> Vec<commands::Committed> {
    let tasks: Vec<_> = (0..copies)
        .map(|_| {
            let (handle, request) = (handle.clone(), request.clone());
            tokio::spawn(async move { handle.submit(request).await.unwrap() })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// A store whose appends wait for a permit: lets a test hold the writer mid-append.
struct GatedStore {
    inner: SqliteStore,
    entered: std_mpsc::Sender<()>,
    permits: Arc<Mutex<std_mpsc::Receiver<()>>>,
}

impl LogAppend for GatedStore {
    type Reader = SqliteReader;
    fn reopen(&self) -> Result<SqliteReader, StoreError> {
        self.inner.reopen()
    }
    fn append(&mut self, events: &[EncodedEvent], keys: &[IdempotencyRecord]) -> Result<(), StoreError> {
        let _ = self.entered.send(());
        self.permits.lock().unwrap().recv().unwrap();
        self.inner.append(events, keys)
    }
    fn save_snapshot(&mut self, position: u64, state: &[u8]) -> Result<(), StoreError> {
        self.inner.save_snapshot(position, state)
    }
}

impl LogRead for GatedStore {
    fn read_after(&mut self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_after(after, limit)
    }
    fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.inner.read_one(position)
    }
    fn last_position(&mut self) -> Result<u64, StoreError> {
        self.inner.last_position()
    }
    fn find_key(&mut self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.find_key(scoped_key)
    }
    fn latest_snapshot(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.inner.latest_snapshot()
    }
    fn genesis(&mut self) -> Result<String, StoreError> {
        self.inner.genesis()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_overloaded_at_once() {
    let directory = tempfile::tempdir().unwrap();
    let (permit, permits) = std_mpsc::channel();
    let (entered, appending) = std_mpsc::channel();
    let inner = SqliteStore::open_writer(directory.path()).unwrap();
    let store = GatedStore { inner, entered, permits: Arc::new(Mutex::new(permits)) };
    let config = WriterConfig { batch_commands_max: 1, channel_capacity: 2, ..WriterConfig::default() };
    let writer = Writer::start(store, config).unwrap();
    let handle = writer.handle();
    let world = ledger_core::testing::WorkedExample::without_ledger();
    let setup = world.setup_commands();
    let submit = |index: usize| {
        let (handle, (actor, body)) = (handle.clone(), setup[index].clone());
        tokio::spawn(async move { handle.submit(Request::new(commands::testing::command(&actor, body))).await })
    };
    // The first command holds the appender in its append; the pipeline behind it (decided
    // batches waiting, the writer blocked handing one over) fills, and then the queue fills.
    let held = submit(0);
    appending.recv().unwrap();
    let mut waiting = Vec::new();
    for index in 1..setup.len() {
        waiting.push(submit(index));
        for _ in 0..200 {
            if handle.queued() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        if handle.queued() == 2 {
            break;
        }
    }
    assert_eq!(handle.queued(), 2, "the queue filled behind a held append");
    let refused = handle.submit(Request::new(commands::testing::command(&setup[0].0, setup[0].1.clone()))).await;
    assert_eq!(refused.unwrap_err(), CommandError::Overloaded);
    for _ in 0..=waiting.len() {
        permit.send(()).unwrap();
    }
    assert!(held.await.unwrap().is_ok());
    for task in waiting {
        assert!(task.await.unwrap().is_ok());
    }
    drop(permit);
    drop(writer);
}

#[test]
fn a_second_writer_cannot_open_the_data_directory() {
    let directory = tempfile::tempdir().unwrap();
    let first = SqliteStore::open_writer(directory.path()).unwrap();
    assert!(matches!(SqliteStore::open_writer(directory.path()), Err(StoreError::Locked { .. })));
    assert!(SqliteReader::open(directory.path()).is_ok(), "readers need no lock");
    drop(first);
    assert!(SqliteStore::open_writer(directory.path()).is_ok(), "the lock goes with its holder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_from_a_snapshot_equals_a_replay_from_the_start() {
    let directory = tempfile::tempdir().unwrap();
    let config = WriterConfig { snapshot_every_events: 25, ..WriterConfig::default() };
    let writer = Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), config.clone()).unwrap();
    let handle = writer.handle();
    let world = setup_world(&handle).await.unwrap();
    for n in 0..40 {
        run_purchase(&handle, &world, n).await.unwrap();
    }
    let live = handle.state().await.unwrap();
    writer.shutdown();
    let mut store = SqliteStore::open_writer(directory.path()).unwrap();
    let (snapshot_position, _) = store.latest_snapshot().unwrap().expect("snapshots were written");
    assert!(snapshot_position > 0 && snapshot_position < live.last_position, "a snapshot with a tail after it");
    let from_snapshot = event_log::load_state(&mut store).unwrap();
    let from_zero = event_log::verify_store(&mut store, |_| {}).unwrap().state;
    assert_eq!(from_snapshot, live);
    assert_eq!(from_zero, live);
}
