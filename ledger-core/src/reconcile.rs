//! Reconciliation (对账): a bank statement or a payment channel's bill against a book's 1002 or
//! 1012 lines. Pure: the gateway parses the file into [`StatementRow`]s and reads the book's
//! lines into [`LedgerItem`]s; [`reconcile`] matches them, and the decider of
//! `RecordReconciliation` matches them again to record what it found (so a recorded
//! reconciliation is the ledger's decision, not the gateway's).
//!
//! **Signs.** A statement row's amount is money into the account positive (a bank's credit, an
//! Alipay 收入), money out negative; a ledger item's is its line's debit positive, credit
//! negative: the same direction, so a recharge's Dr 1002 2000.00 meets the bank's +2000.00.
//!
//! **Matching**, in passes, each taking only what the earlier ones left, every choice
//! deterministic (ties go to the earlier date, then the lower position or row):
//! 1. one to one: a row and a line of the same sign whose amounts differ by at most the
//!    tolerance's `amount` and whose dates by at most its `days`; exact amounts on the same day
//!    first, then exact amounts within the days, then within the amount tolerance;
//! 2. many to one: several of our lines (2 to [`GROUP_LINES_MAX`], among the
//!    [`GROUP_CANDIDATES_MAX`] nearest in date) that together make one row (a bank's batched
//!    deposit of several recharges);
//! 3. one to many: one line that several rows make together (a transfer the bank books in
//!    parts, a channel's bill paying one recharge in instalments);
//! 4. suggestions, never matches: a row and a line whose amounts agree within the tolerance but
//!    whose dates do not (a bank's late booking), or whose dates agree and whose amounts differ
//!    by at most [`SUGGESTION_SHARE_MAX_PERCENT`] of the row (a fee taken by the bank). Their
//!    `difference` is what a manual journal entry, approved like any other
//!    (`ApprovalAction::ManualJournalEntry`), would settle: reconciliation books nothing itself.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::money::{Amount, SignedAmount};

/// Rows one statement may have (and lines of ours one reconciliation may consider): the
/// recorded event carries both, within the log's limit per event.
pub const RECONCILIATION_ROWS_MAX: usize = 2_000;
/// The most lines on the "many" side of one group.
pub const GROUP_LINES_MAX: usize = 4;
/// The candidates searched for a group (the nearest in date): bounds the search per row.
pub const GROUP_CANDIDATES_MAX: usize = 12;
/// The longest reference kept of a statement row (a bank's text is cut there).
pub const REFERENCE_LENGTH_MAX: usize = 140;
/// The widest date tolerance, in days.
pub const TOLERANCE_DAYS_MAX: u32 = 31;
/// A suggestion by date pairs amounts that differ by at most this share of the row (percent).
pub const SUGGESTION_SHARE_MAX_PERCENT: i64 = 5;

/// What the statement file is: a bank's CSV (read through a column mapping), a bank's
/// ISO 20022 CAMT.053 XML, or an Alipay-style bill (账务明细, CSV with its Chinese headers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementFormat {
    Csv,
    Camt053,
    Alipay,
}

impl StatementFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementFormat::Csv => "csv",
            StatementFormat::Camt053 => "camt053",
            StatementFormat::Alipay => "alipay",
        }
    }
}

/// One row of a statement as the gateway parsed it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatementRow {
    /// Its row in the file (1 for the first row of data), for a person to find it.
    pub row: u32,
    pub date: NaiveDate,
    /// Money in positive, money out negative.
    pub amount: SignedAmount,
    /// The bank's or channel's reference text (cut at [`REFERENCE_LENGTH_MAX`] characters).
    pub reference: String,
}

/// One line of the book on the reconciled account.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LedgerItem {
    pub position: u64,
    /// The entry's index within its event, and the line's within the entry (the journal's
    /// `entry_id` is `<position>-<entry>`).
    pub entry: u32,
    pub line: u32,
    pub date: NaiveDate,
    /// Debit positive, credit negative.
    pub amount: SignedAmount,
}

/// The tolerance the user sets: how far amounts and dates may differ within a match.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tolerance {
    pub amount: Amount,
    pub days: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    OneToOne,
    /// One line of ours, several rows of the statement.
    OneToMany,
    /// Several lines of ours, one row of the statement.
    ManyToOne,
    /// Not a match: a pair a person should look at (see the module's documentation).
    Suggested,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::OneToOne => "one_to_one",
            MatchKind::OneToMany => "one_to_many",
            MatchKind::ManyToOne => "many_to_one",
            MatchKind::Suggested => "suggested",
        }
    }
}

/// Lines of ours and rows of the statement that go together: indices into the two lists.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MatchGroup {
    pub kind: MatchKind,
    pub ledger: Vec<u32>,
    pub statement: Vec<u32>,
    /// The statement's rows less our lines: what the bank shows beyond the books.
    pub difference: SignedAmount,
}

/// The checks of what a reconciliation is given: sizes, rows that move money, references and
/// the tolerance within their bounds. Each refusal names its field.
pub fn check_inputs(
    statement: &[StatementRow],
    ledger: &[LedgerItem],
    tolerance: Tolerance,
) -> Result<(), DomainError> {
    if statement.is_empty() {
        return Err(DomainError::invalid_field("statement", "the statement has no rows"));
    }
    if statement.len() > RECONCILIATION_ROWS_MAX {
        return Err(DomainError::LimitExceeded {
            field: "statement".to_owned(),
            reason: format!("{} rows; at most {RECONCILIATION_ROWS_MAX} a reconciliation", statement.len()),
        });
    }
    if ledger.len() > RECONCILIATION_ROWS_MAX {
        return Err(DomainError::LimitExceeded {
            field: "statement".to_owned(),
            reason: format!(
                "the book has {} lines on the account in the statement's dates; at most {RECONCILIATION_ROWS_MAX}: \
                 reconcile a shorter statement",
                ledger.len()
            ),
        });
    }
    if tolerance.days > TOLERANCE_DAYS_MAX {
        return Err(DomainError::invalid_field("tolerance.days", format!("at most {TOLERANCE_DAYS_MAX}")));
    }
    for row in statement {
        if row.amount.is_zero() {
            return Err(DomainError::invalid_field(format!("statement row {}", row.row), "moves no money"));
        }
        if row.reference.chars().count() > REFERENCE_LENGTH_MAX || row.reference.chars().any(char::is_control) {
            return Err(DomainError::invalid_field(
                format!("statement row {}", row.row),
                format!("a reference is one line of at most {REFERENCE_LENGTH_MAX} characters"),
            ));
        }
    }
    if ledger.iter().any(|item| item.amount.is_zero()) {
        return Err(DomainError::invalid_field("ledger", "a line of the book moves no money"));
    }
    Ok(())
}

fn days_apart(a: NaiveDate, b: NaiveDate) -> u64 {
    (a - b).num_days().unsigned_abs()
}

fn gap(a: SignedAmount, b: SignedAmount) -> Decimal {
    (a.as_decimal() - b.as_decimal()).abs()
}

fn same_sign(a: SignedAmount, b: SignedAmount) -> bool {
    a.is_negative() == b.is_negative()
}

fn sum<I: IntoIterator<Item = SignedAmount>>(amounts: I) -> SignedAmount {
    amounts.into_iter().fold(SignedAmount::ZERO, SignedAmount::plus)
}

/// What is left to match on each side.
struct Open {
    ledger: Vec<bool>,
    statement: Vec<bool>,
}

/// Matches a statement against the book's lines (see the module's documentation); answers the
/// groups, matches first (in the order found), then suggestions. Call [`check_inputs`] first.
pub fn reconcile(statement: &[StatementRow], ledger: &[LedgerItem], tolerance: Tolerance) -> Vec<MatchGroup> {
    let mut open = Open { ledger: vec![true; ledger.len()], statement: vec![true; statement.len()] };
    let mut rows: Vec<usize> = (0..statement.len()).collect();
    rows.sort_by_key(|&index| (statement[index].date, statement[index].row));
    let mut lines: Vec<usize> = (0..ledger.len()).collect();
    lines.sort_by_key(|&index| (ledger[index].date, ledger[index].position, ledger[index].entry, ledger[index].line));
    let mut groups = Vec::new();
    let tolerance_amount = tolerance.amount.as_decimal();
    let days = u64::from(tolerance.days);
    // 1. One to one, strictest first.
    let rounds: [(Decimal, u64); 3] = [(Decimal::ZERO, 0), (Decimal::ZERO, days), (tolerance_amount, days)];
    for (amount_gap, day_gap) in rounds {
        for &row in &rows {
            if !open.statement[row] {
                continue;
            }
            let theirs = &statement[row];
            let best = lines
                .iter()
                .copied()
                .filter(|&line| open.ledger[line] && same_sign(ledger[line].amount, theirs.amount))
                .filter(|&line| {
                    gap(ledger[line].amount, theirs.amount) <= amount_gap
                        && days_apart(ledger[line].date, theirs.date) <= day_gap
                })
                .min_by_key(|&line| {
                    (gap(ledger[line].amount, theirs.amount), days_apart(ledger[line].date, theirs.date))
                });
            if let Some(line) = best {
                open.ledger[line] = false;
                open.statement[row] = false;
                groups.push(MatchGroup {
                    kind: MatchKind::OneToOne,
                    ledger: vec![line as u32],
                    statement: vec![row as u32],
                    difference: theirs.amount.plus(ledger[line].amount.negated()),
                });
            }
        }
    }
    // 2. Many of ours to one row.
    for &row in &rows {
        if !open.statement[row] {
            continue;
        }
        let theirs = &statement[row];
        let candidates = nearest(&lines, &open.ledger, |line| {
            let item = &ledger[line];
            (same_sign(item.amount, theirs.amount) && days_apart(item.date, theirs.date) <= days)
                .then(|| days_apart(item.date, theirs.date))
        });
        if let Some(chosen) = best_subset(&candidates, |line| ledger[line].amount, theirs.amount, tolerance_amount) {
            let ours = sum(chosen.iter().map(|&line| ledger[line].amount));
            chosen.iter().for_each(|&line| open.ledger[line] = false);
            open.statement[row] = false;
            groups.push(MatchGroup {
                kind: MatchKind::ManyToOne,
                ledger: chosen.iter().map(|&line| line as u32).collect(),
                statement: vec![row as u32],
                difference: theirs.amount.plus(ours.negated()),
            });
        }
    }
    // 3. One of ours to many rows.
    for &line in &lines {
        if !open.ledger[line] {
            continue;
        }
        let ours = &ledger[line];
        let candidates = nearest(&rows, &open.statement, |row| {
            let theirs = &statement[row];
            (same_sign(theirs.amount, ours.amount) && days_apart(theirs.date, ours.date) <= days)
                .then(|| days_apart(theirs.date, ours.date))
        });
        if let Some(chosen) = best_subset(&candidates, |row| statement[row].amount, ours.amount, tolerance_amount) {
            let theirs = sum(chosen.iter().map(|&row| statement[row].amount));
            chosen.iter().for_each(|&row| open.statement[row] = false);
            open.ledger[line] = false;
            groups.push(MatchGroup {
                kind: MatchKind::OneToMany,
                ledger: vec![line as u32],
                statement: chosen.iter().map(|&row| row as u32).collect(),
                difference: theirs.plus(ours.amount.negated()),
            });
        }
    }
    groups.extend(suggestions(statement, ledger, &rows, &lines, &open, tolerance));
    groups
}

/// The open candidates a `distance` accepts, nearest first (then in their list's order), at
/// most [`GROUP_CANDIDATES_MAX`].
fn nearest(order: &[usize], open: &[bool], distance: impl Fn(usize) -> Option<u64>) -> Vec<usize> {
    let mut candidates: Vec<(u64, usize, usize)> = order
        .iter()
        .enumerate()
        .filter(|(_, &index)| open[index])
        .filter_map(|(rank, &index)| distance(index).map(|days| (days, rank, index)))
        .collect();
    candidates.sort();
    candidates.truncate(GROUP_CANDIDATES_MAX);
    candidates.into_iter().map(|(_, _, index)| index).collect()
}

/// The subset of 2 to [`GROUP_LINES_MAX`] candidates whose sum is nearest `target`, within
/// `tolerance`: the smallest gap, then the fewest lines, then the earliest candidates.
fn best_subset(
    candidates: &[usize],
    amount: impl Fn(usize) -> SignedAmount,
    target: SignedAmount,
    tolerance: Decimal,
) -> Option<Vec<usize>> {
    let amounts: Vec<Decimal> = candidates.iter().map(|&index| amount(index).as_decimal()).collect();
    let mut search = SubsetSearch { amounts: &amounts, target: target.as_decimal(), tolerance, best: None };
    search.walk(0, &mut Vec::with_capacity(GROUP_LINES_MAX), Decimal::ZERO);
    search.best.map(|(_, _, chosen)| {
        let mut chosen: Vec<usize> = chosen.into_iter().map(|at| candidates[at]).collect();
        chosen.sort_unstable();
        chosen
    })
}

/// A depth-first walk of the candidates' subsets (at most [`GROUP_LINES_MAX`] deep, over at most
/// [`GROUP_CANDIDATES_MAX`] candidates: under 800 subsets).
struct SubsetSearch<'a> {
    amounts: &'a [Decimal],
    target: Decimal,
    tolerance: Decimal,
    /// The gap, the size and the candidates' places of the best subset so far.
    best: Option<(Decimal, usize, Vec<usize>)>,
}

impl SubsetSearch<'_> {
    fn walk(&mut self, start: usize, chosen: &mut Vec<usize>, total: Decimal) {
        if chosen.len() >= 2 {
            let gap = (total - self.target).abs();
            let better = match &self.best {
                None => true,
                Some((best_gap, best_len, _)) => (gap, chosen.len()) < (*best_gap, *best_len),
            };
            if gap <= self.tolerance && better {
                self.best = Some((gap, chosen.len(), chosen.clone()));
            }
        }
        if chosen.len() == GROUP_LINES_MAX {
            return;
        }
        for next in start..self.amounts.len() {
            chosen.push(next);
            self.walk(next + 1, chosen, total + self.amounts[next]);
            chosen.pop();
        }
    }
}

/// Pairs of what no pass matched, for a person to look at (see the module's documentation).
fn suggestions(
    statement: &[StatementRow],
    ledger: &[LedgerItem],
    rows: &[usize],
    lines: &[usize],
    open: &Open,
    tolerance: Tolerance,
) -> Vec<MatchGroup> {
    let mut taken = vec![false; ledger.len()];
    let mut found = Vec::new();
    let tolerance_amount = tolerance.amount.as_decimal();
    for &row in rows.iter().filter(|&&row| open.statement[row]) {
        let theirs = &statement[row];
        let free = || {
            lines
                .iter()
                .copied()
                .filter(|&line| open.ledger[line] && !taken[line])
                .filter(|&line| same_sign(ledger[line].amount, theirs.amount))
        };
        // The amount agrees, the date does not: the nearest date.
        let by_amount = free()
            .filter(|&line| gap(ledger[line].amount, theirs.amount) <= tolerance_amount)
            .min_by_key(|&line| days_apart(ledger[line].date, theirs.date));
        // The date agrees, the amount is near: the nearest amount.
        let share =
            theirs.amount.as_decimal().abs() * Decimal::from(SUGGESTION_SHARE_MAX_PERCENT) / Decimal::ONE_HUNDRED;
        let by_date = || {
            free()
                .filter(|&line| days_apart(ledger[line].date, theirs.date) <= u64::from(tolerance.days))
                .filter(|&line| gap(ledger[line].amount, theirs.amount) <= share)
                .min_by_key(|&line| gap(ledger[line].amount, theirs.amount))
        };
        if let Some(line) = by_amount.or_else(by_date) {
            taken[line] = true;
            found.push(MatchGroup {
                kind: MatchKind::Suggested,
                ledger: vec![line as u32],
                statement: vec![row as u32],
                difference: theirs.amount.plus(ledger[line].amount.negated()),
            });
        }
    }
    found
}

/// What a reconciliation's groups leave unmatched on each side (suggestions do not match):
/// indices into the ledger items and the statement rows.
pub fn unmatched(groups: &[MatchGroup], ledger_len: usize, statement_len: usize) -> (Vec<u32>, Vec<u32>) {
    let mut ours = vec![true; ledger_len];
    let mut theirs = vec![true; statement_len];
    for group in groups.iter().filter(|group| group.kind != MatchKind::Suggested) {
        group.ledger.iter().for_each(|&index| ours[index as usize] = false);
        group.statement.iter().for_each(|&index| theirs[index as usize] = false);
    }
    let open = |flags: Vec<bool>| flags.iter().enumerate().filter(|(_, open)| **open).map(|(i, _)| i as u32).collect();
    (open(ours), open(theirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, day).unwrap()
    }

    fn money(text: &str) -> SignedAmount {
        SignedAmount::from_decimal(text.parse().unwrap())
    }

    fn row(row: u32, date: u32, amount: &str) -> StatementRow {
        StatementRow { row, date: day(date), amount: money(amount), reference: format!("row {row}") }
    }

    fn item(position: u64, date: u32, amount: &str) -> LedgerItem {
        LedgerItem { position, entry: 0, line: 0, date: day(date), amount: money(amount) }
    }

    fn tolerance(amount: &str, days: u32) -> Tolerance {
        Tolerance { amount: Amount::parse(amount).unwrap(), days }
    }

    #[test]
    fn one_to_one_prefers_the_exact_amount_on_the_same_day() {
        let statement = [row(1, 5, "100.00"), row(2, 6, "100.00")];
        let ledger = [item(10, 6, "100.00"), item(11, 5, "100.00")];
        let groups = reconcile(&statement, &ledger, tolerance("0.00", 1));
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].statement[0], groups[0].ledger[0]), (0, 1));
        assert_eq!((groups[1].statement[0], groups[1].ledger[0]), (1, 0));
        assert!(groups.iter().all(|group| group.kind == MatchKind::OneToOne && group.difference.is_zero()));
    }

    #[test]
    fn a_batched_deposit_is_many_to_one_and_a_split_transfer_one_to_many() {
        let statement = [row(1, 10, "350.00"), row(2, 12, "120.00"), row(3, 12, "80.00")];
        let ledger = [item(1, 9, "200.00"), item(2, 10, "150.00"), item(3, 12, "200.00"), item(4, 20, "-5.00")];
        let groups = reconcile(&statement, &ledger, tolerance("0.00", 2));
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0].kind, MatchKind::ManyToOne);
        assert_eq!((groups[0].ledger.clone(), groups[0].statement.clone()), (vec![0, 1], vec![0]));
        assert_eq!(groups[1].kind, MatchKind::OneToMany);
        assert_eq!((groups[1].ledger.clone(), groups[1].statement.clone()), (vec![2], vec![1, 2]));
        assert_eq!(unmatched(&groups, ledger.len(), statement.len()), (vec![3], vec![]));
    }

    #[test]
    fn the_tolerance_bounds_a_match_and_what_is_left_is_suggested() {
        let statement = [row(1, 5, "99.50"), row(2, 5, "300.00"), row(3, 20, "-50.00")];
        let ledger = [item(1, 6, "100.00"), item(2, 5, "310.00"), item(3, 1, "-50.00")];
        let groups = reconcile(&statement, &ledger, tolerance("0.50", 1));
        assert_eq!(groups.len(), 3, "{groups:?}");
        assert_eq!(groups[0].kind, MatchKind::OneToOne);
        assert_eq!(groups[0].difference, money("-0.50"));
        // 310.00 against 300.00 is within 5% on the same day; -50.00 nineteen days apart.
        assert_eq!(groups[1].kind, MatchKind::Suggested);
        assert_eq!((groups[1].ledger.clone(), groups[1].difference), (vec![1], money("-10.00")));
        assert_eq!((groups[2].kind, groups[2].ledger.clone()), (MatchKind::Suggested, vec![2]));
        assert_eq!(unmatched(&groups, 3, 3), (vec![1, 2], vec![1, 2]));
    }

    #[test]
    fn inputs_are_checked_naming_their_field() {
        let good = [row(1, 5, "1.00")];
        assert!(check_inputs(&good, &[], tolerance("0.00", 0)).is_ok());
        assert_eq!(check_inputs(&[], &[], tolerance("0.00", 0)).unwrap_err().field(), Some("statement"));
        let error = check_inputs(&[row(3, 5, "0.00")], &[], tolerance("0.00", 0)).unwrap_err();
        assert_eq!(error.field(), Some("statement row 3"));
        let error = check_inputs(&good, &[], tolerance("0.00", 32)).unwrap_err();
        assert_eq!(error.field(), Some("tolerance.days"));
    }
}
