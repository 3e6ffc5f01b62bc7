//! PostgreSQL restarted in the middle of a workload (DESIGN §11): while the database is down,
//! commands fail cleanly (`Unavailable`, never a panic or a hang) and clients retry with the
//! same idempotency key; once it is back the writer reconnects and every command goes through;
//! the log holds every acknowledged command exactly once; the relay (to the shared NATS server)
//! converges to the log, stream sequence = position.
//!
//! The database is a private PostgreSQL cluster of this test (see `relay_support`), stopped
//! *immediately* (SIGQUIT: no shutdown checkpoint, crash recovery on the next start) so only
//! what was durable survives. One test in its own binary: the restart must not overlap with
//! other tests. The cluster is stopped and removed when the test ends, however it ends.

mod relay_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use commands::testing::setup_world;
use commands::{CommandError, Writer, WriterConfig};
use event_log::relay::{spawn_relay, RelayConfig};
use event_log::PostgresStore;
use event_log::{LogRead, PostgresReader};
use relay_support::{assert_log_holds_exactly, purchases_retrying, unique_name, PrivatePostgres, NATS_URL};

const PURCHASES: u64 = 900;
const LANES: u64 = 24;
const CONVERGE_MAX: Duration = Duration::from_secs(120);

#[test]
fn a_postgresql_restart_under_load_fails_writes_cleanly_and_loses_nothing() {
    let mut database = PrivatePostgres::start();
    let config: postgres::Config = database.url().parse().unwrap();
    let store = PostgresStore::open_writer(&config, "restart test").unwrap();
    let reader = PostgresReader::open(&config).unwrap();
    let name = unique_name("kboss_test");
    let relay_config =
        RelayConfig { stream: name.to_uppercase(), subject_prefix: format!("{name}.events"), ..RelayConfig::default() };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (acknowledged, live, refused_while_down) = runtime.block_on(async {
        let nats = async_nats::connect(NATS_URL).await.expect("NATS is reachable (ops/services start)");
        let writer = Writer::start(store, WriterConfig::default()).unwrap();
        let handle = writer.handle();
        let relay =
            spawn_relay(event_log::AsyncLog::new(reader), nats.clone(), Some(handle.committed()), relay_config.clone());
        let world = Arc::new(setup_world(&handle).await.unwrap());
        let progress = Arc::new(AtomicU64::new(0));
        let workload = {
            let (handle, world, progress) = (handle.clone(), world.clone(), progress.clone());
            tokio::spawn(async move { purchases_retrying(&handle, &world, PURCHASES, LANES, progress).await })
        };
        while progress.load(Ordering::Relaxed) < PURCHASES / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::task::block_in_place(|| database.stop(false));
        // While it is down: a command is refused cleanly, not lost, not hung.
        let probe = commands::testing::purchase(&world, PURCHASES + 1);
        let refused_while_down = tokio::time::timeout(CONVERGE_MAX, handle.submit(probe[0].clone())).await;
        tokio::task::block_in_place(|| database.start_again());
        let acknowledged = workload.await.unwrap();
        let last = *handle.committed().borrow();
        let mut published = relay.published();
        let converged =
            tokio::time::timeout(CONVERGE_MAX, published.wait_for(|position| *position >= last)).await.is_ok();
        assert!(converged, "the relay did not catch up with {last}: {:?}", *relay.last_error().borrow());
        relay.shutdown().await;
        let live = handle.state().await.unwrap();
        writer.shutdown();
        // The stream is the log: checked below, after the log is read.
        let jetstream = jetstream::new(nats);
        let info = jetstream.get_stream(&relay_config.stream).await.unwrap().info().await.unwrap().state.clone();
        assert_eq!((info.messages, info.last_sequence), (last, last), "one message per position");
        let _ = jetstream.delete_stream(&relay_config.stream).await;
        (acknowledged, live, refused_while_down)
    });
    match refused_while_down {
        Ok(Err(CommandError::Unavailable(_))) => {}
        other => panic!("a command while the database was down: {other:?}"),
    }
    assert!(acknowledged.unavailable > 0, "the workload felt the outage and retried");
    assert_eq!(acknowledged.positions.len() as u64, PURCHASES * 3, "every command acknowledged in the end");
    let mut reader = PostgresReader::open(&config).unwrap();
    let log = reader.read_after(0, 1_000_000).unwrap();
    assert_log_holds_exactly(&log, &acknowledged);
    let report = event_log::verify_store(&mut reader, |_| {}).unwrap();
    assert_eq!(report.state, live, "the writer's state is the log's");
    assert_eq!(
        report.state.wallet(ledger_core::testing::WorkedExample::without_ledger().customer).balance.to_string(),
        "0.00"
    );
    drop(reader);
    database.stop(true);
}
