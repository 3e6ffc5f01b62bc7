//! (e) Signed payment notifications (issue 9 item 5): a bad signature, a missing field or another
//! merchant's `app_id` or `seller_id` is a 400 and books nothing; a good one is booked in the
//! book that owns the channel, only when it pays what that book expects (an online recharge
//! requested first, or an order placed first) for exactly its amount, else a 422
//! `unexpected_payment` that books nothing; it books once, however often the channel resends it,
//! and is answered `success`.

use std::collections::BTreeMap;

use base64::Engine;
use gateway::config::PaymentChannel;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;

use crate::helpers::*;

const APP_ID: &str = "2021000000000001";
const SELLER_ID: &str = "2088000000000001";

fn sign(private: &RsaPrivateKey, fields: &mut BTreeMap<String, String>) {
    fields.insert("sign_type".into(), "RSA2".into());
    let text = gateway::payments::signing_string(fields);
    let signature = SigningKey::<sha2::Sha256>::new(private.clone()).sign(text.as_bytes());
    fields.insert("sign".into(), base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()));
}

/// The notification of a successful trade `trade_no` paying `total_amount` for `out_trade_no`,
/// from the channel's merchant account, with `changes` applied (an empty value removes the
/// field), then signed.
pub(crate) fn notification(
    private: &RsaPrivateKey,
    trade_no: &str,
    out_trade_no: &str,
    total_amount: &str,
    changes: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> = [
        ("app_id", APP_ID),
        ("seller_id", SELLER_ID),
        ("trade_no", trade_no),
        ("out_trade_no", out_trade_no),
        ("total_amount", total_amount),
        ("trade_status", "TRADE_SUCCESS"),
        ("notify_id", "n-1"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    for (name, value) in changes {
        if value.is_empty() {
            fields.remove(*name);
        } else {
            fields.insert((*name).to_owned(), (*value).to_owned());
        }
    }
    sign(private, &mut fields);
    fields
}

/// Status, body, and the problem's code when it is one.
pub(crate) async fn notify(app: &TestApp, fields: &BTreeMap<String, String>) -> (u16, String, String) {
    let response = app
        .client
        .post(format!("{}/v1/payments/notify/alipay", app.address))
        .form(fields)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    assert_documented("post", "/v1/payments/notify/alipay", status);
    let text = response.text().await.unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|problem| problem["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, text, code)
}

/// The §2.5 world, then the server restarted with R2's channel `alipay`: a channel names the
/// book that owns it, which exists only once the world is built.
pub(crate) async fn world_with_r2s_channel() -> (TestApp, World, RsaPrivateKey) {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let data_dir = app.stop().await;
    // 1024 bits keeps the test quick; the verification code is the same for any size.
    let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let channel = PaymentChannel {
        public_key_pem: RsaPublicKey::from(&private).to_public_key_pem(LineEnding::LF).unwrap(),
        book: Some(world.r2.parse().unwrap()),
        app_id: APP_ID.into(),
        seller_id: SELLER_ID.into(),
    };
    let options = Options {
        data_dir: Some(data_dir),
        payment_channels: [("alipay".to_owned(), channel)].into_iter().collect(),
        ..Options::default()
    };
    (spawn_app(options).await, world, private)
}

/// An online recharge requested by `token` for `customer`: its id.
pub(crate) async fn online_recharge(app: &TestApp, token: &str, customer: &str, amount: &str) -> String {
    let body = json!({ "customer_id": customer, "amount": amount, "method": "online", "reference": "checkout 1" });
    let awaiting = app.post("/v1/recharges", token, body).await.expect(201);
    assert_eq!((awaiting["status"].as_str(), awaiting["amount"].as_str()), (Some("awaiting_payment"), Some(amount)));
    awaiting["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_online_recharge_requested_first_is_booked_once_by_its_verified_notification() {
    let (app, world, private) = world_with_r2s_channel().await;
    let recharge = online_recharge(&app, &world.customer_token, &world.customer, "950.00").await;
    let path = format!("/v1/recharges/{recharge}");
    let awaiting = app.get(&path, &world.customer_token).await.expect(200);
    assert_eq!(
        (awaiting["status"].as_str(), awaiting["channel"].as_str(), awaiting["booked_position"].as_u64()),
        (Some("awaiting_payment"), Some("online"), None)
    );
    let balance_path = format!("/v1/customers/{}/balance", world.customer);
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!((balance["available"].as_str(), balance["pending"].as_str()), (Some("0.00"), Some("0.00")));

    let fields = notification(&private, "2026011522001400001", &recharge, "950.00", &[]);
    let before = app.log_position();
    let mut forged = fields.clone();
    forged.insert("total_amount".into(), "9500.00".into());
    let (status, body, _) = notify(&app, &forged).await;
    assert_eq!(status, 400, "{body}");
    let mut unsigned = fields.clone();
    unsigned.remove("sign");
    assert_eq!(notify(&app, &unsigned).await.0, 400);
    // Signed by the channel's key, yet not this merchant's, or without a status: refused.
    for (changes, detail) in [
        (("app_id", "2021000000000002"), "payment notification refused: app_id is not this channel's"),
        (("seller_id", "2088000000000002"), "payment notification refused: seller_id is not this channel's"),
        (("trade_status", ""), "payment notification refused: missing field trade_status"),
        (("out_trade_no", ""), "payment notification refused: missing field out_trade_no"),
    ] {
        let refused = notification(&private, "2026011522001400001", &recharge, "950.00", &[changes]);
        let (status, body, code) = notify(&app, &refused).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{body}");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["detail"], detail);
    }
    // A trade that is not paid yet is acknowledged and books nothing.
    let waiting =
        notification(&private, "2026011522001400001", &recharge, "950.00", &[("trade_status", "WAIT_BUYER_PAY")]);
    assert_eq!(notify(&app, &waiting).await.0, 200);
    assert_eq!(app.log_position(), before, "a refused notification booked something");

    assert_eq!(notify(&app, &fields).await.0, 200);
    let booked = app.log_position();
    assert_eq!(booked, before + 1);
    for _ in 0..3 {
        let (status, body, _) = notify(&app, &fields).await;
        assert_eq!((status, body.as_str()), (200, "success"));
    }
    assert_eq!(app.log_position(), booked, "a resent notification booked again");
    let confirmed = app.get(&path, &world.customer_token).await.expect(200);
    assert_eq!(
        (confirmed["status"].as_str(), confirmed["trade_number"].as_str(), confirmed["booked_position"].as_u64()),
        (Some("confirmed"), Some("2026011522001400001"), Some(booked))
    );
    let balance = app.get(&balance_path, &world.customer_token).await.expect(200);
    assert_eq!(balance["available"], "950.00");
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "1012"), ("950.00".into(), "0.00".into()));
    assert_eq!(account(&r2, "2203"), ("0.00".into(), "950.00".into()));
    app.stop().await;
}

#[tokio::test]
async fn a_payment_nothing_of_the_channels_book_awaits_is_refused_and_books_nothing() {
    let (app, world, private) = world_with_r2s_channel().await;
    let recharge = online_recharge(&app, &world.r2_sales, &world.customer, "100.00").await;
    // R1's own customer, with an online recharge R1 awaits: R2's channel does not pay it.
    let r1_customer = open_org(&app, &world.r1_admin, "customer", "R1's customer").await;
    let r1_recharge = online_recharge(&app, &world.r1_finance, &r1_customer, "100.00").await;
    let before = app.log_position();
    let unknown = uuid::Uuid::now_v7().to_string();
    for (out_trade_no, amount, detail) in [
        (unknown.as_str(), "100.00", format!("no online recharge or order of this book awaits payment as {unknown}")),
        ("KB-1", "100.00", "out_trade_no \"KB-1\" names no online recharge or order".to_owned()),
        (recharge.as_str(), "99.99", format!("the online recharge {recharge} awaits 100.00, not 99.99")),
        (recharge.as_str(), "100.01", format!("the online recharge {recharge} awaits 100.00, not 100.01")),
        (
            r1_recharge.as_str(),
            "100.00",
            format!("no online recharge or order of this book awaits payment as {r1_recharge}"),
        ),
    ] {
        let (status, body, code) = notify(&app, &notification(&private, "T-1", out_trade_no, amount, &[])).await;
        assert_eq!((status, code.as_str()), (422, "unexpected_payment"), "{body}");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["detail"].as_str(), Some(format!("unexpected payment: {detail}").as_str()));
    }
    assert_eq!(app.log_position(), before, "an unexpected payment booked something");

    assert_eq!(notify(&app, &notification(&private, "T-1", &recharge, "100.00", &[])).await.0, 200);
    let (status, body, code) = notify(&app, &notification(&private, "T-2", &recharge, "100.00", &[])).await;
    assert_eq!((status, code.as_str()), (422, "unexpected_payment"), "{body}");
    assert!(body.contains(&format!("the online recharge {recharge} is already paid")), "{body}");
    assert_eq!(app.log_position(), before + 1);
    let balance = app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await;
    assert_eq!(balance.expect(200)["available"], "100.00");
    let r1_balance = app.get(&format!("/v1/customers/{r1_customer}/balance"), &world.r1_finance).await;
    assert_eq!(r1_balance.expect(200)["available"], "0.00");
    app.stop().await;
}

#[tokio::test]
async fn an_order_placed_first_is_paid_by_the_channel_for_its_total() {
    let (app, world, private) = world_with_r2s_channel().await;
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let order = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    assert_eq!(order["total"], "950.00");
    let order = order["id"].as_str().unwrap().to_owned();
    let before = app.log_position();
    let (status, body, code) = notify(&app, &notification(&private, "T-1", &order, "950.01", &[])).await;
    assert_eq!((status, code.as_str()), (422, "unexpected_payment"), "{body}");
    assert!(body.contains(&format!("the order {order} costs 950.00, not 950.01")), "{body}");
    assert_eq!(app.log_position(), before);

    assert_eq!(notify(&app, &notification(&private, "T-1", &order, "950.00", &[])).await.0, 200);
    assert_eq!(app.log_position(), before + 2, "the online recharge and the order's payment");
    let paid = app.get(&format!("/v1/orders/{order}"), &world.customer_token).await.expect(200);
    assert_eq!((paid["status"].as_str(), paid["paid"].as_str()), (Some("paid"), Some("950.00")));
    let balance = app.get(&format!("/v1/customers/{}/balance", world.customer), &world.customer_token).await;
    assert_eq!(balance.expect(200)["available"], "0.00", "through the wallet and out again");
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "1012"), ("950.00".into(), "0.00".into()));
    assert_eq!(account(&r2, "2203"), ("950.00".into(), "950.00".into()));
    let (status, body, code) = notify(&app, &notification(&private, "T-2", &order, "950.00", &[])).await;
    assert_eq!((status, code.as_str()), (422, "unexpected_payment"), "{body}");
    assert_eq!(app.log_position(), before + 2);
    app.stop().await;
}
