//! The OpenAPI 3.1 document, generated from the handlers' annotations and committed as
//! `schemas/openapi.json` (a test fails when they differ; `KBOSS_WRITE_OPENAPI=1` rewrites it),
//! and its route, `/openapi.json`. It lists the routes, so it is served from here rather than
//! from `routes::ops`: the routes do not depend on their own document.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::*;
use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/openapi.json", get(openapi))
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "this document (OpenAPI 3.1)")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "KBOSS Ledger", version = "1", description = "The HTTP API of KBOSS Ledger (shared/API.md)."),
    paths(
        ops::healthz, ops::readyz, ops::metrics, openapi,
        orgs::me, orgs::create_org, orgs::get_org, orgs::issue_token,
        catalog::create_product, catalog::list_products, catalog::set_supplier_rate, catalog::set_rate,
        catalog::create_promotion, catalog::create_invite_code, catalog::open_account,
        money::request_recharge, money::request_reversal, money::list_approvals, money::get_approval,
        money::approve, money::reject, money::grant_coupon, money::withdraw,
        orders::place_order, orders::list_orders, orders::get_order, orders::pay_order, orders::fulfil_order,
        orders::cancel_order, orders::refund_order, orders::renew_order, orders::charge_usage,
        finance::balance, finance::invoiceable, finance::trial_balance, finance::ledger, finance::account_balances,
        finance::kpi, finance::serial_kpi, finance::export, finance::event,
        settlements::issue_statement, settlements::get_settlement, settlements::settlement_lines,
        settlements::list_settlements, settlements::pay_settlement, settlements::close_period,
        settlements::request_invoice,
        serial::set_package_price, serial::set_tier_rate, serial::set_distributor_tier, serial::issue_batch,
        serial::activate,
        payments::notify,
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

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The committed text: pretty JSON with a trailing newline.
pub fn document_text() -> String {
    let mut text = document().to_pretty_json().expect("the document serialises");
    text.push('\n');
    text
}
