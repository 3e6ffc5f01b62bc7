//! The projections: each turns one event into portable SQL statements over its own tables.
//! They are pure functions of the event (and, for the few that need it, of rows a context query
//! read in the same transaction), so both backends run exactly the same logic.

use ledger_core::RecordedEvent;
use serde::Serialize;

use crate::sql::{Row, SqlValue, Statement};
use crate::ReadError;

pub mod approvals;
pub mod audit;
pub mod balances;
pub mod catalog;
pub mod charges;
pub mod invoices;
pub mod journal;
pub mod kpis;
pub mod movements;
pub mod orders;
pub mod orgs;
pub mod products;
pub mod registry;
pub mod settlements;
pub mod terms;
pub mod tokens;

/// One read model: its name (the checkpoint's key), the tables it owns (what `reset` empties),
/// and how it folds events into statements.
pub struct Projection {
    pub name: &'static str,
    pub tables: &'static [&'static str],
    /// The projections whose tables this one's context queries read: a process that builds
    /// this one must build those too (before it, in [`ALL`]'s order, or in an earlier chunk).
    pub reads: &'static [&'static str],
    pub fold: Fold,
}

/// The query whose rows one event's statements need, if any.
pub type EventContext = fn(&RecordedEvent) -> Option<Statement>;
/// One event's statements, given the rows of its context query.
pub type EventStatements = fn(&RecordedEvent, &[Row], &mut Vec<Statement>);

/// The queries whose rows (concatenated) a whole run's statements need.
pub type RunContext = fn(&[&RecordedEvent]) -> Vec<Statement>;
/// A whole run's statements, given the rows of its context queries.
pub type RunStatements = fn(&[&RecordedEvent], &[Row], &mut Vec<Statement>) -> Result<(), ReadError>;

/// How a projection turns a run of events (those continuing its checkpoint in one chunk) into
/// statements.
pub enum Fold {
    /// Event by event: an optional query whose rows one event's statements need (read in the
    /// same transaction, after everything before the event), and the statements.
    Events { context: EventContext, statements: EventStatements },
    /// The whole run at once: queries read once before the run (their rows concatenated), then
    /// the statements of every event. For state carried from event to event (running balances),
    /// looked up once per chunk rather than once per event.
    Run { context: RunContext, statements: RunStatements },
}

/// Every projection, in the order they are applied within a transaction.
pub const ALL: &[Projection] = &[
    orgs::PROJECTION,
    tokens::PROJECTION,
    products::PROJECTION,
    balances::PROJECTION,
    journal::PROJECTION,
    orders::PROJECTION,
    kpis::PROJECTION,
    approvals::PROJECTION,
    settlements::PROJECTION,
    invoices::PROJECTION,
    movements::PROJECTION,
    registry::PROJECTION,
    charges::PROJECTION,
    catalog::PROJECTION,
    audit::PROJECTION,
    terms::PROJECTION,
];

pub fn find(name: &str) -> Option<&'static Projection> {
    ALL.iter().find(|projection| projection.name == name)
}

/// For projections whose statements depend on the event alone.
pub fn no_context(_: &RecordedEvent) -> Option<Statement> {
    None
}

/// The serde name of a unit-like enum value (`"asset"`, `"contra_revenue"`): the text stored for
/// it, so read models and the JSON API spell values the same way.
pub fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value).expect("enums serialise") {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

pub fn json_text<T: Serialize>(value: &T) -> SqlValue {
    SqlValue::Text(serde_json::to_string(value).expect("read-model values serialise"))
}
