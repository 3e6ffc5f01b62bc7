//! Crash safety: a child process runs the writer under load with idempotency keys and is killed
//! with SIGKILL at pseudo-random moments, many times. After each kill: every acknowledged command
//! is in the log exactly once, retried commands (the next run resubmits everything with the same
//! keys) are answered from the log instead of booking twice, the chain verifies, and the state
//! loaded at start-up (snapshot + tail) equals a fresh replay from position 0.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use event_log::{LogRead, SqliteReader};
use ledger_core::RecordedEvent;

const PURCHASES: u64 = 3_000;
const CONCURRENCY: u64 = 24;
const KILLS: u64 = 15;

/// xorshift64*: reproducible kill moments without a dependency.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % max
    }
}

/// Runs the child; kills it after `kill_after` if given. Returns the acknowledgements it printed.
fn run_child(data_dir: &std::path::Path, kill_after: Option<Duration>) -> (Vec<(String, u64)>, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kboss-crash-writer"))
        .arg(data_dir)
        .arg(PURCHASES.to_string())
        .arg(CONCURRENCY.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut acks, mut done) = (Vec::new(), false);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("ACK"), Some(key), Some(position)) => acks.push((key.to_owned(), position.parse().unwrap())),
                (Some("DONE"), _, _) => done = true,
                // A kill can cut the last line short: it was never fully acknowledged.
                _ => {}
            }
        }
        (acks, done)
    });
    if let Some(delay) = kill_after {
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    }
    let status = child.wait().unwrap();
    let (acks, done) = reader.join().unwrap();
    if kill_after.is_none() {
        assert!(status.success() && done, "the last run completes: {status}");
    }
    (acks, done)
}

/// Every key's events, as (first, last) positions; panics unless each key's events are one
/// contiguous run (a command's events are appended together, exactly once).
fn runs_by_key(log: &[RecordedEvent]) -> BTreeMap<String, (u64, u64)> {
    let mut runs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for event in log {
        let key = event.idempotency_key.clone().expect("every command in this workload has a key");
        let run = runs.entry(key.clone()).or_insert((event.position, event.position));
        assert!(run.1 + 1 >= event.position, "{key} booked twice: positions {run:?} and {}", event.position);
        run.1 = event.position;
    }
    runs
}

fn check_store(data_dir: &std::path::Path, acknowledged: &BTreeMap<String, u64>) -> BTreeMap<String, (u64, u64)> {
    let mut store = SqliteReader::open(data_dir).unwrap();
    let report = event_log::verify_store(&mut store, |_| {}).expect("the chain and every entry verify");
    let log = store.read_after(0, usize::MAX >> 1).unwrap();
    assert_eq!(log.len() as u64, report.events);
    let runs = runs_by_key(&log);
    for (key, position) in acknowledged {
        let run = runs.get(key).unwrap_or_else(|| panic!("acknowledged {key} is not in the log"));
        assert_eq!(run.1, *position, "{key} was acknowledged at {position}");
    }
    assert_eq!(event_log::load_state(&mut store).unwrap(), report.state, "start-up state equals a fresh replay");
    assert!(ledger_core::invariants::violations(&report.state, &log).is_empty());
    runs
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged_and_books_nothing_twice() {
    let directory = tempfile::tempdir().unwrap();
    let mut moments = Moments(0x9E37_79B9_7F4A_7C15);
    let mut acknowledged: BTreeMap<String, u64> = BTreeMap::new();
    let mut kills_mid_run = 0;
    for _ in 0..KILLS {
        let delay = Duration::from_millis(20 + moments.next_ms(600));
        let (acks, done) = run_child(directory.path(), Some(delay));
        kills_mid_run += u64::from(!done);
        for (key, position) in acks {
            // A retry of a committed command is answered with the first answer, never rebooked.
            let first = *acknowledged.entry(key.clone()).or_insert(position);
            assert_eq!(first, position, "{key} answered at {first}, then at {position}");
        }
        check_store(directory.path(), &acknowledged);
    }
    assert!(kills_mid_run >= KILLS / 2, "most kills landed mid-run ({kills_mid_run} of {KILLS})");
    let (acks, _) = run_child(directory.path(), None);
    for (key, position) in acks {
        let first = *acknowledged.entry(key.clone()).or_insert(position);
        assert_eq!(first, position, "{key} answered at {first}, then at {position}");
    }
    let runs = check_store(directory.path(), &acknowledged);
    let purchase_keys = runs.keys().filter(|key| !key.starts_with("setup-")).count() as u64;
    assert_eq!(purchase_keys, PURCHASES * 3, "every purchase command booked exactly once in the end");
    let mut store = SqliteReader::open(directory.path()).unwrap();
    let state = event_log::load_state(&mut store).unwrap();
    let customer = ledger_core::testing::WorkedExample::without_ledger().customer;
    assert_eq!(state.wallet(customer).balance.to_string(), "0.00");
    assert_eq!(store.last_position().unwrap(), runs.values().map(|run| run.1).max().unwrap());
}
