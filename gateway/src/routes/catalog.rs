//! Products, supplier rates, selling rates, promotions, invite codes, and accounts of a book.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use ledger_core::chart::AccountType;
use ledger_core::event::{ApprovalRequested, ExchangeRateSet};
use ledger_core::ids::{ApprovalId, InviteCode, OrgId, ProductId, PromotionId};
use ledger_core::pricing::{PriceBasis, PriceRule, PriceTier, PromotionReach, RateScope, Stacking};
use ledger_core::CommandBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::Pending;
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read, RequestStatus};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};
use ledger_core::SetupCommand;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/products", post(create_product).get(list_products))
        .route("/v1/products/{id}", get(get_product))
        .route("/v1/products/{id}/supplier-rate", put(set_supplier_rate))
        .route("/v1/books/{org_id}/rates", put(set_rate))
        .route("/v1/books/{org_id}/prices", put(set_price))
        .route("/v1/books/{org_id}/exchange-rates", put(set_exchange_rate).get(list_exchange_rates))
        .route("/v1/promotions/{id}/terms", put(set_promotion_terms))
        .route("/v1/books/{org_id}/promotions", post(create_promotion))
        .route("/v1/books/{org_id}/invite-codes", post(create_invite_code))
        .route("/v1/books/{org_id}/accounts", post(open_account))
}

/// The length of a generated invite code.
pub const INVITE_CODE_LENGTH: usize = 10;

#[derive(Serialize, ToSchema)]
pub struct Position {
    pub position: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    pub name: String,
    pub supplier_id: String,
    /// Decimal string, up to 6 decimals: `"1000.00"`.
    pub list_price: String,
    pub unit: String,
    /// The currency of `list_price` (ISO 4217): the supplier agreement's when absent, else the
    /// book's. Orders of a product in another currency than the book's convert its price at the
    /// book's exchange rate of their date (`PUT /v1/books/{org_id}/exchange-rates`).
    pub currency: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: String,
    pub position: u64,
}

/// Create a product with its supplier, list price and unit (platform).
#[utoipa::path(post, path = "/v1/products", tag = "catalog", request_body = CreateProduct, security(("bearer" = [])),
    responses((status = 201, body = Created), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_product(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<CreateProduct>,
) -> Result<Answer<Created>, ApiError> {
    let minter = Minter::new(&caller, &key, "products");
    let product_id: ProductId = minter.id("product");
    let command = CommandBody::Setup(SetupCommand::CreateProduct {
        product_id,
        name: body.name,
        supplier_id: parse::id("supplier_id", &body.supplier_id)?,
        list_price: parse::unit_price("list_price", &body.list_price)?,
        unit: body.unit,
        currency: body.currency.as_deref().map(|code| parse::currency("currency", code)).transpose()?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::CREATED, Created { id: product_id.to_string(), position: committed.position }))
}

#[derive(Serialize, ToSchema)]
pub struct ProductBody {
    pub id: String,
    pub name: String,
    pub supplier_id: String,
    pub owner_id: String,
    pub list_price: String,
    /// The currency of its list prices.
    pub currency: String,
    pub unit: String,
    /// Shown to the product's owner only: what the supplier charges, as a rate of list.
    pub supplier_rate: Option<String>,
    /// Off the shelf, it is not ordered (409 `product_off_shelf`).
    pub on_shelf: bool,
    /// Shown to the product's owner only: the child resellers it is hidden from.
    pub hidden_from: Vec<String>,
    /// List prices from later dates on (`list_price` is today's).
    pub scheduled_list_prices: Vec<ScheduledPrice>,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduledPrice {
    pub list_price: String,
    pub effective_from: String,
}

/// The products the caller can sell: those of its own suppliers and of every org above it.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", security(("bearer" = [])),
    params(("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<ProductBody>)))]
pub async fn list_products(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(params): Params<super::finance::PageParams>,
) -> Result<Read<Page<ProductBody>>, ApiError> {
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let items = visible_products(&state, &caller).await?;
    // Products are listed in the order they were created, and never removed: the index orders.
    Ok(Read(position, Page::in_memory(items, paging, |index, _| format!("{index:010}"))?))
}

/// A product the caller can sell, as the list shows it.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ProductBody), (status = 404, body = Problem)))]
pub async fn get_product(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<ProductBody>, ApiError> {
    let id: ProductId = parse::path_id("product", &id)?;
    let id = id.to_string();
    let product = visible_products(&state, &caller).await?.into_iter().find(|product| product.id == id);
    Ok(Read(position, product.ok_or(ApiError::NotFound { what: "product" })?))
}

/// The products the caller can sell, in the order they were created: those of its own suppliers
/// and of every org above it (every product for the `super_admin`). A product's supplier rate is
/// shown to its owner only.
async fn visible_products(state: &SharedState, caller: &Caller) -> Result<Vec<ProductBody>, ApiError> {
    let owners = if caller.is_super_admin() { None } else { Some(ancestors(state, caller.org_id()).await?) };
    let today = state.clock.today();
    let mut items = Vec::new();
    let mut book_currencies = BTreeMap::new();
    for product in state.read.products(None).await? {
        if owners.as_ref().is_some_and(|owners| !owners.contains(&product.owner_id)) {
            continue;
        }
        // Hidden from a reseller of the caller's chain: not the caller's to sell.
        if owners.as_ref().is_some_and(|owners| owners.iter().any(|org| product.hidden_from.contains(org))) {
            continue;
        }
        let own = caller.is_super_admin() || product.owner_id == caller.org_id();
        let currency = match product.currency {
            Some(currency) => currency,
            None => match book_currencies.get(&product.owner_id) {
                Some(currency) => *currency,
                None => {
                    let kept = state.read.org(product.owner_id).await?.map(|owner| owner.currency).unwrap_or_default();
                    *book_currencies.entry(product.owner_id).or_insert(kept)
                }
            },
        };
        items.push(ProductBody {
            id: product.id.to_string(),
            name: product.name.clone(),
            supplier_id: product.supplier_id.to_string(),
            owner_id: product.owner_id.to_string(),
            list_price: product.list_price_on(today).to_string(),
            currency: currency.to_string(),
            unit: product.unit.clone(),
            supplier_rate: product.supplier_rate.filter(|_| own).map(|rate| rate.to_string()),
            on_shelf: product.on_shelf,
            hidden_from: if own { product.hidden_from.iter().map(|id| id.to_string()).collect() } else { Vec::new() },
            scheduled_list_prices: product
                .scheduled_prices
                .range(today.succ_opt().unwrap_or(today)..)
                .map(|(date, price)| ScheduledPrice { list_price: price.to_string(), effective_from: date.to_string() })
                .collect(),
        });
    }
    Ok(items)
}

/// The deepest org tree the gateway walks (reseller levels are few; this bounds a corrupt loop).
pub const ORG_DEPTH_MAX: usize = 64;

/// The org and every org above it.
pub async fn ancestors(state: &SharedState, org_id: OrgId) -> Result<Vec<OrgId>, ApiError> {
    let mut chain = vec![org_id];
    let mut current = org_id;
    for _ in 0..ORG_DEPTH_MAX {
        match state.read.org(current).await?.and_then(|org| org.parent_id) {
            Some(parent) => {
                chain.push(parent);
                current = parent;
            }
            None => break,
        }
    }
    Ok(chain)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// A rate of list, `0 < rate ≤ 1`, up to 4 decimals: `"0.70"`.
    pub rate: String,
}

/// Set what the supplier charges for a product, as a rate of list.
#[utoipa::path(put, path = "/v1/products/{id}/supplier-rate", tag = "catalog", request_body = RateBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Position), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_supplier_rate(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RateBody>,
) -> Result<Answer<Position>, ApiError> {
    let command = CommandBody::Setup(SetupCommand::SetSupplierRate {
        product_id: parse::path_id("product", &id)?,
        rate: parse::rate("rate", &body.rate)?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, Position { position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetExchangeRateBody {
    /// The foreign currency (ISO 4217), not the book's own.
    pub currency: String,
    /// One unit of `currency` in the book's currency, up to 6 decimals: `"7.1234"`.
    pub rate: String,
    /// Where the rate comes from: `"PBOC central parity"`, a bank's quote.
    pub source: String,
    /// The date it takes effect (items dated on or after it use it, until a later one).
    pub effective_from: String,
}

/// One exchange rate of a book.
#[derive(Serialize, ToSchema)]
pub struct ExchangeRateBody {
    pub book: String,
    pub currency: String,
    pub rate: String,
    pub source: String,
    pub effective_from: String,
    pub set_at: String,
    pub position: u64,
}

/// Set a book's exchange rate for a foreign currency from a date on, with its source (finance).
/// Every rate set is kept; an order of a product priced in that currency converts its price at
/// the latest rate dated on or before the order's date, and keeps that rate. Setting a rate for
/// the same currency and date again replaces it for orders placed afterwards.
#[utoipa::path(put, path = "/v1/books/{org_id}/exchange-rates", tag = "catalog", request_body = SetExchangeRateBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = ExchangeRateBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_exchange_rate(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<SetExchangeRateBody>,
) -> Result<Answer<ExchangeRateBody>, ApiError> {
    let command = CommandBody::Setup(SetupCommand::SetExchangeRate {
        book: parse::path_id("book", &org_id)?,
        currency: parse::currency("currency", &body.currency)?,
        rate: parse::exchange_rate("rate", &body.rate)?,
        source: body.source,
        effective_from: parse::date("effective_from", &body.effective_from)?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let set = committed.event::<ExchangeRateSet>()?;
    let set_at = committed.events.first().map(|event| event.recorded_at.to_rfc3339()).unwrap_or_default();
    Ok(Answer(
        StatusCode::OK,
        ExchangeRateBody {
            book: set.book.to_string(),
            currency: set.currency.to_string(),
            rate: set.rate.to_string(),
            source: set.source.clone(),
            effective_from: set.effective_from.to_string(),
            set_at,
            position: committed.position,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRateParams {
    pub currency: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// A book's exchange rates in the order they were set, each with its source and the date it
/// takes effect; filtered by currency and by that date (`from ..= to`).
#[utoipa::path(get, path = "/v1/books/{org_id}/exchange-rates", tag = "catalog", security(("bearer" = [])),
    params(("org_id" = String, Path), ("currency" = Option<String>, Query), ("from" = Option<String>, Query),
        ("to" = Option<String>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<ExchangeRateBody>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_exchange_rates(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<ExchangeRateParams>,
) -> Result<Read<Page<ExchangeRateBody>>, ApiError> {
    let book = super::finance::readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let currency = params.currency.as_deref().map(|code| parse::currency("currency", code)).transpose()?;
    let (from, to) = (parse::optional_date("from", &params.from)?, parse::optional_date("to", &params.to)?);
    let page = state.read.exchange_rates(book, currency, from, to, paging.cursor.as_deref(), paging.limit).await?;
    Ok(Read(
        position,
        Page::of(page, paging, |rate| ExchangeRateBody {
            book: rate.book.to_string(),
            currency: rate.currency.to_string(),
            rate: rate.rate.to_string(),
            source: rate.source,
            effective_from: rate.effective_from.to_string(),
            set_at: rate.set_at.to_rfc3339(),
            position: rate.position,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRateBody {
    pub product_id: String,
    /// `"public"`, `"reseller:<id>"` or `"customer:<id>"`.
    pub scope: String,
    pub rate: String,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RateAnswer {
    /// `set`, or `pending_approval` for a rate below the book's own cost (any scope).
    pub status: String,
    pub approval_id: Option<String>,
    pub position: u64,
}

impl RateAnswer {
    /// What a rate or price command committed: set, or waiting for the approval it asked for.
    fn of(committed: &commands::Committed) -> RateAnswer {
        let approval_id = committed.find::<ApprovalRequested>().map(|request| request.approval_id.to_string());
        let status = if approval_id.is_some() { RequestStatus::PendingApproval } else { RequestStatus::Set };
        RateAnswer { status: status.as_str().to_owned(), approval_id, position: committed.position }
    }
}

/// Set the rate at which a book sells a product to a scope (a rate below the book's own cost,
/// in any scope, waits for approval).
#[utoipa::path(put, path = "/v1/books/{org_id}/rates", tag = "catalog", request_body = SetRateBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = RateAnswer), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_rate(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<SetRateBody>,
) -> Result<Answer<RateAnswer>, ApiError> {
    let minter = Minter::new(&caller, &key, "rates");
    let command = CommandBody::Setup(SetupCommand::SetRate {
        book: parse::path_id("book", &org_id)?,
        product_id: parse::id("product_id", &body.product_id)?,
        scope: RateScope::parse(&body.scope).map_err(|reason| ApiError::invalid("invalid_field", "scope", reason))?,
        rate: parse::rate("rate", &body.rate)?,
        valid_from: parse::optional_date("valid_from", &body.valid_from)?,
        valid_to: parse::optional_date("valid_to", &body.valid_to)?,
        approval_id: minter.id("approval"),
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, RateAnswer::of(&committed)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    /// The tier prices items of at least this many units.
    pub from_quantity: String,
    /// A rate of list, or
    pub rate: Option<String>,
    /// a unit price (above the list price: a markup).
    pub unit_price: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPriceBody {
    pub product_id: String,
    /// `"public"`, `"reseller:<id>"` or `"customer:<id>"` (a first-order price: not a reseller).
    pub scope: String,
    /// `fixed` (a unit price), `first_order` (a rate or a unit price for a customer's first
    /// paid order of the product from this book) or `tiered` (by the item's quantity).
    pub kind: String,
    /// `fixed` and `first_order`: a rate of list, or
    pub rate: Option<String>,
    /// a unit price (above the list price: a markup).
    pub unit_price: Option<String>,
    /// `tiered`: 1 to 16 tiers, `from_quantity` increasing.
    pub tiers: Option<Vec<TierBody>>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

/// One of a rate or a unit price, as the body gives it (`field.rate` or `field.unit_price`).
fn price_basis(field: &str, rate: &Option<String>, unit_price: &Option<String>) -> Result<PriceBasis, ApiError> {
    let name = |part: &str| if field.is_empty() { part.to_owned() } else { format!("{field}.{part}") };
    match (rate, unit_price) {
        (Some(rate), None) => Ok(PriceBasis::Rate(parse::rate(&name("rate"), rate)?)),
        (None, Some(unit_price)) => Ok(PriceBasis::UnitPrice(parse::unit_price(&name("unit_price"), unit_price)?)),
        _ => Err(ApiError::invalid("invalid_field", &name("rate"), "give one of rate and unit_price")),
    }
}

fn price_rule(body: &SetPriceBody) -> Result<PriceRule, ApiError> {
    let unexpected = |field: &str| ApiError::invalid("invalid_field", field, format!("not for a {} price", body.kind));
    match body.kind.as_str() {
        "fixed" => {
            if body.tiers.is_some() {
                return Err(unexpected("tiers"));
            }
            if body.rate.is_some() {
                return Err(unexpected("rate"));
            }
            let unit_price = body.unit_price.as_deref().ok_or_else(|| {
                ApiError::invalid("invalid_field", "unit_price", "a fixed price needs its unit price")
            })?;
            Ok(PriceRule::Fixed { unit_price: parse::unit_price("unit_price", unit_price)? })
        }
        "first_order" => {
            if body.tiers.is_some() {
                return Err(unexpected("tiers"));
            }
            Ok(PriceRule::FirstOrder { price: price_basis("", &body.rate, &body.unit_price)? })
        }
        "tiered" => {
            if body.rate.is_some() {
                return Err(unexpected("rate"));
            }
            if body.unit_price.is_some() {
                return Err(unexpected("unit_price"));
            }
            let bodies = body
                .tiers
                .as_ref()
                .ok_or_else(|| ApiError::invalid("invalid_field", "tiers", "a tiered price needs its tiers"))?;
            if bodies.len() > ledger_core::pricing::PRICE_TIERS_MAX {
                let reason = format!("at most {} tiers", ledger_core::pricing::PRICE_TIERS_MAX);
                return Err(ApiError::invalid("invalid_field", "tiers", reason));
            }
            let mut tiers = Vec::with_capacity(bodies.len());
            for (index, tier) in bodies.iter().enumerate() {
                let field = format!("tiers[{index}]");
                tiers.push(PriceTier {
                    from_quantity: parse::quantity(&format!("{field}.from_quantity"), &tier.from_quantity)?,
                    price: price_basis(&field, &tier.rate, &tier.unit_price)?,
                });
            }
            Ok(PriceRule::Tiered { tiers })
        }
        _ => Err(ApiError::invalid("invalid_field", "kind", "must be fixed, first_order or tiered")),
    }
}

/// Set a fixed, first-order or tiered price at which a book sells a product to a scope, beside
/// its rate (a price below the book's own cost, in any scope, waits for approval).
#[utoipa::path(put, path = "/v1/books/{org_id}/prices", tag = "catalog", request_body = SetPriceBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = RateAnswer), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_price(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<SetPriceBody>,
) -> Result<Answer<RateAnswer>, ApiError> {
    let minter = Minter::new(&caller, &key, "prices");
    let command = CommandBody::Setup(SetupCommand::SetPrice {
        book: parse::path_id("book", &org_id)?,
        product_id: parse::id("product_id", &body.product_id)?,
        scope: RateScope::parse(&body.scope).map_err(|reason| ApiError::invalid("invalid_field", "scope", reason))?,
        rule: price_rule(&body)?,
        valid_from: parse::optional_date("valid_from", &body.valid_from)?,
        valid_to: parse::optional_date("valid_to", &body.valid_to)?,
        approval_id: minter.id("approval"),
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, RateAnswer::of(&committed)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionTermsBody {
    /// `exclusive` (competes with the base price, the lowest wins; the default) or `stackable`
    /// (multiplies the base price with every other stackable promotion).
    pub stacking: String,
    /// `invite_code` (through an invite code that names it; the default) or `everyone` (every
    /// customer of the book within its window). Unchanged when absent.
    pub reach: Option<String>,
}

/// Set how a promotion combines with the others and whom it reaches.
#[utoipa::path(put, path = "/v1/promotions/{id}/terms", tag = "catalog", request_body = PromotionTermsBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Position), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_promotion_terms(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PromotionTermsBody>,
) -> Result<Answer<Position>, ApiError> {
    let promotion_id: PromotionId = parse::path_id("promotion", &id)?;
    let stacking: Stacking = parse::choice("stacking", &body.stacking)?;
    let reach: Option<PromotionReach> = body.reach.as_deref().map(|reach| parse::choice("reach", reach)).transpose()?;
    let command = CommandBody::Setup(SetupCommand::SetPromotionTerms { promotion_id, stacking, reach });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, Position { position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePromotion {
    pub name: String,
    /// Product id → rate of list.
    pub rates: BTreeMap<String, String>,
    pub valid_from: String,
    pub valid_to: String,
}

/// Create a promotion: rates per product over a date range. One with a rate below the book's
/// own cost waits for approval (202), whatever the policy says.
#[utoipa::path(post, path = "/v1/books/{org_id}/promotions", tag = "catalog", request_body = CreatePromotion,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 201, body = Created), (status = 202, body = Pending, description = "below cost: waits for approval"),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_promotion(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<CreatePromotion>,
) -> Result<Response, ApiError> {
    let mut rates = BTreeMap::new();
    for (product, rate) in &body.rates {
        let field = format!("rates.{product}");
        rates.insert(parse::id::<ProductId>(&field, product)?, parse::rate(&field, rate)?);
    }
    let minter = Minter::new(&caller, &key, "promotions");
    let (promotion_id, approval_id): (PromotionId, ApprovalId) = (minter.id("promotion"), minter.id("approval"));
    let command = CommandBody::Setup(SetupCommand::CreatePromotion {
        promotion_id,
        book: parse::path_id("book", &org_id)?,
        name: body.name,
        rates,
        valid_from: parse::date("valid_from", &body.valid_from)?,
        valid_to: parse::date("valid_to", &body.valid_to)?,
        approval_id,
    });
    let committed = state.execute(&caller, &key, command).await?;
    if committed.find::<ApprovalRequested>().is_some() {
        let answer = super::money::pending(promotion_id, approval_id, committed.position);
        return Ok(Answer(StatusCode::ACCEPTED, answer).into_response());
    }
    Ok(Answer(StatusCode::CREATED, Created { id: promotion_id.to_string(), position: committed.position })
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteCode {
    pub promotion_id: Option<String>,
    pub salesperson: Option<String>,
    /// A code of one's choosing (letters, digits, `-`, `_`); generated when absent.
    pub code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteCodeCreated {
    pub code: String,
    pub position: u64,
}

/// Create an invite code for a book (optionally with a promotion and a salesperson).
#[utoipa::path(post, path = "/v1/books/{org_id}/invite-codes", tag = "catalog", request_body = CreateInviteCode,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 201, body = InviteCodeCreated), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create_invite_code(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<CreateInviteCode>,
) -> Result<Answer<InviteCodeCreated>, ApiError> {
    let minter = Minter::new(&caller, &key, "invite-codes");
    let text = body.code.unwrap_or_else(|| minter.code("invite-code", INVITE_CODE_LENGTH));
    let code = InviteCode::try_from(text).map_err(|reason| ApiError::invalid("invalid_field", "code", reason))?;
    let command = CommandBody::Setup(SetupCommand::CreateInviteCode {
        code: code.clone(),
        book: parse::path_id("book", &org_id)?,
        promotion_id: body.promotion_id.as_deref().map(|id| parse::id("promotion_id", id)).transpose()?,
        salesperson: body.salesperson,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::CREATED, InviteCodeCreated { code: code.to_string(), position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountBody {
    pub code: String,
    pub name: String,
    /// `asset`, `liability`, `equity`, `revenue`, `expense`, ...
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub account_type: AccountType,
}

/// Open an account in a book's chart.
#[utoipa::path(post, path = "/v1/books/{org_id}/accounts", tag = "catalog", request_body = OpenAccountBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 201, body = Position), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn open_account(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<OpenAccountBody>,
) -> Result<Answer<Position>, ApiError> {
    let command = CommandBody::Setup(SetupCommand::OpenAccount {
        book: parse::path_id("book", &org_id)?,
        code: body.code,
        name: body.name,
        account_type: body.account_type,
    });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::CREATED, Position { position: committed.position }))
}
