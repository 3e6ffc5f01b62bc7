//! Credit, the book's terms, settlement cycles and auto-renewals (issue 12): each customer's
//! credit limit and arrears with the day the earliest part falls due (`rm_credit`), each book's
//! terms (`rm_book_terms`), its settlement cycles (`rm_settlement_cycles`) and the
//! subscriptions it renews by itself (`rm_auto_renewals`). Mirrors `decide::terms`' folds.

use ledger_core::{EventPayload, RecordedEvent};

use super::{no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "terms",
    tables: &["rm_credit", "rm_book_terms", "rm_settlement_cycles", "rm_auto_renewals"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

const SET_LIMIT: &str =
    "INSERT INTO rm_credit (customer_id, book, credit_limit, arrears, due_on, overdue_noticed, position)
     VALUES ($1, $2, $3, 0, NULL, NULL, $4)
     ON CONFLICT (customer_id) DO UPDATE SET credit_limit = excluded.credit_limit, position = excluded.position";
/// A draw adds to the arrears; the earliest due date stays the earliest.
const DRAW: &str = "INSERT INTO rm_credit (customer_id, book, credit_limit, arrears, due_on, overdue_noticed, position)
     VALUES ($1, $2, 0, $3, $4, NULL, $5)
     ON CONFLICT (customer_id) DO UPDATE SET arrears = rm_credit.arrears + excluded.arrears,
         due_on = CASE WHEN rm_credit.due_on IS NULL OR excluded.due_on < rm_credit.due_on
                       THEN excluded.due_on ELSE rm_credit.due_on END,
         position = excluded.position";
const REPAY: &str = "UPDATE rm_credit SET arrears = arrears - $2, due_on = $3, position = $4 WHERE customer_id = $1";
const OVERDUE: &str = "UPDATE rm_credit SET overdue_noticed = $2, position = $3 WHERE customer_id = $1";
const SET_TERMS: &str = "INSERT INTO rm_book_terms (book, order_payment_timeout_minutes, arrears_due_days,
         renewal_lead_days, set_by, set_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (book) DO UPDATE SET order_payment_timeout_minutes = excluded.order_payment_timeout_minutes,
         arrears_due_days = excluded.arrears_due_days, renewal_lead_days = excluded.renewal_lead_days,
         set_by = excluded.set_by, set_at = excluded.set_at, position = excluded.position";
const SET_CYCLE: &str = "INSERT INTO rm_settlement_cycles (book, counterparty_id, every, day, set_by, set_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (book, counterparty_id) DO UPDATE SET every = excluded.every, day = excluded.day,
         set_by = excluded.set_by, set_at = excluded.set_at, position = excluded.position";
const REMOVE_CYCLE: &str = "DELETE FROM rm_settlement_cycles WHERE book = $1 AND counterparty_id = $2";
const SET_RENEWAL: &str =
    "INSERT INTO rm_auto_renewals (order_id, customer_id, seller_id, periods, failed_for, failed_reason, position)
     VALUES ($1, $2, $3, $4, NULL, NULL, $5)
     ON CONFLICT (order_id) DO UPDATE SET periods = excluded.periods, position = excluded.position";
const REMOVE_RENEWAL: &str = "DELETE FROM rm_auto_renewals WHERE order_id = $1";
const RENEWAL_FAILED: &str = "UPDATE rm_auto_renewals SET failed_for = $2, failed_reason = $3 WHERE order_id = $1";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    let position = SqlValue::position(event.position);
    let (by, at) = (SqlValue::text(event.actor.principal_id), SqlValue::timestamp(event.recorded_at));
    match &event.event.payload {
        EventPayload::CreditLimitSet(set) => {
            let params =
                vec![SqlValue::text(set.customer_id), SqlValue::text(set.book), SqlValue::amount(set.limit), position];
            out.push(Statement::new(SET_LIMIT, params));
        }
        EventPayload::CreditDrawn(drawn) => {
            let params = vec![
                SqlValue::text(drawn.customer_id),
                SqlValue::text(drawn.book),
                SqlValue::amount(drawn.amount),
                SqlValue::date(drawn.due_on),
                position,
            ];
            out.push(Statement::new(DRAW, params));
        }
        EventPayload::ArrearsRepaid(repaid) => {
            let due_on = repaid.arrears_due_on.map_or(SqlValue::Null, SqlValue::date);
            let params = vec![SqlValue::text(repaid.customer_id), SqlValue::amount(repaid.amount), due_on, position];
            out.push(Statement::new(REPAY, params));
        }
        EventPayload::ArrearsOverdue(overdue) => {
            let params = vec![SqlValue::text(overdue.customer_id), SqlValue::date(overdue.due_on), position];
            out.push(Statement::new(OVERDUE, params));
        }
        EventPayload::BookTermsSet(terms) => {
            let params = vec![
                SqlValue::text(terms.book),
                SqlValue::Integer(i64::from(terms.order_payment_timeout_minutes)),
                SqlValue::Integer(i64::from(terms.arrears_due_days)),
                SqlValue::Integer(i64::from(terms.renewal_lead_days)),
                by,
                at,
                position,
            ];
            out.push(Statement::new(SET_TERMS, params));
        }
        EventPayload::SettlementCycleSet(set) => match set.cycle {
            Some(cycle) => {
                let params = vec![
                    SqlValue::text(set.book),
                    SqlValue::text(set.counterparty_id),
                    SqlValue::text(cycle.every.as_str()),
                    SqlValue::Integer(i64::from(cycle.day)),
                    by,
                    at,
                    position,
                ];
                out.push(Statement::new(SET_CYCLE, params));
            }
            None => {
                let params = vec![SqlValue::text(set.book), SqlValue::text(set.counterparty_id)];
                out.push(Statement::new(REMOVE_CYCLE, params));
            }
        },
        EventPayload::AutoRenewalSet(set) => match set.periods {
            Some(periods) => {
                let params = vec![
                    SqlValue::text(set.order_id),
                    SqlValue::text(set.customer_id),
                    SqlValue::text(set.seller_id),
                    SqlValue::Integer(i64::from(periods)),
                    position,
                ];
                out.push(Statement::new(SET_RENEWAL, params));
            }
            None => out.push(Statement::new(REMOVE_RENEWAL, vec![SqlValue::text(set.order_id)])),
        },
        EventPayload::AutoRenewalFailed(failed) => {
            let params = vec![
                SqlValue::text(failed.order_id),
                SqlValue::date(failed.subscription_end),
                SqlValue::text(&failed.reason),
            ];
            out.push(Statement::new(RENEWAL_FAILED, params));
        }
        // An order refunded in full has nothing left to renew (as `State::auto_renewals`).
        EventPayload::OrderRefunded(refunded) if refunded.fully_refunded => {
            out.push(Statement::new(REMOVE_RENEWAL, vec![SqlValue::text(refunded.order_id)]));
        }
        _ => {}
    }
}
