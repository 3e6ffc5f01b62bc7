//! Identifiers. Every id comes in with the command that creates the thing (the core makes no
//! randomness); the gateway mints UUID v7s.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn from_u128(value: u128) -> Self {
                $name(Uuid::from_u128(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, formatter)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}({})", stringify!($name), self.0)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                $name(uuid)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map($name)
            }
        }
    };
}

uuid_id!(
    /// An organisation: the platform, a reseller, a customer or a supplier.
    OrgId
);
uuid_id!(ProductId);
uuid_id!(OrderId);
uuid_id!(ApprovalId);
uuid_id!(PromotionId);
uuid_id!(RechargeId);
uuid_id!(WithdrawalId);
uuid_id!(UsageId);
uuid_id!(RenewalId);
uuid_id!(SerialBatchId);
uuid_id!(SettlementId);
uuid_id!(InvoiceId);
uuid_id!(
    /// A recorded reconciliation of a statement against a book's 1002 or 1012.
    ReconciliationId
);
uuid_id!(
    /// Who acted: a bearer token (its id). The person behind it is its user ([`UserId`]).
    PrincipalId
);
uuid_id!(
    /// A person of an org (staff, or a customer's member): the holder of tokens. Maker-checker
    /// compares these, so nobody approves their own request whichever token they use.
    UserId
);

/// The business key of a short code a person types: invite codes, serial codes.
macro_rules! code_id {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const LENGTH_MAX: usize = $max;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                let valid = !text.is_empty()
                    && text.len() <= Self::LENGTH_MAX
                    && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if valid {
                    Ok($name(text))
                } else {
                    Err(format!("must be 1 to {} letters, digits, '-' or '_'", Self::LENGTH_MAX))
                }
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }
    };
}

code_id!(
    /// 邀请码: leads a customer to a promotion of the seller that issued it.
    InviteCode,
    32
);
code_id!(
    /// 序列号: a prepaid server-rental package code, activated once.
    SerialCode,
    64
);
code_id!(
    /// A payment channel's trade number (Alipay `trade_no`), the idempotency key of a notification.
    TradeNumber,
    64
);
