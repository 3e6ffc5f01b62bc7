//! # commands
//!
//! The write side of KBOSS Ledger (DESIGN §3–§5): the sequencer that owns the decision state and
//! appends in group commits ([`writer`]), the event store trait ([`store`]) and its embedded
//! SQLite and PostgreSQL backends ([`sqlite`], [`postgres`]), the relay that publishes the log to
//! NATS JetStream ([`relay`]), and start-up and verification by replay ([`replay`]).

pub mod postgres;
pub mod relay;
pub mod replay;
pub mod sqlite;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod writer;

pub use postgres::PostgresStore;
pub mod task;
pub use relay::{spawn_relay, BlockingStore, RelayConfig, RelayError, RelayHandle};
pub use replay::{load_state, verify_store, LoadError, VerifyReport};
pub use sqlite::SqliteStore;
pub use store::{EventStore, IdempotencyRecord, StoreError};
pub use writer::{
    CommandError, Committed, DecideFn, IdempotencyKey, Request, Writer, WriterConfig, WriterHandle, WriterHealth,
};
