//! `POST /v1/payments/notify/{channel}`: the channel's signed notification of an online
//! recharge. Unauthenticated (the signature is the authentication). A bad signature is a 400
//! and books nothing; a good one books once, however often the channel resends it (the trade
//! number is the idempotency key), and is answered `success`, as the channel expects.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use commands::IdempotencyKey;
use ledger_core::ids::{PrincipalId, RechargeId, TradeNumber};
use ledger_core::org::{Actor, Role};
use ledger_core::CommandBody;
use sha2::{Digest, Sha256};

use super::{parse, JsonBody};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::payments::{read_notification, verify, NotificationError};
use crate::state::SharedState;
use ledger_core::MoneyCommand;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/v1/payments/notify/{channel}", post(notify))
}

/// The body the channel expects when the notification is taken.
pub const ACKNOWLEDGEMENT: &str = "success";

/// A stable id derived from text: the same trade always gets the same recharge id.
fn derived_uuid(parts: &[&str]) -> uuid::Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn rejected(error: NotificationError) -> ApiError {
    ApiError::BadRequest { detail: format!("payment notification refused: {error}"), field: None }
}

async fn fields(request: Request, state: &SharedState) -> Result<BTreeMap<String, String>, ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        let JsonBody(map) = JsonBody::<BTreeMap<String, serde_json::Value>>::from_request(request, state).await?;
        Ok(map
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect())
    } else {
        let Form(map) = Form::<BTreeMap<String, String>>::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::bad_request(format!("invalid form body: {rejection}")))?;
        Ok(map)
    }
}

/// A payment channel's signed notification of an online recharge.
#[utoipa::path(post, path = "/v1/payments/notify/{channel}", tag = "money",
    params(("channel" = String, Path, description = "a configured payment channel, e.g. alipay")),
    request_body(content = BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "trade_no, out_trade_no, total_amount, trade_status, passback_params (customer id), sign_type=RSA2, sign"),
    responses((status = 200, description = "`success`", content_type = "text/plain"),
        (status = 400, body = Problem, description = "bad signature or fields; nothing booked"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn notify(
    State(state): State<SharedState>,
    Path(channel): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let result = take(&state, &channel, request).await;
    state.metrics.count_payment(match &result {
        Ok(()) => "booked",
        Err(ApiError::BadRequest { .. }) => "refused",
        Err(_) => "failed",
    });
    result?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], ACKNOWLEDGEMENT).into_response())
}

async fn take(state: &SharedState, channel: &str, request: Request) -> Result<(), ApiError> {
    let key = state.payment_keys.get(channel).ok_or(ApiError::NotFound { what: "payment channel" })?;
    let fields = fields(request, state).await?;
    verify(key, &fields).map_err(rejected)?;
    let notification = read_notification(&fields).map_err(rejected)?;
    if !notification.paid {
        return Ok(());
    }
    let customer_id = parse::id("passback_params", &notification.customer_id)?;
    let amount = parse::positive_amount("total_amount", &notification.total_amount)?;
    let trade_number = TradeNumber::try_from(notification.trade_number.clone())
        .map_err(|reason| ApiError::invalid("invalid_field", "trade_no", reason))?;
    // The seller of the customer confirms, as its finance would: the decider books the
    // recharge in the seller's book and refuses a customer confirming its own payment.
    let customer = state.read.org(customer_id).await?.ok_or(ApiError::NotFound { what: "customer" })?;
    let seller = customer.parent_id.ok_or(ApiError::NotFound { what: "customer" })?;
    let principal = PrincipalId(derived_uuid(&["payment-channel", channel]));
    let caller = Caller::internal(Actor::new(seller, principal, [Role::Finance]));
    let command = CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
        recharge_id: RechargeId(derived_uuid(&["recharge", channel, trade_number.as_str()])),
        customer_id,
        amount,
        channel: channel.to_owned(),
        trade_number,
    });
    let key = IdempotencyKey::try_from(format!("notify:{channel}:{}", notification.trade_number).as_str()).ok();
    state.execute(&caller, &key, command).await?;
    Ok(())
}
