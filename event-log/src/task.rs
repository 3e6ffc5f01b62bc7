//! A background task that runs until told to stop between two of its steps, reporting its
//! progress and its last error on watches: the relay and the JetStream consumer are two.

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The handle of a running [`StoppableTask`]: what it has done (`P`), its last error, and how to
/// stop it.
pub struct StoppableTask<P> {
    progress: watch::Receiver<P>,
    last_error: watch::Receiver<Option<String>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What a task is given to report through: its progress and its last error (cleared by the
/// task itself once it recovers).
pub struct Reporters<P> {
    pub progress: watch::Sender<P>,
    pub last_error: watch::Sender<Option<String>>,
}

impl<P: Send + Sync + 'static> StoppableTask<P> {
    /// Spawns `run` on the current tokio runtime with its reporters and the stop signal it must
    /// look at between two steps.
    pub fn spawn<F>(initial: P, run: impl FnOnce(Reporters<P>, watch::Receiver<bool>) -> F) -> StoppableTask<P>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (progress_sender, progress) = watch::channel(initial);
        let (last_error_sender, last_error) = watch::channel(None);
        let (stop, stopped) = watch::channel(false);
        let reporters = Reporters { progress: progress_sender, last_error: last_error_sender };
        let task = tokio::spawn(run(reporters, stopped));
        StoppableTask { progress, last_error, stop, task }
    }

    pub fn progress(&self) -> watch::Receiver<P> {
        self.progress.clone()
    }

    /// The last error the task met, until it next makes progress.
    pub fn last_error(&self) -> watch::Receiver<Option<String>> {
        self.last_error.clone()
    }

    /// Stops the task between two steps and waits for it; a panic inside it is resumed here.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            if error.is_panic() {
                std::panic::resume_unwind(error.into_panic());
            }
        }
    }
}
