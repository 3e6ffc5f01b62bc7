//! Permissions as data: the catalogue of permissions, an org's roles (the built-in ones and
//! those it defined), and the owner of a customer (data scope). Roles and owners are events
//! (`RoleDefined`, `CustomerOwnerSet`), decided by the core (`decide::access`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::Router;
use ledger_core::event::{CustomerOwnerSet, RoleDefined};
use ledger_core::ids::{OrgId, UserId};
use ledger_core::org::Role;
use ledger_core::permissions::{Permission, PermissionSet};
use ledger_core::{AccessCommand, CommandBody};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orgs::visible_org;
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Read};
use crate::access::operations_of;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/permissions", get(list_permissions))
        .route("/v1/orgs/{id}/roles", get(list_roles))
        .route("/v1/orgs/{id}/roles/{name}", put(define_role))
        .route("/v1/customers/{id}/owner", put(set_owner))
}

#[derive(Serialize, ToSchema)]
pub struct PermissionBody {
    /// `orders.read`, `ledger.read`, …
    pub name: String,
    pub about: String,
    /// The operations it allows, as `METHOD /path`.
    pub operations: Vec<String>,
    /// The built-in roles that hold it unless their org redefines them (`admin` and
    /// `super_admin` hold every permission).
    pub default_roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PermissionList {
    pub items: Vec<PermissionBody>,
}

/// Every permission, with the operations it allows and the built-in roles that hold it.
#[utoipa::path(get, path = "/v1/permissions", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = PermissionList), (status = 401, body = Problem)))]
pub async fn list_permissions(_caller: Caller) -> axum::Json<PermissionList> {
    let defaults = [Role::Finance, Role::Sales, Role::Operations, Role::Customer];
    let items = Permission::ALL
        .iter()
        .map(|permission| PermissionBody {
            name: permission.as_str().to_owned(),
            about: permission.about().to_owned(),
            operations: operations_of(*permission),
            default_roles: defaults
                .iter()
                .filter(|role| role.default_permissions().contains(*permission))
                .map(|role| role.as_str().to_owned())
                .collect(),
        })
        .collect();
    axum::Json(PermissionList { items })
}

#[derive(Serialize, ToSchema)]
pub struct RoleBody {
    pub name: String,
    /// A built-in role (its permissions are the defaults unless `defined`).
    pub built_in: bool,
    /// Whether the org defined it (a custom role, or its version of a built-in one).
    pub defined: bool,
    pub permissions: Vec<String>,
    /// Where the org's definition was recorded.
    pub position: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<RoleBody>,
}

/// An org's roles and what each allows there: the built-in ones a book's staff may hold, then
/// those the org defined.
#[utoipa::path(get, path = "/v1/orgs/{id}/roles", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RoleList), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_roles(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<RoleList>, ApiError> {
    let org = visible_org(&state, &caller, parse::path_id("org", &id)?).await?;
    let defined = state.read.roles(org.id).await?;
    let built_in = Role::built_in_for(org.kind);
    let body = |role: Role, definition: Option<(PermissionSet, u64)>| RoleBody {
        name: role.as_str().to_owned(),
        built_in: role.is_built_in(),
        defined: definition.is_some(),
        permissions: definition
            .map_or_else(|| role.default_permissions(), |(permissions, _)| permissions)
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        position: definition.map(|(_, position)| position),
    };
    let definition_of =
        |role: Role| defined.iter().find(|view| view.role == role).map(|view| (view.permissions, view.position));
    let mut items: Vec<RoleBody> = built_in.iter().map(|role| body(*role, definition_of(*role))).collect();
    items.extend(
        defined.iter().filter(|view| !view.role.is_built_in()).map(|view| body(view.role, definition_of(view.role))),
    );
    Ok(Read(position, RoleList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineRoleBody {
    /// The permissions' names (`GET /v1/permissions`); none is a role that allows nothing.
    #[serde(deserialize_with = "super::words")]
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleDefinedBody {
    pub org_id: String,
    pub name: String,
    pub permissions: Vec<String>,
    pub position: u64,
}

/// Defines one of the org's roles (a custom one, or its version of `finance`, `sales` or
/// `operations`) as a set of permissions; it replaces the previous definition. The caller needs
/// `roles.write` and grants nothing it does not hold itself. Tokens carrying the role follow the
/// new definition within a second.
#[utoipa::path(put, path = "/v1/orgs/{id}/roles/{name}", tag = "users", request_body = DefineRoleBody,
    security(("bearer" = [])), params(("id" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = RoleDefinedBody), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn define_role(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path((id, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<DefineRoleBody>,
) -> Result<Answer<RoleDefinedBody>, ApiError> {
    let org_id: OrgId = parse::path_id("org", &id)?;
    let role: Role = name.parse().map_err(|reason: String| ApiError::invalid("invalid_field", "name", reason))?;
    let command = CommandBody::Access(AccessCommand::DefineRole {
        org_id,
        role,
        permissions: body.permissions.into_iter().collect(),
    });
    let committed = state.execute(&caller, &key, command).await?;
    let defined = committed.event::<RoleDefined>()?;
    Ok(Answer(
        StatusCode::OK,
        RoleDefinedBody {
            org_id: defined.org_id.to_string(),
            name: defined.role.as_str().to_owned(),
            permissions: defined.permissions.iter().map(|permission| permission.as_str().to_owned()).collect(),
            position: committed.position,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOwnerBody {
    /// A user of the customer's seller.
    pub user_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct OwnerSetBody {
    pub customer_id: String,
    pub owner_id: String,
    pub position: u64,
}

/// Names the person (a user of the seller) who owns a customer: staff whose roles lack
/// `customers.all` act for and read only the customers they own. A customer opened by a person
/// is theirs until this names another.
#[utoipa::path(put, path = "/v1/customers/{id}/owner", tag = "orgs", request_body = SetOwnerBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OwnerSetBody), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_owner(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SetOwnerBody>,
) -> Result<Answer<OwnerSetBody>, ApiError> {
    let customer_id: OrgId = parse::path_id("customer", &id)?;
    let owner_id: UserId = parse::id("user_id", &body.user_id)?;
    let command = CommandBody::Access(AccessCommand::SetCustomerOwner { customer_id, owner_id });
    let committed = state.execute(&caller, &key, command).await?;
    let set = committed.event::<CustomerOwnerSet>()?;
    Ok(Answer(
        StatusCode::OK,
        OwnerSetBody {
            customer_id: set.customer_id.to_string(),
            owner_id: set.owner_id.to_string(),
            position: committed.position,
        },
    ))
}
