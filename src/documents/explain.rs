//! The explain log: one entry per discover page served — the job, who was shown it, the
//! weights and engine version, and for each talent its rank, score and nine factor scores.
//! Staged in PostgreSQL's outbox in batches after the pages are answered and shipped here by
//! the document consumer; each `_id` derives from the staged row's id and the page's place in
//! it, so shipping a row twice stores each entry once. A TTL index on
//! `at` keeps entries `mongodb.explain_retention_days`.

use super::{DocResult, Documents, Position};
use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "discover_log";

/// One talent as shown. An entry is written for every page served, so it is compact: the nine
/// factor scores in `MatchFactor` order (fixed for an `engineVersion`) and their verdicts as one
/// letter each (`M` MATCH, `P` PARTIAL, `N` NO_MATCH, `D` NO_DATA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedTalent {
    pub talent_id: String,
    /// 1-based position in the job's whole ranking (before filters).
    pub rank: i64,
    pub score: f64,
    pub scores: Vec<f64>,
    pub verdicts: String,
}

/// The letter of a verdict in `LoggedTalent::verdicts`.
pub fn verdict_letter(verdict: &str) -> char {
    match verdict {
        "MATCH" => 'M',
        "PARTIAL" => 'P',
        "NO_MATCH" => 'N',
        _ => 'D',
    }
}

/// The verdict a letter of `LoggedTalent::verdicts` stands for.
pub fn verdict_of(letter: char) -> &'static str {
    match letter {
        'M' => "MATCH",
        'P' => "PARTIAL",
        'N' => "NO_MATCH",
        _ => "NO_DATA",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedWeight {
    pub factor: String,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub job_id: String,
    pub viewer_id: String,
    pub viewer_role: String,
    pub engine_version: String,
    pub weights: Vec<LoggedWeight>,
    /// The filter and cursor of the page, as asked (JSON).
    pub request: String,
    pub talents: Vec<LoggedTalent>,
    pub at: bson::DateTime,
    /// The order of the log (see `documents::sort_key`).
    pub key: String,
}

/// Stores the entries, skipping any stored already (a redelivered row).
pub async fn store(docs: &Documents, entries: &[ExplainDoc]) -> DocResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let options = mongodb::options::InsertManyOptions::builder()
        .ordered(false)
        .build();
    match docs
        .collection::<ExplainDoc>(COLLECTION)
        .insert_many(entries)
        .with_options(options)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if super::only_duplicates(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A page of the entries of one job, newest first, optionally of one viewer.
pub async fn page(
    docs: &Documents,
    job: &str,
    viewer: Option<&str>,
    after: Option<&Position>,
    first: usize,
) -> DocResult<(Vec<ExplainDoc>, bool)> {
    let mut filter = doc! { "jobId": job };
    if let Some(viewer) = viewer {
        filter.insert("viewerId", viewer);
    }
    super::newest_first(docs, COLLECTION, filter, after, first).await
}
