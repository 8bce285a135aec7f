//! Two-factor authentication (TOTP, RFC 6238: SHA-1, 6 digits, 30 s): set-up, confirmation,
//! disabling (each re-authenticated), and the second step of a sign-in.

use super::{gate, signed_in, AppState, RequestMeta, Viewer};
use crate::db::{self, models, PgConn};
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use chrono::Utc;
use totp_rs::{Secret, TOTP};

/// With 2FA on, a sign-in needs a current code that was not used before.
pub(super) async fn second_factor(
    state: &AppState,
    conn: &mut PgConn,
    user: &models::User,
    credentials: &models::Credentials,
    totp_code: Option<&str>,
) -> AppResult<()> {
    if !credentials.totp_enabled {
        return Ok(());
    }
    let Some(code) = totp_code else {
        return Err(AppError::TwoFactorRequired);
    };
    let secret = credentials
        .totp_secret
        .as_deref()
        .context("2FA on without a secret")?;
    let step = check_totp(state, secret, &user.email, code)?
        .ok_or_else(|| AppError::InvalidCredentials("invalid two-factor code".into()))?;
    if !db::users::claim_totp_step(conn, user.id, step)
        .await
        .context("users::claim_totp_step")?
    {
        return Err(AppError::InvalidCredentials(
            "this two-factor code was already used".into(),
        ));
    }
    Ok(())
}

/// The 2FA check of a user found by a provider identity.
pub(super) async fn provider_second_factor(
    state: &AppState,
    conn: &mut PgConn,
    user: &models::User,
    totp_code: Option<&str>,
) -> AppResult<()> {
    let credentials = db::users::credentials(conn, user.id)
        .await
        .context("users::credentials")?
        .ok_or(AppError::Unauthenticated)?;
    second_factor(state, conn, user, &credentials, totp_code).await
}

/// A TOTP secret in the making, before the user proves they stored it.
#[derive(Debug, Clone)]
pub struct TwoFactorSetup {
    pub secret: String,
    pub otpauth_url: String,
}

fn totp(state: &AppState, secret_b32: &str, account: &str) -> AppResult<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("decoding a TOTP secret: {e:?}"))?;
    TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some(state.settings.auth.totp_issuer.clone()),
        account.to_string(),
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("building a TOTP: {e}")))
}

/// The time step whose code matches (the current one or one either side), if any.
fn check_totp(state: &AppState, secret: &str, account: &str, code: &str) -> AppResult<Option<i64>> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(state, secret, account)?;
    let now = Utc::now().timestamp();
    let current = now / 30;
    for step in [current - 1, current, current + 1] {
        let expected = totp.generate((step * 30) as u64);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A stolen access token must not change how the account signs in: the caller proves it is the
/// account's owner again, with the password, or by a sign-in (not a refresh) within the
/// re-authentication window.
async fn reauthenticate(
    state: &AppState,
    meta: &RequestMeta,
    conn: &mut PgConn,
    viewer: &Viewer,
    password: Option<&str>,
) -> AppResult<()> {
    if let Some(password) = password {
        gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
        let stored = db::users::credentials(conn, viewer.user_id)
            .await
            .context("users::credentials")?
            .and_then(|c| c.password_hash);
        if stored.is_none() {
            return Err(AppError::bad_input(
                "password",
                "this account signs in through a provider; sign in again instead",
            ));
        }
        if password.len() > 1024
            || !super::passwords::verify_password(state, password.to_string(), stored).await?
        {
            return Err(AppError::bad_input(
                "password",
                "the password is not correct",
            ));
        }
        return Ok(());
    }
    let window = chrono::Duration::seconds(state.settings.auth.reauth_window_secs);
    match db::sessions::started_at(conn, viewer.session_id)
        .await
        .context("sessions::started_at")?
    {
        Some(signed_in_at) if Utc::now() - signed_in_at <= window => Ok(()),
        _ => Err(AppError::forbidden(
            "confirm with your password (or sign in again) to change two-factor settings",
        )),
    }
}

pub async fn begin_two_factor(
    state: &AppState,
    meta: &RequestMeta,
    viewer: Option<Viewer>,
    password: Option<&str>,
) -> AppResult<TwoFactorSetup> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    let user = db::users::find(&mut conn, viewer.user_id)
        .await
        .context("users::find")?
        .ok_or(AppError::Unauthenticated)?;
    reauthenticate(state, meta, &mut conn, &viewer, password).await?;
    if user.totp_enabled {
        return Err(AppError::conflict(
            "two-factor authentication is already on; disable it first",
        ));
    }
    let secret = match Secret::generate_secret().to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "TOTP secret was not encoded"
            )))
        }
    };
    let otpauth_url = totp(state, &secret, &user.email)?.get_url();
    db::users::set_pending_totp(&mut conn, user.id, &secret)
        .await
        .context("users::set_pending_totp")?;
    Ok(TwoFactorSetup {
        secret,
        otpauth_url,
    })
}

/// Who presents a 2FA code to change their settings: counted as an authentication attempt.
async fn code_check_subject(
    state: &AppState,
    meta: &RequestMeta,
    viewer: Option<Viewer>,
) -> AppResult<(PgConn, Viewer, models::User, models::Credentials)> {
    let viewer = signed_in(viewer)?;
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    let mut conn = state.conn().await?;
    let user = db::users::find(&mut conn, viewer.user_id)
        .await
        .context("users::find")?
        .ok_or(AppError::Unauthenticated)?;
    let credentials = db::users::credentials(&mut conn, viewer.user_id)
        .await
        .context("users::credentials")?
        .ok_or(AppError::Unauthenticated)?;
    Ok((conn, viewer, user, credentials))
}

pub async fn confirm_two_factor(
    state: &AppState,
    meta: &RequestMeta,
    viewer: Option<Viewer>,
    code: &str,
) -> AppResult<bool> {
    let (mut conn, viewer, user, credentials) = code_check_subject(state, meta, viewer).await?;
    if credentials.totp_enabled {
        return Err(AppError::conflict(
            "two-factor authentication is already on",
        ));
    }
    let secret = credentials
        .totp_secret
        .ok_or_else(|| AppError::conflict("call beginTwoFactorSetup first"))?;
    let step = check_totp(state, &secret, &user.email, code)?.ok_or_else(|| {
        AppError::bad_input("code", "the code does not match; check the device clock")
    })?;
    db::users::enable_totp(&mut conn, viewer.user_id, step)
        .await
        .context("users::enable_totp")?;
    tracing::info!(user_id = %viewer.user_id, "two-factor authentication enabled");
    Ok(true)
}

pub async fn disable_two_factor(
    state: &AppState,
    meta: &RequestMeta,
    viewer: Option<Viewer>,
    code: &str,
    password: Option<&str>,
) -> AppResult<bool> {
    let (mut conn, viewer, user, credentials) = code_check_subject(state, meta, viewer).await?;
    let (true, Some(secret)) = (credentials.totp_enabled, credentials.totp_secret) else {
        return Err(AppError::conflict("two-factor authentication is not on"));
    };
    reauthenticate(state, meta, &mut conn, &viewer, password).await?;
    let step = check_totp(state, &secret, &user.email, code)?
        .ok_or_else(|| AppError::bad_input("code", "the code does not match"))?;
    if !db::users::claim_totp_step(&mut conn, viewer.user_id, step)
        .await
        .context("users::claim_totp_step")?
    {
        return Err(AppError::bad_input(
            "code",
            "this code was already used; wait for the next one",
        ));
    }
    db::users::disable_totp(&mut conn, viewer.user_id)
        .await
        .context("users::disable_totp")?;
    tracing::info!(user_id = %viewer.user_id, "two-factor authentication disabled");
    Ok(true)
}
