//! Media metadata: one document per processed item (READY or FAILED) with what the worker
//! found (dimensions, duration, codecs, orientation), what it made (renditions, their keys and
//! sizes) and its log of steps and timings. Keyed by the item's id, so a redelivered event
//! stores nothing twice; removed with the item.

use super::{bson_time, insert_once, DocResult, Documents};
use castyou_vocab::events::MediaProcessed;
use castyou_vocab::media::{Rendition, Step};
use mongodb::bson::doc;
use mongodb::bson::DateTime as BsonDateTime;
use serde::{Deserialize, Serialize};

pub const COLLECTION: &str = "media_metadata";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaMetadataDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub owner_id: String,
    pub kind: String,
    pub content_type: String,
    pub byte_size: i64,
    pub outcome: String,
    pub error: Option<String>,
    pub attempt: i32,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_seconds: Option<f64>,
    pub format: Option<String>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub orientation: Option<i32>,
    pub decoded: Option<String>,
    #[serde(default)]
    pub peak_memory_bytes: Option<i64>,
    pub renditions: Vec<Rendition>,
    pub steps: Vec<Step>,
    pub started_at: BsonDateTime,
    pub finished_at: Option<BsonDateTime>,
}

impl MediaMetadataDoc {
    pub fn new(processed: &MediaProcessed) -> MediaMetadataDoc {
        let r = &processed.report;
        MediaMetadataDoc {
            id: processed.media_id.to_string(),
            owner_id: processed.owner_id.to_string(),
            kind: r.kind.clone(),
            content_type: r.content_type.clone(),
            byte_size: r.byte_size,
            outcome: r.outcome.clone(),
            error: r.error.clone(),
            attempt: r.attempt,
            width: r.width,
            height: r.height,
            duration_seconds: r.duration_seconds,
            format: r.format.clone(),
            video_codec: r.video_codec.clone(),
            audio_codec: r.audio_codec.clone(),
            orientation: r.orientation.map(i32::from),
            decoded: r.decoded.clone(),
            peak_memory_bytes: r
                .peak_memory_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            renditions: r.renditions.clone(),
            steps: r.steps.clone(),
            started_at: bson_time(r.started_at),
            finished_at: r.finished_at.map(bson_time),
        }
    }
}

pub async fn store(docs: &Documents, doc: &MediaMetadataDoc) -> DocResult<()> {
    insert_once(docs, COLLECTION, doc).await
}

/// The item's document, if it was processed.
pub async fn find(docs: &Documents, id: &str) -> DocResult<Option<MediaMetadataDoc>> {
    docs.collection::<MediaMetadataDoc>(COLLECTION)
        .find_one(doc! { "_id": id })
        .await
}

/// Removes the item's document (the item was deleted).
pub async fn remove(docs: &Documents, id: &str) -> DocResult<()> {
    docs.collection::<MediaMetadataDoc>(COLLECTION)
        .delete_one(doc! { "_id": id })
        .await
        .map(drop)
}
