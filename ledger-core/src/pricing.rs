//! The pricing chain (DESIGN §2.5): supplier rate, each org's rate to each child reseller, and the
//! seller's public, customer-specific and promotion rates to customers. The lowest valid price
//! wins; every priced item keeps its waterfall, level by level.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, ProductId, PromotionId};
use crate::money::{checked_mul, round_half_up, Amount, Currency, ExchangeRate, MoneyError, Quantity, Rate, UnitPrice};

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
    /// The seller's first-order price (`PriceRule::FirstOrder`): the customer's first paid order
    /// of the product from this seller.
    FirstOrder,
}

/// One level of a price waterfall: what an org paid for the item, what it sold it for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WaterfallLevel {
    pub org_id: OrgId,
    /// The rate of list this org sells at, and why; 1 when the level is priced from a unit price
    /// (`unit_price`) instead of the list price.
    pub rate: Rate,
    pub rate_source: RateSource,
    pub cost: Amount,
    pub price: Amount,
    /// `price - cost`; may be negative for a sale below cost that finance approved.
    pub margin: crate::money::SignedAmount,
    /// A fixed, tier or first-order unit price that replaces the list price (schema v2 of the
    /// events that carry a waterfall; absent before). Above the list price it is a markup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<UnitPrice>,
    /// The rates of the stackable promotions multiplied after the base price, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stacked: Vec<Rate>,
    /// Every price the level considered, which won and why (schema v2; empty before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<PriceCandidate>,
}

/// What a configured price is: a rate of list, or a unit price that replaces the list price
/// (above it, a markup).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceBasis {
    Rate(Rate),
    UnitPrice(UnitPrice),
}

/// One bracket of a tiered (volume) price: from `from_quantity` units of an item on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceTier {
    pub from_quantity: Quantity,
    pub price: PriceBasis,
}

/// The tiers a tiered price may have.
pub const PRICE_TIERS_MAX: usize = 16;

/// The stackable promotions one item may multiply (so a price keeps at most 28 decimals exactly).
pub const STACKED_PROMOTIONS_MAX: usize = 3;

/// A price an org sets besides its rates (`PriceSet`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PriceRule {
    /// 一口价 / 售价: a unit price for the scope.
    Fixed { unit_price: UnitPrice },
    /// 首单价: only for an order with which the customer buys the product from this seller for
    /// the first time (no paid order of the product from the seller before it).
    FirstOrder { price: PriceBasis },
    /// 阶梯价: by the item's quantity, the bracket with the largest `from_quantity` at most it.
    Tiered { tiers: Vec<PriceTier> },
}

/// The kind of a `PriceRule`, the key of a book's prices beside product and scope.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    Fixed,
    FirstOrder,
    Tiered,
}

impl PriceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceKind::Fixed => "fixed",
            PriceKind::FirstOrder => "first_order",
            PriceKind::Tiered => "tiered",
        }
    }
}

impl PriceRule {
    pub fn kind(&self) -> PriceKind {
        match self {
            PriceRule::Fixed { .. } => PriceKind::Fixed,
            PriceRule::FirstOrder { .. } => PriceKind::FirstOrder,
            PriceRule::Tiered { .. } => PriceKind::Tiered,
        }
    }

    /// Every price the rule names (its tiers' for a tiered one).
    pub fn bases(&self) -> Vec<PriceBasis> {
        match self {
            PriceRule::Fixed { unit_price } => vec![PriceBasis::UnitPrice(*unit_price)],
            PriceRule::FirstOrder { price } => vec![*price],
            PriceRule::Tiered { tiers } => tiers.iter().map(|tier| tier.price).collect(),
        }
    }

    /// The basis for an item of `quantity` units, if the rule prices it (a tiered rule does not
    /// below its first bracket).
    pub fn basis_for(&self, quantity: Quantity) -> Option<PriceBasis> {
        match self {
            PriceRule::Fixed { unit_price } => Some(PriceBasis::UnitPrice(*unit_price)),
            PriceRule::FirstOrder { price } => Some(*price),
            PriceRule::Tiered { tiers } => {
                tiers.iter().rev().find(|tier| tier.from_quantity <= quantity).map(|tier| tier.price)
            }
        }
    }
}

/// A price rule with its optional validity window (inclusive dates).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PriceWindow {
    pub rule: PriceRule,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

impl PriceWindow {
    pub fn valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from.is_none_or(|from| from <= date) && self.valid_to.is_none_or(|to| date <= to)
    }
}

/// How a promotion combines with the others (`PromotionTermsSet`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stacking {
    /// Competes with the base price and every other exclusive promotion: the lowest wins, and
    /// it is never combined (every promotion created before terms existed).
    #[default]
    Exclusive,
    /// Multiplies the base price (the lowest of the rates and prices); all stackable
    /// promotions that apply multiply together.
    Stackable,
}

impl Stacking {
    pub fn as_str(self) -> &'static str {
        match self {
            Stacking::Exclusive => "exclusive",
            Stacking::Stackable => "stackable",
        }
    }
}

impl PromotionReach {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionReach::InviteCode => "invite_code",
            PromotionReach::Everyone => "everyone",
        }
    }
}

/// Who a promotion reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromotionReach {
    /// Through an invite code that names it (every promotion created before terms existed).
    #[default]
    InviteCode,
    /// Every customer of the book within its window (活动, on the home page).
    Everyone,
}

/// What kind of price a candidate is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    Rate,
    Fixed,
    Tier,
    FirstOrder,
    Promotion,
}

/// Why a candidate was or was not applied.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateReason {
    /// The lowest price (the first of equal ones): the level's base, or the exclusive promotion
    /// that won.
    Lowest,
    /// A stackable promotion multiplied after the base that won.
    Stacked,
    /// Another candidate's price was lower, or equal and considered first.
    NotLowest,
    /// A stackable promotion left out: an exclusive promotion won.
    Excluded,
}

/// One price a level considered.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceCandidate {
    pub source: RateSource,
    pub kind: CandidateKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_id: Option<PromotionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacking: Option<Stacking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<UnitPrice>,
    /// The level's price had this candidate applied (a stackable promotion's: the base's price
    /// with every stackable promotion multiplied).
    pub price: Amount,
    pub applied: bool,
    pub reason: CandidateReason,
}

impl PriceCandidate {
    pub fn new(source: RateSource, kind: CandidateKind, basis: PriceBasis, price: Amount) -> PriceCandidate {
        let (rate, unit_price) = match basis {
            PriceBasis::Rate(rate) => (Some(rate), None),
            PriceBasis::UnitPrice(unit_price) => (None, Some(unit_price)),
        };
        PriceCandidate {
            source,
            kind,
            promotion_id: None,
            stacking: None,
            rate,
            unit_price,
            price,
            applied: false,
            reason: CandidateReason::NotLowest,
        }
    }
}

/// One level of the chain as the decider priced it, for `build_item`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LevelPricing {
    pub org_id: OrgId,
    pub basis: PriceBasis,
    pub stacked: Vec<Rate>,
    pub source: RateSource,
    pub candidates: Vec<PriceCandidate>,
}

impl LevelPricing {
    pub fn rate(org_id: OrgId, rate: Rate, source: RateSource) -> LevelPricing {
        LevelPricing { org_id, basis: PriceBasis::Rate(rate), stacked: Vec::new(), source, candidates: Vec::new() }
    }
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
    /// For a product priced in another currency than the chain's books: the rate the line was
    /// priced at, fixed with it (`list_price` is the product's price converted at it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ItemExchange>,
}

/// The rate an item in a foreign currency was priced at, as the top book had set it on the
/// item's date: later rates never change the item.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ItemExchange {
    /// The product's currency.
    pub currency: Currency,
    /// The product's list price in its currency.
    pub list_price: UnitPrice,
    /// Book currency per unit of `currency`.
    pub rate: ExchangeRate,
    /// Where the rate came from (`PBOC central parity`, a bank), and the date it is from.
    pub source: String,
    pub rate_date: NaiveDate,
}

impl PricedItem {
    /// For an item priced in a foreign currency: what the top of the chain owes the supplier in
    /// that currency, `round(foreign list × quantity × periods × supplier rate)` (the item's
    /// `supplier_price` is the same in the book's currency, at the item's rate).
    pub fn foreign_supplier_price(&self) -> Option<Result<(Currency, Amount), MoneyError>> {
        let exchange = self.exchange.as_ref()?;
        Some(
            price_at(exchange.list_price, self.quantity, self.periods, self.supplier_rate)
                .map(|owed| (exchange.currency, owed)),
        )
    }

    /// What the customer pays for the line: the seller's price (zero for an item without
    /// levels, which the deciders never build).
    pub fn customer_price(&self) -> Amount {
        self.levels.last().map_or(Amount::ZERO, |level| level.price)
    }

    pub fn seller_level(&self) -> Option<&WaterfallLevel> {
        self.levels.last()
    }

    /// The unit price the customer pays, before rounding of the whole line: the list price
    /// times the rate, or the level's unit price, times the stacked promotions' rates (each
    /// factor at most `UNIT_VALUE_MAX` or 1, with few decimals: the product is exact).
    pub fn unit_price(&self) -> Decimal {
        self.seller_level().map_or(Decimal::ZERO, |level| {
            let base = match level.unit_price {
                Some(unit_price) => unit_price.as_decimal(),
                None => self.list_price.as_decimal() * level.rate.as_decimal(),
            };
            level.stacked.iter().fold(base, |value, rate| value * rate.as_decimal())
        })
    }
}

/// `a × b` exactly: `TooLarge` when the product leaves `Decimal`'s range or would need more
/// than its 28 decimals (rust_decimal would round it).
fn exact_mul(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    if a.scale() + b.scale() > 28 {
        return Err(MoneyError::TooLarge);
    }
    checked_mul(a, b)
}

/// The unrounded amount of `quantity × periods` units at `basis` (a rate of the list price, or
/// a unit price), times each stacked rate.
pub fn exact_price(
    list_price: UnitPrice,
    quantity: Quantity,
    periods: u32,
    basis: PriceBasis,
    stacked: &[Rate],
) -> Result<Decimal, MoneyError> {
    let units = exact_mul(quantity.as_decimal(), Decimal::from(periods))?;
    let mut value = match basis {
        PriceBasis::Rate(rate) => exact_mul(exact_mul(list_price.as_decimal(), units)?, rate.as_decimal())?,
        PriceBasis::UnitPrice(unit_price) => exact_mul(unit_price.as_decimal(), units)?,
    };
    for rate in stacked {
        value = exact_mul(value, rate.as_decimal())?;
    }
    Ok(value)
}

/// `round(exact_price)`, once, half up; past `AMOUNT_MAX` it is `TooLarge`.
pub fn price_of(
    list_price: UnitPrice,
    quantity: Quantity,
    periods: u32,
    basis: PriceBasis,
    stacked: &[Rate],
) -> Result<Amount, MoneyError> {
    round_half_up(exact_price(list_price, quantity, periods, basis, stacked)?)
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
    let levels: Vec<LevelPricing> =
        chain.iter().map(|&(org_id, rate, source)| LevelPricing::rate(org_id, rate, source)).collect();
    build_priced_item(product_id, supplier_id, list_price, quantity, periods, supplier_rate, levels)
}

/// Builds a waterfall from each level's price basis (a rate of list or a unit price, and the
/// stacked promotions' rates): each level's price is rounded once, half up. A line whose list
/// amount or any level's price passes `AMOUNT_MAX` is `TooLarge` (a unit price above list may
/// pass it where the list amount does not).
pub fn build_priced_item(
    product_id: ProductId,
    supplier_id: OrgId,
    list_price: UnitPrice,
    quantity: Quantity,
    periods: u32,
    supplier_rate: Rate,
    chain: Vec<LevelPricing>,
) -> Result<PricedItem, MoneyError> {
    let list_amount = price_at(list_price, quantity, periods, Rate::ONE)?;
    let supplier_price = price_at(list_price, quantity, periods, supplier_rate)?;
    let mut cost = supplier_price;
    let mut levels = Vec::with_capacity(chain.len());
    for level in chain {
        let price = price_of(list_price, quantity, periods, level.basis, &level.stacked)?;
        let margin = crate::money::SignedAmount::from(price).sub(cost);
        let (rate, unit_price) = match level.basis {
            PriceBasis::Rate(rate) => (rate, None),
            PriceBasis::UnitPrice(unit_price) => (Rate::ONE, Some(unit_price)),
        };
        levels.push(WaterfallLevel {
            org_id: level.org_id,
            rate,
            rate_source: level.source,
            cost,
            price,
            margin,
            unit_price,
            stacked: level.stacked,
            candidates: level.candidates,
        });
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
        exchange: None,
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
