//! The queries of the read models. Each builds one or two portable statements and decodes the
//! rows into views; amounts come back exact from minor units. The registries' (promotions,
//! invite codes, serial codes, invoices) are in `queries/registry.rs`.

mod audit;
mod back_office;
mod registry;
mod terms;

pub use terms::{AutoRenewalView, BookTermsView, CreditView, PayableView, SettlementCycleView, PAYABLE_LINES_MAX};

pub use back_office::{
    CustomerStatementView, OrgRecordView, OrgStatus, OwnershipView, PostingRuleView, RateView, RegistryQuery,
    StatementItemView, STATEMENT_ITEMS_MAX,
};

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use ledger_core::chart::{AccountCode, AccountType, Side};
use ledger_core::event::StatementLine;
use ledger_core::ids::{ApprovalId, OrderId, OrgId, PrincipalId, SettlementId, UserId};
use ledger_core::money::{Amount, Currency, Rate, SignedAmount, Total, UnitPrice};
use ledger_core::org::{OrgKind, Role};
use serde::de::DeserializeOwned;

use crate::projection::balances::{NO_PARTY, RECHARGE, REQUESTED, WITHDRAWAL};
use crate::projection::kpis::{NO_KEY, TOTAL};
use crate::sql::{signed_from_minor, Row, SqlValue, Statement};
use crate::views::*;
use crate::{ReadError, ReadModels};

/// A customer's owner: the one `CustomerOwnerSet` or a transfer named, else (never named) the
/// person who opened it; nobody after a transfer that named nobody (`''`).
macro_rules! org_owner {
    () => {
        "CASE WHEN rm_orgs.owner_id = '' THEN NULL ELSE COALESCE(rm_orgs.owner_id,
             (SELECT t.user_id FROM rm_tokens t WHERE t.principal_id = rm_orgs.opened_by)) END"
    };
}
const ORG_OWNER: &str = org_owner!();
const ORG: &str =
    concat!("SELECT org_id, kind, name, parent_id, currency, ", org_owner!(), " FROM rm_orgs WHERE org_id = $1");
const CHARGE: &str = "SELECT charge_id, kind, order_id, customer_id, seller_id, items, total, period_from, period_to,
         new_end, charged_by, charged_at, position FROM rm_charges WHERE kind = $1 AND charge_id = $2";
const ROLES: &str = "SELECT role, permissions, defined_by, defined_at, position FROM rm_roles WHERE org_id = $1
     ORDER BY role";
/// Every organisation that keeps a book (its chart was opened), in the order they were created.
const BOOKS: &str = "SELECT org_id, kind, name, parent_id, currency, NULL FROM rm_orgs
     WHERE org_id IN (SELECT DISTINCT book FROM rm_accounts) ORDER BY position, org_id";
const TOKEN_COLUMNS: &str = "t.principal_id, t.org_id, t.roles, t.label, t.user_id, u.name, t.expires_at,
     t.issued_at, t.issued_by, t.revoked_at, t.revoked_by, t.revoke_reason, t.deployment_admin, t.position";
const USER_COLUMNS: &str = "user_id, org_id, name, email, phone, roles, created_by, created_at, position";
const DEPLOYMENT_ADMIN_HASH: &str = "SELECT token_hash FROM rm_tokens WHERE deployment_admin = 1 AND revoked_at IS NULL
     ORDER BY position DESC LIMIT 1";
const WALLET_BALANCE: &str =
    "SELECT CAST(COALESCE(SUM(credit - debit), 0) AS BIGINT) FROM rm_balances WHERE account = $1 AND party = $2";
const WALLET_REQUESTS: &str = "SELECT kind, CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM rm_wallet_requests
     WHERE customer_id = $1 AND status = $2 GROUP BY kind";
const TRIAL_BALANCE: &str = "SELECT a.code, a.name, a.account_type,
         CAST(COALESCE(SUM(d.debit), 0) AS BIGINT), CAST(COALESCE(SUM(d.credit), 0) AS BIGINT)
     FROM rm_accounts a LEFT JOIN rm_daily_balances d ON d.book = a.book AND d.account = a.code AND d.day <= $2
     WHERE a.book = $1 GROUP BY a.code, a.name, a.account_type";
const ACCOUNT_TYPE: &str = "SELECT account_type FROM rm_accounts WHERE book = $1 AND code = $2";
const LEDGER_COLUMNS: &str =
    "position, entry_idx, line_idx, entry_date, account, party, debit, credit, event_type, rule_id, rule_version, pair";
const ORDER_COLUMNS: &str = "order_id, customer_id, seller_id, status, total, paid, refunded, items, placed_on, placed_position, invite_code, salesperson";
/// `$8`: the customers one user owns only (data scope), when not null.
const ORDER_FILTER: &str = concat!(
    "(CAST($1 AS TEXT) IS NULL OR seller_id = $1) AND (CAST($2 AS TEXT) IS NULL OR customer_id = $2)
       AND (CAST($3 AS TEXT) IS NULL OR status = $3) AND (CAST($4 AS TEXT) IS NULL OR placed_on >= $4)
       AND (CAST($5 AS TEXT) IS NULL OR placed_on <= $5) AND placed_position < $6
       AND (CAST($8 AS TEXT) IS NULL OR customer_id IN (SELECT org_id FROM rm_orgs WHERE ",
    org_owner!(),
    " = $8))"
);
const ORDER_HISTORY: &str =
    "SELECT order_id, status, at, position FROM rm_order_history WHERE order_id = $1 ORDER BY position";
const SERIAL_KPI: &str = "SELECT SUBSTR(day, 1, 7), package_days, CAST(SUM(codes_issued) AS BIGINT),
         CAST(SUM(codes_activated) AS BIGINT), CAST(SUM(revenue) AS BIGINT)
     FROM rm_serial_daily WHERE book = $1 AND day >= $2 AND day <= $3
     GROUP BY SUBSTR(day, 1, 7), package_days ORDER BY SUBSTR(day, 1, 7), package_days";
/// An approval with the users (persons) behind the tokens that requested and decided it.
const APPROVAL_COLUMNS: &str =
    "approval_id, book, kind, requested_by, proposal, status, created_at, position, decided_by, comment,
     (SELECT t.user_id FROM rm_tokens t WHERE t.principal_id = rm_approvals.requested_by),
     (SELECT t.user_id FROM rm_tokens t WHERE t.principal_id = rm_approvals.decided_by),
     levels, current_level, action";
/// An approval's decisions, level by level, with the person behind each decider's token.
const APPROVAL_DECISIONS: &str = "SELECT level, decision, decided_by,
         (SELECT t.user_id FROM rm_tokens t WHERE t.principal_id = rm_approval_decisions.decided_by),
         comment, decided_at, position
     FROM rm_approval_decisions WHERE approval_id = $1 ORDER BY level";
/// A book's approval policy as it set it, with the person who set it.
const APPROVAL_POLICY: &str = "SELECT rules, set_by,
         (SELECT t.user_id FROM rm_tokens t WHERE t.principal_id = rm_approval_policies.set_by), set_at, position
     FROM rm_approval_policies WHERE book = $1";
const SETTLEMENT_COLUMNS: &str =
    "settlement_id, book, counterparty_id, from_date, to_date, statement_hash, receivable, payable,
         through_position, line_count, status, position, exchange";
/// A page of one statement's lines: the lines numbered after the cursor's.
const SETTLEMENT_LINES: &str = "SELECT line_no, position, entry_date, account, debit, credit FROM rm_settlement_lines
     WHERE settlement_id = $1 AND line_no > $2 ORDER BY line_no LIMIT $3";
const INVOICEABLE: &str = "SELECT amount FROM rm_invoiceable WHERE customer_id = $1";
const ACCOUNT_BALANCES: &str = "SELECT account, party, debit, credit FROM rm_balances WHERE book = $1";
/// Every org a line of the book names as its party, in the order the orgs were opened.
const BOOK_PARTIES: &str = "SELECT org_id, kind, name, parent_id, currency, NULL FROM rm_orgs
     WHERE org_id IN (SELECT DISTINCT party FROM rm_balances WHERE book = $1) ORDER BY position, org_id";
const JOURNAL_EVENTS: &str = "SELECT position, event_hash, order_id, reference FROM rm_journal_events
     WHERE book = $1 AND position >= $2 AND position <= $3 ORDER BY position";
const PRODUCTS: &str =
    "SELECT product_id, name, supplier_id, owner_id, list_price, unit, supplier_rate, on_shelf, hidden_from,
         list_prices, currency FROM rm_products
     WHERE CAST($1 AS TEXT) IS NULL OR owner_id = $1 ORDER BY position";

const MOVEMENT_COLUMNS: &str = "kind, movement_id, customer_id, book, amount, channel, reference, status, approval_id,
         trade_number, requested_at, requested_position, booked_position, reversed_position, reversal_reason";
const ORG_COLUMNS: &str = "org_id, kind, name, parent_id, currency, owner, position";

const LEDGER_CURSOR_PREFIX: &str = "l1.";
const ORG_CURSOR_PREFIX: &str = "g1.";
const APPROVAL_CURSOR_PREFIX: &str = "a1.";
const SETTLEMENT_CURSOR_PREFIX: &str = "s1.";
const ORDER_CURSOR_PREFIX: &str = "o1.";
const STATEMENT_LINES_CURSOR_PREFIX: &str = "sl1.";
const USER_CURSOR_PREFIX: &str = "u1.";
const TOKEN_CURSOR_PREFIX: &str = "t1.";

/// A value stored as its serde name (`"customer"`, `"contra_revenue"`).
fn enum_from_text<T: DeserializeOwned>(text: &str) -> Result<T, ReadError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|error| ReadError::Corrupt(format!("{text:?}: {error}")))
}

fn parsed<T, E: std::fmt::Display>(text: &str, parse: impl Fn(&str) -> Result<T, E>) -> Result<T, ReadError> {
    parse(text).map_err(|error| ReadError::Corrupt(format!("{text:?}: {error}")))
}

fn optional_text(value: Option<impl ToString>) -> SqlValue {
    SqlValue::optional_text(value)
}

fn signed_by_side(net_debit: SignedAmount, side: Side) -> SignedAmount {
    match side {
        Side::Debit => net_debit,
        Side::Credit => net_debit.negated(),
    }
}

fn invalid(message: impl Into<String>) -> ReadError {
    ReadError::InvalidQuery(message.into())
}

fn check_dates(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), ReadError> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(invalid(format!("from {from} is after to {to}"))),
        _ => Ok(()),
    }
}

/// Decodes a cursor this crate issued: a prefix and dot-separated integers.
fn decode_cursor<const N: usize>(cursor: &str, prefix: &str) -> Result<[i64; N], ReadError> {
    let bad = || invalid("the cursor was not issued by this query");
    let numbers: Vec<i64> = cursor
        .strip_prefix(prefix)
        .ok_or_else(bad)?
        .split('.')
        .map(|part| part.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    numbers.try_into().map_err(|_| bad())
}

impl ReadModels {
    async fn rows(&self, sql: &'static str, params: Vec<SqlValue>) -> Result<Vec<Row>, ReadError> {
        self.backend().query(Statement::new(sql, params)).await
    }

    async fn rows_dynamic(&self, sql: String, params: Vec<SqlValue>) -> Result<Vec<Row>, ReadError> {
        self.backend().query(Statement::dynamic(sql, params)).await
    }

    pub async fn org(&self, id: OrgId) -> Result<Option<OrgView>, ReadError> {
        let rows = self.rows(ORG, vec![SqlValue::text(id)]).await?;
        rows.first().map(org_view).transpose()
    }

    /// A usage charge (`kind` `usage`) or a renewal (`renewal`) by its id.
    pub async fn charge(&self, kind: &str, id: &str) -> Result<Option<ChargeView>, ReadError> {
        let rows = self.rows(CHARGE, vec![SqlValue::text(kind), SqlValue::text(id)]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        Ok(Some(ChargeView {
            id: row.text(0)?.to_owned(),
            kind: row.text(1)?.to_owned(),
            order_id: row.parse_optional(2)?,
            customer_id: row.parse(3)?,
            seller_id: row.parse(4)?,
            items: row.json(5)?,
            total: row.amount(6)?,
            period_from: row.parse_optional(7)?,
            period_to: row.parse_optional(8)?,
            new_end: row.parse_optional(9)?,
            charged_by: row.parse(10)?,
            charged_at: row.timestamp(11)?,
            position: row.position(12)?,
        }))
    }

    /// The roles `org` defined, by name.
    pub async fn roles(&self, org: OrgId) -> Result<Vec<RoleView>, ReadError> {
        let rows = self.rows(ROLES, vec![SqlValue::text(org)]).await?;
        rows.iter()
            .map(|row| {
                Ok(RoleView {
                    role: parsed(row.text(0)?, |text| text.parse::<Role>())?,
                    permissions: serde_json::from_str(row.text(1)?)
                        .map_err(|error| ReadError::Corrupt(format!("role permissions: {error}")))?,
                    defined_by: row.parse(2)?,
                    defined_at: row.timestamp(3)?,
                    position: row.position(4)?,
                })
            })
            .collect()
    }

    /// Every organisation that keeps a book, in the order they were created.
    pub async fn books(&self) -> Result<Vec<OrgView>, ReadError> {
        self.rows(BOOKS, Vec::new()).await?.iter().map(org_view).collect()
    }

    /// A token by its id (its principal).
    pub async fn principal(&self, id: PrincipalId) -> Result<Option<PrincipalView>, ReadError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM rm_tokens t LEFT JOIN rm_users u ON u.user_id = t.user_id
             WHERE t.principal_id = $1 ORDER BY t.position LIMIT 1"
        );
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        rows.first().map(principal_view).transpose()
    }

    /// The token whose text hashes to `token_hash`: what authentication reads.
    pub async fn principal_by_token_hash(&self, token_hash: &str) -> Result<Option<PrincipalView>, ReadError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM rm_tokens t LEFT JOIN rm_users u ON u.user_id = t.user_id
             WHERE t.token_hash = $1"
        );
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(token_hash)]).await?;
        rows.first().map(principal_view).transpose()
    }

    /// The hash of the deployment's admin token in force, if the log has one.
    pub async fn deployment_admin_token_hash(&self) -> Result<Option<String>, ReadError> {
        let rows = self.rows(DEPLOYMENT_ADMIN_HASH, Vec::new()).await?;
        rows.first().map(|row| row.text(0).map(str::to_owned)).transpose()
    }

    /// A page of an org's users, in the order they were created.
    pub async fn users(&self, org_id: OrgId, cursor: Option<&str>, limit: usize) -> Result<Page<UserView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let after = match cursor {
            Some(cursor) => decode_cursor::<1>(cursor, USER_CURSOR_PREFIX)?[0],
            None => 0,
        };
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM rm_users WHERE org_id = $1 AND position > $2 ORDER BY position LIMIT $3"
        );
        let params = vec![SqlValue::text(org_id), SqlValue::Integer(after), SqlValue::Integer(limit as i64 + 1)];
        let rows = self.rows_dynamic(sql, params).await?;
        let more = rows.len() > limit;
        let items = rows.iter().take(limit).map(user_view).collect::<Result<Vec<_>, _>>()?;
        let next_cursor =
            more.then(|| items.last().map(|user| format!("{USER_CURSOR_PREFIX}{}", user.position))).flatten();
        Ok(Page { items, next_cursor })
    }

    pub async fn user(&self, id: UserId) -> Result<Option<UserView>, ReadError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM rm_users WHERE user_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        rows.first().map(user_view).transpose()
    }

    /// A page of a user's tokens, in the order they were issued (revoked ones included).
    pub async fn tokens_of_user(
        &self,
        user_id: UserId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<PrincipalView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let after = match cursor {
            Some(cursor) => decode_cursor::<1>(cursor, TOKEN_CURSOR_PREFIX)?[0],
            None => 0,
        };
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM rm_tokens t LEFT JOIN rm_users u ON u.user_id = t.user_id
             WHERE t.user_id = $1 AND t.position > $2 ORDER BY t.position LIMIT $3"
        );
        let params = vec![SqlValue::text(user_id), SqlValue::Integer(after), SqlValue::Integer(limit as i64 + 1)];
        let rows = self.rows_dynamic(sql, params).await?;
        let more = rows.len() > limit;
        let items = rows.iter().take(limit).map(principal_view).collect::<Result<Vec<_>, _>>()?;
        let next_cursor =
            more.then(|| items.last().map(|token| format!("{TOKEN_CURSOR_PREFIX}{}", token.position))).flatten();
        Ok(Page { items, next_cursor })
    }

    /// The customer's wallet in its seller's book; `None` for an id that is not a customer.
    pub async fn wallet(&self, customer_id: OrgId) -> Result<Option<WalletView>, ReadError> {
        let Some(customer) = self.org(customer_id).await? else { return Ok(None) };
        let (OrgKind::Customer, Some(book)) = (customer.kind, customer.parent_id) else { return Ok(None) };
        let customer_text = SqlValue::text(customer_id);
        let mut parts = Vec::with_capacity(2);
        for code in [ledger_core::chart::codes::CUSTOMER_PREPAYMENTS, ledger_core::chart::codes::CUSTOMER_VOUCHERS] {
            let rows = self.rows(WALLET_BALANCE, vec![SqlValue::text(code), customer_text.clone()]).await?;
            parts.push(rows.first().ok_or_else(|| ReadError::Corrupt("no wallet sum".into()))?.amount(0)?);
        }
        let (cash, voucher) = (parts[0], parts[1]);
        // Both parts are within `AMOUNT_MAX`, so their sum is within what an amount holds.
        let balance = cash.try_add(voucher).map_err(|error| ReadError::Corrupt(format!("a wallet: {error}")))?;
        let mut requested = BTreeMap::new();
        for row in self.rows(WALLET_REQUESTS, vec![customer_text, SqlValue::text(REQUESTED)]).await? {
            requested.insert(row.text(0)?.to_owned(), row.amount(1)?);
        }
        let held = requested.get(WITHDRAWAL).copied().unwrap_or(Amount::ZERO);
        Ok(Some(WalletView {
            customer_id,
            book,
            balance,
            cash,
            voucher,
            available: balance.checked_sub(held).unwrap_or(Amount::ZERO),
            pending: requested.get(RECHARGE).copied().unwrap_or(Amount::ZERO),
            currency: customer.currency,
        }))
    }

    /// `None` when `book` is not a book (an unknown org, a customer, a supplier).
    pub async fn trial_balance(&self, book: OrgId, as_of: NaiveDate) -> Result<Option<TrialBalanceView>, ReadError> {
        let Some(org) = self.org(book).await? else { return Ok(None) };
        if !org.kind.keeps_book() {
            return Ok(None);
        }
        let rows = self.rows(TRIAL_BALANCE, vec![SqlValue::text(book), SqlValue::date(as_of)]).await?;
        let mut accounts = rows.iter().map(trial_balance_account).collect::<Result<Vec<_>, _>>()?;
        // Sorted here: text collation differs between the backends (and PostgreSQL locales).
        accounts.sort_by(|a, b| a.code.cmp(&b.code));
        // A column sums to the book's posted total at most, which the writer keeps within TOTAL_MAX.
        let column = |side: fn(&TrialBalanceAccount) -> Total| {
            accounts.iter().try_fold(Total::ZERO, |sum, account| sum.checked_add_total(side(account)))
        };
        let corrupt = |error| ReadError::Corrupt(format!("a trial balance column: {error}"));
        let total_debit = column(|account| account.debit).map_err(corrupt)?;
        let total_credit = column(|account| account.credit).map_err(corrupt)?;
        Ok(Some(TrialBalanceView { book, as_of, currency: org.currency, accounts, total_debit, total_credit }))
    }

    pub async fn ledger(&self, query: &LedgerQuery) -> Result<LedgerPage, ReadError> {
        check_dates(query.from, query.to)?;
        let limit = query.limit.clamp(1, LEDGER_PAGE_MAX);
        let after = match &query.cursor {
            Some(cursor) => decode_cursor::<3>(cursor, LEDGER_CURSOR_PREFIX)?,
            None => [0, -1, -1],
        };
        let normal_side = match &query.account {
            Some(account) => self.normal_side(query.book, account).await?,
            None => Side::Debit,
        };
        let (sql, params) = ledger_page_sql(query, after, limit + 1);
        let rows = self.rows_dynamic(sql, params).await?;
        let mut items = rows.iter().map(|row| ledger_line(row, normal_side)).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = (items.len() > limit).then(|| {
            items.truncate(limit);
            let last = &rows[limit - 1];
            let key = [0, 1, 2].map(|index| last.integer(index).unwrap_or_default());
            format!("{LEDGER_CURSOR_PREFIX}{}.{}.{}", key[0], key[1], key[2])
        });
        Ok(LedgerPage { items, next_cursor })
    }

    /// The normal side of an account in a book (debit when the account is unknown: its lines,
    /// if any, then read as debit − credit).
    async fn normal_side(&self, book: OrgId, account: &AccountCode) -> Result<Side, ReadError> {
        let rows = self.rows(ACCOUNT_TYPE, vec![SqlValue::text(book), SqlValue::text(account)]).await?;
        match rows.first() {
            Some(row) => Ok(enum_from_text::<AccountType>(row.text(0)?)?.normal_side()),
            None => Ok(Side::Debit),
        }
    }

    pub async fn order(&self, id: OrderId) -> Result<Option<OrderView>, ReadError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM rm_orders WHERE order_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let history = self.rows(ORDER_HISTORY, vec![SqlValue::text(id)]).await?;
        Ok(Some(order_view(row, &history)?))
    }

    /// Newest first, by the position the order was placed at.
    pub async fn orders(&self, query: &OrderQuery) -> Result<OrderPage, ReadError> {
        check_dates(query.from, query.to)?;
        let limit = query.limit.clamp(1, ORDER_PAGE_MAX);
        let before = match &query.cursor {
            Some(cursor) => decode_cursor::<1>(cursor, ORDER_CURSOR_PREFIX)?[0],
            None => i64::MAX,
        };
        let params = vec![
            optional_text(query.seller),
            optional_text(query.customer_id),
            optional_text(query.status.as_ref()),
            query.from.map_or(SqlValue::Null, SqlValue::date),
            query.to.map_or(SqlValue::Null, SqlValue::date),
            SqlValue::Integer(before),
            SqlValue::Integer(limit as i64 + 1),
            optional_text(query.customer_owner),
        ];
        let page = format!(
            "SELECT {ORDER_COLUMNS} FROM rm_orders WHERE {ORDER_FILTER} ORDER BY placed_position DESC LIMIT $7"
        );
        let mut rows = self.rows_dynamic(page, params).await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let history = self.page_history(&rows).await?;
        let items = rows
            .iter()
            .map(|row| order_view(row, history.get(row.text(0)?).map_or(&[][..], Vec::as_slice)))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = (more && !items.is_empty()).then(|| {
            let last = rows.last().and_then(|row| row.integer(9).ok()).unwrap_or(0);
            format!("{ORDER_CURSOR_PREFIX}{last}")
        });
        Ok(OrderPage { items, next_cursor })
    }

    /// The status timelines of a page's orders, in one query.
    async fn page_history(&self, page: &[Row]) -> Result<BTreeMap<String, Vec<Row>>, ReadError> {
        let mut history: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        if page.is_empty() {
            return Ok(history);
        }
        let ids = page.iter().map(|row| Ok(SqlValue::text(row.text(0)?))).collect::<Result<Vec<_>, ReadError>>()?;
        let placeholders: Vec<String> = (1..=ids.len()).map(|index| format!("${index}")).collect();
        let sql = format!(
            "SELECT order_id, status, at, position FROM rm_order_history WHERE order_id IN ({}) ORDER BY order_id, position",
            placeholders.join(", ")
        );
        for row in self.rows_dynamic(sql, ids).await? {
            history.entry(row.text(0)?.to_owned()).or_default().push(row);
        }
        Ok(history)
    }

    /// A book's KPIs by period, split by a dimension if asked, each key with its name.
    pub async fn kpi(&self, query: &KpiQuery) -> Result<Vec<KpiRow>, ReadError> {
        check_dates(Some(query.from), Some(query.to))?;
        let dimension = query.by.map_or(TOTAL, KpiDimension::as_str);
        let params = vec![
            SqlValue::text(query.book),
            SqlValue::text(dimension),
            SqlValue::date(query.from),
            SqlValue::date(query.to),
        ];
        let rows = self.rows_dynamic(kpi_sql(query.granularity, query.by), params).await?;
        let mut rows: Vec<KpiRow> = rows.iter().map(|row| kpi_row(row, query.by)).collect::<Result<_, _>>()?;
        // The period before the first: its rows come from the days just before `from` (the day
        // before, or from the first of the month before), so the first period compares too.
        let mut earlier = Vec::new();
        if let Some(before_end) = query.from.pred_opt() {
            let before_start = match query.granularity {
                Granularity::Day => before_end,
                // The first of the month before `from`'s (its rows of `from`'s own month, before
                // `from`, are the main query's period and not read from here).
                Granularity::Month => {
                    let first = query.from.with_day(1).unwrap_or(query.from);
                    first.pred_opt().and_then(|last| last.with_day(1)).unwrap_or(before_end)
                }
            };
            let params = vec![
                SqlValue::text(query.book),
                SqlValue::text(dimension),
                SqlValue::date(before_start),
                SqlValue::date(before_end),
            ];
            for row in self.rows_dynamic(kpi_sql(query.granularity, query.by), params).await? {
                earlier.push(kpi_row(&row, query.by)?);
            }
        }
        let headline: HashMap<(String, Option<String>), KpiPrevious> = earlier
            .iter()
            .chain(rows.iter())
            .map(|row| {
                let figures = KpiPrevious {
                    period: row.period.clone(),
                    revenue: row.revenue,
                    gross_profit: row.gross_profit,
                    net_profit: row.net_profit,
                };
                ((row.period.clone(), row.key.clone()), figures)
            })
            .collect();
        for row in &mut rows {
            let Some(period) = period_before(&row.period, query.granularity) else { continue };
            let zero = KpiPrevious {
                period: period.clone(),
                revenue: SignedAmount::ZERO,
                gross_profit: SignedAmount::ZERO,
                net_profit: SignedAmount::ZERO,
            };
            row.previous = Some(headline.get(&(period, row.key.clone())).cloned().unwrap_or(zero));
        }
        Ok(rows)
    }

    pub async fn serial_kpi(
        &self,
        book: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SerialKpiRow>, ReadError> {
        check_dates(Some(from), Some(to))?;
        let rows = self.rows(SERIAL_KPI, vec![SqlValue::text(book), SqlValue::date(from), SqlValue::date(to)]).await?;
        rows.iter()
            .map(|row| {
                Ok(SerialKpiRow {
                    period: row.text(0)?.to_owned(),
                    days: u32::try_from(row.integer(1)?).map_err(|error| ReadError::Corrupt(error.to_string()))?,
                    codes_issued: row.position(2)?,
                    codes_activated: row.position(3)?,
                    revenue: row.amount(4)?,
                })
            })
            .collect()
    }

    /// A page of a book's approvals, newest first, optionally of one status.
    pub async fn approvals(
        &self,
        book: OrgId,
        status: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<ApprovalView>, ReadError> {
        let limit = limit.clamp(1, PAGE_MAX);
        let before = newest_first_cursor(cursor, APPROVAL_CURSOR_PREFIX)?;
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM rm_approvals WHERE book = $1 AND (CAST($2 AS TEXT) IS NULL OR status = $2)
             AND position < $3 ORDER BY position DESC LIMIT $4"
        );
        let params = vec![
            SqlValue::text(book),
            optional_text(status),
            SqlValue::Integer(before),
            SqlValue::Integer(limit as i64 + 1),
        ];
        let rows = self.rows_dynamic(sql, params).await?;
        let mut items = rows.iter().map(approval_view).collect::<Result<Vec<_>, _>>()?;
        for item in &mut items {
            item.decisions = self.approval_decisions(item.id).await?;
        }
        Ok(newest_first_page(items, limit, APPROVAL_CURSOR_PREFIX, |approval| approval.position))
    }

    pub async fn approval(&self, id: ApprovalId) -> Result<Option<ApprovalView>, ReadError> {
        let sql = format!("SELECT {APPROVAL_COLUMNS} FROM rm_approvals WHERE approval_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        let Some(mut approval) = rows.first().map(approval_view).transpose()? else { return Ok(None) };
        approval.decisions = self.approval_decisions(id).await?;
        Ok(Some(approval))
    }

    /// An approval's decisions, level by level.
    async fn approval_decisions(&self, id: ApprovalId) -> Result<Vec<ApprovalDecisionView>, ReadError> {
        let rows = self.rows(APPROVAL_DECISIONS, vec![SqlValue::text(id)]).await?;
        rows.iter()
            .map(|row| {
                Ok(ApprovalDecisionView {
                    level: row.position(0)?,
                    decision: row.text(1)?.to_owned(),
                    decided_by: row.parse(2)?,
                    decided_by_user: row.parse_optional(3)?,
                    comment: row.optional_text(4)?.map(str::to_owned),
                    decided_at: row.timestamp(5)?,
                    position: row.position(6)?,
                })
            })
            .collect()
    }

    /// The approval policy a book set, if it set one (without one it follows the defaults).
    pub async fn approval_policy(&self, book: OrgId) -> Result<Option<ApprovalPolicyView>, ReadError> {
        let rows = self.rows(APPROVAL_POLICY, vec![SqlValue::text(book)]).await?;
        rows.first()
            .map(|row| {
                Ok(ApprovalPolicyView {
                    rules: row.json(0)?,
                    set_by: row.parse(1)?,
                    set_by_user: row.parse_optional(2)?,
                    set_at: row.timestamp(3)?,
                    position: row.position(4)?,
                })
            })
            .transpose()
    }

    /// A statement, with its first `lines_limit` lines.
    pub async fn settlement(&self, id: SettlementId, lines_limit: usize) -> Result<Option<SettlementView>, ReadError> {
        let sql = format!("SELECT {SETTLEMENT_COLUMNS} FROM rm_settlements WHERE settlement_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(id)]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let lines = self.settlement_lines(id, None, lines_limit).await?;
        settlement_view(row, lines).map(Some)
    }

    /// The statement a book issued to a counterparty for a period, with its first `lines_limit`
    /// lines (a statement is issued once per period: the same request again finds it).
    pub async fn settlement_of_period(
        &self,
        book: OrgId,
        counterparty_id: OrgId,
        (from, to): (NaiveDate, NaiveDate),
        lines_limit: usize,
    ) -> Result<Option<SettlementView>, ReadError> {
        let sql = format!(
            "SELECT {SETTLEMENT_COLUMNS} FROM rm_settlements
             WHERE book = $1 AND counterparty_id = $2 AND from_date = $3 AND to_date = $4 ORDER BY position LIMIT 1"
        );
        let params =
            vec![SqlValue::text(book), SqlValue::text(counterparty_id), SqlValue::date(from), SqlValue::date(to)];
        let rows = self.rows_dynamic(sql, params).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let lines = self.settlement_lines(row.parse(0)?, None, lines_limit).await?;
        settlement_view(row, lines).map(Some)
    }

    /// A page of a book's statements, newest first, each with its first `lines_limit` lines.
    pub async fn settlements(
        &self,
        book: OrgId,
        lines_limit: usize,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<SettlementView>, ReadError> {
        let lines_limit = lines_limit.clamp(1, STATEMENT_LINES_PAGE_MAX);
        let limit = limit.clamp(1, PAGE_MAX);
        let before = newest_first_cursor(cursor, SETTLEMENT_CURSOR_PREFIX)?;
        let sql = format!(
            "SELECT {SETTLEMENT_COLUMNS} FROM rm_settlements WHERE book = $1 AND position < $2
             ORDER BY position DESC LIMIT $3"
        );
        let params = vec![SqlValue::text(book), SqlValue::Integer(before), SqlValue::Integer(limit as i64 + 1)];
        let rows = self.rows_dynamic(sql, params).await?;
        let page = &rows[..rows.len().min(limit)];
        let mut first_lines = self.first_lines(page, lines_limit).await?;
        let mut items = Vec::with_capacity(page.len());
        for row in page {
            let lines = first_lines.remove(row.text(0)?).unwrap_or_default();
            let line_count = row.position(9)?;
            let shown = lines.len() as u64;
            let next_cursor = (shown < line_count).then(|| format!("{STATEMENT_LINES_CURSOR_PREFIX}{shown}"));
            items.push(settlement_view(row, Page { items: lines, next_cursor })?);
        }
        let more = rows.len() > limit;
        let next_cursor = more.then(|| items.last().map(|last| format!("{SETTLEMENT_CURSOR_PREFIX}{}", last.position)));
        Ok(Page { items, next_cursor: next_cursor.flatten() })
    }

    /// The first `lines_limit` lines of each statement of `page` (rows of `SETTLEMENT_COLUMNS`),
    /// in one query, by statement id.
    async fn first_lines(
        &self,
        page: &[Row],
        lines_limit: usize,
    ) -> Result<BTreeMap<String, Vec<StatementLine>>, ReadError> {
        let mut lines: BTreeMap<String, Vec<StatementLine>> = BTreeMap::new();
        if page.is_empty() {
            return Ok(lines);
        }
        let mut parameters = Parameters::default();
        let ids = page
            .iter()
            .map(|row| Ok(parameters.bind(SqlValue::text(row.text(0)?))))
            .collect::<Result<Vec<_>, ReadError>>()?;
        let limit = parameters.bind(SqlValue::Integer(lines_limit as i64));
        let sql = format!(
            "SELECT settlement_id, line_no, position, entry_date, account, debit, credit FROM rm_settlement_lines
             WHERE settlement_id IN ({}) AND line_no <= {limit} ORDER BY settlement_id, line_no",
            ids.join(", ")
        );
        for row in self.rows_dynamic(sql, parameters.0).await? {
            lines.entry(row.text(0)?.to_owned()).or_default().push(statement_line(&row, 2)?);
        }
        Ok(lines)
    }

    /// A page of a statement's lines in the statement's order, after `cursor` (from the first
    /// line without one). An unknown statement has no lines.
    pub async fn settlement_lines(
        &self,
        id: SettlementId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<StatementLinePage, ReadError> {
        let limit = limit.clamp(1, STATEMENT_LINES_PAGE_MAX);
        let after = match cursor {
            Some(cursor) => decode_cursor::<1>(cursor, STATEMENT_LINES_CURSOR_PREFIX)?[0],
            None => 0,
        };
        let params = vec![SqlValue::text(id), SqlValue::Integer(after), SqlValue::Integer(limit as i64 + 1)];
        let rows = self.rows(SETTLEMENT_LINES, params).await?;
        let mut items = rows.iter().map(|row| statement_line(row, 1)).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = (items.len() > limit).then(|| {
            items.truncate(limit);
            let last = rows[limit - 1].integer(0).unwrap_or_default();
            format!("{STATEMENT_LINES_CURSOR_PREFIX}{last}")
        });
        Ok(StatementLinePage { items, next_cursor })
    }

    /// Paid, not refunded and not yet invoiced (zero for a customer with no sales).
    pub async fn invoiceable(&self, customer_id: OrgId) -> Result<Total, ReadError> {
        let rows = self.rows(INVOICEABLE, vec![SqlValue::text(customer_id)]).await?;
        rows.first().map_or(Ok(Total::ZERO), |row| row.total(0))
    }

    /// Debit and credit per account and party, sorted by account then party.
    pub async fn account_balances(&self, book: OrgId) -> Result<Vec<AccountBalanceView>, ReadError> {
        let rows = self.rows(ACCOUNT_BALANCES, vec![SqlValue::text(book)]).await?;
        let mut balances = rows
            .iter()
            .map(|row| {
                let party = row.text(1)?;
                Ok(AccountBalanceView {
                    account: parsed(row.text(0)?, AccountCode::parse)?,
                    party: if party == NO_PARTY { None } else { Some(row.parse(1)?) },
                    debit: row.total(2)?,
                    credit: row.total(3)?,
                })
            })
            .collect::<Result<Vec<_>, ReadError>>()?;
        balances.sort_by(|a, b| (&a.account, a.party).cmp(&(&b.account, b.party)));
        Ok(balances)
    }

    /// A page of organisations in the order they were opened.
    pub async fn orgs(&self, query: &OrgQuery) -> Result<Page<OrgView>, ReadError> {
        let limit = query.limit.clamp(1, PAGE_MAX);
        let mut parameters = Parameters::default();
        let mut filter = Vec::new();
        if let Some(kind) = query.kind {
            filter.push(format!("kind = {}", parameters.bind(SqlValue::text(kind.as_str()))));
        }
        if let Some(parent) = query.parent_id {
            filter.push(format!("parent_id = {}", parameters.bind(SqlValue::text(parent))));
        }
        if let Some(owner) = query.owner_id {
            filter.push(format!("(kind <> 'customer' OR owner = {})", parameters.bind(SqlValue::text(owner))));
        }
        if let Some(name) = &query.name {
            let pattern = format!("%{}%", like_escaped(&name.to_ascii_lowercase()));
            filter.push(format!("LOWER(name) LIKE {} ESCAPE '\\'", parameters.bind(SqlValue::Text(pattern))));
        }
        // One event opens one org, so positions are unique: the page's last is the cursor.
        let after = match &query.cursor {
            Some(cursor) => decode_cursor::<1>(cursor, ORG_CURSOR_PREFIX)?[0],
            None => 0,
        };
        filter.push(format!("position > {}", parameters.bind(SqlValue::Integer(after))));
        let limit_parameter = parameters.bind(SqlValue::Integer(limit as i64 + 1));
        let sql = format!(
            "SELECT {ORG_COLUMNS} FROM (SELECT rm_orgs.*, {ORG_OWNER} AS owner FROM rm_orgs) o
             WHERE {} ORDER BY position LIMIT {limit_parameter}",
            filter.join(" AND ")
        );
        let rows = self.rows_dynamic(sql, parameters.0).await?;
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(limit);
        let mut last = 0;
        for row in rows.iter().take(limit) {
            items.push(org_view(row)?);
            last = row.position(6)?;
        }
        Ok(Page { items, next_cursor: more.then(|| format!("{ORG_CURSOR_PREFIX}{last}")) })
    }

    /// A recharge, withdrawal or coupon (`kind`) by its id.
    pub async fn movement(&self, kind: &str, id: &str) -> Result<Option<MovementView>, ReadError> {
        let sql = format!("SELECT {MOVEMENT_COLUMNS} FROM rm_money_movements WHERE kind = $1 AND movement_id = $2");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(kind), SqlValue::text(id)]).await?;
        rows.first().map(movement_view).transpose()
    }

    /// The movement an approval would book (a recharge or a withdrawal awaiting it).
    pub async fn movement_by_approval(&self, approval_id: ApprovalId) -> Result<Option<MovementView>, ReadError> {
        let sql = format!("SELECT {MOVEMENT_COLUMNS} FROM rm_money_movements WHERE approval_id = $1");
        let rows = self.rows_dynamic(sql, vec![SqlValue::text(approval_id)]).await?;
        rows.first().map(movement_view).transpose()
    }

    /// Every org that a line of the book names as its party (customers, suppliers, the parent,
    /// child resellers), in the order the orgs were opened.
    pub async fn book_parties(&self, book: OrgId) -> Result<Vec<OrgView>, ReadError> {
        self.rows(BOOK_PARTIES, vec![SqlValue::text(book)]).await?.iter().map(org_view).collect()
    }

    /// What the journal keeps of the book's events at positions `first..=last`, in position
    /// order: their hashes, orders and references.
    pub async fn journal_events(&self, book: OrgId, first: u64, last: u64) -> Result<Vec<JournalEventView>, ReadError> {
        let params = vec![SqlValue::text(book), SqlValue::position(first), SqlValue::position(last)];
        let rows = self.rows(JOURNAL_EVENTS, params).await?;
        rows.iter()
            .map(|row| {
                Ok(JournalEventView {
                    position: row.position(0)?,
                    event_hash: row.text(1)?.to_owned(),
                    order_id: row.parse_optional(2)?,
                    reference: row.optional_text(3)?.map(str::to_owned),
                })
            })
            .collect()
    }

    /// Products in the order they were created, optionally of one owner.
    pub async fn products(&self, owner: Option<OrgId>) -> Result<Vec<ProductView>, ReadError> {
        let rows = self.rows(PRODUCTS, vec![optional_text(owner)]).await?;
        rows.iter()
            .map(|row| {
                Ok(ProductView {
                    id: row.parse(0)?,
                    name: row.text(1)?.to_owned(),
                    supplier_id: row.parse(2)?,
                    owner_id: row.parse(3)?,
                    list_price: parsed(row.text(4)?, UnitPrice::parse)?,
                    unit: row.text(5)?.to_owned(),
                    supplier_rate: row.optional_text(6)?.map(|text| parsed(text, Rate::parse)).transpose()?,
                    on_shelf: row.integer(7)? != 0,
                    hidden_from: row.json(8)?,
                    // `[]` until a price is scheduled, then `{date: price}`.
                    scheduled_prices: (if row.text(9)?.starts_with('[') {
                        BTreeMap::new()
                    } else {
                        row.json::<BTreeMap<NaiveDate, String>>(9)?
                    })
                    .into_iter()
                    .map(|(date, price)| Ok((date, parsed(&price, UnitPrice::parse)?)))
                    .collect::<Result<_, ReadError>>()?,
                    currency: row.optional_text(10)?.map(|text| parsed(text, Currency::parse)).transpose()?,
                })
            })
            .collect()
    }
}

/// Numbers parameters as they are bound, for statements whose conditions depend on the query.
#[derive(Default)]
struct Parameters(Vec<SqlValue>);

impl Parameters {
    fn bind(&mut self, value: SqlValue) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }
}

/// One ledger page: an index range scan, whatever its depth in the book. Filtered by an account
/// (and a party), each line carries its stored running balance; without an account there is none
/// (a running sum of unlike accounts means nothing). Dates and the cursor choose the lines shown,
/// not the lines summed.
fn ledger_page_sql(query: &LedgerQuery, after: [i64; 3], limit: usize) -> (String, Vec<SqlValue>) {
    let mut parameters = Parameters::default();
    let mut filter = vec![format!("book = {}", parameters.bind(SqlValue::text(query.book)))];
    if let Some(account) = &query.account {
        filter.push(format!("account = {}", parameters.bind(SqlValue::text(account))));
    }
    if let Some(party) = query.party {
        filter.push(format!("party = {}", parameters.bind(SqlValue::text(party))));
    }
    if let Some(from) = query.from {
        filter.push(format!("entry_date >= {}", parameters.bind(SqlValue::date(from))));
    }
    if let Some(to) = query.to {
        filter.push(format!("entry_date <= {}", parameters.bind(SqlValue::date(to))));
    }
    let [position, entry_idx, line_idx] = after.map(|value| parameters.bind(SqlValue::Integer(value)));
    filter.push(format!("(position, entry_idx, line_idx) > ({position}, {entry_idx}, {line_idx})"));
    let limit = parameters.bind(SqlValue::Integer(limit as i64));
    let running = match (&query.account, query.party) {
        (None, _) => "NULL",
        (Some(_), None) => "account_running",
        (Some(_), Some(_)) => "party_running",
    };
    let sql = format!(
        "SELECT {LEDGER_COLUMNS}, {running} FROM rm_journal WHERE {} ORDER BY position, entry_idx, line_idx LIMIT {limit}",
        filter.join(" AND ")
    );
    (sql, parameters.0)
}

fn principal_view(row: &Row) -> Result<PrincipalView, ReadError> {
    Ok(PrincipalView {
        principal_id: row.parse(0)?,
        org_id: row.parse(1)?,
        roles: row.json(2)?,
        label: row.optional_text(3)?.map(str::to_owned),
        user_id: row.parse_optional(4)?,
        user_name: row.optional_text(5)?.map(str::to_owned),
        expires_at: row.optional_text(6)?.map(|_| row.timestamp(6)).transpose()?,
        issued_at: row.optional_text(7)?.map(|_| row.timestamp(7)).transpose()?,
        issued_by: row.parse(8)?,
        revoked_at: row.optional_text(9)?.map(|_| row.timestamp(9)).transpose()?,
        revoked_by: row.parse_optional(10)?,
        revoke_reason: row.optional_text(11)?.map(str::to_owned),
        deployment_admin: row.integer(12)? != 0,
        position: row.position(13)?,
    })
}

fn user_view(row: &Row) -> Result<UserView, ReadError> {
    Ok(UserView {
        id: row.parse(0)?,
        org_id: row.parse(1)?,
        name: row.text(2)?.to_owned(),
        email: row.optional_text(3)?.map(str::to_owned),
        phone: row.optional_text(4)?.map(str::to_owned),
        roles: row.json(5)?,
        created_by: row.parse(6)?,
        created_at: row.timestamp(7)?,
        position: row.position(8)?,
    })
}

fn org_view(row: &Row) -> Result<OrgView, ReadError> {
    Ok(OrgView {
        id: row.parse(0)?,
        kind: enum_from_text(row.text(1)?)?,
        name: row.text(2)?.to_owned(),
        parent_id: row.parse_optional(3)?,
        currency: parsed(row.text(4)?, Currency::parse)?,
        owner_id: row.parse_optional(5)?,
    })
}

fn trial_balance_account(row: &Row) -> Result<TrialBalanceAccount, ReadError> {
    let account_type: AccountType = enum_from_text(row.text(2)?)?;
    let (debit, credit) = (row.total(3)?, row.total(4)?);
    Ok(TrialBalanceAccount {
        code: parsed(row.text(0)?, AccountCode::parse)?,
        name: row.text(1)?.to_owned(),
        account_type,
        debit,
        credit,
        balance: signed_by_side(SignedAmount::from(debit).sub_total(credit), account_type.normal_side()),
    })
}

fn ledger_line(row: &Row, normal_side: Side) -> Result<LedgerLine, ReadError> {
    let position = row.position(0)?;
    let small = |index: usize| {
        u32::try_from(row.integer(index)?).map_err(|error| ReadError::Corrupt(format!("column {index}: {error}")))
    };
    Ok(LedgerLine {
        position,
        entry_id: format!("{position}-{}", row.integer(1)?),
        line_idx: small(2)?,
        date: row.date(3)?,
        account: parsed(row.text(4)?, AccountCode::parse)?,
        party: if row.text(5)? == NO_PARTY { None } else { Some(row.parse(5)?) },
        debit: row.amount(6)?,
        credit: row.amount(7)?,
        event_type: row.text(8)?.to_owned(),
        rule_id: row.text(9)?.to_owned(),
        rule_version: small(10)?,
        pair_id: row.optional_integer(11)?.map(|pair| format!("{position}.{pair}")),
        running_balance: row
            .optional_integer(12)?
            .map(|running| signed_by_side(signed_from_minor(running), normal_side)),
    })
}

fn order_view(row: &Row, history: &[Row]) -> Result<OrderView, ReadError> {
    let history = history
        .iter()
        .map(|entry| {
            Ok(OrderHistoryEntry {
                status: entry.text(1)?.to_owned(),
                at: entry.timestamp(2)?,
                position: entry.position(3)?,
            })
        })
        .collect::<Result<Vec<_>, ReadError>>()?;
    Ok(OrderView {
        id: row.parse(0)?,
        customer_id: row.parse(1)?,
        seller_id: row.parse(2)?,
        status: row.text(3)?.to_owned(),
        total: row.amount(4)?,
        paid: row.amount(5)?,
        refunded: row.amount(6)?,
        items: row.json(7)?,
        history,
        placed_on: row.date(8)?,
        invite_code: row.optional_text(10)?.map(str::to_owned),
        salesperson: row.optional_text(11)?.map(str::to_owned),
    })
}

/// The KPI rows of a book (`$1`) and dimension (`$2`) from day `$3` to `$4`, summed by period
/// (the day, or its month) and key; a key of products, customers, suppliers or resellers with
/// its name from `rm_products` or `rm_orgs`, as the last column.
fn kpi_sql(granularity: Granularity, by: Option<KpiDimension>) -> String {
    let period = match granularity {
        Granularity::Day => "day",
        Granularity::Month => "SUBSTR(day, 1, 7)",
    };
    let (name, join) = match by {
        Some(KpiDimension::Product) => (", n.name", "LEFT JOIN rm_products n ON n.product_id = k.dim_key"),
        Some(KpiDimension::Customer | KpiDimension::Supplier | KpiDimension::Reseller) => {
            (", n.name", "LEFT JOIN rm_orgs n ON n.org_id = k.dim_key")
        }
        Some(KpiDimension::Salesperson) | None => ("", ""),
    };
    format!(
        "SELECT k.period, k.dim_key, k.revenue, k.discounts, k.cost, k.recharges, k.refunds,
             k.commissions_paid, k.commissions_earned, k.penalties, k.other_selling_expenses{name}
         FROM (SELECT {period} AS period, dim_key, CAST(SUM(revenue) AS BIGINT) AS revenue,
                   CAST(SUM(discounts) AS BIGINT) AS discounts, CAST(SUM(cost) AS BIGINT) AS cost,
                   CAST(SUM(recharges) AS BIGINT) AS recharges, CAST(SUM(refunds) AS BIGINT) AS refunds,
                   CAST(SUM(commissions_paid) AS BIGINT) AS commissions_paid,
                   CAST(SUM(commissions_earned) AS BIGINT) AS commissions_earned,
                   CAST(SUM(penalties) AS BIGINT) AS penalties,
                   CAST(SUM(other_selling_expenses) AS BIGINT) AS other_selling_expenses
               FROM rm_kpi_daily WHERE book = $1 AND dimension = $2 AND day >= $3 AND day <= $4
               GROUP BY {period}, dim_key) k {join}
         ORDER BY k.period, k.dim_key"
    )
}

/// The period before a KPI period (`2026-01-15` → `2026-01-14`, `2026-01` → `2025-12`).
fn period_before(period: &str, granularity: Granularity) -> Option<String> {
    match granularity {
        Granularity::Day => {
            let day = NaiveDate::parse_from_str(period, "%Y-%m-%d").ok()?;
            Some(day.pred_opt()?.to_string())
        }
        Granularity::Month => {
            let first = NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").ok()?;
            Some(first.pred_opt()?.format("%Y-%m").to_string())
        }
    }
}

fn kpi_row(row: &Row, by: Option<KpiDimension>) -> Result<KpiRow, ReadError> {
    let key = row.text(1)?;
    let key = (key != NO_KEY).then(|| key.to_owned());
    let name = match by {
        None => None,
        Some(KpiDimension::Salesperson) => key.clone(),
        Some(_) => row.optional_text(11)?.map(str::to_owned),
    };
    let (revenue, discounts, cost) = (row.integer(2)?, row.integer(3)?, row.integer(4)?);
    let (paid, earned, penalties, other) = (row.integer(7)?, row.integer(8)?, row.integer(9)?, row.integer(10)?);
    let gross_profit = revenue - discounts - cost;
    Ok(KpiRow {
        period: row.text(0)?.to_owned(),
        key,
        name,
        revenue: signed_from_minor(revenue),
        discounts: signed_from_minor(discounts),
        cost: signed_from_minor(cost),
        gross_profit: signed_from_minor(gross_profit),
        recharges: row.signed_amount(5)?,
        refunds: row.signed_amount(6)?,
        commissions_paid: signed_from_minor(paid),
        commissions_earned: signed_from_minor(earned),
        penalties: signed_from_minor(penalties),
        other_selling_expenses: signed_from_minor(other),
        net_profit: signed_from_minor(gross_profit - paid + earned + penalties - other),
        previous: None,
    })
}

fn approval_view(row: &Row) -> Result<ApprovalView, ReadError> {
    Ok(ApprovalView {
        id: row.parse(0)?,
        book: row.parse(1)?,
        kind: row.text(2)?.to_owned(),
        requested_by: row.parse(3)?,
        proposal: row.json(4)?,
        status: row.text(5)?.to_owned(),
        created_at: row.timestamp(6)?,
        position: row.position(7)?,
        decided_by: row.parse_optional(8)?,
        comment: row.optional_text(9)?.map(str::to_owned),
        requested_by_user: row.parse_optional(10)?,
        decided_by_user: row.parse_optional(11)?,
        levels: match row.optional_text(12)? {
            Some(_) => row.json(12)?,
            None => ledger_core::approval_policy::default_levels(),
        },
        current_level: row.position(13)?,
        action: row.optional_text(14)?.map(str::to_owned),
        decisions: Vec::new(),
    })
}

fn settlement_view(row: &Row, lines: StatementLinePage) -> Result<SettlementView, ReadError> {
    let (receivable, payable) = (row.signed_amount(6)?, row.signed_amount(7)?);
    Ok(SettlementView {
        id: row.parse(0)?,
        book: row.parse(1)?,
        counterparty_id: row.parse(2)?,
        from: row.date(3)?,
        to: row.date(4)?,
        statement_hash: row.text(5)?.to_owned(),
        receivable,
        payable,
        total: payable.plus(receivable.negated()),
        through_position: row.position(8)?,
        line_count: row.position(9)?,
        status: row.text(10)?.to_owned(),
        position: row.position(11)?,
        lines,
        exchange: match row.optional_text(12)? {
            Some(_) => row.json(12)?,
            None => Vec::new(),
        },
    })
}

/// A statement line from the columns position, entry date, account, debit, credit of `row`,
/// from the column `first` on.
fn statement_line(row: &Row, first: usize) -> Result<StatementLine, ReadError> {
    Ok(StatementLine {
        position: row.position(first)?,
        date: row.date(first + 1)?,
        account: parsed(row.text(first + 2)?, AccountCode::parse)?,
        debit: row.amount(first + 3)?,
        credit: row.amount(first + 4)?,
    })
}

fn movement_view(row: &Row) -> Result<MovementView, ReadError> {
    Ok(MovementView {
        kind: row.text(0)?.to_owned(),
        id: row.text(1)?.to_owned(),
        customer_id: row.parse(2)?,
        book: row.parse(3)?,
        amount: row.amount(4)?,
        channel: row.optional_text(5)?.map(str::to_owned),
        reference: row.optional_text(6)?.map(str::to_owned),
        status: row.text(7)?.to_owned(),
        approval_id: row.parse_optional(8)?,
        trade_number: row.optional_text(9)?.map(str::to_owned),
        requested_at: row.timestamp(10)?,
        requested_position: row.position(11)?,
        booked_position: optional_position(row, 12)?,
        reversed_position: optional_position(row, 13)?,
        reversal_reason: row.optional_text(14)?.map(str::to_owned),
    })
}

fn optional_position(row: &Row, index: usize) -> Result<Option<u64>, ReadError> {
    row.optional_integer(index)?
        .map(|value| u64::try_from(value).map_err(|error| ReadError::Corrupt(format!("column {index}: {error}"))))
        .transpose()
}

/// `text` for a `LIKE` pattern with `\` as its escape: `%`, `_` and `\` match themselves.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// The position a newest-first page starts below: the cursor's, or past every position.
fn newest_first_cursor(cursor: Option<&str>, prefix: &str) -> Result<i64, ReadError> {
    match cursor {
        Some(cursor) => Ok(decode_cursor::<1>(cursor, prefix)?[0]),
        None => Ok(i64::MAX),
    }
}

/// The position an oldest-first page starts after: the cursor's, or before every position.
fn oldest_first_cursor(cursor: Option<&str>, prefix: &str) -> Result<i64, ReadError> {
    match cursor {
        Some(cursor) => Ok(decode_cursor::<1>(cursor, prefix)?[0]),
        None => Ok(0),
    }
}

/// An oldest-first page from `limit + 1` items read: the extra one only says there is more.
fn oldest_first_page<T>(mut items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(cursor) } else { None };
    Page { items, next_cursor }
}

/// A newest-first page from `limit + 1` rows read: the extra row only says there is more.
fn newest_first_page<T>(mut items: Vec<T>, limit: usize, prefix: &str, position: impl Fn(&T) -> u64) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(|last| format!("{prefix}{}", position(last))) } else { None };
    Page { items, next_cursor }
}
