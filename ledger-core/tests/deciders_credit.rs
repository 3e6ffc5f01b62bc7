//! Given/when/then tests of credit (信用额度) and arrears (欠费), the book's terms, settlement
//! cycles (结算周期), auto-renewals and the clock that drives them (issue 12): a purchase beyond
//! the wallet is a receivable (1122[C]) within the limit, repaid first by the next money in;
//! what falls due with time is decided from a tick, once, and a tick with nothing due decides
//! nothing.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use ledger_core::approval_policy::{ApprovalAction, ApprovalRule};
use ledger_core::decide::clock_actor;
use ledger_core::event::*;
use ledger_core::ids::{OrderId, OrgId};
use ledger_core::invariants::Audit;
use ledger_core::money::Amount;
use ledger_core::org::{Actor, Role};
use ledger_core::testing::{actor, amount, date, id, WorkedExample};
use ledger_core::{
    ApprovalCommand, ClockCommand, CommandBody, DomainError, MoneyCommand, OrderCommand, SettlementCommand,
    TermsCommand,
};

fn credit_limit(world: &WorkedExample, value: &str, approval: u128) -> CommandBody {
    TermsCommand::SetCreditLimit { customer_id: world.customer, limit: amount(value), approval_id: id(approval) }.into()
}

fn grant(approval: u128) -> CommandBody {
    ApprovalCommand::DecideApproval { approval_id: id(approval), grant: true, comment: None }.into()
}

/// R2's sales asks for `value`, R2's finance grants it.
fn give_credit(world: &mut WorkedExample, value: &str, approval: u128) {
    let (sales, finance) = (world.r2_sales.clone(), world.r2_finance.clone());
    world.ledger.given(&sales, credit_limit(world, value, approval));
    world.ledger.given(&finance, grant(approval));
}

fn pay(world: &mut WorkedExample, order_id: OrderId) -> Result<Vec<Event>, DomainError> {
    let customer = world.customer_actor.clone();
    world.ledger.decide(&customer, OrderCommand::PayOrder { order_id }.into())
}

fn tick(world: &WorkedExample) -> Vec<Event> {
    world.ledger.decide(&clock_actor(world.platform), ClockCommand::Tick.into()).expect("a tick is decided")
}

fn tick_at(world: &WorkedExample, at: DateTime<Utc>) -> Vec<Event> {
    world.ledger.decide_at(&clock_actor(world.platform), ClockCommand::Tick.into(), at).expect("a tick is decided")
}

fn run_tick(world: &mut WorkedExample) -> Vec<Event> {
    let clock = clock_actor(world.platform);
    events_of(&world.ledger.given(&clock, ClockCommand::Tick.into()))
}

/// (cash, arrears) of the worked example's customer.
fn wallet(world: &WorkedExample) -> (Amount, Amount) {
    (world.ledger.state.wallet(world.customer).balance, world.ledger.state.arrears_of(world.customer))
}

fn operations(world: &WorkedExample) -> Actor {
    actor(world.r2, 4040, &[Role::Operations])
}

fn fulfil(world: &mut WorkedExample, order_id: OrderId, end: &str) {
    let body = OrderCommand::FulfilOrder { order_id, note: None, subscription_end: Some(date(end)) };
    let operations = operations(world);
    world.ledger.given(&operations, body.into());
}

fn payload<T: Clone>(events: &[Event], pick: impl Fn(&EventPayload) -> Option<&T>) -> T {
    events.iter().find_map(|event| pick(&event.payload)).expect("the event").clone()
}

// ------------------------------------------------------------------------------- credit limits

#[test]
fn a_raise_of_a_credit_limit_waits_for_approval_and_its_grant_sets_it() {
    let mut world = WorkedExample::new();
    let (sales, finance) = (world.r2_sales.clone(), world.r2_finance.clone());

    let events = world.ledger.decide(&sales, credit_limit(&world, "1000.00", 700)).unwrap();

    assert_eq!(types(&events), ["ApprovalRequested"]);
    let request = payload(&events, |payload| match payload {
        EventPayload::ApprovalRequested(request) => Some(request),
        _ => None,
    });
    assert_eq!(request.kind, ApprovalKind::CreditLimit);
    assert_eq!(request.proposal, Proposal::SetCreditLimit { customer_id: world.customer, limit: amount("1000.00") });
    world.ledger.given(&sales, credit_limit(&world, "1000.00", 700));
    assert_eq!(world.ledger.state.credit_limit_of(world.customer), Amount::ZERO, "not before it is approved");

    let events = world.ledger.decide(&finance, grant(700)).unwrap();

    assert_eq!(types(&events), ["ApprovalGranted", "CreditLimitSet"]);
    let set = payload(&events, |payload| match payload {
        EventPayload::CreditLimitSet(set) => Some(set),
        _ => None,
    });
    assert_eq!(set, CreditLimitSet { customer_id: world.customer, book: world.r2, limit: amount("1000.00") });
    world.ledger.given(&finance, grant(700));
    assert_eq!(world.ledger.state.credit_limit_of(world.customer), amount("1000.00"));
    // A lowering takes effect at once.
    let events = world.ledger.decide(&sales, credit_limit(&world, "400.00", 701)).unwrap();
    assert_eq!(types(&events), ["CreditLimitSet"]);
    assert_sound(&world.ledger);
}

#[test]
fn a_raise_at_or_below_the_policys_threshold_takes_effect_at_once_and_a_customer_sets_no_credit() {
    let mut world = WorkedExample::new();
    let (admin, sales) = (world.r2_admin.clone(), world.r2_sales.clone());
    let rule = ApprovalRule {
        action: ApprovalAction::CreditLimitRaise,
        above: Some(amount("5000.00")),
        levels: vec![[Role::Admin].into()],
    };
    world.ledger.given(&admin, ApprovalCommand::SetApprovalPolicy { book: world.r2, rules: vec![rule] }.into());

    assert_eq!(types(&world.ledger.decide(&sales, credit_limit(&world, "5000.00", 702)).unwrap()), ["CreditLimitSet"]);
    assert_eq!(
        types(&world.ledger.decide(&sales, credit_limit(&world, "5000.01", 702)).unwrap()),
        ["ApprovalRequested", "ApprovalRouted"]
    );
    let customer = world.customer_actor.clone();
    let error = refused(world.ledger.decide(&customer, credit_limit(&world, "100.00", 703)));
    assert_eq!(error.code(), "forbidden");
}

// ------------------------------------------------------------------------ drawing and repaying

#[test]
fn a_purchase_beyond_the_wallet_draws_the_shortfall_on_credit_as_a_receivable() {
    let mut world = WorkedExample::new();
    world.recharge("300.00");
    give_credit(&mut world, "1000.00", 700);
    let order_id = world.place_order();

    let events = pay(&mut world, order_id).unwrap();

    assert_eq!(types(&events), ["CreditDrawn", "OrderPaid"]);
    let drawn = payload(&events, |payload| match payload {
        EventPayload::CreditDrawn(drawn) => Some(drawn),
        _ => None,
    });
    // 950.00 less the 300.00 of cash, due thirty days (the default) after 2026-01-15.
    assert_eq!(
        drawn,
        CreditDrawn {
            customer_id: world.customer,
            book: world.r2,
            source_id: order_id.0,
            amount: amount("650.00"),
            due_on: date("2026-02-14"),
        }
    );
    assert_eq!(
        book_lines(&events, world.r2, &names(&world)),
        vec![
            vec!["Dr 1122[C] 650.00", "Cr 2203[C] 650.00"],
            vec!["Dr 2203[C] 950.00", "Dr 6001.99 50.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 880.00", "Cr 2202[R1] 880.00"],
        ]
    );
    assert_eq!(book_rules(&events[..1], world.r2), ["credit.draw/seller"]);
    world.ledger.given(&world.customer_actor.clone(), OrderCommand::PayOrder { order_id }.into());
    assert_eq!(wallet(&world), (amount("0.00"), amount("650.00")));
    assert_eq!(net(&world.ledger, world.r2, "1122").to_string(), "650.00");
    assert_eq!(net(&world.ledger, world.r2, "2203").to_string(), "0.00");

    // Beyond the limit: what cash and credit have is named.
    let another = world.place_order();
    let error = refused(pay(&mut world, another));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("350.00"), needed: amount("950.00") });
    assert_sound(&world.ledger);
}

#[test]
fn without_credit_a_short_wallet_is_refused_as_before() {
    let mut world = WorkedExample::new();
    world.recharge("300.00");
    let order_id = world.place_order();
    let error = refused(pay(&mut world, order_id));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("300.00"), needed: amount("950.00") });
}

#[test]
fn money_in_repays_arrears_first_the_part_due_earliest_first() {
    let mut world = WorkedExample::new();
    give_credit(&mut world, "2000.00", 700);
    let first = world.place_order();
    world.pay_order(first);
    world.ledger.today = date("2026-01-20");
    let second = world.place_order();
    world.pay_order(second);
    assert_eq!(wallet(&world), (amount("0.00"), amount("1900.00")));
    let due: Vec<(String, String)> = world.ledger.state.credit[&world.customer]
        .arrears
        .iter()
        .map(|slice| (slice.due_on.to_string(), slice.amount.to_string()))
        .collect();
    assert_eq!(due, [("2026-02-14".into(), "950.00".into()), ("2026-02-19".into(), "950.00".into())]);

    let recharge_id = online_recharge(&mut world, "1000.00", "T-1");

    let recorded = events_of(&world.ledger.log[world.ledger.log.len() - 2..]);
    assert_eq!(types(&recorded), ["RechargeConfirmed", "ArrearsRepaid"]);
    let repaid = payload(&recorded, |payload| match payload {
        EventPayload::ArrearsRepaid(repaid) => Some(repaid),
        _ => None,
    });
    assert_eq!(
        repaid,
        ArrearsRepaid {
            customer_id: world.customer,
            book: world.r2,
            source_id: recharge_id.0,
            amount: amount("1000.00"),
            arrears_due_on: Some(date("2026-02-19")),
        }
    );
    assert_eq!(book_lines(&recorded[1..], world.r2, &names(&world)), [["Dr 2203[C] 1000.00", "Cr 1122[C] 1000.00"]]);
    assert_eq!(wallet(&world), (amount("0.00"), amount("900.00")));

    // An offline recharge, once approved, repays too; what is beyond the arrears is cash.
    world.recharge("1000.00");
    let recorded = events_of(&world.ledger.log[world.ledger.log.len() - 3..]);
    assert_eq!(types(&recorded), ["ApprovalGranted", "RechargeConfirmed", "ArrearsRepaid"]);
    assert_eq!(wallet(&world), (amount("100.00"), amount("0.00")));
    assert!(!world.ledger.state.credit[&world.customer].arrears.iter().any(|slice| !slice.amount.is_zero()));
    assert_sound(&world.ledger);
}

#[test]
fn a_refund_pays_its_cash_back_against_the_arrears_first() {
    let mut world = WorkedExample::new();
    give_credit(&mut world, "1000.00", 700);
    let order_id = world.place_order();
    world.pay_order(order_id);
    let finance = world.r2_finance.clone();
    let refund = OrderCommand::RefundOrder {
        order_id,
        amount: amount("475.00"),
        penalty: amount("25.00"),
        reason: "unused".into(),
        approval_id: id(9_000_002),
    };

    let events = world.ledger.decide(&finance, refund.clone().into()).unwrap();

    assert_eq!(types(&events), ["OrderRefunded", "ArrearsRepaid"]);
    assert_eq!(
        book_lines(&events[1..], world.r2, &names(&world)),
        [["Dr 2203[C] 450.00", "Cr 1122[C] 450.00"]],
        "what the wallet gets back, 475.00 less the 25.00 penalty"
    );
    world.ledger.given(&finance, refund.into());
    assert_eq!(wallet(&world), (amount("0.00"), amount("500.00")));
    assert_sound(&world.ledger);
}

// ------------------------------------------------------------------------------------- arrears

#[test]
fn arrears_past_their_due_date_are_noticed_once_and_stop_further_credit_until_repaid() {
    let mut world = WorkedExample::new();
    give_credit(&mut world, "2000.00", 700);
    let order_id = world.place_order();
    world.pay_order(order_id);
    world.ledger.today = date("2026-02-14");
    assert!(tick(&world).is_empty(), "due on the 14th: not overdue yet");

    world.ledger.today = date("2026-02-15");
    let events = run_tick(&mut world);

    assert_eq!(
        events.iter().map(|event| event.payload.clone()).collect::<Vec<_>>(),
        [EventPayload::ArrearsOverdue(ArrearsOverdue {
            customer_id: world.customer,
            book: world.r2,
            amount: amount("950.00"),
            due_on: date("2026-02-14"),
        })]
    );
    assert!(events[0].entries.is_empty(), "a notice books nothing");
    assert!(tick(&world).is_empty(), "noticed once");
    let another = world.place_order();
    let error = refused(pay(&mut world, another));
    assert_eq!(error, DomainError::ArrearsOverdue { amount: amount("950.00"), due_on: date("2026-02-14") });
    assert_eq!(error.code(), "arrears_overdue");

    online_recharge(&mut world, "950.00", "T-2");
    assert_eq!(wallet(&world), (amount("0.00"), amount("0.00")));
    assert_eq!(types(&pay(&mut world, another).unwrap()), ["CreditDrawn", "OrderPaid"]);
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------------------------- book terms

#[test]
fn a_books_terms_keep_what_is_left_out_and_refuse_what_is_out_of_range() {
    let mut world = WorkedExample::new();
    let finance = world.r2_finance.clone();
    let terms = |timeout: Option<u32>, due: Option<u32>| TermsCommand::SetBookTerms {
        book: world.r2,
        order_payment_timeout_minutes: timeout,
        arrears_due_days: due,
        renewal_lead_days: None,
    };

    let events = world.ledger.decide(&finance, terms(Some(60), Some(10)).into()).unwrap();

    assert_eq!(
        events[0].payload,
        EventPayload::BookTermsSet(BookTermsSet {
            book: world.r2,
            order_payment_timeout_minutes: 60,
            arrears_due_days: 10,
            renewal_lead_days: 3,
        })
    );
    world.ledger.given(&finance, terms(Some(60), Some(10)).into());
    let events = world.ledger.decide(&finance, terms(None, Some(365)).into()).unwrap();
    let EventPayload::BookTermsSet(set) = &events[0].payload else { panic!() };
    assert_eq!((set.order_payment_timeout_minutes, set.arrears_due_days), (60, 365));
    let error = refused(world.ledger.decide(&finance, terms(None, Some(0)).into()));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("arrears_due_days")));
    let error = refused(world.ledger.decide(&finance, terms(Some(43_201), None).into()));
    assert_eq!(error.field(), Some("order_payment_timeout_minutes"));
    let sales = world.r2_sales.clone();
    assert_eq!(refused(world.ledger.decide(&sales, terms(Some(5), None).into())).code(), "forbidden");
}

// ---------------------------------------------------------------------------- the clock itself

#[test]
fn an_unpaid_order_times_out_after_its_books_payment_timeout_and_a_tick_with_nothing_due_writes_nothing() {
    let mut world = WorkedExample::new();
    let order_id = world.place_order();
    let placed_at = world.ledger.log.last().unwrap().recorded_at;

    assert!(tick_at(&world, placed_at + Duration::minutes(24 * 60 - 1)).is_empty());
    let events = tick_at(&world, placed_at + Duration::minutes(24 * 60));
    assert_eq!(
        events.iter().map(|event| event.payload.clone()).collect::<Vec<_>>(),
        [EventPayload::OrderCancelled(OrderCancelled { order_id, reason: CancelReason::TimedOut })]
    );

    // The book's own timeout.
    let finance = world.r2_finance.clone();
    let terms = TermsCommand::SetBookTerms {
        book: world.r2,
        order_payment_timeout_minutes: Some(30),
        arrears_due_days: None,
        renewal_lead_days: None,
    };
    world.ledger.given(&finance, terms.into());
    let clock = clock_actor(world.platform);
    let before = world.ledger.log.len();
    let nothing =
        world.ledger.execute_at(&clock, ClockCommand::Tick.into(), placed_at + Duration::minutes(29)).unwrap();
    assert!(nothing.is_empty());
    assert_eq!(world.ledger.log.len(), before, "a tick that decides nothing writes nothing");
    let recorded =
        world.ledger.execute_at(&clock, ClockCommand::Tick.into(), placed_at + Duration::minutes(30)).unwrap();
    assert_eq!(types(&events_of(&recorded)), ["OrderCancelled"]);
    assert!(world.ledger.state.awaiting_payment.is_empty());
    assert_eq!(refused(pay(&mut world, order_id)).code(), "order_state");
    assert!(tick_at(&world, placed_at + Duration::days(30)).is_empty(), "cancelled once");
    assert_sound(&world.ledger);
}

#[test]
fn only_the_deployments_clock_ticks() {
    let world = WorkedExample::new();
    let platform_admin = world.platform_admin.clone();
    for who in [platform_admin, clock_actor(world.r2), actor(world.platform, 1_001, &[Role::SuperAdmin])] {
        let error = refused(world.ledger.decide(&who, ClockCommand::Tick.into()));
        assert_eq!(error.code(), "forbidden", "{who:?}");
    }
}

#[test]
fn the_clock_books_out_vouchers_past_their_expiry() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let coupon = MoneyCommand::GrantCoupon {
        customer_id: world.customer,
        amount: amount("50.00"),
        reason: "January".into(),
        approval_id: id(9_000_001),
        expires_on: Some(date("2026-02-01")),
    };
    world.ledger.given(&sales, coupon.into());
    world.ledger.today = date("2026-01-31");
    assert!(tick(&world).is_empty());
    world.ledger.today = date("2026-02-01");

    let events = run_tick(&mut world);

    assert_eq!(types(&events), ["VoucherExpired"]);
    assert_eq!(book_lines(&events, world.r2, &names(&world)), [["Dr 2203.01[C] 50.00", "Cr 6601 50.00"]]);
    assert!(tick(&world).is_empty());
    assert_sound(&world.ledger);
}

// --------------------------------------------------------------------------- settlement cycles

fn cycle(world: &WorkedExample, counterparty: OrgId, every: CycleEvery, day: u32) -> CommandBody {
    let cycle = Some(SettlementCycle { every, day });
    TermsCommand::SetSettlementCycle { book: world.platform, counterparty_id: counterparty, cycle }.into()
}

#[test]
fn a_settlement_cycle_issues_the_statement_due_with_the_hash_of_the_same_statement_issued_by_hand() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    let events = world.ledger.decide(&finance, cycle(&world, world.supplier, CycleEvery::Month, 1)).unwrap();
    assert_eq!(
        events[0].payload,
        EventPayload::SettlementCycleSet(SettlementCycleSet {
            book: world.platform,
            counterparty_id: world.supplier,
            cycle: Some(SettlementCycle { every: CycleEvery::Month, day: 1 }),
        })
    );
    world.ledger.given(&finance, cycle(&world, world.supplier, CycleEvery::Month, 1));
    world.ledger.today = date("2026-01-31");
    assert!(tick(&world).is_empty(), "January has not ended");

    world.ledger.today = date("2026-02-01");
    let events = tick(&world);

    assert_eq!(types(&events), ["SettlementStatementIssued"]);
    let statement = payload(&events, |payload| match payload {
        EventPayload::SettlementStatementIssued(statement) => Some(statement),
        _ => None,
    });
    assert_eq!((statement.book, statement.counterparty_id), (world.platform, world.supplier));
    // From the supplier's first open item (the sale of 2026-01-15) through the cycle's day before.
    assert_eq!((statement.from, statement.to), (date("2026-01-15"), date("2026-01-31")));
    assert_eq!((statement.payable.to_string(), statement.receivable.to_string()), ("700.00".into(), "0.00".into()));
    assert_eq!(statement.line_count, 1);
    let by_hand = SettlementCommand::IssueSettlementStatement {
        settlement_id: id(900),
        book: world.platform,
        counterparty_id: world.supplier,
        from: date("2026-01-15"),
        to: date("2026-01-31"),
    };
    let by_hand = world.ledger.decide(&finance, by_hand.into()).unwrap();
    let EventPayload::SettlementStatementIssued(by_hand) = &by_hand[0].payload else { panic!() };
    assert_eq!(by_hand.statement_hash, statement.statement_hash, "the same statement, the same hash");
    // `kboss settle --due` decides the same statement.
    let clock = clock_actor(world.platform);
    let due = world.ledger.decide(&clock, ClockCommand::SettleDue { book: Some(world.platform) }.into()).unwrap();
    assert_eq!(due, events);
    assert!(world.ledger.decide(&clock, ClockCommand::SettleDue { book: Some(world.r1) }.into()).unwrap().is_empty());

    run_tick(&mut world);
    assert!(tick(&world).is_empty(), "issued once");
    world.ledger.today = date("2026-03-01");
    assert!(tick(&world).is_empty(), "nothing open in February: nothing to settle, no event");
    assert_sound(&world.ledger);
}

#[test]
fn a_settlement_cycle_is_with_a_counterparty_of_the_book_on_a_day_the_cycle_has() {
    let mut world = WorkedExample::new();
    let finance = world.platform_finance.clone();
    let error = refused(world.ledger.decide(&finance, cycle(&world, world.r1, CycleEvery::Week, 8)));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("day")));
    let error = refused(world.ledger.decide(&finance, cycle(&world, world.r1, CycleEvery::Month, 29)));
    assert_eq!(error.field(), Some("day"));
    let error = refused(world.ledger.decide(&finance, cycle(&world, world.r2, CycleEvery::Week, 1)));
    assert_eq!(error.code(), "not_found", "R2 is R1's counterparty, not the platform's");
    world.ledger.given(&finance, cycle(&world, world.r1, CycleEvery::Week, 1));
    assert_eq!(world.ledger.state.settlement_cycles.len(), 1);
    let removed = TermsCommand::SetSettlementCycle { book: world.platform, counterparty_id: world.r1, cycle: None };
    world.ledger.given(&finance, removed.into());
    assert!(world.ledger.state.settlement_cycles.is_empty());
}

// ------------------------------------------------------------------------------- auto-renewals

#[test]
fn an_auto_renewal_renews_from_the_wallet_before_the_end_and_is_noticed_once_when_short() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "2000.00");
    fulfil(&mut world, order_id, "2026-02-15");
    let customer = world.customer_actor.clone();
    let set = TermsCommand::SetAutoRenewal { order_id, periods: Some(1) };
    let events = world.ledger.decide(&customer, set.clone().into()).unwrap();
    assert_eq!(
        events[0].payload,
        EventPayload::AutoRenewalSet(AutoRenewalSet {
            order_id,
            customer_id: world.customer,
            seller_id: world.r2,
            periods: Some(1),
        })
    );
    world.ledger.given(&customer, set.into());
    world.ledger.today = date("2026-02-11");
    assert!(tick(&world).is_empty(), "more than three days (the default lead) before the end");

    world.ledger.today = date("2026-02-12");
    let events = run_tick(&mut world);

    assert_eq!(types(&events), ["SubscriptionRenewed"]);
    let renewed = payload(&events, |payload| match payload {
        EventPayload::SubscriptionRenewed(renewed) => Some(renewed),
        _ => None,
    });
    assert_eq!((renewed.new_end, renewed.total), (date("2026-03-15"), amount("950.00")));
    assert_eq!(renewed.renewed_by, ledger_core::decide::CLOCK_PRINCIPAL_ID);
    assert_eq!(world.ledger.state.orders[&order_id].subscription_end, Some(date("2026-03-15")));
    assert!(tick(&world).is_empty(), "renewed once");
    assert_eq!(wallet(&world), (amount("100.00"), amount("0.00")));

    world.ledger.today = date("2026-03-12");
    let events = run_tick(&mut world);

    assert_eq!(
        events.iter().map(|event| event.payload.clone()).collect::<Vec<_>>(),
        [EventPayload::AutoRenewalFailed(AutoRenewalFailed {
            order_id,
            customer_id: world.customer,
            seller_id: world.r2,
            subscription_end: date("2026-03-15"),
            reason: "insufficient_balance".into(),
            needed: amount("950.00"),
            available: amount("100.00"),
        })]
    );
    assert!(tick(&world).is_empty(), "noticed once per end");
    online_recharge(&mut world, "850.00", "T-3");
    world.ledger.today = date("2026-03-13");
    assert_eq!(types(&run_tick(&mut world)), ["SubscriptionRenewed"]);
    assert_eq!(world.ledger.state.orders[&order_id].subscription_end, Some(date("2026-04-15")));
    // Switched off: the clock leaves it.
    world.ledger.given(&customer, TermsCommand::SetAutoRenewal { order_id, periods: None }.into());
    world.ledger.today = date("2026-04-14");
    assert!(tick(&world).is_empty());
    assert_sound(&world.ledger);
}

#[test]
fn an_auto_renewal_is_of_an_order_paid_for_and_of_a_span_of_time() {
    let mut world = WorkedExample::new();
    let unpaid = world.place_order();
    let customer = world.customer_actor.clone();
    let error = refused(
        world.ledger.decide(&customer, TermsCommand::SetAutoRenewal { order_id: unpaid, periods: Some(1) }.into()),
    );
    assert_eq!(error.code(), "order_state");
    let paid = paid_order(&mut world, "1000.00");
    let error = refused(
        world.ledger.decide(&customer, TermsCommand::SetAutoRenewal { order_id: paid, periods: Some(0) }.into()),
    );
    assert_eq!(error.field(), Some("periods"));
    use ledger_core::decide::PeriodUnit;
    assert_eq!(PeriodUnit::parse(" Months "), Some(PeriodUnit::Month));
    assert_eq!(PeriodUnit::parse("年"), Some(PeriodUnit::Year));
    assert_eq!(PeriodUnit::parse("GB"), None);
    assert_eq!(PeriodUnit::Month.after(date("2026-01-31"), 1), Some(date("2026-02-28")));
}

// ---------------------------------------------------------------------------------- invariants

#[test]
fn a_wallet_below_zero_within_its_credit_limit_is_sound_and_one_below_minus_the_limit_is_reported() {
    let mut world = WorkedExample::new();
    give_credit(&mut world, "1000.00", 700);
    let order_id = world.place_order();
    world.pay_order(order_id);
    // A lowered limit leaves what is owed as it is: nothing moved the wallet lower.
    let sales = world.r2_sales.clone();
    world.ledger.given(&sales, credit_limit(&world, "100.00", 701));
    assert_sound(&world.ledger);

    // A forged second draw of the same 950.00 and a second sale that spends it: the draw takes
    // the wallet (2203 − 1122, −1900.00 once spent) below −100.00.
    let forge = |event_type: &str, position: u64| {
        let original = world.ledger.log.iter().find(|event| event.event_type() == event_type).unwrap();
        ledger_core::RecordedEvent { position, ..original.clone() }
    };
    let last = world.ledger.state.last_position;
    let forged = [forge("CreditDrawn", last + 1), forge("OrderPaid", last + 2)];
    let mut audit = Audit::default();
    for event in world.ledger.log.iter().chain(&forged) {
        audit.observe(&world.ledger.state, event);
    }
    let found = audit.finish(&world.ledger.state);
    let below: Vec<_> = found.iter().filter(|violation| violation.kind == "wallet_below_credit_limit").collect();
    assert_eq!(below.len(), 1, "{found:?}");
    assert_eq!((below[0].position, below[0].books.clone()), (Some(last + 1), vec![world.r2]));
    assert!(found.iter().any(|violation| violation.kind == "arrears"), "1122 no longer says what is owed: {found:?}");
}
