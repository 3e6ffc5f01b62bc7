//! Server-mode distribution (DESIGN §6): the NATS JetStream relay (the log as the outbox,
//! published in position order, stream sequence = log position) and the durable pull consumer
//! that keeps this process's read models up to date. The gateway calls [`start`] when
//! `nats_url` is set; without it the in-process runner catches up from the log instead.
//!
//! The relay runs on the leader only: it reads what the leader's writer committed, and two
//! relays would race for the stream's expected sequence (harmless, since the stream refuses the
//! loser, but wasteful). Every instance, leader or follower, runs a consumer: they share one
//! durable consumer per read store, and a message another instance took shows up here as a gap
//! that is filled from the log.

use event_log::{spawn_relay, AnyReader, AsyncLog, RelayConfig, TaskReports};
use projections::{spawn_jetstream_with, ConsumerProgress, JetStreamConfig, ReadModels};
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::state::WriteSide;

/// The durable consumer's name is `<stream>-read-models`: one per deployment's read store
/// (every gateway instance on the same database shares it).
pub const CONSUMER_DURABLE_SUFFIX: &str = "read-models";

/// Why distribution did not start.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error("NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
}

/// The running relay and consumer: the task that holds them, and what they report (`/metrics`).
pub struct Distribution {
    pub holder: JoinHandle<()>,
    /// `None` on a follower.
    pub relay: Option<TaskReports<u64>>,
    pub consumer: TaskReports<ConsumerProgress>,
}

/// Connects to NATS and starts the relay (leader only) and the consumer. The returned task holds
/// both; aborting it on shutdown drops their handles, which stops them between two steps (the
/// relay resumes from the stream's last sequence, unacked messages are redelivered: nothing is
/// lost either way). An `Err` stops the start-up: a server told to use NATS does not quietly run
/// without it.
/// The consumer reads the log through `consumer_reader`; the relay, on the leader only,
/// through `relay_reader`.
pub async fn start(
    nats_url: &str,
    settings: &Settings,
    write_side: &WriteSide,
    read: ReadModels,
    consumer_reader: AsyncLog<AnyReader>,
    relay_reader: Option<AsyncLog<AnyReader>>,
) -> Result<Distribution, DistributionError> {
    let nats = async_nats::connect(nats_url)
        .await
        .map_err(|source| DistributionError::Connect { url: nats_url.to_owned(), source })?;
    let relay_config = RelayConfig {
        stream: settings.nats_stream.clone(),
        subject_prefix: settings.nats_subject_prefix.clone(),
        ..RelayConfig::default()
    };
    let consumer_config = JetStreamConfig {
        stream: settings.nats_stream.clone(),
        ..JetStreamConfig::new(&format!("{}-{CONSUMER_DURABLE_SUFFIX}", settings.nats_stream))
    };
    let consumer = spawn_jetstream_with(read, nats.clone(), consumer_reader, consumer_config);
    let relay = match (write_side, relay_reader) {
        (WriteSide::Leader(writer), Some(reader)) => {
            Some(spawn_relay(reader, nats, Some(writer.committed()), relay_config))
        }
        _ => None,
    };
    tracing::info!(nats_url, relay = relay.is_some(), "distribution over NATS JetStream started");
    let reports = (relay.as_ref().map(|relay| relay.reports()), consumer.reports());
    let holder = tokio::spawn(async move {
        let _handles = (consumer, relay);
        std::future::pending::<()>().await;
    });
    Ok(Distribution { holder, relay: reports.0, consumer: reports.1 })
}
