//! Record format v2: the bytes the log stores for one event and the SHA-256 chain hashes.
//!
//! A compact, hand-written binary encoding of a [`RecordedEvent`] (everything but its `hash`,
//! which is the SHA-256 of these bytes). It replaces canonical JSON as the stored and hashed
//! form (in the stores and in the JetStream messages); JSON stays the *view* of an event (the
//! API, exports, `kboss events dump`).
//!
//! The encoding is canonical: one event has exactly one byte string, and [`decode`] refuses
//! every other (a varint longer than it needs to be, a bool of 2, map keys out of order, a rate
//! written `0.9500` where the type holds `0.95`, bytes after the end). So anything that decodes
//! re-encodes to the bytes it came from, and two records with equal contents have equal hashes.
//! [`decode`] never panics, whatever the input: every refusal is a [`RecordError`] with the
//! offset of the first byte it could not accept.
//!
//! Little-endian throughout.
//!
//! # Header (77 bytes, fixed)
//!
//! | offset | size | field                      | encoding                                          |
//! |-------:|-----:|----------------------------|---------------------------------------------------|
//! |      0 |    1 | format                     | `u8`, [`RECORD_FORMAT`] = 2                       |
//! |      1 |    8 | `position`                 | `u64`                                             |
//! |      9 |   16 | `event_id`                 | UUID, 16 bytes in RFC 4122 order                  |
//! |     25 |    2 | event type                 | `u16` tag from [`EVENT_TAGS`] (never 0)           |
//! |     27 |    2 | `schema_version`           | `u16`: the event type's current version, or an older one still read ([`OLDER_LAYOUTS`]) |
//! |     29 |    8 | `recorded_at`, seconds     | `i64` since 1970-01-01T00:00:00Z                  |
//! |     37 |    4 | `recorded_at`, nanoseconds | `u32` (≥ 10^9 only inside a leap second)          |
//! |     41 |    4 | `effective_date`           | `i32` days since 1970-01-01                       |
//! |     45 |   32 | `prev_hash`                | the previous record's SHA-256, raw                |
//!
//! # Body (variable, in this order)
//!
//! | field                 | encoding                                                           |
//! |-----------------------|--------------------------------------------------------------------|
//! | `actor.org_id`        | 16 bytes                                                           |
//! | `actor.principal_id`  | 16 bytes                                                           |
//! | `actor.roles`         | set of `Role`                                                      |
//! | `idempotency_key`     | option of string                                                   |
//! | `correlation_id`      | option of UUID                                                     |
//! | payload               | the event type's payload struct: its fields in declaration order   |
//! | `entries`             | vec of `Entry { book, date, currency, rule: RuleRef { id, version }, lines: vec of Line { account, party, side, amount, pair } }` |
//!
//! Nothing follows the entries: trailing bytes are an error.
//!
//! # Values
//!
//! | type                                   | encoding                                                 |
//! |----------------------------------------|----------------------------------------------------------|
//! | varint                                 | unsigned LEB128, shortest form only                      |
//! | zigzag                                 | ZigZag, then varint                                      |
//! | `u32`, `u64` (counts, days, positions) | varint                                                   |
//! | `bool`                                 | `u8` 0 or 1                                              |
//! | `Option<T>`                            | `u8` 0 (none) or 1 followed by `T`                       |
//! | `String`                               | varint byte length, UTF-8                                |
//! | `Vec<T>`                               | varint count, items                                      |
//! | `BTreeSet<T>`, `BTreeMap<K, V>`        | varint count, items (key, value) in strictly increasing key order (the type's `Ord`) |
//! | `Uuid` and every `…Id`                 | 16 bytes                                                 |
//! | `NaiveDate` (in the body)              | zigzag of days since 1970-01-01                          |
//! | `DateTime<Utc>` (in the body)          | zigzag of seconds since 1970-01-01T00:00:00Z, varint nanoseconds |
//! | `Amount`, `Total`                      | zigzag of integer minor units (range-checked on decode)  |
//! | `SignedAmount`                         | zigzag of integer minor units (up to 96 bits)            |
//! | `Rate`, `UnitPrice`, `Quantity`        | `u8` scale, zigzag of the `i128` mantissa (exact scale)  |
//! | `AccountCode`, `InviteCode`, `SerialCode`, `TradeNumber` | string, checked by the type's parser   |
//! | `LinearSum`                            | string, as it prints (`list - price`)                    |
//! | unit enums (`Role`, `Side`, `Currency`, …) | `u8` tag, explicit per variant (`payloads.rs`)       |
//! | `SaleMode`, `RateScope`, `Proposal`    | `u8` variant tag, then that variant's fields             |
//!
//! A change of layout is a new `RECORD_FORMAT` (all records) or a new schema version (one event
//! type); a new event type or enum variant takes a new tag. The tags are in `payloads.rs`.
//!
//! # Older schema versions
//!
//! A committed record is never rewritten, so the layout of an older schema version stays
//! readable for as long as logs may hold it ([`OLDER_LAYOUTS`]: `SettlementStatementIssued` v1,
//! which carried its lines; `TokenIssued` v1, from before users). Such a record decodes to today's payload (upcast) and keeps its
//! `schema_version`; its hash is the hash of the bytes read, like every record's. It is read,
//! never written: [`encode`] lays out current versions only, so an upcast event does not
//! re-encode to its record (nothing re-encodes a stored record: stores, the relay and the
//! JetStream consumer hash the bytes they hold).

mod payloads;
mod wire;

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::{EncodedEvent, EnvelopeMeta, Event, RecordedEvent, EVENT_BYTES_MAX, EVENT_TYPES};
use crate::journal::Entry;
use crate::org::Actor;
pub use payloads::{event_tag, EVENT_TAGS, OLDER_LAYOUTS};
use wire::{ByteCount, Reader, Sink, Wire, Writer};

/// The first byte of every record: the version of this format.
pub const RECORD_FORMAT: u8 = 2;

/// The length of the fixed header, up to and including `prev_hash`.
pub const HEADER_BYTES: usize = 77;

/// Why bytes are not a record: the offset of the first byte that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record byte {offset}: {reason}")]
pub struct RecordError {
    pub offset: usize,
    pub reason: String,
}

/// The record of an event: everything but `hash`.
///
/// Panics (a programming error, not input) when `prev_hash` is not 64 lowercase hex digits
/// (an event not yet sealed has an empty one; [`crate::event::GENESIS_HASH`] is 64 zeros) or
/// when `schema_version` is not the payload's current version (there is no layout for another).
pub fn encode(event: &RecordedEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    encode_into(event, &mut out);
    out
}

/// [`encode`], appended to `out` (a buffer reused across a batch).
pub fn encode_into(event: &RecordedEvent, out: &mut Vec<u8>) {
    let prev_hash = prev_hash_bytes(&event.prev_hash);
    let payload = &event.event.payload;
    assert_eq!(
        event.schema_version,
        payload.schema_version(),
        "event {}: a {} record is laid out for its current schema version",
        event.position,
        payload.event_type()
    );
    let mut writer = Writer::new(out);
    writer.u8(RECORD_FORMAT);
    writer.u64_le(event.position);
    writer.bytes(event.event_id.as_bytes());
    writer.u16_le(event_tag(payload));
    writer.u16_le(event.schema_version);
    writer.i64_le(event.recorded_at.timestamp());
    writer.u32_le(event.recorded_at.timestamp_subsec_nanos());
    writer.i32_le(wire::days_since_epoch(event.effective_date));
    writer.bytes(&prev_hash);
    put_body(event, &mut writer);
}

/// Everything after the header.
fn put_body<S: Sink>(event: &RecordedEvent, writer: &mut Writer<'_, S>) {
    event.actor.put(writer);
    event.idempotency_key.put(writer);
    event.correlation_id.put(writer);
    payloads::put_payload(&event.event.payload, writer);
    event.event.entries.put(writer);
}

/// The length of the record an event is (or, staged, will be once sealed: `prev_hash` takes 32
/// bytes either way), counted without encoding it: what the writer checks against
/// [`EVENT_BYTES_MAX`] before it folds a command's events in.
pub fn encoded_len(event: &RecordedEvent) -> usize {
    let mut count = ByteCount::default();
    put_body(event, &mut Writer::new(&mut count));
    HEADER_BYTES + count.0
}

fn prev_hash_bytes(prev_hash: &str) -> [u8; 32] {
    let lowercase_hex = |byte: u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
    assert!(
        prev_hash.len() == 64 && prev_hash.bytes().all(lowercase_hex),
        "prev_hash must be 64 lowercase hex digits (is the event sealed?), not {prev_hash:?}"
    );
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(prev_hash, &mut bytes).expect("checked above: 64 hex digits");
    bytes
}

/// SHA-256 of a record's bytes: the event's hash, and the next record's `prev_hash`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Reads one record. `hash` is the lowercase hex SHA-256 of `bytes` as given (never of a
/// re-encoding); whether it matches the hash stored beside the record, and whether `prev_hash`
/// links to the record before, is for replay to check.
pub fn decode(bytes: &[u8]) -> Result<RecordedEvent, RecordError> {
    if bytes.len() > EVENT_BYTES_MAX {
        let reason = format!("a record is at most {EVENT_BYTES_MAX} bytes, this one is {}", bytes.len());
        return Err(RecordError { offset: EVENT_BYTES_MAX, reason });
    }
    let mut reader = Reader::new(bytes);
    let format = reader.u8()?;
    if format != RECORD_FORMAT {
        return Err(reader.invalid_at(0, format!("record format {format}, expected {RECORD_FORMAT}")));
    }
    let position = reader.u64_le()?;
    let event_id = Uuid::take(&mut reader)?;
    let (tag, schema_version) = take_event_type(&mut reader)?;
    let recorded_at = reader.parsed(
        "recorded_at",
        |reader| Ok((reader.i64_le()?, reader.u32_le()?)),
        |(seconds, nanoseconds)| DateTime::<Utc>::from_timestamp(seconds, nanoseconds).ok_or("out of range"),
    )?;
    let effective_date: NaiveDate = reader
        .parsed("effective_date", Reader::i32_le, |days| wire::date_from_days(i64::from(days)).ok_or("out of range"))?;
    let prev_hash = hex::encode(reader.array::<32>()?);
    let actor = Actor::take(&mut reader)?;
    let idempotency_key = <Option<String> as Wire>::take(&mut reader)?;
    let correlation_id = <Option<Uuid> as Wire>::take(&mut reader)?;
    let payload = payloads::take_payload(tag, schema_version, &mut reader)?;
    let entries = Vec::<Entry>::take(&mut reader)?;
    reader.finish()?;
    Ok(RecordedEvent {
        position,
        event_id,
        schema_version,
        recorded_at,
        effective_date,
        actor,
        idempotency_key,
        correlation_id,
        event: Event { payload, entries },
        prev_hash,
        hash: hex::encode(digest(bytes)),
    })
}

/// The event type tag and schema version, checked against this build's table: an unknown tag,
/// or a version with no layout here (a newer one, or an older one not in [`OLDER_LAYOUTS`]), is
/// an error where the field is.
fn take_event_type(reader: &mut Reader<'_>) -> Result<(u16, u16), RecordError> {
    let tag_offset = reader.offset();
    let tag = reader.u16_le()?;
    let event_type = payloads::event_type_of_tag(tag)
        .ok_or_else(|| reader.invalid_at(tag_offset, format!("unknown event type tag {tag}")))?;
    let version_offset = reader.offset();
    let schema_version = reader.u16_le()?;
    let current = EVENT_TYPES.iter().find(|(name, _)| *name == event_type).map(|(_, version)| *version);
    if current != Some(schema_version) && !OLDER_LAYOUTS.contains(&(event_type, schema_version)) {
        let reason =
            format!("{event_type} v{schema_version} has no record layout in this build (current: {current:?})");
        return Err(reader.invalid_at(version_offset, reason));
    }
    Ok((tag, schema_version))
}

#[cfg(test)]
mod tests;

/// Sealing: a staged event becomes a record on the chain. Here, beside the encoding, so that
/// `event.rs` (the types) does not depend on the format that encodes them.
impl RecordedEvent {
    /// Links a staged event to `prev_hash`, encodes its record and hashes the record.
    pub fn seal_staged(mut self, prev_hash: &str) -> EncodedEvent {
        self.prev_hash = prev_hash.to_owned();
        let record = encode(&self);
        let digest = digest(&record);
        self.hash = hex::encode(digest);
        EncodedEvent { event: self, record, digest }
    }

    pub fn seal(event: Event, meta: EnvelopeMeta, prev_hash: &str) -> RecordedEvent {
        RecordedEvent::staged(event, meta).seal_staged(prev_hash).event
    }

    /// The SHA-256 of this event's record, encoded afresh: for tests and in-memory logs.
    /// Verification of stored events never uses it; it hashes the bytes it read ([`decode`]).
    pub fn record_hash(&self) -> String {
        hex::encode(digest(&encode(self)))
    }
}

impl EncodedEvent {
    /// A sealed event with its record encoded afresh (the encoding is canonical: the bytes are
    /// the ones it was sealed with).
    pub fn of(event: RecordedEvent) -> EncodedEvent {
        let record = encode(&event);
        let digest = digest(&record);
        EncodedEvent { event, record, digest }
    }
}
