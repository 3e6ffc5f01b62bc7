//! The harness of the read-model tests: a backend (SQLite in a temp dir, or PostgreSQL in fresh
//! schemas of database `test` on 127.0.0.1), the real writer, and a random workload driven
//! through it in the world of DESIGN §2.5 (grown with a second product and more customers).
//!
//! PostgreSQL's blocking client (the log store's) must never be created or dropped on the async
//! runtime: those calls run in `block_in_place`, and the schemas are dropped from a plain thread.

#![allow(dead_code)]

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use commands::testing::setup_world;
use commands::{Request, Writer, WriterConfig, WriterHandle};
use event_log::{AsyncLog, LogAppend, LogRead, PostgresReader, PostgresStore, SqliteReader, SqliteStore};
use ledger_core::approval_policy::{ApprovalAction, ApprovalRule};
use ledger_core::command::OrderItemRequest;
use ledger_core::event::{CycleEvery, RechargeMethod, SettlementCycle, WithdrawalRoute};
use ledger_core::ids::*;
use ledger_core::money::{Amount, Quantity, Rate, UnitPrice};
use ledger_core::org::{Actor, OrgKind, Role};
use ledger_core::pricing::RateScope;
use ledger_core::state::OrderStatus;
use ledger_core::testing::WorkedExample;
use ledger_core::{
    AccessCommand, ApprovalCommand, MoneyCommand, OrderCommand, SerialCommand, SettlementCommand, SetupCommand,
    TermsCommand,
};
use ledger_core::{Command, CommandBody, RecordedEvent, State};
use projections::ReadModels;
use uuid::Uuid;

pub const POSTGRES_URL: &str = "host=127.0.0.1 user=postgres dbname=test";

/// A store for the log and for read models.
pub trait Backend: Send + Sync + 'static {
    type Store: LogAppend;
    type Reader: LogRead;
    fn writer_store(&self) -> Self::Store;
    fn reader(&self) -> Self::Reader;
    /// A reader for async code (opened off the runtime's context).
    fn log(&self) -> AsyncLog<Self::Reader> {
        AsyncLog::new(blocking(|| self.reader()))
    }
    /// Read models in a store of their own, named `name` (empty on first use).
    fn read_models(&self, name: &str) -> impl std::future::Future<Output = ReadModels> + Send;
}

pub struct Sqlite {
    pub directory: tempfile::TempDir,
}

impl Sqlite {
    pub fn new() -> Sqlite {
        Sqlite { directory: tempfile::tempdir().expect("a temp dir") }
    }
}

impl Backend for Sqlite {
    type Store = SqliteStore;
    type Reader = SqliteReader;

    fn writer_store(&self) -> SqliteStore {
        SqliteStore::open_writer(self.directory.path()).expect("the log opens")
    }

    fn reader(&self) -> SqliteReader {
        SqliteReader::open(self.directory.path()).expect("the log opens for reading")
    }

    async fn read_models(&self, name: &str) -> ReadModels {
        ReadModels::open_sqlite(&self.directory.path().join(name)).expect("read.sqlite opens")
    }
}

/// The log in one fresh schema, each named read-model store in another; all dropped at the end.
pub struct Postgres {
    admin: postgres::Config,
    prefix: String,
    schemas: std::sync::Mutex<Vec<String>>,
}

fn create_schema(admin: &postgres::Config, schema: &str) {
    let admin = admin.clone();
    let sql = format!("CREATE SCHEMA {schema}");
    std::thread::spawn(move || {
        let mut client =
            admin.connect(postgres::NoTls).expect("PostgreSQL is reachable on 127.0.0.1 (ops/services start)");
        client.batch_execute(&sql).expect("a fresh schema");
    })
    .join()
    .expect("schema creation does not panic");
}

impl Postgres {
    pub fn new() -> Postgres {
        let admin: postgres::Config = POSTGRES_URL.parse().expect("the URL parses");
        let prefix = format!("kboss_test_{}", Uuid::now_v7().simple());
        create_schema(&admin, &prefix);
        Postgres { admin, prefix: prefix.clone(), schemas: std::sync::Mutex::new(vec![prefix]) }
    }

    fn log_config(&self) -> postgres::Config {
        let mut config = self.admin.clone();
        config.options(&format!("-c search_path={}", self.prefix));
        config
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let schemas = self.schemas.lock().unwrap().clone();
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = admin.connect(postgres::NoTls) {
                for schema in schemas {
                    let _ = client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
                }
            }
        })
        .join();
    }
}

pub fn postgres_pool(schema: &str) -> deadpool_postgres::Pool {
    let mut config = deadpool_postgres::Config::new();
    config.host = Some("127.0.0.1".into());
    config.user = Some("postgres".into());
    config.dbname = Some("test".into());
    config.options = Some(format!("-c search_path={schema}"));
    config.create_pool(Some(deadpool_postgres::Runtime::Tokio1), tokio_postgres::NoTls).expect("a pool")
}

impl Backend for Postgres {
    type Store = PostgresStore;
    type Reader = PostgresReader;

    fn writer_store(&self) -> PostgresStore {
        PostgresStore::open_writer(&self.log_config(), "read-model tests").expect("the log opens")
    }

    fn reader(&self) -> PostgresReader {
        PostgresReader::open(&self.log_config()).expect("the log opens for reading")
    }

    /// "live" shares the log's schema, as in production; any other name gets a schema of its own.
    async fn read_models(&self, name: &str) -> ReadModels {
        let schema = if name == "live" { self.prefix.clone() } else { format!("{}_{name}", self.prefix) };
        if !self.schemas.lock().unwrap().contains(&schema) {
            create_schema(&self.admin, &schema);
            self.schemas.lock().unwrap().push(schema.clone());
        }
        ReadModels::open_postgres(postgres_pool(&schema)).await.expect("read models open in PostgreSQL")
    }
}

/// Runs blocking store work off the runtime's context (PostgreSQL's blocking client).
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

pub fn start_writer<B: Backend>(backend: &B) -> Writer {
    blocking(|| Writer::start(backend.writer_store(), WriterConfig::default()).expect("the writer starts"))
}

/// Every event of the log, in order.
pub fn read_log<B: Backend>(backend: &B) -> Vec<RecordedEvent> {
    blocking(|| {
        let mut reader = backend.reader();
        let mut events = Vec::new();
        loop {
            let chunk = reader.read_after(events.len() as u64, 1_000).expect("the log reads");
            if chunk.is_empty() {
                return events;
            }
            events.extend(chunk);
        }
    })
}

/// Builds read models in store `name` from the whole log with `catch_up`.
pub async fn rebuilt<B: Backend>(backend: &B, name: &str) -> ReadModels {
    let read_models = backend.read_models(name).await;
    catch_up_all(backend, &read_models).await;
    read_models
}

pub async fn catch_up_all<B: Backend>(backend: &B, read_models: &ReadModels) -> u64 {
    let log = backend.log();
    let mut calls = 0;
    let reached = projections::catch_up(read_models, &log, None, |_, _| calls += 1).await.expect("catch-up");
    assert!(calls > 0 || reached == 0, "progress is reported");
    reached
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a tiny deterministic generator, so a failing seed reproduces.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn cents(&mut self, low: i64, high: i64) -> Amount {
        let minor = low + (self.next() % (high - low + 1) as u64) as i64;
        Amount::from_minor(minor).expect("a test amount")
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// A customer of the grown world: its id, its own actor, its seller's staff.
#[derive(Clone)]
pub struct Customer {
    pub id: OrgId,
    pub actor: Actor,
    pub seller: OrgId,
    pub seller_admin: Actor,
    pub seller_finance: Actor,
    pub seller_sales: Actor,
}

pub struct World {
    pub example: WorkedExample,
    pub second_product: ProductId,
    pub customers: Vec<Customer>,
    pub invite_code: InviteCode,
    pub token_hash: String,
    pub next_id: u128,
}

pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 15).expect("a date")
}

pub fn command_on(actor: &Actor, day: NaiveDate, body: CommandBody) -> Command {
    Command { actor: actor.clone(), effective_date: day, at: DateTime::<Utc>::UNIX_EPOCH, body }
}

pub async fn submit(handle: &WriterHandle, actor: &Actor, day: NaiveDate, body: CommandBody) -> Result<u64, String> {
    match handle.submit(Request::new(command_on(actor, day, body))).await {
        Ok(committed) => Ok(committed.position),
        Err(error) => Err(error.to_string()),
    }
}

async fn must(handle: &WriterHandle, actor: &Actor, body: CommandBody) {
    let described = format!("{body:?}");
    submit(handle, actor, first_day(), body).await.unwrap_or_else(|error| panic!("{described}: {error}"));
}

fn rate(text: &str) -> Rate {
    Rate::parse(text).expect("a rate")
}

impl World {
    pub fn id<T: From<Uuid>>(&mut self) -> T {
        self.next_id += 1;
        T::from(Uuid::from_u128(0x7E57_0000_0000_0000 + self.next_id))
    }
}

/// The §2.5 world, then a second product at an awkward price (rounding on every level), a second
/// customer of R2, a customer of R1 directly, an invite code of R2's salesperson and a token.
pub async fn grow_world(handle: &WriterHandle) -> World {
    let example = setup_world(handle).await.expect("the §2.5 world");
    let mut world = World {
        second_product: ProductId::from_u128(101),
        customers: Vec::new(),
        invite_code: InviteCode::try_from("ALICE-2026".to_owned()).expect("an invite code"),
        token_hash: "ab".repeat(32),
        next_id: 0,
        example,
    };
    let e = &world.example;
    let (platform, r1_admin, r2_admin) = (e.platform_admin.clone(), e.r1_admin.clone(), e.r2_admin.clone());
    let product = world.second_product;
    must(
        handle,
        &platform,
        CommandBody::Setup(SetupCommand::CreateProduct {
            product_id: product,
            name: "Object storage".into(),
            supplier_id: e.supplier,
            list_price: UnitPrice::parse("37.13").unwrap(),
            unit: "TB-month".into(),
            currency: None,
        }),
    )
    .await;
    must(
        handle,
        &platform,
        CommandBody::Setup(SetupCommand::SetSupplierRate { product_id: product, rate: rate("0.61") }),
    )
    .await;
    let rates = [
        (platform.clone(), e.platform, RateScope::Reseller(e.r1), "0.83"),
        (r1_admin.clone(), e.r1, RateScope::Reseller(e.r2), "0.9"),
        (r2_admin.clone(), e.r2, RateScope::Public, "0.97"),
        (r1_admin.clone(), e.r1, RateScope::Public, "0.95"),
    ];
    let (r1, r2) = (e.r1, e.r2);
    let first_product = e.product;
    for (actor, book, scope, value) in rates {
        let approval_id = world.id();
        let body = CommandBody::Setup(SetupCommand::SetRate {
            book,
            product_id: product,
            scope,
            rate: rate(value),
            valid_from: None,
            valid_to: None,
            approval_id,
        });
        must(handle, &actor, body).await;
    }
    let approval_id = world.id();
    let body = CommandBody::Setup(SetupCommand::SetRate {
        book: r1,
        product_id: first_product,
        scope: RateScope::Public,
        rate: rate("0.93"),
        valid_from: None,
        valid_to: None,
        approval_id,
    });
    must(handle, &r1_admin, body).await;
    let e = &world.example;
    let r2_staff = (e.r2_admin.clone(), e.r2_finance.clone(), e.r2_sales.clone());
    let r1_staff = (e.r1_admin.clone(), e.r1_finance.clone(), e.r1_admin.clone());
    world.customers.push(Customer {
        id: e.customer,
        actor: e.customer_actor.clone(),
        seller: r2,
        seller_admin: r2_staff.0.clone(),
        seller_finance: r2_staff.1.clone(),
        seller_sales: r2_staff.2.clone(),
    });
    for (index, (seller, staff)) in [(r2, r2_staff), (r1, r1_staff)].into_iter().enumerate() {
        let id = OrgId::from_u128(600 + index as u128);
        let body = CommandBody::Setup(SetupCommand::OpenOrg {
            org_id: id,
            kind: OrgKind::Customer,
            name: format!("Customer {index}"),
            parent_id: seller,
            sale_mode: None,
        });
        must(handle, &staff.0, body).await;
        let actor = Actor::new(id, PrincipalId::from_u128(6_000 + index as u128), [Role::Customer]);
        world.customers.push(Customer {
            id,
            actor,
            seller,
            seller_admin: staff.0,
            seller_finance: staff.1,
            seller_sales: staff.2,
        });
    }
    let code = world.invite_code.clone();
    let sales = world.example.r2_sales.clone();
    must(
        handle,
        &sales,
        CommandBody::Setup(SetupCommand::CreateInviteCode {
            code,
            book: r2,
            promotion_id: None,
            salesperson: Some("alice".into()),
        }),
    )
    .await;
    // R2's approval policy: a transfer recharge waits for finance, then admin.
    let levels = vec![BTreeSet::from([Role::Finance]), BTreeSet::from([Role::Admin])];
    let rule = ApprovalRule { action: ApprovalAction::TransferRecharge, above: None, levels };
    let policy = CommandBody::Approval(ApprovalCommand::SetApprovalPolicy { book: r2, rules: vec![rule] });
    must(handle, &world.example.r2_admin.clone(), policy).await;
    let customer = world.customers[0].clone();
    let user_id = UserId(customer.actor.principal_id.0);
    let body = CommandBody::Access(AccessCommand::IssueToken {
        principal_id: customer.actor.principal_id,
        org_id: customer.id,
        user_id,
        new_user: Some("C's buyer".into()),
        roles: Some(BTreeSet::from([Role::Customer])),
        label: Some("C's app".into()),
        expires_at: None,
        token_hash: world.token_hash.clone(),
    });
    must(handle, &world.example.r2_admin.clone(), body).await;
    // A second token of the same user, revoked: the tokens read model keeps both.
    let second = PrincipalId(uuid::Uuid::from_u128(customer.actor.principal_id.0.as_u128() ^ 1));
    let body = CommandBody::Access(AccessCommand::IssueToken {
        principal_id: second,
        org_id: customer.id,
        user_id,
        new_user: None,
        roles: None,
        label: Some("old phone".into()),
        expires_at: None,
        token_hash: format!("{:064x}", second.0.as_u128()),
    });
    must(handle, &world.example.r2_admin.clone(), body).await;
    let body = CommandBody::Access(AccessCommand::RevokeToken { principal_id: second, reason: Some("lost".into()) });
    must(handle, &world.example.r2_admin.clone(), body).await;
    grant_credit(handle, &mut world).await;
    world
}

/// Credit (issue 12): R2's arrears fall due in ten days; its second customer is given 3000.00 of
/// credit (sales asks, finance approves), buys 980.00 on it with an empty wallet and repays
/// 500.00 with a recharge; the platform settles with its supplier monthly.
async fn grant_credit(handle: &WriterHandle, world: &mut World) {
    let e = &world.example;
    let (r2, platform, supplier, product) = (e.r2, e.platform, e.supplier, e.product);
    let (finance, platform_finance) = (e.r2_finance.clone(), e.platform_finance.clone());
    let customer = world.customers[1].clone();
    let terms = TermsCommand::SetBookTerms {
        book: r2,
        order_payment_timeout_minutes: None,
        arrears_due_days: Some(10),
        renewal_lead_days: None,
    };
    must(handle, &finance, CommandBody::Terms(terms)).await;
    let approval_id = world.id();
    let limit = Amount::parse("3000.00").unwrap();
    let raise = TermsCommand::SetCreditLimit { customer_id: customer.id, limit, approval_id };
    must(handle, &customer.seller_sales, CommandBody::Terms(raise)).await;
    let grant = ApprovalCommand::DecideApproval { approval_id, grant: true, comment: None };
    must(handle, &finance, CommandBody::Approval(grant)).await;
    let order_id = world.id();
    let items = vec![OrderItemRequest { product_id: product, quantity: Quantity::whole(1), periods: 1 }];
    let place = OrderCommand::PlaceOrder { order_id, customer_id: customer.id, items, invite_code: None };
    must(handle, &customer.actor, CommandBody::Orders(place)).await;
    must(handle, &customer.actor, CommandBody::Orders(OrderCommand::PayOrder { order_id })).await;
    let recharge = MoneyCommand::ConfirmOnlineRecharge {
        recharge_id: world.id(),
        customer_id: customer.id,
        amount: Amount::parse("500.00").unwrap(),
        channel: "alipay".into(),
        trade_number: TradeNumber::try_from("CREDIT-1".to_owned()).expect("a trade number"),
    };
    must(handle, &finance, CommandBody::Money(recharge)).await;
    let cycle = Some(SettlementCycle { every: CycleEvery::Month, day: 1 });
    let cycle = TermsCommand::SetSettlementCycle { book: platform, counterparty_id: supplier, cycle };
    must(handle, &platform_finance, CommandBody::Terms(cycle)).await;
}

/// Runs `operations` random operations (most valid, some refused by the decider, which is fine)
/// over days from [`first_day`] on; answers how many committed.
pub async fn random_workload(handle: &WriterHandle, world: &mut World, seed: u64, operations: usize) -> usize {
    let mut random = Random::new(seed);
    let mut committed = 0;
    for index in 0..operations {
        let day = first_day().checked_add_days(Days::new((index / 6) as u64)).expect("a date");
        let state = handle.state().await.expect("the writer answers");
        let customer = random.pick(&world.customers);
        let steps = operation(&mut random, world, &state, &customer);
        for (actor, body) in steps {
            if submit(handle, &actor, day, body).await.is_ok() {
                committed += 1;
            }
        }
    }
    committed
}

fn orders_of(state: &State, customer: OrgId, statuses: &[OrderStatus]) -> Vec<OrderId> {
    let mut orders: Vec<OrderId> = state
        .orders
        .values()
        .filter(|order| order.customer_id == customer && statuses.contains(&order.status))
        .map(|order| order.order_id)
        .collect();
    orders.sort();
    orders
}

/// One operation: the commands to submit in order (an approval and its decision go together).
fn operation(random: &mut Random, world: &mut World, state: &State, customer: &Customer) -> Vec<(Actor, CommandBody)> {
    let wallet = state.wallet(customer.id);
    match random.below(12) {
        0 | 1 => {
            let trade = format!("T{}", world.next_id);
            let body = CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
                recharge_id: world.id(),
                customer_id: customer.id,
                amount: random.cents(10_000, 300_000),
                channel: "alipay".into(),
                trade_number: TradeNumber::try_from(trade).expect("a trade number"),
            });
            vec![(customer.seller_finance.clone(), body)]
        }
        2 => {
            let approval_id = world.id();
            // R2's policy: a transfer waits for finance, then admin (two levels).
            let two_levels = customer.seller == world.example.r2 && random.chance(50);
            let request = CommandBody::Money(MoneyCommand::RequestRecharge {
                recharge_id: world.id(),
                approval_id,
                customer_id: customer.id,
                amount: random.cents(5_000, 200_000),
                method: if two_levels { RechargeMethod::Transfer } else { RechargeMethod::Offline },
                reference: "bank slip".into(),
            });
            let mut steps = vec![(customer.seller_sales.clone(), request)];
            let deciders = if two_levels {
                vec![customer.seller_finance.clone(), customer.seller_admin.clone()]
            } else {
                vec![customer.seller_finance.clone()]
            };
            for decider in deciders {
                if !random.chance(80) {
                    break;
                }
                let decide = CommandBody::Approval(ApprovalCommand::DecideApproval {
                    approval_id,
                    grant: random.chance(70),
                    comment: None,
                });
                steps.push((decider, decide));
            }
            steps
        }
        3 | 4 => {
            let mut items = vec![OrderItemRequest {
                product_id: random.pick(&[world.example.product, world.second_product]),
                quantity: Quantity::whole(1 + random.below(3) as u32),
                periods: 1 + random.below(2) as u32,
            }];
            if random.chance(40) {
                items.push(OrderItemRequest {
                    product_id: world.second_product,
                    quantity: Quantity::whole(2),
                    periods: 1,
                });
            }
            let invite_code =
                (customer.seller == world.example.r2 && random.chance(40)).then(|| world.invite_code.clone());
            let body = CommandBody::Orders(OrderCommand::PlaceOrder {
                order_id: world.id(),
                customer_id: customer.id,
                items,
                invite_code,
            });
            vec![(customer.actor.clone(), body)]
        }
        5 | 6 => match orders_of(state, customer.id, &[OrderStatus::PendingPayment]).first() {
            Some(order_id) => {
                vec![(customer.actor.clone(), CommandBody::Orders(OrderCommand::PayOrder { order_id: *order_id }))]
            }
            None => vec![],
        },
        7 => {
            let paid = orders_of(
                state,
                customer.id,
                &[OrderStatus::Paid, OrderStatus::Fulfilled, OrderStatus::PartiallyRefunded],
            );
            let Some(order_id) = paid.first().copied() else { return vec![] };
            let order = &state.orders[&order_id];
            let left = order.paid.minus(order.refunded);
            let amount = if random.chance(50) { left } else { random.cents(1, left.to_minor().max(1)) };
            let penalty = if random.chance(30) { amount.min(random.cents(0, 500)) } else { Amount::ZERO };
            let body = CommandBody::Orders(OrderCommand::RefundOrder {
                order_id,
                amount,
                penalty,
                reason: "unsubscribe".into(),
                approval_id: world.id(),
            });
            vec![(customer.seller_admin.clone(), body)]
        }
        8 => {
            let pending = orders_of(state, customer.id, &[OrderStatus::PendingPayment]);
            let paid = orders_of(state, customer.id, &[OrderStatus::Paid]);
            match (pending.first(), paid.first()) {
                (Some(order_id), _) if random.chance(50) => {
                    vec![(
                        customer.actor.clone(),
                        CommandBody::Orders(OrderCommand::CancelOrder { order_id: *order_id }),
                    )]
                }
                (_, Some(order_id)) => {
                    let body = CommandBody::Orders(OrderCommand::FulfilOrder {
                        order_id: *order_id,
                        note: None,
                        subscription_end: None,
                    });
                    vec![(customer.seller_admin.clone(), body)]
                }
                _ => vec![],
            }
        }
        9 => {
            if wallet.available().is_zero() {
                return vec![];
            }
            let approval_id = world.id();
            let route = if random.chance(50) { WithdrawalRoute::Original } else { WithdrawalRoute::Offline };
            let amount = random.cents(1, wallet.available().to_minor().min(50_000));
            let body = CommandBody::Money(MoneyCommand::Withdraw {
                withdrawal_id: world.id(),
                approval_id,
                customer_id: customer.id,
                amount,
                route,
                channel: None,
                offline_withdrawal_id: world.id(),
            });
            let mut steps = vec![(customer.actor.clone(), body)];
            if route == WithdrawalRoute::Offline && random.chance(70) {
                let decide = CommandBody::Approval(ApprovalCommand::DecideApproval {
                    approval_id,
                    grant: random.chance(60),
                    comment: Some("checked".into()),
                });
                steps.push((customer.seller_finance.clone(), decide));
            }
            steps
        }
        10 => {
            if random.chance(50) {
                let body = CommandBody::Money(MoneyCommand::GrantCoupon {
                    customer_id: customer.id,
                    amount: random.cents(100, 2_000),
                    reason: "promo".into(),
                    approval_id: world.id(),
                    expires_on: None,
                });
                return vec![(customer.seller_sales.clone(), body)];
            }
            let body = CommandBody::Orders(OrderCommand::ChargeUsage {
                usage_id: world.id(),
                customer_id: customer.id,
                product_id: world.second_product,
                quantity: Quantity::parse("0.37").expect("a quantity"),
                period_from: first_day(),
                period_to: first_day(),
            });
            vec![(customer.seller_admin.clone(), body)]
        }
        _ => {
            let invoiceable = state.invoiceable.get(&customer.id).copied().unwrap_or_default();
            if invoiceable.is_zero() {
                return vec![];
            }
            let approval_id = world.id();
            let amount = random.cents(1, invoiceable.to_minor());
            let request = CommandBody::Settlement(SettlementCommand::RequestInvoice {
                invoice_id: world.id(),
                approval_id,
                customer_id: customer.id,
                amount,
                details: None,
            });
            let decide = CommandBody::Approval(ApprovalCommand::DecideApproval {
                approval_id,
                grant: random.chance(80),
                comment: None,
            });
            vec![(customer.actor.clone(), request), (customer.seller_finance.clone(), decide)]
        }
    }
}

/// The flows a random pick rarely completes, run once after the workload so every read model is
/// exercised: serial codes issued and activated, a recharge reversed, two settlement
/// statements of January, one paid and one whose payment was rejected, and a coupon that expires
/// the next day, when finance books it out. Each step must commit.
pub async fn month_end(handle: &WriterHandle, world: &mut World, state: &State) -> MonthEnd {
    let day = NaiveDate::from_ymd_opt(2026, 2, 20).expect("a date");
    let e = &world.example;
    let (platform, platform_finance, r1, r2) = (e.platform_admin.clone(), e.platform_finance.clone(), e.r1, e.r2);
    let (r1_finance, r1_admin, supplier, platform_id) =
        (e.r1_finance.clone(), e.r1_admin.clone(), e.supplier, e.platform);
    let customer = world.customers[0].clone();
    let steps = [
        (
            platform.clone(),
            CommandBody::Serial(SerialCommand::SetSerialPackagePrice {
                days: 30,
                list_price: Amount::parse("100.00").unwrap(),
            }),
        ),
        (
            platform.clone(),
            CommandBody::Serial(SerialCommand::SetDistributorTier {
                distributor_id: r1,
                tier: ledger_core::org::DistributorTier::Gold,
            }),
        ),
        (
            platform_finance.clone(),
            CommandBody::Serial(SerialCommand::SetSerialTierRate {
                tier: ledger_core::org::DistributorTier::Gold,
                rate: rate("0.8"),
            }),
        ),
    ];
    for (actor, body) in steps {
        must_on(handle, &actor, day, body).await;
    }
    let codes: Vec<SerialCode> =
        (0..3).map(|n| SerialCode::try_from(format!("GOLD30-{n}")).expect("a serial code")).collect();
    let issue = CommandBody::Serial(SerialCommand::IssueSerialCodes {
        batch_id: world.id(),
        distributor_id: r1,
        days: 30,
        codes: codes.clone(),
        expires_on: None,
    });
    must_on(handle, &platform, day, issue).await;
    for code in &codes[..2] {
        must_on(
            handle,
            &customer.actor,
            day,
            CommandBody::Serial(SerialCommand::ActivateSerialCode { code: code.clone(), customer_id: customer.id }),
        )
        .await;
    }
    reverse_a_recharge(handle, world, state, day).await;
    let january = (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
    let paid = world.id();
    let statement = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id: paid,
        book: r1,
        counterparty_id: r2,
        from: january.0,
        to: january.1,
    });
    must_on(handle, &r1_finance, day, statement).await;
    let approval_id = world.id();
    must_on(
        handle,
        &r1_finance,
        day,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: paid, approval_id }),
    )
    .await;
    must_on(
        handle,
        &r1_admin,
        day,
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant: true, comment: None }),
    )
    .await;
    let unpaid = world.id();
    let statement = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id: unpaid,
        book: platform_id,
        counterparty_id: supplier,
        from: january.0,
        to: january.1,
    });
    must_on(handle, &platform_finance, day, statement).await;
    let approval_id = world.id();
    must_on(
        handle,
        &platform_finance,
        day,
        CommandBody::Settlement(SettlementCommand::PaySettlement { settlement_id: unpaid, approval_id }),
    )
    .await;
    must_on(
        handle,
        &platform,
        day,
        CommandBody::Approval(ApprovalCommand::DecideApproval {
            approval_id,
            grant: false,
            comment: Some("wrong bank".into()),
        }),
    )
    .await;
    // The random workload's coupons never expire (an expiry drawn there would book out the
    // vouchers its refunds are meant to give back, and `workload_covers_every_flow` wants
    // both): this one does, and finance books it out the day it expires.
    let next_day = day + Days::new(1);
    let coupon = CommandBody::Money(MoneyCommand::GrantCoupon {
        customer_id: customer.id,
        amount: Amount::parse("12.34").unwrap(),
        reason: "february".into(),
        approval_id: world.id(),
        expires_on: Some(next_day),
    });
    must_on(handle, &customer.seller_sales, day, coupon).await;
    let expire = CommandBody::Money(MoneyCommand::ExpireVouchers { customer_id: customer.id });
    must_on(handle, &customer.seller_finance, next_day, expire).await;
    MonthEnd { paid, unpaid, codes }
}

pub struct MonthEnd {
    pub paid: SettlementId,
    pub unpaid: SettlementId,
    pub codes: Vec<SerialCode>,
}

/// Reverses the first confirmed recharge whose customer can still afford it.
async fn reverse_a_recharge(handle: &WriterHandle, world: &mut World, state: &State, day: NaiveDate) {
    let mut recharges: Vec<_> = state
        .recharges
        .values()
        .filter(|recharge| recharge.status == ledger_core::state::RechargeStatus::Confirmed)
        .collect();
    recharges.sort_by_key(|recharge| recharge.recharge_id);
    for recharge in recharges {
        if state.wallet(recharge.customer_id).available() < recharge.amount {
            continue;
        }
        let customer = world
            .customers
            .iter()
            .find(|customer| customer.id == recharge.customer_id)
            .expect("a workload customer")
            .clone();
        let approval_id = world.id();
        let request = CommandBody::Money(MoneyCommand::RequestRechargeReversal {
            approval_id,
            recharge_id: recharge.recharge_id,
            reason: "bounced".into(),
        });
        must_on(handle, &customer.seller_finance, day, request).await;
        must_on(
            handle,
            &customer.seller_admin,
            day,
            CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant: true, comment: None }),
        )
        .await;
        return;
    }
    panic!("no recharge could be reversed");
}

async fn must_on(handle: &WriterHandle, actor: &Actor, day: NaiveDate, body: CommandBody) {
    let described = format!("{body:?}");
    submit(handle, actor, day, body).await.unwrap_or_else(|error| panic!("{described}: {error}"));
}

/// Runs each named check, `async fn check(backend: impl Backend)`, once on SQLite in a temporary
/// directory and once on a fresh PostgreSQL schema: `mod sqlite { … }` and `mod postgres { … }`
/// in the calling test file, which must have `Sqlite` and `Postgres` in scope. (Not every test
/// binary that shares this module runs checks on both backends.)
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { super::$check(super::Sqlite::new()).await; })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { super::$check(super::Postgres::new()).await; })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;
