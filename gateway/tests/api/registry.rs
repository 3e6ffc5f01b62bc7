//! Registries (issue 12 "read what is configured", issue 15 item 3 "a detail for every id an
//! answer contains"): promotions and invite codes with their uses, serial batches and codes with
//! who activated them, invoices from request to issue or rejection; each by its id and in lists
//! walked a page of one at a time, with exact figures; and what other tenants see of them:
//! nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// What [`configure`] made, by id.
struct Registry {
    spring: String,
    summer: String,
    orders_with_code: Vec<String>,
    batch: String,
    codes: Vec<String>,
    invoice_issued: String,
    invoice_rejected: String,
    approval_issued: String,
}

/// Two promotions of R2 (at or above its cost, 0.88: neither waits for approval) and two invite
/// codes; three orders, two of them through the code of the first promotion (one paid); a batch
/// of three 30-day codes issued to R1 (gold, 0.80 of 300.00), the second activated by customer
/// C; two invoices for C, one issued and one rejected.
async fn configure(app: &TestApp, world: &World) -> Registry {
    recharge(app, world, "5000.00").await;
    let (r2, c, product) = (&world.r2, &world.customer, &world.product);
    let promotion = |name: &str, rate: &str, from: &str, to: &str| json!({ "name": name, "rates": { product.as_str(): rate }, "valid_from": from, "valid_to": to });
    let spring = promotion("Spring", "0.90", "2026-01-01", "2026-03-31");
    let spring = app.post(&format!("/v1/books/{r2}/promotions"), &world.r2_sales, spring).await.expect(201);
    let summer = promotion("Summer", "0.89", "2026-06-01", "2026-08-31");
    let summer = app.post(&format!("/v1/books/{r2}/promotions"), &world.r2_sales, summer).await.expect(201);
    let spring = spring["id"].as_str().unwrap().to_owned();
    let invite = json!({ "promotion_id": spring, "salesperson": "alice", "code": "SPRING-ALICE" });
    app.post(&format!("/v1/books/{r2}/invite-codes"), &world.r2_sales, invite).await.expect(201);
    let plain = json!({ "salesperson": "bob", "code": "PLAIN-1" });
    app.post(&format!("/v1/books/{r2}/invite-codes"), &world.r2_sales, plain).await.expect(201);

    let mut orders_with_code = Vec::new();
    for invite_code in [Some("SPRING-ALICE"), None, Some("SPRING-ALICE")] {
        let mut body = json!({ "customer_id": c, "items": [{ "product_id": product, "quantity": 1, "periods": 1 }] });
        if let Some(code) = invite_code {
            body["invite_code"] = json!(code);
        }
        let order = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
        let expected_total = if invite_code.is_some() { "900.00" } else { "950.00" };
        assert_eq!(order["total"], expected_total);
        if invite_code.is_some() {
            orders_with_code.push(order["id"].as_str().unwrap().to_owned());
        }
    }
    let first = &orders_with_code[0];
    app.post(&format!("/v1/orders/{first}/pay"), &world.customer_token, json!({})).await.expect(200);

    let admin = &world.admin;
    app.put("/v1/serial-codes/packages/30", admin, json!({ "list_price": "300.00" })).await.expect(200);
    app.put("/v1/serial-codes/tiers/gold", admin, json!({ "rate": "0.80" })).await.expect(200);
    app.put(&format!("/v1/orgs/{}/tier", world.r1), admin, json!({ "tier": "gold" })).await.expect(200);
    let batch = json!({ "distributor_id": world.r1, "days": 30, "count": 3 });
    let batch = app.post("/v1/serial-codes/batches", admin, batch).await.expect(201);
    assert_eq!((batch["unit_price"].as_str(), batch["total"].as_str()), (Some("240.00"), Some("720.00")));
    let codes: Vec<String> =
        batch["codes"].as_array().unwrap().iter().map(|code| code.as_str().unwrap().to_owned()).collect();
    let activate = json!({ "customer_id": c });
    app.post(&format!("/v1/serial-codes/{}/activate", codes[1]), &world.customer_token, activate).await.expect(200);

    let issued = app.post("/v1/invoices", &world.r2_finance, json!({ "customer_id": c, "amount": "100.00" })).await;
    let issued = issued.expect(202);
    let approval_issued = issued["approval_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/approvals/{approval_issued}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
    let rejected = app.post("/v1/invoices", &world.r2_finance, json!({ "customer_id": c, "amount": "50.00" })).await;
    let rejected = rejected.expect(202);
    let approval = rejected["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/reject"), &world.r2_finance_other, json!({})).await.expect(200);
    Registry {
        spring,
        summer: summer["id"].as_str().unwrap().to_owned(),
        orders_with_code,
        batch: batch["batch_id"].as_str().unwrap().to_owned(),
        codes,
        invoice_issued: issued["id"].as_str().unwrap().to_owned(),
        invoice_rejected: rejected["id"].as_str().unwrap().to_owned(),
        approval_issued,
    }
}

/// Every item of a list, read a page of one at a time: each page echoes its limit and cursor,
/// holds one item, and names the next page until the last.
async fn walk(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page_path = match &cursor {
            Some(cursor) => format!("{path}{separator}limit=1&cursor={cursor}"),
            None => format!("{path}{separator}limit=1"),
        };
        let page = app.get(&page_path, token).await.expect(200);
        assert_eq!((page["limit"].as_u64(), page["cursor"].as_str()), (Some(1), cursor.as_deref()), "{page}");
        let page_items = page["items"].as_array().unwrap();
        assert!(page_items.len() <= 1, "{page}");
        items.extend(page_items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(page_items.len(), 1, "a page before the last is full: {page}");
                cursor = Some(next.to_owned());
            }
            None => return items,
        }
    }
    panic!("{path} did not end within 100 pages");
}

/// A JSON object without the keys whose values differ run to run (times, positions).
fn without(value: &Value, keys: &[&str]) -> Value {
    let mut value = value.clone();
    for key in keys {
        value.as_object_mut().expect("an object").remove(*key);
    }
    value
}

#[tokio::test]
async fn every_registry_answers_its_ids_and_pages_with_exact_figures() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let registry = configure(&app, &world).await;
    let (r2, c, product) = (&world.r2, &world.customer, &world.product);

    // Promotions: a book's staff read them, one page at a time, each also by its id.
    let promotions = walk(&app, &format!("/v1/books/{r2}/promotions"), &world.r2_finance).await;
    let stable = |item: &Value| without(item, &["created_at", "position"]);
    assert_eq!(
        promotions.iter().map(stable).collect::<Vec<_>>(),
        vec![
            json!({ "id": registry.spring, "book": r2, "name": "Spring", "rates": { product.as_str(): "0.90" },
                "valid_from": "2026-01-01", "valid_to": "2026-03-31", "stacking": "exclusive", "reach": "invite_code" }),
            json!({ "id": registry.summer, "book": r2, "name": "Summer", "rates": { product.as_str(): "0.89" },
                "valid_from": "2026-06-01", "valid_to": "2026-08-31", "stacking": "exclusive", "reach": "invite_code" }),
        ]
    );
    assert!(promotions[0]["position"].as_u64() < promotions[1]["position"].as_u64());
    for promotion in &promotions {
        let id = promotion["id"].as_str().unwrap();
        assert_eq!(&app.get(&format!("/v1/promotions/{id}"), &world.r2_sales).await.expect(200), promotion);
    }
    let everything = app.get(&format!("/v1/books/{r2}/promotions"), &world.admin).await.expect(200);
    assert_eq!(everything["items"].as_array().unwrap(), &promotions, "the super_admin reads every book");

    // Invite codes count the orders placed with them, and name the last.
    let codes = walk(&app, &format!("/v1/books/{r2}/invite-codes"), &world.r2_sales).await;
    let stable = |item: &Value| without(item, &["created_at", "position", "last_used_at", "last_used_position"]);
    assert_eq!(
        codes.iter().map(stable).collect::<Vec<_>>(),
        vec![
            json!({ "code": "SPRING-ALICE", "book": r2, "promotion_id": registry.spring, "promotion_name": "Spring",
                "salesperson": "alice", "uses": 2, "last_order_id": registry.orders_with_code[1] }),
            json!({ "code": "PLAIN-1", "book": r2, "promotion_id": null, "promotion_name": null,
                "salesperson": "bob", "uses": 0, "last_order_id": null }),
        ]
    );
    assert!(codes[0]["last_used_at"].is_string() && codes[1]["last_used_at"].is_null());
    assert!(codes[0]["last_used_position"].as_u64() > codes[0]["position"].as_u64());
    let code = app.get(&format!("/v1/books/{r2}/invite-codes/SPRING-ALICE"), &world.r2_finance).await.expect(200);
    assert_eq!(code, codes[0]);
    let last_order = app.get(&format!("/v1/orders/{}", registry.orders_with_code[1]), &world.r2_sales).await;
    assert_eq!(last_order.expect(200)["invite_code"], "SPRING-ALICE", "the last order named is readable");
    let unknown = app.get(&format!("/v1/books/{r2}/invite-codes/NOPE"), &world.r2_finance).await;
    assert_eq!((unknown.status.as_u16(), unknown.code()), (404, "not_found"));

    // A serial batch: its issuer and its distributor read it, with its figures.
    let batch_path = format!("/v1/serial-codes/batches/{}", registry.batch);
    let batch = app.get(&batch_path, &world.admin).await.expect(200);
    assert_eq!(
        without(&batch, &["issued_at", "position"]),
        json!({ "id": registry.batch, "issuer_id": world.platform, "distributor_id": world.r1,
            "distributor_name": "R1", "tier": "gold", "days": 30, "count": 3, "activated": 1,
            "unit_price": "240.00", "total": "720.00", "expires_on": null, "expired": 0 })
    );
    assert_eq!(app.get(&batch_path, &world.r1_finance).await.expect(200), batch);

    // Its codes, in the order they were issued: one activated by C, the others still issued.
    let listed = walk(&app, &format!("/v1/serial-codes?distributor_id={}", world.r1), &world.admin).await;
    let statuses: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|code| {
            (code["code"].as_str().unwrap(), code["status"].as_str().unwrap(), code["amount"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            (registry.codes[0].as_str(), "issued", "240.00"),
            (registry.codes[1].as_str(), "activated", "240.00"),
            (registry.codes[2].as_str(), "issued", "240.00"),
        ]
    );
    let activated = &listed[1];
    assert_eq!(
        without(activated, &["activated_at", "activated_position", "issued_position"]),
        json!({ "code": registry.codes[1], "batch_id": registry.batch, "issuer_id": world.platform,
            "distributor_id": world.r1, "distributor_name": "R1", "days": 30, "status": "activated",
            "amount": "240.00", "customer_id": c, "customer_name": "Customer C", "expires_on": null,
            "expired_position": null })
    );
    assert!(activated["activated_position"].as_u64() > activated["issued_position"].as_u64());
    assert!(listed[0]["customer_id"].is_null() && listed[0]["activated_at"].is_null());
    let by_distributor = walk(&app, &format!("/v1/serial-codes?batch_id={}", registry.batch), &world.r1_admin).await;
    assert_eq!(by_distributor, listed, "the distributor lists the codes issued to it");
    let only = |status: &str| format!("/v1/serial-codes?status={status}&limit=10");
    let activated_page = app.get(&only("activated"), &world.r1_admin).await.expect(200);
    assert_eq!(activated_page["items"], json!([activated]));
    let issued_page = app.get(&only("issued"), &world.admin).await.expect(200);
    assert_eq!(issued_page["items"], json!([listed[0], listed[2]]));
    let code_path = format!("/v1/serial-codes/{}", registry.codes[1]);
    assert_eq!(&app.get(&code_path, &world.r1_finance).await.expect(200), activated);
    // The customer reads the code it activated, without what the distributor paid for it.
    let mine = app.get(&code_path, &world.customer_token).await.expect(200);
    assert_eq!(mine["amount"], Value::Null);
    assert_eq!(without(&mine, &["amount"]), without(activated, &["amount"]));
    let my_codes = app.get("/v1/serial-codes", &world.customer_token).await.expect(200);
    assert_eq!(
        my_codes["items"].as_array().unwrap().iter().map(|code| &code["code"]).collect::<Vec<_>>(),
        [&json!(registry.codes[1])]
    );
    let refused = app.get("/v1/serial-codes?status=lost", &world.admin).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "invalid_field"));
    assert_eq!(refused.body["field"], "status");
    assert!(refused.body["detail"].as_str().unwrap().contains("issued, activated or expired"), "{}", refused.text);
    let unknown = app.get("/v1/serial-codes?stauts=issued", &world.admin).await;
    assert_eq!(unknown.status.as_u16(), 400, "a misspelt filter is refused, not ignored");

    // Invoices: requested through an approval, then issued or rejected.
    let invoices = walk(&app, "/v1/invoices", &world.r2_finance).await;
    let stable = |item: &Value| without(item, &["requested_at", "requested_position", "issued_position"]);
    assert_eq!(
        invoices.iter().map(stable).collect::<Vec<_>>(),
        vec![
            with_no_details(json!({ "id": registry.invoice_issued, "customer_id": c, "customer_name": "Customer C",
                "book": r2, "amount": "100.00", "status": "issued", "approval_id": registry.approval_issued })),
            with_no_details(json!({ "id": registry.invoice_rejected, "customer_id": c, "customer_name": "Customer C",
                "book": r2, "amount": "50.00", "status": "rejected", "approval_id": invoices[1]["approval_id"] })),
        ]
    );
    assert!(invoices[0]["issued_position"].as_u64() > invoices[0]["requested_position"].as_u64());
    assert!(invoices[1]["issued_position"].is_null());
    for invoice in &invoices {
        let path = format!("/v1/invoices/{}", invoice["id"].as_str().unwrap());
        assert_eq!(&app.get(&path, &world.r2_finance).await.expect(200), invoice);
        assert_eq!(&app.get(&path, &world.customer_token).await.expect(200), invoice, "its customer reads it");
    }
    let issued = app.get("/v1/invoices?status=issued", &world.customer_token).await.expect(200);
    assert_eq!(issued["items"], json!([invoices[0]]));
    let of_c = app.get(&format!("/v1/invoices?customer_id={c}"), &world.r2_finance).await.expect(200);
    assert_eq!(of_c["items"].as_array().unwrap(), &invoices);
    let invoiceable = app.get(&format!("/v1/customers/{c}/invoiceable"), &world.r2_finance).await.expect(200);
    assert_eq!(invoiceable["invoiceable"], "800.00", "900.00 paid, 100.00 invoiced");
    let refused = app.get("/v1/invoices?status=paid", &world.r2_finance).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "invalid_field"));
    assert!(
        refused.body["detail"].as_str().unwrap().contains("requested, issued, delivered, void or rejected"),
        "{}",
        refused.text
    );

    // The paths beside the serial codes' own still answer as before.
    let method = app.call(Method::GET, "/v1/serial-codes/batches", Some(&world.admin), None, None).await;
    assert_eq!(method.status.as_u16(), 405);
    let again = app
        .post(
            &format!("/v1/serial-codes/{}/activate", registry.codes[1]),
            &world.customer_token,
            json!({ "customer_id": c }),
        )
        .await;
    assert_eq!(again.status.as_u16(), 409, "a code is activated once: {}", again.text);
    app.stop().await;
}

#[tokio::test]
async fn other_tenants_read_nothing_of_the_registries() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let registry = configure(&app, &world).await;
    let r3 = open_org(&app, &world.admin, "reseller", "R3").await;
    let r3_admin = token(&app, &world.admin, &r3, &["admin"]).await;
    let customer_d = open_org(&app, &r3_admin, "customer", "Customer D").await;
    let d_token = token(&app, &r3_admin, &customer_d, &["customer"]).await;
    let (r2, c) = (&world.r2, &world.customer);

    let details = [
        format!("/v1/books/{r2}/promotions"),
        format!("/v1/promotions/{}", registry.spring),
        format!("/v1/books/{r2}/invite-codes"),
        format!("/v1/books/{r2}/invite-codes/SPRING-ALICE"),
        format!("/v1/serial-codes/batches/{}", registry.batch),
        format!("/v1/serial-codes/{}", registry.codes[0]),
        format!("/v1/serial-codes/{}", registry.codes[1]),
        format!("/v1/serial-codes?distributor_id={}", world.r1),
        format!("/v1/serial-codes?batch_id={}", registry.batch),
        format!("/v1/invoices/{}", registry.invoice_issued),
        format!("/v1/invoices?customer_id={c}"),
    ];
    let secrets = ["Spring", "SPRING-ALICE", "240.00", "720.00", "100.00", "Customer C", c.as_str()];
    for outsider in [&r3_admin, &d_token] {
        for path in &details {
            let answer = app.get(path, outsider).await;
            assert!(matches!(answer.status.as_u16(), 403 | 404), "{path} answered {}: {}", answer.status, answer.text);
            for secret in secrets {
                if !path.contains(secret) {
                    assert!(!answer.text.contains(secret), "{path} leaked {secret}: {}", answer.text);
                }
            }
        }
        // Lists answer the caller's own tenancy: nothing of R2's, R1's or C's.
        for path in ["/v1/serial-codes", "/v1/invoices"] {
            let answer = app.get(path, outsider).await.expect(200);
            assert_eq!(answer["items"], json!([]), "{path}: {answer}");
        }
    }
    // Inside the tree, each reads only its own: R2 is no distributor of the batch, the customer
    // reads no batch nor a code it did not activate, nor its seller's promotions.
    for (path, reader) in [
        (format!("/v1/serial-codes/batches/{}", registry.batch), &world.r2_admin),
        (format!("/v1/serial-codes/{}", registry.codes[0]), &world.r2_admin),
        (format!("/v1/serial-codes/batches/{}", registry.batch), &world.customer_token),
        (format!("/v1/serial-codes/{}", registry.codes[0]), &world.customer_token),
        (format!("/v1/books/{r2}/promotions"), &world.customer_token),
        (format!("/v1/promotions/{}", registry.spring), &world.customer_token),
        (format!("/v1/books/{r2}/invite-codes/SPRING-ALICE"), &world.r1_admin),
        (format!("/v1/invoices/{}", registry.invoice_issued), &world.r1_admin),
    ] {
        let answer = app.get(&path, reader).await;
        assert_eq!(answer.status.as_u16(), 404, "{path}: {}", answer.text);
    }
    let r2_codes = app.get("/v1/serial-codes", &world.r2_admin).await.expect(200);
    assert_eq!(r2_codes["items"], json!([]), "R2 was issued no codes");
    let r1_invoices = app.get("/v1/invoices", &world.r1_admin).await.expect(200);
    assert_eq!(r1_invoices["items"], json!([]), "C's invoices are R2's book, not R1's");
    app.stop().await;
}

/// An invoice of the first contract: no type, title, tax or orders; never delivered, voided or
/// red-lettered.
fn with_no_details(mut invoice: Value) -> Value {
    let object = invoice.as_object_mut().unwrap();
    for field in [
        "address",
        "bank_account",
        "delivered_position",
        "tax_amount",
        "tax_id",
        "tax_rate",
        "title",
        "type",
        "void_reason",
        "voided_position",
    ] {
        object.insert(field.to_owned(), Value::Null);
    }
    object.insert("order_ids".to_owned(), json!([]));
    object.insert("red_lettered".to_owned(), json!("0.00"));
    object.insert("red_letters".to_owned(), json!([]));
    invoice
}
