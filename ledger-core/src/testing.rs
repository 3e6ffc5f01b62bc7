//! An in-memory log for tests and examples: decide, seal, evolve, with deterministic ids and a
//! settable accounting date. Also the world of DESIGN §2.5 as a fixture. Pure like the rest of
//! the crate; the real writer lives in `commands`.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::command::{ApprovalCommand, MoneyCommand, OrderCommand, SetupCommand};
use crate::command::{Command, CommandBody};
use crate::error::DomainError;
use crate::event::{EnvelopeMeta, Event, RecordedEvent};
use crate::ids::*;
use crate::money::{Amount, Currency, Rate, UnitPrice};
use crate::org::{Actor, OrgKind, Role};
use crate::pricing::RateScope;
use crate::state::State;

/// A deterministic id for tests: `id(7)` is `00000000-0000-0000-0000-000000000007`.
pub fn id<T: From<Uuid>>(value: u128) -> T {
    T::from(Uuid::from_u128(value))
}

pub fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("a test amount")
}

pub fn rate(text: &str) -> Rate {
    Rate::parse(text).expect("a test rate")
}

pub fn date(text: &str) -> NaiveDate {
    text.parse().expect("a test date")
}

pub fn envelope(position: u64, actor: &Actor, effective_date: NaiveDate) -> EnvelopeMeta {
    EnvelopeMeta {
        position,
        event_id: Uuid::from_u128(position as u128),
        recorded_at: DateTime::<Utc>::from_timestamp(1_767_225_600 + position as i64, 0).expect("a valid time"),
        effective_date,
        actor: actor.clone(),
        idempotency_key: None,
        correlation_id: None,
    }
}

/// A log in memory with its state.
#[derive(Clone, Debug)]
pub struct MemoryLedger {
    pub state: State,
    pub chain: crate::log::ChainHead,
    pub log: Vec<RecordedEvent>,
    pub today: NaiveDate,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger {
            state: State::default(),
            chain: crate::log::ChainHead::genesis(),
            log: Vec::new(),
            today: date("2026-01-15"),
        }
    }
}

impl MemoryLedger {
    pub fn command(&self, actor: &Actor, body: CommandBody) -> Command {
        Command { actor: actor.clone(), effective_date: self.today, at: DateTime::<Utc>::UNIX_EPOCH, body }
    }

    /// Decides without recording: the "then" of a given/when/then test.
    pub fn decide(&self, actor: &Actor, body: CommandBody) -> Result<Vec<Event>, DomainError> {
        crate::decide::decide(&self.state, &self.command(actor, body))
    }

    /// Decides as of `at` (the command's time): what the clock decides at that instant.
    pub fn decide_at(&self, actor: &Actor, body: CommandBody, at: DateTime<Utc>) -> Result<Vec<Event>, DomainError> {
        crate::decide::decide(&self.state, &Command { at, ..self.command(actor, body) })
    }

    /// Executes as of `at` (the command's time).
    pub fn execute_at(
        &mut self,
        actor: &Actor,
        body: CommandBody,
        at: DateTime<Utc>,
    ) -> Result<Vec<RecordedEvent>, DomainError> {
        self.run(Command { at, ..self.command(actor, body) })
    }

    pub fn execute(&mut self, actor: &Actor, body: CommandBody) -> Result<Vec<RecordedEvent>, DomainError> {
        self.run(self.command(actor, body))
    }

    fn run(&mut self, command: Command) -> Result<Vec<RecordedEvent>, DomainError> {
        let actor = command.actor.clone();
        let actor = &actor;
        let today = self.today;
        let recorded = crate::log::execute(&mut self.state, &mut self.chain, &command, |position| {
            envelope(position, actor, today)
        })?;
        self.log.extend(recorded.iter().cloned());
        Ok(recorded)
    }

    /// Executes and expects success: for the "given" part of a test.
    #[track_caller]
    pub fn given(&mut self, actor: &Actor, body: CommandBody) -> Vec<RecordedEvent> {
        match self.execute(actor, body.clone()) {
            Ok(recorded) => recorded,
            Err(error) => panic!("given {body:?} failed: {error}"),
        }
    }
}

/// An actor with a fresh principal.
pub fn actor(org: OrgId, principal: u128, roles: &[Role]) -> Actor {
    Actor::new(org, id(principal), roles.iter().copied())
}

/// The world of DESIGN §2.5: supplier → platform → R1 → R2 → customer C, product P at 1000.00,
/// supplier rate 0.70, platform → R1 0.80, R1 → R2 0.88, R2's public rate 0.98 and C's
/// customer rate 0.95. Nothing recharged or ordered yet.
pub struct WorkedExample {
    pub ledger: MemoryLedger,
    pub platform: OrgId,
    pub supplier: OrgId,
    pub r1: OrgId,
    pub r2: OrgId,
    pub customer: OrgId,
    pub product: ProductId,
    pub platform_admin: Actor,
    pub platform_finance: Actor,
    pub r1_admin: Actor,
    pub r1_finance: Actor,
    pub r2_admin: Actor,
    pub r2_sales: Actor,
    pub r2_finance: Actor,
    pub customer_actor: Actor,
}

impl WorkedExample {
    pub fn new() -> WorkedExample {
        let world = WorkedExample::without_ledger();
        let mut ledger = MemoryLedger::default();
        for (actor, body) in world.setup_commands() {
            ledger.given(&actor, body);
        }
        WorkedExample { ledger, ..world }
    }

    /// The ids and actors of the world, with an empty ledger: for running
    /// [`WorkedExample::setup_commands`] through another writer (the real sequencer).
    pub fn without_ledger() -> WorkedExample {
        let (platform, supplier, r1, r2, customer) = (id(1), id(2), id(3), id(4), id(5));
        WorkedExample {
            ledger: MemoryLedger::default(),
            platform,
            supplier,
            r1,
            r2,
            customer,
            product: id(100),
            platform_admin: actor(platform, 1001, &[Role::SuperAdmin, Role::Admin]),
            platform_finance: actor(platform, 1002, &[Role::Finance]),
            r1_admin: actor(r1, 3001, &[Role::Admin]),
            r1_finance: actor(r1, 3002, &[Role::Finance]),
            r2_admin: actor(r2, 4001, &[Role::Admin]),
            r2_sales: actor(r2, 4002, &[Role::Sales]),
            r2_finance: actor(r2, 4003, &[Role::Finance]),
            customer_actor: actor(customer, 5001, &[Role::Customer]),
        }
    }

    /// Every command that builds the world, in order, with the actor that issues it.
    pub fn setup_commands(&self) -> Vec<(Actor, CommandBody)> {
        let open = |org_id, kind, name: &str, parent_id| {
            CommandBody::Setup(SetupCommand::OpenOrg { org_id, kind, name: name.into(), parent_id, sale_mode: None })
        };
        let set_rate = |book, scope, value: &str, approval: u128| {
            CommandBody::Setup(SetupCommand::SetRate {
                book,
                product_id: self.product,
                scope,
                rate: rate(value),
                valid_from: None,
                valid_to: None,
                approval_id: id(9_000 + approval),
            })
        };
        let platform = self.platform_admin.clone();
        vec![
            (
                platform.clone(),
                CommandBody::Setup(SetupCommand::Bootstrap {
                    platform_id: self.platform,
                    name: "KBOSS".into(),
                    currency: Currency::CNY,
                }),
            ),
            (platform.clone(), open(self.supplier, OrgKind::Supplier, "Cloud Supplier", self.platform)),
            (platform.clone(), open(self.r1, OrgKind::Reseller, "R1", self.platform)),
            (self.r1_admin.clone(), open(self.r2, OrgKind::Reseller, "R2", self.r1)),
            (self.r2_admin.clone(), open(self.customer, OrgKind::Customer, "Customer C", self.r2)),
            (
                platform.clone(),
                CommandBody::Setup(SetupCommand::CreateProduct {
                    product_id: self.product,
                    name: "GPU server".into(),
                    supplier_id: self.supplier,
                    list_price: UnitPrice::parse("1000.00").unwrap(),
                    unit: "month".into(),
                    currency: None,
                }),
            ),
            (
                platform.clone(),
                CommandBody::Setup(SetupCommand::SetSupplierRate { product_id: self.product, rate: rate("0.70") }),
            ),
            (platform, set_rate(self.platform, RateScope::Reseller(self.r1), "0.80", 1)),
            (self.r1_admin.clone(), set_rate(self.r1, RateScope::Reseller(self.r2), "0.88", 2)),
            (self.r2_admin.clone(), set_rate(self.r2, RateScope::Public, "0.98", 3)),
            (self.r2_admin.clone(), set_rate(self.r2, RateScope::Customer(self.customer), "0.95", 4)),
        ]
    }

    /// An offline recharge requested by R2's sales and approved by R2's finance.
    pub fn recharge(&mut self, value: &str) {
        let (recharge_id, approval_id) = (self.next_id(), self.next_id());
        let sales = self.r2_sales.clone();
        self.ledger.given(
            &sales,
            CommandBody::Money(MoneyCommand::RequestRecharge {
                recharge_id,
                approval_id,
                customer_id: self.customer,
                amount: amount(value),
                method: crate::event::RechargeMethod::Offline,
                reference: "bank slip 42".into(),
            }),
        );
        let finance = self.r2_finance.clone();
        self.ledger.given(
            &finance,
            CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant: true, comment: None }),
        );
    }

    /// Places an order of one unit for one period of the product; returns its id.
    pub fn place_order(&mut self) -> OrderId {
        let order_id = self.next_id();
        let customer = self.customer_actor.clone();
        let items = vec![crate::command::OrderItemRequest {
            product_id: self.product,
            quantity: crate::money::Quantity::whole(1),
            periods: 1,
        }];
        self.ledger.given(
            &customer,
            CommandBody::Orders(OrderCommand::PlaceOrder {
                order_id,
                customer_id: self.customer,
                items,
                invite_code: None,
            }),
        );
        order_id
    }

    /// Pays an order from the customer's wallet.
    pub fn pay_order(&mut self, order_id: OrderId) -> Vec<RecordedEvent> {
        let customer = self.customer_actor.clone();
        self.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }))
    }

    /// A fresh id, unique within the fixture.
    pub fn next_id<T: From<Uuid>>(&mut self) -> T {
        id(1_000_000 + self.ledger.log.len() as u128 * 1_000 + self.ids_drawn())
    }

    fn ids_drawn(&mut self) -> u128 {
        // A counter kept in the date-free part of the state would leak test concerns into the
        // domain; the log length plus a per-call counter is enough for uniqueness here.
        thread_local!(static COUNTER: std::cell::Cell<u128> = const { std::cell::Cell::new(0) });
        COUNTER.with(|counter| {
            counter.set(counter.get() + 1);
            counter.get()
        })
    }
}

impl Default for WorkedExample {
    fn default() -> Self {
        WorkedExample::new()
    }
}

/// The purchase of DESIGN §2.5 as the log holds it: C recharges 1000.00, then buys one unit of P
/// for one period; returns the `OrderPlaced` and `OrderPaid` records (the latter books the sale
/// in every book of the chain). For tests and benches of the record encodings.
pub fn worked_example_purchase() -> (RecordedEvent, RecordedEvent) {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let placed = world.ledger.log.last().expect("the order was placed").clone();
    let paid = world.pay_order(order_id);
    assert_eq!((placed.event_type(), paid[0].event_type()), ("OrderPlaced", "OrderPaid"));
    (placed, paid[0].clone())
}
