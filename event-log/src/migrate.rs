//! `kboss migrate`: converts a log written in record format v1 (canonical JSON bodies) into
//! format v2, once.
//!
//! Every v1 event is read with its stored hash, checked (the SHA-256 of the bytes read, the link
//! to the one before, no gap), upcast (an `OrderPaid` no longer repeats its order's waterfall,
//! a `SettlementStatementIssued` no longer carries its lines, only their count) and sealed again
//! into a v2 record. Positions, event ids, times, actors, keys and entries are
//! kept, so every read model, trial balance and KPI is the same after it. The new chain
//! continues the old one: its genesis (what position 1 links to) is the v1 head hash. The v1
//! log is kept beside the new one (`kboss.v1.sqlite`, or the `v1_events` and `v1_idempotency`
//! tables of a PostgreSQL schema), and the new log is verified in full before it takes the old
//! one's place.

use std::path::{Path, PathBuf};

use ledger_core::event::{StatementLine, V1Copy, GENESIS_HASH};
use ledger_core::log::ChainHead;
use ledger_core::pricing::PricedItem;
use ledger_core::{EventPayload, RecordedEvent};
use postgres::{Config, NoTls};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::replay::{verify_store, LoadError};
use crate::sqlite::database_path;
use crate::store::{IdempotencyRecord, LogAppend, StoreError, REPLAY_CHUNK_EVENTS};
use crate::{PostgresReader, PostgresStore, SqliteReader, SqliteStore};

/// The file a migrated data directory keeps its v1 log in.
pub const V1_DATABASE_FILE: &str = "kboss.v1.sqlite";
/// The directory a migration writes the new log in before it takes the old one's place.
const MIGRATION_DIRECTORY: &str = "migrate-v2.tmp";

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the v1 log at position {position}: {reason}")]
    V1Corrupt { position: u64, reason: String },
    #[error("the migrated log does not verify: {0}")]
    Verify(#[from] LoadError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a migration did.
#[derive(Debug, PartialEq, Eq)]
pub enum Migrated {
    /// The log was already in format v2.
    AlreadyV2,
    /// `events` v1 events became v2 records; the new chain's genesis is the v1 head hash.
    Converted { events: u64, keys: usize, v1_head: String, v2_head: String, kept_at: String },
}

fn v1_corrupt(position: u64, reason: impl ToString) -> MigrateError {
    MigrateError::V1Corrupt { position, reason: reason.to_string() }
}

/// Checks one v1 event (stored body and hash, link, position) and upcasts it to the current
/// schema versions.
fn upcast_v1(position: u64, body: &[u8], hash: &str, chain: &mut ChainHead) -> Result<RecordedEvent, MigrateError> {
    if hex::encode(Sha256::digest(body)) != hash {
        return Err(v1_corrupt(position, "the body does not match its stored hash"));
    }
    let mut event = RecordedEvent::decode_v1(body, hash).map_err(|error| v1_corrupt(position, error))?;
    if event.position != position || position != chain.position + 1 {
        return Err(v1_corrupt(position, format!("expected position {}", chain.position + 1)));
    }
    if event.prev_hash != chain.hash {
        return Err(v1_corrupt(position, "prev_hash does not match the previous event's hash"));
    }
    chain.position = position;
    chain.hash = hash.to_owned();
    event.schema_version = event.event.payload.schema_version();
    Ok(event)
}

/// Seals upcast v1 events onto the new chain and appends them in chunks, then the keys.
fn write_v2(
    store: &mut impl LogAppend,
    mut read_chunk: impl FnMut(u64) -> Result<Vec<(u64, Vec<u8>, String)>, MigrateError>,
    keys: &[IdempotencyRecord],
    v2_genesis: &str,
) -> Result<(u64, String), MigrateError> {
    let mut v1_chain = ChainHead { position: 0, hash: GENESIS_HASH.to_owned() };
    let mut v2_chain = ChainHead { position: 0, hash: v2_genesis.to_owned() };
    loop {
        let rows = read_chunk(v1_chain.position)?;
        if rows.is_empty() {
            break;
        }
        let mut sealed = Vec::with_capacity(rows.len());
        for (position, body, hash) in rows {
            let mut event = upcast_v1(position, &body, &hash, &mut v1_chain)?;
            event.prev_hash.clear();
            event.hash.clear();
            sealed.push(v2_chain.seal(event));
        }
        store.append(&sealed, &[])?;
    }
    store.append(&[], keys)?;
    Ok((v1_chain.position, v1_chain.hash))
}

/// Migrates the SQLite log of `data_dir` in place (the v1 file is kept as `kboss.v1.sqlite`).
/// Takes the data directory's writer lock: no server may run on it meanwhile.
pub fn migrate_sqlite(data_dir: &Path) -> Result<Migrated, MigrateError> {
    let path = database_path(data_dir);
    if !path.is_file() {
        return Err(StoreError::Missing { path: path.display().to_string() }.into());
    }
    let _lock = crate::sqlite::lock_data_dir(data_dir)?;
    let v1 = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sqlite)?;
    let version: i64 = v1
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0))
        .optional()
        .map_err(sqlite)?
        .unwrap_or(0);
    if version >= 2 {
        return Ok(Migrated::AlreadyV2);
    }
    // Everything the WAL holds goes into the file that is kept.
    v1.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").map_err(sqlite)?;
    let keys = sqlite_v1_keys(&v1)?;
    let (events, v1_head) = last_v1(&v1)?;

    let target = data_dir.join(MIGRATION_DIRECTORY);
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    let genesis = head_bytes(&v1_head)?;
    {
        let mut store = SqliteStore::open_writer(&target)?;
        store.set_genesis(&genesis)?;
        let mut statement = v1
            .prepare("SELECT position, body, hash FROM events WHERE position > ?1 ORDER BY position LIMIT ?2")
            .map_err(sqlite)?;
        let read_chunk = |after: u64| -> Result<Vec<(u64, Vec<u8>, String)>, MigrateError> {
            let rows = statement
                .query_map([after as i64, REPLAY_CHUNK_EVENTS as i64], |row| {
                    Ok((row.get::<_, i64>(0)? as u64, row.get::<_, String>(1)?.into_bytes(), row.get::<_, String>(2)?))
                })
                .map_err(sqlite)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
        };
        write_v2(&mut store, read_chunk, &keys, &v1_head)?;
    }
    let v2_head = verify_store(&mut SqliteReader::open(&target)?, |_| {})?.last_hash;
    drop(v1);

    let kept = data_dir.join(V1_DATABASE_FILE);
    std::fs::rename(&path, &kept)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(sidecar(&path, suffix));
        let _ = std::fs::rename(sidecar(&database_path(&target), suffix), sidecar(&path, suffix));
    }
    std::fs::rename(database_path(&target), &path)?;
    std::fs::remove_dir_all(&target)?;
    Ok(Migrated::Converted { events, keys: keys.len(), v1_head, v2_head, kept_at: kept.display().to_string() })
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sqlite(error: rusqlite::Error) -> MigrateError {
    StoreError::Unavailable(error.to_string()).into()
}

fn head_bytes(hash: &str) -> Result<[u8; 32], MigrateError> {
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(hash, &mut bytes).map_err(|_| v1_corrupt(0, format!("the head hash {hash:?} is not hex")))?;
    Ok(bytes)
}

fn last_v1(v1: &Connection) -> Result<(u64, String), MigrateError> {
    let last: Option<(i64, String)> = v1
        .query_row("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()
        .map_err(sqlite)?;
    Ok(last.map_or((0, GENESIS_HASH.to_owned()), |(position, hash)| (position as u64, hash)))
}

fn sqlite_v1_keys(v1: &Connection) -> Result<Vec<IdempotencyRecord>, MigrateError> {
    let mut statement = v1
        .prepare("SELECT scoped_key, request_hash, first_position, last_position FROM idempotency ORDER BY scoped_key")
        .map_err(sqlite)?;
    let rows = statement
        .query_map([], |row| {
            Ok(IdempotencyRecord {
                scoped_key: row.get(0)?,
                request_hash: row.get(1)?,
                first_position: row.get::<_, i64>(2)? as u64,
                last_position: row.get::<_, i64>(3)? as u64,
            })
        })
        .map_err(sqlite)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
}

/// Migrates the PostgreSQL log of the schema `config` names, in place: the v1 tables are
/// renamed `v1_events` and `v1_idempotency` and kept; the v2 tables are created and filled.
/// Takes the writer's advisory lock for the whole migration.
pub fn migrate_postgres(config: &Config, holder: &str) -> Result<Migrated, MigrateError> {
    let mut client = config.connect(NoTls).map_err(pg)?;
    let version: Option<i32> = client
        .query_one(
            "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN NULL
                    ELSE (SELECT MAX(version) FROM schema_migrations) END",
            &[],
        )
        .map_err(pg)?
        .get(0);
    if version.unwrap_or(0) >= 2 {
        return Ok(Migrated::AlreadyV2);
    }
    if version.is_none() {
        return Err(StoreError::Missing { path: "the PostgreSQL schema (no log tables)".to_owned() }.into());
    }
    // The v1 tables step aside (in one transaction), so the store's own migration creates v2's.
    let mut transaction = client.transaction().map_err(pg)?;
    transaction
        .batch_execute(
            "LOCK TABLE events IN ACCESS EXCLUSIVE MODE;
             ALTER TABLE events RENAME TO v1_events;
             ALTER TABLE idempotency RENAME TO v1_idempotency;",
        )
        .map_err(pg)?;
    transaction.commit().map_err(pg)?;
    let keys: Vec<IdempotencyRecord> = client
        .query(
            "SELECT scoped_key, request_hash, first_position, last_position FROM v1_idempotency ORDER BY scoped_key",
            &[],
        )
        .map_err(pg)?
        .iter()
        .map(|row| IdempotencyRecord {
            scoped_key: row.get(0),
            request_hash: row.get(1),
            first_position: row.get::<_, i64>(2) as u64,
            last_position: row.get::<_, i64>(3) as u64,
        })
        .collect();
    let head =
        client.query_opt("SELECT position, hash FROM v1_events ORDER BY position DESC LIMIT 1", &[]).map_err(pg)?;
    let (events, v1_head) = head.map_or((0, GENESIS_HASH.to_owned()), |row| (row.get::<_, i64>(0) as u64, row.get(1)));

    let mut store = PostgresStore::open_writer(config, holder)?;
    store.set_genesis(&head_bytes(&v1_head)?)?;
    let read_chunk = |after: u64| -> Result<Vec<(u64, Vec<u8>, String)>, MigrateError> {
        // A v1 body in PostgreSQL is jsonb, which does not keep the bytes that were hashed: the
        // canonical v1 encoding is rebuilt from the decoded event (with the items a v1
        // `OrderPaid` repeated) and checked against the stored hash like SQLite's bytes.
        let rows = client
            .query(
                "SELECT position, body::text, hash FROM v1_events WHERE position > $1 ORDER BY position LIMIT $2",
                &[&(after as i64), &(REPLAY_CHUNK_EVENTS as i64)],
            )
            .map_err(pg)?;
        rows.iter()
            .map(|row| {
                let position = row.get::<_, i64>(0) as u64;
                let (body, hash): (String, String) = (row.get(1), row.get(2));
                Ok((position, v1_canonical(position, &body, &hash)?, hash))
            })
            .collect()
    };
    write_v2(&mut store, read_chunk, &keys, &v1_head)?;
    drop(store);
    let v2_head = verify_store(&mut PostgresReader::open(config)?, |_| {})?.last_hash;
    Ok(Migrated::Converted {
        events,
        keys: keys.len(),
        v1_head,
        v2_head,
        kept_at: "the tables v1_events and v1_idempotency".to_owned(),
    })
}

/// The canonical v1 bytes of a v1 event stored as jsonb: the decoded event, given back what v1
/// repeated and today's event does not (an `OrderPaid`'s items, a statement's lines), read from
/// the same body.
fn v1_canonical(position: u64, body: &str, hash: &str) -> Result<Vec<u8>, MigrateError> {
    let decoded = RecordedEvent::decode_v1(body.as_bytes(), hash).map_err(|error| v1_corrupt(position, error))?;
    let copied = |field: &str| -> Result<serde_json::Value, MigrateError> {
        let value: serde_json::Value = serde_json::from_str(body).map_err(|error| v1_corrupt(position, error))?;
        Ok(value["payload"][field].clone())
    };
    let without = |what: &str, error: serde_json::Error| v1_corrupt(position, format!("a v1 {what}: {error}"));
    Ok(match decoded.event.payload {
        EventPayload::OrderPaid(_) => {
            let items: Vec<PricedItem> = serde_json::from_value(copied("items")?)
                .map_err(|error| without("OrderPaid without its items", error))?;
            decoded.v1_canonical_bytes(V1Copy::OrderPaidItems(&items))
        }
        EventPayload::SettlementStatementIssued(_) => {
            let lines: Vec<StatementLine> = serde_json::from_value(copied("lines")?)
                .map_err(|error| without("SettlementStatementIssued without its lines", error))?;
            decoded.v1_canonical_bytes(V1Copy::StatementLines(&lines))
        }
        _ => decoded.v1_canonical_bytes(V1Copy::None),
    })
}

fn pg(error: postgres::Error) -> MigrateError {
    StoreError::Unavailable(error.to_string()).into()
}
