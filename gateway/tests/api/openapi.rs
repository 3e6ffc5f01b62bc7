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
        "/v1/settlements/{id}/lines",
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

#[tokio::test]
async fn reads_wait_for_min_position_and_limits_are_problems() {
    let app = spawn_app(Options::default()).await;
    let me = app.get("/v1/me", ADMIN_TOKEN).await;
    let position: u64 = me.headers["kboss-position"].to_str().unwrap().parse().unwrap();
    assert!(position >= app.log_position(), "a read with min_position reflects it: {position} {}", app.log_position());
    // A position the log will never reach within the wait: 503 read_model_behind, retry later.
    let path = format!("/v1/me?min_position={}", app.log_position() + 1_000);
    let behind = app.call(reqwest::Method::GET, &path, Some(ADMIN_TOKEN), None, None).await;
    assert_eq!((behind.status.as_u16(), behind.code()), (503, "read_model_behind"));
    assert!(behind.headers.contains_key("retry-after"));
    // A body over the limit is refused before it is read whole.
    let huge = serde_json::json!({ "kind": "customer", "name": "x".repeat(gateway::config::BODY_BYTES_MAX) });
    let refused = app.post("/v1/orgs", ADMIN_TOKEN, huge).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (413, "payload_too_large"));
    let page = app.get("/v1/orders?limit=100000", ADMIN_TOKEN).await;
    assert_eq!((page.status.as_u16(), page.code()), (400, "bad_request"));
    assert!(page.headers.contains_key("x-request-id"));
    let malformed = app.get("/v1/orders?limit=many", ADMIN_TOKEN).await;
    assert_eq!((malformed.status.as_u16(), malformed.code()), (400, "bad_request"));
    app.stop().await;
}

#[tokio::test]
async fn a_generated_admin_token_is_written_0600_and_survives_a_restart() {
    let app = spawn_app(Options { generate_admin_token: true, ..Options::default() }).await;
    let file = app.data_dir.path().join(gateway::app::ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&file).expect("the token file").trim().to_owned();
    assert!(token.starts_with("kb_") && token != ADMIN_TOKEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let me = app.get("/v1/me", &token).await.expect(200);
    assert_eq!(me["roles"], serde_json::json!(["super_admin", "admin"]));
    let position = app.log_position();
    let data_dir = app.stop().await;

    // A restart bootstraps nothing again; the token is known from the log, not from memory.
    let app = spawn_app(Options { generate_admin_token: true, data_dir: Some(data_dir), ..Options::default() }).await;
    assert_eq!(app.log_position(), position);
    assert_eq!(app.get("/v1/me", &token).await.expect(200)["org_id"], me["org_id"]);
    assert_eq!(app.get("/v1/me", "kb_nobody").await.status.as_u16(), 401);
    app.stop().await;
}
