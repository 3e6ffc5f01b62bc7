//! (f) The approval notifier posts each new approval request to the webhook (a local sink), as
//! DingTalk-style JSON; a dead webhook never blocks or fails the command.

use std::time::Duration;

use axum::routing::post;
use serde_json::{json, Value};

use crate::helpers::*;

/// Bounds how long the test waits for the sink before it fails (not a timing assertion).
const SINK_WAIT_MAX: Duration = Duration::from_secs(30);

async fn sink() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let router = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(body);
                axum::Json(json!({ "errcode": 0 }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address, receiver)
}

#[tokio::test]
async fn each_approval_request_is_posted_to_the_webhook() {
    let (url, mut received) = sink().await;
    let app = spawn_app(Options { webhook_url: Some(url), ..Options::default() }).await;
    let world = build_world(&app).await;
    let body =
        json!({ "customer_id": world.customer, "amount": "100.00", "method": "transfer", "reference": "wire 7" });
    let pending = app.post("/v1/recharges", &world.r2_sales, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap();
    let message = tokio::time::timeout(SINK_WAIT_MAX, received.recv()).await.expect("the webhook was called").unwrap();
    assert_eq!(message["msgtype"], "text");
    let content = message["text"]["content"].as_str().unwrap();
    assert!(content.contains(approval) && content.contains("recharge"), "{content}");
    app.stop().await;
}

#[tokio::test]
async fn a_dead_webhook_only_logs_and_counts() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app =
        spawn_app(Options { webhook_url: Some(format!("http://127.0.0.1:{port}/hook")), ..Options::default() }).await;
    let world = build_world(&app).await;
    let body = json!({ "customer_id": world.customer, "amount": "100.00", "method": "offline", "reference": "slip" });
    app.post("/v1/recharges", &world.r2_sales, body).await.expect(202);
    let deadline = tokio::time::Instant::now() + SINK_WAIT_MAX;
    loop {
        let metrics = app.call(reqwest::Method::GET, "/metrics", None, None, None).await.text;
        if metrics.contains("kboss_approval_webhook_total{outcome=\"retried\"}") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no retry counted: {metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
