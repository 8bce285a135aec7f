-- The document consumer (notifications, activity feed, audit log in MongoDB) reads the outbox
-- on its own: `documented_at` is when it stored an event's documents, as `delivered_at` is when
-- the relay published it. Events from before the document store existed are not replayed.
-- Audit entries are staged here too (kind AUDIT, with `delivered_at` set at insert: they are
-- for the document store only, never published on the bus).
ALTER TABLE outbox_events ADD COLUMN documented_at TIMESTAMPTZ;
UPDATE outbox_events SET documented_at = now();
CREATE INDEX outbox_events_undocumented_idx ON outbox_events (seq) WHERE documented_at IS NULL;
