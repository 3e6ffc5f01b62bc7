//! Given/when/then tests of the money deciders: online and offline recharges, reversals, coupons
//! and withdrawals, with the entries each books (DESIGN §2.6).

mod common;

use common::*;
use ledger_core::event::*;
use ledger_core::ids::{ApprovalId, RechargeId, WithdrawalId};
use ledger_core::money::MoneyError;
use ledger_core::org::Role;
use ledger_core::state::{RechargeStatus, WithdrawalStatus};
use ledger_core::testing::{actor, amount, id, WorkedExample};
use ledger_core::{ApprovalCommand, MoneyCommand, OrderCommand};
use ledger_core::{CommandBody, DomainError};

fn confirm_online(
    world: &WorkedExample,
    recharge: u128,
    value: &str,
    channel: &str,
    trade_number: &str,
) -> CommandBody {
    CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
        recharge_id: id(recharge),
        customer_id: world.customer,
        amount: amount(value),
        channel: channel.into(),
        trade_number: trade(trade_number),
    })
}

fn request_recharge(world: &WorkedExample, value: &str, method: RechargeMethod) -> CommandBody {
    CommandBody::Money(MoneyCommand::RequestRecharge {
        recharge_id: id(200),
        approval_id: id(201),
        customer_id: world.customer,
        amount: amount(value),
        method,
        reference: "bank slip 7".into(),
    })
}

fn grant(approval: u128) -> CommandBody {
    CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(approval), grant: true, comment: None })
}

fn reject(approval: u128) -> CommandBody {
    CommandBody::Approval(ApprovalCommand::DecideApproval {
        approval_id: id(approval),
        grant: false,
        comment: Some("no slip".into()),
    })
}

fn withdraw(world: &WorkedExample, value: &str, route: WithdrawalRoute) -> CommandBody {
    CommandBody::Money(MoneyCommand::Withdraw {
        withdrawal_id: id(300),
        approval_id: id(301),
        customer_id: world.customer,
        amount: amount(value),
        route,
        channel: None,
        offline_withdrawal_id: id(302),
    })
}

// ---------------------------------------------------------------- online recharge

#[test]
fn online_recharge_books_channel_clearing_against_the_customers_prepayment() {
    let mut world = WorkedExample::new();
    let body = confirm_online(&world, 100_001, "100.00", "alipay", "2026011522001");

    let events = world.ledger.decide(&world.r2_finance, body.clone()).unwrap();

    assert_eq!(types(&events), ["RechargeConfirmed"]);
    assert_eq!(
        events[0].payload,
        EventPayload::RechargeConfirmed(RechargeConfirmed {
            recharge_id: id(100_001),
            customer_id: world.customer,
            book: world.r2,
            amount: amount("100.00"),
            method: RechargeMethod::Online,
            reference: "2026011522001".into(),
            channel: Some("alipay".into()),
            trade_number: Some(trade("2026011522001")),
        })
    );
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 1012 100.00", "Cr 2203[C] 100.00"]]);
    assert_eq!(book_rules(&events, world.r2), ["recharge.online/seller"]);
    assert_eq!(events[0].entries.len(), 1, "R2's book only");

    let finance = world.r2_finance.clone();
    world.ledger.given(&finance, body);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("100.00"));
    assert_sound(&world.ledger);
}

#[test]
fn online_recharge_notified_twice_with_the_same_trade_number_books_nothing_the_second_time() {
    let mut world = WorkedExample::new();
    let finance = world.r2_finance.clone();
    world.ledger.given(&finance, confirm_online(&world, 100_001, "100.00", "alipay", "T-1"));

    // The channel retries with a fresh recharge id: same channel, same trade number.
    let again = world.ledger.decide(&finance, confirm_online(&world, 100_002, "100.00", "alipay", "T-1"));
    assert_eq!(again, Ok(vec![]));
    // The same trade number of another channel is another payment.
    let other_channel =
        world.ledger.decide(&finance, confirm_online(&world, 100_002, "100.00", "wechat", "T-1")).unwrap();
    assert_eq!(types(&other_channel), ["RechargeConfirmed"]);

    world.ledger.given(&finance, confirm_online(&world, 100_002, "100.00", "alipay", "T-1"));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("100.00"));
    assert_sound(&world.ledger);
}

#[test]
fn online_recharge_refuses_a_zero_amount_and_a_reused_recharge_id() {
    let mut world = WorkedExample::new();
    let finance = world.r2_finance.clone();
    let error = refused(world.ledger.decide(&finance, confirm_online(&world, 100_001, "0.00", "alipay", "T-1")));
    assert_eq!(error, DomainError::InvalidAmount { field: "amount".into(), reason: MoneyError::Zero });
    world.ledger.given(&finance, confirm_online(&world, 100_001, "10.00", "alipay", "T-1"));
    let error = refused(world.ledger.decide(&finance, confirm_online(&world, 100_001, "10.00", "alipay", "T-2")));
    assert_eq!(error.code(), "already_exists");
    assert_sound(&world.ledger);
}

#[test]
fn online_recharge_is_not_confirmed_by_the_customer_itself() {
    let world = WorkedExample::new();
    // Only the verified payment notification (the seller's finance) credits a wallet.
    let error = refused(
        world.ledger.decide(&world.customer_actor, confirm_online(&world, 100_001, "1000.00", "alipay", "T-9")),
    );
    assert_eq!(error.code(), "forbidden");
    assert_eq!(
        refused(world.ledger.decide(&world.r2_sales, confirm_online(&world, 100_001, "1.00", "alipay", "T-9"))).code(),
        "forbidden"
    );
}

// ---------------------------------------------------------------- offline recharge

#[test]
fn offline_recharge_request_waits_for_approval_and_books_nothing() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let body = request_recharge(&world, "500.00", RechargeMethod::Offline);

    let events = world.ledger.decide(&sales, body.clone()).unwrap();

    assert_eq!(
        events,
        vec![
            Event::new(EventPayload::RechargeRequested(RechargeRequested {
                recharge_id: id(200),
                approval_id: id(201),
                customer_id: world.customer,
                book: world.r2,
                amount: amount("500.00"),
                method: RechargeMethod::Offline,
                reference: "bank slip 7".into(),
            })),
            Event::new(EventPayload::ApprovalRequested(ApprovalRequested {
                approval_id: id(201),
                book: world.r2,
                kind: ApprovalKind::Recharge,
                requested_by: sales.principal_id,
                proposal: Proposal::ConfirmRecharge { recharge_id: id(200) },
            })),
        ]
    );
    world.ledger.given(&sales, body);
    let wallet = world.ledger.state.wallet(world.customer);
    assert_eq!((wallet.balance, wallet.pending_recharges), (amount("0.00"), amount("500.00")));
    assert_sound(&world.ledger);
}

#[test]
fn granting_an_offline_recharge_books_the_bank_against_the_wallet() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let finance = world.r2_finance.clone();
    world.ledger.given(&sales, request_recharge(&world, "500.00", RechargeMethod::Offline));

    let events = world.ledger.decide(&finance, grant(201)).unwrap();

    assert_eq!(types(&events), ["ApprovalGranted", "RechargeConfirmed"]);
    assert_eq!(
        events[0].payload,
        EventPayload::ApprovalGranted(ApprovalDecided {
            approval_id: id(201),
            decided_by: finance.principal_id,
            comment: None
        })
    );
    let EventPayload::RechargeConfirmed(confirmed) = &events[1].payload else { panic!() };
    assert_eq!(
        (confirmed.method, confirmed.amount, confirmed.channel.as_deref()),
        (RechargeMethod::Offline, amount("500.00"), None)
    );
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 1002 500.00", "Cr 2203[C] 500.00"]]);
    assert_eq!(book_rules(&events, world.r2), ["recharge.offline/seller"]);

    world.ledger.given(&finance, grant(201));
    let wallet = world.ledger.state.wallet(world.customer);
    assert_eq!((wallet.balance, wallet.pending_recharges), (amount("500.00"), amount("0.00")));
    assert_sound(&world.ledger);
}

#[test]
fn granting_a_corporate_transfer_recharge_books_the_bank_too() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    world.ledger.given(&sales, request_recharge(&world, "20000.00", RechargeMethod::Transfer));
    let events = world.ledger.decide(&world.r2_finance, grant(201)).unwrap();
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 1002 20000.00", "Cr 2203[C] 20000.00"]]);
    assert_eq!(book_rules(&events, world.r2), ["recharge.transfer/seller"]);
    assert_sound(&world.ledger);
}

#[test]
fn rejecting_an_offline_recharge_books_nothing_and_releases_the_pending_amount() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let finance = world.r2_finance.clone();
    world.ledger.given(&sales, request_recharge(&world, "500.00", RechargeMethod::Offline));

    let events = world.ledger.decide(&finance, reject(201)).unwrap();

    assert_eq!(
        events,
        vec![Event::new(EventPayload::ApprovalRejected(ApprovalDecided {
            approval_id: id(201),
            decided_by: finance.principal_id,
            comment: Some("no slip".into()),
        }))]
    );
    world.ledger.given(&finance, reject(201));
    let wallet = world.ledger.state.wallet(world.customer);
    assert_eq!((wallet.balance, wallet.pending_recharges), (amount("0.00"), amount("0.00")));
    assert_eq!(world.ledger.state.recharges[&id::<RechargeId>(200)].status, RechargeStatus::Rejected);
    // A rejected recharge is no money: there is nothing to reverse.
    let reversal = CommandBody::Money(MoneyCommand::RequestRechargeReversal {
        approval_id: id(202),
        recharge_id: id(200),
        reason: "x".into(),
    });
    let error = refused(world.ledger.decide(&finance, reversal));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("recharge_id")));
    assert_sound(&world.ledger);
}

fn pay_online(payment: uuid::Uuid, recharge: u128, value: &str, trade_number: &str) -> CommandBody {
    CommandBody::Money(MoneyCommand::ConfirmOnlinePayment {
        payment_id: payment,
        recharge_id: id(recharge),
        amount: amount(value),
        channel: "alipay".into(),
        trade_number: trade(trade_number),
    })
}

#[test]
fn an_online_recharge_is_expected_first_and_booked_by_its_payment_for_its_amount() {
    let mut world = WorkedExample::new();
    let customer = world.customer_actor.clone();
    let requested = world.ledger.given(&customer, request_recharge(&world, "100.00", RechargeMethod::Online));
    assert_eq!(
        events_of(&requested).iter().map(|event| event.payload.clone()).collect::<Vec<_>>(),
        [EventPayload::OnlineRechargeRequested(OnlineRechargeRequested {
            recharge_id: id(200),
            customer_id: world.customer,
            book: world.r2,
            amount: amount("100.00"),
            reference: "bank slip 7".into(),
        })]
    );
    assert!(requested[0].event.entries.is_empty(), "nothing is booked before the money arrives");
    assert_eq!(world.ledger.state.recharges[&id(200)].status, RechargeStatus::AwaitingPayment);
    assert_eq!(world.ledger.state.wallet(world.customer).pending_recharges, amount("0.00"), "not a pending recharge");

    let finance = world.r2_finance.clone();
    let events = world.ledger.decide(&finance, pay_online(id::<uuid::Uuid>(200), 900, "100.00", "T-1")).unwrap();
    assert_eq!(types(&events), ["RechargeConfirmed"]);
    let EventPayload::RechargeConfirmed(confirmed) = &events[0].payload else { panic!("{events:?}") };
    assert_eq!((confirmed.recharge_id, confirmed.trade_number.clone()), (id(200), Some(trade("T-1"))));
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 1012 100.00", "Cr 2203[C] 100.00"]]);
    world.ledger.given(&finance, pay_online(id::<uuid::Uuid>(200), 900, "100.00", "T-1"));
    assert_eq!(world.ledger.state.recharges[&id(200)].status, RechargeStatus::Confirmed);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("100.00"));
    // The channel resends its notification: booked once.
    assert_eq!(world.ledger.decide(&finance, pay_online(id::<uuid::Uuid>(200), 900, "100.00", "T-1")), Ok(vec![]));
    assert_sound(&world.ledger);
}

#[test]
fn a_payment_nothing_of_the_book_awaits_for_that_amount_is_refused() {
    let mut world = WorkedExample::new();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, request_recharge(&world, "100.00", RechargeMethod::Online));
    let (r2_finance, r1_finance) = (world.r2_finance.clone(), actor(world.r1, 4091, &[Role::Finance]));
    let unexpected = |result| match refused(result) {
        DomainError::UnexpectedPayment { reason } => reason,
        other => panic!("not an unexpected payment: {other:?}"),
    };
    let recharge = id::<uuid::Uuid>(200);
    // Nothing awaits under another id; this one awaits 100.00, not 99.99 or 100.01.
    let reason = unexpected(world.ledger.decide(&r2_finance, pay_online(id(999), 900, "100.00", "T-1")));
    assert!(reason.starts_with("no online recharge or order of this book awaits payment"), "{reason}");
    for other in ["99.99", "100.01"] {
        let reason = unexpected(world.ledger.decide(&r2_finance, pay_online(recharge, 900, other, "T-1")));
        assert_eq!(reason, format!("the online recharge {recharge} awaits 100.00, not {other}"));
    }
    // A channel of another book (R1's) pays nothing of R2's.
    unexpected(world.ledger.decide(&r1_finance, pay_online(recharge, 900, "100.00", "T-1")));
    // Paid once, a second trade for it is refused (the channel's duplicate payment is a refund).
    world.ledger.given(&r2_finance, pay_online(recharge, 900, "100.00", "T-1"));
    let reason = unexpected(world.ledger.decide(&r2_finance, pay_online(recharge, 901, "100.00", "T-2")));
    assert_eq!(reason, format!("the online recharge {recharge} is already paid"));
    // Only the book's finance (the channel's notification) confirms; not its sales, nor a customer.
    assert_eq!(
        refused(world.ledger.decide(&world.r2_sales, pay_online(recharge, 902, "1.00", "T-3"))).code(),
        "forbidden"
    );
    assert_eq!(refused(world.ledger.decide(&customer, pay_online(recharge, 902, "1.00", "T-3"))).code(), "not_found");
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("100.00"));
    assert_sound(&world.ledger);
}

#[test]
fn an_order_placed_first_is_paid_online_through_the_wallet_for_its_total() {
    let mut world = WorkedExample::new();
    let order_id = world.place_order();
    let finance = world.r2_finance.clone();
    let refusal = refused(world.ledger.decide(&finance, pay_online(order_id.0, 900, "949.99", "T-1")));
    assert_eq!(refusal.to_string(), format!("unexpected payment: the order {order_id} costs 950.00, not 949.99"));

    let events = world.ledger.decide(&finance, pay_online(order_id.0, 900, "950.00", "T-1")).unwrap();
    assert_eq!(types(&events), ["RechargeConfirmed", "OrderPaid"]);
    assert_eq!(book_lines(&events[..1], world.r2, &names(&world)), vec![vec!["Dr 1012 950.00", "Cr 2203[C] 950.00"]]);
    world.ledger.given(&finance, pay_online(order_id.0, 900, "950.00", "T-1"));
    assert_eq!(world.ledger.state.orders[&order_id].status, ledger_core::state::OrderStatus::Paid);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"), "in and out of the wallet");
    let again = refused(world.ledger.decide(&finance, pay_online(order_id.0, 901, "950.00", "T-2")));
    assert_eq!(again.to_string(), format!("unexpected payment: the order {order_id} is paid, not awaiting payment"));
    assert_sound(&world.ledger);
}

#[test]
fn offline_recharge_request_refusals() {
    let mut world = WorkedExample::new();
    let operations = actor(world.r2, 4020, &[Role::Operations]);
    assert_eq!(
        refused(world.ledger.decide(&operations, request_recharge(&world, "5.00", RechargeMethod::Offline))).code(),
        "forbidden"
    );
    assert_eq!(
        refused(world.ledger.decide(&world.r2_sales, request_recharge(&world, "0.00", RechargeMethod::Offline))).code(),
        "invalid_amount"
    );
    let sales = world.r2_sales.clone();
    world.ledger.given(&sales, request_recharge(&world, "5.00", RechargeMethod::Offline));
    // The same recharge id, then the same approval id with a new recharge id.
    assert_eq!(
        refused(world.ledger.decide(&sales, request_recharge(&world, "5.00", RechargeMethod::Offline))).code(),
        "already_exists"
    );
    let mut same_approval = request_recharge(&world, "5.00", RechargeMethod::Offline);
    if let CommandBody::Money(MoneyCommand::RequestRecharge { recharge_id, .. }) = &mut same_approval {
        *recharge_id = id(210);
    }
    let error = refused(world.ledger.decide(&sales, same_approval));
    assert_eq!(error, DomainError::AlreadyExists { what: "approval", id: id::<ApprovalId>(201).to_string() });
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- reversal

#[test]
fn recharge_reversal_is_requested_then_granted_and_books_the_reverse() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let finance = world.r2_finance.clone();
    let approver = actor(world.r2, 4030, &[Role::Finance]);
    world.ledger.given(&sales, request_recharge(&world, "500.00", RechargeMethod::Offline));
    world.ledger.given(&finance, grant(201));
    let body = CommandBody::Money(MoneyCommand::RequestRechargeReversal {
        approval_id: id(202),
        recharge_id: id(200),
        reason: " duplicate slip ".into(),
    });

    let requested = world.ledger.decide(&finance, body.clone()).unwrap();
    assert_eq!(
        requested,
        vec![Event::new(EventPayload::ApprovalRequested(ApprovalRequested {
            approval_id: id(202),
            book: world.r2,
            kind: ApprovalKind::RechargeReversal,
            requested_by: finance.principal_id,
            proposal: Proposal::ReverseRecharge { recharge_id: id(200), reason: "duplicate slip".into() },
        }))]
    );
    world.ledger.given(&finance, body);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("500.00"), "nothing moves before approval");

    let granted = world.ledger.decide(&approver, grant(202)).unwrap();
    assert_eq!(types(&granted), ["ApprovalGranted", "RechargeReversed"]);
    assert_eq!(
        granted[1].payload,
        EventPayload::RechargeReversed(RechargeReversed {
            recharge_id: id(200),
            customer_id: world.customer,
            book: world.r2,
            amount: amount("500.00"),
            reason: "duplicate slip".into(),
        })
    );
    assert_eq!(book_lines(&granted, world.r2, &names(&world)), vec![vec!["Dr 2203[C] 500.00", "Cr 1002 500.00"]]);
    assert_eq!(book_rules(&granted, world.r2), ["recharge_reversal.offline/seller"]);

    world.ledger.given(&approver, grant(202));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"));
    let again = CommandBody::Money(MoneyCommand::RequestRechargeReversal {
        approval_id: id(203),
        recharge_id: id(200),
        reason: "again".into(),
    });
    let error = refused(world.ledger.decide(&approver, again));
    assert_eq!(error.field(), Some("recharge_id"), "a reversed recharge cannot be reversed again: {error}");
    assert_eq!(non_zero_accounts(&world.ledger, world.r2), Vec::<String>::new(), "R2's book is back to nothing");
    assert_sound(&world.ledger);
}

#[test]
fn reversing_an_online_recharge_credits_channel_clearing() {
    let mut world = WorkedExample::new();
    let recharge_id = online_recharge(&mut world, "80.00", "T-80");
    let finance = world.r2_finance.clone();
    world.ledger.given(
        &finance,
        CommandBody::Money(MoneyCommand::RequestRechargeReversal {
            approval_id: id(202),
            recharge_id,
            reason: "chargeback".into(),
        }),
    );
    let events = world.ledger.decide(&world.r2_admin, grant(202)).unwrap();
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 2203[C] 80.00", "Cr 1012 80.00"]]);
    assert_eq!(book_rules(&events, world.r2), ["recharge_reversal.online/seller"]);
    assert_sound(&world.ledger);
}

#[test]
fn recharge_reversal_refusals() {
    let mut world = WorkedExample::new();
    let recharge_id = online_recharge(&mut world, "80.00", "T-80");
    let finance = world.r2_finance.clone();
    let reversal = |approval: u128| {
        CommandBody::Money(MoneyCommand::RequestRechargeReversal {
            approval_id: id(approval),
            recharge_id,
            reason: "chargeback".into(),
        })
    };
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, reversal(202))).code(), "forbidden");
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, reversal(202))).code(), "not_found");
    world.ledger.given(&finance, reversal(202));
    let error = refused(world.ledger.decide(&finance, reversal(203)));
    assert_eq!(error, DomainError::ApprovalPending);
    assert_eq!(error.code(), "approval_pending");
    assert_sound(&world.ledger);
}

#[test]
fn recharge_reversal_of_money_already_spent_is_refused_when_requested_and_when_granted() {
    let mut world = WorkedExample::new();
    let recharge_id = online_recharge(&mut world, "1000.00", "T-1000");
    let finance = world.r2_finance.clone();
    world.ledger.given(
        &finance,
        CommandBody::Money(MoneyCommand::RequestRechargeReversal {
            approval_id: id(202),
            recharge_id,
            reason: "chargeback".into(),
        }),
    );
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));

    let error = refused(world.ledger.decide(&world.r2_admin, grant(202)));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("50.00"), needed: amount("1000.00") });
    assert_eq!(world.ledger.state.approvals[&id::<ApprovalId>(202)].decision, ledger_core::state::Decision::Pending);

    online_recharge(&mut world, "10.00", "T-10");
    let mut other = world.ledger.clone();
    other.given(&world.r2_admin, reject(202));
    let error = refused(other.decide(
        &finance,
        CommandBody::Money(MoneyCommand::RequestRechargeReversal {
            approval_id: id(204),
            recharge_id,
            reason: "chargeback".into(),
        }),
    ));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("60.00"), needed: amount("1000.00") });
    assert_sound(&other);
}

// ---------------------------------------------------------------- coupons

#[test]
fn coupon_books_a_selling_expense_into_the_voucher_account_opened_by_the_first_grant() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let body = CommandBody::Money(MoneyCommand::GrantCoupon {
        approval_id: id(9900003),
        customer_id: world.customer,
        amount: amount("20.00"),
        reason: "welcome".into(),
        expires_on: None,
    });

    let events = world.ledger.decide(&sales, body.clone()).unwrap();

    assert_eq!(types(&events), ["AccountOpened", "VoucherGranted"]);
    assert_eq!(
        events[1].payload,
        EventPayload::VoucherGranted(VoucherGranted {
            customer_id: world.customer,
            book: world.r2,
            amount: amount("20.00"),
            reason: "welcome".into(),
            expires_on: None,
        })
    );
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 6601 20.00", "Cr 2203.01[C] 20.00"]]);
    assert_eq!(book_rules(&events, world.r2), ["voucher.grant/seller"]);
    world.ledger.given(&sales, body.clone());
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"), "no cash");
    assert_eq!(world.ledger.state.wallet(world.customer).voucher, amount("20.00"));
    // The second grant finds the account open.
    assert_eq!(types(&world.ledger.decide(&sales, body).unwrap()), ["VoucherGranted"]);
    assert_sound(&world.ledger);
}

#[test]
fn coupon_refusals() {
    let world = WorkedExample::new();
    let coupon = |value: &str| {
        CommandBody::Money(MoneyCommand::GrantCoupon {
            approval_id: id(9900002),
            customer_id: world.customer,
            amount: amount(value),
            reason: "welcome".into(),
            expires_on: None,
        })
    };
    assert_eq!(refused(world.ledger.decide(&world.customer_actor, coupon("20.00"))).code(), "forbidden");
    let operations = actor(world.r2, 4020, &[Role::Operations]);
    assert_eq!(refused(world.ledger.decide(&operations, coupon("20.00"))).code(), "forbidden");
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, coupon("0.00"))).code(), "invalid_amount");
    let empty_reason = CommandBody::Money(MoneyCommand::GrantCoupon {
        approval_id: id(9900001),
        customer_id: world.customer,
        amount: amount("1.00"),
        reason: "  ".into(),
        expires_on: None,
    });
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, empty_reason)).field(), Some("reason"));
}

// ---------------------------------------------------------------- withdrawals

#[test]
fn withdrawal_by_the_original_route_is_paid_at_once_through_channel_clearing() {
    let mut world = WorkedExample::new();
    online_recharge(&mut world, "500.00", "T-500");
    let customer = world.customer_actor.clone();
    let body = withdraw(&world, "300.00", WithdrawalRoute::Original);

    let events = world.ledger.decide(&customer, body.clone()).unwrap();

    assert_eq!(types(&events), ["WithdrawalPaid"]);
    assert_eq!(
        events[0].payload,
        EventPayload::WithdrawalPaid(WithdrawalPaid {
            withdrawal_id: id(300),
            customer_id: world.customer,
            book: world.r2,
            amount: amount("300.00"),
            route: WithdrawalRoute::Original,
            channel: Some("alipay".into()),
        })
    );
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 2203[C] 300.00", "Cr 1012 300.00"]]);
    assert_eq!(book_rules(&events, world.r2), ["withdrawal.original/seller"]);
    world.ledger.given(&customer, body);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("200.00"));
    assert_sound(&world.ledger);
}

#[test]
fn offline_withdrawal_holds_the_money_until_approved_then_books_the_bank() {
    let mut world = WorkedExample::new();
    world.recharge("500.00");
    let customer = world.customer_actor.clone();
    let finance = world.r2_finance.clone();
    let body = withdraw(&world, "300.00", WithdrawalRoute::Offline);

    let requested = world.ledger.decide(&customer, body.clone()).unwrap();
    assert_eq!(
        requested,
        vec![
            Event::new(EventPayload::WithdrawalRequested(WithdrawalRequested {
                withdrawal_id: id(300),
                approval_id: id(301),
                customer_id: world.customer,
                book: world.r2,
                amount: amount("300.00"),
                route: WithdrawalRoute::Offline,
            })),
            Event::new(EventPayload::ApprovalRequested(ApprovalRequested {
                approval_id: id(301),
                book: world.r2,
                kind: ApprovalKind::Withdrawal,
                requested_by: customer.principal_id,
                proposal: Proposal::PayWithdrawal { withdrawal_id: id(300) },
            })),
        ]
    );
    world.ledger.given(&customer, body);
    let wallet = world.ledger.state.wallet(world.customer);
    assert_eq!(
        (wallet.balance, wallet.reserved, wallet.available()),
        (amount("500.00"), amount("300.00"), amount("200.00"))
    );

    let granted = world.ledger.decide(&finance, grant(301)).unwrap();
    assert_eq!(types(&granted), ["ApprovalGranted", "WithdrawalPaid"]);
    assert_eq!(book_lines(&granted, world.r2, &names(&world)), vec![vec!["Dr 2203[C] 300.00", "Cr 1002 300.00"]]);
    assert_eq!(book_rules(&granted, world.r2), ["withdrawal.offline/seller"]);
    world.ledger.given(&finance, grant(301));
    let wallet = world.ledger.state.wallet(world.customer);
    assert_eq!((wallet.balance, wallet.reserved), (amount("200.00"), amount("0.00")));
    assert_eq!(world.ledger.state.withdrawals[&id::<WithdrawalId>(300)].status, WithdrawalStatus::Paid);
    assert_sound(&world.ledger);
}

#[test]
fn withdrawal_above_the_balance_is_refused() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    for route in [WithdrawalRoute::Original, WithdrawalRoute::Offline] {
        let error = refused(world.ledger.decide(&world.customer_actor, withdraw(&world, "100.01", route)));
        assert_eq!(error, DomainError::InsufficientBalance { available: amount("100.00"), needed: amount("100.01") });
        assert_eq!((error.code(), error.field()), ("insufficient_balance", Some("amount")));
    }
    assert_sound(&world.ledger);
}

#[test]
fn money_held_for_an_offline_withdrawal_cannot_be_spent_or_withdrawn_again() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, withdraw(&world, "600.00", WithdrawalRoute::Offline));
    let order_id = world.place_order();

    let error = refused(world.ledger.decide(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("400.00"), needed: amount("950.00") });
    let mut again = withdraw(&world, "400.01", WithdrawalRoute::Original);
    if let CommandBody::Money(MoneyCommand::Withdraw { withdrawal_id, .. }) = &mut again {
        *withdrawal_id = id(310);
    }
    let error = refused(world.ledger.decide(&customer, again));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("400.00"), needed: amount("400.01") });
    assert_sound(&world.ledger);
}

#[test]
fn rejecting_an_offline_withdrawal_releases_the_money_it_held() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let customer = world.customer_actor.clone();
    let finance = world.r2_finance.clone();
    world.ledger.given(&customer, withdraw(&world, "600.00", WithdrawalRoute::Offline));
    let events = world.ledger.decide(&finance, reject(301)).unwrap();
    assert_eq!(types(&events), ["ApprovalRejected"]);
    assert!(events[0].entries.is_empty());
    world.ledger.given(&finance, reject(301));
    let wallet = world.ledger.state.wallet(world.customer);
    assert_eq!((wallet.balance, wallet.reserved), (amount("1000.00"), amount("0.00")));
    assert_eq!(world.ledger.state.withdrawals[&id::<WithdrawalId>(300)].status, WithdrawalStatus::Rejected);
    let order_id = world.place_order();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_sound(&world.ledger);
}

#[test]
fn withdrawal_refusals() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    let customer = world.customer_actor.clone();
    assert_eq!(
        refused(world.ledger.decide(&customer, withdraw(&world, "0.00", WithdrawalRoute::Original))).code(),
        "invalid_amount"
    );
    assert_eq!(
        refused(world.ledger.decide(&world.r2_sales, withdraw(&world, "1.00", WithdrawalRoute::Original))).code(),
        "forbidden"
    );
    assert_eq!(
        refused(world.ledger.decide(&world.r1_finance, withdraw(&world, "1.00", WithdrawalRoute::Original))).code(),
        "not_found"
    );
    world.ledger.given(&customer, withdraw(&world, "1.00", WithdrawalRoute::Original));
    assert_eq!(
        refused(world.ledger.decide(&customer, withdraw(&world, "1.00", WithdrawalRoute::Original))).code(),
        "already_exists"
    );
    assert_sound(&world.ledger);
}
