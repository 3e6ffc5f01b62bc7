//! Organisations, roles and the actor behind a command.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, PrincipalId};
use crate::money::{Currency, Rate};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Platform,
    Reseller,
    Customer,
    Supplier,
}

impl OrgKind {
    /// Platforms and resellers keep a book; customers and suppliers are parties in one.
    pub fn keeps_book(self) -> bool {
        matches!(self, OrgKind::Platform | OrgKind::Reseller)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Platform => "platform",
            OrgKind::Reseller => "reseller",
            OrgKind::Customer => "customer",
            OrgKind::Supplier => "supplier",
        }
    }
}

/// How a reseller sells what it buys from its parent (its agreement with the parent).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum SaleMode {
    /// The reseller buys at its cost and sells on at its own prices.
    Discount,
    /// 返佣: the reseller sells at its parent's price (no margin of its own) and earns a
    /// commission of `commission_rate` × that price from the parent.
    Rebate { commission_rate: Rate },
}

/// 分销商等级: a distributor's tier decides the rate at which it buys serial codes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DistributorTier {
    Gold,
    Platinum,
    Diamond,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Org {
    pub id: OrgId,
    pub kind: OrgKind,
    pub name: String,
    pub parent_id: Option<OrgId>,
    pub currency: Currency,
    pub sale_mode: SaleMode,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The platform's reader of every book.
    SuperAdmin,
    Admin,
    Finance,
    Sales,
    Operations,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Sales => "sales",
            Role::Operations => "operations",
            Role::Customer => "customer",
        }
    }
}

/// Who issued a command: a principal acting for one org with some roles.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    pub org_id: OrgId,
    pub principal_id: PrincipalId,
    pub roles: BTreeSet<Role>,
}

impl Actor {
    pub fn new(org_id: OrgId, principal_id: PrincipalId, roles: impl IntoIterator<Item = Role>) -> Actor {
        Actor { org_id, principal_id, roles: roles.into_iter().collect() }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// True when the actor holds any of `roles`, or `admin` (admin may do everything in its org),
    /// or `super_admin`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.has(Role::Admin) || self.has(Role::SuperAdmin) || roles.iter().any(|role| self.has(*role))
    }
}
