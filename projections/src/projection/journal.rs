//! The journal (`rm_journal`): every line of every entry, keyed by (position, entry index, line
//! index), with its book, date, account, party, side amounts, event type, the posting rule and
//! version that booked it, its inter-company pair id (`<position>.<pair>`) and running balances
//! (of the book; the book and account; the book, account and party) for ledger pages.

use ledger_core::chart::Side;
use ledger_core::RecordedEvent;

use super::balances::NO_PARTY;
use super::{no_context, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection =
    Projection { name: "journal", tables: &["rm_journal"], context: no_context, statements };

/// Each running balance is the previous line's of the same key plus this line's debit − credit
/// (`$14`): one index probe per key, because lines are applied in log order. Each probe orders by
/// its key's columns too (a no-op under the equality filter) so that only the key's index gives
/// the order: ordered by position alone, a planner without statistics scans the primary key
/// backwards hoping to meet the key soon, which for a quiet party means most of the journal.
const INSERT_LINE: &str = "INSERT INTO rm_journal (position, entry_idx, line_idx, book, entry_date, account, party,
         debit, credit, event_type, rule_id, rule_version, pair_id, book_running, account_running, party_running)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
         COALESCE((SELECT previous.book_running FROM rm_journal previous WHERE previous.book = $4
                   ORDER BY previous.book DESC, previous.position DESC, previous.entry_idx DESC, previous.line_idx DESC LIMIT 1), 0) + $14,
         COALESCE((SELECT previous.account_running FROM rm_journal previous WHERE previous.book = $4 AND previous.account = $6
                   ORDER BY previous.book DESC, previous.account DESC, previous.position DESC, previous.entry_idx DESC, previous.line_idx DESC LIMIT 1), 0) + $14,
         COALESCE((SELECT previous.party_running FROM rm_journal previous
                   WHERE previous.book = $4 AND previous.account = $6 AND previous.party = $7
                   ORDER BY previous.book DESC, previous.account DESC, previous.party DESC, previous.position DESC, previous.entry_idx DESC, previous.line_idx DESC LIMIT 1), 0) + $14)
     ON CONFLICT (position, entry_idx, line_idx) DO NOTHING";

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    for (entry_idx, entry) in event.event.entries.iter().enumerate() {
        for (line_idx, line) in entry.lines.iter().enumerate() {
            let (debit, credit) = match line.side {
                Side::Debit => (line.amount.to_minor(), 0),
                Side::Credit => (0, line.amount.to_minor()),
            };
            let params = vec![
                SqlValue::position(event.position),
                SqlValue::Integer(entry_idx as i64),
                SqlValue::Integer(line_idx as i64),
                SqlValue::text(entry.book),
                SqlValue::date(entry.date),
                SqlValue::text(&line.account),
                SqlValue::Text(line.party.map_or_else(|| NO_PARTY.to_owned(), |party| party.to_string())),
                SqlValue::Integer(debit),
                SqlValue::Integer(credit),
                SqlValue::text(event.event_type()),
                SqlValue::text(&entry.rule.id),
                SqlValue::Integer(i64::from(entry.rule.version)),
                SqlValue::optional_text(line.pair.map(|pair| format!("{}.{pair}", event.position))),
                SqlValue::Integer(debit - credit),
            ];
            out.push(Statement::new(INSERT_LINE, params));
        }
    }
}
