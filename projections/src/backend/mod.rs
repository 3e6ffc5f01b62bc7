//! The two stores of the read models. Both run the same projections over the same SQL; a backend
//! only opens transactions, executes statements and reads rows. What each must guarantee:
//! applying a chunk and advancing the checkpoints happen in one transaction, and two appliers
//! (two processes, or a runner and a consumer) never interleave: SQLite takes the database's
//! write lock up front (`BEGIN IMMEDIATE`), PostgreSQL locks the checkpoint rows (`FOR UPDATE`).

use ledger_core::RecordedEvent;

use crate::projection::{EventContext, EventStatements, Fold, Projection};
use std::collections::HashMap;

use crate::sql::{multi_row, Row, SqlValue, Statement};
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

/// The statements of one projection's run over a chunk, in an order equivalent to running each
/// in turn, with writes that commute with writes to other tables held back so that a table's
/// come out together (and [`multi_row`] folds them): additive upserts, summed per key, and
/// inserts that ignore conflicts (`DO NOTHING`), kept in order. Read models have no triggers or
/// foreign keys, so these commute with anything but a write to their own table; held writes are
/// flushed before such a write (or one whose table cannot be told), before a held write of
/// another kind or text into the same table (whose order against them could matter), and before
/// a context query (which must see them).
#[derive(Default)]
pub struct Batch {
    ordered: Vec<Statement>,
    held: Vec<Statement>,
    sum_index: HashMap<(std::borrow::Cow<'static, str>, Vec<SqlValue>), usize>,
    held_tables: Vec<(String, Held)>,
}

/// What a table has held back: sums, or inserts of one text that ignore conflicts.
#[derive(Clone, PartialEq, Eq)]
enum Held {
    Sums,
    Ignoring(std::borrow::Cow<'static, str>),
}

/// The table an `INSERT INTO t` or `UPDATE t` statement writes.
fn written_table(sql: &str) -> Option<&str> {
    let mut words = sql.split_whitespace();
    match (words.next()?.to_ascii_uppercase().as_str(), words.next()?) {
        ("INSERT", into) if into.eq_ignore_ascii_case("INTO") => words.next(),
        ("UPDATE", table) => Some(table),
        _ => None,
    }
}

/// How a statement may be held back, if it may.
fn held_kind(statement: &Statement) -> Option<Held> {
    if statement.additive_key_len.is_some() {
        return Some(Held::Sums);
    }
    // A subquery could read another table, whose writes the insert must then not pass.
    let sql = &statement.sql;
    let ignoring = sql.trim_start().starts_with("INSERT") && sql.trim_end().ends_with("DO NOTHING");
    (ignoring && !sql.contains("SELECT")).then(|| Held::Ignoring(sql.clone()))
}

impl Batch {
    pub fn push(&mut self, statement: Statement) {
        let table = written_table(&statement.sql);
        let pending = table.and_then(|table| self.held_tables.iter().find(|(held, _)| held == table));
        let Some((kind, table)) = held_kind(&statement).zip(table) else {
            if table.is_none() || pending.is_some() {
                self.flush_held();
            }
            self.ordered.push(statement);
            return;
        };
        if pending.is_some_and(|(_, held)| *held != kind) {
            self.flush_held();
        }
        if !self.held_tables.iter().any(|(held, _)| held == table) {
            self.held_tables.push((table.to_owned(), kind.clone()));
        }
        match statement.additive_key_len {
            Some(key_len) => self.add(statement, key_len),
            None => self.held.push(statement),
        }
    }

    fn add(&mut self, statement: Statement, key_len: usize) {
        let key = (statement.sql.clone(), statement.params[..key_len].to_vec());
        match self.sum_index.get(&key) {
            Some(&index) => {
                let sum = &mut self.held[index];
                for (total, addend) in sum.params[key_len..].iter_mut().zip(&statement.params[key_len..]) {
                    if let (SqlValue::Integer(total), SqlValue::Integer(addend)) = (total, addend) {
                        *total += addend;
                    }
                }
            }
            None => {
                self.sum_index.insert(key, self.held.len());
                self.held.push(statement);
            }
        }
    }

    /// Moves the held statements behind the ordered ones, grouped by text (stable: a table holds
    /// one text of inserts, or sums, which commute) so that [`multi_row`] folds each into few
    /// statements. Sums have distinct keys, so no row of a folded upsert is updated twice.
    fn flush_held(&mut self) {
        self.sum_index.clear();
        self.held_tables.clear();
        self.held.sort_by(|first, second| first.sql.cmp(&second.sql));
        self.ordered.append(&mut self.held);
    }

    /// Everything pushed so far, in an order equivalent to the pushes, with consecutive inserts
    /// of one text folded into multi-row statements; the batch is then empty.
    pub fn take(&mut self) -> Vec<Statement> {
        self.flush_held();
        multi_row(std::mem::take(&mut self.ordered))
    }
}

/// What one projection's run does before its statements: with [`Fold::Events`], nothing; with
/// [`Fold::Run`], read its context queries.
pub fn run_context(projection: &Projection, run: &[&RecordedEvent]) -> Vec<Statement> {
    match projection.fold {
        Fold::Events { .. } => Vec::new(),
        Fold::Run { context, .. } => context(run),
    }
}

/// The statements of a [`Fold::Run`] projection's run, given its context rows, pushed to the
/// batch with the checkpoint's advance.
pub fn fold_run(
    projection: &Projection,
    run: &[&RecordedEvent],
    context: &[Row],
    batch: &mut Batch,
) -> Result<(), ReadError> {
    let mut statements = Vec::new();
    if let Fold::Run { statements: fold, .. } = projection.fold {
        fold(run, context, &mut statements)?;
    }
    statements.into_iter().for_each(|statement| batch.push(statement));
    if let Some(last) = run.last() {
        batch.push(advance(projection, last.position));
    }
    Ok(())
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

/// An event-by-event fold (`Fold::Events`) over a projection's run, written once for both
/// backends: statements are batched until an event needs a context query, which must see
/// everything before it. The backend drives it:
///
/// ```text
/// while let Some(context_query) = folder.next_query(&mut batch) {
///     execute(batch.take()); rows = query(context_query); folder.fold_with(&rows, &mut batch);
/// }
/// ```
pub struct EventFolder<'r> {
    projection: &'r Projection,
    context: EventContext,
    fold: EventStatements,
    run: &'r [&'r RecordedEvent],
    next: usize,
    statements: Vec<Statement>,
}

impl<'r> EventFolder<'r> {
    pub fn new(
        projection: &'r Projection,
        (context, fold): (EventContext, EventStatements),
        run: &'r [&'r RecordedEvent],
    ) -> EventFolder<'r> {
        EventFolder { projection, context, fold, run, next: 0, statements: Vec::new() }
    }

    /// Folds events into `batch` until one needs a context query, and answers that query (the
    /// caller flushes the batch, runs it, and calls [`EventFolder::fold_with`]); at the end of
    /// the run, adds the checkpoint's advance and answers `None`.
    pub fn next_query(&mut self, batch: &mut Batch) -> Option<Statement> {
        while let Some(event) = self.run.get(self.next) {
            if let Some(context_query) = (self.context)(event) {
                return Some(context_query);
            }
            self.fold_with(&[], batch);
        }
        if let Some(last) = self.run.last() {
            batch.push(advance(self.projection, last.position));
        }
        None
    }

    /// Folds the next event with the rows of its context query.
    pub fn fold_with(&mut self, rows: &[Row], batch: &mut Batch) {
        let Some(event) = self.run.get(self.next) else { return };
        (self.fold)(event, rows, &mut self.statements);
        self.statements.drain(..).for_each(|statement| batch.push(statement));
        self.next += 1;
    }
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

    #[test]
    fn a_batch_sums_additive_upserts_into_multi_row_statements_before_other_writes_of_their_table() {
        use super::Batch;
        use crate::sql::{SqlValue, Statement};
        const ADD: &str = "INSERT INTO rm_totals (key, amount) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET amount = rm_totals.amount + excluded.amount";
        const CLAMP: &str = "UPDATE rm_totals SET amount = 0 WHERE amount < 0";
        const ELSEWHERE: &str = "INSERT INTO rm_other (key) VALUES ($1)";
        let add = |key: &str, amount| Statement::additive(ADD, vec![SqlValue::text(key), SqlValue::Integer(amount)], 1);
        let mut batch = Batch::default();
        for statement in [
            add("a", 1),
            Statement::new(ELSEWHERE, vec![SqlValue::text("x")]),
            add("b", 5),
            add("a", 2),
            Statement::new(CLAMP, vec![]),
            add("a", -7),
        ] {
            batch.push(statement);
        }
        let taken = batch.take();
        let both = [SqlValue::text("a"), SqlValue::Integer(3), SqlValue::text("b"), SqlValue::Integer(5)];
        let expected = vec![
            Statement::new(ELSEWHERE, vec![SqlValue::text("x")]),
            Statement::dynamic(ADD.replace("($1, $2)", "($1, $2), ($3, $4)"), both.to_vec()),
            Statement::new(CLAMP, vec![]),
            add("a", -7),
        ];
        assert_eq!(taken, expected);
        assert!(batch.take().is_empty());
    }

    #[test]
    fn a_batch_holds_inserts_that_ignore_conflicts_until_their_table_is_written_otherwise() {
        use super::Batch;
        use crate::sql::{SqlValue, Statement};
        const LOG: &str = "INSERT INTO rm_log (key) VALUES ($1) ON CONFLICT (key) DO NOTHING";
        const LOG_OTHER: &str = "INSERT INTO rm_log (key) VALUES ($1) ON CONFLICT DO NOTHING";
        const ELSEWHERE: &str = "UPDATE rm_other SET key = $1";
        const TOUCH: &str = "UPDATE rm_log SET key = key";
        let log = |sql: &'static str, key: i64| Statement::new(sql, vec![SqlValue::Integer(key)]);
        let mut batch = Batch::default();
        for statement in [
            log(LOG, 1),
            log(ELSEWHERE, 9),
            log(LOG, 2),
            log(LOG_OTHER, 3),
            log(LOG, 4),
            Statement::new(TOUCH, vec![]),
            log(LOG, 5),
        ] {
            batch.push(statement);
        }
        let both = vec![SqlValue::Integer(1), SqlValue::Integer(2)];
        let expected = vec![
            log(ELSEWHERE, 9),
            Statement::dynamic(LOG.replace("($1)", "($1), ($2)"), both),
            log(LOG_OTHER, 3),
            log(LOG, 4),
            Statement::new(TOUCH, vec![]),
            log(LOG, 5),
        ];
        assert_eq!(batch.take(), expected);
    }

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
