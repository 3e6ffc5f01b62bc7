//! Issue 14, replay under other rules: `kboss replay --rules FILE --book ORG --from --to` books
//! a period of one book again under a proposed rule set, writes nothing, and says the
//! differences per account with the events that cause them. DESIGN §2.5's world, its discounts
//! proposed as selling expenses (6601) rather than sales discounts (6001.99), on an embedded data
//! directory and on a PostgreSQL deployment.

use clap::Parser;
use event_log::{LogRead, PostgresReader, SqliteReader};
use gateway::cli::{run, Cli};
use serde_json::json;

use crate::helpers::*;

/// What `SetPostingRules` would take: the seller's and the intermediate's sale rules with the
/// discount (`list - price`) booked to 6601.
fn proposed_rules() -> String {
    let rule = |role: &str, account: &str, party: &str| {
        json!({
            "kind": "sale",
            "role": role,
            "lines": [
                { "account": account, "party": party, "side": "debit", "amount": "price" },
                { "account": "6601", "side": "debit", "amount": "list - price" },
                { "account": "6001", "side": "credit", "amount": "list" },
            ],
        })
    };
    json!({ "command": "set_posting_rules", "rules": [rule("seller", "2203", "customer"), rule("intermediate", "1122", "child")] })
        .to_string()
}

/// The §2.5 purchase (2000.00 recharged, one unit bought), then a refund of 95.00 without
/// penalty: answers the payment's position.
async fn purchase_and_refund(app: &TestApp, world: &World) -> u64 {
    recharge(app, world, "2000.00").await;
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let order = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    let order = order["id"].as_str().unwrap().to_owned();
    let paid = app.post(&format!("/v1/orders/{order}/pay"), &world.customer_token, json!({})).await.expect(200);
    let refund = json!({ "amount": "95.00", "reason": "partial" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);
    paid["position"].as_u64().unwrap()
}

fn replay(store: &mut impl LogRead, book: &str) -> String {
    let rules = gateway::replay::read_rules(&proposed_rules()).unwrap();
    let period = (date("2026-01-01"), date("2026-01-31"));
    let report = gateway::replay::replay_rules(store, rules, book.parse().unwrap(), period, |_| {}).unwrap();
    gateway::replay::render(&report)
}

fn expected(book: &str, paid: u64, moved: &str, entries: usize, rule: &str) -> String {
    let header = "account\tbooked_debit\tbooked_credit\treplayed_debit\treplayed_credit\tdebit_difference\t\
                  credit_difference\tpositions";
    let (booked, reversed) = match moved {
        "50.00" => ("50.00", "5.00"),
        "120.00" => ("120.00", "12.00"),
        _ => ("200.00", "20.00"),
    };
    format!(
        "replay of book {book} from 2026-01-01 to 2026-01-31 under sale/intermediate, sale/seller: {entries} entries \
         in the period, 1 booked by a kind and role the proposal changes, 1 changed, 0 not replayed\n{header}\n\
         6001.99\t{booked}\t{reversed}\t0.00\t{reversed}\t-{moved}\t0.00\t{paid}\n\
         6601\t0.00\t0.00\t{moved}\t0.00\t{moved}\t0.00\t{paid}\n\
         entry\t{paid}\tOrderPaid\t2026-01-15\t{rule} v1\t6001.99 debit -{moved}, 6601 debit {moved}\n"
    )
}

async fn kboss(arguments: &[&str]) -> Result<(), String> {
    let mut all = vec!["kboss"];
    all.extend_from_slice(arguments);
    run(Cli::parse_from(all)).await.map_err(|error| error.to_string())
}

#[tokio::test]
async fn the_worked_example_replayed_with_discounts_as_selling_expenses_on_an_embedded_store() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let paid = purchase_and_refund(&app, &world).await;
    let logged = app.log_position();
    let data_dir = app.stop().await;
    let mut store = SqliteReader::open(data_dir.path()).unwrap();

    // R2 sold to C: its 50.00 discount moves; the refund's 5.00, booked by the refund rule the
    // proposal keeps, stays. Entries: the recharge, the sale's two, the refund's two.
    assert_eq!(replay(&mut store, &world.r2), expected(&world.r2, paid, "50.00", 5, "sale/seller"));
    // R1 and the platform sold to a reseller: their intermediate entries move 120.00 and 200.00.
    assert_eq!(replay(&mut store, &world.r1), expected(&world.r1, paid, "120.00", 4, "sale/intermediate"));
    assert_eq!(replay(&mut store, &world.platform), expected(&world.platform, paid, "200.00", 4, "sale/intermediate"));

    // The command: it reads the data directory and writes nothing.
    let directory = tempfile::tempdir().unwrap();
    let rules = directory.path().join("rules.json");
    std::fs::write(&rules, proposed_rules()).unwrap();
    let (data, rules) = (data_dir.path().to_str().unwrap(), rules.to_str().unwrap());
    let arguments = ["--data-dir", data, "replay", "--rules", rules, "--book", &world.r2, "--from", "2026-01-01"];
    kboss(&[&arguments[..], &["--to", "2026-01-31"]].concat()).await.expect("the replay runs");
    assert_eq!(SqliteReader::open(data_dir.path()).unwrap().last_position().unwrap(), logged, "nothing written");
    // A book the log does not keep, an unbalanced proposal, a period backwards: said, non-zero.
    let stranger = uuid::Uuid::now_v7().to_string();
    let error = kboss(&[
        "--data-dir",
        data,
        "replay",
        "--rules",
        rules,
        "--book",
        &stranger,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
    ])
    .await;
    assert_eq!(error.unwrap_err(), format!("replay: {stranger} keeps no book in this log (`kboss books` lists them)"));
    std::fs::write(directory.path().join("bad.json"), r#"[{"kind":"sale","role":"seller","lines":[{"account":"6001","side":"credit","amount":"list"},{"account":"6601","side":"debit","amount":"price"}]}]"#).unwrap();
    let bad = directory.path().join("bad.json");
    let error = kboss(&[
        "--data-dir",
        data,
        "replay",
        "--rules",
        bad.to_str().unwrap(),
        "--book",
        &world.r2,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
    ])
    .await;
    let error = error.unwrap_err();
    assert!(error.starts_with("replay: the rule file: rule 0: debits and credits differ for"), "{error}");
    let error = kboss(&[
        "--data-dir",
        data,
        "replay",
        "--rules",
        rules,
        "--book",
        &world.r2,
        "--from",
        "2026-02-01",
        "--to",
        "2026-01-31",
    ])
    .await;
    assert!(error.unwrap_err().contains("from is after to"));
}

#[tokio::test]
async fn a_postgresql_log_replays_the_same() {
    let schema = format!("kboss_replay_{}", uuid::Uuid::now_v7().simple());
    let admin = crate::postgres::admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    let app = spawn_app(Options { database_url: Some(url.clone()), ..Options::default() }).await;
    let world = build_world(&app).await;
    let paid = purchase_and_refund(&app, &world).await;
    app.stop().await;
    let config: postgres::Config = url.parse().unwrap();
    let r2 = world.r2.clone();
    let text = tokio::task::spawn_blocking(move || {
        let mut store = PostgresReader::open(&config).unwrap();
        replay(&mut store, &r2)
    })
    .await
    .unwrap();
    assert_eq!(text, expected(&world.r2, paid, "50.00", 5, "sale/seller"));
    let directory = tempfile::tempdir().unwrap();
    let rules = directory.path().join("rules.json");
    std::fs::write(&rules, proposed_rules()).unwrap();
    let arguments = [
        "--database-url",
        &url,
        "replay",
        "--rules",
        rules.to_str().unwrap(),
        "--book",
        &world.r2,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
    ];
    kboss(&arguments).await.expect("the replay runs on PostgreSQL");
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
