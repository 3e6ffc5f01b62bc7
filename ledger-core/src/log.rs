//! The log as the core sees it: sealing decided events into it, and replaying it with every
//! check on the way (positions without gaps, the hash chain, balanced entries).

use crate::command::Command;
use crate::error::DomainError;
use crate::event::{
    ChainError, EncodedEvent, EnvelopeMeta, Event, EventPayload, RecordedEvent, EVENT_BYTES_MAX, GENESIS_HASH,
};
use crate::state::State;
use crate::statement::{Figures, Selection};

/// The head of the hash chain: the last position sealed and its hash. The log's, not the
/// decision state's: the writer decides and stages events, and whoever writes them seals them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub position: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> ChainHead {
        ChainHead { position: 0, hash: GENESIS_HASH.to_owned() }
    }

    /// The head after `event`, trusting its stored hash (replay checks it link by link).
    pub fn after(event: &RecordedEvent) -> ChainHead {
        ChainHead { position: event.position, hash: event.hash.clone() }
    }

    /// Seals a staged event onto the chain: its `prev_hash`, canonical encoding and hash.
    pub fn seal(&mut self, staged: RecordedEvent) -> EncodedEvent {
        assert_eq!(staged.position, self.position + 1, "events are sealed in position order");
        let encoded = staged.seal_staged(&self.hash);
        self.position = encoded.event.position;
        self.hash.clone_from(&encoded.event.hash);
        encoded
    }
}

/// Stages one command's decided events at the next positions and folds each into the state.
/// Staged events have their envelope but no `prev_hash` or `hash` yet: [`ChainHead::seal`]
/// gives them those. `meta` supplies what the writer owns (event id, clock, idempotency key)
/// for a position.
///
/// A command any of whose records would pass [`EVENT_BYTES_MAX`] is refused here, whole and
/// before anything is folded in, as `DomainError::EventTooLarge`: a fact of the command, which a
/// retry would meet again, so it is answered like any business refusal (422) and never reaches
/// a store, where it would fail the whole batch's append.
pub fn stage(
    state: &mut State,
    events: Vec<Event>,
    mut meta: impl FnMut(u64) -> EnvelopeMeta,
) -> Result<Vec<RecordedEvent>, DomainError> {
    let first = state.last_position + 1;
    let mut staged = Vec::with_capacity(events.len());
    for (position, event) in (first..).zip(events) {
        let envelope = meta(position);
        assert_eq!(envelope.position, position, "the writer assigns the next position");
        staged.push(RecordedEvent::staged(event, envelope));
    }
    for event in &staged {
        let bytes = crate::record::encoded_len(event);
        if bytes > EVENT_BYTES_MAX {
            return Err(DomainError::EventTooLarge { event_type: event.event_type(), bytes, limit: EVENT_BYTES_MAX });
        }
    }
    for event in &staged {
        state.evolve(event);
    }
    Ok(staged)
}

/// Stages and seals in one step (in-memory logs, tests).
pub fn record(
    state: &mut State,
    chain: &mut ChainHead,
    events: Vec<Event>,
    meta: impl FnMut(u64) -> EnvelopeMeta,
) -> Result<Vec<RecordedEvent>, DomainError> {
    Ok(stage(state, events, meta)?.into_iter().map(|event| chain.seal(event).event).collect())
}

/// Decides a command and records its events in one step.
pub fn execute(
    state: &mut State,
    chain: &mut ChainHead,
    command: &Command,
    meta: impl FnMut(u64) -> EnvelopeMeta,
) -> Result<Vec<RecordedEvent>, DomainError> {
    let events = crate::decide::decide(state, command)?;
    record(state, chain, events, meta)
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
    /// The event passed the chain and entry checks but contradicts the state it follows (a log
    /// forged with recomputed hashes): folding it broke an invariant.
    #[error("event {position} contradicts the state before it: {reason}")]
    Inconsistent { position: u64, reason: String },
}

impl ReplayError {
    pub fn position(&self) -> u64 {
        match self {
            ReplayError::Chain(ChainError::BrokenLink { position })
            | ReplayError::Chain(ChainError::HashMismatch { position })
            | ReplayError::Chain(ChainError::Gap { position, .. })
            | ReplayError::Unbalanced { position, .. }
            | ReplayError::UnknownBook { position, .. }
            | ReplayError::WalletBelowZero { position, .. }
            | ReplayError::Inconsistent { position, .. } => *position,
        }
    }
}

/// Checks one event against the state and chain it follows, before it is folded in.
pub fn verify_next(state: &State, chain: &ChainHead, event: &RecordedEvent) -> Result<(), ReplayError> {
    let expected = state.last_position + 1;
    if event.position != expected || chain.position != state.last_position {
        return Err(ChainError::Gap { position: event.position, expected }.into());
    }
    event.verify_link(&chain.hash)?;
    for (entry_idx, entry) in event.event.entries.iter().enumerate() {
        let well_formed = entry.lines.len() >= 2 && entry.lines.iter().all(|line| !line.amount.is_zero());
        if !well_formed || !entry.imbalance().is_zero() {
            return Err(ReplayError::Unbalanced { position: event.position, entry_idx });
        }
        let opened_here = match &event.event.payload {
            EventPayload::OrgOpened(opened) if opened.org.id == entry.book => Some(opened.org.currency),
            _ => None,
        };
        let Some(kept) = state.books.get(&entry.book).map(|book| book.currency).or(opened_here) else {
            return Err(ReplayError::UnknownBook { position: event.position, entry_idx, book: entry.book });
        };
        // A book keeps one currency: a trial balance never adds two.
        if entry.currency != kept {
            let reason = format!("entry {entry_idx} is in {} but book {} keeps {kept}", entry.currency, entry.book);
            return Err(ReplayError::Inconsistent { position: event.position, reason });
        }
    }
    check_limits(state, event)?;
    check_statement(state, event)
}

/// A statement carries its figures, not its lines: they must be the figures of the lines the
/// state holds at this position (the decider's selection, made again), or the event is not the
/// statement of this log.
fn check_statement(state: &State, event: &RecordedEvent) -> Result<(), ReplayError> {
    let EventPayload::SettlementStatementIssued(statement) = &event.event.payload else { return Ok(()) };
    let inconsistent = |reason: String| ReplayError::Inconsistent { position: event.position, reason };
    let book = state
        .books
        .get(&statement.book)
        .ok_or_else(|| inconsistent(format!("a statement of {}, which is not an open book", statement.book)))?;
    let selection = Selection::of(statement);
    let found = Figures::of(&selection, &selection.lines(book));
    let stated = Figures::stated(statement);
    if found != stated {
        return Err(inconsistent(format!(
            "the statement states {} lines, receivable {}, payable {}, hash {}; the log has {} lines, receivable {}, \
             payable {}, hash {} for its selection",
            stated.line_count,
            stated.receivable,
            stated.payable,
            stated.statement_hash,
            found.line_count,
            found.receivable,
            found.payable,
            found.statement_hash
        )));
    }
    Ok(())
}

/// A log whose hashes were recomputed after tampering can still break the ledger's rules; the
/// ones `evolve` relies on (wallets, holds and totals in range) are checked by the same code the
/// deciders use, and a breach is reported here instead of folded.
fn check_limits(state: &State, event: &RecordedEvent) -> Result<(), ReplayError> {
    crate::limits::check(state, std::slice::from_ref(&event.event)).map_err(|breach| match breach {
        crate::limits::Breach::Overdrawn { customer, .. } => {
            ReplayError::WalletBelowZero { position: event.position, customer }
        }
        breach @ crate::limits::Breach::Limit { .. } => {
            ReplayError::Inconsistent { position: event.position, reason: breach.to_string() }
        }
    })
}

/// Folds in-memory events onto a state (a snapshot, or the empty state) and its chain head,
/// verifying each event first. Events held in memory have no stored bytes, so each one's hash
/// is also checked against its record encoded afresh; a store instead hashes the bytes it read
/// ([`crate::record::decode`]) and replays with [`verify_next`].
pub fn replay_onto<'a>(
    mut state: State,
    mut chain: ChainHead,
    events: impl IntoIterator<Item = &'a RecordedEvent>,
) -> Result<(State, ChainHead), ReplayError> {
    for event in events {
        if event.record_hash() != event.hash {
            return Err(ChainError::HashMismatch { position: event.position }.into());
        }
        verify_next(&state, &chain, event)?;
        evolve_untrusted(&mut state, event)?;
        chain = ChainHead::after(event);
    }
    Ok((state, chain))
}

/// `evolve` for events read from storage. `evolve` asserts the invariants the deciders
/// guarantee, so on a log only the writer wrote it cannot panic; a log edited by someone who
/// also recomputed the hashes can make it. Replay and `kboss verify` report that as the
/// position where the log stops making sense, instead of crashing. The state is not to be used
/// after an error.
pub fn evolve_untrusted(state: &mut State, event: &RecordedEvent) -> Result<(), ReplayError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.evolve(event))).map_err(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_else(|| "an invariant broke".to_owned());
        ReplayError::Inconsistent { position: event.position, reason }
    })
}

/// Rebuilds the state from the start of the log.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Result<State, ReplayError> {
    replay_onto(State::default(), ChainHead::genesis(), events).map(|(state, _)| state)
}
