//! What every handler shares, [`AppState`], and the one path of a command through the gateway:
//! [`AppState::execute`] builds the `Command`, submits it through the writer, records the outcome
//! in the metrics, the operation log and the approval notifier, and answers the writer's
//! [`Committed`]; a handler then takes the event its answer is made of with
//! [`CommittedEvents::event`].
//!
//! Module graph: `app` → `routes` → `state` → the leaves (`approval_webhooks`, `auth`, `config`,
//! `error`, `metrics`, `notifier`, `operation_log`). Nothing here knows of `app` or `routes`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use commands::{Committed, IdempotencyKey, Request as WriterRequest};
use commands::{WriterHandle, WriterHealth};
use event_log::postgres::LeaseView;
use event_log::{AnyReader, AsyncLog, StoreError, TaskReports};
use ledger_core::org::Actor;
use ledger_core::{Command, CommandBody, EventPayload};
use projections::{ConsumerProgress, ReadModels};
use rsa::RsaPublicKey;
use tokio::sync::watch;

use crate::approval_webhooks::ApprovalWebhooks;
use crate::auth::{Caller, TokenCache, WrittenPositions};
use crate::config::{Clock, Settings};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::notifier::Notifier;
use crate::operation_log::{Operation, OperationLog, Origin};

/// Who appends to the log, as this instance knows it now: its own writer (it holds the
/// writer's lease), or the leader the lease names (DESIGN §4: one writer per deployment). In
/// server mode it changes while serving (`crate::leadership`): a follower that wins the lease
/// leads; a leader that is fenced follows. Shared by the handlers and the tasks that change it.
pub struct WriteSide {
    current: std::sync::RwLock<Option<WriterHandle>>,
    /// The log's last committed position as this instance knows it: its writer's, or what its
    /// poller read. Never goes back (one sender, fed by whichever source is ahead).
    committed: Arc<watch::Sender<u64>>,
    /// The writer's lease as last read (server mode; `None` embedded or before the first read).
    lease: std::sync::RwLock<Option<LeaseView>>,
}

impl WriteSide {
    /// No writer yet: a follower (server mode) until [`WriteSide::lead`].
    pub fn following() -> WriteSide {
        WriteSide {
            current: std::sync::RwLock::new(None),
            committed: Arc::new(watch::channel(0).0),
            lease: std::sync::RwLock::new(None),
        }
    }

    /// This instance's writer decides from now on; its committed positions feed
    /// [`WriteSide::committed`] (a task follows them until the writer stops).
    pub fn lead(&self, writer: WriterHandle) {
        let mut positions = writer.committed();
        let committed = self.committed.clone();
        committed.send_if_modified(|seen| advance(seen, *positions.borrow_and_update()));
        tokio::spawn(async move {
            while positions.changed().await.is_ok() {
                let position = *positions.borrow_and_update();
                committed.send_if_modified(|seen| advance(seen, position));
            }
        });
        *self.current.write().expect("write side lock") = Some(writer);
    }

    /// This instance's writer no longer decides (fenced, or stopping): writes go to the leader.
    pub fn follow(&self) {
        *self.current.write().expect("write side lock") = None;
    }

    /// This instance's writer, when it leads.
    pub fn writer(&self) -> Option<WriterHandle> {
        self.current.read().expect("write side lock").clone()
    }

    pub fn is_leader(&self) -> bool {
        self.current.read().expect("write side lock").is_some()
    }

    /// The log's last committed position, and a way to wait for the next.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// The log's last committed position as this instance knows it now: its own writer's
    /// (read at once, not through the task that feeds [`WriteSide::committed`]) or the polled one.
    pub fn position(&self) -> u64 {
        let known = *self.committed.borrow();
        self.writer().map_or(known, |writer| known.max(*writer.committed().borrow()))
    }

    /// A position the log is known to hold (a follower's poller reads them).
    pub fn observe_committed(&self, position: u64) {
        self.committed.send_if_modified(|seen| advance(seen, position));
    }

    /// The writer's lease as last read.
    pub fn lease(&self) -> Option<LeaseView> {
        self.lease.read().expect("lease lock").clone()
    }

    pub fn set_lease(&self, lease: Option<LeaseView>) {
        *self.lease.write().expect("lease lock") = lease;
    }

    /// Where the leader takes forwarded writes: the lease's URL, while the lease is live and
    /// another instance holds it.
    pub fn leader_url(&self) -> Option<String> {
        if self.is_leader() {
            return None;
        }
        self.lease().filter(|lease| lease.live).and_then(|lease| lease.url)
    }

    /// Commands waiting for this instance's writer.
    pub fn queued(&self) -> usize {
        self.writer().map_or(0, |writer| writer.queued())
    }

    /// What `/readyz` says of the write side: a leader's writer health (`ready`, `recovering`,
    /// `stopped`, `fenced`); a follower `following` while a live lease names a leader
    /// somewhere, `no_leader` while none does.
    pub fn health(&self) -> &'static str {
        match self.writer() {
            Some(writer) => match writer.health() {
                WriterHealth::Ready => "ready",
                WriterHealth::Recovering => "recovering",
                WriterHealth::Stopped => "stopped",
                WriterHealth::Fenced => "fenced",
            },
            None if self.lease().is_some_and(|lease| lease.live) => "following",
            None => "no_leader",
        }
    }

    /// The writer, or a 503 naming the current leader (read from the lease, not the one at
    /// start), or saying that no instance leads now.
    pub fn handle(&self) -> Result<WriterHandle, ApiError> {
        if let Some(writer) = self.writer() {
            return Ok(writer);
        }
        Err(ApiError::Unavailable(match self.lease() {
            Some(lease) if lease.live => {
                let at = lease.url.map(|url| format!(" at {url}")).unwrap_or_default();
                format!("this instance does not write; the leader is {}{at}", lease.holder)
            }
            _ => "no instance holds the writer's lease right now; retry shortly".to_owned(),
        }))
    }
}

/// Moves `seen` up to `position`; true when it moved.
fn advance(seen: &mut u64, position: u64) -> bool {
    let moved = position > *seen;
    *seen = position.max(*seen);
    moved
}

/// What every handler shares.
pub struct AppState {
    pub writer: Arc<WriteSide>,
    pub read: ReadModels,
    /// The gateway's own connection to the log (`/v1/events/{position}`, `/readyz`).
    pub log: AsyncLog<AnyReader>,
    pub settings: Arc<Settings>,
    pub tokens: TokenCache,
    /// Each token's last committed position here: its next request waits for it.
    pub written: WrittenPositions,
    pub metrics: Arc<Metrics>,
    pub notifier: Notifier,
    /// Each book's approval webhook (URL and secret), in the gateway's own store.
    pub webhooks: ApprovalWebhooks,
    /// Every command answered, accepted or refused (`crate::operation_log`).
    pub operations: OperationLog,
    pub clock: Clock,
    pub payment_keys: BTreeMap<String, RsaPublicKey>,
    /// The background tasks that keep the read models (and a follower's view of the log)
    /// current: one that has ended makes the instance not ready.
    pub background: Vec<tokio::task::AbortHandle>,
    /// What server mode's tasks report, for `/metrics`: the relay (on the leader only) and
    /// the JetStream consumer; `None` where they do not run.
    pub relay: Arc<std::sync::Mutex<Option<TaskReports<u64>>>>,
    pub consumer: Option<TaskReports<ConsumerProgress>>,
    /// The deployment's key, which signs close certificates (`crate::audit`).
    pub audit_key: Arc<crate::audit::AuditKey>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Runs a read on the gateway's log connection.
    pub async fn with_log<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut AnyReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.log.call(read).await.map_err(|error| {
            tracing::warn!(%error, "log read failed");
            ApiError::Unavailable("the log is unavailable; retry shortly".to_owned())
        })
    }

    /// `body` as `actor`'s command, booked on today's accounting date at the current time.
    pub fn command(&self, actor: &Actor, body: CommandBody) -> Command {
        Command { actor: actor.clone(), effective_date: self.clock.today(), at: Utc::now(), body }
    }

    /// The command pipeline: builds the caller's command, submits it through the writer and
    /// records the outcome in the metrics, the operation log (with the request's id and client,
    /// [`Origin::current`]) and the approval notifier.
    #[tracing::instrument(skip(self, caller, key, body), fields(command))]
    pub async fn execute(
        &self,
        caller: &Caller,
        key: &Option<IdempotencyKey>,
        body: CommandBody,
    ) -> Result<Committed, ApiError> {
        let command_name = body.name();
        tracing::Span::current().record("command", command_name);
        let command = self.command(&caller.actor, body);
        let at = command.at;
        let result = self.submit(command_name, command, key).await;
        // The person behind the token (none only for a token issued before users).
        let mut operation =
            Operation::answered(at, &caller.actor, command_name, &result).from_origin(Origin::current());
        operation.user_id = caller.user_id.map(|user| user.0);
        self.operations.record(operation, self.writer.position());
        let committed = result?;
        self.written.wrote(caller.token_id(), committed.position, self.read.applied());
        if !committed.replayed {
            self.notifier.notify_all(&committed.events);
        }
        Ok(committed)
    }

    /// Submits a command through this instance's writer (a follower's answer is a 503 naming
    /// the leader) and counts its outcome and latency.
    async fn submit(
        &self,
        command_name: &'static str,
        command: Command,
        key: &Option<IdempotencyKey>,
    ) -> Result<Committed, ApiError> {
        let writer = self.writer.handle()?;
        let request = WriterRequest { command, idempotency_key: key.clone(), correlation_id: None };
        let started = Instant::now();
        let result = writer.submit(request).await;
        self.metrics.record_command(command_name, &result, started.elapsed());
        Ok(result?)
    }
}

/// The payload type of one event type: how to find it among a command's events.
pub trait Payload: Sized {
    /// The event type (`EventPayload`'s variant) that carries this payload.
    const EVENT_TYPE: &'static str;

    fn of(payload: &EventPayload) -> Option<&Self>;
}

/// One `Payload` impl per event type whose payload an answer is made of; the type's name is the
/// variant's (`EventPayload::OrderPlaced(OrderPlaced)`).
macro_rules! payloads {
    ($($variant:ident),* $(,)?) => {
        $(
            impl Payload for ledger_core::event::$variant {
                const EVENT_TYPE: &'static str = stringify!($variant);

                fn of(payload: &EventPayload) -> Option<&Self> {
                    match payload {
                        EventPayload::$variant(payload) => Some(payload),
                        _ => None,
                    }
                }
            }
        )*
    };
}

payloads!(
    LowBalanceThresholdSet,
    ReconciliationRecorded,
    ApprovalLevelGranted,
    ApprovalPolicySet,
    ApprovalRequested,
    CouponGranted,
    OrderPlaced,
    OrderRefunded,
    OrgOpened,
    PeriodClosed,
    SerialCodesIssued,
    SettlementStatementIssued,
    SubscriptionRenewed,
    TokenIssued,
    TokenRevoked,
    RoleDefined,
    CustomerOwnerSet,
    UsageCharged,
    UserCreated,
    VoucherExpired,
    VoucherGranted,
    WithdrawalPaid,
    WithdrawalRequested,
    OrgProfileUpdated,
    OrgClosed,
    OrgReopened,
    CustomerTransferred,
    SerialExpirySet,
    SupplierTermsSet,
    ProductUpdated,
    ListPriceScheduled,
    ManualEntryBooked,
    SaleModeSet,
    SaleModeScheduled,
    PostingRulesSet,
    InvoiceRequested,
    InvoiceRedLettered,
    ExchangeRateSet,
);

/// The events a committed command appended, by payload type.
pub trait CommittedEvents {
    /// The payload of the first `E` event, if the command appended one.
    fn find<E: Payload>(&self) -> Option<&E>;

    /// The payload of the first `E` event. A command whose answer needs one and did not book it
    /// is a programmer error: a logged 500, never a guess.
    fn event<E: Payload>(&self) -> Result<&E, ApiError>;
}

impl CommittedEvents for Committed {
    fn find<E: Payload>(&self) -> Option<&E> {
        self.events.iter().find_map(|event| E::of(&event.event.payload))
    }

    fn event<E: Payload>(&self) -> Result<&E, ApiError> {
        self.find().ok_or_else(|| ApiError::Internal(format!("the command committed no {}", E::EVENT_TYPE)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use ledger_core::event::{OrderPlaced, OrgOpened};
    use ledger_core::testing::{MemoryLedger, WorkedExample};

    use super::*;

    #[test]
    fn an_answer_takes_its_event_by_type_and_a_missing_one_is_a_500() {
        let world = WorkedExample::without_ledger();
        let mut ledger = MemoryLedger::default();
        let (actor, body) = world.setup_commands().into_iter().next().expect("the world's first command");
        let events = ledger.execute(&actor, body).expect("the platform opens");
        let committed = Committed { position: events.len() as u64, events, replayed: false };
        assert_eq!(committed.event::<OrgOpened>().map(|opened| opened.org.id).ok(), Some(world.platform));
        assert!(committed.find::<OrderPlaced>().is_none());
        let missing = committed.event::<OrderPlaced>().err().expect("no order was placed");
        assert_eq!((missing.status(), missing.code()), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        assert!(missing.to_string().contains("OrderPlaced"));
    }
}
