//! Issue 14, reconciliation: R2's bank account (1002) against a bank's CSV read through a column
//! mapping and against its CAMT.053 XML, and its payment-channel clearing (1012) against an
//! Alipay bill with Chinese headers (the committed fixtures of `tests/fixtures/reconcile/`):
//! one to one, many to one and within a tolerance, what is left on each side, a suggestion; a
//! dry run stores nothing, a recorded one is an event and has a GET; `kboss reconcile` alike.

use clap::Parser;
use gateway::cli::{run, Cli};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::payments::{notification, notify, online_recharge, world_with_r2s_channel};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/reconcile/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A recharge by finance, approved by another finance token: the position of its booking.
async fn recharge_by(app: &TestApp, world: &World, amount: &str, method: &str, reference: &str) -> u64 {
    let body = json!({ "customer_id": world.customer, "amount": amount, "method": method, "reference": reference });
    let pending = app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
    app.log_position()
}

/// One of our lines: a recharge's debit on 1002 or 1012 is its entry's first line; a
/// withdrawal's credit (Dr 2203[C], Cr 1002) its second.
fn ours(position: u64, date: &str, amount: &str) -> Value {
    let line = if amount.starts_with('-') { 1 } else { 0 };
    json!({ "position": position, "entry_id": format!("{position}-0"), "line": line, "date": date, "amount": amount })
}

fn theirs(row: u32, date: &str, amount: &str, reference: &str) -> Value {
    json!({ "row": row, "date": date, "amount": amount, "reference": reference })
}

fn group(kind: &str, ours: Vec<Value>, theirs: Vec<Value>, difference: &str) -> Value {
    json!({ "kind": kind, "ours": ours, "theirs": theirs, "difference": difference })
}

/// R2's 1002 in January: 2000.00 (the 15th), 500.00 and a 300.00 transfer (the 16th), 100.00
/// and a 120.00 withdrawal paid out (the 17th). Answers their positions.
async fn bank_lines(app: &TestApp, world: &World) -> [u64; 5] {
    let slip = recharge_by(app, world, "2000.00", "offline", "slip 42").await;
    app.clock.set(date("2026-01-16"));
    let five = recharge_by(app, world, "500.00", "offline", "slip 43").await;
    let three = recharge_by(app, world, "300.00", "transfer", "wire 7").await;
    app.clock.set(date("2026-01-17"));
    let hundred = recharge_by(app, world, "100.00", "offline", "slip 44").await;
    let body = json!({ "customer_id": world.customer, "amount": "120.00", "route": "offline" });
    let pending = app.post("/v1/withdrawals", &world.r2_finance, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
    [slip, five, three, hundred, app.log_position()]
}

async fn kboss(arguments: &[&str]) -> Result<(), String> {
    let mut all = vec!["kboss"];
    all.extend_from_slice(arguments);
    run(Cli::parse_from(all)).await.map_err(|error| error.to_string())
}

#[tokio::test]
async fn a_bank_csv_a_camt053_and_an_alipay_bill_reconcile_with_exact_figures() {
    let (app, world, private) = world_with_r2s_channel().await;
    let r2 = world.r2.as_str();
    let [slip, five, three, hundred, payout] = bank_lines(&app, &world).await;
    // 1012: two online recharges paid through R2's Alipay channel on the 15th.
    app.clock.set(date("2026-01-15"));
    let first = online_recharge(&app, &world.customer_token, &world.customer, "950.00").await;
    assert_eq!(notify(&app, &notification(&private, "2026011522001400001", &first, "950.00", &[])).await.0, 200);
    let online_950 = app.log_position();
    let second = online_recharge(&app, &world.customer_token, &world.customer, "300.00").await;
    assert_eq!(notify(&app, &notification(&private, "2026011522001400002", &second, "300.00", &[])).await.0, 200);
    let online_300 = app.log_position();
    app.clock.set(date("2026-02-01"));
    let path = format!("/v1/books/{r2}/reconciliations");
    let mapping: Value = serde_json::from_str(&fixture("bank-mapping.json")).unwrap();

    // The bank's CSV, a dry run: 2000.00 one to one, 800.00 the 500.00 and 300.00 of the 16th
    // (many to one), the -119.50 paid out against our -120.00 within the 0.50 tolerance; the
    // bank's 5.00 fee unmatched; its late 100.00 suggested against ours of the 17th.
    let csv = json!({
        "account": "1002", "format": "csv", "mapping": mapping,
        "tolerance": { "amount": "0.50", "days": 1 }, "dry_run": true, "statement": fixture("bank.csv"),
    });
    let before = app.log_position();
    let dry = app.post(&path, &world.r2_finance, csv.clone()).await.expect(200);
    assert_eq!(app.log_position(), before, "a dry run records nothing");
    assert_eq!((&dry["id"], &dry["dry_run"], &dry["position"]), (&Value::Null, &json!(true), &Value::Null));
    assert_eq!((&dry["book"], &dry["account"], &dry["format"]), (&json!(r2), &json!("1002"), &json!("csv")));
    assert_eq!(dry["statement_sha256"], gateway::reconcile::statement_hash(&fixture("bank.csv")));
    assert_eq!(dry["tolerance"], json!({ "amount": "0.50", "days": 1 }));
    let matched_csv = json!([
        group(
            "one_to_one",
            vec![ours(slip, "2026-01-15", "2000.00")],
            vec![theirs(1, "2026-01-15", "2000.00", "TRANSFER SLIP 42")],
            "0.00"
        ),
        group(
            "one_to_one",
            vec![ours(payout, "2026-01-17", "-120.00")],
            vec![theirs(3, "2026-01-18", "-119.50", "PAYOUT CUSTOMER C")],
            "0.50"
        ),
        group(
            "many_to_one",
            vec![ours(five, "2026-01-16", "500.00"), ours(three, "2026-01-16", "300.00")],
            vec![theirs(2, "2026-01-16", "800.00", "BATCH DEPOSIT 2 ITEMS")],
            "0.00",
        ),
    ]);
    assert_eq!(dry["matched"], matched_csv);
    assert_eq!(dry["unmatched_ours"], json!([ours(hundred, "2026-01-17", "100.00")]));
    assert_eq!(
        dry["unmatched_theirs"],
        json!([theirs(4, "2026-01-20", "-5.00", "ACCOUNT FEE"), theirs(5, "2026-01-25", "100.00", "LATE CREDIT")])
    );
    assert_eq!(
        dry["suggestions"],
        json!([group(
            "suggested",
            vec![ours(hundred, "2026-01-17", "100.00")],
            vec![theirs(5, "2026-01-25", "100.00", "LATE CREDIT")],
            "0.00"
        )])
    );

    // Recorded: the same figures, an event of its own, and a GET.
    let mut recorded = csv.clone();
    recorded["dry_run"] = json!(false);
    let answer = app.post(&path, &world.r2_finance, recorded).await.expect(201);
    let position = app.log_position();
    assert_eq!(position, before + 1);
    assert_eq!((&answer["dry_run"], &answer["position"]), (&json!(false), &json!(position)));
    for field in
        ["matched", "unmatched_ours", "unmatched_theirs", "suggestions", "statement_sha256", "through_position"]
    {
        assert_eq!(answer[field], dry[field], "{field}");
    }
    let id = answer["id"].as_str().unwrap();
    let read = app.get(&format!("/v1/reconciliations/{id}"), &world.r2_finance).await.expect(200);
    assert_eq!(read, answer);
    let event = app.get(&format!("/v1/events/{position}"), &world.r2_finance).await.expect(200);
    assert_eq!((&event["event_type"], &event["entries"]), (&json!("ReconciliationRecorded"), &json!([])));
    // A retry with its key, after the book moved on, answers the reconciliation recorded.
    let mut keyed = csv.clone();
    keyed["dry_run"] = json!(false);
    let once = app.post_keyed(&path, &world.r2_finance, "reconcile-jan", keyed.clone()).await.expect(201);
    recharge_by(&app, &world, "1.00", "offline", "slip 45").await;
    let again = app.post_keyed(&path, &world.r2_finance, "reconcile-jan", keyed).await.expect(201);
    assert_eq!(again, once);
    // Another book's staff do not see it; sales may not reconcile.
    assert_eq!(app.get(&format!("/v1/reconciliations/{id}"), &world.r1_finance).await.status.as_u16(), 404);
    assert_eq!(app.post(&path, &world.r2_sales, csv.clone()).await.status.as_u16(), 403);

    // The bank's CAMT.053 of the same month: the pending entry is no row; the late credit is not
    // in it.
    let camt = json!({
        "account": "1002", "format": "camt053", "tolerance": { "amount": "0.50", "days": 1 },
        "dry_run": true, "statement": fixture("camt053.xml"),
    });
    let dry = app.post(&path, &world.r2_finance, camt).await.expect(200);
    assert_eq!(
        dry["matched"],
        json!([
            group(
                "one_to_one",
                vec![ours(slip, "2026-01-15", "2000.00")],
                vec![theirs(1, "2026-01-15", "2000.00", "TRANSFER SLIP 42")],
                "0.00"
            ),
            group(
                "one_to_one",
                vec![ours(payout, "2026-01-17", "-120.00")],
                vec![theirs(3, "2026-01-18", "-119.50", "PAYOUT CUSTOMER C & FEE")],
                "0.50"
            ),
            group(
                "many_to_one",
                vec![ours(five, "2026-01-16", "500.00"), ours(three, "2026-01-16", "300.00")],
                vec![theirs(2, "2026-01-16", "800.00", "BANKREF-0002")],
                "0.00",
            ),
        ])
    );
    assert_eq!(dry["unmatched_ours"], json!([ours(hundred, "2026-01-17", "100.00")]));
    assert_eq!(dry["unmatched_theirs"], json!([theirs(4, "2026-01-20", "-5.00", "ACCOUNT FEE")]));
    assert_eq!(dry["suggestions"], json!([]));

    // The Alipay bill against 1012, exact: both payments one to one; Alipay's 5.70 fee left for a
    // manual entry.
    let alipay = json!({
        "account": "1012", "format": "alipay", "tolerance": { "amount": "0.00", "days": 0 },
        "dry_run": false, "statement": fixture("alipay.csv"),
    });
    let answer = app.post(&path, &world.r2_finance, alipay).await.expect(201);
    assert_eq!(
        answer["matched"],
        json!([
            group(
                "one_to_one",
                vec![ours(online_950, "2026-01-15", "950.00")],
                vec![theirs(1, "2026-01-15", "950.00", "CHECKOUT-1")],
                "0.00"
            ),
            group(
                "one_to_one",
                vec![ours(online_300, "2026-01-15", "300.00")],
                vec![theirs(3, "2026-01-15", "300.00", "CHECKOUT-2")],
                "0.00"
            ),
        ])
    );
    assert_eq!(answer["unmatched_ours"], json!([]));
    assert_eq!(
        answer["unmatched_theirs"],
        json!([theirs(2, "2026-01-15", "-5.70", "CHECKOUT-1 服务费[2026011522001400001]")])
    );

    // What cannot be read is named, and books nothing.
    let bad = |account: &str, format: &str, statement: &str| json!({ "account": account, "format": format, "tolerance": { "amount": "0.00", "days": 0 }, "dry_run": true, "statement": statement });
    let before = app.log_position();
    let refused = app.post(&path, &world.r2_finance, bad("2203", "alipay", "x")).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("account")));
    let refused = app.post(&path, &world.r2_finance, bad("1002", "mt940", "x")).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("format")));
    let refused = app.post(&path, &world.r2_finance, bad("1002", "csv", "a,b\n1,2\n")).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "invalid_statement"));
    assert_eq!(refused.body["detail"], "statement: a csv statement needs a mapping of its columns");
    let refused = app.post(&path, &world.r2_finance, bad("1002", "camt053", "<Document><Ntry>")).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "invalid_statement"));
    assert_eq!(app.log_position(), before);

    // `kboss reconcile`: the dry run, then recorded through the writer (the server stopped).
    let data_dir = app.stop().await;
    let directory = tempfile::tempdir().unwrap();
    let statement = directory.path().join("bank.csv");
    std::fs::write(&statement, fixture("bank.csv")).unwrap();
    let mapping_file = directory.path().join("mapping.json");
    std::fs::write(&mapping_file, fixture("bank-mapping.json")).unwrap();
    let data = data_dir.path().to_str().unwrap();
    let arguments = [
        "--data-dir",
        data,
        "reconcile",
        "--book",
        r2,
        "--account",
        "1002",
        "--format",
        "csv",
        "--statement",
        statement.to_str().unwrap(),
        "--mapping",
        mapping_file.to_str().unwrap(),
        "--tolerance-amount",
        "0.50",
        "--tolerance-days",
        "1",
    ];
    kboss(&arguments).await.expect("the dry run");
    kboss(&[&arguments[..], &["--record"]].concat()).await.expect("recorded");
    let restarted = spawn_app(Options { data_dir: Some(data_dir), ..Options::default() }).await;
    let last = restarted.log_position();
    let event = restarted.get(&format!("/v1/events/{last}"), &world.r2_finance).await.expect(200);
    assert_eq!(event["event_type"], "ReconciliationRecorded");
    assert_eq!(event["payload"]["groups"].as_array().map(Vec::len), Some(4), "three matches and a suggestion");
    let id = event["payload"]["reconciliation_id"].as_str().unwrap();
    let read = restarted.get(&format!("/v1/reconciliations/{id}"), &world.r2_finance).await.expect(200);
    assert_eq!(read["matched"], matched_csv);
    restarted.stop().await;
}

#[test]
fn the_fixtures_parse_to_their_rows() {
    use gateway::reconcile::{parse_statement, ColumnMapping};
    use ledger_core::money::Currency;
    use ledger_core::reconcile::StatementFormat;
    let mapping: ColumnMapping = serde_json::from_str(&fixture("bank-mapping.json")).unwrap();
    let show = |rows: Vec<ledger_core::reconcile::StatementRow>| -> Vec<String> {
        rows.iter().map(|row| format!("{} {} {} {}", row.row, row.date, row.amount, row.reference)).collect()
    };
    let csv = parse_statement(StatementFormat::Csv, &fixture("bank.csv"), Some(&mapping), Currency::CNY).unwrap();
    assert_eq!(
        show(csv),
        [
            "1 2026-01-15 2000.00 TRANSFER SLIP 42",
            "2 2026-01-16 800.00 BATCH DEPOSIT 2 ITEMS",
            "3 2026-01-18 -119.50 PAYOUT CUSTOMER C",
            "4 2026-01-20 -5.00 ACCOUNT FEE",
            "5 2026-01-25 100.00 LATE CREDIT",
        ]
    );
    let camt = parse_statement(StatementFormat::Camt053, &fixture("camt053.xml"), None, Currency::CNY).unwrap();
    assert_eq!(
        show(camt),
        [
            "1 2026-01-15 2000.00 TRANSFER SLIP 42",
            "2 2026-01-16 800.00 BANKREF-0002",
            "3 2026-01-18 -119.50 PAYOUT CUSTOMER C & FEE",
            "4 2026-01-20 -5.00 ACCOUNT FEE",
        ]
    );
    let alipay = parse_statement(StatementFormat::Alipay, &fixture("alipay.csv"), None, Currency::CNY).unwrap();
    assert_eq!(
        show(alipay),
        [
            "1 2026-01-15 950.00 CHECKOUT-1",
            "2 2026-01-15 -5.70 CHECKOUT-1 服务费[2026011522001400001]",
            "3 2026-01-15 300.00 CHECKOUT-2",
        ]
    );
    let error = parse_statement(StatementFormat::Camt053, &fixture("camt053.xml"), None, Currency::USD).unwrap_err();
    assert_eq!(error, "Ntry 1: its Amt is in \"CNY\", the book's currency is USD");
}
