//! The audit tools' queries (`projection::audit`): a book's closes and reopens a page at a time
//! (oldest first, keyset on positions), a recorded reconciliation by its id, a customer's
//! low-balance threshold.

use ledger_core::chart::AccountCode;
use ledger_core::ids::{OrgId, ReconciliationId};
use ledger_core::money::Amount;

use super::decode_cursor;
use crate::sql::{Row, SqlValue};
use crate::views::*;
use crate::{ReadError, ReadModels};

const PERIOD_EVENTS: &str = "SELECT book, position, kind, through FROM rm_period_events
     WHERE book = $1 AND position > $2 ORDER BY position LIMIT $3";
const RECONCILIATION: &str =
    "SELECT reconciliation_id, book, account, position FROM rm_reconciliations WHERE reconciliation_id = $1";
const THRESHOLD: &str = "SELECT threshold FROM rm_low_balance_thresholds WHERE customer_id = $1";

const PERIOD_CURSOR_PREFIX: &str = "pe1.";

impl ReadModels {
    /// A page of a book's closes and reopens, in the order they happened.
    pub async fn period_events(
        &self,
        book: OrgId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<PeriodEventView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let after = match cursor {
            Some(cursor) => decode_cursor::<1>(cursor, PERIOD_CURSOR_PREFIX)?[0],
            None => 0,
        };
        let params = vec![SqlValue::text(book), SqlValue::Integer(after), SqlValue::Integer(limit as i64 + 1)];
        let rows = self.rows(PERIOD_EVENTS, params).await?;
        let mut items = rows.iter().map(period_event).collect::<Result<Vec<_>, _>>()?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor =
            if more { items.last().map(|item| format!("{PERIOD_CURSOR_PREFIX}{}", item.position)) } else { None };
        Ok(Page { items, next_cursor })
    }

    /// Where a recorded reconciliation is: its book, account and the position of its event.
    pub async fn reconciliation(&self, id: ReconciliationId) -> Result<Option<ReconciliationView>, ReadError> {
        let rows = self.rows(RECONCILIATION, vec![SqlValue::text(id)]).await?;
        rows.first()
            .map(|row| {
                Ok(ReconciliationView {
                    id: row.parse(0)?,
                    book: row.parse(1)?,
                    account: AccountCode::parse(row.text(2)?).map_err(ReadError::Corrupt)?,
                    position: row.position(3)?,
                })
            })
            .transpose()
    }

    /// A customer's low-balance threshold, if it has one.
    pub async fn low_balance_threshold(&self, customer: OrgId) -> Result<Option<Amount>, ReadError> {
        let rows = self.rows(THRESHOLD, vec![SqlValue::text(customer)]).await?;
        rows.first().map(|row| row.amount(0)).transpose()
    }
}

fn period_event(row: &Row) -> Result<PeriodEventView, ReadError> {
    Ok(PeriodEventView {
        book: row.parse(0)?,
        position: row.position(1)?,
        kind: row.text(2)?.to_owned(),
        through: row.parse(3)?,
    })
}
