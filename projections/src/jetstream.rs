//! The server-mode runner (DESIGN §6): a durable JetStream pull consumer (one ack per batch) per
//! deployment read store. It fetches batches of events published by the relay
//! (`event_log::relay`: stream sequence = log position), applies them to the read models, and
//! acks them only once applied.
//!
//! NATS is the fast path; the log is the truth:
//! - a redelivered or duplicated message is a no-op (each projection's checkpoint covers it);
//! - a gap (the first event beyond the read models' position + 1, or a message that does not
//!   decode or verify) is filled by reading the missing positions from the log;
//! - every session starts by catching up from the log, so a consumer whose acks ran ahead of the
//!   read models (a `reset`, a restored database) converges too;
//! - any error (NATS restarted, consumer deleted, read store down) ends the session: back off,
//!   reconnect, re-create the consumer, catch up, go on.
//!
//! Every message is checked before it is applied: its payload is a record (format v2, the bytes
//! the log stores) whose position is the message's stream sequence and whose `prev_hash` is the
//! hash of the event before it (the hash of a record is computed from the bytes received). One
//! that is not is never applied; its position is read from the log instead. A run of linked
//! messages is applied only once its last hash is the log's at that position (one point read per
//! run anchors the chain), so a forged message that links correctly is not applied either.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, Message};
use event_log::relay::STREAM_NAME;
use event_log::{AsyncLog, LogRead, StoppableTask, REPLAY_CHUNK_EVENTS};
use futures::{FutureExt, StreamExt};
use ledger_core::RecordedEvent;
use tokio::sync::watch;

use crate::{ReadError, ReadModels};

/// Messages applied (and acked) together at most.
pub const CONSUMER_BATCH_MAX: usize = 1_024;
/// How long JetStream waits for an ack before redelivering: long enough for a large batch to be
/// applied on a busy read store.
pub const CONSUMER_ACK_WAIT: Duration = Duration::from_secs(30);
/// The server sends a heartbeat this often while idle; two missed ones end the session.
pub const CONSUMER_HEARTBEAT: Duration = Duration::from_secs(5);
/// Back-off after a failed session: doubles from the minimum to the maximum.
pub const CONSUMER_BACKOFF_MIN: Duration = Duration::from_millis(50);
pub const CONSUMER_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long the log may stay ahead of the read models, with no message bringing the gap, before
/// the consumer reads the gap from the log (a dead leader's committed events that no relay has
/// published yet, say).
pub const LOG_AHEAD_GRACE: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct JetStreamConfig {
    /// The relay's stream (`event_log::relay::STREAM_NAME`; tests use their own).
    pub stream: String,
    /// The durable consumer's name (the gateway gives each instance its own).
    pub durable_name: String,
    /// 1..=CONSUMER_BATCH_MAX.
    pub batch_max: usize,
    pub ack_wait: Duration,
    /// The server removes the consumer once it has not pulled for this long (an instance that
    /// is gone); `None`: kept until deleted.
    pub inactive_threshold: Option<Duration>,
    /// The log's last position as this process knows it: when it stays ahead of the read
    /// models for [`LOG_AHEAD_GRACE`] without messages for the gap, the gap is read from the log.
    pub log_position: Option<watch::Receiver<u64>>,
}

impl JetStreamConfig {
    pub fn new(durable_name: &str) -> JetStreamConfig {
        JetStreamConfig {
            stream: STREAM_NAME.to_owned(),
            durable_name: durable_name.to_owned(),
            batch_max: CONSUMER_BATCH_MAX,
            ack_wait: CONSUMER_ACK_WAIT,
            inactive_threshold: None,
            log_position: None,
        }
    }
}

/// How far the consumer is: `seen` is the highest stream sequence it knows of (the last message
/// received plus what the server says is pending after it), `applied` the read models' lowest
/// checkpoint. `seen − applied` is the lag for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerProgress {
    pub seen: u64,
    pub applied: u64,
}

impl ConsumerProgress {
    pub fn lag(&self) -> u64 {
        self.seen.saturating_sub(self.applied)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the log: {0}")]
    Log(#[from] event_log::StoreError),
    #[error("the message stream ended")]
    Ended,
}

fn nats(error: impl std::fmt::Display) -> ConsumerError {
    ConsumerError::Nats(error.to_string())
}

/// The running consumer. Shutting it down stops it between two batches; unacked messages are
/// redelivered to the next consumer with this durable name (a no-op where already applied).
pub type JetStreamHandle = StoppableTask<ConsumerProgress>;

/// Starts the consumer named `name` on stream `KBOSS_EVENTS` (DESIGN §6).
pub fn spawn_jetstream(
    read_models: ReadModels,
    nats: async_nats::Client,
    reader: AsyncLog<impl LogRead>,
    name: &str,
) -> JetStreamHandle {
    spawn_jetstream_with(read_models, nats, reader, JetStreamConfig::new(name))
}

pub fn spawn_jetstream_with(
    read_models: ReadModels,
    nats: async_nats::Client,
    reader: AsyncLog<impl LogRead>,
    config: JetStreamConfig,
) -> JetStreamHandle {
    assert!((1..=CONSUMER_BATCH_MAX).contains(&config.batch_max), "batch_max out of range");
    StoppableTask::spawn(ConsumerProgress::default(), move |reporters, stopped| {
        let consumer = Consumer {
            read_models,
            jetstream: jetstream::new(nats),
            reader,
            config,
            progress: reporters.progress,
            last_error: reporters.last_error,
            applied: 0,
            last_hash: String::new(),
        };
        consumer.run(stopped)
    })
}

struct Consumer<S: LogRead> {
    read_models: ReadModels,
    jetstream: jetstream::Context,
    reader: AsyncLog<S>,
    config: JetStreamConfig,
    progress: watch::Sender<ConsumerProgress>,
    last_error: watch::Sender<Option<String>>,
    /// The read models' lowest checkpoint as of the last apply.
    applied: u64,
    /// The hash of the event at `applied` (the log's genesis at 0): a message is applied only if
    /// it links to it.
    last_hash: String,
}

impl<S: LogRead> Consumer<S> {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = CONSUMER_BACKOFF_MIN;
        while !*stop.borrow() {
            match self.session(&mut stop).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, backoff_ms = backoff.as_millis() as u64, "jetstream consumer: session ended; starting again");
                    self.last_error.send_replace(Some(error.to_string()));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(CONSUMER_BACKOFF_MAX);
                }
            }
        }
    }

    /// Catches up from the log, then consumes until stopped (`Ok`) or an error.
    async fn session(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), ConsumerError> {
        self.applied = self.read_models.position().await?;
        self.last_hash = self.hash_at(self.applied).await?;
        // Reported at once: a consumer with nothing new to apply still says where it is.
        self.progress.send_modify(|progress| {
            progress.applied = self.applied;
            progress.seen = progress.seen.max(self.applied);
        });
        let stream = self.jetstream.get_stream(&self.config.stream).await.map_err(nats)?;
        let log_last = self.reader.last_position().await?;
        self.fill_from_log(log_last).await?;
        let config = pull::Config {
            durable_name: Some(self.config.durable_name.clone()),
            // One ack per batch, for its last message, covers the whole batch: what this
            // consumer applies is contiguous (gaps are filled from the log first).
            ack_policy: AckPolicy::All,
            ack_wait: self.config.ack_wait,
            // A new consumer starts where the read models are; an existing one keeps its place
            // (a gap behind it is filled from the log above).
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: self.applied + 1 },
            max_ack_pending: (4 * self.config.batch_max) as i64,
            inactive_threshold: self.config.inactive_threshold.unwrap_or_default(),
            ..Default::default()
        };
        let mut consumer: jetstream::consumer::PullConsumer =
            stream.get_or_create_consumer(&self.config.durable_name, config.clone()).await.map_err(nats)?;
        if consumer.cached_info().config.ack_policy != AckPolicy::All {
            // A consumer an earlier version created acks each message: it is only a cursor, and
            // the read models know where they are, so it is made again.
            stream.delete_consumer(&self.config.durable_name).await.map_err(nats)?;
            consumer = stream.get_or_create_consumer(&self.config.durable_name, config).await.map_err(nats)?;
        }
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch_max)
            .heartbeat(CONSUMER_HEARTBEAT)
            .messages()
            .await
            .map_err(nats)?;
        // Caught up and consuming again: whatever ended the last session is over.
        self.last_error.send_if_modified(|last| last.take().is_some());
        let mut log_position = self.config.log_position.clone();
        let mut ahead_since: Option<tokio::time::Instant> = None;
        let mut check = tokio::time::interval(LOG_AHEAD_GRACE / 2);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                next = messages.next() => next,
                _ = check.tick(), if log_position.is_some() => {
                    let log_last = log_position.as_mut().map_or(0, |position| *position.borrow_and_update());
                    if log_last <= self.applied {
                        ahead_since = None;
                    } else if ahead_since.get_or_insert_with(tokio::time::Instant::now).elapsed() >= LOG_AHEAD_GRACE {
                        // Messages do not bring what the log holds: read it from the log.
                        self.fill_from_log(log_last).await?;
                        ahead_since = None;
                    }
                    continue;
                }
            };
            let mut batch = vec![first.ok_or(ConsumerError::Ended)?.map_err(nats)?];
            // Whatever else has already arrived joins the batch; nothing waits for more.
            while batch.len() < self.config.batch_max {
                match messages.next().now_or_never() {
                    Some(Some(message)) => batch.push(message.map_err(nats)?),
                    Some(None) | None => break,
                }
            }
            self.handle(batch).await?;
        }
    }

    /// Applies a batch (filling gaps from the log), then acks it with one ack of its last message.
    async fn handle(&mut self, batch: Vec<Message>) -> Result<(), ConsumerError> {
        let mut events = Vec::with_capacity(batch.len());
        let (mut highest, mut seen) = (0, self.progress.borrow().seen);
        for message in &batch {
            let Ok(info) = message.info() else { continue };
            let sequence = info.stream_sequence;
            highest = highest.max(sequence);
            seen = seen.max(sequence + info.pending);
            match verified(&message.payload, sequence) {
                Ok(event) => events.push(event),
                // Never applied; the log supplies this position below.
                Err(reason) => tracing::error!(sequence, %reason, "jetstream consumer: message refused"),
            }
        }
        self.progress.send_modify(|progress| progress.seen = seen);
        events.sort_by_key(|event| event.position);
        events.dedup_by_key(|event| event.position);
        // Contiguous runs are applied in one call each; a gap between them comes from the log.
        let mut run: Vec<RecordedEvent> = Vec::with_capacity(events.len());
        let applied_before = self.applied;
        for event in events.into_iter().filter(|event| event.position > applied_before) {
            let next = self.applied + 1 + run.len() as u64;
            if event.position > next {
                self.apply_anchored(std::mem::take(&mut run)).await?;
                self.fill_from_log(event.position - 1).await?;
            }
            if event.position == self.applied + 1 + run.len() as u64 {
                let previous = run.last().map_or(&self.last_hash, |event| &event.hash);
                if event.prev_hash == *previous {
                    run.push(event);
                } else {
                    // A message that verifies on its own but does not continue what was applied
                    // (forged, or from another log): never applied; the log supplies its position.
                    tracing::error!(
                        position = event.position,
                        "jetstream consumer: message refused: it does not link to the last event applied"
                    );
                }
            }
        }
        self.apply_anchored(run).await?;
        self.fill_from_log(highest).await?;
        let last = batch
            .iter()
            .filter_map(|message| Some((message.info().ok()?.stream_sequence, message)))
            .max_by_key(|(sequence, _)| *sequence);
        if let Some((_, message)) = last {
            message.ack().await.map_err(nats)?;
        }
        self.last_error.send_if_modified(|last| last.take().is_some());
        Ok(())
    }

    /// Applies the log's events after the read models' position up to `through`, in chunks.
    async fn fill_from_log(&mut self, through: u64) -> Result<(), ConsumerError> {
        while self.applied < through {
            let limit = REPLAY_CHUNK_EVENTS.min((through - self.applied) as usize);
            let chunk = self.reader.read_after(self.applied, limit).await?;
            if chunk.first().map(|event| event.position) != Some(self.applied + 1) {
                return Err(ReadError::Corrupt(format!("the log has no position {}", self.applied + 1)).into());
            }
            self.apply(&chunk).await?;
        }
        Ok(())
    }

    /// Applies a run of linked messages if its last event is the log's: one point read anchors
    /// the whole run, since each event's hash covers the link to the one before. A run that is
    /// not the log's (a forged message that links correctly, say) is dropped and the log read
    /// instead.
    async fn apply_anchored(&mut self, run: Vec<RecordedEvent>) -> Result<(), ConsumerError> {
        let Some(last) = run.last() else { return Ok(()) };
        let position = last.position;
        if self.hash_at(position).await? == last.hash {
            return self.apply(&run).await;
        }
        tracing::error!(position, "jetstream consumer: messages refused: they are not the log's events");
        self.fill_from_log(position).await
    }

    /// The hash of the event at `position` as the log has it (the genesis at 0).
    async fn hash_at(&self, position: u64) -> Result<String, ConsumerError> {
        if position == 0 {
            return Ok(self.reader.call(|reader| reader.genesis()).await?);
        }
        match self.reader.read_one(position).await? {
            Some(event) => Ok(event.hash),
            None => {
                Err(ReadError::Corrupt(format!("the read models are at {position}, which the log does not hold"))
                    .into())
            }
        }
    }

    async fn apply(&mut self, events: &[RecordedEvent]) -> Result<(), ConsumerError> {
        if events.is_empty() {
            return Ok(());
        }
        let lowest = self.read_models.apply(events).await?;
        let wanted = events.last().map_or(self.applied, |event| event.position);
        if lowest < wanted {
            return Err(ReadError::Corrupt(format!("applied through {wanted}, the read models are at {lowest}")).into());
        }
        if lowest == wanted {
            self.last_hash.clone_from(&events.last().expect("not empty").hash);
        } else {
            self.last_hash = self.hash_at(lowest).await?;
        }
        self.applied = lowest;
        self.progress.send_modify(|progress| {
            progress.applied = lowest;
            progress.seen = progress.seen.max(lowest);
        });
        Ok(())
    }
}

/// The event a message carries (its record, hashed as received), if it is the one at
/// `sequence`. Its link is checked against what was applied before it, in [`Consumer::handle`].
fn verified(payload: &[u8], sequence: u64) -> Result<RecordedEvent, String> {
    let event = ledger_core::record::decode(payload).map_err(|error| error.to_string())?;
    if event.position != sequence {
        return Err(format!("carries position {} at stream sequence {sequence}", event.position));
    }
    Ok(event)
}
