//! `OffRuntime<S>`: an event store whose drop never runs on an async runtime's thread.
//!
//! Why: the PostgreSQL store uses the blocking `postgres` client, which closes its connection
//! on drop by blocking on a runtime of its own; doing that on a thread that drives tokio tasks
//! panics ("Cannot start a runtime from within a runtime"). The gateway's log reader and the
//! read-model runner's reader are owned by async code, so their stores are dropped here on a
//! plain thread instead.

use std::collections::HashMap;

use commands::{EventStore, IdempotencyRecord, StoreError};
use ledger_core::event::EncodedEvent;
use ledger_core::RecordedEvent;

pub struct OffRuntime<S: EventStore>(Option<S>);

impl<S: EventStore> OffRuntime<S> {
    pub fn new(store: S) -> OffRuntime<S> {
        OffRuntime(Some(store))
    }

    fn store(&mut self) -> &mut S {
        self.0.as_mut().expect("present until dropped")
    }
}

impl<S: EventStore> Drop for OffRuntime<S> {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::spawn(move || drop(store)).join();
            }
        }
    }
}

impl<S: EventStore> EventStore for OffRuntime<S> {
    type Reader = OffRuntime<S::Reader>;

    fn reopen(&self) -> Result<Self::Reader, StoreError> {
        self.0.as_ref().expect("present until dropped").reopen().map(OffRuntime::new)
    }

    fn append(&mut self, events: &[EncodedEvent], keys: &[IdempotencyRecord]) -> Result<(), StoreError> {
        self.store().append(events, keys)
    }

    fn read_after(&mut self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store().read_after(after, limit)
    }

    fn read_one(&mut self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.store().read_one(position)
    }

    fn last_position(&mut self) -> Result<u64, StoreError> {
        self.store().last_position()
    }

    fn find_key(&mut self, scoped_key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store().find_key(scoped_key)
    }

    fn find_keys(&mut self, scoped_keys: &[&str]) -> Result<HashMap<String, IdempotencyRecord>, StoreError> {
        self.store().find_keys(scoped_keys)
    }

    fn save_snapshot(&mut self, position: u64, state: &[u8]) -> Result<(), StoreError> {
        self.store().save_snapshot(position, state)
    }

    fn latest_snapshot(&mut self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.store().latest_snapshot()
    }
}
