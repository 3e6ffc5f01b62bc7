//! (c) Generated bad input (wrong types, missing and unknown fields, huge numbers, three-digit
//! amounts, negatives, unknown ids, wrong roles) never gets a 5xx and never changes the log.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::*;

/// Text that is not a valid money amount.
fn bad_amount() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("1.234")),
        Just(json!("-5.00")),
        Just(json!("0")),
        Just(json!("1e30")),
        Just(json!("99999999999999999999999999.00")),
        Just(json!("12,50")),
        Just(json!("")),
        Just(json!(" ")),
        Just(json!(950)),
        Just(json!(9.5)),
        Just(json!(null)),
        Just(json!(["1.00"])),
        "[a-z]{1,8}".prop_map(Value::String),
        (1u64..u64::MAX).prop_map(|n| json!(format!("{n}.{n}"))),
    ]
}

/// A value of the wrong type for a string field.
fn wrong_type() -> impl Strategy<Value = Value> {
    prop_oneof![Just(json!(1)), Just(json!(true)), Just(json!({})), Just(json!([])), Just(json!(null))]
}

#[derive(Clone, Debug)]
enum Defect {
    Remove(usize),
    WrongType(usize, Value),
    BadAmount(Value),
    UnknownId(usize),
    UnknownField,
    WrongRole,
    NotJson,
}

fn defect() -> impl Strategy<Value = Defect> {
    prop_oneof![
        (0usize..8).prop_map(Defect::Remove),
        ((0usize..8), wrong_type()).prop_map(|(index, value)| Defect::WrongType(index, value)),
        bad_amount().prop_map(Defect::BadAmount),
        (0usize..8).prop_map(Defect::UnknownId),
        Just(Defect::UnknownField),
        Just(Defect::WrongRole),
        Just(Defect::NotJson),
    ]
}

/// Valid requests (path, body, the token allowed to send it, the amount field if any).
fn templates(world: &World) -> Vec<(String, Value, String, Option<&'static str>)> {
    vec![
        (
            "/v1/coupons".into(),
            json!({ "customer_id": world.customer, "amount": "1.00", "reason": "welcome" }),
            world.r2_sales.clone(),
            Some("amount"),
        ),
        (
            "/v1/recharges".into(),
            json!({ "customer_id": world.customer, "amount": "1.00", "method": "offline", "reference": "slip" }),
            world.r2_sales.clone(),
            Some("amount"),
        ),
        (
            "/v1/orders".into(),
            json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] }),
            world.customer_token.clone(),
            None,
        ),
        (
            "/v1/withdrawals".into(),
            json!({ "customer_id": world.customer, "amount": "1.00", "route": "original" }),
            world.r2_finance.clone(),
            Some("amount"),
        ),
        ("/v1/orgs".into(), json!({ "kind": "customer", "name": "New customer" }), world.r2_sales.clone(), None),
    ]
}

fn apply(defect: &Defect, body: &mut Value, amount_field: Option<&str>) -> bool {
    let object = body.as_object_mut().expect("templates are objects");
    let keys: Vec<String> = object.keys().cloned().collect();
    let pick = |index: usize| keys[index % keys.len()].clone();
    match defect {
        Defect::Remove(index) => {
            object.remove(&pick(*index));
        }
        Defect::WrongType(index, value) => {
            // Every top-level field of the templates is a string or an array: none takes these.
            object.insert(pick(*index), value.clone());
        }
        Defect::BadAmount(value) => match amount_field {
            Some(field) => {
                object.insert(field.to_owned(), value.clone());
            }
            None => return false,
        },
        Defect::UnknownId(index) => {
            let key = keys.iter().cycle().skip(*index).take(keys.len()).find(|key| key.ends_with("_id")).cloned();
            match key {
                Some(key) => {
                    object.insert(key, json!(uuid::Uuid::now_v7().to_string()));
                }
                None => return false,
            }
        }
        Defect::UnknownField => {
            object.insert("surprise".into(), json!("!"));
        }
        Defect::WrongRole | Defect::NotJson => {}
    }
    true
}

#[test]
fn bad_input_never_gets_a_5xx_nor_changes_the_log() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, world) = runtime.block_on(async {
        let app = spawn_app(Options::default()).await;
        let world = build_world(&app).await;
        (app, world)
    });
    let templates = templates(&world);
    let config = ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(template in 0usize..5, defect in defect())| {
        let (path, mut body, token, amount_field) = templates[template].clone();
        prop_assume!(apply(&defect, &mut body, amount_field));
        let token = if matches!(defect, Defect::WrongRole) {
            // A customer may not grant itself coupons; R1's finance may act for no customer of
            // R2 and may not open customers (sales do).
            if path == "/v1/coupons" { world.customer_token.clone() } else { world.r1_finance.clone() }
        } else {
            token
        };
        let before = app.log_position();
        let answer = runtime.block_on(async {
            if matches!(defect, Defect::NotJson) {
                let response = app
                    .client
                    .post(format!("{}{path}", app.address))
                    .bearer_auth(&token)
                    .header("Content-Type", "application/json")
                    .body("{\"customer_id\": ")
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            } else {
                let answer = app.post(&path, &token, body.clone()).await;
                (answer.status.as_u16(), answer.text)
            }
        });
        prop_assert!((400..500).contains(&answer.0), "{path} {body} answered {}: {}", answer.0, answer.1);
        prop_assert!(answer.1.contains("\"code\""), "not a problem document: {}", answer.1);
        prop_assert_eq!(app.log_position(), before, "{} {} changed the log", path, body);
    });
    runtime.block_on(app.stop());
}

/// A word outside a field's closed set (an enum) is a 422 `invalid_field` naming the field, in
/// a body, a query or a path; it changes nothing.
#[tokio::test]
async fn an_unknown_word_is_an_invalid_field_naming_the_field() {
    use reqwest::Method;

    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let (c, r2) = (&world.customer, &world.r2);
    let cases = [
        (
            Method::POST,
            "/v1/recharges".to_owned(),
            &world.r2_finance,
            Some(json!({ "customer_id": c, "amount": "1.00", "method": "cash", "reference": "r" })),
            "method",
            Some("method: must be online, offline or transfer"),
        ),
        (
            Method::POST,
            "/v1/withdrawals".to_owned(),
            &world.r2_finance,
            Some(json!({ "customer_id": c, "amount": "1.00", "route": "bank" })),
            "route",
            Some("route: must be original or offline"),
        ),
        (
            Method::POST,
            "/v1/orgs".to_owned(),
            &world.r2_admin,
            Some(json!({ "kind": "platform", "name": "X" })),
            "kind",
            Some("kind: must be reseller, customer or supplier"),
        ),
        (
            Method::POST,
            format!("/v1/orgs/{c}/tokens"),
            &world.r2_admin,
            Some(json!({ "roles": ["customer", "root"] })),
            "roles",
            None,
        ),
        (
            Method::PUT,
            format!("/v1/orgs/{r2}/tier"),
            &world.admin,
            Some(json!({ "tier": "bronze" })),
            "tier",
            Some("tier: must be gold, platinum or diamond"),
        ),
        (
            Method::PUT,
            "/v1/serial-codes/tiers/bronze".to_owned(),
            &world.admin,
            Some(json!({ "rate": "0.50" })),
            "tier",
            Some("tier: must be gold, platinum or diamond"),
        ),
        (
            Method::POST,
            format!("/v1/books/{r2}/accounts"),
            &world.r2_admin,
            Some(json!({ "code": "6602.01", "name": "Travel", "account_type": "expenses" })),
            "account_type",
            None,
        ),
        (
            Method::GET,
            format!("/v1/books/{r2}/export?format=pdf"),
            &world.r2_finance,
            None,
            "format",
            Some("format: must be csv or beancount"),
        ),
        (
            Method::GET,
            format!("/v1/books/{r2}/kpi?granularity=week"),
            &world.r2_finance,
            None,
            "granularity",
            Some("granularity: must be day or month"),
        ),
        (
            Method::GET,
            format!("/v1/books/{r2}/kpi?by=colour"),
            &world.r2_finance,
            None,
            "by",
            Some("by: must be product, customer, supplier, reseller or salesperson"),
        ),
    ];
    let before = app.log_position();
    for (method, path, token, body, field, detail) in cases {
        let answer = app.call(method, &path, Some(token), None, body.as_ref()).await;
        let problem = (answer.status.as_u16(), answer.code(), answer.body["field"].as_str());
        assert_eq!(problem, (422, "invalid_field", Some(field)), "{path}: {}", answer.text);
        if let Some(detail) = detail {
            assert_eq!(answer.body["detail"], detail, "{path}");
        }
    }
    // The same fields with a value that is not a string are bad bodies, as any other.
    let wrong_type = json!({ "customer_id": c, "amount": "1.00", "method": 1, "reference": "r" });
    let answer = app.post("/v1/recharges", &world.r2_finance, wrong_type).await;
    assert_eq!((answer.status.as_u16(), answer.code()), (400, "bad_request"), "{}", answer.text);
    let answer = app.post("/v1/orgs", &world.r2_admin, json!({ "kind": { "customer": null }, "name": "X" })).await;
    assert_eq!((answer.status.as_u16(), answer.code()), (400, "bad_request"), "{}", answer.text);
    assert_eq!(app.log_position(), before, "a refused word changed the log");
    app.stop().await;
}
