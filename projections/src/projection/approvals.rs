//! The approval inbox (`rm_approvals`): each request with its proposal, its levels, the level it
//! waits at and its outcome; every decision, level by level (`rm_approval_decisions`); and each
//! book's approval policy as it set it (`rm_approval_policies`).

use ledger_core::approval_policy::default_levels;
use ledger_core::event::ApprovalDecided;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "approvals",
    tables: &["rm_approvals", "rm_approval_decisions", "rm_approval_policies"],
    reads: &[],
    fold: Fold::Events { context, statements },
};

const INSERT_APPROVAL: &str =
    "INSERT INTO rm_approvals (approval_id, book, kind, requested_by, proposal, status, created_at, position, levels,
         current_level)
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, 1)
     ON CONFLICT (approval_id) DO NOTHING";
const ROUTE: &str = "UPDATE rm_approvals SET levels = $2, action = $3 WHERE approval_id = $1";
const DECIDE: &str = "UPDATE rm_approvals SET status = $2, decided_by = $3, comment = $4 WHERE approval_id = $1";
const INSERT_DECISION: &str =
    "INSERT INTO rm_approval_decisions (approval_id, level, decision, decided_by, comment, decided_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (approval_id, level) DO NOTHING";
/// The level a final decision is taken at: the one the approval waits at.
const CURRENT_LEVEL: &str = "SELECT current_level FROM rm_approvals WHERE approval_id = $1";
const NEXT_LEVEL: &str = "UPDATE rm_approvals SET current_level = $2 WHERE approval_id = $1";
const SET_POLICY: &str = "INSERT INTO rm_approval_policies (book, rules, set_by, set_at, position)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (book) DO UPDATE SET rules = excluded.rules, set_by = excluded.set_by, set_at = excluded.set_at,
         position = excluded.position";

/// A final decision (a grant of the last level, or a rejection at any) reads the level the
/// approval waits at.
fn context(event: &RecordedEvent) -> Option<Statement> {
    match &event.event.payload {
        EventPayload::ApprovalGranted(decided) | EventPayload::ApprovalRejected(decided) => {
            Some(Statement::new(CURRENT_LEVEL, vec![SqlValue::text(decided.approval_id)]))
        }
        _ => None,
    }
}

fn statements(event: &RecordedEvent, rows: &[Row], out: &mut Vec<Statement>) {
    // The level a final decision is taken at (1 for a request the read model never saw).
    let current_level = rows.first().and_then(|row| row.integer(0).ok()).unwrap_or(1);
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
                json_text(&default_levels()),
            ];
            out.push(Statement::new(INSERT_APPROVAL, params));
        }
        EventPayload::ApprovalRouted(routed) => {
            let params = vec![
                SqlValue::text(routed.approval_id),
                json_text(&routed.levels),
                SqlValue::text(routed.action.as_str()),
            ];
            out.push(Statement::new(ROUTE, params));
        }
        EventPayload::ApprovalLevelGranted(granted) => {
            let decided = ApprovalDecided {
                approval_id: granted.approval_id,
                decided_by: granted.decided_by,
                comment: granted.comment.clone(),
            };
            out.push(decision(event, &decided, i64::from(granted.level), "granted"));
            let next = vec![SqlValue::text(granted.approval_id), SqlValue::Integer(i64::from(granted.level) + 1)];
            out.push(Statement::new(NEXT_LEVEL, next));
        }
        EventPayload::ApprovalGranted(decided) => {
            out.push(decision(event, decided, current_level, "granted"));
            out.push(decide(decided, "granted"));
        }
        EventPayload::ApprovalRejected(decided) => {
            out.push(decision(event, decided, current_level, "rejected"));
            out.push(decide(decided, "rejected"));
        }
        EventPayload::ApprovalPolicySet(policy) => {
            let params = vec![
                SqlValue::text(policy.book),
                json_text(&policy.rules),
                SqlValue::text(event.actor.principal_id),
                SqlValue::timestamp(event.recorded_at),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(SET_POLICY, params));
        }
        _ => {}
    }
}

fn decision(event: &RecordedEvent, decided: &ApprovalDecided, level: i64, outcome: &str) -> Statement {
    let params = vec![
        SqlValue::text(decided.approval_id),
        SqlValue::Integer(level),
        SqlValue::text(outcome),
        SqlValue::text(decided.decided_by),
        SqlValue::optional_text(decided.comment.as_ref()),
        SqlValue::timestamp(event.recorded_at),
        SqlValue::position(event.position),
    ];
    Statement::new(INSERT_DECISION, params)
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
