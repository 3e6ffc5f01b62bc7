//! The approval inbox (`rm_approvals`): each request with its proposal and decision.

use ledger_core::event::ApprovalDecided;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection =
    Projection { name: "approvals", tables: &["rm_approvals"], fold: Fold::Events { context: no_context, statements } };

const INSERT_APPROVAL: &str =
    "INSERT INTO rm_approvals (approval_id, book, kind, requested_by, proposal, status, created_at, position)
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)
     ON CONFLICT (approval_id) DO NOTHING";
const DECIDE: &str = "UPDATE rm_approvals SET status = $2, decided_by = $3, comment = $4 WHERE approval_id = $1";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    match &event.event.payload {
        EventPayload::ApprovalRequested(requested) => {
            let params = vec![
                SqlValue::text(requested.approval_id),
                SqlValue::text(requested.book),
                SqlValue::text(requested.kind.as_str()),
                SqlValue::text(requested.requested_by),
                json_text(&requested.proposal),
                SqlValue::timestamp(event.recorded_at),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(INSERT_APPROVAL, params));
        }
        EventPayload::ApprovalGranted(decided) => out.push(decide(decided, "granted")),
        EventPayload::ApprovalRejected(decided) => out.push(decide(decided, "rejected")),
        _ => {}
    }
}

fn decide(decided: &ApprovalDecided, status: &str) -> Statement {
    let params = vec![
        SqlValue::text(decided.approval_id),
        SqlValue::text(status),
        SqlValue::text(decided.decided_by),
        SqlValue::optional_text(decided.comment.as_ref()),
    ];
    Statement::new(DECIDE, params)
}
