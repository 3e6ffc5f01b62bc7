//! A book's terms with its customers and counterparties (issue 12): credit limits (信用额度), the
//! timings the clock follows (payment timeout, arrears due days, renewal lead), settlement cycles
//! (结算周期), auto-renewals, and the reconciliation of a supplier's bill against what the book
//! owes it (2202).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::NaiveDate;
use ledger_core::event::{ApprovalRequested, CycleEvery, SettlementCycle};
use ledger_core::ids::{OrderId, OrgId};
use ledger_core::money::{Amount, SignedAmount};
use ledger_core::state::BookTerms;
use ledger_core::{CommandBody, TermsCommand};
use projections::{PayableView, SettlementCycleView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::finance::readable_book;
use super::{parse, word, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/customers/{id}/credit-limit", put(set_credit_limit))
        .route("/v1/books/{org_id}/terms", get(get_terms).put(set_terms))
        .route("/v1/books/{org_id}/settlement-cycles", get(list_cycles))
        .route(
            "/v1/books/{org_id}/settlement-cycles/{counterparty_id}",
            get(get_cycle).put(set_cycle).delete(remove_cycle),
        )
        .route("/v1/orders/{id}/auto-renewal", get(get_auto_renewal).put(set_auto_renewal))
        .route("/v1/books/{org_id}/supplier-bills", post(reconcile_supplier_bill))
}

// ---------------------------------------------------------------------------------- credit

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditLimitBody {
    /// The new limit (`"0.00"`: no credit).
    pub limit: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreditLimitAnswer {
    pub customer_id: String,
    pub limit: String,
    /// `pending_approval` (a raise under the book's policy, 202) or `set` (200).
    pub status: String,
    pub approval_id: Option<String>,
    pub position: u64,
}

/// Set a customer's credit limit: a raise waits for approval under the book's policy
/// (`credit_limit_raise`, by the new limit: 202), a lowering (or a raise the policy lets
/// through) takes effect at once (200). Once granted, orders, usage and renewals may take the
/// wallet down to minus the limit; what they draw is a receivable (1122), repaid first by the
/// next money in.
#[utoipa::path(put, path = "/v1/customers/{id}/credit-limit", tag = "credit", request_body = CreditLimitBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = CreditLimitAnswer, description = "set at once"),
        (status = 202, body = CreditLimitAnswer, description = "a raise waiting for approval"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_credit_limit(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreditLimitBody>,
) -> Result<Answer<CreditLimitAnswer>, ApiError> {
    let customer_id: OrgId = parse::path_id("customer", &id)?;
    let limit = parse::amount("limit", &body.limit)?;
    let approval_id = Minter::new(&caller, &key, "credit-limit").id("approval");
    let command = CommandBody::Terms(TermsCommand::SetCreditLimit { customer_id, limit, approval_id });
    let committed = state.execute(&caller, &key, command).await?;
    let approval = committed.events.iter().find_map(|event| match &event.event.payload {
        ledger_core::EventPayload::ApprovalRequested(ApprovalRequested { approval_id, .. }) => Some(*approval_id),
        _ => None,
    });
    let (code, status) = match approval {
        Some(_) => (StatusCode::ACCEPTED, "pending_approval"),
        None => (StatusCode::OK, "set"),
    };
    let answer = CreditLimitAnswer {
        customer_id: customer_id.to_string(),
        limit: limit.to_string(),
        status: status.to_owned(),
        approval_id: approval.map(|id| id.to_string()),
        position: committed.position,
    };
    Ok(Answer(code, answer))
}

// -------------------------------------------------------------------------------- book terms

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsBody {
    /// Minutes an order may wait for payment before it times out (1 to 43200).
    pub order_payment_timeout_minutes: Option<u32>,
    /// Days until arrears fall due (1 to 365).
    pub arrears_due_days: Option<u32>,
    /// Days before its end a subscription is auto-renewed (0 to 90).
    pub renewal_lead_days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct TermsAnswer {
    pub org_id: String,
    pub order_payment_timeout_minutes: u32,
    pub arrears_due_days: u32,
    pub renewal_lead_days: u32,
    /// Whether these are the defaults (the book never set its own).
    pub default: bool,
    /// The position of the `BookTermsSet` in force (none for the defaults).
    pub position: Option<u64>,
}

fn terms_answer(book: OrgId, terms: BookTerms, position: Option<u64>) -> TermsAnswer {
    TermsAnswer {
        org_id: book.to_string(),
        order_payment_timeout_minutes: terms.order_payment_timeout_minutes,
        arrears_due_days: terms.arrears_due_days,
        renewal_lead_days: terms.renewal_lead_days,
        default: position.is_none(),
        position,
    }
}

/// Set the book's terms for what the clock decides; what is left out keeps its value.
#[utoipa::path(put, path = "/v1/books/{org_id}/terms", tag = "credit", request_body = TermsBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = TermsAnswer), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_terms(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<TermsBody>,
) -> Result<Answer<TermsAnswer>, ApiError> {
    let book: OrgId = parse::path_id("book", &org_id)?;
    let command = CommandBody::Terms(TermsCommand::SetBookTerms {
        book,
        order_payment_timeout_minutes: body.order_payment_timeout_minutes,
        arrears_due_days: body.arrears_due_days,
        renewal_lead_days: body.renewal_lead_days,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let set = committed.events.iter().find_map(|event| match &event.event.payload {
        ledger_core::EventPayload::BookTermsSet(set) => Some(set),
        _ => None,
    });
    let set = set.ok_or_else(|| ApiError::Internal("the command committed no BookTermsSet".to_owned()))?;
    let terms = BookTerms {
        order_payment_timeout_minutes: set.order_payment_timeout_minutes,
        arrears_due_days: set.arrears_due_days,
        renewal_lead_days: set.renewal_lead_days,
    };
    Ok(Answer(StatusCode::OK, terms_answer(book, terms, Some(committed.position))))
}

/// The book's terms: what it set, or the defaults (a day to pay an order, thirty days for
/// arrears, renewals three days ahead).
#[utoipa::path(get, path = "/v1/books/{org_id}/terms", tag = "credit", security(("bearer" = [])),
    params(("org_id" = String, Path)), responses((status = 200, body = TermsAnswer), (status = 404, body = Problem)))]
pub async fn get_terms(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
) -> Result<Read<TermsAnswer>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    state.read.org(book).await?.filter(|org| org.kind.keeps_book()).ok_or(ApiError::NotFound { what: "book" })?;
    let answer = match state.read.book_terms(book).await? {
        Some(view) => {
            let terms = BookTerms {
                order_payment_timeout_minutes: view.order_payment_timeout_minutes,
                arrears_due_days: view.arrears_due_days,
                renewal_lead_days: view.renewal_lead_days,
            };
            terms_answer(book, terms, Some(view.position))
        }
        None => terms_answer(book, BookTerms::default(), None),
    };
    Ok(Read(position, answer))
}

// ------------------------------------------------------------------------- settlement cycles

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CycleBody {
    /// `month` or `week`.
    #[serde(deserialize_with = "word")]
    #[schema(value_type = String)]
    pub every: CycleEvery,
    /// The day the cycle comes round: 1 to 28 of the month, or 1 (Monday) to 7 (Sunday). The
    /// statement then runs through the day before.
    pub day: u32,
}

#[derive(Serialize, ToSchema)]
pub struct CycleAnswer {
    pub org_id: String,
    pub counterparty_id: String,
    pub counterparty_name: Option<String>,
    pub every: String,
    pub day: u32,
    pub position: u64,
}

impl From<SettlementCycleView> for CycleAnswer {
    fn from(view: SettlementCycleView) -> Self {
        CycleAnswer {
            org_id: view.book.to_string(),
            counterparty_id: view.counterparty_id.to_string(),
            counterparty_name: view.counterparty_name,
            every: view.every.as_str().to_owned(),
            day: view.day,
            position: view.position,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Position {
    pub position: u64,
}

fn cycle_command(org_id: &str, counterparty_id: &str, cycle: Option<SettlementCycle>) -> Result<CommandBody, ApiError> {
    Ok(CommandBody::Terms(TermsCommand::SetSettlementCycle {
        book: parse::path_id("book", org_id)?,
        counterparty_id: parse::path_id("counterparty", counterparty_id)?,
        cycle,
    }))
}

/// Set the settlement cycle with a supplier or child reseller: the clock (and `kboss settle
/// --due`) issues each statement that falls due, from the day after the last statement with the
/// counterparty through the day before the cycle's day.
#[utoipa::path(put, path = "/v1/books/{org_id}/settlement-cycles/{counterparty_id}", tag = "credit",
    request_body = CycleBody, security(("bearer" = [])),
    params(("org_id" = String, Path), ("counterparty_id" = String, Path)),
    responses((status = 200, body = CycleAnswer), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_cycle(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path((org_id, counterparty_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<CycleBody>,
) -> Result<Answer<CycleAnswer>, ApiError> {
    let cycle = SettlementCycle { every: body.every, day: body.day };
    let committed = state.execute(&caller, &key, cycle_command(&org_id, &counterparty_id, Some(cycle))?).await?;
    let answer = CycleAnswer {
        org_id,
        counterparty_id,
        counterparty_name: None,
        every: cycle.every.as_str().to_owned(),
        day: cycle.day,
        position: committed.position,
    };
    Ok(Answer(StatusCode::OK, answer))
}

/// Remove the settlement cycle with a counterparty (statements are then issued by hand).
#[utoipa::path(delete, path = "/v1/books/{org_id}/settlement-cycles/{counterparty_id}", tag = "credit",
    security(("bearer" = [])), params(("org_id" = String, Path), ("counterparty_id" = String, Path)),
    responses((status = 200, body = Position), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove_cycle(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path((org_id, counterparty_id)): Path<(String, String)>,
) -> Result<Answer<Position>, ApiError> {
    let committed = state.execute(&caller, &key, cycle_command(&org_id, &counterparty_id, None)?).await?;
    Ok(Answer(StatusCode::OK, Position { position: committed.position }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleListQuery {
    #[serde(default, deserialize_with = "optional_word")]
    pub every: Option<CycleEvery>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

fn optional_word<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<CycleEvery>, D::Error> {
    word(deserializer).map(Some)
}

/// A book's settlement cycles, in the order they were last set; `every=month|week` filters.
#[utoipa::path(get, path = "/v1/books/{org_id}/settlement-cycles", tag = "credit", security(("bearer" = [])),
    params(("org_id" = String, Path), ("every" = Option<String>, Query), ("cursor" = Option<String>, Query),
        ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<CycleAnswer>), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list_cycles(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(query): Params<CycleListQuery>,
) -> Result<Read<Page<CycleAnswer>>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let page = state.read.settlement_cycles(book, query.every, paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(position, Page::of(page, paging, CycleAnswer::from)))
}

/// One settlement cycle of the book.
#[utoipa::path(get, path = "/v1/books/{org_id}/settlement-cycles/{counterparty_id}", tag = "credit",
    security(("bearer" = [])), params(("org_id" = String, Path), ("counterparty_id" = String, Path)),
    responses((status = 200, body = CycleAnswer), (status = 404, body = Problem)))]
pub async fn get_cycle(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path((org_id, counterparty_id)): Path<(String, String)>,
) -> Result<Read<CycleAnswer>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let counterparty: OrgId = parse::path_id("settlement cycle", &counterparty_id)?;
    // A book has one cycle per counterparty: at most as many as its counterparties.
    let mut cursor = None;
    loop {
        let page = state.read.settlement_cycles(book, None, cursor.as_deref(), projections::PAGE_MAX).await?;
        if let Some(cycle) = page.items.into_iter().find(|cycle| cycle.counterparty_id == counterparty) {
            return Ok(Read(position, cycle.into()));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Err(ApiError::NotFound { what: "settlement cycle" }),
        }
    }
}

// ---------------------------------------------------------------------------- auto-renewals

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRenewalBody {
    /// Periods of the products' unit each renewal buys (1 to 1200); null switches it off.
    pub periods: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AutoRenewalAnswer {
    pub order_id: String,
    /// Null: off.
    pub periods: Option<u32>,
    /// The subscription end the clock last could not renew, and why.
    pub failed_for: Option<String>,
    pub failed_reason: Option<String>,
    pub position: Option<u64>,
}

/// Switch a subscription's auto-renewal on (for `periods` of its products' unit, which must be
/// a span of time) or off: the clock renews it from the wallet (vouchers, cash, then credit)
/// within its book's lead days of its end, with a notice when it cannot.
#[utoipa::path(put, path = "/v1/orders/{id}/auto-renewal", tag = "credit", request_body = AutoRenewalBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AutoRenewalAnswer), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_auto_renewal(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AutoRenewalBody>,
) -> Result<Answer<AutoRenewalAnswer>, ApiError> {
    let order_id: OrderId = parse::path_id("order", &id)?;
    let command = CommandBody::Terms(TermsCommand::SetAutoRenewal { order_id, periods: body.periods });
    let committed = state.execute(&caller, &key, command).await?;
    let answer = AutoRenewalAnswer {
        order_id: id,
        periods: body.periods,
        failed_for: None,
        failed_reason: None,
        position: Some(committed.position),
    };
    Ok(Answer(StatusCode::OK, answer))
}

/// A subscription's auto-renewal (periods null: off).
#[utoipa::path(get, path = "/v1/orders/{id}/auto-renewal", tag = "credit", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AutoRenewalAnswer), (status = 404, body = Problem)))]
pub async fn get_auto_renewal(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<AutoRenewalAnswer>, ApiError> {
    let order = state.read.order(parse::path_id("order", &id)?).await?;
    let order =
        order.filter(|order| super::orders::sees_order(&caller, order)).ok_or(ApiError::NotFound { what: "order" })?;
    if !super::orgs::customer_in_scope(&state, &caller, order.customer_id).await? {
        return Err(ApiError::NotFound { what: "order" });
    }
    let answer = match state.read.auto_renewal(order.id).await? {
        Some(renewal) => AutoRenewalAnswer {
            order_id: id,
            periods: Some(renewal.periods),
            failed_for: renewal.failed_for.map(|date| date.to_string()),
            failed_reason: renewal.failed_reason,
            position: Some(renewal.position),
        },
        None => {
            AutoRenewalAnswer { order_id: id, periods: None, failed_for: None, failed_reason: None, position: None }
        }
    };
    Ok(Read(position, answer))
}

// ------------------------------------------------------------------ supplier bill reconciliation

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplierBillQuery {
    pub supplier_id: String,
    pub from: String,
    pub to: String,
}

/// One line of a supplier's bill, as read from its CSV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillLine {
    /// The row in the file (the header is row 1).
    pub row: usize,
    pub date: NaiveDate,
    pub reference: Option<String>,
    pub amount: SignedAmount,
}

#[derive(Serialize, ToSchema, Debug, PartialEq, Eq)]
pub struct Difference {
    /// `amount_differs` (the same reference, another amount), `missing_in_ours` (a bill line
    /// nothing of ours matches), `missing_in_bill` (a payable of ours the bill does not list).
    pub kind: String,
    /// The bill's row.
    pub row: Option<usize>,
    /// Our event's position.
    pub position: Option<u64>,
    pub date: String,
    pub reference: Option<String>,
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReconciliationAnswer {
    pub org_id: String,
    pub supplier_id: String,
    pub from: String,
    pub to: String,
    /// Bill lines matched to a payable of ours, same amount.
    pub matched: usize,
    pub bill_lines: usize,
    pub payables: usize,
    /// What the bill charges, and what our 2202 with the supplier says for the period.
    pub theirs_total: String,
    pub ours_total: String,
    /// `theirs_total − ours_total`.
    pub difference: String,
    pub differences: Vec<Difference>,
}

/// The most lines a supplier's bill may have (as many as the payables one reconciliation reads).
pub const BILL_LINES_MAX: usize = projections::PAYABLE_LINES_MAX;

/// A supplier's bill: CSV with a header naming `date` and `amount` (and optionally
/// `reference`: our order, usage or renewal id the supplier quotes), other columns ignored.
pub fn parse_bill(text: &str) -> Result<Vec<BillLine>, ApiError> {
    let invalid = |detail: String| ApiError::invalid("invalid_field", "body", detail);
    let records = crate::audit::csv_records(text.trim_start_matches('\u{feff}')).map_err(invalid)?;
    let mut records = records.into_iter().filter(|record| record.iter().any(|field| !field.trim().is_empty()));
    let header = records.next().ok_or_else(|| invalid("the bill is empty: a header row is needed".to_owned()))?;
    let column = |name: &str| header.iter().position(|field| field.trim().eq_ignore_ascii_case(name));
    let (date, amount) = match (column("date"), column("amount")) {
        (Some(date), Some(amount)) => (date, amount),
        _ => return Err(invalid("the header must name the columns date and amount".to_owned())),
    };
    let reference = column("reference");
    let mut lines = Vec::new();
    for (index, record) in records.enumerate() {
        let row = index + 2;
        if lines.len() == BILL_LINES_MAX {
            return Err(invalid(format!("a bill has at most {BILL_LINES_MAX} lines")));
        }
        let field = |at: usize| record.get(at).map(|field| field.trim()).unwrap_or("");
        let date = NaiveDate::parse_from_str(field(date), "%Y-%m-%d")
            .map_err(|_| invalid(format!("row {row}: date must be YYYY-MM-DD, not {:?}", field(date))))?;
        let text = field(amount);
        let (negative, digits) = match text.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, text),
        };
        let magnitude =
            Amount::parse(digits).map_err(|error| invalid(format!("row {row}: amount {text:?}: {error}")))?;
        let amount = if negative { SignedAmount::ZERO.sub(magnitude) } else { SignedAmount::from(magnitude) };
        let reference = reference.map(field).filter(|reference| !reference.is_empty()).map(str::to_owned);
        lines.push(BillLine { row, date, reference, amount });
    }
    Ok(lines)
}

/// Matches a bill against our payables: first by reference (our order id, or the event's own
/// reference), the same amount a match and another a difference; then what is left by date and
/// amount; what is left of either side is missing from the other. Each line matches once.
pub fn reconcile(bill: &[BillLine], ours: &[PayableView]) -> (usize, Vec<Difference>) {
    let mut taken = vec![false; ours.len()];
    let mut matched = 0;
    let mut differences = Vec::new();
    let mut unmatched = Vec::new();
    let names = |payable: &PayableView, reference: &str| {
        payable.order_id.is_some_and(|order| order.to_string() == reference)
            || payable.reference.as_deref() == Some(reference)
    };
    for line in bill {
        let by_reference = line
            .reference
            .as_deref()
            .and_then(|reference| (0..ours.len()).find(|index| !taken[*index] && names(&ours[*index], reference)));
        match by_reference {
            Some(index) => {
                taken[index] = true;
                if ours[index].amount == line.amount {
                    matched += 1;
                } else {
                    differences.push(Difference {
                        kind: "amount_differs".to_owned(),
                        row: Some(line.row),
                        position: Some(ours[index].position),
                        date: line.date.to_string(),
                        reference: line.reference.clone(),
                        ours: Some(ours[index].amount.to_string()),
                        theirs: Some(line.amount.to_string()),
                    });
                }
            }
            None => unmatched.push(line),
        }
    }
    for line in unmatched {
        let same = (0..ours.len())
            .find(|index| !taken[*index] && ours[*index].date == line.date && ours[*index].amount == line.amount);
        match same {
            Some(index) => {
                taken[index] = true;
                matched += 1;
            }
            None => differences.push(Difference {
                kind: "missing_in_ours".to_owned(),
                row: Some(line.row),
                position: None,
                date: line.date.to_string(),
                reference: line.reference.clone(),
                ours: None,
                theirs: Some(line.amount.to_string()),
            }),
        }
    }
    for (payable, _) in ours.iter().zip(&taken).filter(|(_, taken)| !**taken) {
        differences.push(Difference {
            kind: "missing_in_bill".to_owned(),
            row: None,
            position: Some(payable.position),
            date: payable.date.to_string(),
            reference: payable.order_id.map(|order| order.to_string()).or_else(|| payable.reference.clone()),
            ours: Some(payable.amount.to_string()),
            theirs: None,
        });
    }
    (matched, differences)
}

/// Reconcile a supplier's bill (CSV body: `date,reference,amount`, a header row first) against
/// what the book owes the supplier for the period (its 2202 lines with the supplier, one per
/// event, settlement payments left out). Nothing is stored.
#[utoipa::path(post, path = "/v1/books/{org_id}/supplier-bills", tag = "credit",
    request_body(content = String, content_type = "text/csv",
        description = "the supplier's bill: a header naming date, amount and optionally reference"),
    security(("bearer" = [])),
    params(("org_id" = String, Path), ("supplier_id" = String, Query), ("from" = String, Query), ("to" = String, Query)),
    responses((status = 200, body = ReconciliationAnswer), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn reconcile_supplier_bill(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(query): Params<SupplierBillQuery>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Read<ReconciliationAnswer>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let supplier: OrgId = parse::id("supplier_id", &query.supplier_id)?;
    let is_supplier = state
        .read
        .org(supplier)
        .await?
        .is_some_and(|org| org.kind == ledger_core::org::OrgKind::Supplier && org.parent_id == Some(book));
    if !is_supplier {
        return Err(ApiError::NotFound { what: "supplier" });
    }
    let (from, to) = (parse::date("from", &query.from)?, parse::date("to", &query.to)?);
    if from > to {
        return Err(ApiError::invalid("invalid_field", "to", "must not be before from"));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: state.settings.limits.body_bytes_max }
        } else {
            ApiError::bad_request(format!("cannot read the body: {rejection}"))
        }
    })?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::invalid("invalid_field", "body", "must be UTF-8 text"))?;
    let bill = parse_bill(text)?;
    let ours = state.read.payables(book, supplier, from, to).await?;
    let (matched, differences) = reconcile(&bill, &ours);
    let sum = |amounts: &mut dyn Iterator<Item = SignedAmount>| amounts.fold(SignedAmount::ZERO, SignedAmount::plus);
    let theirs_total = sum(&mut bill.iter().map(|line| line.amount));
    let ours_total = sum(&mut ours.iter().map(|payable| payable.amount));
    let answer = ReconciliationAnswer {
        org_id,
        supplier_id: supplier.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        matched,
        bill_lines: bill.len(),
        payables: ours.len(),
        theirs_total: theirs_total.to_string(),
        ours_total: ours_total.to_string(),
        difference: theirs_total.plus(ours_total.negated()).to_string(),
        differences,
    };
    Ok(Read(position, answer))
}

/// Bill lines by row for tests: the answer's differences name rows, this keeps them readable.
#[cfg(test)]
fn rows(bill: &[BillLine]) -> std::collections::BTreeMap<usize, &BillLine> {
    bill.iter().map(|line| (line.row, line)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payable(position: u64, date: &str, amount: &str, order: Option<u128>) -> PayableView {
        PayableView {
            position,
            date: date.parse().unwrap(),
            amount: SignedAmount::from(Amount::parse(amount).unwrap()),
            order_id: order.map(OrderId::from_u128),
            reference: None,
        }
    }

    #[test]
    fn a_bill_reads_its_header_columns_in_any_order_with_credit_notes_and_quotes() {
        let bill = parse_bill(
            "\u{feff}Amount,Reference,date,note\r\n700.00,,2026-01-15,\"GPU, monthly\"\n-10.50,X-1,2026-01-20,\n\n",
        )
        .unwrap();
        let rows = rows(&bill);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[&2].amount.to_string(), rows[&2].reference.clone()), ("700.00".to_owned(), None));
        assert_eq!((rows[&3].amount.to_string(), rows[&3].reference.as_deref()), ("-10.50".to_owned(), Some("X-1")));
        for (text, fault) in [
            ("", "empty"),
            ("day,amount\n", "header"),
            ("date,amount\n2026-13-01,1.00\n", "row 2"),
            ("date,amount\n2026-01-01,1.001\n", "row 2"),
        ] {
            let error = parse_bill(text).unwrap_err();
            assert!(error.to_string().contains(fault), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_bill_matches_by_reference_then_by_date_and_amount_and_names_every_difference() {
        let order = OrderId::from_u128(7).to_string();
        let bill = parse_bill(&format!(
            "date,reference,amount\n2026-01-15,{order},690.00\n2026-01-16,,700.00\n2026-01-17,,1.00\n"
        ))
        .unwrap();
        let ours = [
            payable(10, "2026-01-15", "700.00", Some(7)),
            payable(11, "2026-01-16", "700.00", Some(8)),
            payable(12, "2026-01-18", "5.00", None),
        ];
        let (matched, differences) = reconcile(&bill, &ours);
        assert_eq!(matched, 1);
        let kinds: Vec<(&str, Option<usize>, Option<u64>)> = differences
            .iter()
            .map(|difference| (difference.kind.as_str(), difference.row, difference.position))
            .collect();
        assert_eq!(
            kinds,
            [
                ("amount_differs", Some(2), Some(10)),
                ("missing_in_ours", Some(4), None),
                ("missing_in_bill", None, Some(12))
            ]
        );
        assert_eq!(
            (differences[0].ours.as_deref(), differences[0].theirs.as_deref()),
            (Some("700.00"), Some("690.00"))
        );
    }
}
