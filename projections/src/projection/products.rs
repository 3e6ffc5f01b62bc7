//! The product catalogue (`rm_products`): list prices (and those from later dates) and their
//! currency, supplier rates, the shelf and the resellers a product is hidden from; and each
//! book's exchange rates (`rm_exchange_rates`), every one kept.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "products",
    tables: &["rm_products", "rm_exchange_rates"],
    reads: &[],
    fold: Fold::Events { context, statements },
};

const UPSERT_PRODUCT: &str = "INSERT INTO rm_products (product_id, name, supplier_id, owner_id, list_price, unit, supplier_rate, position, currency)
     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)
     ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, supplier_id = excluded.supplier_id,
         owner_id = excluded.owner_id, list_price = excluded.list_price, unit = excluded.unit, position = excluded.position,
         currency = excluded.currency";
const UPSERT_EXCHANGE_RATE: &str =
    "INSERT INTO rm_exchange_rates (book, currency, effective_from, rate, source, set_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (book, currency, effective_from) DO UPDATE SET rate = excluded.rate, source = excluded.source,
         set_at = excluded.set_at, position = excluded.position";
const SET_SUPPLIER_RATE: &str = "UPDATE rm_products SET supplier_rate = $2 WHERE product_id = $1";
const UPDATE_PRODUCT: &str = "UPDATE rm_products SET name = $2, on_shelf = $3, hidden_from = $4 WHERE product_id = $1";
const LIST_PRICES: &str = "SELECT list_prices FROM rm_products WHERE product_id = $1";
const SET_LIST_PRICES: &str = "UPDATE rm_products SET list_prices = $2 WHERE product_id = $1";

fn context(event: &RecordedEvent) -> Option<Statement> {
    match &event.event.payload {
        EventPayload::ListPriceScheduled(scheduled) => {
            Some(Statement::new(LIST_PRICES, vec![SqlValue::text(scheduled.product_id)]))
        }
        _ => None,
    }
}

fn statements(event: &RecordedEvent, rows: &[Row], out: &mut Vec<Statement>) {
    match &event.event.payload {
        EventPayload::ProductCreated(created) => {
            // Unit prices carry more digits than amounts: kept as their exact decimal text.
            let params = vec![
                SqlValue::text(created.product_id),
                SqlValue::text(&created.name),
                SqlValue::text(created.supplier_id),
                SqlValue::text(created.owner_id),
                SqlValue::text(created.list_price),
                SqlValue::text(&created.unit),
                SqlValue::position(event.position),
                SqlValue::optional_text(created.currency),
            ];
            out.push(Statement::new(UPSERT_PRODUCT, params));
        }
        EventPayload::ProductUpdated(updated) => {
            let params = vec![
                SqlValue::text(updated.product_id),
                SqlValue::text(&updated.name),
                SqlValue::Integer(i64::from(updated.on_shelf)),
                json_text(&updated.hidden_from),
            ];
            out.push(Statement::new(UPDATE_PRODUCT, params));
        }
        EventPayload::ListPriceScheduled(scheduled) => {
            // From each date on, its list price (exact decimal text), in date order.
            let known = rows.first().and_then(|row| row.optional_text(0).ok().flatten());
            let mut prices: BTreeMap<NaiveDate, String> =
                known.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
            prices.insert(scheduled.effective_from, scheduled.list_price.to_string());
            out.push(Statement::new(SET_LIST_PRICES, vec![SqlValue::text(scheduled.product_id), json_text(&prices)]));
        }
        EventPayload::ExchangeRateSet(set) => {
            let params = vec![
                SqlValue::text(set.book),
                SqlValue::text(set.currency),
                SqlValue::date(set.effective_from),
                SqlValue::text(set.rate),
                SqlValue::text(&set.source),
                SqlValue::timestamp(event.recorded_at),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(UPSERT_EXCHANGE_RATE, params));
        }
        EventPayload::SupplierRateSet(set) => {
            out.push(Statement::new(SET_SUPPLIER_RATE, vec![SqlValue::text(set.product_id), SqlValue::text(set.rate)]));
        }
        _ => {}
    }
}
