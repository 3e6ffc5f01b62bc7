//! Bearer tokens (`rm_tokens`), known by the SHA-256 of their text: what authentication reads.

use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection =
    Projection { name: "tokens", tables: &["rm_tokens"], fold: Fold::Events { context: no_context, statements } };

const UPSERT_TOKEN: &str = "INSERT INTO rm_tokens (token_hash, principal_id, org_id, roles, label, issued_by, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (token_hash) DO UPDATE SET principal_id = excluded.principal_id, org_id = excluded.org_id,
         roles = excluded.roles, label = excluded.label, issued_by = excluded.issued_by, position = excluded.position";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    if let EventPayload::TokenIssued(issued) = &event.event.payload {
        let params = vec![
            SqlValue::text(&issued.token_hash),
            SqlValue::text(issued.principal_id),
            SqlValue::text(issued.org_id),
            json_text(&issued.roles),
            SqlValue::optional_text(issued.label.as_ref()),
            SqlValue::text(issued.issued_by),
            SqlValue::position(event.position),
        ];
        out.push(Statement::new(UPSERT_TOKEN, params));
    }
}
