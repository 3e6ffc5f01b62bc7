//! Who am I, organisations and tokens.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ledger_core::event::OrgOpened;
use ledger_core::ids::{OrgId, PrincipalId, UserId};
use ledger_core::org::{OrgKind, Role, SaleMode};
use ledger_core::CommandBody;
use projections::{OrgQuery, OrgView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read};
use crate::auth::{generate_token, token_hash, Caller};
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};
use ledger_core::{AccessCommand, SetupCommand};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/orgs", post(create_org).get(list_orgs))
        .route("/v1/orgs/{id}/tokens", post(issue_token))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub org_id: String,
    pub org_kind: String,
    pub org_name: String,
    /// The person the token belongs to (absent for a token issued before users).
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    /// The token's id (the principal it stands for).
    pub token_id: String,
    /// The same as `token_id` (the first contract's name).
    #[schema(deprecated)]
    pub principal_id: String,
    /// The token's label, as its issuer named it (a device, a script).
    pub label: Option<String>,
    pub expires_at: Option<String>,
    /// The token's roles: its user's, or fewer.
    pub roles: Vec<String>,
    /// What those roles allow in the org (`GET /v1/permissions`).
    pub permissions: Vec<String>,
}

/// Who the token is: its org, person, roles and expiry.
#[utoipa::path(get, path = "/v1/me", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
) -> Result<Read<Me>, ApiError> {
    let org = state.read.org(caller.org_id()).await?;
    let org = org
        .ok_or_else(|| ApiError::Internal(format!("the caller's org {} is not in the read model", caller.org_id())))?;
    let token = state.read.principal(caller.token_id()).await?;
    let (label, user_name) = token.map(|token| (token.label, token.user_name)).unwrap_or_default();
    Ok(Read(
        position,
        Me {
            org_id: caller.org_id().to_string(),
            org_kind: org.kind.as_str().to_owned(),
            org_name: org.name,
            user_id: caller.user_id.map(|user| user.to_string()),
            user_name,
            token_id: caller.token_id().to_string(),
            principal_id: caller.token_id().to_string(),
            label,
            expires_at: caller.expires_at.map(|at| at.to_rfc3339()),
            roles: caller.actor.roles.iter().map(|role| role.as_str().to_owned()).collect(),
            permissions: caller.permissions.names().into_iter().map(str::to_owned).collect(),
        },
    ))
}

/// The kinds of org a request opens (the platform is opened once, by the bootstrap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewOrgKind {
    Reseller,
    Customer,
    Supplier,
}

impl From<NewOrgKind> for OrgKind {
    fn from(kind: NewOrgKind) -> OrgKind {
        match kind {
            NewOrgKind::Reseller => OrgKind::Reseller,
            NewOrgKind::Customer => OrgKind::Customer,
            NewOrgKind::Supplier => OrgKind::Supplier,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// `reseller`, `customer` or `supplier`.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub kind: NewOrgKind,
    pub name: String,
    /// Defaults to the caller's org.
    pub parent_id: Option<String>,
    /// Resellers only: sell in rebate mode (返佣) with this commission rate, e.g. `"0.05"`.
    pub commission_rate: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgCreated {
    pub id: String,
    pub kind: String,
    pub parent_id: String,
    pub position: u64,
}

/// Open an organisation: a reseller, a customer or a supplier.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", request_body = CreateOrg, security(("bearer" = [])),
    responses((status = 201, body = OrgCreated), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_org(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<CreateOrg>,
) -> Result<Answer<OrgCreated>, ApiError> {
    let parent_id = match &body.parent_id {
        Some(text) => parse::id("parent_id", text)?,
        None => caller.org_id(),
    };
    let sale_mode = body
        .commission_rate
        .as_deref()
        .map(|rate| parse::rate("commission_rate", rate).map(|commission_rate| SaleMode::Rebate { commission_rate }))
        .transpose()?;
    let minter = Minter::new(&caller, &key, "orgs");
    let command = CommandBody::Setup(SetupCommand::OpenOrg {
        org_id: minter.id("org"),
        kind: body.kind.into(),
        name: body.name,
        parent_id,
        sale_mode,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let org = &committed.event::<OrgOpened>()?.org;
    Ok(Answer(
        StatusCode::CREATED,
        OrgCreated {
            id: org.id.to_string(),
            kind: org.kind.as_str().to_owned(),
            parent_id: org.parent_id.map(|id| id.to_string()).unwrap_or_default(),
            position: committed.position,
        },
    ))
}

#[derive(Serialize, ToSchema)]
pub struct OrgBody {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub currency: String,
    /// A customer's owner (a user of its seller), if it has one.
    pub owner_id: Option<String>,
}

impl From<OrgView> for OrgBody {
    fn from(org: OrgView) -> Self {
        OrgBody {
            id: org.id.to_string(),
            kind: org.kind.as_str().to_owned(),
            name: org.name,
            parent_id: org.parent_id.map(|id| id.to_string()),
            currency: org.currency.to_string(),
            owner_id: org.owner_id.map(|id| id.to_string()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgListQuery {
    pub kind: Option<OrgKindFilter>,
    pub parent_id: Option<String>,
    /// A part of the name (ASCII letters match either case).
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// `kind=`: any kind of org.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKindFilter {
    Platform,
    Reseller,
    Customer,
    Supplier,
}

impl From<OrgKindFilter> for OrgKind {
    fn from(kind: OrgKindFilter) -> OrgKind {
        match kind {
            OrgKindFilter::Platform => OrgKind::Platform,
            OrgKindFilter::Reseller => OrgKind::Reseller,
            OrgKindFilter::Customer => OrgKind::Customer,
            OrgKindFilter::Supplier => OrgKind::Supplier,
        }
    }
}

/// Organisations in the order they were opened. The platform's `super_admin` lists every org
/// (optionally the children of `parent_id`); other staff list their own org's parties (its
/// customers, child resellers and suppliers): a `parent_id` other than their org names nothing
/// they may see.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])),
    params(("kind" = Option<String>, Query, description = "platform, reseller, customer or supplier"),
        ("parent_id" = Option<String>, Query), ("q" = Option<String>, Query, description = "a part of the name"),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<OrgBody>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_orgs(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(query): Params<OrgListQuery>,
) -> Result<Read<Page<OrgBody>>, ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::Forbidden("organisations are listed for the org's staff".to_owned()));
    }
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let parent_id = query.parent_id.as_deref().map(|id| parse::id("parent_id", id)).transpose()?;
    let parent_id = match parent_id {
        _ if caller.is_super_admin() => parent_id,
        None => Some(caller.org_id()),
        Some(parent) if parent == caller.org_id() => Some(parent),
        Some(_) => return Err(ApiError::NotFound { what: "org" }),
    };
    let org_query = OrgQuery {
        kind: query.kind.map(OrgKind::from),
        parent_id,
        name: query.q.filter(|text| !text.is_empty()),
        owner_id: scoped_owner(&caller),
        cursor: paging.cursor.clone(),
        limit: paging.limit,
    };
    let page = state.read.orgs(&org_query).await?;
    Ok(Read(position, Page::of(page, paging, OrgBody::from)))
}

/// The owner a scoped caller's customer lists are filtered by: none for staff with
/// `customers.all` (and the `super_admin`); for others their person (nobody, for a token from
/// before users: it owns no customer).
pub fn scoped_owner(caller: &Caller) -> Option<UserId> {
    if caller.sees_every_customer() || caller.is_super_admin() {
        None
    } else {
        Some(caller.user_id.unwrap_or(UserId(uuid::Uuid::nil())))
    }
}

/// Data scope: whether the caller may see the customer `customer_id` as far as ownership goes
/// (true for the customer itself, the `super_admin` and staff with `customers.all`; others must
/// own it). Whose book it is, the caller checks apart.
pub async fn customer_in_scope(state: &SharedState, caller: &Caller, customer_id: OrgId) -> Result<bool, ApiError> {
    if caller.sees_every_customer() || caller.is_super_admin() || caller.org_id() == customer_id {
        return Ok(true);
    }
    let owner = state.read.org(customer_id).await?.and_then(|org| org.owner_id);
    Ok(caller.in_scope(owner))
}

/// An org the caller may see: its own, one of its parties (orgs whose parent it is), or any
/// for the platform's `super_admin`. Anything else is not found.
pub async fn visible_org(state: &SharedState, caller: &Caller, id: OrgId) -> Result<OrgView, ApiError> {
    let org = state.read.org(id).await?.ok_or(ApiError::NotFound { what: "org" })?;
    let reaches = caller.is_super_admin()
        || org.id == caller.org_id()
        || (org.parent_id == Some(caller.org_id()) && (org.kind != OrgKind::Customer || caller.in_scope(org.owner_id)));
    if reaches {
        Ok(org)
    } else {
        Err(ApiError::NotFound { what: "org" })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTokenBody {
    /// Any of `admin`, `finance`, `sales`, `operations`, `customer` (and `super_admin` on the platform).
    #[serde(deserialize_with = "super::words")]
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// The token's label; also the name of the user it creates (default: the roles).
    pub label: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenIssued {
    /// Shown once: only its SHA-256 is stored.
    pub token: String,
    /// The token's id (`POST /v1/tokens/{id}/revoke`).
    pub id: String,
    /// The same as `id` (the first contract's name).
    #[schema(deprecated)]
    pub principal_id: String,
    /// The user the token belongs to.
    pub user_id: String,
    pub org_id: String,
    pub roles: Vec<String>,
    pub expires_at: Option<String>,
    pub position: u64,
}

/// Issues the first token of a new user of an org (its first admin, a customer's app): the user
/// is named by the label, or by the roles, and holds these roles. A token is shown once and never
/// stored, so it cannot be answered again: a retry with the same `Idempotency-Key` draws a new
/// token, hence another request, and is a 409.
#[utoipa::path(post, path = "/v1/orgs/{id}/tokens", tag = "orgs", request_body = IssueTokenBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = TokenIssued), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn issue_token(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<IssueTokenBody>,
) -> Result<Answer<TokenIssued>, ApiError> {
    let org_id: OrgId = parse::path_id("org", &id)?;
    let roles: BTreeSet<Role> = body.roles.into_iter().collect();
    if roles.is_empty() {
        return Err(ApiError::invalid("invalid_field", "roles", "at least one role"));
    }
    let name =
        body.label.clone().unwrap_or_else(|| roles.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(", "));
    let user_id = UserId(uuid::Uuid::now_v7());
    let grant =
        TokenGrant { org_id, user_id, new_user: Some(name), roles: Some(roles), label: body.label, expires_at: None };
    let issued = issue(&state, &caller, &key, grant).await?;
    Ok(Answer(StatusCode::CREATED, issued))
}

/// What a token is issued for: a user (new, or existing) of an org, with some of their roles.
pub struct TokenGrant {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub new_user: Option<String>,
    pub roles: Option<BTreeSet<Role>>,
    pub label: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Mints a token, has the log record its hash, and caches it at once (before its projection
/// catches up): the one way tokens are issued over HTTP.
pub async fn issue(
    state: &SharedState,
    caller: &Caller,
    key: &Option<commands::IdempotencyKey>,
    grant: TokenGrant,
) -> Result<TokenIssued, ApiError> {
    let token = generate_token();
    let hash = token_hash(&token);
    let principal_id = PrincipalId(uuid::Uuid::now_v7());
    let command = CommandBody::Access(AccessCommand::IssueToken {
        principal_id,
        org_id: grant.org_id,
        user_id: grant.user_id,
        new_user: grant.new_user,
        roles: grant.roles,
        label: grant.label,
        expires_at: grant.expires_at,
        token_hash: hash.clone(),
    });
    let committed = state.execute(caller, key, command).await?;
    let issued = committed.event::<ledger_core::event::TokenIssued>()?;
    let actor = ledger_core::org::Actor::new(issued.org_id, principal_id, issued.roles.iter().copied());
    let permissions = crate::auth::permissions_of(&state.read, &actor).await?;
    state.tokens.insert(hash, Caller { actor, permissions, user_id: issued.user_id, expires_at: issued.expires_at });
    Ok(TokenIssued {
        token,
        id: principal_id.to_string(),
        principal_id: principal_id.to_string(),
        user_id: grant.user_id.to_string(),
        org_id: issued.org_id.to_string(),
        roles: issued.roles.iter().map(|role| role.as_str().to_owned()).collect(),
        expires_at: issued.expires_at.map(|at| at.to_rfc3339()),
        position: committed.position,
    })
}
