//! Server mode end to end against the real services (NATS with JetStream on 127.0.0.1:4222,
//! PostgreSQL on 127.0.0.1:5432; these tests fail when either cannot be reached): the writer
//! commits, the relay publishes the log (stream sequence = position), the JetStream consumer
//! applies it to the read models, and the read models equal a rebuild from the log. Forced
//! redeliveries (nak, ack-wait expiry), duplicate deliveries and duplicate publishes change
//! nothing; a message that does not verify is never applied, its position comes from the log.
//! Every test runs on SQLite and on PostgreSQL, with a stream and consumer of its own.

mod common;
#[path = "../../event-log/tests/relay_support/mod.rs"]
mod relay_support;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::context::Publish;
use async_nats::jetstream::{self, AckKind};
use commands::testing::{run_purchase, setup_world};
use common::{blocking, catch_up_all, on_both_backends, read_log, rebuilt, start_writer, Backend, Postgres, Sqlite};
use event_log::relay::{ensure_stream, spawn_relay, RelayConfig};
use futures::StreamExt;
use projections::{spawn_jetstream_with, JetStreamConfig, ReadModels};
use relay_support::{unique_name, NATS_URL};

/// Liveness bound on waits; the tests assert what happened, never how fast.
const CONVERGE_MAX: Duration = Duration::from_secs(60);

struct Names {
    relay: RelayConfig,
    consumer: JetStreamConfig,
}

fn names() -> Names {
    let name = unique_name("kboss_test");
    let relay =
        RelayConfig { stream: name.to_uppercase(), subject_prefix: format!("{name}.events"), ..RelayConfig::default() };
    let consumer = JetStreamConfig { stream: relay.stream.clone(), ..JetStreamConfig::new("read_store_test") };
    Names { relay, consumer }
}

async fn connect() -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(NATS_URL)
        .await
        .unwrap_or_else(|error| panic!("NATS is reachable on {NATS_URL} (ops/services start): {error}"))
}

async fn delete_stream(nats: &async_nats::Client, name: &str) {
    let _ = jetstream::new(nats.clone()).delete_stream(name).await;
}

async fn workload<B: Backend>(backend: &B, purchases: u64) -> (commands::Writer, u64) {
    let writer = start_writer(backend);
    let handle = writer.handle();
    let world = Arc::new(setup_world(&handle).await.unwrap());
    let tasks: Vec<_> = (0..purchases)
        .map(|n| {
            let (handle, world) = (handle.clone(), world.clone());
            tokio::spawn(async move { run_purchase(&handle, &world, n).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let last = *handle.committed().borrow();
    (writer, last)
}

async fn assert_same(live: &ReadModels, rebuilt: &ReadModels) {
    let (live, rebuilt) = (live.dump().await.unwrap(), rebuilt.dump().await.unwrap());
    assert_eq!(live.keys().collect::<Vec<_>>(), rebuilt.keys().collect::<Vec<_>>());
    for (table, rows) in &rebuilt {
        assert_eq!(&live[table], rows, "table {table} differs from the rebuild");
    }
}

async fn relayed_events_reach_the_read_models_and_equal_a_rebuild<B: Backend>(backend: B) {
    let names = names();
    let nats = connect().await;
    let read_models = backend.read_models("consumer").await;
    let writer = start_writer(&backend);
    let relay = spawn_relay(backend.log(), nats.clone(), Some(writer.handle().committed()), names.relay.clone());
    let consumer = spawn_jetstream_with(read_models.clone(), nats.clone(), backend.log(), names.consumer);
    drop(writer);
    let (writer, last) = workload(&backend, 120).await;
    let mut progress = consumer.progress();
    let converged = tokio::time::timeout(CONVERGE_MAX, progress.wait_for(|progress| progress.applied >= last)).await;
    assert!(converged.is_ok(), "the consumer did not reach {last}: {:?}", *consumer.last_error().borrow());
    assert_eq!(read_models.position().await.unwrap(), last);
    consumer.shutdown().await;
    relay.shutdown().await;
    blocking(|| writer.shutdown());
    assert_same(&read_models, &rebuilt(&backend, "rebuild").await).await;
    delete_stream(&nats, &names.relay.stream).await;
}

async fn redeliveries_and_duplicates_change_nothing<B: Backend>(backend: B) {
    let names = names();
    let nats = connect().await;
    let js = jetstream::new(nats.clone());
    let (writer, last) = workload(&backend, 40).await;
    let relay = spawn_relay(backend.log(), nats.clone(), None, names.relay.clone());
    let mut published = relay.published();
    let reached = tokio::time::timeout(CONVERGE_MAX, published.wait_for(|position| *position >= last)).await.is_ok();
    assert!(reached, "the relay did not publish through {last}");
    relay.shutdown().await;
    blocking(|| writer.shutdown());

    // The read models already hold everything: every delivery below is a repeat.
    let read_models = backend.read_models("consumer").await;
    catch_up_all(&backend, &read_models).await;
    let before = read_models.dump().await.unwrap();

    // The durable consumer exists from the start of the stream, with a short ack wait. A client
    // pulls a batch and naks half of it (redelivered at once) and leaves the rest unacked
    // (redelivered when the ack wait expires).
    let stream = js.get_stream(&names.relay.stream).await.unwrap();
    let raw: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(names.consumer.durable_name.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(1),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = raw.fetch().max_messages(100).messages().await.unwrap();
    let mut pulled = 0;
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        if pulled % 2 == 0 {
            message.ack_with(AckKind::Nak(None)).await.unwrap();
        }
        pulled += 1;
    }
    assert_eq!(pulled, 100, "a batch was taken and not acked");

    // Duplicate publishes: the stream takes none of them.
    let log = read_log(&backend);
    for event in &log[..20] {
        let publish = Publish::build()
            .payload(ledger_core::record::encode(event).into())
            .message_id(event.event_id.to_string())
            .expected_last_sequence(event.position - 1);
        let ack = js.send_publish(names.relay.subject(event), publish).await.unwrap().await.unwrap();
        assert!(ack.duplicate && ack.sequence == event.position);
    }

    let consumer = spawn_jetstream_with(read_models.clone(), nats.clone(), backend.log(), names.consumer.clone());
    // Done when the server has nothing pending or unacked for the consumer.
    let mut drained = false;
    for _ in 0..(CONVERGE_MAX.as_millis() / 50) {
        // The runner makes the test's consumer again with its own ack policy (delete, then
        // create): between the two there is none to ask about, which is not yet drained.
        let info = stream.consumer_info(&names.consumer.durable_name).await;
        if info.is_ok_and(|info| {
            info.num_pending == 0 && info.num_ack_pending == 0 && info.delivered.stream_sequence >= last
        }) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drained, "the consumer did not take every delivery: {:?}", *consumer.last_error().borrow());
    consumer.shutdown().await;
    let info = js.get_stream(&names.relay.stream).await.unwrap().get_info().await.unwrap();
    assert_eq!(info.state.messages, last, "no duplicate entered the stream");
    assert_eq!(read_models.dump().await.unwrap(), before, "redeliveries and duplicates changed nothing");
    assert_same(&read_models, &rebuilt(&backend, "rebuild").await).await;
    delete_stream(&nats, &names.relay.stream).await;
}

async fn a_forged_message_is_never_applied_and_the_log_supplies_its_position<B: Backend>(backend: B) {
    let names = names();
    let nats = connect().await;
    let js = jetstream::new(nats.clone());
    let stream = ensure_stream(&js, &names.relay).await.unwrap();
    let read_models = backend.read_models("consumer").await;
    // The log exists before anyone reads it (its writer creates it; a reader never does).
    blocking(|| drop(backend.writer_store()));
    let consumer = spawn_jetstream_with(read_models.clone(), nats.clone(), backend.log(), names.consumer.clone());
    // Once the durable consumer exists, its session has caught up from the (empty) log: from
    // now on events reach the read models through NATS.
    let mut created = false;
    for _ in 0..(CONVERGE_MAX.as_millis() / 20) {
        if stream.consumer_info(&names.consumer.durable_name).await.is_ok() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(created, "the consumer was not created: {:?}", *consumer.last_error().borrow());
    let (writer, last) = workload(&backend, 3).await;
    blocking(|| writer.shutdown());
    let log = read_log(&backend);
    let position_of = |event_type: &str| log.iter().find(|event| event.event_type() == event_type).unwrap().position;
    let (placed, paid) = (position_of("OrderPlaced"), position_of("OrderPaid"));
    for event in &log {
        let mut published = event.clone();
        if event.position == placed {
            // A record that verifies on its own but does not link to the event before it.
            published.effective_date = ledger_core::testing::date("2026-03-01");
            published.prev_hash = log[0].hash.clone();
        }
        if event.position == paid {
            // A forgery that links correctly (booked on another day: the journal would show
            // it, were it applied); the next message then links to the real event, not to it.
            published.effective_date = ledger_core::testing::date("2026-03-01");
        }
        let publish = Publish::build()
            .payload(ledger_core::record::encode(&published).into())
            .message_id(event.event_id.to_string())
            .expected_last_sequence(event.position - 1);
        js.send_publish(names.relay.subject(event), publish).await.unwrap().await.unwrap();
    }
    let mut progress = consumer.progress();
    let converged = tokio::time::timeout(CONVERGE_MAX, progress.wait_for(|progress| progress.applied >= last)).await;
    assert!(converged.is_ok(), "the consumer did not reach {last}: {:?}", *consumer.last_error().borrow());
    consumer.shutdown().await;
    assert_same(&read_models, &rebuilt(&backend, "rebuild").await).await;
    delete_stream(&nats, &names.relay.stream).await;
}

on_both_backends!(
    relayed_events_reach_the_read_models_and_equal_a_rebuild,
    redeliveries_and_duplicates_change_nothing,
    a_forged_message_is_never_applied_and_the_log_supplies_its_position,
);
