//! Serial codes (序列号): package prices, distributor tiers and their rates, issuing batches to
//! distributors, and activation by a user.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::Router;
use ledger_core::command::SERIAL_BATCH_MAX;
use ledger_core::event::{SerialCodesIssued, SerialExpirySet};
use ledger_core::ids::{SerialBatchId, SerialCode};
use ledger_core::org::DistributorTier;
use ledger_core::CommandBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::catalog::{Position, RateBody};
use super::{parse, Answer, IdempotencyHeader, JsonBody, Minter};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};
use ledger_core::SerialCommand;

/// The length of a generated serial code.
pub const SERIAL_CODE_LENGTH: usize = 16;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/serial-codes/packages/{days}", put(set_package_price))
        .route("/v1/serial-codes/tiers/{tier}", put(set_tier_rate))
        .route("/v1/orgs/{id}/tier", put(set_distributor_tier))
        .route("/v1/serial-codes/batches", post(issue_batch))
        .route("/v1/serial-codes/batches/{id}/expiry", put(set_batch_expiry))
        .route("/v1/serial-codes/{code}/activate", post(activate))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackagePriceBody {
    pub list_price: String,
}

/// Set the price of a serial-code package of some days.
#[utoipa::path(put, path = "/v1/serial-codes/packages/{days}", tag = "serial codes", request_body = PackagePriceBody,
    security(("bearer" = [])), params(("days" = u32, Path, description = "3, 5, 30, 180 or 360")),
    responses((status = 200, body = Position), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_package_price(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(days): Path<String>,
    JsonBody(body): JsonBody<PackagePriceBody>,
) -> Result<Answer<Position>, ApiError> {
    let days: u32 = days.parse().map_err(|_| ApiError::NotFound { what: "package" })?;
    let list_price = parse::amount("list_price", &body.list_price)?;
    let committed = state
        .execute(&caller, &key, CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days, list_price }))
        .await?;
    Ok(Answer(StatusCode::OK, Position { position: committed.position }))
}

/// Set the rate of a distributor tier.
#[utoipa::path(put, path = "/v1/serial-codes/tiers/{tier}", tag = "serial codes", request_body = RateBody,
    security(("bearer" = [])), params(("tier" = String, Path, description = "gold, platinum or diamond")),
    responses((status = 200, body = Position), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_tier_rate(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(tier_name): Path<String>,
    JsonBody(body): JsonBody<RateBody>,
) -> Result<Answer<Position>, ApiError> {
    let command = CommandBody::Serial(SerialCommand::SetSerialTierRate {
        tier: parse::choice::<DistributorTier>("tier", &tier_name)?,
        rate: parse::rate("rate", &body.rate)?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, Position { position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    /// `gold`, `platinum` or `diamond`.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub tier: DistributorTier,
}

/// Set a distributor's serial-code tier.
#[utoipa::path(put, path = "/v1/orgs/{id}/tier", tag = "serial codes", request_body = TierBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Position), (status = 404, body = Problem)))]
pub async fn set_distributor_tier(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TierBody>,
) -> Result<Answer<Position>, ApiError> {
    let command = CommandBody::Serial(SerialCommand::SetDistributorTier {
        distributor_id: parse::path_id("org", &id)?,
        tier: body.tier,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, Position { position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    pub distributor_id: String,
    /// The package: 3, 5, 30, 180 or 360 days.
    pub days: u32,
    /// Codes to generate, 1..=1000.
    pub count: usize,
    /// The last day the codes may be activated (today or later); none: they never expire. Past
    /// it, the clock books the codes never activated out of 2205 into 6051.
    pub expires_on: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchIssued {
    pub batch_id: String,
    pub codes: Vec<String>,
    pub unit_price: String,
    pub total: String,
    pub expires_on: Option<String>,
    pub position: u64,
}

/// Issue a batch of serial codes to a distributor.
#[utoipa::path(post, path = "/v1/serial-codes/batches", tag = "serial codes", request_body = BatchBody,
    security(("bearer" = [])),
    responses((status = 201, body = BatchIssued), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_batch(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<BatchBody>,
) -> Result<Answer<BatchIssued>, ApiError> {
    if !(1..=SERIAL_BATCH_MAX).contains(&body.count) {
        return Err(ApiError::invalid("invalid_field", "count", format!("must be 1..={SERIAL_BATCH_MAX}")));
    }
    let batch_id: SerialBatchId = Minter::new(&caller, &key, "serial-batches").id("batch");
    // Drawn anew for every request, even a retry: what it is answered is the stored event's.
    let drawn = Minter::random();
    let codes = (0..body.count)
        .map(|index| SerialCode::try_from(drawn.code(&format!("code-{index}"), SERIAL_CODE_LENGTH)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::Internal)?;
    let command = CommandBody::Serial(SerialCommand::IssueSerialCodes {
        batch_id,
        distributor_id: parse::id("distributor_id", &body.distributor_id)?,
        days: body.days,
        codes,
        expires_on: parse::optional_date("expires_on", &body.expires_on)?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let issued: &SerialCodesIssued = committed.event()?;
    Ok(Answer(
        StatusCode::CREATED,
        BatchIssued {
            batch_id: issued.batch_id.to_string(),
            codes: issued.codes.iter().map(|code| code.to_string()).collect(),
            unit_price: issued.unit_price.to_string(),
            total: issued.total.to_string(),
            expires_on: committed.find::<SerialExpirySet>().and_then(|set| set.expires_on).map(|day| day.to_string()),
            position: committed.position,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpiryBody {
    /// The last day the batch's codes may be activated (today or later), or null: never.
    pub expires_on: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExpirySetBody {
    pub batch_id: String,
    pub expires_on: Option<String>,
    pub position: u64,
}

/// Moves a batch's expiry (the platform's staff who issue codes); codes already expired stay so.
#[utoipa::path(put, path = "/v1/serial-codes/batches/{id}/expiry", tag = "serial codes", request_body = ExpiryBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ExpirySetBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_batch_expiry(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ExpiryBody>,
) -> Result<Answer<ExpirySetBody>, ApiError> {
    let batch_id: SerialBatchId = parse::path_id("serial batch", &id)?;
    let expires_on = parse::optional_date("expires_on", &body.expires_on)?;
    let command = CommandBody::Serial(SerialCommand::SetSerialExpiry { batch_id, expires_on });
    let committed = state.execute(&caller, &key, command).await?;
    let set: &SerialExpirySet = committed.event()?;
    Ok(Answer(
        StatusCode::OK,
        ExpirySetBody {
            batch_id: set.batch_id.to_string(),
            expires_on: set.expires_on.map(|day| day.to_string()),
            position: committed.position,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    pub customer_id: String,
}

/// Activate a serial code for a customer.
#[utoipa::path(post, path = "/v1/serial-codes/{code}/activate", tag = "serial codes", request_body = ActivateBody,
    security(("bearer" = [])), params(("code" = String, Path)),
    responses((status = 200, body = Position), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn activate(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<ActivateBody>,
) -> Result<Answer<Position>, ApiError> {
    let code = SerialCode::try_from(code).map_err(|_| ApiError::NotFound { what: "serial code" })?;
    let command = CommandBody::Serial(SerialCommand::ActivateSerialCode {
        code,
        customer_id: parse::id("customer_id", &body.customer_id)?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, Position { position: committed.position }))
}
