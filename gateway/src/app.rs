//! `Application::build(settings)`: opens the log (SQLite in the data directory, or PostgreSQL),
//! starts the writer, opens the read models and their runner, bootstraps a fresh store, binds
//! the listener (port 0 in tests) and serves until a shutdown signal; graceful shutdown stops
//! taking requests, then drains the sequencer.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use commands::{EventStore, PostgresStore, Request as WriterRequest, SqliteStore, StoreError, Writer, WriterHandle};
use ledger_core::ids::{OrgId, PrincipalId};
use ledger_core::money::Currency;
use ledger_core::org::{Actor, Role};
use ledger_core::{Command, CommandBody, RecordedEvent};
use projections::ReadModels;
use rsa::RsaPublicKey;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{generate_token, token_hash, TokenCache};
use crate::config::{Clock, Secret, Settings};
use crate::metrics::Metrics;
use crate::notifier::Notifier;
use crate::offruntime::OffRuntime;

/// The file a generated admin token is written to, in the data directory (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// Connections in the read pool (PostgreSQL mode).
pub const READ_POOL_CONNECTIONS_MAX: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {address}: {source}")]
    Bind { address: std::net::SocketAddr, source: std::io::Error },
    #[error("the log: {0}")]
    Store(#[from] StoreError),
    #[error("loading the state: {0}")]
    Load(#[from] commands::LoadError),
    #[error("the read models: {0}")]
    Read(#[from] projections::ReadError),
    #[error("bootstrap: {0}")]
    Bootstrap(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A connection to the log for the gateway's own reads (`/v1/events/{position}`, `/readyz`):
/// one, behind a mutex, used from blocking tasks.
pub enum LogReader {
    Sqlite(SqliteStore),
    Postgres(OffRuntime<PostgresStore>),
}

impl LogReader {
    pub fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        match self {
            LogReader::Sqlite(store) => store.read_one(position),
            LogReader::Postgres(store) => store.read_one(position),
        }
    }

    pub fn last_position(&mut self) -> Result<u64, StoreError> {
        match self {
            LogReader::Sqlite(store) => store.last_position(),
            LogReader::Postgres(store) => store.last_position(),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub writer: WriterHandle,
    pub read: ReadModels,
    pub log: Arc<Mutex<LogReader>>,
    pub settings: Arc<Settings>,
    pub tokens: TokenCache,
    pub metrics: Arc<Metrics>,
    pub notifier: Notifier,
    pub clock: Clock,
    pub payment_keys: BTreeMap<String, RsaPublicKey>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Runs a blocking read on the gateway's log connection.
    pub async fn with_log<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut LogReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, crate::error::ApiError> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || read(&mut log.lock().expect("log reader lock")))
            .await
            .map_err(|error| crate::error::ApiError::Internal(error.to_string()))?
            .map_err(|error| {
                tracing::warn!(%error, "log read failed");
                crate::error::ApiError::Unavailable("the log is unavailable; retry shortly".to_owned())
            })
    }
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    writer: Writer,
    state: SharedState,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let settings = Arc::new(settings);
        let payment_keys = crate::payments::load_keys(&settings.payment_channels).map_err(StartError::Config)?;
        let metrics = Arc::new(Metrics::new());
        let (writer, read, log, runner) = match &settings.database_url {
            None => open_embedded(&settings).await?,
            Some(url) => open_postgres(&settings, url).await?,
        };
        let notifier =
            Notifier::start(settings.approval_webhook_url.clone(), settings.limits.notifier_queue_max, metrics.clone());
        let state = Arc::new(AppState {
            writer: writer.handle(),
            read,
            log: Arc::new(Mutex::new(log)),
            settings: settings.clone(),
            tokens: TokenCache::default(),
            metrics,
            notifier,
            clock: settings.clock.clone(),
            payment_keys,
        });
        bootstrap(&state).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { address: settings.listen, source })?;
        let port = listener.local_addr()?.port();
        let router = router(state.clone());
        Ok(Application { listener, port, router, writer, state, background: runner })
    }

    pub fn port(&self) -> u16 {
        self.port
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
        let Application { listener, router, writer, background, .. } = self;
        let served = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
        let _ = tokio::task::spawn_blocking(move || writer.shutdown()).await;
        for task in background {
            task.abort();
        }
        tracing::info!("stopped");
        served
    }
}

pub fn router(state: SharedState) -> Router {
    let body_limit = state.settings.limits.body_bytes_max;
    crate::routes::ops::routes()
        .merge(crate::routes::orgs::routes())
        .merge(crate::routes::catalog::routes())
        .merge(crate::routes::money::routes())
        .merge(crate::routes::orders::routes())
        .merge(crate::routes::finance::routes())
        .merge(crate::routes::settlements::routes())
        .merge(crate::routes::serial::routes())
        .merge(crate::routes::payments::routes())
        .fallback(|| async { crate::error::ApiError::NotFound { what: "route" } })
        .layer(DefaultBodyLimit::max(body_limit))
        // Every request gets an `x-request-id` (kept when the client sent one), traced and echoed.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(tower::limit::ConcurrencyLimitLayer::new(crate::config::CONCURRENT_REQUESTS_MAX))
        .with_state(state)
}

type Opened = (Writer, ReadModels, LogReader, Vec<tokio::task::JoinHandle<()>>);

async fn open_embedded(settings: &Settings) -> Result<Opened, StartError> {
    std::fs::create_dir_all(&settings.data_dir)?;
    let data_dir = settings.data_dir.clone();
    let config = settings.writer_config();
    let writer = tokio::task::spawn_blocking(move || -> Result<Writer, StartError> {
        Ok(Writer::start(SqliteStore::open_writer(&data_dir)?, config)?)
    })
    .await
    .map_err(|error| StartError::Bootstrap(error.to_string()))??;
    let read = ReadModels::open_sqlite(&settings.data_dir)?;
    let log = LogReader::Sqlite(SqliteStore::open_reader(&settings.data_dir)?);
    let runner = start_distribution(settings, &writer, &read, SqliteStore::open_reader(&settings.data_dir)?).await?;
    Ok((writer, read, log, runner))
}

async fn open_postgres(settings: &Settings, url: &Secret) -> Result<Opened, StartError> {
    let config: postgres::Config =
        url.expose().parse().map_err(|_| StartError::Config("database_url is not a PostgreSQL URL".to_owned()))?;
    let holder = format!("kboss-gateway {} pid {}", settings.listen, std::process::id());
    let writer_config = settings.writer_config();
    let store_config = config.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<Writer, StartError> {
        Ok(Writer::start(PostgresStore::open_writer(&store_config, &holder)?, writer_config)?)
    })
    .await
    .map_err(|error| StartError::Bootstrap(error.to_string()))??;
    let pool_config: deadpool_postgres::tokio_postgres::Config =
        url.expose().parse().map_err(|_| StartError::Config("database_url is not a PostgreSQL URL".to_owned()))?;
    let manager = deadpool_postgres::Manager::new(pool_config, deadpool_postgres::tokio_postgres::NoTls);
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(READ_POOL_CONNECTIONS_MAX)
        .build()
        .map_err(|error| StartError::Config(error.to_string()))?;
    let read = ReadModels::open_postgres(pool).await?;
    // The blocking client must not be created on the runtime's threads.
    let (log, runner_reader) = tokio::task::spawn_blocking(move || {
        Ok::<_, StoreError>((PostgresStore::open_reader(&config)?, PostgresStore::open_reader(&config)?))
    })
    .await
    .map_err(|error| StartError::Bootstrap(error.to_string()))??;
    let runner = start_distribution(settings, &writer, &read, OffRuntime::new(runner_reader)).await?;
    Ok((writer, read, LogReader::Postgres(OffRuntime::new(log)), runner))
}

/// Keeps the read models up to date. Embedded: the in-process runner catches up from the log,
/// woken by the writer's committed position. With `nats_url`: [`crate::distribution::start`],
/// the hook where the NATS relay and the JetStream consumers start.
async fn start_distribution<S: EventStore>(
    settings: &Settings,
    writer: &Writer,
    read: &ReadModels,
    log_reader: S,
) -> Result<Vec<tokio::task::JoinHandle<()>>, StartError> {
    match &settings.nats_url {
        None => Ok(vec![projections::spawn_embedded(read.clone(), log_reader, writer.handle().committed())]),
        Some(url) => {
            crate::distribution::start(url, writer.handle(), read.clone(), log_reader).await.map_err(StartError::Config)
        }
    }
}

/// On a fresh store: the platform org, and its `super_admin` token (`admin_token` from the
/// settings, else a generated one, printed once and written to `<data_dir>/admin.token`).
async fn bootstrap(state: &SharedState) -> Result<(), StartError> {
    if *state.writer.committed().borrow() > 0 {
        return Ok(());
    }
    let platform_id = OrgId(uuid::Uuid::now_v7());
    let principal_id = PrincipalId(uuid::Uuid::now_v7());
    let actor = Actor::new(platform_id, principal_id, [Role::SuperAdmin, Role::Admin]);
    let today = state.clock.today();
    let submit = |body: CommandBody, key: &str| {
        let command = Command { actor: actor.clone(), effective_date: today, at: chrono::Utc::now(), body };
        state.writer.submit(WriterRequest::with_key(command, key))
    };
    let name = state.settings.platform_name.clone();
    submit(CommandBody::Bootstrap { platform_id, name, currency: Currency::CNY }, "bootstrap")
        .await
        .map_err(|error| StartError::Bootstrap(error.to_string()))?;
    let (token, generated) = match &state.settings.admin_token {
        Some(token) => (token.expose().to_owned(), false),
        None => (generate_token(), true),
    };
    let hash = token_hash(&token);
    let body = CommandBody::IssueToken {
        principal_id,
        org_id: platform_id,
        roles: [Role::SuperAdmin, Role::Admin].into_iter().collect(),
        label: Some("bootstrap super_admin".to_owned()),
        token_hash: hash.clone(),
    };
    submit(body, "bootstrap-admin-token").await.map_err(|error| StartError::Bootstrap(error.to_string()))?;
    state.tokens.insert(hash, actor);
    if generated {
        write_admin_token(&state.settings.data_dir, &token)?;
        // Printed once, on purpose: the operator has no other way to learn it (besides the file).
        println!("kboss: generated the super_admin token {token} (also in {ADMIN_TOKEN_FILE})");
    }
    Ok(())
}

fn write_admin_token(data_dir: &Path, token: &str) -> Result<(), std::io::Error> {
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
