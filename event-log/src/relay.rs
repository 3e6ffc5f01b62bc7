//! The relay (DESIGN §6): the log is the outbox. A task publishes every committed event, in
//! position order, to the JetStream stream `KBOSS_EVENTS` on subject `kboss.events.<EventType>`,
//! with `Nats-Msg-Id` = the event id and `Nats-Expected-Last-Sequence` = position − 1. The stream
//! refuses anything out of place, so **its sequence is the log position**: the relay never needs
//! a checkpoint of its own; on start and after any error it asks the stream for its last
//! sequence, checks that message against the log, and resumes right after it.
//!
//! Failure model: NATS down, a publish timing out, a wrong last sequence (another relay, a
//! restarted server that lost its tail) or the log unreachable all end the same way: the relay
//! backs off, resynchronises from the stream's last sequence and publishes again. A publish that
//! did land before the error is either refused by the expected-sequence check or recognised as a
//! duplicate by its message id; either way nothing is lost, duplicated or reordered.
//!
//! The store is blocking (a database client owned by one thread); the relay moves it into
//! `spawn_blocking` for each read ([`AsyncLog`]) so the async runtime never blocks on it.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::context::{Publish, PublishAckFuture};
use async_nats::jetstream::{self, stream};
use ledger_core::event::EncodedEvent;
use ledger_core::RecordedEvent;
use tokio::sync::watch;

use crate::adapter::AsyncLog;
use crate::store::{LogRead, StoreError, REPLAY_CHUNK_EVENTS};
use crate::task::StoppableTask;

/// The stream every deployment publishes to (DESIGN §6).
pub const STREAM_NAME: &str = "KBOSS_EVENTS";
/// Subjects are `<prefix>.<EventType>`; the stream takes `<prefix>.>`.
pub const SUBJECT_PREFIX: &str = "kboss.events";
/// Publishes awaiting their acknowledgement at once: enough to keep a round trip full at tens of
/// thousands of events per second, few enough that an error throws away little work.
pub const PUBLISHES_IN_FLIGHT_MAX: usize = 1_024;
/// How long JetStream remembers message ids. It only needs to cover a relay's retry after an
/// error (the expected-sequence check refuses everything else); two minutes is NATS's default.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// The relay also looks at the log this often, in case a commit's wake-up was missed (or the
/// writer runs in another process).
pub const RELAY_TICK: Duration = Duration::from_secs(1);
/// Back-off after an error: doubles from the minimum up to the maximum, reset by a success.
pub const RELAY_BACKOFF_MIN: Duration = Duration::from_millis(50);
pub const RELAY_BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// The stream's name (tests use one of their own).
    pub stream: String,
    /// Subjects are `<subject_prefix>.<EventType>`; two streams may not share subjects.
    pub subject_prefix: String,
    /// 1..=PUBLISHES_IN_FLIGHT_MAX.
    pub publishes_in_flight_max: usize,
    pub tick: Duration,
    pub duplicate_window: Duration,
    /// Copies of the stream JetStream keeps: 1 on one server, 3 on a cluster (DESIGN §12).
    pub replicas: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            stream: STREAM_NAME.to_owned(),
            subject_prefix: SUBJECT_PREFIX.to_owned(),
            publishes_in_flight_max: 256,
            tick: RELAY_TICK,
            duplicate_window: DUPLICATE_WINDOW,
            replicas: 1,
        }
    }
}

impl RelayConfig {
    /// The subject an event is published on.
    pub fn subject(&self, event: &RecordedEvent) -> String {
        format!("{}.{}", self.subject_prefix, event.event_type())
    }

    /// The stream as the relay needs it: every event subject, on disk, nothing ever deleted
    /// from the middle (the sequence must stay the position).
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            duplicate_window: self.duplicate_window,
            num_replicas: self.replicas,
            deny_delete: true,
            allow_direct: true,
            description: Some("KBOSS Ledger events; stream sequence = log position".to_owned()),
            ..Default::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("NATS: {0}")]
    Nats(String),
    /// The stream holds more than the log: it belongs to another log, or the log was restored
    /// from an older backup. The relay publishes nothing until an operator decides.
    #[error("the stream's last sequence {stream} is beyond the log's last position {log}")]
    StreamAhead { stream: u64, log: u64 },
    /// The stream's message at a sequence is not the log's event at that position.
    #[error("stream message {sequence} has id {stream_id}, the log's event there is {log_id}")]
    Diverged { sequence: u64, stream_id: String, log_id: String },
    #[error("event at position {position} was stored at stream sequence {sequence}")]
    SequenceMismatch { position: u64, sequence: u64 },
}

fn nats(error: impl std::fmt::Display) -> RelayError {
    RelayError::Nats(error.to_string())
}

/// Creates the stream if it does not exist (an existing one is used as it is).
pub async fn ensure_stream(jetstream: &jetstream::Context, config: &RelayConfig) -> Result<stream::Stream, RelayError> {
    jetstream.get_or_create_stream(config.stream_config()).await.map_err(nats)
}

/// The running relay: its progress is the last position JetStream has acknowledged (the
/// stream's last sequence, once synced); `committed − published` is its lag, for `/metrics`.
/// Shutting it down stops it between two steps: publishes in flight may or may not land; either
/// way the next relay resumes from the stream's last sequence.
pub type RelayHandle = StoppableTask<u64>;

impl RelayHandle {
    /// The last position JetStream has acknowledged.
    pub fn published(&self) -> watch::Receiver<u64> {
        self.progress()
    }
}

/// Starts the relay on the current tokio runtime. `reader` is a read connection to the log; `committed` is the writer's committed-position watch
/// (`WriterHandle::committed`), or `None` when the writer runs elsewhere (the tick then finds
/// new events).
pub fn spawn_relay<S: LogRead>(
    reader: AsyncLog<S>,
    nats: async_nats::Client,
    committed: Option<watch::Receiver<u64>>,
    config: RelayConfig,
) -> RelayHandle {
    assert!(
        (1..=PUBLISHES_IN_FLIGHT_MAX).contains(&config.publishes_in_flight_max),
        "publishes_in_flight_max out of range"
    );
    assert!(!config.tick.is_zero(), "the relay's tick must be positive");
    StoppableTask::spawn(0, move |reporters, stopped| {
        let relay = Relay {
            last_error: reporters.last_error,
            reader,
            jetstream: jetstream::new(nats),
            config,
            published: reporters.progress,
            resume_after: None,
        };
        relay.run(committed, stopped)
    })
}

struct Relay<S: LogRead> {
    reader: AsyncLog<S>,
    jetstream: jetstream::Context,
    config: RelayConfig,
    published: watch::Sender<u64>,
    last_error: watch::Sender<Option<String>>,
    /// The last position known to be in the stream; `None` until synced, and after any error.
    resume_after: Option<u64>,
}

impl<S: LogRead> Relay<S> {
    async fn run(mut self, mut committed: Option<watch::Receiver<u64>>, mut stop: watch::Receiver<bool>) {
        let mut backoff = RELAY_BACKOFF_MIN;
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *stop.borrow() {
                return;
            }
            match self.publish_pending().await {
                Ok(()) => {
                    backoff = RELAY_BACKOFF_MIN;
                    self.last_error.send_if_modified(|last| last.take().is_some());
                }
                Err(error) => {
                    self.resume_after = None;
                    self.last_error.send_replace(Some(error.to_string()));
                    tracing::warn!(%error, backoff_ms = backoff.as_millis() as u64, "relay: resyncing with the stream after a pause");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(RELAY_BACKOFF_MAX);
                    continue;
                }
            }
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                _ = next_commit(&mut committed) => {}
                _ = tick.tick() => {}
            }
        }
    }

    /// Publishes every event after the last one in the stream.
    async fn publish_pending(&mut self) -> Result<(), RelayError> {
        let mut after = match self.resume_after {
            Some(after) => after,
            None => self.resync().await?,
        };
        loop {
            let chunk = self.reader.read_records(after, REPLAY_CHUNK_EVENTS).await?;
            let Some(last) = chunk.last().map(|encoded| encoded.event.position) else { return Ok(()) };
            if chunk[0].event.position != after + 1 {
                return Err(
                    StoreError::Corrupt { position: after + 1, reason: "missing from the log".to_owned() }.into()
                );
            }
            self.publish_chunk(&chunk).await?;
            after = last;
            self.resume_after = Some(after);
        }
    }

    /// Finds where the stream ends, and checks that its last message is the log's event there.
    async fn resync(&mut self) -> Result<u64, RelayError> {
        let stream = ensure_stream(&self.jetstream, &self.config).await?;
        let last_sequence = stream.get_info().await.map_err(nats)?.state.last_sequence;
        let log_last = self.reader.last_position().await?;
        if last_sequence > log_last {
            return Err(RelayError::StreamAhead { stream: last_sequence, log: log_last });
        }
        if last_sequence > 0 {
            let message = stream.get_raw_message(last_sequence).await.map_err(nats)?;
            let stream_id = message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|value| value.as_str().to_owned())
                .unwrap_or_default();
            let log_id = match self.reader.read_one(last_sequence).await? {
                Some(event) => event.event_id.to_string(),
                None => String::new(),
            };
            if stream_id != log_id {
                return Err(RelayError::Diverged { sequence: last_sequence, stream_id, log_id });
            }
        }
        self.published.send_replace(last_sequence);
        tracing::info!(stream = %self.config.stream, last_sequence, log_last, "relay: resuming after the stream's last sequence");
        Ok(last_sequence)
    }

    /// Publishes consecutive events, pipelined: up to `publishes_in_flight_max` await their
    /// acknowledgements at once, confirmed in order.
    async fn publish_chunk(&mut self, chunk: &[EncodedEvent]) -> Result<(), RelayError> {
        let window = self.config.publishes_in_flight_max;
        let mut in_flight: VecDeque<(u64, PublishAckFuture)> = VecDeque::with_capacity(window);
        for EncodedEvent { event, record, .. } in chunk {
            if in_flight.len() == window {
                let (position, ack) = in_flight.pop_front().expect("the window is full");
                self.confirm(position, ack).await?;
            }
            // The record as stored: the consumer hashes these bytes and checks their link.
            let publish = Publish::build()
                .payload(record.clone().into())
                .message_id(event.event_id.to_string())
                .expected_last_sequence(event.position - 1);
            let ack = self.jetstream.send_publish(self.config.subject(event), publish).await.map_err(nats)?;
            in_flight.push_back((event.position, ack));
        }
        while let Some((position, ack)) = in_flight.pop_front() {
            self.confirm(position, ack).await?;
        }
        Ok(())
    }

    async fn confirm(&mut self, position: u64, ack: PublishAckFuture) -> Result<(), RelayError> {
        let ack = ack.await.map_err(nats)?;
        // A duplicate (a retry of a publish that landed) is acknowledged with the sequence of
        // the message already stored: still this position.
        if ack.sequence != position {
            return Err(RelayError::SequenceMismatch { position, sequence: ack.sequence });
        }
        self.published.send_replace(position);
        Ok(())
    }
}

/// Resolves when the writer commits again; never, once the writer has gone (the tick remains).
async fn next_commit(committed: &mut Option<watch::Receiver<u64>>) {
    match committed {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                *committed = None;
            }
        }
        None => std::future::pending().await,
    }
}
