//! `POST /v1/payments/notify/{channel}`: the channel's signed notification of a payment.
//! Unauthenticated (the signature is the authentication). A bad signature, a missing field or
//! another merchant's `app_id` or `seller_id` is a 400 and books nothing. A good one is booked in
//! the book that owns the channel, only if it pays what that book expects under its
//! `out_trade_no` (an online recharge requested first, or an order placed first) for exactly its
//! amount: anything else is a 422 `unexpected_payment` and books nothing. It books once, however
//! often the channel resends it (the trade number is the idempotency key), and is answered
//! `success`, as the channel expects.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use commands::IdempotencyKey;
use ledger_core::ids::{PrincipalId, RechargeId, TradeNumber};
use ledger_core::org::{Actor, Role};
use ledger_core::{CommandBody, DomainError};
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
        description = "app_id, seller_id (the channel's), trade_no, out_trade_no (the id of the online recharge or order it pays), total_amount (its amount), trade_status, sign_type=RSA2, sign"),
    responses((status = 200, description = "`success`", content_type = "text/plain"),
        (status = 400, body = Problem, description = "bad signature, a missing field, another merchant's app_id or seller_id; nothing booked"),
        (status = 404, body = Problem),
        (status = 422, body = Problem, description = "unexpected_payment: nothing of the channel's book awaits this payment of this amount; nothing booked")))]
pub async fn notify(
    State(state): State<SharedState>,
    Path(channel): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let result = take(&state, &channel, request).await;
    state.metrics.count_payment(match &result {
        Ok(()) => "booked",
        Err(ApiError::BadRequest { .. } | ApiError::Domain(_) | ApiError::Invalid { .. }) => "refused",
        Err(_) => "failed",
    });
    result?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], ACKNOWLEDGEMENT).into_response())
}

async fn take(state: &SharedState, channel: &str, request: Request) -> Result<(), ApiError> {
    let not_found = || ApiError::NotFound { what: "payment channel" };
    let key = state.payment_keys.get(channel).ok_or_else(not_found)?;
    let settings = state.settings.payment_channels.get(channel).ok_or_else(not_found)?;
    let book = settings.book.ok_or_else(not_found)?;
    let fields = fields(request, state).await?;
    verify(key, &fields).map_err(rejected)?;
    let notification = read_notification(settings, &fields).map_err(rejected)?;
    if !notification.paid {
        return Ok(());
    }
    let amount = parse::positive_amount("total_amount", &notification.total_amount)?;
    let trade_number = TradeNumber::try_from(notification.trade_number.clone())
        .map_err(|reason| ApiError::invalid("invalid_field", "trade_no", reason))?;
    // What the payment is for is the ledger's to find; an id that is no UUID names nothing.
    let payment_id = notification.out_trade_number.parse::<uuid::Uuid>().map_err(|_| {
        ApiError::Domain(DomainError::UnexpectedPayment {
            reason: format!("out_trade_no {:?} names no online recharge or order", notification.out_trade_number),
        })
    })?;
    // The book that owns the channel confirms, as its finance would: the decider matches the
    // payment against what that book expects, and books it there.
    let principal = PrincipalId(derived_uuid(&["payment-channel", channel]));
    let caller = Caller::internal(Actor::new(book, principal, [Role::Finance]));
    let command = CommandBody::Money(MoneyCommand::ConfirmOnlinePayment {
        payment_id,
        recharge_id: RechargeId(derived_uuid(&["recharge", channel, trade_number.as_str()])),
        amount,
        channel: channel.to_owned(),
        trade_number,
    });
    let key = IdempotencyKey::try_from(format!("notify:{channel}:{}", notification.trade_number).as_str()).ok();
    state.execute(&caller, &key, command).await?;
    Ok(())
}
