-- The writer's lease (issue 16): besides the advisory lock that elects the writer, the lease row
-- carries an epoch, bumped by every writer that takes the lock, and checked (and renewed) inside
-- every append transaction: a writer whose epoch is no longer the lease's appends nothing. A
-- writer renews `expires_at` while it lives; a candidate that finds it past ends the holder's
-- session (`backend_pid`), so a paused holder cannot keep the lock. `url` is where the holder
-- takes forwarded writes.

ALTER TABLE writer_lease ADD COLUMN epoch       BIGINT      NOT NULL DEFAULT 0;
ALTER TABLE writer_lease ADD COLUMN expires_at  TIMESTAMPTZ;
ALTER TABLE writer_lease ADD COLUMN backend_pid INTEGER;
ALTER TABLE writer_lease ADD COLUMN url         TEXT;
