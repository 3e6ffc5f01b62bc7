//! The running sums `evolve` keeps, and the one check that keeps every one of them in range.
//!
//! A command's events change sums that grow with the log. Each has a documented range, and
//! [`check`] refuses a command whose events would take any of them out of it, before anything is
//! folded in, so `evolve` never meets an out-of-range sum:
//!
//! | sum | range | refused as |
//! |---|---|---|
//! | a customer's wallet (2203 balance) | 0 ..= `AMOUNT_MAX`, never below its holds | `insufficient_balance`, `limit_exceeded` |
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
    check_holds(state, events.clone())?;
    check_books(state, events.clone())?;
    check_invoiceable(state, events)
}

/// No wallet goes below zero or below what it holds for pending withdrawals (only the payment
/// of a held withdrawal may spend what it holds), nor past `AMOUNT_MAX`.
fn check_wallets<'a>(state: &State, events: impl IntoIterator<Item = &'a Event>) -> Result<(), Breach> {
    let mut deltas: Vec<(OrgId, SignedAmount)> = Vec::new();
    let mut released: Vec<(OrgId, Amount)> = Vec::new();
    for event in events {
        if let EventPayload::WithdrawalPaid(paid) = &event.payload {
            let held = state.withdrawals.get(&paid.withdrawal_id);
            if held.is_some_and(|withdrawal| withdrawal.status == WithdrawalStatus::Requested) {
                released.push((paid.customer_id, paid.amount));
            }
        }
        for line in event.entries.iter().flat_map(|entry| &entry.lines) {
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
    }
    for (customer, delta) in deltas {
        let wallet = state.wallet(customer);
        let after = SignedAmount::from(wallet.balance).plus(delta);
        if delta.is_negative() {
            let mut held = wallet.reserved;
            for (_, amount) in released.iter().filter(|(released, _)| *released == customer) {
                held = held.checked_sub(*amount).unwrap_or(Amount::ZERO);
            }
            let spendable = wallet.balance.checked_sub(held).unwrap_or(Amount::ZERO);
            if after.as_decimal() < held.as_decimal() {
                // One command moves at most `AMOUNT_MAX` out of a wallet: its amounts are bounded.
                let needed = delta.abs().and_then(Total::to_amount).unwrap_or(Amount::MAX);
                return Err(Breach::Overdrawn { customer, available: spendable, needed });
            }
        } else if after.as_decimal() > AMOUNT_MAX {
            return Err(limit(format!("customer {customer}"), "wallet balance", AMOUNT_MAX));
        }
    }
    Ok(())
}

/// Pending recharges and held withdrawals of one customer stay within `AMOUNT_MAX`.
fn check_holds<'a>(state: &State, events: impl IntoIterator<Item = &'a Event>) -> Result<(), Breach> {
    let mut pending: HashMap<OrgId, Amount> = HashMap::new();
    let mut reserved: HashMap<OrgId, Amount> = HashMap::new();
    for event in events {
        let (sums, customer, amount, what) = match &event.payload {
            EventPayload::RechargeRequested(requested) => {
                (&mut pending, requested.customer_id, requested.amount, "pending recharges")
            }
            EventPayload::WithdrawalRequested(requested) => {
                (&mut reserved, requested.customer_id, requested.amount, "held withdrawals")
            }
            _ => continue,
        };
        let wallet = state.wallet(customer);
        let start = if what == "pending recharges" { wallet.pending_recharges } else { wallet.reserved };
        let sum = sums.entry(customer).or_insert(start);
        *sum = sum.checked_add(amount).ok_or_else(|| limit(format!("customer {customer}"), what, AMOUNT_MAX))?;
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
