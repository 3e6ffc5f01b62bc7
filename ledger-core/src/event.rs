//! Events: the facts of the log, their envelope (DESIGN §3), the canonical encoding and the
//! SHA-256 chain.
//!
//! Each event type has a stable `event_type` (its variant name) and a `schema_version`. A
//! committed event is never rewritten: a change of shape is a new schema version, and old
//! versions are upcast on read (a binary record by `crate::record::decode`, a v1 JSON record by
//! [`RecordedEvent::decode_v1`], a payload's JSON by [`upcast`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::approval_policy::{ApprovalAction, ApprovalLevel, ApprovalRule};
use crate::chart::Account;
use crate::ids::*;
use crate::journal::{Entry, Line};
use crate::money::{Amount, Currency, ExchangeRate, Rate, SignedAmount, Total, UnitPrice};
use crate::org::{Actor, DistributorTier, Org, Role, SaleMode};
use crate::permissions::Permission;
use crate::pricing::{PricedItem, RateScope};
use crate::reconcile::{LedgerItem, MatchGroup, StatementFormat, StatementRow, Tolerance};
use crate::rules::{PartyRef, PostingRule};

/// The largest record the log accepts for one event. A command whose event would be larger is
/// refused when it is decided (`DomainError::EventTooLarge`, see `crate::log::stage`), so no
/// store ever meets one.
pub const EVENT_BYTES_MAX: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RechargeMethod {
    Online,
    Offline,
    Transfer,
}

impl RechargeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RechargeMethod::Online => "online",
            RechargeMethod::Offline => "offline",
            RechargeMethod::Transfer => "transfer",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalRoute {
    /// Back along the channel the money came in by (no approval).
    Original,
    /// By bank transfer, after approval.
    Offline,
}

impl WithdrawalRoute {
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalRoute::Original => "original",
            WithdrawalRoute::Offline => "offline",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    Recharge,
    RechargeReversal,
    Withdrawal,
    SpecialRate,
    SettlementPayment,
    Invoice,
    Coupon,
    Refund,
    Promotion,
    /// 手工凭证.
    ManualEntry,
    /// Reopening a closed period (its written reason in the proposal).
    PeriodReopen,
    /// 授信额度: a customer's credit limit raised.
    CreditLimit,
}

impl ApprovalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::Recharge => "recharge",
            ApprovalKind::RechargeReversal => "recharge_reversal",
            ApprovalKind::Withdrawal => "withdrawal",
            ApprovalKind::SpecialRate => "special_rate",
            ApprovalKind::SettlementPayment => "settlement_payment",
            ApprovalKind::Invoice => "invoice",
            ApprovalKind::Coupon => "coupon",
            ApprovalKind::Refund => "refund",
            ApprovalKind::Promotion => "promotion",
            ApprovalKind::ManualEntry => "manual_entry",
            ApprovalKind::PeriodReopen => "period_reopen",
            ApprovalKind::CreditLimit => "credit_limit",
        }
    }
}

/// What an approval, once granted, carries out.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Proposal {
    ConfirmRecharge {
        recharge_id: RechargeId,
    },
    ReverseRecharge {
        recharge_id: RechargeId,
        reason: String,
    },
    PayWithdrawal {
        withdrawal_id: WithdrawalId,
    },
    SetRate(RateSet),
    PaySettlement {
        settlement_id: SettlementId,
    },
    IssueInvoice {
        invoice_id: InvoiceId,
        customer_id: OrgId,
        amount: Amount,
    },
    /// A coupon above the book's threshold for coupons.
    GrantCoupon {
        customer_id: OrgId,
        amount: Amount,
        reason: String,
        /// The voucher's expiry, if it has one.
        expires_on: Option<NaiveDate>,
    },
    /// A refund above the book's threshold for refunds.
    RefundOrder {
        order_id: OrderId,
        amount: Amount,
        penalty: Amount,
        reason: String,
    },
    /// A promotion with a rate below the book's own cost.
    CreatePromotion(PromotionCreated),
    /// 手工凭证: a journal entry a person wrote, booked on `date` in the approval's book.
    BookManualEntry {
        date: NaiveDate,
        lines: Vec<Line>,
        memo: String,
    },
    /// Reopening the book's last closed period, which ends on `through`, for the reason given.
    ReopenPeriod {
        book: OrgId,
        through: NaiveDate,
        reason: String,
    },
    /// A customer's credit limit raised (信用额度), by the new limit.
    SetCreditLimit {
        customer_id: OrgId,
        limit: Amount,
    },
    /// A fixed, first-order or tiered price below the book's own cost (`PriceSet`).
    SetPrice(PriceSet),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    ByCustomer,
    ByAdmin,
    /// Unpaid past the payment deadline.
    TimedOut,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrgOpened {
    pub org: Org,
}

/// A person of an org, with the roles the tokens they hold may carry (schema v1).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserCreated {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub roles: BTreeSet<Role>,
    pub created_by: PrincipalId,
}

/// A bearer token (a principal) that acts for `org_id` with `roles`, known by the SHA-256 of its
/// text (schema v2: the user who holds it, its expiry, whether it is the deployment's admin
/// token; v1 tokens, issued before users, are each their own person: [`TokenIssuedV1`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenIssued {
    pub principal_id: PrincipalId,
    pub org_id: OrgId,
    /// The person the token acts for (none only for v1 tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The user's roles, or fewer.
    pub roles: BTreeSet<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// From this instant the token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The deployment's admin token (`KBOSS_ADMIN_TOKEN`, or the one generated at the first
    /// start): the one `kboss admin rotate-token` replaces. One at a time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deployment_admin: bool,
    /// Lowercase hex SHA-256 of the token; the token itself is never stored.
    pub token_hash: String,
    pub issued_by: PrincipalId,
}

/// `TokenIssued` as schema v1 wrote it (no user, no expiry). Read, never written.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TokenIssuedV1 {
    pub principal_id: PrincipalId,
    pub org_id: OrgId,
    pub roles: BTreeSet<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub token_hash: String,
    pub issued_by: PrincipalId,
}

impl TokenIssuedV1 {
    /// Today's event. A v1 token has no user (it is its own person) and no expiry; the one token
    /// the deployment issued itself at bootstrap (issued by its own principal: no token existed
    /// to issue it) is the deployment's admin token.
    pub fn upcast(self) -> TokenIssued {
        TokenIssued {
            deployment_admin: self.issued_by == self.principal_id,
            principal_id: self.principal_id,
            org_id: self.org_id,
            user_id: None,
            roles: self.roles,
            label: self.label,
            expires_at: None,
            token_hash: self.token_hash,
            issued_by: self.issued_by,
        }
    }

    /// The v1 event an upcast one came from.
    pub fn of(token: &TokenIssued) -> TokenIssuedV1 {
        TokenIssuedV1 {
            principal_id: token.principal_id,
            org_id: token.org_id,
            roles: token.roles.clone(),
            label: token.label.clone(),
            token_hash: token.token_hash.clone(),
            issued_by: token.issued_by,
        }
    }
}

/// A token is refused from now on, by every instance (schema v1).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenRevoked {
    pub principal_id: PrincipalId,
    pub org_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub revoked_by: PrincipalId,
}

/// An org's definition of a role: a custom one, or its version of `finance`, `sales` or
/// `operations` (schema v1). It replaces the previous definition whole.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RoleDefined {
    pub org_id: OrgId,
    pub role: Role,
    pub permissions: BTreeSet<Permission>,
}

/// The person (a user of the seller) who owns a customer: staff whose roles lack
/// `customers.all` act for and read only the customers they own (schema v1). A customer opened
/// by a person is theirs until this says otherwise.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerOwnerSet {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub owner_id: UserId,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccountOpened {
    pub book: OrgId,
    pub account: Account,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostingRulesSet {
    /// The rules adopted, each with the version it is adopted at.
    pub rules: Vec<PostingRule>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SaleModeSet {
    pub reseller_id: OrgId,
    pub sale_mode: SaleMode,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProductCreated {
    pub product_id: ProductId,
    pub name: String,
    pub supplier_id: OrgId,
    /// The org whose supplier it is: the top of every chain that sells it.
    pub owner_id: OrgId,
    pub list_price: UnitPrice,
    pub unit: String,
    /// The currency `list_price` is in, when it is not the owner's book currency (a supplier
    /// that bills in USD to a book kept in CNY): orders convert it at the owner's exchange rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

/// A book's exchange rate for a foreign currency from a date on: one unit of `currency` is
/// worth `rate` in the book's currency. Every rate set is kept; an item priced in `currency`
/// uses the latest one dated on or before its own date, and keeps it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExchangeRateSet {
    pub book: OrgId,
    pub currency: Currency,
    pub rate: ExchangeRate,
    /// Where the rate comes from (`PBOC central parity`, a bank's quote).
    pub source: String,
    pub effective_from: NaiveDate,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SupplierRateSet {
    pub product_id: ProductId,
    pub rate: Rate,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RateSet {
    pub book: OrgId,
    pub product_id: ProductId,
    pub scope: RateScope,
    pub rate: Rate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<NaiveDate>,
}

/// A fixed, first-order or tiered price a book sets for a product and scope, beside its rate
/// (one of each kind per book, product and scope: a new one replaces it).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceSet {
    pub book: OrgId,
    pub product_id: ProductId,
    pub scope: RateScope,
    pub rule: crate::pricing::PriceRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<NaiveDate>,
}

/// How a promotion combines with others and whom it reaches (a promotion without terms is
/// exclusive and reached through invite codes).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromotionTermsSet {
    pub promotion_id: PromotionId,
    pub book: OrgId,
    pub stacking: crate::pricing::Stacking,
    pub reach: crate::pricing::PromotionReach,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromotionCreated {
    pub promotion_id: PromotionId,
    pub book: OrgId,
    pub name: String,
    pub rates: BTreeMap<ProductId, Rate>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InviteCodeCreated {
    pub code: InviteCode,
    pub book: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_id: Option<PromotionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesperson: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRequested {
    pub approval_id: ApprovalId,
    pub book: OrgId,
    pub kind: ApprovalKind,
    pub requested_by: PrincipalId,
    pub proposal: Proposal,
}

/// A book's approval policy (schema v1): its rules, each replacing its action's default; the
/// actions it names no rule for follow their defaults (`crate::approval_policy`). Set by the
/// book's admin; the whole policy each time.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalPolicySet {
    pub book: OrgId,
    pub rules: Vec<ApprovalRule>,
}

/// The levels an approval waits for, under its book's policy when it was requested (schema v1):
/// follows its `ApprovalRequested` in the same command. A request without one (every request
/// before policies, and any whose rule is the default) has one level, admin or finance.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRouted {
    pub approval_id: ApprovalId,
    /// The policy's action the request falls under.
    pub action: ApprovalAction,
    pub levels: Vec<ApprovalLevel>,
}

/// One level of a multi-level approval granted, not the last (schema v1): the approval moves
/// on to the next level. The last level's grant is `ApprovalGranted`, with the effect.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalLevelGranted {
    pub approval_id: ApprovalId,
    /// The level granted, from 1.
    pub level: u32,
    pub decided_by: PrincipalId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalDecided {
    pub approval_id: ApprovalId,
    pub decided_by: PrincipalId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RechargeRequested {
    pub recharge_id: RechargeId,
    pub approval_id: ApprovalId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub method: RechargeMethod,
    pub reference: String,
}

/// An online recharge a customer is about to pay through a payment channel: nothing is booked
/// until the channel's notification pays it, for exactly `amount` (`RechargeConfirmed`, with
/// its channel and trade number). The channel's `out_trade_no` is `recharge_id`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OnlineRechargeRequested {
    pub recharge_id: RechargeId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub reference: String,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RechargeConfirmed {
    pub recharge_id: RechargeId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub method: RechargeMethod,
    pub reference: String,
    /// The channel and its trade number, for online recharges (the notification's idempotency key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_number: Option<TradeNumber>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RechargeReversed {
    pub recharge_id: RechargeId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub reason: String,
}

/// A coupon as logs before vouchers booked it: credited to the customer's prepayments (2203),
/// so it is cash in every log that holds one (read, never written: a grant is a
/// [`VoucherGranted`] now).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CouponGranted {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub reason: String,
}

/// Voucher credit (代金券) granted to a customer: booked in 2203.01, apart from cash; spent on
/// purchases, never withdrawn. Known as the coupon whose id is this event's position.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VoucherGranted {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub reason: String,
    /// From this accounting date on, what is left of it cannot be spent and is booked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
}

/// Part of one voucher grant: the coupon (the position of its `VoucherGranted`), its expiry
/// and an amount of it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VoucherSlice {
    pub coupon: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
    pub amount: Amount,
}

/// Vouchers spent on a purchase (`source_id`: the order, usage charge or renewal), in the
/// documented order (earliest expiry first, then the oldest grant); the sale's event follows
/// in the same command and debits the rest from cash.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VoucherRedeemed {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub source_id: Uuid,
    pub slices: Vec<VoucherSlice>,
    pub amount: Amount,
}

/// The voucher part of a refund, given back to the grants it was spent from.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VoucherReturned {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub order_id: OrderId,
    pub slices: Vec<VoucherSlice>,
    pub amount: Amount,
}

/// Vouchers past their expiry, booked out of the customer's voucher credit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VoucherExpired {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub slices: Vec<VoucherSlice>,
    pub amount: Amount,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub items: Vec<PricedItem>,
    pub total: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<InviteCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesperson: Option<String>,
}

/// Paying from balance. The sale's items and their waterfall are the order's, as
/// `OrderPlaced` recorded them: this event refers to them by `order_id` and does not repeat
/// them (v1 did; `kboss migrate` drops the copy). Its entries are the sale's lines in every book.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPaid {
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub total: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesperson: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderFulfilled {
    pub order_id: OrderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_end: Option<NaiveDate>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderCancelled {
    pub order_id: OrderId,
    pub reason: CancelReason,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRefunded {
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    /// The part of the sale reversed.
    pub amount: Amount,
    /// Kept by the seller (6051); the wallet gets `amount - penalty`.
    pub penalty: Amount,
    pub reason: String,
    /// Refunded so far, this refund included.
    pub refunded_total: Amount,
    pub fully_refunded: bool,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WithdrawalRequested {
    pub withdrawal_id: WithdrawalId,
    pub approval_id: ApprovalId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub route: WithdrawalRoute,
}

/// A withdrawal paid out (schema v2: the channel an `original` one went back through; v1,
/// [`WithdrawalPaidV1`], named none).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WithdrawalPaid {
    pub withdrawal_id: WithdrawalId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub route: WithdrawalRoute,
    /// The online channel an `original` withdrawal was paid back through; none for `offline`,
    /// and for v1 events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// `WithdrawalPaid` as schema v1 wrote it (no channel). Read, never written.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct WithdrawalPaidV1 {
    pub withdrawal_id: WithdrawalId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub route: WithdrawalRoute,
}

impl WithdrawalPaidV1 {
    /// Today's event: a v1 withdrawal names no channel.
    pub fn upcast(self) -> WithdrawalPaid {
        WithdrawalPaid {
            withdrawal_id: self.withdrawal_id,
            customer_id: self.customer_id,
            book: self.book,
            amount: self.amount,
            route: self.route,
            channel: None,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageCharged {
    pub usage_id: UsageId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub item: PricedItem,
    pub total: Amount,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SubscriptionRenewed {
    pub renewal_id: RenewalId,
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub items: Vec<PricedItem>,
    pub total: Amount,
    pub new_end: NaiveDate,
    pub renewed_by: PrincipalId,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SerialPackagePriced {
    pub days: u32,
    pub list_price: Amount,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DistributorTierSet {
    pub distributor_id: OrgId,
    pub tier: DistributorTier,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SerialTierRateSet {
    pub tier: DistributorTier,
    pub rate: Rate,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SerialCodesIssued {
    pub batch_id: SerialBatchId,
    pub issuer_id: OrgId,
    pub distributor_id: OrgId,
    pub tier: DistributorTier,
    pub days: u32,
    pub codes: Vec<SerialCode>,
    /// What the distributor pays per code: `round(package list price × tier rate)`.
    pub unit_price: Amount,
    pub total: Amount,
}

/// A batch's codes may be activated through `expires_on` (inclusive); none: they never expire.
/// Set at issue or moved later; codes already expired stay so.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SerialExpirySet {
    pub batch_id: SerialBatchId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
}

/// A batch's codes never activated, past their expiry: the contract liability they held is the
/// issuer's income (breakage): Dr 2205, Cr 6051 in the issuer's book (rule `serial.expire`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SerialCodesExpired {
    pub batch_id: SerialBatchId,
    pub issuer_id: OrgId,
    pub distributor_id: OrgId,
    pub codes: Vec<SerialCode>,
    pub expires_on: NaiveDate,
    pub amount: Amount,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SerialCodeActivated {
    pub code: SerialCode,
    pub batch_id: SerialBatchId,
    pub issuer_id: OrgId,
    pub customer_id: OrgId,
    pub days: u32,
    /// The code's share of the contract liability, now revenue.
    pub amount: Amount,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommissionAccrued {
    /// The order, usage charge or renewal the commission is for.
    pub source_id: Uuid,
    pub payer_id: OrgId,
    pub reseller_id: OrgId,
    pub base: Amount,
    pub rate: Rate,
    pub amount: Amount,
}

/// A refund's share of a commission, given back by the reseller: the commission rule's lines
/// with the amount negated (Dr 2202[reseller], Cr 6601 in the payer; Dr 6051, Cr 1122[payer]
/// in the reseller).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommissionReversed {
    pub source_id: Uuid,
    pub payer_id: OrgId,
    pub reseller_id: OrgId,
    pub amount: Amount,
}

/// One open item a statement covers: a line on the counterparty's 1122 or 2202 in the book.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatementLine {
    pub position: u64,
    pub date: NaiveDate,
    pub account: crate::chart::AccountCode,
    pub debit: Amount,
    pub credit: Amount,
}

/// A settlement statement (schema v2): the open items of `book` with the counterparty (its 1122
/// and 2202 lines with that party, not booked by a settlement) dated from `from` to `to` and
/// booked at or before `through_position`, netted. The event names that selection and carries
/// its figures, not its lines: the lines are a function of the log through `through_position`
/// (`crate::statement`), so the event is the same few bytes whatever the volume, and replay
/// checks the figures against the lines it finds (v1 carried every line, and a month of a large
/// supplier passed the log's limit per event). The read models serve the lines.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettlementStatementIssued {
    pub settlement_id: SettlementId,
    pub book: OrgId,
    pub counterparty_id: OrgId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The cut-off: the statement covers open items booked at or before this position.
    pub through_position: u64,
    /// What the counterparty owes the book (its 1122 items, net; negative when it is owed).
    pub receivable: SignedAmount,
    /// What the book owes the counterparty (its 2202 items, net).
    pub payable: SignedAmount,
    /// How many lines (open items) the statement covers.
    pub line_count: u64,
    /// SHA-256 over the canonical statement, its lines included (`crate::statement::hash`):
    /// running the same statement again gives the same hash.
    pub statement_hash: String,
}

/// `SettlementStatementIssued` as schema v1 wrote it, with every line. Read, never written:
/// records of it stay in logs (JSON in record format v1, binary in v2) and are upcast when read.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SettlementStatementIssuedV1 {
    pub settlement_id: SettlementId,
    pub book: OrgId,
    pub counterparty_id: OrgId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub through_position: u64,
    pub receivable: SignedAmount,
    pub payable: SignedAmount,
    pub lines: Vec<StatementLine>,
    pub statement_hash: String,
}

impl SettlementStatementIssuedV1 {
    /// Today's event: the same selection, figures and hash (v1 hashed its lines the way
    /// `crate::statement::hash` does), the lines counted.
    pub fn upcast(self) -> SettlementStatementIssued {
        SettlementStatementIssued {
            settlement_id: self.settlement_id,
            book: self.book,
            counterparty_id: self.counterparty_id,
            from: self.from,
            to: self.to,
            through_position: self.through_position,
            receivable: self.receivable,
            payable: self.payable,
            line_count: self.lines.len() as u64,
            statement_hash: self.statement_hash,
        }
    }

    /// The v1 event an upcast one came from, given its lines back.
    pub fn with_lines(statement: &SettlementStatementIssued, lines: Vec<StatementLine>) -> SettlementStatementIssuedV1 {
        SettlementStatementIssuedV1 {
            settlement_id: statement.settlement_id,
            book: statement.book,
            counterparty_id: statement.counterparty_id,
            from: statement.from,
            to: statement.to,
            through_position: statement.through_position,
            receivable: statement.receivable,
            payable: statement.payable,
            lines,
            statement_hash: statement.statement_hash.clone(),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettlementPaid {
    pub settlement_id: SettlementId,
    pub book: OrgId,
    pub counterparty_id: OrgId,
    pub receivable: SignedAmount,
    pub payable: SignedAmount,
    /// The parts owed in a foreign currency, each paid at the book's rate of the day: the
    /// bank pays `paid` for what was booked as `booked`, the `difference` is 汇兑损益 (6603).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange: Vec<SettlementExchange>,
}

/// A foreign part of a settlement, as it was paid.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettlementExchange {
    pub currency: Currency,
    /// Owed in `currency` (positive: the book pays).
    pub owed: SignedAmount,
    /// What the book booked for it, in its own currency, at the items' rates.
    pub booked: SignedAmount,
    /// The book's rate on the day it was paid, its source and date.
    pub rate: ExchangeRate,
    pub source: String,
    pub rate_date: NaiveDate,
    /// `round(owed × rate)`: what it cost the bank, in the book's currency.
    pub paid: SignedAmount,
    /// `paid - booked`: an exchange loss when positive, a gain when negative.
    pub difference: SignedAmount,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceIssued {
    pub invoice_id: InvoiceId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
}

/// What an auditor checks offline against an export (DESIGN §13).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CloseCertificate {
    pub book: OrgId,
    pub through: NaiveDate,
    /// SHA-256 of the canonical trial balance as of `through` (see `State::trial_balance`).
    pub trial_balance_hash: String,
    pub total_debit: Total,
    pub total_credit: Total,
    /// The last position in the log when the period was closed. The chain hash there is this
    /// `PeriodClosed` event's own `prev_hash`, sealed into its envelope with the certificate.
    pub last_position: u64,
    /// `kind/role` → version of every posting rule in force.
    pub rule_versions: BTreeMap<String, u32>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PeriodClosed {
    pub book: OrgId,
    pub through: NaiveDate,
    pub certificate: CloseCertificate,
}

/// A closed period opened again (schema v1): the carrying out of an approved
/// `RequestPeriodReopen`, with its written reason. The book is closed through `closed_through`
/// again (the close before the one undone, if any), so entries dated after it are taken; a new
/// close gets its own certificate. What the reopened period's trial balance was at the reopen
/// is kept with it: the gateway signs it as the reopen's certificate, which `kboss audit check`
/// checks like a close's.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PeriodReopened {
    pub book: OrgId,
    /// The last day of the period reopened (the close undone was through it).
    pub through: NaiveDate,
    /// What the book stays closed through: the close before the one undone, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_through: Option<NaiveDate>,
    /// The position of the `PeriodClosed` undone.
    pub close_position: u64,
    pub reason: String,
    pub approval_id: ApprovalId,
    pub requested_by: PrincipalId,
    /// The reopened period's trial balance when it was reopened: every line dated on or before
    /// `through`, at or before `last_position` (hashed as a close's).
    pub trial_balance_hash: String,
    pub total_debit: Total,
    pub total_credit: Total,
    /// The log's last position before the command that reopened it.
    pub last_position: u64,
}

/// A customer's low-balance threshold (schema v1): a notice goes out each time its wallet (cash
/// and vouchers) falls below it. `None` clears it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LowBalanceThresholdSet {
    pub customer_id: OrgId,
    pub book: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Amount>,
}

/// A reconciliation of a bank statement or a channel's bill against a book's 1002 or 1012
/// (schema v1), as the ledger decided it (`crate::reconcile`): the statement's rows, the book's
/// lines it considered (at or before `through_position`), and the groups matched and
/// suggested. Bounded: at most `RECONCILIATION_ROWS_MAX` rows and lines. Books nothing:
/// differences are settled by approved manual journal entries.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReconciliationRecorded {
    pub reconciliation_id: ReconciliationId,
    pub book: OrgId,
    pub account: crate::chart::AccountCode,
    pub format: StatementFormat,
    /// SHA-256 (hex) of the statement file as it was sent.
    pub statement_sha256: String,
    pub tolerance: Tolerance,
    pub through_position: u64,
    pub statement: Vec<StatementRow>,
    pub ledger: Vec<LedgerItem>,
    pub groups: Vec<MatchGroup>,
}

/// A business event of a kind that exists only as accounts and rules (no code of its own).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BusinessBooked {
    pub kind: String,
    pub role: String,
    pub book: OrgId,
    pub amounts: BTreeMap<String, Amount>,
    pub parties: BTreeMap<PartyRef, OrgId>,
    pub memo: String,
}

/// A manual journal entry (手工凭证), booked once approved: its one entry is the lines as the
/// person wrote them (rule `manual/entry`, version 0), in the book of the approval.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManualEntryBooked {
    /// The approval it was requested with (also the entry's id).
    pub approval_id: ApprovalId,
    pub book: OrgId,
    pub memo: String,
}

/// A reseller's sale mode from a later date on (`SaleModeSet` is today's): orders placed from
/// `effective_from` are priced, and their payments accrue commissions, in this mode.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SaleModeScheduled {
    pub reseller_id: OrgId,
    pub sale_mode: SaleMode,
    pub effective_from: NaiveDate,
}

/// 发票种类: an ordinary VAT invoice, or a special one (增值税专用发票: the buyer deducts its
/// input tax with it, so it carries the buyer's tax id, address and bank, and needs approval).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceType {
    Ordinary,
    Special,
}

impl InvoiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceType::Ordinary => "ordinary",
            InvoiceType::Special => "special",
        }
    }
}

/// An invoice requested with what it prints: its type, title (抬头), the buyer's tax id (and,
/// on a special one, address and bank), the orders it covers, the amount with tax (价税合计), the
/// tax rate and the tax in it (`amount × rate / (1 + rate)`, rounded half up). An ordinary one
/// waits for the seller's finance to issue it; a special one for its approval, whose grant
/// issues it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceRequested {
    pub invoice_id: InvoiceId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub invoice_type: InvoiceType,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_ids: Vec<OrderId>,
    pub amount: Amount,
    pub tax_rate: Rate,
    pub tax_amount: Amount,
}

/// An issued invoice handed to its customer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceDelivered {
    pub invoice_id: InvoiceId,
}

/// 作废: a request withdrawn, or an issued invoice not yet delivered cancelled; `amount` is what
/// becomes invoiceable again (zero for a request).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceVoided {
    pub invoice_id: InvoiceId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub reason: String,
}

/// 红冲: a red-letter invoice (`red_invoice_id`) reversing `amount` of an issued one (after a
/// refund, typically), with the tax in it at the invoice's rate.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceRedLettered {
    pub invoice_id: InvoiceId,
    pub red_invoice_id: InvoiceId,
    pub customer_id: OrgId,
    pub book: OrgId,
    pub amount: Amount,
    pub tax_amount: Amount,
    pub reason: String,
}

/// 实名/企业认证: how far an org's identity has been verified.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    #[default]
    Unverified,
    /// A person's real name (实名认证).
    Personal,
    /// A company's registration (企业认证).
    Company,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Unverified => "unverified",
            Verification::Personal => "personal",
            Verification::Company => "company",
        }
    }
}

/// What a back office keeps about an org beside its place in the tree: whom to call, what its
/// invoices say (company, tax id, address and bank), how far its identity is verified, its tags
/// and notes. Every field is optional but the verification.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrgProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_person: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The company name its invoices carry (发票抬头).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// 纳税人识别号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// Registered address and telephone, as a special VAT invoice prints them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Bank and account number, as a special VAT invoice prints them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_account: Option<String>,
    #[serde(default)]
    pub verification: Verification,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// An org's name and profile as they are after an update (the whole of both, so a reader needs
/// no earlier event to know them).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrgProfileUpdated {
    pub org_id: OrgId,
    pub name: String,
    pub profile: OrgProfile,
}

/// 注销: an org closed by its parent's staff, with nothing left open (zero balances, no open
/// order, invoice request or statement). A closed org is a party nobody acts for any more.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrgClosed {
    pub org_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrgReopened {
    pub org_id: OrgId,
}

/// 归属转移: a customer passes from one seller to another (the deciding org, or one of its
/// resellers), with nothing left open with the one it leaves: no money in its wallet, nothing
/// owed, pending or invoiceable, no order open, no subscription renewing. Its salesperson is
/// `owner_id` (a user of the new seller) or nobody; a credit limit the old seller granted ends.
/// What it bought stays in the old seller's books.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerTransferred {
    pub customer_id: OrgId,
    pub from: OrgId,
    pub to: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How a supplier is settled with.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementMethod {
    /// Paid before it delivers (预付).
    Prepaid,
    /// Paid after each settlement statement (后付, 账期).
    Postpaid,
}

/// A supplier agreement's terms (供应商协议).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SupplierTerms {
    pub method: SettlementMethod,
    pub cycle: CycleEvery,
    /// The agreement's currency.
    pub currency: Currency,
    /// Days after a statement within which it is paid.
    pub payment_days: u32,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SupplierTermsSet {
    pub supplier_id: OrgId,
    pub book: OrgId,
    pub terms: SupplierTerms,
}

/// A product as it is after an update: its name, whether it is on the shelf (an order for a
/// product off the shelf is refused) and the resellers it is hidden from (their customers cannot
/// order it, and they do not list it).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProductUpdated {
    pub product_id: ProductId,
    pub name: String,
    pub on_shelf: bool,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hidden_from: BTreeSet<OrgId>,
}

/// A product's list price from a date on: orders dated before it keep the price they had.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListPriceScheduled {
    pub product_id: ProductId,
    pub list_price: UnitPrice,
    pub effective_from: NaiveDate,
}

/// A customer's credit limit (信用额度) in its seller's book (schema v1): purchases, usage charges
/// and renewals may take its wallet below zero down to minus this much. What they draw is a
/// receivable of the seller (1122 with the customer), apart from its prepayments (2203), and falls
/// due after the book's `arrears_due_days`. Zero: no credit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreditLimitSet {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub limit: Amount,
}

/// Credit drawn by a purchase the wallet is short for (schema v1): the shortfall moves from the
/// customer's receivable into its prepayments (Dr 1122[C], Cr 2203[C], rule `credit.draw`), which
/// the sale's own event then debits as it debits cash. `source_id` is the order, usage charge or
/// renewal; `due_on` the day this part of the arrears (欠费) falls due.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreditDrawn {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub source_id: Uuid,
    pub amount: Amount,
    pub due_on: NaiveDate,
}

/// Arrears repaid from money that reached the wallet (schema v1): a recharge, or the cash part of
/// a refund (`source_id`), pays the debt first (Dr 2203[C], Cr 1122[C], rule `credit.repay`), the
/// part due earliest first. `arrears_due_on` is when what is left falls due (none: all repaid).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArrearsRepaid {
    pub customer_id: OrgId,
    pub book: OrgId,
    pub source_id: Uuid,
    pub amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrears_due_on: Option<NaiveDate>,
}

/// Arrears past their due date (schema v1), decided by the clock: a notice (the notifier posts it
/// to the book's webhook), once per due date; no entry. The customer draws no more credit until
/// what is overdue is repaid.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArrearsOverdue {
    pub customer_id: OrgId,
    pub book: OrgId,
    /// The whole of the customer's arrears.
    pub amount: Amount,
    /// The earliest due date passed.
    pub due_on: NaiveDate,
}

/// A book's terms for the flows the clock drives (schema v1), whole each time: how long an order
/// may wait for payment before it times out, how many days arrears have until they fall due, and
/// how many days before a subscription ends its auto-renewal is tried.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BookTermsSet {
    pub book: OrgId,
    pub order_payment_timeout_minutes: u32,
    pub arrears_due_days: u32,
    pub renewal_lead_days: u32,
}

/// How often a settlement cycle comes round.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CycleEvery {
    /// On `day` (1 to 28) of every month: the statement runs through the day before.
    Month,
    /// On `day` (1 Monday to 7 Sunday) of every week: the statement runs through the day before.
    Week,
}

impl CycleEvery {
    pub fn as_str(self) -> &'static str {
        match self {
            CycleEvery::Month => "month",
            CycleEvery::Week => "week",
        }
    }
}

/// A settlement cycle (结算周期): when statements with one counterparty fall due.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettlementCycle {
    pub every: CycleEvery,
    pub day: u32,
}

/// A book's settlement cycle with a supplier or child reseller (schema v1); none: the cycle is
/// removed. The clock (and `kboss settle --due`) issues each statement that falls due.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettlementCycleSet {
    pub book: OrgId,
    pub counterparty_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<SettlementCycle>,
}

/// A subscription's auto-renewal (自动续费) switched on for `periods` of its products' unit, or
/// off (none) (schema v1). The clock renews it from the wallet before it ends.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AutoRenewalSet {
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<u32>,
}

/// An auto-renewal the clock could not carry out (schema v1), once per subscription end: a notice
/// (the notifier posts it); the clock tries again until the subscription ends. `reason` is the
/// refusal's code (`insufficient_balance`: `needed` is the renewal's price, `available` what the
/// wallet and its credit had).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AutoRenewalFailed {
    pub order_id: OrderId,
    pub customer_id: OrgId,
    pub seller_id: OrgId,
    pub subscription_end: NaiveDate,
    pub reason: String,
    pub needed: Amount,
    pub available: Amount,
}

macro_rules! event_payloads {
    ($($variant:ident($payload:ty) = $version:literal),* $(,)?) => {
        /// Every fact the log holds. The variant name is the stable `event_type`.
        #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(tag = "event_type", content = "payload")]
        pub enum EventPayload {
            $($variant($payload),)*
        }

        impl EventPayload {
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(EventPayload::$variant(_) => stringify!($variant),)*
                }
            }

            pub fn schema_version(&self) -> u16 {
                match self {
                    $(EventPayload::$variant(_) => $version,)*
                }
            }
        }

        /// Every event type with its current schema version.
        pub const EVENT_TYPES: &[(&str, u16)] = &[$((stringify!($variant), $version),)*];

        /// JSON Schemas of every payload, by event type (committed under `schemas/events/`).
        pub fn payload_schemas() -> Vec<(&'static str, u16, schemars::Schema)> {
            vec![$((stringify!($variant), $version, schemars::schema_for!($payload)),)*]
        }
    };
}

event_payloads! {
    OrgOpened(OrgOpened) = 1,
    AccountOpened(AccountOpened) = 1,
    PostingRulesSet(PostingRulesSet) = 1,
    SaleModeSet(SaleModeSet) = 1,
    ProductCreated(ProductCreated) = 2,
    SupplierRateSet(SupplierRateSet) = 1,
    RateSet(RateSet) = 1,
    PromotionCreated(PromotionCreated) = 1,
    InviteCodeCreated(InviteCodeCreated) = 1,
    ApprovalRequested(ApprovalRequested) = 1,
    ApprovalGranted(ApprovalDecided) = 1,
    ApprovalRejected(ApprovalDecided) = 1,
    RechargeRequested(RechargeRequested) = 1,
    RechargeConfirmed(RechargeConfirmed) = 1,
    RechargeReversed(RechargeReversed) = 1,
    CouponGranted(CouponGranted) = 1,
    OrderPlaced(OrderPlaced) = 3,
    OrderPaid(OrderPaid) = 2,
    OrderFulfilled(OrderFulfilled) = 1,
    OrderCancelled(OrderCancelled) = 1,
    OrderRefunded(OrderRefunded) = 1,
    WithdrawalRequested(WithdrawalRequested) = 1,
    WithdrawalPaid(WithdrawalPaid) = 2,
    UsageCharged(UsageCharged) = 3,
    SubscriptionRenewed(SubscriptionRenewed) = 3,
    SerialPackagePriced(SerialPackagePriced) = 1,
    DistributorTierSet(DistributorTierSet) = 1,
    SerialTierRateSet(SerialTierRateSet) = 1,
    SerialCodesIssued(SerialCodesIssued) = 1,
    SerialCodeActivated(SerialCodeActivated) = 1,
    CommissionAccrued(CommissionAccrued) = 1,
    CommissionReversed(CommissionReversed) = 1,
    SettlementStatementIssued(SettlementStatementIssued) = 2,
    SettlementPaid(SettlementPaid) = 2,
    InvoiceIssued(InvoiceIssued) = 1,
    PeriodClosed(PeriodClosed) = 1,
    BusinessBooked(BusinessBooked) = 1,
    TokenIssued(TokenIssued) = 2,
    UserCreated(UserCreated) = 1,
    TokenRevoked(TokenRevoked) = 1,
    OnlineRechargeRequested(OnlineRechargeRequested) = 1,
    RoleDefined(RoleDefined) = 1,
    CustomerOwnerSet(CustomerOwnerSet) = 1,
    ApprovalPolicySet(ApprovalPolicySet) = 1,
    ApprovalRouted(ApprovalRouted) = 1,
    ApprovalLevelGranted(ApprovalLevelGranted) = 1,
    VoucherGranted(VoucherGranted) = 1,
    VoucherRedeemed(VoucherRedeemed) = 1,
    VoucherReturned(VoucherReturned) = 1,
    VoucherExpired(VoucherExpired) = 1,
    OrgProfileUpdated(OrgProfileUpdated) = 1,
    OrgClosed(OrgClosed) = 1,
    OrgReopened(OrgReopened) = 1,
    SupplierTermsSet(SupplierTermsSet) = 1,
    ProductUpdated(ProductUpdated) = 1,
    ListPriceScheduled(ListPriceScheduled) = 1,
    ManualEntryBooked(ManualEntryBooked) = 1,
    SaleModeScheduled(SaleModeScheduled) = 1,
    InvoiceRequested(InvoiceRequested) = 1,
    InvoiceDelivered(InvoiceDelivered) = 1,
    InvoiceVoided(InvoiceVoided) = 1,
    InvoiceRedLettered(InvoiceRedLettered) = 1,
    LowBalanceThresholdSet(LowBalanceThresholdSet) = 1,
    PeriodReopened(PeriodReopened) = 1,
    ReconciliationRecorded(ReconciliationRecorded) = 1,
    CreditLimitSet(CreditLimitSet) = 1,
    CreditDrawn(CreditDrawn) = 1,
    ArrearsRepaid(ArrearsRepaid) = 1,
    ArrearsOverdue(ArrearsOverdue) = 1,
    BookTermsSet(BookTermsSet) = 1,
    SettlementCycleSet(SettlementCycleSet) = 1,
    AutoRenewalSet(AutoRenewalSet) = 1,
    AutoRenewalFailed(AutoRenewalFailed) = 1,
    CustomerTransferred(CustomerTransferred) = 1,
    SerialExpirySet(SerialExpirySet) = 1,
    SerialCodesExpired(SerialCodesExpired) = 1,
    PriceSet(PriceSet) = 1,
    PromotionTermsSet(PromotionTermsSet) = 1,
    ExchangeRateSet(ExchangeRateSet) = 1,
}

/// What a decider produces: the fact and the entries it books, in any number of books.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Event {
    #[serde(flatten)]
    pub payload: EventPayload,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<Entry>,
}

impl Event {
    pub fn new(payload: EventPayload) -> Event {
        Event { payload, entries: Vec::new() }
    }

    pub fn with_entries(payload: EventPayload, entries: Vec<Entry>) -> Event {
        Event { payload, entries }
    }
}

/// What the writer knows that the decider does not: where and when the event lands.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EnvelopeMeta {
    pub position: u64,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub effective_date: NaiveDate,
    pub actor: Actor,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<Uuid>,
}

/// The genesis `prev_hash`: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event as the log holds it (DESIGN §3).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub position: u64,
    pub event_id: Uuid,
    pub schema_version: u16,
    pub recorded_at: DateTime<Utc>,
    pub effective_date: NaiveDate,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(flatten)]
    pub event: Event,
    pub prev_hash: String,
    /// Absent from the canonical encoding (which it is the hash of); stores keep it beside it.
    #[serde(default)]
    pub hash: String,
}

/// A sealed event with its canonical encoding: what a store writes, so the event is serialised
/// once, for the hash and the disk alike.
/// A sealed event and its record: the exact bytes the log stores and the chain hashes
/// (record format v2, `crate::record`, which also seals: `RecordedEvent::seal_staged`), and
/// their SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedEvent {
    pub event: RecordedEvent,
    pub record: Vec<u8>,
    pub digest: [u8; 32],
}

/// The envelope as record format v1 hashed it: canonical JSON of the event without its hash.
#[derive(Serialize)]
struct CanonicalV1<'a, P: Serialize> {
    position: u64,
    event_id: &'a Uuid,
    schema_version: u16,
    recorded_at: &'a DateTime<Utc>,
    effective_date: &'a NaiveDate,
    actor: &'a Actor,
    #[serde(skip_serializing_if = "Option::is_none")]
    idempotency_key: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: &'a Option<Uuid>,
    #[serde(flatten)]
    event: P,
    prev_hash: &'a str,
}

/// `OrderPaid` as v1 wrote it: the order's items repeated (v2 refers to the order instead).
#[derive(Serialize)]
struct OrderPaidV1<'a> {
    event_type: &'static str,
    payload: OrderPaidV1Payload<'a>,
    #[serde(skip_serializing_if = "<[Entry]>::is_empty")]
    entries: &'a [Entry],
}

/// What a v1 record repeated that today's event refers to instead, for rebuilding its
/// canonical JSON ([`RecordedEvent::v1_canonical_bytes`]).
#[derive(Clone, Copy, Debug)]
pub enum V1Copy<'a> {
    /// Nothing: the event is the same in v1 and today.
    None,
    /// The items a v1 `OrderPaid` repeated from its order.
    OrderPaidItems(&'a [PricedItem]),
    /// The lines a v1 `SettlementStatementIssued` held.
    StatementLines(&'a [StatementLine]),
}

/// `SettlementStatementIssued` as v1 wrote it: its lines inside.
#[derive(Serialize)]
struct StatementV1<'a> {
    event_type: &'static str,
    payload: SettlementStatementIssuedV1,
    #[serde(skip_serializing_if = "<[Entry]>::is_empty")]
    entries: &'a [Entry],
}

/// `TokenIssued` as v1 wrote it: no user, no expiry.
#[derive(Serialize)]
struct TokenV1<'a> {
    event_type: &'static str,
    payload: TokenIssuedV1,
    #[serde(skip_serializing_if = "<[Entry]>::is_empty")]
    entries: &'a [Entry],
}

/// A v1 log's statement record, in v1's shape (lines, no count).
#[derive(Deserialize)]
struct StatementRecordV1 {
    position: u64,
    event_id: Uuid,
    schema_version: u16,
    recorded_at: DateTime<Utc>,
    effective_date: NaiveDate,
    actor: Actor,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    correlation_id: Option<Uuid>,
    event_type: StatementTypeV1,
    payload: SettlementStatementIssuedV1,
    #[serde(default)]
    entries: Vec<Entry>,
    prev_hash: String,
}

/// The one event type [`StatementRecordV1`] reads.
#[derive(Deserialize)]
enum StatementTypeV1 {
    SettlementStatementIssued,
}

impl StatementRecordV1 {
    fn upcast(self) -> RecordedEvent {
        let StatementTypeV1::SettlementStatementIssued = self.event_type;
        RecordedEvent {
            position: self.position,
            event_id: self.event_id,
            schema_version: self.schema_version,
            recorded_at: self.recorded_at,
            effective_date: self.effective_date,
            actor: self.actor,
            idempotency_key: self.idempotency_key,
            correlation_id: self.correlation_id,
            event: Event {
                payload: EventPayload::SettlementStatementIssued(self.payload.upcast()),
                entries: self.entries,
            },
            prev_hash: self.prev_hash,
            hash: String::new(),
        }
    }
}

#[derive(Serialize)]
struct OrderPaidV1Payload<'a> {
    order_id: &'a OrderId,
    customer_id: &'a OrgId,
    seller_id: &'a OrgId,
    total: &'a Amount,
    items: &'a [PricedItem],
    #[serde(skip_serializing_if = "Option::is_none")]
    salesperson: &'a Option<String>,
}

impl RecordedEvent {
    pub fn staged(event: Event, meta: EnvelopeMeta) -> RecordedEvent {
        RecordedEvent {
            position: meta.position,
            event_id: meta.event_id,
            schema_version: event.payload.schema_version(),
            recorded_at: meta.recorded_at,
            effective_date: meta.effective_date,
            actor: meta.actor,
            idempotency_key: meta.idempotency_key,
            correlation_id: meta.correlation_id,
            event,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// An event of a record format v1 log (canonical JSON), with its stored hash, in today's
    /// types: `kboss migrate` reads v1 logs with it. An `OrderPaid` loses its copy of the items,
    /// a `SettlementStatementIssued` its lines (counted).
    pub fn decode_v1(canonical: &[u8], hash: &str) -> Result<RecordedEvent, serde_json::Error> {
        let mut event: RecordedEvent = match serde_json::from_slice(canonical) {
            Ok(event) => event,
            // A v1 statement has lines and no count: today's shape refuses it, v1's reads it.
            Err(error) => match serde_json::from_slice::<StatementRecordV1>(canonical) {
                Ok(statement) => statement.upcast(),
                Err(_) => return Err(error),
            },
        };
        // A v1 token decodes into today's shape with its new fields empty; the upcast decides
        // which one was the deployment's admin token.
        if let EventPayload::TokenIssued(token) = &mut event.event.payload {
            *token = TokenIssuedV1::of(token).upcast();
        }
        event.hash = hash.to_owned();
        Ok(event)
    }

    /// The canonical JSON record format v1 hashed, for an event decoded from a v1 log; `copy`
    /// is what the v1 JSON repeated and today's event does not (the items of an `OrderPaid`,
    /// the lines of a statement).
    pub fn v1_canonical_bytes(&self, copy: V1Copy<'_>) -> Vec<u8> {
        let bytes = match (&self.event.payload, copy) {
            (EventPayload::OrderPaid(paid), V1Copy::OrderPaidItems(items)) => self.canonical_v1(OrderPaidV1 {
                event_type: "OrderPaid",
                payload: OrderPaidV1Payload {
                    order_id: &paid.order_id,
                    customer_id: &paid.customer_id,
                    seller_id: &paid.seller_id,
                    total: &paid.total,
                    items,
                    salesperson: &paid.salesperson,
                },
                entries: &self.event.entries,
            }),
            (EventPayload::SettlementStatementIssued(statement), V1Copy::StatementLines(lines)) => {
                self.canonical_v1(StatementV1 {
                    event_type: "SettlementStatementIssued",
                    payload: SettlementStatementIssuedV1::with_lines(statement, lines.to_vec()),
                    entries: &self.event.entries,
                })
            }
            (EventPayload::TokenIssued(token), _) => self.canonical_v1(TokenV1 {
                event_type: "TokenIssued",
                payload: TokenIssuedV1::of(token),
                entries: &self.event.entries,
            }),
            _ => self.canonical_v1(&self.event),
        };
        bytes.expect("events serialise")
    }

    fn canonical_v1<P: Serialize>(&self, event: P) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&CanonicalV1 {
            position: self.position,
            event_id: &self.event_id,
            schema_version: 1,
            recorded_at: &self.recorded_at,
            effective_date: &self.effective_date,
            actor: &self.actor,
            idempotency_key: &self.idempotency_key,
            correlation_id: &self.correlation_id,
            event,
            prev_hash: &self.prev_hash,
        })
    }

    pub fn event_type(&self) -> &'static str {
        self.event.payload.event_type()
    }

    /// Checks that this event links to `expected_prev_hash`. Its own hash was computed from the
    /// bytes it was read from (a store, a JetStream message), or when it was sealed.
    pub fn verify_link(&self, expected_prev_hash: &str) -> Result<(), ChainError> {
        if self.prev_hash != expected_prev_hash {
            return Err(ChainError::BrokenLink { position: self.position });
        }
        Ok(())
    }
}

#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ChainError {
    #[error("event {position}: prev_hash does not match the previous event's hash")]
    BrokenLink { position: u64 },
    #[error("event {position}: hash does not match its contents")]
    HashMismatch { position: u64 },
    #[error("event {position}: expected position {expected} (a gap or a repeat)")]
    Gap { position: u64, expected: u64 },
}

/// Brings a payload's JSON of an older schema version up to the current one, and refuses
/// versions from the future. The steps so far: `OrderPaid` v1 → v2 drops the items it repeated
/// from its order; `SettlementStatementIssued` v1 → v2 replaces its lines by their count;
/// `TokenIssued` v1 → v2 names no user and marks the bootstrap token ([`TokenIssuedV1::upcast`]);
/// `WithdrawalPaid` v1 → v2 names no channel ([`WithdrawalPaidV1::upcast`]).
pub fn upcast(event_type: &str, schema_version: u16, payload: serde_json::Value) -> Result<serde_json::Value, String> {
    let current = EVENT_TYPES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, version)| *version)
        .ok_or_else(|| format!("unknown event type {event_type}"))?;
    if schema_version > current {
        return Err(format!("{event_type} v{schema_version} is newer than this build (v{current})"));
    }
    let mut payload = payload;
    if schema_version < current {
        let object = payload.as_object_mut().ok_or_else(|| format!("a {event_type} payload is an object"))?;
        match (event_type, schema_version) {
            ("OrderPaid", 1) => {
                object.remove("items");
            }
            ("SettlementStatementIssued", 1) => {
                let lines = object.remove("lines").ok_or("a v1 statement has its lines")?;
                let count = lines.as_array().ok_or("a v1 statement's lines are a list")?.len();
                object.insert("line_count".to_owned(), count.into());
            }
            ("TokenIssued", 1) => {
                let v1: TokenIssuedV1 = serde_json::from_value(serde_json::Value::Object(std::mem::take(object)))
                    .map_err(|error| format!("a v1 token: {error}"))?;
                return serde_json::to_value(v1.upcast()).map_err(|error| error.to_string());
            }
            // v2 added an optional channel, absent in v1's JSON: the same JSON reads as v2.
            ("WithdrawalPaid", 1) => {}
            // v2's waterfall levels may carry a unit price, stacked rates and their candidates,
            // all absent from v1's JSON: the same JSON reads as v2.
            ("OrderPlaced", 1) | ("UsageCharged", 1) | ("SubscriptionRenewed", 1) => {}
            _ => return Err(format!("{event_type} v{schema_version} has no upcast to v{current}")),
        }
    }
    Ok(payload)
}
