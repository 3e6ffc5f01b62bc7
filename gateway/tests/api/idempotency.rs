//! (d) The same Idempotency-Key sent concurrently 50 times books once, and every answer is the
//! first one; the same key with another body is a 409.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn fifty_concurrent_requests_with_one_key_book_once() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 2 }] });
    let before = app.log_position();
    let requests = (0..50).map(|_| app.post_keyed("/v1/orders", &world.customer_token, "order-once", body.clone()));
    let answers = futures::future::join_all(requests).await;
    let first = (answers[0].status, answers[0].text.clone());
    assert_eq!(first.0.as_u16(), 201, "{}", first.1);
    for answer in &answers {
        assert_eq!((answer.status, &answer.text), (first.0, &first.1));
    }
    assert_eq!(app.log_position(), before + 1, "one OrderPlaced, whatever the number of requests");
    let orders = app.get("/v1/orders", &world.customer_token).await.expect(200);
    assert_eq!(orders["items"].as_array().unwrap().len(), 1);
    assert_eq!(orders["items"][0]["total"], "1900.00");

    let other = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 3 }] });
    let conflict = app.post_keyed("/v1/orders", &world.customer_token, "order-once", other).await;
    assert_eq!((conflict.status.as_u16(), conflict.code()), (409, "idempotency_conflict"));
    assert_eq!(conflict.headers["content-type"], "application/problem+json");
    assert_eq!(app.log_position(), before + 1);
    app.stop().await;
}
