-- Record format v2 (ledger-core/src/record.rs): an event is stored as the exact bytes the
-- SHA-256 chain covers, beside their hash; verification hashes what it reads. The v1 tables
-- (JSON bodies) go: the store applies this migration only to a log without v1 events, and
-- `kboss migrate` converts a log that has some (keeping the v1 file beside it).

DROP TABLE IF EXISTS events;
DROP TABLE IF EXISTS idempotency;

CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    -- The record: format byte, fixed header, payload, entries.
    record   BLOB    NOT NULL,
    -- SHA-256 of `record`, 32 bytes: a record whose bytes changed is reported at its position.
    hash     BLOB    NOT NULL
);

-- A committed command's key (SHA-256 of the key scoped to the acting org), the SHA-256 of the
-- request, and the positions it committed. Written in the same transaction as the events.
CREATE TABLE idempotency (
    key_digest     BLOB    PRIMARY KEY,
    request_hash   BLOB    NOT NULL,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL
) WITHOUT ROWID;

-- Facts about the log itself. `genesis`: the hash position 1 links to (32 zero bytes for a log
-- begun in v2; the head hash of the v1 log a migrated one continues).
CREATE TABLE log_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
