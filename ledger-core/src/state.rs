//! The decision state: everything a decider needs to judge a command, folded from the events by
//! [`State::evolve`], which cannot fail. The single writer owns one of these.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::approval_policy::{ApprovalLevel, ApprovalRule};
use crate::chart::{codes, AccountCode, Chart, Side};
use crate::event::*;
use crate::ids::*;
use crate::journal::{DebitCredit, Entry};
use crate::money::{Amount, Currency, ExchangeRate, Rate, SignedAmount, Total, UnitPrice};
use crate::org::{Actor, DistributorTier, Org, OrgKind, Role, SaleMode};
use crate::permissions::{self, PermissionSet};
use crate::pricing::{PriceKind, PriceWindow, PricedItem, RateScope, RateWindow};
use crate::rules::RuleSet;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub org_id: OrgId,
    pub currency: Currency,
    pub chart: Chart,
    pub closed_through: Option<NaiveDate>,
    /// The closes in force, oldest first: each period's last day and the position of its
    /// `PeriodClosed` (`closed_through` is the last one's day). A reopen undoes the last.
    /// No `serde(default)`: a snapshot from before reopens is not read, the log is.
    pub closes: Vec<(NaiveDate, u64)>,
    /// Accounts that have lines: they can never be retyped.
    pub accounts_with_lines: HashSet<AccountCode>,
    /// Debit and credit totals by account and day: trial balances as of any date.
    pub daily: BTreeMap<(AccountCode, NaiveDate), DebitCredit>,
    /// Σ debits (= Σ credits) of every line ever posted: bounds every total of the book.
    pub posted: Total,
    /// Open receivable and payable items by counterparty (resellers, suppliers, the parent),
    /// waiting for a settlement statement.
    pub open_items: HashMap<OrgId, Vec<StatementLine>>,
}

/// One row of a trial balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialBalanceRow {
    pub code: AccountCode,
    pub debit: Total,
    pub credit: Total,
}

impl Book {
    pub(crate) fn new(org_id: OrgId, currency: Currency) -> Book {
        Book {
            org_id,
            currency,
            chart: Chart::with_default_accounts(),
            closed_through: None,
            closes: Vec::new(),
            accounts_with_lines: HashSet::new(),
            daily: BTreeMap::new(),
            posted: Total::ZERO,
            open_items: HashMap::new(),
        }
    }

    /// Totals per account of every line dated on or before `as_of`.
    pub fn trial_balance(&self, as_of: NaiveDate) -> Vec<TrialBalanceRow> {
        let mut rows: BTreeMap<&AccountCode, DebitCredit> = BTreeMap::new();
        for ((code, date), totals) in &self.daily {
            if *date <= as_of {
                let row = rows.entry(code).or_default();
                row.debit = row.debit.plus_total(totals.debit);
                row.credit = row.credit.plus_total(totals.credit);
            }
        }
        rows.into_iter()
            .map(|(code, totals)| TrialBalanceRow { code: code.clone(), debit: totals.debit, credit: totals.credit })
            .collect()
    }
}

/// SHA-256 of the canonical JSON of a trial balance (rows sorted by code).
pub fn trial_balance_hash(rows: &[TrialBalanceRow]) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(rows).expect("rows serialise")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Wallet {
    /// The customer's cash: its 2203 balance in its seller's book (coupons granted before
    /// vouchers included: they were booked there).
    pub balance: Amount,
    /// Voucher credit (2203.01): the sum of the customer's open voucher grants
    /// (`State::vouchers`), expired ones included until they are booked out. Spent on
    /// purchases before cash, never withdrawn.
    #[serde(default)]
    pub voucher: Amount,
    /// Offline recharges awaiting approval (not yet money).
    pub pending_recharges: Amount,
    /// Withdrawals awaiting approval: held back from spending.
    pub reserved: Amount,
}

impl Wallet {
    pub fn available(&self) -> Amount {
        self.balance.checked_sub(self.reserved).unwrap_or(Amount::ZERO)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: ProductId,
    pub name: String,
    pub supplier_id: OrgId,
    pub owner_id: OrgId,
    pub list_price: UnitPrice,
    pub unit: String,
    pub supplier_rate: Option<Rate>,
    /// Off the shelf: orders for it are refused.
    #[serde(default)]
    pub off_shelf: bool,
    /// Child resellers of its owner it is hidden from (with everyone below them).
    #[serde(default)]
    pub hidden_from: BTreeSet<OrgId>,
    /// List prices from a date on (`ListPriceScheduled`); before the first, `list_price`.
    #[serde(default)]
    pub scheduled_prices: BTreeMap<NaiveDate, UnitPrice>,
    /// The currency of its list prices when it is not its owner's book currency.
    #[serde(default)]
    pub currency: Option<Currency>,
}

impl Product {
    /// The list price in force on `date`.
    pub fn list_price_on(&self, date: NaiveDate) -> UnitPrice {
        crate::pricing::list_price_on(self.list_price, &self.scheduled_prices, date)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Fulfilled,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub items: Vec<PricedItem>,
    pub total: Amount,
    pub status: OrderStatus,
    pub paid: Amount,
    pub refunded: Amount,
    /// What refunds have reversed so far, per share (see `decide::order_shares`).
    pub reversed: Vec<ShareAmounts>,
    pub subscription_end: Option<NaiveDate>,
    pub salesperson: Option<String>,
    /// Whether it has been fulfilled (a partial refund changes the status, not this).
    pub fulfilled: bool,
    /// The vouchers its payment spent, less what refunds gave back, per grant.
    #[serde(default)]
    pub vouchers: Vec<VoucherSlice>,
    /// What its payment took from vouchers (what refunds gave back not deducted).
    #[serde(default)]
    pub voucher_paid: Amount,
    /// What refunds gave back as vouchers (expired ones included, booked out at once).
    #[serde(default)]
    pub voucher_returned: Amount,
    /// Rebate commissions its payment accrued, and what refunds have reversed of them.
    #[serde(default)]
    pub commissions: Vec<OrderCommission>,
    /// When its `OrderPlaced` was recorded: an unpaid order times out from it.
    #[serde(default)]
    pub placed_at: Option<DateTime<Utc>>,
}

/// A book's terms for what the clock decides (`BookTermsSet`), or their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookTerms {
    /// An order unpaid this long after it was placed times out (`CancelReason::TimedOut`).
    pub order_payment_timeout_minutes: u32,
    /// Arrears fall due this many days after the purchase that drew them.
    pub arrears_due_days: u32,
    /// An auto-renewal is tried from this many days before the subscription ends.
    pub renewal_lead_days: u32,
}

impl Default for BookTerms {
    /// A day to pay an order, thirty days to repay arrears, renewals three days ahead.
    fn default() -> Self {
        BookTerms { order_payment_timeout_minutes: 24 * 60, arrears_due_days: 30, renewal_lead_days: 3 }
    }
}

/// Part of a customer's arrears (欠费) and the day it falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrearsSlice {
    pub due_on: NaiveDate,
    pub amount: Amount,
}

/// A customer's credit (信用额度) and what it owes on it.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CustomerCredit {
    pub limit: Amount,
    /// What it owes, by due date (earliest first; one slice per due date): repaid earliest first.
    /// The sum is at most the limit in force when each part was drawn, so within `AMOUNT_MAX`.
    pub arrears: Vec<ArrearsSlice>,
    /// The due date an `ArrearsOverdue` was recorded for: one notice per due date.
    pub overdue_noticed: Option<NaiveDate>,
}

impl CustomerCredit {
    pub fn arrears_total(&self) -> Amount {
        self.arrears.iter().fold(Amount::ZERO, |sum, slice| sum.checked_add(slice.amount).unwrap_or(Amount::MAX))
    }

    /// When the earliest part of the arrears falls due.
    pub fn due_on(&self) -> Option<NaiveDate> {
        self.arrears.first().map(|slice| slice.due_on)
    }

    /// Whether some of the arrears are past their due date on `today`.
    pub fn overdue_on(&self, today: NaiveDate) -> bool {
        self.due_on().is_some_and(|due_on| due_on < today)
    }
}

/// A subscription the clock renews before it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRenewal {
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    /// Periods of the products' unit each renewal buys.
    pub periods: u32,
    /// The subscription end an `AutoRenewalFailed` was recorded for: one notice per end.
    pub failed_for: Option<NaiveDate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCommission {
    pub payer_id: OrgId,
    pub reseller_id: OrgId,
    pub amount: Amount,
    pub reversed: Amount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShareAmounts {
    pub list: Amount,
    pub price: Amount,
    pub cost: Amount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Pending,
    Granted,
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pending => "pending",
            Decision::Granted => "granted",
            Decision::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub request: ApprovalRequested,
    pub decision: Decision,
    /// The levels it waits for, in order (`ApprovalRouted`; one level, admin or finance, for a
    /// request that names none).
    #[serde(default = "crate::approval_policy::default_levels")]
    pub levels: Vec<ApprovalLevel>,
    /// Who granted each level so far: the approval waits at level `granted_by.len() + 1`.
    #[serde(default)]
    pub granted_by: Vec<PrincipalId>,
}

impl Approval {
    /// The level it waits at (from 1), and that level's roles; `None` once every level granted.
    pub fn current_level(&self) -> Option<(usize, &ApprovalLevel)> {
        let index = self.granted_by.len();
        self.levels.get(index).map(|roles| (index + 1, roles))
    }
}

/// A book's approval policy as it set it (`ApprovalPolicySet`): its rules, and the position it
/// was set at. A book that never set one follows the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookPolicy {
    pub rules: Vec<ApprovalRule>,
    pub position: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RechargeStatus {
    Requested,
    /// An online recharge waiting for its payment notification (not a pending recharge: nothing
    /// is held or shown pending until the money arrives).
    AwaitingPayment,
    Confirmed,
    Rejected,
    Reversed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recharge {
    pub recharge_id: RechargeId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub method: RechargeMethod,
    pub status: RechargeStatus,
    pub reversal_pending: bool,
    /// The online channel that paid it.
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WithdrawalStatus {
    Requested,
    Paid,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub withdrawal_id: WithdrawalId,
    pub customer_id: OrgId,
    pub amount: Amount,
    pub route: WithdrawalRoute,
    pub status: WithdrawalStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialCodeState {
    pub batch_id: SerialBatchId,
    pub issuer_id: OrgId,
    pub distributor_id: OrgId,
    pub days: u32,
    pub unit_price: Amount,
    pub activated_by: Option<OrgId>,
    /// Booked out past its batch's expiry (`SerialCodesExpired`): never activated any more.
    #[serde(default)]
    pub expired: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub statement: SettlementStatementIssued,
    pub paid: bool,
    pub payment_pending: bool,
    /// What its lines owe in a foreign currency (items priced in the supplier's currency), by
    /// currency: paid at the rate of the payment's day, the difference booked to 6603.
    #[serde(default)]
    pub foreign: Vec<ForeignPart>,
}

/// A part of a supplier's payable in a foreign currency: what is owed in it, and what the book
/// booked for it in its own currency (at the items' rates). Both signed: positive is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignPart {
    pub currency: Currency,
    pub owed: SignedAmount,
    pub booked: SignedAmount,
}

/// One open payable line's foreign part (`State::foreign_payables`), dated and positioned as the
/// line it belongs to, so a statement's selection covers both alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignItem {
    pub position: u64,
    pub date: NaiveDate,
    pub part: ForeignPart,
}

/// Where an invoice is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoiceStatus {
    Requested,
    Issued,
    Delivered,
    Voided,
    Rejected,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Requested => "requested",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Delivered => "delivered",
            InvoiceStatus::Voided => "void",
            InvoiceStatus::Rejected => "rejected",
        }
    }
}

/// An invoice: its amount, type and rate, where it is, and what red-letter invoices reversed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub invoice_type: InvoiceType,
    pub tax_rate: Rate,
    pub status: InvoiceStatus,
    pub red_lettered: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    pub customer_id: OrgId,
    pub amount: Amount,
}

/// A person of an org: the roles their tokens may carry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct User {
    pub org_id: OrgId,
    pub roles: BTreeSet<Role>,
}

/// A serial batch's expiry and the codes still waiting for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialExpiry {
    pub expires_on: NaiveDate,
    pub open_codes: Vec<SerialCode>,
}

/// A token: whom it acts for and until when.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Principal {
    pub org_id: OrgId,
    pub user_id: Option<UserId>,
    pub roles: BTreeSet<Role>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
}

/// Who is behind a principal: its user, or, for a token issued before users, the token itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Person {
    User(UserId),
    Token(PrincipalId),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub platform_id: Option<OrgId>,
    pub orgs: HashMap<OrgId, Org>,
    pub books: HashMap<OrgId, Book>,
    pub rules: RuleSet,
    pub products: HashMap<ProductId, Product>,
    pub rates: HashMap<(OrgId, ProductId, RateScope), RateWindow>,
    /// Each book's exchange rates for a foreign currency, by the date they take effect, with
    /// their source (`ExchangeRateSet`).
    #[serde(default)]
    pub exchange_rates: HashMap<(OrgId, Currency), BTreeMap<NaiveDate, (ExchangeRate, String)>>,
    /// The currency of each supplier's agreement (`SupplierTermsSet`): its products' currency
    /// unless they name another.
    #[serde(default)]
    pub supplier_currencies: HashMap<OrgId, Currency>,
    /// By (book, supplier): the foreign parts of the open payable lines of items priced in a
    /// foreign currency, until a statement covers them.
    #[serde(default)]
    pub foreign_payables: HashMap<(OrgId, OrgId), Vec<ForeignItem>>,
    pub promotions: HashMap<PromotionId, PromotionCreated>,
    /// Invite codes by (book, code): unique within a book only, so a book learns nothing of
    /// another's codes, and a code is resolved within the seller's book.
    pub invite_codes: HashMap<(OrgId, InviteCode), InviteCodeCreated>,
    pub wallets: HashMap<OrgId, Wallet>,
    /// Each customer's open voucher grants (what is left of each), in the order they are spent:
    /// earliest expiry first, those without one last, then the oldest grant. At most
    /// `VOUCHER_GRANTS_MAX` per customer.
    #[serde(default)]
    pub vouchers: HashMap<OrgId, Vec<VoucherSlice>>,
    /// Per customer and online channel: what came in through the channel (online recharges and
    /// online order payments) less what went back through it (reversals, `original`
    /// withdrawals): the most an `original` withdrawal may pay back to it.
    #[serde(default)]
    pub returnable_online: HashMap<(OrgId, String), Total>,
    pub recharges: HashMap<RechargeId, Recharge>,
    pub trade_numbers: HashSet<(String, TradeNumber)>,
    pub withdrawals: HashMap<WithdrawalId, Withdrawal>,
    pub orders: HashMap<OrderId, Order>,
    pub approvals: HashMap<ApprovalId, Approval>,
    pub serial_prices: BTreeMap<u32, Amount>,
    pub tier_rates: BTreeMap<DistributorTier, Rate>,
    pub distributor_tiers: HashMap<OrgId, DistributorTier>,
    pub serial_codes: HashMap<SerialCode, SerialCodeState>,
    pub serial_batches: HashSet<SerialBatchId>,
    /// Batches with an expiry, and their codes not yet activated nor expired (in issue order):
    /// what the clock books out once the day has passed. A batch leaves when none is left.
    #[serde(default)]
    pub serial_expiries: BTreeMap<SerialBatchId, SerialExpiry>,
    pub settlements: HashMap<SettlementId, Settlement>,
    /// Paid, not yet invoiced, per customer.
    pub invoiceable: HashMap<OrgId, Total>,
    pub invoice_requests: HashMap<InvoiceId, InvoiceRequest>,
    pub issued_invoices: HashSet<InvoiceId>,
    pub usages: HashSet<UsageId>,
    pub renewals: HashSet<RenewalId>,
    /// Tokens issued, by principal, and their hashes: each is unique (a token names one
    /// principal).
    #[serde(default)]
    pub principals: HashMap<PrincipalId, Principal>,
    #[serde(default)]
    pub token_hashes: HashSet<String>,
    #[serde(default)]
    pub users: HashMap<UserId, User>,
    /// The deployment's admin token (`KBOSS_ADMIN_TOKEN`), the one `SetAdminToken` replaces.
    #[serde(default)]
    pub deployment_admin: Option<PrincipalId>,
    /// The roles orgs defined (custom ones, and their versions of finance, sales, operations).
    /// No `serde(default)`: a snapshot from before roles and owners is not read, the log is.
    pub role_definitions: HashMap<(OrgId, Role), PermissionSet>,
    /// Each customer's owner: a user of its seller (data scope without `customers.all`).
    pub customer_owners: HashMap<OrgId, UserId>,
    /// Each book's approval policy, once it sets one.
    #[serde(default)]
    pub approval_policies: HashMap<OrgId, BookPolicy>,
    /// Orgs' profiles, once updated (`OrgProfileUpdated`).
    #[serde(default)]
    pub profiles: HashMap<OrgId, OrgProfile>,
    /// Orgs closed (注销) and not reopened.
    #[serde(default)]
    pub closed_orgs: HashSet<OrgId>,
    /// Resellers' sale modes from later dates on (`SaleModeScheduled`).
    #[serde(default)]
    pub scheduled_sale_modes: HashMap<OrgId, BTreeMap<NaiveDate, SaleMode>>,
    /// Every invoice by id (those issued before invoices had details too, as ordinary ones).
    #[serde(default)]
    pub invoices: HashMap<InvoiceId, Invoice>,
    /// Per customer: what was invoiced beyond what it paid once refunds gave money back; a
    /// red-letter or voided invoice makes up for it before anything becomes invoiceable again.
    #[serde(default)]
    pub over_invoiced: HashMap<OrgId, Total>,
    /// Customers' low-balance thresholds (the invariant monitors send a notice per crossing).
    #[serde(default)]
    pub low_balance_thresholds: HashMap<OrgId, Amount>,
    /// Reconciliations recorded (their ids are never reused).
    #[serde(default)]
    pub reconciliations: HashSet<ReconciliationId>,
    /// Each customer's credit limit and arrears, once it has had a limit or a draw.
    #[serde(default)]
    pub credit: HashMap<OrgId, CustomerCredit>,
    /// Each book's terms, once it sets them (`BookTerms::default` otherwise).
    #[serde(default)]
    pub book_terms: HashMap<OrgId, BookTerms>,
    /// Settlement cycles by (book, counterparty), in a stable order for the clock.
    #[serde(default)]
    pub settlement_cycles: BTreeMap<(OrgId, OrgId), SettlementCycle>,
    /// Orders awaiting payment by when they were placed: what the clock times out, oldest first.
    /// No `serde(default)`: a snapshot from before the clock is not read, the log is (it would
    /// lack the orders already waiting).
    pub awaiting_payment: BTreeSet<(DateTime<Utc>, OrderId)>,
    /// Subscriptions with auto-renewal on, in a stable order for the clock.
    #[serde(default)]
    pub auto_renewals: BTreeMap<OrderId, AutoRenewal>,
    /// Fixed, first-order and tiered prices by (book, product, scope, kind).
    #[serde(default)]
    pub prices: HashMap<(OrgId, ProductId, RateScope, PriceKind), PriceWindow>,
    /// Promotions' stacking and reach, once set (exclusive, through invite codes, otherwise).
    #[serde(default)]
    pub promotion_terms: HashMap<PromotionId, PromotionTermsSet>,
    /// Each book's promotions that reach every customer.
    #[serde(default)]
    pub open_promotions: HashMap<OrgId, BTreeSet<PromotionId>>,
    /// (seller, customer, product) of every paid order's items: the customer's first order of
    /// the product from the seller is behind it. No `serde(default)`: a snapshot from before
    /// first-order prices is not read, the log is (it would lack the orders paid already).
    pub first_orders_used: HashSet<(OrgId, OrgId, ProductId)>,
    pub last_position: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            platform_id: None,
            orgs: HashMap::new(),
            books: HashMap::new(),
            rules: RuleSet::default(),
            products: HashMap::new(),
            rates: HashMap::new(),
            exchange_rates: HashMap::new(),
            supplier_currencies: HashMap::new(),
            foreign_payables: HashMap::new(),
            promotions: HashMap::new(),
            invite_codes: HashMap::new(),
            wallets: HashMap::new(),
            vouchers: HashMap::new(),
            returnable_online: HashMap::new(),
            recharges: HashMap::new(),
            trade_numbers: HashSet::new(),
            withdrawals: HashMap::new(),
            orders: HashMap::new(),
            approvals: HashMap::new(),
            serial_prices: BTreeMap::new(),
            tier_rates: BTreeMap::new(),
            distributor_tiers: HashMap::new(),
            serial_codes: HashMap::new(),
            serial_batches: HashSet::new(),
            serial_expiries: BTreeMap::new(),
            settlements: HashMap::new(),
            invoiceable: HashMap::new(),
            invoice_requests: HashMap::new(),
            issued_invoices: HashSet::new(),
            usages: HashSet::new(),
            renewals: HashSet::new(),
            principals: HashMap::new(),
            token_hashes: HashSet::new(),
            users: HashMap::new(),
            deployment_admin: None,
            role_definitions: HashMap::new(),
            customer_owners: HashMap::new(),
            approval_policies: HashMap::new(),
            profiles: HashMap::new(),
            closed_orgs: HashSet::new(),
            scheduled_sale_modes: HashMap::new(),
            invoices: HashMap::new(),
            over_invoiced: HashMap::new(),
            low_balance_thresholds: HashMap::new(),
            reconciliations: HashSet::new(),
            credit: HashMap::new(),
            book_terms: HashMap::new(),
            settlement_cycles: BTreeMap::new(),
            awaiting_payment: BTreeSet::new(),
            auto_renewals: BTreeMap::new(),
            prices: HashMap::new(),
            promotion_terms: HashMap::new(),
            open_promotions: HashMap::new(),
            first_orders_used: HashSet::new(),
            last_position: 0,
        }
    }
}

impl State {
    /// What an actor's roles allow in its org, the org's own definitions of them included.
    pub fn permissions_of(&self, actor: &Actor) -> PermissionSet {
        permissions::resolve(&actor.roles, |role| self.role_definitions.get(&(actor.org_id, role)).copied())
    }

    /// The person behind a principal (maker-checker compares persons, not tokens).
    pub fn person_of(&self, principal_id: PrincipalId) -> Person {
        match self.principals.get(&principal_id).and_then(|principal| principal.user_id) {
            Some(user_id) => Person::User(user_id),
            None => Person::Token(principal_id),
        }
    }

    /// The rules a book's approval policy set (none: the defaults for every action).
    pub fn approval_rules(&self, book: OrgId) -> &[ApprovalRule] {
        self.approval_policies.get(&book).map_or(&[], |policy| policy.rules.as_slice())
    }

    /// A reseller's sale mode on `date`: the latest scheduled on or before it, else the one set.
    pub fn sale_mode_on(&self, org_id: OrgId, date: NaiveDate) -> Option<SaleMode> {
        let scheduled = self.scheduled_sale_modes.get(&org_id).and_then(|modes| modes.range(..=date).next_back());
        scheduled.map(|(_, mode)| *mode).or_else(|| self.orgs.get(&org_id).map(|org| org.sale_mode))
    }

    pub fn org(&self, id: OrgId) -> Option<&Org> {
        self.orgs.get(&id)
    }

    pub fn wallet(&self, customer: OrgId) -> Wallet {
        self.wallets.get(&customer).copied().unwrap_or_default()
    }

    /// A customer's open voucher grants, in the order they are spent.
    pub fn vouchers_of(&self, customer: OrgId) -> &[VoucherSlice] {
        self.vouchers.get(&customer).map_or(&[], Vec::as_slice)
    }

    /// What an `original` withdrawal may pay back to each of a customer's online channels,
    /// by channel name.
    pub fn returnable_of(&self, customer: OrgId) -> BTreeMap<&str, Total> {
        self.returnable_online
            .iter()
            .filter(|((id, _), total)| *id == customer && !total.is_zero())
            .map(|((_, channel), total)| (channel.as_str(), *total))
            .collect()
    }

    pub fn book(&self, id: OrgId) -> Option<&Book> {
        self.books.get(&id)
    }

    /// A customer's credit limit (zero when it has none).
    pub fn credit_limit_of(&self, customer: OrgId) -> Amount {
        self.credit.get(&customer).map_or(Amount::ZERO, |credit| credit.limit)
    }

    /// What a customer owes on its credit (欠费): its 1122 balance in its seller's book.
    pub fn arrears_of(&self, customer: OrgId) -> Amount {
        self.credit.get(&customer).map_or(Amount::ZERO, CustomerCredit::arrears_total)
    }

    /// A book's terms: what it set, or the defaults.
    pub fn terms_of(&self, book: OrgId) -> BookTerms {
        self.book_terms.get(&book).copied().unwrap_or_default()
    }

    /// The settlement already issued for exactly this book, counterparty and period, if any.
    pub fn find_settlement(
        &self,
        book: OrgId,
        counterparty: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Option<&Settlement> {
        self.settlements.values().find(|settlement| {
            let statement = &settlement.statement;
            statement.book == book
                && statement.counterparty_id == counterparty
                && statement.from == from
                && statement.to == to
        })
    }

    pub(crate) fn post_entry(&mut self, position: u64, entry: &Entry) {
        entry.assert_balanced();
        let is_settlement = entry.rule.id.starts_with("settlement/");
        let book = self.books.get_mut(&entry.book).expect("entries are booked in open books");
        for line in &entry.lines {
            book.daily.entry((line.account.clone(), entry.date)).or_default().post(line.side, line.amount);
            if line.side == Side::Debit {
                book.posted = book.posted.plus(line.amount);
            }
            if !book.accounts_with_lines.contains(&line.account) {
                book.accounts_with_lines.insert(line.account.clone());
            }
            let Some(party) = line.party else { continue };
            let party_kind = self.orgs.get(&party).map(|org| org.kind);
            let code = line.account.as_str();
            let settles = matches!(party_kind, Some(OrgKind::Reseller | OrgKind::Platform | OrgKind::Supplier));
            if settles && !is_settlement && (code == codes::RECEIVABLES || code == codes::PAYABLES) {
                let (debit, credit) = match line.side {
                    Side::Debit => (line.amount, Amount::ZERO),
                    Side::Credit => (Amount::ZERO, line.amount),
                };
                book.open_items.entry(party).or_default().push(StatementLine {
                    position,
                    date: entry.date,
                    account: line.account.clone(),
                    debit,
                    credit,
                });
            }
        }
    }

    /// What invoices no longer cover (a red-letter invoice, a void): it makes up for what was
    /// invoiced beyond the refunds first, then becomes invoiceable again.
    pub(crate) fn uninvoice(&mut self, customer: OrgId, amount: Amount) {
        let over = self.over_invoiced.entry(customer).or_default();
        // Below `amount`, what was over-invoiced is an amount.
        let offset = if Total::from(amount) <= *over { amount } else { over.to_amount().expect("below an amount") };
        *over = over.saturating_sub(offset);
        self.add_invoiceable(customer, amount.minus(offset));
    }

    /// What a refund gives back: no longer invoiceable, or, beyond what was, invoiced too much.
    pub(crate) fn refund_invoiceable(&mut self, customer: OrgId, amount: Amount) {
        let invoiceable = self.invoiceable.entry(customer).or_default();
        if Total::from(amount) <= *invoiceable {
            *invoiceable = invoiceable.saturating_sub(amount);
        } else {
            // Below `amount`, what was invoiceable is an amount.
            let beyond = amount.minus(invoiceable.to_amount().expect("below an amount"));
            *invoiceable = Total::ZERO;
            let over = self.over_invoiced.entry(customer).or_default();
            *over = over.plus(beyond);
        }
    }

    pub(crate) fn add_invoiceable(&mut self, customer: OrgId, amount: Amount) {
        let invoiceable = self.invoiceable.entry(customer).or_default();
        *invoiceable = invoiceable.plus(amount);
    }

    /// The 2203 balance of one customer, from the books (for the invariant monitor).
    pub fn signed_balance_of(&self, book: OrgId, code: &AccountCode) -> SignedAmount {
        let Some(book) = self.books.get(&book) else { return SignedAmount::ZERO };
        book.daily
            .iter()
            .filter(|((account, _), _)| account == code)
            .fold(SignedAmount::ZERO, |sum, (_, totals)| sum.plus(totals.net_debit()))
    }
}
