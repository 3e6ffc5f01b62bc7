//! Posting rules as data (会计分录模板, DESIGN §2.3).
//!
//! A rule is the entry template one book books for one business kind in one role. Each line's
//! amount is a linear sum of the event's named amounts with integer coefficients (`list - price`).
//! Because the sums are linear, balance is decided once, symbolically, when a rule is set: for
//! every named amount the debit coefficients must equal the credit coefficients. A rule that
//! passes can book no unbalanced entry whatever the amounts are; one that fails is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chart::{codes, AccountCode, Side};

/// Lines a rule may have.
pub const RULE_LINES_MAX: usize = 32;
/// Terms one line's amount may have.
pub const RULE_TERMS_MAX: usize = 8;
/// The largest coefficient magnitude in a term (`3*penalty`).
pub const RULE_COEFFICIENT_MAX: i64 = 1_000;

/// A lower-case name: a business kind (`sale`, `recharge.online`), a role, an amount name.
fn valid_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 48
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

/// Where a line's party comes from: a role the event binds to an org.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyRef {
    /// The customer of the event (wallets, sales to customers).
    Customer,
    /// The child reseller this book sold to, or that owes or earns this book money.
    Child,
    /// This book's parent org (what a reseller owes upstream).
    Parent,
    /// The product's supplier (what the top of the chain owes).
    Supplier,
    /// The distributor that bought serial codes.
    Distributor,
    /// The other org of a settlement, seen from this book.
    Counterparty,
}

/// One term: `coefficient × amount`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Term {
    pub coefficient: i64,
    pub amount: String,
}

/// A linear sum of named amounts, written as text: `"list - price"`, `"2*penalty + cost"`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LinearSum {
    terms: Vec<Term>,
}

impl LinearSum {
    pub fn named(amount: &str) -> LinearSum {
        LinearSum::parse(amount).expect("a well-formed built-in amount name")
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    pub fn parse(text: &str) -> Result<LinearSum, String> {
        let mut terms: Vec<Term> = Vec::new();
        let normalised = text.replace('-', "+-");
        for raw in normalised.split('+').map(str::trim).filter(|part| !part.is_empty()) {
            let (negative, body) = match raw.strip_prefix('-') {
                Some(rest) => (true, rest.trim()),
                None => (false, raw),
            };
            let (coefficient, name) = match body.split_once('*') {
                Some((number, name)) => {
                    let number: i64 = number.trim().parse().map_err(|_| format!("bad coefficient in {raw:?}"))?;
                    (number, name.trim())
                }
                None => (1, body),
            };
            if !valid_name(name) {
                return Err(format!("{name:?} is not an amount name"));
            }
            if coefficient == 0 || coefficient.abs() > RULE_COEFFICIENT_MAX {
                return Err(format!("coefficient of {name} must be 1 to {RULE_COEFFICIENT_MAX}"));
            }
            let coefficient = if negative { -coefficient } else { coefficient };
            match terms.iter_mut().find(|term| term.amount == name) {
                Some(term) => term.coefficient += coefficient,
                None => terms.push(Term { coefficient, amount: name.to_owned() }),
            }
        }
        terms.retain(|term| term.coefficient != 0);
        if terms.is_empty() {
            return Err("an amount needs at least one term".to_owned());
        }
        if terms.len() > RULE_TERMS_MAX {
            return Err(format!("at most {RULE_TERMS_MAX} terms"));
        }
        Ok(LinearSum { terms })
    }
}

impl fmt::Display for LinearSum {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, term) in self.terms.iter().enumerate() {
            let sign = if term.coefficient < 0 { "-" } else { "+" };
            if index == 0 {
                if term.coefficient < 0 {
                    formatter.write_str("-")?;
                }
            } else {
                write!(formatter, " {sign} ")?;
            }
            if term.coefficient.abs() != 1 {
                write!(formatter, "{}*", term.coefficient.abs())?;
            }
            formatter.write_str(&term.amount)?;
        }
        Ok(())
    }
}

impl Serialize for LinearSum {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LinearSum {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        LinearSum::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for LinearSum {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LinearSum".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "a linear sum of named amounts, e.g. \"list - price\" or \"2*penalty\""
        })
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleLine {
    pub account: AccountCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<PartyRef>,
    pub side: Side,
    pub amount: LinearSum,
}

/// The template one book books for `kind` when it plays `role` in the event.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostingRule {
    pub kind: String,
    pub role: String,
    /// Set by the rule set when the rule is adopted: 1 for the first, +1 for every change.
    #[serde(default)]
    pub version: u32,
    pub lines: Vec<RuleLine>,
}

impl PostingRule {
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.role)
    }

    /// The symbolic balance check: refuses a rule that could ever book an unbalanced entry.
    pub fn check(&self) -> Result<(), String> {
        if !valid_name(&self.kind) || !valid_name(&self.role) {
            return Err("kind and role must be lower-case names".to_owned());
        }
        if self.lines.len() < 2 || self.lines.len() > RULE_LINES_MAX {
            return Err(format!("a rule has 2 to {RULE_LINES_MAX} lines"));
        }
        let mut net: BTreeMap<&str, i64> = BTreeMap::new();
        for line in &self.lines {
            let sign = match line.side {
                Side::Debit => 1,
                Side::Credit => -1,
            };
            for term in line.amount.terms() {
                *net.entry(term.amount.as_str()).or_default() += sign * term.coefficient;
            }
        }
        let unbalanced: Vec<String> = net
            .into_iter()
            .filter(|(_, coefficient)| *coefficient != 0)
            .map(|(name, coefficient)| format!("{name} ({coefficient:+} debit over credit)"))
            .collect();
        if !unbalanced.is_empty() {
            return Err(format!("debits and credits differ for {}", unbalanced.join(", ")));
        }
        Ok(())
    }

    pub fn amount_names(&self) -> BTreeSet<&str> {
        self.lines.iter().flat_map(|line| line.amount.terms().iter().map(|term| term.amount.as_str())).collect()
    }
}

/// Which rule and version produced a line (rule provenance, DESIGN §13).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleRef {
    pub id: String,
    pub version: u32,
}

/// The built-in kinds, the amounts each provides and the roles its books play. A rule for one of
/// these may only use the amounts listed; any other kind is a custom kind, booked by the generic
/// `BookBusiness` command with whatever amounts it names.
pub fn builtin_kind_amounts(kind: &str) -> Option<&'static [&'static str]> {
    const SALE: &[&str] = &["list", "price", "cost"];
    const REFUND: &[&str] = &["list", "price", "cost", "penalty"];
    const AMOUNT: &[&str] = &["amount"];
    const SETTLEMENT: &[&str] = &["receivable", "payable"];
    const EXCHANGE: &[&str] = &["difference"];
    match kind {
        "sale" | "usage" | "renewal" => Some(SALE),
        "refund" => Some(REFUND),
        "recharge.online"
        | "recharge.offline"
        | "recharge.transfer"
        | "recharge_reversal.online"
        | "recharge_reversal.offline"
        | "recharge_reversal.transfer"
        | "coupon"
        | "voucher.grant"
        | "voucher.redeem"
        | "voucher.return"
        | "voucher.expire"
        | "credit.draw"
        | "credit.repay"
        | "withdrawal.original"
        | "withdrawal.offline"
        | "serial.issue"
        | "serial.activate"
        | "serial.expire"
        | "commission" => Some(AMOUNT),
        "settlement" => Some(SETTLEMENT),
        "settlement.exchange" => Some(EXCHANGE),
        _ => None,
    }
}

/// The rules in force, with the version of each.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct RuleSet {
    rules: BTreeMap<(String, String), PostingRule>,
}

impl RuleSet {
    /// The rule in force for `kind` in `role`: the one adopted, else, for a kind added to the
    /// ledger after a deployment's rules were installed (the voucher kinds), its built-in rule
    /// at version 0 ([`late_default`]: never adopted), so an existing deployment books vouchers
    /// as a new one does until it sets a rule of its own (which becomes version 1).
    pub fn get(&self, kind: &str, role: &str) -> Option<&PostingRule> {
        // BTreeMap<(String, String)> cannot be probed with (&str, &str) without allocating; the
        // rule set is small, so a scan of one kind's roles is cheaper than two allocations.
        self.rules
            .range((kind.to_owned(), String::new())..)
            .take_while(|((k, _), _)| k == kind)
            .find_map(|((_, r), rule)| (r == role).then_some(rule))
            .or_else(|| late_default(kind, role))
    }

    pub fn version_of(&self, kind: &str, role: &str) -> u32 {
        self.get(kind, role).map_or(0, |rule| rule.version)
    }

    /// Checks a proposed change and returns the rules with the versions they will be adopted at.
    pub fn propose(&self, proposed: Vec<PostingRule>) -> Result<Vec<PostingRule>, (usize, String)> {
        let mut seen = BTreeSet::new();
        let mut adopted = Vec::with_capacity(proposed.len());
        for (index, mut rule) in proposed.into_iter().enumerate() {
            rule.check().map_err(|reason| (index, reason))?;
            if let Some(allowed) = builtin_kind_amounts(&rule.kind) {
                if let Some(name) = rule.amount_names().into_iter().find(|name| !allowed.contains(name)) {
                    return Err((index, format!("kind {} has no amount {name:?} (it has {allowed:?})", rule.kind)));
                }
            }
            if !seen.insert((rule.kind.clone(), rule.role.clone())) {
                return Err((index, format!("rule {} appears twice", rule.id())));
            }
            rule.version = self.version_of(&rule.kind, &rule.role) + 1;
            adopted.push(rule);
        }
        Ok(adopted)
    }

    /// Adopts rules that [`RuleSet::propose`] produced (called by `evolve`, so it cannot fail).
    pub fn adopt(&mut self, rules: &[PostingRule]) {
        for rule in rules {
            self.rules.insert((rule.kind.clone(), rule.role.clone()), rule.clone());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &PostingRule> {
        self.rules.values()
    }
}

fn line(account: &'static str, party: Option<PartyRef>, side: Side, amount: &str) -> RuleLine {
    RuleLine { account: AccountCode::known(account), party, side, amount: LinearSum::parse(amount).expect("built-in") }
}

fn rule(kind: &str, role: &str, lines: Vec<RuleLine>) -> PostingRule {
    PostingRule { kind: kind.to_owned(), role: role.to_owned(), version: 0, lines }
}

/// The default rules of DESIGN §2.6, installed when the platform is opened.
pub fn default_rules() -> Vec<PostingRule> {
    [
        sale_rules(),
        refund_rules(),
        wallet_rules(),
        voucher_rules(),
        serial_and_commission_rules(),
        settlement_rules(),
        credit_rules(),
    ]
    .concat()
}

/// The built-in rule of a kind that deployments opened before it existed do not have (the
/// voucher and credit kinds), at version 0: what [`RuleSet::get`] falls back to.
fn late_default(kind: &str, role: &str) -> Option<&'static PostingRule> {
    static LATE: std::sync::OnceLock<Vec<PostingRule>> = std::sync::OnceLock::new();
    if !kind.starts_with("voucher.") && !kind.starts_with("credit.") && kind != "settlement.exchange" {
        return None;
    }
    let rules = LATE.get_or_init(|| [voucher_rules(), credit_rules(), exchange_rules()].concat());
    rules.iter().find(|rule| rule.kind == kind && rule.role == role)
}

/// Credit (信用额度): what a purchase draws beyond the wallet is the seller's receivable from the
/// customer (1122[C]), moved into its prepayments (2203[C]) for the sale to debit as it debits
/// cash; a repayment moves money that reached the wallet back against the receivable. The
/// customer's 2203 never goes below zero: its debt is an asset of the seller's, not a negative
/// liability.
fn credit_rules() -> Vec<PostingRule> {
    use codes::*;
    use PartyRef::*;
    use Side::{Credit as Cr, Debit as Dr};
    let pair = |kind: &str, debit: &'static str, credit: &'static str| {
        rule(
            kind,
            "seller",
            vec![line(debit, Some(Customer), Dr, "amount"), line(credit, Some(Customer), Cr, "amount")],
        )
    };
    vec![
        pair("credit.draw", RECEIVABLES, CUSTOMER_PREPAYMENTS),
        pair("credit.repay", CUSTOMER_PREPAYMENTS, RECEIVABLES),
    ]
}

/// Vouchers (代金券): credit kept apart from cash, in 2203.01. A grant is a selling expense; a
/// purchase moves what it spends of them into the customer's prepayments (2203), which the sale
/// then debits as it debits cash; a refund moves the voucher part back; an expiry books what is
/// left out against the expense it came from.
fn voucher_rules() -> Vec<PostingRule> {
    use codes::*;
    use PartyRef::*;
    use Side::{Credit as Cr, Debit as Dr};
    let pair = |kind: &str, debit: (&'static str, Option<PartyRef>), credit: (&'static str, Option<PartyRef>)| {
        rule(kind, "seller", vec![line(debit.0, debit.1, Dr, "amount"), line(credit.0, credit.1, Cr, "amount")])
    };
    vec![
        pair("voucher.grant", (SELLING_EXPENSES, None), (CUSTOMER_VOUCHERS, Some(Customer))),
        pair("voucher.redeem", (CUSTOMER_VOUCHERS, Some(Customer)), (CUSTOMER_PREPAYMENTS, Some(Customer))),
        pair("voucher.return", (CUSTOMER_PREPAYMENTS, Some(Customer)), (CUSTOMER_VOUCHERS, Some(Customer))),
        pair("voucher.expire", (CUSTOMER_VOUCHERS, Some(Customer)), (SELLING_EXPENSES, None)),
    ]
}

/// Sales, usage charges and renewals: revenue by what each book sold, cost by whom it bought from.
fn sale_rules() -> Vec<PostingRule> {
    use codes::*;
    use PartyRef::*;
    use Side::{Credit as Cr, Debit as Dr};
    let mut rules = Vec::new();
    // A purchase (and a usage charge, and a renewal) books a revenue entry in every book of the
    // chain, by what the book sold to, and a cost entry, by whom it bought from.
    for kind in ["sale", "usage", "renewal"] {
        rules.push(rule(
            kind,
            "seller",
            vec![
                line(CUSTOMER_PREPAYMENTS, Some(Customer), Dr, "price"),
                line(SALES_DISCOUNTS, None, Dr, "list - price"),
                line(REVENUE, None, Cr, "list"),
            ],
        ));
        rules.push(rule(
            kind,
            "intermediate",
            vec![
                line(RECEIVABLES, Some(Child), Dr, "price"),
                line(SALES_DISCOUNTS, None, Dr, "list - price"),
                line(REVENUE, None, Cr, "list"),
            ],
        ));
        rules.push(rule(
            kind,
            "cost_from_parent",
            vec![line(COST_OF_SALES, None, Dr, "cost"), line(PAYABLES, Some(Parent), Cr, "cost")],
        ));
        rules.push(rule(
            kind,
            "cost_from_supplier",
            vec![line(COST_OF_SALES, None, Dr, "cost"), line(PAYABLES, Some(Supplier), Cr, "cost")],
        ));
    }
    rules
}

/// Refunds: each book's sale lines reversed; the seller keeps the penalty.
fn refund_rules() -> Vec<PostingRule> {
    use codes::*;
    use PartyRef::*;
    use Side::{Credit as Cr, Debit as Dr};
    let mut rules = Vec::new();
    // A refund reverses each book's lines in proportion; the seller keeps the penalty.
    rules.push(rule(
        "refund",
        "seller",
        vec![
            line(REVENUE, None, Dr, "list"),
            line(SALES_DISCOUNTS, None, Cr, "list - price"),
            line(CUSTOMER_PREPAYMENTS, Some(Customer), Cr, "price"),
            line(CUSTOMER_PREPAYMENTS, Some(Customer), Dr, "penalty"),
            line(OTHER_INCOME, None, Cr, "penalty"),
        ],
    ));
    rules.push(rule(
        "refund",
        "intermediate",
        vec![
            line(REVENUE, None, Dr, "list"),
            line(SALES_DISCOUNTS, None, Cr, "list - price"),
            line(RECEIVABLES, Some(Child), Cr, "price"),
        ],
    ));
    rules.push(rule(
        "refund",
        "cost_from_parent",
        vec![line(PAYABLES, Some(Parent), Dr, "cost"), line(COST_OF_SALES, None, Cr, "cost")],
    ));
    rules.push(rule(
        "refund",
        "cost_from_supplier",
        vec![line(PAYABLES, Some(Supplier), Dr, "cost"), line(COST_OF_SALES, None, Cr, "cost")],
    ));
    rules
}

/// Money into and out of wallets: recharges, coupons, their reversals and withdrawals.
fn wallet_rules() -> Vec<PostingRule> {
    use codes::*;
    use PartyRef::*;
    use Side::{Credit as Cr, Debit as Dr};
    let mut rules = Vec::new();
    let wallet_in = |kind: &str, cash: &'static str, account: &'static str| {
        rule(kind, "seller", vec![line(cash, None, Dr, "amount"), line(account, Some(Customer), Cr, "amount")])
    };
    rules.push(wallet_in("recharge.online", CHANNEL_CLEARING, CUSTOMER_PREPAYMENTS));
    rules.push(wallet_in("recharge.offline", BANK, CUSTOMER_PREPAYMENTS));
    rules.push(wallet_in("recharge.transfer", BANK, CUSTOMER_PREPAYMENTS));
    // `coupon` (Dr 6601, Cr 2203: a coupon as cash) is no longer booked: coupons are vouchers
    // (`voucher_rules`). Deployments opened before keep the rule, which nothing uses.
    let wallet_out = |kind: &str, cash: &'static str| {
        rule(
            kind,
            "seller",
            vec![line(CUSTOMER_PREPAYMENTS, Some(Customer), Dr, "amount"), line(cash, None, Cr, "amount")],
        )
    };
    rules.push(wallet_out("recharge_reversal.online", CHANNEL_CLEARING));
    rules.push(wallet_out("recharge_reversal.offline", BANK));
    rules.push(wallet_out("recharge_reversal.transfer", BANK));
    rules.push(wallet_out("withdrawal.original", CHANNEL_CLEARING));
    rules.push(wallet_out("withdrawal.offline", BANK));
    rules
}

/// Serial codes (issue and activation) and rebate commissions.
fn serial_and_commission_rules() -> Vec<PostingRule> {
    use codes::*;
    use PartyRef::*;
    use Side::{Credit as Cr, Debit as Dr};
    let mut rules = Vec::new();
    rules.push(rule(
        "serial.issue",
        "issuer",
        vec![line(RECEIVABLES, Some(Distributor), Dr, "amount"), line(CONTRACT_LIABILITIES, None, Cr, "amount")],
    ));
    rules.push(rule(
        "serial.issue",
        "distributor",
        vec![line(COST_OF_SALES, None, Dr, "amount"), line(PAYABLES, Some(Parent), Cr, "amount")],
    ));
    rules.push(rule(
        "serial.activate",
        "issuer",
        vec![line(CONTRACT_LIABILITIES, None, Dr, "amount"), line(REVENUE, None, Cr, "amount")],
    ));
    // Codes never activated, past their expiry: the liability is the issuer's income (breakage).
    rules.push(rule(
        "serial.expire",
        "issuer",
        vec![line(CONTRACT_LIABILITIES, None, Dr, "amount"), line(OTHER_INCOME, None, Cr, "amount")],
    ));
    rules.push(rule(
        "commission",
        "payer",
        vec![line(SELLING_EXPENSES, None, Dr, "amount"), line(PAYABLES, Some(Child), Cr, "amount")],
    ));
    rules.push(rule(
        "commission",
        "earner",
        vec![line(RECEIVABLES, Some(Parent), Dr, "amount"), line(OTHER_INCOME, None, Cr, "amount")],
    ));
    rules
}

/// Settlements: the net of receivables and payables with one counterparty, through the bank.
/// The exchange difference of a settlement paid in a foreign currency (汇兑损益): what the bank
/// paid beyond what the payable was booked at is a loss (Dr 6603); below it, a gain (a negative
/// difference books the other sides). Booked by the issuer only (a supplier keeps no book here).
fn exchange_rules() -> Vec<PostingRule> {
    use codes::*;
    use Side::{Credit as Cr, Debit as Dr};
    vec![rule(
        "settlement.exchange",
        "issuer",
        vec![line(EXCHANGE_DIFFERENCES, None, Dr, "difference"), line(BANK, None, Cr, "difference")],
    )]
}

fn settlement_rules() -> Vec<PostingRule> {
    use codes::*;
    use PartyRef::*;
    use Side::{Credit as Cr, Debit as Dr};
    let mut rules = Vec::new();
    // A settlement clears the open receivable and payable with one counterparty; the net moves
    // through the bank in whichever direction it falls (a negative line books on the other side).
    rules.push(rule(
        "settlement",
        "issuer",
        vec![
            line(BANK, None, Dr, "receivable - payable"),
            line(PAYABLES, Some(Counterparty), Dr, "payable"),
            line(RECEIVABLES, Some(Counterparty), Cr, "receivable"),
        ],
    ));
    rules.push(rule(
        "settlement",
        "counterparty",
        vec![
            line(PAYABLES, Some(Counterparty), Dr, "receivable"),
            line(RECEIVABLES, Some(Counterparty), Cr, "payable"),
            line(BANK, None, Cr, "receivable - payable"),
        ],
    ));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_sums_parse_and_print() {
        let sum = LinearSum::parse("list - price").unwrap();
        assert_eq!(sum.to_string(), "list - price");
        assert_eq!(LinearSum::parse("2*penalty+cost - cost").unwrap().to_string(), "2*penalty");
        assert_eq!(LinearSum::parse("-amount").unwrap().to_string(), "-amount");
        assert!(LinearSum::parse("cost - cost").is_err());
        assert!(LinearSum::parse("List").is_err());
        assert!(LinearSum::parse("0*list").is_err());
        assert!(LinearSum::parse("").is_err());
    }

    #[test]
    fn every_default_rule_balances_symbolically() {
        let adopted = RuleSet::default().propose(default_rules()).unwrap();
        assert!(adopted.iter().all(|rule| rule.version == 1));
    }

    #[test]
    fn an_unbalanced_rule_is_refused_with_the_amount_named() {
        let mut rules = default_rules();
        rules[0].lines.pop(); // the seller's sale without its revenue line
        let (index, reason) = RuleSet::default().propose(rules).unwrap_err();
        assert_eq!(index, 0);
        assert!(reason.contains("list"), "{reason}");
    }

    #[test]
    fn a_builtin_kind_only_uses_its_amounts() {
        let bad = rule(
            "coupon",
            "seller",
            vec![
                line(codes::SELLING_EXPENSES, None, Side::Debit, "price"),
                line(codes::CUSTOMER_PREPAYMENTS, Some(PartyRef::Customer), Side::Credit, "price"),
            ],
        );
        assert!(RuleSet::default().propose(vec![bad]).is_err());
    }

    #[test]
    fn versions_count_up_per_rule() {
        let mut set = RuleSet::default();
        set.adopt(&set.propose(default_rules()).unwrap());
        let again = set.propose(vec![default_rules().remove(0)]).unwrap();
        assert_eq!(again[0].version, 2);
        set.adopt(&again);
        assert_eq!(set.version_of("sale", "seller"), 2);
        assert_eq!(set.version_of("sale", "intermediate"), 1);
    }
}
