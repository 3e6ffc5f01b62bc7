//! The production event store: PostgreSQL, records as `bytea` (record format v2), the writer's own connection, and an
//! advisory lock that elects the single writer (a second instance is refused and told who
//! leads). Durable as the server is configured (`synchronous_commit = on` by default).
//!
//! The connection is the blocking `postgres` client (the synchronous face of tokio-postgres):
//! the writer is a plain thread, so no runtime is needed in its path.

use std::collections::HashMap;

use ledger_core::event::{EncodedEvent, EVENT_BYTES_MAX, GENESIS_HASH};
use ledger_core::RecordedEvent;
use postgres::{Client, Config, NoTls};

use crate::store::{key_digest, stored_record, IdempotencyRecord, InjectedFailure, LogAppend, LogRead, StoreError};

/// The versioned migrations of `schemas/sql/postgres/`, applied in order.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../schemas/sql/postgres/0001_log.sql")),
    (RECORDS_MIGRATION, include_str!("../../schemas/sql/postgres/0002_records.sql")),
];
/// The migration that replaces the v1 tables (jsonb bodies) with records: applied only to a
/// log without v1 events.
const RECORDS_MIGRATION: i32 = 2;

/// The first key of the advisory locks this crate takes; the second is the schema's hash, so
/// deployments in different schemas of one database each elect their own writer.
const ADVISORY_LOCK_CLASS: i32 = 0x4b_42_4f_53; // "KBOS"
const MIGRATION_LOCK_CLASS: i32 = ADVISORY_LOCK_CLASS + 1;

fn unavailable(error: postgres::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// A connection to the server the configuration names; one that cannot be made is reported with
/// the host, port, database and user tried, and the cause.
fn connect(config: &Config) -> Result<Client, StoreError> {
    config.connect(NoTls).map_err(|error| StoreError::Unavailable(connect_failure(config, &error)))
}

/// "cannot connect to PostgreSQL at 127.0.0.1:5433 (database test, user postgres): Connection
/// refused (os error 111)".
pub fn connect_failure(config: &Config, error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        cause = format!("{cause}: {inner}");
        source = inner.source();
    }
    format!(
        "cannot connect to PostgreSQL at {} (database {}, user {}): {cause}",
        server_address(config),
        config.get_dbname().unwrap_or("(default)"),
        config.get_user().unwrap_or("(default)"),
    )
}

/// The servers a configuration names, `host:port` each (a socket's path for a Unix socket), for
/// messages and logs; never the password.
pub fn server_address(config: &Config) -> String {
    use postgres::config::Host;
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}/.s.PGSQL.{port}", path.display()),
            }
        })
        .collect();
    if hosts.is_empty() {
        "the default socket".to_owned()
    } else {
        hosts.join(", ")
    }
}

/// One session with the server, re-established when lost. A writer's session (`holder` set)
/// must win the advisory lock again before it touches the log: the lock went with the old
/// session, and another writer may have appended meanwhile.
struct Session {
    /// `None` once the connection is known to be lost: the next call reconnects.
    client: Option<Client>,
    config: Config,
    /// The name a writer records in the lease; `None` for a reader.
    holder: Option<String>,
    /// How many times this session has taken the writer's lock (0 for a reader).
    lock_generation: u64,
}

impl Session {
    fn open(config: &Config, holder: Option<&str>) -> Result<Session, StoreError> {
        let mut client = connect(config)?;
        migrate(&mut client)?;
        if let Some(holder) = holder {
            lock_as_writer(&mut client, holder)?;
        }
        Ok(Session {
            client: Some(client),
            config: config.clone(),
            holder: holder.map(str::to_owned),
            lock_generation: u64::from(holder.is_some()),
        })
    }

    /// The connection, re-established if the last one was lost. Without this a store would
    /// answer `Unavailable` forever after a database restart: the blocking client never
    /// reconnects by itself. The call that met the lost connection has already failed (its
    /// transaction, if any, rolled back with the session); only later calls reconnect.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut client = connect(&self.config)?;
            if let Some(holder) = &self.holder {
                lock_as_writer(&mut client, holder)?;
                self.lock_generation += 1;
            }
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

/// The writer's store: its session holds the advisory lock; it appends and saves snapshots.
pub struct PostgresStore {
    session: Session,
    injected: InjectedFailure,
}

/// A session that reads the log without the writer's lock: it cannot append.
pub struct PostgresReader {
    session: Session,
}

impl PostgresStore {
    /// Connects as the writer: migrates, then takes the advisory lock (refused, naming the
    /// holder, when another writer has it) and records itself in the lease.
    pub fn open_writer(config: &Config, holder: &str) -> Result<PostgresStore, StoreError> {
        Ok(PostgresStore { session: Session::open(config, Some(holder))?, injected: InjectedFailure::default() })
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.session.client()
    }

    /// Makes the next append fail after inserting `events` events, inside its transaction.
    #[cfg(feature = "testing")]
    pub fn inject_append_failure_after(&mut self, events: usize) {
        self.injected.set(events);
    }
}

impl PostgresStore {
    /// Sets the hash position 1 links to, on an empty log (`kboss migrate`: the v1 head).
    pub fn set_genesis(&mut self, hash: &[u8; 32]) -> Result<(), StoreError> {
        if self.last_position()? != 0 {
            return Err(StoreError::Unavailable("the genesis of a log is set before its first event".to_owned()));
        }
        self.client()?
            .execute(
                "INSERT INTO log_meta (name, value) VALUES ('genesis', $1)
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                &[&hash.as_slice()],
            )
            .map_err(unavailable)?;
        Ok(())
    }
}

impl PostgresReader {
    /// Connects without the writer's lock (read models, `kboss verify`); migrates if needed.
    pub fn open(config: &Config) -> Result<PostgresReader, StoreError> {
        Ok(PostgresReader { session: Session::open(config, None)? })
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.session.client()
    }

    /// Who holds the writer's lease, as it recorded itself.
    pub fn leader(&mut self) -> Result<Option<String>, StoreError> {
        let row = self.client()?.query_opt("SELECT holder FROM writer_lease WHERE id = 1", &[]).map_err(unavailable)?;
        Ok(row.map(|row| row.get(0)))
    }
}

/// Takes the writer's advisory lock on this session and records the holder in the lease; refused,
/// naming the holder, when another session has the lock.
fn lock_as_writer(client: &mut Client, holder: &str) -> Result<(), StoreError> {
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", &[&ADVISORY_LOCK_CLASS])
        .map_err(unavailable)?
        .get(0);
    if !locked {
        let holder: Option<String> = client
            .query_opt("SELECT holder FROM writer_lease WHERE id = 1", &[])
            .map_err(unavailable)?
            .map(|row| row.get(0));
        return Err(StoreError::Locked { holder: holder.unwrap_or_else(|| "another writer".to_owned()) });
    }
    client
        .execute(
            "INSERT INTO writer_lease (id, holder, since) VALUES (1, $1, now())
             ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since",
            &[&holder],
        )
        .map_err(unavailable)?;
    Ok(())
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut transaction = client.transaction().map_err(unavailable)?;
    // Instances starting together migrate one at a time.
    transaction
        .execute("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", &[&MIGRATION_LOCK_CLASS])
        .map_err(unavailable)?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
        .map_err(unavailable)?;
    for (version, sql) in MIGRATIONS {
        let applied = transaction
            .query_opt("SELECT version FROM schema_migrations WHERE version = $1", &[version])
            .map_err(unavailable)?;
        if applied.is_none() {
            if *version == RECORDS_MIGRATION {
                let has_events: bool =
                    transaction.query_one("SELECT to_regclass('events') IS NOT NULL", &[]).map_err(unavailable)?.get(0);
                let v1_events: i64 = if has_events {
                    transaction.query_one("SELECT COUNT(*) FROM events", &[]).map_err(unavailable)?.get(0)
                } else {
                    0
                };
                if v1_events > 0 {
                    let schema: String =
                        transaction.query_one("SELECT current_schema()", &[]).map_err(unavailable)?.get(0);
                    return Err(StoreError::FormatV1 { location: format!("PostgreSQL schema {schema}") });
                }
            }
            transaction.batch_execute(sql).map_err(unavailable)?;
            transaction
                .execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())", &[version])
                .map_err(unavailable)?;
        }
    }
    transaction.commit().map_err(unavailable)
}

/// One batch as column arrays, for a single `INSERT ... SELECT FROM unnest(...)`.
#[derive(Default)]
struct EventColumns<'a> {
    positions: Vec<i64>,
    records: Vec<&'a [u8]>,
    hashes: Vec<&'a [u8]>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, encoded: &'a EncodedEvent) -> Result<(), StoreError> {
        let position = encoded.event.position;
        if encoded.record.len() > EVENT_BYTES_MAX {
            let bytes = encoded.record.len();
            return Err(StoreError::EventTooLarge { position, bytes, limit: EVENT_BYTES_MAX });
        }
        self.positions.push(position as i64);
        self.records.push(&encoded.record);
        self.hashes.push(&encoded.digest);
        Ok(())
    }
}

impl LogAppend for PostgresStore {
    type Reader = PostgresReader;

    fn reopen(&self) -> Result<PostgresReader, StoreError> {
        PostgresReader::open(&self.session.config)
    }

    fn hold_lock(&mut self) -> Result<u64, StoreError> {
        self.session.client()?;
        Ok(self.session.lock_generation)
    }

    fn append(&mut self, events: &[EncodedEvent], keys: &[IdempotencyRecord]) -> Result<(), StoreError> {
        let fail_after = self.injected.take();
        let mut columns = EventColumns::default();
        for encoded in events.iter().take(fail_after.unwrap_or(usize::MAX)) {
            columns.push(encoded)?;
        }
        let mut transaction = self.client()?.transaction().map_err(unavailable)?;
        let last: i64 =
            transaction.query_one("SELECT COALESCE(MAX(position), 0) FROM events", &[]).map_err(unavailable)?.get(0);
        if let Some(first) = events.first() {
            if first.event.position != last as u64 + 1 {
                return Err(StoreError::NotContiguous { first: first.event.position, last: last as u64 });
            }
        }
        transaction
            .execute(
                "INSERT INTO events (position, record, hash)
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[])",
                &[&columns.positions, &columns.records, &columns.hashes],
            )
            .map_err(unavailable)?;
        if fail_after.is_some() {
            // Dropping the transaction rolls back what was inserted.
            return Err(StoreError::Unavailable("injected append failure".to_owned()));
        }
        let digests: Vec<[u8; 32]> = keys.iter().map(|key| key_digest(&key.scoped_key)).collect();
        let digests: Vec<&[u8]> = digests.iter().map(|digest| digest.as_slice()).collect();
        let hashes = keys.iter().map(IdempotencyRecord::request_digest).collect::<Result<Vec<_>, _>>()?;
        let hashes: Vec<&[u8]> = hashes.iter().map(|hash| hash.as_slice()).collect();
        let firsts: Vec<i64> = keys.iter().map(|key| key.first_position as i64).collect();
        let lasts: Vec<i64> = keys.iter().map(|key| key.last_position as i64).collect();
        transaction
            .execute(
                "INSERT INTO idempotency (key_digest, request_hash, first_position, last_position)
                 SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[])",
                &[&digests, &hashes, &firsts, &lasts],
            )
            .map_err(unavailable)?;
        transaction.commit().map_err(unavailable)
    }

    fn save_snapshot(&mut self, position: u64, state: &[u8]) -> Result<(), StoreError> {
        let mut transaction = self.client()?.transaction().map_err(unavailable)?;
        transaction
            .execute(
                "INSERT INTO snapshots (position, state) VALUES ($1, $2) ON CONFLICT (position) DO UPDATE SET state = EXCLUDED.state",
                &[&(position as i64), &state],
            )
            .map_err(unavailable)?;
        transaction
            .execute("DELETE FROM snapshots WHERE position NOT IN (SELECT position FROM snapshots ORDER BY position DESC LIMIT 2)", &[])
            .map_err(unavailable)?;
        transaction.commit().map_err(unavailable)
    }
}

/// The reads, the same for the writer's session and a reader's.
macro_rules! log_read {
    ($store:ty) => {
        impl LogRead for $store {
            fn read_after(&mut self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
                Ok(self.read_records(after, limit)?.into_iter().map(|encoded| encoded.event).collect())
            }

            fn read_records(&mut self, after: u64, limit: usize) -> Result<Vec<EncodedEvent>, StoreError> {
                let limit = limit.min(i64::MAX as usize) as i64;
                let rows = self
                    .client()?
                    .query(
                        "SELECT position, record, hash FROM events WHERE position > $1 ORDER BY position LIMIT $2",
                        &[&(after as i64), &limit],
                    )
                    .map_err(unavailable)?;
                rows.iter().map(|row| stored_record(row.get::<_, i64>(0) as u64, row.get(1), row.get(2))).collect()
            }

            fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
                let row = self
                    .client()?
                    .query_opt("SELECT position, record, hash FROM events WHERE position = $1", &[&(position as i64)])
                    .map_err(unavailable)?;
                row.as_ref().map(row_to_event).transpose()
            }

            fn last_position(&mut self) -> Result<u64, StoreError> {
                let last: i64 = self
                    .client()?
                    .query_one("SELECT COALESCE(MAX(position), 0) FROM events", &[])
                    .map_err(unavailable)?
                    .get(0);
                Ok(last as u64)
            }

            fn find_key(&mut self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
                Ok(self.find_keys(&[scoped_key])?.into_values().next())
            }

            fn find_keys(&mut self, scoped_keys: &[&str]) -> Result<HashMap<String, IdempotencyRecord>, StoreError> {
                let by_digest: HashMap<[u8; 32], &str> =
                    scoped_keys.iter().map(|key| (key_digest(key), *key)).collect();
                let digests: Vec<&[u8]> = by_digest.keys().map(|digest| digest.as_slice()).collect();
                let rows = self
                    .client()?
                    .query(
                        "SELECT key_digest, request_hash, first_position, last_position FROM idempotency
                         WHERE key_digest = ANY($1)",
                        &[&digests],
                    )
                    .map_err(unavailable)?;
                let mut found = HashMap::with_capacity(rows.len());
                for row in rows {
                    let digest: &[u8] = row.get(0);
                    let Some(scoped_key) = <[u8; 32]>::try_from(digest).ok().and_then(|d| by_digest.get(&d)) else {
                        continue;
                    };
                    let (first, last): (i64, i64) = (row.get(2), row.get(3));
                    let record = IdempotencyRecord::stored(scoped_key, row.get(1), first as u64, last as u64);
                    found.insert((*scoped_key).to_owned(), record);
                }
                Ok(found)
            }

            fn genesis(&mut self) -> Result<String, StoreError> {
                let row = self
                    .client()?
                    .query_opt("SELECT value FROM log_meta WHERE name = 'genesis'", &[])
                    .map_err(unavailable)?;
                Ok(row.map_or_else(|| GENESIS_HASH.to_owned(), |row| hex::encode(row.get::<_, &[u8]>(0))))
            }

            fn latest_snapshot(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
                let row = self
                    .client()?
                    .query_opt("SELECT position, state FROM snapshots ORDER BY position DESC LIMIT 1", &[])
                    .map_err(unavailable)?;
                Ok(row.map(|row| (row.get::<_, i64>(0) as u64, row.get(1))))
            }
        }
    };
}

log_read!(PostgresStore);
log_read!(PostgresReader);

fn row_to_event(row: &postgres::Row) -> Result<RecordedEvent, StoreError> {
    let position: i64 = row.get(0);
    stored_record(position as u64, row.get::<_, &[u8]>(1).to_vec(), row.get(2)).map(|encoded| encoded.event)
}
