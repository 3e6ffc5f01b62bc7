-- Invoices as a finance team handles them (issue 12): what an invoice prints (type, title, tax
-- id, address and bank, the orders it covers, the tax rate and the tax in it), its delivery,
-- its void, and the red-letter invoices that reversed part of it. Invoices of the first
-- contract keep these empty (an ordinary invoice without details); no refold is needed.
ALTER TABLE rm_invoices ADD COLUMN invoice_type TEXT;
ALTER TABLE rm_invoices ADD COLUMN details TEXT;
ALTER TABLE rm_invoices ADD COLUMN tax_rate TEXT;
ALTER TABLE rm_invoices ADD COLUMN tax_amount BIGINT;
ALTER TABLE rm_invoices ADD COLUMN red_lettered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rm_invoices ADD COLUMN red_letters TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rm_invoices ADD COLUMN delivered_position BIGINT;
ALTER TABLE rm_invoices ADD COLUMN voided_position BIGINT;
ALTER TABLE rm_invoices ADD COLUMN void_reason TEXT;
-- What was invoiced beyond what was paid once refunds gave money back (`State::over_invoiced`):
-- a red-letter or voided invoice makes up for it first. The invoices projection starts again
-- from 0 to fill it (a customer is one row).
ALTER TABLE rm_invoiceable ADD COLUMN over_invoiced BIGINT NOT NULL DEFAULT 0;
DELETE FROM rm_invoiceable;
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'invoices';
