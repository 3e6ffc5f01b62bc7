//! # commands
//!
//! The write side of KBOSS Ledger (DESIGN §3–§5): the sequencer that owns the decision state and
//! appends in group commits ([`writer`]) to any [`event_log::LogAppend`] store.

#[cfg(feature = "testing")]
pub mod testing;
pub mod writer;

pub use writer::{
    AppendedBatch, BatchObserver, CommandError, Committed, CommittedBatch, DecideFn, IdempotencyKey, Request, Writer,
    WriterConfig, WriterHandle, WriterHealth,
};
