//! Settlement statements and their payment, invoices, and period close.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ledger_core::command::InvoiceDetails;
use ledger_core::event::{
    ApprovalRequested, InvoiceRedLettered, InvoiceRequested, InvoiceType, PeriodClosed, SettlementStatementIssued,
    StatementLine,
};
use ledger_core::ids::{ApprovalId, InvoiceId, OrderId, SettlementId};
use ledger_core::CommandBody;
use projections::SettlementView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::{pending, Pending};
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read, READ_WAIT_MAX};
use crate::auth::Caller;
use crate::config::PAGE_SIZE_DEFAULT;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};
use ledger_core::SettlementCommand;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/settlements", post(issue_statement))
        .route("/v1/settlements/{id}", get(get_settlement))
        .route("/v1/settlements/{id}/lines", get(settlement_lines))
        .route("/v1/settlements/{id}/pay", post(pay_settlement))
        .route("/v1/books/{org_id}/settlements", get(list_settlements))
        .route("/v1/books/{org_id}/close", post(close_period))
        .route("/v1/books/{org_id}/reopen", post(reopen_period))
        .route("/v1/invoices", post(request_invoice))
        .route("/v1/invoices/{id}/issue", post(issue_invoice))
        .route("/v1/invoices/{id}/deliver", post(deliver_invoice))
        .route("/v1/invoices/{id}/void", post(void_invoice))
        .route("/v1/invoices/{id}/red-letter", post(red_letter_invoice))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    /// The book issuing the statement.
    pub org_id: String,
    /// A supplier or child reseller of that book.
    pub counterparty_id: String,
    pub from: String,
    pub to: String,
}

/// One line of a statement: an open item it settles (a line on the counterparty's 1122 or 2202).
#[derive(Serialize, ToSchema)]
pub struct StatementLineBody {
    pub position: u64,
    pub date: String,
    pub account: String,
    pub debit: String,
    pub credit: String,
}

impl From<StatementLine> for StatementLineBody {
    fn from(line: StatementLine) -> Self {
        StatementLineBody {
            position: line.position,
            date: line.date.to_string(),
            account: line.account.to_string(),
            debit: line.debit.to_string(),
            credit: line.credit.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SettlementBody {
    pub id: String,
    pub org_id: String,
    pub counterparty_id: String,
    pub from: String,
    pub to: String,
    /// SHA-256 of the statement, its lines included, as `ledger_core::statement` defines it:
    /// recomputable from the lines served here and by `/v1/settlements/{id}/lines`.
    pub statement_hash: String,
    /// What the book pays the counterparty, net (negative: the counterparty pays the book).
    pub total: String,
    pub receivable: String,
    pub payable: String,
    pub through_position: u64,
    /// The first page of the statement's lines (100, or the configured page limit if lower), in
    /// the statement's order: the order its hash covers them in.
    pub lines: Vec<StatementLineBody>,
    /// Present when the statement has more lines than `lines` holds: the `cursor` of
    /// `GET /v1/settlements/{id}/lines` that continues after them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// `issued`, `payment_pending` or `paid`.
    pub status: String,
    pub position: u64,
    /// Once paid: what was owed in a foreign currency, paid at the book's rate of the day; the
    /// `difference` from what it was booked at went to 6603 (汇兑损益; positive, a loss).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exchange: Vec<SettlementExchangeBody>,
}

/// A foreign part of a paid settlement.
#[derive(Serialize, ToSchema)]
pub struct SettlementExchangeBody {
    pub currency: String,
    /// Owed in `currency`.
    pub owed: String,
    /// Booked for it in the book's currency, at the items' rates.
    pub booked: String,
    pub rate: String,
    pub source: String,
    pub rate_date: String,
    /// `round(owed × rate)`, in the book's currency.
    pub paid: String,
    /// `paid - booked`.
    pub difference: String,
}

impl From<SettlementView> for SettlementBody {
    fn from(view: SettlementView) -> Self {
        SettlementBody {
            id: view.id.to_string(),
            org_id: view.book.to_string(),
            counterparty_id: view.counterparty_id.to_string(),
            from: view.from.to_string(),
            to: view.to.to_string(),
            statement_hash: view.statement_hash,
            total: view.total.to_string(),
            receivable: view.receivable.to_string(),
            payable: view.payable.to_string(),
            through_position: view.through_position,
            lines: view.lines.items.into_iter().map(StatementLineBody::from).collect(),
            next_cursor: view.lines.next_cursor,
            status: view.status,
            position: view.position,
            exchange: view
                .exchange
                .into_iter()
                .map(|part| SettlementExchangeBody {
                    currency: part.currency.to_string(),
                    owed: part.owed.to_string(),
                    booked: part.booked.to_string(),
                    rate: part.rate.to_string(),
                    source: part.source,
                    rate_date: part.rate_date.to_string(),
                    paid: part.paid.to_string(),
                    difference: part.difference.to_string(),
                })
                .collect(),
        }
    }
}

/// Issues a statement (a replay of the period with its cut-off position); the same request
/// again answers the statement already issued, unchanged.
#[utoipa::path(post, path = "/v1/settlements", tag = "settlements", request_body = StatementRequest,
    security(("bearer" = [])),
    responses((status = 201, body = SettlementBody), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn issue_statement(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<StatementRequest>,
) -> Result<Answer<SettlementBody>, ApiError> {
    let book = parse::id("org_id", &body.org_id)?;
    let counterparty_id = parse::id("counterparty_id", &body.counterparty_id)?;
    let (from, to) = (parse::date("from", &body.from)?, parse::date("to", &body.to)?);
    let settlement_id: SettlementId = Minter::new(&caller, &key, "settlements").id("settlement");
    let command = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id,
        book,
        counterparty_id,
        from,
        to,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let issued = committed.find::<SettlementStatementIssued>().map(|issued| issued.settlement_id);
    // The statement comes from the read model, which has applied the command's position: one
    // shape whether the statement is new or was issued before.
    state.read.wait_for(committed.position, READ_WAIT_MAX).await?;
    let statement = match issued {
        Some(id) => state.read.settlement(id, first_page(&state)).await?,
        None => state.read.settlement_of_period(book, counterparty_id, (from, to), first_page(&state)).await?,
    };
    let statement = statement.ok_or_else(|| ApiError::Internal("issued statement not in the read model".to_owned()))?;
    Ok(Answer(StatusCode::CREATED, statement.into()))
}

/// How many lines a statement's answer shows: a page of the default size (100, or the
/// configured page limit if that is lower); `GET /v1/settlements/{id}/lines` pages on.
fn first_page(state: &SharedState) -> usize {
    PAGE_SIZE_DEFAULT.min(state.settings.limits.page_size_max)
}

fn sees_settlement(caller: &Caller, view: &SettlementView) -> bool {
    caller.is_super_admin()
        || (caller.is_staff() && (view.book == caller.org_id() || view.counterparty_id == caller.org_id()))
}

/// A settlement statement with its first page of lines.
#[utoipa::path(get, path = "/v1/settlements/{id}", tag = "settlements", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = SettlementBody), (status = 404, body = Problem)))]
pub async fn get_settlement(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<SettlementBody>, ApiError> {
    let view = state.read.settlement(parse::path_id("settlement", &id)?, first_page(&state)).await?;
    let view = view.filter(|view| sees_settlement(&caller, view)).ok_or(ApiError::NotFound { what: "settlement" })?;
    Ok(Read(position, view.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// A statement's lines, a page at a time, in the statement's order: the lines its hash covers.
#[utoipa::path(get, path = "/v1/settlements/{id}/lines", tag = "settlements", security(("bearer" = [])),
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<StatementLineBody>), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn settlement_lines(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
    Params(params): Params<PageParams>,
) -> Result<Read<Page<StatementLineBody>>, ApiError> {
    let id: SettlementId = parse::path_id("settlement", &id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    // Only the statement's header: whose it is. Its lines are the page asked for.
    let view = state.read.settlement(id, 1).await?;
    view.filter(|view| sees_settlement(&caller, view)).ok_or(ApiError::NotFound { what: "settlement" })?;
    let page = state.read.settlement_lines(id, paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(position, Page::of(page, paging, StatementLineBody::from)))
}

/// A book's statements, newest first, each with its first page of lines.
#[utoipa::path(get, path = "/v1/books/{org_id}/settlements", tag = "settlements", security(("bearer" = [])),
    params(("org_id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<SettlementBody>), (status = 404, body = Problem)))]
pub async fn list_settlements(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<PageParams>,
) -> Result<Read<Page<SettlementBody>>, ApiError> {
    let book = super::finance::readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let page = state.read.settlements(book, first_page(&state), paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(position, Page::of(page, paging, SettlementBody::from)))
}

/// Pay a settlement statement (waits for approval).
#[utoipa::path(post, path = "/v1/settlements/{id}/pay", tag = "settlements", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = Pending), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn pay_settlement(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<super::orders::Empty>,
) -> Result<Answer<Pending>, ApiError> {
    let settlement_id: SettlementId = parse::path_id("settlement", &id)?;
    let approval_id: ApprovalId = Minter::new(&caller, &key, "settlement-payments").id("approval");
    let committed = state
        .execute(
            &caller,
            &key,
            CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id, approval_id }),
        )
        .await?;
    Ok(Answer(StatusCode::ACCEPTED, pending(settlement_id, approval_id, committed.position)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// The last day of the closed period, `YYYY-MM-DD` (before today).
    pub through: String,
}

#[derive(Serialize, ToSchema)]
pub struct Closed {
    /// The book, the period, the last position and the chain hash there, the trial balance's
    /// hash and totals, the rule versions in force, signed with the deployment's Ed25519 key
    /// (`GET /v1/audit/public-key`): `kboss audit check` checks it offline against the book's
    /// CSV export through `through`.
    pub certificate: crate::audit::SignedCertificate,
    pub position: u64,
}

/// Close a book's period through a date; answers its signed certificate.
#[utoipa::path(post, path = "/v1/books/{org_id}/close", tag = "settlements", request_body = CloseBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = Closed), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn close_period(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<CloseBody>,
) -> Result<Answer<Closed>, ApiError> {
    let command = CommandBody::Settlement(SettlementCommand::ClosePeriod {
        book: parse::path_id("book", &org_id)?,
        through: parse::date("through", &body.through)?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let _: &PeriodClosed = committed.event()?;
    let event = committed
        .events
        .iter()
        .find(|event| matches!(event.event.payload, ledger_core::EventPayload::PeriodClosed(_)))
        .ok_or_else(|| ApiError::Internal("the close committed no PeriodClosed".into()))?;
    let certificate = state.audit_key.certify(event).map_err(ApiError::Internal)?;
    Ok(Answer(StatusCode::OK, Closed { certificate, position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    /// The last day of the period to reopen: the book's last close, `YYYY-MM-DD`.
    pub through: String,
    /// Why: kept with the reopen in the log and hashed into its certificate.
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReopenRequested {
    /// The approval the reopen waits for (`GET /v1/approvals/{id}`); once granted, the reopen's
    /// signed certificate is listed by `GET /v1/books/{org_id}/certificates`.
    pub approval_id: String,
    /// `pending_approval`.
    pub status: String,
    pub position: u64,
}

/// Ask to reopen the book's last closed period, with a written reason: it waits for approval
/// (always: `period_reopen` in the book's approval policy says by whom); once granted the book
/// is closed through the close before it, entries dated in the period are taken again, and a
/// new close gets its own certificate. Corrections go in as approved manual journal entries.
#[utoipa::path(post, path = "/v1/books/{org_id}/reopen", tag = "settlements", request_body = ReopenBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 202, body = ReopenRequested), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "period_not_closed, approval_pending"),
        (status = 422, body = Problem)))]
pub async fn reopen_period(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<ReopenBody>,
) -> Result<Answer<ReopenRequested>, ApiError> {
    let approval_id: ApprovalId = Minter::new(&caller, &key, "reopen").id("approval");
    let command = CommandBody::Settlement(SettlementCommand::RequestPeriodReopen {
        approval_id,
        book: parse::path_id("book", &org_id)?,
        through: parse::date("through", &body.through)?,
        reason: body.reason,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let requested: &ledger_core::event::ApprovalRequested = committed.event()?;
    let answer = ReopenRequested {
        approval_id: requested.approval_id.to_string(),
        status: "pending_approval".to_owned(),
        position: committed.position,
    };
    Ok(Answer(StatusCode::ACCEPTED, answer))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceBody {
    pub customer_id: String,
    /// 价税合计: the amount with tax.
    pub amount: String,
    /// `ordinary` or `special` (增值税专用发票: needs `tax_id`, `address`, `bank_account` and an
    /// approval). Without it, the first contract's request: 202, waiting for approval.
    #[serde(rename = "type")]
    pub invoice_type: Option<String>,
    /// 发票抬头 (required with `type`).
    pub title: Option<String>,
    pub tax_id: Option<String>,
    pub address: Option<String>,
    pub bank_account: Option<String>,
    /// The orders it covers: the amount is at most what they paid, less refunds.
    #[serde(default)]
    pub order_ids: Vec<String>,
    /// Default `0.06`.
    pub tax_rate: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InvoiceRequestedBody {
    pub id: String,
    /// `requested`: an ordinary one waits for finance to issue it, a special one for its approval.
    pub status: String,
    /// The special invoice's approval.
    pub approval_id: Option<String>,
    pub tax_rate: String,
    pub tax_amount: String,
    pub position: u64,
}

/// Request an invoice for a customer: with `type`, 201 with its tax; without, the first
/// contract's request waiting for approval (202).
#[utoipa::path(post, path = "/v1/invoices", tag = "settlements", request_body = InvoiceBody, security(("bearer" = [])),
    responses((status = 201, body = InvoiceRequestedBody), (status = 202, body = Pending), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn request_invoice(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<InvoiceBody>,
) -> Result<Response, ApiError> {
    let minter = Minter::new(&caller, &key, "invoices");
    let (invoice_id, approval_id): (InvoiceId, ApprovalId) = (minter.id("invoice"), minter.id("approval"));
    let details = match &body.invoice_type {
        None => {
            for (field, given) in [
                ("title", body.title.is_some()),
                ("tax_id", body.tax_id.is_some()),
                ("order_ids", !body.order_ids.is_empty()),
            ] {
                if given {
                    return Err(ApiError::invalid("invalid_field", field, "goes with type"));
                }
            }
            None
        }
        Some(invoice_type) => Some(InvoiceDetails {
            invoice_type: parse::choice::<InvoiceType>("type", invoice_type)?,
            title: body
                .title
                .clone()
                .ok_or_else(|| ApiError::invalid("invalid_field", "title", "an invoice needs its title"))?,
            tax_id: body.tax_id.clone(),
            address: body.address.clone(),
            bank_account: body.bank_account.clone(),
            order_ids: body
                .order_ids
                .iter()
                .enumerate()
                .map(|(index, id)| parse::id::<OrderId>(&format!("order_ids[{index}]"), id))
                .collect::<Result<_, _>>()?,
            tax_rate: body.tax_rate.as_deref().map(|rate| parse::rate("tax_rate", rate)).transpose()?,
        }),
    };
    let detailed = details.is_some();
    let command = CommandBody::Settlement(SettlementCommand::RequestInvoice {
        invoice_id,
        approval_id,
        customer_id: parse::id("customer_id", &body.customer_id)?,
        amount: parse::amount("amount", &body.amount)?,
        details,
    });
    let committed = state.execute(&caller, &key, command).await?;
    if !detailed {
        return Ok(Answer(StatusCode::ACCEPTED, pending(invoice_id, approval_id, committed.position)).into_response());
    }
    let requested = committed.event::<InvoiceRequested>()?;
    let approval = committed.find::<ApprovalRequested>().map(|request| request.approval_id.to_string());
    let answer = InvoiceRequestedBody {
        id: invoice_id.to_string(),
        status: "requested".to_owned(),
        approval_id: approval,
        tax_rate: requested.tax_rate.to_string(),
        tax_amount: requested.tax_amount.to_string(),
        position: committed.position,
    };
    Ok(Answer(StatusCode::CREATED, answer).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct InvoiceChanged {
    pub id: String,
    /// `issued`, `delivered` or `void`.
    pub status: String,
    pub position: u64,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VoidBody {
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedLetterBody {
    pub amount: String,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct RedLettered {
    /// The invoice reversed.
    pub id: String,
    /// The red-letter invoice's id.
    pub red_invoice_id: String,
    pub amount: String,
    pub tax_amount: String,
    pub position: u64,
}

async fn change_invoice(
    state: &SharedState,
    caller: &Caller,
    key: &Option<commands::IdempotencyKey>,
    invoice_id: InvoiceId,
    command: SettlementCommand,
    status: &str,
) -> Result<Read<InvoiceChanged>, ApiError> {
    let committed = state.execute(caller, key, CommandBody::Settlement(command)).await?;
    Ok(Read(
        committed.position,
        InvoiceChanged { id: invoice_id.to_string(), status: status.to_owned(), position: committed.position },
    ))
}

/// Issues an ordinary invoice (the book's finance, `invoices.issue`); a special one is issued by
/// its approval (409 `invoice_needs_approval`).
#[utoipa::path(post, path = "/v1/invoices/{id}/issue", tag = "settlements", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = InvoiceChanged), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_invoice(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
) -> Result<Read<InvoiceChanged>, ApiError> {
    let invoice_id = parse::path_id("invoice", &id)?;
    change_invoice(&state, &caller, &key, invoice_id, SettlementCommand::IssueInvoice { invoice_id }, "issued").await
}

/// Marks an issued invoice delivered to its customer.
#[utoipa::path(post, path = "/v1/invoices/{id}/deliver", tag = "settlements", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = InvoiceChanged), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn deliver_invoice(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
) -> Result<Read<InvoiceChanged>, ApiError> {
    let invoice_id = parse::path_id("invoice", &id)?;
    change_invoice(&state, &caller, &key, invoice_id, SettlementCommand::DeliverInvoice { invoice_id }, "delivered")
        .await
}

/// 作废: withdraws a request, or voids an issued invoice not yet delivered (what it covered is
/// invoiceable again); a delivered one is reversed by a red-letter invoice instead.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "settlements", request_body = VoidBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = InvoiceChanged), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn void_invoice(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VoidBody>,
) -> Result<Read<InvoiceChanged>, ApiError> {
    let invoice_id = parse::path_id("invoice", &id)?;
    let command = SettlementCommand::VoidInvoice { invoice_id, reason: body.reason };
    change_invoice(&state, &caller, &key, invoice_id, command, "void").await
}

/// 红冲: a red-letter invoice reversing part or all of an issued one (after a refund): it makes
/// up first for what refunds left invoiced beyond what was paid, then the rest is invoiceable
/// again.
#[utoipa::path(post, path = "/v1/invoices/{id}/red-letter", tag = "settlements", request_body = RedLetterBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = RedLettered), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn red_letter_invoice(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RedLetterBody>,
) -> Result<Answer<RedLettered>, ApiError> {
    let invoice_id = parse::path_id("invoice", &id)?;
    let red_invoice_id: InvoiceId = Minter::new(&caller, &key, "red-letters").id("invoice");
    let command = CommandBody::Settlement(SettlementCommand::RedLetterInvoice {
        invoice_id,
        red_invoice_id,
        amount: parse::positive_amount("amount", &body.amount)?,
        reason: body.reason,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let red = committed.event::<InvoiceRedLettered>()?;
    Ok(Answer(
        StatusCode::CREATED,
        RedLettered {
            id: invoice_id.to_string(),
            red_invoice_id: red_invoice_id.to_string(),
            amount: red.amount.to_string(),
            tax_amount: red.tax_amount.to_string(),
            position: committed.position,
        },
    ))
}
