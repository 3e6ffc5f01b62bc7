//! People, not tokens (issue 9 item 2): users per org with their contact and roles; tokens that
//! belong to a user, narrow its roles, expire and are revoked (an event, refused at once); no
//! person approves their own request whichever token they use; the deployment's admin token is
//! strong, replaced by `kboss admin rotate-token`, and a configured one that differs is an error
//! at start; no answer shows a token's hash.

use clap::Parser;
use gateway::cli::{run, Cli};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn hash_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap().to_owned()).collect()
}

async fn create_user(app: &TestApp, admin: &str, org: &str, name: &str, roles: &[&str]) -> String {
    let body = json!({ "name": name, "email": "wang.fang@example.com", "phone": "+86 138-0000-0000", "roles": roles });
    let created = app.post(&format!("/v1/orgs/{org}/users"), admin, body).await.expect(201);
    assert_eq!(created["org_id"], org);
    created["id"].as_str().unwrap().to_owned()
}

async fn user_token(app: &TestApp, issuer: &str, user: &str, body: Value) -> Value {
    app.post(&format!("/v1/users/{user}/tokens"), issuer, body).await.expect(201)
}

#[tokio::test]
async fn users_hold_tokens_that_narrow_their_roles_and_no_answer_shows_a_tokens_hash() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let wang = create_user(&app, &world.r2_admin, &world.r2, "王芳", &["finance", "sales"]).await;

    // The org's people, in the order they were created: the four `POST /v1/orgs/{id}/tokens`
    // of the world each made a user named by its roles, then 王芳.
    let users = app.get(&format!("/v1/orgs/{}/users", world.r2), &world.r2_admin).await.expect(200);
    assert_eq!(names(&users), ["admin", "sales", "finance", "finance", "王芳"]);
    let user = app.get(&format!("/v1/users/{wang}"), &world.r2_admin).await.expect(200);
    assert_eq!(
        (&user["name"], &user["email"], &user["phone"], &user["roles"]),
        (&json!("王芳"), &json!("wang.fang@example.com"), &json!("+86 138-0000-0000"), &json!(["finance", "sales"]))
    );
    // The parent's admin manages its child's people too.
    let by_parent = app.get(&format!("/v1/orgs/{}/users", world.r2), &world.r1_admin).await.expect(200);
    assert_eq!(by_parent["items"].as_array().unwrap().len(), 5);

    // A token narrows the user's roles; it may not widen them.
    let expires_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let issued = user_token(
        &app,
        &world.r2_admin,
        &wang,
        json!({ "roles": ["sales"], "label": "王芳's phone", "expires_at": expires_at }),
    )
    .await;
    assert_eq!((&issued["user_id"], &issued["roles"]), (&json!(wang), &json!(["sales"])));
    let token = issued["token"].as_str().unwrap().to_owned();
    let token_id = issued["id"].as_str().unwrap().to_owned();
    let wider = app.post(&format!("/v1/users/{wang}/tokens"), &world.r2_admin, json!({ "roles": ["admin"] })).await;
    assert_eq!((wider.status.as_u16(), wider.code(), &wider.body["field"]), (422, "invalid_field", &json!("roles")));

    let me = app.get("/v1/me", &token).await.expect(200);
    assert_eq!((&me["user_id"], &me["user_name"], &me["token_id"]), (&json!(wang), &json!("王芳"), &json!(token_id)));
    assert_eq!(
        (&me["roles"], &me["label"], &me["org_id"]),
        (&json!(["sales"]), &json!("王芳's phone"), &json!(world.r2))
    );
    let expiry = chrono::DateTime::parse_from_rfc3339(me["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expiry, chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap());

    // The user sees itself and its tokens; nothing shows a token's text or hash, the log's
    // event included.
    let own = app.get(&format!("/v1/users/{wang}/tokens"), &token).await;
    assert!(!own.text.contains(&hash_of(&token)) && !own.text.contains(&token), "{}", own.text);
    let own = own.expect(200);
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let listed = &own["items"][0];
    assert_eq!(
        (&listed["id"], &listed["label"], &listed["revoked_at"]),
        (&json!(token_id), &json!("王芳's phone"), &Value::Null)
    );
    assert!(listed.get("token_hash").is_none() && listed.get("token").is_none());
    let position = issued["position"].as_u64().unwrap();
    let event = app.get(&format!("/v1/events/{position}"), ADMIN_TOKEN).await;
    assert!(!event.text.contains(&hash_of(&token)), "{}", event.text);
    let event = event.expect(200);
    assert_eq!(event["event_type"], "TokenIssued");
    assert!(event["payload"].get("token_hash").is_none());
    assert_eq!(event["payload"]["user_id"], json!(wang));

    // Other tenants: not found; staff without the admin role: forbidden.
    let r3 = open_org(&app, ADMIN_TOKEN, "reseller", "R3").await;
    let r3_admin = crate::helpers::token(&app, ADMIN_TOKEN, &r3, &["admin"]).await;
    for path in [format!("/v1/orgs/{}/users", world.r2), format!("/v1/users/{wang}"), format!("/v1/tokens/{token_id}")]
    {
        let answer = app.get(&path, &r3_admin).await;
        assert_eq!((answer.status.as_u16(), answer.code()), (404, "not_found"), "{path}");
        // A customer's role lacks users.read: refused before anything is looked up.
        let answer = app.get(&path, &world.customer_token).await;
        assert!([403, 404].contains(&answer.status.as_u16()), "{path}: {}", answer.status);
    }
    let foreign = app.post(&format!("/v1/tokens/{token_id}/revoke"), &r3_admin, json!({})).await;
    assert_eq!((foreign.status.as_u16(), foreign.code()), (404, "not_found"));
    let foreign =
        app.post(&format!("/v1/orgs/{}/users", world.r2), &r3_admin, json!({ "name": "x", "roles": ["sales"] })).await;
    assert_eq!((foreign.status.as_u16(), foreign.code()), (404, "not_found"));
    let not_admin = app.get(&format!("/v1/orgs/{}/users", world.r2), &world.r2_sales).await;
    assert_eq!((not_admin.status.as_u16(), not_admin.code()), (403, "forbidden"));
    let bad_email = app
        .post(
            &format!("/v1/orgs/{}/users", world.r2),
            &world.r2_admin,
            json!({ "name": "x", "email": "nope", "roles": ["sales"] }),
        )
        .await;
    assert_eq!((bad_email.status.as_u16(), &bad_email.body["field"]), (422, &json!("email")));
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_and_what_it_sends_books_nothing() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let li = create_user(&app, &world.r2_admin, &world.r2, "李雷", &["sales"]).await;
    let issued = user_token(&app, &world.r2_admin, &li, json!({ "label": "laptop" })).await;
    let (token, token_id) = (issued["token"].as_str().unwrap().to_owned(), issued["id"].as_str().unwrap().to_owned());
    app.get("/v1/me", &token).await.expect(200);

    // The holder revokes its own token; this instance refuses it from the answer on.
    let revoked = app
        .post(&format!("/v1/tokens/{token_id}/revoke"), &token, json!({ "reason": "laptop stolen" }))
        .await
        .expect(200);
    assert_eq!(revoked["id"], json!(token_id));
    let position = app.log_position();
    assert_eq!(revoked["position"].as_u64(), Some(position));
    let refused = app.get("/v1/me", &token).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (401, "token_revoked"));
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_token""#) && challenge.contains("revoked"), "{challenge}");
    let write = app.post("/v1/orgs", &token, json!({ "kind": "customer", "name": "never" })).await;
    assert_eq!((write.status.as_u16(), write.code()), (401, "token_revoked"));
    assert_eq!(app.log_position(), position, "a revoked token books nothing");

    // Revoked once: again is a conflict. The token stays listed, with who revoked it and why.
    let again = app.post(&format!("/v1/tokens/{token_id}/revoke"), &world.r2_admin, json!({})).await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "token_revoked"));
    let tokens = app.get(&format!("/v1/users/{li}/tokens"), &world.r2_admin).await.expect(200);
    let listed = &tokens["items"][0];
    assert_eq!((&listed["revoke_reason"], &listed["revoked_by"]), (&json!("laptop stolen"), &json!(token_id)));
    assert_eq!(listed["revoked_at"], revoked["revoked_at"]);

    // The deployment's admin token is replaced, never revoked on its own.
    let admin_id = app.get("/v1/me", ADMIN_TOKEN).await.expect(200)["token_id"].as_str().unwrap().to_owned();
    let admin = app.post(&format!("/v1/tokens/{admin_id}/revoke"), ADMIN_TOKEN, json!({})).await;
    assert_eq!((admin.status.as_u16(), admin.code()), (409, "deployment_admin_token"));
    let listed = app.get(&format!("/v1/tokens/{admin_id}"), ADMIN_TOKEN).await.expect(200);
    assert_eq!((&listed["deployment_admin"], &listed["revoked_at"]), (&json!(true), &Value::Null));
}

#[tokio::test]
async fn an_expired_token_is_refused_and_an_expiry_in_the_past_is_not_issued() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let user = create_user(&app, &world.r2_admin, &world.r2, "临时工", &["operations"]).await;
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    let refused = app.post(&format!("/v1/users/{user}/tokens"), &world.r2_admin, json!({ "expires_at": past })).await;
    assert_eq!((refused.status.as_u16(), &refused.body["field"]), (422, &json!("expires_at")));
    let garbled = app.post(&format!("/v1/users/{user}/tokens"), &world.r2_admin, json!({ "expires_at": "soon" })).await;
    assert_eq!((garbled.status.as_u16(), &garbled.body["field"]), (422, &json!("expires_at")));

    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let issued = user_token(&app, &world.r2_admin, &user, json!({ "expires_at": soon.to_rfc3339() })).await;
    let token = issued["token"].as_str().unwrap().to_owned();
    app.get("/v1/me", &token).await.expect(200);
    // Wait for the instant to pass (a deadline, not a measurement), then the token is refused.
    tokio::time::sleep((soon - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let expired = app.get("/v1/me", &token).await;
    assert_eq!((expired.status.as_u16(), expired.code()), (401, "token_expired"));
}

#[tokio::test]
async fn nobody_approves_their_own_request_with_another_of_their_tokens_and_approvals_name_persons() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let li = create_user(&app, &world.r2_admin, &world.r2, "李雷", &["sales", "finance"]).await;
    let as_sales = user_token(&app, &world.r2_admin, &li, json!({ "roles": ["sales"] })).await;
    let as_finance = user_token(&app, &world.r2_admin, &li, json!({ "roles": ["finance"] })).await;
    let (sales, finance) = (as_sales["token"].as_str().unwrap(), as_finance["token"].as_str().unwrap());

    let body = json!({ "customer_id": world.customer, "amount": "100.00", "method": "offline", "reference": "slip 7" });
    let pending = app.post("/v1/recharges", sales, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap();
    let own = app.post(&format!("/v1/approvals/{approval}/approve"), finance, json!({})).await;
    assert_eq!((own.status.as_u16(), own.code()), (422, "self_approval"));
    let own = app.post(&format!("/v1/approvals/{approval}/reject"), finance, json!({})).await;
    assert_eq!(own.code(), "self_approval");

    app.post(&format!("/v1/approvals/{approval}/approve"), &world.r2_finance, json!({ "comment": "checked" }))
        .await
        .expect(200);
    let colleague = app.get("/v1/me", &world.r2_finance).await.expect(200);
    let shown = app.get(&format!("/v1/approvals/{approval}"), &world.r2_finance).await.expect(200);
    assert_eq!((&shown["requested_by"], &shown["requested_by_token"]), (&json!(li), &as_sales["id"]));
    assert_eq!((&shown["decided_by"], &shown["decided_by_token"]), (&colleague["user_id"], &colleague["token_id"]));
    assert_eq!(shown["status"], "granted");
    let balance = app.get(&format!("/v1/customers/{}/balance", world.customer), &world.r2_finance).await.expect(200);
    assert_eq!(balance["balance"], "100.00");
}

#[tokio::test]
async fn the_admin_token_is_strong_rotated_by_kboss_and_a_changed_one_is_an_error_at_start() {
    for weak in
        ["short", "kb_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "password-password-password-password-1"]
    {
        let started = try_spawn_app(Options { admin_token: Some(weak.to_owned()), ..Options::default() }).await;
        let Err((error, _)) = started else { panic!("{weak:?} was accepted") };
        assert!(error.to_string().contains("KBOSS_ADMIN_TOKEN is too weak"), "{error}");
    }
    // `openssl rand -hex 32` and a generated token are strong enough.
    let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let app = spawn_app(Options { admin_token: Some(hex.to_owned()), ..Options::default() }).await;
    app.get("/v1/me", hex).await.expect(200);
    let data_dir = app.stop().await;

    // Another value for a store that has one: an error at start, not a silent no-op.
    let other = "kb_AnotherStrongTokenButNotTheStoredOne-0123456789";
    let Err((error, data_dir)) =
        try_spawn_app(Options { admin_token: Some(other.to_owned()), data_dir: Some(data_dir), ..Options::default() })
            .await
    else {
        panic!("a changed KBOSS_ADMIN_TOKEN was accepted")
    };
    assert!(error.to_string().contains("kboss admin rotate-token"), "{error}");

    // `kboss admin rotate-token` (server stopped): a new token for the same admin user, the old
    // one revoked, and the new one written to admin.token.
    let directory = data_dir.path().to_str().unwrap().to_owned();
    run(Cli::parse_from(["kboss", "--data-dir", &directory, "admin", "rotate-token"])).await.expect("rotate-token");
    let rotated = std::fs::read_to_string(data_dir.path().join("admin.token")).unwrap().trim().to_owned();
    assert!(rotated.starts_with("kb_") && rotated.len() == 46, "{rotated}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.path().join("admin.token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let old_stays_configured =
        try_spawn_app(Options { admin_token: Some(hex.to_owned()), data_dir: Some(data_dir), ..Options::default() })
            .await;
    let Err((error, data_dir)) = old_stays_configured else { panic!("the replaced token was accepted at start") };
    assert!(error.to_string().contains("not the deployment's admin token"), "{error}");
    let app =
        spawn_app(Options { admin_token: Some(rotated.clone()), data_dir: Some(data_dir), ..Options::default() }).await;
    let me = app.get("/v1/me", &rotated).await.expect(200);
    assert_eq!((&me["roles"], &me["user_name"]), (&json!(["super_admin", "admin"]), &json!("Administrator")));
    let old = app.get("/v1/me", hex).await;
    assert_eq!((old.status.as_u16(), old.code()), (401, "token_revoked"));
    let tokens = app.get(&format!("/v1/users/{}/tokens", me["user_id"].as_str().unwrap()), &rotated).await.expect(200);
    let flags: Vec<(bool, bool)> = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|token| (token["deployment_admin"].as_bool().unwrap(), token["revoked_at"].is_null()))
        .collect();
    assert_eq!(flags, [(true, false), (true, true)], "the old one revoked, the new one in force");
}
