//! Record format v2 over whole events: every event type round-trips byte for byte, with every
//! optional field absent and present; a cut or corrupted record is an error, never a panic and
//! never the same event; the §2.5 purchase records are smaller than their canonical JSON.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use ledger_core::approval_policy::{ApprovalAction, ApprovalRule};
use ledger_core::chart::{Account, AccountCode, AccountType, Side};
use ledger_core::event::*;
use ledger_core::ids::*;
use ledger_core::journal::{Entry, Line};
use ledger_core::money::{Amount, Currency, ExchangeRate, Quantity, Rate, SignedAmount, Total, UnitPrice};
use ledger_core::org::{Actor, DistributorTier, Org, OrgKind, Role, RoleName, SaleMode};
use ledger_core::permissions::Permission;
use ledger_core::pricing::{
    CandidateKind, CandidateReason, ItemExchange, PriceBasis, PriceCandidate, PriceRule, PriceTier, PricedItem,
    PromotionReach, RateScope, RateSource, Stacking, WaterfallLevel,
};
use ledger_core::reconcile::{LedgerItem, MatchGroup, MatchKind, StatementFormat, StatementRow, Tolerance};
use ledger_core::record::{self, decode, encode, RecordError, EVENT_TAGS, HEADER_BYTES, RECORD_FORMAT};
use ledger_core::rules::{LinearSum, PartyRef, PostingRule, RuleLine, RuleRef};
use ledger_core::testing::{actor, amount, date, id, rate, worked_example_purchase, WorkedExample};
use ledger_core::{
    AccessCommand, ApprovalCommand, ClockCommand, MoneyCommand, OrderCommand, RegistryCommand, SerialCommand,
    SettlementCommand, SetupCommand, TermsCommand,
};
use ledger_core::{CommandBody, EventPayload, RecordedEvent};

// ---------------------------------------------------------------- the corpus

/// A §2.5 world taken through most flows, the way the decider tests do: what real records look
/// like (waterfalls, entries in several books, pair ids, approvals, statements, certificates).
fn world_log() -> Vec<RecordedEvent> {
    let mut world = WorkedExample::new();
    let (platform_operations, platform_sales) =
        (actor(world.platform, 1004, &[Role::Operations]), actor(world.platform, 1003, &[Role::Sales]));
    let (platform_admin, platform_finance) = (world.platform_admin.clone(), world.platform_finance.clone());
    let (r1_admin, r2_admin) = (world.r1_admin.clone(), world.r2_admin.clone());
    let (r2_sales, r2_finance) = (world.r2_sales.clone(), world.r2_finance.clone());
    let r2_operations = actor(world.r2, 4040, &[Role::Operations]);
    let customer = world.customer_actor.clone();
    let ledger = |world: &mut WorkedExample, by: &Actor, body: CommandBody| {
        world.ledger.given(by, body);
    };
    let decide_approval = |approval: u128, grant: bool, comment: Option<&str>| {
        CommandBody::Approval(ApprovalCommand::DecideApproval {
            approval_id: id(approval),
            grant,
            comment: comment.map(str::to_owned),
        })
    };

    // Wallet: an offline recharge (approved), an online one, a coupon, one recharge rejected.
    world.recharge("5000.00");
    let online = MoneyCommand::ConfirmOnlineRecharge {
        recharge_id: id(200),
        customer_id: world.customer,
        amount: amount("80.00"),
        channel: "alipay".into(),
        trade_number: TradeNumber::try_from("2026011522001".to_owned()).unwrap(),
    };
    ledger(&mut world, &r2_finance, online.into());
    // An online recharge the customer requests, then the channel's notification pays.
    let expected = MoneyCommand::RequestRecharge {
        recharge_id: id(202),
        approval_id: id(203),
        customer_id: world.customer,
        amount: amount("95.00"),
        method: RechargeMethod::Online,
        reference: "checkout 7".into(),
    };
    ledger(&mut world, &customer, expected.into());
    let paid = MoneyCommand::ConfirmOnlinePayment {
        payment_id: uid(202),
        recharge_id: id(204),
        amount: amount("95.00"),
        channel: "alipay".into(),
        trade_number: TradeNumber::try_from("2026011522002".to_owned()).unwrap(),
    };
    ledger(&mut world, &r2_finance, paid.into());
    let coupon = MoneyCommand::GrantCoupon {
        customer_id: world.customer,
        amount: amount("20.00"),
        reason: "welcome".into(),
        approval_id: id(212),
        expires_on: None,
    };
    ledger(&mut world, &r2_sales, coupon.into());
    let rejected = MoneyCommand::RequestRecharge {
        recharge_id: id(210),
        approval_id: id(211),
        customer_id: world.customer,
        amount: amount("1.00"),
        method: RechargeMethod::Transfer,
        reference: "slip 9".into(),
    };
    ledger(&mut world, &r2_sales, rejected.into());
    ledger(&mut world, &r2_finance, decide_approval(211, false, Some("no slip")));
    let reversal = MoneyCommand::RequestRechargeReversal {
        approval_id: id(202),
        recharge_id: id(200),
        reason: "chargeback".into(),
    };
    ledger(&mut world, &r2_finance, reversal.into());
    ledger(&mut world, &r2_admin, decide_approval(202, true, None));

    // Orders: pay, fulfil, refund in part, renew; another cancelled; usage.
    let order_id = world.place_order();
    world.pay_order(order_id);
    let fulfil = OrderCommand::FulfilOrder {
        order_id,
        note: Some("ticket 42".into()),
        subscription_end: Some(date("2026-02-15")),
    };
    ledger(&mut world, &r2_operations, fulfil.into());
    let renew =
        OrderCommand::RenewSubscription { renewal_id: id(510), order_id, periods: 1, new_end: date("2026-03-15") };
    ledger(&mut world, &customer, renew.into());
    let refund = OrderCommand::RefundOrder {
        approval_id: id(9900017),
        order_id,
        amount: amount("100.00"),
        penalty: amount("10.00"),
        reason: "unsubscribe".into(),
    };
    ledger(&mut world, &r2_finance, refund.into());
    let cancelled = world.place_order();
    ledger(&mut world, &customer, OrderCommand::CancelOrder { order_id: cancelled }.into());
    let usage = OrderCommand::ChargeUsage {
        usage_id: id(500),
        customer_id: world.customer,
        product_id: world.product,
        quantity: Quantity::parse("0.125").unwrap(),
        period_from: date("2026-01-01"),
        period_to: date("2026-01-14"),
    };
    ledger(&mut world, &r2_operations, usage.into());

    // A withdrawal by bank transfer, approved.
    let withdraw = MoneyCommand::Withdraw {
        withdrawal_id: id(300),
        approval_id: id(301),
        customer_id: world.customer,
        amount: amount("30.00"),
        route: WithdrawalRoute::Offline,
        channel: None,
        offline_withdrawal_id: id(302),
    };
    ledger(&mut world, &customer, withdraw.into());
    ledger(&mut world, &r2_finance, decide_approval(301, true, Some("paid by bank")));

    // Setup: a promotion with an invite code, an order placed with it, a token, an account, a
    // custom kind booked, a rebate reseller and its commission.
    let promotion = SetupCommand::CreatePromotion {
        approval_id: id(9900016),
        promotion_id: id(700),
        book: world.r2,
        name: "Spring".into(),
        rates: BTreeMap::from([(world.product, rate("0.9"))]),
        valid_from: date("2026-01-01"),
        valid_to: date("2026-12-31"),
    };
    ledger(&mut world, &r2_admin, promotion.into());
    let invite = SetupCommand::CreateInviteCode {
        code: InviteCode::try_from("SPRING-26".to_owned()).unwrap(),
        book: world.r2,
        promotion_id: Some(id(700)),
        salesperson: Some("Li Lei".into()),
    };
    ledger(&mut world, &r2_admin, invite.into());
    let place_with_code = OrderCommand::PlaceOrder {
        order_id: id(800),
        customer_id: world.customer,
        items: vec![ledger_core::command::OrderItemRequest {
            product_id: world.product,
            quantity: Quantity::parse("2.5").unwrap(),
            periods: 3,
        }],
        invite_code: Some(InviteCode::try_from("SPRING-26".to_owned()).unwrap()),
    };
    ledger(&mut world, &customer, place_with_code.into());
    let token = AccessCommand::IssueToken {
        principal_id: id(4090),
        org_id: world.r2,
        user_id: id(4095),
        new_user: Some("王芳".into()),
        roles: Some([Role::Finance, Role::Sales].into()),
        label: Some("finance desk".into()),
        expires_at: None,
        token_hash: hex::encode(Sha256::digest(b"a token")),
    };
    ledger(&mut world, &r2_admin, token.into());
    ledger(&mut world, &r2_admin, AccessCommand::RevokeToken { principal_id: id(4090), reason: None }.into());
    let auditor = AccessCommand::DefineRole {
        org_id: world.r2,
        role: Role::Custom(RoleName::new("auditor").unwrap()),
        permissions: [Permission::LedgerRead, Permission::ExportsRead].into(),
    };
    ledger(&mut world, &r2_admin, auditor.into());
    let owner = AccessCommand::SetCustomerOwner { customer_id: world.customer, owner_id: id(4095) };
    ledger(&mut world, &r2_admin, owner.into());
    let account = SetupCommand::OpenAccount {
        book: world.r2,
        code: "6052".into(),
        name: "Service fee income".into(),
        account_type: AccountType::Revenue,
    };
    ledger(&mut world, &r2_finance, account.into());
    let fee_rule = PostingRule {
        kind: "service_fee".into(),
        role: "seller".into(),
        version: 0,
        lines: vec![
            RuleLine {
                account: AccountCode::parse("2203").unwrap(),
                party: Some(PartyRef::Customer),
                side: Side::Debit,
                amount: LinearSum::parse("fee").unwrap(),
            },
            RuleLine {
                account: AccountCode::parse("6052").unwrap(),
                party: None,
                side: Side::Credit,
                amount: LinearSum::parse("fee").unwrap(),
            },
        ],
    };
    ledger(&mut world, &platform_finance, SetupCommand::SetPostingRules { rules: vec![fee_rule] }.into());
    let fee = SetupCommand::BookBusiness {
        kind: "service_fee".into(),
        role: "seller".into(),
        book: world.r2,
        amounts: BTreeMap::from([("fee".to_owned(), amount("12.34"))]),
        parties: BTreeMap::from([(PartyRef::Customer, world.customer)]),
        memo: "March support fee".into(),
    };
    ledger(&mut world, &r2_finance, fee.into());
    let rebate = SetupCommand::SetSaleMode {
        reseller_id: world.r2,
        sale_mode: SaleMode::Rebate { commission_rate: rate("0.05") },
        effective_from: None,
    };
    ledger(&mut world, &r1_admin, rebate.into());
    let rebated = world.place_order();
    world.pay_order(rebated);
    let refund = OrderCommand::RefundOrder {
        approval_id: id(9900015),
        order_id: rebated,
        amount: amount("880.00"),
        penalty: amount("0.00"),
        reason: "changed mind".into(),
    };
    ledger(&mut world, &r2_finance, refund.into());

    // Serial codes: package price, tier, tier rate, a batch, an activation.
    let package = SerialCommand::SetSerialPackagePrice { days: 30, list_price: amount("100.00") };
    ledger(&mut world, &platform_operations, package.into());
    let tier = SerialCommand::SetDistributorTier { distributor_id: world.r1, tier: DistributorTier::Gold };
    ledger(&mut world, &platform_sales, tier.into());
    let tier_rate = SerialCommand::SetSerialTierRate { tier: DistributorTier::Gold, rate: rate("0.80") };
    ledger(&mut world, &platform_finance, tier_rate.into());
    let codes = ["SN-0001", "SN-0002", "SN-0003"].map(|text| SerialCode::try_from(text.to_owned()).unwrap());
    let batch = SerialCommand::IssueSerialCodes {
        batch_id: id(600),
        distributor_id: world.r1,
        days: 30,
        codes: codes.to_vec(),
        // Past it, the tick of 2026-03-12 books the codes never activated out.
        expires_on: Some(date("2026-02-28")),
    };
    ledger(&mut world, &platform_operations, batch.into());
    let activate = SerialCommand::ActivateSerialCode { code: codes[1].clone(), customer_id: world.customer };
    ledger(&mut world, &customer, activate.into());

    // An invoice, a settlement statement and its payment, a period close.
    let invoice = SettlementCommand::RequestInvoice {
        invoice_id: id(950),
        approval_id: id(951),
        customer_id: world.customer,
        amount: amount("500.00"),
        details: None,
    };
    ledger(&mut world, &customer, invoice.into());
    ledger(&mut world, &r2_finance, decide_approval(951, true, None));
    let expiring = MoneyCommand::GrantCoupon {
        customer_id: world.customer,
        amount: amount("5.00"),
        reason: "this month".into(),
        approval_id: id(214),
        expires_on: Some(date("2026-02-01")),
    };
    ledger(&mut world, &r2_sales, expiring.into());
    world.ledger.today = date("2026-03-01");
    let expire = MoneyCommand::ExpireVouchers { customer_id: world.customer };
    ledger(&mut world, &r2_finance, expire.into());
    let statement = SettlementCommand::IssueSettlementStatement {
        settlement_id: id(900),
        book: world.platform,
        counterparty_id: world.r1,
        from: date("2026-01-01"),
        to: date("2026-01-31"),
    };
    ledger(&mut world, &platform_finance, statement.into());
    let pay = SettlementCommand::PaySettlement { settlement_id: id(900), approval_id: id(910) };
    ledger(&mut world, &platform_finance, pay.into());
    ledger(&mut world, &platform_admin, decide_approval(910, true, None));
    let close = SettlementCommand::ClosePeriod { book: world.r2, through: date("2026-01-31") };
    ledger(&mut world, &r2_finance, close.into());

    // An approval policy: a coupon above 100.00 waits for finance, then admin.
    let two_levels = vec![BTreeSet::from([Role::Finance]), BTreeSet::from([Role::Admin])];
    let policy = ApprovalCommand::SetApprovalPolicy {
        book: world.r2,
        rules: vec![ApprovalRule { action: ApprovalAction::Coupon, above: Some(amount("100.00")), levels: two_levels }],
    };
    ledger(&mut world, &r2_admin, policy.into());
    let large_coupon = MoneyCommand::GrantCoupon {
        customer_id: world.customer,
        amount: amount("150.00"),
        reason: "loyalty".into(),
        approval_id: id(213),
        expires_on: None,
    };
    ledger(&mut world, &r2_sales, large_coupon.into());
    ledger(&mut world, &r2_finance, decide_approval(213, true, Some("first level")));
    ledger(&mut world, &r2_admin, decide_approval(213, true, None));

    // The back office's registries.
    let profile = OrgProfile { company: Some("Customer C Ltd".into()), ..OrgProfile::default() };
    let update = RegistryCommand::UpdateOrg { org_id: world.customer, name: None, profile: Some(profile) };
    ledger(&mut world, &r2_sales, update.into());
    let walk_in = id(6);
    let open = SetupCommand::OpenOrg {
        org_id: walk_in,
        kind: OrgKind::Customer,
        name: "Walk-in".into(),
        parent_id: world.r2,
        sale_mode: None,
    };
    ledger(&mut world, &r2_sales, open.into());
    ledger(&mut world, &r2_sales, RegistryCommand::CloseOrg { org_id: walk_in, reason: None }.into());
    ledger(&mut world, &r2_sales, RegistryCommand::ReopenOrg { org_id: walk_in }.into());
    let terms = SupplierTerms {
        method: SettlementMethod::Postpaid,
        cycle: CycleEvery::Month,
        currency: Currency::CNY,
        payment_days: 30,
    };
    let supplier_terms = RegistryCommand::SetSupplierTerms { supplier_id: world.supplier, terms };
    ledger(&mut world, &platform_admin, supplier_terms.into());
    let (platform_admin, product) = (platform_admin.clone(), world.product);
    let shelf = RegistryCommand::UpdateProduct {
        product_id: product,
        name: Some("GPU server (A100)".into()),
        on_shelf: None,
        hidden_from: None,
    };
    ledger(&mut world, &platform_admin, shelf.into());
    let price = RegistryCommand::ScheduleListPrice {
        product_id: product,
        list_price: UnitPrice::parse("1100.00").unwrap(),
        effective_from: date("2026-03-01"),
    };
    ledger(&mut world, &platform_admin, price.into());
    let manual = SettlementCommand::RequestManualEntry {
        approval_id: id(214),
        book: world.r2,
        date: world.ledger.today,
        lines: vec![
            Line {
                account: AccountCode::parse("6601").unwrap(),
                party: None,
                side: Side::Debit,
                amount: amount("12.00"),
                pair: None,
            },
            Line {
                account: AccountCode::parse("1002").unwrap(),
                party: None,
                side: Side::Credit,
                amount: amount("12.00"),
                pair: None,
            },
        ],
        memo: "bank charges".into(),
    };
    ledger(&mut world, &r2_finance, manual.into());
    ledger(&mut world, &r2_admin, decide_approval(214, true, None));
    let later = SetupCommand::SetSaleMode {
        reseller_id: world.r2,
        sale_mode: SaleMode::Discount,
        effective_from: Some(date("2027-01-01")),
    };
    ledger(&mut world, &r1_admin, later.into());

    // Invoices with their details: requested, issued, delivered, red-lettered; another voided.
    let details = ledger_core::command::InvoiceDetails {
        invoice_type: InvoiceType::Ordinary,
        title: "Customer C Ltd".into(),
        tax_id: Some("91330100MA2XXXXXX".into()),
        address: None,
        bank_account: None,
        order_ids: Vec::new(),
        tax_rate: None,
    };
    for (number, value) in [(960, "106.00"), (961, "10.60")] {
        let request = SettlementCommand::RequestInvoice {
            invoice_id: id(number),
            approval_id: id(number + 100),
            customer_id: world.customer,
            amount: amount(value),
            details: Some(details.clone()),
        };
        ledger(&mut world, &r2_sales, request.into());
    }
    ledger(&mut world, &r2_finance, SettlementCommand::IssueInvoice { invoice_id: id(960) }.into());
    ledger(&mut world, &r2_finance, SettlementCommand::DeliverInvoice { invoice_id: id(960) }.into());
    let red = SettlementCommand::RedLetterInvoice {
        invoice_id: id(960),
        red_invoice_id: id(962),
        amount: amount("53.00"),
        reason: "partial refund".into(),
    };
    ledger(&mut world, &r2_finance, red.into());
    let void = SettlementCommand::VoidInvoice { invoice_id: id(961), reason: "wrong title".into() };
    ledger(&mut world, &r2_finance, void.into());
    // Issue 14: a low-balance threshold, January reopened with its reason, a reconciliation.
    let threshold =
        MoneyCommand::SetLowBalanceThreshold { customer_id: world.customer, threshold: Some(amount("100.00")) };
    ledger(&mut world, &customer, threshold.into());
    let reopen = SettlementCommand::RequestPeriodReopen {
        approval_id: id(920),
        book: world.r2,
        through: date("2026-01-31"),
        reason: "a bank fee was missed".into(),
    };
    ledger(&mut world, &r2_finance, reopen.into());
    ledger(&mut world, &r2_admin, decide_approval(920, true, None));
    let signed = |value: &str| SignedAmount::from_decimal(value.parse().unwrap());
    let reconciliation = SettlementCommand::RecordReconciliation {
        reconciliation_id: id(930),
        book: world.r2,
        account: AccountCode::parse("1002").unwrap(),
        format: StatementFormat::Csv,
        statement_sha256: "ef".repeat(32),
        tolerance: Tolerance { amount: amount("0.00"), days: 2 },
        through_position: world.ledger.state.last_position,
        statement: vec![StatementRow {
            row: 1,
            date: date("2026-01-15"),
            amount: signed("5000.00"),
            reference: "slip 42".into(),
        }],
        ledger: vec![LedgerItem {
            position: 3,
            entry: 0,
            line: 0,
            date: date("2026-01-15"),
            amount: signed("5000.00"),
        }],
    };
    ledger(&mut world, &r2_finance, reconciliation.into());
    // Credit, the clock and settlement cycles (issue 12): R2's terms, a credit limit raised with
    // approval, an order paid partly on credit, a recharge that repays part of it, a settlement
    // cycle and an auto-renewal; then a tick once the arrears are overdue: the cycle's statement,
    // the arrears noticed, the renewal refused for them.
    let terms = TermsCommand::SetBookTerms {
        book: world.r2,
        order_payment_timeout_minutes: None,
        arrears_due_days: Some(10),
        renewal_lead_days: Some(5),
    };
    ledger(&mut world, &r2_finance, terms.into());
    let raise =
        TermsCommand::SetCreditLimit { customer_id: world.customer, limit: amount("20000.00"), approval_id: id(215) };
    ledger(&mut world, &r2_sales, raise.into());
    ledger(&mut world, &r2_finance, decide_approval(215, true, None));
    let on_credit = OrderCommand::PlaceOrder {
        order_id: id(801),
        customer_id: world.customer,
        items: vec![ledger_core::command::OrderItemRequest {
            product_id: world.product,
            quantity: Quantity::whole(15),
            periods: 1,
        }],
        invite_code: None,
    };
    ledger(&mut world, &customer, on_credit.into());
    ledger(&mut world, &customer, OrderCommand::PayOrder { order_id: id(801) }.into());
    let repay = MoneyCommand::ConfirmOnlineRecharge {
        recharge_id: id(205),
        customer_id: world.customer,
        amount: amount("100.00"),
        channel: "alipay".into(),
        trade_number: TradeNumber::try_from("2026030122003".to_owned()).unwrap(),
    };
    ledger(&mut world, &r2_finance, repay.into());
    let cycle = TermsCommand::SetSettlementCycle {
        book: world.platform,
        counterparty_id: world.supplier,
        cycle: Some(SettlementCycle { every: CycleEvery::Month, day: 1 }),
    };
    ledger(&mut world, &platform_finance, cycle.into());
    ledger(&mut world, &customer, TermsCommand::SetAutoRenewal { order_id, periods: Some(1) }.into());
    world.ledger.today = date("2026-03-12");
    let clock = ledger_core::decide::clock_actor(world.platform);
    ledger(&mut world, &clock, ClockCommand::Tick.into());
    // 归属转移: the walk-in customer, with nothing open, moves from R2 up to R1.
    let transfer = RegistryCommand::TransferCustomer {
        customer_id: walk_in,
        to: world.r1,
        owner_id: None,
        reason: Some("served by R1 directly".into()),
    };
    ledger(&mut world, &r1_admin, transfer.into());
    // Pricing (issue 12): a tiered public price, the promotion made stackable and open to every
    // customer, and an order priced with its candidates.
    let tiers = PriceRule::Tiered {
        tiers: vec![
            PriceTier { from_quantity: Quantity::whole(1), price: PriceBasis::Rate(rate("0.96")) },
            PriceTier { from_quantity: Quantity::whole(2), price: PriceBasis::Rate(rate("0.93")) },
        ],
    };
    let price = SetupCommand::SetPrice {
        book: world.r2,
        product_id: world.product,
        scope: RateScope::Public,
        rule: tiers,
        valid_from: None,
        valid_to: Some(date("2026-12-31")),
        approval_id: id(9900017),
    };
    ledger(&mut world, &r2_admin, price.into());
    let terms = SetupCommand::SetPromotionTerms {
        promotion_id: id(700),
        stacking: Stacking::Stackable,
        reach: Some(PromotionReach::Everyone),
    };
    ledger(&mut world, &r2_admin, terms.into());
    let place = OrderCommand::PlaceOrder {
        order_id: id(8801),
        customer_id: world.customer,
        items: vec![ledger_core::command::OrderItemRequest {
            product_id: world.product,
            quantity: Quantity::whole(3),
            periods: 1,
        }],
        invite_code: None,
    };
    ledger(&mut world, &customer, place.into());
    // Money in more than one currency (issue 12): the platform's USD rate, and a product its
    // supplier prices in USD.
    let usd = SetupCommand::SetExchangeRate {
        book: world.platform,
        currency: Currency::USD,
        rate: ExchangeRate::parse("7.1").unwrap(),
        source: "PBOC central parity".into(),
        effective_from: date("2026-03-01"),
    };
    ledger(&mut world, &platform_finance, usd.into());
    let product = SetupCommand::CreateProduct {
        product_id: id(8802),
        name: "GPU hour (US)".into(),
        supplier_id: world.supplier,
        list_price: UnitPrice::parse("2.50").unwrap(),
        unit: "hour".into(),
        currency: Some(Currency::USD),
    };
    ledger(&mut world, &platform_operations, product.into());
    world.ledger.log
}

/// An id built from a readable number.
fn uid(value: u128) -> Uuid {
    Uuid::from_u128(value)
}

/// `Some(value)` in the corpus with every optional field present, `None` in the other.
fn maybe<T>(full: bool, value: T) -> Option<T> {
    full.then_some(value)
}

fn item(full: bool) -> PricedItem {
    let (top, seller) = (id(1), id(4));
    PricedItem {
        product_id: id(100),
        supplier_id: id(2),
        quantity: if full { Quantity::parse("999999999.000001").unwrap() } else { Quantity::whole(1) },
        periods: if full { u32::MAX } else { 0 },
        list_price: UnitPrice::parse(if full { "0.000001" } else { "1000" }).unwrap(),
        list_amount: amount("1000.00"),
        supplier_price: amount("700.00"),
        supplier_rate: rate("0.70"),
        levels: [
            WaterfallLevel {
                org_id: top,
                rate: rate("0.8765"),
                rate_source: RateSource::Promotion,
                cost: amount("700.00"),
                price: amount("876.50"),
                margin: SignedAmount::from(amount("176.50")),
                unit_price: None,
                stacked: Vec::new(),
                candidates: Vec::new(),
            },
            WaterfallLevel {
                org_id: seller,
                rate: Rate::ONE,
                rate_source: RateSource::Rebate,
                cost: Amount::MAX,
                price: Amount::ZERO,
                margin: SignedAmount::ZERO.sub(Amount::MAX),
                unit_price: Some(UnitPrice::parse("999999999.999999").unwrap()),
                stacked: vec![rate("0.9"), rate("0.0001")],
                candidates: vec![
                    PriceCandidate {
                        source: RateSource::FirstOrder,
                        kind: CandidateKind::FirstOrder,
                        promotion_id: None,
                        stacking: None,
                        rate: None,
                        unit_price: Some(UnitPrice::parse("0.000001").unwrap()),
                        price: Amount::MAX,
                        applied: true,
                        reason: CandidateReason::Lowest,
                    },
                    PriceCandidate {
                        source: RateSource::Promotion,
                        kind: CandidateKind::Promotion,
                        promotion_id: Some(id(700)),
                        stacking: Some(Stacking::Stackable),
                        rate: Some(rate("0.9")),
                        unit_price: None,
                        price: Amount::ZERO,
                        applied: false,
                        reason: CandidateReason::Excluded,
                    },
                ],
            },
        ]
        .into_iter()
        .take(if full { 2 } else { 1 })
        .collect(),
        exchange: maybe(
            full,
            ItemExchange {
                currency: Currency::USD,
                list_price: UnitPrice::parse("0.000001").unwrap(),
                rate: ExchangeRate::parse("999999999.999999").unwrap(),
                source: "PBOC central parity".to_owned(),
                rate_date: NaiveDate::MIN,
            },
        ),
    }
}

fn rate_set(full: bool) -> RateSet {
    RateSet {
        book: id(3),
        product_id: id(100),
        scope: if full { RateScope::Customer(id(5)) } else { RateScope::Public },
        rate: rate("0.95"),
        valid_from: maybe(full, NaiveDate::MIN),
        valid_to: maybe(full, NaiveDate::MAX),
    }
}

fn roles(full: bool) -> BTreeSet<Role> {
    if full {
        [Role::SuperAdmin, Role::Admin, Role::Finance, Role::Sales, Role::Operations, Role::Customer].into()
    } else {
        BTreeSet::new()
    }
}

/// Every event type, built by hand: with every optional field present and every collection
/// filled (`full`), or with every optional field absent and every collection empty.
fn every_payload(full: bool) -> Vec<EventPayload> {
    let text = |value: &str| if full { format!("{value} 销售 ✓") } else { String::new() };
    let org = Org {
        id: id(4),
        kind: OrgKind::Reseller,
        name: text("R2"),
        parent_id: maybe(full, id(3)),
        currency: if full { Currency::SGD } else { Currency::CNY },
        sale_mode: if full { SaleMode::Rebate { commission_rate: rate("0.0001") } } else { SaleMode::Discount },
    };
    let rule = PostingRule {
        kind: "sale".into(),
        role: "seller".into(),
        version: if full { u32::MAX } else { 0 },
        lines: vec![
            RuleLine {
                account: AccountCode::parse("2203").unwrap(),
                party: maybe(full, PartyRef::Counterparty),
                side: Side::Debit,
                amount: LinearSum::parse("price").unwrap(),
            },
            RuleLine {
                account: AccountCode::parse("6001.99").unwrap(),
                party: None,
                side: Side::Debit,
                amount: LinearSum::parse("-2*list + 1000*price - cost").unwrap(),
            },
        ],
    };
    let proposals = [
        Proposal::ConfirmRecharge { recharge_id: id(200) },
        Proposal::ReverseRecharge { recharge_id: id(200), reason: text("duplicate slip") },
        Proposal::PayWithdrawal { withdrawal_id: id(300) },
        Proposal::SetRate(rate_set(full)),
        Proposal::PaySettlement { settlement_id: id(900) },
        Proposal::IssueInvoice { invoice_id: id(950), customer_id: id(5), amount: amount("0.01") },
    ];
    let kinds = [
        ApprovalKind::Recharge,
        ApprovalKind::RechargeReversal,
        ApprovalKind::Withdrawal,
        ApprovalKind::SpecialRate,
        ApprovalKind::SettlementPayment,
        ApprovalKind::Invoice,
    ];
    let decided = ApprovalDecided { approval_id: id(10), decided_by: id(4003), comment: maybe(full, text("ok")) };
    let items = if full { vec![item(true), item(false)] } else { Vec::new() };
    let mut payloads = vec![
        EventPayload::OrgOpened(OrgOpened { org }),
        EventPayload::AccountOpened(AccountOpened {
            book: id(4),
            account: Account {
                code: AccountCode::parse("6052").unwrap(),
                name: text("Service fee income"),
                account_type: AccountType::ContraRevenue,
            },
        }),
        EventPayload::PostingRulesSet(PostingRulesSet { rules: if full { vec![rule.clone(), rule] } else { vec![] } }),
        EventPayload::SaleModeSet(SaleModeSet {
            reseller_id: id(4),
            sale_mode: if full { SaleMode::Rebate { commission_rate: Rate::ONE } } else { SaleMode::Discount },
        }),
        EventPayload::ProductCreated(ProductCreated {
            product_id: id(100),
            name: text("GPU server"),
            supplier_id: id(2),
            owner_id: id(1),
            list_price: UnitPrice::parse("1000000000").unwrap(),
            unit: text("month"),
            currency: maybe(full, Currency::USD),
        }),
        EventPayload::SupplierRateSet(SupplierRateSet { product_id: id(100), rate: rate("0.7") }),
        EventPayload::RateSet(rate_set(full)),
        EventPayload::PromotionCreated(PromotionCreated {
            promotion_id: id(700),
            book: id(4),
            name: text("Spring"),
            rates: if full {
                BTreeMap::from([(id(101), rate("0.9")), (id(100), rate("0.85"))])
            } else {
                BTreeMap::new()
            },
            valid_from: date("2026-01-01"),
            valid_to: date("2026-12-31"),
        }),
        EventPayload::InviteCodeCreated(InviteCodeCreated {
            code: InviteCode::try_from("SPRING_26-x".to_owned()).unwrap(),
            book: id(4),
            promotion_id: maybe(full, id(700)),
            salesperson: maybe(full, text("Li Lei")),
        }),
        EventPayload::ApprovalGranted(decided.clone()),
        EventPayload::ApprovalRejected(decided),
        EventPayload::RechargeRequested(RechargeRequested {
            recharge_id: id(200),
            approval_id: id(201),
            customer_id: id(5),
            book: id(4),
            amount: Amount::MAX,
            method: RechargeMethod::Transfer,
            reference: text("bank slip 42"),
        }),
        EventPayload::RechargeConfirmed(RechargeConfirmed {
            recharge_id: id(200),
            customer_id: id(5),
            book: id(4),
            amount: amount("80.00"),
            method: if full { RechargeMethod::Online } else { RechargeMethod::Offline },
            reference: text("alipay"),
            channel: maybe(full, "alipay".into()),
            trade_number: maybe(full, TradeNumber::try_from("T".repeat(64)).unwrap()),
        }),
        EventPayload::RechargeReversed(RechargeReversed {
            recharge_id: id(200),
            customer_id: id(5),
            book: id(4),
            amount: amount("80.00"),
            reason: text("chargeback"),
        }),
        EventPayload::CouponGranted(CouponGranted {
            customer_id: id(5),
            book: id(4),
            amount: amount("20.00"),
            reason: text("welcome"),
        }),
        EventPayload::OrderPlaced(OrderPlaced {
            order_id: id(800),
            customer_id: id(5),
            seller_id: id(4),
            items: items.clone(),
            total: amount("950.00"),
            invite_code: maybe(full, InviteCode::try_from("SPRING".to_owned()).unwrap()),
            salesperson: maybe(full, text("Li Lei")),
        }),
        EventPayload::OrderPaid(OrderPaid {
            order_id: id(800),
            customer_id: id(5),
            seller_id: id(4),
            total: amount("950.00"),
            salesperson: maybe(full, text("Li Lei")),
        }),
        EventPayload::OrderFulfilled(OrderFulfilled {
            order_id: id(800),
            note: maybe(full, text("ticket 42")),
            subscription_end: maybe(full, date("2026-02-15")),
        }),
        EventPayload::OrderRefunded(OrderRefunded {
            order_id: id(800),
            customer_id: id(5),
            seller_id: id(4),
            amount: amount("100.00"),
            penalty: amount("10.00"),
            reason: text("unsubscribe"),
            refunded_total: amount("100.00"),
            fully_refunded: full,
        }),
        EventPayload::WithdrawalRequested(WithdrawalRequested {
            withdrawal_id: id(300),
            approval_id: id(301),
            customer_id: id(5),
            book: id(4),
            amount: amount("30.00"),
            route: if full { WithdrawalRoute::Offline } else { WithdrawalRoute::Original },
        }),
        EventPayload::WithdrawalPaid(WithdrawalPaid {
            withdrawal_id: id(300),
            customer_id: id(5),
            book: id(4),
            amount: amount("30.00"),
            route: if full { WithdrawalRoute::Original } else { WithdrawalRoute::Offline },
            channel: maybe(full, text("alipay")),
        }),
        EventPayload::UsageCharged(UsageCharged {
            usage_id: id(500),
            customer_id: id(5),
            seller_id: id(4),
            item: item(full),
            total: amount("0.04"),
            period_from: date("2026-01-01"),
            period_to: date("2026-01-14"),
        }),
        EventPayload::SubscriptionRenewed(SubscriptionRenewed {
            renewal_id: id(510),
            order_id: id(800),
            customer_id: id(5),
            seller_id: id(4),
            items,
            total: amount("950.00"),
            new_end: date("2026-03-15"),
            renewed_by: id(5001),
        }),
        EventPayload::SerialPackagePriced(SerialPackagePriced { days: 360, list_price: amount("900.00") }),
        EventPayload::DistributorTierSet(DistributorTierSet { distributor_id: id(3), tier: DistributorTier::Diamond }),
        EventPayload::SerialTierRateSet(SerialTierRateSet { tier: DistributorTier::Platinum, rate: rate("0.75") }),
        EventPayload::SerialCodesIssued(SerialCodesIssued {
            batch_id: id(600),
            issuer_id: id(1),
            distributor_id: id(3),
            tier: DistributorTier::Gold,
            days: 30,
            codes: if full {
                (0..100).map(|n| SerialCode::try_from(format!("SN-{n:04}")).unwrap()).collect()
            } else {
                Vec::new()
            },
            unit_price: amount("80.00"),
            total: amount("8000.00"),
        }),
        EventPayload::SerialCodeActivated(SerialCodeActivated {
            code: SerialCode::try_from("SN-0001".to_owned()).unwrap(),
            batch_id: id(600),
            issuer_id: id(1),
            customer_id: id(5),
            days: 30,
            amount: amount("80.00"),
        }),
        EventPayload::CommissionAccrued(CommissionAccrued {
            source_id: uid(800),
            payer_id: id(3),
            reseller_id: id(4),
            base: amount("880.00"),
            rate: rate("0.05"),
            amount: amount("44.00"),
        }),
        EventPayload::CommissionReversed(CommissionReversed {
            source_id: uid(800),
            payer_id: id(3),
            reseller_id: id(4),
            amount: amount("44.00"),
        }),
        EventPayload::SettlementStatementIssued(SettlementStatementIssued {
            settlement_id: id(900),
            book: id(1),
            counterparty_id: id(3),
            from: date("2026-01-01"),
            to: date("2026-01-31"),
            through_position: 1 << 40,
            receivable: SignedAmount::from(Total::MAX),
            payable: SignedAmount::ZERO.sub_total(Total::MAX),
            line_count: if full { u64::MAX } else { 0 },
            statement_hash: hex::encode(Sha256::digest(b"statement")),
        }),
        EventPayload::SettlementPaid(SettlementPaid {
            settlement_id: id(900),
            book: id(1),
            counterparty_id: id(3),
            receivable: SignedAmount::from(amount("800.00")),
            payable: SignedAmount::ZERO.sub(amount("0.01")),
            exchange: if full {
                vec![SettlementExchange {
                    currency: Currency::USD,
                    owed: SignedAmount::ZERO.sub(Amount::MAX),
                    booked: SignedAmount::from(Total::MAX),
                    rate: ExchangeRate::parse("999999999.999999").unwrap(),
                    source: text("PBOC central parity"),
                    rate_date: NaiveDate::MAX,
                    paid: SignedAmount::ZERO.sub_total(Total::MAX),
                    difference: SignedAmount::ZERO,
                }]
            } else {
                Vec::new()
            },
        }),
        EventPayload::InvoiceIssued(InvoiceIssued {
            invoice_id: id(950),
            customer_id: id(5),
            book: id(4),
            amount: amount("500.00"),
        }),
        EventPayload::PeriodClosed(PeriodClosed {
            book: id(4),
            through: date("2026-01-31"),
            certificate: CloseCertificate {
                book: id(4),
                through: date("2026-01-31"),
                trial_balance_hash: hex::encode(Sha256::digest(b"trial balance")),
                total_debit: Total::MAX,
                total_credit: Total::ZERO,
                last_position: 41,
                rule_versions: if full {
                    BTreeMap::from([("sale/seller".to_owned(), 2), ("refund/seller".to_owned(), u32::MAX)])
                } else {
                    BTreeMap::new()
                },
            },
        }),
        EventPayload::BusinessBooked(BusinessBooked {
            kind: "service_fee".into(),
            role: "seller".into(),
            book: id(4),
            amounts: if full {
                BTreeMap::from([("fee".to_owned(), amount("12.34")), ("cost".to_owned(), Amount::ZERO)])
            } else {
                BTreeMap::new()
            },
            parties: if full {
                BTreeMap::from([(PartyRef::Counterparty, id(3)), (PartyRef::Customer, id(5))])
            } else {
                BTreeMap::new()
            },
            memo: text("March support fee"),
        }),
        EventPayload::TokenIssued(TokenIssued {
            principal_id: id(4090),
            org_id: id(4),
            user_id: maybe(full, id(4095)),
            roles: roles(full),
            label: maybe(full, text("finance desk")),
            expires_at: maybe(full, "2026-12-31T23:59:59.5Z".parse().unwrap()),
            deployment_admin: full,
            token_hash: hex::encode(Sha256::digest(b"a token")),
            issued_by: id(4001),
        }),
    ];
    for (kind, proposal) in kinds.into_iter().zip(proposals) {
        payloads.push(EventPayload::ApprovalRequested(ApprovalRequested {
            approval_id: id(10),
            book: id(4),
            kind,
            requested_by: id(4002),
            proposal,
        }));
    }
    payloads.push(EventPayload::OrderCancelled(OrderCancelled { order_id: id(800), reason: CancelReason::ByCustomer }));
    if full {
        for reason in [CancelReason::ByAdmin, CancelReason::TimedOut] {
            payloads.push(EventPayload::OrderCancelled(OrderCancelled { order_id: id(801), reason }));
        }
    }
    // Event types added after the first golden records: last, so the envelopes of the others
    // (numbered in this order) keep their golden bytes.
    payloads.push(EventPayload::UserCreated(UserCreated {
        user_id: id(4095),
        org_id: id(4),
        name: text("王芳"),
        email: maybe(full, text("wang.fang@example.com")),
        phone: maybe(full, text("+86 138-0000-0000")),
        roles: roles(full),
        created_by: id(4001),
    }));
    payloads.push(EventPayload::TokenRevoked(TokenRevoked {
        principal_id: id(4090),
        org_id: id(4),
        reason: maybe(full, text("left the company")),
        revoked_by: id(4001),
    }));
    payloads.push(EventPayload::OnlineRechargeRequested(OnlineRechargeRequested {
        recharge_id: id(202),
        customer_id: id(5),
        book: id(4),
        amount: amount("950.00"),
        reference: text("checkout 7"),
    }));
    let role = if full { Role::Custom(RoleName::new("auditor_2").unwrap()) } else { Role::Sales };
    let permissions: BTreeSet<Permission> =
        if full { [Permission::LedgerRead, Permission::ExportsRead].into() } else { BTreeSet::new() };
    payloads.push(EventPayload::RoleDefined(RoleDefined { org_id: id(4), role, permissions }));
    payloads.push(EventPayload::CustomerOwnerSet(CustomerOwnerSet {
        customer_id: id(5),
        book: id(4),
        owner_id: id(41),
    }));
    let levels = if full {
        vec![
            BTreeSet::from([Role::Admin]),
            BTreeSet::from([Role::Finance, Role::Sales]),
            BTreeSet::from([Role::SuperAdmin, Role::Operations]),
        ]
    } else {
        Vec::new()
    };
    // The actions of the golden record; those added after it are in the events after it.
    let rules = if full {
        ApprovalAction::ALL
            .into_iter()
            .take(12)
            .enumerate()
            .map(|(index, action)| ApprovalRule {
                action,
                above: (index % 2 == 0).then(|| if index == 0 { Amount::MAX } else { amount("0.01") }),
                levels: levels[..1 + index % 3].to_vec(),
            })
            .collect()
    } else {
        Vec::new()
    };
    payloads.push(EventPayload::ApprovalPolicySet(ApprovalPolicySet { book: id(4), rules }));
    payloads.push(EventPayload::ApprovalRouted(ApprovalRouted {
        approval_id: id(10),
        action: if full { ApprovalAction::SettlementPayment } else { ApprovalAction::OfflineRecharge },
        levels,
    }));
    payloads.push(EventPayload::ApprovalLevelGranted(ApprovalLevelGranted {
        approval_id: id(10),
        level: if full { u32::MAX } else { 1 },
        decided_by: id(4003),
        comment: maybe(full, text("first level")),
    }));
    // The proposals added with approval policies, after the earlier ones.
    let proposals = [
        (
            ApprovalKind::Coupon,
            Proposal::GrantCoupon {
                customer_id: id(5),
                amount: Amount::MAX,
                reason: text("vip"),
                expires_on: maybe(full, date("2027-01-01")),
            },
        ),
        (
            ApprovalKind::Refund,
            Proposal::RefundOrder {
                order_id: id(800),
                amount: amount("100.00"),
                penalty: amount("0.01"),
                reason: text("unsubscribe"),
            },
        ),
        (
            ApprovalKind::Promotion,
            Proposal::CreatePromotion(PromotionCreated {
                promotion_id: id(701),
                book: id(4),
                name: text("Clearance"),
                rates: if full { BTreeMap::from([(id(100), rate("0.0001"))]) } else { BTreeMap::new() },
                valid_from: date("2026-01-01"),
                valid_to: date("2026-01-31"),
            }),
        ),
    ];
    for (kind, proposal) in proposals {
        payloads.push(EventPayload::ApprovalRequested(ApprovalRequested {
            approval_id: id(11),
            book: id(4),
            kind,
            requested_by: id(4002),
            proposal,
        }));
    }
    let slices = |full: bool| {
        let mut slices =
            vec![VoucherSlice { coupon: 70, expires_on: maybe(full, date("2027-01-01")), amount: amount("20.00") }];
        if full {
            slices.push(VoucherSlice { coupon: u64::MAX, expires_on: None, amount: amount("5.00") });
        }
        slices
    };
    payloads.push(EventPayload::VoucherGranted(VoucherGranted {
        customer_id: id(5),
        book: id(4),
        amount: amount("500.00"),
        reason: text("welcome 代金券"),
        expires_on: maybe(full, date("2027-01-01")),
    }));
    payloads.push(EventPayload::VoucherRedeemed(VoucherRedeemed {
        customer_id: id(5),
        book: id(4),
        source_id: id::<OrderId>(800).0,
        slices: slices(full),
        amount: amount(if full { "25.00" } else { "20.00" }),
    }));
    payloads.push(EventPayload::VoucherReturned(VoucherReturned {
        customer_id: id(5),
        book: id(4),
        order_id: id(800),
        slices: slices(full),
        amount: amount(if full { "25.00" } else { "20.00" }),
    }));
    payloads.push(EventPayload::VoucherExpired(VoucherExpired {
        customer_id: id(5),
        book: id(4),
        slices: slices(full),
        amount: amount(if full { "25.00" } else { "20.00" }),
    }));
    // The back office's registries (issue 12), after the earlier ones.
    let profile = if full {
        OrgProfile {
            contact_person: Some(text("张三")),
            phone: Some(text("+86 138 0000 0000")),
            email: Some(text("finance@example.com")),
            company: Some(text("杭州某某科技有限公司")),
            tax_id: Some(text("91330100MA2XXXXXX")),
            address: Some(text("杭州市西湖区 0571-0000000")),
            bank_account: Some(text("招商银行 6214 0000")),
            verification: Verification::Company,
            tags: BTreeSet::from([text("vip"), text("gpu")]),
            notes: Some(text("line one\nline two")),
        }
    } else {
        OrgProfile::default()
    };
    payloads.push(EventPayload::OrgProfileUpdated(OrgProfileUpdated { org_id: id(5), name: text("Acme"), profile }));
    payloads.push(EventPayload::OrgClosed(OrgClosed { org_id: id(5), reason: maybe(full, text("moved away")) }));
    payloads.push(EventPayload::OrgReopened(OrgReopened { org_id: id(5) }));
    payloads.push(EventPayload::SupplierTermsSet(SupplierTermsSet {
        supplier_id: id(2),
        book: id(1),
        terms: SupplierTerms {
            method: if full { SettlementMethod::Postpaid } else { SettlementMethod::Prepaid },
            cycle: if full { CycleEvery::Week } else { CycleEvery::Month },
            currency: if full { Currency::USD } else { Currency::CNY },
            payment_days: if full { u32::MAX } else { 0 },
        },
    }));
    payloads.push(EventPayload::ProductUpdated(ProductUpdated {
        product_id: id(100),
        name: text("GPU server"),
        on_shelf: full,
        hidden_from: if full { BTreeSet::from([id(4), id(6)]) } else { BTreeSet::new() },
    }));
    payloads.push(EventPayload::ListPriceScheduled(ListPriceScheduled {
        product_id: id(100),
        list_price: UnitPrice::parse(if full { "0.000001" } else { "1200" }).unwrap(),
        effective_from: date("2026-12-01"),
    }));
    payloads.push(EventPayload::ApprovalRequested(ApprovalRequested {
        approval_id: id(12),
        book: id(4),
        kind: ApprovalKind::ManualEntry,
        requested_by: id(4002),
        proposal: Proposal::BookManualEntry {
            date: date("2026-01-31"),
            lines: if full { entries(true).remove(0).lines } else { Vec::new() },
            memo: text("accrual"),
        },
    }));
    payloads.push(EventPayload::ManualEntryBooked(ManualEntryBooked {
        approval_id: id(12),
        book: id(4),
        memo: text("accrual"),
    }));
    payloads.push(EventPayload::SaleModeScheduled(SaleModeScheduled {
        reseller_id: id(4),
        sale_mode: if full { SaleMode::Rebate { commission_rate: rate("0.05") } } else { SaleMode::Discount },
        effective_from: date("2027-01-01"),
    }));
    payloads.push(EventPayload::InvoiceRequested(InvoiceRequested {
        invoice_id: id(951),
        customer_id: id(5),
        book: id(4),
        invoice_type: if full { InvoiceType::Special } else { InvoiceType::Ordinary },
        title: text("Customer C Ltd"),
        tax_id: maybe(full, text("91330100MA2XXXXXX")),
        address: maybe(full, text("Hangzhou 0571")),
        bank_account: maybe(full, text("CMB 6214")),
        order_ids: if full { vec![id(800), id(801)] } else { Vec::new() },
        amount: amount("106.00"),
        tax_rate: rate(if full { "0.13" } else { "0.06" }),
        tax_amount: amount("6.00"),
    }));
    payloads.push(EventPayload::InvoiceDelivered(InvoiceDelivered { invoice_id: id(951) }));
    payloads.push(EventPayload::InvoiceVoided(InvoiceVoided {
        invoice_id: id(951),
        customer_id: id(5),
        book: id(4),
        amount: amount(if full { "106.00" } else { "0.00" }),
        reason: text("wrong title"),
    }));
    payloads.push(EventPayload::InvoiceRedLettered(InvoiceRedLettered {
        invoice_id: id(951),
        red_invoice_id: id(952),
        customer_id: id(5),
        book: id(4),
        amount: amount("53.00"),
        tax_amount: amount("3.00"),
        reason: text("refund"),
    }));
    // Issue 14's audit tools: a reopen's proposal and action, then the three event types.
    payloads.push(EventPayload::ApprovalRouted(ApprovalRouted {
        approval_id: id(12),
        action: ApprovalAction::PeriodReopen,
        levels: vec![[Role::Admin].into_iter().collect()],
    }));
    payloads.push(EventPayload::ApprovalRequested(ApprovalRequested {
        approval_id: id(12),
        book: id(4),
        kind: ApprovalKind::PeriodReopen,
        requested_by: id(4003),
        proposal: Proposal::ReopenPeriod { book: id(4), through: date("2026-01-31"), reason: text("a missed fee") },
    }));
    payloads.push(EventPayload::LowBalanceThresholdSet(LowBalanceThresholdSet {
        customer_id: id(5),
        book: id(4),
        threshold: maybe(full, Amount::MAX),
    }));
    payloads.push(EventPayload::PeriodReopened(PeriodReopened {
        book: id(4),
        through: date("2026-01-31"),
        closed_through: maybe(full, date("2025-12-31")),
        close_position: if full { u64::MAX } else { 1 },
        reason: text("a missed fee"),
        approval_id: id(12),
        requested_by: id(4003),
        trial_balance_hash: "ab".repeat(32),
        total_debit: Total::MAX,
        total_credit: Total::MAX,
        last_position: if full { u64::MAX } else { 0 },
    }));
    let reconciled = |value: &str| SignedAmount::from_decimal(value.parse().unwrap());
    payloads.push(EventPayload::ReconciliationRecorded(ReconciliationRecorded {
        reconciliation_id: id(13),
        book: id(4),
        account: AccountCode::parse(if full { "1012" } else { "1002" }).unwrap(),
        format: if full { StatementFormat::Alipay } else { StatementFormat::Camt053 },
        statement_sha256: "cd".repeat(32),
        tolerance: Tolerance { amount: if full { Amount::MAX } else { Amount::ZERO }, days: if full { 31 } else { 0 } },
        through_position: if full { u64::MAX } else { 0 },
        statement: if full {
            vec![
                StatementRow {
                    row: u32::MAX,
                    date: date("2026-01-15"),
                    amount: reconciled("-0.01"),
                    reference: text("支付宝 fee"),
                },
                StatementRow {
                    row: 1,
                    date: date("2026-01-16"),
                    amount: reconciled("2000.00"),
                    reference: String::new(),
                },
            ]
        } else {
            Vec::new()
        },
        ledger: if full {
            vec![LedgerItem {
                position: u64::MAX,
                entry: u32::MAX,
                line: 1,
                date: date("2026-01-15"),
                amount: reconciled("2000.00"),
            }]
        } else {
            Vec::new()
        },
        groups: if full {
            vec![
                MatchGroup {
                    kind: MatchKind::OneToOne,
                    ledger: vec![0],
                    statement: vec![1],
                    difference: reconciled("0.00"),
                },
                MatchGroup {
                    kind: MatchKind::Suggested,
                    ledger: vec![],
                    statement: vec![0, u32::MAX],
                    difference: reconciled("-0.01"),
                },
                MatchGroup {
                    kind: MatchKind::ManyToOne,
                    ledger: vec![0, 1],
                    statement: vec![0],
                    difference: reconciled("1.00"),
                },
                MatchGroup {
                    kind: MatchKind::OneToMany,
                    ledger: vec![0],
                    statement: vec![0, 1],
                    difference: reconciled("-1.00"),
                },
            ]
        } else {
            Vec::new()
        },
    }));
    // Credit, the clock and settlement cycles (issue 12), with the proposal of a credit raise.
    payloads.push(EventPayload::ApprovalRequested(ApprovalRequested {
        approval_id: id(12),
        book: id(4),
        kind: ApprovalKind::CreditLimit,
        requested_by: id(4002),
        proposal: Proposal::SetCreditLimit { customer_id: id(5), limit: if full { Amount::MAX } else { Amount::ZERO } },
    }));
    payloads.push(EventPayload::CreditLimitSet(CreditLimitSet {
        customer_id: id(5),
        book: id(4),
        limit: if full { Amount::MAX } else { Amount::ZERO },
    }));
    payloads.push(EventPayload::CreditDrawn(CreditDrawn {
        customer_id: id(5),
        book: id(4),
        source_id: id::<OrderId>(800).0,
        amount: amount("450.00"),
        due_on: date("2026-02-14"),
    }));
    payloads.push(EventPayload::ArrearsRepaid(ArrearsRepaid {
        customer_id: id(5),
        book: id(4),
        source_id: id::<OrderId>(200).0,
        amount: amount("0.01"),
        arrears_due_on: maybe(full, date("2026-02-14")),
    }));
    payloads.push(EventPayload::ArrearsOverdue(ArrearsOverdue {
        customer_id: id(5),
        book: id(4),
        amount: Amount::MAX,
        due_on: date("1969-07-20"),
    }));
    payloads.push(EventPayload::BookTermsSet(BookTermsSet {
        book: id(4),
        order_payment_timeout_minutes: if full { u32::MAX } else { 1 },
        arrears_due_days: 30,
        renewal_lead_days: if full { 90 } else { 0 },
    }));
    payloads.push(EventPayload::SettlementCycleSet(SettlementCycleSet {
        book: id(4),
        counterparty_id: id(2),
        cycle: maybe(full, SettlementCycle { every: CycleEvery::Week, day: 7 }),
    }));
    if full {
        payloads.push(EventPayload::SettlementCycleSet(SettlementCycleSet {
            book: id(4),
            counterparty_id: id(3),
            cycle: Some(SettlementCycle { every: CycleEvery::Month, day: 28 }),
        }));
    }
    payloads.push(EventPayload::AutoRenewalSet(AutoRenewalSet {
        order_id: id(800),
        customer_id: id(5),
        seller_id: id(4),
        periods: maybe(full, 1200),
    }));
    payloads.push(EventPayload::AutoRenewalFailed(AutoRenewalFailed {
        order_id: id(800),
        customer_id: id(5),
        seller_id: id(4),
        subscription_end: date("2026-12-31"),
        reason: text("insufficient_balance"),
        needed: amount("931.00"),
        available: Amount::ZERO,
    }));
    payloads.push(EventPayload::SerialExpirySet(SerialExpirySet {
        batch_id: id(600),
        expires_on: maybe(full, date("2026-02-28")),
    }));
    payloads.push(EventPayload::SerialCodesExpired(SerialCodesExpired {
        batch_id: id(600),
        issuer_id: id(1),
        distributor_id: id(3),
        codes: if full {
            (2..100).map(|n| SerialCode::try_from(format!("SN-{n:04}")).unwrap()).collect()
        } else {
            Vec::new()
        },
        expires_on: date("2026-02-28"),
        amount: amount("7840.00"),
    }));
    payloads.push(EventPayload::CustomerTransferred(CustomerTransferred {
        customer_id: id(5),
        from: id(4),
        to: id(3),
        owner_id: maybe(full, id(7)),
        reason: maybe(full, text("region")),
    }));
    // Pricing (issue 12): fixed, first-order and tiered prices, promotion terms, and the
    // approval of a price below cost.
    let price_set = PriceSet {
        book: id(4),
        product_id: id(100),
        scope: if full { RateScope::Reseller(id(6)) } else { RateScope::Public },
        rule: if full {
            PriceRule::Tiered {
                tiers: vec![
                    PriceTier {
                        from_quantity: Quantity::parse("0.000001").unwrap(),
                        price: PriceBasis::Rate(Rate::ONE),
                    },
                    PriceTier {
                        from_quantity: Quantity::parse("1000000000").unwrap(),
                        price: PriceBasis::UnitPrice(UnitPrice::parse("1000000000").unwrap()),
                    },
                ],
            }
        } else {
            PriceRule::Fixed { unit_price: UnitPrice::parse("0.000001").unwrap() }
        },
        valid_from: maybe(full, NaiveDate::MIN),
        valid_to: maybe(full, NaiveDate::MAX),
    };
    payloads.push(EventPayload::ApprovalRequested(ApprovalRequested {
        approval_id: id(13),
        book: id(4),
        kind: ApprovalKind::SpecialRate,
        requested_by: id(4002),
        proposal: Proposal::SetPrice(PriceSet {
            rule: PriceRule::FirstOrder { price: PriceBasis::Rate(rate("0.0001")) },
            ..price_set.clone()
        }),
    }));
    payloads.push(EventPayload::PriceSet(price_set));
    payloads.push(EventPayload::PromotionTermsSet(PromotionTermsSet {
        promotion_id: id(700),
        book: id(4),
        stacking: if full { Stacking::Stackable } else { Stacking::Exclusive },
        reach: if full { PromotionReach::Everyone } else { PromotionReach::InviteCode },
    }));
    payloads.push(EventPayload::ExchangeRateSet(ExchangeRateSet {
        book: id(1),
        currency: if full { Currency::SGD } else { Currency::USD },
        rate: ExchangeRate::parse(if full { "999999999.999999" } else { "7.1" }).unwrap(),
        source: text("PBOC central parity"),
        effective_from: date(if full { "9999-12-31" } else { "2026-01-15" }),
    }));
    payloads
}

/// Entries with every optional line field present, or absent.
fn entries(full: bool) -> Vec<Entry> {
    let line = |account: &str, side, value: &str, pair: u32| Line {
        account: AccountCode::parse(account).unwrap(),
        party: maybe(full, id(5)),
        side,
        amount: amount(value),
        pair: maybe(full, pair),
    };
    let entry = |book: u128, currency, rule: &str| Entry {
        book: id(book),
        date: date("2026-01-15"),
        currency,
        rule: RuleRef { id: rule.into(), version: if full { u32::MAX } else { 1 } },
        lines: vec![line("2203", Side::Debit, "950.00", 1), line("6001", Side::Credit, "950.00", u32::MAX)],
    };
    let mut entries = vec![entry(4, Currency::CNY, "sale/seller")];
    if full {
        entries.push(entry(3, Currency::EUR, "sale/intermediate"));
    }
    entries
}

/// Hand-built records of every event type, their envelopes as full or as empty as their payloads.
fn built_by_hand(full: bool) -> Vec<RecordedEvent> {
    every_payload(full)
        .into_iter()
        .enumerate()
        .map(|(index, payload)| {
            let position = if full { u64::MAX - index as u64 } else { 1 + index as u64 };
            let meta = EnvelopeMeta {
                position,
                event_id: uid(0xfeed_0000 + index as u128),
                recorded_at: if full {
                    DateTime::<Utc>::from_timestamp(1_767_225_600 + index as i64, 123_456_789).unwrap()
                } else {
                    DateTime::<Utc>::from_timestamp(-(index as i64), 0).unwrap()
                },
                effective_date: if full { date("2026-01-15") } else { date("1969-12-31") },
                actor: Actor::new(id(4), id(4003), roles(full)),
                idempotency_key: maybe(full, format!("request-{index}-幂等")),
                correlation_id: maybe(full, uid(0xc0ffee + index as u128)),
            };
            let prev_hash = if index == 0 { GENESIS_HASH.to_owned() } else { hex::encode([index as u8; 32]) };
            RecordedEvent::seal(Event::with_entries(payload, entries(full)), meta, &prev_hash)
        })
        .collect()
}

/// Envelopes at the edges of their types: a leap second, the first and last dates, position 0.
fn edge_envelopes() -> Vec<RecordedEvent> {
    let payload = EventPayload::OrderCancelled(OrderCancelled { order_id: id(800), reason: CancelReason::TimedOut });
    let at = |seconds: i64, nanoseconds: u32| DateTime::<Utc>::from_timestamp(seconds, nanoseconds).unwrap();
    let edges = [
        (0, at(1_483_228_799, 1_500_000_000), NaiveDate::MIN), // 2016-12-31T23:59:60.5Z
        (u64::MAX, DateTime::<Utc>::MIN_UTC, NaiveDate::MAX),
        (1, DateTime::<Utc>::MAX_UTC, date("1970-01-01")),
    ];
    edges
        .into_iter()
        .map(|(position, recorded_at, effective_date)| {
            let meta = EnvelopeMeta {
                position,
                event_id: Uuid::max(),
                recorded_at,
                effective_date,
                actor: Actor::new(id(u128::MAX), id(0), [Role::Customer]),
                idempotency_key: Some(String::new()),
                correlation_id: Some(Uuid::nil()),
            };
            RecordedEvent::seal(Event::new(payload.clone()), meta, &"f".repeat(64))
        })
        .collect()
}

fn corpus() -> Vec<RecordedEvent> {
    [world_log(), built_by_hand(true), built_by_hand(false), edge_envelopes()].concat()
}

fn event_types(events: &[RecordedEvent]) -> BTreeSet<&'static str> {
    events.iter().map(RecordedEvent::event_type).collect()
}

fn missing_types(events: &[RecordedEvent]) -> Vec<&'static str> {
    let present = event_types(events);
    EVENT_TYPES.iter().map(|(name, _)| *name).filter(|name| !present.contains(name)).collect()
}

/// The event with the hash a v2 record gives it: SHA-256 of its record instead of its JSON.
fn with_hash(event: &RecordedEvent, hash: &str) -> RecordedEvent {
    RecordedEvent { hash: hash.to_owned(), ..event.clone() }
}

// ---------------------------------------------------------------- round trips

#[track_caller]
fn assert_round_trip(event: &RecordedEvent) {
    let bytes = encode(event);
    let decoded = decode(&bytes).unwrap_or_else(|error| panic!("{} does not decode: {error}", event.event_type()));
    assert_eq!(decoded.hash, hex::encode(Sha256::digest(&bytes)), "the hash is of the bytes read");
    assert_eq!(decoded, with_hash(event, &decoded.hash));
    // `Decimal` equality ignores scale (0.95 == 0.9500); the JSON view prints it, so the two
    // views must agree to the byte as well.
    assert_eq!(
        serde_json::to_string(&decoded).unwrap(),
        serde_json::to_string(&with_hash(event, &decoded.hash)).unwrap()
    );
    assert_eq!(encode(&decoded), bytes, "{}: decode then encode gives the bytes back", event.event_type());
    assert_eq!(record::encoded_len(event), bytes.len(), "{}: the length counted is the length", event.event_type());
    let mut appended = vec![0xaa];
    record::encode_into(event, &mut appended);
    assert_eq!(appended[1..], bytes[..], "encode_into appends the same bytes");
}

#[test]
fn the_corpus_covers_every_event_type_from_the_world_and_by_hand() {
    // The world's flows alone produce every event type; the hand-built records do too, each
    // with its optional fields present and absent.
    // Coupons of older logs only (read, never written: a coupon is a `VoucherGranted` now).
    assert_eq!(missing_types(&world_log()), vec!["CouponGranted"]);
    assert_eq!(missing_types(&built_by_hand(true)), Vec::<&str>::new());
    assert_eq!(missing_types(&built_by_hand(false)), Vec::<&str>::new());
    assert_eq!(missing_types(&corpus()), Vec::<&str>::new());
    // Every event type has its tag in the format's table, and the table nothing else.
    let tagged: BTreeSet<&str> = EVENT_TAGS.iter().map(|(name, _)| *name).collect();
    assert_eq!(tagged, EVENT_TYPES.iter().map(|(name, _)| *name).collect());
}

/// The properties of a payload's JSON Schema, and those it requires.
fn schema_properties(event_type: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (_, _, schema) = payload_schemas().into_iter().find(|(name, _, _)| *name == event_type).unwrap();
    let value = schema.as_value();
    let properties = value["properties"].as_object().unwrap().keys().cloned().collect();
    let required = value["required"]
        .as_array()
        .map_or(BTreeSet::new(), |names| names.iter().map(|name| name.as_str().unwrap().to_owned()).collect());
    (properties, required)
}

#[test]
fn the_hand_built_records_have_every_optional_field_present_then_absent() {
    for event in built_by_hand(true) {
        let json = serde_json::to_value(&event).unwrap();
        let (properties, _) = schema_properties(event.event_type());
        let present: BTreeSet<String> = json["payload"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(present, properties, "{}: every field present", event.event_type());
        assert!(!json.to_string().contains("null"), "{}: no absent value anywhere", event.event_type());
        assert!(json["idempotency_key"].is_string() && json["correlation_id"].is_string());
    }
    for event in built_by_hand(false) {
        let json = serde_json::to_value(&event).unwrap();
        let (_, required) = schema_properties(event.event_type());
        let present: BTreeSet<String> = json["payload"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(present, required, "{}: every optional field absent", event.event_type());
        assert!(json.get("idempotency_key").is_none() && json.get("correlation_id").is_none());
    }
}

#[test]
fn every_record_of_the_corpus_round_trips_byte_for_byte() {
    let corpus = corpus();
    for event in &corpus {
        assert_round_trip(event);
    }
}

#[test]
fn the_header_is_laid_out_as_documented() {
    let (_, paid) = worked_example_purchase();
    let bytes = encode(&paid);
    let field = |from: usize, to: usize| &bytes[from..to];
    assert_eq!(bytes[0], RECORD_FORMAT);
    assert_eq!(u64::from_le_bytes(field(1, 9).try_into().unwrap()), paid.position);
    assert_eq!(field(9, 25), paid.event_id.as_bytes());
    assert_eq!(u16::from_le_bytes(field(25, 27).try_into().unwrap()), record::event_tag(&paid.event.payload));
    assert_eq!(u16::from_le_bytes(field(27, 29).try_into().unwrap()), paid.schema_version);
    assert_eq!(i64::from_le_bytes(field(29, 37).try_into().unwrap()), paid.recorded_at.timestamp());
    assert_eq!(u32::from_le_bytes(field(37, 41).try_into().unwrap()), 0);
    let days = (paid.effective_date - date("1970-01-01")).num_days();
    assert_eq!(i64::from(i32::from_le_bytes(field(41, 45).try_into().unwrap())), days);
    assert_eq!(hex::encode(field(45, HEADER_BYTES)), paid.prev_hash);
    assert_eq!(
        field(HEADER_BYTES, HEADER_BYTES + 16),
        paid.actor.org_id.0.as_bytes(),
        "the body starts with the actor"
    );
    let tags: BTreeMap<&str, u16> = EVENT_TAGS.iter().copied().collect();
    assert_eq!((tags["OrderPlaced"], tags["OrderPaid"], tags["TokenIssued"]), (17, 18, 38));
}

/// A whole record pinned to the byte: any change to the format shows here first, and must come
/// with a new `RECORD_FORMAT` (or schema version) instead of silently changing stored hashes.
#[test]
fn a_small_record_is_exactly_these_bytes() {
    let meta = EnvelopeMeta {
        position: 258,
        event_id: uid(0x0102),
        recorded_at: DateTime::<Utc>::from_timestamp(1_767_225_600, 5).unwrap(),
        effective_date: date("2026-01-15"),
        actor: Actor::new(id(4), id(4002), [Role::Sales, Role::Admin]),
        idempotency_key: Some("k".into()),
        correlation_id: None,
    };
    let coupon = EventPayload::CouponGranted(CouponGranted {
        customer_id: id(5),
        book: id(4),
        amount: amount("1.28"),
        reason: "x".into(),
    });
    let entry = Entry {
        book: id(4),
        date: date("1970-01-02"),
        currency: Currency::USD,
        rule: RuleRef { id: "coupon/seller".into(), version: 1 },
        lines: vec![
            Line {
                account: AccountCode::parse("6601").unwrap(),
                party: None,
                side: Side::Debit,
                amount: amount("1.28"),
                pair: None,
            },
            Line {
                account: AccountCode::parse("2203").unwrap(),
                party: Some(id(5)),
                side: Side::Credit,
                amount: amount("1.28"),
                pair: Some(300),
            },
        ],
    };
    let event = RecordedEvent::seal(Event::with_entries(coupon, vec![entry]), meta, GENESIS_HASH);
    let uuid = |value: &str| format!("{:0>32}", value);
    let expected = [
        "02".to_owned(),                         // format
        "0201000000000000".into(),               // position 258
        uuid("0102"),                            // event id
        "1000".into(),                           // event type 16: CouponGranted
        "0100".into(),                           // schema version 1
        "00b9556900000000".into(),               // 1_767_225_600 s
        "05000000".into(),                       // 5 ns
        "f44f0000".into(),                       // 20_468 days: 2026-01-15
        "00".repeat(32),                         // prev_hash: genesis
        uuid("04"),                              // actor org
        uuid("0fa2"),                            // actor principal 4002
        "020103".into(),                         // roles: admin, sales
        "01016b".into(),                         // idempotency key "k"
        "00".into(),                             // no correlation id
        uuid("05"),                              // customer
        uuid("04"),                              // book
        "8002".into(),                           // 1.28: 128 minor units, zigzag 256
        "0178".into(),                           // reason "x"
        "01".into(),                             // one entry
        uuid("04"),                              // its book
        "02".into(),                             // 1970-01-02: day 1, zigzag 2
        "01".into(),                             // USD
        "0d636f75706f6e2f73656c6c657201".into(), // rule coupon/seller v1
        "02".into(),                             // two lines
        "0436363031".into(),                     // 6601
        "00".into(),                             // no party
        "00".into(),                             // debit
        "8002".into(),                           // 1.28
        "00".into(),                             // no pair
        "0432323033".into(),                     // 2203
        "01".into(),                             // party:
        uuid("05"),                              //   the customer
        "01".into(),                             // credit
        "8002".into(),                           // 1.28
        "01ac02".into(),                         // pair 300
    ]
    .concat();
    assert_eq!(hex::encode(encode(&event)), expected);
    assert_round_trip(&event);
}

// ---------------------------------------------------------------- refusals

#[test]
fn every_truncation_of_every_record_is_an_error_where_the_record_ends() {
    for event in corpus() {
        let bytes = encode(&event);
        for length in 0..bytes.len() {
            let error = decode(&bytes[..length]).expect_err("a cut record");
            assert!(error.offset <= length, "{}: cut at {length}, error at {}", event.event_type(), error.offset);
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let error = decode(&longer).unwrap_err();
        assert_eq!((error.offset, error.reason.as_str()), (bytes.len(), "1 trailing bytes after the record"));
    }
}

#[test]
fn a_flipped_bit_or_byte_of_the_order_paid_record_never_decodes_to_the_same_event() {
    let (_, paid) = worked_example_purchase();
    let bytes = encode(&paid);
    let (mut refused, mut different) = (0, 0);
    for index in 0..bytes.len() {
        for mask in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
            let mut corrupted = bytes.clone();
            corrupted[index] ^= mask;
            match decode(&corrupted) {
                Err(error) => {
                    assert!(error.offset <= corrupted.len());
                    refused += 1;
                }
                Ok(decoded) => {
                    assert_ne!(with_hash(&decoded, &paid.hash), paid, "byte {index} ^ {mask:#04x}");
                    assert_eq!(encode(&decoded), corrupted, "what decodes re-encodes to its own bytes");
                    different += 1;
                }
            }
        }
    }
    // Both happen: ids and amounts take any value, tags and lengths do not.
    eprintln!("{refused} corruptions refused, {different} decoded to other events");
    assert!(refused > 0 && different > 0, "{refused} refused, {different} decoded to other events");
}

#[test]
fn the_header_refuses_other_formats_unknown_types_and_versions_without_a_layout() {
    let (_, paid) = worked_example_purchase();
    let bytes = encode(&paid);
    let patched = |offset: usize, patch: &[u8]| {
        let mut copy = bytes.clone();
        copy[offset..offset + patch.len()].copy_from_slice(patch);
        decode(&copy).unwrap_err()
    };
    assert_eq!(patched(0, &[1]), RecordError { offset: 0, reason: "record format 1, expected 2".into() });
    assert_eq!(patched(25, &0u16.to_le_bytes()).offset, 25);
    assert_eq!(patched(25, &200u16.to_le_bytes()).reason, "unknown event type tag 200");
    assert_eq!(
        patched(27, &1u16.to_le_bytes()).offset,
        27,
        "no v1 layout of OrderPaid in this build (v2 refers to its order)"
    );
    assert_eq!(patched(27, &3u16.to_le_bytes()).offset, 27, "no v3 layout of OrderPaid in this build");
    assert_eq!(patched(27, &0u16.to_le_bytes()).offset, 27);
    assert_eq!(patched(37, &2_000_000_000u32.to_le_bytes()).offset, 29, "nanoseconds past a leap second");
    assert_eq!(patched(41, &i32::MAX.to_le_bytes()).offset, 41);
    assert!(decode(&vec![0; EVENT_BYTES_MAX + 1]).is_err());
    assert!(decode(&[]).is_err());
}

#[test]
#[should_panic(expected = "prev_hash must be 64 lowercase hex digits")]
fn encoding_an_unsealed_event_is_a_programming_error() {
    let (placed, _) = worked_example_purchase();
    encode(&RecordedEvent { prev_hash: String::new(), ..placed });
}

#[test]
#[should_panic(expected = "prev_hash must be 64 lowercase hex digits")]
fn an_uppercase_prev_hash_would_not_round_trip_and_is_refused() {
    let (placed, _) = worked_example_purchase();
    let prev_hash = placed.prev_hash.to_uppercase();
    encode(&RecordedEvent { prev_hash, ..placed });
}

// ---------------------------------------------------------------- sizes

#[test]
fn the_purchase_records_are_a_fraction_of_their_canonical_json() {
    let (placed, paid) = worked_example_purchase();
    // 337 and 687 bytes (300 before the seller's level kept its two candidates, public and
    // customer; 820 while OrderPaid repeated the waterfall; v1's JSON: 1,242 and 3,221).
    for (event, bound) in [(&placed, 350), (&paid, 720)] {
        let (v2, json) = (encode(event).len(), event.v1_canonical_bytes(V1Copy::None).len());
        eprintln!("{}: v2 {v2} bytes, canonical JSON {json} bytes", event.event_type());
        assert!(v2 < json / 3, "{}: {v2} bytes is not under a third of {json}", event.event_type());
        assert!(v2 <= bound, "{}: {v2} bytes, more than {bound}", event.event_type());
    }
    let world = world_log();
    let v2: usize = world.iter().map(|event| encode(event).len()).sum();
    let json: usize = world.iter().map(|event| event.v1_canonical_bytes(V1Copy::None).len()).sum();
    eprintln!("the world's {} events: v2 {v2} bytes, canonical JSON {json} bytes", world.len());
    assert!(v2 < json / 3, "the whole log: {v2} bytes is not under a third of {json}");
}

// ---------------------------------------------------------------- random input

/// Decoding never panics, and whatever decodes is canonical: it re-encodes to its own bytes.
/// (A record of an older layout, which a mutated version field can reach, is read but never
/// written: it is checked by its hash alone.)
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(decoded) = decode(bytes) {
        if decoded.schema_version == decoded.event.payload.schema_version() {
            prop_assert_eq!(encode(&decoded), bytes.to_vec());
        } else {
            prop_assert!(record::OLDER_LAYOUTS.contains(&(decoded.event_type(), decoded.schema_version)));
        }
        prop_assert_eq!(decoded.hash, hex::encode(Sha256::digest(bytes)));
    }
    Ok(())
}

fn real_records() -> Vec<Vec<u8>> {
    let (placed, paid) = worked_example_purchase();
    let mut records = vec![encode(&placed), encode(&paid)];
    records.extend(built_by_hand(true).iter().chain(&built_by_hand(false)).map(encode));
    records
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(index, byte)| Mutation::Set(index, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(index, byte)| Mutation::Insert(index, byte)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_are_refused_or_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_decode(&bytes)?;
        // The same bytes behind a real header reach the body decoders.
        let (_, paid) = worked_example_purchase();
        let mut behind_header = encode(&paid)[..HEADER_BYTES].to_vec();
        behind_header.extend_from_slice(&bytes);
        check_decode(&behind_header)?;
    }

    #[test]
    fn mutated_records_are_refused_or_canonical(
        record in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let records = real_records();
        let mut bytes = records[record.index(records.len())].clone();
        for mutation in mutations {
            match mutation {
                Mutation::Set(index, byte) => {
                    let index = index % bytes.len();
                    bytes[index] = byte;
                }
                Mutation::Insert(index, byte) => bytes.insert(index % (bytes.len() + 1), byte),
                Mutation::Remove(index) => {
                    bytes.remove(index % bytes.len());
                }
            }
        }
        check_decode(&bytes)?;
    }
}

// ---------------------------------------------------------------- golden records

/// `schemas/records/v2/`: one committed record of every event type (`<EventType>.bin`, the
/// hand-built event with every optional field present) and its JSON view (`<EventType>.json`).
/// Each must decode to exactly that JSON and encode back to exactly those bytes: any drift of
/// the format (a field moved, a tag renumbered, an encoding changed) fails here, against bytes
/// an earlier build wrote. `UPDATE_RECORDS=1` writes them (for a deliberate new event type or
/// schema version, never to make a drift pass).
///
/// A record of an older schema version this build still reads (`record::OLDER_LAYOUTS`) keeps
/// its golden bytes as `<EventType>.v<version>.bin`, written by the build whose current version
/// it was and never rewritten; it must decode, as today's payload, to `<EventType>.v<version>.json`
/// (which `UPDATE_RECORDS=1` may rewrite: it is the view, not the format).
#[test]
fn the_golden_records_of_every_event_type_decode_to_their_json_and_encode_to_their_bytes() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/records/v2");
    let update = std::env::var_os("UPDATE_RECORDS").is_some();
    if update {
        std::fs::create_dir_all(&directory).unwrap();
        let mut written = BTreeSet::new();
        for event in built_by_hand(true) {
            let event_type = event.event_type();
            if written.insert(event_type) {
                let bytes = encode(&event);
                let decoded = decode(&bytes).unwrap();
                std::fs::write(directory.join(format!("{event_type}.bin")), &bytes).unwrap();
                let json = serde_json::to_string_pretty(&decoded).unwrap() + "\n";
                std::fs::write(directory.join(format!("{event_type}.json")), json).unwrap();
            }
        }
    }
    let mut files = 0;
    for (event_type, _) in EVENT_TYPES {
        let bytes = std::fs::read(directory.join(format!("{event_type}.bin")))
            .unwrap_or_else(|error| panic!("no golden record of {event_type}: {error}"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(directory.join(format!("{event_type}.json"))).unwrap()).unwrap();
        let decoded = decode(&bytes).unwrap_or_else(|error| panic!("the golden {event_type} does not decode: {error}"));
        assert_eq!(decoded.event_type(), *event_type);
        assert_eq!(serde_json::to_value(&decoded).unwrap(), json, "{event_type}: the JSON view drifted");
        assert_eq!(encode(&decoded), bytes, "{event_type}: the encoding drifted");
        files += 2;
    }
    for (event_type, version) in record::OLDER_LAYOUTS {
        let name = format!("{event_type}.v{version}");
        let bytes = std::fs::read(directory.join(format!("{name}.bin")))
            .unwrap_or_else(|error| panic!("no golden record of {name}: {error}"));
        let decoded = decode(&bytes).unwrap_or_else(|error| panic!("the golden {name} does not decode: {error}"));
        assert_eq!((decoded.event_type(), decoded.schema_version), (*event_type, *version));
        assert_eq!(decoded.hash, hex::encode(Sha256::digest(&bytes)), "{name}: the hash is of the bytes read");
        let view = serde_json::to_string_pretty(&decoded).unwrap() + "\n";
        if update {
            std::fs::write(directory.join(format!("{name}.json")), &view).unwrap();
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(directory.join(format!("{name}.json"))).unwrap()).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&view).unwrap(), json, "{name}: the JSON view drifted");
        files += 2;
    }
    assert_eq!(std::fs::read_dir(&directory).unwrap().count(), files, "a golden record this build does not read");
}

/// The golden v1 statement (written by the build before schema v2, with its two lines) reads as
/// today's statement: the same selection, figures and hash, the lines counted.
#[test]
fn a_v1_statement_record_reads_as_todays_statement_with_its_lines_counted() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/records/v2");
    let bytes = std::fs::read(directory.join("SettlementStatementIssued.v1.bin")).unwrap();
    let decoded = decode(&bytes).unwrap();
    let EventPayload::SettlementStatementIssued(statement) = &decoded.event.payload else { panic!("{decoded:?}") };
    let full = every_payload(true)
        .into_iter()
        .find_map(|payload| match payload {
            EventPayload::SettlementStatementIssued(statement) => Some(statement),
            _ => None,
        })
        .unwrap();
    assert_eq!(*statement, SettlementStatementIssued { line_count: 2, ..full });
    // The same record in v1's layout, rebuilt from the statement and its two lines.
    let line = StatementLine {
        position: u64::MAX,
        date: date("1969-07-20"),
        account: AccountCode::parse("1122").unwrap(),
        debit: amount("800.00"),
        credit: Amount::ZERO,
    };
    let v1 = SettlementStatementIssuedV1::with_lines(statement, vec![line.clone(), line]);
    assert_eq!(v1.clone().upcast(), *statement);
    assert_eq!(
        ledger_core::event::upcast("SettlementStatementIssued", 1, serde_json::to_value(&v1).unwrap()).unwrap(),
        serde_json::to_value(statement).unwrap(),
        "the JSON upcast of the v1 payload is today's payload"
    );
}
