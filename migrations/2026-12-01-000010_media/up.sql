-- Headshots, reels and voice reels. The objects live in the configured store (a local folder or
-- an S3-compatible bucket) under keys made from the item's id only; names users give are
-- metadata. Processing results beyond what the API lists (codecs, the worker's steps) are
-- MongoDB documents.
CREATE TABLE media_items (
    id                UUID PRIMARY KEY,
    owner_id          UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL CHECK (kind IN ('HEADSHOT', 'REEL', 'VOICE_REEL')),
    status            TEXT NOT NULL CHECK (status IN ('AWAITING_UPLOAD', 'PROCESSING', 'READY', 'FAILED')),
    content_type      TEXT NOT NULL,
    byte_size         BIGINT NOT NULL CHECK (byte_size > 0),
    file_name         TEXT CHECK (char_length(file_name) <= 255),
    -- The uploaded object; the objects made from it (`m/<id>/...`).
    object_key        TEXT NOT NULL UNIQUE,
    display_key       TEXT,
    thumbnail_key     TEXT,
    progress          REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    width             INT,
    height            INT,
    duration_seconds  DOUBLE PRECISION,
    error             TEXT,
    upload_expires_at TIMESTAMPTZ NOT NULL,
    -- Processing: each item once across instances. A worker leases it until `leased_until`;
    -- a lease that runs out (the worker died) lets another take it.
    leased_until      TIMESTAMPTZ,
    attempts          INT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX media_items_owner_idx ON media_items (owner_id, created_at DESC);
CREATE INDEX media_items_processing_idx ON media_items (leased_until NULLS FIRST)
    WHERE status = 'PROCESSING';
CREATE INDEX media_items_awaiting_idx ON media_items (upload_expires_at)
    WHERE status = 'AWAITING_UPLOAD';
