//! The journal (`rm_journal`): every line of every entry, keyed by (position, entry index, line
//! index), with its book, date, account, party, side amounts, event type, the posting rule and
//! version that booked it, its inter-company pair (the number within the event; the pair id
//! `<position>.<pair>` is made when read) and running balances (of the book and account; of the
//! book, account and party) for ledger pages. A book-wide running balance sums unlike accounts and
//! means nothing, so none is kept.

use ledger_core::chart::Side;
use ledger_core::RecordedEvent;

use super::balances::NO_PARTY;
use std::collections::{BTreeSet, HashMap};

use super::{Fold, Projection};
use crate::sql::{statement_sizes, Row, SqlValue, Statement};
use crate::ReadError;

pub const PROJECTION: Projection =
    Projection { name: "journal", tables: &["rm_journal"], fold: Fold::Run { context, statements } };

/// Keys whose latest running balances one context query reads (3 parameters each): well under
/// both backends' parameter limits, and few distinct statement texts (see [`statement_sizes`]).
const KEYS_PER_QUERY_MAX: usize = 512;

/// The running balances are the previous line's of the same key plus this line's debit − credit.
/// They are computed here for the whole run, starting from the latest stored line of each key
/// the run touches (read once, by [`context`]): lines are applied in log order and a run only
/// continues the checkpoint, so every stored line precedes the run.
const INSERT_LINE: &str = "INSERT INTO rm_journal (position, entry_idx, line_idx, book, entry_date, account, party,
         debit, credit, event_type, rule_id, rule_version, pair, account_running, party_running)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (position, entry_idx, line_idx) DO NOTHING";

/// The head of the query reading, per (book, account, party), the latest stored running balance
/// of the book and account, and of all three (0 when there is none). Each probe
/// orders by its key's columns too (a no-op under the equality filter) so that only the key's
/// index gives the order: ordered by position alone, a planner without statistics scans the
/// primary key backwards hoping to meet the key soon, which for a quiet party means most of the
/// journal.
const LATEST_RUNNING_SELECT: &str = "SELECT keys.book, keys.account, keys.party,
         COALESCE((SELECT previous.account_running FROM rm_journal previous WHERE previous.book = keys.book AND previous.account = keys.account
                   ORDER BY previous.book DESC, previous.account DESC, previous.position DESC, previous.entry_idx DESC, previous.line_idx DESC LIMIT 1), 0),
         COALESCE((SELECT previous.party_running FROM rm_journal previous
                   WHERE previous.book = keys.book AND previous.account = keys.account AND previous.party = keys.party
                   ORDER BY previous.book DESC, previous.account DESC, previous.party DESC, previous.position DESC, previous.entry_idx DESC, previous.line_idx DESC LIMIT 1), 0)
     FROM keys";

type Key = (String, String, String);

fn party_text(line: &ledger_core::journal::Line) -> String {
    line.party.map_or_else(|| NO_PARTY.to_owned(), |party| party.to_string())
}

/// The (book, account, party) keys of a run's lines, each once.
fn keys(run: &[&RecordedEvent]) -> BTreeSet<Key> {
    let mut keys = BTreeSet::new();
    for event in run {
        for entry in &event.event.entries {
            for line in &entry.lines {
                keys.insert((entry.book.to_string(), line.account.as_str().to_owned(), party_text(line)));
            }
        }
    }
    keys
}

fn context(run: &[&RecordedEvent]) -> Vec<Statement> {
    let keys: Vec<Key> = keys(run).into_iter().collect();
    let mut queries = Vec::new();
    let mut rest = keys.as_slice();
    for size in statement_sizes(keys.len(), KEYS_PER_QUERY_MAX) {
        let (group, after) = rest.split_at(size);
        rest = after;
        queries.push(latest_running(group));
    }
    queries
}

fn latest_running(keys: &[Key]) -> Statement {
    let rows: Vec<String> = (0..keys.len())
        .map(|index| {
            let first = index * 3 + 1;
            format!("(CAST(${first} AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT))", first + 1, first + 2)
        })
        .collect();
    let sql = format!("WITH keys (book, account, party) AS (VALUES {}) {LATEST_RUNNING_SELECT}", rows.join(", "));
    let params = keys
        .iter()
        .flat_map(|(book, account, party)| [book, account, party].map(|text| SqlValue::Text(text.clone())))
        .collect();
    Statement::dynamic(sql, params)
}

/// The latest running balances per book and account, and per book, account and party.
#[derive(Default)]
struct Running {
    account: HashMap<(String, String), i64>,
    party: HashMap<Key, i64>,
}

impl Running {
    fn read(rows: &[Row]) -> Result<Running, ReadError> {
        let mut running = Running::default();
        for row in rows {
            let (book, account, party) = (row.text(0)?, row.text(1)?, row.text(2)?);
            running.account.insert((book.to_owned(), account.to_owned()), row.integer(3)?);
            running.party.insert((book.to_owned(), account.to_owned(), party.to_owned()), row.integer(4)?);
        }
        Ok(running)
    }

    /// Adds a line's debit − credit to its two keys; answers their new running balances.
    fn add(&mut self, (book, account, party): Key, change: i64) -> [i64; 2] {
        let add = |total: &mut i64| {
            *total += change;
            *total
        };
        [
            add(self.account.entry((book.clone(), account.clone())).or_default()),
            add(self.party.entry((book, account, party)).or_default()),
        ]
    }
}

fn statements(run: &[&RecordedEvent], context: &[Row], out: &mut Vec<Statement>) -> Result<(), ReadError> {
    let mut running = Running::read(context)?;
    for event in run {
        lines(event, &mut running, out);
    }
    Ok(())
}

fn lines(event: &RecordedEvent, running: &mut Running, out: &mut Vec<Statement>) {
    for (entry_idx, entry) in event.event.entries.iter().enumerate() {
        for (line_idx, line) in entry.lines.iter().enumerate() {
            let (debit, credit) = match line.side {
                Side::Debit => (line.amount.to_minor(), 0),
                Side::Credit => (0, line.amount.to_minor()),
            };
            let party = party_text(line);
            let key = (entry.book.to_string(), line.account.as_str().to_owned(), party.clone());
            let [account_running, party_running] = running.add(key, debit - credit);
            let params = vec![
                SqlValue::position(event.position),
                SqlValue::Integer(entry_idx as i64),
                SqlValue::Integer(line_idx as i64),
                SqlValue::text(entry.book),
                SqlValue::date(entry.date),
                SqlValue::text(&line.account),
                SqlValue::Text(party),
                SqlValue::Integer(debit),
                SqlValue::Integer(credit),
                SqlValue::text(event.event_type()),
                SqlValue::text(&entry.rule.id),
                SqlValue::Integer(i64::from(entry.rule.version)),
                line.pair.map_or(SqlValue::Null, |pair| SqlValue::Integer(i64::from(pair))),
                SqlValue::Integer(account_running),
                SqlValue::Integer(party_running),
            ];
            out.push(Statement::new(INSERT_LINE, params));
        }
    }
}
