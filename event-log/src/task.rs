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

/// A read-only view of what a [`StoppableTask`] reports: its latest progress, once it has
/// reported any, and whether it is working. Cheap to clone; it does not keep the task running.
#[derive(Clone)]
pub struct TaskReports<P> {
    /// Never marked seen: it was cloned from the handle's receiver, which holds the version of
    /// the initial value, so `has_changed` says whether the task has reported since it started.
    progress: watch::Receiver<P>,
    last_error: watch::Receiver<Option<String>>,
}

impl<P: Clone> TaskReports<P> {
    /// The task's latest progress; `None` until it first reports (the initial value is a
    /// placeholder, not something the task found) and once it has ended.
    pub fn progress(&self) -> Option<P> {
        match self.progress.has_changed() {
            Ok(true) => Some(self.progress.borrow().clone()),
            Ok(false) | Err(_) => None,
        }
    }

    /// True while the task runs, has reported progress, and its last step succeeded.
    pub fn working(&self) -> bool {
        self.progress().is_some() && self.last_error.borrow().is_none()
    }
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

    /// What the task reports, for an observer that reads it now and then (`/metrics`).
    pub fn reports(&self) -> TaskReports<P> {
        TaskReports { progress: self.progress.clone(), last_error: self.last_error.clone() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_say_nothing_until_the_task_reports_then_its_progress_and_whether_it_works() {
        let (go, mut gone) = watch::channel(0_u8);
        let task = StoppableTask::spawn(0_u64, |reporters, _stop| async move {
            // Each step waits for the test's signal.
            let _ = gone.wait_for(|step| *step >= 1).await;
            reporters.progress.send_replace(0);
            let _ = gone.wait_for(|step| *step >= 2).await;
            reporters.last_error.send_replace(Some("NATS is down".to_owned()));
            let _ = gone.wait_for(|step| *step >= 3).await;
        });
        let reports = task.reports();
        assert_eq!(reports.progress(), None, "0 is the placeholder the task started with, not a report");
        assert!(!reports.working());
        let mut progress = task.progress();
        go.send_replace(1);
        progress.changed().await.unwrap();
        assert_eq!(reports.progress(), Some(0), "a report of 0 is a report");
        assert!(reports.working());
        let mut last_error = task.last_error();
        go.send_replace(2);
        last_error.changed().await.unwrap();
        assert_eq!((reports.progress(), reports.working()), (Some(0), false));
        go.send_replace(3);
        task.shutdown().await;
        assert_eq!((reports.progress(), reports.working()), (None, false), "an ended task reports nothing");
    }
}
