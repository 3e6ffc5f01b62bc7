//! Commands: what an actor asks for. Ids, the accounting date and the time come in with the
//! command; the core mints nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::approval_policy::ApprovalRule;
use crate::chart::AccountType;
use crate::event::{InvoiceType, OrgProfile, RechargeMethod, SettlementCycle, SupplierTerms, WithdrawalRoute};
use crate::ids::*;
use crate::journal::Line;
use crate::money::{Amount, Currency, ExchangeRate, Quantity, Rate, UnitPrice};
use crate::org::{Actor, DistributorTier, OrgKind, Role, SaleMode};
use crate::permissions::Permission;
use crate::pricing::RateScope;
use crate::rules::{PartyRef, PostingRule};

/// Items one order may have.
pub const ORDER_ITEMS_MAX: usize = 100;
/// Serial codes one batch may issue.
pub const SERIAL_BATCH_MAX: usize = 1_000;
/// Periods one order item may buy (months, days: whatever the product's unit is).
pub const PERIODS_MAX: u32 = 1_200;
/// Length of free-text fields (names, reasons, references, notes).
pub const TEXT_LENGTH_MAX: usize = 500;
/// The serial-code packages of the server-rental business, in days.
pub const SERIAL_PACKAGE_DAYS: [u32; 5] = [3, 5, 30, 180, 360];

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Command {
    pub actor: Actor,
    /// The accounting date every entry of the command is booked on.
    pub effective_date: NaiveDate,
    pub at: DateTime<Utc>,
    pub body: CommandBody,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OrderItemRequest {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub periods: u32,
}

/// What a command asks for, by family: each family's decider matches its own enum, so every
/// match is exhaustive and a new command is one variant in one family. On the wire (and in the
/// idempotency fingerprint) a body is its family's variant alone, tagged `"command"`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CommandBody {
    Setup(SetupCommand),
    Money(MoneyCommand),
    Orders(OrderCommand),
    Serial(SerialCommand),
    Settlement(SettlementCommand),
    Approval(ApprovalCommand),
    Access(AccessCommand),
    Registry(RegistryCommand),
    Terms(TermsCommand),
    Clock(ClockCommand),
}

/// Organisations, charts, posting rules, products, rates, promotions, invite codes and custom business kinds (`decide::setup`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum SetupCommand {
    /// Opens the platform, its book and the default posting rules (once per deployment).
    Bootstrap {
        platform_id: OrgId,
        name: String,
        currency: Currency,
    },

    OpenOrg {
        org_id: OrgId,
        kind: OrgKind,
        name: String,
        parent_id: OrgId,
        sale_mode: Option<SaleMode>,
    },

    OpenAccount {
        book: OrgId,
        code: String,
        name: String,
        account_type: AccountType,
    },

    SetPostingRules {
        rules: Vec<PostingRule>,
    },

    /// A reseller's sale mode, from today or from a later date (`effective_from`): orders
    /// placed before it keep the mode they were priced in.
    SetSaleMode {
        reseller_id: OrgId,
        sale_mode: SaleMode,
        #[serde(default)]
        effective_from: Option<NaiveDate>,
    },

    CreateProduct {
        product_id: ProductId,
        name: String,
        supplier_id: OrgId,
        list_price: UnitPrice,
        unit: String,
        /// The currency of `list_price`; the supplier agreement's when absent, else the book's.
        currency: Option<Currency>,
    },

    /// A book's rate for a foreign currency from a date on (one unit of it in the book's
    /// currency), with where it comes from.
    SetExchangeRate {
        book: OrgId,
        currency: Currency,
        rate: ExchangeRate,
        source: String,
        effective_from: NaiveDate,
    },

    SetSupplierRate {
        product_id: ProductId,
        rate: Rate,
    },

    /// A customer-specific rate below the seller's own cost needs approval: `approval_id` names it.
    SetRate {
        book: OrgId,
        product_id: ProductId,
        scope: RateScope,
        rate: Rate,
        valid_from: Option<NaiveDate>,
        valid_to: Option<NaiveDate>,
        approval_id: ApprovalId,
    },

    /// A promotion with a rate below the book's own cost waits for approval: `approval_id` names it.
    CreatePromotion {
        promotion_id: PromotionId,
        book: OrgId,
        name: String,
        rates: BTreeMap<ProductId, Rate>,
        valid_from: NaiveDate,
        valid_to: NaiveDate,
        approval_id: ApprovalId,
    },

    /// A fixed, first-order or tiered price for a product and scope; one below the book's own
    /// cost waits for approval (`approval_id`), like a rate.
    SetPrice {
        book: OrgId,
        product_id: ProductId,
        scope: RateScope,
        rule: crate::pricing::PriceRule,
        valid_from: Option<NaiveDate>,
        valid_to: Option<NaiveDate>,
        approval_id: ApprovalId,
    },

    /// Whether a promotion stacks on the base price or excludes the others, and whom it reaches.
    SetPromotionTerms {
        promotion_id: PromotionId,
        stacking: crate::pricing::Stacking,
        /// Unchanged when absent (through invite codes for a promotion without terms).
        reach: Option<crate::pricing::PromotionReach>,
    },

    CreateInviteCode {
        code: InviteCode,
        book: OrgId,
        promotion_id: Option<PromotionId>,
        salesperson: Option<String>,
    },

    /// Books a custom business kind: one that exists only as accounts and posting rules.
    BookBusiness {
        kind: String,
        role: String,
        book: OrgId,
        amounts: BTreeMap<String, Amount>,
        parties: BTreeMap<PartyRef, OrgId>,
        memo: String,
    },
}

impl From<SetupCommand> for CommandBody {
    fn from(command: SetupCommand) -> Self {
        CommandBody::Setup(command)
    }
}

/// Money into and out of wallets: recharges, their reversal, coupons, withdrawals (`decide::money_flows`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum MoneyCommand {
    /// The seller's finance confirms an online payment it has seen on the channel, for any
    /// customer of its book; idempotent on (channel, trade number). A notification of the
    /// channel itself is `ConfirmOnlinePayment`, which must match what the book expects.
    ConfirmOnlineRecharge {
        recharge_id: RechargeId,
        customer_id: OrgId,
        amount: Amount,
        channel: String,
        trade_number: TradeNumber,
    },

    /// A verified notification of a channel the actor's book owns: it pays what the book
    /// expects under `payment_id` (the channel's `out_trade_no`), an online recharge requested
    /// first or an order placed first, for exactly its amount; anything else is refused
    /// `unexpected_payment` and books nothing. Idempotent on (channel, trade number). An order is
    /// paid through the customer's wallet: the recharge `recharge_id` credits it and the order's
    /// payment spends it, in one command.
    ConfirmOnlinePayment {
        payment_id: uuid::Uuid,
        recharge_id: RechargeId,
        amount: Amount,
        channel: String,
        trade_number: TradeNumber,
    },

    /// Offline or corporate-transfer recharge: pending until finance approves. An online one
    /// awaits the channel's notification instead (`ConfirmOnlinePayment`, `approval_id` unused).
    RequestRecharge {
        recharge_id: RechargeId,
        approval_id: ApprovalId,
        customer_id: OrgId,
        amount: Amount,
        method: RechargeMethod,
        reference: String,
    },

    RequestRechargeReversal {
        approval_id: ApprovalId,
        recharge_id: RechargeId,
        reason: String,
    },

    /// A coupon the book's approval policy holds back waits for approval: `approval_id` names it.
    /// A coupon: voucher credit (代金券), not cash; from `expires_on` on, what is left of it
    /// cannot be spent.
    GrantCoupon {
        customer_id: OrgId,
        amount: Amount,
        reason: String,
        approval_id: ApprovalId,
        #[serde(default)]
        expires_on: Option<NaiveDate>,
    },

    /// Cash only, never vouchers. `original`: back through an online channel, at most what
    /// came in through it (`channel`, or the one with the most to give back); what is beyond
    /// goes offline as `offline_withdrawal_id`, waiting for approval. `offline`: all of it waits
    /// for approval.
    Withdraw {
        withdrawal_id: WithdrawalId,
        approval_id: ApprovalId,
        customer_id: OrgId,
        amount: Amount,
        route: WithdrawalRoute,
        #[serde(default)]
        channel: Option<String>,
        /// The id of the offline part of an `original` withdrawal beyond what the channel may
        /// take back.
        offline_withdrawal_id: WithdrawalId,
    },

    /// Books out a customer's vouchers past their expiry (the next purchase, usage charge,
    /// renewal or refund of the customer does it too).
    ExpireVouchers {
        customer_id: OrgId,
    },

    /// A customer's low-balance threshold: a notice each time its wallet (cash and vouchers)
    /// falls below it; `None` clears it.
    SetLowBalanceThreshold {
        customer_id: OrgId,
        threshold: Option<Amount>,
    },
}

impl From<MoneyCommand> for CommandBody {
    fn from(command: MoneyCommand) -> Self {
        CommandBody::Money(command)
    }
}

/// Orders, usage charges, renewals and refunds (`decide::orders`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum OrderCommand {
    PlaceOrder {
        order_id: OrderId,
        customer_id: OrgId,
        items: Vec<OrderItemRequest>,
        invite_code: Option<InviteCode>,
    },

    PayOrder {
        order_id: OrderId,
    },

    FulfilOrder {
        order_id: OrderId,
        note: Option<String>,
        subscription_end: Option<NaiveDate>,
    },

    /// Cancels an unpaid order; the reason recorded (by the customer, by the seller's staff)
    /// follows from who asks.
    CancelOrder {
        order_id: OrderId,
    },

    /// A refund the book's approval policy holds back waits for approval: `approval_id` names it.
    RefundOrder {
        order_id: OrderId,
        amount: Amount,
        penalty: Amount,
        reason: String,
        approval_id: ApprovalId,
    },

    ChargeUsage {
        usage_id: UsageId,
        customer_id: OrgId,
        product_id: ProductId,
        quantity: Quantity,
        period_from: NaiveDate,
        period_to: NaiveDate,
    },

    RenewSubscription {
        renewal_id: RenewalId,
        order_id: OrderId,
        periods: u32,
        new_end: NaiveDate,
    },
}

impl From<OrderCommand> for CommandBody {
    fn from(command: OrderCommand) -> Self {
        CommandBody::Orders(command)
    }
}

/// Serial codes of the server-rental business (`decide::serial`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum SerialCommand {
    SetSerialPackagePrice {
        days: u32,
        list_price: Amount,
    },

    SetDistributorTier {
        distributor_id: OrgId,
        tier: DistributorTier,
    },

    SetSerialTierRate {
        tier: DistributorTier,
        rate: Rate,
    },

    /// Codes of one package for a distributor; `expires_on`: the last day they may be activated
    /// (none: they never expire).
    IssueSerialCodes {
        batch_id: SerialBatchId,
        distributor_id: OrgId,
        days: u32,
        codes: Vec<SerialCode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_on: Option<NaiveDate>,
    },

    ActivateSerialCode {
        code: SerialCode,
        customer_id: OrgId,
    },

    /// Moves a batch's expiry (a later day, or none: never); its codes already expired stay so.
    SetSerialExpiry {
        batch_id: SerialBatchId,
        expires_on: Option<NaiveDate>,
    },
}

impl From<SerialCommand> for CommandBody {
    fn from(command: SerialCommand) -> Self {
        CommandBody::Serial(command)
    }
}

/// Settlement statements and payments, invoices, period close (`decide::settlement`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum SettlementCommand {
    IssueSettlementStatement {
        settlement_id: SettlementId,
        book: OrgId,
        counterparty_id: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    },

    PaySettlement {
        settlement_id: SettlementId,
        approval_id: ApprovalId,
    },

    /// Without `details`, the first contract's request: it waits for approval, whose grant
    /// issues it. With them, an ordinary invoice waits for finance to issue it, a special one
    /// for approval.
    RequestInvoice {
        invoice_id: InvoiceId,
        approval_id: ApprovalId,
        customer_id: OrgId,
        amount: Amount,
        #[serde(default)]
        details: Option<InvoiceDetails>,
    },

    IssueInvoice {
        invoice_id: InvoiceId,
    },

    DeliverInvoice {
        invoice_id: InvoiceId,
    },

    VoidInvoice {
        invoice_id: InvoiceId,
        reason: String,
    },

    RedLetterInvoice {
        invoice_id: InvoiceId,
        red_invoice_id: InvoiceId,
        amount: Amount,
        reason: String,
    },

    ClosePeriod {
        book: OrgId,
        through: NaiveDate,
    },

    /// 手工凭证: a journal entry a person writes in their book, dated `date`; it waits for
    /// approval unless the book's policy lets its total through.
    RequestManualEntry {
        approval_id: ApprovalId,
        book: OrgId,
        date: NaiveDate,
        lines: Vec<Line>,
        memo: String,
    },

    /// Reopening the book's last closed period (the one that ends on `through`), for a written
    /// reason: always waits for approval; once granted the book is closed through the close
    /// before it again.
    RequestPeriodReopen {
        approval_id: ApprovalId,
        book: OrgId,
        through: NaiveDate,
        reason: String,
    },

    /// A reconciliation of a statement against the book's 1002 or 1012 lines (the gateway read
    /// them at or before `through_position`): the ledger matches them (`crate::reconcile`) and
    /// records what it found.
    RecordReconciliation {
        reconciliation_id: ReconciliationId,
        book: OrgId,
        account: crate::chart::AccountCode,
        format: crate::reconcile::StatementFormat,
        statement_sha256: String,
        tolerance: crate::reconcile::Tolerance,
        through_position: u64,
        statement: Vec<crate::reconcile::StatementRow>,
        ledger: Vec<crate::reconcile::LedgerItem>,
    },
}

impl From<SettlementCommand> for CommandBody {
    fn from(command: SettlementCommand) -> Self {
        CommandBody::Settlement(command)
    }
}

/// Maker-checker decisions and the policies that route them (`decide::approvals`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum ApprovalCommand {
    /// Grants (or rejects) the level the approval waits at; the last level's grant carries the
    /// proposal out.
    DecideApproval { approval_id: ApprovalId, grant: bool, comment: Option<String> },

    /// A book's whole approval policy, by its admin: each rule replaces its action's default.
    SetApprovalPolicy { book: OrgId, rules: Vec<ApprovalRule> },
}

impl From<ApprovalCommand> for CommandBody {
    fn from(command: ApprovalCommand) -> Self {
        CommandBody::Approval(command)
    }
}

/// People and their tokens (`decide::access`). A token never enters the log: the gateway mints
/// it, shows it once and sends its SHA-256.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum AccessCommand {
    /// A person of an org (staff of a book, or a customer's member) with the roles their tokens
    /// may carry.
    CreateUser {
        user_id: UserId,
        org_id: OrgId,
        name: String,
        email: Option<String>,
        phone: Option<String>,
        roles: BTreeSet<Role>,
    },

    /// A token for a user: the user's roles, or fewer (`roles`), until `expires_at` if given.
    /// With `new_user` (a name), the user is created by the same command with the token's roles:
    /// an org's first admin, whom a parent bootstraps.
    IssueToken {
        principal_id: PrincipalId,
        org_id: OrgId,
        user_id: UserId,
        new_user: Option<String>,
        roles: Option<BTreeSet<Role>>,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        token_hash: String,
    },

    RevokeToken {
        principal_id: PrincipalId,
        reason: Option<String>,
    },

    /// Defines (or redefines) one of an org's roles as a set of permissions.
    DefineRole {
        org_id: OrgId,
        role: Role,
        permissions: BTreeSet<Permission>,
    },

    /// Names the person (a user of the customer's seller) who owns a customer.
    SetCustomerOwner {
        customer_id: OrgId,
        owner_id: UserId,
    },

    /// 离职交接: every customer of the book owned by `from_user_id` passes to `to_user_id`, in
    /// one command (a `CustomerOwnerSet` each), or none does.
    ReassignCustomers {
        book: OrgId,
        from_user_id: UserId,
        to_user_id: UserId,
    },

    /// The deployment's admin token, issued by the deployment itself (the actor is the new
    /// token's own principal): the first, at bootstrap, for a new user `Administrator`; later its
    /// replacement (`kboss admin rotate-token`), for the same user, revoking the one it replaces.
    SetAdminToken {
        principal_id: PrincipalId,
        user_id: UserId,
        token_hash: String,
    },
}

impl AccessCommand {
    pub fn name(&self) -> &'static str {
        match self {
            AccessCommand::CreateUser { .. } => "create_user",
            AccessCommand::IssueToken { .. } => "issue_token",
            AccessCommand::RevokeToken { .. } => "revoke_token",
            AccessCommand::DefineRole { .. } => "define_role",
            AccessCommand::SetCustomerOwner { .. } => "set_customer_owner",
            AccessCommand::ReassignCustomers { .. } => "reassign_customers",
            AccessCommand::SetAdminToken { .. } => "set_admin_token",
        }
    }
}

impl From<AccessCommand> for CommandBody {
    fn from(command: AccessCommand) -> Self {
        CommandBody::Access(command)
    }
}

/// What an invoice prints beyond its customer and amount (`RequestInvoice`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct InvoiceDetails {
    pub invoice_type: InvoiceType,
    pub title: String,
    pub tax_id: Option<String>,
    pub address: Option<String>,
    pub bank_account: Option<String>,
    pub order_ids: Vec<OrderId>,
    /// Default [`DEFAULT_TAX_RATE`].
    pub tax_rate: Option<Rate>,
}

/// The VAT rate of the cloud services sold (现代服务业, 6%).
pub const DEFAULT_TAX_RATE: &str = "0.06";

/// [`DEFAULT_TAX_RATE`] as a rate.
pub fn default_tax_rate() -> Rate {
    Rate::parse(DEFAULT_TAX_RATE).expect("the default tax rate is a rate")
}

/// The back office's registries: org profiles, closing and reopening orgs, supplier terms,
/// products' shelf, visibility and list prices (`decide::registry`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum RegistryCommand {
    /// Changes an org's name and profile: what is `None` stays as it is; a profile given
    /// replaces the one it had.
    UpdateOrg {
        org_id: OrgId,
        name: Option<String>,
        profile: Option<OrgProfile>,
    },

    /// 注销: only with nothing left open.
    CloseOrg {
        org_id: OrgId,
        reason: Option<String>,
    },

    ReopenOrg {
        org_id: OrgId,
    },

    SetSupplierTerms {
        supplier_id: OrgId,
        terms: SupplierTerms,
    },

    /// Changes a product: what is `None` stays as it is.
    UpdateProduct {
        product_id: ProductId,
        name: Option<String>,
        on_shelf: Option<bool>,
        hidden_from: Option<BTreeSet<OrgId>>,
    },

    ScheduleListPrice {
        product_id: ProductId,
        list_price: UnitPrice,
        effective_from: NaiveDate,
    },

    /// 归属转移: a customer passes to another seller (the actor's org or one of its resellers),
    /// with nothing left open with the one it leaves; `owner_id` names its new salesperson.
    TransferCustomer {
        customer_id: OrgId,
        to: OrgId,
        owner_id: Option<UserId>,
        reason: Option<String>,
    },
}

impl RegistryCommand {
    pub fn name(&self) -> &'static str {
        match self {
            RegistryCommand::UpdateOrg { .. } => "update_org",
            RegistryCommand::CloseOrg { .. } => "close_org",
            RegistryCommand::ReopenOrg { .. } => "reopen_org",
            RegistryCommand::SetSupplierTerms { .. } => "set_supplier_terms",
            RegistryCommand::UpdateProduct { .. } => "update_product",
            RegistryCommand::ScheduleListPrice { .. } => "schedule_list_price",
            RegistryCommand::TransferCustomer { .. } => "transfer_customer",
        }
    }
}

impl From<RegistryCommand> for CommandBody {
    fn from(command: RegistryCommand) -> Self {
        CommandBody::Registry(command)
    }
}

/// A book's terms with its customers and counterparties: credit limits (信用额度), the timings
/// the clock follows, settlement cycles (结算周期), auto-renewals (`decide::terms`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum TermsCommand {
    /// A customer's credit limit. A raise waits for approval under the book's policy
    /// (`credit_limit_raise`, by the new limit): `approval_id` names it; a lowering takes effect
    /// at once.
    SetCreditLimit { customer_id: OrgId, limit: Amount, approval_id: ApprovalId },

    /// The book's terms; what is left out keeps its value (its default, if never set).
    SetBookTerms {
        book: OrgId,
        order_payment_timeout_minutes: Option<u32>,
        arrears_due_days: Option<u32>,
        renewal_lead_days: Option<u32>,
    },

    /// The settlement cycle with a supplier or child reseller of the book; none removes it.
    SetSettlementCycle { book: OrgId, counterparty_id: OrgId, cycle: Option<SettlementCycle> },

    /// A subscription renewed by the clock from the wallet for `periods` of its products' unit
    /// before it ends; none switches it off.
    SetAutoRenewal { order_id: OrderId, periods: Option<u32> },
}

impl From<TermsCommand> for CommandBody {
    fn from(command: TermsCommand) -> Self {
        CommandBody::Terms(command)
    }
}

/// The deployment's clock (`decide::clock`): commands the gateway's scheduler (on the leader
/// only) and `kboss settle --due` send, as the deployment itself. Their time is the command's
/// own, as every command's; a replay folds what they decided and never asks the clock.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum ClockCommand {
    /// What is due at the command's time, in every book: statements of settlement cycles, unpaid
    /// orders past their book's payment timeout, auto-renewals, expired vouchers, arrears past
    /// their due date. Nothing due: no event.
    Tick,

    /// The statements of settlement cycles that are due, in one book or every book.
    SettleDue { book: Option<OrgId> },
}

impl From<ClockCommand> for CommandBody {
    fn from(command: ClockCommand) -> Self {
        CommandBody::Clock(command)
    }
}

impl CommandBody {
    /// The body as idempotency compares requests: without what the gateway draws at random for
    /// each request (a serial batch's codes, from the OS's random source, so nobody computes them
    /// offline), which a retry with the same key draws anew and is answered from the stored
    /// event. The codes are replaced by placeholders, so their number still counts. Likewise
    /// without what a reconciliation read of the book (its lines and their position).
    pub fn idempotency_view(&self) -> std::borrow::Cow<'_, CommandBody> {
        match self {
            CommandBody::Serial(SerialCommand::IssueSerialCodes {
                batch_id,
                distributor_id,
                days,
                codes,
                expires_on,
            }) => {
                let placeholders = (0..codes.len())
                    .map(|index| SerialCode::try_from(format!("drawn-{index}")).expect("a placeholder code"))
                    .collect();
                std::borrow::Cow::Owned(CommandBody::Serial(SerialCommand::IssueSerialCodes {
                    batch_id: *batch_id,
                    distributor_id: *distributor_id,
                    days: *days,
                    codes: placeholders,
                    expires_on: *expires_on,
                }))
            }
            // What the gateway read of the book (its lines, the position it read them at) moves
            // on between a request and its retry: a retry of the same statement is the same
            // request, answered with the reconciliation recorded the first time.
            CommandBody::Settlement(SettlementCommand::RecordReconciliation {
                reconciliation_id,
                book,
                account,
                format,
                statement_sha256,
                tolerance,
                statement,
                ..
            }) => std::borrow::Cow::Owned(CommandBody::Settlement(SettlementCommand::RecordReconciliation {
                reconciliation_id: *reconciliation_id,
                book: *book,
                account: account.clone(),
                format: *format,
                statement_sha256: statement_sha256.clone(),
                tolerance: *tolerance,
                through_position: 0,
                statement: statement.clone(),
                ledger: Vec::new(),
            })),
            other => std::borrow::Cow::Borrowed(other),
        }
    }

    /// The command's stable name (`place_order`), as metrics and the operation log show it.
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Setup(command) => command.name(),
            CommandBody::Money(command) => command.name(),
            CommandBody::Orders(command) => command.name(),
            CommandBody::Serial(command) => command.name(),
            CommandBody::Settlement(command) => command.name(),
            CommandBody::Approval(command) => command.name(),
            CommandBody::Access(command) => command.name(),
            CommandBody::Registry(command) => command.name(),
            CommandBody::Terms(command) => command.name(),
            CommandBody::Clock(command) => command.name(),
        }
    }
}

impl SetupCommand {
    pub fn name(&self) -> &'static str {
        match self {
            SetupCommand::Bootstrap { .. } => "bootstrap",
            SetupCommand::OpenOrg { .. } => "open_org",
            SetupCommand::OpenAccount { .. } => "open_account",
            SetupCommand::SetPostingRules { .. } => "set_posting_rules",
            SetupCommand::SetSaleMode { .. } => "set_sale_mode",
            SetupCommand::CreateProduct { .. } => "create_product",
            SetupCommand::SetExchangeRate { .. } => "set_exchange_rate",
            SetupCommand::SetSupplierRate { .. } => "set_supplier_rate",
            SetupCommand::SetRate { .. } => "set_rate",
            SetupCommand::CreatePromotion { .. } => "create_promotion",
            SetupCommand::CreateInviteCode { .. } => "create_invite_code",
            SetupCommand::SetPrice { .. } => "set_price",
            SetupCommand::SetPromotionTerms { .. } => "set_promotion_terms",
            SetupCommand::BookBusiness { .. } => "book_business",
        }
    }
}

impl MoneyCommand {
    pub fn name(&self) -> &'static str {
        match self {
            MoneyCommand::ConfirmOnlineRecharge { .. } => "confirm_online_recharge",
            MoneyCommand::ConfirmOnlinePayment { .. } => "confirm_online_payment",
            MoneyCommand::RequestRecharge { .. } => "request_recharge",
            MoneyCommand::RequestRechargeReversal { .. } => "request_recharge_reversal",
            MoneyCommand::GrantCoupon { .. } => "grant_coupon",
            MoneyCommand::Withdraw { .. } => "withdraw",
            MoneyCommand::ExpireVouchers { .. } => "expire_vouchers",
            MoneyCommand::SetLowBalanceThreshold { .. } => "set_low_balance_threshold",
        }
    }
}

impl OrderCommand {
    pub fn name(&self) -> &'static str {
        match self {
            OrderCommand::PlaceOrder { .. } => "place_order",
            OrderCommand::PayOrder { .. } => "pay_order",
            OrderCommand::FulfilOrder { .. } => "fulfil_order",
            OrderCommand::CancelOrder { .. } => "cancel_order",
            OrderCommand::RefundOrder { .. } => "refund_order",
            OrderCommand::ChargeUsage { .. } => "charge_usage",
            OrderCommand::RenewSubscription { .. } => "renew_subscription",
        }
    }
}

impl SerialCommand {
    pub fn name(&self) -> &'static str {
        match self {
            SerialCommand::SetSerialPackagePrice { .. } => "set_serial_package_price",
            SerialCommand::SetDistributorTier { .. } => "set_distributor_tier",
            SerialCommand::SetSerialTierRate { .. } => "set_serial_tier_rate",
            SerialCommand::IssueSerialCodes { .. } => "issue_serial_codes",
            SerialCommand::SetSerialExpiry { .. } => "set_serial_expiry",
            SerialCommand::ActivateSerialCode { .. } => "activate_serial_code",
        }
    }
}

impl SettlementCommand {
    pub fn name(&self) -> &'static str {
        match self {
            SettlementCommand::IssueSettlementStatement { .. } => "issue_settlement_statement",
            SettlementCommand::PaySettlement { .. } => "pay_settlement",
            SettlementCommand::RequestInvoice { .. } => "request_invoice",
            SettlementCommand::IssueInvoice { .. } => "issue_invoice",
            SettlementCommand::DeliverInvoice { .. } => "deliver_invoice",
            SettlementCommand::VoidInvoice { .. } => "void_invoice",
            SettlementCommand::RedLetterInvoice { .. } => "red_letter_invoice",
            SettlementCommand::ClosePeriod { .. } => "close_period",
            SettlementCommand::RequestManualEntry { .. } => "request_manual_entry",
            SettlementCommand::RequestPeriodReopen { .. } => "request_period_reopen",
            SettlementCommand::RecordReconciliation { .. } => "record_reconciliation",
        }
    }
}

impl ApprovalCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalCommand::DecideApproval { .. } => "decide_approval",
            ApprovalCommand::SetApprovalPolicy { .. } => "set_approval_policy",
        }
    }
}

impl TermsCommand {
    pub fn name(&self) -> &'static str {
        match self {
            TermsCommand::SetCreditLimit { .. } => "set_credit_limit",
            TermsCommand::SetBookTerms { .. } => "set_book_terms",
            TermsCommand::SetSettlementCycle { .. } => "set_settlement_cycle",
            TermsCommand::SetAutoRenewal { .. } => "set_auto_renewal",
        }
    }
}

impl ClockCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ClockCommand::Tick => "tick",
            ClockCommand::SettleDue { .. } => "settle_due",
        }
    }
}
