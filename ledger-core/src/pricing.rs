//! The pricing chain (DESIGN §2.5): supplier rate, each org's rate to each child reseller, and the
//! seller's public, customer-specific and promotion rates to customers. The lowest valid price
//! wins; every priced item keeps its waterfall, level by level.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, ProductId};
use crate::money::{checked_mul, round_half_up, Amount, MoneyError, Quantity, Rate, UnitPrice};

/// To whom an org's rate applies.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RateScope {
    /// 大众折扣: every customer of the seller; required before a customer may buy.
    Public,
    /// 分销商折扣: one child reseller.
    Reseller(OrgId),
    /// 客户专属折扣: one customer.
    Customer(OrgId),
}

impl RateScope {
    pub fn parse(text: &str) -> Result<RateScope, String> {
        let bad = || "must be \"public\", \"reseller:<id>\" or \"customer:<id>\"".to_owned();
        if text == "public" {
            return Ok(RateScope::Public);
        }
        let (kind, id) = text.split_once(':').ok_or_else(bad)?;
        let id: OrgId = id.parse().map_err(|_| bad())?;
        match kind {
            "reseller" => Ok(RateScope::Reseller(id)),
            "customer" => Ok(RateScope::Customer(id)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for RateScope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateScope::Public => formatter.write_str("public"),
            RateScope::Reseller(id) => write!(formatter, "reseller:{id}"),
            RateScope::Customer(id) => write!(formatter, "customer:{id}"),
        }
    }
}

impl Serialize for RateScope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateScope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RateScope::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for RateScope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RateScope".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^(public|(reseller|customer):[0-9a-f-]{36})$" })
    }
}

/// A rate with an optional validity window (inclusive dates).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RateWindow {
    pub rate: Rate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<NaiveDate>,
}

impl RateWindow {
    pub fn valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from.is_none_or(|from| from <= date) && self.valid_to.is_none_or(|to| date <= to)
    }
}

/// Why a level's rate is what it is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// The supplier agreement.
    Supplier,
    /// The parent's rate to this reseller.
    Reseller,
    Public,
    Customer,
    Promotion,
    /// A rebate-mode reseller passes its parent's price on and earns a commission instead.
    Rebate,
}

/// One level of a price waterfall: what an org paid for the item, what it sold it for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WaterfallLevel {
    pub org_id: OrgId,
    /// The rate of list this org sells at, and why.
    pub rate: Rate,
    pub rate_source: RateSource,
    pub cost: Amount,
    pub price: Amount,
    /// `price - cost`; may be negative for a sale below cost that finance approved.
    pub margin: crate::money::SignedAmount,
}

/// An order line priced along the chain.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PricedItem {
    pub product_id: ProductId,
    pub supplier_id: OrgId,
    pub quantity: Quantity,
    pub periods: u32,
    pub list_price: UnitPrice,
    /// `round(list_price × quantity × periods)`.
    pub list_amount: Amount,
    /// What the top of the chain pays the supplier: `round(list × supplier rate)`.
    pub supplier_price: Amount,
    pub supplier_rate: Rate,
    /// From the top of the chain (the platform, or the reseller that owns the supplier) down to
    /// the seller; the last level's price is what the customer pays.
    pub levels: Vec<WaterfallLevel>,
}

impl PricedItem {
    /// What the customer pays for the line: the seller's price (zero for an item without
    /// levels, which the deciders never build).
    pub fn customer_price(&self) -> Amount {
        self.levels.last().map_or(Amount::ZERO, |level| level.price)
    }

    pub fn seller_level(&self) -> Option<&WaterfallLevel> {
        self.levels.last()
    }

    /// The unit price the customer pays, before rounding of the whole line: at most
    /// `UNIT_VALUE_MAX`, since a rate is at most 1.
    pub fn unit_price(&self) -> Decimal {
        self.seller_level().map_or(Decimal::ZERO, |level| self.list_price.as_decimal() * level.rate.as_decimal())
    }
}

/// `round(list × quantity × periods × rate)`: the one formula for every level's price; a price
/// past `AMOUNT_MAX` is `TooLarge`.
pub fn price_at(list_price: UnitPrice, quantity: Quantity, periods: u32, rate: Rate) -> Result<Amount, MoneyError> {
    let units = checked_mul(quantity.as_decimal(), Decimal::from(periods))?;
    let list = checked_mul(list_price.as_decimal(), units)?;
    round_half_up(checked_mul(list, rate.as_decimal())?)
}

/// Builds a waterfall from the rates along the chain. `chain` lists (org, rate, source) from
/// the top of the chain down to the seller (at least the seller); the caller resolved the rates.
/// A line whose list amount passes `AMOUNT_MAX` is `TooLarge` (every level's price is at most it).
pub fn build_item(
    product_id: ProductId,
    supplier_id: OrgId,
    list_price: UnitPrice,
    quantity: Quantity,
    periods: u32,
    supplier_rate: Rate,
    chain: &[(OrgId, Rate, RateSource)],
) -> Result<PricedItem, MoneyError> {
    let list_amount = price_at(list_price, quantity, periods, Rate::ONE)?;
    let supplier_price = price_at(list_price, quantity, periods, supplier_rate)?;
    let mut cost = supplier_price;
    let mut levels = Vec::with_capacity(chain.len());
    for &(org_id, rate, rate_source) in chain {
        let price = price_at(list_price, quantity, periods, rate)?;
        let margin = crate::money::SignedAmount::from(price).sub(cost);
        levels.push(WaterfallLevel { org_id, rate, rate_source, cost, price, margin });
        cost = price;
    }
    Ok(PricedItem {
        product_id,
        supplier_id,
        quantity,
        periods,
        list_price,
        list_amount,
        supplier_price,
        supplier_rate,
        levels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_example_waterfall() {
        let (platform, r1, r2) = (OrgId::from_u128(1), OrgId::from_u128(2), OrgId::from_u128(3));
        let rate = |text| Rate::parse(text).unwrap();
        let item = build_item(
            ProductId::from_u128(9),
            OrgId::from_u128(8),
            UnitPrice::parse("1000").unwrap(),
            Quantity::whole(1),
            1,
            rate("0.70"),
            &[
                (platform, rate("0.80"), RateSource::Reseller),
                (r1, rate("0.88"), RateSource::Reseller),
                (r2, rate("0.95"), RateSource::Customer),
            ],
        )
        .unwrap();
        let margins: Vec<String> = item.levels.iter().map(|level| level.margin.to_string()).collect();
        assert_eq!(margins, ["100.00", "80.00", "70.00"]);
        assert_eq!(item.customer_price().to_string(), "950.00");
        assert_eq!(item.supplier_price.to_string(), "700.00");
    }

    #[test]
    fn each_level_rounds_once_half_up() {
        let item = build_item(
            ProductId::from_u128(9),
            OrgId::from_u128(8),
            UnitPrice::parse("0.015").unwrap(),
            Quantity::parse("3").unwrap(),
            1,
            Rate::parse("0.5").unwrap(),
            &[(OrgId::from_u128(1), Rate::parse("0.9").unwrap(), RateSource::Public)],
        )
        .unwrap();
        assert_eq!(item.list_amount.to_string(), "0.05"); // 0.045 rounds up
        assert_eq!(item.supplier_price.to_string(), "0.02"); // 0.0225
        assert_eq!(item.customer_price().to_string(), "0.04"); // 0.0405
    }

    #[test]
    fn a_line_past_the_amount_limit_is_refused_not_a_panic() {
        let huge = |quantity: &str, periods| {
            build_item(
                ProductId::from_u128(9),
                OrgId::from_u128(8),
                UnitPrice::parse("1000000000").unwrap(),
                Quantity::parse(quantity).unwrap(),
                periods,
                Rate::parse("0.0001").unwrap(),
                &[(OrgId::from_u128(1), Rate::parse("0.0001").unwrap(), RateSource::Public)],
            )
        };
        assert_eq!(huge("1000000000", 1_200), Err(MoneyError::TooLarge));
        let at_the_limit = huge("1000", 1).unwrap();
        assert_eq!(at_the_limit.list_amount, Amount::MAX);
        assert_eq!(at_the_limit.customer_price(), Amount::parse("100000000.00").unwrap());
        assert_eq!(huge("1000.000001", 1), Err(MoneyError::TooLarge));
    }

    #[test]
    fn scopes_round_trip() {
        let id = OrgId::from_u128(5);
        for scope in [RateScope::Public, RateScope::Reseller(id), RateScope::Customer(id)] {
            assert_eq!(RateScope::parse(&scope.to_string()), Ok(scope));
        }
        assert!(RateScope::parse("supplier:x").is_err());
    }
}

/// The list price in force on `date`: the latest scheduled on or before it, else `base`.
pub fn list_price_on(base: UnitPrice, scheduled: &BTreeMap<NaiveDate, UnitPrice>, date: NaiveDate) -> UnitPrice {
    scheduled.range(..=date).next_back().map_or(base, |(_, price)| *price)
}
