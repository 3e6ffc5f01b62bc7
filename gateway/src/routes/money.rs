//! Money in and out of wallets: recharges and their reversal, approvals, coupons, withdrawals.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ledger_core::event::{RechargeMethod, WithdrawalPaid, WithdrawalRoute};
use ledger_core::ids::{ApprovalId, RechargeId, WithdrawalId};
use ledger_core::state::Decision as ApprovalDecision;
use ledger_core::CommandBody;
use projections::ApprovalView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::catalog::Position;
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Params, Read, RequestStatus};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};
use ledger_core::{ApprovalCommand, MoneyCommand};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/recharges", post(request_recharge))
        .route("/v1/recharges/{id}/reversal", post(request_reversal))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", get(get_approval))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/reject", post(reject))
        .route("/v1/coupons", post(grant_coupon))
        .route("/v1/withdrawals", post(withdraw))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RechargeBody {
    pub customer_id: String,
    pub amount: String,
    /// `online`, `offline` or `transfer`; online recharges are booked by the payment notification.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub method: RechargeMethod,
    pub reference: String,
}

#[derive(Serialize, ToSchema)]
pub struct Pending {
    pub id: String,
    pub approval_id: String,
    /// `pending_approval`.
    pub status: String,
    pub position: u64,
}

/// The answer to a request that waits for the approval `approval_id`.
pub fn pending(id: impl ToString, approval_id: ApprovalId, position: u64) -> Pending {
    Pending {
        id: id.to_string(),
        approval_id: approval_id.to_string(),
        status: RequestStatus::PendingApproval.as_str().to_owned(),
        position,
    }
}

#[utoipa::path(post, path = "/v1/recharges", tag = "money", request_body = RechargeBody, security(("bearer" = [])),
    responses((status = 202, body = Pending), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn request_recharge(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<RechargeBody>,
) -> Result<Answer<Pending>, ApiError> {
    let minter = Minter::new(&caller, &key, "recharges");
    let (recharge_id, approval_id): (RechargeId, ApprovalId) = (minter.id("recharge"), minter.id("approval"));
    let command = CommandBody::Money(MoneyCommand::RequestRecharge {
        recharge_id,
        approval_id,
        customer_id: parse::id("customer_id", &body.customer_id)?,
        amount: parse::amount("amount", &body.amount)?,
        method: body.method,
        reference: body.reference,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::ACCEPTED, pending(recharge_id, approval_id, committed.position)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/recharges/{id}/reversal", tag = "money", request_body = ReversalBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = Pending), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn request_reversal(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReversalBody>,
) -> Result<Answer<Pending>, ApiError> {
    let recharge_id: RechargeId = parse::path_id("recharge", &id)?;
    let approval_id: ApprovalId = Minter::new(&caller, &key, "reversals").id("approval");
    let command =
        CommandBody::Money(MoneyCommand::RequestRechargeReversal { approval_id, recharge_id, reason: body.reason });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::ACCEPTED, pending(recharge_id, approval_id, committed.position)))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub comment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Decision {
    /// `granted` or `rejected`.
    pub status: String,
    pub position: u64,
}

#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "approvals", request_body = DecisionBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Decision), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "self_approval, insufficient_balance, ...")))]
pub async fn approve(
    state: State<SharedState>,
    caller: Caller,
    key: IdempotencyHeader,
    id: Path<String>,
    body: JsonBody<DecisionBody>,
) -> Result<Answer<Decision>, ApiError> {
    decide(state, caller, key, id, body, true).await
}

#[utoipa::path(post, path = "/v1/approvals/{id}/reject", tag = "approvals", request_body = DecisionBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Decision), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn reject(
    state: State<SharedState>,
    caller: Caller,
    key: IdempotencyHeader,
    id: Path<String>,
    body: JsonBody<DecisionBody>,
) -> Result<Answer<Decision>, ApiError> {
    decide(state, caller, key, id, body, false).await
}

async fn decide(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DecisionBody>,
    grant: bool,
) -> Result<Answer<Decision>, ApiError> {
    let approval_id = parse::path_id("approval", &id)?;
    let command = CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant, comment: body.comment });
    let committed = state.execute(&caller, &key, command).await?;
    let status = if grant { ApprovalDecision::Granted } else { ApprovalDecision::Rejected };
    Ok(Answer(StatusCode::OK, Decision { status: status.as_str().to_owned(), position: committed.position }))
}

#[derive(Deserialize)]
pub struct ApprovalQuery {
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalBody {
    pub id: String,
    pub book: String,
    pub kind: String,
    pub requested_by: String,
    /// The command the approval carries out once granted.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `pending`, `granted` or `rejected`.
    pub status: String,
    pub created_at: String,
    pub position: u64,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
}

impl From<ApprovalView> for ApprovalBody {
    fn from(view: ApprovalView) -> Self {
        ApprovalBody {
            id: view.id.to_string(),
            book: view.book.to_string(),
            kind: view.kind,
            requested_by: view.requested_by.to_string(),
            payload: view.proposal,
            status: view.status,
            created_at: view.created_at.to_rfc3339(),
            position: view.position,
            decided_by: view.decided_by.map(|id| id.to_string()),
            comment: view.comment,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalList {
    pub items: Vec<ApprovalBody>,
}

/// The approval inbox of the caller's org.
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals", security(("bearer" = [])),
    params(("status" = Option<String>, Query, description = "pending, granted or rejected")),
    responses((status = 200, body = ApprovalList), (status = 403, body = Problem)))]
pub async fn list_approvals(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(query): Params<ApprovalQuery>,
) -> Result<Read<ApprovalList>, ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::Forbidden("approvals are for the org's staff".to_owned()));
    }
    let items = state.read.approvals(caller.org_id(), query.status.as_deref()).await?;
    Ok(Read(position, ApprovalList { items: items.into_iter().map(ApprovalBody::from).collect() }))
}

#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ApprovalBody), (status = 404, body = Problem)))]
pub async fn get_approval(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<ApprovalBody>, ApiError> {
    let approval = state.read.approval(parse::path_id("approval", &id)?).await?;
    let approval = approval
        .filter(|approval| caller.is_super_admin() || (approval.book == caller.org_id() && caller.is_staff()))
        .ok_or(ApiError::NotFound { what: "approval" })?;
    Ok(Read(position, approval.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponBody {
    pub customer_id: String,
    pub amount: String,
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/coupons", tag = "money", request_body = CouponBody, security(("bearer" = [])),
    responses((status = 201, body = Position), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn grant_coupon(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<CouponBody>,
) -> Result<Answer<Position>, ApiError> {
    let command = CommandBody::Money(MoneyCommand::GrantCoupon {
        customer_id: parse::id("customer_id", &body.customer_id)?,
        amount: parse::amount("amount", &body.amount)?,
        reason: body.reason,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::CREATED, Position { position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalBody {
    pub customer_id: String,
    pub amount: String,
    /// `original` (back along the channel, at once) or `offline` (bank transfer, after approval).
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub route: WithdrawalRoute,
}

#[derive(Serialize, ToSchema)]
pub struct WithdrawalAnswer {
    pub id: String,
    /// `paid` or `pending_approval`.
    pub status: String,
    pub approval_id: Option<String>,
    pub position: u64,
}

#[utoipa::path(post, path = "/v1/withdrawals", tag = "money", request_body = WithdrawalBody, security(("bearer" = [])),
    responses((status = 201, body = WithdrawalAnswer), (status = 202, body = WithdrawalAnswer),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn withdraw(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<WithdrawalBody>,
) -> Result<Answer<WithdrawalAnswer>, ApiError> {
    let minter = Minter::new(&caller, &key, "withdrawals");
    let (withdrawal_id, approval_id): (WithdrawalId, ApprovalId) = (minter.id("withdrawal"), minter.id("approval"));
    let command = CommandBody::Money(MoneyCommand::Withdraw {
        withdrawal_id,
        approval_id,
        customer_id: parse::id("customer_id", &body.customer_id)?,
        amount: parse::amount("amount", &body.amount)?,
        route: body.route,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let paid = committed.find::<WithdrawalPaid>().is_some();
    let (status, answer) = if paid {
        (
            StatusCode::CREATED,
            WithdrawalAnswer {
                id: withdrawal_id.to_string(),
                status: RequestStatus::Paid.as_str().to_owned(),
                approval_id: None,
                position: committed.position,
            },
        )
    } else {
        (
            StatusCode::ACCEPTED,
            WithdrawalAnswer {
                id: withdrawal_id.to_string(),
                status: RequestStatus::PendingApproval.as_str().to_owned(),
                approval_id: Some(approval_id.to_string()),
                position: committed.position,
            },
        )
    };
    Ok(Answer(status, answer))
}
