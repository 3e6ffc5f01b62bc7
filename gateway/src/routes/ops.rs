//! Operations: liveness, readiness, Prometheus metrics. No token needed. (The OpenAPI document,
//! `/openapi.json`, is served by [`crate::openapi`], which lists these routes.)

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use event_log::LogRead;

use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "up")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` found, part by part.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// A leader's writer: `ready`, `recovering` (reloading its state after a failed append),
    /// `stopped` or `fenced` (another instance took the lease); a follower: `following` (a live
    /// lease names a leader) or `no_leader` (no instance writes now).
    pub writer: &'static str,
    /// The instance that holds the writer's lease (server mode), as it named itself.
    pub leader: Option<String>,
    /// What this process does: `embedded`, or the server-mode role (`all`, `writer`,
    /// `projector`, `api`).
    pub role: &'static str,
    /// `running` while every background task runs (the read models' runner or NATS consumer, and
    /// a follower's log poller), else `stopped`.
    pub read_models: &'static str,
    /// The log's last position, when the log answered.
    pub log_position: Option<u64>,
    /// The read models' position, when the read store answered.
    pub read_position: Option<u64>,
    /// How far the read models may trail the log before this instance is not ready.
    pub read_lag_max: u64,
}

/// 200 when the write side works (a leader's writer is `ready`: not `recovering` after a failed
/// append, not `stopped` or `fenced`; a follower sees a live lease: some instance writes), every
/// background task runs (the read models' runner or NATS consumer, the log's poller, the lease
/// watcher), the log and the read store answer their positions, and the read models trail the
/// log by at most `ready_lag_max` events; otherwise 503 with `Retry-After` and the same body,
/// which says what failed.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = Readiness),
        (status = 503, description = "the write side, a background task, the log or the read store is not working", body = Readiness)))]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let log_position = state.with_log(|log| log.last_position()).await.ok();
    let read_position = state.read.position().await.ok();
    let writer = state.writer.health();
    let read_models =
        if state.background.iter().any(tokio::task::AbortHandle::is_finished) { "stopped" } else { "running" };
    let read_lag_max = state.settings.ready_lag_max;
    let caught_up = match (log_position, read_position) {
        (Some(log), Some(read)) => log.saturating_sub(read) <= read_lag_max,
        _ => false,
    };
    let ready = matches!(writer, "ready" | "following") && read_models == "running" && caught_up;
    let status = if ready { "ready" } else { "not_ready" };
    let leader = state.writer.lease().map(|lease| lease.holder);
    let role = if state.settings.database_url.is_some() { state.settings.role.name() } else { "embedded" };
    let body = Json(Readiness { status, writer, leader, role, read_models, log_position, read_position, read_lag_max });
    if ready {
        (StatusCode::OK, body).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], body).into_response()
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<SharedState>) -> Response {
    // Every metric (`crate::metrics` lists them); positions, lags and file sizes are read now.
    let metrics = &state.metrics;
    // The checkpoints before the committed position: a lag is never under-reported.
    let checkpoints = state.read.checkpoints().await.ok();
    let committed = state.writer.position();
    metrics.observe_writer(state.writer.queued(), committed);
    metrics.observe_read_models(checkpoints.as_deref(), committed);
    let relay = state.relay.lock().expect("relay reports lock").clone();
    if let Some(relay) = &relay {
        metrics.observe_relay(relay, committed);
    }
    if let Some(consumer) = &state.consumer {
        metrics.observe_consumer(consumer);
    }
    if state.settings.database_url.is_none() {
        let data_dir = &state.settings.data_dir;
        let log = event_log::sqlite::DATABASE_FILE;
        let read_models = projections::backend::sqlite::DATABASE_FILE;
        let operations = crate::operation_log::DATABASE_FILE;
        for (file, name) in [
            ("log", log.to_owned()),
            ("log_wal", format!("{log}-wal")),
            ("read_models", read_models.to_owned()),
            ("read_models_wal", format!("{read_models}-wal")),
            ("operation_log", operations.to_owned()),
            ("operation_log_wal", format!("{operations}-wal")),
        ] {
            // A WAL that does not exist (checkpointed and truncated, or not opened yet) is 0 bytes.
            let bytes = std::fs::metadata(data_dir.join(name)).map_or(0, |metadata| metadata.len());
            metrics.store_bytes.get_or_create(&crate::metrics::FileLabels { file }).set(bytes as i64);
        }
    }
    let text = metrics.render();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}
