DROP TRIGGER IF EXISTS talent_name_codes_refresh ON talent_profiles;
DROP FUNCTION IF EXISTS talent_name_codes_refresh();
DROP FUNCTION IF EXISTS talent_name_codes_of(TEXT);
DROP TABLE IF EXISTS talent_name_codes;
DROP INDEX IF EXISTS talent_profiles_search_en_idx;
ALTER TABLE talent_profiles DROP COLUMN IF EXISTS search_en;
DROP INDEX IF EXISTS talent_profiles_stage_name_trgm;
DROP EXTENSION IF EXISTS fuzzystrmatch;
DROP EXTENSION IF EXISTS pg_trgm;
