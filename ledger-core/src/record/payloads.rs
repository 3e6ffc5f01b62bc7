//! The encoding of every type an event is made of: the event type tags, the enum tags, money,
//! codes, and each payload struct as its fields in declaration order.
//!
//! Every tag here is written out beside its variant and is part of the format: a tag is never
//! reused or renumbered; a new variant takes a new number.

use rust_decimal::Decimal;

use super::wire::{wire_enum, wire_struct, Reader, Sink, Wire, Writer};
use super::RecordError;
use crate::approval_policy::{ApprovalAction, ApprovalRule};
use crate::chart::{Account, AccountCode, AccountType, Side};
use crate::event::*;
use crate::ids::*;
use crate::journal::{Entry, Line};
use crate::money::{
    Amount, Currency, ExchangeRate, MoneyError, Quantity, Rate, SignedAmount, Total, UnitPrice, AMOUNT_DECIMALS_MAX,
};
use crate::org::{Actor, DistributorTier, Org, OrgKind, Role, RoleName, SaleMode};
use crate::permissions::Permission;
use crate::pricing::{
    CandidateKind, CandidateReason, ItemExchange, PriceBasis, PriceCandidate, PriceRule, PriceTier, PricedItem,
    PromotionReach, RateScope, RateSource, Stacking, WaterfallLevel,
};
use crate::reconcile::{LedgerItem, MatchGroup, MatchKind, StatementFormat, StatementRow, Tolerance};
use crate::rules::{LinearSum, PartyRef, PostingRule, RuleLine, RuleRef};

/// The event type table: each `EventPayload` variant with the `u16` the header carries for it.
/// `event_tag` matches every variant (a new one does not compile until it has a tag here), and
/// a number used twice does not compile either.
macro_rules! event_tags {
    ($($variant:ident = $tag:literal),* $(,)?) => {
        /// Every event type with its tag in the record header (the format's table, for tools
        /// and tests).
        pub const EVENT_TAGS: &[(&str, u16)] = &[$((stringify!($variant), $tag),)*];

        /// The header tag of a payload's event type.
        pub fn event_tag(payload: &EventPayload) -> u16 {
            match payload {
                $(EventPayload::$variant(_) => $tag,)*
            }
        }

        #[deny(unreachable_patterns)]
        pub(crate) fn event_type_of_tag(tag: u16) -> Option<&'static str> {
            match tag {
                $($tag => Some(stringify!($variant)),)*
                _ => None,
            }
        }

        pub(crate) fn put_payload<S: Sink>(payload: &EventPayload, writer: &mut Writer<'_, S>) {
            match payload {
                $(EventPayload::$variant(inner) => inner.put(writer),)*
            }
        }

        /// The payload of an event type (`tag`) in the layout of `schema_version`, which
        /// `take_event_type` checked is current or one of [`OLDER_LAYOUTS`].
        pub(crate) fn take_payload(
            tag: u16,
            schema_version: u16,
            reader: &mut Reader<'_>,
        ) -> Result<EventPayload, RecordError> {
            if let Some(older) = take_older_payload(tag, schema_version, reader) {
                return older;
            }
            match tag {
                $($tag => Ok(EventPayload::$variant(Wire::take(reader)?)),)*
                _ => Err(reader.invalid_at(reader.offset(), format!("unknown event type tag {tag}"))),
            }
        }
    };
}

event_tags! {
    OrgOpened = 1,
    AccountOpened = 2,
    PostingRulesSet = 3,
    SaleModeSet = 4,
    ProductCreated = 5,
    SupplierRateSet = 6,
    RateSet = 7,
    PromotionCreated = 8,
    InviteCodeCreated = 9,
    ApprovalRequested = 10,
    ApprovalGranted = 11,
    ApprovalRejected = 12,
    RechargeRequested = 13,
    RechargeConfirmed = 14,
    RechargeReversed = 15,
    CouponGranted = 16,
    OrderPlaced = 17,
    OrderPaid = 18,
    OrderFulfilled = 19,
    OrderCancelled = 20,
    OrderRefunded = 21,
    WithdrawalRequested = 22,
    WithdrawalPaid = 23,
    UsageCharged = 24,
    SubscriptionRenewed = 25,
    SerialPackagePriced = 26,
    DistributorTierSet = 27,
    SerialTierRateSet = 28,
    SerialCodesIssued = 29,
    SerialCodeActivated = 30,
    CommissionAccrued = 31,
    CommissionReversed = 32,
    SettlementStatementIssued = 33,
    SettlementPaid = 34,
    InvoiceIssued = 35,
    PeriodClosed = 36,
    BusinessBooked = 37,
    TokenIssued = 38,
    UserCreated = 39,
    TokenRevoked = 40,
    // 41..=59 are left to the event types of the parallel branches of issue 9.
    ApprovalPolicySet = 50,
    ApprovalRouted = 51,
    ApprovalLevelGranted = 52,
    OnlineRechargeRequested = 60,
    RoleDefined = 41,
    CustomerOwnerSet = 42,
    VoucherGranted = 45,
    VoucherRedeemed = 46,
    VoucherReturned = 47,
    VoucherExpired = 48,
    OrgProfileUpdated = 53,
    OrgClosed = 54,
    OrgReopened = 55,
    SupplierTermsSet = 56,
    ProductUpdated = 57,
    ListPriceScheduled = 58,
    ManualEntryBooked = 59,
    SaleModeScheduled = 61,
    InvoiceRequested = 62,
    InvoiceDelivered = 63,
    InvoiceVoided = 64,
    InvoiceRedLettered = 65,
    // 80..=84 are issue 14's (audit tools).
    LowBalanceThresholdSet = 80,
    PeriodReopened = 81,
    ReconciliationRecorded = 82,
    // 70..=79: credit, the clock and settlement cycles (issue 12).
    CreditLimitSet = 70,
    CreditDrawn = 71,
    ArrearsRepaid = 72,
    ArrearsOverdue = 73,
    BookTermsSet = 74,
    SettlementCycleSet = 75,
    AutoRenewalSet = 76,
    AutoRenewalFailed = 77,
    // 83..=95: the rest of issue 12 (ownership, serial-code expiry).
    CustomerTransferred = 83,
    SerialExpirySet = 84,
    SerialCodesExpired = 85,
    // 66..=69, 78, 79: pricing (issue 12).
    PriceSet = 66,
    PromotionTermsSet = 67,
    // 68: money in more than one currency (issue 12).
    ExchangeRateSet = 68,
}

/// The layouts of older schema versions this build still reads (and never writes), by event
/// type: records of them stay in the logs that hold them, and decode to today's payload.
pub const OLDER_LAYOUTS: &[(&str, u16)] = &[
    // v1 carried every line of the statement; v2 carries their count (`SettlementStatementIssuedV1::upcast`).
    ("SettlementStatementIssued", 1),
    // v1 had no user, expiry or admin mark (`TokenIssuedV1::upcast`).
    ("TokenIssued", 1),
    // v1 named no channel (`WithdrawalPaidV1::upcast`).
    ("WithdrawalPaid", 1),
    // v1's waterfall levels had no unit price, stacked rates or candidates (`PricedItemV1`).
    ("OrderPlaced", 1),
    ("UsageCharged", 1),
    ("SubscriptionRenewed", 1),
    // v2's items had no exchange (`PricedItemV2`); v1 of a product no currency (`ProductCreatedV1`).
    ("OrderPlaced", 2),
    ("UsageCharged", 2),
    ("SubscriptionRenewed", 2),
    ("ProductCreated", 1),
    // v1 paid nothing in a foreign currency (`SettlementPaidV1`).
    ("SettlementPaid", 1),
];

/// An older layout's payload, upcast; `None` when `schema_version` is the current one.
fn take_older_payload(
    tag: u16,
    schema_version: u16,
    reader: &mut Reader<'_>,
) -> Option<Result<EventPayload, RecordError>> {
    match (event_type_of_tag(tag)?, schema_version) {
        ("SettlementStatementIssued", 1) => Some(
            SettlementStatementIssuedV1::take(reader)
                .map(|statement| EventPayload::SettlementStatementIssued(statement.upcast())),
        ),
        ("TokenIssued", 1) => Some(TokenIssuedV1::take(reader).map(|token| EventPayload::TokenIssued(token.upcast()))),
        ("WithdrawalPaid", 1) => {
            Some(WithdrawalPaidV1::take(reader).map(|paid| EventPayload::WithdrawalPaid(paid.upcast())))
        }
        ("OrderPlaced", 1) => Some(OrderPlacedV1::take(reader).map(|old| EventPayload::OrderPlaced(old.upcast()))),
        ("OrderPlaced", 2) => Some(OrderPlacedV2::take(reader).map(|old| EventPayload::OrderPlaced(old.upcast()))),
        ("UsageCharged", 1) => Some(UsageChargedV1::take(reader).map(|old| EventPayload::UsageCharged(old.upcast()))),
        ("UsageCharged", 2) => Some(UsageChargedV2::take(reader).map(|old| EventPayload::UsageCharged(old.upcast()))),
        ("SubscriptionRenewed", 1) => {
            Some(SubscriptionRenewedV1::take(reader).map(|old| EventPayload::SubscriptionRenewed(old.upcast())))
        }
        ("SubscriptionRenewed", 2) => {
            Some(SubscriptionRenewedV2::take(reader).map(|old| EventPayload::SubscriptionRenewed(old.upcast())))
        }
        ("SettlementPaid", 1) => {
            Some(SettlementPaidV1::take(reader).map(|old| EventPayload::SettlementPaid(old.upcast())))
        }
        ("ProductCreated", 1) => {
            Some(ProductCreatedV1::take(reader).map(|old| EventPayload::ProductCreated(old.upcast())))
        }
        _ => None,
    }
}

wire_enum!(RechargeMethod { Online = 0, Offline = 1, Transfer = 2 });
wire_enum!(WithdrawalRoute { Original = 0, Offline = 1 });
wire_enum!(ApprovalKind {
    Recharge = 0,
    RechargeReversal = 1,
    Withdrawal = 2,
    SpecialRate = 3,
    SettlementPayment = 4,
    Invoice = 5,
    Coupon = 6,
    Refund = 7,
    Promotion = 8,
    ManualEntry = 9,
    PeriodReopen = 10,
    // Issue 12's tags start at 70, clear of what the parallel branches number from 9.
    CreditLimit = 70,
});
wire_enum!(ApprovalAction {
    OfflineRecharge = 0,
    TransferRecharge = 1,
    Coupon = 2,
    Withdrawal = 3,
    Refund = 4,
    PublicRateBelowCost = 5,
    CustomerRateBelowCost = 6,
    ResellerRateBelowCost = 7,
    PromotionBelowCost = 8,
    CreditLimitRaise = 9,
    ManualJournalEntry = 10,
    SettlementPayment = 11,
    PeriodReopen = 12,
});
wire_enum!(StatementFormat { Csv = 0, Camt053 = 1, Alipay = 2 });
wire_enum!(MatchKind { OneToOne = 0, OneToMany = 1, ManyToOne = 2, Suggested = 3 });
wire_enum!(CancelReason { ByCustomer = 0, ByAdmin = 1, TimedOut = 2 });
wire_enum!(CycleEvery { Month = 0, Week = 1 });
wire_enum!(OrgKind { Platform = 0, Reseller = 1, Customer = 2, Supplier = 3 });
wire_enum!(DistributorTier { Gold = 0, Platinum = 1, Diamond = 2 });
wire_enum!(Verification { Unverified = 0, Personal = 1, Company = 2 });
wire_enum!(SettlementMethod { Prepaid = 0, Postpaid = 1 });
wire_enum!(InvoiceType { Ordinary = 0, Special = 1 });
/// A built-in role is its tag; a custom role is tag 6 followed by its name.
impl Wire for Role {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        match self {
            Role::SuperAdmin => writer.u8(0),
            Role::Admin => writer.u8(1),
            Role::Finance => writer.u8(2),
            Role::Sales => writer.u8(3),
            Role::Operations => writer.u8(4),
            Role::Customer => writer.u8(5),
            Role::Custom(name) => {
                writer.u8(6);
                writer.str(name.as_str());
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        match reader.u8()? {
            0 => Ok(Role::SuperAdmin),
            1 => Ok(Role::Admin),
            2 => Ok(Role::Finance),
            3 => Ok(Role::Sales),
            4 => Ok(Role::Operations),
            5 => Ok(Role::Customer),
            6 => reader.parsed("Role", Reader::string, |text: String| RoleName::new(&text).map(Role::Custom)),
            other => Err(reader.invalid_at(start, format!("unknown Role tag {other}"))),
        }
    }
}

impl Wire for Permission {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.u8(self.tag());
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        let tag = reader.u8()?;
        Permission::from_tag(tag).ok_or_else(|| reader.invalid_at(start, format!("unknown Permission tag {tag}")))
    }
}
wire_enum!(Side { Debit = 0, Credit = 1 });
wire_enum!(AccountType { Asset = 0, Liability = 1, Equity = 2, Revenue = 3, ContraRevenue = 4, Expense = 5 });
wire_enum!(PartyRef { Customer = 0, Child = 1, Parent = 2, Supplier = 3, Distributor = 4, Counterparty = 5 });
wire_enum!(RateSource { Supplier = 0, Reseller = 1, Public = 2, Customer = 3, Promotion = 4, Rebate = 5, FirstOrder = 6 });
wire_enum!(Stacking { Exclusive = 0, Stackable = 1 });
wire_enum!(PromotionReach { InviteCode = 0, Everyone = 1 });
wire_enum!(CandidateKind { Rate = 0, Fixed = 1, Tier = 2, FirstOrder = 3, Promotion = 4 });
wire_enum!(CandidateReason { Lowest = 0, Stacked = 1, NotLowest = 2, Excluded = 3 });

impl Wire for PriceBasis {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        match self {
            PriceBasis::Rate(rate) => {
                writer.u8(0);
                rate.put(writer);
            }
            PriceBasis::UnitPrice(unit_price) => {
                writer.u8(1);
                unit_price.put(writer);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        match reader.u8()? {
            0 => Ok(PriceBasis::Rate(Wire::take(reader)?)),
            1 => Ok(PriceBasis::UnitPrice(Wire::take(reader)?)),
            other => Err(reader.invalid_at(start, format!("unknown PriceBasis tag {other}"))),
        }
    }
}

impl Wire for PriceRule {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        match self {
            PriceRule::Fixed { unit_price } => {
                writer.u8(0);
                unit_price.put(writer);
            }
            PriceRule::FirstOrder { price } => {
                writer.u8(1);
                price.put(writer);
            }
            PriceRule::Tiered { tiers } => {
                writer.u8(2);
                tiers.put(writer);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        match reader.u8()? {
            0 => Ok(PriceRule::Fixed { unit_price: Wire::take(reader)? }),
            1 => Ok(PriceRule::FirstOrder { price: Wire::take(reader)? }),
            2 => Ok(PriceRule::Tiered { tiers: Wire::take(reader)? }),
            other => Err(reader.invalid_at(start, format!("unknown PriceRule tag {other}"))),
        }
    }
}
wire_enum!(Currency { CNY = 0, USD = 1, HKD = 2, EUR = 3, SGD = 4 });

macro_rules! wire_uuid_ids {
    ($($name:ident),* $(,)?) => {
        $(impl Wire for $name {
            fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
                self.0.put(writer);
            }

            fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
                uuid::Uuid::take(reader).map($name)
            }
        })*
    };
}

wire_uuid_ids!(
    OrgId,
    ProductId,
    OrderId,
    ApprovalId,
    PromotionId,
    RechargeId,
    WithdrawalId,
    UsageId,
    RenewalId,
    SerialBatchId,
    SettlementId,
    InvoiceId,
    PrincipalId,
    ReconciliationId,
    UserId,
);

/// The short codes a person types, as strings checked by their own constructors.
macro_rules! wire_codes {
    ($($name:ident),* $(,)?) => {
        $(impl Wire for $name {
            fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
                writer.str(self.as_str());
            }

            fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
                reader.parsed(stringify!($name), Reader::string, $name::try_from)
            }
        })*
    };
}

wire_codes!(InviteCode, SerialCode, TradeNumber);

impl Wire for AccountCode {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.str(self.as_str());
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.parsed("account code", Reader::string, |text| AccountCode::parse(&text))
    }
}

/// A linear sum as the text it prints as (`list - price`), the form people write and read.
/// `parse` accepts spellings that print the same (`list-price`); only the printed one decodes,
/// so the sum has one encoding.
impl Wire for LinearSum {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.str(&self.to_string());
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.parsed("linear sum", Reader::string, |text| {
            let sum = LinearSum::parse(&text)?;
            if sum.to_string() != text {
                return Err(format!("{text:?} is not written as it prints ({sum})"));
            }
            Ok(sum)
        })
    }
}

/// Amounts and totals: integer minor units, checked against the type's range by its constructor.
impl Wire for Amount {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.zigzag(i128::from(self.to_minor()));
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.parsed("amount", Reader::zigzag_i64, Amount::from_minor)
    }
}

impl Wire for Total {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        writer.zigzag(i128::from(self.to_minor()));
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.parsed("total", Reader::zigzag_i64, Total::from_minor)
    }
}

/// A signed amount is unbounded (any `Decimal` at two decimals), so its minor units are a full
/// `Decimal` mantissa (96 bits), not an `i64`.
impl Wire for SignedAmount {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        let value = self.as_decimal();
        // `SignedAmount::from_decimal` rescales every value to two decimals; only a magnitude
        // near `Decimal::MAX`, which no sum of bounded totals reaches, could keep fewer.
        assert_eq!(value.scale(), AMOUNT_DECIMALS_MAX, "a signed amount in minor units: {value}");
        writer.zigzag(value.mantissa());
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        reader.parsed(
            "signed amount",
            |reader| reader.zigzag(128),
            |minor| Decimal::try_from_i128_with_scale(minor, AMOUNT_DECIMALS_MAX).map(SignedAmount::from_decimal),
        )
    }
}

/// Writes a decimal as it is held: its scale, then its signed mantissa.
fn put_decimal<S: Sink>(writer: &mut Writer<'_, S>, value: Decimal) {
    // A `Decimal`'s scale is at most 28.
    writer.u8(value.scale() as u8);
    writer.zigzag(value.mantissa());
}

/// Reads a decimal and builds the value with its checked constructor, which must keep the
/// decimal exactly as read: a value its constructor would rewrite (`0.9500` for a rate, which
/// is held as `0.95`) is not in canonical form and is refused, so the scale the JSON view
/// prints is the scale that was encoded.
fn take_decimal<T>(
    reader: &mut Reader<'_>,
    what: &str,
    from_decimal: fn(Decimal) -> Result<T, MoneyError>,
    as_decimal: fn(&T) -> Decimal,
) -> Result<T, RecordError> {
    let start = reader.offset();
    let scale = reader.u8()?;
    let mantissa = reader.zigzag(128)?;
    let invalid = |reason: String| RecordError { offset: start, reason: format!("invalid {what}: {reason}") };
    let decimal = Decimal::try_from_i128_with_scale(mantissa, u32::from(scale)).map_err(|e| invalid(e.to_string()))?;
    let value = from_decimal(decimal).map_err(|error| invalid(error.to_string()))?;
    let held = as_decimal(&value);
    if held.scale() != u32::from(scale) || held.mantissa() != mantissa {
        return Err(invalid(format!("{decimal} is held as {held}: not in canonical form")));
    }
    Ok(value)
}

macro_rules! wire_decimals {
    ($($name:ident),* $(,)?) => {
        $(impl Wire for $name {
            fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
                put_decimal(writer, self.as_decimal());
            }

            fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
                take_decimal(reader, stringify!($name), $name::from_decimal, |value| value.as_decimal())
            }
        })*
    };
}

wire_decimals!(Rate, UnitPrice, Quantity, ExchangeRate);

impl Wire for SaleMode {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        match self {
            SaleMode::Discount => writer.u8(0),
            SaleMode::Rebate { commission_rate } => {
                writer.u8(1);
                commission_rate.put(writer);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        match reader.u8()? {
            0 => Ok(SaleMode::Discount),
            1 => Ok(SaleMode::Rebate { commission_rate: Wire::take(reader)? }),
            other => Err(reader.invalid_at(start, format!("unknown SaleMode tag {other}"))),
        }
    }
}

impl Wire for RateScope {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        match self {
            RateScope::Public => writer.u8(0),
            RateScope::Reseller(org_id) => {
                writer.u8(1);
                org_id.put(writer);
            }
            RateScope::Customer(org_id) => {
                writer.u8(2);
                org_id.put(writer);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        match reader.u8()? {
            0 => Ok(RateScope::Public),
            1 => Ok(RateScope::Reseller(Wire::take(reader)?)),
            2 => Ok(RateScope::Customer(Wire::take(reader)?)),
            other => Err(reader.invalid_at(start, format!("unknown RateScope tag {other}"))),
        }
    }
}

impl Wire for Proposal {
    fn put<S: Sink>(&self, writer: &mut Writer<'_, S>) {
        match self {
            Proposal::ConfirmRecharge { recharge_id } => {
                writer.u8(0);
                recharge_id.put(writer);
            }
            Proposal::ReverseRecharge { recharge_id, reason } => {
                writer.u8(1);
                recharge_id.put(writer);
                reason.put(writer);
            }
            Proposal::PayWithdrawal { withdrawal_id } => {
                writer.u8(2);
                withdrawal_id.put(writer);
            }
            Proposal::SetRate(rate_set) => {
                writer.u8(3);
                rate_set.put(writer);
            }
            Proposal::PaySettlement { settlement_id } => {
                writer.u8(4);
                settlement_id.put(writer);
            }
            Proposal::IssueInvoice { invoice_id, customer_id, amount } => {
                writer.u8(5);
                invoice_id.put(writer);
                customer_id.put(writer);
                amount.put(writer);
            }
            Proposal::GrantCoupon { customer_id, amount, reason, expires_on } => {
                writer.u8(6);
                customer_id.put(writer);
                amount.put(writer);
                reason.put(writer);
                expires_on.put(writer);
            }
            Proposal::RefundOrder { order_id, amount, penalty, reason } => {
                writer.u8(7);
                order_id.put(writer);
                amount.put(writer);
                penalty.put(writer);
                reason.put(writer);
            }
            Proposal::CreatePromotion(promotion) => {
                writer.u8(8);
                promotion.put(writer);
            }
            Proposal::BookManualEntry { date, lines, memo } => {
                writer.u8(9);
                date.put(writer);
                lines.put(writer);
                memo.put(writer);
            }
            Proposal::ReopenPeriod { book, through, reason } => {
                writer.u8(10);
                book.put(writer);
                through.put(writer);
                reason.put(writer);
            }
            // Issue 12's tags start at 70, clear of what the parallel branches number from 9.
            Proposal::SetCreditLimit { customer_id, limit } => {
                writer.u8(70);
                customer_id.put(writer);
                limit.put(writer);
            }
            Proposal::SetPrice(price_set) => {
                writer.u8(11);
                price_set.put(writer);
            }
        }
    }

    fn take(reader: &mut Reader<'_>) -> Result<Self, RecordError> {
        let start = reader.offset();
        Ok(match reader.u8()? {
            0 => Proposal::ConfirmRecharge { recharge_id: Wire::take(reader)? },
            1 => Proposal::ReverseRecharge { recharge_id: Wire::take(reader)?, reason: Wire::take(reader)? },
            2 => Proposal::PayWithdrawal { withdrawal_id: Wire::take(reader)? },
            3 => Proposal::SetRate(Wire::take(reader)?),
            4 => Proposal::PaySettlement { settlement_id: Wire::take(reader)? },
            5 => Proposal::IssueInvoice {
                invoice_id: Wire::take(reader)?,
                customer_id: Wire::take(reader)?,
                amount: Wire::take(reader)?,
            },
            6 => Proposal::GrantCoupon {
                customer_id: Wire::take(reader)?,
                amount: Wire::take(reader)?,
                reason: Wire::take(reader)?,
                expires_on: Wire::take(reader)?,
            },
            7 => Proposal::RefundOrder {
                order_id: Wire::take(reader)?,
                amount: Wire::take(reader)?,
                penalty: Wire::take(reader)?,
                reason: Wire::take(reader)?,
            },
            8 => Proposal::CreatePromotion(Wire::take(reader)?),
            9 => Proposal::BookManualEntry {
                date: Wire::take(reader)?,
                lines: Wire::take(reader)?,
                memo: Wire::take(reader)?,
            },
            10 => Proposal::ReopenPeriod {
                book: Wire::take(reader)?,
                through: Wire::take(reader)?,
                reason: Wire::take(reader)?,
            },
            70 => Proposal::SetCreditLimit { customer_id: Wire::take(reader)?, limit: Wire::take(reader)? },
            11 => Proposal::SetPrice(Wire::take(reader)?),

            other => return Err(reader.invalid_at(start, format!("unknown Proposal tag {other}"))),
        })
    }
}

// The envelope's actor and the journal.
wire_struct!(Actor { org_id, principal_id, roles });
wire_struct!(RuleRef { id, version });
wire_struct!(Line { account, party, side, amount, pair });
wire_struct!(Entry { book, date, currency, rule, lines });

// What the payloads are made of.
wire_struct!(Org { id, kind, name, parent_id, currency, sale_mode });
wire_struct!(Account { code, name, account_type });
wire_struct!(RuleLine { account, party, side, amount });
wire_struct!(PostingRule { kind, role, version, lines });
wire_struct!(WaterfallLevel { org_id, rate, rate_source, cost, price, margin, unit_price, stacked, candidates });
wire_struct!(PriceTier { from_quantity, price });
wire_struct!(PriceCandidate { source, kind, promotion_id, stacking, rate, unit_price, price, applied, reason });

// Schema v1's waterfall (`OrderPlaced`, `UsageCharged`, `SubscriptionRenewed`), read only
// (`OLDER_LAYOUTS`): a level without unit price, stacked rates or candidates.
struct WaterfallLevelV1 {
    org_id: OrgId,
    rate: Rate,
    rate_source: RateSource,
    cost: Amount,
    price: Amount,
    margin: SignedAmount,
}
wire_struct!(WaterfallLevelV1 { org_id, rate, rate_source, cost, price, margin });

struct PricedItemV1 {
    product_id: ProductId,
    supplier_id: OrgId,
    quantity: Quantity,
    periods: u32,
    list_price: UnitPrice,
    list_amount: Amount,
    supplier_price: Amount,
    supplier_rate: Rate,
    levels: Vec<WaterfallLevelV1>,
}
wire_struct!(PricedItemV1 {
    product_id,
    supplier_id,
    quantity,
    periods,
    list_price,
    list_amount,
    supplier_price,
    supplier_rate,
    levels,
});

impl PricedItemV1 {
    fn upcast(self) -> PricedItem {
        let levels = self
            .levels
            .into_iter()
            .map(|level| WaterfallLevel {
                org_id: level.org_id,
                rate: level.rate,
                rate_source: level.rate_source,
                cost: level.cost,
                price: level.price,
                margin: level.margin,
                unit_price: None,
                stacked: Vec::new(),
                candidates: Vec::new(),
            })
            .collect();
        PricedItem {
            product_id: self.product_id,
            supplier_id: self.supplier_id,
            quantity: self.quantity,
            periods: self.periods,
            list_price: self.list_price,
            list_amount: self.list_amount,
            supplier_price: self.supplier_price,
            supplier_rate: self.supplier_rate,
            levels,
            exchange: None,
        }
    }
}

// Schema v2's item (`OrderPlaced`, `UsageCharged`, `SubscriptionRenewed`), read only: no exchange.
struct PricedItemV2 {
    product_id: ProductId,
    supplier_id: OrgId,
    quantity: Quantity,
    periods: u32,
    list_price: UnitPrice,
    list_amount: Amount,
    supplier_price: Amount,
    supplier_rate: Rate,
    levels: Vec<WaterfallLevel>,
}
wire_struct!(PricedItemV2 {
    product_id,
    supplier_id,
    quantity,
    periods,
    list_price,
    list_amount,
    supplier_price,
    supplier_rate,
    levels,
});

impl PricedItemV2 {
    fn upcast(self) -> PricedItem {
        PricedItem {
            product_id: self.product_id,
            supplier_id: self.supplier_id,
            quantity: self.quantity,
            periods: self.periods,
            list_price: self.list_price,
            list_amount: self.list_amount,
            supplier_price: self.supplier_price,
            supplier_rate: self.supplier_rate,
            levels: self.levels,
            exchange: None,
        }
    }
}

/// The three sales in an older layout whose items are `$item`, each upcast to today's payload.
macro_rules! older_sales {
    ($item:ident => $placed:ident, $charged:ident, $renewed:ident) => {
        struct $placed {
            order_id: OrderId,
            customer_id: OrgId,
            seller_id: OrgId,
            items: Vec<$item>,
            total: Amount,
            invite_code: Option<InviteCode>,
            salesperson: Option<String>,
        }
        wire_struct!($placed { order_id, customer_id, seller_id, items, total, invite_code, salesperson });

        impl $placed {
            fn upcast(self) -> OrderPlaced {
                OrderPlaced {
                    order_id: self.order_id,
                    customer_id: self.customer_id,
                    seller_id: self.seller_id,
                    items: self.items.into_iter().map($item::upcast).collect(),
                    total: self.total,
                    invite_code: self.invite_code,
                    salesperson: self.salesperson,
                }
            }
        }

        struct $charged {
            usage_id: UsageId,
            customer_id: OrgId,
            seller_id: OrgId,
            item: $item,
            total: Amount,
            period_from: chrono::NaiveDate,
            period_to: chrono::NaiveDate,
        }
        wire_struct!($charged { usage_id, customer_id, seller_id, item, total, period_from, period_to });

        impl $charged {
            fn upcast(self) -> UsageCharged {
                UsageCharged {
                    usage_id: self.usage_id,
                    customer_id: self.customer_id,
                    seller_id: self.seller_id,
                    item: self.item.upcast(),
                    total: self.total,
                    period_from: self.period_from,
                    period_to: self.period_to,
                }
            }
        }

        struct $renewed {
            renewal_id: RenewalId,
            order_id: OrderId,
            customer_id: OrgId,
            seller_id: OrgId,
            items: Vec<$item>,
            total: Amount,
            new_end: chrono::NaiveDate,
            renewed_by: PrincipalId,
        }
        wire_struct!($renewed { renewal_id, order_id, customer_id, seller_id, items, total, new_end, renewed_by });

        impl $renewed {
            fn upcast(self) -> SubscriptionRenewed {
                SubscriptionRenewed {
                    renewal_id: self.renewal_id,
                    order_id: self.order_id,
                    customer_id: self.customer_id,
                    seller_id: self.seller_id,
                    items: self.items.into_iter().map($item::upcast).collect(),
                    total: self.total,
                    new_end: self.new_end,
                    renewed_by: self.renewed_by,
                }
            }
        }
    };
}
older_sales!(PricedItemV1 => OrderPlacedV1, UsageChargedV1, SubscriptionRenewedV1);
older_sales!(PricedItemV2 => OrderPlacedV2, UsageChargedV2, SubscriptionRenewedV2);

// Schema v1's settlement payment, read only: nothing in a foreign currency.
struct SettlementPaidV1 {
    settlement_id: SettlementId,
    book: OrgId,
    counterparty_id: OrgId,
    receivable: SignedAmount,
    payable: SignedAmount,
}
wire_struct!(SettlementPaidV1 { settlement_id, book, counterparty_id, receivable, payable });

impl SettlementPaidV1 {
    fn upcast(self) -> SettlementPaid {
        SettlementPaid {
            settlement_id: self.settlement_id,
            book: self.book,
            counterparty_id: self.counterparty_id,
            receivable: self.receivable,
            payable: self.payable,
            exchange: Vec::new(),
        }
    }
}

// Schema v1's product, read only: priced in its owner's currency.
struct ProductCreatedV1 {
    product_id: ProductId,
    name: String,
    supplier_id: OrgId,
    owner_id: OrgId,
    list_price: UnitPrice,
    unit: String,
}
wire_struct!(ProductCreatedV1 { product_id, name, supplier_id, owner_id, list_price, unit });

impl ProductCreatedV1 {
    fn upcast(self) -> ProductCreated {
        ProductCreated {
            product_id: self.product_id,
            name: self.name,
            supplier_id: self.supplier_id,
            owner_id: self.owner_id,
            list_price: self.list_price,
            unit: self.unit,
            currency: None,
        }
    }
}

wire_struct!(PricedItem {
    product_id,
    supplier_id,
    quantity,
    periods,
    list_price,
    list_amount,
    supplier_price,
    supplier_rate,
    levels,
    exchange,
});
wire_struct!(ItemExchange { currency, list_price, rate, source, rate_date });
wire_struct!(ApprovalRule { action, above, levels });
wire_struct!(StatementLine { position, date, account, debit, credit });
wire_struct!(OrgProfile {
    contact_person,
    phone,
    email,
    company,
    tax_id,
    address,
    bank_account,
    verification,
    tags,
    notes,
});
wire_struct!(SupplierTerms { method, cycle, currency, payment_days });
wire_struct!(CloseCertificate {
    book,
    through,
    trial_balance_hash,
    total_debit,
    total_credit,
    last_position,
    rule_versions,
});

// The payloads, in the order of the event type table.
wire_struct!(OrgOpened { org });
wire_struct!(AccountOpened { book, account });
wire_struct!(PostingRulesSet { rules });
wire_struct!(SaleModeSet { reseller_id, sale_mode });
wire_struct!(ProductCreated { product_id, name, supplier_id, owner_id, list_price, unit, currency });
wire_struct!(SupplierRateSet { product_id, rate });
wire_struct!(RateSet { book, product_id, scope, rate, valid_from, valid_to });
wire_struct!(PromotionCreated { promotion_id, book, name, rates, valid_from, valid_to });
wire_struct!(PriceSet { book, product_id, scope, rule, valid_from, valid_to });
wire_struct!(PromotionTermsSet { promotion_id, book, stacking, reach });
wire_struct!(ExchangeRateSet { book, currency, rate, source, effective_from });
wire_struct!(InviteCodeCreated { code, book, promotion_id, salesperson });
wire_struct!(ApprovalRequested { approval_id, book, kind, requested_by, proposal });
wire_struct!(ApprovalDecided { approval_id, decided_by, comment });
wire_struct!(RechargeRequested { recharge_id, approval_id, customer_id, book, amount, method, reference });
wire_struct!(OnlineRechargeRequested { recharge_id, customer_id, book, amount, reference });
wire_struct!(RechargeConfirmed { recharge_id, customer_id, book, amount, method, reference, channel, trade_number });
wire_struct!(RechargeReversed { recharge_id, customer_id, book, amount, reason });
wire_struct!(CouponGranted { customer_id, book, amount, reason });
wire_struct!(OrderPlaced { order_id, customer_id, seller_id, items, total, invite_code, salesperson });
wire_struct!(OrderPaid { order_id, customer_id, seller_id, total, salesperson });
wire_struct!(OrderFulfilled { order_id, note, subscription_end });
wire_struct!(OrderCancelled { order_id, reason });
wire_struct!(OrderRefunded {
    order_id,
    customer_id,
    seller_id,
    amount,
    penalty,
    reason,
    refunded_total,
    fully_refunded,
});
wire_struct!(WithdrawalRequested { withdrawal_id, approval_id, customer_id, book, amount, route });
wire_struct!(WithdrawalPaid { withdrawal_id, customer_id, book, amount, route, channel });
// Schema v1's layout, read only (`OLDER_LAYOUTS`).
wire_struct!(WithdrawalPaidV1 { withdrawal_id, customer_id, book, amount, route });
wire_struct!(UsageCharged { usage_id, customer_id, seller_id, item, total, period_from, period_to });
wire_struct!(SubscriptionRenewed { renewal_id, order_id, customer_id, seller_id, items, total, new_end, renewed_by });
wire_struct!(SerialPackagePriced { days, list_price });
wire_struct!(DistributorTierSet { distributor_id, tier });
wire_struct!(SerialTierRateSet { tier, rate });
wire_struct!(SerialCodesIssued { batch_id, issuer_id, distributor_id, tier, days, codes, unit_price, total });
wire_struct!(SerialCodeActivated { code, batch_id, issuer_id, customer_id, days, amount });
wire_struct!(CommissionAccrued { source_id, payer_id, reseller_id, base, rate, amount });
wire_struct!(CommissionReversed { source_id, payer_id, reseller_id, amount });
wire_struct!(SettlementStatementIssued {
    settlement_id,
    book,
    counterparty_id,
    from,
    to,
    through_position,
    receivable,
    payable,
    line_count,
    statement_hash,
});
// Schema v1's layout, read only (`OLDER_LAYOUTS`).
wire_struct!(SettlementStatementIssuedV1 {
    settlement_id,
    book,
    counterparty_id,
    from,
    to,
    through_position,
    receivable,
    payable,
    lines,
    statement_hash,
});
wire_struct!(SettlementPaid { settlement_id, book, counterparty_id, receivable, payable, exchange });
wire_struct!(SettlementExchange { currency, owed, booked, rate, source, rate_date, paid, difference });
wire_struct!(InvoiceIssued { invoice_id, customer_id, book, amount });
wire_struct!(PeriodClosed { book, through, certificate });
wire_struct!(BusinessBooked { kind, role, book, amounts, parties, memo });
wire_struct!(TokenIssued {
    principal_id,
    org_id,
    user_id,
    roles,
    label,
    expires_at,
    deployment_admin,
    token_hash,
    issued_by,
});
// Schema v1's layout, read only (`OLDER_LAYOUTS`).
wire_struct!(TokenIssuedV1 { principal_id, org_id, roles, label, token_hash, issued_by });
wire_struct!(UserCreated { user_id, org_id, name, email, phone, roles, created_by });
wire_struct!(TokenRevoked { principal_id, org_id, reason, revoked_by });
wire_struct!(RoleDefined { org_id, role, permissions });
wire_struct!(CustomerOwnerSet { customer_id, book, owner_id });
wire_struct!(ApprovalPolicySet { book, rules });
wire_struct!(ApprovalRouted { approval_id, action, levels });
wire_struct!(ApprovalLevelGranted { approval_id, level, decided_by, comment });
wire_struct!(VoucherSlice { coupon, expires_on, amount });
wire_struct!(VoucherGranted { customer_id, book, amount, reason, expires_on });
wire_struct!(VoucherRedeemed { customer_id, book, source_id, slices, amount });
wire_struct!(VoucherReturned { customer_id, book, order_id, slices, amount });
wire_struct!(VoucherExpired { customer_id, book, slices, amount });
wire_struct!(OrgProfileUpdated { org_id, name, profile });
wire_struct!(OrgClosed { org_id, reason });
wire_struct!(OrgReopened { org_id });
wire_struct!(CustomerTransferred { customer_id, from, to, owner_id, reason });
wire_struct!(SerialExpirySet { batch_id, expires_on });
wire_struct!(SerialCodesExpired { batch_id, issuer_id, distributor_id, codes, expires_on, amount });
wire_struct!(SupplierTermsSet { supplier_id, book, terms });
wire_struct!(ProductUpdated { product_id, name, on_shelf, hidden_from });
wire_struct!(ListPriceScheduled { product_id, list_price, effective_from });
wire_struct!(ManualEntryBooked { approval_id, book, memo });
wire_struct!(SaleModeScheduled { reseller_id, sale_mode, effective_from });
wire_struct!(InvoiceRequested {
    invoice_id,
    customer_id,
    book,
    invoice_type,
    title,
    tax_id,
    address,
    bank_account,
    order_ids,
    amount,
    tax_rate,
    tax_amount,
});
wire_struct!(InvoiceDelivered { invoice_id });
wire_struct!(InvoiceVoided { invoice_id, customer_id, book, amount, reason });
wire_struct!(InvoiceRedLettered { invoice_id, red_invoice_id, customer_id, book, amount, tax_amount, reason });
wire_struct!(LowBalanceThresholdSet { customer_id, book, threshold });
wire_struct!(PeriodReopened {
    book,
    through,
    closed_through,
    close_position,
    reason,
    approval_id,
    requested_by,
    trial_balance_hash,
    total_debit,
    total_credit,
    last_position,
});
wire_struct!(Tolerance { amount, days });
wire_struct!(StatementRow { row, date, amount, reference });
wire_struct!(LedgerItem { position, entry, line, date, amount });
wire_struct!(MatchGroup { kind, ledger, statement, difference });
wire_struct!(ReconciliationRecorded {
    reconciliation_id,
    book,
    account,
    format,
    statement_sha256,
    tolerance,
    through_position,
    statement,
    ledger,
    groups,
});
wire_struct!(CreditLimitSet { customer_id, book, limit });
wire_struct!(CreditDrawn { customer_id, book, source_id, amount, due_on });
wire_struct!(ArrearsRepaid { customer_id, book, source_id, amount, arrears_due_on });
wire_struct!(ArrearsOverdue { customer_id, book, amount, due_on });
wire_struct!(BookTermsSet { book, order_payment_timeout_minutes, arrears_due_days, renewal_lead_days });
wire_struct!(SettlementCycle { every, day });
wire_struct!(SettlementCycleSet { book, counterparty_id, cycle });
wire_struct!(AutoRenewalSet { order_id, customer_id, seller_id, periods });
wire_struct!(AutoRenewalFailed { order_id, customer_id, seller_id, subscription_end, reason, needed, available });
