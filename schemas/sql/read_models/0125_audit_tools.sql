-- Issue 14's audit tools. A new projection (`audit`): it folds the log from position 0.
-- Each book's closes and reopens, for the certificates a book lists (each is signed again from
-- its event when it is read); each recorded reconciliation by its id (its rows, lines and
-- groups are read from its event); each customer's low-balance threshold.
CREATE TABLE rm_period_events (
    book            TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    through         TEXT    NOT NULL,
    PRIMARY KEY (book, position)
);
CREATE TABLE rm_reconciliations (
    reconciliation_id   TEXT    PRIMARY KEY,
    book                TEXT    NOT NULL,
    account             TEXT    NOT NULL,
    position            BIGINT  NOT NULL
);
CREATE INDEX rm_reconciliations_by_book ON rm_reconciliations (book, position);
CREATE TABLE rm_low_balance_thresholds (
    customer_id     TEXT    PRIMARY KEY,
    book            TEXT    NOT NULL,
    threshold       BIGINT  NOT NULL,
    position        BIGINT  NOT NULL
);
