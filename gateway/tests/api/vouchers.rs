//! Vouchers (代金券) apart from cash (issue 9 item 5): a coupon is not withdrawable, a purchase
//! spends vouchers then cash, a refund gives each part back, an expired voucher is booked out;
//! an `original` withdrawal goes back through the online channel at most what came in through
//! it, the rest offline after approval.

use serde_json::json;

use crate::helpers::*;
use crate::payments::{notification, notify, online_recharge, world_with_r2s_channel};

#[tokio::test]
async fn vouchers_are_spent_first_never_withdrawn_given_back_by_refunds_and_booked_out_when_expired() {
    let app = spawn_app(Options::default()).await;
    app.clock.set(date("2026-01-10"));
    let world = build_world(&app).await;
    let balance_path = format!("/v1/customers/{}/balance", world.customer);
    let trial_path = format!("/v1/books/{}/trial-balance?as_of=2026-12-31", world.r2);
    let parts = |balance: &serde_json::Value| {
        (balance["cash"].as_str().unwrap().to_owned(), balance["voucher"].as_str().unwrap().to_owned())
    };

    // A sales token grants a 500.00 coupon: voucher credit, which no withdrawal takes.
    let coupon = json!({ "customer_id": world.customer, "amount": "500.00", "reason": "welcome" });
    let granted = app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    for route in ["original", "offline"] {
        let withdrawal = json!({ "customer_id": world.customer, "amount": "500.00", "route": route });
        let refused = app.post("/v1/withdrawals", &world.r2_finance, withdrawal).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (422, "insufficient_balance"));
        assert_eq!(refused.body["field"], "amount", "{}", refused.text);
    }
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(parts(&balance), ("0.00".to_owned(), "500.00".to_owned()));
    assert_eq!(balance["balance"], "500.00");
    let coupon = app.get(&format!("/v1/coupons/{}", granted["id"].as_str().unwrap()), &world.r2_finance).await;
    assert_eq!(coupon.expect(200)["amount"], "500.00");

    // 600.00 cash; the 950.00 purchase takes the 500.00 vouchers first, then 450.00 cash.
    recharge(&app, &world, "600.00").await;
    let order = buy(&app, &world).await;
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(parts(&balance), ("150.00".to_owned(), "0.00".to_owned()));
    let trial = app.get(&trial_path, &world.r2_finance).await.expect(200);
    assert_eq!(account(&trial, "2203.01"), ("500.00".to_owned(), "500.00".to_owned()));
    // Cash: 600.00 recharged and 500.00 of vouchers moved in, 950.00 paid.
    assert_eq!(account(&trial, "2203"), ("950.00".to_owned(), "1100.00".to_owned()));
    assert_eq!(account(&trial, "6601"), ("500.00".to_owned(), "0.00".to_owned()));
    assert_eq!(trial["total_debit"], trial["total_credit"]);

    // Refunded in full: the voucher part comes back as vouchers, the cash part as cash.
    let refund = json!({ "amount": "950.00", "penalty": "0.00", "reason": "unused" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(parts(&balance), ("600.00".to_owned(), "500.00".to_owned()));

    // A coupon expiring on 2026-02-01: from then on it cannot be spent and finance books it out.
    let expiring =
        json!({ "customer_id": world.customer, "amount": "80.00", "reason": "january", "expires_on": "2026-02-01" });
    app.post("/v1/coupons", &world.r2_sales, expiring).await.expect(201);
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(parts(&balance), ("600.00".to_owned(), "580.00".to_owned()));
    app.clock.set(date("2026-02-01"));
    let expire = format!("/v1/customers/{}/vouchers/expire", world.customer);
    let refused = app.post(&expire, &world.customer_token, json!({})).await;
    assert_eq!(refused.status.as_u16(), 403);
    let expired = app.post(&expire, &world.r2_finance, json!({})).await.expect(200);
    assert_eq!(expired["expired"], "80.00");
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(parts(&balance), ("600.00".to_owned(), "500.00".to_owned()));
    let trial = app.get(&trial_path, &world.r2_finance).await.expect(200);
    // 2203.01: granted 580.00, spent 500.00, given back 500.00, 80.00 booked out.
    assert_eq!(account(&trial, "2203.01"), ("580.00".to_owned(), "1080.00".to_owned()));
    assert_eq!(account(&trial, "6601"), ("580.00".to_owned(), "80.00".to_owned()));
    assert_eq!(trial["total_debit"], trial["total_credit"]);
    // Nothing more is due.
    let again = app.post(&expire, &world.r2_finance, json!({})).await.expect(200);
    assert_eq!(again["expired"], "0.00");
    app.stop().await;
}

/// What came in online through R2's channel `alipay` (300.00) is the most an `original`
/// withdrawal pays back through it: of 500.00, 300.00 goes back at once (Dr 2203, Cr 1012) and
/// 200.00 becomes an offline withdrawal of its own, waiting for approval (then Dr 2203, Cr 1002).
/// Cash that came in offline and vouchers never go back through the channel.
#[tokio::test]
async fn an_original_withdrawal_pays_back_at_most_the_online_inflow_and_sends_the_rest_to_approval() {
    let (app, world, private) = world_with_r2s_channel().await;
    let balance_path = format!("/v1/customers/{}/balance", world.customer);
    let trial_path = format!("/v1/books/{}/trial-balance", world.r2);
    let wallet = |balance: &serde_json::Value| {
        ["cash", "voucher", "balance", "available", "pending"].map(|field| balance[field].as_str().unwrap().to_owned())
    };

    // 300.00 online through `alipay` (its signed notification), 700.00 offline, a 50.00 coupon.
    let online = online_recharge(&app, &world.customer_token, &world.customer, "300.00").await;
    let (status, body, _) = notify(&app, &notification(&private, "2026011522001400301", &online, "300.00", &[])).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    recharge(&app, &world, "700.00").await;
    let coupon = json!({ "customer_id": world.customer, "amount": "50.00", "reason": "welcome" });
    app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(wallet(&balance), ["1000.00", "50.00", "1050.00", "1050.00", "0.00"]);
    let trial = app.get(&trial_path, &world.r2_finance).await.expect(200);
    assert_eq!(account(&trial, "1012"), ("300.00".to_owned(), "0.00".to_owned()));
    assert_eq!(account(&trial, "1002"), ("700.00".to_owned(), "0.00".to_owned()));
    assert_eq!(account(&trial, "2203"), ("0.00".to_owned(), "1000.00".to_owned()));

    // 500.00 by the original route: 300.00 back through alipay at once, 200.00 offline.
    let withdrawal = json!({ "customer_id": world.customer, "amount": "500.00", "route": "original" });
    let split = app.post("/v1/withdrawals", &world.r2_finance, withdrawal).await.expect(201);
    assert_eq!(
        (split["status"].as_str(), split["amount"].as_str(), split["channel"].as_str()),
        (Some("paid"), Some("300.00"), Some("alipay")),
        "{split}"
    );
    let rest = &split["offline"];
    assert_eq!((rest["amount"].as_str(), rest["status"].as_str()), (Some("200.00"), Some("pending_approval")));
    let (paid_id, rest_id) = (split["id"].as_str().unwrap(), rest["id"].as_str().unwrap());
    assert_ne!(paid_id, rest_id);
    let approval_id = split["approval_id"].as_str().expect("the rest waits for an approval");

    let paid = app.get(&format!("/v1/withdrawals/{paid_id}"), &world.r2_finance).await.expect(200);
    assert_eq!(
        (paid["status"].as_str(), paid["amount"].as_str(), paid["channel"].as_str()),
        (Some("paid"), Some("300.00"), Some("original"))
    );
    let waiting = app.get(&format!("/v1/withdrawals/{rest_id}"), &world.r2_finance).await.expect(200);
    assert_eq!(
        (waiting["status"].as_str(), waiting["amount"].as_str(), waiting["channel"].as_str()),
        (Some("requested"), Some("200.00"), Some("offline"))
    );
    assert_eq!(waiting["approval_id"].as_str(), Some(approval_id));
    let approval = app.get(&format!("/v1/approvals/{approval_id}"), &world.r2_finance).await.expect(200);
    let subject = &approval["subject"];
    assert_eq!(
        (approval["kind"].as_str(), approval["status"].as_str()),
        (Some("withdrawal"), Some("pending")),
        "{approval}"
    );
    assert_eq!(
        (subject["kind"].as_str(), subject["id"].as_str(), subject["amount"].as_str()),
        (Some("withdrawal"), Some(rest_id), Some("200.00"))
    );
    // Cash 1000.00 - 300.00; the 200.00 waiting is held back from what purchases may spend.
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(wallet(&balance), ["700.00", "50.00", "750.00", "550.00", "0.00"]);
    let trial = app.get(&trial_path, &world.r2_finance).await.expect(200);
    assert_eq!(account(&trial, "1012"), ("300.00".to_owned(), "300.00".to_owned()));
    assert_eq!(account(&trial, "1002"), ("700.00".to_owned(), "0.00".to_owned()));
    assert_eq!(account(&trial, "2203"), ("300.00".to_owned(), "1000.00".to_owned()));
    assert_eq!(trial["total_debit"], trial["total_credit"]);

    // Approved by another person: the 200.00 goes out through the bank.
    let approve = format!("/v1/approvals/{approval_id}/approve");
    app.post(&approve, &world.r2_finance_other, json!({})).await.expect(200);
    let waiting = app.get(&format!("/v1/withdrawals/{rest_id}"), &world.r2_finance).await.expect(200);
    assert_eq!((waiting["status"].as_str(), waiting["amount"].as_str()), (Some("paid"), Some("200.00")));
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(wallet(&balance), ["500.00", "50.00", "550.00", "550.00", "0.00"]);
    let trial = app.get(&trial_path, &world.r2_finance).await.expect(200);
    assert_eq!(account(&trial, "1012"), ("300.00".to_owned(), "300.00".to_owned()));
    assert_eq!(account(&trial, "1002"), ("700.00".to_owned(), "200.00".to_owned()));
    assert_eq!(account(&trial, "2203"), ("500.00".to_owned(), "1000.00".to_owned()));
    assert_eq!(trial["total_debit"], trial["total_credit"]);

    // alipay has given back all it took in: another original withdrawal waits for approval whole.
    let withdrawal = json!({ "customer_id": world.customer, "amount": "100.00", "route": "original" });
    let whole = app.post("/v1/withdrawals", &world.r2_finance, withdrawal).await.expect(202);
    assert_eq!(
        (whole["status"].as_str(), whole["amount"].as_str(), whole["channel"].as_str(), whole["offline"].as_null()),
        (Some("pending_approval"), Some("100.00"), None, Some(()))
    );
    let trial = app.get(&trial_path, &world.r2_finance).await.expect(200);
    assert_eq!(account(&trial, "1012"), ("300.00".to_owned(), "300.00".to_owned()));
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(wallet(&balance), ["500.00", "50.00", "550.00", "450.00", "0.00"]);
    app.stop().await;
}
