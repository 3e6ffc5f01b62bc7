//! One API contract for front-end developers (issue 15 item 3): CORS, every list one envelope
//! with `limit` and cursors, unknown filters refused, org lists and search, a detail for every
//! id an answer names, problems for every error, and an OpenAPI document that says all of it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|item| item["id"].as_str().expect("an id").to_owned()).collect()
}

/// Walks a list `limit` items at a time; answers every item's `key`, checking the envelope of
/// each page on the way.
async fn walk(app: &TestApp, path: &str, token: &str, limit: usize, key: &str) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let page_path = match &cursor {
            Some(cursor) => format!("{path}{separator}limit={limit}&cursor={cursor}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let page = app.get(&page_path, token).await.expect(200);
        assert_eq!(page["limit"], limit, "{page}");
        assert_eq!(page["cursor"].as_str(), cursor.as_deref(), "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit, "{page}");
        seen.extend(items.iter().map(|item| item[key].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "a page before the last is full: {page}");
                cursor = Some(next.to_owned());
            }
            None => return seen,
        }
    }
}

#[tokio::test]
async fn every_list_pages_with_limit_and_cursors_in_a_stable_order() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let mut requested = Vec::new();
    for (amount, reference) in [("100.00", "slip 1"), ("200.00", "slip 2"), ("300.00", "slip 3")] {
        let body =
            json!({ "customer_id": world.customer, "amount": amount, "method": "offline", "reference": reference });
        let pending = app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);
        requested.push(pending["approval_id"].as_str().unwrap().to_owned());
    }
    // Newest first, two at a time: the last request first.
    let first = app.get("/v1/approvals?status=pending&limit=2", &world.r2_admin).await.expect(200);
    assert_eq!(ids(&first), vec![requested[2].clone(), requested[1].clone()]);
    assert_eq!((first["limit"].as_u64(), first["cursor"].is_null()), (Some(2), true));
    let next = first["next_cursor"].as_str().expect("a next page");
    let second =
        app.get(&format!("/v1/approvals?status=pending&limit=2&cursor={next}"), &world.r2_admin).await.expect(200);
    assert_eq!(ids(&second), vec![requested[0].clone()]);
    assert_eq!((second["cursor"].as_str(), second["next_cursor"].is_null()), (Some(next), true));
    // The default page is 100; each answer says so.
    let all = app.get("/v1/approvals", &world.r2_admin).await.expect(200);
    assert_eq!((all["limit"].as_u64(), all["items"].as_array().unwrap().len()), (Some(100), 3));

    // Every other list, walked one item at a time, equals its whole answer.
    recharge(&app, &world, "5000.00").await;
    buy(&app, &world).await;
    let r2 = &world.r2;
    for (path, token, key) in [
        ("/v1/products".to_owned(), &world.r2_admin, "id"),
        (format!("/v1/books/{r2}/balances"), &world.r2_finance, "account"),
        (format!("/v1/books/{r2}/ledger"), &world.r2_finance, "entry_id"),
        ("/v1/orders".to_owned(), &world.r2_admin, "id"),
        (
            format!("/v1/books/{r2}/kpi?granularity=month&by=product&from=2026-01-01&to=2026-01-31"),
            &world.r2_finance,
            "period",
        ),
        ("/v1/orgs".to_owned(), &world.admin, "id"),
        ("/v1/approvals".to_owned(), &world.r2_admin, "id"),
    ] {
        let separator = if path.contains('?') { '&' } else { '?' };
        let whole = app.get(&format!("{path}{separator}limit=500"), token).await.expect(200);
        let whole: Vec<Value> = whole["items"].as_array().unwrap().iter().map(|item| item[key].clone()).collect();
        assert!(!whole.is_empty(), "{path} lists something");
        assert_eq!(walk(&app, &path, token, 1, key).await, whole, "{path} one at a time");
    }
    // KPIs keep `rows` beside `items` (the first contract's name).
    let kpi = app.get(&format!("/v1/books/{r2}/kpi?granularity=month"), &world.r2_finance).await.expect(200);
    assert_eq!(kpi["rows"], kpi["items"]);
    assert_eq!(
        (kpi["items"][0]["revenue"].as_str(), kpi["items"][0]["discounts"].as_str()),
        (Some("1000.00"), Some("50.00"))
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_filters_and_values_are_refused_naming_the_parameter() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    for (path, field, detail) in [
        ("/v1/approvals?status=waiting", "status", "status: must be pending, granted or rejected"),
        (
            "/v1/orders?status=shipped",
            "status",
            "status: must be pending_payment, paid, fulfilled, cancelled, partially_refunded or refunded",
        ),
        ("/v1/orgs?kind=bank", "kind", "kind: must be platform, reseller, customer or supplier"),
    ] {
        let refused = app.get(path, &world.admin).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (422, "invalid_field"), "{path}: {}", refused.text);
        assert_eq!((refused.body["field"].as_str(), refused.body["detail"].as_str()), (Some(field), Some(detail)));
    }
    // A misspelt filter would silently list everything: it is a 400 naming it.
    let misspelt = app.get("/v1/approvals?stauts=pending", &world.r2_admin).await;
    assert_eq!((misspelt.status.as_u16(), misspelt.code()), (400, "bad_request"), "{}", misspelt.text);
    assert!(misspelt.body["detail"].as_str().unwrap().contains("stauts"), "{}", misspelt.text);
    let cursor = app.get("/v1/products?cursor=zz", &world.admin).await;
    assert_eq!((cursor.status.as_u16(), cursor.body["field"].as_str()), (400, Some("cursor")), "{}", cursor.text);
    app.stop().await;
}

#[tokio::test]
async fn orgs_are_listed_and_searched_within_what_the_caller_may_see() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let names = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|org| org["name"].as_str().unwrap().to_owned()).collect()
    };
    let all = app.get("/v1/orgs", &world.admin).await.expect(200);
    assert_eq!(names(&all), ["KBOSS", "Cloud Supplier", "R1", "R2", "Customer C"]);
    let customers = app.get("/v1/orgs?kind=customer", &world.admin).await.expect(200);
    assert_eq!(names(&customers), ["Customer C"]);
    assert_eq!(customers["items"][0]["parent_id"], world.r2.as_str());
    let searched = app.get("/v1/orgs?q=r", &world.admin).await.expect(200);
    assert_eq!(names(&searched), ["Cloud Supplier", "R1", "R2", "Customer C"], "any case, any part of the name");
    let children = app.get(&format!("/v1/orgs?parent_id={}", world.r1), &world.admin).await.expect(200);
    assert_eq!(names(&children), ["R2"]);
    // Staff of a reseller list their own parties; another parent is nobody they know.
    assert_eq!(names(&app.get("/v1/orgs", &world.r2_admin).await.expect(200)), ["Customer C"]);
    let other = app.get(&format!("/v1/orgs?parent_id={}", world.r1), &world.r2_admin).await;
    assert_eq!(other.status.as_u16(), 404);
    let customer = app.get("/v1/orgs", &world.customer_token).await;
    assert_eq!((customer.status.as_u16(), customer.code()), (403, "forbidden"));
    // Who am I: the org's name too.
    let me = app.get("/v1/me", &world.r2_admin).await.expect(200);
    assert_eq!((me["org_name"].as_str(), me["org_kind"].as_str()), (Some("R2"), Some("reseller")));
    app.stop().await;
}

#[tokio::test]
async fn every_id_an_answer_names_has_a_detail_and_approvals_show_what_they_book() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let body =
        json!({ "customer_id": world.customer, "amount": "5000.00", "method": "offline", "reference": "slip 42" });
    let pending = app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);
    let (recharge_id, approval_id) = (pending["id"].as_str().unwrap(), pending["approval_id"].as_str().unwrap());

    let approval = app.get(&format!("/v1/approvals/{approval_id}"), &world.r2_admin).await.expect(200);
    let subject = &approval["subject"];
    assert_eq!(
        (subject["kind"].as_str(), subject["id"].as_str(), subject["amount"].as_str()),
        (Some("recharge"), Some(recharge_id), Some("5000.00"))
    );
    assert_eq!(
        (subject["customer_name"].as_str(), subject["reference"].as_str(), subject["channel"].as_str()),
        (Some("Customer C"), Some("slip 42"), Some("offline"))
    );
    assert_eq!(subject["status"], "requested");
    let requested_at = subject["requested_position"].as_u64().unwrap();
    let request = app.get(&format!("/v1/events/{requested_at}"), &world.r2_finance).await.expect(200);
    assert_eq!(
        (request["event_type"].as_str(), request["position"].as_u64()),
        (Some("RechargeRequested"), Some(requested_at))
    );

    let approved = app.post(&format!("/v1/approvals/{approval_id}/approve"), &world.r2_finance_other, json!({})).await;
    let booked_at = approved.expect(200)["position"].as_u64().unwrap();
    let recharge = app.get(&format!("/v1/recharges/{recharge_id}"), &world.customer_token).await.expect(200);
    assert_eq!(
        (recharge["status"].as_str(), recharge["booked_position"].as_u64()),
        (Some("confirmed"), Some(booked_at))
    );
    assert_eq!((recharge["amount"].as_str(), recharge["currency"].as_str()), (Some("5000.00"), Some("CNY")));
    assert_eq!(recharge["approval_id"], approval_id);
    // The event that booked it, with its entries, is one GET away.
    let event = app.get(&format!("/v1/events/{booked_at}"), &world.r2_finance).await.expect(200);
    assert_eq!(event["event_type"], "RechargeConfirmed", "{event}");

    let coupon = json!({ "customer_id": world.customer, "amount": "20.00", "reason": "welcome" });
    let granted = app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    let coupon =
        app.get(&format!("/v1/coupons/{}", granted["id"].as_str().unwrap()), &world.r2_finance).await.expect(200);
    assert_eq!(
        (coupon["amount"].as_str(), coupon["reference"].as_str(), coupon["status"].as_str()),
        (Some("20.00"), Some("welcome"), Some("granted"))
    );
    let withdrawal = json!({ "customer_id": world.customer, "amount": "30.00", "route": "offline" });
    let pending = app.post("/v1/withdrawals", &world.r2_finance, withdrawal).await.expect(202);
    let withdrawal = app.get(&format!("/v1/withdrawals/{}", pending["id"].as_str().unwrap()), &world.r2_admin).await;
    let withdrawal = withdrawal.expect(200);
    assert_eq!(
        (withdrawal["amount"].as_str(), withdrawal["channel"].as_str(), withdrawal["status"].as_str()),
        (Some("30.00"), Some("offline"), Some("requested"))
    );
    let product = app.get(&format!("/v1/products/{}", world.product), &world.r2_admin).await.expect(200);
    assert_eq!((product["name"].as_str(), product["list_price"].as_str()), (Some("GPU server"), Some("1000.00")));

    // Another tenant's ids are nobody's: R1's staff and another customer see 404s.
    for path in [format!("/v1/recharges/{recharge_id}"), format!("/v1/approvals/{approval_id}")] {
        let hidden = app.get(&path, &world.r1_finance).await;
        assert_eq!((hidden.status.as_u16(), hidden.code()), (404, "not_found"), "{path}");
    }
    let unknown = app.get(&format!("/v1/recharges/{}", uuid::Uuid::now_v7()), &world.admin).await;
    assert_eq!(unknown.status.as_u16(), 404);
    app.stop().await;
}

#[tokio::test]
async fn every_error_is_a_problem_saying_what_went_wrong() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let problem = |answer: &Answer| {
        assert_eq!(answer.headers["content-type"], "application/problem+json", "{}", answer.text);
        (answer.status.as_u16(), answer.code().to_owned(), answer.body["detail"].as_str().unwrap_or("").to_owned())
    };
    // 405 with the methods the path has.
    let wrong = app.call(Method::DELETE, "/v1/orders", Some(&world.admin), None, None).await;
    assert_eq!(problem(&wrong), (405, "method_not_allowed".to_owned(), "DELETE is not allowed here".to_owned()));
    let mut allowed: Vec<&str> = wrong.headers["allow"].to_str().unwrap().split(',').collect();
    allowed.sort_unstable();
    assert_eq!(allowed, ["GET", "HEAD", "POST"]);
    // 401 says whether the header is missing, malformed or unknown.
    let missing = app.call(Method::GET, "/v1/me", None, None, None).await;
    assert_eq!(problem(&missing).0, 401);
    assert_eq!(missing.body["detail"], "no Authorization header: send `Authorization: Bearer <token>`");
    assert_eq!(missing.headers["www-authenticate"], r#"Bearer realm="kboss""#);
    let request = app.client.get(format!("{}/v1/me", app.address)).header("Authorization", "Token abc");
    let malformed = request.send().await.unwrap();
    assert_documented("get", "/v1/me", malformed.status().as_u16());
    assert_eq!(malformed.headers()["www-authenticate"], r#"Bearer realm="kboss", error="invalid_request""#);
    let malformed: Value = malformed.json().await.unwrap();
    assert_eq!(malformed["detail"], "the Authorization header is not `Bearer <token>`");
    let unknown = app.call(Method::GET, "/v1/me", Some("kb_nobody"), None, None).await;
    assert_eq!(
        problem(&unknown),
        (401, "unauthorized".to_owned(), "the bearer token is not one this ledger issued".to_owned())
    );
    assert_eq!(unknown.headers["www-authenticate"], r#"Bearer realm="kboss", error="invalid_token""#);
    // A name that would read as another is refused, naming the field and the character.
    let spoofed = app.post("/v1/orgs", &world.r2_admin, json!({ "kind": "customer", "name": "Acme\u{202E}moc" })).await;
    assert_eq!(
        problem(&spoofed),
        (
            422,
            "invalid_field".to_owned(),
            "name: must not contain a bidirectional control character (U+202E)".to_owned()
        )
    );
    assert_eq!(spoofed.body["field"], "name");
    // A customer opening an org is forbidden (its role lacks the permission), not told that a
    // book is missing.
    let opened = app.post("/v1/orgs", &world.customer_token, json!({ "kind": "customer", "name": "D" })).await;
    assert_eq!(
        problem(&opened),
        (403, "forbidden".to_owned(), "needs one of the permissions customers.write, orgs.write".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn cors_answers_preflights_for_the_configured_origins_only() {
    let app = spawn_app(Options { cors_origins: vec!["https://admin.example.com".into()], ..Options::default() }).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/v1/orders", app.address))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
            .send()
    };
    let allowed = preflight("https://admin.example.com").await.unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], "https://admin.example.com");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert_eq!(headers["access-control-allow-headers"], "authorization,content-type,idempotency-key,x-request-id");
    assert_eq!(headers["access-control-max-age"], "3600");
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // A read from the allowed origin exposes the headers a client needs.
    let read = app
        .client
        .get(format!("{}/v1/me", app.address))
        .header("Origin", "https://admin.example.com")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(read.headers()["access-control-allow-origin"], "https://admin.example.com");
    let exposed = read.headers()["access-control-expose-headers"].to_str().unwrap().to_owned();
    assert_eq!(exposed, "kboss-position,x-request-id,retry-after,content-disposition,www-authenticate");
    app.stop().await;

    // Without KBOSS_CORS_ORIGINS, no CORS headers at all.
    let app = spawn_app(Options::default()).await;
    let read = app.client.get(format!("{}/healthz", app.address)).header("Origin", "https://admin.example.com").send();
    assert!(read.await.unwrap().headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[tokio::test]
async fn the_document_describes_every_operation_its_errors_words_and_formats() {
    let document: Value = serde_json::from_str(&gateway::openapi::document_text()).unwrap();
    assert_eq!(document["servers"][0]["url"], "/");
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            assert!(operation["summary"].as_str().is_some_and(|summary| !summary.is_empty()), "{name} has a summary");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key("503") && responses.contains_key("500"), "{name}");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = &response["content"]["application/problem+json"];
                    assert_eq!(content["schema"]["$ref"], "#/components/schemas/Problem", "{name} {status}");
                }
            }
            if operation.get("security").is_some() {
                assert!(responses.contains_key("401") && responses.contains_key("403"), "{name}");
            }
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            let named = |wanted: &str| parameters.iter().any(|parameter| parameter["name"] == wanted);
            if method == "get" && path.starts_with("/v1/") {
                assert!(named("min_position"), "{name} takes min_position");
                assert!(responses["200"]["headers"].get("Kboss-Position").is_some(), "{name} answers Kboss-Position");
            }
            if method == "post" && path.starts_with("/v1/") {
                assert!(named("Idempotency-Key"), "{name} takes Idempotency-Key");
            }
        }
    }
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["RechargeBody"]["properties"]["method"]["enum"], json!(["online", "offline", "transfer"]));
    assert_eq!(schemas["IssueTokenBody"]["properties"]["roles"]["items"]["enum"][0], "super_admin");
    assert_eq!(schemas["RechargeBody"]["properties"]["customer_id"]["format"], "uuid");
    assert!(schemas["RechargeBody"]["properties"]["amount"]["pattern"].is_string());
    let kpi = &document["paths"]["/v1/books/{org_id}/kpi"]["get"]["parameters"];
    let by = kpi.as_array().unwrap().iter().find(|parameter| parameter["name"] == "by").unwrap();
    assert_eq!(by["schema"]["enum"], json!(["product", "customer", "supplier", "reseller", "salesperson"]));
}
