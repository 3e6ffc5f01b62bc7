//! The embedded event store: SQLite in WAL mode in a data directory, durable on every commit
//! (`synchronous = FULL`). A file lock on the directory keeps a second writer out.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::thread::JoinHandle;
use std::time::Duration;

use ledger_core::event::{EncodedEvent, EVENT_BYTES_MAX, GENESIS_HASH};
use ledger_core::RecordedEvent;
use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{key_digest, stored_record, IdempotencyRecord, InjectedFailure, LogAppend, LogRead, StoreError};

/// The versioned migrations of `schemas/sql/sqlite/`, applied in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../schemas/sql/sqlite/0001_log.sql")),
    (RECORDS_MIGRATION, include_str!("../../schemas/sql/sqlite/0002_records.sql")),
];
/// The migration that replaces the v1 tables (JSON bodies) with records: applied only to a log
/// without v1 events.
const RECORDS_MIGRATION: i64 = 2;

pub const DATABASE_FILE: &str = "kboss.sqlite";
pub const LOCK_FILE: &str = "writer.lock";
/// How often the background connection folds the WAL back into the database. Once a
/// checkpoint has folded all of it, the next write truncates the WAL file to 64 MiB at most
/// (`journal_size_limit`): under load it grew to hundreds of MiB and stayed that size.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Keys looked up per query (SQLite's default limit on bound parameters is 32766).
const KEYS_PER_QUERY_MAX: usize = 500;

fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// The writer's store: holds the data directory's lock, appends, saves snapshots.
pub struct SqliteStore {
    log: SqliteReader,
    /// Held for the writer's lifetime; dropping it releases the directory.
    _lock: File,
    injected: InjectedFailure,
    _checkpointer: Checkpointer,
}

/// A connection that reads the log, without the writer's lock (projections, the relay, the
/// gateway's event endpoint, `kboss verify`): it cannot append.
pub struct SqliteReader {
    connection: Connection,
    data_dir: PathBuf,
}

/// Checkpoints the WAL from a connection of its own, so the writer's commits never pay for it
/// (the writer's connection has automatic checkpoints off).
struct Checkpointer {
    /// Dropping it wakes the thread, which then stops.
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: PathBuf) -> Result<Checkpointer, StoreError> {
        let connection = connect(&path)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kboss-checkpoint".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL) {
                    if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(%error, "WAL checkpoint failed; will retry");
                    }
                }
            })
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl SqliteStore {
    /// Opens the data directory for writing: takes the writer lock, creates the database and
    /// applies migrations.
    pub fn open_writer(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|error| StoreError::Unavailable(format!("cannot create {}: {error}", data_dir.display())))?;
        let lock = lock_data_dir(data_dir)?;
        let connection = connect(&database_path(data_dir))?;
        migrate(&connection)?;
        connection.execute_batch("PRAGMA wal_autocheckpoint = 0").map_err(unavailable)?;
        let checkpointer = Checkpointer::start(database_path(data_dir))?;
        Ok(SqliteStore {
            log: SqliteReader { connection, data_dir: data_dir.to_owned() },
            _lock: lock,
            injected: InjectedFailure::default(),
            _checkpointer: checkpointer,
        })
    }

    /// Makes the next append fail after inserting `events` events, inside its transaction.
    #[cfg(feature = "testing")]
    pub fn inject_append_failure_after(&mut self, events: usize) {
        self.injected.set(events);
    }

    /// Sets the hash position 1 links to, on an empty log (`kboss migrate`: the v1 head).
    pub fn set_genesis(&mut self, hash: &[u8; 32]) -> Result<(), StoreError> {
        if self.log.last_position()? != 0 {
            return Err(StoreError::Unavailable("the genesis of a log is set before its first event".to_owned()));
        }
        self.log
            .connection
            .execute("INSERT OR REPLACE INTO log_meta (name, value) VALUES ('genesis', ?1)", [hash.as_slice()])
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Takes the data directory's writer lock (`writer.lock`, an advisory file lock the OS releases
/// when the process ends, however it ends) and writes this process's id into the file. Held by
/// another process, it answers `Locked` naming that process's id and what to do.
pub(crate) fn lock_data_dir(data_dir: &Path) -> Result<File, StoreError> {
    use std::io::{Read, Seek, Write};
    let lock_path = data_dir.join(LOCK_FILE);
    let failed = |error: std::io::Error| StoreError::Unavailable(format!("{}: {error}", lock_path.display()));
    let mut lock =
        OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&lock_path).map_err(failed)?;
    if lock.try_lock().is_err() {
        let mut holder = String::new();
        let _ = lock.read_to_string(&mut holder);
        let holder = match holder.trim().parse::<u32>() {
            Ok(pid) => format!("process {pid}"),
            Err(_) => "another process".to_owned(),
        };
        return Err(StoreError::Locked {
            holder: format!(
                "{holder} holds {} (a running `kboss serve` on {}?): stop it first",
                lock_path.display(),
                data_dir.display()
            ),
        });
    }
    lock.set_len(0).map_err(failed)?;
    lock.rewind().map_err(failed)?;
    writeln!(lock, "{}", std::process::id()).map_err(failed)?;
    Ok(lock)
}

impl SqliteReader {
    /// Opens the data directory for reading only (projections, `kboss verify`): no lock. A
    /// reader never creates a log: where there is none it answers `Missing` with the path.
    pub fn open(data_dir: &Path) -> Result<SqliteReader, StoreError> {
        let path = database_path(data_dir);
        if !path.is_file() {
            return Err(StoreError::Missing { path: path.display().to_string() });
        }
        let connection = connect(&path)?;
        migrate(&connection)?;
        Ok(SqliteReader { connection, data_dir: data_dir.to_owned() })
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(unavailable)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(unavailable)?;
    Ok(connection)
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE_FILE)
}

fn migrate(connection: &Connection) -> Result<(), StoreError> {
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .map_err(unavailable)?;
    for (version, sql) in MIGRATIONS {
        let applied: Option<i64> = connection
            .query_row("SELECT version FROM schema_migrations WHERE version = ?1", [version], |row| row.get(0))
            .optional()
            .map_err(unavailable)?;
        if applied.is_some() {
            continue;
        }
        if *version == RECORDS_MIGRATION {
            let v1_events: i64 =
                connection.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0)).map_err(unavailable)?;
            if v1_events > 0 {
                let path = connection.path().unwrap_or("kboss.sqlite").to_owned();
                return Err(StoreError::FormatV1 { location: path });
            }
        }
        let transaction = connection.unchecked_transaction().map_err(unavailable)?;
        transaction.execute_batch(sql).map_err(unavailable)?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, chrono::Utc::now().to_rfc3339()],
            )
            .map_err(unavailable)?;
        transaction.commit().map_err(unavailable)?;
    }
    Ok(())
}

impl LogAppend for SqliteStore {
    type Reader = SqliteReader;

    fn reopen(&self) -> Result<SqliteReader, StoreError> {
        SqliteReader::open(&self.log.data_dir)
    }

    fn append(&mut self, events: &[EncodedEvent], keys: &[IdempotencyRecord]) -> Result<(), StoreError> {
        let fail_after = self.injected.take();
        let transaction = self.log.connection.transaction().map_err(unavailable)?;
        let last: u64 = transaction
            .query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |row| row.get::<_, i64>(0))
            .map_err(unavailable)? as u64;
        if let Some(first) = events.first() {
            if first.event.position != last + 1 {
                return Err(StoreError::NotContiguous { first: first.event.position, last });
            }
        }
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO events (position, record, hash) VALUES (?1, ?2, ?3)")
                .map_err(unavailable)?;
            for (index, encoded) in events.iter().enumerate() {
                if fail_after == Some(index) {
                    return Err(StoreError::Unavailable("injected append failure".to_owned()));
                }
                let position = encoded.event.position;
                if encoded.record.len() > EVENT_BYTES_MAX {
                    let bytes = encoded.record.len();
                    return Err(StoreError::EventTooLarge { position, bytes, limit: EVENT_BYTES_MAX });
                }
                insert
                    .execute(params![position as i64, encoded.record, encoded.digest.as_slice()])
                    .map_err(unavailable)?;
            }
            let mut insert_key = transaction
                .prepare_cached(
                    "INSERT INTO idempotency (key_digest, request_hash, first_position, last_position) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(unavailable)?;
            for key in keys {
                insert_key
                    .execute(params![
                        key_digest(&key.scoped_key).as_slice(),
                        key.request_digest()?.as_slice(),
                        key.first_position as i64,
                        key.last_position as i64
                    ])
                    .map_err(unavailable)?;
            }
        }
        if fail_after.is_some() {
            return Err(StoreError::Unavailable("injected append failure".to_owned()));
        }
        transaction.commit().map_err(unavailable)
    }

    fn save_snapshot(&mut self, position: u64, state: &[u8]) -> Result<(), StoreError> {
        let transaction = self.log.connection.transaction().map_err(unavailable)?;
        transaction
            .execute(
                "INSERT OR REPLACE INTO snapshots (position, created_at, state) VALUES (?1, ?2, ?3)",
                params![position as i64, chrono::Utc::now().to_rfc3339(), state],
            )
            .map_err(unavailable)?;
        // Keep the newest two: one to fall back on if the newest cannot be decoded.
        transaction
            .execute("DELETE FROM snapshots WHERE position NOT IN (SELECT position FROM snapshots ORDER BY position DESC LIMIT 2)", [])
            .map_err(unavailable)?;
        transaction.commit().map_err(unavailable)
    }
}

impl LogRead for SqliteReader {
    fn read_records(&mut self, after: u64, limit: usize) -> Result<Vec<EncodedEvent>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT position, record, hash FROM events WHERE position > ?1 ORDER BY position LIMIT ?2")
            .map_err(unavailable)?;
        let mut rows = statement.query(params![after as i64, limit as i64]).map_err(unavailable)?;
        let mut records = Vec::with_capacity(limit.min(1024));
        while let Some(row) = rows.next().map_err(unavailable)? {
            let position = row.get::<_, i64>(0).map_err(unavailable)? as u64;
            let record: Vec<u8> = row.get(1).map_err(unavailable)?;
            let hash = row.get_ref(2).map_err(unavailable)?.as_blob().map_err(|error| unavailable(error.into()))?;
            records.push(stored_record(position, record, hash)?);
        }
        Ok(records)
    }

    fn read_after(&mut self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(self.read_records(after, limit)?.into_iter().map(|encoded| encoded.event).collect())
    }

    fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .connection
            .query_row("SELECT record, hash FROM events WHERE position = ?1", [position as i64], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .map_err(unavailable)?;
        row.map(|(record, hash)| stored_record(position, record, &hash).map(|encoded| encoded.event)).transpose()
    }

    fn last_position(&mut self) -> Result<u64, StoreError> {
        let last: i64 = self
            .connection
            .query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |row| row.get(0))
            .map_err(unavailable)?;
        Ok(last as u64)
    }

    fn find_key(&mut self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.find_keys(&[scoped_key])?.remove(scoped_key))
    }

    fn find_keys(&mut self, scoped_keys: &[&str]) -> Result<HashMap<String, IdempotencyRecord>, StoreError> {
        let mut found = HashMap::new();
        for chunk in scoped_keys.chunks(KEYS_PER_QUERY_MAX) {
            let by_digest: HashMap<[u8; 32], &str> = chunk.iter().map(|key| (key_digest(key), *key)).collect();
            let placeholders = vec!["?"; by_digest.len()].join(",");
            let sql = format!(
                "SELECT key_digest, request_hash, first_position, last_position FROM idempotency WHERE key_digest IN ({placeholders})"
            );
            let mut statement = self.connection.prepare_cached(&sql).map_err(unavailable)?;
            let digests: Vec<&[u8]> = by_digest.keys().map(|digest| digest.as_slice()).collect();
            let rows = statement
                .query_map(rusqlite::params_from_iter(digests), |row| {
                    Ok((
                        row.get::<_, Vec<u8>>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })
                .map_err(unavailable)?;
            for row in rows {
                let (digest, request_hash, first, last) = row.map_err(unavailable)?;
                let Some(scoped_key) = <[u8; 32]>::try_from(digest.as_slice()).ok().and_then(|d| by_digest.get(&d))
                else {
                    continue;
                };
                let record = IdempotencyRecord::stored(scoped_key, &request_hash, first as u64, last as u64);
                found.insert((*scoped_key).to_owned(), record);
            }
        }
        Ok(found)
    }

    fn genesis(&mut self) -> Result<String, StoreError> {
        let stored: Option<Vec<u8>> = self
            .connection
            .query_row("SELECT value FROM log_meta WHERE name = 'genesis'", [], |row| row.get(0))
            .optional()
            .map_err(unavailable)?;
        Ok(stored.map_or_else(|| GENESIS_HASH.to_owned(), hex::encode))
    }

    fn latest_snapshot(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.connection
            .query_row("SELECT position, state FROM snapshots ORDER BY position DESC LIMIT 1", [], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Vec<u8>>(1)?))
            })
            .optional()
            .map_err(unavailable)
    }
}

/// The writer reads through the same connection it appends with.
impl LogRead for SqliteStore {
    fn read_after(&mut self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.log.read_after(after, limit)
    }

    fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.log.read_one(position)
    }

    fn read_records(&mut self, after: u64, limit: usize) -> Result<Vec<EncodedEvent>, StoreError> {
        self.log.read_records(after, limit)
    }

    fn last_position(&mut self) -> Result<u64, StoreError> {
        self.log.last_position()
    }

    fn find_key(&mut self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.log.find_key(scoped_key)
    }

    fn find_keys(&mut self, scoped_keys: &[&str]) -> Result<HashMap<String, IdempotencyRecord>, StoreError> {
        self.log.find_keys(scoped_keys)
    }

    fn genesis(&mut self) -> Result<String, StoreError> {
        self.log.genesis()
    }

    fn latest_snapshot(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.log.latest_snapshot()
    }
}
