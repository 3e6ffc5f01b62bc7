//! What queries answer: plain structs of exact amounts, which the gateway converts to its own
//! HTTP types. Field meanings are those of the read-side contract (`/work/spec/readside.md`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use ledger_core::approval_policy::{ApprovalLevel, ApprovalRule};
use ledger_core::chart::{AccountCode, AccountType};
use ledger_core::event::StatementLine;
use ledger_core::ids::{
    ApprovalId, InvoiceId, OrderId, OrgId, PrincipalId, ProductId, PromotionId, SerialBatchId, SettlementId, UserId,
};
use ledger_core::money::{Amount, Currency, Rate, SignedAmount, Total, UnitPrice};
use ledger_core::org::{DistributorTier, OrgKind, Role};
use ledger_core::permissions::PermissionSet;
use ledger_core::pricing::PricedItem;
use serde::Serialize;

/// The most lines one ledger page holds.
pub const LEDGER_PAGE_MAX: usize = 1_000;
/// The most orders one page holds.
pub const ORDER_PAGE_MAX: usize = 500;
/// The most lines of a statement one page holds.
pub const STATEMENT_LINES_PAGE_MAX: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrgView {
    pub id: OrgId,
    pub kind: OrgKind,
    pub name: String,
    pub parent_id: Option<OrgId>,
    pub currency: Currency,
    /// A customer's owner (a user of its seller): named by `CustomerOwnerSet`, else the person
    /// who opened it; none for other orgs and for customers opened by a token before users.
    pub owner_id: Option<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrincipalView {
    pub principal_id: PrincipalId,
    pub org_id: OrgId,
    pub roles: BTreeSet<Role>,
    pub label: Option<String>,
    /// The person the token acts for; none for tokens issued before users.
    pub user_id: Option<UserId>,
    pub user_name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// None only for tokens projected before the time was kept.
    pub issued_at: Option<DateTime<Utc>>,
    pub issued_by: PrincipalId,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<PrincipalId>,
    pub revoke_reason: Option<String>,
    /// The deployment's admin token (`KBOSS_ADMIN_TOKEN`).
    pub deployment_admin: bool,
    pub position: u64,
}

/// A person of an org.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserView {
    pub id: UserId,
    pub org_id: OrgId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub roles: BTreeSet<Role>,
    pub created_by: PrincipalId,
    pub created_at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalletView {
    pub customer_id: OrgId,
    /// The seller, in whose book the wallet is the customer's 2203.
    pub book: OrgId,
    /// `cash` + `voucher`: the whole wallet.
    pub balance: Amount,
    /// 2203[customer]: credits − debits (recharges, refunds, and coupons granted before
    /// vouchers, which were booked there).
    pub cash: Amount,
    /// 2203.01[customer]: voucher credit, spent before cash, never withdrawn (expired vouchers
    /// count until they are booked out).
    pub voucher: Amount,
    /// `balance` less what withdrawals awaiting approval hold: what purchases may spend.
    pub available: Amount,
    /// Recharges requested, neither approved nor rejected yet.
    pub pending: Amount,
    pub currency: Currency,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrialBalanceAccount {
    pub code: AccountCode,
    pub name: String,
    pub account_type: AccountType,
    pub debit: Total,
    pub credit: Total,
    /// Signed by the account's normal side: positive when it is on that side.
    pub balance: SignedAmount,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrialBalanceView {
    pub book: OrgId,
    pub as_of: NaiveDate,
    pub currency: Currency,
    pub accounts: Vec<TrialBalanceAccount>,
    pub total_debit: Total,
    pub total_credit: Total,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerQuery {
    pub book: OrgId,
    pub account: Option<AccountCode>,
    pub party: Option<OrgId>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub cursor: Option<String>,
    /// At most [`LEDGER_PAGE_MAX`]; larger asks get that many, 0 gets one line.
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LedgerLine {
    pub position: u64,
    /// `<position>-<entry_idx>`.
    pub entry_id: String,
    pub line_idx: u32,
    pub date: NaiveDate,
    pub account: AccountCode,
    pub party: Option<OrgId>,
    pub debit: Amount,
    pub credit: Amount,
    /// With an account asked for: debit − credit of the account's lines (of the party's, with a
    /// party) from the start of the book through this one, signed by the account's normal side,
    /// whatever the page or dates. Without one, none.
    pub running_balance: Option<SignedAmount>,
    pub event_type: String,
    pub rule_id: String,
    pub rule_version: u32,
    /// `<position>.<pair>` on lines that mirror a line in another book.
    pub pair_id: Option<String>,
}

/// What the journal keeps of an event beside its lines in one book (`rm_journal_events`): the
/// link to the log and what a person looks for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JournalEventView {
    pub position: u64,
    /// The hash the log's chain holds for the event.
    pub event_hash: String,
    /// The order the event concerns (a payment, a refund, a renewal).
    pub order_id: Option<OrderId>,
    /// Its business reference as the book sees it: an id (a statement, a withdrawal, a batch),
    /// or text the book's own staff wrote (a recharge's slip, a refund's reason, a memo).
    pub reference: Option<String>,
}

pub type LedgerPage = Page<LedgerLine>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderQuery {
    pub seller: Option<OrgId>,
    pub customer_id: Option<OrgId>,
    pub status: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// The orders of the customers this user owns only (data scope without `customers.all`).
    pub customer_owner: Option<UserId>,
    pub cursor: Option<String>,
    /// At most [`ORDER_PAGE_MAX`].
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderHistoryEntry {
    pub status: String,
    pub at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderView {
    pub id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub status: String,
    pub total: Amount,
    pub paid: Amount,
    pub refunded: Amount,
    pub items: Vec<PricedItem>,
    pub history: Vec<OrderHistoryEntry>,
    pub placed_on: NaiveDate,
    pub invite_code: Option<String>,
    pub salesperson: Option<String>,
}

pub type OrderPage = Page<OrderView>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Granularity {
    Day,
    Month,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum KpiDimension {
    Product,
    Customer,
    Supplier,
    Reseller,
    Salesperson,
}

impl KpiDimension {
    /// The dimension's name in `rm_kpi_daily`.
    pub fn as_str(self) -> &'static str {
        match self {
            KpiDimension::Product => "product",
            KpiDimension::Customer => "customer",
            KpiDimension::Supplier => "supplier",
            KpiDimension::Reseller => "reseller",
            KpiDimension::Salesperson => "salesperson",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KpiQuery {
    pub book: OrgId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
    pub by: Option<KpiDimension>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KpiRow {
    /// `2026-01-15` by day, `2026-01` by month.
    pub period: String,
    /// The dimension's key (an id, or the salesperson); `None` for the totals, and for figures
    /// the dimension does not apply to (a direct sale has no child reseller).
    pub key: Option<String>,
    /// What the key names: the product's or the org's name; a salesperson is known by name
    /// alone, so it is the key.
    pub name: Option<String>,
    pub revenue: SignedAmount,
    pub discounts: SignedAmount,
    pub cost: SignedAmount,
    /// `revenue − discounts − cost`.
    pub gross_profit: SignedAmount,
    pub recharges: SignedAmount,
    pub refunds: SignedAmount,
    /// Commissions this book paid its resellers (6601 of commission events).
    pub commissions_paid: SignedAmount,
    /// Commissions this book earned from its parent (6051 of commission events).
    pub commissions_earned: SignedAmount,
    /// Refund penalties and other income (6051 of every other event).
    pub penalties: SignedAmount,
    /// Coupons, vouchers and other selling expenses (6601 of every other event).
    pub other_selling_expenses: SignedAmount,
    /// `gross_profit − commissions_paid + commissions_earned + penalties − other_selling_expenses`.
    pub net_profit: SignedAmount,
    /// The same key's headline figures in the period before (the day before; the whole month
    /// before), zero where it had none; `None` only on rows built by hand.
    pub previous: Option<KpiPrevious>,
}

/// A KPI row's period before, for period-over-period change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KpiPrevious {
    pub period: String,
    pub revenue: SignedAmount,
    pub gross_profit: SignedAmount,
    pub net_profit: SignedAmount,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SerialKpiRow {
    /// `2026-01`.
    pub period: String,
    pub days: u32,
    pub codes_issued: u64,
    pub codes_activated: u64,
    /// Revenue the activations recognised (Cr 6001 in the issuer's book).
    pub revenue: Amount,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalView {
    pub id: ApprovalId,
    pub book: OrgId,
    pub kind: String,
    pub requested_by: PrincipalId,
    pub proposal: serde_json::Value,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub position: u64,
    pub decided_by: Option<PrincipalId>,
    pub comment: Option<String>,
    /// The persons behind `requested_by` and `decided_by` (none for tokens issued before users).
    pub requested_by_user: Option<UserId>,
    pub decided_by_user: Option<UserId>,
    /// The levels it waits for, each the roles that may approve it.
    pub levels: Vec<ApprovalLevel>,
    /// The level it waits at (from 1); for a decided approval, the level it was decided at.
    pub current_level: u64,
    /// The policy's action it falls under, when its book's policy routed it.
    pub action: Option<String>,
    /// Its decisions, level by level.
    pub decisions: Vec<ApprovalDecisionView>,
}

/// One decision of an approval: a level granted, or the rejection that ended it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalDecisionView {
    pub level: u64,
    /// `granted` or `rejected`.
    pub decision: String,
    pub decided_by: PrincipalId,
    /// The person behind `decided_by` (none for a token issued before users).
    pub decided_by_user: Option<UserId>,
    pub comment: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub position: u64,
}

/// A book's approval policy as it set it: its rules, who set it, when, at which position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalPolicyView {
    pub rules: Vec<ApprovalRule>,
    pub set_by: PrincipalId,
    pub set_by_user: Option<UserId>,
    pub set_at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettlementView {
    pub id: SettlementId,
    pub book: OrgId,
    pub counterparty_id: OrgId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub statement_hash: String,
    pub receivable: SignedAmount,
    pub payable: SignedAmount,
    /// What the book pays the counterparty: payable − receivable (negative: it is paid).
    pub total: SignedAmount,
    pub through_position: u64,
    /// How many lines the statement has.
    pub line_count: u64,
    pub status: String,
    pub position: u64,
    /// The first page of its lines (as many as the query asked for).
    pub lines: StatementLinePage,
    /// Once paid: its parts owed in a foreign currency, as they were paid.
    pub exchange: Vec<ledger_core::event::SettlementExchange>,
}

/// A page of a statement's lines, in the statement's order (the order its hash covers them in).
pub type StatementLinePage = Page<StatementLine>;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccountBalanceView {
    pub account: AccountCode,
    pub party: Option<OrgId>,
    pub debit: Total,
    pub credit: Total,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProductView {
    pub id: ProductId,
    pub name: String,
    pub supplier_id: OrgId,
    pub owner_id: OrgId,
    pub list_price: UnitPrice,
    pub unit: String,
    pub supplier_rate: Option<Rate>,
    pub on_shelf: bool,
    /// The owner's child resellers it is hidden from (with everyone below them).
    pub hidden_from: std::collections::BTreeSet<OrgId>,
    /// List prices from later dates on (`list_price` before the first).
    pub scheduled_prices: BTreeMap<NaiveDate, UnitPrice>,
    /// The currency of its list prices when it is not its owner's book currency.
    pub currency: Option<Currency>,
}

impl ProductView {
    /// The list price in force on `date`.
    pub fn list_price_on(&self, date: NaiveDate) -> UnitPrice {
        ledger_core::pricing::list_price_on(self.list_price, &self.scheduled_prices, date)
    }
}

/// The most items one page of the lists below holds (orgs, approvals, statements, movements).
pub const PAGE_MAX: usize = 1_000;

/// One page of a list, and the cursor of the next (`None` on the last page).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Which orgs a list shows, in the order they were opened.
#[derive(Clone, Debug, Default)]
pub struct OrgQuery {
    pub kind: Option<OrgKind>,
    pub parent_id: Option<OrgId>,
    /// A part of the name, matched without regard to ASCII case.
    pub name: Option<String>,
    /// Of the customers, those this user owns only (data scope without `customers.all`);
    /// other kinds of org are not filtered by it.
    pub owner_id: Option<UserId>,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// A role an org defined.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleView {
    pub role: Role,
    pub permissions: PermissionSet,
    pub defined_by: PrincipalId,
    pub defined_at: DateTime<Utc>,
    pub position: u64,
}

/// A wallet movement that is not an order: a recharge, a withdrawal or a coupon.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MovementView {
    /// `recharge`, `withdrawal` or `coupon`.
    pub kind: String,
    /// The recharge's or withdrawal's id; a coupon's is the position of its grant.
    pub id: String,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    /// A recharge's method, a withdrawal's route.
    pub channel: Option<String>,
    /// A recharge's reference, a coupon's reason.
    pub reference: Option<String>,
    /// `requested`, `awaiting_payment` (an online recharge), `rejected`, `confirmed`, `reversed`, `paid` or `granted`.
    pub status: String,
    pub approval_id: Option<ApprovalId>,
    pub trade_number: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub requested_position: u64,
    pub booked_position: Option<u64>,
    pub reversed_position: Option<u64>,
    pub reversal_reason: Option<String>,
}

/// A promotion of a book: rates per product over its dates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PromotionView {
    pub id: PromotionId,
    pub book: OrgId,
    pub name: String,
    pub rates: BTreeMap<ProductId, Rate>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub position: u64,
    /// `exclusive` or `stackable`.
    pub stacking: String,
    /// `invite_code` or `everyone`.
    pub reach: String,
}

/// An invite code of a book, with its uses: the orders placed with it (whatever became of them).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InviteCodeView {
    pub code: String,
    pub book: OrgId,
    pub promotion_id: Option<PromotionId>,
    pub promotion_name: Option<String>,
    pub salesperson: Option<String>,
    pub uses: u64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_position: Option<u64>,
    pub last_order_id: Option<OrderId>,
    pub created_at: DateTime<Utc>,
    pub position: u64,
}

/// A batch of serial codes issued to a distributor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SerialBatchView {
    pub id: SerialBatchId,
    pub issuer_id: OrgId,
    pub distributor_id: OrgId,
    pub distributor_name: Option<String>,
    pub tier: DistributorTier,
    pub days: u32,
    pub count: u64,
    /// How many of its codes are activated.
    pub activated: u64,
    /// What the distributor pays per code.
    pub unit_price: Amount,
    pub total: Amount,
    pub issued_at: DateTime<Utc>,
    pub position: u64,
    /// The last day its codes may be activated (none: never expire).
    pub expires_on: Option<NaiveDate>,
    /// How many of its codes expired never activated.
    pub expired: u64,
}

/// A serial code: `issued`, or `activated` by a customer at a position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SerialCodeView {
    pub code: String,
    pub batch_id: SerialBatchId,
    pub issuer_id: OrgId,
    pub distributor_id: OrgId,
    pub distributor_name: Option<String>,
    pub days: u32,
    /// The code's share of its batch (the unit price), recognised as revenue at activation.
    pub amount: Amount,
    pub status: String,
    pub issued_position: u64,
    /// The code's index in its batch.
    pub index: u64,
    pub customer_id: Option<OrgId>,
    pub customer_name: Option<String>,
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_position: Option<u64>,
    pub expires_on: Option<NaiveDate>,
    /// The position of the `SerialCodesExpired` that booked it out.
    pub expired_position: Option<u64>,
}

/// Whose serial codes a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialScope {
    /// Every code (the platform's `super_admin`).
    All,
    /// The codes an org issued or was issued as a distributor.
    Org(OrgId),
    /// The codes a customer activated.
    Customer(OrgId),
}

/// Which serial codes a list shows, in the order they were issued.
#[derive(Clone, Debug)]
pub struct SerialCodeQuery {
    pub scope: SerialScope,
    pub distributor_id: Option<OrgId>,
    pub batch_id: Option<SerialBatchId>,
    /// `issued` or `activated`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// An invoice: `requested` (awaiting its approval), `issued` or `rejected`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InvoiceView {
    pub id: InvoiceId,
    pub customer_id: OrgId,
    pub customer_name: Option<String>,
    /// The seller, in whose book the invoice is issued.
    pub book: OrgId,
    pub amount: Amount,
    pub status: String,
    pub approval_id: Option<ApprovalId>,
    pub requested_at: DateTime<Utc>,
    pub requested_position: u64,
    pub issued_position: Option<u64>,
    /// `ordinary` or `special`; none for an invoice of the first contract.
    pub invoice_type: Option<String>,
    pub details: Option<crate::projection::registry::InvoiceDetailsRow>,
    pub tax_rate: Option<String>,
    pub tax_amount: Option<Amount>,
    pub red_lettered: Amount,
    pub red_letters: Vec<crate::projection::registry::RedLetter>,
    pub delivered_position: Option<u64>,
    pub voided_position: Option<u64>,
    pub void_reason: Option<String>,
}

/// Which invoices a list shows, in the order they were requested.
#[derive(Clone, Debug, Default)]
pub struct InvoiceQuery {
    pub book: Option<OrgId>,
    pub customer_id: Option<OrgId>,
    /// `requested`, `issued` or `rejected`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// A usage charge or a subscription renewal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChargeView {
    pub id: String,
    /// `usage` or `renewal`.
    pub kind: String,
    /// The order a renewal renewed.
    pub order_id: Option<OrderId>,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub items: Vec<PricedItem>,
    pub total: Amount,
    /// A usage charge's metered period.
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    /// A renewal's new end of the subscription.
    pub new_end: Option<NaiveDate>,
    pub charged_by: PrincipalId,
    pub charged_at: DateTime<Utc>,
    pub position: u64,
}

/// A close or a reopen of a book's period (`rm_period_events`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeriodEventView {
    pub book: OrgId,
    pub position: u64,
    /// `close` or `reopen`.
    pub kind: String,
    pub through: NaiveDate,
}

/// Where a recorded reconciliation is (`rm_reconciliations`); the rest is in its event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReconciliationView {
    pub id: ledger_core::ids::ReconciliationId,
    pub book: OrgId,
    pub account: AccountCode,
    pub position: u64,
}
