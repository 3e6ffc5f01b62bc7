//! Reads for finance: wallets, trial balances, ledgers with drill-down to events, KPIs, account
//! balances, invoiceable amounts and exports. A book is read by its own staff and by the
//! platform's `super_admin`; a wallet also by its customer.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use event_log::LogRead;
use ledger_core::chart::AccountCode;
use ledger_core::ids::OrgId;
use ledger_core::money::{Amount, SignedAmount};
use ledger_core::org::OrgKind;
use projections::{Granularity, KpiDimension, KpiQuery, KpiRow, LedgerQuery};
use rust_decimal::RoundingStrategy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse, Fresh, Page, Paging, Params, Read, POSITION_HEADER};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::export::{ExportFormat, EXPORT_LINES_MAX};
use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/customers/{id}/balance", get(balance))
        .route("/v1/customers/{id}/invoiceable", get(invoiceable))
        .route("/v1/books/{org_id}/trial-balance", get(trial_balance))
        .route("/v1/books/{org_id}/ledger", get(ledger))
        .route("/v1/books/{org_id}/balances", get(account_balances))
        .route("/v1/books/{org_id}/kpi", get(kpi))
        .route("/v1/books/{org_id}/kpi/serial-codes", get(serial_kpi))
        .route("/v1/books/{org_id}/export", get(export))
        .route("/v1/events/{position}", get(event))
}

/// The book `id`, if the caller may read it: its own org's staff, or the `super_admin`.
pub fn readable_book(caller: &Caller, text: &str) -> Result<OrgId, ApiError> {
    let book: OrgId = parse::path_id("book", text)?;
    if caller.is_super_admin() || (book == caller.org_id() && caller.is_staff()) {
        Ok(book)
    } else {
        Err(ApiError::NotFound { what: "book" })
    }
}

/// A customer the caller may read: itself, or a customer of the caller's org (staff), or any
/// for the `super_admin`.
pub async fn readable_customer(state: &SharedState, caller: &Caller, text: &str) -> Result<OrgId, ApiError> {
    let id: OrgId = parse::path_id("customer", text)?;
    let org = state.read.org(id).await?.filter(|org| org.kind == OrgKind::Customer);
    let org = org.ok_or(ApiError::NotFound { what: "customer" })?;
    let reaches = caller.is_super_admin()
        || org.id == caller.org_id()
        || (org.parent_id == Some(caller.org_id()) && caller.is_staff() && caller.in_scope(org.owner_id));
    if reaches {
        Ok(id)
    } else {
        Err(ApiError::NotFound { what: "customer" })
    }
}

#[derive(Serialize, ToSchema, Default)]
pub struct BalanceBody {
    pub customer_id: String,
    /// The whole wallet: `cash` + `voucher`.
    pub balance: String,
    /// Cash (2203): what recharges brought in; the only part a withdrawal takes.
    pub cash: String,
    /// Voucher credit (代金券, 2203.01): spent on purchases before cash (earliest expiry first),
    /// never withdrawn; an expired voucher counts until it is booked out.
    pub voucher: String,
    /// `balance` less what withdrawals awaiting approval hold: what purchases may spend.
    pub available: String,
    pub pending: String,
    pub currency: String,
    /// The customer's low-balance threshold (`PUT /v1/customers/{id}/low-balance-threshold`),
    /// null when it has none.
    pub low_balance_threshold: Option<String>,
    /// The customer's credit limit (信用额度): purchases may take the wallet down to minus it.
    pub credit_limit: String,
    /// What it owes on credit (欠费): a receivable of the seller (1122), repaid first by the next
    /// money in.
    pub arrears: String,
    /// When the earliest part of the arrears falls due; null when nothing is owed.
    pub arrears_due_on: Option<String>,
    /// Some arrears are past their due date: no more credit until they are repaid.
    pub arrears_overdue: bool,
    /// What purchases may still draw on credit: the limit less the arrears (none while overdue).
    pub credit_available: String,
    /// The wallet seen whole, `balance − arrears`: below zero, down to minus the limit, on credit.
    pub net: String,
}

/// A customer's wallet: balance, its cash and voucher parts, available and pending.
#[utoipa::path(get, path = "/v1/customers/{id}/balance", tag = "finance", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = BalanceBody), (status = 404, body = Problem)))]
pub async fn balance(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<BalanceBody>, ApiError> {
    let customer_id = readable_customer(&state, &caller, &id).await?;
    let low_balance_threshold = state.read.low_balance_threshold(customer_id).await?.map(|amount| amount.to_string());
    let credit = credit_part(&state, customer_id).await?;
    let overdue = credit.due_on.is_some_and(|due_on| due_on < state.clock.today());
    let room = credit.limit.checked_sub(credit.arrears).unwrap_or(Amount::ZERO);
    let mut body = match state.read.wallet(customer_id).await? {
        Some(wallet) => BalanceBody {
            customer_id: id,
            balance: wallet.balance.to_string(),
            cash: wallet.cash.to_string(),
            voucher: wallet.voucher.to_string(),
            available: wallet.available.to_string(),
            pending: wallet.pending.to_string(),
            currency: wallet.currency.to_string(),
            low_balance_threshold,
            net: SignedAmount::from(wallet.balance).sub(credit.arrears).to_string(),
            ..Default::default()
        },
        None => BalanceBody {
            customer_id: id,
            balance: "0.00".into(),
            cash: "0.00".into(),
            voucher: "0.00".into(),
            available: "0.00".into(),
            pending: "0.00".into(),
            low_balance_threshold,
            currency: state
                .read
                .org(customer_id)
                .await?
                .map(|customer| customer.currency.to_string())
                .ok_or(ApiError::NotFound { what: "customer" })?,
            net: SignedAmount::ZERO.sub(credit.arrears).to_string(),
            ..Default::default()
        },
    };
    body.credit_limit = credit.limit.to_string();
    body.arrears = credit.arrears.to_string();
    body.arrears_due_on = credit.due_on.map(|date| date.to_string());
    body.arrears_overdue = overdue;
    body.credit_available = if overdue { Amount::ZERO } else { room }.to_string();
    Ok(Read(position, body))
}

/// The credit part of a customer's balance answer (`GET /v1/customers/{id}/balance`).
pub struct CreditPart {
    pub limit: Amount,
    pub arrears: Amount,
    pub due_on: Option<NaiveDate>,
}

/// What the read model knows of a customer's credit (zeros when it never had any).
pub async fn credit_part(state: &SharedState, customer_id: OrgId) -> Result<CreditPart, ApiError> {
    Ok(match state.read.credit(customer_id).await? {
        Some(credit) => CreditPart { limit: credit.limit, arrears: credit.arrears, due_on: credit.due_on },
        None => CreditPart { limit: Amount::ZERO, arrears: Amount::ZERO, due_on: None },
    })
}

#[derive(Serialize, ToSchema)]
pub struct InvoiceableBody {
    pub customer_id: String,
    /// Paid and not yet invoiced.
    pub invoiceable: String,
}

/// What a customer has paid and not yet invoiced.
#[utoipa::path(get, path = "/v1/customers/{id}/invoiceable", tag = "finance", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = InvoiceableBody), (status = 404, body = Problem)))]
pub async fn invoiceable(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(id): Path<String>,
) -> Result<Read<InvoiceableBody>, ApiError> {
    let customer_id = readable_customer(&state, &caller, &id).await?;
    let amount = state.read.invoiceable(customer_id).await?;
    Ok(Read(position, InvoiceableBody { customer_id: id, invoiceable: amount.to_string() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsOfQuery {
    pub as_of: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TrialBalanceAccountBody {
    pub code: String,
    pub name: String,
    pub account_type: String,
    pub debit: String,
    pub credit: String,
    /// Signed by the account's normal side.
    pub balance: String,
}

#[derive(Serialize, ToSchema)]
pub struct TrialBalanceBody {
    pub org_id: String,
    pub as_of: String,
    pub currency: String,
    pub accounts: Vec<TrialBalanceAccountBody>,
    pub total_debit: String,
    pub total_credit: String,
}

/// A book's trial balance as of a date.
#[utoipa::path(get, path = "/v1/books/{org_id}/trial-balance", tag = "finance", security(("bearer" = [])),
    params(("org_id" = String, Path), ("as_of" = Option<String>, Query)),
    responses((status = 200, body = TrialBalanceBody), (status = 404, body = Problem)))]
pub async fn trial_balance(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(query): Params<AsOfQuery>,
) -> Result<Read<TrialBalanceBody>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let as_of = parse::optional_date("as_of", &query.as_of)?.unwrap_or_else(|| state.clock.today());
    let view = state.read.trial_balance(book, as_of).await?.ok_or(ApiError::NotFound { what: "book" })?;
    Ok(Read(
        position,
        TrialBalanceBody {
            org_id,
            as_of: view.as_of.to_string(),
            currency: view.currency.to_string(),
            accounts: view
                .accounts
                .into_iter()
                .map(|account| TrialBalanceAccountBody {
                    code: account.code.to_string(),
                    name: account.name,
                    account_type: super::json_text(&account.account_type),
                    debit: account.debit.to_string(),
                    credit: account.credit.to_string(),
                    balance: account.balance.to_string(),
                })
                .collect(),
            total_debit: view.total_debit.to_string(),
            total_credit: view.total_credit.to_string(),
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerParams {
    pub account: Option<String>,
    pub party: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerLineBody {
    pub position: u64,
    pub entry_id: String,
    pub date: String,
    pub account: String,
    pub party: Option<String>,
    pub debit: String,
    pub credit: String,
    /// Only when `account` is given: the account's (or the account and party's) balance through
    /// this line, whatever the page or dates; null otherwise (a sum of unlike accounts).
    pub running_balance: Option<String>,
    pub event_type: String,
    pub rule_id: String,
    pub rule_version: u32,
    pub pair_id: Option<String>,
}

/// A book's journal lines, in log order, optionally of one account and party.
#[utoipa::path(get, path = "/v1/books/{org_id}/ledger", tag = "finance", security(("bearer" = [])),
    params(("org_id" = String, Path), ("account" = Option<String>, Query), ("party" = Option<String>, Query),
        ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("cursor" = Option<String>, Query),
        ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<LedgerLineBody>), (status = 404, body = Problem)))]
pub async fn ledger(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<LedgerParams>,
) -> Result<Read<Page<LedgerLineBody>>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let query = LedgerQuery {
        book,
        account: params
            .account
            .as_deref()
            .map(|code| {
                AccountCode::parse(code).map_err(|reason| ApiError::invalid("invalid_field", "account", reason))
            })
            .transpose()?,
        party: params.party.as_deref().map(|id| parse::id("party", id)).transpose()?,
        from: parse::optional_date("from", &params.from)?,
        to: parse::optional_date("to", &params.to)?,
        cursor: paging.cursor.clone(),
        limit: paging.limit,
    };
    let page = state.read.ledger(&query).await?;
    let page = Page::of(page, paging, |line| LedgerLineBody {
        position: line.position,
        entry_id: line.entry_id,
        date: line.date.to_string(),
        account: line.account.to_string(),
        party: line.party.map(|party| party.to_string()),
        debit: line.debit.to_string(),
        credit: line.credit.to_string(),
        running_balance: line.running_balance.map(|balance| balance.to_string()),
        event_type: line.event_type,
        rule_id: line.rule_id,
        rule_version: line.rule_version,
        pair_id: line.pair_id,
    });
    Ok(Read(position, page))
}

#[derive(Serialize, ToSchema)]
pub struct AccountBalanceBody {
    pub account: String,
    pub party: Option<String>,
    pub debit: String,
    pub credit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// Debit and credit per account and party, by account then party.
#[utoipa::path(get, path = "/v1/books/{org_id}/balances", tag = "finance", security(("bearer" = [])),
    params(("org_id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<AccountBalanceBody>), (status = 404, body = Problem)))]
pub async fn account_balances(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<PageParams>,
) -> Result<Read<Page<AccountBalanceBody>>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let items = state
        .read
        .account_balances(book)
        .await?
        .into_iter()
        .map(|row| AccountBalanceBody {
            account: row.account.to_string(),
            party: row.party.map(|party| party.to_string()),
            debit: row.debit.to_string(),
            credit: row.credit.to_string(),
        })
        .collect();
    let key =
        |_: usize, row: &AccountBalanceBody| format!("{}\u{1f}{}", row.account, row.party.as_deref().unwrap_or(""));
    Ok(Read(position, Page::in_memory(items, paging, key)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
    pub granularity: Option<KpiGranularity>,
    pub by: Option<KpiBy>,
}

/// `granularity=`: the rows' period (default `day`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KpiGranularity {
    Day,
    Month,
}

impl From<KpiGranularity> for Granularity {
    fn from(granularity: KpiGranularity) -> Granularity {
        match granularity {
            KpiGranularity::Day => Granularity::Day,
            KpiGranularity::Month => Granularity::Month,
        }
    }
}

/// `by=`: the dimension the rows are split by (none: one row per period).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KpiBy {
    Product,
    Customer,
    Supplier,
    Reseller,
    Salesperson,
}

impl From<KpiBy> for KpiDimension {
    fn from(by: KpiBy) -> KpiDimension {
        match by {
            KpiBy::Product => KpiDimension::Product,
            KpiBy::Customer => KpiDimension::Customer,
            KpiBy::Supplier => KpiDimension::Supplier,
            KpiBy::Reseller => KpiDimension::Reseller,
            KpiBy::Salesperson => KpiDimension::Salesperson,
        }
    }
}

#[derive(Clone, Serialize, ToSchema)]
pub struct KpiRowBody {
    pub period: String,
    pub key: Option<String>,
    /// What the key names: the product's or the org's name, a salesperson's (the key itself);
    /// null without a key (the totals, or figures the dimension does not apply to).
    pub name: Option<String>,
    pub revenue: String,
    pub discounts: String,
    pub cost: String,
    pub gross_profit: String,
    pub recharges: String,
    pub refunds: String,
    /// Commissions this book paid its resellers (6601 of commission events).
    pub commissions_paid: String,
    /// Commissions this book earned from its parent (6051 of commission events).
    pub commissions_earned: String,
    /// Refund penalties and other income (6051 of every other event).
    pub penalties: String,
    /// Coupons, vouchers, manual entries (6601 of every other event).
    pub other_selling_expenses: String,
    /// `gross_profit − commissions_paid + commissions_earned + penalties − other_selling_expenses`.
    pub net_profit: String,
    /// The same key in the period before (the day before, the whole month before).
    pub previous: Option<KpiPreviousBody>,
    /// This period minus the one before, and that change as a ratio of the one before's
    /// magnitude (4 digits, half-up; null when the one before is zero).
    pub change: Option<KpiChangeBody>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct KpiPreviousBody {
    pub period: String,
    pub revenue: String,
    pub gross_profit: String,
    pub net_profit: String,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct KpiChangeBody {
    pub revenue: String,
    pub gross_profit: String,
    pub net_profit: String,
    pub revenue_ratio: Option<String>,
    pub gross_profit_ratio: Option<String>,
    pub net_profit_ratio: Option<String>,
}

/// `now − before`, and that as a ratio of `|before|` (4 digits, half-up), or none from zero.
fn change(now: SignedAmount, before: SignedAmount) -> (String, Option<String>) {
    let difference = now.plus(before.negated());
    let ratio = (!before.is_zero())
        .then(|| difference.as_decimal().checked_div(before.as_decimal().abs()))
        .flatten()
        .map(|ratio| ratio.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero))
        .map(|mut ratio| {
            ratio.rescale(4);
            ratio.to_string()
        });
    (difference.to_string(), ratio)
}

impl From<KpiRow> for KpiRowBody {
    fn from(row: KpiRow) -> KpiRowBody {
        let change = row.previous.as_ref().map(|previous| {
            let (revenue, revenue_ratio) = change(row.revenue, previous.revenue);
            let (gross_profit, gross_profit_ratio) = change(row.gross_profit, previous.gross_profit);
            let (net_profit, net_profit_ratio) = change(row.net_profit, previous.net_profit);
            KpiChangeBody { revenue, gross_profit, net_profit, revenue_ratio, gross_profit_ratio, net_profit_ratio }
        });
        KpiRowBody {
            period: row.period,
            key: row.key,
            name: row.name,
            revenue: row.revenue.to_string(),
            discounts: row.discounts.to_string(),
            cost: row.cost.to_string(),
            gross_profit: row.gross_profit.to_string(),
            recharges: row.recharges.to_string(),
            refunds: row.refunds.to_string(),
            commissions_paid: row.commissions_paid.to_string(),
            commissions_earned: row.commissions_earned.to_string(),
            penalties: row.penalties.to_string(),
            other_selling_expenses: row.other_selling_expenses.to_string(),
            net_profit: row.net_profit.to_string(),
            previous: row.previous.map(|previous| KpiPreviousBody {
                period: previous.period,
                revenue: previous.revenue.to_string(),
                gross_profit: previous.gross_profit.to_string(),
                net_profit: previous.net_profit.to_string(),
            }),
            change,
        }
    }
}

/// A page of KPI rows, by period then key.
#[derive(Serialize, ToSchema)]
pub struct KpiBody {
    #[serde(flatten)]
    pub page: Page<KpiRowBody>,
    /// The page's rows again, as API.md's first contract names them; read `items`.
    #[deprecated]
    pub rows: Vec<KpiRowBody>,
}

impl KpiBody {
    #[allow(deprecated)] // `rows` is written here, once
    fn of(page: Page<KpiRowBody>) -> KpiBody {
        KpiBody { rows: page.items.clone(), page }
    }
}

/// A date range from the query; `from` defaults to the first of this month, `to` to today.
fn period(state: &SharedState, from: &Option<String>, to: &Option<String>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let today = state.clock.today();
    let from = parse::optional_date("from", from)?.unwrap_or_else(|| today.with_day0(0).unwrap_or(today));
    let to = parse::optional_date("to", to)?.unwrap_or(today);
    if from > to {
        return Err(ApiError::invalid("invalid_field", "to", "must not be before from"));
    }
    Ok((from, to))
}

use chrono::Datelike;

/// Revenue, discounts, cost, gross profit, recharges and refunds by period (and by a dimension).
#[utoipa::path(get, path = "/v1/books/{org_id}/kpi", tag = "finance", security(("bearer" = [])),
    params(("org_id" = String, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query),
        ("granularity" = Option<String>, Query, description = "day or month"),
        ("by" = Option<String>, Query, description = "product, customer, supplier, reseller or salesperson")),
    responses((status = 200, body = KpiBody), (status = 404, body = Problem)))]
pub async fn kpi(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<KpiParams>,
) -> Result<Read<KpiBody>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let (from, to) = period(&state, &params.from, &params.to)?;
    let granularity = params.granularity.unwrap_or(KpiGranularity::Day).into();
    let by = params.by.map(KpiDimension::from);
    let rows = state.read.kpi(&KpiQuery { book, from, to, granularity, by }).await?;
    let rows = rows.into_iter().map(KpiRowBody::from).collect();
    let key = |_: usize, row: &KpiRowBody| format!("{}\u{1f}{}", row.period, row.key.as_deref().unwrap_or(""));
    Ok(Read(position, KpiBody::of(Page::in_memory(rows, paging, key)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct SerialKpiRowBody {
    pub period: String,
    pub days: u32,
    pub codes_issued: u64,
    pub codes_activated: u64,
    pub revenue: String,
}

/// A page of serial-code KPI rows, by period then package length.
#[derive(Serialize, ToSchema)]
pub struct SerialKpiBody {
    #[serde(flatten)]
    pub page: Page<SerialKpiRowBody>,
    /// The page's rows again, as the first version answered them; read `items`.
    #[deprecated]
    pub rows: Vec<SerialKpiRowBody>,
}

/// Serial codes issued and activated, and their revenue, by month and package.
#[utoipa::path(get, path = "/v1/books/{org_id}/kpi/serial-codes", tag = "finance", security(("bearer" = [])),
    params(("org_id" = String, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query)),
    responses((status = 200, body = SerialKpiBody), (status = 404, body = Problem)))]
pub async fn serial_kpi(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<PeriodParams>,
) -> Result<Read<SerialKpiBody>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let (from, to) = period(&state, &params.from, &params.to)?;
    let rows = state
        .read
        .serial_kpi(book, from, to)
        .await?
        .into_iter()
        .map(|row| SerialKpiRowBody {
            period: row.period,
            days: row.days,
            codes_issued: row.codes_issued,
            codes_activated: row.codes_activated,
            revenue: row.revenue.to_string(),
        })
        .collect();
    let key = |_: usize, row: &SerialKpiRowBody| format!("{}\u{1f}{:010}", row.period, row.days);
    let page = Page::in_memory(rows, paging, key)?;
    #[allow(deprecated)] // `rows` is written here, once
    let body = SerialKpiBody { rows: page.items.clone(), page };
    Ok(Read(position, body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Default `csv`.
    pub format: Option<ExportFormat>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A book's journal as a CSV or Beancount file.
#[utoipa::path(get, path = "/v1/books/{org_id}/export", tag = "finance", security(("bearer" = [])),
    params(("org_id" = String, Path), ("format" = Option<String>, Query, description = "csv or beancount"),
        ("from" = Option<String>, Query), ("to" = Option<String>, Query)),
    responses((status = 200, description = "the journal as a file", content_type = "text/plain",
            headers(("Content-Disposition" = String,
                description = "attachment; filename=\"<book>-<from or start>-<to>.<csv|beancount>\", and filename* (RFC 5987) for a name that is not ASCII"))),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn export(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<ExportParams>,
) -> Result<Response, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let format = params.format.unwrap_or(ExportFormat::Csv);
    let from = parse::optional_date("from", &params.from)?;
    let to = parse::optional_date("to", &params.to)?.unwrap_or_else(|| state.clock.today());
    let file = crate::export::export_book(&state.read, book, format, from, to, EXPORT_LINES_MAX).await?;
    let disposition =
        HeaderValue::try_from(file.content_disposition).map_err(|error| ApiError::Internal(error.to_string()))?;
    let mut response = file.text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(POSITION_HEADER, HeaderValue::from(position));
    Ok(response)
}

#[derive(Serialize, ToSchema)]
pub struct EventBody {
    pub position: u64,
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u16,
    pub recorded_at: String,
    pub effective_date: String,
    pub actor_org_id: String,
    /// The business facts; shown to the platform's `super_admin` and to the org that acted.
    #[schema(value_type = Object)]
    pub payload: Option<serde_json::Value>,
    /// The entries the event booked, only those in books the caller reads.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
    pub hash: String,
    pub prev_hash: String,
}

/// Drill-down from a ledger line: the event that booked it. Another tenant's event is not found.
#[utoipa::path(get, path = "/v1/events/{position}", tag = "finance", security(("bearer" = [])),
    params(("position" = u64, Path)), responses((status = 200, body = EventBody), (status = 404, body = Problem)))]
pub async fn event(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(read_position): Fresh,
    Path(position): Path<String>,
) -> Result<Read<EventBody>, ApiError> {
    let position: u64 = position.parse().map_err(|_| ApiError::NotFound { what: "event" })?;
    let event = state.with_log(move |log| log.read_one(position)).await?.ok_or(ApiError::NotFound { what: "event" })?;
    let everything = caller.is_super_admin();
    let own = event.actor.org_id == caller.org_id();
    let entries: Vec<serde_json::Value> = event
        .event
        .entries
        .iter()
        .filter(|entry| everything || (caller.is_staff() && entry.book == caller.org_id()))
        .map(|entry| serde_json::to_value(entry).unwrap_or_default())
        .collect();
    if !everything && !own && entries.is_empty() {
        return Err(ApiError::NotFound { what: "event" });
    }
    let payload = (everything || own).then(|| {
        let mut payload = serde_json::to_value(&event.event.payload)
            .ok()
            .and_then(|value| value.get("payload").cloned())
            .unwrap_or_default();
        if !everything {
            scrub_other_tenants(&mut payload);
        }
        if let Some(map) = payload.as_object_mut() {
            // A token's hash is not a secret, but it names the token to whoever holds one: never
            // shown, to anyone.
            map.remove("token_hash");
        }
        payload
    });
    Ok(Read(
        read_position,
        EventBody {
            position: event.position,
            event_id: event.event_id.to_string(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version,
            recorded_at: event.recorded_at.to_rfc3339(),
            effective_date: event.effective_date.to_string(),
            actor_org_id: event.actor.org_id.to_string(),
            payload,
            entries,
            hash: event.hash,
            prev_hash: event.prev_hash,
        },
    ))
}

/// Removes what a sale tells about the other orgs of its chain (their rates, costs and margins,
/// the supplier's price): only the `super_admin` sees a whole waterfall.
fn scrub_other_tenants(value: &mut serde_json::Value) {
    const HIDDEN: [&str; 3] = ["levels", "supplier_price", "supplier_rate"];
    match value {
        serde_json::Value::Object(map) => {
            for key in HIDDEN {
                map.remove(key);
            }
            map.values_mut().for_each(scrub_other_tenants);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_other_tenants),
        _ => {}
    }
}
