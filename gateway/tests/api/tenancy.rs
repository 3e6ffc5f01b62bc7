//! The tenancy matrix, generated from `schemas/openapi.json`: every operation that needs a
//! token, called by a foreign reseller's admin (R3, a sibling of R1), a foreign customer (D, of
//! R3), and each built-in role of the victim's own org whose permissions lack the operation's
//! (`x-permissions`, from the access table), gets 403 or 404 (a list answers 200 with the
//! caller's own tenancy), never another tenant's data, and the log does not
//! move. Each operation needs a sample request below: a new endpoint fails this test until it
//! has one, so it cannot be missed.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A request per operation (`METHOD /template`): a concrete path and a body.
type Samples = BTreeMap<String, (String, Value)>;

/// The victim's things the samples name.
struct Victim {
    /// A product R2 sells from a supplier of its own: the platform's catalogue is every
    /// reseller's to read, R2's own is not.
    product: String,
    order: String,
    approval: String,
    recharge: String,
    coupon: String,
    withdrawal: String,
    user: String,
    user_token: String,
    promotion: String,
    invite_code: String,
    batch: String,
    serial_code: String,
    settlement: String,
    usage: String,
    renewal: String,
    reconciliation: String,
}

/// A bank statement of one row, read through a column mapping.
fn statement(dry_run: bool) -> Value {
    json!({
        "account": "1002", "format": "csv", "mapping": { "date": "date", "amount": "amount" },
        "tolerance": { "amount": "0.00", "days": 0 }, "dry_run": dry_run,
        "statement": "date,amount\n2026-01-15,2000.00\n",
    })
}

async fn victim(app: &TestApp, world: &World) -> Victim {
    let (c, r1, r2) = (&world.customer, &world.r1, &world.r2);
    recharge(app, world, "2000.00").await;
    let order = buy(app, world).await;
    let body = json!({ "customer_id": c, "amount": "5.00", "method": "transfer", "reference": "wire" });
    let pending = app.post("/v1/recharges", &world.r2_sales, body).await.expect(202);
    let coupon = json!({ "customer_id": c, "amount": "20.00", "reason": "welcome" });
    let coupon = app.post("/v1/coupons", &world.r2_sales, coupon).await.expect(201);
    let withdrawal = json!({ "customer_id": c, "amount": "30.00", "route": "offline" });
    let withdrawal = app.post("/v1/withdrawals", &world.r2_finance, withdrawal).await.expect(202);
    let user = json!({ "name": "王芳", "roles": ["finance"] });
    let user = app.post(&format!("/v1/orgs/{r2}/users"), &world.r2_admin, user).await.expect(201);
    let user = user["id"].as_str().unwrap().to_owned();
    let user_token = app.post(&format!("/v1/users/{user}/tokens"), &world.r2_admin, json!({})).await.expect(201);
    let promotion = json!({ "name": "Spring", "rates": { world.product.as_str(): "0.97" }, "valid_from": "2026-01-01", "valid_to": "2026-03-31" });
    let promotion = app.post(&format!("/v1/books/{r2}/promotions"), &world.r2_sales, promotion).await.expect(201);
    let invite = json!({ "promotion_id": promotion["id"], "salesperson": "alice" });
    let invite = app.post(&format!("/v1/books/{r2}/invite-codes"), &world.r2_sales, invite).await.expect(201);
    // Serial codes the platform issues to R1 as a distributor.
    let (operations, _, _) = serial_business(app, world).await;
    let batch = json!({ "distributor_id": r1, "days": 30, "count": 1 });
    let batch = app.post("/v1/serial-codes/batches", &operations, batch).await.expect(201);
    let fulfil = json!({ "note": "done", "subscription_end": "2026-02-15" });
    app.post(&format!("/v1/orders/{order}/fulfil"), &world.r2_admin, fulfil).await.expect(200);
    let renewal = json!({ "periods": 1, "new_end": "2026-03-15" });
    let renewal = app.post(&format!("/v1/orders/{order}/renew"), &world.r2_admin, renewal).await.expect(201);
    let usage = json!({ "customer_id": c, "product_id": world.product, "quantity": "0.05", "period_from": "2026-01-01", "period_to": "2026-01-14" });
    let usage = app.post("/v1/usage", &world.r2_admin, usage).await.expect(201);
    let supplier = open_org(app, &world.r2_admin, "supplier", "R2's supplier").await;
    let product = json!({ "name": "R2 private", "supplier_id": supplier, "list_price": "10.00", "unit": "month" });
    let product = app.post("/v1/products", &world.r2_admin, product).await.expect(201);
    let reconciliations = format!("/v1/books/{r2}/reconciliations");
    let reconciliation = app.post(&reconciliations, &world.r2_finance, statement(false)).await.expect(201);
    app.clock.set(date("2026-02-02"));
    let statement = json!({ "org_id": r1, "counterparty_id": r2, "from": "2026-01-01", "to": "2026-01-31" });
    let settlement = app.post("/v1/settlements", &world.r1_finance, statement).await.expect(201);
    let text =
        |value: &Value, field: &str| value[field].as_str().unwrap_or_else(|| panic!("{field} in {value}")).to_owned();
    Victim {
        product: text(&product, "id"),
        order,
        approval: text(&pending, "approval_id"),
        recharge: text(&pending, "id"),
        coupon: text(&coupon, "id"),
        withdrawal: text(&withdrawal, "id"),
        user,
        user_token: text(&user_token, "id"),
        promotion: text(&promotion, "id"),
        invite_code: text(&invite, "code"),
        batch: text(&batch, "batch_id"),
        serial_code: batch["codes"][0].as_str().unwrap().to_owned(),
        settlement: text(&settlement, "id"),
        usage: text(&usage, "id"),
        renewal: text(&renewal, "id"),
        reconciliation: text(&reconciliation, "id"),
    }
}

fn samples(world: &World, v: &Victim) -> Samples {
    let (c, r1, r2, p, platform) = (&world.customer, &world.r1, &world.r2, &v.product, &world.platform);
    let (order, approval, user) = (&v.order, &v.approval, &v.user);
    let none = Value::Null;
    let rows: Vec<(&str, &str, String, Value)> = vec![
        // What these answer is the caller's own.
        ("GET", "/v1/me", "/v1/me".into(), none.clone()),
        ("GET", "/v1/permissions", "/v1/permissions".into(), none.clone()),
        ("GET", "/v1/orgs", format!("/v1/orgs?parent_id={r2}"), none.clone()),
        ("POST", "/v1/orgs", "/v1/orgs".into(), json!({ "kind": "customer", "name": "X", "parent_id": r2 })),
        ("GET", "/v1/orgs/{id}", format!("/v1/orgs/{c}"), none.clone()),
        ("PATCH", "/v1/orgs/{id}", format!("/v1/orgs/{c}"), json!({ "name": "Renamed" })),
        ("POST", "/v1/orgs/{id}/close", format!("/v1/orgs/{c}/close"), json!({})),
        ("POST", "/v1/orgs/{id}/reopen", format!("/v1/orgs/{c}/reopen"), json!({})),
        ("PUT", "/v1/orgs/{id}/sale-mode", format!("/v1/orgs/{r2}/sale-mode"), json!({ "mode": "discount" })),
        ("GET", "/v1/customers", format!("/v1/customers?reseller_id={r2}"), none.clone()),
        ("GET", "/v1/resellers", format!("/v1/resellers?parent_id={r1}"), none.clone()),
        ("GET", "/v1/suppliers", format!("/v1/suppliers?parent_id={r2}"), none.clone()),
        (
            "PUT",
            "/v1/suppliers/{id}/terms",
            format!("/v1/suppliers/{}/terms", world.supplier),
            json!({ "method": "postpaid", "cycle": "month", "currency": "CNY", "payment_days": 30 }),
        ),
        (
            "GET",
            "/v1/customers/{id}/statement",
            format!("/v1/customers/{c}/statement?from=2026-01-01&to=2026-01-31"),
            none.clone(),
        ),
        ("PUT", "/v1/orgs/{id}/tier", format!("/v1/orgs/{r1}/tier"), json!({ "tier": "platinum" })),
        ("POST", "/v1/orgs/{id}/tokens", format!("/v1/orgs/{r2}/tokens"), json!({ "roles": ["admin"] })),
        ("POST", "/v1/orgs/{id}/users", format!("/v1/orgs/{r2}/users"), json!({ "name": "X", "roles": ["admin"] })),
        ("GET", "/v1/orgs/{id}/users", format!("/v1/orgs/{r2}/users"), none.clone()),
        ("GET", "/v1/orgs/{id}/roles", format!("/v1/orgs/{r2}/roles"), none.clone()),
        (
            "PUT",
            "/v1/orgs/{id}/roles/{name}",
            format!("/v1/orgs/{r2}/roles/auditor"),
            json!({ "permissions": ["ledger.read"] }),
        ),
        ("PUT", "/v1/customers/{id}/owner", format!("/v1/customers/{c}/owner"), json!({ "user_id": user })),
        ("POST", "/v1/customers/{id}/transfer", format!("/v1/customers/{c}/transfer"), json!({ "to": r2 })),
        ("GET", "/v1/customers/{id}/ownership", format!("/v1/customers/{c}/ownership"), none.clone()),
        (
            "POST",
            "/v1/orgs/{id}/customers/reassign",
            format!("/v1/orgs/{r2}/customers/reassign"),
            json!({ "from_user_id": user, "to_user_id": user }),
        ),
        ("GET", "/v1/users/{id}", format!("/v1/users/{user}"), none.clone()),
        ("POST", "/v1/users/{id}/tokens", format!("/v1/users/{user}/tokens"), json!({})),
        ("GET", "/v1/users/{id}/tokens", format!("/v1/users/{user}/tokens"), none.clone()),
        ("GET", "/v1/tokens/{id}", format!("/v1/tokens/{}", v.user_token), none.clone()),
        ("POST", "/v1/tokens/{id}/revoke", format!("/v1/tokens/{}/revoke", v.user_token), json!({})),
        (
            "POST",
            "/v1/products",
            "/v1/products".into(),
            json!({ "name": "X", "supplier_id": world.supplier, "list_price": "1.00", "unit": "month" }),
        ),
        ("GET", "/v1/products", "/v1/products".into(), none.clone()),
        ("GET", "/v1/products/{id}", format!("/v1/products/{p}"), none.clone()),
        ("PATCH", "/v1/products/{id}", format!("/v1/products/{p}"), json!({ "on_shelf": false })),
        (
            "POST",
            "/v1/products/{id}/list-prices",
            format!("/v1/products/{p}/list-prices"),
            json!({ "list_price": "12.00", "effective_from": "2026-03-01" }),
        ),
        ("GET", "/v1/books/{org_id}/rates", format!("/v1/books/{r2}/rates"), none.clone()),
        ("GET", "/v1/books/{org_id}/exchange-rates", format!("/v1/books/{r2}/exchange-rates"), none.clone()),
        (
            "PUT",
            "/v1/books/{org_id}/exchange-rates",
            format!("/v1/books/{r2}/exchange-rates"),
            json!({ "currency": "USD", "rate": "7.10", "source": "bank", "effective_from": "2026-01-01" }),
        ),
        ("GET", "/v1/books/{org_id}/posting-rules", format!("/v1/books/{r2}/posting-rules"), none.clone()),
        (
            "PUT",
            "/v1/posting-rules/{kind}",
            "/v1/posting-rules/bank_fee".into(),
            json!({ "role": "seller", "lines": [
                { "account": "6601", "side": "debit", "amount": "fee" },
                { "account": "1002", "side": "credit", "amount": "fee" }
            ] }),
        ),
        (
            "POST",
            "/v1/books/{org_id}/entries",
            format!("/v1/books/{r2}/entries"),
            json!({ "date": "2026-02-02", "memo": "fees", "lines": [
                { "account": "6601", "debit": "1.00" }, { "account": "1002", "credit": "1.00" }
            ] }),
        ),
        (
            "PUT",
            "/v1/products/{id}/supplier-rate",
            format!("/v1/products/{p}/supplier-rate"),
            json!({ "rate": "0.10" }),
        ),
        (
            "PUT",
            "/v1/books/{org_id}/rates",
            format!("/v1/books/{r2}/rates"),
            json!({ "product_id": p, "scope": "public", "rate": "0.99" }),
        ),
        (
            "PUT",
            "/v1/books/{org_id}/prices",
            format!("/v1/books/{r2}/prices"),
            json!({ "product_id": p, "scope": "public", "kind": "fixed", "unit_price": "990.00" }),
        ),
        (
            "PUT",
            "/v1/promotions/{id}/terms",
            format!("/v1/promotions/{}", v.promotion) + "/terms",
            json!({ "stacking": "stackable" }),
        ),
        (
            "POST",
            "/v1/books/{org_id}/promotions",
            format!("/v1/books/{r2}/promotions"),
            json!({ "name": "P", "rates": { p.as_str(): "0.99" }, "valid_from": "2026-01-01", "valid_to": "2026-12-31" }),
        ),
        ("GET", "/v1/books/{org_id}/promotions", format!("/v1/books/{r2}/promotions"), none.clone()),
        ("GET", "/v1/promotions/{id}", format!("/v1/promotions/{}", v.promotion), none.clone()),
        ("POST", "/v1/books/{org_id}/invite-codes", format!("/v1/books/{r2}/invite-codes"), json!({})),
        ("GET", "/v1/books/{org_id}/invite-codes", format!("/v1/books/{r2}/invite-codes"), none.clone()),
        (
            "GET",
            "/v1/books/{org_id}/invite-codes/{code}",
            format!("/v1/books/{r2}/invite-codes/{}", v.invite_code),
            none.clone(),
        ),
        (
            "POST",
            "/v1/books/{org_id}/accounts",
            format!("/v1/books/{r2}/accounts"),
            json!({ "code": "6602", "name": "X", "account_type": "expense" }),
        ),
        (
            "POST",
            "/v1/recharges",
            "/v1/recharges".into(),
            json!({ "customer_id": c, "amount": "1.00", "method": "offline", "reference": "r" }),
        ),
        ("GET", "/v1/recharges/{id}", format!("/v1/recharges/{}", v.recharge), none.clone()),
        (
            "POST",
            "/v1/recharges/{id}/reversal",
            format!("/v1/recharges/{}/reversal", v.recharge),
            json!({ "reason": "r" }),
        ),
        ("POST", "/v1/coupons", "/v1/coupons".into(), json!({ "customer_id": c, "amount": "1.00", "reason": "r" })),
        ("GET", "/v1/coupons/{id}", format!("/v1/coupons/{}", v.coupon), none.clone()),
        ("POST", "/v1/customers/{id}/vouchers/expire", format!("/v1/customers/{c}/vouchers/expire"), json!({})),
        (
            "POST",
            "/v1/withdrawals",
            "/v1/withdrawals".into(),
            json!({ "customer_id": c, "amount": "1.00", "route": "offline" }),
        ),
        ("GET", "/v1/withdrawals/{id}", format!("/v1/withdrawals/{}", v.withdrawal), none.clone()),
        ("GET", "/v1/approvals", "/v1/approvals?status=pending".into(), none.clone()),
        ("GET", "/v1/approvals/{id}", format!("/v1/approvals/{approval}"), none.clone()),
        ("POST", "/v1/approvals/{id}/approve", format!("/v1/approvals/{approval}/approve"), json!({})),
        ("POST", "/v1/approvals/{id}/reject", format!("/v1/approvals/{approval}/reject"), json!({})),
        ("GET", "/v1/customers/{id}/balance", format!("/v1/customers/{c}/balance"), none.clone()),
        ("GET", "/v1/customers/{id}/invoiceable", format!("/v1/customers/{c}/invoiceable"), none.clone()),
        (
            "POST",
            "/v1/orders",
            "/v1/orders".into(),
            json!({ "customer_id": c, "items": [{ "product_id": p, "quantity": 1, "periods": 1 }] }),
        ),
        ("GET", "/v1/orders", format!("/v1/orders?customer_id={c}"), none.clone()),
        ("GET", "/v1/orders/{id}", format!("/v1/orders/{order}"), none.clone()),
        ("POST", "/v1/orders/{id}/pay", format!("/v1/orders/{order}/pay"), json!({})),
        ("POST", "/v1/orders/{id}/fulfil", format!("/v1/orders/{order}/fulfil"), json!({})),
        ("POST", "/v1/orders/{id}/cancel", format!("/v1/orders/{order}/cancel"), json!({})),
        (
            "POST",
            "/v1/orders/{id}/refund",
            format!("/v1/orders/{order}/refund"),
            json!({ "amount": "1.00", "reason": "r" }),
        ),
        (
            "POST",
            "/v1/orders/{id}/renew",
            format!("/v1/orders/{order}/renew"),
            json!({ "periods": 1, "new_end": "2026-03-01" }),
        ),
        (
            "POST",
            "/v1/usage",
            "/v1/usage".into(),
            json!({ "customer_id": c, "product_id": p, "quantity": "1", "period_from": "2026-01-01", "period_to": "2026-01-02" }),
        ),
        ("GET", "/v1/usage/{id}", format!("/v1/usage/{}", v.usage), none.clone()),
        ("GET", "/v1/renewals/{id}", format!("/v1/renewals/{}", v.renewal), none.clone()),
        (
            "PUT",
            "/v1/serial-codes/packages/{days}",
            "/v1/serial-codes/packages/90".into(),
            json!({ "list_price": "1.00" }),
        ),
        ("PUT", "/v1/serial-codes/tiers/{tier}", "/v1/serial-codes/tiers/gold".into(), json!({ "rate": "0.10" })),
        (
            "POST",
            "/v1/serial-codes/batches",
            "/v1/serial-codes/batches".into(),
            json!({ "distributor_id": r1, "days": 30, "count": 1 }),
        ),
        ("GET", "/v1/serial-codes/batches/{id}", format!("/v1/serial-codes/batches/{}", v.batch), none.clone()),
        (
            "PUT",
            "/v1/serial-codes/batches/{id}/expiry",
            format!("/v1/serial-codes/batches/{}/expiry", v.batch),
            json!({ "expires_on": "2026-12-31" }),
        ),
        ("GET", "/v1/serial-codes", format!("/v1/serial-codes?distributor_id={r1}"), none.clone()),
        ("GET", "/v1/serial-codes/{code}", format!("/v1/serial-codes/{}", v.serial_code), none.clone()),
        (
            "POST",
            "/v1/serial-codes/{code}/activate",
            format!("/v1/serial-codes/{}/activate", v.serial_code),
            json!({ "customer_id": c }),
        ),
        ("POST", "/v1/invoices", "/v1/invoices".into(), json!({ "customer_id": c, "amount": "1.00" })),
        ("GET", "/v1/invoices", format!("/v1/invoices?customer_id={c}"), none.clone()),
        ("GET", "/v1/invoices/{id}", format!("/v1/invoices/{approval}"), none.clone()),
        ("POST", "/v1/invoices/{id}/issue", format!("/v1/invoices/{approval}/issue"), json!({})),
        ("POST", "/v1/invoices/{id}/deliver", format!("/v1/invoices/{approval}/deliver"), json!({})),
        ("POST", "/v1/invoices/{id}/void", format!("/v1/invoices/{approval}/void"), json!({ "reason": "x" })),
        (
            "POST",
            "/v1/invoices/{id}/red-letter",
            format!("/v1/invoices/{approval}/red-letter"),
            json!({ "amount": "1.00", "reason": "x" }),
        ),
        (
            "POST",
            "/v1/settlements",
            "/v1/settlements".into(),
            json!({ "org_id": r1, "counterparty_id": r2, "from": "2026-01-01", "to": "2026-01-10" }),
        ),
        ("GET", "/v1/settlements/{id}", format!("/v1/settlements/{}", v.settlement), none.clone()),
        ("GET", "/v1/settlements/{id}/lines", format!("/v1/settlements/{}/lines", v.settlement), none.clone()),
        ("POST", "/v1/settlements/{id}/pay", format!("/v1/settlements/{}/pay", v.settlement), json!({})),
        ("GET", "/v1/books/{org_id}/settlements", format!("/v1/books/{r1}/settlements"), none.clone()),
        ("POST", "/v1/books/{org_id}/close", format!("/v1/books/{r2}/close"), json!({ "through": "2026-01-10" })),
        (
            "POST",
            "/v1/books/{org_id}/reopen",
            format!("/v1/books/{r2}/reopen"),
            json!({ "through": "2026-01-10", "reason": "r" }),
        ),
        ("GET", "/v1/books/{org_id}/certificates", format!("/v1/books/{r2}/certificates"), none.clone()),
        ("POST", "/v1/books/{org_id}/reconciliations", format!("/v1/books/{r2}/reconciliations"), statement(true)),
        ("GET", "/v1/reconciliations/{id}", format!("/v1/reconciliations/{}", v.reconciliation), none.clone()),
        (
            "PUT",
            "/v1/customers/{id}/low-balance-threshold",
            format!("/v1/customers/{c}/low-balance-threshold"),
            json!({ "threshold": "1.00" }),
        ),
        ("GET", "/v1/books/{org_id}/trial-balance", format!("/v1/books/{r2}/trial-balance"), none.clone()),
        ("GET", "/v1/books/{org_id}/ledger", format!("/v1/books/{r2}/ledger"), none.clone()),
        ("GET", "/v1/books/{org_id}/balances", format!("/v1/books/{r2}/balances"), none.clone()),
        ("GET", "/v1/events/{position}", "/v1/events/30".into(), none.clone()),
        ("GET", "/v1/books/{org_id}/export", format!("/v1/books/{r2}/export?format=csv"), none.clone()),
        ("GET", "/v1/books/{org_id}/verify", format!("/v1/books/{r2}/verify"), none.clone()),
        ("GET", "/v1/books/{org_id}/kpi", format!("/v1/books/{r2}/kpi"), none.clone()),
        ("GET", "/v1/books/{org_id}/kpi/serial-codes", format!("/v1/books/{platform}/kpi/serial-codes"), none.clone()),
        ("GET", "/v1/books/{org_id}/operations", format!("/v1/books/{r2}/operations"), none.clone()),
        (
            "PUT",
            "/v1/books/{org_id}/approval-policy",
            format!("/v1/books/{r2}/approval-policy"),
            json!({ "rules": [{ "action": "coupon", "levels": [["finance"]] }] }),
        ),
        ("GET", "/v1/books/{org_id}/approval-policy", format!("/v1/books/{r2}/approval-policy"), none.clone()),
        (
            "PUT",
            "/v1/books/{org_id}/approval-webhook",
            format!("/v1/books/{r2}/approval-webhook"),
            json!({ "url": "https://oapi.dingtalk.com/robot/send?access_token=x", "secret": "SEC0123456789abcdef" }),
        ),
        ("GET", "/v1/books/{org_id}/approval-webhook", format!("/v1/books/{r2}/approval-webhook"), none.clone()),
        // Credit, the book's terms, settlement cycles, auto-renewals, supplier bills (issue 12).
        (
            "PUT",
            "/v1/customers/{id}/credit-limit",
            format!("/v1/customers/{c}/credit-limit"),
            json!({ "limit": "100.00" }),
        ),
        ("GET", "/v1/books/{org_id}/terms", format!("/v1/books/{r2}/terms"), none.clone()),
        ("PUT", "/v1/books/{org_id}/terms", format!("/v1/books/{r2}/terms"), json!({ "arrears_due_days": 10 })),
        ("GET", "/v1/books/{org_id}/settlement-cycles", format!("/v1/books/{r1}/settlement-cycles"), none.clone()),
        (
            "GET",
            "/v1/books/{org_id}/settlement-cycles/{counterparty_id}",
            format!("/v1/books/{r1}/settlement-cycles/{r2}"),
            none.clone(),
        ),
        (
            "PUT",
            "/v1/books/{org_id}/settlement-cycles/{counterparty_id}",
            format!("/v1/books/{r1}/settlement-cycles/{r2}"),
            json!({ "every": "month", "day": 1 }),
        ),
        (
            "DELETE",
            "/v1/books/{org_id}/settlement-cycles/{counterparty_id}",
            format!("/v1/books/{r1}/settlement-cycles/{r2}"),
            none.clone(),
        ),
        ("GET", "/v1/orders/{id}/auto-renewal", format!("/v1/orders/{order}/auto-renewal"), none.clone()),
        ("PUT", "/v1/orders/{id}/auto-renewal", format!("/v1/orders/{order}/auto-renewal"), json!({ "periods": 1 })),
        (
            "POST",
            "/v1/books/{org_id}/supplier-bills",
            format!("/v1/books/{r2}/supplier-bills?supplier_id={}&from=2026-01-01&to=2026-01-31", world.supplier),
            json!("date,amount\n"),
        ),
    ];
    rows.into_iter().map(|(method, template, path, body)| (format!("{method} {template}"), (path, body))).collect()
}

/// Every operation of the document that needs a token, with the permissions it needs.
fn secured_operations() -> BTreeMap<String, Vec<String>> {
    let document: Value =
        serde_json::from_str(include_str!("../../../schemas/openapi.json")).expect("the committed document");
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("an item") {
            if operation.get("security").is_none() {
                continue;
            }
            let permissions = operation["x-permissions"].as_array().unwrap_or_else(|| panic!("{method} {path}"));
            let permissions = permissions.iter().map(|name| name.as_str().unwrap().to_owned()).collect();
            operations.insert(format!("{} {path}", method.to_ascii_uppercase()), permissions);
        }
    }
    operations
}

#[tokio::test]
async fn other_tenants_and_roles_without_the_permission_get_403_or_404_on_every_operation() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let victim = victim(&app, &world).await;
    let samples = samples(&world, &victim);
    let operations = secured_operations();
    // The matrix is the document's: every secured operation has a sample, and no sample is stale.
    let documented: BTreeSet<&String> = operations.keys().collect();
    let sampled: BTreeSet<&String> = samples.keys().collect();
    assert_eq!(
        documented.difference(&sampled).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "operations without a sample"
    );
    assert_eq!(sampled.difference(&documented).collect::<Vec<_>>(), Vec::<&&String>::new(), "stale samples");

    // The callers: outsiders, and the victim's own staff and customer by role.
    let r3 = open_org(&app, &world.admin, "reseller", "R3").await;
    let r3_admin = token(&app, &world.admin, &r3, &["admin"]).await;
    let customer_d = open_org(&app, &r3_admin, "customer", "Customer D").await;
    let d_token = token(&app, &r3_admin, &customer_d, &["customer"]).await;
    let r2_operations = token(&app, &world.r2_admin, &world.r2, &["operations"]).await;
    let catalogue = app.get("/v1/permissions", &world.customer_token).await.expect(200);
    let holders: BTreeMap<String, Vec<String>> = catalogue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let roles = item["default_roles"].as_array().unwrap().iter().map(|role| role.as_str().unwrap().to_owned());
            (item["name"].as_str().unwrap().to_owned(), roles.collect())
        })
        .collect();
    let by_role = [
        ("finance", world.r2_finance.clone()),
        ("sales", world.r2_sales.clone()),
        ("operations", r2_operations),
        ("customer", world.customer_token.clone()),
    ];

    let (c, order, user) = (world.customer.as_str(), victim.order.as_str(), victim.user.as_str());
    let secrets = [
        c,
        order,
        user,
        victim.product.as_str(),
        // (A coupon's id is its position: too short to look for in a text.)
        victim.withdrawal.as_str(),
        victim.recharge.as_str(),
        victim.promotion.as_str(),
        victim.serial_code.as_str(),
        victim.settlement.as_str(),
        victim.usage.as_str(),
        victim.renewal.as_str(),
        victim.reconciliation.as_str(),
        "王芳",
        "R2 private",
        "950.00",
    ];
    for secret in secrets {
        assert!(secret.len() >= 6, "a secret too short to look for in a text: {secret:?}");
    }
    let before = app.log_position();
    let mut calls = 0;
    for (operation, permissions) in &operations {
        if ["GET /v1/me", "GET /v1/permissions"].contains(&operation.as_str()) {
            continue; // Answers the caller's own.
        }
        let (method, _) = operation.split_once(' ').unwrap();
        let (path, body) = &samples[operation];
        let mut callers: Vec<(String, &str)> =
            vec![("R3's admin".into(), r3_admin.as_str()), ("R3's customer".into(), d_token.as_str())];
        // An operation the ledger alone judges (no x-permissions: an approval's deciders are its
        // policy's) is called by the outsiders only.
        for (role, token) in by_role.iter().filter(|_| !permissions.is_empty()) {
            let allowed = permissions.iter().any(|permission| holders[permission].iter().any(|holder| holder == role));
            if !allowed {
                callers.push((format!("R2's {role} (lacks {})", permissions.join("|")), token.as_str()));
            }
        }
        for (who, caller) in callers {
            let body = (!body.is_null()).then_some(body);
            let answer = app.call(method.parse::<Method>().unwrap(), path, Some(caller), None, body).await;
            calls += 1;
            let status = answer.status.as_u16();
            // A list answers the caller's own tenancy (the platform's catalogue is everyone's):
            // the secrets below show that none of the victim's things are in it.
            let own_list =
                status == 200 && method == "GET" && !operation.contains('{') && answer.body["items"].is_array();
            assert!(
                matches!(status, 403 | 404) || own_list,
                "{operation} ({path}) answered {status} to {who}: {}",
                answer.text
            );
            // A problem may echo what the caller sent; it must say nothing the caller did not.
            let sent = format!("{path} {}", body.map(Value::to_string).unwrap_or_default());
            for secret in secrets.iter().filter(|secret| !sent.contains(**secret)) {
                assert!(!answer.text.contains(secret), "{operation} leaked {secret} to {who}: {}", answer.text);
            }
        }
    }
    assert!(calls > 150, "the matrix made {calls} calls");
    assert_eq!(app.log_position(), before, "a caller without the rights changed the log");

    // No token at all: 401.
    let anonymous = app.call(Method::GET, format!("/v1/orders/{order}").as_str(), None, None, None).await;
    assert_eq!((anonymous.status.as_u16(), anonymous.code()), (401, "unauthorized"));
    app.stop().await;
}
