//! Our own tokens: HS256 access tokens (algorithm, issuer and audience pinned on validation)
//! and opaque refresh tokens, stored only as SHA-256 hashes.

use super::Viewer;
use crate::configuration::AuthSettings;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::AccountTokenPurpose;
use crate::domain::Role;
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: UserId,
    exp: i64,
    iat: i64,
    role: Role,
    /// The session (refresh-token family) this token belongs to; revoking it revokes the token.
    sid: SessionId,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    header: Header,
    issuer: String,
    audience: String,
    pub access_ttl: chrono::Duration,
    pub refresh_ttl: chrono::Duration,
    /// How long a session lives from its sign-in, however often it is refreshed.
    pub session_lifetime: chrono::Duration,
    /// Derives mailed account tokens from their ids (`account_token`).
    account_key: Vec<u8>,
}

impl TokenKeys {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<TokenKeys> {
        let secret = settings
            .jwt_secret
            .as_ref()
            .context("auth.jwt_secret is not set")?;
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            header: Header::new(Algorithm::HS256),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl: chrono::Duration::seconds(settings.access_token_ttl_secs),
            refresh_ttl: chrono::Duration::seconds(settings.refresh_token_ttl_secs),
            session_lifetime: chrono::Duration::seconds(settings.session_lifetime_secs),
            account_key: hmac_sha256(bytes, b"castyou account tokens").to_vec(),
        })
    }

    /// Signs an access token; returns it with its expiry, which is never after `not_after`
    /// (the end of its session).
    pub fn issue_access(
        &self,
        viewer: &Viewer,
        now: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let expires = (now + self.access_ttl).min(not_after);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: viewer.user_id,
            exp: expires.timestamp(),
            iat: now.timestamp(),
            role: viewer.role,
            sid: viewer.session_id,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .context("signing an access token")?;
        Ok((token, expires))
    }

    /// Verifies an access token's signature, algorithm, issuer, audience and expiry.
    pub fn verify_access(&self, token: &str) -> Option<Viewer> {
        self.verify_access_until(token).map(|(viewer, _)| viewer)
    }

    /// Like `verify_access`, with the moment the token expires (a websocket closes then).
    pub fn verify_access_until(&self, token: &str) -> Option<(Viewer, DateTime<Utc>)> {
        if token.len() > 4096 {
            return None;
        }
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        let expires = DateTime::from_timestamp(data.claims.exp, 0)?;
        let viewer = Viewer {
            user_id: data.claims.sub,
            role: data.claims.role,
            session_id: data.claims.sid,
        };
        Some((viewer, expires))
    }
}

impl TokenKeys {
    /// The token mailed for `purpose` under `id`: an HMAC of both with a key derived from the
    /// server's secret. Only its hash is stored; the outbox holds only `id`.
    pub fn account_token(&self, purpose: AccountTokenPurpose, id: uuid::Uuid) -> String {
        let mut message = purpose.as_str().as_bytes().to_vec();
        message.push(b':');
        message.extend_from_slice(id.as_bytes());
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.account_key, &message))
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes a key of any length.
    let mut mac = match hmac::Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A new random refresh token (256 bits) and the hash that is stored.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings(secret: &str, audience: &str) -> AuthSettings {
        AuthSettings {
            jwt_secret: Some(SecretString::from(secret)),
            issuer: "castyou".into(),
            audience: audience.into(),
            access_token_ttl_secs: 60,
            refresh_token_ttl_secs: 120,
            session_lifetime_secs: 240,
            reauth_window_secs: 60,
            verification_ttl_secs: 3600,
            password_reset_ttl_secs: 600,
            require_verified_email: false,
            resend_verification_per_hour: 3,
            password_resets_per_hour: 3,
            totp_issuer: "CastYou".into(),
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            identity_providers: vec![],
        }
    }

    #[test]
    fn access_tokens_verify_only_with_the_same_key_and_audience() -> anyhow::Result<()> {
        let keys = TokenKeys::new(&settings("a-secret-that-is-long-enough-0123456789", "api"))?;
        let viewer = Viewer {
            user_id: UserId::generate(),
            role: Role::Producer,
            session_id: SessionId::generate(),
        };
        let (token, _) =
            keys.issue_access(&viewer, Utc::now(), Utc::now() + chrono::Duration::days(1))?;
        assert_eq!(keys.verify_access(&token), Some(viewer));

        let other_key =
            TokenKeys::new(&settings("another-secret-that-is-long-enough-0123", "api"))?;
        assert_eq!(other_key.verify_access(&token), None);
        let other_audience =
            TokenKeys::new(&settings("a-secret-that-is-long-enough-0123456789", "web"))?;
        assert_eq!(other_audience.verify_access(&token), None);

        let (expired, _) =
            keys.issue_access(&viewer, Utc::now() - chrono::Duration::hours(1), Utc::now())?;
        assert_eq!(keys.verify_access(&expired), None);
        Ok(())
    }

    #[test]
    fn an_unsigned_token_is_refused() -> anyhow::Result<()> {
        let keys = TokenKeys::new(&settings("a-secret-that-is-long-enough-0123456789", "api"))?;
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"iss":"castyou","aud":"api","sub":"{}","exp":{},"iat":0,"role":"ADMIN","sid":"{}"}}"#,
            uuid::Uuid::new_v4(),
            Utc::now().timestamp() + 600,
            uuid::Uuid::new_v4()
        ));
        assert_eq!(keys.verify_access(&format!("{header}.{claims}.")), None);
        Ok(())
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(hash_a, hash_refresh_token(&a));
        assert_eq!(hash_a.len(), 32);
    }
}
