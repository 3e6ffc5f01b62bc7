-- Serial codes expire (issue 12): a batch's last day of activation, and its codes never
-- activated booked out past it (status `expired`, with the position that did it). No log before
-- this had an expiry, so nothing is refolded.
ALTER TABLE rm_serial_batches ADD COLUMN expires_on TEXT;
ALTER TABLE rm_serial_batches ADD COLUMN expired BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rm_serial_codes ADD COLUMN expires_on TEXT;
ALTER TABLE rm_serial_codes ADD COLUMN expired_position BIGINT;
