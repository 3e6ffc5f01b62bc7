//! The queries of credit, the book's terms, settlement cycles and auto-renewals
//! (`projection::terms`), and of what a book owes a supplier (2202) for a supplier bill's
//! reconciliation, read from the journal.

use chrono::{DateTime, NaiveDate, Utc};
use ledger_core::chart::codes;
use ledger_core::event::CycleEvery;
use ledger_core::ids::{OrderId, OrgId, PrincipalId};
use ledger_core::money::{Amount, SignedAmount};
use serde::Serialize;

use super::{decode_cursor, enum_from_text, Parameters};
use crate::sql::{signed_from_minor, Row, SqlValue};
use crate::views::{Page, PAGE_MAX};
use crate::{ReadError, ReadModels};

/// The most payable lines one reconciliation reads (a supplier's bill for one period).
pub const PAYABLE_LINES_MAX: usize = 10_000;

/// A customer's credit limit and arrears (欠费).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreditView {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub limit: Amount,
    pub arrears: Amount,
    /// When the earliest part of the arrears falls due; none when nothing is owed.
    pub due_on: Option<NaiveDate>,
    /// The due date the clock noticed as passed (`ArrearsOverdue`).
    pub overdue_noticed: Option<NaiveDate>,
}

/// The terms a book set (`BookTermsSet`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BookTermsView {
    pub book: OrgId,
    pub order_payment_timeout_minutes: u32,
    pub arrears_due_days: u32,
    pub renewal_lead_days: u32,
    pub set_by: PrincipalId,
    pub set_at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettlementCycleView {
    pub book: OrgId,
    pub counterparty_id: OrgId,
    pub counterparty_name: Option<String>,
    pub every: CycleEvery,
    pub day: u32,
    pub set_by: PrincipalId,
    pub set_at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AutoRenewalView {
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub periods: u32,
    /// The subscription end the clock last could not renew, and why (a refusal's code).
    pub failed_for: Option<NaiveDate>,
    pub failed_reason: Option<String>,
    pub position: u64,
}

/// What one event booked on a book's 2202 with a supplier: credit − debit (positive: owed to
/// the supplier), with the order the event concerns and its reference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PayableView {
    pub position: u64,
    pub date: NaiveDate,
    pub amount: SignedAmount,
    pub order_id: Option<OrderId>,
    pub reference: Option<String>,
}

const CREDIT: &str = "SELECT customer_id, book, credit_limit, arrears, due_on, overdue_noticed FROM rm_credit
     WHERE customer_id = $1";
const BOOK_TERMS: &str = "SELECT book, order_payment_timeout_minutes, arrears_due_days, renewal_lead_days, set_by,
         set_at, position FROM rm_book_terms WHERE book = $1";
const CYCLE_COLUMNS: &str = "c.book, c.counterparty_id, o.name, c.every, c.day, c.set_by, c.set_at, c.position
     FROM rm_settlement_cycles c LEFT JOIN rm_orgs o ON o.org_id = c.counterparty_id";
const AUTO_RENEWAL: &str = "SELECT order_id, customer_id, seller_id, periods, failed_for, failed_reason, position
     FROM rm_auto_renewals WHERE order_id = $1";
/// Lines booked by a settlement of the supplier are its payment, not its charges.
const PAYABLES: &str = "SELECT j.position, MIN(j.entry_date), CAST(SUM(j.credit - j.debit) AS BIGINT),
         MIN(e.order_id), MIN(e.reference)
     FROM rm_journal j LEFT JOIN rm_journal_events e ON e.book = j.book AND e.position = j.position
     WHERE j.book = $1 AND j.account = $2 AND j.party = $3 AND j.entry_date >= $4 AND j.entry_date <= $5
       AND j.rule_id NOT LIKE 'settlement/%'
     GROUP BY j.position ORDER BY j.position LIMIT $6";

const CYCLE_CURSOR_PREFIX: &str = "cy1.";

fn count(row: &Row, index: usize) -> Result<u32, ReadError> {
    u32::try_from(row.integer(index)?).map_err(|_| ReadError::Corrupt(format!("column {index} is not a count")))
}

impl ReadModels {
    /// A customer's credit, if it has had a limit or drawn on credit.
    pub async fn credit(&self, customer_id: OrgId) -> Result<Option<CreditView>, ReadError> {
        let rows = self.rows(CREDIT, vec![SqlValue::text(customer_id)]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        Ok(Some(CreditView {
            customer_id: row.parse(0)?,
            book: row.parse(1)?,
            limit: row.amount(2)?,
            arrears: row.amount(3)?,
            due_on: row.parse_optional(4)?,
            overdue_noticed: row.parse_optional(5)?,
        }))
    }

    /// The terms a book set; none when it follows the defaults.
    pub async fn book_terms(&self, book: OrgId) -> Result<Option<BookTermsView>, ReadError> {
        let rows = self.rows(BOOK_TERMS, vec![SqlValue::text(book)]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        Ok(Some(BookTermsView {
            book: row.parse(0)?,
            order_payment_timeout_minutes: count(row, 1)?,
            arrears_due_days: count(row, 2)?,
            renewal_lead_days: count(row, 3)?,
            set_by: row.parse(4)?,
            set_at: row.timestamp(5)?,
            position: row.position(6)?,
        }))
    }

    /// A page of a book's settlement cycles, in the order they were last set; `every` filters.
    pub async fn settlement_cycles(
        &self,
        book: OrgId,
        every: Option<CycleEvery>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SettlementCycleView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let after = match cursor {
            Some(cursor) => decode_cursor::<1>(cursor, CYCLE_CURSOR_PREFIX)?[0],
            None => 0,
        };
        let mut parameters = Parameters::default();
        let mut filter = vec![format!("c.book = {}", parameters.bind(SqlValue::text(book)))];
        if let Some(every) = every {
            filter.push(format!("c.every = {}", parameters.bind(SqlValue::text(every.as_str()))));
        }
        filter.push(format!("c.position > {}", parameters.bind(SqlValue::Integer(after))));
        let limit_parameter = parameters.bind(SqlValue::Integer(limit as i64 + 1));
        let sql = format!(
            "SELECT {CYCLE_COLUMNS} WHERE {} ORDER BY c.position LIMIT {limit_parameter}",
            filter.join(" AND ")
        );
        let rows = self.rows_dynamic(sql, parameters.0).await?;
        let mut items = rows.iter().map(cycle_view).collect::<Result<Vec<_>, _>>()?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor =
            if more { items.last().map(|cycle| format!("{CYCLE_CURSOR_PREFIX}{}", cycle.position)) } else { None };
        Ok(Page { items, next_cursor })
    }

    /// A subscription's auto-renewal, when it is on.
    pub async fn auto_renewal(&self, order_id: OrderId) -> Result<Option<AutoRenewalView>, ReadError> {
        let rows = self.rows(AUTO_RENEWAL, vec![SqlValue::text(order_id)]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        Ok(Some(AutoRenewalView {
            order_id: row.parse(0)?,
            customer_id: row.parse(1)?,
            seller_id: row.parse(2)?,
            periods: count(row, 3)?,
            failed_for: row.parse_optional(4)?,
            failed_reason: row.optional_text(5)?.map(str::to_owned),
            position: row.position(6)?,
        }))
    }

    /// What `book` booked on its 2202 with `supplier` dated from `from` to `to`, one item per
    /// event (settlements of the supplier left out), in log order; at most
    /// [`PAYABLE_LINES_MAX`] (`InvalidQuery` beyond: a narrower period is needed).
    pub async fn payables(
        &self,
        book: OrgId,
        supplier: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<PayableView>, ReadError> {
        let params = vec![
            SqlValue::text(book),
            SqlValue::text(codes::PAYABLES),
            SqlValue::text(supplier),
            SqlValue::date(from),
            SqlValue::date(to),
            SqlValue::Integer(PAYABLE_LINES_MAX as i64 + 1),
        ];
        let rows = self.rows(PAYABLES, params).await?;
        if rows.len() > PAYABLE_LINES_MAX {
            return Err(ReadError::InvalidQuery(format!(
                "more than {PAYABLE_LINES_MAX} payables in the period: reconcile a shorter one"
            )));
        }
        rows.iter()
            .map(|row| {
                Ok(PayableView {
                    position: row.position(0)?,
                    date: row.date(1)?,
                    amount: signed_from_minor(row.integer(2)?),
                    order_id: row.parse_optional(3)?,
                    reference: row.optional_text(4)?.map(str::to_owned),
                })
            })
            .collect()
    }
}

fn cycle_view(row: &Row) -> Result<SettlementCycleView, ReadError> {
    Ok(SettlementCycleView {
        book: row.parse(0)?,
        counterparty_id: row.parse(1)?,
        counterparty_name: row.optional_text(2)?.map(str::to_owned),
        every: enum_from_text(row.text(3)?)?,
        day: count(row, 4)?,
        set_by: row.parse(5)?,
        set_at: row.timestamp(6)?,
        position: row.position(7)?,
    })
}
