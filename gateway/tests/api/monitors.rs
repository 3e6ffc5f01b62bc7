//! Issue 14, live invariant monitors: each watched invariant broken on purpose in the store, by
//! a forger who recomputes the hash chain (before a start, and while the server runs), is a
//! metric, a log line and one alert at the notifier's URL (a local receiver), with the position
//! that broke it; a customer whose wallet falls below its threshold gets one notice per
//! crossing.

use std::time::Duration;

use axum::routing::post;
use event_log::{LogAppend, LogRead, SqliteStore};
use ledger_core::chart::{AccountCode, Side};
use ledger_core::event::{BusinessBooked, EnvelopeMeta, Event, EventPayload, RecordedEvent};
use ledger_core::ids::OrgId;
use ledger_core::journal::{Entry, Line};
use ledger_core::money::{Amount, Currency};
use ledger_core::org::{Actor, Role};
use ledger_core::rules::RuleRef;
use serde_json::{json, Value};

use crate::helpers::*;

/// Bounds how long a test waits for a message or a metric (not a timing assertion).
const WAIT_MAX: Duration = Duration::from_secs(30);

/// A local receiver of the notifier's posts: each message's text.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let router = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(body["text"]["content"].as_str().unwrap_or_default().to_owned());
                axum::Json(json!({ "errcode": 0 }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address, received)
}

/// The next message starting with `prefix` (approval requests go to the same URL).
async fn next_message(received: &mut tokio::sync::mpsc::UnboundedReceiver<String>, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT_MAX;
    loop {
        let message = tokio::time::timeout_at(deadline, received.recv()).await.expect("a message came").unwrap();
        if message.starts_with(prefix) {
            return message;
        }
    }
}

/// The value of one metric line of `/metrics` (`name{labels}`), once the monitors have checked
/// the log through `position`.
async fn metric_after(app: &TestApp, position: u64, series: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT_MAX;
    loop {
        let text = app.call(reqwest::Method::GET, "/metrics", None, None, None).await.text;
        let value = |series: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
                .map(str::to_owned)
        };
        if value("kboss_monitor_position").and_then(|value| value.parse::<u64>().ok()) >= Some(position) {
            return value(series).unwrap_or_else(|| panic!("no {series} in {text}"));
        }
        assert!(tokio::time::Instant::now() < deadline, "the monitors did not reach {position}: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn line(account: &str, party: Option<&str>, side: Side, amount: &str) -> Line {
    Line {
        account: AccountCode::parse(account).unwrap(),
        party: party.map(|party| party.parse().unwrap()),
        side,
        amount: Amount::parse(amount).unwrap(),
        pair: None,
    }
}

/// A forger's event: a custom business of `book`, booked under `rule`, chained after `last`.
fn forged(last: &RecordedEvent, book: &str, rule: &str, lines: Vec<Line>) -> ledger_core::event::EncodedEvent {
    let book: OrgId = book.parse().unwrap();
    let payload = EventPayload::BusinessBooked(BusinessBooked {
        kind: "forged".into(),
        role: "book".into(),
        book,
        amounts: Default::default(),
        parties: Default::default(),
        memo: "forged".into(),
    });
    let entry = Entry {
        book,
        date: date("2026-01-15"),
        currency: Currency::CNY,
        rule: RuleRef { id: rule.into(), version: 1 },
        lines,
    };
    let meta = EnvelopeMeta {
        position: last.position + 1,
        event_id: uuid::Uuid::now_v7(),
        recorded_at: chrono::Utc::now(),
        effective_date: date("2026-01-15"),
        actor: Actor::new(book, ledger_core::ids::PrincipalId(uuid::Uuid::now_v7()), [Role::Admin]),
        idempotency_key: None,
        correlation_id: None,
    };
    RecordedEvent::staged(Event::with_entries(payload, vec![entry]), meta).seal_staged(&last.hash)
}

#[tokio::test]
async fn each_invariant_broken_in_the_store_is_alerted_once_with_its_position() {
    let (url, mut received) = receiver().await;
    let app = spawn_app(Options { webhook_url: Some(url.clone()), ..Options::default() }).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    buy(&app, &world).await;
    let sound = app.log_position();
    assert_eq!(metric_after(&app, sound, "kboss_invariant_breaches_open{invariant=\"wallets\"}").await, "0");
    let data_dir = app.stop().await;

    // The forger appends three events, each balanced and chained, each breaking one invariant.
    let (r1, r2, platform, supplier) = (&world.r1, &world.r2, &world.platform, &world.supplier);
    let positions = {
        let mut store = SqliteStore::open_writer(data_dir.path()).unwrap();
        let end = store.last_position().unwrap();
        let mut last = store.read_one(end).unwrap().unwrap();
        let mut positions = Vec::new();
        let forgeries = [
            // R2's 2203 credited for nobody: the book owes more than its customers' wallets hold.
            (
                r2,
                "forged/book",
                vec![line("1002", None, Side::Debit, "100.00"), line("2203", None, Side::Credit, "100.00")],
            ),
            // A settlement's line paying the supplier with no statement behind it.
            (
                platform,
                "settlement/issuer",
                vec![line("2202", Some(supplier), Side::Debit, "100.00"), line("1002", None, Side::Credit, "100.00")],
            ),
            // R1's receivable from R2 without R2's payable.
            (
                r1,
                "forged/book",
                vec![line("1122", Some(r2), Side::Debit, "30.00"), line("6001", None, Side::Credit, "30.00")],
            ),
        ];
        for (book, rule, lines) in forgeries {
            let encoded = forged(&last, book, rule, lines);
            store.append(std::slice::from_ref(&encoded), &[]).unwrap();
            positions.push(encoded.event.position);
            last = encoded.event;
        }
        positions
    };

    // The server starts on it (every entry balances, the chain verifies); its monitors fold the
    // log from position 0 and alert each breach once, with its position.
    let app = spawn_app(Options { webhook_url: Some(url), data_dir: Some(data_dir), ..Options::default() }).await;
    let mut alerts = Vec::new();
    for _ in 0..3 {
        alerts.push(next_message(&mut received, "KBOSS invariant breach").await);
    }
    alerts.sort();
    let mut expected = vec![
        format!(
            "KBOSS invariant breach: wallets at position {}: book {r2}: 2203 is 1150.00 but its customers' wallets \
             hold 1050.00 of cash",
            positions[0]
        ),
        format!(
            "KBOSS invariant breach: supplier_payables at position {}: book {platform} owes supplier {supplier} \
             600.00 on 2202, but its unpaid statements come to 0.00 and the items on no statement to 700.00",
            positions[1]
        ),
        format!(
            "KBOSS invariant breach: intercompany at position {}: book {r1}'s 1122 with {r2} is 910.00, but {r2}'s \
             2202 with {r1} is 880.00",
            positions[2]
        ),
    ];
    expected.sort();
    assert_eq!(alerts, expected);
    let last = app.log_position();
    for invariant in ["wallets", "supplier_payables", "intercompany"] {
        let counted = format!("kboss_invariant_breaches_total{{invariant=\"{invariant}\"}}");
        assert_eq!(metric_after(&app, last, &counted).await, "1", "{invariant}");
        let open = format!("kboss_invariant_breaches_open{{invariant=\"{invariant}\"}}");
        assert_eq!(metric_after(&app, last, &open).await, "1", "{invariant}");
    }
    // More business in the books concerned: the breaches are still open, and not found again.
    buy(&app, &world).await;
    let after = app.log_position();
    assert_eq!(metric_after(&app, after, "kboss_invariant_breaches_total{invariant=\"wallets\"}").await, "1");
    assert_eq!(metric_after(&app, after, "kboss_invariant_breaches_open{invariant=\"wallets\"}").await, "1");

    // While it serves, an unbalanced entry is written into the store behind the writer's back:
    // the trial balance breaks, and the monitors stop at the event that does not verify.
    let position = {
        let store = event_log::SqliteReader::open(app.data_dir.path()).unwrap();
        let mut store = store;
        let last = store.read_one(after).unwrap().unwrap();
        let encoded = forged(
            &last,
            r2,
            "forged/book",
            vec![line("1002", None, Side::Debit, "10.00"), line("6001", None, Side::Credit, "9.00")],
        );
        let connection = rusqlite::Connection::open(app.data_dir.path().join("kboss.sqlite")).unwrap();
        connection.busy_timeout(WAIT_MAX).unwrap();
        connection
            .execute(
                "INSERT INTO events (position, record, hash) VALUES (?1, ?2, ?3)",
                rusqlite::params![encoded.event.position as i64, encoded.record, encoded.digest.as_slice()],
            )
            .unwrap();
        encoded.event.position
    };
    let mut alerts = Vec::new();
    for _ in 0..3 {
        alerts.push(next_message(&mut received, "KBOSS invariant breach").await);
    }
    // Delivered concurrently: in any order.
    alerts.sort();
    assert_eq!(
        alerts,
        [
            format!(
                "KBOSS invariant breach: log at position {position}: event {position} does not verify (event \
                 {position}: entry 0 does not balance): the monitors stop here"
            ),
            format!("KBOSS invariant breach: trial_balance at position {position}: book {r2}: trial balance is off by 1.00"),
            format!("KBOSS invariant breach: unbalanced_entry at position {position}: event {position}: unbalanced entry in book {r2}"),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wallet_below_its_threshold_is_noticed_once_per_crossing() {
    let (url, mut received) = receiver().await;
    let app = spawn_app(Options { webhook_url: Some(url), ..Options::default() }).await;
    let world = build_world(&app).await;
    let c = world.customer.as_str();
    recharge(&app, &world, "1000.00").await;
    let path = format!("/v1/customers/{c}/low-balance-threshold");
    let set = app.put(&path, &world.customer_token, json!({ "threshold": "500.00" })).await.expect(200);
    assert_eq!((&set["customer_id"], &set["threshold"]), (&json!(c), &json!("500.00")));
    let balance = app.get(&format!("/v1/customers/{c}/balance"), &world.customer_token).await.expect(200);
    assert_eq!(balance["low_balance_threshold"], "500.00");
    let refused = app.put(&path, &world.customer_token, json!({ "threshold": "-1.00" })).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("threshold")));

    buy(&app, &world).await; // 1000.00 - 950.00 = 50.00: below
    let crossed = app.log_position();
    let notice = next_message(&mut received, "KBOSS low balance").await;
    assert_eq!(
        notice,
        format!("KBOSS low balance: customer {c}'s wallet is 50.00, below its threshold 500.00 (position {crossed})")
    );
    recharge(&app, &world, "2000.00").await; // 2050.00: above again
    buy(&app, &world).await; // 1100.00: still above
    buy(&app, &world).await; // 150.00: below again
    let again = app.log_position();
    let notice = next_message(&mut received, "KBOSS low balance").await;
    assert_eq!(
        notice,
        format!("KBOSS low balance: customer {c}'s wallet is 150.00, below its threshold 500.00 (position {again})")
    );
    assert_eq!(metric_after(&app, again, "kboss_low_balance_notices_total").await, "2");
    // Cleared (null): no threshold, nothing more to notice.
    let cleared = app.put(&path, &world.r2_sales, json!({ "threshold": null })).await.expect(200);
    assert_eq!(cleared["threshold"], Value::Null);
    let balance = app.get(&format!("/v1/customers/{c}/balance"), &world.customer_token).await.expect(200);
    assert_eq!(balance["low_balance_threshold"], Value::Null);
    app.stop().await;
}
