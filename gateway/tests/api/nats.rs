//! Full server mode: the log and the read models in PostgreSQL, the read models fed through NATS
//! JetStream (the relay publishes the log, a durable consumer applies it). A stream of the test's
//! own, so runs never meet; it is deleted at the end.

use serde_json::json;

use crate::helpers::*;
use crate::metrics::{scrape, value};
use crate::postgres::admin_connection;

const NATS_URL: &str = "nats://127.0.0.1:4222";

#[tokio::test]
async fn the_worked_example_reads_through_jetstream_and_the_stream_is_the_log() {
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let (schema, stream) = (format!("kboss_nats_{suffix}"), format!("KBOSS_TEST_{suffix}"));
    let admin = admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    let nats = Some((NATS_URL.to_owned(), stream.clone()));
    let app = spawn_app(Options { database_url: Some(url.clone()), nats: nats.clone(), ..Options::default() }).await;

    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    buy(&app, &world).await;
    let position = app.log_position();
    let before_forwarded = position;
    let path = format!("/v1/books/{}/trial-balance?min_position={position}", world.r2);
    let r2 = app.get(&path, &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "2203"), ("950.00".into(), "950.00".into()));
    assert_eq!(account(&r2, "6001"), ("0.00".into(), "1000.00".into()));

    // A follower on the same database consumes the same stream (with a consumer of its own).
    let follower = spawn_app(Options { database_url: Some(url), nats, ..Options::default() }).await;
    let path = format!("/v1/books/{}/trial-balance?min_position={position}", world.platform);
    let read = follower.get(&path, &world.admin).await.expect(200);
    assert_eq!(account(&read, "2202"), ("0.00".into(), "700.00".into()));
    // A write on the follower is forwarded to the leader.
    let write = follower.post("/v1/orgs", &world.admin, json!({ "kind": "supplier", "name": "S2" })).await;
    write.expect(201);
    let position = app.log_position();
    assert_eq!(position, before_forwarded + 1, "the leader booked the follower's write");

    // The stream holds the log: its last sequence is the log's last position.
    let jetstream = async_nats::jetstream::new(async_nats::connect(NATS_URL).await.expect("NATS on 127.0.0.1:4222"));
    let mut last_sequence = 0;
    for _ in 0..100 {
        let mut handle = jetstream.get_stream(&stream).await.expect("the relay made the stream");
        last_sequence = handle.info().await.expect("stream info").state.last_sequence;
        if last_sequence == position {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(last_sequence, position, "every committed event is in the stream, at its position");

    // The leader's relay and both consumers, as `/metrics` shows them once they have caught up.
    let at = position.to_string();
    let caught_up = [("kboss_relay_published_position", at.as_str()), ("kboss_consumer_position", at.as_str())];
    let leader = metrics_showing(&app, &caught_up).await;
    for (series, expected) in [("kboss_relay_up", "1"), ("kboss_relay_lag_events", "0"), ("kboss_consumer_up", "1")] {
        assert_eq!(value(&leader, series), Some(expected), "{series}: {leader}");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(value(&leader, &format!("kboss_build_info{{version=\"{version}\",mode=\"server\"}}")), Some("1"));
    assert!(value(&leader, "kboss_store_bytes{file=\"log\"}").is_none(), "no SQLite files in server mode");
    let follower_text = metrics_showing(&follower, &[("kboss_consumer_position", &at)]).await;
    assert_eq!(value(&follower_text, "kboss_consumer_up"), Some("1"), "{follower_text}");
    assert_eq!(value(&follower_text, "kboss_relay_up"), None, "a follower runs no relay: {follower_text}");
    assert_eq!(
        value(&follower_text, &format!("kboss_build_info{{version=\"{version}\",mode=\"follower\"}}")),
        Some("1")
    );

    follower.stop().await;
    app.stop().await;
    jetstream.delete_stream(&stream).await.expect("the test's stream is deleted");
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

/// Scrapes `app`'s `/metrics` until every series shows its value (the relay and the consumer
/// report as they go); fails after a generous wait.
async fn metrics_showing(app: &TestApp, wanted: &[(&str, &str)]) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = scrape(app).await;
        if wanted.iter().all(|(series, expected)| value(&text, series) == Some(*expected)) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{wanted:?} never shown: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
