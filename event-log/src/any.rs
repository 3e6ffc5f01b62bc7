//! [`AnyReader`]: a reader of either store, for code that serves both (the gateway, the CLI).

use std::collections::HashMap;

use ledger_core::event::EncodedEvent;
use ledger_core::RecordedEvent;

use crate::postgres::PostgresReader;
use crate::sqlite::SqliteReader;
use crate::store::{IdempotencyRecord, LogRead, StoreError};

pub enum AnyReader {
    Sqlite(SqliteReader),
    Postgres(Box<PostgresReader>),
}

impl From<SqliteReader> for AnyReader {
    fn from(reader: SqliteReader) -> AnyReader {
        AnyReader::Sqlite(reader)
    }
}

impl From<PostgresReader> for AnyReader {
    fn from(reader: PostgresReader) -> AnyReader {
        AnyReader::Postgres(Box::new(reader))
    }
}

impl LogRead for AnyReader {
    fn reconnections(&self) -> u64 {
        match self {
            AnyReader::Sqlite(reader) => reader.reconnections(),
            AnyReader::Postgres(reader) => reader.reconnections(),
        }
    }

    fn read_after(&mut self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.read_after(after, limit),
            AnyReader::Postgres(reader) => reader.read_after(after, limit),
        }
    }

    fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.read_one(position),
            AnyReader::Postgres(reader) => reader.read_one(position),
        }
    }

    fn read_records(&mut self, after: u64, limit: usize) -> Result<Vec<EncodedEvent>, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.read_records(after, limit),
            AnyReader::Postgres(reader) => reader.read_records(after, limit),
        }
    }

    fn last_position(&mut self) -> Result<u64, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.last_position(),
            AnyReader::Postgres(reader) => reader.last_position(),
        }
    }

    fn find_key(&mut self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.find_key(scoped_key),
            AnyReader::Postgres(reader) => reader.find_key(scoped_key),
        }
    }

    fn find_keys(&mut self, scoped_keys: &[&str]) -> Result<HashMap<String, IdempotencyRecord>, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.find_keys(scoped_keys),
            AnyReader::Postgres(reader) => reader.find_keys(scoped_keys),
        }
    }

    fn genesis(&mut self) -> Result<String, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.genesis(),
            AnyReader::Postgres(reader) => reader.genesis(),
        }
    }

    fn latest_snapshot(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        match self {
            AnyReader::Sqlite(reader) => reader.latest_snapshot(),
            AnyReader::Postgres(reader) => reader.latest_snapshot(),
        }
    }
}
