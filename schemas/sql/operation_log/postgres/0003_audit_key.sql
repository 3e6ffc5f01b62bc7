-- The deployment's Ed25519 key (gateway/src/audit.rs), which signs close certificates: made by
-- the first instance that starts (one row; a race is won by the first insert) and kept, so that
-- every instance signs with it and its public key (`GET /v1/audit/public-key`) never changes.
-- Embedded deployments keep it in `<data-dir>/audit.key` instead. Not in the event log (it is a
-- secret; the log is published and exported); nothing rebuilds or prunes it.
CREATE TABLE audit_key (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    -- The 32-byte seed, lowercase hex.
    seed TEXT NOT NULL,
    created_at_micros BIGINT NOT NULL
);
