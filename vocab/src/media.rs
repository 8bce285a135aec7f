//! What processing a media item found, made and took: its report, as the media workers write
//! it and the document store keeps it.

use chrono::Utc;
use serde::{Deserialize, Serialize};

/// One step of a worker's processing and how long it took.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub ms: f64,
}

/// An object made from an item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendition {
    /// `large`, `small` or `poster`.
    pub name: String,
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// What processing found, made and took: the item's media metadata document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingReport {
    pub kind: String,
    pub content_type: String,
    pub byte_size: i64,
    /// The attempt that finished it (1 unless a worker died on it before).
    pub attempt: i32,
    /// READY or FAILED.
    pub outcome: String,
    pub error: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_seconds: Option<f64>,
    pub format: Option<String>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    /// The EXIF orientation applied to a still (1: none).
    pub orientation: Option<u8>,
    /// How a still was decoded (format, JPEG scale).
    pub decoded: Option<String>,
    /// The peak resident memory of the process a still was decoded in, in bytes (absent from
    /// reports written before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    pub renditions: Vec<Rendition>,
    pub steps: Vec<Step>,
    pub started_at: chrono::DateTime<Utc>,
    pub finished_at: Option<chrono::DateTime<Utc>>,
}
