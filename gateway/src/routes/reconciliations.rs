//! Reconciliation of a bank statement or a channel's bill against a book's 1002 or 1012
//! (issue 14): `POST /v1/books/{org_id}/reconciliations` (a dry run answers and stores
//! nothing; otherwise the ledger matches again and records it, an event) and
//! `GET /v1/reconciliations/{id}`. The statement travels as the text of the JSON field
//! `statement` (one request, one body limit, `KBOSS_BODY_BYTES_MAX`), parsed by
//! `crate::reconcile`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use event_log::LogRead;
use ledger_core::chart::{codes, AccountCode};
use ledger_core::event::ReconciliationRecorded;
use ledger_core::ids::ReconciliationId;
use ledger_core::reconcile::{self, StatementFormat, Tolerance, TOLERANCE_DAYS_MAX};
use ledger_core::{CommandBody, EventPayload, SettlementCommand};
use serde::Deserialize;
use utoipa::ToSchema;

use super::finance::readable_book;
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Read, READ_WAIT_MAX};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::reconcile::{answer, ledger_items, parse_statement, statement_hash, window, ColumnMapping, Heading};
use crate::reconcile::{ReconciliationBody, ToleranceBody};
use crate::state::{CommittedEvents, SharedState};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/books/{org_id}/reconciliations", post(reconcile_statement))
        .route("/v1/reconciliations/{id}", get(get_reconciliation))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// `1002` (bank deposits) or `1012` (payment-channel clearing).
    pub account: String,
    /// `csv` (with `mapping`), `camt053` or `alipay`.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub format: StatementFormat,
    /// A `csv` statement's columns, by the names in its header row.
    #[serde(default)]
    pub mapping: Option<ColumnMapping>,
    pub tolerance: ToleranceBody,
    /// True: match and answer, store nothing (do this first). False: the ledger matches and
    /// records the reconciliation (an event).
    pub dry_run: bool,
    /// The statement file's text, UTF-8, as downloaded (a CSV, a CAMT.053 XML, an Alipay bill).
    pub statement: String,
}

/// Reconcile a statement against the book's 1002 or 1012: its rows against the book's lines
/// dated within the statement's dates (widened by the tolerance's days), one to one, one to
/// many and many to one within the tolerance, with suggestions for what is left. A dry run
/// answers 200 and stores nothing; otherwise 201, recorded. Differences are settled only by
/// approved manual journal entries; a reconciliation books nothing.
#[utoipa::path(post, path = "/v1/books/{org_id}/reconciliations", tag = "audit", request_body = ReconcileRequest,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = ReconciliationBody, description = "a dry run: nothing recorded"),
        (status = 201, body = ReconciliationBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reconcile_statement(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<ReconcileRequest>,
) -> Result<Answer<ReconciliationBody>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let org = state.read.org(book).await?.filter(|org| org.kind.keeps_book());
    let org = org.ok_or(ApiError::NotFound { what: "book" })?;
    let account = match body.account.as_str() {
        codes::BANK | codes::CHANNEL_CLEARING => AccountCode::parse(&body.account).map_err(ApiError::Internal)?,
        _ => return Err(ApiError::invalid("invalid_field", "account", "must be 1002 or 1012")),
    };
    let tolerance =
        Tolerance { amount: parse::amount("tolerance.amount", &body.tolerance.amount)?, days: body.tolerance.days };
    if tolerance.days > TOLERANCE_DAYS_MAX {
        return Err(ApiError::invalid("invalid_field", "tolerance.days", format!("must be 0..={TOLERANCE_DAYS_MAX}")));
    }
    let rows = parse_statement(body.format, &body.statement, body.mapping.as_ref(), org.currency)
        .map_err(|detail| ApiError::invalid("invalid_statement", "statement", detail))?;
    let (from, to) = window(&rows, tolerance.days)
        .ok_or_else(|| ApiError::invalid("invalid_statement", "statement", "the statement has no rows"))?;
    // Everything the log held when the request arrived is read (read-your-writes, as
    // `min_position` gives a GET): a statement reconciled right after the book's own writes sees
    // them, and a dry run answers what recording it at once would record.
    state.read.wait_for(state.writer.position(), READ_WAIT_MAX).await?;
    let through = state.read.position().await?;
    let ledger = ledger_items(&state.read, book, &account, (from, to), through)
        .await?
        .map_err(|detail| ApiError::invalid("limit_exceeded", "statement", detail))?;
    let sha256 = statement_hash(&body.statement);
    if body.dry_run {
        reconcile::check_inputs(&rows, &ledger, tolerance)?;
        let groups = reconcile::reconcile(&rows, &ledger, tolerance);
        let heading = Heading {
            id: None,
            book,
            account: &account,
            format: body.format,
            statement_sha256: &sha256,
            tolerance,
            through_position: through,
            position: None,
        };
        return Ok(Answer(StatusCode::OK, answer(heading, &rows, &ledger, &groups)));
    }
    let reconciliation_id: ReconciliationId = Minter::new(&caller, &key, "reconciliations").id("reconciliation");
    let command = CommandBody::Settlement(SettlementCommand::RecordReconciliation {
        reconciliation_id,
        book,
        account,
        format: body.format,
        statement_sha256: sha256,
        tolerance,
        through_position: through,
        statement: rows,
        ledger,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let recorded: &ReconciliationRecorded = committed.event()?;
    Ok(Answer(StatusCode::CREATED, recorded_answer(recorded, committed.position)))
}

fn recorded_answer(recorded: &ReconciliationRecorded, position: u64) -> ReconciliationBody {
    let heading = Heading {
        id: Some(recorded.reconciliation_id.to_string()),
        book: recorded.book,
        account: &recorded.account,
        format: recorded.format,
        statement_sha256: &recorded.statement_sha256,
        tolerance: recorded.tolerance,
        through_position: recorded.through_position,
        position: Some(position),
    };
    answer(heading, &recorded.statement, &recorded.ledger, &recorded.groups)
}

/// A recorded reconciliation, as the ledger matched it (the book's staff with
/// `reconciliations.read`, or the `super_admin`).
#[utoipa::path(get, path = "/v1/reconciliations/{id}", tag = "audit", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ReconciliationBody), (status = 404, body = Problem)))]
pub async fn get_reconciliation(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(read_position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<ReconciliationBody>, ApiError> {
    let id: ReconciliationId = parse::path_id("reconciliation", &id)?;
    let view = state.read.reconciliation(id).await?;
    let view = view
        .filter(|view| caller.is_super_admin() || (caller.is_staff() && view.book == caller.org_id()))
        .ok_or(ApiError::NotFound { what: "reconciliation" })?;
    let position = view.position;
    let event = state.with_log(move |log| log.read_one(position)).await?;
    match event.map(|event| event.event.payload) {
        Some(EventPayload::ReconciliationRecorded(recorded)) => {
            Ok(Read(read_position, recorded_answer(&recorded, position)))
        }
        _ => Err(ApiError::Internal(format!("reconciliation {id}: no ReconciliationRecorded at position {position}"))),
    }
}
