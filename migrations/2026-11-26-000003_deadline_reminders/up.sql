-- When the "deadline approaching" reminder went out; cleared when the deadline moves, so the
-- reminder is sent once per deadline.
ALTER TABLE jobs ADD COLUMN deadline_reminded_at TIMESTAMPTZ;
