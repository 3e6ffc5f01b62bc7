//! KPIs per book and day (`rm_kpi_daily`): revenue (6001, net of refund debits), discounts
//! (6001.99 net), cost (6401 net), recharges (confirmed minus reversed) and refunds (the net sales
//! a refund reversed), as totals (dimension `''`) and split by product, customer, supplier,
//! reseller (the child reseller a sale went through, `''` for a direct sale) and salesperson.
//! Months are sums of days, computed by the query. Serial codes have their own table
//! (`rm_serial_daily`): codes issued and activated per package, and the revenue activations
//! recognised.
//!
//! The figures come from the event's entries, so they hold whatever the posting rules booked; the
//! payload only says which keys they belong to. A book's figures are split over the keys of a
//! dimension in proportion to the sale's waterfall (list, list − price, cost, price), exactly, by
//! largest remainder, so every dimension sums to the totals to the cent. A payment remembers its
//! split (`rm_kpi_sale_keys`); a refund, whose payload names only the order, reads it back (the
//! context query) and splits the reversal in the same proportions.

use std::collections::BTreeMap;

use ledger_core::chart::{codes, Side};
use ledger_core::ids::OrgId;
use ledger_core::pricing::PricedItem;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "kpis",
    tables: &["rm_kpi_daily", "rm_kpi_sale_keys", "rm_serial_daily", "rm_kpi_orders"],
    fold: Fold::Events { context, statements },
};

/// The dimension of the total rows.
pub const TOTAL: &str = "";
/// The key of rows a dimension does not apply to (a direct sale has no child reseller).
pub const NO_KEY: &str = "";
/// The dimensions, in the order of [`Keys`].
pub const DIMENSIONS: [&str; 5] = ["product", "customer", "supplier", "reseller", "salesperson"];
const FIGURES: usize = 5;

const ADD_KPI: &str =
    "INSERT INTO rm_kpi_daily (book, day, dimension, dim_key, revenue, discounts, cost, recharges, refunds)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (book, day, dimension, dim_key) DO UPDATE SET revenue = rm_kpi_daily.revenue + excluded.revenue,
         discounts = rm_kpi_daily.discounts + excluded.discounts, cost = rm_kpi_daily.cost + excluded.cost,
         recharges = rm_kpi_daily.recharges + excluded.recharges, refunds = rm_kpi_daily.refunds + excluded.refunds";
const INSERT_SALE_KEY: &str =
    "INSERT INTO rm_kpi_sale_keys (order_id, book, dimension, dim_key, revenue, discounts, cost)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (order_id, book, dimension, dim_key) DO NOTHING";
const INSERT_ORDER_ITEMS: &str =
    "INSERT INTO rm_kpi_orders (order_id, items) VALUES ($1, $2) ON CONFLICT (order_id) DO NOTHING";
const ITEMS_OF_ORDER: &str = "SELECT items FROM rm_kpi_orders WHERE order_id = $1";
const SALE_KEYS_OF_ORDER: &str = "SELECT book, dimension, dim_key, revenue, discounts, cost FROM rm_kpi_sale_keys
     WHERE order_id = $1 ORDER BY book, dimension, dim_key";
const ADD_SERIAL: &str = "INSERT INTO rm_serial_daily (book, day, package_days, codes_issued, codes_activated, revenue)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (book, day, package_days) DO UPDATE SET codes_issued = rm_serial_daily.codes_issued + excluded.codes_issued,
         codes_activated = rm_serial_daily.codes_activated + excluded.codes_activated,
         revenue = rm_serial_daily.revenue + excluded.revenue";

/// Revenue, discounts, cost, recharges, refunds, in minor units (signed: refunds reverse).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures([i64; FIGURES]);

const REVENUE: usize = 0;
const DISCOUNTS: usize = 1;
const COST: usize = 2;
const RECHARGES: usize = 3;
const REFUNDS: usize = 4;

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

fn context(event: &RecordedEvent) -> Option<Statement> {
    match &event.event.payload {
        EventPayload::OrderPaid(paid) => Some(Statement::new(ITEMS_OF_ORDER, vec![SqlValue::text(paid.order_id)])),
        EventPayload::OrderRefunded(refunded) => {
            Some(Statement::new(SALE_KEYS_OF_ORDER, vec![SqlValue::text(refunded.order_id)]))
        }
        _ => None,
    }
}

fn statements(event: &RecordedEvent, context: &[Row], out: &mut Vec<Statement>) {
    let day = SqlValue::date(event.effective_date);
    if let EventPayload::OrderPlaced(placed) = &event.event.payload {
        out.push(Statement::new(INSERT_ORDER_ITEMS, vec![SqlValue::text(placed.order_id), json_text(&placed.items)]));
    }
    let (sale_keys, paid_items) = match &event.event.payload {
        EventPayload::OrderPaid(_) => (BTreeMap::new(), parse_items(context)),
        _ => (parse_sale_keys(context), Vec::new()),
    };
    for (book, figures) in book_figures(event) {
        out.push(add_kpi(book, &day, TOTAL, NO_KEY, &figures));
        let groups = groups(event, book, &sale_keys, &paid_items);
        for (dimension, groups) in DIMENSIONS.iter().zip(groups) {
            for (key, share) in split(&figures, &groups) {
                if let EventPayload::OrderPaid(paid) = &event.event.payload {
                    out.push(sale_key(paid.order_id, book, dimension, &key, &share));
                }
                out.push(add_kpi(book, &day, dimension, &key, &share));
            }
        }
    }
    serial_statements(event, &day, out);
}

/// Each book's figures, from the event's lines (and, for recharges, its payload).
fn book_figures(event: &RecordedEvent) -> BTreeMap<OrgId, Figures> {
    let mut books: BTreeMap<OrgId, Figures> = BTreeMap::new();
    for entry in &event.event.entries {
        for line in &entry.lines {
            let (index, normal_side) = match line.account.as_str() {
                codes::REVENUE => (REVENUE, Side::Credit),
                codes::SALES_DISCOUNTS => (DISCOUNTS, Side::Debit),
                codes::COST_OF_SALES => (COST, Side::Debit),
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
        E::OrderPaid(event) => (Some(event.customer_id), None),
        E::UsageCharged(event) => (Some(event.customer_id), None),
        E::SubscriptionRenewed(event) => (Some(event.customer_id), None),
        E::OrderRefunded(event) => (Some(event.customer_id), None),
        E::SerialCodeActivated(event) => (Some(event.customer_id), None),
        E::SerialCodesIssued(event) if event.issuer_id == book => (None, Some(event.distributor_id)),
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
        let weights = Figures([list, list - level.price.to_minor(), level.cost.to_minor(), 0, level.price.to_minor()]);
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

/// The items of the order a payment names, as this projection kept them from `OrderPlaced`
/// (every read model is built from position 0, so it has seen the order). Without them the
/// payment's figures go to its customer alone.
fn parse_items(context: &[Row]) -> Vec<PricedItem> {
    context
        .first()
        .and_then(|row| row.text(0).ok())
        .and_then(|items| serde_json::from_str(items).ok())
        .unwrap_or_default()
}

/// The rows a payment left, by book: the weights of its refunds.
fn parse_sale_keys(context: &[Row]) -> BTreeMap<OrgId, Groups> {
    let mut books: BTreeMap<OrgId, Groups> = BTreeMap::new();
    for row in context {
        let parsed = (|| {
            let book: OrgId = row.parse(0)?;
            let dimension = row.text(1)?.to_owned();
            let key = row.text(2)?.to_owned();
            let (revenue, discounts, cost) = (row.integer(3)?, row.integer(4)?, row.integer(5)?);
            Ok::<_, crate::ReadError>((
                book,
                dimension,
                key,
                Figures([revenue, discounts, cost, 0, revenue - discounts]),
            ))
        })();
        // The rows were written by this projection; one that does not parse cannot be weighed,
        // and the refund then falls back to its payload's keys.
        let Ok((book, dimension, key, weights)) = parsed else { continue };
        let Some(index) = DIMENSIONS.iter().position(|name| *name == dimension) else { continue };
        books.entry(book).or_default()[index].insert(key, weights);
    }
    books.retain(|_, groups| groups.iter().all(|dimension| !dimension.is_empty()));
    books
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

fn sale_key(
    order_id: ledger_core::ids::OrderId,
    book: OrgId,
    dimension: &str,
    key: &str,
    share: &Figures,
) -> Statement {
    let params = vec![
        SqlValue::text(order_id),
        SqlValue::text(book),
        SqlValue::text(dimension),
        SqlValue::text(key),
        SqlValue::Integer(share.0[REVENUE]),
        SqlValue::Integer(share.0[DISCOUNTS]),
        SqlValue::Integer(share.0[COST]),
    ];
    Statement::new(INSERT_SALE_KEY, params)
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
