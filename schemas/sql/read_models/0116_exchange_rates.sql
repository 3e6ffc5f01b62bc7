-- Money in more than one currency (issue 12): a product's currency when it is not its owner's
-- book currency, and every exchange rate a book set, by currency and the date it takes effect.
-- No log before this had either, so nothing is refolded.
ALTER TABLE rm_products ADD COLUMN currency TEXT;
CREATE TABLE rm_exchange_rates (
    book            TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    effective_from  TEXT    NOT NULL,
    rate            TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    set_at          TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (book, currency, effective_from)
);
