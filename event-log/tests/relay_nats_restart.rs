//! NATS restarted in the middle of a workload (DESIGN §11): NATS is not on the write path, so
//! every command commits while it is down; the relay fails, backs off, resyncs from the stream's
//! last sequence once the server is back, and the stream ends up holding the log exactly: each
//! event once, in order, stream sequence = position.
//!
//! The server is a private `nats-server` of this test, started as `ops/services` starts the
//! shared one (JetStream on, a store directory kept across the restart) on a free port, and
//! stopped with SIGTERM as a service manager would. One test in its own binary; the server is
//! stopped and its store removed when the test ends, however it ends.

mod relay_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use commands::testing::setup_world;
use commands::{Writer, WriterConfig};
use event_log::relay::{spawn_relay, RelayConfig};
use event_log::LogAppend;
use event_log::SqliteStore;
use event_log::{LogRead, SqliteReader};
use ledger_core::RecordedEvent;
use relay_support::{assert_log_holds_exactly, purchases_retrying, PrivateNats};

const PURCHASES: u64 = 1_500;
const LANES: u64 = 32;
const CONVERGE_MAX: Duration = Duration::from_secs(120);

#[test]
fn a_nats_restart_under_load_loses_nothing_and_duplicates_nothing() {
    let mut nats_server = PrivateNats::start();
    let directory = tempfile::tempdir().unwrap();
    let config = RelayConfig::default();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(nats_server.url())
            .await
            .expect("the private nats-server is reachable");
        let store = SqliteStore::open_writer(directory.path()).unwrap();
        let reader = event_log::AsyncLog::new(store.reopen().unwrap());
        let writer = Writer::start(store, WriterConfig::default()).unwrap();
        let handle = writer.handle();
        let relay = spawn_relay(reader, nats.clone(), Some(handle.committed()), config.clone());
        let world = Arc::new(setup_world(&handle).await.unwrap());
        let progress = Arc::new(AtomicU64::new(0));
        let workload = {
            let (handle, world, progress) = (handle.clone(), world.clone(), progress.clone());
            tokio::spawn(async move { purchases_retrying(&handle, &world, PURCHASES, LANES, progress).await })
        };
        while progress.load(Ordering::Relaxed) < PURCHASES / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::task::block_in_place(|| nats_server.stop());
        let published_when_stopped = *relay.published().borrow();
        // Writes go on without NATS.
        while progress.load(Ordering::Relaxed) < 2 * PURCHASES / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut last_error = relay.last_error();
        let failed = tokio::time::timeout(CONVERGE_MAX, last_error.wait_for(|error| error.is_some())).await.is_ok();
        assert!(failed, "the relay noticed NATS was gone");
        tokio::task::block_in_place(|| nats_server.start_again());
        let acknowledged = workload.await.unwrap();
        assert_eq!(acknowledged.unavailable, 0, "NATS is not on the write path");
        let last = *handle.committed().borrow();
        assert!(published_when_stopped < last);
        let mut published = relay.published();
        let converged =
            tokio::time::timeout(CONVERGE_MAX, published.wait_for(|position| *position >= last)).await.is_ok();
        assert!(converged, "the relay did not catch up with {last}: {:?}", *relay.last_error().borrow());
        relay.shutdown().await;
        writer.shutdown();

        let log = SqliteReader::open(directory.path()).unwrap().read_after(0, 1_000_000).unwrap();
        assert_log_holds_exactly(&log, &acknowledged);
        assert_eq!(log.len() as u64, last);
        let mut stream = jetstream::new(nats).get_stream(&config.stream).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        assert_eq!((state.messages, state.last_sequence), (last, last), "one message per position, no more");
        for event in &log {
            let message = stream.get_raw_message(event.position).await.unwrap();
            let published: RecordedEvent = ledger_core::record::decode(&message.payload).unwrap();
            assert_eq!(&published, event, "stream message {} is the log's event", event.position);
        }
    });
}
