//! Server mode's leadership (issue 16): who writes, decided while serving, not once at start.
//!
//! - **The lease watcher** ([`watch_lease`]) reads the writer's lease every [`LEASE_POLL`] and
//!   keeps [`WriteSide::lease`] current: the leader named in a 503, the URL writes are forwarded
//!   to, `/readyz`'s "is there a writer anywhere".
//! - **The campaign** ([`Leadership::start`], roles `all` and `writer`): while another instance
//!   holds a live lease, nothing; once the lease is not live (its holder's session ended, or it
//!   has not renewed within its TTL), this instance tries for it every [`CAMPAIGN_INTERVAL`]. On
//!   winning, it loads the state (snapshot plus the log's tail), starts its writer and leads.
//! - **Stepping down**: a leader whose writer is fenced (another instance took the lease) stops
//!   it and follows at once; the campaign goes on.
//! - **The relay** ([`RelaySlot`]) runs where it must: on the leader, and on any instance while
//!   no live lease exists (a dead leader's committed events still reach the stream).
//!
//! Every instance also polls the log's last position ([`crate::app::FOLLOWER_POLL_INTERVAL`]),
//! so that its read models read a gap from the log at once, whoever wrote it.

use std::sync::Arc;
use std::time::Duration;

use commands::{Writer, WriterConfig, WriterHealth};
use event_log::postgres::LeaseTerms;
use event_log::{AnyReader, AsyncLog, PostgresStore, RelayConfig, StoreError, TaskReports};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::WriteSide;

/// How often every instance reads the lease.
pub const LEASE_POLL: Duration = Duration::from_millis(250);
/// How often a candidate tries for a lease that is not live.
pub const CAMPAIGN_INTERVAL: Duration = Duration::from_millis(250);
/// How often a leader looks at its writer's health (a fenced writer is stopped this soon).
pub const HEALTH_POLL: Duration = Duration::from_millis(100);

/// Reads the lease into `write_side` every [`LEASE_POLL`] until `write_side` is dropped. A
/// failed read keeps the last lease (readiness fails on the log's own answer meanwhile).
pub fn watch_lease(reader: AsyncLog<AnyReader>, write_side: &Arc<WriteSide>) -> JoinHandle<()> {
    let write_side = Arc::downgrade(write_side);
    tokio::spawn(async move {
        loop {
            let read = reader.call(read_lease).await;
            let Some(write_side) = write_side.upgrade() else { return };
            match read {
                Ok(lease) => write_side.set_lease(lease),
                Err(error) => tracing::warn!(%error, "cannot read the writer's lease; reading again"),
            }
            drop(write_side);
            tokio::time::sleep(LEASE_POLL).await;
        }
    })
}

/// The writer's lease, read through a reader of the log (none in an embedded store).
pub fn read_lease(reader: &mut AnyReader) -> Result<Option<event_log::postgres::LeaseView>, StoreError> {
    match reader {
        AnyReader::Postgres(reader) => reader.lease(),
        AnyReader::Sqlite(_) => Ok(None),
    }
}

/// What a candidate needs to take the lease and lead.
pub struct Candidate {
    pub database: postgres::Config,
    pub terms: LeaseTerms,
    pub writer_config: WriterConfig,
    pub write_side: Arc<WriteSide>,
}

/// The campaign and the leadership it wins, as one task; stopped (the writer shut down) by
/// [`Leadership::stop`].
pub struct Leadership {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Leadership {
    /// Leads with `writer` if this instance already won the lease at start, then campaigns
    /// whenever it does not lead.
    pub fn start(candidate: Candidate, writer: Option<Writer>) -> Leadership {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(candidate, writer, stopped));
        Leadership { stop, task }
    }

    /// Stops campaigning; a writer this instance runs answers what it has queued and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn supervise(candidate: Candidate, mut writer: Option<Writer>, mut stop: watch::Receiver<bool>) {
    loop {
        let leading = match writer.take() {
            Some(writer) => writer,
            None => match campaign(&candidate, &mut stop).await {
                Some(writer) => writer,
                None => return,
            },
        };
        if !candidate.write_side.is_leader() {
            // (A writer won at start already leads: the bootstrap needed it.)
            candidate.write_side.lead(leading.handle());
        }
        tracing::info!(holder = %candidate.terms.holder, "this instance leads: it holds the writer's lease");
        let handle = leading.handle();
        let fenced = loop {
            tokio::select! {
                _ = stop.changed() => break false,
                _ = tokio::time::sleep(HEALTH_POLL) => {}
            }
            if matches!(handle.health(), WriterHealth::Fenced | WriterHealth::Stopped) {
                break true;
            }
        };
        candidate.write_side.follow();
        // The writer answers what it has queued (503 once fenced) and stops.
        let _ = tokio::task::spawn_blocking(move || leading.shutdown()).await;
        if !fenced {
            return;
        }
        tracing::warn!("this instance lost the writer's lease: it follows the new leader and campaigns again");
    }
}

/// Tries for the lease whenever it is not live; answers the started writer, or `None` when
/// stopped.
async fn campaign(candidate: &Candidate, stop: &mut watch::Receiver<bool>) -> Option<Writer> {
    loop {
        if *stop.borrow() {
            return None;
        }
        let live_elsewhere = candidate.write_side.lease().is_some_and(|lease| lease.live);
        if !live_elsewhere {
            if let Some(writer) = try_to_lead(candidate).await {
                return Some(writer);
            }
        }
        tokio::select! {
            _ = stop.changed() => return None,
            _ = tokio::time::sleep(CAMPAIGN_INTERVAL) => {}
        }
    }
}

async fn try_to_lead(candidate: &Candidate) -> Option<Writer> {
    let (database, terms) = (candidate.database.clone(), candidate.terms.clone());
    let config = candidate.writer_config.clone();
    // One blocking step: the store never crosses an await (a blocking client must not be dropped
    // on the runtime's threads). The state is the latest snapshot plus the log's tail, loaded on
    // the writer's own thread.
    let started = tokio::task::spawn_blocking(move || -> Result<Option<(i64, Writer)>, String> {
        let store = match PostgresStore::open_writer_with(&database, &terms) {
            Ok(store) => store,
            Err(StoreError::Locked { .. }) => return Ok(None),
            Err(error) => return Err(format!("cannot try for the writer's lease: {error}")),
        };
        let epoch = store.epoch();
        let writer = Writer::start(store, config)
            .map_err(|error| format!("won the writer's lease but cannot load the state: {error}"))?;
        Ok(Some((epoch, writer)))
    })
    .await;
    match started {
        Ok(Ok(Some((epoch, writer)))) => {
            tracing::info!(epoch, "won the writer's lease; the state is loaded");
            Some(writer)
        }
        Ok(Ok(None)) => None,
        Ok(Err(reason)) => {
            tracing::warn!(%reason, "trying again");
            None
        }
        Err(error) => {
            tracing::error!(%error, "trying for the writer's lease failed");
            None
        }
    }
}

/// The relay where it must run: on the leader, and on any instance while no live lease exists.
/// Re-evaluated every [`LEASE_POLL`]; its reports go where `/metrics` reads them.
pub struct RelaySlot {
    pub nats: async_nats::Client,
    pub config: RelayConfig,
    pub open_reader: ReaderOpener,
    pub write_side: Arc<WriteSide>,
    pub reports: Arc<std::sync::Mutex<Option<TaskReports<u64>>>>,
}

impl RelaySlot {
    /// Runs until aborted (at shutdown, with the other background tasks).
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut running: Option<event_log::RelayHandle> = None;
            loop {
                let wanted = self.write_side.is_leader() || !self.write_side.lease().is_some_and(|lease| lease.live);
                match (wanted, running.is_some()) {
                    (true, false) => match open_reader(&self.open_reader).await {
                        Ok(reader) => {
                            let relay = event_log::spawn_relay(
                                reader,
                                self.nats.clone(),
                                Some(self.write_side.committed()),
                                self.config.clone(),
                            );
                            *self.reports.lock().expect("relay reports lock") = Some(relay.reports());
                            tracing::info!(leader = self.write_side.is_leader(), "the relay runs here");
                            running = Some(relay);
                        }
                        Err(error) => tracing::warn!(%error, "cannot open the relay's reader; trying again"),
                    },
                    (false, true) => {
                        running = None;
                        *self.reports.lock().expect("relay reports lock") = None;
                        tracing::info!("another instance leads: the relay stops here");
                    }
                    _ => {}
                }
                tokio::time::sleep(LEASE_POLL).await;
            }
        })
    }
}

/// Opens another reader of this instance's log (a connection each: the runner, the relay, the
/// consumer, a follower's poll and the gateway's own reads each have one).
pub type ReaderOpener = Arc<dyn Fn() -> Result<AnyReader, StoreError> + Send + Sync>;

/// Opens a reader on the blocking pool (PostgreSQL's blocking client must not be created on the
/// runtime's threads), wrapped at once in the adapter that also drops it off them.
pub async fn open_reader(open: &ReaderOpener) -> Result<AsyncLog<AnyReader>, StoreError> {
    let open = open.clone();
    tokio::task::spawn_blocking(move || open().map(AsyncLog::new))
        .await
        .map_err(|error| StoreError::Unavailable(format!("opening a reader failed: {error}")))?
}
