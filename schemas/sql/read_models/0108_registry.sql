-- What a book has configured and issued, readable by id and in lists (issue 12 "read what is
-- configured", issue 15 item 3 "a detail for every id an answer contains"): promotions, invite
-- codes with their uses (orders placed with them), serial-code batches and their codes (issued or
-- activated, by whom and when), and invoices (requested, issued or rejected). A new projection
-- ('registry'): its checkpoint starts at 0 and it folds the whole log once.
CREATE TABLE rm_promotions (
    promotion_id    TEXT    PRIMARY KEY,
    book            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    rates           TEXT    NOT NULL,
    valid_from      TEXT    NOT NULL,
    valid_to        TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    position        BIGINT  NOT NULL
);
CREATE INDEX rm_promotions_by_book ON rm_promotions (book, position);

CREATE TABLE rm_invite_codes (
    book                TEXT    NOT NULL,
    code                TEXT    NOT NULL,
    promotion_id        TEXT,
    salesperson         TEXT,
    uses                BIGINT  NOT NULL,
    last_used_at        TEXT,
    last_used_position  BIGINT,
    last_order_id       TEXT,
    created_at          TEXT    NOT NULL,
    position            BIGINT  NOT NULL,
    PRIMARY KEY (book, code)
);
CREATE INDEX rm_invite_codes_by_book ON rm_invite_codes (book, position);

CREATE TABLE rm_serial_batches (
    batch_id        TEXT    PRIMARY KEY,
    issuer_id       TEXT    NOT NULL,
    distributor_id  TEXT    NOT NULL,
    tier            TEXT    NOT NULL,
    days            BIGINT  NOT NULL,
    code_count      BIGINT  NOT NULL,
    activated       BIGINT  NOT NULL,
    unit_price      BIGINT  NOT NULL,
    total           BIGINT  NOT NULL,
    issued_at       TEXT    NOT NULL,
    position        BIGINT  NOT NULL
);

-- A code is known by its text; in lists, by its batch's position and its index in the batch.
CREATE TABLE rm_serial_codes (
    code                TEXT    PRIMARY KEY,
    batch_id            TEXT    NOT NULL,
    idx                 BIGINT  NOT NULL,
    issuer_id           TEXT    NOT NULL,
    distributor_id      TEXT    NOT NULL,
    days                BIGINT  NOT NULL,
    amount              BIGINT  NOT NULL,
    status              TEXT    NOT NULL,
    issued_position     BIGINT  NOT NULL,
    customer_id         TEXT,
    activated_at        TEXT,
    activated_position  BIGINT
);
CREATE INDEX rm_serial_codes_by_position ON rm_serial_codes (issued_position, idx);
CREATE INDEX rm_serial_codes_by_distributor ON rm_serial_codes (distributor_id, issued_position, idx);
CREATE INDEX rm_serial_codes_by_issuer ON rm_serial_codes (issuer_id, issued_position, idx);
CREATE INDEX rm_serial_codes_by_customer ON rm_serial_codes (customer_id, issued_position, idx);
CREATE INDEX rm_serial_codes_by_batch ON rm_serial_codes (batch_id, idx);

CREATE TABLE rm_invoices (
    invoice_id          TEXT    PRIMARY KEY,
    customer_id         TEXT    NOT NULL,
    book                TEXT    NOT NULL,
    amount              BIGINT  NOT NULL,
    status              TEXT    NOT NULL,
    approval_id         TEXT,
    requested_at        TEXT    NOT NULL,
    requested_position  BIGINT  NOT NULL,
    issued_position     BIGINT
);
CREATE INDEX rm_invoices_by_book ON rm_invoices (book, requested_position);
CREATE INDEX rm_invoices_by_customer ON rm_invoices (customer_id, requested_position);
CREATE INDEX rm_invoices_by_approval ON rm_invoices (approval_id);
