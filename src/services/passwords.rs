//! Passwords: Argon2id hashes (OWASP parameters from `auth.argon2_*`), made and checked off
//! the async workers, with an unknown account costing as long as a wrong password.

use super::AppState;
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon2(state: &AppState) -> AppResult<Argon2<'static>> {
    let auth = &state.settings.auth;
    let params = Params::new(auth.argon2_memory_kib, auth.argon2_iterations, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password as sign-up does (for `castyou seed`, whose accounts share one hash).
pub async fn hash_for_seed(state: &AppState, password: &str) -> AppResult<String> {
    hash_password(state, password.to_string()).await
}

/// Hashes off the async workers: Argon2id is deliberately slow.
pub async fn hash_password(state: &AppState, password: String) -> AppResult<String> {
    let hasher = argon2(state)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        hasher
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .context("password hashing task")?
    .map_err(AppError::Internal)
}

/// Verifies off the async workers. Without a stored hash a dummy one is checked, so an unknown
/// email takes as long as a wrong password.
pub async fn verify_password(
    state: &AppState,
    password: String,
    stored: Option<String>,
) -> AppResult<bool> {
    let hasher = argon2(state)?;
    let dummy = dummy_hash(state).await?;
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (dummy.as_str(), false),
        };
        let parsed = PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(hasher.verify_password(password.as_bytes(), &parsed).is_ok() && real)
    })
    .await
    .context("password verification task")?
    .map_err(AppError::Internal)
}

async fn dummy_hash(state: &AppState) -> AppResult<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| hash_password(state, "castyou-timing-equaliser".to_string()))
        .await
        .cloned()
}
