//! KPIs to the net (issue 12): commissions paid and earned, refund penalties and other selling
//! expenses shown apart from gross profit, the net profit they leave, and each month against the
//! one before, in the books of the seller and of its parent.

use serde_json::{json, Value};

use crate::helpers::*;

/// The totals row of a KPI answer, period by period: the figures in the order the body names them.
fn totals(kpi: &Value) -> Vec<Value> {
    kpi["items"].as_array().expect("items").iter().filter(|row| row["key"].is_null()).cloned().collect()
}

fn figures(row: &Value) -> [&str; 10] {
    let text = |field: &str| row[field].as_str().unwrap_or_else(|| panic!("{field} in {row}"));
    [
        text("revenue"),
        text("discounts"),
        text("cost"),
        text("gross_profit"),
        text("refunds"),
        text("commissions_paid"),
        text("commissions_earned"),
        text("penalties"),
        text("other_selling_expenses"),
        text("net_profit"),
    ]
}

#[tokio::test]
async fn kpis_show_commissions_penalties_and_other_expenses_apart_and_the_month_before() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "3000.00").await;
    // January: the worked example, sold at a discount (R2 keeps 70.00, R1 80.00).
    let january = buy(&app, &world).await;

    // February: half of January's sale refunded with a penalty of 47.50, a coupon of 10.00, and
    // R2 turned rebate reseller (it sells at R1's price, 880.00, and R1 pays it 5 %: 44.00).
    app.clock.set(date("2026-02-10"));
    let refund = json!({ "amount": "475.00", "penalty": "47.50", "reason": "downgrade" });
    app.post(&format!("/v1/orders/{january}/refund"), &world.r2_finance, refund).await.expect(200);
    let coupon = json!({ "customer_id": world.customer, "amount": "10.00", "reason": "apology" });
    app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    let mode = json!({ "mode": "rebate", "commission_rate": "0.05" });
    app.put(&format!("/v1/orgs/{}/sale-mode", world.r2), &world.r1_admin, mode).await.expect(200);
    buy(&app, &world).await;

    let period = "from=2026-01-01&to=2026-02-28&granularity=month";
    let r2 = app.get(&format!("/v1/books/{}/kpi?{period}", world.r2), &world.r2_finance).await.expect(200);
    let r2 = totals(&r2);
    assert_eq!(r2.len(), 2, "{r2:?}");
    assert_eq!(
        figures(&r2[0]),
        ["1000.00", "50.00", "880.00", "70.00", "0.00", "0.00", "0.00", "0.00", "0.00", "70.00"]
    );
    // Feb: the sale at 880.00 (revenue 1000.00, discount 120.00, cost 880.00) less half of
    // January's (500.00, 25.00, 440.00); refunds 475.00; commission earned 44.00; penalty
    // 47.50; the coupon 10.00. Net: 15.00 + 44.00 + 47.50 − 10.00.
    assert_eq!(
        figures(&r2[1]),
        ["500.00", "95.00", "440.00", "-35.00", "475.00", "0.00", "44.00", "47.50", "10.00", "46.50"]
    );
    assert_eq!(
        r2[0]["previous"],
        json!({ "period": "2025-12", "revenue": "0.00", "gross_profit": "0.00", "net_profit": "0.00" })
    );
    assert_eq!(
        r2[0]["change"],
        json!({ "revenue": "1000.00", "gross_profit": "70.00", "net_profit": "70.00",
            "revenue_ratio": null, "gross_profit_ratio": null, "net_profit_ratio": null })
    );
    assert_eq!(
        r2[1]["previous"],
        json!({ "period": "2026-01", "revenue": "1000.00", "gross_profit": "70.00", "net_profit": "70.00" })
    );
    assert_eq!(
        r2[1]["change"],
        json!({ "revenue": "-500.00", "gross_profit": "-105.00", "net_profit": "-23.50",
            "revenue_ratio": "-0.5000", "gross_profit_ratio": "-1.5000", "net_profit_ratio": "-0.3357" })
    );

    // R1 pays the commission: its net is its gross profit less 44.00.
    let r1 = app.get(&format!("/v1/books/{}/kpi?{period}", world.r1), &world.r1_finance).await.expect(200);
    let r1 = totals(&r1);
    assert_eq!(
        figures(&r1[1]),
        ["500.00", "60.00", "400.00", "40.00", "440.00", "44.00", "0.00", "0.00", "0.00", "-4.00"]
    );
    // By reseller, R1's commission is R2's.
    let by = app.get(&format!("/v1/books/{}/kpi?{period}&by=reseller", world.r1), &world.r1_finance).await.expect(200);
    let february: Vec<&Value> =
        by["items"].as_array().unwrap().iter().filter(|row| row["period"] == "2026-02").collect();
    assert_eq!(february.len(), 1, "{by}");
    assert_eq!(
        (february[0]["key"].as_str(), february[0]["commissions_paid"].as_str()),
        (Some(world.r2.as_str()), Some("44.00"))
    );

    // One February, from the 10th: the month before is January's whole month.
    let part = "from=2026-02-10&to=2026-02-28&granularity=month";
    let r2 = app.get(&format!("/v1/books/{}/kpi?{part}", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(totals(&r2)[0]["previous"]["net_profit"], "70.00");
    app.stop().await;
}
