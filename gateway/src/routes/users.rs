//! People and their tokens: the users of an org, the tokens each holds, revocation.
//!
//! Who sees what: an org's users and their tokens are read by the admins who manage them (the
//! org's own, its parent's, the platform's `super_admin`), and a user reads itself and its own
//! tokens. Another tenant's user or token is not found. The writes are decided by the core
//! (`decide::access`); the reads check the same reach here.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use ledger_core::event::{TokenRevoked, UserCreated};
use ledger_core::ids::{OrgId, PrincipalId, UserId};
use ledger_core::org::Role;
use ledger_core::permissions::Permission;
use ledger_core::{AccessCommand, CommandBody};
use projections::{PrincipalView, UserView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orgs::{issue, visible_org, TokenGrant, TokenIssued};
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read, READ_WAIT_MAX};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/orgs/{id}/users", post(create_user).get(list_users))
        .route("/v1/users/{id}", get(get_user))
        .route("/v1/users/{id}/tokens", post(issue_user_token).get(list_tokens))
        .route("/v1/tokens/{id}", get(get_token))
        .route("/v1/tokens/{id}/revoke", post(revoke_token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The roles the user's tokens may carry: `admin`, `finance`, `sales`, `operations` on a
    /// book (and `super_admin` on the platform), `customer` on a customer.
    #[serde(deserialize_with = "super::words")]
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
}

#[derive(Serialize, ToSchema)]
pub struct UserCreatedBody {
    pub id: String,
    pub org_id: String,
    pub position: u64,
}

/// Creates a person of an org (staff of a book, or a customer's member). An `admin` of the org
/// or of its parent, or the platform's `super_admin`, creates them.
#[utoipa::path(post, path = "/v1/orgs/{id}/users", tag = "users", request_body = CreateUserBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = UserCreatedBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateUserBody>,
) -> Result<Answer<UserCreatedBody>, ApiError> {
    let org_id: OrgId = parse::path_id("org", &id)?;
    let minter = Minter::new(&caller, &key, "users");
    let command = CommandBody::Access(AccessCommand::CreateUser {
        user_id: minter.id("user"),
        org_id,
        name: body.name,
        email: body.email,
        phone: body.phone,
        roles: body.roles.into_iter().collect(),
    });
    let committed = state.execute(&caller, &key, command).await?;
    let user = committed.event::<UserCreated>()?;
    Ok(Answer(
        StatusCode::CREATED,
        UserCreatedBody { id: user.user_id.to_string(), org_id: user.org_id.to_string(), position: committed.position },
    ))
}

#[derive(Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub roles: Vec<String>,
    pub created_at: String,
    pub position: u64,
}

impl From<UserView> for UserBody {
    fn from(user: UserView) -> Self {
        UserBody {
            id: user.id.to_string(),
            org_id: user.org_id.to_string(),
            name: user.name,
            email: user.email,
            phone: user.phone,
            roles: user.roles.iter().map(|role| role.as_str().to_owned()).collect(),
            created_at: user.created_at.to_rfc3339(),
            position: user.position,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// The users of an org, in the order they were created: for the admins who manage the org.
#[utoipa::path(get, path = "/v1/orgs/{id}/users", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<UserBody>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_users(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
    Params(query): Params<PageQuery>,
) -> Result<Read<Page<UserBody>>, ApiError> {
    let org_id: OrgId = parse::path_id("org", &id)?;
    manages(&state, &caller, org_id).await?;
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let page = state.read.users(org_id, paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(position, Page::of(page, paging, UserBody::from)))
}

/// A user: themself, or one of an org the caller manages.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = UserBody), (status = 404, body = Problem)))]
pub async fn get_user(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<UserBody>, ApiError> {
    let user = visible_user(&state, &caller, parse::path_id("user", &id)?).await?;
    Ok(Read(position, user.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueUserTokenBody {
    /// Some of the user's roles (default: all of them).
    #[serde(default, deserialize_with = "optional_roles")]
    #[schema(value_type = Option<Vec<String>>)]
    pub roles: Option<Vec<Role>>,
    /// From this instant the token is refused (RFC 3339).
    pub expires_at: Option<String>,
    /// What the token is for (a device, a script).
    pub label: Option<String>,
}

fn optional_roles<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<Role>>, D::Error> {
    super::words(deserializer).map(Some)
}

/// Issues a token for a user: by an admin who manages the user's org, or by the user themself
/// (never wider than the token they ask with). Shown once; a retry is a 409, as for every token.
#[utoipa::path(post, path = "/v1/users/{id}/tokens", tag = "users", request_body = IssueUserTokenBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = TokenIssued), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_user_token(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<IssueUserTokenBody>,
) -> Result<Answer<TokenIssued>, ApiError> {
    let user = visible_user(&state, &caller, parse::path_id("user", &id)?).await?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| ApiError::invalid("invalid_field", "expires_at", "an RFC 3339 instant"))
        })
        .transpose()?;
    let roles = body.roles.map(|roles| roles.into_iter().collect::<BTreeSet<Role>>());
    let grant =
        TokenGrant { org_id: user.org_id, user_id: user.id, new_user: None, roles, label: body.label, expires_at };
    let issued = issue(&state, &caller, &key, grant).await?;
    Ok(Answer(StatusCode::CREATED, issued))
}

#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    pub id: String,
    pub org_id: String,
    pub user_id: Option<String>,
    pub label: Option<String>,
    pub roles: Vec<String>,
    pub issued_at: Option<String>,
    pub issued_by: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
    /// The deployment's admin token (`KBOSS_ADMIN_TOKEN`).
    pub deployment_admin: bool,
    pub position: u64,
}

impl From<PrincipalView> for TokenBody {
    fn from(token: PrincipalView) -> Self {
        TokenBody {
            id: token.principal_id.to_string(),
            org_id: token.org_id.to_string(),
            user_id: token.user_id.map(|user| user.to_string()),
            label: token.label,
            roles: token.roles.iter().map(|role| role.as_str().to_owned()).collect(),
            issued_at: token.issued_at.map(|at| at.to_rfc3339()),
            issued_by: token.issued_by.to_string(),
            expires_at: token.expires_at.map(|at| at.to_rfc3339()),
            revoked_at: token.revoked_at.map(|at| at.to_rfc3339()),
            revoked_by: token.revoked_by.map(|by| by.to_string()),
            revoke_reason: token.revoke_reason,
            deployment_admin: token.deployment_admin,
            position: token.position,
        }
    }
}

/// A user's tokens, revoked ones included, in the order they were issued (never their text
/// nor its hash).
#[utoipa::path(get, path = "/v1/users/{id}/tokens", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<TokenBody>), (status = 404, body = Problem)))]
pub async fn list_tokens(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
    Params(query): Params<PageQuery>,
) -> Result<Read<Page<TokenBody>>, ApiError> {
    let user = visible_user(&state, &caller, parse::path_id("user", &id)?).await?;
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let page = state.read.tokens_of_user(user.id, paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(position, Page::of(page, paging, TokenBody::from)))
}

/// A token: one of the caller's own person, or of an org the caller manages.
#[utoipa::path(get, path = "/v1/tokens/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = TokenBody), (status = 404, body = Problem)))]
pub async fn get_token(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<TokenBody>, ApiError> {
    let token = visible_token(&state, &caller, parse::path_id("token", &id)?).await?;
    Ok(Read(position, token.into()))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenRevokedBody {
    pub id: String,
    pub revoked_at: String,
    pub position: u64,
}

/// Revokes a token: every instance refuses it within a second (`TOKEN_CACHE_TTL` plus the read
/// models' lag), this one as soon as it answers. The holder revokes its own; an admin those of
/// the orgs it manages. The deployment's admin token is replaced with `kboss admin rotate-token`.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "users", request_body = RevokeBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TokenRevokedBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn revoke_token(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> Result<Answer<TokenRevokedBody>, ApiError> {
    let principal_id: PrincipalId = parse::path_id("token", &id)?;
    let reason = body.reason;
    let command = CommandBody::Access(AccessCommand::RevokeToken { principal_id, reason });
    let committed = state.execute(&caller, &key, command).await?;
    committed.event::<TokenRevoked>()?;
    // This instance refuses the token at once: its read models hold the revocation before the
    // cache forgets what it knew.
    state.read.wait_for(committed.position, READ_WAIT_MAX).await?;
    state.tokens.clear();
    let revoked_at = committed.events.first().map(|event| event.recorded_at.to_rfc3339()).unwrap_or_default();
    Ok(Answer(
        StatusCode::OK,
        TokenRevokedBody { id: principal_id.to_string(), revoked_at, position: committed.position },
    ))
}

/// The caller manages `org_id`'s people: with `users.read` in it or in its parent, or the
/// platform's `super_admin`. A foreign org is not found; a visible one without the permission is
/// 403.
async fn manages(state: &SharedState, caller: &Caller, org_id: OrgId) -> Result<(), ApiError> {
    visible_org(state, caller, org_id).await?;
    if caller.is_super_admin() {
        Ok(())
    } else {
        caller.require(Permission::UsersRead)
    }
}

async fn visible_user(state: &SharedState, caller: &Caller, id: UserId) -> Result<UserView, ApiError> {
    let user = state.read.user(id).await?.ok_or(ApiError::NotFound { what: "user" })?;
    if caller.user_id == Some(id) {
        return Ok(user);
    }
    match manages(state, caller, user.org_id).await {
        Ok(()) => Ok(user),
        Err(_) => Err(ApiError::NotFound { what: "user" }),
    }
}

async fn visible_token(state: &SharedState, caller: &Caller, id: PrincipalId) -> Result<PrincipalView, ApiError> {
    let token = state.read.principal(id).await?.ok_or(ApiError::NotFound { what: "token" })?;
    let own = id == caller.token_id() || (token.user_id.is_some() && token.user_id == caller.user_id);
    if own {
        return Ok(token);
    }
    match manages(state, caller, token.org_id).await {
        Ok(()) => Ok(token),
        Err(_) => Err(ApiError::NotFound { what: "token" }),
    }
}
