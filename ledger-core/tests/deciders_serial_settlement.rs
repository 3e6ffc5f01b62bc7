//! Given/when/then tests of the serial-code, settlement, invoice and period-close deciders.

mod common;

use common::*;
use ledger_core::chart::AccountCode;
use ledger_core::event::*;
use ledger_core::ids::{OrderId, SerialCode, SettlementId};
use ledger_core::money::{MoneyError, SignedAmount};
use ledger_core::org::{DistributorTier, Role, SaleMode};
use ledger_core::rules::default_rules;
use ledger_core::state::{trial_balance_hash, TrialBalanceRow};
use ledger_core::statement::{self, Figures, Selection};
use ledger_core::testing::{actor, amount, date, id, rate, WorkedExample};
use ledger_core::{ApprovalCommand, MoneyCommand, OrderCommand, SerialCommand, SettlementCommand, SetupCommand};
use ledger_core::{CommandBody, DomainError};

fn code(text: &str) -> SerialCode {
    SerialCode::try_from(text.to_owned()).unwrap()
}

fn platform_operations(world: &WorkedExample) -> ledger_core::org::Actor {
    actor(world.platform, 1004, &[Role::Operations])
}

fn platform_sales(world: &WorkedExample) -> ledger_core::org::Actor {
    actor(world.platform, 1003, &[Role::Sales])
}

/// 30-day packages list at 100.00; R1 is a gold distributor; gold buys at 0.80.
fn serial_world() -> WorkedExample {
    let mut world = WorkedExample::new();
    let operations = platform_operations(&world);
    let sales = platform_sales(&world);
    let finance = world.platform_finance.clone();
    world.ledger.given(
        &operations,
        CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days: 30, list_price: amount("100.00") }),
    );
    world.ledger.given(
        &sales,
        CommandBody::Serial(SerialCommand::SetDistributorTier {
            distributor_id: world.r1,
            tier: DistributorTier::Gold,
        }),
    );
    world.ledger.given(
        &finance,
        CommandBody::Serial(SerialCommand::SetSerialTierRate { tier: DistributorTier::Gold, rate: rate("0.80") }),
    );
    world
}

fn issue(world: &WorkedExample, batch: u128, codes: &[&str]) -> CommandBody {
    CommandBody::Serial(SerialCommand::IssueSerialCodes {
        batch_id: id(batch),
        distributor_id: world.r1,
        days: 30,
        codes: codes.iter().map(|text| code(text)).collect(),
        expires_on: None,
    })
}

fn activate(world: &WorkedExample, text: &str) -> CommandBody {
    CommandBody::Serial(SerialCommand::ActivateSerialCode { code: code(text), customer_id: world.customer })
}

// ---------------------------------------------------------------- serial-code setup

#[test]
fn serial_package_price_is_set_by_the_platforms_operations() {
    let world = WorkedExample::new();
    let operations = platform_operations(&world);
    let body = CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days: 180, list_price: amount("450.00") });
    assert_eq!(
        world.ledger.decide(&operations, body.clone()).unwrap(),
        vec![Event::new(EventPayload::SerialPackagePriced(SerialPackagePriced {
            days: 180,
            list_price: amount("450.00")
        }))]
    );
    let error = refused(world.ledger.decide(
        &operations,
        CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days: 7, list_price: amount("10.00") }),
    ));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("days")));
    let error = refused(world.ledger.decide(
        &operations,
        CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days: 3, list_price: amount("0") }),
    ));
    assert_eq!(error, DomainError::InvalidAmount { field: "list_price".into(), reason: MoneyError::Zero });
    assert_eq!(refused(world.ledger.decide(&world.r1_admin, body.clone())).code(), "not_found");
    assert_eq!(refused(world.ledger.decide(&platform_sales(&world), body)).code(), "forbidden");
}

#[test]
fn distributor_tier_is_set_for_resellers_directly_under_the_platform() {
    let world = WorkedExample::new();
    let sales = platform_sales(&world);
    assert_eq!(
        world
            .ledger
            .decide(
                &sales,
                CommandBody::Serial(SerialCommand::SetDistributorTier {
                    distributor_id: world.r1,
                    tier: DistributorTier::Diamond
                })
            )
            .unwrap(),
        vec![Event::new(EventPayload::DistributorTierSet(DistributorTierSet {
            distributor_id: world.r1,
            tier: DistributorTier::Diamond
        }))]
    );
    // R2 sits under R1, and a customer is no distributor.
    for org in [world.r2, world.customer] {
        let error = refused(world.ledger.decide(
            &sales,
            CommandBody::Serial(SerialCommand::SetDistributorTier { distributor_id: org, tier: DistributorTier::Gold }),
        ));
        assert_eq!(error, DomainError::NotFound { what: "distributor", id: org.to_string() });
    }
}

#[test]
fn serial_tier_rate_is_set_by_the_platforms_finance() {
    let world = WorkedExample::new();
    let body =
        CommandBody::Serial(SerialCommand::SetSerialTierRate { tier: DistributorTier::Platinum, rate: rate("0.75") });
    assert_eq!(
        world.ledger.decide(&world.platform_finance, body.clone()).unwrap(),
        vec![Event::new(EventPayload::SerialTierRateSet(SerialTierRateSet {
            tier: DistributorTier::Platinum,
            rate: rate("0.75")
        }))]
    );
    assert_eq!(refused(world.ledger.decide(&platform_sales(&world), body)).code(), "forbidden");
}

// ---------------------------------------------------------------- issue and activate

#[test]
fn issuing_serial_codes_books_a_receivable_against_contract_liabilities_and_the_distributors_cost() {
    let mut world = serial_world();
    let operations = platform_operations(&world);
    let body = issue(&world, 800, &["A1", "A2", "A3"]);

    let events = world.ledger.decide(&operations, body.clone()).unwrap();

    assert_eq!(types(&events), ["SerialCodesIssued"]);
    assert_eq!(
        events[0].payload,
        EventPayload::SerialCodesIssued(SerialCodesIssued {
            batch_id: id(800),
            issuer_id: world.platform,
            distributor_id: world.r1,
            tier: DistributorTier::Gold,
            days: 30,
            codes: vec![code("A1"), code("A2"), code("A3")],
            unit_price: amount("80.00"),
            total: amount("240.00"),
        })
    );
    let names = names(&world);
    assert_eq!(book_lines(&events, world.platform, &names), vec![vec!["Dr 1122[R1] 240.00", "Cr 2205 240.00"]]);
    assert_eq!(book_lines(&events, world.r1, &names), vec![vec!["Dr 6401 240.00", "Cr 2202[platform] 240.00"]]);
    assert_eq!(book_rules(&events, world.platform), ["serial.issue/issuer"]);
    assert_eq!(book_rules(&events, world.r1), ["serial.issue/distributor"]);
    let receivable = &events[0].entries[0].lines[0];
    let payable = &events[0].entries[1].lines[1];
    assert!(receivable.pair.is_some() && receivable.pair == payable.pair, "the inter-company lines pair");

    world.ledger.given(&operations, body);
    assert_sound(&world.ledger);
}

#[test]
fn a_distributors_admin_buys_codes_for_itself_at_the_rounded_tier_price() {
    let mut world = serial_world();
    let operations = platform_operations(&world);
    let finance = world.platform_finance.clone();
    world.ledger.given(
        &operations,
        CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days: 5, list_price: amount("9.99") }),
    );
    world.ledger.given(
        &finance,
        CommandBody::Serial(SerialCommand::SetSerialTierRate { tier: DistributorTier::Gold, rate: rate("0.85") }),
    );
    let mut body = issue(&world, 801, &["B1", "B2"]);
    if let CommandBody::Serial(SerialCommand::IssueSerialCodes { days, .. }) = &mut body {
        *days = 5;
    }
    let events = world.ledger.decide(&world.r1_admin, body).unwrap();
    let EventPayload::SerialCodesIssued(issued) = &events[0].payload else { panic!() };
    // 9.99 × 0.85 = 8.4915: the unit price rounds once, the total is two of them.
    assert_eq!((issued.unit_price, issued.total), (amount("8.49"), amount("16.98")));
    // R1's finance is not its admin; R2's admin is neither the platform nor the distributor.
    let mut body = issue(&world, 802, &["B3"]);
    if let CommandBody::Serial(SerialCommand::IssueSerialCodes { days, .. }) = &mut body {
        *days = 5;
    }
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, body.clone())).code(), "forbidden");
    assert_eq!(refused(world.ledger.decide(&world.r2_admin, body)).code(), "not_found");
    assert_sound(&world.ledger);
}

#[test]
fn reissuing_a_serial_code_is_refused() {
    let mut world = serial_world();
    let operations = platform_operations(&world);
    world.ledger.given(&operations, issue(&world, 800, &["A1", "A2"]));
    let error = refused(world.ledger.decide(&operations, issue(&world, 801, &["A3", "A2"])));
    assert_eq!(error, DomainError::SerialCodeUsed { code: "A2".into(), state: "issued" });
    assert_eq!(error.code(), "serial_code_used");
    // Twice in one batch, too.
    let error = refused(world.ledger.decide(&operations, issue(&world, 801, &["A4", "A4"])));
    assert_eq!(error, DomainError::SerialCodeUsed { code: "A4".into(), state: "issued" });
    // And a batch id once only.
    assert_eq!(refused(world.ledger.decide(&operations, issue(&world, 800, &["A5"]))).code(), "already_exists");
    assert_sound(&world.ledger);
}

#[test]
fn issuing_serial_codes_without_a_tier_or_a_price_is_refused() {
    let mut world = WorkedExample::new();
    let operations = platform_operations(&world);
    let error = refused(world.ledger.decide(&operations, issue(&world, 800, &["A1"])));
    assert_eq!(
        error,
        DomainError::NoPrice { field: "distributor_id".into(), reason: "the distributor has no tier".into() }
    );
    let sales = platform_sales(&world);
    world.ledger.given(
        &sales,
        CommandBody::Serial(SerialCommand::SetDistributorTier {
            distributor_id: world.r1,
            tier: DistributorTier::Gold,
        }),
    );
    let error = refused(world.ledger.decide(&operations, issue(&world, 800, &["A1"])));
    assert_eq!(error, DomainError::NoPrice { field: "days".into(), reason: "the package has no price".into() });
    world.ledger.given(
        &operations,
        CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days: 30, list_price: amount("100.00") }),
    );
    let error = refused(world.ledger.decide(&operations, issue(&world, 800, &["A1"])));
    assert_eq!(error, DomainError::NoPrice { field: "days".into(), reason: "the tier has no rate".into() });
    assert_eq!(refused(world.ledger.decide(&operations, issue(&world, 800, &[]))).field(), Some("codes"));
    assert_sound(&world.ledger);
}

#[test]
fn activating_a_serial_code_turns_its_contract_liability_into_revenue() {
    let mut world = serial_world();
    let operations = platform_operations(&world);
    world.ledger.given(&operations, issue(&world, 800, &["A1", "A2"]));
    let customer = world.customer_actor.clone();

    let events = world.ledger.decide(&customer, activate(&world, "A1")).unwrap();

    assert_eq!(
        events[0].payload,
        EventPayload::SerialCodeActivated(SerialCodeActivated {
            code: code("A1"),
            batch_id: id(800),
            issuer_id: world.platform,
            customer_id: world.customer,
            days: 30,
            amount: amount("80.00"),
        })
    );
    assert_eq!(book_lines(&events, world.platform, &names(&world)), vec![vec!["Dr 2205 80.00", "Cr 6001 80.00"]]);
    assert_eq!(book_rules(&events, world.platform), ["serial.activate/issuer"]);
    assert_eq!(events[0].entries.len(), 1);

    world.ledger.given(&customer, activate(&world, "A1"));
    assert_eq!(net(&world.ledger, world.platform, "2205").to_string(), "-80.00", "one code still unredeemed");
    assert_sound(&world.ledger);
}

#[test]
fn activating_a_serial_code_twice_is_refused() {
    let mut world = serial_world();
    let operations = platform_operations(&world);
    world.ledger.given(&operations, issue(&world, 800, &["A1"]));
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, activate(&world, "A1"));
    let error = refused(world.ledger.decide(&customer, activate(&world, "A1")));
    assert_eq!(error, DomainError::SerialCodeUsed { code: "A1".into(), state: "activated" });
    assert_eq!(error.code(), "serial_code_used");
    // By the seller's operations on the customer's behalf, too; and an unknown code is not found.
    let r2_operations = actor(world.r2, 4040, &[Role::Operations]);
    assert_eq!(refused(world.ledger.decide(&r2_operations, activate(&world, "A1"))).code(), "serial_code_used");
    assert_eq!(refused(world.ledger.decide(&customer, activate(&world, "ZZ"))).code(), "not_found");
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- settlement statements

fn statement(
    world: &WorkedExample,
    settlement: u128,
    counterparty: ledger_core::ids::OrgId,
    from: &str,
    to: &str,
) -> CommandBody {
    CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id: id(settlement),
        book: world.platform,
        counterparty_id: counterparty,
        from: date(from),
        to: date(to),
    })
}

fn position_of(world: &WorkedExample, event_type: &str) -> u64 {
    world.ledger.log.iter().rev().find(|event| event.event_type() == event_type).unwrap().position
}

#[test]
fn a_settlement_statement_replays_the_open_items_of_the_period() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    let sold_at = position_of(&world, "OrderPaid");

    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    let events = world.ledger.decide(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31")).unwrap();

    assert_eq!(types(&events), ["SettlementStatementIssued"]);
    assert!(events[0].entries.is_empty());
    let EventPayload::SettlementStatementIssued(issued) = &events[0].payload else { panic!() };
    assert_eq!(
        (issued.settlement_id, issued.book, issued.counterparty_id, issued.from, issued.to, issued.through_position),
        (id(900), world.platform, world.r1, date("2026-01-01"), date("2026-01-31"), world.ledger.state.last_position)
    );
    assert_eq!((issued.receivable, issued.payable), (SignedAmount::from(amount("800.00")), SignedAmount::ZERO));
    // One line, which the event counts and hashes but does not carry.
    let line = StatementLine {
        position: sold_at,
        date: date("2026-01-15"),
        account: AccountCode::parse("1122").unwrap(),
        debit: amount("800.00"),
        credit: amount("0.00"),
    };
    assert_eq!(issued.line_count, 1);
    let selection = Selection::of(issued);
    assert_eq!(selection.lines(world.ledger.state.book(world.platform).unwrap()), vec![&line]);
    assert_eq!(issued.statement_hash, statement::hash(&selection, issued.receivable, issued.payable, &[line]));
    // Reproducible: the same period under another id hashes the same.
    let again = world.ledger.decide(&finance, statement(&world, 901, world.r1, "2026-01-01", "2026-01-31")).unwrap();
    let EventPayload::SettlementStatementIssued(twin) = &again[0].payload else { panic!() };
    assert_eq!(twin.statement_hash, issued.statement_hash);
    assert_eq!(issued.statement_hash.len(), 64);

    // The supplier's statement holds what the platform owes it.
    let supplier =
        world.ledger.decide(&finance, statement(&world, 902, world.supplier, "2026-01-01", "2026-01-31")).unwrap();
    let EventPayload::SettlementStatementIssued(owed) = &supplier[0].payload else { panic!() };
    assert_eq!((owed.receivable, owed.payable), (SignedAmount::ZERO, SignedAmount::from(amount("700.00"))));
    assert_ne!(owed.statement_hash, issued.statement_hash);
    assert_sound(&world.ledger);
}

/// The statement of one sale and of 250 are events of the same size (the varints aside):
/// the lines stay in the log, where replay finds them again.
#[test]
fn a_statement_of_many_sales_is_an_event_the_size_of_a_statement_of_one() {
    let size_of_statement = |sales: usize| {
        let mut world = WorkedExample::new();
        world.recharge("300000.00");
        for _ in 0..sales {
            let order_id = world.place_order();
            world.pay_order(order_id);
        }
        let finance = world.platform_finance.clone();
        world.ledger.today = date("2026-03-01");
        let issued = world.ledger.given(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31"));
        let EventPayload::SettlementStatementIssued(statement) = &issued[0].event.payload else { panic!() };
        let figures = (statement.line_count, statement.receivable, statement.payable);
        assert_sound(&world.ledger);
        (figures, ledger_core::record::encoded_len(&issued[0]))
    };
    let (one, one_bytes) = size_of_statement(1);
    let (many, many_bytes) = size_of_statement(250);
    assert_eq!(one, (1, SignedAmount::from(amount("800.00")), SignedAmount::ZERO));
    assert_eq!(many, (250, SignedAmount::from(amount("200000.00")), SignedAmount::ZERO));
    // 239 bytes, and three more for 250 sales: the count (250), the cut-off position (past 127)
    // and the receivable (20,000,000 minor units) each take one more varint byte.
    assert_eq!((one_bytes, many_bytes), (239, 242));
}

/// A statement whose figures are not those of its lines in the log (a log forged with
/// recomputed hashes) is reported at its position; the honest one replays.
#[test]
fn replay_refuses_a_statement_whose_figures_are_not_its_lines() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "2000.00");
    let order_id = world.place_order();
    world.pay_order(order_id);
    let finance = world.platform_finance.clone();
    world.ledger.today = date("2026-03-01");
    world.ledger.given(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31"));
    assert_eq!(ledger_core::log::replay(&world.ledger.log).unwrap(), world.ledger.state);

    let target = world.ledger.log.len() - 1;
    let forge = |change: &dyn Fn(&mut SettlementStatementIssued)| {
        let mut forged = world.ledger.log.clone();
        let mut staged = forged[target].clone();
        let EventPayload::SettlementStatementIssued(statement) = &mut staged.event.payload else { panic!() };
        change(statement);
        staged.prev_hash.clear();
        staged.hash.clear();
        forged[target] = ledger_core::log::ChainHead::after(&forged[target - 1]).seal(staged).event;
        ledger_core::log::replay(&forged).unwrap_err()
    };
    for error in [
        forge(&|statement| statement.line_count = 1),
        forge(&|statement| statement.receivable = SignedAmount::from(amount("800.00"))),
        forge(&|statement| statement.statement_hash = "0".repeat(64)),
        forge(&|statement| statement.through_position -= 1),
    ] {
        assert!(matches!(error, ledger_core::log::ReplayError::Inconsistent { .. }), "{error}");
        assert_eq!(error.position(), world.ledger.log[target].position);
    }
    let reason = forge(&|statement| statement.line_count = 1).to_string();
    assert!(reason.contains("states 1 lines") && reason.contains("the log has 2 lines"), "{reason}");
}

/// The figures of a statement are those of its lines as the read side serves them: recomputed
/// from the lines alone, they give the event's count, totals and hash.
#[test]
fn a_statements_figures_are_recomputed_from_its_lines() {
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
    paid_order(&mut world, "3000.00");
    let order_id = world.place_order();
    world.pay_order(order_id);
    let r1_finance = world.r1_finance.clone();
    world.ledger.today = date("2026-03-01");
    let body = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id: id(900),
        book: world.r1,
        counterparty_id: world.r2,
        from: date("2026-01-01"),
        to: date("2026-01-31"),
    });
    let before = world.ledger.state.clone();
    let issued = world.ledger.given(&r1_finance, body);
    let EventPayload::SettlementStatementIssued(issued) = &issued[0].event.payload else { panic!() };
    let selection = Selection::of(issued);
    let lines: Vec<StatementLine> = selection.lines(before.book(world.r1).unwrap()).into_iter().cloned().collect();
    // Receivable and payable lines interleave: each sale's 1122[R2] then its commission's 2202[R2].
    let accounts: Vec<&str> = lines.iter().map(|line| line.account.as_str()).collect();
    assert_eq!(accounts, ["1122", "2202", "1122", "2202"]);
    assert_eq!(Figures::of(&selection, &lines), Figures::stated(issued));
    assert_eq!(
        (issued.line_count, issued.receivable, issued.payable),
        (4, SignedAmount::from(amount("1760.00")), SignedAmount::from(amount("88.00")))
    );
    // And they are no longer open: a statement of the same items is nothing to settle.
    assert!(Selection::of(issued).lines(world.ledger.state.book(world.r1).unwrap()).is_empty());
}

#[test]
fn the_same_statement_requested_again_returns_nothing_new() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    world.ledger.given(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31"));
    assert_eq!(world.ledger.decide(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31")), Ok(vec![]));
    assert_eq!(world.ledger.decide(&finance, statement(&world, 901, world.r1, "2026-01-01", "2026-01-31")), Ok(vec![]));
    assert_sound(&world.ledger);
}

#[test]
fn an_overlapping_statement_is_refused() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    world.ledger.given(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-15"));
    let error = refused(world.ledger.decide(&finance, statement(&world, 901, world.r1, "2026-01-15", "2026-01-31")));
    assert!(matches!(error, DomainError::SettlementConflict { code: "settlement_overlap", .. }), "{error:?}");
    assert_eq!(error.code(), "settlement_overlap");
    assert_eq!(error.class(), ledger_core::ErrorClass::Conflict);
    // The same settlement id for another period is a conflict of ids.
    let error = refused(world.ledger.decide(&finance, statement(&world, 900, world.r1, "2026-02-01", "2026-02-28")));
    assert_eq!(error.code(), "already_exists");
    assert_sound(&world.ledger);
}

#[test]
fn a_statement_of_a_period_that_has_not_ended_is_refused() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    let body = statement(&world, 900, world.r1, "2026-01-01", "2026-01-31");
    let error = refused(world.ledger.decide(&finance, body.clone()));
    assert_eq!(error.code(), "period_not_ended");
    world.ledger.today = date("2026-02-01");
    assert_eq!(world.ledger.decide(&finance, body).map(|events| events.len()), Ok(1));
}

#[test]
fn statement_refusals() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    let error = refused(world.ledger.decide(&finance, statement(&world, 900, world.r1, "2025-12-01", "2025-12-31")));
    assert_eq!(error.code(), "nothing_to_settle");
    // R2 settles with R1, not with the platform.
    let error = refused(world.ledger.decide(&finance, statement(&world, 900, world.r2, "2026-01-01", "2026-01-31")));
    assert_eq!(error, DomainError::NotFound { what: "counterparty", id: world.r2.to_string() });
    let error = refused(world.ledger.decide(&finance, statement(&world, 900, world.r1, "2026-01-31", "2026-01-01")));
    assert_eq!(error.field(), Some("to"));
    assert_eq!(
        refused(
            world.ledger.decide(&platform_sales(&world), statement(&world, 900, world.r1, "2026-01-01", "2026-01-31"))
        )
        .code(),
        "forbidden"
    );
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- settlement payment

#[test]
fn paying_a_reseller_settlement_books_the_bank_in_both_books() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    let admin = world.platform_admin.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    world.ledger.given(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31"));

    let requested = world
        .ledger
        .decide(
            &finance,
            CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(910) }),
        )
        .unwrap();
    assert_eq!(
        requested,
        vec![Event::new(EventPayload::ApprovalRequested(ApprovalRequested {
            approval_id: id(910),
            book: world.platform,
            kind: ApprovalKind::SettlementPayment,
            requested_by: finance.principal_id,
            proposal: Proposal::PaySettlement { settlement_id: id(900) },
        }))]
    );
    world.ledger.given(
        &finance,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(910) }),
    );

    let granted = world
        .ledger
        .decide(
            &admin,
            CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
        )
        .unwrap();

    assert_eq!(types(&granted), ["ApprovalGranted", "SettlementPaid"]);
    assert_eq!(
        granted[1].payload,
        EventPayload::SettlementPaid(SettlementPaid {
            settlement_id: id(900),
            book: world.platform,
            counterparty_id: world.r1,
            receivable: SignedAmount::from(amount("800.00")),
            payable: SignedAmount::ZERO,
            exchange: Vec::new(),
        })
    );
    let names = names(&world);
    assert_eq!(book_lines(&granted, world.platform, &names), vec![vec!["Dr 1002 800.00", "Cr 1122[R1] 800.00"]]);
    assert_eq!(book_lines(&granted, world.r1, &names), vec![vec!["Dr 2202[platform] 800.00", "Cr 1002 800.00"]]);
    assert_eq!(book_rules(&granted, world.platform), ["settlement/issuer"]);
    assert_eq!(book_rules(&granted, world.r1), ["settlement/counterparty"]);

    world.ledger.given(
        &admin,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
    );
    assert!(net(&world.ledger, world.platform, "1122").is_zero());
    assert!(net(&world.ledger, world.r1, "2202").is_zero(), "R1 owes the platform nothing any more");
    assert_eq!(net(&world.ledger, world.platform, "1002").to_string(), "800.00");
    assert_eq!(net(&world.ledger, world.r1, "1002").to_string(), "-800.00");
    assert_sound(&world.ledger);
}

#[test]
fn paying_a_supplier_settlement_books_the_payable_against_the_bank() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    let admin = world.platform_admin.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    world.ledger.given(&finance, statement(&world, 900, world.supplier, "2026-01-01", "2026-01-31"));
    world.ledger.given(
        &finance,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(910) }),
    );
    let granted = world
        .ledger
        .decide(
            &admin,
            CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
        )
        .unwrap();
    assert_eq!(
        book_lines(&granted, world.platform, &names(&world)),
        vec![vec!["Cr 1002 700.00", "Dr 2202[supplier] 700.00"]]
    );
    assert_eq!(granted[1].entries.len(), 1, "a supplier keeps no book: no mirror");
    world.ledger.given(
        &admin,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
    );
    assert!(net(&world.ledger, world.platform, "2202").is_zero());
    assert_sound(&world.ledger);
}

#[test]
fn a_settlement_nets_receivables_and_payables_with_a_rebate_reseller() {
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
    paid_order(&mut world, "1000.00");
    let r1_finance = world.r1_finance.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    let body = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id: id(900),
        book: world.r1,
        counterparty_id: world.r2,
        from: date("2026-01-01"),
        to: date("2026-01-31"),
    });
    let issued = world.ledger.given(&r1_finance, body);
    let EventPayload::SettlementStatementIssued(statement) = &issued[0].event.payload else { panic!() };
    // R2 owes R1 the sale at 880.00; R1 owes R2 its 44.00 commission.
    assert_eq!(
        (statement.receivable, statement.payable),
        (SignedAmount::from(amount("880.00")), SignedAmount::from(amount("44.00")))
    );
    world.ledger.given(
        &r1_finance,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(910) }),
    );
    let granted = world
        .ledger
        .decide(
            &r1_admin,
            CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
        )
        .unwrap();
    let names = names(&world);
    assert_eq!(
        book_lines(&granted, world.r1, &names),
        vec![vec!["Dr 1002 836.00", "Dr 2202[R2] 44.00", "Cr 1122[R2] 880.00"]]
    );
    assert_eq!(
        book_lines(&granted, world.r2, &names),
        vec![vec!["Dr 2202[R1] 880.00", "Cr 1122[R1] 44.00", "Cr 1002 836.00"]]
    );
    world.ledger.given(
        &r1_admin,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
    );
    for (book, account) in [(world.r1, "1122"), (world.r2, "2202"), (world.r2, "1122")] {
        assert!(net(&world.ledger, book, account).is_zero(), "{account}");
    }
    assert_eq!(net(&world.ledger, world.r1, "2202").to_string(), "-800.00", "only what R1 owes the platform is left");
    assert_sound(&world.ledger);
}

#[test]
fn a_settlement_cannot_be_paid_twice() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    let admin = world.platform_admin.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    world.ledger.given(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31"));
    world.ledger.given(
        &finance,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(910) }),
    );
    let error = refused(world.ledger.decide(
        &finance,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(911) }),
    ));
    assert_eq!(error, DomainError::ApprovalPending);
    world.ledger.given(
        &admin,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
    );

    let error = refused(world.ledger.decide(
        &finance,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(911) }),
    ));
    assert!(matches!(error, DomainError::SettlementConflict { code: "settlement_already_paid", .. }), "{error:?}");
    assert_eq!(error.code(), "settlement_already_paid");
    let error = refused(world.ledger.decide(
        &admin,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(910), grant: true, comment: None }),
    ));
    assert_eq!(error, DomainError::ApprovalDecided { status: "granted" });
    assert_eq!(world.ledger.log.iter().filter(|event| event.event_type() == "SettlementPaid").count(), 1);
    assert_sound(&world.ledger);
}

#[test]
fn settlement_payment_refusals() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let finance = world.platform_finance.clone();
    world.ledger.today = date("2026-03-01"); // statements cover ended periods
    world.ledger.given(&finance, statement(&world, 900, world.r1, "2026-01-01", "2026-01-31"));
    let pay =
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(910) });
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, pay.clone())).code(), "not_found");
    assert_eq!(refused(world.ledger.decide(&platform_sales(&world), pay)).code(), "forbidden");
    let unknown = CommandBody::Settlement(SettlementCommand::PaySettlement {
        settlement_id: id::<SettlementId>(999),
        approval_id: id(910),
    });
    assert_eq!(refused(world.ledger.decide(&finance, unknown)).code(), "not_found");
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- invoices

fn invoice(world: &WorkedExample, invoice: u128, approval: u128, value: &str) -> CommandBody {
    CommandBody::Settlement(SettlementCommand::RequestInvoice {
        invoice_id: id(invoice),
        approval_id: id(approval),
        customer_id: world.customer,
        amount: amount(value),
        details: None,
    })
}

#[test]
fn an_invoice_is_requested_then_issued_on_approval_and_books_nothing() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let customer = world.customer_actor.clone();
    let finance = world.r2_finance.clone();

    let requested = world.ledger.decide(&customer, invoice(&world, 950, 951, "500.00")).unwrap();
    assert_eq!(
        requested,
        vec![Event::new(EventPayload::ApprovalRequested(ApprovalRequested {
            approval_id: id(951),
            book: world.r2,
            kind: ApprovalKind::Invoice,
            requested_by: customer.principal_id,
            proposal: Proposal::IssueInvoice {
                invoice_id: id(950),
                customer_id: world.customer,
                amount: amount("500.00")
            },
        }))]
    );
    world.ledger.given(&customer, invoice(&world, 950, 951, "500.00"));

    let granted = world
        .ledger
        .decide(
            &finance,
            CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(951), grant: true, comment: None }),
        )
        .unwrap();
    assert_eq!(types(&granted), ["ApprovalGranted", "InvoiceIssued"]);
    assert_eq!(
        granted[1],
        Event::new(EventPayload::InvoiceIssued(InvoiceIssued {
            invoice_id: id(950),
            customer_id: world.customer,
            book: world.r2,
            amount: amount("500.00"),
        }))
    );
    world.ledger.given(
        &finance,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(951), grant: true, comment: None }),
    );
    assert_eq!(world.ledger.state.invoiceable[&world.customer], amount("450.00").into());
    assert_sound(&world.ledger);
}

#[test]
fn an_invoice_above_what_is_invoiceable_is_refused() {
    let mut world = WorkedExample::new();
    paid_order(&mut world, "1000.00");
    let customer = world.customer_actor.clone();
    let error = refused(world.ledger.decide(&customer, invoice(&world, 950, 951, "950.01")));
    assert_eq!(
        error,
        DomainError::InvoiceExceedsInvoiceable { requested: amount("950.01"), invoiceable: amount("950.00") }
    );
    assert_eq!((error.code(), error.field()), ("invoice_exceeds_invoiceable", Some("amount")));
    // A pending request already claims its part.
    world.ledger.given(&customer, invoice(&world, 950, 951, "800.00"));
    let error = refused(world.ledger.decide(&customer, invoice(&world, 952, 953, "150.01")));
    assert_eq!(
        error,
        DomainError::InvoiceExceedsInvoiceable { requested: amount("150.01"), invoiceable: amount("150.00") }
    );
    // The same invoice id again, and a zero amount.
    assert_eq!(refused(world.ledger.decide(&customer, invoice(&world, 950, 953, "1.00"))).code(), "already_exists");
    assert_eq!(refused(world.ledger.decide(&customer, invoice(&world, 952, 953, "0.00"))).code(), "invalid_amount");
    // Nothing paid, nothing to invoice.
    let fresh = WorkedExample::new();
    let error = refused(fresh.ledger.decide(&fresh.customer_actor, invoice(&fresh, 950, 951, "0.01")));
    assert_eq!(
        error,
        DomainError::InvoiceExceedsInvoiceable { requested: amount("0.01"), invoiceable: amount("0.00") }
    );
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- period close

#[test]
fn close_period_certifies_the_trial_balance_and_the_chain() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00"); // dated 2026-01-15
    world.ledger.today = date("2026-02-01");
    let finance = world.r2_finance.clone();
    let body = CommandBody::Settlement(SettlementCommand::ClosePeriod { book: world.r2, through: date("2026-01-31") });

    let events = world.ledger.decide(&finance, body.clone()).unwrap();

    let rows = [
        TrialBalanceRow {
            code: AccountCode::parse("1002").unwrap(),
            debit: amount("1000.00").into(),
            credit: amount("0.00").into(),
        },
        TrialBalanceRow {
            code: AccountCode::parse("2203").unwrap(),
            debit: amount("0.00").into(),
            credit: amount("1000.00").into(),
        },
    ];
    let EventPayload::PeriodClosed(closed) = &events[0].payload else { panic!("{events:?}") };
    assert!(events[0].entries.is_empty());
    assert_eq!((closed.book, closed.through), (world.r2, date("2026-01-31")));
    let certificate = &closed.certificate;
    assert_eq!((certificate.book, certificate.through), (world.r2, date("2026-01-31")));
    assert_eq!(certificate.trial_balance_hash, trial_balance_hash(&rows));
    assert_eq!(
        (certificate.total_debit, certificate.total_credit),
        (amount("1000.00").into(), amount("1000.00").into())
    );
    assert_eq!(certificate.last_position, world.ledger.log.last().unwrap().position);
    assert_eq!(certificate.rule_versions.len(), default_rules().len());
    assert_eq!(certificate.rule_versions.get("sale/seller"), Some(&1));

    let chain_before = world.ledger.log.last().unwrap().hash.clone();
    let recorded = world.ledger.given(&finance, body);
    // The chain hash at the close is sealed into the certificate's own event.
    assert_eq!(recorded[0].prev_hash, chain_before);
    assert_eq!(world.ledger.state.book(world.r2).unwrap().closed_through, Some(date("2026-01-31")));
    assert_sound(&world.ledger);
}

#[test]
fn nothing_is_booked_on_or_before_a_closed_through_date() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    // Paid in online, so an `original` withdrawal books at once (were it not, it would wait
    // for approval, booking nothing).
    online_recharge(&mut world, "10.00", "T-9");
    world.ledger.today = date("2026-02-01");
    let finance = world.r2_finance.clone();
    world.ledger.given(
        &finance,
        CommandBody::Settlement(SettlementCommand::ClosePeriod { book: world.r2, through: date("2026-01-31") }),
    );
    let coupon = CommandBody::Money(MoneyCommand::GrantCoupon {
        approval_id: id(9900014),
        customer_id: world.customer,
        amount: amount("5.00"),
        reason: "sorry".into(),
        expires_on: None,
    });

    for day in ["2026-01-20", "2026-01-31"] {
        world.ledger.today = date(day);
        let error = refused(world.ledger.decide(&world.r2_sales, coupon.clone()));
        assert_eq!(
            error,
            DomainError::PeriodClosed { book: world.r2, closed_through: date("2026-01-31"), date: date(day) }
        );
        assert_eq!(error.code(), "period_closed");
    }
    // Withdrawals and recharges alike.
    world.ledger.today = date("2026-01-31");
    let withdraw = CommandBody::Money(MoneyCommand::Withdraw {
        withdrawal_id: id(300),
        approval_id: id(301),
        customer_id: world.customer,
        amount: amount("1.00"),
        route: WithdrawalRoute::Original,
        channel: None,
        offline_withdrawal_id: id(302),
    });
    assert_eq!(refused(world.ledger.decide(&world.customer_actor, withdraw)).code(), "period_closed");
    // The open period takes the correction.
    world.ledger.today = date("2026-02-01");
    let sales = world.r2_sales.clone();
    let booked = world.ledger.given(&sales, coupon);
    assert_eq!(booked.last().unwrap().event.entries[0].date, date("2026-02-01"));
    assert_sound(&world.ledger);
}

#[test]
fn a_closed_book_up_the_chain_refuses_the_whole_sale() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id: OrderId = world.place_order();
    world.ledger.today = date("2026-02-01");
    let finance = world.platform_finance.clone();
    world.ledger.given(
        &finance,
        CommandBody::Settlement(SettlementCommand::ClosePeriod { book: world.platform, through: date("2026-01-31") }),
    );
    world.ledger.today = date("2026-01-20");
    let error =
        refused(world.ledger.decide(&world.customer_actor, CommandBody::Orders(OrderCommand::PayOrder { order_id })));
    assert_eq!(
        error,
        DomainError::PeriodClosed {
            book: world.platform,
            closed_through: date("2026-01-31"),
            date: date("2026-01-20")
        }
    );
    world.ledger.today = date("2026-02-02");
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_sound(&world.ledger);
}

#[test]
fn close_period_refusals() {
    let mut world = WorkedExample::new();
    world.ledger.today = date("2026-02-01");
    let finance = world.r2_finance.clone();
    let close = |through: &str| {
        CommandBody::Settlement(SettlementCommand::ClosePeriod { book: world.r2, through: date(through) })
    };
    let error = refused(world.ledger.decide(&finance, close("2026-02-01")));
    assert_eq!(error, DomainError::PeriodNotEnded { through: date("2026-02-01"), today: date("2026-02-01") });
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, close("2026-01-31"))).code(), "forbidden");
    world.ledger.given(&finance, close("2026-01-31"));
    for through in ["2026-01-31", "2026-01-15"] {
        let error = refused(world.ledger.decide(&finance, close(through)));
        assert_eq!(error, DomainError::PeriodAlreadyClosed { book: world.r2, closed_through: date("2026-01-31") });
    }
    world.ledger.today = date("2026-03-01");
    let later = world.ledger.decide(&finance, close("2026-02-28")).unwrap();
    assert_eq!(types(&later), ["PeriodClosed"]);
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- expiry

#[test]
fn codes_never_activated_past_their_batchs_expiry_are_booked_out_to_other_income_by_the_clock() {
    let mut world = serial_world();
    let operations = platform_operations(&world);
    let mut body = issue(&world, 810, &["E1", "E2", "E3"]);
    if let CommandBody::Serial(SerialCommand::IssueSerialCodes { expires_on, .. }) = &mut body {
        *expires_on = Some(date("2026-02-28"));
    }
    // Given a batch that expires on 2026-02-28: issued with its expiry in the same command.
    let events = world.ledger.given(&operations, body);
    let payloads: Vec<_> = events.iter().map(|event| event.event.payload.clone()).collect();
    assert_eq!(
        payloads[1],
        EventPayload::SerialExpirySet(SerialExpirySet { batch_id: id(810), expires_on: Some(date("2026-02-28")) })
    );
    // An expiry already past is refused; the batch's expiry can be moved by the issuer.
    let past = SerialCommand::SetSerialExpiry { batch_id: id(810), expires_on: Some(date("2026-01-01")) };
    let error = refused(world.ledger.decide(&operations, past.into()));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("expires_on")));
    let customer = world.customer_actor.clone();
    world.ledger.given(&customer, activate(&world, "E2"));

    // A tick on the last day expires nothing.
    let clock = ledger_core::decide::clock_actor(world.platform);
    world.ledger.today = date("2026-02-28");
    assert!(world.ledger.decide(&clock, ledger_core::ClockCommand::Tick.into()).unwrap().is_empty());

    // The day after: E1 and E3 (80.00 each) leave 2205 for 6051 in the platform's book.
    world.ledger.today = date("2026-03-01");
    assert_eq!(refused(world.ledger.decide(&customer, activate(&world, "E1"))).code(), "serial_code_used");
    let events = events_of(&world.ledger.given(&clock, ledger_core::ClockCommand::Tick.into()));
    assert_eq!(
        events[0].payload,
        EventPayload::SerialCodesExpired(SerialCodesExpired {
            batch_id: id(810),
            issuer_id: world.platform,
            distributor_id: world.r1,
            codes: vec![code("E1"), code("E3")],
            expires_on: date("2026-02-28"),
            amount: amount("160.00"),
        })
    );
    let names = names(&world);
    assert_eq!(book_lines(&events, world.platform, &names), vec![vec!["Dr 2205 160.00", "Cr 6051 160.00"]]);
    assert_eq!(book_rules(&events, world.platform), ["serial.expire/issuer"]);
    assert!(book_lines(&events, world.r1, &names).is_empty(), "the distributor's cost stays as it was");
    // Booked out once: the next tick finds nothing; E3 never activates.
    assert!(world.ledger.decide(&clock, ledger_core::ClockCommand::Tick.into()).unwrap().is_empty());
    assert_eq!(refused(world.ledger.decide(&customer, activate(&world, "E3"))).code(), "serial_code_used");
    assert!(world.ledger.state.serial_codes[&code("E3")].expired);
    assert_sound(&world.ledger);
}
