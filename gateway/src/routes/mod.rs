//! The HTTP routes, one file per area, and what they share: the caller, JSON body, query and
//! idempotency-key extractors, read freshness (`min_position`, `Kboss-Position`), id minting and
//! the parsing of fields at the boundary. Commands go through [`crate::state::AppState::execute`].
//!
//! A field that takes one word of a closed set is a serde enum (`#[serde(rename_all =
//! "snake_case")]`, the core's own where it has one): serde refuses another word while reading
//! the body or the query, and the refusal is the 422 `invalid_field` naming the field
//! ([`ApiError::unknown_choice`]); other bad bodies are 400s.

pub mod audit;
pub mod back_office;
pub mod catalog;
pub mod finance;
pub mod money;
pub mod operations;
pub mod ops;
pub mod orders;
pub mod orgs;
pub mod ownership;
pub mod payments;
pub mod policies;
pub mod reconciliations;
pub mod registry;
pub mod roles;
pub mod serial;
pub mod settlements;
pub mod terms;
pub mod users;

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commands::IdempotencyKey;
use ledger_core::money::AMOUNT_DECIMALS_MAX;
use rust_decimal::Decimal;
use serde::de::value::StrDeserializer;
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_path_to_error::{Path as FieldPath, Segment};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::SharedState;

/// The longest a read waits for `min_position` (API.md: at most 5 s).
pub const READ_WAIT_MAX: Duration = Duration::from_secs(5);
pub const POSITION_HEADER: &str = "kboss-position";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// A JSON body: malformed JSON, a wrong type or an unknown field is a 400 problem (not axum's
/// plain-text rejection), a word outside an enum field's set a 422 naming the field; an empty
/// body reads as `{}` so bodiless commands (`/pay`) need none.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<SharedState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &SharedState) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: state.settings.limits.body_bytes_max }
            } else {
                ApiError::bad_request(format!("cannot read the body: {rejection}"))
            }
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let body = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|error| body_refused(error.inner(), Some(error.path())))?;
        deserializer.end().map_err(|error| body_refused(&error, None))?;
        Ok(JsonBody(body))
    }
}

fn body_refused(error: &serde_json::Error, path: Option<&FieldPath>) -> ApiError {
    let message = error.to_string();
    if let Some(refused) = path.and_then(|path| ApiError::unknown_choice(field_name(path), &message)) {
        return refused;
    }
    // serde names the culprit in its message: "unknown field `x`", "missing field `x`".
    let field = message.split('`').nth(1).filter(|_| message.contains(" field `")).map(str::to_owned);
    ApiError::BadRequest { detail: format!("invalid JSON body: {message}"), field }
}

/// A field as a problem names it: `items[0].quantity`; an element of a list of words by its
/// list (`roles`, not `roles[2]`).
fn field_name(path: &FieldPath) -> String {
    let mut segments: Vec<&Segment> = path.iter().collect();
    while matches!(segments.last(), Some(segment) if !matches!(segment, Segment::Map { .. })) {
        segments.pop();
    }
    let mut name = String::new();
    for segment in segments {
        match segment {
            Segment::Map { key } => {
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(key);
            }
            Segment::Seq { index } => name.push_str(&format!("[{index}]")),
            _ => {}
        }
    }
    name
}

/// `#[serde(deserialize_with = "word")]` on an enum field: a JSON string naming a variant, as
/// the field was before it was an enum (a wrong type is the same 400, an unknown word a 422).
pub fn word<'de, D: Deserializer<'de>, E: DeserializeOwned>(deserializer: D) -> Result<E, D::Error> {
    let text = String::deserialize(deserializer)?;
    E::deserialize(StrDeserializer::<serde::de::value::Error>::new(&text)).map_err(serde::de::Error::custom)
}

/// [`word`] for a list of words.
pub fn words<'de, D: Deserializer<'de>, E: DeserializeOwned>(deserializer: D) -> Result<Vec<E>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|text| E::deserialize(StrDeserializer::<serde::de::value::Error>::new(text)))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// The authenticated caller ([`crate::auth::authenticate`]), allowed the route by
/// [`crate::access`]'s table.
impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let caller = crate::auth::authenticate(&parts.headers, &state.tokens, &state.read).await?;
        let route = parts.extensions.get::<axum::extract::MatchedPath>().map(|path| path.as_str());
        crate::access::check(&caller, &parts.method, route)?;
        // Read-your-writes: the read models first catch up with this token's own last command.
        if let Some(position) = state.written.of(caller.token_id()) {
            state.read.wait_for(position, READ_WAIT_MAX).await?;
        }
        Ok(caller)
    }
}

/// The optional `Idempotency-Key` header, validated.
pub struct IdempotencyHeader(pub Option<IdempotencyKey>);

impl FromRequestParts<SharedState> for IdempotencyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &SharedState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_HEADER) else { return Ok(IdempotencyHeader(None)) };
        let text = value.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?;
        IdempotencyKey::try_from(text)
            .map(|key| IdempotencyHeader(Some(key)))
            .map_err(|reason| ApiError::BadRequest { detail: format!("Idempotency-Key {reason}"), field: None })
    }
}

/// Query parameters: a malformed one (`limit=abc`) is a 400 problem naming the parameter, a word
/// outside an enum parameter's set (`format=pdf`) a 422 naming it. The structs deny unknown
/// fields, so a misspelt filter (`stauts=`) is a 400 rather than a silently unfiltered list;
/// `min_position`, which every read takes ([`Fresh`]), is not theirs to read.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let own: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("min_position"))
            .collect();
        let uri: axum::http::Uri = format!("/?{}", own.join("&"))
            .parse()
            .map_err(|_| ApiError::bad_request("the query string is not a valid URI query"))?;
        axum::extract::Query::<T>::try_from_uri(&uri).map(|query| Params(query.0)).map_err(|rejection| {
            if let Some(refused) = unknown_query_choice(&rejection) {
                return refused;
            }
            let message = rejection.body_text();
            let field = message.split('`').nth(1).filter(|_| message.contains(" field `")).map(str::to_owned);
            ApiError::BadRequest { detail: message, field }
        })
    }
}

/// An unknown word in a query: axum reads queries with `serde_path_to_error` over
/// `serde_urlencoded`, whose error is serde's `value::Error`; the rejection's sources hold it.
fn unknown_query_choice(rejection: &axum::extract::rejection::QueryRejection) -> Option<ApiError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if let Some(error) = error.downcast_ref::<serde_path_to_error::Error<serde::de::value::Error>>() {
            return ApiError::unknown_choice(field_name(error.path()), &error.inner().to_string());
        }
        source = error.source();
    }
    None
}

/// The position a read reflects: after waiting for `min_position` when the query asks for it.
pub struct Fresh(pub u64);

impl FromRequestParts<SharedState> for Fresh {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let wanted = parts.uri.query().unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("min_position="));
        let position = match wanted {
            Some(text) => {
                let wanted: u64 = text.parse().map_err(|_| ApiError::BadRequest {
                    detail: "min_position must be a non-negative integer".to_owned(),
                    field: Some("min_position".to_owned()),
                })?;
                state.read.wait_for(wanted, READ_WAIT_MAX).await?
            }
            None => state.read.position().await?,
        };
        Ok(Fresh(position))
    }
}

/// A read answer: JSON with the `Kboss-Position` it reflects.
pub struct Read<T>(pub u64, pub T);

impl<T: Serialize> IntoResponse for Read<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.1).into_response();
        response.headers_mut().insert(HeaderName::from_static(POSITION_HEADER), HeaderValue::from(self.0));
        response
    }
}

/// One page of a list: every list of the API answers this shape, in a stable order, and takes
/// `limit` and `cursor` (API.md, added 2026-11-30).
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The page size used: `limit=`, else 100; at most `KBOSS_PAGE_SIZE_MAX`.
    pub limit: usize,
    /// The `cursor=` this page was read from; null for the first page.
    pub cursor: Option<String>,
    /// Pass as `cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A read model's page, its items converted to answers.
    pub fn of<V>(page: projections::Page<V>, paging: Paging, item: impl FnMut(V) -> T) -> Page<T> {
        Page {
            items: page.items.into_iter().map(item).collect(),
            limit: paging.limit,
            cursor: paging.cursor,
            next_cursor: page.next_cursor,
        }
    }

    /// A page of a list the read model answers whole (a catalogue, a book's balances, KPI
    /// rows), in the order of `key` (given each item's index in `all`), unique per item: the
    /// items after the cursor's key. The cursor is the last key shown, hex-encoded.
    pub fn in_memory(all: Vec<T>, paging: Paging, key: impl Fn(usize, &T) -> String) -> Result<Page<T>, ApiError> {
        let after = match &paging.cursor {
            Some(cursor) => Some(
                cursor
                    .strip_prefix(MEMORY_CURSOR_PREFIX)
                    .and_then(|hex_text| hex::decode(hex_text).ok())
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| ApiError::BadRequest {
                        detail: "the cursor was not issued by this list".to_owned(),
                        field: Some("cursor".to_owned()),
                    })?,
            ),
            None => None,
        };
        let mut keyed: Vec<(String, T)> = all
            .into_iter()
            .enumerate()
            .map(|(index, item)| (key(index, &item), item))
            .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let more = keyed.len() > paging.limit;
        keyed.truncate(paging.limit);
        let next_cursor = if more {
            keyed.last().map(|(key, _)| format!("{MEMORY_CURSOR_PREFIX}{}", hex::encode(key)))
        } else {
            None
        };
        let items = keyed.into_iter().map(|(_, item)| item).collect();
        Ok(Page { items, limit: paging.limit, cursor: paging.cursor, next_cursor })
    }
}

const MEMORY_CURSOR_PREFIX: &str = "m1.";

/// The page a list request asks for: `limit` (default 100, at most the configured
/// `KBOSS_PAGE_SIZE_MAX`) and `cursor`.
#[derive(Clone, Debug)]
pub struct Paging {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Paging {
    pub fn new(state: &SharedState, limit: Option<usize>, cursor: Option<String>) -> Result<Paging, ApiError> {
        let max = state.settings.limits.page_size_max;
        let limit = match limit {
            None => crate::config::PAGE_SIZE_DEFAULT.min(max),
            Some(limit) if (1..=max).contains(&limit) => limit,
            Some(_) => {
                return Err(ApiError::BadRequest {
                    detail: format!("limit must be 1..={max}"),
                    field: Some("limit".into()),
                })
            }
        };
        Ok(Paging { limit, cursor })
    }
}

/// A command answer: a status and JSON.
pub struct Answer<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// The status an answer reports where the core has no enum for it (order statuses are
/// `ledger_core::state::OrderStatus`, approval decisions `ledger_core::state::Decision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    /// The request waits for an approval (recharges, reversals, offline withdrawals, rates and
    /// promotions below cost, coupons and refunds above the policy's threshold, settlement
    /// payments, invoices).
    PendingApproval,
    /// A withdrawal paid back along its channel at once.
    Paid,
    /// A rate that took effect at once.
    Set,
    /// An offline or transfer recharge its book's policy let through at once.
    Confirmed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::PendingApproval => "pending_approval",
            RequestStatus::Paid => "paid",
            RequestStatus::Set => "set",
            RequestStatus::Confirmed => "confirmed",
        }
    }
}

/// A serde enum's wire name (`"rebate"`, `"contra_revenue"`): one spelling for JSON everywhere.
pub fn json_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A price as the API writes money: at least two decimals (`"950.00"`), more only where the
/// value has them (`"950.1234"`, a unit price below the cent), no trailing zeros past them.
pub fn price_text(value: Decimal) -> String {
    let mut value = value.normalize();
    if value.scale() < AMOUNT_DECIMALS_MAX {
        value.rescale(AMOUNT_DECIMALS_MAX);
    }
    value.to_string()
}

/// Mints the ids a command creates. Without an idempotency key they are UUID v7 (time-ordered);
/// with one they derive from (org, key, route, purpose), so a retry builds the very same command
/// body and the writer recognises it as the same request rather than a conflicting one.
pub struct Minter {
    seed: Option<[u8; 32]>,
}

impl Minter {
    pub fn new(caller: &Caller, key: &Option<IdempotencyKey>, route: &str) -> Minter {
        let seed = key.as_ref().map(|key| {
            let mut hasher = Sha256::new();
            for part in [caller.org_id().0.as_bytes().as_slice(), key.as_str().as_bytes(), route.as_bytes()] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            hasher.finalize().into()
        });
        Minter { seed }
    }

    /// A minter whatever the key: UUID v7 ids, and codes from the OS's random source. For what
    /// must not be computable from the key (serial codes are bearer value): a retry answers
    /// the ones the stored event holds (`CommandBody::idempotency_view` leaves them out of the
    /// request's fingerprint).
    pub fn random() -> Minter {
        Minter { seed: None }
    }

    pub fn uuid(&self, purpose: &str) -> Uuid {
        match &self.seed {
            None => Uuid::now_v7(),
            Some(seed) => {
                let digest = Sha256::new().chain_update(seed).chain_update(purpose.as_bytes()).finalize();
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&digest[..16]);
                uuid::Builder::from_random_bytes(bytes).into_uuid()
            }
        }
    }

    pub fn id<T: From<Uuid>>(&self, purpose: &str) -> T {
        T::from(self.uuid(purpose))
    }

    /// A short code people type (invite codes, serial codes): `length` characters of an
    /// alphabet without look-alikes.
    pub fn code(&self, purpose: &str, length: usize) -> String {
        const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
        let mut bytes = Vec::with_capacity(length);
        let mut counter = 0u32;
        while bytes.len() < length {
            let block = match &self.seed {
                None => {
                    let mut block = [0u8; 32];
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut block);
                    block
                }
                Some(seed) => Sha256::new()
                    .chain_update(seed)
                    .chain_update(purpose.as_bytes())
                    .chain_update(counter.to_le_bytes())
                    .finalize()
                    .into(),
            };
            counter += 1;
            bytes.extend(block.iter().map(|byte| ALPHABET[(*byte as usize) % ALPHABET.len()]));
        }
        bytes.truncate(length);
        String::from_utf8(bytes).expect("ASCII")
    }
}

/// Parsing helpers at the boundary: decimal strings and ids into domain types, errors naming
/// the field.
pub mod parse {
    use chrono::NaiveDate;
    use ledger_core::money::{Amount, Currency, ExchangeRate, Quantity, Rate, UnitPrice};
    use ledger_core::DomainError;
    use serde::de::value::StrDeserializer;
    use serde::de::DeserializeOwned;

    use crate::error::ApiError;

    pub fn amount(field: &str, text: &str) -> Result<Amount, ApiError> {
        Amount::parse(text).map_err(|error| ApiError::Domain(DomainError::invalid_amount(field, error)))
    }

    pub fn positive_amount(field: &str, text: &str) -> Result<Amount, ApiError> {
        Amount::parse_positive(text).map_err(|error| ApiError::Domain(DomainError::invalid_amount(field, error)))
    }

    pub fn rate(field: &str, text: &str) -> Result<Rate, ApiError> {
        Rate::parse(text).map_err(|error| ApiError::Domain(DomainError::invalid_amount(field, error)))
    }

    pub fn unit_price(field: &str, text: &str) -> Result<UnitPrice, ApiError> {
        UnitPrice::parse(text).map_err(|error| ApiError::Domain(DomainError::invalid_amount(field, error)))
    }

    pub fn exchange_rate(field: &str, text: &str) -> Result<ExchangeRate, ApiError> {
        ExchangeRate::parse(text).map_err(|error| ApiError::Domain(DomainError::invalid_amount(field, error)))
    }

    pub fn currency(field: &str, text: &str) -> Result<Currency, ApiError> {
        let codes = Currency::ALL.map(|currency| currency.code()).join(", ");
        Currency::parse(text).map_err(|_| {
            ApiError::invalid("invalid_field", field, format!("an ISO 4217 code the ledger keeps: {codes}"))
        })
    }

    pub fn quantity(field: &str, text: &str) -> Result<Quantity, ApiError> {
        Quantity::parse(text).map_err(|error| ApiError::Domain(DomainError::invalid_amount(field, error)))
    }

    pub fn date(field: &str, text: &str) -> Result<NaiveDate, ApiError> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid("invalid_date", field, "must be a date YYYY-MM-DD"))
    }

    pub fn optional_date(field: &str, text: &Option<String>) -> Result<Option<NaiveDate>, ApiError> {
        text.as_deref().map(|text| date(field, text)).transpose()
    }

    /// A word of a closed set outside a body or a query (a path segment, a flag): the serde enum
    /// it names; another word is refused as in a body, a 422 `invalid_field` naming `field`.
    pub fn choice<E: DeserializeOwned>(field: &str, text: &str) -> Result<E, ApiError> {
        E::deserialize(StrDeserializer::<serde::de::value::Error>::new(text)).map_err(|error| {
            let message = error.to_string();
            ApiError::unknown_choice(field, &message)
                .unwrap_or_else(|| ApiError::invalid("invalid_field", field, message))
        })
    }

    pub fn id<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, ApiError> {
        text.parse().map_err(|_| ApiError::invalid("invalid_id", field, "must be a UUID"))
    }

    /// A path id: a malformed one names nothing that exists, so it is a 404 like any unknown id.
    pub fn path_id<T: std::str::FromStr>(what: &'static str, text: &str) -> Result<T, ApiError> {
        text.parse().map_err(|_| ApiError::NotFound { what })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::price_text;

    #[test]
    fn prices_show_two_decimals_at_least_and_keep_what_is_below_the_cent() {
        assert_eq!(price_text(Decimal::new(9_500_000, 4)), "950.00");
        assert_eq!(price_text(Decimal::new(950, 0)), "950.00");
        assert_eq!(price_text(Decimal::new(5, 1)), "0.50");
        assert_eq!(price_text(Decimal::new(9_501_234, 4)), "950.1234");
        assert_eq!(price_text(Decimal::new(68_000, 5)), "0.68");
    }
}
