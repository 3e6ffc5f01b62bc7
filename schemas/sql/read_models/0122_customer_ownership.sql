-- 归属 (issue 12): who a customer belonged to, event by event: its opening, each salesperson
-- named (`CustomerOwnerSet`, one per customer of a batch reassignment) and each transfer to
-- another seller (`CustomerTransferred`), with the seller before and after, the salesperson,
-- the reason, when and by whom. Every change of ownership leaves its trace (留痕). The orgs
-- projection starts again from 0 to fill it (its other rows are upserts).
CREATE TABLE rm_customer_ownership (
    customer_id     TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    seller_id       TEXT    NOT NULL,
    from_seller_id  TEXT,
    owner_id        TEXT,
    reason          TEXT,
    at              TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    PRIMARY KEY (customer_id, position)
);
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'orgs';
