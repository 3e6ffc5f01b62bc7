//! Given/when/then tests of token issuance (API.md "Organisations and tokens"): who may issue a
//! token for which org, which roles each kind of org takes, and what the log keeps (the hash only).

use std::collections::BTreeSet;

use ledger_core::event::{EventPayload, TokenIssued};
use ledger_core::ids::PrincipalId;
use ledger_core::org::{Actor, Role};
use ledger_core::testing::{id, WorkedExample};
use ledger_core::SetupCommand;
use ledger_core::{CommandBody, DomainError};

fn hash(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

fn issue(org_id: ledger_core::ids::OrgId, principal: u128, roles: &[Role], token_hash: String) -> CommandBody {
    CommandBody::Setup(SetupCommand::IssueToken {
        principal_id: id(principal),
        org_id,
        roles: roles.iter().copied().collect(),
        label: Some(" finance desk ".into()),
        token_hash,
    })
}

fn code(error: DomainError) -> &'static str {
    error.code()
}

#[test]
fn an_admin_issues_a_finance_token_in_its_own_book_and_the_log_keeps_only_the_hash() {
    let world = WorkedExample::new();
    let admin: Actor = world.r2_admin.clone();

    let events = world.ledger.decide(&admin, issue(world.r2, 70_001, &[Role::Finance], hash(1))).unwrap();

    let expected = TokenIssued {
        principal_id: PrincipalId::from_u128(70_001),
        org_id: world.r2,
        roles: BTreeSet::from([Role::Finance]),
        label: Some("finance desk".into()),
        token_hash: hash(1),
        issued_by: admin.principal_id,
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, EventPayload::TokenIssued(expected));
    assert!(events[0].entries.is_empty(), "a token books nothing");
}

#[test]
fn a_parent_admin_bootstraps_its_child_resellers_first_admin() {
    let world = WorkedExample::new();
    let events = world.ledger.decide(&world.r1_admin, issue(world.r2, 70_002, &[Role::Admin], hash(2))).unwrap();
    assert!(matches!(&events[0].payload, EventPayload::TokenIssued(token) if token.org_id == world.r2));
}

#[test]
fn a_seller_admin_issues_its_customers_customer_token_but_not_a_staff_role() {
    let world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    assert!(world.ledger.decide(&admin, issue(world.customer, 70_003, &[Role::Customer], hash(3))).is_ok());

    let error = world.ledger.decide(&admin, issue(world.customer, 70_004, &[Role::Finance], hash(4))).unwrap_err();
    assert_eq!(code(error.clone()), "invalid_field");
    assert_eq!(error.field(), Some("roles"));
}

#[test]
fn the_super_admin_issues_for_any_org_and_alone_grants_super_admin() {
    let world = WorkedExample::new();
    let platform_admin = world.platform_admin.clone();
    assert!(world.ledger.decide(&platform_admin, issue(world.r2, 70_005, &[Role::Finance], hash(5))).is_ok());
    assert!(world.ledger.decide(&platform_admin, issue(world.platform, 70_006, &[Role::SuperAdmin], hash(6))).is_ok());

    let plain_admin = ledger_core::testing::actor(world.platform, 1_500, &[Role::Admin]);
    let error = world.ledger.decide(&plain_admin, issue(world.platform, 70_007, &[Role::SuperAdmin], hash(7)));
    assert_eq!(code(error.unwrap_err()), "forbidden");
    let error = world.ledger.decide(&platform_admin, issue(world.r1, 70_008, &[Role::SuperAdmin], hash(8)));
    assert_eq!(code(error.unwrap_err()), "invalid_field", "super_admin is a platform role only");
}

#[test]
fn another_tenant_is_not_found_and_a_non_admin_is_forbidden() {
    let world = WorkedExample::new();
    // R2 reaches neither its parent's book nor a sibling's: R1 is not R2's party.
    let error = world.ledger.decide(&world.r2_admin, issue(world.r1, 70_009, &[Role::Admin], hash(9))).unwrap_err();
    assert_eq!(code(error), "not_found");
    let error = world.ledger.decide(&world.r2_sales, issue(world.r2, 70_010, &[Role::Sales], hash(10))).unwrap_err();
    assert_eq!(code(error), "forbidden");
    let error =
        world.ledger.decide(&world.r2_admin, issue(world.supplier, 70_011, &[Role::Admin], hash(11))).unwrap_err();
    assert_eq!(code(error), "not_found", "the platform's supplier is no party of R2");
}

#[test]
fn roles_must_be_given_the_hash_well_formed_and_principals_and_hashes_unique() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    let error = world.ledger.decide(&admin, issue(world.r2, 70_012, &[], hash(12))).unwrap_err();
    assert_eq!(error.field(), Some("roles"));
    let error = world.ledger.decide(&admin, issue(world.r2, 70_013, &[Role::Sales], "ABC".into())).unwrap_err();
    assert_eq!(error.field(), Some("token_hash"));

    world.ledger.given(&admin, issue(world.r2, 70_014, &[Role::Sales], hash(14)));
    let same_principal = world.ledger.decide(&admin, issue(world.r2, 70_014, &[Role::Sales], hash(15))).unwrap_err();
    assert_eq!(code(same_principal), "already_exists");
    let same_hash = world.ledger.decide(&admin, issue(world.r2, 70_016, &[Role::Sales], hash(14))).unwrap_err();
    assert_eq!(code(same_hash), "already_exists");
}
