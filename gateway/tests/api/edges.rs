//! Edges a real deployment meets (issue 9 item 7): a start interrupted half-way through its
//! bootstrap.

use commands::{Request, Writer, WriterConfig};
use event_log::{LogRead, SqliteReader, SqliteStore};
use ledger_core::ids::{OrgId, PrincipalId};
use ledger_core::money::Currency;
use ledger_core::org::{Actor, Role};
use ledger_core::{Command, CommandBody, SetupCommand};

use crate::helpers::*;

/// The bootstrap is two commands: the platform, then its `super_admin`'s token. A start that
/// stopped between them left a platform nobody could act for; the next start issues the token.
#[tokio::test]
async fn a_bootstrap_interrupted_before_the_admin_token_completes_at_the_next_start() {
    let data_dir = tempfile::tempdir().unwrap();
    let platform = OrgId(uuid::Uuid::now_v7());
    let writer = Writer::start(SqliteStore::open_writer(data_dir.path()).unwrap(), WriterConfig::default()).unwrap();
    let actor = Actor::new(platform, PrincipalId(uuid::Uuid::now_v7()), [Role::SuperAdmin, Role::Admin]);
    let body = CommandBody::Setup(SetupCommand::Bootstrap {
        platform_id: platform,
        name: "KBOSS".into(),
        currency: Currency::CNY,
    });
    let command = Command { actor, effective_date: date("2026-01-15"), at: chrono::Utc::now(), body };
    let committed = writer.handle().submit(Request::with_key(command, "bootstrap")).await.unwrap();
    assert_eq!(committed.position, 2, "the platform and its posting rules, and no token");
    tokio::task::spawn_blocking(move || writer.shutdown()).await.unwrap();

    let app = spawn_app(Options { data_dir: Some(data_dir), ..Options::default() }).await;
    let me = app.get("/v1/me", ADMIN_TOKEN).await.expect(200);
    assert_eq!((me["org_id"].as_str(), me["org_name"].as_str()), (Some(platform.to_string().as_str()), Some("KBOSS")));
    assert_eq!(me["roles"], serde_json::json!(["super_admin", "admin"]));
    assert_eq!(app.log_position(), 4, "the admin user and its token, no second platform");
    let data_dir = app.stop().await;

    // Complete now: a restart books nothing more.
    let app = spawn_app(Options { data_dir: Some(data_dir), ..Options::default() }).await;
    assert_eq!(app.log_position(), 4);
    app.get("/v1/me", ADMIN_TOKEN).await.expect(200);
    let data_dir = app.stop().await;
    let mut reader = SqliteReader::open(data_dir.path()).unwrap();
    let types: Vec<&str> = reader.read_after(0, 10).unwrap().iter().map(|event| event.event_type()).collect::<Vec<_>>();
    assert_eq!(types, ["OrgOpened", "PostingRulesSet", "UserCreated", "TokenIssued"]);
}
