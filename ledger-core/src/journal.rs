//! Journal entries (凭证) and the booking of posting rules into them.
//!
//! Ledger guarantees, checked here before an entry leaves the core and again on replay:
//! - every entry has at least two lines and its debits equal its credits per currency;
//! - every amount on a line is positive (zero lines are not booked);
//! - lines are never edited or deleted: corrections are new entries.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::chart::{AccountCode, Side};
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::money::{Amount, Currency, SignedAmount, Total};
use crate::rules::{PartyRef, RuleRef, RuleSet};

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Line {
    pub account: AccountCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<OrgId>,
    pub side: Side,
    pub amount: Amount,
    /// Lines that cross two books carry the same pair id in both (unique within the event;
    /// `position.pair` is unique in the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<u32>,
}

impl Line {
    /// Debit positive, credit negative.
    pub fn signed(&self) -> SignedAmount {
        match self.side {
            Side::Debit => SignedAmount::from(self.amount),
            Side::Credit => SignedAmount::ZERO.sub(self.amount),
        }
    }
}

/// One journal entry in one book, booked by one rule.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Entry {
    pub book: OrgId,
    pub date: NaiveDate,
    pub currency: Currency,
    pub rule: RuleRef,
    pub lines: Vec<Line>,
}

impl Entry {
    /// Σ debits − Σ credits; zero for every entry the core books.
    pub fn imbalance(&self) -> Decimal {
        self.lines.iter().map(|line| line.signed().as_decimal()).sum()
    }

    /// The invariant, asserted: entries that leave the core (or come back in a replay) balance.
    pub fn assert_balanced(&self) {
        assert!(self.lines.len() >= 2, "entry with {} lines: {self:?}", self.lines.len());
        assert!(self.lines.iter().all(|line| !line.amount.is_zero()), "zero line: {self:?}");
        assert!(self.imbalance().is_zero(), "unbalanced entry: {self:?}");
    }
}

/// The named amounts and party bindings one book's rule is evaluated with.
#[derive(Clone, Debug)]
pub struct Posting<'a> {
    pub kind: &'a str,
    pub role: &'a str,
    pub book: OrgId,
    /// Named amounts; signed, so a net (a settlement) can be bound as it falls.
    pub amounts: Vec<(&'a str, Decimal)>,
    pub parties: Vec<(PartyRef, OrgId)>,
}

impl<'a> Posting<'a> {
    pub fn new(kind: &'a str, role: &'a str, book: OrgId) -> Posting<'a> {
        Posting { kind, role, book, amounts: Vec::new(), parties: Vec::new() }
    }

    pub fn amount(mut self, name: &'a str, value: Amount) -> Self {
        self.amounts.push((name, value.as_decimal()));
        self
    }

    pub fn signed_amount(mut self, name: &'a str, value: SignedAmount) -> Self {
        self.amounts.push((name, value.as_decimal()));
        self
    }

    pub fn party(mut self, party: PartyRef, org: OrgId) -> Self {
        self.parties.push((party, org));
        self
    }
}

/// Books one posting under the rule in force for its kind and role. `None` when every line
/// evaluates to zero (nothing to book). Account existence is checked by the caller's chart lookup.
pub fn book_posting(
    rules: &RuleSet,
    posting: &Posting<'_>,
    date: NaiveDate,
    currency: Currency,
    account_is_open: impl Fn(&AccountCode) -> bool,
) -> Result<Option<Entry>, DomainError> {
    let rule = rules
        .get(posting.kind, posting.role)
        .ok_or_else(|| DomainError::NoPostingRule { kind: posting.kind.to_owned(), role: posting.role.to_owned() })?;
    let mut lines = Vec::with_capacity(rule.lines.len());
    for rule_line in &rule.lines {
        let mut value = Decimal::ZERO;
        for term in rule_line.amount.terms() {
            let amount = posting.amounts.iter().find(|(name, _)| *name == term.amount).map(|(_, amount)| *amount);
            let amount = amount.ok_or_else(|| DomainError::MissingAmount { name: term.amount.clone() })?;
            let term_value = Decimal::from(term.coefficient).checked_mul(amount);
            value = term_value
                .and_then(|term_value| value.checked_add(term_value))
                .ok_or_else(|| DomainError::invalid_amount("amount", crate::money::MoneyError::TooLarge))?;
        }
        if value.is_zero() {
            continue;
        }
        // A negative sum books the same magnitude on the other side: balance is preserved.
        let side = if value.is_sign_negative() { rule_line.side.opposite() } else { rule_line.side };
        let amount = Amount::from_decimal(value.abs()).map_err(|error| DomainError::invalid_amount("amount", error))?;
        let party = match rule_line.party {
            None => None,
            Some(reference) => Some(
                posting
                    .parties
                    .iter()
                    .find(|(bound, _)| *bound == reference)
                    .map(|(_, org)| *org)
                    .ok_or(DomainError::MissingParty { party: reference })?,
            ),
        };
        if !account_is_open(&rule_line.account) {
            return Err(DomainError::AccountNotOpen { book: posting.book, account: rule_line.account.clone() });
        }
        lines.push(Line { account: rule_line.account.clone(), party, side, amount, pair: None });
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let entry =
        Entry { book: posting.book, date, currency, rule: RuleRef { id: rule.id(), version: rule.version }, lines };
    entry.assert_balanced();
    Ok(Some(entry))
}

/// Gives a shared pair id to every two lines that mirror each other across two books of one
/// event: book A's line about party B and book B's line about party A, same amount, opposite
/// sides (1122[R2] in R1 and 2202[R1] in R2).
pub fn pair_intercompany_lines(entries: &mut [Entry]) {
    let mut next_pair: u32 = 0;
    let locations: Vec<(usize, usize)> = entries
        .iter()
        .enumerate()
        .flat_map(|(entry_idx, entry)| (0..entry.lines.len()).map(move |line_idx| (entry_idx, line_idx)))
        .collect();
    for (position_idx, &(entry_a, line_a)) in locations.iter().enumerate() {
        let (book_a, line) = (entries[entry_a].book, &entries[entry_a].lines[line_a]);
        let Some(party_a) = line.party else { continue };
        if line.pair.is_some() || party_a == book_a {
            continue;
        }
        let (amount, side) = (line.amount, line.side);
        let mirror = locations[position_idx + 1..].iter().copied().find(|&(entry_b, line_b)| {
            let candidate = &entries[entry_b].lines[line_b];
            entries[entry_b].book == party_a
                && candidate.party == Some(book_a)
                && candidate.pair.is_none()
                && candidate.amount == amount
                && candidate.side == side.opposite()
        });
        if let Some((entry_b, line_b)) = mirror {
            next_pair += 1;
            entries[entry_a].lines[line_a].pair = Some(next_pair);
            entries[entry_b].lines[line_b].pair = Some(next_pair);
        }
    }
}

/// Debit and credit totals of one account (or account and day) in one book. Each is bounded by
/// the book's posted total, which the deciders keep within `TOTAL_MAX` (see `limits`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct DebitCredit {
    pub debit: Total,
    pub credit: Total,
}

impl DebitCredit {
    /// Adds a line the deciders checked (see [`Total::plus`]).
    pub fn post(&mut self, side: Side, amount: Amount) {
        match side {
            Side::Debit => self.debit = self.debit.plus(amount),
            Side::Credit => self.credit = self.credit.plus(amount),
        }
    }

    pub fn net_debit(&self) -> SignedAmount {
        SignedAmount::from(self.debit).sub_total(self.credit)
    }
}

/// Sums of a set of entries by book and currency: the totals that must be equal. Unbounded
/// (signed decimals), for checking entries whose amounts nobody vouched for yet.
pub fn totals_by_book(entries: &[Entry]) -> BTreeMap<(OrgId, Currency), (SignedAmount, SignedAmount)> {
    let mut totals: BTreeMap<(OrgId, Currency), (SignedAmount, SignedAmount)> = BTreeMap::new();
    for entry in entries {
        let (debit, credit) = totals.entry((entry.book, entry.currency)).or_default();
        for line in &entry.lines {
            match line.side {
                Side::Debit => *debit = debit.add(line.amount),
                Side::Credit => *credit = credit.add(line.amount),
            }
        }
    }
    totals
}
