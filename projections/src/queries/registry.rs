//! The registries' queries (`projection::registry`): promotions and invite codes of a book,
//! serial-code batches and codes, invoices; one by its id, or a page in the order they were
//! created, keyset on positions.

use ledger_core::ids::{InvoiceId, OrgId, PromotionId, SerialBatchId};

use super::{decode_cursor, enum_from_text, oldest_first_cursor, oldest_first_page, optional_position, Parameters};
use crate::sql::{Row, SqlValue};
use crate::views::*;
use crate::{ReadError, ReadModels};

const PROMOTION_COLUMNS: &str =
    "promotion_id, book, name, rates, valid_from, valid_to, created_at, position, stacking, reach";
const INVITE_CODE_COLUMNS: &str = "i.code, i.book, i.promotion_id, p.name, i.salesperson, i.uses, i.last_used_at,
     i.last_used_position, i.last_order_id, i.created_at, i.position
     FROM rm_invite_codes i LEFT JOIN rm_promotions p ON p.promotion_id = i.promotion_id";
const BATCH_COLUMNS: &str = "b.batch_id, b.issuer_id, b.distributor_id, o.name, b.tier, b.days, b.code_count,
     b.activated, b.unit_price, b.total, b.issued_at, b.position, b.expires_on, b.expired
     FROM rm_serial_batches b LEFT JOIN rm_orgs o ON o.org_id = b.distributor_id";
const CODE_COLUMNS: &str = "c.code, c.batch_id, c.issuer_id, c.distributor_id, d.name, c.days, c.amount, c.status,
     c.issued_position, c.idx, c.customer_id, k.name, c.activated_at, c.activated_position, c.expires_on,
     c.expired_position
     FROM rm_serial_codes c LEFT JOIN rm_orgs d ON d.org_id = c.distributor_id
     LEFT JOIN rm_orgs k ON k.org_id = c.customer_id";
const INVOICE_COLUMNS: &str = "v.invoice_id, v.customer_id, o.name, v.book, v.amount, v.status, v.approval_id,
     v.requested_at, v.requested_position, v.issued_position, v.invoice_type, v.details, v.tax_rate, v.tax_amount,
     v.red_lettered, v.red_letters, v.delivered_position, v.voided_position, v.void_reason
     FROM rm_invoices v LEFT JOIN rm_orgs o ON o.org_id = v.customer_id";

const PROMOTION_CURSOR_PREFIX: &str = "pr1.";
const INVITE_CODE_CURSOR_PREFIX: &str = "ic1.";
const SERIAL_CODE_CURSOR_PREFIX: &str = "sc1.";
const INVOICE_CURSOR_PREFIX: &str = "iv1.";

impl ReadModels {
    /// A page of a book's promotions, in the order they were created.
    pub async fn promotions(
        &self,
        book: OrgId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<PromotionView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let sql = format!(
            "SELECT {PROMOTION_COLUMNS} FROM rm_promotions WHERE book = $1 AND position > $2 ORDER BY position LIMIT $3"
        );
        let params = vec![
            SqlValue::text(book),
            SqlValue::Integer(oldest_first_cursor(cursor, PROMOTION_CURSOR_PREFIX)?),
            SqlValue::Integer(limit as i64 + 1),
        ];
        let rows = self.rows_dynamic(sql, params).await?;
        let items = rows.iter().map(promotion_view).collect::<Result<Vec<_>, _>>()?;
        Ok(oldest_first_page(items, limit, |promotion| format!("{PROMOTION_CURSOR_PREFIX}{}", promotion.position)))
    }

    pub async fn promotion(&self, id: PromotionId) -> Result<Option<PromotionView>, ReadError> {
        let sql = format!("SELECT {PROMOTION_COLUMNS} FROM rm_promotions WHERE promotion_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        rows.first().map(promotion_view).transpose()
    }

    /// A page of a book's invite codes, in the order they were created.
    pub async fn invite_codes(
        &self,
        book: OrgId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<InviteCodeView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let sql =
            format!("SELECT {INVITE_CODE_COLUMNS} WHERE i.book = $1 AND i.position > $2 ORDER BY i.position LIMIT $3");
        let params = vec![
            SqlValue::text(book),
            SqlValue::Integer(oldest_first_cursor(cursor, INVITE_CODE_CURSOR_PREFIX)?),
            SqlValue::Integer(limit as i64 + 1),
        ];
        let rows = self.rows_dynamic(sql, params).await?;
        let items = rows.iter().map(invite_code_view).collect::<Result<Vec<_>, _>>()?;
        Ok(oldest_first_page(items, limit, |code| format!("{INVITE_CODE_CURSOR_PREFIX}{}", code.position)))
    }

    /// An invite code of a book.
    pub async fn invite_code(&self, book: OrgId, code: &str) -> Result<Option<InviteCodeView>, ReadError> {
        let sql = format!("SELECT {INVITE_CODE_COLUMNS} WHERE i.book = $1 AND i.code = $2");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(book), SqlValue::text(code)]).await?;
        rows.first().map(invite_code_view).transpose()
    }

    pub async fn serial_batch(&self, id: SerialBatchId) -> Result<Option<SerialBatchView>, ReadError> {
        let sql = format!("SELECT {BATCH_COLUMNS} WHERE b.batch_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        rows.first().map(batch_view).transpose()
    }

    pub async fn serial_code(&self, code: &str) -> Result<Option<SerialCodeView>, ReadError> {
        let sql = format!("SELECT {CODE_COLUMNS} WHERE c.code = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(code)]).await?;
        rows.first().map(code_view).transpose()
    }

    /// A page of serial codes in the order they were issued (by batch, then within it).
    pub async fn serial_codes(&self, query: &SerialCodeQuery) -> Result<Page<SerialCodeView>, ReadError> {
        let limit = query.limit.clamp(1, PAGE_MAX);
        let mut parameters = Parameters::default();
        let mut filter = Vec::new();
        match query.scope {
            SerialScope::All => {}
            SerialScope::Org(org) => {
                let org = parameters.bind(SqlValue::text(org));
                filter.push(format!("(c.issuer_id = {org} OR c.distributor_id = {org})"));
            }
            SerialScope::Customer(customer) => {
                filter.push(format!("c.customer_id = {}", parameters.bind(SqlValue::text(customer))));
            }
        }
        if let Some(distributor) = query.distributor_id {
            filter.push(format!("c.distributor_id = {}", parameters.bind(SqlValue::text(distributor))));
        }
        if let Some(batch) = query.batch_id {
            filter.push(format!("c.batch_id = {}", parameters.bind(SqlValue::text(batch))));
        }
        if let Some(status) = &query.status {
            filter.push(format!("c.status = {}", parameters.bind(SqlValue::text(status))));
        }
        let [position, index] = match &query.cursor {
            Some(cursor) => decode_cursor::<2>(cursor, SERIAL_CODE_CURSOR_PREFIX)?,
            None => [0, -1],
        };
        let (position, index) =
            (parameters.bind(SqlValue::Integer(position)), parameters.bind(SqlValue::Integer(index)));
        filter.push(format!("(c.issued_position, c.idx) > ({position}, {index})"));
        let limit_parameter = parameters.bind(SqlValue::Integer(limit as i64 + 1));
        let sql = format!(
            "SELECT {CODE_COLUMNS} WHERE {} ORDER BY c.issued_position, c.idx LIMIT {limit_parameter}",
            filter.join(" AND ")
        );
        let rows = self.rows_dynamic(sql, parameters.0).await?;
        let items = rows.iter().map(code_view).collect::<Result<Vec<_>, _>>()?;
        Ok(oldest_first_page(items, limit, |code| {
            format!("{SERIAL_CODE_CURSOR_PREFIX}{}.{}", code.issued_position, code.index)
        }))
    }

    pub async fn invoice(&self, id: InvoiceId) -> Result<Option<InvoiceView>, ReadError> {
        let sql = format!("SELECT {INVOICE_COLUMNS} WHERE v.invoice_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        rows.first().map(invoice_view).transpose()
    }

    /// A page of invoices in the order they were requested.
    pub async fn invoices(&self, query: &InvoiceQuery) -> Result<Page<InvoiceView>, ReadError> {
        let limit = query.limit.clamp(1, PAGE_MAX);
        let mut parameters = Parameters::default();
        let mut filter = Vec::new();
        if let Some(book) = query.book {
            filter.push(format!("v.book = {}", parameters.bind(SqlValue::text(book))));
        }
        if let Some(customer) = query.customer_id {
            filter.push(format!("v.customer_id = {}", parameters.bind(SqlValue::text(customer))));
        }
        if let Some(status) = &query.status {
            filter.push(format!("v.status = {}", parameters.bind(SqlValue::text(status))));
        }
        let after = oldest_first_cursor(query.cursor.as_deref(), INVOICE_CURSOR_PREFIX)?;
        filter.push(format!("v.requested_position > {}", parameters.bind(SqlValue::Integer(after))));
        let limit_parameter = parameters.bind(SqlValue::Integer(limit as i64 + 1));
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} WHERE {} ORDER BY v.requested_position LIMIT {limit_parameter}",
            filter.join(" AND ")
        );
        let rows = self.rows_dynamic(sql, parameters.0).await?;
        let items = rows.iter().map(invoice_view).collect::<Result<Vec<_>, _>>()?;
        Ok(oldest_first_page(items, limit, |invoice| format!("{INVOICE_CURSOR_PREFIX}{}", invoice.requested_position)))
    }
}

fn small(row: &Row, index: usize) -> Result<u32, ReadError> {
    u32::try_from(row.integer(index)?).map_err(|error| ReadError::Corrupt(format!("column {index}: {error}")))
}

fn optional_timestamp(row: &Row, index: usize) -> Result<Option<chrono::DateTime<chrono::Utc>>, ReadError> {
    row.optional_text(index)?.map(|_| row.timestamp(index)).transpose()
}

fn promotion_view(row: &Row) -> Result<PromotionView, ReadError> {
    Ok(PromotionView {
        id: row.parse(0)?,
        book: row.parse(1)?,
        name: row.text(2)?.to_owned(),
        rates: row.json(3)?,
        valid_from: row.date(4)?,
        valid_to: row.date(5)?,
        created_at: row.timestamp(6)?,
        position: row.position(7)?,
        stacking: row.text(8)?.to_owned(),
        reach: row.text(9)?.to_owned(),
    })
}

fn invite_code_view(row: &Row) -> Result<InviteCodeView, ReadError> {
    Ok(InviteCodeView {
        code: row.text(0)?.to_owned(),
        book: row.parse(1)?,
        promotion_id: row.parse_optional(2)?,
        promotion_name: row.optional_text(3)?.map(str::to_owned),
        salesperson: row.optional_text(4)?.map(str::to_owned),
        uses: row.position(5)?,
        last_used_at: optional_timestamp(row, 6)?,
        last_used_position: optional_position(row, 7)?,
        last_order_id: row.parse_optional(8)?,
        created_at: row.timestamp(9)?,
        position: row.position(10)?,
    })
}

fn batch_view(row: &Row) -> Result<SerialBatchView, ReadError> {
    Ok(SerialBatchView {
        id: row.parse(0)?,
        issuer_id: row.parse(1)?,
        distributor_id: row.parse(2)?,
        distributor_name: row.optional_text(3)?.map(str::to_owned),
        tier: enum_from_text(row.text(4)?)?,
        days: small(row, 5)?,
        count: row.position(6)?,
        activated: row.position(7)?,
        unit_price: row.amount(8)?,
        total: row.amount(9)?,
        issued_at: row.timestamp(10)?,
        position: row.position(11)?,
        expires_on: row.parse_optional(12)?,
        expired: row.position(13)?,
    })
}

fn code_view(row: &Row) -> Result<SerialCodeView, ReadError> {
    Ok(SerialCodeView {
        code: row.text(0)?.to_owned(),
        batch_id: row.parse(1)?,
        issuer_id: row.parse(2)?,
        distributor_id: row.parse(3)?,
        distributor_name: row.optional_text(4)?.map(str::to_owned),
        days: small(row, 5)?,
        amount: row.amount(6)?,
        status: row.text(7)?.to_owned(),
        issued_position: row.position(8)?,
        index: row.position(9)?,
        customer_id: row.parse_optional(10)?,
        customer_name: row.optional_text(11)?.map(str::to_owned),
        activated_at: optional_timestamp(row, 12)?,
        activated_position: optional_position(row, 13)?,
        expires_on: row.parse_optional(14)?,
        expired_position: optional_position(row, 15)?,
    })
}

fn invoice_view(row: &Row) -> Result<InvoiceView, ReadError> {
    Ok(InvoiceView {
        id: row.parse(0)?,
        customer_id: row.parse(1)?,
        customer_name: row.optional_text(2)?.map(str::to_owned),
        book: row.parse(3)?,
        amount: row.amount(4)?,
        status: row.text(5)?.to_owned(),
        approval_id: row.parse_optional(6)?,
        requested_at: row.timestamp(7)?,
        requested_position: row.position(8)?,
        issued_position: optional_position(row, 9)?,
        invoice_type: row.optional_text(10)?.map(str::to_owned),
        details: row
            .optional_text(11)?
            .map(|text| serde_json::from_str(text))
            .transpose()
            .map_err(|error| ReadError::Corrupt(format!("invoice details: {error}")))?,
        tax_rate: row.optional_text(12)?.map(str::to_owned),
        tax_amount: row.optional_integer(13)?.map(|_| row.amount(13)).transpose()?,
        red_lettered: row.amount(14)?,
        red_letters: row.json(15)?,
        delivered_position: optional_position(row, 16)?,
        voided_position: optional_position(row, 17)?,
        void_reason: row.optional_text(18)?.map(str::to_owned),
    })
}
