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
    let write = follower.post("/v1/orgs", &world.admin, json!({ "kind": "supplier", "name": "S2" })).await;
    assert_eq!(write.status.as_u16(), 503, "{}", write.text);
    assert!(write.body["detail"].as_str().unwrap().contains("leader"), "{}", write.text);
    assert!(write.headers.contains_key("retry-after"));
    assert_eq!(follower.call(reqwest::Method::GET, "/readyz", None, None, None).await.status.as_u16(), 200);

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
