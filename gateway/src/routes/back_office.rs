//! The back office (issue 12): the registries of customers, resellers and suppliers with their
//! profiles, closing (注销) and reopening, supplier terms and sale modes; products' shelf and
//! list prices; what books configured (rate tables, posting rules) and the HTTP face of what
//! existed only in the core (posting rules, manual journal entries); customers' statements.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::Router;
use chrono::NaiveDate;
use ledger_core::chart::{AccountCode, Side};
use ledger_core::event::{
    ApprovalRequested, CycleEvery, ListPriceScheduled, ManualEntryBooked, OrgClosed, OrgProfile, OrgProfileUpdated,
    OrgReopened, PostingRulesSet, ProductUpdated, SettlementMethod, SupplierTerms, SupplierTermsSet, Verification,
};
use ledger_core::ids::{ApprovalId, OrgId, ProductId, UserId};
use ledger_core::journal::Line;
use ledger_core::money::SignedAmount;
use ledger_core::org::{OrgKind, SaleMode};
use ledger_core::pricing::{PriceBasis, PriceRule};
use ledger_core::rules::{PostingRule, RuleLine};
use ledger_core::{CommandBody, RegistryCommand, SettlementCommand, SetupCommand};
use projections::projection::enum_text;
use projections::{OrgRecordView, OrgStatus, RegistryQuery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orgs::{customer_in_scope, scoped_owner, visible_org};
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read, POSITION_HEADER};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/customers", get(list_customers))
        .route("/v1/resellers", get(list_resellers))
        .route("/v1/suppliers", get(list_suppliers))
        .route("/v1/orgs/{id}/close", post(close_org))
        .route("/v1/orgs/{id}/reopen", post(reopen_org))
        .route("/v1/orgs/{id}/sale-mode", put(set_sale_mode))
        .route("/v1/suppliers/{id}/terms", put(set_supplier_terms))
        .route("/v1/products/{id}/list-prices", post(schedule_list_price))
        .route("/v1/orgs/{id}", get(get_org).patch(patch_org))
        .route("/v1/products/{id}", patch(patch_product))
        .route("/v1/books/{org_id}/rates", get(list_rates))
        .route("/v1/books/{org_id}/posting-rules", get(list_posting_rules))
        .route("/v1/posting-rules/{kind}", put(set_posting_rule))
        .route("/v1/books/{org_id}/entries", post(request_manual_entry))
        .route("/v1/customers/{id}/statement", get(customer_statement))
}

// ---------------------------------------------------------------- registries

#[derive(Serialize, ToSchema)]
pub struct ProfileBody {
    pub contact_person: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The company its invoices are titled to (发票抬头).
    pub company: Option<String>,
    pub tax_id: Option<String>,
    pub address: Option<String>,
    pub bank_account: Option<String>,
    /// `unverified`, `personal` (实名) or `company` (企业认证).
    pub verification: String,
    pub tags: Vec<String>,
    pub notes: Option<String>,
}

impl From<OrgProfile> for ProfileBody {
    fn from(profile: OrgProfile) -> Self {
        ProfileBody {
            contact_person: profile.contact_person,
            phone: profile.phone,
            email: profile.email,
            company: profile.company,
            tax_id: profile.tax_id,
            address: profile.address,
            bank_account: profile.bank_account,
            verification: profile.verification.as_str().to_owned(),
            tags: profile.tags.into_iter().collect(),
            notes: profile.notes,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TermsBody {
    /// `prepaid` or `postpaid`.
    pub method: String,
    /// `month` or `week`.
    pub cycle: String,
    pub currency: String,
    pub payment_days: u32,
}

impl From<SupplierTerms> for TermsBody {
    fn from(terms: SupplierTerms) -> Self {
        TermsBody {
            method: enum_text(&terms.method),
            cycle: enum_text(&terms.cycle),
            currency: terms.currency.to_string(),
            payment_days: terms.payment_days,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SaleModeBody {
    /// `discount` or `rebate`.
    pub mode: String,
    pub commission_rate: Option<String>,
    /// From when (absent: today's mode).
    pub effective_from: Option<String>,
}

fn sale_mode_body(mode: SaleMode, effective_from: Option<NaiveDate>) -> SaleModeBody {
    let (mode, commission_rate) = match mode {
        SaleMode::Discount => ("discount", None),
        SaleMode::Rebate { commission_rate } => ("rebate", Some(commission_rate.to_string())),
    };
    SaleModeBody { mode: mode.to_owned(), commission_rate, effective_from: effective_from.map(|date| date.to_string()) }
}

/// An org's record in the registry.
#[derive(Serialize, ToSchema)]
pub struct OrgRecordBody {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub currency: String,
    /// `active` or `closed` (注销).
    pub status: String,
    /// A customer's owner (a user of its seller).
    pub owner_id: Option<String>,
    pub profile: ProfileBody,
    pub opened_at: Option<String>,
    pub closed_at: Option<String>,
    /// A supplier's agreement terms, once set.
    pub supplier_terms: Option<TermsBody>,
    /// A reseller's sale mode today, then those from later dates.
    pub sale_mode: Option<SaleModeBody>,
    pub scheduled_sale_modes: Vec<SaleModeBody>,
    /// The position of the event that opened it.
    pub position: u64,
}

impl From<OrgRecordView> for OrgRecordBody {
    fn from(record: OrgRecordView) -> Self {
        let reseller = record.org.kind == OrgKind::Reseller;
        OrgRecordBody {
            id: record.org.id.to_string(),
            kind: record.org.kind.as_str().to_owned(),
            name: record.org.name,
            parent_id: record.org.parent_id.map(|id| id.to_string()),
            currency: record.org.currency.to_string(),
            status: record.status.as_str().to_owned(),
            owner_id: record.org.owner_id.map(|id| id.to_string()),
            profile: record.profile.into(),
            opened_at: record.opened_at.map(|at| at.to_rfc3339()),
            closed_at: record.closed_at.map(|at| at.to_rfc3339()),
            supplier_terms: record.supplier_terms.map(TermsBody::from),
            sale_mode: reseller.then(|| sale_mode_body(record.sale_mode, None)),
            scheduled_sale_modes: record
                .scheduled_sale_modes
                .into_iter()
                .map(|(date, mode)| sale_mode_body(mode, Some(date)))
                .collect(),
            position: record.position,
        }
    }
}

/// A customer in the registry list.
#[derive(Serialize, ToSchema)]
pub struct CustomerItem {
    pub id: String,
    /// Masked (`张**`) when the caller is the parent of the customer's reseller.
    pub name: String,
    pub status: String,
    pub owner_id: Option<String>,
    /// The reseller (or platform) that sells to it.
    pub reseller_id: Option<String>,
    /// Its wallet, cash and vouchers (absent when masked: see `aggregate`).
    pub balance: Option<String>,
    pub cash: Option<String>,
    pub voucher: Option<String>,
    pub tags: Vec<String>,
    pub contact_person: Option<String>,
    pub opened_at: Option<String>,
}

/// A child reseller's customers as its parent sees them: how many, and their wallets together.
#[derive(Serialize, ToSchema)]
pub struct Aggregate {
    pub count: u64,
    pub balance: String,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerPage {
    pub items: Vec<CustomerItem>,
    pub limit: usize,
    pub cursor: Option<String>,
    pub next_cursor: Option<String>,
    /// Only on a child reseller's customers (masked): the totals over every page.
    pub aggregate: Option<Aggregate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryParams {
    pub q: Option<String>,
    pub tag: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<String>,
    pub reseller_id: Option<String>,
    pub parent_id: Option<String>,
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// A name masked for a parent's eyes: its first character, then `*` for the rest (at least two).
pub fn masked(name: &str) -> String {
    let mut characters = name.chars();
    let first = characters.next().map(String::from).unwrap_or_default();
    let rest = characters.count().max(2);
    format!("{first}{}", "*".repeat(rest))
}

fn registry_query(params: &RegistryParams, paging: &Paging) -> Result<RegistryQuery, ApiError> {
    let status = match params.status.as_deref() {
        None => None,
        Some("active") => Some(OrgStatus::Active),
        Some("closed") => Some(OrgStatus::Closed),
        Some(_) => return Err(ApiError::invalid("invalid_field", "status", "must be active or closed")),
    };
    let opened_from = parse::optional_date("created_from", &params.created_from)?;
    let opened_to = parse::optional_date("created_to", &params.created_to)?;
    if let (Some(from), Some(to)) = (opened_from, opened_to) {
        if from > to {
            return Err(ApiError::invalid("invalid_field", "created_to", "must not be before created_from"));
        }
    }
    let text =
        |value: &Option<String>| value.clone().map(|text| text.trim().to_owned()).filter(|text| !text.is_empty());
    Ok(RegistryQuery {
        q: text(&params.q),
        tag: text(&params.tag),
        status,
        owner_id: params.owner_id.as_deref().map(|id| parse::id::<UserId>("owner_id", id)).transpose()?,
        opened_from,
        opened_to,
        cursor: paging.cursor.clone(),
        limit: paging.limit,
        ..RegistryQuery::default()
    })
}

fn staff_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_staff() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("the registries are listed for the org's staff".to_owned()))
    }
}

/// The registry of customers: a book's own (within the caller's data scope), or with
/// `reseller_id` a child reseller's, masked (first character of the name, no contact, no
/// wallets) with their count and wallets in aggregate. Filters: `q` (a part of the name, contact
/// person, phone, email, company or tax id), `tag`, `status` (`active`, `closed`), `owner_id`,
/// `created_from`/`created_to` (dates, UTC).
#[utoipa::path(get, path = "/v1/customers", tag = "registries", security(("bearer" = [])),
    params(("q" = Option<String>, Query), ("tag" = Option<String>, Query), ("status" = Option<String>, Query),
        ("owner_id" = Option<String>, Query), ("reseller_id" = Option<String>, Query),
        ("created_from" = Option<String>, Query), ("created_to" = Option<String>, Query),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = CustomerPage), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list_customers(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(params): Params<RegistryParams>,
) -> Result<Read<CustomerPage>, ApiError> {
    staff_only(&caller)?;
    if params.parent_id.is_some() {
        return Err(ApiError::invalid("invalid_field", "parent_id", "customers are filtered by reseller_id"));
    }
    let paging = Paging::new(&state, params.limit, params.cursor.clone())?;
    let mut query = registry_query(&params, &paging)?;
    query.kind = Some(OrgKind::Customer);
    let reseller = params.reseller_id.as_deref().map(|id| parse::id::<OrgId>("reseller_id", id)).transpose()?;
    // A child reseller's customers, seen by its parent: masked.
    let masked_view = match reseller {
        Some(reseller) if reseller != caller.org_id() && !caller.is_super_admin() => {
            let child = state.read.org(reseller).await?;
            let child = child.filter(|org| org.kind == OrgKind::Reseller && org.parent_id == Some(caller.org_id()));
            child.ok_or(ApiError::NotFound { what: "reseller" })?;
            true
        }
        _ => false,
    };
    query.parent_id = match reseller {
        Some(reseller) => Some(reseller),
        None if caller.is_super_admin() => None,
        None => Some(caller.org_id()),
    };
    if !masked_view {
        query.scope_owner = scoped_owner(&caller);
    }
    let aggregate = if masked_view { Some(aggregate_of(&state, &query).await?) } else { None };
    let page = state.read.registry(&query).await?;
    let items = page
        .items
        .into_iter()
        .map(|record| {
            let balance = record.cash.plus(record.voucher);
            CustomerItem {
                id: record.org.id.to_string(),
                name: if masked_view { masked(&record.org.name) } else { record.org.name },
                status: record.status.as_str().to_owned(),
                owner_id: if masked_view { None } else { record.org.owner_id.map(|id| id.to_string()) },
                reseller_id: record.org.parent_id.map(|id| id.to_string()),
                balance: (!masked_view).then(|| balance.to_string()),
                cash: (!masked_view).then(|| record.cash.to_string()),
                voucher: (!masked_view).then(|| record.voucher.to_string()),
                tags: if masked_view { Vec::new() } else { record.profile.tags.into_iter().collect() },
                contact_person: if masked_view { None } else { record.profile.contact_person },
                opened_at: record.opened_at.map(|at| at.to_rfc3339()),
            }
        })
        .collect();
    Ok(Read(
        position,
        CustomerPage { items, limit: paging.limit, cursor: paging.cursor, next_cursor: page.next_cursor, aggregate },
    ))
}

/// The count and wallets of every customer the query finds (over all its pages).
async fn aggregate_of(state: &SharedState, query: &RegistryQuery) -> Result<Aggregate, ApiError> {
    let mut query = RegistryQuery { cursor: None, limit: projections::PAGE_MAX, ..query.clone() };
    let (mut count, mut balance) = (0u64, SignedAmount::ZERO);
    loop {
        let page = state.read.registry(&query).await?;
        for record in &page.items {
            count += 1;
            balance = balance.plus(record.cash).plus(record.voucher);
        }
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    Ok(Aggregate { count, balance: balance.to_string() })
}

#[derive(Serialize, ToSchema)]
pub struct RecordPage {
    pub items: Vec<OrgRecordBody>,
    pub limit: usize,
    pub cursor: Option<String>,
    pub next_cursor: Option<String>,
}

async fn list_of(
    state: &SharedState,
    caller: &Caller,
    params: RegistryParams,
    kind: OrgKind,
    position: u64,
) -> Result<Read<RecordPage>, ApiError> {
    staff_only(caller)?;
    for (field, given) in [("reseller_id", params.reseller_id.is_some()), ("owner_id", params.owner_id.is_some())] {
        if given {
            return Err(ApiError::invalid("invalid_field", field, "filters customers only"));
        }
    }
    let paging = Paging::new(state, params.limit, params.cursor.clone())?;
    let mut query = registry_query(&params, &paging)?;
    query.kind = Some(kind);
    let parent = params.parent_id.as_deref().map(|id| parse::id::<OrgId>("parent_id", id)).transpose()?;
    query.parent_id = match parent {
        _ if caller.is_super_admin() => parent,
        None => Some(caller.org_id()),
        Some(parent) if parent == caller.org_id() => Some(parent),
        Some(_) => return Err(ApiError::NotFound { what: "org" }),
    };
    let page = state.read.registry(&query).await?;
    Ok(Read(
        position,
        RecordPage {
            items: page.items.into_iter().map(OrgRecordBody::from).collect(),
            limit: paging.limit,
            cursor: paging.cursor,
            next_cursor: page.next_cursor,
        },
    ))
}

/// The registry of the caller's child resellers (every reseller for the platform's
/// `super_admin`, optionally under `parent_id`), with their sale modes.
#[utoipa::path(get, path = "/v1/resellers", tag = "registries", security(("bearer" = [])),
    params(("parent_id" = Option<String>, Query), ("q" = Option<String>, Query), ("tag" = Option<String>, Query),
        ("status" = Option<String>, Query), ("created_from" = Option<String>, Query),
        ("created_to" = Option<String>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = RecordPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_resellers(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(params): Params<RegistryParams>,
) -> Result<Read<RecordPage>, ApiError> {
    list_of(&state, &caller, params, OrgKind::Reseller, position).await
}

/// The registry of the caller's suppliers, with their agreement terms.
#[utoipa::path(get, path = "/v1/suppliers", tag = "registries", security(("bearer" = [])),
    params(("q" = Option<String>, Query), ("tag" = Option<String>, Query), ("status" = Option<String>, Query),
        ("created_from" = Option<String>, Query), ("created_to" = Option<String>, Query),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = RecordPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_suppliers(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(params): Params<RegistryParams>,
) -> Result<Read<RecordPage>, ApiError> {
    list_of(&state, &caller, params, OrgKind::Supplier, position).await
}

/// An organisation the caller may see, with its registry record (status, profile, terms, sale
/// modes).
#[utoipa::path(get, path = "/v1/orgs/{id}", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OrgRecordBody), (status = 404, body = Problem)))]
pub async fn get_org(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<OrgRecordBody>, ApiError> {
    let org = visible_org(&state, &caller, parse::path_id("org", &id)?).await?;
    let record = state.read.org_record(org.id).await?.ok_or(ApiError::NotFound { what: "org" })?;
    Ok(Read(position, record.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    pub contact_person: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tax_id: Option<String>,
    pub address: Option<String>,
    pub bank_account: Option<String>,
    /// `unverified`, `personal` or `company`.
    pub verification: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub notes: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchOrg {
    pub name: Option<String>,
    /// The whole profile: what it leaves out is cleared.
    pub profile: Option<ProfileInput>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgChanged {
    pub id: String,
    pub name: String,
    pub status: String,
    pub position: u64,
}

/// Updates an org's name and profile (a customer by its seller's staff with `customers.write`,
/// within their data scope; a reseller or supplier by its parent's, or an org's own, with
/// `orgs.write`).
#[utoipa::path(patch, path = "/v1/orgs/{id}", tag = "orgs", request_body = PatchOrg, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OrgChanged), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn patch_org(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchOrg>,
) -> Result<Read<OrgChanged>, ApiError> {
    let org_id: OrgId = parse::path_id("org", &id)?;
    let verification = match body.profile.as_ref().and_then(|input| input.verification.as_deref()) {
        None => Verification::Unverified,
        Some(text) => parse::choice::<Verification>("profile.verification", text)?,
    };
    let profile = body.profile.map(|input| OrgProfile {
        contact_person: input.contact_person,
        phone: input.phone,
        email: input.email,
        company: input.company,
        tax_id: input.tax_id,
        address: input.address,
        bank_account: input.bank_account,
        verification,
        tags: input.tags.into_iter().collect::<BTreeSet<_>>(),
        notes: input.notes,
    });
    let command = CommandBody::Registry(RegistryCommand::UpdateOrg { org_id, name: body.name, profile });
    let committed = state.execute(&caller, &key, command).await?;
    let updated = committed.event::<OrgProfileUpdated>()?;
    let status = state.read.org_record(org_id).await?.map_or(OrgStatus::Active, |record| record.status);
    Ok(Read(
        committed.position,
        OrgChanged {
            id: org_id.to_string(),
            name: updated.name.clone(),
            status: status.as_str().to_owned(),
            position: committed.position,
        },
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusChanged {
    /// `closed` or `active`.
    pub status: String,
    pub position: u64,
}

/// 注销: closes a party of the caller's book, only with nothing left open (409
/// `org_not_settled` says what is); then nobody orders, recharges or acts for it.
#[utoipa::path(post, path = "/v1/orgs/{id}/close", tag = "orgs", request_body = CloseBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = StatusChanged), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn close_org(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CloseBody>,
) -> Result<Read<StatusChanged>, ApiError> {
    let org_id: OrgId = parse::path_id("org", &id)?;
    let reason = body.reason;
    let command = CommandBody::Registry(RegistryCommand::CloseOrg { org_id, reason });
    let committed = state.execute(&caller, &key, command).await?;
    committed.event::<OrgClosed>()?;
    Ok(Read(committed.position, StatusChanged { status: "closed".to_owned(), position: committed.position }))
}

/// Reopens a closed party of the caller's book.
#[utoipa::path(post, path = "/v1/orgs/{id}/reopen", tag = "orgs", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = StatusChanged), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
pub async fn reopen_org(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
) -> Result<Read<StatusChanged>, ApiError> {
    let org_id: OrgId = parse::path_id("org", &id)?;
    let committed = state.execute(&caller, &key, CommandBody::Registry(RegistryCommand::ReopenOrg { org_id })).await?;
    committed.event::<OrgReopened>()?;
    Ok(Read(committed.position, StatusChanged { status: "active".to_owned(), position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleModeInput {
    /// `discount` or `rebate`.
    pub mode: String,
    /// Rebate only: the commission rate, e.g. `"0.05"`.
    pub commission_rate: Option<String>,
    /// From when (default: today); orders placed before keep the mode they were priced in.
    pub effective_from: Option<String>,
}

impl SaleModeInput {
    /// The mode and the day it takes effect from (none: today), each field checked by name.
    pub fn parse(&self) -> Result<(SaleMode, Option<NaiveDate>), ApiError> {
        let sale_mode = match (self.mode.as_str(), &self.commission_rate) {
            ("discount", None) => SaleMode::Discount,
            ("discount", Some(_)) => {
                return Err(ApiError::invalid("invalid_field", "commission_rate", "only the rebate mode has one"))
            }
            ("rebate", Some(rate)) => SaleMode::Rebate { commission_rate: parse::rate("commission_rate", rate)? },
            ("rebate", None) => {
                return Err(ApiError::invalid("invalid_field", "commission_rate", "the rebate mode needs one"))
            }
            _ => return Err(ApiError::invalid("invalid_field", "mode", "must be discount or rebate")),
        };
        Ok((sale_mode, parse::optional_date("effective_from", &self.effective_from)?))
    }
}

#[derive(Serialize, ToSchema)]
pub struct SaleModeSetBody {
    pub reseller_id: String,
    pub mode: String,
    pub commission_rate: Option<String>,
    pub effective_from: Option<String>,
    pub position: u64,
}

/// A child reseller's sale mode (discount, or rebate with its commission rate), from today or a
/// later date.
#[utoipa::path(put, path = "/v1/orgs/{id}/sale-mode", tag = "orgs", request_body = SaleModeInput,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SaleModeSetBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_sale_mode(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SaleModeInput>,
) -> Result<Read<SaleModeSetBody>, ApiError> {
    let reseller_id: OrgId = parse::path_id("reseller", &id)?;
    let (sale_mode, effective_from) = body.parse()?;
    let command = CommandBody::Setup(SetupCommand::SetSaleMode { reseller_id, sale_mode, effective_from });
    let committed = state.execute(&caller, &key, command).await?;
    let scheduled = committed.find::<ledger_core::event::SaleModeScheduled>().map(|event| event.effective_from);
    let shown = sale_mode_body(sale_mode, scheduled);
    Ok(Read(
        committed.position,
        SaleModeSetBody {
            reseller_id: reseller_id.to_string(),
            mode: shown.mode,
            commission_rate: shown.commission_rate,
            effective_from: shown.effective_from,
            position: committed.position,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsInput {
    /// `prepaid` or `postpaid`.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub method: SettlementMethod,
    /// `month` or `week`.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub cycle: CycleEvery,
    /// `CNY`, `USD`, …
    pub currency: String,
    /// Days after a statement within which it is paid.
    pub payment_days: u32,
}

#[derive(Serialize, ToSchema)]
pub struct TermsSet {
    pub supplier_id: String,
    pub terms: TermsBody,
    pub position: u64,
}

/// A supplier's agreement terms (供应商协议): settlement method and cycle, currency, payment terms.
#[utoipa::path(put, path = "/v1/suppliers/{id}/terms", tag = "registries", request_body = TermsInput,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TermsSet), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_supplier_terms(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TermsInput>,
) -> Result<Read<TermsSet>, ApiError> {
    let supplier_id: OrgId = parse::path_id("supplier", &id)?;
    let currency = parse::currency("currency", &body.currency)?;
    let terms = SupplierTerms { method: body.method, cycle: body.cycle, currency, payment_days: body.payment_days };
    let command = CommandBody::Registry(RegistryCommand::SetSupplierTerms { supplier_id, terms });
    let committed = state.execute(&caller, &key, command).await?;
    let set = committed.event::<SupplierTermsSet>()?;
    Ok(Read(
        committed.position,
        TermsSet {
            supplier_id: supplier_id.to_string(),
            terms: set.terms.clone().into(),
            position: committed.position,
        },
    ))
}

// ---------------------------------------------------------------- products

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchProduct {
    pub name: Option<String>,
    pub on_shelf: Option<bool>,
    /// Child resellers of the product's owner it is hidden from (with everyone below them).
    pub hidden_from: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct ProductChanged {
    pub id: String,
    pub name: String,
    pub on_shelf: bool,
    pub hidden_from: Vec<String>,
    pub position: u64,
}

/// Updates a product: its name, shelf (an order for a product off the shelf is refused 409
/// `product_off_shelf`) and the resellers it is hidden from.
#[utoipa::path(patch, path = "/v1/products/{id}", tag = "catalog", request_body = PatchProduct,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ProductChanged), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn patch_product(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchProduct>,
) -> Result<Read<ProductChanged>, ApiError> {
    let product_id: ProductId = parse::path_id("product", &id)?;
    let hidden_from = body
        .hidden_from
        .map(|ids| {
            ids.iter()
                .enumerate()
                .map(|(index, id)| parse::id::<OrgId>(&format!("hidden_from[{index}]"), id))
                .collect::<Result<BTreeSet<_>, _>>()
        })
        .transpose()?;
    let command = CommandBody::Registry(RegistryCommand::UpdateProduct {
        product_id,
        name: body.name,
        on_shelf: body.on_shelf,
        hidden_from,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let updated = committed.event::<ProductUpdated>()?;
    Ok(Read(
        committed.position,
        ProductChanged {
            id: product_id.to_string(),
            name: updated.name.clone(),
            on_shelf: updated.on_shelf,
            hidden_from: updated.hidden_from.iter().map(|id| id.to_string()).collect(),
            position: committed.position,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPriceInput {
    pub list_price: String,
    /// Today or later: orders placed before keep their prices.
    pub effective_from: String,
}

#[derive(Serialize, ToSchema)]
pub struct ListPriceSet {
    pub product_id: String,
    pub list_price: String,
    pub effective_from: String,
    pub position: u64,
}

/// A product's list price from a date on.
#[utoipa::path(post, path = "/v1/products/{id}/list-prices", tag = "catalog", request_body = ListPriceInput,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = ListPriceSet), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn schedule_list_price(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ListPriceInput>,
) -> Result<Answer<ListPriceSet>, ApiError> {
    let product_id: ProductId = parse::path_id("product", &id)?;
    let list_price = parse::unit_price("list_price", &body.list_price)?;
    let effective_from = parse::date("effective_from", &body.effective_from)?;
    let command = CommandBody::Registry(RegistryCommand::ScheduleListPrice { product_id, list_price, effective_from });
    let committed = state.execute(&caller, &key, command).await?;
    let scheduled = committed.event::<ListPriceScheduled>()?;
    Ok(Answer(
        StatusCode::CREATED,
        ListPriceSet {
            product_id: product_id.to_string(),
            list_price: super::price_text(scheduled.list_price.as_decimal()),
            effective_from: scheduled.effective_from.to_string(),
            position: committed.position,
        },
    ))
}

// ---------------------------------------------------------------- what books configured

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateParams {
    pub product_id: Option<String>,
    /// `public`, `reseller` or `customer`.
    pub scope: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct RateBody {
    pub product_id: String,
    /// `public`, `reseller` or `customer`.
    pub scope: String,
    /// The reseller or customer of the scope.
    pub scope_id: Option<String>,
    /// `rate`, `fixed`, `first_order` or `tiered`.
    pub kind: String,
    /// A rate's rate, or a first-order price's when it is a rate of list.
    pub rate: Option<String>,
    /// A fixed price's unit price, or a first-order price's when it is a unit price.
    pub unit_price: Option<String>,
    /// A tiered price's tiers, `from_quantity` increasing.
    pub tiers: Option<Vec<TierView>>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub set_at: String,
    pub position: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TierView {
    pub from_quantity: String,
    pub rate: Option<String>,
    pub unit_price: Option<String>,
}

fn basis_texts(basis: PriceBasis) -> (Option<String>, Option<String>) {
    match basis {
        PriceBasis::Rate(rate) => (Some(rate.to_string()), None),
        PriceBasis::UnitPrice(unit_price) => (None, Some(unit_price.to_string())),
    }
}

/// A book's rate table: each product's rate, fixed, first-order and tiered price in each scope,
/// with its validity.
#[utoipa::path(get, path = "/v1/books/{org_id}/rates", tag = "catalog", security(("bearer" = [])),
    params(("org_id" = String, Path), ("product_id" = Option<String>, Query), ("scope" = Option<String>, Query),
        ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<RateBody>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_rates(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<RateParams>,
) -> Result<Read<Page<RateBody>>, ApiError> {
    let book = super::finance::readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let product = params.product_id.as_deref().map(|id| parse::id::<ProductId>("product_id", id)).transpose()?;
    if let Some(scope) = params.scope.as_deref() {
        if !matches!(scope, "public" | "reseller" | "customer") {
            return Err(ApiError::invalid("invalid_field", "scope", "must be public, reseller or customer"));
        }
    }
    let page = state.read.rates(book, product, params.scope.as_deref(), paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(
        position,
        Page::of(page, paging, |rate| {
            let (mut rate_text, mut unit_price, mut tiers) = (rate.rate.map(|rate| rate.to_string()), None, None);
            match &rate.rule {
                None => {}
                Some(PriceRule::Fixed { unit_price: price }) => unit_price = Some(price.to_string()),
                Some(PriceRule::FirstOrder { price }) => (rate_text, unit_price) = basis_texts(*price),
                Some(PriceRule::Tiered { tiers: list }) => {
                    let views = list.iter().map(|tier| {
                        let (rate, unit_price) = basis_texts(tier.price);
                        TierView { from_quantity: tier.from_quantity.to_string(), rate, unit_price }
                    });
                    tiers = Some(views.collect());
                }
            }
            RateBody {
                product_id: rate.product_id.to_string(),
                scope: rate.scope,
                scope_id: rate.scope_org.map(|id| id.to_string()),
                kind: rate.kind,
                rate: rate_text,
                unit_price,
                tiers,
                valid_from: rate.valid_from.map(|date| date.to_string()),
                valid_to: rate.valid_to.map(|date| date.to_string()),
                set_at: rate.set_at.to_rfc3339(),
                position: rate.position,
            }
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct RuleLineBody {
    pub account: String,
    /// `customer`, `child`, `parent`, `supplier`, `distributor` or `counterparty`.
    pub party: Option<String>,
    /// `debit` or `credit`.
    pub side: String,
    /// The amount as a linear sum of the event's amounts (`"list - price"`).
    pub amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct PostingRuleBody {
    pub kind: String,
    pub role: String,
    pub version: u32,
    /// Whether it is the version in force.
    pub current: bool,
    pub lines: Vec<RuleLineBody>,
    pub adopted_at: String,
    pub position: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PostingRuleList {
    pub items: Vec<PostingRuleBody>,
}

fn rule_line_body(line: &RuleLine) -> RuleLineBody {
    RuleLineBody {
        account: line.account.to_string(),
        party: line.party.map(|party| enum_text(&party)),
        side: enum_text(&line.side),
        amount: line.amount.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    pub kind: Option<String>,
}

/// The posting rules every book books by, with every version adopted (the deployment's rule
/// set: one for all books); `kind` for one kind's.
#[utoipa::path(get, path = "/v1/books/{org_id}/posting-rules", tag = "catalog", security(("bearer" = [])),
    params(("org_id" = String, Path), ("kind" = Option<String>, Query)),
    responses((status = 200, body = PostingRuleList), (status = 404, body = Problem)))]
pub async fn list_posting_rules(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<RuleParams>,
) -> Result<Read<PostingRuleList>, ApiError> {
    super::finance::readable_book(&caller, &org_id)?;
    let rules = state.read.posting_rules(params.kind.as_deref()).await?;
    let mut latest: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for rule in &rules {
        let version = latest.entry((rule.kind.as_str(), rule.role.as_str())).or_default();
        *version = (*version).max(rule.version);
    }
    let items = rules
        .iter()
        .map(|rule| PostingRuleBody {
            kind: rule.kind.clone(),
            role: rule.role.clone(),
            version: rule.version,
            current: latest.get(&(rule.kind.as_str(), rule.role.as_str())) == Some(&rule.version),
            lines: rule.lines.iter().map(rule_line_body).collect(),
            adopted_at: rule.adopted_at.to_rfc3339(),
            position: rule.position,
        })
        .collect();
    Ok(Read(position, PostingRuleList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleLineInput {
    pub account: String,
    pub party: Option<String>,
    /// `debit` or `credit`.
    pub side: String,
    /// A linear sum of the kind's amounts, e.g. `"list - price"`.
    pub amount: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostingRuleInput {
    /// The role of the book the rule books for (`seller`, `buyer`, …).
    pub role: String,
    pub lines: Vec<RuleLineInput>,
}

impl PostingRuleInput {
    /// The rule for `kind` (its version is the core's to give), each line's field checked by
    /// name (`lines[1].amount`).
    pub fn rule(&self, kind: &str) -> Result<PostingRule, ApiError> {
        let mut lines = Vec::with_capacity(self.lines.len());
        for (index, line) in self.lines.iter().enumerate() {
            let field = |name: &str| format!("lines[{index}].{name}");
            lines.push(RuleLine {
                account: AccountCode::parse(&line.account)
                    .map_err(|reason| ApiError::invalid("invalid_field", &field("account"), reason))?,
                party: line.party.as_deref().map(|party| parse::choice(&field("party"), party)).transpose()?,
                side: parse::choice::<Side>(&field("side"), &line.side)?,
                amount: ledger_core::rules::LinearSum::parse(&line.amount)
                    .map_err(|reason| ApiError::invalid("invalid_field", &field("amount"), reason))?,
            });
        }
        Ok(PostingRule { kind: kind.to_owned(), role: self.role.clone(), version: 0, lines })
    }
}

#[derive(Serialize, ToSchema)]
pub struct PostingRuleSet {
    pub kind: String,
    pub role: String,
    pub version: u32,
    pub position: u64,
}

/// Adopts a new version of one posting rule (the platform's finance, `accounts.write`). A rule
/// whose lines do not balance for every value of the amounts is refused 422 `rule_unbalanced`,
/// with the symbolic check's explanation in `detail`.
#[utoipa::path(put, path = "/v1/posting-rules/{kind}", tag = "catalog", request_body = PostingRuleInput,
    security(("bearer" = [])), params(("kind" = String, Path)),
    responses((status = 200, body = PostingRuleSet), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_posting_rule(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(kind): Path<String>,
    JsonBody(body): JsonBody<PostingRuleInput>,
) -> Result<Read<PostingRuleSet>, ApiError> {
    let rule = body.rule(&kind)?;
    let command = CommandBody::Setup(SetupCommand::SetPostingRules { rules: vec![rule] });
    let committed = state.execute(&caller, &key, command).await?;
    let set = committed.event::<PostingRulesSet>()?;
    let version = set.rules.first().map_or(0, |rule| rule.version);
    Ok(Read(committed.position, PostingRuleSet { kind, role: body.role, version, position: committed.position }))
}

// ---------------------------------------------------------------- manual entries

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryLineInput {
    pub account: String,
    pub party: Option<String>,
    /// One of `debit` and `credit`.
    pub debit: Option<String>,
    pub credit: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualEntryInput {
    /// The accounting date, in an open period.
    pub date: String,
    pub lines: Vec<EntryLineInput>,
    pub memo: String,
}

impl ManualEntryInput {
    /// The entry's date and lines, each field checked by name (`lines[0].debit`).
    pub fn parse(&self) -> Result<(NaiveDate, Vec<Line>), ApiError> {
        let date = parse::date("date", &self.date)?;
        let mut lines = Vec::with_capacity(self.lines.len());
        for (index, line) in self.lines.iter().enumerate() {
            let field = |name: &str| format!("lines[{index}].{name}");
            let (side, text) = match (&line.debit, &line.credit) {
                (Some(debit), None) => (Side::Debit, debit),
                (None, Some(credit)) => (Side::Credit, credit),
                _ => {
                    return Err(ApiError::invalid(
                        "invalid_field",
                        &field("debit"),
                        "give a debit or a credit, not both",
                    ))
                }
            };
            let name = if side == Side::Debit { field("debit") } else { field("credit") };
            lines.push(Line {
                account: AccountCode::parse(&line.account)
                    .map_err(|reason| ApiError::invalid("invalid_field", &field("account"), reason))?,
                party: line.party.as_deref().map(|party| parse::id::<OrgId>(&field("party"), party)).transpose()?,
                side,
                amount: parse::positive_amount(&name, text)?,
                pair: None,
            });
        }
        Ok((date, lines))
    }
}

#[derive(Serialize, ToSchema)]
pub struct ManualEntryAnswer {
    /// The approval it waits for, which is also the entry's id.
    pub id: String,
    pub approval_id: String,
    /// `pending_approval`, or `booked` when the book's policy lets it through.
    pub status: String,
    pub position: u64,
}

/// 手工凭证: a manual journal entry in the caller's book (`accounts.write`), balanced, on open
/// accounts, dated in an open period; 202 while it waits for approval (the book's policy for
/// `manual_journal_entry`, by its total debit; finance or admin by default), 201 when booked at
/// once.
#[utoipa::path(post, path = "/v1/books/{org_id}/entries", tag = "finance", request_body = ManualEntryInput,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 202, body = ManualEntryAnswer), (status = 201, body = ManualEntryAnswer),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn request_manual_entry(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<ManualEntryInput>,
) -> Result<Response, ApiError> {
    let book: OrgId = parse::path_id("book", &org_id)?;
    let (date, lines) = body.parse()?;
    let approval_id: ApprovalId = Minter::new(&caller, &key, "entries").id("approval");
    let command = CommandBody::Settlement(SettlementCommand::RequestManualEntry {
        approval_id,
        book,
        date,
        lines,
        memo: body.memo,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let (status, code) = if committed.find::<ManualEntryBooked>().is_some() {
        ("booked", StatusCode::CREATED)
    } else {
        committed.event::<ApprovalRequested>()?;
        ("pending_approval", StatusCode::ACCEPTED)
    };
    let answer = ManualEntryAnswer {
        id: approval_id.to_string(),
        approval_id: approval_id.to_string(),
        status: status.to_owned(),
        position: committed.position,
    };
    Ok(Answer(code, answer).into_response())
}

// ---------------------------------------------------------------- statements

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementParams {
    pub from: String,
    pub to: String,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StatementItem {
    pub date: String,
    pub position: u64,
    /// `recharge`, `purchase`, `refund`, `withdrawal`, `coupon`, `usage`, `renewal`, …
    pub kind: String,
    pub event_type: String,
    pub reference: Option<String>,
    pub order_id: Option<String>,
    /// The movement of cash and of vouchers (signed: money in is positive).
    pub cash: String,
    pub voucher: String,
    /// The wallet after it, cash and vouchers together.
    pub balance: String,
}

#[derive(Serialize, ToSchema)]
pub struct WalletParts {
    pub cash: String,
    pub voucher: String,
    pub total: String,
}

#[derive(Serialize, ToSchema)]
pub struct StatementBody {
    pub customer_id: String,
    pub book: String,
    pub currency: String,
    pub from: String,
    pub to: String,
    pub opening: WalletParts,
    pub closing: WalletParts,
    pub items: Vec<StatementItem>,
}

/// A movement's kind, as a customer reads a statement.
pub fn movement_kind(event_type: &str) -> &'static str {
    match event_type {
        "RechargeConfirmed" => "recharge",
        "RechargeReversed" => "recharge_reversal",
        "OrderPaid" => "purchase",
        "OrderRefunded" => "refund",
        "WithdrawalPaid" => "withdrawal",
        "VoucherGranted" | "CouponGranted" => "coupon",
        "VoucherRedeemed" => "voucher_spent",
        "VoucherReturned" => "voucher_returned",
        "VoucherExpired" => "voucher_expired",
        "UsageCharged" => "usage",
        "SubscriptionRenewed" => "renewal",
        "SerialCodeActivated" => "serial_code",
        "ManualEntryBooked" => "adjustment",
        "CreditDrawn" => "credit_drawn",
        "ArrearsRepaid" => "arrears_repaid",
        _ => "other",
    }
}

fn parts(cash: SignedAmount, voucher: SignedAmount) -> WalletParts {
    WalletParts { cash: cash.to_string(), voucher: voucher.to_string(), total: cash.plus(voucher).to_string() }
}

/// A customer's statement (对账单, 资金流水) for the dates `from ..= to`: the opening wallet, every
/// movement with its order or reference, the closing wallet, cash and vouchers apart. The
/// customer reads its own; its seller's staff read it within their data scope. A closed
/// period's statement never changes (nothing is booked into a closed period). `format=csv`
/// answers the items as CSV with the opening and closing rows.
#[utoipa::path(get, path = "/v1/customers/{id}/statement", tag = "finance", security(("bearer" = [])),
    params(("id" = String, Path), ("from" = String, Query), ("to" = String, Query),
        ("format" = Option<String>, Query, description = "json or csv")),
    responses((status = 200, content((StatementBody = "application/json"), (String = "text/csv"))),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn customer_statement(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
    Params(params): Params<StatementParams>,
) -> Result<Response, ApiError> {
    let customer_id: OrgId = parse::path_id("customer", &id)?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("invalid_field", "format", "must be json or csv")),
    };
    let from = parse::date("from", &params.from)?;
    let to = parse::date("to", &params.to)?;
    if from > to {
        return Err(ApiError::invalid("invalid_field", "to", "must not be before from"));
    }
    let org = state.read.org(customer_id).await?.filter(|org| org.kind == OrgKind::Customer);
    let org = org.ok_or(ApiError::NotFound { what: "customer" })?;
    let reaches = caller.org_id() == customer_id
        || caller.is_super_admin()
        || (org.parent_id == Some(caller.org_id()) && customer_in_scope(&state, &caller, customer_id).await?);
    if !reaches {
        return Err(ApiError::NotFound { what: "customer" });
    }
    let statement = state.read.customer_statement(customer_id, from, to).await?;
    let statement = statement.ok_or(ApiError::NotFound { what: "customer" })?;
    let items: Vec<StatementItem> = statement
        .items
        .iter()
        .map(|item| StatementItem {
            date: item.date.to_string(),
            position: item.position,
            kind: movement_kind(&item.event_type).to_owned(),
            event_type: item.event_type.clone(),
            reference: item.reference.clone(),
            order_id: item.order_id.clone(),
            cash: item.cash.to_string(),
            voucher: item.voucher.to_string(),
            balance: item.balance.to_string(),
        })
        .collect();
    let body = StatementBody {
        customer_id: customer_id.to_string(),
        book: statement.book.to_string(),
        currency: statement.currency.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        opening: parts(statement.opening_cash, statement.opening_voucher),
        closing: parts(statement.closing_cash, statement.closing_voucher),
        items,
    };
    if !csv {
        return Ok(Read(position, body).into_response());
    }
    let mut text = String::from("date,position,kind,reference,order_id,cash,voucher,balance\n");
    text.push_str(&format!(
        "{from},,opening,,,{},{},{}\n",
        body.opening.cash, body.opening.voucher, body.opening.total
    ));
    for item in &body.items {
        let reference = item.reference.as_deref().map(crate::export::csv_field).unwrap_or_default();
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            item.date,
            item.position,
            item.kind,
            reference,
            item.order_id.as_deref().unwrap_or_default(),
            item.cash,
            item.voucher,
            item.balance
        ));
    }
    text.push_str(&format!("{to},,closing,,,{},{},{}\n", body.closing.cash, body.closing.voucher, body.closing.total));
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let disposition = format!("attachment; filename=\"statement-{customer_id}-{from}-{to}.csv\"");
    let disposition = HeaderValue::try_from(disposition).map_err(|error| ApiError::Internal(error.to_string()))?;
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(POSITION_HEADER, HeaderValue::from(position));
    Ok(response)
}
