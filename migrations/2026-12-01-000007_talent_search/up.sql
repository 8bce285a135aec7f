-- Hybrid talent search: typo-tolerant names (pg_trgm), phonetic names (fuzzystrmatch's double
-- metaphone) and English full text over what talents did. Both extensions ship with
-- PostgreSQL's contrib package.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

-- Names: trigram candidates for typo tolerance (re-ranked by edit distance in the server).
CREATE INDEX talent_profiles_stage_name_trgm ON talent_profiles USING GIN (lower(stage_name) gin_trgm_ops);

-- What a talent did, stemmed in English ("played a detective" finds "detectives"): headline,
-- bio and the titles and roles of notable works. The name keeps the 'simple' `search` vector.
ALTER TABLE talent_profiles ADD COLUMN search_en TSVECTOR GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(headline, '')), 'B') ||
    setweight(to_tsvector('english', coalesce(bio, '')), 'C') ||
    setweight(jsonb_to_tsvector('english', notable_works, '["string"]'), 'B')
) STORED;
CREATE INDEX talent_profiles_search_en_idx ON talent_profiles USING GIN (search_en);

-- Phonetic keys of each Latin-script word of a stage name (primary and alternate double
-- metaphone). Names in other scripts have none: the fuzzy list finds them.
CREATE TABLE talent_name_codes (
    code      TEXT NOT NULL,
    talent_id UUID NOT NULL REFERENCES talent_profiles (user_id) ON DELETE CASCADE,
    PRIMARY KEY (code, talent_id)
);
CREATE INDEX talent_name_codes_talent_idx ON talent_name_codes (talent_id);

CREATE FUNCTION talent_name_codes_of(name TEXT) RETURNS SETOF TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT code
    FROM regexp_split_to_table(name, '[^A-Za-z]+') AS word,
         LATERAL (VALUES (dmetaphone(word)), (dmetaphone_alt(word))) AS codes (code)
    WHERE char_length(word) >= 2 AND code <> ''
$$;

CREATE FUNCTION talent_name_codes_refresh() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM talent_name_codes WHERE talent_id = NEW.user_id;
    INSERT INTO talent_name_codes (code, talent_id)
    SELECT code, NEW.user_id FROM talent_name_codes_of(NEW.stage_name) AS code;
    RETURN NEW;
END
$$;

CREATE TRIGGER talent_name_codes_refresh
    AFTER INSERT OR UPDATE OF stage_name ON talent_profiles
    FOR EACH ROW EXECUTE FUNCTION talent_name_codes_refresh();

INSERT INTO talent_name_codes (code, talent_id)
SELECT code, user_id FROM talent_profiles, LATERAL talent_name_codes_of(stage_name) AS code
ON CONFLICT DO NOTHING;
