//! The rest of the API over HTTP, each on its happy path: promotions and invite codes, fulfil,
//! renew, usage, cancel, coupons, withdrawals, invoices, recharge reversal, serial codes,
//! accounts, and the reads that list and page them.

use serde_json::{json, Value};

use crate::helpers::*;

async fn approve(app: &TestApp, world: &World, pending: &Value) {
    let approval = pending["approval_id"].as_str().expect("an approval");
    let granted = app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await;
    assert_eq!(granted.expect(200)["status"], "granted");
}

#[tokio::test]
async fn every_other_flow_works_over_http() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "5000.00").await;
    let (c, r2, product) = (&world.customer, &world.r2, &world.product);

    // A promotion reached through an invite code wins when it is the lowest price.
    let promotion = json!({ "name": "Spring", "rates": { product.as_str(): "0.90" }, "valid_from": "2026-01-01", "valid_to": "2026-03-31" });
    let promotion = app.post(&format!("/v1/books/{r2}/promotions"), &world.r2_sales, promotion).await.expect(201);
    let invite = json!({ "promotion_id": promotion["id"], "salesperson": "alice" });
    let invite = app.post(&format!("/v1/books/{r2}/invite-codes"), &world.r2_sales, invite).await.expect(201);
    let body = json!({ "customer_id": c, "items": [{ "product_id": product, "quantity": "1", "periods": 1 }], "invite_code": invite["code"] });
    let order = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    assert_eq!(
        (order["items"][0]["rate_source"].as_str(), order["total"].as_str()),
        (Some("promotion"), Some("900.00"))
    );
    let order_id = order["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/orders/{order_id}/pay"), &world.customer_token, json!({})).await.expect(200);
    // The KPIs know the salesperson by name; the recharge went through nobody.
    let kpi = format!("/v1/books/{r2}/kpi?from=2026-01-15&to=2026-01-15&by=salesperson");
    let rows: Vec<(Value, Value, Value, Value)> = app.get(&kpi, &world.r2_finance).await.expect(200)["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["key"].clone(), row["name"].clone(), row["revenue"].clone(), row["recharges"].clone()))
        .collect();
    assert_eq!(
        rows,
        [
            (json!(null), json!(null), json!("0.00"), json!("5000.00")),
            (json!("alice"), json!("alice"), json!("1000.00"), json!("0.00"))
        ]
    );
    let fulfil = json!({ "note": "ticket 7 done", "subscription_end": "2026-02-15" });
    let fulfilled = app.post(&format!("/v1/orders/{order_id}/fulfil"), &world.r2_admin, fulfil).await.expect(200);
    assert_eq!(fulfilled["status"], "fulfilled");
    let renew = json!({ "periods": 1, "new_end": "2026-03-15" });
    let renewed = app.post(&format!("/v1/orders/{order_id}/renew"), &world.customer_token, renew).await.expect(201);
    let usage = json!({ "customer_id": c, "product_id": product, "quantity": "0.5", "period_from": "2026-01-01", "period_to": "2026-01-14" });
    let charged = app.post("/v1/usage", &world.r2_admin, usage).await.expect(201);
    assert_eq!(charged["total"], "475.00");
    // Each id answered has a GET: the renewal (at the customer's 0.95, the promotion applied to
    // the order only), and the usage charge, for its customer and its seller's staff.
    let renewal = app.get(&format!("/v1/renewals/{}", renewed["id"].as_str().unwrap()), &world.customer_token).await;
    let renewal = renewal.expect(200);
    assert_eq!(
        (
            renewal["kind"].as_str(),
            renewal["order_id"].as_str(),
            renewal["total"].as_str(),
            renewal["new_end"].as_str(),
            renewal["items"][0]["quantity"].as_str(),
            renewal["position"].as_u64(),
        ),
        (
            Some("renewal"),
            Some(order_id.as_str()),
            renewed["total"].as_str(),
            Some("2026-03-15"),
            Some("1"),
            renewed["position"].as_u64()
        )
    );
    let usage = app.get(&format!("/v1/usage/{}", charged["id"].as_str().unwrap()), &world.r2_finance).await.expect(200);
    assert_eq!(
        (
            usage["kind"].as_str(),
            usage["customer_id"].as_str(),
            usage["total"].as_str(),
            usage["period_from"].as_str(),
            usage["period_to"].as_str(),
            usage["items"][0]["quantity"].as_str(),
            usage["order_id"].as_str(),
        ),
        (Some("usage"), Some(c.as_str()), Some("475.00"), Some("2026-01-01"), Some("2026-01-14"), Some("0.5"), None)
    );
    let other = app.get(&format!("/v1/renewals/{}", charged["id"].as_str().unwrap()), &world.r2_finance).await;
    assert_eq!(other.status.as_u16(), 404, "a usage charge is no renewal");

    // An unpaid order is cancelled by its customer.
    let body = json!({ "customer_id": c, "items": [{ "product_id": product, "quantity": 1, "periods": 1 }] });
    let unpaid = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    let unpaid_id = unpaid["id"].as_str().unwrap();
    let cancelled = app.post(&format!("/v1/orders/{unpaid_id}/cancel"), &world.customer_token, json!({})).await;
    assert_eq!(cancelled.expect(200)["status"], "cancelled");
    let orders = app.get("/v1/orders?limit=10", &world.customer_token).await.expect(200);
    let statuses: Vec<&str> =
        orders["items"].as_array().unwrap().iter().map(|order| order["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 2, "{orders}");
    assert!(statuses.contains(&"cancelled") && statuses.contains(&"fulfilled"), "{statuses:?}");

    // Coupons, withdrawals (at once, and through an approval), invoices.
    let coupon = json!({ "customer_id": c, "amount": "20.00", "reason": "welcome" });
    app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    let offline = json!({ "customer_id": c, "amount": "30.00", "route": "offline" });
    let pending = app.post("/v1/withdrawals", &world.r2_finance, offline).await.expect(202);
    assert_eq!(pending["status"], "pending_approval");
    approve(&app, &world, &pending).await;
    let invoiceable = app.get(&format!("/v1/customers/{c}/invoiceable"), &world.r2_finance).await.expect(200);
    let before: rust_decimal::Decimal = invoiceable["invoiceable"].as_str().unwrap().parse().unwrap();
    assert!(before >= rust_decimal::Decimal::from(100), "{invoiceable}");
    let invoice =
        app.post("/v1/invoices", &world.r2_finance, json!({ "customer_id": c, "amount": "100.00" })).await.expect(202);
    approve(&app, &world, &invoice).await;
    let invoiceable = app.get(&format!("/v1/customers/{c}/invoiceable"), &world.r2_finance).await.expect(200);
    let after: rust_decimal::Decimal = invoiceable["invoiceable"].as_str().unwrap().parse().unwrap();
    assert_eq!(before - after, rust_decimal::Decimal::from(100));

    // A recharge, then its reversal through an approval.
    let body = json!({ "customer_id": c, "amount": "50.00", "method": "transfer", "reference": "wire 9" });
    let pending = app.post("/v1/recharges", &world.r2_sales, body).await.expect(202);
    approve(&app, &world, &pending).await;
    let recharge_id = pending["id"].as_str().unwrap();
    let reversal = app
        .post(&format!("/v1/recharges/{recharge_id}/reversal"), &world.r2_finance, json!({ "reason": "bounced" }))
        .await;
    let reversal = reversal.expect(202);
    approve(&app, &world, &reversal).await;
    let approval =
        app.get(&format!("/v1/approvals/{}", reversal["approval_id"].as_str().unwrap()), &world.r2_finance).await;
    assert_eq!(approval.expect(200)["status"], "granted");

    // Serial codes: package price, tier rate, the distributor's tier, a batch, an activation.
    let admin = &world.admin;
    app.put("/v1/serial-codes/packages/30", admin, json!({ "list_price": "300.00" })).await.expect(200);
    app.put("/v1/serial-codes/tiers/gold", admin, json!({ "rate": "0.80" })).await.expect(200);
    app.put(&format!("/v1/orgs/{}/tier", world.r1), admin, json!({ "tier": "gold" })).await.expect(200);
    let batch = json!({ "distributor_id": world.r1, "days": 30, "count": 3 });
    let batch = app.post("/v1/serial-codes/batches", admin, batch).await.expect(201);
    assert_eq!((batch["unit_price"].as_str(), batch["total"].as_str()), (Some("240.00"), Some("720.00")));
    assert_eq!(batch["codes"].as_array().unwrap().len(), 3);
    let serial =
        app.get(&format!("/v1/books/{}/kpi/serial-codes?from=2026-01-01&to=2026-01-31", world.platform), admin).await;
    assert!(!serial.expect(200)["rows"].as_array().unwrap().is_empty());

    // A book opens an account of its own.
    let account = json!({ "code": "6602", "name": "Marketing", "account_type": "expense" });
    app.post(&format!("/v1/books/{r2}/accounts"), &world.r2_admin, account).await.expect(201);

    // Reads: products, orgs, balances, and a ledger read page by page.
    let products = app.get("/v1/products", &world.r2_sales).await.expect(200);
    assert!(products["items"].as_array().unwrap().iter().any(|item| item["id"] == product.as_str()));
    assert!(products["items"][0]["supplier_rate"].is_null(), "a reseller does not see the supplier's rate");
    let org = app.get(&format!("/v1/orgs/{c}"), &world.r2_admin).await.expect(200);
    assert_eq!((org["kind"].as_str(), org["parent_id"].as_str()), (Some("customer"), Some(r2.as_str())));
    let balances = app.get(&format!("/v1/books/{r2}/balances"), &world.r2_finance).await.expect(200);
    assert!(balances["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|row| row["account"] == "2203" && row["party"] == c.as_str()));
    let mut cursor: Option<String> = None;
    let mut lines = 0;
    for _ in 0..100 {
        let path = match &cursor {
            Some(cursor) => format!("/v1/books/{r2}/ledger?limit=3&cursor={cursor}"),
            None => format!("/v1/books/{r2}/ledger?limit=3"),
        };
        let page = app.get(&path, &world.r2_finance).await.expect(200);
        lines += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let everything = app.get(&format!("/v1/books/{r2}/ledger?limit=500"), &world.r2_finance).await.expect(200);
    assert_eq!(lines, everything["items"].as_array().unwrap().len());
    assert!(lines > 3, "more than one page");
    app.stop().await;
}
