//! Signing the local store's URLs: HMAC-SHA256 over a request's parts (method, key, size, type,
//! expiry), with a key derived from the server's token secret, and the percent-encoding the
//! URLs need.

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn keyed(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes a key of any length"),
    }
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

/// Signs and checks a request's parts with one key.
#[derive(Clone)]
pub(super) struct Signer {
    key: [u8; 32],
}

impl Signer {
    /// A signer whose key is derived from `secret` (the server's token secret: nothing more to
    /// configure or leak).
    pub(super) fn new(secret: &[u8]) -> Signer {
        let mut mac = keyed(secret);
        mac.update(b"castyou media url signing v1");
        Signer {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac = keyed(&self.key);
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The signature of `parts`, in hex.
    pub(super) fn sign(&self, parts: &[&str]) -> String {
        hex(&self.mac(parts).finalize().into_bytes())
    }

    /// Checks `sig` over `parts`, then the expiry `exp` (seconds since the epoch).
    pub(super) fn check(&self, parts: &[&str], exp: &str, sig: &str) -> Result<(), UrlError> {
        let exp: i64 = exp.parse().map_err(|_| UrlError::Malformed)?;
        let sig = unhex(sig).ok_or(UrlError::Malformed)?;
        // The signature first: an expired link with a forged signature is forged.
        self.mac(parts)
            .verify_slice(&sig)
            .map_err(|_| UrlError::BadSignature)?;
        if Utc::now().timestamp() > exp {
            return Err(UrlError::Expired);
        }
        Ok(())
    }
}

/// Percent-encodes a key for a path (slashes kept).
pub(super) fn encode_path(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Percent-encodes a query value.
pub(super) fn encode(value: &str) -> String {
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
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
