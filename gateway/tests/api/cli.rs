//! The `kboss` subcommands on a data directory the server wrote: verify, replay, rebuild,
//! export, and a settlement run that issues nothing twice when run again.

use clap::Parser;
use event_log::{LogRead, SqliteReader};
use gateway::cli::{run, Cli};

use crate::helpers::*;

async fn kboss(data_dir: &std::path::Path, arguments: &[&str]) {
    let mut all = vec!["kboss", "--data-dir", data_dir.to_str().unwrap()];
    all.extend_from_slice(arguments);
    run(Cli::parse_from(all)).await.unwrap_or_else(|error| panic!("kboss {arguments:?}: {error}"));
}

fn last_position(data_dir: &std::path::Path) -> u64 {
    SqliteReader::open(data_dir).unwrap().last_position().unwrap()
}

#[tokio::test]
async fn the_subcommands_work_on_the_servers_data() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    buy(&app, &world).await;
    // The writer's lock is released once the server stops; the subcommands take it in turn.
    let data_dir = app.stop().await;
    let kept = data_dir.path();
    let logged = last_position(kept);

    kboss(kept, &["verify"]).await;
    kboss(kept, &["replay"]).await;
    kboss(kept, &["rebuild"]).await;
    kboss(kept, &["export", "--book", &world.r2, "--format", "csv"]).await;
    kboss(kept, &["settle", "--book", &world.r1, "--from", "2026-01-01", "--to", "2026-01-31"]).await;
    let settled = last_position(kept);
    assert_eq!(settled, logged + 1, "one statement: R1's only counterparty with open items is R2");
    kboss(kept, &["settle", "--book", &world.r1, "--from", "2026-01-01", "--to", "2026-01-31"]).await;
    assert_eq!(last_position(kept), settled, "a second run issues nothing");
    kboss(kept, &["verify"]).await;
}

#[tokio::test]
async fn verify_rebuild_and_export_never_create_a_store_and_name_where_they_looked() {
    let empty = tempfile::tempdir().unwrap();
    let directory = empty.path().to_str().unwrap();
    let expected = empty.path().join("kboss.sqlite");
    let book = uuid::Uuid::nil().to_string();
    for arguments in [vec!["verify"], vec!["rebuild"], vec!["export", "--book", &book, "--format", "csv"]] {
        let mut all = vec!["kboss", "--data-dir", directory];
        all.extend(arguments.iter().copied());
        let error = run(Cli::parse_from(all)).await.expect_err("no log here: the command fails");
        let message = error.to_string();
        assert!(message.contains(&format!("no log at {}", expected.display())), "{arguments:?}: {message}");
        let left: Vec<_> = std::fs::read_dir(empty.path()).unwrap().collect();
        assert!(left.is_empty(), "{arguments:?} created {left:?}");
    }
}

fn kboss_fails(data_dir: &std::path::Path, arguments: &[&str]) -> impl std::future::Future<Output = String> {
    let mut all = vec!["kboss".to_owned(), "--data-dir".to_owned(), data_dir.to_str().unwrap().to_owned()];
    all.extend(arguments.iter().map(|argument| (*argument).to_owned()));
    async move { run(Cli::parse_from(all)).await.expect_err("the command is refused").to_string() }
}

#[tokio::test]
async fn posting_rules_manual_entries_and_sale_modes_from_the_command_line() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let data_dir = app.stop().await;
    let kept = data_dir.path();
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, body: serde_json::Value| {
        let path = files.path().join(name);
        std::fs::write(&path, body.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let logged = last_position(kept);

    // A rule that does not balance is refused with the symbolic check's reason; nothing written.
    let unbalanced = write(
        "unbalanced.json",
        serde_json::json!({ "role": "seller", "lines": [
            { "account": "6601", "side": "debit", "amount": "amount" },
            { "account": "2203.01", "party": "customer", "side": "credit", "amount": "amount - amount + amount + amount" }
        ] }),
    );
    let error = kboss_fails(kept, &["rules", "set", "--kind", "voucher.grant", "--file", &unbalanced]).await;
    assert!(error.starts_with("rule_unbalanced"), "{error}");
    assert_eq!(last_position(kept), logged);
    // Coupons to 6601.01 instead of 6601: version 1.
    let coupon = write(
        "coupon.json",
        serde_json::json!({ "role": "seller", "lines": [
            { "account": "6601", "side": "debit", "amount": "amount" },
            { "account": "2203", "party": "customer", "side": "credit", "amount": "amount" }
        ] }),
    );
    kboss(kept, &["rules", "set", "--kind", "coupon", "--file", &coupon]).await;
    assert_eq!(last_position(kept), logged + 1);

    // A manual entry in R2's book waits for approval (one event); a line without a side is
    // refused naming it.
    let today = chrono::Utc::now().date_naive().to_string();
    let entry = write(
        "entry.json",
        serde_json::json!({ "date": today, "memo": "bank fee", "lines": [
            { "account": "6601", "debit": "12.00" }, { "account": "1002", "credit": "12.00" }
        ] }),
    );
    kboss(kept, &["entries", "book", "--book", &world.r2, "--file", &entry]).await;
    assert_eq!(last_position(kept), logged + 2);
    let sideless =
        write("sideless.json", serde_json::json!({ "date": today, "memo": "x", "lines": [{ "account": "6601" }] }));
    let error = kboss_fails(kept, &["entries", "book", "--book", &world.r2, "--file", &sideless]).await;
    assert!(error.contains("lines[0].debit"), "{error}");

    // R2 turned rebate reseller at 5 % from a later day, decided for R1.
    let later = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    kboss(
        kept,
        &[
            "sale-mode",
            "--reseller",
            &world.r2,
            "--mode",
            "rebate",
            "--commission-rate",
            "0.05",
            "--effective-from",
            &later,
        ],
    )
    .await;
    assert_eq!(last_position(kept), logged + 3);
    let error = kboss_fails(kept, &["sale-mode", "--reseller", &world.r2, "--mode", "rebate"]).await;
    assert!(error.contains("commission_rate"), "{error}");

    // What they wrote, as the API reads it once the server is back.
    let app = spawn_app(Options { data_dir: Some(data_dir), ..Options::default() }).await;
    let rules =
        app.get(&format!("/v1/books/{}/posting-rules?kind=coupon", world.platform), &world.admin).await.expect(200);
    let versions: Vec<u64> =
        rules["items"].as_array().unwrap().iter().filter_map(|rule| rule["version"].as_u64()).collect();
    assert!(versions.contains(&1), "{rules}");
    let pending = app.get("/v1/approvals?status=pending", &world.r2_finance).await.expect(200);
    assert_eq!(pending["items"][0]["kind"], "manual_entry", "{pending}");
    let resellers = app.get("/v1/resellers", &world.r1_admin).await.expect(200);
    assert_eq!(
        resellers["items"][0]["scheduled_sale_modes"],
        serde_json::json!([{ "mode": "rebate", "commission_rate": "0.05", "effective_from": later }])
    );
    app.stop().await;
}
