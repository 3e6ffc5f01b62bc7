//! NATS restarted under load, server mode end to end (DESIGN §11): writes are not affected; the
//! relay and the JetStream consumer both notice, back off and resume once the server is back;
//! the read models converge to the log and equal a rebuild from it; the stream holds each event
//! once. The NATS server is a private one (see `relay_support`: the shared one serves other
//! tests), the log and read models are SQLite. One test in its own binary; the server is stopped
//! and removed however the test ends.

mod common;
#[path = "../../event-log/tests/relay_support/mod.rs"]
mod relay_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use commands::testing::setup_world;
use common::{blocking, rebuilt, start_writer, Backend, Sqlite};
use event_log::relay::{spawn_relay, RelayConfig};
use projections::{spawn_jetstream_with, JetStreamConfig};
use relay_support::{purchases_retrying, PrivateNats};

const PURCHASES: u64 = 600;
const LANES: u64 = 16;
const CONVERGE_MAX: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_under_load_loses_nothing_and_the_read_models_converge() {
    let mut nats_server = blocking(PrivateNats::start);
    let backend = Sqlite::new();
    let nats = async_nats::ConnectOptions::new().connect(nats_server.url()).await.expect("the private nats-server");
    let read_models = backend.read_models("consumer").await;
    let writer = start_writer(&backend);
    let handle = writer.handle();
    let relay = spawn_relay(backend.log(), nats.clone(), Some(handle.committed()), RelayConfig::default());
    let consumer =
        spawn_jetstream_with(read_models.clone(), nats.clone(), backend.log(), JetStreamConfig::new("read_store"));
    let world = Arc::new(setup_world(&handle).await.unwrap());
    let progress = Arc::new(AtomicU64::new(0));
    let workload = {
        let (handle, world, progress) = (handle.clone(), world.clone(), progress.clone());
        tokio::spawn(async move { purchases_retrying(&handle, &world, PURCHASES, LANES, progress).await })
    };
    while progress.load(Ordering::Relaxed) < PURCHASES / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    blocking(|| nats_server.stop());
    while progress.load(Ordering::Relaxed) < 2 * PURCHASES / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (what, mut error) in [("relay", relay.last_error()), ("consumer", consumer.last_error())] {
        let noticed = tokio::time::timeout(CONVERGE_MAX, error.wait_for(|error| error.is_some())).await.is_ok();
        assert!(noticed, "the {what} noticed NATS was gone");
    }
    blocking(|| nats_server.start_again());
    let acknowledged = workload.await.unwrap();
    assert_eq!(acknowledged.unavailable, 0, "NATS is not on the write path");
    let last = *handle.committed().borrow();
    let mut applied = consumer.progress();
    let converged = tokio::time::timeout(CONVERGE_MAX, applied.wait_for(|progress| progress.applied >= last)).await;
    assert!(converged.is_ok(), "the consumer did not reach {last}: {:?}", *consumer.last_error().borrow());
    let mut published = relay.published();
    let published_all = tokio::time::timeout(CONVERGE_MAX, published.wait_for(|position| *position >= last)).await;
    assert!(published_all.is_ok(), "the relay did not reach {last}: {:?}", *relay.last_error().borrow());
    consumer.shutdown().await;
    relay.shutdown().await;
    blocking(|| writer.shutdown());

    let stream = async_nats::jetstream::new(nats).get_stream(event_log::relay::STREAM_NAME).await.unwrap();
    let state = stream.get_info().await.unwrap().state;
    assert_eq!((state.messages, state.last_sequence), (last, last), "each event once in the stream");
    let (live, rebuilt) = (read_models.dump().await.unwrap(), rebuilt(&backend, "rebuild").await.dump().await.unwrap());
    assert_eq!(live, rebuilt, "the read models fed through NATS equal a rebuild from the log");
}
