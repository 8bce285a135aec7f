CREATE INDEX talent_profiles_stage_name_trgm ON talent_profiles USING GIN (lower(stage_name) gin_trgm_ops);
ALTER FUNCTION talent_name_codes_of(TEXT) ROWS 1000;
DROP TRIGGER talent_words_refresh ON talent_profiles;
DROP FUNCTION talent_words_refresh();
DROP FUNCTION talent_words_of(TEXT, TEXT);
DROP TABLE talent_words;
DROP TABLE search_words;
