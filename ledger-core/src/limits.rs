//! The running sums `evolve` keeps, and the one check that keeps every one of them in range.
//!
//! A command's events change sums that grow with the log. Each has a documented range, and
//! [`check`] refuses a command whose events would take any of them out of it, before anything is
//! folded in, so `evolve` never meets an out-of-range sum:
//!
//! | sum | range | refused as |
//! |---|---|---|
//! | a customer's wallet (cash, its 2203 balance, + vouchers, its 2203.01) | cash 0 ..= `AMOUNT_MAX`, never below its holds; cash + vouchers ..= `AMOUNT_MAX` | `insufficient_balance`, `limit_exceeded` |
//! | a customer's arrears (its 1122 balance in its seller's book) | 0 ..= its credit limit when drawn (a limit lowered later leaves them as they are) | `insufficient_balance`, `limit_exceeded` |
//! | a customer's pending recharges, held withdrawals | 0 ..= `AMOUNT_MAX` | `limit_exceeded` |
//! | a book's all-time posted total (Σ debits = Σ credits) | 0 ..= `TOTAL_MAX` | `limit_exceeded` |
//! | a customer's invoiceable amount | 0 ..= `TOTAL_MAX` | `limit_exceeded` |
//!
//! A book's posted total bounds every account's debit and credit totals, daily totals, trial
//! balance columns and KPI sums of that book, so those need no check of their own: the read
//! models keep them as BIGINT minor units, where 92 totals of `TOTAL_MAX` still fit.
//!
//! The writer checks a command's events here; replay checks each stored event here too (the
//! same rules, one implementation), so a forged log is reported, not folded.

use std::collections::HashMap;

use crate::chart::{codes, Side};
use crate::event::{Event, EventPayload};
use crate::ids::OrgId;
use crate::journal::Entry;
use crate::money::{Amount, SignedAmount, Total, AMOUNT_MAX, TOTAL_MAX};
use crate::org::OrgKind;
use crate::state::{State, WithdrawalStatus};

/// A sum the events would take out of its range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Breach {
    /// A wallet would go below zero, or below what it holds for pending withdrawals.
    #[error("the wallet of customer {customer} has {available} to spend, not {needed}")]
    Overdrawn { customer: OrgId, available: Amount, needed: Amount },
    /// A sum would pass its limit.
    #[error("the {what} of {whose} would pass its limit of {max}")]
    Limit { whose: String, what: &'static str, max: rust_decimal::Decimal },
}

/// Checks what `events` (one command's, in order) would do to the running sums of `state`.
pub fn check<'a>(state: &State, events: impl IntoIterator<Item = &'a Event> + Clone) -> Result<(), Breach> {
    check_wallets(state, events.clone())?;
    check_credit(state, events.clone())?;
    check_holds(state, events.clone())?;
    check_books(state, events.clone())?;
    check_invoiceable(state, events)
}

/// What an event's entries do to customers' wallets: the net of its 2203 lines per customer
/// (credit positive), in the order customers first appear. `evolve` applies these nets, so a
/// refund that credits and debits one wallet in one event never passes through a balance
/// outside the range.
pub(crate) fn wallet_deltas(state: &State, entries: &[Entry]) -> Vec<(OrgId, SignedAmount)> {
    let mut deltas: Vec<(OrgId, SignedAmount)> = Vec::new();
    for line in entries.iter().flat_map(|entry| &entry.lines) {
        let Some(party) = line.party else { continue };
        if line.account.as_str() != codes::CUSTOMER_PREPAYMENTS
            || state.orgs.get(&party).map(|org| org.kind) != Some(OrgKind::Customer)
        {
            continue;
        }
        let index = match deltas.iter().position(|(customer, _)| *customer == party) {
            Some(index) => index,
            None => {
                deltas.push((party, SignedAmount::ZERO));
                deltas.len() - 1
            }
        };
        let delta = &mut deltas[index].1;
        *delta = match line.side {
            Side::Credit => delta.add(line.amount),
            Side::Debit => delta.sub(line.amount),
        };
    }
    deltas
}

/// What an event does to a customer's vouchers (the deciders spend at most what a grant has
/// left, so only the sum with cash needs a check here).
pub(crate) fn voucher_delta(payload: &EventPayload) -> Option<(OrgId, SignedAmount)> {
    match payload {
        EventPayload::VoucherGranted(granted) => Some((granted.customer_id, granted.amount.into())),
        EventPayload::VoucherReturned(returned) => Some((returned.customer_id, returned.amount.into())),
        EventPayload::VoucherRedeemed(redeemed) => {
            Some((redeemed.customer_id, SignedAmount::ZERO.sub(redeemed.amount)))
        }
        EventPayload::VoucherExpired(expired) => Some((expired.customer_id, SignedAmount::ZERO.sub(expired.amount))),
        _ => None,
    }
}

/// After each event, no wallet's cash is below zero or below what it holds for pending
/// withdrawals (only the payment of a held withdrawal may spend what it holds), and no wallet,
/// cash and vouchers together, is past `AMOUNT_MAX`.
fn check_wallets<'a>(state: &State, events: impl IntoIterator<Item = &'a Event>) -> Result<(), Breach> {
    // Cash, holds and vouchers of each wallet the events touched so far, event by event.
    let mut wallets: Vec<(OrgId, SignedAmount, Amount, SignedAmount)> = Vec::new();
    for event in events {
        if let Some((customer, delta)) = voucher_delta(&event.payload) {
            let (_, cash, _, vouchers) = wallet_slot(state, &mut wallets, customer);
            *vouchers = vouchers.plus(delta);
            if delta.as_decimal() > rust_decimal::Decimal::ZERO && cash.plus(*vouchers).as_decimal() > AMOUNT_MAX {
                return Err(limit(format!("customer {customer}"), "wallet balance", AMOUNT_MAX));
            }
        }
        if let EventPayload::WithdrawalPaid(paid) = &event.payload {
            let held = state.withdrawals.get(&paid.withdrawal_id);
            if held.is_some_and(|withdrawal| withdrawal.status == WithdrawalStatus::Requested) {
                let slot = wallet_slot(state, &mut wallets, paid.customer_id);
                slot.2 = slot.2.checked_sub(paid.amount).unwrap_or(Amount::ZERO);
            }
        }
        for (customer, delta) in wallet_deltas(state, &event.entries) {
            let (_, balance, held, vouchers) = wallet_slot(state, &mut wallets, customer);
            let after = balance.plus(delta);
            if delta.is_negative() && after.as_decimal() < held.as_decimal() {
                let available = Amount::from_decimal(balance.as_decimal() - held.as_decimal()).unwrap_or(Amount::ZERO);
                // One event moves at most `AMOUNT_MAX` out of a wallet: its amounts are bounded.
                let needed = delta.abs().and_then(Total::to_amount).unwrap_or(Amount::MAX);
                return Err(Breach::Overdrawn { customer, available, needed });
            }
            if !delta.is_negative() && after.plus(*vouchers).as_decimal() > AMOUNT_MAX {
                return Err(limit(format!("customer {customer}"), "wallet balance", AMOUNT_MAX));
            }
            *balance = after;
        }
    }
    Ok(())
}

fn wallet_slot<'w>(
    state: &State,
    wallets: &'w mut Vec<(OrgId, SignedAmount, Amount, SignedAmount)>,
    customer: OrgId,
) -> &'w mut (OrgId, SignedAmount, Amount, SignedAmount) {
    let index = match wallets.iter().position(|(id, _, _, _)| *id == customer) {
        Some(index) => index,
        None => {
            let wallet = state.wallet(customer);
            wallets.push((customer, wallet.balance.into(), wallet.reserved, wallet.voucher.into()));
            wallets.len() - 1
        }
    };
    &mut wallets[index]
}

/// A draw on credit keeps the customer's arrears within its limit (the one in force then, a
/// `CreditLimitSet` of the same events included); a repayment repays no more than is owed.
fn check_credit<'a>(state: &State, events: impl IntoIterator<Item = &'a Event>) -> Result<(), Breach> {
    // (customer, limit, arrears) of each customer the events touched so far, event by event.
    let mut credits: Vec<(OrgId, Amount, Amount)> = Vec::new();
    let slot = |customer: OrgId, credits: &mut Vec<(OrgId, Amount, Amount)>| -> usize {
        match credits.iter().position(|(id, _, _)| *id == customer) {
            Some(index) => index,
            None => {
                credits.push((customer, state.credit_limit_of(customer), state.arrears_of(customer)));
                credits.len() - 1
            }
        }
    };
    for event in events {
        match &event.payload {
            EventPayload::CreditLimitSet(set) => {
                let index = slot(set.customer_id, &mut credits);
                credits[index].1 = set.limit;
            }
            EventPayload::CreditDrawn(drawn) => {
                let index = slot(drawn.customer_id, &mut credits);
                let (customer, credit_limit, arrears) = credits[index];
                let room = credit_limit.checked_sub(arrears).unwrap_or(Amount::ZERO);
                if drawn.amount > room {
                    return Err(Breach::Overdrawn { customer, available: room, needed: drawn.amount });
                }
                credits[index].2 = arrears.plus(drawn.amount);
            }
            EventPayload::ArrearsRepaid(repaid) => {
                let index = slot(repaid.customer_id, &mut credits);
                let (customer, _, arrears) = credits[index];
                credits[index].2 = arrears.checked_sub(repaid.amount).ok_or_else(|| {
                    limit(format!("customer {customer}"), "repayment of arrears", arrears.as_decimal())
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Pending recharges stay within `AMOUNT_MAX`; withdrawals held for approval within the
/// wallet's balance (a request may only hold what could be spent).
fn check_holds<'a>(state: &State, events: impl IntoIterator<Item = &'a Event>) -> Result<(), Breach> {
    let mut pending: HashMap<OrgId, Amount> = HashMap::new();
    let mut reserved: HashMap<OrgId, Amount> = HashMap::new();
    for event in events {
        match &event.payload {
            EventPayload::RechargeRequested(requested) => {
                let customer = requested.customer_id;
                let sum = pending.entry(customer).or_insert_with(|| state.wallet(customer).pending_recharges);
                *sum = sum
                    .checked_add(requested.amount)
                    .ok_or_else(|| limit(format!("customer {customer}"), "pending recharges", AMOUNT_MAX))?;
            }
            EventPayload::WithdrawalRequested(requested) => {
                let (customer, wallet) = (requested.customer_id, state.wallet(requested.customer_id));
                let sum = reserved.entry(customer).or_insert(wallet.reserved);
                let available = wallet.balance.checked_sub(*sum).unwrap_or(Amount::ZERO);
                if requested.amount > available {
                    return Err(Breach::Overdrawn { customer, available, needed: requested.amount });
                }
                *sum = sum.plus(requested.amount);
            }
            _ => {}
        }
    }
    Ok(())
}

/// A book's all-time posted total stays within `TOTAL_MAX`.
fn check_books<'a>(state: &State, events: impl IntoIterator<Item = &'a Event>) -> Result<(), Breach> {
    let mut posted: Vec<(OrgId, Total)> = Vec::new();
    for entry in events.into_iter().flat_map(|event| &event.entries) {
        let index = match posted.iter().position(|(book, _)| *book == entry.book) {
            Some(index) => index,
            None => {
                posted.push((entry.book, state.books.get(&entry.book).map_or(Total::ZERO, |book| book.posted)));
                posted.len() - 1
            }
        };
        for line in entry.lines.iter().filter(|line| line.side == Side::Debit) {
            let sum = &mut posted[index].1;
            *sum = sum
                .checked_add(line.amount)
                .map_err(|_| limit(format!("book {}", entry.book), "posted total", TOTAL_MAX))?;
        }
    }
    Ok(())
}

/// What a customer may still invoice stays within `TOTAL_MAX`.
fn check_invoiceable<'a>(state: &State, events: impl IntoIterator<Item = &'a Event>) -> Result<(), Breach> {
    let mut sums: HashMap<OrgId, Total> = HashMap::new();
    for event in events {
        let Some((customer, amount)) = invoiceable_sale(&event.payload) else { continue };
        let sum = sums.entry(customer).or_insert_with(|| state.invoiceable.get(&customer).copied().unwrap_or_default());
        *sum = sum
            .checked_add(amount)
            .map_err(|_| limit(format!("customer {customer}"), "invoiceable amount", TOTAL_MAX))?;
    }
    Ok(())
}

/// The sales that add to what a customer may invoice: a paid order, a usage charge, a renewal.
pub(crate) fn invoiceable_sale(payload: &EventPayload) -> Option<(OrgId, Amount)> {
    match payload {
        EventPayload::OrderPaid(paid) => Some((paid.customer_id, paid.total)),
        EventPayload::UsageCharged(charged) => Some((charged.customer_id, charged.total)),
        EventPayload::SubscriptionRenewed(renewed) => Some((renewed.customer_id, renewed.total)),
        _ => None,
    }
}

fn limit(whose: String, what: &'static str, max: rust_decimal::Decimal) -> Breach {
    Breach::Limit { whose, what, max }
}
