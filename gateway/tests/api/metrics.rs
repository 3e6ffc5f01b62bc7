//! `/metrics` as an operator reads it: exact counters and label sets after known requests, and
//! the Grafana dashboard (`ops/deploy/grafana/kboss-ledger.json`) asks only for what is exposed.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

pub async fn scrape(app: &TestApp) -> String {
    let answer = app.call(Method::GET, "/metrics", None, None, None).await;
    assert_eq!(answer.status.as_u16(), 200);
    answer.text
}

/// The value of one series (`name{labels}` exactly as exposed), if exposed.
pub fn value<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
}

#[track_caller]
fn assert_series(text: &str, series: &str, expected: &str) {
    assert_eq!(value(text, series), Some(expected), "{series} in\n{text}");
}

/// The label values of `label` over every sample of the text.
fn label_values(text: &str, label: &str) -> BTreeSet<String> {
    let key = format!("{label}=\"");
    let key = key.as_str();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .flat_map(|line| line.match_indices(key).map(move |(at, _)| &line[at + key.len()..]))
        .map(|rest| rest[..rest.find('"').expect("a closing quote")].to_owned())
        .collect()
}

#[tokio::test]
async fn requests_commands_refusals_and_approval_decisions_are_counted_by_route_command_and_code() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "5000.00").await;
    let order = buy(&app, &world).await;

    // A recharge its requester may not approve (refused), then rejected by finance (decided).
    let body =
        json!({ "customer_id": world.customer, "amount": "100.00", "method": "offline", "reference": "slip 43" });
    let pending = app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap().to_owned();
    let own = app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({})).await;
    assert_eq!((own.status.as_u16(), own.code()), (422, "self_approval"));
    let rejected = app.post(&format!("/v1/approvals/{approval}/reject"), &world.r2_finance_other, json!({})).await;
    assert_eq!(rejected.expect(200)["status"], "rejected");

    // Ten months cost 9500.00; the wallet holds 4050.00.
    let body = json!({ "customer_id": world.customer, "items": [{ "product_id": world.product, "quantity": 10, "periods": 1 }] });
    let large = app.post("/v1/orders", &world.customer_token, body).await.expect(201);
    let large = large["id"].as_str().unwrap().to_owned();
    let pay = app.post(&format!("/v1/orders/{large}/pay"), &world.customer_token, json!({})).await;
    assert_eq!((pay.status.as_u16(), pay.code()), (422, "insufficient_balance"));

    // A route that matched, for an order that does not exist; a path no route matches.
    let unknown = uuid::Uuid::now_v7().to_string();
    app.call(Method::GET, &format!("/v1/orders/{unknown}"), Some(&world.admin), None, None).await.expect(404);
    app.call(Method::GET, &format!("/v1/no-such-route/{unknown}"), Some(&world.admin), None, None).await.expect(404);
    // Read-your-writes: the read models have applied everything committed.
    app.get("/v1/me", &world.admin).await.expect(200);

    let text = scrape(&app).await;
    let http = |method: &str, route: &str, status: u16| {
        format!("kboss_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}")
    };
    assert_series(&text, &http("POST", "/v1/orders", 201), "2");
    assert_series(&text, &http("POST", "/v1/orders/{id}/pay", 200), "1");
    assert_series(&text, &http("POST", "/v1/orders/{id}/pay", 422), "1");
    assert_series(&text, &http("POST", "/v1/approvals/{id}/approve", 200), "1");
    assert_series(&text, &http("POST", "/v1/approvals/{id}/approve", 422), "1");
    assert_series(&text, &http("POST", "/v1/approvals/{id}/reject", 200), "1");
    assert_series(&text, &http("GET", "/v1/orders/{id}", 404), "1");
    assert_series(&text, &http("GET", "unmatched", 404), "1");
    assert_series(&text, "kboss_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/orders\"}", "2");
    let bucket = "kboss_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"POST\",route=\"/v1/orders\"}";
    assert_series(&text, bucket, "2");
    // Templates only: no id the test used is a label value.
    let routes = label_values(&text, "route");
    assert!(routes.contains("/v1/orders/{id}") && routes.contains("unmatched"), "{routes:?}");
    for id in [&order, &large, &approval, &unknown, &world.customer, &world.product, &world.r2] {
        assert!(!text.contains(id.as_str()), "{id} is in a label: {text}");
    }
    assert!(routes.iter().all(|route| route == "unmatched" || route.starts_with('/')), "{routes:?}");

    // Commands by name, refusals by code; the approval decisions apart from the refusal.
    assert!(!label_values(&text, "command").contains("other"), "every command has its name: {text}");
    assert_series(&text, "kboss_commands_total{command=\"place_order\",outcome=\"committed\"}", "2");
    assert_series(&text, "kboss_commands_total{command=\"pay_order\",outcome=\"committed\"}", "1");
    assert_series(&text, "kboss_commands_total{command=\"pay_order\",outcome=\"refused\"}", "1");
    assert_series(&text, "kboss_command_refusals_total{command=\"pay_order\",code=\"insufficient_balance\"}", "1");
    assert_series(&text, "kboss_commands_total{command=\"decide_approval\",outcome=\"committed\"}", "2");
    assert_series(&text, "kboss_commands_total{command=\"decide_approval\",outcome=\"refused\"}", "1");
    assert_series(&text, "kboss_command_refusals_total{command=\"decide_approval\",code=\"self_approval\"}", "1");
    assert_series(&text, "kboss_approval_decisions_total{decision=\"granted\"}", "1");
    assert_series(&text, "kboss_approval_decisions_total{decision=\"rejected\"}", "1");
    assert_eq!(label_values(&text, "decision"), ["granted", "rejected"].map(String::from).into());
    assert_series(&text, "kboss_command_duration_seconds_count{command=\"place_order\"}", "2");
    assert_series(&text, "kboss_command_duration_seconds_count{command=\"decide_approval\"}", "3");

    // The writer: every command answered (and the two of the bootstrap) in some batch, every
    // event of the log in some batch; a batch is counted before its callers are answered.
    let commands_answered: u64 = text
        .lines()
        .filter(|line| line.starts_with("kboss_commands_total{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_series(&text, "kboss_writer_batch_commands_sum", &format!("{}.0", commands_answered + 2));
    let committed = app.log_position();
    assert_series(&text, "kboss_writer_batch_events_sum", &format!("{committed}.0"));
    assert_series(&text, "kboss_writer_committed_position", &committed.to_string());
    let batches: u64 = value(&text, "kboss_writer_batch_commands_count").unwrap().parse().unwrap();
    let appends: u64 = value(&text, "kboss_writer_append_seconds_count").unwrap().parse().unwrap();
    assert!(appends > 0 && appends <= batches, "{appends} appends in {batches} batches");

    // The read side, caught up; no relay or consumer in embedded mode.
    assert_series(&text, "kboss_read_models_up", "1");
    assert_series(&text, "kboss_read_position", &committed.to_string());
    assert_series(&text, "kboss_read_lag_events", "0");
    let projections = label_values(&text, "projection");
    let expected: BTreeSet<String> =
        projections::projection::ALL.iter().map(|projection| projection.name.to_owned()).collect();
    assert_eq!(projections, expected);
    assert_series(&text, "kboss_projection_position{projection=\"journal\"}", &committed.to_string());
    assert_series(&text, "kboss_projection_lag_events{projection=\"journal\"}", "0");
    for absent in ["kboss_relay_up", "kboss_relay_lag_events", "kboss_consumer_up", "kboss_consumer_lag_events"] {
        assert_eq!(value(&text, absent), None, "{absent} in embedded mode: {text}");
    }

    // The build and the start.
    let version = env!("CARGO_PKG_VERSION");
    assert_series(&text, &format!("kboss_build_info{{version=\"{version}\",mode=\"embedded\"}}"), "1");
    let started: f64 = value(&text, "kboss_start_time_seconds").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(started > 1.7e9 && started <= now, "{started}");

    // The scrape itself is counted, in the next one.
    assert_eq!(value(&text, &http("GET", "/metrics", 200)), None);
    assert_series(&scrape(&app).await, &http("GET", "/metrics", 200), "1");
    app.stop().await;
}

/// The families a `/metrics` text declares, each with the names of its samples, by its `# TYPE`
/// line (a family without samples yet, such as the relay's in embedded mode, still has one).
fn exposed_families(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|declaration| {
            let (family, kind) = declaration.split_once(' ').expect("# TYPE name type");
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "info" => &["_info"],
                _ => &[""],
            };
            (family.to_owned(), suffixes.iter().map(|suffix| format!("{family}{suffix}")).collect())
        })
        .collect()
}

/// Every query of the dashboard: the panels' expressions and the variables' queries.
fn queries(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", Value::String(query)) => found.push(query.clone()),
                    _ => queries(value, found),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|value| queries(value, found)),
        _ => {}
    }
}

/// The `kboss_…` metric names a PromQL expression uses.
fn metric_names(query: &str) -> BTreeSet<String> {
    query
        .match_indices("kboss_")
        .map(|(at, _)| {
            let rest = &query[at..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            rest[..end].to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_grafana_dashboard_asks_only_for_exposed_metrics_and_shows_every_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/deploy/grafana/kboss-ledger.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut found = Vec::new();
    queries(&dashboard, &mut found);
    assert!(found.len() > 20, "the dashboard's queries: {found:?}");
    let used: BTreeSet<String> = found.iter().flat_map(|query| metric_names(query)).collect();

    let app = spawn_app(Options::default()).await;
    let text = scrape(&app).await;
    app.stop().await;
    let families = exposed_families(&text);
    let exposed: BTreeSet<&String> = families.iter().flat_map(|(_, samples)| samples).collect();
    let unknown: Vec<&String> = used.iter().filter(|name| !exposed.contains(name)).collect();
    assert!(unknown.is_empty(), "the dashboard asks for metrics /metrics does not expose: {unknown:?}");
    // And the other way: every family is on the dashboard (by one of its sample names).
    for (family, samples) in &families {
        assert!(samples.iter().any(|name| used.contains(name)), "{family} is on no panel of the dashboard");
    }
    // The data source is the dashboard's variable, never one installation's uid.
    let mut sources = Vec::new();
    collect_datasources(&dashboard, &mut sources);
    assert!(!sources.is_empty() && sources.iter().all(|uid| uid == "${DS_PROMETHEUS}"), "{sources:?}");
}

fn collect_datasources(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(uid)) = map.get("datasource").and_then(|source| source.get("uid")) {
                found.push(uid.clone());
            }
            map.values().for_each(|value| collect_datasources(value, found));
        }
        Value::Array(values) => values.iter().for_each(|value| collect_datasources(value, found)),
        _ => {}
    }
}
