//! Portable SQL: one statement text for SQLite and PostgreSQL, with parameters that are integers,
//! text or null. Projections produce [`Statement`]s; backends only execute them and read [`Row`]s.
//!
//! Portability rules every statement follows: `$n` placeholders (rewritten to `?n` for SQLite),
//! amounts as BIGINT minor units, dates `YYYY-MM-DD`, ids and timestamps as TEXT, upserts with
//! `ON CONFLICT … DO UPDATE`, sums wrapped in `CAST(… AS BIGINT)` (PostgreSQL's SUM of bigint is
//! numeric), and a parameter used where its type cannot be inferred is wrapped in `CAST`.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ledger_core::money::{Amount, SignedAmount};
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

    pub fn date(value: NaiveDate) -> SqlValue {
        SqlValue::Text(value.format("%Y-%m-%d").to_string())
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
        match self.value(index)? {
            SqlValue::Integer(value) => Ok(*value),
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
    fn signed_minor_units_round_trip() {
        for minor in [-12_345_i64, 0, 1, 9_999_999_999] {
            assert_eq!(signed_to_minor(signed_from_minor(minor)), minor);
        }
        assert_eq!(signed_from_minor(-5).to_string(), "-0.05");
    }
}
