-- The read models, one text for both backends: SQLite (embedded, in their own file read.sqlite
-- beside the log) and PostgreSQL (server mode, in the log's database and schema). The same tables,
-- columns and keys; amounts are BIGINT minor units, dates TEXT 'YYYY-MM-DD', ids TEXT, timestamps
-- TEXT RFC 3339. A migration that must differ by backend goes in schemas/sql/<backend>/ instead.

-- The last position each projection applied; an event at or below it is a no-op for it.
CREATE TABLE rm_checkpoints (
    projection      TEXT    PRIMARY KEY,
    position        BIGINT  NOT NULL
);

CREATE TABLE rm_orgs (
    org_id          TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    parent_id       TEXT,
    currency        TEXT    NOT NULL,
    sale_mode       TEXT    NOT NULL,
    position        BIGINT  NOT NULL
);

CREATE TABLE rm_tokens (
    token_hash      TEXT    PRIMARY KEY,
    principal_id    TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    roles           TEXT    NOT NULL,
    label           TEXT,
    issued_by       TEXT    NOT NULL,
    position        BIGINT  NOT NULL
);

CREATE TABLE rm_products (
    product_id      TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    supplier_id     TEXT    NOT NULL,
    owner_id        TEXT    NOT NULL,
    list_price      TEXT    NOT NULL,
    unit            TEXT    NOT NULL,
    supplier_rate   TEXT,
    position        BIGINT  NOT NULL
);
CREATE INDEX rm_products_by_owner ON rm_products (owner_id);

CREATE TABLE rm_accounts (
    book            TEXT    NOT NULL,
    code            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    account_type    TEXT    NOT NULL,
    PRIMARY KEY (book, code)
);

-- Party '' when the line has none, so the key is a plain primary key on both backends.
CREATE TABLE rm_balances (
    book            TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    party           TEXT    NOT NULL,
    debit           BIGINT  NOT NULL,
    credit          BIGINT  NOT NULL,
    PRIMARY KEY (book, account, party)
);
CREATE INDEX rm_balances_by_party ON rm_balances (account, party);

CREATE TABLE rm_daily_balances (
    book            TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    day             TEXT    NOT NULL,
    debit           BIGINT  NOT NULL,
    credit          BIGINT  NOT NULL,
    PRIMARY KEY (book, account, day)
);

CREATE TABLE rm_wallet_requests (
    kind            TEXT    NOT NULL,
    request_id      TEXT    NOT NULL,
    customer_id     TEXT    NOT NULL,
    book            TEXT    NOT NULL,
    approval_id     TEXT,
    amount          BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    PRIMARY KEY (kind, request_id)
);
CREATE INDEX rm_wallet_requests_by_customer ON rm_wallet_requests (customer_id, kind, status);
CREATE INDEX rm_wallet_requests_by_approval ON rm_wallet_requests (approval_id);

-- Party '' when the line has none. Each line carries the running balance (debit − credit, in
-- log order, through this line) of its book, of its book and account, and of its book, account
-- and party: a ledger page is then an index range scan, whatever its depth in the book.
CREATE TABLE rm_journal (
    position        BIGINT  NOT NULL,
    entry_idx       BIGINT  NOT NULL,
    line_idx        BIGINT  NOT NULL,
    book            TEXT    NOT NULL,
    entry_date      TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    party           TEXT    NOT NULL,
    debit           BIGINT  NOT NULL,
    credit          BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    rule_id         TEXT    NOT NULL,
    rule_version    BIGINT  NOT NULL,
    pair_id         TEXT,
    book_running    BIGINT  NOT NULL,
    account_running BIGINT  NOT NULL,
    party_running   BIGINT  NOT NULL,
    PRIMARY KEY (position, entry_idx, line_idx)
);
CREATE INDEX rm_journal_by_book ON rm_journal (book, position, entry_idx, line_idx);
CREATE INDEX rm_journal_by_account ON rm_journal (book, account, position, entry_idx, line_idx);
CREATE INDEX rm_journal_by_party ON rm_journal (book, account, party, position, entry_idx, line_idx);

CREATE TABLE rm_orders (
    order_id        TEXT    PRIMARY KEY,
    customer_id     TEXT    NOT NULL,
    seller_id       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    total           BIGINT  NOT NULL,
    paid            BIGINT  NOT NULL,
    refunded        BIGINT  NOT NULL,
    items           TEXT    NOT NULL,
    placed_on       TEXT    NOT NULL,
    placed_position BIGINT  NOT NULL,
    invite_code     TEXT,
    salesperson     TEXT
);
CREATE INDEX rm_orders_by_position ON rm_orders (placed_position);
CREATE INDEX rm_orders_by_seller ON rm_orders (seller_id, placed_position);
CREATE INDEX rm_orders_by_customer ON rm_orders (customer_id, placed_position);

CREATE TABLE rm_order_history (
    order_id        TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    at              TEXT    NOT NULL,
    PRIMARY KEY (order_id, position)
);

-- Dimension '' holds the totals; key '' is "does not apply" (a direct sale has no child reseller).
CREATE TABLE rm_kpi_daily (
    book            TEXT    NOT NULL,
    day             TEXT    NOT NULL,
    dimension       TEXT    NOT NULL,
    dim_key         TEXT    NOT NULL,
    revenue         BIGINT  NOT NULL,
    discounts       BIGINT  NOT NULL,
    cost            BIGINT  NOT NULL,
    recharges       BIGINT  NOT NULL,
    refunds         BIGINT  NOT NULL,
    PRIMARY KEY (book, day, dimension, dim_key)
);
CREATE INDEX rm_kpi_daily_by_dimension ON rm_kpi_daily (book, dimension, day);

-- How a payment's figures split over keys, per book: the weights of its later refunds.
CREATE TABLE rm_kpi_sale_keys (
    order_id        TEXT    NOT NULL,
    book            TEXT    NOT NULL,
    dimension       TEXT    NOT NULL,
    dim_key         TEXT    NOT NULL,
    revenue         BIGINT  NOT NULL,
    discounts       BIGINT  NOT NULL,
    cost            BIGINT  NOT NULL,
    PRIMARY KEY (order_id, book, dimension, dim_key)
);

CREATE TABLE rm_serial_daily (
    book            TEXT    NOT NULL,
    day             TEXT    NOT NULL,
    package_days    BIGINT  NOT NULL,
    codes_issued    BIGINT  NOT NULL,
    codes_activated BIGINT  NOT NULL,
    revenue         BIGINT  NOT NULL,
    PRIMARY KEY (book, day, package_days)
);

CREATE TABLE rm_approvals (
    approval_id     TEXT    PRIMARY KEY,
    book            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    requested_by    TEXT    NOT NULL,
    proposal        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    decided_by      TEXT,
    comment         TEXT
);
CREATE INDEX rm_approvals_by_book ON rm_approvals (book, status, position);

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
    lines           TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    approval_id     TEXT
);
CREATE INDEX rm_settlements_by_book ON rm_settlements (book, position);
CREATE INDEX rm_settlements_by_approval ON rm_settlements (approval_id);

CREATE TABLE rm_invoiceable (
    customer_id     TEXT    PRIMARY KEY,
    amount          BIGINT  NOT NULL
);
