//! The relay against the real NATS server (127.0.0.1:4222, JetStream; `ops/services start`):
//! every event is published once, in position order, with stream sequence = position; a
//! restarted relay resumes from the stream's last sequence without duplicates; the stream
//! refuses a repeated or out-of-place publish; a relay never publishes onto a stream that holds
//! another log. Each test uses a stream and subjects of its own, deleted afterwards.
//! When NATS (or PostgreSQL, for the PostgreSQL test) cannot be reached these tests fail.

mod relay_support;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::Publish};
use commands::testing::{run_purchase, setup_world};
use commands::{Writer, WriterConfig, WriterHandle};
use event_log::relay::{ensure_stream, spawn_relay, RelayConfig};
use event_log::LogAppend;
use event_log::{LogRead, PostgresReader, SqliteReader};
use event_log::{PostgresStore, SqliteStore};
use ledger_core::RecordedEvent;
use relay_support::{unique_name, NATS_URL};
use tokio::sync::watch;

/// Liveness bound for waits on the relay (never a measurement: the tests assert what happened,
/// not how fast).
const CONVERGE_MAX: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn relay_config() -> RelayConfig {
    let name = unique_name("kboss_test");
    RelayConfig { stream: name.to_uppercase(), subject_prefix: format!("{name}.events"), ..RelayConfig::default() }
}

async fn connect(url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .unwrap_or_else(|error| panic!("NATS is reachable on {url} (ops/services start): {error}"))
}

/// Deletes the test's stream however the test ends.
struct StreamGuard {
    jetstream: jetstream::Context,
    name: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let (jetstream, name) = (self.jetstream.clone(), self.name.clone());
        // A runtime of its own: the test's may be gone or be the one being dropped.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let _ = jetstream.delete_stream(&name).await;
            });
        })
        .join();
    }
}

async fn wait_until(receiver: &mut watch::Receiver<u64>, target: u64, what: &str) {
    let reached = tokio::time::timeout(CONVERGE_MAX, receiver.wait_for(|value| *value >= target)).await.is_ok();
    assert!(reached, "{what} did not reach {target} (stuck at {})", *receiver.borrow());
}

async fn purchases(
    handle: &WriterHandle,
    world: &Arc<ledger_core::testing::WorkedExample>,
    range: std::ops::Range<u64>,
) {
    let tasks: Vec<_> = range
        .map(|n| {
            let (handle, world) = (handle.clone(), world.clone());
            tokio::spawn(async move { run_purchase(&handle, &world, n).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Every message of the stream, 1..=last, checked against the log: sequence = position,
/// subject, message id, and the payload is the log's event, hash included.
async fn assert_stream_is_the_log(jetstream: &jetstream::Context, config: &RelayConfig, log: &[RecordedEvent]) {
    let mut stream = jetstream.get_stream(&config.stream).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, log.len() as u64, "one message per event, no more");
    assert_eq!(info.state.last_sequence, log.len() as u64);
    for event in log {
        let message = stream.get_raw_message(event.position).await.unwrap();
        assert_eq!(message.sequence, event.position, "stream sequence = log position");
        assert_eq!(message.subject.as_str(), config.subject(event));
        let id = message.headers.get(async_nats::header::NATS_MESSAGE_ID).unwrap();
        assert_eq!(id.as_str(), event.event_id.to_string());
        let published: RecordedEvent = ledger_core::record::decode(&message.payload).unwrap();
        assert_eq!(&published, event, "the payload is the log's record: it decodes to the log's event");
        assert_eq!(published.hash, event.hash, "its bytes hash to the stored hash");
    }
}

#[test]
fn the_relay_publishes_every_event_once_in_order_and_a_restarted_relay_resumes_without_duplicates() {
    let directory = tempfile::tempdir().unwrap();
    let config = relay_config();
    runtime().block_on(async {
        let nats = connect(NATS_URL).await;
        let jetstream = jetstream::new(nats.clone());
        let _guard = StreamGuard { jetstream: jetstream.clone(), name: config.stream.clone() };
        let store = SqliteStore::open_writer(directory.path()).unwrap();
        let reader = event_log::AsyncLog::new(store.reopen().unwrap());
        let writer = Writer::start(store, WriterConfig::default()).unwrap();
        let handle = writer.handle();

        // The relay starts before anything is committed and follows the writer.
        let relay = spawn_relay(reader, nats.clone(), Some(handle.committed()), config.clone());
        let world = Arc::new(setup_world(&handle).await.unwrap());
        purchases(&handle, &world, 0..150).await;
        let first_half = *handle.committed().borrow();
        wait_until(&mut relay.published(), first_half, "the relay").await;
        relay.shutdown().await;

        // Committed while no relay runs; the next relay finds them from the stream's end.
        purchases(&handle, &world, 150..300).await;
        let last = *handle.committed().borrow();
        let relay = spawn_relay(
            event_log::AsyncLog::new(SqliteReader::open(directory.path()).unwrap()),
            nats.clone(),
            None,
            config.clone(),
        );
        wait_until(&mut relay.published(), last, "the restarted relay").await;
        relay.shutdown().await;
        writer.shutdown();

        let log = SqliteReader::open(directory.path()).unwrap().read_after(0, 100_000).unwrap();
        assert_eq!(log.len() as u64, last);
        assert_eq!(last, 12 + 900, "the world and 300 purchases");
        assert_stream_is_the_log(&jetstream, &config, &log).await;
    });
}

#[test]
fn the_stream_refuses_repeated_and_out_of_place_publishes() {
    let directory = tempfile::tempdir().unwrap();
    let config = relay_config();
    runtime().block_on(async {
        let nats = connect(NATS_URL).await;
        let jetstream = jetstream::new(nats.clone());
        let _guard = StreamGuard { jetstream: jetstream.clone(), name: config.stream.clone() };
        let store = SqliteStore::open_writer(directory.path()).unwrap();
        let writer = Writer::start(store, WriterConfig::default()).unwrap();
        let world = Arc::new(setup_world(&writer.handle()).await.unwrap());
        purchases(&writer.handle(), &world, 0..10).await;
        writer.shutdown();
        let log = SqliteReader::open(directory.path()).unwrap().read_after(0, 100_000).unwrap();
        let relay = spawn_relay(
            event_log::AsyncLog::new(SqliteReader::open(directory.path()).unwrap()),
            nats.clone(),
            None,
            config.clone(),
        );
        wait_until(&mut relay.published(), log.len() as u64, "the relay").await;
        relay.shutdown().await;

        // The relay's own retry of a publish that landed: a duplicate, acknowledged at its sequence.
        let event = &log[4];
        let publish = |event: &RecordedEvent, expected_last: u64| {
            Publish::build()
                .payload(ledger_core::record::encode(event).into())
                .message_id(event.event_id.to_string())
                .expected_last_sequence(expected_last)
        };
        let ack = jetstream.send_publish(config.subject(event), publish(event, event.position - 1)).await.unwrap();
        let ack = ack.await.unwrap();
        assert!(ack.duplicate, "a repeated message id is a duplicate");
        assert_eq!(ack.sequence, event.position);
        // The same event under a fresh id (outside the duplicate window, say): out of place.
        let mut forged = event.clone();
        forged.event_id = uuid::Uuid::now_v7();
        let ack = jetstream.send_publish(config.subject(event), publish(&forged, event.position - 1)).await.unwrap();
        let error = ack.await.unwrap_err();
        assert_eq!(error.kind(), async_nats::jetstream::context::PublishErrorKind::WrongLastSequence);
        assert_stream_is_the_log(&jetstream, &config, &log).await;
    });
}

#[test]
fn a_relay_never_publishes_onto_a_stream_that_holds_another_log() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = relay_config();
    runtime().block_on(async {
        for directory in [&ours, &theirs] {
            let writer =
                Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), WriterConfig::default()).unwrap();
            setup_world(&writer.handle()).await.unwrap();
            writer.shutdown();
        }
        let nats = connect(NATS_URL).await;
        let jetstream = jetstream::new(nats.clone());
        let _guard = StreamGuard { jetstream: jetstream.clone(), name: config.stream.clone() };
        // Their first three events are in the stream (same positions, other event ids).
        let their_log = SqliteReader::open(theirs.path()).unwrap().read_after(0, 3).unwrap();
        ensure_stream(&jetstream, &config).await.unwrap();
        for event in &their_log {
            let publish = Publish::build()
                .payload(ledger_core::record::encode(event).into())
                .message_id(event.event_id.to_string());
            jetstream.send_publish(config.subject(event), publish).await.unwrap().await.unwrap();
        }
        let mut reader = SqliteReader::open(ours.path()).unwrap();
        let our_last = reader.last_position().unwrap();
        let relay = spawn_relay(event_log::AsyncLog::new(reader), nats.clone(), None, config.clone());
        // The relay must find that the stream's last message is not our event 3, and refuse.
        let mut last_error = relay.last_error();
        let refused = tokio::time::timeout(CONVERGE_MAX, last_error.wait_for(|error| error.is_some())).await.is_ok();
        let error = last_error.borrow().clone();
        let published = *relay.published().borrow();
        relay.shutdown().await;
        assert!(refused, "the relay reported no error");
        let error = error.unwrap();
        assert!(error.contains("stream message 3 has id"), "{error}");
        assert_eq!(published, 0, "it never counted their events as ours");
        let info = jetstream.get_stream(&config.stream).await.unwrap().info().await.unwrap().state.clone();
        assert_eq!(info.messages, 3);
        assert!(our_last > 3);
    });
}

#[test]
fn the_relay_publishes_a_postgresql_log() {
    let admin: postgres::Config = "host=127.0.0.1 user=postgres dbname=test".parse().unwrap();
    let schema = unique_name("kboss_test");
    let mut client = admin.connect(postgres::NoTls).expect("PostgreSQL is reachable (ops/services start)");
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
    struct DropSchema(postgres::Config, String);
    impl Drop for DropSchema {
        fn drop(&mut self) {
            if let Ok(mut client) = self.0.connect(postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.1));
            }
        }
    }
    let _drop_schema = DropSchema(admin.clone(), schema.clone());
    let mut config = admin.clone();
    config.options(&format!("-c search_path={schema}"));
    let store = PostgresStore::open_writer(&config, "relay test").unwrap();
    let reader = PostgresReader::open(&config).unwrap();
    let relay_config = relay_config();
    let log = runtime().block_on(async {
        let nats = connect(NATS_URL).await;
        let jetstream = jetstream::new(nats.clone());
        let _guard = StreamGuard { jetstream: jetstream.clone(), name: relay_config.stream.clone() };
        let writer = Writer::start(store, WriterConfig::default()).unwrap();
        let handle = writer.handle();
        let relay =
            spawn_relay(event_log::AsyncLog::new(reader), nats.clone(), Some(handle.committed()), relay_config.clone());
        let world = Arc::new(setup_world(&handle).await.unwrap());
        purchases(&handle, &world, 0..100).await;
        let last = *handle.committed().borrow();
        wait_until(&mut relay.published(), last, "the relay").await;
        relay.shutdown().await;
        writer.shutdown();
        let config = config.clone();
        let log =
            tokio::task::spawn_blocking(move || PostgresReader::open(&config).unwrap().read_after(0, 100_000).unwrap())
                .await
                .unwrap();
        assert_eq!(log.len() as u64, last);
        assert_stream_is_the_log(&jetstream, &relay_config, &log).await;
        log
    });
    assert_eq!(log.len(), 12 + 300);
}
