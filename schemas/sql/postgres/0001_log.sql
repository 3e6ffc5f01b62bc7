-- The event log, idempotency keys, snapshots and the writer's lease (PostgreSQL).
-- Positions are assigned by the single writer (elected by an advisory lock); the primary key
-- makes a repeat impossible and the writer checks contiguity in the appending transaction.

CREATE TABLE events (
    position        BIGINT      PRIMARY KEY,
    event_id        UUID        NOT NULL UNIQUE,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    effective_date  DATE        NOT NULL,
    idempotency_key TEXT,
    correlation_id  UUID,
    -- The recorded event without its hash (the canonical encoding's content, as jsonb).
    body            JSONB       NOT NULL,
    prev_hash       TEXT        NOT NULL,
    hash            TEXT        NOT NULL
);

CREATE TABLE idempotency (
    scoped_key      TEXT   PRIMARY KEY,
    request_hash    TEXT   NOT NULL,
    first_position  BIGINT NOT NULL,
    last_position   BIGINT NOT NULL
);

CREATE TABLE snapshots (
    position        BIGINT      PRIMARY KEY,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    state           BYTEA       NOT NULL
);

-- Who holds the writer's advisory lock, for the instances that do not.
CREATE TABLE writer_lease (
    id              INTEGER     PRIMARY KEY CHECK (id = 1),
    holder          TEXT        NOT NULL,
    since           TIMESTAMPTZ NOT NULL
);
