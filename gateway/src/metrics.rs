//! Prometheus metrics (`/metrics`, OpenMetrics text), what an operator builds a dashboard from
//! (`ops/deploy/grafana/kboss-ledger.json` is one):
//!
//! - HTTP: requests by method, route template (axum's matched path, `/v1/orders/{id}`; never the
//!   raw path, so ids never become labels; `unmatched` for a request no route took) and status,
//!   and their latency by method and route ([`record_http`], a layer on every route).
//! - Commands: answers by command and outcome, latency by command, domain refusals by command
//!   and stable error code, approval decisions (granted, a level granted below the last,
//!   rejected) counted apart from refusals.
//! - The writer: queue depth, committed position, and per durable batch its commands, events
//!   and append time (the store's append and commit), through [`commands::BatchObserver`].
//! - The read side: each projection's position and lag, the lowest (`read_position`) and its
//!   lag; in server mode the relay's published position and lag, and the JetStream consumer's.
//! - The process: `kboss_build_info{version, mode}` and the start time; embedded, the bytes of
//!   each store file and its write-ahead log; the approval webhook and payment notifications.
//! - The operation log: operations recorded, dropped (its queue was full), failed (its store
//!   refused the write) and pruned (past their retention).
//! - The live invariant monitors (`crate::monitors`): breaches found by invariant, those open
//!   now, the position checked through, low-balance notices.
//!
//! Every label takes its values from a bounded set: command names, `DomainError` codes,
//! projection names, route templates, status codes, standard methods (`_OTHER` for the rest).
//!
//! A value this instance does not know is never shown as a number: a gauge whose source has not
//! reported yet is absent ([`KnownGauge`]; the relay's and consumer's gauges exist only in server
//! mode, and only once each task has reported), and one whose source stops answering (the read
//! store down, the relay or consumer failing) keeps its last known value while its `_up` gauge
//! (`kboss_read_models_up`, `kboss_relay_up`, `kboss_consumer_up`) says 0. Rationale: a lag
//! that fell to 0 because the read store went away would read as "caught up"; a series that
//! vanished would hide where things stood when they stopped.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use commands::{AppendedBatch, BatchObserver, CommandError, Committed};
use event_log::TaskReports;
use ledger_core::EventPayload;
use projections::ConsumerProgress;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// The `route` of a request no route matched (the 404 fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub command: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandNameLabels {
    pub command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub command: &'static str,
    /// `DomainError::code()`.
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `granted` (the last level: carried out), `level_granted` (a level below it) or `rejected`.
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectionLabels {
    pub projection: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
    /// `embedded`, `server` or `follower`.
    pub mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FileLabels {
    pub file: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InvariantLabels {
    /// `ledger_core::invariants::Watched::INVARIANTS`.
    pub invariant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// A gauge that is absent from the exposition until it is first set: a value not known yet is
/// never shown as 0. Once set, it keeps its last value.
#[derive(Clone, Debug, Default)]
pub struct KnownGauge {
    value: Arc<AtomicI64>,
    known: Arc<AtomicBool>,
}

impl KnownGauge {
    pub fn set(&self, value: i64) {
        self.value.store(value, Ordering::Relaxed);
        self.known.store(true, Ordering::Release);
    }

    /// The value, once set.
    pub fn get(&self) -> Option<i64> {
        self.known.load(Ordering::Acquire).then(|| self.value.load(Ordering::Relaxed))
    }
}

impl TypedMetric for KnownGauge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for KnownGauge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        match self.get() {
            Some(value) => encoder.encode_gauge(&value),
            None => Ok(()),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 250 µs .. ~8 s: an idle API answers in about a millisecond; a read may wait seconds for
/// `min_position`.
fn http_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// 50 µs .. ~1.6 s: group commit answers in well under a millisecond when idle.
fn command_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_request_seconds: HistogramFamily<RouteLabels>,
    commands: Family<CommandLabels, Counter>,
    command_seconds: HistogramFamily<CommandNameLabels>,
    command_refusals: Family<RefusalLabels, Counter>,
    approval_decisions: Family<DecisionLabels, Counter>,
    queue_depth: Gauge,
    committed_position: Gauge,
    batch_commands: Histogram,
    batch_events: Histogram,
    append_seconds: Histogram,
    read_models_up: Gauge,
    read_position: KnownGauge,
    read_lag: KnownGauge,
    projection_position: Family<ProjectionLabels, Gauge>,
    projection_lag: Family<ProjectionLabels, Gauge>,
    relay_up: KnownGauge,
    relay_published_position: KnownGauge,
    relay_lag: KnownGauge,
    consumer_up: KnownGauge,
    consumer_position: KnownGauge,
    consumer_lag: KnownGauge,
    build_info: Family<BuildLabels, Gauge>,
    webhook: Family<OutcomeLabels, Counter>,
    payment_notifications: Family<OutcomeLabels, Counter<u64, AtomicU64>>,
    operation_log: Family<OutcomeLabels, Counter>,
    invariant_breaches: Family<InvariantLabels, Counter>,
    invariant_breaches_open: Family<InvariantLabels, Gauge>,
    monitor_position: KnownGauge,
    low_balance_notices: Counter,
    /// Embedded mode: the size of each store file and its write-ahead log.
    pub store_bytes: Family<FileLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered under the prefix `kboss`; the start time is now.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kboss");
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_request_seconds = Family::new_with_constructor(http_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response's head, by method and route template",
            http_request_seconds.clone(),
        );
        let commands = Family::default();
        registry.register("commands", "Commands answered, by command and outcome", commands.clone());
        let command_seconds = Family::new_with_constructor(command_histogram as fn() -> Histogram);
        registry.register(
            "command_duration_seconds",
            "Time from a command's submission to the writer to its answer, by command",
            command_seconds.clone(),
        );
        let command_refusals = Family::default();
        registry.register(
            "command_refusals",
            "Commands the domain refused (outcome refused), by command and stable error code",
            command_refusals.clone(),
        );
        let approval_decisions = Family::default();
        registry.register(
            "approval_decisions",
            "Approval requests decided (granted or rejected by an approver): decisions, not refusals",
            approval_decisions.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register("writer_queue_depth", "Commands waiting for the writer", queue_depth.clone());
        let committed_position = Gauge::default();
        registry.register("writer_committed_position", "Last position committed", committed_position.clone());
        let batch_commands = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register("writer_batch_commands", "Commands per durable batch", batch_commands.clone());
        let batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        registry.register("writer_batch_events", "Events appended per durable batch", batch_events.clone());
        // 100 µs .. ~3.3 s: an fsync or a PostgreSQL commit takes a millisecond or a few.
        let append_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        registry.register(
            "writer_append_seconds",
            "Time the store took to append and commit a batch (fsync in SQLite, commit in PostgreSQL)",
            append_seconds.clone(),
        );
        let read_models_up = Gauge::default();
        registry.register(
            "read_models_up",
            "1 when the read store answered this scrape; 0 and the read-side gauges keep their last values otherwise",
            read_models_up.clone(),
        );
        let read_position = KnownGauge::default();
        registry.register("read_position", "Lowest checkpoint over the read models", read_position.clone());
        let read_lag = KnownGauge::default();
        registry.register("read_lag_events", "Committed position minus read position", read_lag.clone());
        let projection_position = Family::default();
        registry.register("projection_position", "Each projection's checkpoint", projection_position.clone());
        let projection_lag = Family::default();
        registry.register(
            "projection_lag_events",
            "Committed position minus each projection's checkpoint",
            projection_lag.clone(),
        );
        let relay_up = KnownGauge::default();
        registry.register(
            "relay_up",
            "Server-mode leader: 1 while the relay runs, is synced with the stream and its last step succeeded",
            relay_up.clone(),
        );
        let relay_published_position = KnownGauge::default();
        registry.register(
            "relay_published_position",
            "The last position JetStream acknowledged from the relay",
            relay_published_position.clone(),
        );
        let relay_lag = KnownGauge::default();
        registry.register("relay_lag_events", "Committed position minus published position", relay_lag.clone());
        let consumer_up = KnownGauge::default();
        registry.register(
            "consumer_up",
            "Server mode: 1 while the JetStream consumer runs and its last session step succeeded",
            consumer_up.clone(),
        );
        let consumer_position = KnownGauge::default();
        registry.register(
            "consumer_position",
            "The read models' position as the JetStream consumer last applied it",
            consumer_position.clone(),
        );
        let consumer_lag = KnownGauge::default();
        registry.register(
            "consumer_lag_events",
            "Highest stream sequence the consumer knows of minus what it has applied",
            consumer_lag.clone(),
        );
        let build_info = Family::default();
        registry.register(
            "build_info",
            "1, labelled with the version and the mode of this instance",
            build_info.clone(),
        );
        let start_time = Gauge::<f64, AtomicU64>::default();
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        start_time.set(now.as_secs_f64());
        registry.register("start_time_seconds", "When this instance started, in Unix seconds", start_time);
        let webhook = Family::default();
        registry.register("approval_webhook", "Approval notifications, by outcome", webhook.clone());
        let payment_notifications = Family::default();
        registry.register("payment_notifications", "Payment notifications, by outcome", payment_notifications.clone());
        let operation_log = Family::default();
        registry.register(
            "operation_log",
            "Operations (commands answered) by what became of them in the operation log: recorded, dropped (queue \
             full), failed (the store refused the write), pruned (refused or failed, past their retention)",
            operation_log.clone(),
        );
        let invariant_breaches = Family::default();
        registry.register(
            "invariant_breaches",
            "Invariant breaches the live monitors found (each once, when it broke), by invariant",
            invariant_breaches.clone(),
        );
        let invariant_breaches_open = Family::default();
        registry.register(
            "invariant_breaches_open",
            "Invariant breaches the live monitors see now (not healed since), by invariant",
            invariant_breaches_open.clone(),
        );
        let monitor_position = KnownGauge::default();
        registry.register(
            "monitor_position",
            "The last log position the live invariant monitors checked",
            monitor_position.clone(),
        );
        let low_balance_notices = Counter::default();
        registry.register(
            "low_balance_notices",
            "Low-balance notices sent: customers' wallets falling below their thresholds",
            low_balance_notices.clone(),
        );
        let store_bytes = Family::default();
        registry.register(
            "store_bytes",
            "Embedded mode: bytes of the log and read-model files and of their write-ahead logs",
            store_bytes.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_request_seconds,
            commands,
            command_seconds,
            command_refusals,
            approval_decisions,
            queue_depth,
            committed_position,
            batch_commands,
            batch_events,
            append_seconds,
            read_models_up,
            read_position,
            read_lag,
            projection_position,
            projection_lag,
            relay_up,
            relay_published_position,
            relay_lag,
            consumer_up,
            consumer_position,
            consumer_lag,
            build_info,
            webhook,
            payment_notifications,
            operation_log,
            invariant_breaches,
            invariant_breaches_open,
            monitor_position,
            low_balance_notices,
            store_bytes,
        }
    }

    /// A breach the monitors found (`invariant` is one of `Watched::INVARIANTS`).
    pub fn count_breach(&self, invariant: &'static str) {
        self.invariant_breaches.get_or_create(&InvariantLabels { invariant }).inc();
    }

    /// The breaches open now, by invariant: every invariant, 0 where none is broken.
    pub fn set_open_breaches(&self, open: &std::collections::BTreeMap<&'static str, i64>) {
        for invariant in ledger_core::invariants::Watched::INVARIANTS {
            let count = open.get(invariant).copied().unwrap_or(0);
            self.invariant_breaches_open.get_or_create(&InvariantLabels { invariant }).set(count);
        }
    }

    pub fn set_monitor_position(&self, position: u64) {
        self.monitor_position.set(i64::try_from(position).unwrap_or(i64::MAX));
    }

    pub fn count_low_balance_notice(&self) {
        self.low_balance_notices.inc();
    }

    /// `kboss_build_info{version, mode} 1`, once the mode is known (after the store is opened).
    pub fn set_build_info(&self, mode: &'static str) {
        self.build_info.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), mode }).set(1);
    }

    /// One HTTP answer: `route` is the matched route's template, or [`UNMATCHED_ROUTE`].
    pub fn record_http(&self, method: &axum::http::Method, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let route = route.to_owned();
        self.http_request_seconds
            .get_or_create(&RouteLabels { method, route: route.clone() })
            .observe(elapsed.as_secs_f64());
        self.http_requests.get_or_create(&HttpLabels { method, route, status }).inc();
    }

    /// One command's answer: its outcome and latency; a refusal by its code; an approval
    /// decision it committed.
    pub fn record_command(&self, command: &'static str, result: &Result<Committed, CommandError>, elapsed: Duration) {
        let outcome = match result {
            Ok(committed) if committed.replayed => "replayed",
            Ok(_) => "committed",
            Err(CommandError::Rejected(_)) => "refused",
            Err(CommandError::IdempotencyConflict) => "conflict",
            Err(CommandError::Overloaded) => "overloaded",
            Err(CommandError::Unavailable(_)) | Err(CommandError::Stopped) => "unavailable",
            Err(CommandError::Internal(_)) => "internal",
        };
        self.commands.get_or_create(&CommandLabels { command, outcome }).inc();
        self.command_seconds.get_or_create(&CommandNameLabels { command }).observe(elapsed.as_secs_f64());
        match result {
            Err(CommandError::Rejected(error)) => {
                self.command_refusals.get_or_create(&RefusalLabels { command, code: error.code() }).inc();
            }
            // A replay decides nothing again: the decision was counted when it was committed.
            Ok(committed) if !committed.replayed => {
                for event in &committed.events {
                    let decision = match event.event.payload {
                        EventPayload::ApprovalGranted(_) => "granted",
                        EventPayload::ApprovalLevelGranted(_) => "level_granted",
                        EventPayload::ApprovalRejected(_) => "rejected",
                        _ => continue,
                    };
                    self.approval_decisions.get_or_create(&DecisionLabels { decision }).inc();
                }
            }
            _ => {}
        }
    }

    pub fn count_webhook(&self, outcome: &'static str) {
        self.webhook.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn count_payment(&self, outcome: &'static str) {
        self.payment_notifications.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// `count` operations `recorded`, `dropped`, `failed` or `pruned` in the operation log.
    pub fn count_operations(&self, outcome: &'static str, count: u64) {
        self.operation_log.get_or_create(&OutcomeLabels { outcome }).inc_by(count);
    }

    /// The write side at scrape time.
    pub fn observe_writer(&self, queue_depth: usize, committed: u64) {
        self.queue_depth.set(queue_depth as i64);
        self.committed_position.set(committed as i64);
    }

    /// The read models at scrape time: each projection's checkpoint, or `None` when the read
    /// store did not answer (the gauges keep their last values, `read_models_up` is 0).
    /// `committed` is read after the checkpoints, so a lag is never under-reported.
    pub fn observe_read_models(&self, checkpoints: Option<&[(&'static str, u64)]>, committed: u64) {
        let Some(checkpoints) = checkpoints else {
            self.read_models_up.set(0);
            return;
        };
        self.read_models_up.set(1);
        for &(projection, position) in checkpoints {
            let labels = ProjectionLabels { projection };
            self.projection_position.get_or_create(&labels).set(position as i64);
            self.projection_lag.get_or_create(&labels).set(committed.saturating_sub(position) as i64);
        }
        if let Some(lowest) = checkpoints.iter().map(|(_, position)| *position).min() {
            self.read_position.set(lowest as i64);
            self.read_lag.set(committed.saturating_sub(lowest) as i64);
        }
    }

    /// The relay (server mode, on the leader) at scrape time: its gauges appear once it has
    /// synced with the stream.
    pub fn observe_relay(&self, relay: &TaskReports<u64>, committed: u64) {
        self.relay_up.set(i64::from(relay.working()));
        if let Some(published) = relay.progress() {
            self.relay_published_position.set(published as i64);
            self.relay_lag.set(committed.saturating_sub(published) as i64);
        }
    }

    /// The JetStream consumer (server mode) at scrape time: its gauges appear once it has
    /// started a session.
    pub fn observe_consumer(&self, consumer: &TaskReports<ConsumerProgress>) {
        self.consumer_up.set(i64::from(consumer.working()));
        if let Some(progress) = consumer.progress() {
            self.consumer_position.set(progress.applied as i64);
            self.consumer_lag.set(progress.lag() as i64);
        }
    }

    /// The text exposition format of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

impl BatchObserver for Metrics {
    fn batch_appended(&self, batch: &AppendedBatch) {
        self.batch_commands.observe(batch.commands as f64);
        self.batch_events.observe(batch.events as f64);
        if let Some(append) = batch.append {
            self.append_seconds.observe(append.as_secs_f64());
        }
    }
}

/// The standard methods by name, anything else as one value: a client cannot add label values.
/// (`_OTHER` is OpenTelemetry's name for it.)
fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "_OTHER",
    }
}

/// The layer on every route (and the fallback) that counts and times each answer by its route
/// template. A scrape of `/metrics` is counted too (route `/metrics`), after its own text is
/// rendered: it shows in the next scrape, and a dashboard leaves the operations routes out of
/// the API's rate and latency.
pub async fn record_http(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    metrics.record_http(&method, route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines().find(|line| line.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
    }

    #[test]
    fn a_gauge_not_known_yet_is_absent_and_a_read_store_that_stops_answering_keeps_the_last_values() {
        let metrics = Metrics::new();
        let text = metrics.render();
        assert!(text.contains("# TYPE kboss_read_position gauge"), "the family is described: {text}");
        assert_eq!(line(&text, "kboss_read_position"), None, "no value before the read store answered");
        assert_eq!(line(&text, "kboss_relay_up"), None, "no relay in this process");

        metrics.observe_read_models(Some(&[("orgs", 7), ("journal", 5)]), 9);
        let text = metrics.render();
        assert_eq!(line(&text, "kboss_read_models_up"), Some("kboss_read_models_up 1"));
        assert_eq!(line(&text, "kboss_read_position"), Some("kboss_read_position 5"));
        assert_eq!(line(&text, "kboss_read_lag_events"), Some("kboss_read_lag_events 4"));
        let journal_lag = "kboss_projection_lag_events{projection=\"journal\"}";
        assert_eq!(line(&text, journal_lag), Some(format!("{journal_lag} 4").as_str()));

        // The read store is down and the log moves on: the last values stay, marked not up.
        metrics.observe_read_models(None, 20);
        let text = metrics.render();
        assert_eq!(line(&text, "kboss_read_models_up"), Some("kboss_read_models_up 0"));
        assert_eq!(line(&text, "kboss_read_lag_events"), Some("kboss_read_lag_events 4"));
        assert_eq!(line(&text, journal_lag), Some(format!("{journal_lag} 4").as_str()));
    }

    #[test]
    fn a_method_outside_the_standard_ones_is_one_label_value() {
        let metrics = Metrics::new();
        let custom = axum::http::Method::from_bytes(b"BREW").unwrap();
        metrics.record_http(&custom, UNMATCHED_ROUTE, 404, Duration::ZERO);
        let text = metrics.render();
        let series = "kboss_http_requests_total{method=\"_OTHER\",route=\"unmatched\",status=\"404\"}";
        assert_eq!(line(&text, series), Some(format!("{series} 1").as_str()));
        assert!(!text.contains("BREW"));
    }
}
