//! The clock's scheduler (issue 12): every `tick_interval_ms` (`KBOSS_TICK_INTERVAL_MS`; 0: never)
//! the instance that leads sends the writer a `Tick` (`ledger_core::ClockCommand`), as the
//! deployment's own clock principal, with its time and the accounting date in the command like
//! every command. What falls due (settlement-cycle statements, unpaid orders timing out,
//! auto-renewals, expired vouchers, overdue arrears) is decided by the ledger from it and logged
//! like anything else, so a follower or a replay never acts on the clock by itself: a follower
//! skips its turn, and a replay folds what a tick decided. A tick that finds nothing due writes
//! nothing and is not an operation; one that decided something is recorded in the operation log
//! (kind `tick`, the platform's) and its notices go to the notifier.
//!
//! Module graph: a leaf over `state` (`app` spawns it, `cli` settles with it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use commands::{Committed, Request as WriterRequest, WriterHandle};
use ledger_core::decide::clock_actor;
use ledger_core::ids::OrgId;
use ledger_core::{ClockCommand, Command, CommandBody};

use crate::error::ApiError;
use crate::operation_log::Operation;
use crate::state::{AppState, SharedState};

/// The platform whose clock acts: its `super_admin` is the deployment.
pub async fn platform_of(writer: &WriterHandle) -> Result<OrgId, ApiError> {
    let platform = writer.inspect(|state| state.platform_id).await.flatten();
    platform.ok_or_else(|| ApiError::Unavailable("the writer holds no state yet".to_owned()))
}

/// The clock's command at `at` (the accounting date is the instance's today), through this
/// instance's writer; recorded and notified when it decided something.
pub async fn clock_command(state: &AppState, body: ClockCommand, at: DateTime<Utc>) -> Result<Committed, ApiError> {
    let writer = state.writer.handle()?;
    let actor = clock_actor(platform_of(&writer).await?);
    let body = CommandBody::Clock(body);
    let name = body.name();
    let command = Command { actor: actor.clone(), effective_date: state.clock.today(), at, body };
    let started = Instant::now();
    let result = writer.submit(WriterRequest { command, idempotency_key: None, correlation_id: None }).await;
    state.metrics.record_command(name, &result, started.elapsed());
    let result = result.map_err(ApiError::from);
    if result.as_ref().map_or(true, |committed| !committed.events.is_empty()) {
        state.operations.record(Operation::answered(at, &actor, name, &result), state.writer.position());
    }
    let committed = result?;
    state.notifier.notify_all(&committed.events);
    Ok(committed)
}

/// One tick now (or at `at`): what the scheduler sends, and what a test calls with the time it
/// wants.
pub async fn tick(state: &AppState, at: DateTime<Utc>) -> Result<Committed, ApiError> {
    clock_command(state, ClockCommand::Tick, at).await
}

/// The scheduler: none when `tick_interval_ms` is 0. On the leader only (a follower's turn is
/// skipped: it has no writer to send to, and the leader ticks for the deployment).
pub fn spawn(state: SharedState) -> Option<tokio::task::JoinHandle<()>> {
    let interval_ms = state.settings.tick_interval_ms;
    if interval_ms == 0 || !state.settings.role.writes() {
        return None;
    }
    let state = Arc::clone(&state);
    Some(tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(interval_ms));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick of an interval is at once: the first clock tick waits one interval.
        interval.tick().await;
        loop {
            interval.tick().await;
            if !state.writer.is_leader() {
                continue;
            }
            match tick(&state, Utc::now()).await {
                Ok(committed) if !committed.events.is_empty() => {
                    tracing::info!(events = committed.events.len(), position = committed.position, "clock tick");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "clock tick not decided; the next one tries again"),
            }
        }
    }))
}
