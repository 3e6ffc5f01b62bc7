//! The production event store: PostgreSQL, records as `bytea` (record format v2), the writer's
//! own connection, and the writer's lease: an advisory lock elects the single writer (a second
//! instance is refused and told who leads), and the `writer_lease` row fences it. Durable as the
//! server is configured (`synchronous_commit = on` by default).
//!
//! **Leadership and fencing.** A writer takes the advisory lock, then bumps the lease's `epoch`
//! and records itself (holder, URL, backend pid, `expires_at` = now + TTL). Every append checks,
//! in its own transaction, that the lease still carries its epoch, and renews it; an idle writer
//! renews it every TTL/4 ([`LogAppend::renew_lease`]). A writer whose epoch is gone is *fenced*:
//! it never appends again, even after the lock is free (a new writer, with the state loaded from
//! the log, must win the lease). A candidate that finds the lock taken and the lease expired (a
//! paused or hung holder: its session still holds the lock) ends the holder's session, so the
//! lock is released and its next attempt wins. A writer that lost its session and reconnects
//! wins the lease back only if nobody took it meanwhile (its epoch is still the lease's).
//!
//! The connection is the blocking `postgres` client (the synchronous face of tokio-postgres):
//! the writer is a plain thread, so no runtime is needed in its path.

use std::collections::HashMap;
use std::time::Duration;

use ledger_core::event::{EncodedEvent, EVENT_BYTES_MAX, GENESIS_HASH};
use ledger_core::RecordedEvent;
use postgres::{Client, Config, NoTls};

use crate::store::{key_digest, stored_record, IdempotencyRecord, InjectedFailure, LogAppend, LogRead, StoreError};

/// The versioned migrations of `schemas/sql/postgres/`, applied in order.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../schemas/sql/postgres/0001_log.sql")),
    (RECORDS_MIGRATION, include_str!("../../schemas/sql/postgres/0002_records.sql")),
    (3, include_str!("../../schemas/sql/postgres/0003_lease.sql")),
];
/// The migration that replaces the v1 tables (jsonb bodies) with records: applied only to a
/// log without v1 events.
const RECORDS_MIGRATION: i32 = 2;

/// The first key of the advisory locks this crate takes; the second is the schema's hash, so
/// deployments in different schemas of one database each elect their own writer.
const ADVISORY_LOCK_CLASS: i32 = 0x4b_42_4f_53; // "KBOS"
const MIGRATION_LOCK_CLASS: i32 = ADVISORY_LOCK_CLASS + 1;

/// How long a writer's lease lasts unrenewed, unless configured (`KBOSS_LEASE_TTL_MS`).
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// The shortest lease accepted: renewals every TTL/4 must fit between a busy writer's batches.
pub const LEASE_TTL_MIN: Duration = Duration::from_millis(400);

/// What a writer records of itself in the lease, and how long the lease lasts unrenewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTerms {
    /// Who holds the lease, for people and messages ("kboss-gateway 10.0.0.7:8080 pid 41").
    pub holder: String,
    /// Where the holder takes forwarded writes (`KBOSS_ADVERTISE_URL`), if anywhere.
    pub url: Option<String>,
    pub ttl: Duration,
}

impl LeaseTerms {
    pub fn new(holder: &str) -> LeaseTerms {
        LeaseTerms { holder: holder.to_owned(), url: None, ttl: LEASE_TTL }
    }

    fn ttl_ms(&self) -> i64 {
        self.ttl.max(LEASE_TTL_MIN).as_millis().min(i64::MAX as u128) as i64
    }
}

/// The lease as anyone reads it: who leads, where, in which epoch, and whether the lease is live
/// (renewed within its TTL, and its holder's session still there: a killed holder's lease is
/// over as soon as the server has ended its session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    pub holder: String,
    pub url: Option<String>,
    pub epoch: i64,
    pub live: bool,
}

/// Renews the lease of epoch $1 for $2 milliseconds; touches no row once another epoch holds it.
const RENEW_LEASE: &str =
    "UPDATE writer_lease SET expires_at = now() + $2::bigint * interval '1 millisecond' WHERE id = 1 AND epoch = $1";

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

/// One session with the server, re-established when lost. A writer's session (`lease` set)
/// must win the lease again before it touches the log: the lock went with the old session, and
/// another writer may have appended meanwhile (then this one is fenced).
struct Session {
    /// `None` once the connection is known to be lost: the next call reconnects.
    client: Option<Client>,
    config: Config,
    /// What a writer records in the lease; `None` for a reader.
    lease: Option<LeaseTerms>,
    /// The lease epoch this writer holds (0 for a reader).
    epoch: i64,
    /// Set once the lease was taken over: the holder that took it. Sticky.
    fenced: Option<String>,
    /// How many times this session has taken the writer's lock (0 for a reader).
    lock_generation: u64,
    /// How many times the connection was re-established.
    reconnections: u64,
}

impl Session {
    fn open(config: &Config, lease: Option<&LeaseTerms>) -> Result<Session, StoreError> {
        let mut client = connect(config)?;
        migrate(&mut client)?;
        let epoch = match lease {
            Some(lease) => acquire(&mut client, lease, None)?,
            None => 0,
        };
        Ok(Session {
            client: Some(client),
            config: config.clone(),
            lease: lease.cloned(),
            epoch,
            fenced: None,
            lock_generation: u64::from(lease.is_some()),
            reconnections: 0,
        })
    }

    /// The connection, re-established if the last one was lost. Without this a store would
    /// answer `Unavailable` forever after a database restart: the blocking client never
    /// reconnects by itself. The call that met the lost connection has already failed (its
    /// transaction, if any, rolled back with the session); only later calls reconnect.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if let Some(holder) = &self.fenced {
            return Err(StoreError::Fenced { holder: holder.clone() });
        }
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut client = connect(&self.config)?;
            if let Some(lease) = &self.lease {
                match acquire(&mut client, lease, Some(self.epoch)) {
                    Ok(epoch) => self.epoch = epoch,
                    Err(error) => return Err(self.fence_on(error)),
                }
                self.lock_generation += 1;
            }
            self.reconnections += 1;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Remembers a fencing for good; answers the error either way.
    fn fence_on(&mut self, error: StoreError) -> StoreError {
        if let StoreError::Fenced { holder } = &error {
            tracing::error!(%holder, "this writer's lease was taken over: it appends nothing more");
            self.fenced = Some(holder.clone());
            self.client = None;
        }
        error
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
    /// holder, when another writer has it) and records itself in the lease, with the default TTL.
    pub fn open_writer(config: &Config, holder: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_writer_with(config, &LeaseTerms::new(holder))
    }

    /// [`PostgresStore::open_writer`] with the lease's terms. Refused with `Locked` while another
    /// writer holds a live lease; when its lease has expired, this attempt also ends its session,
    /// so that a later attempt wins.
    pub fn open_writer_with(config: &Config, lease: &LeaseTerms) -> Result<PostgresStore, StoreError> {
        Ok(PostgresStore { session: Session::open(config, Some(lease))?, injected: InjectedFailure::default() })
    }

    /// The lease epoch this writer holds.
    pub fn epoch(&self) -> i64 {
        self.session.epoch
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
        Ok(self.lease()?.map(|lease| lease.holder))
    }

    /// The writer's lease as it stands (`None` before any writer took it).
    pub fn lease(&mut self) -> Result<Option<LeaseView>, StoreError> {
        let row = read_lease(self.client()?)?;
        Ok(row.map(|row| row.view))
    }
}

/// The lease row, with what a candidate needs to end an expired holder's session.
struct LeaseRow {
    view: LeaseView,
    backend_pid: Option<i32>,
}

fn read_lease(client: &mut impl postgres::GenericClient) -> Result<Option<LeaseRow>, StoreError> {
    let row = client
        .query_opt(
            "SELECT holder, url, epoch,
                    COALESCE(expires_at > now(), TRUE)
                        AND (backend_pid IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = backend_pid)),
                    backend_pid
             FROM writer_lease WHERE id = 1",
            &[],
        )
        .map_err(unavailable)?;
    Ok(row.map(|row| LeaseRow {
        view: LeaseView { holder: row.get(0), url: row.get(1), epoch: row.get(2), live: row.get(3) },
        backend_pid: row.get(4),
    }))
}

/// Takes the writer's advisory lock on this session and the lease with a new epoch, answered.
/// Refused with `Locked`, naming the holder, when another session has the lock (and, when the
/// holder's lease has expired, that session is ended so that the next attempt wins). With
/// `held`, a writer winning its lease back after a lost session: `Fenced` when the lease's
/// epoch has moved on under another holder (another writer took it meanwhile), whoever holds
/// the lock now. Holder names are unique per process (address and pid in the gateway's).
fn acquire(client: &mut Client, lease: &LeaseTerms, held: Option<i64>) -> Result<i64, StoreError> {
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", &[&ADVISORY_LOCK_CLASS])
        .map_err(unavailable)?
        .get(0);
    let current = read_lease(client)?;
    let holder = || current.as_ref().map_or_else(|| "another writer".to_owned(), |row| row.view.holder.clone());
    if let (Some(held), Some(row)) = (held, &current) {
        // The epoch moved on under another holder's name: taken over. Under this writer's own
        // name it is this writer's last bump, whose answer the lost session never brought back.
        if row.view.epoch != held && row.view.holder != lease.holder {
            if locked {
                client
                    .execute("SELECT pg_advisory_unlock($1, hashtext(current_schema()))", &[&ADVISORY_LOCK_CLASS])
                    .map_err(unavailable)?;
            }
            return Err(StoreError::Fenced { holder: holder() });
        }
    }
    if !locked {
        if let Some(LeaseRow { view: LeaseView { live: false, holder, epoch, .. }, backend_pid: Some(pid) }) = &current
        {
            // The holder has not renewed within its TTL (paused, hung, cut off) yet its session
            // holds the lock: ending the session releases the lock; its epoch is fenced by ours.
            tracing::warn!(%holder, epoch, pid, "the writer's lease has expired: ending its holder's session");
            client.execute("SELECT pg_terminate_backend($1)", &[pid]).map_err(unavailable)?;
        }
        return Err(StoreError::Locked { holder: holder() });
    }
    let epoch: i64 = client
        .query_one(
            "INSERT INTO writer_lease (id, holder, since, epoch, expires_at, backend_pid, url)
             VALUES (1, $1, now(), 1, now() + $2::bigint * interval '1 millisecond', pg_backend_pid(), $3)
             ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since,
                 epoch = writer_lease.epoch + 1, expires_at = EXCLUDED.expires_at,
                 backend_pid = EXCLUDED.backend_pid, url = EXCLUDED.url
             RETURNING epoch",
            &[&lease.holder, &lease.ttl_ms(), &lease.url],
        )
        .map_err(unavailable)?
        .get(0);
    Ok(epoch)
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    // A hot standby (a streaming replica) is read-only: a reader there (`kboss verify` on the
    // replica) reads the schema its primary migrated.
    let standby: bool = client.query_one("SELECT pg_is_in_recovery()", &[]).map_err(unavailable)?.get(0);
    if standby {
        return Ok(());
    }
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

    fn lease_renewal_interval(&self) -> Option<Duration> {
        self.session.lease.as_ref().map(|lease| lease.ttl.max(LEASE_TTL_MIN) / 4)
    }

    fn renew_lease(&mut self) -> Result<(), StoreError> {
        let session = &mut self.session;
        session.client()?;
        let client = session.client.as_mut().expect("connected above");
        let renewed = {
            let (epoch, ttl) = (session.epoch, session.lease.as_ref().map_or(0, LeaseTerms::ttl_ms));
            client.execute(RENEW_LEASE, &[&epoch, &ttl]).map_err(unavailable)?
        };
        if renewed == 1 {
            return Ok(());
        }
        let holder = read_lease(client)?.map_or_else(|| "another writer".to_owned(), |row| row.view.holder);
        Err(session.fence_on(StoreError::Fenced { holder }))
    }

    fn append(&mut self, events: &[EncodedEvent], keys: &[IdempotencyRecord]) -> Result<(), StoreError> {
        let fail_after = self.injected.take();
        let mut columns = EventColumns::default();
        for encoded in events.iter().take(fail_after.unwrap_or(usize::MAX)) {
            columns.push(encoded)?;
        }
        self.session.client()?;
        let (epoch, ttl) = (self.session.epoch, self.session.lease.as_ref().map_or(0, LeaseTerms::ttl_ms));
        let client = self.session.client.as_mut().expect("connected above");
        let mut transaction = client.transaction().map_err(unavailable)?;
        // The fence: this transaction commits only while the lease carries this writer's epoch
        // (the row stays locked until it ends, so a takeover waits for it, then wins), and renews it.
        let row = transaction
            .query_one(
                &format!(
                    "WITH lease AS ({RENEW_LEASE} RETURNING epoch)
                     SELECT (SELECT COALESCE(MAX(position), 0) FROM events), EXISTS (SELECT 1 FROM lease)"
                ),
                &[&epoch, &ttl],
            )
            .map_err(unavailable)?;
        let (last, held): (i64, bool) = (row.get(0), row.get(1));
        if !held {
            let holder =
                read_lease(&mut transaction)?.map_or_else(|| "another writer".to_owned(), |row| row.view.holder);
            drop(transaction);
            return Err(self.session.fence_on(StoreError::Fenced { holder }));
        }
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
            fn reconnections(&self) -> u64 {
                self.session.reconnections
            }

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
