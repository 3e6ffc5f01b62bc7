//! The PostgreSQL store when its sessions are lost (the shared server on 127.0.0.1, a fresh
//! schema per test; the tests fail when it cannot be reached). The server terminates the
//! writer's sessions (`pg_terminate_backend`, what a restart or a failover does to them):
//! commands fail cleanly with `Unavailable`, then the writer reconnects, wins its lock again and
//! goes on, and the log holds every acknowledged command once. While another writer holds the
//! lock, the first cannot append at all.
//!
//! That a second writer cannot even start while the first holds the log is checked for every
//! backend by `conformance.rs` (`a_second_writer_is_refused_while_the_first_holds_the_log`).

mod relay_support;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use commands::testing::{purchase, setup_world};
use commands::{CommandError, Writer, WriterConfig};
use event_log::PostgresStore;
use event_log::{LogRead, PostgresReader, StoreError};
use relay_support::{assert_log_holds_exactly, purchases_retrying, submit_retrying, unique_name};

struct Schema {
    admin: postgres::Config,
    name: String,
    /// Sessions opened with this config carry the schema's name as their application name, so
    /// the test can terminate exactly them.
    config: postgres::Config,
}

impl Schema {
    fn new() -> Schema {
        let admin: postgres::Config = std::env::var("KBOSS_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
            .parse()
            .unwrap();
        let name = unique_name("kboss_test");
        let mut client = admin.connect(postgres::NoTls).expect("PostgreSQL is reachable (ops/services start)");
        client.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
        let mut config = admin.clone();
        config.options(&format!("-c search_path={name}")).application_name(&name);
        Schema { admin, name, config }
    }

    /// Terminates every session of this schema's stores; answers how many there were.
    fn terminate_sessions(&self) -> i64 {
        let mut client = self.admin.connect(postgres::NoTls).unwrap();
        let rows = client
            .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&self.name])
            .unwrap();
        rows.len() as i64
    }

    fn log(&self) -> Vec<ledger_core::RecordedEvent> {
        PostgresReader::open(&self.config).unwrap().read_after(0, 1_000_000).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect(postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn a_writer_whose_sessions_are_terminated_fails_cleanly_then_reconnects_and_loses_nothing() {
    let schema = Schema::new();
    let store = PostgresStore::open_writer(&schema.config, "writer A").unwrap();
    let (acknowledged, live) = runtime().block_on(async {
        let writer = Writer::start(store, WriterConfig::default()).unwrap();
        let handle = writer.handle();
        let world = Arc::new(setup_world(&handle).await.unwrap());
        let progress = Arc::new(AtomicU64::new(0));
        let workload = {
            let (handle, world, progress) = (handle.clone(), world.clone(), progress.clone());
            tokio::spawn(async move { purchases_retrying(&handle, &world, 600, 16, progress).await })
        };
        // Terminate the writer's sessions three times while the workload runs.
        for round in 1..=3_u64 {
            while progress.load(std::sync::atomic::Ordering::Relaxed) < round * 150 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let terminated = tokio::task::block_in_place(|| schema.terminate_sessions());
            assert!(terminated >= 2, "the writer's two sessions (appender, reader) were there: {terminated}");
        }
        let acknowledged = workload.await.unwrap();
        let live = handle.state().await.unwrap();
        writer.shutdown();
        (acknowledged, live)
    });
    assert!(acknowledged.unavailable > 0, "the terminations were felt (and retried)");
    let log = schema.log();
    assert_log_holds_exactly(&log, &acknowledged);
    assert_eq!(acknowledged.positions.len(), 600 * 3);
    let mut reader = PostgresReader::open(&schema.config).unwrap();
    assert_eq!(event_log::verify_store(&mut reader, |_| {}).unwrap().state, live, "the live state is the log's");
}

#[test]
fn a_writer_that_lost_its_lock_cannot_append_while_another_holds_it() {
    let schema = Schema::new();
    let store = PostgresStore::open_writer(&schema.config, "writer A").unwrap();
    runtime().block_on(async {
        let writer_a = Writer::start(store, WriterConfig::default()).unwrap();
        let a = writer_a.handle();
        let world = setup_world(&a).await.unwrap();
        let [recharge, place, pay] = purchase(&world, 1);
        submit_retrying(&a, recharge).await;

        // A's sessions die (a network cut, say); B is elected meanwhile.
        let terminated = tokio::task::block_in_place(|| schema.terminate_sessions());
        assert!(terminated >= 2);
        let store_b = tokio::task::block_in_place(|| PostgresStore::open_writer(&schema.config, "writer B")).unwrap();
        let writer_b = Writer::start(store_b, WriterConfig::default()).unwrap();
        let b = writer_b.handle();

        // A cannot append: every attempt is refused, naming the holder, and nothing of A's lands.
        let before = *b.committed().borrow();
        for _ in 0..5 {
            match a.submit(place.clone()).await {
                Err(CommandError::Unavailable(reason)) => {
                    assert!(!reason.contains("writer A") || reason.contains("writer B"), "{reason}")
                }
                other => panic!("writer A appended without the lock: {other:?}"),
            }
        }
        // A does not decide on a state it read without the lock, not even a refusal: a command
        // that would be rejected on A's last state (order 2 was never placed) is answered
        // Unavailable, and so is the payment of the order B is about to place.
        let [_, _, pay_unplaced] = purchase(&world, 2);
        assert!(
            matches!(a.submit(pay_unplaced).await, Err(CommandError::Unavailable(_))),
            "A decided without holding the lock"
        );
        let placed_by_b = submit_retrying(&b, place.clone()).await.0;
        assert_eq!(placed_by_b.position, before + 1, "B appends right after the log's end");
        assert!(
            matches!(a.submit(pay.clone()).await, Err(CommandError::Unavailable(_))),
            "A decided on a state without B's order"
        );
        let holder = tokio::task::block_in_place(|| PostgresReader::open(&schema.config).unwrap().leader());
        assert_eq!(holder.unwrap().as_deref(), Some("writer B"));
        writer_b.shutdown();

        // B gone, A wins the lock again, catches up with B's events and goes on.
        let (paid, _) = submit_retrying(&a, pay).await;
        assert_eq!(paid.position, placed_by_b.position + 1);
        let again = submit_retrying(&a, place).await.0;
        assert!(again.replayed, "B's order is in A's idempotency view");
        writer_a.shutdown();
    });
    let log = schema.log();
    let mut reader = PostgresReader::open(&schema.config).unwrap();
    let report = event_log::verify_store(&mut reader, |_| {}).unwrap();
    assert_eq!(report.events, log.len() as u64);
    let keys: Vec<_> = log.iter().filter_map(|event| event.idempotency_key.clone()).collect();
    assert_eq!(keys.iter().filter(|key| key.as_str() == "order-1").count(), 1, "booked once, by B");
    // The lock is free once both are gone (a closed session's backend releases it as it exits,
    // a moment after the client has gone: hence the bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match PostgresStore::open_writer(&schema.config, "writer C") {
            Ok(_) => break,
            Err(StoreError::Locked { holder }) if std::time::Instant::now() < deadline => {
                assert!(holder == "writer A" || holder == "writer B", "{holder}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("the lock stayed taken: {error}"),
        }
    }
}
