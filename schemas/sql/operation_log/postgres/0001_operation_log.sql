-- The operation log (gateway/src/operation_log.rs): every command the gateway answered, accepted
-- or refused, with who asked, from where, and what came of it. Not the ledger's log and not a
-- read model (no `rm_` prefix): nothing rebuilds it, `kboss rebuild` leaves it alone. In the
-- schema of the log (the connection's `search_path`); `seq` is the order recorded.
CREATE TABLE operation_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- When the gateway submitted the command, in microseconds since the Unix epoch (UTC).
    at_micros BIGINT NOT NULL,
    -- The book it shows in: the caller's org, or a customer's seller.
    book_id TEXT,
    org_id TEXT NOT NULL,
    user_id TEXT,
    token_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT,
    position BIGINT,
    request_id TEXT,
    client TEXT
);
CREATE INDEX operation_log_by_book ON operation_log (book_id, seq);
-- Retention prunes by time.
CREATE INDEX operation_log_by_time ON operation_log (at_micros);
