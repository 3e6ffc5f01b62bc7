//! Read models in SQLite: `<data_dir>/read.sqlite`, WAL. One connection applies (projection
//! writes are serialised anyway by SQLite's single writer), a few serve reads concurrently; all
//! blocking work runs on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ledger_core::RecordedEvent;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::Semaphore;

use super::*;
use crate::projection::{self, EventContext, EventStatements, Fold, Projection};
use crate::sql::{sqlite_placeholders, Row, SqlValue, Statement};

pub const DATABASE_FILE: &str = "read.sqlite";
/// Connections serving queries at the same time.
pub const READ_CONNECTIONS_MAX: usize = 4;
/// How long a statement waits for another writer's lock before reporting the store unavailable.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;
/// What the WAL is truncated to after a checkpoint (SQLite checkpoints every 1,000 pages by
/// itself; without a limit the file keeps its largest size until the last connection closes).
const WAL_BYTES_KEPT: u64 = 64 << 20;
/// Prepared statements kept per connection: the projections' and queries' texts, and each
/// multi-row text in its few sizes (`sql::statement_sizes`).
const STATEMENT_CACHE_CAPACITY: usize = 512;

const MIGRATIONS: &[(i64, &str)] = &[
    (101, include_str!("../../../schemas/sql/read_models/0101_read_models.sql")),
    (102, include_str!("../../../schemas/sql/read_models/0102_kpi_orders.sql")),
    (103, include_str!("../../../schemas/sql/read_models/0103_narrower_rows.sql")),
    (104, include_str!("../../../schemas/sql/read_models/0104_settlement_lines.sql")),
    (105, include_str!("../../../schemas/sql/read_models/0105_money_movements.sql")),
    (106, include_str!("../../../schemas/sql/read_models/0106_journal_events.sql")),
    (107, include_str!("../../../schemas/sql/read_models/0107_users.sql")),
    (108, include_str!("../../../schemas/sql/read_models/0108_registry.sql")),
    (109, include_str!("../../../schemas/sql/read_models/0109_roles.sql")),
    (110, include_str!("../../../schemas/sql/read_models/0110_charges.sql")),
    (111, include_str!("../../../schemas/sql/read_models/0111_approval_policies.sql")),
    (112, include_str!("../../../schemas/sql/read_models/0112_back_office.sql")),
    (113, include_str!("../../../schemas/sql/read_models/0113_invoices.sql")),
    (114, include_str!("../../../schemas/sql/read_models/0114_prices.sql")),
    (115, include_str!("../../../schemas/sql/read_models/0115_promotion_terms.sql")),
    (125, include_str!("../../../schemas/sql/read_models/0125_audit_tools.sql")),
    (120, include_str!("../../../schemas/sql/read_models/0120_terms.sql")),
    (121, include_str!("../../../schemas/sql/read_models/0121_kpi_profit.sql")),
    (122, include_str!("../../../schemas/sql/read_models/0122_customer_ownership.sql")),
    (123, include_str!("../../../schemas/sql/read_models/0123_serial_expiry.sql")),
    (116, include_str!("../../../schemas/sql/read_models/0116_exchange_rates.sql")),
    (117, include_str!("../../../schemas/sql/read_models/0117_settlement_exchange.sql")),
];

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::Integer(value) => ValueRef::Integer(*value),
            SqlValue::Text(value) => ValueRef::Text(value.as_bytes()),
            SqlValue::Null => ValueRef::Null,
        }))
    }
}

pub struct SqliteBackend {
    applier: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_permits: Arc<Semaphore>,
}

fn open_connection(path: &Path) -> Result<Connection, ReadError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    // Read models are rebuilt from the log after a crash, so NORMAL (durable up to the last WAL
    // checkpoint, never corrupt) is enough here, unlike the log's FULL.
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA journal_size_limit = {WAL_BYTES_KEPT};"
        ))
        .map_err(unavailable)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<(), ReadError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS rm_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .map_err(unavailable)?;
    for (version, sql) in MIGRATIONS {
        let applied: i64 = transaction
            .query_row("SELECT COUNT(*) FROM rm_migrations WHERE version = ?1", [version], |row| row.get(0))
            .map_err(unavailable)?;
        if applied == 0 {
            transaction.execute_batch(sql).map_err(unavailable)?;
            transaction
                .execute(
                    "INSERT INTO rm_migrations (version, applied_at) VALUES (?1, ?2)",
                    rusqlite::params![version, chrono::Utc::now().to_rfc3339()],
                )
                .map_err(unavailable)?;
        }
    }
    for projection in projection::ALL {
        execute(&transaction, &Statement::new(ENSURE_CHECKPOINT, vec![SqlValue::text(projection.name)]))?;
    }
    transaction.commit().map_err(unavailable)
}

fn execute(connection: &Connection, statement: &Statement) -> Result<usize, ReadError> {
    let mut prepared = connection.prepare_cached(&sqlite_placeholders(&statement.sql)).map_err(unavailable)?;
    prepared.execute(rusqlite::params_from_iter(statement.params.iter())).map_err(unavailable)
}

fn query(connection: &Connection, statement: &Statement) -> Result<Vec<Row>, ReadError> {
    let mut prepared = connection.prepare_cached(&sqlite_placeholders(&statement.sql)).map_err(unavailable)?;
    let columns = prepared.column_count();
    let mut rows = prepared.query(rusqlite::params_from_iter(statement.params.iter())).map_err(unavailable)?;
    let mut result = Vec::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        let mut values = Vec::with_capacity(columns);
        for index in 0..columns {
            values.push(match row.get_ref(index).map_err(unavailable)? {
                ValueRef::Integer(value) => SqlValue::Integer(value),
                ValueRef::Text(bytes) => SqlValue::Text(String::from_utf8_lossy(bytes).into_owned()),
                ValueRef::Null => SqlValue::Null,
                other => {
                    return Err(ReadError::Corrupt(format!("unexpected {:?} in column {index}", other.data_type())))
                }
            });
        }
        result.push(Row(values));
    }
    Ok(result)
}

/// One projection's continuation of the chunk.
fn apply_projection(
    connection: &Connection,
    projection: &Projection,
    checkpoint: u64,
    events: &[RecordedEvent],
) -> Result<(), ReadError> {
    let run = continuing(checkpoint, events);
    let mut batch = Batch::default();
    match projection.fold {
        Fold::Events { context, statements } => {
            fold_events(connection, projection, (context, statements), &run, &mut batch)?
        }
        Fold::Run { .. } => {
            let mut rows = Vec::new();
            for context_query in run_context(projection, &run) {
                rows.extend(query(connection, &context_query)?);
            }
            fold_run(projection, &run, &rows, &mut batch)?;
        }
    }
    execute_all(connection, batch.take())
}

/// Event by event (see [`EventFolder`]).
fn fold_events(
    connection: &Connection,
    projection: &Projection,
    fold: (EventContext, EventStatements),
    run: &[&RecordedEvent],
    batch: &mut Batch,
) -> Result<(), ReadError> {
    let mut folder = EventFolder::new(projection, fold, run);
    while let Some(context_query) = folder.next_query(batch) {
        execute_all(connection, batch.take())?;
        folder.fold_with(&query(connection, &context_query)?, batch);
    }
    Ok(())
}

fn execute_all(connection: &Connection, statements: Vec<Statement>) -> Result<(), ReadError> {
    statements.iter().try_for_each(|statement| execute(connection, statement).map(|_| ()))
}

/// Applies every projection's continuation of the chunk inside one `BEGIN IMMEDIATE` transaction.
fn apply_blocking(connection: &mut Connection, events: &[RecordedEvent]) -> Result<u64, ReadError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
    let checkpoints = read_checkpoints(&query(&transaction, &Statement::new(SELECT_CHECKPOINTS, vec![]))?)?;
    for projection in projection::ALL {
        let checkpoint = checkpoints.get(projection.name).copied().unwrap_or(0);
        apply_projection(&transaction, projection, checkpoint, events)?;
    }
    let lowest = lowest_checkpoint(&transaction)?;
    transaction.commit().map_err(unavailable)?;
    Ok(lowest)
}

fn lowest_checkpoint(connection: &Connection) -> Result<u64, ReadError> {
    let rows = query(connection, &Statement::new(LOWEST_CHECKPOINT, vec![]))?;
    rows.first().ok_or_else(|| ReadError::Corrupt("no checkpoint row".into()))?.position(0)
}

fn reset_blocking(connection: &mut Connection, projections: &[&'static Projection]) -> Result<u64, ReadError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
    for delete in delete_statements(projections) {
        transaction.execute(&delete, []).map_err(unavailable)?;
    }
    for projection in projections {
        execute(&transaction, &Statement::new(RESET_CHECKPOINT, vec![SqlValue::text(projection.name)]))?;
    }
    let lowest = lowest_checkpoint(&transaction)?;
    transaction.commit().map_err(unavailable)?;
    Ok(lowest)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ReadError::Unavailable(format!("blocking task failed: {error}")))?
}

impl SqliteBackend {
    pub fn open(data_dir: &Path) -> Result<SqliteBackend, ReadError> {
        std::fs::create_dir_all(data_dir).map_err(unavailable)?;
        let path = data_dir.join(DATABASE_FILE);
        let mut applier = open_connection(&path)?;
        migrate(&mut applier)?;
        let readers = (0..READ_CONNECTIONS_MAX).map(|_| open_connection(&path)).collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteBackend {
            applier: Arc::new(Mutex::new(applier)),
            readers: Arc::new(Mutex::new(readers)),
            reader_permits: Arc::new(Semaphore::new(READ_CONNECTIONS_MAX)),
        })
    }

    pub async fn apply(&self, events: Vec<RecordedEvent>) -> Result<u64, ReadError> {
        let applier = self.applier.clone();
        blocking(move || apply_blocking(&mut applier.lock().expect("the applier's lock is never poisoned"), &events))
            .await
    }

    pub async fn reset(&self, projections: Vec<&'static Projection>) -> Result<u64, ReadError> {
        let applier = self.applier.clone();
        blocking(move || {
            reset_blocking(&mut applier.lock().expect("the applier's lock is never poisoned"), &projections)
        })
        .await
    }

    pub async fn query(&self, statement: Statement) -> Result<Vec<Row>, ReadError> {
        let permit = self.reader_permits.clone().acquire_owned().await.map_err(unavailable)?;
        let readers = self.readers.clone();
        blocking(move || {
            // The permit lives as long as the connection is out, even if the caller gave up.
            let _permit = permit;
            // The semaphore guarantees a connection is free: one permit per connection.
            let connection = readers.lock().expect("the readers' lock is never poisoned").pop().expect("a free reader");
            let result = query(&connection, &statement);
            readers.lock().expect("the readers' lock is never poisoned").push(connection);
            result
        })
        .await
    }
}
