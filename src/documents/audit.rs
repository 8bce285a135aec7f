//! The audit log: append-only, one entry per audited action. Entries are staged in
//! PostgreSQL's outbox at the time of the action and shipped here by the document consumer;
//! `_id` is the staged row's id, so shipping twice stores one entry.

use super::{DocResult, Documents, Position};
use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "audit";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub actor_id: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub summary: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub at: bson::DateTime,
    /// The order of the log (see `documents::sort_key`).
    pub key: String,
}

pub async fn store(docs: &Documents, entry: &AuditDoc) -> DocResult<()> {
    super::insert_once(docs, COLLECTION, entry).await
}

/// A page of the log, newest first, optionally for one actor or one object.
pub async fn page(
    docs: &Documents,
    actor: Option<&str>,
    object: Option<&str>,
    after: Option<&Position>,
    first: usize,
) -> DocResult<(Vec<AuditDoc>, bool)> {
    let mut filter = doc! {};
    if let Some(actor) = actor {
        filter.insert("actorId", actor);
    }
    if let Some(object) = object {
        filter.insert("objectId", object);
    }
    super::newest_first(docs, COLLECTION, filter, after, first).await
}
