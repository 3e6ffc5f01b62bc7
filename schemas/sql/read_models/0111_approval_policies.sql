-- Approval policies as data (issue 9 item 4): each book's policy as it set it, each approval's
-- levels and the level it waits at, and every decision, level by level, with who decided. The
-- approvals projection starts again from 0 to fill them (a book's approvals are a few rows each).
CREATE TABLE rm_approval_policies (
    book            TEXT    PRIMARY KEY,
    rules           TEXT    NOT NULL,
    set_by          TEXT    NOT NULL,
    set_at          TEXT    NOT NULL,
    position        BIGINT  NOT NULL
);
ALTER TABLE rm_approvals ADD COLUMN levels TEXT;
ALTER TABLE rm_approvals ADD COLUMN action TEXT;
ALTER TABLE rm_approvals ADD COLUMN current_level BIGINT NOT NULL DEFAULT 1;
CREATE TABLE rm_approval_decisions (
    approval_id     TEXT    NOT NULL,
    level           BIGINT  NOT NULL,
    decision        TEXT    NOT NULL,
    decided_by      TEXT    NOT NULL,
    comment         TEXT,
    decided_at      TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (approval_id, level)
);
DELETE FROM rm_approvals;
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'approvals';
