//! An append that fails mid-batch leaves the log and the state as they were before the batch.

use commands::testing::{command, purchase, setup_world};
use commands::{CommandError, Request, Writer, WriterConfig};
use event_log::SqliteStore;
use event_log::{LogRead, SqliteReader};
use ledger_core::event::RechargeMethod;
use ledger_core::ids::{ApprovalId, RechargeId};
use ledger_core::money::Amount;
use ledger_core::CommandBody;
use ledger_core::{ApprovalCommand, MoneyCommand};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_inside_the_transaction_changes_neither_log_nor_state() {
    let directory = tempfile::tempdir().unwrap();
    let approval_id = ApprovalId(Uuid::from_u128(77));
    let world = {
        let writer =
            Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), WriterConfig::default()).unwrap();
        let handle = writer.handle();
        let world = setup_world(&handle).await.unwrap();
        let request = CommandBody::Money(MoneyCommand::RequestRecharge {
            recharge_id: RechargeId(Uuid::from_u128(76)),
            approval_id,
            customer_id: world.customer,
            amount: Amount::parse("1000.00").unwrap(),
            method: RechargeMethod::Offline,
            reference: "slip".into(),
        });
        handle.submit(Request::new(command(&world.r2_sales, request))).await.unwrap();
        writer.shutdown();
        world
    };

    // The grant appends two events (the grant and the recharge); the store fails after the first.
    let mut store = SqliteStore::open_writer(directory.path()).unwrap();
    let log_before = store.read_after(0, 10_000).unwrap();
    store.inject_append_failure_after(1);
    let writer = Writer::start(store, WriterConfig::default()).unwrap();
    let handle = writer.handle();
    let state_before = handle.state().await.unwrap();
    let grant = CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id, grant: true, comment: None });
    let failed = handle.submit(Request::new(command(&world.r2_finance, grant.clone()))).await;
    assert!(matches!(failed, Err(CommandError::Unavailable(_))), "{failed:?}");

    assert_eq!(handle.state().await.unwrap(), state_before, "the state is as before the batch");
    let mut reader = SqliteReader::open(directory.path()).unwrap();
    assert_eq!(reader.read_after(0, 10_000).unwrap(), log_before, "the log is as before the batch");
    assert_eq!(*handle.committed().borrow(), log_before.len() as u64);

    // Nothing was half-applied, so the same command now goes through whole.
    let granted = handle.submit(Request::new(command(&world.r2_finance, grant))).await.unwrap();
    assert_eq!(granted.events.len(), 2);
    let state = handle.state().await.unwrap();
    assert_eq!(state.wallet(world.customer).balance.to_string(), "1000.00");
    assert_eq!(state.wallet(world.customer).pending_recharges, Amount::ZERO);
    writer.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_of_concurrent_commands_books_none_of_them() {
    let directory = tempfile::tempdir().unwrap();
    let world = {
        let writer =
            Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), WriterConfig::default()).unwrap();
        let world = setup_world(&writer.handle()).await.unwrap();
        writer.shutdown();
        world
    };
    let mut store = SqliteStore::open_writer(directory.path()).unwrap();
    let setup_events = store.last_position().unwrap();
    store.inject_append_failure_after(3);
    let writer = Writer::start(store, WriterConfig::default()).unwrap();
    let handle = writer.handle();
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let (handle, [recharge, _, _]) = (handle.clone(), purchase(&world, n));
            tokio::spawn(async move { (recharge.idempotency_key.clone().unwrap(), handle.submit(recharge).await) })
        })
        .collect();
    let (mut failed_keys, mut committed_positions) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            (key, Err(CommandError::Unavailable(_))) => failed_keys.push(key.as_str().to_owned()),
            (_, Ok(committed)) => committed_positions.push(committed.position),
            (key, other) => panic!("{key:?}: {other:?}"),
        }
    }
    assert!(!failed_keys.is_empty(), "the first batch failed");
    let live = handle.state().await.unwrap();
    writer.shutdown();
    let mut reader = SqliteReader::open(directory.path()).unwrap();
    let log = reader.read_after(0, 10_000).unwrap();
    assert_eq!(
        log.len() as u64,
        setup_events + committed_positions.len() as u64,
        "only answered commands are in the log"
    );
    for key in &failed_keys {
        assert!(log.iter().all(|event| event.idempotency_key.as_deref() != Some(key.as_str())), "{key} was not booked");
    }
    committed_positions.sort_unstable();
    let expected: Vec<u64> = (setup_events + 1..=log.len() as u64).collect();
    assert_eq!(committed_positions, expected, "answered positions are the log's, without gaps");
    assert_eq!(event_log::verify_store(&mut reader, |_| {}).unwrap().state, live, "the live state is the log's");
}
