//! The log as the core sees it: sealing decided events into it, and replaying it with every
//! check on the way (positions without gaps, the hash chain, balanced entries).

use crate::command::Command;
use crate::error::DomainError;
use crate::event::{ChainError, EncodedEvent, EnvelopeMeta, Event, RecordedEvent, GENESIS_HASH};
use crate::state::State;

/// Seals decided events at the next positions, chained to the state's last hash, and folds each
/// into the state. `meta` supplies what the writer owns (event id, clock, idempotency key) for a
/// position.
pub fn record(state: &mut State, events: Vec<Event>, meta: impl FnMut(u64) -> EnvelopeMeta) -> Vec<RecordedEvent> {
    record_encoded(state, events, meta).into_iter().map(|encoded| encoded.event).collect()
}

/// [`record`], keeping each event's canonical encoding for the store.
pub fn record_encoded(
    state: &mut State,
    events: Vec<Event>,
    mut meta: impl FnMut(u64) -> EnvelopeMeta,
) -> Vec<EncodedEvent> {
    let mut recorded = Vec::with_capacity(events.len());
    for event in events {
        let envelope = meta(state.last_position + 1);
        assert_eq!(envelope.position, state.last_position + 1, "the writer assigns the next position");
        let sealed = RecordedEvent::seal_encoded(event, envelope, &state.last_hash);
        state.evolve(&sealed.event);
        recorded.push(sealed);
    }
    recorded
}

/// Decides a command and records its events in one step.
pub fn execute(
    state: &mut State,
    command: &Command,
    meta: impl FnMut(u64) -> EnvelopeMeta,
) -> Result<Vec<RecordedEvent>, DomainError> {
    let events = crate::decide::decide(state, command)?;
    Ok(record(state, events, meta))
}

/// Why a replay stopped, and where: the first bad position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("event {position}: entry {entry_idx} does not balance")]
    Unbalanced { position: u64, entry_idx: usize },
    #[error("event {position}: entry {entry_idx} is booked in {book}, which is not an open book")]
    UnknownBook { position: u64, entry_idx: usize, book: crate::ids::OrgId },
    #[error("event {position}: the wallet of customer {customer} would go below zero")]
    WalletBelowZero { position: u64, customer: crate::ids::OrgId },
}

impl ReplayError {
    pub fn position(&self) -> u64 {
        match self {
            ReplayError::Chain(ChainError::BrokenLink { position })
            | ReplayError::Chain(ChainError::HashMismatch { position })
            | ReplayError::Chain(ChainError::Gap { position, .. })
            | ReplayError::Unbalanced { position, .. }
            | ReplayError::UnknownBook { position, .. }
            | ReplayError::WalletBelowZero { position, .. } => *position,
        }
    }
}

/// Checks one event against the state it follows, before it is folded in.
pub fn verify_next(state: &State, event: &RecordedEvent) -> Result<(), ReplayError> {
    let expected = state.last_position + 1;
    if event.position != expected {
        return Err(ChainError::Gap { position: event.position, expected }.into());
    }
    event.verify_link(&state.last_hash)?;
    for (entry_idx, entry) in event.event.entries.iter().enumerate() {
        let well_formed = entry.lines.len() >= 2 && entry.lines.iter().all(|line| !line.amount.is_zero());
        if !well_formed || !entry.imbalance().is_zero() {
            return Err(ReplayError::Unbalanced { position: event.position, entry_idx });
        }
        let book_opened_here = matches!(&event.event.payload, crate::event::EventPayload::OrgOpened(opened) if opened.org.id == entry.book);
        if !state.books.contains_key(&entry.book) && !book_opened_here {
            return Err(ReplayError::UnknownBook { position: event.position, entry_idx, book: entry.book });
        }
    }
    check_wallets(state, event)
}

/// A log whose hashes were recomputed after tampering can still break the ledger's rules; the
/// one `evolve` would trip on (a wallet below zero) is reported here instead.
fn check_wallets(state: &State, event: &RecordedEvent) -> Result<(), ReplayError> {
    let mut balances: Vec<(crate::ids::OrgId, crate::money::SignedAmount)> = Vec::new();
    for line in event.event.entries.iter().flat_map(|entry| &entry.lines) {
        let Some(customer) = line.party else { continue };
        let is_wallet = line.account.as_str() == crate::chart::codes::CUSTOMER_PREPAYMENTS
            && state.org(customer).is_some_and(|org| org.kind == crate::org::OrgKind::Customer);
        if !is_wallet {
            continue;
        }
        let index = match balances.iter().position(|(id, _)| *id == customer) {
            Some(index) => index,
            None => {
                balances.push((customer, state.wallet(customer).balance.into()));
                balances.len() - 1
            }
        };
        balances[index].1 = balances[index].1.plus(line.signed().negated());
    }
    match balances.into_iter().find(|(_, balance)| balance.is_negative()) {
        Some((customer, _)) => Err(ReplayError::WalletBelowZero { position: event.position, customer }),
        None => Ok(()),
    }
}

/// Folds events onto a state (a snapshot, or the empty state), verifying each first.
pub fn replay_onto<'a>(
    mut state: State,
    events: impl IntoIterator<Item = &'a RecordedEvent>,
) -> Result<State, ReplayError> {
    for event in events {
        verify_next(&state, event)?;
        state.evolve(event);
    }
    Ok(state)
}

/// Rebuilds the state from the start of the log.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Result<State, ReplayError> {
    let state = State::default();
    debug_assert_eq!(state.last_hash, GENESIS_HASH);
    replay_onto(state, events)
}
