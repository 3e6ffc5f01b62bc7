//! Reconciliation at the boundary (issue 14): a statement file read into
//! `ledger_core::reconcile::StatementRow`s, the book's lines on 1002 or 1012 read from the read
//! models into `LedgerItem`s, and the answer `POST /v1/books/{org}/reconciliations`, `GET
//! /v1/reconciliations/{id}` and `kboss reconcile` share. The matching is the core's
//! (`ledger_core::reconcile`): a dry run calls it here and stores nothing; a recorded one is the
//! `RecordReconciliation` command, whose decider matches again and records what it found.
//!
//! The formats:
//! - `csv`: a bank's CSV, read through a column mapping that names the columns of the header
//!   row: `date` (with `date_format`, chrono's, `%Y-%m-%d` by default), either `amount` (signed:
//!   money in positive) or `money_in` and `money_out` (each a positive amount, one of them
//!   empty), and optionally `reference`. Amounts may carry thousands separators (`1,234.56`) and
//!   a negative may be written `(12.00)`.
//! - `camt053`: ISO 20022 `BkToCstmrStmt` XML; each `Ntry` is a row: its `Amt` (whose `Ccy` must
//!   be the book's currency), `CdtDbtInd` (`CRDT` in, `DBIT` out), `BookgDt` (else `ValDt`), and
//!   the first `Ustrd` of its details (else `AcctSvcrRef`, else `NtryRef`) as the reference.
//!   Entries whose status is pending (`PDNG`) or information only (`INFO`) are not rows.
//! - `alipay`: an Alipay-style bill (支付宝账务明细), CSV with Chinese headers: lines starting with
//!   `#` are its preamble and footer; `发生时间` (or `入账时间`) is the date, `收入金额` less
//!   `支出金额` the amount, `商户订单号` (else `业务流水号`, else `账务流水号`) and `备注` the reference.
//!   The text must be UTF-8 (convert a GBK download first: `iconv -f GBK -t UTF-8`).
//!
//! A leaf: imports `audit` (its CSV reader) and `error`.

use chrono::NaiveDate;
use ledger_core::chart::AccountCode;
use ledger_core::ids::OrgId;
use ledger_core::money::{Amount, Currency, SignedAmount};
use ledger_core::reconcile::{
    self, LedgerItem, MatchGroup, MatchKind, StatementFormat, StatementRow, Tolerance, RECONCILIATION_ROWS_MAX,
    REFERENCE_LENGTH_MAX,
};
use projections::{LedgerQuery, ReadError, ReadModels, LEDGER_PAGE_MAX};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a bank's CSV is read: the header's names of its columns.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    /// The column of the booking date.
    pub date: String,
    /// chrono's format of the dates (`%d/%m/%Y`); `%Y-%m-%d` when absent.
    #[serde(default)]
    pub date_format: Option<String>,
    /// A signed amount column (money in positive)...
    #[serde(default)]
    pub amount: Option<String>,
    /// ... or two columns of positive amounts, money in and money out.
    #[serde(default)]
    pub money_in: Option<String>,
    #[serde(default)]
    pub money_out: Option<String>,
    /// The column of the bank's text.
    #[serde(default)]
    pub reference: Option<String>,
}

/// Why a statement cannot be read: a sentence naming the row or element.
pub type ParseError = String;

/// The statement's rows, in the file's order.
pub fn parse_statement(
    format: StatementFormat,
    text: &str,
    mapping: Option<&ColumnMapping>,
    currency: Currency,
) -> Result<Vec<StatementRow>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = match format {
        StatementFormat::Csv => {
            let mapping = mapping.ok_or("a csv statement needs a mapping of its columns")?;
            parse_csv(text, mapping)?
        }
        StatementFormat::Camt053 => parse_camt053(text, currency)?,
        StatementFormat::Alipay => parse_alipay(text)?,
    };
    if rows.len() > RECONCILIATION_ROWS_MAX {
        return Err(format!("{} rows; at most {RECONCILIATION_ROWS_MAX} a reconciliation", rows.len()));
    }
    Ok(rows)
}

/// An amount as statements write it: thousands separators, a `+` or `-`, or `(12.00)`.
fn statement_amount(text: &str) -> Result<SignedAmount, String> {
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('(').and_then(|rest| rest.strip_suffix(')')) {
        Some(inner) => (true, inner.trim()),
        None => match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed).trim()),
        },
    };
    let digits: String = body.chars().filter(|character| *character != ',').collect();
    let amount = Amount::parse(&digits).map_err(|error| format!("{text:?} is not an amount ({error})"))?;
    Ok(if negative { SignedAmount::ZERO.sub(amount) } else { SignedAmount::from(amount) })
}

fn reference_of(parts: &[&str]) -> String {
    let joined = parts.iter().map(|part| part.trim()).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ");
    joined.chars().filter(|character| !character.is_control()).take(REFERENCE_LENGTH_MAX).collect()
}

fn column(header: &[String], name: &str) -> Result<usize, ParseError> {
    header
        .iter()
        .position(|title| title.trim() == name)
        .ok_or_else(|| format!("the header has no column {name:?} (it has {})", header.join(", ")))
}

fn parse_csv(text: &str, mapping: &ColumnMapping) -> Result<Vec<StatementRow>, ParseError> {
    let records = crate::audit::csv_records(text)?;
    let mut records =
        records.into_iter().enumerate().filter(|(_, fields)| !(fields.len() == 1 && fields[0].trim().is_empty()));
    let Some((_, header)) = records.next() else { return Err("the file is empty".to_owned()) };
    let date = column(&header, &mapping.date)?;
    let format = mapping.date_format.as_deref().unwrap_or("%Y-%m-%d");
    let amounts = match (&mapping.amount, &mapping.money_in, &mapping.money_out) {
        (Some(amount), None, None) => (column(&header, amount)?, None),
        (None, Some(money_in), Some(money_out)) => (column(&header, money_in)?, Some(column(&header, money_out)?)),
        _ => return Err("the mapping names either amount, or money_in and money_out".to_owned()),
    };
    let reference = mapping.reference.as_deref().map(|name| column(&header, name)).transpose()?;
    let mut rows = Vec::new();
    for (line, fields) in records {
        let row = rows.len() as u32 + 1;
        let at = |reason: String| format!("row {row} (line {}): {reason}", line + 1);
        if fields.len() != header.len() {
            return Err(at(format!("{} fields, the header {}", fields.len(), header.len())));
        }
        let date = NaiveDate::parse_from_str(fields[date].trim(), format)
            .map_err(|_| at(format!("{:?} is not a date {format}", fields[date])))?;
        let amount = match amounts {
            (amount, None) => statement_amount(&fields[amount]).map_err(at)?,
            (money_in, Some(money_out)) => {
                let part = |index: usize| -> Result<SignedAmount, ParseError> {
                    if fields[index].trim().is_empty() {
                        Ok(SignedAmount::ZERO)
                    } else {
                        statement_amount(&fields[index]).map_err(at)
                    }
                };
                part(money_in)?.plus(part(money_out)?.negated())
            }
        };
        let reference = reference.map(|index| reference_of(&[&fields[index]])).unwrap_or_default();
        rows.push(StatementRow { row, date, amount, reference });
    }
    Ok(rows)
}

fn parse_alipay(text: &str) -> Result<Vec<StatementRow>, ParseError> {
    // The preamble and the footer are lines starting with `#`, never inside a quoted field.
    let body: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    let records = crate::audit::csv_records(&body)?;
    let mut records = records.into_iter();
    let header: Vec<String> =
        records.next().ok_or("the bill has no header row")?.iter().map(|title| title.trim().to_owned()).collect();
    let find = |names: &[&str]| header.iter().position(|title| names.iter().any(|name| title.starts_with(name)));
    let date = find(&["发生时间", "入账时间"]).ok_or("the bill has no column 发生时间")?;
    let money_in = find(&["收入金额"]).ok_or("the bill has no column 收入金额")?;
    let money_out = find(&["支出金额"]).ok_or("the bill has no column 支出金额")?;
    let references: Vec<usize> =
        ["商户订单号", "业务流水号", "账务流水号"].iter().filter_map(|name| find(&[name])).collect();
    let note = find(&["备注"]);
    let mut rows = Vec::new();
    for fields in records {
        let row = rows.len() as u32 + 1;
        let at = |reason: String| format!("row {row}: {reason}");
        if fields.len() != header.len() {
            return Err(at(format!("{} fields, the header {}", fields.len(), header.len())));
        }
        let day: String = fields[date].trim().chars().take(10).collect();
        let date = NaiveDate::parse_from_str(&day.replace('/', "-"), "%Y-%m-%d")
            .map_err(|_| at(format!("{:?} is not a time YYYY-MM-DD hh:mm:ss", fields[date])))?;
        let part = |index: usize| -> Result<SignedAmount, ParseError> {
            let text = fields[index].trim();
            if text.is_empty() {
                Ok(SignedAmount::ZERO)
            } else {
                statement_amount(text).map(|amount| SignedAmount::from_decimal(amount.as_decimal().abs())).map_err(at)
            }
        };
        let amount = part(money_in)?.plus(part(money_out)?.negated());
        let first = references.iter().map(|&index| fields[index].trim()).find(|text| !text.is_empty()).unwrap_or("");
        let reference = reference_of(&[first, note.map_or("", |index| fields[index].as_str())]);
        rows.push(StatementRow { row, date, amount, reference });
    }
    Ok(rows)
}

/// One `Ntry` as read so far.
#[derive(Default)]
struct Entry {
    amount: Option<(String, String)>,
    credit: Option<bool>,
    booked: Option<String>,
    valued: Option<String>,
    status: Option<String>,
    unstructured: Option<String>,
    servicer_reference: Option<String>,
    entry_reference: Option<String>,
}

fn parse_camt053(text: &str, currency: Currency) -> Result<Vec<StatementRow>, ParseError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut entry: Option<Entry> = None;
    let mut entries = Vec::new();
    let mut pending_currency: Option<String> = None;
    loop {
        let event =
            reader.read_event().map_err(|error| format!("not XML: {error} at byte {}", reader.buffer_position()))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if name == "Ntry" {
                    entry = Some(Entry::default());
                }
                if name == "Amt" {
                    pending_currency = start
                        .try_get_attribute("Ccy")
                        .map_err(|error| format!("an Amt attribute: {error}"))?
                        .map(|attribute| String::from_utf8_lossy(&attribute.value).into_owned());
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.pop().as_deref() == Some("Ntry") {
                    entries.push(entry.take().unwrap_or_default());
                }
            }
            Event::Text(content) => {
                let value = content.unescape().map_err(|error| format!("a text: {error}"))?.into_owned();
                let Some(entry) = entry.as_mut() else { continue };
                let Some(at) = path.iter().rposition(|name| name == "Ntry") else { continue };
                let inner: Vec<&str> = path[at + 1..].iter().map(String::as_str).collect();
                match inner.as_slice() {
                    ["Amt"] => entry.amount = Some((value, pending_currency.take().unwrap_or_default())),
                    ["CdtDbtInd"] => entry.credit = Some(value == "CRDT"),
                    ["Sts"] | ["Sts", "Cd"] => entry.status = Some(value),
                    ["BookgDt", "Dt"] | ["BookgDt", "DtTm"] => entry.booked = Some(value),
                    ["ValDt", "Dt"] | ["ValDt", "DtTm"] => entry.valued = Some(value),
                    ["AcctSvcrRef"] => entry.servicer_reference = Some(value),
                    ["NtryRef"] => entry.entry_reference = Some(value),
                    [.., "Ustrd"] if entry.unstructured.is_none() => entry.unstructured = Some(value),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(format!("the XML ends inside <{}>", path.join("><")));
    }
    let mut rows = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let at = |reason: &str| format!("Ntry {}: {reason}", index + 1);
        if matches!(entry.status.as_deref(), Some("PDNG" | "INFO")) {
            continue;
        }
        let (amount, entry_currency) = entry.amount.ok_or_else(|| at("no Amt"))?;
        if entry_currency != currency.code() {
            return Err(at(&format!("its Amt is in {entry_currency:?}, the book's currency is {currency}")));
        }
        let amount = Amount::parse(amount.trim()).map_err(|error| at(&format!("Amt {amount:?}: {error}")))?;
        let credit = entry.credit.ok_or_else(|| at("no CdtDbtInd"))?;
        let day = entry.booked.or(entry.valued).ok_or_else(|| at("no BookgDt or ValDt"))?;
        let date = NaiveDate::parse_from_str(day.get(..10).unwrap_or(&day), "%Y-%m-%d")
            .map_err(|_| at(&format!("{day:?} is not a date")))?;
        let reference = entry.unstructured.or(entry.servicer_reference).or(entry.entry_reference).unwrap_or_default();
        rows.push(StatementRow {
            row: rows.len() as u32 + 1,
            date,
            amount: if credit { SignedAmount::from(amount) } else { SignedAmount::ZERO.sub(amount) },
            reference: reference_of(&[&reference]),
        });
    }
    Ok(rows)
}

/// The book's lines on `account` dated from `from` through `to`, at or before `through` (the
/// read models' position when they were read): what a statement is matched against.
pub async fn ledger_items(
    read: &ReadModels,
    book: OrgId,
    account: &AccountCode,
    (from, to): (NaiveDate, NaiveDate),
    through: u64,
) -> Result<Result<Vec<LedgerItem>, ParseError>, ReadError> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let query = LedgerQuery {
            book,
            account: Some(account.clone()),
            party: None,
            from: Some(from),
            to: Some(to),
            cursor: cursor.take(),
            limit: LEDGER_PAGE_MAX,
        };
        let page = read.ledger(&query).await?;
        for line in page.items.into_iter().filter(|line| line.position <= through) {
            let entry = line.entry_id.rsplit_once('-').and_then(|(_, entry)| entry.parse().ok()).unwrap_or(0);
            let amount = SignedAmount::from(line.debit).plus(SignedAmount::ZERO.sub(line.credit));
            items.push(LedgerItem { position: line.position, entry, line: line.line_idx, date: line.date, amount });
        }
        if items.len() > RECONCILIATION_ROWS_MAX {
            return Ok(Err(format!(
                "the book has more than {RECONCILIATION_ROWS_MAX} lines on {account} from {from} to {to}: reconcile a \
                 shorter statement"
            )));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(Ok(items)),
        }
    }
}

/// The dates a statement's lines are looked for in: its first and last day, widened by the
/// tolerance's days.
pub fn window(rows: &[StatementRow], days: u32) -> Option<(NaiveDate, NaiveDate)> {
    let first = rows.iter().map(|row| row.date).min()?;
    let last = rows.iter().map(|row| row.date).max()?;
    let days = chrono::Days::new(u64::from(days));
    Some((first.checked_sub_days(days).unwrap_or(first), last.checked_add_days(days).unwrap_or(last)))
}

/// One line of the book in an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct OurLine {
    pub position: u64,
    /// `<position>-<entry>`, as the ledger names it.
    pub entry_id: String,
    pub line: u32,
    pub date: String,
    /// Debit positive, credit negative.
    pub amount: String,
}

/// One row of the statement in an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TheirLine {
    /// Its row in the file (1: the first row of data).
    pub row: u32,
    pub date: String,
    /// Money in positive, money out negative.
    pub amount: String,
    pub reference: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupBody {
    /// `one_to_one`, `one_to_many` (one line of ours, several rows), `many_to_one` or
    /// `suggested`.
    pub kind: String,
    pub ours: Vec<OurLine>,
    pub theirs: Vec<TheirLine>,
    /// The statement's rows less our lines: within the tolerance for a match; for a suggestion,
    /// what an approved manual journal entry would settle.
    pub difference: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToleranceBody {
    /// How far a match's amounts may differ, `"0.00"` for none.
    pub amount: String,
    /// How many days its dates may differ (0 to 31).
    pub days: u32,
}

/// A reconciliation: a dry run's (no `id`, nothing stored) or a recorded one's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReconciliationBody {
    /// The recorded reconciliation's id (`GET /v1/reconciliations/{id}`); null for a dry run.
    pub id: Option<String>,
    pub dry_run: bool,
    pub book: String,
    pub account: String,
    /// `csv`, `camt053` or `alipay`.
    pub format: String,
    /// SHA-256 (hex) of the statement file as it was sent.
    pub statement_sha256: String,
    pub tolerance: ToleranceBody,
    /// The book's lines considered are those at or before this position.
    pub through_position: u64,
    /// The position of the recorded reconciliation's event; null for a dry run.
    pub position: Option<u64>,
    pub matched: Vec<GroupBody>,
    /// Lines of the book in the statement's dates (widened by the tolerance) that nothing matched.
    pub unmatched_ours: Vec<OurLine>,
    /// Rows of the statement that nothing matched.
    pub unmatched_theirs: Vec<TheirLine>,
    /// Pairs of unmatched lines a person should look at; settled, if they must be, by an
    /// approved manual journal entry (`POST /v1/books/{org_id}/entries`), never by the
    /// reconciliation.
    pub suggestions: Vec<GroupBody>,
}

/// What a reconciliation is about, for its answer.
pub struct Heading<'a> {
    pub id: Option<String>,
    pub book: OrgId,
    pub account: &'a AccountCode,
    pub format: StatementFormat,
    pub statement_sha256: &'a str,
    pub tolerance: Tolerance,
    pub through_position: u64,
    pub position: Option<u64>,
}

fn our_line(item: &LedgerItem) -> OurLine {
    OurLine {
        position: item.position,
        entry_id: format!("{}-{}", item.position, item.entry),
        line: item.line,
        date: item.date.to_string(),
        amount: item.amount.to_string(),
    }
}

fn their_line(row: &StatementRow) -> TheirLine {
    TheirLine {
        row: row.row,
        date: row.date.to_string(),
        amount: row.amount.to_string(),
        reference: row.reference.clone(),
    }
}

/// The answer for a statement, the lines it was matched against and the groups found.
pub fn answer(
    heading: Heading<'_>,
    statement: &[StatementRow],
    ledger: &[LedgerItem],
    groups: &[MatchGroup],
) -> ReconciliationBody {
    let group = |group: &MatchGroup| GroupBody {
        kind: group.kind.as_str().to_owned(),
        ours: group.ledger.iter().filter_map(|&index| ledger.get(index as usize)).map(our_line).collect(),
        theirs: group.statement.iter().filter_map(|&index| statement.get(index as usize)).map(their_line).collect(),
        difference: group.difference.to_string(),
    };
    let (unmatched_ours, unmatched_theirs) = reconcile::unmatched(groups, ledger.len(), statement.len());
    ReconciliationBody {
        id: heading.id,
        dry_run: heading.position.is_none(),
        book: heading.book.to_string(),
        account: heading.account.to_string(),
        format: heading.format.as_str().to_owned(),
        statement_sha256: heading.statement_sha256.to_owned(),
        tolerance: ToleranceBody { amount: heading.tolerance.amount.to_string(), days: heading.tolerance.days },
        through_position: heading.through_position,
        position: heading.position,
        matched: groups.iter().filter(|group| group.kind != MatchKind::Suggested).map(group).collect(),
        unmatched_ours: unmatched_ours.iter().map(|&index| our_line(&ledger[index as usize])).collect(),
        unmatched_theirs: unmatched_theirs.iter().map(|&index| their_line(&statement[index as usize])).collect(),
        suggestions: groups.iter().filter(|group| group.kind == MatchKind::Suggested).map(group).collect(),
    }
}

/// The answer as lines of text (`kboss reconcile`): a summary, then each group and each line
/// left unmatched, tab-separated.
pub fn render_text(body: &ReconciliationBody) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let what = match &body.id {
        Some(id) => format!("reconciliation {id} (recorded at position {})", body.position.unwrap_or_default()),
        None => "dry run (nothing recorded)".to_owned(),
    };
    let _ = writeln!(
        text,
        "{what}: book {} account {}, {} statement {}, tolerance {} and {} days, the book's lines through position {}",
        body.book,
        body.account,
        body.format,
        body.statement_sha256,
        body.tolerance.amount,
        body.tolerance.days,
        body.through_position
    );
    let _ = writeln!(
        text,
        "{} matched, {} of ours unmatched, {} of theirs unmatched, {} suggestions",
        body.matched.len(),
        body.unmatched_ours.len(),
        body.unmatched_theirs.len(),
        body.suggestions.len()
    );
    let lines = |group: &GroupBody| {
        let ours: Vec<String> =
            group.ours.iter().map(|line| format!("{} {} {}", line.entry_id, line.date, line.amount)).collect();
        let theirs: Vec<String> =
            group.theirs.iter().map(|row| format!("row {} {} {}", row.row, row.date, row.amount)).collect();
        format!("{}\t{}\t{}", ours.join(", "), theirs.join(", "), group.difference)
    };
    for group in &body.matched {
        let _ = writeln!(text, "matched\t{}\t{}", group.kind, lines(group));
    }
    for group in &body.suggestions {
        let _ = writeln!(text, "suggested\t{}", lines(group));
    }
    for line in &body.unmatched_ours {
        let _ = writeln!(text, "unmatched_ours\t{}\t{}\t{}", line.entry_id, line.date, line.amount);
    }
    for row in &body.unmatched_theirs {
        let _ = writeln!(text, "unmatched_theirs\trow {}\t{}\t{}\t{}", row.row, row.date, row.amount, row.reference);
    }
    text
}

/// SHA-256 (hex) of a statement's text.
pub fn statement_hash(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_amounts_read_as_banks_write_them() {
        let read = |text: &str| statement_amount(text).map(|amount| amount.to_string());
        assert_eq!(read("1,234.50").as_deref(), Ok("1234.50"));
        assert_eq!(read("(12.00)").as_deref(), Ok("-12.00"));
        assert_eq!(read(" -3 ").as_deref(), Ok("-3.00"));
        assert_eq!(read("+0.5").as_deref(), Ok("0.50"));
        assert!(read("1.234").is_err());
        assert!(read("abc").is_err());
    }

    #[test]
    fn a_camt053_entry_in_another_currency_or_without_a_date_is_named() {
        let entry = |amount: &str, date: &str| {
            format!(
                "<Document><BkToCstmrStmt><Stmt><Ntry><Amt Ccy=\"{amount}\">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>\
                 {date}</Ntry></Stmt></BkToCstmrStmt></Document>"
            )
        };
        let error = parse_camt053(&entry("USD", "<BookgDt><Dt>2026-01-02</Dt></BookgDt>"), Currency::CNY).unwrap_err();
        assert_eq!(error, "Ntry 1: its Amt is in \"USD\", the book's currency is CNY");
        assert_eq!(parse_camt053(&entry("CNY", ""), Currency::CNY).unwrap_err(), "Ntry 1: no BookgDt or ValDt");
        assert!(parse_camt053("<Document><Ntry>", Currency::CNY).unwrap_err().contains("ends inside"));
    }
}
