//! People and their bearer tokens (`rm_users`, `rm_tokens`): tokens known by the SHA-256 of
//! their text (what authentication reads), with the user each belongs to, its expiry and its
//! revocation; the roles orgs defined (`rm_roles`).

use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "tokens",
    tables: &["rm_tokens", "rm_users", "rm_roles"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

const INSERT_USER: &str =
    "INSERT INTO rm_users (user_id, org_id, name, email, phone, roles, created_by, created_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const UPSERT_TOKEN: &str = "INSERT INTO rm_tokens (token_hash, principal_id, org_id, roles, label, issued_by, position,
         user_id, expires_at, deployment_admin, issued_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (token_hash) DO UPDATE SET principal_id = excluded.principal_id, org_id = excluded.org_id,
         roles = excluded.roles, label = excluded.label, issued_by = excluded.issued_by, position = excluded.position,
         user_id = excluded.user_id, expires_at = excluded.expires_at,
         deployment_admin = excluded.deployment_admin, issued_at = excluded.issued_at";

const UPSERT_ROLE: &str = "INSERT INTO rm_roles (org_id, role, permissions, defined_by, defined_at, position)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (org_id, role) DO UPDATE SET permissions = excluded.permissions, defined_by = excluded.defined_by,
         defined_at = excluded.defined_at, position = excluded.position";

const REVOKE_TOKEN: &str =
    "UPDATE rm_tokens SET revoked_at = $2, revoked_by = $3, revoke_reason = $4, revoked_position = $5
     WHERE principal_id = $1";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    match &event.event.payload {
        EventPayload::UserCreated(user) => {
            let params = vec![
                SqlValue::text(user.user_id),
                SqlValue::text(user.org_id),
                SqlValue::text(&user.name),
                SqlValue::optional_text(user.email.as_ref()),
                SqlValue::optional_text(user.phone.as_ref()),
                json_text(&user.roles),
                SqlValue::text(user.created_by),
                SqlValue::timestamp(event.recorded_at),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(INSERT_USER, params));
        }
        EventPayload::TokenIssued(issued) => {
            let params = vec![
                SqlValue::text(&issued.token_hash),
                SqlValue::text(issued.principal_id),
                SqlValue::text(issued.org_id),
                json_text(&issued.roles),
                SqlValue::optional_text(issued.label.as_ref()),
                SqlValue::text(issued.issued_by),
                SqlValue::position(event.position),
                SqlValue::optional_text(issued.user_id),
                issued.expires_at.map_or(SqlValue::Null, SqlValue::timestamp),
                SqlValue::Integer(i64::from(issued.deployment_admin)),
                SqlValue::timestamp(event.recorded_at),
            ];
            out.push(Statement::new(UPSERT_TOKEN, params));
        }
        EventPayload::TokenRevoked(revoked) => {
            let params = vec![
                SqlValue::text(revoked.principal_id),
                SqlValue::timestamp(event.recorded_at),
                SqlValue::text(revoked.revoked_by),
                SqlValue::optional_text(revoked.reason.as_ref()),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(REVOKE_TOKEN, params));
        }
        EventPayload::RoleDefined(defined) => {
            let params = vec![
                SqlValue::text(defined.org_id),
                SqlValue::text(defined.role.as_str()),
                json_text(&defined.permissions),
                SqlValue::text(event.actor.principal_id),
                SqlValue::timestamp(event.recorded_at),
                SqlValue::position(event.position),
            ];
            out.push(Statement::new(UPSERT_ROLE, params));
        }
        _ => {}
    }
}
