//! Shared helpers of the decider tests: entries rendered the way finance reads them
//! (`Dr 2203[C] 950.00`), error codes, and the invariant check every multi-step test ends with.

#![allow(dead_code)]

use ledger_core::chart::{codes, AccountCode, Side};
use ledger_core::command::OrderItemRequest;
use ledger_core::event::{Event, RecordedEvent};
use ledger_core::ids::{OrgId, ProductId, RechargeId, TradeNumber};
use ledger_core::journal::Entry;
use ledger_core::money::{Amount, Quantity, SignedAmount};
use ledger_core::org::{Actor, Role};
use ledger_core::testing::{actor, amount, id, MemoryLedger, WorkedExample};
use ledger_core::{CommandBody, DomainError};
use ledger_core::{MoneyCommand, OrderCommand, SetupCommand};

/// Short names of the worked example's orgs, for rendering parties.
pub fn names(world: &WorkedExample) -> Vec<(OrgId, &'static str)> {
    vec![
        (world.customer, "C"),
        (world.r1, "R1"),
        (world.r2, "R2"),
        (world.platform, "platform"),
        (world.supplier, "supplier"),
    ]
}

/// One entry as `Dr 2203[C] 950.00` strings, in booking order.
pub fn render(entry: &Entry, names: &[(OrgId, &str)]) -> Vec<String> {
    entry
        .lines
        .iter()
        .map(|line| {
            let side = if line.side == Side::Debit { "Dr" } else { "Cr" };
            let party = line
                .party
                .map(|party| {
                    let name = names.iter().find(|(id, _)| *id == party).map_or("?", |(_, name)| name);
                    format!("[{name}]")
                })
                .unwrap_or_default();
            format!("{side} {}{party} {}", line.account, line.amount)
        })
        .collect()
}

/// The entries the events book in one book, each rendered.
pub fn book_lines(events: &[Event], book: OrgId, names: &[(OrgId, &str)]) -> Vec<Vec<String>> {
    events
        .iter()
        .flat_map(|event| &event.entries)
        .filter(|entry| entry.book == book)
        .map(|entry| render(entry, names))
        .collect()
}

/// The rule ids (`sale/seller`) of the entries the events book in one book.
pub fn book_rules(events: &[Event], book: OrgId) -> Vec<String> {
    events
        .iter()
        .flat_map(|event| &event.entries)
        .filter(|entry| entry.book == book)
        .map(|e| e.rule.id.clone())
        .collect()
}

/// The decided events of recorded ones.
pub fn events_of(recorded: &[RecordedEvent]) -> Vec<Event> {
    recorded.iter().map(|recorded| recorded.event.clone()).collect()
}

pub fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|event| event.payload.event_type()).collect()
}

/// The error of a refused command; panics when it was accepted.
#[track_caller]
pub fn refused(result: Result<Vec<Event>, DomainError>) -> DomainError {
    match result {
        Ok(events) => panic!("expected a refusal, got {:?}", types(&events)),
        Err(error) => error,
    }
}

/// The invariants of the ledger hold over the whole log.
#[track_caller]
pub fn assert_sound(ledger: &MemoryLedger) {
    let violations = ledger_core::invariants::violations(&ledger.state, &ledger.log);
    assert!(violations.is_empty(), "invariants broken: {violations:#?}");
}

/// The net debit (debit − credit) of one account in one book, over every date.
pub fn net(ledger: &MemoryLedger, book: OrgId, code: &str) -> SignedAmount {
    ledger.state.signed_balance_of(book, &AccountCode::parse(code).unwrap())
}

/// Every account of a book with a non-zero net, as `code net` strings.
pub fn non_zero_accounts(ledger: &MemoryLedger, book: OrgId) -> Vec<String> {
    let rows = ledger.state.book(book).unwrap().trial_balance(chrono::NaiveDate::MAX);
    rows.iter()
        .map(|row| (row.code.clone(), SignedAmount::from(row.debit).sub_total(row.credit)))
        .filter(|(_, net)| !net.is_zero())
        .map(|(code, net)| format!("{code} {net}"))
        .collect()
}

pub fn one_item(product: ProductId, quantity: &str, periods: u32) -> Vec<OrderItemRequest> {
    vec![OrderItemRequest { product_id: product, quantity: Quantity::parse(quantity).unwrap(), periods }]
}

pub fn trade(text: &str) -> TradeNumber {
    TradeNumber::try_from(text.to_owned()).unwrap()
}

/// An online recharge of the worked example's customer, confirmed by R2's finance.
pub fn online_recharge(world: &mut WorkedExample, value: &str, trade_number: &str) -> RechargeId {
    let recharge_id: RechargeId = world.next_id();
    let finance = world.r2_finance.clone();
    world.ledger.given(
        &finance,
        CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
            recharge_id,
            customer_id: world.customer,
            amount: amount(value),
            channel: "alipay".into(),
            trade_number: trade(trade_number),
        }),
    );
    recharge_id
}

/// Another actor of the same org with other roles and its own principal.
pub fn staff(org: OrgId, principal: u128, roles: &[Role]) -> Actor {
    actor(org, principal, roles)
}

/// A sibling reseller R3 under the platform, with its own admin and a customer of its own.
pub struct Sibling {
    pub r3: OrgId,
    pub r3_admin: Actor,
    pub r3_customer: OrgId,
}

pub fn sibling(world: &mut WorkedExample) -> Sibling {
    let (r3, r3_customer): (OrgId, OrgId) = (id(30), id(31));
    let platform_admin = world.platform_admin.clone();
    world.ledger.given(
        &platform_admin,
        CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: r3,
            kind: ledger_core::org::OrgKind::Reseller,
            name: "R3".into(),
            parent_id: world.platform,
            sale_mode: None,
        }),
    );
    let r3_admin = actor(r3, 30_001, &[Role::Admin, Role::Finance, Role::Sales, Role::Operations]);
    world.ledger.given(
        &r3_admin,
        CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: r3_customer,
            kind: ledger_core::org::OrgKind::Customer,
            name: "Customer of R3".into(),
            parent_id: r3,
            sale_mode: None,
        }),
    );
    Sibling { r3, r3_admin, r3_customer }
}

/// Places and pays the worked example's order (after a recharge of `wallet`); returns the order.
pub fn paid_order(world: &mut WorkedExample, wallet: &str) -> ledger_core::ids::OrderId {
    world.recharge(wallet);
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    order_id
}

/// A customer's wallet as the books say it: the net credit of its 2203 lines in the log, what
/// the decided events booked, rather than the decision state's own copy of it.
pub fn wallet_in_books(ledger: &MemoryLedger, customer: OrgId) -> Amount {
    let net = ledger
        .log
        .iter()
        .flat_map(|event| &event.event.entries)
        .flat_map(|entry| &entry.lines)
        .filter(|line| line.party == Some(customer) && line.account.as_str() == codes::CUSTOMER_PREPAYMENTS)
        .fold(SignedAmount::ZERO, |sum, line| sum.plus(line.signed().negated()));
    Amount::from_decimal(net.as_decimal()).expect("a wallet in the books is never negative")
}
