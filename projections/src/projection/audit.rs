//! What issue 14's audit tools read: each book's closes and reopens (`rm_period_events`, whose
//! certificates are signed again from their events when listed), each recorded reconciliation
//! by its id (`rm_reconciliations`: where its event is; its rows, lines and groups are read from
//! it), each customer's low-balance threshold (`rm_low_balance_thresholds`).

use ledger_core::{EventPayload, RecordedEvent};

use super::{no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "audit",
    tables: &["rm_period_events", "rm_reconciliations", "rm_low_balance_thresholds"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

pub const CLOSE: &str = "close";
pub const REOPEN: &str = "reopen";

const INSERT_PERIOD_EVENT: &str = "INSERT INTO rm_period_events (book, position, kind, through) VALUES ($1, $2, $3, $4)
     ON CONFLICT (book, position) DO NOTHING";
const INSERT_RECONCILIATION: &str = "INSERT INTO rm_reconciliations (reconciliation_id, book, account, position)
     VALUES ($1, $2, $3, $4) ON CONFLICT (reconciliation_id) DO NOTHING";
const SET_THRESHOLD: &str = "INSERT INTO rm_low_balance_thresholds (customer_id, book, threshold, position)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (customer_id) DO UPDATE SET book = excluded.book, threshold = excluded.threshold,
         position = excluded.position";
const CLEAR_THRESHOLD: &str = "DELETE FROM rm_low_balance_thresholds WHERE customer_id = $1";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    let position = SqlValue::position(event.position);
    let period = |book, kind: &str, through| {
        let params = vec![SqlValue::text(book), position.clone(), SqlValue::text(kind), SqlValue::date(through)];
        Statement::new(INSERT_PERIOD_EVENT, params)
    };
    match &event.event.payload {
        EventPayload::PeriodClosed(closed) => out.push(period(closed.book, CLOSE, closed.through)),
        EventPayload::PeriodReopened(reopened) => out.push(period(reopened.book, REOPEN, reopened.through)),
        EventPayload::ReconciliationRecorded(recorded) => {
            let params = vec![
                SqlValue::text(recorded.reconciliation_id),
                SqlValue::text(recorded.book),
                SqlValue::text(&recorded.account),
                position,
            ];
            out.push(Statement::new(INSERT_RECONCILIATION, params));
        }
        EventPayload::LowBalanceThresholdSet(set) => match set.threshold {
            Some(threshold) => {
                let params = vec![
                    SqlValue::text(set.customer_id),
                    SqlValue::text(set.book),
                    SqlValue::amount(threshold),
                    position,
                ];
                out.push(Statement::new(SET_THRESHOLD, params));
            }
            None => out.push(Statement::new(CLEAR_THRESHOLD, vec![SqlValue::text(set.customer_id)])),
        },
        _ => {}
    }
}
