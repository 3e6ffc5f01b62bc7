//! decide + evolve of the DESIGN §2.5 purchase, in memory: what the writer spends per command
//! before any IO. `cargo bench -p benches --bench decide_evolve`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ledger_core::command::OrderItemRequest;
use ledger_core::ids::{OrderId, RechargeId, TradeNumber};
use ledger_core::money::{Amount, Quantity};
use ledger_core::testing::{id, WorkedExample};
use ledger_core::CommandBody;
use ledger_core::{MoneyCommand, OrderCommand};

fn rich_world() -> WorkedExample {
    let mut world = WorkedExample::new();
    let finance = world.r2_finance.clone();
    world.ledger.given(
        &finance,
        CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
            recharge_id: id::<RechargeId>(77),
            customer_id: world.customer,
            amount: Amount::parse("900000000000.00").unwrap(),
            channel: "alipay".into(),
            trade_number: TradeNumber::try_from("BENCH".to_owned()).unwrap(),
        }),
    );
    world
}

fn place(world: &WorkedExample, order_id: OrderId) -> CommandBody {
    let items = vec![OrderItemRequest { product_id: world.product, quantity: Quantity::whole(1), periods: 1 }];
    CommandBody::Orders(OrderCommand::PlaceOrder { order_id, customer_id: world.customer, items, invite_code: None })
}

fn purchase(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("purchase");
    group.throughput(Throughput::Elements(2));
    // Place and pay one order: decide, seal (canonical JSON + SHA-256 chain) and evolve, twice.
    let mut world = rich_world();
    let mut next: u128 = 1 << 64;
    let customer = world.customer_actor.clone();
    group.bench_function("place_and_pay_decide_seal_evolve", |bencher| {
        bencher.iter(|| {
            next += 1;
            let order_id = id::<OrderId>(next);
            world.ledger.execute(&customer, place(&world, order_id)).unwrap();
            world.ledger.execute(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })).unwrap();
        })
    });
    // The pure decision alone: deciding is side-effect free, so the same state serves every run.
    let mut world = rich_world();
    let order_id = id::<OrderId>(5);
    world.ledger.given(&customer, place(&world, order_id));
    group.throughput(Throughput::Elements(1));
    group.bench_function("pay_decide_only", |bencher| {
        bencher.iter_batched(
            || world.ledger.command(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id })),
            |command| ledger_core::decide(&world.ledger.state, &command).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, purchase);
criterion_main!(benches);
