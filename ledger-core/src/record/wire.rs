//! The primitives of the record format: a [`Writer`] that appends to a buffer, a [`Reader`]
//! cursor that never reads past its slice and answers every malformed byte with a
//! [`RecordError`] at its offset, the [`Wire`] trait, and its implementations for the std,
//! chrono and uuid types the payloads are made of.
//!
//! Every decoder here accepts exactly one byte string per value (canonical): varints of minimal
//! length, booleans and option tags of 0 or 1, sets and maps with strictly increasing keys.
//! Re-encoding anything that decoded gives back the bytes it came from.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use uuid::Uuid;

use super::RecordError;

/// Items reserved up front when decoding a collection, whatever count the record claims: a
/// claimed count is only checked against the bytes left (each item takes at least one), which
/// could still ask for far more memory than the items will need.
const PREALLOCATED_ITEMS_MAX: usize = 256;

/// Days from 0001-01-01 (day 1 of the common era in chrono's count) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Where a [`Writer`] puts what it encodes: a buffer, or only the count of the bytes
/// ([`ByteCount`]), which is how long a record would be without encoding it.
pub(crate) trait Sink {
    fn push(&mut self, byte: u8);
    fn extend(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A sink that keeps only the number of bytes written.
#[derive(Default)]
pub(crate) struct ByteCount(pub(crate) usize);

impl Sink for ByteCount {
    fn push(&mut self, _: u8) {
        self.0 += 1;
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// Appends encoded values to a sink (a buffer, unless it only counts).
pub(crate) struct Writer<'a, S: Sink = Vec<u8>> {
    out: &'a mut S,
}

impl<'a, S: Sink> Writer<'a, S> {
    pub(crate) fn new(out: &'a mut S) -> Writer<'a, S> {
        Writer { out }
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.out.push(value);
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.out.extend(bytes);
    }

    pub(crate) fn u16_le(&mut self, value: u16) {
        self.bytes(&value.to_le_bytes());
    }

    pub(crate) fn u32_le(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }

    pub(crate) fn u64_le(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }

    pub(crate) fn i32_le(&mut self, value: i32) {
        self.bytes(&value.to_le_bytes());
    }

    pub(crate) fn i64_le(&mut self, value: i64) {
        self.bytes(&value.to_le_bytes());
    }

    /// Unsigned LEB128: seven bits a byte, least significant first, high bit set on all but the last.
    pub(crate) fn varint(&mut self, value: u128) {
        let mut rest = value;
        while rest >= 0x80 {
            self.out.push((rest as u8 & 0x7f) | 0x80);
            rest >>= 7;
        }
        self.out.push(rest as u8);
    }

    /// ZigZag (0, -1, 1, -2, … → 0, 1, 2, 3, …), then LEB128: small magnitudes stay short.
    pub(crate) fn zigzag(&mut self, value: i128) {
        self.varint(((value << 1) ^ (value >> 127)) as u128);
    }

    pub(crate) fn count(&mut self, count: usize) {
        self.varint(count as u128);
    }

    pub(crate) fn str(&mut self, text: &str) {
        self.count(text.len());
        self.bytes(text.as_bytes());
    }
}

/// A cursor over one record. Every read either returns a value or an error naming the offset of
/// the first byte it could not accept; nothing here indexes past the slice or panics.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, offset: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// An error about the value that starts at `offset`.
    pub(crate) fn invalid_at(&self, offset: usize, reason: impl Into<String>) -> RecordError {
        RecordError { offset, reason: reason.into() }
    }

    /// The end of the record: anything left is an error.
    pub(crate) fn finish(&self) -> Result<(), RecordError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(self.invalid_at(self.offset, format!("{left} trailing bytes after the record"))),
        }
    }

    pub(crate) fn take_bytes(&mut self, length: usize) -> Result<&'a [u8], RecordError> {
        if length > self.remaining() {
            let reason = format!("truncated: {length} bytes needed, {} left", self.remaining());
            return Err(self.invalid_at(self.offset, reason));
        }
        let taken = &self.bytes[self.offset..self.offset + length];
        self.offset += length;
        Ok(taken)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take_bytes(N)?);
        Ok(array)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16_le(&mut self) -> Result<u16, RecordError> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, RecordError> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, RecordError> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i32_le(&mut self) -> Result<i32, RecordError> {
        self.array().map(i32::from_le_bytes)
    }

    pub(crate) fn i64_le(&mut self) -> Result<i64, RecordError> {
        self.array().map(i64::from_le_bytes)
    }

    /// An unsigned LEB128 of at most `bits` bits, in its one minimal form: a longer encoding
    /// (a last byte of 0 after the first) or one past `bits` is refused.
    pub(crate) fn varint(&mut self, bits: u32) -> Result<u128, RecordError> {
        let start = self.offset;
        let mut value: u128 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = self.u8()?;
            let payload = u128::from(byte & 0x7f);
            if shift >= bits || (bits - shift < 7 && payload >> (bits - shift) != 0) {
                return Err(self.invalid_at(start, format!("varint wider than {bits} bits")));
            }
            value |= payload << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(self.invalid_at(start, "varint not in its shortest form"));
                }
                return Ok(value);
            }
            shift += 7;
        }
    }

    pub(crate) fn zigzag(&mut self, bits: u32) -> Result<i128, RecordError> {
        let encoded = self.varint(bits)?;
        Ok((encoded >> 1) as i128 ^ -((encoded & 1) as i128))
    }

    pub(crate) fn varint_u64(&mut self) -> Result<u64, RecordError> {
        // `varint(64)` refuses anything wider, so the conversion cannot fail.
        self.varint(64).map(|value| value as u64)
    }

    pub(crate) fn zigzag_i64(&mut self) -> Result<i64, RecordError> {
        self.zigzag(64).map(|value| value as i64)
    }

    /// A count of items (or bytes) that follow: each takes at least one byte, so a count larger
    /// than what is left cannot be honest and is refused before anything is allocated.
    pub(crate) fn count(&mut self) -> Result<usize, RecordError> {
        let start = self.offset;
        let count = self.varint_u64()?;
        match usize::try_from(count) {
            Ok(count) if count <= self.remaining() => Ok(count),
            _ => Err(self.invalid_at(start, format!("count {count} is more than the {} bytes left", self.remaining()))),
        }
    }

    pub(crate) fn string(&mut self) -> Result<String, RecordError> {
        let length = self.count()?;
        let start = self.offset;
        let bytes = self.take_bytes(length)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(error) => Err(self.invalid_at(start + error.valid_up_to(), "string is not UTF-8")),
        }
    }

    /// A value read by `take`, then checked by `parse`: a refusal is reported where the value began.
    pub(crate) fn parsed<R, T, E: std::fmt::Display>(
        &mut self,
        what: &str,
        take: impl FnOnce(&mut Self) -> Result<R, RecordError>,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Result<T, RecordError> {
        let start = self.offset;
        let raw = take(self)?;
        parse(raw).map_err(|error| self.invalid_at(start, format!("invalid {what}: {error}")))
    }
}

/// A value with one encoding in the record format.
pub(crate) trait Wire: Sized {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>);
    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError>;
}

/// A struct as its fields, in the order listed: the list is written once, and both the
/// destructuring in `put` and the struct literal in `take` make the compiler refuse a missing or
/// unknown field.
macro_rules! wire_struct {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl $crate::record::wire::Wire for $name {
            fn put<S: $crate::record::wire::Sink>(&self, writer: &mut $crate::record::wire::Writer<'_, S>) {
                let $name { $($field),* } = self;
                $($crate::record::wire::Wire::put($field, writer);)*
            }

            fn take(
                reader: &mut $crate::record::wire::Reader<'_>,
            ) -> Result<Self, $crate::record::RecordError> {
                Ok($name { $($field: $crate::record::wire::Wire::take(reader)?),* })
            }
        }
    };
}
pub(crate) use wire_struct;

/// A unit-only enum as one byte, each variant with its explicit, stable tag (never its
/// declaration order). A tag used twice fails to compile (`unreachable_patterns` is denied).
macro_rules! wire_enum {
    ($name:ident { $($variant:ident = $tag:literal),* $(,)? }) => {
        impl $crate::record::wire::Wire for $name {
            fn put<S: $crate::record::wire::Sink>(&self, writer: &mut $crate::record::wire::Writer<'_, S>) {
                writer.u8(match self {
                    $($name::$variant => $tag,)*
                });
            }

            #[deny(unreachable_patterns)]
            fn take(
                reader: &mut $crate::record::wire::Reader<'_>,
            ) -> Result<Self, $crate::record::RecordError> {
                let start = reader.offset();
                match reader.u8()? {
                    $($tag => Ok($name::$variant),)*
                    other => Err(reader.invalid_at(start, format!("unknown {} tag {other}", stringify!($name)))),
                }
            }
        }
    };
}
pub(crate) use wire_enum;

impl Wire for bool {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.u8(u8::from(*self));
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        match reader.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(reader.invalid_at(start, format!("bool must be 0 or 1, not {other}"))),
        }
    }
}

impl Wire for u32 {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.varint(u128::from(*self));
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        // `varint(32)` refuses anything wider, so the conversion cannot fail.
        reader.varint(32).map(|value| value as u32)
    }
}

impl Wire for u64 {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.varint(u128::from(*self));
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.varint_u64()
    }
}

impl Wire for String {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.str(self);
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.string()
    }
}

impl Wire for Uuid {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.bytes(self.as_bytes());
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.array().map(Uuid::from_bytes)
    }
}

/// Days since 1970-01-01, as a signed number (every `NaiveDate` fits in an `i32` of days).
pub(crate) fn days_since_epoch(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

pub(crate) fn date_from_days(days: i64) -> Option<NaiveDate> {
    let days_from_ce = i32::try_from(days).ok()?.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?;
    NaiveDate::from_num_days_from_ce_opt(days_from_ce)
}

impl Wire for NaiveDate {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.zigzag(i128::from(days_since_epoch(*self)));
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.parsed("date", Reader::zigzag_i64, |days| date_from_days(days).ok_or("out of range"))
    }
}

/// An instant: seconds since 1970-01-01T00:00:00Z (zigzag), then nanoseconds (varint, below
/// 2 × 10^9: a leap second's are ≥ 10^9).
impl Wire for DateTime<Utc> {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.zigzag(i128::from(self.timestamp()));
        writer.varint(u128::from(self.timestamp_subsec_nanos()));
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        let seconds = reader.zigzag_i64()?;
        let nanos = u32::take(reader)?;
        DateTime::from_timestamp(seconds, nanos).ok_or_else(|| reader.invalid_at(start, "instant out of range"))
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        match self {
            None => writer.u8(0),
            Some(value) => {
                writer.u8(1);
                value.put(writer);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        match reader.u8()? {
            0 => Ok(None),
            1 => T::take(reader).map(Some),
            other => Err(reader.invalid_at(start, format!("option tag must be 0 or 1, not {other}"))),
        }
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.count(self.len());
        for item in self {
            item.put(writer);
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let count = reader.count()?;
        let mut items = Vec::with_capacity(count.min(PREALLOCATED_ITEMS_MAX));
        for _ in 0..count {
            items.push(T::take(reader)?);
        }
        Ok(items)
    }
}

/// Reads a key that must come strictly after `last`, the greatest key read so far (the order a
/// `BTree` iterates in), so a set or map has one encoding: a repeated or out-of-order key is an
/// error, not a silent merge.
fn take_next_key<K: Wire + Ord>(reader: &mut Reader<'_>, last: Option<&K>) -> Result<K, RecordError> {
    let start = reader.offset();
    let key = K::take(reader)?;
    if last.is_some_and(|last| *last >= key) {
        return Err(reader.invalid_at(start, "keys not in strictly increasing order"));
    }
    Ok(key)
}

impl<T: Wire + Ord> Wire for BTreeSet<T> {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.count(self.len());
        for item in self {
            item.put(writer);
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let count = reader.count()?;
        let mut set = BTreeSet::new();
        for _ in 0..count {
            let item = take_next_key(reader, set.last())?;
            set.insert(item);
        }
        Ok(set)
    }
}

impl<K: Wire + Ord, V: Wire> Wire for BTreeMap<K, V> {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.count(self.len());
        for (key, value) in self {
            key.put(writer);
            value.put(writer);
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let count = reader.count()?;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let key = take_next_key(reader, map.last_key_value().map(|(last, _)| last))?;
            let value = V::take(reader)?;
            map.insert(key, value);
        }
        Ok(map)
    }
}
