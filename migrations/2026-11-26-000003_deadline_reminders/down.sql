ALTER TABLE jobs DROP COLUMN deadline_reminded_at;
