//! Given/when/then tests of money in more than one currency (issue 12): a book's exchange rates
//! with their source and date, products priced in their supplier's currency, and orders that
//! convert at the owner's rate of their date and keep it. The world is DESIGN §2.5's (books in
//! CNY); product U is priced in USD at 100.00 with the same rates along the chain: supplier
//! 0.70, platform → R1 0.80, R1 → R2 0.88, R2's public rate 0.98 and C's customer rate 0.95.

mod common;

use common::*;
use ledger_core::event::*;
use ledger_core::ids::{OrderId, ProductId};
use ledger_core::money::{Amount, Currency, ExchangeRate, SignedAmount, UnitPrice};
use ledger_core::org::Role;
use ledger_core::pricing::{ItemExchange, PricedItem, RateScope};
use ledger_core::testing::{amount, date, id, rate, WorkedExample};
use ledger_core::{ApprovalCommand, CommandBody, OrderCommand, RegistryCommand, SettlementCommand, SetupCommand};

fn usd_rate(world: &WorkedExample, value: &str, from: &str) -> CommandBody {
    CommandBody::Setup(SetupCommand::SetExchangeRate {
        book: world.platform,
        currency: Currency::USD,
        rate: ExchangeRate::parse(value).unwrap(),
        source: "PBOC central parity".into(),
        effective_from: date(from),
    })
}

fn create_product(world: &WorkedExample, product: ProductId, currency: Option<Currency>) -> CommandBody {
    CommandBody::Setup(SetupCommand::CreateProduct {
        product_id: product,
        name: "GPU server (US)".into(),
        supplier_id: world.supplier,
        list_price: UnitPrice::parse("100.00").unwrap(),
        unit: "month".into(),
        currency,
    })
}

/// Product U, in USD, sold along the worked example's chain at its rates.
fn product_in_usd(world: &mut WorkedExample) -> ProductId {
    let product = id(600);
    let platform = world.platform_admin.clone();
    world.ledger.given(&platform, create_product(world, product, Some(Currency::USD)));
    let supplier_rate = SetupCommand::SetSupplierRate { product_id: product, rate: rate("0.70") };
    world.ledger.given(&platform, CommandBody::Setup(supplier_rate));
    let rates = [
        (world.platform_admin.clone(), world.platform, RateScope::Reseller(world.r1), "0.80"),
        (world.r1_admin.clone(), world.r1, RateScope::Reseller(world.r2), "0.88"),
        (world.r2_admin.clone(), world.r2, RateScope::Public, "0.98"),
        (world.r2_admin.clone(), world.r2, RateScope::Customer(world.customer), "0.95"),
    ];
    for (index, (by, book, scope, value)) in rates.into_iter().enumerate() {
        let body = SetupCommand::SetRate {
            book,
            product_id: product,
            scope,
            rate: rate(value),
            valid_from: None,
            valid_to: None,
            approval_id: id(9_600 + index as u128),
        };
        world.ledger.given(&by, CommandBody::Setup(body));
    }
    product
}

fn place(world: &WorkedExample, order: OrderId, product: ProductId) -> CommandBody {
    CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: order,
        customer_id: world.customer,
        items: one_item(product, "1", 1),
        invite_code: None,
    })
}

fn placed_item(events: &[Event]) -> PricedItem {
    match &events[0].payload {
        EventPayload::OrderPlaced(placed) => placed.items[0].clone(),
        other => panic!("not an order placed: {other:?}"),
    }
}

/// `(org, cost, price)` of each level, top first.
fn levels(item: &PricedItem) -> Vec<(String, String)> {
    item.levels.iter().map(|level| (level.cost.to_string(), level.price.to_string())).collect()
}

#[test]
fn a_books_finance_sets_an_exchange_rate_with_its_source_and_date() {
    let world = WorkedExample::new();
    let events = world.ledger.decide(&world.platform_finance, usd_rate(&world, "7.1", "2026-01-01")).unwrap();
    assert_eq!(
        events,
        vec![Event::new(EventPayload::ExchangeRateSet(ExchangeRateSet {
            book: world.platform,
            currency: Currency::USD,
            rate: ExchangeRate::parse("7.10").unwrap(),
            source: "PBOC central parity".into(),
            effective_from: date("2026-01-01"),
        }))]
    );
    assert_eq!(events[0].entries, Vec::new(), "a rate books nothing");
}

#[test]
fn an_exchange_rate_is_refused_for_the_books_own_currency_without_a_source_or_by_sales() {
    let world = WorkedExample::new();
    let cny = CommandBody::Setup(SetupCommand::SetExchangeRate {
        book: world.platform,
        currency: Currency::CNY,
        rate: ExchangeRate::parse("1").unwrap(),
        source: "bank".into(),
        effective_from: date("2026-01-01"),
    });
    let error = refused(world.ledger.decide(&world.platform_finance, cny));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("currency")));
    let no_source = CommandBody::Setup(SetupCommand::SetExchangeRate {
        book: world.platform,
        currency: Currency::USD,
        rate: ExchangeRate::parse("7.1").unwrap(),
        source: " ".into(),
        effective_from: date("2026-01-01"),
    });
    let error = refused(world.ledger.decide(&world.platform_finance, no_source));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("source")));
    // Sales set prices, not exchange rates; and R2's finance keeps R2's book, not the platform's.
    let sales = staff(world.platform, 1090, &[Role::Sales]);
    assert_eq!(refused(world.ledger.decide(&sales, usd_rate(&world, "7.1", "2026-01-01"))).code(), "forbidden");
    let r2_finance = world.r2_finance.clone();
    assert_eq!(refused(world.ledger.decide(&r2_finance, usd_rate(&world, "7.1", "2026-01-01"))).code(), "not_found");
}

#[test]
fn a_product_is_priced_in_the_currency_named_else_its_supplier_agreements() {
    let mut world = WorkedExample::new();
    let platform = world.platform_admin.clone();
    // Named: USD. The book's own currency is not written down.
    let events = world.ledger.decide(&platform, create_product(&world, id(600), Some(Currency::USD))).unwrap();
    let EventPayload::ProductCreated(created) = &events[0].payload else { panic!("{events:?}") };
    assert_eq!(created.currency, Some(Currency::USD));
    let events = world.ledger.decide(&platform, create_product(&world, id(601), Some(Currency::CNY))).unwrap();
    let EventPayload::ProductCreated(created) = &events[0].payload else { panic!("{events:?}") };
    assert_eq!(created.currency, None);
    // Not named: the supplier agreement's currency.
    let terms = SupplierTerms {
        method: SettlementMethod::Postpaid,
        cycle: CycleEvery::Month,
        currency: Currency::HKD,
        payment_days: 30,
    };
    let body = RegistryCommand::SetSupplierTerms { supplier_id: world.supplier, terms };
    world.ledger.given(&platform, CommandBody::Registry(body));
    let events = world.ledger.decide(&platform, create_product(&world, id(602), None)).unwrap();
    let EventPayload::ProductCreated(created) = &events[0].payload else { panic!("{events:?}") };
    assert_eq!(created.currency, Some(Currency::HKD));
}

#[test]
fn an_order_converts_at_the_owners_rate_of_its_date_and_keeps_it() {
    let mut world = WorkedExample::new();
    let finance = world.platform_finance.clone();
    world.ledger.given(&finance, usd_rate(&world, "7.1", "2026-01-01"));
    // A later rate, from a date after the order's: not this order's.
    world.ledger.given(&finance, usd_rate(&world, "7.3", "2026-02-01"));
    let product = product_in_usd(&mut world);
    let customer = world.customer_actor.clone();

    let events = world.ledger.decide(&customer, place(&world, id(700), product)).unwrap();
    let item = placed_item(&events);
    // USD 100.00 at 7.10 is CNY 710.00 a unit; every level prices from it as from a CNY list.
    assert_eq!(item.list_price, UnitPrice::parse("710").unwrap());
    assert_eq!(item.list_amount, amount("710.00"));
    assert_eq!(item.supplier_price, amount("497.00"));
    assert_eq!(
        levels(&item),
        [("497.00", "568.00"), ("568.00", "624.80"), ("624.80", "674.50")].map(|(c, p)| (c.into(), p.into()))
    );
    assert_eq!(
        item.exchange,
        Some(ItemExchange {
            currency: Currency::USD,
            list_price: UnitPrice::parse("100").unwrap(),
            rate: ExchangeRate::parse("7.1").unwrap(),
            source: "PBOC central parity".into(),
            rate_date: date("2026-01-01"),
        })
    );
    world.ledger.given(&customer, place(&world, id(700), product));

    // A new rate from the order's own date: orders after it convert at it, the one placed keeps
    // its price, and is paid at it.
    world.ledger.given(&finance, usd_rate(&world, "7.2", "2026-01-15"));
    let later = placed_item(&world.ledger.decide(&customer, place(&world, id(701), product)).unwrap());
    assert_eq!((later.list_amount, later.customer_price()), (amount("720.00"), amount("684.00")));
    assert_eq!(later.exchange.as_ref().map(|exchange| exchange.rate_date), Some(date("2026-01-15")));
    world.recharge("1000.00");
    let pay = CommandBody::Orders(OrderCommand::PayOrder { order_id: id(700) });
    let paid = world.ledger.decide(&customer, pay).unwrap();
    let EventPayload::OrderPaid(order) = &paid[0].payload else { panic!("{paid:?}") };
    assert_eq!(order.total, amount("674.50"));
    let names = names(&world);
    assert_eq!(
        book_lines(&paid, world.platform, &names),
        vec![
            vec!["Dr 1122[R1] 568.00", "Dr 6001.99 142.00", "Cr 6001 710.00"],
            vec!["Dr 6401 497.00", "Cr 2202[supplier] 497.00"]
        ]
    );
    assert_sound(&world.ledger);
}

#[test]
fn an_order_without_a_rate_on_its_date_is_refused() {
    let mut world = WorkedExample::new();
    let product = product_in_usd(&mut world);
    let customer = world.customer_actor.clone();
    let error = refused(world.ledger.decide(&customer, place(&world, id(700), product)));
    assert_eq!(error.code(), "exchange_rate_missing");
    assert!(error.to_string().contains("no USD rate on or before 2026-01-15"), "{error}");
    // A rate from a later date does not price today's order either.
    let finance = world.platform_finance.clone();
    world.ledger.given(&finance, usd_rate(&world, "7.1", "2026-01-16"));
    let error = refused(world.ledger.decide(&customer, place(&world, id(700), product)));
    assert_eq!(error.code(), "exchange_rate_missing");
}

#[test]
fn a_book_keeps_one_currency_replay_refuses_an_entry_in_another() {
    let mut world = WorkedExample::new();
    world.recharge("950.00");
    assert_eq!(ledger_core::log::replay(&world.ledger.log).unwrap(), world.ledger.state);
    // The recharge's entry, forged into USD in R2's CNY book, and the chain sealed again.
    let target = world.ledger.log.len() - 1;
    let mut forged = world.ledger.log.clone();
    let mut staged = forged[target].clone();
    assert_eq!(staged.event.entries[0].currency, Currency::CNY);
    staged.event.entries[0].currency = Currency::USD;
    staged.prev_hash.clear();
    staged.hash.clear();
    forged[target] = ledger_core::log::ChainHead::after(&forged[target - 1]).seal(staged).event;
    let error = ledger_core::log::replay(&forged).unwrap_err();
    assert!(matches!(error, ledger_core::log::ReplayError::Inconsistent { .. }), "{error}");
    assert!(error.to_string().contains("is in USD but book"), "{error}");
}

fn statement(world: &WorkedExample, settlement: u128, from: &str, to: &str) -> CommandBody {
    CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id: id(settlement),
        book: world.platform,
        counterparty_id: world.supplier,
        from: date(from),
        to: date(to),
    })
}

fn pay(settlement: u128, approval: u128) -> CommandBody {
    CommandBody::Settlement(SettlementCommand::PaySettlement {
        settlement_id: id(settlement),
        approval_id: id(approval),
    })
}

fn grant(approval: u128) -> CommandBody {
    CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(approval), grant: true, comment: None })
}

/// Product U bought twice in January at 7.10 (USD 70.00 owed to the supplier each, booked at
/// CNY 497.00), the second refunded by half; the supplier's January statement then owes USD
/// 105.00 booked at CNY 745.50, and is paid in February at the rate of the day.
fn january_in_usd(world: &mut WorkedExample) {
    let finance = world.platform_finance.clone();
    world.ledger.given(&finance, usd_rate(world, "7.1", "2026-01-01"));
    let product = product_in_usd(world);
    world.recharge("2000.00");
    let customer = world.customer_actor.clone();
    for order in [700, 701] {
        world.ledger.given(&customer, place(world, id(order), product));
        world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id: id(order) }));
    }
    // Half of the second order back: its cost is reversed by half, in both currencies.
    let refund = OrderCommand::RefundOrder {
        order_id: id(701),
        amount: amount("337.25"),
        penalty: Amount::ZERO,
        reason: "half".into(),
        approval_id: id(7010),
    };
    let r2_finance = world.r2_finance.clone();
    world.ledger.given(&r2_finance, CommandBody::Orders(refund));
}

#[test]
fn a_supplier_paid_at_another_days_rate_books_the_exchange_difference() {
    let mut world = WorkedExample::new();
    january_in_usd(&mut world);
    let (finance, admin) = (world.platform_finance.clone(), world.platform_admin.clone());
    world.ledger.today = date("2026-02-03");
    world.ledger.given(&finance, usd_rate(&world, "7.2", "2026-02-01"));
    world.ledger.given(&finance, statement(&world, 900, "2026-01-01", "2026-01-31"));
    world.ledger.given(&finance, pay(900, 910));
    let granted = world.ledger.decide(&admin, grant(910)).unwrap();
    assert_eq!(types(&granted), ["ApprovalGranted", "AccountOpened", "SettlementPaid"]);
    let EventPayload::SettlementPaid(paid) = &granted[2].payload else { panic!("{granted:?}") };
    assert_eq!(paid.payable, SignedAmount::from(amount("745.50")));
    // USD 105.00 at 7.20 is CNY 756.00: 10.50 more than booked, an exchange loss.
    assert_eq!(
        paid.exchange,
        vec![SettlementExchange {
            currency: Currency::USD,
            owed: SignedAmount::from(amount("105.00")),
            booked: SignedAmount::from(amount("745.50")),
            rate: ExchangeRate::parse("7.2").unwrap(),
            source: "PBOC central parity".into(),
            rate_date: date("2026-02-01"),
            paid: SignedAmount::from(amount("756.00")),
            difference: SignedAmount::from(amount("10.50")),
        }]
    );
    let names = names(&world);
    assert_eq!(
        book_lines(&granted, world.platform, &names),
        vec![vec!["Cr 1002 745.50", "Dr 2202[supplier] 745.50"], vec!["Dr 6603 10.50", "Cr 1002 10.50"]]
    );
    assert_eq!(book_rules(&granted, world.platform), ["settlement/issuer", "settlement.exchange/issuer"]);
    world.ledger.execute(&admin, grant(910)).unwrap();
    assert_eq!(net(&world.ledger, world.platform, "2202"), SignedAmount::ZERO);
    assert_eq!(net(&world.ledger, world.platform, "6603"), SignedAmount::from(amount("10.50")));
    assert_sound(&world.ledger);
}

#[test]
fn a_rate_that_fell_books_a_gain_and_no_rate_keeps_the_payment_waiting() {
    let mut world = WorkedExample::new();
    january_in_usd(&mut world);
    let (finance, admin) = (world.platform_finance.clone(), world.platform_admin.clone());
    world.ledger.today = date("2026-02-03");
    world.ledger.given(&finance, statement(&world, 900, "2026-01-01", "2026-01-31"));
    // The January rate is still the latest: paid at it, the difference is nil.
    world.ledger.given(&finance, pay(900, 910));
    // A lower rate from the day of the grant on: USD 105.00 at 7.00 is CNY 735.00, a gain of 10.50.
    world.ledger.given(&finance, usd_rate(&world, "7", "2026-02-03"));
    let granted = world.ledger.decide(&admin, grant(910)).unwrap();
    let names = names(&world);
    assert_eq!(
        book_lines(&granted, world.platform, &names),
        vec![vec!["Cr 1002 745.50", "Dr 2202[supplier] 745.50"], vec!["Cr 6603 10.50", "Dr 1002 10.50"]]
    );

    // Another book's supplier statement in USD, with no USD rate at all: asked to pay, refused.
    let mut world = WorkedExample::new();
    january_in_usd(&mut world);
    let mut rates = world.ledger.state.exchange_rates.clone();
    rates.clear();
    world.ledger.state.exchange_rates = rates;
    world.ledger.today = date("2026-02-03");
    let finance = world.platform_finance.clone();
    world.ledger.given(&finance, statement(&world, 900, "2026-01-01", "2026-01-31"));
    let error = refused(world.ledger.decide(&finance, pay(900, 910)));
    assert_eq!(error.code(), "exchange_rate_missing");
}

#[test]
fn the_same_rate_at_payment_books_no_difference_and_no_account() {
    let mut world = WorkedExample::new();
    january_in_usd(&mut world);
    let (finance, admin) = (world.platform_finance.clone(), world.platform_admin.clone());
    world.ledger.today = date("2026-02-03");
    world.ledger.given(&finance, statement(&world, 900, "2026-01-01", "2026-01-31"));
    world.ledger.given(&finance, pay(900, 910));
    let granted = world.ledger.decide(&admin, grant(910)).unwrap();
    assert_eq!(types(&granted), ["ApprovalGranted", "SettlementPaid"]);
    let EventPayload::SettlementPaid(paid) = &granted[1].payload else { panic!("{granted:?}") };
    assert_eq!(paid.exchange[0].difference, SignedAmount::ZERO);
    assert_eq!(paid.exchange[0].paid, SignedAmount::from(amount("745.50")));
    assert_eq!(book_rules(&granted, world.platform), ["settlement/issuer"]);
}
