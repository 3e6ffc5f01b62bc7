//! Organisations (`rm_orgs`): the tree, kinds, names and currencies; who opened each, and when;
//! a customer's owner where one was named (else the person who opened it: see the queries); the
//! back office's registry: status (active, or closed: 注销), profile (contacts, invoice details,
//! verification, tags, notes), a supplier's agreement terms and a reseller's sale modes from
//! later dates; a customer's ownership history (`rm_customer_ownership`: opened, salesperson
//! named, transferred to another seller).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ledger_core::event::OrgProfile;
use ledger_core::org::SaleMode;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "orgs",
    tables: &["rm_orgs", "rm_customer_ownership"],
    reads: &[],
    fold: Fold::Events { context, statements },
};

/// An org's statuses.
pub const ACTIVE: &str = "active";
pub const CLOSED: &str = "closed";

const UPSERT_ORG: &str = "INSERT INTO rm_orgs (org_id, kind, name, parent_id, currency, sale_mode, position, opened_by,
         status, tags, search, opened_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', '', $9, $10)
     ON CONFLICT (org_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, parent_id = excluded.parent_id,
         currency = excluded.currency, sale_mode = excluded.sale_mode, position = excluded.position,
         opened_by = excluded.opened_by, search = excluded.search, opened_at = excluded.opened_at";
const SET_OWNER: &str = "UPDATE rm_orgs SET owner_id = $2 WHERE org_id = $1";
const SET_SALE_MODE: &str = "UPDATE rm_orgs SET sale_mode = $2, scheduled_sale_modes = NULL WHERE org_id = $1";
const SET_SCHEDULED_SALE_MODES: &str = "UPDATE rm_orgs SET scheduled_sale_modes = $2 WHERE org_id = $1";
const SCHEDULED_SALE_MODES: &str = "SELECT scheduled_sale_modes FROM rm_orgs WHERE org_id = $1";
const SET_PROFILE: &str = "UPDATE rm_orgs SET name = $2, profile = $3, tags = $4, search = $5 WHERE org_id = $1";
const SET_STATUS: &str = "UPDATE rm_orgs SET status = $2, closed_at = $3 WHERE org_id = $1";
const SET_SUPPLIER_TERMS: &str = "UPDATE rm_orgs SET supplier_terms = $2 WHERE org_id = $1";
/// A transfer: the new seller, and its salesperson (`''` for nobody: the opener no longer owns it).
const SET_SELLER: &str = "UPDATE rm_orgs SET parent_id = $2, owner_id = $3 WHERE org_id = $1";
const ADD_OWNERSHIP: &str = "INSERT INTO rm_customer_ownership (customer_id, position, kind, seller_id, from_seller_id,
         owner_id, reason, at, actor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (customer_id, position) DO NOTHING";
/// The kinds of ownership rows.
pub const OPENED: &str = "opened";
pub const OWNER_SET: &str = "owner_set";
pub const TRANSFERRED: &str = "transferred";

/// One row of a customer's ownership history.
fn ownership(
    event: &RecordedEvent,
    customer: ledger_core::ids::OrgId,
    kind: &str,
    seller: ledger_core::ids::OrgId,
    from: Option<ledger_core::ids::OrgId>,
    owner: Option<ledger_core::ids::UserId>,
    reason: Option<&str>,
) -> Statement {
    let params = vec![
        SqlValue::text(customer),
        SqlValue::position(event.position),
        SqlValue::text(kind),
        SqlValue::text(seller),
        SqlValue::optional_text(from),
        SqlValue::optional_text(owner),
        SqlValue::optional_text(reason),
        SqlValue::timestamp(event.recorded_at),
        SqlValue::text(event.actor.principal_id),
    ];
    Statement::new(ADD_OWNERSHIP, params)
}

fn context(event: &RecordedEvent) -> Option<Statement> {
    match &event.event.payload {
        EventPayload::SaleModeScheduled(scheduled) => {
            Some(Statement::new(SCHEDULED_SALE_MODES, vec![SqlValue::text(scheduled.reseller_id)]))
        }
        _ => None,
    }
}

/// What a search of the registry looks in, lowercased: the name and the profile's contact
/// person, phone, email, company and tax id.
pub fn search_text(name: &str, profile: Option<&OrgProfile>) -> String {
    let mut parts = vec![name];
    if let Some(profile) = profile {
        for field in [&profile.contact_person, &profile.phone, &profile.email, &profile.company, &profile.tax_id] {
            parts.extend(field.as_deref());
        }
    }
    parts.join("\n").to_lowercase()
}

/// Tags as one text, `|vip|gpu|`: a tag filter is `LIKE '%|vip|%'`.
pub fn tags_text(profile: &OrgProfile) -> String {
    if profile.tags.is_empty() {
        return String::new();
    }
    let tags: Vec<&str> = profile.tags.iter().map(String::as_str).collect();
    format!("|{}|", tags.join("|"))
}

fn statements(event: &RecordedEvent, rows: &[Row], out: &mut Vec<Statement>) {
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
                SqlValue::Text(search_text(&org.name, None)),
                SqlValue::timestamp(event.recorded_at),
            ];
            out.push(Statement::new(UPSERT_ORG, params));
            if let (ledger_core::org::OrgKind::Customer, Some(seller)) = (org.kind, org.parent_id) {
                out.push(ownership(event, org.id, OPENED, seller, None, None, None));
            }
        }
        EventPayload::SaleModeSet(set) => {
            let params = vec![SqlValue::text(set.reseller_id), super::json_text(&set.sale_mode)];
            out.push(Statement::new(SET_SALE_MODE, params));
        }
        EventPayload::SaleModeScheduled(scheduled) => {
            let known = rows.first().and_then(|row| row.optional_text(0).ok().flatten());
            let mut modes: BTreeMap<NaiveDate, SaleMode> =
                known.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
            modes.insert(scheduled.effective_from, scheduled.sale_mode);
            let params = vec![SqlValue::text(scheduled.reseller_id), json_text(&modes)];
            out.push(Statement::new(SET_SCHEDULED_SALE_MODES, params));
        }
        EventPayload::CustomerOwnerSet(set) => {
            out.push(Statement::new(SET_OWNER, vec![SqlValue::text(set.customer_id), SqlValue::text(set.owner_id)]));
            out.push(ownership(event, set.customer_id, OWNER_SET, set.book, None, Some(set.owner_id), None));
        }
        EventPayload::CustomerTransferred(moved) => {
            let owner = moved.owner_id.map_or_else(|| SqlValue::text(""), SqlValue::text);
            out.push(Statement::new(
                SET_SELLER,
                vec![SqlValue::text(moved.customer_id), SqlValue::text(moved.to), owner],
            ));
            let reason = moved.reason.as_deref();
            out.push(ownership(
                event,
                moved.customer_id,
                TRANSFERRED,
                moved.to,
                Some(moved.from),
                moved.owner_id,
                reason,
            ));
        }
        EventPayload::OrgProfileUpdated(updated) => {
            let params = vec![
                SqlValue::text(updated.org_id),
                SqlValue::text(&updated.name),
                json_text(&updated.profile),
                SqlValue::Text(tags_text(&updated.profile)),
                SqlValue::Text(search_text(&updated.name, Some(&updated.profile))),
            ];
            out.push(Statement::new(SET_PROFILE, params));
        }
        EventPayload::OrgClosed(closed) => {
            let params =
                vec![SqlValue::text(closed.org_id), SqlValue::text(CLOSED), SqlValue::timestamp(event.recorded_at)];
            out.push(Statement::new(SET_STATUS, params));
        }
        EventPayload::OrgReopened(reopened) => {
            let params = vec![SqlValue::text(reopened.org_id), SqlValue::text(ACTIVE), SqlValue::Null];
            out.push(Statement::new(SET_STATUS, params));
        }
        EventPayload::SupplierTermsSet(set) => {
            out.push(Statement::new(SET_SUPPLIER_TERMS, vec![SqlValue::text(set.supplier_id), json_text(&set.terms)]));
        }
        _ => {}
    }
}
