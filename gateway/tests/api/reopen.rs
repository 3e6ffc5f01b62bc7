//! Issue 14, period reopen: a closed period reopens only through an approval carrying a written
//! reason; the reopen and the new close each get a signed certificate of their own, listed by
//! the book; the old certificate stays checkable with `kboss audit check` against an export
//! that now holds the reopened period's correction.

use serde_json::{json, Value};

use crate::helpers::*;

fn check(certificate: &Value, export: &str, key: &Value) -> gateway::audit::CheckReport {
    gateway::audit::check(&certificate.to_string(), export, &key.to_string()).expect("the files read")
}

#[tokio::test]
async fn a_reopened_period_closes_again_and_every_certificate_stays_checkable() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    buy(&app, &world).await;
    let r2 = world.r2.as_str();
    app.clock.set(date("2026-02-01"));
    let close = format!("/v1/books/{r2}/close");
    let first = app.post(&close, &world.r2_finance, json!({ "through": "2026-01-31" })).await.expect(200);
    let first = first["certificate"].clone();
    assert_eq!((&first["total_debit"], &first["total_credit"]), (&json!("3880.00"), &json!("3880.00")));

    // January is closed: a correction dated in it is refused.
    app.clock.set(date("2026-01-31"));
    let coupon = json!({ "customer_id": world.customer, "amount": "5.00", "reason": "missed fee" });
    let refused = app.post("/v1/coupons", &world.r2_sales, coupon.clone()).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "period_closed"));

    // The reopen waits for an approval; it needs a reason, and the last closed period.
    app.clock.set(date("2026-02-01"));
    let path = format!("/v1/books/{r2}/reopen");
    let refused = app.post(&path, &world.r2_finance, json!({ "through": "2026-01-31", "reason": "" })).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("reason")));
    let refused = app.post(&path, &world.r2_finance, json!({ "through": "2025-12-31", "reason": "why" })).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "period_not_closed"));
    assert_eq!(
        app.post(&path, &world.r2_sales, json!({ "through": "2026-01-31", "reason": "why" })).await.status.as_u16(),
        403
    );
    let reason = "the bank's fee of 5.00 was missed";
    let requested =
        app.post(&path, &world.r2_finance, json!({ "through": "2026-01-31", "reason": reason })).await.expect(202);
    assert_eq!(requested["status"], "pending_approval");
    let approval = requested["approval_id"].as_str().unwrap();
    let waiting = app.get(&format!("/v1/approvals/{approval}"), &world.r2_finance).await.expect(200);
    assert_eq!(waiting["kind"], "period_reopen");
    // Nobody approves their own request; another finance person does.
    let own = app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({})).await;
    assert_eq!(own.code(), "self_approval");
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
    let reopened_at = app.log_position();

    // January takes its correction, then closes again.
    app.clock.set(date("2026-01-31"));
    app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    app.clock.set(date("2026-02-02"));
    let second = app.post(&close, &world.r2_finance, json!({ "through": "2026-01-31" })).await.expect(200);
    let second = second["certificate"].clone();
    assert_eq!((&second["total_debit"], &second["total_credit"]), (&json!("3885.00"), &json!("3885.00")));

    // The book lists its three certificates, oldest first, each signed again as first answered.
    let listed = app.get(&format!("/v1/books/{r2}/certificates"), &world.r2_finance).await.expect(200);
    let items = listed["items"].as_array().unwrap();
    let kinds: Vec<(&str, u64)> =
        items.iter().map(|item| (item["kind"].as_str().unwrap(), item["position"].as_u64().unwrap())).collect();
    assert_eq!(
        kinds,
        [
            ("close", first["position"].as_u64().unwrap()),
            ("reopen", reopened_at),
            ("close", second["position"].as_u64().unwrap())
        ]
    );
    assert_eq!((&items[0]["certificate"], &items[2]["certificate"]), (&first, &second));
    let reopen = items[1]["certificate"].clone();
    assert_eq!(reopen["through"], "2026-01-31");
    assert_eq!(reopen["position"], reopened_at);
    assert_eq!(reopen["last_position"], reopened_at - 2, "before the command that granted it");
    let before = app.get(&format!("/v1/events/{}", reopened_at - 2), &world.r2_finance).await.expect(200);
    assert_eq!(reopen["chain_hash"], before["hash"]);
    // Nothing moved January between the close and the reopen: the same trial balance.
    assert_eq!(
        (&reopen["trial_balance_hash"], &reopen["total_debit"], &reopen["total_credit"]),
        (&first["trial_balance_hash"], &first["total_debit"], &first["total_credit"])
    );
    assert_eq!(
        reopen["reopen"],
        json!({
            "reopened_close_position": first["position"],
            "closed_through": "none",
            "approval_id": approval,
            "reason_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(reason.as_bytes())),
            "reason": reason,
        })
    );
    assert_eq!(reopen["rule_versions"], json!({}));

    // One export of the book checks all three offline: the old close and the reopen leave out
    // the correction booked after them; the new close counts it.
    let key = app.call(reqwest::Method::GET, "/v1/audit/public-key", None, None, None).await.expect(200);
    let export = app.get(&format!("/v1/books/{r2}/export?format=csv&to=2026-01-31"), &world.r2_finance).await;
    let export = export.text;
    for (certificate, lines, after, debit) in
        [(&first, 7, 2, "3880.00"), (&reopen, 7, 2, "3880.00"), (&second, 9, 0, "3885.00")]
    {
        let report = check(certificate, &export, &key);
        assert_eq!(report.failures, Vec::<String>::new(), "{certificate}");
        assert_eq!((report.lines, report.lines_after_certificate, report.total_debit.as_str()), (lines, after, debit));
    }
    // A reopen's reason or closed-through changed: refused.
    let mut forged = reopen.clone();
    forged["reopen"]["reason"] = json!("nothing happened");
    let report = check(&forged, &export, &key);
    assert_eq!(report.failures, ["certificate: the reason is not the one whose hash was signed"]);
    let mut forged = reopen.clone();
    forged["reopen"]["closed_through"] = json!("2025-12-31");
    let report = check(&forged, &export, &key);
    assert_eq!(
        report.failures,
        ["signature: does not verify with the public key given: the certificate was changed after it was signed"]
    );
    app.stop().await;
}
