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
    let genesis = genesis(store)?;
    let (state, chain) = replay_tail(store, State::default(), genesis, progress)?;
    for (book_id, book) in &state.books {
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
    Ok(VerifyReport { events: state.last_position, last_hash: chain.hash, state })
}
