//! Audit: one book verified against the log (`GET /v1/books/{org_id}/verify`), the deployment's
//! public key, which checks close certificates (`GET /v1/audit/public-key`), and a book's
//! certificates, each close's and each reopen's, signed again from its event when read
//! (`GET /v1/books/{org_id}/certificates`; Ed25519 is deterministic: the same bytes each time).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use event_log::{AsyncLog, LogRead};
use serde::Serialize;
use utoipa::ToSchema;

use super::finance::readable_book;
use super::{Fresh, Page, Paging, Params, Read};
use crate::audit::{PublicKeyBody, SignedCertificate, ALGORITHM};
use crate::auth::Caller;
use crate::error::{ApiError, Problem as ApiProblem};
use crate::state::SharedState;
use crate::verify::{audit_log, compare_book, open_reader, read_book, Problem};
use ledger_core::EventPayload;
use serde::Deserialize;

/// One verification at a time per instance: each replays the whole log.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v1/books/{org_id}/verify", get(verify_book))
        .route("/v1/books/{org_id}/certificates", get(certificates))
        .route("/v1/audit/public-key", get(public_key))
}

#[derive(Serialize, ToSchema)]
pub struct CertificateItem {
    /// `close` or `reopen`.
    pub kind: String,
    /// The position of its `PeriodClosed` or `PeriodReopened`.
    pub position: u64,
    /// The last day of the period closed or reopened.
    pub through: String,
    /// Signed with the deployment's key: `kboss audit check` checks it offline against the
    /// book's CSV export.
    pub certificate: SignedCertificate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateParams {
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// A book's certificates, oldest first: each close's, and each reopen's (a reopened period's
/// old certificate stays listed, and checkable).
#[utoipa::path(get, path = "/v1/books/{org_id}/certificates", tag = "audit", security(("bearer" = [])),
    params(("org_id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, body = Page<CertificateItem>), (status = 400, body = ApiProblem),
        (status = 404, body = ApiProblem)))]
pub async fn certificates(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
    Params(params): Params<CertificateParams>,
) -> Result<Read<Page<CertificateItem>>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let paging = Paging::new(&state, params.limit, params.cursor)?;
    let page = state.read.period_events(book, paging.cursor.as_deref(), paging.limit).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for view in &page.items {
        let at = view.position;
        let event = state
            .with_log(move |log| log.read_one(at))
            .await?
            .ok_or_else(|| ApiError::Internal(format!("no event at position {}", view.position)))?;
        let certificate = match &event.event.payload {
            EventPayload::PeriodReopened(reopened) => {
                let last = reopened.last_position;
                let before = state.with_log(move |log| log.read_one(last)).await?;
                let chain_hash = before.map_or_else(|| ledger_core::event::GENESIS_HASH.to_owned(), |event| event.hash);
                state.audit_key.certify_reopen(&event, chain_hash)
            }
            _ => state.audit_key.certify(&event),
        };
        items.push(CertificateItem {
            kind: view.kind.clone(),
            position: view.position,
            through: view.through.to_string(),
            certificate: certificate.map_err(ApiError::Internal)?,
        });
    }
    let next = projections::Page { items, next_cursor: page.next_cursor };
    Ok(Read(position, Page::of(next, paging, |item| item)))
}

#[derive(Serialize, ToSchema)]
pub struct VerifyBody {
    /// True when nothing is wrong: no problem below.
    pub ok: bool,
    /// The last log position verified (the hash chain from position 1 through it).
    pub checked_through: u64,
    /// The position the book's read models were compared at with the log's figures (trial
    /// balance, customers' wallets); null when they kept moving while read.
    pub read_models_checked_at: Option<u64>,
    /// Every discrepancy that concerns the book (or the whole log), with the position that
    /// caused it where one did.
    pub problems: Vec<Problem>,
}

/// Verify one book: the hash chain from position 1, its entries balanced and its trial balance
/// zero, its inter-company pairs and its receivables and payables with every other book netting
/// to zero, its customers' wallets, and its read models (trial balance, wallets) against the log.
#[utoipa::path(get, path = "/v1/books/{org_id}/verify", tag = "audit", security(("bearer" = [])),
    params(("org_id" = String, Path)),
    responses((status = 200, body = VerifyBody), (status = 404, body = ApiProblem)))]
pub async fn verify_book(
    State(state): State<SharedState>,
    caller: Caller,
    Fresh(position): Fresh,
    Path(org_id): Path<String>,
) -> Result<Read<VerifyBody>, ApiError> {
    let book = readable_book(&caller, &org_id)?;
    let org = state.read.org(book).await?.filter(|org| org.kind.keeps_book());
    org.ok_or(ApiError::NotFound { what: "book" })?;
    let _turn = VERIFYING.acquire().await.map_err(|_| ApiError::Unavailable("verification is stopping".into()))?;
    let read_models = read_book(&state.read, book).await?;
    let settings = state.settings.clone();
    let reader = tokio::task::spawn_blocking(move || open_reader(&settings))
        .await
        .map_err(|error| ApiError::Internal(format!("opening a reader: {error}")))?
        .map_err(|error| {
            tracing::warn!(%error, "verify: the log cannot be opened");
            ApiError::Unavailable("the log is unavailable; retry shortly".into())
        })?;
    let log = AsyncLog::new(reader);
    let figures_at = read_models.as_ref().map(|read| (book, read.position));
    let findings = log.call(move |reader| audit_log(reader, figures_at, |_| {})).await;
    let mut problems: Vec<Problem> = findings
        .problems
        .into_iter()
        .filter(|(_, books)| books.is_empty() || books.contains(&book))
        .map(|(problem, _)| problem)
        .collect();
    let mut read_models_checked_at = None;
    if let (Some(read), Some(figures)) = (&read_models, &findings.figures) {
        problems.extend(compare_book(read, figures));
        read_models_checked_at = Some(read.position);
    }
    Ok(Read(
        position,
        VerifyBody {
            ok: problems.is_empty(),
            checked_through: findings.checked_through,
            read_models_checked_at,
            problems,
        },
    ))
}

/// The deployment's Ed25519 public key, which checks every close certificate's signature.
#[utoipa::path(get, path = "/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = PublicKeyBody)))]
pub async fn public_key(State(state): State<SharedState>, Fresh(position): Fresh) -> Read<PublicKeyBody> {
    Read(position, PublicKeyBody { algorithm: ALGORITHM.to_owned(), public_key: state.audit_key.public_key() })
}
