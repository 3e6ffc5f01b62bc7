//! `kboss replay --rules FILE --book ORG --from DATE --to DATE` (issue 14): a book's period
//! booked again under a proposed rule set, writing nothing (`ledger_core::rule_replay`), over
//! the whole log verified from position 0 (`event_log::verify_store_observing`: the chain and
//! every event checked on the way), and the differences per account with the events that cause
//! them, as text.
//!
//! The rule file is what `SetPostingRules` takes (and `PUT /v1/posting-rules/{kind}` sends for
//! one kind): a JSON array of rules `{kind, role, lines: [{account, party?, side, amount}]}`, or
//! an object with that array as `rules` (the command's JSON, `{"command": "set_posting_rules",
//! "rules": [...]}`), or one rule alone.
//!
//! A leaf: imports nothing of the gateway.

use std::fmt::Write;

use chrono::NaiveDate;
use event_log::{LoadError, LogRead};
use ledger_core::ids::OrgId;
use ledger_core::rule_replay::{ReplayReport, RuleReplay, Sides};
use ledger_core::rules::PostingRule;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the rule file: {0}")]
    Rules(String),
    #[error("the log: {0}")]
    Log(#[from] LoadError),
    #[error("{0} keeps no book in this log (`kboss books` lists them)")]
    NoBook(OrgId),
}

/// The proposed rules of a rule file (see the module's documentation).
pub fn read_rules(text: &str) -> Result<Vec<PostingRule>, ReplayError> {
    let bad = |error: serde_path_to_error::Error<serde_json::Error>| {
        ReplayError::Rules(format!("{} at {}", error.inner(), error.path()))
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| ReplayError::Rules(format!("not JSON ({error})")))?;
    let rules = match value {
        serde_json::Value::Array(_) => value,
        serde_json::Value::Object(ref object) if object.contains_key("rules") => object["rules"].clone(),
        serde_json::Value::Object(_) => serde_json::Value::Array(vec![value]),
        _ => return Err(ReplayError::Rules("a rule, an array of rules or {\"rules\": [...]}".to_owned())),
    };
    serde_path_to_error::deserialize(rules).map_err(bad)
}

/// Replays `book` from `from` through `to` under `rules` over the whole store.
pub fn replay_rules(
    store: &mut impl LogRead,
    rules: Vec<PostingRule>,
    book: OrgId,
    (from, to): (NaiveDate, NaiveDate),
    progress: impl FnMut(u64),
) -> Result<ReplayReport, ReplayError> {
    let mut replay = RuleReplay::new(rules, book, from, to)
        .map_err(|(index, reason)| ReplayError::Rules(format!("rule {index}: {reason}")))?;
    let verified = event_log::verify_store_observing(store, None, progress, |_, event| replay.observe(event))?;
    if !verified.state.books.contains_key(&book) {
        return Err(ReplayError::NoBook(book));
    }
    Ok(replay.finish())
}

fn sides(sides: &Sides) -> (String, String) {
    (sides.debit.to_string(), sides.credit.to_string())
}

/// The report as text: a summary line; a table of the accounts whose sums change (as booked, as
/// replayed, the difference, the positions of the events that change them); each changed entry
/// with what it changes; each entry that could not be replayed, with why.
pub fn render(report: &ReplayReport) -> String {
    let mut text = String::new();
    let changed: Vec<_> = report.differences().collect();
    let _ = writeln!(
        text,
        "replay of book {} from {} to {} under {}: {} entries in the period, {} booked by a kind and role the proposal \
         changes, {} changed, {} not replayed",
        report.book,
        report.from,
        report.to,
        report.rules.join(", "),
        report.entries,
        report.rebooked,
        report.changed.len(),
        report.not_replayed.len()
    );
    if changed.is_empty() {
        let _ = writeln!(text, "no account changes");
    } else {
        let _ = writeln!(
            text,
            "account\tbooked_debit\tbooked_credit\treplayed_debit\treplayed_credit\tdebit_difference\t\
             credit_difference\tpositions"
        );
        for account in changed {
            let (booked, replayed, difference) =
                (sides(&account.booked), sides(&account.replayed), sides(&account.difference()));
            let positions: Vec<String> = account.positions.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                account.account,
                booked.0,
                booked.1,
                replayed.0,
                replayed.1,
                difference.0,
                difference.1,
                positions.join(",")
            );
        }
    }
    for entry in &report.changed {
        let changes: Vec<String> = entry
            .changes
            .iter()
            .map(|(account, party, sides)| {
                let party = party.map(|party| format!("[{party}]")).unwrap_or_default();
                let mut parts = Vec::new();
                if !sides.debit.is_zero() {
                    parts.push(format!("debit {}", sides.debit));
                }
                if !sides.credit.is_zero() {
                    parts.push(format!("credit {}", sides.credit));
                }
                format!("{account}{party} {}", parts.join(" "))
            })
            .collect();
        let _ = writeln!(
            text,
            "entry\t{}\t{}\t{}\t{} v{}\t{}",
            entry.position,
            entry.event_type,
            entry.date,
            entry.rule,
            entry.version,
            changes.join(", ")
        );
    }
    for missed in &report.not_replayed {
        let _ =
            writeln!(text, "not_replayed\t{}\t{} v{}\t{}", missed.position, missed.rule, missed.version, missed.reason);
    }
    text
}
