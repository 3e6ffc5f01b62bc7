//! Given/when/then tests of people and tokens (API.md "Organisations and tokens", "People, roles,
//! permissions"): who may create users and issue tokens for which org, which roles each kind of
//! org takes, tokens narrowing their user's roles, expiry, revocation, the person behind a token
//! in maker-checker, the deployment's admin token, and what the log keeps (the hash only).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use ledger_core::event::{EventPayload, TokenIssued, TokenRevoked, UserCreated};
use ledger_core::ids::{PrincipalId, UserId};
use ledger_core::org::{Actor, Role};
use ledger_core::testing::{id, WorkedExample};
use ledger_core::AccessCommand;
use ledger_core::{CommandBody, DomainError};

fn hash(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

/// A token for a new user of `org_id` (an org's first admin, `POST /v1/orgs/{id}/tokens`).
fn issue(org_id: ledger_core::ids::OrgId, principal: u128, roles: &[Role], token_hash: String) -> CommandBody {
    CommandBody::Access(AccessCommand::IssueToken {
        principal_id: id(principal),
        org_id,
        user_id: id(principal + 500_000),
        new_user: Some(" finance desk ".into()),
        roles: Some(roles.iter().copied().collect()),
        label: Some(" finance desk ".into()),
        expires_at: None,
        token_hash,
    })
}

fn create_user(org_id: ledger_core::ids::OrgId, user: u128, roles: &[Role]) -> CommandBody {
    CommandBody::Access(AccessCommand::CreateUser {
        user_id: id(user),
        org_id,
        name: "王芳".into(),
        email: Some("wang.fang@example.com".into()),
        phone: Some("+86 138-0000-0000".into()),
        roles: roles.iter().copied().collect(),
    })
}

fn user_token(
    org_id: ledger_core::ids::OrgId,
    user: u128,
    principal: u128,
    roles: Option<&[Role]>,
    token_hash: String,
) -> CommandBody {
    CommandBody::Access(AccessCommand::IssueToken {
        principal_id: id(principal),
        org_id,
        user_id: id(user),
        new_user: None,
        roles: roles.map(|roles| roles.iter().copied().collect()),
        label: None,
        expires_at: None,
        token_hash,
    })
}

fn revoke(principal: u128) -> CommandBody {
    CommandBody::Access(AccessCommand::RevokeToken {
        principal_id: id(principal),
        reason: Some("left the company".into()),
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

    let user = UserCreated {
        user_id: UserId::from_u128(570_001),
        org_id: world.r2,
        name: "finance desk".into(),
        email: None,
        phone: None,
        roles: BTreeSet::from([Role::Finance]),
        created_by: admin.principal_id,
    };
    let expected = TokenIssued {
        principal_id: PrincipalId::from_u128(70_001),
        org_id: world.r2,
        user_id: Some(UserId::from_u128(570_001)),
        roles: BTreeSet::from([Role::Finance]),
        label: Some("finance desk".into()),
        expires_at: None,
        deployment_admin: false,
        token_hash: hash(1),
        issued_by: admin.principal_id,
    };
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].payload, EventPayload::UserCreated(user));
    assert_eq!(events[1].payload, EventPayload::TokenIssued(expected));
    assert!(events.iter().all(|event| event.entries.is_empty()), "a token books nothing");
}

#[test]
fn a_parent_admin_bootstraps_its_child_resellers_first_admin() {
    let world = WorkedExample::new();
    let events = world.ledger.decide(&world.r1_admin, issue(world.r2, 70_002, &[Role::Admin], hash(2))).unwrap();
    assert!(matches!(&events[1].payload, EventPayload::TokenIssued(token) if token.org_id == world.r2));
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

#[test]
fn a_user_has_a_name_contact_and_roles_checked_like_a_tokens() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    let events = world.ledger.given(&admin, create_user(world.r2, 80_001, &[Role::Finance, Role::Sales]));
    let EventPayload::UserCreated(user) = &events[0].event.payload else { panic!("a user") };
    assert_eq!((user.name.as_str(), user.email.as_deref()), ("王芳", Some("wang.fang@example.com")));
    assert_eq!(user.phone.as_deref(), Some("+86 138-0000-0000"));

    let again = world.ledger.decide(&admin, create_user(world.r2, 80_001, &[Role::Sales])).unwrap_err();
    assert_eq!(code(again), "already_exists");
    let customer_role = world.ledger.decide(&admin, create_user(world.r2, 80_002, &[Role::Customer])).unwrap_err();
    assert_eq!(customer_role.field(), Some("roles"));
    let mut bad_email = create_user(world.r2, 80_003, &[Role::Sales]);
    if let CommandBody::Access(AccessCommand::CreateUser { email, .. }) = &mut bad_email {
        *email = Some("wang.fang at example".into());
    }
    assert_eq!(world.ledger.decide(&admin, bad_email).unwrap_err().field(), Some("email"));
    let mut bad_phone = create_user(world.r2, 80_004, &[Role::Sales]);
    if let CommandBody::Access(AccessCommand::CreateUser { phone, .. }) = &mut bad_phone {
        *phone = Some("call me".into());
    }
    assert_eq!(world.ledger.decide(&admin, bad_phone).unwrap_err().field(), Some("phone"));
    let foreign = world.ledger.decide(&world.r2_admin, create_user(world.r1, 80_005, &[Role::Sales])).unwrap_err();
    assert_eq!(code(foreign), "not_found");
    let not_admin = world.ledger.decide(&world.r2_sales, create_user(world.r2, 80_006, &[Role::Sales])).unwrap_err();
    assert_eq!(code(not_admin), "forbidden");
}

#[test]
fn a_token_carries_its_users_roles_or_fewer_and_a_user_issues_no_wider_token_than_its_own() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    world.ledger.given(&admin, create_user(world.r2, 80_010, &[Role::Finance, Role::Sales]));

    let all = world.ledger.given(&admin, user_token(world.r2, 80_010, 81_001, None, hash(40)));
    let EventPayload::TokenIssued(token) = &all[0].event.payload else { panic!("a token") };
    assert_eq!(token.roles, BTreeSet::from([Role::Finance, Role::Sales]));
    assert_eq!(token.user_id, Some(UserId::from_u128(80_010)));

    let wider = world.ledger.decide(&admin, user_token(world.r2, 80_010, 81_002, Some(&[Role::Admin]), hash(41)));
    let wider = wider.unwrap_err();
    assert_eq!((code(wider.clone()), wider.field()), ("invalid_field", Some("roles")));

    // The user, acting with a sales-only token, mints itself another sales token, not a finance one.
    world.ledger.given(&admin, user_token(world.r2, 80_010, 81_003, Some(&[Role::Sales]), hash(42)));
    let sales_token = Actor::new(world.r2, id(81_003), [Role::Sales]);
    let own = world.ledger.decide(&sales_token, user_token(world.r2, 80_010, 81_004, Some(&[Role::Sales]), hash(43)));
    assert!(own.is_ok());
    let widened = world.ledger.decide(&sales_token, user_token(world.r2, 80_010, 81_005, None, hash(44)));
    assert_eq!(widened.unwrap_err().field(), Some("roles"));
    // Another user's token is not theirs to mint.
    world.ledger.given(&admin, create_user(world.r2, 80_011, &[Role::Sales]));
    let other = world.ledger.decide(&sales_token, user_token(world.r2, 80_011, 81_006, None, hash(45))).unwrap_err();
    assert_eq!(code(other), "forbidden");
}

#[test]
fn a_revoked_or_expired_token_acts_no_more_and_revocation_is_once() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    world.ledger.given(&admin, create_user(world.r2, 80_020, &[Role::Sales]));
    world.ledger.given(&admin, user_token(world.r2, 80_020, 82_001, None, hash(50)));
    let sales = Actor::new(world.r2, id(82_001), [Role::Sales]);
    assert!(world
        .ledger
        .decide(&sales, create_user(world.r2, 80_021, &[Role::Sales]))
        .is_err_and(|error| error.code() == "forbidden"));

    let events = world.ledger.given(&admin, revoke(82_001));
    let expected = TokenRevoked {
        principal_id: id(82_001),
        org_id: world.r2,
        reason: Some("left the company".into()),
        revoked_by: admin.principal_id,
    };
    assert_eq!(events[0].event.payload, EventPayload::TokenRevoked(expected));
    let refused = world.ledger.decide(&sales, revoke(82_001)).unwrap_err();
    assert_eq!(code(refused), "token_revoked", "a revoked token decides nothing, not even about itself");
    assert_eq!(code(world.ledger.decide(&admin, revoke(82_001)).unwrap_err()), "token_revoked");
    assert_eq!(world.ledger.decide(&admin, revoke(82_001)).unwrap_err().class(), ledger_core::ErrorClass::Conflict);

    // Expiry: refused from the instant it passes, and an expiry in the past is refused at once.
    let at = DateTime::<Utc>::UNIX_EPOCH + Duration::days(30);
    let mut expiring = user_token(world.r2, 80_020, 82_002, None, hash(51));
    if let CommandBody::Access(AccessCommand::IssueToken { expires_at, .. }) = &mut expiring {
        *expires_at = Some(at);
    }
    world.ledger.given(&admin, expiring.clone());
    let holder = Actor::new(world.r2, id(82_002), [Role::Sales]);
    let mut command = world.ledger.command(&holder, revoke(82_002));
    command.at = at - Duration::seconds(1);
    assert!(ledger_core::decide(&world.ledger.state, &command).is_ok(), "the holder revokes its own token");
    command.at = at;
    assert_eq!(ledger_core::decide(&world.ledger.state, &command).unwrap_err().code(), "token_expired");
    let mut past = world.ledger.command(&admin, user_token(world.r2, 80_020, 82_003, None, hash(52)));
    if let CommandBody::Access(AccessCommand::IssueToken { expires_at, .. }) = &mut past.body {
        *expires_at = Some(at);
    }
    past.at = at;
    assert_eq!(ledger_core::decide(&world.ledger.state, &past).unwrap_err().field(), Some("expires_at"));

    // Another tenant's token is not found (R2 reaches its own and its customers', not its
    // parent's); a parent's admin manages its child's.
    let r1_admin = world.r1_admin.clone();
    world.ledger.given(&r1_admin, create_user(world.r1, 80_022, &[Role::Sales]));
    world.ledger.given(&r1_admin, user_token(world.r1, 80_022, 82_004, None, hash(53)));
    let foreign = world.ledger.decide(&world.r2_admin, revoke(82_004)).unwrap_err();
    assert_eq!(code(foreign), "not_found");
    assert!(world.ledger.decide(&r1_admin, revoke(82_002)).is_ok());
}

#[test]
fn nobody_approves_their_own_request_with_another_of_their_tokens() {
    let mut world = WorkedExample::new();
    let admin = world.r2_admin.clone();
    world.ledger.given(&admin, create_user(world.r2, 80_030, &[Role::Sales, Role::Finance]));
    world.ledger.given(&admin, user_token(world.r2, 80_030, 83_001, Some(&[Role::Sales]), hash(60)));
    world.ledger.given(&admin, user_token(world.r2, 80_030, 83_002, Some(&[Role::Finance]), hash(61)));
    let as_sales = Actor::new(world.r2, id(83_001), [Role::Sales]);
    let as_finance = Actor::new(world.r2, id(83_002), [Role::Finance]);
    let approval_id: ledger_core::ids::ApprovalId = id(83_100);
    world.ledger.given(
        &as_sales,
        CommandBody::Money(ledger_core::MoneyCommand::RequestRecharge {
            recharge_id: id(83_101),
            approval_id,
            customer_id: world.customer,
            amount: ledger_core::testing::amount("100.00"),
            method: ledger_core::event::RechargeMethod::Offline,
            reference: "bank slip 1".into(),
        }),
    );
    let decide = |grant| {
        CommandBody::Approval(ledger_core::ApprovalCommand::DecideApproval { approval_id, grant, comment: None })
    };
    let error = world.ledger.decide(&as_finance, decide(true)).unwrap_err();
    assert_eq!(code(error), "self_approval", "the same person, whichever token");
    assert_eq!(code(world.ledger.decide(&as_finance, decide(false)).unwrap_err()), "self_approval");
    world.ledger.given(&admin, create_user(world.r2, 80_031, &[Role::Finance]));
    world.ledger.given(&admin, user_token(world.r2, 80_031, 83_003, None, hash(62)));
    let colleague = Actor::new(world.r2, id(83_003), [Role::Finance]);
    assert!(world.ledger.decide(&colleague, decide(true)).is_ok(), "another person approves");
}

#[test]
fn the_deployment_sets_its_admin_token_and_a_new_one_replaces_and_revokes_the_old() {
    let mut world = WorkedExample::new();
    let platform = world.platform;
    let set = |principal: u128, user: u128, seed: u8| {
        CommandBody::Access(AccessCommand::SetAdminToken {
            principal_id: id(principal),
            user_id: id(user),
            token_hash: hash(seed),
        })
    };
    let deployment = |principal: u128| Actor::new(platform, id(principal), [Role::SuperAdmin, Role::Admin]);
    // Over the API a super_admin acts with a known token: it cannot set the admin token.
    let refused = world.ledger.decide(&world.platform_admin.clone(), set(84_001, 84_500, 70)).unwrap_err();
    assert_eq!(code(refused), "forbidden");

    let first = world.ledger.given(&deployment(84_001), set(84_001, 84_500, 70));
    let types: Vec<&str> = first.iter().map(|event| event.event_type()).collect();
    assert_eq!(types, ["UserCreated", "TokenIssued"]);
    assert!(matches!(&first[1].event.payload, EventPayload::TokenIssued(token) if token.deployment_admin));
    assert_eq!(world.ledger.state.deployment_admin, Some(id(84_001)));
    let not_revocable = world.ledger.decide(&world.platform_admin.clone(), revoke(84_001)).unwrap_err();
    assert_eq!(code(not_revocable), "deployment_admin_token");

    let rotated = world.ledger.given(&deployment(84_002), set(84_002, 84_501, 71));
    let types: Vec<&str> = rotated.iter().map(|event| event.event_type()).collect();
    assert_eq!(types, ["TokenIssued", "TokenRevoked"], "the same user keeps the new token");
    let EventPayload::TokenIssued(token) = &rotated[0].event.payload else { panic!("a token") };
    assert_eq!(token.user_id, Some(UserId::from_u128(84_500)));
    assert_eq!(world.ledger.state.deployment_admin, Some(id(84_002)));
    let old = Actor::new(platform, id(84_001), [Role::SuperAdmin, Role::Admin]);
    let after = world.ledger.decide(&old, create_user(platform, 84_600, &[Role::Finance])).unwrap_err();
    assert_eq!(code(after), "token_revoked");
}
