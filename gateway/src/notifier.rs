//! The approval notifier (DESIGN §2.7): each new `ApprovalRequested` is posted to a webhook as
//! DingTalk-style JSON `{msgtype: "text", text: {content}}`. A bounded queue sits between the
//! request handlers and one delivery task: enqueueing never waits (a full queue drops the
//! notification and counts it), delivery retries with exponential backoff, and a dead webhook
//! only logs and counts. The ledger never waits on it.

use std::sync::Arc;
use std::time::Duration;

use ledger_core::event::ApprovalRequested;
use ledger_core::{EventPayload, RecordedEvent};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Attempts per notification before it is given up (and counted as failed).
pub const WEBHOOK_ATTEMPTS_MAX: u32 = 5;
pub const WEBHOOK_BACKOFF_FIRST: Duration = Duration::from_millis(200);
pub const WEBHOOK_BACKOFF_MAX: Duration = Duration::from_secs(10);
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Notifier {
    queue: Option<mpsc::Sender<String>>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// A notifier posting to `url`, with its delivery task; without a URL it drops everything.
    pub fn start(url: Option<String>, capacity: usize, metrics: Arc<Metrics>) -> Notifier {
        let Some(url) = url else { return Notifier { queue: None, metrics } };
        let (sender, receiver) = mpsc::channel(capacity);
        tokio::spawn(deliver(url, receiver, metrics.clone()));
        Notifier { queue: Some(sender), metrics }
    }

    /// Enqueues a message for every approval request among the events.
    pub fn notify_all(&self, events: &[RecordedEvent]) {
        let Some(queue) = &self.queue else { return };
        for event in events {
            if let EventPayload::ApprovalRequested(request) = &event.event.payload {
                if queue.try_send(message(request, event.position)).is_err() {
                    tracing::warn!(approval = %request.approval_id, "approval notifier queue full; dropped");
                    self.metrics.count_webhook("dropped");
                }
            }
        }
    }
}

fn message(request: &ApprovalRequested, position: u64) -> String {
    let content = format!(
        "KBOSS approval requested: {} {} in book {} by {} (position {position})",
        request.kind.as_str(),
        request.approval_id,
        request.book,
        request.requested_by,
    );
    serde_json::json!({ "msgtype": "text", "text": { "content": content } }).to_string()
}

async fn deliver(url: String, mut receiver: mpsc::Receiver<String>, metrics: Arc<Metrics>) {
    let client = match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "approval notifier cannot start its HTTP client");
            return;
        }
    };
    while let Some(body) = receiver.recv().await {
        let mut backoff = WEBHOOK_BACKOFF_FIRST;
        let mut delivered = false;
        for attempt in 1..=WEBHOOK_ATTEMPTS_MAX {
            let sent = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(response) => tracing::warn!(status = %response.status(), attempt, "approval webhook refused"),
                Err(error) => tracing::warn!(%error, attempt, "approval webhook unreachable"),
            }
            if attempt < WEBHOOK_ATTEMPTS_MAX {
                metrics.count_webhook("retried");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(WEBHOOK_BACKOFF_MAX);
            }
        }
        metrics.count_webhook(if delivered { "delivered" } else { "failed" });
    }
}
