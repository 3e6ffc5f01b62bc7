//! What books configured, readable as configured: each book's rate table (`rm_rates`: the rate,
//! fixed, first-order and tiered price of each product and scope, public, a child reseller's or
//! a customer's, with its validity) and
//! every version of every posting rule (`rm_posting_rules`).

use chrono::NaiveDate;
use ledger_core::ids::{OrgId, ProductId};
use ledger_core::pricing::RateScope;
use ledger_core::{EventPayload, RecordedEvent};

use super::{json_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "catalog",
    tables: &["rm_rates", "rm_posting_rules"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

const UPSERT_RATE: &str =
    "INSERT INTO rm_rates (book, product_id, scope, scope_org, kind, rate, rule, valid_from, valid_to, set_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (book, product_id, scope, scope_org, kind) DO UPDATE SET rate = excluded.rate,
         rule = excluded.rule, valid_from = excluded.valid_from, valid_to = excluded.valid_to,
         set_at = excluded.set_at, position = excluded.position";
const INSERT_RULE: &str = "INSERT INTO rm_posting_rules (kind, role, version, lines, adopted_at, position)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, role, version) DO NOTHING";

/// A scope as its kind and org (`public` has none: the empty text).
pub fn scope_parts(scope: RateScope) -> (&'static str, String) {
    match scope {
        RateScope::Public => ("public", String::new()),
        RateScope::Reseller(org) => ("reseller", org.to_string()),
        RateScope::Customer(org) => ("customer", org.to_string()),
    }
}

/// One row of a book's rate table: a rate (`kind` `rate`) or a price rule (its kind).
struct RateRow {
    book: OrgId,
    product_id: ProductId,
    scope: RateScope,
    kind: &'static str,
}

impl RateRow {
    /// Its upsert: `rate` for a rate, `rule` (JSON) for a price, the other NULL.
    fn upsert(
        self,
        rate: SqlValue,
        rule: SqlValue,
        (valid_from, valid_to): (Option<NaiveDate>, Option<NaiveDate>),
        event: &RecordedEvent,
    ) -> Statement {
        let (scope, scope_org) = scope_parts(self.scope);
        let params = vec![
            SqlValue::text(self.book),
            SqlValue::text(self.product_id),
            SqlValue::text(scope),
            SqlValue::Text(scope_org),
            SqlValue::text(self.kind),
            rate,
            rule,
            valid_from.map_or(SqlValue::Null, SqlValue::date),
            valid_to.map_or(SqlValue::Null, SqlValue::date),
            SqlValue::timestamp(event.recorded_at),
            SqlValue::position(event.position),
        ];
        Statement::new(UPSERT_RATE, params)
    }
}

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    match &event.event.payload {
        EventPayload::RateSet(set) => {
            let row = RateRow { book: set.book, product_id: set.product_id, scope: set.scope, kind: "rate" };
            out.push(row.upsert(SqlValue::text(set.rate), SqlValue::Null, (set.valid_from, set.valid_to), event));
        }
        EventPayload::PriceSet(set) => {
            let kind = set.rule.kind().as_str();
            let row = RateRow { book: set.book, product_id: set.product_id, scope: set.scope, kind };
            out.push(row.upsert(SqlValue::Null, json_text(&set.rule), (set.valid_from, set.valid_to), event));
        }
        EventPayload::PostingRulesSet(set) => {
            for rule in &set.rules {
                let params = vec![
                    SqlValue::text(&rule.kind),
                    SqlValue::text(&rule.role),
                    SqlValue::Integer(i64::from(rule.version)),
                    json_text(&rule.lines),
                    SqlValue::timestamp(event.recorded_at),
                    SqlValue::position(event.position),
                ];
                out.push(Statement::new(INSERT_RULE, params));
            }
        }
        _ => {}
    }
}
