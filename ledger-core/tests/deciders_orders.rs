//! Given/when/then tests of the order deciders: placing (pricing along the chain), paying,
//! fulfilling, cancelling, refunding, usage charges, renewals and rebate commissions, plus tenant
//! isolation and roles.

mod common;

use std::collections::BTreeMap;

use common::*;
use ledger_core::command::OrderItemRequest;
use ledger_core::event::*;
use ledger_core::ids::{InviteCode, OrderId, OrgId, ProductId};
use ledger_core::money::{MoneyError, UnitPrice};
use ledger_core::org::{OrgKind, Role, SaleMode};
use ledger_core::pricing::{PricedItem, RateScope, RateSource};
use ledger_core::state::OrderStatus;
use ledger_core::testing::{actor, amount, date, id, rate, WorkedExample};
use ledger_core::{CommandBody, DomainError};
use ledger_core::{MoneyCommand, OrderCommand, SettlementCommand, SetupCommand};

/// A waterfall as (org, rate, source, cost, price, margin) rows.
fn waterfall(item: &PricedItem) -> Vec<(OrgId, String, RateSource, String, String, String)> {
    item.levels
        .iter()
        .map(|level| {
            (
                level.org_id,
                level.rate.to_string(),
                level.rate_source,
                level.cost.to_string(),
                level.price.to_string(),
                level.margin.to_string(),
            )
        })
        .collect()
}

fn row(
    org: OrgId,
    rate: &str,
    source: RateSource,
    cost: &str,
    price: &str,
    margin: &str,
) -> (OrgId, String, RateSource, String, String, String) {
    (org, rate.into(), source, cost.into(), price.into(), margin.into())
}

fn place(world: &WorkedExample, order: u128, items: Vec<OrderItemRequest>, invite: Option<&str>) -> CommandBody {
    CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: id(order),
        customer_id: world.customer,
        items,
        invite_code: invite.map(|code| InviteCode::try_from(code.to_owned()).unwrap()),
    })
}

fn refund(order_id: OrderId, value: &str, penalty: &str) -> CommandBody {
    CommandBody::Orders(OrderCommand::RefundOrder {
        approval_id: id(9900013),
        order_id,
        amount: amount(value),
        penalty: amount(penalty),
        reason: "unsubscribe".into(),
    })
}

fn promotion_with_code(world: &mut WorkedExample, value: &str, from: &str, to: &str, code: &str) {
    let sales = world.r2_sales.clone();
    world.ledger.given(
        &sales,
        CommandBody::Setup(SetupCommand::CreatePromotion {
            approval_id: id(9900012),
            promotion_id: id(700),
            book: world.r2,
            name: "Promotion".into(),
            rates: BTreeMap::from([(world.product, rate(value))]),
            valid_from: date(from),
            valid_to: date(to),
        }),
    );
    world.ledger.given(
        &sales,
        CommandBody::Setup(SetupCommand::CreateInviteCode {
            code: InviteCode::try_from(code.to_owned()).unwrap(),
            book: world.r2,
            promotion_id: Some(id(700)),
            salesperson: Some("Li Lei".into()),
        }),
    );
}

fn operations(world: &WorkedExample) -> ledger_core::org::Actor {
    actor(world.r2, 4040, &[Role::Operations])
}

fn fulfil(order_id: OrderId, end: &str) -> CommandBody {
    CommandBody::Orders(OrderCommand::FulfilOrder {
        order_id,
        note: Some("ticket 42".into()),
        subscription_end: Some(date(end)),
    })
}

// ---------------------------------------------------------------- place

#[test]
fn place_order_prices_every_level_of_the_chain_and_books_nothing() {
    let mut world = WorkedExample::new();
    let customer = world.customer_actor.clone();
    let body = place(&world, 400, one_item(world.product, "1", 1), None);

    let events = world.ledger.decide(&customer, body.clone()).unwrap();

    assert_eq!(types(&events), ["OrderPlaced"]);
    assert!(events[0].entries.is_empty(), "placing an order books nothing");
    let EventPayload::OrderPlaced(placed) = &events[0].payload else { panic!() };
    assert_eq!(
        (placed.order_id, placed.customer_id, placed.seller_id, placed.total, &placed.invite_code, &placed.salesperson),
        (id(400), world.customer, world.r2, amount("950.00"), &None, &None)
    );
    let item = &placed.items[0];
    assert_eq!(
        (item.product_id, item.supplier_id, item.list_amount, item.supplier_price, item.supplier_rate),
        (world.product, world.supplier, amount("1000.00"), amount("700.00"), rate("0.70"))
    );
    assert_eq!(
        waterfall(item),
        vec![
            row(world.platform, "0.80", RateSource::Reseller, "700.00", "800.00", "100.00"),
            row(world.r1, "0.88", RateSource::Reseller, "800.00", "880.00", "80.00"),
            row(world.r2, "0.95", RateSource::Customer, "880.00", "950.00", "70.00"),
        ]
    );
    world.ledger.given(&customer, body);
    let order = &world.ledger.state.orders[&id::<OrderId>(400)];
    assert_eq!(
        (order.status, order.total, order.paid),
        (OrderStatus::PendingPayment, amount("950.00"), amount("0.00"))
    );
    assert_sound(&world.ledger);
}

#[test]
fn place_order_sums_several_items_and_rounds_each_level_once() {
    let world = WorkedExample::new();
    let items = vec![
        OrderItemRequest { product_id: world.product, quantity: ledger_core::money::Quantity::whole(1), periods: 1 },
        OrderItemRequest {
            product_id: world.product,
            quantity: ledger_core::money::Quantity::parse("0.333").unwrap(),
            periods: 1,
        },
    ];
    let events = world.ledger.decide(&world.customer_actor, place(&world, 400, items, None)).unwrap();
    let EventPayload::OrderPlaced(placed) = &events[0].payload else { panic!() };
    // 333.00 list; 0.95 → 316.35, 0.88 → 293.04, 0.80 → 266.40, 0.70 → 233.10.
    assert_eq!(
        waterfall(&placed.items[1]),
        vec![
            row(world.platform, "0.80", RateSource::Reseller, "233.10", "266.40", "33.30"),
            row(world.r1, "0.88", RateSource::Reseller, "266.40", "293.04", "26.64"),
            row(world.r2, "0.95", RateSource::Customer, "293.04", "316.35", "23.31"),
        ]
    );
    assert_eq!(placed.total, amount("1266.35"));
}

#[test]
fn an_expired_customer_rate_falls_back_to_the_public_rate() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    world.ledger.given(
        &sales,
        CommandBody::Setup(SetupCommand::SetRate {
            book: world.r2,
            product_id: world.product,
            scope: RateScope::Customer(world.customer),
            rate: rate("0.95"),
            valid_from: None,
            valid_to: Some(date("2026-01-10")),
            approval_id: id(600),
        }),
    );
    let events =
        world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(world.product, "1", 1), None)).unwrap();
    let EventPayload::OrderPlaced(placed) = &events[0].payload else { panic!() };
    assert_eq!(waterfall(&placed.items[0])[2], row(world.r2, "0.98", RateSource::Public, "880.00", "980.00", "100.00"));
    assert_sound(&world.ledger);
}

#[test]
fn place_order_through_an_invite_code_takes_the_lower_promotion_rate_and_its_salesperson() {
    let mut world = WorkedExample::new();
    promotion_with_code(&mut world, "0.90", "2026-01-01", "2026-01-31", "JAN");
    let customer = world.customer_actor.clone();

    let events =
        world.ledger.decide(&customer, place(&world, 400, one_item(world.product, "1", 1), Some("JAN"))).unwrap();

    let EventPayload::OrderPlaced(placed) = &events[0].payload else { panic!() };
    assert_eq!(
        waterfall(&placed.items[0])[2],
        row(world.r2, "0.90", RateSource::Promotion, "880.00", "900.00", "20.00")
    );
    assert_eq!(placed.total, amount("900.00"));
    assert_eq!(placed.salesperson.as_deref(), Some("Li Lei"));
    assert_eq!(placed.invite_code.as_ref().map(|code| code.as_str()), Some("JAN"));

    world.ledger.given(&customer, place(&world, 400, one_item(world.product, "1", 1), Some("JAN")));
    world.recharge("900.00");
    let paid =
        world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id: id(400) })).unwrap();
    let EventPayload::OrderPaid(order_paid) = &paid[0].payload else { panic!() };
    assert_eq!(order_paid.salesperson.as_deref(), Some("Li Lei"));
    assert_eq!(
        book_lines(&paid, world.r2, &names(&world))[0],
        vec!["Dr 2203[C] 900.00", "Dr 6001.99 100.00", "Cr 6001 1000.00"]
    );
    assert_sound(&world.ledger);
}

#[test]
fn a_promotion_above_the_customer_rate_does_not_raise_the_price() {
    let mut world = WorkedExample::new();
    promotion_with_code(&mut world, "0.97", "2026-01-01", "2026-01-31", "JAN");
    let events = world
        .ledger
        .decide(&world.customer_actor, place(&world, 400, one_item(world.product, "1", 1), Some("JAN")))
        .unwrap();
    let EventPayload::OrderPlaced(placed) = &events[0].payload else { panic!() };
    assert_eq!(waterfall(&placed.items[0])[2].2, RateSource::Customer);
    assert_eq!(placed.total, amount("950.00"));
    assert_sound(&world.ledger);
}

#[test]
fn an_expired_promotion_through_an_invite_code_is_refused() {
    let mut world = WorkedExample::new();
    promotion_with_code(&mut world, "0.90", "2025-12-01", "2025-12-31", "XMAS");
    let error = refused(
        world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(world.product, "1", 1), Some("XMAS"))),
    );
    assert_eq!(
        error,
        DomainError::PromotionNotValid {
            code: "XMAS".into(),
            valid_from: date("2025-12-01"),
            valid_to: date("2025-12-31"),
            date: date("2026-01-15"),
        }
    );
    assert_eq!((error.code(), error.field()), ("promotion_not_valid", Some("invite_code")));
    assert_sound(&world.ledger);
}

#[test]
fn a_promotion_that_has_not_started_is_refused_too() {
    let mut world = WorkedExample::new();
    promotion_with_code(&mut world, "0.90", "2026-02-01", "2026-02-28", "FEB");
    let error = refused(
        world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(world.product, "1", 1), Some("FEB"))),
    );
    assert_eq!(error.code(), "promotion_not_valid");
    assert_sound(&world.ledger);
}

#[test]
fn an_invite_code_of_another_seller_is_refused() {
    let mut world = WorkedExample::new();
    let r1_admin = world.r1_admin.clone();
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::CreateInviteCode {
            code: InviteCode::try_from("R1CODE".to_owned()).unwrap(),
            book: world.r1,
            promotion_id: None,
            salesperson: None,
        }),
    );
    let error = refused(
        world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(world.product, "1", 1), Some("R1CODE"))),
    );
    assert_eq!(error, DomainError::InvalidInviteCode { code: "R1CODE".into() });
    let error = refused(
        world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(world.product, "1", 1), Some("NOPE"))),
    );
    assert_eq!(error.code(), "invalid_invite_code");
    assert_sound(&world.ledger);
}

/// Invite codes are unique within a book only: another book's code of the same text neither
/// stops a book from creating it nor is resolved for its customers.
#[test]
fn one_code_in_two_books_is_each_books_own_and_resolved_in_the_sellers_book() {
    let mut world = WorkedExample::new();
    let code = |book, salesperson: &str| {
        CommandBody::Setup(SetupCommand::CreateInviteCode {
            code: InviteCode::try_from("SPRING".to_owned()).unwrap(),
            book,
            promotion_id: None,
            salesperson: Some(salesperson.to_owned()),
        })
    };
    let (r1_admin, r2_sales) = (world.r1_admin.clone(), world.r2_sales.clone());
    world.ledger.given(&r1_admin, code(world.r1, "R1's Wang"));
    world.ledger.given(&r2_sales, code(world.r2, "R2's Li"));
    assert_eq!(refused(world.ledger.decide(&r2_sales, code(world.r2, "again"))).code(), "already_exists");

    let events = world
        .ledger
        .decide(&world.customer_actor, place(&world, 400, one_item(world.product, "1", 1), Some("SPRING")))
        .unwrap();
    let EventPayload::OrderPlaced(placed) = &events[0].payload else { panic!("{events:?}") };
    assert_eq!(placed.salesperson.as_deref(), Some("R2's Li"), "the code of the customer's seller");
    assert_sound(&world.ledger);
}

#[test]
fn no_price_without_a_public_rate_of_the_seller() {
    let mut world = WorkedExample::new();
    // A customer of R1, which sells P to R2 but has no public rate.
    let r1_admin = world.r1_admin.clone();
    let c1: OrgId = id(60);
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: c1,
            kind: OrgKind::Customer,
            name: "C1".into(),
            parent_id: world.r1,
            sale_mode: None,
        }),
    );
    let c1_actor = actor(c1, 6001, &[Role::Customer]);
    let body = CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: id(400),
        customer_id: c1,
        items: one_item(world.product, "1", 1),
        invite_code: None,
    });
    let error = refused(world.ledger.decide(&c1_actor, body));
    assert_eq!(
        error,
        DomainError::NoPrice {
            field: "items[0].product_id".into(),
            reason: "the seller has no valid public rate for the product".into(),
        }
    );
    assert_sound(&world.ledger);
}

#[test]
fn no_price_without_a_reseller_rate_up_the_chain() {
    let mut world = WorkedExample::new();
    let platform_admin = world.platform_admin.clone();
    let r2_admin = world.r2_admin.clone();
    let p2: ProductId = id(110);
    world.ledger.given(
        &platform_admin,
        CommandBody::Setup(SetupCommand::CreateProduct {
            product_id: p2,
            name: "Database".into(),
            supplier_id: world.supplier,
            list_price: UnitPrice::parse("500").unwrap(),
            unit: "month".into(),
            currency: None,
        }),
    );
    world.ledger.given(
        &platform_admin,
        CommandBody::Setup(SetupCommand::SetSupplierRate { product_id: p2, rate: rate("0.70") }),
    );
    world.ledger.given(
        &r2_admin,
        CommandBody::Setup(SetupCommand::SetRate {
            book: world.r2,
            product_id: p2,
            scope: RateScope::Public,
            rate: rate("0.98"),
            valid_from: None,
            valid_to: None,
            approval_id: id(600),
        }),
    );
    let error = refused(world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(p2, "1", 1), None)));
    assert_eq!(
        error,
        DomainError::NoPrice {
            field: "items[0].product_id".into(),
            reason: format!("org {} has no valid rate for reseller {}", world.platform, world.r1),
        }
    );
    // With the platform's rate to R1, R1's rate to R2 is still missing.
    world.ledger.given(
        &platform_admin,
        CommandBody::Setup(SetupCommand::SetRate {
            book: world.platform,
            product_id: p2,
            scope: RateScope::Reseller(world.r1),
            rate: rate("0.80"),
            valid_from: None,
            valid_to: None,
            approval_id: id(601),
        }),
    );
    let error = refused(world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(p2, "1", 1), None)));
    assert!(
        matches!(&error, DomainError::NoPrice { reason, .. } if reason.contains(&world.r1.to_string()) && reason.contains(&world.r2.to_string())),
        "{error:?}"
    );
    assert_sound(&world.ledger);
}

#[test]
fn no_price_without_a_supplier_rate() {
    let mut world = WorkedExample::new();
    let platform_admin = world.platform_admin.clone();
    world.ledger.given(
        &platform_admin,
        CommandBody::Setup(SetupCommand::CreateProduct {
            product_id: id(111),
            name: "Backup".into(),
            supplier_id: world.supplier,
            list_price: UnitPrice::parse("10").unwrap(),
            unit: "month".into(),
            currency: None,
        }),
    );
    let error =
        refused(world.ledger.decide(&world.customer_actor, place(&world, 400, one_item(id(111), "1", 1), None)));
    assert_eq!(
        error,
        DomainError::NoPrice { field: "items[0].product_id".into(), reason: "the product has no supplier rate".into() }
    );
    assert_sound(&world.ledger);
}

#[test]
fn place_order_refusals() {
    let mut world = WorkedExample::new();
    let customer = world.customer_actor.clone();
    let error = refused(world.ledger.decide(&customer, place(&world, 400, vec![], None)));
    assert_eq!(error.field(), Some("items"));
    let error = refused(world.ledger.decide(&customer, place(&world, 400, one_item(world.product, "1", 0), None)));
    assert_eq!(error.field(), Some("items[0].periods"));
    let error = refused(world.ledger.decide(&customer, place(&world, 400, one_item(id(999), "1", 1), None)));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("items[0].product_id")));
    world.ledger.given(&customer, place(&world, 400, one_item(world.product, "1", 1), None));
    assert_eq!(
        refused(world.ledger.decide(&customer, place(&world, 400, one_item(world.product, "1", 1), None))).code(),
        "already_exists"
    );
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- pay

#[test]
fn pay_order_books_the_sale_in_every_book_of_the_chain() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();

    let events = world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })).unwrap();

    assert_eq!(types(&events), ["OrderPaid"]);
    let EventPayload::OrderPaid(paid) = &events[0].payload else { panic!() };
    assert_eq!(
        (paid.order_id, paid.customer_id, paid.seller_id, paid.total),
        (order_id, world.customer, world.r2, amount("950.00"))
    );
    let names = names(&world);
    assert_eq!(
        book_lines(&events, world.r2, &names),
        vec![
            vec!["Dr 2203[C] 950.00", "Dr 6001.99 50.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 880.00", "Cr 2202[R1] 880.00"]
        ]
    );
    assert_eq!(
        book_lines(&events, world.r1, &names),
        vec![
            vec!["Dr 1122[R2] 880.00", "Dr 6001.99 120.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 800.00", "Cr 2202[platform] 800.00"]
        ]
    );
    assert_eq!(
        book_lines(&events, world.platform, &names),
        vec![
            vec!["Dr 1122[R1] 800.00", "Dr 6001.99 200.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 700.00", "Cr 2202[supplier] 700.00"]
        ]
    );
    assert_eq!(book_rules(&events, world.r2), ["sale/seller", "sale/cost_from_parent"]);
    assert_eq!(book_rules(&events, world.r1), ["sale/intermediate", "sale/cost_from_parent"]);
    assert_eq!(book_rules(&events, world.platform), ["sale/intermediate", "sale/cost_from_supplier"]);

    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    let order = &world.ledger.state.orders[&order_id];
    assert_eq!((order.status, order.paid), (OrderStatus::Paid, amount("950.00")));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("50.00"));
    assert_eq!(net(&world.ledger, world.r2, "6001").to_string(), "-1000.00");
    assert_sound(&world.ledger);
}

#[test]
fn pay_order_with_a_short_wallet_is_refused() {
    let mut world = WorkedExample::new();
    world.recharge("949.99");
    let order_id = world.place_order();
    let error =
        refused(world.ledger.decide(&world.customer_actor, CommandBody::Orders(OrderCommand::PayOrder { order_id })));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("949.99"), needed: amount("950.00") });
    assert_eq!(error.code(), "insufficient_balance");
    assert_sound(&world.ledger);
}

#[test]
fn pay_order_twice_is_refused() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "2000.00");
    let error =
        refused(world.ledger.decide(&world.customer_actor, CommandBody::Orders(OrderCommand::PayOrder { order_id })));
    assert_eq!(error, DomainError::OrderAlreadyPaid);
    assert_eq!(error.code(), "order_already_paid");
    // Still refused once fulfilled.
    let operations = operations(&world);
    world.ledger.given(&operations, fulfil(order_id, "2026-02-15"));
    assert_eq!(
        refused(world.ledger.decide(&world.customer_actor, CommandBody::Orders(OrderCommand::PayOrder { order_id })))
            .code(),
        "order_already_paid"
    );
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("1050.00"));
    assert_sound(&world.ledger);
}

#[test]
fn pay_a_cancelled_order_is_refused() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::CancelOrder { order_id }));
    let error = refused(world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })));
    assert_eq!(error, DomainError::OrderState { status: "cancelled", action: "pay" });
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- fulfil, cancel

#[test]
fn fulfil_order_records_the_subscription_end_and_books_nothing() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let operations = operations(&world);
    let events = world.ledger.decide(&operations, fulfil(order_id, "2026-02-15")).unwrap();
    assert_eq!(
        events,
        vec![Event::new(EventPayload::OrderFulfilled(OrderFulfilled {
            order_id,
            note: Some("ticket 42".into()),
            subscription_end: Some(date("2026-02-15")),
        }))]
    );
    world.ledger.given(&operations, fulfil(order_id, "2026-02-15"));
    let order = &world.ledger.state.orders[&order_id];
    assert_eq!((order.status, order.subscription_end), (OrderStatus::Fulfilled, Some(date("2026-02-15"))));
    assert_sound(&world.ledger);
}

#[test]
fn fulfil_order_refusals() {
    let mut world = WorkedExample::new();
    let order_id = world.place_order();
    let operations = operations(&world);
    let error = refused(world.ledger.decide(&operations, fulfil(order_id, "2026-02-15")));
    assert_eq!(error, DomainError::OrderState { status: "pending_payment", action: "fulfil" });
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, fulfil(order_id, "2026-02-15"))).code(), "forbidden");
    // The customer is no staff of the seller.
    assert_eq!(refused(world.ledger.decide(&world.customer_actor, fulfil(order_id, "2026-02-15"))).code(), "not_found");
    world.recharge("950.00");
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    world.ledger.given(&operations, fulfil(order_id, "2026-02-15"));
    let error = refused(world.ledger.decide(&operations, fulfil(order_id, "2026-02-15")));
    assert_eq!(error, DomainError::OrderState { status: "fulfilled", action: "fulfil" });
    assert_sound(&world.ledger);
}

#[test]
fn cancel_order_of_an_unpaid_order_books_nothing() {
    let mut world = WorkedExample::new();
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    let body = CommandBody::Orders(OrderCommand::CancelOrder { order_id });
    assert_eq!(
        world.ledger.decide(&customer, body.clone()).unwrap(),
        vec![Event::new(EventPayload::OrderCancelled(OrderCancelled { order_id, reason: CancelReason::ByCustomer }))]
    );
    world.ledger.given(&customer, body.clone());
    assert_eq!(
        refused(world.ledger.decide(&customer, body)),
        DomainError::OrderState { status: "cancelled", action: "cancel" },
        "a cancelled order stays cancelled"
    );
    // The seller's staff cancel too; the reason says who did.
    let other = world.place_order();
    let by_staff =
        world.ledger.decide(&world.r2_sales, CommandBody::Orders(OrderCommand::CancelOrder { order_id: other }));
    assert_eq!(
        by_staff.unwrap(),
        vec![Event::new(EventPayload::OrderCancelled(OrderCancelled {
            order_id: other,
            reason: CancelReason::ByAdmin
        }))]
    );
    assert_sound(&world.ledger);
}

#[test]
fn cancel_a_paid_order_is_refused() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let error = refused(
        world.ledger.decide(&world.customer_actor, CommandBody::Orders(OrderCommand::CancelOrder { order_id })),
    );
    assert_eq!(error, DomainError::OrderState { status: "paid", action: "cancel" });
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- refunds

#[test]
fn full_refund_with_a_penalty_reverses_every_book_and_keeps_the_penalty_in_the_seller() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let finance = world.r2_finance.clone();

    let events = world.ledger.decide(&finance, refund(order_id, "950.00", "50.00")).unwrap();

    assert_eq!(types(&events), ["OrderRefunded"]);
    assert_eq!(
        events[0].payload,
        EventPayload::OrderRefunded(OrderRefunded {
            order_id,
            customer_id: world.customer,
            seller_id: world.r2,
            amount: amount("950.00"),
            penalty: amount("50.00"),
            reason: "unsubscribe".into(),
            refunded_total: amount("950.00"),
            fully_refunded: true,
        })
    );
    let names = names(&world);
    assert_eq!(
        book_lines(&events, world.r2, &names),
        vec![
            vec!["Dr 6001 1000.00", "Cr 6001.99 50.00", "Cr 2203[C] 950.00", "Dr 2203[C] 50.00", "Cr 6051 50.00"],
            vec!["Dr 2202[R1] 880.00", "Cr 6401 880.00"],
        ]
    );
    assert_eq!(
        book_lines(&events, world.r1, &names),
        vec![
            vec!["Dr 6001 1000.00", "Cr 6001.99 120.00", "Cr 1122[R2] 880.00"],
            vec!["Dr 2202[platform] 800.00", "Cr 6401 800.00"],
        ]
    );
    assert_eq!(
        book_lines(&events, world.platform, &names),
        vec![
            vec!["Dr 6001 1000.00", "Cr 6001.99 200.00", "Cr 1122[R1] 800.00"],
            vec!["Dr 2202[supplier] 700.00", "Cr 6401 700.00"],
        ]
    );
    assert_eq!(book_rules(&events, world.r2), ["refund/seller", "refund/cost_from_parent"]);

    world.ledger.given(&finance, refund(order_id, "950.00", "50.00"));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("950.00"));
    assert_eq!(
        refused(world.ledger.decide(&finance, refund(order_id, "0.01", "0.00"))),
        DomainError::OrderState { status: "refunded", action: "refund" },
        "a refunded order takes no more refunds"
    );
    assert_eq!(non_zero_accounts(&world.ledger, world.r2), ["1002 1000.00", "2203 -950.00", "6051 -50.00"]);
    assert_eq!(non_zero_accounts(&world.ledger, world.r1), Vec::<String>::new());
    assert_eq!(non_zero_accounts(&world.ledger, world.platform), Vec::<String>::new());
    assert_sound(&world.ledger);
}

#[test]
fn refund_penalty_is_booked_to_other_income_in_the_seller_book_only() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let finance = world.r2_finance.clone();
    let events = world.ledger.decide(&finance, refund(order_id, "475.00", "25.00")).unwrap();
    let names = names(&world);
    assert_eq!(
        book_lines(&events, world.r2, &names)[0],
        vec!["Dr 6001 500.00", "Cr 6001.99 25.00", "Cr 2203[C] 475.00", "Dr 2203[C] 25.00", "Cr 6051 25.00"]
    );
    let elsewhere: Vec<String> = [world.r1, world.platform]
        .into_iter()
        .flat_map(|book| book_lines(&events, book, &names))
        .flatten()
        .filter(|line| line.contains("6051"))
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    world.ledger.given(&finance, refund(order_id, "475.00", "25.00"));
    assert_eq!(net(&world.ledger, world.r2, "6051").to_string(), "-25.00");
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("500.00"));
    let order = &world.ledger.state.orders[&order_id];
    assert_eq!((order.status, order.refunded), (OrderStatus::PartiallyRefunded, amount("475.00")));
    assert_sound(&world.ledger);
}

#[test]
fn partial_refunds_that_sum_to_the_whole_reverse_every_book_to_the_cent() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let finance = world.r2_finance.clone();
    let names = names(&world);

    // A third of 950.00, twice: each reverses its proportion of every share, rounded once.
    let first = world.ledger.decide(&finance, refund(order_id, "316.67", "0.00")).unwrap();
    assert_eq!(
        book_lines(&first, world.r2, &names),
        vec![
            vec!["Dr 6001 333.34", "Cr 6001.99 16.67", "Cr 2203[C] 316.67"],
            vec!["Dr 2202[R1] 293.34", "Cr 6401 293.34"],
        ]
    );
    assert_eq!(
        book_lines(&first, world.r1, &names),
        vec![
            vec!["Dr 6001 333.34", "Cr 6001.99 40.00", "Cr 1122[R2] 293.34"],
            vec!["Dr 2202[platform] 266.67", "Cr 6401 266.67"],
        ]
    );
    assert_eq!(
        book_lines(&first, world.platform, &names),
        vec![
            vec!["Dr 6001 333.34", "Cr 6001.99 66.67", "Cr 1122[R1] 266.67"],
            vec!["Dr 2202[supplier] 233.34", "Cr 6401 233.34"],
        ]
    );
    let EventPayload::OrderRefunded(refunded) = &first[0].payload else { panic!() };
    assert_eq!((refunded.refunded_total, refunded.fully_refunded), (amount("316.67"), false));
    world.ledger.given(&finance, refund(order_id, "316.67", "0.00"));
    world.ledger.given(&finance, refund(order_id, "316.67", "0.00"));

    // The last refund takes exactly what is left of each share. The refunds before it reversed
    // their proportion cumulatively (through the second: 666.67 of the 1000.00 list), so the
    // rounding is spread over the parts instead of piling up on the last.
    let last = world.ledger.decide(&finance, refund(order_id, "316.66", "0.00")).unwrap();
    assert_eq!(
        book_lines(&last, world.r2, &names),
        vec![
            vec!["Dr 6001 333.33", "Cr 6001.99 16.67", "Cr 2203[C] 316.66"],
            vec!["Dr 2202[R1] 293.33", "Cr 6401 293.33"],
        ]
    );
    assert_eq!(
        book_lines(&last, world.r1, &names),
        vec![
            vec!["Dr 6001 333.33", "Cr 6001.99 40.00", "Cr 1122[R2] 293.33"],
            vec!["Dr 2202[platform] 266.66", "Cr 6401 266.66"],
        ]
    );
    assert_eq!(
        book_lines(&last, world.platform, &names),
        vec![
            vec!["Dr 6001 333.33", "Cr 6001.99 66.67", "Cr 1122[R1] 266.66"],
            vec!["Dr 2202[supplier] 233.33", "Cr 6401 233.33"],
        ]
    );
    let EventPayload::OrderRefunded(refunded) = &last[0].payload else { panic!() };
    assert_eq!((refunded.refunded_total, refunded.fully_refunded), (amount("950.00"), true));
    world.ledger.given(&finance, refund(order_id, "316.66", "0.00"));

    // Only the wallet movements are left: the recharge in R2, nothing in R1 or the platform.
    assert_eq!(non_zero_accounts(&world.ledger, world.r2), ["1002 1000.00", "2203 -1000.00"]);
    assert_eq!(non_zero_accounts(&world.ledger, world.r1), Vec::<String>::new());
    assert_eq!(non_zero_accounts(&world.ledger, world.platform), Vec::<String>::new());
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("1000.00"));
    assert_eq!(
        refused(world.ledger.decide(&finance, refund(order_id, "0.01", "0.00"))),
        DomainError::OrderState { status: "refunded", action: "refund" },
        "a refunded order takes no more refunds"
    );
    assert_sound(&world.ledger);
}

#[test]
fn refund_above_what_was_paid_is_refused() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let finance = world.r2_finance.clone();
    let error = refused(world.ledger.decide(&finance, refund(order_id, "950.01", "0.00")));
    assert_eq!(error, DomainError::RefundExceedsPaid { requested: amount("950.01"), refundable: amount("950.00") });
    world.ledger.given(&finance, refund(order_id, "500.00", "0.00"));
    let error = refused(world.ledger.decide(&finance, refund(order_id, "451.00", "0.00")));
    assert_eq!(error, DomainError::RefundExceedsPaid { requested: amount("451.00"), refundable: amount("450.00") });
    assert_eq!((error.code(), error.field()), ("refund_exceeds_paid", Some("amount")));
    world.ledger.given(&finance, refund(order_id, "450.00", "0.00"));
    let error = refused(world.ledger.decide(&finance, refund(order_id, "0.01", "0.00")));
    assert_eq!(error, DomainError::OrderState { status: "refunded", action: "refund" });
    assert_sound(&world.ledger);
}

#[test]
fn refund_refusals() {
    let mut world = WorkedExample::new();
    let unpaid = world.place_order();
    let finance = world.r2_finance.clone();
    let error = refused(world.ledger.decide(&finance, refund(unpaid, "1.00", "0.00")));
    assert_eq!(error, DomainError::OrderState { status: "pending_payment", action: "refund" });
    let order_id = paid_order(&mut world, "1000.00");
    let error = refused(world.ledger.decide(&finance, refund(order_id, "10.00", "10.01")));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("penalty")));
    let error = refused(world.ledger.decide(&finance, refund(order_id, "0.00", "0.00")));
    assert_eq!(error, DomainError::InvalidAmount { field: "amount".into(), reason: MoneyError::Zero });
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, refund(order_id, "1.00", "0.00"))).code(), "forbidden");
    assert_eq!(
        refused(world.ledger.decide(&world.customer_actor, refund(order_id, "1.00", "0.00"))).code(),
        "not_found"
    );
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, refund(order_id, "1.00", "0.00"))).code(), "not_found");
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- usage

fn usage(world: &WorkedExample, usage: u128, quantity: &str) -> CommandBody {
    CommandBody::Orders(OrderCommand::ChargeUsage {
        usage_id: id(usage),
        customer_id: world.customer,
        product_id: world.product,
        quantity: ledger_core::money::Quantity::parse(quantity).unwrap(),
        period_from: date("2026-01-01"),
        period_to: date("2026-01-14"),
    })
}

#[test]
fn charge_usage_books_the_metered_amount_as_a_purchase() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let operations = operations(&world);

    let events = world.ledger.decide(&operations, usage(&world, 500, "0.5")).unwrap();

    assert_eq!(types(&events), ["UsageCharged"]);
    let EventPayload::UsageCharged(charged) = &events[0].payload else { panic!() };
    assert_eq!(
        (
            charged.usage_id,
            charged.customer_id,
            charged.seller_id,
            charged.total,
            charged.period_from,
            charged.period_to
        ),
        (id(500), world.customer, world.r2, amount("475.00"), date("2026-01-01"), date("2026-01-14"))
    );
    let names = names(&world);
    assert_eq!(
        book_lines(&events, world.r2, &names),
        vec![
            vec!["Dr 2203[C] 475.00", "Dr 6001.99 25.00", "Cr 6001 500.00"],
            vec!["Dr 6401 440.00", "Cr 2202[R1] 440.00"]
        ]
    );
    assert_eq!(
        book_lines(&events, world.r1, &names),
        vec![
            vec!["Dr 1122[R2] 440.00", "Dr 6001.99 60.00", "Cr 6001 500.00"],
            vec!["Dr 6401 400.00", "Cr 2202[platform] 400.00"]
        ]
    );
    assert_eq!(
        book_lines(&events, world.platform, &names),
        vec![
            vec!["Dr 1122[R1] 400.00", "Dr 6001.99 100.00", "Cr 6001 500.00"],
            vec!["Dr 6401 350.00", "Cr 2202[supplier] 350.00"]
        ]
    );
    assert!(events[0].entries.iter().all(|entry| entry.rule.id.starts_with("usage/")));

    world.ledger.given(&operations, usage(&world, 500, "0.5"));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("525.00"));
    assert_sound(&world.ledger);
}

#[test]
fn charge_usage_refusals() {
    let mut world = WorkedExample::new();
    world.recharge("500.00");
    let operations = operations(&world);
    let error = refused(world.ledger.decide(&operations, usage(&world, 500, "0.6")));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("500.00"), needed: amount("570.00") });
    let mut backwards = usage(&world, 500, "0.1");
    if let CommandBody::Orders(OrderCommand::ChargeUsage { period_to, .. }) = &mut backwards {
        *period_to = date("2025-12-31");
    }
    assert_eq!(refused(world.ledger.decide(&operations, backwards)).field(), Some("period_to"));
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, usage(&world, 500, "0.1"))).code(), "forbidden");
    world.ledger.given(&operations, usage(&world, 500, "0.1"));
    assert_eq!(refused(world.ledger.decide(&operations, usage(&world, 500, "0.1"))).code(), "already_exists");
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- renewals

fn renew(order_id: OrderId, renewal: u128, periods: u32, end: &str) -> CommandBody {
    CommandBody::Orders(OrderCommand::RenewSubscription {
        renewal_id: id(renewal),
        order_id,
        periods,
        new_end: date(end),
    })
}

#[test]
fn renew_subscription_books_the_new_periods_as_a_purchase() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "3000.00");
    let operations = operations(&world);
    world.ledger.given(&operations, fulfil(order_id, "2026-02-15"));
    let customer = world.customer_actor.clone();

    let events = world.ledger.decide(&customer, renew(order_id, 510, 2, "2026-04-15")).unwrap();

    assert_eq!(types(&events), ["SubscriptionRenewed"]);
    let EventPayload::SubscriptionRenewed(renewed) = &events[0].payload else { panic!() };
    assert_eq!(
        (renewed.renewal_id, renewed.order_id, renewed.customer_id, renewed.seller_id, renewed.total, renewed.new_end),
        (id(510), order_id, world.customer, world.r2, amount("1900.00"), date("2026-04-15"))
    );
    assert_eq!(renewed.renewed_by, customer.principal_id);
    assert_eq!(renewed.items[0].periods, 2);
    let names = names(&world);
    assert_eq!(
        book_lines(&events, world.r2, &names),
        vec![
            vec!["Dr 2203[C] 1900.00", "Dr 6001.99 100.00", "Cr 6001 2000.00"],
            vec!["Dr 6401 1760.00", "Cr 2202[R1] 1760.00"]
        ]
    );
    assert_eq!(
        book_lines(&events, world.r1, &names),
        vec![
            vec!["Dr 1122[R2] 1760.00", "Dr 6001.99 240.00", "Cr 6001 2000.00"],
            vec!["Dr 6401 1600.00", "Cr 2202[platform] 1600.00"]
        ]
    );
    assert_eq!(
        book_lines(&events, world.platform, &names),
        vec![
            vec!["Dr 1122[R1] 1600.00", "Dr 6001.99 400.00", "Cr 6001 2000.00"],
            vec!["Dr 6401 1400.00", "Cr 2202[supplier] 1400.00"]
        ]
    );
    assert!(events[0].entries.iter().all(|entry| entry.rule.id.starts_with("renewal/")));

    world.ledger.given(&customer, renew(order_id, 510, 2, "2026-04-15"));
    assert_eq!(world.ledger.state.orders[&order_id].subscription_end, Some(date("2026-04-15")));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("150.00"));
    // An admin renews for the customer too, and is recorded as the one who did.
    world.recharge("950.00");
    let by_admin = world.ledger.decide(&operations, renew(order_id, 511, 1, "2026-05-15")).unwrap();
    let EventPayload::SubscriptionRenewed(renewed) = &by_admin[0].payload else { panic!() };
    assert_eq!(renewed.renewed_by, operations.principal_id);
    assert_sound(&world.ledger);
}

#[test]
fn renew_subscription_refusals() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let customer = world.customer_actor.clone();
    let error = refused(world.ledger.decide(&customer, renew(order_id, 510, 1, "2026-04-15")));
    assert_eq!(error, DomainError::OrderState { status: "paid", action: "renew" });
    let operations = operations(&world);
    world.ledger.given(&operations, fulfil(order_id, "2026-02-15"));
    let error = refused(world.ledger.decide(&customer, renew(order_id, 510, 1, "2026-02-15")));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("new_end")));
    let error = refused(world.ledger.decide(&customer, renew(order_id, 510, 1, "2026-03-15")));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("50.00"), needed: amount("950.00") });
    world.recharge("950.00");
    world.ledger.given(&customer, renew(order_id, 510, 1, "2026-03-15"));
    assert_eq!(refused(world.ledger.decide(&customer, renew(order_id, 510, 1, "2026-04-15"))).code(), "already_exists");
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- rebate mode

#[test]
fn a_rebate_mode_reseller_sells_at_its_parents_price_and_earns_a_commission() {
    let mut world = WorkedExample::new();
    let r1_admin = world.r1_admin.clone();
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::SetSaleMode {
            reseller_id: world.r2,
            sale_mode: SaleMode::Rebate { commission_rate: rate("0.05") },
            effective_from: None,
        }),
    );
    world.recharge("1000.00");
    let order_id = world.place_order();
    let order = &world.ledger.state.orders[&order_id];
    // R2 passes R1's price to it on: no margin of its own, whatever its customer rates say.
    assert_eq!(waterfall(&order.items[0])[2], row(world.r2, "0.88", RateSource::Rebate, "880.00", "880.00", "0.00"));
    assert_eq!(order.total, amount("880.00"));
    let customer = world.customer_actor.clone();

    let events = world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })).unwrap();

    assert_eq!(types(&events), ["OrderPaid", "CommissionAccrued"]);
    let names = names(&world);
    assert_eq!(
        book_lines(&events[..1], world.r2, &names),
        vec![
            vec!["Dr 2203[C] 880.00", "Dr 6001.99 120.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 880.00", "Cr 2202[R1] 880.00"]
        ]
    );
    assert_eq!(
        events[1].payload,
        EventPayload::CommissionAccrued(CommissionAccrued {
            source_id: order_id.0,
            payer_id: world.r1,
            reseller_id: world.r2,
            base: amount("880.00"),
            rate: rate("0.05"),
            amount: amount("44.00"),
        })
    );
    assert_eq!(book_lines(&events[1..], world.r1, &names), vec![vec!["Dr 6601 44.00", "Cr 2202[R2] 44.00"]]);
    assert_eq!(book_lines(&events[1..], world.r2, &names), vec![vec!["Dr 1122[R1] 44.00", "Cr 6051 44.00"]]);
    assert_eq!(book_rules(&events[1..], world.r1), ["commission/payer"]);
    assert_eq!(book_rules(&events[1..], world.r2), ["commission/earner"]);
    let pair_of = |book: OrgId, account: &str| {
        events[1]
            .entries
            .iter()
            .filter(|entry| entry.book == book)
            .flat_map(|entry| &entry.lines)
            .find(|line| line.account.as_str() == account)
            .and_then(|line| line.pair)
    };
    assert!(pair_of(world.r1, "2202").is_some());
    assert_eq!(pair_of(world.r1, "2202"), pair_of(world.r2, "1122"));

    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("120.00"));
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- a reseller's own supplier

#[test]
fn a_product_of_a_resellers_own_supplier_is_sold_without_the_platform() {
    let mut world = WorkedExample::new();
    let r1_admin = world.r1_admin.clone();
    let r2_admin = world.r2_admin.clone();
    let s2: OrgId = id(50);
    let cdn: ProductId = id(102);
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: s2,
            kind: OrgKind::Supplier,
            name: "S2".into(),
            parent_id: world.r1,
            sale_mode: None,
        }),
    );
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::CreateProduct {
            product_id: cdn,
            name: "CDN".into(),
            supplier_id: s2,
            list_price: UnitPrice::parse("200").unwrap(),
            unit: "month".into(),
            currency: None,
        }),
    );
    world
        .ledger
        .given(&r1_admin, CommandBody::Setup(SetupCommand::SetSupplierRate { product_id: cdn, rate: rate("0.6") }));
    let set = |scope, value: &str, book| {
        CommandBody::Setup(SetupCommand::SetRate {
            book,
            product_id: cdn,
            scope,
            rate: rate(value),
            valid_from: None,
            valid_to: None,
            approval_id: id(600),
        })
    };
    world.ledger.given(&r1_admin, set(RateScope::Reseller(world.r2), "0.9", world.r1));
    world.ledger.given(&r2_admin, set(RateScope::Public, "0.95", world.r2));
    world.recharge("190.00");
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, place(&world, 400, one_item(cdn, "1", 1), None));

    let events =
        world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id: id(400) })).unwrap();

    let mut names = names(&world);
    names.push((s2, "S2"));
    assert_eq!(
        book_lines(&events, world.r2, &names),
        vec![
            vec!["Dr 2203[C] 190.00", "Dr 6001.99 10.00", "Cr 6001 200.00"],
            vec!["Dr 6401 180.00", "Cr 2202[R1] 180.00"]
        ]
    );
    assert_eq!(
        book_lines(&events, world.r1, &names),
        vec![
            vec!["Dr 1122[R2] 180.00", "Dr 6001.99 20.00", "Cr 6001 200.00"],
            vec!["Dr 6401 120.00", "Cr 2202[S2] 120.00"]
        ]
    );
    assert_eq!(book_lines(&events, world.platform, &names), Vec::<Vec<String>>::new());
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id: id(400) }));
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- tenants and roles

#[test]
fn another_reseller_gets_not_found_for_the_customer_order_and_book_of_a_reseller() {
    let mut world = WorkedExample::new();
    let sibling = sibling(&mut world);
    let order_id = paid_order(&mut world, "1000.00");
    let r3 = &sibling.r3_admin;
    let not_found = |body: CommandBody| refused(world.ledger.decide(r3, body));

    assert_eq!(
        not_found(place(&world, 401, one_item(world.product, "1", 1), None)),
        DomainError::NotFound { what: "customer", id: world.customer.to_string() }
    );
    assert_eq!(
        not_found(CommandBody::Money(MoneyCommand::GrantCoupon {
            approval_id: id(9900011),
            customer_id: world.customer,
            amount: amount("1.00"),
            reason: "x".into(),
            expires_on: None,
        })),
        DomainError::NotFound { what: "customer", id: world.customer.to_string() }
    );
    let order_missing = DomainError::NotFound { what: "order", id: order_id.to_string() };
    assert_eq!(not_found(CommandBody::Orders(OrderCommand::PayOrder { order_id })), order_missing);
    assert_eq!(not_found(refund(order_id, "1.00", "0.00")), order_missing);
    assert_eq!(not_found(fulfil(order_id, "2026-02-15")), order_missing);
    assert_eq!(not_found(CommandBody::Orders(OrderCommand::CancelOrder { order_id })), order_missing);
    let book_missing = DomainError::NotFound { what: "book", id: world.r2.to_string() };
    assert_eq!(
        not_found(CommandBody::Setup(SetupCommand::OpenAccount {
            book: world.r2,
            code: "6602".into(),
            name: "x".into(),
            account_type: ledger_core::chart::AccountType::Expense,
        })),
        book_missing
    );
    assert_eq!(
        not_found(CommandBody::Settlement(SettlementCommand::ClosePeriod {
            book: world.r2,
            through: date("2026-01-10")
        })),
        book_missing
    );
    assert_eq!(
        not_found(CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
            settlement_id: id(900),
            book: world.r1,
            counterparty_id: world.r2,
            from: date("2026-01-01"),
            to: date("2026-01-31"),
        })),
        DomainError::NotFound { what: "book", id: world.r1.to_string() }
    );
    // The other way round: R2's staff and customers cannot reach R3's customer.
    let body = CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: id(402),
        customer_id: sibling.r3_customer,
        items: one_item(world.product, "1", 1),
        invite_code: None,
    });
    assert_eq!(refused(world.ledger.decide(&world.r2_admin, body.clone())).code(), "not_found");
    assert_eq!(refused(world.ledger.decide(&world.customer_actor, body)).code(), "not_found");
    // A customer of R3 cannot pay C's order.
    let r3_customer = actor(sibling.r3_customer, 31_001, &[Role::Customer]);
    assert_eq!(
        refused(world.ledger.decide(&r3_customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }))).code(),
        "not_found"
    );
    assert_sound(&world.ledger);
}

#[test]
fn a_wrong_role_is_forbidden() {
    let mut world = WorkedExample::new();
    let order_id = world.place_order();
    let operations = operations(&world);
    // Operations places no orders for customers; sales fulfils none.
    let error = refused(world.ledger.decide(&operations, place(&world, 401, one_item(world.product, "1", 1), None)));
    assert_eq!(error.code(), "forbidden");
    assert_eq!(error.class(), ledger_core::ErrorClass::Forbidden);
    // Someone of the customer's org without the customer role.
    let customer_viewer = actor(world.customer, 5002, &[Role::Operations]);
    assert_eq!(
        refused(world.ledger.decide(&customer_viewer, CommandBody::Orders(OrderCommand::PayOrder { order_id }))).code(),
        "forbidden"
    );
    // Operations pays no orders for customers.
    assert_eq!(
        refused(world.ledger.decide(&operations, CommandBody::Orders(OrderCommand::PayOrder { order_id }))).code(),
        "forbidden"
    );
    world.recharge("1000.00");
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, fulfil(order_id, "2026-02-15"))).code(), "forbidden");
    assert_sound(&world.ledger);
}

// ------------------------------------------------ refunds of rebate sales, partial refunds

fn rebate_sale(world: &mut WorkedExample) -> ledger_core::ids::OrderId {
    let r1_admin = world.r1_admin.clone();
    let rebate = SaleMode::Rebate { commission_rate: rate("0.05") };
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::SetSaleMode {
            reseller_id: world.r2,
            sale_mode: rebate,
            effective_from: None,
        }),
    );
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    order_id
}

#[test]
fn a_refund_takes_back_its_share_of_the_rebate_commission() {
    let mut world = WorkedExample::new();
    let order_id = rebate_sale(&mut world);
    let finance = world.r2_finance.clone();
    let refund = |value: &str| {
        CommandBody::Orders(OrderCommand::RefundOrder {
            approval_id: id(9900010),
            order_id,
            amount: amount(value),
            penalty: ledger_core::money::Amount::ZERO,
            reason: "unsubscribed".into(),
        })
    };

    let events = world.ledger.decide(&finance, refund("220.00")).unwrap();

    assert_eq!(types(&events), ["OrderRefunded", "CommissionReversed"]);
    let names = names(&world);
    // A quarter of 880.00 refunded: a quarter of the 44.00 commission, 11.00, goes back: the
    // commission rule with its amount negated, so each line keeps its place and changes side.
    assert_eq!(book_lines(&events[1..], world.r1, &names), vec![vec!["Cr 6601 11.00", "Dr 2202[R2] 11.00"]]);
    assert_eq!(book_lines(&events[1..], world.r2, &names), vec![vec!["Cr 1122[R1] 11.00", "Dr 6051 11.00"]]);

    world.ledger.given(&finance, refund("220.00"));
    world.ledger.given(&finance, refund("220.00"));
    world.ledger.given(&finance, refund("440.00"));
    // Refunded in full: the commission is gone from both books, to the cent.
    assert_eq!(net(&world.ledger, world.r1, "6601"), ledger_core::money::SignedAmount::ZERO);
    assert_eq!(net(&world.ledger, world.r1, "2202"), ledger_core::money::SignedAmount::ZERO);
    assert_eq!(net(&world.ledger, world.r2, "6051"), ledger_core::money::SignedAmount::ZERO);
    assert_eq!(net(&world.ledger, world.r2, "1122"), ledger_core::money::SignedAmount::ZERO);
    assert_sound(&world.ledger);
}

#[test]
fn a_partly_refunded_order_can_still_be_fulfilled_and_renewed() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "3000.00");
    let finance = world.r2_finance.clone();
    let refund = CommandBody::Orders(OrderCommand::RefundOrder {
        approval_id: id(9900009),
        order_id,
        amount: amount("100.00"),
        penalty: ledger_core::money::Amount::ZERO,
        reason: "downgrade".into(),
    });
    world.ledger.given(&finance, refund);
    let operations = operations(&world);
    let fulfil = CommandBody::Orders(OrderCommand::FulfilOrder {
        order_id,
        note: None,
        subscription_end: Some(date("2026-02-15")),
    });
    world.ledger.given(&operations, fulfil.clone());
    assert_eq!(refused(world.ledger.decide(&operations, fulfil)).code(), "order_state", "fulfilled once only");
    let renew = CommandBody::Orders(OrderCommand::RenewSubscription {
        renewal_id: ledger_core::testing::id(4242),
        order_id,
        periods: 1,
        new_end: date("2026-03-15"),
    });
    let customer = world.customer_actor.clone();
    assert_eq!(types(&world.ledger.decide(&customer, renew).unwrap()), ["SubscriptionRenewed"]);
    assert_sound(&world.ledger);
}

#[test]
fn usage_is_metered_by_the_seller_not_by_the_customer() {
    let mut world = WorkedExample::new();
    world.recharge("500.00");
    let customer = world.customer_actor.clone();
    assert_eq!(refused(world.ledger.decide(&customer, usage(&world, 500, "0.1"))).code(), "forbidden");
}
