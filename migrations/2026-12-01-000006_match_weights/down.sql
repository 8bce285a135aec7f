ALTER TABLE jobs DROP COLUMN match_weights;
