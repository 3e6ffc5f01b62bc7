//! Money in and out of customer wallets: recharges, reversals, coupons, withdrawals.

use crate::approval_policy::{default_levels, ApprovalAction};
use crate::command::MoneyCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, OrderId, OrgId, RechargeId, TradeNumber, WithdrawalId};
use crate::journal::Posting;
use crate::money::Amount;
use crate::permissions::Permission;
use crate::rules::PartyRef;
use crate::state::{OrderStatus, Recharge, RechargeStatus, State, Withdrawal, WithdrawalStatus};

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
            C::GrantCoupon { customer_id, amount, reason, approval_id } => {
                self.grant_coupon(customer_id, amount, reason, approval_id)
            }
            C::Withdraw { withdrawal_id, approval_id, customer_id, amount, route } => {
                self.withdraw(withdrawal_id, approval_id, customer_id, amount, route)
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
        Ok(vec![self.booked(payload, &[posting])?])
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
            return Ok(vec![self.booked(confirmed(recharge.recharge_id, recharge.customer_id), &[posting])?]);
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
            return Ok(vec![self.booked(payload, &[posting])?]);
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

    fn grant_coupon(
        &self,
        customer_id: &OrgId,
        amount: &Amount,
        reason: &String,
        approval_id: &ApprovalId,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(*customer_id, Permission::CouponsWrite)?;
        if self.command.actor.org_id == *customer_id {
            return Err(DomainError::forbidden("customers do not grant themselves coupons"));
        }
        let coupon = self.coupon_granted(*customer_id, book, *amount, reason)?;
        // The approval decision point: above the book's threshold, the coupon waits.
        if let Some(levels) = self.approval_levels(book, ApprovalAction::Coupon, Some(*amount)) {
            self.new_approval_id(*approval_id)?;
            let reason = prose_field("reason", reason)?;
            let proposal = Proposal::GrantCoupon { customer_id: *customer_id, amount: *amount, reason };
            return Ok(self.routed_approval_request(
                *approval_id,
                book,
                ApprovalKind::Coupon,
                proposal,
                ApprovalAction::Coupon,
                levels,
            ));
        }
        Ok(vec![coupon])
    }

    /// A coupon booked: granted at once, or once approved.
    pub(super) fn coupon_granted(
        &self,
        customer_id: OrgId,
        book: OrgId,
        amount: Amount,
        reason: &str,
    ) -> Result<Event, DomainError> {
        let payload = EventPayload::CouponGranted(CouponGranted {
            customer_id,
            book,
            amount: positive("amount", amount)?,
            reason: prose_field("reason", reason)?,
        });
        let posting = self.wallet_posting("coupon", book, customer_id, amount);
        self.booked(payload, &[posting])
    }

    fn withdraw(
        &self,
        withdrawal_id: &WithdrawalId,
        approval_id: &ApprovalId,
        customer_id: &OrgId,
        amount: &Amount,
        route: &WithdrawalRoute,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(*customer_id, Permission::WithdrawalsWrite)?;
        if self.state.withdrawals.contains_key(withdrawal_id) {
            return Err(DomainError::AlreadyExists { what: "withdrawal", id: withdrawal_id.to_string() });
        }
        let amount = positive("amount", *amount)?;
        match route {
            WithdrawalRoute::Original => {
                Ok(vec![self.withdrawal_paid(*withdrawal_id, *customer_id, book, amount, *route)?])
            }
            WithdrawalRoute::Offline => {
                self.new_approval_id(*approval_id)?;
                let request = WithdrawalRequested {
                    withdrawal_id: *withdrawal_id,
                    approval_id: *approval_id,
                    customer_id: *customer_id,
                    book,
                    amount,
                    route: *route,
                };
                let proposal = Proposal::PayWithdrawal { withdrawal_id: *withdrawal_id };
                // Money leaving: always approved (the policy decides by whom).
                let action = ApprovalAction::Withdrawal;
                let levels = self.approval_levels(book, action, Some(amount)).unwrap_or_else(default_levels);
                let mut events = vec![Event::new(EventPayload::WithdrawalRequested(request))];
                events.extend(self.routed_approval_request(
                    *approval_id,
                    book,
                    ApprovalKind::Withdrawal,
                    proposal,
                    action,
                    levels,
                ));
                Ok(events)
            }
        }
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
        self.withdrawal_paid(withdrawal_id, withdrawal.customer_id, book, withdrawal.amount, withdrawal.route)
    }

    fn withdrawal_paid(
        &self,
        withdrawal_id: WithdrawalId,
        customer_id: OrgId,
        book: OrgId,
        amount: Amount,
        route: WithdrawalRoute,
    ) -> Result<Event, DomainError> {
        let payload = EventPayload::WithdrawalPaid(WithdrawalPaid { withdrawal_id, customer_id, book, amount, route });
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
    let recharge = Recharge { recharge_id, customer_id, book, amount, method, status, reversal_pending: false };
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
}

pub(super) fn recharge_reversed(state: &mut State, event: &RechargeReversed) {
    let recharge = state.recharges.get_mut(&event.recharge_id).expect("known recharge");
    recharge.status = RechargeStatus::Reversed;
    recharge.reversal_pending = false;
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
}
