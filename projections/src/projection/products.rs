//! The product catalogue (`rm_products`): list prices and supplier rates.

use ledger_core::{EventPayload, RecordedEvent};

use super::{no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "products",
    tables: &["rm_products"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

const UPSERT_PRODUCT: &str = "INSERT INTO rm_products (product_id, name, supplier_id, owner_id, list_price, unit, supplier_rate, position)
     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)
     ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, supplier_id = excluded.supplier_id,
         owner_id = excluded.owner_id, list_price = excluded.list_price, unit = excluded.unit, position = excluded.position";
const SET_SUPPLIER_RATE: &str = "UPDATE rm_products SET supplier_rate = $2 WHERE product_id = $1";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
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
            ];
            out.push(Statement::new(UPSERT_PRODUCT, params));
        }
        EventPayload::SupplierRateSet(set) => {
            out.push(Statement::new(SET_SUPPLIER_RATE, vec![SqlValue::text(set.product_id), SqlValue::text(set.rate)]));
        }
        _ => {}
    }
}
