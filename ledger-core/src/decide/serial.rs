//! Serial codes (序列号) for server-rental packages of 3/5/30/180/360 days, bought by distributors
//! at their tier's rate and activated once by a user.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::command::{SerialCommand, SERIAL_BATCH_MAX, SERIAL_PACKAGE_DAYS};
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{OrgId, SerialBatchId, SerialCode};
use crate::journal::Posting;
use crate::money::{checked_mul, round_half_up, Amount};
use crate::org::OrgKind;
use crate::permissions::Permission;
use crate::rules::PartyRef;

use crate::state::{SerialCodeState, SerialExpiry, State};

use super::Decider;

fn check_package(days: u32) -> Result<(), DomainError> {
    if SERIAL_PACKAGE_DAYS.contains(&days) {
        Ok(())
    } else {
        Err(DomainError::invalid_field("days", format!("packages are {SERIAL_PACKAGE_DAYS:?} days")))
    }
}

impl Decider<'_> {
    pub(super) fn decide_serial(&self, command: &SerialCommand) -> Result<Vec<Event>, DomainError> {
        use SerialCommand as C;
        let platform = self.platform_id();
        match command {
            C::SetSerialPackagePrice { days, list_price } => {
                self.book_for(platform, Permission::SerialPackagesWrite)?;
                check_package(*days)?;
                if list_price.is_zero() {
                    return Err(DomainError::invalid_amount("list_price", crate::money::MoneyError::Zero));
                }
                let event = SerialPackagePriced { days: *days, list_price: *list_price };
                Ok(vec![Event::new(EventPayload::SerialPackagePriced(event))])
            }
            C::SetDistributorTier { distributor_id, tier } => {
                self.book_for(platform, Permission::DistributorsWrite)?;
                self.distributor(*distributor_id)?;
                let event = DistributorTierSet { distributor_id: *distributor_id, tier: *tier };
                Ok(vec![Event::new(EventPayload::DistributorTierSet(event))])
            }
            C::SetSerialTierRate { tier, rate } => {
                self.book_for(platform, Permission::SerialTierRatesWrite)?;
                Ok(vec![Event::new(EventPayload::SerialTierRateSet(SerialTierRateSet { tier: *tier, rate: *rate }))])
            }
            C::IssueSerialCodes { batch_id, distributor_id, days, codes, expires_on } => {
                self.check_expiry(*expires_on)?;
                let mut events = self.issue_codes(*batch_id, *distributor_id, *days, codes)?;
                if expires_on.is_some() {
                    let event = SerialExpirySet { batch_id: *batch_id, expires_on: *expires_on };
                    events.push(Event::new(EventPayload::SerialExpirySet(event)));
                }
                Ok(events)
            }
            C::SetSerialExpiry { batch_id, expires_on } => {
                self.book_for(platform, Permission::SerialCodesIssue)?;
                if !self.state.serial_batches.contains(batch_id) {
                    return Err(DomainError::not_found("serial batch", batch_id));
                }
                self.check_expiry(*expires_on)?;
                let event = SerialExpirySet { batch_id: *batch_id, expires_on: *expires_on };
                Ok(vec![Event::new(EventPayload::SerialExpirySet(event))])
            }
            C::ActivateSerialCode { code, customer_id } => {
                self.customer_for(*customer_id, Permission::SerialCodesActivate)?;
                let state =
                    self.state.serial_codes.get(code).ok_or_else(|| DomainError::not_found("serial code", code))?;
                if state.activated_by.is_some() {
                    return Err(DomainError::SerialCodeUsed { code: code.to_string(), state: "activated" });
                }
                let today = self.command.effective_date;
                let past =
                    self.state.serial_expiries.get(&state.batch_id).is_some_and(|expiry| expiry.expires_on < today);
                if state.expired || past {
                    return Err(DomainError::SerialCodeUsed { code: code.to_string(), state: "expired" });
                }
                let payload = EventPayload::SerialCodeActivated(SerialCodeActivated {
                    code: code.clone(),
                    batch_id: state.batch_id,
                    issuer_id: state.issuer_id,
                    customer_id: *customer_id,
                    days: state.days,
                    amount: state.unit_price,
                });
                let posting =
                    Posting::new("serial.activate", "issuer", state.issuer_id).amount("amount", state.unit_price);
                Ok(vec![self.booked(payload, &[posting])?])
            }
        }
    }

    /// An expiry is today or later (a batch expired at issue would be sold void).
    fn check_expiry(&self, expires_on: Option<NaiveDate>) -> Result<(), DomainError> {
        let today = self.command.effective_date;
        match expires_on {
            Some(day) if day < today => {
                Err(DomainError::invalid_field("expires_on", format!("must not be before today ({today})")))
            }
            _ => Ok(()),
        }
    }

    /// The codes of each batch past its expiry and never activated, booked out (clock).
    pub(super) fn serial_codes_past_expiry(&self) -> Vec<Result<Event, DomainError>> {
        let today = self.command.effective_date;
        let mut events = Vec::new();
        for (batch_id, expiry) in &self.state.serial_expiries {
            if expiry.expires_on >= today || expiry.open_codes.is_empty() {
                continue;
            }
            let Some(first) = self.state.serial_codes.get(&expiry.open_codes[0]) else { continue };
            // At most SERIAL_BATCH_MAX codes of one unit price: within an amount, as at issue.
            let amount =
                checked_mul(first.unit_price.as_decimal(), rust_decimal::Decimal::from(expiry.open_codes.len() as u64))
                    .and_then(Amount::from_decimal)
                    .map_err(|error| DomainError::invalid_amount("codes", error));
            let event = amount.and_then(|amount| {
                let payload = EventPayload::SerialCodesExpired(SerialCodesExpired {
                    batch_id: *batch_id,
                    issuer_id: first.issuer_id,
                    distributor_id: first.distributor_id,
                    codes: expiry.open_codes.clone(),
                    expires_on: expiry.expires_on,
                    amount,
                });
                let posting = Posting::new("serial.expire", "issuer", first.issuer_id).amount("amount", amount);
                self.booked(payload, &[posting])
            });
            events.push(event);
        }
        events
    }

    /// A distributor is a reseller directly under the platform.
    fn distributor(&self, distributor_id: OrgId) -> Result<(), DomainError> {
        let org = self.state.orgs.get(&distributor_id);
        let is_distributor =
            org.is_some_and(|org| org.kind == OrgKind::Reseller && org.parent_id == self.state.platform_id);
        if is_distributor {
            Ok(())
        } else {
            Err(DomainError::not_found("distributor", distributor_id))
        }
    }

    fn issue_codes(
        &self,
        batch_id: SerialBatchId,
        distributor_id: OrgId,
        days: u32,
        codes: &[SerialCode],
    ) -> Result<Vec<Event>, DomainError> {
        let platform = self.platform_id();
        // The platform's staff issue codes to a distributor, or the distributor's admin buys them.
        if self.command.actor.org_id == distributor_id {
            self.require(Permission::SerialCodesIssue)?;
        } else {
            self.book_for(platform, Permission::SerialCodesIssue)?;
        }
        self.distributor(distributor_id)?;
        check_package(days)?;
        if self.state.serial_batches.contains(&batch_id) {
            return Err(DomainError::AlreadyExists { what: "serial batch", id: batch_id.to_string() });
        }
        if codes.is_empty() || codes.len() > SERIAL_BATCH_MAX {
            return Err(DomainError::invalid_field("codes", format!("a batch has 1 to {SERIAL_BATCH_MAX} codes")));
        }
        let mut seen = HashSet::with_capacity(codes.len());
        for code in codes {
            if self.state.serial_codes.contains_key(code) || !seen.insert(code) {
                return Err(DomainError::SerialCodeUsed { code: code.to_string(), state: "issued" });
            }
        }
        let tier = *self.state.distributor_tiers.get(&distributor_id).ok_or_else(|| DomainError::NoPrice {
            field: "distributor_id".to_owned(),
            reason: "the distributor has no tier".to_owned(),
        })?;
        let no_price = |reason: &str| DomainError::NoPrice { field: "days".to_owned(), reason: reason.to_owned() };
        let list_price = *self.state.serial_prices.get(&days).ok_or_else(|| no_price("the package has no price"))?;
        let rate = *self.state.tier_rates.get(&tier).ok_or_else(|| no_price("the tier has no rate"))?;
        // A rate is at most 1 and a batch at most SERIAL_BATCH_MAX codes: no product overflows.
        let unit_price = checked_mul(list_price.as_decimal(), rate.as_decimal())
            .and_then(round_half_up)
            .map_err(|error| DomainError::invalid_amount("days", error))?;
        let total = checked_mul(unit_price.as_decimal(), rust_decimal::Decimal::from(codes.len() as u64))
            .and_then(Amount::from_decimal)
            .map_err(|error| DomainError::invalid_amount("codes", error))?;
        let payload = EventPayload::SerialCodesIssued(SerialCodesIssued {
            batch_id,
            issuer_id: platform,
            distributor_id,
            tier,
            days,
            codes: codes.to_vec(),
            unit_price,
            total,
        });
        let postings = [
            Posting::new("serial.issue", "issuer", platform)
                .amount("amount", total)
                .party(PartyRef::Distributor, distributor_id),
            Posting::new("serial.issue", "distributor", distributor_id)
                .amount("amount", total)
                .party(PartyRef::Parent, platform),
        ];
        Ok(vec![self.booked(payload, &postings)?])
    }
}

// The folds of this family's events into the state (see `State::evolve`).

pub(super) fn serial_package_priced(state: &mut State, event: &SerialPackagePriced) {
    state.serial_prices.insert(event.days, event.list_price);
}

pub(super) fn distributor_tier_set(state: &mut State, event: &DistributorTierSet) {
    state.distributor_tiers.insert(event.distributor_id, event.tier);
}

pub(super) fn serial_tier_rate_set(state: &mut State, event: &SerialTierRateSet) {
    state.tier_rates.insert(event.tier, event.rate);
}

pub(super) fn serial_codes_issued(state: &mut State, event: &SerialCodesIssued) {
    state.serial_batches.insert(event.batch_id);
    for code in &event.codes {
        state.serial_codes.insert(
            code.clone(),
            SerialCodeState {
                batch_id: event.batch_id,
                issuer_id: event.issuer_id,
                distributor_id: event.distributor_id,
                days: event.days,
                unit_price: event.unit_price,
                activated_by: None,
                expired: false,
            },
        );
    }
}

pub(super) fn serial_code_activated(state: &mut State, event: &SerialCodeActivated) {
    state.serial_codes.get_mut(&event.code).expect("known serial code").activated_by = Some(event.customer_id);
    if let Some(expiry) = state.serial_expiries.get_mut(&event.batch_id) {
        expiry.open_codes.retain(|code| *code != event.code);
        if expiry.open_codes.is_empty() {
            state.serial_expiries.remove(&event.batch_id);
        }
    }
}

/// The batch's codes neither activated nor expired wait for the new day (in code order); with
/// no day, or none left, the batch no longer waits.
pub(super) fn serial_expiry_set(state: &mut State, event: &SerialExpirySet) {
    let Some(expires_on) = event.expires_on else {
        state.serial_expiries.remove(&event.batch_id);
        return;
    };
    let mut open_codes: Vec<SerialCode> = state
        .serial_codes
        .iter()
        .filter(|(_, code)| code.batch_id == event.batch_id && code.activated_by.is_none() && !code.expired)
        .map(|(code, _)| code.clone())
        .collect();
    open_codes.sort();
    if open_codes.is_empty() {
        state.serial_expiries.remove(&event.batch_id);
    } else {
        state.serial_expiries.insert(event.batch_id, SerialExpiry { expires_on, open_codes });
    }
}

pub(super) fn serial_codes_expired(state: &mut State, event: &SerialCodesExpired) {
    for code in &event.codes {
        state.serial_codes.get_mut(code).expect("known serial code").expired = true;
    }
    state.serial_expiries.remove(&event.batch_id);
}
