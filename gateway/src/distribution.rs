//! Server-mode distribution (DESIGN §6): the hook where the NATS JetStream relay (the log as the
//! outbox, published in position order) and the projections' durable pull consumers start.
//! Owned by the relay's author; the gateway calls [`start`] when `nats_url` is set.

use commands::EventStore;
use projections::ReadModels;
use tokio::task::JoinHandle;

use crate::app::WriteSide;

/// Starts the relay (on the leader only: `write_side` says which) and the consumers; returns their tasks (aborted on shutdown, after the
/// writer has drained). `log_reader` is a reader of the log (`reopen` it for more connections:
/// the relay reads what to publish, a consumer fills gaps). An `Err` stops the start-up.
///
/// Until the relay is wired in, the read models are kept up to date by the in-process runner,
/// which reads the same log: every read model is still exact, only the transport differs.
pub async fn start<S: EventStore>(
    nats_url: &str,
    write_side: &WriteSide,
    read: ReadModels,
    log_reader: S,
) -> Result<Vec<JoinHandle<()>>, String> {
    tracing::warn!(nats_url, "the NATS relay is not wired in yet; projections catch up in-process");
    Ok(vec![projections::spawn_embedded(read, log_reader, write_side.committed())])
}
