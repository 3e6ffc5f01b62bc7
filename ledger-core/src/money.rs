//! Exact money: amounts with two minor digits, rates, unit prices and quantities.
//!
//! Every type here is a parsed value: a constructor checks the invariant once and the field is
//! private, so an `Amount` in hand is never negative, never has more than two decimals and never
//! overflows the limits below. Rounding happens in exactly one place, [`round_half_up`], once per
//! posted amount (DESIGN §2.4).

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Minor digits of every book currency we support (all of them have two).
pub const AMOUNT_DECIMALS_MAX: u32 = 2;
/// Digits a rate may carry after the point (`0.8765`).
pub const RATE_DECIMALS_MAX: u32 = 4;
/// Digits a list price may carry after the point: cloud unit prices go below a cent.
pub const UNIT_PRICE_DECIMALS_MAX: u32 = 6;
/// Digits an exchange rate may carry after the point (`7.123456`).
pub const EXCHANGE_RATE_DECIMALS_MAX: u32 = 6;
/// Digits a metered quantity may carry after the point.
pub const QUANTITY_DECIMALS_MAX: u32 = 6;
/// The largest amount accepted anywhere (10^12): 10^14 minor units leaves room to sum millions of them
/// inside a `Decimal` (96-bit mantissa) without any chance of overflow.
pub const AMOUNT_MAX: Decimal = Decimal::from_parts(276_447_232, 23_283, 0, false, 2);
/// The largest unit price and quantity accepted.
pub const UNIT_VALUE_MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// The largest running total (10^15, i.e. 10^17 minor units): an account's all-time debit or
/// credit total in one book, a customer's invoiceable amount, a KPI sum. Deciders refuse any
/// event that would take a total past it (`limit_exceeded`), so the read models, which keep
/// totals as BIGINT minor units, can add 92 of them inside an `i64` without overflow. At the
/// largest amount per line (`AMOUNT_MAX`) an account reaches it after 1,000 lines; at realistic
/// amounts, never.
pub const TOTAL_MAX: Decimal = Decimal::from_parts(1_569_325_056, 23_283_064, 0, false, 2);

/// Why a money value was refused. The caller adds the field name (see [`FieldError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal number")]
    NotANumber,
    #[error("must not be negative")]
    Negative,
    #[error("must be greater than zero")]
    Zero,
    #[error("has more than {max} digits after the decimal point")]
    TooManyDecimals { max: u32 },
    #[error("is too large")]
    TooLarge,
    #[error("would take a running total past its limit of {max}")]
    TotalTooLarge { max: Decimal },
    #[error("must be greater than 0 and at most 1")]
    RateOutOfRange,
    #[error("is not a known currency")]
    UnknownCurrency,
}

impl MoneyError {
    /// The stable problem code the gateway shows for this rejection.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::RateOutOfRange => "rate_out_of_range",
            MoneyError::UnknownCurrency => "unknown_currency",
            MoneyError::TotalTooLarge { .. } => "limit_exceeded",
            _ => "invalid_amount",
        }
    }
}

/// A money error tied to the field it came from, e.g. `items[0].quantity`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {error}")]
pub struct FieldError {
    pub field: String,
    pub error: MoneyError,
}

impl FieldError {
    pub fn new(field: impl Into<String>, error: MoneyError) -> Self {
        FieldError { field: field.into(), error }
    }
}

fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let trimmed = text.trim();
    // Decimal::from_str accepts forms we do not want on a money field ("1e3", "_").
    let well_formed = !trimmed.is_empty()
        && trimmed
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')));
    if !well_formed || trimmed.matches('.').count() > 1 {
        return Err(MoneyError::NotANumber);
    }
    let integer_digits = trimmed.trim_start_matches(['-', '+']).split('.').next().unwrap_or("");
    if integer_digits.trim_start_matches('0').len() > 20 {
        return Err(MoneyError::TooLarge);
    }
    Decimal::from_str(trimmed).map_err(|_| MoneyError::TooLarge)
}

fn check_bounds(value: Decimal, decimals_max: u32, max: Decimal) -> Result<Decimal, MoneyError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(MoneyError::Negative);
    }
    if value.normalize().scale() > decimals_max {
        return Err(MoneyError::TooManyDecimals { max: decimals_max });
    }
    if value > max {
        return Err(MoneyError::TooLarge);
    }
    Ok(value)
}

/// Rounds half-up (away from zero, for the non-negative values we post) to the minor unit.
/// The one rounding function of the ledger: every posted amount passes through it once.
/// A negative value or one past `AMOUNT_MAX` is refused, never clamped.
pub fn round_half_up(value: Decimal) -> Result<Amount, MoneyError> {
    let rounded = value.round_dp_with_strategy(AMOUNT_DECIMALS_MAX, RoundingStrategy::MidpointAwayFromZero);
    Amount::from_decimal(rounded)
}

/// `a × b`, or `TooLarge` where the product leaves `Decimal`'s range (rust_decimal's `*` panics).
pub fn checked_mul(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    a.checked_mul(b).ok_or(MoneyError::TooLarge)
}

/// A non-negative amount of money with exactly two minor digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::from_parts(0, 0, 0, false, 2));
    pub const MAX: Amount = Amount(AMOUNT_MAX);

    /// Parses a decimal string such as `"950.00"`; zero is allowed (see [`Amount::parse_positive`]).
    pub fn parse(text: &str) -> Result<Amount, MoneyError> {
        Amount::from_decimal(parse_decimal(text)?)
    }

    /// Parses an amount that must be greater than zero (a recharge, a refund, a coupon).
    pub fn parse_positive(text: &str) -> Result<Amount, MoneyError> {
        let amount = Amount::parse(text)?;
        if amount.is_zero() {
            return Err(MoneyError::Zero);
        }
        Ok(amount)
    }

    pub fn from_decimal(value: Decimal) -> Result<Amount, MoneyError> {
        let mut value = check_bounds(value, AMOUNT_DECIMALS_MAX, AMOUNT_MAX)?;
        value.rescale(AMOUNT_DECIMALS_MAX);
        Ok(Amount(value))
    }

    /// An amount from integer minor units (cents, fen).
    pub fn from_minor(minor: i64) -> Result<Amount, MoneyError> {
        Amount::from_decimal(Decimal::new(minor, AMOUNT_DECIMALS_MAX))
    }

    pub fn to_minor(self) -> i64 {
        self.0.mantissa() as i64
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        Amount::from_decimal(self.0.checked_add(other.0)?).ok()
    }

    /// `self + other`, or `TooLarge` past `AMOUNT_MAX`: the sum of a command's amounts.
    pub fn try_add(self, other: Amount) -> Result<Amount, MoneyError> {
        self.checked_add(other).ok_or(MoneyError::TooLarge)
    }

    /// The sum of amounts, or `TooLarge` past `AMOUNT_MAX`.
    pub fn try_sum(amounts: impl IntoIterator<Item = Amount>) -> Result<Amount, MoneyError> {
        amounts.into_iter().try_fold(Amount::ZERO, Amount::try_add)
    }

    /// `self - other`, or `None` when it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        if other.0 > self.0 {
            return None;
        }
        Some(Amount(self.0 - other.0))
    }

    /// `self + other` where the decider has already checked the bound: `evolve` folding a sum
    /// that the command's decision proved in range. A violation is a bug, not input: it panics,
    /// and the writer, which catches it, reloads its state from the log.
    pub fn plus(self, other: Amount) -> Amount {
        self.checked_add(other).expect("a sum the decider checked")
    }

    /// `self - other` where the decider has already checked that it is not negative (see `plus`).
    pub fn minus(self, other: Amount) -> Amount {
        self.checked_sub(other).expect("a difference the decider checked")
    }

    pub fn min(self, other: Amount) -> Amount {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Amount({})", self.0)
    }
}

/// A running total of posted amounts: an account's debit or credit total, a trial balance
/// column, what a customer may still invoice. Non-negative, two minor digits, at most
/// [`TOTAL_MAX`]; it prints and serialises exactly as an [`Amount`] does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Total(Decimal);

impl Total {
    pub const ZERO: Total = Total(Decimal::from_parts(0, 0, 0, false, 2));
    pub const MAX: Total = Total(TOTAL_MAX);

    pub fn from_decimal(value: Decimal) -> Result<Total, MoneyError> {
        let mut value = check_bounds(value, AMOUNT_DECIMALS_MAX, TOTAL_MAX).map_err(|error| {
            if error == MoneyError::TooLarge {
                MoneyError::TotalTooLarge { max: TOTAL_MAX }
            } else {
                error
            }
        })?;
        value.rescale(AMOUNT_DECIMALS_MAX);
        Ok(Total(value))
    }

    /// A total from integer minor units (a read model's BIGINT column).
    pub fn from_minor(minor: i64) -> Result<Total, MoneyError> {
        Total::from_decimal(Decimal::new(minor, AMOUNT_DECIMALS_MAX))
    }

    /// Integer minor units: at most 10^17, well inside an `i64`.
    pub fn to_minor(self) -> i64 {
        self.0.mantissa() as i64
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// `self + amount`, or `TotalTooLarge` past [`TOTAL_MAX`].
    pub fn checked_add(self, amount: Amount) -> Result<Total, MoneyError> {
        Total::from_decimal(self.0 + amount.0)
    }

    /// `self + other`, or `TotalTooLarge` past [`TOTAL_MAX`].
    pub fn checked_add_total(self, other: Total) -> Result<Total, MoneyError> {
        Total::from_decimal(self.0 + other.0)
    }

    /// `self - amount`, floored at zero: what is left to invoice after a refund.
    pub fn saturating_sub(self, amount: Amount) -> Total {
        if amount.0 >= self.0 {
            Total::ZERO
        } else {
            Total(self.0 - amount.0)
        }
    }

    /// `self - amount`, or `None` when it would go below zero.
    pub fn checked_sub(self, amount: Amount) -> Option<Total> {
        (amount.0 <= self.0).then(|| Total(self.0 - amount.0))
    }

    /// `self + amount` where the decider has checked the bound (see [`Amount::plus`]).
    pub fn plus(self, amount: Amount) -> Total {
        self.checked_add(amount).expect("a total the decider checked")
    }

    /// `self + other` where both are bounded parts of one checked total (trial balance columns).
    pub fn plus_total(self, other: Total) -> Total {
        self.checked_add_total(other).expect("a total the decider checked")
    }

    /// The amount this total is, when it is one (at most `AMOUNT_MAX`).
    pub fn to_amount(self) -> Result<Amount, MoneyError> {
        Amount::from_decimal(self.0)
    }
}

impl From<Amount> for Total {
    fn from(amount: Amount) -> Self {
        Total(amount.0)
    }
}

impl fmt::Display for Total {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl fmt::Debug for Total {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Total({})", self.0)
    }
}

/// A signed sum of amounts: a balance, a net, a difference. Never stored on a line.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SignedAmount(Decimal);

/// `0.00`, not a scale-less `0`: a sum that nothing was added to shows as money.
impl Default for SignedAmount {
    fn default() -> Self {
        SignedAmount::ZERO
    }
}

impl SignedAmount {
    pub const ZERO: SignedAmount = SignedAmount(Decimal::from_parts(0, 0, 0, false, 2));

    /// A zero is always `0.00`, never `-0.00`: negating a zero decimal keeps its sign bit, which
    /// would show finance a negative zero, and would not survive a round trip through the log
    /// (parsing `"-0.00"` gives a plain zero, so a re-encoded event would no longer match its hash).
    pub fn from_decimal(value: Decimal) -> SignedAmount {
        let mut value = value;
        value.rescale(AMOUNT_DECIMALS_MAX);
        if value.is_zero() {
            value.set_sign_positive(true);
        }
        SignedAmount(value)
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn add_total(self, total: Total) -> SignedAmount {
        SignedAmount::from_decimal(self.0 + total.0)
    }

    pub fn sub_total(self, total: Total) -> SignedAmount {
        SignedAmount::from_decimal(self.0 - total.0)
    }

    pub fn add(self, amount: Amount) -> SignedAmount {
        SignedAmount::from_decimal(self.0 + amount.0)
    }

    pub fn sub(self, amount: Amount) -> SignedAmount {
        SignedAmount::from_decimal(self.0 - amount.0)
    }

    pub fn plus(self, other: SignedAmount) -> SignedAmount {
        SignedAmount::from_decimal(self.0 + other.0)
    }

    pub fn negated(self) -> SignedAmount {
        SignedAmount::from_decimal(-self.0)
    }

    /// The magnitude, as a total (a balance or net may exceed a single amount's bound).
    pub fn abs(self) -> Result<Total, MoneyError> {
        Total::from_decimal(self.0.abs())
    }
}

impl From<Total> for SignedAmount {
    fn from(total: Total) -> Self {
        SignedAmount(total.0)
    }
}

impl From<Amount> for SignedAmount {
    fn from(amount: Amount) -> Self {
        SignedAmount(amount.0)
    }
}

impl fmt::Display for SignedAmount {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// A discount rate as a fraction of list price: greater than 0, at most 1, up to 4 decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Rate(Decimal);

impl Rate {
    pub const ONE: Rate = Rate(Decimal::ONE);

    pub fn parse(text: &str) -> Result<Rate, MoneyError> {
        Rate::from_decimal(parse_decimal(text)?)
    }

    pub fn from_decimal(value: Decimal) -> Result<Rate, MoneyError> {
        if value <= Decimal::ZERO || value > Decimal::ONE {
            return Err(MoneyError::RateOutOfRange);
        }
        if value.normalize().scale() > RATE_DECIMALS_MAX {
            return Err(MoneyError::TooManyDecimals { max: RATE_DECIMALS_MAX });
        }
        Ok(Rate(value.normalize()))
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always show at least two decimals ("0.80", "1.00") the way finance writes rates.
        let mut value = self.0;
        if value.scale() < 2 {
            value.rescale(2);
        }
        write!(formatter, "{value}")
    }
}

/// A positive list price per unit, up to 6 decimals (cloud resources are priced below a cent).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct UnitPrice(Decimal);

impl UnitPrice {
    pub fn parse(text: &str) -> Result<UnitPrice, MoneyError> {
        UnitPrice::from_decimal(parse_decimal(text)?)
    }

    pub fn from_decimal(value: Decimal) -> Result<UnitPrice, MoneyError> {
        let value = check_bounds(value, UNIT_PRICE_DECIMALS_MAX, UNIT_VALUE_MAX)?;
        if value.is_zero() {
            return Err(MoneyError::Zero);
        }
        let mut value = value.normalize();
        if value.scale() < AMOUNT_DECIMALS_MAX {
            value.rescale(AMOUNT_DECIMALS_MAX);
        }
        Ok(UnitPrice(value))
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for UnitPrice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// How much one unit of a foreign currency is worth in a book's currency (`7.1234` CNY per USD):
/// positive, up to 6 decimals, at most `UNIT_VALUE_MAX`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ExchangeRate(Decimal);

impl ExchangeRate {
    pub fn parse(text: &str) -> Result<ExchangeRate, MoneyError> {
        ExchangeRate::from_decimal(parse_decimal(text)?)
    }

    pub fn from_decimal(value: Decimal) -> Result<ExchangeRate, MoneyError> {
        let value = check_bounds(value, EXCHANGE_RATE_DECIMALS_MAX, UNIT_VALUE_MAX)?;
        if value.is_zero() {
            return Err(MoneyError::Zero);
        }
        Ok(ExchangeRate(value.normalize()))
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// A unit price in the foreign currency, in the book's: `price × rate`, rounded half-up
    /// to the 6 decimals a unit price may carry (the amounts priced from it are rounded once
    /// more, to the cent, as every posted amount is).
    pub fn convert(self, price: UnitPrice) -> Result<UnitPrice, MoneyError> {
        let converted = checked_mul(price.as_decimal(), self.0)?
            .round_dp_with_strategy(UNIT_PRICE_DECIMALS_MAX, RoundingStrategy::MidpointAwayFromZero);
        UnitPrice::from_decimal(converted)
    }
}

impl fmt::Display for ExchangeRate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut value = self.0;
        if value.scale() < 2 {
            value.rescale(2);
        }
        write!(formatter, "{value}")
    }
}

/// A positive quantity: units bought, or a metered amount (GB-hours) with up to 6 decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Quantity(Decimal);

impl Quantity {
    pub fn parse(text: &str) -> Result<Quantity, MoneyError> {
        Quantity::from_decimal(parse_decimal(text)?)
    }

    pub fn from_decimal(value: Decimal) -> Result<Quantity, MoneyError> {
        let value = check_bounds(value, QUANTITY_DECIMALS_MAX, UNIT_VALUE_MAX)?;
        if value.is_zero() {
            return Err(MoneyError::Zero);
        }
        Ok(Quantity(value.normalize()))
    }

    /// A whole quantity, for literals in tests and benches: panics on 0 or past `UNIT_VALUE_MAX`.
    pub fn whole(units: u32) -> Quantity {
        Quantity::from_decimal(Decimal::from(units)).expect("a whole quantity in 1..=UNIT_VALUE_MAX")
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// An ISO 4217 currency a book may keep. All of them have two minor digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub enum Currency {
    #[default]
    CNY,
    USD,
    HKD,
    EUR,
    SGD,
}

impl Currency {
    pub const ALL: [Currency; 5] = [Currency::CNY, Currency::USD, Currency::HKD, Currency::EUR, Currency::SGD];

    pub fn code(self) -> &'static str {
        match self {
            Currency::CNY => "CNY",
            Currency::USD => "USD",
            Currency::HKD => "HKD",
            Currency::EUR => "EUR",
            Currency::SGD => "SGD",
        }
    }

    pub fn parse(text: &str) -> Result<Currency, MoneyError> {
        Currency::ALL.into_iter().find(|currency| currency.code() == text).ok_or(MoneyError::UnknownCurrency)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

/// Serde as decimal strings, never JSON numbers: a JSON number is a float to most clients.
macro_rules! decimal_string_serde {
    ($type:ident, $parse:expr, $pattern:expr) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $parse(&text).map_err(|error| serde::de::Error::custom(format!("{text:?} {error}")))
            }
        }

        impl schemars::JsonSchema for $type {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($type).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "pattern": $pattern })
            }
        }
    };
}

decimal_string_serde!(Amount, Amount::parse, "^[0-9]{1,13}\\.[0-9]{2}$");
decimal_string_serde!(Total, |text: &str| Total::from_decimal(parse_decimal(text)?), "^[0-9]{1,16}\\.[0-9]{2}$");
decimal_string_serde!(Rate, Rate::parse, "^(0\\.[0-9]{1,4}|1(\\.0{1,4})?)$");
decimal_string_serde!(UnitPrice, UnitPrice::parse, "^[0-9]{1,10}(\\.[0-9]{1,6})?$");
decimal_string_serde!(ExchangeRate, ExchangeRate::parse, "^[0-9]{1,10}(\\.[0-9]{1,6})?$");
decimal_string_serde!(Quantity, Quantity::parse, "^[0-9]{1,10}(\\.[0-9]{1,6})?$");
decimal_string_serde!(Currency, Currency::parse, "^(CNY|USD|HKD|EUR|SGD)$");

impl Serialize for SignedAmount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SignedAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let value = Decimal::from_str(&text).map_err(serde::de::Error::custom)?;
        Ok(SignedAmount::from_decimal(value))
    }
}

impl schemars::JsonSchema for SignedAmount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignedAmount".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^-?[0-9]{1,16}\\.[0-9]{2}$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly_and_print_two_decimals() {
        assert_eq!(Amount::parse("950").unwrap().to_string(), "950.00");
        assert_eq!(Amount::parse("0.1").unwrap().to_string(), "0.10");
        assert_eq!(Amount::parse("12.30").unwrap().to_minor(), 1230);
        assert_eq!(Amount::parse("-1.00"), Err(MoneyError::Negative));
        assert_eq!(Amount::parse("1.005"), Err(MoneyError::TooManyDecimals { max: 2 }));
        assert_eq!(Amount::parse("1e3"), Err(MoneyError::NotANumber));
        assert_eq!(Amount::parse(""), Err(MoneyError::NotANumber));
        assert_eq!(Amount::parse("99999999999999999999999999999"), Err(MoneyError::TooLarge));
        assert_eq!(Amount::parse("10000000000000.00"), Err(MoneyError::TooLarge));
        assert_eq!(Amount::parse_positive("0.00"), Err(MoneyError::Zero));
        // Trailing zeros beyond the minor unit are the same number, not extra precision.
        assert_eq!(Amount::parse("1.500").unwrap().to_string(), "1.50");
    }

    #[test]
    fn rates_are_in_zero_one_with_four_decimals() {
        assert_eq!(Rate::parse("0.88").unwrap().to_string(), "0.88");
        assert_eq!(Rate::parse("1").unwrap().to_string(), "1.00");
        assert_eq!(Rate::parse("0.8765").unwrap().to_string(), "0.8765");
        assert_eq!(Rate::parse("0"), Err(MoneyError::RateOutOfRange));
        assert_eq!(Rate::parse("1.01"), Err(MoneyError::RateOutOfRange));
        assert_eq!(Rate::parse("-0.5"), Err(MoneyError::RateOutOfRange));
        assert_eq!(Rate::parse("0.87651"), Err(MoneyError::TooManyDecimals { max: 4 }));
    }

    #[test]
    fn rounding_is_half_up_once() {
        assert_eq!(round_half_up(Decimal::new(12345, 3)).unwrap().to_string(), "12.35");
        assert_eq!(round_half_up(Decimal::new(12344, 3)).unwrap().to_string(), "12.34");
        assert_eq!(round_half_up(Decimal::new(5, 3)).unwrap().to_string(), "0.01");
    }

    #[test]
    fn currencies_are_a_closed_list() {
        assert_eq!(Currency::parse("CNY"), Ok(Currency::CNY));
        assert_eq!(Currency::parse("XXX"), Err(MoneyError::UnknownCurrency));
        assert_eq!(Currency::parse("cny"), Err(MoneyError::UnknownCurrency));
    }

    #[test]
    fn serde_uses_decimal_strings() {
        let amount: Amount = serde_json::from_str("\"950.00\"").unwrap();
        assert_eq!(serde_json::to_string(&amount).unwrap(), "\"950.00\"");
        assert!(serde_json::from_str::<Amount>("950.00").is_err(), "a JSON number is refused");
        assert!(serde_json::from_str::<Amount>("\"-1\"").is_err());
    }

    #[test]
    fn a_signed_zero_never_carries_a_sign_and_every_signed_amount_round_trips_through_json() {
        let negated_zero = SignedAmount::ZERO.negated();
        assert_eq!(negated_zero.to_string(), "0.00");
        assert_eq!(SignedAmount::ZERO.sub(Amount::ZERO).to_string(), "0.00");
        let minus_five = SignedAmount::from(Amount::parse("5.00").unwrap()).negated();
        assert_eq!(minus_five.to_string(), "-5.00");
        for value in [negated_zero, minus_five] {
            let text = serde_json::to_string(&value).unwrap();
            let back: SignedAmount = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), text, "the log re-encodes what it stored");
        }
    }

    #[test]
    fn the_limits_are_what_they_say() {
        assert_eq!(AMOUNT_MAX.to_string(), "1000000000000.00");
        assert_eq!(TOTAL_MAX.to_string(), "1000000000000000.00");
        assert_eq!(Amount::MAX.to_minor(), 100_000_000_000_000);
        // 92 totals at their limit still sum inside the read models' BIGINT minor units.
        assert!(TOTAL_MAX.mantissa() * 92 < i64::MAX as i128);
    }

    #[test]
    fn sums_at_their_edges_are_refused_not_wrapped() {
        let max = Amount::MAX;
        let cent = Amount::parse("0.01").unwrap();
        assert_eq!(max.checked_add(Amount::ZERO), Some(max));
        assert_eq!(max.try_add(cent), Err(MoneyError::TooLarge));
        assert_eq!(Amount::try_sum([max, cent]), Err(MoneyError::TooLarge));
        assert_eq!(round_half_up(AMOUNT_MAX), Ok(max));
        assert_eq!(round_half_up(AMOUNT_MAX + Decimal::new(5, 3)), Err(MoneyError::TooLarge));
        assert_eq!(round_half_up(Decimal::new(-1, 2)), Err(MoneyError::Negative));
        assert_eq!(checked_mul(Decimal::MAX, Decimal::TWO), Err(MoneyError::TooLarge));
        let almost = Total::from_decimal(TOTAL_MAX - Decimal::new(1, 2)).unwrap();
        assert_eq!(almost.checked_add(cent), Ok(Total::MAX));
        assert_eq!(Total::MAX.checked_add(cent), Err(MoneyError::TotalTooLarge { max: TOTAL_MAX }));
        assert_eq!(Total::MAX.to_string(), "1000000000000000.00");
        assert_eq!(serde_json::to_string(&Total::from(max)).unwrap(), serde_json::to_string(&max).unwrap());
    }
}
