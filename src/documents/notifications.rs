//! The notification inbox: one document per event and recipient. Its `_id` is derived from
//! both, so storing the same notification twice keeps one.

use super::{DocResult, Documents, Position};
use mongodb::bson::{self, doc, Document};
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "notifications";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationDoc {
    /// A UUID (v5) of the event id and the recipient.
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub event_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The ids an app needs to navigate: jobId, applicationId, groupId...
    pub data: Document,
    pub read_at: Option<bson::DateTime>,
    pub created_at: bson::DateTime,
    /// The order of the inbox (see `documents::sort_key`).
    pub key: String,
}

/// Stores notifications; those already stored (a redelivered event) are left as they are.
pub async fn store(docs: &Documents, notifications: &[NotificationDoc]) -> DocResult<()> {
    if notifications.is_empty() {
        return Ok(());
    }
    let collection = docs.collection::<NotificationDoc>(COLLECTION);
    match collection.insert_many(notifications).ordered(false).await {
        Ok(_) => Ok(()),
        Err(e) if super::only_duplicates(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

fn owner_filter(user: &str, unread_only: bool) -> Document {
    let mut filter = doc! { "userId": user };
    if unread_only {
        // `readAt` is always written (null until read): match the stored null exactly.
        filter.insert("readAt", doc! { "$type": "null" });
    }
    filter
}

/// A page of `user`'s notifications, newest first, and whether more follow.
pub async fn page(
    docs: &Documents,
    user: &str,
    unread_only: bool,
    after: Option<&Position>,
    first: usize,
) -> DocResult<(Vec<NotificationDoc>, bool)> {
    super::newest_first(
        docs,
        COLLECTION,
        owner_filter(user, unread_only),
        after,
        first,
    )
    .await
}

pub async fn count(docs: &Documents, user: &str, unread_only: bool) -> DocResult<u64> {
    docs.collection::<NotificationDoc>(COLLECTION)
        .count_documents(owner_filter(user, unread_only))
        .await
}

/// Marks `user`'s unread notifications read (at the server's current time): those in `ids`,
/// or all of them when `ids` is None. Returns how many changed.
pub async fn mark_read(docs: &Documents, user: &str, ids: Option<&[String]>) -> DocResult<u64> {
    let mut filter = owner_filter(user, true);
    if let Some(ids) = ids {
        filter.insert("_id", doc! { "$in": ids });
    }
    let result = docs
        .collection::<NotificationDoc>(COLLECTION)
        .update_many(filter, doc! { "$currentDate": { "readAt": true } })
        .await?;
    Ok(result.modified_count)
}
