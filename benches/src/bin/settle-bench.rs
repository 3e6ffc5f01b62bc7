//! A month of a large supplier settled in one statement (issue 15): builds a log of `sales`
//! §2.5 purchases with the real writer on durable SQLite (each sale books one 2202[supplier]
//! line in the platform's book), then issues the platform's statement with the supplier for the
//! month, which covers every one of those lines, and measures:
//! - decide: `ledger_core::decide` of the statement on the writer's state (select the open
//!   items, sort, total, hash the lines);
//! - stage: the size check and `evolve` of the event (the items leave the open items);
//! - writer: the command through the writer, decided, sealed and appended durably, submit to
//!   answer;
//! - replay: `verify_next` (which finds the lines again and checks the count, totals and hash)
//!   and `evolve` of the statement as stored, on the state before it: what start-up and
//!   `kboss verify` pay for it;
//! - the record's size in bytes, and the line count, totals and hash.
//!
//! With `read-models` it also folds the log into fresh SQLite read models (untimed: ~7k events/s,
//! so about half a minute for 100,000 sales), then times the statement's own application (the
//! settlements projection copies its lines from the journal) and reading all its lines back a
//! page of 1,000 at a time, and checks they give the event's count, totals and hash.
//!
//! cargo run --release -p benches --bin settle-bench -- [sales] [read-models]

use std::sync::Arc;
use std::time::Instant;

use benches::{fund_customer, place_and_pay};
use commands::testing::{command, setup_world};
use commands::{Request, Writer, WriterConfig};
use event_log::{LogRead, SqliteReader, SqliteStore};
use ledger_core::event::{EnvelopeMeta, EventPayload, SettlementStatementIssued};
use ledger_core::ids::SettlementId;
use ledger_core::log::{evolve_untrusted, verify_next, ChainHead};
use ledger_core::statement::{Figures, Selection};
use ledger_core::testing::date;
use ledger_core::{Command, CommandBody, SettlementCommand, State};

/// Submitters building the log: enough to fill the writer's batches.
const BUILD_SUBMITTERS: u64 = 1_024;

fn main() {
    let sales: u64 = std::env::args().nth(1).map(|argument| argument.parse().expect("a number")).unwrap_or(100_000);
    let read_models = match std::env::args().nth(2).as_deref() {
        None => false,
        Some("read-models") => true,
        Some(other) => panic!("the second argument is `read-models` or nothing, not {other:?}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run(sales, read_models));
}

fn milliseconds(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1_000.0
}

async fn run(sales: u64, read_models: bool) {
    let directory = tempfile::tempdir().unwrap();
    // No snapshot while building: the state is the log's, and nothing but the sales is timed.
    let config = WriterConfig { snapshot_every_events: u64::MAX, ..WriterConfig::default() };
    let writer = Writer::start(SqliteStore::open_writer(directory.path()).unwrap(), config).unwrap();
    let handle = writer.handle();
    let world = Arc::new(setup_world(&handle).await.unwrap());
    fund_customer(&handle, &world).await;
    let built = Instant::now();
    place_and_pay(&handle, &world, sales, BUILD_SUBMITTERS).await;
    let before: State = handle.state().await.expect("the writer's state");
    println!(
        "settle-bench: {sales} sales ({} events) built in {:.1} s",
        before.last_position,
        built.elapsed().as_secs_f64()
    );

    // January's sales, settled in February: the platform's statement with the supplier.
    let settlement_id = SettlementId(uuid::Uuid::now_v7());
    let body = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
        settlement_id,
        book: world.platform,
        counterparty_id: world.supplier,
        from: date("2026-01-01"),
        to: date("2026-01-31"),
    });
    // The sales are dated 2026-01-15 (`commands::testing::accounting_date`).
    let command = Command { effective_date: date("2026-02-02"), ..command(&world.platform_finance, body) };

    let started = Instant::now();
    let decided = ledger_core::decide(&before, &command).expect("the statement is decided");
    let decide_ms = milliseconds(started);
    let mut staged_state = before.clone();
    let started = Instant::now();
    let meta = |position| EnvelopeMeta {
        position,
        event_id: uuid::Uuid::now_v7(),
        recorded_at: command.at,
        effective_date: command.effective_date,
        actor: command.actor.clone(),
        idempotency_key: None,
        correlation_id: None,
    };
    ledger_core::log::stage(&mut staged_state, decided, meta).expect("the statement is within the limits");
    let stage_ms = milliseconds(started);
    drop(staged_state);

    let started = Instant::now();
    let committed = handle.submit(Request::new(command)).await.expect("the statement commits");
    let writer_ms = milliseconds(started);
    writer.shutdown();

    let mut reader = SqliteReader::open(directory.path()).unwrap();
    let stored = reader.read_records(before.last_position, 1).unwrap().pop().expect("the statement is stored");
    assert_eq!(stored.event.position, committed.position);
    let EventPayload::SettlementStatementIssued(statement) = &stored.event.event.payload else {
        panic!("not a statement: {}", stored.event.event_type())
    };
    let previous = reader.read_one(before.last_position).unwrap().expect("the event before it");
    let mut replayed = before;
    let started = Instant::now();
    verify_next(&replayed, &ChainHead::after(&previous), &stored.event).expect("the statement verifies");
    evolve_untrusted(&mut replayed, &stored.event).expect("the statement folds");
    let replay_ms = milliseconds(started);

    println!(
        "settle-bench: one statement of {} lines (receivable {}, payable {}, hash {}): record {} bytes; \
         decide {decide_ms:.1} ms, stage (size check + evolve) {stage_ms:.1} ms, through the writer (decide, \
         evolve, seal, durable append) {writer_ms:.1} ms, replay (verify_next + evolve) {replay_ms:.1} ms",
        statement.line_count,
        statement.receivable,
        statement.payable,
        statement.statement_hash,
        stored.record.len(),
    );
    assert_eq!(statement.line_count, sales, "one line per sale");
    if read_models {
        read_back(directory.path(), statement, stored.event.position).await;
    }
}

/// The statement in the read models: applied (timed alone), then all its lines read back.
async fn read_back(directory: &std::path::Path, statement: &SettlementStatementIssued, position: u64) {
    let log = event_log::AsyncLog::new(SqliteReader::open(directory).unwrap());
    let read_models = projections::ReadModels::open_sqlite(&directory.join("read")).unwrap();
    let started = Instant::now();
    projections::catch_up(&read_models, &log, Some(position - 1), |_, _| {}).await.unwrap();
    println!(
        "settle-bench read models: the {} events before it applied in {:.1} s",
        position - 1,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    projections::catch_up(&read_models, &log, Some(position), |_, _| {}).await.unwrap();
    let apply_ms = milliseconds(started);
    let started = Instant::now();
    let (mut lines, mut cursor) = (Vec::new(), None);
    loop {
        let page = read_models.settlement_lines(statement.settlement_id, cursor.as_deref(), 1_000).await.unwrap();
        lines.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let read_ms = milliseconds(started);
    assert_eq!(Figures::of(&Selection::of(statement), &lines), Figures::stated(statement), "the lines served");
    println!(
        "settle-bench read models: the statement applied (its {} lines copied from the journal) in {apply_ms:.1} ms; \
         all its lines read back, 1,000 a page, in {read_ms:.1} ms; they give its count, totals and hash",
        lines.len()
    );
}
