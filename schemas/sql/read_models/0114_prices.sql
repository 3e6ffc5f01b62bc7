-- Fixed, first-order and tiered prices beside the rates (issue 12, pricing): a book's rate table
-- keeps one row per (product, scope, kind), `rate` for a rate, `rule` (the price rule's JSON)
-- for the others. The catalog projection starts again from 0 to fill it (its posting rules are
-- inserted once whatever the replay).
DROP TABLE rm_rates;
CREATE TABLE rm_rates (
    book            TEXT    NOT NULL,
    product_id      TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    scope_org       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    rate            TEXT,
    rule            TEXT,
    valid_from      TEXT,
    valid_to        TEXT,
    set_at          TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (book, product_id, scope, scope_org, kind)
);
CREATE INDEX rm_rates_by_position ON rm_rates (book, position);
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'catalog';
