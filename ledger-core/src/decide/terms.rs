//! A book's terms with its customers and counterparties: credit limits (信用额度) and the arrears
//! (欠费) they allow, the timings the clock follows, settlement cycles (结算周期), auto-renewals.
//!
//! **Credit.** A customer with a limit may buy (orders, usage, renewals) beyond its wallet: after
//! vouchers and cash, the shortfall is drawn on credit, a `CreditDrawn` that moves it from the
//! seller's receivable into the customer's prepayments (Dr 1122[C], Cr 2203[C]), which the sale's
//! own event then debits as it debits cash. So 2203 never goes below zero, and what the customer
//! owes is an asset of the seller's, where a receivable belongs (its wallet, seen whole, is
//! `cash + vouchers − arrears`, down to minus the limit). Each draw falls due after the book's
//! `arrears_due_days`; money that reaches the wallet (a recharge, the cash of a refund) repays
//! the arrears first, the part due earliest first (`ArrearsRepaid`: Dr 2203[C], Cr 1122[C]).
//! Arrears past their due date are noticed once (`ArrearsOverdue`, by the clock), and the
//! customer draws no more credit until they are repaid. A raise of the limit waits for
//! approval under the book's policy (`credit_limit_raise`, by the new limit); a lowering takes
//! effect at once and leaves what is owed as it is.

use chrono::{Days, Months, NaiveDate};

use crate::approval_policy::ApprovalAction;
use crate::command::{TermsCommand, PERIODS_MAX};
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, OrderId, OrgId};
use crate::journal::Posting;
use crate::money::Amount;
use crate::org::OrgKind;
use crate::permissions::Permission;
use crate::rules::PartyRef;
use crate::state::{ArrearsSlice, AutoRenewal, BookTerms, CustomerCredit, OrderStatus, State};

use super::Decider;

/// The longest an order may wait for payment: thirty days.
pub const ORDER_PAYMENT_TIMEOUT_MINUTES_MAX: u32 = 30 * 24 * 60;
/// The most days arrears may have until they fall due: a year. It also bounds how many due
/// dates a customer's arrears have (one per day of draws, none while overdue).
pub const ARREARS_DUE_DAYS_MAX: u32 = 365;
/// The most days before its end a subscription may be renewed.
pub const RENEWAL_LEAD_DAYS_MAX: u32 = 90;

/// The unit of time a product is sold by, for the end of a renewal the clock computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodUnit {
    Day,
    Month,
    Year,
}

impl PeriodUnit {
    /// A product's unit as people write it (`month`, `Months`, `月`); none for what is not a
    /// span of time (`GB`, `piece`).
    pub fn parse(unit: &str) -> Option<PeriodUnit> {
        match unit.trim().to_lowercase().as_str() {
            "day" | "days" | "天" | "日" => Some(PeriodUnit::Day),
            "month" | "months" | "月" | "个月" => Some(PeriodUnit::Month),
            "year" | "years" | "年" => Some(PeriodUnit::Year),
            _ => None,
        }
    }

    /// `periods` of this unit after `from` (`None` past the calendar's end).
    pub fn after(self, from: NaiveDate, periods: u32) -> Option<NaiveDate> {
        match self {
            PeriodUnit::Day => from.checked_add_days(Days::new(u64::from(periods))),
            PeriodUnit::Month => from.checked_add_months(Months::new(periods)),
            PeriodUnit::Year => from.checked_add_months(Months::new(periods.checked_mul(12)?)),
        }
    }
}

impl Decider<'_> {
    pub(super) fn decide_terms(&self, command: &TermsCommand) -> Result<Vec<Event>, DomainError> {
        use TermsCommand as C;
        match command {
            C::SetCreditLimit { customer_id, limit, approval_id } => {
                self.set_credit_limit(*customer_id, *limit, *approval_id)
            }
            C::SetBookTerms { book, order_payment_timeout_minutes, arrears_due_days, renewal_lead_days } => {
                self.book_for(*book, Permission::TermsWrite)?;
                let current = self.state.terms_of(*book);
                let terms = BookTerms {
                    order_payment_timeout_minutes: within(
                        "order_payment_timeout_minutes",
                        order_payment_timeout_minutes.unwrap_or(current.order_payment_timeout_minutes),
                        1,
                        ORDER_PAYMENT_TIMEOUT_MINUTES_MAX,
                    )?,
                    arrears_due_days: within(
                        "arrears_due_days",
                        arrears_due_days.unwrap_or(current.arrears_due_days),
                        1,
                        ARREARS_DUE_DAYS_MAX,
                    )?,
                    renewal_lead_days: within(
                        "renewal_lead_days",
                        renewal_lead_days.unwrap_or(current.renewal_lead_days),
                        0,
                        RENEWAL_LEAD_DAYS_MAX,
                    )?,
                };
                let event = BookTermsSet {
                    book: *book,
                    order_payment_timeout_minutes: terms.order_payment_timeout_minutes,
                    arrears_due_days: terms.arrears_due_days,
                    renewal_lead_days: terms.renewal_lead_days,
                };
                Ok(vec![Event::new(EventPayload::BookTermsSet(event))])
            }
            C::SetSettlementCycle { book, counterparty_id, cycle } => {
                self.book_for(*book, Permission::TermsWrite)?;
                let settles_with = self.state.orgs.get(counterparty_id).is_some_and(|org| {
                    org.parent_id == Some(*book) && matches!(org.kind, OrgKind::Supplier | OrgKind::Reseller)
                });
                if !settles_with {
                    return Err(DomainError::not_found("counterparty", counterparty_id));
                }
                if let Some(cycle) = cycle {
                    let days = match cycle.every {
                        CycleEvery::Month => 28,
                        CycleEvery::Week => 7,
                    };
                    within("day", cycle.day, 1, days)?;
                }
                let event = SettlementCycleSet { book: *book, counterparty_id: *counterparty_id, cycle: *cycle };
                Ok(vec![Event::new(EventPayload::SettlementCycleSet(event))])
            }
            C::SetAutoRenewal { order_id, periods } => self.set_auto_renewal(*order_id, *periods),
        }
    }

    fn set_credit_limit(
        &self,
        customer_id: OrgId,
        limit: Amount,
        approval_id: ApprovalId,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(customer_id, Permission::CreditWrite)?;
        if self.command.actor.org_id == customer_id {
            return Err(DomainError::forbidden("a customer's credit is set by its seller"));
        }
        // The approval decision point: a raise waits under the book's policy, by the new limit.
        let action = ApprovalAction::CreditLimitRaise;
        let raise = limit > self.state.credit_limit_of(customer_id);
        if let Some(levels) = self.approval_levels(book, action, Some(limit)).filter(|_| raise) {
            self.new_approval_id(approval_id)?;
            let proposal = Proposal::SetCreditLimit { customer_id, limit };
            return Ok(self.routed_approval_request(
                approval_id,
                book,
                ApprovalKind::CreditLimit,
                proposal,
                action,
                levels,
            ));
        }
        Ok(vec![self.credit_limit_set(customer_id, limit)])
    }

    /// The limit in force from now on (at once, or once its raise is approved).
    pub(super) fn credit_limit_set(&self, customer_id: OrgId, limit: Amount) -> Event {
        let book = self.state.orgs.get(&customer_id).and_then(|org| org.parent_id).unwrap_or(customer_id);
        Event::new(EventPayload::CreditLimitSet(CreditLimitSet { customer_id, book, limit }))
    }

    fn set_auto_renewal(&self, order_id: OrderId, periods: Option<u32>) -> Result<Vec<Event>, DomainError> {
        let order = self.customer_order(order_id, Permission::OrdersRenew)?;
        if let Some(periods) = periods {
            if !matches!(order.status, OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded) {
                return Err(DomainError::OrderState { status: order.status.as_str(), action: "renew automatically" });
            }
            within("periods", periods, 1, PERIODS_MAX)?;
            self.order_unit(order.items.iter().map(|item| item.product_id))?;
        }
        let event = AutoRenewalSet { order_id, customer_id: order.customer_id, seller_id: order.seller_id, periods };
        Ok(vec![Event::new(EventPayload::AutoRenewalSet(event))])
    }

    /// The one unit of time an order's products are sold by (what a renewal adds periods of).
    pub(super) fn order_unit(
        &self,
        products: impl IntoIterator<Item = crate::ids::ProductId>,
    ) -> Result<PeriodUnit, DomainError> {
        let mut found: Option<PeriodUnit> = None;
        for product_id in products {
            let unit = self.state.products.get(&product_id).map_or("", |product| product.unit.as_str());
            let parsed = PeriodUnit::parse(unit).ok_or_else(|| {
                DomainError::invalid_field(
                    "order_id",
                    format!(
                        "its product {product_id} is sold by the {unit:?}, not by a span of time (day, month, year)"
                    ),
                )
            })?;
            if found.is_some_and(|earlier| earlier != parsed) {
                return Err(DomainError::invalid_field("order_id", "its products are sold by different units of time"));
            }
            found = Some(parsed);
        }
        found.ok_or_else(|| DomainError::invalid_field("order_id", "the order has no items"))
    }

    /// What a purchase of `price` (`source_id`: the order, usage charge or renewal) takes from the
    /// wallet before its sale's event: vouchers first (`spend_vouchers`), then cash, and what
    /// cash lacks drawn on the customer's credit (`CreditDrawn`), within its limit and only while
    /// nothing it owes is overdue. Without credit, a short wallet is refused by the limits check
    /// as before; with credit, here, naming what cash and credit had.
    pub(super) fn fund_purchase(
        &self,
        customer_id: OrgId,
        book: OrgId,
        price: Amount,
        source_id: uuid::Uuid,
    ) -> Result<Vec<Event>, DomainError> {
        let mut events = self.spend_vouchers(customer_id, book, price, source_id)?;
        let from_vouchers = events
            .iter()
            .find_map(|event| match &event.payload {
                EventPayload::VoucherRedeemed(redeemed) => Some(redeemed.amount),
                _ => None,
            })
            .unwrap_or(Amount::ZERO);
        let from_cash = price.checked_sub(from_vouchers).unwrap_or(Amount::ZERO);
        let cash = self.state.wallet(customer_id).available();
        let Some(credit) = self.state.credit.get(&customer_id).filter(|credit| !credit.limit.is_zero()) else {
            return Ok(events);
        };
        let Some(shortfall) = from_cash.checked_sub(cash).filter(|shortfall| !shortfall.is_zero()) else {
            return Ok(events);
        };
        let today = self.command.effective_date;
        if credit.overdue_on(today) {
            let due_on = credit.due_on().unwrap_or(today);
            return Err(DomainError::ArrearsOverdue { amount: credit.arrears_total(), due_on });
        }
        let room = credit.limit.checked_sub(credit.arrears_total()).unwrap_or(Amount::ZERO);
        if shortfall > room {
            // Cash and credit are each within `AMOUNT_MAX`; their sum only names what there was.
            let available = cash.checked_add(room).unwrap_or(Amount::MAX);
            return Err(DomainError::InsufficientBalance { available, needed: from_cash });
        }
        let days = u64::from(self.state.terms_of(book).arrears_due_days);
        let due_on = today.checked_add_days(Days::new(days)).ok_or_else(|| {
            DomainError::invalid_field("effective_date", "arrears would fall due past the calendar's end")
        })?;
        let payload =
            EventPayload::CreditDrawn(CreditDrawn { customer_id, book, source_id, amount: shortfall, due_on });
        let posting = Posting::new("credit.draw", "seller", book)
            .amount("amount", shortfall)
            .party(PartyRef::Customer, customer_id);
        events.push(self.booked(payload, &[posting])?);
        Ok(events)
    }

    /// An event that brought money into a wallet (a recharge), followed by the repayment of the
    /// customer's arrears from it.
    pub(super) fn with_repayment(&self, event: Event) -> Result<Vec<Event>, DomainError> {
        let credited = match &event.payload {
            EventPayload::RechargeConfirmed(confirmed) => {
                Some((confirmed.customer_id, confirmed.book, confirmed.recharge_id.0, confirmed.amount))
            }
            _ => None,
        };
        let mut events = vec![event];
        if let Some((customer_id, book, source_id, amount)) = credited {
            events.extend(self.repayment(customer_id, book, source_id, amount)?);
        }
        Ok(events)
    }

    /// What `cash_in` (money that has just reached the wallet) repays of the customer's arrears:
    /// all of it, or all the arrears, the part due earliest first. Nothing when it owes nothing.
    pub(super) fn repayment(
        &self,
        customer_id: OrgId,
        book: OrgId,
        source_id: uuid::Uuid,
        cash_in: Amount,
    ) -> Result<Option<Event>, DomainError> {
        let Some(credit) = self.state.credit.get(&customer_id) else { return Ok(None) };
        let amount = cash_in.min(credit.arrears_total());
        if amount.is_zero() {
            return Ok(None);
        }
        let mut left = amount;
        let mut arrears_due_on = None;
        for slice in &credit.arrears {
            if left < slice.amount {
                arrears_due_on = Some(slice.due_on);
                break;
            }
            left = left.minus(slice.amount);
        }
        let payload =
            EventPayload::ArrearsRepaid(ArrearsRepaid { customer_id, book, source_id, amount, arrears_due_on });
        let posting = Posting::new("credit.repay", "seller", book)
            .amount("amount", amount)
            .party(PartyRef::Customer, customer_id);
        Ok(Some(self.booked(payload, &[posting])?))
    }
}

/// `value` within `low..=high`, or a refusal naming `field`.
fn within(field: &str, value: u32, low: u32, high: u32) -> Result<u32, DomainError> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(DomainError::invalid_field(field, format!("must be {low} to {high}")))
    }
}

// The folds of this family's events into the state (see `State::evolve`).

pub(super) fn credit_limit_set(state: &mut State, event: &CreditLimitSet) {
    state.credit.entry(event.customer_id).or_default().limit = event.limit;
    forget_idle_credit(state, event.customer_id);
}

pub(super) fn credit_drawn(state: &mut State, event: &CreditDrawn) {
    let credit = state.credit.entry(event.customer_id).or_default();
    match credit.arrears.iter_mut().find(|slice| slice.due_on == event.due_on) {
        Some(slice) => slice.amount = slice.amount.plus(event.amount),
        None => {
            let at = credit.arrears.partition_point(|slice| slice.due_on < event.due_on);
            credit.arrears.insert(at, ArrearsSlice { due_on: event.due_on, amount: event.amount });
        }
    }
}

pub(super) fn arrears_repaid(state: &mut State, event: &ArrearsRepaid) {
    let credit = state.credit.get_mut(&event.customer_id).expect("a repayment of arrears the customer has");
    let mut left = event.amount;
    for slice in &mut credit.arrears {
        let take = slice.amount.min(left);
        slice.amount = slice.amount.minus(take);
        left = left.minus(take);
    }
    credit.arrears.retain(|slice| !slice.amount.is_zero());
    forget_idle_credit(state, event.customer_id);
}

pub(super) fn arrears_overdue(state: &mut State, event: &ArrearsOverdue) {
    state.credit.entry(event.customer_id).or_default().overdue_noticed = Some(event.due_on);
}

/// A customer with no limit and nothing owed needs no entry (the state stays small).
fn forget_idle_credit(state: &mut State, customer_id: OrgId) {
    if state.credit.get(&customer_id).is_some_and(|credit| *credit == CustomerCredit::default()) {
        state.credit.remove(&customer_id);
    }
}

pub(super) fn book_terms_set(state: &mut State, event: &BookTermsSet) {
    let terms = BookTerms {
        order_payment_timeout_minutes: event.order_payment_timeout_minutes,
        arrears_due_days: event.arrears_due_days,
        renewal_lead_days: event.renewal_lead_days,
    };
    state.book_terms.insert(event.book, terms);
}

pub(super) fn settlement_cycle_set(state: &mut State, event: &SettlementCycleSet) {
    let key = (event.book, event.counterparty_id);
    match event.cycle {
        Some(cycle) => state.settlement_cycles.insert(key, cycle),
        None => state.settlement_cycles.remove(&key),
    };
}

pub(super) fn auto_renewal_set(state: &mut State, event: &AutoRenewalSet) {
    match event.periods {
        Some(periods) => {
            let renewal =
                AutoRenewal { customer_id: event.customer_id, seller_id: event.seller_id, periods, failed_for: None };
            state.auto_renewals.insert(event.order_id, renewal);
        }
        None => {
            state.auto_renewals.remove(&event.order_id);
        }
    }
}

pub(super) fn auto_renewal_failed(state: &mut State, event: &AutoRenewalFailed) {
    if let Some(renewal) = state.auto_renewals.get_mut(&event.order_id) {
        renewal.failed_for = Some(event.subscription_end);
    }
}
