//! The primitives, one by one: what each accepts, and that every other spelling is refused.
//! Whole records are tested in `tests/records.rs`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::wire::{Reader, Wire, Writer};
use super::*;
use crate::chart::AccountCode;
use crate::money::{Amount, Quantity, Rate, SignedAmount, Total, UnitPrice};
use crate::org::Role;
use crate::rules::LinearSum;

fn bytes_of<T: Wire>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.put(&mut Writer::new(&mut out));
    out
}

/// Decodes one value that must span all of `bytes`.
fn value_of<T: Wire>(bytes: &[u8]) -> Result<T, RecordError> {
    let mut reader = Reader::new(bytes);
    let value = T::take(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

#[track_caller]
fn round_trips<T: Wire + PartialEq + std::fmt::Debug>(value: T) -> Vec<u8> {
    let bytes = bytes_of(&value);
    assert_eq!(value_of::<T>(&bytes).as_ref(), Ok(&value), "bytes {bytes:02x?}");
    bytes
}

#[track_caller]
fn refused<T: Wire + std::fmt::Debug>(bytes: &[u8]) -> RecordError {
    match value_of::<T>(bytes) {
        Ok(value) => panic!("{bytes:02x?} decoded to {value:?}"),
        Err(error) => error,
    }
}

fn varint_bytes(value: u128) -> Vec<u8> {
    let mut out = Vec::new();
    Writer::new(&mut out).varint(value);
    out
}

#[test]
fn varints_are_leb128_in_their_shortest_form() {
    assert_eq!(varint_bytes(0), [0x00]);
    assert_eq!(varint_bytes(127), [0x7f]);
    assert_eq!(varint_bytes(128), [0x80, 0x01]);
    assert_eq!(varint_bytes(300), [0xac, 0x02]);
    assert_eq!(round_trips(u64::MAX).len(), 10);
    assert_eq!(round_trips(u32::MAX).len(), 5);
    round_trips(0u64);
    // A longer spelling of 0 or of 1 is refused: one value, one byte string.
    assert_eq!(refused::<u64>(&[0x80, 0x00]).reason, "varint not in its shortest form");
    refused::<u64>(&[0x81, 0x80, 0x00]);
    // Wider than the type: u32::MAX + 1, and eleven bytes for a u64.
    refused::<u32>(&varint_bytes(1 << 32));
    refused::<u64>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
    refused::<u64>(&[0xff; 11]);
    // Cut short.
    assert_eq!(refused::<u64>(&[0x80]).offset, 1);
}

#[test]
fn zigzag_keeps_small_magnitudes_short_at_both_signs() {
    let zigzag = |value: i128| {
        let mut out = Vec::new();
        Writer::new(&mut out).zigzag(value);
        let decoded = Reader::new(&out).zigzag(128).unwrap();
        assert_eq!(decoded, value);
        out
    };
    assert_eq!(zigzag(0), [0]);
    assert_eq!(zigzag(-1), [1]);
    assert_eq!(zigzag(1), [2]);
    assert_eq!(zigzag(-64), [0x7f]);
    assert_eq!(zigzag(i128::MAX).len(), 19);
    assert_eq!(zigzag(i128::MIN).len(), 19);
    let mut out = Vec::new();
    Writer::new(&mut out).zigzag(i128::from(i64::MIN));
    assert_eq!(Reader::new(&out).zigzag_i64(), Ok(i64::MIN));
}

#[test]
fn bools_and_option_tags_are_0_or_1() {
    assert_eq!(round_trips(true), [1]);
    assert_eq!(round_trips(false), [0]);
    refused::<bool>(&[2]);
    assert_eq!(round_trips(Some(5u32)), [1, 5]);
    assert_eq!(round_trips(None::<u32>), [0]);
    refused::<Option<u32>>(&[2, 5]);
}

#[test]
fn strings_are_utf8_of_the_length_they_claim() {
    assert_eq!(round_trips("销售".to_owned())[0], 6);
    let error = refused::<String>(&[3, b'a', 0xff, b'b']);
    assert_eq!(error.offset, 2);
    // A length past the end is refused before anything is read or allocated.
    let error = refused::<String>(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(error.offset, 0);
    refused::<Vec<u32>>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
}

#[test]
fn sets_and_maps_have_their_keys_strictly_increasing() {
    let roles: BTreeSet<Role> = [Role::Sales, Role::Admin].into();
    let bytes = round_trips(roles);
    assert_eq!(bytes, [2, 1, 3]);
    refused::<BTreeSet<Role>>(&[2, 3, 1]);
    assert_eq!(refused::<BTreeSet<Role>>(&[2, 1, 1]).offset, 2, "a repeated key is where it repeats");
    let map: BTreeMap<String, u32> = [("b".to_owned(), 2), ("a".to_owned(), 1)].into();
    let bytes = round_trips(map);
    assert_eq!(bytes, [2, 1, b'a', 1, 1, b'b', 2]);
    refused::<BTreeMap<String, u32>>(&[2, 1, b'b', 2, 1, b'a', 1]);
    refused::<BTreeMap<String, u32>>(&[2, 1, b'a', 2, 1, b'a', 1]);
    refused::<BTreeSet<Role>>(&[1, 6]);
}

#[test]
fn dates_are_days_from_1970_and_out_of_range_days_are_refused() {
    let date = |text: &str| text.parse::<NaiveDate>().unwrap();
    assert_eq!(round_trips(date("1970-01-01")), [0]);
    assert_eq!(round_trips(date("1969-12-31")), [1]);
    assert_eq!(round_trips(date("1970-01-02")), [2]);
    round_trips(NaiveDate::MIN);
    round_trips(NaiveDate::MAX);
    let mut out = Vec::new();
    Writer::new(&mut out).zigzag(i128::from(i32::MAX));
    refused::<NaiveDate>(&out);
}

#[test]
fn amounts_are_minor_units_in_their_range() {
    let amount = |text| Amount::parse(text).unwrap();
    assert_eq!(round_trips(amount("950.00")), varint_bytes(190_000));
    assert_eq!(round_trips(Amount::ZERO), [0]);
    round_trips(Amount::MAX);
    round_trips(Total::MAX);
    let mut past_max = Vec::new();
    Writer::new(&mut past_max).zigzag(i128::from(Amount::MAX.to_minor()) + 1);
    assert!(refused::<Amount>(&past_max).reason.contains("too large"));
    assert!(refused::<Amount>(&[1]).reason.contains("negative"), "zigzag 1 is -0.01");
    let signed = SignedAmount::ZERO.sub(amount("5.00"));
    assert_eq!(round_trips(signed), [0xe7, 0x07]);
    assert_eq!(value_of::<SignedAmount>(&bytes_of(&signed)).unwrap().to_string(), "-5.00");
    let huge = SignedAmount::from_decimal(Decimal::from_i128_with_scale((1 << 95) - 1, 2));
    round_trips(huge);
    let mut past_decimal = Vec::new();
    Writer::new(&mut past_decimal).zigzag(1 << 96);
    refused::<SignedAmount>(&past_decimal);
}

#[test]
fn decimals_keep_their_scale_and_only_their_canonical_form_decodes() {
    let bytes = round_trips(Rate::parse("0.95").unwrap());
    assert_eq!(bytes, [2, 190, 1]);
    let price = UnitPrice::parse("1000").unwrap();
    assert_eq!(price.to_string(), "1000.00");
    let bytes = round_trips(price);
    assert_eq!(bytes[0], 2, "a unit price is held with at least two decimals");
    assert_eq!(value_of::<UnitPrice>(&bytes).unwrap().to_string(), "1000.00");
    round_trips(Quantity::parse("0.000001").unwrap());
    // 0.9500 is the rate 0.95, which is held (and so written) as 0.95.
    let mut spelled_long = Vec::new();
    let mut writer = Writer::new(&mut spelled_long);
    writer.u8(4);
    writer.zigzag(9500);
    assert!(refused::<Rate>(&spelled_long).reason.contains("canonical"));
    // Out of the type's range, and past rust_decimal's scale.
    assert!(refused::<Rate>(&[2, 0xca, 0x01]).reason.contains("at most 1"), "1.01");
    refused::<Rate>(&[29, 2]);
    refused::<Quantity>(&[0, 0]);
}

#[test]
fn codes_and_linear_sums_decode_only_in_the_form_they_print() {
    round_trips(AccountCode::parse("6001.99").unwrap());
    refused::<AccountCode>(&[3, b'6', b'0', b'0']);
    let sum = LinearSum::parse("list - price").unwrap();
    assert_eq!(round_trips(sum)[1..], *b"list - price");
    let mut other_spelling = Vec::new();
    Writer::new(&mut other_spelling).str("list-price");
    assert!(refused::<LinearSum>(&other_spelling).reason.contains("as it prints"));
    let mut bad_code = Vec::new();
    Writer::new(&mut bad_code).str("not a code!");
    refused::<crate::ids::InviteCode>(&bad_code);
}

#[test]
fn every_event_type_has_one_nonzero_tag() {
    assert_eq!(EVENT_TAGS.len(), EVENT_TYPES.len());
    for (event_type, _) in EVENT_TYPES {
        let tags: Vec<u16> = EVENT_TAGS.iter().filter(|(name, _)| name == event_type).map(|(_, tag)| *tag).collect();
        assert_eq!(tags.len(), 1, "{event_type}");
        assert_ne!(tags[0], 0);
    }
    let distinct: BTreeSet<u16> = EVENT_TAGS.iter().map(|(_, tag)| *tag).collect();
    assert_eq!(distinct.len(), EVENT_TAGS.len());
}
