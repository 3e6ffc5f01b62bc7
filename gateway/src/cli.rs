//! The `kboss` command line: `serve`, `replay` (and `replay --rules`), `verify`, `rebuild`,
//! `settle`, `reconcile`, `migrate`, `events dump`, `export`, `books`, `audit check`,
//! `admin rotate-token`, and the back office's `rules set`, `entries book`, `sale-mode`. Which
//! of them need the server stopped: those that write the log or drop read models it serves
//! (`settle`, `reconcile --record`, `migrate`, `rebuild`, `admin rotate-token`, `rules set`,
//! `entries book`, `sale-mode`) on an embedded data directory; the others only read and run
//! beside it.

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use commands::{CommandError, Request, Writer};
use event_log::{
    AnyReader, AsyncLog, LoadError, LogRead, PostgresReader, PostgresStore, SqliteReader, SqliteStore, StoreError,
};
use indicatif::{ProgressBar, ProgressStyle};
use ledger_core::ids::{OrgId, PrincipalId, SettlementId};
use ledger_core::org::{Actor, OrgKind, Role};
use ledger_core::{Command, CommandBody, EventPayload};
use projections::{ReadError, ReadModels};

use crate::app::{Application, StartError, READ_POOL_CONNECTIONS_MAX};
use crate::back_office_cli::BackOfficeCommand;
use crate::config::{ConfigError, Overrides, Settings};
use crate::error::ApiError;
use crate::export::{export_book, ExportFormat, EXPORT_LINES_MAX};
use crate::operation_log::{Operation, OperationLog, OperationLogError, OperationStore};
use crate::routes::back_office::SaleModeInput;
use ledger_core::SettlementCommand;

#[derive(Parser, Debug)]
#[command(name = "kboss", version, about = "KBOSS Ledger: an event-sourced double-entry ledger")]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Action,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// A TOML settings file (layered over the defaults, under `KBOSS_*` variables and flags).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the embedded log and read models live [env: KBOSS_DATA_DIR; default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL for the log and read models (server mode), e.g. "host=127.0.0.1 user=postgres
    /// dbname=kboss" or postgres://user@host/db [env: KBOSS_DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// NATS JetStream for distribution (server mode), e.g. nats://127.0.0.1:4222
    /// [env: KBOSS_NATS_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub nats_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Serve the HTTP API (embedded by default; server mode with --database-url).
    Serve {
        /// The address to listen on: 127.0.0.1:8080, [::1]:8080 or localhost:8080
        /// [env: KBOSS_LISTEN; default: 127.0.0.1:8080].
        #[arg(long, value_name = "HOST:PORT", value_parser = crate::config::socket_address)]
        listen: Option<std::net::SocketAddr>,
        /// What this process does in server mode: all (the default), writer (the lease, the
        /// relay, the API), projector (read models only), api (reads; writes forwarded to the
        /// leader) [env: KBOSS_ROLE].
        #[arg(long, value_enum)]
        role: Option<crate::config::ServeRole>,
    },
    /// Load the decision state from the log and report the replay speed; with --rules, book a
    /// period of one book again under a proposed rule set, write nothing, and print the
    /// differences per account with the events that cause them.
    Replay {
        /// The proposed rules: JSON, what SetPostingRules takes (an array of rules
        /// {kind, role, lines}, or {"rules": [...]}, or one rule).
        #[arg(long, value_name = "FILE", requires_all = ["book", "from", "to"])]
        rules: Option<PathBuf>,
        /// The book's org id (`kboss books` lists them).
        #[arg(long, value_name = "ORG_ID", requires = "rules")]
        book: Option<String>,
        /// The first day of the period (entries dated from it).
        #[arg(long, value_name = "YYYY-MM-DD", requires = "rules")]
        from: Option<NaiveDate>,
        /// The last day of the period.
        #[arg(long, value_name = "YYYY-MM-DD", requires = "rules")]
        to: Option<NaiveDate>,
    },
    /// Verify everything: the log from position 0 (positions, hash chain, balanced entries,
    /// wallets, trial balances, every inter-company pair and every pair of books netting to
    /// zero), then every read model against a recomputation from the log. Prints each problem
    /// with the position that caused it; exits non-zero on any.
    Verify,
    /// Drop the read models and rebuild them from position 0 (stop `kboss serve` on an embedded
    /// data directory first).
    Rebuild,
    /// Issue a settlement statement for every supplier and child reseller of a book, for a
    /// period (`--book --from --to`), or every statement the settlement cycles have made due
    /// (`--due`, in every book or `--book`'s) (takes the writer's lock: stop `kboss serve` on an
    /// embedded data directory first).
    Settle {
        /// The book's org id (`kboss books` lists them); with `--due`, every book without it.
        #[arg(long, value_name = "ORG_ID")]
        book: Option<String>,
        /// The first day of the period.
        #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "due")]
        from: Option<NaiveDate>,
        /// The last day of the period (ended: before today).
        #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "due")]
        to: Option<NaiveDate>,
        /// The statements due under the books' settlement cycles (`PUT
        /// /v1/books/{org}/settlement-cycles/{counterparty}`), as the clock would issue them.
        #[arg(long)]
        due: bool,
    },
    /// Reconcile a bank statement or a channel's bill against a book's 1002 or 1012: a dry run
    /// by default (prints the matches, what is unmatched on each side and the suggestions);
    /// --record records it (takes the writer's lock: stop `kboss serve` on an embedded data
    /// directory first).
    Reconcile {
        /// The book's org id.
        #[arg(long, value_name = "ORG_ID")]
        book: String,
        /// The account reconciled.
        #[arg(long, value_parser = ["1002", "1012"])]
        account: String,
        /// The statement's format.
        #[arg(long, value_parser = ["csv", "camt053", "alipay"])]
        format: String,
        /// The statement file (UTF-8).
        #[arg(long, value_name = "FILE")]
        statement: PathBuf,
        /// A csv statement's column mapping, JSON ({"date": "Date", "amount": "Amount"} or with
        /// money_in and money_out, reference, date_format), or a file holding it.
        #[arg(long, value_name = "JSON|FILE")]
        mapping: Option<String>,
        /// How far a match's amounts may differ.
        #[arg(long, default_value = "0.00", value_name = "AMOUNT")]
        tolerance_amount: String,
        /// How many days a match's dates may differ.
        #[arg(long, default_value_t = 0, value_name = "DAYS")]
        tolerance_days: u32,
        /// Record the reconciliation (an event), not just a dry run.
        #[arg(long)]
        record: bool,
    },
    /// Convert a log written in record format v1 to v2, in place (the v1 log is kept beside it,
    /// the new chain continues the old one, the read models are rebuilt at the next start).
    Migrate,
    /// The log as JSON lines (the events' JSON view, as `GET /v1/events/{position}` serves it).
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Export a book's journal, to standard output or a file.
    Export {
        /// The book's org id (`kboss books` lists them).
        #[arg(long, value_name = "ORG_ID")]
        book: String,
        /// The file format.
        #[arg(long, default_value = "csv", value_parser = ["csv", "beancount"])]
        format: String,
        /// The first day exported (default: the book's first).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<NaiveDate>,
        /// The last day exported (default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<NaiveDate>,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List the books (every organisation that keeps one): id, kind, name, parent.
    Books,
    /// Audit tools that need no server.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// The deployment's administration.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Posting rules (as `PUT /v1/posting-rules/{kind}`; takes the writer's lock).
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Manual journal entries, 手工凭证 (as `POST /v1/books/{org}/entries`; takes the writer's
    /// lock).
    Entries {
        #[command(subcommand)]
        action: EntriesAction,
    },
    /// A child reseller's sale mode, decided for its parent (as `PUT /v1/orgs/{id}/sale-mode`;
    /// takes the writer's lock).
    SaleMode {
        /// The reseller's org id.
        #[arg(long, value_name = "ORG_ID")]
        reseller: String,
        #[arg(long, value_parser = ["discount", "rebate"])]
        mode: String,
        /// Rebate only: the commission rate, e.g. 0.05.
        #[arg(long, value_name = "RATE")]
        commission_rate: Option<String>,
        /// From when (default: today); orders placed before keep the mode they were priced in.
        #[arg(long, value_name = "YYYY-MM-DD")]
        effective_from: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesAction {
    /// Adopt a new version of one posting rule, as the platform's finance: the file holds
    /// `{role, lines: [{account, party?, side, amount}]}`; an unbalanced rule is refused with the
    /// symbolic check's reason.
    Set {
        /// The business kind (`sale`, `coupon`, …).
        #[arg(long)]
        kind: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum EntriesAction {
    /// Request a manual entry in a book, as its finance: the file holds `{date, memo, lines:
    /// [{account, party?, debit | credit}]}`; it waits for approval (through the API) unless the
    /// book's policy lets it through.
    Book {
        #[arg(long, value_name = "ORG_ID")]
        book: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Replace the deployment's admin token with a new one (printed once, and written to
    /// `<data-dir>/admin.token`); the old one is revoked in the same event. Takes the writer's
    /// lock: stop `kboss serve` first, then start it with the new `KBOSS_ADMIN_TOKEN` (or none).
    RotateToken,
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Check a close certificate against the book's CSV export offline (no server, no database,
    /// no network): its Ed25519 signature with the public key given, and the trial balance
    /// recomputed from the export's lines through the period's last day against the
    /// certificate's hash and totals. Exits non-zero, naming what failed, unless all hold.
    Check {
        /// The certificate: the answer of `POST /v1/books/{org}/close`, or its `certificate`.
        #[arg(long, value_name = "FILE")]
        certificate: PathBuf,
        /// The book's CSV export from its first day through the period's last
        /// (`kboss export --book <id> --to <through>`).
        #[arg(long, value_name = "FILE")]
        export: PathBuf,
        /// The deployment's public key: the answer of `GET /v1/audit/public-key`, or its hex.
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum EventsAction {
    /// Print the events from position `--from` to `--to` (both included), one JSON object a line.
    Dump {
        /// The first position to print.
        #[arg(long, default_value_t = 1, value_name = "POSITION")]
        from: u64,
        /// The last position to print (default: the log's last).
        #[arg(long, value_name = "POSITION")]
        to: Option<u64>,
    },
}

/// Why a subcommand failed; `kboss` prints it and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag or argument the subcommand cannot use.
    #[error("{0}")]
    Usage(&'static str),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Export(#[from] ApiError),
    #[error("the read pool: {0}")]
    ReadPool(#[from] deadpool_postgres::BuildError),
    /// A blocking step (a store's read) panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Migrate(#[from] event_log::migrate::MigrateError),
    #[error(transparent)]
    OperationLog(#[from] OperationLogError),
    /// A settlement run that settled nothing or had a statement refused (what it did is printed).
    #[error("settle: {0}")]
    Settle(String),
    #[error("admin: {0}")]
    Admin(&'static str),
    /// `kboss verify` found problems (each is printed).
    #[error("verify: {0}")]
    Verify(String),
    #[error(transparent)]
    Verifying(#[from] crate::verify::VerifyError),
    /// `kboss audit check` refused the pair (each failed check is printed).
    #[error("audit check: {0}")]
    AuditCheck(String),
    #[error("replay: {0}")]
    RuleReplay(#[from] crate::replay::ReplayError),
    /// `kboss reconcile`: a statement that cannot be read, or a reconciliation refused.
    #[error("reconcile: {0}")]
    Reconcile(String),
    /// `kboss rules set`, `entries book`, `sale-mode`: an input that cannot be read or is refused.
    #[error("{0}")]
    BackOffice(String),
}

type CliResult = Result<(), CliError>;

pub fn settings(
    common: &Common,
    listen: Option<std::net::SocketAddr>,
    role: Option<crate::config::ServeRole>,
) -> Result<Settings, crate::config::ConfigError> {
    let overrides = Overrides {
        listen,
        data_dir: common.data_dir.clone(),
        database_url: common.database_url.clone(),
        nats_url: common.nats_url.clone(),
        role,
    };
    Settings::load(common.config.as_deref(), std::env::vars(), overrides)
}

pub async fn run(cli: Cli) -> CliResult {
    // Offline: no settings, no store, no network.
    if let Action::Audit { action: AuditAction::Check { certificate, export, public_key } } = &cli.command {
        return audit_check(certificate, export, public_key);
    }
    let (listen, role) = match &cli.command {
        Action::Serve { listen, role } => (*listen, *role),
        _ => (None, None),
    };
    let settings = settings(&cli.common, listen, role)?;
    match cli.command {
        Action::Serve { .. } => {
            let store = match &settings.database_url {
                None => settings.data_dir.display().to_string(),
                Some(url) => crate::config::database_description(url.expose()),
            };
            let application = Application::build(settings).await?;
            tracing::info!(
                version = env!("CARGO_PKG_VERSION"),
                mode = application.mode(),
                role = application.state().settings.role.name(),
                store,
                listen = %application.local_address(),
                "kboss serving"
            );
            application.run_until_stopped().await?;
            Ok(())
        }
        Action::Replay { rules: None, .. } => with_reader(&settings, |log| async move { log.call(replay).await }).await,
        Action::Replay { rules: Some(rules), book, from, to } => {
            let text = std::fs::read_to_string(&rules)
                .map_err(|error| std::io::Error::new(error.kind(), format!("reading {}: {error}", rules.display())))?;
            let rules = crate::replay::read_rules(&text)?;
            let book: OrgId =
                book.unwrap_or_default().parse().map_err(|_| CliError::Usage("--book must be an org id"))?;
            let period =
                (from.ok_or(CliError::Usage("--from is needed"))?, to.ok_or(CliError::Usage("--to is needed"))?);
            with_reader(&settings, |log| async move {
                let total = log.last_position().await?;
                let bar = progress_bar(total);
                let shown = bar.clone();
                let report = log
                    .call(move |reader| {
                        crate::replay::replay_rules(reader, rules, book, period, |position| {
                            shown.set_position(position)
                        })
                    })
                    .await;
                bar.finish_and_clear();
                print!("{}", crate::replay::render(&report?));
                Ok(())
            })
            .await
        }
        Action::Reconcile { book, account, format, statement, mapping, tolerance_amount, tolerance_days, record } => {
            let request = ReconcileArguments {
                book,
                account,
                format,
                statement,
                mapping,
                tolerance: (tolerance_amount, tolerance_days),
                record,
            };
            reconcile(&settings, request).await
        }
        Action::Verify => {
            let settings = &settings;
            with_reader(settings, |log| async move { verify(settings, log).await }).await
        }
        Action::Audit { .. } => Err(CliError::Usage("kboss audit: a subcommand is needed")),
        // The log is opened first: where there is none, nothing is created (read models included).
        Action::Rebuild => {
            with_reader(&settings, |store| async {
                let read = open_read_models(&settings).await?;
                rebuild(read, store).await
            })
            .await
        }
        Action::Settle { book, due: true, .. } => settle_due(&settings, book.as_deref()).await,
        Action::Settle { book: Some(book), from: Some(from), to: Some(to), due: false } => {
            settle(&settings, &book, from, to).await
        }
        Action::Settle { .. } => Err(CliError::Usage("kboss settle: --book, --from and --to, or --due")),
        Action::Admin { action: AdminAction::RotateToken } => rotate_admin_token(&settings).await,
        Action::Rules { action: RulesAction::Set { kind, file } } => {
            let input = read_json(&file)?;
            back_office(&settings, BackOfficeCommand::PostingRule { kind, input }).await
        }
        Action::Entries { action: EntriesAction::Book { book, file } } => {
            let book: OrgId = book.parse().map_err(|_| CliError::Usage("--book must be an org id"))?;
            let input = read_json(&file)?;
            back_office(&settings, BackOfficeCommand::ManualEntry { book, input }).await
        }
        Action::SaleMode { reseller, mode, commission_rate, effective_from } => {
            let reseller: OrgId = reseller.parse().map_err(|_| CliError::Usage("--reseller must be an org id"))?;
            let input = SaleModeInput { mode, commission_rate, effective_from };
            back_office(&settings, BackOfficeCommand::SaleMode { reseller, input }).await
        }
        Action::Migrate => migrate(&settings).await,
        Action::Events { action: EventsAction::Dump { from, to } } => {
            with_reader(&settings, |log| async move { dump_events(&log, from, to).await }).await
        }
        Action::Books => {
            let settings = &settings;
            with_reader(settings, |store| async move {
                let read = open_read_models(settings).await?;
                projections::catch_up(&read, &store, None, |_, _| {}).await?;
                for book in read.books().await? {
                    let kind = serde_json::to_value(book.kind).map_err(std::io::Error::other)?;
                    let parent = book.parent_id.map(|parent| parent.to_string()).unwrap_or_else(|| "-".to_owned());
                    println!("{}\t{}\t{}\t{parent}", book.id, kind.as_str().unwrap_or_default(), book.name);
                }
                Ok(())
            })
            .await
        }
        Action::Export { book, format, from, to, output } => {
            let settings = &settings;
            with_reader(settings, |store| async move {
                let read = open_read_models(settings).await?;
                projections::catch_up(&read, &store, None, |_, _| {}).await?;
                let format: ExportFormat = crate::routes::parse::choice("format", &format)
                    .map_err(|_| CliError::Usage("--format must be csv or beancount"))?;
                let book: OrgId = book.parse().map_err(|_| CliError::Usage("--book must be an org id"))?;
                let to = to.unwrap_or_else(|| chrono::Utc::now().date_naive());
                let text = export_book(&read, book, format, from, to, EXPORT_LINES_MAX).await?.text;
                match output {
                    Some(path) => std::fs::write(&path, text).map_err(|error| {
                        std::io::Error::new(error.kind(), format!("writing {}: {error}", path.display()))
                    })?,
                    None => print!("{text}"),
                }
                Ok(())
            })
            .await
        }
    }
}

/// Runs `work` with a reader of whichever log the settings name.
async fn with_reader<F, Fut>(settings: &Settings, work: F) -> CliResult
where
    F: FnOnce(AsyncLog<AnyReader>) -> Fut,
    Fut: std::future::Future<Output = CliResult>,
{
    let reader = match &settings.database_url {
        None => AsyncLog::new(AnyReader::from(SqliteReader::open(&settings.data_dir)?)),
        Some(url) => {
            let config: postgres::Config = url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
            // The blocking client must not be created on the runtime's threads.
            tokio::task::spawn_blocking(move || {
                PostgresReader::open(&config).map(|reader| AsyncLog::new(reader.into()))
            })
            .await??
        }
    };
    work(reader).await
}

/// What `kboss reconcile` was asked.
struct ReconcileArguments {
    book: String,
    account: String,
    format: String,
    statement: PathBuf,
    mapping: Option<String>,
    tolerance: (String, u32),
    record: bool,
}

/// `kboss reconcile`: the statement read and matched against the book's lines in the read
/// models (caught up with the log first); printed, and with `--record` recorded through the
/// writer (as the book's finance, like a settlement run; an operation of the book).
async fn reconcile(settings: &Settings, arguments: ReconcileArguments) -> CliResult {
    use ledger_core::reconcile::{self, StatementFormat, Tolerance};
    let failed = |detail: String| CliError::Reconcile(detail);
    let book: OrgId = arguments.book.parse().map_err(|_| CliError::Usage("--book must be an org id"))?;
    let format: StatementFormat = crate::routes::parse::choice("format", &arguments.format)
        .map_err(|_| CliError::Usage("--format must be csv, camt053 or alipay"))?;
    let account = ledger_core::chart::AccountCode::parse(&arguments.account).map_err(failed)?;
    let amount = ledger_core::money::Amount::parse(&arguments.tolerance.0)
        .map_err(|error| failed(format!("--tolerance-amount: {error}")))?;
    let tolerance = Tolerance { amount, days: arguments.tolerance.1 };
    let text = std::fs::read_to_string(&arguments.statement).map_err(|error| {
        std::io::Error::new(error.kind(), format!("reading {}: {error}", arguments.statement.display()))
    })?;
    let mapping = match &arguments.mapping {
        None => None,
        Some(given) => {
            let json =
                if given.trim_start().starts_with('{') { given.clone() } else { std::fs::read_to_string(given)? };
            let mapping: crate::reconcile::ColumnMapping =
                serde_json::from_str(&json).map_err(|error| failed(format!("--mapping: {error}")))?;
            Some(mapping)
        }
    };
    let (read, through) = with_read_models(settings).await?;
    let org = read.org(book).await?.filter(|org| org.kind.keeps_book());
    let org = org.ok_or_else(|| failed(format!("{book} keeps no book in this log (`kboss books` lists them)")))?;
    let rows = crate::reconcile::parse_statement(format, &text, mapping.as_ref(), org.currency)
        .map_err(|detail| failed(format!("the statement: {detail}")))?;
    let window =
        crate::reconcile::window(&rows, tolerance.days).ok_or_else(|| failed("the statement has no rows".into()))?;
    let ledger = crate::reconcile::ledger_items(&read, book, &account, window, through).await?.map_err(failed)?;
    reconcile::check_inputs(&rows, &ledger, tolerance).map_err(|error| failed(error.to_string()))?;
    let sha256 = crate::reconcile::statement_hash(&text);
    if !arguments.record {
        let groups = reconcile::reconcile(&rows, &ledger, tolerance);
        let heading = crate::reconcile::Heading {
            id: None,
            book,
            account: &account,
            format,
            statement_sha256: &sha256,
            tolerance,
            through_position: through,
            position: None,
        };
        print!("{}", crate::reconcile::render_text(&crate::reconcile::answer(heading, &rows, &ledger, &groups)));
        return Ok(());
    }
    let writer = start_writer(settings).await?;
    let operations = open_operation_log(settings).await?;
    let body = CommandBody::Settlement(SettlementCommand::RecordReconciliation {
        reconciliation_id: ledger_core::ids::ReconciliationId(uuid::Uuid::now_v7()),
        book,
        account: account.clone(),
        format,
        statement_sha256: sha256,
        tolerance,
        through_position: through,
        statement: rows,
        ledger,
    });
    let actor = Actor::new(book, PrincipalId(uuid::Uuid::from_u128(0x6b62_6f73_7365_7474_6c65)), [Role::Finance]);
    let command =
        Command { actor: actor.clone(), effective_date: chrono::Utc::now().date_naive(), at: chrono::Utc::now(), body };
    let (kind, at) = (command.body.name(), command.at);
    let result = writer.handle().submit(Request::new(command)).await;
    operations.record(Operation::answered(at, &actor, kind, &result.clone().map_err(ApiError::from)), 0);
    tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    if !operations.flush(crate::app::BACKGROUND_DRAIN_MAX).await {
        eprintln!("kboss reconcile: the operation log did not record the reconciliation");
    }
    let committed = result?;
    let recorded = committed.events.iter().find_map(|event| match &event.event.payload {
        EventPayload::ReconciliationRecorded(recorded) => Some(recorded.clone()),
        _ => None,
    });
    let recorded = recorded.ok_or_else(|| failed("the writer recorded no reconciliation".into()))?;
    let heading = crate::reconcile::Heading {
        id: Some(recorded.reconciliation_id.to_string()),
        book,
        account: &recorded.account,
        format,
        statement_sha256: &recorded.statement_sha256,
        tolerance,
        through_position: recorded.through_position,
        position: Some(committed.position),
    };
    let body = crate::reconcile::answer(heading, &recorded.statement, &recorded.ledger, &recorded.groups);
    print!("{}", crate::reconcile::render_text(&body));
    Ok(())
}

/// The read models, caught up with the log, and the position they hold.
async fn with_read_models(settings: &Settings) -> Result<(ReadModels, u64), CliError> {
    let reader = match &settings.database_url {
        None => AsyncLog::new(AnyReader::from(SqliteReader::open(&settings.data_dir)?)),
        Some(url) => {
            let config: postgres::Config = url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
            tokio::task::spawn_blocking(move || {
                PostgresReader::open(&config).map(|reader| AsyncLog::new(reader.into()))
            })
            .await??
        }
    };
    let read = open_read_models(settings).await?;
    projections::catch_up(&read, &reader, None, |_, _| {}).await?;
    let position = read.position().await?;
    Ok((read, position))
}

/// `kboss migrate`: the log from format v1 to v2, then the read models dropped (the next start
/// rebuilds them from the migrated log).
async fn migrate(settings: &Settings) -> CliResult {
    use event_log::migrate::{migrate_postgres, migrate_sqlite, Migrated};
    let migrated = match &settings.database_url {
        None => {
            let data_dir = settings.data_dir.clone();
            tokio::task::spawn_blocking(move || migrate_sqlite(&data_dir)).await??
        }
        Some(url) => {
            let config: postgres::Config = url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
            tokio::task::spawn_blocking(move || migrate_postgres(&config, "kboss migrate")).await??
        }
    };
    match migrated {
        Migrated::AlreadyV2 => println!("the log is already in record format v2; nothing to do"),
        Migrated::Converted { events, keys, v1_head, v2_head, kept_at } => {
            let read = open_read_models(settings).await?;
            read.reset(None).await?;
            println!(
                "migrated {events} events and {keys} idempotency keys to record format v2; \
                 v1 head {v1_head} is the new chain's genesis; v2 head {v2_head}; \
                 the v1 log is kept in {kept_at}; the read models are rebuilt at the next start"
            );
        }
    }
    Ok(())
}

/// `kboss events dump`: JSON lines, in position order, read in chunks.
async fn dump_events(log: &AsyncLog<AnyReader>, from: u64, to: Option<u64>) -> CliResult {
    use std::io::Write;
    let to = match to {
        Some(to) => to,
        None => log.last_position().await?,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after = from.saturating_sub(1);
    while after < to {
        let chunk = log.read_through(after, to, event_log::REPLAY_CHUNK_EVENTS).await?;
        let Some(last) = chunk.last().map(|event| event.position) else { break };
        for event in &chunk {
            serde_json::to_writer(&mut out, event).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
        }
        after = last;
    }
    out.flush()?;
    Ok(())
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, eta {eta})").expect("a valid template"),
    );
    bar
}

fn replay(store: &mut AnyReader) -> CliResult {
    let total = store.last_position()?;
    let bar = progress_bar(total);
    let started = Instant::now();
    let genesis = event_log::replay::genesis(store)?;
    let (state, _) = event_log::replay::replay_tail(store, ledger_core::State::default(), genesis, |position| {
        bar.set_position(position)
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "replayed {} events in {seconds:.3} s: {:.0} positions/s; {} orgs, {} books",
        state.last_position,
        state.last_position as f64 / seconds.max(1e-9),
        state.orgs.len(),
        state.books.len()
    );
    Ok(())
}

/// `kboss verify`: the log replayed from position 0 with every invariant, then every read model
/// against its recomputation; each problem printed with its position, an error when any.
async fn verify(settings: &Settings, log: AsyncLog<AnyReader>) -> CliResult {
    let bar = progress_bar(log.last_position().await?);
    let shown = bar.clone();
    let findings =
        log.call(move |reader| crate::verify::audit_log(reader, None, |position| shown.set_position(position))).await;
    bar.finish_and_clear();
    let mut problems: Vec<crate::verify::Problem> = findings.problems.into_iter().map(|(problem, _)| problem).collect();
    match &findings.head {
        Some(head) if problems.is_empty() => println!(
            "verified {} events; every book balances; every inter-company pair nets to zero; chain head {head}",
            findings.checked_through
        ),
        Some(head) => println!("verified the chain of {} events; chain head {head}", findings.checked_through),
        None => println!("verified through position {}", findings.checked_through),
    }
    if findings.head.is_some() {
        let read = open_read_models(settings).await?;
        let bar = progress_bar(0);
        let shown = bar.clone();
        let compared = crate::verify::compare_read_models(&read, &log, move |applied, last| {
            shown.set_length(last);
            shown.set_position(applied);
        })
        .await?;
        bar.finish_and_clear();
        if compared.is_empty() {
            println!("every read model equals its recomputation from the log");
        }
        problems.extend(compared);
    } else {
        println!("the read models were not compared: the log did not verify to its end");
    }
    for problem in &problems {
        let position = problem.position.map_or_else(|| "-".to_owned(), |position| position.to_string());
        println!("problem\t{position}\t{}\t{}", problem.kind, problem.detail);
    }
    match problems.first() {
        None => Ok(()),
        Some(first) => Err(CliError::Verify(format!("{} problems; the first: {}", problems.len(), first.detail))),
    }
}

/// `kboss audit check`: reads the three files and checks them (`crate::audit::check`).
fn audit_check(certificate: &std::path::Path, export: &std::path::Path, public_key: &std::path::Path) -> CliResult {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|error| std::io::Error::new(error.kind(), format!("reading {}: {error}", path.display())))
    };
    let report =
        crate::audit::check(&read(certificate)?, &read(export)?, &read(public_key)?).map_err(CliError::AuditCheck)?;
    for failure in &report.failures {
        println!("FAILED: {failure}");
    }
    if report.failures.is_empty() {
        println!(
            "certificate OK: signature verified; the export's {} lines of {} events through the period recompute the \
             certified trial balance (debit {}, credit {}, hash {})",
            report.lines, report.events, report.total_debit, report.total_credit, report.trial_balance_hash
        );
        if report.lines_after_certificate > 0 {
            println!(
                "{} lines of the period were booked after the certificate's last position (the period was reopened \
                 since): not part of what it certified",
                report.lines_after_certificate
            );
        }
        Ok(())
    } else {
        let first = report.failures.first().cloned().unwrap_or_default();
        Err(CliError::AuditCheck(format!("{} checks failed; the first: {first}", report.failures.len())))
    }
}

async fn rebuild(read: ReadModels, store: AsyncLog<AnyReader>) -> CliResult {
    read.reset(None).await?;
    let bar = progress_bar(0);
    let started = Instant::now();
    projections::catch_up(&read, &store, None, |applied, last| {
        bar.set_length(last);
        bar.set_position(applied);
    })
    .await?;
    bar.finish_and_clear();
    println!(
        "rebuilt every read model through position {} in {:.3} s",
        read.position().await?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn open_read_models(settings: &Settings) -> Result<ReadModels, CliError> {
    Ok(match &settings.database_url {
        None => ReadModels::open_sqlite(&settings.data_dir)?,
        Some(url) => {
            let config: deadpool_postgres::tokio_postgres::Config =
                url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
            let manager = deadpool_postgres::Manager::new(config, deadpool_postgres::tokio_postgres::NoTls);
            let pool = deadpool_postgres::Pool::builder(manager).max_size(READ_POOL_CONNECTIONS_MAX).build()?;
            ReadModels::open_postgres(pool).await?
        }
    })
}

/// A batch settlement run: one statement per supplier and child reseller of the book, through
/// the writer, each under key `settle:<counterparty>:<from>:<to>` so a rerun issues nothing twice.
/// It takes the writer's lock, so it runs while the server is stopped (or against its log). Each
/// statement is an operation of the book, as through the API; the run's id is their request id.
async fn settle(settings: &Settings, book: &str, from: NaiveDate, to: NaiveDate) -> CliResult {
    let book: OrgId = book.parse().map_err(|_| CliError::Usage("--book must be an org id"))?;
    let writer = start_writer(settings).await?;
    let operations = open_operation_log(settings).await?;
    let outcome = settle_with(&writer, &operations, book, from, to).await;
    tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    if !operations.flush(crate::app::BACKGROUND_DRAIN_MAX).await {
        eprintln!("kboss settle: the operation log did not record every statement of this run");
    }
    outcome
}

/// A JSON file as a request body the API takes (its unknown fields refused).
fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| std::io::Error::new(error.kind(), format!("reading {}: {error}", path.display())))?;
    serde_json::from_str(&text).map_err(|error| CliError::BackOffice(format!("{}: {error}", path.display())))
}

/// One back-office command through the writer (`back_office_cli`), its line printed.
async fn back_office(settings: &Settings, command: BackOfficeCommand) -> CliResult {
    let writer = start_writer(settings).await?;
    let operations = open_operation_log(settings).await?;
    let outcome = crate::back_office_cli::run(&writer, &operations, command).await;
    tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    if !operations.flush(crate::app::BACKGROUND_DRAIN_MAX).await {
        eprintln!("kboss: the operation log did not record this command");
    }
    let line = outcome.map_err(|error| CliError::BackOffice(error.to_string()))?;
    println!("{line}");
    Ok(())
}

/// The operation log of the settings' store, for a command that submits commands.
async fn open_operation_log(settings: &Settings) -> Result<OperationLog, CliError> {
    let store = match &settings.database_url {
        None => OperationStore::open_sqlite(&settings.data_dir)?,
        Some(url) => {
            let config: deadpool_postgres::tokio_postgres::Config =
                url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
            let manager = deadpool_postgres::Manager::new(config, deadpool_postgres::tokio_postgres::NoTls);
            OperationStore::open_postgres(deadpool_postgres::Pool::builder(manager).max_size(1).build()?).await?
        }
    };
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
    let limits = &settings.limits;
    Ok(OperationLog::start(store, None, limits.operation_log_queue_max, settings.operation_log_retention_days, metrics))
}

/// The statements of one run, one counterparty at a time in the order of their names (then ids,
/// so every run prints the same order), and a totals line. Fails when the book keeps no book here,
/// when any statement is refused, or when there was nothing to settle with anyone.
async fn settle_with(
    writer: &Writer,
    operations: &OperationLog,
    book: OrgId,
    from: NaiveDate,
    to: NaiveDate,
) -> CliResult {
    let handle = writer.handle();
    let state = handle.state().await.ok_or(CommandError::Stopped)?;
    if !state.books.contains_key(&book) {
        return Err(CliError::Settle(format!("{book} keeps no book in this log (`kboss books` lists them)")));
    }
    let mut counterparties: Vec<(String, OrgId)> = state
        .orgs
        .values()
        .filter(|org| org.parent_id == Some(book) && matches!(org.kind, OrgKind::Supplier | OrgKind::Reseller))
        .map(|org| (org.name.clone(), org.id))
        .collect();
    counterparties.sort();
    // The run acts as the book's finance; its principal is stable so the log shows every run alike.
    let actor = Actor::new(book, PrincipalId(uuid::Uuid::from_u128(0x6b62_6f73_7365_7474_6c65)), [Role::Finance]);
    let today = chrono::Utc::now().date_naive();
    let run = uuid::Uuid::now_v7().to_string();
    let (mut statements, mut lines, mut refused) = (0_u64, 0_u64, Vec::new());
    let (mut receivable, mut payable) =
        (ledger_core::money::SignedAmount::ZERO, ledger_core::money::SignedAmount::ZERO);
    for (name, counterparty_id) in counterparties {
        let who = format!("{name} ({counterparty_id})");
        let key = format!("settle:{counterparty_id}:{from}:{to}");
        let settlement_id = SettlementId(uuid::Uuid::now_v7());
        let body = CommandBody::Settlement(SettlementCommand::IssueSettlementStatement {
            settlement_id,
            book,
            counterparty_id,
            from,
            to,
        });
        let kind = body.name();
        let command = Command { actor: actor.clone(), effective_date: today, at: chrono::Utc::now(), body };
        let at = command.at;
        let statement = |committed: &commands::Committed| {
            committed.events.iter().find_map(|event| match &event.event.payload {
                EventPayload::SettlementStatementIssued(statement) => Some(statement.clone()),
                _ => None,
            })
        };
        let result = handle.submit(Request::with_key(command, &key)).await;
        let mut operation = Operation::answered(at, &actor, kind, &result.clone().map_err(ApiError::from));
        operation.request_id = Some(run.clone());
        operations.record(operation, 0);
        match result {
            Ok(committed) => match statement(&committed) {
                Some(statement) => {
                    println!(
                        "{who}: statement {} at position {}: {} lines, receivable {}, payable {}",
                        statement.settlement_id,
                        committed.position,
                        statement.line_count,
                        statement.receivable,
                        statement.payable
                    );
                    statements += 1;
                    lines += statement.line_count;
                    receivable = receivable.plus(statement.receivable);
                    payable = payable.plus(statement.payable);
                }
                None => println!("{who}: already issued for this period (position {})", committed.position),
            },
            Err(CommandError::Rejected(error)) if error.code() == "nothing_to_settle" => {
                println!("{who}: nothing to settle")
            }
            Err(CommandError::Rejected(error)) => {
                println!("{who}: refused, {} ({error})", error.code());
                refused.push(who);
            }
            Err(CommandError::IdempotencyConflict) => println!("{who}: already settled by an earlier run"),
            Err(error) => return Err(error.into()),
        }
    }
    println!("total: {statements} statements, {lines} lines, receivable {receivable}, payable {payable}");
    if !refused.is_empty() {
        return Err(CliError::Settle(format!("refused for {}", refused.join(", "))));
    }
    if statements == 0
        && !state.settlements.values().any(|settlement| {
            settlement.statement.book == book && settlement.statement.from == from && settlement.statement.to == to
        })
    {
        return Err(CliError::Settle(format!("nothing to settle in {book}'s book from {from} to {to}")));
    }
    Ok(())
}

/// `kboss settle --due`: the statements the settlement cycles have made due, in every book or
/// one, as the clock decides them (`ClockCommand::SettleDue`, its ids derived from each statement's
/// book, counterparty and period, so a rerun issues nothing twice). One operation of the platform.
async fn settle_due(settings: &Settings, book: Option<&str>) -> CliResult {
    let book: Option<OrgId> =
        book.map(|book| book.parse().map_err(|_| CliError::Usage("--book must be an org id"))).transpose()?;
    let writer = start_writer(settings).await?;
    let operations = open_operation_log(settings).await?;
    let outcome = settle_due_with(&writer, &operations, settings, book).await;
    tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    if !operations.flush(crate::app::BACKGROUND_DRAIN_MAX).await {
        eprintln!("kboss settle: the operation log did not record this run");
    }
    outcome
}

async fn settle_due_with(
    writer: &Writer,
    operations: &OperationLog,
    settings: &Settings,
    book: Option<OrgId>,
) -> CliResult {
    let handle = writer.handle();
    let platform = crate::ticker::platform_of(&handle).await?;
    let actor = ledger_core::decide::clock_actor(platform);
    let body = CommandBody::Clock(ledger_core::ClockCommand::SettleDue { book });
    let kind = body.name();
    let command =
        Command { actor: actor.clone(), effective_date: settings.clock.today(), at: chrono::Utc::now(), body };
    let at = command.at;
    let result = handle.submit(Request::new(command)).await;
    let mut operation = Operation::answered(at, &actor, kind, &result.clone().map_err(ApiError::from));
    operation.request_id = Some(uuid::Uuid::now_v7().to_string());
    operations.record(operation, 0);
    let committed = result?;
    let (mut receivable, mut payable) =
        (ledger_core::money::SignedAmount::ZERO, ledger_core::money::SignedAmount::ZERO);
    let mut statements = 0_u64;
    for event in &committed.events {
        if let EventPayload::SettlementStatementIssued(statement) = &event.event.payload {
            println!(
                "{} with {}: statement {} for {} to {} at position {}: {} lines, receivable {}, payable {}, hash {}",
                statement.book,
                statement.counterparty_id,
                statement.settlement_id,
                statement.from,
                statement.to,
                event.position,
                statement.line_count,
                statement.receivable,
                statement.payable,
                statement.statement_hash
            );
            statements += 1;
            receivable = receivable.plus(statement.receivable);
            payable = payable.plus(statement.payable);
        }
    }
    println!("total: {statements} statements due, receivable {receivable}, payable {payable}");
    Ok(())
}

/// `kboss admin rotate-token`: a new admin token for the deployment's admin user, which revokes
/// the one it replaces (one `SetAdminToken` command, issued by the deployment itself).
async fn rotate_admin_token(settings: &Settings) -> CliResult {
    let writer = start_writer(settings).await?;
    let outcome = rotate_with(settings, &writer).await;
    tokio::task::spawn_blocking(move || writer.shutdown()).await?;
    outcome
}

async fn rotate_with(settings: &Settings, writer: &Writer) -> CliResult {
    let handle = writer.handle();
    let platform = handle.inspect(|state| state.platform_id).await.ok_or(CommandError::Stopped)?;
    let platform = platform.ok_or(CliError::Admin("the log is empty: `kboss serve` bootstraps it first"))?;
    let token = crate::auth::generate_token();
    let principal_id = PrincipalId(uuid::Uuid::now_v7());
    let actor = Actor::new(platform, principal_id, [Role::SuperAdmin, Role::Admin]);
    let body = CommandBody::Access(ledger_core::AccessCommand::SetAdminToken {
        principal_id,
        user_id: ledger_core::ids::UserId(uuid::Uuid::now_v7()),
        token_hash: crate::auth::token_hash(&token),
    });
    let command = Command { actor, effective_date: chrono::Utc::now().date_naive(), at: chrono::Utc::now(), body };
    let committed = handle.submit(Request::new(command)).await?;
    crate::app::write_admin_token(&settings.data_dir, &token)?;
    // Printed once, on purpose: the operator has no other way to learn it (besides the file).
    println!(
        "kboss: the new admin token is {token} (also in {})",
        settings.data_dir.join(crate::app::ADMIN_TOKEN_FILE).display()
    );
    println!(
        "kboss: the old one is revoked (position {}); start kboss with KBOSS_ADMIN_TOKEN set to the new one, or unset",
        committed.position
    );
    Ok(())
}

async fn start_writer(settings: &Settings) -> Result<Writer, CliError> {
    let config = settings.writer_config();
    let writer = match &settings.database_url {
        None => {
            let data_dir = settings.data_dir.clone();
            tokio::task::spawn_blocking(move || -> Result<Writer, CliError> {
                Ok(Writer::start(SqliteStore::open_writer(&data_dir)?, config)?)
            })
            .await??
        }
        Some(url) => {
            let store_config: postgres::Config = url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
            tokio::task::spawn_blocking(move || -> Result<Writer, CliError> {
                Ok(Writer::start(PostgresStore::open_writer(&store_config, "kboss settle")?, config)?)
            })
            .await??
        }
    };
    Ok(writer)
}
