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

/// Who appends to the log: this instance (it holds the writer's lock), or another instance it
/// names (DESIGN §4: one writer per deployment; a second instance serves reads and answers
/// writes with 503 naming the leader).
#[derive(Clone)]
pub enum WriteSide {
    Leader(WriterHandle),
    Follower { leader: String, committed: watch::Receiver<u64> },
}

impl WriteSide {
    /// The last position committed to the log, and a way to wait for the next.
    pub fn committed(&self) -> watch::Receiver<u64> {
        match self {
            WriteSide::Leader(handle) => handle.committed(),
            WriteSide::Follower { committed, .. } => committed.clone(),
        }
    }

    /// Commands waiting for this instance's writer.
    pub fn queued(&self) -> usize {
        match self {
            WriteSide::Leader(handle) => handle.queued(),
            WriteSide::Follower { .. } => 0,
        }
    }

    /// What `/readyz` says of the write side: a leader's writer health; a follower is healthy
    /// while it still follows the log (its poller runs).
    pub fn health(&self) -> &'static str {
        match self {
            WriteSide::Leader(handle) => match handle.health() {
                WriterHealth::Ready => "ready",
                WriterHealth::Recovering => "recovering",
                WriterHealth::Stopped => "stopped",
            },
            WriteSide::Follower { committed, .. } => {
                if committed.has_changed().is_ok() {
                    "following"
                } else {
                    "stopped"
                }
            }
        }
    }

    /// The writer, or a 503 naming the instance that holds it.
    pub fn handle(&self) -> Result<&WriterHandle, ApiError> {
        match self {
            WriteSide::Leader(handle) => Ok(handle),
            WriteSide::Follower { leader, .. } => Err(ApiError::Unavailable(format!(
                "this instance serves reads only; writes go to the leader: {leader}"
            ))),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub writer: WriteSide,
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
    pub relay: Option<TaskReports<u64>>,
    pub consumer: Option<TaskReports<ConsumerProgress>>,
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
        self.operations.record(operation, *self.writer.committed().borrow());
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
