//! Approvals (审批) and the policies that route them. A request waits for the levels its book's
//! policy gave it (`ApprovalRouted`; one level, admin or finance, when none); each level is
//! granted by a person holding one of its roles who is neither the requester nor an earlier
//! approver (persons, not tokens: a user's every token is the same person). The last level's
//! grant carries the proposal out in the same command, so the grant and its effect are appended
//! together or not at all; a rejection at any level ends the approval.

use crate::approval_policy::{self, ApprovalAction, ApprovalLevel, ApprovalRule};
use crate::command::ApprovalCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, OrgId};
use crate::money::Amount;
use crate::org::Role;
use crate::permissions::Permission;
use crate::state::{
    Approval, BookPolicy, Decision, InvoiceRequest, InvoiceStatus, RechargeStatus, State, WithdrawalStatus,
};

use super::{optional_prose, Decider};

/// Role names, as a refusal lists them.
fn role_names<'a>(roles: impl IntoIterator<Item = &'a Role>) -> String {
    roles.into_iter().map(|role| role.as_str()).collect::<Vec<_>>().join(", ")
}

impl Decider<'_> {
    pub(super) fn decide_approvals(&self, command: &ApprovalCommand) -> Result<Vec<Event>, DomainError> {
        match command {
            ApprovalCommand::DecideApproval { approval_id, grant, comment } => {
                self.decide_approval(*approval_id, *grant, comment)
            }
            ApprovalCommand::SetApprovalPolicy { book, rules } => self.set_approval_policy(*book, rules),
        }
    }

    /// The book's admin sets its whole policy; a bad rule is refused naming its field.
    fn set_approval_policy(&self, book: OrgId, rules: &[ApprovalRule]) -> Result<Vec<Event>, DomainError> {
        self.book_for(book, Permission::ApprovalPolicyWrite)?;
        approval_policy::check_rules(rules, Some(book) == self.state.platform_id)?;
        // A custom role in a level must be one the book defined.
        for (index, rule) in rules.iter().enumerate() {
            let undefined = rule.levels.iter().flatten().find(|role| {
                matches!(role, Role::Custom(_)) && !self.state.role_definitions.contains_key(&(book, **role))
            });
            if let Some(role) = undefined {
                let reason = format!("{role} is no role of this book (PUT /v1/orgs/{{id}}/roles/{{name}} defines one)");
                return Err(DomainError::invalid_field(format!("rules[{index}].levels"), reason));
            }
        }
        Ok(vec![Event::new(EventPayload::ApprovalPolicySet(ApprovalPolicySet { book, rules: rules.to_vec() }))])
    }

    /// The levels `action` of `amount` waits for in `book` under its policy; `None` when it
    /// goes through at once. For the deciders of the flows a policy covers (the decision point).
    pub(super) fn approval_levels(
        &self,
        book: OrgId,
        action: ApprovalAction,
        amount: Option<Amount>,
    ) -> Option<Vec<ApprovalLevel>> {
        let rule = approval_policy::rule_for(self.state.approval_rules(book), action)?;
        rule.levels_for(amount).map(<[ApprovalLevel]>::to_vec)
    }

    /// A request waiting for `levels`: `ApprovalRequested`, then `ApprovalRouted` unless the
    /// levels are the one default level (what a request that names none waits for).
    pub(super) fn routed_approval_request(
        &self,
        approval_id: ApprovalId,
        book: OrgId,
        kind: ApprovalKind,
        proposal: Proposal,
        action: ApprovalAction,
        levels: Vec<ApprovalLevel>,
    ) -> Vec<Event> {
        let mut events = vec![self.approval_request(approval_id, book, kind, proposal)];
        if levels != approval_policy::default_levels() {
            events.push(Event::new(EventPayload::ApprovalRouted(ApprovalRouted { approval_id, action, levels })));
        }
        events
    }

    /// Rights first (the approval is the actor's book's and the actor holds a role of one of
    /// its levels), then what the approval's progress decides: decided already, the requester,
    /// an earlier approver, then the current level's roles. A retry of an accepted decision so
    /// meets `approval_decided` or `repeat_approver`, never a refusal for rights (the writer
    /// answers a retry refused for rights with the refusal).
    fn decide_approval(
        &self,
        approval_id: ApprovalId,
        grant: bool,
        comment: &Option<String>,
    ) -> Result<Vec<Event>, DomainError> {
        let approval = self.state.approvals.get(&approval_id).filter(|approval| self.reaches(approval.request.book));
        let approval = approval.ok_or_else(|| DomainError::not_found("approval", approval_id))?;
        // Who decides is the book's policy: the roles its levels name (not a permission).
        let actor = &self.command.actor;
        if !approval.levels.iter().flatten().any(|role| actor.has(*role)) {
            let mut roles: Vec<&Role> = approval.levels.iter().flatten().collect();
            roles.sort();
            roles.dedup();
            return Err(DomainError::forbidden(format!("needs one of the roles {}", role_names(roles))));
        }
        if approval.decision != Decision::Pending {
            return Err(DomainError::ApprovalDecided { status: approval.decision.as_str() });
        }
        let person = self.state.person_of(actor.principal_id);
        if self.state.person_of(approval.request.requested_by) == person {
            return Err(DomainError::SelfApproval);
        }
        if let Some(index) = approval.granted_by.iter().position(|earlier| self.state.person_of(*earlier) == person) {
            return Err(DomainError::RepeatApprover { level: index + 1 });
        }
        // A pending approval waits at a level; one whose log says otherwise (no level left) is
        // refused as decided rather than trusted.
        let Some((level, roles)) = approval.current_level() else {
            return Err(DomainError::ApprovalDecided { status: approval.decision.as_str() });
        };
        if !roles.iter().any(|role| actor.has(*role)) {
            return Err(DomainError::ApprovalLevelRole {
                level,
                levels: approval.levels.len(),
                roles: role_names(roles),
            });
        }
        let comment = optional_prose("comment", comment)?;
        let decided = ApprovalDecided { approval_id, decided_by: actor.principal_id, comment };
        if !grant {
            return Ok(vec![Event::new(EventPayload::ApprovalRejected(decided))]);
        }
        if level < approval.levels.len() {
            let granted = ApprovalLevelGranted {
                approval_id,
                level: level as u32,
                decided_by: decided.decided_by,
                comment: decided.comment,
            };
            return Ok(vec![Event::new(EventPayload::ApprovalLevelGranted(granted))]);
        }
        let mut events = vec![Event::new(EventPayload::ApprovalGranted(decided))];
        events.extend(self.carry_out(&approval.request)?);
        Ok(events)
    }

    /// What a granted approval carries out, checked again against today's state.
    fn carry_out(&self, request: &ApprovalRequested) -> Result<Vec<Event>, DomainError> {
        let effect = match &request.proposal {
            Proposal::ConfirmRecharge { recharge_id } => {
                return self.with_repayment(self.confirm_recharge(*recharge_id)?)
            }
            Proposal::ReverseRecharge { recharge_id, reason } => self.reverse_recharge(*recharge_id, reason)?,
            Proposal::PayWithdrawal { withdrawal_id } => self.pay_withdrawal(*withdrawal_id)?,
            Proposal::SetRate(rate) => {
                self.check_rate(rate)?;
                Event::new(EventPayload::RateSet(rate.clone()))
            }
            Proposal::PaySettlement { settlement_id } => return self.pay_settlement(*settlement_id),
            Proposal::IssueInvoice { invoice_id, customer_id, amount } => {
                self.issue_invoice(*invoice_id, *customer_id, *amount)?
            }
            Proposal::GrantCoupon { customer_id, amount, reason, expires_on } => {
                return self.coupon_granted(*customer_id, request.book, *amount, reason, *expires_on);
            }
            Proposal::RefundOrder { order_id, amount, penalty, reason } => {
                return self.refund_events(*order_id, *amount, *penalty, reason);
            }
            Proposal::CreatePromotion(promotion) => self.promotion_created(promotion.clone())?,
            Proposal::BookManualEntry { date, lines, memo } => {
                self.book_manual_entry(request.approval_id, request.book, *date, lines, memo)?
            }
            Proposal::ReopenPeriod { book, through, reason } => {
                self.period_reopened(request, *book, *through, reason)?
            }
            Proposal::SetCreditLimit { customer_id, limit } => self.credit_limit_set(*customer_id, *limit),
            Proposal::SetPrice(price) => {
                self.check_price(price)?;
                Event::new(EventPayload::PriceSet(price.clone()))
            }
        };
        Ok(vec![effect])
    }
}

// The folds of this family's events into the state (see `State::evolve`).

pub(super) fn approval_requested(state: &mut State, event: &ApprovalRequested) {
    match &event.proposal {
        Proposal::ReverseRecharge { recharge_id, .. } => {
            state.recharges.get_mut(recharge_id).expect("known recharge").reversal_pending = true;
        }
        Proposal::PaySettlement { settlement_id } => {
            state.settlements.get_mut(settlement_id).expect("known settlement").payment_pending = true;
        }
        Proposal::IssueInvoice { invoice_id, customer_id, amount } => {
            state.invoice_requests.insert(*invoice_id, InvoiceRequest { customer_id: *customer_id, amount: *amount });
        }
        Proposal::ConfirmRecharge { .. }
        | Proposal::PayWithdrawal { .. }
        | Proposal::SetRate(_)
        | Proposal::SetPrice(_)
        | Proposal::GrantCoupon { .. }
        | Proposal::RefundOrder { .. }
        | Proposal::CreatePromotion(_)
        | Proposal::BookManualEntry { .. } => {}
        Proposal::ReopenPeriod { .. } => {}
        Proposal::SetCreditLimit { .. } => {}
    }
    let approval = Approval {
        request: event.clone(),
        decision: Decision::Pending,
        levels: approval_policy::default_levels(),
        granted_by: Vec::new(),
    };
    state.approvals.insert(event.approval_id, approval);
}

pub(super) fn approval_routed(state: &mut State, event: &ApprovalRouted) {
    state.approvals.get_mut(&event.approval_id).expect("known approval").levels = event.levels.clone();
}

pub(super) fn approval_level_granted(state: &mut State, event: &ApprovalLevelGranted) {
    state.approvals.get_mut(&event.approval_id).expect("known approval").granted_by.push(event.decided_by);
}

pub(super) fn approval_policy_set(state: &mut State, event: &ApprovalPolicySet, position: u64) {
    state.approval_policies.insert(event.book, BookPolicy { rules: event.rules.clone(), position });
}

/// A grant is followed, in the same command, by the effect's own events, which update the
/// things they touch; a rejection releases what the request held.
pub(super) fn approval_decided(state: &mut State, event: &ApprovalDecided, decision: Decision) {
    let approval = state.approvals.get_mut(&event.approval_id).expect("known approval");
    approval.decision = decision;
    if decision == Decision::Granted {
        return;
    }
    match approval.request.proposal.clone() {
        Proposal::ConfirmRecharge { recharge_id } => {
            let recharge = state.recharges.get_mut(&recharge_id).expect("known recharge");
            recharge.status = RechargeStatus::Rejected;
            let (customer, amount) = (recharge.customer_id, recharge.amount);
            let wallet = state.wallets.entry(customer).or_default();
            wallet.pending_recharges = wallet.pending_recharges.minus(amount);
        }
        Proposal::ReverseRecharge { recharge_id, .. } => {
            state.recharges.get_mut(&recharge_id).expect("known recharge").reversal_pending = false;
        }
        Proposal::PayWithdrawal { withdrawal_id } => {
            let withdrawal = state.withdrawals.get_mut(&withdrawal_id).expect("known withdrawal");
            withdrawal.status = WithdrawalStatus::Rejected;
            let (customer, amount) = (withdrawal.customer_id, withdrawal.amount);
            let wallet = state.wallets.entry(customer).or_default();
            wallet.reserved = wallet.reserved.minus(amount);
        }
        Proposal::PaySettlement { settlement_id } => {
            state.settlements.get_mut(&settlement_id).expect("known settlement").payment_pending = false;
        }
        Proposal::IssueInvoice { invoice_id, .. } => {
            state.invoice_requests.remove(&invoice_id);
            if let Some(invoice) = state.invoices.get_mut(&invoice_id) {
                invoice.status = InvoiceStatus::Rejected;
            }
        }
        Proposal::SetRate(_)
        | Proposal::SetPrice(_)
        | Proposal::GrantCoupon { .. }
        | Proposal::RefundOrder { .. }
        | Proposal::CreatePromotion(_)
        | Proposal::BookManualEntry { .. } => {}
        Proposal::ReopenPeriod { .. } => {}
        Proposal::SetCreditLimit { .. } => {}
    }
}
