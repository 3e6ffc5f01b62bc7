//! Issue 14's audit tools in the core: a closed period reopened through an approval with its
//! reason (given/when/then), low-balance thresholds, reconciliations decided and recorded,
//! replay under proposed rules on DESIGN §2.5's world, and the live invariant monitors over a
//! sound log and over forged ones.

mod common;

use common::*;
use ledger_core::chart::{AccountCode, Side};
use ledger_core::event::*;
use ledger_core::ids::{OrgId, ReconciliationId};
use ledger_core::invariants::{Finding, Monitor, Watched};
use ledger_core::journal::{Entry, Line};
use ledger_core::money::{Currency, SignedAmount};
use ledger_core::reconcile::{LedgerItem, MatchKind, StatementFormat, StatementRow, Tolerance};
use ledger_core::rule_replay::RuleReplay;
use ledger_core::rules::{PostingRule, RuleRef};
use ledger_core::state::{trial_balance_hash, State};
use ledger_core::testing::{amount, date, envelope, id, WorkedExample};
use ledger_core::{ApprovalCommand, MoneyCommand, OrderCommand, SettlementCommand};
use ledger_core::{CommandBody, DomainError};

fn close(world: &WorkedExample, through: &str) -> CommandBody {
    CommandBody::Settlement(SettlementCommand::ClosePeriod { book: world.r2, through: date(through) })
}

fn reopen(world: &WorkedExample, approval: u128, through: &str, reason: &str) -> CommandBody {
    CommandBody::Settlement(SettlementCommand::RequestPeriodReopen {
        approval_id: id(approval),
        book: world.r2,
        through: date(through),
        reason: reason.into(),
    })
}

fn decide(approval: u128, grant: bool) -> CommandBody {
    CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(approval), grant, comment: None })
}

// ---------------------------------------------------------------- period reopen

#[test]
fn a_closed_period_reopens_only_through_an_approval_with_its_reason() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00"); // R2: Dr 1002 1000.00, Cr 2203[C] 1000.00, dated 2026-01-15
    world.ledger.today = date("2026-02-01");
    let finance = world.r2_finance.clone();
    world.ledger.given(&finance, close(&world, "2025-12-31"));
    let closed = world.ledger.given(&finance, close(&world, "2026-01-31"));
    let close_position = closed[0].position;

    // Given a closed January, when finance asks to reopen it: an approval, nothing reopened.
    let requested = world.ledger.given(&finance, reopen(&world, 70, "2026-01-31", "a bank fee was missed"));
    assert_eq!(types(&events_of(&requested)), ["ApprovalRequested"]);
    let EventPayload::ApprovalRequested(request) = &requested[0].event.payload else { unreachable!() };
    assert_eq!(request.kind, ApprovalKind::PeriodReopen);
    assert_eq!(
        request.proposal,
        Proposal::ReopenPeriod { book: world.r2, through: date("2026-01-31"), reason: "a bank fee was missed".into() }
    );
    assert_eq!(world.ledger.state.book(world.r2).unwrap().closed_through, Some(date("2026-01-31")));
    // A second request while one waits is refused; nobody approves their own.
    assert_eq!(
        refused(world.ledger.decide(&finance, reopen(&world, 71, "2026-01-31", "again"))).code(),
        "approval_pending"
    );
    assert_eq!(refused(world.ledger.decide(&finance, decide(70, true))), DomainError::SelfApproval);

    // When the admin grants it: the period is open again, back to December's close.
    let admin = world.r2_admin.clone();
    let before = world.ledger.state.last_position;
    let granted = world.ledger.given(&admin, decide(70, true));
    assert_eq!(types(&events_of(&granted)), ["ApprovalGranted", "PeriodReopened"]);
    let EventPayload::PeriodReopened(reopened) = &granted[1].event.payload else { unreachable!() };
    let rows = world.ledger.state.book(world.r2).unwrap().trial_balance(date("2026-01-31"));
    assert_eq!(
        reopened,
        &PeriodReopened {
            book: world.r2,
            through: date("2026-01-31"),
            closed_through: Some(date("2025-12-31")),
            close_position,
            reason: "a bank fee was missed".into(),
            approval_id: id(70),
            requested_by: finance.principal_id,
            trial_balance_hash: trial_balance_hash(&rows),
            total_debit: amount("1000.00").into(),
            total_credit: amount("1000.00").into(),
            last_position: before,
        }
    );
    let book = world.ledger.state.book(world.r2).unwrap();
    assert_eq!(book.closed_through, Some(date("2025-12-31")));
    // January takes a correction again; December does not.
    world.ledger.today = date("2026-01-31");
    let coupon = CommandBody::Money(MoneyCommand::GrantCoupon {
        approval_id: id(72),
        customer_id: world.customer,
        amount: amount("5.00"),
        reason: "fee".into(),
        expires_on: None,
    });
    let sales = world.r2_sales.clone();
    world.ledger.given(&sales, coupon.clone());
    world.ledger.today = date("2025-12-31");
    assert_eq!(refused(world.ledger.decide(&sales, coupon)).code(), "period_closed");
    // And January closes again, with a certificate of its own.
    world.ledger.today = date("2026-02-02");
    let again = world.ledger.given(&finance, close(&world, "2026-01-31"));
    let EventPayload::PeriodClosed(closed) = &again[0].event.payload else { unreachable!() };
    assert_eq!(
        (closed.certificate.total_debit, closed.certificate.total_credit),
        (amount("1005.00").into(), amount("1005.00").into())
    );
    assert_sound(&world.ledger);
}

#[test]
fn reopen_refusals() {
    let mut world = WorkedExample::new();
    world.ledger.today = date("2026-03-01");
    let finance = world.r2_finance.clone();
    let error = refused(world.ledger.decide(&finance, reopen(&world, 80, "2026-01-31", "why")));
    assert_eq!((error.code(), error.to_string().as_str()), ("period_not_closed", "the book has no closed period"));
    world.ledger.given(&finance, close(&world, "2026-01-31"));
    world.ledger.given(&finance, close(&world, "2026-02-28"));
    // Only the last closed period reopens: February first.
    let error = refused(world.ledger.decide(&finance, reopen(&world, 80, "2026-01-31", "why")));
    assert_eq!(
        error.to_string(),
        "the book's last closed period ends on 2026-02-28, not 2026-01-31: reopen that one first"
    );
    // A reason is written; sales may not ask; another book's is not found.
    assert_eq!(refused(world.ledger.decide(&finance, reopen(&world, 80, "2026-02-28", " "))).field(), Some("reason"));
    assert_eq!(
        refused(world.ledger.decide(&world.r2_sales, reopen(&world, 80, "2026-02-28", "why"))).code(),
        "forbidden"
    );
    let r1_finance = world.r1_finance.clone();
    assert_eq!(refused(world.ledger.decide(&r1_finance, reopen(&world, 80, "2026-02-28", "why"))).code(), "not_found");
    // A policy cannot take the approval away (no `above` on it).
    let rule = ledger_core::approval_policy::ApprovalRule {
        action: ledger_core::approval_policy::ApprovalAction::PeriodReopen,
        above: Some(amount("1.00")),
        levels: ledger_core::approval_policy::default_levels(),
    };
    let error = ledger_core::approval_policy::check_rules(&[rule], false).unwrap_err();
    assert_eq!(error.field(), Some("rules[0].above"));
    // February reopened: the book is closed through January again.
    world.ledger.given(&finance, reopen(&world, 81, "2026-02-28", "a missed invoice"));
    let admin = world.r2_admin.clone();
    world.ledger.given(&admin, decide(81, true));
    assert_eq!(world.ledger.state.book(world.r2).unwrap().closed_through, Some(date("2026-01-31")));
    // A granted reopen of a period that is no longer the last closed one is refused when it is
    // carried out: January asked for, February closed again meanwhile.
    world.ledger.given(&finance, reopen(&world, 82, "2026-01-31", "a late bank fee"));
    world.ledger.given(&finance, close(&world, "2026-02-28"));
    assert_eq!(refused(world.ledger.decide(&admin, decide(82, true))).code(), "period_not_closed");
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- low-balance thresholds

#[test]
fn a_threshold_is_set_by_the_customer_or_its_seller_and_cleared_with_none() {
    let mut world = WorkedExample::new();
    let set = |threshold: Option<&str>| {
        CommandBody::Money(MoneyCommand::SetLowBalanceThreshold {
            customer_id: world.customer,
            threshold: threshold.map(amount),
        })
    };
    let events = world.ledger.decide(&world.customer_actor, set(Some("100.00"))).unwrap();
    assert_eq!(
        events[0].payload,
        EventPayload::LowBalanceThresholdSet(LowBalanceThresholdSet {
            customer_id: world.customer,
            book: world.r2,
            threshold: Some(amount("100.00")),
        })
    );
    let sales = world.r2_sales.clone();
    world.ledger.given(&sales, set(Some("100.00")));
    assert_eq!(world.ledger.state.low_balance_thresholds.get(&world.customer), Some(&amount("100.00")));
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, set(None));
    assert!(world.ledger.state.low_balance_thresholds.is_empty());
    let r1_finance = world.r1_finance.clone();
    assert_eq!(refused(world.ledger.decide(&r1_finance, set(Some("1.00")))).code(), "not_found");
}

// ---------------------------------------------------------------- reconciliation

fn row(row: u32, day: &str, value: &str, reference: &str) -> StatementRow {
    StatementRow { row, date: date(day), amount: signed(value), reference: reference.into() }
}

fn signed(value: &str) -> SignedAmount {
    SignedAmount::from_decimal(value.parse().unwrap())
}

#[test]
fn a_reconciliation_is_matched_by_the_ledger_and_recorded() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    world.recharge("500.00");
    let (book, through_position) = (world.r2, world.ledger.state.last_position);
    let body = |account: &str, id_value: u128| {
        CommandBody::Settlement(SettlementCommand::RecordReconciliation {
            reconciliation_id: id(id_value),
            book,
            account: AccountCode::parse(account).unwrap(),
            format: StatementFormat::Csv,
            statement_sha256: "ab".repeat(32),
            tolerance: Tolerance { amount: amount("0.00"), days: 1 },
            through_position,
            statement: vec![row(1, "2026-01-15", "1500.00", "batch"), row(2, "2026-01-16", "-3.00", "fee")],
            ledger: vec![
                LedgerItem { position: 5, entry: 0, line: 0, date: date("2026-01-15"), amount: signed("1000.00") },
                LedgerItem { position: 9, entry: 0, line: 0, date: date("2026-01-15"), amount: signed("500.00") },
            ],
        })
    };
    let finance = world.r2_finance.clone();
    let recorded = world.ledger.given(&finance, body("1002", 60));
    let EventPayload::ReconciliationRecorded(reconciliation) = &recorded[0].event.payload else { unreachable!() };
    assert!(recorded[0].event.entries.is_empty(), "a reconciliation books nothing");
    assert_eq!(reconciliation.groups.len(), 1);
    assert_eq!(reconciliation.groups[0].kind, MatchKind::ManyToOne);
    assert_eq!(
        (reconciliation.groups[0].ledger.clone(), reconciliation.groups[0].statement.clone()),
        (vec![0, 1], vec![0])
    );
    assert!(world.ledger.state.reconciliations.contains(&id::<ReconciliationId>(60)));
    // The same id again; another account; sales; a position the log has not reached.
    assert_eq!(refused(world.ledger.decide(&finance, body("1002", 60))).code(), "already_exists");
    assert_eq!(refused(world.ledger.decide(&finance, body("2203", 61))).field(), Some("account"));
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, body("1002", 61))).code(), "forbidden");
}

// ---------------------------------------------------------------- replay under other rules

/// The discount booked as a selling expense (6601) instead of a sales discount (6001.99).
fn discount_as_expense(role: &str, first: (&str, &str)) -> PostingRule {
    serde_json::from_value(serde_json::json!({
        "kind": "sale",
        "role": role,
        "lines": [
            { "account": first.0, "party": first.1, "side": "debit", "amount": "price" },
            { "account": "6601", "side": "debit", "amount": "list - price" },
            { "account": "6001", "side": "credit", "amount": "list" },
        ],
    }))
    .unwrap()
}

fn replay(world: &WorkedExample, rules: Vec<PostingRule>, book: OrgId) -> ledger_core::rule_replay::ReplayReport {
    let mut replay = RuleReplay::new(rules, book, date("2026-01-01"), date("2026-01-31")).unwrap();
    world.ledger.log.iter().for_each(|event| replay.observe(event));
    replay.finish()
}

#[test]
fn the_worked_example_replayed_with_discounts_as_selling_expenses() {
    let mut world = WorkedExample::new();
    world.recharge("2000.00");
    let order_id = world.place_order();
    let paid = world.pay_order(order_id)[0].position;
    // A refund of 95.00, no penalty: a refund rule the proposal keeps.
    let refund = CommandBody::Orders(OrderCommand::RefundOrder {
        order_id,
        amount: amount("95.00"),
        penalty: amount("0.00"),
        reason: "partial".into(),
        approval_id: id(77),
    });
    let finance = world.r2_finance.clone();
    world.ledger.given(&finance, refund);
    let rules = vec![
        discount_as_expense("seller", ("2203", "customer")),
        discount_as_expense("intermediate", ("1122", "child")),
    ];

    let r2 = replay(&world, rules.clone(), world.r2);
    assert_eq!(r2.rules, ["sale/intermediate", "sale/seller"]);
    assert_eq!((r2.entries, r2.rebooked, r2.changed.len()), (5, 1, 1), "recharge, sale (2), refund (2)");
    let differences: Vec<String> = r2
        .differences()
        .map(|account| {
            let difference = account.difference();
            format!(
                "{} debit {} credit {} at {:?}",
                account.account, difference.debit, difference.credit, account.positions
            )
        })
        .collect();
    assert_eq!(
        differences,
        [format!("6001.99 debit -50.00 credit 0.00 at [{paid}]"), format!("6601 debit 50.00 credit 0.00 at [{paid}]")]
    );
    let sales_discounts = r2.accounts.iter().find(|account| account.account.as_str() == "6001.99").unwrap();
    // What stays in 6001.99 is the refund's reversal of 5.00, which the proposal leaves alone.
    assert_eq!((sales_discounts.booked.debit, sales_discounts.booked.credit), (signed("50.00"), signed("5.00")));
    assert_eq!((sales_discounts.replayed.debit, sales_discounts.replayed.credit), (signed("0.00"), signed("5.00")));
    let changed = &r2.changed[0];
    assert_eq!(
        (changed.position, changed.event_type, changed.rule.as_str(), changed.version),
        (paid, "OrderPaid", "sale/seller", 1)
    );
    assert_eq!(render_lines(&changed.after, &names(&world)), ["Dr 2203[C] 950.00", "Dr 6601 50.00", "Cr 6001 1000.00"]);

    // R1 sold to R2: its intermediate entry moves 120.00; the platform's, 200.00.
    let r1 = replay(&world, rules.clone(), world.r1);
    let moved: Vec<(String, SignedAmount)> =
        r1.differences().map(|account| (account.account.to_string(), account.difference().debit)).collect();
    assert_eq!(moved, [("6001.99".to_owned(), signed("-120.00")), ("6601".to_owned(), signed("120.00"))]);
    let platform = replay(&world, rules, world.platform);
    assert_eq!(
        platform.differences().map(|account| account.difference().debit).collect::<Vec<_>>(),
        [signed("-200.00"), signed("200.00")]
    );
    // Outside the period, nothing.
    let mut later = RuleReplay::new(
        vec![discount_as_expense("seller", ("2203", "customer"))],
        world.r2,
        date("2026-02-01"),
        date("2026-02-28"),
    )
    .unwrap();
    world.ledger.log.iter().for_each(|event| later.observe(event));
    assert_eq!(later.finish().entries, 0);
}

fn render_lines(lines: &[Line], names: &[(OrgId, &str)]) -> Vec<String> {
    let entry = Entry {
        book: id(0),
        date: date("2026-01-01"),
        currency: Currency::CNY,
        rule: RuleRef { id: String::new(), version: 0 },
        lines: lines.to_vec(),
    };
    render(&entry, names)
}

#[test]
fn a_proposal_the_entries_cannot_answer_is_said_not_guessed() {
    let mut world = WorkedExample::new();
    world.recharge("2000.00");
    let order_id = world.place_order();
    let paid = world.pay_order(order_id)[0].position;
    // A proposal that also books the cost in the seller's role: its entry never used `cost`.
    let mut rule = discount_as_expense("seller", ("2203", "customer"));
    rule.lines.push(
        serde_json::from_value(serde_json::json!({ "account": "6401", "side": "debit", "amount": "cost" })).unwrap(),
    );
    rule.lines.push(
        serde_json::from_value(serde_json::json!({ "account": "6601", "side": "credit", "amount": "cost" })).unwrap(),
    );
    let report = replay(&world, vec![rule], world.r2);
    assert_eq!(report.changed.len(), 0);
    assert_eq!(report.not_replayed.len(), 1);
    assert_eq!(report.not_replayed[0].position, paid);
    assert!(report.not_replayed[0].reason.contains("the amount cost is not known"), "{:?}", report.not_replayed);
    // An unbalanced proposal is refused, naming the rule.
    let mut unbalanced = discount_as_expense("seller", ("2203", "customer"));
    unbalanced.lines.pop();
    let (index, reason) =
        RuleReplay::new(vec![unbalanced], world.r2, date("2026-01-01"), date("2026-01-31")).err().unwrap();
    assert_eq!(index, 0);
    assert!(reason.contains("list"), "{reason}");
}

// ---------------------------------------------------------------- live invariant monitors

/// The world's log folded through a monitor: every finding.
fn monitored(log: &[RecordedEvent]) -> (State, Monitor, Vec<Finding>) {
    let mut state = State::default();
    let mut monitor = Monitor::default();
    let mut findings = Vec::new();
    for event in log {
        state.evolve(event);
        findings.extend(monitor.observe(&state, event));
    }
    (state, monitor, findings)
}

/// A custom event of the book's (a forger's), with the lines given, at the next position.
fn forged(state: &State, book: OrgId, rule: &str, lines: Vec<Line>) -> RecordedEvent {
    let payload = EventPayload::BusinessBooked(BusinessBooked {
        kind: "forged".into(),
        role: "book".into(),
        book,
        amounts: Default::default(),
        parties: Default::default(),
        memo: "forged".into(),
    });
    let entry = Entry {
        book,
        date: date("2026-01-20"),
        currency: Currency::CNY,
        rule: RuleRef { id: rule.into(), version: 1 },
        lines,
    };
    let actor = ledger_core::testing::actor(book, 99, &[ledger_core::org::Role::Admin]);
    RecordedEvent::staged(
        Event::with_entries(payload, vec![entry]),
        envelope(state.last_position + 1, &actor, date("2026-01-20")),
    )
}

fn line(account: &str, party: Option<OrgId>, side: Side, value: &str) -> Line {
    Line { account: AccountCode::parse(account).unwrap(), party, side, amount: amount(value), pair: None }
}

fn busy_world() -> WorkedExample {
    let mut world = WorkedExample::new();
    world.recharge("2000.00");
    let order_id = world.place_order();
    world.pay_order(order_id);
    // The platform settles with its supplier: statement, then its payment approved.
    world.ledger.today = date("2026-02-01");
    let finance = world.platform_finance.clone();
    let issued = world.ledger.given(
        &finance,
        CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
            settlement_id: id(500),
            book: world.platform,
            counterparty_id: world.supplier,
            from: date("2026-01-01"),
            to: date("2026-01-31"),
        }),
    );
    assert_eq!(types(&events_of(&issued)), ["SettlementStatementIssued"]);
    world.ledger.given(
        &finance,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(500), approval_id: id(501) }),
    );
    let admin = world.platform_admin.clone();
    world.ledger.given(&admin, decide(501, true));
    world
}

fn breaches(findings: &[Finding]) -> Vec<(String, u64, String)> {
    findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Breached(breach) => {
                Some((breach.watched.invariant().to_owned(), breach.position, breach.detail.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_sound_log_breaks_no_invariant() {
    let world = busy_world();
    let (_, monitor, findings) = monitored(&world.ledger.log);
    assert_eq!(findings, Vec::new());
    assert_eq!(monitor.open().count(), 0);
}

#[test]
fn each_forged_breach_is_found_once_with_its_position_and_healed() {
    let world = busy_world();
    let (mut state, mut monitor, _) = monitored(&world.ledger.log);
    let mut observe = |state: &mut State, event: RecordedEvent| {
        state.evolve(&event);
        monitor.observe(state, &event)
    };
    let (r1, r2, platform, supplier) = (world.r1, world.r2, world.platform, world.supplier);

    // 2203 credited with no customer: the book owes more than its customers' wallets hold.
    let event = forged(
        &state,
        r2,
        "forged/book",
        vec![line("1002", None, Side::Debit, "100.00"), line("2203", None, Side::Credit, "100.00")],
    );
    let at = event.position;
    let found = observe(&mut state, event);
    assert_eq!(
        breaches(&found),
        [(
            "wallets".to_owned(),
            at,
            format!("book {r2}: 2203 is 1150.00 but its customers' wallets hold 1050.00 of cash")
        )]
    );
    // Still off after the next event of the book: not reported again.
    let event = forged(
        &state,
        r2,
        "forged/book",
        vec![line("1002", None, Side::Debit, "1.00"), line("6001", None, Side::Credit, "1.00")],
    );
    assert_eq!(observe(&mut state, event), Vec::new());
    // Put right: healed.
    let event = forged(
        &state,
        r2,
        "forged/book",
        vec![line("2203", None, Side::Debit, "100.00"), line("1002", None, Side::Credit, "100.00")],
    );
    let healed_at = event.position;
    assert_eq!(
        observe(&mut state, event),
        [Finding::Healed { watched: Watched::Wallets { book: r2, vouchers: false }, position: healed_at }]
    );

    // A settlement's line paying the supplier without a statement.
    let event = forged(
        &state,
        platform,
        "settlement/issuer",
        vec![line("2202", Some(supplier), Side::Debit, "100.00"), line("1002", None, Side::Credit, "100.00")],
    );
    let at = event.position;
    assert_eq!(
        breaches(&observe(&mut state, event)),
        [("supplier_payables".to_owned(), at, format!("book {platform} owes supplier {supplier} -100.00 on 2202, but its unpaid statements come to 0.00 and the items on no statement to 0.00"))]
    );

    // R1's receivable from R2 without R2's payable.
    let event = forged(
        &state,
        r1,
        "forged/book",
        vec![line("1122", Some(r2), Side::Debit, "30.00"), line("6001", None, Side::Credit, "30.00")],
    );
    let at = event.position;
    assert_eq!(
        breaches(&observe(&mut state, event)),
        [(
            "intercompany".to_owned(),
            at,
            format!("book {r1}'s 1122 with {r2} is 910.00, but {r2}'s 2202 with {r1} is 880.00")
        )]
    );

    // An unbalanced entry does not verify: the trial balance breach and the stop.
    let event = forged(
        &state,
        r2,
        "forged/book",
        vec![line("1002", None, Side::Debit, "10.00"), line("6001", None, Side::Credit, "9.00")],
    );
    let at = event.position;
    let found = monitor.refused(&state, &event, "entry 0 does not balance");
    assert_eq!(
        breaches(&found),
        [
            ("unbalanced_entry".to_owned(), at, format!("event {at}: unbalanced entry in book {r2}")),
            ("trial_balance".to_owned(), at, format!("book {r2}: trial balance is off by 1.00")),
            (
                "log".to_owned(),
                at,
                format!("event {at} does not verify (entry 0 does not balance): the monitors stop here")
            ),
        ]
    );
}

#[test]
fn a_low_balance_notice_goes_out_once_per_crossing() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let customer = world.customer_actor.clone();
    world.ledger.given(
        &customer,
        CommandBody::Money(MoneyCommand::SetLowBalanceThreshold {
            customer_id: world.customer,
            threshold: Some(amount("500.00")),
        }),
    );
    let first = world.place_order();
    let crossed = world.pay_order(first)[0].position; // 1000.00 - 950.00 = 50.00
    world.recharge("2000.00"); // 2050.00: above again
    let second = world.place_order();
    world.pay_order(second); // 1100.00: still above
    let third = world.place_order();
    let again = world.pay_order(third)[0].position; // 150.00: below again
    let (_, _, findings) = monitored(&world.ledger.log);
    let notices: Vec<(u64, String, String)> = findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::LowBalance { customer, book, balance, threshold, position } => {
                assert_eq!((*customer, *book), (world.customer, world.r2));
                Some((*position, balance.to_string(), threshold.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        notices,
        [(crossed, "50.00".to_owned(), "500.00".to_owned()), (again, "150.00".to_owned(), "500.00".to_owned())]
    );
}
