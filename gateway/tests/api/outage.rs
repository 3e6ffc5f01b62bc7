//! The one-request outage of the finance-controls issue, item 1: requests whose figures overflow
//! are refused with a problem naming the field, the writer goes on for every tenant, and
//! `/readyz` tells the writer's health.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{build_world, open_org, recharge, spawn_app, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_overflow_are_refused_and_every_tenant_goes_on_writing() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let ready = app.call(Method::GET, "/readyz", None, None, None).await.expect(200);
    assert_eq!((ready["status"].as_str(), ready["writer"].as_str()), (Some("ready"), Some("ready")));
    let before = app.log_position();

    // 1,000,000,000 units × 2 periods of a 1000.00 product: 2 × 10^12, past the amount limit.
    let order = json!({ "customer_id": world.customer,
        "items": [{ "product_id": world.product, "quantity": "1000000000", "periods": 2 }] });
    let refused = app.post("/v1/orders", &world.customer_token, order).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text);
    assert_eq!((refused.code(), refused.body["field"].as_str()), ("invalid_amount", Some("items[0].quantity")));

    // Two pending recharges near the limit: together they would hold more than it.
    let near =
        json!({ "customer_id": world.customer, "amount": "999999999999.00", "method": "offline", "reference": "slip" });
    app.post("/v1/recharges", &world.r2_finance, near.clone()).await.expect(202);
    let refused = app.post("/v1/recharges", &world.r2_finance, near).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text);
    assert_eq!((refused.code(), refused.body["field"].as_str()), ("limit_exceeded", Some("amount")));
    assert!(refused.body["detail"].as_str().unwrap().contains("pending recharges"), "{}", refused.text);

    // A large coupon, twice: the wallet would pass the limit.
    let coupon = json!({ "customer_id": world.customer, "amount": "999999999999.00", "reason": "goodwill" });
    app.post("/v1/coupons", &world.r2_sales, coupon.clone()).await.expect(201);
    let refused = app.post("/v1/coupons", &world.r2_sales, coupon).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text);
    assert_eq!(refused.code(), "limit_exceeded");
    assert!(refused.body["detail"].as_str().unwrap().contains("wallet balance"), "{}", refused.text);
    // An amount past the limit never reaches the writer.
    let past = json!({ "customer_id": world.customer, "amount": "1000000000000.01", "reason": "goodwill" });
    let refused = app.post("/v1/coupons", &world.r2_sales, past).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("amount")));

    // The pending recharge (its request and approval) and the first coupon (R2's voucher
    // account opened by its first grant, then the grant) were booked; nothing else.
    assert_eq!(app.log_position(), before + 4);

    // Every tenant writes as before: the platform opens an org, R1 a reseller, R2's customer buys.
    open_org(&app, &world.admin, "supplier", "Another Supplier").await;
    open_org(&app, &world.r1_admin, "reseller", "R3").await;
    let balance =
        app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await.expect(200);
    assert_eq!(balance["balance"], "999999999999.00");
    let order = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let placed = app.post("/v1/orders", &world.customer_token, order).await.expect(201);
    let id = placed["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{id}/pay"), &world.customer_token, json!({})).await.expect(200);
    let balance =
        app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await.expect(200);
    assert_eq!(balance["balance"], "999999999049.00");
    recharge(&app, &world, "1.00").await;

    let ready = app.call(Method::GET, "/readyz", None, None, None).await.expect(200);
    assert_eq!(ready["read_models"], "running");
    assert_eq!(ready["log_position"].as_u64(), Some(app.log_position()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_once_the_writer_has_stopped() {
    let app = spawn_app(Options::default()).await;
    let ready = app.call(Method::GET, "/readyz", None, None, None).await.expect(200);
    assert_eq!(ready["writer"], "ready");
    // Stop the instance (its writer ends), then serve the same state again on a new port: what
    // an orchestrator probing an instance with a dead writer sees.
    let state = app.state.clone();
    let _data_dir = app.stop().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, gateway::app::router(state)).await });
    let response = reqwest::get(format!("http://{address}/readyz")).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["writer"].as_str()), (Some("not_ready"), Some("stopped")));
    assert_eq!(body["read_models"], "stopped", "the runner ends with the writer");
    server.abort();
}
