//! People and their tokens: users of an org, the tokens they hold, revocation, and the
//! deployment's admin token.
//!
//! Who may: an `admin` of the org or of its parent (a parent bootstraps its child's first
//! admin), or the platform's `super_admin`, manages an org's users and tokens; a user issues
//! tokens to themself (never wider than the token they act with) and revokes their own. Roles
//! follow the org's kind: a customer's users act as that customer; staff roles belong to books;
//! `super_admin` only to the platform, and only from a `super_admin`. Suppliers act through their
//! buyer's staff.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::command::AccessCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{OrgId, PrincipalId, UserId};
use crate::org::{Actor, Org, OrgKind, Role};
use crate::permissions::Permission;
use crate::state::{Person, Principal, State, User};

use super::{optional_prose, optional_text, text_field, Decider};

/// The name of the user the deployment's first admin token belongs to.
pub const DEPLOYMENT_ADMIN_NAME: &str = "Administrator";

/// The longest email address (RFC 5321's path limit).
pub const EMAIL_LENGTH_MAX: usize = 254;
/// The longest phone number, as typed (`+86 138-0000-0000`).
pub const PHONE_LENGTH_MAX: usize = 32;

impl Decider<'_> {
    pub(super) fn decide_access(&self, command: &AccessCommand) -> Result<Vec<Event>, DomainError> {
        use AccessCommand as C;
        match command {
            C::CreateUser { user_id, org_id, name, email, phone, roles } => {
                let org = self.managed_org(*org_id)?;
                let user = self.new_user(*user_id, org, name, email, phone, roles)?;
                Ok(vec![Event::new(EventPayload::UserCreated(user))])
            }
            C::IssueToken { principal_id, org_id, user_id, new_user, roles, label, expires_at, token_hash } => {
                let mut events = Vec::with_capacity(2);
                let user_roles = match new_user {
                    Some(name) => {
                        let roles = roles.as_ref().ok_or_else(|| {
                            DomainError::invalid_field("roles", "a token for a new user names its roles")
                        })?;
                        let org = self.managed_org(*org_id)?;
                        let user = self.new_user(*user_id, org, name, &None, &None, roles)?;
                        let roles = user.roles.clone();
                        events.push(Event::new(EventPayload::UserCreated(user)));
                        roles
                    }
                    None => self.token_holder(*user_id, *org_id)?.roles.clone(),
                };
                let roles = self.narrowed(&user_roles, roles)?;
                let token =
                    self.token(*principal_id, *org_id, Some(*user_id), roles, label, *expires_at, token_hash)?;
                events.push(Event::new(EventPayload::TokenIssued(token)));
                Ok(events)
            }
            C::RevokeToken { principal_id, reason } => {
                let principal = self.revocable(*principal_id)?;
                let revoked = TokenRevoked {
                    principal_id: *principal_id,
                    org_id: principal.org_id,
                    reason: optional_prose("reason", reason)?,
                    revoked_by: self.command.actor.principal_id,
                };
                Ok(vec![Event::new(EventPayload::TokenRevoked(revoked))])
            }
            C::SetAdminToken { principal_id, user_id, token_hash } => {
                self.set_admin_token(*principal_id, *user_id, token_hash)
            }
            C::DefineRole { org_id, role, permissions } => self.define_role(*org_id, *role, permissions),
            C::SetCustomerOwner { customer_id, owner_id } => {
                let (_, book) = self.customer_for(*customer_id, Permission::CustomersWrite)?;
                if self.command.actor.org_id == *customer_id {
                    return Err(DomainError::forbidden("a customer does not choose its owner"));
                }
                let owner = self.state.users.get(owner_id).filter(|user| user.org_id == book);
                if owner.is_none() {
                    return Err(DomainError::invalid_field("user_id", "must be a user of the customer's seller"));
                }
                let event = CustomerOwnerSet { customer_id: *customer_id, book, owner_id: *owner_id };
                Ok(vec![Event::new(EventPayload::CustomerOwnerSet(event))])
            }
            C::ReassignCustomers { book, from_user_id, to_user_id } => {
                self.book_for(*book, Permission::CustomersWrite)?;
                self.require(Permission::CustomersAll)?;
                for (field, user) in [("from_user_id", from_user_id), ("to_user_id", to_user_id)] {
                    if !self.state.users.get(user).is_some_and(|user| user.org_id == *book) {
                        return Err(DomainError::invalid_field(field, "must be a user of the book's org"));
                    }
                }
                if from_user_id == to_user_id {
                    return Err(DomainError::invalid_field("to_user_id", "must not be from_user_id"));
                }
                let mut customers: Vec<OrgId> = self
                    .state
                    .customer_owners
                    .iter()
                    .filter(|(customer, owner)| {
                        *owner == from_user_id
                            && self.state.orgs.get(customer).is_some_and(|org| org.parent_id == Some(*book))
                    })
                    .map(|(customer, _)| *customer)
                    .collect();
                if customers.is_empty() {
                    return Err(DomainError::invalid_field("from_user_id", "owns no customer of the book"));
                }
                customers.sort();
                Ok(customers
                    .into_iter()
                    .map(|customer_id| {
                        let event = CustomerOwnerSet { customer_id, book: *book, owner_id: *to_user_id };
                        Event::new(EventPayload::CustomerOwnerSet(event))
                    })
                    .collect())
            }
        }
    }

    /// An org's role as a set of permissions: by whoever manages the org's users with
    /// `roles.write`; never wider than what the actor holds itself (no one grants what they lack).
    fn define_role(
        &self,
        org_id: OrgId,
        role: Role,
        permissions: &BTreeSet<Permission>,
    ) -> Result<Vec<Event>, DomainError> {
        let org = self.managed_org(org_id)?;
        self.require(Permission::RolesWrite)?;
        if !org.kind.keeps_book() {
            return Err(DomainError::invalid_field("name", "only the platform and resellers define roles"));
        }
        if !role.definable() {
            let reason = format!("{role} is a built-in role whose permissions are fixed");
            return Err(DomainError::invalid_field("name", reason));
        }
        let held = self.permissions();
        if let Some(permission) = permissions.iter().find(|permission| !held.contains(**permission)) {
            let reason = format!("grants {permission}, which the caller does not hold");
            return Err(DomainError::invalid_field("permissions", reason));
        }
        let event = RoleDefined { org_id, role, permissions: permissions.clone() };
        Ok(vec![Event::new(EventPayload::RoleDefined(event))])
    }

    /// The org whose users and tokens the actor manages: its own, a child, or any for the
    /// platform's `super_admin`; with the `admin` role. Another tenant's org is not found.
    fn managed_org(&self, org_id: OrgId) -> Result<&Org, DomainError> {
        let actor = &self.command.actor;
        let org = self.state.orgs.get(&org_id).ok_or_else(|| DomainError::not_found("org", org_id))?;
        let super_admin = self.is_platform_super_admin();
        if !(super_admin || actor.org_id == org_id || org.parent_id == Some(actor.org_id)) {
            return Err(DomainError::not_found("org", org_id));
        }
        if !super_admin && !self.permissions().contains(Permission::UsersWrite) {
            return Err(DomainError::forbidden("needs the permission users.write"));
        }
        Ok(org)
    }

    fn is_platform_super_admin(&self) -> bool {
        let actor = &self.command.actor;
        actor.has(Role::SuperAdmin) && Some(actor.org_id) == self.state.platform_id
    }

    fn acts_as(&self, user_id: UserId) -> bool {
        self.state.person_of(self.command.actor.principal_id) == Person::User(user_id)
    }

    fn new_user(
        &self,
        user_id: UserId,
        org: &Org,
        name: &str,
        email: &Option<String>,
        phone: &Option<String>,
        roles: &BTreeSet<Role>,
    ) -> Result<UserCreated, DomainError> {
        if self.state.users.contains_key(&user_id) {
            return Err(DomainError::AlreadyExists { what: "user", id: user_id.to_string() });
        }
        self.check_roles(org, roles)?;
        Ok(UserCreated {
            user_id,
            org_id: org.id,
            name: text_field("name", name)?,
            email: email.as_deref().map(checked_email).transpose()?,
            phone: phone.as_deref().map(checked_phone).transpose()?,
            roles: roles.clone(),
            created_by: self.command.actor.principal_id,
        })
    }

    /// Roles an org of this kind takes; `super_admin` only from a `super_admin`.
    fn check_roles(&self, org: &Org, roles: &BTreeSet<Role>) -> Result<(), DomainError> {
        if roles.is_empty() {
            return Err(DomainError::invalid_field("roles", "must name at least one role"));
        }
        let allowed = Role::built_in_for(org.kind);
        // A custom role is the org's own, once defined.
        let holds = |role: &Role| match role {
            Role::Custom(_) => self.state.role_definitions.contains_key(&(org.id, *role)),
            role => allowed.contains(role),
        };
        if let Some(role) = roles.iter().find(|role| !holds(role)) {
            let reason = format!("{} is not a role of a {} org", role.as_str(), org.kind.as_str());
            return Err(DomainError::invalid_field("roles", reason));
        }
        if roles.contains(&Role::SuperAdmin) && !self.is_platform_super_admin() {
            return Err(DomainError::forbidden("only a super_admin grants super_admin"));
        }
        Ok(())
    }

    /// The user a token is issued to: managed by the actor, or the actor's own person.
    fn token_holder(&self, user_id: UserId, org_id: OrgId) -> Result<&User, DomainError> {
        let user = self
            .state
            .users
            .get(&user_id)
            .filter(|user| user.org_id == org_id)
            .ok_or_else(|| DomainError::not_found("user", user_id))?;
        if self.acts_as(user_id) {
            return Ok(user);
        }
        self.managed_org(user.org_id).map_err(|error| match error {
            DomainError::NotFound { .. } => DomainError::not_found("user", user_id),
            other => other,
        })?;
        Ok(user)
    }

    /// The token's roles: the user's, or the fewer asked for. A user issuing to themself never
    /// gets more than the token they act with.
    fn narrowed(
        &self,
        user_roles: &BTreeSet<Role>,
        asked: &Option<BTreeSet<Role>>,
    ) -> Result<BTreeSet<Role>, DomainError> {
        let roles = asked.clone().unwrap_or_else(|| user_roles.clone());
        if roles.is_empty() {
            return Err(DomainError::invalid_field("roles", "must name at least one role"));
        }
        if let Some(role) = roles.iter().find(|role| !user_roles.contains(role)) {
            return Err(DomainError::invalid_field("roles", format!("the user does not hold {}", role.as_str())));
        }
        let actor = &self.command.actor;
        let managing = self.is_platform_super_admin() || self.permissions().contains(Permission::UsersWrite);
        if !managing {
            if let Some(role) = roles.iter().find(|role| !actor.roles.contains(role)) {
                let reason =
                    format!("a token issues no wider token than itself ({} is not among its roles)", role.as_str());
                return Err(DomainError::invalid_field("roles", reason));
            }
        }
        Ok(roles)
    }

    #[allow(clippy::too_many_arguments)]
    fn token(
        &self,
        principal_id: PrincipalId,
        org_id: OrgId,
        user_id: Option<UserId>,
        roles: BTreeSet<Role>,
        label: &Option<String>,
        expires_at: Option<DateTime<Utc>>,
        token_hash: &str,
    ) -> Result<TokenIssued, DomainError> {
        if expires_at.is_some_and(|at| at <= self.command.at) {
            return Err(DomainError::invalid_field("expires_at", "must be in the future"));
        }
        let hash_ok =
            token_hash.len() == 64 && token_hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        if !hash_ok {
            return Err(DomainError::invalid_field("token_hash", "must be 64 lowercase hex digits"));
        }
        if self.state.principals.contains_key(&principal_id) {
            return Err(DomainError::AlreadyExists { what: "token", id: principal_id.to_string() });
        }
        if self.state.token_hashes.contains(token_hash) {
            return Err(DomainError::AlreadyExists { what: "token", id: "(hash withheld)".to_owned() });
        }
        Ok(TokenIssued {
            principal_id,
            org_id,
            user_id,
            roles,
            label: optional_text("label", label)?,
            expires_at,
            deployment_admin: false,
            token_hash: token_hash.to_owned(),
            issued_by: self.command.actor.principal_id,
        })
    }

    /// A token the actor may revoke: one of its own person's, or one of an org it manages. The
    /// deployment's admin token is replaced (`SetAdminToken`), never revoked alone: that would
    /// leave the deployment without one.
    fn revocable(&self, principal_id: PrincipalId) -> Result<&Principal, DomainError> {
        let not_found = || DomainError::not_found("token", principal_id);
        let principal = self.state.principals.get(&principal_id).ok_or_else(not_found)?;
        let own =
            principal.user_id.is_some_and(|user| self.acts_as(user)) || principal_id == self.command.actor.principal_id;
        if !own {
            self.managed_org(principal.org_id).map_err(|error| match error {
                DomainError::NotFound { .. } => not_found(),
                other => other,
            })?;
        }
        if principal.revoked {
            return Err(DomainError::TokenConflict { code: "token_revoked", reason: "the token is already revoked" });
        }
        if self.state.deployment_admin == Some(principal_id) {
            return Err(DomainError::TokenConflict {
                code: "deployment_admin_token",
                reason: "the deployment's admin token is replaced with `kboss admin rotate-token`, not revoked",
            });
        }
        Ok(principal)
    }

    /// Issued by the deployment itself: the actor is the new token's own principal, which no
    /// token named before (an HTTP caller always acts with a token the log knows).
    fn set_admin_token(
        &self,
        principal_id: PrincipalId,
        user_id: UserId,
        token_hash: &str,
    ) -> Result<Vec<Event>, DomainError> {
        let actor = &self.command.actor;
        if actor.principal_id != principal_id || !self.is_platform_super_admin() {
            return Err(DomainError::forbidden("the admin token is set by the deployment (kboss), not over the API"));
        }
        let roles: BTreeSet<Role> = [Role::SuperAdmin, Role::Admin].into_iter().collect();
        let platform_id = self.platform_id();
        let replaced = self.state.deployment_admin;
        let mut events = Vec::with_capacity(3);
        let holder = match replaced.and_then(|old| self.state.principals.get(&old)).and_then(|old| old.user_id) {
            Some(user_id) => user_id,
            None => {
                if self.state.users.contains_key(&user_id) {
                    return Err(DomainError::AlreadyExists { what: "user", id: user_id.to_string() });
                }
                let user = UserCreated {
                    user_id,
                    org_id: platform_id,
                    name: DEPLOYMENT_ADMIN_NAME.to_owned(),
                    email: None,
                    phone: None,
                    roles: roles.clone(),
                    created_by: principal_id,
                };
                events.push(Event::new(EventPayload::UserCreated(user)));
                user_id
            }
        };
        let label = Some("deployment admin".to_owned());
        let mut token = self.token(principal_id, platform_id, Some(holder), roles, &label, None, token_hash)?;
        token.deployment_admin = true;
        events.push(Event::new(EventPayload::TokenIssued(token)));
        if let Some(old) = replaced {
            let revoked = TokenRevoked {
                principal_id: old,
                org_id: platform_id,
                reason: Some("replaced by a new admin token".to_owned()),
                revoked_by: principal_id,
            };
            events.push(Event::new(EventPayload::TokenRevoked(revoked)));
        }
        Ok(events)
    }
}

/// An email address as people type it: one `@` with text on both sides, no spaces.
fn checked_email(email: &str) -> Result<String, DomainError> {
    let email = text_field("email", email)?;
    let well_formed = email.chars().count() <= EMAIL_LENGTH_MAX
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && domain.contains('.')
        });
    if well_formed {
        Ok(email)
    } else {
        Err(DomainError::invalid_field("email", "must be an address like name@example.com"))
    }
}

/// A phone number: digits, with `+`, spaces, `-` and parentheses as people write them.
fn checked_phone(phone: &str) -> Result<String, DomainError> {
    let phone = text_field("phone", phone)?;
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let well_formed = phone.chars().count() <= PHONE_LENGTH_MAX
        && digits >= 3
        && phone.chars().all(|character| character.is_ascii_digit() || " +-()".contains(character));
    if well_formed {
        Ok(phone)
    } else {
        Err(DomainError::invalid_field("phone", "must be digits, with +, spaces, - or parentheses"))
    }
}

// The folds of this family's events into the state (see `State::evolve`).

pub(super) fn user_created(state: &mut State, event: &UserCreated) {
    state.users.insert(event.user_id, User { org_id: event.org_id, roles: event.roles.clone() });
}

pub(super) fn token_issued(state: &mut State, event: &TokenIssued) {
    let principal = Principal {
        org_id: event.org_id,
        user_id: event.user_id,
        roles: event.roles.clone(),
        expires_at: event.expires_at,
        revoked: false,
        token_hash: event.token_hash.clone(),
    };
    state.principals.insert(event.principal_id, principal);
    state.token_hashes.insert(event.token_hash.clone());
    if event.deployment_admin {
        state.deployment_admin = Some(event.principal_id);
    }
}

pub(super) fn role_defined(state: &mut State, event: &RoleDefined) {
    state.role_definitions.insert((event.org_id, event.role), event.permissions.iter().copied().collect());
}

pub(super) fn customer_owner_set(state: &mut State, event: &CustomerOwnerSet) {
    state.customer_owners.insert(event.customer_id, event.owner_id);
}

/// A customer opened by a person (a user of its seller) is theirs.
pub(super) fn customer_opened(state: &mut State, event: &OrgOpened, actor: &Actor) {
    if event.org.kind == OrgKind::Customer {
        if let Person::User(user_id) = state.person_of(actor.principal_id) {
            state.customer_owners.insert(event.org.id, user_id);
        }
    }
}

pub(super) fn token_revoked(state: &mut State, event: &TokenRevoked) {
    state.principals.get_mut(&event.principal_id).expect("a known token").revoked = true;
    if state.deployment_admin == Some(event.principal_id) {
        state.deployment_admin = None;
    }
}
