//! Server-mode distribution (DESIGN §6): the NATS JetStream consumer that keeps this process's
//! read models up to date, and the connection the relay (`crate::leadership::RelaySlot`: the
//! log as the outbox, published in position order, stream sequence = log position) publishes on.
//! The gateway calls [`start`] when `nats_url` is set; without it the in-process runner catches
//! up from the log instead.
//!
//! Each instance has **its own consumer** (`<stream>-read-models-<instance>`, removed by the
//! server once unused for [`CONSUMER_INACTIVE_THRESHOLD`]): one instance's death never holds
//! messages another needs (a shared durable consumer kept a dead instance's unacked messages
//! for its ack wait, 30 s). Applies stay idempotent by checkpoint, so instances that share a read
//! store may apply the same events; a gap, or a log that stays ahead of the messages, is read
//! from the log.

use std::time::Duration;

use event_log::{AnyReader, AsyncLog, RelayConfig, TaskReports};
use projections::{spawn_jetstream_with, ConsumerProgress, JetStreamConfig, ReadModels};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Settings;

/// Each instance's consumer is named `<stream>-read-models-<instance>`.
pub const CONSUMER_NAME_INFIX: &str = "read-models";
/// An instance's consumer that has not pulled for this long is removed by the server.
pub const CONSUMER_INACTIVE_THRESHOLD: Duration = Duration::from_secs(600);

/// Why distribution did not start.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error("NATS at {url}: {source}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("KBOSS_NATS_URL {url:?}: {reason}")]
    Url { url: String, reason: String },
}

/// The running consumer (when this instance builds read models): the task that holds it, and
/// what it reports (`/metrics`); and the NATS connection, for the relay.
pub struct Distribution {
    pub nats: async_nats::Client,
    pub holder: Option<JoinHandle<()>>,
    pub consumer: Option<TaskReports<ConsumerProgress>>,
}

/// Connects to the NATS servers `nats_url` lists (one URL, or a comma-separated list of a
/// cluster's nodes: the client fails over between them).
pub async fn connect(nats_url: &str) -> Result<async_nats::Client, DistributionError> {
    let servers = nats_url
        .split(',')
        .map(str::trim)
        .filter(|server| !server.is_empty())
        .map(|server| server.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| DistributionError::Url { url: nats_url.to_owned(), reason: error.to_string() })?;
    async_nats::connect(servers).await.map_err(|source| DistributionError::Connect { url: nats_url.to_owned(), source })
}

/// The relay's settings: the deployment's stream and subjects, its replicas.
pub fn relay_config(settings: &Settings) -> RelayConfig {
    RelayConfig {
        stream: settings.nats_stream.clone(),
        subject_prefix: settings.nats_subject_prefix.clone(),
        replicas: settings.nats_replicas,
        ..RelayConfig::default()
    }
}

/// Connects to NATS and, with `read`, starts this instance's consumer, which reads gaps (and a
/// log that stays ahead of the messages, seen through `log_position`) through `reader`. The
/// returned task holds it; aborting the task on shutdown stops it between two steps (unacked
/// messages are redelivered: nothing is lost). An `Err` stops the start-up: a server told to
/// use NATS does not quietly run without it.
pub async fn start(
    nats_url: &str,
    settings: &Settings,
    instance: &str,
    consume: Option<(ReadModels, AsyncLog<AnyReader>)>,
    log_position: watch::Receiver<u64>,
) -> Result<Distribution, DistributionError> {
    let nats = connect(nats_url).await?;
    let Some((read, reader)) = consume else {
        return Ok(Distribution { nats, holder: None, consumer: None });
    };
    let consumer_config = JetStreamConfig {
        stream: settings.nats_stream.clone(),
        inactive_threshold: Some(CONSUMER_INACTIVE_THRESHOLD),
        log_position: Some(log_position),
        ..JetStreamConfig::new(&format!("{}-{CONSUMER_NAME_INFIX}-{instance}", settings.nats_stream))
    };
    let consumer = spawn_jetstream_with(read, nats.clone(), reader, consumer_config);
    tracing::info!(nats_url, "the JetStream consumer of this instance's read models started");
    let reports = consumer.reports();
    let holder = tokio::spawn(async move {
        let _handle = consumer;
        std::future::pending::<()>().await;
    });
    Ok(Distribution { nats, holder: Some(holder), consumer: Some(reports) })
}
