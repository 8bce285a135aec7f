//! The activity feed: one entry per committed event, shown to everyone in its `audience` (the
//! actor and the people whose jobs, applications or groups it touched). `_id` is the event id.

use super::notifications::only_duplicates;
use super::{DocResult, Documents, Position};
use futures_util::TryStreamExt;
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
    match docs
        .collection::<ActivityDoc>(COLLECTION)
        .insert_one(entry)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if only_duplicates(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A page of `user`'s feed, newest first, and whether more follow.
pub async fn page(
    docs: &Documents,
    user: &str,
    after: Option<&Position>,
    first: usize,
) -> DocResult<(Vec<ActivityDoc>, bool)> {
    let mut filter = doc! { "audience": user };
    if let Some(after) = after {
        filter.extend(after.after());
    }
    let mut found: Vec<ActivityDoc> = docs
        .collection::<ActivityDoc>(COLLECTION)
        .find(filter)
        .sort(doc! { "key": -1 })
        .limit(first as i64 + 1)
        .await?
        .try_collect()
        .await?;
    let more = found.len() > first;
    found.truncate(first);
    Ok((found, more))
}
