//! Shared by the server-mode tests (`commands/tests/relay*.rs`, `postgres_*.rs`, and
//! `projections/tests/server_mode*.rs` through `#[path]`): names unique to one test, and private
//! instances of `nats-server` and PostgreSQL for the tests that restart a service.
//!
//! Why private instances for restarts: the shared services on 127.0.0.1 serve every other test
//! binary and every engineer's run at the same time; restarting them would fail tests that have
//! nothing to do with restarts. A private instance is started exactly as `ops/services` starts
//! the shared one (same binary, same flags: JetStream on, a store directory; for PostgreSQL the
//! packaged server binaries, trust auth), on a free port, and is the only process these tests
//! ever stop. When a binary is missing the test fails: it is never skipped.
#![allow(dead_code)] // Each test binary uses a different part of it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shared NATS server (ops/services).
pub const NATS_URL: &str = "127.0.0.1:4222";
/// How long a started service may take to accept connections.
pub const SERVICE_START_MAX: Duration = Duration::from_secs(60);

/// A name no other test (or run) uses: `<prefix>_<uuid v7>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A port that was free a moment ago (the kernel's choice for port 0).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind port 0").local_addr().unwrap().port()
}

pub fn wait_until_listening(port: u16, what: &str) {
    let deadline = Instant::now() + SERVICE_START_MAX;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on port {port} within {SERVICE_START_MAX:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a signal to a process this test started, by its id.
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().expect("kill runs");
    assert!(status.success(), "kill -{name} {}", child.id());
}

fn find_binary(name: &str, candidates: &[&str]) -> PathBuf {
    for candidate in candidates {
        if Path::new(candidate).is_file() {
            return PathBuf::from(candidate);
        }
    }
    if let Ok(output) = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output() {
        let found = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !found.is_empty() {
            return PathBuf::from(found);
        }
    }
    panic!("{name} is not installed (ops/services start installs it)");
}

/// A `nats-server` of this test's own, JetStream on, with a store directory that survives its
/// restarts. Dropped: stopped and its directory removed.
pub struct PrivateNats {
    binary: PathBuf,
    pub port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateNats {
    pub fn start() -> PrivateNats {
        let binary = find_binary("nats-server", &["/usr/sbin/nats-server", "/usr/bin/nats-server"]);
        let mut nats = PrivateNats { binary, port: free_port(), store: tempfile::tempdir().unwrap(), child: None };
        nats.launch();
        nats
    }

    pub fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let log = self.store.path().join("nats.log");
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.store.path())
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        wait_until_listening(self.port, "nats-server");
    }

    /// Stops the server as a service manager would (SIGTERM), and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.launch();
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL cluster of this test's own: the packaged server binaries, run as the `postgres`
/// user in a temporary data directory, trust auth, `synchronous_commit = on` and fsync on (as in
/// production). Dropped: stopped and its directory removed.
pub struct PrivatePostgres {
    bin: PathBuf,
    pub port: u16,
    directory: tempfile::TempDir,
    uid: u32,
    gid: u32,
    child: Option<Child>,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed under /usr/lib/postgresql (ops/services start)")
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .max_by_key(|bin| {
                let version = bin.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
                version.parse::<u32>().unwrap_or(0)
            })
            .expect("a PostgreSQL server with initdb");
        let (uid, gid) = postgres_user();
        let directory = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(directory.path(), Some(uid), Some(gid)).expect("chown the data directory");
        let data = directory.path().join("data");
        let status = Command::new(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .uid(uid)
            .gid(gid)
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let mut postgres = PrivatePostgres { bin, port: free_port(), directory, uid, gid, child: None };
        postgres.launch();
        postgres
    }

    /// libpq-style connection string for database `postgres`.
    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }

    fn launch(&mut self) {
        let data = self.directory.path().join("data");
        let child = Command::new(self.bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("unix_socket_directories={}", self.directory.path().display()))
            .args(["-c", "synchronous_commit=on", "-c", "fsync=on", "-c", "max_connections=50"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.directory.path().join("postgres.log")).unwrap())
            .uid(self.uid)
            .gid(self.gid)
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        wait_until_listening(self.port, "PostgreSQL");
        // Listening comes before accepting (recovery may still run): ask pg_isready.
        let deadline = Instant::now() + SERVICE_START_MAX;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
                .status()
                .expect("pg_isready runs");
            if ready.success() {
                break;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not accept connections");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: `fast` (SIGINT, what `pg_ctlcluster restart` does) or immediate
    /// (SIGQUIT: no shutdown checkpoint, crash recovery at the next start).
    pub fn stop(&mut self, fast: bool) {
        if let Some(mut child) = self.child.take() {
            signal(&child, if fast { "INT" } else { "QUIT" });
            let _ = child.wait();
        }
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.launch();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let mut child = child;
            signal(&child, "QUIT");
            let _ = child.wait();
        }
    }
}

use std::os::unix::process::CommandExt;

fn postgres_user() -> (u32, u32) {
    let output = Command::new("id").arg("-u").arg("postgres").output().expect("id runs");
    let uid = String::from_utf8_lossy(&output.stdout).trim().parse().expect("a postgres user exists");
    let output = Command::new("id").arg("-g").arg("postgres").output().expect("id runs");
    let gid = String::from_utf8_lossy(&output.stdout).trim().parse().expect("a postgres group exists");
    (uid, gid)
}

/// A command that meets `Unavailable` (the log is down, the writer recovering) is retried with
/// the same idempotency key, at most this many times, this far apart.
pub const RETRIES_MAX: u32 = 3_000;
pub const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// What a workload saw: every acknowledged command's key and last position, and how many
/// attempts were answered `Unavailable` (and retried).
#[derive(Default, Debug)]
pub struct Acknowledged {
    pub positions: std::collections::BTreeMap<String, u64>,
    pub unavailable: u64,
}

/// Submits until the command is acknowledged, retrying `Unavailable` with the same key: the
/// client's side of DESIGN §11 ("writes fail cleanly and recover"). Any other error panics.
pub async fn submit_retrying(
    handle: &commands::WriterHandle,
    request: commands::Request,
) -> (commands::Committed, u64) {
    let mut unavailable = 0;
    loop {
        match handle.submit(request.clone()).await {
            Ok(committed) => return (committed, unavailable),
            Err(commands::CommandError::Unavailable(_)) | Err(commands::CommandError::Overloaded) => {
                unavailable += 1;
                assert!(unavailable < u64::from(RETRIES_MAX), "still unavailable after {RETRIES_MAX} attempts");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(error) => panic!("{request:?} failed: {error}"),
        }
    }
}

/// `lanes` concurrent clients run purchases `0..purchases` (lane `l` takes `l, l + lanes, …`),
/// each command retried until acknowledged. `progress` counts acknowledged purchases.
pub async fn purchases_retrying(
    handle: &commands::WriterHandle,
    world: &std::sync::Arc<ledger_core::testing::WorkedExample>,
    purchases: u64,
    lanes: u64,
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Acknowledged {
    let tasks: Vec<_> = (0..lanes)
        .map(|lane| {
            let (handle, world, progress) = (handle.clone(), world.clone(), progress.clone());
            tokio::spawn(async move {
                let mut acknowledged = Acknowledged::default();
                for n in (lane..purchases).step_by(lanes as usize) {
                    for request in commands::testing::purchase(&world, n) {
                        let key = request.idempotency_key.as_ref().unwrap().as_str().to_owned();
                        let (committed, unavailable) = submit_retrying(&handle, request).await;
                        acknowledged.unavailable += unavailable;
                        assert!(acknowledged.positions.insert(key, committed.position).is_none());
                    }
                    progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                acknowledged
            })
        })
        .collect();
    let mut all = Acknowledged::default();
    for task in tasks {
        let lane = task.await.unwrap();
        all.unavailable += lane.unavailable;
        all.positions.extend(lane.positions);
    }
    all
}

/// Checks a log against what was acknowledged: every acknowledged key's events end at the
/// acknowledged position, and every key's events form one run (booked once).
pub fn assert_log_holds_exactly(log: &[ledger_core::RecordedEvent], acknowledged: &Acknowledged) {
    let mut runs: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    for (index, event) in log.iter().enumerate() {
        assert_eq!(event.position, index as u64 + 1, "no gaps");
        let key = event.idempotency_key.clone().expect("every command here has a key");
        let run = runs.entry(key.clone()).or_insert((event.position, event.position));
        assert!(run.1 + 1 >= event.position, "{key} booked twice: {run:?} and {}", event.position);
        run.1 = event.position;
    }
    for (key, position) in &acknowledged.positions {
        let run = runs.get(key).unwrap_or_else(|| panic!("acknowledged {key} is not in the log"));
        assert_eq!(run.1, *position, "{key} was acknowledged at {position}");
    }
}
