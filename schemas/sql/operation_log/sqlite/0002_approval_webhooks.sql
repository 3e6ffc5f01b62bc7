-- Each book's approval webhook (gateway/src/approval_webhooks.rs): where its approval requests
-- are posted and the secret that signs them (and its IM client's callbacks). Configuration of the
-- gateway, not a fact of the ledger: a robot's URL carries its access token and the secret must
-- be read back to sign, so neither enters the event log (immutable, published, exported). Kept
-- here, in the gateway's own store beside the operation log; nothing rebuilds or prunes it.
CREATE TABLE approval_webhooks (
    book TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- When and by whom (token, and its person) it was last set, in microseconds since the epoch.
    updated_at_micros BIGINT NOT NULL,
    updated_by_token TEXT NOT NULL,
    updated_by_user TEXT
);
