//! # ledger-core
//!
//! The pure domain of KBOSS Ledger: exact money, books and charts, posting rules as data, the
//! pricing chain, events with their hash chain, and one decider per business flow.
//!
//! Architecture invariant: this crate does no IO and knows nothing of tokio, SQL, NATS or HTTP.
//! Time, ids and the accounting date come in with each [`command::Command`]; nothing here reads
//! a clock or draws a random number, so `decide` and `evolve` are reproducible anywhere.

pub mod approval_policy;
pub mod chart;
pub mod command;
pub mod decide;
pub mod error;
pub mod event;
pub mod ids;
pub mod invariants;
pub mod journal;
pub mod limits;
pub mod log;
pub mod money;
pub mod org;
pub mod permissions;
pub mod pricing;
pub mod reconcile;
pub mod record;
pub mod rule_replay;
pub mod rules;
pub mod state;
pub mod statement;
#[cfg(feature = "testing")]
pub mod testing;

pub use command::{
    AccessCommand, ApprovalCommand, ClockCommand, Command, CommandBody, MoneyCommand, OrderCommand, RegistryCommand,
    SerialCommand, SettlementCommand, SetupCommand, TermsCommand,
};
pub use decide::decide;
pub use error::{DomainError, ErrorClass};
pub use event::{Event, EventPayload, RecordedEvent};
pub use state::State;
