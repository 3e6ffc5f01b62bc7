//! Serial codes expire (issue 12): a batch issued with its last day of activation; past it, a
//! code is refused and the clock's tick books the codes never activated out of the contract
//! liability (2205) into other income (6051), once.

use chrono::Utc;
use serde_json::json;

use crate::helpers::*;

async fn tick(app: &TestApp) -> Vec<String> {
    let committed = gateway::ticker::tick(&app.state, Utc::now()).await.expect("a tick is decided");
    committed.events.iter().map(|event| event.event_type().to_owned()).collect()
}

#[tokio::test]
async fn codes_past_their_expiry_are_refused_and_booked_out_to_other_income_once() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (operations, _, _) = serial_business(&app, &world).await;

    // Today is 2026-01-15: an expiry in the past is refused, naming the field.
    let body = json!({ "distributor_id": world.r1, "days": 30, "count": 3, "expires_on": "2026-01-14" });
    let refused = app.post("/v1/serial-codes/batches", &operations, body).await;
    assert_eq!((refused.status.as_u16(), refused.body["field"].as_str()), (422, Some("expires_on")));
    let body = json!({ "distributor_id": world.r1, "days": 30, "count": 3, "expires_on": "2026-01-31" });
    let batch = app.post("/v1/serial-codes/batches", &operations, body).await.expect(201);
    assert_eq!((batch["total"].as_str(), batch["expires_on"].as_str()), (Some("240.00"), Some("2026-01-31")));
    let batch_id = batch["batch_id"].as_str().unwrap().to_owned();
    let codes: Vec<String> =
        batch["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let activate = json!({ "customer_id": world.customer });
    app.post(&format!("/v1/serial-codes/{}/activate", codes[0]), &world.customer_token, activate.clone())
        .await
        .expect(200);

    // The issuer moves it a week later; on the 7th of February nothing has expired yet.
    let moved = app
        .put(&format!("/v1/serial-codes/batches/{batch_id}/expiry"), &operations, json!({ "expires_on": "2026-02-07" }))
        .await
        .expect(200);
    assert_eq!(moved["expires_on"], "2026-02-07");
    app.clock.set(date("2026-02-07"));
    assert_eq!(tick(&app).await, Vec::<String>::new());

    // The 8th: the code is refused, and one tick books the two codes never activated out.
    app.clock.set(date("2026-02-08"));
    let refused = app.post(&format!("/v1/serial-codes/{}/activate", codes[1]), &world.customer_token, activate).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (409, "serial_code_used"));
    assert_eq!(tick(&app).await, ["SerialCodesExpired"]);
    assert_eq!(tick(&app).await, Vec::<String>::new(), "booked out once");

    let platform = app.get(&format!("/v1/books/{}/trial-balance", world.platform), &world.admin).await.expect(200);
    // 2205: 240.00 credited at issue, 80.00 recognised at activation, 160.00 expired.
    assert_eq!(account(&platform, "2205"), ("240.00".to_owned(), "240.00".to_owned()));
    assert_eq!(account(&platform, "6051"), ("0.00".to_owned(), "160.00".to_owned()));
    assert_eq!(platform["total_debit"], platform["total_credit"]);

    let read = app.get(&format!("/v1/serial-codes/batches/{batch_id}"), &operations).await.expect(200);
    assert_eq!((read["activated"].as_u64(), read["expired"].as_u64()), (Some(1), Some(2)));
    assert_eq!(read["expires_on"], "2026-02-07");
    let expired =
        app.get(&format!("/v1/serial-codes?batch_id={batch_id}&status=expired"), &operations).await.expect(200);
    let listed: Vec<&str> = expired["items"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![codes[1].as_str(), codes[2].as_str()]);
    assert!(expired["items"][0]["expired_position"].as_u64().is_some());
    app.stop().await;
}
