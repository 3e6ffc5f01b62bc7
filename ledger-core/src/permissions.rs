//! Permissions as data (RBAC): one permission per operation, read or write; a role is a named
//! set of them. The built-in roles are defaults: `admin` and `super_admin` hold every
//! permission, `customer` the fixed set a customer acts with on itself, and `finance`, `sales`
//! and `operations` the sets below unless an org redefines them. An org may define its own roles
//! (`RoleDefined`), from no permission up to all of them.
//!
//! Data scope is a permission too: staff with `customers.all` act for and read every customer of
//! their org; staff without it only the customers they own (a customer's owner is the person who
//! opened it, or whom `CustomerOwnerSet` names).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::org::Role;

macro_rules! permissions {
    ($($variant:ident = $tag:literal, $name:literal, $defaults:expr, $about:literal;)*) => {
        /// One permission: what it allows is [`Permission::about`]; which HTTP operations need it
        /// is the gateway's table (`GET /v1/permissions`).
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum Permission {
            $(#[doc = $about] #[serde(rename = $name)] $variant,)*
        }

        impl Permission {
            /// Every permission, in the order `GET /v1/permissions` lists them.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }

            /// What the permission allows, in a sentence.
            pub fn about(self) -> &'static str {
                match self {
                    $(Permission::$variant => $about,)*
                }
            }

            /// Its tag in the binary record format (never reused).
            pub fn tag(self) -> u8 {
                match self {
                    $(Permission::$variant => $tag,)*
                }
            }

            pub fn from_tag(tag: u8) -> Option<Permission> {
                match tag {
                    $($tag => Some(Permission::$variant),)*
                    _ => None,
                }
            }

            /// The built-in roles (of `finance`, `sales`, `operations`, `customer`) that hold it
            /// by default.
            fn defaults(self) -> &'static [Role] {
                match self {
                    $(Permission::$variant => $defaults,)*
                }
            }
        }

        impl std::str::FromStr for Permission {
            type Err = UnknownPermission;

            fn from_str(text: &str) -> Result<Permission, UnknownPermission> {
                match text {
                    $($name => Ok(Permission::$variant),)*
                    _ => Err(UnknownPermission(text.to_owned())),
                }
            }
        }
    };
}

const F: Role = Role::Finance;
const S: Role = Role::Sales;
const O: Role = Role::Operations;
const C: Role = Role::Customer;

permissions! {
    // Reads.
    OrgsRead = 0, "orgs.read", &[F, S, O, C], "Read organisations: the own org, its customers, resellers and suppliers.";
    UsersRead = 1, "users.read", &[], "Read the org's users, their tokens (never a token's text) and its roles.";
    CatalogRead = 2, "catalog.read", &[F, S, O, C], "Read products, promotions and invite codes.";
    WalletsRead = 3, "wallets.read", &[F, S, O, C], "Read customers' wallet balances and what they may invoice.";
    MoneyRead = 4, "money.read", &[F, S, O, C], "Read recharges, withdrawals and coupons.";
    OrdersRead = 5, "orders.read", &[F, S, O, C], "Read orders, usage charges and renewals.";
    ApprovalsRead = 6, "approvals.read", &[F, S, O], "Read approval requests and their decisions.";
    SerialCodesRead = 7, "serial_codes.read", &[F, S, O, C], "Read serial-code batches and codes.";
    InvoicesRead = 8, "invoices.read", &[F, S, O, C], "Read invoices.";
    SettlementsRead = 9, "settlements.read", &[F, S, O], "Read settlement statements and their lines.";
    KpisRead = 10, "kpis.read", &[F, S, O], "Read the book's KPIs.";
    LedgerRead = 11, "ledger.read", &[F], "Read the book itself: trial balance, ledger, account balances, events.";
    ExportsRead = 12, "exports.read", &[F], "Export the book (CSV, Beancount, JSON).";
    OperationsRead = 13, "operations.read", &[F], "Read the operation log (操作日志) and export it.";
    PricesRead = 52, "prices.read", &[F, S, O], "Read the book's rate table (every scope's rates and their validity).";
    // Writes.
    OrgsWrite = 20, "orgs.write", &[], "Open resellers and suppliers; set a reseller's sale mode.";
    CustomersWrite = 21, "customers.write", &[S], "Open customers and assign their owner.";
    CustomersAll = 22, "customers.all", &[F, S, O], "Data scope: act for and read every customer of the org, not only those the user owns.";
    UsersWrite = 23, "users.write", &[], "Create users, issue and revoke their tokens.";
    RolesWrite = 24, "roles.write", &[], "Define the org's roles (custom roles, and its versions of finance, sales, operations).";
    ProductsWrite = 25, "products.write", &[O], "Create products.";
    SupplierRatesWrite = 26, "supplier_rates.write", &[F, O], "Set a product's supplier rate.";
    PricesWrite = 27, "prices.write", &[S], "Set rates, create promotions and invite codes.";
    DistributorsWrite = 28, "distributors.write", &[S], "Set a distributor's tier.";
    SerialPackagesWrite = 29, "serial_packages.write", &[O], "Price serial-code packages.";
    SerialTierRatesWrite = 30, "serial_tier_rates.write", &[F], "Set the rate each distributor tier buys serial codes at.";
    SerialCodesIssue = 31, "serial_codes.issue", &[O], "Issue serial codes to a distributor.";
    SerialCodesActivate = 32, "serial_codes.activate", &[O, C], "Activate a serial code for a customer.";
    RechargesWrite = 33, "recharges.write", &[F, S, C], "Request recharges (offline and transfer ones go to approval; online ones await payment).";
    RechargesReverse = 34, "recharges.reverse", &[F], "Request a recharge's reversal.";
    PaymentsConfirm = 35, "payments.confirm", &[F], "Confirm what a payment channel notified.";
    CouponsWrite = 36, "coupons.write", &[S], "Grant coupons.";
    WithdrawalsWrite = 37, "withdrawals.write", &[F, C], "Request withdrawals.";
    OrdersPlace = 38, "orders.place", &[S, C], "Place orders.";
    OrdersPay = 39, "orders.pay", &[F, S, C], "Pay orders from the wallet.";
    OrdersCancel = 40, "orders.cancel", &[S, O, C], "Cancel unpaid orders.";
    OrdersFulfil = 41, "orders.fulfil", &[O], "Fulfil paid orders.";
    OrdersRefund = 42, "orders.refund", &[F, O], "Refund orders.";
    OrdersRenew = 43, "orders.renew", &[S, O, C], "Renew subscriptions.";
    UsageCharge = 44, "usage.charge", &[O], "Charge metered usage.";
    // 45 was `approvals.decide`: who decides an approval is its book's policy (the roles each
    // level names), not a permission. Tags are never reused.
    SettlementsWrite = 46, "settlements.write", &[F], "Issue settlement statements and pay them.";
    InvoicesWrite = 47, "invoices.write", &[F, S, C], "Request invoices.";
    InvoicesIssue = 53, "invoices.issue", &[F], "Issue, deliver, void and red-letter the book's invoices.";
    PeriodsClose = 48, "periods.close", &[F], "Close accounting periods.";
    AccountsWrite = 49, "accounts.write", &[F], "Open accounts, set posting rules, book business of a custom kind.";
    ApprovalPolicyWrite = 51, "approval_policy.write", &[], "Set the book's approval policy and its approval webhook.";
    VouchersExpire = 50, "vouchers.expire", &[F], "Book out a customer's vouchers past their expiry (Dr 2203.01, Cr 6601).";
    // 65..=69 are issue 14's (audit tools).
    LowBalanceWrite = 65, "low_balance.write", &[F, S, C], "Set a customer's low-balance threshold (a notice each time its wallet falls below it).";
    PeriodsReopen = 66, "periods.reopen", &[F], "Request a closed period's reopening, with a written reason (it waits for approval).";
    ReconciliationsWrite = 67, "reconciliations.write", &[F], "Reconcile a bank statement or a channel's bill against the book's 1002 or 1012 (dry runs and recorded ones).";
    ReconciliationsRead = 68, "reconciliations.read", &[F], "Read recorded reconciliations.";
    // 60..=64: credit, the clock's terms and settlement cycles (issue 12).
    CreditWrite = 60, "credit.write", &[F, S], "Set customers' credit limits (信用额度; a raise waits for approval).";
    TermsWrite = 61, "terms.write", &[F], "Set the book's terms (payment timeout, arrears due days, renewal lead) and settlement cycles.";
    TermsRead = 62, "terms.read", &[F, S, O], "Read the book's terms and settlement cycles.";
    // 54..=59: money in more than one currency (issue 12).
    ExchangeRatesWrite = 54, "exchange_rates.write", &[F], "Set the book's exchange rates (a foreign currency's worth in the book's, with its source and date).";
}

/// A word that names no permission.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UnknownPermission(pub String);

impl fmt::Display for UnknownPermission {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "no permission is called {:?}", self.0)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A set of permissions, one bit each (by tag).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u128);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// Every permission there is.
    pub fn all() -> PermissionSet {
        Permission::ALL.iter().copied().collect()
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & (1 << permission.tag()) != 0
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= 1 << permission.tag();
    }

    pub fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    pub fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |permission| self.contains(*permission))
    }

    pub fn to_set(self) -> BTreeSet<Permission> {
        self.iter().collect()
    }

    /// The names, in `Permission::ALL`'s order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(permissions: I) -> PermissionSet {
        let mut set = PermissionSet::EMPTY;
        for permission in permissions {
            set.insert(permission);
        }
        set
    }
}

/// Written as the list of its permissions' names (snapshots, JSON).
impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<PermissionSet, D::Error> {
        Ok(Vec::<Permission>::deserialize(deserializer)?.into_iter().collect())
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_set().entries(self.names()).finish()
    }
}

impl Role {
    /// The role's permissions where the org has not defined it: every one for `admin` and
    /// `super_admin`, the sets of the table above for the others, none for a custom role.
    pub fn default_permissions(self) -> PermissionSet {
        match self {
            Role::SuperAdmin | Role::Admin => PermissionSet::all(),
            Role::Custom(_) => PermissionSet::EMPTY,
            role => {
                Permission::ALL.iter().copied().filter(|permission| permission.defaults().contains(&role)).collect()
            }
        }
    }

    /// Whether an org may define this role: custom ones and `finance`, `sales`, `operations`
    /// (`admin`, `super_admin` and `customer` are fixed).
    pub fn definable(self) -> bool {
        matches!(self, Role::Finance | Role::Sales | Role::Operations | Role::Custom(_))
    }
}

/// What `roles` allow, with the org's own definitions (`defined`) where it has them.
pub fn resolve(roles: &BTreeSet<Role>, defined: impl Fn(Role) -> Option<PermissionSet>) -> PermissionSet {
    roles.iter().fold(PermissionSet::EMPTY, |allowed, role| {
        let own = if role.definable() { defined(*role) } else { None };
        allowed.union(own.unwrap_or_else(|| role.default_permissions()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_and_fit_the_set() {
        let tags: BTreeSet<u8> = Permission::ALL.iter().map(|permission| permission.tag()).collect();
        assert_eq!(tags.len(), Permission::ALL.len());
        assert!(tags.iter().all(|tag| *tag < 128));
        for permission in Permission::ALL {
            assert_eq!(Permission::from_tag(permission.tag()), Some(*permission));
            assert_eq!(permission.as_str().parse::<Permission>(), Ok(*permission));
        }
    }

    #[test]
    fn the_book_itself_is_finance_s_by_default() {
        for permission in [Permission::LedgerRead, Permission::ExportsRead, Permission::OperationsRead] {
            let holders: Vec<Role> = [Role::Finance, Role::Sales, Role::Operations, Role::Customer]
                .into_iter()
                .filter(|role| role.default_permissions().contains(permission))
                .collect();
            assert_eq!(holders, vec![Role::Finance], "{permission}");
        }
        assert_eq!(Role::Admin.default_permissions(), PermissionSet::all());
    }

    #[test]
    fn an_org_s_definition_replaces_a_definable_role_only() {
        let roles: BTreeSet<Role> = [Role::Sales, Role::Customer].into();
        let only_place: PermissionSet = [Permission::OrdersPlace].into_iter().collect();
        let allowed = resolve(&roles, |_| Some(only_place));
        // sales is the org's (orders.place alone); customer keeps its fixed set.
        assert_eq!(allowed, only_place.union(Role::Customer.default_permissions()));
        assert!(!allowed.contains(Permission::CouponsWrite));
    }
}
