//! Usage charges and subscription renewals (`rm_charges`): what each charged, to whom, for which
//! period, readable by its id.

use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "charges",
    tables: &["rm_charges"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

pub const USAGE: &str = "usage";
pub const RENEWAL: &str = "renewal";

const INSERT_CHARGE: &str = "INSERT INTO rm_charges (charge_id, kind, order_id, customer_id, seller_id, items, total,
         period_from, period_to, new_end, charged_by, charged_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (charge_id) DO NOTHING";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    let by = SqlValue::text(event.actor.principal_id);
    let (at, position) = (SqlValue::timestamp(event.recorded_at), SqlValue::position(event.position));
    match &event.event.payload {
        EventPayload::UsageCharged(charged) => {
            let params = vec![
                SqlValue::text(charged.usage_id),
                SqlValue::text(USAGE),
                SqlValue::Null,
                SqlValue::text(charged.customer_id),
                SqlValue::text(charged.seller_id),
                json_text(&[&charged.item]),
                SqlValue::amount(charged.total),
                SqlValue::date(charged.period_from),
                SqlValue::date(charged.period_to),
                SqlValue::Null,
                by,
                at,
                position,
            ];
            out.push(Statement::new(INSERT_CHARGE, params));
        }
        EventPayload::SubscriptionRenewed(renewed) => {
            let params = vec![
                SqlValue::text(renewed.renewal_id),
                SqlValue::text(RENEWAL),
                SqlValue::text(renewed.order_id),
                SqlValue::text(renewed.customer_id),
                SqlValue::text(renewed.seller_id),
                json_text(&renewed.items),
                SqlValue::amount(renewed.total),
                SqlValue::Null,
                SqlValue::Null,
                SqlValue::date(renewed.new_end),
                by,
                at,
                position,
            ];
            out.push(Statement::new(INSERT_CHARGE, params));
        }
        _ => {}
    }
}
