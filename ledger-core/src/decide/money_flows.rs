//! Money in and out of customer wallets: recharges, reversals, coupons (vouchers),
//! withdrawals.
//!
//! A wallet has two parts. Cash is the customer's 2203 balance: recharges put it there and
//! withdrawals take it back, `original` ones through an online channel at most what came in
//! through that channel (`State::returnable_online`), the rest offline with approval.
//! Vouchers (代金券) are the customer's 2203.01 balance, kept per grant (`State::vouchers`):
//! spent on purchases before cash, earliest expiry first, then the oldest grant; never
//! withdrawn; from their `expires_on` on, unspendable and booked out (`VoucherExpired`) by the
//! next purchase, usage charge, renewal or refund of the customer, or by `ExpireVouchers`.

use crate::approval_policy::{default_levels, ApprovalAction};
use crate::chart::{codes, voucher_account, AccountCode};
use crate::command::MoneyCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, OrderId, OrgId, RechargeId, TradeNumber, WithdrawalId};
use crate::journal::Posting;
use crate::money::{Amount, Total};
use crate::permissions::Permission;
use crate::rules::PartyRef;
use crate::state::{OrderStatus, Recharge, RechargeStatus, State, Withdrawal, WithdrawalStatus};

/// Open voucher grants one customer may hold: the events that list a customer's grants
/// (`VoucherExpired`, `VoucherRedeemed`) stay small. A grant past it is refused `limit_exceeded`.
pub const VOUCHER_GRANTS_MAX: usize = 100;

use super::{prose_field, text_field, Decider};

fn recharge_kind(method: RechargeMethod) -> &'static str {
    match method {
        RechargeMethod::Online => "recharge.online",
        RechargeMethod::Offline => "recharge.offline",
        RechargeMethod::Transfer => "recharge.transfer",
    }
}

fn reversal_kind(method: RechargeMethod) -> &'static str {
    match method {
        RechargeMethod::Online => "recharge_reversal.online",
        RechargeMethod::Offline => "recharge_reversal.offline",
        RechargeMethod::Transfer => "recharge_reversal.transfer",
    }
}

fn withdrawal_kind(route: WithdrawalRoute) -> &'static str {
    match route {
        WithdrawalRoute::Original => "withdrawal.original",
        WithdrawalRoute::Offline => "withdrawal.offline",
    }
}

fn positive(field: &str, amount: Amount) -> Result<Amount, DomainError> {
    if amount.is_zero() {
        return Err(DomainError::invalid_amount(field, crate::money::MoneyError::Zero));
    }
    Ok(amount)
}

impl Decider<'_> {
    pub(super) fn decide_money(&self, command: &MoneyCommand) -> Result<Vec<Event>, DomainError> {
        use MoneyCommand as C;
        match command {
            C::ConfirmOnlineRecharge { recharge_id, customer_id, amount, channel, trade_number } => {
                self.confirm_online_recharge(recharge_id, customer_id, amount, channel, trade_number)
            }
            C::ConfirmOnlinePayment { payment_id, recharge_id, amount, channel, trade_number } => {
                self.confirm_online_payment(*payment_id, *recharge_id, *amount, channel, trade_number)
            }
            C::RequestRecharge { recharge_id, approval_id, customer_id, amount, method, reference } => {
                self.request_recharge(recharge_id, approval_id, customer_id, amount, method, reference)
            }
            C::RequestRechargeReversal { approval_id, recharge_id, reason } => {
                self.request_recharge_reversal(approval_id, recharge_id, reason)
            }
            C::GrantCoupon { customer_id, amount, reason, approval_id, expires_on } => {
                self.grant_coupon(*customer_id, *amount, reason, *expires_on, *approval_id)
            }
            C::Withdraw { withdrawal_id, approval_id, customer_id, amount, route, channel, offline_withdrawal_id } => {
                let ids = (*withdrawal_id, *offline_withdrawal_id, *approval_id);
                self.withdraw(ids, *customer_id, *amount, *route, channel.as_deref())
            }
            C::ExpireVouchers { customer_id } => {
                let (_, book) = self.customer_for(*customer_id, Permission::VouchersExpire)?;
                if self.command.actor.org_id == *customer_id {
                    return Err(DomainError::forbidden("vouchers are booked out by the seller's finance"));
                }
                Ok(self.vouchers_expired(*customer_id, book, Vec::new())?.into_iter().collect())
            }
            C::SetLowBalanceThreshold { customer_id, threshold } => {
                let (_, book) = self.customer_for(*customer_id, Permission::LowBalanceWrite)?;
                let event = LowBalanceThresholdSet { customer_id: *customer_id, book, threshold: *threshold };
                Ok(vec![Event::new(EventPayload::LowBalanceThresholdSet(event))])
            }
        }
    }

    fn confirm_online_recharge(
        &self,
        recharge_id: &RechargeId,
        customer_id: &OrgId,
        amount: &Amount,
        channel: &String,
        trade_number: &TradeNumber,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(*customer_id, Permission::PaymentsConfirm)?;
        // The seller confirms what the channel's signed notification says; a customer
        // confirming its own payment would credit its wallet with money nobody received.
        if self.command.actor.org_id == *customer_id {
            return Err(DomainError::forbidden("online recharges are confirmed by the payment notification"));
        }
        let channel = text_field("channel", channel)?;
        // A channel notifies again until it is answered: the same trade number books once.
        if self.state.trade_numbers.contains(&(channel.clone(), trade_number.clone())) {
            return Ok(Vec::new());
        }
        self.new_recharge_id(*recharge_id)?;
        let payload = EventPayload::RechargeConfirmed(RechargeConfirmed {
            recharge_id: *recharge_id,
            customer_id: *customer_id,
            book,
            amount: positive("amount", *amount)?,
            method: RechargeMethod::Online,
            reference: trade_number.to_string(),
            channel: Some(channel),
            trade_number: Some(trade_number.clone()),
        });
        let posting = self.wallet_posting("recharge.online", book, *customer_id, *amount);
        self.with_repayment(self.booked(payload, &[posting])?)
    }

    /// A channel's notification, in the book that owns the channel (the actor's): it pays an
    /// online recharge or an order that awaits payment under `payment_id`, for its amount.
    fn confirm_online_payment(
        &self,
        payment_id: uuid::Uuid,
        recharge_id: RechargeId,
        amount: Amount,
        channel: &str,
        trade_number: &TradeNumber,
    ) -> Result<Vec<Event>, DomainError> {
        let book = self.command.actor.org_id;
        self.book_for(book, Permission::PaymentsConfirm)?;
        let channel = text_field("channel", channel)?;
        // A channel notifies again until it is answered: the same trade number books once.
        if self.state.trade_numbers.contains(&(channel.clone(), trade_number.clone())) {
            return Ok(Vec::new());
        }
        let amount = positive("amount", amount)?;
        let unexpected = |reason: String| Err(DomainError::UnexpectedPayment { reason });
        let confirmed = |recharge_id: RechargeId, customer_id: OrgId| {
            EventPayload::RechargeConfirmed(RechargeConfirmed {
                recharge_id,
                customer_id,
                book,
                amount,
                method: RechargeMethod::Online,
                reference: trade_number.to_string(),
                channel: Some(channel.clone()),
                trade_number: Some(trade_number.clone()),
            })
        };
        let expected_recharge = self
            .state
            .recharges
            .get(&RechargeId(payment_id))
            .filter(|recharge| recharge.book == book && recharge.method == RechargeMethod::Online);
        if let Some(recharge) = expected_recharge {
            if recharge.status != RechargeStatus::AwaitingPayment {
                return unexpected(format!("the online recharge {payment_id} is already paid"));
            }
            if recharge.amount != amount {
                return unexpected(format!(
                    "the online recharge {payment_id} awaits {}, not {amount}",
                    recharge.amount
                ));
            }
            let posting = self.wallet_posting("recharge.online", book, recharge.customer_id, amount);
            return self
                .with_repayment(self.booked(confirmed(recharge.recharge_id, recharge.customer_id), &[posting])?);
        }
        let expected_order = self.state.orders.get(&OrderId(payment_id)).filter(|order| order.seller_id == book);
        let Some(order) = expected_order else {
            return unexpected(format!("no online recharge or order of this book awaits payment as {payment_id}"));
        };
        if order.status != OrderStatus::PendingPayment {
            return unexpected(format!("the order {payment_id} is {}, not awaiting payment", order.status.as_str()));
        }
        if order.total != amount {
            return unexpected(format!("the order {payment_id} costs {}, not {amount}", order.total));
        }
        // Through the wallet: the money arrives as a recharge and pays the order at once.
        self.new_recharge_id(recharge_id)?;
        let posting = self.wallet_posting("recharge.online", book, order.customer_id, amount);
        let mut events = vec![self.booked(confirmed(recharge_id, order.customer_id), &[posting])?];
        events.extend(self.order_payment(order)?);
        Ok(events)
    }

    fn request_recharge(
        &self,
        recharge_id: &RechargeId,
        approval_id: &ApprovalId,
        customer_id: &OrgId,
        amount: &Amount,
        method: &RechargeMethod,
        reference: &String,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(*customer_id, Permission::RechargesWrite)?;
        self.new_recharge_id(*recharge_id)?;
        if *method == RechargeMethod::Online {
            // Expected, not booked: the channel's notification pays it (`confirm_online_payment`).
            let request = OnlineRechargeRequested {
                recharge_id: *recharge_id,
                customer_id: *customer_id,
                book,
                amount: positive("amount", *amount)?,
                reference: text_field("reference", reference)?,
            };
            return Ok(vec![Event::new(EventPayload::OnlineRechargeRequested(request))]);
        }
        let amount = positive("amount", *amount)?;
        let reference = text_field("reference", reference)?;
        // The approval decision point: at or below the book's threshold, booked at once.
        let action = match method {
            RechargeMethod::Transfer => ApprovalAction::TransferRecharge,
            _ => ApprovalAction::OfflineRecharge,
        };
        let Some(levels) = self.approval_levels(book, action, Some(amount)) else {
            let payload = EventPayload::RechargeConfirmed(RechargeConfirmed {
                recharge_id: *recharge_id,
                customer_id: *customer_id,
                book,
                amount,
                method: *method,
                reference,
                channel: None,
                trade_number: None,
            });
            let posting = self.wallet_posting(recharge_kind(*method), book, *customer_id, amount);
            return self.with_repayment(self.booked(payload, &[posting])?);
        };
        self.new_approval_id(*approval_id)?;
        let request = RechargeRequested {
            recharge_id: *recharge_id,
            approval_id: *approval_id,
            customer_id: *customer_id,
            book,
            amount,
            method: *method,
            reference,
        };
        let proposal = Proposal::ConfirmRecharge { recharge_id: *recharge_id };
        let mut events = vec![Event::new(EventPayload::RechargeRequested(request))];
        events.extend(self.routed_approval_request(
            *approval_id,
            book,
            ApprovalKind::Recharge,
            proposal,
            action,
            levels,
        ));
        Ok(events)
    }

    fn request_recharge_reversal(
        &self,
        approval_id: &ApprovalId,
        recharge_id: &RechargeId,
        reason: &String,
    ) -> Result<Vec<Event>, DomainError> {
        let recharge = self.state.recharges.get(recharge_id).filter(|recharge| self.reaches(recharge.book));
        let recharge = recharge.ok_or_else(|| DomainError::not_found("recharge", recharge_id))?;
        self.require(Permission::RechargesReverse)?;
        if recharge.status != RechargeStatus::Confirmed {
            return Err(DomainError::invalid_field("recharge_id", "only a confirmed recharge can be reversed"));
        }
        if recharge.reversal_pending {
            return Err(DomainError::ApprovalPending);
        }
        self.new_approval_id(*approval_id)?;
        let reason = prose_field("reason", reason)?;
        // Checked now so a hopeless request never reaches finance; checked again on grant.
        self.within_limits(&[self.reverse_recharge(*recharge_id, &reason)?])?;
        let proposal = Proposal::ReverseRecharge { recharge_id: *recharge_id, reason };
        Ok(vec![self.approval_request(*approval_id, recharge.book, ApprovalKind::RechargeReversal, proposal)])
    }

    /// A coupon is voucher credit (2203.01), not cash. The book's voucher account is opened by
    /// its first grant, in the same command.
    fn grant_coupon(
        &self,
        customer_id: OrgId,
        amount: Amount,
        reason: &str,
        expires_on: Option<chrono::NaiveDate>,
        approval_id: ApprovalId,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(customer_id, Permission::CouponsWrite)?;
        if self.command.actor.org_id == customer_id {
            return Err(DomainError::forbidden("customers do not grant themselves coupons"));
        }
        let amount = positive("amount", amount)?;
        let today = self.command.effective_date;
        if expires_on.is_some_and(|date| date <= today) {
            return Err(DomainError::invalid_field("expires_on", format!("must be after the accounting date {today}")));
        }
        if self.state.vouchers_of(customer_id).len() >= VOUCHER_GRANTS_MAX {
            let reason =
                format!("customer {customer_id} holds {VOUCHER_GRANTS_MAX} open voucher grants, the most it may");
            return Err(DomainError::LimitExceeded { field: "customer_id".to_owned(), reason });
        }
        // Booked first, so that what would refuse it (a closed period, a limit) refuses it now.
        let granted = self.coupon_granted(customer_id, book, amount, reason, expires_on)?;
        // The approval decision point: above the book's threshold, the coupon waits.
        if let Some(levels) = self.approval_levels(book, ApprovalAction::Coupon, Some(amount)) {
            self.new_approval_id(approval_id)?;
            let reason = prose_field("reason", reason)?;
            let proposal = Proposal::GrantCoupon { customer_id, amount, reason, expires_on };
            return Ok(self.routed_approval_request(
                approval_id,
                book,
                ApprovalKind::Coupon,
                proposal,
                ApprovalAction::Coupon,
                levels,
            ));
        }
        Ok(granted)
    }

    /// A coupon booked, at once or once approved: voucher credit, the book's voucher account
    /// opened by its first grant in the same command.
    pub(super) fn coupon_granted(
        &self,
        customer_id: OrgId,
        book: OrgId,
        amount: Amount,
        reason: &str,
        expires_on: Option<chrono::NaiveDate>,
    ) -> Result<Vec<Event>, DomainError> {
        let amount = positive("amount", amount)?;
        let payload = EventPayload::VoucherGranted(VoucherGranted {
            customer_id,
            book,
            amount,
            reason: prose_field("reason", reason)?,
            expires_on,
        });
        let posting = self.wallet_posting("voucher.grant", book, customer_id, amount);
        let voucher_code = AccountCode::known(codes::CUSTOMER_VOUCHERS);
        let mut events = Vec::new();
        if !self.state.books.get(&book).is_some_and(|book| book.chart.contains(&voucher_code)) {
            events.push(Event::new(EventPayload::AccountOpened(AccountOpened { book, account: voucher_account() })));
        }
        events.push(self.booked_with(payload, &[posting], &[voucher_code])?);
        Ok(events)
    }

    /// Whether a voucher grant can no longer be spent on the accounting date.
    fn expired(&self, slice: &VoucherSlice) -> bool {
        slice.expires_on.is_some_and(|date| date <= self.command.effective_date)
    }

    /// Books out the customer's vouchers past their expiry, and `also` (grants a refund has just
    /// given back past theirs): one `VoucherExpired`, or nothing when none is due.
    pub(super) fn vouchers_expired(
        &self,
        customer_id: OrgId,
        book: OrgId,
        also: Vec<VoucherSlice>,
    ) -> Result<Option<Event>, DomainError> {
        let mut slices: Vec<VoucherSlice> =
            self.state.vouchers_of(customer_id).iter().filter(|slice| self.expired(slice)).cloned().collect();
        slices.extend(also);
        if slices.is_empty() {
            return Ok(None);
        }
        // Each slice is part of the customer's voucher credit, which is at most `AMOUNT_MAX`.
        let amount = Amount::try_sum(slices.iter().map(|slice| slice.amount))
            .map_err(|error| DomainError::invalid_amount("amount", error))?;
        let payload = EventPayload::VoucherExpired(VoucherExpired { customer_id, book, slices, amount });
        Ok(Some(self.booked(payload, &[self.wallet_posting("voucher.expire", book, customer_id, amount)])?))
    }

    /// What a purchase of `price` (`source_id`: the order, usage charge or renewal) takes from
    /// the customer's vouchers, before its sale's event takes the rest from cash: the expired
    /// ones booked out, then the others spent earliest expiry first, then the oldest grant.
    pub(super) fn spend_vouchers(
        &self,
        customer_id: OrgId,
        book: OrgId,
        price: Amount,
        source_id: uuid::Uuid,
    ) -> Result<Vec<Event>, DomainError> {
        let mut events: Vec<Event> = self.vouchers_expired(customer_id, book, Vec::new())?.into_iter().collect();
        let mut left = price;
        let mut slices = Vec::new();
        for grant in self.state.vouchers_of(customer_id).iter().filter(|slice| !self.expired(slice)) {
            if left.is_zero() {
                break;
            }
            let take = grant.amount.min(left);
            left = left.minus(take);
            slices.push(VoucherSlice { amount: take, ..grant.clone() });
        }
        if slices.is_empty() {
            return Ok(events);
        }
        let amount = price.minus(left);
        let payload = EventPayload::VoucherRedeemed(VoucherRedeemed { customer_id, book, source_id, slices, amount });
        events.push(self.booked(payload, &[self.wallet_posting("voucher.redeem", book, customer_id, amount)])?);
        Ok(events)
    }

    /// Cash only: vouchers are not money the customer paid, so they are never withdrawn, and
    /// what pending withdrawals hold is not free either. `original` pays back through one online
    /// channel (the one named, or the one with the most to give back) at most what came in
    /// through it; the rest goes offline, waiting for approval, as `offline_id`.
    fn withdraw(
        &self,
        (withdrawal_id, offline_id, approval_id): (WithdrawalId, WithdrawalId, ApprovalId),
        customer_id: OrgId,
        amount: Amount,
        route: WithdrawalRoute,
        channel: Option<&str>,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(customer_id, Permission::WithdrawalsWrite)?;
        if self.state.withdrawals.contains_key(&withdrawal_id) {
            return Err(DomainError::AlreadyExists { what: "withdrawal", id: withdrawal_id.to_string() });
        }
        let amount = positive("amount", amount)?;
        let channel = channel.map(|channel| text_field("channel", channel)).transpose()?;
        let available = self.state.wallet(customer_id).available();
        if amount > available {
            return Err(DomainError::InsufficientBalance { available, needed: amount });
        }
        if route == WithdrawalRoute::Offline {
            if channel.is_some() {
                return Err(DomainError::invalid_field(
                    "channel",
                    "only an original withdrawal goes back through a channel",
                ));
            }
            return self.offline_withdrawal(withdrawal_id, approval_id, customer_id, book, amount);
        }
        let returnable = self.state.returnable_of(customer_id);
        let target = match &channel {
            Some(named) => returnable.get(named.as_str()).map(|total| (named.as_str(), *total)),
            // The most to give back; of equals, the first by name.
            None => returnable.iter().map(|(name, total)| (*name, *total)).fold(None, |best, candidate| match best {
                Some((_, most)) if most >= candidate.1 => best,
                _ => Some(candidate),
            }),
        };
        let (target, back) = match target {
            Some((name, total)) if Total::from(amount) <= total => (Some(name), amount),
            // Less than `amount`, so an amount.
            Some((name, total)) => (Some(name), total.to_amount().unwrap_or(Amount::ZERO)),
            None => (None, Amount::ZERO),
        };
        let rest = amount.minus(back);
        let mut events = Vec::new();
        if let (Some(target), false) = (target, back.is_zero()) {
            let paid = (withdrawal_id, customer_id, book, back);
            events.push(self.withdrawal_paid(paid, route, Some(target.to_owned()))?);
        }
        if !rest.is_zero() {
            let id = if events.is_empty() { withdrawal_id } else { offline_id };
            if self.state.withdrawals.contains_key(&id) || (!events.is_empty() && offline_id == withdrawal_id) {
                return Err(DomainError::AlreadyExists { what: "withdrawal", id: id.to_string() });
            }
            events.extend(self.offline_withdrawal(id, approval_id, customer_id, book, rest)?);
        }
        Ok(events)
    }

    fn offline_withdrawal(
        &self,
        withdrawal_id: WithdrawalId,
        approval_id: ApprovalId,
        customer_id: OrgId,
        book: OrgId,
        amount: Amount,
    ) -> Result<Vec<Event>, DomainError> {
        self.new_approval_id(approval_id)?;
        let request = WithdrawalRequested {
            withdrawal_id,
            approval_id,
            customer_id,
            book,
            amount,
            route: WithdrawalRoute::Offline,
        };
        let proposal = Proposal::PayWithdrawal { withdrawal_id };
        // Money leaving: always approved (the book's policy decides by whom).
        let action = ApprovalAction::Withdrawal;
        let levels = self.approval_levels(book, action, Some(amount)).unwrap_or_else(default_levels);
        let mut events = vec![Event::new(EventPayload::WithdrawalRequested(request))];
        events.extend(self.routed_approval_request(
            approval_id,
            book,
            ApprovalKind::Withdrawal,
            proposal,
            action,
            levels,
        ));
        Ok(events)
    }

    fn wallet_posting(&self, kind: &'static str, book: OrgId, customer: OrgId, amount: Amount) -> Posting<'static> {
        Posting::new(kind, "seller", book).amount("amount", amount).party(PartyRef::Customer, customer)
    }

    fn new_recharge_id(&self, recharge_id: RechargeId) -> Result<(), DomainError> {
        if self.state.recharges.contains_key(&recharge_id) {
            return Err(DomainError::AlreadyExists { what: "recharge", id: recharge_id.to_string() });
        }
        Ok(())
    }

    pub(super) fn new_approval_id(&self, approval_id: ApprovalId) -> Result<(), DomainError> {
        if self.state.approvals.contains_key(&approval_id) {
            return Err(DomainError::AlreadyExists { what: "approval", id: approval_id.to_string() });
        }
        Ok(())
    }

    pub(super) fn approval_request(
        &self,
        approval_id: ApprovalId,
        book: OrgId,
        kind: ApprovalKind,
        proposal: Proposal,
    ) -> Event {
        Event::new(EventPayload::ApprovalRequested(ApprovalRequested {
            approval_id,
            book,
            kind,
            requested_by: self.command.actor.principal_id,
            proposal,
        }))
    }

    /// The effect of an approved offline recharge.
    pub(super) fn confirm_recharge(&self, recharge_id: RechargeId) -> Result<Event, DomainError> {
        let recharge =
            self.state.recharges.get(&recharge_id).ok_or_else(|| DomainError::not_found("recharge", recharge_id))?;
        let payload = EventPayload::RechargeConfirmed(RechargeConfirmed {
            recharge_id,
            customer_id: recharge.customer_id,
            book: recharge.book,
            amount: recharge.amount,
            method: recharge.method,
            reference: recharge_id.to_string(),
            channel: None,
            trade_number: None,
        });
        let posting =
            self.wallet_posting(recharge_kind(recharge.method), recharge.book, recharge.customer_id, recharge.amount);
        self.booked(payload, &[posting])
    }

    /// The effect of an approved reversal: the wallet must still hold the money (`limits`).
    pub(super) fn reverse_recharge(&self, recharge_id: RechargeId, reason: &str) -> Result<Event, DomainError> {
        let recharge =
            self.state.recharges.get(&recharge_id).ok_or_else(|| DomainError::not_found("recharge", recharge_id))?;
        let payload = EventPayload::RechargeReversed(RechargeReversed {
            recharge_id,
            customer_id: recharge.customer_id,
            book: recharge.book,
            amount: recharge.amount,
            reason: reason.to_owned(),
        });
        let posting =
            self.wallet_posting(reversal_kind(recharge.method), recharge.book, recharge.customer_id, recharge.amount);
        self.booked(payload, &[posting])
    }

    /// The effect of an approved offline withdrawal.
    pub(super) fn pay_withdrawal(&self, withdrawal_id: WithdrawalId) -> Result<Event, DomainError> {
        let withdrawal = self.state.withdrawals.get(&withdrawal_id);
        let withdrawal = withdrawal.filter(|withdrawal| withdrawal.status == WithdrawalStatus::Requested);
        let withdrawal = withdrawal.ok_or_else(|| DomainError::not_found("withdrawal", withdrawal_id))?;
        let book = self.state.orgs[&withdrawal.customer_id].parent_id.expect("customers have a seller");
        let paid = (withdrawal_id, withdrawal.customer_id, book, withdrawal.amount);
        self.withdrawal_paid(paid, withdrawal.route, None)
    }

    fn withdrawal_paid(
        &self,
        (withdrawal_id, customer_id, book, amount): (WithdrawalId, OrgId, OrgId, Amount),
        route: WithdrawalRoute,
        channel: Option<String>,
    ) -> Result<Event, DomainError> {
        let payload =
            EventPayload::WithdrawalPaid(WithdrawalPaid { withdrawal_id, customer_id, book, amount, route, channel });
        let posting = self.wallet_posting(withdrawal_kind(route), book, customer_id, amount);
        self.booked(payload, &[posting])
    }
}

// The folds of this family's events into the state (see `State::evolve`).

/// Records a recharge in `status` (a request, or one confirmed at once or on approval); answers
/// what was there before.
fn record_recharge(
    state: &mut State,
    (recharge_id, customer_id, book, amount, method): (RechargeId, OrgId, OrgId, Amount, RechargeMethod),
    status: RechargeStatus,
) -> Option<Recharge> {
    let recharge =
        Recharge { recharge_id, customer_id, book, amount, method, status, reversal_pending: false, channel: None };
    state.recharges.insert(recharge_id, recharge)
}

/// Records a withdrawal in `status`; answers what was there before.
fn record_withdrawal(
    state: &mut State,
    (withdrawal_id, customer_id, amount, route): (WithdrawalId, OrgId, Amount, WithdrawalRoute),
    status: WithdrawalStatus,
) -> Option<Withdrawal> {
    state.withdrawals.insert(withdrawal_id, Withdrawal { withdrawal_id, customer_id, amount, route, status })
}

pub(super) fn recharge_requested(state: &mut State, event: &RechargeRequested) {
    let recharge = (event.recharge_id, event.customer_id, event.book, event.amount, event.method);
    record_recharge(state, recharge, RechargeStatus::Requested);
    let wallet = state.wallets.entry(event.customer_id).or_default();
    wallet.pending_recharges = wallet.pending_recharges.plus(event.amount);
}

pub(super) fn online_recharge_requested(state: &mut State, event: &OnlineRechargeRequested) {
    let recharge = (event.recharge_id, event.customer_id, event.book, event.amount, RechargeMethod::Online);
    record_recharge(state, recharge, RechargeStatus::AwaitingPayment);
}

pub(super) fn recharge_confirmed(state: &mut State, event: &RechargeConfirmed) {
    let recharge = (event.recharge_id, event.customer_id, event.book, event.amount, event.method);
    let previous = record_recharge(state, recharge, RechargeStatus::Confirmed);
    if previous.is_some_and(|recharge| recharge.status == RechargeStatus::Requested) {
        let wallet = state.wallets.entry(event.customer_id).or_default();
        wallet.pending_recharges = wallet.pending_recharges.minus(event.amount);
    }
    if let (Some(channel), Some(trade_number)) = (&event.channel, &event.trade_number) {
        state.trade_numbers.insert((channel.clone(), trade_number.clone()));
    }
    if let (RechargeMethod::Online, Some(channel)) = (event.method, &event.channel) {
        state.recharges.get_mut(&event.recharge_id).expect("just recorded").channel = Some(channel.clone());
        // Within the book's posted total, which bounds every sum of its lines.
        let returnable = state.returnable_online.entry((event.customer_id, channel.clone())).or_default();
        *returnable = returnable.checked_add(event.amount).unwrap_or(Total::MAX);
    }
}

pub(super) fn recharge_reversed(state: &mut State, event: &RechargeReversed) {
    let recharge = state.recharges.get_mut(&event.recharge_id).expect("known recharge");
    recharge.status = RechargeStatus::Reversed;
    recharge.reversal_pending = false;
    // A reversal gives an online recharge back through its channel.
    if let Some(channel) = recharge.channel.clone() {
        if let Some(returnable) = state.returnable_online.get_mut(&(event.customer_id, channel)) {
            *returnable = returnable.saturating_sub(event.amount);
        }
    }
}

pub(super) fn withdrawal_requested(state: &mut State, event: &WithdrawalRequested) {
    let withdrawal = (event.withdrawal_id, event.customer_id, event.amount, event.route);
    record_withdrawal(state, withdrawal, WithdrawalStatus::Requested);
    let wallet = state.wallets.entry(event.customer_id).or_default();
    wallet.reserved = wallet.reserved.plus(event.amount);
}

pub(super) fn withdrawal_paid(state: &mut State, event: &WithdrawalPaid) {
    let withdrawal = (event.withdrawal_id, event.customer_id, event.amount, event.route);
    let previous = record_withdrawal(state, withdrawal, WithdrawalStatus::Paid);
    if previous.is_some_and(|withdrawal| withdrawal.status == WithdrawalStatus::Requested) {
        let wallet = state.wallets.entry(event.customer_id).or_default();
        wallet.reserved = wallet.reserved.minus(event.amount);
    }
    if event.route == WithdrawalRoute::Original {
        paid_back_online(state, event.customer_id, event.channel.as_deref(), event.amount);
    }
}

/// An `original` withdrawal went back through `channel`: that much less may follow it. One
/// paid before withdrawals named their channel (v1) is taken from the customer's channels in
/// the order of their names, as far as each goes.
fn paid_back_online(state: &mut State, customer_id: OrgId, channel: Option<&str>, amount: Amount) {
    let mut channels: Vec<String> = match channel {
        Some(channel) => vec![channel.to_owned()],
        None => state.returnable_of(customer_id).keys().map(|name| (*name).to_owned()).collect(),
    };
    channels.sort();
    let mut left = amount;
    for channel in channels {
        let Some(returnable) = state.returnable_online.get_mut(&(customer_id, channel)) else { continue };
        let taken = match returnable.to_amount() {
            Ok(small) => small.min(left),
            Err(_) => left,
        };
        *returnable = returnable.saturating_sub(taken);
        left = left.minus(taken);
    }
}

/// Where a grant stands among a customer's vouchers: earliest expiry first, those without one
/// last, then the oldest grant.
fn spending_order(slice: &VoucherSlice) -> (bool, Option<chrono::NaiveDate>, u64) {
    (slice.expires_on.is_none(), slice.expires_on, slice.coupon)
}

/// Adds `slice` to the customer's open grants (a new grant, or part of one given back).
fn add_voucher(state: &mut State, customer_id: OrgId, slice: &VoucherSlice) {
    let grants = state.vouchers.entry(customer_id).or_default();
    match grants.iter_mut().find(|grant| grant.coupon == slice.coupon) {
        Some(grant) => grant.amount = grant.amount.plus(slice.amount),
        None => {
            let at = grants.partition_point(|grant| spending_order(grant) < spending_order(slice));
            grants.insert(at, slice.clone());
        }
    }
    let wallet = state.wallets.entry(customer_id).or_default();
    wallet.voucher = wallet.voucher.plus(slice.amount);
}

/// Takes `slices` (spent or expired) from the customer's open grants.
fn take_vouchers(state: &mut State, customer_id: OrgId, slices: &[VoucherSlice]) {
    let grants = state.vouchers.entry(customer_id).or_default();
    for slice in slices {
        let grant = grants.iter_mut().find(|grant| grant.coupon == slice.coupon).expect("an open grant");
        grant.amount = grant.amount.minus(slice.amount);
    }
    grants.retain(|grant| !grant.amount.is_zero());
    if grants.is_empty() {
        state.vouchers.remove(&customer_id);
    }
    let wallet = state.wallets.entry(customer_id).or_default();
    for slice in slices {
        wallet.voucher = wallet.voucher.minus(slice.amount);
    }
}

pub(super) fn voucher_granted(state: &mut State, position: u64, event: &VoucherGranted) {
    let slice = VoucherSlice { coupon: position, expires_on: event.expires_on, amount: event.amount };
    add_voucher(state, event.customer_id, &slice);
}

pub(super) fn voucher_redeemed(state: &mut State, event: &VoucherRedeemed) {
    take_vouchers(state, event.customer_id, &event.slices);
    if let Some(order) = state.orders.get_mut(&OrderId(event.source_id)) {
        order.vouchers = event.slices.clone();
        order.voucher_paid = event.amount;
    }
}

pub(super) fn voucher_returned(state: &mut State, event: &VoucherReturned) {
    for slice in &event.slices {
        add_voucher(state, event.customer_id, slice);
    }
    let order = state.orders.get_mut(&event.order_id).expect("vouchers are returned by an order's refund");
    order.voucher_returned = order.voucher_returned.plus(event.amount);
    for slice in &event.slices {
        let spent = order.vouchers.iter_mut().find(|spent| spent.coupon == slice.coupon).expect("a grant it spent");
        spent.amount = spent.amount.minus(slice.amount);
    }
    order.vouchers.retain(|spent| !spent.amount.is_zero());
}

pub(super) fn low_balance_threshold_set(state: &mut State, event: &LowBalanceThresholdSet) {
    match event.threshold {
        Some(threshold) => state.low_balance_thresholds.insert(event.customer_id, threshold),
        None => state.low_balance_thresholds.remove(&event.customer_id),
    };
}

pub(super) fn voucher_expired(state: &mut State, event: &VoucherExpired) {
    take_vouchers(state, event.customer_id, &event.slices);
}
