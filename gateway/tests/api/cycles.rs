//! Settlement cycles (结算周期) and supplier bills (issue 12), over HTTP: a cycle set per
//! counterparty issues its statement when it comes round (from the clock, or `kboss settle
//! --due`), reproducible by its hash; a supplier's CSV bill is matched against the book's
//! payables in 2202 with every difference named.

use chrono::{Datelike, Utc};
use clap::Parser;
use event_log::{LogRead, SqliteReader};
use gateway::cli::{run, Cli};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn tick(app: &TestApp) -> Vec<String> {
    let committed = gateway::ticker::tick(&app.state, Utc::now()).await.expect("a tick is decided");
    committed.events.iter().map(|event| event.event_type().to_owned()).collect()
}

fn cycle_path(world: &World, counterparty: &str) -> String {
    format!("/v1/books/{}/settlement-cycles/{counterparty}", world.platform)
}

#[tokio::test]
async fn a_monthly_cycle_issues_the_statement_due_reproducible_by_its_hash() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "1000.00").await;
    buy(&app, &world).await;
    let path = cycle_path(&world, &world.supplier);
    let set = app.put(&path, &world.admin, json!({ "every": "month", "day": 1 })).await.expect(200);
    assert_eq!((set["every"].as_str(), set["day"].as_u64()), (Some("month"), Some(1)));
    let list = format!("/v1/books/{}/settlement-cycles", world.platform);
    let cycles = app.get(&list, &world.admin).await.expect(200);
    let expected = json!([{
        "org_id": world.platform, "counterparty_id": world.supplier, "counterparty_name": "Cloud Supplier",
        "every": "month", "day": 1, "position": set["position"]
    }]);
    assert_eq!((&cycles["items"], &cycles["next_cursor"]), (&expected, &Value::Null));
    assert_eq!(app.get(&path, &world.admin).await.expect(200), expected[0]);
    assert_eq!(app.get(&format!("{list}?every=week"), &world.admin).await.expect(200)["items"], json!([]));
    let unknown = app.get(&format!("{list}?every=year"), &world.admin).await;
    assert_eq!((unknown.status.as_u16(), unknown.body["field"].as_str()), (422, Some("every")));
    let refused = app.put(&path, &world.admin, json!({ "every": "month", "day": 29 })).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("day")));
    let customer = cycle_path(&world, &world.customer);
    assert_eq!(app.put(&customer, &world.admin, json!({ "every": "week", "day": 1 })).await.status.as_u16(), 404);
    assert_eq!(app.get(&customer, &world.admin).await.status.as_u16(), 404);

    app.clock.set(date("2026-01-31"));
    assert_eq!(tick(&app).await, Vec::<String>::new(), "January has not ended");
    app.clock.set(date("2026-02-01"));
    assert_eq!(tick(&app).await, ["SettlementStatementIssued"]);

    let settlements = app.get(&format!("/v1/books/{}/settlements", world.platform), &world.admin).await.expect(200);
    let statement = &settlements["items"][0];
    let figures: Vec<&str> = ["counterparty_id", "from", "to", "payable", "receivable", "total", "status"]
        .iter()
        .map(|field| statement[*field].as_str().unwrap())
        .collect();
    assert_eq!(figures, [world.supplier.as_str(), "2026-01-15", "2026-01-31", "700.00", "0.00", "700.00", "issued"]);
    assert_eq!(statement["lines"].as_array().unwrap().len(), 1);
    // The same statement asked for by hand is the one issued: the same hash.
    let by_hand = json!({ "org_id": world.platform, "counterparty_id": world.supplier, "from": "2026-01-15", "to": "2026-01-31" });
    let again = app.post("/v1/settlements", &world.admin, by_hand).await.expect(201);
    assert_eq!((&again["id"], &again["statement_hash"]), (&statement["id"], &statement["statement_hash"]));
    assert_eq!(tick(&app).await, Vec::<String>::new(), "issued once");

    let removed = app.call(reqwest::Method::DELETE, &path, Some(&world.admin), None, None).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert_eq!(app.get(&list, &world.admin).await.expect(200)["items"], json!([]));
    app.stop().await;
}

/// `kboss settle --due` issues what the cycles made due, as the clock would, and nothing twice.
#[tokio::test]
async fn kboss_settle_due_issues_the_statements_the_cycles_made_due_once() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "1000.00").await;
    buy(&app, &world).await;
    let path = format!("/v1/books/{}/settlement-cycles/{}", world.r1, world.r2);
    app.put(&path, &world.r1_finance, json!({ "every": "month", "day": 1 })).await.expect(200);
    let data_dir = app.stop().await;
    let kept = data_dir.path();
    let before = SqliteReader::open(kept).unwrap().last_position().unwrap();
    let settle = || {
        let arguments = ["kboss", "--data-dir", kept.to_str().unwrap(), "settle", "--due"];
        run(Cli::parse_from(arguments))
    };
    settle().await.expect("kboss settle --due");

    let mut reader = SqliteReader::open(kept).unwrap();
    assert_eq!(reader.last_position().unwrap(), before + 1, "one statement: R1 with R2");
    let event = reader.read_after(before, 1).unwrap().remove(0);
    let ledger_core::EventPayload::SettlementStatementIssued(statement) = &event.event.payload else {
        panic!("{event:?}")
    };
    // Through the day before the first of this month (the run's accounting date is today's).
    let today = Utc::now().date_naive();
    let to = today.with_day(1).unwrap().pred_opt().unwrap();
    assert_eq!((statement.from, statement.to), (date("2026-01-15"), to));
    assert_eq!((statement.receivable.to_string(), statement.payable.to_string()), ("880.00".into(), "0.00".into()));
    settle().await.expect("kboss settle --due, again");
    assert_eq!(SqliteReader::open(kept).unwrap().last_position().unwrap(), before + 1, "nothing twice");
    let bad =
        run(Cli::parse_from(["kboss", "--data-dir", kept.to_str().unwrap(), "settle", "--book", &world.r1])).await;
    assert!(bad.unwrap_err().to_string().contains("--due"));
}

/// A supplier's bill, as CSV, against the payables.
async fn reconcile(app: &TestApp, world: &World, token: &str, query: &str, csv: &str) -> (StatusCode, Value) {
    // What was written by others' tokens is read once the read models hold it.
    let path = format!("/v1/books/{}/supplier-bills?{query}&min_position={}", world.platform, app.log_position());
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_documented("post", &path, status.as_u16());
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_supplier_bill_is_matched_against_the_payables_of_the_period_with_every_difference_named() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    let first = buy(&app, &world).await;
    let second = buy(&app, &world).await;
    let query = format!("supplier_id={}&from=2026-01-01&to=2026-01-31", world.supplier);
    let csv = format!(
        "date,reference,amount,note\n2026-01-15,{first},700.00,GPU\n2026-01-15,{second},690.00,GPU\n2026-01-20,,5.00,\"fee, misc\"\n"
    );

    let (status, answer) = reconcile(&app, &world, &world.admin, &query, &csv).await;

    assert_eq!(status, StatusCode::OK, "{answer}");
    let totals: Vec<&Value> = ["matched", "bill_lines", "payables", "theirs_total", "ours_total", "difference"]
        .map(|field| &answer[field])
        .to_vec();
    assert_eq!(totals, [&json!(1), &json!(3), &json!(2), &json!("1395.00"), &json!("1400.00"), &json!("-5.00")]);
    let differences = answer["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 2, "{answer}");
    let kinds: Vec<(&str, &Value, &Value, &Value)> = differences
        .iter()
        .map(|difference| {
            (difference["kind"].as_str().unwrap(), &difference["row"], &difference["ours"], &difference["theirs"])
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("amount_differs", &json!(3), &json!("700.00"), &json!("690.00")),
            ("missing_in_ours", &json!(4), &Value::Null, &json!("5.00")),
        ]
    );
    assert_eq!(differences[0]["reference"], second.as_str());
    // An empty bill: both payables are missing from it.
    let (_, empty) = reconcile(&app, &world, &world.admin, &query, "date,amount\n").await;
    assert_eq!((&empty["matched"], empty["differences"].as_array().unwrap().len()), (&json!(0), 2));
    let (status, problem) = reconcile(&app, &world, &world.admin, &query, "when,amount\n").await;
    assert_eq!((status.as_u16(), problem["field"].as_str()), (422, Some("body")));
    let (status, _) =
        reconcile(&app, &world, &world.admin, &format!("supplier_id={}&from=2026-01-01&to=2026-01-31", world.r1), &csv)
            .await;
    assert_eq!(status.as_u16(), 404, "R1 is no supplier");
    let (status, _) = reconcile(&app, &world, &world.r2_finance, &query, &csv).await;
    assert_eq!(status.as_u16(), 404, "another tenant's book");
    app.stop().await;
}
