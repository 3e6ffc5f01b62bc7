-- People, not tokens (issue 9): the users of every org, and of each token the user it belongs
-- to, its expiry and its revocation. The tokens projection now folds users too; it starts again
-- from 0 to fill the new columns (a token is a few rows: the refold is quick).
CREATE TABLE rm_users (
    user_id         TEXT    PRIMARY KEY,
    org_id          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    email           TEXT,
    phone           TEXT,
    roles           TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    position        BIGINT  NOT NULL
);
CREATE INDEX rm_users_by_org ON rm_users (org_id, position);
ALTER TABLE rm_tokens ADD COLUMN user_id TEXT;
ALTER TABLE rm_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE rm_tokens ADD COLUMN deployment_admin BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rm_tokens ADD COLUMN issued_at TEXT;
ALTER TABLE rm_tokens ADD COLUMN revoked_at TEXT;
ALTER TABLE rm_tokens ADD COLUMN revoked_by TEXT;
ALTER TABLE rm_tokens ADD COLUMN revoke_reason TEXT;
ALTER TABLE rm_tokens ADD COLUMN revoked_position BIGINT;
CREATE INDEX rm_tokens_by_user ON rm_tokens (user_id, position);
DELETE FROM rm_tokens;
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'tokens';
