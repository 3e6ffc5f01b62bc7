//! The two stores of the read models. Both run the same projections over the same SQL; a backend
//! only opens transactions, executes statements and reads rows. What each must guarantee:
//! applying a chunk and advancing the checkpoints happen in one transaction, and two appliers
//! (two processes, or a runner and a consumer) never interleave: SQLite takes the database's
//! write lock up front (`BEGIN IMMEDIATE`), PostgreSQL locks the checkpoint rows (`FOR UPDATE`).

use ledger_core::RecordedEvent;

use crate::projection::Projection;
use std::collections::HashMap;

use crate::sql::{Row, SqlValue, Statement};
use crate::ReadError;

pub mod postgres;
pub mod sqlite;

pub const SELECT_CHECKPOINTS: &str = "SELECT projection, position FROM rm_checkpoints";
pub const ADVANCE_CHECKPOINT: &str = "UPDATE rm_checkpoints SET position = $2 WHERE projection = $1 AND position < $2";
pub const RESET_CHECKPOINT: &str = "UPDATE rm_checkpoints SET position = 0 WHERE projection = $1";
pub const ENSURE_CHECKPOINT: &str =
    "INSERT INTO rm_checkpoints (projection, position) VALUES ($1, 0) ON CONFLICT (projection) DO NOTHING";
pub const LOWEST_CHECKPOINT: &str = "SELECT CAST(COALESCE(MIN(position), 0) AS BIGINT) FROM rm_checkpoints";

pub enum Backend {
    Sqlite(sqlite::SqliteBackend),
    Postgres(postgres::PostgresBackend),
}

impl Backend {
    /// Applies the events every projection has not applied yet; answers the lowest checkpoint.
    pub async fn apply(&self, events: &[RecordedEvent]) -> Result<u64, ReadError> {
        match self {
            Backend::Sqlite(backend) => backend.apply(events.to_vec()).await,
            Backend::Postgres(backend) => backend.apply(events).await,
        }
    }

    pub async fn query(&self, statement: Statement) -> Result<Vec<Row>, ReadError> {
        match self {
            Backend::Sqlite(backend) => backend.query(statement).await,
            Backend::Postgres(backend) => backend.query(statement).await,
        }
    }

    /// Empties the projections' tables and sets their checkpoints to 0, in one transaction.
    pub async fn reset(&self, projections: Vec<&'static Projection>) -> Result<u64, ReadError> {
        match self {
            Backend::Sqlite(backend) => backend.reset(projections).await,
            Backend::Postgres(backend) => backend.reset(projections).await,
        }
    }
}

/// The events of a chunk that a projection at `checkpoint` applies: those that continue it
/// without a gap. Events at or below the checkpoint (redeliveries, overlaps, duplicates) are
/// skipped; everything after a gap waits until the gap is filled (the caller sees it in the
/// checkpoint it gets back).
pub fn continuing(checkpoint: u64, events: &[RecordedEvent]) -> Vec<&RecordedEvent> {
    let mut expected = checkpoint + 1;
    let mut run = Vec::new();
    for event in events {
        if event.position < expected {
            continue;
        }
        if event.position > expected {
            break;
        }
        run.push(event);
        expected += 1;
    }
    run
}

/// `DELETE FROM` each table of the projections (names are this crate's constants, never input).
pub fn delete_statements(projections: &[&'static Projection]) -> Vec<String> {
    projections
        .iter()
        .flat_map(|projection| projection.tables.iter().map(|table| format!("DELETE FROM {table}")))
        .collect()
}

pub fn unavailable(error: impl std::fmt::Display) -> ReadError {
    ReadError::Unavailable(error.to_string())
}

pub fn advance(projection: &Projection, position: u64) -> Statement {
    Statement::new(ADVANCE_CHECKPOINT, vec![SqlValue::text(projection.name), SqlValue::position(position)])
}

pub fn read_checkpoints(rows: &[Row]) -> Result<HashMap<String, u64>, ReadError> {
    rows.iter().map(|row| Ok((row.text(0)?.to_owned(), row.position(1)?))).collect()
}

#[cfg(test)]
mod tests {
    use ledger_core::testing::WorkedExample;

    use super::continuing;

    fn positions(events: &[&ledger_core::RecordedEvent]) -> Vec<u64> {
        events.iter().map(|event| event.position).collect()
    }

    #[test]
    fn a_projection_applies_what_continues_its_checkpoint_and_nothing_past_a_gap() {
        let world = WorkedExample::new();
        let log = world.ledger.log.clone();
        assert!(log.len() >= 6);
        assert_eq!(positions(&continuing(0, &log)), (1..=log.len() as u64).collect::<Vec<_>>());
        assert_eq!(positions(&continuing(2, &log[..4])), vec![3, 4], "events at or below the checkpoint are skipped");
        assert_eq!(positions(&continuing(2, &log[3..])), Vec::<u64>::new(), "a chunk after a gap waits");
        let with_repeat = [log[2].clone(), log[2].clone(), log[3].clone()];
        assert_eq!(positions(&continuing(2, &with_repeat)), vec![3, 4], "a repeat inside a chunk is applied once");
        let with_hole = [log[2].clone(), log[4].clone()];
        assert_eq!(positions(&continuing(2, &with_hole)), vec![3], "nothing past a hole inside a chunk");
    }
}
