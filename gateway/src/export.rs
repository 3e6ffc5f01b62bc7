//! A book's journal as a file a finance person can read: CSV (one row per line) or Beancount
//! (one transaction per entry, every account opened first, amounts in the book's currency,
//! debits positive), so that `bean-check` accepts it and its balances equal the trial balance
//! over the same lines. Both name what the ids stand for: the account's name, the party's name,
//! the order and the business reference of the event (a recharge's slip, a refund's reason, a
//! statement's id), and link each line to its event in the log (position and hash).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use chrono::NaiveDate;
use ledger_core::chart::AccountType;
use ledger_core::ids::OrgId;
use ledger_core::org::OrgKind;
use projections::{JournalEventView, LedgerLine, LedgerQuery, OrgView, ReadModels, TrialBalanceAccount};
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

    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Beancount => "beancount",
        }
    }
}

/// An export: the file's text, and how a download names it.
pub struct ExportFile {
    pub text: String,
    /// `attachment; filename="<book>-<from>-<to>.<csv|beancount>"` (see [`content_disposition`]).
    pub content_disposition: String,
}

/// An account of the book: its name in the chart, its Beancount name (`Assets:BankDeposits`)
/// and its trial-balance totals as of the export's last day.
struct AccountInfo {
    name: String,
    beancount: String,
    debit: Decimal,
    credit: Decimal,
}

/// A party of the book: its name, and the last component of its Beancount accounts
/// (`Customer-C` in `Liabilities:CustomerPrepayments:Customer-C`), unique in the book.
struct Party {
    name: String,
    beancount: String,
}

/// What the export shows beside the lines: the book's name and currency, its accounts and
/// parties by name, and what the journal keeps of each event (hash, order, reference).
struct Book {
    name: String,
    currency: String,
    accounts: BTreeMap<String, AccountInfo>,
    parties: BTreeMap<OrgId, Party>,
    events: HashMap<u64, JournalEventView>,
}

impl Book {
    /// Every line's account is in the book's chart and its party among the book's parties: the
    /// read models keep them with the lines, so a miss is corruption (a logged 500), never a
    /// line shown without its name. The lookups below rely on it.
    fn check(&self, lines: &[LedgerLine]) -> Result<(), ApiError> {
        for line in lines {
            if !self.accounts.contains_key(line.account.as_str()) {
                return Err(ApiError::Internal(format!(
                    "line {} is on account {}, not in the chart",
                    line.entry_id, line.account
                )));
            }
            if let Some(party) = line.party.filter(|party| !self.parties.contains_key(party)) {
                return Err(ApiError::Internal(format!(
                    "line {} names party {party}, not a party of the book",
                    line.entry_id
                )));
            }
        }
        Ok(())
    }

    fn account(&self, code: &str) -> &AccountInfo {
        &self.accounts[code]
    }

    fn party_name(&self, line: &LedgerLine) -> &str {
        line.party.map_or("", |party| self.parties[&party].name.as_str())
    }

    /// The Beancount account of a line: its account's (`Liabilities:CustomerPrepayments`), with
    /// the party's component below it (`…:Customer-C`).
    fn beancount_account(&self, line: &LedgerLine) -> String {
        let account = &self.account(line.account.as_str()).beancount;
        match line.party {
            Some(party) => format!("{account}:{}", self.parties[&party].beancount),
            None => account.clone(),
        }
    }

    /// `RechargeConfirmed: slip 42`, `OrderRefunded: partial, order <id>`, `OrderPaid: order <id>`.
    fn narration(&self, line: &LedgerLine) -> String {
        let event = self.events.get(&line.position);
        let reference = event.and_then(|event| event.reference.clone());
        let order = event.and_then(|event| event.order_id).map(|order| format!("order {order}"));
        let details: Vec<String> = reference.into_iter().chain(order).collect();
        if details.is_empty() {
            line.event_type.clone()
        } else {
            format!("{}: {}", line.event_type, details.join(", "))
        }
    }
}

/// Reads the book's lines dated `from..=to`, with the names they show, and renders them.
pub async fn export_book(
    read: &ReadModels,
    book: OrgId,
    format: ExportFormat,
    from: Option<NaiveDate>,
    to: NaiveDate,
    lines_max: usize,
) -> Result<ExportFile, ApiError> {
    let not_found = || ApiError::NotFound { what: "book" };
    let org = read.org(book).await?.ok_or_else(not_found)?;
    let chart = read.trial_balance(book, to).await?.ok_or_else(not_found)?;
    let parties = read.book_parties(book).await?;
    let mut lines = Vec::new();
    let mut events = HashMap::new();
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
        if let (Some(first), Some(last)) = (page.items.first(), page.items.last()) {
            for event in read.journal_events(book, first.position, last.position).await? {
                events.insert(event.position, event);
            }
        }
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
    let names = Book {
        name: org.name.clone(),
        currency: chart.currency.to_string(),
        accounts: accounts(chart.accounts),
        parties: beancount_parties(&parties),
        events,
    };
    names.check(&lines)?;
    let text = match format {
        ExportFormat::Csv => csv(&lines, &names),
        ExportFormat::Beancount => beancount(&lines, &names, from, to),
    };
    Ok(ExportFile { text, content_disposition: content_disposition(&org, format, from, to) })
}

/// A text field of the CSV export (RFC 4180): quoted when it holds a comma, a quote, CR or LF.
/// A field a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or CR:
/// names are tenants' input) gets a leading `'`, which spreadsheets show as text (OWASP's
/// advice against CSV injection). The operation log's CSV writes its fields with it too.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The CSV header: the columns of the first version, then the names and links a person reads.
const CSV_HEADER: &str = "position,entry_id,date,account,account_name,party,debit,credit,event_type,rule_id,pair_id,\
                          party_name,order_id,reference,narration,event_hash";

fn csv(lines: &[LedgerLine], book: &Book) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for line in lines {
        let event = book.events.get(&line.position);
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            line.position,
            line.entry_id,
            line.date,
            line.account,
            csv_field(&book.account(line.account.as_str()).name),
            line.party.map(|party| party.to_string()).unwrap_or_default(),
            line.debit,
            line.credit,
            line.event_type,
            csv_field(&line.rule_id),
            line.pair_id.clone().unwrap_or_default(),
            csv_field(book.party_name(line)),
            event.and_then(|event| event.order_id).map(|order| order.to_string()).unwrap_or_default(),
            csv_field(event.and_then(|event| event.reference.as_deref()).unwrap_or_default()),
            csv_field(&book.narration(line)),
            event.map_or("", |event| event.event_hash.as_str()),
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

/// The ASCII letters and digits of each word of `name` (words are split at anything that is
/// not a letter or digit), and whether letters or digits outside ASCII were dropped: Beancount
/// account components hold ASCII letters, digits and `-` only, and we transliterate nothing.
fn ascii_words(name: &str) -> (Vec<String>, bool) {
    let lossy = name.chars().any(|character| character.is_alphanumeric() && !character.is_ascii());
    let words = name
        .split(|character: char| !character.is_alphanumeric())
        .map(|word| word.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
        .filter(|word| !word.is_empty())
        .collect();
    (words, lossy)
}

/// `text` with its first character upper case: a Beancount component starts with an upper-case
/// letter or a digit.
fn capitalised(text: &str) -> String {
    let mut characters = text.chars();
    characters.next().map_or_else(String::new, |first| first.to_ascii_uppercase().to_string() + characters.as_str())
}

/// `A6001-99`: an account known by its code alone.
fn code_component(code: &str) -> String {
    format!("A{}", code.replace('.', "-"))
}

/// The first of `candidates` that is not taken yet (taking it); if every one is, the last one
/// numbered `-2`, `-3`, ... until one is free. Names are tenants' input, so two of them may
/// well be alike, or crafted to look like another's suffixed form: nothing ever merges.
fn unique(taken: &mut BTreeSet<String>, candidates: &[String]) -> String {
    for candidate in candidates {
        if taken.insert(candidate.clone()) {
            return candidate.clone();
        }
    }
    let last = candidates.last().map_or("X", String::as_str);
    let mut number = 2_u64;
    loop {
        let candidate = format!("{last}-{number}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        number += 1;
    }
}

/// The book's accounts by code, each with a unique Beancount name from its chart name in
/// CamelCase under its type's root (`Liabilities:CustomerPrepayments` for "Customer prepayments
/// 预收账款"); a name without ASCII letters or digits gives `A<code>`, and a name already taken
/// (two accounts alike) gets its code appended, in code order.
fn accounts(chart: Vec<TrialBalanceAccount>) -> BTreeMap<String, AccountInfo> {
    let mut taken = BTreeSet::new();
    let mut accounts = BTreeMap::new();
    for account in chart {
        let code = account.code.to_string();
        let root = root(account.account_type);
        let (words, _) = ascii_words(&account.name);
        let component: String = words.iter().map(|word| capitalised(word)).collect();
        let coded = code_component(&code);
        let candidates: Vec<String> = if component.is_empty() {
            vec![format!("{root}:{coded}")]
        } else {
            vec![format!("{root}:{component}"), format!("{root}:{component}-{}", code.replace('.', "-"))]
        };
        let beancount = unique(&mut taken, &candidates);
        let info = AccountInfo {
            name: account.name,
            beancount,
            debit: account.debit.as_decimal(),
            credit: account.credit.as_decimal(),
        };
        accounts.insert(code, info);
    }
    accounts
}

/// The word a party is known by when its name has no ASCII letter or digit.
fn kind_word(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Platform => "Platform",
        OrgKind::Reseller => "Reseller",
        OrgKind::Customer => "Customer",
        OrgKind::Supplier => "Supplier",
    }
}

/// The book's parties, each with a Beancount component unique in the book: its name's words
/// joined by `-` (`Customer-C`). A name that lost letters outside ASCII (a Chinese name) or has
/// none (then its kind stands for it: `Customer`) carries the last 8 hex digits of its id
/// (`Customer-5f3a9c01`), and so does a party whose name an earlier one already took; then the
/// whole id, then a number. Parties come in the order they were opened, so a party keeps its
/// name when a namesake joins the book later.
fn beancount_parties(parties: &[OrgView]) -> BTreeMap<OrgId, Party> {
    let mut taken = BTreeSet::new();
    let mut named = BTreeMap::new();
    for party in parties {
        let (words, lossy) = ascii_words(&party.name);
        let base = if words.is_empty() { kind_word(party.kind).to_owned() } else { capitalised(&words.join("-")) };
        let hex = party.id.0.simple().to_string();
        let short = &hex[hex.len() - 8..];
        let mut candidates = Vec::with_capacity(3);
        if !lossy && !words.is_empty() {
            candidates.push(base.clone());
        }
        candidates.push(format!("{base}-{short}"));
        candidates.push(format!("{base}-{hex}"));
        let beancount = unique(&mut taken, &candidates);
        named.insert(party.id, Party { name: party.name.clone(), beancount });
    }
    named
}

/// A Beancount string: quotes and backslashes escaped, line breaks and tabs as spaces (one
/// directive per line).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            character if character.is_control() => out.push(' '),
            character => out.push(character),
        }
    }
    out.push('"');
    out
}

/// The journal as Beancount. Accounts are named after the chart and the parties
/// (`Liabilities:CustomerPrepayments:Customer-C`), each opened with its code and names as
/// metadata; each transaction's narration names its order and reference, and its metadata its
/// position, entry, event type and event hash. For a whole book (no `from`), each account used
/// ends with a `balance` assertion of our trial balance as of `to`, so `bean-check` itself proves
/// that the export's balances equal ours (an assertion on `Liabilities:CustomerPrepayments`
/// covers its parties).
fn beancount(lines: &[LedgerLine], book: &Book, from: Option<NaiveDate>, to: NaiveDate) -> String {
    let currency = &book.currency;
    let mut out = format!("option \"title\" {}\noption \"operating_currency\" \"{currency}\"\n\n", quoted(&book.name));
    let codes: BTreeSet<&str> = lines.iter().map(|line| line.account.as_str()).collect();
    let mut opened: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    for code in &codes {
        let account = book.account(code);
        opened.insert(account.beancount.clone(), vec![("code", quoted(code)), ("name", quoted(&account.name))]);
    }
    for line in lines.iter().filter(|line| line.party.is_some()) {
        opened.entry(book.beancount_account(line)).or_insert_with(|| {
            let party = line.party.map(|party| party.to_string()).unwrap_or_default();
            vec![
                ("code", quoted(line.account.as_str())),
                ("party_id", quoted(&party)),
                ("party_name", quoted(book.party_name(line))),
            ]
        });
    }
    if let Some(opened_on) = lines.iter().map(|line| line.date).min().or(from) {
        for (account, metadata) in &opened {
            let _ = writeln!(out, "{opened_on} open {account} {currency}");
            for (key, value) in metadata {
                let _ = writeln!(out, "  {key}: {value}");
            }
        }
        out.push('\n');
    }
    for entry in lines.chunk_by(|a, b| a.entry_id == b.entry_id) {
        let first = &entry[0];
        let _ = writeln!(out, "{} * {}", first.date, quoted(&book.narration(first)));
        let _ = writeln!(out, "  position: {}", first.position);
        let _ = writeln!(out, "  entry_id: {}", quoted(&first.entry_id));
        let _ = writeln!(out, "  event_type: {}", quoted(&first.event_type));
        if let Some(event) = book.events.get(&first.position) {
            let _ = writeln!(out, "  event_hash: {}", quoted(&event.event_hash));
        }
        for line in entry {
            let amount = line.debit.as_decimal() - line.credit.as_decimal();
            let _ = writeln!(out, "  {}  {amount:.2} {currency}", book.beancount_account(line));
        }
        out.push('\n');
    }
    if from.is_none() {
        if let Some(day_after) = to.succ_opt() {
            for code in codes {
                let account = book.account(code);
                let balance = account.debit - account.credit;
                let _ = writeln!(out, "{day_after} balance {} {balance:.2} {currency}", account.beancount);
            }
        }
    }
    out
}

/// Characters RFC 5987 lets through unencoded in an extended parameter value (`attr-char`).
fn is_attr_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte)
}

/// `attachment; filename="<book>-<from>-<to>.<ext>"`: the book's name in safe ASCII (letters,
/// digits, `-`, `_`, `.`; its id when nothing of it is left), `start` for an export from the
/// book's first line. A name that is not plain ASCII (a Chinese name) is also given whole, as
/// RFC 5987's `filename*=UTF-8''…` (RFC 6266), which browsers prefer.
pub fn content_disposition(book: &OrgView, format: ExportFormat, from: Option<NaiveDate>, to: NaiveDate) -> String {
    let from = from.map_or_else(|| "start".to_owned(), |from| from.to_string());
    attachment(book, &format!("-{from}-{to}.{}", format.extension()))
}

/// `attachment; filename="<book><tail>"`, the book's name as [`content_disposition`] writes it
/// (`tail` is ASCII: `-operations-2026-01-01-2026-01-31.csv`).
pub fn attachment(book: &OrgView, tail: &str) -> String {
    let mut ascii = String::new();
    for character in book.name.chars() {
        let kept = character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.');
        let character = if kept { character } else { '-' };
        if !(character == '-' && (ascii.is_empty() || ascii.ends_with('-'))) {
            ascii.push(character);
        }
    }
    let ascii = ascii.trim_matches(['-', '.']);
    let ascii = if ascii.is_empty() { book.id.to_string() } else { ascii.to_owned() };
    let mut header = format!("attachment; filename=\"{ascii}{tail}\"");
    if !book.name.is_ascii() {
        let whole: String = book
            .name
            .chars()
            .map(|character| if character.is_control() || matches!(character, '/' | '\\') { '-' } else { character })
            .collect();
        header.push_str("; filename*=UTF-8''");
        for byte in format!("{whole}{tail}").bytes() {
            if is_attr_char(byte) {
                header.push(char::from(byte));
            } else {
                let _ = write!(header, "%{byte:02X}");
            }
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn org(id: &str, kind: OrgKind, name: &str) -> OrgView {
        OrgView {
            id: id.parse().unwrap(),
            kind,
            name: name.to_owned(),
            parent_id: None,
            currency: ledger_core::money::Currency::CNY,
            owner_id: None,
        }
    }

    #[test]
    fn parties_get_readable_unique_beancount_components() {
        let parties = [
            org("00000000-0000-7000-8000-00000000000a", OrgKind::Customer, "Customer C"),
            org("00000000-0000-7000-8000-00000000000b", OrgKind::Customer, "Customer C"),
            org("00000000-0000-7000-8000-00000000000c", OrgKind::Customer, "华为云"),
            org("00000000-0000-7000-8000-00000000000d", OrgKind::Supplier, "华为 cloud (CN)"),
            org("00000000-0000-7000-8000-00000000000e", OrgKind::Customer, "Customer-C-0000000b"),
            org("00000000-0000-7000-8000-00000000000f", OrgKind::Reseller, "r2"),
        ];
        let named = beancount_parties(&parties);
        let components: Vec<&str> = parties.iter().map(|party| named[&party.id].beancount.as_str()).collect();
        assert_eq!(
            components,
            [
                "Customer-C",
                "Customer-C-0000000b",
                "Customer-0000000c",
                "Cloud-CN-0000000d",
                "Customer-C-0000000b-0000000e",
                "R2",
            ]
        );
        // A namesake whose suffixed forms are all taken is numbered.
        let crafted = [
            org("00000000-0000-7000-8000-000000000001", OrgKind::Customer, "X"),
            org("00000000-0000-7000-8000-000000000002", OrgKind::Customer, "X-00000003"),
            org("00000000-0000-7000-8000-000000000004", OrgKind::Customer, "X 00000000000070008000000000000003"),
            org("00000000-0000-7000-8000-000000000003", OrgKind::Customer, "X"),
        ];
        let named = beancount_parties(&crafted);
        assert_eq!(named[&crafted[3].id].beancount, "X-00000000000070008000000000000003-2");
    }

    #[test]
    fn a_download_is_named_after_the_book_and_the_period() {
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        let id = "00000000-0000-7000-8000-00000000000a";
        let header = |name: &str, format, from| {
            content_disposition(&org(id, OrgKind::Reseller, name), format, from, day("2026-01-31"))
        };
        assert_eq!(
            header("R2 \"East\"/West", ExportFormat::Csv, Some(day("2026-01-01"))),
            "attachment; filename=\"R2-East-West-2026-01-01-2026-01-31.csv\""
        );
        assert_eq!(
            header("华东", ExportFormat::Beancount, None),
            format!(
                "attachment; filename=\"{id}-start-2026-01-31.beancount\"; \
                 filename*=UTF-8''%E5%8D%8E%E4%B8%9C-start-2026-01-31.beancount"
            )
        );
    }
}
