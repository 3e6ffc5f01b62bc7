//! End to end over HTTP: drives a running `kboss serve` with a realistic mix, checks every answer
//! and reports commands/s, requests/s, latency per request kind and the read-your-writes lag.
//!
//! Set-up (not measured), through the API: a supplier and a few products owned by the platform, a
//! reseller tree (platform → `n` L1 resellers → `n` L2 resellers under each), rates at every
//! level, customers spread over the sellers (every third with a customer rate), each with a token
//! of its own and an initial balance: a transfer recharge requested by the seller's `sales` token
//! and approved by its `finance` token.
//!
//! Load (`--mix`): recharges (request, approve), orders of one item placed and paid by the
//! customer, refunds by the seller's finance (all that is left of an order or half of it, some
//! with a penalty), each followed by a read of the customer's balance with `min_position` at the
//! write (the lag is the time from the write's answer to that read's answer); and trial balances
//! of the seller's book. A customer's operations run one at a time, so the loadgen knows its exact
//! balance (integer minor units) and checks every read against it. An answer the API does not
//! document fails the run (exit code 1). A 503 (with `Retry-After`) is an error that fails the run
//! only above `--max-error-rate`; commands are retried with their idempotency key, which makes a
//! retry safe.
//!
//! Closed loop (`--concurrency N`): N workers, each owning a disjoint set of customers, each
//! issuing the next operation when the last answered. Open loop (`--rate R`): R operations/s are
//! scheduled regardless of answers, each to a random customer; an operation's first request is
//! timed from its scheduled start (no coordinated omission), including any wait behind the same
//! customer's previous operation.
//!
//! cargo run --release -p benches --bin loadgen -- --admin-token-file data/admin.token --concurrency 32

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::percentile;
use clap::Parser;
use futures::stream::{self, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

/// Customers set up at once (each is a handful of sequential requests); also the final check's.
const SETUP_CONCURRENCY: usize = 16;
/// A request not answered by then is a transport error (and a command is retried).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of a command after a 503 or a transport error, with the same idempotency key.
const RETRIES_MAX: u32 = 5;
/// The longest `Retry-After` honoured, and the pause after a transport error.
const RETRY_PAUSE_MAX: Duration = Duration::from_secs(2);
const TRANSPORT_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Open loop: operations still queued this long after the end are dropped (counted as errors).
const DRAIN_MAX: Duration = Duration::from_secs(60);
const HTTP_IDLE_CONNECTIONS_MAX: usize = 256;
const CONCURRENCY_DEFAULT: usize = 32;
const FAILURES_SHOWN_MAX: usize = 20;
/// Refundable orders a customer remembers (the oldest are forgotten).
const PAID_ORDERS_KEPT: usize = 16;
const QUANTITY_MAX: i64 = 3;
const PERIODS_MAX: i64 = 2;
/// One refund in this many keeps a penalty of a tenth of the amount.
const REFUND_PENALTY_ONE_IN: u32 = 3;

/// Money in minor units (cents); rates in ten-thousandths (the ledger keeps 4 rate digits).
const MINOR_PER_UNIT: i64 = 100;
const INITIAL_BALANCE_MINOR: i64 = 1_000_000 * MINOR_PER_UNIT;
const RECHARGE_MINOR_MIN: i64 = 100 * MINOR_PER_UNIT;
const RECHARGE_MINOR_MAX: i64 = 5_000 * MINOR_PER_UNIT;
const RATE_ONE: i64 = 10_000;
/// (name, list price, unit): 1000.00, 99.99 and 12.34, so that rounding half-up is exercised.
const PRODUCTS: [(&str, i64, &str); 3] = [
    ("GPU server", 1_000 * MINOR_PER_UNIT, "month"),
    ("Object storage", 9_999, "month"),
    ("CDN traffic", 1_234, "month"),
];
const SUPPLIER_RATE: i64 = 7_000;
/// What each level pays its parent: L1 buys from the platform at 0.80, L2 from its L1 at 0.88.
const RESELLER_RATE_BY_LEVEL: [i64; 3] = [0, 8_000, 8_800];
const PUBLIC_RATE_BY_LEVEL: [i64; 3] = [9_500, 9_650, 9_837];
/// Below the public rate and above the seller's cost (a rate below cost would need an approval).
const CUSTOMER_RATE_BY_LEVEL: [i64; 3] = [9_123, 9_345, 9_555];
const CUSTOMER_RATE_EVERY: usize = 3;

#[derive(Parser, Debug)]
#[command(name = "loadgen", about = "Drives a running `kboss serve` over HTTP and checks every answer")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The platform's super_admin token.
    #[arg(long, env = "KBOSS_ADMIN_TOKEN", hide_env_values = true, conflicts_with = "admin_token_file")]
    admin_token: Option<String>,
    /// A file holding it: `<data-dir>/admin.token`, written by `kboss serve` on its first start.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds of load before measuring (answers are checked all the same).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Closed loop: workers, each issuing its next operation when the last answered [default: 32].
    #[arg(long, conflicts_with = "rate")]
    concurrency: Option<usize>,
    /// Open loop: operations started per second on a fixed schedule, answered or not (an
    /// operation is 1 to 3 requests: see the report's requests/s).
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 1_000)]
    customers: usize,
    /// Child resellers of the platform, and of each of those (L1: n, L2: n × n).
    #[arg(long, default_value_t = 3)]
    resellers_per_level: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Relative weights of the operations.
    #[arg(long, default_value = "recharge=10,order=55,refund=10,trial_balance=25", value_parser = parse_mix)]
    mix: Mix,
    /// Errors (503s, transport errors) per request above which the run fails.
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,
    /// One JSON line on stdout (the text report goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    /// Set-up requests, never measured: one that creates (201), one that sets or reads (200).
    Create,
    Update,
    RechargeRequest,
    Approve,
    PlaceOrder,
    Pay,
    Refund,
    BalanceRead,
    TrialBalanceRead,
}

impl Kind {
    const MEASURED: [Kind; 7] = [
        Kind::RechargeRequest,
        Kind::Approve,
        Kind::PlaceOrder,
        Kind::Pay,
        Kind::Refund,
        Kind::BalanceRead,
        Kind::TrialBalanceRead,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::RechargeRequest => "recharge_request",
            Kind::Approve => "approve",
            Kind::PlaceOrder => "place_order",
            Kind::Pay => "pay",
            Kind::Refund => "refund",
            Kind::BalanceRead => "balance_read",
            Kind::TrialBalanceRead => "trial_balance_read",
        }
    }

    /// The status API.md documents for a success.
    fn expected_status(self) -> u16 {
        match self {
            Kind::Create | Kind::PlaceOrder => 201,
            Kind::RechargeRequest => 202,
            _ => 200,
        }
    }

    fn is_command(self) -> bool {
        !matches!(self, Kind::BalanceRead | Kind::TrialBalanceRead)
    }
}

#[derive(Clone, Copy, Debug)]
enum Operation {
    Recharge,
    Order,
    Refund,
    TrialBalance,
}

const OPERATIONS: [(Operation, &str); 4] = [
    (Operation::Recharge, "recharge"),
    (Operation::Order, "order"),
    (Operation::Refund, "refund"),
    (Operation::TrialBalance, "trial_balance"),
];

#[derive(Clone, Debug)]
struct Mix {
    weights: [u32; OPERATIONS.len()],
}

fn parse_mix(text: &str) -> Result<Mix, String> {
    let mut weights = [0; OPERATIONS.len()];
    for pair in text.split(',').filter(|pair| !pair.trim().is_empty()) {
        let (name, weight) = pair.split_once('=').ok_or_else(|| format!("`{pair}`: expected name=weight"))?;
        let index = OPERATIONS.iter().position(|(_, known)| *known == name.trim()).ok_or_else(|| {
            let names: Vec<&str> = OPERATIONS.iter().map(|(_, name)| *name).collect();
            format!("unknown operation `{}`: one of {}", name.trim(), names.join(", "))
        })?;
        weights[index] = weight.trim().parse().map_err(|_| format!("`{pair}`: the weight is not a whole number"))?;
    }
    if weights.iter().all(|weight| *weight == 0) {
        return Err("every weight is zero".to_owned());
    }
    Ok(Mix { weights })
}

impl Mix {
    fn pick(&self, rng: &mut StdRng) -> Operation {
        let mut ticket = rng.gen_range(0..self.weights.iter().sum::<u32>());
        for ((operation, _), weight) in OPERATIONS.iter().zip(self.weights) {
            if ticket < weight {
                return *operation;
            }
            ticket -= weight;
        }
        // The ticket is below the sum of the weights: the loop has answered.
        OPERATIONS[OPERATIONS.len() - 1].0
    }

    fn text(&self) -> String {
        let pairs = OPERATIONS.iter().zip(self.weights).map(|((_, name), weight)| format!("{name}={weight}"));
        pairs.collect::<Vec<_>>().join(",")
    }
}

/// A decimal string of the API in minor units: at most two fraction digits, else an error.
fn parse_minor(text: &str) -> Result<i64, String> {
    let (negative, digits) = text.strip_prefix('-').map_or((false, text), |rest| (true, rest));
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = !whole.is_empty()
        && fraction.len() <= 2
        && whole.bytes().chain(fraction.bytes()).all(|byte| byte.is_ascii_digit());
    let whole: i64 = whole.parse().ok().filter(|_| valid).ok_or_else(|| format!("`{text}` is not an amount"))?;
    let fraction: i64 = format!("{fraction:0<2}").parse().map_err(|_| format!("`{text}` is not an amount"))?;
    let minor = whole.checked_mul(MINOR_PER_UNIT).and_then(|cents| cents.checked_add(fraction));
    let minor = minor.ok_or_else(|| format!("`{text}` is out of range"))?;
    Ok(if negative { -minor } else { minor })
}

fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let (units, cents) = (minor.unsigned_abs() / MINOR_PER_UNIT as u64, minor.unsigned_abs() % MINOR_PER_UNIT as u64);
    format!("{sign}{units}.{cents:02}")
}

fn format_rate(rate: i64) -> String {
    format!("{}.{:04}", rate / RATE_ONE, rate % RATE_ONE)
}

/// `round_half_up(list × quantity × periods × rate)`, the ledger's one pricing formula.
fn price_minor(list_minor: i64, quantity: i64, periods: i64, rate: i64) -> i64 {
    let exact = i128::from(list_minor) * i128::from(quantity * periods) * i128::from(rate);
    let rounded = (exact + i128::from(RATE_ONE / 2)) / i128::from(RATE_ONE);
    i64::try_from(rounded).expect("the set-up's prices fit in i64")
}

struct Reply {
    status: u16,
    body: Value,
    text: String,
    /// `Kboss-Position` of a read.
    position: Option<u64>,
    retry_after: Option<u64>,
    answered_at: Instant,
}

/// A command: everything a retry needs to send it again.
struct Request<'a> {
    method: Method,
    path: String,
    token: &'a str,
    key: Option<String>,
    body: Value,
}

fn post<'a>(path: impl Into<String>, token: &'a str, key: impl Into<Option<String>>, body: Value) -> Request<'a> {
    Request { method: Method::POST, path: path.into(), token, key: key.into(), body }
}

fn put<'a>(path: impl Into<String>, token: &'a str, key: String, body: Value) -> Request<'a> {
    Request { method: Method::PUT, ..post(path, token, key, body) }
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()?.parse().ok());
        let (position, retry_after) = (header("kboss-position"), header("retry-after"));
        let text = response.text().await.map_err(|error| error.to_string())?;
        let answered_at = Instant::now();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, text, position, retry_after, answered_at })
    }
}

/// Samples count when their request (or operation, in the open loop) started in the window.
#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

impl Window {
    /// The set-up's and the final check's: nothing counts.
    fn empty() -> Window {
        let now = Instant::now();
        Window { from: now, until: now }
    }

    fn contains(&self, at: Instant) -> bool {
        self.from <= at && at < self.until
    }
}

/// What every task shares: the API, and the wrong answers seen (the first stops the run).
struct Context {
    api: Api,
    stop: AtomicBool,
    failures: Mutex<Vec<String>>,
    mix: Mix,
}

impl Context {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn failures(&self) -> Vec<String> {
        self.failures.lock().expect("the failures lock").clone()
    }
}

#[derive(Default)]
struct Recorder {
    latencies_us: BTreeMap<Kind, Vec<u64>>,
    lags_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

/// A wrong answer (recorded in the context; the run stops), or a command given up after retries.
enum Failed {
    Wrong,
    GaveUp,
}

#[derive(Clone)]
struct Seller {
    id: String,
    /// 0 the platform, 1 an L1 reseller, 2 an L2 reseller.
    level: usize,
    admin: String,
    sales: String,
    finance: String,
}

struct World {
    run_id: String,
    sellers: Vec<Seller>,
    /// (id, list price)
    products: Vec<(String, i64)>,
}

struct PaidOrder {
    id: String,
    paid_minor: i64,
    refunded_minor: i64,
}

/// One customer, owned by one task at a time: its expected balance is exact.
struct Customer {
    index: usize,
    id: String,
    token: String,
    seller: usize,
    /// (product index, rate) of its customer-specific rate, if it has one.
    customer_rate: Option<(usize, i64)>,
    balance_minor: i64,
    last_position: u64,
    last_write_at: Instant,
    paid_orders: Vec<PaidOrder>,
    operations: u64,
    rng: StdRng,
    retired: bool,
}

impl Customer {
    /// A fresh idempotency key; the run id keeps keys of an earlier run on the same store apart.
    fn next_key(&mut self, run_id: &str, what: &str) -> String {
        self.operations += 1;
        format!("lg-{run_id}-c{}-{}-{what}", self.index, self.operations)
    }

    /// The seller's rate for this customer and its source: the lower of public and customer.
    fn rate_for(&self, product: usize, level: usize) -> (i64, &'static str) {
        let public = PUBLIC_RATE_BY_LEVEL[level];
        match self.customer_rate {
            Some((rated, rate)) if rated == product && rate < public => (rate, "customer"),
            _ => (public, "public"),
        }
    }
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or("")
}

/// One task's view: the shared context, its window and its own samples.
struct Lane {
    context: Arc<Context>,
    window: Window,
    recorder: Recorder,
    last_error: String,
}

impl Lane {
    fn new(context: Arc<Context>, window: Window) -> Lane {
        Lane { context, window, recorder: Recorder::default(), last_error: String::new() }
    }

    fn fail(&self, message: String) -> Failed {
        self.context.failures.lock().expect("the failures lock").push(message);
        self.context.stop.store(true, Ordering::Relaxed);
        Failed::Wrong
    }

    fn check(&self, ok: bool, message: impl FnOnce() -> String) -> Result<(), Failed> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(message()))
        }
    }

    fn amount(&self, body: &Value, field: &str, what: &str) -> Result<i64, Failed> {
        parse_minor(text(body, field)).map_err(|error| self.fail(format!("{what}: `{field}`: {error} in {body}")))
    }

    fn error(&mut self, counted: bool, kind: &str) {
        if counted {
            *self.recorder.errors.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// A 503: an error to count, and the pause it asks for; without `Retry-After`, a wrong answer.
    fn unavailable(&mut self, counted: bool, reply: &Reply, what: &str) -> Result<Duration, Failed> {
        let code = text(&reply.body, "code");
        self.error(counted, if code.is_empty() { "503" } else { code });
        self.last_error = format!("{what}: 503 {}", reply.text);
        let seconds = reply.retry_after.ok_or_else(|| self.fail(format!("{what}: 503 without Retry-After")))?;
        Ok(Duration::from_secs(seconds).min(RETRY_PAUSE_MAX))
    }

    fn record(&mut self, kind: Kind, started: Instant, answered_at: Instant) {
        if self.window.contains(started) {
            let latency_us = answered_at.duration_since(started).as_micros() as u64;
            self.recorder.latencies_us.entry(kind).or_default().push(latency_us);
        }
    }

    /// A command, retried with its key after a 503 or a transport error: the key makes a retry
    /// answer the first outcome, never a second effect. Its latency runs from `started` to the
    /// answer that counts, retries included.
    async fn command(&mut self, kind: Kind, request: Request<'_>, started: Instant) -> Result<Value, Failed> {
        let counted = self.window.contains(started);
        let Request { method, path, token, key, body } = request;
        let what = format!("{method} {path}");
        for _ in 0..=RETRIES_MAX {
            let pause = match self.context.api.send(method.clone(), &path, token, key.as_deref(), Some(&body)).await {
                Ok(reply) if reply.status == kind.expected_status() => {
                    self.record(kind, started, reply.answered_at);
                    return Ok(reply.body);
                }
                Ok(reply) if reply.status == 503 => self.unavailable(counted, &reply, &what)?,
                Ok(reply) => {
                    let expected = kind.expected_status();
                    let got = format!("expected {expected}, got {}: {}", reply.status, reply.text);
                    return Err(self.fail(format!("{what} {body}: {got}")));
                }
                Err(error) => {
                    self.error(counted, "transport");
                    self.last_error = format!("{what}: {error}");
                    TRANSPORT_RETRY_PAUSE
                }
            };
            tokio::time::sleep(pause).await;
        }
        if matches!(kind, Kind::Create | Kind::Update) {
            return Err(self.fail(format!(
                "set-up: no answer after {} attempts: {}",
                RETRIES_MAX + 1,
                self.last_error
            )));
        }
        self.error(counted, "gave_up");
        Err(Failed::GaveUp)
    }

    /// A read: a 503 or a transport error is counted and answers `None` (nothing to check).
    async fn read(&mut self, kind: Kind, path: &str, token: &str) -> Result<Option<Reply>, Failed> {
        let started = Instant::now();
        let counted = self.window.contains(started);
        match self.context.api.send(Method::GET, path, token, None, None).await {
            Ok(reply) if reply.status == 200 => {
                self.record(kind, started, reply.answered_at);
                Ok(Some(reply))
            }
            Ok(reply) if reply.status == 503 => {
                self.unavailable(counted, &reply, &format!("GET {path}"))?;
                Ok(None)
            }
            Ok(reply) => Err(self.fail(format!("GET {path}: expected 200, got {}: {}", reply.status, reply.text))),
            Err(error) => {
                self.error(counted, "transport");
                self.last_error = format!("GET {path}: {error}");
                Ok(None)
            }
        }
    }

    /// A write's position: present and past the customer's previous write (its writes are serial).
    fn advance(&self, customer: &mut Customer, body: &Value, what: &str) -> Result<(), Failed> {
        let position = body["position"].as_u64().unwrap_or(0);
        self.check(position > customer.last_position, || {
            let previous = customer.last_position;
            format!(
                "customer {} {what}: position {position} is not after its previous write's {previous}: {body}",
                customer.id
            )
        })?;
        customer.last_position = position;
        customer.last_write_at = Instant::now();
        Ok(())
    }

    fn check_fresh(&self, reply: &Reply, wanted: u64, path: &str) -> Result<(), Failed> {
        let position = reply.position.unwrap_or(0);
        self.check(position >= wanted, || format!("GET {path}: Kboss-Position {position} is before {wanted}"))
    }

    async fn operate(&mut self, world: &World, customer: &mut Customer, started: Instant) -> Result<(), Failed> {
        match self.context.mix.pick(&mut customer.rng) {
            Operation::Recharge => {
                let amount = customer.rng.gen_range(RECHARGE_MINOR_MIN..=RECHARGE_MINOR_MAX);
                self.recharge(world, customer, amount, started).await
            }
            Operation::Order => self.order(world, customer, started).await,
            Operation::Refund => self.refund(world, customer, started).await,
            Operation::TrialBalance => {
                self.trial_balance(&world.sellers[customer.seller], customer.last_position).await
            }
        }
    }

    async fn recharge(
        &mut self,
        world: &World,
        customer: &mut Customer,
        amount: i64,
        started: Instant,
    ) -> Result<(), Failed> {
        let seller = &world.sellers[customer.seller];
        let key = customer.next_key(&world.run_id, "recharge");
        let body = json!({ "customer_id": customer.id, "amount": format_minor(amount), "method": "transfer",
            "reference": key });
        let pending =
            self.command(Kind::RechargeRequest, post("/v1/recharges", &seller.sales, key.clone(), body), started);
        let pending = pending.await?;
        self.advance(customer, &pending, "recharge request")?;
        let approval = text(&pending, "approval_id");
        let ok = text(&pending, "status") == "pending_approval" && !approval.is_empty();
        self.check(ok, || format!("customer {} recharge request: {pending}", customer.id))?;
        let path = format!("/v1/approvals/{approval}/approve");
        let request = post(path.as_str(), &seller.finance, format!("{key}-approve"), json!({}));
        let decided = self.command(Kind::Approve, request, Instant::now()).await?;
        self.advance(customer, &decided, "approval")?;
        self.check(text(&decided, "status") == "granted", || format!("{path}: {decided}"))?;
        customer.balance_minor += amount;
        self.read_balance(customer).await
    }

    async fn order(&mut self, world: &World, customer: &mut Customer, started: Instant) -> Result<(), Failed> {
        let product = customer.rng.gen_range(0..world.products.len());
        let (quantity, periods) = (customer.rng.gen_range(1..=QUANTITY_MAX), customer.rng.gen_range(1..=PERIODS_MAX));
        let (product_id, list_minor) = &world.products[product];
        let (rate, rate_source) = customer.rate_for(product, world.sellers[customer.seller].level);
        let total = price_minor(*list_minor, quantity, periods, rate);
        if total > customer.balance_minor {
            // Spending more than the wallet holds is refused (422); top it up instead.
            return self.recharge(world, customer, RECHARGE_MINOR_MAX.max(total), started).await;
        }
        let key = customer.next_key(&world.run_id, "order");
        let items = json!([{ "product_id": product_id, "quantity": quantity, "periods": periods }]);
        let body = json!({ "customer_id": customer.id, "items": items });
        let placed = self.command(Kind::PlaceOrder, post("/v1/orders", &customer.token, key.clone(), body), started);
        let placed = placed.await?;
        self.advance(customer, &placed, "order")?;
        let line = &placed["items"][0];
        let ok = text(&placed, "status") == "pending_payment"
            && parse_minor(text(&placed, "total")) == Ok(total)
            && parse_minor(text(line, "amount")) == Ok(total)
            && text(line, "rate_source") == rate_source;
        self.check(ok, || {
            let (id, rate, total) = (&customer.id, format_rate(rate), format_minor(total));
            let order = format!("{quantity} × {periods} of {product_id} at {rate} ({rate_source})");
            format!("customer {id}: {order} should be {total}, pending payment; the answer: {placed}")
        })?;
        let order_id = text(&placed, "id").to_owned();
        let path = format!("/v1/orders/{order_id}/pay");
        let request = post(path.as_str(), &customer.token, format!("{key}-pay"), json!({}));
        let paid = self.command(Kind::Pay, request, Instant::now()).await?;
        self.advance(customer, &paid, "payment")?;
        self.check(text(&paid, "status") == "paid" && text(&paid, "id") == order_id, || format!("{path}: {paid}"))?;
        customer.balance_minor -= total;
        if customer.paid_orders.len() == PAID_ORDERS_KEPT {
            customer.paid_orders.remove(0);
        }
        customer.paid_orders.push(PaidOrder { id: order_id, paid_minor: total, refunded_minor: 0 });
        self.read_balance(customer).await
    }

    async fn refund(&mut self, world: &World, customer: &mut Customer, started: Instant) -> Result<(), Failed> {
        if customer.paid_orders.is_empty() {
            return self.order(world, customer, started).await;
        }
        let index = customer.rng.gen_range(0..customer.paid_orders.len());
        let left = customer.paid_orders[index].paid_minor - customer.paid_orders[index].refunded_minor;
        let amount = if customer.rng.gen_bool(0.5) { left } else { (left / 2).max(1) };
        let penalty = if customer.rng.gen_ratio(1, REFUND_PENALTY_ONE_IN) { amount / 10 } else { 0 };
        let mut body = json!({ "amount": format_minor(amount), "reason": "loadgen" });
        if penalty > 0 {
            body["penalty"] = json!(format_minor(penalty));
        }
        let key = customer.next_key(&world.run_id, "refund");
        let path = format!("/v1/orders/{}/refund", customer.paid_orders[index].id);
        let request = post(path.as_str(), &world.sellers[customer.seller].finance, key, body);
        let refunded = self.command(Kind::Refund, request, started).await?;
        self.advance(customer, &refunded, "refund")?;
        let order = &mut customer.paid_orders[index];
        order.refunded_minor += amount;
        let complete = order.refunded_minor == order.paid_minor;
        let status = if complete { "refunded" } else { "partially_refunded" };
        let total = order.refunded_minor;
        let ok = text(&refunded, "status") == status && parse_minor(text(&refunded, "refunded")) == Ok(total);
        self.check(ok, || format!("{path}: expected {status} with {} refunded, got {refunded}", format_minor(total)))?;
        if complete {
            customer.paid_orders.remove(index);
        }
        customer.balance_minor += amount - penalty;
        self.read_balance(customer).await
    }

    /// Read-your-writes: the balance at the customer's last write is exactly the expected one.
    async fn read_balance(&mut self, customer: &Customer) -> Result<(), Failed> {
        let path = format!("/v1/customers/{}/balance?min_position={}", customer.id, customer.last_position);
        let Some(reply) = self.read(Kind::BalanceRead, &path, &customer.token).await? else { return Ok(()) };
        if self.window.contains(customer.last_write_at) {
            self.recorder.lags_us.push(reply.answered_at.duration_since(customer.last_write_at).as_micros() as u64);
        }
        self.check_fresh(&reply, customer.last_position, &path)?;
        let what = format!("GET {path}");
        let balance = self.amount(&reply.body, "balance", &what)?;
        let available = self.amount(&reply.body, "available", &what)?;
        let pending = self.amount(&reply.body, "pending", &what)?;
        let expected = customer.balance_minor;
        let ok = text(&reply.body, "customer_id") == customer.id && balance == expected && available == expected;
        self.check(ok && pending == 0, || {
            format!("{what}: expected balance and available {}, pending 0; got {}", format_minor(expected), reply.text)
        })
    }

    /// A book's trial balance at a position: balanced, and its rows add up to its totals.
    async fn trial_balance(&mut self, seller: &Seller, min_position: u64) -> Result<(), Failed> {
        let path = format!("/v1/books/{}/trial-balance?min_position={min_position}", seller.id);
        let Some(reply) = self.read(Kind::TrialBalanceRead, &path, &seller.finance).await? else { return Ok(()) };
        self.check_fresh(&reply, min_position, &path)?;
        let what = format!("GET {path}");
        let debit = self.amount(&reply.body, "total_debit", &what)?;
        let credit = self.amount(&reply.body, "total_credit", &what)?;
        let (mut rows_debit, mut rows_credit) = (0, 0);
        for row in reply.body["accounts"].as_array().map_or(&[][..], Vec::as_slice) {
            rows_debit += self.amount(row, "debit", &what)?;
            rows_credit += self.amount(row, "credit", &what)?;
        }
        let ok = text(&reply.body, "org_id") == seller.id && debit == credit;
        let ok = ok && rows_debit == debit && rows_credit == credit;
        self.check(ok, || {
            format!("{what}: another book, unbalanced, or rows that do not add up to the totals: {}", reply.text)
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let admin = match (&args.admin_token, &args.admin_token_file) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(token) => token.trim().to_owned(),
            Err(error) => return usage(&format!("cannot read --admin-token-file {}: {error}", path.display())),
        },
        (None, None) => {
            return usage("give --admin-token (or KBOSS_ADMIN_TOKEN) or --admin-token-file <data-dir>/admin.token")
        }
    };
    if args.rate.is_some_and(|rate| !(rate.is_finite() && rate > 0.0)) {
        return usage("--rate must be a positive number of operations per second");
    }
    if args.concurrency == Some(0) || args.customers == 0 || args.duration == 0 {
        return usage("--concurrency, --customers and --duration must be at least 1");
    }
    if args.customers < args.concurrency.unwrap_or(CONCURRENCY_DEFAULT) && args.rate.is_none() {
        return usage("--customers must be at least --concurrency: each worker owns customers of its own");
    }
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).pool_max_idle_per_host(HTTP_IDLE_CONNECTIONS_MAX);
    let client = match client.build() {
        Ok(client) => client,
        Err(error) => return usage(&format!("cannot build the HTTP client: {error}")),
    };
    let api = Api { client, base: args.url.trim_end_matches('/').to_owned() };
    let context =
        Arc::new(Context { api, stop: AtomicBool::new(false), failures: Mutex::default(), mix: args.mix.clone() });
    match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime.block_on(run(args, admin, context)),
        Err(error) => usage(&format!("cannot start the runtime: {error}")),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("loadgen: {message}");
    ExitCode::from(2)
}

async fn run(args: Args, admin: String, context: Arc<Context>) -> ExitCode {
    let setup_started = Instant::now();
    let (world, customers) = match set_up(&args, &admin, &context).await {
        Ok(set_up) => set_up,
        Err(_) => {
            eprintln!("loadgen: the set-up failed");
            for failure in context.failures().iter().take(FAILURES_SHOWN_MAX) {
                eprintln!("loadgen: {failure}");
            }
            return ExitCode::FAILURE;
        }
    };
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    let from = Instant::now() + Duration::from_secs(args.warmup);
    let window = Window { from, until: from + Duration::from_secs(args.duration) };
    let world = Arc::new(world);
    let (mut recorder, mut customers) = match args.rate {
        Some(rate) => open_loop(&context, &world, customers, window, rate, args.seed).await,
        None => {
            let workers = args.concurrency.unwrap_or(CONCURRENCY_DEFAULT);
            closed_loop(&context, &world, customers, window, workers, args.seed).await
        }
    };
    let checked_at = if context.stopped() { None } else { final_check(&context, &world, &mut customers).await };
    let retired = customers.iter().filter(|customer| customer.retired).count() as u64;
    if retired > 0 {
        recorder.errors.insert("customers_retired".to_owned(), retired);
    }
    let outcome = Outcome { setup_seconds, sellers: world.sellers.len(), customers: customers.len(), checked_at };
    report(&args, &context, recorder, &outcome)
}

async fn set_up(args: &Args, admin: &str, context: &Arc<Context>) -> Result<(World, Vec<Customer>), Failed> {
    let (mut lane, now) = (Lane::new(context.clone(), Window::empty()), Instant::now());
    let run_id = format!("{:x}", std::time::SystemTime::UNIX_EPOCH.elapsed().map_or(0, |elapsed| elapsed.as_millis()));
    let Some(me) = lane.read(Kind::Update, "/v1/me", admin).await? else {
        return Err(lane.fail(format!("set-up: GET /v1/me did not answer: {}", lane.last_error)));
    };
    let super_admin = me.body["roles"].as_array().is_some_and(|roles| roles.iter().any(|role| role == "super_admin"));
    lane.check(me.body["org_kind"] == "platform" && super_admin, || {
        format!("the admin token is not the platform's super_admin: {}", me.text)
    })?;
    let key = |what: &str| format!("lg-{run_id}-setup-{what}");
    let body = json!({ "kind": "supplier", "name": format!("loadgen {run_id} supplier") });
    let supplier = lane.command(Kind::Create, post("/v1/orgs", admin, key("supplier"), body), now).await?;
    let mut products = Vec::new();
    for (index, (name, list_minor, unit)) in PRODUCTS.iter().enumerate() {
        let list_price = format_minor(*list_minor);
        let body = json!({ "name": name, "supplier_id": supplier["id"], "list_price": list_price, "unit": unit });
        let key = key(&format!("product-{index}"));
        let created = lane.command(Kind::Create, post("/v1/products", admin, key.clone(), body), now).await?;
        let id = text(&created, "id").to_owned();
        let body = json!({ "rate": format_rate(SUPPLIER_RATE) });
        lane.command(Kind::Update, put(format!("/v1/products/{id}/supplier-rate"), admin, key + "-rate", body), now)
            .await?;
        products.push((id, *list_minor));
    }
    let platform = text(&me.body, "org_id").to_owned();
    let sales = issue_token(&mut lane, admin, &platform, "sales").await?;
    let finance = issue_token(&mut lane, admin, &platform, "finance").await?;
    let mut sellers = vec![Seller { id: platform, level: 0, admin: admin.to_owned(), sales, finance }];
    // The L1s under the platform, then the L2s under each L1: a parent opens and prices its child.
    let mut parent_index = 0;
    while parent_index < sellers.len() {
        let parent = sellers[parent_index].clone();
        for child in 0..if parent.level < 2 { args.resellers_per_level } else { 0 } {
            let key = key(&format!("reseller-{parent_index}-{child}"));
            sellers.push(open_reseller(&mut lane, &parent, &products, &key).await?);
        }
        parent_index += 1;
    }
    for (seller_index, seller) in sellers.iter().enumerate() {
        for (product_index, (product, _)) in products.iter().enumerate() {
            let key = key(&format!("public-{seller_index}-{product_index}"));
            set_rate(&mut lane, seller, product, "public", PUBLIC_RATE_BY_LEVEL[seller.level], key).await?;
        }
    }
    let world = World { run_id, sellers, products };
    let customers: Vec<Result<Customer, Failed>> = stream::iter(0..args.customers)
        .map(|index| set_up_customer(context, &world, index, args.seed))
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    let mut customers = customers.into_iter().collect::<Result<Vec<Customer>, Failed>>()?;
    customers.sort_by_key(|customer| customer.index);
    Ok((world, customers))
}

async fn issue_token(lane: &mut Lane, issuer: &str, org: &str, role: &str) -> Result<String, Failed> {
    // No idempotency key: a token is shown once, so the API answers a repeated key with 409.
    let body = json!({ "roles": [role], "label": "loadgen" });
    let issued = lane.command(Kind::Create, post(format!("/v1/orgs/{org}/tokens"), issuer, None, body), Instant::now());
    let issued = issued.await?;
    let token = text(&issued, "token").to_owned();
    lane.check(!token.is_empty(), || format!("POST /v1/orgs/{org}/tokens answered no token: {issued}"))?;
    Ok(token)
}

/// `seller` sells `product` to `scope` at `rate`, at once (no rate here needs an approval).
async fn set_rate(
    lane: &mut Lane,
    seller: &Seller,
    product: &str,
    scope: &str,
    rate: i64,
    key: String,
) -> Result<(), Failed> {
    let body = json!({ "product_id": product, "scope": scope, "rate": format_rate(rate) });
    let path = format!("/v1/books/{}/rates", seller.id);
    let answer = lane.command(Kind::Update, put(path.as_str(), &seller.admin, key, body), Instant::now()).await?;
    lane.check(text(&answer, "status") == "set", || format!("PUT {path} {scope} {}: {answer}", format_rate(rate)))
}

/// A child reseller of `parent`, its tokens, and `parent`'s rates to it.
async fn open_reseller(
    lane: &mut Lane,
    parent: &Seller,
    products: &[(String, i64)],
    key: &str,
) -> Result<Seller, Failed> {
    let body = json!({ "kind": "reseller", "name": format!("loadgen {key}") });
    let created = lane.command(Kind::Create, post("/v1/orgs", &parent.admin, key.to_owned(), body), Instant::now());
    let id = text(&created.await?, "id").to_owned();
    let admin = issue_token(lane, &parent.admin, &id, "admin").await?;
    let sales = issue_token(lane, &admin, &id, "sales").await?;
    let finance = issue_token(lane, &admin, &id, "finance").await?;
    let (level, scope) = (parent.level + 1, format!("reseller:{id}"));
    for (product_index, (product, _)) in products.iter().enumerate() {
        let key = format!("{key}-rate-{product_index}");
        set_rate(lane, parent, product, &scope, RESELLER_RATE_BY_LEVEL[level], key).await?;
    }
    Ok(Seller { id, level, admin, sales, finance })
}

/// Customer `index`, under seller `index mod sellers`, with its token, its rate and its balance.
async fn set_up_customer(context: &Arc<Context>, world: &World, index: usize, seed: u64) -> Result<Customer, Failed> {
    let mut lane = Lane::new(context.clone(), Window::empty());
    let seller_index = index % world.sellers.len();
    let seller = &world.sellers[seller_index];
    let key = format!("lg-{}-c{index}-org", world.run_id);
    let body = json!({ "kind": "customer", "name": format!("loadgen {} customer {index}", world.run_id) });
    let created = lane.command(Kind::Create, post("/v1/orgs", &seller.admin, key, body), Instant::now()).await?;
    let id = text(&created, "id").to_owned();
    let token = issue_token(&mut lane, &seller.admin, &id, "customer").await?;
    let mut customer_rate = None;
    if index.is_multiple_of(CUSTOMER_RATE_EVERY) {
        let (product, rate) =
            (index / CUSTOMER_RATE_EVERY % world.products.len(), CUSTOMER_RATE_BY_LEVEL[seller.level]);
        let (scope, key) = (format!("customer:{id}"), format!("lg-{}-c{index}-rate", world.run_id));
        set_rate(&mut lane, seller, &world.products[product].0, &scope, rate, key).await?;
        customer_rate = Some((product, rate));
    }
    let mut customer = Customer {
        index,
        id,
        token,
        seller: seller_index,
        customer_rate,
        balance_minor: 0,
        last_position: 0,
        last_write_at: Instant::now(),
        paid_orders: Vec::new(),
        operations: 0,
        rng: StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index as u64)),
        retired: false,
    };
    match lane.recharge(world, &mut customer, INITIAL_BALANCE_MINOR, Instant::now()).await {
        Err(Failed::GaveUp) => Err(lane.fail(format!("set-up: no answer to an initial recharge: {}", lane.last_error))),
        other => other.map(|()| customer),
    }
}

type LaneResult = (Recorder, Vec<Customer>);

/// N workers, worker `w` owning the customers `w`, `w + N`, …, each running one operation after
/// another, on a random customer of its own, until the window ends.
async fn closed_loop(
    context: &Arc<Context>,
    world: &Arc<World>,
    customers: Vec<Customer>,
    window: Window,
    workers: usize,
    seed: u64,
) -> LaneResult {
    let mut owned: Vec<Vec<Customer>> = (0..workers).map(|_| Vec::new()).collect();
    for customer in customers {
        owned[customer.index % workers].push(customer);
    }
    let tasks = owned.into_iter().enumerate().map(|(worker, mut customers)| {
        let (mut lane, world) = (Lane::new(context.clone(), window), world.clone());
        let mut rng = StdRng::seed_from_u64(seed ^ ((worker as u64) << 32));
        tokio::spawn(async move {
            while Instant::now() < window.until && !lane.context.stopped() {
                let live: Vec<usize> = (0..customers.len()).filter(|index| !customers[*index].retired).collect();
                let Some(&index) = live.get(rng.gen_range(0..live.len().max(1))) else { break };
                if let Err(Failed::GaveUp) = lane.operate(&world, &mut customers[index], Instant::now()).await {
                    customers[index].retired = true;
                }
            }
            (lane.recorder, customers)
        })
    });
    join_all(tasks.collect()).await
}

/// R operations/s on a fixed schedule, each sent to a random customer's queue; a customer's
/// task runs its queue in order, timing each operation from its scheduled start.
async fn open_loop(
    context: &Arc<Context>,
    world: &Arc<World>,
    customers: Vec<Customer>,
    window: Window,
    rate: f64,
    seed: u64,
) -> LaneResult {
    let (mut queues, mut tasks) = (Vec::with_capacity(customers.len()), Vec::with_capacity(customers.len()));
    for mut customer in customers {
        let (queue, mut scheduled) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let (mut lane, world) = (Lane::new(context.clone(), window), world.clone());
        queues.push(queue);
        tasks.push(tokio::spawn(async move {
            while let Some(start) = scheduled.recv().await {
                if lane.context.stopped() || customer.retired || Instant::now() > window.until + DRAIN_MAX {
                    lane.error(window.contains(start), "not_started");
                    continue;
                }
                if let Err(Failed::GaveUp) = lane.operate(&world, &mut customer, start).await {
                    customer.retired = true;
                }
            }
            (lane.recorder, vec![customer])
        }));
    }
    let (begin, mut rng) = (Instant::now(), StdRng::seed_from_u64(seed));
    for operation in 0_u64.. {
        let due = begin + Duration::from_secs_f64(operation as f64 / rate);
        if due >= window.until || context.stopped() {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        // A queue's receiver lives until the queues are dropped below: sending cannot fail.
        let _ = queues[rng.gen_range(0..queues.len())].send(due);
    }
    drop(queues);
    join_all(tasks).await
}

async fn join_all(tasks: Vec<tokio::task::JoinHandle<LaneResult>>) -> LaneResult {
    let (mut recorder, mut customers) = (Recorder::default(), Vec::new());
    for task in tasks {
        let (lane_recorder, lane_customers) = task.await.expect("a load task does not panic");
        for (kind, samples) in lane_recorder.latencies_us {
            recorder.latencies_us.entry(kind).or_default().extend(samples);
        }
        recorder.lags_us.extend(lane_recorder.lags_us);
        for (kind, count) in lane_recorder.errors {
            *recorder.errors.entry(kind).or_default() += count;
        }
        customers.extend(lane_customers);
    }
    customers.sort_by_key(|customer| customer.index);
    (recorder, customers)
}

/// After the load: every customer's balance and every book's trial balance at the last position
/// any customer wrote. Answers that position, or `None` if a check failed.
async fn final_check(context: &Arc<Context>, world: &World, customers: &mut [Customer]) -> Option<u64> {
    let last = customers.iter().map(|customer| customer.last_position).max().unwrap_or(0);
    let balances: Vec<Result<(), Failed>> = stream::iter(customers.iter_mut().filter(|customer| !customer.retired))
        .map(|customer| async move {
            customer.last_position = last;
            Lane::new(context.clone(), Window::empty()).read_balance(customer).await
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    let mut lane = Lane::new(context.clone(), Window::empty());
    for seller in &world.sellers {
        lane.trial_balance(seller, last).await.ok()?;
    }
    balances.iter().all(Result::is_ok).then_some(last)
}

struct Outcome {
    setup_seconds: f64,
    sellers: usize,
    customers: usize,
    /// The position the final check read every balance at.
    checked_at: Option<u64>,
}

#[derive(Clone, Copy)]
struct Stats {
    count: usize,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

impl Stats {
    fn of(mut samples_us: Vec<u64>) -> Option<Stats> {
        if samples_us.is_empty() {
            return None;
        }
        samples_us.sort_unstable();
        let ms = |fraction: f64| percentile(&samples_us, fraction) as f64 / 1e3;
        Some(Stats { count: samples_us.len(), p50_ms: ms(0.50), p99_ms: ms(0.99), p999_ms: ms(0.999), max_ms: ms(1.0) })
    }

    fn json(&self) -> Value {
        json!({ "count": self.count, "p50": self.p50_ms, "p99": self.p99_ms, "p999": self.p999_ms, "max": self.max_ms })
    }
}

/// The figures of a run.
struct Summary {
    commands: usize,
    requests: usize,
    errors: u64,
    error_rate: f64,
    /// Per request kind, then `all`.
    latencies: Vec<(&'static str, Stats)>,
    lag: Option<Stats>,
    errors_by_kind: BTreeMap<String, u64>,
    failures: Vec<String>,
    ok: bool,
}

fn summarize(args: &Args, context: &Context, mut recorder: Recorder) -> Summary {
    let count = |commands: bool| -> usize {
        let kinds = recorder.latencies_us.iter().filter(|(kind, _)| kind.is_command() == commands);
        kinds.map(|(_, samples)| samples.len()).sum()
    };
    let (commands, requests) = (count(true), count(true) + count(false));
    // A retired customer is the consequence of errors already counted, not another one.
    let errors: u64 = recorder.errors.iter().filter(|(kind, _)| *kind != "customers_retired").map(|(_, n)| n).sum();
    let error_rate = errors as f64 / (requests as f64 + errors as f64).max(1.0);
    let all = Stats::of(recorder.latencies_us.values().flatten().copied().collect()).map(|stats| ("all", stats));
    let kinds = Kind::MEASURED.iter().filter_map(|kind| {
        Stats::of(recorder.latencies_us.remove(kind).unwrap_or_default()).map(|stats| (kind.name(), stats))
    });
    let failures = context.failures();
    Summary {
        commands,
        requests,
        errors,
        error_rate,
        latencies: kinds.chain(all).collect(),
        lag: Stats::of(std::mem::take(&mut recorder.lags_us)),
        errors_by_kind: recorder.errors,
        ok: failures.is_empty() && error_rate <= args.max_error_rate,
        failures,
    }
}

fn report(args: &Args, context: &Context, recorder: Recorder, outcome: &Outcome) -> ExitCode {
    let summary = summarize(args, context, recorder);
    for line in text_report(args, &summary, outcome) {
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    if args.json {
        println!("{}", json_report(args, &summary, outcome));
    }
    if summary.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn text_report(args: &Args, summary: &Summary, outcome: &Outcome) -> Vec<String> {
    let (seconds, n) = (args.duration as f64, args.resellers_per_level);
    let mode = match args.rate {
        Some(rate) => format!("open loop, {rate} operations/s scheduled"),
        None => format!("closed loop, {} workers", args.concurrency.unwrap_or(CONCURRENCY_DEFAULT)),
    };
    let (commands, requests) = (summary.commands, summary.requests);
    let mut lines = vec![
        format!("loadgen against {}: {mode}, mix {}", args.url, args.mix.text()),
        format!(
            "set-up: {} sellers (platform, {n} L1, {n} L2 under each), {} products, {} customers in {:.1} s",
            outcome.sellers,
            PRODUCTS.len(),
            outcome.customers,
            outcome.setup_seconds
        ),
        format!(
            "measured {seconds:.0} s after {} s of warm-up: {commands} commands = {:.0} commands/s; \
             {requests} requests = {:.0} requests/s",
            args.warmup,
            commands as f64 / seconds,
            requests as f64 / seconds
        ),
        format!("  {:<20} {:>8} {:>9} {:>9} {:>9} {:>9}", "request", "count", "p50 ms", "p99 ms", "p999 ms", "max ms"),
    ];
    for (name, stats) in &summary.latencies {
        let Stats { count, p50_ms, p99_ms, p999_ms, max_ms } = stats;
        lines.push(format!("  {name:<20} {count:>8} {p50_ms:>9.2} {p99_ms:>9.2} {p999_ms:>9.2} {max_ms:>9.2}"));
    }
    lines.push(match summary.lag {
        Some(Stats { count, p50_ms, p99_ms, max_ms, .. }) => format!(
            "read-your-writes lag (write answered → balance read with min_position answered), {count} reads: \
             p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms, max {max_ms:.2} ms"
        ),
        None => "read-your-writes lag: no samples".to_owned(),
    });
    let kinds: Vec<String> = summary.errors_by_kind.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
    lines.push(format!(
        "errors: {} of {} requests ({:.3} %, limit {:.3} %){}",
        summary.errors,
        requests as u64 + summary.errors,
        summary.error_rate * 100.0,
        args.max_error_rate * 100.0,
        if kinds.is_empty() { String::new() } else { format!(": {}", kinds.join(", ")) }
    ));
    if let Some(position) = outcome.checked_at {
        lines.push(format!("final check: every balance and trial balance as expected at position {position}"));
    }
    if summary.error_rate > args.max_error_rate {
        lines.push(format!("FAILED: the error rate is over --max-error-rate {}", args.max_error_rate));
    }
    lines.extend(summary.failures.iter().take(FAILURES_SHOWN_MAX).map(|failure| format!("WRONG ANSWER: {failure}")));
    lines
}

fn json_report(args: &Args, summary: &Summary, outcome: &Outcome) -> Value {
    let seconds = args.duration as f64;
    let latencies: serde_json::Map<String, Value> =
        summary.latencies.iter().map(|(name, stats)| ((*name).to_owned(), stats.json())).collect();
    json!({
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "concurrency": args.rate.is_none().then(|| args.concurrency.unwrap_or(CONCURRENCY_DEFAULT)),
        "rate": args.rate,
        "url": args.url,
        "duration_s": seconds,
        "warmup_s": args.warmup,
        "sellers": outcome.sellers,
        "customers": outcome.customers,
        "commands": summary.commands,
        "commands_per_s": summary.commands as f64 / seconds,
        "requests": summary.requests,
        "requests_per_s": summary.requests as f64 / seconds,
        "latency_ms": latencies,
        "lag_ms": summary.lag.map(|lag| lag.json()),
        "errors": summary.errors_by_kind,
        "error_rate": summary.error_rate,
        "checked_at": outcome.checked_at,
        "failures": summary.failures,
        "ok": summary.ok,
    })
}
