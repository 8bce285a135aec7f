-- Typo-tolerant search over the words of stage names and headlines. A trigram index over whole
-- stage names must recheck every profile sharing a trigram with the query (thousands for a
-- common name: tens of milliseconds), so candidates are found in a dictionary of the distinct
-- words instead: small, trigram-indexed, re-ranked by edit distance in the server. Which
-- talents use each word (in the name or only in the headline) is a B-tree lookup.
CREATE TABLE search_words (
    word TEXT PRIMARY KEY
);
CREATE INDEX search_words_trgm ON search_words USING GIN (word gin_trgm_ops);

CREATE TABLE talent_words (
    word      TEXT NOT NULL,
    talent_id UUID NOT NULL REFERENCES talent_profiles (user_id) ON DELETE CASCADE,
    -- The word is in the stage name (else only in the headline).
    in_name   BOOLEAN NOT NULL,
    -- Covering: the search reads postings from the index alone.
    PRIMARY KEY (word, talent_id) INCLUDE (in_name)
);
CREATE INDEX talent_words_talent_idx ON talent_words (talent_id);

-- Lower-cased words (letters and digits of any script) of a name and a headline.
CREATE FUNCTION talent_words_of(name TEXT, headline TEXT)
RETURNS TABLE (word TEXT, in_name BOOLEAN)
LANGUAGE sql IMMUTABLE ROWS 12 AS $$
    SELECT w, bool_or(n)
    FROM (
        SELECT w, true AS n FROM regexp_split_to_table(lower(name), '[^[:alnum:]]+') AS w
        UNION ALL
        SELECT w, false FROM regexp_split_to_table(lower(coalesce(headline, '')), '[^[:alnum:]]+') AS w
    ) AS words
    WHERE char_length(w) BETWEEN 1 AND 64
    GROUP BY w
$$;

-- New words enter the dictionary in sorted order (two profiles saved at once never wait on
-- each other in opposite orders). Words no profile uses any more stay: harmless, and the
-- dictionary stays small.
CREATE FUNCTION talent_words_refresh() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM talent_words WHERE talent_id = NEW.user_id;
    INSERT INTO talent_words (word, talent_id, in_name)
    SELECT w.word, NEW.user_id, w.in_name FROM talent_words_of(NEW.stage_name, NEW.headline) AS w;
    INSERT INTO search_words (word)
    SELECT w.word FROM talent_words_of(NEW.stage_name, NEW.headline) AS w ORDER BY w.word
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;

CREATE TRIGGER talent_words_refresh
    AFTER INSERT OR UPDATE OF stage_name, headline ON talent_profiles
    FOR EACH ROW EXECUTE FUNCTION talent_words_refresh();

INSERT INTO talent_words (word, talent_id, in_name)
SELECT w.word, p.user_id, w.in_name
FROM talent_profiles AS p, LATERAL talent_words_of(p.stage_name, p.headline) AS w;
INSERT INTO search_words (word) SELECT DISTINCT word FROM talent_words ORDER BY word;

-- The phonetic list joins a name's codes (a handful) to `talent_name_codes`: with the default
-- estimate of 1,000 rows per call the planner merge-joined the whole index instead.
ALTER FUNCTION talent_name_codes_of(TEXT) ROWS 4;

-- Whole-name trigrams are no longer read.
DROP INDEX talent_profiles_stage_name_trgm;
