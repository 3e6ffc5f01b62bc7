//! (b) The tenant matrix: for every endpoint, a token of another reseller (R3, a sibling of R1)
//! or of another reseller's customer (D) gets 404 or 403, never data, and changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn other_tenants_get_404_or_403_on_every_endpoint_and_change_nothing() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    let order = buy(&app, &world).await;
    let pending = app
        .post(
            "/v1/recharges",
            &world.r2_sales,
            json!({ "customer_id": world.customer, "amount": "5.00", "method": "transfer", "reference": "wire" }),
        )
        .await
        .expect(202);
    let approval = pending["approval_id"].as_str().unwrap().to_owned();
    let r3 = open_org(&app, &world.admin, "reseller", "R3").await;
    let r3_admin = token(&app, &world.admin, &r3, &["admin"]).await;
    let customer_d = open_org(&app, &r3_admin, "customer", "Customer D").await;
    let d_token = token(&app, &r3_admin, &customer_d, &["customer"]).await;

    let (c, r2, r1, product) = (&world.customer, &world.r2, &world.r1, &world.product);
    let endpoints: Vec<(Method, String, Value)> = vec![
        (Method::GET, format!("/v1/orgs/{c}"), Value::Null),
        (Method::GET, format!("/v1/orgs/{r2}"), Value::Null),
        (Method::POST, format!("/v1/orgs/{c}/tokens"), json!({ "roles": ["customer"] })),
        (Method::POST, format!("/v1/orgs/{r2}/tokens"), json!({ "roles": ["admin"] })),
        (Method::POST, "/v1/orgs".into(), json!({ "kind": "customer", "name": "X", "parent_id": r2 })),
        (Method::PUT, format!("/v1/products/{product}/supplier-rate"), json!({ "rate": "0.10" })),
        (
            Method::PUT,
            format!("/v1/books/{r2}/rates"),
            json!({ "product_id": product, "scope": "public", "rate": "0.50" }),
        ),
        (
            Method::POST,
            format!("/v1/books/{r2}/promotions"),
            json!({ "name": "P", "rates": { product.as_str(): "0.5" }, "valid_from": "2026-01-01", "valid_to": "2026-12-31" }),
        ),
        (Method::POST, format!("/v1/books/{r2}/invite-codes"), json!({})),
        (
            Method::POST,
            format!("/v1/books/{r2}/accounts"),
            json!({ "code": "6602", "name": "X", "account_type": "expense" }),
        ),
        (
            Method::POST,
            "/v1/recharges".into(),
            json!({ "customer_id": c, "amount": "1.00", "method": "offline", "reference": "r" }),
        ),
        (Method::GET, format!("/v1/approvals/{approval}"), Value::Null),
        (Method::POST, format!("/v1/approvals/{approval}/approve"), json!({})),
        (Method::POST, format!("/v1/approvals/{approval}/reject"), json!({})),
        (Method::POST, "/v1/coupons".into(), json!({ "customer_id": c, "amount": "1.00", "reason": "r" })),
        (Method::POST, "/v1/withdrawals".into(), json!({ "customer_id": c, "amount": "1.00", "route": "original" })),
        (
            Method::POST,
            "/v1/orders".into(),
            json!({ "customer_id": c, "items": [{ "product_id": product, "quantity": 1, "periods": 1 }] }),
        ),
        (Method::GET, format!("/v1/orders/{order}"), Value::Null),
        (Method::POST, format!("/v1/orders/{order}/pay"), json!({})),
        (Method::POST, format!("/v1/orders/{order}/fulfil"), json!({})),
        (Method::POST, format!("/v1/orders/{order}/cancel"), json!({})),
        (Method::POST, format!("/v1/orders/{order}/refund"), json!({ "amount": "1.00", "reason": "r" })),
        (Method::POST, format!("/v1/orders/{order}/renew"), json!({ "periods": 1, "new_end": "2026-03-01" })),
        (
            Method::POST,
            "/v1/usage".into(),
            json!({ "customer_id": c, "product_id": product, "quantity": "1", "period_from": "2026-01-01", "period_to": "2026-01-02" }),
        ),
        (Method::GET, format!("/v1/customers/{c}/balance"), Value::Null),
        (Method::GET, format!("/v1/customers/{c}/invoiceable"), Value::Null),
        (Method::GET, format!("/v1/books/{r2}/trial-balance"), Value::Null),
        (Method::GET, format!("/v1/books/{r2}/ledger"), Value::Null),
        (Method::GET, format!("/v1/books/{r2}/balances"), Value::Null),
        (Method::GET, format!("/v1/books/{r2}/kpi"), Value::Null),
        (Method::GET, format!("/v1/books/{r2}/kpi/serial-codes"), Value::Null),
        (Method::GET, format!("/v1/books/{r2}/export?format=csv"), Value::Null),
        (Method::GET, format!("/v1/books/{r2}/settlements"), Value::Null),
        (Method::GET, format!("/v1/books/{r1}/trial-balance"), Value::Null),
        (Method::GET, "/v1/events/30".into(), Value::Null),
        (
            Method::POST,
            "/v1/settlements".into(),
            json!({ "org_id": r1, "counterparty_id": r2, "from": "2026-01-01", "to": "2026-01-10" }),
        ),
        (Method::POST, format!("/v1/books/{r2}/close"), json!({ "through": "2026-01-10" })),
        (Method::POST, "/v1/invoices".into(), json!({ "customer_id": c, "amount": "1.00" })),
        (Method::PUT, format!("/v1/orgs/{r2}/tier"), json!({ "tier": "gold" })),
        (Method::POST, "/v1/serial-codes/batches".into(), json!({ "distributor_id": r2, "days": 30, "count": 1 })),
    ];
    let before = app.log_position();
    for outsider in [&r3_admin, &d_token] {
        for (method, path, body) in &endpoints {
            let body = (!body.is_null()).then_some(body);
            let answer = app.call(method.clone(), path, Some(outsider), None, body).await;
            assert!(
                matches!(answer.status.as_u16(), 403 | 404),
                "{method} {path} answered {} to an outsider: {}",
                answer.status,
                answer.text
            );
            // A problem may echo the id the caller sent; it must say nothing the caller did not.
            let sent = format!("{path} {}", body.map(Value::to_string).unwrap_or_default());
            for secret in [c.as_str(), order.as_str(), world.supplier.as_str(), "950.00", "880.00"] {
                if sent.contains(secret) {
                    continue;
                }
                assert!(!answer.text.contains(secret), "{method} {path} leaked {secret}: {}", answer.text);
            }
        }
    }
    assert_eq!(app.log_position(), before, "an outsider changed the log");

    // Lists answer the caller's own tenancy only.
    for (path, outsider) in
        [("/v1/orders", &d_token), ("/v1/orders", &r3_admin), ("/v1/approvals?status=pending", &r3_admin)]
    {
        let answer = app.get(path, outsider).await.expect(200);
        assert_eq!(answer["items"].as_array().map(Vec::len), Some(0), "{path}: {answer}");
    }
    // No token at all: 401.
    let anonymous = app.call(Method::GET, format!("/v1/orders/{order}").as_str(), None, None, None).await;
    assert_eq!((anonymous.status.as_u16(), anonymous.code()), (401, "unauthorized"));
    app.stop().await;
}
