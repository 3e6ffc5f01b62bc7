//! Approval policies as data, per book (审批策略), and the approval webhook of each book with its
//! signed callback.
//!
//! - `PUT/GET /v1/books/{org_id}/approval-policy`: the book's whole policy, set by its admin (an
//!   `ApprovalPolicySet` event; the ledger checks the rules and names the one at fault,
//!   `rules[2].levels`); read by its staff, answered as the effective policy (every action that
//!   waits for approval, the book's own rules and the defaults) with the position it was set at.
//! - `PUT/GET /v1/books/{org_id}/approval-webhook`: where the book's approval requests are posted
//!   and the secret that signs them (`crate::approval_webhooks`); the admin's alone; the secret is
//!   never answered back. Configuration of the gateway kept in its own store, not the ledger's
//!   log, so the gateway checks the caller itself: the book's `admin` (or the platform's
//!   `super_admin` for the platform's book).
//! - `POST /v1/approvals/callback?timestamp=…&sign=…`: the IM client approves or rejects as a
//!   named user of the book, signed with the book's webhook secret; a bad, stale or replayed
//!   signature is a 401 and nothing is decided.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use ledger_core::approval_policy::{effective_rules, ApprovalAction, ApprovalLevel, ApprovalRule};
use ledger_core::ids::{ApprovalId, OrgId, PrincipalId, UserId};
use ledger_core::org::{Actor, Role};
use ledger_core::permissions::Permission;
use ledger_core::{ApprovalCommand, CommandBody};
use serde::de::value::StrDeserializer;
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::{decide_as, Decision};
use super::{parse, Answer, Fresh, IdempotencyHeader, JsonBody, Params, Read};
use crate::approval_webhooks::{self, SignatureRefusal, Webhook};
use crate::auth::Caller;
use crate::config::Secret;
use crate::error::{ApiError, Problem};
use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/books/{org_id}/approval-policy", put(set_policy).get(get_policy))
        .route("/v1/books/{org_id}/approval-webhook", put(set_webhook).get(get_webhook))
        .route("/v1/approvals/callback", post(callback))
}

/// A rule as a book writes it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// `offline_recharge`, `transfer_recharge`, `coupon`, `withdrawal`, `refund`,
    /// `public_rate_below_cost`, `customer_rate_below_cost`, `reseller_rate_below_cost`,
    /// `promotion_below_cost`, `credit_limit_raise`, `manual_journal_entry` or
    /// `settlement_payment`.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub action: ApprovalAction,
    /// An amount at or below it goes through at once; not for withdrawals, settlement payments
    /// and prices below cost, which always wait.
    pub above: Option<String>,
    /// One to three levels, in order, each the roles any of which its approver holds.
    #[serde(deserialize_with = "role_levels")]
    #[schema(value_type = Vec<Vec<String>>)]
    pub levels: Vec<Vec<Role>>,
}

/// Levels of roles: a word outside the roles is refused as any closed set's (422 naming the
/// rule's `levels`).
fn role_levels<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<Role>>, D::Error> {
    Vec::<Vec<String>>::deserialize(deserializer)?
        .iter()
        .map(|level| {
            level
                .iter()
                .map(|name| Role::deserialize(StrDeserializer::<serde::de::value::Error>::new(name)))
                .collect::<Result<Vec<Role>, _>>()
        })
        .collect::<Result<_, _>>()
        .map_err(D::Error::custom)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// The book's rules; an action it names no rule for follows its default.
    pub rules: Vec<RuleBody>,
}

/// A rule of the effective policy.
#[derive(Serialize, ToSchema)]
pub struct RuleAnswer {
    pub action: String,
    pub above: Option<String>,
    pub levels: Vec<Vec<String>>,
    /// The action's default (the book set no rule for it).
    pub default: bool,
}

/// A book's effective approval policy: every action that waits for approval, with its rule.
#[derive(Serialize, ToSchema)]
pub struct PolicyAnswer {
    pub org_id: String,
    /// The position of the `ApprovalPolicySet` in force; null while the book follows the defaults.
    pub position: Option<u64>,
    pub rules: Vec<RuleAnswer>,
}

fn policy_answer(book: OrgId, rules: &[ApprovalRule], position: Option<u64>) -> PolicyAnswer {
    let levels = |levels: &[ApprovalLevel]| -> Vec<Vec<String>> {
        levels.iter().map(|level| level.iter().map(super::json_text).collect()).collect()
    };
    PolicyAnswer {
        org_id: book.to_string(),
        position,
        rules: effective_rules(rules)
            .into_iter()
            .map(|(rule, default)| RuleAnswer {
                action: rule.action.as_str().to_owned(),
                above: rule.above.map(|above| above.to_string()),
                levels: levels(&rule.levels),
                default,
            })
            .collect(),
    }
}

/// Set a book's whole approval policy (its admin): which actions wait for approval, above which
/// amount, approved by whom, level by level. A bad rule is a 422 naming it (`rules[2].levels`).
#[utoipa::path(put, path = "/v1/books/{org_id}/approval-policy", tag = "approvals", request_body = PolicyBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = PolicyAnswer), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "a bad rule, its field named: `rules[2].levels`, `rules[0].above`")))]
pub async fn set_policy(
    State(state): State<SharedState>,
    caller: Caller,
    IdempotencyHeader(key): IdempotencyHeader,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> Result<Answer<PolicyAnswer>, ApiError> {
    let book: OrgId = parse::path_id("book", &org_id)?;
    let mut rules = Vec::with_capacity(body.rules.len());
    for (index, rule) in body.rules.into_iter().enumerate() {
        let above = rule.above.map(|above| parse::amount(&format!("rules[{index}].above"), &above)).transpose()?;
        let levels = rule.levels.into_iter().map(|level| level.into_iter().collect::<BTreeSet<Role>>()).collect();
        rules.push(ApprovalRule { action: rule.action, above, levels });
    }
    let command = CommandBody::Approval(ApprovalCommand::SetApprovalPolicy { book, rules: rules.clone() });
    let committed = state.execute(&caller, &key, command).await?;
    Ok(Answer(StatusCode::OK, policy_answer(book, &rules, Some(committed.position))))
}

/// A book the caller reads as its staff (or the platform's `super_admin`): else not found.
async fn readable_book(state: &SharedState, caller: &Caller, org_id: &str) -> Result<OrgId, ApiError> {
    let book: OrgId = parse::path_id("book", org_id)?;
    let visible = caller.is_super_admin() || (caller.org_id() == book && caller.is_staff());
    let org = if visible { state.read.org(book).await? } else { None };
    match org {
        Some(org) if org.kind.keeps_book() => Ok(book),
        _ => Err(ApiError::NotFound { what: "book" }),
    }
}

/// A book's effective approval policy: its own rules and the defaults, with the position the
/// policy was set at (its staff, and the platform's `super_admin`).
#[utoipa::path(get, path = "/v1/books/{org_id}/approval-policy", tag = "approvals", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = PolicyAnswer), (status = 404, body = Problem)))]
pub async fn get_policy(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
) -> Result<Read<PolicyAnswer>, ApiError> {
    let book = readable_book(&state, &caller, &org_id).await?;
    let answer = match state.read.approval_policy(book).await? {
        Some(policy) => policy_answer(book, &policy.rules, Some(policy.position)),
        None => policy_answer(book, &[], None),
    };
    Ok(Read(position, answer))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where the book's approval requests are posted (a DingTalk robot's URL, with its
    /// `access_token`), on a host the deployment allows (`KBOSS_APPROVAL_WEBHOOK_HOSTS`).
    pub url: String,
    /// The robot's signing secret (DingTalk's `SEC…`); never answered back.
    pub secret: String,
}

/// A book's approval webhook, without its secret.
#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    pub org_id: String,
    /// Null while the book has none (its requests go to the deployment's webhook, if any).
    pub url: Option<String>,
    /// Whether a secret is set (it is never shown).
    pub secret_set: bool,
    pub updated_at: Option<String>,
    /// The person (user id) who set it; for a token issued before users, the token's id.
    pub updated_by: Option<String>,
}

fn webhook_answer(book: OrgId, webhook: Option<&Webhook>) -> WebhookAnswer {
    WebhookAnswer {
        org_id: book.to_string(),
        url: webhook.map(|webhook| webhook.url.clone()),
        secret_set: webhook.is_some(),
        updated_at: webhook.map(|webhook| webhook.updated_at.to_rfc3339()),
        updated_by: webhook.map(|webhook| {
            webhook.updated_by_user.map_or_else(|| webhook.updated_by_token.to_string(), |user| user.to_string())
        }),
    }
}

/// The book whose webhook the caller administers: its own book, with `approval_policy.write`
/// (its `admin` by default; the platform's `super_admin` is its book's admin). Another tenant's
/// book is not found; staff without the permission are refused.
async fn administered_book(state: &SharedState, caller: &Caller, org_id: &str) -> Result<OrgId, ApiError> {
    let book: OrgId = parse::path_id("book", org_id)?;
    let org = if caller.org_id() == book && caller.is_staff() { state.read.org(book).await? } else { None };
    if !org.is_some_and(|org| org.kind.keeps_book()) {
        return Err(ApiError::NotFound { what: "book" });
    }
    caller.require(Permission::ApprovalPolicyWrite)?;
    Ok(book)
}

/// Set the book's approval webhook (its admin): the URL its approval requests are posted to and
/// the secret that signs them, DingTalk style, and verifies its IM client's callbacks.
#[utoipa::path(put, path = "/v1/books/{org_id}/approval-webhook", tag = "approvals", request_body = WebhookBody,
    security(("bearer" = [])), params(("org_id" = String, Path)),
    responses((status = 200, body = WebhookAnswer), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_webhook(
    State(state): State<SharedState>,
    caller: Caller,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<WebhookBody>,
) -> Result<Answer<WebhookAnswer>, ApiError> {
    let book = administered_book(&state, &caller, &org_id).await?;
    approval_webhooks::check(&body.url, &body.secret, &state.settings.approval_webhook_hosts)
        .map_err(|refused| ApiError::invalid("invalid_field", refused.field, refused.reason))?;
    // Kept in microseconds: the answer shows what a read will.
    let now = Utc::now();
    let webhook = Webhook {
        book,
        url: body.url,
        secret: Secret::new(body.secret),
        updated_at: DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
        updated_by_token: caller.token_id(),
        updated_by_user: caller.user_id.map(|user| user.0),
    };
    state.webhooks.set(webhook.clone()).await?;
    tracing::info!(%book, token = %caller.token_id(), "approval webhook set");
    Ok(Answer(StatusCode::OK, webhook_answer(book, Some(&webhook))))
}

/// The book's approval webhook, without its secret (its admin).
#[utoipa::path(get, path = "/v1/books/{org_id}/approval-webhook", tag = "approvals", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = WebhookAnswer), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
) -> Result<Read<WebhookAnswer>, ApiError> {
    let book = administered_book(&state, &caller, &org_id).await?;
    let webhook = state.webhooks.get(book).await?;
    Ok(Read(position, webhook_answer(book, webhook.as_ref())))
}

/// `timestamp` (Unix milliseconds) and `sign` (base64 HMAC-SHA256 of "timestamp\nsecret"), as
/// DingTalk signs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackQuery {
    pub timestamp: Option<String>,
    pub sign: Option<String>,
}

/// `approve` or `reject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackDecision {
    Approve,
    Reject,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackBody {
    pub approval_id: String,
    /// `approve` or `reject`.
    #[serde(deserialize_with = "super::word")]
    #[schema(value_type = String)]
    pub decision: CallbackDecision,
    /// The user of the approval's book who decides: one of their tokens that is neither revoked
    /// nor expired acts for them (one holding a role of the level the approval waits at, if any).
    pub user_id: String,
    pub comment: Option<String>,
}

/// What the callback needs of the decision state: the approval's book, the roles of the level it
/// waits at, whether the user is the book's, and the user's valid tokens with their roles.
struct CallbackFacts {
    book: OrgId,
    level_roles: ApprovalLevel,
    user_of_book: bool,
    tokens: Vec<(PrincipalId, BTreeSet<Role>, Option<DateTime<Utc>>)>,
}

/// The IM client decides an approval as a named user of its book: `timestamp` and `sign` (query)
/// verified with the book's webhook secret, in constant time, the timestamp within an hour of now
/// and used once. A bad, stale or replayed signature (or an approval without a signed webhook)
/// is a 401 and nothing is decided; then the decision is the user's, as `…/approve` or
/// `…/reject` with one of their tokens.
#[utoipa::path(post, path = "/v1/approvals/callback", tag = "approvals", request_body = CallbackBody,
    params(("timestamp" = String, Query, description = "Unix time in milliseconds"),
        ("sign" = String, Query, description = "base64(HMAC-SHA256(secret, \"<timestamp>\\n<secret>\"))")),
    responses((status = 200, body = Decision),
        (status = 401, body = Problem, description = "bad_signature, stale_signature or replayed_signature: nothing decided"),
        (status = 403, body = Problem, description = "the user holds no valid token, or the level's roles"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn callback(
    State(state): State<SharedState>,
    Params(query): Params<CallbackQuery>,
    JsonBody(body): JsonBody<CallbackBody>,
) -> Result<Answer<Decision>, ApiError> {
    let refused = ApiError::from;
    let (Some(timestamp), Some(sign)) = (query.timestamp, query.sign) else {
        return Err(refused(SignatureRefusal::Malformed));
    };
    // Malformed ids tell nobody anything: refused like an unknown approval.
    let (Ok(approval_id), Ok(user_id)) = (body.approval_id.parse::<ApprovalId>(), body.user_id.parse::<UserId>())
    else {
        return Err(refused(SignatureRefusal::Mismatch));
    };
    let writer = state.writer.handle()?;
    let now = Utc::now();
    let facts = writer
        .inspect(move |ledger| {
            let approval = ledger.approvals.get(&approval_id)?;
            let book = approval.request.book;
            let mut tokens: Vec<_> = ledger
                .principals
                .iter()
                .filter(|(_, token)| token.user_id == Some(user_id) && token.org_id == book && !token.revoked)
                .filter(|(_, token)| token.expires_at.is_none_or(|at| at > now))
                .map(|(id, token)| (*id, token.roles.clone(), token.expires_at))
                .collect();
            tokens.sort_by_key(|(id, _, _)| *id);
            Some(CallbackFacts {
                book,
                level_roles: approval.current_level().map(|(_, roles)| roles.clone()).unwrap_or_default(),
                user_of_book: ledger.users.get(&user_id).is_some_and(|user| user.org_id == book),
                tokens,
            })
        })
        .await
        .flatten();
    // An unknown approval, or a book without a webhook, cannot be verified: the same 401.
    let facts = facts.ok_or(refused(SignatureRefusal::Mismatch))?;
    let webhook = state.webhooks.get(facts.book).await?.ok_or(refused(SignatureRefusal::Mismatch))?;
    let now_ms = now.timestamp_millis();
    let timestamp_ms =
        approval_webhooks::verify(webhook.secret.expose(), &timestamp, &sign, now_ms).map_err(refused)?;
    if !state.webhooks.first_use(facts.book, timestamp_ms, now_ms) {
        return Err(refused(SignatureRefusal::Replayed));
    }
    // The book's IM client from here: it may be told what is wrong.
    if !facts.user_of_book {
        return Err(ApiError::invalid("invalid_field", "user_id", "not a user of the approval's book"));
    }
    let fits = |roles: &BTreeSet<Role>| roles.iter().any(|role| facts.level_roles.contains(role));
    let token = facts.tokens.iter().find(|(_, roles, _)| fits(roles)).or(facts.tokens.first());
    let Some((principal, roles, expires_at)) = token else {
        return Err(ApiError::Forbidden(
            "the user holds no token of the book that is neither revoked nor expired".into(),
        ));
    };
    let actor = Actor::new(facts.book, *principal, roles.iter().copied());
    let permissions = crate::auth::permissions_of(&state.read, &actor).await?;
    let caller = Caller { actor, permissions, user_id: Some(user_id), expires_at: *expires_at };
    let grant = body.decision == CallbackDecision::Approve;
    decide_as(&state, &caller, &None, approval_id, grant, body.comment).await
}
