//! Issue 14's audit tools: a close certificate signed with the deployment's key and checked
//! offline against the book's export (`kboss audit check`), the public key kept across restarts,
//! and a book verified against the log (`GET /v1/books/{org}/verify`, `kboss verify`), read models
//! included.

use clap::Parser;
use gateway::audit::AuditKey;
use gateway::cli::{run, Cli};
use serde_json::{json, Value};

use crate::helpers::*;

async fn kboss(arguments: &[&str]) -> Result<(), String> {
    let mut all = vec!["kboss"];
    all.extend_from_slice(arguments);
    run(Cli::parse_from(all)).await.map_err(|error| error.to_string())
}

/// `kboss audit check` on three texts written to files.
async fn audit_check(certificate: &str, export: &str, public_key: &str) -> Result<(), String> {
    let directory = tempfile::tempdir().unwrap();
    let path = |name: &str, text: &str| {
        let path = directory.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (certificate, export, public_key) =
        (path("certificate.json", certificate), path("export.csv", export), path("public-key.json", public_key));
    kboss(&["audit", "check", "--certificate", &certificate, "--export", &export, "--public-key", &public_key]).await
}

/// The export with the one row on `account` changed by `change`.
fn with_row_changed(export: &str, account: &str, change: impl Fn(&str) -> Option<String>) -> String {
    let needle = format!(",{account},");
    let mut changed = 0;
    let lines: Vec<String> = export
        .lines()
        .filter_map(|line| {
            if line.contains(&needle) {
                changed += 1;
                change(line)
            } else {
                Some(line.to_owned())
            }
        })
        .collect();
    assert_eq!(changed, 1, "one row on {account} in {export}");
    lines.join("\n") + "\n"
}

#[tokio::test]
async fn a_close_certificate_checks_offline_against_the_export_and_every_change_is_named() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    buy(&app, &world).await;
    app.clock.set(date("2026-02-01"));
    let r2 = world.r2.as_str();

    // R2's January: the recharge (Dr 1002 2000.00), the sale (Dr 2203[C] 950.00, Dr 6001.99
    // 50.00, Cr 6001 1000.00) and its cost (Dr 6401 880.00, Cr 2202[R1] 880.00).
    let before = app.log_position();
    let close = json!({ "through": "2026-01-31" });
    let closed = app.post_keyed(&format!("/v1/books/{r2}/close"), &world.r2_finance, "close-jan", close.clone()).await;
    let closed = closed.expect(200);
    let certificate = &closed["certificate"];
    assert_eq!(certificate["version"], 1);
    assert_eq!(certificate["book"], r2);
    assert_eq!(certificate["through"], "2026-01-31");
    assert_eq!((&certificate["total_debit"], &certificate["total_credit"]), (&json!("3880.00"), &json!("3880.00")));
    assert_eq!(certificate["last_position"], before);
    assert_eq!(certificate["position"], before + 1);
    assert_eq!(closed["position"], before + 1);
    assert_eq!(certificate["algorithm"], "ed25519");
    assert!(certificate["rule_versions"]["sale/seller"].as_u64().is_some(), "{certificate}");
    // The chain hash is the log's at the last position, and the close's own link.
    let last = app.get(&format!("/v1/events/{before}"), &world.r2_finance).await.expect(200);
    assert_eq!(certificate["chain_hash"], last["hash"]);
    let close_event = app.get(&format!("/v1/events/{}", before + 1), &world.r2_finance).await.expect(200);
    assert_eq!(close_event["prev_hash"], last["hash"]);
    assert_eq!(close_event["payload"]["certificate"]["trial_balance_hash"], certificate["trial_balance_hash"]);
    // A retry answers the same certificate, signature included (Ed25519 is deterministic).
    let again = app.post_keyed(&format!("/v1/books/{r2}/close"), &world.r2_finance, "close-jan", close).await;
    assert_eq!(&again.expect(200)["certificate"], certificate);

    // The public key, for anyone; the one that signed.
    let key = app.call(reqwest::Method::GET, "/v1/audit/public-key", None, None, None).await.expect(200);
    assert_eq!(key["algorithm"], "ed25519");
    assert_eq!(key["public_key"], certificate["public_key"]);
    assert_eq!(key["public_key"].as_str().unwrap().len(), 64);

    let export = app.get(&format!("/v1/books/{r2}/export?format=csv&to=2026-01-31"), &world.r2_finance).await;
    assert_eq!(export.status.as_u16(), 200, "{}", export.text);
    let export = export.text;
    let (certificate_text, key_text) = (closed.to_string(), key.to_string());

    // The genuine pair: accepted, with the figures it recomputed.
    audit_check(&certificate_text, &export, &key_text).await.expect("the genuine pair is accepted");
    let report = gateway::audit::check(&certificate_text, &export, &key_text).unwrap();
    assert_eq!(report.failures, Vec::<String>::new());
    assert_eq!((report.lines, report.events), (7, 2));
    assert_eq!((report.total_debit.as_str(), report.total_credit.as_str()), ("3880.00", "3880.00"));
    assert_eq!(report.trial_balance_hash, certificate["trial_balance_hash"].as_str().unwrap());
    // The certificate alone (without the close's envelope) and the key as bare hex read too.
    let bare_key = key["public_key"].as_str().unwrap();
    audit_check(&certificate.to_string(), &export, bare_key).await.expect("the certificate alone");

    // A changed amount: the sales discount 50.00 → 60.00.
    let changed = with_row_changed(&export, "6001.99", |line| {
        assert!(line.contains(",50.00,0.00,"), "{line}");
        Some(line.replace(",50.00,0.00,", ",60.00,0.00,"))
    });
    let error = audit_check(&certificate_text, &changed, &key_text).await.expect_err("a changed amount");
    assert!(error.contains("trial balance: the export's 7 lines through 2026-01-31 total debit 3890.00, credit 3880.00; the certificate says debit 3880.00, credit 3880.00"), "{error}");
    let report = gateway::audit::check(&certificate_text, &changed, &key_text).unwrap();
    assert_eq!(report.failures.len(), 2, "totals and hash: {:?}", report.failures);
    assert!(report.failures[1].starts_with("trial balance hash: "), "{:?}", report.failures);

    // A dropped line: the cost's debit.
    let dropped = with_row_changed(&export, "6401", |_| None);
    let error = audit_check(&certificate_text, &dropped, &key_text).await.expect_err("a dropped line");
    assert!(error.contains("the export's 6 lines through 2026-01-31 total debit 3000.00, credit 3880.00"), "{error}");

    // A changed certificate: its last position moved (the signature no longer covers it).
    let mut forged = closed.clone();
    forged["certificate"]["last_position"] = json!(before + 7);
    let error = audit_check(&forged.to_string(), &export, &key_text).await.expect_err("a changed certificate");
    assert!(
        error.contains(
            "signature: does not verify with the public key given: the certificate was changed after it was signed"
        ),
        "{error}"
    );
    // A changed trial-balance hash fails the signature and the export's hash alike.
    let mut forged = closed.clone();
    forged["certificate"]["trial_balance_hash"] = json!("0".repeat(64));
    let report = gateway::audit::check(&forged.to_string(), &export, &key_text).unwrap();
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    assert!(report.failures[0].starts_with("signature: "), "{:?}", report.failures);
    assert!(report.failures[1].starts_with("trial balance hash: "), "{:?}", report.failures);

    // Another key: the genuine certificate does not verify with it.
    let other = AuditKey::generate().public_key();
    let error = audit_check(&certificate_text, &export, &other).await.expect_err("another key");
    assert!(
        error.contains(&format!(
            "signature: the certificate was signed by another key ({}), not the public key given ({other})",
            key["public_key"].as_str().unwrap()
        )),
        "{error}"
    );
    // Files that are not what they should be are named.
    let error = audit_check("{}", &export, &key_text).await.expect_err("not a certificate");
    assert!(error.contains("certificate: missing field"), "{error}");
    let error = audit_check(&certificate_text, "a,b\n1,2\n", &key_text).await.expect_err("not an export");
    assert!(error.contains("export: no column \"position\""), "{error}");

    // The key is kept: a restart signs with the same one.
    let data_dir = app.stop().await;
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(data_dir.path().join("audit.key")).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode, 0o600);
    let app = spawn_app(Options { data_dir: Some(data_dir), ..Options::default() }).await;
    let again = app.call(reqwest::Method::GET, "/v1/audit/public-key", None, None, None).await.expect(200);
    assert_eq!(again["public_key"], key["public_key"]);
    app.stop().await;
}

#[tokio::test]
async fn a_book_verifies_and_a_read_model_that_differs_from_the_log_is_named() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    buy(&app, &world).await;
    let r2 = world.r2.as_str();
    let verified = app.get(&format!("/v1/books/{r2}/verify"), &world.r2_finance).await.expect(200);
    let logged = app.log_position();
    assert_eq!(
        verified,
        json!({ "ok": true, "checked_through": logged, "read_models_checked_at": logged, "problems": [] })
    );
    // Sales (no ledger.read) may not; another reseller's book is not found.
    let refused = app.get(&format!("/v1/books/{r2}/verify"), &world.r2_sales).await;
    assert_eq!(refused.status.as_u16(), 403);
    let foreign = app.get(&format!("/v1/books/{}/verify", world.r1), &world.r2_finance).await;
    assert_eq!(foreign.status.as_u16(), 404);

    // A read model changed behind the ledger's back: R2's cost of sales says 980.00.
    {
        let connection = rusqlite::Connection::open(app.data_dir.path().join("read.sqlite")).unwrap();
        let changed = connection
            .execute("UPDATE rm_daily_balances SET debit = debit + 10000 WHERE book = ?1 AND account = '6401'", [r2])
            .unwrap();
        assert_eq!(changed, 1);
    }
    let verified: Value = app.get(&format!("/v1/books/{r2}/verify"), &world.r2_finance).await.expect(200);
    assert_eq!(verified["ok"], false);
    assert_eq!(
        verified["problems"],
        json!([{
            "position": null,
            "kind": "read_model",
            "detail": format!(
                "trial balance, account 6401 at position {logged}: the read model has debit 980.00, credit 0.00, the \
                 log gives debit 880.00, credit 0.00"
            ),
        }])
    );
    // R1's book is untouched.
    let r1 = app.get(&format!("/v1/books/{}/verify", world.r1), &world.r1_finance).await.expect(200);
    assert_eq!(r1["ok"], true, "{r1}");

    // `kboss verify` compares every table with its recomputation and names the first row.
    let data_dir = app.stop().await;
    let directory = data_dir.path().to_str().unwrap();
    let error = kboss(&["--data-dir", directory, "verify"]).await.expect_err("a read model differs");
    assert!(
        error.starts_with("verify: 1 problems; the first: rm_daily_balances (projection balances, at position"),
        "{error}"
    );
    assert!(error.contains("differs: the read model has") && error.contains(r2) && error.contains("98000"), "{error}");
    // Rebuilt, the read models equal the log again.
    kboss(&["--data-dir", directory, "rebuild"]).await.unwrap();
    kboss(&["--data-dir", directory, "verify"]).await.expect("verified after a rebuild");
}

/// Server mode: the key is made once in the gateway's own store (table `audit_key`) and every
/// instance signs with it; a book verifies against the PostgreSQL log and read models, and
/// `kboss verify` compares the PostgreSQL read models with a recomputation table by table.
#[tokio::test]
async fn server_mode_keeps_one_key_in_its_store_and_verifies_against_postgresql() {
    let schema = format!("kboss_audit_{}", uuid::Uuid::now_v7().simple());
    let admin = crate::postgres::admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    let app = spawn_app(Options { database_url: Some(url.clone()), ..Options::default() }).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    buy(&app, &world).await;
    let key = app.call(reqwest::Method::GET, "/v1/audit/public-key", None, None, None).await.expect(200);
    let follower = spawn_app(Options { database_url: Some(url.clone()), ..Options::default() }).await;
    let same = follower.call(reqwest::Method::GET, "/v1/audit/public-key", None, None, None).await.expect(200);
    assert_eq!(same, key, "one key per deployment");
    let verified = app.get(&format!("/v1/books/{}/verify", world.r2), &world.r2_finance).await.expect(200);
    let logged = app.log_position();
    assert_eq!(
        verified,
        json!({ "ok": true, "checked_through": logged, "read_models_checked_at": logged, "problems": [] })
    );
    follower.stop().await;
    app.stop().await;
    kboss(&["--database-url", &url, "verify"]).await.expect("the PostgreSQL deployment verifies");
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
