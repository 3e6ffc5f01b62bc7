//! `decide(&State, &Command) -> Result<Vec<Event>, DomainError>`: one pure function per flow.
//!
//! Every decider follows the same shape: find what the command is about (404 when it is absent
//! or belongs to another tenant), check the actor's roles (403), check the business rules (409 or
//! 422), then return the events with the entries they book. The order matters: nothing about the
//! state but what the actor may see and do is judged before the roles, so a refusal for rights
//! (403, 404) does not depend on what the command did before. The writer relies on it: a retry
//! with a known idempotency key is decided again, and refused so, before the stored answer is
//! given (a colleague's answer is not a role's to read). Booking goes through
//! [`Decider::booked`], which evaluates the posting rules, pairs inter-company lines and refuses
//! closed periods and overdrawn wallets for every flow alike.

mod access;
mod approvals;
mod clock;
mod money_flows;
mod orders;
mod registry;
mod serial;
mod settlement;
mod setup;
mod terms;

use crate::command::{Command, CommandBody, SetupCommand, TEXT_LENGTH_MAX};
use crate::error::DomainError;
use crate::event::{Event, EventPayload, RecordedEvent};
use crate::ids::OrgId;
use crate::journal::{book_posting, pair_intercompany_lines, Posting};
use crate::limits::{self, Breach};
use crate::money::{Amount, SignedAmount};
use crate::org::{Org, OrgKind};
use crate::permissions::{Permission, PermissionSet};
use crate::state::{Book, Decision, Person, State};

pub use access::DEPLOYMENT_ADMIN_NAME;
pub use clock::{clock_actor, CLOCK_PRINCIPAL_ID, TICK_DECISIONS_MAX};
pub use money_flows::VOUCHER_GRANTS_MAX;
pub use orders::{order_shares, Share};
pub use terms::{PeriodUnit, ARREARS_DUE_DAYS_MAX, ORDER_PAYMENT_TIMEOUT_MINUTES_MAX, RENEWAL_LEAD_DAYS_MAX};

/// Decides a command against the state. Pure: the same state and command give the same answer.
pub fn decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    let decider = Decider { state, command };
    if state.platform_id.is_none() && !matches!(command.body, CommandBody::Setup(SetupCommand::Bootstrap { .. })) {
        return Err(DomainError::NotBootstrapped);
    }
    if let Some(principal) = state.principals.get(&command.actor.principal_id) {
        if principal.revoked {
            return Err(DomainError::TokenNotValid { state: "revoked" });
        }
        if principal.expires_at.is_some_and(|at| command.at >= at) {
            return Err(DomainError::TokenNotValid { state: "expired" });
        }
    }
    let events = decider.dispatch(&command.body)?;
    decider.within_limits(&events)?;
    Ok(events)
}

pub(crate) struct Decider<'a> {
    pub state: &'a State,
    pub command: &'a Command,
}

impl<'a> Decider<'a> {
    fn dispatch(&self, body: &CommandBody) -> Result<Vec<Event>, DomainError> {
        match body {
            CommandBody::Setup(command) => self.decide_setup(command),
            CommandBody::Money(command) => self.decide_money(command),
            CommandBody::Orders(command) => self.decide_orders(command),
            CommandBody::Serial(command) => self.decide_serial(command),
            CommandBody::Settlement(command) => self.decide_settlement(command),
            CommandBody::Approval(command) => self.decide_approvals(command),
            CommandBody::Access(command) => self.decide_access(command),
            CommandBody::Registry(command) => self.decide_registry(command),
            CommandBody::Terms(command) => self.decide_terms(command),
            CommandBody::Clock(command) => self.decide_clock(command),
        }
    }

    /// The one check of what events would do to wallets, holds and totals (`limits`): run on
    /// every command's events, and by a decider that wants a request refused early.
    pub fn within_limits(&self, events: &[Event]) -> Result<(), DomainError> {
        limits::check(self.state, events).map_err(|breach| match breach {
            Breach::Overdrawn { available, needed, .. } => DomainError::InsufficientBalance { available, needed },
            Breach::Limit { .. } => {
                DomainError::LimitExceeded { field: "amount".to_owned(), reason: breach.to_string() }
            }
        })
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

    /// The book `id`, which the actor must reach, with `permission`.
    pub fn book_for(&self, id: OrgId, permission: Permission) -> Result<&'a Book, DomainError> {
        let book =
            self.state.books.get(&id).filter(|_| self.reaches(id)).ok_or_else(|| DomainError::not_found("book", id))?;
        self.require(permission)?;
        Ok(book)
    }

    /// What the actor's roles allow in its org (its org's definitions of them included).
    pub fn permissions(&self) -> PermissionSet {
        self.state.permissions_of(&self.command.actor)
    }

    pub fn require(&self, permission: Permission) -> Result<(), DomainError> {
        if self.permissions().contains(permission) {
            Ok(())
        } else {
            Err(DomainError::forbidden(format!("needs the permission {permission}")))
        }
    }

    /// A customer the actor may act for with `permission`: the customer itself, or staff of its
    /// seller, who without `customers.all` reach only the customers they own (another is not
    /// found). Returns the customer and its seller's book id.
    pub fn customer_for(&self, customer_id: OrgId, permission: Permission) -> Result<(&'a Org, OrgId), DomainError> {
        let found = self.customer_in_scope(customer_id, permission)?;
        self.not_closed(customer_id)?;
        Ok(found)
    }

    /// [`Decider::customer_for`], closed or not: for closing and reopening it, and its profile.
    pub fn customer_in_scope(
        &self,
        customer_id: OrgId,
        permission: Permission,
    ) -> Result<(&'a Org, OrgId), DomainError> {
        let customer = self
            .state
            .orgs
            .get(&customer_id)
            .filter(|org| org.kind == OrgKind::Customer)
            .ok_or_else(|| DomainError::not_found("customer", customer_id))?;
        let seller = customer.parent_id.expect("customers have a seller");
        let actor = &self.command.actor;
        if actor.org_id != customer_id {
            if !self.reaches(seller) {
                return Err(DomainError::not_found("customer", customer_id));
            }
            if !self.permissions().contains(Permission::CustomersAll) && !self.owns(customer_id) {
                return Err(DomainError::not_found("customer", customer_id));
            }
        }
        self.require(permission)?;
        Ok((customer, seller))
    }

    /// Whether the actor's person owns the customer (data scope without `customers.all`).
    pub fn owns(&self, customer_id: OrgId) -> bool {
        self.state.customer_owners.get(&customer_id).map(|owner| Person::User(*owner))
            == Some(self.state.person_of(self.command.actor.principal_id))
    }

    /// Books postings into one event: rules evaluated, inter-company lines paired, closed
    /// periods and overdrawn wallets refused.
    pub fn booked(&self, payload: EventPayload, postings: &[Posting<'_>]) -> Result<Event, DomainError> {
        self.booked_with(payload, postings, &[])
    }

    /// [`Decider::booked`], where `opening` are accounts an earlier event of the same command
    /// opens (`AccountOpened`), so they count as open.
    pub fn booked_with(
        &self,
        payload: EventPayload,
        postings: &[Posting<'_>],
        opening: &[crate::chart::AccountCode],
    ) -> Result<Event, DomainError> {
        let date = self.command.effective_date;
        let mut entries = Vec::with_capacity(postings.len());
        for posting in postings {
            let book =
                self.state.books.get(&posting.book).ok_or_else(|| DomainError::not_found("book", posting.book))?;
            if let Some(closed_through) = book.closed_through.filter(|closed| date <= *closed) {
                return Err(DomainError::PeriodClosed { book: posting.book, closed_through, date });
            }
            if let Some(entry) = book_posting(&self.state.rules, posting, date, book.currency, |code| {
                book.chart.contains(code) || opening.contains(code)
            })? {
                entries.push(entry);
            }
        }
        pair_intercompany_lines(&mut entries);
        Ok(Event::with_entries(payload, entries))
    }
}

/// `evolve`: one dispatch on the event type to the family that owns it, each fold beside its
/// decider. It cannot fail on events the deciders produced; what it asserts is a programmer
/// error (the writer catches it and reloads its state from the log).
impl State {
    /// Folds one recorded event in. Cannot fail: the decider checked everything; what is
    /// asserted here is a programmer error.
    pub fn evolve(&mut self, recorded: &RecordedEvent) {
        assert_eq!(recorded.position, self.last_position + 1, "events are folded in position order");
        for (customer, delta) in limits::wallet_deltas(self, &recorded.event.entries) {
            let wallet = self.wallets.entry(customer).or_default();
            let balance = SignedAmount::from(wallet.balance).plus(delta);
            wallet.balance = Amount::from_decimal(balance.as_decimal()).expect("a wallet the decider kept in range");
        }
        for entry in &recorded.event.entries {
            self.post_entry(recorded.position, entry);
        }
        settlement::foreign_payables(self, recorded);
        use EventPayload as E;
        match &recorded.event.payload {
            E::OrgOpened(event) => {
                setup::org_opened(self, event);
                access::customer_opened(self, event, &recorded.actor);
            }
            E::UserCreated(event) => access::user_created(self, event),
            E::TokenIssued(event) => access::token_issued(self, event),
            E::TokenRevoked(event) => access::token_revoked(self, event),
            E::RoleDefined(event) => access::role_defined(self, event),
            E::CustomerOwnerSet(event) => access::customer_owner_set(self, event),
            E::AccountOpened(event) => setup::account_opened(self, event),
            E::PostingRulesSet(event) => setup::posting_rules_set(self, event),
            E::SaleModeSet(event) => setup::sale_mode_set(self, event),
            E::ProductCreated(event) => setup::product_created(self, event),
            E::SupplierRateSet(event) => setup::supplier_rate_set(self, event),
            E::RateSet(event) => setup::rate_set(self, event),
            E::PromotionCreated(event) => setup::promotion_created(self, event),
            E::PriceSet(event) => setup::price_set(self, event),
            E::PromotionTermsSet(event) => setup::promotion_terms_set(self, event),
            E::ExchangeRateSet(event) => setup::exchange_rate_set(self, event),
            E::InviteCodeCreated(event) => setup::invite_code_created(self, event),
            E::ApprovalRequested(event) => approvals::approval_requested(self, event),
            E::ApprovalGranted(event) => approvals::approval_decided(self, event, Decision::Granted),
            E::ApprovalRejected(event) => approvals::approval_decided(self, event, Decision::Rejected),
            E::ApprovalPolicySet(event) => approvals::approval_policy_set(self, event, recorded.position),
            E::ApprovalRouted(event) => approvals::approval_routed(self, event),
            E::ApprovalLevelGranted(event) => approvals::approval_level_granted(self, event),
            E::RechargeRequested(event) => money_flows::recharge_requested(self, event),
            E::OnlineRechargeRequested(event) => money_flows::online_recharge_requested(self, event),
            E::RechargeConfirmed(event) => money_flows::recharge_confirmed(self, event),
            E::RechargeReversed(event) => money_flows::recharge_reversed(self, event),
            E::CouponGranted(_) => {}
            E::VoucherGranted(event) => money_flows::voucher_granted(self, recorded.position, event),
            E::VoucherRedeemed(event) => money_flows::voucher_redeemed(self, event),
            E::VoucherReturned(event) => money_flows::voucher_returned(self, event),
            E::VoucherExpired(event) => money_flows::voucher_expired(self, event),
            E::OrderPlaced(event) => {
                orders::order_placed(self, event);
                clock::order_placed(self, event.order_id, recorded.recorded_at);
            }
            E::OrderPaid(event) => {
                clock::order_no_longer_awaiting(self, event.order_id);
                orders::order_paid(self, event);
            }
            E::OrderFulfilled(event) => orders::order_fulfilled(self, event),
            E::OrderCancelled(event) => {
                clock::order_no_longer_awaiting(self, event.order_id);
                orders::order_cancelled(self, event);
            }
            E::OrderRefunded(event) => {
                orders::order_refunded(self, event);
                clock::order_refunded(self, event);
            }
            E::WithdrawalRequested(event) => money_flows::withdrawal_requested(self, event),
            E::WithdrawalPaid(event) => money_flows::withdrawal_paid(self, event),
            E::UsageCharged(event) => orders::usage_charged(self, event),
            E::SubscriptionRenewed(event) => orders::subscription_renewed(self, event),
            E::SerialPackagePriced(event) => serial::serial_package_priced(self, event),
            E::DistributorTierSet(event) => serial::distributor_tier_set(self, event),
            E::SerialTierRateSet(event) => serial::serial_tier_rate_set(self, event),
            E::SerialCodesIssued(event) => serial::serial_codes_issued(self, event),
            E::SerialCodeActivated(event) => serial::serial_code_activated(self, event),
            E::CommissionAccrued(event) => orders::commission_accrued(self, event),
            E::CommissionReversed(event) => orders::commission_reversed(self, event),
            E::SettlementStatementIssued(event) => settlement::settlement_statement_issued(self, event),
            E::SettlementPaid(event) => settlement::settlement_paid(self, event),
            E::InvoiceIssued(event) => settlement::invoice_issued(self, event),
            E::PeriodClosed(event) => settlement::period_closed(self, event, recorded.position),
            E::PeriodReopened(event) => settlement::period_reopened(self, event),
            E::ReconciliationRecorded(event) => settlement::reconciliation_recorded(self, event),
            E::LowBalanceThresholdSet(event) => money_flows::low_balance_threshold_set(self, event),
            E::BusinessBooked(_) => {}
            E::OrgProfileUpdated(event) => registry::org_profile_updated(self, event),
            E::OrgClosed(event) => registry::org_closed(self, event),
            E::OrgReopened(event) => registry::org_reopened(self, event),
            E::CustomerTransferred(event) => registry::customer_transferred(self, event),
            E::SerialExpirySet(event) => serial::serial_expiry_set(self, event),
            E::SerialCodesExpired(event) => serial::serial_codes_expired(self, event),
            E::SupplierTermsSet(event) => {
                self.supplier_currencies.insert(event.supplier_id, event.terms.currency);
            }
            E::ProductUpdated(event) => registry::product_updated(self, event),
            E::ListPriceScheduled(event) => registry::list_price_scheduled(self, event),
            E::ManualEntryBooked(_) => {}
            E::SaleModeScheduled(event) => setup::sale_mode_scheduled(self, event),
            E::InvoiceRequested(event) => settlement::invoice_requested(self, event),
            E::InvoiceDelivered(event) => settlement::invoice_delivered(self, event),
            E::InvoiceVoided(event) => settlement::invoice_voided(self, event),
            E::InvoiceRedLettered(event) => settlement::invoice_red_lettered(self, event),
            E::CreditLimitSet(event) => terms::credit_limit_set(self, event),
            E::CreditDrawn(event) => terms::credit_drawn(self, event),
            E::ArrearsRepaid(event) => terms::arrears_repaid(self, event),
            E::ArrearsOverdue(event) => terms::arrears_overdue(self, event),
            E::BookTermsSet(event) => terms::book_terms_set(self, event),
            E::SettlementCycleSet(event) => terms::settlement_cycle_set(self, event),
            E::AutoRenewalSet(event) => terms::auto_renewal_set(self, event),
            E::AutoRenewalFailed(event) => terms::auto_renewal_failed(self, event),
        }
        self.last_position = recorded.position;
    }
}

/// A one-line text (a name, a label, a reference): required, trimmed, bounded, and without
/// control characters or the bidirectional overrides that make a name read as another
/// (`"Acme\u{202E}moc.evil"`).
pub(crate) fn text_field(field: &str, value: &str) -> Result<String, DomainError> {
    checked_text(field, value, false)
}

/// Prose (a reason, a comment, a memo, a note): as [`text_field`], but line breaks and tabs are
/// kept.
pub(crate) fn prose_field(field: &str, value: &str) -> Result<String, DomainError> {
    checked_text(field, value, true)
}

pub(crate) fn optional_prose(field: &str, value: &Option<String>) -> Result<Option<String>, DomainError> {
    value.as_deref().map(|text| prose_field(field, text)).transpose()
}

/// Characters that reorder or hide the text around them: the bidirectional embeddings,
/// overrides and isolates (U+202A..U+202E, U+2066..U+2069).
fn is_bidi_control(character: char) -> bool {
    matches!(character, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn checked_text(field: &str, value: &str, prose: bool) -> Result<String, DomainError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid_field(field, "must not be empty"));
    }
    if trimmed.chars().count() > TEXT_LENGTH_MAX {
        return Err(DomainError::invalid_field(field, format!("must be at most {TEXT_LENGTH_MAX} characters")));
    }
    let kept = |character: char| prose && matches!(character, '\n' | '\r' | '\t');
    if let Some(refused) = trimmed.chars().find(|c| (c.is_control() && !kept(*c)) || is_bidi_control(*c)) {
        let what = if is_bidi_control(refused) { "a bidirectional control character" } else { "a control character" };
        return Err(DomainError::invalid_field(field, format!("must not contain {what} (U+{:04X})", refused as u32)));
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn optional_text(field: &str, value: &Option<String>) -> Result<Option<String>, DomainError> {
    value.as_deref().map(|text| text_field(field, text)).transpose()
}
