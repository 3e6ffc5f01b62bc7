//! Approval policies as data, per book (issue 9 item 4), over HTTP: the defaults hold prices
//! below cost in every scope until someone approves them; a threshold lets small coupons and
//! recharges through and holds large ones; two levels take two persons with each level's
//! roles; the policy round-trips and a bad rule is a 422 naming it; the approval webhook is
//! signed like DingTalk's robots and its signed callback decides, a forged one moves nothing.

use std::time::Duration;

use axum::extract::RawQuery;
use axum::routing::post;
use base64::Engine;
use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Bounds how long the test waits for the webhook before it fails (not a timing assertion).
const SINK_WAIT_MAX: Duration = Duration::from_secs(30);
const SECRET: &str = "SEC0f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn rule_of(policy: &Value, action: &str) -> Option<Value> {
    policy["rules"].as_array().unwrap().iter().find(|rule| rule["action"] == action).cloned()
}

async fn user_of(app: &TestApp, token: &str) -> String {
    app.get("/v1/me", token).await.expect(200)["user_id"].as_str().unwrap().to_owned()
}

async fn balance(app: &TestApp, world: &World, customer: &str) -> Value {
    app.get(&format!("/v1/customers/{customer}/balance"), &world.r2_finance).await.expect(200)
}

async fn approve(app: &TestApp, token: &str, approval: &str) -> crate::helpers::Answer {
    app.post(&format!("/v1/approvals/{approval}/approve"), token, json!({})).await
}

#[tokio::test]
async fn with_the_defaults_prices_below_cost_wait_and_no_order_sells_below_cost_until_approved() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (r2, product) = (&world.r2, &world.product);
    // Customer D buys from R2 at its public rate (C has a special rate of its own).
    let customer_d = open_org(&app, &world.r2_admin, "customer", "Customer D").await;
    let d_token = token(&app, &world.r2_admin, &customer_d, &["customer"]).await;
    let order = json!({ "customer_id": customer_d, "items": [{ "product_id": product, "quantity": 1, "periods": 1 }] });

    // No policy set: the defaults. Below cost always waits; coupons and refunds do not.
    let policy = app.get(&format!("/v1/books/{r2}/approval-policy"), &world.r2_finance).await.expect(200);
    assert_eq!(policy["position"], Value::Null);
    for action in
        ["public_rate_below_cost", "customer_rate_below_cost", "reseller_rate_below_cost", "promotion_below_cost"]
    {
        let expected = json!({ "action": action, "above": null, "levels": [["admin", "finance"]], "default": true });
        assert_eq!(rule_of(&policy, action), Some(expected));
    }
    assert_eq!((rule_of(&policy, "coupon"), rule_of(&policy, "refund")), (None, None));

    // A sales token sets a public rate of 0.01 (R2 buys at 0.88): it waits for approval.
    let cheap = json!({ "product_id": product, "scope": "public", "rate": "0.01" });
    let set = app.put(&format!("/v1/books/{r2}/rates"), &world.r2_sales, cheap).await.expect(200);
    assert_eq!(set["status"], "pending_approval");
    let public_approval = set["approval_id"].as_str().unwrap().to_owned();
    // A promotion at 0.0001: waits too, and no invite code can use it meanwhile.
    let promotion = json!({ "name": "Clearance", "rates": { product.as_str(): "0.0001" },
        "valid_from": "2026-01-01", "valid_to": "2026-12-31" });
    let pending = app.post(&format!("/v1/books/{r2}/promotions"), &world.r2_sales, promotion).await.expect(202);
    assert_eq!(pending["status"], "pending_approval");
    let (promotion_id, promotion_approval) =
        (pending["id"].as_str().unwrap().to_owned(), pending["approval_id"].as_str().unwrap().to_owned());
    assert_eq!(app.get(&format!("/v1/promotions/{promotion_id}"), &world.r2_sales).await.status.as_u16(), 404);
    let invite = json!({ "promotion_id": promotion_id, "code": "CLEARANCE" });
    let refused = app.post(&format!("/v1/books/{r2}/invite-codes"), &world.r2_sales, invite).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (404, "not_found"));
    // R1's special rate for R2 below R1's own cost (0.80) waits as well.
    let r1_sales = token(&app, &world.r1_admin, &world.r1, &["sales"]).await;
    let special = json!({ "product_id": product, "scope": format!("reseller:{r2}"), "rate": "0.50" });
    let set = app.put(&format!("/v1/books/{}/rates", world.r1), &r1_sales, special).await.expect(200);
    assert_eq!(set["status"], "pending_approval");

    // Until approved, the next order sells at the public 0.98, not at 1% of list.
    let placed = app.post("/v1/orders", &d_token, order.clone()).await.expect(201);
    assert_eq!(
        (placed["total"].as_str(), placed["items"][0]["rate_source"].as_str()),
        (Some("980.00"), Some("public"))
    );

    // The requester cannot approve it; R2's finance does, and the rate takes effect.
    assert_eq!(approve(&app, &world.r2_sales, &public_approval).await.code(), "forbidden");
    let granted = approve(&app, &world.r2_finance, &public_approval).await.expect(200);
    assert_eq!(granted["status"], "granted");
    let placed = app.post("/v1/orders", &d_token, order).await.expect(201);
    assert_eq!((placed["total"].as_str(), placed["items"][0]["rate"].as_str()), (Some("10.00"), Some("0.01")));
    let shown = app.get(&format!("/v1/orders/{}", placed["id"].as_str().unwrap()), &world.r2_finance).await.expect(200);
    let r2_level = &shown["waterfall"][0]["levels"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&r2_level["cost"], &r2_level["price"], &r2_level["margin"]),
        (&json!("880.00"), &json!("10.00"), &json!("-870.00"))
    );

    // The approval shows its one default level and its decision, by the person who took it.
    let finance_user = user_of(&app, &world.r2_finance).await;
    let approval = app.get(&format!("/v1/approvals/{public_approval}"), &world.r2_finance).await.expect(200);
    assert_eq!(
        (&approval["kind"], &approval["status"], &approval["levels"], &approval["current_level"]),
        (&json!("special_rate"), &json!("granted"), &json!([["admin", "finance"]]), &json!(1))
    );
    let decisions = approval["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        (&decisions[0]["level"], &decisions[0]["decision"], &decisions[0]["decided_by"]),
        (&json!(1), &json!("granted"), &json!(finance_user))
    );

    // The promotion rejected: it never exists.
    let rejected =
        app.post(&format!("/v1/approvals/{promotion_approval}/reject"), &world.r2_admin, json!({})).await.expect(200);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(app.get(&format!("/v1/promotions/{promotion_id}"), &world.r2_sales).await.status.as_u16(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_threshold_lets_a_small_coupon_or_recharge_through_and_sends_a_large_one_to_approval() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (r2, c) = (&world.r2, &world.customer);
    let rules = json!({ "rules": [
        { "action": "coupon", "above": "100.00", "levels": [["finance"]] },
        { "action": "offline_recharge", "above": "500.00", "levels": [["finance"]] },
    ] });
    let set = app.put(&format!("/v1/books/{r2}/approval-policy"), &world.r2_admin, rules).await.expect(200);
    let coupon_rule = json!({ "action": "coupon", "above": "100.00", "levels": [["finance"]], "default": false });
    assert_eq!(rule_of(&set, "coupon"), Some(coupon_rule));

    // A coupon at the threshold is granted at once; one cent above, it waits.
    let coupon = |amount: &str| json!({ "customer_id": c, "amount": amount, "reason": "loyalty" });
    let small = app.post("/v1/coupons", &world.r2_sales, coupon("100.00")).await.expect(201);
    assert!(small["id"].is_string());
    let large = app.post("/v1/coupons", &world.r2_sales, coupon("100.01")).await.expect(202);
    assert_eq!(large["status"], "pending_approval");
    assert_eq!(balance(&app, &world, c).await["balance"], "100.00");

    // An offline recharge at the threshold is booked at once; above it, it waits.
    let recharge =
        |amount: &str| json!({ "customer_id": c, "amount": amount, "method": "offline", "reference": "slip 8" });
    let small = app.post("/v1/recharges", &world.r2_sales, recharge("500.00")).await.expect(201);
    assert_eq!((small["status"].as_str(), small["amount"].as_str()), (Some("confirmed"), Some("500.00")));
    let large_recharge = app.post("/v1/recharges", &world.r2_sales, recharge("500.01")).await.expect(202);
    let wallet = balance(&app, &world, c).await;
    assert_eq!((wallet["balance"].as_str(), wallet["pending"].as_str()), (Some("600.00"), Some("500.01")));
    // Another action keeps its default: a transfer recharge of 0.01 still waits.
    let transfer = json!({ "customer_id": c, "amount": "0.01", "method": "transfer", "reference": "wire" });
    app.post("/v1/recharges", &world.r2_sales, transfer).await.expect(202);

    // Finance approves both: the coupon is booked, known by its grant's position.
    let granted = approve(&app, &world.r2_finance, large["approval_id"].as_str().unwrap()).await.expect(200);
    let coupon_shown = app.get(&format!("/v1/coupons/{}", granted["position"]), &world.r2_finance).await.expect(200);
    assert_eq!((coupon_shown["amount"].as_str(), coupon_shown["kind"].as_str()), (Some("100.01"), Some("coupon")));
    approve(&app, &world.r2_finance, large_recharge["approval_id"].as_str().unwrap()).await.expect(200);
    let wallet = balance(&app, &world, c).await;
    assert_eq!((wallet["balance"].as_str(), wallet["pending"].as_str()), (Some("1200.02"), Some("0.01")));
    app.stop().await;
}

#[tokio::test]
async fn a_two_level_approval_takes_two_persons_each_with_their_levels_role() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (r2, c) = (&world.r2, &world.customer);
    recharge(&app, &world, "1000.00").await;
    let rules = json!({ "rules": [{ "action": "withdrawal", "levels": [["finance"], ["admin"]] }] });
    app.put(&format!("/v1/books/{r2}/approval-policy"), &world.r2_admin, rules).await.expect(200);
    // 王芳 holds finance and admin, with a token for each: one person.
    let body = json!({ "name": "王芳", "roles": ["finance", "admin"] });
    let wang = app.post(&format!("/v1/orgs/{r2}/users"), &world.r2_admin, body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Read back (waiting for the read models): the token route finds the user there.
    app.get(&format!("/v1/users/{wang}"), &world.r2_admin).await.expect(200);
    let user_token = |roles: Value| {
        let path = format!("/v1/users/{wang}/tokens");
        let (app, admin) = (&app, &world.r2_admin);
        async move {
            app.post(&path, admin, json!({ "roles": roles })).await.expect(201)["token"].as_str().unwrap().to_owned()
        }
    };
    let (wang_finance, wang_admin) = (user_token(json!(["finance"])).await, user_token(json!(["admin"])).await);

    let withdrawal = json!({ "customer_id": c, "amount": "300.00", "route": "offline" });
    let pending = app.post("/v1/withdrawals", &world.r2_finance, withdrawal).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/approvals/{approval}/approve");

    // The requester, a role of the other level, a role of no level: refused with stable codes.
    let own = approve(&app, &world.r2_finance, &approval).await;
    assert_eq!((own.status.as_u16(), own.code()), (422, "self_approval"));
    let admin_first = approve(&app, &world.r2_admin, &approval).await;
    assert_eq!((admin_first.status.as_u16(), admin_first.code()), (403, "approval_level_role"));
    let sales = approve(&app, &world.r2_sales, &approval).await;
    assert_eq!((sales.status.as_u16(), sales.code()), (403, "forbidden"));

    // Level 1 by 王芳 as finance: the approval moves on, nothing is paid yet.
    let first = app.post_keyed(&path, &wang_finance, "level-one", json!({})).await.expect(200);
    assert_eq!(first["status"], "pending");
    assert_eq!(balance(&app, &world, c).await["available"], "700.00");
    let shown = app.get(&format!("/v1/approvals/{approval}"), &world.r2_admin).await.expect(200);
    assert_eq!(
        (&shown["status"], &shown["levels"], &shown["current_level"], &shown["action"]),
        (&json!("pending"), &json!([["finance"], ["admin"]]), &json!(2), &json!("withdrawal"))
    );
    assert_eq!(shown["decisions"][0]["decided_by"], json!(wang));

    // Level 2 is another person's: 王芳's admin token is refused, and so is a finance colleague.
    let repeat = approve(&app, &wang_admin, &approval).await;
    assert_eq!((repeat.status.as_u16(), repeat.code()), (422, "repeat_approver"));
    let colleague = approve(&app, &world.r2_finance_other, &approval).await;
    assert_eq!((colleague.status.as_u16(), colleague.code()), (403, "approval_level_role"));
    // A retry of 王芳's grant with its key answers what it answered (a refusal of rights it is not).
    assert_eq!(app.post_keyed(&path, &wang_finance, "level-one", json!({})).await.expect(200), first);

    // Level 2 by R2's admin: granted and paid in the same command.
    let last = approve(&app, &world.r2_admin, &approval).await.expect(200);
    assert_eq!(last["status"], "granted");
    let wallet = balance(&app, &world, c).await;
    assert_eq!((wallet["balance"].as_str(), wallet["available"].as_str()), (Some("700.00"), Some("700.00")));
    let paid = app.get(&format!("/v1/withdrawals/{}", pending["id"].as_str().unwrap()), &world.r2_admin).await;
    assert_eq!(paid.expect(200)["status"], "paid");
    let admin_user = user_of(&app, &world.r2_admin).await;
    let shown = app.get(&format!("/v1/approvals/{approval}"), &world.r2_admin).await.expect(200);
    let decided: Vec<(Value, Value, Value)> = shown["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|decision| (decision["level"].clone(), decision["decision"].clone(), decision["decided_by"].clone()))
        .collect();
    assert_eq!(decided, [(json!(1), json!("granted"), json!(wang)), (json!(2), json!("granted"), json!(admin_user))]);
    assert_eq!((&shown["status"], &shown["decided_by"]), (&json!("granted"), &json!(admin_user)));

    // A rejection at level 2 ends it and frees what it held.
    let second = json!({ "customer_id": c, "amount": "200.00", "route": "offline" });
    let pending = app.post("/v1/withdrawals", &world.r2_finance, second).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap();
    approve(&app, &wang_finance, approval).await.expect(200);
    assert_eq!(balance(&app, &world, c).await["available"], "500.00");
    let rejected = app.post(&format!("/v1/approvals/{approval}/reject"), &world.r2_admin, json!({})).await.expect(200);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(balance(&app, &world, c).await["available"], "700.00");
    let shown = app.get(&format!("/v1/approvals/{approval}"), &world.r2_admin).await.expect(200);
    assert_eq!((&shown["status"], &shown["decisions"][1]["decision"]), (&json!("rejected"), &json!("rejected")));
    app.stop().await;
}

#[tokio::test]
async fn the_policy_round_trips_and_a_bad_rule_is_a_422_naming_its_field() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let path = format!("/v1/books/{}/approval-policy", world.r2);
    let rules = json!([
        { "action": "withdrawal", "levels": [["finance"], ["admin", "finance"], ["admin"]] },
        { "action": "refund", "above": "250.50", "levels": [["operations", "finance"]] },
        { "action": "credit_limit_raise", "above": "0.00", "levels": [["admin"]] },
    ]);
    let set = app.put(&path, &world.r2_admin, json!({ "rules": rules })).await.expect(200);
    let read = app.get(&path, &world.r2_sales).await.expect(200);
    assert_eq!(read, set, "GET answers what PUT answered");
    assert_eq!((&read["org_id"], &read["position"]), (&json!(world.r2), &json!(app.log_position())));
    assert_eq!(
        read["rules"],
        json!([
            { "action": "offline_recharge", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "transfer_recharge", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "withdrawal", "above": null, "levels": [["finance"], ["admin", "finance"], ["admin"]], "default": false },
            { "action": "refund", "above": "250.50", "levels": [["finance", "operations"]], "default": false },
            { "action": "public_rate_below_cost", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "customer_rate_below_cost", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "reseller_rate_below_cost", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "promotion_below_cost", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "credit_limit_raise", "above": "0.00", "levels": [["admin"]], "default": false },
            { "action": "manual_journal_entry", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "settlement_payment", "above": null, "levels": [["admin", "finance"]], "default": true },
            { "action": "period_reopen", "above": null, "levels": [["admin", "finance"]], "default": true },
        ])
    );

    // Each bad rule is refused naming it, and the log does not move.
    let fine = json!({ "action": "coupon", "levels": [["finance"]] });
    let cases = [
        (json!({ "action": "refund", "levels": [] }), "rules[1].levels"),
        (json!({ "action": "refund", "levels": [["admin"], ["admin"], ["admin"], ["admin"]] }), "rules[1].levels"),
        (json!({ "action": "refund", "levels": [["admin"], []] }), "rules[1].levels"),
        (json!({ "action": "refund", "levels": [["admin", "cashier"]] }), "rules[1].levels"),
        (json!({ "action": "refund", "levels": [["customer"]] }), "rules[1].levels"),
        (json!({ "action": "teleport", "levels": [["admin"]] }), "rules[1].action"),
        (json!({ "action": "refund", "above": "-1.00", "levels": [["admin"]] }), "rules[1].above"),
        (json!({ "action": "withdrawal", "above": "1000.00", "levels": [["admin"]] }), "rules[1].above"),
        (json!({ "action": "coupon", "levels": [["admin"]] }), "rules[1].action"),
    ];
    let before = app.log_position();
    for (bad, field) in cases {
        let refused = app.put(&path, &world.r2_admin, json!({ "rules": [fine, bad] })).await;
        assert_eq!(refused.status.as_u16(), 422, "{bad}: {}", refused.text);
        assert_eq!(refused.body["field"], json!(field), "{bad}: {}", refused.text);
    }
    assert_eq!(app.log_position(), before);
    assert_eq!(app.get(&path, &world.r2_finance).await.expect(200), set, "the policy is unchanged");

    // The book's admin alone sets it: its finance is refused, another tenant does not find it.
    let finance = app.put(&path, &world.r2_finance, json!({ "rules": [] })).await;
    assert_eq!((finance.status.as_u16(), finance.code()), (403, "forbidden"));
    let parent = app.put(&path, &world.r1_admin, json!({ "rules": [] })).await;
    assert_eq!(parent.status.as_u16(), 404);
    // A customer's role lacks approvals.read: refused before anything is read.
    assert_eq!(app.get(&path, &world.customer_token).await.status.as_u16(), 403);
    // Set again, the whole policy is replaced: back to the defaults.
    let reset = app.put(&path, &world.r2_admin, json!({ "rules": [] })).await.expect(200);
    assert_eq!(rule_of(&reset, "withdrawal").unwrap()["default"], json!(true));
    assert_eq!(rule_of(&reset, "refund"), None);
    app.stop().await;
}

/// A local robot: answers every post `{"errcode": 0}` and hands over its query and JSON body.
async fn robot() -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, Value)>) {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let router = axum::Router::new().route(
        "/robot/send",
        post(move |RawQuery(query): RawQuery, axum::Json(body): axum::Json<Value>| {
            let sender = sender.clone();
            async move {
                let _ = sender.send((query.unwrap_or_default(), body));
                axum::Json(json!({ "errcode": 0 }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/robot/send?access_token=robot-7", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address, receiver)
}

/// DingTalk's signature, computed here independently of the server's code.
fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = hmac::Hmac::<sha2_hmac::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn query_value(query: &str, name: &str) -> String {
    let pair = query.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}="))).unwrap_or_default();
    // The sign is form-encoded (`%2B`, `%2F`, `%3D`).
    pair.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
}

fn percent(sign: &str) -> String {
    sign.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

#[tokio::test]
async fn the_webhook_is_signed_like_dingtalk_and_only_a_signed_callback_decides() {
    let (url, mut received) = robot().await;
    let app = spawn_app(Options { approval_webhook_hosts: vec!["127.0.0.1".into()], ..Options::default() }).await;
    let world = build_world(&app).await;
    let (r2, c) = (&world.r2, &world.customer);
    let hook = format!("/v1/books/{r2}/approval-webhook");

    // The book's admin sets it; the secret is never answered back.
    let elsewhere =
        app.put(&hook, &world.r2_admin, json!({ "url": "http://169.254.169.254/latest", "secret": SECRET })).await;
    assert_eq!((elsewhere.status.as_u16(), elsewhere.body["field"].as_str()), (422, Some("url")));
    let weak = app.put(&hook, &world.r2_admin, json!({ "url": url, "secret": "short" })).await;
    assert_eq!((weak.status.as_u16(), weak.body["field"].as_str()), (422, Some("secret")));
    let by_finance = app.put(&hook, &world.r2_finance, json!({ "url": url, "secret": SECRET })).await;
    assert_eq!((by_finance.status.as_u16(), by_finance.code()), (403, "forbidden"));
    let set = app.put(&hook, &world.r2_admin, json!({ "url": url, "secret": SECRET })).await;
    assert!(!set.text.contains(SECRET));
    let set = set.expect(200);
    assert_eq!((&set["url"], &set["secret_set"]), (&json!(url), &json!(true)));
    let read = app.get(&hook, &world.r2_admin).await;
    assert!(!read.text.contains(SECRET));
    assert_eq!(read.expect(200), set);

    // A request is posted to the book's robot, signed: timestamp (ms) and sign in the query.
    let before = chrono::Utc::now().timestamp_millis();
    let body = json!({ "customer_id": c, "amount": "250.00", "method": "transfer", "reference": "wire 9" });
    let pending = app.post("/v1/recharges", &world.r2_sales, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap().to_owned();
    let (query, message) =
        tokio::time::timeout(SINK_WAIT_MAX, received.recv()).await.expect("the robot was called").unwrap();
    assert!(query.starts_with("access_token=robot-7&timestamp="), "{query}");
    let timestamp: i64 = query_value(&query, "timestamp").parse().unwrap();
    assert!((before..=chrono::Utc::now().timestamp_millis()).contains(&timestamp), "{timestamp}");
    let sign = query_value(&query, "sign");
    assert_eq!(sign, dingtalk_sign(SECRET, timestamp), "DingTalk's signature of the timestamp");
    assert_eq!(message["msgtype"], "text");
    let content = message["text"]["content"].as_str().unwrap();
    assert!(content.contains(&approval) && content.contains("level 1 of 1 waits for admin, finance"), "{content}");

    // The callback as R2's finance user: forged, stale and replayed signatures move nothing.
    let finance_user = user_of(&app, &world.r2_finance).await;
    let decision =
        json!({ "approval_id": approval, "decision": "approve", "user_id": finance_user, "comment": "via DingTalk" });
    let callback =
        |timestamp: i64, sign: &str| format!("/v1/approvals/callback?timestamp={timestamp}&sign={}", percent(sign));
    let call = |path: String| {
        let (app, decision) = (&app, decision.clone());
        async move { app.call(Method::POST, &path, None, None, Some(&decision)).await }
    };
    let at = app.log_position();
    let now = chrono::Utc::now().timestamp_millis();
    let forged = call(callback(now, &dingtalk_sign("SEC-not-the-books-secret", now))).await;
    assert_eq!((forged.status.as_u16(), forged.code()), (401, "bad_signature"));
    assert_eq!(forged.headers["content-type"], "application/problem+json");
    let stale_at = now - 2 * 3_600_000;
    let stale = call(callback(stale_at, &dingtalk_sign(SECRET, stale_at))).await;
    assert_eq!((stale.status.as_u16(), stale.code()), (401, "stale_signature"));
    let replayed = call(callback(timestamp, &sign)).await;
    assert_eq!((replayed.status.as_u16(), replayed.code()), (401, "replayed_signature"), "the robot's own URL");
    let unsigned = app.call(Method::POST, "/v1/approvals/callback", None, None, Some(&decision)).await;
    assert_eq!((unsigned.status.as_u16(), unsigned.code()), (401, "bad_signature"));
    assert_eq!(app.log_position(), at, "the log did not move");
    assert_eq!(app.get(&format!("/v1/approvals/{approval}"), &world.r2_admin).await.expect(200)["status"], "pending");

    // Signed with the book's secret: the user's decision, as if they had used their token.
    let now = chrono::Utc::now().timestamp_millis();
    let signed = callback(now, &dingtalk_sign(SECRET, now));
    let decided = call(signed.clone()).await.expect(200);
    assert_eq!(decided["status"], "granted");
    let shown = app.get(&format!("/v1/approvals/{approval}"), &world.r2_admin).await.expect(200);
    assert_eq!((&shown["decided_by"], &shown["comment"]), (&json!(finance_user), &json!("via DingTalk")));
    assert_eq!(balance(&app, &world, c).await["balance"], "250.00");
    let again = call(signed).await;
    assert_eq!((again.status.as_u16(), again.code()), (401, "replayed_signature"));
    app.stop().await;
}

#[tokio::test]
async fn other_tenants_neither_read_nor_set_a_books_policy_or_webhook() {
    let app = spawn_app(Options { approval_webhook_hosts: vec!["127.0.0.1".into()], ..Options::default() }).await;
    let world = build_world(&app).await;
    let r3 = open_org(&app, &world.admin, "reseller", "R3").await;
    let r3_admin = token(&app, &world.admin, &r3, &["admin"]).await;
    let customer_d = open_org(&app, &r3_admin, "customer", "Customer D").await;
    let d_token = token(&app, &r3_admin, &customer_d, &["customer"]).await;
    let r2 = &world.r2;
    let before = app.log_position();
    let policy = json!({ "rules": [{ "action": "coupon", "levels": [["sales"]] }] });
    let webhook = json!({ "url": "http://127.0.0.1:9/robot/send", "secret": SECRET });
    for outsider in [&r3_admin, &d_token, &world.customer_token] {
        for (method, path, body) in [
            (Method::PUT, format!("/v1/books/{r2}/approval-policy"), Some(&policy)),
            (Method::GET, format!("/v1/books/{r2}/approval-policy"), None),
            (Method::PUT, format!("/v1/books/{r2}/approval-webhook"), Some(&webhook)),
            (Method::GET, format!("/v1/books/{r2}/approval-webhook"), None),
        ] {
            let answer = app.call(method.clone(), &path, Some(outsider), None, body).await;
            assert!(matches!(answer.status.as_u16(), 403 | 404), "{method} {path}: {}", answer.text);
        }
    }
    // R2's staff other than its admin read the policy, not the webhook.
    app.get(&format!("/v1/books/{r2}/approval-policy"), &world.r2_sales).await.expect(200);
    let sales = app.get(&format!("/v1/books/{r2}/approval-webhook"), &world.r2_sales).await;
    assert_eq!((sales.status.as_u16(), sales.code()), (403, "forbidden"));
    assert_eq!(app.log_position(), before, "an outsider changed the log");
    let unset = app.get(&format!("/v1/books/{r2}/approval-webhook"), &world.r2_admin).await.expect(200);
    assert_eq!((&unset["url"], &unset["secret_set"]), (&Value::Null, &json!(false)));
    app.stop().await;
}

#[tokio::test]
async fn in_server_mode_the_policy_and_the_webhook_live_in_postgresql_and_a_signed_callback_decides() {
    let schema = format!("kboss_policies_{}", uuid::Uuid::now_v7().simple());
    let admin = crate::postgres::admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    let (robot_url, mut received) = robot().await;
    let options =
        Options { database_url: Some(url), approval_webhook_hosts: vec!["127.0.0.1".into()], ..Options::default() };
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    let (r2, c) = (&world.r2, &world.customer);
    let hook = format!("/v1/books/{r2}/approval-webhook");
    let set = app.put(&hook, &world.r2_admin, json!({ "url": robot_url, "secret": SECRET })).await.expect(200);
    assert_eq!(app.get(&hook, &world.r2_admin).await.expect(200), set);
    let rules = json!({ "rules": [{ "action": "transfer_recharge", "levels": [["finance"], ["admin"]] }] });
    let policy = app.put(&format!("/v1/books/{r2}/approval-policy"), &world.r2_admin, rules).await.expect(200);
    assert_eq!(app.get(&format!("/v1/books/{r2}/approval-policy"), &world.r2_sales).await.expect(200), policy);

    let body = json!({ "customer_id": c, "amount": "80.00", "method": "transfer", "reference": "wire 3" });
    let approval =
        app.post("/v1/recharges", &world.r2_sales, body).await.expect(202)["approval_id"].as_str().unwrap().to_owned();
    let (query, message) =
        tokio::time::timeout(SINK_WAIT_MAX, received.recv()).await.expect("the robot was called").unwrap();
    let timestamp: i64 = query_value(&query, "timestamp").parse().unwrap();
    assert_eq!(query_value(&query, "sign"), dingtalk_sign(SECRET, timestamp));
    let content = message["text"]["content"].as_str().unwrap();
    assert!(content.contains("level 1 of 2 waits for finance"), "{content}");

    // Level 1 through the IM client as R2's finance user, then its admin with a token.
    let finance_user = user_of(&app, &world.r2_finance).await;
    let now = chrono::Utc::now().timestamp_millis();
    let path = format!("/v1/approvals/callback?timestamp={now}&sign={}", percent(&dingtalk_sign(SECRET, now)));
    let decision = json!({ "approval_id": approval, "decision": "approve", "user_id": finance_user });
    let first = app.call(Method::POST, &path, None, None, Some(&decision)).await.expect(200);
    assert_eq!(first["status"], "pending");
    let (next, _) = tokio::time::timeout(SINK_WAIT_MAX, received.recv()).await.expect("the next level").unwrap();
    assert!(next.contains("timestamp="), "the next level is announced, signed: {next}");
    approve(&app, &world.r2_admin, &approval).await.expect(200);
    let shown = app.get(&format!("/v1/approvals/{approval}"), &world.r2_admin).await.expect(200);
    let deciders: Vec<&Value> = shown["decisions"].as_array().unwrap().iter().map(|d| &d["decided_by"]).collect();
    assert_eq!(deciders, [&json!(finance_user), &json!(user_of(&app, &world.r2_admin).await)]);
    assert_eq!(balance(&app, &world, c).await["balance"], "80.00");
    app.stop().await;
}
