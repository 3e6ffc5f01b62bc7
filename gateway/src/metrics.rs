//! Prometheus metrics (`/metrics`): commands by outcome, command latency, the writer's queue
//! depth, projection lag (writer's committed position − read models' position) and the
//! approval notifier's deliveries.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use commands::{CommandError, Committed};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub command: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FileLabels {
    pub file: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    commands: Family<CommandLabels, Counter>,
    command_seconds: Histogram,
    pub queue_depth: Gauge,
    pub committed_position: Gauge,
    pub read_position: Gauge,
    pub projection_lag: Gauge,
    pub webhook: Family<OutcomeLabels, Counter>,
    pub payment_notifications: Family<OutcomeLabels, Counter<u64, AtomicU64>>,
    /// Embedded mode: the size of each store file and its write-ahead log.
    pub store_bytes: Family<FileLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kboss");
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register("commands", "Commands answered, by command and outcome", commands.clone());
        // 50 µs .. ~1.6 s: group commit answers in well under a millisecond when idle.
        let command_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register("command_seconds", "Time from submit to answer", command_seconds.clone());
        let queue_depth = Gauge::default();
        registry.register("writer_queue_depth", "Commands waiting for the writer", queue_depth.clone());
        let committed_position = Gauge::default();
        registry.register("writer_committed_position", "Last position committed", committed_position.clone());
        let read_position = Gauge::default();
        registry.register("read_position", "Lowest checkpoint over the read models", read_position.clone());
        let projection_lag = Gauge::default();
        registry.register("projection_lag_events", "Committed position minus read position", projection_lag.clone());
        let webhook = Family::<OutcomeLabels, Counter>::default();
        registry.register("approval_webhook", "Approval notifications, by outcome", webhook.clone());
        let payment_notifications = Family::<OutcomeLabels, Counter>::default();
        registry.register("payment_notifications", "Payment notifications, by outcome", payment_notifications.clone());
        let store_bytes = Family::<FileLabels, Gauge>::default();
        registry.register(
            "store_bytes",
            "Embedded mode: bytes of the log and read-model files and of their write-ahead logs",
            store_bytes.clone(),
        );
        Metrics {
            store_bytes,
            registry,
            commands,
            command_seconds,
            queue_depth,
            committed_position,
            read_position,
            projection_lag,
            webhook,
            payment_notifications,
        }
    }

    pub fn record_command(&self, command: &'static str, result: &Result<Committed, CommandError>, elapsed: Duration) {
        let outcome = match result {
            Ok(committed) if committed.replayed => "replayed",
            Ok(_) => "committed",
            Err(CommandError::Rejected(_)) => "rejected",
            Err(CommandError::IdempotencyConflict) => "conflict",
            Err(CommandError::Overloaded) => "overloaded",
            Err(CommandError::Unavailable(_)) | Err(CommandError::Stopped) => "unavailable",
            Err(CommandError::Internal(_)) => "internal",
        };
        self.commands.get_or_create(&CommandLabels { command, outcome }).inc();
        self.command_seconds.observe(elapsed.as_secs_f64());
    }

    pub fn count_webhook(&self, outcome: &'static str) {
        self.webhook.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn count_payment(&self, outcome: &'static str) {
        self.payment_notifications.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Sets the position gauges, then renders the text exposition format.
    pub fn render(&self, queue_depth: usize, committed: u64, read: u64) -> String {
        self.queue_depth.set(queue_depth as i64);
        self.committed_position.set(committed as i64);
        self.read_position.set(read as i64);
        self.projection_lag.set(committed.saturating_sub(read) as i64);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}
