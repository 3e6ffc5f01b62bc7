//! Given/when/then tests of vouchers (代金券) and of `original` withdrawals (issue 9, money
//! controls): vouchers apart from cash, spent first in the documented order, given back by
//! refunds, booked out when expired, never withdrawn; an `original` withdrawal pays back at most
//! what came in through its channel, the rest offline with approval.

mod common;

use common::*;
use ledger_core::event::*;
use ledger_core::ids::OrderId;
use ledger_core::testing::{amount, date, id, WorkedExample};
use ledger_core::{CommandBody, DomainError, MoneyCommand, OrderCommand};

fn coupon(world: &WorkedExample, value: &str, expires_on: Option<&str>) -> CommandBody {
    CommandBody::Money(MoneyCommand::GrantCoupon {
        customer_id: world.customer,
        amount: amount(value),
        reason: "welcome".into(),
        // Coupons need no approval by default: the id is never used.
        approval_id: id(9_000_001),
        expires_on: expires_on.map(date),
    })
}

fn withdraw(world: &WorkedExample, value: &str, route: WithdrawalRoute, channel: Option<&str>) -> CommandBody {
    CommandBody::Money(MoneyCommand::Withdraw {
        withdrawal_id: id(300),
        approval_id: id(301),
        customer_id: world.customer,
        amount: amount(value),
        route,
        channel: channel.map(Into::into),
        offline_withdrawal_id: id(302),
    })
}

fn grant_coupon(world: &mut WorkedExample, value: &str, expires_on: Option<&str>) {
    let sales = world.r2_sales.clone();
    world.ledger.given(&sales, coupon(world, value, expires_on));
}

fn wallet(world: &WorkedExample) -> (Amount, Amount) {
    let wallet = world.ledger.state.wallet(world.customer);
    (wallet.balance, wallet.voucher)
}

use ledger_core::money::Amount;

#[test]
fn a_coupon_is_not_withdrawable_cash() {
    let mut world = WorkedExample::new();
    grant_coupon(&mut world, "500.00", None);
    let finance = world.r2_finance.clone();
    for route in [WithdrawalRoute::Original, WithdrawalRoute::Offline] {
        let error = refused(world.ledger.decide(&finance, withdraw(&world, "500.00", route, None)));
        assert_eq!(error, DomainError::InsufficientBalance { available: amount("0.00"), needed: amount("500.00") });
        assert_eq!((error.code(), error.field()), ("insufficient_balance", Some("amount")));
    }
    assert_eq!(wallet(&world), (amount("0.00"), amount("500.00")));
    assert_eq!(net(&world.ledger, world.r2, "2203.01").to_string(), "-500.00");
    assert_sound(&world.ledger);
}

#[test]
fn a_purchase_spends_vouchers_earliest_expiry_first_then_cash() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    grant_coupon(&mut world, "300.00", None);
    grant_coupon(&mut world, "200.00", Some("2026-03-01"));
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();

    let events = world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })).unwrap();

    assert_eq!(types(&events)[..2], ["VoucherRedeemed", "OrderPaid"]);
    let EventPayload::VoucherRedeemed(redeemed) = &events[0].payload else { panic!() };
    // The expiring grant first, then the one without an expiry: 200.00 + 300.00 of the 950.00.
    let spent: Vec<(Option<chrono::NaiveDate>, String)> =
        redeemed.slices.iter().map(|slice| (slice.expires_on, slice.amount.to_string())).collect();
    assert_eq!(spent, vec![(Some(date("2026-03-01")), "200.00".into()), (None, "300.00".into())]);
    assert_eq!(redeemed.amount, amount("500.00"));
    assert_eq!(
        book_lines(&events[..1], world.r2, &names(&world)),
        vec![vec!["Dr 2203.01[C] 500.00", "Cr 2203[C] 500.00"]]
    );
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    // 1000.00 cash − 450.00; vouchers all spent.
    assert_eq!(wallet(&world), (amount("550.00"), amount("0.00")));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("550.00"));
    assert!(world.ledger.state.vouchers_of(world.customer).is_empty());
    assert_sound(&world.ledger);
}

#[test]
fn a_refund_gives_the_voucher_share_back_as_vouchers_and_the_rest_as_cash() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    grant_coupon(&mut world, "500.00", None);
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_eq!(wallet(&world), (amount("550.00"), amount("0.00")));
    let finance = world.r2_finance.clone();
    let refund = |value: &str| {
        CommandBody::Orders(OrderCommand::RefundOrder {
            order_id,
            amount: amount(value),
            penalty: amount("0.00"),
            reason: "unused".into(),
            // Refunds need no approval by default: the id is never used.
            approval_id: id(9_000_002),
        })
    };
    // Half the order: 500/950 of 475.00 is 250.00 in vouchers, 225.00 in cash.
    let events = world.ledger.decide(&finance, refund("475.00")).unwrap();
    assert_eq!(types(&events), ["OrderRefunded", "VoucherReturned"]);
    assert_eq!(
        book_lines(&events[1..], world.r2, &names(&world)),
        vec![vec!["Dr 2203[C] 250.00", "Cr 2203.01[C] 250.00"]]
    );
    world.ledger.given(&finance, refund("475.00"));
    assert_eq!(wallet(&world), (amount("775.00"), amount("250.00")));
    // The rest completes it: exactly what is left of each part.
    world.ledger.given(&finance, refund("475.00"));
    assert_eq!(wallet(&world), (amount("1000.00"), amount("500.00")));
    assert_eq!(world.ledger.state.orders[&order_id].voucher_returned, amount("500.00"));
    assert_sound(&world.ledger);
}

#[test]
fn an_expired_voucher_cannot_be_spent_and_is_booked_out() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    grant_coupon(&mut world, "500.00", Some("2026-02-01"));
    world.ledger.today = date("2026-02-01");
    let order_id: OrderId = world.place_order();
    let customer = world.customer_actor.clone();

    let events = world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })).unwrap();
    assert_eq!(types(&events)[..2], ["VoucherExpired", "OrderPaid"], "booked out, not spent");
    assert_eq!(
        book_lines(&events[..1], world.r2, &names(&world)),
        vec![vec!["Dr 2203.01[C] 500.00", "Cr 6601 500.00"]]
    );

    // Or by finance, on its own.
    let finance = world.r2_finance.clone();
    let expire = CommandBody::Money(MoneyCommand::ExpireVouchers { customer_id: world.customer });
    assert_eq!(refused(world.ledger.decide(&customer, expire.clone())).code(), "forbidden");
    // Booking vouchers out is the permission `vouchers.expire`, finance's by default, not sales'.
    let by_sales = refused(world.ledger.decide(&world.r2_sales, expire.clone()));
    assert_eq!(by_sales, DomainError::forbidden("needs the permission vouchers.expire"));
    let events = world.ledger.decide(&finance, expire.clone()).unwrap();
    assert_eq!(types(&events), ["VoucherExpired"]);
    world.ledger.given(&finance, expire.clone());
    assert_eq!(wallet(&world), (amount("1000.00"), amount("0.00")));
    assert_eq!(net(&world.ledger, world.r2, "6601").to_string(), "0.00", "the grant's expense reversed");
    assert_eq!(world.ledger.decide(&finance, expire).unwrap(), vec![], "nothing left to book out");
    assert_sound(&world.ledger);
}

#[test]
fn a_coupon_expiring_on_or_before_today_is_refused() {
    let world = WorkedExample::new();
    let error = refused(world.ledger.decide(&world.r2_sales, coupon(&world, "5.00", Some("2026-01-15"))));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("expires_on")));
}

#[test]
fn an_original_withdrawal_pays_back_what_came_in_online_and_sends_the_rest_to_approval() {
    let mut world = WorkedExample::new();
    online_recharge(&mut world, "300.00", "T-1");
    world.recharge("500.00");
    let finance = world.r2_finance.clone();

    let events = world.ledger.decide(&finance, withdraw(&world, "500.00", WithdrawalRoute::Original, None)).unwrap();

    assert_eq!(types(&events), ["WithdrawalPaid", "WithdrawalRequested", "ApprovalRequested"]);
    let EventPayload::WithdrawalPaid(paid) = &events[0].payload else { panic!() };
    assert_eq!((paid.amount, paid.channel.as_deref()), (amount("300.00"), Some("alipay")));
    let EventPayload::WithdrawalRequested(rest) = &events[1].payload else { panic!() };
    assert_eq!((rest.withdrawal_id, rest.amount, rest.route), (id(302), amount("200.00"), WithdrawalRoute::Offline));
    world.ledger.given(&finance, withdraw(&world, "500.00", WithdrawalRoute::Original, None));
    assert!(world.ledger.state.returnable_of(world.customer).is_empty(), "the channel has had all it brought");
    let wallet = world.ledger.state.wallet(world.customer);
    assert_eq!((wallet.balance, wallet.reserved), (amount("500.00"), amount("200.00")));

    // Nothing left to give back online: all of the next one waits for approval.
    let mut next = withdraw(&world, "100.00", WithdrawalRoute::Original, None);
    if let CommandBody::Money(MoneyCommand::Withdraw { withdrawal_id, approval_id, .. }) = &mut next {
        (*withdrawal_id, *approval_id) = (id(310), id(311));
    }
    assert_eq!(types(&world.ledger.decide(&finance, next).unwrap()), ["WithdrawalRequested", "ApprovalRequested"]);
    // A channel that brought nothing takes nothing back.
    let named = withdraw(&world, "10.00", WithdrawalRoute::Original, Some("wechat"));
    let mut named = named;
    if let CommandBody::Money(MoneyCommand::Withdraw { withdrawal_id, approval_id, .. }) = &mut named {
        (*withdrawal_id, *approval_id) = (id(320), id(321));
    }
    assert_eq!(types(&world.ledger.decide(&finance, named).unwrap()), ["WithdrawalRequested", "ApprovalRequested"]);
    assert_sound(&world.ledger);
}
