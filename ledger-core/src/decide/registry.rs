//! The back office's registries: org profiles (contacts, invoice details, verification, tags),
//! closing (注销) and reopening orgs, supplier agreements' terms, and products' shelf,
//! visibility and dated list prices.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::command::RegistryCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{OrgId, ProductId, UserId};
use crate::money::UnitPrice;
use crate::org::{Org, OrgKind};
use crate::permissions::Permission;
use crate::state::{OrderStatus, State};

use super::{optional_prose, optional_text, text_field, Decider};

/// Tags one org may carry, and the length of one.
pub const TAGS_MAX: usize = 20;
pub const TAG_LENGTH_MAX: usize = 32;
/// Resellers one product may be hidden from.
pub const HIDDEN_FROM_MAX: usize = 200;

impl Decider<'_> {
    pub(super) fn decide_registry(&self, command: &RegistryCommand) -> Result<Vec<Event>, DomainError> {
        use RegistryCommand as C;
        match command {
            C::UpdateOrg { org_id, name, profile } => self.update_org(*org_id, name.as_deref(), profile.as_ref()),
            C::CloseOrg { org_id, reason } => {
                let org = self.org_to_manage(*org_id)?;
                if self.state.closed_orgs.contains(org_id) {
                    return Err(DomainError::conflict(
                        "org_closed",
                        format!("{} {org_id} is already closed", org.kind.as_str()),
                    ));
                }
                self.nothing_left_open(org)?;
                let event = OrgClosed { org_id: *org_id, reason: optional_prose("reason", reason)? };
                Ok(vec![Event::new(EventPayload::OrgClosed(event))])
            }
            C::ReopenOrg { org_id } => {
                let org = self.org_to_manage(*org_id)?;
                if !self.state.closed_orgs.contains(org_id) {
                    return Err(DomainError::conflict(
                        "org_open",
                        format!("{} {org_id} is not closed", org.kind.as_str()),
                    ));
                }
                Ok(vec![Event::new(EventPayload::OrgReopened(OrgReopened { org_id: *org_id }))])
            }
            C::SetSupplierTerms { supplier_id, terms } => {
                let supplier = self.visible_org(*supplier_id, "supplier")?;
                let book = supplier.parent_id.filter(|_| supplier.kind == OrgKind::Supplier);
                let book = book.ok_or_else(|| DomainError::not_found("supplier", supplier_id))?;
                self.book_for(book, Permission::OrgsWrite)?;
                if terms.payment_days > 366 {
                    return Err(DomainError::invalid_field("payment_days", "must be 0 to 366"));
                }
                let event = SupplierTermsSet { supplier_id: *supplier_id, book, terms: terms.clone() };
                Ok(vec![Event::new(EventPayload::SupplierTermsSet(event))])
            }
            C::UpdateProduct { product_id, name, on_shelf, hidden_from } => {
                self.update_product(*product_id, name.as_deref(), *on_shelf, hidden_from.as_ref())
            }
            C::ScheduleListPrice { product_id, list_price, effective_from } => {
                self.schedule_list_price(*product_id, *list_price, *effective_from)
            }
            C::TransferCustomer { customer_id, to, owner_id, reason } => {
                self.transfer_customer(*customer_id, *to, *owner_id, reason)
            }
        }
    }

    /// An org the actor manages: one of its book's parties (a customer within the actor's data
    /// scope, with `customers.write`; a reseller or supplier, with `orgs.write`), or its own org
    /// (`orgs.write`) for profile changes. The platform is never closed.
    fn org_to_manage(&self, org_id: OrgId) -> Result<&Org, DomainError> {
        let org = self.visible_org(org_id, "org")?;
        match org.kind {
            OrgKind::Customer if !self.reaches(org_id) => {
                Ok(self.customer_in_scope(org_id, Permission::CustomersWrite)?.0)
            }
            OrgKind::Platform => Err(DomainError::forbidden("the platform is not managed as a party")),
            _ => {
                let book = if self.reaches(org_id) { org_id } else { org.parent_id.unwrap_or(org_id) };
                self.book_for(book, Permission::OrgsWrite)?;
                if self.reaches(org_id) {
                    return Err(DomainError::forbidden("an org is closed or reopened by its parent"));
                }
                Ok(org)
            }
        }
    }

    fn update_org(
        &self,
        org_id: OrgId,
        name: Option<&str>,
        profile: Option<&OrgProfile>,
    ) -> Result<Vec<Event>, DomainError> {
        let org = self.visible_org(org_id, "org")?;
        match org.kind {
            OrgKind::Customer if !self.reaches(org_id) => {
                self.customer_in_scope(org_id, Permission::CustomersWrite)?;
            }
            _ => {
                let book = if self.reaches(org_id) { org_id } else { org.parent_id.unwrap_or(org_id) };
                self.book_for(book, Permission::OrgsWrite)?;
            }
        }
        if name.is_none() && profile.is_none() {
            return Err(DomainError::invalid_field("name", "give a name, a profile or both"));
        }
        let name = match name {
            Some(name) => text_field("name", name)?,
            None => org.name.clone(),
        };
        let profile = match profile {
            Some(profile) => checked_profile(profile)?,
            None => self.state.profiles.get(&org_id).cloned().unwrap_or_default(),
        };
        let event = OrgProfileUpdated { org_id, name, profile };
        Ok(vec![Event::new(EventPayload::OrgProfileUpdated(event))])
    }

    /// 注销 only with nothing left open: a customer's wallet (cash, vouchers, recharges waiting,
    /// withdrawals held) at zero, no order unpaid or paid and not yet fulfilled, no invoice
    /// request waiting; a reseller's or supplier's items with its parent all settled and paid,
    /// and a reseller's own parties closed first.
    fn nothing_left_open(&self, org: &Org) -> Result<(), DomainError> {
        let refuse = |what: String| {
            DomainError::conflict(
                "org_not_settled",
                format!("{} {} cannot be closed: {what}", org.kind.as_str(), org.id),
            )
        };
        match org.kind {
            OrgKind::Customer => {
                if let Some(what) = self.customer_left_open(org.id) {
                    return Err(refuse(what));
                }
            }
            OrgKind::Reseller | OrgKind::Supplier => {
                let parent = org.parent_id.unwrap_or(org.id);
                let open_items = self.state.books.get(&parent).and_then(|book| book.open_items.get(&org.id));
                if open_items.is_some_and(|items| !items.is_empty()) {
                    return Err(refuse("it has items not yet on a settlement statement".to_owned()));
                }
                let unpaid = self.state.settlements.values().any(|settlement| {
                    settlement.statement.counterparty_id == org.id
                        && settlement.statement.book == parent
                        && !settlement.paid
                });
                if unpaid {
                    return Err(refuse("a settlement statement with it is not paid".to_owned()));
                }
                let open_child = self
                    .state
                    .orgs
                    .values()
                    .filter(|child| child.parent_id == Some(org.id) && !self.state.closed_orgs.contains(&child.id))
                    .map(|child| child.id.to_string())
                    .min();
                if let Some(child) = open_child {
                    return Err(refuse(format!("its party {child} is not closed")));
                }
            }
            OrgKind::Platform => return Err(DomainError::forbidden("the platform is never closed")),
        }
        Ok(())
    }

    /// What a customer still has open with its seller, if anything: money in its wallet (cash,
    /// vouchers, recharges waiting, withdrawals held), arrears, an order unpaid or paid and not
    /// yet fulfilled, an invoice request waiting, a subscription renewing by itself.
    fn customer_left_open(&self, customer: OrgId) -> Option<String> {
        let wallet = self.state.wallet(customer);
        let arrears =
            self.state.credit.get(&customer).map_or(crate::money::Amount::ZERO, |credit| credit.arrears_total());
        for (amount, what) in [
            (wallet.balance, "its cash balance"),
            (wallet.voucher, "its voucher balance"),
            (wallet.pending_recharges, "its recharges waiting for approval"),
            (wallet.reserved, "its withdrawals waiting for approval"),
            (arrears, "its arrears"),
        ] {
            if !amount.is_zero() {
                return Some(format!("{what} is {amount}, not 0.00"));
            }
        }
        let open = self
            .state
            .orders
            .values()
            .filter(|order| order.customer_id == customer)
            .filter(|order| {
                order.status == OrderStatus::PendingPayment || (order.status == OrderStatus::Paid && !order.fulfilled)
            })
            .map(|order| order.order_id)
            .min();
        if let Some(order) = open {
            return Some(format!("order {order} is open"));
        }
        if self.state.invoice_requests.values().any(|request| request.customer_id == customer) {
            return Some("an invoice request waits for approval".to_owned());
        }
        let renewing = self.state.auto_renewals.iter().find(|(_, renewal)| renewal.customer_id == customer);
        if let Some((order, _)) = renewing {
            return Some(format!("order {order} renews by itself (turn auto-renewal off first)"));
        }
        None
    }

    /// 归属转移: from the actor's org or one of its resellers to the actor's org or another of
    /// them. A customer of the actor's own org is one it may act for (`customers.write`, its
    /// data scope); moving parties between resellers takes `orgs.write`.
    fn transfer_customer(
        &self,
        customer_id: OrgId,
        to: OrgId,
        owner_id: Option<UserId>,
        reason: &Option<String>,
    ) -> Result<Vec<Event>, DomainError> {
        let actor_org = self.command.actor.org_id;
        let customer = self
            .state
            .orgs
            .get(&customer_id)
            .filter(|org| org.kind == OrgKind::Customer)
            .ok_or_else(|| DomainError::not_found("customer", customer_id))?;
        let from = customer.parent_id.expect("customers have a seller");
        if from == actor_org {
            self.customer_for(customer_id, Permission::CustomersWrite)?;
        } else {
            let seller =
                self.visible_org(from, "customer").map_err(|_| DomainError::not_found("customer", customer_id))?;
            if seller.kind != OrgKind::Reseller {
                return Err(DomainError::not_found("customer", customer_id));
            }
            self.book_for(actor_org, Permission::OrgsWrite)?;
            self.not_closed(customer_id)?;
        }
        let target =
            self.state.orgs.get(&to).filter(|org| {
                org.id == actor_org || (org.kind == OrgKind::Reseller && org.parent_id == Some(actor_org))
            });
        let target =
            target.ok_or_else(|| DomainError::invalid_field("to", "must be your org or one of its resellers"))?;
        if to != actor_org {
            self.book_for(actor_org, Permission::OrgsWrite)?;
        }
        if to == from {
            return Err(DomainError::invalid_field("to", format!("the customer is already {}'s", target.name)));
        }
        self.not_closed(to)?;
        if self.state.books[&from].currency != self.state.books[&to].currency {
            return Err(DomainError::CurrencyMismatch {
                expected: self.state.books[&from].currency.to_string(),
                found: self.state.books[&to].currency.to_string(),
            });
        }
        if let Some(what) = self.customer_left_open(customer_id).or_else(|| {
            let invoiceable = self.state.invoiceable.get(&customer_id).copied().unwrap_or_default();
            (!invoiceable.is_zero())
                .then(|| format!("it may still invoice {invoiceable} with its seller (invoice it first)"))
        }) {
            let reason = format!("customer {customer_id} cannot leave {from}: {what}");
            return Err(DomainError::conflict("customer_not_settled", reason));
        }
        if let Some(owner) = owner_id {
            if !self.state.users.get(&owner).is_some_and(|user| user.org_id == to) {
                return Err(DomainError::invalid_field("owner_id", "must be a user of the new seller"));
            }
        }
        let event = CustomerTransferred { customer_id, from, to, owner_id, reason: optional_prose("reason", reason)? };
        Ok(vec![Event::new(EventPayload::CustomerTransferred(event))])
    }

    /// Refuses acting for a closed org (its parent's staff reopen it first).
    pub(super) fn not_closed(&self, org_id: OrgId) -> Result<(), DomainError> {
        if self.state.closed_orgs.contains(&org_id) {
            let kind = self.state.orgs.get(&org_id).map_or("org", |org| org.kind.as_str());
            return Err(DomainError::conflict("org_closed", format!("{kind} {org_id} is closed")));
        }
        Ok(())
    }

    fn update_product(
        &self,
        product_id: ProductId,
        name: Option<&str>,
        on_shelf: Option<bool>,
        hidden_from: Option<&BTreeSet<OrgId>>,
    ) -> Result<Vec<Event>, DomainError> {
        let product = self.product(product_id)?;
        self.book_for(product.owner_id, Permission::ProductsWrite)?;
        if name.is_none() && on_shelf.is_none() && hidden_from.is_none() {
            return Err(DomainError::invalid_field("name", "give a name, on_shelf, hidden_from or several"));
        }
        if let Some(hidden_from) = hidden_from {
            if hidden_from.len() > HIDDEN_FROM_MAX {
                return Err(DomainError::invalid_field("hidden_from", format!("at most {HIDDEN_FROM_MAX} resellers")));
            }
            for reseller in hidden_from {
                let is_child_reseller = self
                    .state
                    .orgs
                    .get(reseller)
                    .is_some_and(|org| org.kind == OrgKind::Reseller && org.parent_id == Some(product.owner_id));
                if !is_child_reseller {
                    return Err(DomainError::invalid_field(
                        format!("hidden_from.{reseller}"),
                        "not a reseller of the product's owner",
                    ));
                }
            }
        }
        let event = ProductUpdated {
            product_id,
            name: match name {
                Some(name) => text_field("name", name)?,
                None => product.name.clone(),
            },
            on_shelf: on_shelf.unwrap_or(!product.off_shelf),
            hidden_from: hidden_from.cloned().unwrap_or_else(|| product.hidden_from.clone()),
        };
        Ok(vec![Event::new(EventPayload::ProductUpdated(event))])
    }

    fn schedule_list_price(
        &self,
        product_id: ProductId,
        list_price: UnitPrice,
        effective_from: NaiveDate,
    ) -> Result<Vec<Event>, DomainError> {
        let product = self.product(product_id)?;
        self.book_for(product.owner_id, Permission::ProductsWrite)?;
        let today = self.command.effective_date;
        if effective_from < today {
            return Err(DomainError::invalid_field(
                "effective_from",
                format!("must not be before today ({today}): orders already placed keep their prices"),
            ));
        }
        let event = ListPriceScheduled { product_id, list_price, effective_from };
        Ok(vec![Event::new(EventPayload::ListPriceScheduled(event))])
    }
}

/// A profile's fields checked as the texts they are: trimmed, bounded, one line (notes may
/// have several); an email has an `@`; tags are few and short, and distinct.
fn checked_profile(profile: &OrgProfile) -> Result<OrgProfile, DomainError> {
    let email = optional_text("profile.email", &profile.email)?;
    if let Some(email) = &email {
        let (local, domain) = email.split_once('@').unwrap_or_default();
        if local.is_empty() || domain.is_empty() || email.contains(char::is_whitespace) {
            return Err(DomainError::invalid_field("profile.email", "is not an email address"));
        }
    }
    if profile.tags.len() > TAGS_MAX {
        return Err(DomainError::invalid_field("profile.tags", format!("at most {TAGS_MAX} tags")));
    }
    let mut tags = BTreeSet::new();
    for (index, tag) in profile.tags.iter().enumerate() {
        let field = format!("profile.tags[{index}]");
        let tag = text_field(&field, tag)?;
        if tag.chars().count() > TAG_LENGTH_MAX {
            return Err(DomainError::invalid_field(field, format!("a tag has at most {TAG_LENGTH_MAX} characters")));
        }
        tags.insert(tag);
    }
    Ok(OrgProfile {
        contact_person: optional_text("profile.contact_person", &profile.contact_person)?,
        phone: optional_text("profile.phone", &profile.phone)?,
        email,
        company: optional_text("profile.company", &profile.company)?,
        tax_id: optional_text("profile.tax_id", &profile.tax_id)?,
        address: optional_text("profile.address", &profile.address)?,
        bank_account: optional_text("profile.bank_account", &profile.bank_account)?,
        verification: profile.verification,
        tags,
        notes: optional_prose("profile.notes", &profile.notes)?,
    })
}

// The folds of this family's events into the state (see `State::evolve`).

pub(super) fn org_profile_updated(state: &mut State, event: &OrgProfileUpdated) {
    state.orgs.get_mut(&event.org_id).expect("a known org").name = event.name.clone();
    state.profiles.insert(event.org_id, event.profile.clone());
}

pub(super) fn org_closed(state: &mut State, event: &OrgClosed) {
    state.closed_orgs.insert(event.org_id);
}

pub(super) fn org_reopened(state: &mut State, event: &OrgReopened) {
    state.closed_orgs.remove(&event.org_id);
}

pub(super) fn product_updated(state: &mut State, event: &ProductUpdated) {
    let product = state.products.get_mut(&event.product_id).expect("a known product");
    product.name = event.name.clone();
    product.off_shelf = !event.on_shelf;
    product.hidden_from = event.hidden_from.clone();
}

pub(super) fn list_price_scheduled(state: &mut State, event: &ListPriceScheduled) {
    let product = state.products.get_mut(&event.product_id).expect("a known product");
    product.scheduled_prices.insert(event.effective_from, event.list_price);
}

/// The customer is its new seller's: a party of its book, its salesperson `owner_id` (or nobody),
/// and without the credit its old seller granted (its arrears were nil).
pub(super) fn customer_transferred(state: &mut State, event: &CustomerTransferred) {
    state.orgs.get_mut(&event.customer_id).expect("a known customer").parent_id = Some(event.to);
    match event.owner_id {
        Some(owner) => state.customer_owners.insert(event.customer_id, owner),
        None => state.customer_owners.remove(&event.customer_id),
    };
    state.credit.remove(&event.customer_id);
}
