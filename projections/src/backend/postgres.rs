//! Read models in PostgreSQL: the log's database (and schema, from the pool's `search_path`),
//! tables prefixed `rm_`, a deadpool-postgres pool. Statements of one transaction are pipelined
//! on its connection (sent without waiting for each answer; the server runs them in order).

use std::collections::HashMap;

use deadpool_postgres::{Pool, Transaction};
use futures::future::try_join_all;
use ledger_core::RecordedEvent;
use tokio_postgres::types::{private::BytesMut, IsNull, ToSql, Type};

use super::*;
use crate::projection::{self, EventContext, EventStatements, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

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

/// The first key of the advisory lock serialising read-model migrations (the log's store uses
/// "KBOS" and "KBOS" + 1); the second key is the schema's hash.
const MIGRATION_LOCK_CLASS: i32 = 0x4b_42_4f_53 + 2;

/// The one statement that differs from SQLite: PostgreSQL locks the checkpoint rows, in a fixed
/// order, so concurrent appliers take turns instead of both applying a chunk.
const LOCK_CHECKPOINTS: &str = "SELECT projection, position FROM rm_checkpoints ORDER BY projection FOR UPDATE";

impl ToSql for SqlValue {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Integer(value) if *ty == Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
            SqlValue::Integer(value) if <i64 as ToSql>::accepts(ty) => value.to_sql(ty, out),
            SqlValue::Text(value) if <String as ToSql>::accepts(ty) => value.to_sql(ty, out),
            other => Err(format!("cannot bind {other} to a parameter of type {ty}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`: which types fit depends on the variant.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

pub struct PostgresBackend {
    pool: Pool,
    owned: Owned,
}

/// The projections this process applies (a projector may own a few; others apply the rest
/// concurrently, each locking only its own checkpoint rows), with the two statements over them.
struct Owned {
    projections: Vec<&'static Projection>,
    lock: String,
    lowest: String,
}

impl Owned {
    fn of(projections: Vec<&'static Projection>) -> Owned {
        if projections.len() == projection::ALL.len() {
            return Owned { projections, lock: LOCK_CHECKPOINTS.to_owned(), lowest: LOWEST_CHECKPOINT.to_owned() };
        }
        // The names are the projections' own (`&'static str` of this build), never input.
        let names: Vec<String> = projections.iter().map(|projection| format!("'{}'", projection.name)).collect();
        let names = names.join(", ");
        Owned {
            projections,
            lock: format!(
                "SELECT projection, position FROM rm_checkpoints WHERE projection IN ({names}) ORDER BY projection FOR UPDATE"
            ),
            lowest: format!(
                "SELECT CAST(COALESCE(MIN(position), 0) AS BIGINT) FROM rm_checkpoints WHERE projection IN ({names})"
            ),
        }
    }
}

fn convert_row(row: &tokio_postgres::Row) -> Result<Row, ReadError> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let type_ = column.type_();
        let value = if *type_ == Type::INT8 {
            row.try_get::<_, Option<i64>>(index).map_err(unavailable)?.map(SqlValue::Integer)
        } else if *type_ == Type::INT4 {
            row.try_get::<_, Option<i32>>(index).map_err(unavailable)?.map(|value| SqlValue::Integer(value.into()))
        } else if <String as tokio_postgres::types::FromSql>::accepts(type_) {
            row.try_get::<_, Option<String>>(index).map_err(unavailable)?.map(SqlValue::Text)
        } else {
            return Err(ReadError::Corrupt(format!("column {} has unexpected type {type_}", column.name())));
        };
        values.push(value.unwrap_or(SqlValue::Null));
    }
    Ok(Row(values))
}

fn parameters(statement: &Statement) -> Vec<&(dyn ToSql + Sync)> {
    statement.params.iter().map(|value| value as &(dyn ToSql + Sync)).collect()
}

async fn query_in(transaction: &Transaction<'_>, statement: &Statement) -> Result<Vec<Row>, ReadError> {
    let prepared = transaction.prepare_cached(&statement.sql).await.map_err(unavailable)?;
    let rows = transaction.query(&prepared, &parameters(statement)).await.map_err(unavailable)?;
    rows.iter().map(convert_row).collect()
}

/// Executes the statements pipelined, in order: every text is prepared first, so each execute
/// is sent on its first poll, and `try_join_all` polls them first in the order given.
async fn execute_all(transaction: &Transaction<'_>, statements: &[Statement]) -> Result<(), ReadError> {
    let mut prepared: HashMap<&str, tokio_postgres::Statement> = HashMap::new();
    for statement in statements {
        if !prepared.contains_key(statement.sql.as_ref()) {
            let ready = transaction.prepare_cached(&statement.sql).await.map_err(unavailable)?;
            prepared.insert(statement.sql.as_ref(), ready);
        }
    }
    let prepared = &prepared;
    try_join_all(statements.iter().map(|statement| async move {
        let parameters = parameters(statement);
        transaction.execute(&prepared[statement.sql.as_ref()], &parameters).await.map_err(unavailable)
    }))
    .await?;
    Ok(())
}

async fn lowest_checkpoint(transaction: &Transaction<'_>, sql: &str) -> Result<u64, ReadError> {
    let rows = query_in(transaction, &Statement::dynamic(sql.to_owned(), vec![])).await?;
    rows.first().ok_or_else(|| ReadError::Corrupt("no checkpoint row".into()))?.position(0)
}

/// One projection's continuation of the chunk.
async fn apply_projection(
    transaction: &Transaction<'_>,
    projection: &Projection,
    checkpoint: u64,
    events: &[RecordedEvent],
) -> Result<(), ReadError> {
    let run = continuing(checkpoint, events);
    let mut batch = Batch::default();
    match projection.fold {
        Fold::Events { context, statements } => {
            fold_events(transaction, projection, (context, statements), &run, &mut batch).await?
        }
        Fold::Run { .. } => {
            let mut rows = Vec::new();
            for context_query in run_context(projection, &run) {
                rows.extend(query_in(transaction, &context_query).await?);
            }
            fold_run(projection, &run, &rows, &mut batch)?;
        }
    }
    execute_all(transaction, &batch.take()).await
}

/// Event by event (see [`EventFolder`]).
async fn fold_events(
    transaction: &Transaction<'_>,
    projection: &Projection,
    fold: (EventContext, EventStatements),
    run: &[&RecordedEvent],
    batch: &mut Batch,
) -> Result<(), ReadError> {
    let mut folder = EventFolder::new(projection, fold, run);
    while let Some(context_query) = folder.next_query(batch) {
        execute_all(transaction, &batch.take()).await?;
        folder.fold_with(&query_in(transaction, &context_query).await?, batch);
    }
    Ok(())
}

const ASYNCHRONOUS_COMMIT: &str = "SET LOCAL synchronous_commit = off";

impl PostgresBackend {
    /// Opens the read models, applying `owned` (every projection, but for a projector).
    pub async fn open(pool: Pool, owned: Vec<&'static Projection>) -> Result<PostgresBackend, ReadError> {
        let mut client = pool.get().await.map_err(unavailable)?;
        let transaction = client.transaction().await.map_err(unavailable)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", &[&MIGRATION_LOCK_CLASS])
            .await
            .map_err(unavailable)?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS rm_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await
            .map_err(unavailable)?;
        for (version, sql) in MIGRATIONS {
            let applied = transaction
                .query_opt("SELECT version FROM rm_migrations WHERE version = $1", &[version])
                .await
                .map_err(unavailable)?;
            if applied.is_none() {
                transaction.batch_execute(sql).await.map_err(unavailable)?;
                transaction
                    .execute("INSERT INTO rm_migrations (version) VALUES ($1)", &[version])
                    .await
                    .map_err(unavailable)?;
            }
        }
        let ensure: Vec<Statement> = projection::ALL
            .iter()
            .map(|projection| Statement::new(ENSURE_CHECKPOINT, vec![SqlValue::text(projection.name)]))
            .collect();
        execute_all(&transaction, &ensure).await?;
        transaction.commit().await.map_err(unavailable)?;
        drop(client);
        Ok(PostgresBackend { pool, owned: Owned::of(owned) })
    }

    pub async fn apply(&self, events: &[RecordedEvent]) -> Result<u64, ReadError> {
        let mut client = self.pool.get().await.map_err(unavailable)?;
        let transaction = client.transaction().await.map_err(unavailable)?;
        // Read models are derived from the log: a commit the server loses in a crash loses the
        // checkpoint with it (same transaction), and the chunk is applied again from the log. So
        // this transaction does not wait for its WAL flush.
        transaction.batch_execute(ASYNCHRONOUS_COMMIT).await.map_err(unavailable)?;
        let lock = Statement::dynamic(self.owned.lock.clone(), vec![]);
        let checkpoints: HashMap<String, u64> = read_checkpoints(&query_in(&transaction, &lock).await?)?;
        for projection in &self.owned.projections {
            let checkpoint = checkpoints.get(projection.name).copied().unwrap_or(0);
            apply_projection(&transaction, projection, checkpoint, events).await?;
        }
        let lowest = lowest_checkpoint(&transaction, &self.owned.lowest).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(lowest)
    }

    pub async fn reset(&self, projections: Vec<&'static Projection>) -> Result<u64, ReadError> {
        let mut client = self.pool.get().await.map_err(unavailable)?;
        let transaction = client.transaction().await.map_err(unavailable)?;
        query_in(&transaction, &Statement::new(LOCK_CHECKPOINTS, vec![])).await?;
        for delete in delete_statements(&projections) {
            transaction.batch_execute(&delete).await.map_err(unavailable)?;
        }
        let resets: Vec<Statement> = projections
            .iter()
            .map(|projection| Statement::new(RESET_CHECKPOINT, vec![SqlValue::text(projection.name)]))
            .collect();
        execute_all(&transaction, &resets).await?;
        let lowest = lowest_checkpoint(&transaction, &self.owned.lowest).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(lowest)
    }

    /// The lowest checkpoint of the projections this process applies.
    pub async fn position(&self) -> Result<u64, ReadError> {
        let rows = self.query(Statement::dynamic(self.owned.lowest.clone(), vec![])).await?;
        rows.first().ok_or_else(|| ReadError::Corrupt("no checkpoint row".into()))?.position(0)
    }

    pub async fn query(&self, statement: Statement) -> Result<Vec<Row>, ReadError> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let prepared = client.prepare_cached(&statement.sql).await.map_err(unavailable)?;
        let rows = client.query(&prepared, &parameters(&statement)).await.map_err(unavailable)?;
        rows.iter().map(convert_row).collect()
    }
}
