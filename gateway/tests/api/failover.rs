//! The acceptance of issue 16: three `kboss serve` processes (role `all`) on a PostgreSQL and a
//! NATS of this test's own, under a load of writes spread over them (each retried with its
//! idempotency key until acknowledged).
//!
//! 1. `kill -9` of the leader: a follower takes over within 5 s (measured and printed); every
//!    acknowledged write is in the log once and in every surviving instance's read models
//!    within 1 s of the takeover.
//! 2. `SIGSTOP` of the new leader: the last instance takes over once its lease expires; the
//!    paused one, resumed (`SIGCONT`), appends nothing and follows.
//!
//! At the end: the log holds exactly the acknowledged writes, each once; the stream equals the
//! log, message for event; `kboss verify` passes. With the database stopped, the instances'
//! metrics keep the positions they last knew (never 0) and `/readyz` is 503.

#[path = "../../../event-log/tests/relay_support/mod.rs"]
mod relay_support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_log::LogRead;
use relay_support::{free_port, PrivateNats, PrivatePostgres};
use serde_json::{json, Value};

use crate::helpers::ADMIN_TOKEN;

/// The writer's lease in this test: a paused leader is taken over this long after its last renewal.
const LEASE_TTL_MS: u64 = 2_000;
/// The longest a takeover after `kill -9` may take (the bound).
const TAKEOVER_MAX: Duration = Duration::from_secs(5);
/// How long after the takeover every acknowledged write must be in every instance's read models.
const READ_MODELS_MAX: Duration = Duration::from_secs(1);
/// A client gives up on one attempt after this long (a paused instance answers nothing).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// One `kboss serve` process.
struct Instance {
    name: &'static str,
    child: Child,
    address: String,
    _data_dir: tempfile::TempDir,
}

impl Instance {
    fn start(name: &'static str, database_url: &str, nats_url: &str) -> Instance {
        let port = free_port();
        let data_dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(data_dir.path().join("kboss.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kboss"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("KBOSS_DATABASE_URL", database_url)
            .env("KBOSS_NATS_URL", nats_url)
            .env("KBOSS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("KBOSS_DATA_DIR", data_dir.path())
            .env("KBOSS_LEASE_TTL_MS", LEASE_TTL_MS.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kboss starts");
        let instance = Instance { name, child, address: format!("http://127.0.0.1:{port}"), _data_dir: data_dir };
        relay_support::wait_until_listening(port, name);
        instance
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success(), "kill -{name} {}", self.name);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // What the instance logged, for the failure's reader.
            let log = std::fs::read_to_string(self._data_dir.path().join("kboss.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} ({}), last lines of its log:", self.name, self.address);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

async fn readiness(client: &reqwest::Client, instance: &str) -> Option<Value> {
    let answer = client.get(format!("{instance}/readyz")).timeout(Duration::from_millis(500)).send().await.ok()?;
    answer.json().await.ok()
}

/// Waits until `instance`'s `/readyz` satisfies `wanted`; answers when it did.
async fn until_ready(
    client: &reqwest::Client,
    instance: &str,
    within: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        if let Some(ready) = readiness(client, instance).await {
            if wanted(&ready) {
                return Instant::now();
            }
        }
        assert!(Instant::now() < deadline, "{instance} did not become as wanted within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The load: `writers` clients, each opening suppliers one after another through the instances
/// in turn, every write retried with its key (on any instance) until acknowledged.
struct Load {
    acknowledged: Arc<Mutex<BTreeMap<String, (String, u64)>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(instances: Arc<Mutex<Vec<String>>>, writers: usize) -> Load {
        let acknowledged = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::new();
        let tasks = (0..writers)
            .map(|writer| {
                let (acknowledged, stop, instances, client) =
                    (acknowledged.clone(), stop.clone(), instances.clone(), client.clone());
                tokio::spawn(async move {
                    let mut turn = writer;
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let key = format!("load-{writer}-{n}");
                        let body = json!({ "kind": "supplier", "name": format!("Supplier {writer}-{n}") });
                        loop {
                            let instance = {
                                let instances = instances.lock().unwrap();
                                turn += 1;
                                instances[turn % instances.len()].clone()
                            };
                            let attempt = client
                                .post(format!("{instance}/v1/orgs"))
                                .bearer_auth(ADMIN_TOKEN)
                                .header("idempotency-key", &key)
                                .json(&body)
                                .timeout(ATTEMPT_TIMEOUT)
                                .send()
                                .await;
                            if let Ok(answer) = attempt {
                                if answer.status().as_u16() == 201 {
                                    let opened: Value = answer.json().await.unwrap();
                                    let id = opened["id"].as_str().unwrap().to_owned();
                                    let position = opened["position"].as_u64().unwrap();
                                    acknowledged.lock().unwrap().insert(key.clone(), (id, position));
                                    break;
                                }
                                let status = answer.status().as_u16();
                                let text = answer.text().await.unwrap_or_default();
                                assert_eq!(status, 503, "only unavailability is retried: {text}");
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Load { acknowledged, stop, tasks }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    fn highest(&self) -> u64 {
        self.acknowledged.lock().unwrap().values().map(|(_, position)| *position).max().unwrap_or(0)
    }

    async fn until_more_than(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count() <= count {
            assert!(Instant::now() < deadline, "the load stalled at {} acknowledged writes", self.count());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> BTreeMap<String, (String, u64)> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a load client ran to its end");
        }
        Arc::try_unwrap(self.acknowledged).unwrap().into_inner().unwrap()
    }
}

/// Every surviving instance's read models hold `position` (and the org acknowledged at it):
/// answers how long after `since` the last of them did.
async fn read_models_hold(
    client: &reqwest::Client,
    instances: &[&Instance],
    position: u64,
    since: Instant,
) -> Duration {
    let mut latest = Duration::ZERO;
    for instance in instances {
        let at = until_ready(client, &instance.address, Duration::from_secs(30), |ready| {
            ready["read_position"].as_u64().is_some_and(|read| read >= position)
        })
        .await;
        latest = latest.max(at.saturating_duration_since(since));
    }
    latest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_seconds_and_a_paused_one_appends_nothing() {
    let mut postgres = PrivatePostgres::start();
    let nats = PrivateNats::start();
    let database_url = postgres.url();
    let nats_url = format!("nats://{}", nats.url());
    let client = reqwest::Client::new();

    let a = Instance::start("A", &database_url, &nats_url);
    until_ready(&client, &a.address, Duration::from_secs(30), |ready| ready["writer"] == "ready").await;
    let b = Instance::start("B", &database_url, &nats_url);
    let c = Instance::start("C", &database_url, &nats_url);
    for follower in [&b, &c] {
        until_ready(&client, &follower.address, Duration::from_secs(30), |ready| {
            ready["status"] == "ready" && ready["writer"] == "following"
        })
        .await;
    }

    // Under load through all three, A (the leader) is killed.
    let targets = Arc::new(Mutex::new(vec![a.address.clone(), b.address.clone(), c.address.clone()]));
    let load = Load::start(targets.clone(), 4);
    load.until_more_than(200).await;
    *targets.lock().unwrap() = vec![b.address.clone(), c.address.clone()];
    let killed_at = Instant::now();
    a.signal("KILL");
    let acknowledged_before = load.highest();
    let (took_over, leader, follower) = tokio::select! {
        at = until_ready(&client, &b.address, TAKEOVER_MAX * 2, |ready| ready["writer"] == "ready") => (at, &b, &c),
        at = until_ready(&client, &c.address, TAKEOVER_MAX * 2, |ready| ready["writer"] == "ready") => (at, &c, &b),
    };
    let takeover = took_over - killed_at;
    println!("failover: {} took over {takeover:?} after kill -9 of the leader", leader.name);
    assert!(takeover <= TAKEOVER_MAX, "the takeover took {takeover:?}");
    let caught_up = read_models_hold(&client, &[leader, follower], acknowledged_before, took_over).await;
    println!("failover: every write acknowledged before the kill in both instances' read models {caught_up:?} after the takeover");
    assert!(caught_up <= READ_MODELS_MAX, "the read models trailed for {caught_up:?} after the takeover");
    let count = load.count();
    load.until_more_than(count + 100).await;

    // The new leader is paused; the last instance takes over once its lease has expired.
    *targets.lock().unwrap() = vec![follower.address.clone()];
    let paused_at = Instant::now();
    leader.signal("STOP");
    let took_over =
        until_ready(&client, &follower.address, Duration::from_secs(30), |ready| ready["writer"] == "ready").await;
    println!("failover: {} took over {:?} after the leader was paused", follower.name, took_over - paused_at);
    let count = load.count();
    load.until_more_than(count + 100).await;
    // Resumed, the old leader finds itself fenced, appends nothing and follows.
    leader.signal("CONT");
    until_ready(&client, &leader.address, Duration::from_secs(30), |ready| {
        ready["writer"] == "following"
            && ready["leader"].as_str().is_some_and(|holder| holder.contains(&follower.address[7..]))
    })
    .await;
    *targets.lock().unwrap() = vec![leader.address.clone(), follower.address.clone()];
    let count = load.count();
    load.until_more_than(count + 50).await;
    let acknowledged = load.finish().await;

    // The log holds exactly the acknowledged writes, each once, at the positions acknowledged.
    let config: postgres::Config = database_url.parse().unwrap();
    let log = tokio::task::spawn_blocking(move || {
        event_log::PostgresReader::open(&config).unwrap().read_after(0, 10_000_000).unwrap()
    })
    .await
    .unwrap();
    let mut in_log: BTreeMap<String, u64> = BTreeMap::new();
    for event in &log {
        if let Some(key) = event.idempotency_key.as_ref().filter(|key| key.starts_with("load-")) {
            assert!(in_log.insert(key.clone(), event.position).is_none(), "{key} booked twice");
        }
    }
    let acknowledged_positions: BTreeMap<String, u64> =
        acknowledged.iter().map(|(key, (_, position))| (key.clone(), *position)).collect();
    assert_eq!(in_log, acknowledged_positions, "the log holds exactly the acknowledged writes");
    println!("failover: {} writes acknowledged, {} events in the log", acknowledged.len(), log.len());

    // Every instance's read models hold every acknowledged org.
    let last = log.last().unwrap().position;
    read_models_hold(&client, &[leader, follower], last, Instant::now()).await;
    for (_, (id, _)) in acknowledged.iter().step_by(97) {
        for instance in [leader, follower] {
            let org = client.get(format!("{}/v1/orgs/{id}", instance.address)).bearer_auth(ADMIN_TOKEN).send().await;
            assert_eq!(org.unwrap().status().as_u16(), 200, "{id} on {}", instance.name);
        }
    }

    // The stream equals the log: its last sequence is the log's last position, each message the event.
    let jetstream = async_nats::jetstream::new(async_nats::connect(&nats_url).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = jetstream.get_stream(event_log::relay::STREAM_NAME).await.unwrap();
    while stream.info().await.unwrap().state.last_sequence != last {
        assert!(Instant::now() < deadline, "the stream did not reach the log's last position {last}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for event in &log {
        let message = stream.get_raw_message(event.position).await.unwrap();
        let decoded = ledger_core::record::decode(&message.payload).unwrap();
        assert_eq!((decoded.position, decoded.hash.as_str()), (event.position, event.hash.as_str()));
    }

    // `kboss verify` passes on the log.
    let verified =
        Command::new(env!("CARGO_BIN_EXE_kboss")).args(["verify", "--database-url", &database_url]).output().unwrap();
    assert!(verified.status.success(), "kboss verify: {}", String::from_utf8_lossy(&verified.stderr));

    // The database gone: each instance keeps the positions it last knew (never 0) and says it
    // is not ready.
    let scrape = |instance: &Instance| {
        let request = client.get(format!("{}/metrics", instance.address));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let last_text = last.to_string();
    let positions = [("kboss_writer_committed_position", last_text.as_str()), ("kboss_read_position", &last_text)];
    for instance in [leader, follower] {
        let metrics = scrape(instance).await;
        for (series, expected) in positions.iter().chain(&[("kboss_read_models_up", "1")]) {
            assert_eq!(crate::metrics::value(&metrics, series), Some(*expected), "{series} on {}", instance.name);
        }
    }
    postgres.stop(true);
    for instance in [leader, follower] {
        let metrics = scrape(instance).await;
        for (series, expected) in positions.iter().chain(&[("kboss_read_models_up", "0")]) {
            assert_eq!(crate::metrics::value(&metrics, series), Some(*expected), "{series} on {}", instance.name);
        }
        let ready = client.get(format!("{}/readyz", instance.address)).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 503, "{} is ready without its database", instance.name);
    }
    drop((a, b, c));
    drop((postgres, nats));
}
