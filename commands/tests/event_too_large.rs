//! A command whose event would be a record past the log's limit (`EVENT_BYTES_MAX`) is refused
//! alone when it is decided, as a domain error (`event_too_large`, 422 at the gateway): the other
//! commands of its batch commit, no append fails, the writer neither reloads nor stops being
//! ready, and the same command sent again is refused again, never told to retry.

use commands::testing::{command, purchase, setup_world};
use commands::{CommandError, Request, Writer, WriterConfig, WriterHealth};
use event_log::{LogRead, SqliteReader, SqliteStore};
use ledger_core::event::{Event, EventPayload, EVENT_BYTES_MAX};
use ledger_core::money::Amount;
use ledger_core::{Command, CommandBody, DomainError, MoneyCommand, State};

/// The reason of the coupon whose event this test's decision makes too large.
const OVERSIZED: &str = "oversized";

/// The ledger's decisions, except that the coupon granted for [`OVERSIZED`] reasons carries a
/// reason of a mebibyte: an event no real command produces today (reasons are at most 500
/// characters), standing for any that would pass the limit.
fn oversizing_decide(state: &State, command: &Command) -> Result<Vec<Event>, DomainError> {
    let mut events = ledger_core::decide(state, command)?;
    if let CommandBody::Money(MoneyCommand::GrantCoupon { reason, .. }) = &command.body {
        if reason == OVERSIZED {
            for event in &mut events {
                if let EventPayload::VoucherGranted(coupon) = &mut event.payload {
                    coupon.reason = "x".repeat(EVENT_BYTES_MAX);
                }
            }
        }
    }
    Ok(events)
}

fn coupon(world: &ledger_core::testing::WorkedExample, reason: &str) -> Request {
    let body = CommandBody::Money(MoneyCommand::GrantCoupon {
        approval_id: ledger_core::testing::id(9_900_018),
        customer_id: world.customer,
        amount: Amount::parse("5.00").unwrap(),
        reason: reason.to_owned(),
        expires_on: None,
    });
    Request::with_key(command(&world.r2_sales, body), &format!("coupon-{reason}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_past_the_limit_is_refused_alone_when_decided_and_the_batch_commits() {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_writer(directory.path()).unwrap();
    let writer = Writer::start_deciding_with(store, WriterConfig::default(), oversizing_decide).unwrap();
    let handle = writer.handle();
    let world = setup_world(&handle).await.unwrap();
    let before = *handle.committed().borrow();

    // Many purchases around the oversized coupon, concurrently, so it lands inside a batch: an
    // append failure would answer every command of that batch 503 ("unavailable").
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
            let sales = handle.clone();
            let oversized = coupon(&world, OVERSIZED);
            tasks.push(tokio::spawn(async move { sales.submit(oversized).await }));
        }
    }
    let mut refused = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(CommandError::Rejected(error)) => refused.push(error),
            Err(other) => panic!("only the oversized command fails, and as a refusal: {other:?}"),
        }
    }
    assert_eq!(refused.len(), 1, "{refused:?}");
    let DomainError::EventTooLarge { event_type, bytes, limit } = &refused[0] else { panic!("{:?}", refused[0]) };
    assert_eq!((*event_type, *limit, refused[0].code()), ("VoucherGranted", EVENT_BYTES_MAX, "event_too_large"));
    assert!(*bytes > EVENT_BYTES_MAX, "{bytes}");
    assert_eq!(handle.health(), WriterHealth::Ready);

    // Sent again, it is decided again and refused again: a fact of the command, not an outage.
    let again = handle.submit(coupon(&world, OVERSIZED)).await;
    assert!(matches!(again, Err(CommandError::Rejected(DomainError::EventTooLarge { .. }))), "{again:?}");
    // A coupon of an ordinary size is granted as usual.
    handle.submit(coupon(&world, "welcome")).await.unwrap();

    // Every purchase and the ordinary coupon (the book's first: its voucher account is opened
    // in the same command) are booked once, nothing of the oversized one is, and the writer's
    // state is the state the log replays to.
    let state = handle.state().await.unwrap();
    assert_eq!(state.last_position, before + 40 * 3 + 2);
    let mut reader = SqliteReader::open(directory.path()).unwrap();
    let log = reader.read_after(0, 100_000).unwrap();
    assert_eq!(log.len() as u64, state.last_position);
    let coupons: Vec<&str> = log
        .iter()
        .filter_map(|event| match &event.event.payload {
            EventPayload::VoucherGranted(coupon) => Some(coupon.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(coupons, ["welcome"]);
    assert_eq!(ledger_core::log::replay(&log).unwrap(), state);
    writer.shutdown();
}
