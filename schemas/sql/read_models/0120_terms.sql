-- Credit, the book's terms, settlement cycles and auto-renewals (issue 12): the `terms`
-- projection. A new projection: it folds the log from position 0.

-- Each customer that has had a credit limit or drawn on credit: its limit, what it owes
-- (arrears, 欠费, its 1122 balance in its seller's book) and when the earliest part falls due.
CREATE TABLE rm_credit (
    customer_id     TEXT    PRIMARY KEY,
    book            TEXT    NOT NULL,
    credit_limit    BIGINT  NOT NULL,
    arrears         BIGINT  NOT NULL,
    due_on          TEXT,
    overdue_noticed TEXT,
    position        BIGINT  NOT NULL
);
CREATE INDEX rm_credit_by_book ON rm_credit (book, customer_id);

-- The terms a book set (a book without a row follows the defaults).
CREATE TABLE rm_book_terms (
    book                            TEXT    PRIMARY KEY,
    order_payment_timeout_minutes   BIGINT  NOT NULL,
    arrears_due_days                BIGINT  NOT NULL,
    renewal_lead_days               BIGINT  NOT NULL,
    set_by                          TEXT    NOT NULL,
    set_at                          TEXT    NOT NULL,
    position                        BIGINT  NOT NULL
);

CREATE TABLE rm_settlement_cycles (
    book            TEXT    NOT NULL,
    counterparty_id TEXT    NOT NULL,
    every           TEXT    NOT NULL,
    day             BIGINT  NOT NULL,
    set_by          TEXT    NOT NULL,
    set_at          TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (book, counterparty_id)
);
CREATE INDEX rm_settlement_cycles_by_position ON rm_settlement_cycles (book, position);

-- Subscriptions with auto-renewal on, and the last end the clock could not renew.
CREATE TABLE rm_auto_renewals (
    order_id        TEXT    PRIMARY KEY,
    customer_id     TEXT    NOT NULL,
    seller_id       TEXT    NOT NULL,
    periods         BIGINT  NOT NULL,
    failed_for      TEXT,
    failed_reason   TEXT,
    position        BIGINT  NOT NULL
);
