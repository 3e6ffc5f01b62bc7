//! The OpenAPI document served at `/openapi.json` is the committed `schemas/openapi.json`, and
//! names every path of the API. Set `KBOSS_WRITE_OPENAPI=1` to rewrite the committed file.

use crate::helpers::*;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/openapi.json");

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_covers_the_api() {
    let generated = gateway::openapi::document_text();
    if std::env::var_os("KBOSS_WRITE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(committed == generated, "schemas/openapi.json is stale: run with KBOSS_WRITE_OPENAPI=1");

    let app = spawn_app(Options::default()).await;
    let served = app.call(reqwest::Method::GET, "/openapi.json", None, None, None).await.expect(200);
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/me",
        "/v1/orgs",
        "/v1/orgs/{id}/tokens",
        "/v1/products",
        "/v1/products/{id}/supplier-rate",
        "/v1/books/{org_id}/rates",
        "/v1/books/{org_id}/promotions",
        "/v1/books/{org_id}/invite-codes",
        "/v1/recharges",
        "/v1/approvals",
        "/v1/approvals/{id}/approve",
        "/v1/approvals/{id}/reject",
        "/v1/coupons",
        "/v1/withdrawals",
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/orders/{id}/pay",
        "/v1/orders/{id}/fulfil",
        "/v1/orders/{id}/cancel",
        "/v1/orders/{id}/refund",
        "/v1/customers/{id}/balance",
        "/v1/books/{org_id}/trial-balance",
        "/v1/books/{org_id}/ledger",
        "/v1/events/{position}",
        "/v1/books/{org_id}/kpi",
        "/v1/books/{org_id}/export",
        "/v1/settlements",
        "/v1/settlements/{id}/pay",
        "/v1/books/{org_id}/close",
        "/v1/payments/notify/{channel}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} is missing from the document");
    }
    let health = app.call(reqwest::Method::GET, "/readyz", None, None, None).await;
    assert_eq!(health.status.as_u16(), 200);
    let metrics = app.call(reqwest::Method::GET, "/metrics", None, None, None).await.text;
    assert!(metrics.contains("kboss_projection_lag_events"), "{metrics}");
    app.stop().await;
}
