DROP INDEX outbox_events_unmailed_idx;
ALTER TABLE outbox_events DROP COLUMN mailed_at;
DROP TABLE account_tokens;
DROP TYPE account_token_purpose;
ALTER TABLE users DROP COLUMN email_verified_at;
