//! The envelope: JSON round trip, the canonical encoding, the hash chain, upcasting, the limit
//! of a record's size.

use ledger_core::event::{
    upcast, CouponGranted, Event, EventPayload, RecordedEvent, EVENT_BYTES_MAX, EVENT_TYPES, GENESIS_HASH,
};
use ledger_core::log::{replay, stage, ChainHead, ReplayError};
use ledger_core::testing::{amount, date, envelope, WorkedExample};
use ledger_core::OrderCommand;
use ledger_core::{CommandBody, DomainError};

fn paid_world() -> WorkedExample {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    world
}

#[test]
fn recorded_events_round_trip_through_json_with_their_hash() {
    let world = paid_world();
    for event in &world.ledger.log {
        let json = serde_json::to_string(event).unwrap();
        let back: RecordedEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, event);
        assert_eq!(back.record_hash(), event.hash, "the hash survives the round trip");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["event_type"], event.event_type());
        assert!(value["payload"].is_object());
    }
}

#[test]
fn amounts_are_decimal_strings_in_the_log() {
    let world = paid_world();
    let paid = world.ledger.log.iter().find(|event| event.event_type() == "OrderPaid").unwrap();
    let value = serde_json::to_value(paid).unwrap();
    assert_eq!(value["payload"]["total"], "950.00");
    assert_eq!(value["entries"][0]["lines"][0]["amount"], "950.00");
}

#[test]
fn the_chain_links_every_event_to_the_one_before() {
    let world = paid_world();
    let log = &world.ledger.log;
    assert_eq!(log[0].prev_hash, GENESIS_HASH);
    for pair in log.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_eq!(pair[1].position, pair[0].position + 1);
    }
    let replayed = replay(log).unwrap();
    assert_eq!(replayed, world.ledger.state, "replay reproduces the live state");
}

#[test]
fn replay_reports_the_first_tampered_position() {
    let world = paid_world();
    let mut log = world.ledger.log.clone();
    let target = log.iter().position(|event| event.event_type() == "OrderPaid").unwrap();
    let json = serde_json::to_string(&log[target]).unwrap().replacen("\"950.00\"", "\"905.00\"", 1);
    log[target] = serde_json::from_str(&json).unwrap();
    let error = replay(&log).unwrap_err();
    assert_eq!(error.position(), log[target].position);
    // Dropping an event is a gap, reported where the gap is.
    let mut gapped = world.ledger.log.clone();
    gapped.remove(3);
    let error = replay(&gapped).unwrap_err();
    assert!(matches!(error, ReplayError::Chain(_)));
    assert_eq!(error.position(), gapped[3].position);
}

#[test]
fn upcast_accepts_current_versions_and_refuses_future_ones() {
    let (event_type, version) = EVENT_TYPES[0];
    let payload = serde_json::json!({"anything": 1});
    assert_eq!(upcast(event_type, version, payload.clone()).unwrap(), payload);
    assert!(upcast(event_type, version + 1, payload.clone()).is_err());
    assert!(upcast("NoSuchEvent", 1, payload).is_err());
}

#[test]
fn upcast_brings_v1_payments_and_statements_to_v2() {
    let paid = serde_json::json!({"order_id": "o", "total": "950.00", "items": [{"product_id": "p"}]});
    assert_eq!(upcast("OrderPaid", 1, paid).unwrap(), serde_json::json!({"order_id": "o", "total": "950.00"}));
    let statement =
        serde_json::json!({"payable": "0.00", "lines": [{"position": 7}, {"position": 9}], "statement_hash": "h"});
    assert_eq!(
        upcast("SettlementStatementIssued", 1, statement).unwrap(),
        serde_json::json!({"payable": "0.00", "line_count": 2, "statement_hash": "h"})
    );
    assert!(upcast("SettlementStatementIssued", 1, serde_json::json!({"payable": "0.00"})).is_err());
}

/// A command whose record would pass `EVENT_BYTES_MAX` is refused when staged, whole, before
/// anything is folded in; a record of exactly the limit is staged, sealed and read back.
#[test]
fn staging_refuses_a_record_past_the_limit_and_takes_one_at_the_limit() {
    let world = WorkedExample::new();
    let coupon = |reason_bytes: usize| {
        Event::new(EventPayload::CouponGranted(CouponGranted {
            customer_id: world.customer,
            book: world.r2,
            amount: amount("1.00"),
            reason: "x".repeat(reason_bytes),
        }))
    };
    let meta = |position| envelope(position, &world.r2_sales, date("2026-01-15"));
    let next = world.ledger.state.last_position + 1;
    // A reason of a million bytes has a three-byte length where an empty one has one.
    let empty = ledger_core::record::encoded_len(&RecordedEvent::staged(coupon(0), meta(next)));
    let at_limit = EVENT_BYTES_MAX - empty - 2;
    assert_eq!(ledger_core::record::encoded_len(&RecordedEvent::staged(coupon(at_limit), meta(next))), EVENT_BYTES_MAX);

    let mut state = world.ledger.state.clone();
    let refused = stage(&mut state, vec![coupon(1), coupon(at_limit + 1)], meta);
    assert_eq!(
        refused,
        Err(DomainError::EventTooLarge {
            event_type: "CouponGranted",
            bytes: EVENT_BYTES_MAX + 1,
            limit: EVENT_BYTES_MAX
        })
    );
    assert_eq!(refused.unwrap_err().code(), "event_too_large");
    assert_eq!(state, world.ledger.state, "nothing of the command was folded in, not even its first event");

    let staged = stage(&mut state, vec![coupon(at_limit)], meta).unwrap();
    assert_eq!(state.last_position, next);
    let sealed = ChainHead::after(world.ledger.log.last().unwrap()).seal(staged.into_iter().next().unwrap());
    assert_eq!(sealed.record.len(), EVENT_BYTES_MAX);
    assert_eq!(ledger_core::record::decode(&sealed.record).unwrap(), sealed.event);
}

#[test]
fn a_log_forged_with_recomputed_hashes_is_reported_not_crashed_on() {
    let world = paid_world();
    let mut forged = world.ledger.log.clone();
    // The offline recharge was requested for 1000.00; forge its confirmation to 5000.00 in the
    // payload (leaving the entries) and re-seal the chain from there on, as a forger would.
    let target = forged.iter().position(|event| event.event_type() == "RechargeConfirmed").unwrap();
    let json =
        serde_json::to_string(&forged[target]).unwrap().replacen("\"amount\":\"1000.00\"", "\"amount\":\"5000.00\"", 1);
    forged[target] = serde_json::from_str(&json).unwrap();
    let mut chain = ChainHead::after(&forged[target - 1]);
    for event in &mut forged[target..] {
        let mut staged = event.clone();
        staged.prev_hash.clear();
        staged.hash.clear();
        *event = chain.seal(staged).event;
    }
    let error = replay(&forged).unwrap_err();
    assert!(matches!(error, ReplayError::Inconsistent { .. }), "{error}");
    assert_eq!(error.position(), forged[target].position);
}
