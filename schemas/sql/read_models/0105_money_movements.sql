-- Every movement of a customer's wallet that is not an order: recharges (requested offline or
-- confirmed online), withdrawals and coupons, with what a person looks for (the method or route,
-- the reference or reason, the approval, the positions that requested and booked it), so each id
-- an answer names has a GET and an approval shows what it would book. A coupon has no id of its
-- own: it is known by the position of its grant. A new projection ('movements'): its checkpoint
-- starts at 0 and it folds the whole log once.
CREATE TABLE rm_money_movements (
    kind                TEXT    NOT NULL,
    movement_id         TEXT    NOT NULL,
    customer_id         TEXT    NOT NULL,
    book                TEXT    NOT NULL,
    amount              BIGINT  NOT NULL,
    channel             TEXT,
    reference           TEXT,
    status              TEXT    NOT NULL,
    approval_id         TEXT,
    trade_number        TEXT,
    requested_at        TEXT    NOT NULL,
    requested_position  BIGINT  NOT NULL,
    booked_position     BIGINT,
    reversed_position   BIGINT,
    reversal_reason     TEXT,
    PRIMARY KEY (kind, movement_id)
);
CREATE INDEX rm_money_movements_by_customer ON rm_money_movements (customer_id, kind, requested_position);
CREATE INDEX rm_money_movements_by_approval ON rm_money_movements (approval_id);
CREATE INDEX rm_orgs_by_parent ON rm_orgs (parent_id, position);
CREATE INDEX rm_tokens_by_principal ON rm_tokens (principal_id);
