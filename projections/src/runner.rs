//! Runners that feed the read models: the embedded task (from the writer's memory, catching up
//! from the log) and the rebuild. Both read the log through [`AsyncLog`], its one async adapter.

use std::time::Duration;

use std::sync::Arc;

use event_log::{AsyncLog, LogRead, StoreError, REPLAY_CHUNK_EVENTS};
use ledger_core::RecordedEvent;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::{ReadError, ReadModels};

/// The first wait after a failed catch-up; doubled on each failure in a row up to the maximum.
pub const RETRY_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(crate) fn store_error(error: StoreError) -> ReadError {
    match error {
        StoreError::Corrupt { position, reason } => ReadError::Corrupt(format!("log at {position}: {reason}")),
        other => ReadError::Unavailable(other.to_string()),
    }
}

/// Applies chunks until the log has nothing after the read models' position; answers it.
async fn catch_up_to_end<R: LogRead>(read_models: &ReadModels, log: &AsyncLog<R>) -> Result<u64, ReadError> {
    loop {
        let position = read_models.position().await?;
        let events = log.read_after(position, REPLAY_CHUNK_EVENTS).await.map_err(store_error)?;
        if events.is_empty() {
            return Ok(position);
        }
        let applied = read_models.apply(&events).await?;
        if applied <= position {
            return Err(stuck(position));
        }
    }
}

fn stuck(position: u64) -> ReadError {
    ReadError::Corrupt(format!("the log does not continue the read models at position {position}"))
}

/// A writer's durable batches, in position order, as it has them in memory (the embedded
/// writer's feed: `commands::WriterHandle::feed`).
pub type Feed = broadcast::Receiver<Arc<[RecordedEvent]>>;

/// Events applied together from the feed at most (the batches already waiting are joined).
pub const FEED_CHUNK_EVENTS: usize = REPLAY_CHUNK_EVENTS;

/// The embedded runner. With the writer's `feed` (in the same process), it applies each
/// durable batch from memory as it comes, joining the batches already waiting, and reads the
/// log only to catch up: at start, after a gap or after falling too far behind. Without one (a
/// follower, whose writer runs elsewhere) it catches up from the log whenever `committed`
/// moves. A failure is logged and retried after a growing backoff; the task ends only when the
/// writer is gone, and says so.
pub fn spawn_embedded<R: LogRead>(
    read_models: ReadModels,
    log: AsyncLog<R>,
    mut committed: watch::Receiver<u64>,
    mut feed: Option<Feed>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = RETRY_BACKOFF_INITIAL;
        loop {
            let reached = match catch_up_to_end(&read_models, &log).await {
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
            let writer_gone = match feed.as_mut() {
                Some(feed) => match follow_feed(&read_models, feed, reached).await {
                    FeedEnd::WriterGone => true,
                    FeedEnd::ReadTheLog => false,
                    FeedEnd::Failed(error) => {
                        tracing::error!(%error, retry_in_ms = backoff.as_millis() as u64, "read models failed to apply");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                        false
                    }
                },
                // Sleep until the writer commits past what is applied.
                None => committed.wait_for(|last| *last > reached).await.is_err(),
            };
            if writer_gone {
                let outcome = catch_up_to_end(&read_models, &log).await;
                tracing::info!(?outcome, "the writer stopped; read-model runner ends after a last catch-up");
                return;
            }
        }
    })
}

enum FeedEnd {
    WriterGone,
    /// A gap (the feed lagged, or a batch does not continue the read models): catch up.
    ReadTheLog,
    Failed(ReadError),
}

/// Applies the feed's batches while they continue the read models from `position`.
async fn follow_feed(read_models: &ReadModels, feed: &mut Feed, mut position: u64) -> FeedEnd {
    loop {
        let first = match feed.recv().await {
            Ok(batch) => batch,
            Err(broadcast::error::RecvError::Lagged(_)) => return FeedEnd::ReadTheLog,
            Err(broadcast::error::RecvError::Closed) => return FeedEnd::WriterGone,
        };
        // Batches that arrived meanwhile join this one: one transaction for all of them.
        let mut joined: Option<Vec<RecordedEvent>> = None;
        while joined.as_ref().map_or(first.len(), Vec::len) < FEED_CHUNK_EVENTS {
            match feed.try_recv() {
                Ok(more) => joined.get_or_insert_with(|| first.to_vec()).extend_from_slice(&more),
                Err(broadcast::error::TryRecvError::Lagged(_)) => return FeedEnd::ReadTheLog,
                Err(_) => break,
            }
        }
        let events: &[RecordedEvent] = joined.as_deref().unwrap_or(&first);
        let fresh = events.partition_point(|event| event.position <= position);
        let events = &events[fresh..];
        let Some(last) = events.last().map(|event| event.position) else { continue };
        if events[0].position != position + 1 || last - position != events.len() as u64 {
            return FeedEnd::ReadTheLog;
        }
        match read_models.apply(events).await {
            Ok(applied) if applied == last => position = applied,
            Ok(_) => return FeedEnd::ReadTheLog,
            Err(error) => return FeedEnd::Failed(error),
        }
    }
}

/// Applies the log to the read models from their position up to `until` (or the end), calling
/// `progress(applied, target)` after each chunk: `kboss rebuild` after a `reset`. Answers the
/// position reached. The next chunk is read while the current one applies; it is used only if
/// the apply reached the chunk's end.
pub async fn catch_up<R: LogRead>(
    read_models: &ReadModels,
    log: &AsyncLog<R>,
    until: Option<u64>,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, ReadError> {
    let target = match until {
        Some(until) => until,
        None => log.last_position().await.map_err(store_error)?,
    };
    let mut position = read_models.position().await?;
    let mut events = read_up_to(log, position, target).await?;
    while let Some(last) = events.last().map(|event| event.position) {
        let (applied, next) = tokio::join!(read_models.apply(&events), read_up_to(log, last, target));
        let applied = applied?;
        if applied <= position {
            return Err(stuck(position));
        }
        position = applied;
        progress(position, target);
        events = if applied == last { next? } else { read_up_to(log, position, target).await? };
    }
    Ok(position)
}

/// The chunk after `position`, up to `target` (empty at or past it).
async fn read_up_to<R: LogRead>(
    log: &AsyncLog<R>,
    position: u64,
    target: u64,
) -> Result<Vec<RecordedEvent>, ReadError> {
    log.read_through(position, target, REPLAY_CHUNK_EVENTS).await.map_err(store_error)
}
