//! The console's pages and forms. Each reads what it shows from the JSON API as the signed-in
//! person, and each form's action is the API's command (see the module's documentation).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{Datelike, Months, NaiveDate};
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::view::{self, badge, decimal, group, money, page, problem_box, problem_page};
use super::{check_csrf, random_hex, Console, Ctx, Problem};

type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;
type Params = Query<HashMap<String, String>>;
type FormBody = Result<Form<HashMap<String, String>>, FormRejection>;

macro_rules! signed_in {
    ($console:expr, $headers:expr, $peer:expr) => {
        match $console.ctx(&$headers, $peer.map(|Extension(ConnectInfo(address))| address)).await {
            Ok(ctx) => ctx,
            Err(response) => return response,
        }
    };
}

/// The form's fields after its CSRF token is checked (a form without one is refused).
macro_rules! checked_form {
    ($ctx:expr, $form:expr) => {{
        let form = $form.map(|Form(form)| form).unwrap_or_default();
        if let Err(refused) = check_csrf(&$ctx, &form) {
            return refused;
        }
        form
    }};
}

/// The hidden fields of every form: the CSRF token and a fresh idempotency key.
fn hidden(ctx: &Ctx) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(ctx.csrf);
        input type="hidden" name="idem" value=(random_hex());
    }
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(|value| value.trim()).unwrap_or("")
}

fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> &'a str {
    query.get(name).map(|value| value.trim()).unwrap_or("")
}

/// A query string of the non-empty pairs, each value percent-encoded.
fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path segment the person typed or clicked: an id, a position. Anything else is refused
/// before it reaches a URL.
fn segment(text: &str) -> Option<&str> {
    (!text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then_some(text)
}

fn bad_field(field: &str, detail: &str) -> Problem {
    Problem {
        status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        title: "Invalid input".to_owned(),
        detail: detail.to_owned(),
        field: Some(field.to_owned()),
    }
}

fn text<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name].as_str().unwrap_or("")
}

fn items(value: &Value) -> Vec<Value> {
    value["items"].as_array().cloned().unwrap_or_default()
}

/// A sum the console added up, with the two decimals money is shown with (`0.00`, never `0`).
fn cents(amount: Decimal) -> String {
    format!("{:.2}", amount.round_dp(2))
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn notice(ctx: &Ctx, query: &HashMap<String, String>) -> Markup {
    html! { @if query.contains_key("done") { p.notice role="status" { (ctx.t("done")) } } }
}

fn done(to: &str) -> Response {
    let separator = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{separator}done=1")).into_response()
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The book's currency: the org's (a customer's from its balance).
async fn currency(console: &Console, ctx: &Ctx) -> String {
    let path = if ctx.is_customer() {
        format!("/v1/customers/{}/balance", ctx.org())
    } else {
        format!("/v1/orgs/{}", ctx.org())
    };
    console.get(ctx, &path).await.ok().and_then(|v| v["currency"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// Names of the orgs the person may read, by id (what a table shows instead of an id).
async fn names(console: &Console, ctx: &Ctx) -> HashMap<String, String> {
    let mut names = HashMap::new();
    names.insert(ctx.org().to_owned(), text(&ctx.me, "org_name").to_owned());
    if ctx.can("orgs.read") {
        for path in ["/v1/customers?limit=500", "/v1/resellers?limit=500", "/v1/suppliers?limit=500"] {
            if let Ok(page) = console.get(ctx, path).await {
                for item in items(&page) {
                    names.insert(text(&item, "id").to_owned(), text(&item, "name").to_owned());
                }
            }
        }
    }
    names
}

fn name_of(names: &HashMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| short(id).to_owned())
}

// ---------------------------------------------------------------- the dashboard

pub async fn dashboard(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    if ctx.is_customer() {
        return customer_home(&console, &ctx, &query).await;
    }
    let currency = currency(&console, &ctx).await;
    let today = console.today();
    let from = first_of_month(today).checked_sub_months(Months::new(5)).unwrap_or(today);
    let period = query_string(&[("from", &from.to_string()), ("to", &today.to_string()), ("granularity", "month")]);
    let book = ctx.org().to_owned();
    let mut problems = Vec::new();
    let series = [ctx.t("revenue"), ctx.t("discounts"), ctx.t("cost"), ctx.t("gross_profit")];
    let figures = |row: &Value| -> [Decimal; 4] {
        ["revenue", "discounts", "cost", "gross_profit"].map(|name| decimal(text(row, name)))
    };
    // Months from `from` through today, each with the book's totals (the rows without a key).
    let mut months: Vec<(String, [Decimal; 4])> = Vec::new();
    let mut month = from;
    while month <= today {
        months.push((month.format("%Y-%m").to_string(), [Decimal::ZERO; 4]));
        match month.checked_add_months(Months::new(1)) {
            Some(next) => month = next,
            None => break,
        }
    }
    let mut tops: Vec<(&str, Vec<(String, [Decimal; 4])>)> = Vec::new();
    if ctx.can("kpis.read") {
        match console.get(&ctx, &format!("/v1/books/{book}/kpi?{period}")).await {
            Ok(kpi) => {
                for row in items(&kpi).iter().filter(|row| row["key"].is_null()) {
                    if let Some(slot) = months.iter_mut().find(|(name, _)| name == text(row, "period")) {
                        let values = figures(row);
                        for (total, value) in slot.1.iter_mut().zip(values) {
                            *total += value;
                        }
                    }
                }
            }
            Err(problem) => problems.push(problem),
        }
        for (title, by) in [("top_products", "product"), ("top_resellers", "reseller"), ("top_customers", "customer")] {
            let mut totals: Vec<(String, [Decimal; 4])> = Vec::new();
            if let Ok(kpi) = console.get(&ctx, &format!("/v1/books/{book}/kpi?{period}&by={by}")).await {
                for row in items(&kpi).iter().filter(|row| !row["key"].is_null()) {
                    let name = row["name"].as_str().unwrap_or_else(|| text(row, "key")).to_owned();
                    let values = figures(row);
                    match totals.iter_mut().find(|(known, _)| *known == name) {
                        Some(slot) => slot.1.iter_mut().zip(values).for_each(|(total, value)| *total += value),
                        None => totals.push((name, values)),
                    }
                }
            }
            totals.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then_with(|| a.0.cmp(&b.0)));
            totals.truncate(5);
            tops.push((title, totals));
        }
    }
    let (mut wallets, mut vouchers) = (None, None);
    if ctx.can("ledger.read") {
        if let Ok(balance) = console.get(&ctx, &format!("/v1/books/{book}/trial-balance?as_of={today}")).await {
            let net = |code: &str| {
                balance["accounts"].as_array().and_then(|accounts| {
                    accounts
                        .iter()
                        .find(|row| row["code"] == code)
                        .map(|row| decimal(text(row, "credit")) - decimal(text(row, "debit")))
                })
            };
            wallets = Some(net("2203").unwrap_or_default());
            vouchers = Some(net("2203.01").unwrap_or_default());
        }
    }
    let pending = if ctx.can("approvals.read") {
        console.get(&ctx, "/v1/approvals?status=pending&limit=100").await.ok().map(|page| {
            let count = items(&page).len();
            if page["next_cursor"].is_null() {
                count.to_string()
            } else {
                format!("{count}+")
            }
        })
    } else {
        None
    };
    let metrics = console.metrics_text().await;
    let lag = metric(&metrics, "kboss_read_lag_events").map(|(_, value)| value);
    let content = html! {
        @for problem in &problems { (problem_box(&ctx, problem)) }
        div.grid {
            @if let Some(wallets) = wallets { div.card.stat #wallets { div.label { (ctx.t("wallets")) } div.value { (money(&cents(wallets), &currency)) } } }
            @if let Some(vouchers) = vouchers { div.card.stat #vouchers { div.label { (ctx.t("vouchers")) } div.value { (money(&cents(vouchers), &currency)) } } }
            @if let Some(pending) = &pending { div.card.stat #pending { div.label { (ctx.t("pending_approvals")) } div.value { a href="/console/approvals" { (pending) } } } }
            div.card.stat #lag { div.label { (ctx.t("projection_lag")) } div.value { (lag.unwrap_or_else(|| "—".to_owned())) } }
        }
        @if ctx.can("kpis.read") {
            section.card aria-labelledby="chart-title" {
                h2 #chart-title { (ctx.t("revenue")) ", " (ctx.t("discounts")) ", " (ctx.t("cost")) ", " (ctx.t("gross_profit")) " · " (ctx.t("by_month")) }
                (view::bar_chart(ctx.t("by_month"), &series, &months, &currency))
                table #kpi-months {
                    thead { tr { th { (ctx.t("period")) } @for name in &series { th.num { (name) } } } }
                    tbody { @for (month, values) in &months { tr data-period=(month) { td { (month) } @for value in values { td.num { (group(&cents(*value))) } } } } }
                }
            }
            div.grid {
                @for (title, rows) in &tops {
                    section.card id=(title) {
                        h2 { (ctx.t(title)) }
                        @if rows.is_empty() { p.muted { (ctx.t("none")) } } @else {
                            table { thead { tr { th { (ctx.t("name")) } th.num { (ctx.t("revenue")) } th.num { (ctx.t("gross_profit")) } } }
                                tbody { @for (name, values) in rows { tr { td { (name) } td.num { (money(&cents(values[0]), &currency)) } td.num { (money(&cents(values[3]), &currency)) } } } } }
                        }
                    }
                }
            }
        }
    };
    page(&ctx, "dashboard", ctx.t("dashboard"), content)
}

/// A customer's home: the balance, the order form and their orders.
async fn customer_home(console: &Console, ctx: &Ctx, query: &HashMap<String, String>) -> Response {
    let me = ctx.org().to_owned();
    let balance = console.get(ctx, &format!("/v1/customers/{me}/balance")).await;
    let products = if ctx.can("catalog.read") { console.get(ctx, "/v1/products?limit=200").await.ok() } else { None };
    let orders = console.get(ctx, &format!("/v1/orders?customer_id={me}&limit=50")).await;
    let content = html! {
        (notice(ctx, query))
        @match &balance {
            Ok(balance) => {
                @let cur = text(balance, "currency");
                div.grid #balance {
                    div.card.stat { div.label { (ctx.t("balance")) } div.value #balance-total { (money(text(balance, "balance"), cur)) } }
                    div.card.stat { div.label { (ctx.t("available")) } div.value { (money(text(balance, "available"), cur)) } }
                    div.card.stat { div.label { (ctx.t("vouchers")) } div.value { (money(text(balance, "voucher"), cur)) } }
                    div.card.stat { div.label { (ctx.t("credit_limit")) } div.value { (money(text(balance, "credit_limit"), cur)) } }
                }
            }
            Err(problem) => (problem_box(ctx, problem)),
        }
        @if ctx.can("orders.place") {
            @if let Some(products) = &products { (order_form(ctx, &me, products)) }
        }
        @match &orders {
            Ok(orders) => section.card { h2 { (ctx.t("orders")) } (orders_table(ctx, &items(orders), &HashMap::new())) },
            Err(problem) => (problem_box(ctx, problem)),
        }
    };
    page(ctx, "dashboard", ctx.t("this_is_you"), content)
}

fn order_form(ctx: &Ctx, customer: &str, products: &Value) -> Markup {
    html! {
        section.card aria-labelledby="place-title" {
            h2 #place-title { (ctx.t("place_order")) }
            form.inline method="post" action="/console/orders" {
                (hidden(ctx))
                input type="hidden" name="customer_id" value=(customer);
                label { (ctx.t("product"))
                    select name="product_id" #product required {
                        @for product in items(products) { option value=(text(&product, "id")) { (text(&product, "name")) } }
                    } }
                label { (ctx.t("quantity")) input #quantity name="quantity" value="1" inputmode="decimal" required size="6"; }
                label { (ctx.t("periods")) input #periods name="periods" value="1" inputmode="numeric" required size="4"; }
                button.primary #place type="submit" { (ctx.t("place_order")) }
            }
        }
    }
}

/// A `# TYPE`-less Prometheus line's first sample of `name` (any labels): its labels and value.
fn metric(text: &str, name: &str) -> Option<(String, String)> {
    metrics(text, name).into_iter().next()
}

fn metrics(text: &str, name: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, labels)) => (metric, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            (metric == name).then(|| (labels.to_owned(), value.to_owned()))
        })
        .collect()
}

/// One label's value in a Prometheus label set (`projection="orders",x="y"` → `orders`); the
/// set as it is when the label is not in it.
fn label_value<'a>(labels: &'a str, name: &str) -> &'a str {
    labels.split(',').find_map(|pair| pair.strip_prefix(name)?.strip_prefix("=\"")?.strip_suffix('"')).unwrap_or(labels)
}

/// A count Prometheus wrote with a decimal point (`40.0`), as the whole number it is.
fn whole(count: &str) -> String {
    match count.parse::<Decimal>() {
        Ok(value) if value.fract().is_zero() => value.trunc().normalize().to_string(),
        _ => count.to_owned(),
    }
}

// ---------------------------------------------------------------- approvals

pub async fn approvals(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let pending = console.get(&ctx, "/v1/approvals?status=pending&limit=100").await;
    let mut history = Vec::new();
    for status in ["granted", "rejected"] {
        if let Ok(page) = console.get(&ctx, &format!("/v1/approvals?status={status}&limit=50")).await {
            history.extend(items(&page));
        }
    }
    history.sort_by(|a, b| b["position"].as_u64().cmp(&a["position"].as_u64()));
    let content = html! {
        (notice(&ctx, &query))
        @match &pending {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(page) => section.card #pending-approvals {
                h2 { (ctx.t("pending")) }
                @let list = items(page);
                @if list.is_empty() { p.muted { (ctx.t("none")) } }
                @for approval in &list { (pending_approval(&ctx, approval)) }
            },
        }
        section.card #history {
            h2 { (ctx.t("history")) }
            @if history.is_empty() { p.muted { (ctx.t("none")) } } @else {
                table { thead { tr { th { (ctx.t("kind")) } th { (ctx.t("customer")) } th.num { (ctx.t("amount")) } th { (ctx.t("status")) } th { (ctx.t("comment")) } th { (ctx.t("requested")) } } }
                    tbody { @for approval in &history { tr {
                        td { (text(approval, "kind")) }
                        td { (text(&approval["subject"], "customer_name")) }
                        td.num { @if approval["subject"].is_object() { (money(text(&approval["subject"], "amount"), text(&approval["subject"], "currency"))) } }
                        td { (badge(text(approval, "status"))) }
                        td { (text(approval, "comment")) }
                        td { (ctx.when(text(approval, "created_at"))) }
                    } } } }
            }
        }
    };
    page(&ctx, "approvals", ctx.t("approvals"), content)
}

/// One pending request: what it is, what it would book, the decision form.
fn pending_approval(ctx: &Ctx, approval: &Value) -> Markup {
    let id = text(approval, "id");
    let subject = &approval["subject"];
    let kind = text(approval, "kind");
    // A wallet movement books cash against the customer's prepayments (DESIGN §2.6).
    let lines: Vec<(&str, &str, &str, bool)> = match (kind, subject.is_object()) {
        ("recharge", true) => {
            vec![("1002", "Bank", "", true), ("2203", "Customer prepayments", text(subject, "customer_name"), false)]
        }
        ("withdrawal", true) => {
            vec![("2203", "Customer prepayments", text(subject, "customer_name"), true), ("1002", "Bank", "", false)]
        }
        _ => vec![],
    };
    html! {
        article.card data-approval=(id) style="border-left:4px solid #f59e0b" {
            dl.kv {
                dt { (ctx.t("kind")) } dd { strong { (kind) } " " (badge(text(approval, "status"))) }
                @if subject.is_object() {
                    dt { (ctx.t("customer")) } dd { (text(subject, "customer_name")) }
                    dt { (ctx.t("amount")) } dd.approval-amount { (money(text(subject, "amount"), text(subject, "currency"))) }
                    dt { (ctx.t("reference")) } dd { (text(subject, "reference")) }
                }
                dt { (ctx.t("requested")) } dd { (ctx.when(text(approval, "created_at"))) }
            }
            @if !lines.is_empty() {
                table.would-book style="margin-top:8px" aria-label=(ctx.t("would_book")) {
                    thead { tr { th { (ctx.t("would_book")) } th { (ctx.t("party")) } th.num { (ctx.t("debit")) } th.num { (ctx.t("credit")) } } }
                    tbody { @for (code, name, party, debit) in &lines { tr {
                        td { (code) " " (name) } td { (party) }
                        td.num { @if *debit { (money(text(subject, "amount"), text(subject, "currency"))) } }
                        td.num { @if !*debit { (money(text(subject, "amount"), text(subject, "currency"))) } }
                    } } }
                }
            } @else {
                details { summary { (ctx.t("would_book")) } pre.mono { (serde_json::to_string_pretty(&approval["payload"]).unwrap_or_default()) } }
            }
            form.inline method="post" action={ "/console/approvals/" (id) "/decide" } style="margin-top:10px" {
                (hidden(ctx))
                label style="flex:1 1 240px" { (ctx.t("comment")) input name="comment" maxlength="500"; }
                button.primary type="submit" name="action" value="approve" { (ctx.t("approve")) }
                button.danger type="submit" name="action" value="reject" { (ctx.t("reject")) }
            }
        }
    }
}

pub async fn decide(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not an approval id"), "/console/approvals");
    };
    let action = match field(&form, "action") {
        "approve" => "approve",
        "reject" => "reject",
        _ => return problem_page(&ctx, &bad_field("action", "approve or reject"), "/console/approvals"),
    };
    let comment = field(&form, "comment");
    let body = if comment.is_empty() { json!({}) } else { json!({ "comment": comment }) };
    match console
        .send(&ctx, Method::POST, &format!("/v1/approvals/{id}/{action}"), &body, Some(field(&form, "idem")))
        .await
    {
        Ok(_) => done("/console/approvals"),
        Err(problem) => problem_page(&ctx, &problem, "/console/approvals"),
    }
}

// ---------------------------------------------------------------- customers and resellers

pub async fn customers(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let q = param(&query, "q");
    let answer = console.get(&ctx, &format!("/v1/customers?{}", query_string(&[("q", q), ("limit", "100")]))).await;
    let content = html! {
        (search_form(&ctx, "/console/customers", q))
        @match &answer {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(page) => section.card {
                @let list = items(page);
                @if list.is_empty() { p.muted { (ctx.t("none")) } } @else {
                    table #customers-table { thead { tr { th { (ctx.t("name")) } th { (ctx.t("status")) } th.num { (ctx.t("balance")) } th.num { (ctx.t("cash")) } th.num { (ctx.t("voucher")) } } }
                        tbody { @for customer in &list { tr {
                            td { a href={ "/console/customers/" (text(customer, "id")) } { (text(customer, "name")) } }
                            td { (text(customer, "status")) }
                            td.num { (group(text(customer, "balance"))) } td.num { (group(text(customer, "cash"))) } td.num { (group(text(customer, "voucher"))) }
                        } } } }
                }
            },
        }
    };
    page(&ctx, "customers", ctx.t("customers"), content)
}

fn search_form(ctx: &Ctx, action: &str, q: &str) -> Markup {
    html! {
        form.inline.card method="get" action=(action) role="search" {
            label { (ctx.t("search_by_name")) input #q type="search" name="q" value=(q); }
            button.plain type="submit" { (ctx.t("search")) }
        }
    }
}

pub async fn customer(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not a customer id"), "/console/customers");
    };
    let record = match console.get(&ctx, &format!("/v1/orgs/{id}")).await {
        Ok(record) => record,
        Err(problem) => return problem_page(&ctx, &problem, "/console/customers"),
    };
    let today = console.today();
    let balance = console.get(&ctx, &format!("/v1/customers/{id}/balance")).await;
    let statement =
        console.get(&ctx, &format!("/v1/customers/{id}/statement?from={}&to={today}", first_of_month(today))).await;
    let orders = console.get(&ctx, &format!("/v1/orders?customer_id={id}&limit=50")).await;
    let users =
        if ctx.can("users.read") { Some(console.get(&ctx, &format!("/v1/orgs/{id}/users")).await) } else { None };
    // Each person's tokens, to revoke one that leaked or is no longer needed.
    let mut tokens = Vec::new();
    if let Some(Ok(users)) = &users {
        for user in items(users) {
            if let Ok(page) = console.get(&ctx, &format!("/v1/users/{}/tokens?limit=100", text(&user, "id"))).await {
                tokens.extend(items(&page).into_iter().map(|token| (text(&user, "name").to_owned(), token)));
            }
        }
    }
    let cur = text(&record, "currency").to_owned();
    let content = html! {
        (notice(&ctx, &query))
        div.grid {
            section.card { h2 { (ctx.t("profile")) }
                dl.kv {
                    dt { (ctx.t("name")) } dd #customer-name { (text(&record, "name")) }
                    dt { (ctx.t("status")) } dd { (text(&record, "status")) }
                    dt { (ctx.t("currency")) } dd { (cur) }
                    @if let Some(profile) = record["profile"].as_object() {
                        @for (key, value) in profile { @if let Some(value) = value.as_str() { dt { (key) } dd { (value) } } }
                    }
                }
            }
            section.card #customer-balance { h2 { (ctx.t("balance")) }
                @match &balance {
                    Ok(balance) => dl.kv {
                        dt { (ctx.t("balance")) } dd.balance { (money(text(balance, "balance"), &cur)) }
                        dt { (ctx.t("cash")) } dd { (money(text(balance, "cash"), &cur)) }
                        dt { (ctx.t("vouchers")) } dd { (money(text(balance, "voucher"), &cur)) }
                        dt { (ctx.t("available")) } dd { (money(text(balance, "available"), &cur)) }
                        dt { (ctx.t("credit_limit")) } dd { (money(text(balance, "credit_limit"), &cur)) }
                        dt { (ctx.t("arrears")) } dd { (money(text(balance, "arrears"), &cur)) }
                    },
                    Err(problem) => (problem_box(&ctx, problem)),
                }
            }
        }
        section.card { h2 { (ctx.t("statement")) " " (first_of_month(today)) " – " (today) }
            @match &statement {
                Ok(statement) => {
                    p #statement-totals { (ctx.t("opening")) ": " (money(text(&statement["opening"], "total"), &cur)) " · " (ctx.t("closing")) ": " (money(text(&statement["closing"], "total"), &cur)) }
                    table #statement { thead { tr { th { (ctx.t("date")) } th { (ctx.t("kind")) } th.num { (ctx.t("cash")) } th.num { (ctx.t("voucher")) } th.num { (ctx.t("balance")) } th { (ctx.t("reference")) } } }
                        tbody { @for line in items(statement) { tr {
                            td { (text(&line, "date")) } td { (text(&line, "kind")) }
                            td.num { (group(text(&line, "cash"))) } td.num { (group(text(&line, "voucher"))) } td.num { (group(text(&line, "balance"))) }
                            td { @if let Some(order) = line["order_id"].as_str() { a href={ "/console/orders/" (order) } { (short(order)) } } @else { (text(&line, "reference")) } }
                        } } } }
                }
                Err(problem) => (problem_box(&ctx, problem)),
            }
        }
        section.card #customer-orders { h2 { (ctx.t("orders")) }
            @match &orders { Ok(orders) => (orders_table(&ctx, &items(orders), &HashMap::new())), Err(problem) => (problem_box(&ctx, problem)) }
        }
        @if let Some(users) = &users {
            section.card { h2 { (ctx.t("users")) }
                @match users {
                    Ok(users) => table { thead { tr { th { (ctx.t("name")) } th { (ctx.t("roles")) } th { (ctx.t("status")) } } }
                        tbody { @for user in items(users) { tr {
                            td { (text(&user, "name")) } td { (roles_of(&user)) } td { (text(&user, "status")) }
                        } } } },
                    Err(problem) => (problem_box(&ctx, problem)),
                }
            }
            section.card #tokens { h2 { (ctx.t("tokens")) }
                @if tokens.is_empty() { p.muted { (ctx.t("none")) } } @else {
                    table { thead { tr { th { (ctx.t("name")) } th { (ctx.t("label")) } th { (ctx.t("roles")) } th { (ctx.t("expires")) } th { (ctx.t("status")) } th {} } }
                        tbody { @for (holder, token) in &tokens { tr data-token=(text(token, "id")) {
                            td { (holder) } td { (text(token, "label")) } td { (roles_of(token)) } td { (ctx.when(text(token, "expires_at"))) }
                            @if token["revoked_at"].is_string() {
                                td { (badge("revoked"))  " " (ctx.when(text(token, "revoked_at"))) } td {}
                            } @else {
                                td { (badge("active")) }
                                td { @if ctx.can("users.write") {
                                    form.inline method="post" action={ "/console/tokens/" (text(token, "id")) "/revoke" } {
                                        (hidden(&ctx))
                                        input type="hidden" name="back" value=(id);
                                        input name="reason" aria-label=(ctx.t("reason")) placeholder=(ctx.t("reason")) size="12";
                                        button.danger type="submit" { (ctx.t("revoke")) }
                                    }
                                } }
                            }
                        } } } }
                }
            }
        }
    };
    page(&ctx, "customers", text(&record, "name"), content)
}

/// Revokes a token from a customer's profile, with the reason given.
pub async fn revoke_token(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let back = match segment(field(&form, "back")) {
        Some(customer) => format!("/console/customers/{customer}"),
        None => "/console/customers".to_owned(),
    };
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not a token id"), &back);
    };
    let reason = Some(field(&form, "reason")).filter(|reason| !reason.is_empty());
    let body = json!({ "reason": reason });
    match console.send(&ctx, Method::POST, &format!("/v1/tokens/{id}/revoke"), &body, Some(field(&form, "idem"))).await
    {
        Ok(_) => done(&back),
        Err(problem) => problem_page(&ctx, &problem, &back),
    }
}

fn roles_of(value: &Value) -> String {
    value["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

pub async fn resellers(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let q = param(&query, "q");
    let answer = console.get(&ctx, &format!("/v1/resellers?{}", query_string(&[("q", q), ("limit", "100")]))).await;
    let content = html! {
        (search_form(&ctx, "/console/resellers", q))
        @match &answer {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(page) => section.card {
                @let list = items(page);
                @if list.is_empty() { p.muted { (ctx.t("none")) } } @else {
                    table { thead { tr { th { (ctx.t("name")) } th { (ctx.t("status")) } th { (ctx.t("currency")) } th { "ID" } } }
                        tbody { @for reseller in &list { tr {
                            td { (text(reseller, "name")) } td { (text(reseller, "status")) } td { (text(reseller, "currency")) } td.mono { (text(reseller, "id")) }
                        } } } }
                }
            },
        }
    };
    page(&ctx, "resellers", ctx.t("resellers"), content)
}

// ---------------------------------------------------------------- orders

fn orders_table(ctx: &Ctx, orders: &[Value], names: &HashMap<String, String>) -> Markup {
    html! {
        @if orders.is_empty() { p.muted { (ctx.t("none")) } } @else {
            table.orders { thead { tr { th { (ctx.t("order")) } th { (ctx.t("customer")) } th { (ctx.t("status")) } th.num { (ctx.t("total")) } th.num { (ctx.t("paid")) } th { (ctx.t("placed_on")) } } }
                tbody { @for order in orders { tr {
                    td { a.mono href={ "/console/orders/" (text(order, "id")) } { (short(text(order, "id"))) } }
                    td { (name_of(names, text(order, "customer_id"))) }
                    td { (badge(text(order, "status"))) }
                    td.num { (group(text(order, "total"))) } td.num { (group(text(order, "paid"))) }
                    td { (text(order, "placed_on")) }
                } } } }
        }
    }
}

pub async fn orders(State(console): State<Console>, peer: Peer, headers: HeaderMap, Query(query): Params) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let (status, from, to) = (param(&query, "status"), param(&query, "from"), param(&query, "to"));
    let customer = if ctx.is_customer() { ctx.org().to_owned() } else { param(&query, "customer_id").to_owned() };
    let filters =
        query_string(&[("status", status), ("from", from), ("to", to), ("customer_id", &customer), ("limit", "100")]);
    let answer = console.get(&ctx, &format!("/v1/orders?{filters}")).await;
    let names = names(&console, &ctx).await;
    let products = if ctx.is_customer() && ctx.can("orders.place") {
        console.get(&ctx, "/v1/products?limit=200").await.ok()
    } else {
        None
    };
    // Staff filter by customer: the ones they may read, by name.
    let customers = if !ctx.is_customer() && ctx.can("orgs.read") {
        console.get(&ctx, "/v1/customers?limit=500").await.ok().map(|page| items(&page))
    } else {
        None
    };
    let content = html! {
        (notice(&ctx, &query))
        @if let Some(products) = &products { (order_form(&ctx, ctx.org(), products)) }
        form.inline.card method="get" action="/console/orders" {
            @if let Some(customers) = &customers {
                label { (ctx.t("customer")) select #customer-filter name="customer_id" {
                    option value="" { (ctx.t("any")) }
                    @for item in customers {
                        option value=(text(item, "id")) selected[text(item, "id") == customer] { (text(item, "name")) }
                    } } }
            }
            label { (ctx.t("status")) select name="status" {
                option value="" { (ctx.t("any")) }
                @for choice in ["pending_payment", "paid", "fulfilled", "cancelled", "refunded", "partially_refunded"] {
                    option value=(choice) selected[choice == status] { (choice) }
                } } }
            label { (ctx.t("from")) input type="date" name="from" value=(from); }
            label { (ctx.t("to")) input type="date" name="to" value=(to); }
            button.plain type="submit" { (ctx.t("filter")) }
        }
        @match &answer {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(page) => section.card { (orders_table(&ctx, &items(page), &names)) },
        }
    };
    page(&ctx, "orders", ctx.t("orders"), content)
}

pub async fn place_order(State(console): State<Console>, peer: Peer, headers: HeaderMap, form: FormBody) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let Ok(periods) = field(&form, "periods").parse::<u32>() else {
        return problem_page(&ctx, &bad_field("periods", "a whole number of periods"), "/console/orders");
    };
    let body = json!({
        "customer_id": field(&form, "customer_id"),
        "items": [{ "product_id": field(&form, "product_id"), "quantity": field(&form, "quantity"), "periods": periods }],
    });
    match console.send(&ctx, Method::POST, "/v1/orders", &body, Some(field(&form, "idem"))).await {
        Ok(order) => match segment(text(&order, "id")) {
            Some(id) => Redirect::to(&format!("/console/orders/{id}")).into_response(),
            None => done("/console/orders"),
        },
        Err(problem) => problem_page(&ctx, &problem, "/console/orders"),
    }
}

pub async fn order(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not an order id"), "/console/orders");
    };
    let order = match console.get(&ctx, &format!("/v1/orders/{id}")).await {
        Ok(order) => order,
        Err(problem) => return problem_page(&ctx, &problem, "/console/orders"),
    };
    let cur = currency(&console, &ctx).await;
    let mut names = names(&console, &ctx).await;
    let mut products: HashMap<String, String> = HashMap::new();
    for item in order["items"].as_array().into_iter().flatten() {
        let product = text(item, "product_id");
        if let Some(product_id) = segment(product) {
            if let Ok(found) = console.get(&ctx, &format!("/v1/products/{product_id}")).await {
                products.insert(product.to_owned(), text(&found, "name").to_owned());
            }
        }
    }
    // The orgs of the waterfall's levels the person may read (the platform's super_admin: all).
    for level in
        order["waterfall"].as_array().into_iter().flatten().flat_map(|w| w["levels"].as_array().into_iter().flatten())
    {
        let org = text(level, "org_id");
        if !names.contains_key(org) {
            if let Some(org_id) = segment(org) {
                if let Ok(found) = console.get(&ctx, &format!("/v1/orgs/{org_id}")).await {
                    names.insert(org.to_owned(), text(&found, "name").to_owned());
                }
            }
        }
    }
    let status = text(&order, "status");
    let content = html! {
        (notice(&ctx, &query))
        div.grid {
            section.card { dl.kv {
                dt { (ctx.t("status")) } dd #order-status { (badge(status)) }
                dt { (ctx.t("customer")) } dd { (name_of(&names, text(&order, "customer_id"))) }
                dt { (ctx.t("total")) } dd #order-total { (money(text(&order, "total"), &cur)) }
                dt { (ctx.t("paid")) } dd { (money(text(&order, "paid"), &cur)) }
                dt { (ctx.t("refunded")) } dd { (money(text(&order, "refunded"), &cur)) }
                dt { (ctx.t("placed_on")) } dd { (text(&order, "placed_on")) }
            } }
            @if status == "pending_payment" && ctx.can("orders.pay") {
                section.card { form method="post" action={ "/console/orders/" (id) "/pay" } {
                    (hidden(&ctx))
                    p { (ctx.t("total")) ": " (money(text(&order, "total"), &cur)) }
                    button.primary #pay type="submit" { (ctx.t("pay")) }
                } }
            }
            @if (status == "paid" || status == "fulfilled" || status == "partially_refunded") && ctx.can("orders.refund") {
                section.card { h2 { (ctx.t("refund")) }
                    form.inline method="post" action={ "/console/orders/" (id) "/refund" } {
                        (hidden(&ctx))
                        label { (ctx.t("amount")) input name="amount" inputmode="decimal" required size="10"; }
                        label { (ctx.t("penalty")) input name="penalty" inputmode="decimal" size="8"; }
                        label { (ctx.t("reason")) input name="reason" required; }
                        button.danger type="submit" { (ctx.t("refund")) }
                    }
                }
            }
        }
        section.card { h2 { (ctx.t("items")) }
            table { thead { tr { th { (ctx.t("product")) } th.num { (ctx.t("quantity")) } th.num { (ctx.t("periods")) } th.num { (ctx.t("unit_price")) } th.num { (ctx.t("amount")) } } }
                tbody { @for item in order["items"].as_array().into_iter().flatten() { tr {
                    td { (name_of(&products, text(item, "product_id"))) }
                    td.num { (item["quantity"].as_str().map(str::to_owned).unwrap_or_else(|| item["quantity"].to_string())) }
                    td.num { (item["periods"].to_string()) }
                    td.num { (group(text(item, "unit_price"))) } td.num { (group(text(item, "amount"))) }
                } } } }
        }
        @for waterfall in order["waterfall"].as_array().into_iter().flatten() {
            section.card.waterfall { h2 { (ctx.t("waterfall")) " · " (name_of(&products, text(waterfall, "product_id"))) }
                p { (ctx.t("list_amount")) ": " (money(text(waterfall, "list_amount"), &cur))
                    @if !text(waterfall, "supplier_price").is_empty() { " · " (ctx.t("supplier_price")) ": " (money(text(waterfall, "supplier_price"), &cur)) } }
                @let levels = waterfall["levels"].as_array().cloned().unwrap_or_default();
                @if levels.is_empty() { p.muted { (ctx.t("no_levels")) } } @else {
                    table.levels { thead { tr { th { (ctx.t("org")) } th.num { (ctx.t("rate")) } th.num { (ctx.t("cost")) } th.num { (ctx.t("price")) } th.num { (ctx.t("margin")) } } }
                        tbody { @for level in &levels { tr data-org=(text(level, "org_id")) {
                            td { (name_of(&names, text(level, "org_id"))) } td.num { (text(level, "rate")) }
                            td.num { (group(text(level, "cost"))) } td.num { (group(text(level, "price"))) } td.num.margin { (group(text(level, "margin"))) }
                        } } } }
                }
            }
        }
    };
    page(&ctx, "orders", &format!("{} {}", ctx.t("order"), short(id)), content)
}

pub async fn pay_order(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not an order id"), "/console/orders");
    };
    let back = format!("/console/orders/{id}");
    match console
        .send(&ctx, Method::POST, &format!("/v1/orders/{id}/pay"), &json!({}), Some(field(&form, "idem")))
        .await
    {
        Ok(_) => done(&back),
        Err(problem) => problem_page(&ctx, &problem, &back),
    }
}

pub async fn refund_order(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not an order id"), "/console/orders");
    };
    let back = format!("/console/orders/{id}");
    let mut body = json!({ "amount": field(&form, "amount"), "reason": field(&form, "reason") });
    if !field(&form, "penalty").is_empty() {
        body["penalty"] = json!(field(&form, "penalty"));
    }
    match console.send(&ctx, Method::POST, &format!("/v1/orders/{id}/refund"), &body, Some(field(&form, "idem"))).await
    {
        Ok(_) => done(&back),
        Err(problem) => problem_page(&ctx, &problem, &back),
    }
}

// ---------------------------------------------------------------- books

pub async fn books(State(console): State<Console>, peer: Peer, headers: HeaderMap, Query(query): Params) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let today = console.today().to_string();
    let as_of = match param(&query, "as_of") {
        "" => today.as_str(),
        given => given,
    };
    let book = ctx.org().to_owned();
    let answer =
        console.get(&ctx, &format!("/v1/books/{book}/trial-balance?{}", query_string(&[("as_of", as_of)]))).await;
    let content = html! {
        form.inline.card method="get" action="/console/books" {
            label { (ctx.t("as_of")) input #as_of type="date" name="as_of" value=(as_of); }
            button.plain type="submit" { (ctx.t("show")) }
            @if ctx.can("exports.read") {
                a href={ "/console/books/export?format=csv&to=" (as_of) } download { (ctx.t("export_csv")) }
                a href={ "/console/books/export?format=beancount&to=" (as_of) } download { (ctx.t("export_beancount")) }
            }
        }
        @match &answer {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(balance) => section.card {
                h2 { (ctx.t("trial_balance")) " · " (text(&ctx.me, "org_name")) " · " (ctx.t("as_of")) " " (text(balance, "as_of")) " · " (text(balance, "currency")) }
                table #trial-balance { thead { tr { th { (ctx.t("account")) } th { (ctx.t("name")) } th.num { (ctx.t("debit")) } th.num { (ctx.t("credit")) } } }
                    tbody { @for row in balance["accounts"].as_array().into_iter().flatten() {
                        @if text(row, "debit") != "0.00" || text(row, "credit") != "0.00" {
                            tr data-account=(text(row, "code")) {
                                td { a href={ "/console/books/ledger?" (query_string(&[("account", text(row, "code")), ("to", as_of)])) } { (text(row, "code")) } }
                                td { (text(row, "name")) }
                                td.num.debit { (group(text(row, "debit"))) } td.num.credit { (group(text(row, "credit"))) }
                            }
                        }
                    } }
                    tfoot { tr { td colspan="2" { (ctx.t("total")) } td.num #total-debit { (group(text(balance, "total_debit"))) } td.num #total-credit { (group(text(balance, "total_credit"))) } } }
                }
            },
        }
    };
    page(&ctx, "books", ctx.t("books"), content)
}

pub async fn ledger(State(console): State<Console>, peer: Peer, headers: HeaderMap, Query(query): Params) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let book = ctx.org().to_owned();
    let account = param(&query, "account");
    let filters = query_string(&[
        ("account", account),
        ("party", param(&query, "party")),
        ("from", param(&query, "from")),
        ("to", param(&query, "to")),
        ("limit", "200"),
    ]);
    let answer = console.get(&ctx, &format!("/v1/books/{book}/ledger?{filters}")).await;
    let names = names(&console, &ctx).await;
    let content = html! {
        p { a href="/console/books" { "← " (ctx.t("trial_balance")) } }
        @match &answer {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(page) => section.card {
                table #ledger { thead { tr { th { (ctx.t("position")) } th { (ctx.t("date")) } th { (ctx.t("account")) } th { (ctx.t("party")) } th { (ctx.t("event_type")) } th.num { (ctx.t("debit")) } th.num { (ctx.t("credit")) } th.num { (ctx.t("balance")) } } }
                    tbody { @for line in items(page) { tr {
                        td { a href={ "/console/events/" (line["position"].to_string()) } { "#" (line["position"].to_string()) } }
                        td { (text(&line, "date")) } td { (text(&line, "account")) }
                        td { @if let Some(party) = line["party"].as_str() { (name_of(&names, party)) } }
                        td { (text(&line, "event_type")) }
                        td.num { (group(text(&line, "debit"))) } td.num { (group(text(&line, "credit"))) }
                        td.num { (group(text(&line, "running_balance"))) }
                    } } } }
            },
        }
    };
    page(&ctx, "books", &format!("{} {account}", ctx.t("ledger")), content)
}

pub async fn event(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(position): Path<String>,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let Ok(position) = position.parse::<u64>() else {
        return problem_page(&ctx, &bad_field("position", "a log position (a whole number)"), "/console/books");
    };
    let event = match console.get(&ctx, &format!("/v1/events/{position}")).await {
        Ok(event) => event,
        Err(problem) => return problem_page(&ctx, &problem, "/console/books"),
    };
    let names = names(&console, &ctx).await;
    let content = html! {
        section.card { dl.kv #event-facts {
            dt { (ctx.t("position")) } dd #event-position { (position) }
            dt { (ctx.t("event_type")) } dd #event-type { (text(&event, "event_type")) }
            dt { (ctx.t("date")) } dd { (text(&event, "effective_date")) }
            dt { (ctx.t("recorded_at")) } dd { (ctx.when(text(&event, "recorded_at"))) }
            dt { (ctx.t("hash")) } dd.mono #event-hash { (text(&event, "hash")) }
            dt { (ctx.t("prev_hash")) } dd.mono #event-prev-hash {
                (text(&event, "prev_hash"))
                @if position > 0 { " " a #previous-event href={ "/console/events/" (position - 1) } { "← " (ctx.t("previous_event")) " #" (position - 1) } }
            }
        } }
        section.card { h2 { (ctx.t("entries")) }
            @for entry in event["entries"].as_array().into_iter().flatten() {
                @let lines = entry["lines"].as_array().cloned().unwrap_or_default();
                @let rule = format!("{} v{}", text(&entry["rule"], "id"), entry["rule"]["version"]);
                p.muted { (ctx.t("book")) ": " (name_of(&names, text(entry, "book"))) " · " (text(entry, "currency")) " · " (text(entry, "date")) " · " (rule) }
                @if lines.is_empty() { pre.mono { (serde_json::to_string_pretty(entry).unwrap_or_default()) } } @else {
                    table.entry { thead { tr { th { (ctx.t("account")) } th { (ctx.t("party")) } th.num { (ctx.t("debit")) } th.num { (ctx.t("credit")) } } }
                        tbody { @for line in &lines {
                            @let (debit, credit) = if text(line, "side") == "debit" { (text(line, "amount"), "") } else { ("", text(line, "amount")) };
                            tr data-account=(text(line, "account")) {
                                td { (text(line, "account")) } td { @if let Some(party) = line["party"].as_str() { (name_of(&names, party)) } }
                                td.num.debit { (group(debit)) } td.num.credit { (group(credit)) }
                            }
                        } } }
                }
            }
        }
        details.card { summary { "payload" } pre.mono { (serde_json::to_string_pretty(&event["payload"]).unwrap_or_default()) } }
    };
    page(&ctx, "books", &format!("{} #{position}", ctx.t("event")), content)
}

pub async fn export(State(console): State<Console>, peer: Peer, headers: HeaderMap, Query(query): Params) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let format = if param(&query, "format") == "beancount" { "beancount" } else { "csv" };
    let filters = query_string(&[("format", format), ("from", param(&query, "from")), ("to", param(&query, "to"))]);
    console.download(&ctx, &format!("/v1/books/{}/export?{filters}", ctx.org())).await
}

// ---------------------------------------------------------------- settlements and periods

pub async fn settlements(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let book = ctx.org().to_owned();
    let list = console.get(&ctx, &format!("/v1/books/{book}/settlements?limit=100")).await;
    let certificates = console.get(&ctx, &format!("/v1/books/{book}/certificates?limit=100")).await;
    let mut counterparties: Vec<(String, String)> = Vec::new();
    for path in ["/v1/resellers?limit=500", "/v1/suppliers?limit=500"] {
        if let Ok(page) = console.get(&ctx, path).await {
            counterparties
                .extend(items(&page).iter().map(|org| (text(org, "id").to_owned(), text(org, "name").to_owned())));
        }
    }
    let names = names(&console, &ctx).await;
    let today = console.today();
    let content = html! {
        (notice(&ctx, &query))
        @if ctx.can("settlements.write") {
            section.card { h2 { (ctx.t("run_statement")) }
                form.inline method="post" action="/console/settlements" {
                    (hidden(&ctx))
                    label { (ctx.t("counterparty")) select name="counterparty_id" required {
                        @for (id, name) in &counterparties { option value=(id) { (name) } } } }
                    label { (ctx.t("from")) input type="date" name="from" required value=(first_of_month(today)); }
                    label { (ctx.t("to")) input type="date" name="to" required value=(today); }
                    button.primary type="submit" { (ctx.t("run")) }
                }
            }
        }
        @match &list {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(page) => section.card { h2 { (ctx.t("settlements")) }
                @let rows = items(page);
                @if rows.is_empty() { p.muted { (ctx.t("none")) } } @else {
                    table { thead { tr { th { "ID" } th { (ctx.t("counterparty")) } th { (ctx.t("period")) } th.num { (ctx.t("total")) } th { (ctx.t("status")) } } }
                        tbody { @for row in &rows { tr {
                            td { a.mono href={ "/console/settlements/" (text(row, "id")) } { (short(text(row, "id"))) } }
                            td { (name_of(&names, text(row, "counterparty_id"))) }
                            td { (text(row, "from")) " – " (text(row, "to")) }
                            td.num { (group(text(row, "total"))) } td { (badge(text(row, "status"))) }
                        } } } }
                }
            },
        }
        @if ctx.can("periods.close") {
            section.card { h2 { (ctx.t("close_period")) }
                form.inline method="post" action="/console/periods/close" {
                    (hidden(&ctx))
                    label { (ctx.t("through")) input type="date" name="through" required; }
                    button.danger type="submit" { (ctx.t("close")) }
                }
            }
        }
        @match &certificates {
            Err(_) => {},
            Ok(page) => section.card #certificates { h2 { (ctx.t("certificates")) }
                @let rows = items(page);
                @if rows.is_empty() { p.muted { (ctx.t("none")) } }
                @for row in &rows {
                    @let certificate = &row["certificate"];
                    article style="border-top:1px solid #e5e7eb;padding-top:8px;margin-top:8px" { dl.kv {
                        dt { (ctx.t("kind")) } dd { (text(row, "kind")) }
                        dt { (ctx.t("through")) } dd { (text(row, "through")) }
                        dt { (ctx.t("position")) } dd { (row["position"].to_string()) }
                        dt { (ctx.t("debit")) " / " (ctx.t("credit")) } dd { (group(text(certificate, "total_debit"))) " / " (group(text(certificate, "total_credit"))) }
                        dt { "Chain hash" } dd.mono { (text(certificate, "chain_hash")) }
                        dt { "Trial balance hash" } dd.mono { (text(certificate, "trial_balance_hash")) }
                        dt { (ctx.t("signature")) " (" (text(certificate, "algorithm")) ")" } dd.mono { (text(certificate, "signature")) }
                    } }
                }
            },
        }
    };
    page(&ctx, "settlements", ctx.t("settlements"), content)
}

pub async fn run_statement(State(console): State<Console>, peer: Peer, headers: HeaderMap, form: FormBody) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let body = json!({ "org_id": ctx.org(), "counterparty_id": field(&form, "counterparty_id"), "from": field(&form, "from"), "to": field(&form, "to") });
    match console.send(&ctx, Method::POST, "/v1/settlements", &body, Some(field(&form, "idem"))).await {
        Ok(statement) => match segment(text(&statement, "id")) {
            Some(id) => Redirect::to(&format!("/console/settlements/{id}")).into_response(),
            None => done("/console/settlements"),
        },
        Err(problem) => problem_page(&ctx, &problem, "/console/settlements"),
    }
}

pub async fn settlement(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Params,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not a settlement id"), "/console/settlements");
    };
    let statement = match console.get(&ctx, &format!("/v1/settlements/{id}")).await {
        Ok(statement) => statement,
        Err(problem) => return problem_page(&ctx, &problem, "/console/settlements"),
    };
    let lines = console.get(&ctx, &format!("/v1/settlements/{id}/lines?limit=200")).await;
    let names = names(&console, &ctx).await;
    let cur = currency(&console, &ctx).await;
    let content = html! {
        (notice(&ctx, &query))
        section.card { dl.kv {
            dt { (ctx.t("counterparty")) } dd { (name_of(&names, text(&statement, "counterparty_id"))) }
            dt { (ctx.t("period")) } dd { (text(&statement, "from")) " – " (text(&statement, "to")) }
            dt { (ctx.t("receivable")) } dd { (money(text(&statement, "receivable"), &cur)) }
            dt { (ctx.t("payable")) } dd { (money(text(&statement, "payable"), &cur)) }
            dt { (ctx.t("total")) } dd { (money(text(&statement, "total"), &cur)) }
            dt { (ctx.t("status")) } dd { (badge(text(&statement, "status"))) }
            dt { (ctx.t("statement_hash")) } dd.mono { (text(&statement, "statement_hash")) }
        }
        // Paid in a foreign currency: each part at the day's rate, and the exchange difference.
        @if let Some(parts) = statement["exchange"].as_array() {
            table #exchange { thead { tr {
                th { (ctx.t("currency")) } th.num { (ctx.t("owed")) } th.num { (ctx.t("rate")) } th { (ctx.t("source")) }
                th.num { (ctx.t("booked")) } th.num { (ctx.t("paid")) } th.num { (ctx.t("exchange_difference")) }
            } }
                tbody { @for part in parts { tr {
                    td { (text(part, "currency")) } td.num { (group(text(part, "owed"))) }
                    td.num { (text(part, "rate")) } td { (text(part, "source")) " · " (text(part, "rate_date")) }
                    td.num { (group(text(part, "booked"))) } td.num { (group(text(part, "paid"))) }
                    td.num { (group(text(part, "difference"))) }
                } } } }
        }
        @if ctx.can("settlements.write") && text(&statement, "status") != "paid" {
            form method="post" action={ "/console/settlements/" (id) "/pay" } style="margin-top:10px" {
                (hidden(&ctx)) button.primary type="submit" { (ctx.t("pay")) }
            }
        } }
        @match &lines {
            Err(problem) => (problem_box(&ctx, problem)),
            Ok(page) => section.card { table { thead { tr { th { (ctx.t("position")) } th { (ctx.t("date")) } th { (ctx.t("account")) } th.num { (ctx.t("debit")) } th.num { (ctx.t("credit")) } } }
                tbody { @for line in items(page) { tr {
                    td { a href={ "/console/events/" (line["position"].to_string()) } { "#" (line["position"].to_string()) } }
                    td { (text(&line, "date")) } td { (text(&line, "account")) }
                    td.num { (group(text(&line, "debit"))) } td.num { (group(text(&line, "credit"))) }
                } } } } },
        }
    };
    page(&ctx, "settlements", &format!("{} {}", ctx.t("statement"), short(id)), content)
}

pub async fn pay_settlement(
    State(console): State<Console>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let Some(id) = segment(&id) else {
        return problem_page(&ctx, &bad_field("id", "not a settlement id"), "/console/settlements");
    };
    let back = format!("/console/settlements/{id}");
    match console
        .send(&ctx, Method::POST, &format!("/v1/settlements/{id}/pay"), &json!({}), Some(field(&form, "idem")))
        .await
    {
        Ok(_) => done(&back),
        Err(problem) => problem_page(&ctx, &problem, &back),
    }
}

pub async fn close_period(State(console): State<Console>, peer: Peer, headers: HeaderMap, form: FormBody) -> Response {
    let ctx = signed_in!(console, headers, peer);
    let form = checked_form!(ctx, form);
    let body = json!({ "through": field(&form, "through") });
    match console
        .send(&ctx, Method::POST, &format!("/v1/books/{}/close", ctx.org()), &body, Some(field(&form, "idem")))
        .await
    {
        Ok(_) => done("/console/settlements"),
        Err(problem) => problem_page(&ctx, &problem, "/console/settlements"),
    }
}

// ---------------------------------------------------------------- operations

pub async fn operations(State(console): State<Console>, peer: Peer, headers: HeaderMap) -> Response {
    let ctx = signed_in!(console, headers, peer);
    if ctx.is_customer() {
        return problem_page(
            &ctx,
            &Problem {
                status: axum::http::StatusCode::FORBIDDEN,
                title: ctx.t("not_allowed").to_owned(),
                detail: String::new(),
                field: None,
            },
            "/console",
        );
    }
    let text = console.metrics_text().await;
    let value = |name: &str| metric(&text, name).map(|(_, value)| value);
    let written = value("kboss_writer_batch_events_sum");
    let started = value("kboss_start_time_seconds").and_then(|v| v.parse::<Decimal>().ok());
    let now = Decimal::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    );
    let rate = match (written.as_deref().and_then(|w| w.parse::<Decimal>().ok()), started) {
        (Some(events), Some(started)) if now > started => Some((events / (now - started)).round_dp(2)),
        _ => None,
    };
    let mut lags = metrics(&text, "kboss_projection_lag_events");
    lags.sort();
    let positions = metrics(&text, "kboss_projection_position");
    let content = html! {
        div.grid {
            div.card.stat { div.label { (ctx.t("writer_position")) } div.value #writer-position { (value("kboss_writer_committed_position").unwrap_or_else(|| console.writer_position().to_string())) } }
            div.card.stat { div.label { (ctx.t("read_position")) } div.value { (value("kboss_read_position").unwrap_or_else(|| "—".into())) } }
            div.card.stat { div.label { (ctx.t("projection_lag")) } div.value #read-lag { (value("kboss_read_lag_events").unwrap_or_else(|| "—".into())) } }
            div.card.stat { div.label { (ctx.t("event_rate")) } div.value { (rate.map(|r| r.to_string()).unwrap_or_else(|| "—".into())) } }
            div.card.stat { div.label { (ctx.t("events_written")) } div.value { (written.map(|count| whole(&count)).unwrap_or_else(|| "—".into())) } }
            div.card.stat { div.label { (ctx.t("read_models")) } div.value { @if value("kboss_read_models_up").as_deref() == Some("1") { (ctx.t("up")) } @else { (ctx.t("down")) } } }
        }
        section.card { h2 { (ctx.t("projection")) }
            table { thead { tr { th { (ctx.t("projection")) } th.num { (ctx.t("position")) } th.num { (ctx.t("lag")) } } }
                tbody { @for (labels, lag) in &lags { tr {
                    td { (label_value(labels, "projection")) }
                    td.num { (positions.iter().find(|(l, _)| l == labels).map(|(_, v)| v.as_str()).unwrap_or("—")) }
                    td.num { (lag) }
                } } } }
        }
    };
    page(&ctx, "operations", ctx.t("operations"), content)
}
