//! Given/when/then tests of the setup deciders: bootstrap, orgs, accounts, posting rules, sale
//! modes, products, rates, promotions, invite codes and custom business kinds (BookBusiness).

mod common;

use std::collections::BTreeMap;

use common::*;
use ledger_core::chart::{Account, AccountCode, AccountType, Side};
use ledger_core::event::*;
use ledger_core::ids::{InviteCode, OrgId, ProductId, PromotionId, WithdrawalId};
use ledger_core::money::{Currency, UnitPrice};
use ledger_core::org::{Org, OrgKind, Role, SaleMode};
use ledger_core::pricing::RateScope;
use ledger_core::rules::{default_rules, LinearSum, PartyRef, PostingRule, RuleLine};
use ledger_core::testing::{actor, amount, date, id, rate, MemoryLedger, WorkedExample};
use ledger_core::{ApprovalCommand, MoneyCommand, SetupCommand};
use ledger_core::{CommandBody, DomainError};

fn rule_line(account: &str, party: Option<PartyRef>, side: Side, sum: &str) -> RuleLine {
    RuleLine { account: AccountCode::parse(account).unwrap(), party, side, amount: LinearSum::parse(sum).unwrap() }
}

/// The custom kind of these tests: a service fee charged to a customer's wallet, booked to an
/// account (6052) that only R2's book opens.
fn service_fee_rule() -> PostingRule {
    PostingRule {
        kind: "service_fee".into(),
        role: "seller".into(),
        version: 0,
        lines: vec![
            rule_line("2203", Some(PartyRef::Customer), Side::Debit, "fee"),
            rule_line("6052", None, Side::Credit, "fee"),
        ],
    }
}

fn open_fee_account(world: &mut WorkedExample) {
    let finance = world.r2_finance.clone();
    world.ledger.given(
        &finance,
        CommandBody::Setup(SetupCommand::OpenAccount {
            book: world.r2,
            code: "6052".into(),
            name: "Service fee income".into(),
            account_type: AccountType::Revenue,
        }),
    );
}

fn adopt_fee_rule(world: &mut WorkedExample) {
    let finance = world.platform_finance.clone();
    world.ledger.given(&finance, CommandBody::Setup(SetupCommand::SetPostingRules { rules: vec![service_fee_rule()] }));
}

fn fee(world: &WorkedExample, book: OrgId, value: &str) -> CommandBody {
    CommandBody::Setup(SetupCommand::BookBusiness {
        kind: "service_fee".into(),
        role: "seller".into(),
        book,
        amounts: BTreeMap::from([("fee".to_owned(), amount(value))]),
        parties: BTreeMap::from([(PartyRef::Customer, world.customer)]),
        memo: "March support fee".into(),
    })
}

// ---------------------------------------------------------------- bootstrap

#[test]
fn bootstrap_opens_the_platform_book_and_adopts_every_default_rule_at_version_1() {
    let mut ledger = MemoryLedger::default();
    let platform: OrgId = id(1);
    let admin = actor(platform, 1001, &[Role::SuperAdmin, Role::Admin]);
    let body = CommandBody::Setup(SetupCommand::Bootstrap {
        platform_id: platform,
        name: " KBOSS ".into(),
        currency: Currency::CNY,
    });

    let events = ledger.decide(&admin, body.clone()).unwrap();

    let mut expected_rules = default_rules();
    for rule in &mut expected_rules {
        rule.version = 1;
    }
    assert_eq!(
        events,
        vec![
            Event::new(EventPayload::OrgOpened(OrgOpened {
                org: Org {
                    id: platform,
                    kind: OrgKind::Platform,
                    name: "KBOSS".into(),
                    parent_id: None,
                    currency: Currency::CNY,
                    sale_mode: SaleMode::Discount,
                },
            })),
            Event::new(EventPayload::PostingRulesSet(PostingRulesSet { rules: expected_rules })),
        ]
    );
    ledger.given(&admin, body);
    let book = ledger.state.book(platform).expect("the platform keeps a book");
    assert_eq!(book.chart.accounts().count(), 11);
    assert_eq!(ledger.state.rules.version_of("sale", "seller"), 1);
    assert_sound(&ledger);
}

#[test]
fn bootstrap_twice_is_refused() {
    let world = WorkedExample::new();
    let body = CommandBody::Setup(SetupCommand::Bootstrap {
        platform_id: id(77),
        name: "Another".into(),
        currency: Currency::CNY,
    });
    let error = refused(world.ledger.decide(&world.platform_admin, body));
    assert_eq!(error, DomainError::AlreadyBootstrapped);
    assert_eq!(error.code(), "already_bootstrapped");
}

#[test]
fn nothing_but_bootstrap_is_decided_before_the_platform_is_open() {
    let ledger = MemoryLedger::default();
    let admin = actor(id(1), 1001, &[Role::SuperAdmin, Role::Admin]);
    let body = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(2),
        kind: OrgKind::Supplier,
        name: "Supplier".into(),
        parent_id: id(1),
        sale_mode: None,
    });
    assert_eq!(refused(ledger.decide(&admin, body)).code(), "not_bootstrapped");
}

// ---------------------------------------------------------------- orgs

#[test]
fn open_org_opens_a_reseller_with_its_own_book_in_the_parent_currency() {
    let mut world = WorkedExample::new();
    let r1_admin = world.r1_admin.clone();
    let body = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(40),
        kind: OrgKind::Reseller,
        name: "R2b".into(),
        parent_id: world.r1,
        sale_mode: Some(SaleMode::Rebate { commission_rate: rate("0.05") }),
    });

    let events = world.ledger.decide(&r1_admin, body.clone()).unwrap();

    let expected = Org {
        id: id(40),
        kind: OrgKind::Reseller,
        name: "R2b".into(),
        parent_id: Some(world.r1),
        currency: Currency::CNY,
        sale_mode: SaleMode::Rebate { commission_rate: rate("0.05") },
    };
    assert_eq!(events, vec![Event::new(EventPayload::OrgOpened(OrgOpened { org: expected }))]);
    world.ledger.given(&r1_admin, body);
    assert!(world.ledger.state.book(id(40)).is_some(), "a reseller keeps a book");
    assert_sound(&world.ledger);
}

#[test]
fn open_org_opens_a_customer_by_sales_without_a_book() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let body = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(41),
        kind: OrgKind::Customer,
        name: "Customer D".into(),
        parent_id: world.r2,
        sale_mode: None,
    });
    let events = world.ledger.decide(&sales, body.clone()).unwrap();
    let EventPayload::OrgOpened(OrgOpened { org }) = &events[0].payload else { panic!("{events:?}") };
    assert_eq!((org.kind, org.parent_id, org.sale_mode), (OrgKind::Customer, Some(world.r2), SaleMode::Discount));
    world.ledger.given(&sales, body);
    assert!(world.ledger.state.book(id(41)).is_none(), "customers keep no book");
    assert_sound(&world.ledger);
}

#[test]
fn open_org_refuses_a_second_platform() {
    let world = WorkedExample::new();
    let body = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(42),
        kind: OrgKind::Platform,
        name: "P2".into(),
        parent_id: world.platform,
        sale_mode: None,
    });
    let error = refused(world.ledger.decide(&world.platform_admin, body));
    assert_eq!(error.code(), "invalid_field");
    assert_eq!(error.field(), Some("kind"));
}

#[test]
fn open_org_of_a_reseller_needs_an_admin_not_sales() {
    let world = WorkedExample::new();
    let body = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(42),
        kind: OrgKind::Reseller,
        name: "R9".into(),
        parent_id: world.r2,
        sale_mode: None,
    });
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, body)).code(), "forbidden");
}

#[test]
fn open_org_refuses_a_sale_mode_for_a_customer_and_an_existing_id() {
    let world = WorkedExample::new();
    let customer_with_mode = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(43),
        kind: OrgKind::Customer,
        name: "D".into(),
        parent_id: world.r2,
        sale_mode: Some(SaleMode::Discount),
    });
    let error = refused(world.ledger.decide(&world.r2_admin, customer_with_mode));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("sale_mode")));

    let existing = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: world.customer,
        kind: OrgKind::Customer,
        name: "C again".into(),
        parent_id: world.r2,
        sale_mode: None,
    });
    assert_eq!(refused(world.ledger.decide(&world.r2_admin, existing)).code(), "already_exists");
}

#[test]
fn open_org_under_another_tenants_book_is_not_found() {
    let world = WorkedExample::new();
    // R1's admin may open orgs in R1 only, not under its child R2.
    let body = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(44),
        kind: OrgKind::Customer,
        name: "D".into(),
        parent_id: world.r2,
        sale_mode: None,
    });
    let error = refused(world.ledger.decide(&world.r1_admin, body));
    assert_eq!(error, DomainError::NotFound { what: "book", id: world.r2.to_string() });
}

/// A customer keeps no book and opens nothing: a 403, whether it names its own org as the parent
/// (the gateway's default) or its seller's, never a "book not found" that reads like a bug.
#[test]
fn open_org_by_a_customer_is_forbidden_whatever_the_parent() {
    let world = WorkedExample::new();
    let customer = world.customer_actor.clone();
    for parent_id in [world.customer, world.r2] {
        let body = CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: id(45),
            kind: OrgKind::Customer,
            name: "D".into(),
            parent_id,
            sale_mode: None,
        });
        let error = refused(world.ledger.decide(&customer, body));
        assert_eq!(error, DomainError::forbidden("a customer opens no organisations; the platform and resellers do"));
    }
}

/// A name is one line of visible text: control characters and the bidirectional overrides that
/// make one name read as another are refused, naming the field and the character.
#[test]
fn names_refuse_control_and_bidirectional_override_characters() {
    let world = WorkedExample::new();
    let open = |name: &str| {
        let body = CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: id(46),
            kind: OrgKind::Customer,
            name: name.into(),
            parent_id: world.r2,
            sale_mode: None,
        });
        world.ledger.decide(&world.r2_admin, body)
    };
    for (name, detail) in [
        ("Acme\u{202E}moc.live", "must not contain a bidirectional control character (U+202E)"),
        ("Acme\u{2067}x", "must not contain a bidirectional control character (U+2067)"),
        ("Acme\nCorp", "must not contain a control character (U+000A)"),
        ("Acme\u{7}", "must not contain a control character (U+0007)"),
    ] {
        assert_eq!(refused(open(name)), DomainError::invalid_field("name", detail), "{name:?}");
    }
    assert!(open("  客户 Acme-Corp (北京)  ").is_ok(), "letters of any script, spaces trimmed");
}

// ---------------------------------------------------------------- accounts

#[test]
fn open_account_adds_an_account_to_one_book_only() {
    let mut world = WorkedExample::new();
    let finance = world.r2_finance.clone();
    let body = CommandBody::Setup(SetupCommand::OpenAccount {
        book: world.r2,
        code: "6602".into(),
        name: " Admin expenses ".into(),
        account_type: AccountType::Expense,
    });
    let events = world.ledger.decide(&finance, body.clone()).unwrap();
    let account = Account {
        code: AccountCode::parse("6602").unwrap(),
        name: "Admin expenses".into(),
        account_type: AccountType::Expense,
    };
    assert_eq!(events, vec![Event::new(EventPayload::AccountOpened(AccountOpened { book: world.r2, account }))]);
    world.ledger.given(&finance, body);
    let code = AccountCode::parse("6602").unwrap();
    assert!(world.ledger.state.book(world.r2).unwrap().chart.contains(&code));
    assert!(!world.ledger.state.book(world.r1).unwrap().chart.contains(&code));
    assert_sound(&world.ledger);
}

#[test]
fn open_account_refuses_to_retype_an_account_that_has_lines() {
    let mut world = WorkedExample::new();
    world.recharge("100.00"); // 2203 and 1002 now have lines in R2's book
    let finance = world.r2_finance.clone();
    let retype = CommandBody::Setup(SetupCommand::OpenAccount {
        book: world.r2,
        code: "2203".into(),
        name: "Prepayments as an asset".into(),
        account_type: AccountType::Asset,
    });
    let error = refused(world.ledger.decide(&finance, retype));
    assert_eq!(error, DomainError::AccountRetype { account: AccountCode::parse("2203").unwrap() });
    assert_eq!(error.code(), "account_retype");
    assert_sound(&world.ledger);
}

#[test]
fn open_account_may_retype_an_account_without_lines_and_rename_one_with_lines() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    let finance = world.r2_finance.clone();
    // 2205 has no lines in R2's book: its type may still change.
    let retype = CommandBody::Setup(SetupCommand::OpenAccount {
        book: world.r2,
        code: "2205".into(),
        name: "Deposits held".into(),
        account_type: AccountType::Asset,
    });
    assert_eq!(types(&world.ledger.decide(&finance, retype).unwrap()), ["AccountOpened"]);
    // 2203 has lines; the same type with a new name is no retype.
    let rename = CommandBody::Setup(SetupCommand::OpenAccount {
        book: world.r2,
        code: "2203".into(),
        name: "Wallets".into(),
        account_type: AccountType::Liability,
    });
    assert_eq!(types(&world.ledger.decide(&finance, rename).unwrap()), ["AccountOpened"]);
    assert_sound(&world.ledger);
}

#[test]
fn open_account_refuses_a_malformed_code_and_a_sales_actor() {
    let world = WorkedExample::new();
    let bad = CommandBody::Setup(SetupCommand::OpenAccount {
        book: world.r2,
        code: "66O2".into(),
        name: "typo".into(),
        account_type: AccountType::Expense,
    });
    let error = refused(world.ledger.decide(&world.r2_finance, bad));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("code")));
    let by_sales = CommandBody::Setup(SetupCommand::OpenAccount {
        book: world.r2,
        code: "6602".into(),
        name: "Admin expenses".into(),
        account_type: AccountType::Expense,
    });
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, by_sales)).code(), "forbidden");
}

// ---------------------------------------------------------------- posting rules

#[test]
fn set_posting_rules_adopts_a_new_kind_at_version_1_and_a_changed_rule_at_the_next_version() {
    let mut world = WorkedExample::new();
    let finance = world.platform_finance.clone();
    let mut coupon = default_rules().into_iter().find(|rule| rule.kind == "voucher.grant").unwrap();
    coupon.lines[0].account = AccountCode::parse("6602").unwrap();
    let body = CommandBody::Setup(SetupCommand::SetPostingRules { rules: vec![service_fee_rule(), coupon.clone()] });

    let events = world.ledger.decide(&finance, body.clone()).unwrap();

    let mut fee_v1 = service_fee_rule();
    fee_v1.version = 1;
    let mut coupon_v2 = coupon;
    coupon_v2.version = 2;
    assert_eq!(
        events,
        vec![Event::new(EventPayload::PostingRulesSet(PostingRulesSet { rules: vec![fee_v1, coupon_v2] }))]
    );
    world.ledger.given(&finance, body);
    assert_eq!(world.ledger.state.rules.version_of("service_fee", "seller"), 1);
    assert_eq!(world.ledger.state.rules.version_of("voucher.grant", "seller"), 2);
    assert_eq!(world.ledger.state.rules.version_of("sale", "seller"), 1, "other rules keep their version");
    assert_sound(&world.ledger);
}

#[test]
fn set_posting_rules_refuses_an_unbalanced_rule_naming_its_index() {
    let world = WorkedExample::new();
    let mut unbalanced = service_fee_rule();
    unbalanced.kind = "late_fee".into();
    unbalanced.lines[1].amount = LinearSum::parse("2*fee").unwrap();
    let body = CommandBody::Setup(SetupCommand::SetPostingRules { rules: vec![service_fee_rule(), unbalanced] });
    let error = refused(world.ledger.decide(&world.platform_finance, body));
    let DomainError::RuleUnbalanced { index, reason } = &error else { panic!("{error:?}") };
    assert_eq!(*index, 1);
    assert!(reason.contains("fee"), "{reason}");
    assert_eq!(error.code(), "rule_unbalanced");
    assert_eq!(error.field(), Some("rules"));
}

#[test]
fn set_posting_rules_refuses_an_amount_a_builtin_kind_does_not_have() {
    let world = WorkedExample::new();
    let mut coupon = default_rules().into_iter().find(|rule| rule.kind == "voucher.grant").unwrap();
    for line in &mut coupon.lines {
        line.amount = LinearSum::parse("price").unwrap();
    }
    let error = refused(
        world
            .ledger
            .decide(&world.platform_finance, CommandBody::Setup(SetupCommand::SetPostingRules { rules: vec![coupon] })),
    );
    assert!(
        matches!(&error, DomainError::RuleUnbalanced { index: 0, reason } if reason.contains("price")),
        "{error:?}"
    );
}

#[test]
fn set_posting_rules_is_for_the_platforms_finance_only() {
    let world = WorkedExample::new();
    let body = CommandBody::Setup(SetupCommand::SetPostingRules { rules: vec![service_fee_rule()] });
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, body.clone())).code(), "not_found");
    let platform_sales = actor(world.platform, 1003, &[Role::Sales]);
    assert_eq!(refused(world.ledger.decide(&platform_sales, body)).code(), "forbidden");
}

// ---------------------------------------------------------------- sale modes

#[test]
fn set_sale_mode_is_decided_by_the_parent_admin() {
    let world = WorkedExample::new();
    let rebate = SaleMode::Rebate { commission_rate: rate("0.05") };
    let body = CommandBody::Setup(SetupCommand::SetSaleMode {
        reseller_id: world.r2,
        sale_mode: rebate,
        effective_from: None,
    });
    assert_eq!(
        world.ledger.decide(&world.r1_admin, body.clone()).unwrap(),
        vec![Event::new(EventPayload::SaleModeSet(SaleModeSet { reseller_id: world.r2, sale_mode: rebate }))]
    );
    // R2 cannot change its own agreement with R1, and R1's finance is not its admin.
    assert_eq!(refused(world.ledger.decide(&world.r2_admin, body.clone())).code(), "not_found");
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, body)).code(), "forbidden");
}

#[test]
fn set_sale_mode_refuses_an_org_that_is_not_a_reseller() {
    let world = WorkedExample::new();
    let body = CommandBody::Setup(SetupCommand::SetSaleMode {
        reseller_id: world.supplier,
        sale_mode: SaleMode::Discount,
        effective_from: None,
    });
    assert_eq!(refused(world.ledger.decide(&world.platform_admin, body)).code(), "not_found");
}

// ---------------------------------------------------------------- products

#[test]
fn create_product_records_the_supplier_and_its_owner() {
    let mut world = WorkedExample::new();
    let operations = actor(world.platform, 1004, &[Role::Operations]);
    let body = CommandBody::Setup(SetupCommand::CreateProduct {
        product_id: id(101),
        name: "Object storage".into(),
        supplier_id: world.supplier,
        list_price: UnitPrice::parse("0.125").unwrap(),
        unit: "GB-month".into(),
        currency: None,
    });
    let events = world.ledger.decide(&operations, body.clone()).unwrap();
    assert_eq!(
        events,
        vec![Event::new(EventPayload::ProductCreated(ProductCreated {
            product_id: id(101),
            name: "Object storage".into(),
            supplier_id: world.supplier,
            owner_id: world.platform,
            list_price: UnitPrice::parse("0.125").unwrap(),
            unit: "GB-month".into(),
            currency: None,
        }))]
    );
    world.ledger.given(&operations, body);
    assert_eq!(world.ledger.state.products[&id(101)].supplier_rate, None);
    assert_sound(&world.ledger);
}

#[test]
fn create_product_of_a_resellers_own_supplier_is_owned_by_the_reseller() {
    let mut world = WorkedExample::new();
    let r1_admin = world.r1_admin.clone();
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: id(50),
            kind: OrgKind::Supplier,
            name: "R1's supplier".into(),
            parent_id: world.r1,
            sale_mode: None,
        }),
    );
    let body = CommandBody::Setup(SetupCommand::CreateProduct {
        product_id: id(102),
        name: "CDN".into(),
        supplier_id: id(50),
        list_price: UnitPrice::parse("200").unwrap(),
        unit: "month".into(),
        currency: None,
    });
    let events = world.ledger.decide(&r1_admin, body).unwrap();
    let EventPayload::ProductCreated(created) = &events[0].payload else { panic!("{events:?}") };
    assert_eq!(created.owner_id, world.r1);
    assert_sound(&world.ledger);
}

#[test]
fn create_product_refusals() {
    let world = WorkedExample::new();
    let product = |product_id: ProductId, supplier_id: OrgId| {
        CommandBody::Setup(SetupCommand::CreateProduct {
            product_id,
            name: "X".into(),
            supplier_id,
            list_price: UnitPrice::parse("1").unwrap(),
            unit: "month".into(),
            currency: None,
        })
    };
    // Not a supplier.
    assert_eq!(refused(world.ledger.decide(&world.platform_admin, product(id(103), world.r1))).code(), "not_found");
    // The platform's supplier is no party of R1's book.
    assert_eq!(refused(world.ledger.decide(&world.r1_admin, product(id(103), world.supplier))).code(), "not_found");
    // The same product id again.
    assert_eq!(
        refused(world.ledger.decide(&world.platform_admin, product(world.product, world.supplier))).code(),
        "already_exists"
    );
    // Sales is not operations.
    let platform_sales = actor(world.platform, 1003, &[Role::Sales]);
    assert_eq!(refused(world.ledger.decide(&platform_sales, product(id(103), world.supplier))).code(), "forbidden");
}

#[test]
fn set_supplier_rate_is_set_by_the_owner_of_the_product() {
    let world = WorkedExample::new();
    let body = CommandBody::Setup(SetupCommand::SetSupplierRate { product_id: world.product, rate: rate("0.65") });
    assert_eq!(
        world.ledger.decide(&world.platform_finance, body.clone()).unwrap(),
        vec![Event::new(EventPayload::SupplierRateSet(SupplierRateSet {
            product_id: world.product,
            rate: rate("0.65")
        }))]
    );
    assert_eq!(refused(world.ledger.decide(&world.r1_admin, body.clone())).code(), "not_found");
    let platform_sales = actor(world.platform, 1003, &[Role::Sales]);
    assert_eq!(refused(world.ledger.decide(&platform_sales, body)).code(), "forbidden");
    let unknown = CommandBody::Setup(SetupCommand::SetSupplierRate { product_id: id(999), rate: rate("0.65") });
    assert_eq!(refused(world.ledger.decide(&world.platform_finance, unknown)).code(), "not_found");
}

// ---------------------------------------------------------------- rates

fn set_rate(world: &WorkedExample, book: OrgId, scope: RateScope, value: &str) -> CommandBody {
    CommandBody::Setup(SetupCommand::SetRate {
        book,
        product_id: world.product,
        scope,
        rate: rate(value),
        valid_from: Some(date("2026-01-01")),
        valid_to: Some(date("2026-12-31")),
        approval_id: id(600),
    })
}

#[test]
fn set_rate_at_or_above_cost_takes_effect_at_once_in_every_scope() {
    let world = WorkedExample::new();
    for (book, scope, value, by) in [
        (world.platform, RateScope::Reseller(world.r1), "0.82", &world.platform_admin),
        (world.r2, RateScope::Public, "0.99", &world.r2_sales),
        (world.r2, RateScope::Customer(world.customer), "0.88", &world.r2_sales),
    ] {
        let events = world.ledger.decide(by, set_rate(&world, book, scope, value)).unwrap();
        assert_eq!(
            events,
            vec![Event::new(EventPayload::RateSet(RateSet {
                book,
                product_id: world.product,
                scope,
                rate: rate(value),
                valid_from: Some(date("2026-01-01")),
                valid_to: Some(date("2026-12-31")),
            }))],
            "{scope}"
        );
    }
}

#[test]
fn set_rate_refuses_a_scope_that_is_not_a_child_of_the_book() {
    let world = WorkedExample::new();
    // C is R2's customer, not R1's.
    let error = refused(
        world.ledger.decide(&world.r1_admin, set_rate(&world, world.r1, RateScope::Customer(world.customer), "0.9")),
    );
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("scope")));
    // R2 is R1's child, not the platform's.
    let error = refused(
        world
            .ledger
            .decide(&world.platform_admin, set_rate(&world, world.platform, RateScope::Reseller(world.r2), "0.9")),
    );
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("scope")));
}

#[test]
fn set_rate_refuses_a_window_that_ends_before_it_starts() {
    let world = WorkedExample::new();
    let mut body = set_rate(&world, world.r2, RateScope::Public, "0.97");
    if let CommandBody::Setup(SetupCommand::SetRate { valid_to, .. }) = &mut body {
        *valid_to = Some(date("2025-12-31"));
    }
    let error = refused(world.ledger.decide(&world.r2_sales, body));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("valid_to")));
}

#[test]
fn set_rate_refuses_a_product_the_book_cannot_buy() {
    let mut world = WorkedExample::new();
    let sibling = sibling(&mut world);
    // A product of R1's own supplier: the sibling R3 is not below R1.
    let r1_admin = world.r1_admin.clone();
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: id(50),
            kind: OrgKind::Supplier,
            name: "R1's supplier".into(),
            parent_id: world.r1,
            sale_mode: None,
        }),
    );
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::CreateProduct {
            product_id: id(102),
            name: "CDN".into(),
            supplier_id: id(50),
            list_price: UnitPrice::parse("200").unwrap(),
            unit: "month".into(),
            currency: None,
        }),
    );
    let body = CommandBody::Setup(SetupCommand::SetRate {
        book: sibling.r3,
        product_id: id(102),
        scope: RateScope::Public,
        rate: rate("0.9"),
        valid_from: None,
        valid_to: None,
        approval_id: id(601),
    });
    let error = refused(world.ledger.decide(&sibling.r3_admin, body));
    assert_eq!((error.code(), error.field()), ("no_price", Some("product_id")));
    let unknown = CommandBody::Setup(SetupCommand::SetRate {
        book: world.r2,
        product_id: id(999),
        scope: RateScope::Public,
        rate: rate("0.9"),
        valid_from: None,
        valid_to: None,
        approval_id: id(602),
    });
    let error = refused(world.ledger.decide(&world.r2_sales, unknown));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("product_id")));
    assert_sound(&world.ledger);
}

#[test]
fn set_rate_needs_sales_in_the_book() {
    let world = WorkedExample::new();
    let operations = actor(world.r2, 4009, &[Role::Operations]);
    assert_eq!(
        refused(world.ledger.decide(&operations, set_rate(&world, world.r2, RateScope::Public, "0.97"))).code(),
        "forbidden"
    );
    assert_eq!(
        refused(world.ledger.decide(&world.r1_admin, set_rate(&world, world.r2, RateScope::Public, "0.97"))).code(),
        "not_found"
    );
}

// ---------------------------------------------------------------- promotions and invite codes

#[test]
fn create_promotion_records_its_rates_and_window() {
    let world = WorkedExample::new();
    let body = CommandBody::Setup(SetupCommand::CreatePromotion {
        approval_id: id(9900007),
        promotion_id: id(700),
        book: world.r2,
        name: "Spring sale".into(),
        rates: BTreeMap::from([(world.product, rate("0.90"))]),
        valid_from: date("2026-01-01"),
        valid_to: date("2026-03-31"),
    });
    assert_eq!(
        world.ledger.decide(&world.r2_sales, body).unwrap(),
        vec![Event::new(EventPayload::PromotionCreated(PromotionCreated {
            promotion_id: id(700),
            book: world.r2,
            name: "Spring sale".into(),
            rates: BTreeMap::from([(world.product, rate("0.90"))]),
            valid_from: date("2026-01-01"),
            valid_to: date("2026-03-31"),
        }))]
    );
}

#[test]
fn create_promotion_refusals() {
    let world = WorkedExample::new();
    let promotion = |rates: BTreeMap<ProductId, _>, valid_to: &str| {
        CommandBody::Setup(SetupCommand::CreatePromotion {
            approval_id: id(9900006),
            promotion_id: id(701),
            book: world.r2,
            name: "Sale".into(),
            rates,
            valid_from: date("2026-02-01"),
            valid_to: date(valid_to),
        })
    };
    let one = BTreeMap::from([(world.product, rate("0.9"))]);
    let error = refused(world.ledger.decide(&world.r2_sales, promotion(one.clone(), "2026-01-31")));
    assert_eq!(error.field(), Some("valid_to"));
    let error = refused(world.ledger.decide(&world.r2_sales, promotion(BTreeMap::new(), "2026-02-28")));
    assert_eq!(error.field(), Some("rates"));
    let unknown = BTreeMap::from([(id::<ProductId>(999), rate("0.9"))]);
    let error = refused(world.ledger.decide(&world.r2_sales, promotion(unknown, "2026-02-28")));
    assert_eq!(error.code(), "invalid_field");
    let operations = actor(world.r2, 4010, &[Role::Operations]);
    assert_eq!(refused(world.ledger.decide(&operations, promotion(one, "2026-02-28"))).code(), "forbidden");
}

#[test]
fn create_invite_code_links_a_promotion_and_a_salesperson() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    world.ledger.given(
        &sales,
        CommandBody::Setup(SetupCommand::CreatePromotion {
            approval_id: id(9900005),
            promotion_id: id(700),
            book: world.r2,
            name: "Spring sale".into(),
            rates: BTreeMap::from([(world.product, rate("0.90"))]),
            valid_from: date("2026-01-01"),
            valid_to: date("2026-03-31"),
        }),
    );
    let code = InviteCode::try_from("SPRING-26".to_owned()).unwrap();
    let body = CommandBody::Setup(SetupCommand::CreateInviteCode {
        code: code.clone(),
        book: world.r2,
        promotion_id: Some(id(700)),
        salesperson: Some("Li Lei".into()),
    });
    assert_eq!(
        world.ledger.decide(&sales, body.clone()).unwrap(),
        vec![Event::new(EventPayload::InviteCodeCreated(InviteCodeCreated {
            code: code.clone(),
            book: world.r2,
            promotion_id: Some(id(700)),
            salesperson: Some("Li Lei".into()),
        }))]
    );
    world.ledger.given(&sales, body.clone());
    assert_eq!(refused(world.ledger.decide(&sales, body)).code(), "already_exists");
    assert_sound(&world.ledger);
}

#[test]
fn create_invite_code_refuses_a_promotion_of_another_book() {
    let mut world = WorkedExample::new();
    let r1_admin = world.r1_admin.clone();
    world.ledger.given(
        &r1_admin,
        CommandBody::Setup(SetupCommand::CreatePromotion {
            approval_id: id(9900004),
            promotion_id: id(702),
            book: world.r1,
            name: "R1 sale".into(),
            rates: BTreeMap::from([(world.product, rate("0.90"))]),
            valid_from: date("2026-01-01"),
            valid_to: date("2026-03-31"),
        }),
    );
    let body = CommandBody::Setup(SetupCommand::CreateInviteCode {
        code: InviteCode::try_from("R1-CODE".to_owned()).unwrap(),
        book: world.r2,
        promotion_id: Some(id(702)),
        salesperson: None,
    });
    let error = refused(world.ledger.decide(&world.r2_sales, body));
    assert_eq!(error, DomainError::NotFound { what: "promotion", id: id::<PromotionId>(702).to_string() });
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- custom business kinds

#[test]
fn book_business_books_a_custom_kind_from_its_rule_and_opened_account() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    open_fee_account(&mut world);
    adopt_fee_rule(&mut world);
    let finance = world.r2_finance.clone();
    let body = fee(&world, world.r2, "30.00");

    let events = world.ledger.decide(&finance, body.clone()).unwrap();

    assert_eq!(types(&events), ["BusinessBooked"]);
    assert_eq!(
        events[0].payload,
        EventPayload::BusinessBooked(BusinessBooked {
            kind: "service_fee".into(),
            role: "seller".into(),
            book: world.r2,
            amounts: BTreeMap::from([("fee".to_owned(), amount("30.00"))]),
            parties: BTreeMap::from([(PartyRef::Customer, world.customer)]),
            memo: "March support fee".into(),
        })
    );
    let names = names(&world);
    assert_eq!(book_lines(&events, world.r2, &names), vec![vec!["Dr 2203[C] 30.00", "Cr 6052 30.00"]]);
    assert_eq!(events[0].entries[0].rule.id, "service_fee/seller");
    assert_eq!(events[0].entries[0].rule.version, 1);
    assert_eq!(events[0].entries.len(), 1, "one book only");

    world.ledger.given(&finance, body);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("70.00"));
    assert_eq!(net(&world.ledger, world.r2, "6052").to_string(), "-30.00");
    assert_sound(&world.ledger);
}

#[test]
fn book_business_refuses_a_book_that_has_not_opened_the_rules_account() {
    let mut world = WorkedExample::new();
    adopt_fee_rule(&mut world); // 6052 is not opened anywhere
    world.recharge("100.00");
    let error = refused(world.ledger.decide(&world.r2_finance, fee(&world, world.r2, "30.00")));
    assert_eq!(error, DomainError::AccountNotOpen { book: world.r2, account: AccountCode::parse("6052").unwrap() });
    assert_sound(&world.ledger);
}

#[test]
fn book_business_refuses_a_kind_without_a_rule_and_missing_amounts_or_parties() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    open_fee_account(&mut world);
    let finance = world.r2_finance.clone();
    let error = refused(world.ledger.decide(&finance, fee(&world, world.r2, "30.00")));
    assert_eq!(error, DomainError::NoPostingRule { kind: "service_fee".into(), role: "seller".into() });

    adopt_fee_rule(&mut world);
    let mut no_amount = fee(&world, world.r2, "30.00");
    if let CommandBody::Setup(SetupCommand::BookBusiness { amounts, .. }) = &mut no_amount {
        *amounts = BTreeMap::from([("charge".to_owned(), amount("30.00"))]);
    }
    assert_eq!(refused(world.ledger.decide(&finance, no_amount)), DomainError::MissingAmount { name: "fee".into() });

    let mut no_party = fee(&world, world.r2, "30.00");
    if let CommandBody::Setup(SetupCommand::BookBusiness { parties, .. }) = &mut no_party {
        parties.clear();
    }
    assert_eq!(
        refused(world.ledger.decide(&finance, no_party)),
        DomainError::MissingParty { party: PartyRef::Customer }
    );

    let zero = fee(&world, world.r2, "0.00");
    let error = refused(world.ledger.decide(&finance, zero));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("amounts")));
    assert_sound(&world.ledger);
}

#[test]
fn book_business_cannot_overdraw_a_wallet_whatever_the_rule() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    open_fee_account(&mut world);
    adopt_fee_rule(&mut world);
    let error = refused(world.ledger.decide(&world.r2_finance, fee(&world, world.r2, "100.01")));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("100.00"), needed: amount("100.01") });
    assert_sound(&world.ledger);
}

#[test]
fn book_business_cannot_spend_money_held_for_a_pending_withdrawal() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    open_fee_account(&mut world);
    adopt_fee_rule(&mut world);
    let finance = world.r2_finance.clone();
    let customer = world.customer_actor.clone();
    let withdrawal_id: WithdrawalId = id(800);
    world.ledger.given(
        &customer,
        CommandBody::Money(MoneyCommand::Withdraw {
            withdrawal_id,
            approval_id: id(801),
            customer_id: world.customer,
            amount: amount("80.00"),
            route: WithdrawalRoute::Offline,
            channel: None,
            offline_withdrawal_id: id(802),
        }),
    );
    // 100.00 in the wallet, 80.00 of it held for the withdrawal: a fee of 30.00 would leave the
    // withdrawal unpayable (and the wallet holding more than it has).
    let error = refused(world.ledger.decide(&finance, fee(&world, world.r2, "30.00")));
    assert_eq!(error, DomainError::InsufficientBalance { available: amount("20.00"), needed: amount("30.00") });
    world.ledger.given(&finance, fee(&world, world.r2, "20.00"));
    let approver = actor(world.r2, 4011, &[Role::Finance]);
    let recorded = world.ledger.given(
        &approver,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(801), grant: true, comment: None }),
    );
    assert_eq!(types(&events_of(&recorded)), ["ApprovalGranted", "WithdrawalPaid"]);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"));
    assert_sound(&world.ledger);
}

#[test]
fn book_business_refuses_builtin_kinds_which_have_their_own_commands_and_approvals() {
    let world = WorkedExample::new();
    // An offline recharge needs approval (DESIGN §2.7): finance may not book one directly.
    let body = CommandBody::Setup(SetupCommand::BookBusiness {
        kind: "recharge.offline".into(),
        role: "seller".into(),
        book: world.r2,
        amounts: BTreeMap::from([("amount".to_owned(), amount("1000.00"))]),
        parties: BTreeMap::from([(PartyRef::Customer, world.customer)]),
        memo: "cash".into(),
    });
    let error = refused(world.ledger.decide(&world.r2_finance, body));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("kind")));
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"));
}

#[test]
fn book_business_needs_finance_in_the_book_and_a_visible_party() {
    let mut world = WorkedExample::new();
    world.recharge("100.00");
    open_fee_account(&mut world);
    adopt_fee_rule(&mut world);
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, fee(&world, world.r2, "1.00"))).code(), "forbidden");
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, fee(&world, world.r2, "1.00"))).code(), "not_found");
    // R1 books in its own book about R2's customer: the party is not R1's.
    let error = refused(world.ledger.decide(&world.r1_finance, fee(&world, world.r1, "1.00")));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("parties.Customer")));
    assert_sound(&world.ledger);
}
