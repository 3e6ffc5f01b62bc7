//! Credit limits (信用额度) and arrears (欠费), the book's terms and the clock (issue 12), over
//! HTTP: a raise waits for approval; orders then take the wallet below zero as a receivable
//! (1122), repaid first by the next recharge; the clock's tick times unpaid orders out, renews
//! subscriptions, notices overdue arrears and failed renewals through the notifier, and writes
//! nothing when nothing is due.

use std::time::Duration;

use axum::routing::post;
use chrono::Utc;
use serde_json::{json, Value};

use crate::helpers::*;

/// Bounds how long a test waits for the sink or the scheduler (not a timing assertion).
const WAIT_MAX: Duration = Duration::from_secs(30);

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

/// The first message the sink receives that contains `wanted`.
async fn message_with(received: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, wanted: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT_MAX;
    loop {
        let message = tokio::time::timeout_at(deadline, received.recv()).await.expect("the webhook was called");
        let content = message.unwrap()["text"]["content"].as_str().unwrap().to_owned();
        if content.contains(wanted) {
            return content;
        }
    }
}

/// R2's sales asks for a credit limit, R2's finance (another person) approves it.
async fn give_credit(app: &TestApp, world: &World, limit: &str) {
    let path = format!("/v1/customers/{}/credit-limit", world.customer);
    let pending = app.put(&path, &world.r2_sales, json!({ "limit": limit })).await.expect(202);
    assert_eq!((pending["status"].as_str(), pending["limit"].as_str()), (Some("pending_approval"), Some(limit)));
    let approval = pending["approval_id"].as_str().unwrap();
    let request = app.get(&format!("/v1/approvals/{approval}"), &world.r2_finance).await.expect(200);
    assert_eq!((request["kind"].as_str(), request["status"].as_str()), (Some("credit_limit"), Some("pending")));
    assert_eq!(
        request["payload"],
        json!({ "action": "set_credit_limit", "customer_id": world.customer, "limit": limit }),
        "{request}"
    );
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({})).await.expect(200);
}

async fn balance(app: &TestApp, world: &World) -> Value {
    app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await.expect(200)
}

/// The fields of a balance answer that credit is about.
fn credit_of(balance: &Value) -> Vec<(&'static str, Value)> {
    ["cash", "balance", "credit_limit", "arrears", "arrears_due_on", "arrears_overdue", "credit_available", "net"]
        .into_iter()
        .map(|field| (field, balance[field].clone()))
        .collect()
}

fn expected(values: [Value; 8]) -> Vec<(&'static str, Value)> {
    ["cash", "balance", "credit_limit", "arrears", "arrears_due_on", "arrears_overdue", "credit_available", "net"]
        .into_iter()
        .zip(values)
        .collect()
}

async fn place(app: &TestApp, world: &World) -> String {
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let order = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    order["id"].as_str().unwrap().to_owned()
}

async fn tick(app: &TestApp, at: chrono::DateTime<Utc>) -> Vec<String> {
    let committed = gateway::ticker::tick(&app.state, at).await.expect("a tick is decided");
    committed.events.iter().map(|event| event.event_type().to_owned()).collect()
}

#[tokio::test]
async fn a_credit_limit_lets_orders_take_the_wallet_below_zero_as_a_receivable_repaid_first_by_a_recharge() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "300.00").await;
    give_credit(&app, &world, "1000.00").await;
    assert_eq!(
        credit_of(&balance(&app, &world).await),
        expected([
            json!("300.00"),
            json!("300.00"),
            json!("1000.00"),
            json!("0.00"),
            Value::Null,
            json!(false),
            json!("1000.00"),
            json!("300.00")
        ])
    );

    // 950.00: the 300.00 of cash and 650.00 on credit, due thirty days on (the default terms).
    let order = buy(&app, &world).await;

    assert_eq!(
        credit_of(&balance(&app, &world).await),
        expected([
            json!("0.00"),
            json!("0.00"),
            json!("1000.00"),
            json!("650.00"),
            json!("2026-02-14"),
            json!(false),
            json!("350.00"),
            json!("-650.00")
        ])
    );
    let r2 = &world.r2;
    let trial_balance = app.get(&format!("/v1/books/{r2}/trial-balance"), &world.r2_finance).await.expect(200);
    assert_eq!(account(&trial_balance, "1122"), ("650.00".into(), "0.00".into()));
    assert_eq!(account(&trial_balance, "2203"), ("950.00".into(), "950.00".into()));
    let ledger = format!("/v1/books/{r2}/ledger?account=1122&party={}", world.customer);
    let lines = app.get(&ledger, &world.r2_finance).await.expect(200);
    let lines: Vec<(String, String, String, String)> = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            let text = |field: &str| line[field].as_str().unwrap().to_owned();
            (text("event_type"), text("rule_id"), text("debit"), text("running_balance"))
        })
        .collect();
    assert_eq!(lines, [("CreditDrawn".into(), "credit.draw/seller".into(), "650.00".into(), "650.00".into())]);
    let refused =
        app.post(&format!("/v1/orders/{}/pay", place(&app, &world).await), &world.customer_token, json!({})).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "insufficient_balance"));
    assert!(refused.body["detail"].as_str().unwrap().contains("350.00"), "{}", refused.text);

    // A recharge repays the arrears first; what is beyond is cash.
    recharge(&app, &world, "1000.00").await;
    assert_eq!(
        credit_of(&balance(&app, &world).await),
        expected([
            json!("350.00"),
            json!("350.00"),
            json!("1000.00"),
            json!("0.00"),
            Value::Null,
            json!(false),
            json!("1000.00"),
            json!("350.00")
        ])
    );
    let lines = app.get(&ledger, &world.r2_finance).await.expect(200);
    let repaid = &lines["items"][1];
    assert_eq!((repaid["event_type"].as_str(), repaid["credit"].as_str()), (Some("ArrearsRepaid"), Some("650.00")));
    let trial_balance = app.get(&format!("/v1/books/{r2}/trial-balance"), &world.r2_finance).await.expect(200);
    assert_eq!(account(&trial_balance, "1122"), ("650.00".into(), "650.00".into()));

    // A lowering takes effect at once; a customer sets no credit of its own.
    let path = format!("/v1/customers/{}/credit-limit", world.customer);
    let lowered = app.put(&path, &world.r2_sales, json!({ "limit": "100.00" })).await.expect(200);
    assert_eq!((lowered["status"].as_str(), lowered["approval_id"].as_str()), (Some("set"), None));
    assert_eq!(balance(&app, &world).await["credit_limit"], "100.00");
    let forbidden = app.put(&path, &world.customer_token, json!({ "limit": "5000.00" })).await;
    assert_eq!(forbidden.status.as_u16(), 403);
    let invalid = app.put(&path, &world.r2_sales, json!({ "limit": "-1.00" })).await;
    assert_eq!((invalid.status.as_u16(), invalid.body["field"].as_str()), (422, Some("limit")));
    let verify = app.get(&format!("/v1/books/{r2}/verify"), &world.r2_finance).await.expect(200);
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(!order.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn overdue_arrears_are_noticed_once_through_the_notifier_and_stop_credit() {
    let (url, mut received) = sink().await;
    let app = spawn_app(Options { webhook_url: Some(url), ..Options::default() }).await;
    let world = build_world(&app).await;
    give_credit(&app, &world, "2000.00").await;
    buy(&app, &world).await;
    app.clock.set(date("2026-02-14"));
    let before = app.log_position();
    assert_eq!(tick(&app, Utc::now()).await, Vec::<String>::new(), "due on the 14th: not overdue yet");
    assert_eq!(app.log_position(), before, "a tick with nothing due writes nothing");

    app.clock.set(date("2026-02-15"));
    assert_eq!(tick(&app, Utc::now()).await, ["ArrearsOverdue"]);

    let notice = message_with(&mut received, "arrears overdue").await;
    assert!(notice.contains(&world.customer) && notice.contains("950.00") && notice.contains("2026-02-14"), "{notice}");
    let now = balance(&app, &world).await;
    assert_eq!((now["arrears_overdue"].as_bool(), now["credit_available"].as_str()), (Some(true), Some("0.00")));
    let position = app.log_position();
    assert_eq!(tick(&app, Utc::now()).await, Vec::<String>::new(), "noticed once");
    assert_eq!(app.log_position(), position);
    let refused =
        app.post(&format!("/v1/orders/{}/pay", place(&app, &world).await), &world.customer_token, json!({})).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "arrears_overdue"));
    let operations =
        app.get(&format!("/v1/books/{}/operations?kind=tick", world.platform), &world.admin).await.expect(200);
    assert_eq!(operations["items"].as_array().unwrap().len(), 1, "only the tick that decided something: {operations}");
    app.stop().await;
}

#[tokio::test]
async fn an_unpaid_order_times_out_after_the_books_payment_timeout() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let r2 = &world.r2;
    let terms = app.get(&format!("/v1/books/{r2}/terms"), &world.r2_sales).await.expect(200);
    let defaults = json!({
        "org_id": r2, "order_payment_timeout_minutes": 1440, "arrears_due_days": 30, "renewal_lead_days": 3,
        "default": true, "position": null
    });
    assert_eq!(terms, defaults);
    let terms_path = format!("/v1/books/{r2}/terms");
    let set = app.put(&terms_path, &world.r2_finance, json!({ "order_payment_timeout_minutes": 30 })).await.expect(200);
    assert_eq!(
        (&set["order_payment_timeout_minutes"], &set["arrears_due_days"], &set["default"]),
        (&json!(30), &json!(30), &json!(false))
    );
    let terms = app.get(&format!("/v1/books/{r2}/terms"), &world.r2_sales).await.expect(200);
    assert_eq!(terms["order_payment_timeout_minutes"], 30);
    let refused = app.put(&format!("/v1/books/{r2}/terms"), &world.r2_finance, json!({ "arrears_due_days": 0 })).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("arrears_due_days")));
    let refused = app.put(&format!("/v1/books/{r2}/terms"), &world.r2_sales, json!({ "arrears_due_days": 5 })).await;
    assert_eq!(refused.status.as_u16(), 403);

    let order = place(&app, &world).await;
    let placed = Utc::now();
    assert_eq!(tick(&app, placed + chrono::Duration::minutes(29)).await, Vec::<String>::new());
    assert_eq!(tick(&app, placed + chrono::Duration::minutes(31)).await, ["OrderCancelled"]);

    let answer = app.get(&format!("/v1/orders/{order}"), &world.customer_token).await.expect(200);
    assert_eq!(answer["status"], "cancelled");
    let paid = app.post(&format!("/v1/orders/{order}/pay"), &world.customer_token, json!({})).await;
    assert_eq!((paid.status.as_u16(), paid.code()), (409, "order_state"));
    app.stop().await;
}

#[tokio::test]
async fn an_auto_renewal_renews_from_the_wallet_before_the_end_and_a_short_wallet_is_noticed() {
    let (url, mut received) = sink().await;
    let app = spawn_app(Options { webhook_url: Some(url), ..Options::default() }).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    let order = buy(&app, &world).await;
    let fulfil = json!({ "note": "ticket 7", "subscription_end": "2026-02-15" });
    app.post(&format!("/v1/orders/{order}/fulfil"), &world.r2_admin, fulfil).await.expect(200);
    let path = format!("/v1/orders/{order}/auto-renewal");
    assert_eq!(app.get(&path, &world.customer_token).await.expect(200)["periods"], Value::Null);
    let set = app.put(&path, &world.customer_token, json!({ "periods": 1 })).await.expect(200);
    assert_eq!(set["periods"], 1);
    let refused = app.put(&path, &world.customer_token, json!({ "periods": 0 })).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("periods")));

    app.clock.set(date("2026-02-11"));
    assert_eq!(tick(&app, Utc::now()).await, Vec::<String>::new(), "more than three days before the end");
    app.clock.set(date("2026-02-12"));
    let committed = gateway::ticker::tick(&app.state, Utc::now()).await.unwrap();
    let renewal = committed
        .events
        .iter()
        .find_map(|event| match &event.event.payload {
            ledger_core::EventPayload::SubscriptionRenewed(renewed) => Some(renewed.renewal_id.to_string()),
            _ => None,
        })
        .expect("renewed");
    let charge = app.get(&format!("/v1/renewals/{renewal}"), &world.customer_token).await.expect(200);
    assert_eq!(
        (charge["order_id"].as_str(), charge["total"].as_str(), charge["new_end"].as_str()),
        (Some(order.as_str()), Some("950.00"), Some("2026-03-15"))
    );
    assert_eq!(balance(&app, &world).await["cash"], "100.00");

    app.clock.set(date("2026-03-12"));
    assert_eq!(tick(&app, Utc::now()).await, ["AutoRenewalFailed"]);
    let renewal = app.get(&path, &world.customer_token).await.expect(200);
    assert_eq!(
        (renewal["periods"].as_u64(), renewal["failed_for"].as_str(), renewal["failed_reason"].as_str()),
        (Some(1), Some("2026-03-15"), Some("insufficient_balance"))
    );
    let notice = message_with(&mut received, "auto-renewal failed").await;
    assert!(notice.contains(&order) && notice.contains("needs 950.00, has 100.00"), "{notice}");
    assert_eq!(tick(&app, Utc::now()).await, Vec::<String>::new(), "noticed once per end");
    let off = app.put(&path, &world.customer_token, json!({ "periods": null })).await.expect(200);
    assert_eq!(off["periods"], Value::Null);
    assert_eq!(app.get(&path, &world.customer_token).await.expect(200)["periods"], Value::Null);
    app.stop().await;
}

/// The scheduler itself: with `KBOSS_TICK_INTERVAL_MS`, the leader ticks without being asked, and
/// a voucher past its expiry is booked out.
#[tokio::test]
async fn the_leader_ticks_on_its_own_schedule() {
    let app = spawn_app(Options { tick_interval_ms: Some(100), ..Options::default() }).await;
    let world = build_world(&app).await;
    let coupon =
        json!({ "customer_id": world.customer, "amount": "50.00", "reason": "January", "expires_on": "2026-01-20" });
    app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    assert_eq!(balance(&app, &world).await["voucher"], "50.00");
    app.clock.set(date("2026-01-20"));
    let deadline = tokio::time::Instant::now() + WAIT_MAX;
    loop {
        if balance(&app, &world).await["voucher"] == "0.00" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no tick booked the voucher out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let operations =
        app.get(&format!("/v1/books/{}/operations?kind=tick", world.platform), &world.admin).await.expect(200);
    assert_eq!(operations["items"][0]["outcome"], "accepted", "{operations}");
    app.stop().await;
}
