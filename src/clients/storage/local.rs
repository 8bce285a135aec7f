//! The local adapter: objects under a folder; the server itself takes uploads and serves
//! downloads on signed, expiring URLs.

use super::keys::{bad_key, key_of, valid_key, ORIGINAL};
use super::signing::{encode, Signer, UrlError};
use super::{SignedRequest, Store};
use crate::clients::ffmpeg::Input;
use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

#[derive(Clone)]
pub struct LocalStore {
    root: PathBuf,
    base_url: String,
    signer: Signer,
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
        LocalStore {
            root,
            base_url: base_url.trim_end_matches('/').to_string(),
            signer: Signer::new(secret),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an object lives on disk (None: not a key the server makes).
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        valid_key(key).then(|| self.root.join(key))
    }

    /// A URL the server's own upload endpoint takes exactly this object on, until `ttl` is up.
    pub fn upload_url(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> SignedRequest {
        let expires_at = Utc::now() + ttl;
        let exp = expires_at.timestamp().to_string();
        let sig = self
            .signer
            .sign(&["PUT", key, &size.to_string(), content_type, &exp]);
        SignedRequest {
            url: format!(
                "{}/media/upload/{key}?size={size}&type={}&exp={exp}&sig={sig}",
                self.base_url,
                encode(content_type),
            ),
            method: "PUT",
            headers: vec![("Content-Type".into(), content_type.into())],
            expires_at,
        }
    }

    /// A URL the server's own file endpoint serves the object on, until `ttl` is up.
    pub fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest {
        // Expiry rounded up to the next ttl/4 step: a page listed twice in a row gets the same
        // URLs (the browser's cache keeps working), each still valid at least 3/4 of ttl.
        let step = (ttl.num_seconds() / 4).max(1);
        let now = Utc::now().timestamp();
        let exp_secs = (now + ttl.num_seconds()).div_euclid(step) * step + step;
        let expires_at = DateTime::from_timestamp(exp_secs, 0).unwrap_or_else(|| Utc::now() + ttl);
        let exp = exp_secs.to_string();
        let sig = self.signer.sign(&["GET", key, content_type, &exp]);
        SignedRequest {
            url: format!(
                "{}/media/files/{key}?type={}&exp={exp}&sig={sig}",
                self.base_url,
                encode(content_type),
            ),
            method: "GET",
            headers: Vec::new(),
            expires_at,
        }
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
        self.signer
            .check(&["PUT", key, size, content_type, exp], exp, sig)?;
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
        self.signer
            .check(&["GET", key, content_type, exp], exp, sig)
    }

    /// Up to `n` first bytes of the object.
    async fn first_bytes(&self, key: &str, n: usize) -> std::io::Result<Vec<u8>> {
        let path = self.path(key).ok_or_else(|| bad_key(key))?;
        let file = tokio::fs::File::open(&path).await?;
        let mut buf = Vec::with_capacity(n);
        file.take(n as u64).read_to_end(&mut buf).await?;
        Ok(buf)
    }
}

impl Store for LocalStore {
    fn name(&self) -> &'static str {
        "local"
    }

    /// The local store takes an upload at its original's key: its own endpoint checks the item
    /// awaits it, one writer at a time.
    fn upload_key(&self, item: uuid::Uuid) -> String {
        key_of(item, ORIGINAL)
    }

    fn upload_url(&self, key: &str, content_type: &str, size: u64, ttl: Duration) -> SignedRequest {
        LocalStore::upload_url(self, key, content_type, size, ttl)
    }

    fn download_url(&self, key: &str, content_type: &str, ttl: Duration) -> SignedRequest {
        LocalStore::download_url(self, key, content_type, ttl)
    }

    fn tool_input(&self, key: &str) -> anyhow::Result<Input> {
        let path = self.path(key).ok_or_else(|| bad_key(key))?;
        Ok(Input::File(std::path::absolute(path)?))
    }

    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        let Some(path) = self.path(key) else {
            return Ok(None);
        };
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn head(&self, key: &str, n: usize) -> anyhow::Result<Vec<u8>> {
        Ok(self.first_bytes(key, n).await?)
    }

    async fn get(&self, key: &str, max: u64) -> anyhow::Result<Vec<u8>> {
        let bytes = self.first_bytes(key, max as usize + 1).await?;
        anyhow::ensure!(
            bytes.len() as u64 <= max,
            "the object is larger than {max} bytes"
        );
        Ok(bytes)
    }

    /// Written beside its place and renamed into it: a reader sees all of it or nothing.
    async fn put(&self, key: &str, _content_type: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let path = self.path(key).ok_or_else(|| bad_key(key))?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let part = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&part, bytes).await?;
        Ok(tokio::fs::rename(&part, &path).await?)
    }

    /// Nothing to move: uploads land on the original's key.
    async fn promote_upload(&self, _item: uuid::Uuid) -> anyhow::Result<()> {
        Ok(())
    }

    /// Removes the item's folder.
    async fn delete_item(&self, item: uuid::Uuid) -> anyhow::Result<()> {
        let dir = self.root.join("m").join(item.hyphenated().to_string());
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
