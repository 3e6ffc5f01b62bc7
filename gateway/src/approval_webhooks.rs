//! Each book's approval webhook (审批机器人): the URL its approval requests are posted to and the
//! secret that signs them, DingTalk robot style, and that verifies its IM client's callbacks.
//!
//! The signature is DingTalk's: `sign` = base64(HMAC-SHA256(key = secret, message = "<timestamp>\n
//! <secret>")), `timestamp` the Unix time in milliseconds, both sent as query parameters. The same
//! secret verifies a callback (`POST /v1/approvals/callback?timestamp=…&sign=…`): a timestamp more
//! than [`SIGNATURE_AGE_MAX`] away from now is stale, and the comparison takes constant time.
//!
//! DingTalk's signature covers the timestamp, not the message, so a URL the server signed (seen
//! by the IM service or a proxy on the way) would pass a callback check for an hour. The server
//! therefore remembers every timestamp it signed or accepted per book for that hour
//! ([`ApprovalWebhooks::first_use`]): each is good once, for one delivery or one callback, and a
//! signed URL replayed as a callback is refused. The memory is this instance's (a restart forgets
//! it; a follower answers callbacks 503 anyway, as every write).
//!
//! Where it is kept: in the gateway's own store, beside the operation log (`approval_webhooks`
//! in `operations.sqlite` or the log's PostgreSQL schema), not in the event log. Both the URL (a
//! robot's URL carries its access token) and the secret (read back to sign) are credentials, and
//! the event log is immutable, published to NATS and exported. The secret is never answered back.
//!
//! A leaf: imports `config`, `error` and `operation_log` (whose store it shares).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use ledger_core::ids::{OrgId, PrincipalId};
use uuid::Uuid;

use crate::config::Secret;
use crate::error::ApiError;
use crate::operation_log::{blocking, lock, unavailable, OperationLogError, OperationStore};

/// How far a callback's timestamp may be from now, either way.
pub const SIGNATURE_AGE_MAX: Duration = Duration::from_secs(3_600);
/// The shortest secret a book may set (DingTalk's are `SEC` and 64 hex digits).
pub const SECRET_LENGTH_MIN: usize = 16;
pub const SECRET_LENGTH_MAX: usize = 256;
pub const URL_LENGTH_MAX: usize = 2_048;
/// Timestamps remembered per book (those of the last hour): past it, the oldest are forgotten
/// early, and a replay of one of them within the hour would pass the check again.
pub const SEEN_PER_BOOK_MAX: usize = 100_000;

type HmacSha256 = hmac::Hmac<sha2_hmac::Sha256>;

/// A book's webhook as it is kept.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub book: OrgId,
    pub url: String,
    pub secret: Secret,
    pub updated_at: DateTime<Utc>,
    pub updated_by_token: PrincipalId,
    pub updated_by_user: Option<Uuid>,
}

/// Why a webhook's settings are refused: the field and the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub field: &'static str,
    pub reason: String,
}

/// Checks a webhook's URL (http or https, to one of `hosts`) and secret (its length).
pub fn check(url: &str, secret: &str, hosts: &[String]) -> Result<(), Refused> {
    let refused = |field, reason: String| Err(Refused { field, reason });
    if url.len() > URL_LENGTH_MAX {
        return refused("url", format!("must be at most {URL_LENGTH_MAX} characters"));
    }
    let Ok(parsed) = reqwest::Url::parse(url) else { return refused("url", "must be an absolute URL".to_owned()) };
    if !matches!(parsed.scheme(), "http" | "https") {
        return refused("url", "must be an http or https URL".to_owned());
    }
    let host = parsed.host_str().unwrap_or_default();
    if !hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)) {
        return refused("url", format!("must post to one of the hosts this deployment allows: {}", hosts.join(", ")));
    }
    let length = secret.chars().count();
    if !(SECRET_LENGTH_MIN..=SECRET_LENGTH_MAX).contains(&length) || secret.chars().any(char::is_control) {
        return refused("secret", format!("must be {SECRET_LENGTH_MIN} to {SECRET_LENGTH_MAX} visible characters"));
    }
    Ok(())
}

/// DingTalk's signature of `timestamp_ms` with `secret`: base64 of HMAC-SHA256("<timestamp>\n<secret>").
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(secret, timestamp_ms).finalize().into_bytes())
}

fn mac(secret: &str, timestamp_ms: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    mac
}

/// `url` with `timestamp` and `sign` added to its query, as a DingTalk robot expects them.
pub fn signed_url(url: &str, secret: &str, timestamp_ms: i64) -> Result<String, String> {
    let mut url = reqwest::Url::parse(url).map_err(|error| error.to_string())?;
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &sign(secret, timestamp_ms));
    Ok(url.into())
}

/// Why a callback's signature is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// No timestamp or sign, or not a number and base64.
    Malformed,
    /// The timestamp is more than [`SIGNATURE_AGE_MAX`] from now.
    Stale,
    /// The sign is not the secret's signature of the timestamp (or there is nothing to check it
    /// with: an unknown approval, a book without a webhook).
    Mismatch,
    /// The timestamp was already used: by a callback, or by the server to sign a notification.
    Replayed,
}

impl SignatureRefusal {
    pub fn code(self) -> &'static str {
        match self {
            SignatureRefusal::Malformed | SignatureRefusal::Mismatch => "bad_signature",
            SignatureRefusal::Stale => "stale_signature",
            SignatureRefusal::Replayed => "replayed_signature",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            SignatureRefusal::Malformed => "the callback needs `timestamp` (milliseconds) and `sign` (base64)",
            SignatureRefusal::Stale => "the callback's timestamp is more than an hour from now",
            SignatureRefusal::Mismatch => "the callback's sign is not the signature of its approval's book",
            SignatureRefusal::Replayed => "the callback's timestamp was already used; sign each callback afresh",
        }
    }
}

impl From<SignatureRefusal> for ApiError {
    fn from(refusal: SignatureRefusal) -> ApiError {
        ApiError::BadSignature { code: refusal.code(), detail: refusal.detail() }
    }
}

/// Checks a callback's `timestamp` and `sign` against `secret` at `now_ms`; answers the
/// timestamp. The HMAC is compared in constant time.
pub fn verify(secret: &str, timestamp: &str, sign: &str, now_ms: i64) -> Result<i64, SignatureRefusal> {
    let timestamp_ms: i64 = timestamp.trim().parse().map_err(|_| SignatureRefusal::Malformed)?;
    // A query decoded as a form reads an unescaped `+` of base64 as a space.
    let sign = sign.trim().replace(' ', "+");
    let tag = base64::engine::general_purpose::STANDARD.decode(sign).map_err(|_| SignatureRefusal::Malformed)?;
    let age_max = SIGNATURE_AGE_MAX.as_millis() as i64;
    if now_ms.abs_diff(timestamp_ms) > age_max as u64 {
        return Err(SignatureRefusal::Stale);
    }
    mac(secret, timestamp_ms).verify_slice(&tag).map_err(|_| SignatureRefusal::Mismatch)?;
    Ok(timestamp_ms)
}

/// The books' webhooks (in the gateway's store) and the timestamps signed or accepted in the
/// last hour. Cheap to clone.
#[derive(Clone)]
pub struct ApprovalWebhooks {
    store: OperationStore,
    seen: Arc<SeenTimestamps>,
}

/// The timestamps signed or accepted in the last hour, per book.
#[derive(Default)]
pub struct SeenTimestamps(Mutex<HashMap<OrgId, BTreeSet<i64>>>);

impl SeenTimestamps {
    /// Records that `timestamp_ms` was signed or accepted for `book`: true the first time, false
    /// for a timestamp already used (a replay). Forgets what is older than the signature's age.
    pub fn first_use(&self, book: OrgId, timestamp_ms: i64, now_ms: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let used = seen.entry(book).or_default();
        let oldest = now_ms.saturating_sub(SIGNATURE_AGE_MAX.as_millis() as i64);
        while used.first().is_some_and(|first| *first < oldest) {
            used.pop_first();
        }
        while used.len() >= SEEN_PER_BOOK_MAX {
            used.pop_first();
        }
        used.insert(timestamp_ms)
    }
}

const SELECT_SQLITE: &str = "SELECT url, secret, updated_at_micros, updated_by_token, updated_by_user \
     FROM approval_webhooks WHERE book = ?1";
const SELECT_POSTGRES: &str = "SELECT url, secret, updated_at_micros, updated_by_token, updated_by_user \
     FROM approval_webhooks WHERE book = $1";
const UPSERT_SQLITE: &str = "INSERT INTO approval_webhooks \
     (book, url, secret, updated_at_micros, updated_by_token, updated_by_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (book) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
     updated_at_micros = excluded.updated_at_micros, updated_by_token = excluded.updated_by_token, \
     updated_by_user = excluded.updated_by_user";
const UPSERT_POSTGRES: &str = "INSERT INTO approval_webhooks \
     (book, url, secret, updated_at_micros, updated_by_token, updated_by_user) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (book) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
     updated_at_micros = excluded.updated_at_micros, updated_by_token = excluded.updated_by_token, \
     updated_by_user = excluded.updated_by_user";

/// A stored row: url, secret, when, by which token, by whom.
type Stored = (String, String, i64, String, Option<String>);

impl ApprovalWebhooks {
    pub fn new(store: OperationStore) -> ApprovalWebhooks {
        ApprovalWebhooks { store, seen: Arc::default() }
    }

    /// The book's webhook, if it set one.
    pub async fn get(&self, book: OrgId) -> Result<Option<Webhook>, OperationLogError> {
        let stored: Option<Stored> = match &self.store {
            OperationStore::Sqlite { reader, .. } => {
                let reader = reader.clone();
                blocking(move || {
                    let connection = lock(&reader);
                    let mut statement = connection.prepare_cached(SELECT_SQLITE).map_err(unavailable)?;
                    let mut rows = statement.query([book.to_string()]).map_err(unavailable)?;
                    let Some(row) = rows.next().map_err(unavailable)? else { return Ok(None) };
                    let stored = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                    match stored {
                        (Ok(url), Ok(secret), Ok(at), Ok(token), Ok(user)) => Ok(Some((url, secret, at, token, user))),
                        _ => Err(OperationLogError::Corrupt(format!("the approval webhook of book {book}"))),
                    }
                })
                .await?
            }
            OperationStore::Postgres(pool) => {
                let client = pool.get().await.map_err(unavailable)?;
                let row = client.query_opt(SELECT_POSTGRES, &[&book.to_string()]).await.map_err(unavailable)?;
                match row {
                    None => None,
                    Some(row) => Some((
                        row.try_get(0).map_err(unavailable)?,
                        row.try_get(1).map_err(unavailable)?,
                        row.try_get(2).map_err(unavailable)?,
                        row.try_get(3).map_err(unavailable)?,
                        row.try_get(4).map_err(unavailable)?,
                    )),
                }
            }
        };
        let Some((url, secret, at, token, user)) = stored else { return Ok(None) };
        let corrupt = || OperationLogError::Corrupt(format!("the approval webhook of book {book}"));
        Ok(Some(Webhook {
            book,
            url,
            secret: Secret::new(secret),
            updated_at: DateTime::from_timestamp_micros(at).ok_or_else(corrupt)?,
            updated_by_token: token.parse().map_err(|_| corrupt())?,
            updated_by_user: user.map(|user| user.parse().map_err(|_| corrupt())).transpose()?,
        }))
    }

    /// Sets (or replaces) the book's webhook.
    pub async fn set(&self, webhook: Webhook) -> Result<(), OperationLogError> {
        let at = webhook.updated_at.timestamp_micros();
        let (book, token, user) = (
            webhook.book.to_string(),
            webhook.updated_by_token.to_string(),
            webhook.updated_by_user.map(|user| user.to_string()),
        );
        let (url, secret) = (webhook.url, webhook.secret.expose().to_owned());
        match &self.store {
            OperationStore::Sqlite { writer, .. } => {
                let writer = writer.clone();
                blocking(move || {
                    lock(&writer)
                        .execute(UPSERT_SQLITE, rusqlite::params![book, url, secret, at, token, user])
                        .map_err(unavailable)?;
                    Ok(())
                })
                .await
            }
            OperationStore::Postgres(pool) => {
                let client = pool.get().await.map_err(unavailable)?;
                client
                    .execute(UPSERT_POSTGRES, &[&book, &url, &secret, &at, &token, &user])
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }
        }
    }

    /// [`SeenTimestamps::first_use`] of this instance.
    pub fn first_use(&self, book: OrgId, timestamp_ms: i64, now_ms: i64) -> bool {
        self.seen.first_use(book, timestamp_ms, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_dingtalks() {
        // Computed independently: `printf '1700000000005\nSECxyz' | openssl dgst -sha256 -hmac SECxyz
        // -binary | base64`.
        assert_eq!(sign("SECxyz", 1_700_000_000_005), "/CBhI3DFdiNvci8/s+4clUGp7ded8OWhbqQm0DZTDMY=");
        let url = signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "SECxyz", 1_700_000_000_005);
        assert_eq!(
            url.unwrap(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000005\
             &sign=%2FCBhI3DFdiNvci8%2Fs%2B4clUGp7ded8OWhbqQm0DZTDMY%3D"
        );
    }

    #[test]
    fn a_callback_is_verified_fresh_and_exact() {
        let now = 1_700_000_000_005;
        let signed = sign("SECxyz", now);
        assert_eq!(verify("SECxyz", &now.to_string(), &signed, now + 5_000), Ok(now));
        // An unescaped `+` read as a space is still the signature.
        assert!(signed.contains('+'));
        assert_eq!(verify("SECxyz", &now.to_string(), &signed.replace('+', " "), now), Ok(now));
        assert_eq!(verify("another secret!!", &now.to_string(), &signed, now), Err(SignatureRefusal::Mismatch));
        assert_eq!(verify("SECxyz", &(now + 1).to_string(), &signed, now), Err(SignatureRefusal::Mismatch));
        let hour = SIGNATURE_AGE_MAX.as_millis() as i64;
        let old = sign("SECxyz", now - hour - 1);
        assert_eq!(verify("SECxyz", &(now - hour - 1).to_string(), &old, now), Err(SignatureRefusal::Stale));
        assert_eq!(verify("SECxyz", &(now - hour).to_string(), &sign("SECxyz", now - hour), now), Ok(now - hour));
        assert_eq!(verify("SECxyz", "soon", &signed, now), Err(SignatureRefusal::Malformed));
        assert_eq!(verify("SECxyz", &now.to_string(), "%%%", now), Err(SignatureRefusal::Malformed));
    }

    #[test]
    fn each_timestamp_is_good_once_for_an_hour() {
        let webhooks = SeenTimestamps::default();
        let (book, other, now) = (OrgId(Uuid::from_u128(1)), OrgId(Uuid::from_u128(2)), 1_700_000_000_000);
        assert!(webhooks.first_use(book, now, now));
        assert!(!webhooks.first_use(book, now, now + 1), "a replay");
        assert!(webhooks.first_use(other, now, now), "another book's");
        let hour = SIGNATURE_AGE_MAX.as_millis() as i64;
        assert!(webhooks.first_use(book, now + hour + 1, now + hour + 1));
        assert_eq!(webhooks.0.lock().unwrap()[&book].len(), 1, "what is older than an hour is forgotten");
    }

    #[test]
    fn urls_go_to_allowed_hosts_and_secrets_are_long_enough() {
        let hosts = ["oapi.dingtalk.com".to_owned()];
        assert_eq!(check("https://oapi.dingtalk.com/robot/send?access_token=x", "SEC0123456789abcdef", &hosts), Ok(()));
        let field = |url: &str, secret: &str| check(url, secret, &hosts).unwrap_err().field;
        assert_eq!(field("http://169.254.169.254/latest", "SEC0123456789abcdef"), "url");
        assert_eq!(field("ftp://oapi.dingtalk.com/x", "SEC0123456789abcdef"), "url");
        assert_eq!(field("robot/send", "SEC0123456789abcdef"), "url");
        assert_eq!(field("https://oapi.dingtalk.com/robot/send", "short"), "secret");
    }
}
