-- Record format v2 (ledger-core/src/record.rs): an event is stored as the exact bytes the
-- SHA-256 chain covers (`bytea`: no jsonb parse on append, nothing re-encoded on read), beside
-- their hash. The v1 tables go: the store applies this migration only to a log without v1
-- events, and `kboss migrate` converts a log that has some (keeping them as v1_events and
-- v1_idempotency).

DROP TABLE IF EXISTS events;
DROP TABLE IF EXISTS idempotency;

CREATE TABLE events (
    position BIGINT PRIMARY KEY,
    record   BYTEA  NOT NULL,
    hash     BYTEA  NOT NULL
);

CREATE TABLE idempotency (
    key_digest     BYTEA  PRIMARY KEY,
    request_hash   BYTEA  NOT NULL,
    first_position BIGINT NOT NULL,
    last_position  BIGINT NOT NULL
);

CREATE TABLE log_meta (
    name  TEXT  PRIMARY KEY,
    value BYTEA NOT NULL
);
