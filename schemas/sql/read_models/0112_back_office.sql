-- The back office's registries (issue 12): each org's status (active or closed, 注销), profile
-- (contacts, invoice details, verification, tags, notes), when it was opened and closed, a
-- supplier's agreement terms and a reseller's sale modes from later dates; each product's shelf,
-- the resellers it is hidden from and its list prices from later dates. The orgs and products
-- projections start again from 0 to fill them (an org or a product is one row: the refold is
-- quick). A new projection ('catalog') keeps what books configured: their rate tables and the
-- posting rules with every version.
ALTER TABLE rm_orgs ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE rm_orgs ADD COLUMN profile TEXT;
-- Tags as `|vip|gpu|` (a tag filter is one LIKE); the texts a search looks in, lowercased.
ALTER TABLE rm_orgs ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE rm_orgs ADD COLUMN search TEXT NOT NULL DEFAULT '';
ALTER TABLE rm_orgs ADD COLUMN opened_at TEXT;
ALTER TABLE rm_orgs ADD COLUMN closed_at TEXT;
ALTER TABLE rm_orgs ADD COLUMN supplier_terms TEXT;
ALTER TABLE rm_orgs ADD COLUMN scheduled_sale_modes TEXT;
DELETE FROM rm_orgs;
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'orgs';
CREATE INDEX rm_orgs_registry ON rm_orgs (parent_id, kind, position);

ALTER TABLE rm_products ADD COLUMN on_shelf BIGINT NOT NULL DEFAULT 1;
ALTER TABLE rm_products ADD COLUMN hidden_from TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rm_products ADD COLUMN list_prices TEXT NOT NULL DEFAULT '[]';
DELETE FROM rm_products;
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'products';

-- A book's rate table: one row per (product, scope), the last rate set for it.
CREATE TABLE rm_rates (
    book            TEXT    NOT NULL,
    product_id      TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    scope_org       TEXT    NOT NULL,
    rate            TEXT    NOT NULL,
    valid_from      TEXT,
    valid_to        TEXT,
    set_at          TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (book, product_id, scope, scope_org)
);
CREATE INDEX rm_rates_by_position ON rm_rates (book, position);

-- Every version of every posting rule, as adopted.
CREATE TABLE rm_posting_rules (
    kind            TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    lines           TEXT    NOT NULL,
    adopted_at      TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    PRIMARY KEY (kind, role, version)
);
