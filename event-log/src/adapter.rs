//! [`AsyncLog`]: the one way async code reads the log. The stores are blocking (the writer is a
//! thread that should block on its disk); a reader owned by async code (the projection runner,
//! the relay, the JetStream consumer's catch-up, the gateway's event endpoint, a follower's
//! poll, the CLI) runs each call on tokio's blocking pool and is dropped off the runtime.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ledger_core::event::EncodedEvent;
use ledger_core::RecordedEvent;
use tokio::sync::watch;

use crate::store::{LogRead, StoreError};

/// A blocking [`LogRead`] used from async code: each call runs on tokio's blocking pool, one at
/// a time per reader (a connection serves one call at a time). Clones share the reader.
///
/// Cancel-safe: a caller that stops waiting (a client that hung up) leaves the call to finish
/// on its thread, and the reader stays where it was for the next call.
pub struct AsyncLog<R: LogRead> {
    reader: Arc<Mutex<OffRuntime<R>>>,
}

impl<R: LogRead> Clone for AsyncLog<R> {
    fn clone(&self) -> AsyncLog<R> {
        AsyncLog { reader: self.reader.clone() }
    }
}

impl<R: LogRead> AsyncLog<R> {
    pub fn new(reader: R) -> AsyncLog<R> {
        AsyncLog { reader: Arc::new(Mutex::new(OffRuntime(Some(reader)))) }
    }

    /// Runs `call` on the reader on a blocking thread. A panic in the store is a bug: it is
    /// resumed here, in the calling task, rather than hidden.
    pub async fn call<T, F>(&self, call: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut R) -> T + Send + 'static,
    {
        let reader = self.reader.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut reader = reader.lock().unwrap_or_else(PoisonError::into_inner);
            call(reader.0.as_mut().expect("present until dropped"))
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    pub async fn read_after(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.call(move |reader| reader.read_after(after, limit)).await
    }

    pub async fn read_records(&self, after: u64, limit: usize) -> Result<Vec<EncodedEvent>, StoreError> {
        self.call(move |reader| reader.read_records(after, limit)).await
    }

    pub async fn read_one(&self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.call(move |reader| reader.read_one(position)).await
    }

    pub async fn last_position(&self) -> Result<u64, StoreError> {
        self.call(|reader| reader.last_position()).await
    }

    /// The events after `after` up to `through`, in chunks of at most `chunk` (an empty vector
    /// when there are none).
    pub async fn read_through(&self, after: u64, through: u64, chunk: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = usize::try_from(through.saturating_sub(after)).unwrap_or(usize::MAX).min(chunk);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read_after(after, limit).await
    }

    /// Polls the log's last position every `interval` (where no writer in this process can say
    /// what it committed: a follower instance). The task ends when every receiver is gone.
    pub fn follow(self, interval: Duration) -> (watch::Receiver<u64>, tokio::task::JoinHandle<()>) {
        let (sender, committed) = watch::channel(0);
        let task = tokio::spawn(async move {
            while !sender.is_closed() {
                match self.last_position().await {
                    Ok(position) => {
                        sender.send_if_modified(|seen| std::mem::replace(seen, position) != position);
                    }
                    Err(error) => tracing::warn!(%error, "cannot read the log's last position; polling again"),
                }
                tokio::time::sleep(interval).await;
            }
        });
        (committed, task)
    }
}

/// A reader whose drop never runs on an async runtime's thread: a blocking client may block
/// when dropped (PostgreSQL's closes its session with a `block_on`, which panics on a thread
/// of a runtime), so it is dropped on a thread of its own.
struct OffRuntime<R: Send + 'static>(Option<R>);

impl<R: Send + 'static> Drop for OffRuntime<R> {
    fn drop(&mut self) {
        if let Some(reader) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let dropped = std::thread::Builder::new().name("kboss-log-drop".to_owned()).spawn(move || drop(reader));
                if let Err(error) = dropped {
                    tracing::warn!(%error, "no thread to close a log reader on; its connection closes with the process");
                }
            } else {
                drop(reader);
            }
        }
    }
}
