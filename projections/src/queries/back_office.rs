//! The back office's queries: the registries of customers, resellers and suppliers (filters,
//! keyset pages on the position that opened each org), one org's record, a book's rate table,
//! the posting rules with their versions, and a customer's statement (对账单) over a period.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use ledger_core::chart::codes;
use ledger_core::event::{OrgProfile, SupplierTerms};
use ledger_core::ids::{OrgId, PrincipalId, ProductId, UserId};
use ledger_core::money::{Currency, ExchangeRate, Rate, SignedAmount};
use ledger_core::org::{OrgKind, SaleMode};
use ledger_core::rules::RuleLine;
use serde::Serialize;

use super::{enum_from_text, like_escaped, oldest_first_cursor, oldest_first_page, parsed, Parameters, ORG_OWNER};
use crate::projection::orgs::{ACTIVE, CLOSED};
use crate::sql::{signed_from_minor, Row, SqlValue};
use crate::views::{OrgView, Page, PAGE_MAX};
use crate::{ReadError, ReadModels};

const REGISTRY_CURSOR_PREFIX: &str = "rg1.";
const RATE_CURSOR_PREFIX: &str = "rt1.";
const EXCHANGE_RATE_CURSOR_PREFIX: &str = "xr1.";

/// The columns of an org's record (`o` has the owner resolved), then its wallet's two parts.
const RECORD_COLUMNS: &str = "o.org_id, o.kind, o.name, o.parent_id, o.currency, o.owner, o.position, o.status,
     o.profile, o.opened_at, o.closed_at, o.supplier_terms, o.sale_mode, o.scheduled_sale_modes,
     CAST((SELECT COALESCE(SUM(b.credit - b.debit), 0) FROM rm_balances b
        WHERE b.book = o.parent_id AND b.account = $1 AND b.party = o.org_id) AS BIGINT),
     CAST((SELECT COALESCE(SUM(b.credit - b.debit), 0) FROM rm_balances b
        WHERE b.book = o.parent_id AND b.account = $2 AND b.party = o.org_id) AS BIGINT)";

/// An org's status in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    Active,
    Closed,
}

impl OrgStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgStatus::Active => ACTIVE,
            OrgStatus::Closed => CLOSED,
        }
    }
}

/// An org as the back office keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct OrgRecordView {
    pub org: OrgView,
    pub position: u64,
    pub status: OrgStatus,
    pub profile: OrgProfile,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub supplier_terms: Option<SupplierTerms>,
    pub sale_mode: SaleMode,
    pub scheduled_sale_modes: BTreeMap<NaiveDate, SaleMode>,
    /// A customer's wallet in its seller's book: cash (2203) and vouchers (2203.01).
    pub cash: SignedAmount,
    pub voucher: SignedAmount,
}

/// One change of a customer's ownership: its opening, a salesperson named, a transfer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OwnershipView {
    pub position: u64,
    /// `opened`, `owner_set` or `transferred`.
    pub kind: String,
    /// The seller after the change.
    pub seller_id: OrgId,
    /// A transfer's seller before.
    pub from_seller_id: Option<OrgId>,
    /// The salesperson named (none: nobody, or unchanged at opening).
    pub owner_id: Option<UserId>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The token that made the change.
    pub actor: PrincipalId,
}

/// Ownership rows one answer holds at most (a customer changes hands rarely).
pub const OWNERSHIP_ROWS_MAX: i64 = 1_000;

/// A registry list's filters (each optional) and page.
#[derive(Clone, Debug, Default)]
pub struct RegistryQuery {
    pub kind: Option<OrgKind>,
    /// The org whose parties are listed (none: every org, for the platform's `super_admin`).
    pub parent_id: Option<OrgId>,
    /// A part of the name, contact person, phone, email, company or tax id (any case).
    pub q: Option<String>,
    pub tag: Option<String>,
    pub status: Option<OrgStatus>,
    /// Customers owned by this user.
    pub owner_id: Option<UserId>,
    /// Data scope: customers this user owns only (staff without `customers.all`).
    pub scope_owner: Option<UserId>,
    pub opened_from: Option<NaiveDate>,
    pub opened_to: Option<NaiveDate>,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// One exchange rate a book set: a unit of `currency` in the book's currency from a date on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExchangeRateView {
    pub book: OrgId,
    pub currency: Currency,
    pub effective_from: NaiveDate,
    pub rate: ExchangeRate,
    pub source: String,
    pub set_at: DateTime<Utc>,
    pub position: u64,
}

/// A rate of a book's rate table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateView {
    pub book: OrgId,
    pub product_id: ProductId,
    /// `public`, `reseller` or `customer`.
    pub scope: String,
    /// The reseller or customer of the scope.
    pub scope_org: Option<OrgId>,
    /// `rate`, `fixed`, `first_order` or `tiered`.
    pub kind: String,
    /// The rate, for a rate.
    pub rate: Option<Rate>,
    /// The price rule, for the other kinds.
    pub rule: Option<ledger_core::pricing::PriceRule>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub set_at: DateTime<Utc>,
    pub position: u64,
}

/// One version of a posting rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PostingRuleView {
    pub kind: String,
    pub role: String,
    pub version: u32,
    pub lines: Vec<RuleLine>,
    pub adopted_at: DateTime<Utc>,
    pub position: u64,
}

/// One event's movement of a customer's wallet.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementItemView {
    pub date: NaiveDate,
    pub position: u64,
    pub event_type: String,
    pub order_id: Option<String>,
    pub reference: Option<String>,
    pub cash: SignedAmount,
    pub voucher: SignedAmount,
    /// Cash and vouchers after it.
    pub balance: SignedAmount,
}

/// A customer's statement over a period: the opening and closing wallet, cash and vouchers
/// apart, and every movement between, in date then log order.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerStatementView {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub currency: Currency,
    pub opening_cash: SignedAmount,
    pub opening_voucher: SignedAmount,
    pub closing_cash: SignedAmount,
    pub closing_voucher: SignedAmount,
    pub items: Vec<StatementItemView>,
}

/// Movements one statement may hold (a longer period is asked for in parts).
pub const STATEMENT_ITEMS_MAX: usize = 10_000;

impl ReadModels {
    /// A page of a registry (customers, resellers or suppliers), in the order they were opened.
    pub async fn registry(&self, query: &RegistryQuery) -> Result<Page<OrgRecordView>, ReadError> {
        let limit = query.limit.clamp(1, PAGE_MAX);
        let mut parameters = Parameters::default();
        parameters.bind(SqlValue::text(codes::CUSTOMER_PREPAYMENTS));
        parameters.bind(SqlValue::text(codes::CUSTOMER_VOUCHERS));
        let mut filter = Vec::new();
        if let Some(kind) = query.kind {
            filter.push(format!("o.kind = {}", parameters.bind(SqlValue::text(kind.as_str()))));
        }
        if let Some(parent) = query.parent_id {
            filter.push(format!("o.parent_id = {}", parameters.bind(SqlValue::text(parent))));
        }
        if let Some(owner) = query.owner_id {
            filter.push(format!("o.owner = {}", parameters.bind(SqlValue::text(owner))));
        }
        if let Some(owner) = query.scope_owner {
            filter.push(format!("(o.kind <> 'customer' OR o.owner = {})", parameters.bind(SqlValue::text(owner))));
        }
        if let Some(text) = &query.q {
            let pattern = format!("%{}%", like_escaped(&text.to_lowercase()));
            filter.push(format!("o.search LIKE {} ESCAPE '\\'", parameters.bind(SqlValue::Text(pattern))));
        }
        if let Some(tag) = &query.tag {
            let pattern = format!("%|{}|%", like_escaped(tag));
            filter.push(format!("o.tags LIKE {} ESCAPE '\\'", parameters.bind(SqlValue::Text(pattern))));
        }
        if let Some(status) = query.status {
            filter.push(format!("o.status = {}", parameters.bind(SqlValue::text(status.as_str()))));
        }
        // Opened on or after the day `from` begins, before the day after `to`, in UTC: the
        // timestamps are RFC 3339 texts, which sort as times do.
        if let Some(from) = query.opened_from {
            filter.push(format!("o.opened_at >= {}", parameters.bind(SqlValue::Text(from.to_string()))));
        }
        if let Some(to) = query.opened_to {
            let next = to.succ_opt().ok_or_else(|| ReadError::InvalidQuery("opened_to is too late".into()))?;
            filter.push(format!("o.opened_at < {}", parameters.bind(SqlValue::Text(next.to_string()))));
        }
        let after = oldest_first_cursor(query.cursor.as_deref(), REGISTRY_CURSOR_PREFIX)?;
        filter.push(format!("o.position > {}", parameters.bind(SqlValue::Integer(after))));
        let limit_parameter = parameters.bind(SqlValue::Integer(limit as i64 + 1));
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM (SELECT rm_orgs.*, {ORG_OWNER} AS owner FROM rm_orgs) o
             WHERE {} ORDER BY o.position LIMIT {limit_parameter}",
            filter.join(" AND ")
        );
        let rows = self.rows_dynamic(sql, parameters.0).await?;
        let items = rows.iter().map(org_record).collect::<Result<Vec<_>, _>>()?;
        Ok(oldest_first_page(items, limit, |org| format!("{REGISTRY_CURSOR_PREFIX}{}", org.position)))
    }

    /// One org's record.
    pub async fn org_record(&self, id: OrgId) -> Result<Option<OrgRecordView>, ReadError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM (SELECT rm_orgs.*, {ORG_OWNER} AS owner FROM rm_orgs) o WHERE o.org_id = $3"
        );
        let params = vec![
            SqlValue::text(codes::CUSTOMER_PREPAYMENTS),
            SqlValue::text(codes::CUSTOMER_VOUCHERS),
            SqlValue::text(id),
        ];
        let rows = self.rows_dynamic(sql, params).await?;
        rows.first().map(org_record).transpose()
    }

    /// A customer's ownership history, oldest first (at most [`OWNERSHIP_ROWS_MAX`] rows).
    pub async fn customer_ownership(&self, customer: OrgId) -> Result<Vec<OwnershipView>, ReadError> {
        let sql = "SELECT position, kind, seller_id, from_seller_id, owner_id, reason, at, actor
             FROM rm_customer_ownership WHERE customer_id = $1 ORDER BY position LIMIT $2";
        let rows = self.rows(sql, vec![SqlValue::text(customer), SqlValue::Integer(OWNERSHIP_ROWS_MAX)]).await?;
        rows.iter()
            .map(|row| {
                Ok(OwnershipView {
                    position: row.position(0)?,
                    kind: row.text(1)?.to_owned(),
                    seller_id: row.parse(2)?,
                    from_seller_id: row.parse_optional(3)?,
                    owner_id: row.parse_optional(4)?,
                    reason: row.optional_text(5)?.map(str::to_owned),
                    at: row.timestamp(6)?,
                    actor: row.parse(7)?,
                })
            })
            .collect()
    }

    /// A page of a book's rate table, in the order the rates were last set; optionally one
    /// product's, or one scope's (`public`, `reseller`, `customer`).
    pub async fn rates(
        &self,
        book: OrgId,
        product_id: Option<ProductId>,
        scope: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<RateView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let mut parameters = Parameters::default();
        let mut filter = vec![format!("book = {}", parameters.bind(SqlValue::text(book)))];
        if let Some(product) = product_id {
            filter.push(format!("product_id = {}", parameters.bind(SqlValue::text(product))));
        }
        if let Some(scope) = scope {
            filter.push(format!("scope = {}", parameters.bind(SqlValue::text(scope))));
        }
        let after = oldest_first_cursor(cursor, RATE_CURSOR_PREFIX)?;
        filter.push(format!("position > {}", parameters.bind(SqlValue::Integer(after))));
        let limit_parameter = parameters.bind(SqlValue::Integer(limit as i64 + 1));
        // A `SetRate` or `SetPrice` sets one row: positions are unique within a book's table.
        let sql = format!(
            "SELECT book, product_id, scope, scope_org, rate, valid_from, valid_to, set_at, position, kind, rule
             FROM rm_rates
             WHERE {} ORDER BY position LIMIT {limit_parameter}",
            filter.join(" AND ")
        );
        let rows = self.rows_dynamic(sql, parameters.0).await?;
        let items = rows
            .iter()
            .map(|row| {
                let scope_org = row.text(3)?;
                Ok(RateView {
                    book: row.parse(0)?,
                    product_id: row.parse(1)?,
                    scope: row.text(2)?.to_owned(),
                    scope_org: if scope_org.is_empty() { None } else { Some(parsed(scope_org, str::parse)?) },
                    kind: row.text(9)?.to_owned(),
                    rate: row.optional_text(4)?.map(|text| parsed(text, Rate::parse)).transpose()?,
                    rule: row
                        .optional_text(10)?
                        .map(|text| parsed(text, |text| serde_json::from_str(text).map_err(|error| error.to_string())))
                        .transpose()?,
                    valid_from: row.optional_text(5)?.map(|text| parsed(text, str::parse)).transpose()?,
                    valid_to: row.optional_text(6)?.map(|text| parsed(text, str::parse)).transpose()?,
                    set_at: row.timestamp(7)?,
                    position: row.position(8)?,
                })
            })
            .collect::<Result<Vec<_>, ReadError>>()?;
        Ok(oldest_first_page(items, limit, |rate| format!("{RATE_CURSOR_PREFIX}{}", rate.position)))
    }

    /// A page of a book's exchange rates, in the order they were set (a rate set again for the
    /// same currency and date replaces the earlier one); optionally one currency's, or those
    /// taking effect `from ..= to`.
    pub async fn exchange_rates(
        &self,
        book: OrgId,
        currency: Option<Currency>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<ExchangeRateView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let mut parameters = Parameters::default();
        let mut filter = vec![format!("book = {}", parameters.bind(SqlValue::text(book)))];
        if let Some(currency) = currency {
            filter.push(format!("currency = {}", parameters.bind(SqlValue::text(currency))));
        }
        if let Some(from) = from {
            filter.push(format!("effective_from >= {}", parameters.bind(SqlValue::date(from))));
        }
        if let Some(to) = to {
            filter.push(format!("effective_from <= {}", parameters.bind(SqlValue::date(to))));
        }
        let after = oldest_first_cursor(cursor, EXCHANGE_RATE_CURSOR_PREFIX)?;
        filter.push(format!("position > {}", parameters.bind(SqlValue::Integer(after))));
        let limit_parameter = parameters.bind(SqlValue::Integer(limit as i64 + 1));
        let sql = format!(
            "SELECT book, currency, effective_from, rate, source, set_at, position FROM rm_exchange_rates
             WHERE {} ORDER BY position LIMIT {limit_parameter}",
            filter.join(" AND ")
        );
        let rows = self.rows_dynamic(sql, parameters.0).await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(ExchangeRateView {
                    book: row.parse(0)?,
                    currency: parsed(row.text(1)?, Currency::parse)?,
                    effective_from: parsed(row.text(2)?, str::parse)?,
                    rate: parsed(row.text(3)?, ExchangeRate::parse)?,
                    source: row.text(4)?.to_owned(),
                    set_at: row.timestamp(5)?,
                    position: row.position(6)?,
                })
            })
            .collect::<Result<Vec<_>, ReadError>>()?;
        Ok(oldest_first_page(items, limit, |rate| format!("{EXCHANGE_RATE_CURSOR_PREFIX}{}", rate.position)))
    }

    /// Every version of the posting rules (of one kind), by kind, role and version.
    pub async fn posting_rules(&self, kind: Option<&str>) -> Result<Vec<PostingRuleView>, ReadError> {
        let sql = "SELECT kind, role, version, lines, adopted_at, position FROM rm_posting_rules
             WHERE CAST($1 AS TEXT) IS NULL OR kind = $1 ORDER BY kind, role, version";
        let rows = self.rows(sql, vec![SqlValue::optional_text(kind)]).await?;
        rows.iter()
            .map(|row| {
                Ok(PostingRuleView {
                    kind: row.text(0)?.to_owned(),
                    role: row.text(1)?.to_owned(),
                    version: u32::try_from(row.integer(2)?).map_err(|_| ReadError::Corrupt("a rule version".into()))?,
                    lines: row.json(3)?,
                    adopted_at: row.timestamp(4)?,
                    position: row.position(5)?,
                })
            })
            .collect()
    }

    /// A customer's statement for `from ..= to` (entry dates) in its seller's book: `None` when
    /// the org is not a customer. More than `STATEMENT_ITEMS_MAX` movements is an invalid query.
    pub async fn customer_statement(
        &self,
        customer_id: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<CustomerStatementView>, ReadError> {
        if from > to {
            return Err(ReadError::InvalidQuery(format!("from {from} is after to {to}")));
        }
        let Some(customer) = self.org(customer_id).await? else { return Ok(None) };
        let (OrgKind::Customer, Some(book)) = (customer.kind, customer.parent_id) else { return Ok(None) };
        // Every book the customer's wallet has been kept in: its seller's, and those it was
        // transferred from (a transfer leaves nothing open behind, so the sums add up), so a
        // period's statement stays the same after a transfer of ownership.
        let mut books = vec![book];
        for change in self.customer_ownership(customer_id).await? {
            for seller in [Some(change.seller_id), change.from_seller_id].into_iter().flatten() {
                if !books.contains(&seller) {
                    books.push(seller);
                }
            }
        }
        let mut parameters = Parameters::default();
        let in_books = books.iter().map(|book| parameters.bind(SqlValue::text(book))).collect::<Vec<_>>().join(", ");
        let party = parameters.bind(SqlValue::text(customer_id));
        let from_parameter = parameters.bind(SqlValue::date(from));
        let cash_account = parameters.bind(SqlValue::text(codes::CUSTOMER_PREPAYMENTS));
        let voucher_account = parameters.bind(SqlValue::text(codes::CUSTOMER_VOUCHERS));
        let filter = |alias: &str| {
            format!(
                "{alias}book IN ({in_books}) AND {alias}party = {party} \
                 AND {alias}account IN ({cash_account}, {voucher_account})"
            )
        };
        let opening = self
            .rows_dynamic(
                format!(
                    "SELECT account, CAST(COALESCE(SUM(credit - debit), 0) AS BIGINT) FROM rm_journal
                     WHERE {} AND entry_date < {from_parameter} GROUP BY account",
                    filter("")
                ),
                parameters.0.clone(),
            )
            .await?;
        let (mut cash, mut voucher) = (SignedAmount::ZERO, SignedAmount::ZERO);
        for row in &opening {
            let sum = signed_from_minor(row.integer(1)?);
            if row.text(0)? == codes::CUSTOMER_PREPAYMENTS {
                cash = sum;
            } else {
                voucher = sum;
            }
        }
        let (opening_cash, opening_voucher) = (cash, voucher);
        let to_parameter = parameters.bind(SqlValue::date(to));
        let limit = parameters.bind(SqlValue::Integer(STATEMENT_ITEMS_MAX as i64 + 1));
        let rows = self
            .rows_dynamic(
                format!(
                    "SELECT j.entry_date, j.position, j.event_type, j.account, j.credit - j.debit, e.order_id, e.reference
                     FROM rm_journal j LEFT JOIN rm_journal_events e ON e.book = j.book AND e.position = j.position
                     WHERE {} AND j.entry_date >= {from_parameter} AND j.entry_date <= {to_parameter}
                     ORDER BY j.entry_date, j.position, j.entry_idx, j.line_idx LIMIT {limit}",
                    filter("j.")
                ),
                parameters.0,
            )
            .await?;
        let mut items: Vec<StatementItemView> = Vec::new();
        for row in &rows {
            let (date, position) = (row.date(0)?, row.position(1)?);
            let delta = signed_from_minor(row.integer(4)?);
            let is_cash = row.text(3)? == codes::CUSTOMER_PREPAYMENTS;
            if is_cash {
                cash = cash.plus(delta);
            } else {
                voucher = voucher.plus(delta);
            }
            let same_event = items.last().is_some_and(|last| last.position == position && last.date == date);
            if !same_event {
                if items.len() == STATEMENT_ITEMS_MAX {
                    return Err(ReadError::InvalidQuery(format!(
                        "the period has more than {STATEMENT_ITEMS_MAX} movements: ask for a shorter one"
                    )));
                }
                items.push(StatementItemView {
                    date,
                    position,
                    event_type: row.text(2)?.to_owned(),
                    order_id: row.optional_text(5)?.map(str::to_owned),
                    reference: row.optional_text(6)?.map(str::to_owned),
                    cash: SignedAmount::ZERO,
                    voucher: SignedAmount::ZERO,
                    balance: SignedAmount::ZERO,
                });
            }
            let item = items.last_mut().expect("pushed above");
            if is_cash {
                item.cash = item.cash.plus(delta);
            } else {
                item.voucher = item.voucher.plus(delta);
            }
            item.balance = cash.plus(voucher);
        }
        Ok(Some(CustomerStatementView {
            customer_id,
            book,
            currency: customer.currency,
            opening_cash,
            opening_voucher,
            closing_cash: cash,
            closing_voucher: voucher,
            items,
        }))
    }
}

fn org_record(row: &Row) -> Result<OrgRecordView, ReadError> {
    let org = OrgView {
        id: row.parse(0)?,
        kind: enum_from_text(row.text(1)?)?,
        name: row.text(2)?.to_owned(),
        parent_id: row.parse_optional(3)?,
        currency: parsed(row.text(4)?, Currency::parse)?,
        owner_id: row.parse_optional(5)?,
    };
    let json_or_default = |index: usize| -> Result<Option<&str>, ReadError> { row.optional_text(index) };
    let profile = match json_or_default(8)? {
        Some(text) => serde_json::from_str(text).map_err(|error| ReadError::Corrupt(format!("a profile: {error}")))?,
        None => OrgProfile::default(),
    };
    let supplier_terms = json_or_default(11)?
        .map(|text| serde_json::from_str(text).map_err(|error| ReadError::Corrupt(format!("supplier terms: {error}"))))
        .transpose()?;
    let scheduled_sale_modes = match json_or_default(13)? {
        Some(text) => serde_json::from_str(text).map_err(|error| ReadError::Corrupt(format!("sale modes: {error}")))?,
        None => BTreeMap::new(),
    };
    let optional_time = |index: usize| -> Result<Option<DateTime<Utc>>, ReadError> {
        row.optional_text(index)?
            .map(|text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(|error| ReadError::Corrupt(format!("{text:?}: {error}")))
            })
            .transpose()
    };
    Ok(OrgRecordView {
        org,
        position: row.position(6)?,
        status: if row.text(7)? == CLOSED { OrgStatus::Closed } else { OrgStatus::Active },
        profile,
        opened_at: optional_time(9)?,
        closed_at: optional_time(10)?,
        supplier_terms,
        sale_mode: serde_json::from_str(row.text(12)?)
            .map_err(|error| ReadError::Corrupt(format!("a sale mode: {error}")))?,
        scheduled_sale_modes,
        cash: signed_from_minor(row.integer(14)?),
        voucher: signed_from_minor(row.integer(15)?),
    })
}
