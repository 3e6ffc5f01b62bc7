//! Orders: place, pay, fulfil, cancel, refund, renew; pay-as-you-go usage; order reads.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ledger_core::command::OrderItemRequest;
use ledger_core::event::{ApprovalRequested, OrderPlaced, OrderRefunded, SubscriptionRenewed, UsageCharged};
use ledger_core::ids::{ApprovalId, InviteCode, OrderId, RenewalId, UsageId};
use ledger_core::pricing::PricedItem;
use ledger_core::state::OrderStatus;
use ledger_core::CommandBody;
use projections::{ChargeView, OrderQuery, OrderView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::Pending;
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Minter, Page, Paging, Params, Read};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::state::{CommittedEvents, SharedState};
use ledger_core::OrderCommand;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/orders", post(place_order).get(list_orders))
        .route("/v1/orders/{id}", get(get_order))
        .route("/v1/orders/{id}/pay", post(pay_order))
        .route("/v1/orders/{id}/fulfil", post(fulfil_order))
        .route("/v1/orders/{id}/cancel", post(cancel_order))
        .route("/v1/orders/{id}/refund", post(refund_order))
        .route("/v1/orders/{id}/renew", post(renew_order))
        .route("/v1/usage", post(charge_usage))
        .route("/v1/usage/{id}", get(get_usage))
        .route("/v1/renewals/{id}", get(get_renewal))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemBody {
    pub product_id: String,
    /// Decimal string or integer: units bought.
    pub quantity: serde_json::Value,
    /// Periods of the product's unit (months, days, ...).
    pub periods: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    pub customer_id: String,
    pub items: Vec<OrderItemBody>,
    pub invite_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PricedLine {
    pub product_id: String,
    pub quantity: String,
    pub periods: u32,
    /// The customer's unit price before rounding the line (list × rate).
    pub unit_price: String,
    pub amount: String,
    /// `public`, `customer`, `promotion`, `reseller`, `rebate`, `first_order`.
    pub rate_source: String,
    pub rate: String,
    /// For a product priced in another currency: the rate the line was priced at, fixed with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ExchangeBody>,
}

/// The exchange rate an item was priced at: its list price in the product's currency, and the
/// book's rate on the item's date (with its source and date).
#[derive(Serialize, ToSchema)]
pub struct ExchangeBody {
    pub currency: String,
    pub list_price: String,
    pub rate: String,
    pub source: String,
    pub rate_date: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrderPlacedBody {
    pub id: String,
    pub status: String,
    pub total: String,
    pub items: Vec<PricedLine>,
    pub position: u64,
}

fn priced_line(item: &PricedItem) -> PricedLine {
    let level = item.seller_level();
    let (rate_source, rate) = level
        .map_or((String::new(), String::new()), |level| (super::json_text(&level.rate_source), level.rate.to_string()));
    PricedLine {
        product_id: item.product_id.to_string(),
        quantity: item.quantity.to_string(),
        periods: item.periods,
        unit_price: super::price_text(item.unit_price()),
        amount: item.customer_price().to_string(),
        rate_source,
        rate,
        exchange: item.exchange.as_ref().map(|exchange| ExchangeBody {
            currency: exchange.currency.to_string(),
            list_price: exchange.list_price.to_string(),
            rate: exchange.rate.to_string(),
            source: exchange.source.clone(),
            rate_date: exchange.rate_date.to_string(),
        }),
    }
}

fn quantity(field: &str, value: &serde_json::Value) -> Result<ledger_core::money::Quantity, ApiError> {
    match value {
        serde_json::Value::String(text) => parse::quantity(field, text),
        serde_json::Value::Number(number) if number.is_u64() => parse::quantity(field, &number.to_string()),
        _ => Err(ApiError::invalid("invalid_amount", field, "must be a decimal string or a whole number")),
    }
}

/// Place an order at the customer's prices; answers its items and waterfall.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = PlaceOrderBody, security(("bearer" = [])),
    responses((status = 201, body = OrderPlacedBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn place_order(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<PlaceOrderBody>,
) -> Result<Answer<OrderPlacedBody>, ApiError> {
    let mut items = Vec::with_capacity(body.items.len());
    for (index, item) in body.items.iter().enumerate() {
        items.push(OrderItemRequest {
            product_id: parse::id(&format!("items[{index}].product_id"), &item.product_id)?,
            quantity: quantity(&format!("items[{index}].quantity"), &item.quantity)?,
            periods: item.periods,
        });
    }
    let invite_code = body
        .invite_code
        .map(|code| {
            InviteCode::try_from(code).map_err(|reason| ApiError::invalid("invalid_field", "invite_code", reason))
        })
        .transpose()?;
    let order_id: OrderId = Minter::new(&caller, &key, "orders").id("order");
    let customer_id = parse::id("customer_id", &body.customer_id)?;
    let command = CommandBody::Orders(OrderCommand::PlaceOrder { order_id, customer_id, items, invite_code });
    let committed = state.execute(&caller, &key, command).await?;
    let placed: &OrderPlaced = committed.event()?;
    Ok(Answer(
        StatusCode::CREATED,
        OrderPlacedBody {
            id: placed.order_id.to_string(),
            status: OrderStatus::PendingPayment.as_str().to_owned(),
            total: placed.total.to_string(),
            items: placed.items.iter().map(priced_line).collect(),
            position: committed.position,
        },
    ))
}

#[derive(Serialize, ToSchema)]
pub struct OrderStatusAnswer {
    pub id: String,
    pub status: String,
    pub position: u64,
}

/// Pay an order from the customer's wallet.
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OrderStatusAnswer), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "insufficient_balance")))]
pub async fn pay_order(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<Empty>,
) -> Result<Answer<OrderStatusAnswer>, ApiError> {
    let order_id: OrderId = parse::path_id("order", &id)?;
    let committed = state.execute(&caller, &key, CommandBody::Orders(OrderCommand::PayOrder { order_id })).await?;
    Ok(status_answer(order_id, OrderStatus::Paid, committed.position))
}

fn status_answer(order_id: OrderId, status: OrderStatus, position: u64) -> Answer<OrderStatusAnswer> {
    Answer(StatusCode::OK, OrderStatusAnswer { id: order_id.to_string(), status: status.as_str().to_owned(), position })
}

/// A body with no fields (`{}` or nothing at all).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilBody {
    pub note: Option<String>,
    /// The end of the subscription the supplier set up.
    pub subscription_end: Option<String>,
}

/// Mark a paid order fulfilled.
#[utoipa::path(post, path = "/v1/orders/{id}/fulfil", tag = "orders", request_body = FulfilBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderStatusAnswer), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn fulfil_order(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<FulfilBody>,
) -> Result<Answer<OrderStatusAnswer>, ApiError> {
    let order_id: OrderId = parse::path_id("order", &id)?;
    let subscription_end = parse::optional_date("subscription_end", &body.subscription_end)?;
    let command = CommandBody::Orders(OrderCommand::FulfilOrder { order_id, note: body.note, subscription_end });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(status_answer(order_id, OrderStatus::Fulfilled, committed.position))
}

/// Cancel an unpaid order.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OrderStatusAnswer), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_order(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(_): JsonBody<Empty>,
) -> Result<Answer<OrderStatusAnswer>, ApiError> {
    let order_id: OrderId = parse::path_id("order", &id)?;
    let committed = state.execute(&caller, &key, CommandBody::Orders(OrderCommand::CancelOrder { order_id })).await?;
    Ok(status_answer(order_id, OrderStatus::Cancelled, committed.position))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// The part of the sale reversed.
    pub amount: String,
    /// Kept by the seller (6051); the wallet gets `amount - penalty`.
    pub penalty: Option<String>,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct RefundAnswer {
    pub id: String,
    /// `partially_refunded` or `refunded`.
    pub status: String,
    /// Refunded so far, this refund included.
    pub refunded: String,
    pub position: u64,
}

/// Refund a paid order (in part or whole), with an optional penalty; above the book's threshold
/// for refunds (its approval policy) it waits for approval.
#[utoipa::path(post, path = "/v1/orders/{id}/refund", tag = "orders", request_body = RefundBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RefundAnswer),
        (status = 202, body = Pending, description = "above the book's threshold for refunds: waits for approval"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn refund_order(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RefundBody>,
) -> Result<Response, ApiError> {
    let order_id: OrderId = parse::path_id("order", &id)?;
    let amount = parse::amount("amount", &body.amount)?;
    let penalty = match &body.penalty {
        Some(text) => parse::amount("penalty", text)?,
        None => ledger_core::money::Amount::ZERO,
    };
    let approval_id: ApprovalId = Minter::new(&caller, &key, "refunds").id("approval");
    let command =
        CommandBody::Orders(OrderCommand::RefundOrder { order_id, amount, penalty, reason: body.reason, approval_id });
    let committed = state.execute(&caller, &key, command).await?;
    if committed.find::<ApprovalRequested>().is_some() {
        let answer = super::money::pending(order_id, approval_id, committed.position);
        return Ok(Answer(StatusCode::ACCEPTED, answer).into_response());
    }
    let refunded: &OrderRefunded = committed.event()?;
    let status = if refunded.fully_refunded { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
    let answer = RefundAnswer {
        id: order_id.to_string(),
        status: status.as_str().to_owned(),
        refunded: refunded.refunded_total.to_string(),
        position: committed.position,
    };
    Ok(Answer(StatusCode::OK, answer).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewBody {
    pub periods: u32,
    pub new_end: String,
}

#[derive(Serialize, ToSchema)]
pub struct Charged {
    pub id: String,
    pub total: String,
    pub position: u64,
}

/// Renew a subscription order for more periods.
#[utoipa::path(post, path = "/v1/orders/{id}/renew", tag = "orders", request_body = RenewBody,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = Charged), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn renew_order(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RenewBody>,
) -> Result<Answer<Charged>, ApiError> {
    let order_id: OrderId = parse::path_id("order", &id)?;
    let renewal_id: RenewalId = Minter::new(&caller, &key, "renewals").id("renewal");
    let new_end = parse::date("new_end", &body.new_end)?;
    let command =
        CommandBody::Orders(OrderCommand::RenewSubscription { renewal_id, order_id, periods: body.periods, new_end });
    let committed = state.execute(&caller, &key, command).await?;
    let total = committed.event::<SubscriptionRenewed>()?.total.to_string();
    Ok(Answer(StatusCode::CREATED, Charged { id: renewal_id.to_string(), total, position: committed.position }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBody {
    pub customer_id: String,
    pub product_id: String,
    /// The metered quantity, a decimal string.
    pub quantity: String,
    pub period_from: String,
    pub period_to: String,
}

/// Charge a customer for metered usage.
#[utoipa::path(post, path = "/v1/usage", tag = "orders", request_body = UsageBody, security(("bearer" = [])),
    responses((status = 201, body = Charged), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn charge_usage(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<UsageBody>,
) -> Result<Answer<Charged>, ApiError> {
    let usage_id: UsageId = Minter::new(&caller, &key, "usage").id("usage");
    let command = CommandBody::Orders(OrderCommand::ChargeUsage {
        usage_id,
        customer_id: parse::id("customer_id", &body.customer_id)?,
        product_id: parse::id("product_id", &body.product_id)?,
        quantity: parse::quantity("quantity", &body.quantity)?,
        period_from: parse::date("period_from", &body.period_from)?,
        period_to: parse::date("period_to", &body.period_to)?,
    });
    let committed = state.execute(&caller, &key, command).await?;
    let total = committed.event::<UsageCharged>()?.total.to_string();
    Ok(Answer(StatusCode::CREATED, Charged { id: usage_id.to_string(), total, position: committed.position }))
}

#[derive(Serialize, ToSchema)]
pub struct WaterfallLevelBody {
    pub org_id: String,
    /// The rate of list; `1.00` for a level priced from a unit price (`unit_price`).
    pub rate: String,
    /// `public`, `customer`, `promotion`, `reseller`, `rebate` or `first_order`.
    pub rate_source: String,
    /// A fixed, tier or first-order unit price that replaced the list price.
    pub unit_price: Option<String>,
    /// The rates of the stackable promotions multiplied after the base price.
    pub stacked: Vec<String>,
    pub cost: String,
    pub price: String,
    pub margin: String,
    /// Every price the level considered (for orders priced since the candidates were kept and
    /// levels that had a choice or a price other than a rate), which won and why.
    pub candidates: Vec<CandidateBody>,
}

#[derive(Serialize, ToSchema)]
pub struct CandidateBody {
    /// `public`, `customer`, `reseller`, `first_order` or `promotion`.
    pub source: String,
    /// `rate`, `fixed`, `tier`, `first_order` or `promotion`.
    pub kind: String,
    pub promotion_id: Option<String>,
    /// A promotion's: `exclusive` or `stackable`.
    pub stacking: Option<String>,
    pub rate: Option<String>,
    pub unit_price: Option<String>,
    /// The level's price with this candidate (a stackable promotion's: the base times every
    /// stackable promotion).
    pub price: String,
    pub applied: bool,
    /// `lowest` (won), `stacked` (multiplied after the base), `not_lowest` (another was lower,
    /// or equal and considered first) or `excluded` (a stackable promotion an exclusive one beat).
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct WaterfallBody {
    pub product_id: String,
    pub supplier_id: String,
    pub list_amount: String,
    pub supplier_rate: String,
    pub supplier_price: String,
    /// From the top of the chain down to the seller.
    pub levels: Vec<WaterfallLevelBody>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryBody {
    pub status: String,
    pub at: String,
    pub position: u64,
}

#[derive(Serialize, ToSchema)]
pub struct OrderBody {
    pub id: String,
    pub customer_id: String,
    pub seller_id: String,
    pub status: String,
    pub total: String,
    pub paid: String,
    pub refunded: String,
    pub placed_on: String,
    pub invite_code: Option<String>,
    pub items: Vec<PricedLine>,
    pub history: Vec<HistoryBody>,
    /// Per item, each org's cost, price and margin. The platform's `super_admin` sees every
    /// level; the seller's staff see their own; a customer sees none (others' margins are theirs).
    pub waterfall: Vec<WaterfallBody>,
}

fn order_body(order: OrderView, caller: &Caller) -> OrderBody {
    let waterfall = order
        .items
        .iter()
        .map(|item| WaterfallBody {
            product_id: item.product_id.to_string(),
            supplier_id: item.supplier_id.to_string(),
            list_amount: item.list_amount.to_string(),
            supplier_rate: if caller.is_super_admin() { item.supplier_rate.to_string() } else { String::new() },
            supplier_price: if caller.is_super_admin() { item.supplier_price.to_string() } else { String::new() },
            levels: item
                .levels
                .iter()
                .filter(|level| caller.is_super_admin() || (caller.is_staff() && level.org_id == caller.org_id()))
                .map(|level| WaterfallLevelBody {
                    org_id: level.org_id.to_string(),
                    rate: level.rate.to_string(),
                    rate_source: super::json_text(&level.rate_source),
                    unit_price: level.unit_price.map(|price| price.to_string()),
                    stacked: level.stacked.iter().map(ToString::to_string).collect(),
                    cost: level.cost.to_string(),
                    price: level.price.to_string(),
                    margin: level.margin.to_string(),
                    candidates: level
                        .candidates
                        .iter()
                        .map(|candidate| CandidateBody {
                            source: super::json_text(&candidate.source),
                            kind: super::json_text(&candidate.kind),
                            promotion_id: candidate.promotion_id.map(|id| id.to_string()),
                            stacking: candidate.stacking.map(|stacking| stacking.as_str().to_owned()),
                            rate: candidate.rate.map(|rate| rate.to_string()),
                            unit_price: candidate.unit_price.map(|price| price.to_string()),
                            price: candidate.price.to_string(),
                            applied: candidate.applied,
                            reason: super::json_text(&candidate.reason),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    OrderBody {
        id: order.id.to_string(),
        customer_id: order.customer_id.to_string(),
        seller_id: order.seller_id.to_string(),
        status: order.status,
        total: order.total.to_string(),
        paid: order.paid.to_string(),
        refunded: order.refunded.to_string(),
        placed_on: order.placed_on.to_string(),
        invite_code: order.invite_code,
        items: order.items.iter().map(priced_line).collect(),
        history: order
            .history
            .into_iter()
            .map(|entry| HistoryBody { status: entry.status, at: entry.at.to_rfc3339(), position: entry.position })
            .collect(),
        waterfall,
    }
}

/// The caller sees the order: its customer, its seller's staff, or the platform's `super_admin`.
pub(super) fn sees_order(caller: &Caller, order: &OrderView) -> bool {
    caller.is_super_admin()
        || order.customer_id == caller.org_id()
        || (order.seller_id == caller.org_id() && caller.is_staff())
}

/// An order with its items, status history and price waterfall.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OrderBody), (status = 404, body = Problem)))]
pub async fn get_order(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<OrderBody>, ApiError> {
    let order = state.read.order(parse::path_id("order", &id)?).await?;
    let order = order.filter(|order| sees_order(&caller, order)).ok_or(ApiError::NotFound { what: "order" })?;
    if !super::orgs::customer_in_scope(&state, &caller, order.customer_id).await? {
        return Err(ApiError::NotFound { what: "order" });
    }
    Ok(Read(position, order_body(order, &caller)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderListQuery {
    pub customer_id: Option<String>,
    pub status: Option<OrderStatusFilter>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// `status=`: an order's status, as answers spell it (`ledger_core::state::OrderStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatusFilter {
    PendingPayment,
    Paid,
    Fulfilled,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

impl From<OrderStatusFilter> for OrderStatus {
    fn from(status: OrderStatusFilter) -> OrderStatus {
        match status {
            OrderStatusFilter::PendingPayment => OrderStatus::PendingPayment,
            OrderStatusFilter::Paid => OrderStatus::Paid,
            OrderStatusFilter::Fulfilled => OrderStatus::Fulfilled,
            OrderStatusFilter::Cancelled => OrderStatus::Cancelled,
            OrderStatusFilter::PartiallyRefunded => OrderStatus::PartiallyRefunded,
            OrderStatusFilter::Refunded => OrderStatus::Refunded,
        }
    }
}

/// A customer lists its own orders; staff list their org's sales (optionally one customer's).
#[utoipa::path(get, path = "/v1/orders", tag = "orders", security(("bearer" = [])),
    params(("customer_id" = Option<String>, Query), ("status" = Option<String>, Query), ("from" = Option<String>, Query),
        ("to" = Option<String>, Query), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<OrderBody>), (status = 400, body = Problem)))]
pub async fn list_orders(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Params(query): Params<OrderListQuery>,
) -> Result<Read<Page<OrderBody>>, ApiError> {
    let paging = Paging::new(&state, query.limit, query.cursor)?;
    let customer_id = query.customer_id.as_deref().map(|id| parse::id("customer_id", id)).transpose()?;
    let (seller, customer_id) = if caller.is_staff() {
        if let Some(customer) = customer_id {
            if !super::orgs::customer_in_scope(&state, &caller, customer).await? {
                return Err(ApiError::NotFound { what: "customer" });
            }
        }
        // The platform's super_admin reads any customer's orders, whoever sold them; other staff
        // read the orders of their own book.
        let seller = if caller.is_super_admin() && customer_id.is_some() { None } else { Some(caller.org_id()) };
        (seller, customer_id)
    } else {
        if customer_id.is_some_and(|id| id != caller.org_id()) {
            return Err(ApiError::NotFound { what: "customer" });
        }
        (None, Some(caller.org_id()))
    };
    let order_query = OrderQuery {
        seller,
        customer_id,
        status: query.status.map(|status| OrderStatus::from(status).as_str().to_owned()),
        from: parse::optional_date("from", &query.from)?,
        to: parse::optional_date("to", &query.to)?,
        customer_owner: if caller.is_staff() { super::orgs::scoped_owner(&caller) } else { None },
        cursor: paging.cursor.clone(),
        limit: paging.limit,
    };
    let page = state.read.orders(&order_query).await?;
    Ok(Read(position, Page::of(page, paging, |order| order_body(order, &caller))))
}

/// A usage charge or a renewal: what it charged (each item at the seller's price), to whom, for
/// which period or until when.
#[derive(Serialize, ToSchema)]
pub struct ChargeBody {
    pub id: String,
    /// `usage` or `renewal`.
    pub kind: String,
    /// The order a renewal renewed.
    pub order_id: Option<String>,
    pub customer_id: String,
    pub seller_id: String,
    pub items: Vec<PricedLine>,
    pub total: String,
    /// A usage charge's metered period.
    pub period_from: Option<String>,
    pub period_to: Option<String>,
    /// A renewal's new end of the subscription.
    pub new_end: Option<String>,
    /// The token that charged it.
    pub charged_by: String,
    pub charged_at: String,
    pub position: u64,
}

impl From<ChargeView> for ChargeBody {
    fn from(charge: ChargeView) -> Self {
        ChargeBody {
            id: charge.id,
            kind: charge.kind,
            order_id: charge.order_id.map(|id| id.to_string()),
            customer_id: charge.customer_id.to_string(),
            seller_id: charge.seller_id.to_string(),
            items: charge.items.iter().map(priced_line).collect(),
            total: charge.total.to_string(),
            period_from: charge.period_from.map(|date| date.to_string()),
            period_to: charge.period_to.map(|date| date.to_string()),
            new_end: charge.new_end.map(|date| date.to_string()),
            charged_by: charge.charged_by.to_string(),
            charged_at: charge.charged_at.to_rfc3339(),
            position: charge.position,
        }
    }
}

/// A charge the caller may read: its customer's, its seller's staff (within their data scope),
/// or the `super_admin`'s. Anything else is not found.
async fn readable_charge(
    state: &SharedState,
    caller: &Caller,
    kind: &str,
    id: &str,
    what: &'static str,
) -> Result<ChargeBody, ApiError> {
    let charge = state.read.charge(kind, id).await?.filter(|charge| {
        caller.is_super_admin()
            || charge.customer_id == caller.org_id()
            || (charge.seller_id == caller.org_id() && caller.is_staff())
    });
    let charge = charge.ok_or(ApiError::NotFound { what })?;
    if !super::orgs::customer_in_scope(state, caller, charge.customer_id).await? {
        return Err(ApiError::NotFound { what });
    }
    Ok(ChargeBody::from(charge))
}

/// A usage charge (`POST /v1/usage` answers its id).
#[utoipa::path(get, path = "/v1/usage/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ChargeBody), (status = 404, body = Problem)))]
pub async fn get_usage(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<ChargeBody>, ApiError> {
    let id: UsageId = parse::path_id("usage charge", &id)?;
    let charge = readable_charge(&state, &caller, projections::CHARGE_USAGE, &id.to_string(), "usage charge").await?;
    Ok(Read(position, charge))
}

/// A renewal (`POST /v1/orders/{id}/renew` answers its id).
#[utoipa::path(get, path = "/v1/renewals/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ChargeBody), (status = 404, body = Problem)))]
pub async fn get_renewal(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<ChargeBody>, ApiError> {
    let id: RenewalId = parse::path_id("renewal", &id)?;
    let charge = readable_charge(&state, &caller, projections::CHARGE_RENEWAL, &id.to_string(), "renewal").await?;
    Ok(Read(position, charge))
}
