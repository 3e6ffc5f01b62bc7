//! (e) Signed payment notifications: a bad signature is a 400 and books nothing; a good one
//! books once, however often the channel resends it, and is answered `success`.

use std::collections::BTreeMap;

use base64::Engine;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};

use crate::helpers::*;

fn sign(private: &RsaPrivateKey, fields: &mut BTreeMap<String, String>) {
    fields.insert("sign_type".into(), "RSA2".into());
    let text = gateway::payments::signing_string(fields);
    let signature = SigningKey::<sha2::Sha256>::new(private.clone()).sign(text.as_bytes());
    fields.insert("sign".into(), base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()));
}

async fn notify(app: &TestApp, fields: &BTreeMap<String, String>) -> (u16, String) {
    let response = app
        .client
        .post(format!("{}/v1/payments/notify/alipay", app.address))
        .form(fields)
        .send()
        .await
        .expect("the server answers");
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn only_a_verified_notification_books_and_it_books_once() {
    // 1024 bits keeps the test quick; the verification code is the same for any size.
    let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let pem = RsaPublicKey::from(&private).to_public_key_pem(LineEnding::LF).unwrap();
    let options = Options { payment_keys: [("alipay".to_owned(), pem)].into_iter().collect(), ..Options::default() };
    let app = spawn_app(options).await;
    let world = build_world(&app).await;
    let mut fields: BTreeMap<String, String> = [
        ("trade_no", "2026011522001400001"),
        ("out_trade_no", "KB-1"),
        ("total_amount", "950.00"),
        ("trade_status", "TRADE_SUCCESS"),
        ("passback_params", world.customer.as_str()),
        ("notify_id", "n-1"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    sign(&private, &mut fields);

    let before = app.log_position();
    let mut forged = fields.clone();
    forged.insert("total_amount".into(), "9500.00".into());
    let (status, body) = notify(&app, &forged).await;
    assert_eq!(status, 400, "{body}");
    let mut unsigned = fields.clone();
    unsigned.remove("sign");
    assert_eq!(notify(&app, &unsigned).await.0, 400);
    assert_eq!(app.log_position(), before, "a refused notification booked something");

    assert_eq!(notify(&app, &fields).await, (200, "success".to_owned()));
    let booked = app.log_position();
    assert_eq!(booked, before + 1);
    for _ in 0..3 {
        assert_eq!(notify(&app, &fields).await, (200, "success".to_owned()));
    }
    assert_eq!(app.log_position(), booked, "a resent notification booked again");
    let balance =
        app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await.expect(200);
    assert_eq!(balance["available"], "950.00");
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "1012"), ("950.00".into(), "0.00".into()));
    app.stop().await;
}
