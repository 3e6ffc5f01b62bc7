//! The PostgreSQL store when its sessions are lost (the shared server on 127.0.0.1, a fresh
//! schema per test; the tests fail when it cannot be reached). The server terminates the
//! writer's sessions (`pg_terminate_backend`, what a restart or a failover does to them):
//! commands fail cleanly with `Unavailable`, then the writer reconnects, wins its lock again and
//! goes on, and the log holds every acknowledged command once. A writer cut off while another
//! is elected is fenced for good (the lease's epoch moved on); the epoch is checked inside the
//! append transaction; a holder that stops renewing is taken over once its lease expires.
//!
//! That a second writer cannot even start while the first holds the log is checked for every
//! backend by `conformance.rs` (`a_second_writer_is_refused_while_the_first_holds_the_log`).

mod relay_support;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use commands::testing::{purchase, setup_world};
use commands::{CommandError, Writer, WriterConfig, WriterHealth};
use event_log::PostgresStore;
use event_log::{LogAppend, LogRead, PostgresReader, StoreError};
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

/// A TCP relay between a writer and PostgreSQL that the test can cut (every connection through
/// it closed, new ones refused) and heal: a network partition between one writer and the
/// database, the only way to keep a live writer from reconnecting while another is elected.
struct Partition {
    port: u16,
    open: Arc<std::sync::atomic::AtomicBool>,
    streams: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Partition {
    fn to(server: std::net::SocketAddr) -> Partition {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let streams = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (accepting, kept) = (open.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !accepting.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: refused while cut
                }
                let Ok(upstream) = std::net::TcpStream::connect(server) else { continue };
                let mut kept = kept.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(upstream.try_clone().unwrap());
                for (mut from, mut to) in
                    [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Partition { port, open, streams }
    }

    /// A configuration like `config`, through this relay.
    fn route(&self, config: &postgres::Config) -> postgres::Config {
        let mut routed = config.clone();
        routed.host("127.0.0.1").port(self.port);
        routed
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The server `config` names (TCP), for a [`Partition`] in front of it.
fn server_of(config: &postgres::Config) -> std::net::SocketAddr {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).unwrap().next().unwrap()
}

/// Opens a writer, retrying while the lock is still held by a session that is going away.
fn open_writer_within(config: &postgres::Config, holder: &str, within: std::time::Duration) -> PostgresStore {
    let deadline = std::time::Instant::now() + within;
    loop {
        match PostgresStore::open_writer(config, holder) {
            Ok(store) => return store,
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(error) => panic!("{holder} could not take the writer's lease: {error}"),
        }
    }
}

#[test]
fn a_writer_cut_off_while_another_was_elected_is_fenced_for_good() {
    let schema = Schema::new();
    let partition = Partition::to(server_of(&schema.config));
    let through_partition = partition.route(&schema.config);
    let store = PostgresStore::open_writer(&through_partition, "writer A").unwrap();
    let epoch_a = store.epoch();
    runtime().block_on(async {
        let writer_a = Writer::start(store, WriterConfig::default()).unwrap();
        let a = writer_a.handle();
        let world = setup_world(&a).await.unwrap();
        let [recharge, place, pay] = purchase(&world, 1);
        submit_retrying(&a, recharge).await;

        // A is cut off from the database: its sessions end (and with them its lock), and it
        // cannot reconnect. B is elected meanwhile: the outcome does not depend on a race.
        partition.cut();
        let store_b = tokio::task::block_in_place(|| {
            open_writer_within(&schema.config, "writer B", std::time::Duration::from_secs(30))
        });
        assert_eq!(store_b.epoch(), epoch_a + 1, "B's lease is the next epoch");
        let writer_b = Writer::start(store_b, WriterConfig::default()).unwrap();
        let b = writer_b.handle();
        let before = *b.committed().borrow();
        for _ in 0..3 {
            let answer = a.submit(place.clone()).await;
            assert!(matches!(answer, Err(CommandError::Unavailable(_))), "writer A appended while cut off");
        }
        let placed_by_b = submit_retrying(&b, place.clone()).await.0;
        assert_eq!(placed_by_b.position, before + 1, "B appends right after the log's end");

        // The network heals: A reconnects, finds the lease in another epoch, and is fenced.
        partition.heal();
        // A decides nothing, not even a refusal (order 1 is not in A's state), before it has
        // looked at the lease again; then it is fenced.
        for _ in 0..3 {
            match a.submit(pay.clone()).await {
                Err(CommandError::Unavailable(_)) => {}
                other => panic!("writer A decided after B took the lease: {other:?}"),
            }
        }
        assert_eq!(a.health(), WriterHealth::Fenced);
        let holder = tokio::task::block_in_place(|| PostgresReader::open(&schema.config).unwrap().leader());
        assert_eq!(holder.unwrap().as_deref(), Some("writer B"));

        // Fenced for good: with B gone and the lock free, A still appends nothing.
        writer_b.shutdown();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(matches!(a.submit(pay.clone()).await, Err(CommandError::Unavailable(_))), "a fenced writer appended");
        assert_eq!(a.health(), WriterHealth::Fenced);
        writer_a.shutdown();

        // A new writer (the process that ran A, starting its writer again) loads the log, B's
        // order with it, and goes on.
        let store_c = tokio::task::block_in_place(|| {
            open_writer_within(&through_partition, "writer A again", std::time::Duration::from_secs(30))
        });
        assert_eq!(store_c.epoch(), epoch_a + 2);
        let writer_c = Writer::start(store_c, WriterConfig::default()).unwrap();
        let c = writer_c.handle();
        let (paid, _) = submit_retrying(&c, pay).await;
        assert_eq!(paid.position, placed_by_b.position + 1);
        let again = submit_retrying(&c, place).await.0;
        assert!(again.replayed, "B's order is in the new writer's idempotency view");
        writer_c.shutdown();
    });
    let log = schema.log();
    let mut reader = PostgresReader::open(&schema.config).unwrap();
    let report = event_log::verify_store(&mut reader, |_| {}).unwrap();
    assert_eq!(report.events, log.len() as u64);
    let keys: Vec<_> = log.iter().filter_map(|event| event.idempotency_key.clone()).collect();
    assert_eq!(keys.iter().filter(|key| key.as_str() == "order-1").count(), 1, "booked once, by B");
}

/// The first event of a log (the worked example's first), sealed: something to append.
fn first_event() -> ledger_core::event::EncodedEvent {
    let world = ledger_core::testing::WorkedExample::new();
    ledger_core::event::EncodedEvent::of(world.ledger.log[0].clone())
}

#[test]
fn the_append_transaction_checks_the_lease_epoch() {
    let schema = Schema::new();
    let mut store = PostgresStore::open_writer(&schema.config, "writer A").unwrap();
    let mut admin = schema.config.connect(postgres::NoTls).unwrap();
    // Someone moves the lease on (what a takeover does), while A's session lives on.
    admin.execute("UPDATE writer_lease SET epoch = epoch + 1, holder = 'writer B'", &[]).unwrap();
    let event = first_event();
    match store.append(std::slice::from_ref(&event), &[]) {
        Err(StoreError::Fenced { holder }) => assert_eq!(holder, "writer B"),
        other => panic!("appended under another epoch: {other:?}"),
    }
    assert_eq!(schema.log().len(), 0, "nothing of the refused append is in the log");
    assert!(matches!(store.renew_lease(), Err(StoreError::Fenced { .. })), "fenced for good");
    assert!(matches!(store.hold_lock(), Err(StoreError::Fenced { .. })));
}

#[test]
fn a_holder_that_stops_renewing_is_taken_over_once_its_lease_expires() {
    let schema = Schema::new();
    // A takes the lease and then renews nothing (a paused process: its session still holds the
    // advisory lock).
    let ttl = std::time::Duration::from_millis(800);
    let terms = |holder: &str| event_log::postgres::LeaseTerms { ttl, ..event_log::postgres::LeaseTerms::new(holder) };
    let mut paused = PostgresStore::open_writer_with(&schema.config, &terms("writer A")).unwrap();
    let started = std::time::Instant::now();
    // While the lease lives, B is refused and A's session is left alone.
    match PostgresStore::open_writer_with(&schema.config, &terms("writer B")) {
        Err(StoreError::Locked { holder }) => assert_eq!(holder, "writer A"),
        other => panic!("B took a live lease: {:?}", other.map(|store| store.epoch())),
    }
    // Once it has expired, B's attempts end A's session and win.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let store_b = loop {
        match PostgresStore::open_writer_with(&schema.config, &terms("writer B")) {
            Ok(store) => break store,
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(error) => panic!("B could not take an expired lease: {error}"),
        }
    };
    assert!(started.elapsed() >= ttl, "taken over only after the TTL");
    assert_eq!(store_b.epoch(), paused.epoch() + 1);
    // A resumes: it appends nothing. Its session was ended: the first attempt meets the closed
    // connection, the next reconnects and finds the lease in another epoch.
    let event = first_event();
    match paused.append(std::slice::from_ref(&event), &[]) {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("the paused writer's session was not ended: {other:?}"),
    }
    match paused.append(std::slice::from_ref(&event), &[]) {
        Err(StoreError::Fenced { holder }) => assert_eq!(holder, "writer B"),
        other => panic!("the paused writer appended after the takeover: {other:?}"),
    }
    assert_eq!(schema.log().len(), 0);
}
