-- Books a finance person can read (issue 15 item 4): beside its lines, the journal keeps one row
-- per event and book it booked in, with what links the lines to the log (the event's hash) and
-- what a person looks for (the order the event concerns, its business reference as that book
-- may see it: a recharge's slip, a refund's reason in the seller's book, a statement's id).
-- The journal is refolded from the log (checkpoint 0, its lines made again) so that every event
-- already applied gets its row.
CREATE TABLE rm_journal_events (
    book            TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    event_hash      TEXT    NOT NULL,
    order_id        TEXT,
    reference       TEXT,
    PRIMARY KEY (book, position)
);
DELETE FROM rm_journal;
UPDATE rm_checkpoints SET position = 0 WHERE projection = 'journal';
