//! `ApiError`: every way a request can fail, each variant with its documented HTTP status, shown
//! as RFC 9457 `application/problem+json` `{type, title, status, detail, code, field?}`.
//! Infrastructure failures are logged in full and shown as a generic 500: no SQL, paths or
//! internals reach a client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::CommandError;
use ledger_core::{DomainError, ErrorClass};
use projections::ReadError;
use serde::Serialize;

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECONDS: u64 = 1;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON, has an unknown field, a wrong type, or a query/path is malformed.
    #[error("{detail}")]
    BadRequest { detail: String, field: Option<String> },
    /// 401: no token, a malformed `Authorization` header, or a token nobody issued.
    #[error("{0}")]
    Unauthorized(Unauthenticated),
    /// 401: a signed request (the approval callback) whose signature is bad (`bad_signature`),
    /// stale (`stale_signature`) or used before (`replayed_signature`).
    #[error("{detail}")]
    BadSignature { code: &'static str, detail: &'static str },
    /// 403: the token's roles do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 405: the path exists, the method does not.
    #[error("{method} is not allowed here")]
    MethodNotAllowed { method: String },
    /// 404: no such thing, or it belongs to another tenant (tenants never learn of each other).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// 409: the same idempotency key with another request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyConflict,
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 422 (or 404/403/409 by the error's class): the ledger refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// 422: a field the gateway parses (amounts, dates, ids in bodies) is invalid.
    #[error("{field}: {detail}")]
    Invalid { code: &'static str, field: String, detail: String },
    /// 503: the writer's queue is full (backpressure); retry after `Retry-After`.
    #[error("the ledger is busy; retry shortly")]
    Overloaded,
    /// 503: the read model has not reached the requested `min_position` in time.
    #[error("the read model is at position {applied}, not yet {wanted}")]
    ReadModelBehind { wanted: u64, applied: u64 },
    /// 503: the log or the read store is unreachable, or this instance is not the writer.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or corrupt data; logged, never detailed to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a request is not authenticated. The `code` is `unauthorized` for each; the detail and
/// the `WWW-Authenticate` challenge (RFC 6750) say which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`, or too long to be a token.
    Malformed,
    /// A well-formed bearer token nobody issued.
    Unknown,
    /// A token that was revoked.
    Revoked,
    /// A token past its expiry.
    Expired,
}

impl Unauthenticated {
    /// The `WWW-Authenticate` value: no error code when no credentials were sent (RFC 6750 §3.1).
    pub fn challenge(self) -> &'static str {
        match self {
            Unauthenticated::Missing => r#"Bearer realm="kboss""#,
            Unauthenticated::Malformed => r#"Bearer realm="kboss", error="invalid_request""#,
            Unauthenticated::Unknown => r#"Bearer realm="kboss", error="invalid_token""#,
            Unauthenticated::Revoked => {
                r#"Bearer realm="kboss", error="invalid_token", error_description="the token was revoked""#
            }
            Unauthenticated::Expired => {
                r#"Bearer realm="kboss", error="invalid_token", error_description="the token expired""#
            }
        }
    }
}

impl std::fmt::Display for Unauthenticated {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Unauthenticated::Missing => "no Authorization header: send `Authorization: Bearer <token>`",
            Unauthenticated::Malformed => "the Authorization header is not `Bearer <token>`",
            Unauthenticated::Unknown => "the bearer token is not one this ledger issued",
            Unauthenticated::Revoked => "the bearer token was revoked",
            Unauthenticated::Expired => "the bearer token expired",
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest { detail: detail.into(), field: None }
    }

    pub fn invalid(code: &'static str, field: impl Into<String>, detail: impl ToString) -> ApiError {
        ApiError::Invalid { code, field: field.into(), detail: detail.to_string() }
    }

    /// serde's refusal of a word outside an enum's set (``unknown variant `cash`, expected one
    /// of `online`, `offline`, `transfer` ``), as the 422 `invalid_field` naming `field`: "must be
    /// online, offline or transfer". `None` when `message` is another refusal.
    pub fn unknown_choice(field: impl Into<String>, message: &str) -> Option<ApiError> {
        let rest = message.strip_prefix("unknown variant `")?;
        let (_, expected) = rest.rsplit_once("`, expected ")?;
        // `a`; `a` or `b`; one of `a`, `b`, `c` (then, from serde_json, " at line 1 column 9").
        let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let choices = match names.split_last()? {
            (last, []) => (*last).to_owned(),
            (last, others) => format!("{} or {last}", others.join(", ")),
        };
        Some(ApiError::invalid("invalid_field", field, format!("must be {choices}")))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::BadSignature { .. } => StatusCode::UNAUTHORIZED,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::IdempotencyConflict => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Domain(error) => match error.class() {
                ErrorClass::NotFound => StatusCode::NOT_FOUND,
                ErrorClass::Forbidden => StatusCode::FORBIDDEN,
                ErrorClass::Conflict => StatusCode::CONFLICT,
                ErrorClass::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            },
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded | ApiError::ReadModelBehind { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized(Unauthenticated::Revoked) => "token_revoked",
            ApiError::Unauthorized(Unauthenticated::Expired) => "token_expired",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::BadSignature { code, .. } => code,
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound { .. } => "not_found",
            ApiError::IdempotencyConflict => "idempotency_conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Domain(error) => error.code(),
            ApiError::Invalid { code, .. } => code,
            ApiError::Overloaded => "overloaded",
            ApiError::ReadModelBehind { .. } => "read_model_behind",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::BadRequest { field, .. } => field.clone(),
            ApiError::Domain(error) => error.field().map(str::to_owned),
            ApiError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("https://kboss.dev/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            field: self.field(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(reason) = &self {
            tracing::error!(%reason, "internal error");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).expect("problems serialise");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if let ApiError::Unauthorized(reason) = &self {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(reason.challenge()));
        }
        response
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Rejected(error) => ApiError::Domain(error),
            CommandError::IdempotencyConflict => ApiError::IdempotencyConflict,
            CommandError::Overloaded => ApiError::Overloaded,
            CommandError::Unavailable(reason) => {
                tracing::warn!(%reason, "the log is unavailable");
                ApiError::Unavailable("the ledger is unavailable; retry shortly".to_owned())
            }
            CommandError::Stopped => ApiError::Unavailable("the ledger is shutting down".to_owned()),
            CommandError::Internal(reason) => ApiError::Internal(reason),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Behind { wanted, applied } => ApiError::ReadModelBehind { wanted, applied },
            ReadError::Unavailable(reason) => {
                tracing::warn!(%reason, "the read store is unavailable");
                ApiError::Unavailable("the read store is unavailable; retry shortly".to_owned())
            }
            ReadError::Corrupt(reason) => ApiError::Internal(reason),
            ReadError::InvalidQuery(reason) => ApiError::BadRequest { detail: reason, field: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backpressure_is_a_503_with_retry_after_and_internals_are_not_shown() {
        let response = ApiError::from(CommandError::Overloaded).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        let unavailable = ApiError::from(CommandError::Unavailable("SELECT secret FROM log".into()));
        assert!(!unavailable.problem().detail.contains("SELECT"));
        let internal = ApiError::Internal("relation rm_orders does not exist".into());
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.problem().detail.contains("rm_orders"));
    }

    #[test]
    fn domain_errors_keep_their_code_class_and_field() {
        let error = ApiError::from(CommandError::Rejected(DomainError::InsufficientBalance {
            available: ledger_core::money::Amount::ZERO,
            needed: ledger_core::money::Amount::parse("1.00").unwrap(),
        }));
        let problem = error.problem();
        assert_eq!(
            (problem.status, problem.code.as_str(), problem.field.as_deref()),
            (422, "insufficient_balance", Some("amount"))
        );
        let conflict = ApiError::from(CommandError::IdempotencyConflict);
        assert_eq!((conflict.status(), conflict.code()), (StatusCode::CONFLICT, "idempotency_conflict"));
        let behind = ApiError::from(ReadError::Behind { wanted: 9, applied: 3 });
        assert_eq!((behind.status(), behind.code()), (StatusCode::SERVICE_UNAVAILABLE, "read_model_behind"));
    }

    /// An event too large for the log is the command's fault, answered 422 naming the cause:
    /// never a 503, whose "retry shortly" would not help.
    #[test]
    fn an_event_too_large_for_the_log_is_a_422_naming_the_cause() {
        let error = ApiError::from(CommandError::Rejected(DomainError::EventTooLarge {
            event_type: "SettlementStatementIssued",
            bytes: 3_266_077,
            limit: 1 << 20,
        }));
        let response_status = error.status();
        let problem = error.problem();
        assert_eq!((response_status, problem.code.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "event_too_large"));
        assert_eq!(
            problem.detail,
            "the SettlementStatementIssued event this command decides would be a record of 3266077 bytes, over the \
             log's limit of 1048576 bytes per event"
        );
        assert!(error.into_response().headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn a_word_outside_an_enums_set_is_an_invalid_field_listing_the_choices() {
        let choices = |message: &str| ApiError::unknown_choice("method", message).map(|error| error.problem());
        let three =
            choices("unknown variant `cash`, expected one of `online`, `offline`, `transfer` at line 1 column 9");
        let three = three.expect("an unknown variant");
        assert_eq!((three.status, three.code.as_str(), three.field.as_deref()), (422, "invalid_field", Some("method")));
        assert_eq!(three.detail, "method: must be online, offline or transfer");
        let two = choices("unknown variant `pdf`, expected `csv` or `beancount`").expect("an unknown variant");
        assert_eq!(two.detail, "method: must be csv or beancount");
        assert_eq!(
            choices("unknown variant `x`, expected `only`").expect("an unknown variant").detail,
            "method: must be only"
        );
        assert!(choices("invalid type: integer `5`, expected a string").is_none());
        assert!(choices("unknown field `surprise`, expected one of `a`, `b`").is_none());
    }
}
