//! KPIs per book and day (`rm_kpi_daily`): revenue (6001, net of refund debits), discounts
//! (6001.99 net), cost (6401 net), recharges (confirmed minus reversed), refunds (the net sales
//! a refund reversed), commissions paid (6601 of commission events) and earned (6051 of them),
//! penalties and other income (6051 of every other event) and other selling expenses (6601 of
//! every other event: coupons, vouchers, manual entries), as totals (dimension `''`) and split by product, customer, supplier,
//! reseller (the child reseller a sale went through, `''` for a direct sale) and salesperson.
//! Months are sums of days, computed by the query. Serial codes have their own table
//! (`rm_serial_daily`): codes issued and activated per package, and the revenue activations
//! recognised.
//!
//! The figures come from the event's entries, so they hold whatever the posting rules booked; the
//! payload only says which keys they belong to. A book's figures are split over the keys of a
//! dimension in proportion to the sale's waterfall (list, list − price, cost, price), exactly, by
//! largest remainder, so every dimension sums to the totals to the cent. A payment names only its
//! order: the projection keeps each order's items (`rm_kpi_orders`) and splits the payment by
//! them. A payment remembers its split as one row (`rm_kpi_payments`: the weights per book, dimension
//! and key, in JSON, written once rather than a row per key); a refund, whose payload names only
//! the order, splits the reversal in the same proportions. The projection folds a whole run at
//! once: what a run needs from earlier runs is read in one context query per 256 orders, what
//! it placed or paid itself is carried in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ledger_core::chart::{codes, Side};
use ledger_core::ids::{OrderId, OrgId};
use ledger_core::pricing::PricedItem;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, Fold, Projection};
use crate::sql::{statement_sizes, Row, SqlValue, Statement};
use crate::ReadError;

pub const PROJECTION: Projection = Projection {
    name: "kpis",
    tables: &["rm_kpi_daily", "rm_kpi_payments", "rm_serial_daily", "rm_kpi_orders"],
    reads: &[],
    fold: Fold::Run { context, statements },
};

/// Orders one context query looks up at most.
const ORDERS_PER_QUERY_MAX: usize = 256;

/// The dimension of the total rows.
pub const TOTAL: &str = "";
/// The key of rows a dimension does not apply to (a direct sale has no child reseller).
pub const NO_KEY: &str = "";
/// The dimensions, in the order of [`Keys`].
pub const DIMENSIONS: [&str; 5] = ["product", "customer", "supplier", "reseller", "salesperson"];
const FIGURES: usize = 9;

const ADD_KPI: &str =
    "INSERT INTO rm_kpi_daily (book, day, dimension, dim_key, revenue, discounts, cost, recharges, refunds,
         commissions_paid, commissions_earned, penalties, other_selling_expenses)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (book, day, dimension, dim_key) DO UPDATE SET revenue = rm_kpi_daily.revenue + excluded.revenue,
         discounts = rm_kpi_daily.discounts + excluded.discounts, cost = rm_kpi_daily.cost + excluded.cost,
         recharges = rm_kpi_daily.recharges + excluded.recharges, refunds = rm_kpi_daily.refunds + excluded.refunds,
         commissions_paid = rm_kpi_daily.commissions_paid + excluded.commissions_paid,
         commissions_earned = rm_kpi_daily.commissions_earned + excluded.commissions_earned,
         penalties = rm_kpi_daily.penalties + excluded.penalties,
         other_selling_expenses = rm_kpi_daily.other_selling_expenses + excluded.other_selling_expenses";
const INSERT_PAYMENT: &str =
    "INSERT INTO rm_kpi_payments (order_id, weights) VALUES ($1, $2) ON CONFLICT (order_id) DO NOTHING";
const INSERT_ORDER_ITEMS: &str =
    "INSERT INTO rm_kpi_orders (order_id, items) VALUES ($1, $2) ON CONFLICT (order_id) DO NOTHING";
/// The context rows are tagged by their first column: `items` rows (order, items JSON) and
/// `keys` rows (order, the payment's split as refund weights, JSON).
const ITEMS_OF_ORDERS: &str = "SELECT 'items', order_id, items FROM rm_kpi_orders WHERE order_id IN";
const SALE_KEYS_OF_ORDERS: &str = "SELECT 'keys', order_id, weights FROM rm_kpi_payments WHERE order_id IN";
const ADD_SERIAL: &str = "INSERT INTO rm_serial_daily (book, day, package_days, codes_issued, codes_activated, revenue)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (book, day, package_days) DO UPDATE SET codes_issued = rm_serial_daily.codes_issued + excluded.codes_issued,
         codes_activated = rm_serial_daily.codes_activated + excluded.codes_activated,
         revenue = rm_serial_daily.revenue + excluded.revenue";

/// Revenue, discounts, cost, recharges, refunds, commissions paid and earned, penalties and
/// other selling expenses, in minor units (signed: refunds reverse).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Figures([i64; FIGURES]);

const REVENUE: usize = 0;
const DISCOUNTS: usize = 1;
const COST: usize = 2;
const RECHARGES: usize = 3;
const REFUNDS: usize = 4;
const COMMISSIONS_PAID: usize = 5;
const COMMISSIONS_EARNED: usize = 6;
const PENALTIES: usize = 7;
const OTHER_SELLING_EXPENSES: usize = 8;

impl Figures {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|figure| *figure == 0)
    }

    fn add(&mut self, other: &Figures) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

/// Per dimension, the keys a book's figures go to and the weights that split them.
type Groups = [BTreeMap<String, Figures>; 5];

/// What a run needs from earlier runs, read once: the items of the orders it pays but did not
/// place, and the sale keys of the orders it refunds but did not pay. Orders placed or paid
/// within the run are carried in memory ([`statements`]).
fn context(run: &[&RecordedEvent]) -> Vec<Statement> {
    let (mut placed, mut paid, mut needs_items, mut needs_keys) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for event in run {
        match &event.event.payload {
            EventPayload::OrderPlaced(order) => {
                placed.insert(order.order_id);
            }
            EventPayload::OrderPaid(order) => {
                if !placed.contains(&order.order_id) {
                    needs_items.insert(order.order_id);
                }
                paid.insert(order.order_id);
            }
            EventPayload::OrderRefunded(refund) if !paid.contains(&refund.order_id) => {
                needs_keys.insert(refund.order_id);
            }
            _ => {}
        }
    }
    let mut queries = orders_query(ITEMS_OF_ORDERS, &needs_items);
    queries.extend(orders_query(SALE_KEYS_OF_ORDERS, &needs_keys));
    queries
}

/// `head (…)` for every order, in groups of the sizes [`statement_sizes`] gives (few distinct
/// statement texts).
fn orders_query(head: &str, orders: &BTreeSet<OrderId>) -> Vec<Statement> {
    let orders: Vec<&OrderId> = orders.iter().collect();
    let mut rest = orders.as_slice();
    let mut queries = Vec::new();
    for size in statement_sizes(orders.len(), ORDERS_PER_QUERY_MAX) {
        let (group, after) = rest.split_at(size);
        rest = after;
        let placeholders: Vec<String> = (1..=group.len()).map(|index| format!("${index}")).collect();
        let sql = format!("{head} ({})", placeholders.join(", "));
        queries.push(Statement::dynamic(sql, group.iter().map(|order| SqlValue::text(order)).collect()));
    }
    queries
}

/// A run's statements, event by event, with what earlier runs left (the context rows) and what
/// this run's own orders placed and paid.
fn statements(run: &[&RecordedEvent], context: &[Row], out: &mut Vec<Statement>) -> Result<(), ReadError> {
    let mut items: HashMap<OrderId, Vec<PricedItem>> = HashMap::new();
    let mut sale_keys: HashMap<OrderId, BTreeMap<OrgId, Groups>> = HashMap::new();
    for row in context {
        // Rows this projection wrote; one that does not parse cannot be weighed, and its sale
        // then falls back to its payload's keys.
        let _ = match row.text(0)? {
            "items" => parse_items(row).map(|(order, parsed)| items.insert(order, parsed)).map(|_| ()),
            _ => parse_payment(row).map(|(order, weights)| {
                sale_keys.insert(order, weights);
            }),
        };
    }
    for event in run {
        let payload = &event.event.payload;
        if let EventPayload::OrderPlaced(placed) = payload {
            out.push(Statement::new(
                INSERT_ORDER_ITEMS,
                vec![SqlValue::text(placed.order_id), json_text(&placed.items)],
            ));
            items.insert(placed.order_id, placed.items.clone());
        }
        let no_items = Vec::new();
        let paid_items = match payload {
            EventPayload::OrderPaid(paid) => items.get(&paid.order_id).unwrap_or(&no_items),
            _ => &no_items,
        };
        let mut refund_keys = match payload {
            EventPayload::OrderRefunded(refund) => sale_keys.get(&refund.order_id).cloned().unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        refund_keys.retain(|_, groups| groups.iter().all(|dimension| !dimension.is_empty()));
        let written = event_statements(event, &refund_keys, paid_items, out);
        if let EventPayload::OrderPaid(paid) = payload {
            sale_keys.insert(paid.order_id, written);
        }
    }
    Ok(())
}

/// One event's statements; answers the sale keys a payment wrote (a refund's weights).
fn event_statements(
    event: &RecordedEvent,
    sale_keys: &BTreeMap<OrgId, Groups>,
    paid_items: &[PricedItem],
    out: &mut Vec<Statement>,
) -> BTreeMap<OrgId, Groups> {
    let day = SqlValue::date(event.effective_date);
    let mut written: BTreeMap<OrgId, Groups> = BTreeMap::new();
    for (book, figures) in book_figures(event) {
        out.push(add_kpi(book, &day, TOTAL, NO_KEY, &figures));
        let groups = groups(event, book, sale_keys, paid_items);
        for (index, (dimension, groups)) in DIMENSIONS.iter().zip(groups).enumerate() {
            for (key, share) in split(&figures, &groups) {
                if let EventPayload::OrderPaid(_) = &event.event.payload {
                    written.entry(book).or_default()[index].insert(key.clone(), refund_weights(&share));
                }
                out.push(add_kpi(book, &day, dimension, &key, &share));
            }
        }
    }
    if let EventPayload::OrderPaid(paid) = &event.event.payload {
        out.push(Statement::new(INSERT_PAYMENT, vec![SqlValue::text(paid.order_id), json_text(&written)]));
    }
    serial_statements(event, &day, out);
    written
}

/// A payment's share as the weights of its refunds (what `rm_kpi_sale_keys` keeps of it).
fn refund_weights(share: &Figures) -> Figures {
    let [revenue, discounts, cost, _, _, _, _, _, _] = share.0;
    // A refund's penalty splits as the sale's net did.
    Figures([revenue, discounts, cost, 0, revenue - discounts, 0, 0, revenue - discounts, 0])
}

/// Each book's figures, from the event's lines (and, for recharges, its payload).
fn book_figures(event: &RecordedEvent) -> BTreeMap<OrgId, Figures> {
    let mut books: BTreeMap<OrgId, Figures> = BTreeMap::new();
    let commission =
        matches!(event.event.payload, EventPayload::CommissionAccrued(_) | EventPayload::CommissionReversed(_));
    for entry in &event.event.entries {
        for line in &entry.lines {
            let (index, normal_side) = match line.account.as_str() {
                codes::REVENUE => (REVENUE, Side::Credit),
                codes::SALES_DISCOUNTS => (DISCOUNTS, Side::Debit),
                codes::COST_OF_SALES => (COST, Side::Debit),
                codes::SELLING_EXPENSES if commission => (COMMISSIONS_PAID, Side::Debit),
                codes::SELLING_EXPENSES => (OTHER_SELLING_EXPENSES, Side::Debit),
                codes::OTHER_INCOME if commission => (COMMISSIONS_EARNED, Side::Credit),
                codes::OTHER_INCOME => (PENALTIES, Side::Credit),
                _ => continue,
            };
            let signed = if line.side == normal_side { line.amount.to_minor() } else { -line.amount.to_minor() };
            books.entry(entry.book).or_default().0[index] += signed;
        }
    }
    match &event.event.payload {
        EventPayload::RechargeConfirmed(confirmed) => {
            books.entry(confirmed.book).or_default().0[RECHARGES] += confirmed.amount.to_minor();
        }
        EventPayload::RechargeReversed(reversed) => {
            books.entry(reversed.book).or_default().0[RECHARGES] -= reversed.amount.to_minor();
        }
        EventPayload::OrderRefunded(_) => {
            for figures in books.values_mut() {
                figures.0[REFUNDS] = -(figures.0[REVENUE] - figures.0[DISCOUNTS]);
            }
        }
        _ => {}
    }
    books.retain(|_, figures| !figures.is_zero());
    books
}

/// The keys of one book's figures in every dimension, with their weights.
fn groups(
    event: &RecordedEvent,
    book: OrgId,
    sale_keys: &BTreeMap<OrgId, Groups>,
    paid_items: &[PricedItem],
) -> Groups {
    use EventPayload as E;
    let payload = &event.event.payload;
    let sale = match payload {
        E::OrderPaid(paid) => Some((paid_items, paid.customer_id, paid.salesperson.as_deref())),
        E::UsageCharged(charged) => Some((std::slice::from_ref(&charged.item), charged.customer_id, None)),
        E::SubscriptionRenewed(renewed) => Some((renewed.items.as_slice(), renewed.customer_id, None)),
        _ => None,
    };
    if let Some((items, customer, salesperson)) = sale {
        if let Some(groups) = sale_groups(items, book, customer, salesperson) {
            return groups;
        }
    }
    if let E::OrderRefunded(_) = payload {
        if let Some(groups) = sale_keys.get(&book) {
            return groups.clone();
        }
    }
    let (customer, reseller) = match payload {
        E::RechargeConfirmed(event) => (Some(event.customer_id), None),
        E::RechargeReversed(event) => (Some(event.customer_id), None),
        E::CouponGranted(event) => (Some(event.customer_id), None),
        E::VoucherGranted(event) => (Some(event.customer_id), None),
        E::VoucherRedeemed(event) => (Some(event.customer_id), None),
        E::VoucherReturned(event) => (Some(event.customer_id), None),
        E::VoucherExpired(event) => (Some(event.customer_id), None),
        E::OrderPaid(event) => (Some(event.customer_id), None),
        E::UsageCharged(event) => (Some(event.customer_id), None),
        E::SubscriptionRenewed(event) => (Some(event.customer_id), None),
        E::OrderRefunded(event) => (Some(event.customer_id), None),
        E::SerialCodeActivated(event) => (Some(event.customer_id), None),
        E::SerialCodesIssued(event) if event.issuer_id == book => (None, Some(event.distributor_id)),
        E::CommissionAccrued(event) if event.payer_id == book => (None, Some(event.reseller_id)),
        E::CommissionReversed(event) if event.payer_id == book => (None, Some(event.reseller_id)),
        _ => (None, None),
    };
    let keys = [None, customer, None, reseller, None];
    single_keys(keys.map(|key| key.map(|id| id.to_string())), Figures([1; FIGURES]))
}

fn single_keys(keys: [Option<String>; 5], weights: Figures) -> Groups {
    keys.map(|key| BTreeMap::from([(key.unwrap_or_default(), weights)]))
}

/// A sale's keys in one book: one per item the book took part in, weighted by its waterfall
/// level (list for revenue, list − price for discounts, its cost, price for refunds).
fn sale_groups(items: &[PricedItem], book: OrgId, customer: OrgId, salesperson: Option<&str>) -> Option<Groups> {
    let mut groups: Groups = Default::default();
    for item in items {
        let Some(index) = item.levels.iter().position(|level| level.org_id == book) else { continue };
        let level = &item.levels[index];
        let list = item.list_amount.to_minor();
        let price = level.price.to_minor();
        let weights = Figures([list, list - price, level.cost.to_minor(), 0, price, 0, 0, price, 0]);
        let child = item.levels.get(index + 1).map(|child| child.org_id.to_string());
        let keys = [
            Some(item.product_id.to_string()),
            Some(customer.to_string()),
            Some(item.supplier_id.to_string()),
            child,
            salesperson.map(str::to_owned),
        ];
        for (dimension, key) in groups.iter_mut().zip(keys) {
            dimension.entry(key.unwrap_or_default()).or_default().add(&weights);
        }
    }
    groups.iter().all(|dimension| !dimension.is_empty()).then_some(groups)
}

/// An `items` context row: an order and its items, as this projection kept them from
/// `OrderPlaced`.
fn parse_items(row: &Row) -> Result<(OrderId, Vec<PricedItem>), ReadError> {
    let order = row.parse(1)?;
    let items = serde_json::from_str(row.text(2)?).map_err(|error| ReadError::Corrupt(error.to_string()))?;
    Ok((order, items))
}

/// A `keys` context row: an order and its payment's split, per book and dimension, as refund
/// weights (what [`event_statements`] wrote for the payment).
fn parse_payment(row: &Row) -> Result<(OrderId, BTreeMap<OrgId, Groups>), ReadError> {
    let order = row.parse(1)?;
    let weights = serde_json::from_str(row.text(2)?).map_err(|error| ReadError::Corrupt(error.to_string()))?;
    Ok((order, weights))
}

/// Splits each figure over the keys in proportion to that figure's weights; the shares sum to
/// the figure exactly. Keys whose share is zero in every figure are left out.
fn split(figures: &Figures, groups: &BTreeMap<String, Figures>) -> Vec<(String, Figures)> {
    let mut shares: Vec<(String, Figures)> = groups.keys().map(|key| (key.clone(), Figures::default())).collect();
    for index in 0..FIGURES {
        let weights: Vec<i64> = groups.values().map(|weights| weights.0[index]).collect();
        for (share, part) in shares.iter_mut().zip(allocate(figures.0[index], &weights)) {
            share.1 .0[index] = part;
        }
    }
    shares.retain(|(_, share)| !share.is_zero());
    shares
}

/// `total` split in proportion to `weights` (their magnitudes) by largest remainder, ties to the
/// earlier key; all to the first when every weight is zero.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let mut parts = vec![0_i64; weights.len()];
    if weights.is_empty() {
        return parts;
    }
    let sum: i128 = weights.iter().map(|weight| i128::from(weight.unsigned_abs())).sum();
    if sum == 0 {
        parts[0] = total;
        return parts;
    }
    let magnitude = i128::from(total.unsigned_abs());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (index, weight) in weights.iter().enumerate() {
        let product = magnitude * i128::from(weight.unsigned_abs());
        let floor = product / sum;
        parts[index] = floor as i64;
        given += floor;
        remainders.push((product % sum, index));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, index) in remainders.into_iter().take((magnitude - given) as usize) {
        parts[index] += 1;
    }
    if total < 0 {
        parts.iter_mut().for_each(|part| *part = -*part);
    }
    parts
}

fn add_kpi(book: OrgId, day: &SqlValue, dimension: &str, key: &str, figures: &Figures) -> Statement {
    let mut params = vec![SqlValue::text(book), day.clone(), SqlValue::text(dimension), SqlValue::text(key)];
    params.extend(figures.0.iter().map(|figure| SqlValue::Integer(*figure)));
    Statement::additive(ADD_KPI, params, 4)
}

fn serial_statements(event: &RecordedEvent, day: &SqlValue, out: &mut Vec<Statement>) {
    let (book, days, issued, activated, revenue) = match &event.event.payload {
        EventPayload::SerialCodesIssued(issued) => (issued.issuer_id, issued.days, issued.codes.len() as i64, 0, 0),
        EventPayload::SerialCodeActivated(activated) => {
            (activated.issuer_id, activated.days, 0, 1, activated.amount.to_minor())
        }
        _ => return,
    };
    let params = vec![
        SqlValue::text(book),
        day.clone(),
        SqlValue::Integer(i64::from(days)),
        SqlValue::Integer(issued),
        SqlValue::Integer(activated),
        SqlValue::Integer(revenue),
    ];
    out.push(Statement::additive(ADD_SERIAL, params, 3));
}

#[cfg(test)]
mod tests {
    use super::allocate;

    #[test]
    fn allocation_is_exact_and_proportional() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(-100, &[1, 1, 1]), vec![-34, -33, -33]);
        assert_eq!(allocate(95000, &[100000, 0]), vec![95000, 0]);
        assert_eq!(allocate(7, &[0, 0]), vec![7, 0]);
        assert_eq!(allocate(10, &[3, 7]), vec![3, 7]);
        let parts = allocate(1_000_003, &[333, 333, 334]);
        assert_eq!(parts.iter().sum::<i64>(), 1_000_003);
    }
}
