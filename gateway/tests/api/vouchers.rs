//! Vouchers (代金券) apart from cash (issue 9 item 5): a coupon is not withdrawable, a purchase
//! spends vouchers then cash, a refund gives each part back, an expired voucher is booked out.

use serde_json::json;

use crate::helpers::*;

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
