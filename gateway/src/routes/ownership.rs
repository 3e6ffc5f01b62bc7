//! 归属: transferring a customer to another seller (`CustomerTransferred`), handing every
//! customer of one salesperson to another (离职交接, a `CustomerOwnerSet` each), and the history
//! of a customer's ownership, every change with when and by whom (留痕).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ledger_core::event::{CustomerOwnerSet, CustomerTransferred, EventPayload};
use ledger_core::ids::{OrgId, UserId};
use ledger_core::{AccessCommand, CommandBody, RegistryCommand};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Read};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/customers/{id}/transfer", post(transfer_customer))
        .route("/v1/customers/{id}/ownership", get(customer_ownership))
        .route("/v1/orgs/{id}/customers/reassign", post(reassign_customers))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The new seller: the caller's org or one of its resellers.
    pub to: String,
    /// The customer's salesperson there (a user of the new seller); none: nobody.
    pub owner_id: Option<String>,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TransferredBody {
    pub customer_id: String,
    pub from: String,
    pub to: String,
    pub owner_id: Option<String>,
    pub position: u64,
}

/// 归属转移: moves a customer from its seller (the caller's org or one of its resellers) to the
/// caller's org or another of its resellers. Only with nothing left open with the seller it
/// leaves (409 `customer_not_settled` says what): no money in its wallet, no arrears, nothing
/// pending or still invoiceable, no open order, no subscription renewing by itself. What it
/// bought stays in the old seller's books.
#[utoipa::path(post, path = "/v1/customers/{id}/transfer", tag = "orgs", request_body = TransferBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TransferredBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn transfer_customer(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result<Answer<TransferredBody>, ApiError> {
    let customer_id: OrgId = parse::path_id("customer", &id)?;
    let to: OrgId = parse::id("to", &body.to)?;
    let owner_id: Option<UserId> = body.owner_id.as_deref().map(|owner| parse::id("owner_id", owner)).transpose()?;
    let command = RegistryCommand::TransferCustomer { customer_id, to, owner_id, reason: body.reason };
    let committed = state.execute(&caller, &key, CommandBody::Registry(command)).await?;
    let moved = committed.event::<CustomerTransferred>()?;
    Ok(Answer(
        StatusCode::OK,
        TransferredBody {
            customer_id: moved.customer_id.to_string(),
            from: moved.from.to_string(),
            to: moved.to.to_string(),
            owner_id: moved.owner_id.map(|owner| owner.to_string()),
            position: committed.position,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignBody {
    pub from_user_id: String,
    pub to_user_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReassignedBody {
    /// The customers that passed to `to_user_id`, by id.
    pub customer_ids: Vec<String>,
    pub position: u64,
}

/// 离职交接: every customer of the org owned by one salesperson passes to another, all or none
/// (needs `customers.write` and `customers.all`).
#[utoipa::path(post, path = "/v1/orgs/{id}/customers/reassign", tag = "orgs", request_body = ReassignBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ReassignedBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn reassign_customers(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReassignBody>,
) -> Result<Answer<ReassignedBody>, ApiError> {
    let book: OrgId = parse::path_id("org", &id)?;
    let from_user_id: UserId = parse::id("from_user_id", &body.from_user_id)?;
    let to_user_id: UserId = parse::id("to_user_id", &body.to_user_id)?;
    let command = AccessCommand::ReassignCustomers { book, from_user_id, to_user_id };
    let committed = state.execute(&caller, &key, CommandBody::Access(command)).await?;
    committed.event::<CustomerOwnerSet>()?;
    let customer_ids = committed
        .events
        .iter()
        .filter_map(|event| match &event.event.payload {
            EventPayload::CustomerOwnerSet(set) => Some(set.customer_id.to_string()),
            _ => None,
        })
        .collect();
    Ok(Answer(StatusCode::OK, ReassignedBody { customer_ids, position: committed.position }))
}

#[derive(Serialize, ToSchema)]
pub struct OwnershipItem {
    pub position: u64,
    /// `opened`, `owner_set` or `transferred`.
    pub kind: String,
    /// The seller after the change.
    pub seller_id: String,
    pub from_seller_id: Option<String>,
    pub owner_id: Option<String>,
    pub reason: Option<String>,
    pub at: String,
    /// The token that made the change.
    pub by: String,
}

#[derive(Serialize, ToSchema)]
pub struct OwnershipBody {
    pub customer_id: String,
    pub seller_id: String,
    pub owner_id: Option<String>,
    pub items: Vec<OwnershipItem>,
}

/// A customer's seller and salesperson now, and every change of them, oldest first: the customer
/// itself, or its seller's staff within their data scope.
#[utoipa::path(get, path = "/v1/customers/{id}/ownership", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OwnershipBody), (status = 404, body = Problem)))]
pub async fn customer_ownership(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<OwnershipBody>, ApiError> {
    let customer_id = super::finance::readable_customer(&state, &caller, &id).await?;
    let org = state.read.org(customer_id).await?.ok_or(ApiError::NotFound { what: "customer" })?;
    let rows = state.read.customer_ownership(customer_id).await?;
    let items = rows
        .into_iter()
        .map(|row| OwnershipItem {
            position: row.position,
            kind: row.kind,
            seller_id: row.seller_id.to_string(),
            from_seller_id: row.from_seller_id.map(|id| id.to_string()),
            owner_id: row.owner_id.map(|id| id.to_string()),
            reason: row.reason,
            at: row.at.to_rfc3339(),
            by: row.actor.to_string(),
        })
        .collect();
    Ok(Read(
        position,
        OwnershipBody {
            customer_id: customer_id.to_string(),
            seller_id: org.parent_id.map(|id| id.to_string()).unwrap_or_default(),
            owner_id: org.owner_id.map(|id| id.to_string()),
            items,
        },
    ))
}
