//! Runners that feed the read models from the log: the embedded catch-up task and the rebuild.

use std::time::Duration;

use commands::store::REPLAY_CHUNK_EVENTS;
use commands::{EventStore, StoreError};
use ledger_core::RecordedEvent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{ReadError, ReadModels};

/// The first wait after a failed catch-up; doubled on each failure in a row up to the maximum.
pub const RETRY_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5);

fn store_error(error: StoreError) -> ReadError {
    match error {
        StoreError::Corrupt { position, reason } => ReadError::Corrupt(format!("log at {position}: {reason}")),
        other => ReadError::Unavailable(other.to_string()),
    }
}

/// Reads one chunk on the blocking pool; the reader goes there and comes back.
async fn read_chunk<S: EventStore>(mut reader: S, after: u64) -> (S, Result<Vec<RecordedEvent>, ReadError>) {
    let handle = tokio::task::spawn_blocking(move || {
        let events = reader.read_after(after, REPLAY_CHUNK_EVENTS).map_err(store_error);
        (reader, events)
    });
    handle.await.expect("reading the log does not panic")
}

/// Applies chunks until the log has nothing after the read models' position; answers it.
async fn catch_up_owned<S: EventStore>(read_models: &ReadModels, mut reader: S) -> (S, Result<u64, ReadError>) {
    loop {
        let position = match read_models.position().await {
            Ok(position) => position,
            Err(error) => return (reader, Err(error)),
        };
        let (returned, events) = read_chunk(reader, position).await;
        reader = returned;
        let events = match events {
            Ok(events) => events,
            Err(error) => return (reader, Err(error)),
        };
        if events.is_empty() {
            return (reader, Ok(position));
        }
        match read_models.apply(&events).await {
            Ok(applied) if applied > position => continue,
            Ok(_) => return (reader, Err(stuck(position))),
            Err(error) => return (reader, Err(error)),
        }
    }
}

fn stuck(position: u64) -> ReadError {
    ReadError::Corrupt(format!("the log does not continue the read models at position {position}"))
}

/// The embedded runner: catches up from the log in chunks, then waits for the writer's next
/// commit and catches up again. A failure is logged and retried after a growing backoff; the task
/// ends only when the writer is gone (its watch closed), and says so.
pub fn spawn_embedded(
    read_models: ReadModels,
    reader: impl EventStore,
    mut committed: watch::Receiver<u64>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = reader;
        let mut backoff = RETRY_BACKOFF_INITIAL;
        loop {
            let (returned, outcome) = catch_up_owned(&read_models, reader).await;
            reader = returned;
            let reached = match outcome {
                Ok(position) => {
                    backoff = RETRY_BACKOFF_INITIAL;
                    position
                }
                Err(error) => {
                    tracing::error!(%error, retry_in_ms = backoff.as_millis() as u64, "read models failed to catch up");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                    continue;
                }
            };
            // Sleep until the writer commits past what is applied.
            if committed.wait_for(|last| *last > reached).await.is_err() {
                let (reader, outcome) = catch_up_owned(&read_models, reader).await;
                tracing::info!(?outcome, "the writer stopped; read-model runner ends after a last catch-up");
                // A blocking store client (PostgreSQL's) must not be dropped on the runtime.
                let _ = tokio::task::spawn_blocking(move || drop(reader)).await;
                return;
            }
        }
    })
}

/// Applies the log to the read models from their position up to `until` (or the end), calling
/// `progress(applied, target)` after each chunk: `kboss rebuild` after a `reset`. Answers the
/// position reached. Reads block on the store; on a multi-threaded runtime they run in
/// `block_in_place`, elsewhere (a CLI on a current-thread runtime) they simply block. The next
/// chunk is read while the current one applies (SQLite's apply runs on the blocking pool, so the
/// two overlap whole); it is used only if the apply reached the chunk's end.
pub async fn catch_up(
    read_models: &ReadModels,
    reader: &mut impl EventStore,
    until: Option<u64>,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, ReadError> {
    let target = match until {
        Some(until) => until,
        None => blocking_read(|| reader.last_position()).map_err(store_error)?,
    };
    let mut position = read_models.position().await?;
    let mut events = read_up_to(reader, position, target)?;
    while let Some(last) = events.last().map(|event| event.position) {
        let (applied, next) = tokio::join!(read_models.apply(&events), async { read_up_to(reader, last, target) });
        let applied = applied?;
        if applied <= position {
            return Err(stuck(position));
        }
        position = applied;
        progress(position, target);
        events = if applied == last { next? } else { read_up_to(reader, position, target)? };
    }
    Ok(position)
}

/// The chunk after `position`, up to `target` (empty at or past it).
fn read_up_to(reader: &mut impl EventStore, position: u64, target: u64) -> Result<Vec<RecordedEvent>, ReadError> {
    if position >= target {
        return Ok(Vec::new());
    }
    let limit = REPLAY_CHUNK_EVENTS.min((target - position) as usize);
    blocking_read(|| reader.read_after(position, limit)).map_err(store_error)
}

fn blocking_read<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(read),
        _ => read(),
    }
}
