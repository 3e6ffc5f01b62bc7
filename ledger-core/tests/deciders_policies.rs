//! Given/when/then tests of approval policies as data (issue 9 item 4): a book's admin sets
//! which actions wait for approval, above which amount, approved by whom, level by level; the
//! defaults hold what needed approval before and cannot be removed where money leaves or a price
//! goes below cost; an approval moves through its levels by distinct persons holding each level's
//! roles, the last grant carries it out, a rejection at any level ends it.

mod common;

use std::collections::BTreeSet;

use common::*;
use ledger_core::approval_policy::{default_levels, ApprovalAction, ApprovalRule};
use ledger_core::event::*;
use ledger_core::ids::{ApprovalId, OrderId, OrgId, PromotionId};
use ledger_core::org::{Actor, Role};
use ledger_core::pricing::{RateScope, RateSource};
use ledger_core::state::Decision;
use ledger_core::testing::{actor, amount, date, id, rate, WorkedExample};
use ledger_core::{AccessCommand, ApprovalCommand, MoneyCommand, OrderCommand, SetupCommand};
use ledger_core::{CommandBody, DomainError, ErrorClass};

fn rule(action: ApprovalAction, above: Option<&str>, levels: &[&[Role]]) -> ApprovalRule {
    ApprovalRule {
        action,
        above: above.map(amount),
        levels: levels.iter().map(|roles| roles.iter().copied().collect()).collect(),
    }
}

fn policy(book: OrgId, rules: Vec<ApprovalRule>) -> CommandBody {
    CommandBody::Approval(ApprovalCommand::SetApprovalPolicy { book, rules })
}

fn decide(approval: u128, grant: bool) -> CommandBody {
    CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(approval), grant, comment: None })
}

fn coupon(world: &WorkedExample, value: &str, approval: u128) -> CommandBody {
    CommandBody::Money(MoneyCommand::GrantCoupon {
        customer_id: world.customer,
        amount: amount(value),
        reason: "loyalty".into(),
        approval_id: id(approval),
        expires_on: None,
    })
}

fn offline_recharge(world: &WorkedExample, value: &str, recharge: u128) -> CommandBody {
    CommandBody::Money(MoneyCommand::RequestRecharge {
        recharge_id: id(recharge),
        approval_id: id(recharge + 1),
        customer_id: world.customer,
        amount: amount(value),
        method: RechargeMethod::Offline,
        reference: "bank slip 7".into(),
    })
}

fn withdraw(world: &WorkedExample, value: &str, withdrawal: u128) -> CommandBody {
    CommandBody::Money(MoneyCommand::Withdraw {
        withdrawal_id: id(withdrawal),
        approval_id: id(withdrawal + 1),
        customer_id: world.customer,
        amount: amount(value),
        route: WithdrawalRoute::Offline,
        channel: None,
        offline_withdrawal_id: id(withdrawal + 2),
    })
}

fn set_rate(
    book: OrgId,
    product: ledger_core::ids::ProductId,
    scope: RateScope,
    value: &str,
    approval: u128,
) -> CommandBody {
    CommandBody::Setup(SetupCommand::SetRate {
        book,
        product_id: product,
        scope,
        rate: rate(value),
        valid_from: None,
        valid_to: None,
        approval_id: id(approval),
    })
}

/// A user of `org` with `roles` and one token per role set in `tokens` (principals `principal`,
/// `principal + 1`, ...): one person, several tokens.
fn person(
    world: &mut WorkedExample,
    org: OrgId,
    user: u128,
    roles: &[Role],
    tokens: &[&[Role]],
    principal: u128,
) -> Vec<Actor> {
    let admin = if org == world.r2 { world.r2_admin.clone() } else { world.r1_admin.clone() };
    world.ledger.given(
        &admin,
        CommandBody::Access(AccessCommand::CreateUser {
            user_id: id(user),
            org_id: org,
            name: "王芳".into(),
            email: None,
            phone: None,
            roles: roles.iter().copied().collect(),
        }),
    );
    tokens
        .iter()
        .enumerate()
        .map(|(index, token_roles)| {
            let principal = principal + index as u128;
            world.ledger.given(
                &admin,
                CommandBody::Access(AccessCommand::IssueToken {
                    principal_id: id(principal),
                    org_id: org,
                    user_id: id(user),
                    new_user: None,
                    roles: Some(token_roles.iter().copied().collect()),
                    label: None,
                    expires_at: None,
                    token_hash: format!("{:064x}", principal),
                }),
            );
            actor(org, principal, token_roles)
        })
        .collect()
}

#[test]
fn a_books_admin_sets_its_policy_as_an_event_and_nobody_else_does() {
    let mut world = WorkedExample::new();
    let rules = vec![
        rule(ApprovalAction::Coupon, Some("100.00"), &[&[Role::Finance]]),
        rule(ApprovalAction::Withdrawal, None, &[&[Role::Finance], &[Role::Admin]]),
    ];
    let events = world.ledger.decide(&world.r2_admin.clone(), policy(world.r2, rules.clone())).unwrap();
    assert_eq!(
        events,
        vec![Event::new(EventPayload::ApprovalPolicySet(ApprovalPolicySet { book: world.r2, rules: rules.clone() }))]
    );
    // Finance and sales are refused for rights; another tenant's admin does not find the book.
    for staff in [world.r2_finance.clone(), world.r2_sales.clone()] {
        assert_eq!(
            refused(world.ledger.decide(&staff, policy(world.r2, rules.clone()))).class(),
            ErrorClass::Forbidden
        );
    }
    let r1_admin = world.r1_admin.clone();
    assert_eq!(refused(world.ledger.decide(&r1_admin, policy(world.r2, rules.clone()))).code(), "not_found");
    let customer = world.customer_actor.clone();
    assert_eq!(refused(world.ledger.decide(&customer, policy(world.r2, rules.clone()))).code(), "not_found");

    let recorded = world.ledger.given(&world.r2_admin.clone(), policy(world.r2, rules.clone()));
    let set = &world.ledger.state.approval_policies[&world.r2];
    assert_eq!((set.rules.clone(), set.position), (rules, recorded[0].position));
    // The whole policy each time: setting it again replaces it (here, with the defaults only).
    world.ledger.given(&world.r2_admin.clone(), policy(world.r2, Vec::new()));
    assert!(world.ledger.state.approval_rules(world.r2).is_empty());
    assert_sound(&world.ledger);
}

#[test]
fn bad_rules_are_refused_naming_the_rule_and_its_field() {
    let world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    let fine = rule(ApprovalAction::Coupon, Some("1.00"), &[&[Role::Finance]]);
    let cases = [
        (rule(ApprovalAction::Refund, None, &[]), "rules[2].levels"),
        (
            rule(ApprovalAction::Refund, None, &[&[Role::Admin], &[Role::Admin], &[Role::Admin], &[Role::Admin]]),
            "rules[2].levels",
        ),
        (rule(ApprovalAction::Refund, None, &[&[Role::Admin], &[]]), "rules[2].levels"),
        (rule(ApprovalAction::Refund, None, &[&[Role::Customer]]), "rules[2].levels"),
        (rule(ApprovalAction::Refund, None, &[&[Role::SuperAdmin]]), "rules[2].levels"),
        (rule(ApprovalAction::Withdrawal, Some("10.00"), &[&[Role::Admin]]), "rules[2].above"),
        (rule(ApprovalAction::SettlementPayment, Some("10.00"), &[&[Role::Admin]]), "rules[2].above"),
        (rule(ApprovalAction::PublicRateBelowCost, Some("0.00"), &[&[Role::Admin]]), "rules[2].above"),
        (rule(ApprovalAction::Coupon, None, &[&[Role::Admin]]), "rules[2].action"),
    ];
    let other = rule(ApprovalAction::OfflineRecharge, None, &[&[Role::Finance]]);
    for (bad, field) in cases {
        let error =
            refused(world.ledger.decide(&admin, policy(world.r2, vec![fine.clone(), other.clone(), bad.clone()])));
        assert_eq!((error.code(), error.field()), ("invalid_field", Some(field)), "{bad:?}: {error}");
    }
    // super_admin may approve in the platform's book, where it is the book's admin.
    let platform = world.platform_admin.clone();
    let super_level = rule(ApprovalAction::SettlementPayment, None, &[&[Role::SuperAdmin, Role::Finance]]);
    assert!(world.ledger.decide(&platform, policy(world.platform, vec![super_level])).is_ok());
}

#[test]
fn with_the_defaults_a_rate_below_cost_waits_in_every_scope_and_sells_only_once_approved() {
    let mut world = WorkedExample::new();
    let (r2, product) = (world.r2, world.product);
    let sales = world.r2_sales.clone();
    // R2 buys at 0.88 (R1's rate to R2): a public rate of 0.01 is a sale at 1% of list.
    let events = world.ledger.decide(&sales, set_rate(r2, product, RateScope::Public, "0.01", 700)).unwrap();
    assert_eq!(types(&events), ["ApprovalRequested"], "the default: one level, admin or finance");
    let EventPayload::ApprovalRequested(request) = &events[0].payload else { unreachable!() };
    assert_eq!((request.kind, request.requested_by), (ApprovalKind::SpecialRate, sales.principal_id));
    world.ledger.given(&sales, set_rate(r2, product, RateScope::Public, "0.01", 700));
    assert_eq!(world.ledger.state.approvals[&id::<ApprovalId>(700)].levels, default_levels());
    // The order still sells at the customer's 0.95, not at 1% of list.
    let order: OrderId = world.place_order();
    let level = world.ledger.state.orders[&order].items[0].levels[2].clone();
    assert_eq!((level.price.to_string(), level.rate_source), ("950.00".to_owned(), RateSource::Customer));

    // A child reseller's rate below the book's own cost (R1 buys at 0.80), and a promotion.
    let r1_sales = actor(world.r1, 3003, &[Role::Sales]);
    let events = world.ledger.decide(&r1_sales, set_rate(world.r1, product, RateScope::Reseller(r2), "0.50", 701));
    assert_eq!(types(&events.unwrap()), ["ApprovalRequested"]);
    let promotion = |approval: u128, value: &str| {
        CommandBody::Setup(SetupCommand::CreatePromotion {
            promotion_id: id(710),
            book: r2,
            name: "Clearance".into(),
            rates: [(product, rate(value))].into(),
            valid_from: date("2026-01-01"),
            valid_to: date("2026-12-31"),
            approval_id: id(approval),
        })
    };
    let events = world.ledger.given(&sales, promotion(702, "0.0001"));
    assert_eq!(events.iter().map(|event| event.event_type()).collect::<Vec<_>>(), ["ApprovalRequested"]);
    assert!(!world.ledger.state.promotions.contains_key(&id::<PromotionId>(710)), "not before it is approved");
    // At or above cost: set at once.
    assert_eq!(types(&world.ledger.decide(&sales, promotion(703, "0.88")).unwrap()), ["PromotionCreated"]);
    assert_eq!(
        types(&world.ledger.decide(&sales, set_rate(r2, product, RateScope::Public, "0.88", 704)).unwrap()),
        ["RateSet"]
    );

    // Granted (by another person than the requester), the rate takes effect and sells below cost.
    let finance = world.r2_finance.clone();
    let events = world.ledger.given(&finance, decide(700, true));
    assert_eq!(events.iter().map(|event| event.event_type()).collect::<Vec<_>>(), ["ApprovalGranted", "RateSet"]);
    let order: OrderId = world.place_order();
    let level = world.ledger.state.orders[&order].items[0].levels[2].clone();
    assert_eq!((level.price.to_string(), level.margin.to_string()), ("10.00".to_owned(), "-870.00".to_owned()));
    let events = world.ledger.given(&finance, decide(702, true));
    assert_eq!(
        events.iter().map(|event| event.event_type()).collect::<Vec<_>>(),
        ["ApprovalGranted", "PromotionCreated"]
    );
    assert_eq!(world.ledger.state.promotions[&id::<PromotionId>(710)].rates[&product], rate("0.0001"));
    assert_sound(&world.ledger);
}

#[test]
fn a_threshold_lets_a_small_coupon_or_recharge_through_and_holds_a_large_one() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    let rules = vec![
        rule(ApprovalAction::Coupon, Some("100.00"), &[&[Role::Finance], &[Role::Admin]]),
        rule(ApprovalAction::OfflineRecharge, Some("500.00"), &[&[Role::Finance]]),
    ];
    world.ledger.given(&admin, policy(world.r2, rules));
    let sales = world.r2_sales.clone();

    let small = world.ledger.decide(&sales, coupon(&world, "100.00", 720)).unwrap();
    // A coupon is voucher credit (the book's first opens its voucher account).
    assert_eq!(types(&small), ["AccountOpened", "VoucherGranted"]);
    assert_eq!(book_lines(&small, world.r2, &names(&world)), vec![vec!["Dr 6601 100.00", "Cr 2203.01[C] 100.00"]]);
    let large = world.ledger.decide(&sales, coupon(&world, "100.01", 720)).unwrap();
    assert_eq!(types(&large), ["ApprovalRequested", "ApprovalRouted"]);
    assert!(large.iter().all(|event| event.entries.is_empty()), "nothing booked while it waits");
    assert_eq!(
        large[1].payload,
        EventPayload::ApprovalRouted(ApprovalRouted {
            approval_id: id(720),
            action: ApprovalAction::Coupon,
            levels: vec![BTreeSet::from([Role::Finance]), BTreeSet::from([Role::Admin])],
        })
    );

    // A recharge at the threshold is booked at once, as an approved one would be; above, it waits.
    let at_threshold = world.ledger.decide(&sales, offline_recharge(&world, "500.00", 730)).unwrap();
    assert_eq!(types(&at_threshold), ["RechargeConfirmed"]);
    assert_eq!(book_lines(&at_threshold, world.r2, &names(&world)), vec![vec!["Dr 1002 500.00", "Cr 2203[C] 500.00"]]);
    let above = world.ledger.decide(&sales, offline_recharge(&world, "500.01", 730)).unwrap();
    assert_eq!(types(&above), ["RechargeRequested", "ApprovalRequested", "ApprovalRouted"]);
    // Any other action keeps its default: a transfer recharge of 0.01 still waits.
    let mut transfer = offline_recharge(&world, "0.01", 740);
    if let CommandBody::Money(MoneyCommand::RequestRecharge { method, .. }) = &mut transfer {
        *method = RechargeMethod::Transfer;
    }
    // (one level, admin or finance: the default, so not routed)
    let transfer = world.ledger.decide(&sales, transfer).unwrap();
    assert_eq!(types(&transfer), ["RechargeRequested", "ApprovalRequested"]);

    // The large coupon, through both levels: then booked.
    world.ledger.given(&sales, coupon(&world, "100.01", 720));
    let finance = world.r2_finance.clone();
    assert_eq!(types(&events_of(&world.ledger.given(&finance, decide(720, true)))), ["ApprovalLevelGranted"]);
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"));
    let granted = world.ledger.given(&admin, decide(720, true));
    assert_eq!(types(&events_of(&granted)), ["ApprovalGranted", "AccountOpened", "VoucherGranted"]);
    // Voucher credit, not cash: the cash in the books is unchanged.
    assert_eq!(wallet_in_books(&world.ledger, world.customer), amount("0.00"));
    assert_eq!(world.ledger.state.wallet(world.customer).voucher, amount("100.01"));
    assert_sound(&world.ledger);
}

#[test]
fn money_leaving_always_waits_and_its_levels_come_from_the_policy() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let admin = world.r2_admin.clone();
    world.ledger.given(
        &admin,
        policy(world.r2, vec![rule(ApprovalAction::Withdrawal, None, &[&[Role::Finance], &[Role::Admin]])]),
    );
    let customer = world.customer_actor.clone();
    let events = world.ledger.decide(&customer, withdraw(&world, "0.01", 750)).unwrap();
    assert_eq!(types(&events), ["WithdrawalRequested", "ApprovalRequested", "ApprovalRouted"]);
    // A settlement payment waits too, with the book's default level when its policy names none.
    assert_eq!(
        ledger_core::approval_policy::rule_for(
            world.ledger.state.approval_rules(world.r2),
            ApprovalAction::SettlementPayment
        )
        .map(|rule| rule.levels),
        Some(default_levels())
    );
}

#[test]
fn two_levels_need_two_persons_with_each_levels_roles_and_neither_is_the_requester() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let admin = world.r2_admin.clone();
    world.ledger.given(
        &admin,
        policy(world.r2, vec![rule(ApprovalAction::Withdrawal, None, &[&[Role::Finance], &[Role::Admin]])]),
    );
    // 王芳 holds finance and admin, with one token for each.
    let r2 = world.r2;
    let wang =
        person(&mut world, r2, 80_100, &[Role::Finance, Role::Admin], &[&[Role::Finance], &[Role::Admin]], 80_110);
    let (wang_finance, wang_admin) = (wang[0].clone(), wang[1].clone());
    let requester = world.r2_finance.clone();
    world.ledger.given(&requester, withdraw(&world, "300.00", 760));

    // The requester, whatever the level; a role of another level; a role of no level.
    assert_eq!(refused(world.ledger.decide(&requester, decide(761, true))), DomainError::SelfApproval);
    let level_role = refused(world.ledger.decide(&admin, decide(761, true)));
    assert_eq!((level_role.code(), level_role.class()), ("approval_level_role", ErrorClass::Forbidden));
    assert!(level_role.to_string().contains("level 1 of 2"), "{level_role}");
    let sales = world.r2_sales.clone();
    assert_eq!(refused(world.ledger.decide(&sales, decide(761, true))).class(), ErrorClass::Forbidden);

    // Level 1 by 王芳 as finance: the approval moves on and books nothing.
    let events = events_of(&world.ledger.given(&wang_finance, decide(761, true)));
    assert_eq!(
        events,
        vec![Event::new(EventPayload::ApprovalLevelGranted(ApprovalLevelGranted {
            approval_id: id(761),
            level: 1,
            decided_by: wang_finance.principal_id,
            comment: None,
        }))]
    );
    let approval = &world.ledger.state.approvals[&id::<ApprovalId>(761)];
    assert_eq!((approval.decision, approval.current_level().map(|(level, _)| level)), (Decision::Pending, Some(2)));
    // Level 2 is not 王芳's, whichever token: every level is another person. Deciding level 1
    // again (a retry) meets the same refusal, never one for rights.
    for token in [&wang_admin, &wang_finance] {
        let repeat = refused(world.ledger.decide(token, decide(761, true)));
        assert_eq!((repeat.class(), repeat), (ErrorClass::Unprocessable, DomainError::RepeatApprover { level: 1 }));
    }
    let other_finance = actor(world.r2, 4004, &[Role::Finance]);
    assert_eq!(refused(world.ledger.decide(&other_finance, decide(761, true))).code(), "approval_level_role");

    // Level 2 by R2's admin: granted and paid in the same command.
    let events = events_of(&world.ledger.given(&admin, decide(761, true)));
    assert_eq!(types(&events), ["ApprovalGranted", "WithdrawalPaid"]);
    assert_eq!(book_lines(&events, world.r2, &names(&world)), vec![vec!["Dr 2203[C] 300.00", "Cr 1002 300.00"]]);
    assert_eq!(world.ledger.state.approvals[&id::<ApprovalId>(761)].granted_by, vec![wang_finance.principal_id]);
    assert_eq!(
        refused(world.ledger.decide(&admin, decide(761, true))),
        DomainError::ApprovalDecided { status: "granted" }
    );

    // A rejection at the second level ends it and releases what the request held.
    world.ledger.given(&requester, withdraw(&world, "200.00", 770));
    world.ledger.given(&wang_finance, decide(771, true));
    assert_eq!(world.ledger.state.wallet(world.customer).reserved, amount("200.00"));
    assert_eq!(types(&events_of(&world.ledger.given(&admin, decide(771, false)))), ["ApprovalRejected"]);
    assert_eq!(world.ledger.state.wallet(world.customer).reserved, amount("0.00"));
    assert_eq!(world.ledger.state.approvals[&id::<ApprovalId>(771)].decision, Decision::Rejected);
    assert_sound(&world.ledger);
}

#[test]
fn a_request_keeps_the_levels_it_was_routed_through_and_older_ones_have_one_level() {
    let mut world = WorkedExample::new();
    let sales = world.r2_sales.clone();
    // Requested before any policy: one level, admin or finance, as approvals were before policies.
    world.ledger.given(&sales, offline_recharge(&world, "50.00", 780));
    let admin = world.r2_admin.clone();
    world.ledger.given(
        &admin,
        policy(world.r2, vec![rule(ApprovalAction::OfflineRecharge, None, &[&[Role::Admin], &[Role::Admin]])]),
    );
    let pending = &world.ledger.state.approvals[&id::<ApprovalId>(781)];
    assert_eq!(pending.levels, default_levels(), "a policy set later does not reroute a pending request");
    let finance = world.r2_finance.clone();
    assert_eq!(
        types(&events_of(&world.ledger.given(&finance, decide(781, true)))),
        ["ApprovalGranted", "RechargeConfirmed"]
    );
    // Requested under the policy: two levels of admin.
    world.ledger.given(&sales, offline_recharge(&world, "50.00", 790));
    assert_eq!(world.ledger.state.approvals[&id::<ApprovalId>(791)].levels.len(), 2);
    assert_eq!(refused(world.ledger.decide(&finance, decide(791, true))).class(), ErrorClass::Forbidden);
    assert_sound(&world.ledger);
}

#[test]
fn a_refund_above_the_threshold_waits_and_is_checked_again_when_granted() {
    let mut world = WorkedExample::new();
    let order_id = paid_order(&mut world, "1000.00");
    let admin = world.r2_admin.clone();
    world.ledger.given(&admin, policy(world.r2, vec![rule(ApprovalAction::Refund, Some("100.00"), &[&[Role::Admin]])]));
    let finance = world.r2_finance.clone();
    let refund = |value: &str, approval: u128| {
        CommandBody::Orders(OrderCommand::RefundOrder {
            order_id,
            amount: amount(value),
            penalty: amount("0.00"),
            reason: "unsubscribe".into(),
            approval_id: id(approval),
        })
    };
    assert_eq!(types(&world.ledger.decide(&finance, refund("100.00", 800)).unwrap()), ["OrderRefunded"]);
    let waiting = world.ledger.given(&finance, refund("900.00", 800));
    assert_eq!(
        waiting.iter().map(|event| event.event_type()).collect::<Vec<_>>(),
        ["ApprovalRequested", "ApprovalRouted"]
    );
    // Meanwhile a small refund goes through; the large one no longer fits what was paid.
    world.ledger.given(&finance, refund("60.00", 801));
    let error = refused(world.ledger.decide(&admin, decide(800, true)));
    assert_eq!(error.code(), "refund_exceeds_paid");
    // Rejected, nothing more is refunded.
    world.ledger.given(&admin, decide(800, false));
    assert_eq!(world.ledger.state.orders[&order_id].refunded, amount("60.00"));
    assert_sound(&world.ledger);
}
