//! Approvals (审批): a finance or admin token of the same org grants or rejects; nobody approves
//! their own request. A grant carries the proposal out in the same command, so the grant and its
//! effect are appended together or not at all.

use crate::error::DomainError;
use crate::event::*;
use crate::ids::ApprovalId;
use crate::org::Role;
use crate::state::Decision;

use super::{optional_text, Decider};

impl Decider<'_> {
    pub(super) fn decide_approval(
        &self,
        approval_id: ApprovalId,
        grant: bool,
        comment: &Option<String>,
    ) -> Result<Vec<Event>, DomainError> {
        let approval = self.state.approvals.get(&approval_id).filter(|approval| self.reaches(approval.request.book));
        let approval = approval.ok_or_else(|| DomainError::not_found("approval", approval_id))?;
        if approval.decision != Decision::Pending {
            return Err(DomainError::ApprovalDecided { status: approval.decision.as_str() });
        }
        if approval.request.requested_by == self.command.actor.principal_id {
            return Err(DomainError::SelfApproval);
        }
        self.require_roles(&[Role::Finance])?;
        let decided = ApprovalDecided {
            approval_id,
            decided_by: self.command.actor.principal_id,
            comment: optional_text("comment", comment)?,
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
