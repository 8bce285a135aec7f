//! The document store (MongoDB): the notification inbox, the activity feed, the audit log and
//! the explain log (what discover feeds showed) and AI results (what each model call cost).
//! Every query here has an index, created at start (idempotently) by `Documents::prepare`.
//! Documents are written only by the outbox's document consumer, from committed events, with
//! ids derived from the event, so a redelivered event never makes a second document.

pub mod activity;
pub mod ai_results;
pub mod audit;
pub mod explain;
pub mod media_metadata;
pub mod notifications;

use crate::configuration::MongoSettings;
use crate::domain::page::CursorKey;
use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use secrecy::ExposeSecret;
use std::time::Duration;

pub use mongodb::bson;

/// A handle on the document database; cheap to clone.
#[derive(Clone)]
pub struct Documents {
    db: Database,
    notification_ttl: Duration,
    explain_retention: Duration,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("database", &self.db.name())
            .finish()
    }
}

/// The driver's error; its message never includes the URI's credentials.
pub type DocResult<T> = Result<T, mongodb::error::Error>;

impl Documents {
    /// A client for `settings` (it connects lazily, so the server may start before MongoDB).
    pub async fn connect(settings: &MongoSettings) -> anyhow::Result<Documents> {
        let mut options = ClientOptions::parse(settings.uri.expose_secret())
            .await
            .map_err(|e| anyhow::anyhow!("mongodb.uri: {}", e.kind))?;
        options.app_name = Some("castyou".into());
        options.server_selection_timeout = Some(Duration::from_secs(5));
        options.connect_timeout = Some(Duration::from_secs(5));
        let client = Client::with_options(options)?;
        Ok(Documents {
            db: client.database(&settings.database),
            explain_retention: Duration::from_secs(
                u64::try_from(settings.explain_retention_days).unwrap_or(400) * 86_400,
            ),
            notification_ttl: Duration::from_secs(
                u64::try_from(settings.notification_ttl_days).unwrap_or(180) * 86_400,
            ),
        })
    }

    pub(crate) fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        self.db.collection(name)
    }

    /// Whether MongoDB answers.
    pub async fn ping(&self) -> DocResult<()> {
        self.db.run_command(doc! { "ping": 1 }).await.map(drop)
    }

    /// Creates every index (a no-op for those that exist). A changed notification TTL is
    /// applied to the existing index.
    pub async fn prepare(&self) -> DocResult<()> {
        let ttl = self.notification_ttl;
        let plain = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build()
        };
        self.collection::<Document>(notifications::COLLECTION)
            .create_indexes([
                plain(doc! { "userId": 1, "key": -1 }, "inbox_newest_first"),
                plain(doc! { "userId": 1, "readAt": 1 }, "inbox_unread"),
            ])
            .await?;
        self.expire(
            notifications::COLLECTION,
            "createdAt",
            "notifications_expire",
            ttl,
        )
        .await?;
        self.collection::<Document>(explain::COLLECTION)
            .create_indexes([
                plain(doc! { "key": -1 }, "newest_first"),
                plain(doc! { "jobId": 1, "key": -1 }, "by_job"),
                plain(
                    doc! { "jobId": 1, "viewerId": 1, "key": -1 },
                    "by_job_and_viewer",
                ),
            ])
            .await?;
        self.expire(
            explain::COLLECTION,
            "at",
            "explain_expire",
            self.explain_retention,
        )
        .await?;
        self.collection::<Document>(ai_results::COLLECTION)
            .create_indexes([plain(doc! { "jobId": 1, "at": -1 }, "by_job")])
            .await?;
        self.collection::<Document>(activity::COLLECTION)
            .create_indexes([plain(
                doc! { "audience": 1, "key": -1 },
                "feed_newest_first",
            )])
            .await?;
        self.collection::<Document>(audit::COLLECTION)
            .create_indexes([
                plain(doc! { "key": -1 }, "newest_first"),
                plain(doc! { "actorId": 1, "key": -1 }, "by_actor"),
                plain(doc! { "objectId": 1, "key": -1 }, "by_object"),
            ])
            .await?;
        Ok(())
    }
}

impl Documents {
    /// A TTL index on `field`; a changed setting is applied to the existing index.
    async fn expire(
        &self,
        collection: &str,
        field: &str,
        name: &str,
        ttl: Duration,
    ) -> DocResult<()> {
        let index = IndexModel::builder()
            .keys(doc! { field: 1 })
            .options(
                IndexOptions::builder()
                    .name(name.to_string())
                    .expire_after(ttl)
                    .build(),
            )
            .build();
        match self
            .collection::<Document>(collection)
            .create_index(index)
            .await
        {
            Ok(_) => Ok(()),
            // IndexOptionsConflict: the TTL setting changed since the index was made.
            Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 85) => {
                self.db
                    .run_command(doc! {
                        "collMod": collection,
                        "index": { "name": name, "expireAfterSeconds": ttl.as_secs() as i64 },
                    })
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether every failure of an insert was a duplicate key (E11000).
pub(crate) fn only_duplicates(e: &mongodb::error::Error) -> bool {
    use mongodb::error::ErrorKind;
    match &*e.kind {
        ErrorKind::InsertMany(failure) => {
            failure.write_concern_error.is_none()
                && failure
                    .write_errors
                    .as_ref()
                    .is_some_and(|errors| errors.iter().all(|w| w.code == 11000))
        }
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => w.code == 11000,
        _ => false,
    }
}

/// Inserts `doc` unless a document with its id is stored already (a redelivered event).
pub(crate) async fn insert_once<T>(docs: &Documents, collection: &str, doc: &T) -> DocResult<()>
where
    T: serde::Serialize + Send + Sync,
{
    match docs.collection::<T>(collection).insert_one(doc).await {
        Ok(_) => Ok(()),
        Err(e) if only_duplicates(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Up to `first` documents matching `filter` after `after`, newest first (by `key`), and
/// whether more follow.
pub(crate) async fn newest_first<T>(
    docs: &Documents,
    collection: &str,
    mut filter: Document,
    after: Option<&Position>,
    first: usize,
) -> DocResult<(Vec<T>, bool)>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    use futures_util::TryStreamExt;
    if let Some(after) = after {
        filter.extend(after.after());
    }
    let mut found: Vec<T> = docs
        .collection::<T>(collection)
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

/// Milliseconds since the epoch as a BSON date.
pub fn bson_time(at: chrono::DateTime<chrono::Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

pub fn chrono_time(at: bson::DateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or_default()
}

/// Every list is ordered by one string field, `key`: the document's time (milliseconds, zero
/// padded) then its id, so "newest first" is one index-backed sort with no ties.
pub fn sort_key(at: bson::DateTime, id: &str) -> String {
    format!("{:015}:{id}", at.timestamp_millis().max(0))
}

/// A page position, newest first: the time and id of the last document seen, as an opaque
/// cursor (`<millis>:<id>` in URL-safe base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub at: i64,
    pub id: String,
}

/// Written `<millis>:<id>`.
impl CursorKey for Position {
    fn write(&self) -> String {
        format!("{}:{}", self.at, self.id)
    }

    fn read(text: &str) -> Option<Position> {
        let (at, id) = text.split_once(':')?;
        if id.is_empty() || id.len() > 100 {
            return None;
        }
        Some(Position {
            at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

impl Position {
    /// The filter for documents after this position, newest first.
    pub fn after(&self) -> Document {
        let key = sort_key(bson::DateTime::from_millis(self.at), &self.id);
        doc! { "key": { "$lt": key } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_garbage_is_refused() {
        let p = Position {
            at: 1_700_000_000_123,
            id: "abc-def".into(),
        };
        assert_eq!(Position::decode(&p.encode()), Some(p));
        assert_eq!(Position::decode("not base64!"), None);
        assert_eq!(Position::decode(""), None);
    }
}
