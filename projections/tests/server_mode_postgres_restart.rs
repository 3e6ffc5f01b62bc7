//! PostgreSQL restarted under load, server mode end to end (DESIGN §11): the log and the read
//! models live in one PostgreSQL (as in production); it is stopped *immediately* (SIGQUIT, crash
//! recovery on restart) in the middle of the workload. Commands fail cleanly (`Unavailable`) and
//! are retried with their keys; the writer, the relay (to the shared NATS, a stream of its own)
//! and the JetStream consumer (whose read store is down too) all recover; the read models
//! converge to the log and equal a rebuild of it; every acknowledged command is in the log once.
//!
//! The database is a private cluster of this test (see `relay_support`), so the shared server
//! keeps serving other tests. One test in its own binary; the cluster is stopped and removed
//! however the test ends.

#[path = "../../event-log/tests/relay_support/mod.rs"]
mod relay_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use commands::testing::setup_world;
use commands::{Writer, WriterConfig};
use event_log::relay::{spawn_relay, RelayConfig};
use event_log::{AsyncLog, LogRead, PostgresReader, PostgresStore};
use projections::{spawn_jetstream_with, JetStreamConfig, ReadModels};
use relay_support::{assert_log_holds_exactly, purchases_retrying, unique_name, PrivatePostgres, NATS_URL};

const PURCHASES: u64 = 300;
const LANES: u64 = 16;
const CONVERGE_MAX: Duration = Duration::from_secs(180);

fn pool(database: &PrivatePostgres, schema: &str) -> deadpool_postgres::Pool {
    let mut config = deadpool_postgres::Config::new();
    config.host = Some("127.0.0.1".into());
    config.port = Some(database.port);
    config.user = Some("postgres".into());
    config.dbname = Some("postgres".into());
    config.options = Some(format!("-c search_path={schema}"));
    config.create_pool(Some(deadpool_postgres::Runtime::Tokio1), tokio_postgres::NoTls).expect("a pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_under_load_loses_nothing_and_the_read_models_converge() {
    let mut database = tokio::task::block_in_place(PrivatePostgres::start);
    let log_config: postgres::Config = database.url().parse().unwrap();
    let (store, relay_reader, consumer_reader) = tokio::task::block_in_place(|| {
        let mut admin = log_config.connect(postgres::NoTls).unwrap();
        admin.batch_execute("CREATE SCHEMA rebuild").unwrap();
        (
            PostgresStore::open_writer(&log_config, "restart test").unwrap(),
            AsyncLog::new(PostgresReader::open(&log_config).unwrap()),
            AsyncLog::new(PostgresReader::open(&log_config).unwrap()),
        )
    });
    let read_models = ReadModels::open_postgres(pool(&database, "public")).await.unwrap();
    let name = unique_name("kboss_test");
    let relay_config =
        RelayConfig { stream: name.to_uppercase(), subject_prefix: format!("{name}.events"), ..RelayConfig::default() };
    let nats = async_nats::connect(NATS_URL).await.expect("NATS is reachable (ops/services start)");
    let writer = tokio::task::block_in_place(|| Writer::start(store, WriterConfig::default())).unwrap();
    let handle = writer.handle();
    let relay = spawn_relay(relay_reader, nats.clone(), Some(handle.committed()), relay_config.clone());
    let consumer_config = JetStreamConfig { stream: relay_config.stream.clone(), ..JetStreamConfig::new("read_store") };
    let consumer = spawn_jetstream_with(read_models.clone(), nats.clone(), consumer_reader, consumer_config);

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
    let probe = commands::testing::purchase(&world, PURCHASES + 1);
    let while_down = tokio::time::timeout(CONVERGE_MAX, handle.submit(probe[0].clone())).await;
    assert!(matches!(while_down, Ok(Err(commands::CommandError::Unavailable(_)))), "{while_down:?}");
    tokio::task::block_in_place(|| database.start_again());
    let acknowledged = workload.await.unwrap();
    assert!(acknowledged.unavailable > 0, "the workload felt the outage");
    let last = *handle.committed().borrow();
    let mut applied = consumer.progress();
    let converged = tokio::time::timeout(CONVERGE_MAX, applied.wait_for(|progress| progress.applied >= last)).await;
    assert!(converged.is_ok(), "the consumer did not reach {last}: {:?}", *consumer.last_error().borrow());
    let mut published = relay.published();
    let published_all = tokio::time::timeout(CONVERGE_MAX, published.wait_for(|position| *position >= last)).await;
    assert!(published_all.is_ok(), "the relay did not reach {last}: {:?}", *relay.last_error().borrow());
    consumer.shutdown().await;
    relay.shutdown().await;
    tokio::task::block_in_place(|| writer.shutdown());
    let _ = async_nats::jetstream::new(nats).delete_stream(&relay_config.stream).await;

    let log =
        tokio::task::block_in_place(|| PostgresReader::open(&log_config).unwrap().read_after(0, 1_000_000).unwrap());
    assert_eq!(log.len() as u64, last);
    assert_log_holds_exactly(&log, &acknowledged);
    let rebuilt = ReadModels::open_postgres(pool(&database, "rebuild")).await.unwrap();
    let reader = AsyncLog::new(tokio::task::block_in_place(|| PostgresReader::open(&log_config).unwrap()));
    projections::catch_up(&rebuilt, &reader, None, |_, _| {}).await.unwrap();
    assert_eq!(read_models.dump().await.unwrap(), rebuilt.dump().await.unwrap(), "live equals rebuild");
    tokio::task::block_in_place(|| database.stop(true));
}
