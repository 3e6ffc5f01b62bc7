//! The clock: what falls due with time, decided from a `Tick` command like any other, its time
//! in the command (`Command::at`, and the accounting date `effective_date`). The gateway's
//! scheduler sends one on the leader only; a replay folds what a tick decided and never asks
//! the clock, so every instance holds the same state whatever its own time. A tick that finds
//! nothing due decides nothing: no event, nothing written.
//!
//! A tick decides, in this order, at most [`TICK_DECISIONS_MAX`] things (what is left falls to
//! the next tick):
//! 1. the statements of settlement cycles that are due (`SettlementStatementIssued`), first, so
//!    their cut-off (the position before the tick) is the state they are replayed against;
//! 2. orders unpaid past their book's payment timeout (`OrderCancelled`, `timed_out`);
//! 3. auto-renewals within their book's lead days of the subscription's end
//!    (`SubscriptionRenewed`, paid like any renewal; `AutoRenewalFailed` once per end when it
//!    cannot be);
//! 4. vouchers past their expiry (`VoucherExpired`);
//! 5. serial codes never activated past their batch's expiry (`SerialCodesExpired`);
//! 6. arrears past their due date (`ArrearsOverdue`, once per due date).
//!
//! Each decision is judged alone against the state before the tick, then with the limits of
//! everything the tick decided before it: one that would break a limit is left out (a renewal's
//! is noticed as failed), never the whole tick. A customer's wallet is touched by one decision
//! per tick (a renewal books its expired vouchers itself), so decisions on the same state never
//! spend the same money twice.
//!
//! Ids the clock creates (a statement's, a renewal's) are derived from what they are for, so the
//! same decision always has the same id.

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::command::ClockCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{OrderId, OrgId, PrincipalId, RenewalId, SettlementId};
use crate::limits;
use crate::money::Amount;
use crate::org::{Actor, Role};
use crate::state::{BookTerms, OrderStatus, State};

use super::Decider;

/// Decisions one tick takes at most (each a few events); the rest wait for the next tick.
pub const TICK_DECISIONS_MAX: usize = 256;

/// The principal the deployment's clock acts with (`kboss` in ASCII, then `clock`): no token
/// has it, so no HTTP caller can send a clock command.
pub const CLOCK_PRINCIPAL_ID: PrincipalId = PrincipalId(Uuid::from_u128(0x6b62_6f73_7300_0000_0063_6c6f_636b));

/// The deployment's clock as an actor: the platform's `super_admin`, with its own principal.
pub fn clock_actor(platform_id: OrgId) -> Actor {
    Actor::new(platform_id, CLOCK_PRINCIPAL_ID, [Role::SuperAdmin])
}

/// An id derived from what it is for: the first 16 bytes of SHA-256 over the parts, as a UUID
/// of version 8 (custom).
fn derived_id(parts: &[&[u8]]) -> Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// What one tick has decided so far.
struct Run {
    events: Vec<Event>,
    decisions: usize,
    /// Customers whose wallet a decision of this tick touched.
    touched: std::collections::BTreeSet<OrgId>,
}

impl Run {
    fn full(&self) -> bool {
        self.decisions >= TICK_DECISIONS_MAX
    }

    /// Takes a decision's events if they keep every limit with what the tick decided before.
    fn take(&mut self, state: &State, events: Vec<Event>) -> Result<(), limits::Breach> {
        limits::check(state, self.events.iter().chain(events.iter()))?;
        self.events.extend(events);
        self.decisions += 1;
        Ok(())
    }
}

/// The day a cycle last came round, on or before `today`.
fn last_cut(cycle: SettlementCycle, today: NaiveDate) -> Option<NaiveDate> {
    match cycle.every {
        CycleEvery::Month => {
            let this_month = today.with_day(cycle.day)?;
            if this_month <= today {
                Some(this_month)
            } else {
                today.checked_sub_months(chrono::Months::new(1))?.with_day(cycle.day)
            }
        }
        CycleEvery::Week => {
            let weekday = today.weekday().number_from_monday();
            let back = (weekday + 7 - cycle.day) % 7;
            today.checked_sub_days(Days::new(u64::from(back)))
        }
    }
}

impl Decider<'_> {
    pub(super) fn decide_clock(&self, command: &ClockCommand) -> Result<Vec<Event>, DomainError> {
        let actor = &self.command.actor;
        if actor.principal_id != CLOCK_PRINCIPAL_ID || !actor.has(Role::SuperAdmin) || !self.reaches(self.platform_id())
        {
            return Err(DomainError::forbidden("the clock is the deployment's own, not an API caller's"));
        }
        let mut run = Run { events: Vec::new(), decisions: 0, touched: Default::default() };
        match command {
            ClockCommand::Tick => {
                self.due_statements(&mut run, None);
                self.timed_out_orders(&mut run);
                self.auto_renewals(&mut run);
                self.expired_vouchers(&mut run);
                self.expired_serial_codes(&mut run);
                self.overdue_arrears(&mut run);
            }
            ClockCommand::SettleDue { book } => {
                if let Some(book) = book {
                    if !self.state.books.contains_key(book) {
                        return Err(DomainError::not_found("book", book));
                    }
                }
                self.due_statements(&mut run, *book);
            }
        }
        Ok(run.events)
    }

    /// The statement of each settlement cycle that has come round: from the day after the last
    /// statement with the counterparty (or its earliest open item) through the day before the
    /// cycle's last day, unless there is nothing to settle in it.
    fn due_statements(&self, run: &mut Run, only: Option<OrgId>) {
        let today = self.command.effective_date;
        for ((book_id, counterparty_id), cycle) in &self.state.settlement_cycles {
            if run.full() || only.is_some_and(|only| only != *book_id) {
                continue;
            }
            let Some(period) = self.due_period(*book_id, *counterparty_id, *cycle, today) else { continue };
            let (from, to) = period;
            let Some(book) = self.state.books.get(book_id) else { continue };
            let settlement_id = SettlementId(derived_id(&[
                b"settlement-cycle",
                book_id.0.as_bytes(),
                counterparty_id.0.as_bytes(),
                from.to_string().as_bytes(),
                to.to_string().as_bytes(),
            ]));
            if self.state.settlements.contains_key(&settlement_id) {
                continue;
            }
            // Nothing to settle (no open item in the period) is no statement, and no event.
            let Ok(statement) = self.statement(settlement_id, book, *counterparty_id, from, to) else { continue };
            let _ = run.take(self.state, vec![Event::new(EventPayload::SettlementStatementIssued(statement))]);
        }
    }

    /// The period a cycle's statement covers today, if one is due: none when the cycle has not
    /// come round since the last statement, or a statement of the book overlaps it.
    fn due_period(
        &self,
        book: OrgId,
        counterparty_id: OrgId,
        cycle: SettlementCycle,
        today: NaiveDate,
    ) -> Option<(NaiveDate, NaiveDate)> {
        let to = last_cut(cycle, today)?.pred_opt()?;
        let statements = self
            .state
            .settlements
            .values()
            .map(|settlement| &settlement.statement)
            .filter(|statement| statement.book == book && statement.counterparty_id == counterparty_id);
        let last_to = statements.clone().map(|statement| statement.to).max();
        let from = match last_to {
            Some(last_to) => last_to.succ_opt()?,
            None => {
                let items = self.state.books.get(&book)?.open_items.get(&counterparty_id)?;
                items.iter().map(|item| item.date).min()?
            }
        };
        let overlaps = statements.into_iter().any(|statement| statement.from <= to && from <= statement.to);
        (from <= to && !overlaps).then_some((from, to))
    }

    /// Unpaid orders past their book's payment timeout, oldest first.
    fn timed_out_orders(&self, run: &mut Run) {
        let now: DateTime<Utc> = self.command.at;
        // No order placed after this can be due in any book: the shortest timeout in force.
        let shortest = self
            .state
            .book_terms
            .values()
            .map(|terms| terms.order_payment_timeout_minutes)
            .chain([BookTerms::default().order_payment_timeout_minutes])
            .min()
            .unwrap_or(0);
        let Some(latest) = now.checked_sub_signed(Duration::minutes(i64::from(shortest))) else { return };
        for (placed_at, order_id) in &self.state.awaiting_payment {
            if *placed_at > latest || run.full() {
                break;
            }
            let Some(order) = self.state.orders.get(order_id) else { continue };
            let timeout =
                Duration::minutes(i64::from(self.state.terms_of(order.seller_id).order_payment_timeout_minutes));
            if placed_at.checked_add_signed(timeout).is_none_or(|due| due > now) {
                continue;
            }
            let cancelled = OrderCancelled { order_id: *order_id, reason: CancelReason::TimedOut };
            let _ = run.take(self.state, vec![Event::new(EventPayload::OrderCancelled(cancelled))]);
        }
    }

    /// Subscriptions with auto-renewal on, within their book's lead days of their end (and not
    /// past it): renewed from the wallet for their periods, or noticed once per end as failed.
    fn auto_renewals(&self, run: &mut Run) {
        let today = self.command.effective_date;
        for (order_id, renewal) in &self.state.auto_renewals {
            if run.full() {
                break;
            }
            let Some(order) = self.state.orders.get(order_id) else { continue };
            let Some(end) = order.subscription_end else { continue };
            let lead = Days::new(u64::from(self.state.terms_of(order.seller_id).renewal_lead_days));
            let renewable = order.fulfilled && order.status != OrderStatus::Refunded;
            if !renewable || end < today || today.checked_add_days(lead).is_none_or(|from| from < end) {
                continue;
            }
            if run.touched.contains(&order.customer_id) {
                continue;
            }
            let renewal_id =
                RenewalId(derived_id(&[b"auto-renewal", order_id.0.as_bytes(), end.to_string().as_bytes()]));
            let renewed = self
                .order_unit(order.items.iter().map(|item| item.product_id))
                .and_then(|unit| {
                    let new_end = unit.after(end, renewal.periods).ok_or_else(|| {
                        DomainError::invalid_field("periods", "the renewal would end past the calendar's end")
                    })?;
                    self.renewal_events(order, renewal_id, renewal.periods, new_end)
                })
                .and_then(|events| {
                    run.take(self.state, events.clone()).map_err(|breach| self.refusal(breach))?;
                    Ok(())
                });
            match renewed {
                Ok(()) => {
                    run.touched.insert(order.customer_id);
                }
                Err(error) if renewal.failed_for != Some(end) => {
                    let (needed, available) = match error {
                        DomainError::InsufficientBalance { available, needed } => (needed, available),
                        _ => (Amount::ZERO, Amount::ZERO),
                    };
                    let failed = AutoRenewalFailed {
                        order_id: *order_id,
                        customer_id: order.customer_id,
                        seller_id: order.seller_id,
                        subscription_end: end,
                        reason: error.code().to_owned(),
                        needed,
                        available,
                    };
                    let _ = run.take(self.state, vec![Event::new(EventPayload::AutoRenewalFailed(failed))]);
                }
                Err(_) => {}
            }
        }
    }

    /// Serial batches past their expiry: the codes never activated booked out, batch by batch.
    fn expired_serial_codes(&self, run: &mut Run) {
        for event in self.serial_codes_past_expiry() {
            if run.full() {
                break;
            }
            if let Ok(event) = event {
                let _ = run.take(self.state, vec![event]);
            }
        }
    }

    /// Vouchers past their expiry, booked out per customer (in the order of their ids).
    fn expired_vouchers(&self, run: &mut Run) {
        let today = self.command.effective_date;
        let mut customers: Vec<OrgId> = self
            .state
            .vouchers
            .iter()
            .filter(|(_, grants)| grants.iter().any(|grant| grant.expires_on.is_some_and(|date| date <= today)))
            .map(|(customer, _)| *customer)
            .collect();
        customers.sort();
        for customer_id in customers {
            if run.full() || run.touched.contains(&customer_id) {
                continue;
            }
            let Some(book) = self.state.orgs.get(&customer_id).and_then(|org| org.parent_id) else { continue };
            if let Ok(Some(event)) = self.vouchers_expired(customer_id, book, Vec::new()) {
                if run.take(self.state, vec![event]).is_ok() {
                    run.touched.insert(customer_id);
                }
            }
        }
    }

    /// Arrears past their due date, noticed once per due date (in the order of the customers' ids).
    fn overdue_arrears(&self, run: &mut Run) {
        let today = self.command.effective_date;
        let mut overdue: Vec<(OrgId, NaiveDate, Amount)> = self
            .state
            .credit
            .iter()
            .filter(|(_, credit)| credit.overdue_on(today))
            .filter_map(|(customer, credit)| {
                let due_on = credit.due_on()?;
                (credit.overdue_noticed != Some(due_on)).then(|| (*customer, due_on, credit.arrears_total()))
            })
            .collect();
        overdue.sort();
        for (customer_id, due_on, amount) in overdue {
            if run.full() {
                break;
            }
            let Some(book) = self.state.orgs.get(&customer_id).and_then(|org| org.parent_id) else { continue };
            let notice = ArrearsOverdue { customer_id, book, amount, due_on };
            let _ = run.take(self.state, vec![Event::new(EventPayload::ArrearsOverdue(notice))]);
        }
    }

    /// A breach of the limits as the refusal `decide` would answer it.
    fn refusal(&self, breach: limits::Breach) -> DomainError {
        match breach {
            limits::Breach::Overdrawn { available, needed, .. } => {
                DomainError::InsufficientBalance { available, needed }
            }
            limits::Breach::Limit { .. } => {
                DomainError::LimitExceeded { field: "amount".to_owned(), reason: breach.to_string() }
            }
        }
    }
}

// The folds of the clock's indexes (see `State::evolve`).

/// An order placed waits for payment from when it was recorded.
pub(super) fn order_placed(state: &mut State, order_id: OrderId, recorded_at: DateTime<Utc>) {
    if let Some(order) = state.orders.get_mut(&order_id) {
        order.placed_at = Some(recorded_at);
    }
    state.awaiting_payment.insert((recorded_at, order_id));
}

/// An order paid or cancelled no longer waits for payment.
pub(super) fn order_no_longer_awaiting(state: &mut State, order_id: OrderId) {
    if let Some(placed_at) = state.orders.get(&order_id).and_then(|order| order.placed_at) {
        state.awaiting_payment.remove(&(placed_at, order_id));
    }
}

/// An order refunded in full has nothing left to renew.
pub(super) fn order_refunded(state: &mut State, event: &OrderRefunded) {
    if event.fully_refunded {
        state.auto_renewals.remove(&event.order_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn a_monthly_cycle_comes_round_on_its_day_and_a_weekly_one_on_its_weekday() {
        let monthly = SettlementCycle { every: CycleEvery::Month, day: 5 };
        assert_eq!(last_cut(monthly, date("2026-03-05")), Some(date("2026-03-05")));
        assert_eq!(last_cut(monthly, date("2026-03-04")), Some(date("2026-02-05")));
        assert_eq!(last_cut(monthly, date("2026-01-01")), Some(date("2025-12-05")));
        // 2026-03-04 is a Wednesday (3).
        let mondays = SettlementCycle { every: CycleEvery::Week, day: 1 };
        assert_eq!(last_cut(mondays, date("2026-03-04")), Some(date("2026-03-02")));
        assert_eq!(last_cut(mondays, date("2026-03-02")), Some(date("2026-03-02")));
        let sundays = SettlementCycle { every: CycleEvery::Week, day: 7 };
        assert_eq!(last_cut(sundays, date("2026-03-04")), Some(date("2026-03-01")));
    }

    #[test]
    fn derived_ids_are_stable_and_tell_their_parts_apart() {
        let a = derived_id(&[b"x", b"yz"]);
        assert_eq!(a, derived_id(&[b"x", b"yz"]));
        assert_ne!(a, derived_id(&[b"xy", b"z"]));
        assert_eq!(a.get_version_num(), 8);
    }
}
