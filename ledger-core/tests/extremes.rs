//! No command, whatever its values, panics the ledger (finance-controls issue, item 1).
//!
//! Random sequences of every money-moving command, with values taken from the edges: zero, one
//! minor unit, the limits and just under them, huge quantities and periods (past their limits
//! too), orders of up to `ORDER_ITEMS_MAX + 1` items of a product priced at `UNIT_VALUE_MAX`,
//! batches of `SERIAL_BATCH_MAX` serial codes, dates at the calendar's ends, approval policies of
//! 0 to `LEVELS_MAX + 1` levels with thresholds at the edges (their approvals decided by whoever
//! of the staff, level after level), vouchers granted with any expiry and booked out or spent on
//! any day, withdrawals naming any channel. Each command is decided and, when accepted, folded in
//! by `evolve`, both under `catch_unwind`: a panic anywhere fails the test. After the sequence, the ledger's invariants hold and a replay of the log
//! equals the live state, so whatever was refused left nothing behind.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;

use ledger_core::approval_policy::{ApprovalAction, ApprovalRule, LEVELS_MAX};
use ledger_core::command::{OrderItemRequest, ORDER_ITEMS_MAX, PERIODS_MAX, SERIAL_BATCH_MAX};
use ledger_core::event::{RechargeMethod, WithdrawalRoute};
use ledger_core::ids::*;
use ledger_core::invariants::violations;
use ledger_core::log::replay;
use ledger_core::money::{Amount, Quantity, Rate, UnitPrice, AMOUNT_MAX, UNIT_VALUE_MAX};
use ledger_core::org::{Actor, DistributorTier, Role, RoleName};
use ledger_core::permissions::Permission;
use ledger_core::pricing::RateScope;
use ledger_core::testing::{id, WorkedExample};
use ledger_core::CommandBody;
use ledger_core::{
    AccessCommand, ApprovalCommand, MoneyCommand, OrderCommand, SerialCommand, SettlementCommand, SetupCommand,
};

/// An amount at an edge: 0, 0.01, just under the limit, the limit, or anything in between.
fn edge_amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        Just(Amount::ZERO),
        Just(Amount::parse("0.01").unwrap()),
        Just(Amount::from_decimal(AMOUNT_MAX - Decimal::new(1, 2)).unwrap()),
        Just(Amount::MAX),
        (1..=100_000_000_000_000i64).prop_map(|minor| Amount::from_minor(minor).unwrap()),
    ]
}

fn edge_quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        Just(Quantity::parse("0.000001").unwrap()),
        Just(Quantity::whole(1)),
        Just(Quantity::whole(1_000)),
        Just(Quantity::from_decimal(UNIT_VALUE_MAX).unwrap()),
        (1..=1_000_000_000u32).prop_map(Quantity::whole),
    ]
}

fn edge_periods() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(1), Just(2), Just(PERIODS_MAX), Just(PERIODS_MAX + 1), Just(u32::MAX)]
}

fn edge_rate() -> impl Strategy<Value = Rate> {
    prop_oneof![Just(Rate::parse("0.0001").unwrap()), Just(Rate::ONE), Just(Rate::parse("0.5").unwrap())]
}

fn edge_date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
        Just(NaiveDate::from_ymd_opt(2026, 1, 14).unwrap()),
        Just(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap()),
    ]
}

/// A voucher's expiry or the day a voucher command runs on: the calendar's ends, the ledger's
/// day (2026-01-15) and the days around it, or a month later.
fn voucher_date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        edge_date(),
        Just(NaiveDate::from_ymd_opt(2026, 1, 16).unwrap()),
        Just(NaiveDate::from_ymd_opt(2026, 2, 15).unwrap()),
    ]
}

/// The channel an `original` withdrawal names: none, the one money came in through, one nothing
/// came in through, and names a text field refuses (empty, control characters, far too long).
fn edge_channel() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("alipay".to_owned())),
        Just(Some("wechat".to_owned())),
        Just(Some(String::new())),
        Just(Some("ali\u{0}pay\n".to_owned())),
        Just(Some("渠".repeat(100_000))),
    ]
}

/// One step: a command kind with its edge values; `pick` chooses among what exists. An
/// `ExpectedRecharge` is an online recharge the customer requests; an `OnlinePayment` the
/// channel's notification for a recharge or an order, of `amount` or (`None`) of exactly what it
/// awaits.
#[derive(Clone, Debug)]
enum Step {
    OnlineRecharge(Amount),
    ExpectedRecharge(Amount),
    OnlinePayment {
        pick: usize,
        order: bool,
        amount: Option<Amount>,
    },
    OfflineRecharge(Amount),
    Coupon {
        amount: Amount,
        expires_on: Option<NaiveDate>,
    },
    /// Finance books out the customer's expired vouchers on the day `on`.
    ExpireVouchers {
        on: NaiveDate,
    },
    Order {
        expensive: bool,
        quantity: Quantity,
        periods: u32,
        items: usize,
    },
    /// On `on` (or the ledger's day): vouchers expired by then are booked out, the others spent.
    Pay {
        pick: usize,
        on: Option<NaiveDate>,
    },
    Fulfil {
        pick: usize,
    },
    /// On `on` (or the ledger's day): the voucher part goes back, booked out if expired by then.
    Refund {
        pick: usize,
        amount: Amount,
        penalty: Amount,
        on: Option<NaiveDate>,
    },
    /// `same_ids`: the offline rest of an `original` withdrawal gets the withdrawal's own id.
    Withdraw {
        amount: Amount,
        original: bool,
        channel: Option<String>,
        same_ids: bool,
    },
    Usage {
        expensive: bool,
        quantity: Quantity,
    },
    Renew {
        pick: usize,
        periods: u32,
    },
    Cancel {
        pick: usize,
    },
    Rate(Rate),
    Decide {
        pick: usize,
        grant: bool,
    },
    Invoice(Amount),
    Statement {
        from: NaiveDate,
        to: NaiveDate,
    },
    Close(NaiveDate),
    SerialPrice(Amount),
    SerialBatch {
        codes: usize,
    },
    ReverseRecharge {
        pick: usize,
    },
    /// A role of R2 with no permission or every one (the widest set there is).
    DefineRole {
        every: bool,
    },
    /// Customer C given to an id no person of R2 has (this world's staff are tokens without
    /// users): refused, never a panic.
    Owner,
    /// A policy for R2: `action` (an index into every action) with 0 to 4 levels (0 and 4 are
    /// refused), a threshold at an edge, and one more rule naming `also` (perhaps the same
    /// action again: refused).
    Policy {
        action: usize,
        levels: usize,
        above: Option<Amount>,
        also: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let pick = any::<usize>();
    prop_oneof![
        edge_amount().prop_map(Step::OnlineRecharge),
        edge_amount().prop_map(Step::ExpectedRecharge),
        (pick, any::<bool>(), prop::option::of(edge_amount())).prop_map(|(pick, order, amount)| Step::OnlinePayment {
            pick,
            order,
            amount
        }),
        edge_amount().prop_map(Step::OfflineRecharge),
        (edge_amount(), prop::option::of(voucher_date()))
            .prop_map(|(amount, expires_on)| Step::Coupon { amount, expires_on }),
        voucher_date().prop_map(|on| Step::ExpireVouchers { on }),
        (
            any::<bool>(),
            edge_quantity(),
            edge_periods(),
            prop_oneof![Just(1usize), Just(2), Just(ORDER_ITEMS_MAX), Just(ORDER_ITEMS_MAX + 1)]
        )
            .prop_map(|(expensive, quantity, periods, items)| Step::Order {
                expensive,
                quantity,
                periods,
                items
            }),
        (pick, prop::option::of(voucher_date())).prop_map(|(pick, on)| Step::Pay { pick, on }),
        pick.prop_map(|pick| Step::Fulfil { pick }),
        (pick, edge_amount(), edge_amount(), prop::option::of(voucher_date()))
            .prop_map(|(pick, amount, penalty, on)| Step::Refund { pick, amount, penalty, on }),
        (edge_amount(), any::<bool>(), edge_channel(), any::<bool>())
            .prop_map(|(amount, original, channel, same_ids)| Step::Withdraw { amount, original, channel, same_ids }),
        (any::<bool>(), edge_quantity()).prop_map(|(expensive, quantity)| Step::Usage { expensive, quantity }),
        (pick, edge_periods()).prop_map(|(pick, periods)| Step::Renew { pick, periods }),
        pick.prop_map(|pick| Step::Cancel { pick }),
        edge_rate().prop_map(Step::Rate),
        (pick, any::<bool>()).prop_map(|(pick, grant)| Step::Decide { pick, grant }),
        edge_amount().prop_map(Step::Invoice),
        (edge_date(), edge_date()).prop_map(|(from, to)| Step::Statement { from, to }),
        edge_date().prop_map(Step::Close),
        edge_amount().prop_map(Step::SerialPrice),
        prop_oneof![Just(1usize), Just(SERIAL_BATCH_MAX), Just(SERIAL_BATCH_MAX + 1)]
            .prop_map(|codes| Step::SerialBatch { codes }),
        pick.prop_map(|pick| Step::ReverseRecharge { pick }),
        any::<bool>().prop_map(|every| Step::DefineRole { every }),
        Just(Step::Owner),
        (any::<usize>(), 0..=LEVELS_MAX + 1, prop::option::of(edge_amount()), any::<usize>())
            .prop_map(|(action, levels, above, also)| Step::Policy { action, levels, above, also }),
    ]
}

/// The §2.5 world plus a product at `UNIT_VALUE_MAX` a unit, sold down the whole chain, and a
/// distributor tier for serial codes.
struct World {
    world: WorkedExample,
    expensive: ProductId,
    next: u128,
}

impl World {
    fn new() -> World {
        let mut world = WorkedExample::new();
        let expensive: ProductId = id(200);
        let platform = world.platform_admin.clone();
        let (r1_admin, r2_admin) = (world.r1_admin.clone(), world.r2_admin.clone());
        let ledger = &mut world.ledger;
        ledger.given(
            &platform,
            CommandBody::Setup(SetupCommand::CreateProduct {
                product_id: expensive,
                name: "the largest price".into(),
                supplier_id: world.supplier,
                list_price: UnitPrice::from_decimal(UNIT_VALUE_MAX).unwrap(),
                unit: "month".into(),
                currency: None,
            }),
        );
        ledger.given(
            &platform,
            CommandBody::Setup(SetupCommand::SetSupplierRate {
                product_id: expensive,
                rate: Rate::parse("0.0001").unwrap(),
            }),
        );
        let rate = |book, scope, approval| {
            CommandBody::Setup(SetupCommand::SetRate {
                book,
                product_id: expensive,
                scope,
                rate: Rate::ONE,
                valid_from: None,
                valid_to: None,
                approval_id: id(approval),
            })
        };
        ledger.given(&platform, rate(world.platform, RateScope::Reseller(world.r1), 201));
        ledger.given(&r1_admin, rate(world.r1, RateScope::Reseller(world.r2), 202));
        ledger.given(&r2_admin, rate(world.r2, RateScope::Public, 203));
        ledger.given(
            &platform,
            CommandBody::Serial(SerialCommand::SetDistributorTier {
                distributor_id: world.r1,
                tier: DistributorTier::Gold,
            }),
        );
        ledger.given(
            &platform,
            CommandBody::Serial(SerialCommand::SetSerialTierRate { tier: DistributorTier::Gold, rate: Rate::ONE }),
        );
        World { world, expensive, next: 10_000_000 }
    }

    fn fresh<T: From<uuid::Uuid>>(&mut self) -> T {
        self.next += 1;
        id(self.next)
    }

    fn product(&self, expensive: bool) -> ProductId {
        if expensive {
            self.expensive
        } else {
            self.world.product
        }
    }

    fn pick<T: Copy>(items: &[T], pick: usize) -> Option<T> {
        (!items.is_empty()).then(|| items[pick % items.len()])
    }

    /// The command a step stands for, with the actor who issues it (`None`: nothing to act on).
    fn command(&mut self, step: &Step) -> Option<(Actor, CommandBody)> {
        let w = &self.world;
        let state = &w.ledger.state;
        let (customer, r2_sales, r2_finance, r2_admin) =
            (w.customer, w.r2_sales.clone(), w.r2_finance.clone(), w.r2_admin.clone());
        let orders: Vec<OrderId> = {
            let mut orders: Vec<OrderId> = state.orders.keys().copied().collect();
            orders.sort();
            orders
        };
        let approvals: Vec<ApprovalId> = {
            let mut pending: Vec<ApprovalId> = state
                .approvals
                .iter()
                .filter(|(_, approval)| approval.decision == ledger_core::state::Decision::Pending)
                .map(|(id, _)| *id)
                .collect();
            pending.sort();
            pending
        };
        let recharges: Vec<RechargeId> = {
            let mut recharges: Vec<RechargeId> = state.recharges.keys().copied().collect();
            recharges.sort();
            recharges
        };
        let body = match step.clone() {
            Step::OnlineRecharge(amount) => {
                let trade = self.next.to_string();
                CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
                    recharge_id: self.fresh(),
                    customer_id: customer,
                    amount,
                    channel: "alipay".into(),
                    trade_number: TradeNumber::try_from(format!("T{trade}")).unwrap(),
                })
            }
            Step::ExpectedRecharge(amount) => {
                let body = CommandBody::Money(MoneyCommand::RequestRecharge {
                    recharge_id: self.fresh(),
                    approval_id: self.fresh(),
                    customer_id: customer,
                    amount,
                    method: RechargeMethod::Online,
                    reference: "checkout".into(),
                });
                return Some((self.world.customer_actor.clone(), body));
            }
            Step::OnlinePayment { pick, order, amount } => {
                let (payment_id, awaited) = if order {
                    let order_id = Self::pick(&orders, pick)?;
                    (order_id.0, state.orders[&order_id].total)
                } else {
                    let recharge_id = Self::pick(&recharges, pick)?;
                    (recharge_id.0, state.recharges[&recharge_id].amount)
                };
                let trade = self.next.to_string();
                let body = CommandBody::Money(MoneyCommand::ConfirmOnlinePayment {
                    payment_id,
                    recharge_id: self.fresh(),
                    amount: amount.unwrap_or(awaited),
                    channel: "alipay".into(),
                    trade_number: TradeNumber::try_from(format!("P{trade}")).unwrap(),
                });
                return Some((r2_finance, body));
            }
            Step::OfflineRecharge(amount) => {
                let body = CommandBody::Money(MoneyCommand::RequestRecharge {
                    recharge_id: self.fresh(),
                    approval_id: self.fresh(),
                    customer_id: customer,
                    amount,
                    method: RechargeMethod::Offline,
                    reference: "slip".into(),
                });
                return Some((r2_sales, body));
            }
            Step::Coupon { amount, expires_on } => {
                return Some((
                    r2_sales,
                    CommandBody::Money(MoneyCommand::GrantCoupon {
                        customer_id: customer,
                        amount,
                        reason: "edge".into(),
                        approval_id: self.fresh(),
                        expires_on,
                    }),
                ))
            }
            Step::ExpireVouchers { .. } => {
                return Some((r2_finance, CommandBody::Money(MoneyCommand::ExpireVouchers { customer_id: customer })))
            }
            Step::Order { expensive, quantity, periods, items } => {
                let item = OrderItemRequest { product_id: self.product(expensive), quantity, periods };
                let body = CommandBody::Orders(OrderCommand::PlaceOrder {
                    order_id: self.fresh(),
                    customer_id: customer,
                    items: vec![item; items],
                    invite_code: None,
                });
                return Some((self.world.customer_actor.clone(), body));
            }
            Step::Pay { pick, .. } => {
                let order_id = Self::pick(&orders, pick)?;
                return Some((
                    self.world.customer_actor.clone(),
                    CommandBody::Orders(OrderCommand::PayOrder { order_id }),
                ));
            }
            Step::Fulfil { pick } => CommandBody::Orders(OrderCommand::FulfilOrder {
                order_id: Self::pick(&orders, pick)?,
                note: None,
                subscription_end: Some(NaiveDate::from_ymd_opt(2026, 2, 15).unwrap()),
            }),
            Step::Refund { pick, amount, penalty, .. } => {
                let body = CommandBody::Orders(OrderCommand::RefundOrder {
                    order_id: Self::pick(&orders, pick)?,
                    amount,
                    penalty,
                    reason: "edge".into(),
                    approval_id: self.fresh(),
                });
                return Some((r2_finance, body));
            }
            Step::Withdraw { amount, original, channel, same_ids } => {
                let route = if original { WithdrawalRoute::Original } else { WithdrawalRoute::Offline };
                let withdrawal_id = self.fresh();
                let body = CommandBody::Money(MoneyCommand::Withdraw {
                    withdrawal_id,
                    approval_id: self.fresh(),
                    customer_id: customer,
                    amount,
                    route,
                    channel,
                    offline_withdrawal_id: if same_ids { withdrawal_id } else { self.fresh() },
                });
                return Some((r2_finance, body));
            }
            Step::Usage { expensive, quantity } => CommandBody::Orders(OrderCommand::ChargeUsage {
                usage_id: self.fresh(),
                customer_id: customer,
                product_id: self.product(expensive),
                quantity,
                period_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                period_to: NaiveDate::from_ymd_opt(2026, 1, 14).unwrap(),
            }),
            Step::Renew { pick, periods } => {
                let order_id = Self::pick(&orders, pick)?;
                let body = CommandBody::Orders(OrderCommand::RenewSubscription {
                    renewal_id: self.fresh(),
                    order_id,
                    periods,
                    new_end: NaiveDate::MAX,
                });
                return Some((self.world.customer_actor.clone(), body));
            }
            Step::Cancel { pick } => {
                let order_id = Self::pick(&orders, pick)?;
                let body = CommandBody::Orders(OrderCommand::CancelOrder { order_id });
                return Some((self.world.customer_actor.clone(), body));
            }
            Step::Rate(rate) => CommandBody::Setup(SetupCommand::SetRate {
                book: self.world.r2,
                product_id: self.world.product,
                scope: RateScope::Customer(customer),
                rate,
                valid_from: None,
                valid_to: None,
                approval_id: self.fresh(),
            }),
            Step::Decide { pick, grant } => {
                let approval_id = Self::pick(&approvals, pick)?;
                let book = self.world.ledger.state.approvals[&approval_id].request.book;
                let w = &self.world;
                // In R2, whoever of its staff the pick falls on: the level's role or not, an
                // earlier approver or not.
                let r2_staff = [r2_admin, r2_finance, w.r2_sales.clone(), Actor::new(w.r2, id(4_099), [Role::Finance])];
                let decider = if book == w.r1 {
                    w.r1_admin.clone()
                } else if book == w.platform {
                    w.platform_admin.clone()
                } else {
                    r2_staff[pick / 7 % r2_staff.len()].clone()
                };
                return Some((
                    decider,
                    CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant, comment: None }),
                ));
            }
            Step::Invoice(amount) => {
                let body = CommandBody::Settlement(SettlementCommand::RequestInvoice {
                    invoice_id: self.fresh(),
                    approval_id: self.fresh(),
                    customer_id: customer,
                    amount,
                    details: None,
                });
                return Some((r2_finance, body));
            }
            Step::Statement { from, to } => {
                let body = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
                    settlement_id: self.fresh(),
                    book: self.world.r1,
                    counterparty_id: self.world.r2,
                    from,
                    to,
                });
                return Some((self.world.r1_finance.clone(), body));
            }
            Step::Close(through) => {
                return Some((
                    r2_finance,
                    CommandBody::Settlement(SettlementCommand::ClosePeriod { book: self.world.r2, through }),
                ))
            }
            Step::SerialPrice(list_price) => {
                let body = CommandBody::Serial(SerialCommand::SetSerialPackagePrice { days: 30, list_price });
                return Some((self.world.platform_admin.clone(), body));
            }
            Step::SerialBatch { codes } => {
                let batch: u128 = self.fresh::<uuid::Uuid>().as_u128();
                let codes = (0..codes).map(|n| SerialCode::try_from(format!("E{batch:x}N{n}")).unwrap()).collect();
                let body = CommandBody::Serial(SerialCommand::IssueSerialCodes {
                    batch_id: self.fresh(),
                    distributor_id: self.world.r1,
                    days: 30,
                    codes,
                    expires_on: None,
                });
                return Some((self.world.platform_admin.clone(), body));
            }
            Step::Policy { action, levels, above, also } => {
                let roles = [Role::Finance, Role::Admin, Role::Sales];
                let rule = |action: usize, levels: usize| {
                    let action = ApprovalAction::ALL[action % ApprovalAction::ALL.len()];
                    ApprovalRule {
                        action,
                        above: above.filter(|_| !action.is_mandatory()),
                        levels: (0..levels).map(|level| BTreeSet::from([roles[level % roles.len()]])).collect(),
                    }
                };
                let rules = vec![rule(action, levels), rule(also, 1)];
                let body = CommandBody::Approval(ApprovalCommand::SetApprovalPolicy { book: self.world.r2, rules });
                return Some((r2_admin, body));
            }
            Step::ReverseRecharge { pick } => {
                let recharge_id = Self::pick(&recharges, pick)?;
                let body = CommandBody::Money(MoneyCommand::RequestRechargeReversal {
                    approval_id: self.fresh(),
                    recharge_id,
                    reason: "bounced".into(),
                });
                return Some((r2_finance, body));
            }
            Step::DefineRole { every } => {
                let permissions =
                    if every { Permission::ALL.iter().copied().collect() } else { std::collections::BTreeSet::new() };
                let role = Role::Custom(RoleName::new("everything").expect("a valid name"));
                CommandBody::Access(AccessCommand::DefineRole { org_id: self.world.r2, role, permissions })
            }
            Step::Owner => {
                let owner_id = UserId(uuid::Uuid::max());
                CommandBody::Access(AccessCommand::SetCustomerOwner { customer_id: self.world.customer, owner_id })
            }
        };
        Some((r2_admin, body))
    }
}

/// The day a step runs on, when not the ledger's own.
fn day_of(step: &Step) -> Option<NaiveDate> {
    match step {
        Step::ExpireVouchers { on } => Some(*on),
        Step::Pay { on, .. } | Step::Refund { on, .. } => *on,
        _ => None,
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_command_with_extreme_values_panics(steps in proptest::collection::vec(step(), 20..60)) {
        let mut world = World::new();
        for step in &steps {
            let Some((actor, body)) = world.command(step) else { continue };
            let ledger = &mut world.world.ledger;
            let today = ledger.today;
            ledger.today = day_of(step).unwrap_or(today);
            let outcome = catch_unwind(AssertUnwindSafe(|| ledger.execute(&actor, body.clone())));
            ledger.today = today;
            prop_assert!(outcome.is_ok(), "decide or evolve panicked on {:?} on {}", body, day_of(step).unwrap_or(today));
        }
        let ledger = &world.world.ledger;
        let broken = violations(&ledger.state, &ledger.log);
        prop_assert!(broken.is_empty(), "invariants broken: {:?}", broken);
        prop_assert_eq!(&replay(&ledger.log).unwrap(), &ledger.state, "a replay equals the live state");
    }
}

/// The three requests of the outage report, as the core sees them: each is refused with a
/// named field, and the ledger takes the next command as usual.
#[test]
fn the_reported_outages_are_refusals() {
    let mut world = World::new();
    let w = &mut world.world;
    let (customer, r2_sales, customer_actor) = (w.customer, w.r2_sales.clone(), w.customer_actor.clone());

    // quantity 1000000000 × 2 periods of a 1000.00 product: 2 × 10^12, past AMOUNT_MAX.
    let items = vec![OrderItemRequest { product_id: w.product, quantity: Quantity::whole(1_000_000_000), periods: 2 }];
    let order = CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: id(7_001),
        customer_id: customer,
        items,
        invite_code: None,
    });
    let refused = w.ledger.execute(&customer_actor, order).unwrap_err();
    assert_eq!((refused.code(), refused.field()), ("invalid_amount", Some("items[0].quantity")));

    // Two pending recharges near the amount limit: the second would hold more than AMOUNT_MAX.
    let near = Amount::from_decimal(AMOUNT_MAX - Decimal::ONE).unwrap();
    let recharge = |n: u128| {
        CommandBody::Money(MoneyCommand::RequestRecharge {
            recharge_id: id(7_100 + n),
            approval_id: id(7_200 + n),
            customer_id: customer,
            amount: near,
            method: RechargeMethod::Offline,
            reference: "slip".into(),
        })
    };
    w.ledger.given(&r2_sales, recharge(1));
    let refused = w.ledger.execute(&r2_sales, recharge(2)).unwrap_err();
    assert_eq!((refused.code(), refused.field()), ("limit_exceeded", Some("amount")));
    assert!(refused.to_string().contains("pending recharges"), "{refused}");

    // A large coupon, twice: the wallet would pass AMOUNT_MAX.
    let coupon = CommandBody::Money(MoneyCommand::GrantCoupon {
        customer_id: customer,
        amount: near,
        reason: "edge".into(),
        approval_id: id(7_300),
        expires_on: None,
    });
    w.ledger.given(&r2_sales, coupon.clone());
    let refused = w.ledger.execute(&r2_sales, coupon).unwrap_err();
    assert_eq!((refused.code(), refused.field()), ("limit_exceeded", Some("amount")));
    assert!(refused.to_string().contains("wallet balance"), "{refused}");
    assert_eq!(w.ledger.state.wallet(customer).voucher, near, "a coupon is voucher credit");

    // The ledger goes on: a one-month order is placed and paid.
    let order_id = w.place_order();
    w.ledger.given(&customer_actor, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_eq!(w.ledger.state.orders[&order_id].status, ledger_core::state::OrderStatus::Paid);
}

/// A book's posted total is bounded: at its edge the next posting is refused, not wrapped.
#[test]
fn a_books_posted_total_stops_at_its_limit() {
    let mut world = World::new();
    let w = &mut world.world;
    let (customer, r2_sales, customer_actor) = (w.customer, w.r2_sales.clone(), w.customer_actor.clone());
    // Coupons fill the wallet to AMOUNT_MAX, orders spend it; each round posts about 2 × 10^12 in
    // R2's book, so about 500 rounds reach TOTAL_MAX (10^15).
    let mut rounds = 0;
    let refused = loop {
        rounds += 1;
        assert!(rounds < 1_000, "the posted total never reached its limit");
        let coupon = CommandBody::Money(MoneyCommand::GrantCoupon {
            customer_id: customer,
            amount: Amount::MAX,
            reason: "fill".into(),
            approval_id: id(8_100_000 + rounds),
            expires_on: None,
        });
        if let Err(error) = w.ledger.execute(&r2_sales, coupon) {
            break error;
        }
        let order_id: OrderId = id(8_000_000 + rounds);
        let items =
            vec![OrderItemRequest { product_id: world.expensive, quantity: Quantity::whole(1_000), periods: 1 }];
        let order =
            CommandBody::Orders(OrderCommand::PlaceOrder { order_id, customer_id: customer, items, invite_code: None });
        w.ledger.given(&customer_actor, order);
        if let Err(error) = w.ledger.execute(&customer_actor, CommandBody::Orders(OrderCommand::PayOrder { order_id }))
        {
            break error;
        }
    };
    assert_eq!(refused.code(), "limit_exceeded", "{refused}");
    assert!(refused.to_string().contains("posted total"), "{refused}");
    let posted = w.ledger.state.books[&w.r2].posted;
    assert!(posted.as_decimal() <= ledger_core::money::TOTAL_MAX);
    assert!(posted.as_decimal() > ledger_core::money::TOTAL_MAX - Decimal::from(3_000_000_000_000u64), "{posted}");
    assert!(violations(&w.ledger.state, &w.ledger.log).is_empty());
}

/// A customer holds at most `VOUCHER_GRANTS_MAX` open voucher grants: the next one is refused,
/// and every event that lists grants (spent, given back, booked out) holds all of them at once.
#[test]
fn open_voucher_grants_stop_at_their_limit_and_move_all_at_once() {
    use ledger_core::decide::VOUCHER_GRANTS_MAX;
    use ledger_core::event::EventPayload;

    let mut world = World::new();
    let w = &mut world.world;
    let (customer, r2_sales, r2_finance, customer_actor) =
        (w.customer, w.r2_sales.clone(), w.r2_finance.clone(), w.customer_actor.clone());
    let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    let grant = |amount: &str, expires_on: &str| {
        CommandBody::Money(MoneyCommand::GrantCoupon {
            customer_id: customer,
            amount: Amount::parse(amount).unwrap(),
            reason: "many".into(),
            // Coupons need no approval by default: the id is never used.
            approval_id: id(9_000_001),
            expires_on: Some(day(expires_on)),
        })
    };
    // The slices of the one event of `event_type` among `recorded`, and its amount.
    let listed = |recorded: &[ledger_core::event::RecordedEvent], event_type: &str| {
        let mut found = recorded.iter().filter(|event| event.event.payload.event_type() == event_type);
        let payload = &found.next().unwrap_or_else(|| panic!("a {event_type}")).event.payload;
        assert!(found.next().is_none(), "one {event_type}");
        match payload {
            EventPayload::VoucherRedeemed(event) => (event.slices.len(), event.amount.to_string()),
            EventPayload::VoucherReturned(event) => (event.slices.len(), event.amount.to_string()),
            EventPayload::VoucherExpired(event) => (event.slices.len(), event.amount.to_string()),
            other => panic!("{other:?}"),
        }
    };

    for _ in 0..VOUCHER_GRANTS_MAX {
        w.ledger.given(&r2_sales, grant("9.50", "2026-02-01"));
    }
    let refused = w.ledger.execute(&r2_sales, grant("9.50", "2026-02-01")).unwrap_err();
    assert_eq!((refused.code(), refused.field()), ("limit_exceeded", Some("customer_id")), "{refused}");
    assert_eq!(w.ledger.state.vouchers_of(customer).len(), VOUCHER_GRANTS_MAX);

    // A 950.00 order spends every grant; refunded once they have expired, all come back and go out.
    let order_id = w.place_order();
    let paid = w.ledger.given(&customer_actor, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    assert_eq!(listed(&paid, "VoucherRedeemed"), (VOUCHER_GRANTS_MAX, "950.00".to_owned()));
    w.ledger.today = day("2026-02-01");
    let refund = CommandBody::Orders(OrderCommand::RefundOrder {
        order_id,
        amount: Amount::parse("950.00").unwrap(),
        penalty: Amount::ZERO,
        reason: "all of it".into(),
        approval_id: id(9_000_002),
    });
    let refunded = w.ledger.given(&r2_finance, refund);
    assert_eq!(listed(&refunded, "VoucherReturned"), (VOUCHER_GRANTS_MAX, "950.00".to_owned()));
    assert_eq!(listed(&refunded, "VoucherExpired"), (VOUCHER_GRANTS_MAX, "950.00".to_owned()));
    let wallet = w.ledger.state.wallet(customer);
    assert_eq!((wallet.balance, wallet.voucher), (Amount::ZERO, Amount::ZERO));

    // As many again, booked out by finance on the day they expire.
    for _ in 0..VOUCHER_GRANTS_MAX {
        w.ledger.given(&r2_sales, grant("0.01", "2026-03-01"));
    }
    w.ledger.today = day("2026-03-01");
    let expire = CommandBody::Money(MoneyCommand::ExpireVouchers { customer_id: customer });
    let expired = w.ledger.given(&r2_finance, expire);
    assert_eq!(listed(&expired, "VoucherExpired"), (VOUCHER_GRANTS_MAX, "1.00".to_owned()));
    assert!(w.ledger.state.vouchers_of(customer).is_empty());
    assert!(violations(&w.ledger.state, &w.ledger.log).is_empty());
    assert_eq!(replay(&w.ledger.log).unwrap(), w.ledger.state, "a replay equals the live state");
}
