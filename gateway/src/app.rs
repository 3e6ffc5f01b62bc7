//! `Application::build(settings)`: opens the log (SQLite in the data directory, or PostgreSQL),
//! starts the writer (or follows the instance that holds it), opens the read models and their
//! runner and the operation log, assembles the [`AppState`] the handlers share, bootstraps a
//! fresh store, binds the listener (port 0 in tests) and serves [`router`] until a shutdown
//! signal; graceful shutdown stops taking requests, then drains the sequencer and the operation
//! log's queue.
//!
//! The top of the module graph: `app` → `routes` (and `openapi`) → `state` → the leaves. No
//! module imports `app` but `cli`, which runs it.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use commands::{CommandError, Request as WriterRequest, Writer, WriterConfig, WriterHandle};
use event_log::postgres::LeaseTerms;
use event_log::{
    AnyReader, AsyncLog, PostgresReader, PostgresStore, SqliteReader, SqliteStore, StoreError, TaskReports,
};
use ledger_core::ids::{OrgId, PrincipalId, UserId};
use ledger_core::money::Currency;
use ledger_core::org::{Actor, OrgKind, Role};
use ledger_core::{AccessCommand, CommandBody, EventPayload, SetupCommand};
use projections::{ConsumerProgress, ReadModels};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::approval_webhooks::ApprovalWebhooks;
use crate::auth::{generate_token, token_hash, Caller, TokenCache, WrittenPositions};
use crate::config::{ConfigError, Secret, Settings};
use crate::distribution::DistributionError;
use crate::leadership::{open_reader, Candidate, Leadership, ReaderOpener, RelaySlot};
use crate::metrics::Metrics;
use crate::notifier::Notifier;
use crate::operation_log::{Operation, OperationLog, OperationLogError, OperationStore};
use crate::state::{AppState, SharedState, WriteSide};

/// The file a generated admin token is written to, in the data directory (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// How long shutdown waits for background tasks (read-model runner, relay) to finish.
pub const BACKGROUND_DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a start waits for the read models to hold the log's last position before serving.
pub const STARTUP_READ_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a read-pool session may sit idle inside a transaction before PostgreSQL ends it
/// (and its locks with it): what a paused instance's half-done apply holds is freed this soon.
pub const IDLE_IN_TRANSACTION_MAX: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections in the read pool (PostgreSQL mode).
pub const READ_POOL_CONNECTIONS_MAX: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {address}: {source}")]
    Bind { address: std::net::SocketAddr, source: std::io::Error },
    #[error("the log: {0}")]
    Store(#[from] StoreError),
    #[error("loading the state: {0}")]
    Load(#[from] event_log::LoadError),
    #[error("the read models: {0}")]
    Read(#[from] projections::ReadError),
    #[error("bootstrap: {0}")]
    Bootstrap(#[source] CommandError),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the read pool: {0}")]
    ReadPool(#[from] deadpool_postgres::BuildError),
    #[error("distribution: {0}")]
    Distribution(#[from] DistributionError),
    #[error("{0}")]
    OperationLog(#[from] OperationLogError),
    #[error("{0}")]
    AuditKey(#[from] crate::audit::AuditKeyError),
    /// A blocking start-up step (opening a store) panicked or was cancelled.
    #[error("a start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How often every server-mode instance looks at the log's last position (a follower has no
/// writer to wake it; a leader's own commits wake it at once).
pub const FOLLOWER_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Who writes, in this process: the embedded writer, or server mode's leadership (the campaign
/// for the lease and the writer it wins), or nothing (a projector, an API instance).
enum Writing {
    Embedded(Writer),
    Leadership(Leadership),
    None,
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    writing: Writing,
    state: SharedState,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The live invariant monitors (`crate::monitors`), on an instance that competes for the
    /// writer's lease; aborted at shutdown (they write nothing).
    monitors: Option<tokio::task::JoinHandle<()>>,
    /// The clock's scheduler, stopped first at shutdown (it would tick forever).
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let settings = Arc::new(settings);
        let payment_keys = crate::payments::load_keys(&settings.payment_channels)?;
        // The port first: a taken port is reported before any store, token or directory exists.
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { address: settings.listen, source })?;
        let metrics = Arc::new(Metrics::new());
        // The writer tells the metrics of every durable batch (size, append time).
        let writer_config = WriterConfig { batch_observer: Some(metrics.clone()), ..settings.writer_config() };
        let Opened { writing, write_side, read, log, tasks, operations } = match &settings.database_url {
            None => open_embedded(&settings, writer_config).await?,
            Some(url) => open_postgres(&settings, url, writer_config, listener.local_addr()?).await?,
        };
        metrics.set_build_info(mode(&settings, write_side.is_leader()));
        // The key that signs close certificates: made at the first start, then kept.
        let audit_key = Arc::new(crate::audit::AuditKey::open_or_create(&settings.data_dir, &operations).await?);
        // Each book's approval webhook lives in the gateway's own store, beside the operation log.
        let webhooks = ApprovalWebhooks::new(operations.clone());
        let notifier = Notifier::start(
            settings.approval_webhook_url.clone(),
            settings.alert_webhook_url.clone(),
            settings.limits.notifier_queue_max,
            metrics.clone(),
            webhooks.clone(),
        );
        let operations = OperationLog::start(
            operations,
            Some(read.clone()),
            settings.limits.operation_log_queue_max,
            settings.operation_log_retention_days,
            metrics.clone(),
        );
        let state = Arc::new(AppState {
            writer: write_side,
            read,
            log,
            settings: settings.clone(),
            tokens: TokenCache::default(),
            written: WrittenPositions::default(),
            metrics,
            notifier,
            webhooks,
            operations,
            clock: settings.clock.clone(),
            payment_keys,
            background: tasks.handles.iter().map(tokio::task::JoinHandle::abort_handle).collect(),
            relay: tasks.relay,
            consumer: tasks.consumer,
            audit_key,
        });
        bootstrap(&state).await?;
        // Served from the first request on with what the log held at start (a bootstrap's
        // token included): the read models are given a moment to hold it.
        let committed = state.writer.position();
        if state.settings.role.projects() && state.read.wait_for(committed, STARTUP_READ_WAIT).await.is_err() {
            tracing::warn!(committed, "serving before the read models hold the log's last position");
        }
        // Leadership is supervised once the log is bootstrapped (by this instance, if it leads).
        let writing = match writing {
            Opening::Embedded(writer) => Writing::Embedded(writer),
            Opening::Candidate(candidate, writer) => Writing::Leadership(Leadership::start(candidate, writer)),
            Opening::None => Writing::None,
        };
        let monitors = if state.settings.monitors && state.settings.role.writes() {
            let settings = state.settings.clone();
            let reader = tokio::task::spawn_blocking(move || crate::verify::open_reader(&settings)).await?;
            let reader = reader.map_err(|error| match error {
                crate::verify::VerifyError::Store(error) => StartError::Store(error),
                crate::verify::VerifyError::Config(error) => StartError::Config(error),
                other => StartError::Io(std::io::Error::other(other.to_string())),
            })?;
            Some(crate::monitors::spawn(state.clone(), AsyncLog::new(reader)))
        } else {
            None
        };
        let port = listener.local_addr()?.port();
        let router = router(state.clone());
        // The clock's scheduler (`KBOSS_TICK_INTERVAL_MS`): it ticks while this instance leads.
        let ticker = crate::ticker::spawn(state.clone());
        Ok(Application { listener, port, router, writing, state, background: tasks.handles, monitors, ticker })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the listener is bound to (the port chosen, when 0 was asked for).
    pub fn local_address(&self) -> std::net::SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.settings.listen)
    }

    /// `embedded` (SQLite), `server` (PostgreSQL, holding the writer's lease now) or `follower`
    /// (PostgreSQL, another instance writes now).
    pub fn mode(&self) -> &'static str {
        mode(&self.state.settings, self.state.writer.is_leader())
    }

    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> Result<(), std::io::Error> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains: in-flight requests finish, the writer
    /// answers what it has queued and stops, background tasks are stopped.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), std::io::Error> {
        let Application { listener, router, writing, background, state, monitors, ticker, .. } = self;
        // The peer's address reaches the handlers (`ConnectInfo`): the operation log's client.
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
        // No tick after the last request: the writer is drained next.
        if let Some(ticker) = ticker {
            ticker.abort();
        }
        if let Some(monitors) = monitors {
            monitors.abort();
        }
        let embedded = matches!(writing, Writing::Embedded(_));
        match writing {
            Writing::Embedded(writer) => {
                let _ = tokio::task::spawn_blocking(move || writer.shutdown()).await;
            }
            Writing::Leadership(leadership) => leadership.stop().await,
            Writing::None => {}
        }
        if !state.operations.flush(BACKGROUND_DRAIN_MAX).await {
            tracing::warn!("stopped before the operation log wrote every operation");
        }
        // The embedded read-model runner ends by itself once the writer is gone (after a last
        // catch-up); letting it finish keeps its blocking reads from being cut off by the
        // runtime's exit. Server mode's tasks only end when told, and what they did not finish
        // the next start resumes (checkpoints, the stream's sequence): they are stopped now.
        let deadline = tokio::time::Instant::now() + if embedded { BACKGROUND_DRAIN_MAX } else { Default::default() };
        for mut task in background {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        tracing::info!("stopped");
        served
    }
}

/// `embedded`, `server` or `follower`: [`Application::mode`].
fn mode(settings: &Settings, holds_the_writer: bool) -> &'static str {
    match (&settings.database_url, holds_the_writer) {
        (None, _) => "embedded",
        (Some(_), true) => "server",
        (Some(_), false) => "follower",
    }
}

pub fn router(state: SharedState) -> Router {
    let body_limit = state.settings.limits.body_bytes_max;
    let slots = Arc::new(tokio::sync::Semaphore::new(state.settings.concurrent_requests_max));
    let cors = cors_layer(&state.settings.cors_origins);
    // Checked at start (`Settings::check`).
    let proxies = Arc::new(crate::config::TrustedProxies::parse(&state.settings.trusted_proxies).unwrap_or_default());
    // A projector serves its operations' routes only: the API is other instances' work.
    let serves_api = state.settings.role.serves_api();
    let api = if serves_api { api_routes() } else { Router::new() };
    let router = crate::routes::ops::routes()
        .merge(api)
        .fallback(|| async { crate::error::ApiError::NotFound { what: "route" } })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            crate::error::ApiError::MethodNotAllowed { method: method.to_string() }
        })
        .layer(DefaultBodyLimit::max(body_limit))
        // A write reaching an instance that does not lead goes to the leader (server mode).
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::forward::forward_writes))
        // Inside the request id's layer: each request's id and client, for the operation log.
        .layer(axum::middleware::from_fn_with_state(proxies, crate::operation_log::with_origin))
        // Every request gets an `x-request-id` (kept when the client sent one), traced and echoed.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // `Router::layer` wraps each route (and each method of it) in its own copy of a layer:
        // one limit for the whole server needs one semaphore that every copy shares.
        .layer(axum::middleware::from_fn_with_state(slots, shed_load))
        .layer(tower::util::option_layer(cors))
        // Outermost, so the time counted is the whole answer's (a CORS preflight's too). Per
        // route (hence the matched path); the fallback's requests are counted as `unmatched`.
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::record_http))
        .with_state(state.clone());
    // The console (`/console`, and `/` redirecting to it) calls the API through this very router
    // (a presentation layer: the same permission table, tenancy checks and command pipeline).
    if serves_api {
        let console = crate::console::routes(router.clone(), state);
        router.merge(console)
    } else {
        router
    }
}

/// Every route of the API but the operations' (`/healthz`, `/readyz`, `/metrics`).
fn api_routes() -> Router<SharedState> {
    crate::routes::orgs::routes()
        .merge(crate::routes::users::routes())
        .merge(crate::routes::roles::routes())
        .merge(crate::routes::ownership::routes())
        .merge(crate::routes::catalog::routes())
        .merge(crate::routes::money::routes())
        .merge(crate::routes::policies::routes())
        .merge(crate::routes::orders::routes())
        .merge(crate::routes::finance::routes())
        .merge(crate::routes::settlements::routes())
        .merge(crate::routes::terms::routes())
        .merge(crate::routes::serial::routes())
        .merge(crate::routes::registry::routes())
        .merge(crate::routes::payments::routes())
        .merge(crate::routes::operations::routes())
        .merge(crate::routes::audit::routes())
        .merge(crate::routes::back_office::routes())
        .merge(crate::routes::reconciliations::routes())
        .merge(crate::openapi::routes())
}

/// Load shedding: at most `concurrent_requests_max` requests are served at once, and one beyond
/// them is answered at once, 503 `overloaded` with `Retry-After`, as the writer answers a command
/// its full queue cannot take: waiting in a queue would only make every answer late (and a
/// client's timeout a retry on top). `/healthz` and `/metrics` are not counted: an instance
/// under load is alive, and its load is what `/metrics` shows.
async fn shed_load(
    axum::extract::State(slots): axum::extract::State<Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if matches!(request.uri().path(), "/healthz" | "/metrics") {
        return next.run(request).await;
    }
    match slots.try_acquire_owned() {
        Ok(_slot) => next.run(request).await,
        Err(_) => crate::error::ApiError::Overloaded.into_response(),
    }
}

/// CORS for the configured origins (none: no CORS headers, same-origin only). Preflights are
/// answered here, before authentication; the headers a client reads (`Kboss-Position`,
/// `X-Request-Id`, `Retry-After`, `Content-Disposition`) are exposed.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        // Checked at start (`Settings::check`): every origin is a valid header value.
        AllowOrigin::list(origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()))
    };
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(crate::routes::IDEMPOTENCY_HEADER),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static(crate::routes::POSITION_HEADER),
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(std::time::Duration::from_secs(3_600));
    Some(layer)
}

/// What opening the stores started: who writes (see [`Opening`]), the write side the handlers
/// use, the read models, the gateway's own log connection, the background tasks, and the
/// operation log's store.
struct Opened {
    writing: Opening,
    write_side: Arc<WriteSide>,
    read: ReadModels,
    log: AsyncLog<AnyReader>,
    tasks: ReadSideTasks,
    operations: OperationStore,
}

/// Who will write: the embedded writer; a candidate for the lease (with the writer it already
/// won at start, if it did); or nobody here.
enum Opening {
    Embedded(Writer),
    Candidate(Candidate, Option<Writer>),
    None,
}

/// The tasks that keep the read models (and the view of the log and the lease) current, and
/// what server mode's report (`/metrics`).
struct ReadSideTasks {
    handles: Vec<tokio::task::JoinHandle<()>>,
    relay: Arc<std::sync::Mutex<Option<TaskReports<u64>>>>,
    consumer: Option<TaskReports<ConsumerProgress>>,
}

async fn open_embedded(settings: &Settings, config: WriterConfig) -> Result<Opened, StartError> {
    std::fs::create_dir_all(&settings.data_dir)?;
    // Before any file is made in it: the directory is the owner's alone.
    private_files(&settings.data_dir, &[])?;
    let data_dir = settings.data_dir.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<Writer, StartError> {
        Ok(Writer::start(SqliteStore::open_writer(&data_dir)?, config)?)
    })
    .await??;
    let read = ReadModels::open_sqlite(&settings.data_dir)?;
    let operations = OperationStore::open_sqlite(&settings.data_dir)?;
    let log_file = event_log::sqlite::DATABASE_FILE;
    let read_file = projections::backend::sqlite::DATABASE_FILE;
    let operations_file = crate::operation_log::DATABASE_FILE;
    let files = [log_file, read_file, operations_file]
        .map(|name| [name.to_owned(), format!("{name}-wal"), format!("{name}-shm")]);
    private_files(&settings.data_dir, files.as_flattened())?;
    let data_dir = settings.data_dir.clone();
    let open: ReaderOpener = Arc::new(move || SqliteReader::open(&data_dir).map(AnyReader::from));
    let log = open_reader(&open).await?;
    let write_side = Arc::new(WriteSide::following());
    write_side.lead(writer.handle());
    // The writer of this process feeds its batches from memory; the runner ends with it.
    let runner = projections::spawn_embedded(
        read.clone(),
        open_reader(&open).await?,
        write_side.committed(),
        Some(writer.handle().feed()),
    );
    let tasks = ReadSideTasks { handles: vec![runner], relay: Default::default(), consumer: None };
    Ok(Opened { writing: Opening::Embedded(writer), write_side, read, log, tasks, operations })
}

/// The data directory 0700 and its stores' files 0600 (those that exist; SQLite gives a WAL and
/// its index the mode of their database): a ledger is nobody else's to read on a shared host.
fn private_files(data_dir: &std::path::Path, files: &[String]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        for file in files {
            let path = data_dir.join(file);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (data_dir, files);
    Ok(())
}

async fn open_postgres(
    settings: &Settings,
    url: &Secret,
    writer_config: WriterConfig,
    bound: std::net::SocketAddr,
) -> Result<Opened, StartError> {
    let config: postgres::Config = url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
    let role = settings.role;
    let terms = LeaseTerms {
        holder: format!("kboss {} {bound} pid {}", role.name(), std::process::id()),
        url: advertised_url(settings, bound),
        ttl: std::time::Duration::from_millis(settings.lease_ttl_ms),
    };
    let write_side = Arc::new(WriteSide::following());
    // A writer role tries for the lease at once: the instance that wins it bootstraps a fresh
    // log before serving. Losing is no failure: the campaign goes on while serving.
    let won = if role.writes() {
        let (store_config, terms) = (config.clone(), terms.clone());
        let config = writer_config.clone();
        tokio::task::spawn_blocking(move || -> Result<Option<Writer>, StartError> {
            match PostgresStore::open_writer_with(&store_config, &terms) {
                Ok(store) => Ok(Some(Writer::start(store, config)?)),
                Err(StoreError::Locked { holder }) => {
                    tracing::warn!(%holder, "another instance holds the writer's lease: following it");
                    Ok(None)
                }
                Err(error) => Err(error.into()),
            }
        })
        .await??
    } else {
        None
    };
    if let Some(writer) = &won {
        write_side.lead(writer.handle());
    }
    let mut pool_config: deadpool_postgres::tokio_postgres::Config =
        url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
    // A paused or hung instance must not hold the read models' locks (a checkpoint row locked
    // by an apply it never finishes stops every other instance's applies): the server ends a
    // session left idle inside a transaction.
    let options = format!(
        "{} -c idle_in_transaction_session_timeout={}",
        pool_config.get_options().unwrap_or_default(),
        IDLE_IN_TRANSACTION_MAX.as_millis()
    );
    pool_config.options(options.trim_start());
    let manager = deadpool_postgres::Manager::new(pool_config, deadpool_postgres::tokio_postgres::NoTls);
    let pool = deadpool_postgres::Pool::builder(manager).max_size(READ_POOL_CONNECTIONS_MAX).build()?;
    let operations = OperationStore::open_postgres(pool.clone()).await?;
    let read = ReadModels::open_postgres_owning(pool, settings.owned_projections()?).await?;
    let open: ReaderOpener = Arc::new(move || PostgresReader::open(&config).map(AnyReader::from));
    let log = open_reader(&open).await?;
    // Every instance reads the lease and polls the log's last position.
    let lease_reader = open_reader(&open).await?;
    write_side.set_lease(lease_reader.call(crate::leadership::read_lease).await?);
    let lease_watcher = crate::leadership::watch_lease(lease_reader, &write_side);
    let (mut polled, poller) = open_reader(&open).await?.follow(FOLLOWER_POLL_INTERVAL);
    let follower = {
        let write_side = write_side.clone();
        tokio::spawn(async move {
            while polled.changed().await.is_ok() {
                write_side.observe_committed(*polled.borrow_and_update());
            }
        })
    };
    let mut tasks = start_distribution(settings, &write_side, &read, open).await?;
    tasks.handles.extend([lease_watcher, poller, follower]);
    let writing = if role.writes() {
        let candidate = Candidate { database: config_of(url)?, terms, writer_config, write_side: write_side.clone() };
        Opening::Candidate(candidate, won)
    } else {
        Opening::None
    };
    Ok(Opened { writing, write_side, read, log, tasks, operations })
}

/// Where other instances reach this one: `advertise_url`, else the bound address when it names
/// one host (not 0.0.0.0 or ::, which say nothing of how to reach it).
fn advertised_url(settings: &Settings, bound: std::net::SocketAddr) -> Option<String> {
    match &settings.advertise_url {
        Some(url) => Some(url.clone()),
        None if bound.ip().is_unspecified() => None,
        None => Some(format!("http://{bound}")),
    }
}

fn config_of(url: &Secret) -> Result<postgres::Config, ConfigError> {
    url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)
}

/// Keeps the read models up to date in server mode, where this role builds them: without NATS
/// the in-process runner catches up from the log whenever the log's position moves; with
/// `nats_url`, this instance's JetStream consumer ([`crate::distribution`]). With NATS, the
/// relay runs where it must ([`RelaySlot`]: on the leader, anywhere while nobody leads) on
/// every instance but an API instance.
async fn start_distribution(
    settings: &Settings,
    write_side: &Arc<WriteSide>,
    read: &ReadModels,
    open: ReaderOpener,
) -> Result<ReadSideTasks, StartError> {
    let role = settings.role;
    let relay = Arc::new(std::sync::Mutex::new(None));
    match &settings.nats_url {
        None => {
            let mut handles = Vec::new();
            if role.projects() {
                let log = open_reader(&open).await?;
                handles.push(projections::spawn_embedded(read.clone(), log, write_side.committed(), None));
            }
            Ok(ReadSideTasks { handles, relay, consumer: None })
        }
        Some(url) => {
            let instance = uuid::Uuid::now_v7().simple().to_string();
            let consume = match role.projects() {
                true => Some((read.clone(), open_reader(&open).await?)),
                false => None,
            };
            let started = crate::distribution::start(url, settings, &instance, consume, write_side.committed()).await?;
            let mut handles: Vec<_> = started.holder.into_iter().collect();
            if role != crate::config::ServeRole::Api {
                let slot = RelaySlot {
                    nats: started.nats,
                    config: crate::distribution::relay_config(settings),
                    open_reader: open,
                    write_side: write_side.clone(),
                    reports: relay.clone(),
                };
                handles.push(slot.spawn());
            }
            Ok(ReadSideTasks { handles, relay, consumer: started.consumer })
        }
    }
}

/// The events a complete bootstrap begins the log with: the platform and its posting rules (the
/// `Bootstrap` command), then the deployment's admin user and token (`SetAdminToken`). A log
/// bootstrapped before users has three: its token had no user.
const BOOTSTRAP_EVENTS: usize = 4;

/// The least a configured `KBOSS_ADMIN_TOKEN` must carry: as many random bytes as a generated one.
pub const ADMIN_TOKEN_BYTES_MIN: usize = crate::auth::TOKEN_BYTES;

/// On a fresh store: the platform org, and its deployment admin token (`admin_token` from the
/// settings, else a generated one, printed once and written to `<data_dir>/admin.token`). The two
/// are two commands: a start interrupted between them left a platform nobody can act for, and
/// this start issues the token (nothing else can have been booked without one). On a store that
/// has one, a configured `admin_token` must be the one in force: a changed value is an error
/// (`kboss admin rotate-token` replaces it), never silently ignored.
async fn bootstrap(state: &SharedState) -> Result<(), StartError> {
    if let Some(token) = &state.settings.admin_token {
        check_admin_token(token.expose())?;
    }
    let Some(writer) = state.writer.writer() else { return Ok(()) };
    let writer = &writer;
    let platform = if *writer.committed().borrow() == 0 {
        None
    } else {
        let first = state.log.read_after(0, BOOTSTRAP_EVENTS).await?;
        check_configured_currency(state, &first)?;
        if first.iter().any(|event| matches!(event.event.payload, EventPayload::TokenIssued(_))) {
            return check_configured_admin_token(state, writer).await;
        }
        let platform = first.iter().find_map(|event| match &event.event.payload {
            EventPayload::OrgOpened(opened) if opened.org.kind == OrgKind::Platform => Some(opened.org.id),
            _ => None,
        });
        match platform {
            Some(platform) => {
                tracing::warn!(%platform, "the last start stopped before the admin token was issued; issuing it now");
                Some(platform)
            }
            None => return Ok(()),
        }
    };
    let platform_id = platform.unwrap_or_else(|| OrgId(uuid::Uuid::now_v7()));
    let principal_id = PrincipalId(uuid::Uuid::now_v7());
    let actor = Actor::new(platform_id, principal_id, [Role::SuperAdmin, Role::Admin]);
    // Each is an operation of the platform's book, as any command is (no request, no client).
    let submit = |body: CommandBody, key: &'static str| {
        let actor = &actor;
        async move {
            let kind = body.name();
            let command = state.command(actor, body);
            let at = command.at;
            let result = writer.submit(WriterRequest::with_key(command, key)).await;
            let answer = result.clone().map_err(crate::error::ApiError::from);
            state.operations.record(Operation::answered(at, actor, kind, &answer), *writer.committed().borrow());
            result
        }
    };
    if platform.is_none() {
        let name = state.settings.platform_name.clone();
        let currency = state.settings.currency.unwrap_or(Currency::CNY);
        submit(CommandBody::Setup(SetupCommand::Bootstrap { platform_id, name, currency }), "bootstrap")
            .await
            .map_err(StartError::Bootstrap)?;
    }
    let (token, generated) = match &state.settings.admin_token {
        Some(token) => (token.expose().to_owned(), false),
        None => (generate_token(), true),
    };
    let hash = token_hash(&token);
    let user_id = UserId(uuid::Uuid::now_v7());
    let body = CommandBody::Access(AccessCommand::SetAdminToken { principal_id, user_id, token_hash: hash.clone() });
    submit(body, "bootstrap-admin-token").await.map_err(StartError::Bootstrap)?;
    let permissions = ledger_core::permissions::resolve(&actor.roles, |_| None);
    state.tokens.insert(hash, Caller { actor, permissions, user_id: Some(user_id), expires_at: None });
    if generated {
        write_admin_token(&state.settings.data_dir, &token)?;
        // Printed once, on purpose: the operator has no other way to learn it (besides the file).
        println!("kboss: generated the admin token {token} (also in {ADMIN_TOKEN_FILE})");
    }
    Ok(())
}

/// A configured currency (`KBOSS_CURRENCY`) must be the one the store's platform opened its book
/// in: a book's currency is fixed when it opens, and a changed setting is an error, never
/// silently ignored.
fn check_configured_currency(state: &SharedState, first: &[ledger_core::RecordedEvent]) -> Result<(), StartError> {
    let Some(configured) = state.settings.currency else { return Ok(()) };
    let platform = first.iter().find_map(|event| match &event.event.payload {
        EventPayload::OrgOpened(opened) if opened.org.kind == OrgKind::Platform => Some(opened.org.currency),
        _ => None,
    });
    match platform {
        Some(kept) if kept != configured => Err(StartError::Config(ConfigError::Invalid(format!(
            "currency {configured} is configured (KBOSS_CURRENCY) but this store's platform keeps its book in {kept}: a \
             book's currency is fixed when it opens"
        )))),
        _ => Ok(()),
    }
}

/// A configured admin token must be as hard to guess as a generated one: at least
/// [`ADMIN_TOKEN_BYTES_MIN`] bytes written in hex or base64 (optionally after `kb_`), and not
/// a repetition of a few characters.
pub fn check_admin_token(token: &str) -> Result<(), ConfigError> {
    let body = token.strip_prefix(crate::auth::TOKEN_PREFIX).unwrap_or(token);
    let hex = body.len() >= 2 * ADMIN_TOKEN_BYTES_MIN && body.bytes().all(|byte| byte.is_ascii_hexdigit());
    let base64 = body.trim_end_matches('=').len() * 6 / 8 >= ADMIN_TOKEN_BYTES_MIN
        && body.trim_end_matches('=').bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_+/".contains(&byte));
    let distinct = body.bytes().collect::<std::collections::BTreeSet<u8>>().len();
    if (hex || base64) && distinct >= 12 {
        Ok(())
    } else {
        Err(ConfigError::WeakAdminToken { bytes_min: ADMIN_TOKEN_BYTES_MIN })
    }
}

/// The configured admin token against the one in force in the log (the writer's state knows).
async fn check_configured_admin_token(state: &SharedState, writer: &WriterHandle) -> Result<(), StartError> {
    let Some(configured) = &state.settings.admin_token else { return Ok(()) };
    let stored = writer
        .inspect(|state| state.deployment_admin.and_then(|id| state.principals.get(&id)).map(|p| p.token_hash.clone()))
        .await
        .flatten();
    match stored {
        Some(stored) if stored == token_hash(configured.expose()) => Ok(()),
        Some(_) => Err(ConfigError::AdminTokenChanged.into()),
        // A log whose admin token was issued before the deployment kept one: nothing to compare.
        None => Ok(()),
    }
}

pub(crate) fn write_admin_token(data_dir: &Path, token: &str) -> Result<(), std::io::Error> {
    use std::io::Write;
    std::fs::create_dir_all(data_dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(data_dir.join(ADMIN_TOKEN_FILE))?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}
