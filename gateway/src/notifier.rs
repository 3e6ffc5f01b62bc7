//! The notifier (DESIGN §2.7): each new `ApprovalRequested`, and each level granted below the
//! last (the next level waits), and each customer's wallet falling below its low-balance
//! threshold (`crate::monitors`), is posted as DingTalk-style JSON `{msgtype: "text", text:
//! {content}}` to its book's own webhook, signed DingTalk style (`timestamp` and `sign` added to
//! the URL: `crate::approval_webhooks`), or, for a book without one, to the deployment's
//! `KBOSS_APPROVAL_WEBHOOK_URL`, unsigned. An invariant breach the live monitors find is the
//! deployment's business, not a book's: it goes to `KBOSS_ALERT_WEBHOOK_URL` (the approval
//! webhook URL when that is unset), unsigned. A bounded queue sits between the request
//! handlers and the delivery task: enqueueing never waits (a full queue drops the notification
//! and counts it); deliveries run [`WEBHOOK_DELIVERIES_MAX`] at a time (one book's dead webhook
//! does not hold up another's), each retried with exponential backoff, and a dead webhook only
//! logs and counts. The ledger never waits on it. Redirects are not followed: a book's webhook
//! posts to the host its admin set, among those the deployment allows, and nowhere else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ledger_core::approval_policy::ApprovalLevel;
use ledger_core::ids::{ApprovalId, OrgId};
use ledger_core::{EventPayload, RecordedEvent};
use tokio::sync::{mpsc, Semaphore};

use crate::approval_webhooks::{signed_url, ApprovalWebhooks};
use crate::metrics::Metrics;

/// Attempts per notification before it is given up (and counted as failed).
pub const WEBHOOK_ATTEMPTS_MAX: u32 = 5;
pub const WEBHOOK_BACKOFF_FIRST: Duration = Duration::from_millis(200);
pub const WEBHOOK_BACKOFF_MAX: Duration = Duration::from_secs(10);
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Notifications delivered at once.
pub const WEBHOOK_DELIVERIES_MAX: usize = 16;

/// Who a message is for.
#[derive(Debug, Clone, Copy)]
enum Recipient {
    /// A book's staff: its webhook, else the deployment's approval URL.
    Book(OrgId),
    /// The deployment's operators: the alert URL, else the approval URL.
    Operators,
}

/// One message.
#[derive(Debug)]
struct Notice {
    recipient: Recipient,
    body: String,
}

#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Notice>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// A notifier with its delivery task: each book's webhook from `webhooks`, else `url`; the
    /// operators' alerts to `alert_url`, else `url`.
    pub fn start(
        url: Option<String>,
        alert_url: Option<String>,
        capacity: usize,
        metrics: Arc<Metrics>,
        webhooks: ApprovalWebhooks,
    ) -> Notifier {
        let (sender, receiver) = mpsc::channel(capacity);
        let urls = Urls { alert: alert_url.or_else(|| url.clone()), books: url };
        tokio::spawn(deliver_all(urls, receiver, metrics.clone(), webhooks));
        Notifier { queue: sender, metrics }
    }

    fn enqueue(&self, notice: Notice, what: &str) {
        if self.queue.try_send(notice).is_err() {
            tracing::warn!(what, "notifier queue full; dropped");
            self.metrics.count_webhook("dropped");
        }
    }

    /// A customer's wallet fell below its low-balance threshold: to its seller's book.
    pub fn low_balance(&self, book: OrgId, content: &str) {
        self.enqueue(Notice { recipient: Recipient::Book(book), body: message(content) }, "low-balance notice");
    }

    /// An invariant breach: to the deployment's operators.
    pub fn alert(&self, content: &str) {
        self.enqueue(Notice { recipient: Recipient::Operators, body: message(content) }, "invariant alert");
    }

    /// Enqueues a message for every approval request among the events, for every level granted
    /// below the last, and for every notice the clock decided (arrears past their due date, an
    /// auto-renewal that could not be carried out), to the book concerned.
    pub fn notify_all(&self, events: &[RecordedEvent]) {
        let routed: HashMap<ApprovalId, &[ApprovalLevel]> = events
            .iter()
            .filter_map(|event| match &event.event.payload {
                EventPayload::ApprovalRouted(routed) => Some((routed.approval_id, routed.levels.as_slice())),
                _ => None,
            })
            .collect();
        for event in events {
            if let Some(notice) = clock_notice(event) {
                self.enqueue(notice, "clock notice");
                continue;
            }
            let (approval_id, notice) = match &event.event.payload {
                EventPayload::ApprovalRequested(request) => {
                    let levels = routed.get(&request.approval_id).map_or(1, |levels| levels.len());
                    let first = routed.get(&request.approval_id).and_then(|levels| levels.first());
                    let waits = first.map_or("admin, finance".to_owned(), |roles| role_names(roles));
                    let content = format!(
                        "KBOSS approval requested: {} {} in book {} by {} (position {}); level 1 of {levels} \
                         waits for {waits}",
                        request.kind.as_str(),
                        request.approval_id,
                        request.book,
                        request.requested_by,
                        event.position,
                    );
                    (request.approval_id, Notice { recipient: Recipient::Book(request.book), body: message(&content) })
                }
                EventPayload::ApprovalLevelGranted(granted) => {
                    // A decision is taken by the book's staff: the actor's org is the book.
                    let content = format!(
                        "KBOSS approval {}: level {} granted by {} (position {}); level {} waits",
                        granted.approval_id,
                        granted.level,
                        granted.decided_by,
                        event.position,
                        granted.level + 1,
                    );
                    let recipient = Recipient::Book(event.actor.org_id);
                    (granted.approval_id, Notice { recipient, body: message(&content) })
                }
                _ => continue,
            };
            self.enqueue(notice, &format!("approval {approval_id}"));
        }
    }
}

/// What the clock decided that a person of the book must hear of (债务提醒, 续费失败), posted
/// to the book's webhook like an approval request.
fn clock_notice(event: &RecordedEvent) -> Option<Notice> {
    let (book, content) = match &event.event.payload {
        EventPayload::ArrearsOverdue(overdue) => (
            overdue.book,
            format!(
                "KBOSS arrears overdue: customer {} owes {} in book {}, due {} (position {}); no more credit until \
                 repaid",
                overdue.customer_id, overdue.amount, overdue.book, overdue.due_on, event.position
            ),
        ),
        EventPayload::AutoRenewalFailed(failed) => (
            failed.seller_id,
            format!(
                "KBOSS auto-renewal failed: order {} of customer {} in book {} ends {}: {} (needs {}, has {}; \
                 position {})",
                failed.order_id,
                failed.customer_id,
                failed.seller_id,
                failed.subscription_end,
                failed.reason,
                failed.needed,
                failed.available,
                event.position
            ),
        ),
        _ => return None,
    };
    Some(Notice { recipient: Recipient::Book(book), body: message(&content) })
}

fn role_names(roles: &ApprovalLevel) -> String {
    roles.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(", ")
}

fn message(content: &str) -> String {
    serde_json::json!({ "msgtype": "text", "text": { "content": content } }).to_string()
}

/// Where one notice goes: its book's webhook, signed, or the deployment's URL.
enum Target {
    Book { book: OrgId, url: String, secret: crate::config::Secret },
    Deployment(String),
}

/// The deployment's URLs: for books without a webhook of their own, and for the operators.
struct Urls {
    books: Option<String>,
    alert: Option<String>,
}

async fn deliver_all(
    urls: Urls,
    mut receiver: mpsc::Receiver<Notice>,
    metrics: Arc<Metrics>,
    webhooks: ApprovalWebhooks,
) {
    let client =
        match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build() {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "approval notifier cannot start its HTTP client");
                return;
            }
        };
    let deliveries = Arc::new(Semaphore::new(WEBHOOK_DELIVERIES_MAX));
    while let Some(notice) = receiver.recv().await {
        let book = match notice.recipient {
            Recipient::Book(book) => book,
            Recipient::Operators => match &urls.alert {
                Some(url) => {
                    let Ok(permit) = deliveries.clone().acquire_owned().await else { return };
                    let (client, metrics, webhooks) = (client.clone(), metrics.clone(), webhooks.clone());
                    let target = Target::Deployment(url.clone());
                    tokio::spawn(async move {
                        deliver(&client, &metrics, &webhooks, notice, target).await;
                        drop(permit);
                    });
                    continue;
                }
                None => continue,
            },
        };
        let target = match webhooks.get(book).await {
            Ok(Some(webhook)) => Target::Book { book, url: webhook.url, secret: webhook.secret },
            Ok(None) => match &urls.books {
                Some(url) => Target::Deployment(url.clone()),
                None => continue,
            },
            Err(error) => {
                tracing::warn!(%error, %book, "the book's approval webhook cannot be read; not notified");
                metrics.count_webhook("failed");
                continue;
            }
        };
        let Ok(permit) = deliveries.clone().acquire_owned().await else { return };
        let (client, metrics, webhooks) = (client.clone(), metrics.clone(), webhooks.clone());
        tokio::spawn(async move {
            deliver(&client, &metrics, &webhooks, notice, target).await;
            drop(permit);
        });
    }
}

async fn deliver(
    client: &reqwest::Client,
    metrics: &Metrics,
    webhooks: &ApprovalWebhooks,
    notice: Notice,
    target: Target,
) {
    let mut backoff = WEBHOOK_BACKOFF_FIRST;
    let mut delivered = false;
    for attempt in 1..=WEBHOOK_ATTEMPTS_MAX {
        let url = match &target {
            Target::Deployment(url) => Ok(url.clone()),
            Target::Book { book, url, secret } => {
                // Signed afresh each attempt; each timestamp signed is then spent, so the URL
                // cannot be replayed as a callback.
                let now = Utc::now().timestamp_millis();
                webhooks.first_use(*book, now, now);
                signed_url(url, secret.expose(), now)
            }
        };
        let sent = match url {
            Ok(url) => {
                client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(notice.body.clone())
                    .send()
                    .await
            }
            Err(error) => {
                tracing::warn!(%error, recipient = ?notice.recipient, "the webhook URL does not parse");
                break;
            }
        };
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
