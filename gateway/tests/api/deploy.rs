//! The deployment files of `ops/deploy/` (DESIGN §12) against what they configure. `docker
//! compose config` is not available here, so the compose files are parsed (YAML merge keys and
//! `${VARIABLE}` interpolation as compose does them) and checked service by service: every kboss
//! instance's environment loads as `Settings` and every `KBOSS_*` variable in it changes them,
//! the roles and the projections' split, the references between services, files and volumes, the
//! balancer's and Prometheus's targets. The NATS configuration is validated by the installed
//! `nats-server -t` and its values asserted; PostgreSQL's by its values, against the settings
//! the test PostgreSQL (127.0.0.1:5432) knows; the directory of platforms by its rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use deadpool_postgres::tokio_postgres;
use gateway::config::{Overrides, Settings};
use serde_yaml::Value;

const CLUSTER: &str = "compose.cluster.yml";
const SINGLE_HOST: &str = "docker-compose.yml";
/// Every service of the cluster compose file.
const CLUSTER_SERVICES: [&str; 14] = [
    "postgres-primary",
    "postgres-replica",
    "nats-1",
    "nats-2",
    "nats-3",
    "writer-a",
    "writer-b",
    "projector-1",
    "projector-2",
    "api-1",
    "api-2",
    "lb",
    "prometheus",
    "grafana",
];
/// The kboss instances of the cluster and their roles.
const KBOSS_ROLES: [(&str, &str); 6] = [
    ("writer-a", "writer"),
    ("writer-b", "writer"),
    ("projector-1", "projector"),
    ("projector-2", "projector"),
    ("api-1", "api"),
    ("api-2", "api"),
];
const NATS_NODES: [&str; 3] = ["nats-1", "nats-2", "nats-3"];
/// The first nats-server release that knows `jetstream { sync_interval }` (and its `always`).
const SYNC_INTERVAL_SINCE: (u32, u32, u32) = (2, 10, 0);

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/deploy")
}

fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// .env.example and interpolation

/// The variables `.env.example` names: set (`NAME=value`, value possibly empty) or mentioned in
/// a comment (`# NAME=value`: optional, its compose default applies).
struct EnvExample {
    set: BTreeMap<String, String>,
    mentioned: BTreeSet<String>,
}

fn variable_name(text: &str) -> Option<&str> {
    let (name, _) = text.split_once('=')?;
    let mut chars = name.chars();
    (chars.next()?.is_ascii_uppercase() && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .then_some(name)
}

fn env_example() -> EnvExample {
    let mut example = EnvExample { set: BTreeMap::new(), mentioned: BTreeSet::new() };
    for line in read(".env.example").lines().map(str::trim).filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(name) = variable_name(comment.trim()) {
                example.mentioned.insert(name.to_owned());
            }
            continue;
        }
        let name = variable_name(line).unwrap_or_else(|| panic!(".env.example: not NAME=value: {line}"));
        let value = line[name.len() + 1..].to_owned();
        assert!(example.set.insert(name.to_owned(), value).is_none(), ".env.example sets {name} twice");
        example.mentioned.insert(name.to_owned());
    }
    example
}

/// The values the test interpolates: `.env.example`'s, a secret (left empty there) a sample.
fn sample_values(example: &EnvExample) -> BTreeMap<String, String> {
    use sha2::Digest;
    example
        .set
        .iter()
        .map(|(name, value)| {
            let value =
                if value.is_empty() { hex::encode(sha2::Sha256::digest(name.as_bytes())) } else { value.clone() };
            (name.clone(), value)
        })
        .collect()
}

/// Compose's interpolation of one value: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`,
/// `${NAME-default}`, `${NAME:?message}`, `${NAME?message}`. A variable without a value and
/// without a default is an error (compose would put an empty string there). Every name met is
/// added to `referenced`.
fn interpolate(
    text: &str,
    values: &BTreeMap<String, String>,
    referenced: &mut BTreeSet<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (expression, after) = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end == 0 {
                return Err(format!("a lone $ in {text:?} (write $$)"));
            }
            (&rest[..end], &rest[end..])
        };
        let name_end = expression.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expression.len());
        let (name, modifier) = expression.split_at(name_end);
        referenced.insert(name.to_owned());
        let value = values.get(name).filter(|value| !value.is_empty());
        let replacement = match (modifier.get(..2), modifier.get(..1)) {
            (Some(":-"), _) => value.cloned().unwrap_or_else(|| modifier[2..].to_owned()),
            (_, Some("-")) => values.get(name).cloned().unwrap_or_else(|| modifier[1..].to_owned()),
            (Some(":?"), _) | (_, Some("?")) | (_, None) => match value {
                Some(value) => value.clone(),
                None => return Err(format!("{name} has no value (required by {text:?})")),
            },
            _ => return Err(format!("unknown interpolation {expression:?} in {text:?}")),
        };
        out.push_str(&replacement);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// Interpolates every string scalar of `value` (compose interpolates values, not keys).
fn interpolate_all(
    value: &mut Value,
    values: &BTreeMap<String, String>,
    referenced: &mut BTreeSet<String>,
) -> Result<(), String> {
    match value {
        Value::String(text) => *text = interpolate(text, values, referenced)?,
        Value::Sequence(items) => {
            for item in items {
                interpolate_all(item, values, referenced)?;
            }
        }
        Value::Mapping(mapping) => {
            for (_, item) in mapping.iter_mut() {
                interpolate_all(item, values, referenced)?;
            }
        }
        Value::Tagged(tagged) => interpolate_all(&mut tagged.value, values, referenced)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

#[test]
fn interpolation_follows_compose() {
    let values = BTreeMap::from([("A".to_owned(), "1".to_owned()), ("EMPTY".to_owned(), String::new())]);
    let mut seen = BTreeSet::new();
    let mut run = |text: &str| interpolate(text, &values, &mut seen);
    assert_eq!(run("x${A}y$A$$A").unwrap(), "x1y1$A");
    assert_eq!(run("${B:-d}|${EMPTY:-d}|${EMPTY-d}|${B-d}").unwrap(), "d|d||d");
    assert_eq!(run("${A:?no}").unwrap(), "1");
    assert!(run("${B:?set B}").unwrap_err().contains("B has no value"));
    assert!(run("${EMPTY:?set it}").is_err());
    assert!(run("${B}").is_err());
    assert!(run("a $ b").is_err());
    assert_eq!(seen, BTreeSet::from(["A".to_owned(), "B".to_owned(), "EMPTY".to_owned()]));
}

// ---------------------------------------------------------------------------------------------
// Compose files

struct Compose {
    file: &'static str,
    root: Value,
    referenced: BTreeSet<String>,
}

impl Compose {
    fn load(file: &'static str) -> Compose {
        let example = env_example();
        let values = sample_values(&example);
        let mut root: Value = serde_yaml::from_str(&read(file)).unwrap_or_else(|error| panic!("{file}: {error}"));
        root.apply_merge().unwrap_or_else(|error| panic!("{file}: merge keys: {error}"));
        let mut referenced = BTreeSet::new();
        interpolate_all(&mut root, &values, &mut referenced).unwrap_or_else(|error| panic!("{file}: {error}"));
        Compose { file, root, referenced }
    }

    fn services(&self) -> BTreeMap<String, &Value> {
        let services = self.root["services"].as_mapping().unwrap_or_else(|| panic!("{}: no services", self.file));
        services.iter().map(|(name, service)| (text(name).to_owned(), service)).collect()
    }

    fn service(&self, name: &str) -> &Value {
        self.root["services"].get(name).unwrap_or_else(|| panic!("{}: no service {name}", self.file))
    }

    /// The services that run `kboss serve`.
    fn kboss_services(&self) -> BTreeMap<String, &Value> {
        self.services()
            .into_iter()
            .filter(|(_, service)| service["command"].get(0).and_then(Value::as_str) == Some("kboss"))
            .collect()
    }

    fn top_level(&self, key: &str) -> BTreeSet<String> {
        self.root[key]
            .as_mapping()
            .map(|mapping| mapping.keys().map(|key| text(key).to_owned()).collect())
            .unwrap_or_default()
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value:?}"))
}

/// A scalar as compose passes it to a container (a number or a boolean as written).
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A service's `environment`, in either of compose's forms.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(mapping) => mapping.iter().map(|(name, value)| (text(name).to_owned(), scalar(value))).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let (name, value) = text(item).split_once('=').expect("NAME=value");
                (name.to_owned(), value.to_owned())
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("environment: {other:?}"),
    }
}

/// A service's `volumes` as (source, target) pairs (short syntax).
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let mut parts = text(item).split(':');
                    let source = parts.next().unwrap().to_owned();
                    let target = parts.next().unwrap_or_else(|| panic!("volume {item:?}: no target")).to_owned();
                    if let Some(mode) = parts.next() {
                        assert!(["ro", "rw"].contains(&mode), "volume {item:?}: mode {mode}");
                    }
                    assert!(parts.next().is_none(), "volume {item:?}");
                    (source, target)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `depends_on` as (service, condition).
fn depends_on(service: &Value) -> Vec<(String, String)> {
    match &service["depends_on"] {
        Value::Null => Vec::new(),
        Value::Sequence(names) => {
            names.iter().map(|name| (text(name).to_owned(), "service_started".to_owned())).collect()
        }
        Value::Mapping(mapping) => mapping
            .iter()
            .map(|(name, condition)| (text(name).to_owned(), text(&condition["condition"]).to_owned()))
            .collect(),
        other => panic!("depends_on: {other:?}"),
    }
}

/// The port a kboss instance listens on, from its `KBOSS_LISTEN`.
fn listen_port(environment: &BTreeMap<String, String>) -> u16 {
    let listen = environment.get("KBOSS_LISTEN").expect("KBOSS_LISTEN");
    let (host, port) = listen.rsplit_once(':').expect("KBOSS_LISTEN is host:port");
    assert_eq!(host, "0.0.0.0", "a kboss instance in a container listens on every interface: {listen}");
    port.parse().expect("a port")
}

/// What every compose file must get right: references to services, files, volumes and networks,
/// health conditions on services that have a health check, and every kboss instance's
/// environment a configuration that loads, each `KBOSS_*` variable of it changing the settings
/// (a misspelt or unknown name would be ignored by `Settings::load`).
fn check_structure(compose: &Compose) {
    let file = compose.file;
    let services = compose.services();
    let volumes = compose.top_level("volumes");
    let networks = compose.top_level("networks");
    let mut used_volumes = BTreeSet::new();
    for (name, service) in &services {
        assert!(
            service["image"].as_str().is_some() || service["build"].is_mapping(),
            "{file}: {name} has neither image nor build"
        );
        if let Some(image) = service["image"].as_str() {
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "{file}: {name}: image {image} must name its version"
            );
        }
        if service["build"].is_mapping() {
            let context = deploy_dir().join(text(&service["build"]["context"]));
            assert!(context.is_dir(), "{file}: {name}: build context {} is not a directory", context.display());
            let dockerfile = context.join(text(&service["build"]["dockerfile"]));
            assert!(dockerfile.is_file(), "{file}: {name}: no {}", dockerfile.display());
        }
        for (dependency, condition) in depends_on(service) {
            let Some(target) = services.get(&dependency) else {
                panic!("{file}: {name} depends on {dependency}, which is not a service");
            };
            match condition.as_str() {
                "service_started" => {}
                "service_healthy" => assert!(
                    target["healthcheck"].is_mapping(),
                    "{file}: {name} waits for {dependency} to be healthy, which has no health check"
                ),
                other => panic!("{file}: {name} depends on {dependency} with condition {other}"),
            }
        }
        for (source, target) in mounts(service) {
            if source.starts_with("./") || source.starts_with("../") {
                let path = deploy_dir().join(&source);
                assert!(path.exists(), "{file}: {name} mounts {source}, which is not in the repository");
                assert!(target.starts_with('/'), "{file}: {name}: {target} is not an absolute path");
            } else {
                assert!(volumes.contains(&source), "{file}: {name} mounts volume {source}, which is not declared");
                used_volumes.insert(source);
            }
        }
        if let Some(names) = service["networks"].as_sequence() {
            for network in names {
                assert!(networks.contains(text(network)), "{file}: {name}: network {network:?} is not declared");
            }
        }
        if let Some(test) = service["healthcheck"]["test"].as_sequence() {
            assert_eq!(test.first().and_then(Value::as_str), Some("CMD"), "{file}: {name}: healthcheck {test:?}");
        }
    }
    assert_eq!(used_volumes, volumes, "{file}: the declared volumes and the mounted ones");

    let kboss = compose.kboss_services();
    assert!(!kboss.is_empty(), "{file}: no service runs kboss");
    for (name, service) in &kboss {
        assert_eq!(service["command"], serde_yaml::from_str::<Value>("[kboss, serve]").unwrap(), "{file}: {name}");
        let environment = environment(service);
        let pairs = |skip: Option<&str>| -> Vec<(String, String)> {
            environment
                .iter()
                .filter(|(variable, _)| Some(variable.as_str()) != skip)
                .map(|(variable, value)| (variable.clone(), value.clone()))
                .collect()
        };
        let settings = Settings::load(None, pairs(None), Overrides::default())
            .unwrap_or_else(|error| panic!("{file}: {name}: the environment does not load: {error}"));
        let loaded = format!("{settings:?}");
        for variable in environment.keys() {
            if !variable.starts_with("KBOSS_") {
                assert_eq!(variable, "RUST_LOG", "{file}: {name}: {variable} is neither KBOSS_* nor RUST_LOG");
                continue;
            }
            // Without it the settings differ, or do not load at all (another setting needs it).
            if let Ok(without) = Settings::load(None, pairs(Some(variable)), Overrides::default()) {
                assert_ne!(
                    format!("{without:?}"),
                    loaded,
                    "{file}: {name}: {variable} changes nothing in the settings (an unknown name, or the default value)"
                );
            }
        }
        assert!(settings.database_url.is_some(), "{file}: {name} runs without PostgreSQL");
        assert!(settings.nats_url.is_some(), "{file}: {name} runs without NATS");
        let port = listen_port(&environment);
        let healthcheck = service["healthcheck"]["test"].as_sequence().expect("a kboss instance has a health check");
        let url = healthcheck.iter().filter_map(Value::as_str).find(|part| part.starts_with("http://"));
        let url = url.unwrap_or_else(|| panic!("{file}: {name}: health check {healthcheck:?}"));
        assert!(
            [format!("http://127.0.0.1:{port}/healthz"), format!("http://127.0.0.1:{port}/readyz")]
                .contains(&url.to_owned()),
            "{file}: {name}: health check {url}"
        );
    }
}

#[test]
fn every_variable_of_the_compose_files_is_in_env_example_and_env_is_not_committed() {
    let example = env_example();
    let mut referenced = BTreeSet::new();
    for file in [SINGLE_HOST, CLUSTER] {
        referenced.extend(Compose::load(file).referenced);
    }
    assert_eq!(referenced, example.mentioned, ".env.example names exactly the variables the compose files use");
    // Secrets are left empty in the example: generated per deployment, never committed.
    for secret in ["KBOSS_DB_PASSWORD", "KBOSS_REPLICATION_PASSWORD", "KBOSS_ADMIN_TOKEN", "GRAFANA_ADMIN_PASSWORD"] {
        assert_eq!(example.set.get(secret).map(String::as_str), Some(""), ".env.example: {secret}");
    }
    let ignored: Vec<String> = read(".gitignore").lines().map(str::trim).map(str::to_owned).collect();
    assert!(ignored.contains(&".env".to_owned()), "ops/deploy/.gitignore must ignore .env: {ignored:?}");
    let committed = Command::new("git")
        .args(["ls-files", "--error-unmatch", ".env"])
        .current_dir(deploy_dir())
        .output()
        .expect("git");
    assert!(!committed.status.success(), "ops/deploy/.env is committed");
}

#[test]
fn the_single_host_compose_file_holds_together() {
    let compose = Compose::load(SINGLE_HOST);
    check_structure(&compose);
    assert_eq!(compose.kboss_services().keys().collect::<Vec<_>>(), ["kboss"]);
    // One process does everything: no role, or role all.
    let environment = environment(compose.service("kboss"));
    assert!(matches!(environment.get("KBOSS_ROLE").map(String::as_str), None | Some("all")), "{environment:?}");
}

#[test]
fn the_cluster_compose_file_runs_every_role_against_the_right_services() {
    let compose = Compose::load(CLUSTER);
    check_structure(&compose);
    let services = compose.services();
    assert_eq!(
        services.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(CLUSTER_SERVICES),
        "the services of {CLUSTER}"
    );
    let kboss = compose.kboss_services();
    let roles: BTreeMap<&str, String> = kboss
        .iter()
        .map(|(name, service)| {
            let role = environment(service).get("KBOSS_ROLE").cloned();
            (name.as_str(), role.unwrap_or_else(|| panic!("{name}: no KBOSS_ROLE")))
        })
        .collect();
    let expected: BTreeMap<&str, String> = KBOSS_ROLES.iter().map(|(name, role)| (*name, role.to_string())).collect();
    assert_eq!(roles, expected, "the roles");

    let primary = environment(compose.service("postgres-primary"));
    let network = &compose.root["networks"]["kboss"]["ipam"]["config"][0]["subnet"];
    let subnet = text(network);
    let mut projections_owned: Vec<String> = Vec::new();
    for (name, service) in &kboss {
        let environment = environment(service);
        let role = roles[name.as_str()].as_str();
        let port = listen_port(&environment);

        // PostgreSQL: the primary, as its own settings say, unless the operator moved them.
        let url = environment.get("KBOSS_DATABASE_URL").expect("KBOSS_DATABASE_URL");
        let database: tokio_postgres::Config = url.parse().unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(format!("{:?}", database.get_hosts()), r#"[Tcp("postgres-primary")]"#, "{name}");
        assert_eq!(database.get_ports(), [5432], "{name}");
        assert_eq!(database.get_user(), Some(primary["POSTGRES_USER"].as_str()), "{name}");
        assert_eq!(database.get_dbname(), Some(primary["POSTGRES_DB"].as_str()), "{name}");
        assert_eq!(database.get_password(), Some(primary["POSTGRES_PASSWORD"].as_bytes()), "{name}");

        // NATS: every node of the cluster, each URL one server; the stream on all three.
        let nats = environment.get("KBOSS_NATS_URL").expect("KBOSS_NATS_URL");
        let servers: BTreeSet<(String, u16)> = nats
            .split(',')
            .map(|url| {
                let server: async_nats::ServerAddr =
                    url.trim().parse().unwrap_or_else(|error| panic!("{name}: {url}: {error}"));
                (server.host().to_owned(), server.port())
            })
            .collect();
        let nodes: BTreeSet<(String, u16)> = NATS_NODES.iter().map(|node| (node.to_string(), 4222)).collect();
        assert_eq!(servers, nodes, "{name}: KBOSS_NATS_URL");
        assert_eq!(environment.get("KBOSS_NATS_REPLICAS"), Some(&NATS_NODES.len().to_string()), "{name}");

        // Who may take which request, and from whom X-Forwarded-For is believed.
        match role {
            "writer" => {
                assert_eq!(
                    environment.get("KBOSS_ADVERTISE_URL"),
                    Some(&format!("http://{name}:{port}")),
                    "{name}: the URL the api instances forward writes to"
                );
                assert_eq!(environment.get("KBOSS_TRUSTED_PROXIES").map(String::as_str), Some(subnet), "{name}");
                assert!(environment.contains_key("KBOSS_ADMIN_TOKEN"), "{name}");
            }
            "api" => {
                assert_eq!(environment.get("KBOSS_TRUSTED_PROXIES").map(String::as_str), Some(subnet), "{name}");
                assert!(environment.contains_key("KBOSS_ADMIN_TOKEN"), "{name}");
            }
            "projector" => {
                let owned = environment.get("KBOSS_PROJECTIONS").unwrap_or_else(|| panic!("{name}: KBOSS_PROJECTIONS"));
                let names: Vec<String> = owned.split(',').map(|item| item.trim().to_owned()).collect();
                assert!(names.iter().all(|item| !item.is_empty()), "{name}: KBOSS_PROJECTIONS {owned:?}");
                projections_owned.extend(names);
            }
            other => panic!("{name}: role {other}"),
        }
        if role != "writer" {
            assert!(!environment.contains_key("KBOSS_ADVERTISE_URL"), "{name} takes no forwarded writes");
        }
        if role != "projector" {
            assert!(!environment.contains_key("KBOSS_PROJECTIONS"), "{name} builds no read models");
        }

        // Every instance waits for PostgreSQL, its synchronous standby and all three NATS nodes.
        let waits: BTreeMap<String, String> = depends_on(service).into_iter().collect();
        for dependency in ["postgres-primary", "postgres-replica"].into_iter().chain(NATS_NODES) {
            assert_eq!(waits.get(dependency).map(String::as_str), Some("service_healthy"), "{name} on {dependency}");
        }
        // Only the balancer is published.
        assert!(service["ports"].is_null(), "{name} publishes a port: clients go through lb");
    }
    // The projectors split the projections: each owned once, all of them owned.
    let mut sorted = projections_owned.clone();
    sorted.sort();
    let mut all: Vec<String> =
        projections::projection::ALL.iter().map(|projection| projection.name.to_owned()).collect();
    all.sort();
    assert_eq!(sorted, all, "the projectors' KBOSS_PROJECTIONS, together, against projections::projection::ALL");

    // The stream names of .env.example are a deployment of the directory.
    let example = env_example();
    let directory = directory();
    let stream = (&example.set["KBOSS_NATS_STREAM"], &example.set["KBOSS_NATS_SUBJECT_PREFIX"]);
    assert!(
        directory.deployments.values().any(|deployment| (&deployment.stream, &deployment.subject_prefix) == stream),
        "{stream:?} is no deployment's stream in directory.toml"
    );
}

#[test]
fn the_balancer_and_prometheus_reach_the_right_instances() {
    let compose = Compose::load(CLUSTER);
    let kboss = compose.kboss_services();
    let port_of = |name: &str| listen_port(&environment(kboss[name]));
    let api: BTreeSet<String> = KBOSS_ROLES
        .iter()
        .filter(|(_, role)| *role == "api")
        .map(|(name, _)| format!("{name}:{}", port_of(name)))
        .collect();

    // haproxy: the api instances, checked on /readyz, on the port the service publishes.
    let lb = compose.service("lb");
    assert_eq!(mounts(lb), [("./haproxy/haproxy.cfg".to_owned(), "/usr/local/etc/haproxy/haproxy.cfg".to_owned())]);
    let config = read("haproxy/haproxy.cfg");
    let lines: Vec<Vec<&str>> = config
        .lines()
        .map(|line| line.split('#').next().unwrap().split_whitespace().collect::<Vec<_>>())
        .filter(|words| !words.is_empty())
        .collect();
    let servers: BTreeSet<String> =
        lines.iter().filter(|words| words[0] == "server").map(|words| words[2].to_owned()).collect();
    assert_eq!(servers, api, "haproxy.cfg's servers are the api instances");
    for words in lines.iter().filter(|words| words[0] == "server") {
        assert_eq!(format!("{}:{}", words[1], port_of(words[1])), words[2], "a server is named after its service");
    }
    let has = |expected: &[&str]| lines.iter().any(|words| words.as_slice() == expected);
    assert!(has(&["option", "httpchk", "GET", "/readyz"]), "haproxy checks /readyz");
    assert!(has(&["http-check", "expect", "status", "200"]));
    assert!(lines.iter().any(|words| words[0] == "default-server" && words.contains(&"check")), "servers are checked");
    let bind: Vec<&str> = lines.iter().filter(|words| words[0] == "bind").map(|words| words[1]).collect();
    assert_eq!(bind, [":8080"]);
    assert_eq!(lb["ports"], serde_yaml::from_str::<Value>(r#"["8080:8080"]"#).unwrap());
    let waits: BTreeSet<String> =
        depends_on(lb).into_iter().map(|(name, _)| format!("{name}:{}", port_of(&name))).collect();
    assert_eq!(waits, api);
    // The read-only switch: .env's KBOSS_READ_ONLY reaches haproxy, which refuses all but reads.
    assert_eq!(environment(lb).get("KBOSS_READ_ONLY").map(String::as_str), Some("0"), "lb: read-write by default");
    let read_only =
        lines.iter().find(|words| words.starts_with(&["http-request", "return"])).expect("the read-only rule");
    assert!(read_only.ends_with(&[
        "if",
        "{",
        "env(KBOSS_READ_ONLY)",
        "-m",
        "str",
        "1",
        "}",
        "!METH_GET",
        "!METH_HEAD"
    ]));
    assert!(read_only.starts_with(&["http-request", "return", "status", "503", "content-type"]), "{read_only:?}");
    // haproxy itself, where it is installed (the image runs 2.8; Debian 12's is 2.6).
    let haproxy = Command::new("haproxy").arg("-c").arg("-f").arg(deploy_dir().join("haproxy/haproxy.cfg")).output();
    match haproxy {
        Ok(output) => assert!(
            output.status.success(),
            "haproxy -c: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true and haproxy is missing: {error}");
            eprintln!("haproxy is not installed ({error}): haproxy.cfg was checked by parsing only")
        }
    }

    // Prometheus scrapes every kboss instance.
    let prometheus = compose.service("prometheus");
    let config_mount = mounts(prometheus).into_iter().find(|(_, target)| target == "/etc/prometheus/prometheus.yml");
    assert_eq!(config_mount.map(|(source, _)| source).as_deref(), Some("./prometheus-cluster.yml"));
    let scrape: Value = serde_yaml::from_str(&read("prometheus-cluster.yml")).unwrap();
    let targets: BTreeSet<String> = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
        .as_sequence()
        .expect("targets")
        .iter()
        .map(|target| text(target).to_owned())
        .collect();
    let instances: BTreeSet<String> = kboss.keys().map(|name| format!("{name}:{}", port_of(name))).collect();
    assert_eq!(targets, instances, "prometheus-cluster.yml's targets");
    assert_eq!(scrape["scrape_configs"][0]["metrics_path"].as_str(), Some("/metrics"));
}

// ---------------------------------------------------------------------------------------------
// NATS

/// A NATS configuration value, in the subset the deployment's files keep to.
#[derive(Clone, Debug, PartialEq)]
enum NatsValue {
    Text(String),
    Block(Vec<(String, NatsValue)>),
    List(Vec<NatsValue>),
}

impl NatsValue {
    fn get(&self, key: &str) -> Option<&NatsValue> {
        let NatsValue::Block(items) = self else { return None };
        let mut found = items.iter().filter(|(name, _)| name == key);
        let first = found.next().map(|(_, value)| value);
        assert!(found.next().is_none(), "{key} is set twice");
        first
    }

    fn text(&self, key: &str) -> &str {
        match self.get(key) {
            Some(NatsValue::Text(text)) => text,
            other => panic!("{key}: {other:?}"),
        }
    }
}

/// Parses `key: value` / `key = value` lines, `key { ... }` blocks and `[a, b]` lists, with `#`
/// and `//` comments; anything else is an error (the file must then leave this subset).
fn parse_nats(text: &str) -> Result<NatsValue, String> {
    struct Parser<'a> {
        text: &'a str,
        at: usize,
    }
    impl<'a> Parser<'a> {
        fn rest(&self) -> &'a str {
            &self.text[self.at..]
        }
        fn where_(&self) -> String {
            format!("line {}", self.text[..self.at].matches('\n').count() + 1)
        }
        /// Skips blanks, newlines too when `newlines`, and comments.
        fn skip(&mut self, newlines: bool) {
            loop {
                let rest = self.rest();
                let trimmed = rest.trim_start_matches(|c: char| c == ' ' || c == '\t' || (newlines && c == '\n'));
                self.at += rest.len() - trimmed.len();
                if trimmed.starts_with('#') || trimmed.starts_with("//") {
                    self.at += trimmed.find('\n').unwrap_or(trimmed.len());
                } else {
                    return;
                }
            }
        }
        fn block(&mut self, closing: Option<char>) -> Result<NatsValue, String> {
            let mut items = Vec::new();
            loop {
                self.skip(true);
                match (self.rest().chars().next(), closing) {
                    (None, None) => return Ok(NatsValue::Block(items)),
                    (Some(c), Some(close)) if c == close => {
                        self.at += 1;
                        return Ok(NatsValue::Block(items));
                    }
                    (None, Some(_)) => return Err("an unclosed block".to_owned()),
                    _ => {}
                }
                let key_length =
                    self.rest().find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(self.rest().len());
                if key_length == 0 {
                    return Err(format!("{}: a key expected", self.where_()));
                }
                let key = self.rest()[..key_length].to_owned();
                self.at += key_length;
                self.skip(false);
                if self.rest().starts_with(':') || self.rest().starts_with('=') {
                    self.at += 1;
                    self.skip(false);
                }
                let value = self.value()?;
                items.push((key, value));
            }
        }
        fn value(&mut self) -> Result<NatsValue, String> {
            match self.rest().chars().next() {
                Some('{') => {
                    self.at += 1;
                    self.block(Some('}'))
                }
                Some('[') => {
                    self.at += 1;
                    let mut items = Vec::new();
                    loop {
                        self.skip(true);
                        if self.rest().starts_with(']') {
                            self.at += 1;
                            return Ok(NatsValue::List(items));
                        }
                        items.push(self.scalar()?);
                        self.skip(true);
                        if self.rest().starts_with(',') {
                            self.at += 1;
                        }
                    }
                }
                _ => self.scalar(),
            }
        }
        fn scalar(&mut self) -> Result<NatsValue, String> {
            if let Some(quoted) = self.rest().strip_prefix('"') {
                let end = quoted.find('"').ok_or_else(|| format!("{}: an unclosed string", self.where_()))?;
                let value = quoted[..end].to_owned();
                self.at += end + 2;
                return Ok(NatsValue::Text(value));
            }
            let end = self.rest().find(['\n', ',', ']', '}', '#']).unwrap_or(self.rest().len());
            let value = self.rest()[..end].trim().to_owned();
            if value.is_empty() {
                return Err(format!("{}: a value expected", self.where_()));
            }
            self.at += end;
            Ok(NatsValue::Text(value))
        }
    }
    Parser { text, at: 0 }.block(None)
}

#[test]
fn the_nats_parser_reads_the_subset_and_refuses_the_rest() {
    let parsed = parse_nats("a: 1 # one\nb = \"x y\"\n// c\nd { e: [u://h:1, u://h:2]\n f g }\n").unwrap();
    assert_eq!(parsed.text("a"), "1");
    assert_eq!(parsed.text("b"), "x y");
    assert_eq!(parsed.get("d").unwrap().text("f"), "g");
    assert_eq!(
        parsed.get("d").unwrap().get("e"),
        Some(&NatsValue::List(vec![NatsValue::Text("u://h:1".into()), NatsValue::Text("u://h:2".into())]))
    );
    assert!(parse_nats("a {\n b: 1\n").is_err());
    assert!(parse_nats(": 1").is_err());
}

fn dotted((major, minor, patch): (u32, u32, u32)) -> String {
    format!("{major}.{minor}.{patch}")
}

fn version(text: &str) -> Option<(u32, u32, u32)> {
    let mut numbers = text.trim().trim_start_matches('v').split(['.', '-']).map(str::parse::<u32>);
    Some((numbers.next()?.ok()?, numbers.next()?.ok()?, numbers.next().and_then(Result::ok).unwrap_or(0)))
}

/// The nats-server the test validates with: `KBOSS_NATS_SERVER`, else `nats-server` on the
/// PATH; its version.
fn nats_server() -> Option<(PathBuf, (u32, u32, u32))> {
    let binary = std::env::var_os("KBOSS_NATS_SERVER").map(PathBuf::from).unwrap_or_else(|| "nats-server".into());
    let output = Command::new(&binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    let found = text.split_whitespace().find_map(|word| word.strip_prefix('v').and_then(version));
    Some((binary, found.unwrap_or_else(|| panic!("nats-server --version: {text}"))))
}

fn nats_test(binary: &Path, file: &Path) -> (bool, String) {
    let output = Command::new(binary).arg("-t").arg("-c").arg(file).output().expect("nats-server -t");
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text.trim().to_owned())
}

#[test]
fn the_nats_nodes_form_one_cluster_with_a_file_store_synced_on_every_write() {
    let compose = Compose::load(CLUSTER);
    let port_of = |address: &str| -> u16 { address.rsplit_once(':').expect("host:port").1.parse().expect("a port") };
    let mut cluster_names = BTreeSet::new();
    for node in NATS_NODES {
        let file = format!("nats/{node}.conf");
        let config = parse_nats(&read(&file)).unwrap_or_else(|error| panic!("{file}: {error}"));
        assert_eq!(config.text("server_name"), node, "{file}");
        assert_eq!(port_of(config.text("listen")), 4222, "{file}: the port KBOSS_NATS_URL names");
        let monitoring = port_of(config.text("http"));

        let jetstream = config.get("jetstream").unwrap_or_else(|| panic!("{file}: no jetstream block"));
        let store = jetstream.text("store_dir");
        assert_eq!(jetstream.text("sync_interval"), "always", "{file}: fsync before every acknowledgement");

        let cluster = config.get("cluster").unwrap_or_else(|| panic!("{file}: no cluster block"));
        cluster_names.insert(cluster.text("name").to_owned());
        let route_port = port_of(cluster.text("listen"));
        let Some(NatsValue::List(routes)) = cluster.get("routes") else { panic!("{file}: no routes") };
        let routes: BTreeSet<String> = routes
            .iter()
            .map(|route| match route {
                NatsValue::Text(route) => route.clone(),
                other => panic!("{file}: route {other:?}"),
            })
            .collect();
        let others: BTreeSet<String> = NATS_NODES
            .iter()
            .filter(|other| **other != node)
            .map(|other| format!("nats://{other}:{route_port}"))
            .collect();
        assert_eq!(routes, others, "{file}: routes to the two other nodes");

        // The service runs this file, keeps the store in its own volume, checks the monitoring port.
        let service = compose.service(node);
        let command: Vec<&str> = service["command"].as_sequence().unwrap().iter().map(text).collect();
        assert_eq!(service["entrypoint"], serde_yaml::from_str::<Value>("[nats-server]").unwrap(), "{node}");
        let [flag, target] = command[..] else { panic!("{node}: command {command:?}") };
        assert_eq!(flag, "-c", "{node}");
        let mounted = mounts(service);
        assert!(mounted.contains(&(format!("./{file}"), target.to_owned())), "{node} mounts {file} at {target}");
        assert!(mounted.contains(&(format!("{node}-data"), store.to_owned())), "{node}: volume {node}-data at {store}");
        let health = format!("{:?}", service["healthcheck"]["test"]);
        assert!(health.contains(&format!("http://127.0.0.1:{monitoring}/healthz?js-enabled-only=true")), "{health}");
        let image = text(&service["image"]);
        let tag = image.strip_prefix("nats:").unwrap_or_else(|| panic!("{node}: image {image}"));
        let image_version = version(tag).unwrap_or_else(|| panic!("{node}: image {image} names no version"));
        assert!(image_version >= SYNC_INTERVAL_SINCE, "{node}: {image} does not know sync_interval");
    }
    assert_eq!(cluster_names.len(), 1, "one cluster name: {cluster_names:?}");

    // nats-server validates each file as it is. A server older than sync_interval (Debian 12's
    // 2.9) must refuse exactly that key and nothing else; the deployment's image knows it.
    let Some((binary, installed)) = nats_server() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nats-server is not installed (CI=true): cannot validate"
        );
        eprintln!("nats-server is not installed: the NATS files were checked by parsing only");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    for node in NATS_NODES {
        let file = deploy_dir().join(format!("nats/{node}.conf"));
        let (valid, output) = nats_test(&binary, &file);
        if installed >= SYNC_INTERVAL_SINCE {
            assert!(valid, "{}: {output}", file.display());
            assert!(output.ends_with("is valid"), "{output}");
            continue;
        }
        let contents = std::fs::read_to_string(&file).unwrap();
        let (line, column) = contents
            .lines()
            .enumerate()
            .find_map(|(index, line)| {
                line.trim_start()
                    .starts_with("sync_interval")
                    .then(|| (index + 1, line.len() - line.trim_start().len() + 1))
            })
            .expect("a sync_interval line");
        assert!(!valid, "nats-server {} accepted {}", dotted(installed), file.display());
        assert_eq!(
            output,
            format!("nats-server: {}:{line}:{column}: unknown field \"sync_interval\"", file.display()),
            "nats-server {} must refuse sync_interval and nothing else",
            dotted(installed)
        );
        let without: String = contents
            .lines()
            .filter(|line| !line.trim_start().starts_with("sync_interval"))
            .map(|line| format!("{line}\n"))
            .collect();
        let copy = scratch.path().join(format!("{node}.conf"));
        std::fs::write(&copy, without).unwrap();
        let (valid, output) = nats_test(&binary, &copy);
        assert!(valid, "{} without sync_interval: {output}", file.display());
        eprintln!(
            "nats-server {} predates sync_interval: {node}.conf was validated without that line, which it refuses \
             as an unknown field; the image's nats-server ({}, at least {}) knows it",
            dotted(installed),
            text(&compose.service(node)["image"]),
            dotted(SYNC_INTERVAL_SINCE)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// A `postgresql.conf`: `name = value` lines, `#` comments, values unquoted.
fn parse_postgres_conf(file: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for line in read(file).lines() {
        let line = match line.find('#') {
            // A '#' inside a quoted value is not a comment (log_line_prefix has none).
            Some(at) if line[..at].matches('\'').count() % 2 == 0 => &line[..at],
            _ => line,
        }
        .trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once('=').unwrap_or_else(|| panic!("{file}: not name = value: {line}"));
        let value = value.trim();
        let value = value.strip_prefix('\'').and_then(|value| value.strip_suffix('\'')).unwrap_or(value);
        assert!(settings.insert(name.trim().to_owned(), value.to_owned()).is_none(), "{file}: {name} is set twice");
    }
    settings
}

/// A libpq connection string (`key=value` words) as a map.
fn conninfo(text: &str) -> BTreeMap<&str, &str> {
    text.split_whitespace().map(|word| word.split_once('=').unwrap_or_else(|| panic!("conninfo word {word}"))).collect()
}

#[tokio::test]
async fn the_postgresql_primary_streams_to_a_hot_standby_that_it_waits_for() {
    let primary = parse_postgres_conf("postgres/primary.conf");
    let replica = parse_postgres_conf("postgres/replica.conf");
    let expect = |settings: &BTreeMap<String, String>, file: &str, name: &str, value: &str| {
        assert_eq!(settings.get(name).map(String::as_str), Some(value), "{file}: {name}");
    };
    for (settings, file) in [(&primary, "primary.conf"), (&replica, "replica.conf")] {
        expect(settings, file, "listen_addresses", "*");
        expect(settings, file, "port", "5432");
        expect(settings, file, "fsync", "on");
        expect(settings, file, "synchronous_commit", "on");
        expect(settings, file, "full_page_writes", "on");
        // A promoted replica is a primary: it streams too.
        expect(settings, file, "wal_level", "replica");
        for name in ["max_wal_senders", "max_replication_slots"] {
            let count: u32 = settings[name].parse().unwrap();
            assert!(count >= 2, "{file}: {name} = {count}");
        }
    }
    expect(&replica, "replica.conf", "hot_standby", "on");
    // A hot standby does not start with any of these below its primary's.
    for name in [
        "max_connections",
        "max_worker_processes",
        "max_wal_senders",
        "max_prepared_transactions",
        "max_locks_per_transaction",
    ] {
        let of = |settings: &BTreeMap<String, String>| -> u64 {
            settings.get(name).unwrap_or_else(|| panic!("{name} is not set")).parse().unwrap()
        };
        assert!(of(&replica) >= of(&primary), "replica.conf's {name} is below the primary's");
    }

    // The replica streams from the primary service, as the replication user, through the slot,
    // under the name the primary waits for.
    let connection = conninfo(&replica["primary_conninfo"]);
    let compose = Compose::load(CLUSTER);
    let services = compose.services();
    assert!(services.contains_key(connection["host"]), "primary_conninfo's host {} is no service", connection["host"]);
    assert_eq!(connection["host"], "postgres-primary");
    assert_eq!(connection["port"], primary["port"]);
    assert_eq!(connection["user"], "replicator");
    assert!(!connection.contains_key("password"), "the password is in the passfile, not in git");
    let standby = connection["application_name"];
    let slot = replica["primary_slot_name"].as_str();

    let init = read("postgres/init-primary.sh");
    let entrypoint = read("postgres/replica-entrypoint.sh");
    for (script, name, expected) in [
        (&init, "init-primary.sh", "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';".to_owned()),
        (&init, "init-primary.sh", format!("SELECT pg_create_physical_replication_slot('{slot}');")),
        (&init, "init-primary.sh", format!("ALTER SYSTEM SET synchronous_standby_names = '{standby}';")),
        (
            &init,
            "init-primary.sh",
            "echo 'host replication replicator all scram-sha-256' >> \"$PGDATA/pg_hba.conf\"".to_owned(),
        ),
        (&entrypoint, "replica-entrypoint.sh", format!("passfile={}", connection["passfile"])),
        (
            &entrypoint,
            "replica-entrypoint.sh",
            format!("--pgdata=\"$scratch\" --wal-method=stream --slot={slot} --checkpoint=fast"),
        ),
        (&entrypoint, "replica-entrypoint.sh", "gosu postgres touch \"$scratch/standby.signal\"".to_owned()),
        (
            &entrypoint,
            "replica-entrypoint.sh",
            "echo \"synchronous_standby_names = ''\" >> \"$scratch/postgresql.auto.conf\"".to_owned(),
        ),
        (
            &entrypoint,
            "replica-entrypoint.sh",
            "exec gosu postgres postgres -D \"$PGDATA\" -c config_file=/etc/postgresql/postgresql.conf".to_owned(),
        ),
    ] {
        assert!(
            script.lines().any(|line| line.trim().starts_with(&expected)),
            "{name} has no line starting {expected:?}"
        );
    }

    // The services run these files.
    let primary_service = compose.service("postgres-primary");
    assert_eq!(
        primary_service["command"],
        serde_yaml::from_str::<Value>("[postgres, -c, config_file=/etc/postgresql/postgresql.conf]").unwrap()
    );
    let mounted = mounts(primary_service);
    assert!(mounted.contains(&("./postgres/primary.conf".into(), "/etc/postgresql/postgresql.conf".into())));
    assert!(mounted.iter().any(|(source, target)| source == "./postgres/init-primary.sh"
        && target.starts_with("/docker-entrypoint-initdb.d/")
        && target.ends_with(".sh")));
    let replica_service = compose.service("postgres-replica");
    let mounted = mounts(replica_service);
    assert!(mounted.contains(&("./postgres/replica.conf".into(), "/etc/postgresql/postgresql.conf".into())));
    let entrypoint_path = mounted
        .iter()
        .find(|(source, _)| source == "./postgres/replica-entrypoint.sh")
        .map(|(_, target)| target.clone())
        .expect("the replica's entrypoint is mounted");
    assert_eq!(
        replica_service["entrypoint"],
        serde_yaml::from_str::<Value>(&format!("[bash, {entrypoint_path}]")).unwrap()
    );
    let replica_environment = environment(replica_service);
    let data = replica_environment.get("PGDATA").expect("the replica's PGDATA");
    assert!(
        mounted
            .iter()
            .any(|(source, target)| source == "postgres-replica-data" && data.starts_with(&format!("{target}/"))),
        "PGDATA {data} is a directory inside the replica's volume (the copy is moved into place)"
    );
    assert_eq!(
        replica_environment.get("KBOSS_REPLICATION_PASSWORD"),
        environment(primary_service).get("KBOSS_REPLICATION_PASSWORD")
    );
    assert_eq!(depends_on(replica_service), [("postgres-primary".to_owned(), "service_healthy".to_owned())]);

    // Every name is a setting of PostgreSQL 15 (the image's major version, and the test server's),
    // every boolean a boolean, every enum one of its words, every integer a number with a unit.
    let image = text(&primary_service["image"]);
    assert_eq!(image, text(&replica_service["image"]));
    let admin = super::postgres::admin_connection().await;
    let server: String = admin.query_one("SHOW server_version_num", &[]).await.unwrap().get(0);
    assert_eq!(format!("postgres:{}", &server[..2]), image, "the test server's major version is the image's");
    for (file, settings) in [("primary.conf", &primary), ("replica.conf", &replica)] {
        for (name, value) in settings {
            let row = admin
                .query_opt("SELECT vartype, enumvals FROM pg_settings WHERE name = $1", &[name])
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{file}: {name} is not a PostgreSQL setting"));
            let kind: String = row.get(0);
            let words: Option<Vec<String>> = row.get(1);
            match kind.as_str() {
                "bool" => assert!(["on", "off"].contains(&value.as_str()), "{file}: {name} = {value}"),
                "enum" => assert!(words.unwrap().contains(value), "{file}: {name} = {value}"),
                "integer" | "real" => {
                    let unit = value.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
                    assert!(value.len() > unit.len(), "{file}: {name} = {value}");
                    assert!(
                        ["", "kB", "MB", "GB", "TB", "ms", "s", "min", "h", "d"].contains(&unit),
                        "{file}: {name} = {value}"
                    );
                }
                "string" => {}
                other => panic!("{file}: {name}: type {other}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The directory of platforms

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Directory {
    deployments: BTreeMap<String, Deployment>,
    platforms: Vec<Platform>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Deployment {
    api_url: String,
    database_url: String,
    nats_urls: Vec<String>,
    stream: String,
    subject_prefix: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Platform {
    id: ledger_core::ids::OrgId,
    name: String,
    deployment: String,
}

fn directory() -> Directory {
    toml::from_str(&read("directory.toml")).unwrap_or_else(|error| panic!("directory.toml: {error}"))
}

#[test]
fn the_directory_names_each_platform_once_in_one_deployment() {
    let directory = directory();
    assert!(!directory.platforms.is_empty());
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut served: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for platform in &directory.platforms {
        assert!(ids.insert(platform.id), "platform {} is named twice", platform.id);
        assert!(names.insert(platform.name.as_str()), "two platforms are called {}", platform.name);
        assert!(
            directory.deployments.contains_key(&platform.deployment),
            "platform {} is in deployment {}, which the directory does not define",
            platform.id,
            platform.deployment
        );
        served.entry(platform.deployment.as_str()).or_default().push(&platform.name);
    }
    // One log, one writer per platform: a deployment serves one platform (or none, while one
    // moves in).
    for (deployment, platforms) in &served {
        assert_eq!(platforms.len(), 1, "deployment {deployment} serves {platforms:?}");
    }
    let mut databases = BTreeSet::new();
    for (name, deployment) in &directory.deployments {
        assert!(deployment.api_url.starts_with("https://"), "{name}: api_url {}", deployment.api_url);
        let database: tokio_postgres::Config =
            deployment.database_url.parse().unwrap_or_else(|error| panic!("{name}: database_url: {error}"));
        assert!(database.get_password().is_none(), "{name}: no password in the directory");
        assert!(database.get_dbname().is_some(), "{name}: database_url names no database");
        let log = (
            format!("{:?}{:?}{:?}", database.get_hosts(), database.get_ports(), database.get_dbname()),
            database.get_options().map(str::to_owned),
        );
        assert!(databases.insert(log), "{name}: another deployment has the same log (database and schema)");
        assert!(!deployment.nats_urls.is_empty(), "{name}: no NATS");
        for url in &deployment.nats_urls {
            let _: async_nats::ServerAddr = url.parse().unwrap_or_else(|error| panic!("{name}: {url}: {error}"));
        }
        assert!(
            !deployment.stream.is_empty()
                && deployment.stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{name}: stream {}",
            deployment.stream
        );
    }
    // Deployments that share a NATS server must not share a stream or overlap in subjects.
    let deployments: Vec<(&String, &Deployment)> = directory.deployments.iter().collect();
    for (index, (name, deployment)) in deployments.iter().enumerate() {
        for (other_name, other) in &deployments[index + 1..] {
            if deployment.nats_urls.iter().any(|url| other.nats_urls.contains(url)) {
                assert_ne!(
                    deployment.stream, other.stream,
                    "{name} and {other_name} share a NATS cluster and a stream"
                );
                let (a, b) = (format!("{}.", deployment.subject_prefix), format!("{}.", other.subject_prefix));
                assert!(!a.starts_with(&b) && !b.starts_with(&a), "{name} and {other_name}: overlapping subjects");
            }
        }
    }
}
