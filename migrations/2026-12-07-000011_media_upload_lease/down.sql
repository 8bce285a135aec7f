ALTER TABLE media_items
    DROP COLUMN upload_lease,
    DROP COLUMN upload_lease_until;
