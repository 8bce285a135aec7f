//! The S3-compatible adapter: presigned PUT (type and length signed, so the client must send
//! exactly what was declared) and GET URLs, and the server's own requests signed the same way
//! through its own HTTP client. Path-style and custom endpoints make MinIO, R2, Ceph and moto
//! work alike.

use super::keys::{key_of, ITEM_OBJECTS, ORIGINAL, UPLOAD};
use super::signing::encode_path;
use super::{SignedRequest, Store};
use crate::clients::ffmpeg::Input;
use chrono::{Duration, Utc};

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

    /// A URL the server's own tools (ffmpeg) read the object through.
    fn read_url(&self, key: &str) -> String {
        self.sign_get(key, None, OWN_REQUEST_TTL).to_string()
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

    /// Moves an item's upload (`from`, the key its presigned URL names) to `to`, a key no
    /// client can write: copied only if it is still the object just looked at (its ETag), then
    /// removed. Nothing to move (no upload there) is not an error: `to` may hold it already.
    async fn promote(&self, from: &str, to: &str) -> anyhow::Result<()> {
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
}

impl Store for S3Store {
    fn name(&self) -> &'static str {
        "s3"
    }

    /// An S3 upload lands on a key of its own, which completion moves to the original's
    /// (`promote_upload`): the presigned URL, valid until it expires, can never replace what
    /// was processed.
    fn upload_key(&self, item: uuid::Uuid) -> String {
        key_of(item, UPLOAD)
    }

    fn upload_url(&self, key: &str, content_type: &str, size: u64, ttl: Duration) -> SignedRequest {
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

    fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest {
        SignedRequest {
            url: self
                .sign_get(key, Some(content_type), ttl_of(ttl))
                .to_string(),
            method: "GET",
            headers: Vec::new(),
            expires_at: Utc::now() + ttl,
        }
    }

    fn tool_input(&self, key: &str) -> anyhow::Result<Input> {
        Ok(Input::Url(self.read_url(key)))
    }

    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
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

    async fn head(&self, key: &str, n: usize) -> anyhow::Result<Vec<u8>> {
        self.get_range(key, 0, n as u64).await
    }

    async fn get(&self, key: &str, max: u64) -> anyhow::Result<Vec<u8>> {
        let bytes = self.get_range(key, 0, max + 1).await?;
        anyhow::ensure!(
            bytes.len() as u64 <= max,
            "the object is larger than {max} bytes"
        );
        Ok(bytes)
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
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

    async fn promote_upload(&self, item: uuid::Uuid) -> anyhow::Result<()> {
        self.promote(&key_of(item, UPLOAD), &key_of(item, ORIGINAL))
            .await
    }

    /// Removes every object of an item: the server names them all (see [`ITEM_OBJECTS`]), so
    /// nothing needs listing.
    async fn delete_item(&self, item: uuid::Uuid) -> anyhow::Result<()> {
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
}
