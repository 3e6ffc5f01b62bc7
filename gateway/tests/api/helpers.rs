//! `TestApp`: the real server on port 0 over a fresh temporary data directory, with typed
//! helpers, and the world of DESIGN §2.5 built over HTTP.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use gateway::config::{Clock, PaymentChannel, Secret, Settings};
use gateway::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "kb_test-super-admin-token-0123456789abcdefghij";

pub fn date(text: &str) -> NaiveDate {
    text.parse().expect("a test date")
}

#[derive(Default)]
pub struct Options {
    pub webhook_url: Option<String>,
    /// PostgreSQL for the log and the read models (server mode); SQLite in the temp dir if absent.
    pub database_url: Option<String>,
    /// No `KBOSS_ADMIN_TOKEN`: the server generates one on a fresh store.
    pub generate_admin_token: bool,
    /// Reuse a data directory (a restart) instead of a fresh one.
    pub data_dir: Option<tempfile::TempDir>,
    /// Payment channels by name (`KBOSS_PAYMENT_*_<CHANNEL>`).
    pub payment_channels: BTreeMap<String, PaymentChannel>,
    /// `KBOSS_CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
    /// NATS JetStream (server mode): the URL and the stream this app publishes to.
    pub nats: Option<(String, String)>,
    /// `KBOSS_ADMIN_TOKEN`, when not [`ADMIN_TOKEN`].
    pub admin_token: Option<String>,
    /// `KBOSS_CONCURRENT_REQUESTS_MAX`, `KBOSS_WRITER_CHANNEL_CAPACITY`,
    /// `KBOSS_WRITER_BATCH_COMMANDS_MAX`; the defaults when absent.
    pub concurrent_requests_max: Option<usize>,
    pub writer_channel_capacity: Option<usize>,
    pub writer_batch_commands_max: Option<usize>,
    /// `KBOSS_TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<String>,
    /// `KBOSS_APPROVAL_WEBHOOK_HOSTS`; the default (DingTalk's) when empty.
    pub approval_webhook_hosts: Vec<String>,
    /// `--role` (server mode); `all` when absent.
    pub role: Option<gateway::config::ServeRole>,
    /// `KBOSS_PROJECTIONS`: what a projector builds; every projection when empty.
    pub projections: Vec<String>,
    /// `KBOSS_LEASE_TTL_MS`; the default when absent.
    pub lease_ttl_ms: Option<u64>,
    /// `KBOSS_TICK_INTERVAL_MS`; none (0: no clock) when absent, so that no tick lands in a test
    /// that does not ask for one (a test ticks with `gateway::ticker::tick`, at the time it wants).
    pub tick_interval_ms: Option<u64>,
    /// `KBOSS_CURRENCY`; none when absent (a fresh store's platform keeps CNY).
    pub currency: Option<ledger_core::money::Currency>,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub state: gateway::state::SharedState,
    /// Deleted when dropped, at the end of the test.
    pub data_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A response: status, body as JSON (or a JSON string of the text), and the headers.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self.body
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub async fn spawn_app(options: Options) -> TestApp {
    try_spawn_app(options).await.unwrap_or_else(|(error, _)| panic!("the application builds: {error}"))
}

/// [`spawn_app`], answering why the application did not start (with its data directory).
pub async fn try_spawn_app(options: Options) -> Result<TestApp, (gateway::app::StartError, tempfile::TempDir)> {
    gateway::telemetry::init();
    let data_dir = match options.data_dir {
        Some(data_dir) => data_dir,
        None => tempfile::tempdir().expect("a temporary directory"),
    };
    let clock = Clock::manual(date("2026-01-15"));
    let settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_owned(),
        admin_token: match options.admin_token {
            Some(token) => Some(Secret::new(token)),
            None => (!options.generate_admin_token).then(|| Secret::new(ADMIN_TOKEN)),
        },
        database_url: options.database_url.map(Secret::new),
        approval_webhook_url: options.webhook_url,
        payment_channels: options.payment_channels,
        clock: clock.clone(),
        cors_origins: options.cors_origins,
        trusted_proxies: options.trusted_proxies,
        ..Settings::default()
    };
    let settings = match options.approval_webhook_hosts {
        hosts if hosts.is_empty() => settings,
        approval_webhook_hosts => Settings { approval_webhook_hosts, ..settings },
    };
    let settings = Settings {
        concurrent_requests_max: options.concurrent_requests_max.unwrap_or(settings.concurrent_requests_max),
        writer_channel_capacity: options.writer_channel_capacity.unwrap_or(settings.writer_channel_capacity),
        writer_batch_commands_max: options.writer_batch_commands_max.unwrap_or(settings.writer_batch_commands_max),
        role: options.role.unwrap_or_default(),
        projections: options.projections,
        lease_ttl_ms: options.lease_ttl_ms.unwrap_or(settings.lease_ttl_ms),
        tick_interval_ms: options.tick_interval_ms.unwrap_or(0),
        currency: options.currency,
        ..settings
    };
    let settings = match options.nats {
        Some((url, stream)) => Settings {
            nats_url: Some(url),
            nats_subject_prefix: format!("kboss.test.{}", stream.to_ascii_lowercase()),
            nats_stream: stream,
            ..settings
        },
        None => settings,
    };
    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(error) => return Err((error, data_dir)),
    };
    let address = format!("http://127.0.0.1:{}", application.port());
    let state = application.state();
    let (shutdown, stopped) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        application
            .run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
    });
    Ok(TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        state,
        data_dir,
        shutdown: Some(shutdown),
        server: Some(server),
    })
}

impl TestApp {
    /// The log's last committed position.
    pub fn log_position(&self) -> u64 {
        self.state.writer.position()
    }

    /// Stops the server (draining the writer); answers the data directory, still on disk.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.data_dir
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let method_name = method.as_str().to_ascii_lowercase();
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        assert_documented(&method_name, path, status.as_u16());
        Answer { status, body, text, headers }
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), None, Some(&body)).await
    }

    pub async fn post_keyed(&self, path: &str, token: &str, key: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(key), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), None, Some(&body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(token), None, Some(&body)).await
    }

    /// A read that waits for everything committed so far (read-your-writes).
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        let separator = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{separator}min_position={}", self.log_position());
        self.call(Method::GET, &path, Some(token), None, None).await
    }
}

/// The world of DESIGN §2.5 built over HTTP: supplier → platform → R1 → R2 → customer C, product
/// P at 1000.00, supplier rate 0.70, platform → R1 0.80, R1 → R2 0.88, R2 public 0.98 and C's
/// rate 0.95; one token per role that the flows need.
#[allow(dead_code)] // every test uses a different part of the world
pub struct World {
    pub platform: String,
    pub supplier: String,
    pub r1: String,
    pub r2: String,
    pub customer: String,
    pub product: String,
    pub admin: String,
    pub r1_admin: String,
    pub r1_finance: String,
    pub r2_admin: String,
    pub r2_sales: String,
    pub r2_finance: String,
    pub r2_finance_other: String,
    pub customer_token: String,
}

pub async fn token(app: &TestApp, issuer: &str, org: &str, roles: &[&str]) -> String {
    let body = app.post(&format!("/v1/orgs/{org}/tokens"), issuer, json!({ "roles": roles })).await.expect(201);
    body["token"].as_str().expect("a token").to_owned()
}

pub async fn open_org(app: &TestApp, token: &str, kind: &str, name: &str) -> String {
    let body = app.post("/v1/orgs", token, json!({ "kind": kind, "name": name })).await.expect(201);
    body["id"].as_str().expect("an id").to_owned()
}

pub async fn set_rate(app: &TestApp, token: &str, book: &str, product: &str, scope: &str, rate: &str) {
    let body = json!({ "product_id": product, "scope": scope, "rate": rate });
    let answer = app.put(&format!("/v1/books/{book}/rates"), token, body).await.expect(200);
    assert_eq!(answer["status"], "set");
}

pub async fn build_world(app: &TestApp) -> World {
    let admin = ADMIN_TOKEN.to_owned();
    let me = app.get("/v1/me", &admin).await.expect(200);
    assert_eq!(me["org_kind"], "platform");
    let platform = me["org_id"].as_str().unwrap().to_owned();
    let supplier = open_org(app, &admin, "supplier", "Cloud Supplier").await;
    let r1 = open_org(app, &admin, "reseller", "R1").await;
    let r1_admin = token(app, &admin, &r1, &["admin"]).await;
    let r1_finance = token(app, &r1_admin, &r1, &["finance"]).await;
    let r2 = open_org(app, &r1_admin, "reseller", "R2").await;
    let r2_admin = token(app, &r1_admin, &r2, &["admin"]).await;
    let r2_sales = token(app, &r2_admin, &r2, &["sales"]).await;
    let r2_finance = token(app, &r2_admin, &r2, &["finance"]).await;
    let r2_finance_other = token(app, &r2_admin, &r2, &["finance"]).await;
    let customer = open_org(app, &r2_admin, "customer", "Customer C").await;
    let customer_token = token(app, &r2_admin, &customer, &["customer"]).await;
    let product = app
        .post(
            "/v1/products",
            &admin,
            json!({ "name": "GPU server", "supplier_id": supplier, "list_price": "1000.00", "unit": "month" }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put(&format!("/v1/products/{product}/supplier-rate"), &admin, json!({ "rate": "0.70" })).await.expect(200);
    set_rate(app, &admin, &platform, &product, &format!("reseller:{r1}"), "0.80").await;
    set_rate(app, &r1_admin, &r1, &product, &format!("reseller:{r2}"), "0.88").await;
    set_rate(app, &r2_admin, &r2, &product, "public", "0.98").await;
    set_rate(app, &r2_admin, &r2, &product, &format!("customer:{customer}"), "0.95").await;
    World {
        platform,
        supplier,
        r1,
        r2,
        customer,
        product,
        admin,
        r1_admin,
        r1_finance,
        r2_admin,
        r2_sales,
        r2_finance,
        r2_finance_other,
        customer_token,
    }
}

/// An offline recharge requested by one finance token and approved by another.
pub async fn recharge(app: &TestApp, world: &World, amount: &str) {
    let body = json!({ "customer_id": world.customer, "amount": amount, "method": "offline", "reference": "slip 42" });
    let pending = app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance_other, json!({})).await.expect(200);
}

/// Places and pays an order of one unit for one period; returns the order id.
pub async fn buy(app: &TestApp, world: &World) -> String {
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let order = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    let id = order["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/orders/{id}/pay"), &world.customer_token, json!({})).await.expect(200);
    id
}

/// `(debit, credit)` of one account in a trial balance answer.
pub fn account(trial_balance: &Value, code: &str) -> (String, String) {
    let row = trial_balance["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|row| row["code"] == code)
        .unwrap_or_else(|| panic!("account {code} in {trial_balance}"));
    (row["debit"].as_str().unwrap().to_owned(), row["credit"].as_str().unwrap().to_owned())
}

/// The committed OpenAPI document (`schemas/openapi.json`), read once.
fn document() -> &'static Value {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/openapi.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("schemas/openapi.json"))
            .expect("the document is JSON")
    })
}

/// The OpenAPI coverage check (issue 15 item 3): every answer a black-box test sees is
/// documented for its operation, status included. An answer for a path no operation has may
/// only be 404 (an unknown route) or 405 (a known path, another method); CORS preflights are
/// not operations.
#[track_caller]
pub fn assert_documented(method: &str, path: &str, status: u16) {
    if method == "options" {
        return;
    }
    let path = path.split('?').next().unwrap_or(path);
    let paths = document()["paths"].as_object().expect("paths");
    // The most specific template: `/v1/serial-codes/batches` before `/v1/serial-codes/{code}`.
    let template = paths
        .keys()
        .filter(|template| matches_template(template, path))
        .min_by_key(|template| template.matches('{').count());
    let Some(template) = template else {
        assert_eq!(status, 404, "{} {path} answered {status} but no operation has this path", method.to_uppercase());
        return;
    };
    let Some(operation) = paths[template].get(method) else {
        assert_eq!(
            status,
            405,
            "{} {path} answered {status} but {template} has no such operation",
            method.to_uppercase()
        );
        return;
    };
    assert!(
        operation["responses"].get(status.to_string()).is_some(),
        "{} {template} answered {status}, which schemas/openapi.json does not document for it",
        method.to_uppercase()
    );
}

/// `/v1/orders/{id}` matches `/v1/orders/123`: segment by segment, a `{…}` any one segment.
fn matches_template(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(expected, actual)| {
            (expected.starts_with('{') && expected.ends_with('}') && !actual.is_empty()) || expected == actual
        })
}

/// The platform's serial-code business: a 30-day package at 100.00, R1 a gold distributor at
/// 0.80. Answers two operations tokens and a sales token of the platform.
pub async fn serial_business(app: &TestApp, world: &World) -> (String, String, String) {
    let admin = &world.admin;
    app.put("/v1/serial-codes/packages/30", admin, json!({ "list_price": "100.00" })).await.expect(200);
    app.put(&format!("/v1/orgs/{}/tier", world.r1), admin, json!({ "tier": "gold" })).await.expect(200);
    app.put("/v1/serial-codes/tiers/gold", admin, json!({ "rate": "0.80" })).await.expect(200);
    let operations = token(app, admin, &world.platform, &["operations"]).await;
    let operations_too = token(app, admin, &world.platform, &["operations"]).await;
    let sales = token(app, admin, &world.platform, &["sales"]).await;
    (operations, operations_too, sales)
}
