//! Loading the decision state (latest snapshot, then the events after it) and verifying a whole
//! store from position 0. Both check every event on the way (`ledger_core::log::verify_next`:
//! positions, hash chain, balanced entries, wallets) and stop at the first bad position.

use ledger_core::log::{evolve_untrusted, verify_next, ChainHead, ReplayError};
use ledger_core::State;

use crate::store::{LogRead, StoreError, REPLAY_CHUNK_EVENTS};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("replay stopped: {0}")]
    Replay(#[from] ReplayError),
    #[error("book {book} does not balance after replay: debits {debit}, credits {credit}")]
    Unbalanced { book: String, debit: String, credit: String },
}

impl LoadError {
    /// The position at fault, where one is (a record that changed, a broken link, an event that
    /// breaks the ledger's rules); none for a store that cannot be read or a book off at the end.
    pub fn position(&self) -> Option<u64> {
        match self {
            LoadError::Store(StoreError::Corrupt { position, .. }) => Some(*position),
            LoadError::Replay(error) => Some(error.position()),
            _ => None,
        }
    }

    /// A stable word for the kind of fault: `corrupt_record`, `chain`, `unbalanced_entry`,
    /// `unknown_book`, `wallet_below_zero`, `inconsistent`, `trial_balance`, `store`.
    pub fn kind(&self) -> &'static str {
        use ledger_core::log::ReplayError as R;
        match self {
            LoadError::Store(StoreError::Corrupt { .. }) => "corrupt_record",
            LoadError::Store(_) => "store",
            LoadError::Replay(R::Chain(_)) => "chain",
            LoadError::Replay(R::Unbalanced { .. }) => "unbalanced_entry",
            LoadError::Replay(R::UnknownBook { .. }) => "unknown_book",
            LoadError::Replay(R::WalletBelowZero { .. }) => "wallet_below_zero",
            LoadError::Replay(R::Inconsistent { .. }) => "inconsistent",
            LoadError::Unbalanced { .. } => "trial_balance",
        }
    }
}

/// The state as CBOR: a self-describing format (the state has enums tagged by field, which
/// non-self-describing formats cannot read back) whose maps take any key type.
pub fn encode_snapshot(state: &State) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 << 16);
    ciborium::into_writer(state, &mut bytes).expect("the state serialises");
    bytes
}

pub fn decode_snapshot(bytes: &[u8]) -> Result<State, String> {
    ciborium::from_reader(bytes).map_err(|error| error.to_string())
}

/// The head of the chain before position 1: the store's genesis hash (a migrated log continues
/// the chain of the v1 log it was converted from).
pub fn genesis(store: &mut impl LogRead) -> Result<ChainHead, StoreError> {
    Ok(ChainHead { position: 0, hash: store.genesis()? })
}

/// Folds every event after the state's position onto it, verifying each against the chain.
pub fn replay_tail(
    store: &mut impl LogRead,
    mut state: State,
    mut chain: ChainHead,
    mut progress: impl FnMut(u64),
) -> Result<(State, ChainHead), LoadError> {
    loop {
        let chunk = store.read_after(state.last_position, REPLAY_CHUNK_EVENTS)?;
        if chunk.is_empty() {
            return Ok((state, chain));
        }
        for event in &chunk {
            verify_next(&state, &chain, event)?;
            evolve_untrusted(&mut state, event)?;
            chain = ChainHead::after(event);
        }
        progress(state.last_position);
    }
}

/// The writer's start-up: the newest snapshot that decodes, then the tail of the log. A snapshot
/// that cannot be read, or whose position the log does not hold, is skipped (it is only an
/// optimisation): the log is the truth.
pub fn load_state_and_chain(store: &mut impl LogRead) -> Result<(State, ChainHead), LoadError> {
    let mut start = (State::default(), genesis(store)?);
    if let Some((position, bytes)) = store.latest_snapshot()? {
        match (decode_snapshot(&bytes), store.read_one(position)?) {
            (Ok(state), Some(event)) if state.last_position == position => start = (state, ChainHead::after(&event)),
            _ => tracing::warn!(position, "snapshot unreadable or inconsistent; replaying from the start"),
        }
    }
    replay_tail(store, start.0, start.1, |_| {})
}

/// [`load_state_and_chain`], for callers that need only the state.
pub fn load_state(store: &mut impl LogRead) -> Result<State, LoadError> {
    load_state_and_chain(store).map(|(state, _)| state)
}

/// What `kboss verify` reports for a store that verified.
#[derive(Debug)]
pub struct VerifyReport {
    pub events: u64,
    pub last_hash: String,
    pub state: State,
}

/// Replays the whole store from position 0 (ignoring snapshots), verifying every event and, at
/// the end, that every book's trial balance sums to zero.
pub fn verify_store(store: &mut impl LogRead, progress: impl FnMut(u64)) -> Result<VerifyReport, LoadError> {
    let report = verify_store_observing(store, None, progress, |_, _| {})?;
    for (book_id, book) in &report.state.books {
        let rows = book.trial_balance(chrono::NaiveDate::MAX);
        // Signed (unbounded) sums: a forged log's columns are not trusted to be in range.
        let zero = ledger_core::money::SignedAmount::ZERO;
        let debit = rows.iter().fold(zero, |sum, row| sum.add_total(row.debit));
        let credit = rows.iter().fold(zero, |sum, row| sum.add_total(row.credit));
        if debit != credit {
            return Err(LoadError::Unbalanced {
                book: book_id.to_string(),
                debit: debit.to_string(),
                credit: credit.to_string(),
            });
        }
    }
    Ok(report)
}

/// Replays the store from its genesis through `until` (or its end), checking every event as
/// [`verify_store`] does, and shows `observe` each event with the state it left (the audit of
/// `kboss verify`: inter-company pairs, wallets, each with its position). Stops at the first
/// event that does not verify.
pub fn verify_store_observing(
    store: &mut impl LogRead,
    until: Option<u64>,
    mut progress: impl FnMut(u64),
    mut observe: impl FnMut(&State, &ledger_core::event::RecordedEvent),
) -> Result<VerifyReport, LoadError> {
    let mut chain = genesis(store)?;
    let mut state = State::default();
    let until = until.unwrap_or(u64::MAX);
    while state.last_position < until {
        let wanted = (until - state.last_position).min(REPLAY_CHUNK_EVENTS as u64) as usize;
        let chunk = store.read_after(state.last_position, wanted)?;
        if chunk.is_empty() {
            break;
        }
        for event in &chunk {
            verify_next(&state, &chain, event)?;
            evolve_untrusted(&mut state, event)?;
            chain = ChainHead::after(event);
            observe(&state, event);
        }
        progress(state.last_position);
    }
    Ok(VerifyReport { events: state.last_position, last_hash: chain.hash, state })
}
