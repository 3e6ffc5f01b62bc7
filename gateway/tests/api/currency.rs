//! A book's currency comes from the configuration (issue 12, the first part of "money in more
//! than one currency"): the platform's book opens in `KBOSS_CURRENCY`, resellers' books in their
//! parent's, answers name it, and a store keeps the currency it opened in.

use ledger_core::money::Currency;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_platforms_currency_is_the_configured_one_and_a_store_keeps_it() {
    let app = spawn_app(Options { currency: Some(Currency::USD), ..Options::default() }).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    buy(&app, &world).await;
    for (book, token) in [(&world.platform, &world.admin), (&world.r2, &world.r2_finance)] {
        let trial_balance = app.get(&format!("/v1/books/{book}/trial-balance"), token).await.expect(200);
        assert_eq!(trial_balance["currency"], "USD");
        assert_eq!(trial_balance["total_debit"], trial_balance["total_credit"]);
    }
    let balance = app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await;
    assert_eq!(balance.expect(200)["currency"], "USD");
    // A customer that never had money is answered in its book's currency too.
    let other = open_org(&app, &world.r2_admin, "customer", "Customer E").await;
    let balance = app.get(&format!("/v1/customers/{other}/balance"), &world.r2_finance).await.expect(200);
    assert_eq!((balance["currency"].as_str(), balance["cash"].as_str()), (Some("USD"), Some("0.00")));
    let recharge =
        json!({ "customer_id": world.customer, "amount": "5.00", "method": "transfer", "reference": "wire" });
    let pending = app.post("/v1/recharges", &world.r2_sales, recharge).await.expect(202);
    let movement = app.get(&format!("/v1/recharges/{}", pending["id"].as_str().unwrap()), &world.r2_finance).await;
    assert_eq!(movement.expect(200)["currency"], "USD");

    // The store keeps USD: started again configured for another currency, it refuses to start.
    let data_dir = app.stop().await;
    let refused =
        try_spawn_app(Options { data_dir: Some(data_dir), currency: Some(Currency::EUR), ..Options::default() });
    let (error, data_dir) = refused.await.err().expect("a store in USD is not started in EUR");
    assert!(error.to_string().contains("keeps its book in USD"), "{error}");
    let app = spawn_app(Options { data_dir: Some(data_dir), ..Options::default() }).await;
    app.stop().await;
}
