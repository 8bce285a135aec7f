ALTER TABLE embedding_backlog DROP COLUMN lease;
ALTER TABLE media_items DROP COLUMN last_error, DROP COLUMN lease;
