//! Server mode: the same flow with the log and the read models in PostgreSQL (a fresh schema
//! of database `test`, dropped afterwards), and a second instance that follows the leader.

use deadpool_postgres::tokio_postgres::{self, NoTls};
use serde_json::json;

use crate::helpers::*;

pub const DATABASE: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

pub async fn admin_connection() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(DATABASE, NoTls).await.expect("PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn the_worked_example_runs_on_postgresql() {
    let schema = format!("kboss_gateway_{}", uuid::Uuid::now_v7().simple());
    let admin = admin_connection().await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let url = format!("postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}");
    let app = spawn_app(Options { database_url: Some(url.clone()), ..Options::default() }).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    let order = buy(&app, &world).await;
    let r2 = app.get(&format!("/v1/books/{}/trial-balance", world.r2), &world.r2_finance).await.expect(200);
    assert_eq!(account(&r2, "2203"), ("950.00".into(), "950.00".into()));
    assert_eq!(account(&r2, "6401"), ("880.00".into(), "0.00".into()));
    let platform = app.get(&format!("/v1/books/{}/trial-balance", world.platform), &world.admin).await.expect(200);
    assert_eq!(account(&platform, "2202"), ("0.00".into(), "700.00".into()));
    let refund = json!({ "amount": "950.00", "reason": "cancelled" });
    let refunded = app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);
    assert_eq!(refunded["status"], "refunded");
    let ready = app.call(reqwest::Method::GET, "/readyz", None, None, None).await;
    assert_eq!(ready.status.as_u16(), 200);

    // A second instance on the same database: it serves reads and names the leader on writes.
    let follower = spawn_app(Options { database_url: Some(url.clone()), ..Options::default() }).await;
    let path = format!("/v1/books/{}/trial-balance?min_position={}", world.platform, app.log_position());
    let read = follower.call(reqwest::Method::GET, &path, Some(&world.admin), None, None).await.expect(200);
    let leader = app.get(&format!("/v1/books/{}/trial-balance", world.platform), &world.admin).await.expect(200);
    assert_eq!(read["accounts"], leader["accounts"]);
    assert_eq!(account(&read, "2202"), ("700.00".into(), "700.00".into()), "the full refund reversed the payable");
    // A write reaching the follower is forwarded to the leader the lease names, and answered
    // once the read models hold it: the caller reads its write on the follower at once.
    let before = app.log_position();
    let write = follower.post("/v1/orgs", &world.admin, json!({ "kind": "supplier", "name": "S2" })).await;
    let opened = write.expect(201);
    assert_eq!(app.log_position(), before + 1, "booked by the leader");
    let org = follower.get(&format!("/v1/orgs/{}", opened["id"].as_str().unwrap()), &world.admin).await.expect(200);
    assert_eq!(org["name"], "S2");
    // A body over the limit is refused by the follower as the leader would refuse it.
    let name = "x".repeat(gateway::config::BODY_BYTES_MAX + 1);
    let large = follower.post("/v1/orgs", &world.admin, json!({ "kind": "supplier", "name": name })).await;
    assert_eq!((large.status.as_u16(), large.code()), (413, "payload_too_large"), "{}", large.text);
    // A request forwarded once is never forwarded again: an instance that does not lead names
    // the current leader, from the lease.
    let again = follower
        .client
        .post(format!("{}/v1/orgs", follower.address))
        .bearer_auth(&world.admin)
        .header("kboss-forwarded-by", "127.0.0.1:1")
        .json(&json!({ "kind": "supplier", "name": "S3" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 503);
    assert!(again.headers().contains_key("retry-after"));
    let again: serde_json::Value = again.json().await.unwrap();
    let detail = again["detail"].as_str().unwrap();
    assert!(detail.contains("the leader is kboss all") && detail.contains(&app.address), "{again}");
    let ready = follower.call(reqwest::Method::GET, "/readyz", None, None, None).await.expect(200);
    assert_eq!((ready["writer"].as_str(), ready["role"].as_str()), (Some("following"), Some("all")));
    assert!(ready["leader"].as_str().unwrap().starts_with("kboss all"), "{ready}");

    // A token revoked on the leader is refused by the follower too, once its cache entry
    // (`TOKEN_CACHE_TTL`, a second) is older than the revocation its read models caught up with.
    let sales = follower.get("/v1/me", &world.r2_sales).await.expect(200);
    let revoke = format!("/v1/tokens/{}/revoke", sales["token_id"].as_str().unwrap());
    app.post(&revoke, &world.r2_admin, json!({ "reason": "left" })).await.expect(200);
    assert_eq!(app.get("/v1/me", &world.r2_sales).await.code(), "token_revoked", "the leader at once");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = follower.get("/v1/me", &world.r2_sales).await;
        if answer.status.as_u16() == 401 {
            assert_eq!(answer.code(), "token_revoked");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the follower still accepts a revoked token: {}", answer.text);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    follower.stop().await;
    app.stop().await;
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
