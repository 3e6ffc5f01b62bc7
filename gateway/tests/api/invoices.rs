//! Invoices over HTTP (issue 12), on the real server: requested with their details and tax,
//! issued, delivered, red-lettered after a refund with the invoiceable amount exact, voided, a
//! special one issued by its approval, and the lists by status.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn an_invoice_goes_from_request_to_red_letter_and_the_invoiceable_amount_stays_exact() {
    request_to_red_letter(Options::default()).await;
}

#[tokio::test]
async fn invoices_and_the_invoiceable_amount_read_the_same_on_postgresql() {
    request_to_red_letter(crate::back_office::on_postgres().await).await;
}

async fn request_to_red_letter(options: Options) {
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "1000.00").await;
    let order = buy(&app, &world).await;
    let c = &world.customer;

    let request = json!({ "customer_id": c, "type": "ordinary", "title": "Customer C Ltd",
        "tax_id": "91330100MA2XXXXXX", "order_ids": [order], "amount": "950.00" });
    let requested = app.post("/v1/invoices", &world.customer_token, request).await.expect(201);
    assert_eq!(requested["status"], "requested");
    assert_eq!((requested["tax_rate"].as_str(), requested["tax_amount"].as_str()), (Some("0.06"), Some("53.77")));
    assert!(requested["approval_id"].is_null());
    let id = requested["id"].as_str().unwrap().to_owned();
    let listed =
        app.get(&format!("/v1/invoices?customer_id={c}&status=requested"), &world.r2_finance).await.expect(200);
    assert_eq!(listed["items"][0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(listed["items"][0]["title"], "Customer C Ltd");
    assert_eq!(listed["items"][0]["order_ids"], json!([order]));

    // The customer does not issue its own invoice; the seller's finance does.
    let refused = app.post(&format!("/v1/invoices/{id}/issue"), &world.customer_token, json!({})).await;
    assert_eq!(refused.status.as_u16(), 403);
    let issued = app.post(&format!("/v1/invoices/{id}/issue"), &world.r2_finance, json!({})).await.expect(200);
    assert_eq!(issued["status"], "issued");
    let invoiceable = app.get(&format!("/v1/customers/{c}/invoiceable"), &world.r2_finance).await.expect(200);
    assert_eq!(invoiceable["invoiceable"], "0.00");
    app.post(&format!("/v1/invoices/{id}/deliver"), &world.r2_finance, json!({})).await.expect(200);
    let refused = app.post(&format!("/v1/invoices/{id}/void"), &world.r2_finance, json!({ "reason": "x" })).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "invoice_state"));

    // A refund of 300.00, then a red-letter invoice for it: nothing becomes invoiceable, since
    // the 300.00 had been invoiced and is no longer paid.
    let refund = json!({ "amount": "300.00", "penalty": "0.00", "reason": "downgrade" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_admin, refund).await.expect(200);
    let red = json!({ "amount": "300.00", "reason": "refund of 300.00" });
    let red = app.post(&format!("/v1/invoices/{id}/red-letter"), &world.r2_finance, red).await.expect(201);
    assert_eq!((red["amount"].as_str(), red["tax_amount"].as_str()), (Some("300.00"), Some("16.98")));
    let invoiceable = app.get(&format!("/v1/customers/{c}/invoiceable"), &world.r2_finance).await.expect(200);
    assert_eq!(invoiceable["invoiceable"], "0.00");
    let invoice = app.get(&format!("/v1/invoices/{id}"), &world.customer_token).await.expect(200);
    assert_eq!((invoice["status"].as_str(), invoice["red_lettered"].as_str()), (Some("delivered"), Some("300.00")));
    assert_eq!(invoice["red_letters"][0]["id"], red["red_invoice_id"]);
    let too_much = app
        .post(&format!("/v1/invoices/{id}/red-letter"), &world.r2_finance, json!({ "amount": "650.01", "reason": "x" }))
        .await;
    assert_eq!((too_much.status.as_u16(), too_much.body["field"].as_str()), (422, Some("amount")));
}

#[tokio::test]
async fn a_special_invoice_needs_the_buyers_details_and_its_approval_issues_it() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "1000.00").await;
    buy(&app, &world).await;
    let c = &world.customer;
    let missing =
        json!({ "customer_id": c, "type": "special", "title": "Customer C Ltd", "tax_id": "9133", "amount": "106.00" });
    let refused = app.post("/v1/invoices", &world.r2_sales, missing).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("address")));
    let request = json!({ "customer_id": c, "type": "special", "title": "Customer C Ltd", "tax_id": "9133",
        "address": "Hangzhou 0571", "bank_account": "CMB 6214", "amount": "113.00", "tax_rate": "0.13" });
    let requested = app.post("/v1/invoices", &world.r2_sales, request).await.expect(201);
    assert_eq!(requested["tax_amount"], "13.00");
    let id = requested["id"].as_str().unwrap();
    let refused = app.post(&format!("/v1/invoices/{id}/issue"), &world.r2_finance, json!({})).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "invoice_needs_approval"));
    let approval = requested["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({})).await.expect(200);
    let invoice = app.get(&format!("/v1/invoices/{id}"), &world.r2_finance).await.expect(200);
    assert_eq!((invoice["status"].as_str(), invoice["type"].as_str()), (Some("issued"), Some("special")));
    let invoiceable = app.get(&format!("/v1/customers/{c}/invoiceable"), &world.r2_finance).await.expect(200);
    assert_eq!(invoiceable["invoiceable"], "837.00");
    // Voided before delivery, what it covered is invoiceable again.
    app.post(&format!("/v1/invoices/{id}/void"), &world.r2_finance, json!({ "reason": "wrong bank" }))
        .await
        .expect(200);
    let invoiceable = app.get(&format!("/v1/customers/{c}/invoiceable"), &world.r2_finance).await.expect(200);
    assert_eq!(invoiceable["invoiceable"], "950.00");
    let void = app.get(&format!("/v1/invoices?customer_id={c}&status=void"), &world.r2_finance).await.expect(200);
    assert_eq!(void["items"][0]["void_reason"], "wrong bank");
}
