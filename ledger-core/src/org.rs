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

/// A role a user holds and a token carries: a built-in one, or one its org defined
/// (`crate::permissions`). Written as its name: `finance`, `auditor`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Role {
    /// The platform's reader of every book.
    SuperAdmin,
    Admin,
    Finance,
    Sales,
    Operations,
    Customer,
    /// A role an org defined (`PUT /v1/orgs/{id}/roles/{name}`).
    Custom(RoleName),
}

impl Role {
    /// The built-in roles, in their order.
    pub const BUILT_IN: [Role; 6] =
        [Role::SuperAdmin, Role::Admin, Role::Finance, Role::Sales, Role::Operations, Role::Customer];

    pub fn as_str(&self) -> &str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Sales => "sales",
            Role::Operations => "operations",
            Role::Customer => "customer",
            Role::Custom(name) => name.as_str(),
        }
    }

    /// The built-in roles a user of an org of this kind may hold (`super_admin` only on the
    /// platform; a customer's users act as it; suppliers act through their buyer's staff).
    pub fn built_in_for(kind: OrgKind) -> &'static [Role] {
        match kind {
            OrgKind::Platform => &[Role::SuperAdmin, Role::Admin, Role::Finance, Role::Sales, Role::Operations],
            OrgKind::Reseller => &[Role::Admin, Role::Finance, Role::Sales, Role::Operations],
            OrgKind::Customer => &[Role::Customer],
            OrgKind::Supplier => &[],
        }
    }

    pub fn is_built_in(self) -> bool {
        !matches!(self, Role::Custom(_))
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    /// A built-in role's name, or a custom role's (see [`RoleName`]).
    fn from_str(text: &str) -> Result<Role, String> {
        Ok(match text {
            "super_admin" => Role::SuperAdmin,
            "admin" => Role::Admin,
            "finance" => Role::Finance,
            "sales" => Role::Sales,
            "operations" => Role::Operations,
            "customer" => Role::Customer,
            _ => Role::Custom(RoleName::new(text)?),
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        // Refused as serde refuses an unknown word of a closed set, so that a caller is told the
        // choices (the gateway answers it as a 422 naming the field).
        const CHOICES: &[&str] = &[
            "super_admin",
            "admin",
            "finance",
            "sales",
            "operations",
            "customer",
            "a role the org defined (a lowercase letter, then up to 31 lowercase letters, digits or _)",
        ];
        text.parse().map_err(|_| serde::de::Error::unknown_variant(&text, CHOICES))
    }
}

impl schemars::JsonSchema for Role {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Role".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A built-in role (super_admin, admin, finance, sales, operations, customer) or a role its org defined.",
            "type": "string",
            "pattern": ROLE_NAME_PATTERN,
        })
    }
}

/// The longest name of a custom role.
pub const ROLE_NAME_MAX: usize = 32;
/// What a role's name looks like: a lowercase letter, then lowercase letters, digits or `_`.
pub const ROLE_NAME_PATTERN: &str = "^[a-z][a-z0-9_]{0,31}$";

/// A custom role's name: 1 to [`ROLE_NAME_MAX`] characters matching [`ROLE_NAME_PATTERN`], and
/// not a built-in role's. Kept inline so that a `Role` stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleName {
    len: u8,
    bytes: [u8; ROLE_NAME_MAX],
}

impl RoleName {
    pub fn new(text: &str) -> Result<RoleName, String> {
        let valid = !text.is_empty()
            && text.len() <= ROLE_NAME_MAX
            && text.as_bytes()[0].is_ascii_lowercase()
            && text.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
        if !valid {
            return Err(format!(
                "a role is a lowercase letter then up to {} lowercase letters, digits or '_', not {text:?}",
                ROLE_NAME_MAX - 1
            ));
        }
        if Role::BUILT_IN.iter().any(|role| role.as_str() == text) {
            return Err(format!("{text:?} is a built-in role"));
        }
        let mut bytes = [0; ROLE_NAME_MAX];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(RoleName { len: text.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("checked ASCII")
    }
}

impl PartialOrd for RoleName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RoleName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::fmt::Debug for RoleName {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{:?}", self.as_str())
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
