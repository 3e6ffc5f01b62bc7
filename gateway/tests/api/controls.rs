//! Money controls and edges (issue 9, items 5 and 7): a replayed `Idempotency-Key` answers only
//! a caller who may issue the command now; serial codes are drawn at random, and a retry answers
//! the stored ones; invite codes are each book's own; overload is a prompt 503 `overloaded` with
//! `Retry-After` that books nothing; every error is problem+json; exports neutralise formulas.

use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

fn codes(answer: &Value) -> Vec<String> {
    answer["codes"].as_array().expect("codes").iter().map(|code| code.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_replayed_key_answers_the_stored_result_only_to_a_caller_who_may_issue_the_command() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (operations, operations_too, sales) = serial_business(&app, &world).await;
    let batch = json!({ "distributor_id": world.r1, "days": 30, "count": 3 });
    let issued = app.post_keyed("/v1/serial-codes/batches", &operations, "batch-1", batch.clone()).await.expect(201);
    assert_eq!((issued["unit_price"].as_str(), issued["total"].as_str()), (Some("80.00"), Some("240.00")));
    let issued_at = app.log_position();

    // A colleague without the rights gets the refusal a fresh request gets, not the codes; with
    // another body too (rights first, then the key's conflict).
    let fresh = app.post_keyed("/v1/serial-codes/batches", &sales, "batch-2", batch.clone()).await;
    assert_eq!((fresh.status.as_u16(), fresh.code()), (403, "forbidden"));
    assert_eq!(fresh.body["detail"], "needs the permission serial_codes.issue");
    for body in [batch.clone(), json!({ "distributor_id": world.r1, "days": 30, "count": 4 })] {
        let replayed = app.post_keyed("/v1/serial-codes/batches", &sales, "batch-1", body).await;
        assert_eq!((replayed.status.as_u16(), &replayed.body), (403, &fresh.body), "{}", replayed.text);
        assert!(!replayed.text.contains(&codes(&issued)[0]));
    }
    // A colleague with the rights gets the stored answer; another body is the key's conflict.
    let again = app.post_keyed("/v1/serial-codes/batches", &operations_too, "batch-1", batch.clone()).await;
    assert_eq!(again.expect(201), issued);
    let other = json!({ "distributor_id": world.r1, "days": 30, "count": 4 });
    let conflict = app.post_keyed("/v1/serial-codes/batches", &operations_too, "batch-1", other).await;
    assert_eq!((conflict.status.as_u16(), conflict.code()), (409, "idempotency_conflict"));
    assert_eq!(app.log_position(), issued_at, "a replay booked something");

    // An approval granted by finance: replayed by sales, it is refused; by an admin, answered.
    let request =
        json!({ "customer_id": world.customer, "amount": "500.00", "method": "transfer", "reference": "slip 9" });
    let pending = app.post("/v1/recharges", &world.r2_finance, request).await.expect(202);
    let approve = format!("/v1/approvals/{}/approve", pending["approval_id"].as_str().unwrap());
    let granted = app.post_keyed(&approve, &world.r2_finance_other, "approve-1", json!({})).await.expect(200);
    assert_eq!(granted["status"], "granted");
    let granted_at = app.log_position();
    let replayed = app.post_keyed(&approve, &world.r2_sales, "approve-1", json!({})).await;
    assert_eq!((replayed.status.as_u16(), replayed.code()), (403, "forbidden"), "{}", replayed.text);
    assert_eq!(app.post_keyed(&approve, &world.r2_admin, "approve-1", json!({})).await.expect(200), granted);
    assert_eq!(app.log_position(), granted_at);
    let balance = app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await;
    assert_eq!(balance.expect(200)["available"], "500.00", "booked once");
    app.stop().await;
}

/// What the gateway used to answer for a batch sent with an idempotency key: codes derived from
/// (org, key, route) with SHA-256, which anyone who knows the key computes offline.
fn derived_from_the_key(org: &str, key: &str, index: usize) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let org: uuid::Uuid = org.parse().unwrap();
    let mut hasher = Sha256::new();
    for part in [org.as_bytes().as_slice(), key.as_bytes(), b"serial-batches"] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let seed = hasher.finalize();
    let block = Sha256::new()
        .chain_update(seed)
        .chain_update(format!("code-{index}").as_bytes())
        .chain_update(0u32.to_le_bytes())
        .finalize();
    block.iter().take(16).map(|byte| ALPHABET[(*byte as usize) % ALPHABET.len()] as char).collect()
}

#[tokio::test]
async fn serial_codes_are_drawn_at_random_and_a_retry_answers_the_stored_ones() {
    let mut answers = Vec::new();
    for _store in 0..2 {
        let app = spawn_app(Options::default()).await;
        let world = build_world(&app).await;
        let (operations, _, _) = serial_business(&app, &world).await;
        let batch = json!({ "distributor_id": world.r1, "days": 30, "count": 5 });
        let first = app.post_keyed("/v1/serial-codes/batches", &operations, "batch-7", batch.clone()).await.expect(201);
        let position = app.log_position();
        // The retry draws other codes, and is answered the stored ones: the same request.
        let retry = app.post_keyed("/v1/serial-codes/batches", &operations, "batch-7", batch).await.expect(201);
        assert_eq!(retry, first);
        assert_eq!((first["position"].as_u64(), app.log_position()), (Some(position), position));
        let drawn = codes(&first);
        assert_eq!(drawn.len(), 5);
        for (index, code) in drawn.iter().enumerate() {
            assert!(code.len() == 16 && code.bytes().all(|byte| b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ".contains(&byte)));
            assert_ne!(*code, derived_from_the_key(&world.platform, "batch-7", index), "computable from the key");
        }
        let unique: std::collections::BTreeSet<&String> = drawn.iter().collect();
        assert_eq!(unique.len(), 5);
        answers.push(drawn);
        app.stop().await;
    }
    // Two stores, the same key and request: nothing in common.
    assert!(answers[0].iter().all(|code| !answers[1].contains(code)), "{answers:?}");
}

#[tokio::test]
async fn invite_codes_are_each_books_own_and_resolved_in_the_sellers_book() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    // R2's SPRING carries a promotion at 0.90; R1's SPRING, created after it, none.
    let promotion = json!({ "name": "Spring", "rates": { (world.product.clone()): "0.90" },
        "valid_from": "2026-01-01", "valid_to": "2026-03-31" });
    let promotion = app.post(&format!("/v1/books/{}/promotions", world.r2), &world.r2_sales, promotion).await;
    let promotion = promotion.expect(201)["id"].as_str().unwrap().to_owned();
    let code = |promotion: Option<&str>| json!({ "code": "SPRING", "promotion_id": promotion });
    let r2_code =
        app.post(&format!("/v1/books/{}/invite-codes", world.r2), &world.r2_sales, code(Some(&promotion))).await;
    assert_eq!(r2_code.expect(201)["code"], "SPRING");
    // R1 learns nothing of R2's code: its own is created as if R2's did not exist.
    let r1_code = app.post(&format!("/v1/books/{}/invite-codes", world.r1), &world.r1_admin, code(None)).await;
    assert_eq!(r1_code.expect(201)["code"], "SPRING");
    let r1_only = json!({ "code": "R1-ONLY" });
    app.post(&format!("/v1/books/{}/invite-codes", world.r1), &world.r1_admin, r1_only).await.expect(201);
    // Within a book a code is unique.
    let again = app.post(&format!("/v1/books/{}/invite-codes", world.r2), &world.r2_sales, code(None)).await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "already_exists"));

    // C buys from R2: SPRING is R2's, at the promotion's 900.00 rather than C's 950.00.
    let order = |invite_code: &str| {
        json!({ "customer_id": world.customer, "invite_code": invite_code,
            "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] })
    };
    let placed = app.post("/v1/orders", &world.customer_token, order("SPRING")).await.expect(201);
    assert_eq!(placed["total"], "900.00");
    let read = app.get(&format!("/v1/orders/{}", placed["id"].as_str().unwrap()), &world.customer_token).await;
    assert_eq!(read.expect(200)["invite_code"], "SPRING");
    // R1's other code is, to C, a code that does not exist.
    let foreign = app.post("/v1/orders", &world.customer_token, order("R1-ONLY")).await;
    let unknown = app.post("/v1/orders", &world.customer_token, order("NOPE-42")).await;
    for (answer, code) in [(&foreign, "R1-ONLY"), (&unknown, "NOPE-42")] {
        assert_eq!((answer.status.as_u16(), answer.code()), (422, "invalid_invite_code"));
        assert_eq!(answer.body["detail"], format!("invite code {code} is not valid here"));
        assert_eq!(answer.body["field"], "invite_code");
    }
    app.stop().await;
}

/// A request that holds one of the server's slots: its head is sent, its body (`{`, then `}`)
/// only when [`finish`] is called.
async fn held_request(address: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("a connection");
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.expect("the head is sent");
    stream
}

/// True when the server has already answered a held request (it found no slot).
fn answered(stream: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    !matches!(stream.try_read(&mut byte), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
}

/// Sends the rest of a held request's body and reads its answer (a 400: `{}` is no order).
async fn finish(mut stream: tokio::net::TcpStream) -> String {
    stream.write_all(b"}").await.expect("the body's end is sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("an answer");
    answer
}

/// A 503 `overloaded` problem with `Retry-After`, as shedding and the writer's full queue answer.
#[track_caller]
fn assert_overloaded(answer: &Answer) {
    assert_eq!((answer.status.as_u16(), answer.code()), (503, "overloaded"), "{}", answer.text);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(answer.body["detail"], "the ledger is busy; retry shortly");
}

#[tokio::test]
async fn overload_is_answered_at_once_503_overloaded_with_retry_after_and_books_nothing() {
    const SLOTS: usize = 4;
    let options = Options {
        concurrent_requests_max: Some(SLOTS),
        writer_channel_capacity: Some(1),
        writer_batch_commands_max: Some(1),
        ..Options::default()
    };
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "30000.00").await;
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let mut orders = Vec::new();
    for _ in 0..24 {
        let order = app.post("/v1/orders", &world.customer_token, body.clone()).await.expect(201);
        orders.push(order["id"].as_str().unwrap().to_owned());
    }
    let before = app.log_position();
    let (app_ref, customer_token) = (&app, world.customer_token.as_str());
    let pay = |order: &String| {
        let path = format!("/v1/orders/{order}/pay");
        async move { app_ref.post(&path, customer_token, json!({})).await }
    };

    // Every slot held by a request still sending its body: the next one is answered at once.
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..SLOTS {
        held.push(held_request(&address).await);
    }
    let mut probes = 0;
    loop {
        probes += 1;
        assert!(probes < 10_000, "the held requests never took every slot");
        let probe = app.get("/v1/me", &world.customer_token).await;
        if probe.status.as_u16() == 503 {
            assert_overloaded(&probe);
            break;
        }
        probe.expect(200);
        // A held request that arrived while a probe had the last slot was answered: again.
        for stream in held.iter_mut() {
            if answered(stream) {
                *stream = held_request(&address).await;
            }
        }
    }
    let shed = futures::future::join_all(orders[..8].iter().map(pay)).await;
    shed.iter().for_each(assert_overloaded);
    // Liveness and the metrics are not shed.
    assert_eq!(app.client.get(format!("{}/healthz", app.address)).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().status().as_u16(), 200);
    for stream in held {
        let answer = finish(stream).await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    }
    assert_eq!(app.log_position(), before, "a shed request booked something");

    // A burst of every payment at once: each is paid, or shed (by the HTTP limit or by the
    // writer's full queue) the same way, and a shed one books nothing.
    let burst = futures::future::join_all(orders.iter().map(pay)).await;
    let mut accepted = Vec::new();
    for (order, answer) in orders.iter().zip(&burst) {
        if answer.status.as_u16() == 200 {
            assert_eq!(answer.body["status"], "paid");
            accepted.push(order.clone());
        } else {
            assert_overloaded(answer);
        }
    }
    assert!(!accepted.is_empty(), "the first of the burst found a slot and an empty queue");
    assert_eq!(app.log_position(), before + accepted.len() as u64, "one OrderPaid per accepted payment");
    for order in &orders {
        let read = app.get(&format!("/v1/orders/{order}"), &world.customer_token).await.expect(200);
        let status = if accepted.contains(order) { "paid" } else { "pending_payment" };
        assert_eq!(read["status"], status, "{order}");
    }
    let balance = app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await;
    let expected = rust_decimal::Decimal::new(30_000_00 - 950_00 * accepted.len() as i64, 2);
    assert_eq!(balance.expect(200)["available"], expected.to_string());
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    let sold = rust_decimal::Decimal::new(950_00 * accepted.len() as i64, 2);
    assert_eq!(account(&r2, "2203"), (sold.to_string(), "30000.00".to_owned()));
    app.stop().await;
}

/// Issue 9 item 7 over HTTP: every error is problem+json (404 and 405 included); names refuse
/// control and bidirectional-override characters; the CSV export quotes CR/LF and never hands
/// a spreadsheet a formula.
#[tokio::test]
async fn every_error_is_problem_json_names_refuse_controls_and_the_csv_neutralises_formulas() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let problem = |answer: &Answer| {
        assert_eq!(answer.headers["content-type"], "application/problem+json", "{}", answer.text);
        (answer.status.as_u16(), answer.code().to_owned(), answer.body["detail"].as_str().unwrap_or("").to_owned())
    };
    let unknown = app.call(Method::GET, "/v1/no-such-thing", Some(&world.admin), None, None).await;
    assert_eq!(problem(&unknown), (404, "not_found".to_owned(), "route not found".to_owned()));
    let unknown = app.call(Method::POST, "/nowhere", None, None, Some(&json!({}))).await;
    assert_eq!(problem(&unknown).0, 404);
    let wrong = app.call(Method::PATCH, "/v1/recharges", Some(&world.admin), None, Some(&json!({}))).await;
    assert_eq!(problem(&wrong), (405, "method_not_allowed".to_owned(), "PATCH is not allowed here".to_owned()));
    for (name, character) in
        [("Acme\u{7}", "a control character (U+0007)"), ("Acme\u{2066}x", "a bidirectional control character (U+2066)")]
    {
        let refused = app.post("/v1/orgs", &world.r2_admin, json!({ "kind": "customer", "name": name })).await;
        assert_eq!(problem(&refused), (422, "invalid_field".to_owned(), format!("name: must not contain {character}")));
        assert_eq!(refused.body["field"], "name");
    }

    // A customer named like a formula, a recharge slip like one, a refund's reason on two lines.
    let named = "=HYPERLINK(\"http://x\",\"y\")";
    let formula = open_org(&app, &world.r2_admin, "customer", named).await;
    let slip = json!({ "customer_id": formula, "amount": "10.00", "method": "offline", "reference": "+cmd" });
    let pending = app.post("/v1/recharges", &world.r2_finance, slip).await.expect(202);
    let approve = format!("/v1/approvals/{}/approve", pending["approval_id"].as_str().unwrap());
    app.post(&approve, &world.r2_finance_other, json!({})).await.expect(200);
    recharge(&app, &world, "950.00").await;
    let order = buy(&app, &world).await;
    let refund = json!({ "amount": "100.00", "penalty": "0.00", "reason": "@SUM(1)\r\npartial" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);
    let path = format!("/v1/books/{}/export?format=csv&from=2026-01-01&to=2026-01-31", world.r2);
    let export = app.get(&path, &world.r2_finance).await.expect(200);
    let csv = export.as_str().expect("a CSV").to_owned();
    assert!(csv.contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\","), "{csv}");
    assert!(csv.contains(",'+cmd,"), "{csv}");
    assert!(csv.contains(",\"'@SUM(1)\r\npartial\","), "{csv}");
    // No field of any row starts with a formula character unquoted and unmarked.
    for field in csv.split([',', '\n']) {
        let field = field.trim_start_matches('"');
        assert!(!field.starts_with(['=', '+', '@']), "a formula reaches the spreadsheet: {field:?}");
    }
    app.stop().await;
}
