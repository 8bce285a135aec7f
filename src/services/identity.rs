//! Verifies ID tokens of identity providers (Firebase or Auth0 in front of Google, Facebook and
//! LinkedIn): RS256 against the provider's JWKS, with issuer, audience and expiry pinned.

use crate::configuration::{IdentityProviderKind, IdentityProviderSettings};
use crate::domain::AuthProvider;
use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How long fetched keys are trusted before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// A token with an unknown key id refreshes the keys at most this often (providers rotate).
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

/// Who the provider says the person is.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub provider: AuthProvider,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("no identity provider is configured")]
    NotConfigured,
    #[error("the ID token is not valid: {0}")]
    Invalid(String),
    #[error("the ID token was issued for {actual}, not {expected}")]
    ProviderMismatch {
        expected: AuthProvider,
        actual: String,
    },
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    name: Option<String>,
    firebase: Option<FirebaseClaims>,
}

#[derive(Debug, Deserialize)]
struct FirebaseClaims {
    sign_in_provider: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UnverifiedIssuer {
    iss: Option<String>,
}

struct CachedKeys {
    keys: JwkSet,
    fetched: Instant,
}

pub struct IdentityVerifier {
    providers: Vec<IdentityProviderSettings>,
    http: reqwest::Client,
    cache: RwLock<HashMap<String, CachedKeys>>,
}

impl IdentityVerifier {
    pub fn new(providers: Vec<IdentityProviderSettings>) -> anyhow::Result<IdentityVerifier> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the JWKS HTTP client")?;
        Ok(IdentityVerifier {
            providers,
            http,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// Verifies `token` and checks it was issued for `expected`.
    pub async fn verify(
        &self,
        expected: AuthProvider,
        token: &str,
    ) -> Result<VerifiedIdentity, IdentityError> {
        if self.providers.is_empty() {
            return Err(IdentityError::NotConfigured);
        }
        if token.len() > 8192 {
            return Err(IdentityError::Invalid("token too long".into()));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| IdentityError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(IdentityError::Invalid(
                "only RS256 tokens are accepted".into(),
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| IdentityError::Invalid("the token has no key id".into()))?;
        // The issuer picks the provider settings; the signature check below is what trusts it.
        let issuer = unverified_issuer(token)
            .ok_or_else(|| IdentityError::Invalid("the token has no issuer".into()))?;
        let provider = self
            .providers
            .iter()
            .find(|p| p.issuer == issuer)
            .ok_or_else(|| IdentityError::Invalid("the token's issuer is not accepted".into()))?;
        let key = self.key(provider, &kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[provider.issuer.as_str()]);
        validation.set_audience(&[provider.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 60;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| IdentityError::Invalid(e.to_string()))?
            .claims;
        debug_assert_eq!(claims.iss, provider.issuer);
        let actual = match provider.kind {
            IdentityProviderKind::Firebase => firebase_provider(
                claims
                    .firebase
                    .as_ref()
                    .and_then(|f| f.sign_in_provider.as_deref()),
            ),
            IdentityProviderKind::Auth0 => auth0_provider(&claims.sub),
        };
        match actual {
            Ok(p) if p == expected => {}
            Ok(p) => {
                return Err(IdentityError::ProviderMismatch {
                    expected,
                    actual: p.to_string(),
                })
            }
            Err(label) => {
                return Err(IdentityError::ProviderMismatch {
                    expected,
                    actual: label,
                })
            }
        }
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(IdentityError::Invalid("bad subject".into()));
        }
        let email_verified = match &claims.email_verified {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        Ok(VerifiedIdentity {
            provider: expected,
            subject: claims.sub,
            email: claims.email,
            email_verified,
            name: claims.name,
        })
    }

    async fn key(
        &self,
        provider: &IdentityProviderSettings,
        kid: &str,
    ) -> Result<DecodingKey, IdentityError> {
        {
            let cache = self.cache.read().await;
            if let Some(cached) = cache.get(&provider.jwks_url) {
                let fresh = cached.fetched.elapsed() < JWKS_TTL;
                if let Some(jwk) = cached.keys.find(kid) {
                    if fresh {
                        return DecodingKey::from_jwk(jwk)
                            .map_err(|e| IdentityError::Invalid(e.to_string()));
                    }
                } else if cached.fetched.elapsed() < JWKS_MIN_REFRESH {
                    return Err(IdentityError::Invalid("unknown signing key".into()));
                }
            }
        }
        let keys: JwkSet = self
            .http
            .get(&provider.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .context("fetching the provider's JWKS")?
            .json()
            .await
            .context("reading the provider's JWKS")?;
        let key = keys
            .find(kid)
            .map(DecodingKey::from_jwk)
            .transpose()
            .map_err(|e| IdentityError::Invalid(e.to_string()))?;
        self.cache.write().await.insert(
            provider.jwks_url.clone(),
            CachedKeys {
                keys,
                fetched: Instant::now(),
            },
        );
        key.ok_or_else(|| IdentityError::Invalid("unknown signing key".into()))
    }
}

fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<UnverifiedIssuer>(&bytes).ok()?.iss
}

fn firebase_provider(sign_in_provider: Option<&str>) -> Result<AuthProvider, String> {
    match sign_in_provider {
        Some("google.com") => Ok(AuthProvider::Google),
        Some("facebook.com") => Ok(AuthProvider::Facebook),
        Some("linkedin.com" | "oidc.linkedin") => Ok(AuthProvider::Linkedin),
        Some(other) => Err(other.to_string()),
        None => Err("an unknown provider".to_string()),
    }
}

fn auth0_provider(sub: &str) -> Result<AuthProvider, String> {
    let connection = sub.split('|').next().unwrap_or_default();
    match connection {
        "google-oauth2" => Ok(AuthProvider::Google),
        "facebook" => Ok(AuthProvider::Facebook),
        "linkedin" | "oidc-linkedin" => Ok(AuthProvider::Linkedin),
        other => Err(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_read_from_firebase_and_auth0_shapes() {
        assert_eq!(
            firebase_provider(Some("google.com")),
            Ok(AuthProvider::Google)
        );
        assert_eq!(
            firebase_provider(Some("facebook.com")),
            Ok(AuthProvider::Facebook)
        );
        assert!(firebase_provider(Some("password")).is_err());
        assert!(firebase_provider(None).is_err());
        assert_eq!(
            auth0_provider("google-oauth2|123"),
            Ok(AuthProvider::Google)
        );
        assert_eq!(auth0_provider("linkedin|abc"), Ok(AuthProvider::Linkedin));
        assert!(auth0_provider("auth0|abc").is_err());
    }
}
