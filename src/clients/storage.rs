//! The media store: one port, two adapters. `Local` keeps objects under a folder and has the
//! server itself take uploads and serve downloads on signed, expiring URLs (HMAC-SHA256 over
//! the method, key, size, type and expiry); S3-compatible buckets come with presigned URLs.
//!
//! Keys are made by the server from an item's id only (`m/<uuid>/<name>`), never from what a
//! user typed; the local adapter refuses any other shape, so no key reaches outside its folder.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

type HmacSha256 = Hmac<Sha256>;

fn keyed(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes a key of any length"),
    }
}

/// A request a client makes on its own: where, how, with which headers, until when.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub url: String,
    pub method: &'static str,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// Why a signed URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    Malformed,
    Expired,
    BadSignature,
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlError::Malformed => "the link is malformed",
            UrlError::Expired => "the link has expired",
            UrlError::BadSignature => "the link's signature does not match",
        })
    }
}

/// Whether `key` is one the server makes: `m/<uuid>/<name>`, the name of lower-case letters,
/// digits, `.`, `-` and `_` (no `..`).
pub fn valid_key(key: &str) -> bool {
    let mut parts = key.split('/');
    let (Some("m"), Some(id), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
        && !name.is_empty()
        && name.len() <= 64
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The upload of every item.
pub const ORIGINAL: &str = "original";
/// Where an S3 upload lands (its presigned URL names this key); completion copies it to
/// `ORIGINAL`, which no client can write.
pub const UPLOAD: &str = "upload";
/// A still at full size without its metadata (same format as the upload).
pub const FULL: &str = "full";
/// A still's large and small renditions; a video's poster frame.
pub const LARGE: &str = "large.jpg";
pub const SMALL: &str = "small.jpg";
pub const POSTER: &str = "poster.jpg";
/// The names of every object the server makes for an item.
pub const ITEM_OBJECTS: [&str; 6] = [ORIGINAL, UPLOAD, FULL, LARGE, SMALL, POSTER];

/// The key of an item's object called `name`.
pub fn key_of(item: uuid::Uuid, name: &str) -> String {
    format!("m/{}/{name}", item.hyphenated())
}

/// Percent-encodes a key for a path (slashes kept).
fn encode_path(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The local adapter.
#[derive(Clone)]
pub struct LocalStore {
    root: PathBuf,
    base_url: String,
    key: [u8; 32],
}

/// What an upload URL promises: the object, its exact size and type, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadGrant {
    pub key: String,
    pub size: u64,
    pub content_type: String,
}

impl LocalStore {
    /// A store under `root`, its URLs starting with `base_url`, signed with a key derived from
    /// `secret` (the server's token secret: nothing more to configure or leak).
    pub fn new(root: PathBuf, base_url: &str, secret: &[u8]) -> LocalStore {
        let mut mac = keyed(secret);
        mac.update(b"castyou media url signing v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        LocalStore {
            root,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn mac(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac = keyed(&self.key);
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// Where an object lives on disk (None: not a key the server makes).
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        valid_key(key).then(|| self.root.join(key))
    }

    pub fn upload_url(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> SignedRequest {
        let expires_at = Utc::now() + ttl;
        let exp = expires_at.timestamp().to_string();
        let size_text = size.to_string();
        let sig = self
            .mac(&["PUT", key, &size_text, content_type, &exp])
            .finalize()
            .into_bytes();
        SignedRequest {
            url: format!(
                "{}/media/upload/{key}?size={size}&type={}&exp={exp}&sig={}",
                self.base_url,
                encode(content_type),
                hex(&sig)
            ),
            method: "PUT",
            headers: vec![("Content-Type".into(), content_type.into())],
            expires_at,
        }
    }

    pub fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest {
        // Expiry rounded up to the next ttl/4 step: a page listed twice in a row gets the same
        // URLs (the browser's cache keeps working), each still valid at least 3/4 of ttl.
        let step = (ttl.num_seconds() / 4).max(1);
        let now = Utc::now().timestamp();
        let exp_secs = (now + ttl.num_seconds()).div_euclid(step) * step + step;
        let expires_at = DateTime::from_timestamp(exp_secs, 0).unwrap_or_else(|| Utc::now() + ttl);
        let exp = exp_secs.to_string();
        let sig = self
            .mac(&["GET", key, content_type, &exp])
            .finalize()
            .into_bytes();
        SignedRequest {
            url: format!(
                "{}/media/files/{key}?type={}&exp={exp}&sig={}",
                self.base_url,
                encode(content_type),
                hex(&sig)
            ),
            method: "GET",
            headers: Vec::new(),
            expires_at,
        }
    }

    fn check(&self, mac: HmacSha256, exp: &str, sig: &str) -> Result<(), UrlError> {
        let exp: i64 = exp.parse().map_err(|_| UrlError::Malformed)?;
        let sig = unhex(sig).ok_or(UrlError::Malformed)?;
        // The signature first: an expired link with a forged signature is forged.
        mac.verify_slice(&sig).map_err(|_| UrlError::BadSignature)?;
        if Utc::now().timestamp() > exp {
            return Err(UrlError::Expired);
        }
        Ok(())
    }

    /// Checks an upload URL's query (`size`, `type`, `exp`, `sig`) for `key`.
    pub fn verify_upload(
        &self,
        key: &str,
        size: &str,
        content_type: &str,
        exp: &str,
        sig: &str,
    ) -> Result<UploadGrant, UrlError> {
        if !valid_key(key) {
            return Err(UrlError::Malformed);
        }
        let size_n: u64 = size.parse().map_err(|_| UrlError::Malformed)?;
        self.check(self.mac(&["PUT", key, size, content_type, exp]), exp, sig)?;
        Ok(UploadGrant {
            key: key.to_string(),
            size: size_n,
            content_type: content_type.to_string(),
        })
    }

    /// Checks a download URL's query (`type`, `exp`, `sig`) for `key`.
    pub fn verify_download(
        &self,
        key: &str,
        content_type: &str,
        exp: &str,
        sig: &str,
    ) -> Result<(), UrlError> {
        if !valid_key(key) {
            return Err(UrlError::Malformed);
        }
        self.check(self.mac(&["GET", key, content_type, exp]), exp, sig)
    }

    /// The object's size (None: there is none).
    pub async fn size(&self, key: &str) -> std::io::Result<Option<u64>> {
        let Some(path) = self.path(key) else {
            return Ok(None);
        };
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Up to `n` first bytes of the object.
    pub async fn head(&self, key: &str, n: usize) -> std::io::Result<Vec<u8>> {
        let path = self.path(key).ok_or_else(|| bad_key(key))?;
        let file = tokio::fs::File::open(&path).await?;
        let mut buf = Vec::with_capacity(n);
        file.take(n as u64).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    /// Writes a whole (small) object.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(key).ok_or_else(|| bad_key(key))?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let part = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&part, bytes).await?;
        tokio::fs::rename(&part, &path).await
    }

    /// Removes every object of an item (its folder).
    pub async fn delete_item(&self, item: uuid::Uuid) -> std::io::Result<()> {
        let dir = self.root.join("m").join(item.hyphenated().to_string());
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// The S3-compatible adapter: presigned PUT (type and length signed, so the client must send
/// exactly what was declared) and GET URLs, and the server's own requests signed the same way
/// through the shared HTTP client. Path-style and custom endpoints make MinIO, R2, Ceph and
/// moto work alike.
pub struct S3Store {
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
    http: reqwest::Client,
}

/// A request error without its URL: presigned URLs carry a credential and a signature, and an
/// error's cause chain ends up in logs.
fn without_url(e: reqwest::Error) -> reqwest::Error {
    e.without_url()
}

/// How long the server's own signed requests are valid.
const OWN_REQUEST_TTL: std::time::Duration = std::time::Duration::from_secs(300);

fn ttl_of(ttl: Duration) -> std::time::Duration {
    ttl.to_std()
        .unwrap_or(std::time::Duration::from_secs(1))
        .max(std::time::Duration::from_secs(1))
}

impl S3Store {
    pub fn new(settings: &crate::configuration::S3Settings) -> anyhow::Result<S3Store> {
        use anyhow::Context;
        use secrecy::ExposeSecret;
        let endpoint: reqwest::Url = settings
            .endpoint
            .trim()
            .parse()
            .context("media.s3.endpoint is not a URL")?;
        anyhow::ensure!(
            !settings.bucket.trim().is_empty(),
            "media.s3.bucket is required with media.storage = \"s3\""
        );
        let style = if settings.path_style {
            rusty_s3::UrlStyle::Path
        } else {
            rusty_s3::UrlStyle::VirtualHost
        };
        let bucket = rusty_s3::Bucket::new(
            endpoint,
            style,
            settings.bucket.trim().to_string(),
            settings.region.clone(),
        )
        .map_err(|e| anyhow::anyhow!("media.s3: {e}"))?;
        let secret = settings
            .secret_key
            .as_ref()
            .map(|s| s.expose_secret().to_string())
            .unwrap_or_default();
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .context("building the S3 client")?;
        Ok(S3Store {
            bucket,
            credentials: rusty_s3::Credentials::new(settings.access_key.clone(), secret),
            http,
        })
    }

    fn sign_get(
        &self,
        key: &str,
        content_type: Option<&str>,
        ttl: std::time::Duration,
    ) -> reqwest::Url {
        use rusty_s3::S3Action;
        let mut get = self.bucket.get_object(Some(&self.credentials), key);
        if let Some(t) = content_type {
            get.query_mut()
                .insert("response-content-type", t.to_string());
        }
        get.sign(ttl)
    }

    pub fn upload_url(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> SignedRequest {
        use rusty_s3::S3Action;
        let mut put = self.bucket.put_object(Some(&self.credentials), key);
        put.headers_mut()
            .insert("content-type", content_type.to_string());
        put.headers_mut().insert("content-length", size.to_string());
        SignedRequest {
            url: put.sign(ttl_of(ttl)).to_string(),
            method: "PUT",
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Content-Length".into(), size.to_string()),
            ],
            expires_at: Utc::now() + ttl,
        }
    }

    pub fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest {
        SignedRequest {
            url: self
                .sign_get(key, Some(content_type), ttl_of(ttl))
                .to_string(),
            method: "GET",
            headers: Vec::new(),
            expires_at: Utc::now() + ttl,
        }
    }

    /// A URL the server's own tools (ffmpeg) read the object through.
    pub fn read_url(&self, key: &str) -> String {
        self.sign_get(key, None, OWN_REQUEST_TTL).to_string()
    }

    pub async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        use rusty_s3::S3Action;
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(OWN_REQUEST_TTL);
        let response = self.http.head(url).send().await.map_err(without_url)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = response.error_for_status().map_err(without_url)?;
        // `content_length()` is the body's length, which a HEAD answer does not have.
        let length = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(length)
    }

    /// Up to `max` bytes of the object from `offset` on (`max` bytes is an error past it).
    async fn get_range(&self, key: &str, offset: u64, max: u64) -> anyhow::Result<Vec<u8>> {
        let url = self.sign_get(key, None, OWN_REQUEST_TTL);
        let mut response = self
            .http
            .get(url)
            .header(
                reqwest::header::RANGE,
                format!("bytes={offset}-{}", offset + max.max(1) - 1),
            )
            .send()
            .await
            .map_err(without_url)?
            .error_for_status()
            .map_err(without_url)?;
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(without_url)? {
            let room = (max as usize).saturating_sub(out.len());
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if out.len() >= max as usize {
                break;
            }
        }
        Ok(out)
    }

    pub async fn get(&self, key: &str, max: u64) -> anyhow::Result<Vec<u8>> {
        let bytes = self.get_range(key, 0, max + 1).await?;
        anyhow::ensure!(
            bytes.len() as u64 <= max,
            "the object is larger than {max} bytes"
        );
        Ok(bytes)
    }

    pub async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        use rusty_s3::S3Action;
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(OWN_REQUEST_TTL);
        self.http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .map_err(without_url)?
            .error_for_status()
            .map_err(without_url)?;
        Ok(())
    }

    /// Moves an item's upload (`from`, the key its presigned URL names) to `to`, a key no
    /// client can write: copied only if it is still the object just looked at (its ETag), then
    /// removed. Nothing to move (no upload there) is not an error: `to` may hold it already.
    pub async fn promote(&self, from: &str, to: &str) -> anyhow::Result<()> {
        use rusty_s3::S3Action;
        let url = self
            .bucket
            .head_object(Some(&self.credentials), from)
            .sign(OWN_REQUEST_TTL);
        let response = self.http.head(url).send().await.map_err(without_url)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        let response = response.error_for_status().map_err(without_url)?;
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow::anyhow!("the uploaded object has no ETag"))?
            .to_string();
        let source = format!("/{}/{}", self.bucket.name(), encode_path(from));
        let mut copy = self.bucket.put_object(Some(&self.credentials), to);
        copy.headers_mut()
            .insert("x-amz-copy-source", source.clone());
        copy.headers_mut()
            .insert("x-amz-copy-source-if-match", etag.clone());
        let url = copy.sign(OWN_REQUEST_TTL);
        self.http
            .put(url)
            .header("x-amz-copy-source", source)
            .header("x-amz-copy-source-if-match", etag)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(without_url)?
            .error_for_status()
            .map_err(without_url)?;
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), from)
            .sign(OWN_REQUEST_TTL);
        let response = self.http.delete(url).send().await.map_err(without_url)?;
        if response.status() != reqwest::StatusCode::NOT_FOUND {
            response.error_for_status().map_err(without_url)?;
        }
        Ok(())
    }

    /// Removes every object of an item: the server names them all (see [`ITEM_OBJECTS`]), so
    /// nothing needs listing.
    pub async fn delete_item(&self, item: uuid::Uuid) -> anyhow::Result<()> {
        use rusty_s3::S3Action;
        for name in ITEM_OBJECTS {
            let key = key_of(item, name);
            let url = self
                .bucket
                .delete_object(Some(&self.credentials), &key)
                .sign(OWN_REQUEST_TTL);
            let response = self.http.delete(url).send().await.map_err(without_url)?;
            if response.status() != reqwest::StatusCode::NOT_FOUND {
                response.error_for_status().map_err(without_url)?;
            }
        }
        Ok(())
    }
}

/// The configured store.
pub enum MediaStore {
    Local(LocalStore),
    S3(S3Store),
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

    pub fn upload_url(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> SignedRequest {
        match self {
            MediaStore::Local(s) => s.upload_url(key, content_type, size, ttl),
            MediaStore::S3(s) => s.upload_url(key, content_type, size, ttl),
        }
    }

    pub fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest {
        match self {
            MediaStore::Local(s) => s.download_url(key, content_type, ttl),
            MediaStore::S3(s) => s.download_url(key, content_type, ttl),
        }
    }

    pub async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match self {
            MediaStore::Local(s) => Ok(s.size(key).await?),
            MediaStore::S3(s) => s.size(key).await,
        }
    }

    pub async fn head(&self, key: &str, n: usize) -> anyhow::Result<Vec<u8>> {
        match self {
            MediaStore::Local(s) => Ok(s.head(key, n).await?),
            MediaStore::S3(s) => s.get_range(key, 0, n as u64).await,
        }
    }

    /// A whole object of at most `max` bytes (stills, read for processing).
    pub async fn get(&self, key: &str, max: u64) -> anyhow::Result<Vec<u8>> {
        match self {
            MediaStore::Local(s) => {
                let bytes = s.head(key, max as usize + 1).await?;
                anyhow::ensure!(
                    bytes.len() as u64 <= max,
                    "the object is larger than {max} bytes"
                );
                Ok(bytes)
            }
            MediaStore::S3(s) => s.get(key, max).await,
        }
    }

    /// Where ffprobe and ffmpeg read an object.
    pub fn tool_input(&self, key: &str) -> anyhow::Result<super::ffmpeg::Input> {
        match self {
            MediaStore::Local(s) => {
                let path = s.path(key).ok_or_else(|| bad_key(key))?;
                Ok(super::ffmpeg::Input::File(std::path::absolute(path)?))
            }
            MediaStore::S3(s) => Ok(super::ffmpeg::Input::Url(s.read_url(key))),
        }
    }

    pub async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            MediaStore::Local(s) => Ok(s.put(key, &bytes).await?),
            MediaStore::S3(s) => s.put(key, content_type, bytes).await,
        }
    }

    /// Where a client uploads item `item`: the local store takes it at its original's key (its
    /// own endpoint checks the item awaits it, one writer at a time); an S3 upload lands on a
    /// key of its own, which completion moves to the original's (`promote_upload`), so the
    /// presigned URL, valid until it expires, can never replace what was processed.
    pub fn upload_key(&self, item: uuid::Uuid) -> String {
        match self {
            MediaStore::Local(_) => key_of(item, ORIGINAL),
            MediaStore::S3(_) => key_of(item, UPLOAD),
        }
    }

    /// Moves an S3 upload to the original's key (see `upload_key`); nothing for the local store.
    pub async fn promote_upload(&self, item: uuid::Uuid) -> anyhow::Result<()> {
        match self {
            MediaStore::Local(_) => Ok(()),
            MediaStore::S3(s) => {
                s.promote(&key_of(item, UPLOAD), &key_of(item, ORIGINAL))
                    .await
            }
        }
    }

    /// Removes every object of an item.
    pub async fn delete_item(&self, item: uuid::Uuid) -> anyhow::Result<()> {
        match self {
            MediaStore::Local(s) => Ok(s.delete_item(item).await?),
            MediaStore::S3(s) => s.delete_item(item).await,
        }
    }

    pub fn local(&self) -> Option<&LocalStore> {
        match self {
            MediaStore::Local(s) => Some(s),
            MediaStore::S3(_) => None,
        }
    }

    /// "local" or "s3".
    pub fn name(&self) -> &'static str {
        match self {
            MediaStore::Local(_) => "local",
            MediaStore::S3(_) => "s3",
        }
    }
}

fn bad_key(key: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("not a media key: {key:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn s3_errors_never_carry_a_presigned_url() {
        let settings = crate::configuration::S3Settings {
            endpoint: "http://127.0.0.1:1".into(),
            bucket: "media".into(),
            region: "us-east-1".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: Some("wJalrXUtnFEMI".to_string().into()),
            path_style: true,
        };
        let s3 = S3Store::new(&settings).expect("a store");
        let failures = [
            s3.size("m/00000000-0000-0000-0000-000000000001/original")
                .await
                .map(drop),
            s3.get("m/00000000-0000-0000-0000-000000000001/original", 10)
                .await
                .map(drop),
            s3.delete_item(uuid::Uuid::nil()).await,
        ];
        for failure in failures {
            let chain = format!("{:#}", failure.expect_err("nothing listens there"));
            for secret in [
                "X-Amz-Signature",
                "X-Amz-Credential",
                "AKIDEXAMPLE",
                "127.0.0.1:1/",
            ] {
                assert!(!chain.contains(secret), "{secret} in {chain}");
            }
        }
    }

    fn store() -> LocalStore {
        LocalStore::new(
            PathBuf::from("/tmp/none"),
            "http://127.0.0.1:1/",
            b"a-secret-of-sufficient-length-0123456789",
        )
    }

    fn query(url: &str) -> std::collections::HashMap<String, String> {
        let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                let v = v.replace("%2F", "/").replace("%2B", "+");
                (k.to_string(), v)
            })
            .collect()
    }

    #[test]
    fn only_keys_the_server_makes_are_valid() {
        let id = uuid::Uuid::now_v7();
        assert!(valid_key(&key_of(id, "original")));
        assert!(valid_key(&key_of(id, "thumb.jpg")));
        for bad in [
            "../etc/passwd".to_string(),
            format!("m/{id}/../x"),
            format!("m/{id}/a/b"),
            format!("m/{id}/"),
            format!("m/{}/x", id.simple()),
            format!("/m/{id}/x"),
            format!("m/{id}/X.jpg"),
            format!("x/{id}/x"),
        ] {
            assert!(!valid_key(&bad), "{bad}");
        }
    }

    #[test]
    fn upload_urls_verify_and_refuse_tampering() {
        let s = store();
        let key = key_of(uuid::Uuid::now_v7(), "original");
        let signed = s.upload_url(&key, "image/jpeg", 1234, Duration::minutes(5));
        assert!(signed.url.starts_with("http://127.0.0.1:1/media/upload/m/"));
        let q = query(&signed.url);
        let grant = s
            .verify_upload(&key, &q["size"], &q["type"], &q["exp"], &q["sig"])
            .expect("valid");
        assert_eq!(grant.size, 1234);
        assert_eq!(grant.content_type, "image/jpeg");
        // Any changed part breaks the signature.
        assert_eq!(
            s.verify_upload(&key, "1235", &q["type"], &q["exp"], &q["sig"]),
            Err(UrlError::BadSignature)
        );
        assert_eq!(
            s.verify_upload(&key, &q["size"], "image/png", &q["exp"], &q["sig"]),
            Err(UrlError::BadSignature)
        );
        let later = (q["exp"].parse::<i64>().unwrap() + 1).to_string();
        assert_eq!(
            s.verify_upload(&key, &q["size"], &q["type"], &later, &q["sig"]),
            Err(UrlError::BadSignature)
        );
        let other = key_of(uuid::Uuid::now_v7(), "original");
        assert_eq!(
            s.verify_upload(&other, &q["size"], &q["type"], &q["exp"], &q["sig"]),
            Err(UrlError::BadSignature)
        );
        // Another server secret: nothing verifies.
        let foreign = LocalStore::new(PathBuf::from("/tmp/none"), "http://x", b"another-secret");
        assert_eq!(
            foreign.verify_upload(&key, &q["size"], &q["type"], &q["exp"], &q["sig"]),
            Err(UrlError::BadSignature)
        );
    }

    #[test]
    fn expired_links_are_refused() {
        let s = store();
        let key = key_of(uuid::Uuid::now_v7(), "original");
        let signed = s.upload_url(&key, "image/png", 10, Duration::seconds(-5));
        let q = query(&signed.url);
        assert_eq!(
            s.verify_upload(&key, &q["size"], &q["type"], &q["exp"], &q["sig"]),
            Err(UrlError::Expired)
        );
        let d = s.download_url(&key, "image/png", Duration::minutes(10));
        let q = query(&d.url);
        assert_eq!(
            s.verify_download(&key, &q["type"], &q["exp"], &q["sig"]),
            Ok(())
        );
        assert!(d.expires_at > Utc::now() + Duration::minutes(7));
    }
}
