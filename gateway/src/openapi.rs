//! The OpenAPI 3.1 document, generated from the handlers' annotations and committed as
//! `schemas/openapi.json` (a test fails when they differ; `KBOSS_WRITE_OPENAPI=1` rewrites it),
//! and its route, `/openapi.json`. It lists the routes, so it is served from here rather than
//! from `routes::ops`: the routes do not depend on their own document.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::access::Access;
use crate::routes::*;
use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/openapi.json", get(openapi))
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "this document (OpenAPI 3.1)")))]
pub async fn openapi() -> Json<Value> {
    Json(document())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "KBOSS Ledger", version = "1", description = "The HTTP API of KBOSS Ledger (shared/API.md)."),
    paths(
        ops::healthz, ops::readyz, ops::metrics, openapi,
        orgs::me, orgs::create_org, orgs::list_orgs, orgs::issue_token,
        users::create_user, users::list_users, users::get_user, users::issue_user_token, users::list_tokens,
        users::get_token, users::revoke_token,
        roles::list_permissions, roles::list_roles, roles::define_role, roles::set_owner,
        ownership::transfer_customer, ownership::reassign_customers, ownership::customer_ownership,
        catalog::create_product, catalog::list_products, catalog::get_product, catalog::set_supplier_rate, catalog::set_rate,
        catalog::set_price, catalog::set_promotion_terms, catalog::set_exchange_rate, catalog::list_exchange_rates,
        catalog::create_promotion, catalog::create_invite_code, catalog::open_account,
        money::request_recharge, money::get_recharge, money::request_reversal, money::list_approvals, money::get_approval,
        money::approve, money::reject, money::grant_coupon, money::get_coupon, money::withdraw,
        money::get_withdrawal, money::expire_vouchers, money::set_low_balance_threshold,
        policies::set_policy, policies::get_policy, policies::set_webhook, policies::get_webhook, policies::callback,
        orders::place_order, orders::list_orders, orders::get_order, orders::pay_order, orders::fulfil_order,
        orders::cancel_order, orders::refund_order, orders::renew_order, orders::charge_usage, orders::get_usage,
        orders::get_renewal,
        finance::balance, finance::invoiceable, finance::trial_balance, finance::ledger, finance::account_balances,
        finance::kpi, finance::serial_kpi, finance::export, finance::event,
        operations::operations,
        back_office::list_customers, back_office::list_resellers, back_office::list_suppliers, back_office::get_org,
        back_office::patch_org, back_office::close_org, back_office::reopen_org, back_office::set_sale_mode,
        back_office::set_supplier_terms, back_office::patch_product, back_office::schedule_list_price,
        back_office::list_rates, back_office::list_posting_rules, back_office::set_posting_rule,
        back_office::request_manual_entry, back_office::customer_statement,
        settlements::issue_invoice, settlements::deliver_invoice, settlements::void_invoice,
        settlements::red_letter_invoice,
        audit::verify_book, audit::public_key, audit::certificates,
        reconciliations::reconcile_statement, reconciliations::get_reconciliation,
        settlements::issue_statement, settlements::get_settlement, settlements::settlement_lines,
        settlements::list_settlements, settlements::pay_settlement, settlements::close_period, settlements::reopen_period,
        settlements::request_invoice,
        serial::set_package_price, serial::set_tier_rate, serial::set_distributor_tier, serial::issue_batch, serial::set_batch_expiry,
        serial::activate,
        registry::list_promotions, registry::get_promotion, registry::list_invite_codes, registry::get_invite_code,
        registry::list_serial_codes, registry::get_serial_batch, registry::get_serial_code, registry::list_invoices,
        registry::get_invoice,
        payments::notify,
        terms::set_credit_limit, terms::get_terms, terms::set_terms, terms::list_cycles, terms::get_cycle,
        terms::set_cycle, terms::remove_cycle, terms::get_auto_renewal, terms::set_auto_renewal,
        terms::reconcile_supplier_bill,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerSecurity),
)]
pub struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("kb_…").build()),
        );
    }
}

/// The document: what the handlers' annotations say, completed by [`complete`] with what holds
/// for every operation alike.
pub fn document() -> Value {
    complete(serde_json::to_value(ApiDoc::openapi()).expect("the document serialises"))
}

/// What every operation shares, written once here rather than on ~60 handlers: problem+json for
/// every error, with the statuses any operation of its kind can answer (401 and 403 where a token
/// is needed, 400/409/413/422 for a body, 400/422 for a query, 404 for a path id, 500 and 503
/// with `Retry-After` everywhere); `min_position` and `Kboss-Position` on reads,
/// `Idempotency-Key` on commands; the words of every closed set (`enum`) and the formats of ids,
/// dates, amounts and rates; and the servers.
fn complete(mut document: Value) -> Value {
    document["servers"] = json!([
        { "url": "/", "description": "the server that serves this document" },
        { "url": "http://localhost:8080", "description": "`kboss serve` on its default address" },
    ]);
    let components = &mut document["components"];
    components["headers"] = json!({
        "Retry-After": { "description": "Seconds to wait before retrying.", "schema": { "type": "integer" } },
        "Kboss-Position": {
            "description": "The log position this read reflects: every event at or before it has been applied.",
            "schema": { "type": "integer", "format": "int64", "minimum": 0 }
        },
    });
    if let Some(schemas) = components["schemas"].as_object_mut() {
        for (name, schema) in schemas.iter_mut() {
            describe_properties(name, schema);
        }
    }
    let Some(paths) = document["paths"].as_object_mut() else { return document };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            complete_operation(path, method, operation);
        }
    }
    document
}

fn complete_operation(path: &str, method: &str, operation: &mut Value) {
    let secured = operation.get("security").is_some();
    let has_body = operation.get("requestBody").is_some() || matches!(method, "post" | "put" | "patch");
    let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
    let has_query = parameters.iter().any(|parameter| parameter["in"] == "query");
    let has_path = parameters.iter().any(|parameter| parameter["in"] == "path");
    let api = path.starts_with("/v1/");
    let mut statuses: Vec<(&str, &str)> = vec![
        ("500", "An internal error (logged with the request id)."),
        ("503", "Busy, or a store is unavailable: retry after `Retry-After`."),
    ];
    if secured {
        statuses.push((
            "401",
            "No `Authorization` header, a malformed one, or a token nobody issued (the detail says which).",
        ));
        statuses.push((
            "403",
            "The token's roles lack the permission (`x-permissions`), or the ledger refused it to them.",
        ));
    }
    if has_body {
        statuses.push(("400", "The body is not JSON, has an unknown field or a wrong type."));
        statuses.push(("409", "The same `Idempotency-Key` with another request, or a state conflict."));
        statuses.push(("413", "The body is larger than the configured limit."));
        statuses.push(("422", "A field is invalid, or the ledger refused the command (the `code` says why)."));
    }
    if has_query || (api && method == "get") {
        statuses.push(("400", "A query parameter is malformed or unknown."));
        statuses.push(("422", "A query parameter's value is outside its set or range."));
    }
    if has_path || secured {
        statuses.push(("404", "No such thing, or it belongs to another tenant."));
    }
    // Who may call it: the access table's permission (any one of them), and whether the token's
    // own person may call it without (their user, their tokens).
    let access = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .ok()
        .and_then(|method| crate::access::access_of(&method, path));
    let (permissions, own): (Vec<&str>, bool) = match access {
        Some(Access::Needs(permission)) => (vec![permission.as_str()], false),
        Some(Access::NeedsOrSelf(permission)) => (vec![permission.as_str()], true),
        Some(Access::NeedsOneOf(permissions)) => {
            (permissions.iter().map(|permission| permission.as_str()).collect(), false)
        }
        Some(Access::Public | Access::Authenticated) | None => (Vec::new(), false),
    };
    if secured {
        operation["x-permissions"] = json!(permissions);
        if own {
            operation["x-own-person-allowed"] = json!(true);
        }
    }
    let responses = operation["responses"].as_object_mut().expect("every operation has responses");
    for (status, description) in statuses {
        responses.entry(status.to_owned()).or_insert_with(|| json!({ "description": description }));
    }
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            if response["description"].as_str().is_none_or(str::is_empty) {
                response["description"] = json!("A problem (RFC 9457).");
            }
            response["content"] =
                json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
            if status == "503" {
                response["headers"] = json!({ "Retry-After": { "$ref": "#/components/headers/Retry-After" } });
            }
        } else if response["description"].as_str().is_none_or(str::is_empty) {
            response["description"] = json!("OK.");
        }
        if method == "get" && api && status.starts_with('2') {
            response["headers"] = json!({ "Kboss-Position": { "$ref": "#/components/headers/Kboss-Position" } });
        }
    }
    let parameters = operation["parameters"].as_array_mut();
    let mut parameters = parameters.map(std::mem::take).unwrap_or_default();
    for parameter in &mut parameters {
        if let Some(name) = parameter["name"].as_str() {
            let (name, location) = (name.to_owned(), parameter["in"].as_str().unwrap_or("").to_owned());
            if let Some(described) = describe(&name, &location, path) {
                merge(&mut parameter["schema"], &described);
            }
        }
    }
    if method == "get" && api {
        parameters.push(json!({
            "name": "min_position", "in": "query", "required": false,
            "description": "Wait (at most 5 s) until the read model has applied this log position, else 503 `read_model_behind`.",
            "schema": { "type": "integer", "format": "int64", "minimum": 0 }
        }));
    }
    if matches!(method, "post" | "put" | "patch") && api {
        parameters.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "The same key and body answer the first answer again (same status and body); the same key \
                with another body is 409 `idempotency_conflict`. Visible ASCII, at most 255 characters.",
            "schema": { "type": "string", "maxLength": 255 }
        }));
    }
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
}

/// The formats and closed sets of the properties of one component schema.
fn describe_properties(schema_name: &str, schema: &mut Value) {
    let Some(properties) = schema["properties"].as_object_mut() else { return };
    for (name, property) in properties.iter_mut() {
        let Some(described) = describe(name, schema_name, "") else { continue };
        if property["type"] == "array"
            || property["type"].as_array().is_some_and(|types| types.contains(&json!("array")))
        {
            merge(&mut property["items"], &described);
        } else {
            merge(property, &described);
        }
    }
}

/// Adds `extra`'s keys to `schema` (a `$ref` is left alone: the referenced schema describes itself).
/// A value that may be null (an `Option`, `"type": ["string", "null"]`) stays nullable.
fn merge(schema: &mut Value, extra: &Value) {
    if schema.get("$ref").is_some() {
        return;
    }
    let nullable = schema["type"].as_array().is_some_and(|types| types.contains(&json!("null")));
    if let (Some(schema), Some(extra)) = (schema.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            let value = match (key.as_str(), value) {
                ("type", Value::String(_)) if nullable => json!([value, "null"]),
                _ => value.clone(),
            };
            schema.insert(key.clone(), value);
        }
    }
}

/// The operation log's path: its `kind`, `outcome`, `format`, `from` and `to` are its own.
const OPERATIONS_PATH: &str = "/v1/books/{org_id}/operations";

/// A decimal string of exact money: an optional sign, digits, an optional fraction.
const DECIMAL: &str = "^-?[0-9]+(\\.[0-9]+)?$";
/// A rate of list, 0 < r <= 1, at most 4 decimals.
const RATE: &str = "^(0(\\.[0-9]{1,4})?|1(\\.0{1,4})?)$";

/// What a property or parameter named `name` (of the schema or location `owner`, on `path`)
/// holds, when it is one of the API's common kinds of value.
fn describe(name: &str, owner: &str, path: &str) -> Option<Value> {
    let choices = |words: Vec<String>| json!({ "type": "string", "enum": words });
    let described = match (owner, name) {
        ("RechargeBody", "method") => choices(words::<ledger_core::event::RechargeMethod>()),
        ("WithdrawalBody", "route") => choices(words::<ledger_core::event::WithdrawalRoute>()),
        ("CreateOrg", "kind") => choices(words::<orgs::NewOrgKind>()),
        ("IssueTokenBody" | "CreateUserBody" | "IssueUserTokenBody", "roles") => {
            choices(words::<ledger_core::org::Role>())
        }
        ("OpenAccountBody", "account_type") => choices(words::<ledger_core::chart::AccountType>()),
        ("RuleBody" | "RuleAnswer" | "ApprovalBody", "action") => {
            choices(words::<ledger_core::approval_policy::ApprovalAction>())
        }
        // A list of levels, each a list of roles: what is merged into the outer list's items.
        ("RuleBody" | "RuleAnswer" | "ApprovalBody", "levels") => {
            json!({ "type": "array", "items": choices(words::<ledger_core::org::Role>()) })
        }
        ("CallbackBody", "decision") => choices(words::<policies::CallbackDecision>()),
        ("ApprovalDecisionBody", "decision") => choices(vec!["granted".to_owned(), "rejected".to_owned()]),
        ("query", "timestamp") if path == "/v1/approvals/callback" => {
            json!({ "type": "string", "pattern": "^[0-9]{1,19}$" })
        }
        ("TierBody", "tier") => choices(words::<ledger_core::org::DistributorTier>()),
        ("CycleBody" | "CycleAnswer", "every") => choices(words::<ledger_core::event::CycleEvery>()),
        ("query", "every") => choices(words::<ledger_core::event::CycleEvery>()),
        ("Difference", "kind") => {
            choices(["amount_differs", "missing_in_ours", "missing_in_bill"].map(str::to_owned).to_vec())
        }
        ("query", "status") if path == "/v1/approvals" => choices(words::<money::ApprovalStatus>()),
        ("query", "status") if path == "/v1/orders" => choices(words::<orders::OrderStatusFilter>()),
        ("query", "kind") if path == "/v1/orgs" => choices(words::<orgs::OrgKindFilter>()),
        ("query", "kind") if path == OPERATIONS_PATH => choices(crate::operation_log::command_names().to_vec()),
        ("query", "outcome") if path == OPERATIONS_PATH => choices(words::<crate::operation_log::Outcome>()),
        ("query", "format") if path == OPERATIONS_PATH => choices(words::<operations::OperationsFormat>()),
        ("query", "from" | "to") if path == OPERATIONS_PATH => {
            json!({ "type": "string", "anyOf": [{ "format": "date" }, { "format": "date-time" }] })
        }
        ("query", "user_id" | "token_id") | ("OperationBody", "user_id" | "token_id") => json!({ "format": "uuid" }),
        ("OperationBody", "kind") => json!({ "enum": crate::operation_log::command_names() }),
        ("OperationBody", "outcome") => choices(words::<crate::operation_log::Outcome>()),
        ("query", "status") if path == "/v1/serial-codes" => choices(words::<registry::SerialStatusFilter>()),
        ("query", "status") if path == "/v1/invoices" => choices(words::<registry::InvoiceStatusFilter>()),
        ("SerialCodeBody", "status") => choices(words::<registry::SerialStatusFilter>()),
        ("InvoiceRecordBody", "status") => choices(words::<registry::InvoiceStatusFilter>()),
        ("SerialBatchBody", "tier") => choices(words::<ledger_core::org::DistributorTier>()),
        ("query", "granularity") => choices(words::<finance::KpiGranularity>()),
        ("query", "by") => choices(words::<finance::KpiBy>()),
        ("query", "format") => choices(words::<crate::export::ExportFormat>()),
        ("query", "limit") => {
            json!({ "type": "integer", "minimum": 1, "maximum": crate::config::PAGE_SIZE_MAX, "default": crate::config::PAGE_SIZE_DEFAULT })
        }
        ("query", "cursor") => json!({ "type": "string", "description": "The `next_cursor` of the previous page." }),
        (
            _,
            "from" | "to" | "as_of" | "date" | "valid_from" | "valid_to" | "effective_from" | "placed_on" | "through"
            | "arrears_due_on" | "failed_for",
        ) => {
            json!({ "type": "string", "format": "date" })
        }
        (
            _,
            "created_at" | "requested_at" | "at" | "recorded_at" | "expires_at" | "issued_at" | "revoked_at"
            | "last_used_at" | "activated_at" | "decided_at" | "updated_at",
        ) => {
            json!({ "type": "string", "format": "date-time" })
        }
        (_, "rate" | "commission_rate" | "supplier_rate") => json!({ "type": "string", "pattern": RATE }),
        (
            _,
            "amount" | "total" | "paid" | "refunded" | "balance" | "available" | "pending" | "debit" | "credit"
            | "revenue" | "discounts" | "cost" | "gross_profit" | "recharges" | "refunds" | "receivable" | "payable"
            | "invoiceable" | "list_price" | "unit_price" | "price" | "margin" | "running_balance" | "total_debit"
            | "total_credit" | "penalty" | "refund" | "above" | "cash" | "voucher" | "expired" | "credit_limit"
            | "arrears" | "credit_available" | "net" | "limit" | "ours" | "theirs" | "ours_total" | "theirs_total"
            | "difference",
        ) => json!({ "type": "string", "pattern": DECIMAL }),
        (
            _,
            "id" | "org_id" | "customer_id" | "seller_id" | "supplier_id" | "product_id" | "parent_id" | "owner_id"
            | "approval_id" | "principal_id" | "counterparty_id" | "book" | "party" | "promotion_id" | "settlement_id"
            | "order_id" | "requested_by" | "decided_by" | "user_id" | "token_id" | "requested_by_token"
            | "decided_by_token" | "issued_by" | "revoked_by" | "batch_id" | "issuer_id" | "distributor_id"
            | "invoice_id" | "last_order_id" | "updated_by",
        ) if !matches!(owner, "MovementBody" | "CouponGrantedBody" | "ExpiredCoupon") => {
            json!({ "type": "string", "format": "uuid" })
        }
        _ => return None,
    };
    Some(described)
}

/// The words of a closed set, as serde spells them: read from serde's own refusal of a word
/// outside the set ("unknown variant `…`, expected one of `a`, `b`"), so the document lists
/// exactly what the API accepts.
pub fn words<E: serde::de::DeserializeOwned>() -> Vec<String> {
    use serde::de::value::{Error, StrDeserializer};
    let refusal = match E::deserialize(StrDeserializer::<Error>::new("\u{0}")) {
        Ok(_) => return Vec::new(),
        Err(error) => error.to_string(),
    };
    let expected = refusal.split_once("expected ").map_or("", |(_, expected)| expected);
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The committed text: pretty JSON with a trailing newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("the document serialises");
    text.push('\n');
    text
}
