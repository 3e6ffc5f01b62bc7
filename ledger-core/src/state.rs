//! The decision state: everything a decider needs to judge a command, folded from the events by
//! [`State::evolve`], which cannot fail. The single writer owns one of these.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chart::{codes, AccountCode, Chart, Side};
use crate::event::*;
use crate::ids::*;
use crate::journal::{DebitCredit, Entry};
use crate::money::{Amount, Currency, Rate, SignedAmount, Total, UnitPrice};
use crate::org::{DistributorTier, Org, OrgKind};
use crate::pricing::{PricedItem, RateScope, RateWindow};
use crate::rules::RuleSet;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub org_id: OrgId,
    pub currency: Currency,
    pub chart: Chart,
    pub closed_through: Option<NaiveDate>,
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
    fn new(org_id: OrgId, currency: Currency) -> Book {
        Book {
            org_id,
            currency,
            chart: Chart::with_default_accounts(),
            closed_through: None,
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
    /// The customer's 2203 balance in its seller's book.
    pub balance: Amount,
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
    /// What refunds have reversed so far, per share (see `decide::orders::shares`).
    pub reversed: Vec<ShareAmounts>,
    pub subscription_end: Option<NaiveDate>,
    pub salesperson: Option<String>,
    /// Whether it has been fulfilled (a partial refund changes the status, not this).
    pub fulfilled: bool,
    /// Rebate commissions its payment accrued, and what refunds have reversed of them.
    #[serde(default)]
    pub commissions: Vec<OrderCommission>,
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RechargeStatus {
    Requested,
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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub statement: SettlementStatementIssued,
    pub paid: bool,
    pub payment_pending: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    pub customer_id: OrgId,
    pub amount: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub platform_id: Option<OrgId>,
    pub orgs: HashMap<OrgId, Org>,
    pub books: HashMap<OrgId, Book>,
    pub rules: RuleSet,
    pub products: HashMap<ProductId, Product>,
    pub rates: HashMap<(OrgId, ProductId, RateScope), RateWindow>,
    pub promotions: HashMap<PromotionId, PromotionCreated>,
    pub invite_codes: HashMap<InviteCode, InviteCodeCreated>,
    pub wallets: HashMap<OrgId, Wallet>,
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
    pub settlements: HashMap<SettlementId, Settlement>,
    /// Paid, not yet invoiced, per customer.
    pub invoiceable: HashMap<OrgId, Total>,
    pub invoice_requests: HashMap<InvoiceId, InvoiceRequest>,
    pub issued_invoices: HashSet<InvoiceId>,
    pub usages: HashSet<UsageId>,
    pub renewals: HashSet<RenewalId>,
    /// Principals and token hashes issued: each is unique (a token names one principal).
    #[serde(default)]
    pub principals: HashSet<PrincipalId>,
    #[serde(default)]
    pub token_hashes: HashSet<String>,
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
            promotions: HashMap::new(),
            invite_codes: HashMap::new(),
            wallets: HashMap::new(),
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
            settlements: HashMap::new(),
            invoiceable: HashMap::new(),
            invoice_requests: HashMap::new(),
            issued_invoices: HashSet::new(),
            usages: HashSet::new(),
            renewals: HashSet::new(),
            principals: HashSet::new(),
            token_hashes: HashSet::new(),
            last_position: 0,
        }
    }
}

impl State {
    pub fn org(&self, id: OrgId) -> Option<&Org> {
        self.orgs.get(&id)
    }

    pub fn wallet(&self, customer: OrgId) -> Wallet {
        self.wallets.get(&customer).copied().unwrap_or_default()
    }

    pub fn book(&self, id: OrgId) -> Option<&Book> {
        self.books.get(&id)
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

    /// Folds one recorded event in. Cannot fail: the decider checked everything; what is
    /// asserted here is a programmer error.
    pub fn evolve(&mut self, recorded: &RecordedEvent) {
        assert_eq!(recorded.position, self.last_position + 1, "events are folded in position order");
        for entry in &recorded.event.entries {
            self.post_entry(recorded.position, entry);
        }
        self.apply_payload(&recorded.event.payload);
        self.last_position = recorded.position;
    }

    fn post_entry(&mut self, position: u64, entry: &Entry) {
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
            if code == codes::CUSTOMER_PREPAYMENTS && party_kind == Some(OrgKind::Customer) {
                let wallet = self.wallets.entry(party).or_default();
                wallet.balance = match line.side {
                    Side::Credit => wallet.balance.plus(line.amount),
                    Side::Debit => wallet.balance.checked_sub(line.amount).expect("no wallet goes below zero"),
                };
            }
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

    fn apply_payload(&mut self, payload: &EventPayload) {
        use EventPayload as E;
        match payload {
            E::OrgOpened(OrgOpened { org }) => {
                if org.kind == OrgKind::Platform {
                    self.platform_id = Some(org.id);
                }
                if org.kind.keeps_book() {
                    self.books.insert(org.id, Book::new(org.id, org.currency));
                }
                self.orgs.insert(org.id, org.clone());
            }
            E::TokenIssued(event) => {
                self.principals.insert(event.principal_id);
                self.token_hashes.insert(event.token_hash.clone());
            }
            E::AccountOpened(event) => {
                let book = self.books.get_mut(&event.book).expect("account opened in an open book");
                book.chart.open(event.account.clone());
            }
            E::PostingRulesSet(event) => self.rules.adopt(&event.rules),
            E::SaleModeSet(event) => {
                self.orgs.get_mut(&event.reseller_id).expect("known reseller").sale_mode = event.sale_mode;
            }
            E::ProductCreated(event) => {
                self.products.insert(
                    event.product_id,
                    Product {
                        product_id: event.product_id,
                        name: event.name.clone(),
                        supplier_id: event.supplier_id,
                        owner_id: event.owner_id,
                        list_price: event.list_price,
                        unit: event.unit.clone(),
                        supplier_rate: None,
                    },
                );
            }
            E::SupplierRateSet(event) => {
                self.products.get_mut(&event.product_id).expect("known product").supplier_rate = Some(event.rate);
            }
            E::RateSet(event) => {
                let window = RateWindow { rate: event.rate, valid_from: event.valid_from, valid_to: event.valid_to };
                self.rates.insert((event.book, event.product_id, event.scope), window);
            }
            E::PromotionCreated(event) => {
                self.promotions.insert(event.promotion_id, event.clone());
            }
            E::InviteCodeCreated(event) => {
                self.invite_codes.insert(event.code.clone(), event.clone());
            }
            E::ApprovalRequested(event) => self.apply_approval_requested(event),
            E::ApprovalGranted(event) => self.apply_approval_decided(event, Decision::Granted),
            E::ApprovalRejected(event) => self.apply_approval_decided(event, Decision::Rejected),
            E::RechargeRequested(event) => {
                self.recharges.insert(
                    event.recharge_id,
                    Recharge {
                        recharge_id: event.recharge_id,
                        customer_id: event.customer_id,
                        book: event.book,
                        amount: event.amount,
                        method: event.method,
                        status: RechargeStatus::Requested,
                        reversal_pending: false,
                    },
                );
                let wallet = self.wallets.entry(event.customer_id).or_default();
                wallet.pending_recharges = wallet.pending_recharges.plus(event.amount);
            }
            E::RechargeConfirmed(event) => {
                let previous = self.recharges.insert(
                    event.recharge_id,
                    Recharge {
                        recharge_id: event.recharge_id,
                        customer_id: event.customer_id,
                        book: event.book,
                        amount: event.amount,
                        method: event.method,
                        status: RechargeStatus::Confirmed,
                        reversal_pending: false,
                    },
                );
                if previous.is_some_and(|recharge| recharge.status == RechargeStatus::Requested) {
                    let wallet = self.wallets.entry(event.customer_id).or_default();
                    wallet.pending_recharges = wallet.pending_recharges.minus(event.amount);
                }
                if let (Some(channel), Some(trade_number)) = (&event.channel, &event.trade_number) {
                    self.trade_numbers.insert((channel.clone(), trade_number.clone()));
                }
            }
            E::RechargeReversed(event) => {
                let recharge = self.recharges.get_mut(&event.recharge_id).expect("known recharge");
                recharge.status = RechargeStatus::Reversed;
                recharge.reversal_pending = false;
            }
            E::CouponGranted(_) => {}
            E::OrderPlaced(event) => {
                self.orders.insert(
                    event.order_id,
                    Order {
                        order_id: event.order_id,
                        customer_id: event.customer_id,
                        seller_id: event.seller_id,
                        items: event.items.clone(),
                        total: event.total,
                        status: OrderStatus::PendingPayment,
                        paid: Amount::ZERO,
                        refunded: Amount::ZERO,
                        reversed: Vec::new(),
                        subscription_end: None,
                        salesperson: event.salesperson.clone(),
                        fulfilled: false,
                        commissions: Vec::new(),
                    },
                );
            }
            E::OrderPaid(event) => {
                let order = self.orders.get_mut(&event.order_id).expect("known order");
                order.status = OrderStatus::Paid;
                order.paid = event.total;
                self.add_invoiceable(event.customer_id, event.total);
            }
            E::OrderFulfilled(event) => {
                let order = self.orders.get_mut(&event.order_id).expect("known order");
                order.status = OrderStatus::Fulfilled;
                order.fulfilled = true;
                order.subscription_end = event.subscription_end;
            }
            E::OrderCancelled(event) => {
                self.orders.get_mut(&event.order_id).expect("known order").status = OrderStatus::Cancelled;
            }
            E::OrderRefunded(event) => {
                let order = self.orders.get_mut(&event.order_id).expect("known order");
                let shares =
                    crate::decide::order_shares(&order.items, order.customer_id).expect("shares placing checked");
                let parts =
                    crate::decide::refund_parts(order, &shares, event.amount).expect("parts the refund checked");
                order.reversed.resize(shares.len(), ShareAmounts::default());
                for (reversed, part) in order.reversed.iter_mut().zip(parts) {
                    reversed.list = reversed.list.plus(part.list);
                    reversed.price = reversed.price.plus(part.price);
                    reversed.cost = reversed.cost.plus(part.cost);
                }
                order.refunded = event.refunded_total;
                order.status =
                    if event.fully_refunded { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
                let customer = order.customer_id;
                let invoiceable = self.invoiceable.entry(customer).or_default();
                // What was invoiced stays invoiced (a red-letter invoice is a finance matter).
                *invoiceable = invoiceable.saturating_sub(event.amount.minus(event.penalty));
            }
            E::WithdrawalRequested(event) => {
                self.withdrawals.insert(
                    event.withdrawal_id,
                    Withdrawal {
                        withdrawal_id: event.withdrawal_id,
                        customer_id: event.customer_id,
                        amount: event.amount,
                        route: event.route,
                        status: WithdrawalStatus::Requested,
                    },
                );
                let wallet = self.wallets.entry(event.customer_id).or_default();
                wallet.reserved = wallet.reserved.plus(event.amount);
            }
            E::WithdrawalPaid(event) => {
                let previous = self.withdrawals.insert(
                    event.withdrawal_id,
                    Withdrawal {
                        withdrawal_id: event.withdrawal_id,
                        customer_id: event.customer_id,
                        amount: event.amount,
                        route: event.route,
                        status: WithdrawalStatus::Paid,
                    },
                );
                if previous.is_some_and(|withdrawal| withdrawal.status == WithdrawalStatus::Requested) {
                    let wallet = self.wallets.entry(event.customer_id).or_default();
                    wallet.reserved = wallet.reserved.minus(event.amount);
                }
            }
            E::UsageCharged(event) => {
                self.usages.insert(event.usage_id);
                self.add_invoiceable(event.customer_id, event.total);
            }
            E::SubscriptionRenewed(event) => {
                self.renewals.insert(event.renewal_id);
                self.orders.get_mut(&event.order_id).expect("known order").subscription_end = Some(event.new_end);
                self.add_invoiceable(event.customer_id, event.total);
            }
            E::SerialPackagePriced(event) => {
                self.serial_prices.insert(event.days, event.list_price);
            }
            E::DistributorTierSet(event) => {
                self.distributor_tiers.insert(event.distributor_id, event.tier);
            }
            E::SerialTierRateSet(event) => {
                self.tier_rates.insert(event.tier, event.rate);
            }
            E::SerialCodesIssued(event) => {
                self.serial_batches.insert(event.batch_id);
                for code in &event.codes {
                    self.serial_codes.insert(
                        code.clone(),
                        SerialCodeState {
                            batch_id: event.batch_id,
                            issuer_id: event.issuer_id,
                            distributor_id: event.distributor_id,
                            days: event.days,
                            unit_price: event.unit_price,
                            activated_by: None,
                        },
                    );
                }
            }
            E::SerialCodeActivated(event) => {
                self.serial_codes.get_mut(&event.code).expect("known serial code").activated_by =
                    Some(event.customer_id);
            }
            E::CommissionAccrued(event) => {
                if let Some(order) = self.orders.get_mut(&OrderId(event.source_id)) {
                    order.commissions.push(OrderCommission {
                        payer_id: event.payer_id,
                        reseller_id: event.reseller_id,
                        amount: event.amount,
                        reversed: Amount::ZERO,
                    });
                }
            }
            E::CommissionReversed(event) => {
                let order = self.orders.get_mut(&OrderId(event.source_id)).expect("reversals are of order commissions");
                let commission = order
                    .commissions
                    .iter_mut()
                    .find(|commission| {
                        commission.payer_id == event.payer_id && commission.reseller_id == event.reseller_id
                    })
                    .expect("the commission being reversed");
                commission.reversed = commission.reversed.plus(event.amount);
            }
            E::SettlementStatementIssued(event) => {
                let book = self.books.get_mut(&event.book).expect("settling an open book");
                if let Some(items) = book.open_items.get_mut(&event.counterparty_id) {
                    items.retain(|item| {
                        !(item.position <= event.through_position && event.from <= item.date && item.date <= event.to)
                    });
                }
                self.settlements.insert(
                    event.settlement_id,
                    Settlement { statement: event.clone(), paid: false, payment_pending: false },
                );
            }
            E::SettlementPaid(event) => {
                let settlement = self.settlements.get_mut(&event.settlement_id).expect("known settlement");
                settlement.paid = true;
                settlement.payment_pending = false;
            }
            E::InvoiceIssued(event) => {
                self.invoice_requests.remove(&event.invoice_id);
                self.issued_invoices.insert(event.invoice_id);
                let invoiceable = self.invoiceable.entry(event.customer_id).or_default();
                *invoiceable = invoiceable.checked_sub(event.amount).expect("an invoice the decider checked");
            }
            E::PeriodClosed(event) => {
                self.books.get_mut(&event.book).expect("closing an open book").closed_through = Some(event.through);
            }
            E::BusinessBooked(_) => {}
        }
    }

    fn add_invoiceable(&mut self, customer: OrgId, amount: Amount) {
        let invoiceable = self.invoiceable.entry(customer).or_default();
        *invoiceable = invoiceable.plus(amount);
    }

    fn apply_approval_requested(&mut self, event: &ApprovalRequested) {
        match &event.proposal {
            Proposal::ReverseRecharge { recharge_id, .. } => {
                self.recharges.get_mut(recharge_id).expect("known recharge").reversal_pending = true;
            }
            Proposal::PaySettlement { settlement_id } => {
                self.settlements.get_mut(settlement_id).expect("known settlement").payment_pending = true;
            }
            Proposal::IssueInvoice { invoice_id, customer_id, amount } => {
                self.invoice_requests
                    .insert(*invoice_id, InvoiceRequest { customer_id: *customer_id, amount: *amount });
            }
            Proposal::ConfirmRecharge { .. } | Proposal::PayWithdrawal { .. } | Proposal::SetRate(_) => {}
        }
        self.approvals.insert(event.approval_id, Approval { request: event.clone(), decision: Decision::Pending });
    }

    /// A grant is followed, in the same command, by the effect's own events, which update the
    /// things they touch; a rejection releases what the request held.
    fn apply_approval_decided(&mut self, event: &ApprovalDecided, decision: Decision) {
        let approval = self.approvals.get_mut(&event.approval_id).expect("known approval");
        approval.decision = decision;
        if decision == Decision::Granted {
            return;
        }
        match approval.request.proposal.clone() {
            Proposal::ConfirmRecharge { recharge_id } => {
                let recharge = self.recharges.get_mut(&recharge_id).expect("known recharge");
                recharge.status = RechargeStatus::Rejected;
                let (customer, amount) = (recharge.customer_id, recharge.amount);
                let wallet = self.wallets.entry(customer).or_default();
                wallet.pending_recharges = wallet.pending_recharges.minus(amount);
            }
            Proposal::ReverseRecharge { recharge_id, .. } => {
                self.recharges.get_mut(&recharge_id).expect("known recharge").reversal_pending = false;
            }
            Proposal::PayWithdrawal { withdrawal_id } => {
                let withdrawal = self.withdrawals.get_mut(&withdrawal_id).expect("known withdrawal");
                withdrawal.status = WithdrawalStatus::Rejected;
                let (customer, amount) = (withdrawal.customer_id, withdrawal.amount);
                let wallet = self.wallets.entry(customer).or_default();
                wallet.reserved = wallet.reserved.minus(amount);
            }
            Proposal::PaySettlement { settlement_id } => {
                self.settlements.get_mut(&settlement_id).expect("known settlement").payment_pending = false;
            }
            Proposal::IssueInvoice { invoice_id, .. } => {
                self.invoice_requests.remove(&invoice_id);
            }
            Proposal::SetRate(_) => {}
        }
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
