-- The transactional outbox: every change others must hear about writes one row here in the
-- same transaction as the change. The relay delivers rows in `seq` order and marks them.
-- `job_id` names the job whose pipeline watchers hear of the event (null outside a pipeline);
-- the users who hear of it are listed in the payload's `userIds`.

CREATE TABLE outbox_events (
    seq           BIGSERIAL PRIMARY KEY,
    id            UUID NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    job_id        UUID,
    payload       JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at  TIMESTAMPTZ,
    CONSTRAINT outbox_events_kind CHECK (kind ~ '^[A-Z_]{1,64}$'),
    CONSTRAINT outbox_events_payload_object CHECK (jsonb_typeof(payload) = 'object')
);
CREATE INDEX outbox_events_undelivered_idx ON outbox_events (seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_events_delivered_idx ON outbox_events (delivered_at) WHERE delivered_at IS NOT NULL;

-- Wakes the relay when a transaction that wrote events commits (NOTIFY is sent at commit).
CREATE FUNCTION outbox_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('castyou_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_notify
    AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_notify();
