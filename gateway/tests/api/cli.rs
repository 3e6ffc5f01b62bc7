//! The `kboss` subcommands on a data directory the server wrote: verify, replay, rebuild,
//! export, and a settlement run that issues nothing twice when run again.

use clap::Parser;
use event_log::{LogRead, SqliteReader};
use gateway::cli::{run, Cli};

use crate::helpers::*;

async fn kboss(data_dir: &std::path::Path, arguments: &[&str]) {
    let mut all = vec!["kboss", "--data-dir", data_dir.to_str().unwrap()];
    all.extend_from_slice(arguments);
    run(Cli::parse_from(all)).await.unwrap_or_else(|error| panic!("kboss {arguments:?}: {error}"));
}

fn last_position(data_dir: &std::path::Path) -> u64 {
    SqliteReader::open(data_dir).unwrap().last_position().unwrap()
}

#[tokio::test]
async fn the_subcommands_work_on_the_servers_data() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    buy(&app, &world).await;
    // The writer's lock is released once the server stops; the subcommands take it in turn.
    let data_dir = app.stop().await;
    let kept = data_dir.path();
    let logged = last_position(kept);

    kboss(kept, &["verify"]).await;
    kboss(kept, &["replay"]).await;
    kboss(kept, &["rebuild"]).await;
    kboss(kept, &["export", "--book", &world.r2, "--format", "csv"]).await;
    kboss(kept, &["settle", "--book", &world.r1, "--from", "2026-01-01", "--to", "2026-01-31"]).await;
    let settled = last_position(kept);
    assert_eq!(settled, logged + 1, "one statement: R1's only counterparty with open items is R2");
    kboss(kept, &["settle", "--book", &world.r1, "--from", "2026-01-01", "--to", "2026-01-31"]).await;
    assert_eq!(last_position(kept), settled, "a second run issues nothing");
    kboss(kept, &["verify"]).await;
}

#[tokio::test]
async fn verify_rebuild_and_export_never_create_a_store_and_name_where_they_looked() {
    let empty = tempfile::tempdir().unwrap();
    let directory = empty.path().to_str().unwrap();
    let expected = empty.path().join("kboss.sqlite");
    let book = uuid::Uuid::nil().to_string();
    for arguments in [vec!["verify"], vec!["rebuild"], vec!["export", "--book", &book, "--format", "csv"]] {
        let mut all = vec!["kboss", "--data-dir", directory];
        all.extend(arguments.iter().copied());
        let error = run(Cli::parse_from(all)).await.expect_err("no log here: the command fails");
        let message = error.to_string();
        assert!(message.contains(&format!("no log at {}", expected.display())), "{arguments:?}: {message}");
        let left: Vec<_> = std::fs::read_dir(empty.path()).unwrap().collect();
        assert!(left.is_empty(), "{arguments:?} created {left:?}");
    }
}
