//! (a) The whole §2.5 flow over HTTP, with the design's exact figures in the three books, the
//! order's waterfall and the KPIs; then a partial refund with a penalty, a reseller settlement
//! paid through an approval, and a period close.

use serde_json::{json, Value};

use crate::helpers::*;

fn kpi_totals(kpi: &Value) -> (String, String, String, String) {
    let rows = kpi["rows"].as_array().expect("rows");
    let total = rows.iter().find(|row| row["key"].is_null()).unwrap_or_else(|| panic!("a totals row in {kpi}"));
    let text = |field: &str| total[field].as_str().unwrap().to_owned();
    (text("revenue"), text("discounts"), text("cost"), text("gross_profit"))
}

#[tokio::test]
async fn the_worked_example_books_the_designs_figures_in_every_book() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;

    // Offline recharge: requested by one finance token, which may not approve it itself.
    let body =
        json!({ "customer_id": world.customer, "amount": "950.00", "method": "offline", "reference": "slip 42" });
    let pending = app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);
    assert_eq!(pending["status"], "pending_approval");
    let approval = pending["approval_id"].as_str().unwrap();
    let inbox = app.get("/v1/approvals?status=pending", &world.r2_finance_other).await.expect(200);
    assert!(inbox["items"].as_array().unwrap().iter().any(|item| item["id"] == approval));
    let own = app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({})).await;
    assert_eq!((own.status.as_u16(), own.code()), (422, "self_approval"));
    let granted = app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await;
    assert_eq!(granted.expect(200)["status"], "granted");
    let balance =
        app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await.expect(200);
    assert_eq!((balance["available"].as_str(), balance["currency"].as_str()), (Some("950.00"), Some("CNY")));

    // Order and payment from balance.
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let order = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    assert_eq!((order["status"].as_str(), order["total"].as_str()), (Some("pending_payment"), Some("950.00")));
    assert_eq!(order["items"][0]["amount"], "950.00");
    assert_eq!(order["items"][0]["unit_price"], "950.00", "money shows two decimals");
    assert_eq!(order["items"][0]["rate_source"], "customer");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let paid = app.post(&format!("/v1/orders/{order_id}/pay"), &world.customer_token, json!({})).await.expect(200);
    assert_eq!(paid["status"], "paid");

    // The three books, exactly as DESIGN §2.5.
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "2203"), ("950.00".into(), "950.00".into()));
    assert_eq!(account(&r2, "6001.99"), ("50.00".into(), "0.00".into()));
    assert_eq!(account(&r2, "6001"), ("0.00".into(), "1000.00".into()));
    assert_eq!(account(&r2, "6401"), ("880.00".into(), "0.00".into()));
    assert_eq!(account(&r2, "2202"), ("0.00".into(), "880.00".into()));
    assert_eq!(r2["total_debit"], r2["total_credit"]);
    let r1 = app.get(&format!("/v1/books/{}/trial-balance", world.r1), &world.r1_finance).await.expect(200);
    assert_eq!(account(&r1, "1122"), ("880.00".into(), "0.00".into()));
    assert_eq!(account(&r1, "6001.99"), ("120.00".into(), "0.00".into()));
    assert_eq!(account(&r1, "6001"), ("0.00".into(), "1000.00".into()));
    assert_eq!(account(&r1, "6401"), ("800.00".into(), "0.00".into()));
    assert_eq!(account(&r1, "2202"), ("0.00".into(), "800.00".into()));
    let platform = app.get(&format!("/v1/books/{}/trial-balance", world.platform), &world.admin).await.expect(200);
    assert_eq!(account(&platform, "1122"), ("800.00".into(), "0.00".into()));
    assert_eq!(account(&platform, "6001.99"), ("200.00".into(), "0.00".into()));
    assert_eq!(account(&platform, "6001"), ("0.00".into(), "1000.00".into()));
    assert_eq!(account(&platform, "6401"), ("700.00".into(), "0.00".into()));
    assert_eq!(account(&platform, "2202"), ("0.00".into(), "700.00".into()));

    // The ledger names the parties, and every line drills down to its event.
    let ledger = app.get(&format!("/v1/books/{}/ledger?account=2202", world.r2), &world.r2_finance).await.expect(200);
    let line = &ledger["items"][0];
    assert_eq!((line["party"].as_str(), line["credit"].as_str()), (Some(world.r1.as_str()), Some("880.00")));
    let event = app.get(&format!("/v1/events/{}", line["position"]), &world.r2_finance).await.expect(200);
    assert_eq!(event["event_type"], "OrderPaid");
    assert!(event["entries"].as_array().unwrap().iter().all(|entry| entry["book"] == world.r2.as_str()));

    // The waterfall, level by level (the platform's super_admin sees every level).
    let order = app.get(&format!("/v1/orders/{order_id}"), &world.admin).await.expect(200);
    assert_eq!(order["status"], "paid");
    let levels: Vec<(String, String, String, String)> = order["waterfall"][0]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|level| {
            let text = |field: &str| level[field].as_str().unwrap().to_owned();
            (text("org_id"), text("cost"), text("price"), text("margin"))
        })
        .collect();
    assert_eq!(
        levels,
        vec![
            (world.platform.clone(), "700.00".into(), "800.00".into(), "100.00".into()),
            (world.r1.clone(), "800.00".into(), "880.00".into(), "80.00".into()),
            (world.r2.clone(), "880.00".into(), "950.00".into(), "70.00".into()),
        ]
    );
    // The customer sees its order but nobody's margins.
    let mine = app.get(&format!("/v1/orders/{order_id}"), &world.customer_token).await.expect(200);
    assert!(mine["waterfall"][0]["levels"].as_array().unwrap().is_empty());

    // KPIs per book.
    let period = "from=2026-01-01&to=2026-01-31&granularity=month";
    let kpi = app.get(&format!("/v1/books/{}/kpi?{period}", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(kpi_totals(&kpi), ("1000.00".into(), "50.00".into(), "880.00".into(), "70.00".into()));
    let kpi = app.get(&format!("/v1/books/{}/kpi?{period}", world.r1), &world.r1_finance).await.expect(200);
    assert_eq!(kpi_totals(&kpi), ("1000.00".into(), "120.00".into(), "800.00".into(), "80.00".into()));
    let kpi = app.get(&format!("/v1/books/{}/kpi?{period}", world.platform), &world.admin).await.expect(200);
    assert_eq!(kpi_totals(&kpi), ("1000.00".into(), "200.00".into(), "700.00".into(), "100.00".into()));
    // Split by a dimension, each key with its name.
    // January has no commission, penalty or other expense (net = gross profit); December, the
    // month before, had nothing.
    let row = |key: Value, name: Value, figures: [&str; 6]| {
        let [revenue, discounts, cost, gross_profit, recharges, refunds] = figures;
        json!({ "period": "2026-01", "key": key, "name": name, "revenue": revenue, "discounts": discounts,
            "cost": cost, "gross_profit": gross_profit, "recharges": recharges, "refunds": refunds,
            "commissions_paid": "0.00", "commissions_earned": "0.00", "penalties": "0.00",
            "other_selling_expenses": "0.00", "net_profit": gross_profit,
            "previous": { "period": "2025-12", "revenue": "0.00", "gross_profit": "0.00", "net_profit": "0.00" },
            "change": { "revenue": revenue, "gross_profit": gross_profit, "net_profit": gross_profit,
                "revenue_ratio": null, "gross_profit_ratio": null, "net_profit_ratio": null } })
    };
    let r2_kpi = |by: &str| {
        let path = format!("/v1/books/{}/kpi?{period}&by={by}", world.r2);
        let (app, token) = (&app, &world.r2_finance);
        async move { app.get(&path, token).await }
    };
    // A recharge is no product's or supplier's: its row has no key, and no name.
    let unkeyed = row(Value::Null, Value::Null, ["0.00", "0.00", "0.00", "0.00", "950.00", "0.00"]);
    assert_eq!(
        r2_kpi("product").await.expect(200)["rows"],
        json!([
            unkeyed,
            row(json!(world.product), json!("GPU server"), ["1000.00", "50.00", "880.00", "70.00", "0.00", "0.00"])
        ])
    );
    assert_eq!(
        r2_kpi("customer").await.expect(200)["rows"],
        json!([row(
            json!(world.customer),
            json!("Customer C"),
            ["1000.00", "50.00", "880.00", "70.00", "950.00", "0.00"]
        )])
    );
    assert_eq!(
        r2_kpi("supplier").await.expect(200)["rows"],
        json!([
            unkeyed,
            row(
                json!(world.supplier),
                json!("Cloud Supplier"),
                ["1000.00", "50.00", "880.00", "70.00", "0.00", "0.00"]
            )
        ])
    );
    let kpi = app.get(&format!("/v1/books/{}/kpi?{period}&by=reseller", world.r1), &world.r1_finance).await.expect(200);
    assert_eq!(
        kpi["rows"],
        json!([row(json!(world.r2), json!("R2"), ["1000.00", "120.00", "800.00", "80.00", "0.00", "0.00"])])
    );

    // A partial refund with a penalty: half the sale back, 47.50 kept by the seller.
    let refund = json!({ "amount": "475.00", "penalty": "47.50", "reason": "downgrade" });
    let refunded = app.post(&format!("/v1/orders/{order_id}/refund"), &world.r2_finance, refund).await.expect(200);
    assert_eq!(
        (refunded["status"].as_str(), refunded["refunded"].as_str()),
        (Some("partially_refunded"), Some("475.00"))
    );
    let balance = app.get(&format!("/v1/customers/{}/balance", world.customer), &world.r2_sales).await.expect(200);
    assert_eq!(balance["available"], "427.50");
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "6051"), ("0.00".into(), "47.50".into()));
    assert_eq!(r2["total_debit"], r2["total_credit"]);

    // A month later: R1 settles January with R2 (what R2 still owes after the refund: 440.00).
    app.clock.set(date("2026-02-02"));
    let request = json!({ "org_id": world.r1, "counterparty_id": world.r2, "from": "2026-01-01", "to": "2026-01-31" });
    let statement = app.post("/v1/settlements", &world.r1_finance, request.clone()).await.expect(201);
    assert_eq!(statement["total"], "-440.00");
    assert_eq!(statement["receivable"], "440.00");
    let again = app.post("/v1/settlements", &world.r1_finance, request).await.expect(201);
    assert_eq!((&again["id"], &again["statement_hash"]), (&statement["id"], &statement["statement_hash"]));
    let settlement = statement["id"].as_str().unwrap();
    let payment =
        app.post(&format!("/v1/settlements/{settlement}/pay"), &world.r1_finance, json!({})).await.expect(202);
    let approval = payment["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r1_admin, json!({ "comment": "ok" }))
        .await
        .expect(200);
    let settled = app.get(&format!("/v1/settlements/{settlement}"), &world.r1_finance).await.expect(200);
    assert_eq!(settled["status"], "paid");
    let r1 = app.get(&format!("/v1/books/{}/trial-balance", world.r1), &world.r1_finance).await.expect(200);
    assert_eq!(r1["total_debit"], r1["total_credit"]);

    // Close January in R2's book; nothing may be dated in it afterwards.
    let closed =
        app.post(&format!("/v1/books/{}/close", world.r2), &world.r2_finance, json!({ "through": "2026-01-31" })).await;
    let certificate = closed.expect(200)["certificate"].clone();
    assert_eq!(certificate["total_debit"], certificate["total_credit"]);
    app.clock.set(date("2026-01-20"));
    let coupon = json!({ "customer_id": world.customer, "amount": "10.00", "reason": "late" });
    let refused = app.post("/v1/coupons", &world.r2_sales, coupon).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (422, "period_closed"));

    // The export of R2's book balances, line for line.
    let csv = app
        .get(&format!("/v1/books/{}/export?format=csv&from=2026-01-01&to=2026-01-31", world.r2), &world.r2_finance)
        .await;
    assert_eq!(csv.status.as_u16(), 200, "{}", csv.text);
    assert!(csv.text.lines().count() > 10);
    app.stop().await;
}
