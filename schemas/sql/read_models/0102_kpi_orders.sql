-- The items of each order with their waterfall, as `OrderPlaced` recorded them. A payment
-- (record format v2) names only its order; the KPIs split its figures by these items.
CREATE TABLE rm_kpi_orders (
    order_id        TEXT    PRIMARY KEY,
    items           TEXT    NOT NULL
);
