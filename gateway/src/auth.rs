//! Bearer tokens: `kb_` + 32 random bytes (URL-safe base64), shown once, stored as the lowercase
//! hex SHA-256 of the token text only. Each request's token is hashed and resolved to a principal
//! (an org, the token's id, roles, the user it belongs to) through the read model, with an
//! in-memory cache in front.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;
use chrono::{DateTime, Utc};
use ledger_core::ids::{OrgId, PrincipalId, UserId};
use ledger_core::org::{Actor, Role};
use ledger_core::permissions::{self, Permission, PermissionSet};
use projections::ReadModels;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Unauthenticated};

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
pub const TOKEN_PREFIX: &str = "kb_";
/// Principals kept in memory; the cache is cleared when it would grow past this.
pub const TOKEN_CACHE_MAX: usize = 100_000;
/// The longest `Authorization` value looked at (a token is 46 characters).
pub const TOKEN_LENGTH_MAX: usize = 256;

/// A fresh token: `kb_` + URL-safe base64 (no padding) of 32 random bytes from the OS.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the log stores of a token: lowercase hex SHA-256 of its text.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How long a token's answer is kept in memory: a revocation reaches every instance (a follower
/// included) within this plus its read models' lag.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

/// Token hash → caller, each kept [`TOKEN_CACHE_TTL`]. A token issued through this gateway is
/// cached at once, before its projection catches up; a revocation through it clears the cache
/// once its read models hold the revocation.
#[derive(Clone, Default)]
pub struct TokenCache {
    callers: Arc<RwLock<HashMap<String, (Instant, Caller)>>>,
}

impl TokenCache {
    pub fn get(&self, hash: &str) -> Option<Caller> {
        let callers = self.callers.read().expect("token cache lock");
        callers.get(hash).filter(|(at, _)| at.elapsed() < TOKEN_CACHE_TTL).map(|(_, caller)| caller.clone())
    }

    pub fn insert(&self, hash: String, caller: Caller) {
        let mut callers = self.callers.write().expect("token cache lock");
        if callers.len() >= TOKEN_CACHE_MAX {
            callers.retain(|_, (at, _)| at.elapsed() < TOKEN_CACHE_TTL);
            if callers.len() >= TOKEN_CACHE_MAX {
                callers.clear();
            }
        }
        callers.insert(hash, (Instant::now(), caller));
    }

    /// Forgets every token: after a revocation, the next request of each is read again.
    pub fn clear(&self) {
        self.callers.write().expect("token cache lock").clear();
    }
}

/// Read-your-writes per token: the position of the last command each token had committed
/// through this instance. A request of that token waits (at most `READ_WAIT_MAX`) until the read
/// models hold it, so whatever it reads next (a GET, or the read a command's handler makes before
/// it submits) reflects its own writes without asking for `min_position`.
#[derive(Clone, Default)]
pub struct WrittenPositions {
    positions: Arc<RwLock<HashMap<PrincipalId, u64>>>,
}

impl WrittenPositions {
    /// The last position `token` wrote, if this instance committed one for it.
    pub fn of(&self, token: PrincipalId) -> Option<u64> {
        self.positions.read().expect("written positions lock").get(&token).copied()
    }

    /// Records that `token` wrote at `position`; `applied` (what the read models are known to
    /// hold) lets a full map drop the entries that need no wait any more.
    pub fn wrote(&self, token: PrincipalId, position: u64, applied: u64) {
        let mut positions = self.positions.write().expect("written positions lock");
        if positions.len() >= TOKEN_CACHE_MAX {
            positions.retain(|_, written| *written > applied);
            if positions.len() >= TOKEN_CACHE_MAX {
                positions.clear();
            }
        }
        let written = positions.entry(token).or_default();
        *written = position.max(*written);
    }
}

/// The authenticated caller of a request: the token's actor (its org, its id as the principal,
/// its roles), what those roles allow in its org, the person it acts for, and until when.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    /// The roles' permissions, the org's own definitions of them included.
    pub permissions: PermissionSet,
    /// None only for tokens issued before users.
    pub user_id: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Caller {
    /// A caller the gateway acts as itself (a payment channel's notification), not a token:
    /// its roles' default permissions.
    pub fn internal(actor: Actor) -> Caller {
        let permissions = permissions::resolve(&actor.roles, |_| None);
        Caller { actor, permissions, user_id: None, expires_at: None }
    }

    pub fn org_id(&self) -> OrgId {
        self.actor.org_id
    }

    /// The token's id (its principal).
    pub fn token_id(&self) -> PrincipalId {
        self.actor.principal_id
    }

    /// The platform's reader of every book.
    pub fn is_super_admin(&self) -> bool {
        self.actor.has(Role::SuperAdmin)
    }

    /// Staff of its org: any role but `customer` alone.
    pub fn is_staff(&self) -> bool {
        self.actor.roles.iter().any(|role| *role != Role::Customer)
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// A 403 naming the permission the caller lacks.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("needs the permission {permission}")))
        }
    }

    /// Data scope: staff without `customers.all` see only the customers their person owns.
    pub fn sees_every_customer(&self) -> bool {
        self.can(Permission::CustomersAll)
    }

    /// Whether the caller, as staff of the customer's seller, may see a customer owned by
    /// `owner` (the customer itself and the `super_admin` are the callers' concern).
    pub fn in_scope(&self, owner: Option<UserId>) -> bool {
        self.sees_every_customer() || (self.user_id.is_some() && owner == self.user_id)
    }
}

/// The bearer token of a request: a 401 saying whether the header is missing or malformed.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value =
        headers.get(axum::http::header::AUTHORIZATION).ok_or(ApiError::Unauthorized(Unauthenticated::Missing))?;
    let malformed = || ApiError::Unauthorized(Unauthenticated::Malformed);
    let value = value.to_str().map_err(|_| malformed())?;
    if value.len() > TOKEN_LENGTH_MAX {
        return Err(malformed());
    }
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
        Ok(token)
    } else {
        Err(malformed())
    }
}

/// The caller a request's bearer token names: from the cache, else from the tokens read model
/// (then cached). No token, a malformed header, a token nobody issued, a revoked or an expired
/// one is a 401 saying which.
pub async fn authenticate(headers: &HeaderMap, tokens: &TokenCache, read: &ReadModels) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    let hash = token_hash(token);
    let caller = match tokens.get(&hash) {
        Some(caller) => caller,
        None => {
            let principal =
                read.principal_by_token_hash(&hash).await?.ok_or(ApiError::Unauthorized(Unauthenticated::Unknown))?;
            if principal.revoked_at.is_some() {
                return Err(ApiError::Unauthorized(Unauthenticated::Revoked));
            }
            let actor = Actor::new(principal.org_id, principal.principal_id, principal.roles.iter().copied());
            let permissions = permissions_of(read, &actor).await?;
            let caller = Caller { actor, permissions, user_id: principal.user_id, expires_at: principal.expires_at };
            tokens.insert(hash, caller.clone());
            caller
        }
    };
    if caller.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::Unauthorized(Unauthenticated::Expired));
    }
    Ok(caller)
}

/// What `actor`'s roles allow: the org's definitions are read only when a role is definable.
pub async fn permissions_of(read: &ReadModels, actor: &Actor) -> Result<PermissionSet, ApiError> {
    if !actor.roles.iter().any(|role| role.definable()) {
        return Ok(permissions::resolve(&actor.roles, |_| None));
    }
    let defined = read.roles(actor.org_id).await?;
    Ok(permissions::resolve(&actor.roles, |role| {
        defined.iter().find(|definition| definition.role == role).map(|definition| definition.permissions)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed_as_hex() {
        let (first, second) = (generate_token(), generate_token());
        assert!(first.starts_with(TOKEN_PREFIX));
        assert_eq!(first.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(first, second);
        let hash = token_hash(&first);
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)));
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
