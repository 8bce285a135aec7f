DROP INDEX outbox_events_undocumented_idx;
DELETE FROM outbox_events WHERE kind = 'AUDIT';
ALTER TABLE outbox_events DROP COLUMN documented_at;
