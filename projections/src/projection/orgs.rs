//! Organisations (`rm_orgs`): the tree, kinds, names and currencies; who opened each, and a
//! customer's owner where one was named (else the person who opened it: see the queries).

use ledger_core::{EventPayload, RecordedEvent};

use super::{no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "orgs",
    tables: &["rm_orgs"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

const UPSERT_ORG: &str = "INSERT INTO rm_orgs (org_id, kind, name, parent_id, currency, sale_mode, position, opened_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (org_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, parent_id = excluded.parent_id,
         currency = excluded.currency, sale_mode = excluded.sale_mode, position = excluded.position,
         opened_by = excluded.opened_by";
const SET_OWNER: &str = "UPDATE rm_orgs SET owner_id = $2 WHERE org_id = $1";
const SET_SALE_MODE: &str = "UPDATE rm_orgs SET sale_mode = $2 WHERE org_id = $1";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    match &event.event.payload {
        EventPayload::OrgOpened(opened) => {
            let org = &opened.org;
            let params = vec![
                SqlValue::text(org.id),
                SqlValue::text(org.kind.as_str()),
                SqlValue::text(&org.name),
                SqlValue::optional_text(org.parent_id),
                SqlValue::text(org.currency.code()),
                super::json_text(&org.sale_mode),
                SqlValue::position(event.position),
                SqlValue::text(event.actor.principal_id),
            ];
            out.push(Statement::new(UPSERT_ORG, params));
        }
        EventPayload::SaleModeSet(set) => {
            let params = vec![SqlValue::text(set.reseller_id), super::json_text(&set.sale_mode)];
            out.push(Statement::new(SET_SALE_MODE, params));
        }
        EventPayload::CustomerOwnerSet(set) => {
            out.push(Statement::new(SET_OWNER, vec![SqlValue::text(set.customer_id), SqlValue::text(set.owner_id)]));
        }
        _ => {}
    }
}
