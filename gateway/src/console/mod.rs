//! The finance console (`/console`): the back office in a browser, served by `kboss serve`.
//!
//! A presentation layer only. Every figure it shows and every action it takes is a request to the
//! JSON API, made in-process through the same router (`tower::ServiceExt::oneshot`) with the
//! signed-in person's bearer token: the same caller extractor, the same permission table
//! (`access.rs`), the same tenancy checks of the read handlers and the same command pipeline
//! (`AppState::execute`) as `curl` gets. There is no second access-control path: what a person
//! sees and can press follows what the API answers them (and `GET /v1/me`'s permissions decide
//! which links and buttons are drawn).
//!
//! Pages are rendered on the server with maud (compiled into the binary, HTML-escaped by
//! default); there is no JavaScript. Sessions: a sign-in with a token makes a random session id
//! kept in memory here (the token never reaches the browser again), sent back as an HttpOnly,
//! SameSite=Strict cookie scoped to `/console`. Every form carries the session's CSRF token
//! (the sign-in form a double-submit cookie's) and a POST without it is refused (403). Forms
//! also carry an idempotency key, so a form sent twice books once.

mod pages;
mod text;
mod view;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rand::RngCore;
use serde_json::Value;
use tower::ServiceExt;

use crate::state::SharedState;
pub use text::Lang;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kboss_session";
/// The sign-in form's double-submit cookie.
pub const SIGN_IN_COOKIE: &str = "kboss_signin";
/// The language a person chose with the switch.
pub const LANG_COOKIE: &str = "kboss_lang";
/// A session unused this long is forgotten.
pub const SESSION_IDLE_MAX: Duration = Duration::from_secs(30 * 60);
/// A session is forgotten this long after its sign-in, used or not.
pub const SESSION_AGE_MAX: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions held at once by one instance; past it the oldest is forgotten.
pub const SESSIONS_MAX: usize = 10_000;
/// The largest API answer the console reads (an export is streamed through, not read).
pub const API_BODY_MAX: usize = 64 * 1024 * 1024;

/// A signed-in person: their token (never sent to the browser), the CSRF token of their forms.
#[derive(Clone)]
struct Session {
    token: String,
    csrf: String,
    started: Instant,
    seen: Instant,
}

/// The console's state: the API it calls (the whole router, layers included) and the sessions.
#[derive(Clone)]
pub struct Console {
    api: Router,
    app: SharedState,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

/// The console's routes, and `/` redirecting to it. `api` is the router of the API.
pub fn routes(api: Router, app: SharedState) -> Router {
    let console = Console { api, app, sessions: Arc::default() };
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(pages::dashboard))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/lang/{code}", get(switch_lang))
        .route("/console/approvals", get(pages::approvals))
        .route("/console/approvals/{id}/decide", post(pages::decide))
        .route("/console/customers", get(pages::customers))
        .route("/console/customers/{id}", get(pages::customer))
        .route("/console/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/console/resellers", get(pages::resellers))
        .route("/console/orders", get(pages::orders).post(pages::place_order))
        .route("/console/orders/{id}", get(pages::order))
        .route("/console/orders/{id}/pay", post(pages::pay_order))
        .route("/console/orders/{id}/refund", post(pages::refund_order))
        .route("/console/books", get(pages::books))
        .route("/console/books/ledger", get(pages::ledger))
        .route("/console/books/export", get(pages::export))
        .route("/console/events/{position}", get(pages::event))
        .route("/console/settlements", get(pages::settlements).post(pages::run_statement))
        .route("/console/settlements/{id}", get(pages::settlement))
        .route("/console/settlements/{id}/pay", post(pages::pay_settlement))
        .route("/console/periods/close", post(pages::close_period))
        .route("/console/operations", get(pages::operations))
        .with_state(console)
}

/// What the API answered: the status and the body read as JSON (a problem's too).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// A refusal by the API, as the page shows it: the problem's title, detail and field.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    pub field: Option<String>,
}

impl Problem {
    fn of(status: StatusCode, body: &Value) -> Problem {
        let text = |name: &str| body[name].as_str().unwrap_or("").to_owned();
        Problem {
            status,
            title: if text("title").is_empty() { status.to_string() } else { text("title") },
            detail: text("detail"),
            field: body["field"].as_str().map(str::to_owned),
        }
    }
}

/// One request's context: the person (from `GET /v1/me`), their session and language.
pub struct Ctx {
    pub lang: Lang,
    pub token: String,
    pub csrf: String,
    pub me: Value,
    pub permissions: Vec<String>,
    /// The books' UTC offset (`KBOSS_UTC_OFFSET`): times are shown at it.
    pub offset: chrono::FixedOffset,
    /// The client's address, passed on to the API (the operation log's client).
    peer: Option<SocketAddr>,
}

impl Ctx {
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// An instant the API answered (RFC 3339), at the books' offset: `2026-01-15 17:00 +08:00`
    /// (`UTC` at offset zero); anything else as it is.
    pub fn when(&self, instant: &str) -> String {
        view::when(instant, self.offset)
    }

    pub fn can(&self, permission: &str) -> bool {
        self.permissions.iter().any(|held| held == permission)
    }

    pub fn org(&self) -> &str {
        self.me["org_id"].as_str().unwrap_or("")
    }

    pub fn is_customer(&self) -> bool {
        self.me["org_kind"] == "customer"
    }
}

impl Console {
    /// The signed-in person, or the answer that sends them to sign in.
    async fn ctx(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Result<Ctx, Response> {
        let lang = language(headers);
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return Err(Redirect::to("/console/sign-in").into_response());
        };
        let session = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let now = Instant::now();
            match sessions.get_mut(&id) {
                Some(session)
                    if now.duration_since(session.seen) < SESSION_IDLE_MAX
                        && now.duration_since(session.started) < SESSION_AGE_MAX =>
                {
                    session.seen = now;
                    Some(session.clone())
                }
                Some(_) => {
                    sessions.remove(&id);
                    None
                }
                None => None,
            }
        };
        let Some(session) = session else {
            return Err(Redirect::to("/console/sign-in").into_response());
        };
        let me = self.call_as(&session.token, peer, Method::GET, "/v1/me", None, None).await;
        if me.status != StatusCode::OK {
            // Revoked or expired: the session ends with the token.
            self.sessions.lock().expect("sessions lock").remove(&id);
            return Err(Redirect::to("/console/sign-in").into_response());
        }
        let permissions = me.body["permissions"]
            .as_array()
            .map(|list| list.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let offset = self.app.clock.offset();
        Ok(Ctx { lang, token: session.token, csrf: session.csrf, me: me.body, permissions, offset, peer })
    }

    /// A request to the API with `token`, through the whole router.
    async fn call_as(
        &self,
        token: &str,
        peer: Option<SocketAddr>,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Answer {
        match self.raw(token, peer, method, path, body, idempotency_key).await {
            Ok(response) => {
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), API_BODY_MAX).await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
                Answer { status, body }
            }
            Err(status) => Answer { status, body: Value::Null },
        }
    }

    async fn raw(
        &self,
        token: &str,
        peer: Option<SocketAddr>,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Response, StatusCode> {
        let mut request = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(key) = idempotency_key {
            request = request.header(crate::routes::IDEMPOTENCY_HEADER, key);
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let mut request = request.body(body).map_err(|_| StatusCode::BAD_REQUEST)?;
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        self.api.clone().oneshot(request).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A read as the person, fresh as of everything committed so far (another person's writes
    /// included: what the console shows is never older than what was just done).
    pub async fn get(&self, ctx: &Ctx, path: &str) -> Result<Value, Problem> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{separator}min_position={}", self.app.writer.position());
        let answer = self.call_as(&ctx.token, ctx.peer, Method::GET, &path, None, None).await;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(Problem::of(answer.status, &answer.body))
        }
    }

    /// A command as the person, with the form's idempotency key.
    pub async fn send(
        &self,
        ctx: &Ctx,
        method: Method,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Result<Value, Problem> {
        let key = key.filter(|key| !key.is_empty());
        let answer = self.call_as(&ctx.token, ctx.peer, method, path, Some(body), key).await;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(Problem::of(answer.status, &answer.body))
        }
    }

    /// `/metrics` as text (public, like the API's).
    pub async fn metrics_text(&self) -> String {
        let answer = self.call_as("", None, Method::GET, "/metrics", None, None).await;
        answer.body.as_str().unwrap_or("").to_owned()
    }

    /// An API answer passed through as a download (an export): its status, type and name.
    pub async fn download(&self, ctx: &Ctx, path: &str) -> Response {
        match self.raw(&ctx.token, ctx.peer, Method::GET, path, None, None).await {
            Ok(response) if response.status().is_success() => {
                let mut out = Response::new(Body::empty());
                for name in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
                    if let Some(value) = response.headers().get(&name) {
                        out.headers_mut().insert(name, value.clone());
                    }
                }
                *out.body_mut() = response.into_body();
                out
            }
            Ok(response) => {
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), API_BODY_MAX).await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                view::problem_page(ctx, &Problem::of(status, &body), "/console/books")
            }
            Err(status) => status.into_response(),
        }
    }

    pub fn today(&self) -> chrono::NaiveDate {
        self.app.clock.today()
    }

    pub fn writer_position(&self) -> u64 {
        self.app.writer.position()
    }
}

/// A random value for a session id, a CSRF token or an idempotency key: 256 bits, hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The value of the cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name && !value.is_empty()).then(|| value.to_owned())
        })
    })
}

/// The person's language: the switch's cookie, else the browser's.
pub fn language(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(|code| Lang::parse(&code)).unwrap_or_else(|| {
        Lang::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or(""))
    })
}

/// Equal, in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<u64>) {
    let age = max_age.map(|seconds| format!("; Max-Age={seconds}")).unwrap_or_default();
    let line = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{age}");
    if let Ok(value) = HeaderValue::from_str(&line) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The form's CSRF token checked against the session's; the refusal page otherwise.
pub fn check_csrf(ctx: &Ctx, form: &HashMap<String, String>) -> Result<(), Response> {
    match form.get("csrf") {
        Some(sent) if same(sent, &ctx.csrf) => Ok(()),
        _ => Err(view::csrf_refused(ctx.lang)),
    }
}

async fn sign_in_page(headers: HeaderMap) -> Response {
    let lang = language(&headers);
    let nonce = random_hex();
    let mut response = view::sign_in(lang, &nonce, None).into_response();
    set_cookie(&mut response, SIGN_IN_COOKIE, &nonce, Some(600));
    response
}

async fn sign_in(
    State(console): State<Console>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = language(&headers);
    let Ok(Form(form)) = form else {
        return view::csrf_refused(lang);
    };
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    match form.get("csrf") {
        Some(sent) if !expected.is_empty() && same(sent, &expected) => {}
        _ => return view::csrf_refused(lang),
    }
    let token = form.get("token").map(|token| token.trim().to_owned()).unwrap_or_default();
    let me = console.call_as(&token, connect.map(|c| c.0 .0), Method::GET, "/v1/me", None, None).await;
    if token.is_empty() || me.status != StatusCode::OK {
        let nonce = random_hex();
        let mut response =
            (StatusCode::UNAUTHORIZED, view::sign_in(lang, &nonce, Some(lang.t("bad_token")))).into_response();
        set_cookie(&mut response, SIGN_IN_COOKIE, &nonce, Some(600));
        return response;
    }
    let id = random_hex();
    let now = Instant::now();
    {
        let mut sessions = console.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| {
            now.duration_since(s.seen) < SESSION_IDLE_MAX && now.duration_since(s.started) < SESSION_AGE_MAX
        });
        if sessions.len() >= SESSIONS_MAX {
            if let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.seen).map(|(id, _)| id.clone()) {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), Session { token, csrf: random_hex(), started: now, seen: now });
    }
    let mut response = Redirect::to("/console").into_response();
    set_cookie(&mut response, SESSION_COOKIE, &id, None);
    set_cookie(&mut response, SIGN_IN_COOKIE, "", Some(0));
    response
}

async fn sign_out(
    State(console): State<Console>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let ctx = match console.ctx(&headers, connect.map(|c| c.0 .0)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if let Err(refused) = check_csrf(&ctx, &form) {
        return refused;
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        console.sessions.lock().expect("sessions lock").remove(&id);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    set_cookie(&mut response, SESSION_COOKIE, "", Some(0));
    response
}

/// The language switch: a link (it changes nothing but the person's own preference).
async fn switch_lang(
    Path(code): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::En);
    // Back to the page the switch was pressed on (the `Referer` of this host), else to `back`;
    // a console page only, never an open redirect.
    let console_page =
        |path: &str| path.starts_with("/console") && !path.contains("//") && !path.starts_with("/console/lang");
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
    let referer = headers
        .get(header::REFERER)
        .and_then(|referer| referer.to_str().ok())
        .and_then(|referer| referer.parse::<axum::http::Uri>().ok())
        .filter(|uri| host.is_some() && uri.authority().map(|authority| authority.as_str()) == host)
        .and_then(|uri| uri.path_and_query().map(|path| path.as_str().to_owned()));
    let back = referer
        .filter(|path| console_page(path))
        .or_else(|| query.get("back").filter(|back| console_page(back)).cloned());
    let mut response = Redirect::to(back.as_deref().unwrap_or("/console")).into_response();
    let line = format!("{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000", lang.code());
    if let Ok(value) = HeaderValue::from_str(&line) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
