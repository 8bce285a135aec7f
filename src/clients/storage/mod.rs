//! The media store: one port ([`Store`]), two adapters. [`LocalStore`] keeps objects under a
//! folder and has the server itself take uploads and serve downloads on signed, expiring URLs
//! ([`signing`]); [`S3Store`] speaks to S3-compatible buckets with presigned URLs. Keys
//! ([`keys`]) are made by the server from an item's id only.

pub mod keys;
mod local;
mod s3;
mod signing;

pub use keys::{
    key_of, snapshot_key, valid_key, FULL, ITEM_OBJECTS, LARGE, ORIGINAL, POSTER, SMALL, UPLOAD,
};
pub use local::{LocalStore, UploadGrant};
pub use s3::S3Store;
pub use signing::UrlError;

use crate::clients::ffmpeg::Input;
use chrono::{DateTime, Duration, Utc};
use std::future::Future;
use std::path::PathBuf;

/// A request a client makes on its own: where, how, with which headers, until when.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub url: String,
    pub method: &'static str,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What the media services need of a place that keeps objects.
pub trait Store: Send + Sync {
    /// The adapter's name, as health reports it ("local", "s3").
    fn name(&self) -> &'static str;

    /// Where a client uploads item `item`.
    fn upload_key(&self, item: uuid::Uuid) -> String;

    /// A request that uploads exactly `size` bytes of `content_type` to `key`, valid for `ttl`.
    fn upload_url(&self, key: &str, content_type: &str, size: u64, ttl: Duration) -> SignedRequest;

    /// A request that downloads `key` as `content_type`, valid for `ttl`.
    fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest;

    /// Where ffprobe and ffmpeg read an object.
    fn tool_input(&self, key: &str) -> anyhow::Result<Input>;

    /// The object's size (None: there is none).
    fn size(&self, key: &str) -> impl Future<Output = anyhow::Result<Option<u64>>> + Send;

    /// Up to `n` first bytes of the object.
    fn head(&self, key: &str, n: usize) -> impl Future<Output = anyhow::Result<Vec<u8>>> + Send;

    /// A whole object of at most `max` bytes (stills, read for processing); an error past it.
    fn get(&self, key: &str, max: u64) -> impl Future<Output = anyhow::Result<Vec<u8>>> + Send;

    /// Writes a whole (small) object.
    fn put(
        &self,
        key: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Moves an upload from [`Store::upload_key`] to the original's key, where it differs.
    fn promote_upload(&self, item: uuid::Uuid) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Removes every object of an item.
    fn delete_item(&self, item: uuid::Uuid) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The configured store.
pub enum MediaStore {
    Local(LocalStore),
    S3(S3Store),
}

/// `$body` with `$s` bound to whichever adapter is configured.
macro_rules! each {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            MediaStore::Local($s) => $body,
            MediaStore::S3($s) => $body,
        }
    };
}

impl MediaStore {
    /// The store of `settings.media` (the local one's URLs start at `media.public_base_url`,
    /// or at the address the server listens on).
    pub fn from_settings(settings: &crate::configuration::Settings) -> anyhow::Result<MediaStore> {
        use crate::configuration::StorageKind;
        use secrecy::ExposeSecret;
        let media = &settings.media;
        match media.storage {
            StorageKind::Local => {
                let base = if media.public_base_url.trim().is_empty() {
                    let app = &settings.application;
                    let host = match app.host.as_str() {
                        "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
                        other => other,
                    };
                    format!("http://{host}:{}", app.port)
                } else {
                    media.public_base_url.trim().to_string()
                };
                let secret = settings
                    .auth
                    .jwt_secret
                    .as_ref()
                    .map(|s| s.expose_secret().as_bytes().to_vec())
                    .unwrap_or_default();
                Ok(MediaStore::Local(LocalStore::new(
                    PathBuf::from(&media.dir),
                    &base,
                    &secret,
                )))
            }
            StorageKind::S3 => Ok(MediaStore::S3(S3Store::new(&media.s3)?)),
        }
    }

    /// The local adapter, whose URLs the server's own endpoints serve.
    pub fn local(&self) -> Option<&LocalStore> {
        match self {
            MediaStore::Local(s) => Some(s),
            MediaStore::S3(_) => None,
        }
    }
}

impl Store for MediaStore {
    fn name(&self) -> &'static str {
        each!(self, s => s.name())
    }

    fn upload_key(&self, item: uuid::Uuid) -> String {
        each!(self, s => Store::upload_key(s, item))
    }

    fn upload_url(&self, key: &str, content_type: &str, size: u64, ttl: Duration) -> SignedRequest {
        each!(self, s => Store::upload_url(s, key, content_type, size, ttl))
    }

    fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest {
        each!(self, s => Store::download_url(s, key, content_type, ttl))
    }

    fn tool_input(&self, key: &str) -> anyhow::Result<Input> {
        each!(self, s => s.tool_input(key))
    }

    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        each!(self, s => s.size(key).await)
    }

    async fn head(&self, key: &str, n: usize) -> anyhow::Result<Vec<u8>> {
        each!(self, s => s.head(key, n).await)
    }

    async fn get(&self, key: &str, max: u64) -> anyhow::Result<Vec<u8>> {
        each!(self, s => s.get(key, max).await)
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        each!(self, s => s.put(key, content_type, bytes).await)
    }

    async fn promote_upload(&self, item: uuid::Uuid) -> anyhow::Result<()> {
        each!(self, s => s.promote_upload(item).await)
    }

    async fn delete_item(&self, item: uuid::Uuid) -> anyhow::Result<()> {
        each!(self, s => s.delete_item(item).await)
    }
}
