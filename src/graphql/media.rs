//! Media items (see `services::media`): the type, `media(id)`, and the upload mutations.
//! `TalentProfile.media(kind)` is in `profiles`.

use super::loaders::load_error;
use super::users::UserNode;
use super::{loaders, state, viewer};
use crate::db::media::MediaRow;
use crate::domain::ids::{MediaId, UserId};
use crate::errors::AppError;
use crate::services::media::{self, MediaKind, MediaStatus};
use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

/// A headshot, reel or voice reel.
pub struct MediaItem(pub MediaRow);

#[Object]
impl MediaItem {
    async fn id(&self) -> MediaId {
        self.0.id
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<UserNode> {
        let id: UserId = self.0.owner_id;
        loaders(ctx)
            .users
            .load_one(id)
            .await
            .map_err(load_error)?
            .map(UserNode::from)
            .ok_or_else(|| AppError::NotFound("user").into())
    }
    async fn kind(&self) -> Result<MediaKind> {
        MediaKind::parse(&self.0.kind).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("media kind {:?}", self.0.kind)).into()
        })
    }
    async fn status(&self) -> MediaStatus {
        MediaStatus::parse(&self.0.status)
    }
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    async fn byte_size(&self) -> i32 {
        i32::try_from(self.0.byte_size).unwrap_or(i32::MAX)
    }
    /// The name the uploader gave (a label, never part of a path).
    async fn file_name(&self) -> Option<&str> {
        self.0.file_name.as_deref()
    }
    /// 0..1 while PROCESSING; 1 when READY.
    async fn progress(&self) -> f64 {
        match MediaStatus::parse(&self.0.status) {
            MediaStatus::Ready => 1.0,
            _ => f64::from(self.0.progress),
        }
    }
    /// A signed download URL (READY only): a still at its full size, in its own format,
    /// without its metadata (EXIF, XMP, comments: only the orientation and the colour profile
    /// stay), or the video or audio as uploaded.
    async fn url(&self, ctx: &Context<'_>) -> Option<String> {
        if MediaStatus::parse(&self.0.status) != MediaStatus::Ready {
            return None;
        }
        let (key, content_type) = media::served_object(&self.0);
        Some(media::download_url(state(ctx), key, content_type))
    }
    /// A still as a JPEG at most 1280 pixels on its longest side, upright (READY stills only).
    async fn preview_url(&self, ctx: &Context<'_>) -> Option<String> {
        if MediaStatus::parse(&self.0.status) != MediaStatus::Ready {
            return None;
        }
        let key = media::preview_key(&self.0)?;
        Some(media::download_url(state(ctx), &key, "image/jpeg"))
    }
    /// The image's thumbnail or the video's poster frame (READY only).
    async fn thumbnail_url(&self, ctx: &Context<'_>) -> Option<String> {
        if MediaStatus::parse(&self.0.status) != MediaStatus::Ready {
            return None;
        }
        let key = self.0.thumbnail_key.as_deref()?;
        Some(media::download_url(state(ctx), key, "image/jpeg"))
    }
    async fn width(&self) -> Option<i32> {
        self.0.width
    }
    async fn height(&self) -> Option<i32> {
        self.0.height
    }
    async fn duration_seconds(&self) -> Option<f64> {
        self.0.duration_seconds
    }
    /// Why processing failed, in plain words (FAILED only).
    async fn error(&self) -> Option<&str> {
        (MediaStatus::parse(&self.0.status) == MediaStatus::Failed)
            .then_some(self.0.error.as_deref())
            .flatten()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Where and how to upload a new item.
pub struct MediaUpload(media::Upload);

#[Object]
impl MediaUpload {
    async fn media(&self) -> MediaItem {
        MediaItem(self.0.media.clone())
    }
    /// The store's presigned URL, or the server's own signed upload URL.
    async fn upload_url(&self) -> &str {
        &self.0.url
    }
    async fn method(&self) -> &str {
        self.0.method
    }
    /// Headers the upload must carry, e.g. `{"Content-Type": "image/jpeg"}`.
    async fn headers(&self) -> async_graphql::Json<serde_json::Map<String, serde_json::Value>> {
        async_graphql::Json(
            self.0
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

#[derive(Default)]
pub struct MediaQuery;

#[Object]
impl MediaQuery {
    /// READY items for anyone signed in; any status for the owner and admins.
    async fn media(&self, ctx: &Context<'_>, id: MediaId) -> Result<Option<MediaItem>> {
        Ok(media::find(state(ctx), viewer(ctx), id)
            .await?
            .map(MediaItem))
    }
}

#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Talents, for their own profile: an upload URL for a file of this kind, type and exact
    /// size (limits per kind and a per-user quota; outside them BAD_USER_INPUT).
    async fn request_media_upload(
        &self,
        ctx: &Context<'_>,
        kind: MediaKind,
        content_type: String,
        byte_size: i32,
        file_name: Option<String>,
    ) -> Result<MediaUpload> {
        Ok(MediaUpload(
            media::request_upload(
                state(ctx),
                viewer(ctx),
                kind,
                &content_type,
                byte_size,
                file_name.as_deref(),
            )
            .await?,
        ))
    }

    /// The uploader, after the upload: the stored object must have the declared size and be
    /// what the declared type says; then processing starts (else CONFLICT, or FAILED).
    async fn complete_media_upload(&self, ctx: &Context<'_>, id: MediaId) -> Result<MediaItem> {
        Ok(MediaItem(
            media::complete_upload(state(ctx), viewer(ctx), id).await?,
        ))
    }

    /// The owner and admins: the item and every object made from it.
    async fn delete_media(&self, ctx: &Context<'_>, id: MediaId) -> Result<bool> {
        Ok(media::delete(state(ctx), viewer(ctx), id).await?)
    }
}
