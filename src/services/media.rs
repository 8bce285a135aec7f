//! Headshots, reels and voice reels: a talent asks for an upload URL (type, size and quota
//! checked), uploads straight to the store, and completes the upload, which checks the stored
//! object (exact size, magic bytes of the declared type) before processing starts.

use super::{signed_in, AppState, Viewer};
use crate::clients::storage::{key_of, Store, FULL, LARGE, ORIGINAL};
use crate::configuration::{MediaKindLimits, MediaSettings};
use crate::db;
use crate::db::media::{MediaRow, NewMedia, Usage as MediaUsage};
use crate::domain::ids::{MediaId, UserId};
use crate::domain::Role;
use crate::errors::{AppError, AppResult};
use anyhow::Context;
pub use castyou_vocab::media::{ProcessingReport, Rendition, Step};
use chrono::{Duration, Utc};
use diesel_async::AsyncConnection;

/// What a media item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum MediaKind {
    /// A still image.
    Headshot,
    /// A video.
    Reel,
    /// An audio recording.
    VoiceReel,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Headshot => "HEADSHOT",
            MediaKind::Reel => "REEL",
            MediaKind::VoiceReel => "VOICE_REEL",
        }
    }

    pub fn parse(s: &str) -> Option<MediaKind> {
        match s {
            "HEADSHOT" => Some(MediaKind::Headshot),
            "REEL" => Some(MediaKind::Reel),
            "VOICE_REEL" => Some(MediaKind::VoiceReel),
            _ => None,
        }
    }

    fn limits(self, state: &AppState) -> &MediaKindLimits {
        let media = &state.settings.media;
        match self {
            MediaKind::Headshot => &media.headshot,
            MediaKind::Reel => &media.reel,
            MediaKind::VoiceReel => &media.voice_reel,
        }
    }
}

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum MediaStatus {
    AwaitingUpload,
    Processing,
    Ready,
    Failed,
}

impl MediaStatus {
    pub fn parse(s: &str) -> MediaStatus {
        match s {
            "PROCESSING" => MediaStatus::Processing,
            "READY" => MediaStatus::Ready,
            "FAILED" => MediaStatus::Failed,
            _ => MediaStatus::AwaitingUpload,
        }
    }
}

/// The report of processing `row`, begun at `started_at`, before anything was found.
pub fn new_report(row: &MediaRow, started_at: chrono::DateTime<Utc>) -> ProcessingReport {
    ProcessingReport {
        kind: row.kind.clone(),
        content_type: row.content_type.clone(),
        byte_size: row.byte_size,
        attempt: row.attempts,
        outcome: String::new(),
        error: None,
        width: None,
        height: None,
        duration_seconds: None,
        format: None,
        video_codec: None,
        audio_codec: None,
        orientation: None,
        decoded: None,
        peak_memory_bytes: None,
        renditions: Vec::new(),
        steps: Vec::new(),
        started_at,
        finished_at: None,
    }
}

/// How many first bytes are read to tell a file's type (WebM's header needs a few hundred).
const SNIFF_BYTES: usize = 8192;
/// Longest file name kept (a label only).
const MAX_FILE_NAME_CHARS: usize = 255;
/// At most this many items are listed per profile and kind.
pub const LIST_CAP: i64 = 100;

/// A signed upload for a new item.
pub struct Upload {
    pub media: MediaRow,
    pub url: String,
    pub method: &'static str,
    pub headers: Vec<(String, String)>,
    pub expires_at: chrono::DateTime<Utc>,
}

/// The content type as compared with the allowlists: lower case, parameters dropped.
fn normalised_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A requested upload's type (normalised), size and file name, checked against its kind's
/// limits.
fn checked_request<'n>(
    state: &AppState,
    kind: MediaKind,
    content_type: &str,
    byte_size: i32,
    file_name: Option<&'n str>,
) -> AppResult<(String, u64, Option<&'n str>)> {
    let limits = kind.limits(state);
    let content_type = normalised_type(content_type);
    if !limits.types.contains(&content_type) {
        return Err(AppError::bad_input(
            "contentType",
            format!(
                "a {} must be one of {}",
                kind.as_str(),
                limits.types.join(", ")
            ),
        ));
    }
    let size = u64::try_from(byte_size).unwrap_or(0);
    if size == 0 || size > limits.max_bytes {
        return Err(AppError::bad_input(
            "byteSize",
            format!("a {} is 1 to {} bytes", kind.as_str(), limits.max_bytes),
        ));
    }
    let file_name = file_name.map(str::trim).filter(|n| !n.is_empty());
    if let Some(name) = file_name {
        if name.chars().count() > MAX_FILE_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(AppError::bad_input(
                "fileName",
                format!("at most {MAX_FILE_NAME_CHARS} characters, no control characters"),
            ));
        }
    }
    Ok((content_type, size, file_name))
}

/// Whether one more item of `size` bytes fits the talent's quota.
fn within_quota(media: &MediaSettings, usage: &MediaUsage, size: u64) -> AppResult<()> {
    if usage.items as u64 >= media.quota_items {
        return Err(AppError::bad_input(
            "kind",
            format!(
                "you have {} media items, the most allowed; delete one first",
                usage.items
            ),
        ));
    }
    if usage.bytes as u64 + size > media.quota_bytes {
        return Err(AppError::bad_input(
            "byteSize",
            format!(
                "this would take your media past {} bytes ({} used)",
                media.quota_bytes, usage.bytes
            ),
        ));
    }
    Ok(())
}

/// `requestMediaUpload`: talents, for their own profile.
pub async fn request_upload(
    state: &AppState,
    viewer: Option<Viewer>,
    kind: MediaKind,
    content_type: &str,
    byte_size: i32,
    file_name: Option<&str>,
) -> AppResult<Upload> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Talent {
        return Err(AppError::forbidden("media belongs to talent profiles"));
    }
    let (content_type, size, file_name) =
        checked_request(state, kind, content_type, byte_size, file_name)?;
    let mut conn = state.conn().await?;
    let media = &state.settings.media;
    let usage = db::media::usage(&mut conn, viewer.user_id)
        .await
        .context("media::usage")?;
    within_quota(media, &usage, size)?;
    let id = MediaId::generate();
    let key = key_of(id.0, ORIGINAL);
    let ttl = Duration::seconds(media.upload_ttl_secs as i64);
    let upload_key = state.media_store.upload_key(id.0);
    let signed = state
        .media_store
        .upload_url(&upload_key, &content_type, size, ttl);
    let row = db::media::insert(
        &mut conn,
        &NewMedia {
            id,
            owner_id: viewer.user_id,
            kind: kind.as_str(),
            content_type: &content_type,
            byte_size: i64::from(byte_size),
            file_name,
            object_key: &key,
            upload_expires_at: signed.expires_at,
        },
    )
    .await
    .context("media::insert")?;
    Ok(Upload {
        media: row,
        url: signed.url,
        method: signed.method,
        headers: signed.headers,
        expires_at: signed.expires_at,
    })
}

/// How long an upload's lease lasts without a renewal (renewed while bytes arrive).
const UPLOAD_LEASE_SECS: f64 = 60.0;
/// How often a streaming upload renews its lease, at most.
const UPLOAD_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// The one upload allowed to write an item's object (local store): while it holds, another
/// PUT to the same URL is refused and completion waits.
#[derive(Debug)]
pub struct UploadLease {
    id: MediaId,
    lease: uuid::Uuid,
    renewed: std::time::Instant,
}

/// Takes the upload lease of the item whose upload goes to `key`: NOT_FOUND without such an
/// item, CONFLICT when it no longer awaits its upload or another upload of it is under way.
pub async fn begin_upload(state: &AppState, key: &str) -> AppResult<UploadLease> {
    let id = key
        .strip_prefix("m/")
        .and_then(|rest| rest.strip_suffix(&format!("/{ORIGINAL}")))
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .map(MediaId)
        .ok_or(AppError::NotFound("upload"))?;
    let mut conn = state.conn().await?;
    if let Some(lease) = db::media::begin_upload(&mut conn, id, key, UPLOAD_LEASE_SECS)
        .await
        .context("media::begin_upload")?
    {
        return Ok(UploadLease {
            id,
            lease,
            renewed: std::time::Instant::now(),
        });
    }
    let row = db::media::find(&mut conn, id)
        .await
        .context("media::find")?
        .filter(|row| row.object_key == key)
        .ok_or(AppError::NotFound("upload"))?;
    if MediaStatus::parse(&row.status) != MediaStatus::AwaitingUpload {
        return Err(AppError::conflict(format!(
            "this upload is over (the item is {}); request a new upload",
            row.status
        )));
    }
    Err(AppError::conflict(
        "another upload of this item is under way",
    ))
}

impl UploadLease {
    /// Renews the lease if it has not been for a while (call as bytes arrive).
    pub async fn keep(&mut self, state: &AppState) -> AppResult<()> {
        if self.renewed.elapsed() < UPLOAD_RENEW_EVERY {
            return Ok(());
        }
        self.confirm(state).await
    }

    /// Renews the lease now: CONFLICT when it no longer holds (the item was deleted or
    /// completed, or the lease ran out and another upload took it).
    pub async fn confirm(&mut self, state: &AppState) -> AppResult<()> {
        let mut conn = state.conn().await?;
        if !db::media::renew_upload(&mut conn, self.id, self.lease, UPLOAD_LEASE_SECS)
            .await
            .context("media::renew_upload")?
        {
            return Err(AppError::conflict(
                "this upload no longer holds its item; request a new upload",
            ));
        }
        self.renewed = std::time::Instant::now();
        Ok(())
    }

    /// Gives the lease back. An item deleted while its upload was being moved into place
    /// loses that object too (nothing may stay behind untracked).
    pub async fn end(self, state: &AppState) -> AppResult<()> {
        let mut conn = state.conn().await?;
        let held = db::media::end_upload(&mut conn, self.id, self.lease)
            .await
            .context("media::end_upload")?;
        if !held
            && db::media::find(&mut conn, self.id)
                .await
                .context("media::find")?
                .is_none()
        {
            drop(conn);
            state
                .media_store
                .delete_item(self.id.0)
                .await
                .context("removing the objects of an item deleted during its upload")?;
        }
        Ok(())
    }
}

/// Whether `head` (the first bytes) is what `content_type` says.
pub fn sniff_matches(content_type: &str, head: &[u8]) -> bool {
    let Some(found) = infer::get(head).map(|t| t.mime_type()) else {
        return false;
    };
    match content_type {
        "image/jpeg" => found == "image/jpeg",
        "image/png" => found == "image/png",
        "image/webp" => found == "image/webp",
        // ISO media: the major brand tells mp4, QuickTime and m4a apart only roughly.
        "video/mp4" => matches!(found, "video/mp4" | "video/x-m4v" | "video/quicktime"),
        "video/quicktime" => matches!(found, "video/quicktime" | "video/mp4"),
        "video/webm" => matches!(found, "video/webm" | "video/x-matroska"),
        "audio/mpeg" => found == "audio/mpeg",
        "audio/wav" | "audio/x-wav" | "audio/wave" => found == "audio/x-wav",
        "audio/mp4" | "audio/x-m4a" => matches!(found, "audio/m4a" | "video/mp4"),
        _ => false,
    }
}

/// `completeMediaUpload`: the uploader, once the upload is done.
// Long: one item's completion in order (lease, size and type check, promotion, queueing)
// with each refusal beside the check that makes it.
pub async fn complete_upload(
    state: &AppState,
    viewer: Option<Viewer>,
    id: MediaId,
) -> AppResult<MediaRow> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    let row = db::media::find(&mut conn, id)
        .await
        .context("media::find")?
        .ok_or(AppError::NotFound("media"))?;
    if row.owner_id != viewer.user_id {
        return Err(AppError::forbidden("only the uploader completes an upload"));
    }
    if MediaStatus::parse(&row.status) != MediaStatus::AwaitingUpload {
        return Err(AppError::conflict(format!(
            "the upload was completed already (the item is {})",
            row.status
        )));
    }
    if row.upload_expires_at < Utc::now() {
        return Err(AppError::conflict(
            "the upload URL has expired; request a new upload",
        ));
    }
    // From here on only the server writes the object it checks and processes.
    state
        .media_store
        .promote_upload(id.0)
        .await
        .context("moving the upload to its item's original")?;
    let stored = state
        .media_store
        .size(&row.object_key)
        .await
        .context("reading the uploaded object's size")?;
    let Some(stored) = stored else {
        return Err(AppError::conflict("nothing has been uploaded yet"));
    };
    if stored != row.byte_size as u64 {
        return Err(AppError::conflict(format!(
            "{stored} bytes were uploaded, {} declared; upload the whole file again",
            row.byte_size
        )));
    }
    let head = state
        .media_store
        .head(&row.object_key, SNIFF_BYTES)
        .await
        .context("reading the uploaded object's first bytes")?;
    if !sniff_matches(&row.content_type, &head) {
        let reason = format!("the file is not a {} file", row.content_type);
        let failed = conn
            .transaction::<_, AppError, _>(async |c| {
                let failed = db::media::fail(c, id, &reason)
                    .await
                    .context("media::fail")?;
                if let Some(row) = &failed {
                    super::events::media_changed(c, row).await?;
                }
                Ok(failed)
            })
            .await?;
        drop(conn);
        if let Err(e) = state.media_store.delete_item(id.0).await {
            tracing::warn!(media = %id, error = %e, "the refused upload's objects were not removed");
        }
        return failed.ok_or_else(|| AppError::conflict("the item changed meanwhile"));
    }
    let processing = conn
        .transaction::<_, AppError, _>(async |c| {
            let row = db::media::start_processing(c, id)
                .await
                .context("media::start_processing")?
                .ok_or_else(|| {
                    AppError::conflict(
                        "the upload was completed already, or bytes are still arriving",
                    )
                })?;
            super::events::media_changed(c, &row).await?;
            Ok(row)
        })
        .await?;
    // This instance's workers take it now; the others would on their next look.
    state.media_wake.notify_one();
    Ok(processing)
}

/// `deleteMedia`: the owner and admins; every object made from the item goes with it.
pub async fn delete(state: &AppState, viewer: Option<Viewer>, id: MediaId) -> AppResult<bool> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    let Some(row) = db::media::find(&mut conn, id)
        .await
        .context("media::find")?
    else {
        return Err(AppError::NotFound("media"));
    };
    if row.owner_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::forbidden(
            "media is deleted by its owner or an admin",
        ));
    }
    // Objects first: a row without objects is harmless, objects without a row would leak.
    state
        .media_store
        .delete_item(id.0)
        .await
        .context("removing the item's objects")?;
    let deleted = db::media::delete(&mut conn, id)
        .await
        .context("media::delete")?;
    drop(conn);
    if let Err(e) = crate::documents::media_metadata::remove(&state.docs, &id.to_string()).await {
        tracing::warn!(media = %id, error = %e, "a deleted item's media metadata was not removed");
    }
    Ok(deleted)
}

/// Whether `viewer` may see `row`: READY items for anyone signed in, every item for the owner
/// and admins.
pub fn visible(viewer: &Viewer, row: &MediaRow) -> bool {
    row.owner_id == viewer.user_id
        || viewer.is_admin()
        || MediaStatus::parse(&row.status) == MediaStatus::Ready
}

/// Whether an item will not change any more (READY or FAILED).
pub fn is_final(row: &MediaRow) -> bool {
    matches!(
        MediaStatus::parse(&row.status),
        MediaStatus::Ready | MediaStatus::Failed
    )
}

/// `mediaProcessing(mediaId)`: the item, for its owner and admins only.
pub async fn watchable(
    state: &AppState,
    viewer: Option<Viewer>,
    id: MediaId,
) -> AppResult<MediaRow> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    let row = db::media::find(&mut conn, id)
        .await
        .context("media::find")?
        .ok_or(AppError::NotFound("media"))?;
    if row.owner_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::forbidden(
            "an item's processing is followed by its owner",
        ));
    }
    Ok(row)
}

/// `media(id)`.
pub async fn find(
    state: &AppState,
    viewer: Option<Viewer>,
    id: MediaId,
) -> AppResult<Option<MediaRow>> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    Ok(db::media::find(&mut conn, id)
        .await
        .context("media::find")?
        .filter(|row| visible(&viewer, row)))
}

/// `TalentProfile.media(kind)`.
pub async fn of_talent(
    state: &AppState,
    viewer: Option<Viewer>,
    talent: UserId,
    kind: Option<MediaKind>,
) -> AppResult<Vec<MediaRow>> {
    let viewer = signed_in(viewer)?;
    let everything = viewer.user_id == talent || viewer.is_admin();
    let mut conn = state.conn().await?;
    Ok(db::media::of_owner(
        &mut conn,
        talent,
        kind.map(MediaKind::as_str),
        !everything,
        LIST_CAP,
    )
    .await
    .context("media::of_owner")?)
}

/// Items swept per round.
const SWEEP_BATCH: i64 = 100;

/// Removes uploads never completed, objects first: an item whose URL expired a whole
/// `upload_ttl_secs` ago (an upload begun just before the expiry may still be streaming until
/// then). Returns how many were removed.
pub async fn sweep_expired(state: &AppState) -> AppResult<usize> {
    let grace = state.settings.media.upload_ttl_secs as i64;
    let mut conn = state.conn().await?;
    let expired = db::media::expired_uploads(&mut conn, grace, SWEEP_BATCH)
        .await
        .context("media::expired_uploads")?;
    let mut removed = 0;
    for row in expired {
        if let Err(e) = state.media_store.delete_item(row.id.0).await {
            tracing::warn!(media = %row.id, error = %e, "an expired upload's objects were not removed; retrying later");
            continue;
        }
        if db::media::delete_awaiting(&mut conn, row.id)
            .await
            .context("media::delete_awaiting")?
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Sweeps expired uploads every `media.sweep_secs` (every instance may: rows are locked while
/// they are removed).
pub fn start_sweeping(state: AppState) {
    let every = std::time::Duration::from_secs(state.settings.media.sweep_secs.max(1));
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep_expired(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "expired media uploads swept"),
                Err(e) => tracing::warn!(code = e.code(), "sweeping expired media uploads failed"),
            }
        }
    });
}

/// The object `url` serves for a READY item, and its content type: a still's full-size copy
/// (an item processed before those existed: its large rendition), or the upload itself.
pub fn served_object(row: &MediaRow) -> (&str, &str) {
    match &row.display_key {
        Some(key) if *key == key_of(row.id.0, FULL) => (key.as_str(), row.content_type.as_str()),
        Some(key) => (key.as_str(), "image/jpeg"),
        None => (row.object_key.as_str(), row.content_type.as_str()),
    }
}

/// The key of a READY still's large rendition (None for video and audio).
pub fn preview_key(row: &MediaRow) -> Option<String> {
    (row.display_key.is_some() && MediaKind::parse(&row.kind) == Some(MediaKind::Headshot))
        .then(|| key_of(row.id.0, LARGE))
}

/// A download URL of one of the item's objects.
pub fn download_url(state: &AppState, key: &str, content_type: &str) -> String {
    let ttl = Duration::seconds(state.settings.media.download_ttl_secs as i64);
    state.media_store.download_url(key, content_type, ttl).url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_must_be_the_declared_type() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        assert!(sniff_matches("image/jpeg", &jpeg));
        assert!(!sniff_matches("image/png", &jpeg));
        let elf = [0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0];
        assert!(!sniff_matches("image/jpeg", &elf));
        assert!(!sniff_matches("image/jpeg", b""));
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
        ];
        assert!(sniff_matches("image/png", &png));
    }

    #[test]
    fn content_types_compare_without_parameters_or_case() {
        assert_eq!(normalised_type(" Image/JPEG; charset=binary"), "image/jpeg");
    }
}
