//! Given/when/then tests of the back office's registries (issue 12): org profiles, closing and
//! reopening orgs, supplier terms, products' shelf, visibility and dated list prices, sale modes
//! from a date, and manual journal entries with their approval.

mod common;

use std::collections::BTreeSet;

use common::*;
use ledger_core::approval_policy::{ApprovalAction, ApprovalRule};
use ledger_core::chart::{AccountCode, Side};
use ledger_core::event::*;
use ledger_core::journal::Line;
use ledger_core::money::{Currency, UnitPrice};
use ledger_core::org::{Role, SaleMode};
use ledger_core::testing::{amount, date, id, rate, WorkedExample};
use ledger_core::{ApprovalCommand, CommandBody, OrderCommand, RegistryCommand, SettlementCommand, SetupCommand};

fn profile() -> OrgProfile {
    OrgProfile {
        contact_person: Some(" 张三 ".into()),
        phone: Some("13800000000".into()),
        email: Some("zhang@example.com".into()),
        company: Some("杭州某某科技有限公司".into()),
        tax_id: Some("91330100MA2XXXXXX".into()),
        address: None,
        bank_account: None,
        verification: Verification::Company,
        tags: BTreeSet::from(["vip".to_owned(), " gpu ".to_owned()]),
        notes: Some("pays on time\nprefers email".into()),
    }
}

fn update(world: &WorkedExample, name: Option<&str>, profile: Option<OrgProfile>) -> CommandBody {
    RegistryCommand::UpdateOrg { org_id: world.customer, name: name.map(str::to_owned), profile }.into()
}

// ---------------------------------------------------------------- profiles

#[test]
fn a_profile_update_records_the_whole_profile_checked_and_keeps_what_it_does_not_name() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let events = world.ledger.given(&sales, update(&world, None, Some(profile())));
    let expected = OrgProfile {
        contact_person: Some("张三".into()),
        tags: BTreeSet::from(["gpu".to_owned(), "vip".to_owned()]),
        ..profile()
    };
    assert_eq!(
        events[0].event.payload,
        EventPayload::OrgProfileUpdated(OrgProfileUpdated {
            org_id: world.customer,
            name: "Customer C".into(),
            profile: expected.clone()
        })
    );
    // A rename alone keeps the profile.
    let events = world.ledger.given(&sales, update(&world, Some("Customer C Ltd"), None));
    assert_eq!(
        events[0].event.payload,
        EventPayload::OrgProfileUpdated(OrgProfileUpdated {
            org_id: world.customer,
            name: "Customer C Ltd".into(),
            profile: expected
        })
    );
    assert_eq!(world.ledger.state.orgs[&world.customer].name, "Customer C Ltd");
}

#[test]
fn a_profile_update_names_the_field_at_fault_and_is_refused_to_other_tenants() {
    let world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let bad_email = OrgProfile { email: Some("not-an-address".into()), ..profile() };
    let error = refused(world.ledger.decide(&sales, update(&world, None, Some(bad_email))));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("profile.email")));
    let long_tag = OrgProfile { tags: BTreeSet::from(["x".repeat(33)]), ..profile() };
    let error = refused(world.ledger.decide(&sales, update(&world, None, Some(long_tag))));
    assert_eq!(error.field(), Some("profile.tags[0]"));
    let error = refused(world.ledger.decide(&sales, update(&world, None, None)));
    assert_eq!(error.code(), "invalid_field");
    // R1 is R2's parent, not the customer's seller: it does not see the customer.
    let error = refused(world.ledger.decide(&world.r1_admin, update(&world, Some("x"), None)));
    assert_eq!(error.code(), "not_found");
    // A customer does not edit its record in the seller's registry.
    let error = refused(world.ledger.decide(&world.customer_actor, update(&world, Some("x"), None)));
    assert_eq!(error.code(), "not_found");
}

// ---------------------------------------------------------------- close and reopen

#[test]
fn a_customer_is_closed_only_with_nothing_left_open_and_then_nobody_acts_for_it() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let close = |world: &WorkedExample| -> CommandBody {
        RegistryCommand::CloseOrg { org_id: world.customer, reason: Some("account moved".into()) }.into()
    };
    // Cash in the wallet.
    world.recharge("1000.00");
    let error = refused(world.ledger.decide(&sales, close(&world)));
    assert_eq!(error.code(), "org_not_settled");
    assert!(error.to_string().contains("its cash balance is 1000.00"), "{error}");
    // Spent on an order that is paid and not yet fulfilled: the order is open.
    let order_id = world.place_order();
    world.pay_order(order_id);
    world.ledger.given(
        &world.customer_actor.clone(),
        CommandBody::Money(ledger_core::MoneyCommand::Withdraw {
            withdrawal_id: id(77),
            approval_id: id(78),
            customer_id: world.customer,
            amount: amount("50.00"),
            route: WithdrawalRoute::Offline,
            channel: None,
            offline_withdrawal_id: id(79),
        }),
    );
    world.ledger.given(
        &world.r2_finance.clone(),
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(78), grant: true, comment: None }),
    );
    let error = refused(world.ledger.decide(&sales, close(&world)));
    assert!(error.to_string().contains(&format!("order {order_id} is open")), "{error}");
    let operations = staff(world.r2, 4004, &[Role::Operations]);
    world.ledger.given(
        &operations,
        CommandBody::Orders(OrderCommand::FulfilOrder { order_id, note: None, subscription_end: None }),
    );

    let events = world.ledger.given(&sales, close(&world));
    assert_eq!(
        events[0].event.payload,
        EventPayload::OrgClosed(OrgClosed { org_id: world.customer, reason: Some("account moved".into()) })
    );
    assert!(events[0].event.entries.is_empty());
    assert_eq!(refused(world.ledger.decide(&sales, close(&world))).code(), "org_closed");
    // Closed: no order, no recharge for it.
    let order = CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: id(990),
        customer_id: world.customer,
        items: one_item(world.product, "1", 1),
        invite_code: None,
    });
    assert_eq!(refused(world.ledger.decide(&world.customer_actor, order.clone())).code(), "org_closed");

    // Reopened by its seller's staff, it buys again.
    let reopen: CommandBody = RegistryCommand::ReopenOrg { org_id: world.customer }.into();
    let events = world.ledger.given(&sales, reopen.clone());
    assert_eq!(events[0].event.payload, EventPayload::OrgReopened(OrgReopened { org_id: world.customer }));
    assert_eq!(refused(world.ledger.decide(&sales, reopen)).code(), "org_open");
    assert_eq!(types(&world.ledger.decide(&world.customer_actor, order).unwrap()), vec!["OrderPlaced"]);
    assert_sound(&world.ledger);
}

#[test]
fn a_reseller_is_closed_after_its_parties_and_its_items_with_the_parent_are_settled() {
    let mut world = WorkedExample::new();
    let r1_admin = world.r1_admin.clone();
    let close_r2: CommandBody = RegistryCommand::CloseOrg { org_id: world.r2, reason: None }.into();
    let error = refused(world.ledger.decide(&r1_admin, close_r2.clone()));
    assert!(error.to_string().contains(&format!("its party {} is not closed", world.customer)), "{error}");
    world
        .ledger
        .given(&world.r2_sales.clone(), RegistryCommand::CloseOrg { org_id: world.customer, reason: None }.into());
    world.ledger.given(&r1_admin, close_r2.clone());
    assert!(world.ledger.state.closed_orgs.contains(&world.r2));
    // Nobody opens a customer under a closed reseller; R2 cannot close or reopen itself.
    let open = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: id(991),
        kind: ledger_core::org::OrgKind::Customer,
        name: "D".into(),
        parent_id: world.r2,
        sale_mode: None,
    });
    assert_eq!(refused(world.ledger.decide(&world.r2_admin, open)).code(), "org_closed");
    let reopen: CommandBody = RegistryCommand::ReopenOrg { org_id: world.r2 }.into();
    assert_eq!(refused(world.ledger.decide(&world.r2_admin, reopen)).code(), "forbidden");
}

// ---------------------------------------------------------------- supplier terms

#[test]
fn supplier_terms_are_set_by_the_suppliers_buyer() {
    let world = WorkedExample::new();
    let terms = SupplierTerms {
        method: SettlementMethod::Postpaid,
        cycle: CycleEvery::Month,
        currency: Currency::CNY,
        payment_days: 30,
    };
    let body: CommandBody =
        RegistryCommand::SetSupplierTerms { supplier_id: world.supplier, terms: terms.clone() }.into();
    assert_eq!(
        world.ledger.decide(&world.platform_admin, body.clone()).unwrap()[0].payload,
        EventPayload::SupplierTermsSet(SupplierTermsSet { supplier_id: world.supplier, book: world.platform, terms })
    );
    assert_eq!(refused(world.ledger.decide(&world.r1_admin, body)).code(), "not_found");
}

// ---------------------------------------------------------------- products

#[test]
fn a_product_off_the_shelf_or_hidden_from_a_reseller_is_not_sold_through_it() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let platform = world.platform_admin.clone();
    let off: CommandBody = RegistryCommand::UpdateProduct {
        product_id: world.product,
        name: None,
        on_shelf: Some(false),
        hidden_from: None,
    }
    .into();
    let events = world.ledger.given(&platform, off);
    assert_eq!(
        events[0].event.payload,
        EventPayload::ProductUpdated(ProductUpdated {
            product_id: world.product,
            name: "GPU server".into(),
            on_shelf: false,
            hidden_from: BTreeSet::new()
        })
    );
    let order = |n: u128| {
        CommandBody::Orders(OrderCommand::PlaceOrder {
            order_id: id(n),
            customer_id: world.customer,
            items: one_item(world.product, "1", 1),
            invite_code: None,
        })
    };
    assert_eq!(refused(world.ledger.decide(&world.customer_actor, order(990))).code(), "product_off_shelf");
    let hide: CommandBody = RegistryCommand::UpdateProduct {
        product_id: world.product,
        name: None,
        on_shelf: Some(true),
        hidden_from: Some(BTreeSet::from([world.r1])),
    }
    .into();
    world.ledger.given(&platform, hide);
    let error = refused(world.ledger.decide(&world.customer_actor, order(991)));
    assert_eq!((error.code(), error.field()), ("no_price", Some("items[0].product_id")));
    // Only the owner's own resellers can be named, and only the owner's staff update it.
    let bad: CommandBody = RegistryCommand::UpdateProduct {
        product_id: world.product,
        name: None,
        on_shelf: None,
        hidden_from: Some(BTreeSet::from([world.r2])),
    }
    .into();
    assert_eq!(
        refused(world.ledger.decide(&platform, bad.clone())).field().map(str::to_owned),
        Some(format!("hidden_from.{}", world.r2))
    );
    assert_eq!(refused(world.ledger.decide(&world.r1_admin, bad)).code(), "not_found");
}

#[test]
fn a_list_price_from_a_date_prices_orders_from_that_date_and_not_before() {
    let mut world = WorkedExample::new();
    world.recharge("5000.00");
    let platform = world.platform_admin.clone();
    let schedule = |from: &str| -> CommandBody {
        RegistryCommand::ScheduleListPrice {
            product_id: world.product,
            list_price: UnitPrice::parse("1200.00").unwrap(),
            effective_from: date(from),
        }
        .into()
    };
    // Not in the past (today is 2026-01-15).
    assert_eq!(refused(world.ledger.decide(&platform, schedule("2026-01-14"))).field(), Some("effective_from"));
    world.ledger.given(&platform, schedule("2026-02-01"));
    let before = world.place_order();
    assert_eq!(world.ledger.state.orders[&before].total, amount("950.00"));
    world.ledger.today = date("2026-02-01");
    let after = world.place_order();
    // 1200.00 × 0.95, the customer's rate.
    assert_eq!(world.ledger.state.orders[&after].total, amount("1140.00"));
    // The order placed before keeps its price when paid after the change.
    world.pay_order(before);
    assert_eq!(world.ledger.state.orders[&before].paid, amount("950.00"));
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- sale mode from a date

#[test]
fn a_sale_mode_from_a_later_date_is_scheduled_and_prices_orders_from_then() {
    let mut world = WorkedExample::new();
    world.recharge("5000.00");
    let r1_admin = world.r1_admin.clone();
    let rebate = SaleMode::Rebate { commission_rate: rate("0.05") };
    let body = CommandBody::Setup(SetupCommand::SetSaleMode {
        reseller_id: world.r2,
        sale_mode: rebate,
        effective_from: Some(date("2026-02-01")),
    });
    let events = world.ledger.given(&r1_admin, body);
    assert_eq!(
        events[0].event.payload,
        EventPayload::SaleModeScheduled(SaleModeScheduled {
            reseller_id: world.r2,
            sale_mode: rebate,
            effective_from: date("2026-02-01")
        })
    );
    let before = world.place_order();
    world.pay_order(before);
    assert!(world.ledger.state.orders[&before].commissions.is_empty());
    world.ledger.today = date("2026-02-01");
    let after = world.place_order();
    let paid = world.pay_order(after);
    let accrued: Vec<_> = paid
        .iter()
        .filter_map(|recorded| match &recorded.event.payload {
            EventPayload::CommissionAccrued(accrued) => Some(accrued.amount),
            _ => None,
        })
        .collect();
    // In rebate mode R2 sells at R1's price to C (1000.00 × 0.95 is C's rate at R2; R2's
    // commission is 5% of R1's price to R2, 880.00).
    assert_eq!(accrued, vec![amount("44.00")]);
    let past = CommandBody::Setup(SetupCommand::SetSaleMode {
        reseller_id: world.r2,
        sale_mode: SaleMode::Discount,
        effective_from: Some(date("2026-01-31")),
    });
    assert_eq!(refused(world.ledger.decide(&r1_admin, past)).field(), Some("effective_from"));
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- manual entries

fn line(account: &str, party: Option<ledger_core::ids::OrgId>, side: Side, value: &str) -> Line {
    Line { account: AccountCode::parse(account).unwrap(), party, side, amount: amount(value), pair: None }
}

#[test]
fn a_manual_entry_waits_for_approval_and_is_booked_on_its_date_once_granted() {
    let mut world = WorkedExample::new();
    let finance = world.r2_finance.clone();
    let lines = vec![line("6601", None, Side::Debit, "120.00"), line("1002", None, Side::Credit, "120.00")];
    let request = SettlementCommand::RequestManualEntry {
        approval_id: id(880),
        book: world.r2,
        date: date("2026-01-10"),
        lines: lines.clone(),
        memo: "bank charges, January".into(),
    };
    let events = world.ledger.given(&finance, request.into());
    assert_eq!(types(&events_of(&events)), vec!["ApprovalRequested"]);
    assert!(events[0].event.entries.is_empty());
    // The maker does not check their own entry; the admin does.
    let decide =
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(880), grant: true, comment: None });
    assert_eq!(refused(world.ledger.decide(&finance, decide.clone())).code(), "self_approval");
    let events = world.ledger.given(&world.r2_admin.clone(), decide);
    assert_eq!(types(&events_of(&events)), vec!["ApprovalGranted", "ManualEntryBooked"]);
    let entry = &events[1].event.entries[0];
    assert_eq!((entry.date, entry.rule.id.as_str(), entry.rule.version), (date("2026-01-10"), "manual/entry", 0));
    assert_eq!(render(entry, &names(&world)), vec!["Dr 6601 120.00", "Cr 1002 120.00"]);
    assert_sound(&world.ledger);
}

#[test]
fn a_manual_entry_is_checked_line_by_line_and_a_policy_may_let_small_ones_through() {
    let mut world = WorkedExample::new();
    let finance = world.r2_finance.clone();
    let request = |lines: Vec<Line>, date_text: &str| -> CommandBody {
        SettlementCommand::RequestManualEntry {
            approval_id: id(881),
            book: world.r2,
            date: date(date_text),
            lines,
            memo: "adjustment".into(),
        }
        .into()
    };
    let unbalanced = vec![line("6601", None, Side::Debit, "120.00"), line("1002", None, Side::Credit, "100.00")];
    let error = refused(world.ledger.decide(&finance, request(unbalanced, "2026-01-10")));
    assert_eq!(error.field(), Some("lines"));
    assert!(error.to_string().contains("debits 120.00 and credits 100.00 differ"), "{error}");
    let unknown = vec![line("6699", None, Side::Debit, "1.00"), line("1002", None, Side::Credit, "1.00")];
    assert_eq!(refused(world.ledger.decide(&finance, request(unknown, "2026-01-10"))).code(), "account_not_open");
    let stranger =
        vec![line("1122", Some(world.platform), Side::Debit, "1.00"), line("1002", None, Side::Credit, "1.00")];
    assert_eq!(refused(world.ledger.decide(&finance, request(stranger, "2026-01-10"))).field(), Some("lines[0].party"));
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, request(vec![], "2026-01-10"))).code(), "forbidden");

    // A policy: entries up to 500.00 need nobody; the entry is booked at once.
    let policy = ApprovalCommand::SetApprovalPolicy {
        book: world.r2,
        rules: vec![ApprovalRule {
            action: ApprovalAction::ManualJournalEntry,
            above: Some(amount("500.00")),
            levels: vec![BTreeSet::from([Role::Admin])],
        }],
    };
    world.ledger.given(&world.r2_admin.clone(), policy.into());
    let small = vec![line("6601", None, Side::Debit, "20.00"), line("1002", None, Side::Credit, "20.00")];
    let events = world.ledger.given(&finance, request(small, "2026-01-12"));
    assert_eq!(types(&events_of(&events)), vec!["ManualEntryBooked"]);
    assert_eq!(net(&world.ledger, world.r2, "6601").to_string(), "20.00");
    assert_sound(&world.ledger);
}

// ---------------------------------------------------------------- ownership (归属)

fn user(world: &mut WorkedExample, by: &ledger_core::org::Actor, user: u128, org: ledger_core::ids::OrgId) {
    let create = ledger_core::AccessCommand::CreateUser {
        user_id: id(user),
        org_id: org,
        name: format!("user {user}"),
        email: None,
        phone: None,
        roles: BTreeSet::from([Role::Sales]),
    };
    world.ledger.given(by, create.into());
}

fn transfer(customer: ledger_core::ids::OrgId, to: ledger_core::ids::OrgId, owner: Option<u128>) -> CommandBody {
    RegistryCommand::TransferCustomer {
        customer_id: customer,
        to,
        owner_id: owner.map(id),
        reason: Some("region".into()),
    }
    .into()
}

#[test]
fn a_customer_with_nothing_open_moves_to_another_seller_with_its_new_salesperson() {
    let mut world = WorkedExample::new();
    let (r1_admin, r2_admin) = (world.r1_admin.clone(), world.r2_admin.clone());
    let org = world.r1;
    user(&mut world, &r1_admin, 7001, org);
    let org = world.r2;
    user(&mut world, &r2_admin, 7002, org);

    // Given a customer of R2 with money in its wallet: it may not leave R2.
    world.recharge("10.00");
    let error = refused(world.ledger.decide(&r1_admin, transfer(world.customer, world.r1, Some(7001))));
    assert_eq!(error.code(), "customer_not_settled");
    assert!(error.to_string().contains("its cash balance is 10.00"), "{error}");

    // A new customer of R2, with nothing open, moves up to R1 (decided by R1, R2's parent).
    let walk_in = id(6000);
    let open = SetupCommand::OpenOrg {
        org_id: walk_in,
        kind: ledger_core::org::OrgKind::Customer,
        name: "Walk-in".into(),
        parent_id: world.r2,
        sale_mode: None,
    };
    world.ledger.given(&r2_admin, open.into());
    // R2 cannot move it to its parent, nor may anyone name a salesperson of another org.
    assert_eq!(refused(world.ledger.decide(&r2_admin, transfer(walk_in, world.r1, None))).code(), "invalid_field");
    let error = refused(world.ledger.decide(&r1_admin, transfer(walk_in, world.r1, Some(7002))));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("owner_id")));
    assert_eq!(refused(world.ledger.decide(&r1_admin, transfer(walk_in, world.r2, None))).code(), "invalid_field");

    let events = world.ledger.given(&r1_admin, transfer(walk_in, world.r1, Some(7001)));
    assert_eq!(
        events[0].event.payload,
        EventPayload::CustomerTransferred(CustomerTransferred {
            customer_id: walk_in,
            from: world.r2,
            to: world.r1,
            owner_id: Some(id(7001)),
            reason: Some("region".into()),
        })
    );
    assert!(events[0].event.entries.is_empty());
    let moved = &world.ledger.state.orgs[&walk_in];
    assert_eq!(moved.parent_id, Some(world.r1));
    assert_eq!(world.ledger.state.customer_owners.get(&walk_in), Some(&id(7001)));
    // R2 no longer reaches it; R1 moves it back down, naming nobody.
    let r2_update = RegistryCommand::UpdateOrg { org_id: walk_in, name: Some("x".into()), profile: None };
    assert_eq!(refused(world.ledger.decide(&r2_admin, r2_update.into())).code(), "not_found");
    world.ledger.given(&r1_admin, transfer(walk_in, world.r2, None));
    assert_eq!(world.ledger.state.orgs[&walk_in].parent_id, Some(world.r2));
    assert_eq!(world.ledger.state.customer_owners.get(&walk_in), None);
    assert_sound(&world.ledger);
}

#[test]
fn a_leaving_salespersons_customers_pass_to_another_all_at_once() {
    let mut world = WorkedExample::new();
    let r2_admin = world.r2_admin.clone();
    let org = world.r2;
    user(&mut world, &r2_admin, 7002, org);
    let org = world.r2;
    user(&mut world, &r2_admin, 7003, org);
    for customer in [world.customer, id(6001)] {
        if customer != world.customer {
            let open = SetupCommand::OpenOrg {
                org_id: customer,
                kind: ledger_core::org::OrgKind::Customer,
                name: "Second".into(),
                parent_id: world.r2,
                sale_mode: None,
            };
            world.ledger.given(&r2_admin, open.into());
        }
        let owner = ledger_core::AccessCommand::SetCustomerOwner { customer_id: customer, owner_id: id(7002) };
        world.ledger.given(&r2_admin, owner.into());
    }
    let reassign =
        ledger_core::AccessCommand::ReassignCustomers { book: world.r2, from_user_id: id(7002), to_user_id: id(7003) };
    let events = world.ledger.given(&r2_admin, reassign.clone().into());
    let mut moved: Vec<_> = events
        .iter()
        .map(|event| match &event.event.payload {
            EventPayload::CustomerOwnerSet(set) => (set.customer_id, set.owner_id),
            other => panic!("{other:?}"),
        })
        .collect();
    moved.sort();
    let mut expected = vec![(world.customer, id(7003)), (id(6001), id(7003))];
    expected.sort();
    assert_eq!(moved, expected);
    // Nobody left to hand over.
    let error = refused(world.ledger.decide(&r2_admin, reassign.into()));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("from_user_id")));
}
