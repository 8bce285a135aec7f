//! The activity feed: one entry per committed event, shown to everyone in its `audience` (the
//! actor and the people whose jobs, applications or groups it touched). `_id` is the event id.

use super::{DocResult, Documents, Position};
use mongodb::bson::{self, doc};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "activity";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub audience: Vec<String>,
    pub verb: String,
    pub actor_id: Option<String>,
    pub object_type: String,
    pub object_id: String,
    pub summary: String,
    pub at: bson::DateTime,
    /// The order of the feed (see `documents::sort_key`).
    pub key: String,
}

/// Stores an entry; one already stored is left as it is.
pub async fn store(docs: &Documents, entry: &ActivityDoc) -> DocResult<()> {
    super::insert_once(docs, COLLECTION, entry).await
}

/// A page of `user`'s feed, newest first, and whether more follow.
pub async fn page(
    docs: &Documents,
    user: &str,
    after: Option<&Position>,
    first: usize,
) -> DocResult<(Vec<ActivityDoc>, bool)> {
    super::newest_first(docs, COLLECTION, doc! { "audience": user }, after, first).await
}
