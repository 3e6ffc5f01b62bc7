//! Verify everything: `kboss verify` for the whole deployment, `GET /v1/books/{org}/verify` for
//! one book. Both replay the log from position 0 through `event_log::verify_store_observing`
//! (positions, the hash chain, balanced entries, wallets never below zero, statements' figures),
//! streaming every event through `ledger_core::invariants::Audit` (every inter-company pair id
//! joining two lines that net to zero, each pair of books' receivables and payables with each
//! other netting to zero across the tree, every trial balance zero, every wallet its 2203), then
//! compare the read models with a recomputation from the log: `kboss verify` every table, row by
//! row, against a scratch SQLite read store rebuilt from position 0 (each projection at its own
//! checkpoint); the book's endpoint its trial balance and its customers' wallets against the
//! state replayed to the read models' position. Each discrepancy is a [`Problem`], with the
//! position that caused it where one did.
//!
//! A leaf: imports `config` and `error`.

use std::collections::{BTreeMap, BTreeSet};

use event_log::{AnyReader, AsyncLog, LogRead, PostgresReader, SqliteReader, StoreError};
use ledger_core::ids::OrgId;
use ledger_core::invariants::{Audit, Violation};
use ledger_core::money::Amount;
use ledger_core::org::OrgKind;
use ledger_core::state::TrialBalanceRow;
use ledger_core::State;
use projections::{ReadError, ReadModels};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::{ConfigError, Settings};

/// How often a comparison re-reads read models that moved while it read them (a serving
/// instance applies the log meanwhile) before it gives up.
pub const STABLE_READ_ATTEMPTS: usize = 5;
/// The day a whole book's trial balance is read as of (every line is dated before it).
pub const END_OF_TIME: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(date) => date,
    None => panic!("a valid date"),
};

/// One discrepancy: where (the position that caused it, when one did), what kind, and a
/// sentence saying it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = VerifyProblem)]
pub struct Problem {
    /// The log position that caused it; null when no single event did (a sum the whole log
    /// leaves off, a read model's row).
    pub position: Option<u64>,
    /// `corrupt_record`, `chain`, `unbalanced_entry`, `unknown_book`, `wallet_below_zero`,
    /// `inconsistent`, `customer_outside_seller_book`, `trial_balance`, `wallet`, `pair`,
    /// `intercompany`, `read_model`, `store`.
    pub kind: String,
    pub detail: String,
}

/// What the replay of the log found.
pub struct LogFindings {
    /// The last position checked (the one before a position that stopped the replay).
    pub checked_through: u64,
    /// Each problem with the books it concerns (none: every book, a fault of the log itself).
    pub problems: Vec<(Problem, Vec<OrgId>)>,
    /// The chain's head at `checked_through`, when the replay reached the end.
    pub head: Option<String>,
    /// The book's figures at the position asked for, when the replay passed it.
    pub figures: Option<BookFigures>,
}

/// A book's figures as the log says they are at one position: what its read models must show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookFigures {
    pub position: u64,
    pub trial_balance: Vec<TrialBalanceRow>,
    /// Each customer of the book: cash (2203) and vouchers (2203.01).
    pub wallets: BTreeMap<OrgId, (Amount, Amount)>,
}

impl BookFigures {
    fn of(state: &State, book: OrgId) -> BookFigures {
        let trial_balance = state.books.get(&book).map(|book| book.trial_balance(END_OF_TIME)).unwrap_or_default();
        let wallets = state
            .orgs
            .values()
            .filter(|org| org.parent_id == Some(book) && org.kind == OrgKind::Customer)
            .map(|org| {
                let wallet = state.wallets.get(&org.id).copied().unwrap_or_default();
                (org.id, (wallet.balance, wallet.voucher))
            })
            .collect();
        BookFigures { position: state.last_position, trial_balance, wallets }
    }
}

fn violation(violation: Violation) -> (Problem, Vec<OrgId>) {
    let Violation { position, kind, books, detail } = violation;
    (Problem { position, kind: kind.to_owned(), detail }, books)
}

/// Replays the log from position 0 to its end, checking everything on the way; with
/// `figures_of = Some((book, position))`, keeps the book's figures at that position.
pub fn audit_log(store: &mut impl LogRead, figures_of: Option<(OrgId, u64)>, progress: impl FnMut(u64)) -> LogFindings {
    let mut audit = Audit::default();
    let mut figures = None;
    if let Some((book, 0)) = figures_of {
        figures = Some(BookFigures::of(&State::default(), book));
    }
    let observed = event_log::verify_store_observing(store, None, progress, |state, event| {
        audit.observe(state, event);
        if let Some((book, at)) = figures_of.filter(|(_, at)| *at == event.position) {
            debug_assert_eq!(at, state.last_position);
            figures = Some(BookFigures::of(state, book));
        }
    });
    match observed {
        Ok(report) => LogFindings {
            checked_through: report.events,
            problems: audit.finish(&report.state).into_iter().map(violation).collect(),
            head: Some(report.last_hash),
            figures,
        },
        Err(error) => {
            let checked_through = match error.position() {
                Some(position) => position.saturating_sub(1),
                None => audit.last_position(),
            };
            let stopped = Problem {
                position: error.position(),
                kind: error.kind().to_owned(),
                detail: format!("{error}; nothing after it was checked"),
            };
            // What the events before it broke, found on the way (the sums of the whole log are
            // not judged: the log did not end there).
            let mut problems: Vec<(Problem, Vec<OrgId>)> = audit.interrupted().into_iter().map(violation).collect();
            problems.insert(0, (stopped, Vec::new()));
            LogFindings { checked_through, problems, head: None, figures }
        }
    }
}

/// A reader of the settings' log, of its own (a verification is long: it must not hold the
/// gateway's connection). Blocking: call it off the runtime's threads.
pub fn open_reader(settings: &Settings) -> Result<AnyReader, VerifyError> {
    Ok(match &settings.database_url {
        None => AnyReader::from(SqliteReader::open(&settings.data_dir)?),
        Some(url) => {
            let config: postgres::Config = url.expose().parse().map_err(|_| ConfigError::DatabaseUrl)?;
            AnyReader::from(PostgresReader::open(&config)?)
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the scratch read store: {0}")]
    Scratch(#[from] std::io::Error),
    #[error("a blocking step failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Every read-model table and its checkpoint, read while no checkpoint moved (a serving
/// instance applies the log meanwhile: read again, up to [`STABLE_READ_ATTEMPTS`] times).
async fn stable_dump(
    read: &ReadModels,
) -> Result<Option<(BTreeMap<&'static str, u64>, BTreeMap<String, Vec<projections::sql::Row>>)>, ReadError> {
    for _ in 0..STABLE_READ_ATTEMPTS {
        let before = read.checkpoints().await?;
        let dump = read.dump().await?;
        if read.checkpoints().await? == before {
            return Ok(Some((before.into_iter().collect(), dump)));
        }
    }
    Ok(None)
}

/// `kboss verify`'s read models: every table of every projection equals, row for row, a
/// recomputation from the log into a scratch SQLite read store, at the projection's own
/// checkpoint. Reports each table that differs with its first differing row.
pub async fn compare_read_models(
    live: &ReadModels,
    log: &AsyncLog<AnyReader>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Vec<Problem>, VerifyError> {
    let Some((checkpoints, live_dump)) = stable_dump(live).await? else {
        return Ok(vec![Problem {
            position: None,
            kind: "read_model".into(),
            detail: format!(
                "the read models kept moving while they were read ({STABLE_READ_ATTEMPTS} tries): run kboss verify \
                 again, or with the server stopped"
            ),
        }]);
    };
    let scratch_dir = tempfile::Builder::new().prefix("kboss-verify-").tempdir()?;
    let scratch = ReadModels::open_sqlite(scratch_dir.path())?;
    let mut problems = Vec::new();
    let stops: BTreeSet<u64> = checkpoints.values().copied().collect();
    for stop in stops {
        projections::catch_up(&scratch, log, Some(stop), &mut progress).await?;
        let recomputed = scratch.dump().await?;
        let at_stop =
            projections::projection::ALL.iter().filter(|projection| checkpoints.get(projection.name) == Some(&stop));
        for projection in at_stop {
            for table in projection.tables {
                let empty = Vec::new();
                let ours = live_dump.get(*table).unwrap_or(&empty);
                let theirs = recomputed.get(*table).unwrap_or(&empty);
                if let Some(detail) = first_difference(ours, theirs) {
                    problems.push(Problem {
                        position: None,
                        kind: "read_model".into(),
                        detail: format!("{table} (projection {}, at position {stop}): {detail}", projection.name),
                    });
                }
            }
        }
    }
    drop(scratch);
    Ok(problems)
}

/// The first row where two sorted dumps of one table differ, said in a sentence.
fn first_difference(live: &[projections::sql::Row], recomputed: &[projections::sql::Row]) -> Option<String> {
    let show = |row: &projections::sql::Row| {
        let values: Vec<String> = row.0.iter().map(ToString::to_string).collect();
        format!("({})", values.join(", "))
    };
    for (index, (ours, theirs)) in live.iter().zip(recomputed).enumerate() {
        if ours != theirs {
            return Some(format!(
                "row {} of {} differs: the read model has {}, the log gives {}",
                index + 1,
                live.len(),
                show(ours),
                show(theirs)
            ));
        }
    }
    match live.len().cmp(&recomputed.len()) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(format!(
            "{} rows, the log gives {}: first extra row {}",
            live.len(),
            recomputed.len(),
            show(&live[recomputed.len()])
        )),
        std::cmp::Ordering::Less => Some(format!(
            "{} rows, the log gives {}: first missing row {}",
            live.len(),
            recomputed.len(),
            show(&recomputed[live.len()])
        )),
    }
}

/// What a book's read models show, read while no checkpoint moved: their position, the trial
/// balance, each customer's wallet. `None`: they kept moving, or are not all at one position.
pub struct BookReadModels {
    pub position: u64,
    trial_balance: Vec<(String, String, String)>,
    wallets: BTreeMap<OrgId, (Amount, Amount)>,
}

pub async fn read_book(read: &ReadModels, book: OrgId) -> Result<Option<BookReadModels>, ReadError> {
    for _ in 0..STABLE_READ_ATTEMPTS {
        let before = read.checkpoints().await?;
        let Some(position) = before.first().map(|(_, position)| *position) else { return Ok(None) };
        if before.iter().any(|(_, checkpoint)| *checkpoint != position) {
            // Projections at different positions (a projector behind): read again shortly.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        let trial_balance = match read.trial_balance(book, END_OF_TIME).await? {
            Some(view) => view
                .accounts
                .into_iter()
                .filter(|account| !(account.debit.is_zero() && account.credit.is_zero()))
                .map(|account| (account.code.to_string(), account.debit.to_string(), account.credit.to_string()))
                .collect(),
            None => Vec::new(),
        };
        let mut wallets = BTreeMap::new();
        let mut customers = Vec::new();
        let mut cursor = None;
        loop {
            let query = projections::OrgQuery {
                parent_id: Some(book),
                kind: Some(OrgKind::Customer),
                cursor: cursor.take(),
                limit: projections::PAGE_MAX,
                ..projections::OrgQuery::default()
            };
            let page = read.orgs(&query).await?;
            customers.extend(page.items.into_iter().map(|org| org.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        for customer in customers {
            if let Some(wallet) = read.wallet(customer).await? {
                wallets.insert(customer, (wallet.cash, wallet.voucher));
            }
        }
        if read.checkpoints().await? == before {
            return Ok(Some(BookReadModels { position, trial_balance, wallets }));
        }
    }
    Ok(None)
}

/// The book's read models against its figures replayed from the log at the same position.
pub fn compare_book(read: &BookReadModels, log: &BookFigures) -> Vec<Problem> {
    let mut problems = Vec::new();
    let at = read.position;
    let recomputed: Vec<(String, String, String)> = log
        .trial_balance
        .iter()
        .map(|row| (row.code.to_string(), row.debit.to_string(), row.credit.to_string()))
        .collect();
    let ours: BTreeMap<&str, (&str, &str)> = read
        .trial_balance
        .iter()
        .map(|(code, debit, credit)| (code.as_str(), (debit.as_str(), credit.as_str())))
        .collect();
    let theirs: BTreeMap<&str, (&str, &str)> =
        recomputed.iter().map(|(code, debit, credit)| (code.as_str(), (debit.as_str(), credit.as_str()))).collect();
    let codes: BTreeSet<&str> = ours.keys().chain(theirs.keys()).copied().collect();
    for code in codes {
        let (mine, logs) = (ours.get(code), theirs.get(code));
        if mine != logs {
            let show = |row: Option<&(&str, &str)>| match row {
                Some((debit, credit)) => format!("debit {debit}, credit {credit}"),
                None => "no lines".to_owned(),
            };
            problems.push(Problem {
                position: None,
                kind: "read_model".into(),
                detail: format!(
                    "trial balance, account {code} at position {at}: the read model has {}, the log gives {}",
                    show(mine),
                    show(logs)
                ),
            });
        }
    }
    let customers: BTreeSet<&OrgId> = read.wallets.keys().chain(log.wallets.keys()).collect();
    for customer in customers {
        let zero = (Amount::ZERO, Amount::ZERO);
        let mine = read.wallets.get(customer).copied().unwrap_or(zero);
        let logs = log.wallets.get(customer).copied().unwrap_or(zero);
        if mine != logs {
            problems.push(Problem {
                position: None,
                kind: "read_model".into(),
                detail: format!(
                    "wallet of customer {customer} at position {at}: the read model has cash {}, vouchers {}; the log \
                     gives cash {}, vouchers {}",
                    mine.0, mine.1, logs.0, logs.1
                ),
            });
        }
    }
    problems
}
