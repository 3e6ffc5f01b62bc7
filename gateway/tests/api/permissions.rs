//! Permissions as data (issue 9 item 3): the catalogue, the book's own reads needing finance,
//! custom roles per org (and an org's version of a built-in one), and the sales data scope.

use serde_json::{json, Value};

use crate::helpers::*;

fn names(list: &Value, field: &str) -> Vec<String> {
    list[field].as_array().unwrap().iter().map(|item| item.as_str().unwrap().to_owned()).collect()
}

async fn user_with_token(app: &TestApp, admin: &str, org: &str, name: &str, roles: &[&str]) -> (String, String) {
    let user = app.post(&format!("/v1/orgs/{org}/users"), admin, json!({ "name": name, "roles": roles })).await;
    let user = user.expect(201)["id"].as_str().unwrap().to_owned();
    let token = app.post(&format!("/v1/users/{user}/tokens"), admin, json!({})).await.expect(201);
    (user, token["token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_catalogue_names_each_permission_s_operations_and_the_book_itself_needs_finance() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let catalogue = app.get("/v1/permissions", &world.r2_sales).await.expect(200);
    let ledger = catalogue["items"].as_array().unwrap().iter().find(|item| item["name"] == "ledger.read").unwrap();
    assert_eq!(
        names(ledger, "operations"),
        [
            "GET /v1/books/{org_id}/posting-rules",
            "GET /v1/books/{org_id}/trial-balance",
            "GET /v1/books/{org_id}/ledger",
            "GET /v1/books/{org_id}/balances",
            "GET /v1/events/{position}",
            "GET /v1/books/{org_id}/verify",
            "GET /v1/books/{org_id}/certificates",
            "POST /v1/books/{org_id}/supplier-bills"
        ]
    );
    assert_eq!(names(ledger, "default_roles"), ["finance"]);
    let coupons = catalogue["items"].as_array().unwrap().iter().find(|item| item["name"] == "coupons.write").unwrap();
    assert_eq!(
        (names(coupons, "operations"), names(coupons, "default_roles")),
        (vec!["POST /v1/coupons".to_owned()], vec!["sales".to_owned()])
    );

    // /v1/me says what the token may do.
    let me = app.get("/v1/me", &world.r2_sales).await.expect(200);
    let permissions = names(&me, "permissions");
    assert!(permissions.contains(&"coupons.write".to_owned()) && permissions.contains(&"kpis.read".to_owned()));
    assert!(!permissions
        .iter()
        .any(|name| ["ledger.read", "exports.read", "operations.read"].contains(&name.as_str())));

    // Sales and operations read KPIs, never the book itself; finance reads it.
    let r2 = &world.r2;
    let operations = token(&app, &world.r2_admin, r2, &["operations"]).await;
    for staff in [&world.r2_sales, &operations] {
        app.get(&format!("/v1/books/{r2}/kpi"), staff).await.expect(200);
        for path in ["trial-balance", "ledger", "balances", "export?format=csv", "operations", "verify"] {
            let refused = app.get(&format!("/v1/books/{r2}/{path}"), staff).await;
            assert_eq!((refused.status.as_u16(), refused.code()), (403, "forbidden"), "{path}");
        }
    }
    let refused = app.get(&format!("/v1/books/{r2}/trial-balance"), &world.r2_sales).await;
    assert_eq!(refused.body["detail"], "needs the permission ledger.read");
    let trial = app.get(&format!("/v1/books/{r2}/trial-balance"), &world.r2_finance).await.expect(200);
    assert_eq!((trial["total_debit"].as_str(), trial["total_credit"].as_str()), (Some("0.00"), Some("0.00")));
    app.stop().await;
}

#[tokio::test]
async fn an_org_defines_its_own_roles_and_tokens_follow_the_definition() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "1000.00").await;
    let (r2, c) = (&world.r2, &world.customer);

    // An auditor reads the book and exports it, and does nothing else.
    let defined = app
        .put(
            &format!("/v1/orgs/{r2}/roles/auditor"),
            &world.r2_admin,
            json!({ "permissions": ["ledger.read", "exports.read"] }),
        )
        .await
        .expect(200);
    assert_eq!(
        (defined["name"].as_str(), names(&defined, "permissions")),
        (Some("auditor"), vec!["ledger.read".to_owned(), "exports.read".to_owned()])
    );
    let (_, auditor) = user_with_token(&app, &world.r2_admin, r2, "审计 Zhou", &["auditor"]).await;
    let me = app.get("/v1/me", &auditor).await.expect(200);
    assert_eq!(
        (names(&me, "roles"), names(&me, "permissions")),
        (vec!["auditor".to_owned()], vec!["ledger.read".to_owned(), "exports.read".to_owned()])
    );
    let trial = app.get(&format!("/v1/books/{r2}/trial-balance"), &auditor).await.expect(200);
    assert_eq!(account(&trial, "2203"), ("0.00".to_owned(), "1000.00".to_owned()));
    app.get(&format!("/v1/books/{r2}/export?format=csv"), &auditor).await.expect(200);
    let before = app.log_position();
    let coupon = json!({ "customer_id": c, "amount": "500.00", "reason": "friend" });
    let refused = app.post("/v1/coupons", &auditor, coupon.clone()).await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["detail"].as_str()),
        (403, Some("needs the permission coupons.write"))
    );
    let refused = app.get(&format!("/v1/customers/{c}/balance"), &auditor).await;
    assert_eq!(refused.status.as_u16(), 403);
    assert_eq!(app.log_position(), before);

    // The org's roles: the built-in ones with what they allow there, then its own.
    let roles = app.get(&format!("/v1/orgs/{r2}/roles"), &world.r2_admin).await.expect(200);
    let listed: Vec<(String, bool, bool)> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|role| (role["name"].as_str().unwrap().to_owned(), role["built_in"] == true, role["defined"] == true))
        .collect();
    assert_eq!(
        listed,
        [
            ("admin", true, false),
            ("finance", true, false),
            ("sales", true, false),
            ("operations", true, false),
            ("auditor", false, true)
        ]
        .map(|(name, built_in, defined)| (name.to_owned(), built_in, defined))
    );

    // The org narrows its sales: no coupons any more. The token follows within a second (the
    // cache's time to live: a deadline, not a measurement).
    let sales = json!({ "permissions": ["orgs.read", "catalog.read", "wallets.read", "orders.read", "orders.place", "customers.all"] });
    app.put(&format!("/v1/orgs/{r2}/roles/sales"), &world.r2_admin, sales).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = app.post("/v1/coupons", &world.r2_sales, coupon).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (403, "forbidden"));
    let me = app.get("/v1/me", &world.r2_sales).await.expect(200);
    assert_eq!(
        names(&me, "permissions"),
        ["orgs.read", "catalog.read", "wallets.read", "orders.read", "customers.all", "orders.place"]
    );

    // What cannot be defined, or by whom: 422 naming the field, 403, 404.
    let bad = [
        ("admin", json!({ "permissions": [] }), "name"),
        ("Auditor!", json!({ "permissions": [] }), "name"),
        ("auditor", json!({ "permissions": ["ledger.write"] }), "permissions"),
    ];
    for (name, body, field) in bad {
        let refused = app.put(&format!("/v1/orgs/{r2}/roles/{name}"), &world.r2_admin, body).await;
        assert_eq!(
            (refused.status.as_u16(), refused.body["field"].as_str()),
            (422, Some(field)),
            "{name}: {}",
            refused.text
        );
    }
    let refused = app.put(&format!("/v1/orgs/{r2}/roles/clerk"), &world.r2_finance, json!({ "permissions": [] })).await;
    assert_eq!(
        (refused.status.as_u16(), refused.body["detail"].as_str()),
        (403, Some("needs the permission roles.write"))
    );
    let r3 = open_org(&app, &world.admin, "reseller", "R3").await;
    let r3_admin = token(&app, &world.admin, &r3, &["admin"]).await;
    let refused = app.put(&format!("/v1/orgs/{r2}/roles/clerk"), &r3_admin, json!({ "permissions": [] })).await;
    assert_eq!(refused.status.as_u16(), 404);
    // A role the org has not defined is no role of it.
    let refused =
        app.post(&format!("/v1/orgs/{r2}/users"), &world.r2_admin, json!({ "name": "X", "roles": ["clerk"] })).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("roles")));
    app.stop().await;
}

#[tokio::test]
async fn sales_staff_without_customers_all_act_for_and_read_only_the_customers_they_own() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let r2 = &world.r2;
    let rep = json!({ "permissions": ["orgs.read", "catalog.read", "wallets.read", "orders.read", "orders.place", "customers.write", "coupons.write"] });
    app.put(&format!("/v1/orgs/{r2}/roles/sales_rep"), &world.r2_admin, rep).await.expect(200);
    let (li, li_token) = user_with_token(&app, &world.r2_admin, r2, "李雷", &["sales_rep"]).await;
    let (han, han_token) = user_with_token(&app, &world.r2_admin, r2, "韩梅梅", &["sales_rep"]).await;

    // Li opens a customer: it is Li's. Han does not see it; Li does.
    let mine = open_org(&app, &li_token, "customer", "Li's customer").await;
    let org = app.get(&format!("/v1/orgs/{mine}"), &li_token).await.expect(200);
    assert_eq!(org["owner_id"].as_str(), Some(li.as_str()));
    let coupon = json!({ "customer_id": mine, "amount": "12.50", "reason": "welcome" });
    let before = app.log_position();
    for answer in [
        app.get(&format!("/v1/orgs/{mine}"), &han_token).await,
        app.get(&format!("/v1/customers/{mine}/balance"), &han_token).await,
        app.get(&format!("/v1/orders?customer_id={mine}"), &han_token).await,
        app.post("/v1/coupons", &han_token, coupon.clone()).await,
    ] {
        assert_eq!(answer.status.as_u16(), 404, "{}", answer.text);
    }
    assert_eq!(app.log_position(), before, "Han changed nothing");
    app.post("/v1/coupons", &li_token, coupon.clone()).await.expect(201);
    let balance = app.get(&format!("/v1/customers/{mine}/balance"), &li_token).await.expect(200);
    assert_eq!(balance["balance"], "12.50");

    // Lists: each sees only their own customers; Customer C (R2's first admin opened it, so it is
    // theirs) is listed to staff with customers.all.
    let customers = |page: Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|org| org["name"].as_str().unwrap().to_owned()).collect()
    };
    let listed = app.get("/v1/orgs?kind=customer", &li_token).await.expect(200);
    assert_eq!(customers(listed), ["Li's customer"]);
    let listed = app.get("/v1/orgs?kind=customer", &han_token).await.expect(200);
    assert_eq!(customers(listed), Vec::<String>::new());
    let listed = app.get("/v1/orgs?kind=customer", &world.r2_sales).await.expect(200);
    assert_eq!(customers(listed), ["Customer C", "Li's customer"]);

    // The admin gives the customer to Han: now Han's, no longer Li's.
    let set =
        app.put(&format!("/v1/customers/{mine}/owner"), &world.r2_admin, json!({ "user_id": han })).await.expect(200);
    assert_eq!(set["owner_id"].as_str(), Some(han.as_str()));
    let balance = app.get(&format!("/v1/customers/{mine}/balance"), &han_token).await.expect(200);
    assert_eq!(balance["balance"], "12.50");
    let refused = app.get(&format!("/v1/customers/{mine}/balance"), &li_token).await;
    assert_eq!(refused.status.as_u16(), 404);
    // An owner must be a person of the seller.
    let r1_user = app
        .post(
            &format!("/v1/orgs/{}/users", world.r1),
            &world.r1_admin,
            json!({ "name": "R1 staff", "roles": ["sales"] }),
        )
        .await;
    let r1_user = r1_user.expect(201)["id"].as_str().unwrap().to_owned();
    let refused = app.put(&format!("/v1/customers/{mine}/owner"), &world.r2_admin, json!({ "user_id": r1_user })).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("user_id")));
    app.stop().await;
}
