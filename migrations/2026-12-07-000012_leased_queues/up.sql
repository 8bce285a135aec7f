-- One leased queue for every background job (media processing, embeddings): each claim hands
-- out a fresh lease token, and every write a worker makes names it, so a worker whose lease ran
-- out (or whose item was queued again meanwhile) changes nothing. `attempts` counts the tries
-- that failed or died; past the queue's `max_attempts` an item is dead-lettered. The reason of
-- the last failed try is kept for operators.
ALTER TABLE media_items
    ADD COLUMN lease UUID,
    ADD COLUMN last_error TEXT;
ALTER TABLE embedding_backlog
    ADD COLUMN lease UUID;
