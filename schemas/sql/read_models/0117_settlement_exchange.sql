-- A settlement paid in a foreign currency (issue 12): each foreign part as it was paid (owed,
-- booked, the rate of the day with its source and date, paid, the exchange difference), JSON.
-- No payment before this had one, so nothing is refolded.
ALTER TABLE rm_settlements ADD COLUMN exchange TEXT;
