//! The live invariant monitors (DESIGN §13, issue 14): while the ledger serves, a task folds the
//! log, event by event, into a decision state of its own and through
//! `ledger_core::invariants::Monitor`, which compares after every event what the ledger keeps
//! twice: a book's 2203 (and 2203.01) with its customers' wallets, what a book owes a supplier
//! on 2202 with its unpaid statements and the items on none yet, one book's 1122 with another
//! with that book's 2202 with it, each book's trial balance, and each event's own invariants
//! (`invariants::Audit`'s).
//!
//! A breach is found once, at the event that broke it (until it holds again), and is then a
//! metric (`kboss_invariant_breaches_total{invariant}`, and the gauge of those open now), a log
//! line (`ERROR`, with the invariant, the position, the books and a sentence) and an alert
//! through the notifier to the operators (`KBOSS_ALERT_WEBHOOK_URL`). A customer whose wallet
//! falls below its low-balance threshold gets one notice per crossing, to its seller's book.
//!
//! It reads the log, not the writer's memory: what is in the store is what it judges, so a
//! store changed behind the writer's back is seen as well (it also looks at the log's end every
//! [`MONITOR_POLL_INTERVAL`], not only when the writer commits). An event that does not verify
//! (`log::verify_next`: a broken link, an unbalanced entry, a wallet below zero) is reported, and
//! the monitors stop there: nothing after it can be folded.
//!
//! At start it folds the log from position 0 (a second decision state: the memory of the
//! writer's again, and the time of a replay): a breach open in the log is alerted again once
//! after each start; low-balance crossings before the start are history and are not sent again.
//! In server mode it runs on every instance that competes for the writer's lease (metrics and
//! log lines on each), and only the leader sends alerts and notices: a breach found while
//! following is sent once this instance leads, if it is still open.
//!
//! Imports `state` (the metrics and the notifier through it); only `app` imports it.

use std::collections::BTreeMap;
use std::time::Duration;

use event_log::{AnyReader, AsyncLog, LogRead, StoreError, REPLAY_CHUNK_EVENTS};
use ledger_core::invariants::{Breach, Finding, Monitor, Watched};
use ledger_core::log::{evolve_untrusted, verify_next, ChainHead};
use ledger_core::State;

use crate::state::SharedState;

/// How often the monitors look at the log's end when nothing woke them.
pub const MONITOR_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Alerts a follower keeps for when it leads; beyond it the oldest are dropped (and logged).
pub const ALERTS_PENDING_MAX: usize = 1_024;

/// The monitors' own fold of the log.
struct Watcher {
    state: State,
    chain: ChainHead,
    monitor: Monitor,
    /// The position of an event that did not verify: nothing after it is folded.
    stopped_at: Option<u64>,
}

/// What one step of the watcher found.
struct Step {
    findings: Vec<Finding>,
    events: usize,
    position: u64,
    open: BTreeMap<&'static str, i64>,
}

impl Watcher {
    /// Reads a chunk after what it has folded and folds it.
    fn step(&mut self, reader: &mut AnyReader) -> Result<Step, StoreError> {
        let mut findings = Vec::new();
        let mut events = 0;
        if self.stopped_at.is_none() {
            let chunk = reader.read_after(self.state.last_position, REPLAY_CHUNK_EVENTS)?;
            events = chunk.len();
            for event in &chunk {
                let folded = verify_next(&self.state, &self.chain, event)
                    .and_then(|()| evolve_untrusted(&mut self.state, event));
                match folded {
                    Ok(()) => {
                        self.chain = ChainHead::after(event);
                        findings.extend(self.monitor.observe(&self.state, event));
                    }
                    Err(error) => {
                        findings.extend(self.monitor.refused(&self.state, event, &error.to_string()));
                        self.stopped_at = Some(event.position);
                        break;
                    }
                }
            }
        }
        let mut open: BTreeMap<&'static str, i64> = BTreeMap::new();
        for (watched, _) in self.monitor.open() {
            *open.entry(watched.invariant()).or_default() += 1;
        }
        Ok(Step { findings, events, position: self.state.last_position, open })
    }
}

/// Starts the monitors on `log` (a reader of their own). The task runs until aborted.
pub fn spawn(app: SharedState, log: AsyncLog<AnyReader>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(app, log))
}

async fn run(app: SharedState, log: AsyncLog<AnyReader>) {
    let mut committed = app.writer.committed();
    let (genesis, start) = loop {
        let opened = log
            .call(|reader| Ok::<_, StoreError>((event_log::replay::genesis(reader)?, reader.last_position()?)))
            .await;
        match opened {
            Ok(opened) => break opened,
            Err(error) => {
                tracing::warn!(%error, "invariant monitors: the log cannot be read yet");
                tokio::time::sleep(MONITOR_POLL_INTERVAL).await;
            }
        }
    };
    let mut watcher =
        Some(Watcher { state: State::default(), chain: genesis, monitor: Monitor::default(), stopped_at: None });
    let mut pending: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut told_stopped = false;
    loop {
        let mut taken = watcher.take().expect("the watcher is back after each step");
        let (taken, stepped) = log
            .call(move |reader| {
                let stepped = taken.step(reader);
                (taken, stepped)
            })
            .await;
        let stopped = taken.stopped_at;
        watcher = Some(taken);
        let events = match stepped {
            Ok(step) => {
                report(&app, step.findings, start, &mut pending);
                // What the position says was checked has been alerted (enqueued) first.
                if app.writer.is_leader() {
                    while let Some(content) = pending.pop_front() {
                        app.notifier.alert(&content);
                    }
                }
                app.metrics.set_open_breaches(&step.open);
                app.metrics.set_monitor_position(step.position);
                step.events
            }
            Err(error) => {
                tracing::warn!(%error, "invariant monitors: reading the log failed; trying again");
                0
            }
        };
        if let (Some(position), false) = (stopped, told_stopped) {
            tracing::error!(position, "invariant monitors stopped: the event at this position does not verify");
            told_stopped = true;
        }
        if events == REPLAY_CHUNK_EVENTS {
            continue;
        }
        tokio::select! {
            _ = committed.changed() => {}
            _ = tokio::time::sleep(MONITOR_POLL_INTERVAL) => {}
        }
    }
}

/// Each finding as a metric, a log line and a message: breaches to the operators (kept while
/// this instance follows), low-balance crossings after the start to the customer's seller.
fn report(app: &SharedState, findings: Vec<Finding>, start: u64, pending: &mut std::collections::VecDeque<String>) {
    for finding in findings {
        match finding {
            Finding::Breached(Breach { watched, position, books, detail }) => {
                let invariant = watched.invariant();
                app.metrics.count_breach(invariant);
                let books: Vec<String> = books.iter().map(ToString::to_string).collect();
                tracing::error!(invariant, position, books = %books.join(","), %detail, "invariant breach");
                pending.push_back(format!("KBOSS invariant breach: {invariant} at position {position}: {detail}"));
                if pending.len() > ALERTS_PENDING_MAX {
                    pending.pop_front();
                    tracing::warn!("invariant monitors: too many alerts waiting for a leader; the oldest dropped");
                }
            }
            Finding::Healed { watched, position } => {
                tracing::info!(invariant = watched.invariant(), position, what = ?described(&watched), "invariant holds again");
            }
            Finding::LowBalance { customer, book, balance, threshold, position } => {
                if position <= start || !app.writer.is_leader() {
                    continue;
                }
                app.metrics.count_low_balance_notice();
                let content = format!(
                    "KBOSS low balance: customer {customer}'s wallet is {balance}, below its threshold {threshold} \
                     (position {position})"
                );
                tracing::info!(%customer, %book, %balance, %threshold, position, "low-balance notice");
                app.notifier.low_balance(book, &content);
            }
        }
    }
}

fn described(watched: &Watched) -> String {
    format!("{watched:?}")
}
