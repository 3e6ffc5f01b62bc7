//! A book's operation log (操作日志): every command its staff and its customers sent, accepted or
//! refused, with the person, token, request id, client address, command and outcome
//! (`crate::operation_log`); filtered by person, token, kind, outcome and time; pages of JSON
//! (the latest first) or one CSV file (as they happened). Read by the book's `admin` and
//! `finance` staff and by the platform's `super_admin`; other roles are refused (403), other
//! tenants' books are not found (404).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use ledger_core::ids::{OrgId, PrincipalId};
use ledger_core::org::OrgKind;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{parse, Fresh, Page, Paging, Params, Read, POSITION_HEADER, READ_WAIT_MAX};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::export::csv_field;
use crate::operation_log::{command_names, Operation, OperationQuery, Order, Outcome};
use crate::state::SharedState;

/// Operations one CSV file may hold; a longer log is exported period by period.
pub const OPERATIONS_EXPORT_MAX: usize = 1_000_000;
/// Operations read per page while exporting.
pub const OPERATIONS_EXPORT_PAGE: usize = 1_000;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/v1/books/{org_id}/operations", get(operations))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationParams {
    pub user_id: Option<String>,
    pub token_id: Option<String>,
    pub kind: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Default `json`.
    pub format: Option<OperationsFormat>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// `format=`: pages of JSON, or every operation that matches as one CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationsFormat {
    Json,
    Csv,
}

#[derive(Serialize, ToSchema)]
pub struct OperationBody {
    /// When the gateway submitted the command.
    pub at: String,
    /// The org that acted: the book's own, or one of its customers.
    pub org_id: String,
    /// The person who acted; null until tokens belong to users.
    pub user_id: Option<String>,
    /// The token (principal) that acted.
    pub token_id: String,
    /// The command (`place_order`, `request_recharge`, `decide_approval`, …).
    pub kind: String,
    /// `accepted` (in the log), `replayed` (an `Idempotency-Key` retry answered again), `refused`
    /// (by the ledger) or `failed` (not decided: busy, unavailable, internal).
    pub outcome: String,
    /// A refused or failed command's problem code (`insufficient_balance`, `overloaded`, …).
    pub code: Option<String>,
    /// An accepted or replayed command's log position (its last event's).
    pub position: Option<u64>,
    /// The request's `X-Request-Id` (the client's, or the one the gateway gave it).
    pub request_id: Option<String>,
    /// The client's IP address.
    pub client: Option<String>,
}

impl From<Operation> for OperationBody {
    fn from(operation: Operation) -> OperationBody {
        OperationBody {
            at: operation.at.to_rfc3339(),
            org_id: operation.org_id.to_string(),
            user_id: operation.user_id.map(|id| id.to_string()),
            token_id: operation.token_id.to_string(),
            kind: operation.kind,
            outcome: operation.outcome.as_str().to_owned(),
            code: operation.code,
            position: operation.position,
            request_id: operation.request_id,
            client: operation.client,
        }
    }
}

/// A book's operations (every command answered, accepted or refused), the latest first, or as
/// a CSV file in the order they happened.
#[utoipa::path(get, path = "/v1/books/{org_id}/operations", tag = "finance", security(("bearer" = [])),
    params(("org_id" = String, Path),
        ("user_id" = Option<String>, Query, description = "the person who acted"),
        ("token_id" = Option<String>, Query, description = "the token that acted"),
        ("kind" = Option<String>, Query, description = "a command's name"),
        ("outcome" = Option<String>, Query, description = "accepted, replayed, refused or failed"),
        ("from" = Option<String>, Query, description = "at or after: a date (from its start, UTC) or an RFC 3339 time"),
        ("to" = Option<String>, Query, description = "at or before: a date (through its end, UTC) or an RFC 3339 time"),
        ("format" = Option<String>, Query, description = "json (pages, the default) or csv (every operation that matches, oldest first; no limit or cursor)"),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "a page of operations, or with format=csv the file (Content-Disposition names it)",
            content((Page<OperationBody> = "application/json"), (String = "text/csv")),
            headers(("Content-Disposition" = String,
                description = "with format=csv: attachment; filename=\"<book>-operations-<from date or start>-<to date or today>.csv\""))),
        (status = 403, body = Problem, description = "the token's roles are not admin or finance"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn operations(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<OperationParams>,
) -> Result<Response, ApiError> {
    let book = super::finance::readable_book(&caller, &org_id)?;
    let org = state.read.org(book).await?;
    let org = org.filter(|org| matches!(org.kind, OrgKind::Platform | OrgKind::Reseller));
    let org = org.ok_or(ApiError::NotFound { what: "book" })?;
    let format = params.format.unwrap_or(OperationsFormat::Json);
    let mut query = filters(&params, book, state.clock.offset())?;
    // What this instance answered before this request is in the log before it is read.
    if !state.operations.flush(READ_WAIT_MAX).await {
        tracing::warn!("the operation log is behind; answering what it holds");
    }
    match format {
        OperationsFormat::Json => {
            let paging = Paging::new(&state, params.limit, params.cursor.clone())?;
            query.cursor = paging.cursor.clone();
            query.limit = paging.limit;
            let page = state.operations.page(&query).await?;
            let page = Page {
                items: page.items.into_iter().map(OperationBody::from).collect(),
                limit: paging.limit,
                cursor: paging.cursor,
                next_cursor: page.next_cursor,
            };
            Ok(Read(position, page).into_response())
        }
        OperationsFormat::Csv => {
            for (field, given) in [("limit", params.limit.is_some()), ("cursor", params.cursor.is_some())] {
                if given {
                    return Err(ApiError::BadRequest {
                        detail: format!(
                            "{field}: a CSV file holds every operation that matches; narrow it with from and to"
                        ),
                        field: Some(field.to_owned()),
                    });
                }
            }
            query.order = Order::OldestFirst;
            query.limit = OPERATIONS_EXPORT_PAGE;
            let mut operations = Vec::new();
            loop {
                let page = state.operations.page(&query).await?;
                operations.extend(page.items);
                if operations.len() > OPERATIONS_EXPORT_MAX {
                    return Err(ApiError::invalid(
                        "export_too_large",
                        "from",
                        format!("more than {OPERATIONS_EXPORT_MAX} operations; export a shorter period"),
                    ));
                }
                match page.next_cursor {
                    Some(next) => query.cursor = Some(next),
                    None => break,
                }
            }
            let offset = state.clock.offset();
            let day = |at: DateTime<Utc>| at.with_timezone(&offset).date_naive();
            let from = query.from.map_or_else(|| "start".to_owned(), |from| day(from).to_string());
            let to = query.to.map_or_else(|| state.clock.today(), day);
            let disposition = crate::export::attachment(&org, &format!("-operations-{from}-{to}.csv"));
            let disposition =
                HeaderValue::try_from(disposition).map_err(|error| ApiError::Internal(error.to_string()))?;
            let mut response = csv(&operations).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            headers.insert(header::CONTENT_DISPOSITION, disposition);
            headers.insert(POSITION_HEADER, HeaderValue::from(position));
            Ok(response)
        }
    }
}

/// The query's filters, each checked: ids are UUIDs, `kind` a command's name, `from` not after `to`.
fn filters(params: &OperationParams, book: OrgId, offset: FixedOffset) -> Result<OperationQuery, ApiError> {
    let kind = match &params.kind {
        Some(kind) if !command_names().contains(kind) => {
            return Err(ApiError::invalid(
                "invalid_field",
                "kind",
                format!("must be a command's name: {}", command_names().join(", ")),
            ))
        }
        kind => kind.clone(),
    };
    let from = params.from.as_deref().map(|text| time("from", text, NaiveTime::MIN, offset)).transpose()?;
    let end_of_day = NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap_or(NaiveTime::MIN);
    let to = params.to.as_deref().map(|text| time("to", text, end_of_day, offset)).transpose()?;
    if matches!((from, to), (Some(from), Some(to)) if from > to) {
        return Err(ApiError::invalid("invalid_field", "to", "must not be before from"));
    }
    Ok(OperationQuery {
        book,
        user_id: params.user_id.as_deref().map(|id| parse::id::<Uuid>("user_id", id)).transpose()?,
        token_id: params.token_id.as_deref().map(|id| parse::id::<PrincipalId>("token_id", id)).transpose()?,
        kind,
        outcome: params.outcome,
        from,
        to,
        order: Order::NewestFirst,
        cursor: None,
        limit: 0,
    })
}

/// A date (at `time_of_day` at the books' offset, `KBOSS_UTC_OFFSET`: the start of `from`'s day,
/// the end of `to`'s) or an RFC 3339 time.
fn time(field: &str, text: &str, time_of_day: NaiveTime, offset: FixedOffset) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        // A fixed offset has one local time for every instant: never ambiguous, never skipped.
        if let Some(local) = date.and_time(time_of_day).and_local_timezone(offset).single() {
            return Ok(local.with_timezone(&Utc));
        }
    }
    DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)).map_err(|_| {
        ApiError::invalid("invalid_date", field, "must be a date YYYY-MM-DD or an RFC 3339 time (2026-01-15T09:30:00Z)")
    })
}

/// The CSV header: the API's fields, then the org that acted.
const CSV_HEADER: &str = "at,kind,outcome,code,position,user_id,token_id,org_id,request_id,client";

/// One row per operation (RFC 4180; a field a spreadsheet would read as a formula is quoted as
/// text, as in the journal's export: a request id is the client's to choose).
fn csv(operations: &[Operation]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for operation in operations {
        let optional = |text: &Option<String>| csv_field(text.as_deref().unwrap_or_default());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            operation.at.to_rfc3339(),
            csv_field(&operation.kind),
            operation.outcome.as_str(),
            optional(&operation.code),
            operation.position.map(|position| position.to_string()).unwrap_or_default(),
            operation.user_id.map(|id| id.to_string()).unwrap_or_default(),
            operation.token_id,
            operation.org_id,
            optional(&operation.request_id),
            optional(&operation.client),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_its_whole_day_at_the_books_offset() {
        let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
        let end_of_day = NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap();
        let start = time("from", "2026-01-15", NaiveTime::MIN, beijing).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-14T16:00:00+00:00");
        let end = time("to", "2026-01-15", end_of_day, beijing).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-01-15T15:59:59.999999+00:00");
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(time("from", "2026-01-15", NaiveTime::MIN, utc).unwrap().to_rfc3339(), "2026-01-15T00:00:00+00:00");
        // An RFC 3339 time is the instant it names, whatever the offset.
        let instant = time("from", "2026-01-15T09:30:00+08:00", NaiveTime::MIN, utc).unwrap();
        assert_eq!(instant.to_rfc3339(), "2026-01-15T01:30:00+00:00");
        assert!(time("from", "15/01/2026", NaiveTime::MIN, beijing).is_err());
    }
}
