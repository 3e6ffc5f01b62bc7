//! Money in more than one currency (issue 12): a book's currency comes from the configuration
//! (the platform's book opens in `KBOSS_CURRENCY`, resellers' books in their parent's, answers
//! name it, a store keeps the currency it opened in); a book's exchange rates with their source
//! and date; a product priced in USD, ordered in a CNY book at the rate of the order's date,
//! which the order keeps.

use ledger_core::money::Currency;
use serde_json::json;

use crate::back_office::on_postgres;
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

/// A field refused: `(status, code, field)`.
fn refusal(answer: &Answer) -> (u16, &str, Option<&str>) {
    (answer.status.as_u16(), answer.code(), answer.body["field"].as_str())
}

#[tokio::test]
async fn an_order_of_a_product_in_usd_converts_at_the_books_rate_of_its_date_and_keeps_it() {
    usd_product(Options::default()).await;
}

#[tokio::test]
async fn exchange_rates_and_a_product_in_usd_work_the_same_on_postgresql() {
    usd_product(on_postgres().await).await;
}

async fn usd_product(options: Options) {
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    let platform_finance = token(&app, &world.admin, &world.platform, &["finance"]).await;
    let rates = format!("/v1/books/{}/exchange-rates", world.platform);

    // The platform's finance sets the USD rate, with its source, from the first of the month.
    let body =
        json!({ "currency": "USD", "rate": "7.10", "source": "PBOC central parity", "effective_from": "2026-01-01" });
    let set = app.put(&rates, &platform_finance, body).await.expect(200);
    assert_eq!(
        (set["currency"].as_str(), set["rate"].as_str(), set["source"].as_str(), set["effective_from"].as_str()),
        (Some("USD"), Some("7.10"), Some("PBOC central parity"), Some("2026-01-01"))
    );
    // Refused, each naming its field: the book's own currency, an unknown one, a rate that is
    // not positive, a missing source; sales may not set it, R2's finance does not see the book.
    let bad = |currency: &str, rate: &str, source: &str| json!({ "currency": currency, "rate": rate, "source": source, "effective_from": "2026-01-01" });
    let refused = app.put(&rates, &platform_finance, bad("CNY", "1", "bank")).await;
    assert_eq!(refusal(&refused), (422, "invalid_field", Some("currency")));
    let refused = app.put(&rates, &platform_finance, bad("XAU", "1", "bank")).await;
    assert_eq!(refusal(&refused), (422, "invalid_field", Some("currency")));
    let refused = app.put(&rates, &platform_finance, bad("USD", "-7.1", "bank")).await;
    assert_eq!(refusal(&refused).2, Some("rate"));
    let refused = app.put(&rates, &platform_finance, bad("USD", "7.1", "")).await;
    assert_eq!(refusal(&refused), (422, "invalid_field", Some("source")));
    let platform_sales = token(&app, &world.admin, &world.platform, &["sales"]).await;
    app.put(&rates, &platform_sales, bad("USD", "7.1", "bank")).await.expect(403);
    app.put(&rates, &world.r2_finance, bad("USD", "7.1", "bank")).await.expect(404);

    // Product U: USD 100.00 from its supplier, with the worked example's rates along the chain.
    let body = json!({ "name": "GPU server (US)", "supplier_id": world.supplier, "list_price": "100.00",
                       "unit": "month", "currency": "USD" });
    let product = app.post("/v1/products", &world.admin, body).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.put(&format!("/v1/products/{product}/supplier-rate"), &world.admin, json!({ "rate": "0.70" }))
        .await
        .expect(200);
    set_rate(&app, &world.admin, &world.platform, &product, &format!("reseller:{}", world.r1), "0.80").await;
    set_rate(&app, &world.r1_admin, &world.r1, &product, &format!("reseller:{}", world.r2), "0.88").await;
    set_rate(&app, &world.r2_admin, &world.r2, &product, "public", "0.98").await;
    set_rate(&app, &world.r2_admin, &world.r2, &product, &format!("customer:{}", world.customer), "0.95").await;
    let shown = app.get(&format!("/v1/products/{product}"), &world.r2_admin).await.expect(200);
    assert_eq!((shown["currency"].as_str(), shown["list_price"].as_str()), (Some("USD"), Some("100.00")));
    let shown = app.get(&format!("/v1/products/{}", world.product), &world.r2_admin).await.expect(200);
    assert_eq!(shown["currency"], "CNY");

    // The customer's order: USD 100.00 at 7.10 is CNY 710.00, at C's rate 0.95 CNY 674.50.
    let order =
        json!({ "customer_id": world.customer, "items": [{ "product_id": product, "quantity": 1, "periods": 1 }] });
    let placed = app.post("/v1/orders", &world.customer_token, order.clone()).await.expect(201);
    assert_eq!(placed["total"], "674.50");
    let exchange = &placed["items"][0]["exchange"];
    assert_eq!(
        exchange,
        &json!({ "currency": "USD", "list_price": "100.00", "rate": "7.10", "source": "PBOC central parity",
                 "rate_date": "2026-01-01" })
    );
    let first = placed["id"].as_str().unwrap().to_owned();

    // A rate from today on: the next order converts at it, the first keeps 7.10 and its total.
    let body = json!({ "currency": "USD", "rate": "7.2", "source": "bank quote", "effective_from": "2026-01-15" });
    app.put(&rates, &platform_finance, body).await.expect(200);
    let second = app.post("/v1/orders", &world.customer_token, order).await.expect(201);
    assert_eq!(
        (second["total"].as_str(), second["items"][0]["exchange"]["rate"].as_str()),
        (Some("684.00"), Some("7.20"))
    );
    let kept = app.get(&format!("/v1/orders/{first}"), &world.customer_token).await.expect(200);
    assert_eq!((kept["total"].as_str(), kept["items"][0]["exchange"]["rate"].as_str()), (Some("674.50"), Some("7.10")));
    // The platform's waterfall, as its super_admin sees it: every level from CNY 710.00.
    let waterfall = &kept["waterfall"][0];
    assert_eq!(waterfall["list_amount"], "710.00");
    recharge(&app, &world, "674.50").await;
    app.post(&format!("/v1/orders/{first}/pay"), &world.customer_token, json!({})).await.expect(200);
    let admin_view = app.get(&format!("/v1/orders/{first}"), &world.admin).await.expect(200);
    let prices: Vec<&str> =
        admin_view["waterfall"][0]["levels"].as_array().unwrap().iter().map(|l| l["price"].as_str().unwrap()).collect();
    assert_eq!(prices, ["568.00", "624.80", "674.50"]);
    assert_eq!(admin_view["waterfall"][0]["supplier_price"], "497.00");

    // February: the supplier's January statement owes USD 70.00 for the order paid, booked at
    // CNY 497.00; paid at February's rate, 7.25, it costs CNY 507.50: an exchange loss of 10.50.
    app.clock.set(date("2026-02-02"));
    let body =
        json!({ "currency": "USD", "rate": "7.25", "source": "PBOC central parity", "effective_from": "2026-02-01" });
    app.put(&rates, &platform_finance, body).await.expect(200);
    let request = json!({ "org_id": world.platform, "counterparty_id": world.supplier, "from": "2026-01-01",
                          "to": "2026-01-31" });
    let statement = app.post("/v1/settlements", &platform_finance, request).await.expect(201);
    assert_eq!(statement["payable"], "497.00");
    let settlement = statement["id"].as_str().unwrap().to_owned();
    let payment =
        app.post(&format!("/v1/settlements/{settlement}/pay"), &platform_finance, json!({})).await.expect(202);
    let approval = payment["approval_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.admin, json!({})).await.expect(200);
    let paid = app.get(&format!("/v1/settlements/{settlement}"), &platform_finance).await.expect(200);
    assert_eq!(paid["status"], "paid");
    assert_eq!(
        paid["exchange"],
        json!([{ "currency": "USD", "owed": "70.00", "booked": "497.00", "rate": "7.25",
                 "source": "PBOC central parity", "rate_date": "2026-02-01", "paid": "507.50", "difference": "10.50" }])
    );
    let books = app.get(&format!("/v1/books/{}/trial-balance", world.platform), &platform_finance).await.expect(200);
    assert_eq!(account(&books, "6603"), ("10.50".into(), "0.00".into()));
    assert_eq!(account(&books, "2202"), ("497.00".into(), "497.00".into()));
    assert_eq!(books["currency"], "CNY");
    assert_eq!(books["total_debit"], books["total_credit"]);

    // Every rate the book set, in the order it was set, with its source; filtered by currency.
    let listed = app.get(&format!("{rates}?currency=USD"), &world.r2_admin).await;
    assert_eq!(listed.status.as_u16(), 404, "R2's admin does not read the platform's book");
    let listed = app.get(&format!("{rates}?currency=USD"), &platform_finance).await.expect(200);
    let rows: Vec<(&str, &str, &str)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (row["rate"].as_str().unwrap(), row["source"].as_str().unwrap(), row["effective_from"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("7.10", "PBOC central parity", "2026-01-01"),
            ("7.20", "bank quote", "2026-01-15"),
            ("7.25", "PBOC central parity", "2026-02-01")
        ]
    );
    // Those taking effect within dates.
    let within = app.get(&format!("{rates}?currency=USD&from=2026-01-10&to=2026-01-31"), &platform_finance).await;
    let within = within.expect(200);
    assert_eq!(within["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(within["items"][0]["rate"], "7.20");
    let none = app.get(&format!("{rates}?currency=EUR"), &platform_finance).await.expect(200);
    assert_eq!(none["items"], json!([]));
    let refused = app.get(&format!("{rates}?currency=XAU"), &platform_finance).await;
    assert_eq!(refusal(&refused), (422, "invalid_field", Some("currency")));

    // A product in EUR, for which the book has no rate: its order is refused, nothing placed.
    let body = json!({ "name": "Storage (EU)", "supplier_id": world.supplier, "list_price": "10.00",
                       "unit": "month", "currency": "EUR" });
    let euro = app.post("/v1/products", &world.admin, body).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.put(&format!("/v1/products/{euro}/supplier-rate"), &world.admin, json!({ "rate": "0.70" })).await.expect(200);
    set_rate(&app, &world.admin, &world.platform, &euro, &format!("reseller:{}", world.r1), "0.80").await;
    set_rate(&app, &world.r1_admin, &world.r1, &euro, &format!("reseller:{}", world.r2), "0.88").await;
    set_rate(&app, &world.r2_admin, &world.r2, &euro, "public", "0.98").await;
    let order =
        json!({ "customer_id": world.customer, "items": [{ "product_id": euro, "quantity": 1, "periods": 1 }] });
    let refused = app.post("/v1/orders", &world.customer_token, order).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "exchange_rate_missing"));
    app.stop().await;
}
