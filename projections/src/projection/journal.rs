//! The journal (`rm_journal`): every line of every entry, keyed by (position, entry index, line
//! index), with its book, date, account, party, side amounts, event type, the posting rule and
//! version that booked it and its inter-company pair id (`<position>.<pair>`).

use ledger_core::chart::Side;
use ledger_core::RecordedEvent;

use super::{no_context, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection =
    Projection { name: "journal", tables: &["rm_journal"], context: no_context, statements };

const INSERT_LINE: &str = "INSERT INTO rm_journal (position, entry_idx, line_idx, book, entry_date, account, party,
         debit, credit, event_type, rule_id, rule_version, pair_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
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
                SqlValue::optional_text(line.party),
                SqlValue::Integer(debit),
                SqlValue::Integer(credit),
                SqlValue::text(event.event_type()),
                SqlValue::text(&entry.rule.id),
                SqlValue::Integer(i64::from(entry.rule.version)),
                SqlValue::optional_text(line.pair.map(|pair| format!("{}.{pair}", event.position))),
            ];
            out.push(Statement::new(INSERT_LINE, params));
        }
    }
}
