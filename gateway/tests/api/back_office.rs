//! The back office over HTTP (issue 12), on the real server: the registries with their filters
//! and a parent's masked view, profiles, closing and reopening, supplier terms, products' shelf
//! and dated list prices, rate tables and posting rules, manual entries with approval, sale
//! modes from a date, and a customer's statement in JSON and CSV, with exact figures.

use serde_json::{json, Value};

use crate::helpers::*;

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|item| item["id"].as_str().unwrap().to_owned()).collect()
}

/// Options for a run on PostgreSQL: the log and the read models in a fresh schema.
pub async fn on_postgres() -> Options {
    let schema = format!("kboss_back_office_{}", uuid::Uuid::now_v7().simple());
    let admin = crate::postgres::admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    Options { database_url: Some(url), ..Options::default() }
}

#[tokio::test]
async fn the_customer_registry_filters_and_masks_and_a_statement_shows_every_movement() {
    registry_and_statement(Options::default()).await;
}

#[tokio::test]
async fn the_registry_and_statements_read_the_same_on_postgresql() {
    registry_and_statement(on_postgres().await).await;
}

#[tokio::test]
async fn products_rates_rules_entries_terms_and_sale_modes_are_read_and_changed_over_http() {
    catalogue_and_rules(Options::default()).await;
}

#[tokio::test]
async fn products_rates_rules_entries_terms_and_sale_modes_read_the_same_on_postgresql() {
    catalogue_and_rules(on_postgres().await).await;
}

async fn registry_and_statement(options: Options) {
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "1000.00").await;
    let order = buy(&app, &world).await;
    let c = &world.customer;

    let profile = json!({
        "name": "Customer C Ltd",
        "profile": {
            "contact_person": "张三", "phone": "13800000000", "email": "zhang@example.com",
            "company": "杭州某某科技有限公司", "tax_id": "91330100MA2XXXXXX", "verification": "company",
            "tags": ["vip", "gpu"]
        }
    });
    let changed = app.patch(&format!("/v1/orgs/{c}"), &world.r2_admin, profile).await.expect(200);
    assert_eq!((changed["name"].as_str(), changed["status"].as_str()), (Some("Customer C Ltd"), Some("active")));
    let bad = json!({ "profile": { "email": "nobody" } });
    let refused = app.patch(&format!("/v1/orgs/{c}"), &world.r2_admin, bad).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code(), refused.body["field"].as_str()),
        (422, "invalid_field", Some("profile.email"))
    );

    // The seller's registry: the customer with its wallet, found by tag and by contact.
    let page = app.get("/v1/customers", &world.r2_admin).await.expect(200);
    let item = &page["items"][0];
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(item["name"], "Customer C Ltd");
    assert_eq!(
        (item["balance"].as_str(), item["cash"].as_str(), item["voucher"].as_str()),
        (Some("50.00"), Some("50.00"), Some("0.00"))
    );
    assert_eq!(item["tags"], json!(["gpu", "vip"]));
    assert_eq!(item["reseller_id"].as_str(), Some(world.r2.as_str()));
    assert!(page["aggregate"].is_null());
    for (filter, found) in
        [("tag=vip", 1), ("tag=edu", 0), ("q=%E5%BC%A0", 1), ("q=ZHANG%40", 1), ("q=nobody", 0), ("status=closed", 0)]
    {
        let page = app.get(&format!("/v1/customers?{filter}"), &world.r2_admin).await.expect(200);
        assert_eq!(ids(&page).len(), found, "{filter}");
    }
    let refused = app.get("/v1/customers?status=gone", &world.r2_admin).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("status")));
    // R1 sees its child's customers masked, with their wallets in aggregate.
    let masked = app.get(&format!("/v1/customers?reseller_id={}", world.r2), &world.r1_admin).await.expect(200);
    assert_eq!(masked["items"][0]["name"], "C*************");
    assert!(masked["items"][0]["balance"].is_null() && masked["items"][0]["contact_person"].is_null());
    assert_eq!(masked["aggregate"], json!({ "count": 1, "balance": "50.00" }));
    // A customer does not list the registry; another reseller's children are not found.
    assert_eq!(app.get("/v1/customers", &world.customer_token).await.status.as_u16(), 403);
    assert_eq!(app.get(&format!("/v1/customers?reseller_id={}", world.r1), &world.r2_admin).await.status.as_u16(), 404);

    let record = app.get(&format!("/v1/orgs/{c}"), &world.r2_admin).await.expect(200);
    assert_eq!(record["profile"]["company"], "杭州某某科技有限公司");
    assert_eq!(record["profile"]["verification"], "company");
    assert_eq!(record["status"], "active");

    // The statement of January: 1000.00 in, 950.00 out, 50.00 left.
    let statement = app
        .get(&format!("/v1/customers/{c}/statement?from=2026-01-01&to=2026-01-31"), &world.customer_token)
        .await
        .expect(200);
    assert_eq!(statement["opening"], json!({ "cash": "0.00", "voucher": "0.00", "total": "0.00" }));
    assert_eq!(statement["closing"], json!({ "cash": "50.00", "voucher": "0.00", "total": "50.00" }));
    let items = statement["items"].as_array().unwrap();
    let summary: Vec<(String, String, String, Option<String>)> = items
        .iter()
        .map(|item| {
            (
                item["kind"].as_str().unwrap().to_owned(),
                item["cash"].as_str().unwrap().to_owned(),
                item["balance"].as_str().unwrap().to_owned(),
                item["reference"].as_str().or(item["order_id"].as_str()).map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("recharge".into(), "1000.00".into(), "1000.00".into(), Some("slip 42".into())),
            ("purchase".into(), "-950.00".into(), "50.00".into(), Some(order.clone())),
        ]
    );
    // A period before anything happened opens and closes at zero; February opens at 50.00.
    let february = app
        .get(&format!("/v1/customers/{c}/statement?from=2026-02-01&to=2026-02-28"), &world.r2_admin)
        .await
        .expect(200);
    assert_eq!(february["opening"]["total"], "50.00");
    assert_eq!(february["items"], json!([]));
    let csv = app
        .get(&format!("/v1/customers/{c}/statement?from=2026-01-01&to=2026-01-31&format=csv"), &world.customer_token)
        .await
        .expect(200);
    let recharge_position = items[0]["position"].as_u64().unwrap();
    let purchase_position = items[1]["position"].as_u64().unwrap();
    assert_eq!(
        csv.as_str().unwrap(),
        format!(
            "date,position,kind,reference,order_id,cash,voucher,balance\n\
             2026-01-01,,opening,,,0.00,0.00,0.00\n\
             2026-01-15,{recharge_position},recharge,slip 42,,1000.00,0.00,1000.00\n\
             2026-01-15,{purchase_position},purchase,,{order},-950.00,0.00,50.00\n\
             2026-01-31,,closing,,,50.00,0.00,50.00\n"
        )
    );
    // Another reseller's staff do not read it.
    let r3 = open_org(&app, &world.admin, "reseller", "R3").await;
    let r3_admin = token(&app, &world.admin, &r3, &["admin"]).await;
    let hidden = app.get(&format!("/v1/customers/{c}/statement?from=2026-01-01&to=2026-01-31"), &r3_admin).await;
    assert_eq!(hidden.status.as_u16(), 404);

    // 注销: refused while the wallet holds 50.00; a customer with nothing open closes and reopens.
    let refused = app.post(&format!("/v1/orgs/{c}/close"), &world.r2_admin, json!({})).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "org_not_settled"));
    assert!(refused.body["detail"].as_str().unwrap().contains("its cash balance is 50.00"), "{}", refused.text);
    let walk_in = open_org(&app, &world.r2_admin, "customer", "Walk-in").await;
    let closed =
        app.post(&format!("/v1/orgs/{walk_in}/close"), &world.r2_admin, json!({ "reason": "moved" })).await.expect(200);
    assert_eq!(closed["status"], "closed");
    let page = app.get("/v1/customers?status=closed", &world.r2_admin).await.expect(200);
    assert_eq!(ids(&page), vec![walk_in.clone()]);
    let recharge = json!({ "customer_id": walk_in, "amount": "10.00", "method": "offline", "reference": "x" });
    let refused = app.post("/v1/recharges", &world.r2_finance, recharge.clone()).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "org_closed"));
    app.post(&format!("/v1/orgs/{walk_in}/reopen"), &world.r2_admin, json!({})).await.expect(200);
    app.post("/v1/recharges", &world.r2_finance, recharge).await.expect(202);
}

async fn catalogue_and_rules(options: Options) {
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "5000.00").await;
    let (p, admin) = (&world.product, &world.admin);
    let order_body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });

    // Off the shelf, nobody orders it; back on, a list price from February prices February's orders.
    let off = app.patch(&format!("/v1/products/{p}"), admin, json!({ "on_shelf": false })).await.expect(200);
    assert_eq!(off["on_shelf"], false);
    let refused = app.post("/v1/orders", &world.customer_token, order_body.clone()).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "product_off_shelf"));
    app.patch(&format!("/v1/products/{p}"), admin, json!({ "on_shelf": true })).await.expect(200);
    let past = json!({ "list_price": "1200.00", "effective_from": "2026-01-01" });
    let refused = app.post(&format!("/v1/products/{p}/list-prices"), admin, past).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("effective_from")));
    let scheduled = json!({ "list_price": "1200.00", "effective_from": "2026-02-01" });
    let scheduled = app.post(&format!("/v1/products/{p}/list-prices"), admin, scheduled).await.expect(201);
    assert_eq!(
        (scheduled["list_price"].as_str(), scheduled["effective_from"].as_str()),
        (Some("1200.00"), Some("2026-02-01"))
    );
    let product = app.get(&format!("/v1/products/{p}"), admin).await.expect(200);
    assert_eq!(product["list_price"], "1000.00");
    assert_eq!(product["scheduled_list_prices"], json!([{ "list_price": "1200.00", "effective_from": "2026-02-01" }]));
    assert_eq!(app.post("/v1/orders", &world.customer_token, order_body.clone()).await.expect(201)["total"], "950.00");
    app.clock.set(date("2026-02-01"));
    assert_eq!(app.post("/v1/orders", &world.customer_token, order_body.clone()).await.expect(201)["total"], "1140.00");
    let product = app.get(&format!("/v1/products/{p}"), &world.r2_admin).await.expect(200);
    assert_eq!((product["list_price"].as_str(), product["on_shelf"].as_bool()), (Some("1200.00"), Some(true)));
    assert_eq!(product["scheduled_list_prices"], json!([]));

    // R2's rate table as configured.
    let rates = app.get(&format!("/v1/books/{}/rates", world.r2), &world.r2_finance).await.expect(200);
    let table: Vec<(String, Option<String>, String)> = rates["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rate| {
            (
                rate["scope"].as_str().unwrap().to_owned(),
                rate["scope_id"].as_str().map(str::to_owned),
                rate["rate"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        table,
        vec![("public".into(), None, "0.98".into()), ("customer".into(), Some(world.customer.clone()), "0.95".into())]
    );
    let customer_rates =
        app.get(&format!("/v1/books/{}/rates?scope=customer", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(customer_rates["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/v1/books/{}/rates", world.r2), &world.customer_token).await.status.as_u16(), 403);

    // Posting rules: an unbalanced one is refused with the symbolic check's reason; a balanced
    // one is version 1 and listed as current.
    let platform_finance = token(&app, admin, &world.platform, &["finance"]).await;
    let unbalanced = json!({ "role": "seller", "lines": [
        { "account": "6601", "side": "debit", "amount": "fee" },
        { "account": "1002", "side": "credit", "amount": "fee - tax" }
    ] });
    let refused = app.put("/v1/posting-rules/bank_fee", &platform_finance, unbalanced).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "rule_unbalanced"));
    assert!(refused.body["detail"].as_str().unwrap().contains("tax"), "{}", refused.text);
    let balanced = json!({ "role": "seller", "lines": [
        { "account": "6601", "side": "debit", "amount": "fee" },
        { "account": "1002", "side": "credit", "amount": "fee" }
    ] });
    let set = app.put("/v1/posting-rules/bank_fee", &platform_finance, balanced).await.expect(200);
    assert_eq!((set["kind"].as_str(), set["version"].as_u64()), (Some("bank_fee"), Some(1)));
    let rules = app
        .get(&format!("/v1/books/{}/posting-rules?kind=bank_fee", world.platform), &platform_finance)
        .await
        .expect(200);
    assert_eq!(rules["items"][0]["current"], true);
    assert_eq!(
        rules["items"][0]["lines"][1],
        json!({ "account": "1002", "party": null, "side": "credit", "amount": "fee" })
    );

    // A manual entry waits for a second person, then is booked on its date.
    let entry = json!({ "date": "2026-01-31", "memo": "bank charges, January", "lines": [
        { "account": "6601", "debit": "12.00" }, { "account": "1002", "credit": "12.00" }
    ] });
    let pending = app.post(&format!("/v1/books/{}/entries", world.r2), &world.r2_finance, entry).await.expect(202);
    assert_eq!(pending["status"], "pending_approval");
    let unbalanced = json!({ "date": "2026-01-31", "memo": "x", "lines": [
        { "account": "6601", "debit": "12.00" }, { "account": "1002", "credit": "10.00" }
    ] });
    let refused = app.post(&format!("/v1/books/{}/entries", world.r2), &world.r2_finance, unbalanced).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("lines")));
    let approval = pending["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
    let january =
        app.get(&format!("/v1/books/{}/trial-balance?as_of=2026-01-31", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&january, "6601"), ("12.00".to_owned(), "0.00".to_owned()));
    assert_eq!(account(&january, "1002"), ("5000.00".to_owned(), "12.00".to_owned()));

    // Supplier terms, read back in the registry of suppliers.
    let terms = json!({ "method": "postpaid", "cycle": "month", "currency": "CNY", "payment_days": 30 });
    app.put(&format!("/v1/suppliers/{}/terms", world.supplier), admin, terms).await.expect(200);
    let suppliers = app.get("/v1/suppliers", admin).await.expect(200);
    assert_eq!(
        suppliers["items"][0]["supplier_terms"],
        json!({ "method": "postpaid", "cycle": "month", "currency": "CNY", "payment_days": 30 })
    );
    let refused = app
        .put(
            &format!("/v1/suppliers/{}/terms", world.supplier),
            admin,
            json!({ "method": "barter", "cycle": "month", "currency": "CNY", "payment_days": 30 }),
        )
        .await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("method")));

    // R2's sale mode from March: scheduled, shown in its record.
    let mode = json!({ "mode": "rebate", "commission_rate": "0.05", "effective_from": "2026-03-01" });
    let set = app.put(&format!("/v1/orgs/{}/sale-mode", world.r2), &world.r1_admin, mode).await.expect(200);
    assert_eq!(set["effective_from"], "2026-03-01");
    let resellers = app.get("/v1/resellers", &world.r1_admin).await.expect(200);
    let r2 = &resellers["items"][0];
    assert_eq!(r2["sale_mode"], json!({ "mode": "discount", "commission_rate": null, "effective_from": null }));
    assert_eq!(
        r2["scheduled_sale_modes"],
        json!([{ "mode": "rebate", "commission_rate": "0.05", "effective_from": "2026-03-01" }])
    );

    // Hidden from R1: R1 and R2 (below it) no longer list it; its owner sees whom from.
    app.patch(&format!("/v1/products/{p}"), admin, json!({ "hidden_from": [world.r1] })).await.expect(200);
    let listed = app.get("/v1/products", &world.r2_admin).await.expect(200);
    assert!(listed["items"].as_array().unwrap().iter().all(|item| item["id"] != json!(p)), "{listed}");
    assert_eq!(app.get(&format!("/v1/products/{p}"), &world.r1_admin).await.status.as_u16(), 404);
    let owned = app.get(&format!("/v1/products/{p}"), admin).await.expect(200);
    assert_eq!(owned["hidden_from"], json!([world.r1]));
}
