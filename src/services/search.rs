//! Hybrid talent search: ranked lists from several indexes, fused by reciprocal rank fusion.
//!
//! The three lexical lists come from this instance's lexical index (`clients::lexical`, kept
//! current by `services::lexical`):
//!
//! - FULL_TEXT: every word in the name (folded, any script) or every word in what the talent
//!   did (English stemming and stop words: headline, bio, notable works), ranked by BM25.
//! - FUZZY: typo tolerance on the words of stage names and headlines, by optimal string
//!   alignment, where a swapped pair of letters is one typo: a word of 4–8 letters may have one
//!   typo, 9 or more two (at least Meilisearch's rule, which allows none under 5), shorter
//!   words must match exactly. Talents rank by query words matched, then words found in the
//!   stage name rather than only the headline, then fewer typos. Words in any script are
//!   compared this way.
//! - PHONETIC: double metaphone keys of the Latin-script words of the query against those of
//!   stage names ("Jon Smyth" finds "John Smith"); most words matched first.
//! - SEMANTIC (with an endpoint, when asked): the talents whose profile vectors are nearest
//!   the query's (HNSW, cosine similarity at least `ai.semantic_min_similarity`). The query's
//!   vector is cached in Redis by a hash of the model and the text; an endpoint that fails
//!   leaves the list empty and the search answers from the other three. Each query embedded
//!   (a paid model call) spends a unit of the user's budget (`ai.user_query_embeddings` per
//!   `ai.user_budget_window_secs`); once it is spent, searches answer from the lexical lists.
//!
//! Fusion: `score = Σ 1 / (60 + rank)` over the lists that found a talent (rank from 1; k = 60
//! as in Cormack et al.), ties by talent id. Each lexical list goes `LIST_DEPTH` deep and the
//! semantic one `SEMANTIC_DEPTH`, so a search pages through at most a few hundred talents;
//! cursors are positions in the fused list.

use super::{signed_in, AppState, Viewer};
use crate::clients::lexical::MAX_NAME_WORDS;
use crate::db;
use crate::domain::ids::UserId;
use crate::domain::page::{self, page_size, CursorKey};
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use std::collections::HashMap;

/// How deep each lexical list goes.
pub const LIST_DEPTH: i64 = 200;
/// How deep the semantic list goes: nearest neighbours past the first 50 are weak matches,
/// and the HNSW search explores at least this many candidates (200 cost four times the CPU).
pub const SEMANTIC_DEPTH: usize = 50;
/// The rank constant of reciprocal rank fusion.
pub const RRF_K: f64 = 60.0;
/// Query length limits, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// Which list found a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
pub enum SearchSignal {
    FullText,
    Fuzzy,
    Phonetic,
    Semantic,
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub talent_id: UserId,
    pub score: f64,
    pub signals: Vec<SearchSignal>,
    pub cursor: String,
}

pub struct SearchPage {
    pub hits: Vec<Hit>,
    pub has_next: bool,
}

/// Lower-cased words of `text` (letters and digits of any script).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

pub use crate::clients::lexical::typo_budget;

/// The typos between a query word and a word of a name or headline, if within the query
/// word's budget.
pub fn word_typos(query: &str, word: &str) -> Option<usize> {
    let typos = strsim::osa_distance(query, word);
    (typos <= typo_budget(query.chars().count())).then_some(typos)
}

/// Fuses ranked lists: each talent's score is the sum of 1 / (k + rank) over the lists that
/// have it; best first, ties by id.
pub fn fuse(lists: &[(SearchSignal, Vec<UserId>)]) -> Vec<(UserId, f64, Vec<SearchSignal>)> {
    let mut fused: HashMap<UserId, (f64, Vec<SearchSignal>)> = HashMap::new();
    for (signal, list) in lists {
        for (i, id) in list.iter().enumerate() {
            let entry = fused.entry(*id).or_default();
            entry.0 += 1.0 / (RRF_K + (i + 1) as f64);
            if !entry.1.contains(signal) {
                entry.1.push(*signal);
            }
        }
    }
    let mut out: Vec<(UserId, f64, Vec<SearchSignal>)> = fused
        .into_iter()
        .map(|(id, (score, mut signals))| {
            signals.sort();
            (id, score, signals)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// A place in a search's fused ranking, written `s1:<place>`.
struct Place(usize);

impl CursorKey for Place {
    fn write(&self) -> String {
        format!("s1:{}", self.0)
    }

    fn read(text: &str) -> Option<Place> {
        text.strip_prefix("s1:")?.parse().ok().map(Place)
    }
}

/// The cursor of the result at `place`.
fn cursor(place: usize) -> String {
    Place(place).encode()
}

/// Where a page after `after` starts.
fn position(after: Option<&str>) -> AppResult<usize> {
    Ok(page::after::<Place>(after)?.map_or(0, |Place(p)| p + 1))
}

/// The talents nearest the query's meaning (empty without an endpoint, when not asked, or
/// when the endpoint or the index cannot answer now).
async fn semantic_list(state: &AppState, user: UserId, query: &str, wanted: bool) -> Vec<UserId> {
    let Some(ai) = state.ai.as_ref().filter(|_| wanted) else {
        return Vec::new();
    };
    if !state.semantic.is_built() {
        return Vec::new();
    }
    let Some(vector) = query_vector(state, ai, user, query).await else {
        return Vec::new();
    };
    let min = state.settings.ai.semantic_min_similarity;
    match state.semantic.search(vector, SEMANTIC_DEPTH, min).await {
        Ok(found) => found.into_iter().map(|(id, _)| UserId(id)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "semantic search unavailable; lexical lists only");
            Vec::new()
        }
    }
}

/// The query's vector: from Redis when cached, else from the endpoint (then cached).
async fn query_vector(
    state: &AppState,
    ai: &crate::clients::ai::Ai,
    user: UserId,
    query: &str,
) -> Option<Vec<f32>> {
    use redis::AsyncCommands;
    let text = ai.bounded(query).to_string();
    let hash =
        super::embeddings::content_hash(ai.embedding_model(), ai.dimensions(), "QUERY", &text);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let key = state.redis.key(&["qemb", &hex]);
    let cached = state
        .redis
        .run(|mut conn| {
            let key = &key;
            async move { conn.get::<_, Option<Vec<u8>>>(key).await }
        })
        .await;
    if let Ok(Some(bytes)) = cached {
        let v = db::embeddings::from_bytes(&bytes);
        if v.len() == ai.dimensions() {
            return Some(v);
        }
    }
    let budget = &state.settings.ai;
    if !super::gate::spend_budget(
        state,
        "query-embeddings",
        &user.to_string(),
        budget.user_query_embeddings,
        budget.user_budget_window_secs,
    )
    .await
    {
        tracing::info!(user = %user, "the user's query-embedding budget is spent; lexical lists only");
        return None;
    }
    match ai.embed(&[text]).await {
        Ok(mut embedded) => {
            let v = embedded.vectors.pop()?;
            let ttl = state.settings.ai.query_cache_ttl_secs.max(1);
            let bytes = db::embeddings::to_bytes(&v);
            let _: redis::RedisResult<()> = state
                .redis
                .run(|mut conn| async move { conn.set_ex(&key, bytes, ttl).await })
                .await;
            Some(v)
        }
        Err(e) => {
            tracing::warn!(error = %e, code = e.code(), "the query could not be embedded; lexical lists only");
            None
        }
    }
}

/// Talents found by `query` (signed-in users), best first.
pub async fn search_talents(
    state: &AppState,
    viewer: Option<Viewer>,
    query: &str,
    semantic: bool,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<SearchPage> {
    let viewer = signed_in(viewer)?;
    let query = query.trim();
    let chars = query.chars().count();
    if chars == 0 || chars > MAX_QUERY_CHARS {
        return Err(AppError::bad_input(
            "query",
            format!("must be 1 to {MAX_QUERY_CHARS} characters"),
        ));
    }
    let first = page_size(first)?;
    let start = position(after)?;
    let name_words: Vec<String> = words(query)
        .into_iter()
        .filter(|w| w.chars().count() >= 2)
        .take(MAX_NAME_WORDS)
        .collect();
    let (lexical, nearest) = tokio::join!(
        lexical_lists(state, query, name_words),
        semantic_list(state, viewer.user_id, query, semantic)
    );
    let [full_text, fuzzy, phonetic] = lexical?;

    let fused = fuse(&[
        (SearchSignal::FullText, full_text),
        (SearchSignal::Fuzzy, fuzzy),
        (SearchSignal::Phonetic, phonetic),
        (SearchSignal::Semantic, nearest),
    ]);
    let has_next = fused.len() > start + first;
    let hits = fused
        .into_iter()
        .enumerate()
        .skip(start)
        .take(first)
        .map(|(i, (talent_id, score, signals))| Hit {
            talent_id,
            score,
            signals,
            cursor: cursor(i),
        })
        .collect();
    Ok(SearchPage { hits, has_next })
}

/// The lexical lists of a query (full text, fuzzy, phonetic), from this instance's lexical
/// index once it has applied the newest profile change, searched on a blocking thread.
async fn lexical_lists(
    state: &AppState,
    query: &str,
    name_words: Vec<String>,
) -> AppResult<[Vec<UserId>; 3]> {
    let seq = super::own_writes::newest_profile(state).await;
    let index = state.lexical.current(seq).await?;
    let query = query.to_string();
    let depth = LIST_DEPTH as usize;
    let lists = tokio::task::spawn_blocking(move || -> anyhow::Result<[Vec<uuid::Uuid>; 3]> {
        let latin: Vec<String> = name_words
            .iter()
            .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
            .cloned()
            .collect();
        Ok([
            index.full_text(&query, depth)?,
            index.fuzzy(&name_words, depth)?,
            index.phonetic(&latin, depth)?,
        ])
    })
    .await
    .context("the lexical search's thread")??;
    Ok(lists.map(|list| list.into_iter().map(UserId).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_follow_the_word_length() {
        // A swapped pair of letters is one typo.
        assert_eq!(word_typos("smtih", "smith"), Some(1));
        assert_eq!(word_typos("jonh", "john"), Some(1));
        assert_eq!(word_typos("jon", "john"), None, "3 letters: exact only");
        assert_eq!(word_typos("jon", "jon"), Some(0));
        assert_eq!(word_typos("sxxth", "smith"), None);
        // Nine letters may have two typos.
        assert_eq!(word_typos("zimermanm", "zimmermann"), Some(2));
        assert_eq!(word_typos("zimermanm", "zimmermannn"), None);
        // Other scripts too.
        assert_eq!(word_typos("иванав", "иванов"), Some(1));
    }

    #[test]
    fn fusion_sums_reciprocal_ranks_and_lists_the_signals() {
        let (a, b, c) = (
            UserId(uuid::Uuid::from_u128(1)),
            UserId(uuid::Uuid::from_u128(2)),
            UserId(uuid::Uuid::from_u128(3)),
        );
        let fused = fuse(&[
            (SearchSignal::FullText, vec![a, b]),
            (SearchSignal::Fuzzy, vec![b, c]),
            (SearchSignal::Phonetic, vec![b]),
        ]);
        let order: Vec<UserId> = fused.iter().map(|f| f.0).collect();
        assert_eq!(order, vec![b, a, c]);
        let b_score = 1.0 / 62.0 + 1.0 / 61.0 + 1.0 / 61.0;
        assert!((fused[0].1 - b_score).abs() < 1e-12);
        assert_eq!(
            fused[0].2,
            vec![
                SearchSignal::FullText,
                SearchSignal::Fuzzy,
                SearchSignal::Phonetic
            ]
        );
        // a (rank 1 in one list) and c (rank 2 in another): a first.
        assert!(fused[1].1 > fused[2].1);
    }

    #[test]
    fn cursors_are_positions_and_garbage_is_refused() {
        assert_eq!(position(None).ok(), Some(0));
        assert_eq!(position(Some(&cursor(4))).ok(), Some(5));
        assert!(position(Some("nope")).is_err());
    }
}
