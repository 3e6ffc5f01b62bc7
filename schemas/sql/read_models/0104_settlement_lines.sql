-- Statement lines in a table of their own, one row per line, numbered in the statement's order
-- (position, account, then as booked) from 1, so a page is a range of line numbers. A statement
-- event (schema v2) carries its figures, not its lines: the settlements projection copies them
-- from the journal when it applies the event (see projection/settlements.rs). rm_settlements
-- loses its column of lines and gains their count; it is rebuilt from the log (checkpoint 0).
DROP TABLE rm_settlements;
CREATE TABLE rm_settlements (
    settlement_id   TEXT    PRIMARY KEY,
    book            TEXT    NOT NULL,
    counterparty_id TEXT    NOT NULL,
    from_date       TEXT    NOT NULL,
    to_date         TEXT    NOT NULL,
    statement_hash  TEXT    NOT NULL,
    receivable      BIGINT  NOT NULL,
    payable         BIGINT  NOT NULL,
    through_position BIGINT NOT NULL,
    line_count      BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    approval_id     TEXT
);
CREATE INDEX rm_settlements_by_book ON rm_settlements (book, position);
CREATE INDEX rm_settlements_by_approval ON rm_settlements (approval_id);

CREATE TABLE rm_settlement_lines (
    settlement_id   TEXT    NOT NULL,
    line_no         BIGINT  NOT NULL,
    position        BIGINT  NOT NULL,
    entry_date      TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    debit           BIGINT  NOT NULL,
    credit          BIGINT  NOT NULL,
    PRIMARY KEY (settlement_id, line_no)
);

UPDATE rm_checkpoints SET position = 0 WHERE projection = 'settlements';
