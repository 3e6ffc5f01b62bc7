//! Writes that reach an instance that does not lead are forwarded to the leader (issue 16): the
//! leader the writer's lease names now, at the URL it advertised (`KBOSS_ADVERTISE_URL`). The
//! leader runs the whole request (authentication, validation, the command) and its answer is
//! passed back as it is. Before answering, this instance waits (at most
//! [`FORWARDED_READ_WAIT`]) until the read models hold the answer's position, so the caller's
//! next read, here or on any instance of the same read store, sees its write.
//!
//! A request that was forwarded once is never forwarded again (`kboss-forwarded-by`): an
//! instance that stopped leading in between answers it 503 naming the new leader. Without a
//! leader URL (no live lease, or a leader that advertised none) the handler answers 503 itself.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::SharedState;

/// Set on a forwarded request: the forwarding instance's address.
pub const FORWARDED_HEADER: &str = "kboss-forwarded-by";
/// How long a forwarded request may take at the leader.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a forwarded write's answer waits for the read models to hold it.
pub const FORWARDED_READ_WAIT: Duration = Duration::from_secs(1);

/// Headers that belong to one connection, not to the request: never passed on.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client without TLS roots to load builds")
    })
}

/// The middleware: forwards a write to the leader when this instance does not lead.
pub async fn forward_writes(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let passes = request.method().is_safe()
        || state.settings.database_url.is_none()
        || state.writer.is_leader()
        || request.headers().contains_key(FORWARDED_HEADER);
    if passes {
        return next.run(request).await;
    }
    let Some(leader) = state.writer.leader_url() else { return next.run(request).await };
    let limit = state.settings.limits.body_bytes_max;
    let (parts, body) = request.into_parts();
    // The same limit the leader applies, answered the same way (413), before anything is sent.
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return ApiError::PayloadTooLarge { limit }.into_response();
    };
    match forward(&state, &leader, parts, body).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%leader, %error, "a write forwarded to the leader got no answer");
            ApiError::Unavailable(format!("the leader at {leader} did not answer; retry shortly")).into_response()
        }
    }
}

async fn forward(
    state: &SharedState,
    leader: &str,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Result<Response, String> {
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut forwarded = client().request(parts.method, format!("{}{path}", leader.trim_end_matches('/'))).body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(name) {
            forwarded = forwarded.header(name, value);
        }
    }
    let by = HeaderValue::from_str(&state.settings.listen.to_string()).unwrap_or(HeaderValue::from_static("kboss"));
    let answer = forwarded.header(FORWARDED_HEADER, by).send().await.map_err(|error| error.to_string())?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(|error| error.to_string())?;
    let position = answered_position(&headers, &bytes);
    if let Some(position) = position {
        // Read-your-writes across instances: the read store is shared, so once it holds the
        // position, every instance's next read sees the write.
        if state.read.wait_for(position, FORWARDED_READ_WAIT).await.is_err() {
            tracing::debug!(position, "a forwarded write is answered before the read models hold it");
        }
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    Ok(response)
}

/// The log position a forwarded answer reflects: a command's `position` (its JSON body), or a
/// read's `Kboss-Position`.
fn answered_position(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Answered {
        position: u64,
    }
    let header = headers.get(crate::routes::POSITION_HEADER).and_then(|value| value.to_str().ok());
    match header.and_then(|value| value.parse().ok()) {
        Some(position) => Some(position),
        None => serde_json::from_slice::<Answered>(body).ok().map(|answered| answered.position),
    }
}
