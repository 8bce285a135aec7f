//! Verified emails and password resets. Each mail carries a single-use, expiring token; only its
//! hash is stored, and the mail event (written in the same transaction) holds only the token's
//! id: the mailer derives the token from it with the server's key (`tokens::TokenKeys`), so
//! neither the outbox nor the token table ever holds a usable token.

use super::events::{self, AccountMail, OutboxEvent};
use super::{audit, gate, signed_in, tokens, AppState, RequestMeta, Viewer};
use crate::db::{self, models, PgConn};
use crate::domain::values::{self, Email};
use crate::domain::AccountTokenPurpose;
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use chrono::Utc;
use diesel_async::AsyncConnection;
use std::sync::Arc;
use uuid::Uuid;

/// Stages a token mail for `user` inside the caller's transaction: the token's hash, and the
/// outbox event the mailer sends from.
pub(crate) async fn send_token(
    state: &AppState,
    conn: &mut PgConn,
    user: &models::User,
    purpose: AccountTokenPurpose,
) -> AppResult<()> {
    let auth = &state.settings.auth;
    let ttl = match purpose {
        AccountTokenPurpose::VerifyEmail => auth.verification_ttl_secs,
        AccountTokenPurpose::ResetPassword => auth.password_reset_ttl_secs,
    };
    let expires_at = Utc::now() + chrono::Duration::seconds(ttl);
    let token_id = Uuid::new_v4();
    let hash = tokens::hash_refresh_token(&state.tokens.account_token(purpose, token_id));
    let email = Email::parse("email", &user.email)?;
    db::accounts::insert_token(conn, &hash, user.id, purpose, &email, expires_at)
        .await
        .context("accounts::insert_token")?;
    let mail = AccountMail {
        user_id: user.id,
        email: email.into_inner(),
        display_name: user.display_name.clone(),
        token_id,
        expires_at,
    };
    let event = match purpose {
        AccountTokenPurpose::VerifyEmail => OutboxEvent::EmailVerificationRequested(mail),
        AccountTokenPurpose::ResetPassword => OutboxEvent::PasswordResetRequested(mail),
    };
    events::record(conn, event).await
}

fn bad_token() -> AppError {
    AppError::bad_input("token", "this link is invalid, already used or expired")
}

/// Marks the email verified with the token from the verification mail (single use).
pub async fn verify_email(state: &AppState, meta: &RequestMeta, token: &str) -> AppResult<bool> {
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    if token.len() > 256 {
        return Err(bad_token());
    }
    let hash = tokens::hash_refresh_token(token.trim());
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let taken = db::accounts::take_token(c, &hash, AccountTokenPurpose::VerifyEmail)
            .await
            .context("accounts::take_token")?
            .ok_or_else(bad_token)?;
        // A token proves the address it was sent to, and only while it is still the account's.
        db::accounts::verify_email(c, taken.user_id, &taken.email)
            .await
            .context("accounts::verify_email")?;
        let user = db::users::find(c, taken.user_id)
            .await
            .context("users::find")?;
        match user {
            Some(user) if user.email == taken.email => Ok(true),
            _ => Err(bad_token()),
        }
    })
    .await
}

/// Sends the verification mail again (signed in, email not yet verified), a few times an hour.
pub async fn resend_verification(
    state: &AppState,
    meta: &RequestMeta,
    viewer: Option<Viewer>,
) -> AppResult<bool> {
    let viewer = signed_in(viewer)?;
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    let mut conn = state.conn().await?;
    let user = db::users::find(&mut conn, viewer.user_id)
        .await
        .context("users::find")?
        .ok_or(AppError::Unauthenticated)?;
    if user.email_verified_at.is_some() {
        return Err(AppError::conflict("this email address is verified already"));
    }
    let max = state.settings.auth.resend_verification_per_hour;
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    conn.transaction::<_, AppError, _>(async |c| {
        // The user's row is locked, so two resends cannot both pass the count.
        db::users::lock(c, user.id).await.context("users::lock")?;
        let sent = db::accounts::sent_since(c, user.id, AccountTokenPurpose::VerifyEmail, hour_ago)
            .await
            .context("accounts::sent_since")?;
        if sent >= max {
            return Err(AppError::RateLimited {
                retry_after_secs: 3600,
            });
        }
        send_token(state, c, &user, AccountTokenPurpose::VerifyEmail).await
    })
    .await?;
    Ok(true)
}

/// Password-reset lookups that may wait at once (per instance); past it requests are answered
/// and their lookups dropped (the client-address limit makes that rare).
pub const RESET_LOOKUPS: usize = 256;

/// Sends a reset mail when the address has an account. Always answers true, whether or not it
/// does, and in the same time: the lookup runs after the answer, for known and unknown
/// addresses alike, so neither the answer nor its timing tells which addresses have accounts.
/// An account gets at most `auth.password_resets_per_hour` reset mails an hour, however many
/// clients ask, so nobody can flood its owner's mailbox.
pub async fn request_password_reset(
    state: &AppState,
    meta: &RequestMeta,
    email: &str,
) -> AppResult<bool> {
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    let Ok(email) = Email::parse("email", email) else {
        return Ok(true);
    };
    let Ok(permit) = Arc::clone(&state.reset_lookups).try_acquire_owned() else {
        tracing::warn!("too many password reset lookups waiting; this one is dropped");
        return Ok(true);
    };
    let state = state.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = send_reset(&state, &email).await {
            tracing::warn!(code = e.code(), error = ?e, "a password reset mail was not staged");
        }
        drop(permit);
    });
    Ok(true)
}

/// Stages the reset mail of the account at `email`, if there is one and it is under its hourly
/// count.
async fn send_reset(state: &AppState, email: &Email) -> AppResult<()> {
    let mut conn = state.conn().await?;
    let Some(user) = db::users::find_by_email(&mut conn, email)
        .await
        .context("users::find_by_email")?
    else {
        tracing::info!("password reset asked for an address without an account");
        return Ok(());
    };
    let max = state.settings.auth.password_resets_per_hour;
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    conn.transaction::<_, AppError, _>(async |c| {
        // The user's row is locked, so two requests cannot both pass the count.
        db::users::lock(c, user.id).await.context("users::lock")?;
        let sent = db::accounts::sent_since(c, user.id, AccountTokenPurpose::ResetPassword, hour_ago)
            .await
            .context("accounts::sent_since")?;
        if sent >= max {
            tracing::info!(user_id = %user.id, "password reset mails for this account are at their hourly count");
            return Ok(());
        }
        send_token(state, c, &user, AccountTokenPurpose::ResetPassword).await
    })
    .await
}

/// Sets a new password with the token from the reset mail (single use): the email counts as
/// verified, every session of the account ends (its sockets close), and it is audited.
pub async fn reset_password(
    state: &AppState,
    meta: &RequestMeta,
    token: &str,
    new_password: &str,
) -> AppResult<bool> {
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    if token.len() > 256 {
        return Err(bad_token());
    }
    values::password("newPassword", new_password)?;
    let hash = super::passwords::hash_password(state, new_password.to_string()).await?;
    let token_hash = tokens::hash_refresh_token(token.trim());
    let mut conn = state.conn().await?;
    let (user_id, revoked, first_proof) = conn
        .transaction::<_, AppError, _>(async |c| {
            let taken =
                db::accounts::take_token(c, &token_hash, AccountTokenPurpose::ResetPassword)
                    .await
                    .context("accounts::take_token")?
                    .ok_or_else(bad_token)?;
            db::users::lock(c, taken.user_id)
                .await
                .context("users::lock")?;
            let user = db::users::find(c, taken.user_id)
                .await
                .context("users::find")?
                .filter(|u| u.email == taken.email)
                .ok_or_else(bad_token)?;
            // The mail is the first proof that the address is the account holder's: 2FA and
            // provider links set before it (by whoever registered the address) go.
            let first_proof = user.email_verified_at.is_none();
            if first_proof {
                db::accounts::clear_before_proof(c, user.id)
                    .await
                    .context("accounts::clear_before_proof")?;
            }
            db::accounts::reset_password(c, user.id, &hash)
                .await
                .context("accounts::reset_password")?;
            db::accounts::void_tokens(c, user.id, AccountTokenPurpose::ResetPassword)
                .await
                .context("accounts::void_tokens")?;
            let revoked = super::sessions::end_every_session(c, user.id, "password reset").await?;
            Ok((user.id, revoked, first_proof))
        })
        .await?;
    gate::cache_revoked_sessions(state, &revoked).await;
    let entry = audit::Entry {
        actor: None,
        action: "PASSWORD_RESET".into(),
        object_type: "User".into(),
        object_id: user_id.to_string(),
        summary: format!(
            "the password was reset by mail; {} session(s) ended{}",
            revoked.len(),
            if first_proof {
                "; the address was proved for the first time, so 2FA and provider links set \
                 before were removed"
            } else {
                ""
            }
        ),
    };
    audit::record(state, meta, entry).await;
    tracing::info!(%user_id, "password reset");
    Ok(true)
}
