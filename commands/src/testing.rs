//! Workloads for tests, the crash-test child and the benchmarks: the world of DESIGN §2.5 built
//! through the real writer, and purchases in it (recharge, order, payment).

use chrono::{DateTime, NaiveDate, Utc};
use ledger_core::command::OrderItemRequest;
use ledger_core::ids::{OrderId, RechargeId, TradeNumber};
use ledger_core::money::{Amount, Quantity};
use ledger_core::org::Actor;
use ledger_core::testing::WorkedExample;
use ledger_core::{Command, CommandBody};
use uuid::Uuid;

use crate::writer::{CommandError, Committed, Request, WriterHandle};
use ledger_core::{MoneyCommand, OrderCommand};

pub fn accounting_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 15).expect("a valid date")
}

pub fn command(actor: &Actor, body: CommandBody) -> Command {
    Command { actor: actor.clone(), effective_date: accounting_date(), at: DateTime::<Utc>::UNIX_EPOCH, body }
}

/// Builds the §2.5 world through the writer, each command under key `setup-<n>`, so running it
/// again (after a crash, say) books nothing twice.
pub async fn setup_world(handle: &WriterHandle) -> Result<WorkedExample, CommandError> {
    let world = WorkedExample::without_ledger();
    for (index, (actor, body)) in world.setup_commands().into_iter().enumerate() {
        handle.submit(Request::with_key(command(&actor, body), &format!("setup-{index}"))).await?;
    }
    Ok(world)
}

/// Ids for purchase `n`, disjoint from the fixture's.
pub fn order_id(n: u64) -> OrderId {
    OrderId(Uuid::from_u128(0x0A00_0000_0000 + n as u128))
}

/// The three commands of purchase `n`, each with its own key: an online recharge of 950.00, an
/// order of the §2.5 product, and its payment from balance.
pub fn purchase(world: &WorkedExample, n: u64) -> [Request; 3] {
    let customer = &world.customer_actor;
    let recharge = CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
        recharge_id: RechargeId(Uuid::from_u128(0x0B00_0000_0000 + n as u128)),
        customer_id: world.customer,
        amount: Amount::parse("950.00").expect("an amount"),
        channel: "alipay".into(),
        trade_number: TradeNumber::try_from(format!("T{n}")).expect("a trade number"),
    });
    let items = vec![OrderItemRequest { product_id: world.product, quantity: Quantity::whole(1), periods: 1 }];
    let place = CommandBody::Orders(OrderCommand::PlaceOrder {
        order_id: order_id(n),
        customer_id: world.customer,
        items,
        invite_code: None,
    });
    let pay = CommandBody::Orders(OrderCommand::PayOrder { order_id: order_id(n) });
    let finance = &world.r2_finance;
    [
        Request::with_key(command(finance, recharge), &format!("recharge-{n}")),
        Request::with_key(command(customer, place), &format!("order-{n}")),
        Request::with_key(command(customer, pay), &format!("pay-{n}")),
    ]
}

/// Runs purchase `n` in order, stopping at the first error.
pub async fn run_purchase(
    handle: &WriterHandle,
    world: &WorkedExample,
    n: u64,
) -> Result<Vec<(String, Committed)>, CommandError> {
    let mut answers = Vec::with_capacity(3);
    for request in purchase(world, n) {
        let key = request.idempotency_key.as_ref().expect("keyed").as_str().to_owned();
        answers.push((key, handle.submit(request).await?));
    }
    Ok(answers)
}
