//! The sequencer (DESIGN §4): one writer thread owns the decision state. Commands arrive over a
//! bounded channel; the writer drains up to a batch, decides each against the state as changed by
//! the ones before it, and hands the batch to the sealer thread, which seals its events onto the
//! hash chain, then to the appender thread, which appends it in one store transaction and only
//! then answers every caller. The three threads form a pipeline: batch N+2 is decided while
//! batch N+1 is sealed and batch N written. A failed append answers its batch, and every batch
//! decided after it, with an error, and the writer rebuilds the state from the store, so nothing
//! half-applied survives. A command whose decision panics is answered alone (see `decide_one`),
//! and so is one whose event would be a record past `EVENT_BYTES_MAX`: refused when it is staged,
//! as a business refusal, so that a deterministic refusal never fails a batch's append.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use ledger_core::event::{EncodedEvent, EnvelopeMeta};
use ledger_core::log::ChainHead;
use ledger_core::{Command, DomainError, ErrorClass, RecordedEvent, State};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use uuid::Uuid;

use event_log::replay::{encode_snapshot, load_state_and_chain, LoadError};
use event_log::{IdempotencyRecord, LogAppend, LogRead, StoreError};

/// Commands one batch may hold; the writer drains at most this many before appending.
pub const BATCH_COMMANDS_MAX: usize = 4_096;
/// The most commands waiting for the writer; beyond it callers are told to come back later.
pub const CHANNEL_CAPACITY_MAX: usize = 1 << 20;
/// The longest idempotency key accepted.
pub const IDEMPOTENCY_KEY_LENGTH_MAX: usize = 255;

#[derive(Clone)]
pub struct WriterConfig {
    /// Commands per batch (one store transaction), 1..=BATCH_COMMANDS_MAX.
    pub batch_commands_max: usize,
    /// Commands that may wait in the channel, 1..=CHANNEL_CAPACITY_MAX.
    pub channel_capacity: usize,
    /// A snapshot is written once this many events have been appended since the last one.
    pub snapshot_every_events: u64,
    /// Told of every batch the appender makes durable (the gateway's `/metrics`); none by default.
    pub batch_observer: Option<Arc<dyn BatchObserver>>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_commands_max: 1_024,
            channel_capacity: 16_384,
            snapshot_every_events: 100_000,
            batch_observer: None,
        }
    }
}

impl std::fmt::Debug for WriterConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WriterConfig")
            .field("batch_commands_max", &self.batch_commands_max)
            .field("channel_capacity", &self.channel_capacity)
            .field("snapshot_every_events", &self.snapshot_every_events)
            .field("batch_observer", &self.batch_observer.is_some())
            .finish()
    }
}

/// What the appender reports of each batch it makes durable: the seam `/metrics` hangs its
/// histograms on, so this crate knows of no metrics library. Called on the appender thread once
/// per batch, before the batch's callers are answered (a caller that has its answer finds its
/// batch counted); it must be cheap (a few atomic adds) and must not block, or it delays the
/// answers and the next batch's commit.
pub trait BatchObserver: Send + Sync {
    fn batch_appended(&self, batch: &AppendedBatch);
}

/// One durable batch, as a [`BatchObserver`] is told of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendedBatch {
    /// The commands the batch answered: appended, refused, replayed alike.
    pub commands: usize,
    /// The events it appended.
    pub events: usize,
    /// How long the store took to append the batch's events and idempotency keys and commit
    /// them: the durable part (SQLite's fsync, PostgreSQL's commit). `None` when the batch
    /// wrote nothing (every command refused or replayed).
    pub append: Option<Duration>,
}

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for IdempotencyKey {
    type Error = String;
    fn try_from(text: &str) -> Result<Self, String> {
        let valid = !text.is_empty()
            && text.len() <= IDEMPOTENCY_KEY_LENGTH_MAX
            && text.bytes().all(|byte| byte.is_ascii_graphic());
        if valid {
            Ok(IdempotencyKey(text.to_owned()))
        } else {
            Err(format!("must be 1 to {IDEMPOTENCY_KEY_LENGTH_MAX} visible ASCII characters"))
        }
    }
}

/// A command with what the writer needs around it.
#[derive(Clone, Debug)]
pub struct Request {
    pub command: Command,
    pub idempotency_key: Option<IdempotencyKey>,
    pub correlation_id: Option<Uuid>,
}

impl Request {
    pub fn new(command: Command) -> Request {
        Request { command, idempotency_key: None, correlation_id: None }
    }

    pub fn with_key(command: Command, key: &str) -> Request {
        let key = IdempotencyKey::try_from(key).expect("a valid idempotency key");
        Request { command, idempotency_key: Some(key), correlation_id: None }
    }

    /// Keys are scoped to the acting org: two tenants never collide.
    fn scoped_key(&self) -> Option<String> {
        self.idempotency_key.as_ref().map(|key| format!("{}/{}", self.command.actor.org_id, key.as_str()))
    }

    /// What makes "the same request": the body and the acting org, not the time it was sent,
    /// nor what the gateway drew at random for it (`CommandBody::idempotency_view`: a serial
    /// batch's codes), which the retry answers from the stored event.
    fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.command.actor.org_id.0.as_bytes());
        hasher.update(serde_json::to_vec(&self.command.body.idempotency_view()).expect("commands serialise"));
        hex::encode(hasher.finalize())
    }
}

/// A committed command's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The events the command appended, in order (empty when it booked nothing new).
    pub events: Vec<RecordedEvent>,
    /// The position of its last event, or the log's last position when it appended none.
    pub position: u64,
    /// True when this is the stored answer of an earlier request with the same key.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] DomainError),
    #[error("the idempotency key was used with a different request")]
    IdempotencyConflict,
    #[error("the writer's queue is full")]
    Overloaded,
    #[error("the log is unavailable: {0}")]
    Unavailable(String),
    #[error("the writer has stopped")]
    Stopped,
    /// The decision of this command panicked: a bug, answered for this command alone (500);
    /// the writer goes on with the others.
    #[error("deciding the command failed: {0}")]
    Internal(String),
}

struct Pending {
    request: Request,
    reply: oneshot::Sender<Result<Committed, CommandError>>,
}

enum Message {
    Command(Pending),
    /// Looks at the decision state between batches (tests, `kboss verify`, start-up checks).
    Inspect(Box<dyn FnOnce(Option<&State>) + Send>),
    Shutdown,
}

/// Whether the writer can take commands now: what `/readyz` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterHealth {
    /// Deciding and appending.
    Ready,
    /// An append failed (or an `evolve` panicked) and its state could not be reloaded yet:
    /// commands are answered 503 until it is.
    Recovering,
    /// The writer thread has ended: nothing will be written until a restart.
    Stopped,
    /// Another writer took the lease over: this one appends nothing more, ever (commands are
    /// answered 503); whoever runs it stops it and follows the new leader.
    Fenced,
}

const HEALTH_READY: u8 = 0;
const HEALTH_RECOVERING: u8 = 1;
const HEALTH_FENCED: u8 = 2;

/// Sets the writer's health, unless it is fenced: that is for good.
fn set_health(health: &std::sync::atomic::AtomicU8, value: u8) {
    use std::sync::atomic::Ordering::Relaxed;
    let _ = health.fetch_update(Relaxed, Relaxed, |current| (current != HEALTH_FENCED).then_some(value));
}

/// Marks the writer fenced when `error` says its lease was taken over.
fn note_fencing(health: &std::sync::atomic::AtomicU8, error: &StoreError) {
    if matches!(error, StoreError::Fenced { .. }) {
        health.store(HEALTH_FENCED, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The caller's side: cheap to clone, one per request handler.
#[derive(Clone)]
pub struct WriterHandle {
    sender: mpsc::Sender<Message>,
    committed: watch::Receiver<u64>,
    /// Weak, so the feed closes when the appender stops, however many handles remain.
    feed: broadcast::WeakSender<CommittedBatch>,
    health: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

impl WriterHandle {
    /// Submits a command and waits for its answer. A full queue answers `Overloaded` at once.
    pub async fn submit(&self, request: Request) -> Result<Committed, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.sender.try_send(Message::Command(Pending { request, reply })).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => CommandError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => CommandError::Stopped,
        })?;
        answer.await.map_err(|_| CommandError::Stopped)?
    }

    /// Commands waiting in the queue (a gauge for `/metrics`, and for tests of backpressure).
    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// The last position committed, and a way to wait for the next: projections wake on it.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    /// Every batch's events once durable, in position order, as the writer has them in memory:
    /// the embedded read-model runner applies them without reading the log back. A receiver
    /// that falls more than [`FEED_BATCHES_MAX`] batches behind is told it lagged (and reads
    /// the log); the channel closes when the writer stops.
    pub fn feed(&self) -> broadcast::Receiver<CommittedBatch> {
        match self.feed.upgrade() {
            Some(feed) => feed.subscribe(),
            // The writer has stopped: a receiver of a closed channel, which says so at once.
            None => broadcast::channel(1).1,
        }
    }

    /// Whether the writer is deciding, recovering, or gone.
    pub fn health(&self) -> WriterHealth {
        if self.sender.is_closed() {
            return WriterHealth::Stopped;
        }
        match self.health.load(std::sync::atomic::Ordering::Relaxed) {
            HEALTH_READY => WriterHealth::Ready,
            HEALTH_FENCED => WriterHealth::Fenced,
            _ => WriterHealth::Recovering,
        }
    }

    /// A copy of the writer's decision state, taken between batches.
    pub async fn state(&self) -> Option<State> {
        self.inspect(State::clone).await
    }

    /// What `look` reads of the writer's decision state, taken between batches, without copying
    /// the state. `None` when the writer has stopped or holds no state.
    pub async fn inspect<R: Send + 'static>(&self, look: impl FnOnce(&State) -> R + Send + 'static) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        let look = Box::new(move |state: Option<&State>| {
            let _ = reply.send(state.map(look));
        });
        self.sender.send(Message::Inspect(look)).await.ok()?;
        answer.await.ok().flatten()
    }
}

/// How the writer decides a command: [`ledger_core::decide`], unless a caller (a fault test)
/// wraps it.
pub type DecideFn = fn(&State, &Command) -> Result<Vec<ledger_core::Event>, DomainError>;

/// The running writer: its handle and its thread.
pub struct Writer {
    handle: WriterHandle,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Loads the state (snapshot, then the tail of the log) and starts the writer thread.
    /// The state is loaded on the writer thread, which owns the store from the start: a
    /// blocking client (PostgreSQL's) must never run on an async runtime's threads. The call
    /// waits for the load, so it returns a writer that is ready, or the reason it is not.
    pub fn start<S: LogAppend>(store: S, config: WriterConfig) -> Result<Writer, LoadError> {
        Writer::start_deciding_with(store, config, ledger_core::decide)
    }

    /// [`Writer::start`] with another decision function: the seam fault tests use to show that
    /// a panicking decision or `evolve` stops neither the writer nor the other commands.
    pub fn start_deciding_with<S: LogAppend>(
        store: S,
        config: WriterConfig,
        decide: DecideFn,
    ) -> Result<Writer, LoadError> {
        assert!((1..=BATCH_COMMANDS_MAX).contains(&config.batch_commands_max), "batch_commands_max out of range");
        assert!((1..=CHANNEL_CAPACITY_MAX).contains(&config.channel_capacity), "channel_capacity out of range");
        assert!(config.snapshot_every_events > 0, "snapshot_every_events must be positive");
        let (sender, receiver) = mpsc::channel(config.channel_capacity);
        let (committed_sender, committed) = watch::channel(0);
        let (appender_feed, _) = broadcast::channel(FEED_BATCHES_MAX);
        let feed = appender_feed.downgrade();
        let (loaded, load_result) = std::sync::mpsc::sync_channel(1);
        let health = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(HEALTH_READY));
        let loop_health = health.clone();
        let health_of_appender = health.clone();
        let thread = std::thread::Builder::new()
            .name("kboss-writer".to_owned())
            .spawn(move || {
                let prepared = store.reopen().map_err(LoadError::from).and_then(|mut reader| {
                    let (state, chain) = load_state_and_chain(&mut reader)?;
                    Ok((reader, state, chain))
                });
                let (reader, state, chain) = match prepared {
                    Ok(prepared) => prepared,
                    Err(error) => {
                        let _ = loaded.send(Err(error));
                        return;
                    }
                };
                committed_sender.send_replace(state.last_position);
                let (to_sealer, staged) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT_MAX);
                let (to_appender, sealed) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT_MAX);
                let (reports, from_appender) = std::sync::mpsc::channel();
                let committed_chain = std::sync::Arc::new(std::sync::Mutex::new(chain.clone()));
                let sealer = Sealer { chain, epoch: 0, committed: committed_chain.clone() };
                let sealer_thread = std::thread::Builder::new()
                    .name("kboss-sealer".to_owned())
                    .spawn(move || sealer.run(staged, to_appender))
                    .expect("the sealer thread starts");
                let appender = Appender {
                    store,
                    feed: appender_feed,
                    chain: committed_chain.clone(),
                    committed: committed_sender,
                    reports,
                    refused_through_epoch: None,
                    observer: config.batch_observer.clone(),
                    health: health_of_appender,
                };
                let appender_thread = std::thread::Builder::new()
                    .name("kboss-appender".to_owned())
                    .spawn(move || appender.run(sealed))
                    .expect("the appender thread starts");
                let _ = loaded.send(Ok(()));
                let writer_loop = WriterLoop {
                    reader,
                    chain: committed_chain,
                    last_snapshot: state.last_position,
                    state: Some(state),
                    config,
                    receiver,
                    to_appender: to_sealer,
                    from_appender,
                    in_flight: HashMap::new(),
                    in_flight_by_batch: HashMap::new(),
                    epoch: 0,
                    loaded_under: 1,
                    loaded_with_reconnections: 0,
                    next_batch: 0,
                    health: loop_health,
                    decide,
                };
                writer_loop.run();
                // `run` has dropped the sender: the sealer, then the appender, finish and stop.
                let _ = sealer_thread.join();
                let _ = appender_thread.join();
            })
            .expect("the writer thread starts");
        match load_result.recv() {
            Ok(Ok(())) => Ok(Writer { handle: WriterHandle { sender, committed, feed, health }, thread: Some(thread) }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(LoadError::Store(StoreError::Unavailable("the writer thread died while loading".to_owned())))
            }
        }
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Stops taking commands, finishes the ones already queued, and waits for the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // A full queue is drained by the writer, so this blocking send makes progress. It runs
            // on a thread of its own: shutdown is often called from inside an async runtime.
            let sender = self.handle.sender.clone();
            let _ = std::thread::spawn(move || sender.blocking_send(Message::Shutdown)).join();
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A decided batch: the events to append, the keys to record, and how to answer each command.
type DecidedBatch = (Vec<RecordedEvent>, Vec<IdempotencyRecord>, Vec<Outcome>);

/// How each command of a batch is to be answered once the batch is durable.
enum Outcome {
    /// Appended in this batch: `events[range]` of the batch.
    Appended {
        range: std::ops::Range<usize>,
        position: u64,
    },
    /// Booked nothing new (an already-booked notification, the same statement again).
    Nothing {
        position: u64,
    },
    /// An earlier request with the same key committed these positions.
    Replay {
        first: u64,
        last: u64,
    },
    Failed(CommandError),
    /// `evolve` panicked on this command's events: answered as an internal error; the state is
    /// reloaded from the log before anything else is decided.
    Poisoned(CommandError),
}

/// The decider's side of the pipeline: owns the state, decides batch N+1 while the appender
/// commits batch N. Reads (key lookups, reloads) go through its own connection.
struct WriterLoop<R> {
    reader: R,
    /// The chain head the sealer restarts from in a new epoch. A reload sets it from the log
    /// itself: after a lost lock another writer may have appended, so the appender's memory of
    /// what it committed is no longer the log's head.
    chain: std::sync::Arc<std::sync::Mutex<ChainHead>>,
    /// `None` after a failed append whose state could not be rebuilt yet.
    state: Option<State>,
    config: WriterConfig,
    receiver: mpsc::Receiver<Message>,
    to_appender: std::sync::mpsc::SyncSender<ToAppender>,
    from_appender: std::sync::mpsc::Receiver<AppendReport>,
    /// Keys of batches handed to the appender and not yet reported committed.
    in_flight: HashMap<String, IdempotencyRecord>,
    in_flight_by_batch: HashMap<u64, Vec<String>>,
    /// Incremented after every failed append: batches decided before it are refused unwritten.
    epoch: u64,
    /// The store's lock generation when the state was last loaded (1: opened with the lock). A
    /// batch decided on a state loaded before the store lost and won back its lock is refused
    /// unwritten, and the state reloaded.
    loaded_under: u64,
    /// The reader's reconnections when the state was last loaded (see `LogRead::reconnections`).
    loaded_with_reconnections: u64,
    next_batch: u64,
    last_snapshot: u64,
    /// Shared with the handles: set to recovering while `state` is `None`.
    health: std::sync::Arc<std::sync::atomic::AtomicU8>,
    decide: DecideFn,
}

/// A decided batch on its way to the store.
struct AppendBatch {
    epoch: u64,
    /// The lock generation the state it was decided on was loaded under.
    lock_generation: u64,
    sequence: u64,
    batch: Vec<Pending>,
    /// Staged by the writer; the sealer moves them, sealed onto the chain, into `sealed`.
    events: Vec<RecordedEvent>,
    sealed: Vec<EncodedEvent>,
    keys: Vec<IdempotencyRecord>,
    outcomes: Vec<Outcome>,
    /// The state at the batch's last position, saved once the batch is durable.
    snapshot: Option<(u64, Vec<u8>)>,
}

enum ToAppender {
    Batch(AppendBatch),
    /// Makes sure the store holds the writer's lock (winning it back if its session was lost,
    /// confirming and renewing its lease) and answers its lock generation: a reload waits for it,
    /// so the state is read only while no other writer can append.
    HoldLock(std::sync::mpsc::SyncSender<Result<u64, StoreError>>),
    /// Answered once every batch sent before it is committed or refused.
    Barrier(std::sync::mpsc::SyncSender<()>),
}

enum AppendReport {
    Committed { sequence: u64 },
    Failed { epoch: u64 },
}

/// A durable batch's events, shared by every receiver of [`WriterHandle::feed`].
pub type CommittedBatch = std::sync::Arc<[RecordedEvent]>;

/// Batches a [`WriterHandle::feed`] receiver may fall behind before it is told it lagged.
pub const FEED_BATCHES_MAX: usize = 256;

/// Depth of the pipeline: decided batches waiting for the appender. Two keep the appender busy
/// while bounding how much work a failed append throws away.
const BATCHES_IN_FLIGHT_MAX: usize = 2;

impl<R: LogRead> WriterLoop<R> {
    fn run(mut self) {
        let mut batch: Vec<Pending> = Vec::with_capacity(self.config.batch_commands_max);
        let mut stopping = false;
        while !stopping {
            let Some(message) = self.receiver.blocking_recv() else { break };
            stopping = self.take(message, &mut batch);
            while !stopping && batch.len() < self.config.batch_commands_max {
                match self.receiver.try_recv() {
                    Ok(message) => stopping = self.take(message, &mut batch),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.process(std::mem::take(&mut batch));
            }
        }
        // Commands that raced the shutdown are answered, not dropped silently.
        self.receiver.close();
        while let Ok(message) = self.receiver.try_recv() {
            if let Message::Command(pending) = message {
                let _ = pending.reply.send(Err(CommandError::Stopped));
            }
        }
        self.drain_appender();
    }

    /// Returns true when the message asks the writer to stop.
    fn take(&mut self, message: Message, batch: &mut Vec<Pending>) -> bool {
        match message {
            Message::Command(pending) => batch.push(pending),
            Message::Inspect(look) => {
                if !batch.is_empty() {
                    self.process(std::mem::take(batch));
                }
                self.drain_appender();
                look(self.state.as_ref());
            }
            Message::Shutdown => return true,
        }
        false
    }

    /// Waits until the appender has finished every batch sent so far, then takes its reports.
    fn drain_appender(&mut self) {
        let (done, finished) = std::sync::mpsc::sync_channel(1);
        if self.to_appender.send(ToAppender::Barrier(done)).is_ok() {
            let _ = finished.recv();
        }
        self.take_reports();
    }

    /// Applies what the appender reported: committed batches release their keys; a failure
    /// starts a new epoch and reloads the state from the log.
    fn take_reports(&mut self) {
        let mut failed = false;
        while let Ok(report) = self.from_appender.try_recv() {
            match report {
                AppendReport::Committed { sequence } => {
                    for key in self.in_flight_by_batch.remove(&sequence).unwrap_or_default() {
                        self.in_flight.remove(&key);
                    }
                }
                AppendReport::Failed { epoch } => failed |= epoch == self.epoch,
            }
        }
        if failed {
            // Every batch after the failed one was decided on its state and is refused unwritten
            // by the appender; the log holds exactly the batches before it.
            self.epoch += 1;
            self.in_flight.clear();
            self.in_flight_by_batch.clear();
            self.reload();
        }
    }

    fn reload(&mut self) {
        match self.hold_lock() {
            // If the lock is lost and won back during the load, the batches decided on it carry
            // the older number and are refused.
            Ok(generation) => self.loaded_under = generation,
            Err(error) => {
                tracing::warn!(%error, "the writer does not hold its lock; will retry before the next batch");
                self.state = None;
                set_health(&self.health, HEALTH_RECOVERING);
                note_fencing(&self.health, &error);
                return;
            }
        }
        self.state = match load_state_and_chain(&mut self.reader) {
            Ok((state, chain)) => {
                self.loaded_with_reconnections = self.reader.reconnections();
                *self.chain.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = chain;
                Some(state)
            }
            Err(error) => {
                tracing::error!(%error, "cannot rebuild the state yet; will retry before the next batch");
                None
            }
        };
        set_health(&self.health, if self.state.is_some() { HEALTH_READY } else { HEALTH_RECOVERING });
    }

    /// Asks the appender (after every batch sent before) to make sure the store holds the
    /// writer's lock, and answers its generation.
    fn hold_lock(&mut self) -> Result<u64, StoreError> {
        let (reply, held) = std::sync::mpsc::sync_channel(1);
        let gone = || StoreError::Unavailable("the appender has stopped".to_owned());
        self.to_appender.send(ToAppender::HoldLock(reply)).map_err(|_| gone())?;
        held.recv().map_err(|_| gone())?
    }

    /// Decides every command of the batch in order, against the state as the batch changes it.
    fn decide_batch(&mut self, batch: &[Pending]) -> Result<DecidedBatch, StoreError> {
        let scoped_keys: Vec<Option<String>> = batch.iter().map(|pending| pending.request.scoped_key()).collect();
        let lookup: Vec<&str> = scoped_keys.iter().flatten().map(String::as_str).collect();
        let mut committed = self.reader.find_keys(&lookup)?;
        if self.reader.reconnections() != self.loaded_with_reconnections {
            // The reader's session was lost and made again: the log may have moved on (another
            // writer elected meanwhile). Nothing is decided, not even a refusal, until the state
            // is reloaded under the lease; a new epoch restarts the sealer from the reloaded head.
            self.epoch += 1;
            self.state = None;
            set_health(&self.health, HEALTH_RECOVERING);
            return Err(StoreError::Unavailable(
                "the writer lost its connection; it reloads its state first".to_owned(),
            ));
        }
        for key in &lookup {
            if let Some(record) = self.in_flight.get(*key) {
                committed.insert((*key).to_owned(), record.clone());
            }
        }
        let Some(state) = self.state.as_mut() else {
            return Err(StoreError::Unavailable("the writer is recovering".to_owned()));
        };
        let recorded_at = Utc::now();
        let (mut events, mut records, mut in_batch) = (Vec::new(), Vec::new(), HashMap::new());
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut poisoned = false;
        for (pending, scoped_key) in batch.iter().zip(scoped_keys) {
            let mut keys = BatchKeys { committed: &committed, in_batch: &mut in_batch, records: &mut records };
            let outcome =
                decide_one(self.decide, state, &pending.request, scoped_key, recorded_at, &mut events, &mut keys);
            poisoned = matches!(outcome, Outcome::Poisoned(_));
            outcomes.push(outcome);
            if poisoned {
                break;
            }
        }
        if poisoned {
            // `evolve` panicked half-way through: the state is no longer the log's. The commands
            // decided before are sound and go to the appender; the rest wait for a reload.
            self.state = None;
            set_health(&self.health, HEALTH_RECOVERING);
        }
        Ok((events, records, outcomes))
    }

    fn process(&mut self, mut batch: Vec<Pending>) {
        self.take_reports();
        if self.state.is_none() {
            self.drain_appender();
            self.reload();
            if self.state.is_none() {
                for pending in batch {
                    let _ = pending.reply.send(Err(CommandError::Unavailable("the writer is recovering".to_owned())));
                }
                return;
            }
        }
        let (events, keys, outcomes) = match self.decide_batch(&batch) {
            Ok(decided) => decided,
            Err(error) => {
                // Nothing was decided against the state yet: it is still the log's.
                for pending in batch {
                    let _ = pending.reply.send(Err(CommandError::Unavailable(error.to_string())));
                }
                return;
            }
        };
        // Commands after one whose `evolve` panicked are decided again once the state is reloaded.
        let undecided = batch.split_off(outcomes.len());
        let sequence = self.next_batch;
        self.next_batch += 1;
        let batch_keys: Vec<String> = keys.iter().map(|key| key.scoped_key.clone()).collect();
        for key in &keys {
            self.in_flight.insert(key.scoped_key.clone(), key.clone());
        }
        self.in_flight_by_batch.insert(sequence, batch_keys);
        let snapshot = self.snapshot_due();
        let append = AppendBatch {
            epoch: self.epoch,
            lock_generation: self.loaded_under,
            sequence,
            batch,
            events,
            sealed: Vec::new(),
            keys,
            outcomes,
            snapshot,
        };
        if let Err(std::sync::mpsc::SendError(ToAppender::Batch(append))) =
            self.to_appender.send(ToAppender::Batch(append))
        {
            for pending in append.batch {
                let _ = pending.reply.send(Err(CommandError::Stopped));
            }
        }
        if self.state.is_none() {
            // Poisoned by a panicking `evolve`: once what was decided before it is durable, the
            // state is the log's again.
            self.drain_appender();
            self.reload();
        }
        if !undecided.is_empty() {
            self.process(undecided);
        }
    }

    fn snapshot_due(&mut self) -> Option<(u64, Vec<u8>)> {
        let state = self.state.as_ref()?;
        if state.last_position - self.last_snapshot < self.config.snapshot_every_events {
            return None;
        }
        self.last_snapshot = state.last_position;
        Some((state.last_position, encode_snapshot(state)))
    }
}

/// The middle stage: seals staged events onto the hash chain (canonical encoding, SHA-256), so
/// batch N+1 is sealed while batch N is being committed.
struct Sealer {
    /// The head batches are sealed onto; after a failed append it restarts from `committed`.
    chain: ChainHead,
    epoch: u64,
    committed: std::sync::Arc<std::sync::Mutex<ChainHead>>,
}

impl Sealer {
    fn run(mut self, staged: std::sync::mpsc::Receiver<ToAppender>, sealed: std::sync::mpsc::SyncSender<ToAppender>) {
        for message in staged {
            let message = match message {
                ToAppender::Batch(mut batch) => {
                    if batch.epoch != self.epoch {
                        // A new epoch starts after a failed append: what was sealed since is void.
                        self.epoch = batch.epoch;
                        self.chain = self.committed.lock().expect("chain lock").clone();
                    }
                    batch.sealed = batch.events.drain(..).map(|event| self.chain.seal(event)).collect();
                    ToAppender::Batch(batch)
                }
                barrier => barrier,
            };
            if sealed.send(message).is_err() {
                return;
            }
        }
    }
}

/// The store's side of the pipeline: appends decided batches in order and answers their callers
/// once each is durable.
struct Appender<S> {
    store: S,
    feed: broadcast::Sender<CommittedBatch>,
    /// The chain as committed, for the sealer to restart from after a failure.
    chain: std::sync::Arc<std::sync::Mutex<ChainHead>>,
    committed: watch::Sender<u64>,
    reports: std::sync::mpsc::Sender<AppendReport>,
    /// Batches of this epoch or older are refused unwritten: they were decided on a state that
    /// includes a batch that failed.
    refused_through_epoch: Option<u64>,
    observer: Option<Arc<dyn BatchObserver>>,
    /// Shared with the handles: set to fenced when the store says the lease was taken over.
    health: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

impl<S: LogAppend> Appender<S> {
    fn run(mut self, batches: std::sync::mpsc::Receiver<ToAppender>) {
        use std::sync::mpsc::RecvTimeoutError;
        // A store with a lease is renewed while idle (every append renews it too).
        let renew_every = self.store.lease_renewal_interval();
        loop {
            let message = match renew_every {
                Some(interval) => match batches.recv_timeout(interval) {
                    Ok(message) => message,
                    Err(RecvTimeoutError::Timeout) => {
                        self.renew_lease();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match batches.recv() {
                    Ok(message) => message,
                    Err(_) => return,
                },
            };
            match message {
                ToAppender::Batch(batch) => self.append(batch),
                ToAppender::Barrier(done) => {
                    let _ = done.send(());
                }
                ToAppender::HoldLock(reply) => {
                    // Asked before a reload: the lease is confirmed with the store (and renewed),
                    // not only the connection looked at.
                    let held = self.store.renew_lease().and_then(|()| self.store.hold_lock());
                    if let Err(error) = &held {
                        note_fencing(&self.health, error);
                    }
                    let _ = reply.send(held);
                }
            }
        }
    }

    fn renew_lease(&mut self) {
        if let Err(error) = self.store.renew_lease() {
            note_fencing(&self.health, &error);
            if !matches!(error, StoreError::Fenced { .. }) {
                tracing::warn!(%error, "the writer's lease was not renewed; it is tried again");
            }
        }
    }

    fn append(&mut self, decided: AppendBatch) {
        let AppendBatch { epoch, lock_generation, sequence, batch, sealed: events, keys, outcomes, snapshot, .. } =
            decided;
        if self.refused_through_epoch.is_some_and(|refused| epoch <= refused) {
            for pending in batch {
                let _ =
                    pending.reply.send(Err(CommandError::Unavailable("an earlier batch failed to append".to_owned())));
            }
            return;
        }
        let mut append_time = None;
        if !events.is_empty() || !keys.is_empty() {
            let appended = self.store.hold_lock().and_then(|held| {
                if held != lock_generation {
                    return Err(StoreError::Unavailable(
                        "the writer won its lock back; its state is reloaded from the log first".to_owned(),
                    ));
                }
                let started = Instant::now();
                let appended = self.store.append(&events, &keys);
                append_time = Some(started.elapsed());
                appended
            });
            if let Err(error) = appended {
                note_fencing(&self.health, &error);
                tracing::error!(%error, commands = batch.len(), "append failed; the writer rebuilds its state from the log");
                self.refused_through_epoch = Some(epoch);
                let _ = self.reports.send(AppendReport::Failed { epoch });
                for pending in batch {
                    let _ = pending.reply.send(Err(CommandError::Unavailable(error.to_string())));
                }
                return;
            }
        }
        if let Some(last) = events.last() {
            *self.chain.lock().expect("chain lock") = ChainHead::after(&last.event);
            if self.feed.receiver_count() > 0 {
                let _ = self.feed.send(events.iter().map(|encoded| encoded.event.clone()).collect());
            }
            self.committed.send_replace(last.event.position);
        }
        let _ = self.reports.send(AppendReport::Committed { sequence });
        if let Some(observer) = &self.observer {
            let appended = AppendedBatch { commands: batch.len(), events: events.len(), append: append_time };
            observer.batch_appended(&appended);
        }
        self.answer(batch, events, outcomes);
        if let Some((position, bytes)) = snapshot {
            if let Err(error) = self.store.save_snapshot(position, &bytes) {
                tracing::warn!(%error, "snapshot not saved; the log is still complete");
            }
        }
    }

    fn answer(&mut self, batch: Vec<Pending>, events: Vec<EncodedEvent>, outcomes: Vec<Outcome>) {
        // The batch's events, moved (not cloned) into the answers: each command's range follows
        // the previous one's.
        let mut appended = events.into_iter().map(|encoded| encoded.event);
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            let answer = match outcome {
                Outcome::Appended { range, position } => {
                    let events: Vec<RecordedEvent> = appended.by_ref().take(range.len()).collect();
                    debug_assert_eq!(events.last().map(|event| event.position), Some(position));
                    Ok(Committed { events, position, replayed: false })
                }
                Outcome::Nothing { position } => Ok(Committed { events: Vec::new(), position, replayed: false }),
                Outcome::Replay { first, last } => self.stored_answer(first, last),
                Outcome::Failed(error) | Outcome::Poisoned(error) => Err(error),
            };
            let _ = pending.reply.send(answer);
        }
    }

    /// The answer of an earlier request with the same key, read back from the log.
    fn stored_answer(&mut self, first: u64, last: u64) -> Result<Committed, CommandError> {
        if first == 0 {
            return Ok(Committed { events: Vec::new(), position: last, replayed: true });
        }
        let events = self
            .store
            .read_after(first - 1, (last - first + 1) as usize)
            .map_err(|error| CommandError::Unavailable(error.to_string()))?;
        Ok(Committed { events, position: last, replayed: true })
    }
}

/// The idempotency keys a batch can collide with: committed before it, or earlier in it.
struct BatchKeys<'a> {
    committed: &'a HashMap<String, IdempotencyRecord>,
    in_batch: &'a mut HashMap<String, usize>,
    records: &'a mut Vec<IdempotencyRecord>,
}

impl BatchKeys<'_> {
    fn earlier(&self, scoped_key: &str) -> Option<&IdempotencyRecord> {
        match self.in_batch.get(scoped_key) {
            Some(index) => Some(&self.records[*index]),
            None => self.committed.get(scoped_key),
        }
    }
}

/// Logs a panic caught while handling `request` (with its request id) and says what it was.
fn panicked(stage: &str, request: &Request, panic: Box<dyn std::any::Any + Send>) -> String {
    let reason = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(
        stage,
        %reason,
        request_id = ?request.correlation_id,
        actor = %request.command.actor.org_id,
        "a command panicked; answered as an internal error, the writer goes on"
    );
    format!("{stage} panicked: {reason}")
}

/// The refusal a request with a known idempotency key gets instead of the stored answer: the
/// command decided against the current state, refused for the actor's rights (403, or 404 for
/// what it may not see). Deciders judge rights before anything the command itself changed
/// (`ledger_core::decide`), so the request that stored the answer, or a colleague with its
/// rights, is never refused here; any other refusal (the order is already paid, the id exists)
/// is the stored answer's business, not this caller's.
fn refused_for_rights(decide: DecideFn, state: &State, request: &Request) -> Option<CommandError> {
    match catch_unwind(AssertUnwindSafe(|| decide(state, &request.command))) {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => matches!(error.class(), ErrorClass::Forbidden | ErrorClass::NotFound)
            .then_some(CommandError::Rejected(error)),
        Err(panic) => Some(CommandError::Internal(panicked("decide", request, panic))),
    }
}

/// Decides one command of a batch against the state as the batch has changed it so far.
fn decide_one(
    decide: DecideFn,
    state: &mut State,
    request: &Request,
    scoped_key: Option<String>,
    recorded_at: chrono::DateTime<Utc>,
    events: &mut Vec<RecordedEvent>,
    keys: &mut BatchKeys<'_>,
) -> Outcome {
    let fingerprint = scoped_key.as_ref().map(|_| request.fingerprint());
    if let (Some(scoped_key), Some(fingerprint)) = (&scoped_key, &fingerprint) {
        if let Some(earlier) = keys.earlier(scoped_key) {
            // A known key answers the stored result only to a caller who may issue the command
            // now: anyone else gets the refusal a fresh request would get.
            if let Some(refusal) = refused_for_rights(decide, state, request) {
                return Outcome::Failed(refusal);
            }
            if earlier.request_hash != *fingerprint {
                return Outcome::Failed(CommandError::IdempotencyConflict);
            }
            return Outcome::Replay { first: earlier.first_position, last: earlier.last_position };
        }
    }
    // A decision reads the state and never changes it: a panic there is this command's alone.
    let decided = match catch_unwind(AssertUnwindSafe(|| decide(state, &request.command))) {
        Ok(Ok(decided)) => decided,
        Ok(Err(error)) => return Outcome::Failed(CommandError::Rejected(error)),
        Err(panic) => return Outcome::Failed(CommandError::Internal(panicked("decide", request, panic))),
    };
    let start = events.len();
    let command = &request.command;
    let staged = catch_unwind(AssertUnwindSafe(|| {
        ledger_core::log::stage(state, decided, |position| EnvelopeMeta {
            position,
            event_id: Uuid::now_v7(),
            recorded_at,
            effective_date: command.effective_date,
            actor: command.actor.clone(),
            idempotency_key: request.idempotency_key.as_ref().map(|key| key.as_str().to_owned()),
            correlation_id: request.correlation_id,
        })
    }));
    let staged = match staged {
        Ok(Ok(staged)) => staged,
        // Refused before anything was folded in (a record over the log's limit): this command
        // alone, like any business refusal; the rest of the batch goes on and nothing reloads.
        Ok(Err(error)) => return Outcome::Failed(CommandError::Rejected(error)),
        Err(panic) => return Outcome::Poisoned(CommandError::Internal(panicked("evolve", request, panic))),
    };
    events.extend(staged);
    let (first, last) = match (events[start..].first(), events[start..].last()) {
        (Some(first), Some(last)) => (first.position, last.position),
        _ => (0, state.last_position),
    };
    if let (Some(scoped_key), Some(fingerprint)) = (scoped_key, fingerprint) {
        keys.in_batch.insert(scoped_key.clone(), keys.records.len());
        keys.records.push(IdempotencyRecord {
            scoped_key,
            request_hash: fingerprint,
            first_position: first,
            last_position: last,
        });
    }
    if first == 0 {
        Outcome::Nothing { position: last }
    } else {
        Outcome::Appended { range: start..events.len(), position: last }
    }
}
