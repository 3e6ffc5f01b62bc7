//! The operation log (操作日志, issue 9 item 6) as a book's admin reads it: every command,
//! accepted or refused, with the token, request id, client, command, outcome code and position;
//! filters by person, token, kind, outcome and time; pages and a CSV file; who may read which
//! book; refused operations pruned after their retention and never in the ledger's log; the
//! bootstrap's and `kboss settle`'s commands; PostgreSQL.

use chrono::{DateTime, Utc};
use clap::Parser;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A request with an `X-Request-Id` (and any other headers), checked against the OpenAPI document.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let method_name = method.as_str().to_ascii_lowercase();
    let mut request = app.client.request(method, format!("{}{path}", app.address)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    assert_documented(&method_name, path, status.as_u16());
    Answer { status, body, text, headers }
}

async fn post_as(app: &TestApp, path: &str, token: &str, request_id: &str, body: Value) -> Answer {
    send(app, Method::POST, path, token, &[("X-Request-Id", request_id)], Some(body)).await
}

/// The principal id of a token (what the operation log calls `token_id`).
/// The person behind each token seen by [`token_id`]: an operation names both.
static USERS: std::sync::Mutex<std::collections::BTreeMap<String, Value>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

async fn token_id(app: &TestApp, token: &str) -> String {
    let me = app.get("/v1/me", token).await.expect(200);
    let id = me["token_id"].as_str().unwrap().to_owned();
    assert!(me["user_id"].is_string(), "every token belongs to a user: {me}");
    USERS.lock().unwrap().insert(id.clone(), me["user_id"].clone());
    id
}

/// The user of a token [`token_id`] looked up.
fn user_of(token: &str) -> Value {
    USERS.lock().unwrap().get(token).cloned().unwrap_or_else(|| panic!("token {token} was not looked up"))
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items")
}

/// The operations of a book with the request id `request_id`, newest first.
fn with_request_id<'a>(page: &'a Value, request_id: &str) -> Vec<&'a Value> {
    items(page).iter().filter(|item| item["request_id"] == request_id).collect()
}

/// An operation as the API answers it, without its time (checked apart).
fn fields(item: &Value) -> Value {
    let mut item = item.clone();
    let at = item.as_object_mut().unwrap().remove("at").expect("at");
    DateTime::parse_from_rfc3339(at.as_str().expect("at is a string")).expect("at is RFC 3339");
    item
}

fn operation(
    org: &str,
    token: &str,
    kind: &str,
    outcome: &str,
    code: Value,
    position: Value,
    request_id: &str,
) -> Value {
    json!({
        "org_id": org, "user_id": user_of(token), "token_id": token, "kind": kind, "outcome": outcome,
        "code": code, "position": position, "request_id": request_id, "client": "127.0.0.1",
    })
}

#[tokio::test]
async fn accepted_and_refused_commands_are_recorded_with_token_request_id_client_and_outcome() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (r2, finance, other, customer) = (&world.r2, &world.r2_finance, &world.r2_finance_other, &world.customer);
    let finance_id = token_id(&app, finance).await;
    let other_id = token_id(&app, other).await;
    let customer_id = token_id(&app, &world.customer_token).await;

    // Accepted: a recharge request, its approval by another person.
    let body = json!({ "customer_id": customer, "amount": "500.00", "method": "offline", "reference": "slip 7" });
    let requested = post_as(&app, "/v1/recharges", finance, "req-recharge", body).await.expect(202);
    let approval = requested["approval_id"].as_str().unwrap().to_owned();
    // Refused: the requester approving its own request; the log does not move.
    let before = app.log_position();
    let own = post_as(&app, &format!("/v1/approvals/{approval}/approve"), finance, "req-own", json!({})).await;
    assert_eq!((own.status.as_u16(), own.code()), (422, "self_approval"));
    assert_eq!(app.log_position(), before, "a refused command appends nothing");
    let approved =
        post_as(&app, &format!("/v1/approvals/{approval}/approve"), other, "req-approve", json!({})).await.expect(200);
    // The customer orders ten months (9500.00) and cannot pay them from 500.00: refused.
    let items_body =
        json!({ "customer_id": customer, "items": [{ "product_id": world.product, "quantity": 10, "periods": 1 }] });
    let order = post_as(&app, "/v1/orders", &world.customer_token, "req-order", items_body).await.expect(201);
    let order_id = order["id"].as_str().unwrap().to_owned();
    let before = app.log_position();
    let pay = post_as(&app, &format!("/v1/orders/{order_id}/pay"), &world.customer_token, "req-pay", json!({})).await;
    assert_eq!((pay.status.as_u16(), pay.code()), (422, "insufficient_balance"));
    assert_eq!(app.log_position(), before, "a refused payment appends nothing");
    // The same request twice under one Idempotency-Key: the second is a replay.
    let coupon = json!({ "customer_id": customer, "amount": "5.00", "reason": "welcome" });
    let headers = [("X-Request-Id", "req-coupon"), ("Idempotency-Key", "coupon-1")];
    let granted = send(&app, Method::POST, "/v1/coupons", &world.r2_admin, &headers, Some(coupon.clone())).await;
    let granted = granted.expect(201);
    let headers = [("X-Request-Id", "req-coupon-again"), ("Idempotency-Key", "coupon-1")];
    let again = send(&app, Method::POST, "/v1/coupons", &world.r2_admin, &headers, Some(coupon)).await.expect(201);
    assert_eq!(again["position"], granted["position"]);
    let admin_id = token_id(&app, &world.r2_admin).await;

    let page = app.get(&format!("/v1/books/{r2}/operations"), finance).await.expect(200);
    let expected = [
        (
            "req-recharge",
            operation(
                r2,
                &finance_id,
                "request_recharge",
                "accepted",
                json!(null),
                requested["position"].clone(),
                "req-recharge",
            ),
        ),
        (
            "req-own",
            operation(r2, &finance_id, "decide_approval", "refused", json!("self_approval"), json!(null), "req-own"),
        ),
        (
            "req-approve",
            operation(
                r2,
                &other_id,
                "decide_approval",
                "accepted",
                json!(null),
                approved["position"].clone(),
                "req-approve",
            ),
        ),
        // The customer's operations show in its seller's book, with the customer's org.
        (
            "req-order",
            operation(
                customer,
                &customer_id,
                "place_order",
                "accepted",
                json!(null),
                order["position"].clone(),
                "req-order",
            ),
        ),
        (
            "req-pay",
            operation(
                customer,
                &customer_id,
                "pay_order",
                "refused",
                json!("insufficient_balance"),
                json!(null),
                "req-pay",
            ),
        ),
        (
            "req-coupon",
            operation(
                r2,
                &admin_id,
                "grant_coupon",
                "accepted",
                json!(null),
                granted["position"].clone(),
                "req-coupon",
            ),
        ),
        (
            "req-coupon-again",
            operation(
                r2,
                &admin_id,
                "grant_coupon",
                "replayed",
                json!(null),
                granted["position"].clone(),
                "req-coupon-again",
            ),
        ),
    ];
    for (request_id, expected) in &expected {
        let found = with_request_id(&page, request_id);
        assert_eq!(found.len(), 1, "{request_id} once in {page}");
        assert_eq!(fields(found[0]), *expected, "{request_id}");
    }
    // Newest first: the replay, then the coupon, … then the recharge request.
    let order_seen: Vec<&str> = items(&page)
        .iter()
        .filter_map(|item| item["request_id"].as_str())
        .filter(|id| id.starts_with("req-"))
        .collect();
    assert_eq!(
        order_seen,
        ["req-coupon-again", "req-coupon", "req-pay", "req-order", "req-approve", "req-own", "req-recharge"]
    );
    // A request without X-Request-Id gets the gateway's (a UUID), as the answer's header says.
    let unnamed = app.post("/v1/orgs", &world.r2_admin, json!({ "kind": "customer", "name": "Customer D" })).await;
    let generated = unnamed.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    let page = app.get(&format!("/v1/books/{r2}/operations?kind=open_org&limit=1"), finance).await.expect(200);
    assert_eq!(items(&page)[0]["request_id"], generated.as_str());
    // `at` is when it was sent: between the test's start of the world and now.
    let at: DateTime<Utc> = items(&page)[0]["at"].as_str().unwrap().parse().unwrap();
    assert!(at <= Utc::now() && Utc::now() - at < chrono::Duration::minutes(5), "{at}");
    app.stop().await;
}

#[tokio::test]
async fn filters_by_kind_outcome_token_person_and_time_and_pages_with_cursors() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (r2, finance) = (&world.r2, &world.r2_finance);
    recharge(&app, &world, "100.00").await;
    let middle = Utc::now();
    recharge(&app, &world, "200.00").await;
    let body = json!({ "customer_id": world.customer, "amount": "99999.00", "route": "original" });
    let refused = app.post("/v1/withdrawals", finance, body).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text);
    let refused_code = refused.code().to_owned();
    let book = format!("/v1/books/{r2}/operations");
    let kinds = |page: &Value| -> Vec<String> {
        items(page)
            .iter()
            .map(|item| format!("{}:{}", item["kind"].as_str().unwrap(), item["outcome"].as_str().unwrap()))
            .collect()
    };

    let recharges = app.get(&format!("{book}?kind=request_recharge"), finance).await.expect(200);
    assert_eq!(kinds(&recharges), ["request_recharge:accepted", "request_recharge:accepted"]);
    let refusals = app.get(&format!("{book}?outcome=refused"), finance).await.expect(200);
    assert_eq!(kinds(&refusals), ["withdraw:refused"]);
    assert_eq!(items(&refusals)[0]["code"], refused_code.as_str());
    // By token: what the second finance token did (it approved both recharges).
    let other = token_id(&app, &world.r2_finance_other).await;
    let by_token = app.get(&format!("{book}?token_id={other}"), finance).await.expect(200);
    assert_eq!(kinds(&by_token), ["decide_approval:accepted", "decide_approval:accepted"]);
    // By time: from the middle on, only the second recharge, its approval and the refusal.
    let from = middle.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let since = app.get(&format!("{book}?from={from}"), finance).await.expect(200);
    assert_eq!(kinds(&since), ["withdraw:refused", "decide_approval:accepted", "request_recharge:accepted"]);
    let until = app.get(&format!("{book}?to={from}&kind=request_recharge"), finance).await.expect(200);
    assert_eq!(kinds(&until), ["request_recharge:accepted"]);
    // A date is the whole day in UTC: today holds everything, yesterday nothing.
    let today = Utc::now().date_naive();
    let all = app.get(&book, finance).await.expect(200);
    let whole_days = app.get(&format!("{book}?from={}&to={today}", today.pred_opt().unwrap()), finance).await;
    assert_eq!(items(&whole_days.expect(200)).len(), items(&all).len());
    let before = app.get(&format!("{book}?to={}", today - chrono::Days::new(2)), finance).await.expect(200);
    assert!(items(&before).is_empty(), "{before}");
    // By person: a user nobody is matches nothing; the other finance person's, theirs alone.
    let person = app.get(&format!("{book}?user_id={}", uuid::Uuid::now_v7()), finance).await.expect(200);
    assert!(items(&person).is_empty(), "{person}");
    let user = user_of(&other);
    let theirs = app.get(&format!("{book}?user_id={}", user.as_str().unwrap()), finance).await.expect(200);
    assert!(!items(&theirs).is_empty() && items(&theirs).iter().all(|item| item["user_id"] == user), "{theirs}");
    // Combined filters.
    let combined = app.get(&format!("{book}?kind=decide_approval&token_id={other}&from={from}"), finance).await;
    assert_eq!(kinds(&combined.expect(200)), ["decide_approval:accepted"]);

    // Paging: two at a time, the same items as the whole list, in the same order.
    let mut cursor: Option<String> = None;
    let mut walked = Vec::new();
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{book}?limit=2&cursor={cursor}"),
            None => format!("{book}?limit=2"),
        };
        let page = app.get(&path, finance).await.expect(200);
        assert_eq!((page["limit"].as_u64(), page["cursor"].as_str()), (Some(2), cursor.as_deref()));
        walked.extend(items(&page).iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items(&page).len(), 2);
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(&walked, items(&all));
    assert!(items(&all).len() > 6, "the world's set-up and the flows: {all}");

    // Bad filters are problems naming the parameter.
    for (query, status, code, field) in [
        ("kind=buy_everything", 422, "invalid_field", "kind"),
        ("outcome=maybe", 422, "invalid_field", "outcome"),
        ("token_id=abc", 422, "invalid_id", "token_id"),
        ("user_id=abc", 422, "invalid_id", "user_id"),
        ("from=yesterday", 422, "invalid_date", "from"),
        ("from=2026-02-01&to=2026-01-01", 422, "invalid_field", "to"),
        ("format=pdf", 422, "invalid_field", "format"),
        ("cursor=l1.3", 400, "bad_request", "cursor"),
        ("format=csv&limit=10", 400, "bad_request", "limit"),
        ("persn=me", 400, "bad_request", "persn"),
    ] {
        let answer = app.get(&format!("{book}?{query}"), finance).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code(), answer.body["field"].as_str()),
            (status, code, Some(field)),
            "{query}: {}",
            answer.text
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_csv_file_has_every_matching_operation_in_order_quoted_against_formulas() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (r2, finance) = (&world.r2, &world.r2_finance);
    let body = json!({ "customer_id": world.customer, "amount": "100.00", "method": "offline", "reference": "slip 1" });
    post_as(&app, "/v1/recharges", finance, "=HYPERLINK(\"x\")", body).await.expect(202);
    let body = json!({ "customer_id": world.customer, "amount": "200.00", "method": "offline", "reference": "slip 2" });
    post_as(&app, "/v1/recharges", finance, "plain,comma", body).await.expect(202);

    let filter = "kind=request_recharge&from=2000-01-01&to=2999-12-31";
    let page = app.get(&format!("/v1/books/{r2}/operations?{filter}"), finance).await.expect(200);
    let answer = app.get(&format!("/v1/books/{r2}/operations?{filter}&format=csv"), finance).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.text);
    assert_eq!(answer.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        answer.headers["content-disposition"],
        "attachment; filename=\"R2-operations-2000-01-01-2999-12-31.csv\""
    );
    assert!(answer.headers.contains_key("kboss-position"));
    let token = token_id(&app, finance).await;
    let user = user_of(&token);
    let user = user.as_str().unwrap();
    // Oldest first, as they happened; the same times as the JSON answer.
    let rows: Vec<&Value> = items(&page).iter().rev().collect();
    let expected = format!(
        "at,kind,outcome,code,position,user_id,token_id,org_id,request_id,client\n\
         {},request_recharge,accepted,,{},{user},{token},{r2},\"'=HYPERLINK(\"\"x\"\")\",127.0.0.1\n\
         {},request_recharge,accepted,,{},{user},{token},{r2},\"plain,comma\",127.0.0.1\n",
        rows[0]["at"].as_str().unwrap(),
        rows[0]["position"],
        rows[1]["at"].as_str().unwrap(),
        rows[1]["position"],
    );
    assert_eq!(answer.text, expected);
    app.stop().await;
}

#[tokio::test]
async fn a_book_shows_its_staffs_and_customers_operations_to_its_admin_and_finance_only() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    buy_nothing_but_order(&app, &world).await;
    let r2_book = format!("/v1/books/{}/operations", world.r2);
    let r1_book = format!("/v1/books/{}/operations", world.r1);
    let all = app.get(&r2_book, &world.r2_admin).await.expect(200);
    // R2's book: what R2's staff did and what its customer did; not what R1 did for R2.
    let orgs: std::collections::BTreeSet<&str> =
        items(&all).iter().map(|item| item["org_id"].as_str().unwrap()).collect();
    assert_eq!(orgs, [world.r2.as_str(), world.customer.as_str()].into_iter().collect());
    let r1 = app.get(&r1_book, &world.r1_admin).await.expect(200);
    let r1_kinds: Vec<&str> = items(&r1).iter().map(|item| item["kind"].as_str().unwrap()).collect();
    // R1 opened R2 and gave R2 its admin token, and set R2's special rate.
    assert!(
        r1_kinds.contains(&"open_org") && r1_kinds.contains(&"issue_token") && r1_kinds.contains(&"set_rate"),
        "{r1}"
    );
    assert!(items(&r1).iter().all(|item| item["org_id"] == world.r1.as_str()), "{r1}");

    // The platform's super_admin reads every book.
    assert_eq!(app.get(&r2_book, &world.admin).await.expect(200)["items"], all["items"]);
    assert_eq!(app.get(&r2_book, &world.r2_finance).await.expect(200)["items"], all["items"]);
    // A parent reseller does not read its child's book; a customer and sales staff are refused.
    let parent = app.get(&r2_book, &world.r1_admin).await;
    assert_eq!((parent.status.as_u16(), parent.code()), (404, "not_found"));
    let customer = app.get(&r2_book, &world.customer_token).await;
    assert_eq!((customer.status.as_u16(), customer.code()), (403, "forbidden"));
    let sales = app.get(&r2_book, &world.r2_sales).await;
    assert_eq!((sales.status.as_u16(), sales.code()), (403, "forbidden"));
    // A foreign reseller: R1's sibling under the platform.
    let sibling = open_org(&app, &world.admin, "reseller", "R3").await;
    let sibling_admin = token(&app, &world.admin, &sibling, &["admin"]).await;
    let foreign = app.get(&r2_book, &sibling_admin).await;
    assert_eq!((foreign.status.as_u16(), foreign.code()), (404, "not_found"));
    let own = app.get(&format!("/v1/books/{sibling}/operations"), &sibling_admin).await.expect(200);
    assert!(items(&own).is_empty(), "R3 has done nothing yet: {own}");
    // A customer's org keeps no book; an unknown one is not found either.
    let no_book = app.get(&format!("/v1/books/{}/operations", world.customer), &world.admin).await;
    assert_eq!((no_book.status.as_u16(), no_book.code()), (404, "not_found"));
    let unknown = app.get(&format!("/v1/books/{}/operations", uuid::Uuid::now_v7()), &world.admin).await;
    assert_eq!(unknown.status.as_u16(), 404);
    app.stop().await;
}

/// The customer places an order (its operation shows in R2's book).
async fn buy_nothing_but_order(app: &TestApp, world: &World) {
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    app.post("/v1/orders", &world.customer_token, body).await.expect(201);
}

#[tokio::test]
async fn refused_operations_are_pruned_after_their_retention_and_accepted_ones_stay() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (r2, finance) = (&world.r2, &world.r2_finance);
    let body = json!({ "customer_id": world.customer, "amount": "99999.00", "route": "original" });
    assert_eq!(app.post("/v1/withdrawals", finance, body).await.status.as_u16(), 422);
    let book = format!("/v1/books/{r2}/operations");
    let everything = items(&app.get(&book, finance).await.expect(200)).len();
    assert_eq!(items(&app.get(&format!("{book}?outcome=refused"), finance).await.expect(200)).len(), 1);

    // The default retention is 180 days: on day 179 nothing goes; on day 181 the refusal does.
    let operations = &app.state.operations;
    assert_eq!(operations.prune(Utc::now() + chrono::Duration::days(179)).await.unwrap(), 0);
    assert_eq!(operations.prune(Utc::now() + chrono::Duration::days(181)).await.unwrap(), 1);
    assert!(items(&app.get(&format!("{book}?outcome=refused"), finance).await.expect(200)).is_empty());
    let kept = app.get(&book, finance).await.expect(200);
    assert_eq!(items(&kept).len(), everything - 1);
    assert!(items(&kept).iter().all(|item| item["outcome"] == "accepted"), "{kept}");
    let metrics = crate::metrics::scrape(&app).await;
    assert_eq!(crate::metrics::value(&metrics, "kboss_operation_log_total{outcome=\"pruned\"}"), Some("1"));
    let recorded = crate::metrics::value(&metrics, "kboss_operation_log_total{outcome=\"recorded\"}");
    assert!(recorded.and_then(|count| count.parse::<u64>().ok()).is_some_and(|count| count > 10), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn the_bootstrap_and_kboss_settle_are_operations_too() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    buy(&app, &world).await;
    let platform = format!("/v1/books/{}/operations", world.platform);
    let bootstrap = app.get(&format!("{platform}?kind=bootstrap"), &world.admin).await.expect(200);
    let admin_id = token_id(&app, &world.admin).await;
    let expected = json!({
        "org_id": world.platform, "user_id": null, "token_id": admin_id, "kind": "bootstrap", "outcome": "accepted",
        "code": null, "position": 2, "request_id": null, "client": null,
    });
    assert_eq!(items(&bootstrap).iter().map(fields).collect::<Vec<_>>(), [expected]);
    // The deployment's admin user and token: issued by the deployment itself, before any user.
    let token = app.get(&format!("{platform}?kind=set_admin_token&to=2999-01-01"), &world.admin).await.expect(200);
    let first = items(&token).last().expect("the admin token");
    assert_eq!((first["position"].as_u64(), first["request_id"].is_null()), (Some(4), true));
    assert_eq!(first["user_id"], Value::Null);

    // `kboss settle` with the server stopped: a statement, then a run that conflicts with it.
    let data_dir = app.stop().await;
    for _ in 0..2 {
        let directory = data_dir.path().to_str().unwrap();
        let arguments = [
            "kboss",
            "--data-dir",
            directory,
            "settle",
            "--book",
            &world.r1,
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
        ];
        gateway::cli::run(gateway::cli::Cli::parse_from(arguments)).await.expect("settle runs");
    }
    let app = spawn_app(Options { data_dir: Some(data_dir), ..Options::default() }).await;
    let settled =
        app.get(&format!("/v1/books/{}/operations?kind=issue_settlement_statement", world.r1), &world.r1_finance).await;
    let settled = settled.expect(200);
    let runs = items(&settled);
    assert_eq!(runs.len(), 2, "{settled}");
    // Every run acts as the book's finance through one principal of its own.
    let principal = uuid::Uuid::from_u128(0x6b62_6f73_7365_7474_6c65).to_string();
    assert!(runs.iter().all(|run| run["token_id"] == principal.as_str()), "{settled}");
    assert_eq!(
        (runs[1]["outcome"].as_str(), runs[1]["code"].is_null(), runs[1]["position"].as_u64()),
        (Some("accepted"), true, Some(app.log_position()))
    );
    assert_eq!(
        (runs[0]["outcome"].as_str(), runs[0]["code"].as_str()),
        (Some("refused"), Some("idempotency_conflict"))
    );
    for run in runs {
        assert_eq!((run["org_id"].as_str(), run["client"].is_null()), (Some(world.r1.as_str()), true));
        assert!(uuid::Uuid::parse_str(run["request_id"].as_str().unwrap()).is_ok(), "one id per run: {run}");
    }
    assert_ne!(runs[0]["request_id"], runs[1]["request_id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_anyone_else_s_forwarded_for_is_ignored() {
    let trusted = spawn_app(Options { trusted_proxies: vec!["127.0.0.0/8".to_owned()], ..Options::default() }).await;
    let untrusted = spawn_app(Options::default()).await;
    for (app, client) in [(&trusted, "198.51.100.7"), (&untrusted, "127.0.0.1")] {
        let me = app.get("/v1/me", ADMIN_TOKEN).await.expect(200);
        let platform = me["org_id"].as_str().unwrap().to_owned();
        let headers = [("X-Request-Id", "req-forwarded"), ("X-Forwarded-For", "203.0.113.1, 198.51.100.7, 127.0.0.9")];
        let body = json!({ "kind": "supplier", "name": "Supplier S" });
        send(app, Method::POST, "/v1/orgs", ADMIN_TOKEN, &headers, Some(body)).await.expect(201);
        let page = app.get(&format!("/v1/books/{platform}/operations?kind=open_org"), ADMIN_TOKEN).await.expect(200);
        assert_eq!(items(&page)[0]["client"], client);
        assert_eq!(items(&page)[0]["request_id"], "req-forwarded");
    }
    trusted.stop().await;
    untrusted.stop().await;
}

#[tokio::test]
async fn the_operation_log_lives_in_postgresql_in_server_mode() {
    let schema = format!("kboss_operations_{}", uuid::Uuid::now_v7().simple());
    let admin = crate::postgres::admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    let app = spawn_app(Options { database_url: Some(url.clone()), ..Options::default() }).await;
    let world = build_world(&app).await;
    let body = json!({ "customer_id": world.customer, "amount": "300.00", "method": "offline", "reference": "slip 3" });
    let requested = post_as(&app, "/v1/recharges", &world.r2_finance, "pg-recharge", body).await.expect(202);
    let body = json!({ "customer_id": world.customer, "amount": "99999.00", "route": "original" });
    let before = app.log_position();
    let refused = post_as(&app, "/v1/withdrawals", &world.r2_finance, "pg-withdraw", body).await;
    assert_eq!(refused.status.as_u16(), 422);
    assert_eq!(app.log_position(), before);
    let finance_id = token_id(&app, &world.r2_finance).await;
    let book = format!("/v1/books/{}/operations", world.r2);
    let page = app.get(&book, &world.r2_finance).await.expect(200);
    assert_eq!(
        fields(with_request_id(&page, "pg-recharge")[0]),
        operation(
            &world.r2,
            &finance_id,
            "request_recharge",
            "accepted",
            json!(null),
            requested["position"].clone(),
            "pg-recharge"
        )
    );
    assert_eq!(
        fields(with_request_id(&page, "pg-withdraw")[0]),
        operation(&world.r2, &finance_id, "withdraw", "refused", json!(refused.code()), json!(null), "pg-withdraw")
    );
    // A second instance (a follower) forwards a write to the leader, which records it once, in
    // the same table, under the request's own id; the follower reads it there.
    let follower = spawn_app(Options { database_url: Some(url.clone()), ..Options::default() }).await;
    let body = json!({ "kind": "supplier", "name": "S2" });
    let write = post_as(&follower, "/v1/orgs", &world.admin, "pg-follower", body).await;
    assert_eq!(write.status.as_u16(), 201, "{}", write.text);
    let accepted =
        follower.get(&format!("/v1/books/{}/operations?outcome=accepted", world.platform), &world.admin).await;
    let accepted = accepted.expect(200);
    let recorded = with_request_id(&accepted, "pg-follower");
    assert_eq!(recorded.len(), 1, "recorded once, by the leader: {accepted}");
    assert_eq!(
        (recorded[0]["kind"].as_str(), recorded[0]["position"].as_u64()),
        (Some("open_org"), Some(app.log_position()))
    );
    follower.stop().await;
    // Paging, and retention, on PostgreSQL.
    let two = app.get(&format!("{book}?limit=2"), &world.r2_finance).await.expect(200);
    let next = two["next_cursor"].as_str().expect("more than two").to_owned();
    let rest = app.get(&format!("{book}?limit=500&cursor={next}"), &world.r2_finance).await.expect(200);
    let walked: Vec<Value> = items(&two).iter().chain(items(&rest)).cloned().collect();
    assert_eq!(&walked, items(&page));
    // The refused withdrawal (the follower's forwarded write was accepted: kept).
    assert_eq!(app.state.operations.prune(Utc::now() + chrono::Duration::days(181)).await.unwrap(), 1);
    let refused = app.get(&format!("{book}?outcome=refused"), &world.r2_finance).await.expect(200);
    assert!(items(&refused).is_empty(), "{refused}");
    app.stop().await;
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
