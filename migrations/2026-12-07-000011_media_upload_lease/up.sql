-- One writer per upload: the server's own upload endpoint (local store) takes a lease on the
-- item for the upload it streams, renewed while bytes arrive, so a second PUT to the same URL
-- is refused instead of writing a second copy, an upload after completion or deletion finds no
-- item awaiting it, and completion waits until the writer has finished.
ALTER TABLE media_items
    ADD COLUMN upload_lease UUID,
    ADD COLUMN upload_lease_until TIMESTAMPTZ;
