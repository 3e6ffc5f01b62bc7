//! The operation log (操作日志, issue 9 item 6): every command the gateway submits, accepted or
//! refused, with who asked (org, token, and the person once tokens belong to users), from where
//! (the request id and the client's address), what (the command's name) and what came of it
//! (the outcome, the problem's code, the log position).
//!
//! It is neither the ledger's log nor a read model. A refused command must not enter the log, so
//! its record lives here, in a store of its own beside the read models: `<data_dir>/
//! operations.sqlite` when embedded, table `operation_log` in the log's PostgreSQL schema in
//! server mode. Nothing derives it from the log and nothing rebuilds it: `kboss rebuild` leaves it
//! alone, and an accepted operation's events (which carry the actor) stay the truth of what was
//! booked. Refused, failed and replayed operations are kept `operation_log_retention_days`
//! (pruned at start and every hour); accepted ones are kept.
//!
//! - [`OperationLog::record`] never waits: a bounded queue to one recorder task, which writes
//!   what waits in one transaction. A full queue drops the operation, counts it
//!   (`kboss_operation_log_total{outcome="dropped"}`) and logs it: the write path is never
//!   slowed or stopped by this log. A write the store refuses is counted `failed` and logged.
//! - [`OperationLog::flush`]: waits until every operation recorded so far on this instance is
//!   written (a read of the log sees the requests this instance answered before it).
//! - A customer's operations show in its seller's book: the recorder finds the seller in the
//!   read models (and remembers it; an org's parent never changes).
//! - [`Origin`] and [`with_origin`]: the request id and client address of the request being
//!   served, set by a layer on every route and read by `AppState::execute`. `X-Forwarded-For`
//!   is believed only from a configured trusted proxy.
//!
//! A leaf: imports `config`, `error` and `metrics`, never `state`, `routes` or `app`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use commands::Committed;
use deadpool_postgres::Pool;
use ledger_core::ids::{OrgId, PrincipalId};
use ledger_core::org::{Actor, Role};
use ledger_core::{
    AccessCommand, ApprovalCommand, ClockCommand, CommandBody, MoneyCommand, OrderCommand, RegistryCommand,
    SerialCommand, SettlementCommand, SetupCommand, TermsCommand,
};
use projections::ReadModels;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::config::TrustedProxies;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The embedded store, in the data directory.
pub const DATABASE_FILE: &str = "operations.sqlite";
/// Operations written in one transaction, at most.
pub const RECORD_BATCH_MAX: usize = 1_000;
/// How often refused and failed operations past their retention are pruned (also at start).
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3_600);
/// The longest request id kept (a client's `X-Request-Id` is cut to it).
pub const REQUEST_ID_LENGTH_MAX: usize = 128;
/// How long the recorder waits for the read models to know a customer whose operation it places
/// in the seller's book (the customer was opened just before; normally milliseconds).
pub const SELLER_LOOKUP_WAIT_MAX: Duration = Duration::from_secs(2);
/// After a wait for the read models timed out, how long the recorder does not wait again (a
/// lagging read side must not slow the recorder down to one customer every two seconds).
pub const SELLER_LOOKUP_PAUSE: Duration = Duration::from_secs(30);
/// Sellers remembered; the memory is cleared when it would grow past this.
pub const SELLER_CACHE_MAX: usize = 100_000;
/// How long a statement waits for SQLite's lock before the store is reported unavailable.
const BUSY_TIMEOUT_MS: u64 = 5_000;
const CURSOR_PREFIX: &str = "op1.";

/// The gateway's own store's migrations: the operation log, then each book's approval webhook
/// (`crate::approval_webhooks`, which keeps its rows in this store), then (PostgreSQL only) the
/// deployment's audit key (`crate::audit`).
const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../schemas/sql/operation_log/sqlite/0001_operation_log.sql")),
    (2, include_str!("../../schemas/sql/operation_log/sqlite/0002_approval_webhooks.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../schemas/sql/operation_log/postgres/0001_operation_log.sql")),
    (2, include_str!("../../schemas/sql/operation_log/postgres/0002_approval_webhooks.sql")),
    // The deployment's audit key (`crate::audit`); embedded, it is a file of the data directory.
    (3, include_str!("../../schemas/sql/operation_log/postgres/0003_audit_key.sql")),
];
/// The first key of the advisory lock serialising the operation log's migrations in PostgreSQL
/// (the log's store uses "KBOS" and "KBOS" + 1, the read models "KBOS" + 2); the second key is
/// the schema's hash.
const MIGRATION_LOCK_CLASS: i32 = 0x4b_42_4f_53 + 3;

const COLUMNS: &str =
    "seq, at_micros, book_id, org_id, user_id, token_id, kind, outcome, code, position, request_id, client";

/// What came of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Committed: its events are in the log; `position` is its last event's.
    Accepted,
    /// The stored answer of an earlier request with the same `Idempotency-Key`: nothing new in
    /// the log; `position` is the one answered.
    Replayed,
    /// The ledger refused it (`code`: the refusal's, or `idempotency_conflict`): nothing in the log.
    Refused,
    /// Not decided: the writer was busy (`overloaded`), unavailable (`unavailable`: a failed
    /// append, a follower instance, a shutdown) or failed (`internal`).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Replayed => "replayed",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Accepted, Outcome::Replayed, Outcome::Refused, Outcome::Failed]
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// One command answered, as the operation log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// When the gateway submitted the command (the command's time).
    pub at: DateTime<Utc>,
    /// The book it shows in: the caller's org for staff; `None` on the way in for a customer,
    /// whom the recorder places in its seller's book (and leaves `None` only when the read
    /// models did not know the customer in time: logged).
    pub book_id: Option<OrgId>,
    /// The caller's org.
    pub org_id: OrgId,
    /// The person who acted: none until tokens belong to users.
    pub user_id: Option<Uuid>,
    /// The token (principal) that acted.
    pub token_id: PrincipalId,
    /// The command's name (`CommandBody::name()`).
    pub kind: String,
    pub outcome: Outcome,
    /// The answer's problem code, for a refused or failed command.
    pub code: Option<String>,
    /// The log position answered, for an accepted or replayed command.
    pub position: Option<u64>,
    /// `X-Request-Id` of the HTTP request (the client's, or the one the gateway gave it); one id
    /// per run for `kboss settle`; none for the bootstrap.
    pub request_id: Option<String>,
    /// The client's address (the peer's, or a trusted proxy's `X-Forwarded-For`); none outside HTTP.
    pub client: Option<String>,
}

impl Operation {
    /// An operation from a command's answer: accepted or replayed with its position, else
    /// refused or failed with the answer's problem code.
    pub fn answered(at: DateTime<Utc>, actor: &Actor, kind: &str, answer: &Result<Committed, ApiError>) -> Operation {
        let staff = actor.roles.iter().any(|role| *role != Role::Customer);
        let (outcome, code, position) = match answer {
            Ok(committed) => {
                let outcome = if committed.replayed { Outcome::Replayed } else { Outcome::Accepted };
                (outcome, None, Some(committed.position))
            }
            Err(error @ (ApiError::Domain(_) | ApiError::IdempotencyConflict)) => {
                (Outcome::Refused, Some(error.code().to_owned()), None)
            }
            Err(error) => (Outcome::Failed, Some(error.code().to_owned()), None),
        };
        Operation {
            at,
            book_id: staff.then_some(actor.org_id),
            org_id: actor.org_id,
            user_id: None,
            token_id: actor.principal_id,
            kind: kind.to_owned(),
            outcome,
            code,
            position,
            request_id: None,
            client: None,
        }
    }

    /// With the request id and client address of the request it came in.
    pub fn from_origin(mut self, origin: Origin) -> Operation {
        self.request_id = origin.request_id;
        self.client = origin.client.map(|client| client.to_string());
        self
    }
}

/// Every command's name (`CommandBody::name()`, `place_order`, ...), sorted: what `kind=` takes.
/// Read from serde's own refusal of an unknown command in each family ("unknown variant `…`,
/// expected one of `a`, `b`"), so the list is exactly the commands that exist.
pub fn command_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        // Every family is listed below: a new one fails to compile here until it is.
        let _every_family = |body: &CommandBody| match body {
            CommandBody::Setup(_)
            | CommandBody::Money(_)
            | CommandBody::Orders(_)
            | CommandBody::Serial(_)
            | CommandBody::Settlement(_)
            | CommandBody::Approval(_)
            | CommandBody::Access(_)
            | CommandBody::Registry(_)
            | CommandBody::Terms(_)
            | CommandBody::Clock(_) => (),
        };
        let mut names = [
            family::<SetupCommand>(),
            family::<MoneyCommand>(),
            family::<OrderCommand>(),
            family::<SerialCommand>(),
            family::<SettlementCommand>(),
            family::<ApprovalCommand>(),
            family::<AccessCommand>(),
            family::<RegistryCommand>(),
            family::<TermsCommand>(),
            family::<ClockCommand>(),
        ]
        .concat();
        names.sort();
        names
    })
}

fn family<F: serde::de::DeserializeOwned>() -> Vec<String> {
    let refusal = match serde_json::from_value::<F>(serde_json::json!({ "command": "\u{0}" })) {
        Ok(_) => return Vec::new(),
        Err(error) => error.to_string(),
    };
    let expected = refusal.split_once("expected ").map_or("", |(_, expected)| expected);
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// Where a request came from: its request id and its client's address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub request_id: Option<String>,
    pub client: Option<IpAddr>,
}

tokio::task_local! {
    /// The origin of the request the current task serves ([`with_origin`]).
    static ORIGIN: Origin;
}

impl Origin {
    /// `X-Request-Id` (as the client sent it or as the gateway made it, cut to
    /// [`REQUEST_ID_LENGTH_MAX`]) and the client's address: the peer's, or, when the peer is a
    /// trusted proxy, the nearest address of `X-Forwarded-For` that is not one.
    pub fn of(request: &Request, proxies: &TrustedProxies) -> Origin {
        let request_id = request.headers().get("x-request-id").and_then(|value| value.to_str().ok()).map(|text| {
            let end = text.char_indices().nth(REQUEST_ID_LENGTH_MAX).map_or(text.len(), |(at, _)| at);
            text[..end].to_owned()
        });
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        let forwarded: Vec<&str> =
            request.headers().get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok()).collect();
        Origin { request_id, client: client_address(peer, &forwarded.join(","), proxies) }
    }

    /// The origin of the request this task serves; none outside a request (the bootstrap).
    pub fn current() -> Origin {
        ORIGIN.try_with(Origin::clone).unwrap_or_default()
    }
}

/// The client of a request from `peer` with `X-Forwarded-For: forwarded`: from a peer that is not
/// a trusted proxy, the peer (the header is anyone's to write); from a trusted proxy, the
/// rightmost address that is not a trusted proxy (each proxy appends the address it saw), or the
/// last one read when the rest is not an address.
pub fn client_address(peer: Option<IpAddr>, forwarded: &str, proxies: &TrustedProxies) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !proxies.contains(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded.rsplit(',').map(str::trim).filter(|hop| !hop.is_empty()) {
        let Some(address) = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|hop| hop.ip()))
        else {
            break;
        };
        client = address.to_canonical();
        if !proxies.contains(client) {
            break;
        }
    }
    Some(client)
}

/// The layer on every route that makes the request's [`Origin`] the task's while it is served.
pub async fn with_origin(State(proxies): State<Arc<TrustedProxies>>, request: Request, next: Next) -> Response {
    let origin = Origin::of(&request, &proxies);
    ORIGIN.scope(origin, next.run(request)).await
}

#[derive(Debug, thiserror::Error)]
pub enum OperationLogError {
    /// The store cannot be reached (503).
    #[error("the operation log is unavailable: {0}")]
    Unavailable(String),
    /// Stored rows do not decode (500, logged).
    #[error("the operation log is corrupt: {0}")]
    Corrupt(String),
}

pub(crate) fn unavailable(error: impl std::fmt::Display) -> OperationLogError {
    OperationLogError::Unavailable(error.to_string())
}

impl From<OperationLogError> for ApiError {
    fn from(error: OperationLogError) -> ApiError {
        match error {
            OperationLogError::Unavailable(reason) => {
                tracing::warn!(%reason, "the operation log is unavailable");
                ApiError::Unavailable("the operation log is unavailable; retry shortly".to_owned())
            }
            OperationLogError::Corrupt(reason) => ApiError::Internal(reason),
        }
    }
}

/// In which order a query answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The API's pages: the latest first.
    NewestFirst,
    /// The CSV file: as they happened.
    OldestFirst,
}

/// A book's operations, filtered.
#[derive(Clone, Debug)]
pub struct OperationQuery {
    pub book: OrgId,
    pub user_id: Option<Uuid>,
    pub token_id: Option<PrincipalId>,
    pub kind: Option<String>,
    pub outcome: Option<Outcome>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// At or before.
    pub to: Option<DateTime<Utc>>,
    pub order: Order,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// A page of operations and the cursor of the next.
#[derive(Clone, Debug)]
pub struct OperationPage {
    pub items: Vec<Operation>,
    pub next_cursor: Option<String>,
}

/// A parameter of a query.
#[derive(Clone, Debug)]
enum Value {
    Integer(i64),
    Text(String),
}

impl Value {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        match self {
            Value::Integer(value) => value,
            Value::Text(value) => value,
        }
    }

    fn postgres(&self) -> &(dyn deadpool_postgres::tokio_postgres::types::ToSql + Sync) {
        match self {
            Value::Integer(value) => value,
            Value::Text(value) => value,
        }
    }
}

/// The SELECT of a query (reading `limit + 1` rows: the extra one says there is a next page),
/// with `placeholder(n)` the backend's n-th parameter.
fn select(query: &OperationQuery, after: Option<i64>, placeholder: fn(usize) -> String) -> (String, Vec<Value>) {
    let mut values = vec![Value::Text(query.book.to_string())];
    let mut sql = format!("SELECT {COLUMNS} FROM operation_log WHERE book_id = {}", placeholder(1));
    let mut filter = |column: &str, comparison: &str, value: Value| {
        values.push(value);
        sql.push_str(&format!(" AND {column} {comparison} {}", placeholder(values.len())));
    };
    if let Some(user) = query.user_id {
        filter("user_id", "=", Value::Text(user.to_string()));
    }
    if let Some(token) = query.token_id {
        filter("token_id", "=", Value::Text(token.to_string()));
    }
    if let Some(kind) = &query.kind {
        filter("kind", "=", Value::Text(kind.clone()));
    }
    if let Some(outcome) = query.outcome {
        filter("outcome", "=", Value::Text(outcome.as_str().to_owned()));
    }
    if let Some(from) = query.from {
        filter("at_micros", ">=", Value::Integer(from.timestamp_micros()));
    }
    if let Some(to) = query.to {
        filter("at_micros", "<=", Value::Integer(to.timestamp_micros()));
    }
    let direction = match query.order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    if let Some(after) = after {
        filter("seq", if query.order == Order::NewestFirst { "<" } else { ">" }, Value::Integer(after));
    }
    values.push(Value::Integer(query.limit as i64 + 1));
    sql.push_str(&format!(" ORDER BY seq {direction} LIMIT {}", placeholder(values.len())));
    (sql, values)
}

fn decode_cursor(cursor: &Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(cursor) = cursor else { return Ok(None) };
    cursor.strip_prefix(CURSOR_PREFIX).and_then(|seq| seq.parse::<i64>().ok()).map(Some).ok_or_else(|| {
        ApiError::BadRequest {
            detail: "the cursor was not issued by this list".to_owned(),
            field: Some("cursor".to_owned()),
        }
    })
}

/// A stored row: its sequence number and the operation.
struct Row {
    seq: i64,
    at_micros: i64,
    book_id: Option<String>,
    org_id: String,
    user_id: Option<String>,
    token_id: String,
    kind: String,
    outcome: String,
    code: Option<String>,
    position: Option<i64>,
    request_id: Option<String>,
    client: Option<String>,
}

impl Row {
    fn operation(self) -> Result<(i64, Operation), OperationLogError> {
        let corrupt = |what: &str| OperationLogError::Corrupt(format!("operation {}: {what}", self.seq));
        let uuid = |text: &str, what: &str| text.parse::<Uuid>().map_err(|_| corrupt(what));
        let operation = Operation {
            at: DateTime::from_timestamp_micros(self.at_micros).ok_or_else(|| corrupt("at"))?,
            book_id: self.book_id.as_deref().map(|id| uuid(id, "book_id").map(OrgId)).transpose()?,
            org_id: OrgId(uuid(&self.org_id, "org_id")?),
            user_id: self.user_id.as_deref().map(|id| uuid(id, "user_id")).transpose()?,
            token_id: PrincipalId(uuid(&self.token_id, "token_id")?),
            kind: self.kind.clone(),
            outcome: Outcome::parse(&self.outcome).ok_or_else(|| corrupt("outcome"))?,
            code: self.code.clone(),
            position: self
                .position
                .map(|position| u64::try_from(position).map_err(|_| corrupt("position")))
                .transpose()?,
            request_id: self.request_id.clone(),
            client: self.client.clone(),
        };
        Ok((self.seq, operation))
    }
}

/// Where operations are kept: SQLite (embedded) or PostgreSQL (server mode). Cheap to clone.
#[derive(Clone)]
pub enum OperationStore {
    Sqlite {
        /// The recorder's connection (inserts, pruning).
        writer: Arc<Mutex<Connection>>,
        /// The reads' (WAL: they never wait for the writer).
        reader: Arc<Mutex<Connection>>,
    },
    Postgres(Pool),
}

fn open_connection(path: &Path) -> Result<Connection, OperationLogError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    // What a crash may lose is the last moments' operations, never the ledger's: NORMAL.
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"
        ))
        .map_err(unavailable)?;
    Ok(connection)
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, OperationLogError> + Send + 'static,
) -> Result<T, OperationLogError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| unavailable(format!("blocking task failed: {error}")))?
}

pub(crate) fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding it leaves nothing half-done that SQLite did not roll back.
    connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: row.get(0)?,
        at_micros: row.get(1)?,
        book_id: row.get(2)?,
        org_id: row.get(3)?,
        user_id: row.get(4)?,
        token_id: row.get(5)?,
        kind: row.get(6)?,
        outcome: row.get(7)?,
        code: row.get(8)?,
        position: row.get(9)?,
        request_id: row.get(10)?,
        client: row.get(11)?,
    })
}

fn postgres_row(row: &deadpool_postgres::tokio_postgres::Row) -> Result<Row, OperationLogError> {
    let corrupt = |error: deadpool_postgres::tokio_postgres::Error| OperationLogError::Corrupt(error.to_string());
    Ok(Row {
        seq: row.try_get(0).map_err(corrupt)?,
        at_micros: row.try_get(1).map_err(corrupt)?,
        book_id: row.try_get(2).map_err(corrupt)?,
        org_id: row.try_get(3).map_err(corrupt)?,
        user_id: row.try_get(4).map_err(corrupt)?,
        token_id: row.try_get(5).map_err(corrupt)?,
        kind: row.try_get(6).map_err(corrupt)?,
        outcome: row.try_get(7).map_err(corrupt)?,
        code: row.try_get(8).map_err(corrupt)?,
        position: row.try_get(9).map_err(corrupt)?,
        request_id: row.try_get(10).map_err(corrupt)?,
        client: row.try_get(11).map_err(corrupt)?,
    })
}

const INSERT_SQLITE: &str = "INSERT INTO operation_log (at_micros, book_id, org_id, user_id, token_id, kind, outcome, \
     code, position, request_id, client) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
/// One statement per batch: a row per element of the arrays.
const INSERT_POSTGRES: &str = "INSERT INTO operation_log (at_micros, book_id, org_id, user_id, token_id, kind, \
     outcome, code, position, request_id, client) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], \
     $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[])";
const PRUNE: &str = "DELETE FROM operation_log WHERE outcome <> 'accepted' AND at_micros < ";

impl OperationStore {
    /// Opens (creating and migrating) `<data_dir>/operations.sqlite`, the owner's alone (0600:
    /// SQLite gives its WAL the same mode), whoever opens it first (`kboss serve` or `settle`).
    pub fn open_sqlite(data_dir: &Path) -> Result<OperationStore, OperationLogError> {
        std::fs::create_dir_all(data_dir).map_err(unavailable)?;
        let path = data_dir.join(DATABASE_FILE);
        // Made 0600 before SQLite opens it (an empty file is a new database to SQLite), so its
        // WAL, made with the database's mode, is never readable by others either.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path).map_err(unavailable)?;
        let mut writer = open_connection(&path)?;
        let transaction = writer.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
        transaction
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS operation_log_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
            )
            .map_err(unavailable)?;
        for (version, sql) in SQLITE_MIGRATIONS {
            let applied: i64 = transaction
                .query_row("SELECT COUNT(*) FROM operation_log_migrations WHERE version = ?1", [version], |row| {
                    row.get(0)
                })
                .map_err(unavailable)?;
            if applied == 0 {
                transaction.execute_batch(sql).map_err(unavailable)?;
                transaction
                    .execute(
                        "INSERT INTO operation_log_migrations (version, applied_at) VALUES (?1, ?2)",
                        rusqlite::params![version, Utc::now().to_rfc3339()],
                    )
                    .map_err(unavailable)?;
            }
        }
        transaction.commit().map_err(unavailable)?;
        let reader = open_connection(&path)?;
        Ok(OperationStore::Sqlite { writer: Arc::new(Mutex::new(writer)), reader: Arc::new(Mutex::new(reader)) })
    }

    /// Uses the pool's database and schema (its `search_path`, the log's); migrates if needed.
    pub async fn open_postgres(pool: Pool) -> Result<OperationStore, OperationLogError> {
        let mut client = pool.get().await.map_err(unavailable)?;
        let transaction = client.transaction().await.map_err(unavailable)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", &[&MIGRATION_LOCK_CLASS])
            .await
            .map_err(unavailable)?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS operation_log_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await
            .map_err(unavailable)?;
        for (version, sql) in POSTGRES_MIGRATIONS {
            let applied = transaction
                .query_opt("SELECT version FROM operation_log_migrations WHERE version = $1", &[version])
                .await
                .map_err(unavailable)?;
            if applied.is_none() {
                transaction.batch_execute(sql).await.map_err(unavailable)?;
                transaction
                    .execute("INSERT INTO operation_log_migrations (version) VALUES ($1)", &[version])
                    .await
                    .map_err(unavailable)?;
            }
        }
        transaction.commit().await.map_err(unavailable)?;
        drop(client);
        Ok(OperationStore::Postgres(pool))
    }

    /// Writes the operations, in order, in one transaction.
    async fn insert(&self, operations: Vec<Operation>) -> Result<(), OperationLogError> {
        match self {
            OperationStore::Sqlite { writer, .. } => {
                let writer = writer.clone();
                blocking(move || {
                    let mut connection = lock(&writer);
                    let transaction = connection.transaction().map_err(unavailable)?;
                    {
                        let mut insert = transaction.prepare_cached(INSERT_SQLITE).map_err(unavailable)?;
                        for operation in &operations {
                            insert
                                .execute(rusqlite::params![
                                    operation.at.timestamp_micros(),
                                    operation.book_id.map(|id| id.to_string()),
                                    operation.org_id.to_string(),
                                    operation.user_id.map(|id| id.to_string()),
                                    operation.token_id.to_string(),
                                    operation.kind,
                                    operation.outcome.as_str(),
                                    operation.code,
                                    operation.position.map(|position| position as i64),
                                    operation.request_id,
                                    operation.client,
                                ])
                                .map_err(unavailable)?;
                        }
                    }
                    transaction.commit().map_err(unavailable)
                })
                .await
            }
            OperationStore::Postgres(pool) => {
                let client = pool.get().await.map_err(unavailable)?;
                let column = |get: fn(&Operation) -> Option<String>| operations.iter().map(get).collect::<Vec<_>>();
                let at: Vec<i64> = operations.iter().map(|operation| operation.at.timestamp_micros()).collect();
                let positions: Vec<Option<i64>> =
                    operations.iter().map(|operation| operation.position.map(|position| position as i64)).collect();
                let book = column(|operation| operation.book_id.map(|id| id.to_string()));
                let org = column(|operation| Some(operation.org_id.to_string()));
                let user = column(|operation| operation.user_id.map(|id| id.to_string()));
                let token = column(|operation| Some(operation.token_id.to_string()));
                let kind = column(|operation| Some(operation.kind.clone()));
                let outcome = column(|operation| Some(operation.outcome.as_str().to_owned()));
                let code = column(|operation| operation.code.clone());
                let request = column(|operation| operation.request_id.clone());
                let address = column(|operation| operation.client.clone());
                client
                    .execute(
                        INSERT_POSTGRES,
                        &[&at, &book, &org, &user, &token, &kind, &outcome, &code, &positions, &request, &address],
                    )
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }
        }
    }

    /// Deletes the operations that are not `accepted` from before `before`; answers how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, OperationLogError> {
        let before = before.timestamp_micros();
        match self {
            OperationStore::Sqlite { writer, .. } => {
                let writer = writer.clone();
                blocking(move || {
                    let deleted = lock(&writer).execute(&format!("{PRUNE}?1"), [before]).map_err(unavailable)?;
                    Ok(deleted as u64)
                })
                .await
            }
            OperationStore::Postgres(pool) => {
                let client = pool.get().await.map_err(unavailable)?;
                client.execute(&format!("{PRUNE}$1"), &[&before]).await.map_err(unavailable)
            }
        }
    }

    async fn query(&self, query: &OperationQuery, after: Option<i64>) -> Result<Vec<Row>, OperationLogError> {
        match self {
            OperationStore::Sqlite { reader, .. } => {
                let (sql, values) = select(query, after, |n| format!("?{n}"));
                let reader = reader.clone();
                blocking(move || {
                    let connection = lock(&reader);
                    let mut statement = connection.prepare_cached(&sql).map_err(unavailable)?;
                    let rows = statement
                        .query_map(rusqlite::params_from_iter(values.iter().map(Value::sqlite)), sqlite_row)
                        .map_err(unavailable)?;
                    rows.collect::<Result<Vec<Row>, _>>().map_err(unavailable)
                })
                .await
            }
            OperationStore::Postgres(pool) => {
                let (sql, values) = select(query, after, |n| format!("${n}"));
                let client = pool.get().await.map_err(unavailable)?;
                let parameters: Vec<_> = values.iter().map(Value::postgres).collect();
                let rows = client.query(&sql, &parameters).await.map_err(unavailable)?;
                rows.iter().map(postgres_row).collect()
            }
        }
    }
}

/// An operation waiting for the recorder, with the log position committed when it was answered
/// (the read models know its customer once they reach it).
struct Queued {
    operation: Operation,
    committed: u64,
}

/// The operation log: what handlers and the CLI record into and read from. Cheap to clone.
#[derive(Clone)]
pub struct OperationLog {
    inner: Arc<Inner>,
}

struct Inner {
    store: OperationStore,
    queue: mpsc::Sender<Queued>,
    /// Operations handed to the recorder (not dropped), and those it has written (or failed to).
    enqueued: AtomicU64,
    recorded: watch::Receiver<u64>,
    dropped: AtomicU64,
    metrics: Arc<Metrics>,
    retention: chrono::Duration,
}

/// The task that writes what the queue holds and prunes what is past its retention.
pub struct Recorder {
    store: OperationStore,
    queue: mpsc::Receiver<Queued>,
    read: Option<ReadModels>,
    recorded: watch::Sender<u64>,
    metrics: Arc<Metrics>,
    retention: chrono::Duration,
    sellers: HashMap<OrgId, OrgId>,
    /// Until when the recorder does not wait for the read models (after a wait timed out).
    not_waiting_until: Option<tokio::time::Instant>,
}

impl OperationLog {
    /// The log over `store` with its recorder running: a queue of `capacity` operations, refused
    /// and failed ones kept `retention_days`. `read` finds a customer's seller (none in the CLI,
    /// whose operations are all staff's).
    pub fn start(
        store: OperationStore,
        read: Option<ReadModels>,
        capacity: usize,
        retention_days: u32,
        metrics: Arc<Metrics>,
    ) -> OperationLog {
        let (log, recorder) = OperationLog::new(store, read, capacity, retention_days, metrics);
        tokio::spawn(recorder.run());
        log
    }

    /// The log and its recorder, not yet running ([`Recorder::run`]).
    pub fn new(
        store: OperationStore,
        read: Option<ReadModels>,
        capacity: usize,
        retention_days: u32,
        metrics: Arc<Metrics>,
    ) -> (OperationLog, Recorder) {
        let (queue, receiver) = mpsc::channel(capacity);
        let (recorded, recorded_receiver) = watch::channel(0);
        let retention = chrono::Duration::days(i64::from(retention_days));
        let recorder = Recorder {
            store: store.clone(),
            queue: receiver,
            read,
            recorded,
            metrics: metrics.clone(),
            retention,
            sellers: HashMap::new(),
            not_waiting_until: None,
        };
        let inner = Inner {
            store,
            queue,
            enqueued: AtomicU64::new(0),
            recorded: recorded_receiver,
            dropped: AtomicU64::new(0),
            metrics,
            retention,
        };
        (OperationLog { inner: Arc::new(inner) }, recorder)
    }

    /// Hands an operation to the recorder without waiting; a full queue drops it (counted and
    /// logged). `committed`: the log's last position when it was answered.
    pub fn record(&self, operation: Operation, committed: u64) {
        let inner = &self.inner;
        match inner.queue.try_send(Queued { operation, committed }) {
            Ok(()) => {
                inner.enqueued.fetch_add(1, Ordering::AcqRel);
            }
            Err(refused) => {
                let dropped = inner.dropped.fetch_add(1, Ordering::AcqRel) + 1;
                inner.metrics.count_operations("dropped", 1);
                // The first, then every thousandth: a burst is one line per thousand, not a flood.
                if dropped == 1 || dropped % 1_000 == 0 {
                    let operation = match &refused {
                        mpsc::error::TrySendError::Full(queued) | mpsc::error::TrySendError::Closed(queued) => {
                            &queued.operation
                        }
                    };
                    tracing::warn!(
                        dropped,
                        kind = %operation.kind,
                        request_id = ?operation.request_id,
                        "the operation log's queue is full; operations are dropped"
                    );
                }
            }
        }
    }

    /// Waits (at most `timeout`) until every operation recorded so far is written; answers
    /// whether it was.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = self.inner.enqueued.load(Ordering::Acquire);
        let mut recorded = self.inner.recorded.clone();
        tokio::time::timeout(timeout, recorded.wait_for(|recorded| *recorded >= target))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    /// Deletes the refused, failed and replayed operations older than the retention at `now`
    /// (the recorder's clock, or a test's); answers how many.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64, OperationLogError> {
        prune(&self.inner.store, &self.inner.metrics, self.inner.retention, now).await
    }

    /// A page of a book's operations.
    pub async fn page(&self, query: &OperationQuery) -> Result<OperationPage, ApiError> {
        let after = decode_cursor(&query.cursor)?;
        let rows = self.inner.store.query(query, after).await?;
        let more = rows.len() > query.limit;
        let mut items = Vec::with_capacity(rows.len().min(query.limit));
        let mut last = None;
        for row in rows.into_iter().take(query.limit) {
            let (seq, operation) = row.operation()?;
            items.push(operation);
            last = Some(seq);
        }
        let next_cursor = if more { last.map(|seq| format!("{CURSOR_PREFIX}{seq}")) } else { None };
        Ok(OperationPage { items, next_cursor })
    }
}

async fn prune(
    store: &OperationStore,
    metrics: &Metrics,
    retention: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<u64, OperationLogError> {
    let pruned = store.prune(now - retention).await?;
    metrics.count_operations("pruned", pruned);
    Ok(pruned)
}

impl Recorder {
    /// Writes what the queue holds, a batch at a time, and prunes at start and every
    /// [`PRUNE_INTERVAL`]; ends when every [`OperationLog`] is dropped.
    pub async fn run(mut self) {
        let mut pruning = tokio::time::interval(PRUNE_INTERVAL);
        pruning.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = self.queue.recv() => {
                    let Some(first) = received else { break };
                    let mut batch = vec![first];
                    while batch.len() < RECORD_BATCH_MAX {
                        match self.queue.try_recv() {
                            Ok(queued) => batch.push(queued),
                            Err(_) => break,
                        }
                    }
                    self.write(batch).await;
                }
                _ = pruning.tick() => {
                    match prune(&self.store, &self.metrics, self.retention, Utc::now()).await {
                        Ok(0) => {}
                        Ok(pruned) => tracing::info!(pruned, "pruned refused and failed operations past their retention"),
                        Err(error) => tracing::warn!(%error, "pruning the operation log failed; retried at the next interval"),
                    }
                }
            }
        }
    }

    async fn write(&mut self, batch: Vec<Queued>) {
        let count = batch.len() as u64;
        let mut operations = Vec::with_capacity(batch.len());
        for Queued { mut operation, committed } in batch {
            if operation.book_id.is_none() {
                operation.book_id = self.seller(operation.org_id, committed).await;
            }
            operations.push(operation);
        }
        match self.store.insert(operations).await {
            Ok(()) => self.metrics.count_operations("recorded", count),
            Err(error) => {
                tracing::warn!(%error, operations = count, "the operation log refused a write; these operations are lost");
                self.metrics.count_operations("failed", count);
            }
        }
        self.recorded.send_modify(|recorded| *recorded += count);
    }

    /// The seller of a customer (its parent, whose book shows its operations), from the read
    /// models once they have applied what was committed when it acted.
    async fn seller(&mut self, customer: OrgId, committed: u64) -> Option<OrgId> {
        if let Some(seller) = self.sellers.get(&customer) {
            return Some(*seller);
        }
        let read = self.read.as_ref()?;
        let mut org = read.org(customer).await;
        let may_wait = self.not_waiting_until.is_none_or(|until| tokio::time::Instant::now() >= until);
        if matches!(org, Ok(None)) && may_wait {
            match read.wait_for(committed, SELLER_LOOKUP_WAIT_MAX).await {
                Ok(_) => org = read.org(customer).await,
                Err(_) => self.not_waiting_until = Some(tokio::time::Instant::now() + SELLER_LOOKUP_PAUSE),
            }
        }
        match org.map(|org| org.and_then(|org| org.parent_id)) {
            Ok(Some(seller)) => {
                if self.sellers.len() >= SELLER_CACHE_MAX {
                    self.sellers.clear();
                }
                self.sellers.insert(customer, seller);
                Some(seller)
            }
            Ok(None) => {
                tracing::warn!(%customer, "the read models do not know this customer; its operation shows in no book");
                None
            }
            Err(error) => {
                tracing::warn!(%customer, %error, "cannot find the customer's seller; its operation shows in no book");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(at: DateTime<Utc>, book: OrgId, kind: &str, outcome: Outcome) -> Operation {
        Operation {
            at,
            book_id: Some(book),
            org_id: book,
            user_id: None,
            token_id: PrincipalId::from_u128(7),
            kind: kind.to_owned(),
            outcome,
            code: (outcome != Outcome::Accepted).then(|| "insufficient_balance".to_owned()),
            position: (outcome == Outcome::Accepted).then_some(12),
            request_id: Some("req-1".to_owned()),
            client: Some("127.0.0.1".to_owned()),
        }
    }

    fn query(book: OrgId) -> OperationQuery {
        OperationQuery {
            book,
            user_id: None,
            token_id: None,
            kind: None,
            outcome: None,
            from: None,
            to: None,
            order: Order::OldestFirst,
            cursor: None,
            limit: 100,
        }
    }

    fn kinds(page: &OperationPage) -> Vec<(&str, Outcome)> {
        page.items.iter().map(|operation| (operation.kind.as_str(), operation.outcome)).collect()
    }

    #[test]
    fn every_command_has_a_name_kind_takes() {
        let names = command_names();
        for name in ["bootstrap", "issue_token", "place_order", "pay_order", "request_recharge", "decide_approval"] {
            assert!(names.iter().any(|known| known == name), "{name} in {names:?}");
        }
        let world = ledger_core::testing::WorkedExample::without_ledger();
        for (_, body) in world.setup_commands() {
            assert!(names.iter().any(|known| known == body.name()), "{}", body.name());
        }
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "sorted and unique: {names:?}");
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwarded_it() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".to_owned()]).unwrap();
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        // Anyone may write the header: from an untrusted peer it is ignored.
        assert_eq!(client_address(ip("203.0.113.9"), "198.51.100.1", &proxies), ip("203.0.113.9"));
        assert_eq!(client_address(ip("203.0.113.9"), "", &TrustedProxies::default()), ip("203.0.113.9"));
        // Through two proxies: the rightmost address that is not one of them.
        assert_eq!(client_address(ip("10.0.0.2"), "6.6.6.6, 198.51.100.1, 10.0.0.1", &proxies), ip("198.51.100.1"));
        assert_eq!(client_address(ip("10.0.0.2"), "[2001:db8::1]:4711", &proxies), ip("2001:db8::1"));
        assert_eq!(client_address(ip("10.0.0.2"), "198.51.100.1:5000", &proxies), ip("198.51.100.1"));
        // A proxy that forwarded nothing, or garbage: the nearest proxy is what is known.
        assert_eq!(client_address(ip("10.0.0.2"), "", &proxies), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.2"), "unknown, 10.0.0.1", &proxies), ip("10.0.0.1"));
        assert_eq!(client_address(ip("::ffff:127.0.0.1"), "", &proxies), ip("127.0.0.1"));
        assert_eq!(client_address(None, "198.51.100.1", &proxies), None);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_and_the_recorder_writes_the_rest_in_order() {
        let directory = tempfile::tempdir().unwrap();
        let store = OperationStore::open_sqlite(directory.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(directory.path().join(DATABASE_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the operation log is the owner's alone");
        }
        let metrics = Arc::new(Metrics::new());
        let (log, recorder) = OperationLog::new(store, None, 2, 180, metrics.clone());
        let book = OrgId::from_u128(1);
        let now = Utc::now();
        for kind in ["place_order", "pay_order", "cancel_order"] {
            log.record(operation(now, book, kind, Outcome::Accepted), 0);
        }
        let text = metrics.render();
        assert!(text.contains("kboss_operation_log_total{outcome=\"dropped\"} 1\n"), "{text}");
        tokio::spawn(recorder.run());
        assert!(log.flush(Duration::from_secs(10)).await);
        let page = log.page(&query(book)).await.unwrap();
        assert_eq!(kinds(&page), [("place_order", Outcome::Accepted), ("pay_order", Outcome::Accepted)]);
        assert!(metrics.render().contains("kboss_operation_log_total{outcome=\"recorded\"} 2\n"));
    }

    #[tokio::test]
    async fn retention_prunes_refused_failed_and_replayed_operations_and_keeps_accepted_ones() {
        let directory = tempfile::tempdir().unwrap();
        let store = OperationStore::open_sqlite(directory.path()).unwrap();
        let metrics = Arc::new(Metrics::new());
        let (log, recorder) = OperationLog::new(store, None, 100, 30, metrics.clone());
        tokio::spawn(recorder.run());
        let book = OrgId::from_u128(1);
        // Now: the recorder prunes by the real clock too (at start), which must leave these.
        let start = Utc::now();
        let day = chrono::Duration::days(1);
        log.record(operation(start, book, "place_order", Outcome::Accepted), 0);
        log.record(operation(start, book, "pay_order", Outcome::Refused), 0);
        log.record(operation(start, book, "pay_order", Outcome::Failed), 0);
        log.record(operation(start, book, "pay_order", Outcome::Replayed), 0);
        log.record(operation(start + day * 10, book, "withdraw", Outcome::Refused), 0);
        assert!(log.flush(Duration::from_secs(10)).await);
        // 30 days after the first day: nothing is past its retention yet.
        assert_eq!(log.prune(start + day * 30).await.unwrap(), 0);
        // A day later the first day's refused, failed and replayed ones are; the accepted one stays.
        assert_eq!(log.prune(start + day * 31).await.unwrap(), 3);
        let page = log.page(&query(book)).await.unwrap();
        assert_eq!(kinds(&page), [("place_order", Outcome::Accepted), ("withdraw", Outcome::Refused)]);
        assert_eq!(log.prune(start + day * 41).await.unwrap(), 1);
        assert_eq!(kinds(&log.page(&query(book)).await.unwrap()), [("place_order", Outcome::Accepted)]);
        assert!(metrics.render().contains("kboss_operation_log_total{outcome=\"pruned\"} 4\n"));
    }

    #[tokio::test]
    async fn pages_follow_the_cursor_newest_first_and_filters_combine() {
        let directory = tempfile::tempdir().unwrap();
        let store = OperationStore::open_sqlite(directory.path()).unwrap();
        let (log, recorder) = OperationLog::new(store, None, 100, 180, Arc::new(Metrics::new()));
        tokio::spawn(recorder.run());
        let (book, other) = (OrgId::from_u128(1), OrgId::from_u128(2));
        let start = Utc::now();
        for minute in 0..5 {
            let at = start + chrono::Duration::minutes(minute);
            log.record(operation(at, book, &format!("k{minute}"), Outcome::Accepted), 0);
            log.record(operation(at, other, "other", Outcome::Refused), 0);
        }
        assert!(log.flush(Duration::from_secs(10)).await);
        let mut newest = OperationQuery { order: Order::NewestFirst, limit: 2, ..query(book) };
        let mut seen = Vec::new();
        loop {
            let page = log.page(&newest).await.unwrap();
            seen.extend(page.items.iter().map(|operation| operation.kind.clone()));
            match page.next_cursor {
                Some(cursor) => newest.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, ["k4", "k3", "k2", "k1", "k0"]);
        let window = OperationQuery {
            from: Some(start + chrono::Duration::minutes(1)),
            to: Some(start + chrono::Duration::minutes(3)),
            ..query(book)
        };
        let page = log.page(&window).await.unwrap();
        assert_eq!(page.items.iter().map(|operation| operation.kind.as_str()).collect::<Vec<_>>(), ["k1", "k2", "k3"]);
        let refused = OperationQuery { outcome: Some(Outcome::Refused), ..query(book) };
        assert!(log.page(&refused).await.unwrap().items.is_empty());
        let foreign = OperationQuery { cursor: Some("l1.3".to_owned()), ..query(book) };
        assert_eq!(log.page(&foreign).await.err().map(|error| error.code()), Some("bad_request"));
    }
}
