//! The `kboss` command as an operator meets it: the books listed by id and name, an export
//! written to a file, a data directory in use named with the process that holds it, a database
//! that cannot be reached named with its host and port, listen addresses by host name, and a
//! start line (plain text when not at a terminal) saying what is served and where.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use clap::Parser;
use gateway::cli::{run, Action, Cli};

use crate::helpers::*;

const KBOSS: &str = env!("CARGO_BIN_EXE_kboss");

fn kboss(data_dir: &std::path::Path, arguments: &[&str]) -> std::process::Output {
    Command::new(KBOSS)
        .arg("--data-dir")
        .arg(data_dir)
        .args(arguments)
        .env_remove("KBOSS_DATABASE_URL")
        .output()
        .expect("kboss runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

#[tokio::test]
async fn books_are_listed_by_id_kind_name_and_parent_and_an_export_goes_to_a_file() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    buy(&app, &world).await;
    let data_dir = app.stop().await;

    let listed = kboss(data_dir.path(), &["books"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let expected = format!(
        "{platform}\tplatform\tKBOSS\t-\n{r1}\treseller\tR1\t{platform}\n{r2}\treseller\tR2\t{r1}\n",
        platform = world.platform,
        r1 = world.r1,
        r2 = world.r2
    );
    assert_eq!(text(&listed.stdout), expected);

    let to_stdout = kboss(data_dir.path(), &["export", "--book", &world.r2, "--format", "csv"]);
    assert!(to_stdout.status.success(), "{}", text(&to_stdout.stderr));
    let file = data_dir.path().join("r2.csv");
    let to_file =
        kboss(data_dir.path(), &["export", "--book", &world.r2, "--format", "csv", "--output", file.to_str().unwrap()]);
    assert!(to_file.status.success(), "{}", text(&to_file.stderr));
    assert!(to_file.stdout.is_empty(), "nothing on standard output with --output");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, text(&to_stdout.stdout));
    assert!(written.lines().count() > 1, "the export has lines: {written}");

    let refused = kboss(data_dir.path(), &["export", "--book", &world.r2, "--format", "xlsx"]);
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    let message = text(&refused.stderr);
    assert!(message.contains("csv") && message.contains("beancount"), "the choices are listed: {message}");
}

#[tokio::test]
async fn a_data_directory_in_use_is_named_with_the_process_holding_it() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let held =
        kboss(app.data_dir.path(), &["settle", "--book", &world.r1, "--from", "2026-01-01", "--to", "2026-01-10"]);
    assert_eq!(held.status.code(), Some(1));
    let message = text(&held.stderr);
    let lock = app.data_dir.path().join("writer.lock");
    assert!(
        message.contains(&format!("process {} holds {}", std::process::id(), lock.display()))
            && message.contains("stop it first"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_named_with_its_host_port_and_cause() {
    let cli = Cli::parse_from(["kboss", "--database-url", "host=127.0.0.1 port=1 user=postgres dbname=test", "verify"]);
    let message = run(cli).await.expect_err("nothing listens on port 1").to_string();
    assert!(
        message.contains("cannot connect to PostgreSQL at 127.0.0.1:1 (database test, user postgres)")
            && message.to_lowercase().contains("refused"),
        "{message}"
    );
}

#[test]
fn listen_takes_a_host_name_and_a_port() {
    let listen = |address: &str| match Cli::try_parse_from(["kboss", "serve", "--listen", address]) {
        Ok(Cli { command: Action::Serve { listen, .. }, .. }) => Ok(listen.expect("given")),
        Ok(other) => panic!("{other:?}"),
        Err(error) => Err(error.to_string()),
    };
    assert_eq!(listen("localhost:8080"), Ok("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(listen("127.0.0.1:9000"), Ok("127.0.0.1:9000".parse().unwrap()));
    assert_eq!(listen("[::1]:9000"), Ok("[::1]:9000".parse().unwrap()));
    let refused = listen("localhost").expect_err("no port");
    assert!(refused.contains("HOST:PORT"), "{refused}");
}

#[test]
fn serve_says_what_it_serves_and_where_in_plain_text() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(KBOSS)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .env_remove("KBOSS_DATABASE_URL")
        .env_remove("KBOSS_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kboss serve starts");
    let stderr = child.stderr.take().unwrap();
    let line = BufReader::new(stderr)
        .lines()
        .map(|line| line.expect("a log line"))
        .find(|line| line.contains("kboss serving"))
        .expect("a start line");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!line.contains('\u{1b}'), "no colour codes when not at a terminal: {line:?}");
    assert!(line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{line}");
    assert!(line.contains("mode=\"embedded\""), "{line}");
    assert!(line.contains(&format!("store=\"{}\"", data_dir.path().display())), "{line}");
    assert!(line.contains("listen=127.0.0.1:"), "{line}");
    assert!(!line.contains("listen=127.0.0.1:0 "), "the port chosen, not 0: {line}");
}

#[tokio::test]
async fn metrics_show_the_size_of_each_store_file_and_its_wal() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    let text = reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap();
    let gauge = |file: &str| -> u64 {
        let prefix = format!("kboss_store_bytes{{file=\"{file}\"}} ");
        let line = text.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix} in {text}"));
        line[prefix.len()..].parse().unwrap()
    };
    let on_disk = |name: &str| std::fs::metadata(app.data_dir.path().join(name)).map_or(0, |metadata| metadata.len());
    // Nothing is written after the recharge: the log's file is as the gauge saw it. (The read
    // models may still be applying it, so their file is only known to exist.)
    assert_eq!(gauge("log"), on_disk("kboss.sqlite"));
    assert!(gauge("log") > 0 && gauge("read_models") > 0);
    assert!(
        text.contains("kboss_store_bytes{file=\"log_wal\"}")
            && text.contains("kboss_store_bytes{file=\"read_models_wal\"}")
    );
    app.stop().await;
}

#[tokio::test]
async fn settle_names_its_counterparties_totals_its_run_and_fails_when_there_is_nothing_to_settle() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    buy(&app, &world).await;
    let data_dir = app.stop().await;
    let settle = |book: &str, from: &str, to: &str| {
        kboss(data_dir.path(), &["settle", "--book", book, "--from", from, "--to", to])
    };

    let run = settle(&world.r1, "2026-01-01", "2026-01-31");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let printed = text(&run.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(lines[0].starts_with(&format!("R2 ({}): statement ", world.r2)), "{printed}");
    assert!(lines[0].ends_with(": 1 lines, receivable 880.00, payable 0.00"), "{printed}");
    assert_eq!(lines[1], "total: 1 statements, 1 lines, receivable 880.00, payable 0.00");

    let again = settle(&world.r1, "2026-01-01", "2026-01-31");
    assert!(again.status.success(), "a rerun succeeds: {}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout),
        format!(
            "R2 ({}): already settled by an earlier run\ntotal: 0 statements, 0 lines, receivable 0.00, payable 0.00\n",
            world.r2
        )
    );

    let nothing = settle(&world.r1, "2025-01-01", "2025-01-31");
    assert_eq!(nothing.status.code(), Some(1));
    assert_eq!(
        text(&nothing.stdout),
        format!("R2 ({}): nothing to settle\ntotal: 0 statements, 0 lines, receivable 0.00, payable 0.00\n", world.r2)
    );
    assert!(text(&nothing.stderr).contains("nothing to settle in"), "{}", text(&nothing.stderr));

    let unknown = settle(&uuid::Uuid::nil().to_string(), "2026-01-01", "2026-01-31");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("keeps no book in this log"), "{}", text(&unknown.stderr));
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "950.00").await;
    let mode = |name: &str| {
        std::fs::metadata(app.data_dir.path().join(name)).map(|metadata| metadata.permissions().mode() & 0o777)
    };
    assert_eq!(std::fs::metadata(app.data_dir.path()).unwrap().permissions().mode() & 0o777, 0o700);
    for file in ["kboss.sqlite", "kboss.sqlite-wal", "read.sqlite", "read.sqlite-wal"] {
        assert_eq!(mode(file).unwrap_or_else(|error| panic!("{file}: {error}")), 0o600, "{file}");
    }
    app.stop().await;
}
