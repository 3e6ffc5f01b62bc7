//! Server-mode distribution (DESIGN §6): the hook where the NATS JetStream relay (the log as the
//! outbox, published in position order) and the projections' durable pull consumers start.
//! Owned by the relay's author; the gateway calls [`start`] when `nats_url` is set.

use commands::{EventStore, WriterHandle};
use projections::ReadModels;
use tokio::task::JoinHandle;

/// Starts the relay and the consumers; returns their tasks (aborted on shutdown).
///
/// Until the relay is wired in, the read models are kept up to date by the in-process runner,
/// which reads the same log: every read model is still exact, only the transport differs.
pub fn start<S: EventStore>(
    nats_url: &str,
    writer: WriterHandle,
    read: ReadModels,
    log_reader: S,
) -> Result<Vec<JoinHandle<()>>, String> {
    tracing::warn!(nats_url, "the NATS relay is not wired in yet; projections catch up in-process");
    Ok(vec![projections::spawn_embedded(read, log_reader, writer.committed())])
}
