//! The lexical lists of talent search, each answered from an index: full text (the name's
//! 'simple' vector and the English vector of what a talent did, GIN), typo-tolerant words (a
//! trigram GIN over the dictionary of distinct name and headline words, `%` with the threshold
//! set for the transaction only; then postings from `talent_words`' covering primary key) and
//! phonetic keys (`talent_name_codes`, primary key on the code).

use super::PgConn;
use crate::domain::ids::UserId;
use diesel::sql_types::{Array, BigInt, Integer, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = SqlUuid)]
    user_id: UserId,
}

/// A dictionary word similar to the query's word number `q` (from 1).
#[derive(Debug, QueryableByName)]
pub struct Candidate {
    #[diesel(sql_type = Integer)]
    pub q: i32,
    #[diesel(sql_type = Text)]
    pub word: String,
}

/// A query word to look up: the word and the typos it may have.
pub struct QueryWord {
    pub word: String,
    pub typos: i32,
}

/// What the lexical lists found: full-text hits, dictionary candidates for the typo-tolerant
/// list (to be re-ranked by edit distance), phonetic hits.
pub struct Lists {
    pub full_text: Vec<UserId>,
    pub candidates: Vec<Candidate>,
    pub phonetic: Vec<UserId>,
}

/// Trigram similarity a dictionary word needs to be a candidate: any shared trigram. One edit
/// of a word of 4 letters or more keeps at least one of its trigrams (the edge ones cannot
/// both change), so no word within the typo budget is missed; the edit distance decides.
pub const CANDIDATE_SIMILARITY: f32 = 0.1;
/// At most this many candidate words per query word.
const CANDIDATES_PER_WORD: i64 = 1_000;

/// The lexical lists, read in one transaction with JIT compilation off (it costs more than
/// these short queries) and the trigram threshold set for this transaction only (connections
/// are pooled).
pub async fn lists(
    conn: &mut PgConn,
    query: &str,
    words: &[QueryWord],
    latin_words: &[String],
    limit: i64,
) -> diesel::QueryResult<Lists> {
    let query = query.to_string();
    let (texts, typos): (Vec<String>, Vec<i32>) =
        words.iter().map(|w| (w.word.clone(), w.typos)).unzip();
    let latin_words = latin_words.to_vec();
    conn.transaction::<_, diesel::result::Error, _>(async move |c| {
        c.batch_execute(&format!(
            "SET LOCAL jit = off; SET LOCAL pg_trgm.similarity_threshold = {CANDIDATE_SIMILARITY}"
        ))
        .await?;
        let full_text = full_text(c, &query, limit).await?;
        let candidates = if texts.is_empty() {
            Vec::new()
        } else {
            candidates(c, &texts, &typos).await?
        };
        let phonetic = if latin_words.is_empty() {
            Vec::new()
        } else {
            phonetic(c, &latin_words, limit).await?
        };
        Ok(Lists {
            full_text,
            candidates,
            phonetic,
        })
    })
    .await
}

/// The most full-text matches ranked: words found in tens of thousands of profiles would
/// otherwise rank them all (seconds on 100,000 seeded profiles). Past this many, the ranked
/// ones are those the index returns first; a query that matches so many is not distinctive,
/// and the other lists still rank it.
pub const FULL_TEXT_RANKED: i64 = 500;

/// Talents whose name, headline, bio or notable works match the words of `query`, best first
/// (among at most `FULL_TEXT_RANKED` matches).
async fn full_text(conn: &mut PgConn, query: &str, limit: i64) -> diesel::QueryResult<Vec<UserId>> {
    let found: Vec<Found> = diesel::sql_query(
        "SELECT user_id FROM (
             SELECT user_id, search, search_en, qs, qe FROM talent_profiles,
                 websearch_to_tsquery('simple', $1) AS qs,
                 websearch_to_tsquery('english', $1) AS qe
             WHERE search @@ qs OR search_en @@ qe
             LIMIT $3) AS matched
         ORDER BY ts_rank_cd(search, qs) + ts_rank_cd(search_en, qe) DESC, user_id
         LIMIT $2",
    )
    .bind::<Text, _>(query)
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(FULL_TEXT_RANKED)
    .load(conn)
    .await?;
    Ok(found.into_iter().map(|f| f.user_id).collect())
}

/// Dictionary words that share a trigram with each query word and whose length is within its
/// typo budget (`%` with the transaction's `pg_trgm.similarity_threshold`).
async fn candidates(
    conn: &mut PgConn,
    words: &[String],
    typos: &[i32],
) -> diesel::QueryResult<Vec<Candidate>> {
    diesel::sql_query(
        "SELECT q.i::int AS q, d.word
         FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS q (w, typos, i)
         CROSS JOIN LATERAL (
             SELECT word FROM search_words
             WHERE word % q.w
               AND char_length(word) BETWEEN char_length(q.w) - q.typos AND char_length(q.w) + q.typos
             LIMIT $3) AS d",
    )
    .bind::<Array<Text>, _>(words)
    .bind::<Array<Integer>, _>(typos)
    .bind::<BigInt, _>(CANDIDATES_PER_WORD)
    .load(conn)
    .await
}

/// Postings read per matched word: a word in more profiles than this is not distinctive, and
/// aggregating all of its postings would cost more than the whole search should. Past it the
/// postings taken are the first by talent id; the full-text and phonetic lists still find
/// the exact and sound-alike forms.
pub const POSTINGS_PER_WORD: i64 = 2_000;

/// A matched dictionary word: which query word (from 1) it stands for, with how many typos.
pub struct Matched {
    pub word: String,
    pub q: i32,
    pub typos: i32,
}

/// Talents using the matched words, best first: more query words matched, more of them in
/// the stage name (not only the headline), fewer typos, then by id.
pub async fn typo_tolerant(
    conn: &mut PgConn,
    matched: &[Matched],
    limit: i64,
) -> diesel::QueryResult<Vec<UserId>> {
    if matched.is_empty() {
        return Ok(Vec::new());
    }
    let words: Vec<&str> = matched.iter().map(|m| m.word.as_str()).collect();
    let qs: Vec<i32> = matched.iter().map(|m| m.q).collect();
    let typos: Vec<i32> = matched.iter().map(|m| m.typos).collect();
    let found: Vec<Found> = diesel::sql_query(
        "SELECT user_id FROM (
             SELECT t.talent_id AS user_id, m.q, min(m.typos) AS typos, bool_or(t.in_name) AS in_name
             FROM unnest($1::text[], $2::int[], $3::int[]) AS m (word, q, typos)
             CROSS JOIN LATERAL (
                 SELECT talent_id, in_name FROM talent_words
                 WHERE word = m.word ORDER BY talent_id LIMIT $4) AS t
             GROUP BY t.talent_id, m.q) AS per_word
         GROUP BY user_id
         ORDER BY count(*) DESC, count(*) FILTER (WHERE in_name) DESC, sum(typos), user_id
         LIMIT $5",
    )
    .bind::<Array<Text>, _>(words)
    .bind::<Array<Integer>, _>(qs)
    .bind::<Array<Integer>, _>(typos)
    .bind::<BigInt, _>(POSTINGS_PER_WORD)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(found.into_iter().map(|f| f.user_id).collect())
}

#[derive(QueryableByName)]
struct Sounded {
    #[diesel(sql_type = SqlUuid)]
    user_id: UserId,
}

/// Talents whose stage name has words that sound like `words` (double metaphone, primary or
/// alternate), most words matched first (at most `POSTINGS_PER_WORD` talents per code).
pub async fn phonetic(
    conn: &mut PgConn,
    words: &[String],
    limit: i64,
) -> diesel::QueryResult<Vec<UserId>> {
    let found: Vec<Sounded> = diesel::sql_query(
        "SELECT talent_id AS user_id FROM (
             SELECT DISTINCT c.talent_id, q.word
             FROM (SELECT word, talent_name_codes_of(word) AS code
                   FROM unnest($1::text[]) AS word) AS q
             CROSS JOIN LATERAL (
                 SELECT talent_id FROM talent_name_codes
                 WHERE code = q.code ORDER BY talent_id LIMIT $3) AS c) AS per_word
         GROUP BY talent_id
         ORDER BY count(*) DESC, talent_id
         LIMIT $2",
    )
    .bind::<Array<Text>, _>(words)
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(POSTINGS_PER_WORD)
    .load(conn)
    .await?;
    Ok(found.into_iter().map(|f| f.user_id).collect())
}
