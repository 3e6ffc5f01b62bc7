//! Who may call which operation: the one table of every route's permission. The caller
//! extractor ([`crate::auth::Caller`]) looks each request up here by its method and route
//! template and refuses (403) a caller whose roles lack the permission, before the handler reads
//! anything; a route missing from the table is refused to everyone. The handlers and the
//! deciders then judge the data scope (whose book, which customer) and, for writes, the decider
//! checks the same permission again against the state it decides on.
//!
//! `GET /v1/permissions` lists each permission with the operations it allows, from this table;
//! the tenancy test walks `schemas/openapi.json` against it, so a new route cannot be missed.

use axum::http::Method;
use ledger_core::permissions::Permission;

use crate::auth::Caller;
use crate::error::ApiError;

/// What an operation asks of its caller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// No token: probes, the contract, and what a payment channel signs.
    Public,
    /// Any valid token (what it answers is the caller's own).
    Authenticated,
    /// The permission.
    Needs(Permission),
    /// One of the permissions (which one, the decider judges by the body).
    NeedsOneOf(&'static [Permission]),
    /// The permission, or the token's own person (their user, their tokens): the handler decides.
    NeedsOrSelf(Permission),
}

use Access::{Authenticated, Needs, NeedsOneOf, NeedsOrSelf, Public};
use Permission as P;

/// Every route: method, path template (as routed), access.
pub const OPERATIONS: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Public),
    ("GET", "/openapi.json", Public),
    ("POST", "/v1/payments/notify/{channel}", Public),
    ("GET", "/v1/me", Authenticated),
    ("GET", "/v1/permissions", Authenticated),
    // Organisations, people, roles.
    // A customer needs customers.write; a reseller or a supplier orgs.write.
    ("POST", "/v1/orgs", NeedsOneOf(&[P::CustomersWrite, P::OrgsWrite])),
    ("GET", "/v1/orgs", Needs(P::OrgsRead)),
    ("GET", "/v1/orgs/{id}", Needs(P::OrgsRead)),
    // A customer's profile needs customers.write; a reseller's or supplier's (or the org's own) orgs.write.
    ("PATCH", "/v1/orgs/{id}", NeedsOneOf(&[P::CustomersWrite, P::OrgsWrite])),
    ("POST", "/v1/orgs/{id}/close", NeedsOneOf(&[P::CustomersWrite, P::OrgsWrite])),
    ("POST", "/v1/orgs/{id}/reopen", NeedsOneOf(&[P::CustomersWrite, P::OrgsWrite])),
    ("PUT", "/v1/orgs/{id}/sale-mode", Needs(P::OrgsWrite)),
    // The registries.
    ("GET", "/v1/customers", Needs(P::OrgsRead)),
    ("GET", "/v1/resellers", Needs(P::OrgsRead)),
    ("GET", "/v1/suppliers", Needs(P::OrgsRead)),
    ("PUT", "/v1/suppliers/{id}/terms", Needs(P::OrgsWrite)),
    ("PUT", "/v1/orgs/{id}/tier", Needs(P::DistributorsWrite)),
    ("POST", "/v1/orgs/{id}/tokens", Needs(P::UsersWrite)),
    ("POST", "/v1/orgs/{id}/users", Needs(P::UsersWrite)),
    ("GET", "/v1/orgs/{id}/users", Needs(P::UsersRead)),
    ("GET", "/v1/orgs/{id}/roles", Needs(P::UsersRead)),
    ("PUT", "/v1/orgs/{id}/roles/{name}", Needs(P::RolesWrite)),
    ("PUT", "/v1/customers/{id}/owner", Needs(P::CustomersWrite)),
    ("POST", "/v1/customers/{id}/transfer", NeedsOneOf(&[P::CustomersWrite, P::OrgsWrite])),
    ("GET", "/v1/customers/{id}/ownership", Needs(P::OrgsRead)),
    ("POST", "/v1/orgs/{id}/customers/reassign", Needs(P::CustomersWrite)),
    ("GET", "/v1/users/{id}", NeedsOrSelf(P::UsersRead)),
    ("POST", "/v1/users/{id}/tokens", NeedsOrSelf(P::UsersWrite)),
    ("GET", "/v1/users/{id}/tokens", NeedsOrSelf(P::UsersRead)),
    ("GET", "/v1/tokens/{id}", NeedsOrSelf(P::UsersRead)),
    ("POST", "/v1/tokens/{id}/revoke", NeedsOrSelf(P::UsersWrite)),
    // Catalogue and prices.
    ("POST", "/v1/products", Needs(P::ProductsWrite)),
    ("GET", "/v1/products", Needs(P::CatalogRead)),
    ("GET", "/v1/products/{id}", Needs(P::CatalogRead)),
    ("PUT", "/v1/products/{id}/supplier-rate", Needs(P::SupplierRatesWrite)),
    ("PATCH", "/v1/products/{id}", Needs(P::ProductsWrite)),
    ("POST", "/v1/products/{id}/list-prices", Needs(P::ProductsWrite)),
    ("GET", "/v1/books/{org_id}/rates", Needs(P::PricesRead)),
    ("GET", "/v1/books/{org_id}/posting-rules", Needs(P::LedgerRead)),
    ("PUT", "/v1/posting-rules/{kind}", Needs(P::AccountsWrite)),
    ("POST", "/v1/books/{org_id}/entries", Needs(P::AccountsWrite)),
    ("PUT", "/v1/books/{org_id}/rates", Needs(P::PricesWrite)),
    ("PUT", "/v1/books/{org_id}/exchange-rates", Needs(P::ExchangeRatesWrite)),
    ("GET", "/v1/books/{org_id}/exchange-rates", Needs(P::PricesRead)),
    ("PUT", "/v1/books/{org_id}/prices", Needs(P::PricesWrite)),
    ("PUT", "/v1/promotions/{id}/terms", Needs(P::PricesWrite)),
    ("POST", "/v1/books/{org_id}/promotions", Needs(P::PricesWrite)),
    ("GET", "/v1/books/{org_id}/promotions", Needs(P::CatalogRead)),
    ("GET", "/v1/promotions/{id}", Needs(P::CatalogRead)),
    ("POST", "/v1/books/{org_id}/invite-codes", Needs(P::PricesWrite)),
    ("GET", "/v1/books/{org_id}/invite-codes", Needs(P::CatalogRead)),
    ("GET", "/v1/books/{org_id}/invite-codes/{code}", Needs(P::CatalogRead)),
    ("POST", "/v1/books/{org_id}/accounts", Needs(P::AccountsWrite)),
    // Money in and out.
    ("POST", "/v1/recharges", Needs(P::RechargesWrite)),
    ("GET", "/v1/recharges/{id}", Needs(P::MoneyRead)),
    ("POST", "/v1/recharges/{id}/reversal", Needs(P::RechargesReverse)),
    ("POST", "/v1/coupons", Needs(P::CouponsWrite)),
    ("GET", "/v1/coupons/{id}", Needs(P::MoneyRead)),
    ("POST", "/v1/withdrawals", Needs(P::WithdrawalsWrite)),
    ("GET", "/v1/withdrawals/{id}", Needs(P::MoneyRead)),
    ("GET", "/v1/approvals", Needs(P::ApprovalsRead)),
    ("GET", "/v1/approvals/{id}", Needs(P::ApprovalsRead)),
    // Who decides an approval is its book's policy (the roles of each level): the ledger judges.
    ("POST", "/v1/approvals/{id}/approve", Authenticated),
    ("POST", "/v1/approvals/{id}/reject", Authenticated),
    // Signed with the book's webhook secret, no token: it acts as the named user.
    ("POST", "/v1/approvals/callback", Public),
    ("PUT", "/v1/books/{org_id}/approval-policy", Needs(P::ApprovalPolicyWrite)),
    ("GET", "/v1/books/{org_id}/approval-policy", Needs(P::ApprovalsRead)),
    ("PUT", "/v1/books/{org_id}/approval-webhook", Needs(P::ApprovalPolicyWrite)),
    ("GET", "/v1/books/{org_id}/approval-webhook", Needs(P::ApprovalPolicyWrite)),
    ("GET", "/v1/customers/{id}/balance", Needs(P::WalletsRead)),
    ("GET", "/v1/customers/{id}/invoiceable", Needs(P::WalletsRead)),
    ("GET", "/v1/customers/{id}/statement", Needs(P::WalletsRead)),
    ("POST", "/v1/customers/{id}/vouchers/expire", Needs(P::VouchersExpire)),
    ("PUT", "/v1/customers/{id}/low-balance-threshold", Needs(P::LowBalanceWrite)),
    // Orders.
    ("POST", "/v1/orders", Needs(P::OrdersPlace)),
    ("GET", "/v1/orders", Needs(P::OrdersRead)),
    ("GET", "/v1/orders/{id}", Needs(P::OrdersRead)),
    ("POST", "/v1/orders/{id}/pay", Needs(P::OrdersPay)),
    ("POST", "/v1/orders/{id}/fulfil", Needs(P::OrdersFulfil)),
    ("POST", "/v1/orders/{id}/cancel", Needs(P::OrdersCancel)),
    ("POST", "/v1/orders/{id}/refund", Needs(P::OrdersRefund)),
    ("POST", "/v1/orders/{id}/renew", Needs(P::OrdersRenew)),
    ("POST", "/v1/usage", Needs(P::UsageCharge)),
    ("GET", "/v1/usage/{id}", Needs(P::OrdersRead)),
    ("GET", "/v1/renewals/{id}", Needs(P::OrdersRead)),
    // Serial codes.
    ("PUT", "/v1/serial-codes/packages/{days}", Needs(P::SerialPackagesWrite)),
    ("PUT", "/v1/serial-codes/tiers/{tier}", Needs(P::SerialTierRatesWrite)),
    ("POST", "/v1/serial-codes/batches", Needs(P::SerialCodesIssue)),
    ("PUT", "/v1/serial-codes/batches/{id}/expiry", Needs(P::SerialCodesIssue)),
    ("GET", "/v1/serial-codes/batches/{id}", Needs(P::SerialCodesRead)),
    ("GET", "/v1/serial-codes", Needs(P::SerialCodesRead)),
    ("GET", "/v1/serial-codes/{code}", Needs(P::SerialCodesRead)),
    ("POST", "/v1/serial-codes/{code}/activate", Needs(P::SerialCodesActivate)),
    // Invoices, settlements, periods.
    ("POST", "/v1/invoices", Needs(P::InvoicesWrite)),
    ("GET", "/v1/invoices", Needs(P::InvoicesRead)),
    ("GET", "/v1/invoices/{id}", Needs(P::InvoicesRead)),
    ("POST", "/v1/invoices/{id}/issue", Needs(P::InvoicesIssue)),
    ("POST", "/v1/invoices/{id}/deliver", Needs(P::InvoicesIssue)),
    ("POST", "/v1/invoices/{id}/void", Needs(P::InvoicesIssue)),
    ("POST", "/v1/invoices/{id}/red-letter", Needs(P::InvoicesIssue)),
    ("POST", "/v1/settlements", Needs(P::SettlementsWrite)),
    ("GET", "/v1/settlements/{id}", Needs(P::SettlementsRead)),
    ("GET", "/v1/settlements/{id}/lines", Needs(P::SettlementsRead)),
    ("POST", "/v1/settlements/{id}/pay", Needs(P::SettlementsWrite)),
    ("GET", "/v1/books/{org_id}/settlements", Needs(P::SettlementsRead)),
    ("POST", "/v1/books/{org_id}/close", Needs(P::PeriodsClose)),
    ("POST", "/v1/books/{org_id}/reopen", Needs(P::PeriodsReopen)),
    // The book itself.
    ("GET", "/v1/books/{org_id}/trial-balance", Needs(P::LedgerRead)),
    ("GET", "/v1/books/{org_id}/ledger", Needs(P::LedgerRead)),
    ("GET", "/v1/books/{org_id}/balances", Needs(P::LedgerRead)),
    ("GET", "/v1/events/{position}", Needs(P::LedgerRead)),
    // Audit: a book verified against the log (whoever reads the book); the key certificates
    // are checked with, for anyone.
    ("GET", "/v1/books/{org_id}/verify", Needs(P::LedgerRead)),
    ("GET", "/v1/audit/public-key", Public),
    ("GET", "/v1/books/{org_id}/certificates", Needs(P::LedgerRead)),
    // Reconciliation: a dry run matches and stores nothing; both need the write permission.
    ("POST", "/v1/books/{org_id}/reconciliations", Needs(P::ReconciliationsWrite)),
    ("GET", "/v1/reconciliations/{id}", Needs(P::ReconciliationsRead)),
    ("GET", "/v1/books/{org_id}/export", Needs(P::ExportsRead)),
    ("GET", "/v1/books/{org_id}/kpi", Needs(P::KpisRead)),
    ("GET", "/v1/books/{org_id}/kpi/serial-codes", Needs(P::KpisRead)),
    ("GET", "/v1/books/{org_id}/operations", Needs(P::OperationsRead)),
    // Credit, the book's terms, settlement cycles, auto-renewals, supplier bills (issue 12).
    ("PUT", "/v1/customers/{id}/credit-limit", Needs(P::CreditWrite)),
    ("GET", "/v1/books/{org_id}/terms", Needs(P::TermsRead)),
    ("PUT", "/v1/books/{org_id}/terms", Needs(P::TermsWrite)),
    ("GET", "/v1/books/{org_id}/settlement-cycles", Needs(P::TermsRead)),
    ("GET", "/v1/books/{org_id}/settlement-cycles/{counterparty_id}", Needs(P::TermsRead)),
    ("PUT", "/v1/books/{org_id}/settlement-cycles/{counterparty_id}", Needs(P::TermsWrite)),
    ("DELETE", "/v1/books/{org_id}/settlement-cycles/{counterparty_id}", Needs(P::TermsWrite)),
    ("GET", "/v1/orders/{id}/auto-renewal", Needs(P::OrdersRead)),
    ("PUT", "/v1/orders/{id}/auto-renewal", Needs(P::OrdersRenew)),
    // Reads the book's payables; stores nothing.
    ("POST", "/v1/books/{org_id}/supplier-bills", Needs(P::LedgerRead)),
];

/// The access of the route `path` (its template) for `method`; `None` when the table lacks it.
pub fn access_of(method: &Method, path: &str) -> Option<Access> {
    OPERATIONS
        .iter()
        .find(|(operation_method, operation_path, _)| *operation_path == path && *operation_method == method.as_str())
        .map(|(_, _, access)| *access)
}

/// The operations a permission allows (as `METHOD /path`), for `GET /v1/permissions`.
pub fn operations_of(permission: Permission) -> Vec<String> {
    OPERATIONS
        .iter()
        .filter(|(_, _, access)| match access {
            Needs(needed) | NeedsOrSelf(needed) => *needed == permission,
            NeedsOneOf(needed) => needed.contains(&permission),
            Public | Authenticated => false,
        })
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect()
}

/// Checks a caller against the route's entry: a 403 naming the missing permission, or naming
/// the route when the table has no entry for it (refused to everyone until it has one).
pub fn check(caller: &Caller, method: &Method, path: Option<&str>) -> Result<(), ApiError> {
    let Some(path) = path else { return Ok(()) };
    match access_of(method, path) {
        Some(Public | Authenticated | NeedsOrSelf(_)) => Ok(()),
        Some(Needs(permission)) => caller.require(permission),
        Some(NeedsOneOf(permissions)) => {
            if permissions.iter().any(|permission| caller.can(*permission)) {
                Ok(())
            } else {
                let names: Vec<&str> = permissions.iter().map(|permission| permission.as_str()).collect();
                Err(ApiError::Forbidden(format!("needs one of the permissions {}", names.join(", "))))
            }
        }
        None => Err(ApiError::Forbidden(format!("{method} {path} is in no permission's table"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_is_listed_once_and_every_permission_allows_something() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, _) in OPERATIONS {
            assert!(seen.insert((method, path)), "{method} {path} is listed twice");
        }
        for permission in Permission::ALL {
            let allowed = operations_of(*permission);
            // customers.all is a data scope, not an operation; payments.confirm is what a payment
            // channel's signed notification (a public route) acts with.
            let operationless = [Permission::CustomersAll, Permission::PaymentsConfirm].contains(permission);
            assert_eq!(allowed.is_empty(), operationless, "{permission}: {allowed:?}");
        }
    }
}
