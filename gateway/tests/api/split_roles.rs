//! Split roles (issue 16, item 4): one writer, two projectors (each building its own
//! projections) and two API instances, on one PostgreSQL schema and one JetStream stream of the
//! test's own. The worked example runs through the API instances (their writes forwarded to the
//! writer); the read models the projectors built equal a rebuild from the log.

use gateway::config::ServeRole;
use serde_json::json;

use crate::helpers::*;
use crate::postgres::admin_connection;

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// What projector 1 builds (what each reads comes along: `journal` reads `movements`',
/// `settlements` `journal`'s); projector 2 builds the rest.
const PROJECTOR_1: &[&str] = &["movements", "journal", "settlements", "balances"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_two_projectors_and_two_api_instances_build_what_a_rebuild_builds() {
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let (schema, stream) = (format!("kboss_roles_{suffix}"), format!("KBOSS_TEST_{suffix}"));
    let admin = admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}; CREATE SCHEMA {schema}_rebuild")).await.unwrap();
    let url = |schema: &str| format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    let instance = |role: ServeRole, projections: Vec<String>| Options {
        database_url: Some(url(&schema)),
        nats: Some((NATS_URL.to_owned(), stream.clone())),
        role: Some(role),
        projections,
        ..Options::default()
    };
    let rest: Vec<String> = projections::projection::ALL
        .iter()
        .map(|projection| projection.name.to_owned())
        .filter(|name| !PROJECTOR_1.contains(&name.as_str()))
        .collect();
    let writer = spawn_app(instance(ServeRole::Writer, Vec::new())).await;
    let projector_1 =
        spawn_app(instance(ServeRole::Projector, PROJECTOR_1.iter().map(|name| (*name).to_owned()).collect())).await;
    let projector_2 = spawn_app(instance(ServeRole::Projector, rest)).await;
    let api_1 = spawn_app(instance(ServeRole::Api, Vec::new())).await;
    let api_2 = spawn_app(instance(ServeRole::Api, Vec::new())).await;

    // The projectors have built what the writer bootstrapped (the admin's token among it).
    api_1.state.read.wait_for(writer.log_position(), std::time::Duration::from_secs(10)).await.unwrap();

    // A projector serves its operations' routes only; each instance says what it is.
    assert_eq!(projector_1.get("/v1/me", ADMIN_TOKEN).await.status.as_u16(), 404);
    for (app, role, writer_state) in [
        (&writer, "writer", "ready"),
        (&projector_1, "projector", "following"),
        (&projector_2, "projector", "following"),
        (&api_1, "api", "following"),
        (&api_2, "api", "following"),
    ] {
        let ready = app.call(reqwest::Method::GET, "/readyz", None, None, None).await.expect(200);
        assert_eq!((ready["role"].as_str(), ready["writer"].as_str()), (Some(role), Some(writer_state)), "{ready}");
    }

    // The worked example through the API instances: every write is forwarded to the writer.
    let world = build_world(&api_1).await;
    recharge(&api_2, &world, "950.00").await;
    buy(&api_1, &world).await;
    let position = writer.log_position();
    assert!(position > 20, "the writer booked the example: {position}");
    let path = format!("/v1/books/{}/trial-balance?min_position={position}", world.r2);
    let r2 = api_2.get(&path, &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "2203"), ("950.00".into(), "950.00".into()));
    assert_eq!(account(&r2, "6001"), ("0.00".into(), "1000.00".into()));
    let path = format!("/v1/books/{}/trial-balance?min_position={position}", world.platform);
    let platform = api_1.get(&path, &world.admin).await.expect(200);
    assert_eq!(account(&platform, "2202"), ("0.00".into(), "700.00".into()));

    // Each projector built its own projections, to the log's end; the read models equal a
    // rebuild from position 0 into a schema of their own.
    let live = api_1.state.read.dump().await.unwrap();
    let checkpoints = &live["rm_checkpoints"];
    assert_eq!(checkpoints.len(), projections::projection::ALL.len());
    let manager = deadpool_postgres::Manager::new(
        url(&format!("{schema}_rebuild")).parse().unwrap(),
        deadpool_postgres::tokio_postgres::NoTls,
    );
    let pool = deadpool_postgres::Pool::builder(manager).max_size(2).build().unwrap();
    let rebuilt = projections::ReadModels::open_postgres(pool).await.unwrap();
    let log_config: postgres::Config = url(&schema).parse().unwrap();
    let log =
        tokio::task::spawn_blocking(move || event_log::PostgresReader::open(&log_config).map(event_log::AsyncLog::new))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(projections::catch_up(&rebuilt, &log, None, |_, _| {}).await.unwrap(), position);
    assert_eq!(live, rebuilt.dump().await.unwrap(), "the split read models equal a rebuild");

    // The writer gone (and no standby): no instance writes, and the others say so.
    writer.stop().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    for api in [&api_1, &api_2] {
        loop {
            let ready = api.call(reqwest::Method::GET, "/readyz", None, None, None).await;
            if ready.status.as_u16() == 503 {
                assert_eq!(ready.body["writer"], "no_leader", "{}", ready.text);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "an API instance still sees a writer: {}", ready.text);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let refused = api_2.post("/v1/orgs", &world.admin, json!({ "kind": "supplier", "name": "S9" })).await;
    assert_eq!(refused.status.as_u16(), 503, "{}", refused.text);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("no instance holds the writer's lease"),
        "{}",
        refused.text
    );
    for app in [api_2, api_1, projector_2, projector_1] {
        app.stop().await;
    }
    let jetstream = async_nats::jetstream::new(async_nats::connect(NATS_URL).await.unwrap());
    jetstream.delete_stream(&stream).await.expect("the test's stream is deleted");
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE; DROP SCHEMA {schema}_rebuild CASCADE")).await.unwrap();
}
