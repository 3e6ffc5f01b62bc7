//! Pricing over HTTP (issue 12), on the real server, on SQLite and on PostgreSQL: fixed prices
//! per scope, first-order and tiered prices, promotions that stack or exclude each other, a
//! price above list booked in all three books, the rate table listing every kind, and the
//! waterfall's candidates as each viewer may see them. Exact figures throughout (DESIGN §2.5's
//! world: list 1000.00, supplier 0.70, platform → R1 0.80, R1 → R2 0.88, R2 public 0.98, C 0.95).

use serde_json::{json, Value};

use crate::back_office::on_postgres;
use crate::helpers::*;

#[tokio::test]
async fn fixed_first_order_and_tiered_prices_are_set_listed_and_win_by_the_rules() {
    prices(Options::default()).await;
}

#[tokio::test]
async fn fixed_first_order_and_tiered_prices_work_the_same_on_postgresql() {
    prices(on_postgres().await).await;
}

#[tokio::test]
async fn promotions_stack_or_exclude_and_a_price_above_list_books_balanced() {
    promotions_and_markup(Options::default()).await;
}

#[tokio::test]
async fn promotions_and_a_price_above_list_work_the_same_on_postgresql() {
    promotions_and_markup(on_postgres().await).await;
}

/// Another product along the same chain, at the same rates (R2's public and customer rates
/// only when `with_rates`).
async fn product(app: &TestApp, world: &World, name: &str, with_rates: bool) -> String {
    let body = json!({ "name": name, "supplier_id": world.supplier, "list_price": "1000.00", "unit": "month" });
    let product = app.post("/v1/products", &world.admin, body).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.put(&format!("/v1/products/{product}/supplier-rate"), &world.admin, json!({ "rate": "0.70" }))
        .await
        .expect(200);
    set_rate(app, &world.admin, &world.platform, &product, &format!("reseller:{}", world.r1), "0.80").await;
    set_rate(app, &world.r1_admin, &world.r1, &product, &format!("reseller:{}", world.r2), "0.88").await;
    if with_rates {
        set_rate(app, &world.r2_admin, &world.r2, &product, "public", "0.98").await;
        set_rate(app, &world.r2_admin, &world.r2, &product, &format!("customer:{}", world.customer), "0.95").await;
    }
    product
}

async fn set_price(app: &TestApp, world: &World, token: &str, body: Value) -> Value {
    app.put(&format!("/v1/books/{}/prices", world.r2), token, body).await.expect(200)
}

async fn place(app: &TestApp, world: &World, product: &str, quantity: &str, invite: Option<&str>) -> Value {
    let mut body = json!({ "customer_id": world.customer, "items": [{ "product_id": product, "quantity": quantity, "periods": 1 }] });
    if let Some(code) = invite {
        body["invite_code"] = json!(code);
    }
    app.post("/v1/orders", &world.customer_token, body).await.expect(201)
}

/// The seller's level of an order's first item as `token` reads it.
async fn seller_level(app: &TestApp, world: &World, order: &Value, token: &str) -> Value {
    let id = order["id"].as_str().unwrap();
    let read = app.get(&format!("/v1/orders/{id}"), token).await.expect(200);
    let levels = read["waterfall"][0]["levels"].as_array().unwrap();
    levels.iter().find(|level| level["org_id"] == world.r2.as_str()).cloned().expect("R2's level")
}

/// Each candidate as `source kind rate|unit_price → price applied reason`.
fn candidates(level: &Value) -> Vec<String> {
    level["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|candidate| {
            let basis = candidate["rate"].as_str().or(candidate["unit_price"].as_str()).unwrap_or("");
            let applied = if candidate["applied"] == true { "applied" } else { "-" };
            format!(
                "{} {} {basis} → {} {applied} {}",
                candidate["source"].as_str().unwrap(),
                candidate["kind"].as_str().unwrap(),
                candidate["price"].as_str().unwrap(),
                candidate["reason"].as_str().unwrap()
            )
        })
        .collect()
}

async fn prices(options: Options) {
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "5000.00").await;
    let p = world.product.clone();

    // A fixed public price of 900.00 beats C's rate of 0.95 (950.00).
    let set = set_price(
        &app,
        &world,
        &world.r2_admin,
        json!({ "product_id": p, "scope": "public", "kind": "fixed", "unit_price": "900.00" }),
    )
    .await;
    assert_eq!(set["status"], "set");
    let order = place(&app, &world, &p, "1", None).await;
    assert_eq!((order["total"].as_str(), order["items"][0]["unit_price"].as_str()), (Some("900.00"), Some("900.00")));
    assert_eq!(
        (order["items"][0]["rate_source"].as_str(), order["items"][0]["rate"].as_str()),
        (Some("public"), Some("1.00"))
    );
    let level = seller_level(&app, &world, &order, &world.r2_admin).await;
    assert_eq!(
        (level["price"].as_str(), level["unit_price"].as_str(), level["cost"].as_str()),
        (Some("900.00"), Some("900.00"), Some("880.00"))
    );
    assert_eq!(
        candidates(&level),
        [
            "public rate 0.98 → 980.00 - not_lowest",
            "public fixed 900.00 → 900.00 applied lowest",
            "customer rate 0.95 → 950.00 - not_lowest",
        ]
    );
    // R2's staff see their level only, the platform's super_admin every level, the customer none.
    let id = order["id"].as_str().unwrap();
    let as_r2 = app.get(&format!("/v1/orders/{id}"), &world.r2_admin).await.expect(200);
    assert_eq!(as_r2["waterfall"][0]["levels"].as_array().unwrap().len(), 1);
    let as_admin = app.get(&format!("/v1/orders/{id}"), &world.admin).await.expect(200);
    let levels = as_admin["waterfall"][0]["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3);
    assert!(levels[..2].iter().all(|level| level["candidates"] == json!([])), "one rate each: {levels:?}");
    let as_customer = app.get(&format!("/v1/orders/{id}"), &world.customer_token).await.expect(200);
    assert_eq!(as_customer["waterfall"][0]["levels"], json!([]));
    app.post(&format!("/v1/orders/{id}/pay"), &world.customer_token, json!({})).await.expect(200);
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "2203"), ("900.00".into(), "5000.00".into()));
    assert_eq!(account(&r2, "6001.99"), ("100.00".into(), "0.00".into()));
    assert_eq!(account(&r2, "6001"), ("0.00".into(), "1000.00".into()));

    // A first-order price of 0.80 is below R2's cost: it waits for finance, then applies to
    // C's first paid order of the product only.
    let p2 = product(&app, &world, "CPU server", true).await;
    let pending = set_price(
        &app,
        &world,
        &world.r2_sales,
        json!({ "product_id": p2, "scope": "public", "kind": "first_order", "rate": "0.80" }),
    )
    .await;
    assert_eq!(pending["status"], "pending_approval");
    let approval = pending["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({})).await.expect(200);
    let first = place(&app, &world, &p2, "1", None).await;
    assert_eq!(
        (first["total"].as_str(), first["items"][0]["rate_source"].as_str()),
        (Some("800.00"), Some("first_order"))
    );
    let level = seller_level(&app, &world, &first, &world.r2_admin).await;
    assert_eq!(level["margin"], "-80.00");
    assert_eq!(candidates(&level)[2], "first_order first_order 0.80 → 800.00 applied lowest");
    let first_id = first["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{first_id}/pay"), &world.customer_token, json!({})).await.expect(200);
    let second = place(&app, &world, &p2, "1", None).await;
    assert_eq!(
        (second["total"].as_str(), second["items"][0]["rate_source"].as_str()),
        (Some("950.00"), Some("customer"))
    );

    // Tiers by quantity: from 10 units 0.90 of list, from 50 units 890.00 a unit.
    let p3 = product(&app, &world, "Storage", true).await;
    let tiers = json!({ "product_id": p3, "scope": "public", "kind": "tiered", "tiers": [
        { "from_quantity": "10", "rate": "0.90" }, { "from_quantity": "50", "unit_price": "890.00" } ] });
    assert_eq!(set_price(&app, &world, &world.r2_admin, tiers).await["status"], "set");
    assert_eq!(place(&app, &world, &p3, "9", None).await["total"], "8550.00");
    assert_eq!(place(&app, &world, &p3, "10", None).await["total"], "9000.00");
    assert_eq!(place(&app, &world, &p3, "50", None).await["total"], "44500.00");

    // Bad input names the field.
    let bad = app
        .put(
            &format!("/v1/books/{}/prices", world.r2),
            &world.r2_admin,
            json!({ "product_id": p3, "scope": "public", "kind": "tiered", "tiers": [
                { "from_quantity": "50", "rate": "0.90" }, { "from_quantity": "10", "rate": "0.95" } ] }),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.code(), bad.body["field"].as_str()), (422, "invalid_field", Some("tiers")));
    let bad = app
        .put(
            &format!("/v1/books/{}/prices", world.r2),
            &world.r2_admin,
            json!({ "product_id": p3, "scope": "public", "kind": "fixed", "unit_price": "-1" }),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.body["field"].as_str()), (422, Some("unit_price")));
    let bad = app
        .put(&format!("/v1/books/{}/prices", world.r2), &world.r2_admin,
            json!({ "product_id": p3, "scope": format!("reseller:{}", world.customer), "kind": "first_order", "rate": "0.9" }))
        .await;
    assert_eq!((bad.status.as_u16(), bad.body["field"].as_str()), (422, Some("scope")));
    let bad = app
        .put(
            &format!("/v1/books/{}/prices", world.r2),
            &world.r2_admin,
            json!({ "product_id": p3, "scope": "public", "kind": "cheap", "rate": "0.9" }),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.body["field"].as_str()), (422, Some("kind")));

    // The rate table lists every kind beside the rates.
    let table = app.get(&format!("/v1/books/{}/rates?product_id={p3}", world.r2), &world.r2_admin).await.expect(200);
    let rows: Vec<(String, Value, Value, Value)> = table["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (row["kind"].as_str().unwrap().to_owned(), row["scope"].clone(), row["rate"].clone(), row["tiers"].clone())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("rate".to_owned(), json!("public"), json!("0.98"), Value::Null),
            ("rate".to_owned(), json!("customer"), json!("0.95"), Value::Null),
            (
                "tiered".to_owned(),
                json!("public"),
                Value::Null,
                json!([{ "from_quantity": "10", "rate": "0.90", "unit_price": null }, { "from_quantity": "50", "rate": null, "unit_price": "890.00" }])
            ),
        ]
    );
    let table = app.get(&format!("/v1/books/{}/rates?product_id={p}", world.r2), &world.r2_admin).await.expect(200);
    let fixed = table["items"].as_array().unwrap().iter().find(|row| row["kind"] == "fixed").expect("the fixed price");
    assert_eq!((fixed["unit_price"].as_str(), fixed["rate"].as_str()), (Some("900.00"), None));
    let table = app.get(&format!("/v1/books/{}/rates?product_id={p2}", world.r2), &world.r2_admin).await.expect(200);
    let first_order =
        table["items"].as_array().unwrap().iter().find(|row| row["kind"] == "first_order").expect("first order");
    assert_eq!(first_order["rate"], "0.80");
}

async fn promotions_and_markup(options: Options) {
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    let p = world.product.clone();
    let book = world.r2.clone();
    let promotion = |rate: &str| json!({ "name": format!("Promotion {rate}"), "rates": { p.as_str(): rate }, "valid_from": "2020-01-01", "valid_to": "2099-12-31" });
    // Two stackable promotions open to everyone, 0.90 and 0.95, and an exclusive one at 0.85
    // through an invite code (below R2's cost: approved by finance).
    let a = app.post(&format!("/v1/books/{book}/promotions"), &world.r2_sales, promotion("0.90")).await.expect(201);
    let b = app.post(&format!("/v1/books/{book}/promotions"), &world.r2_sales, promotion("0.95")).await.expect(201);
    let c = app.post(&format!("/v1/books/{book}/promotions"), &world.r2_sales, promotion("0.85")).await.expect(202);
    let approval = c["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({})).await.expect(200);
    for stackable in [&a, &b] {
        let id = stackable["id"].as_str().unwrap();
        let terms = json!({ "stacking": "stackable", "reach": "everyone" });
        app.put(&format!("/v1/promotions/{id}/terms"), &world.r2_sales, terms).await.expect(200);
    }
    let c_id = c["id"].as_str().unwrap();
    let code = json!({ "promotion_id": c_id, "code": "EXCL" });
    app.post(&format!("/v1/books/{book}/invite-codes"), &world.r2_sales, code).await.expect(201);
    let read = app.get(&format!("/v1/promotions/{}", a["id"].as_str().unwrap()), &world.r2_sales).await.expect(200);
    assert_eq!((read["stacking"].as_str(), read["reach"].as_str()), (Some("stackable"), Some("everyone")));
    let read = app.get(&format!("/v1/promotions/{c_id}"), &world.r2_sales).await.expect(200);
    assert_eq!((read["stacking"].as_str(), read["reach"].as_str()), (Some("exclusive"), Some("invite_code")));
    let bad = app.put(&format!("/v1/promotions/{c_id}/terms"), &world.r2_sales, json!({ "stacking": "both" })).await;
    assert_eq!((bad.status.as_u16(), bad.body["field"].as_str()), (422, Some("stacking")));

    // C's base (its rate, 950.00) × 0.90 × 0.95 = 812.25 beats the exclusive 850.00.
    let order = place(&app, &world, &p, "1", Some("EXCL")).await;
    assert_eq!(
        (order["total"].as_str(), order["items"][0]["rate_source"].as_str()),
        (Some("812.25"), Some("promotion"))
    );
    assert_eq!(order["items"][0]["unit_price"], "812.25");
    let level = seller_level(&app, &world, &order, &world.r2_admin).await;
    assert_eq!(level["stacked"], json!(["0.90", "0.95"]));
    assert_eq!(
        candidates(&level),
        [
            "public rate 0.98 → 980.00 - not_lowest",
            "customer rate 0.95 → 950.00 applied lowest",
            "promotion promotion 0.85 → 850.00 - not_lowest",
            "promotion promotion 0.90 → 812.25 applied stacked",
            "promotion promotion 0.95 → 812.25 applied stacked",
        ]
    );
    let names: Vec<Value> =
        level["candidates"].as_array().unwrap().iter().map(|candidate| candidate["promotion_id"].clone()).collect();
    assert_eq!(names, [Value::Null, Value::Null, json!(c_id), a["id"].clone(), b["id"].clone()]);
    // Made stackable too, the 0.85 one multiplies as well: 950.00 × 0.85 × 0.90 × 0.95.
    app.put(&format!("/v1/promotions/{c_id}/terms"), &world.r2_sales, json!({ "stacking": "stackable" }))
        .await
        .expect(200);
    let order = place(&app, &world, &p, "1", Some("EXCL")).await;
    assert_eq!(order["total"], "690.41");

    // A price above list: a fixed public price of 1,100.00 on a product without other prices.
    let p2 = product(&app, &world, "Markup", false).await;
    set_price(
        &app,
        &world,
        &world.r2_admin,
        json!({ "product_id": p2, "scope": "public", "kind": "fixed", "unit_price": "1100.00" }),
    )
    .await;
    recharge(&app, &world, "2200.00").await;
    let order = place(&app, &world, &p2, "2", None).await;
    assert_eq!(order["total"], "2200.00");
    let id = order["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{id}/pay"), &world.customer_token, json!({})).await.expect(200);
    // R2 books the excess as revenue (no discount line), R1 and the platform as ever.
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "2203"), ("2200.00".into(), "2200.00".into()));
    assert_eq!(account(&r2, "6001"), ("0.00".into(), "2200.00".into()));
    assert_eq!(account(&r2, "6401"), ("1760.00".into(), "0.00".into()));
    assert_eq!(account(&r2, "2202"), ("0.00".into(), "1760.00".into()));
    let discount = r2["accounts"].as_array().unwrap().iter().find(|row| row["code"] == "6001.99");
    assert!(discount.is_none_or(|row| row["debit"] == "0.00" && row["credit"] == "0.00"), "no discount: {r2}");
    assert_eq!(r2["total_debit"], r2["total_credit"]);
    let r1 = app.get(&format!("/v1/books/{}/trial-balance", world.r1), &world.r1_finance).await.expect(200);
    assert_eq!(account(&r1, "1122"), ("1760.00".into(), "0.00".into()));
    assert_eq!(account(&r1, "6001.99"), ("240.00".into(), "0.00".into()));
    assert_eq!(account(&r1, "6001"), ("0.00".into(), "2000.00".into()));
    assert_eq!(account(&r1, "6401"), ("1600.00".into(), "0.00".into()));
    assert_eq!(r1["total_debit"], r1["total_credit"]);
    let platform = app.get(&format!("/v1/books/{}/trial-balance", world.platform), &world.admin).await.expect(200);
    assert_eq!(account(&platform, "1122"), ("1600.00".into(), "0.00".into()));
    assert_eq!(account(&platform, "6001.99"), ("400.00".into(), "0.00".into()));
    assert_eq!(account(&platform, "6001"), ("0.00".into(), "2000.00".into()));
    assert_eq!(account(&platform, "6401"), ("1400.00".into(), "0.00".into()));
    assert_eq!(platform["total_debit"], platform["total_credit"]);
    let level = seller_level(&app, &world, &order, &world.r2_admin).await;
    assert_eq!((level["price"].as_str(), level["margin"].as_str()), (Some("2200.00"), Some("440.00")));
}
