//! The read models against the real writer, on SQLite (a temp dir) and PostgreSQL (fresh schemas
//! in database `test` on 127.0.0.1; the tests fail when it is unreachable). What they prove:
//!
//! - a random workload (recharges with approvals, orders of one or two products with invite codes,
//!   payments, fulfilments, cancellations, partial and full refunds with penalties, withdrawals on
//!   both routes, coupons, usage charges, invoices) projects to read models that agree with the
//!   writer's own state (wallets, invoiceable amounts, orders, trial balances as of every day);
//!   balances equal the sums of the journal, every book's trial balance sums to zero, 2203 equals
//!   the customers' wallets, KPI totals equal the books' 6001 / 6001.99 / 6401 and every KPI
//!   dimension sums to the totals;
//! - every projection equals its rebuild from position 0 (full table dumps), also after `reset` of
//!   one projection or all, and after applying the log again, in overlapping, duplicated,
//!   out-of-order and concurrent chunks;
//! - ledger pages return every line exactly once, with running balances equal to the sums of the
//!   lines up to each (by book, account, party, date window);
//! - every event that booked lines in a book is linked there to the log by its hash, with its
//!   order and its reference (an approved recharge's is its request's slip; a refund's reason
//!   only in the seller's book);
//! - the registries agree with the log: each invite code counts the orders placed with it and
//!   names the last; each serial code is issued or activated by the customer that activated it,
//!   its batch counting its activations; each invoice is requested, issued or rejected as its
//!   approval was decided; pages of one item list every one once, in the order of the log;
//! - the worked example of DESIGN §2.5 shows the design's trial balances, waterfall and KPIs;
//! - `wait_for` returns once a position is applied and answers `Behind` when it is not.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDate;
use commands::testing::{order_id, run_purchase, setup_world};
use common::*;
use ledger_core::chart::{codes, AccountCode};
use ledger_core::ids::OrgId;
use ledger_core::money::{Amount, SignedAmount, Total};
use ledger_core::org::Role;
use ledger_core::statement::{Figures, Selection};
use ledger_core::OrderCommand;
use ledger_core::{CommandBody, EventPayload, RecordedEvent, State};
use projections::{
    spawn_embedded, Granularity, JournalEventView, KpiDimension, KpiQuery, KpiRow, LedgerLine, LedgerQuery, OrderQuery,
    ReadError, ReadModels, LEDGER_PAGE_MAX,
};

/// Long enough never to be reached by a healthy run; the tests assert outcomes, not durations.
const WAIT_GENEROUS: Duration = Duration::from_secs(60);
/// What `Behind` is tested with: no event will ever reach the wanted position.
const WAIT_SHORT: Duration = Duration::from_millis(20);
const WORKLOAD_OPERATIONS: usize = 160;
const WORKLOAD_SEED: u64 = 0x5EED_2026;
const FAR_FUTURE: &str = "2099-12-31";

fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("an amount")
}

fn signed(text: &str) -> SignedAmount {
    SignedAmount::from_decimal(text.parse().expect("a decimal"))
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

fn books(state: &State) -> Vec<OrgId> {
    let mut books: Vec<OrgId> = state.books.keys().copied().collect();
    books.sort();
    books
}

// ---------------------------------------------------------------------------------------------
// The random workload
// ---------------------------------------------------------------------------------------------

async fn a_random_workload_projects_consistently<B: Backend>(backend: B) {
    let writer = start_writer(&backend);
    let handle = writer.handle();
    let live = backend.read_models("live").await;
    let runner = spawn_embedded(live.clone(), backend.log(), handle.committed(), Some(handle.feed()));
    let mut world = grow_world(&handle).await;
    let committed = random_workload(&handle, &mut world, WORKLOAD_SEED, WORKLOAD_OPERATIONS).await;
    assert!(committed >= WORKLOAD_OPERATIONS / 2, "most operations commit ({committed})");
    let before_month_end = handle.state().await.expect("the writer's state");
    let month_end = month_end(&handle, &mut world, &before_month_end).await;
    let last = *handle.committed().borrow();
    assert!(live.wait_for(last, WAIT_GENEROUS).await.expect("the runner catches up") >= last);
    let state = handle.state().await.expect("the writer's state");

    agrees_with_the_writer_state(&live, &world, &state).await;
    month_end_is_projected(&live, &world, &state, &month_end).await;
    balances_equal_the_journal(&live, &state).await;
    kpis_equal_the_books(&live, &state).await;
    ledger_pages_cover_every_line_once(&live, &state, &world).await;
    orders_page_through_every_order_once(&live, &state).await;
    let log = read_log(&backend);
    journal_events_link_lines_to_the_log(&live, &log, &state).await;
    registries_agree_with_the_log(&live, &log).await;

    workload_covers_every_flow(&log);

    let live_tables = live.dump().await.expect("a dump");
    assert!(live_tables["rm_journal"].len() > 100, "the workload booked lines");
    let rebuilt = rebuilt(&backend, "rebuild").await;
    assert_eq!(rebuilt.dump().await.unwrap(), live_tables, "a rebuild from position 0 equals the live read models");
    replaying_changes_nothing(&backend, &live_tables).await;
    resets_rebuild_to_the_same_rows(&backend, &live, &live_tables).await;

    blocking(move || writer.shutdown());
    runner.await.expect("the runner ends cleanly once the writer is gone");
}

/// The seed drives every flow the read models fold, refusals aside: a change of workload that
/// stops exercising one fails here rather than silently testing less.
fn workload_covers_every_flow(events: &[ledger_core::RecordedEvent]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for event in events {
        *counts.entry(event.event_type()).or_default() += 1;
    }
    let every_flow = [
        "TokenIssued",
        "UserCreated",
        "TokenRevoked",
        "ProductCreated",
        "SupplierRateSet",
        "RechargeRequested",
        "RechargeConfirmed",
        "RechargeReversed",
        "ApprovalGranted",
        "ApprovalRejected",
        // Coupons are vouchers: granted, spent, given back by refunds, booked out once expired
        // (a `CouponGranted` is only read from older logs).
        "VoucherGranted",
        "VoucherRedeemed",
        "VoucherReturned",
        "VoucherExpired",
        "OrderPlaced",
        "OrderPaid",
        "OrderFulfilled",
        "OrderCancelled",
        "OrderRefunded",
        "WithdrawalRequested",
        "WithdrawalPaid",
        "UsageCharged",
        "InvoiceIssued",
        "SerialCodesIssued",
        "SerialCodeActivated",
        "SettlementStatementIssued",
        "SettlementPaid",
        "CreditLimitSet",
        "CreditDrawn",
        "ArrearsRepaid",
        "BookTermsSet",
        "SettlementCycleSet",
    ];
    for event_type in every_flow {
        assert!(counts.contains_key(event_type), "the workload has no {event_type}: {counts:?}");
    }
    let partial_refunds = events
        .iter()
        .filter(|event| matches!(&event.event.payload, ledger_core::EventPayload::OrderRefunded(refund) if !refund.fully_refunded))
        .count();
    assert!(partial_refunds > 0, "partial refunds: {counts:?}");
}

/// Invite codes, serial batches and codes, and invoices, each as the log's events say, read one
/// by one and a page of one item at a time.
async fn registries_agree_with_the_log(live: &ReadModels, log: &[RecordedEvent]) {
    use ledger_core::event::Proposal;
    use projections::{InvoiceQuery, SerialCodeQuery, SerialScope};

    let mut invite_codes = Vec::new();
    let mut uses: BTreeMap<(OrgId, String), (u64, Option<ledger_core::ids::OrderId>)> = BTreeMap::new();
    let mut codes = Vec::new();
    let mut activations = BTreeMap::new();
    let mut invoices: Vec<ledger_core::ids::InvoiceId> = Vec::new();
    let mut invoice_status = BTreeMap::new();
    let mut invoice_approvals = BTreeMap::new();
    for event in log {
        match &event.event.payload {
            EventPayload::InviteCodeCreated(created) => invite_codes.push((created.book, created.code.to_string())),
            EventPayload::OrderPlaced(placed) => {
                if let Some(code) = &placed.invite_code {
                    let entry = uses.entry((placed.seller_id, code.to_string())).or_default();
                    *entry = (entry.0 + 1, Some(placed.order_id));
                }
            }
            EventPayload::SerialCodesIssued(issued) => {
                codes.extend(issued.codes.iter().map(|code| (code.to_string(), issued.batch_id, issued.unit_price)))
            }
            EventPayload::SerialCodeActivated(activated) => {
                activations.insert(activated.code.to_string(), (activated.customer_id, event.position));
            }
            EventPayload::ApprovalRequested(requested) => {
                if let Proposal::IssueInvoice { invoice_id, .. } = &requested.proposal {
                    invoices.push(*invoice_id);
                    invoice_status.insert(*invoice_id, "requested");
                    invoice_approvals.insert(requested.approval_id, *invoice_id);
                }
            }
            EventPayload::InvoiceIssued(issued) => {
                invoice_status.insert(issued.invoice_id, "issued");
            }
            EventPayload::ApprovalRejected(decided) => {
                if let Some(invoice_id) = invoice_approvals.get(&decided.approval_id) {
                    invoice_status.insert(*invoice_id, "rejected");
                }
            }
            _ => {}
        }
    }
    assert!(!invite_codes.is_empty() && !codes.is_empty() && !invoices.is_empty(), "the workload has them all");
    assert!(uses.values().any(|(count, _)| *count > 1), "an invite code used more than once");
    for (book, code) in &invite_codes {
        let view = live.invite_code(*book, code).await.unwrap().expect("an invite code");
        let (count, last) = uses.get(&(*book, code.clone())).copied().unwrap_or_default();
        assert_eq!((view.uses, view.last_order_id), (count, last), "invite code {code}");
        let page = live.invite_codes(*book, None, 1_000).await.unwrap();
        assert!(page.items.contains(&view));
    }

    let mut paged = Vec::new();
    let mut query = SerialCodeQuery {
        scope: SerialScope::All,
        distributor_id: None,
        batch_id: None,
        status: None,
        cursor: None,
        limit: 1,
    };
    loop {
        let page = live.serial_codes(&query).await.unwrap();
        assert!(page.items.len() <= 1);
        paged.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        paged.iter().map(|view| view.code.clone()).collect::<Vec<_>>(),
        codes.iter().map(|code| code.0.clone()).collect::<Vec<_>>()
    );
    for (view, (code, batch_id, unit_price)) in paged.iter().zip(&codes) {
        let activation = activations.get(code);
        let status = if activation.is_some() { "activated" } else { "issued" };
        assert_eq!((&view.batch_id, view.amount, view.status.as_str()), (batch_id, *unit_price, status), "{code}");
        assert_eq!(
            (view.customer_id, view.activated_position),
            (activation.map(|(customer, _)| *customer), activation.map(|(_, position)| *position))
        );
        assert_eq!(live.serial_code(code).await.unwrap().as_ref(), Some(view));
        let batch = live.serial_batch(*batch_id).await.unwrap().expect("its batch");
        let activated = codes.iter().filter(|other| other.1 == *batch_id && activations.contains_key(&other.0)).count();
        assert_eq!((batch.unit_price, batch.activated), (*unit_price, activated as u64));
    }
    let activated = SerialCodeQuery { status: Some("activated".into()), limit: 1_000, cursor: None, ..query };
    assert_eq!(live.serial_codes(&activated).await.unwrap().items.len(), activations.len());

    let mut paged = Vec::new();
    let mut query = InvoiceQuery { limit: 1, ..InvoiceQuery::default() };
    loop {
        let page = live.invoices(&query).await.unwrap();
        paged.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(paged.iter().map(|view| view.id).collect::<Vec<_>>(), invoices);
    for view in &paged {
        assert_eq!(view.status, invoice_status[&view.id], "invoice {}", view.id);
        assert_eq!(live.invoice(view.id).await.unwrap().as_ref(), Some(view));
    }
    assert!(paged.iter().any(|view| view.status == "rejected") && paged.iter().any(|view| view.status == "issued"));
}

/// Every event that booked lines in a book has one row there, with the log's hash; a payment and
/// a refund name their order, an approved recharge its request's reference, a refund its reason
/// in the seller's book only.
async fn journal_events_link_lines_to_the_log(live: &ReadModels, log: &[RecordedEvent], state: &State) {
    let requested: BTreeMap<_, _> = log
        .iter()
        .filter_map(|event| match &event.event.payload {
            EventPayload::RechargeRequested(request) => Some((request.recharge_id, request.reference.clone())),
            _ => None,
        })
        .collect();
    let last = log.last().map_or(0, |event| event.position);
    let mut recharges_seen = 0;
    for book in books(state) {
        let rows: BTreeMap<u64, JournalEventView> =
            live.journal_events(book, 1, last).await.unwrap().into_iter().map(|row| (row.position, row)).collect();
        let booked: Vec<&RecordedEvent> =
            log.iter().filter(|event| event.event.entries.iter().any(|entry| entry.book == book)).collect();
        let positions: Vec<u64> = booked.iter().map(|event| event.position).collect();
        assert_eq!(rows.keys().copied().collect::<Vec<_>>(), positions, "one row per event booked in {book}");
        for event in booked {
            let row = &rows[&event.position];
            assert_eq!(row.event_hash, event.hash, "the hash of {}", event.position);
            match &event.event.payload {
                EventPayload::RechargeConfirmed(confirmed) if confirmed.trade_number.is_none() => {
                    let reference = requested.get(&confirmed.recharge_id).filter(|reference| !reference.is_empty());
                    assert_eq!(row.reference.as_ref(), reference, "the slip of {}", event.position);
                    recharges_seen += 1;
                }
                EventPayload::OrderPaid(paid) => assert_eq!(row.order_id, Some(paid.order_id)),
                EventPayload::OrderRefunded(refund) => {
                    assert_eq!(row.order_id, Some(refund.order_id));
                    let reason = (book == refund.seller_id).then_some(refund.reason.as_str());
                    assert_eq!(row.reference.as_deref(), reason.filter(|reason| !reason.is_empty()));
                }
                _ => {}
            }
        }
    }
    assert!(recharges_seen > 0, "the workload confirms recharges after an approval");
}

/// Wallets, invoiceable amounts, orders and trial balances as the writer's state has them.
async fn agrees_with_the_writer_state(live: &ReadModels, world: &World, state: &State) {
    for customer in &world.customers {
        let wallet = live.wallet(customer.id).await.unwrap().expect("a customer's wallet");
        let expected = state.wallet(customer.id);
        assert_eq!(
            (wallet.cash, wallet.voucher, wallet.pending),
            (expected.balance, expected.voucher, expected.pending_recharges)
        );
        assert_eq!(wallet.balance, expected.balance.plus(expected.voucher), "cash and vouchers");
        assert_eq!(wallet.available, wallet.balance.minus(expected.reserved), "less what withdrawals hold");
        assert_eq!(wallet.book, customer.seller);
        let invoiceable = state.invoiceable.get(&customer.id).copied().unwrap_or_default();
        assert_eq!(live.invoiceable(customer.id).await.unwrap(), invoiceable);
    }
    assert_eq!(live.wallet(world.example.r1).await.unwrap(), None, "a reseller has no wallet");
    // Credit and arrears (issue 12): the read model's are the writer's, and the arrears are the
    // customer's 1122 in its seller's book.
    for customer in &world.customers {
        let credit = live.credit(customer.id).await.unwrap();
        let expected = state.credit.get(&customer.id);
        let limits = (
            credit.as_ref().map(|view| (view.limit, view.arrears, view.due_on)),
            expected.map(|credit| (credit.limit, credit.arrears_total(), credit.due_on())),
        );
        assert_eq!(limits.0, limits.1, "customer {}", customer.id);
        let net = state.signed_balance_of(customer.seller, &AccountCode::parse("1122").unwrap());
        let balances = live.account_balances(customer.seller).await.unwrap();
        let arrears = balances
            .iter()
            .find(|row| row.account.as_str() == "1122" && row.party == Some(customer.id))
            .map_or(SignedAmount::ZERO, |row| {
                SignedAmount::from_decimal(row.debit.as_decimal() - row.credit.as_decimal())
            });
        assert_eq!(arrears, SignedAmount::from(state.arrears_of(customer.id)), "1122 with {}", customer.id);
        assert!(!net.is_negative());
    }
    // (What it owes is the workload's: its recharges repay the 980.00 it drew.)
    let second = live.credit(world.customers[1].id).await.unwrap().expect("credit given");
    assert_eq!(second.limit, amount("3000.00"));
    let cycles = live.settlement_cycles(world.example.platform, None, None, 10).await.unwrap();
    assert_eq!(cycles.items.iter().map(|cycle| cycle.counterparty_id).collect::<Vec<_>>(), [world.example.supplier]);
    let terms = live.book_terms(world.example.r2).await.unwrap().expect("R2's terms");
    assert_eq!((terms.order_payment_timeout_minutes, terms.arrears_due_days), (24 * 60, 10));
    for order in state.orders.values() {
        let view = live.order(order.order_id).await.unwrap().expect("every order is projected");
        assert_eq!(view.status, order.status.as_str());
        assert_eq!((view.total, view.paid, view.refunded), (order.total, order.paid, order.refunded));
        assert_eq!(view.items, order.items);
        assert_eq!(view.salesperson, order.salesperson);
        assert_eq!(view.history.last().map(|entry| entry.status.as_str()), Some(order.status.as_str()));
    }
    let last_day = day("2026-02-15");
    for book in books(state) {
        let mut as_of = first_day().pred_opt().unwrap();
        while as_of <= last_day {
            let view = live.trial_balance(book, as_of).await.unwrap().expect("a book");
            let expected: BTreeMap<AccountCode, (Total, Total)> = state.books[&book]
                .trial_balance(as_of)
                .into_iter()
                .map(|row| (row.code, (row.debit, row.credit)))
                .collect();
            for account in &view.accounts {
                let (debit, credit) = expected.get(&account.code).copied().unwrap_or_default();
                assert_eq!((account.debit, account.credit), (debit, credit), "{book} {} as of {as_of}", account.code);
            }
            assert_eq!(view.accounts.len(), state.books[&book].chart.accounts().count(), "the whole chart is listed");
            as_of = as_of.checked_add_days(chrono::Days::new(3)).unwrap();
        }
    }
    let principal = live.principal_by_token_hash(&world.token_hash).await.unwrap().expect("the token");
    assert_eq!((principal.org_id, principal.roles), (world.customers[0].id, BTreeSet::from([Role::Customer])));
    assert_eq!(live.principal_by_token_hash("00").await.unwrap(), None);
    let products = live.products(Some(world.example.platform)).await.unwrap();
    assert_eq!(
        products.iter().map(|product| product.id).collect::<Vec<_>>(),
        vec![world.example.product, world.second_product]
    );
    assert_eq!(products[1].supplier_rate.map(|rate| rate.to_string()), Some("0.61".to_owned()));
}

/// Serial-code KPIs, settlement statements and approvals, against the writer's state.
async fn month_end_is_projected(live: &ReadModels, world: &World, state: &State, month_end: &MonthEnd) {
    let platform = world.example.platform;
    let serial = live.serial_kpi(platform, day("2026-01-01"), day("2026-12-31")).await.unwrap();
    let activated = month_end.codes.iter().filter(|code| state.serial_codes[*code].activated_by.is_some()).count();
    let unit_price = state.serial_codes[&month_end.codes[0]].unit_price;
    assert_eq!(serial.len(), 1);
    assert_eq!(
        (serial[0].period.as_str(), serial[0].days, serial[0].codes_issued),
        ("2026-02", 30, month_end.codes.len() as u64)
    );
    assert_eq!(
        (serial[0].codes_activated, serial[0].revenue),
        (activated as u64, Amount::from_minor(unit_price.to_minor() * activated as i64).unwrap())
    );
    for (id, status) in [(month_end.paid, "paid"), (month_end.unpaid, "issued")] {
        let view = live.settlement(id, 2).await.unwrap().expect("the statement");
        let statement = &state.settlements[&id].statement;
        assert_eq!(view.status, status);
        assert_eq!(
            (view.receivable, view.payable, view.line_count),
            (statement.receivable, statement.payable, statement.line_count)
        );
        assert_eq!(view.total, statement.payable.plus(statement.receivable.negated()));
        assert_eq!(view.statement_hash, statement.statement_hash);
        assert!(view.line_count > 2, "January had more items to settle than a page of 2");
        // Paged two at a time, the lines are the statement's: their figures are the event's.
        let mut lines = view.lines.items.clone();
        let mut cursor = view.lines.next_cursor.clone();
        while let Some(after) = cursor {
            let page = live.settlement_lines(id, Some(&after), 2).await.unwrap();
            assert!(page.items.len() <= 2);
            lines.extend(page.items);
            cursor = page.next_cursor;
        }
        assert_eq!(live.settlement_lines(id, None, 1_000).await.unwrap().items, lines);
        assert_eq!(Figures::of(&Selection::of(statement), &lines), Figures::stated(statement));
        assert_eq!(live.settlements(view.book, 2, None, 1_000).await.unwrap().items, vec![view]);
    }
    for book in books(state) {
        let inbox = live.approvals(book, None, None, 1_000).await.unwrap().items;
        let expected = state.approvals.values().filter(|approval| approval.request.book == book).count();
        assert_eq!(inbox.len(), expected, "the inbox of {book}");
        for view in inbox {
            let approval = &state.approvals[&view.id];
            assert_eq!(view.status, approval.decision.as_str());
            assert_eq!(view.proposal, serde_json::to_value(&approval.request.proposal).unwrap());
            assert_eq!(live.approval(view.id).await.unwrap().as_ref(), Some(&view));
        }
        let pending = live.approvals(book, Some("pending"), None, 1_000).await.unwrap().items;
        assert!(pending.iter().all(|view| view.status == "pending"));
    }
}

/// Balances equal the journal's sums; trial balances sum to zero; 2203 equals the wallets.
async fn balances_equal_the_journal(live: &ReadModels, state: &State) {
    let mut prepayments = SignedAmount::ZERO;
    for book in books(state) {
        let lines = all_lines(live, book, None, None).await;
        let mut sums: BTreeMap<(AccountCode, Option<OrgId>), (Total, Total)> = BTreeMap::new();
        for line in &lines {
            let sum = sums.entry((line.account.clone(), line.party)).or_default();
            *sum = (sum.0.plus(line.debit), sum.1.plus(line.credit));
        }
        let balances: BTreeMap<(AccountCode, Option<OrgId>), (Total, Total)> = live
            .account_balances(book)
            .await
            .unwrap()
            .into_iter()
            .map(|balance| ((balance.account, balance.party), (balance.debit, balance.credit)))
            .collect();
        assert_eq!(balances, sums, "balances of {book} are the sums of its journal");
        let trial = live.trial_balance(book, day(FAR_FUTURE)).await.unwrap().unwrap();
        assert_eq!(trial.total_debit, trial.total_credit, "the trial balance of {book} sums to zero");
        for ((account, _), (debit, credit)) in &balances {
            if account.as_str() == codes::CUSTOMER_PREPAYMENTS {
                prepayments = prepayments.add_total(*credit).sub_total(*debit);
            }
        }
    }
    let mut wallets = SignedAmount::ZERO;
    for (customer, org) in &state.orgs {
        if org.kind == ledger_core::org::OrgKind::Customer {
            wallets = wallets.add(live.wallet(*customer).await.unwrap().unwrap().cash);
        }
    }
    assert_eq!(prepayments, wallets, "2203 equals the sum of the customers' wallets");
}

/// Per book, KPI totals equal the net of 6001, 6001.99 and 6401; each dimension sums to them.
async fn kpis_equal_the_books(live: &ReadModels, state: &State) {
    let (from, to) = (day("2026-01-01"), day("2026-12-31"));
    for book in books(state) {
        let query = KpiQuery { book, from, to, granularity: Granularity::Month, by: None };
        let totals = sum_rows(&live.kpi(&query).await.unwrap());
        let trial = live.trial_balance(book, to).await.unwrap().unwrap();
        let net = |code: &str| {
            trial
                .accounts
                .iter()
                .find(|account| account.code.as_str() == code)
                .map_or(SignedAmount::ZERO, |account| account.balance)
        };
        assert_eq!(totals.revenue, net(codes::REVENUE), "revenue of {book}");
        assert_eq!(totals.discounts, net(codes::SALES_DISCOUNTS), "discounts of {book}");
        assert_eq!(totals.cost, net(codes::COST_OF_SALES), "cost of {book}");
        let selling = totals.commissions_paid.plus(totals.other_selling_expenses);
        assert_eq!(selling, net(codes::SELLING_EXPENSES), "commissions and other selling expenses of {book}");
        let other_income = totals.commissions_earned.plus(totals.penalties);
        assert_eq!(other_income, net(codes::OTHER_INCOME), "commissions earned and penalties of {book}");
        let net_profit = totals
            .gross_profit
            .plus(totals.commissions_paid.negated())
            .plus(totals.commissions_earned)
            .plus(totals.penalties)
            .plus(totals.other_selling_expenses.negated());
        assert_eq!(totals.net_profit, net_profit, "net profit of {book}");
        let by_day = sum_rows(&live.kpi(&KpiQuery { granularity: Granularity::Day, ..query.clone() }).await.unwrap());
        assert_eq!(by_day, totals, "months are sums of days");
        for dimension in [
            KpiDimension::Product,
            KpiDimension::Customer,
            KpiDimension::Supplier,
            KpiDimension::Reseller,
            KpiDimension::Salesperson,
        ] {
            let rows = live.kpi(&KpiQuery { by: Some(dimension), ..query.clone() }).await.unwrap();
            assert_eq!(sum_rows(&rows), totals, "{dimension:?} of {book} sums to the totals");
        }
    }
}

fn sum_rows(rows: &[KpiRow]) -> KpiRow {
    let zero = KpiRow {
        period: String::new(),
        key: None,
        name: None,
        revenue: SignedAmount::ZERO,
        discounts: SignedAmount::ZERO,
        cost: SignedAmount::ZERO,
        gross_profit: SignedAmount::ZERO,
        recharges: SignedAmount::ZERO,
        refunds: SignedAmount::ZERO,
        commissions_paid: SignedAmount::ZERO,
        commissions_earned: SignedAmount::ZERO,
        penalties: SignedAmount::ZERO,
        other_selling_expenses: SignedAmount::ZERO,
        net_profit: SignedAmount::ZERO,
        previous: None,
    };
    rows.iter().fold(zero, |sum, row| KpiRow {
        revenue: sum.revenue.plus(row.revenue),
        discounts: sum.discounts.plus(row.discounts),
        cost: sum.cost.plus(row.cost),
        gross_profit: sum.gross_profit.plus(row.gross_profit),
        recharges: sum.recharges.plus(row.recharges),
        refunds: sum.refunds.plus(row.refunds),
        commissions_paid: sum.commissions_paid.plus(row.commissions_paid),
        commissions_earned: sum.commissions_earned.plus(row.commissions_earned),
        penalties: sum.penalties.plus(row.penalties),
        other_selling_expenses: sum.other_selling_expenses.plus(row.other_selling_expenses),
        net_profit: sum.net_profit.plus(row.net_profit),
        ..sum
    })
}

/// Every line of a book (optionally of one account and party), one page at a time.
async fn all_lines(
    live: &ReadModels,
    book: OrgId,
    account: Option<AccountCode>,
    party: Option<OrgId>,
) -> Vec<LedgerLine> {
    pages(live, LedgerQuery { book, account, party, from: None, to: None, cursor: None, limit: LEDGER_PAGE_MAX }).await
}

async fn pages(live: &ReadModels, mut query: LedgerQuery) -> Vec<LedgerLine> {
    let mut lines = Vec::new();
    loop {
        let page = live.ledger(&query).await.expect("a ledger page");
        assert!(page.items.len() <= query.limit.max(1));
        lines.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return lines,
        }
    }
}

/// Small pages return each line once, in log order; with an account asked for, each carries the
/// running balance of everything the filter matches up to it, whatever the page size or the date
/// window; without one, none.
async fn ledger_pages_cover_every_line_once(live: &ReadModels, state: &State, world: &World) {
    let customer = world.customers[0].id;
    for book in books(state) {
        let everything = all_lines(live, book, None, None).await;
        let paged =
            pages(live, LedgerQuery { book, account: None, party: None, from: None, to: None, cursor: None, limit: 7 })
                .await;
        assert_eq!(paged, everything, "7-line pages of {book} return every line once, in order");
        let keys: BTreeSet<(u64, String, u32)> =
            everything.iter().map(|line| (line.position, line.entry_id.clone(), line.line_idx)).collect();
        assert_eq!(keys.len(), everything.len(), "no line twice");
        assert!(everything.windows(2).all(|pair| (pair[0].position, &pair[0].entry_id, pair[0].line_idx)
            < (pair[1].position, &pair[1].entry_id, pair[1].line_idx)
            || pair[0].position < pair[1].position));
        assert!(everything.iter().all(|line| line.running_balance.is_none()), "no book-wide running balance");
        for (account, party, credit_normal) in [
            (Some(codes::CUSTOMER_PREPAYMENTS), Some(customer), true),
            (Some(codes::REVENUE), None, true),
            (Some(codes::COST_OF_SALES), None, false),
            (None, Some(customer), false),
            (None, Some(world.example.r2), false),
        ] {
            let account = account.map(|code| AccountCode::parse(code).unwrap());
            let matches = |line: &&LedgerLine| {
                account.as_ref().is_none_or(|account| line.account == *account)
                    && party.is_none_or(|party| line.party == Some(party))
            };
            let lines: Vec<&LedgerLine> = everything.iter().filter(matches).collect();
            let window = (day("2026-01-20"), day("2026-01-31"));
            let query = LedgerQuery {
                book,
                account: account.clone(),
                party,
                from: Some(window.0),
                to: Some(window.1),
                cursor: None,
                limit: 3,
            };
            let shown = pages(live, query).await;
            let mut running = SignedAmount::ZERO;
            let mut expected = Vec::new();
            for line in lines {
                running = running.add(line.debit).sub(line.credit);
                if window.0 <= line.date && line.date <= window.1 {
                    let balance = if credit_normal { running.negated() } else { running };
                    let balance = account.as_ref().map(|_| balance);
                    expected.push((line.position, line.entry_id.clone(), line.line_idx, balance));
                }
            }
            let got: Vec<_> = shown
                .iter()
                .map(|line| (line.position, line.entry_id.clone(), line.line_idx, line.running_balance))
                .collect();
            assert_eq!(got, expected, "{book} {account:?} {party:?} in {window:?}");
        }
    }
    let bad = LedgerQuery {
        book: world.example.r2,
        account: None,
        party: None,
        from: None,
        to: None,
        cursor: Some("nonsense".into()),
        limit: 5,
    };
    assert!(matches!(live.ledger(&bad).await, Err(ReadError::InvalidQuery(_))));
}

async fn orders_page_through_every_order_once(live: &ReadModels, state: &State) {
    let mut query = OrderQuery {
        seller: None,
        customer_id: None,
        status: None,
        from: None,
        to: None,
        customer_owner: None,
        cursor: None,
        limit: 4,
    };
    let mut seen = Vec::new();
    loop {
        let page = live.orders(&query).await.unwrap();
        seen.extend(page.items.iter().map(|order| order.id));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    let expected: BTreeSet<_> = state.orders.keys().copied().collect();
    assert_eq!(seen.len(), expected.len(), "no order twice");
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), expected);
    for (seller, status) in [(state.orders.values().next().map(|order| order.seller_id), "paid"), (None, "refunded")] {
        let query = OrderQuery {
            seller,
            customer_id: None,
            status: Some(status.into()),
            from: None,
            to: None,
            customer_owner: None,
            cursor: None,
            limit: 500,
        };
        let page = live.orders(&query).await.unwrap();
        let expected = state
            .orders
            .values()
            .filter(|order| order.status.as_str() == status && seller.is_none_or(|seller| order.seller_id == seller))
            .count();
        assert_eq!(page.items.len(), expected, "orders {status} of {seller:?}");
        assert!(page.items.iter().all(|order| order.status == status));
    }
}

/// The log applied again into a fresh store in every bad way a consumer could deliver it.
async fn replaying_changes_nothing<B: Backend>(backend: &B, expected: &BTreeMap<String, Vec<projections::sql::Row>>) {
    let events = read_log(backend);
    let replays = backend.read_models("replays").await;
    let mut random = Random::new(7);
    let mut start = 0;
    while start < events.len() {
        let end = (start + 1 + random.below(40)).min(events.len());
        let next_end = (end + 1 + random.below(40)).min(events.len());
        // The next chunk first: it follows a gap, so it must change nothing yet.
        let ahead = replays.apply(&events[end..next_end]).await.unwrap();
        assert!(ahead <= start as u64, "events after a gap are not applied");
        let overlap_start = start.saturating_sub(random.below(10));
        assert_eq!(replays.apply(&events[overlap_start..end]).await.unwrap(), end as u64);
        // A redelivery of what is applied is a no-op.
        assert_eq!(replays.apply(&events[overlap_start..end]).await.unwrap(), end as u64);
        start = end;
    }
    assert_eq!(&replays.dump().await.unwrap(), expected, "duplicates, overlaps and out-of-order chunks change nothing");
    let concurrent = backend.read_models("concurrent").await;
    let halves = events.len() / 2;
    let (first, second) = (events[..halves + 20].to_vec(), events.to_vec());
    let (one, two) = (concurrent.clone(), concurrent.clone());
    let racing = tokio::spawn(async move { one.apply(&second).await });
    two.apply(&first).await.unwrap();
    racing.await.unwrap().unwrap();
    concurrent.apply(&events).await.unwrap();
    assert_eq!(&concurrent.dump().await.unwrap(), expected, "concurrent appliers take turns");
}

async fn resets_rebuild_to_the_same_rows<B: Backend>(
    backend: &B,
    live: &ReadModels,
    expected: &BTreeMap<String, Vec<projections::sql::Row>>,
) {
    for projection in ["kpis", "balances"] {
        live.reset(Some(projection)).await.unwrap();
        assert_eq!(live.position().await.unwrap(), 0, "a reset projection starts again from 0");
        assert!(live.dump().await.unwrap() != *expected);
        // The runner may be catching up at the same time: both are safe.
        catch_up_all(backend, live).await;
        assert_eq!(&live.dump().await.unwrap(), expected, "{projection} rebuilt equals the live one");
    }
    live.reset(None).await.unwrap();
    catch_up_all(backend, live).await;
    assert_eq!(&live.dump().await.unwrap(), expected, "every projection rebuilt equals the live ones");
    assert!(matches!(live.reset(Some("nonsense")).await, Err(ReadError::InvalidQuery(_))));
}

// ---------------------------------------------------------------------------------------------
// DESIGN §2.5
// ---------------------------------------------------------------------------------------------

fn trial_rows(view: &projections::TrialBalanceView) -> BTreeMap<String, (String, String)> {
    view.accounts
        .iter()
        .filter(|account| !(account.debit.is_zero() && account.credit.is_zero()))
        .map(|account| (account.code.to_string(), (account.debit.to_string(), account.credit.to_string())))
        .collect()
}

fn expected_rows(rows: &[(&str, &str, &str)]) -> BTreeMap<String, (String, String)> {
    rows.iter().map(|(code, debit, credit)| (code.to_string(), (debit.to_string(), credit.to_string()))).collect()
}

async fn the_worked_example_shows_the_design_figures<B: Backend>(backend: B) {
    let writer = start_writer(&backend);
    let handle = writer.handle();
    let world = setup_world(&handle).await.unwrap();
    run_purchase(&handle, &world, 0).await.unwrap();
    let live = rebuilt(&backend, "live").await;
    let today = commands::testing::accounting_date();

    let r2 = live.trial_balance(world.r2, today).await.unwrap().unwrap();
    assert_eq!(
        trial_rows(&r2),
        expected_rows(&[
            ("1012", "950.00", "0.00"),
            ("2202", "0.00", "880.00"),
            ("2203", "950.00", "950.00"),
            ("6001", "0.00", "1000.00"),
            ("6001.99", "50.00", "0.00"),
            ("6401", "880.00", "0.00"),
        ])
    );
    let r1 = live.trial_balance(world.r1, today).await.unwrap().unwrap();
    assert_eq!(
        trial_rows(&r1),
        expected_rows(&[
            ("1122", "880.00", "0.00"),
            ("2202", "0.00", "800.00"),
            ("6001", "0.00", "1000.00"),
            ("6001.99", "120.00", "0.00"),
            ("6401", "800.00", "0.00")
        ])
    );
    let platform = live.trial_balance(world.platform, today).await.unwrap().unwrap();
    assert_eq!(
        trial_rows(&platform),
        expected_rows(&[
            ("1122", "800.00", "0.00"),
            ("2202", "0.00", "700.00"),
            ("6001", "0.00", "1000.00"),
            ("6001.99", "200.00", "0.00"),
            ("6401", "700.00", "0.00")
        ])
    );
    for view in [&r2, &r1, &platform] {
        assert_eq!(view.total_debit, view.total_credit);
    }
    assert_eq!(live.trial_balance(world.customer, today).await.unwrap(), None, "a customer keeps no book");

    let order = live.order(order_id(0)).await.unwrap().expect("the order");
    assert_eq!((order.status.as_str(), order.total, order.paid), ("paid", amount("950.00"), amount("950.00")));
    assert_eq!(
        order.history.iter().map(|entry| entry.status.as_str()).collect::<Vec<_>>(),
        ["pending_payment", "paid"]
    );
    let levels = &order.items[0].levels;
    let waterfall: Vec<(String, String, String)> = levels
        .iter()
        .map(|level| (level.cost.to_string(), level.price.to_string(), level.margin.to_string()))
        .collect();
    let expected = [("700.00", "800.00", "100.00"), ("800.00", "880.00", "80.00"), ("880.00", "950.00", "70.00")];
    assert_eq!(waterfall, expected.map(|(cost, price, margin)| (cost.to_owned(), price.to_owned(), margin.to_owned())));
    assert_eq!(levels.iter().map(|level| level.org_id).collect::<Vec<_>>(), [world.platform, world.r1, world.r2]);

    let kpi = |book, by| KpiQuery { book, from: today, to: today, granularity: Granularity::Day, by };
    let figures =
        |row: &KpiRow| [row.revenue, row.discounts, row.cost, row.gross_profit].map(|value| value.to_string());
    for (book, expected, recharges) in [
        (world.r2, ["1000.00", "50.00", "880.00", "70.00"], "950.00"),
        (world.r1, ["1000.00", "120.00", "800.00", "80.00"], "0.00"),
        (world.platform, ["1000.00", "200.00", "700.00", "100.00"], "0.00"),
    ] {
        let rows = live.kpi(&kpi(book, None)).await.unwrap();
        assert_eq!(rows.len(), 1, "one day of totals");
        assert_eq!((rows[0].period.as_str(), rows[0].key.as_deref()), ("2026-01-15", None));
        assert_eq!(figures(&rows[0]), expected.map(str::to_owned), "KPIs of {book}");
        assert_eq!(rows[0].recharges, signed(recharges));
        // The recharge has no product: its figure sits under no key, beside the sale's.
        let by_product = live.kpi(&kpi(book, Some(KpiDimension::Product))).await.unwrap();
        let keyed: Vec<_> =
            by_product.iter().filter(|row| row.key.is_some()).map(|row| (row.key.clone(), figures(row))).collect();
        assert_eq!(keyed, vec![(Some(world.product.to_string()), expected.map(str::to_owned))]);
        let unkeyed: Vec<_> =
            by_product.iter().filter(|row| row.key.is_none()).map(|row| (figures(row), row.recharges)).collect();
        let no_sale = ["0.00", "0.00", "0.00", "0.00"].map(str::to_owned);
        let expected_unkeyed = if book == world.r2 { vec![(no_sale, signed("950.00"))] } else { vec![] };
        assert_eq!(unkeyed, expected_unkeyed);
    }
    let months = live.kpi(&KpiQuery { granularity: Granularity::Month, ..kpi(world.r2, None) }).await.unwrap();
    assert_eq!((months[0].period.as_str(), months[0].gross_profit), ("2026-01", signed("70.00")));
    let resellers = live.kpi(&kpi(world.r1, Some(KpiDimension::Reseller))).await.unwrap();
    assert_eq!(
        resellers.iter().map(|row| row.key.clone()).collect::<Vec<_>>(),
        vec![Some(world.r2.to_string())],
        "R1 sold through R2"
    );
    let direct = live.kpi(&kpi(world.r2, Some(KpiDimension::Reseller))).await.unwrap();
    assert_eq!(direct.iter().map(|row| row.key.clone()).collect::<Vec<_>>(), vec![None], "R2 sold directly");

    // The inter-company lines carry one pair id in both books.
    let receivable = all_lines(&live, world.r1, Some(AccountCode::parse("1122").unwrap()), Some(world.r2)).await;
    let payable = all_lines(&live, world.r2, Some(AccountCode::parse("2202").unwrap()), Some(world.r1)).await;
    assert!(receivable[0].pair_id.is_some());
    assert_eq!(receivable[0].pair_id, payable[0].pair_id);
    assert_eq!((receivable[0].rule_id.as_str(), receivable[0].event_type.as_str()), ("sale/intermediate", "OrderPaid"));

    // A full refund reverses every book's sale; the KPIs show the refund and net to zero.
    let refund = CommandBody::Orders(OrderCommand::RefundOrder {
        order_id: order_id(0),
        amount: amount("950.00"),
        penalty: Amount::ZERO,
        reason: "unsubscribe".into(),
        approval_id: ledger_core::testing::id(9_800_001),
    });
    submit(&handle, &world.r2_admin, today, refund).await.expect("the refund");
    catch_up_all(&backend, &live).await;
    for (book, refunds) in [(world.r2, "950.00"), (world.r1, "880.00"), (world.platform, "800.00")] {
        let rows = live.kpi(&kpi(book, None)).await.unwrap();
        assert_eq!(figures(&rows[0]), ["0.00", "0.00", "0.00", "0.00"].map(str::to_owned));
        assert_eq!(rows[0].refunds, signed(refunds), "refunds of {book}");
        let by_product = live.kpi(&kpi(book, Some(KpiDimension::Product))).await.unwrap();
        let keyed: Vec<_> =
            by_product.iter().filter(|row| row.key.is_some()).map(|row| (row.key.clone(), row.refunds)).collect();
        assert_eq!(keyed, vec![(Some(world.product.to_string()), signed(refunds))]);
    }
    let order = live.order(order_id(0)).await.unwrap().unwrap();
    assert_eq!((order.status.as_str(), order.refunded), ("refunded", amount("950.00")));
    let wallet = live.wallet(world.customer).await.unwrap().unwrap();
    assert_eq!((wallet.balance, wallet.available, wallet.pending), (amount("950.00"), amount("950.00"), Amount::ZERO));
    assert_eq!(live.invoiceable(world.customer).await.unwrap(), Total::ZERO);
    blocking(move || writer.shutdown());
}

// ---------------------------------------------------------------------------------------------
// Read-your-writes
// ---------------------------------------------------------------------------------------------

async fn wait_for_returns_once_applied_and_reports_behind<B: Backend>(backend: B) {
    let idle = backend.read_models("idle").await;
    assert!(matches!(idle.wait_for(1, WAIT_SHORT).await, Err(ReadError::Behind { wanted: 1, applied: 0 })));
    assert_eq!(idle.wait_for(0, WAIT_SHORT).await.unwrap(), 0, "position 0 is always reached");

    let writer = start_writer(&backend);
    let handle = writer.handle();
    let live = backend.read_models("live").await;
    let runner = spawn_embedded(live.clone(), backend.log(), handle.committed(), Some(handle.feed()));
    let world = setup_world(&handle).await.unwrap();
    let position = *handle.committed().borrow();
    assert!(live.wait_for(position, WAIT_GENEROUS).await.unwrap() >= position);
    let wanted = position + 1_000;
    match live.wait_for(wanted, WAIT_SHORT).await {
        Err(ReadError::Behind { wanted: reported, applied }) => assert_eq!((reported, applied), (wanted, position)),
        other => panic!("expected Behind, got {other:?}"),
    }
    // A waiter parked before the command is woken by its apply.
    let waiter = {
        let live = live.clone();
        tokio::spawn(async move { live.wait_for(position + 1, WAIT_GENEROUS).await })
    };
    let committed = run_purchase(&handle, &world, 1).await.unwrap();
    let last = committed.last().unwrap().1.position;
    assert!(waiter.await.unwrap().unwrap() > position);
    assert!(live.wait_for(last, WAIT_GENEROUS).await.unwrap() >= last);
    assert_eq!(live.wallet(world.customer).await.unwrap().unwrap().balance, Amount::ZERO, "the purchase is visible");
    blocking(move || writer.shutdown());
    runner.await.unwrap();
}

on_both_backends!(
    a_random_workload_projects_consistently,
    the_worked_example_shows_the_design_figures,
    wait_for_returns_once_applied_and_reports_behind,
);
