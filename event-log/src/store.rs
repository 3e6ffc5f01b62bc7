//! The log's two faces: [`LogRead`] (read after a position, read one, the last position, keys,
//! snapshots) and [`LogAppend`] (the writer's: append a batch with its keys, save a snapshot).
//! SQLite (`sqlite.rs`) and PostgreSQL (`postgres.rs`) implement both and pass one conformance
//! suite (`tests/conformance.rs`).
//!
//! The traits are synchronous on purpose: the writer is one dedicated thread that owns the
//! decision state, where blocking on the disk is exactly what should happen, with no async
//! machinery in the hot path. Async code uses [`crate::AsyncLog`].

use std::collections::HashMap;

use ledger_core::event::EncodedEvent;
use ledger_core::RecordedEvent;
use sha2::{Digest, Sha256};

/// Events read per call when replaying or catching up.
pub const REPLAY_CHUNK_EVENTS: usize = 4_096;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer holds the data directory (or the database's writer lock).
    #[error("the log is in use: {holder}")]
    Locked { holder: String },
    /// This writer's lease was taken over (its epoch is no longer the lease's): it appends
    /// nothing more, ever; a new writer must be opened (and win the lease) to write again.
    #[error("this writer was fenced: {holder} took the writer's lease over")]
    Fenced { holder: String },
    /// The batch does not continue the log: someone else appended, or the writer is confused.
    #[error("append at position {first} does not follow the last position {last}")]
    NotContiguous { first: u64, last: u64 },
    #[error("the log is unavailable: {0}")]
    Unavailable(String),
    /// A reader found no log where it looked: readers never create one.
    #[error("no log at {path}: start `kboss serve` with this data directory first, or name another with --data-dir")]
    Missing { path: String },
    #[error("stored data is corrupt at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("event at position {position} is {bytes} bytes, over the limit of {limit}")]
    EventTooLarge { position: u64, bytes: usize, limit: usize },
    /// The log was written in record format v1 (JSON bodies): this build reads v2 records.
    #[error("the log at {location} is in record format v1: run `kboss migrate` to convert it (the v1 log is kept beside the new one)")]
    FormatV1 { location: String },
}

/// The SHA-256 of a scoped idempotency key: the stores keep this fixed-size digest, not the key.
pub fn key_digest(scoped_key: &str) -> [u8; 32] {
    Sha256::digest(scoped_key.as_bytes()).into()
}

/// An event read back from storage, with its record: decoded from the record read, its hash
/// computed from those bytes (never from a re-encoding) and checked against the stored hash and
/// position. A record whose bytes changed is reported `Corrupt` at its own position.
pub(crate) fn stored_record(position: u64, record: Vec<u8>, stored_hash: &[u8]) -> Result<EncodedEvent, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let digest = ledger_core::record::digest(&record);
    if digest.as_slice() != stored_hash {
        return Err(corrupt("the record's bytes do not match its stored hash".to_owned()));
    }
    let event = ledger_core::record::decode(&record).map_err(|error| corrupt(error.to_string()))?;
    if event.position != position {
        return Err(corrupt(format!("the record says position {}", event.position)));
    }
    Ok(EncodedEvent { event, record, digest })
}

/// A committed command's idempotency key (scoped to the acting org) and what it committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub scoped_key: String,
    /// SHA-256 of the request: the same key with another request is a conflict.
    pub request_hash: String,
    /// 0 and 0 when the command committed no event (an already-booked notification).
    pub first_position: u64,
    pub last_position: u64,
}

impl IdempotencyRecord {
    /// A record as a store read it back (the request hash as its 32 stored bytes).
    pub(crate) fn stored(scoped_key: &str, request_hash: &[u8], first_position: u64, last_position: u64) -> Self {
        IdempotencyRecord {
            scoped_key: scoped_key.to_owned(),
            request_hash: hex::encode(request_hash),
            first_position,
            last_position,
        }
    }

    /// The request hash as the 32 bytes a store keeps.
    pub(crate) fn request_digest(&self) -> Result<[u8; 32], StoreError> {
        let mut digest = [0_u8; 32];
        hex::decode_to_slice(&self.request_hash, &mut digest).map_err(|_| {
            StoreError::Unavailable(format!("request hash {:?} is not 64 hex digits", self.request_hash))
        })?;
        Ok(digest)
    }
}

/// Reading the log: what every reader needs (projection runners, the relay, the gateway's event
/// endpoint, `kboss verify`), and what the writer reads through its own second connection.
///
/// Every method takes `&mut self`: a store is one connection owned by one thread (the writer, a
/// blocking task of [`crate::AsyncLog`], `kboss verify`), and database clients need exclusive
/// use of theirs. The methods block: async code reaches a reader through [`crate::AsyncLog`].
pub trait LogRead: Send + 'static {
    /// Up to `limit` events with positions greater than `after`, in position order.
    fn read_after(&mut self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError>;

    /// [`LogRead::read_after`] with each event's record as stored (the relay publishes these
    /// bytes). The stores return what they read; this default encodes afresh, which gives the
    /// same bytes (the encoding is canonical).
    fn read_records(&mut self, after: u64, limit: usize) -> Result<Vec<EncodedEvent>, StoreError> {
        Ok(self.read_after(after, limit)?.into_iter().map(EncodedEvent::of).collect())
    }

    /// The last position stored; 0 for an empty log.
    fn last_position(&mut self) -> Result<u64, StoreError>;

    fn find_key(&mut self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// The records of those keys that were committed: one round trip for a whole batch.
    fn find_keys(&mut self, scoped_keys: &[&str]) -> Result<HashMap<String, IdempotencyRecord>, StoreError> {
        let mut found = HashMap::new();
        for key in scoped_keys {
            if let Some(record) = self.find_key(key)? {
                found.insert(record.scoped_key.clone(), record);
            }
        }
        Ok(found)
    }

    /// The newest snapshot: its position and bytes.
    fn latest_snapshot(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// The hash position 1 links to: all zeros for a log begun in format v2, the v1 head hash
    /// for a log `kboss migrate` converted (so the new chain continues the old one).
    fn genesis(&mut self) -> Result<String, StoreError>;

    /// How many times this reader's session was re-established after it was lost (0 for a
    /// store whose connection cannot be lost). A writer that sees it change reloads its state,
    /// holding its lease, before it decides anything: the log may have moved meanwhile.
    fn reconnections(&self) -> u64 {
        0
    }
}

/// Appending to the log: only the one writer has a store that can (it holds the data
/// directory's file lock, or PostgreSQL's advisory lock). A reader's type does not implement
/// it, so a reader cannot append by construction.
pub trait LogAppend: LogRead {
    /// The reader a writer opens for itself: another connection, without the writer's lock.
    type Reader: LogRead;

    fn reopen(&self) -> Result<Self::Reader, StoreError>;

    /// Appends the events (consecutive positions, the first right after the last stored) and
    /// the idempotency records in one transaction: all of it or none of it.
    fn append(&mut self, events: &[EncodedEvent], keys: &[IdempotencyRecord]) -> Result<(), StoreError>;

    fn save_snapshot(&mut self, position: u64, state: &[u8]) -> Result<(), StoreError>;

    /// Makes sure this store holds the writer's lock (reconnecting and winning it back if its
    /// session was lost) and answers how many times it has taken it: 1 from the start, one more
    /// each time it won the lock back. Another writer may have appended in between, so a writer
    /// that sees the number change reloads its state before anything decided on the old one is
    /// appended. A file lock is never lost: the default answers 1.
    fn hold_lock(&mut self) -> Result<u64, StoreError> {
        Ok(1)
    }

    /// How often an idle writer must call [`LogAppend::renew_lease`] to keep its lease (every
    /// append renews it too); `None` for a store without a lease (a file lock is never lost).
    fn lease_renewal_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// Renews the writer's lease; `Fenced` once another writer has taken it over.
    fn renew_lease(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A fault injected by tests: the next append fails after inserting this many events, inside its
/// transaction. Only the `testing` feature can set one; without it the type is empty and
/// `take` is always `None`, so the product's append path carries no test hook.
#[derive(Debug, Default)]
pub(crate) struct InjectedFailure {
    #[cfg(feature = "testing")]
    after_events: Option<usize>,
}

impl InjectedFailure {
    #[cfg(feature = "testing")]
    pub(crate) fn set(&mut self, events: usize) {
        self.after_events = Some(events);
    }

    /// The failure planned for this append, if any (it fires once).
    pub(crate) fn take(&mut self) -> Option<usize> {
        #[cfg(feature = "testing")]
        {
            self.after_events.take()
        }
        #[cfg(not(feature = "testing"))]
        {
            None
        }
    }
}
