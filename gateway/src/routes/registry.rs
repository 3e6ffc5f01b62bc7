//! Registries: what a book has configured or issued, read by id and in lists (issue 12 "read
//! what is configured", issue 15 "a detail for every id an answer contains"). Promotions and
//! invite codes with their uses, read by the book's staff; serial-code batches and codes, read by
//! their issuer and their distributor (a code also by the customer that activated it); invoices,
//! read by the book's staff and their customer. The platform's `super_admin` reads all; anything
//! else is not found.
//!
//! Paths: a batch is `/v1/serial-codes/batches/{id}` and a code `/v1/serial-codes/{code}`; the
//! router prefers the literal segment, and no generated code is `batches` (codes are upper case).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use ledger_core::ids::{InviteCode, InvoiceId, OrgId, PromotionId, SerialBatchId, SerialCode};
use ledger_core::org::OrgKind;
use projections::{
    InviteCodeView, InvoiceQuery, InvoiceView, PromotionView, SerialBatchView, SerialCodeQuery, SerialCodeView,
    SerialScope,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::finance::readable_book;
use super::{parse, Fresh, Page, Paging, Params, Read};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/books/{org_id}/promotions", get(list_promotions))
        .route("/v1/promotions/{id}", get(get_promotion))
        .route("/v1/books/{org_id}/invite-codes", get(list_invite_codes))
        .route("/v1/books/{org_id}/invite-codes/{code}", get(get_invite_code))
        .route("/v1/serial-codes", get(list_serial_codes))
        .route("/v1/serial-codes/batches/{id}", get(get_serial_batch))
        .route("/v1/serial-codes/{code}", get(get_serial_code))
        .route("/v1/invoices", get(list_invoices))
        .route("/v1/invoices/{id}", get(get_invoice))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryPageParams {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// Promotions and invite codes
// ---------------------------------------------------------------------------------------------

/// A promotion: its rates per product over its dates.
#[derive(Serialize, ToSchema)]
pub struct PromotionBody {
    pub id: String,
    pub book: String,
    pub name: String,
    /// Product id → rate of list price.
    pub rates: std::collections::BTreeMap<String, String>,
    pub valid_from: String,
    pub valid_to: String,
    pub created_at: String,
    /// The position of the event that created it.
    pub position: u64,
    /// `exclusive` (competes with the base price; the lowest wins) or `stackable` (multiplies
    /// the base price).
    pub stacking: String,
    /// `invite_code` or `everyone` (every customer of the book within its dates).
    pub reach: String,
}

impl From<PromotionView> for PromotionBody {
    fn from(view: PromotionView) -> Self {
        PromotionBody {
            id: view.id.to_string(),
            book: view.book.to_string(),
            name: view.name,
            rates: view.rates.iter().map(|(product, rate)| (product.to_string(), rate.to_string())).collect(),
            valid_from: view.valid_from.to_string(),
            valid_to: view.valid_to.to_string(),
            created_at: view.created_at.to_rfc3339(),
            position: view.position,
            stacking: view.stacking,
            reach: view.reach,
        }
    }
}

/// A book's promotions, in the order they were created (its staff).
#[utoipa::path(get, path = "/v1/books/{org_id}/promotions", tag = "catalog", security(("bearer" = [])),
    params(("org_id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<PromotionBody>), (status = 404, body = Problem)))]
pub async fn list_promotions(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<RegistryPageParams>,
) -> Result<Read<Page<PromotionBody>>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let page = state.read.promotions(book, paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(position, Page::of(page, paging, PromotionBody::from)))
}

/// A promotion (the staff of its book).
#[utoipa::path(get, path = "/v1/promotions/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = PromotionBody), (status = 404, body = Problem)))]
pub async fn get_promotion(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<PromotionBody>, ApiError> {
    let id: PromotionId = parse::path_id("promotion", &id)?;
    let promotion = state.read.promotion(id).await?;
    let promotion = promotion
        .filter(|promotion| reads_book(&caller, promotion.book))
        .ok_or(ApiError::NotFound { what: "promotion" })?;
    Ok(Read(position, PromotionBody::from(promotion)))
}

/// An invite code with its uses: the orders placed with it, whatever became of them.
#[derive(Serialize, ToSchema)]
pub struct InviteCodeBody {
    pub code: String,
    pub book: String,
    pub promotion_id: Option<String>,
    pub promotion_name: Option<String>,
    pub salesperson: Option<String>,
    /// Orders placed with the code.
    pub uses: u64,
    /// The last order placed with it, when, and at which position.
    pub last_order_id: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_position: Option<u64>,
    pub created_at: String,
    /// The position of the event that created it.
    pub position: u64,
}

impl From<InviteCodeView> for InviteCodeBody {
    fn from(view: InviteCodeView) -> Self {
        InviteCodeBody {
            code: view.code,
            book: view.book.to_string(),
            promotion_id: view.promotion_id.map(|id| id.to_string()),
            promotion_name: view.promotion_name,
            salesperson: view.salesperson,
            uses: view.uses,
            last_order_id: view.last_order_id.map(|id| id.to_string()),
            last_used_at: view.last_used_at.map(|at| at.to_rfc3339()),
            last_used_position: view.last_used_position,
            created_at: view.created_at.to_rfc3339(),
            position: view.position,
        }
    }
}

/// A book's invite codes with their uses, in the order they were created (its staff).
#[utoipa::path(get, path = "/v1/books/{org_id}/invite-codes", tag = "catalog", security(("bearer" = [])),
    params(("org_id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<InviteCodeBody>), (status = 404, body = Problem)))]
pub async fn list_invite_codes(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<RegistryPageParams>,
) -> Result<Read<Page<InviteCodeBody>>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let page = state.read.invite_codes(book, paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(position, Page::of(page, paging, InviteCodeBody::from)))
}

/// An invite code of a book, with its uses (its staff).
#[utoipa::path(get, path = "/v1/books/{org_id}/invite-codes/{code}", tag = "catalog", security(("bearer" = [])),
    params(("org_id" = String, Path), ("code" = String, Path)),
    responses((status = 200, body = InviteCodeBody), (status = 404, body = Problem)))]
pub async fn get_invite_code(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path((org_id, code)): Path<(String, String)>,
) -> Result<Read<InviteCodeBody>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let code = InviteCode::try_from(code).map_err(|_| ApiError::NotFound { what: "invite code" })?;
    let view = state.read.invite_code(book, code.as_str()).await?.ok_or(ApiError::NotFound { what: "invite code" })?;
    Ok(Read(position, InviteCodeBody::from(view)))
}

/// The staff of `book`, or the `super_admin`.
fn reads_book(caller: &Caller, book: OrgId) -> bool {
    caller.is_super_admin() || (book == caller.org_id() && caller.is_staff())
}

// ---------------------------------------------------------------------------------------------
// Serial codes
// ---------------------------------------------------------------------------------------------

/// The issuer's and the distributor's staff, or the `super_admin`.
fn reads_batch(caller: &Caller, issuer_id: OrgId, distributor_id: OrgId) -> bool {
    caller.is_super_admin()
        || (caller.is_staff() && (issuer_id == caller.org_id() || distributor_id == caller.org_id()))
}

/// A batch of serial codes issued to a distributor: its package, tier, price and activations.
#[derive(Serialize, ToSchema)]
pub struct SerialBatchBody {
    pub id: String,
    pub issuer_id: String,
    pub distributor_id: String,
    pub distributor_name: Option<String>,
    /// `gold`, `platinum` or `diamond`: the distributor's tier when the batch was issued.
    pub tier: String,
    /// The package: days of service per code.
    pub days: u32,
    /// Codes in the batch (`GET /v1/serial-codes?batch_id=` lists them).
    pub count: u64,
    /// How many of them are activated.
    pub activated: u64,
    /// What the distributor pays per code: the package's list price × its tier's rate.
    pub unit_price: String,
    pub total: String,
    pub issued_at: String,
    /// The position of the event that issued it.
    pub position: u64,
    /// The last day its codes may be activated; none: they never expire.
    pub expires_on: Option<String>,
    /// How many of its codes expired never activated (booked out to 6051 by the clock).
    pub expired: u64,
}

impl From<SerialBatchView> for SerialBatchBody {
    fn from(view: SerialBatchView) -> Self {
        SerialBatchBody {
            id: view.id.to_string(),
            issuer_id: view.issuer_id.to_string(),
            distributor_id: view.distributor_id.to_string(),
            distributor_name: view.distributor_name,
            tier: super::json_text(&view.tier),
            days: view.days,
            count: view.count,
            activated: view.activated,
            unit_price: view.unit_price.to_string(),
            total: view.total.to_string(),
            issued_at: view.issued_at.to_rfc3339(),
            position: view.position,
            expires_on: view.expires_on.map(|day| day.to_string()),
            expired: view.expired,
        }
    }
}

/// A batch of serial codes (its issuer's and its distributor's staff).
#[utoipa::path(get, path = "/v1/serial-codes/batches/{id}", tag = "serial codes", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = SerialBatchBody), (status = 404, body = Problem)))]
pub async fn get_serial_batch(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<SerialBatchBody>, ApiError> {
    let id: SerialBatchId = parse::path_id("serial batch", &id)?;
    let batch = state.read.serial_batch(id).await?;
    let batch = batch
        .filter(|batch| reads_batch(&caller, batch.issuer_id, batch.distributor_id))
        .ok_or(ApiError::NotFound { what: "serial batch" })?;
    Ok(Read(position, SerialBatchBody::from(batch)))
}

/// A serial code: issued to a distributor, then activated once by a customer.
#[derive(Serialize, ToSchema)]
pub struct SerialCodeBody {
    pub code: String,
    pub batch_id: String,
    pub issuer_id: String,
    pub distributor_id: String,
    pub distributor_name: Option<String>,
    /// Days of service the code gives.
    pub days: u32,
    /// `issued`, `activated` or `expired`.
    pub status: String,
    /// The last day it may be activated; none: never expires.
    pub expires_on: Option<String>,
    /// The code's price to its distributor, recognised as the issuer's revenue at activation;
    /// shown to the issuer's and the distributor's staff only.
    pub amount: Option<String>,
    /// The position of the event that issued it.
    pub issued_position: u64,
    /// The customer that activated it, when, and at which position.
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub activated_at: Option<String>,
    pub activated_position: Option<u64>,
    /// The position of the event that booked it out, expired.
    pub expired_position: Option<u64>,
}

fn serial_code_body(view: SerialCodeView, caller: &Caller) -> SerialCodeBody {
    let priced = reads_batch(caller, view.issuer_id, view.distributor_id);
    SerialCodeBody {
        code: view.code,
        batch_id: view.batch_id.to_string(),
        issuer_id: view.issuer_id.to_string(),
        distributor_id: view.distributor_id.to_string(),
        distributor_name: view.distributor_name,
        days: view.days,
        status: view.status,
        amount: priced.then(|| view.amount.to_string()),
        issued_position: view.issued_position,
        customer_id: view.customer_id.map(|id| id.to_string()),
        customer_name: view.customer_name,
        activated_at: view.activated_at.map(|at| at.to_rfc3339()),
        activated_position: view.activated_position,
        expires_on: view.expires_on.map(|day| day.to_string()),
        expired_position: view.expired_position,
    }
}

/// A serial code (its issuer's and its distributor's staff, and the customer that activated it).
#[utoipa::path(get, path = "/v1/serial-codes/{code}", tag = "serial codes", security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = SerialCodeBody), (status = 404, body = Problem)))]
pub async fn get_serial_code(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(code): Path<String>,
) -> Result<Read<SerialCodeBody>, ApiError> {
    let code = SerialCode::try_from(code).map_err(|_| ApiError::NotFound { what: "serial code" })?;
    let view = state.read.serial_code(code.as_str()).await?;
    let view = view
        .filter(|view| {
            reads_batch(&caller, view.issuer_id, view.distributor_id) || view.customer_id == Some(caller.org_id())
        })
        .ok_or(ApiError::NotFound { what: "serial code" })?;
    Ok(Read(position, serial_code_body(view, &caller)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialCodeListQuery {
    pub distributor_id: Option<String>,
    pub batch_id: Option<String>,
    pub status: Option<SerialStatusFilter>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// `status=` of a serial code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SerialStatusFilter {
    Issued,
    Activated,
    Expired,
}

impl SerialStatusFilter {
    fn as_str(self) -> &'static str {
        match self {
            SerialStatusFilter::Issued => projections::projection::registry::ISSUED,
            SerialStatusFilter::Activated => projections::projection::registry::ACTIVATED,
            SerialStatusFilter::Expired => projections::projection::registry::EXPIRED,
        }
    }
}

/// Serial codes in the order they were issued: the issuer's staff see every code it issued, a
/// distributor's staff the codes issued to it, a customer the codes it activated.
#[utoipa::path(get, path = "/v1/serial-codes", tag = "serial codes", security(("bearer" = [])),
    params(("distributor_id" = Option<String>, Query), ("batch_id" = Option<String>, Query),
        ("status" = Option<String>, Query, description = "issued, activated or expired"),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<SerialCodeBody>), (status = 404, body = Problem)))]
pub async fn list_serial_codes(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(query): Params<SerialCodeListQuery>,
) -> Result<Read<Page<SerialCodeBody>>, ApiError> {
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let distributor_id: Option<OrgId> =
        query.distributor_id.as_deref().map(|id| parse::id("distributor_id", id)).transpose()?;
    let batch_id: Option<SerialBatchId> = query.batch_id.as_deref().map(|id| parse::id("batch_id", id)).transpose()?;
    let kind = caller_kind(&state, &caller).await?;
    let staff = caller.is_staff() && kind != Some(OrgKind::Customer);
    if !caller.is_super_admin() {
        // A distributor's codes are its own and its issuer's business (the platform issues every
        // batch); a batch is its distributor's and its issuer's.
        let own = |id: OrgId| staff && (id == caller.org_id() || kind == Some(OrgKind::Platform));
        if distributor_id.is_some_and(|id| !own(id)) {
            return Err(ApiError::NotFound { what: "distributor" });
        }
        if let Some(id) = batch_id {
            let batch = state.read.serial_batch(id).await?;
            if !batch.is_some_and(|batch| reads_batch(&caller, batch.issuer_id, batch.distributor_id)) {
                return Err(ApiError::NotFound { what: "serial batch" });
            }
        }
    }
    let scope = if caller.is_super_admin() {
        SerialScope::All
    } else if staff {
        SerialScope::Org(caller.org_id())
    } else {
        SerialScope::Customer(caller.org_id())
    };
    let code_query = SerialCodeQuery {
        scope,
        distributor_id,
        batch_id,
        status: query.status.map(|status| status.as_str().to_owned()),
        cursor: paging.cursor.clone(),
        limit: paging.limit,
    };
    let page = state.read.serial_codes(&code_query).await?;
    Ok(Read(position, Page::of(page, paging, |view| serial_code_body(view, &caller))))
}

/// The kind of the caller's org.
async fn caller_kind(state: &SharedState, caller: &Caller) -> Result<Option<OrgKind>, ApiError> {
    Ok(state.read.org(caller.org_id()).await?.map(|org| org.kind))
}

// ---------------------------------------------------------------------------------------------
// Invoices
// ---------------------------------------------------------------------------------------------

/// An invoice: requested (awaiting its approval), then issued or rejected.
#[derive(Serialize, ToSchema)]
pub struct InvoiceRecordBody {
    pub id: String,
    pub customer_id: String,
    pub customer_name: Option<String>,
    /// The book it is issued in (the customer's seller).
    pub book: String,
    pub amount: String,
    /// `requested`, `issued`, `delivered`, `void` or `rejected`.
    pub status: String,
    /// The approval it waits for or waited for.
    pub approval_id: Option<String>,
    pub requested_at: String,
    pub requested_position: u64,
    pub issued_position: Option<u64>,
    /// `ordinary` or `special`; null for a request of the first contract.
    #[serde(rename = "type")]
    pub invoice_type: Option<String>,
    pub title: Option<String>,
    pub tax_id: Option<String>,
    pub address: Option<String>,
    pub bank_account: Option<String>,
    pub order_ids: Vec<String>,
    pub tax_rate: Option<String>,
    pub tax_amount: Option<String>,
    /// What red-letter invoices reversed of it, and each of them.
    pub red_lettered: String,
    pub red_letters: Vec<RedLetterBody>,
    pub delivered_position: Option<u64>,
    pub voided_position: Option<u64>,
    pub void_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RedLetterBody {
    pub id: String,
    pub amount: String,
    pub tax_amount: String,
    pub reason: String,
    pub position: u64,
}

impl From<InvoiceView> for InvoiceRecordBody {
    fn from(view: InvoiceView) -> Self {
        InvoiceRecordBody {
            id: view.id.to_string(),
            customer_id: view.customer_id.to_string(),
            customer_name: view.customer_name,
            book: view.book.to_string(),
            amount: view.amount.to_string(),
            status: view.status,
            approval_id: view.approval_id.map(|id| id.to_string()),
            requested_at: view.requested_at.to_rfc3339(),
            requested_position: view.requested_position,
            issued_position: view.issued_position,
            invoice_type: view.invoice_type,
            title: view.details.as_ref().map(|details| details.title.clone()),
            tax_id: view.details.as_ref().and_then(|details| details.tax_id.clone()),
            address: view.details.as_ref().and_then(|details| details.address.clone()),
            bank_account: view.details.as_ref().and_then(|details| details.bank_account.clone()),
            order_ids: view.details.map(|details| details.order_ids).unwrap_or_default(),
            tax_rate: view.tax_rate,
            tax_amount: view.tax_amount.map(|amount| amount.to_string()),
            red_lettered: view.red_lettered.to_string(),
            red_letters: view
                .red_letters
                .into_iter()
                .map(|letter| RedLetterBody {
                    id: letter.id,
                    amount: letter.amount,
                    tax_amount: letter.tax_amount,
                    reason: letter.reason,
                    position: letter.position,
                })
                .collect(),
            delivered_position: view.delivered_position,
            voided_position: view.voided_position,
            void_reason: view.void_reason,
        }
    }
}

/// An invoice (the staff of its book, and its customer).
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "settlements", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = InvoiceRecordBody), (status = 404, body = Problem)))]
pub async fn get_invoice(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<InvoiceRecordBody>, ApiError> {
    let id: InvoiceId = parse::path_id("invoice", &id)?;
    let invoice = state.read.invoice(id).await?;
    let invoice = invoice
        .filter(|invoice| reads_book(&caller, invoice.book) || invoice.customer_id == caller.org_id())
        .ok_or(ApiError::NotFound { what: "invoice" })?;
    Ok(Read(position, InvoiceRecordBody::from(invoice)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceListQuery {
    pub customer_id: Option<String>,
    pub status: Option<InvoiceStatusFilter>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// `status=` of an invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatusFilter {
    Requested,
    Issued,
    Delivered,
    Void,
    Rejected,
}

impl InvoiceStatusFilter {
    fn as_str(self) -> &'static str {
        use projections::projection::registry::{
            INVOICE_DELIVERED, INVOICE_ISSUED, INVOICE_REJECTED, INVOICE_REQUESTED, INVOICE_VOID,
        };
        match self {
            InvoiceStatusFilter::Requested => INVOICE_REQUESTED,
            InvoiceStatusFilter::Issued => INVOICE_ISSUED,
            InvoiceStatusFilter::Delivered => INVOICE_DELIVERED,
            InvoiceStatusFilter::Void => INVOICE_VOID,
            InvoiceStatusFilter::Rejected => INVOICE_REJECTED,
        }
    }
}

/// Invoices in the order they were requested: a book's staff list its invoices (optionally one
/// customer's), a customer its own.
#[utoipa::path(get, path = "/v1/invoices", tag = "settlements", security(("bearer" = [])),
    params(("customer_id" = Option<String>, Query),
        ("status" = Option<String>, Query, description = "requested, issued or rejected"),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<InvoiceRecordBody>), (status = 404, body = Problem)))]
pub async fn list_invoices(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(query): Params<InvoiceListQuery>,
) -> Result<Read<Page<InvoiceRecordBody>>, ApiError> {
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let customer_id: Option<OrgId> = query.customer_id.as_deref().map(|id| parse::id("customer_id", id)).transpose()?;
    let kind = caller_kind(&state, &caller).await?;
    let (book, customer_id) = if caller.is_super_admin() {
        (None, customer_id)
    } else if caller.is_staff() && kind != Some(OrgKind::Customer) {
        if let Some(id) = customer_id {
            let customer = state.read.org(id).await?;
            if !customer.is_some_and(|org| org.kind == OrgKind::Customer && org.parent_id == Some(caller.org_id())) {
                return Err(ApiError::NotFound { what: "customer" });
            }
        }
        (Some(caller.org_id()), customer_id)
    } else {
        if customer_id.is_some_and(|id| id != caller.org_id()) {
            return Err(ApiError::NotFound { what: "customer" });
        }
        (None, Some(caller.org_id()))
    };
    let invoice_query = InvoiceQuery {
        book,
        customer_id,
        status: query.status.map(|status| status.as_str().to_owned()),
        cursor: paging.cursor.clone(),
        limit: paging.limit,
    };
    let page = state.read.invoices(&invoice_query).await?;
    Ok(Read(position, Page::of(page, paging, InvoiceRecordBody::from)))
}
