//! Portable SQL: one statement text for SQLite and PostgreSQL, with parameters that are integers,
//! text or null. Projections produce [`Statement`]s; backends only execute them and read [`Row`]s.
//!
//! Portability rules every statement follows: `$n` placeholders (rewritten to `?n` for SQLite),
//! amounts as BIGINT minor units, dates `YYYY-MM-DD`, ids and timestamps as TEXT, upserts with
//! `ON CONFLICT … DO UPDATE`, sums wrapped in `CAST(… AS BIGINT)` (PostgreSQL's SUM of bigint is
//! numeric), and a parameter used where its type cannot be inferred is wrapped in `CAST`.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ledger_core::money::{Amount, SignedAmount, Total};
use rust_decimal::Decimal;

use crate::ReadError;

/// A parameter or a column value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SqlValue {
    Integer(i64),
    Text(String),
    Null,
}

impl SqlValue {
    pub fn text(value: impl ToString) -> SqlValue {
        SqlValue::Text(value.to_string())
    }

    pub fn optional_text<T: ToString>(value: Option<T>) -> SqlValue {
        value.map_or(SqlValue::Null, |value| SqlValue::Text(value.to_string()))
    }

    pub fn amount(value: Amount) -> SqlValue {
        SqlValue::Integer(value.to_minor())
    }

    /// `YYYY-MM-DD`: chrono's `Display` writes exactly `%Y-%m-%d`, without parsing a format
    /// string for every value (a visible cost when a chunk writes tens of thousands of dates).
    pub fn date(value: NaiveDate) -> SqlValue {
        SqlValue::Text(value.to_string())
    }

    pub fn timestamp(value: DateTime<Utc>) -> SqlValue {
        SqlValue::Text(value.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn position(value: u64) -> SqlValue {
        SqlValue::Integer(i64::try_from(value).expect("positions fit in BIGINT"))
    }
}

impl std::fmt::Display for SqlValue {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlValue::Integer(value) => write!(formatter, "{value}"),
            SqlValue::Text(value) => write!(formatter, "{value:?}"),
            SqlValue::Null => formatter.write_str("NULL"),
        }
    }
}

/// One SQL statement with its parameters, in the portable dialect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub params: Vec<SqlValue>,
    /// Set on an upsert that adds its integer parameters after the first `n` (the row's key) to
    /// that row. Such statements commute, so the backend sums a chunk's into one per key: a chunk
    /// touching one balance a thousand times updates it once (PostgreSQL pays for every version
    /// of a row updated again in one transaction).
    pub additive_key_len: Option<usize>,
}

impl Statement {
    pub fn new(sql: &'static str, params: Vec<SqlValue>) -> Statement {
        Statement { sql: Cow::Borrowed(sql), params, additive_key_len: None }
    }

    /// A statement whose text is built for the query (conditions that depend on its filters).
    pub fn dynamic(sql: String, params: Vec<SqlValue>) -> Statement {
        Statement { sql: Cow::Owned(sql), params, additive_key_len: None }
    }

    /// An additive upsert: the first `key_len` parameters are the key, the rest integer addends.
    pub fn additive(sql: &'static str, params: Vec<SqlValue>, key_len: usize) -> Statement {
        assert!(params[key_len..].iter().all(|param| matches!(param, SqlValue::Integer(_))), "addends are integers");
        Statement { sql: Cow::Borrowed(sql), params, additive_key_len: Some(key_len) }
    }
}

/// The portable text with `$n` rewritten to SQLite's `?n`. A `$` is never used otherwise in the
/// statements of this crate (no dollar quoting, no `$` in literals).
pub fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Parameters per multi-row statement at most: under SQLite's 32,766 and PostgreSQL's 65,535.
pub const PARAMS_PER_STATEMENT_MAX: usize = 30_000;
/// Rows per multi-row statement at most: past this, longer texts stop paying.
pub const ROWS_PER_STATEMENT_MAX: usize = 512;

/// How to split `count` rows into statements of at most `max` rows: as many of `max` as fit,
/// then the remainder in powers of two. A statement's text depends on its row count, so this
/// keeps the distinct texts (each prepared and cached per connection) to a handful per table.
pub fn statement_sizes(count: usize, max: usize) -> Vec<usize> {
    let max = max.max(1);
    let mut sizes = vec![max; count / max];
    let remainder = count % max;
    sizes.extend((0..usize::BITS).rev().map(|bit| 1_usize << bit).filter(|size| remainder & size != 0));
    sizes
}

/// An `INSERT … VALUES (…) …` statement cut around its one row: the text before `VALUES`, the
/// row's template and the text after it. `None` when the statement must run alone: not an
/// insert that ignores conflicts or adds to distinct keys (PostgreSQL refuses to update a row
/// twice in one statement), a subquery or call in the row (a subquery would not see the
/// statement's own earlier rows), or placeholders outside the row or not one per parameter.
fn insert_parts(statement: &Statement) -> Option<(String, String, String)> {
    let sql: &str = &statement.sql;
    let starts_insert = sql.trim_start().get(..6)?.eq_ignore_ascii_case("INSERT");
    let no_repeated_update = statement.additive_key_len.is_some() || sql.trim_end().ends_with("DO NOTHING");
    if !starts_insert || !no_repeated_update {
        return None;
    }
    let values = sql.find("VALUES (")?;
    let open = values + "VALUES ".len();
    let close = open + sql[open..].find(')')?;
    let (head, row, tail) = (&sql[..values], &sql[open..=close], &sql[close + 1..]);
    let plain_row = !row[1..].contains('(') && row.matches('$').count() == statement.params.len();
    if !plain_row || head.contains('$') || tail.contains('$') {
        return None;
    }
    Some((head.to_owned(), row.to_owned(), tail.to_owned()))
}

/// A row template with its placeholders `$k` moved to `$(k + offset)`.
fn shifted(row: &str, offset: usize, out: &mut String) {
    let mut chars = row.char_indices().peekable();
    while let Some((_, char)) = chars.next() {
        out.push(char);
        if char != '$' {
            continue;
        }
        let mut number = 0_usize;
        while let Some((_, digit)) = chars.peek().filter(|(_, next)| next.is_ascii_digit()) {
            number = number * 10 + digit.to_digit(10).expect("an ASCII digit") as usize;
            chars.next();
        }
        out.push_str(&(number + offset).to_string());
    }
}

/// Runs of consecutive inserts with the same text folded into multi-row statements (see
/// [`statement_sizes`]). Equivalent to running them one by one only if no two rows of a run
/// update the same key (PostgreSQL refuses that in one statement): `insert_parts` ensures it,
/// folding only `DO NOTHING` inserts and additive upserts, whose keys [`crate::backend::Batch`]
/// makes distinct between two flushes.
pub fn multi_row(statements: Vec<Statement>) -> Vec<Statement> {
    let mut folded = Vec::new();
    let mut statements = statements.into_iter().peekable();
    while let Some(first) = statements.next() {
        let parts = insert_parts(&first);
        let Some((head, row, tail)) = parts.filter(|_| statements.peek().is_some_and(|next| next.sql == first.sql))
        else {
            folded.push(first);
            continue;
        };
        let mut run = vec![first.params];
        while let Some(next) = statements.next_if(|next| next.sql == first.sql) {
            run.push(next.params);
        }
        let width = run[0].len().max(1);
        let max = ROWS_PER_STATEMENT_MAX.min(PARAMS_PER_STATEMENT_MAX / width);
        let mut rows = run.into_iter();
        for size in statement_sizes(rows.len(), max) {
            let mut sql = head.clone();
            sql.push_str("VALUES ");
            let mut params = Vec::with_capacity(size * width);
            for (index, row_params) in rows.by_ref().take(size).enumerate() {
                if index > 0 {
                    sql.push_str(", ");
                }
                shifted(&row, index * width, &mut sql);
                params.extend(row_params);
            }
            sql.push_str(&tail);
            folded.push(Statement::dynamic(sql, params));
        }
    }
    folded
}

/// A row read back, with typed getters that report a column of the wrong type as corruption.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row(pub Vec<SqlValue>);

fn corrupt(what: &str, index: usize, value: &SqlValue) -> ReadError {
    ReadError::Corrupt(format!("column {index}: expected {what}, found {value}"))
}

impl Row {
    fn value(&self, index: usize) -> Result<&SqlValue, ReadError> {
        self.0.get(index).ok_or_else(|| ReadError::Corrupt(format!("row has no column {index}")))
    }

    pub fn integer(&self, index: usize) -> Result<i64, ReadError> {
        self.optional_integer(index)?.ok_or_else(|| corrupt("an integer", index, &SqlValue::Null))
    }

    pub fn optional_integer(&self, index: usize) -> Result<Option<i64>, ReadError> {
        match self.value(index)? {
            SqlValue::Integer(value) => Ok(Some(*value)),
            SqlValue::Null => Ok(None),
            other => Err(corrupt("an integer", index, other)),
        }
    }

    pub fn optional_text(&self, index: usize) -> Result<Option<&str>, ReadError> {
        match self.value(index)? {
            SqlValue::Text(value) => Ok(Some(value)),
            SqlValue::Null => Ok(None),
            other => Err(corrupt("text", index, other)),
        }
    }

    pub fn text(&self, index: usize) -> Result<&str, ReadError> {
        self.optional_text(index)?.ok_or_else(|| corrupt("text", index, &SqlValue::Null))
    }

    pub fn parse<T: std::str::FromStr>(&self, index: usize) -> Result<T, ReadError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(index)?;
        text.parse().map_err(|error| ReadError::Corrupt(format!("column {index} {text:?}: {error}")))
    }

    pub fn parse_optional<T: std::str::FromStr>(&self, index: usize) -> Result<Option<T>, ReadError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional_text(index)? {
            None => Ok(None),
            Some(text) => {
                text.parse().map(Some).map_err(|error| ReadError::Corrupt(format!("column {index} {text:?}: {error}")))
            }
        }
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, index: usize) -> Result<T, ReadError> {
        serde_json::from_str(self.text(index)?).map_err(|error| ReadError::Corrupt(format!("column {index}: {error}")))
    }

    pub fn position(&self, index: usize) -> Result<u64, ReadError> {
        let value = self.integer(index)?;
        u64::try_from(value).map_err(|_| ReadError::Corrupt(format!("column {index}: negative position {value}")))
    }

    pub fn amount(&self, index: usize) -> Result<Amount, ReadError> {
        let minor = self.integer(index)?;
        Amount::from_minor(minor).map_err(|error| ReadError::Corrupt(format!("column {index} ({minor}): {error}")))
    }

    pub fn total(&self, index: usize) -> Result<Total, ReadError> {
        let minor = self.integer(index)?;
        Total::from_minor(minor).map_err(|error| ReadError::Corrupt(format!("column {index} ({minor}): {error}")))
    }

    pub fn signed_amount(&self, index: usize) -> Result<SignedAmount, ReadError> {
        Ok(signed_from_minor(self.integer(index)?))
    }

    pub fn date(&self, index: usize) -> Result<NaiveDate, ReadError> {
        self.parse(index)
    }

    pub fn timestamp(&self, index: usize) -> Result<DateTime<Utc>, ReadError> {
        let text = self.text(index)?;
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|error| ReadError::Corrupt(format!("column {index} {text:?}: {error}")))
    }
}

pub fn signed_from_minor(minor: i64) -> SignedAmount {
    SignedAmount::from_decimal(Decimal::new(minor, ledger_core::money::AMOUNT_DECIMALS_MAX))
}

/// Minor units of a signed amount (exact: amounts carry two decimals).
pub fn signed_to_minor(value: SignedAmount) -> i64 {
    let mut decimal = value.as_decimal();
    decimal.rescale(ledger_core::money::AMOUNT_DECIMALS_MAX);
    i64::try_from(decimal.mantissa()).expect("amounts fit in BIGINT minor units")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_for_sqlite() {
        assert_eq!(
            sqlite_placeholders("SELECT a FROM t WHERE b = $1 AND c = $12"),
            "SELECT a FROM t WHERE b = ?1 AND c = ?12"
        );
    }

    #[test]
    fn rows_are_split_into_full_statements_then_powers_of_two() {
        assert_eq!(statement_sizes(0, 512), Vec::<usize>::new());
        assert_eq!(statement_sizes(1_300, 512), vec![512, 512, 256, 16, 4]);
        assert_eq!(statement_sizes(7, 4), vec![4, 2, 1]);
    }

    #[test]
    fn only_inserts_that_cannot_update_a_row_twice_are_folded() {
        const IGNORE: &str = "INSERT INTO t (k, v) VALUES ($1, 'x', $2) ON CONFLICT (k) DO NOTHING";
        const REPLACE: &str = "INSERT INTO t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v";
        const LOOKUP: &str = "INSERT INTO t (k, v) VALUES ($1, (SELECT MAX(v) FROM t) + $2) ON CONFLICT (k) DO NOTHING";
        let row =
            |sql: &'static str, key: i64| Statement::new(sql, vec![SqlValue::Integer(key), SqlValue::Integer(-key)]);
        let statements = vec![
            row(IGNORE, 1),
            row(IGNORE, 2),
            row(IGNORE, 3),
            row(REPLACE, 1),
            row(REPLACE, 1),
            row(LOOKUP, 1),
            row(LOOKUP, 2),
            row(IGNORE, 4),
        ];
        let folded = multi_row(statements);
        let texts: Vec<&str> = folded.iter().map(|statement| statement.sql.as_ref()).collect();
        let pair = "INSERT INTO t (k, v) VALUES ($1, 'x', $2), ($3, 'x', $4) ON CONFLICT (k) DO NOTHING";
        assert_eq!(texts, vec![pair, IGNORE, REPLACE, REPLACE, LOOKUP, LOOKUP, IGNORE]);
        let params: Vec<SqlValue> = [1, -1, 2, -2].map(SqlValue::Integer).to_vec();
        assert_eq!(folded[0].params, params);
        assert_eq!(folded[1].params, vec![SqlValue::Integer(3), SqlValue::Integer(-3)]);
    }

    #[test]
    fn placeholders_past_nine_are_shifted_whole() {
        let mut shifted_row = String::new();
        shifted("($1, $9, $10)", 10, &mut shifted_row);
        assert_eq!(shifted_row, "($11, $19, $20)");
    }

    #[test]
    fn dates_are_written_year_month_day() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 7).expect("a valid date");
        assert_eq!(SqlValue::date(date), SqlValue::text("2026-03-07"));
    }

    #[test]
    fn signed_minor_units_round_trip() {
        for minor in [-12_345_i64, 0, 1, 9_999_999_999] {
            assert_eq!(signed_to_minor(signed_from_minor(minor)), minor);
        }
        assert_eq!(signed_from_minor(-5).to_string(), "-0.05");
    }
}
