-- The event log, idempotency keys and snapshots of the embedded store (SQLite, WAL).
-- Positions are assigned by the single writer: INTEGER PRIMARY KEY makes a repeat impossible,
-- and the writer checks in the same transaction that a batch starts right after the last one.

CREATE TABLE events (
    position        INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    recorded_at     TEXT    NOT NULL,
    effective_date  TEXT    NOT NULL,
    idempotency_key TEXT,
    correlation_id  TEXT,
    -- The whole recorded event (envelope, payload, entries) as JSON: what replay decodes.
    body            TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL
);

-- A committed command's key, scoped to the acting org, with a fingerprint of the request and
-- the positions it committed at. Written in the same transaction as the events.
CREATE TABLE idempotency (
    scoped_key      TEXT    PRIMARY KEY,
    request_hash    TEXT    NOT NULL,
    first_position  INTEGER NOT NULL,
    last_position   INTEGER NOT NULL
);

-- The writer's decision state at a position (CBOR), so start-up replays only the tail.
CREATE TABLE snapshots (
    position        INTEGER PRIMARY KEY,
    created_at      TEXT    NOT NULL,
    state           BLOB    NOT NULL
);
