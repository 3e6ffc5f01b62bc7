//! Approval policies (审批策略) as data, per book: which actions need approval, above which
//! amount, and who approves them, level by level.
//!
//! A book's policy is the rules it set ([`crate::event::ApprovalPolicySet`]), each naming an
//! [`ApprovalAction`]; an action the book names no rule for follows its default
//! ([`ApprovalAction::default_rule`]). A rule has one to [`LEVELS_MAX`] levels, each a set of
//! roles: the approver of a level holds one of them, and is another person than the requester
//! and every earlier approver. With `above`, an action of that amount or less goes through at
//! once.
//!
//! What a policy cannot remove ([`ApprovalAction::is_mandatory`]): money leaving the ledger
//! (offline withdrawals, settlement payments) and prices below cost, in any scope, always wait
//! for at least one level, whatever the amount: their rules take no `above`. A threshold on money
//! leaving would let it leave in slices under the threshold, and a price has no amount to
//! compare (its loss grows with every order at that price).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::money::Amount;
use crate::org::Role;

/// Levels one approval may have.
pub const LEVELS_MAX: usize = 3;

/// What a book's policy can require approval for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    /// 线下充值: an offline recharge, by its amount.
    OfflineRecharge,
    /// 对公转账: a corporate-transfer recharge, by its amount.
    TransferRecharge,
    /// 优惠券: a coupon, by its amount.
    Coupon,
    /// 提现: an offline withdrawal (a route back along the channel the money came in by goes
    /// back to its source and is not money a person sends somewhere).
    Withdrawal,
    /// 退款: an order's refund, by the amount refunded.
    Refund,
    /// A public rate below the book's own cost.
    PublicRateBelowCost,
    /// A customer's special rate (客户专属折扣) below the book's own cost.
    CustomerRateBelowCost,
    /// A child reseller's rate (分销商折扣) below the book's own cost.
    ResellerRateBelowCost,
    /// A promotion with any rate below the book's own cost.
    PromotionBelowCost,
    /// 授信额度: raising a customer's credit limit, by the new limit (so a limit raised in steps
    /// under the threshold still waits once it passes it).
    CreditLimitRaise,
    /// 手工凭证: a manual journal entry, by its total debit.
    ManualJournalEntry,
    /// 结算付款: paying a settlement statement.
    SettlementPayment,
    /// 反结账: reopening a closed period (with a written reason).
    PeriodReopen,
}

impl ApprovalAction {
    /// Every action, in the order a policy is answered.
    pub const ALL: [ApprovalAction; 13] = [
        ApprovalAction::OfflineRecharge,
        ApprovalAction::TransferRecharge,
        ApprovalAction::Coupon,
        ApprovalAction::Withdrawal,
        ApprovalAction::Refund,
        ApprovalAction::PublicRateBelowCost,
        ApprovalAction::CustomerRateBelowCost,
        ApprovalAction::ResellerRateBelowCost,
        ApprovalAction::PromotionBelowCost,
        ApprovalAction::CreditLimitRaise,
        ApprovalAction::ManualJournalEntry,
        ApprovalAction::SettlementPayment,
        ApprovalAction::PeriodReopen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAction::OfflineRecharge => "offline_recharge",
            ApprovalAction::TransferRecharge => "transfer_recharge",
            ApprovalAction::Coupon => "coupon",
            ApprovalAction::Withdrawal => "withdrawal",
            ApprovalAction::Refund => "refund",
            ApprovalAction::PublicRateBelowCost => "public_rate_below_cost",
            ApprovalAction::CustomerRateBelowCost => "customer_rate_below_cost",
            ApprovalAction::ResellerRateBelowCost => "reseller_rate_below_cost",
            ApprovalAction::PromotionBelowCost => "promotion_below_cost",
            ApprovalAction::CreditLimitRaise => "credit_limit_raise",
            ApprovalAction::ManualJournalEntry => "manual_journal_entry",
            ApprovalAction::SettlementPayment => "settlement_payment",
            ApprovalAction::PeriodReopen => "period_reopen",
        }
    }

    /// Money leaving, prices below cost and a closed period reopened: always approved by at
    /// least one level, whatever the amount. A policy may add levels or change their roles; it
    /// cannot remove the approval.
    pub fn is_mandatory(self) -> bool {
        matches!(
            self,
            ApprovalAction::Withdrawal
                | ApprovalAction::SettlementPayment
                | ApprovalAction::PeriodReopen
                | ApprovalAction::PublicRateBelowCost
                | ApprovalAction::CustomerRateBelowCost
                | ApprovalAction::ResellerRateBelowCost
                | ApprovalAction::PromotionBelowCost
        )
    }

    /// The rule of a book whose policy names none for this action: one level, admin or finance,
    /// for everything that waited for approval before policies existed (recharges, withdrawals,
    /// below-cost rates, settlement payments) and for what did not exist yet (credit-limit
    /// raises, manual journal entries); none for coupons and refunds, which went through at once.
    pub fn default_rule(self) -> Option<ApprovalRule> {
        match self {
            ApprovalAction::Coupon | ApprovalAction::Refund => None,
            action => Some(ApprovalRule { action, above: None, levels: default_levels() }),
        }
    }
}

/// One level of an approval: the roles, any of which its approver holds.
pub type ApprovalLevel = BTreeSet<Role>;

/// The one level of every default rule, and of every request recorded before policies: admin
/// or finance of the book.
pub fn default_level() -> ApprovalLevel {
    [Role::Admin, Role::Finance].into_iter().collect()
}

/// [`default_level`], alone: the levels of a request that names none.
pub fn default_levels() -> Vec<ApprovalLevel> {
    vec![default_level()]
}

/// One rule of a policy: `action` waits for approval through `levels` when its amount is above
/// `above` (always, without it).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRule {
    pub action: ApprovalAction,
    /// An amount at or below it goes through at once. Not for mandatory actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<Amount>,
    /// One to [`LEVELS_MAX`] levels, in the order they approve.
    pub levels: Vec<ApprovalLevel>,
}

impl ApprovalRule {
    /// The levels an action of `amount` waits for; `None` when it goes through at once. An
    /// action without an amount (a rate) always waits.
    pub fn levels_for(&self, amount: Option<Amount>) -> Option<&[ApprovalLevel]> {
        match (self.above, amount) {
            (Some(above), Some(amount)) if amount <= above && !self.action.is_mandatory() => None,
            _ => Some(&self.levels),
        }
    }
}

/// The rule for `action` under a book's `rules`: the book's own, else the default.
pub fn rule_for(rules: &[ApprovalRule], action: ApprovalAction) -> Option<ApprovalRule> {
    match rules.iter().find(|rule| rule.action == action) {
        Some(rule) => Some(rule.clone()),
        None => action.default_rule(),
    }
}

/// The effective policy of a book whose rules are `rules`: for every action that waits for
/// approval, its rule and whether it is the default (in [`ApprovalAction::ALL`]'s order).
pub fn effective_rules(rules: &[ApprovalRule]) -> Vec<(ApprovalRule, bool)> {
    ApprovalAction::ALL
        .into_iter()
        .filter_map(|action| match rules.iter().find(|rule| rule.action == action) {
            Some(rule) => Some((rule.clone(), false)),
            None => action.default_rule().map(|rule| (rule, true)),
        })
        .collect()
}

/// Checks the rules a book sets, naming the field at fault (`rules[2].levels`): each action at
/// most once; one to [`LEVELS_MAX`] levels, none empty; no `customer` (a customer approves
/// nothing in its seller's book), and `super_admin` only in the platform's book; no `above` on a
/// mandatory action.
pub fn check_rules(rules: &[ApprovalRule], platform_book: bool) -> Result<(), DomainError> {
    for (index, rule) in rules.iter().enumerate() {
        let field = |name: &str| format!("rules[{index}].{name}");
        if rules[..index].iter().any(|earlier| earlier.action == rule.action) {
            return Err(DomainError::invalid_field(
                field("action"),
                format!("{} is named twice", rule.action.as_str()),
            ));
        }
        if rule.levels.is_empty() || rule.levels.len() > LEVELS_MAX {
            return Err(DomainError::invalid_field(field("levels"), format!("a rule has 1 to {LEVELS_MAX} levels")));
        }
        for (level, roles) in rule.levels.iter().enumerate() {
            let level = level + 1;
            if roles.is_empty() {
                return Err(DomainError::invalid_field(field("levels"), format!("level {level} names no role")));
            }
            if roles.contains(&Role::Customer) {
                return Err(DomainError::invalid_field(
                    field("levels"),
                    format!("level {level}: a customer approves nothing in its seller's book"),
                ));
            }
            if roles.contains(&Role::SuperAdmin) && !platform_book {
                return Err(DomainError::invalid_field(
                    field("levels"),
                    format!("level {level}: super_admin approves in the platform's book only"),
                ));
            }
        }
        if rule.above.is_some() && rule.action.is_mandatory() {
            return Err(DomainError::invalid_field(
                field("above"),
                format!("{} always needs approval, whatever the amount", rule.action.as_str()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: ApprovalAction, above: Option<&str>, levels: &[&[Role]]) -> ApprovalRule {
        ApprovalRule {
            action,
            above: above.map(|text| Amount::parse(text).unwrap()),
            levels: levels.iter().map(|roles| roles.iter().copied().collect()).collect(),
        }
    }

    #[test]
    fn an_amount_at_or_below_the_threshold_goes_through_and_mandatory_actions_always_wait() {
        let coupon = rule(ApprovalAction::Coupon, Some("100.00"), &[&[Role::Finance]]);
        assert_eq!(coupon.levels_for(Some(Amount::parse("100.00").unwrap())), None);
        assert_eq!(coupon.levels_for(Some(Amount::parse("100.01").unwrap())).map(<[_]>::len), Some(1));
        // A mandatory rule never carries `above` (refused when set); were it there, it waits.
        let withdrawal = rule(ApprovalAction::Withdrawal, Some("100.00"), &[&[Role::Finance]]);
        assert!(withdrawal.levels_for(Some(Amount::parse("0.01").unwrap())).is_some());
        assert!(rule(ApprovalAction::PublicRateBelowCost, None, &[&[Role::Admin]]).levels_for(None).is_some());
    }

    #[test]
    fn the_defaults_keep_what_needed_approval_before_policies() {
        let defaults: Vec<&str> = effective_rules(&[]).iter().map(|(rule, _)| rule.action.as_str()).collect();
        assert!(!defaults.contains(&"coupon") && !defaults.contains(&"refund"));
        assert_eq!(defaults.len(), ApprovalAction::ALL.len() - 2);
        for action in ApprovalAction::ALL.into_iter().filter(|action| action.is_mandatory()) {
            assert_eq!(rule_for(&[], action).map(|rule| rule.levels), Some(default_levels()));
        }
        let own = rule(ApprovalAction::Withdrawal, None, &[&[Role::Finance], &[Role::Admin]]);
        assert_eq!(rule_for(std::slice::from_ref(&own), ApprovalAction::Withdrawal), Some(own.clone()));
        let effective = effective_rules(&[own]);
        assert!(effective.iter().any(|(rule, default)| rule.action == ApprovalAction::Withdrawal && !default));
    }

    #[test]
    fn bad_rules_name_their_field() {
        let field = |rules: &[ApprovalRule]| check_rules(rules, false).unwrap_err().field().map(str::to_owned);
        let fine = rule(ApprovalAction::Coupon, Some("1.00"), &[&[Role::Sales], &[Role::Finance]]);
        assert_eq!(check_rules(std::slice::from_ref(&fine), false), Ok(()));
        assert_eq!(field(&[fine.clone(), fine.clone()]).as_deref(), Some("rules[1].action"));
        let cases = [
            (rule(ApprovalAction::Refund, None, &[]), "rules[1].levels"),
            (rule(ApprovalAction::Refund, None, &[&[Role::Admin] as &[Role]; 4]), "rules[1].levels"),
            (rule(ApprovalAction::Refund, None, &[&[Role::Admin], &[]]), "rules[1].levels"),
            (rule(ApprovalAction::Refund, None, &[&[Role::Customer]]), "rules[1].levels"),
            (rule(ApprovalAction::Refund, None, &[&[Role::SuperAdmin]]), "rules[1].levels"),
            (rule(ApprovalAction::Withdrawal, Some("1.00"), &[&[Role::Admin]]), "rules[1].above"),
            (rule(ApprovalAction::PromotionBelowCost, Some("0.00"), &[&[Role::Admin]]), "rules[1].above"),
        ];
        for (bad, expected) in cases {
            assert_eq!(field(&[fine.clone(), bad.clone()]).as_deref(), Some(expected), "{bad:?}");
        }
        assert_eq!(check_rules(&[rule(ApprovalAction::Refund, None, &[&[Role::SuperAdmin]])], true), Ok(()));
    }
}
