//! What a book has configured and issued, each readable by its id and in lists: promotions
//! (`rm_promotions`), invite codes with their uses (`rm_invite_codes`: every order placed with a
//! code counts, whatever became of the order, and the last one is kept), serial-code batches and
//! their codes (`rm_serial_batches`, `rm_serial_codes`: issued, activated (by which customer and
//! when) or expired, with the batch's expiry), and invoices (`rm_invoices`: requested through an approval, then issued or rejected).

use ledger_core::event::Proposal;
use ledger_core::{EventPayload, RecordedEvent};

use super::{enum_text, json_text, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "registry",
    tables: &["rm_promotions", "rm_invite_codes", "rm_serial_batches", "rm_serial_codes", "rm_invoices"],
    reads: &[],
    fold: Fold::Events { context, statements },
};

/// A serial code's statuses.
pub const ISSUED: &str = "issued";
pub const ACTIVATED: &str = "activated";
pub const EXPIRED: &str = "expired";
/// An invoice's statuses.
pub const INVOICE_REQUESTED: &str = "requested";
pub const INVOICE_ISSUED: &str = "issued";
pub const INVOICE_REJECTED: &str = "rejected";
pub const INVOICE_DELIVERED: &str = "delivered";
pub const INVOICE_VOID: &str = "void";

const INSERT_PROMOTION: &str =
    "INSERT INTO rm_promotions (promotion_id, book, name, rates, valid_from, valid_to, created_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (promotion_id) DO NOTHING";
const SET_PROMOTION_TERMS: &str = "UPDATE rm_promotions SET stacking = $2, reach = $3 WHERE promotion_id = $1";
const INSERT_INVITE_CODE: &str =
    "INSERT INTO rm_invite_codes (book, code, promotion_id, salesperson, uses, created_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (book, code) DO NOTHING";
const USE_INVITE_CODE: &str = "UPDATE rm_invite_codes SET uses = uses + 1, last_used_at = $3, last_used_position = $4,
         last_order_id = $5
     WHERE book = $1 AND code = $2";
const INSERT_BATCH: &str = "INSERT INTO rm_serial_batches (batch_id, issuer_id, distributor_id, tier, days, code_count,
         activated, unit_price, total, issued_at, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (batch_id) DO NOTHING";
const INSERT_CODE: &str = "INSERT INTO rm_serial_codes (code, batch_id, idx, issuer_id, distributor_id, days, amount,
         status, issued_position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (code) DO NOTHING";
const ACTIVATE_CODE: &str =
    "UPDATE rm_serial_codes SET status = $2, customer_id = $3, activated_at = $4, activated_position = $5
     WHERE code = $1";
const COUNT_ACTIVATION: &str = "UPDATE rm_serial_batches SET activated = activated + 1 WHERE batch_id = $1";
const SET_BATCH_EXPIRY: &str = "UPDATE rm_serial_batches SET expires_on = $2 WHERE batch_id = $1";
const SET_CODES_EXPIRY: &str = "UPDATE rm_serial_codes SET expires_on = $2 WHERE batch_id = $1 AND status = $3";
const EXPIRE_CODES: &str =
    "UPDATE rm_serial_codes SET status = $2, expired_position = $3 WHERE batch_id = $1 AND status = $4";
const COUNT_EXPIRED: &str = "UPDATE rm_serial_batches SET expired = expired + $2 WHERE batch_id = $1";
const REQUEST_INVOICE: &str = "INSERT INTO rm_invoices (invoice_id, customer_id, book, amount, status, approval_id,
         requested_at, requested_position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (invoice_id) DO UPDATE SET approval_id = excluded.approval_id";
/// A request with its details (a special one's approval, in the same command, names it after).
const REQUEST_DETAILED_INVOICE: &str = "INSERT INTO rm_invoices (invoice_id, customer_id, book, amount, status,
         requested_at, requested_position, invoice_type, details, tax_rate, tax_amount)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (invoice_id) DO NOTHING";
const DELIVER_INVOICE: &str = "UPDATE rm_invoices SET status = $2, delivered_position = $3 WHERE invoice_id = $1";
const VOID_INVOICE: &str =
    "UPDATE rm_invoices SET status = $2, voided_position = $3, void_reason = $4 WHERE invoice_id = $1";
const RED_LETTERS: &str = "SELECT red_letters FROM rm_invoices WHERE invoice_id = $1";
const RED_LETTER_INVOICE: &str =
    "UPDATE rm_invoices SET red_lettered = red_lettered + $2, red_letters = $3 WHERE invoice_id = $1";
/// An issued invoice: its request's row, or a row of its own for one issued without a request.
const ISSUE_INVOICE: &str = "INSERT INTO rm_invoices (invoice_id, customer_id, book, amount, status, requested_at,
         requested_position, issued_position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
     ON CONFLICT (invoice_id) DO UPDATE SET status = excluded.status, issued_position = excluded.issued_position";
const REJECT_INVOICE: &str = "UPDATE rm_invoices SET status = $2 WHERE approval_id = $1 AND status = $3";

fn context(event: &RecordedEvent) -> Option<Statement> {
    match &event.event.payload {
        EventPayload::InvoiceRedLettered(red) => {
            Some(Statement::new(RED_LETTERS, vec![SqlValue::text(red.invoice_id)]))
        }
        _ => None,
    }
}

/// One red-letter invoice as the invoice's row lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RedLetter {
    pub id: String,
    pub amount: String,
    pub tax_amount: String,
    pub reason: String,
    pub position: u64,
}

/// What a detailed request prints, beyond the columns it has.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InvoiceDetailsRow {
    pub title: String,
    pub tax_id: Option<String>,
    pub address: Option<String>,
    pub bank_account: Option<String>,
    pub order_ids: Vec<String>,
}

fn statements(event: &RecordedEvent, rows: &[Row], out: &mut Vec<Statement>) {
    use EventPayload as E;
    let position = SqlValue::position(event.position);
    let at = SqlValue::timestamp(event.recorded_at);
    match &event.event.payload {
        E::PromotionCreated(created) => {
            let params = vec![
                SqlValue::text(created.promotion_id),
                SqlValue::text(created.book),
                SqlValue::text(&created.name),
                json_text(&created.rates),
                SqlValue::date(created.valid_from),
                SqlValue::date(created.valid_to),
                at,
                position,
            ];
            out.push(Statement::new(INSERT_PROMOTION, params));
        }
        E::PromotionTermsSet(terms) => {
            let params = vec![
                SqlValue::text(terms.promotion_id),
                SqlValue::text(terms.stacking.as_str()),
                SqlValue::text(terms.reach.as_str()),
            ];
            out.push(Statement::new(SET_PROMOTION_TERMS, params));
        }
        E::InviteCodeCreated(created) => {
            let params = vec![
                SqlValue::text(created.book),
                SqlValue::text(&created.code),
                SqlValue::optional_text(created.promotion_id),
                SqlValue::optional_text(created.salesperson.as_ref()),
                SqlValue::Integer(0),
                at,
                position,
            ];
            out.push(Statement::new(INSERT_INVITE_CODE, params));
        }
        E::OrderPlaced(placed) => {
            // An invite code leads to its own book's prices: the order's seller is its book.
            let Some(code) = &placed.invite_code else { return };
            let params = vec![
                SqlValue::text(placed.seller_id),
                SqlValue::text(code),
                at,
                position,
                SqlValue::text(placed.order_id),
            ];
            out.push(Statement::new(USE_INVITE_CODE, params));
        }
        E::SerialCodesIssued(issued) => {
            let params = vec![
                SqlValue::text(issued.batch_id),
                SqlValue::text(issued.issuer_id),
                SqlValue::text(issued.distributor_id),
                SqlValue::text(enum_text(&issued.tier)),
                SqlValue::Integer(i64::from(issued.days)),
                SqlValue::Integer(issued.codes.len() as i64),
                SqlValue::Integer(0),
                SqlValue::amount(issued.unit_price),
                SqlValue::amount(issued.total),
                at,
                position.clone(),
            ];
            out.push(Statement::new(INSERT_BATCH, params));
            for (index, code) in issued.codes.iter().enumerate() {
                let params = vec![
                    SqlValue::text(code),
                    SqlValue::text(issued.batch_id),
                    SqlValue::Integer(index as i64),
                    SqlValue::text(issued.issuer_id),
                    SqlValue::text(issued.distributor_id),
                    SqlValue::Integer(i64::from(issued.days)),
                    SqlValue::amount(issued.unit_price),
                    SqlValue::text(ISSUED),
                    position.clone(),
                ];
                out.push(Statement::new(INSERT_CODE, params));
            }
        }
        E::SerialCodeActivated(activated) => {
            let params = vec![
                SqlValue::text(&activated.code),
                SqlValue::text(ACTIVATED),
                SqlValue::text(activated.customer_id),
                at,
                position,
            ];
            out.push(Statement::new(ACTIVATE_CODE, params));
            out.push(Statement::new(COUNT_ACTIVATION, vec![SqlValue::text(activated.batch_id)]));
        }
        E::SerialExpirySet(set) => {
            let day = SqlValue::optional_text(set.expires_on);
            out.push(Statement::new(SET_BATCH_EXPIRY, vec![SqlValue::text(set.batch_id), day.clone()]));
            let params = vec![SqlValue::text(set.batch_id), day, SqlValue::text(ISSUED)];
            out.push(Statement::new(SET_CODES_EXPIRY, params));
        }
        E::SerialCodesExpired(expired) => {
            let params =
                vec![SqlValue::text(expired.batch_id), SqlValue::text(EXPIRED), position, SqlValue::text(ISSUED)];
            out.push(Statement::new(EXPIRE_CODES, params));
            let count = SqlValue::Integer(expired.codes.len() as i64);
            out.push(Statement::new(COUNT_EXPIRED, vec![SqlValue::text(expired.batch_id), count]));
        }
        E::ApprovalRequested(requested) => {
            let Proposal::IssueInvoice { invoice_id, customer_id, amount } = &requested.proposal else { return };
            let params = vec![
                SqlValue::text(invoice_id),
                SqlValue::text(customer_id),
                SqlValue::text(requested.book),
                SqlValue::amount(*amount),
                SqlValue::text(INVOICE_REQUESTED),
                SqlValue::text(requested.approval_id),
                at,
                position,
            ];
            out.push(Statement::new(REQUEST_INVOICE, params));
        }
        E::InvoiceIssued(issued) => {
            let params = vec![
                SqlValue::text(issued.invoice_id),
                SqlValue::text(issued.customer_id),
                SqlValue::text(issued.book),
                SqlValue::amount(issued.amount),
                SqlValue::text(INVOICE_ISSUED),
                at,
                position,
            ];
            out.push(Statement::new(ISSUE_INVOICE, params));
        }
        E::InvoiceRequested(requested) => {
            let details = InvoiceDetailsRow {
                title: requested.title.clone(),
                tax_id: requested.tax_id.clone(),
                address: requested.address.clone(),
                bank_account: requested.bank_account.clone(),
                order_ids: requested.order_ids.iter().map(|id| id.to_string()).collect(),
            };
            let params = vec![
                SqlValue::text(requested.invoice_id),
                SqlValue::text(requested.customer_id),
                SqlValue::text(requested.book),
                SqlValue::amount(requested.amount),
                SqlValue::text(INVOICE_REQUESTED),
                at,
                position,
                SqlValue::text(requested.invoice_type.as_str()),
                json_text(&details),
                SqlValue::text(requested.tax_rate),
                SqlValue::amount(requested.tax_amount),
            ];
            out.push(Statement::new(REQUEST_DETAILED_INVOICE, params));
        }
        E::InvoiceDelivered(delivered) => {
            let params = vec![SqlValue::text(delivered.invoice_id), SqlValue::text(INVOICE_DELIVERED), position];
            out.push(Statement::new(DELIVER_INVOICE, params));
        }
        E::InvoiceVoided(voided) => {
            let params = vec![
                SqlValue::text(voided.invoice_id),
                SqlValue::text(INVOICE_VOID),
                position,
                SqlValue::text(&voided.reason),
            ];
            out.push(Statement::new(VOID_INVOICE, params));
        }
        E::InvoiceRedLettered(red) => {
            let known = rows.first().and_then(|row| row.optional_text(0).ok().flatten());
            let mut letters: Vec<RedLetter> =
                known.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
            letters.push(RedLetter {
                id: red.red_invoice_id.to_string(),
                amount: red.amount.to_string(),
                tax_amount: red.tax_amount.to_string(),
                reason: red.reason.clone(),
                position: event.position,
            });
            let params = vec![SqlValue::text(red.invoice_id), SqlValue::amount(red.amount), json_text(&letters)];
            out.push(Statement::new(RED_LETTER_INVOICE, params));
        }
        E::ApprovalRejected(decided) => {
            let params = vec![
                SqlValue::text(decided.approval_id),
                SqlValue::text(INVOICE_REJECTED),
                SqlValue::text(INVOICE_REQUESTED),
            ];
            out.push(Statement::new(REJECT_INVOICE, params));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::multi_row;

    /// A batch's codes are inserts that ignore conflicts, so a chunk writes them in few statements
    /// (runs of a power of two rows in one).
    #[test]
    fn a_batch_of_codes_folds_into_one_statement() {
        let statements: Vec<Statement> = (0..4)
            .map(|index| {
                let params = (0..9).map(|column| SqlValue::Integer(index * 10 + column)).collect();
                Statement::new(INSERT_CODE, params)
            })
            .collect();
        assert_eq!(multi_row(statements).len(), 1);
    }
}
