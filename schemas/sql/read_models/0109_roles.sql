-- Permissions as data (issue 9 item 3): the roles each org defined, and each customer's owner
-- (the person who opened it, unless `CustomerOwnerSet` names another). The orgs projection
-- starts again from 0 to fill `opened_by` (an org is one row: the refold is quick).
CREATE TABLE rm_roles (
    org_id          TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    permissions     TEXT    NOT NULL,
    defined_by      TEXT    NOT NULL,
    defined_at      TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (org_id, role)
);
ALTER TABLE rm_orgs ADD COLUMN opened_by TEXT;
ALTER TABLE rm_orgs ADD COLUMN owner_id TEXT;
DELETE FROM rm_orgs;
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'orgs';
