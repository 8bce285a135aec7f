//! The lexical lists of talent search, each answered from an index: full text (the name's
//! 'simple' vector and the English vector of what a talent did, GIN), name candidates for typo
//! tolerance (trigram GIN on the lower-cased stage name, `%>` with the threshold set for the
//! transaction only) and phonetic keys (`talent_name_codes`, primary key on the code).

use super::PgConn;
use crate::domain::ids::UserId;
use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = SqlUuid)]
    user_id: UserId,
}

#[derive(QueryableByName)]
pub struct Candidate {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: UserId,
    #[diesel(sql_type = Text)]
    pub stage_name: String,
}

/// What the three lexical lists found: full-text hits, name candidates, phonetic hits.
pub struct Lists {
    pub full_text: Vec<UserId>,
    pub candidates: Vec<Candidate>,
    pub phonetic: Vec<UserId>,
}

/// The three lexical lists, read in one transaction with JIT compilation off (it costs more
/// than these short queries) and the trigram threshold set for this transaction only
/// (connections are pooled).
pub async fn lists(
    conn: &mut PgConn,
    query: &str,
    name_words: &[String],
    latin_words: &[String],
    threshold: f32,
    limit: i64,
) -> diesel::QueryResult<Lists> {
    let (query, name_words, latin_words) =
        (query.to_string(), name_words.to_vec(), latin_words.to_vec());
    conn.transaction::<_, diesel::result::Error, _>(async move |c| {
        diesel::sql_query("SET LOCAL jit = off").execute(c).await?;
        diesel::sql_query(format!(
            "SET LOCAL pg_trgm.word_similarity_threshold = {}",
            threshold.clamp(0.0, 1.0)
        ))
        .execute(c)
        .await?;
        let full_text = full_text(c, &query, limit).await?;
        let candidates = if name_words.is_empty() {
            Vec::new()
        } else {
            name_candidates(c, &name_words, limit).await?
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
pub const FULL_TEXT_RANKED: i64 = 2_000;

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

/// Up to `limit` talents per word whose stage name has a part similar to the word (trigram
/// word similarity at least the transaction's threshold).
async fn name_candidates(
    conn: &mut PgConn,
    words: &[String],
    limit: i64,
) -> diesel::QueryResult<Vec<Candidate>> {
    let mut all = Vec::new();
    for word in words {
        let found: Vec<Candidate> = diesel::sql_query(
            "SELECT user_id, stage_name FROM talent_profiles
             WHERE lower(stage_name) %> $1
             ORDER BY $1 <<-> lower(stage_name), user_id
             LIMIT $2",
        )
        .bind::<Text, _>(word)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?;
        all.extend(found);
    }
    Ok(all)
}

#[derive(QueryableByName)]
struct Sounded {
    #[diesel(sql_type = SqlUuid)]
    user_id: UserId,
}

/// Talents whose stage name has words that sound like `words` (double metaphone, primary or
/// alternate), most words matched first.
pub async fn phonetic(
    conn: &mut PgConn,
    words: &[String],
    limit: i64,
) -> diesel::QueryResult<Vec<UserId>> {
    let found: Vec<Sounded> = diesel::sql_query(
        "SELECT c.talent_id AS user_id
         FROM (SELECT word, talent_name_codes_of(word) AS code FROM unnest($1::text[]) AS word) AS q
         JOIN talent_name_codes AS c ON c.code = q.code
         GROUP BY c.talent_id
         ORDER BY count(DISTINCT q.word) DESC, c.talent_id
         LIMIT $2",
    )
    .bind::<Array<Text>, _>(words)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(found.into_iter().map(|f| f.user_id).collect())
}
