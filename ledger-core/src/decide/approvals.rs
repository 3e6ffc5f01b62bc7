//! Approvals (审批): a finance or admin token of the same org grants or rejects; nobody approves
//! their own request (the person is compared: a user's every token is the same person). A grant carries the proposal out in the same command, so the grant and its
//! effect are appended together or not at all.

use crate::error::DomainError;
use crate::event::*;
use crate::ids::ApprovalId;
use crate::permissions::Permission;
use crate::state::{Approval, Decision, InvoiceRequest, RechargeStatus, State, WithdrawalStatus};

use super::{optional_prose, Decider};

impl Decider<'_> {
    pub(super) fn decide_approval(
        &self,
        approval_id: ApprovalId,
        grant: bool,
        comment: &Option<String>,
    ) -> Result<Vec<Event>, DomainError> {
        let approval = self.state.approvals.get(&approval_id).filter(|approval| self.reaches(approval.request.book));
        let approval = approval.ok_or_else(|| DomainError::not_found("approval", approval_id))?;
        self.require(Permission::ApprovalsDecide)?;
        if approval.decision != Decision::Pending {
            return Err(DomainError::ApprovalDecided { status: approval.decision.as_str() });
        }
        if self.state.person_of(approval.request.requested_by) == self.state.person_of(self.command.actor.principal_id)
        {
            return Err(DomainError::SelfApproval);
        }
        let decided = ApprovalDecided {
            approval_id,
            decided_by: self.command.actor.principal_id,
            comment: optional_prose("comment", comment)?,
        };
        if !grant {
            return Ok(vec![Event::new(EventPayload::ApprovalRejected(decided))]);
        }
        let effect = match &approval.request.proposal {
            Proposal::ConfirmRecharge { recharge_id } => self.confirm_recharge(*recharge_id)?,
            Proposal::ReverseRecharge { recharge_id, reason } => self.reverse_recharge(*recharge_id, reason)?,
            Proposal::PayWithdrawal { withdrawal_id } => self.pay_withdrawal(*withdrawal_id)?,
            Proposal::SetRate(rate) => {
                self.check_rate(rate)?;
                Event::new(EventPayload::RateSet(rate.clone()))
            }
            Proposal::PaySettlement { settlement_id } => self.pay_settlement(*settlement_id)?,
            Proposal::IssueInvoice { invoice_id, customer_id, amount } => {
                self.issue_invoice(*invoice_id, *customer_id, *amount)?
            }
        };
        Ok(vec![Event::new(EventPayload::ApprovalGranted(decided)), effect])
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
        Proposal::ConfirmRecharge { .. } | Proposal::PayWithdrawal { .. } | Proposal::SetRate(_) => {}
    }
    state.approvals.insert(event.approval_id, Approval { request: event.clone(), decision: Decision::Pending });
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
        }
        Proposal::SetRate(_) => {}
    }
}
