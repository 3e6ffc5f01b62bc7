//! Given/when/then tests of the approval decider (DESIGN §2.7): grants carry the proposal out in
//! the same command, rejections release what the request held, nobody approves their own request,
//! a decision is final, and special (below-cost) customer rates wait for approval.

mod common;

use common::*;
use ledger_core::event::*;
use ledger_core::ids::{ApprovalId, OrderId};
use ledger_core::org::Role;
use ledger_core::pricing::{RateScope, RateSource};
use ledger_core::testing::{actor, amount, id, rate, WorkedExample};
use ledger_core::{ApprovalCommand, MoneyCommand, OrderCommand, SetupCommand};
use ledger_core::{CommandBody, DomainError};

fn decide(approval: u128, grant: bool) -> CommandBody {
    CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(approval), grant, comment: None })
}

/// An offline recharge of 500.00 requested by `by` under approval 201.
fn requested_recharge(world: &mut WorkedExample, by: &ledger_core::org::Actor) {
    world.ledger.given(
        by,
        CommandBody::Money(MoneyCommand::RequestRecharge {
            recharge_id: id(200),
            approval_id: id(201),
            customer_id: world.customer,
            amount: amount("500.00"),
            method: RechargeMethod::Offline,
            reference: "bank slip 7".into(),
        }),
    );
}

fn special_rate(world: &WorkedExample, value: &str) -> CommandBody {
    CommandBody::Setup(SetupCommand::SetRate {
        book: world.r2,
        product_id: world.product,
        scope: RateScope::Customer(world.customer),
        rate: rate(value),
        valid_from: None,
        valid_to: None,
        approval_id: id(620),
    })
}

fn order_price(world: &mut WorkedExample) -> (String, RateSource) {
    let order_id: OrderId = world.place_order();
    let level = world.ledger.state.orders[&order_id].items[0].levels[2].clone();
    (level.price.to_string(), level.rate_source)
}

#[test]
fn a_grant_records_the_decider_and_its_comment_and_carries_the_proposal_out() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    requested_recharge(&mut world, &sales);
    let finance = world.r2_finance.clone();
    let body = CommandBody::Approval(ApprovalCommand::DecideApproval {
        approval_id: id(201),
        grant: true,
        comment: Some(" slip checked ".into()),
    });

    let events = world.ledger.decide(&finance, body.clone()).unwrap();

    assert_eq!(types(&events), ["ApprovalGranted", "RechargeConfirmed"]);
    assert_eq!(
        events[0],
        Event::new(EventPayload::ApprovalGranted(ApprovalDecided {
            approval_id: id(201),
            decided_by: finance.principal_id,
            comment: Some("slip checked".into()),
        }))
    );
    assert!(events[0].entries.is_empty(), "the grant books nothing; its effect does");
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 1002 500.00", "Cr 2203[C] 500.00"]]);
    world.ledger.given(&finance, body.clone());
    // Once granted, it is decided: the same decision again is refused, not booked twice.
    assert_eq!(refused(world.ledger.decide(&finance, body)), DomainError::ApprovalDecided { status: "granted" });
    assert_sound(&world.ledger);
}

#[test]
fn a_rejection_books_nothing_and_is_final() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    requested_recharge(&mut world, &sales);
    let finance = world.r2_finance.clone();
    let events = world.ledger.decide(&finance, decide(201, false)).unwrap();
    assert_eq!(
        events,
        vec![Event::new(EventPayload::ApprovalRejected(ApprovalDecided {
            approval_id: id(201),
            decided_by: finance.principal_id,
            comment: None,
        }))]
    );
    world.ledger.given(&finance, decide(201, false));
    assert_eq!(
        refused(world.ledger.decide(&finance, decide(201, true))),
        DomainError::ApprovalDecided { status: "rejected" }
    );
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"));
    assert_sound(&world.ledger);
}

#[test]
fn nobody_approves_their_own_request() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    requested_recharge(&mut world, &admin);
    for grant in [true, false] {
        let error = refused(world.ledger.decide(&admin, decide(201, grant)));
        assert_eq!(error, DomainError::SelfApproval);
        assert_eq!(error.code(), "self_approval");
    }
    // The same principal with other roles is still the requester.
    let same_principal = actor(world.r2, 4001, &[Role::Finance]);
    assert_eq!(refused(world.ledger.decide(&same_principal, decide(201, true))).code(), "self_approval");
    // Anyone else with the finance role may.
    let finance = world.r2_finance.clone();
    world.ledger.given(&finance, decide(201, true));
    assert_sound(&world.ledger);
}

#[test]
fn an_approval_already_decided_cannot_be_decided_again() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let finance = world.r2_finance.clone();
    let other_finance = actor(world.r2, 4050, &[Role::Finance]);
    requested_recharge(&mut world, &sales);
    world.ledger.given(&finance, decide(201, true));
    for (by, grant) in [(&finance, true), (&other_finance, true), (&other_finance, false)] {
        let error = refused(world.ledger.decide(by, decide(201, grant)));
        assert_eq!(error, DomainError::ApprovalDecided { status: "granted" });
        assert_eq!(error.code(), "approval_decided");
    }
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("500.00"), "booked once");

    let mut rejected = WorkedExample::new();
    requested_recharge(&mut rejected, &sales);
    rejected.ledger.given(&finance, decide(201, false));
    let error = refused(rejected.ledger.decide(&other_finance, decide(201, true)));
    assert_eq!(error, DomainError::ApprovalDecided { status: "rejected" });
    assert_sound(&world.ledger);
    assert_sound(&rejected.ledger);
}

#[test]
fn deciding_needs_the_finance_role_in_the_same_org() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    requested_recharge(&mut world, &admin);
    assert_eq!(refused(world.ledger.decide(&world.r2_sales, decide(201, true))).code(), "forbidden");
    let operations = actor(world.r2, 4040, &[Role::Operations]);
    assert_eq!(refused(world.ledger.decide(&operations, decide(201, false))).code(), "forbidden");
    // Another org's finance, even the parent's, and the customer do not see the approval.
    let not_found = DomainError::NotFound { what: "approval", id: id::<ApprovalId>(201).to_string() };
    assert_eq!(refused(world.ledger.decide(&world.r1_finance, decide(201, true))), not_found);
    assert_eq!(refused(world.ledger.decide(&world.customer_actor, decide(201, true))), not_found);
    assert_eq!(refused(world.ledger.decide(&world.r2_finance, decide(299, true))).code(), "not_found");
    let blank = CommandBody::Approval(ApprovalCommand::DecideApproval {
        approval_id: id(201),
        grant: true,
        comment: Some("   ".into()),
    });
    assert_eq!(refused(world.ledger.decide(&world.r2_finance, blank)).field(), Some("comment"));
    assert_sound(&world.ledger);
}

#[test]
fn a_special_customer_rate_below_cost_waits_for_approval_and_takes_effect_on_grant() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let finance = world.r2_finance.clone();
    // R2 buys P at 0.88: a customer rate of 0.85 sells below cost.
    let requested = world.ledger.decide(&sales, special_rate(&world, "0.85")).unwrap();
    let rate_set = RateSet {
        book: world.r2,
        product_id: world.product,
        scope: RateScope::Customer(world.customer),
        rate: rate("0.85"),
        valid_from: None,
        valid_to: None,
    };
    assert_eq!(
        requested,
        vec![Event::new(EventPayload::ApprovalRequested(ApprovalRequested {
            approval_id: id(620),
            book: world.r2,
            kind: ApprovalKind::SpecialRate,
            requested_by: sales.principal_id,
            proposal: Proposal::SetRate(rate_set.clone()),
        }))]
    );
    world.ledger.given(&sales, special_rate(&world, "0.85"));
    assert_eq!(
        order_price(&mut world),
        ("950.00".to_owned(), RateSource::Customer),
        "the old rate holds until approved"
    );

    let granted = world.ledger.decide(&finance, decide(620, true)).unwrap();
    assert_eq!(types(&granted), ["ApprovalGranted", "RateSet"]);
    assert_eq!(granted[1], Event::new(EventPayload::RateSet(rate_set)));
    world.ledger.given(&finance, decide(620, true));

    world.recharge("850.00");
    let order_id: OrderId = world.place_order();
    let level = &world.ledger.state.orders[&order_id].items[0].levels[2];
    assert_eq!(
        (
            level.rate.to_string(),
            level.rate_source,
            level.cost.to_string(),
            level.price.to_string(),
            level.margin.to_string()
        ),
        ("0.85".to_owned(), RateSource::Customer, "880.00".to_owned(), "850.00".to_owned(), "-30.00".to_owned())
    );
    let customer = world.customer_actor.clone();
    let paid = world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_eq!(
        book_lines(&events_of(&paid), world.r2, &names(&world)),
        vec![
            vec!["Dr 2203[C] 850.00", "Dr 6001.99 150.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 880.00", "Cr 2202[R1] 880.00"]
        ]
    );
    assert_sound(&world.ledger);
}

#[test]
fn a_rejected_special_rate_never_takes_effect() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    let finance = world.r2_finance.clone();
    world.ledger.given(&sales, special_rate(&world, "0.85"));
    let events = world.ledger.decide(&finance, decide(620, false)).unwrap();
    assert_eq!(types(&events), ["ApprovalRejected"]);
    world.ledger.given(&finance, decide(620, false));
    assert_eq!(order_price(&mut world), ("950.00".to_owned(), RateSource::Customer));
    // The approval id is spent: the same request needs a new one.
    assert_eq!(refused(world.ledger.decide(&sales, special_rate(&world, "0.85"))).code(), "already_exists");
    assert_sound(&world.ledger);
}

#[test]
fn a_customer_rate_at_cost_needs_no_approval() {
    let world = WorkedExample::new();
    let events = world.ledger.decide(&world.r2_sales, special_rate(&world, "0.88")).unwrap();
    assert_eq!(types(&events), ["RateSet"]);
}

#[test]
fn the_platforms_super_admin_reads_every_book_but_decides_only_in_its_own() {
    let mut world = WorkedExample::new();
    let (recharge_id, approval_id) = (ledger_core::testing::id(61), ledger_core::testing::id(62));
    let sales = world.r2_sales.clone();
    world.ledger.given(
        &sales,
        CommandBody::Money(MoneyCommand::RequestRecharge {
            recharge_id,
            approval_id,
            customer_id: world.customer,
            amount: amount("100.00"),
            method: ledger_core::event::RechargeMethod::Offline,
            reference: "slip".into(),
        }),
    );
    let super_admin = world.platform_admin.clone();
    let grant = CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant: true, comment: None });
    assert_eq!(refused(world.ledger.decide(&super_admin, grant.clone())).code(), "not_found");
    let coupon = CommandBody::Money(MoneyCommand::GrantCoupon {
        approval_id: id(9900008),
        customer_id: world.customer,
        amount: amount("5.00"),
        reason: "x".into(),
        expires_on: None,
    });
    assert_eq!(refused(world.ledger.decide(&super_admin, coupon)).code(), "not_found");
    assert_eq!(
        types(&world.ledger.decide(&world.r2_finance, grant).unwrap()),
        ["ApprovalGranted", "RechargeConfirmed"]
    );
}
