//! A settlement statement's lines, figures and hash: the one definition the decider, replay and
//! the read side share.
//!
//! A statement selects, in one book, the open items with one counterparty (lines on 1122 or 2202
//! with that party, not booked by a settlement: `Book::open_items`) dated from `from` to `to`
//! and booked at or before `through_position`. Its lines are those items in the order
//! (position, account, then as booked); its figures are their count, the net receivable (1122,
//! debit − credit) and payable (2202, credit − debit), and the hash of all of it.
//!
//! The lines are a function of the log through `through_position`, so the event carries the
//! selection and the figures, never the lines: its size does not grow with the volume. Replay
//! recomputes the figures from the state it has at the event's position (the state the decider
//! saw) and refuses a statement they do not match (`log::verify_next`).
//!
//! # The hash
//!
//! SHA-256 of the compact JSON (serde_json, fields in this order, no whitespace) of
//! `{"book", "counterparty_id", "from", "to", "through_position", "receivable", "payable",
//! "lines": [{"position", "date", "account", "debit", "credit"}, …]}`: ids as UUID strings,
//! dates `YYYY-MM-DD`, amounts as decimal strings with two digits (`"700.00"`). It is the
//! definition schema v1 used, kept so that statements issued before v2 keep their hash and an
//! auditor recomputes any statement's hash from its lines as the API serves them. It is computed
//! by streaming the JSON into the hasher, one line after another, never as one value in memory.

use std::borrow::Borrow;
use std::io::Write;

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::chart::codes;
use crate::event::{SettlementStatementIssued, StatementLine};
use crate::ids::OrgId;
use crate::money::SignedAmount;
use crate::state::Book;

/// How much of the canonical JSON is buffered before it is hashed.
const HASH_BUFFER_BYTES: usize = 8 * 1024;

/// Which open items a statement covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    pub book: OrgId,
    pub counterparty_id: OrgId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub through_position: u64,
}

impl Selection {
    pub fn of(statement: &SettlementStatementIssued) -> Selection {
        Selection {
            book: statement.book,
            counterparty_id: statement.counterparty_id,
            from: statement.from,
            to: statement.to,
            through_position: statement.through_position,
        }
    }

    /// Whether an open item with the counterparty is one of the statement's.
    pub fn covers(&self, item: &StatementLine) -> bool {
        self.covers_at(item.position, item.date)
    }

    /// Whether what was booked at `position` on `date` is within the statement.
    pub fn covers_at(&self, position: u64, date: NaiveDate) -> bool {
        position <= self.through_position && self.from <= date && date <= self.to
    }

    /// The statement's lines among `book`'s open items, in the statement's order. The open
    /// items are kept in the order they were booked, so a stable sort by (position, account)
    /// leaves the lines of one entry in their booked order.
    pub fn lines<'a>(&self, book: &'a Book) -> Vec<&'a StatementLine> {
        let mut lines: Vec<&StatementLine> = book
            .open_items
            .get(&self.counterparty_id)
            .map(|items| items.iter().filter(|item| self.covers(item)).collect())
            .unwrap_or_default();
        lines.sort_by(|first, second| (first.position, &first.account).cmp(&(second.position, &second.account)));
        lines
    }
}

/// What a statement says about its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    pub line_count: u64,
    pub receivable: SignedAmount,
    pub payable: SignedAmount,
    pub statement_hash: String,
}

impl Figures {
    /// The figures of `lines` (in the statement's order) under `selection`.
    pub fn of<L: Borrow<StatementLine> + Serialize>(selection: &Selection, lines: &[L]) -> Figures {
        let (receivable, payable) = totals(lines.iter().map(Borrow::borrow));
        Figures {
            line_count: lines.len() as u64,
            receivable,
            payable,
            statement_hash: hash(selection, receivable, payable, lines),
        }
    }

    /// The figures an event states.
    pub fn stated(statement: &SettlementStatementIssued) -> Figures {
        Figures {
            line_count: statement.line_count,
            receivable: statement.receivable,
            payable: statement.payable,
            statement_hash: statement.statement_hash.clone(),
        }
    }
}

/// The net receivable (1122: debit − credit) and payable (2202: credit − debit) of the lines.
/// Each line is at most `AMOUNT_MAX` and the lines of a book sum to at most its posted total
/// (`TOTAL_MAX`), far inside `SignedAmount`'s range.
pub fn totals<'a>(lines: impl IntoIterator<Item = &'a StatementLine>) -> (SignedAmount, SignedAmount) {
    let (mut receivable, mut payable) = (SignedAmount::ZERO, SignedAmount::ZERO);
    for line in lines {
        if line.account.as_str() == codes::RECEIVABLES {
            receivable = receivable.add(line.debit).sub(line.credit);
        } else {
            payable = payable.add(line.credit).sub(line.debit);
        }
    }
    (receivable, payable)
}

/// The statement fields the hash covers, in their fixed order.
#[derive(Serialize)]
struct Canonical<'a, L: Serialize> {
    book: OrgId,
    counterparty_id: OrgId,
    from: NaiveDate,
    to: NaiveDate,
    through_position: u64,
    receivable: SignedAmount,
    payable: SignedAmount,
    lines: &'a [L],
}

/// Feeds what serde_json writes straight into SHA-256.
struct Hasher(Sha256);

impl Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The statement hash (see the module's documentation), lowercase hex.
pub fn hash<L: Serialize>(
    selection: &Selection,
    receivable: SignedAmount,
    payable: SignedAmount,
    lines: &[L],
) -> String {
    let canonical = Canonical {
        book: selection.book,
        counterparty_id: selection.counterparty_id,
        from: selection.from,
        to: selection.to,
        through_position: selection.through_position,
        receivable,
        payable,
        lines,
    };
    // Buffered: serde_json writes token by token, the hasher is fed in blocks.
    let mut buffered = std::io::BufWriter::with_capacity(HASH_BUFFER_BYTES, Hasher(Sha256::new()));
    serde_json::to_writer(&mut buffered, &canonical).expect("a statement serialises, and hashing cannot fail");
    let hasher = buffered.into_inner().map_err(|_| ()).expect("flushing into a hasher cannot fail");
    hex::encode(hasher.0.finalize())
}
