//! Settlement statements (`rm_settlements`): issued → payment pending (an approval asked to pay
//! it) → paid; a rejected payment approval puts it back to issued. And their lines
//! (`rm_settlement_lines`), numbered in the statement's order.
//!
//! A statement event (schema v2) carries its selection and figures, not its lines
//! (`ledger_core::statement`). The lines are the journal's: in the book, with the counterparty
//! as party, on 1122 or 2202, not booked by a settlement, dated within the period and at or
//! before the cut-off position. That is exactly the ledger's open items of the selection,
//! because statements of one book and counterparty never overlap (an item dated in the period
//! can be settled by this statement only) and every line at or before the cut-off is in the
//! journal already: the journal is applied before this projection in every transaction
//! (`projection::ALL`), and a statement's cut-off is before its own position. So the lines are
//! copied from `rm_journal` in one `INSERT … SELECT` when the statement is applied, and a page
//! is a range of line numbers.

use ledger_core::chart::codes;
use ledger_core::event::Proposal;
use ledger_core::{EventPayload, RecordedEvent};

use super::{no_context, Fold, Projection};
use crate::sql::{signed_to_minor, Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "settlements",
    tables: &["rm_settlements", "rm_settlement_lines"],
    reads: &["journal"],
    fold: Fold::Events { context: no_context, statements },
};

const INSERT_STATEMENT: &str =
    "INSERT INTO rm_settlements (settlement_id, book, counterparty_id, from_date, to_date, statement_hash,
         receivable, payable, through_position, line_count, status, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'issued', $11)
     ON CONFLICT (settlement_id) DO NOTHING";
/// The statement's lines from the journal, numbered 1.. in the statement's order: position,
/// account, then entry and line as booked (the order the ledger keeps its open items in).
const INSERT_LINES: &str =
    "INSERT INTO rm_settlement_lines (settlement_id, line_no, position, entry_date, account, debit, credit)
     SELECT CAST($1 AS TEXT), ROW_NUMBER() OVER (ORDER BY position, account, entry_idx, line_idx),
         position, entry_date, account, debit, credit
     FROM rm_journal
     WHERE book = $2 AND party = $3 AND account IN ($4, $5) AND rule_id NOT LIKE $6
       AND entry_date >= $7 AND entry_date <= $8 AND position <= $9
     ON CONFLICT (settlement_id, line_no) DO NOTHING";
/// What the rules of settlement payments are called (`settlement/<role>`): their lines on 1122
/// and 2202 clear items, they are none.
const SETTLEMENT_RULES: &str = "settlement/%";
const PAYMENT_REQUESTED: &str =
    "UPDATE rm_settlements SET status = 'payment_pending', approval_id = $2 WHERE settlement_id = $1 AND status = 'issued'";
const PAYMENT_REJECTED: &str =
    "UPDATE rm_settlements SET status = 'issued', approval_id = NULL WHERE approval_id = $1 AND status = 'payment_pending'";
const PAID: &str = "UPDATE rm_settlements SET status = 'paid', exchange = $2 WHERE settlement_id = $1";

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
                SqlValue::position(issued.line_count),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(INSERT_STATEMENT, params));
            let params = vec![
                SqlValue::text(issued.settlement_id),
                SqlValue::text(issued.book),
                SqlValue::text(issued.counterparty_id),
                SqlValue::text(codes::RECEIVABLES),
                SqlValue::text(codes::PAYABLES),
                SqlValue::text(SETTLEMENT_RULES),
                SqlValue::date(issued.from),
                SqlValue::date(issued.to),
                SqlValue::position(issued.through_position),
            ];
            out.push(Statement::new(INSERT_LINES, params));
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
            // The foreign parts as paid, when there were any.
            let exchange = if paid.exchange.is_empty() { SqlValue::Null } else { super::json_text(&paid.exchange) };
            out.push(Statement::new(PAID, vec![SqlValue::text(paid.settlement_id), exchange]));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    /// The lines are copied from the journal when a statement is applied: within a transaction
    /// the journal must already hold them, so it comes first.
    #[test]
    fn the_journal_is_applied_before_the_statements_that_copy_its_lines() {
        let index = |name: &str| super::super::ALL.iter().position(|projection| projection.name == name);
        assert!(index("journal").unwrap() < index(super::PROJECTION.name).unwrap());
    }
}
