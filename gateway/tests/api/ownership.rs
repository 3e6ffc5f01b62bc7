//! 归属 (issue 12): a customer transferred to another seller, refused while anything is open with
//! the one it leaves; a leaving salesperson's customers handed to another at once; and the history
//! of every change, read by the customer's seller.

use serde_json::{json, Value};

use crate::helpers::*;

async fn create_user(app: &TestApp, admin: &str, org: &str, name: &str) -> String {
    let body = json!({ "name": name, "roles": ["sales"] });
    app.post(&format!("/v1/orgs/{org}/users"), admin, body).await.expect(201)["id"].as_str().unwrap().to_owned()
}

fn kinds(ownership: &Value) -> Vec<(String, String, Value, Value)> {
    ownership["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let text = |field: &str| item[field].as_str().unwrap().to_owned();
            (text("kind"), text("seller_id"), item["from_seller_id"].clone(), item["owner_id"].clone())
        })
        .collect()
}

#[tokio::test]
async fn a_customer_moves_to_another_seller_only_when_settled_and_every_change_is_kept() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let r1_sales = create_user(&app, &world.r1_admin, &world.r1, "Li Lei").await;
    let leaving = create_user(&app, &world.r2_admin, &world.r2, "Wang Fang").await;
    let taking_over = create_user(&app, &world.r2_admin, &world.r2, "Zhao Min").await;

    // Customer C has 100.00 with R2: it may not leave R2 (R1, R2's parent, decides moves).
    recharge(&app, &world, "100.00").await;
    let body = json!({ "to": world.r1, "owner_id": r1_sales, "reason": "served directly" });
    let refused = app.post(&format!("/v1/customers/{}/transfer", world.customer), &world.r1_admin, body).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "customer_not_settled"));
    assert!(refused.body["detail"].as_str().unwrap().contains("its cash balance is 100.00"), "{}", refused.body);

    // A walk-in customer of R2, with nothing open, moves up to R1 with R1's salesperson. It had
    // money with R2 before: 20.00 recharged, then withdrawn.
    let walk_in = open_org(&app, &world.r2_admin, "customer", "Walk-in W").await;
    let walk_in_token = token(&app, &world.r2_admin, &walk_in, &["customer"]).await;
    let body = json!({ "customer_id": walk_in, "amount": "20.00", "method": "offline", "reference": "slip 9" });
    let pending = app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
    let body = json!({ "customer_id": walk_in, "amount": "20.00", "route": "offline" });
    let pending = app.post("/v1/withdrawals", &world.r2_finance, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
    let january = format!("/v1/customers/{walk_in}/statement?from=2026-01-01&to=2026-01-31");
    let before = app.get(&january, &walk_in_token).await.expect(200);
    let movements = |statement: &serde_json::Value| -> Vec<(String, String, String)> {
        statement["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let field = |name: &str| item[name].as_str().unwrap().to_owned();
                (field("kind"), field("cash"), field("balance"))
            })
            .collect()
    };
    let expected = [("recharge", "20.00", "20.00"), ("withdrawal", "-20.00", "0.00")]
        .map(|(kind, cash, balance)| (kind.to_owned(), cash.to_owned(), balance.to_owned()));
    assert_eq!(movements(&before), expected);
    let body = json!({ "to": world.r1, "owner_id": r1_sales, "reason": "served directly" });
    // R2 may not move its customer to its parent: only its own org or its resellers.
    let refused = app.post(&format!("/v1/customers/{walk_in}/transfer"), &world.r2_admin, body.clone()).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("to")));
    let moved = app.post(&format!("/v1/customers/{walk_in}/transfer"), &world.r1_admin, body).await.expect(200);
    // Its January statement is the same after the move: the movements kept in R2's book stay.
    let after = app.get(&format!("{january}&min_position={}", app.log_position()), &walk_in_token).await.expect(200);
    assert_eq!(movements(&after), expected);
    assert_eq!((&after["opening"], &after["closing"]), (&before["opening"], &before["closing"]));
    let from_r1 = app.get(&january, &world.r1_admin).await.expect(200);
    assert_eq!(movements(&from_r1), expected);
    assert_eq!(
        (&moved["from"], &moved["to"], &moved["owner_id"]),
        (&json!(world.r2), &json!(world.r1), &json!(r1_sales))
    );

    // R1 lists it, with its salesperson; R2 no longer does, nor reads it.
    let r1_customers = app.get("/v1/customers", &world.r1_admin).await.expect(200);
    let listed: Vec<(&str, &str)> = r1_customers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["id"].as_str().unwrap(), item["owner_id"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(listed, vec![(walk_in.as_str(), r1_sales.as_str())]);
    let r2_customers = app.get("/v1/customers", &world.r2_admin).await.expect(200);
    let r2_ids: Vec<&str> =
        r2_customers["items"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap()).collect();
    assert_eq!(r2_ids, vec![world.customer.as_str()]);
    let hidden = app.get(&format!("/v1/customers/{walk_in}/ownership"), &world.r2_admin).await;
    assert_eq!(hidden.status.as_u16(), 404);

    // Its history: opened with R2, transferred to R1 with its salesperson and the reason.
    let ownership = app.get(&format!("/v1/customers/{walk_in}/ownership"), &world.r1_admin).await.expect(200);
    assert_eq!((&ownership["seller_id"], &ownership["owner_id"]), (&json!(world.r1), &json!(r1_sales)));
    assert_eq!(
        kinds(&ownership),
        vec![
            ("opened".into(), world.r2.clone(), Value::Null, Value::Null),
            ("transferred".into(), world.r1.clone(), json!(world.r2), json!(r1_sales)),
        ]
    );
    assert_eq!(ownership["items"][1]["reason"], "served directly");

    // 离职交接: Wang Fang's customers pass to Zhao Min in one request.
    app.put(&format!("/v1/customers/{}/owner", world.customer), &world.r2_admin, json!({ "user_id": leaving }))
        .await
        .expect(200);
    let body = json!({ "from_user_id": leaving, "to_user_id": taking_over });
    let reassigned =
        app.post(&format!("/v1/orgs/{}/customers/reassign", world.r2), &world.r2_admin, body.clone()).await.expect(200);
    assert_eq!(reassigned["customer_ids"], json!([world.customer]));
    let again = app.post(&format!("/v1/orgs/{}/customers/reassign", world.r2), &world.r2_admin, body).await;
    assert_eq!((again.status.as_u16(), again.body["field"].as_str()), (422, Some("from_user_id")));
    let ownership = app.get(&format!("/v1/customers/{}/ownership", world.customer), &world.r2_admin).await.expect(200);
    assert_eq!(
        kinds(&ownership),
        vec![
            ("opened".into(), world.r2.clone(), Value::Null, Value::Null),
            ("owner_set".into(), world.r2.clone(), Value::Null, json!(leaving)),
            ("owner_set".into(), world.r2.clone(), Value::Null, json!(taking_over)),
        ]
    );
    // The customer reads its own.
    let own = app.get(&format!("/v1/customers/{}/ownership", world.customer), &world.customer_token).await.expect(200);
    assert_eq!(own["owner_id"], json!(taking_over));
    app.stop().await;
}
