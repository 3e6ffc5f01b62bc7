//! Orders (`rm_orders`) and their status timeline (`rm_order_history`): pending payment → paid →
//! fulfilled / cancelled / partially refunded / refunded, with the priced items (each with its
//! waterfall) as JSON, totals, paid and refunded amounts.

use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "orders",
    tables: &["rm_orders", "rm_order_history"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

const INSERT_ORDER: &str =
    "INSERT INTO rm_orders (order_id, customer_id, seller_id, status, total, paid, refunded, items,
         placed_on, placed_position, invite_code, salesperson)
     VALUES ($1, $2, $3, 'pending_payment', $4, 0, 0, $5, $6, $7, $8, $9)
     ON CONFLICT (order_id) DO NOTHING";
const SET_PAID: &str = "UPDATE rm_orders SET status = 'paid', paid = $2 WHERE order_id = $1";
const SET_STATUS: &str = "UPDATE rm_orders SET status = $2 WHERE order_id = $1";
const SET_REFUNDED: &str = "UPDATE rm_orders SET status = $2, refunded = $3 WHERE order_id = $1";
const INSERT_HISTORY: &str = "INSERT INTO rm_order_history (order_id, position, status, at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (order_id, position) DO NOTHING";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    use EventPayload as E;
    let (order_id, status) = match &event.event.payload {
        E::OrderPlaced(placed) => {
            let params = vec![
                SqlValue::text(placed.order_id),
                SqlValue::text(placed.customer_id),
                SqlValue::text(placed.seller_id),
                SqlValue::amount(placed.total),
                json_text(&placed.items),
                SqlValue::date(event.effective_date),
                SqlValue::position(event.position),
                SqlValue::optional_text(placed.invite_code.as_ref().map(|code| code.as_str())),
                SqlValue::optional_text(placed.salesperson.as_ref()),
            ];
            out.push(Statement::new(INSERT_ORDER, params));
            (placed.order_id, "pending_payment")
        }
        E::OrderPaid(paid) => {
            out.push(Statement::new(SET_PAID, vec![SqlValue::text(paid.order_id), SqlValue::amount(paid.total)]));
            (paid.order_id, "paid")
        }
        E::OrderFulfilled(fulfilled) => {
            out.push(Statement::new(SET_STATUS, vec![SqlValue::text(fulfilled.order_id), SqlValue::text("fulfilled")]));
            (fulfilled.order_id, "fulfilled")
        }
        E::OrderCancelled(cancelled) => {
            out.push(Statement::new(SET_STATUS, vec![SqlValue::text(cancelled.order_id), SqlValue::text("cancelled")]));
            (cancelled.order_id, "cancelled")
        }
        E::OrderRefunded(refunded) => {
            let status = if refunded.fully_refunded { "refunded" } else { "partially_refunded" };
            let params = vec![
                SqlValue::text(refunded.order_id),
                SqlValue::text(status),
                SqlValue::amount(refunded.refunded_total),
            ];
            out.push(Statement::new(SET_REFUNDED, params));
            (refunded.order_id, status)
        }
        _ => return,
    };
    let params = vec![
        SqlValue::text(order_id),
        SqlValue::position(event.position),
        SqlValue::text(status),
        SqlValue::timestamp(event.recorded_at),
    ];
    out.push(Statement::new(INSERT_HISTORY, params));
}
