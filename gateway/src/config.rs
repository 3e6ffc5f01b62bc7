//! Settings in layers (STYLE "Startup"): defaults, then an optional TOML file, then `KBOSS_*`
//! environment variables, then command-line flags. Secrets live in [`Secret`], which never prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{FixedOffset, NaiveDate, Offset, Utc};
use serde::Deserialize;

/// The largest request body accepted (a serial-code batch of 1 000 codes fits comfortably).
pub const BODY_BYTES_MAX: usize = 256 * 1024;
/// The default and the largest page a list endpoint answers.
pub const PAGE_SIZE_DEFAULT: usize = 100;
pub const PAGE_SIZE_MAX: usize = 500;
/// Approval notifications waiting for the webhook; beyond it new ones are dropped and counted.
pub const NOTIFIER_QUEUE_MAX: usize = 1_024;
/// Requests the server handles at once, by default; one beyond them is answered 503 `overloaded`
/// with `Retry-After` at once (`app::shed_load`).
pub const CONCURRENT_REQUESTS_MAX: usize = 4_096;
/// The largest `concurrent_requests_max` accepted.
pub const CONCURRENT_REQUESTS_LIMIT: usize = 1 << 20;
/// Operations waiting to be written to the operation log; beyond it new ones are dropped and
/// counted (`kboss_operation_log_total{outcome="dropped"}`): the write path never waits for it.
pub const OPERATION_LOG_QUEUE_MAX: usize = 65_536;
/// How long refused and failed operations are kept in the operation log, by default, and at most.
pub const OPERATION_LOG_RETENTION_DAYS_DEFAULT: u32 = 180;
pub const OPERATION_LOG_RETENTION_DAYS_MAX: u32 = 36_500;

/// What one `kboss serve` process does in server mode (issue 16: the parts scale apart).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ServeRole {
    /// Everything: competes for the writer's lease, builds the read models, serves the API.
    #[default]
    All,
    /// Competes for the writer's lease (the leader writes, a second instance is its standby),
    /// runs the relay, serves the API (reads from the read models the projectors build).
    Writer,
    /// Builds the read models it owns (`projections`) from JetStream (or the log); serves only
    /// `/healthz`, `/readyz` and `/metrics`.
    Projector,
    /// Serves reads and forwards writes to the leader.
    Api,
}

impl ServeRole {
    pub fn name(self) -> &'static str {
        match self {
            ServeRole::All => "all",
            ServeRole::Writer => "writer",
            ServeRole::Projector => "projector",
            ServeRole::Api => "api",
        }
    }

    /// Competes for the writer's lease.
    pub fn writes(self) -> bool {
        matches!(self, ServeRole::All | ServeRole::Writer)
    }

    /// Applies events to the read models.
    pub fn projects(self) -> bool {
        matches!(self, ServeRole::All | ServeRole::Projector)
    }

    /// Serves the API (every route, not only the operations').
    pub fn serves_api(self) -> bool {
        !matches!(self, ServeRole::Projector)
    }
}

impl std::str::FromStr for ServeRole {
    type Err = String;
    fn from_str(text: &str) -> Result<ServeRole, String> {
        <ServeRole as clap::ValueEnum>::from_str(text, true)
    }
}

/// How long a writer's lease lasts unrenewed, by default (`event_log::postgres::LEASE_TTL`).
pub const LEASE_TTL_MS_DEFAULT: u64 = 5_000;
/// How far (in events) the read models may trail the log before `/readyz` says not ready.
pub const READY_LAG_MAX_DEFAULT: u64 = 10_000;
/// How often the leader ticks the ledger's clock, by default: once a minute.
pub const TICK_INTERVAL_MS_DEFAULT: u64 = 60_000;
/// The shortest interval between ticks (a tick is one command; more often is load, not precision).
pub const TICK_INTERVAL_MS_MIN: u64 = 100;
/// The longest interval between ticks: a day.
pub const TICK_INTERVAL_MS_MAX: u64 = 24 * 60 * 60 * 1_000;

/// A value that must not reach a log: `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The one way to read the value: grep for it to find every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(***)")
    }
}

/// The accounting date commands are booked on. `System` is today at the books' UTC offset
/// (`KBOSS_UTC_OFFSET`: a Beijing business's day turns at its midnight, not at 08:00); `Manual`
/// lets a test (or an operator replaying a back-office import) move the date explicitly.
#[derive(Clone, Debug)]
pub enum Clock {
    System(FixedOffset),
    Manual(Arc<Mutex<NaiveDate>>),
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::System(Utc.fix())
    }
}

impl Clock {
    pub fn manual(date: NaiveDate) -> Clock {
        Clock::Manual(Arc::new(Mutex::new(date)))
    }

    pub fn today(&self) -> NaiveDate {
        match self {
            Clock::System(offset) => Utc::now().with_timezone(offset).date_naive(),
            Clock::Manual(date) => *date.lock().expect("clock lock"),
        }
    }

    /// The offset the books' days and times are read at (UTC for a manual clock).
    pub fn offset(&self) -> FixedOffset {
        match self {
            Clock::System(offset) => *offset,
            Clock::Manual(_) => Utc.fix(),
        }
    }

    /// Moves a manual clock; a system clock cannot be moved.
    pub fn set(&self, date: NaiveDate) {
        if let Clock::Manual(current) = self {
            *current.lock().expect("clock lock") = date;
        }
    }
}

/// A payment channel (Alipay-style) of one book: its RSA public key, which signs every
/// notification, the merchant account its notifications must name (`app_id`, `seller_id`), and
/// the book that owns it, where its notifications book and nowhere else. Every field is required
/// (`Settings::check`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentChannel {
    /// PEM, PKCS#8 `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`.
    pub public_key_pem: String,
    /// The org (platform or reseller) whose book the channel's payments arrive in.
    pub book: Option<ledger_core::ids::OrgId>,
    /// The channel's application id (`app_id` of every notification).
    pub app_id: String,
    /// The merchant's account at the channel (`seller_id` of every notification).
    pub seller_id: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub body_bytes_max: usize,
    pub page_size_max: usize,
    pub notifier_queue_max: usize,
    pub operation_log_queue_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes_max: BODY_BYTES_MAX,
            page_size_max: PAGE_SIZE_MAX,
            notifier_queue_max: NOTIFIER_QUEUE_MAX,
            operation_log_queue_max: OPERATION_LOG_QUEUE_MAX,
        }
    }
}

/// The host a book's approval webhook may post to by default: DingTalk's robots.
pub const APPROVAL_WEBHOOK_HOST_DEFAULT: &str = "oapi.dingtalk.com";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// PostgreSQL for the log and the read models; SQLite files in `data_dir` when absent.
    pub database_url: Option<Secret>,
    /// NATS JetStream for distribution (server mode); in-process catch-up when absent.
    pub nats_url: Option<String>,
    /// The JetStream stream this deployment publishes to, and its subjects' prefix: one stream
    /// per deployment (the stream's sequence is this log's position).
    pub nats_stream: String,
    pub nats_subject_prefix: String,
    /// The platform's `super_admin` token; generated on a fresh store when absent.
    pub admin_token: Option<Secret>,
    /// Where each new approval request is posted (DingTalk-style JSON), for every book that has
    /// no webhook of its own.
    pub approval_webhook_url: Option<String>,
    /// Where the live invariant monitors post a breach (DingTalk-style JSON, unsigned); the
    /// approval webhook URL when absent.
    pub alert_webhook_url: Option<String>,
    /// Whether the live invariant monitors run (on instances that compete for the writer's
    /// lease: embedded, `all` and `writer`). They keep a decision state of their own, folded
    /// from position 0 at start.
    pub monitors: bool,
    /// The hosts a book's own approval webhook may post to (a tenant's admin sets its URL, so the
    /// server posts only where the operator allows: DingTalk's robots by default).
    pub approval_webhook_hosts: Vec<String>,
    pub payment_channels: BTreeMap<String, PaymentChannel>,
    pub limits: Limits,
    /// Commands per writer batch and the writer's queue (see `commands::WriterConfig`): a
    /// command the full queue cannot take is answered 503 `overloaded` at once.
    pub writer_batch_commands_max: usize,
    pub writer_channel_capacity: usize,
    /// Requests served at once; the one beyond is answered 503 `overloaded` at once. Kept at or
    /// below `writer_channel_capacity`, the queue never fills from HTTP (each queued command is
    /// a request in flight) and a burst is shed here; above it, writes past the queue are shed
    /// by the writer, the same way, while reads go on.
    pub concurrent_requests_max: usize,
    /// The platform's name on a fresh store.
    pub platform_name: String,
    /// Browser origins allowed to call the API (`https://admin.example.com`), or `*` for any;
    /// none (the default): no CORS headers, so browsers allow same-origin calls only.
    pub cors_origins: Vec<String>,
    /// Days refused and failed operations stay in the operation log (accepted ones stay: they
    /// are facts of the log).
    pub operation_log_retention_days: u32,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client; from
    /// any other peer the header is ignored and the peer is the client.
    pub trusted_proxies: Vec<String>,
    /// What this process does in server mode (`--role`): `all` by default.
    pub role: ServeRole,
    /// The projections a projector (or `all`) builds; every one when empty. A set must hold
    /// what its projections read (`journal` reads `movements`', `settlements` `journal`'s).
    pub projections: Vec<String>,
    /// The URL other instances reach this one at (`http://10.0.0.7:8080`): recorded in the
    /// writer's lease while this instance leads, so that followers forward writes to it.
    pub advertise_url: Option<String>,
    /// How long the writer's lease lasts unrenewed (ms): a leader silent for longer is taken over.
    pub lease_ttl_ms: u64,
    /// `/readyz` is 503 while the read models trail the log by more events than this.
    pub ready_lag_max: u64,
    /// The JetStream stream's replicas (1 on one server, 3 on a cluster), when the relay creates it.
    pub nats_replicas: usize,
    /// How often (ms) the leader sends the ledger's clock a `Tick` (`crate::ticker`): unpaid
    /// orders time out, settlement cycles issue their statements, auto-renewals, expired
    /// vouchers and overdue arrears are decided. 0: never (then `kboss settle --due` issues due
    /// statements by hand).
    pub tick_interval_ms: u64,
    /// The currency of the platform's book, opened with it on a fresh store (resellers' books
    /// take their parent's); none: CNY. A book's currency is fixed when it opens: on a store
    /// that has one, a configured currency must be the platform's.
    pub currency: Option<ledger_core::money::Currency>,
    #[serde(skip)]
    pub clock: Clock,
}

impl Default for Settings {
    fn default() -> Self {
        let writer = commands::WriterConfig::default();
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            nats_url: None,
            nats_stream: event_log::relay::STREAM_NAME.to_owned(),
            nats_subject_prefix: event_log::relay::SUBJECT_PREFIX.to_owned(),
            admin_token: None,
            approval_webhook_url: None,
            alert_webhook_url: None,
            monitors: true,
            approval_webhook_hosts: vec![APPROVAL_WEBHOOK_HOST_DEFAULT.to_owned()],
            payment_channels: BTreeMap::new(),
            limits: Limits::default(),
            writer_batch_commands_max: writer.batch_commands_max,
            writer_channel_capacity: writer.channel_capacity,
            concurrent_requests_max: CONCURRENT_REQUESTS_MAX,
            platform_name: "KBOSS".to_owned(),
            cors_origins: Vec::new(),
            operation_log_retention_days: OPERATION_LOG_RETENTION_DAYS_DEFAULT,
            trusted_proxies: Vec::new(),
            role: ServeRole::All,
            projections: Vec::new(),
            advertise_url: None,
            lease_ttl_ms: LEASE_TTL_MS_DEFAULT,
            ready_lag_max: READY_LAG_MAX_DEFAULT,
            nats_replicas: 1,
            tick_interval_ms: TICK_INTERVAL_MS_DEFAULT,
            currency: None,
            clock: Clock::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("{variable}: {reason}")]
    Env { variable: String, reason: String },
    /// A `KBOSS_PAYMENT_KEY_<CHANNEL>` that names a file that cannot be read.
    #[error("{variable}: cannot read {path}: {source}")]
    EnvFile { variable: String, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    /// `database_url` does not parse (the parser's message is not shown: the URL holds a password).
    #[error("database_url is not a PostgreSQL URL")]
    DatabaseUrl,
    #[error("payment channel {channel}: not an RSA public key: {source}")]
    PaymentKey { channel: String, source: rsa::pkcs1::Error },
    /// `KBOSS_ADMIN_TOKEN` is easier to guess than a generated token.
    #[error(
        "KBOSS_ADMIN_TOKEN is too weak: it must carry at least {bytes_min} random bytes, written in hex or base64 \
         (e.g. `openssl rand -hex 32`), or be left unset so that one is generated"
    )]
    WeakAdminToken { bytes_min: usize },
    /// `KBOSS_ADMIN_TOKEN` is not the admin token the log holds.
    #[error(
        "KBOSS_ADMIN_TOKEN is not the deployment's admin token in the log; to replace that token, stop the server \
         and run `kboss admin rotate-token`, then start with the token it prints"
    )]
    AdminTokenChanged,
}

/// What the command line may override (every field optional: absent means "keep the layer below").
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub nats_url: Option<String>,
    pub role: Option<ServeRole>,
}

impl Settings {
    /// Defaults, then `file`, then the environment (`KBOSS_*`), then `overrides`.
    pub fn load(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
        overrides: Overrides,
    ) -> Result<Settings, ConfigError> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                toml::from_str(&text).map_err(|source| ConfigError::Toml { path: path.to_owned(), source })?
            }
            None => Settings::default(),
        };
        for (variable, value) in environment {
            settings.apply_env(&variable, value)?;
        }
        settings.apply_overrides(overrides);
        settings.check()?;
        Ok(settings)
    }

    fn apply_env(&mut self, variable: &str, value: String) -> Result<(), ConfigError> {
        let bad = |reason: &str| ConfigError::Env { variable: variable.to_owned(), reason: reason.to_owned() };
        let number = |value: &str| value.parse::<usize>().map_err(|_| bad("not a positive integer"));
        match variable {
            "KBOSS_LISTEN" => self.listen = socket_address(&value).map_err(|reason| bad(&reason))?,
            "KBOSS_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "KBOSS_DATABASE_URL" => self.database_url = Some(Secret(value)),
            "KBOSS_NATS_URL" => self.nats_url = Some(value),
            "KBOSS_NATS_STREAM" => self.nats_stream = value,
            "KBOSS_NATS_SUBJECT_PREFIX" => self.nats_subject_prefix = value,
            "KBOSS_ADMIN_TOKEN" => self.admin_token = Some(Secret(value)),
            "KBOSS_APPROVAL_WEBHOOK_URL" => self.approval_webhook_url = Some(value),
            "KBOSS_APPROVAL_WEBHOOK_HOSTS" => self.approval_webhook_hosts = list(&value),
            "KBOSS_ALERT_WEBHOOK_URL" => self.alert_webhook_url = Some(value),
            "KBOSS_MONITORS" => {
                self.monitors = match value.as_str() {
                    "on" | "true" | "1" => true,
                    "off" | "false" | "0" => false,
                    _ => return Err(bad("not on or off")),
                };
            }
            "KBOSS_BODY_BYTES_MAX" => self.limits.body_bytes_max = number(&value)?,
            "KBOSS_PAGE_SIZE_MAX" => self.limits.page_size_max = number(&value)?,
            "KBOSS_CONCURRENT_REQUESTS_MAX" => self.concurrent_requests_max = number(&value)?,
            "KBOSS_WRITER_CHANNEL_CAPACITY" => self.writer_channel_capacity = number(&value)?,
            "KBOSS_WRITER_BATCH_COMMANDS_MAX" => self.writer_batch_commands_max = number(&value)?,
            "KBOSS_CORS_ORIGINS" => self.cors_origins = list(&value),
            "KBOSS_OPERATION_LOG_RETENTION_DAYS" => {
                self.operation_log_retention_days = value.parse().map_err(|_| bad("not a positive integer"))?;
            }
            "KBOSS_TRUSTED_PROXIES" => self.trusted_proxies = list(&value),
            "KBOSS_ROLE" => self.role = value.parse().map_err(|_| bad("not one of all, writer, projector, api"))?,
            "KBOSS_PROJECTIONS" => self.projections = list(&value),
            "KBOSS_ADVERTISE_URL" => self.advertise_url = Some(value),
            "KBOSS_LEASE_TTL_MS" => self.lease_ttl_ms = number(&value)? as u64,
            "KBOSS_READY_LAG_MAX" => self.ready_lag_max = number(&value)? as u64,
            "KBOSS_NATS_REPLICAS" => self.nats_replicas = number(&value)?,
            "KBOSS_TICK_INTERVAL_MS" => self.tick_interval_ms = number(&value)? as u64,
            "KBOSS_UTC_OFFSET" => {
                let offset = utc_offset(value.trim())
                    .ok_or_else(|| bad("not a UTC offset: +08:00, -05:30 or Z (whole minutes, under 24 hours)"))?;
                self.clock = Clock::System(offset);
            }
            "KBOSS_CURRENCY" => {
                let currency = ledger_core::money::Currency::parse(value.trim());
                self.currency =
                    Some(currency.map_err(|_| bad("not a currency this ledger keeps (CNY, USD, HKD, EUR, SGD)"))?);
            }
            _ => {
                // KBOSS_PAYMENT_{KEY,BOOK,APP_ID,SELLER_ID}_<CHANNEL>: one channel's settings.
                const PREFIXES: [&str; 4] =
                    ["KBOSS_PAYMENT_KEY_", "KBOSS_PAYMENT_BOOK_", "KBOSS_PAYMENT_APP_ID_", "KBOSS_PAYMENT_SELLER_ID_"];
                let Some((prefix, name)) =
                    PREFIXES.iter().find_map(|prefix| variable.strip_prefix(prefix).map(|name| (*prefix, name)))
                else {
                    return Ok(());
                };
                let channel = self.payment_channels.entry(name.to_ascii_lowercase()).or_default();
                match prefix {
                    // The channel's public key: PEM text or a path to it.
                    "KBOSS_PAYMENT_KEY_" => {
                        channel.public_key_pem = if value.contains("-----BEGIN") {
                            value
                        } else {
                            std::fs::read_to_string(&value).map_err(|source| ConfigError::EnvFile {
                                variable: variable.to_owned(),
                                path: PathBuf::from(&value),
                                source,
                            })?
                        };
                    }
                    "KBOSS_PAYMENT_BOOK_" => {
                        channel.book = Some(value.trim().parse().map_err(|_| bad("not an org id (a UUID)"))?);
                    }
                    "KBOSS_PAYMENT_APP_ID_" => channel.app_id = value,
                    _ => channel.seller_id = value,
                }
            }
        }
        Ok(())
    }

    fn apply_overrides(&mut self, overrides: Overrides) {
        if let Some(listen) = overrides.listen {
            self.listen = listen;
        }
        if let Some(data_dir) = overrides.data_dir {
            self.data_dir = data_dir;
        }
        if let Some(url) = overrides.database_url {
            self.database_url = Some(Secret(url));
        }
        if let Some(url) = overrides.nats_url {
            self.nats_url = Some(url);
        }
        if let Some(role) = overrides.role {
            self.role = role;
        }
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        for origin in &self.cors_origins {
            check_origin(origin, self.cors_origins.len())?;
        }
        let limits = &self.limits;
        if limits.body_bytes_max == 0 || limits.body_bytes_max > 16 * BODY_BYTES_MAX {
            return Err(ConfigError::Invalid(format!("limits.body_bytes_max must be 1..={}", 16 * BODY_BYTES_MAX)));
        }
        if limits.page_size_max == 0 || limits.page_size_max > PAGE_SIZE_MAX {
            return Err(ConfigError::Invalid(format!("limits.page_size_max must be 1..={PAGE_SIZE_MAX}")));
        }
        let ticks = TICK_INTERVAL_MS_MIN..=TICK_INTERVAL_MS_MAX;
        if self.tick_interval_ms != 0 && !ticks.contains(&self.tick_interval_ms) {
            return Err(ConfigError::Invalid(format!(
                "tick_interval_ms must be 0 (no clock) or {}..={}",
                ticks.start(),
                ticks.end()
            )));
        }
        if limits.notifier_queue_max == 0 || limits.notifier_queue_max > 16 * NOTIFIER_QUEUE_MAX {
            return Err(ConfigError::Invalid("limits.notifier_queue_max out of range".to_owned()));
        }
        for (name, channel) in &self.payment_channels {
            let upper = name.to_ascii_uppercase();
            let missing = [
                (channel.public_key_pem.trim().is_empty(), "public_key_pem", "KEY"),
                (channel.book.is_none(), "book", "BOOK"),
                (channel.app_id.trim().is_empty(), "app_id", "APP_ID"),
                (channel.seller_id.trim().is_empty(), "seller_id", "SELLER_ID"),
            ];
            if let Some((_, field, variable)) = missing.iter().find(|(missing, _, _)| *missing) {
                return Err(ConfigError::Invalid(format!(
                    "payment channel {name}: no {field} (KBOSS_PAYMENT_{variable}_{upper}); a channel needs its key, \
                     its book, its app_id and its seller_id"
                )));
            }
        }
        if limits.operation_log_queue_max == 0 || limits.operation_log_queue_max > 16 * OPERATION_LOG_QUEUE_MAX {
            return Err(ConfigError::Invalid("limits.operation_log_queue_max out of range".to_owned()));
        }
        if !(1..=OPERATION_LOG_RETENTION_DAYS_MAX).contains(&self.operation_log_retention_days) {
            return Err(ConfigError::Invalid(format!(
                "operation_log_retention_days must be 1..={OPERATION_LOG_RETENTION_DAYS_MAX}"
            )));
        }
        TrustedProxies::parse(&self.trusted_proxies)?;
        if !(1..=commands::writer::BATCH_COMMANDS_MAX).contains(&self.writer_batch_commands_max) {
            return Err(ConfigError::Invalid("writer_batch_commands_max out of range".to_owned()));
        }
        if !(1..=commands::writer::CHANNEL_CAPACITY_MAX).contains(&self.writer_channel_capacity) {
            return Err(ConfigError::Invalid("writer_channel_capacity out of range".to_owned()));
        }
        if !(1..=CONCURRENT_REQUESTS_LIMIT).contains(&self.concurrent_requests_max) {
            return Err(ConfigError::Invalid(format!(
                "concurrent_requests_max must be 1..={CONCURRENT_REQUESTS_LIMIT}"
            )));
        }
        self.check_server_mode()
    }

    fn check_server_mode(&self) -> Result<(), ConfigError> {
        if (self.role != ServeRole::All || !self.projections.is_empty()) && self.database_url.is_none() {
            return Err(ConfigError::Invalid(format!(
                "role {} with projections {:?}: split roles share a PostgreSQL log and read models (KBOSS_DATABASE_URL)",
                self.role.name(),
                self.projections
            )));
        }
        self.owned_projections()?;
        let ttl_min = event_log::postgres::LEASE_TTL_MIN.as_millis() as u64;
        if !(ttl_min..=600_000).contains(&self.lease_ttl_ms) {
            return Err(ConfigError::Invalid(format!("lease_ttl_ms must be {ttl_min}..=600000")));
        }
        if !(1..=5).contains(&self.nats_replicas) {
            return Err(ConfigError::Invalid("nats_replicas must be 1..=5".to_owned()));
        }
        if let Some(url) = &self.advertise_url {
            let valid = reqwest::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
            if !valid {
                return Err(ConfigError::Invalid(format!("advertise_url {url:?} is not an http(s) URL")));
            }
        }
        Ok(())
    }

    /// The projections this process builds: `projections` (checked: known names, closed under
    /// what each reads), or every one.
    pub fn owned_projections(&self) -> Result<Vec<&'static projections::projection::Projection>, ConfigError> {
        use projections::projection;
        if self.projections.is_empty() {
            return Ok(projection::ALL.iter().collect());
        }
        let mut owned = Vec::new();
        for name in &self.projections {
            let found = projection::find(name).ok_or_else(|| {
                let known: Vec<&str> = projection::ALL.iter().map(|projection| projection.name).collect();
                ConfigError::Invalid(format!("projections: unknown projection {name:?} (known: {})", known.join(", ")))
            })?;
            owned.push(found);
        }
        for projection in &owned {
            for needed in projection.reads {
                if !self.projections.iter().any(|name| name == needed) {
                    return Err(ConfigError::Invalid(format!(
                        "projections: {} reads {needed}'s table, so {needed} must be built by the same process",
                        projection.name
                    )));
                }
            }
        }
        // In `projection::ALL`'s order: the order they are applied in.
        owned.sort_by_key(|projection| projection::ALL.iter().position(|p| p.name == projection.name));
        Ok(owned)
    }

    pub fn writer_config(&self) -> commands::WriterConfig {
        commands::WriterConfig {
            batch_commands_max: self.writer_batch_commands_max,
            channel_capacity: self.writer_channel_capacity,
            ..commands::WriterConfig::default()
        }
    }
}

/// A comma-separated list, its items trimmed, empty ones left out.
fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()
}

/// The reverse proxies whose `X-Forwarded-For` is believed: addresses (`10.0.0.7`, `::1`) and
/// CIDR ranges (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// Each range as its first address and prefix length, in IPv6 form (IPv4 mapped).
    ranges: Vec<(u128, u32)>,
}

impl TrustedProxies {
    pub fn parse(items: &[String]) -> Result<TrustedProxies, ConfigError> {
        let mut ranges = Vec::with_capacity(items.len());
        for item in items {
            let invalid =
                || ConfigError::Invalid(format!("trusted_proxies: {item:?} is not an IP address or a CIDR range"));
            let (address, prefix) = match item.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (item.as_str(), None),
            };
            let address: std::net::IpAddr = address.trim().parse().map_err(|_| invalid())?;
            let (bits, width) = ip_bits(address);
            let prefix = match prefix {
                Some(prefix) => {
                    prefix.trim().parse::<u32>().ok().filter(|prefix| *prefix <= width).ok_or_else(invalid)?
                }
                None => width,
            };
            // IPv4 is mapped into IPv6 (::ffff:a.b.c.d), so its prefix counts from bit 96.
            let prefix = prefix + (128 - width);
            ranges.push((bits & mask(prefix), prefix));
        }
        Ok(TrustedProxies { ranges })
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let (bits, _) = ip_bits(address);
        self.ranges.iter().any(|(first, prefix)| bits & mask(*prefix) == *first)
    }
}

/// An address as 128 bits (IPv4 mapped into IPv6) and its own width in bits.
fn ip_bits(address: std::net::IpAddr) -> (u128, u32) {
    match address.to_canonical() {
        std::net::IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 32),
        std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(prefix: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    }
}

/// `+08:00`, `-05:30`, `+0800` or `Z`.
fn utc_offset(text: &str) -> Option<FixedOffset> {
    if text == "Z" || text == "z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or_else(|| rest.split_at(rest.len().min(2)));
    if hours.len() != 2 || minutes.len() != 2 || !(hours.bytes().chain(minutes.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// The database a URL names, for logs: servers, ports and database, never the password.
pub fn database_description(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(config) => format!(
            "postgresql {}/{}",
            event_log::postgres::server_address(&config),
            config.get_dbname().unwrap_or("(default)")
        ),
        Err(_) => "postgresql (an unreadable URL)".to_owned(),
    }
}

/// A listen address: `127.0.0.1:8080`, `[::1]:8080`, or a host name and port (`localhost:8080`),
/// resolved once, an IPv4 address preferred.
pub fn socket_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    use std::net::ToSocketAddrs;
    let addresses: Vec<SocketAddr> =
        text.to_socket_addrs().map_err(|error| format!("{text:?} is not HOST:PORT ({error})"))?.collect();
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// A CORS origin as browsers send it: `scheme://host[:port]`, no path, or `*` alone.
fn check_origin(origin: &str, count: usize) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid(format!("cors_origins: {origin:?} {reason}"));
    if origin == "*" {
        return if count == 1 { Ok(()) } else { Err(invalid("must be the only origin when given")) };
    }
    let (scheme, rest) = origin.split_once("://").ok_or_else(|| invalid("must be scheme://host[:port]"))?;
    if !matches!(scheme, "http" | "https") {
        return Err(invalid("must start with http:// or https://"));
    }
    if rest.is_empty() || rest.contains('/') || !origin.is_ascii() || origin.chars().any(|c| c.is_ascii_whitespace()) {
        return Err(invalid("must be scheme://host[:port] without a path (e.g. https://admin.example.com)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_secrets_do_not_print() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("kboss.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\ndata_dir = \"/var/kboss\"\n[limits]\npage_size_max = 50\n")
            .unwrap();
        let environment = vec![
            ("KBOSS_DATA_DIR".to_owned(), "/srv/kboss".to_owned()),
            ("KBOSS_ADMIN_TOKEN".to_owned(), "kb_secret".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let overrides = Overrides { listen: Some("127.0.0.1:9100".parse().unwrap()), ..Overrides::default() };
        let settings = Settings::load(Some(&file), environment, overrides).unwrap();
        assert_eq!(settings.listen.port(), 9100);
        assert_eq!(settings.data_dir, PathBuf::from("/srv/kboss"));
        assert_eq!(settings.limits.page_size_max, 50);
        assert_eq!(settings.admin_token.as_ref().unwrap().expose(), "kb_secret");
        assert!(!format!("{settings:?}").contains("kb_secret"));
    }

    #[test]
    fn unknown_settings_and_out_of_range_limits_are_refused() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("kboss.toml");
        std::fs::write(&file, "listne = \"127.0.0.1:9000\"\n").unwrap();
        assert!(matches!(Settings::load(Some(&file), vec![], Overrides::default()), Err(ConfigError::Toml { .. })));
        let environment = vec![("KBOSS_PAGE_SIZE_MAX".to_owned(), "100000".to_owned())];
        assert!(matches!(Settings::load(None, environment, Overrides::default()), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn a_payment_channel_needs_its_key_book_app_id_and_seller_id() {
        let book = "0190d3a4-7b2c-7def-8123-456789abcdef";
        let full = vec![
            ("KBOSS_PAYMENT_KEY_ALIPAY".to_owned(), "-----BEGIN PUBLIC KEY-----\n...".to_owned()),
            ("KBOSS_PAYMENT_BOOK_ALIPAY".to_owned(), book.to_owned()),
            ("KBOSS_PAYMENT_APP_ID_ALIPAY".to_owned(), "2021000000000001".to_owned()),
            ("KBOSS_PAYMENT_SELLER_ID_ALIPAY".to_owned(), "2088000000000001".to_owned()),
        ];
        let settings = Settings::load(None, full.clone(), Overrides::default()).unwrap();
        let channel = &settings.payment_channels["alipay"];
        assert_eq!(channel.book.map(|book| book.to_string()).as_deref(), Some(book));
        assert_eq!((channel.app_id.as_str(), channel.seller_id.as_str()), ("2021000000000001", "2088000000000001"));
        for (missing, variable) in [(1, "KBOSS_PAYMENT_BOOK_ALIPAY"), (2, "KBOSS_PAYMENT_APP_ID_ALIPAY")] {
            let mut environment = full.clone();
            environment.remove(missing);
            let error = Settings::load(None, environment, Overrides::default()).unwrap_err().to_string();
            assert!(error.starts_with("payment channel alipay: no ") && error.contains(variable), "{error}");
        }
        let mut environment = full;
        environment[1].1 = "R2".to_owned();
        let error = Settings::load(None, environment, Overrides::default()).unwrap_err().to_string();
        assert_eq!(error, "KBOSS_PAYMENT_BOOK_ALIPAY: not an org id (a UUID)");
    }

    #[test]
    fn load_shedding_and_the_writers_queue_are_set_from_the_environment() {
        let environment = vec![
            ("KBOSS_CONCURRENT_REQUESTS_MAX".to_owned(), "8".to_owned()),
            ("KBOSS_WRITER_CHANNEL_CAPACITY".to_owned(), "16".to_owned()),
            ("KBOSS_WRITER_BATCH_COMMANDS_MAX".to_owned(), "4".to_owned()),
        ];
        let settings = Settings::load(None, environment, Overrides::default()).unwrap();
        let writer = settings.writer_config();
        assert_eq!((settings.concurrent_requests_max, writer.channel_capacity, writer.batch_commands_max), (8, 16, 4));
        let zero = vec![("KBOSS_CONCURRENT_REQUESTS_MAX".to_owned(), "0".to_owned())];
        assert!(matches!(Settings::load(None, zero, Overrides::default()), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges_and_the_retention_is_checked() {
        let load = |variable: &str, value: &str| {
            Settings::load(None, vec![(variable.to_owned(), value.to_owned())], Overrides::default())
        };
        let settings = load("KBOSS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, fd00::/8").unwrap();
        let proxies = TrustedProxies::parse(&settings.trusted_proxies).unwrap();
        for trusted in ["10.1.2.3", "192.168.1.7", "::ffff:10.9.9.9", "fd12::1"] {
            assert!(proxies.contains(trusted.parse().unwrap()), "{trusted}");
        }
        for other in ["11.0.0.1", "192.168.1.8", "fe80::1", "127.0.0.1"] {
            assert!(!proxies.contains(other.parse().unwrap()), "{other}");
        }
        assert!(TrustedProxies::parse(&["0.0.0.0/0".to_owned()]).unwrap().contains("8.8.8.8".parse().unwrap()));
        for refused in ["10.0.0.0/33", "proxy.example.com", "10.0.0.1/", "::1/129"] {
            let error = load("KBOSS_TRUSTED_PROXIES", refused).expect_err(refused).to_string();
            assert!(error.contains("trusted_proxies"), "{refused}: {error}");
        }
        assert_eq!(Settings::default().operation_log_retention_days, 180);
        assert_eq!(load("KBOSS_OPERATION_LOG_RETENTION_DAYS", "30").unwrap().operation_log_retention_days, 30);
        for refused in ["0", "-1", "36501", "a week"] {
            assert!(load("KBOSS_OPERATION_LOG_RETENTION_DAYS", refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn cors_origins_are_read_from_a_list_and_checked() {
        let load = |value: &str| {
            let environment = vec![("KBOSS_CORS_ORIGINS".to_owned(), value.to_owned())];
            Settings::load(None, environment, Overrides::default()).map(|settings| settings.cors_origins)
        };
        assert_eq!(
            load("https://admin.example.com, http://localhost:5173").unwrap(),
            ["https://admin.example.com", "http://localhost:5173"]
        );
        assert_eq!(load("*").unwrap(), ["*"]);
        for refused in ["admin.example.com", "https://admin.example.com/console", "ftp://x", "*, https://a.example"] {
            let error = load(refused).expect_err(refused).to_string();
            assert!(error.contains("cors_origins"), "{refused}: {error}");
        }
    }

    #[test]
    fn server_roles_and_projection_sets_are_checked() {
        let load = |pairs: &[(&str, &str)]| {
            let environment = pairs.iter().map(|(variable, value)| ((*variable).to_owned(), (*value).to_owned()));
            Settings::load(None, environment.collect::<Vec<_>>(), Overrides::default())
        };
        let database = ("KBOSS_DATABASE_URL", "host=127.0.0.1 user=postgres dbname=test");
        let projector = load(&[database, ("KBOSS_ROLE", "projector"), ("KBOSS_PROJECTIONS", "movements, journal")]);
        let projector = projector.unwrap();
        assert_eq!(projector.role, ServeRole::Projector);
        let owned: Vec<&str> =
            projector.owned_projections().unwrap().iter().map(|projection| projection.name).collect();
        assert_eq!(owned, ["journal", "movements"], "in the order they are applied");
        let error = load(&[database, ("KBOSS_PROJECTIONS", "settlements")]).unwrap_err().to_string();
        assert!(error.contains("settlements reads journal's table"), "{error}");
        let error = load(&[database, ("KBOSS_PROJECTIONS", "ledger")]).unwrap_err().to_string();
        assert!(error.contains("unknown projection \"ledger\""), "{error}");
        let error = load(&[("KBOSS_ROLE", "api")]).unwrap_err().to_string();
        assert!(error.contains("KBOSS_DATABASE_URL"), "split roles need PostgreSQL: {error}");
        let error = load(&[("KBOSS_PROJECTIONS", "orgs")]).unwrap_err().to_string();
        assert!(error.contains("KBOSS_DATABASE_URL"), "a projection set needs PostgreSQL: {error}");
        let error = load(&[database, ("KBOSS_ROLE", "reader")]).unwrap_err().to_string();
        assert!(error.contains("KBOSS_ROLE") && error.contains("all, writer, projector, api"), "{error}");
        let error = load(&[database, ("KBOSS_LEASE_TTL_MS", "100")]).unwrap_err().to_string();
        assert!(error.contains("lease_ttl_ms"), "{error}");
        let error = load(&[database, ("KBOSS_ADVERTISE_URL", "10.0.0.7:8080")]).unwrap_err().to_string();
        assert!(error.contains("advertise_url"), "{error}");
    }

    #[test]
    fn the_books_utc_offset_turns_their_day() {
        let load = |pairs: &[(&str, &str)]| {
            let environment = pairs.iter().map(|(variable, value)| ((*variable).to_owned(), (*value).to_owned()));
            Settings::load(None, environment.collect::<Vec<_>>(), Overrides::default())
        };
        let beijing = load(&[("KBOSS_UTC_OFFSET", "+08:00")]).unwrap().clock;
        assert_eq!(beijing.offset(), FixedOffset::east_opt(8 * 3600).unwrap());
        assert_eq!(beijing.today(), Utc::now().with_timezone(&beijing.offset()).date_naive());
        assert_eq!(
            load(&[("KBOSS_UTC_OFFSET", "-0530")]).unwrap().clock.offset().local_minus_utc(),
            -(5 * 3600 + 1800)
        );
        assert_eq!(load(&[("KBOSS_UTC_OFFSET", "Z")]).unwrap().clock.offset().local_minus_utc(), 0);
        assert_eq!(load(&[]).unwrap().clock.offset().local_minus_utc(), 0);
        for wrong in ["8", "+8:00", "+24:00", "+08:60", "UTC+8"] {
            let error = load(&[("KBOSS_UTC_OFFSET", wrong)]).unwrap_err().to_string();
            assert!(error.contains("KBOSS_UTC_OFFSET"), "{wrong}: {error}");
        }
    }

    #[test]
    fn the_clock_s_interval_and_the_book_currency_are_checked() {
        let load = |pairs: &[(&str, &str)]| {
            let environment = pairs.iter().map(|(variable, value)| ((*variable).to_owned(), (*value).to_owned()));
            Settings::load(None, environment.collect::<Vec<_>>(), Overrides::default())
        };
        assert_eq!(load(&[]).unwrap().tick_interval_ms, TICK_INTERVAL_MS_DEFAULT);
        assert_eq!(load(&[("KBOSS_TICK_INTERVAL_MS", "0")]).unwrap().tick_interval_ms, 0, "0: no clock");
        let error = load(&[("KBOSS_TICK_INTERVAL_MS", "99")]).unwrap_err().to_string();
        assert!(error.contains("tick_interval_ms"), "{error}");
        assert_eq!(load(&[]).unwrap().currency, None);
        let usd = load(&[("KBOSS_CURRENCY", "USD")]).unwrap().currency;
        assert_eq!(usd, Some(ledger_core::money::Currency::USD));
        let error = load(&[("KBOSS_CURRENCY", "XAU")]).unwrap_err().to_string();
        assert!(error.contains("KBOSS_CURRENCY"), "{error}");
    }
}
