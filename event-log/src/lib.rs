//! # event-log
//!
//! The log of KBOSS Ledger, between the domain (`ledger-core`) and its two sides (`commands`
//! writes it, `projections` reads it): the [`LogRead`] and [`LogAppend`] traits, the embedded
//! SQLite and the PostgreSQL stores ([`sqlite`], [`postgres`]), [`AsyncLog`] (the one adapter
//! through which async code reads a blocking store), start-up and verification by replay
//! ([`replay`]), and the relay that publishes the log to NATS JetStream ([`relay`]).

pub mod adapter;
pub mod any;
pub mod migrate;
pub mod postgres;
pub mod relay;
pub mod replay;
pub mod sqlite;
pub mod store;
pub mod task;

pub use adapter::AsyncLog;
pub use any::AnyReader;
pub use postgres::{PostgresReader, PostgresStore};
pub use relay::{spawn_relay, RelayConfig, RelayError, RelayHandle};
pub use replay::{load_state, verify_store, verify_store_observing, LoadError, VerifyReport};
pub use sqlite::{SqliteReader, SqliteStore};
pub use store::{IdempotencyRecord, LogAppend, LogRead, StoreError, REPLAY_CHUNK_EVENTS};
pub use task::{StoppableTask, TaskReports};
