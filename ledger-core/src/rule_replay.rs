//! Replay under other rules (DESIGN §13, rule provenance): a period of one book booked again
//! under a proposed rule set, without writing anything, and the differences per account with
//! the events that cause them: what a finance team reads before it changes a posting rule.
//!
//! Every line records the rule and version that booked it, and a rule is linear in the event's
//! named amounts, so an entry tells what it was booked from: [`RuleReplay`] takes the rule
//! version in force when the entry was booked (every `PostingRulesSet` of the log is kept, by
//! `kind/role` and version), pairs the entry's lines with the rule's lines (a line whose sum was
//! zero was not booked; one whose sum was negative was booked on the other side), solves the
//! rule's sums for the named amounts and the parties, and books them under the proposed rule of
//! the same kind and role. Entries of kinds and roles the proposal does not change are kept as
//! they are.
//!
//! What cannot be replayed is said, never guessed: an amount the proposed rule needs that the
//! old rule did not use (the old entry does not tell it), a party it names that the old one did
//! not bind, an entry whose lines do not fit its rule. Each is reported with its position.
//! An entry that booked nothing under the old rule (every sum zero) is not in the log, so a
//! proposed rule that would book something for it is not seen either.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::chart::{AccountCode, Side};
use crate::event::{EventPayload, RecordedEvent};
use crate::ids::OrgId;
use crate::journal::{Entry, Line};
use crate::money::{Amount, SignedAmount};
use crate::rules::{PartyRef, PostingRule, RuleSet};

/// The debit and credit sums of some lines.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Sides {
    pub debit: SignedAmount,
    pub credit: SignedAmount,
}

impl Sides {
    fn post(&mut self, side: Side, amount: Amount) {
        match side {
            Side::Debit => self.debit = self.debit.add(amount),
            Side::Credit => self.credit = self.credit.add(amount),
        }
    }

    fn unpost(&mut self, side: Side, amount: Amount) {
        match side {
            Side::Debit => self.debit = self.debit.sub(amount),
            Side::Credit => self.credit = self.credit.sub(amount),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.debit.is_zero() && self.credit.is_zero()
    }
}

/// One entry booked again: its lines as booked and as the proposed rule books them, and what
/// that changes, per account and party.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReplayedEntry {
    pub position: u64,
    pub event_type: &'static str,
    pub date: NaiveDate,
    /// `kind/role`.
    pub rule: String,
    /// The version that booked it.
    pub version: u32,
    pub before: Vec<Line>,
    pub after: Vec<Line>,
    /// After less before, per account and party, where it is not zero.
    pub changes: Vec<(AccountCode, Option<OrgId>, Sides)>,
}

/// An entry the proposed rule cannot book, and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NotReplayed {
    pub position: u64,
    pub rule: String,
    pub version: u32,
    pub reason: String,
}

/// One account of the book in the period: as booked, as the proposal books it, and the events
/// whose entries change it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AccountDifference {
    pub account: AccountCode,
    pub booked: Sides,
    pub replayed: Sides,
    pub positions: Vec<u64>,
}

impl AccountDifference {
    /// Replayed less booked, debit and credit.
    pub fn difference(&self) -> Sides {
        Sides {
            debit: self.replayed.debit.plus(self.booked.debit.negated()),
            credit: self.replayed.credit.plus(self.booked.credit.negated()),
        }
    }
}

/// What a replay found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReplayReport {
    pub book: OrgId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The proposed rules, `kind/role`.
    pub rules: Vec<String>,
    /// Entries of the book dated in the period.
    pub entries: usize,
    /// Of those, entries booked by a kind and role the proposal changes.
    pub rebooked: usize,
    /// The rebooked entries whose lines change.
    pub changed: Vec<ReplayedEntry>,
    pub not_replayed: Vec<NotReplayed>,
    /// Every account of the book with lines in the period, in code order.
    pub accounts: Vec<AccountDifference>,
}

impl ReplayReport {
    /// The accounts whose sums change.
    pub fn differences(&self) -> impl Iterator<Item = &AccountDifference> {
        self.accounts.iter().filter(|account| !account.difference().is_zero())
    }
}

/// A replay in progress: feed it the log in position order ([`RuleReplay::observe`]), then
/// [`RuleReplay::finish`].
pub struct RuleReplay {
    book: OrgId,
    from: NaiveDate,
    to: NaiveDate,
    proposed: BTreeMap<String, PostingRule>,
    /// Every rule version the log adopted, by `kind/role` and version.
    adopted: HashMap<(String, u32), PostingRule>,
    entries: usize,
    rebooked: usize,
    changed: Vec<ReplayedEntry>,
    not_replayed: Vec<NotReplayed>,
    accounts: BTreeMap<AccountCode, (Sides, Sides, BTreeSet<u64>)>,
}

impl RuleReplay {
    /// A replay of `book` from `from` through `to` under `proposed`, which must pass the checks
    /// `SetPostingRules` makes (balanced symbolically, a built-in kind's amounts only, each rule
    /// once): the index of the first that does not, and why.
    pub fn new(
        proposed: Vec<PostingRule>,
        book: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<RuleReplay, (usize, String)> {
        if from > to {
            return Err((0, format!("the period runs from {from} to {to}: from is after to")));
        }
        let proposed = RuleSet::default().propose(proposed)?;
        Ok(RuleReplay {
            book,
            from,
            to,
            proposed: proposed.into_iter().map(|rule| (rule.id(), rule)).collect(),
            adopted: HashMap::new(),
            entries: 0,
            rebooked: 0,
            changed: Vec::new(),
            not_replayed: Vec::new(),
            accounts: BTreeMap::new(),
        })
    }

    /// Folds one event in: the rules it adopts, and its entries in the book and period.
    pub fn observe(&mut self, event: &RecordedEvent) {
        if let EventPayload::PostingRulesSet(set) = &event.event.payload {
            for rule in &set.rules {
                self.adopted.insert((rule.id(), rule.version), rule.clone());
            }
        }
        for entry in &event.event.entries {
            if entry.book != self.book || entry.date < self.from || entry.date > self.to {
                continue;
            }
            self.entries += 1;
            let mut after = entry.lines.clone();
            if let Some(proposed) = self.proposed.get(&entry.rule.id) {
                self.rebooked += 1;
                match self.rebook(entry, proposed) {
                    Ok(lines) => after = lines,
                    Err(reason) => self.not_replayed.push(NotReplayed {
                        position: event.position,
                        rule: entry.rule.id.clone(),
                        version: entry.rule.version,
                        reason,
                    }),
                }
            }
            self.tally(event, entry, after);
        }
    }

    fn tally(&mut self, event: &RecordedEvent, entry: &Entry, after: Vec<Line>) {
        let mut changes: BTreeMap<(AccountCode, Option<OrgId>), Sides> = BTreeMap::new();
        for line in &entry.lines {
            self.accounts.entry(line.account.clone()).or_default().0.post(line.side, line.amount);
            changes.entry((line.account.clone(), line.party)).or_default().unpost(line.side, line.amount);
        }
        for line in &after {
            self.accounts.entry(line.account.clone()).or_default().1.post(line.side, line.amount);
            changes.entry((line.account.clone(), line.party)).or_default().post(line.side, line.amount);
        }
        changes.retain(|_, sides| !sides.is_zero());
        if changes.is_empty() {
            return;
        }
        for (account, _) in changes.keys() {
            self.accounts.entry(account.clone()).or_default().2.insert(event.position);
        }
        self.changed.push(ReplayedEntry {
            position: event.position,
            event_type: event.event_type(),
            date: entry.date,
            rule: entry.rule.id.clone(),
            version: entry.rule.version,
            before: entry.lines.clone(),
            after,
            changes: changes.into_iter().map(|((account, party), sides)| (account, party, sides)).collect(),
        });
    }

    /// The entry's lines as `proposed` books them, from the amounts and parties its own rule
    /// version says it was booked from.
    fn rebook(&self, entry: &Entry, proposed: &PostingRule) -> Result<Vec<Line>, String> {
        let id = &entry.rule.id;
        let version = entry.rule.version;
        let late_default = RuleSet::default();
        let old = match self.adopted.get(&(id.clone(), version)) {
            Some(rule) => rule,
            // A kind added after the deployment's rules were installed books with its built-in
            // rule at version 0 until the deployment sets its own (`RuleSet::get`).
            None => id
                .split_once('/')
                .and_then(|(kind, role)| late_default.get(kind, role))
                .filter(|rule| rule.version == version)
                .ok_or_else(|| format!("the log adopted no rule {id} version {version}"))?,
        };
        let (amounts, parties) = recover(old, &entry.lines)?;
        evaluate(proposed, &amounts, &parties)
    }

    pub fn finish(self) -> ReplayReport {
        ReplayReport {
            book: self.book,
            from: self.from,
            to: self.to,
            rules: self.proposed.keys().cloned().collect(),
            entries: self.entries,
            rebooked: self.rebooked,
            changed: self.changed,
            not_replayed: self.not_replayed,
            accounts: self
                .accounts
                .into_iter()
                .map(|(account, (booked, replayed, positions))| AccountDifference {
                    account,
                    booked,
                    replayed,
                    positions: positions.into_iter().collect(),
                })
                .collect(),
        }
    }
}

/// The named amounts (those the lines determine) and the parties an entry was booked from under
/// `rule`: its lines paired with the rule's, in order (a rule line of sum zero booked nothing,
/// one of a negative sum the other side), then the sums solved one unknown at a time. The first
/// pairing whose solution books exactly these lines wins; lines on their rule's side are tried
/// first.
fn recover(
    rule: &PostingRule,
    lines: &[Line],
) -> Result<(BTreeMap<String, Decimal>, BTreeMap<PartyRef, OrgId>), String> {
    let mut pairing = Vec::with_capacity(lines.len());
    let mut found = None;
    pair_lines(
        rule,
        lines,
        0,
        0,
        &mut pairing,
        &mut |pairing| {
            let solved = solve(rule, lines, pairing)?;
            match evaluate(rule, &solved.0, &solved.1) {
                Ok(booked) if booked == strip_pairs(lines) => Some(solved),
                _ => None,
            }
        },
        &mut found,
    );
    found.ok_or_else(|| format!("its lines do not fit rule {} version {}", rule.id(), rule.version))
}

fn strip_pairs(lines: &[Line]) -> Vec<Line> {
    lines.iter().map(|line| Line { pair: None, ..line.clone() }).collect()
}

type Solution = (BTreeMap<String, Decimal>, BTreeMap<PartyRef, OrgId>);

/// Every pairing of `lines[line..]` with rule lines from `from` on (same account, a party where
/// the rule names one), in order, until `accept` takes one.
fn pair_lines(
    rule: &PostingRule,
    lines: &[Line],
    line: usize,
    from: usize,
    pairing: &mut Vec<usize>,
    accept: &mut dyn FnMut(&[usize]) -> Option<Solution>,
    found: &mut Option<Solution>,
) {
    if found.is_some() {
        return;
    }
    if line == lines.len() {
        *found = accept(pairing);
        return;
    }
    let fits = |index: usize| {
        let rule_line = &rule.lines[index];
        rule_line.account == lines[line].account && rule_line.party.is_some() == lines[line].party.is_some()
    };
    let mut candidates: Vec<usize> = (from..rule.lines.len()).filter(|&index| fits(index)).collect();
    // Lines on their rule line's side first: the sum was positive, as it usually is.
    candidates.sort_by_key(|&index| (rule.lines[index].side != lines[line].side, index));
    for index in candidates {
        pairing.push(index);
        pair_lines(rule, lines, line + 1, index + 1, pairing, accept, found);
        pairing.pop();
        if found.is_some() {
            return;
        }
    }
}

/// The amounts the paired lines determine (one unknown at a time) and the parties they bind;
/// `None` when they contradict each other.
fn solve(rule: &PostingRule, lines: &[Line], pairing: &[usize]) -> Option<Solution> {
    let mut parties: BTreeMap<PartyRef, OrgId> = BTreeMap::new();
    // What each rule line's sum was: its line's amount, negative when booked on the other side;
    // zero when no line was booked for it.
    let mut sums = vec![Decimal::ZERO; rule.lines.len()];
    for (line, &index) in lines.iter().zip(pairing) {
        let rule_line = &rule.lines[index];
        let amount = line.amount.as_decimal();
        sums[index] = if line.side == rule_line.side { amount } else { -amount };
        if let (Some(reference), Some(party)) = (rule_line.party, line.party) {
            if *parties.entry(reference).or_insert(party) != party {
                return None;
            }
        }
    }
    let mut amounts: BTreeMap<String, Decimal> = BTreeMap::new();
    loop {
        let mut progress = false;
        for (rule_line, sum) in rule.lines.iter().zip(&sums) {
            let unknown: Vec<_> =
                rule_line.amount.terms().iter().filter(|term| !amounts.contains_key(&term.amount)).collect();
            if unknown.len() != 1 {
                continue;
            }
            let known: Decimal = rule_line
                .amount
                .terms()
                .iter()
                .filter_map(|term| amounts.get(&term.amount).map(|value| Decimal::from(term.coefficient) * value))
                .sum();
            let value = (sum - known).checked_div(Decimal::from(unknown[0].coefficient))?;
            amounts.insert(unknown[0].amount.clone(), value.normalize());
            progress = true;
        }
        if !progress {
            break;
        }
    }
    Some((amounts, parties))
}

/// The lines `rule` books from `amounts` and `parties`, as `journal::book_posting` books them
/// (zero sums skipped, negative ones on the other side), without pair ids.
fn evaluate(
    rule: &PostingRule,
    amounts: &BTreeMap<String, Decimal>,
    parties: &BTreeMap<PartyRef, OrgId>,
) -> Result<Vec<Line>, String> {
    let mut lines = Vec::with_capacity(rule.lines.len());
    for rule_line in &rule.lines {
        let mut value = Decimal::ZERO;
        for term in rule_line.amount.terms() {
            let amount = amounts.get(&term.amount).ok_or_else(|| {
                format!("the amount {} is not known: the rule that booked the entry did not use it", term.amount)
            })?;
            value = Decimal::from(term.coefficient)
                .checked_mul(*amount)
                .and_then(|term_value| value.checked_add(term_value))
                .ok_or_else(|| "an amount out of range".to_owned())?;
        }
        if value.is_zero() {
            continue;
        }
        let side = if value.is_sign_negative() { rule_line.side.opposite() } else { rule_line.side };
        let amount = Amount::from_decimal(value.abs()).map_err(|error| format!("{} {error}", rule_line.amount))?;
        let party = match rule_line.party {
            None => None,
            Some(reference) => Some(*parties.get(&reference).ok_or_else(|| {
                format!("no party for {reference:?}: the rule that booked the entry did not name one")
            })?),
        };
        lines.push(Line { account: rule_line.account.clone(), party, side, amount, pair: None });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{default_rules, LinearSum};

    fn rule_named(kind: &str, role: &str) -> PostingRule {
        let mut rules = RuleSet::default();
        rules.adopt(&RuleSet::default().propose(default_rules()).unwrap());
        rules.get(kind, role).unwrap().clone()
    }

    fn line(account: &'static str, party: Option<OrgId>, side: Side, amount: &str) -> Line {
        Line { account: AccountCode::known(account), party, side, amount: Amount::parse(amount).unwrap(), pair: None }
    }

    #[test]
    fn a_refund_without_penalty_is_solved_for_list_price_and_a_zero_penalty() {
        let customer = OrgId::from_u128(7);
        let rule = rule_named("refund", "seller");
        let lines = [
            line("6001", None, Side::Debit, "1000.00"),
            line("6001.99", None, Side::Credit, "50.00"),
            line("2203", Some(customer), Side::Credit, "950.00"),
        ];
        let (amounts, parties) = recover(&rule, &lines).unwrap();
        let show: Vec<String> = amounts.iter().map(|(name, value)| format!("{name}={value}")).collect();
        assert_eq!(show, ["list=1000", "penalty=0", "price=950"]);
        assert_eq!(parties.get(&PartyRef::Customer), Some(&customer));
    }

    #[test]
    fn an_amount_the_old_rule_did_not_use_is_not_guessed() {
        let rule = rule_named("sale", "seller");
        let customer = OrgId::from_u128(7);
        let lines = [
            line("2203", Some(customer), Side::Debit, "950.00"),
            line("6001.99", None, Side::Debit, "50.00"),
            line("6001", None, Side::Credit, "1000.00"),
        ];
        let (amounts, _) = recover(&rule, &lines).unwrap();
        let mut proposed = rule.clone();
        proposed.lines[1].amount = LinearSum::parse("list - cost").unwrap();
        proposed.lines[0].amount = LinearSum::parse("cost").unwrap();
        let error = evaluate(&proposed, &amounts, &BTreeMap::new()).unwrap_err();
        assert!(error.contains("the amount cost is not known"), "{error}");
        // Lines that fit no pairing are said so.
        let wrong = [line("1002", None, Side::Debit, "1.00"), line("6001", None, Side::Credit, "1.00")];
        assert!(recover(&rule, &wrong).unwrap_err().contains("do not fit rule sale/seller"));
    }
}
