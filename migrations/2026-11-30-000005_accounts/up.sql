-- Verified emails and password resets. `email_verified_at` is set when the owner of the address
-- proves it (the verification mail, a password reset, or a provider that vouches for it).
-- Accounts made or linked through a provider had their address vouched for already.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
UPDATE users SET email_verified_at = created_at
  WHERE id IN (SELECT user_id FROM user_identities);

-- Single-use tokens sent by mail, stored only as SHA-256 hashes. `email` is the address the
-- token was sent to: verifying proves that address, and only while it is still the account's.
CREATE TYPE account_token_purpose AS ENUM ('VERIFY_EMAIL', 'RESET_PASSWORD');
CREATE TABLE account_tokens (
  token_hash  BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
  user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose     account_token_purpose NOT NULL,
  email       TEXT NOT NULL CHECK (length(email) <= 254),
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at  TIMESTAMPTZ NOT NULL,
  used_at     TIMESTAMPTZ,
  CHECK (expires_at > created_at)
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose, created_at DESC);

-- The mail consumer reads the outbox on its own (`mailed_at`), like the bus relay and the
-- document consumer. Only mail events wait for it: they are written with `mailed_at` NULL, and
-- every other row (those already here included) is done for it from the start.
ALTER TABLE outbox_events ADD COLUMN mailed_at TIMESTAMPTZ DEFAULT now();
CREATE INDEX outbox_events_unmailed_idx ON outbox_events (seq) WHERE mailed_at IS NULL;
