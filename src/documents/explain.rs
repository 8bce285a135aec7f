//! The explain log: one entry per discover page served — the job, who was shown it, the
//! weights and engine version, and for each talent its rank, score and nine factor scores.
//! Staged in PostgreSQL's outbox after the page is answered and shipped here by the document
//! consumer; `_id` is the staged row's id, so shipping twice stores one entry. A TTL index on
//! `at` keeps entries `mongodb.explain_retention_days`.

use super::{DocResult, Documents, Position};
use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "discover_log";

/// One factor of one talent as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedFactor {
    pub factor: String,
    pub score: f64,
    pub verdict: String,
}

/// One talent as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedTalent {
    pub talent_id: String,
    /// 1-based position in the job's whole ranking (before filters).
    pub rank: i64,
    pub score: f64,
    pub factors: Vec<LoggedFactor>,
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

pub async fn store(docs: &Documents, entry: &ExplainDoc) -> DocResult<()> {
    super::insert_once(docs, COLLECTION, entry).await
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
