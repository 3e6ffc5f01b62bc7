//! Money in and out of wallets: recharges and their reversal, approvals, coupons, withdrawals.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ledger_core::event::{
    ApprovalLevelGranted, ApprovalRequested, RechargeMethod, VoucherExpired, VoucherGranted, WithdrawalPaid,
    WithdrawalRequested, WithdrawalRoute,
};
use ledger_core::ids::{ApprovalId, RechargeId, WithdrawalId};
use ledger_core::state::Decision as ApprovalDecision;
use ledger_core::CommandBody;
use projections::{ApprovalView, MovementView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read, RequestStatus};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, Payload, SharedState};
use ledger_core::{ApprovalCommand, MoneyCommand};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/recharges", post(request_recharge))
        .route("/v1/recharges/{id}/reversal", post(request_reversal))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", get(get_approval))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/reject", post(reject))
        .route("/v1/recharges/{id}", get(get_recharge))
        .route("/v1/coupons", post(grant_coupon))
        .route("/v1/coupons/{id}", get(get_coupon))
        .route("/v1/withdrawals", post(withdraw))
        .route("/v1/withdrawals/{id}", get(get_withdrawal))
        .route("/v1/customers/{id}/vouchers/expire", post(expire_vouchers))
        .route("/v1/customers/{id}/low-balance-threshold", axum::routing::put(set_low_balance_threshold))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RechargeBody {
    pub customer_id: String,
    pub amount: String,
    /// `online`, `offline` or `transfer`; an online recharge is booked when the payment
    /// channel's notification pays it.
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

/// A recharge that waits for no approval. An online one is expected (`awaiting_payment`): the
/// customer pays it through a payment channel of the book with `out_trade_no` = `id` and
/// `total_amount` = `amount`, and the channel's notification books it (`POST
/// /v1/payments/notify/{channel}`). An offline or transfer one at or below the book's threshold
/// (its approval policy) is booked at once (`confirmed`).
#[derive(Serialize, ToSchema)]
pub struct RechargeAnswer {
    pub id: String,
    /// `awaiting_payment` or `confirmed`.
    pub status: String,
    pub amount: String,
    pub position: u64,
}

/// Request a recharge: offline or transfer waits for approval (202), unless the book's approval
/// policy lets its amount through (201, confirmed); online waits for the payment channel's
/// notification of exactly its amount (201).
#[utoipa::path(post, path = "/v1/recharges", tag = "money", request_body = RechargeBody, security(("bearer" = [])),
    responses((status = 201, body = RechargeAnswer,
            description = "an online recharge awaiting its payment, or one the policy lets through, confirmed"),
        (status = 202, body = Pending), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn request_recharge(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<RechargeBody>,
) -> Result<Response, ApiError> {
    let minter = Minter::new(&caller, &key, "recharges");
    let (recharge_id, approval_id): (RechargeId, ApprovalId) = (minter.id("recharge"), minter.id("approval"));
    let method = body.method;
    let amount = parse::amount("amount", &body.amount)?;
    let command = CommandBody::Money(MoneyCommand::RequestRecharge {
        recharge_id,
        approval_id,
        customer_id: parse::id("customer_id", &body.customer_id)?,
        amount,
        method,
        reference: body.reference,
    });
    let committed = state.execute(&caller, &key, command).await?;
    if committed.find::<ApprovalRequested>().is_some() {
        return Ok(Answer(StatusCode::ACCEPTED, pending(recharge_id, approval_id, committed.position)).into_response());
    }
    let status = if method == RechargeMethod::Online {
        projections::projection::movements::AWAITING_PAYMENT
    } else {
        RequestStatus::Confirmed.as_str()
    };
    let answer = RechargeAnswer {
        id: recharge_id.to_string(),
        status: status.to_owned(),
        amount: amount.to_string(),
        position: committed.position,
    };
    Ok(Answer(StatusCode::CREATED, answer).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    pub reason: String,
}

/// Request the reversal of a confirmed recharge (waits for approval).
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
    /// `granted` (the last level: carried out), `pending` (a level granted, the next one waits)
    /// or `rejected`.
    pub status: String,
    pub position: u64,
}

/// Grant the level an approval waits at: by a person of its book holding one of that level's
/// roles (admin or finance by default), never the requester nor an earlier level's approver. The
/// last level's grant carries the approval out.
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "approvals", request_body = DecisionBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Decision), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 403, body = Problem, description = "approval_level_role: a role of another level"),
        (status = 422, body = Problem, description = "self_approval, repeat_approver, insufficient_balance, ...")))]
pub async fn approve(
    state: State<SharedState>,
    caller: Caller,
    key: IdempotencyHeader,
    id: Path<String>,
    body: JsonBody<DecisionBody>,
) -> Result<Answer<Decision>, ApiError> {
    decide(state, caller, key, id, body, true).await
}

/// Reject an approval at the level it waits at (by whoever may grant that level), with an
/// optional comment: it ends the approval.
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
    decide_as(&state, &caller, &key, approval_id, grant, body.comment).await
}

/// Decides the level an approval waits at as `caller` (a token's, or the approval callback's
/// user): granted, still pending (a level granted, the next waits), or rejected.
pub async fn decide_as(
    state: &SharedState,
    caller: &Caller,
    key: &Option<commands::IdempotencyKey>,
    approval_id: ApprovalId,
    grant: bool,
    comment: Option<String>,
) -> Result<Answer<Decision>, ApiError> {
    let command = CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant, comment });
    let committed = state.execute(caller, key, command).await?;
    let status = if committed.find::<ApprovalLevelGranted>().is_some() {
        ApprovalDecision::Pending
    } else if grant {
        ApprovalDecision::Granted
    } else {
        ApprovalDecision::Rejected
    };
    Ok(Answer(StatusCode::OK, Decision { status: status.as_str().to_owned(), position: committed.position }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalQuery {
    pub status: Option<ApprovalStatus>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// `status=`: an approval's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Granted,
    Rejected,
}

impl ApprovalStatus {
    fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Granted => ApprovalDecision::Granted.as_str(),
            ApprovalStatus::Rejected => ApprovalDecision::Rejected.as_str(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalBody {
    pub id: String,
    pub book: String,
    pub kind: String,
    /// The person (user id) who asked; for a token issued before users, the token's id.
    pub requested_by: String,
    /// The token they asked with.
    pub requested_by_token: String,
    /// The command the approval carries out once granted.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `pending`, `granted` or `rejected`.
    pub status: String,
    pub created_at: String,
    pub position: u64,
    /// The person (user id) who decided; for a token issued before users, the token's id.
    pub decided_by: Option<String>,
    /// The token they decided with.
    pub decided_by_token: Option<String>,
    pub comment: Option<String>,
    /// What the approval would book, when it books a wallet movement: the recharge or the
    /// withdrawal it waits for, with its amount, customer and reference.
    pub subject: Option<MovementBody>,
    /// The levels it passes, in order, each the roles any of which its approver holds (its
    /// book's approval policy when it was requested; one level, admin or finance, by default).
    pub levels: Vec<Vec<String>>,
    /// The level it waits at (from 1); once decided, the level it was decided at.
    pub current_level: u64,
    /// The approval policy's action it falls under, when its book's policy routed it.
    pub action: Option<String>,
    /// Its decisions, level by level: each granted level, then the last grant or the rejection.
    pub decisions: Vec<ApprovalDecisionBody>,
}

/// One decision of an approval.
#[derive(Serialize, ToSchema)]
pub struct ApprovalDecisionBody {
    pub level: u64,
    /// `granted` or `rejected`.
    pub decision: String,
    /// The person (user id) who decided; for a token issued before users, the token's id.
    pub decided_by: String,
    /// The token they decided with.
    pub decided_by_token: String,
    pub comment: Option<String>,
    pub decided_at: String,
    pub position: u64,
}

impl From<ApprovalView> for ApprovalBody {
    fn from(view: ApprovalView) -> Self {
        ApprovalBody {
            subject: None,
            id: view.id.to_string(),
            book: view.book.to_string(),
            kind: view.kind,
            requested_by: view.requested_by_user.map_or_else(|| view.requested_by.to_string(), |user| user.to_string()),
            requested_by_token: view.requested_by.to_string(),
            payload: view.proposal,
            status: view.status,
            created_at: view.created_at.to_rfc3339(),
            position: view.position,
            decided_by: view
                .decided_by
                .map(|token| view.decided_by_user.map_or_else(|| token.to_string(), |user| user.to_string())),
            decided_by_token: view.decided_by.map(|token| token.to_string()),
            comment: view.comment,
            levels: view.levels.iter().map(|level| level.iter().map(|role| super::json_text(role)).collect()).collect(),
            current_level: view.current_level,
            action: view.action,
            decisions: view
                .decisions
                .into_iter()
                .map(|decision| ApprovalDecisionBody {
                    level: decision.level,
                    decision: decision.decision,
                    decided_by: decision
                        .decided_by_user
                        .map_or_else(|| decision.decided_by.to_string(), |user| user.to_string()),
                    decided_by_token: decision.decided_by.to_string(),
                    comment: decision.comment,
                    decided_at: decision.decided_at.to_rfc3339(),
                    position: decision.position,
                })
                .collect(),
        }
    }
}

/// The approval inbox of the caller's org, newest first.
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals", security(("bearer" = [])),
    params(("status" = Option<String>, Query, description = "pending, granted or rejected"),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<ApprovalBody>), (status = 403, body = Problem)))]
pub async fn list_approvals(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(query): Params<ApprovalQuery>,
) -> Result<Read<Page<ApprovalBody>>, ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::Forbidden("approvals are for the org's staff".to_owned()));
    }
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let status = query.status.map(ApprovalStatus::as_str);
    let page = state.read.approvals(caller.org_id(), status, paging.cursor.as_deref(), paging.limit).await?;
    let mut page = Page::of(page, paging, ApprovalBody::from);
    for approval in &mut page.items {
        approval.subject = subject(&state, &approval.id).await?;
    }
    Ok(Read(position, page))
}

/// An approval with what it would book.
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
    let mut body = ApprovalBody::from(approval);
    body.subject = subject(&state, &body.id).await?;
    Ok(Read(position, body))
}

/// The wallet movement an approval waits for, if it waits for one.
async fn subject(state: &SharedState, approval_id: &str) -> Result<Option<MovementBody>, ApiError> {
    let Ok(approval_id) = approval_id.parse() else { return Ok(None) };
    match state.read.movement_by_approval(approval_id).await? {
        Some(movement) => Ok(Some(movement_body(state, movement).await?)),
        None => Ok(None),
    }
}

/// A recharge, a withdrawal or a coupon: what it moved, for whom, why, and the positions of the
/// events that requested, booked and reversed it (`GET /v1/events/{position}` shows their entries).
#[derive(Serialize, ToSchema)]
pub struct MovementBody {
    /// `recharge`, `withdrawal` or `coupon`.
    pub kind: String,
    /// The recharge's or withdrawal's id; a coupon's is the position of its grant.
    pub id: String,
    pub customer_id: String,
    pub customer_name: Option<String>,
    /// The book the movement is booked in (the customer's seller).
    pub book: String,
    pub amount: String,
    pub currency: String,
    /// A recharge's method (`online`, `offline`, `transfer`), a withdrawal's route (`original`, `offline`).
    pub channel: Option<String>,
    /// A recharge's reference, a coupon's reason.
    pub reference: Option<String>,
    /// `requested`, `awaiting_payment` (an online recharge), `rejected`, `confirmed`, `reversed`, `paid` or `granted`.
    pub status: String,
    pub approval_id: Option<String>,
    /// An online recharge's trade number at its payment channel.
    pub trade_number: Option<String>,
    pub requested_at: String,
    pub requested_position: u64,
    pub booked_position: Option<u64>,
    pub reversed_position: Option<u64>,
    pub reversal_reason: Option<String>,
}

async fn movement_body(state: &SharedState, view: MovementView) -> Result<MovementBody, ApiError> {
    let customer = state.read.org(view.customer_id).await?;
    // A movement's customer is in the read models before it (orgs come first): none is a bug.
    let currency = customer
        .as_ref()
        .map(|customer| customer.currency.to_string())
        .ok_or_else(|| ApiError::Internal(format!("the customer of movement {} is not in the read models", view.id)))?;
    Ok(MovementBody {
        kind: view.kind,
        id: view.id,
        customer_id: view.customer_id.to_string(),
        customer_name: customer.as_ref().map(|customer| customer.name.clone()),
        book: view.book.to_string(),
        amount: view.amount.to_string(),
        currency,
        channel: view.channel,
        reference: view.reference,
        status: view.status,
        approval_id: view.approval_id.map(|id| id.to_string()),
        trade_number: view.trade_number,
        requested_at: view.requested_at.to_rfc3339(),
        requested_position: view.requested_position,
        booked_position: view.booked_position,
        reversed_position: view.reversed_position,
        reversal_reason: view.reversal_reason,
    })
}

/// A movement the caller may read: its customer's, the staff of the book it is booked in, or
/// the `super_admin`. Anything else is not found.
async fn readable_movement(
    state: &SharedState,
    caller: &Caller,
    kind: &'static str,
    id: &str,
) -> Result<MovementBody, ApiError> {
    let view = state.read.movement(kind, id).await?;
    let view = view
        .filter(|view| {
            caller.is_super_admin()
                || view.customer_id == caller.org_id()
                || (view.book == caller.org_id() && caller.is_staff())
        })
        .ok_or(ApiError::NotFound { what: kind })?;
    if !super::orgs::customer_in_scope(state, caller, view.customer_id).await? {
        return Err(ApiError::NotFound { what: kind });
    }
    movement_body(state, view).await
}

/// A recharge: requested (awaiting approval), awaiting payment (online), rejected, confirmed or reversed.
#[utoipa::path(get, path = "/v1/recharges/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = MovementBody), (status = 404, body = Problem)))]
pub async fn get_recharge(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<MovementBody>, ApiError> {
    let id: RechargeId = parse::path_id("recharge", &id)?;
    Ok(Read(position, readable_movement(&state, &caller, "recharge", &id.to_string()).await?))
}

/// A withdrawal: requested (awaiting approval), rejected or paid.
#[utoipa::path(get, path = "/v1/withdrawals/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = MovementBody), (status = 404, body = Problem)))]
pub async fn get_withdrawal(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<MovementBody>, ApiError> {
    let id: WithdrawalId = parse::path_id("withdrawal", &id)?;
    Ok(Read(position, readable_movement(&state, &caller, "withdrawal", &id.to_string()).await?))
}

/// A coupon, by the id its grant answered (the position of the grant).
#[utoipa::path(get, path = "/v1/coupons/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = MovementBody), (status = 404, body = Problem)))]
pub async fn get_coupon(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<MovementBody>, ApiError> {
    let id: u64 = parse::path_id("coupon", &id)?;
    Ok(Read(position, readable_movement(&state, &caller, "coupon", &id.to_string()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponBody {
    pub customer_id: String,
    pub amount: String,
    pub reason: String,
    /// A date (`YYYY-MM-DD`) after the accounting date: from that day on, what is left of the
    /// coupon cannot be spent and is booked out. None: it does not expire.
    pub expires_on: Option<String>,
}

/// Grant a customer a coupon: voucher credit (代金券, 2203.01), apart from cash. Vouchers are
/// spent on purchases (orders paid from balance, usage charges, renewals) before cash, earliest
/// expiry first (those without one last), then the oldest grant; they are never withdrawn. Above
/// the book's threshold for coupons (its approval policy) it waits for approval (202); once
/// granted its id is its grant's position.
#[utoipa::path(post, path = "/v1/coupons", tag = "money", request_body = CouponBody, security(("bearer" = [])),
    responses((status = 201, body = CouponGrantedBody), (status = 202, body = CouponPending),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn grant_coupon(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<CouponBody>,
) -> Result<Response, ApiError> {
    let approval_id: ApprovalId = Minter::new(&caller, &key, "coupons").id("approval");
    let command = CommandBody::Money(MoneyCommand::GrantCoupon {
        customer_id: parse::id("customer_id", &body.customer_id)?,
        amount: parse::amount("amount", &body.amount)?,
        reason: body.reason,
        approval_id,
        expires_on: body.expires_on.as_deref().map(|date| parse::date("expires_on", date)).transpose()?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    if committed.find::<ApprovalRequested>().is_some() {
        let answer = CouponPending {
            approval_id: approval_id.to_string(),
            status: RequestStatus::PendingApproval.as_str().to_owned(),
            position: committed.position,
        };
        return Ok(Answer(StatusCode::ACCEPTED, answer).into_response());
    }
    // A coupon is known by the position of its grant (after the voucher account's opening,
    // when it is the book's first).
    let grant = committed
        .events
        .iter()
        .find(|event| VoucherGranted::of(&event.event.payload).is_some())
        .map_or(committed.position, |event| event.position);
    let answer = CouponGrantedBody { id: grant.to_string(), position: committed.position };
    Ok(Answer(StatusCode::CREATED, answer).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct CouponGrantedBody {
    /// The coupon's id (`GET /v1/coupons/{id}`): the position of its grant.
    pub id: String,
    pub position: u64,
}

/// A coupon waiting for its approval: granted, it is known by its grant's position.
#[derive(Serialize, ToSchema)]
pub struct CouponPending {
    pub approval_id: String,
    /// `pending_approval`.
    pub status: String,
    pub position: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalBody {
    pub customer_id: String,
    pub amount: String,
    /// `original` (back through an online channel, at once, at most what came in through it;
    /// the rest offline, after approval) or `offline` (bank transfer, after approval).
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub route: WithdrawalRoute,
    /// `original` only: the online channel to pay back through; by default the customer's
    /// channel with the most to give back.
    pub channel: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WithdrawalAnswer {
    pub id: String,
    /// `paid` or `pending_approval`.
    pub status: String,
    /// What `id` pays back (`paid`) or waits to pay (`pending_approval`).
    pub amount: String,
    /// The online channel a paid `original` withdrawal went back through.
    pub channel: Option<String>,
    pub approval_id: Option<String>,
    /// An `original` withdrawal beyond what the channel may take back: the offline withdrawal of
    /// the rest, waiting for `approval_id`.
    pub offline: Option<OfflineRest>,
    pub position: u64,
}

#[derive(Serialize, ToSchema)]
pub struct OfflineRest {
    pub id: String,
    pub amount: String,
    /// `pending_approval`.
    pub status: String,
}

/// Withdraw cash (never vouchers) from a customer's wallet: `original` pays back at once
/// through an online channel at most what came in through it (online recharges and online
/// order payments, less reversals and earlier `original` withdrawals), the rest goes offline
/// and waits for approval; `offline` waits for approval. More than the available cash is 422
/// `insufficient_balance` naming `amount`.
#[utoipa::path(post, path = "/v1/withdrawals", tag = "money", request_body = WithdrawalBody, security(("bearer" = [])),
    responses((status = 201, body = WithdrawalAnswer, description = "paid back through the channel, all of it or part (`offline`: the rest)"),
        (status = 202, body = WithdrawalAnswer, description = "all of it waits for approval"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn withdraw(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<WithdrawalBody>,
) -> Result<Answer<WithdrawalAnswer>, ApiError> {
    let minter = Minter::new(&caller, &key, "withdrawals");
    let (withdrawal_id, approval_id): (WithdrawalId, ApprovalId) = (minter.id("withdrawal"), minter.id("approval"));
    let offline_withdrawal_id: WithdrawalId = minter.id("offline_withdrawal");
    let command = CommandBody::Money(MoneyCommand::Withdraw {
        withdrawal_id,
        approval_id,
        customer_id: parse::id("customer_id", &body.customer_id)?,
        amount: parse::amount("amount", &body.amount)?,
        route: body.route,
        channel: body.channel,
        offline_withdrawal_id,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let requested = committed.find::<WithdrawalRequested>();
    let pending = RequestStatus::PendingApproval.as_str();
    let answer = match committed.find::<WithdrawalPaid>() {
        Some(paid) => WithdrawalAnswer {
            id: withdrawal_id.to_string(),
            status: RequestStatus::Paid.as_str().to_owned(),
            amount: paid.amount.to_string(),
            channel: paid.channel.clone(),
            approval_id: requested.map(|rest| rest.approval_id.to_string()),
            offline: requested.map(|rest| OfflineRest {
                id: rest.withdrawal_id.to_string(),
                amount: rest.amount.to_string(),
                status: pending.to_owned(),
            }),
            position: committed.position,
        },
        None => {
            let rest = committed.event::<WithdrawalRequested>()?;
            let answer = WithdrawalAnswer {
                id: withdrawal_id.to_string(),
                status: pending.to_owned(),
                amount: rest.amount.to_string(),
                channel: None,
                approval_id: Some(approval_id.to_string()),
                offline: None,
                position: committed.position,
            };
            return Ok(Answer(StatusCode::ACCEPTED, answer));
        }
    };
    Ok(Answer(StatusCode::CREATED, answer))
}

#[derive(Serialize, ToSchema)]
pub struct VouchersExpired {
    pub customer_id: String,
    /// What was booked out (0.00 when nothing was due).
    pub expired: String,
    /// The coupons (ids: the positions of their grants) booked out, with what was left of each.
    pub coupons: Vec<ExpiredCoupon>,
    pub position: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ExpiredCoupon {
    pub id: String,
    pub expires_on: Option<String>,
    pub amount: String,
}

/// Book out a customer's vouchers past their expiry (the seller's finance; a settlement run
/// may call it for every customer). Each expired voucher is also booked out by the customer's
/// next purchase, usage charge, renewal or refund; until then it cannot be spent either.
#[utoipa::path(post, path = "/v1/customers/{id}/vouchers/expire", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = VouchersExpired), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn expire_vouchers(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
) -> Result<Answer<VouchersExpired>, ApiError> {
    let customer_id = parse::path_id("customer", &id)?;
    let command = CommandBody::Money(MoneyCommand::ExpireVouchers { customer_id });
    let committed = state.execute(&caller, &key, command).await?;
    let expired = committed.find::<VoucherExpired>();
    let coupons = expired
        .map(|expired| {
            expired
                .slices
                .iter()
                .map(|slice| ExpiredCoupon {
                    id: slice.coupon.to_string(),
                    expires_on: slice.expires_on.map(|date| date.to_string()),
                    amount: slice.amount.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let body = VouchersExpired {
        customer_id: customer_id.to_string(),
        expired: expired.map_or_else(|| "0.00".to_owned(), |expired| expired.amount.to_string()),
        coupons,
        position: committed.position,
    };
    Ok(Answer(StatusCode::OK, body))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LowBalanceThresholdBody {
    /// A notice goes to the customer's seller (its book's webhook) each time the wallet (cash and
    /// vouchers) falls below it, once per crossing; null clears it.
    pub threshold: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LowBalanceThresholdSetBody {
    pub customer_id: String,
    /// Null: cleared.
    pub threshold: Option<String>,
    pub position: u64,
}

/// Set (or clear, with null) a customer's low-balance threshold: the customer itself, or its
/// seller's staff (`low_balance.write`). An event: the live monitors notify each crossing.
#[utoipa::path(put, path = "/v1/customers/{id}/low-balance-threshold", tag = "money",
    request_body = LowBalanceThresholdBody, security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = LowBalanceThresholdSetBody), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_low_balance_threshold(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LowBalanceThresholdBody>,
) -> Result<Answer<LowBalanceThresholdSetBody>, ApiError> {
    let customer_id = parse::path_id("customer", &id)?;
    let threshold = body.threshold.as_deref().map(|text| parse::amount("threshold", text)).transpose()?;
    let command = CommandBody::Money(MoneyCommand::SetLowBalanceThreshold { customer_id, threshold });
    let committed = state.execute(&caller, &key, command).await?;
    let set: &ledger_core::event::LowBalanceThresholdSet = committed.event()?;
    let answer = LowBalanceThresholdSetBody {
        customer_id: set.customer_id.to_string(),
        threshold: set.threshold.map(|threshold| threshold.to_string()),
        position: committed.position,
    };
    Ok(Answer(StatusCode::OK, answer))
}
