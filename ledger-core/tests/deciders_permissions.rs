//! Given/when/then tests of permissions as data (API.md "People, roles, permissions"): the
//! decider judges every write by the permissions the actor's roles have in its org (the org's own
//! definitions included), nobody defines a role wider than what they hold, and staff without
//! `customers.all` reach only the customers their person owns.

use std::collections::BTreeSet;

use ledger_core::event::{CustomerOwnerSet, EventPayload, RoleDefined};
use ledger_core::ids::{OrgId, UserId};
use ledger_core::money::Amount;
use ledger_core::org::{Actor, Role, RoleName};
use ledger_core::permissions::Permission;
use ledger_core::testing::{actor, id, WorkedExample};
use ledger_core::{AccessCommand, CommandBody, DomainError, MoneyCommand};

fn custom(name: &str) -> Role {
    Role::Custom(RoleName::new(name).unwrap())
}

fn define(org_id: OrgId, role: Role, permissions: &[Permission]) -> CommandBody {
    CommandBody::Access(AccessCommand::DefineRole { org_id, role, permissions: permissions.iter().copied().collect() })
}

fn coupon(customer_id: OrgId) -> CommandBody {
    CommandBody::Money(MoneyCommand::GrantCoupon {
        customer_id,
        amount: Amount::parse("10.00").unwrap(),
        reason: "welcome".into(),
        approval_id: id(79_999),
        expires_on: None,
    })
}

/// A user of `org` with `roles`, and a token of theirs carrying them.
fn person(world: &mut WorkedExample, org: OrgId, seed: u128, roles: &[Role]) -> Actor {
    let issue = AccessCommand::IssueToken {
        principal_id: id(seed),
        org_id: org,
        user_id: id(seed + 1),
        new_user: Some("staff".into()),
        roles: Some(roles.iter().copied().collect()),
        label: None,
        expires_at: None,
        token_hash: format!("{seed:064x}"),
    };
    let admin = world.r2_admin.clone();
    world.ledger.given(&admin, CommandBody::Access(issue));
    actor(org, seed, roles)
}

#[test]
fn a_custom_role_allows_what_it_names_and_nothing_else() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    let defined =
        world.ledger.decide(&admin, define(world.r2, custom("promoter"), &[Permission::CouponsWrite])).unwrap();
    assert_eq!(
        defined[0].payload,
        EventPayload::RoleDefined(RoleDefined {
            org_id: world.r2,
            role: custom("promoter"),
            permissions: BTreeSet::from([Permission::CouponsWrite]),
        })
    );
    // With the data scope of every customer (without it, only the customers they own).
    let promoter_permissions = [Permission::CouponsWrite, Permission::CustomersAll];
    world.ledger.given(&admin, define(world.r2, custom("promoter"), &promoter_permissions));
    let r2 = world.r2;
    let promoter = person(&mut world, r2, 80_000, &[custom("promoter")]);
    assert!(world.ledger.decide(&promoter, coupon(world.customer)).is_ok());
    let withdraw = CommandBody::Money(MoneyCommand::Withdraw {
        withdrawal_id: id(80_100),
        approval_id: id(80_101),
        customer_id: world.customer,
        amount: Amount::parse("1.00").unwrap(),
        route: ledger_core::event::WithdrawalRoute::Offline,
        channel: None,
        offline_withdrawal_id: id(80_102),
    });
    let refused = world.ledger.decide(&promoter, withdraw).unwrap_err();
    assert_eq!(refused, DomainError::forbidden("needs the permission withdrawals.write"));
}

#[test]
fn an_org_s_version_of_a_built_in_role_replaces_its_defaults_for_that_org_only() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    // R2's sales may no longer grant coupons; R1's sales still may.
    world.ledger.given(&admin, define(world.r2, Role::Sales, &[Permission::OrdersPlace, Permission::CustomersAll]));
    let refused = world.ledger.decide(&world.r2_sales, coupon(world.customer)).unwrap_err();
    assert_eq!(refused, DomainError::forbidden("needs the permission coupons.write"));
    assert_eq!(
        world.ledger.state.permissions_of(&actor(world.r1, 3010, &[Role::Sales])),
        Role::Sales.default_permissions()
    );
}

#[test]
fn fixed_roles_and_wider_grants_are_refused() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    for role in [Role::Admin, Role::SuperAdmin, Role::Customer] {
        let refused = world.ledger.decide(&admin, define(world.r2, role, &[])).unwrap_err();
        assert!(matches!(&refused, DomainError::InvalidField { field, .. } if field == "name"), "{refused:?}");
    }
    // A role manager without coupons.write cannot hand it out.
    world
        .ledger
        .given(&admin, define(world.r2, custom("role_manager"), &[Permission::RolesWrite, Permission::UsersWrite]));
    let r2 = world.r2;
    let manager = person(&mut world, r2, 81_000, &[custom("role_manager")]);
    let refused =
        world.ledger.decide(&manager, define(world.r2, custom("promoter"), &[Permission::CouponsWrite])).unwrap_err();
    assert!(matches!(&refused, DomainError::InvalidField { field, .. } if field == "permissions"), "{refused:?}");
    assert!(world.ledger.decide(&manager, define(world.r2, custom("clerk"), &[Permission::UsersWrite])).is_ok());
    // Another tenant's org is not found; a role nobody defined is no role of the org.
    let refused = world.ledger.decide(&world.r1_admin.clone(), define(world.customer, custom("x"), &[])).unwrap_err();
    assert_eq!(refused.code(), "not_found");
    let user = CommandBody::Access(AccessCommand::CreateUser {
        user_id: id(81_500),
        org_id: world.r2,
        name: "X".into(),
        email: None,
        phone: None,
        roles: BTreeSet::from([custom("never_defined")]),
    });
    let refused = world.ledger.decide(&admin, user).unwrap_err();
    assert!(matches!(&refused, DomainError::InvalidField { field, .. } if field == "roles"), "{refused:?}");
}

#[test]
fn staff_without_customers_all_reach_only_the_customers_they_own() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    world.ledger.given(&admin, define(world.r2, custom("rep"), &[Permission::CouponsWrite]));
    let r2 = world.r2;
    let rep = person(&mut world, r2, 82_000, &[custom("rep")]);
    // Customer C is not the rep's: not found, as another tenant's would be.
    let refused = world.ledger.decide(&rep, coupon(world.customer)).unwrap_err();
    assert_eq!(refused.code(), "not_found");
    let owner =
        CommandBody::Access(AccessCommand::SetCustomerOwner { customer_id: world.customer, owner_id: id(82_001) });
    let events = world.ledger.decide(&admin, owner.clone()).unwrap();
    assert_eq!(
        events[0].payload,
        EventPayload::CustomerOwnerSet(CustomerOwnerSet {
            customer_id: world.customer,
            book: world.r2,
            owner_id: UserId::from_u128(82_001),
        })
    );
    world.ledger.given(&admin, owner);
    assert!(world.ledger.decide(&rep, coupon(world.customer)).is_ok());
    // An owner is a person of the seller.
    let foreign =
        CommandBody::Access(AccessCommand::SetCustomerOwner { customer_id: world.customer, owner_id: id(99_999) });
    let refused = world.ledger.decide(&admin, foreign).unwrap_err();
    assert!(matches!(&refused, DomainError::InvalidField { field, .. } if field == "user_id"), "{refused:?}");
}
