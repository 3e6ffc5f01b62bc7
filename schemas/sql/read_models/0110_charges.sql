-- Usage charges and subscription renewals, each readable by its id (issue 15: every id an
-- answer names has a GET). A new projection: it folds the log from position 0.
CREATE TABLE rm_charges (
    charge_id       TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    order_id        TEXT,
    customer_id     TEXT    NOT NULL,
    seller_id       TEXT    NOT NULL,
    items           TEXT    NOT NULL,
    total           BIGINT  NOT NULL,
    period_from     TEXT,
    period_to       TEXT,
    new_end         TEXT,
    charged_by      TEXT    NOT NULL,
    charged_at      TEXT    NOT NULL,
    position        BIGINT  NOT NULL
);
CREATE INDEX rm_charges_by_order ON rm_charges (order_id, position);
