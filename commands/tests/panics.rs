//! One command whose decision or `evolve` panics is answered alone as an internal error; the
//! writer goes on deciding every other command, and its state stays the log's.

use commands::testing::{command, purchase, setup_world};
use commands::{CommandError, Request, Writer, WriterConfig, WriterHealth};
use event_log::SqliteStore;
use event_log::{LogRead, SqliteReader};
use ledger_core::event::{CancelReason, Event, EventPayload, OrderCancelled};
use ledger_core::ids::OrderId;
use ledger_core::OrderCommand;
use ledger_core::{Command, CommandBody, DomainError, State};
use uuid::Uuid;

/// Cancelling order 0xDEC1DE panics in the decision; cancelling order 0xE7017E decides an event
/// about an order that does not exist, which `evolve` trips on. Everything else is decided by
/// the ledger.
fn faulty_decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    match &command.body {
        CommandBody::Orders(OrderCommand::CancelOrder { order_id }) if *order_id == panics_in_decide() => {
            panic!("a bug in a decider")
        }
        CommandBody::Orders(OrderCommand::CancelOrder { order_id }) if *order_id == panics_in_evolve() => {
            Ok(vec![Event::new(EventPayload::OrderCancelled(OrderCancelled {
                order_id: *order_id,
                reason: CancelReason::ByCustomer,
            }))])
        }
        _ => ledger_core::decide(state, command),
    }
}

fn panics_in_decide() -> OrderId {
    OrderId(Uuid::from_u128(0xDEC1DE))
}

fn panics_in_evolve() -> OrderId {
    OrderId(Uuid::from_u128(0xE7017E))
}

fn cancel(world: &ledger_core::testing::WorkedExample, order_id: OrderId) -> Request {
    let body = CommandBody::Orders(OrderCommand::CancelOrder { order_id });
    Request::new(command(&world.customer_actor, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_decision_is_answered_alone_and_the_writer_goes_on() {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_writer(directory.path()).unwrap();
    let writer = Writer::start_deciding_with(store, WriterConfig::default(), faulty_decide).unwrap();
    let handle = writer.handle();
    let world = setup_world(&handle).await.unwrap();
    let before = *handle.committed().borrow();

    let answer = handle.submit(cancel(&world, panics_in_decide())).await;
    assert!(
        matches!(&answer, Err(CommandError::Internal(reason)) if reason == "decide panicked: a bug in a decider"),
        "{answer:?}"
    );
    assert_eq!(*handle.committed().borrow(), before, "nothing was appended for it");
    assert_eq!(handle.health(), WriterHealth::Ready);

    // Every tenant's next command is decided as usual.
    for request in purchase(&world, 1) {
        handle.submit(request).await.unwrap();
    }
    let state = handle.state().await.unwrap();
    assert_eq!(state.wallet(world.customer).balance.to_string(), "0.00");
    assert_eq!(state.last_position, before + 3);
    writer.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_evolve_reloads_the_state_and_the_rest_of_its_batch_is_decided_on_it() {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_writer(directory.path()).unwrap();
    let writer = Writer::start_deciding_with(store, WriterConfig::default(), faulty_decide).unwrap();
    let handle = writer.handle();
    let world = setup_world(&handle).await.unwrap();
    let before = *handle.committed().borrow();

    // Many purchases around the bad command, concurrently, so it lands inside a batch.
    let mut tasks = Vec::new();
    for n in 0..40u64 {
        let customer = handle.clone();
        let [recharge, place, pay] = purchase(&world, n);
        tasks.push(tokio::spawn(async move {
            customer.submit(recharge).await?;
            customer.submit(place).await?;
            customer.submit(pay).await
        }));
        if n == 20 {
            let bad_actor = handle.clone();
            let bad = cancel(&world, panics_in_evolve());
            tasks.push(tokio::spawn(async move { bad_actor.submit(bad).await }));
        }
    }
    let mut internal = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(CommandError::Internal(reason)) => {
                assert!(reason.starts_with("evolve panicked: "), "{reason}");
                internal += 1;
            }
            Err(other) => panic!("only the bad command fails: {other:?}"),
        }
    }
    assert_eq!(internal, 1, "the bad command, and only it, is an internal error");
    assert_eq!(handle.health(), WriterHealth::Ready, "the writer reloaded and decides again");

    // Every purchase is booked once, nothing of the bad command is, and the writer's state is
    // exactly the state the log replays to.
    let state = handle.state().await.unwrap();
    assert_eq!(state.last_position, before + 40 * 3);
    assert_eq!(state.orders.len(), 40);
    let mut reader = SqliteReader::open(directory.path()).unwrap();
    let log = reader.read_after(0, 100_000).unwrap();
    assert_eq!(log.len() as u64, state.last_position);
    assert!(log.iter().all(|event| !matches!(event.event.payload, EventPayload::OrderCancelled(_))));
    assert_eq!(ledger_core::log::replay(&log).unwrap(), state);
    writer.shutdown();
}
