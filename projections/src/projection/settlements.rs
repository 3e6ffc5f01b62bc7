//! Settlement statements (`rm_settlements`): issued → payment pending (an approval asked to pay
//! it) → paid; a rejected payment approval puts it back to issued.

use ledger_core::event::Proposal;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, no_context, Fold, Projection};
use crate::sql::{signed_to_minor, Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "settlements",
    tables: &["rm_settlements"],
    fold: Fold::Events { context: no_context, statements },
};

const INSERT_STATEMENT: &str =
    "INSERT INTO rm_settlements (settlement_id, book, counterparty_id, from_date, to_date, statement_hash,
         receivable, payable, through_position, lines, status, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'issued', $11)
     ON CONFLICT (settlement_id) DO NOTHING";
const PAYMENT_REQUESTED: &str =
    "UPDATE rm_settlements SET status = 'payment_pending', approval_id = $2 WHERE settlement_id = $1 AND status = 'issued'";
const PAYMENT_REJECTED: &str =
    "UPDATE rm_settlements SET status = 'issued', approval_id = NULL WHERE approval_id = $1 AND status = 'payment_pending'";
const PAID: &str = "UPDATE rm_settlements SET status = 'paid' WHERE settlement_id = $1";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    match &event.event.payload {
        EventPayload::SettlementStatementIssued(issued) => {
            let params = vec![
                SqlValue::text(issued.settlement_id),
                SqlValue::text(issued.book),
                SqlValue::text(issued.counterparty_id),
                SqlValue::date(issued.from),
                SqlValue::date(issued.to),
                SqlValue::text(&issued.statement_hash),
                SqlValue::Integer(signed_to_minor(issued.receivable)),
                SqlValue::Integer(signed_to_minor(issued.payable)),
                SqlValue::position(issued.through_position),
                json_text(&issued.lines),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(INSERT_STATEMENT, params));
        }
        EventPayload::ApprovalRequested(requested) => {
            if let Proposal::PaySettlement { settlement_id } = &requested.proposal {
                let params = vec![SqlValue::text(settlement_id), SqlValue::text(requested.approval_id)];
                out.push(Statement::new(PAYMENT_REQUESTED, params));
            }
        }
        EventPayload::ApprovalRejected(decided) => {
            out.push(Statement::new(PAYMENT_REJECTED, vec![SqlValue::text(decided.approval_id)]));
        }
        EventPayload::SettlementPaid(paid) => {
            out.push(Statement::new(PAID, vec![SqlValue::text(paid.settlement_id)]));
        }
        _ => {}
    }
}
