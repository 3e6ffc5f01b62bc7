//! `decide(&State, &Command) -> Result<Vec<Event>, DomainError>`: one pure function per flow.
//!
//! Every decider follows the same shape: find what the command is about (404 when it is absent
//! or belongs to another tenant), check the actor's roles (403), check the business rules (409 or
//! 422), then return the events with the entries they book. Booking goes through
//! [`Decider::booked`], which evaluates the posting rules, pairs inter-company lines and refuses
//! closed periods and overdrawn wallets for every flow alike.

mod approvals;
mod money_flows;
mod orders;
mod serial;
mod settlement;
mod setup;

use crate::command::{Command, CommandBody, TEXT_LENGTH_MAX};
use crate::error::DomainError;
use crate::event::{Event, EventPayload};
use crate::ids::OrgId;
use crate::journal::{book_posting, pair_intercompany_lines, Posting};
use crate::limits::{self, Breach};
use crate::org::{Org, OrgKind, Role};
use crate::state::{Book, State};

pub(crate) use orders::refund_parts;
pub use orders::{order_shares, Share};

/// Decides a command against the state. Pure: the same state and command give the same answer.
pub fn decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    let decider = Decider { state, command };
    if state.platform_id.is_none() && !matches!(command.body, CommandBody::Bootstrap { .. }) {
        return Err(DomainError::NotBootstrapped);
    }
    let events = decider.dispatch(&command.body)?;
    limits::check(state, &events).map_err(|breach| match breach {
        Breach::Overdrawn { available, needed, .. } => DomainError::InsufficientBalance { available, needed },
        Breach::Limit { .. } => DomainError::LimitExceeded { field: "amount".to_owned(), reason: breach.to_string() },
    })?;
    Ok(events)
}

pub(crate) struct Decider<'a> {
    pub state: &'a State,
    pub command: &'a Command,
}

impl<'a> Decider<'a> {
    fn dispatch(&self, body: &CommandBody) -> Result<Vec<Event>, DomainError> {
        use CommandBody as C;
        match body {
            C::Bootstrap { .. }
            | C::OpenOrg { .. }
            | C::IssueToken { .. }
            | C::OpenAccount { .. }
            | C::SetPostingRules { .. }
            | C::SetSaleMode { .. }
            | C::CreateProduct { .. }
            | C::SetSupplierRate { .. }
            | C::SetRate { .. }
            | C::CreatePromotion { .. }
            | C::CreateInviteCode { .. }
            | C::BookBusiness { .. } => self.decide_setup(body),
            C::ConfirmOnlineRecharge { .. }
            | C::RequestRecharge { .. }
            | C::RequestRechargeReversal { .. }
            | C::GrantCoupon { .. }
            | C::Withdraw { .. } => self.decide_money(body),
            C::PlaceOrder { .. }
            | C::PayOrder { .. }
            | C::FulfilOrder { .. }
            | C::CancelOrder { .. }
            | C::RefundOrder { .. }
            | C::ChargeUsage { .. }
            | C::RenewSubscription { .. } => self.decide_orders(body),
            C::SetSerialPackagePrice { .. }
            | C::SetDistributorTier { .. }
            | C::SetSerialTierRate { .. }
            | C::IssueSerialCodes { .. }
            | C::ActivateSerialCode { .. } => self.decide_serial(body),
            C::IssueSettlementStatement { .. }
            | C::PaySettlement { .. }
            | C::RequestInvoice { .. }
            | C::ClosePeriod { .. } => self.decide_settlement(body),
            C::DecideApproval { approval_id, grant, comment } => self.decide_approval(*approval_id, *grant, comment),
        }
    }

    pub fn platform_id(&self) -> OrgId {
        self.state.platform_id.expect("checked in decide")
    }

    /// True when the actor may act in `book`: only its own org. Every command is a write, and
    /// the platform's `super_admin` reads every book (the read side's concern) but writes only
    /// in the platform's (DESIGN §8): a tenant's books are changed by that tenant alone.
    pub fn reaches(&self, book: OrgId) -> bool {
        self.command.actor.org_id == book
    }

    /// An org the actor may see: its own, or a party of its book.
    /// Anything else is reported as not found: tenants never learn of each other.
    pub fn visible_org(&self, id: OrgId, what: &'static str) -> Result<&'a Org, DomainError> {
        let org = self.state.orgs.get(&id).ok_or_else(|| DomainError::not_found(what, id))?;
        if self.reaches(id) || org.parent_id.is_some_and(|parent| self.reaches(parent)) {
            Ok(org)
        } else {
            Err(DomainError::not_found(what, id))
        }
    }

    /// The book `id`, which the actor must reach, with one of `roles` (admin always may).
    pub fn book_for(&self, id: OrgId, roles: &[Role]) -> Result<&'a Book, DomainError> {
        let book =
            self.state.books.get(&id).filter(|_| self.reaches(id)).ok_or_else(|| DomainError::not_found("book", id))?;
        self.require_roles(roles)?;
        Ok(book)
    }

    pub fn require_roles(&self, roles: &[Role]) -> Result<(), DomainError> {
        if self.command.actor.has_any(roles) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
            Err(DomainError::forbidden(format!("needs one of the roles admin, {}", names.join(", "))))
        }
    }

    /// A customer the actor may act for: the customer itself (role `customer`), or staff of its
    /// seller with one of `staff_roles`. Returns the customer and its seller's book id.
    pub fn customer_for(&self, customer_id: OrgId, staff_roles: &[Role]) -> Result<(&'a Org, OrgId), DomainError> {
        let customer = self
            .state
            .orgs
            .get(&customer_id)
            .filter(|org| org.kind == OrgKind::Customer)
            .ok_or_else(|| DomainError::not_found("customer", customer_id))?;
        let seller = customer.parent_id.expect("customers have a seller");
        let actor = &self.command.actor;
        if actor.org_id == customer_id {
            if actor.has(Role::Customer) || actor.has(Role::Admin) {
                return Ok((customer, seller));
            }
            return Err(DomainError::forbidden("needs the customer role"));
        }
        if !self.reaches(seller) {
            return Err(DomainError::not_found("customer", customer_id));
        }
        self.require_roles(staff_roles)?;
        Ok((customer, seller))
    }

    /// Books postings into one event: rules evaluated, inter-company lines paired, closed
    /// periods and overdrawn wallets refused.
    pub fn booked(&self, payload: EventPayload, postings: &[Posting<'_>]) -> Result<Event, DomainError> {
        let date = self.command.effective_date;
        let mut entries = Vec::with_capacity(postings.len());
        for posting in postings {
            let book =
                self.state.books.get(&posting.book).ok_or_else(|| DomainError::not_found("book", posting.book))?;
            if let Some(closed_through) = book.closed_through.filter(|closed| date <= *closed) {
                return Err(DomainError::PeriodClosed { book: posting.book, closed_through, date });
            }
            if let Some(entry) =
                book_posting(&self.state.rules, posting, date, book.currency, |code| book.chart.contains(code))?
            {
                entries.push(entry);
            }
        }
        pair_intercompany_lines(&mut entries);
        Ok(Event::with_entries(payload, entries))
    }
}

/// Free text: required, trimmed, bounded.
pub(crate) fn text_field(field: &str, value: &str) -> Result<String, DomainError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid_field(field, "must not be empty"));
    }
    if trimmed.chars().count() > TEXT_LENGTH_MAX {
        return Err(DomainError::invalid_field(field, format!("must be at most {TEXT_LENGTH_MAX} characters")));
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn optional_text(field: &str, value: &Option<String>) -> Result<Option<String>, DomainError> {
    value.as_deref().map(|text| text_field(field, text)).transpose()
}
