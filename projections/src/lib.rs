//! # projections
//!
//! The read side of KBOSS Ledger (DESIGN §6–§7): projections fold the event log into read models
//! (balances, journal, orders, KPIs, approvals, settlements, invoiceable amounts, orgs, tokens,
//! products), queries serve them, and runners keep them caught up.
//!
//! Where things live:
//! - [`projection`]: one module per read model. A projection is a pure function from an event
//!   (and, for refunds' KPIs, rows of its own tables read in the same transaction) to portable
//!   SQL statements ([`sql::Statement`]); the journal folds a chunk's whole run at once, its
//!   running balances carried in Rust from one lookup per key. The logic is written once for
//!   both backends, which hold back commuting writes and fold them into multi-row statements
//!   (`backend::Batch`, [`sql::multi_row`]).
//! - [`backend`]: SQLite and PostgreSQL. A backend only runs statements in a transaction and
//!   reads rows; it applies a chunk of events and advances each projection's checkpoint in one
//!   transaction, skipping what a checkpoint already covers, so redeliveries, duplicates,
//!   overlapping and out-of-order chunks change nothing.
//! - [`ReadModels`] (this file): open, [`ReadModels::apply`], [`ReadModels::position`],
//!   [`ReadModels::wait_for`] (read-your-writes), [`ReadModels::reset`]; the queries are in
//!   `queries.rs`, their answers in [`views`].
//! - [`runner`]: [`spawn_embedded`] (the writer's batches from memory, the log to catch up; a
//!   follower's: catch up from the log, woken by the committed
//!   position) and [`catch_up`] (`kboss rebuild`). In server mode the JetStream consumer calls
//!   [`ReadModels::apply`].
//! - SQL: `schemas/sql/read_models/01xx_*.sql` (one text for both backends), recorded in
//!   `rm_migrations`.
//!
//! Why the embedded read models are a separate file (`<data_dir>/read.sqlite`) rather than tables
//! beside the log in `kboss.sqlite`: SQLite has one writer per database file. Projection writes in
//! the log's file would take the same lock as the writer's group commits and add their pages to
//! its WAL, so every projection transaction would delay appends. In their own file they never
//! contend; they can also run with `synchronous = NORMAL`, since a read model lost in a crash is
//! rebuilt from the log, which stays `FULL`. In server mode they share the log's PostgreSQL
//! database (tables prefixed `rm_`), where row locks make that contention a non-issue.
//!
//! Architecture invariant: read models are derived data. Nothing here writes the log, and any
//! read model can be dropped and rebuilt from position 0 to the same rows.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger_core::RecordedEvent;
use tokio::sync::watch;

pub mod backend;
pub mod jetstream;
pub mod projection;
mod queries;
pub mod runner;
pub mod sql;
pub mod views;

pub use jetstream::{spawn_jetstream, spawn_jetstream_with, ConsumerProgress, JetStreamConfig, JetStreamHandle};
/// The kinds of `ReadModels::charge`.
pub use projection::charges::{RENEWAL as CHARGE_RENEWAL, USAGE as CHARGE_USAGE};
pub use queries::{AutoRenewalView, BookTermsView, CreditView, PayableView, SettlementCycleView, PAYABLE_LINES_MAX};
pub use queries::{
    CustomerStatementView, OrgRecordView, OrgStatus, OwnershipView, PostingRuleView, RateView, RegistryQuery,
    StatementItemView, STATEMENT_ITEMS_MAX,
};
pub use runner::{catch_up, spawn_embedded, Feed};
pub use views::*;

/// How often `wait_for` re-reads the checkpoints while it waits. Applies made by this process
/// wake it at once; this interval only bounds how late it notices an apply made by another
/// process (a JetStream consumer beside a gateway).
pub const WAIT_RECHECK_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// `wait_for` timed out: the read models have not applied `wanted` yet (gateway: 503
    /// `read_model_behind`).
    #[error("read models are at position {applied}, behind the requested {wanted}")]
    Behind { wanted: u64, applied: u64 },
    /// The store cannot be reached (gateway: 503).
    #[error("read models are unavailable: {0}")]
    Unavailable(String),
    /// Stored rows do not decode (gateway: 500, logged).
    #[error("read models are corrupt: {0}")]
    Corrupt(String),
    /// The query cannot be answered as asked: an unknown projection, a cursor this crate did not
    /// issue, `from` after `to` (gateway: 400/422 naming the problem).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
}

/// The read models over one store. Cheap to clone: everything is behind an `Arc`.
#[derive(Clone)]
pub struct ReadModels {
    inner: Arc<Inner>,
}

struct Inner {
    backend: backend::Backend,
    /// The lowest checkpoint this process last saw after an apply or reset.
    applied: watch::Sender<u64>,
}

impl ReadModels {
    /// Opens (creating and migrating) `<data_dir>/read.sqlite`.
    pub fn open_sqlite(data_dir: &Path) -> Result<ReadModels, ReadError> {
        let backend = backend::sqlite::SqliteBackend::open(data_dir)?;
        Ok(ReadModels::over(backend::Backend::Sqlite(backend)))
    }

    /// Uses the pool's database and schema (its `search_path`); migrates if needed.
    pub async fn open_postgres(pool: deadpool_postgres::Pool) -> Result<ReadModels, ReadError> {
        ReadModels::open_postgres_owning(pool, projection::ALL.iter().collect()).await
    }

    /// [`ReadModels::open_postgres`] for a process that applies only `owned` (a projector of
    /// split roles; other processes apply the rest): its applies, its `position` and the lowest
    /// checkpoint an apply answers cover those. Queries read every table all the same.
    pub async fn open_postgres_owning(
        pool: deadpool_postgres::Pool,
        owned: Vec<&'static projection::Projection>,
    ) -> Result<ReadModels, ReadError> {
        let backend = backend::postgres::PostgresBackend::open(pool, owned).await?;
        Ok(ReadModels::over(backend::Backend::Postgres(backend)))
    }

    fn over(backend: backend::Backend) -> ReadModels {
        let (applied, _) = watch::channel(0);
        ReadModels { inner: Arc::new(Inner { backend, applied }) }
    }

    pub(crate) fn backend(&self) -> &backend::Backend {
        &self.inner.backend
    }

    /// Applies events (any order of calls, duplicates allowed, positions increasing within a
    /// call). Each projection applies the events that continue its checkpoint; events after a
    /// gap are left for a later call (fill the gap from the log). Returns the lowest checkpoint.
    pub async fn apply(&self, events: &[RecordedEvent]) -> Result<u64, ReadError> {
        let lowest = self.inner.backend.apply(events).await?;
        self.inner.applied.send_if_modified(|seen| {
            let advanced = lowest > *seen;
            *seen = lowest.max(*seen);
            advanced
        });
        Ok(lowest)
    }

    /// The lowest checkpoint over the projections this process applies (all of them but on a
    /// projector): every such read model reflects at least this.
    pub async fn position(&self) -> Result<u64, ReadError> {
        if let backend::Backend::Postgres(backend) = &self.inner.backend {
            return backend.position().await;
        }
        let statement = sql::Statement::new(backend::LOWEST_CHECKPOINT, vec![]);
        let rows = self.inner.backend.query(statement).await?;
        rows.first().ok_or_else(|| ReadError::Corrupt("no checkpoint row".into()))?.position(0)
    }

    /// Each projection's checkpoint, in [`projection::ALL`]'s order (`/metrics`). A row of a
    /// projection this build does not have is left out.
    pub async fn checkpoints(&self) -> Result<Vec<(&'static str, u64)>, ReadError> {
        let statement = sql::Statement::new(backend::SELECT_CHECKPOINTS, vec![]);
        let checkpoints = backend::read_checkpoints(&self.inner.backend.query(statement).await?)?;
        Ok(projection::ALL
            .iter()
            .filter_map(|projection| Some((projection.name, *checkpoints.get(projection.name)?)))
            .collect())
    }

    /// What this instance's applies brought every read model to: a lower bound of `position()`,
    /// without a query (0 where another process applies).
    pub fn applied(&self) -> u64 {
        *self.inner.applied.borrow()
    }

    /// Waits (at most `timeout`) until `position()` ≥ `wanted`; answers the position reached.
    /// Woken by this process's applies; re-reads every [`WAIT_RECHECK_INTERVAL`] for others'.
    pub async fn wait_for(&self, wanted: u64, timeout: Duration) -> Result<u64, ReadError> {
        let seen = *self.inner.applied.borrow();
        if seen >= wanted && seen > 0 {
            // What this instance applied is a lower bound of every checkpoint: no query needed.
            return Ok(seen);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut applied = self.inner.applied.subscribe();
        loop {
            applied.mark_unchanged();
            let position = self.position().await?;
            if position >= wanted {
                return Ok(position);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ReadError::Behind { wanted, applied: position });
            }
            let wake = deadline.min(now + WAIT_RECHECK_INTERVAL);
            // Either an apply here, or the recheck interval, or the deadline: then look again.
            let _ = tokio::time::timeout_at(wake, applied.changed()).await;
        }
    }

    /// Drops one projection's rows (or every projection's, `None`) and sets its checkpoint to 0,
    /// in one transaction; the runners then rebuild it from the log.
    pub async fn reset(&self, projection: Option<&str>) -> Result<(), ReadError> {
        let projections: Vec<&'static projection::Projection> = match projection {
            None => projection::ALL.iter().collect(),
            Some(name) => vec![projection::find(name)
                .ok_or_else(|| ReadError::InvalidQuery(format!("unknown projection {name:?}")))?],
        };
        let lowest = self.inner.backend.reset(projections).await?;
        self.inner.applied.send_replace(lowest);
        Ok(())
    }
}

impl ReadModels {
    /// Every row of every read-model table and the checkpoints, sorted: what two read models
    /// built from the same log must agree on (tests, and a rebuild's check against the live one).
    #[doc(hidden)]
    pub async fn dump(&self) -> Result<std::collections::BTreeMap<String, Vec<sql::Row>>, ReadError> {
        let mut tables = std::collections::BTreeMap::new();
        let names =
            projection::ALL.iter().flat_map(|projection| projection.tables.iter()).chain(["rm_checkpoints"].iter());
        for table in names {
            let statement = sql::Statement::dynamic(format!("SELECT * FROM {table}"), vec![]);
            let mut rows = self.inner.backend.query(statement).await?;
            rows.sort();
            tables.insert((*table).to_owned(), rows);
        }
        Ok(tables)
    }
}
