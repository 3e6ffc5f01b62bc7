//! Invoiceable amounts (`rm_invoiceable`): per customer, paid minus refunded minus invoiced,
//! exactly as `State::evolve` keeps it: sales add their total, a refund takes back what the
//! wallet got (`amount - penalty`) but never below zero (what was invoiced stays invoiced: the
//! rest is `over_invoiced`), an issued invoice subtracts its amount, a red-letter invoice or a
//! void gives back what it reverses, making up for what was over-invoiced first.

use ledger_core::ids::OrgId;
use ledger_core::money::Amount;
use ledger_core::{EventPayload, RecordedEvent};

use super::{no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "invoices",
    tables: &["rm_invoiceable"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

const ADD: &str = "INSERT INTO rm_invoiceable (customer_id, amount) VALUES ($1, $2)
     ON CONFLICT (customer_id) DO UPDATE SET amount = rm_invoiceable.amount + excluded.amount";
/// A refund: invoiceable no more, and beyond what was invoiceable, over-invoiced (the right-hand
/// sides read the row as it was).
const REFUND: &str = "INSERT INTO rm_invoiceable (customer_id, amount, over_invoiced) VALUES ($1, 0, $2)
     ON CONFLICT (customer_id) DO UPDATE SET
         amount = CASE WHEN rm_invoiceable.amount > $2 THEN rm_invoiceable.amount - $2 ELSE 0 END,
         over_invoiced = rm_invoiceable.over_invoiced
             + CASE WHEN rm_invoiceable.amount >= $2 THEN 0 ELSE $2 - rm_invoiceable.amount END";
/// What invoices no longer cover: it makes up for what was over-invoiced first.
const UNINVOICE: &str = "INSERT INTO rm_invoiceable (customer_id, amount, over_invoiced) VALUES ($1, $2, 0)
     ON CONFLICT (customer_id) DO UPDATE SET
         amount = rm_invoiceable.amount
             + CASE WHEN rm_invoiceable.over_invoiced >= $2 THEN 0 ELSE $2 - rm_invoiceable.over_invoiced END,
         over_invoiced = CASE WHEN rm_invoiceable.over_invoiced >= $2 THEN rm_invoiceable.over_invoiced - $2 ELSE 0 END";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    use EventPayload as E;
    match &event.event.payload {
        E::OrderPaid(paid) => out.push(add(paid.customer_id, paid.total.to_minor())),
        E::UsageCharged(charged) => out.push(add(charged.customer_id, charged.total.to_minor())),
        E::SubscriptionRenewed(renewed) => out.push(add(renewed.customer_id, renewed.total.to_minor())),
        E::OrderRefunded(refunded) => {
            let returned: Amount = refunded.amount.minus(refunded.penalty);
            let params = vec![SqlValue::text(refunded.customer_id), SqlValue::amount(returned)];
            out.push(Statement::new(REFUND, params));
        }
        E::InvoiceIssued(issued) => out.push(add(issued.customer_id, -issued.amount.to_minor())),
        E::InvoiceRedLettered(red) => {
            out.push(Statement::new(UNINVOICE, vec![SqlValue::text(red.customer_id), SqlValue::amount(red.amount)]));
        }
        E::InvoiceVoided(voided) if !voided.amount.is_zero() => {
            let params = vec![SqlValue::text(voided.customer_id), SqlValue::amount(voided.amount)];
            out.push(Statement::new(UNINVOICE, params));
        }
        _ => {}
    }
}

fn add(customer_id: OrgId, amount_minor: i64) -> Statement {
    Statement::additive(ADD, vec![SqlValue::text(customer_id), SqlValue::Integer(amount_minor)], 1)
}
