//! Given/when/then tests of the pricing the seeds use (issue 12): fixed prices per scope, prices
//! above list, first-order and tiered prices, promotions that stack or exclude each other, and
//! the waterfall's candidates. The world is DESIGN §2.5's: list 1000.00, supplier 0.70, platform
//! → R1 0.80, R1 → R2 0.88, R2's public rate 0.98 and C's customer rate 0.95.

mod common;

use std::collections::BTreeMap;

use common::*;
use ledger_core::event::*;
use ledger_core::ids::{ApprovalId, InviteCode, PromotionId};
use ledger_core::money::{Quantity, UnitPrice};
use ledger_core::pricing::{
    CandidateKind, PriceBasis, PriceCandidate, PriceRule, PriceTier, PricedItem, PromotionReach, RateScope, RateSource,
    Stacking,
};
use ledger_core::testing::{amount, date, id, rate, WorkedExample};
use ledger_core::{ApprovalCommand, CommandBody, OrderCommand, SetupCommand};

fn unit(text: &str) -> UnitPrice {
    UnitPrice::parse(text).unwrap()
}

fn set_price(world: &WorkedExample, scope: RateScope, rule: PriceRule, approval: u128) -> CommandBody {
    CommandBody::Setup(SetupCommand::SetPrice {
        book: world.r2,
        product_id: world.product,
        scope,
        rule,
        valid_from: None,
        valid_to: None,
        approval_id: id(approval),
    })
}

fn place(world: &WorkedExample, order: u128, quantity: &str, invite: Option<&str>) -> CommandBody {
    CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: id(order),
        customer_id: world.customer,
        items: one_item(world.product, quantity, 1),
        invite_code: invite.map(|code| InviteCode::try_from(code.to_owned()).unwrap()),
    })
}

/// The item of the order the events place.
fn placed_item(events: &[Event]) -> PricedItem {
    match &events[0].payload {
        EventPayload::OrderPlaced(placed) => placed.items[0].clone(),
        other => panic!("not an order placed: {other:?}"),
    }
}

/// A candidate as `source kind rate|unit price → price applied reason`.
fn describe(candidate: &PriceCandidate) -> String {
    let basis = match (candidate.rate, candidate.unit_price) {
        (Some(rate), _) => rate.to_string(),
        (_, Some(unit_price)) => unit_price.to_string(),
        _ => String::new(),
    };
    format!(
        "{} {} {basis} → {} {} {}",
        word(&candidate.source),
        word(&candidate.kind),
        candidate.price,
        if candidate.applied { "applied" } else { "-" },
        word(&candidate.reason)
    )
}

/// The JSON word of a unit enum.
fn word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).unwrap().as_str().unwrap().to_owned()
}

fn seller_candidates(item: &PricedItem) -> Vec<String> {
    item.seller_level().unwrap().candidates.iter().map(describe).collect()
}

fn grant(world: &mut WorkedExample, approval_id: ApprovalId) -> Vec<Event> {
    let finance = world.r2_finance.clone();
    let decision = ApprovalCommand::DecideApproval { approval_id, grant: true, comment: None };
    events_of(&world.ledger.given(&finance, CommandBody::Approval(decision)))
}

fn promotion(world: &mut WorkedExample, promotion: u128, value: &str, stacking: Stacking, reach: PromotionReach) {
    let sales = world.r2_sales.clone();
    let create = SetupCommand::CreatePromotion {
        approval_id: id(promotion + 1),
        promotion_id: id(promotion),
        book: world.r2,
        name: format!("Promotion {promotion}"),
        rates: BTreeMap::from([(world.product, rate(value))]),
        valid_from: date("2026-01-01"),
        valid_to: date("2026-12-31"),
    };
    let created = world.ledger.given(&sales, CommandBody::Setup(create));
    if created[0].event_type() == "ApprovalRequested" {
        grant(world, id(promotion + 1));
    }
    let terms = SetupCommand::SetPromotionTerms { promotion_id: id(promotion), stacking, reach: Some(reach) };
    world.ledger.given(&sales, CommandBody::Setup(terms));
}

// ---------------------------------------------------------------- fixed prices

#[test]
fn a_fixed_price_is_set_per_scope_and_beats_a_higher_rate() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    // Given R2's rates; when it sets a fixed public price of 900.00,
    let rule = PriceRule::Fixed { unit_price: unit("900") };
    let events = world.ledger.decide(&admin, set_price(&world, RateScope::Public, rule.clone(), 1)).unwrap();
    // then it is set at once (at or above R2's own cost of 880.00),
    assert_eq!(
        events[0].payload,
        EventPayload::PriceSet(PriceSet {
            book: world.r2,
            product_id: world.product,
            scope: RateScope::Public,
            rule,
            valid_from: None,
            valid_to: None,
        })
    );
    world.ledger.given(&admin, set_price(&world, RateScope::Public, PriceRule::Fixed { unit_price: unit("900") }, 1));
    // and C's order pays 900.00, beating its customer rate of 0.95 (950.00), the waterfall
    // naming every candidate and the winner.
    world.recharge("1000.00");
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1", None)).unwrap();
    let item = placed_item(&placed);
    let seller = item.seller_level().unwrap();
    assert_eq!(
        (seller.price, seller.unit_price, seller.rate_source),
        (amount("900.00"), Some(unit("900")), RateSource::Public)
    );
    assert_eq!(seller.rate.to_string(), "1.00");
    assert_eq!(
        seller_candidates(&item),
        [
            "public rate 0.98 → 980.00 - not_lowest",
            "public fixed 900.00 → 900.00 applied lowest",
            "customer rate 0.95 → 950.00 - not_lowest",
        ]
    );
    // The levels above keep their plain rates (one candidate each: no list).
    assert!(item.levels[..2].iter().all(|level| level.candidates.is_empty()));
    assert_eq!(item.unit_price().to_string(), "900.00");
    world.ledger.given(&world.customer_actor.clone(), place(&world, 800, "1", None));
    let paid = events_of(&world.pay_order(id(800)));
    let names = names(&world);
    assert_eq!(
        book_lines(&paid, world.r2, &names).concat(),
        ["Dr 2203[C] 900.00", "Dr 6001.99 100.00", "Cr 6001 1000.00", "Dr 6401 880.00", "Cr 2202[R1] 880.00"]
    );
    assert_sound(&world.ledger);
}

#[test]
fn a_customer_fixed_price_below_cost_waits_for_approval_then_applies() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    // 870.00 is below R2's cost of 880.00 (0.88 of list): a special price.
    let rule = PriceRule::Fixed { unit_price: unit("870") };
    let events =
        events_of(&world.ledger.given(&sales, set_price(&world, RateScope::Customer(world.customer), rule, 2)));
    assert_eq!(types(&events), ["ApprovalRequested"]);
    let EventPayload::ApprovalRequested(request) = &events[0].payload else { panic!("a request") };
    assert_eq!(request.kind, ApprovalKind::SpecialRate);
    assert!(matches!(&request.proposal, Proposal::SetPrice(set) if set.scope == RateScope::Customer(world.customer)));
    // Nothing applies before the grant: C still pays its customer rate.
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1", None)).unwrap();
    assert_eq!(placed_item(&placed).customer_price(), amount("950.00"));
    let granted = grant(&mut world, id(2));
    assert_eq!(types(&granted), ["ApprovalGranted", "PriceSet"]);
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1", None)).unwrap();
    let item = placed_item(&placed);
    assert_eq!(
        (item.customer_price(), item.seller_level().unwrap().rate_source),
        (amount("870.00"), RateSource::Customer)
    );
    assert_eq!(item.seller_level().unwrap().margin.to_string(), "-10.00");
}

// ---------------------------------------------------------------- above list

/// R2's public and customer rates end yesterday: C's price is what `SetPrice` sets alone.
fn end_rates(world: &mut WorkedExample) {
    let admin = world.r2_admin.clone();
    for scope in [RateScope::Public, RateScope::Customer(world.customer)] {
        let ended = SetupCommand::SetRate {
            book: world.r2,
            product_id: world.product,
            scope,
            rate: rate("0.95"),
            valid_from: None,
            valid_to: Some(date("2026-01-14")),
            approval_id: id(3),
        };
        world.ledger.given(&admin, CommandBody::Setup(ended));
    }
}

#[test]
fn a_price_above_list_books_the_excess_as_revenue_and_balances_in_all_three_books() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    // Given R2's rates for C ended yesterday and a fixed public price of 1,100.00 (a markup),
    end_rates(&mut world);
    world.ledger.given(&admin, set_price(&world, RateScope::Public, PriceRule::Fixed { unit_price: unit("1100") }, 4));
    world.recharge("2200.00");
    // when C buys 2 units,
    let placed = events_of(&world.ledger.given(&world.customer_actor.clone(), place(&world, 800, "2", None)));
    let item = placed_item(&placed);
    assert_eq!((item.list_amount, item.customer_price()), (amount("2000.00"), amount("2200.00")));
    assert_eq!(seller_candidates(&item), ["public fixed 1100.00 → 2200.00 applied lowest"]);
    // then R2 books the whole price as revenue (no negative discount line), and R1 and the
    // platform book exactly as before.
    let paid = events_of(&world.pay_order(id(800)));
    let names = names(&world);
    assert_eq!(
        book_lines(&paid, world.r2, &names).concat(),
        ["Dr 2203[C] 2200.00", "Cr 6001 2200.00", "Dr 6401 1760.00", "Cr 2202[R1] 1760.00"]
    );
    assert_eq!(
        book_lines(&paid, world.r1, &names).concat(),
        ["Dr 1122[R2] 1760.00", "Dr 6001.99 240.00", "Cr 6001 2000.00", "Dr 6401 1600.00", "Cr 2202[platform] 1600.00"]
    );
    assert_eq!(
        book_lines(&paid, world.platform, &names).concat(),
        ["Dr 1122[R1] 1600.00", "Dr 6001.99 400.00", "Cr 6001 2000.00", "Dr 6401 1400.00", "Cr 2202[supplier] 1400.00"]
    );
    assert!(paid.iter().flat_map(|event| &event.entries).all(|entry| entry.imbalance().is_zero()));
    // A full refund reverses it to the cent.
    let finance = world.r2_finance.clone();
    let refund = OrderCommand::RefundOrder {
        approval_id: id(5),
        order_id: id(800),
        amount: amount("2200.00"),
        penalty: amount("0.00"),
        reason: "unsubscribe".into(),
    };
    world.ledger.given(&finance, CommandBody::Orders(refund));
    assert_eq!(net(&world.ledger, world.r2, "6001").to_string(), "0.00");
    assert_eq!(net(&world.ledger, world.r2, "6001.99").to_string(), "0.00");
    assert_sound(&world.ledger);
}

#[test]
fn a_markup_past_the_amount_limit_is_refused_naming_the_quantity_never_a_panic() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    world
        .ledger
        .given(&admin, set_price(&world, RateScope::Public, PriceRule::Fixed { unit_price: unit("1000000000") }, 6));
    // While C's rates price it, a markup past `AMOUNT_MAX` (1,000.01 units at 10^9 is
    // 1,000,010,000,000.00) is left out of the candidates:
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1000.01", None)).unwrap();
    let item = placed_item(&placed);
    assert_eq!(item.customer_price(), amount("950009.50"));
    assert_eq!(seller_candidates(&item).len(), 2, "the rates only: {:?}", seller_candidates(&item));
    // once the fixed price is all there is, the order is refused naming the quantity,
    end_rates(&mut world);
    let error = refused(world.ledger.decide(&world.customer_actor, place(&world, 800, "1000.01", None)));
    assert_eq!((error.code(), error.field()), ("invalid_amount", Some("items[0].quantity")));
    // and at the limit exactly it is priced: 1,000 units at 10^9 is `AMOUNT_MAX`.
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1000", None)).unwrap();
    let item = placed_item(&placed);
    assert_eq!(item.customer_price().to_string(), "1000000000000.00");
    assert_eq!(item.seller_level().unwrap().margin.to_string(), "999999120000.00");
}

// ---------------------------------------------------------------- first orders

#[test]
fn a_first_order_price_applies_to_the_first_paid_order_only() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    // Given a first-order price of 0.80 (below R2's cost: approved by finance),
    let rule = PriceRule::FirstOrder { price: PriceBasis::Rate(rate("0.80")) };
    let requested = events_of(&world.ledger.given(&sales, set_price(&world, RateScope::Public, rule, 7)));
    assert_eq!(types(&requested)[0], "ApprovalRequested");
    grant(&mut world, id(7));
    world.recharge("5000.00");
    let customer = world.customer_actor.clone();
    // when C places its first order, it is priced at 0.80;
    let first = events_of(&world.ledger.given(&customer, place(&world, 800, "1", None)));
    let item = placed_item(&first);
    assert_eq!(
        (item.customer_price(), item.seller_level().unwrap().rate_source),
        (amount("800.00"), RateSource::FirstOrder)
    );
    assert_eq!(
        seller_candidates(&item),
        [
            "public rate 0.98 → 980.00 - not_lowest",
            "customer rate 0.95 → 950.00 - not_lowest",
            "first_order first_order 0.80 → 800.00 applied lowest",
        ]
    );
    // a second one placed before the first is paid is priced at 0.80 too,
    let second = events_of(&world.ledger.given(&customer, place(&world, 801, "1", None)));
    assert_eq!(placed_item(&second).customer_price(), amount("800.00"));
    world.pay_order(id(800));
    // but once the first is paid it is no longer a first order: its payment is refused,
    let error =
        refused(world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id: id(801) })));
    assert_eq!(error.code(), "first_order_used");
    // and the next order pays the customer rate.
    let third = events_of(&world.ledger.given(&customer, place(&world, 802, "1", None)));
    let item = placed_item(&third);
    assert_eq!(
        (item.customer_price(), item.seller_level().unwrap().rate_source),
        (amount("950.00"), RateSource::Customer)
    );
    assert!(item
        .seller_level()
        .unwrap()
        .candidates
        .iter()
        .all(|candidate| candidate.kind != CandidateKind::FirstOrder));
    assert_sound(&world.ledger);
}

#[test]
fn a_first_order_price_is_for_customers_and_a_tiered_price_increases() {
    let world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    let first_order = PriceRule::FirstOrder { price: PriceBasis::UnitPrice(unit("900")) };
    let body = CommandBody::Setup(SetupCommand::SetPrice {
        book: world.r1,
        product_id: world.product,
        scope: RateScope::Reseller(world.r2),
        rule: first_order,
        valid_from: None,
        valid_to: None,
        approval_id: id(8),
    });
    let error = refused(world.ledger.decide(&world.r1_admin, body));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("scope")));
    let tiers = PriceRule::Tiered {
        tiers: vec![
            PriceTier { from_quantity: Quantity::whole(10), price: PriceBasis::Rate(rate("0.90")) },
            PriceTier { from_quantity: Quantity::whole(10), price: PriceBasis::Rate(rate("0.89")) },
        ],
    };
    let error = refused(world.ledger.decide(&admin, set_price(&world, RateScope::Public, tiers, 9)));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("tiers")));
    let error = refused(
        world.ledger.decide(&admin, set_price(&world, RateScope::Public, PriceRule::Tiered { tiers: vec![] }, 9)),
    );
    assert_eq!(error.field(), Some("tiers"));
    // Another tenant's book is not R2's to price.
    let error = refused(world.ledger.decide(
        &world.r2_admin,
        CommandBody::Setup(SetupCommand::SetPrice {
            book: world.r1,
            product_id: world.product,
            scope: RateScope::Public,
            rule: PriceRule::Fixed { unit_price: unit("900") },
            valid_from: None,
            valid_to: None,
            approval_id: id(10),
        }),
    ));
    assert!(matches!(error.code(), "forbidden" | "not_found"), "{error:?}");
}

// ---------------------------------------------------------------- tiers

#[test]
fn a_tiered_price_prices_each_item_by_its_quantity_bracket() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    // Given tiers from 10 units at 0.90 and from 50 units at 890.00 a unit,
    let tiers = PriceRule::Tiered {
        tiers: vec![
            PriceTier { from_quantity: Quantity::whole(10), price: PriceBasis::Rate(rate("0.90")) },
            PriceTier { from_quantity: Quantity::whole(50), price: PriceBasis::UnitPrice(unit("890")) },
        ],
    };
    let set = world.ledger.given(&admin, set_price(&world, RateScope::Public, tiers, 11));
    assert_eq!(set[0].event_type(), "PriceSet", "at or above R2's cost of 880.00 a unit");
    let price = |quantity: &str| {
        let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, quantity, None)).unwrap();
        let item = placed_item(&placed);
        (item.customer_price().to_string(), seller_candidates(&item))
    };
    // then 9 units are below the first bracket (the customer rate),
    assert_eq!(
        price("9"),
        (
            "8550.00".to_owned(),
            vec![
                "public rate 0.98 → 8820.00 - not_lowest".to_owned(),
                "customer rate 0.95 → 8550.00 applied lowest".to_owned(),
            ]
        )
    );
    // 10 to 49 units pay 0.90 of list,
    assert_eq!(
        price("10"),
        (
            "9000.00".to_owned(),
            vec![
                "public rate 0.98 → 9800.00 - not_lowest".to_owned(),
                "public tier 0.90 → 9000.00 applied lowest".to_owned(),
                "customer rate 0.95 → 9500.00 - not_lowest".to_owned(),
            ]
        )
    );
    assert_eq!(price("49.5").0, "44550.00");
    // and 50 units on pay 890.00 a unit.
    assert_eq!(price("50").0, "44500.00");
    assert_eq!(price("50").1[1], "public tier 890.00 → 44500.00 applied lowest");
}

// ---------------------------------------------------------------- promotions

#[test]
fn stackable_promotions_multiply_the_base_and_an_exclusive_one_competes_with_that() {
    let mut world = WorkedExample::new();
    // Given two stackable promotions open to every customer, 0.90 and 0.95, and an exclusive
    // one at 0.85 reached through an invite code,
    promotion(&mut world, 700, "0.90", Stacking::Stackable, PromotionReach::Everyone);
    promotion(&mut world, 710, "0.95", Stacking::Stackable, PromotionReach::Everyone);
    promotion(&mut world, 720, "0.85", Stacking::Exclusive, PromotionReach::InviteCode);
    let sales = world.r2_sales.clone();
    let invite = SetupCommand::CreateInviteCode {
        code: InviteCode::try_from("EXCL".to_owned()).unwrap(),
        book: world.r2,
        promotion_id: Some(id(720)),
        salesperson: None,
    };
    world.ledger.given(&sales, CommandBody::Setup(invite));
    // when C orders with the code, the base (its customer rate, 950.00) times 0.90 × 0.95 is
    // 812.25, below the exclusive promotion's 850.00: the stacked ones win;
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1", Some("EXCL"))).unwrap();
    let item = placed_item(&placed);
    let seller = item.seller_level().unwrap();
    assert_eq!(
        (seller.price, seller.rate, seller.rate_source),
        (amount("812.25"), rate("0.95"), RateSource::Promotion)
    );
    assert_eq!(seller.stacked, [rate("0.90"), rate("0.95")]);
    assert_eq!(item.unit_price().normalize().to_string(), "812.25");
    assert_eq!(
        seller_candidates(&item),
        [
            "public rate 0.98 → 980.00 - not_lowest",
            "customer rate 0.95 → 950.00 applied lowest",
            "promotion promotion 0.85 → 850.00 - not_lowest",
            "promotion promotion 0.90 → 812.25 applied stacked",
            "promotion promotion 0.95 → 812.25 applied stacked",
        ]
    );
    let ids: Vec<Option<PromotionId>> = seller.candidates.iter().map(|candidate| candidate.promotion_id).collect();
    assert_eq!(ids, [None, None, Some(id(720)), Some(id(700)), Some(id(710))]);
    // and without the code the same two stack.
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1", None)).unwrap();
    assert_eq!(placed_item(&placed).customer_price(), amount("812.25"));
    // Given the exclusive one at 0.80 instead (below cost: approved), it beats 812.25 alone,
    // the stackable ones left out.
    promotion(&mut world, 730, "0.80", Stacking::Exclusive, PromotionReach::Everyone);
    let placed = world.ledger.decide(&world.customer_actor, place(&world, 800, "1", Some("EXCL"))).unwrap();
    let item = placed_item(&placed);
    let seller = item.seller_level().unwrap();
    assert_eq!((seller.price, seller.rate, seller.stacked.len()), (amount("800.00"), rate("0.80"), 0));
    assert_eq!(
        seller_candidates(&item),
        [
            "public rate 0.98 → 980.00 - not_lowest",
            "customer rate 0.95 → 950.00 - not_lowest",
            "promotion promotion 0.85 → 850.00 - not_lowest",
            "promotion promotion 0.90 → 812.25 - excluded",
            "promotion promotion 0.95 → 812.25 - excluded",
            "promotion promotion 0.80 → 800.00 applied lowest",
        ]
    );
    // It books as every order does: the discount is list minus the rounded price.
    world.recharge("1000.00");
    world.ledger.given(&world.customer_actor.clone(), place(&world, 801, "1", None));
    let paid = events_of(&world.pay_order(id(801)));
    assert_eq!(
        book_lines(&paid, world.r2, &names(&world)).concat(),
        ["Dr 2203[C] 800.00", "Dr 6001.99 200.00", "Cr 6001 1000.00", "Dr 6401 880.00", "Cr 2202[R1] 880.00"]
    );
    assert_sound(&world.ledger);
}

#[test]
fn promotion_terms_are_recorded_and_kept_until_changed() {
    let mut world = WorkedExample::new();
    promotion(&mut world, 700, "0.90", Stacking::Stackable, PromotionReach::Everyone);
    let sales = world.r2_sales.clone();
    // Changing the stacking alone keeps the reach.
    let terms = SetupCommand::SetPromotionTerms { promotion_id: id(700), stacking: Stacking::Exclusive, reach: None };
    let events = world.ledger.decide(&sales, CommandBody::Setup(terms)).unwrap();
    assert_eq!(
        events[0].payload,
        EventPayload::PromotionTermsSet(PromotionTermsSet {
            promotion_id: id(700),
            book: world.r2,
            stacking: Stacking::Exclusive,
            reach: PromotionReach::Everyone,
        })
    );
    // Another book's staff do not reach it; an unknown promotion is not found.
    let terms = SetupCommand::SetPromotionTerms { promotion_id: id(700), stacking: Stacking::Stackable, reach: None };
    let error = refused(world.ledger.decide(&world.customer_actor, CommandBody::Setup(terms)));
    assert!(matches!(error.code(), "forbidden" | "not_found"), "{error:?}");
    let terms = SetupCommand::SetPromotionTerms { promotion_id: id(799), stacking: Stacking::Stackable, reach: None };
    assert_eq!(refused(world.ledger.decide(&sales, CommandBody::Setup(terms))).code(), "not_found");
}
