-- Vectors of talent profiles and jobs (from the configured embeddings endpoint), and the
-- backlog of subjects whose text changed since they were last embedded.
--
-- Vectors are little-endian float32 arrays; `content_hash` is SHA-256 of the model, the
-- dimensions and the text, so unchanged text is never sent again.

CREATE TABLE talent_embeddings (
    talent_id    UUID NOT NULL REFERENCES talent_profiles (user_id) ON DELETE CASCADE,
    -- PROFILE: everything searchable; WORKS: notable works; DREAMS: dream gigs.
    part         TEXT NOT NULL CHECK (part IN ('PROFILE', 'WORKS', 'DREAMS')),
    model        TEXT NOT NULL,
    dims         INT NOT NULL CHECK (dims > 0),
    content_hash BYTEA NOT NULL,
    vector       BYTEA NOT NULL,
    embedded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (talent_id, part),
    CONSTRAINT talent_embeddings_length CHECK (octet_length(vector) = 4 * dims)
);

CREATE TABLE job_embeddings (
    job_id       UUID PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    dims         INT NOT NULL CHECK (dims > 0),
    content_hash BYTEA NOT NULL,
    vector       BYTEA NOT NULL,
    embedded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT job_embeddings_length CHECK (octet_length(vector) = 4 * dims)
);

-- One row per subject however often it changed; written in the change's own transaction.
-- A worker leases rows (`leased_until`) so instances share the work; a row re-queued while
-- leased keeps its newer `queued_at` and survives the lease holder's settle.
CREATE TABLE embedding_backlog (
    subject_id   UUID PRIMARY KEY,
    subject      TEXT NOT NULL CHECK (subject IN ('TALENT', 'JOB')),
    queued_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    attempts     INT NOT NULL DEFAULT 0,
    leased_until TIMESTAMPTZ,
    last_error   TEXT
);
CREATE INDEX embedding_backlog_queue_idx ON embedding_backlog (queued_at);

INSERT INTO embedding_backlog (subject_id, subject) SELECT user_id, 'TALENT' FROM talent_profiles;
INSERT INTO embedding_backlog (subject_id, subject)
    SELECT id, 'JOB' FROM jobs WHERE status IN ('DRAFT', 'OPEN');
