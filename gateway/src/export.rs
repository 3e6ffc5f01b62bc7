//! A book's journal as a file: CSV (one row per line) or Beancount (one transaction per entry,
//! every account opened first, amounts in the book's currency, debits positive), so that
//! `bean-check` accepts it and its balances equal the trial balance over the same lines.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chrono::NaiveDate;
use ledger_core::chart::AccountType;
use ledger_core::ids::OrgId;
use projections::{LedgerLine, LedgerQuery, ReadModels};
use rust_decimal::Decimal;

use crate::error::ApiError;

/// Lines one export may hold; a larger book is exported period by period.
pub const EXPORT_LINES_MAX: usize = 2_000_000;
/// Lines read per page while exporting.
pub const EXPORT_PAGE_LINES: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Beancount,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Beancount => "text/plain; charset=utf-8",
        }
    }
}

/// What the export needs to know of each account of the book, with its trial-balance totals
/// as of the export's last day.
pub struct AccountInfo {
    pub name: String,
    pub account_type: AccountType,
    pub debit: Decimal,
    pub credit: Decimal,
}

/// Reads the book's lines dated `from..=to` and renders them.
pub async fn export_book(
    read: &ReadModels,
    book: OrgId,
    format: ExportFormat,
    from: Option<NaiveDate>,
    to: NaiveDate,
    lines_max: usize,
) -> Result<String, ApiError> {
    let chart = read.trial_balance(book, to).await?.ok_or(ApiError::NotFound { what: "book" })?;
    let currency = chart.currency.to_string();
    let accounts: BTreeMap<String, AccountInfo> = chart
        .accounts
        .into_iter()
        .map(|account| {
            let info = AccountInfo {
                name: account.name,
                account_type: account.account_type,
                debit: account.debit.as_decimal(),
                credit: account.credit.as_decimal(),
            };
            (account.code.to_string(), info)
        })
        .collect();
    let mut lines = Vec::new();
    let mut cursor = None;
    loop {
        let query = LedgerQuery {
            book,
            account: None,
            party: None,
            from,
            to: Some(to),
            cursor: cursor.take(),
            limit: EXPORT_PAGE_LINES,
        };
        let page = read.ledger(&query).await?;
        lines.extend(page.items);
        if lines.len() > lines_max {
            return Err(ApiError::invalid(
                "export_too_large",
                "from",
                format!("more than {lines_max} lines; export a shorter period"),
            ));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(match format {
        ExportFormat::Csv => csv(&lines, &accounts),
        ExportFormat::Beancount => beancount(&lines, &accounts, &currency, from, to),
    })
}

/// A text field of the CSV export (RFC 4180): quoted when it holds a comma, a quote, CR or LF.
/// A field a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or CR:
/// names are tenants' input) gets a leading `'`, which spreadsheets show as text (OWASP's
/// advice against CSV injection).
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub fn csv(lines: &[LedgerLine], accounts: &BTreeMap<String, AccountInfo>) -> String {
    let mut out =
        String::from("position,entry_id,date,account,account_name,party,debit,credit,event_type,rule_id,pair_id\n");
    for line in lines {
        let code = line.account.to_string();
        let name = accounts.get(&code).map_or("", |account| account.name.as_str());
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            line.position,
            line.entry_id,
            line.date,
            code,
            csv_field(name),
            line.party.map(|party| party.to_string()).unwrap_or_default(),
            line.debit,
            line.credit,
            line.event_type,
            csv_field(&line.rule_id),
            line.pair_id.clone().unwrap_or_default(),
        );
    }
    out
}

fn root(account_type: AccountType) -> &'static str {
    match account_type {
        AccountType::Asset => "Assets",
        AccountType::Liability => "Liabilities",
        AccountType::Equity => "Equity",
        AccountType::Revenue | AccountType::ContraRevenue => "Income",
        AccountType::Expense => "Expenses",
    }
}

fn account_root(code: &str, accounts: &BTreeMap<String, AccountInfo>) -> String {
    let account_type = accounts.get(code).map_or(AccountType::Asset, |account| account.account_type);
    let component: String =
        code.chars().map(|character| if character.is_ascii_alphanumeric() { character } else { '-' }).collect();
    format!("{}:A{component}", root(account_type))
}

/// `Assets:A1002` or, with a party, `Liabilities:A2203:P<UUID hex>`: Beancount components start
/// with a capital letter or digit and hold letters, digits and `-` only.
fn beancount_account(code: &str, party: Option<OrgId>, accounts: &BTreeMap<String, AccountInfo>) -> String {
    let mut name = account_root(code, accounts);
    if let Some(party) = party {
        let _ = write!(name, ":P{}", party.0.simple().to_string().to_ascii_uppercase());
    }
    name
}

/// The journal as Beancount. For a whole book (no `from`), each account used ends with a
/// `balance` assertion of our trial balance as of `to`, so `bean-check` itself proves that the
/// export's balances equal ours (an assertion on `Liabilities:A2203` covers its parties).
pub fn beancount(
    lines: &[LedgerLine],
    accounts: &BTreeMap<String, AccountInfo>,
    currency: &str,
    from: Option<NaiveDate>,
    to: NaiveDate,
) -> String {
    let mut out = format!("option \"title\" \"KBOSS Ledger export\"\noption \"operating_currency\" \"{currency}\"\n\n");
    let codes: BTreeSet<&str> = lines.iter().map(|line| line.account.as_str()).collect();
    let mut used: BTreeSet<String> =
        lines.iter().map(|line| beancount_account(line.account.as_str(), line.party, accounts)).collect();
    used.extend(codes.iter().map(|code| account_root(code, accounts)));
    let opened_on = lines.iter().map(|line| line.date).min().or(from);
    if let Some(opened_on) = opened_on {
        for account in &used {
            let _ = writeln!(out, "{opened_on} open {account} {currency}");
        }
        out.push('\n');
    }
    let mut index = 0;
    while index < lines.len() {
        let entry_id = &lines[index].entry_id;
        let end = lines[index..]
            .iter()
            .position(|line| &line.entry_id != entry_id)
            .map_or(lines.len(), |offset| index + offset);
        let first = &lines[index];
        let _ = writeln!(
            out,
            "{} * \"{}\" \"position {} entry {}\"",
            first.date, first.event_type, first.position, first.entry_id
        );
        for line in &lines[index..end] {
            let account = beancount_account(line.account.as_str(), line.party, accounts);
            let amount = line.debit.as_decimal() - line.credit.as_decimal();
            let _ = writeln!(out, "  {account}  {amount:.2} {currency}");
        }
        out.push('\n');
        index = end;
    }
    if from.is_none() {
        if let Some(day_after) = to.succ_opt() {
            for code in codes {
                let balance = accounts.get(code).map_or(Decimal::ZERO, |account| account.debit - account.credit);
                let _ = writeln!(out, "{day_after} balance {} {balance:.2} {currency}", account_root(code, accounts));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_read_as_formulas() {
        assert_eq!(csv_field("Bank"), "Bank");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("line\r\nbreak"), "\"line\r\nbreak\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tcmd"), "'\tcmd");
    }
}
