//! Sign-up, sign-in (password with optional TOTP, or an identity provider), refresh-token
//! rotation with reuse detection, logout, and operators' role changes. Passwords, ending
//! sessions and two-factor set-up have modules of their own.

use super::identity::{IdentityError, VerifiedIdentity};
use super::passwords::{hash_password, verify_password};
use super::sessions::end_every_session;
use super::two_factor::{provider_second_factor, second_factor};
use super::{gate, tokens, AppState, RequestMeta, Viewer};
use crate::db::{self, models, PgConn};
use crate::domain::ids::*;
use crate::domain::values::{self, Email};
use crate::domain::{AccountTokenPurpose, AuthProvider, Role};
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;

/// What a successful sign-in returns.
#[derive(Debug, Clone)]
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub user: models::User,
}

/// Starts a session for `user` and issues its first token pair.
async fn start_session(
    state: &AppState,
    conn: &mut PgConn,
    user: models::User,
) -> AppResult<AuthPayload> {
    let now = Utc::now();
    let session_id = SessionId::generate();
    let (refresh_token, hash) = tokens::new_refresh_token();
    let session_ends = now + state.tokens.session_lifetime;
    let token_expires = (now + state.tokens.refresh_ttl).min(session_ends);
    conn.transaction::<_, AppError, _>(async |c| {
        db::sessions::create_session(c, session_id, user.id, session_ends)
            .await
            .context("sessions::create_session")?;
        db::sessions::insert_token(c, &hash, session_id, token_expires)
            .await
            .context("sessions::insert_token")?;
        Ok(())
    })
    .await?;
    let viewer = Viewer {
        user_id: user.id,
        role: user.role,
        session_id,
    };
    let (access_token, access_token_expires_at) =
        state.tokens.issue_access(&viewer, now, session_ends)?;
    Ok(AuthPayload {
        access_token,
        refresh_token,
        access_token_expires_at,
        user,
    })
}

pub async fn register(
    state: &AppState,
    meta: &RequestMeta,
    email: &str,
    password: &str,
    role: Role,
    display_name: &str,
) -> AppResult<AuthPayload> {
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    if role == Role::Admin {
        return Err(AppError::forbidden(
            "ADMIN is granted by operators, not chosen at sign-up",
        ));
    }
    let email = Email::parse("email", email)?;
    values::password("password", password)?;
    let display_name = values::text("displayName", display_name, 100)?;
    let hash = hash_password(state, password.to_string()).await?;
    let mut conn = state.conn().await?;
    // The account and its verification mail commit together.
    let user = conn
        .transaction::<_, AppError, _>(async |c| {
            let user = db::users::insert(
                c,
                models::NewUser {
                    id: UserId::generate(),
                    email: &email,
                    role,
                    display_name: &display_name,
                    password_hash: Some(&hash),
                },
            )
            .await
            .context("users::insert")?
            .ok_or_else(|| AppError::conflict("an account with this email already exists"))?;
            super::accounts::send_token(state, c, &user, AccountTokenPurpose::VerifyEmail).await?;
            Ok(user)
        })
        .await?;
    tracing::info!(user_id = %user.id, role = %role, "user registered");
    start_session(state, &mut conn, user).await
}

pub async fn login(
    state: &AppState,
    meta: &RequestMeta,
    email: &str,
    password: &str,
    totp_code: Option<&str>,
) -> AppResult<AuthPayload> {
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    let invalid = || AppError::InvalidCredentials("invalid email or password".into());
    if password.len() > 1024 {
        return Err(invalid());
    }
    let mut conn = state.conn().await?;
    let user = match Email::parse("email", email) {
        Ok(email) => db::users::find_by_email(&mut conn, &email)
            .await
            .context("users::find_by_email")?,
        Err(_) => None,
    };
    let credentials = match &user {
        Some(u) => db::users::credentials(&mut conn, u.id)
            .await
            .context("users::credentials")?,
        None => None,
    };
    let stored = credentials.as_ref().and_then(|c| c.password_hash.clone());
    if !verify_password(state, password.to_string(), stored).await? {
        tracing::info!(client = ?meta.client_ip, "login failed");
        return Err(invalid());
    }
    let (Some(user), Some(credentials)) = (user, credentials) else {
        return Err(invalid());
    };
    second_factor(state, &mut conn, &user, &credentials, totp_code).await?;
    if state.settings.auth.require_verified_email && user.email_verified_at.is_none() {
        return Err(AppError::forbidden(
            "verify your email address first: follow the link in the mail we sent",
        ));
    }
    tracing::info!(user_id = %user.id, "login succeeded");
    start_session(state, &mut conn, user).await
}

/// Exchanges a refresh token for a new pair. The presented token stops working; presenting it
/// again later is treated as theft and revokes the whole session.
pub async fn refresh(
    state: &AppState,
    meta: &RequestMeta,
    refresh_token: &str,
) -> AppResult<AuthPayload> {
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    let invalid = || AppError::InvalidCredentials("invalid or expired refresh token".into());
    if refresh_token.len() > 256 {
        return Err(invalid());
    }
    let hash = tokens::hash_refresh_token(refresh_token);
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let outcome = conn
        .transaction::<_, AppError, _>(async |c| rotate(c, state, &hash, now).await)
        .await?;
    match outcome {
        Rotation::Rotated {
            user_id,
            session_id,
            session_ends,
            token,
        } => {
            let user = db::users::find(&mut conn, user_id)
                .await
                .context("users::find")?
                .ok_or_else(invalid)?;
            let viewer = Viewer {
                user_id,
                role: user.role,
                session_id,
            };
            let (access_token, access_token_expires_at) =
                state.tokens.issue_access(&viewer, now, session_ends)?;
            Ok(AuthPayload {
                access_token,
                refresh_token: token,
                access_token_expires_at,
                user,
            })
        }
        Rotation::Reused(session_id) => {
            tracing::warn!(%session_id, client = ?meta.client_ip, "refresh token reuse detected; session revoked");
            gate::cache_revoked_sessions(state, &[session_id]).await;
            let entry = super::audit::Entry {
                actor: None,
                action: "REFRESH_REUSE_DETECTED".into(),
                object_type: "Session".into(),
                object_id: session_id.to_string(),
                summary: "a rotated refresh token was presented again; the session is revoked"
                    .into(),
            };
            super::audit::record(state, meta, entry).await;
            Err(invalid())
        }
        Rotation::Invalid => Err(invalid()),
    }
}

/// What presenting a refresh token came to.
enum Rotation {
    /// The token was current: a new one (`token`) replaces it in the same session.
    Rotated {
        user_id: UserId,
        session_id: SessionId,
        session_ends: DateTime<Utc>,
        token: String,
    },
    /// The token had been rotated already: the session is revoked.
    Reused(SessionId),
    Invalid,
}

/// Rotates the refresh token whose hash is `hash`, in the caller's transaction (its row
/// locked).
async fn rotate(
    c: &mut PgConn,
    state: &AppState,
    hash: &[u8],
    now: DateTime<Utc>,
) -> AppResult<Rotation> {
    let Some(token) = db::sessions::lock_token(c, hash)
        .await
        .context("sessions::lock_token")?
    else {
        return Ok(Rotation::Invalid);
    };
    if token.session_revoked_at.is_some() {
        return Ok(Rotation::Invalid);
    }
    if token.rotated_at.is_some() {
        let reason = "refresh token reused";
        db::sessions::revoke_session(c, token.session_id, reason)
            .await
            .context("sessions::revoke_session")?;
        super::events::sessions_revoked(c, token.user_id, &[token.session_id], reason).await?;
        return Ok(Rotation::Reused(token.session_id));
    }
    // A session ends at its absolute lifetime, however often it was refreshed.
    if token.token_expires_at <= now || token.session_expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    db::sessions::mark_rotated(c, hash)
        .await
        .context("sessions::mark_rotated")?;
    let (new_token, new_hash) = tokens::new_refresh_token();
    db::sessions::insert_token(
        c,
        &new_hash,
        token.session_id,
        (now + state.tokens.refresh_ttl).min(token.session_expires_at),
    )
    .await
    .context("sessions::insert_token")?;
    Ok(Rotation::Rotated {
        user_id: token.user_id,
        session_id: token.session_id,
        session_ends: token.session_expires_at,
        token: new_token,
    })
}

/// Ends the session the refresh token belongs to. Unknown tokens answer `false`.
pub async fn logout(state: &AppState, refresh_token: &str) -> AppResult<bool> {
    if refresh_token.len() > 256 {
        return Ok(false);
    }
    let hash = tokens::hash_refresh_token(refresh_token);
    let mut conn = state.conn().await?;
    let session = conn
        .transaction::<_, AppError, _>(async |c| {
            let Some(token) = db::sessions::lock_token(c, &hash)
                .await
                .context("sessions::lock_token")?
            else {
                return Ok(None);
            };
            let revoked = db::sessions::revoke_session(c, token.session_id, "logout")
                .await
                .context("sessions::revoke_session")?;
            if revoked {
                super::events::sessions_revoked(c, token.user_id, &[token.session_id], "logout")
                    .await?;
            }
            Ok(revoked.then_some(token.session_id))
        })
        .await?;
    match session {
        Some(id) => {
            gate::cache_revoked_sessions(state, &[id]).await;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub async fn login_with_provider(
    state: &AppState,
    meta: &RequestMeta,
    provider: AuthProvider,
    id_token: &str,
    role: Option<Role>,
    totp_code: Option<&str>,
) -> AppResult<AuthPayload> {
    gate::count_auth_attempt(state, meta.client_ip.as_deref()).await?;
    if role == Some(Role::Admin) {
        return Err(AppError::forbidden(
            "ADMIN is granted by operators, not chosen at sign-up",
        ));
    }
    let identity = state
        .identity
        .verify(provider, id_token)
        .await
        .map_err(identity_refused)?;
    let mut conn = state.conn().await?;
    if let Some(user) = db::users::find_by_identity(&mut conn, provider, &identity.subject)
        .await
        .context("users::find_by_identity")?
    {
        provider_second_factor(state, &mut conn, &user, totp_code).await?;
        return start_session(state, &mut conn, user).await;
    }
    // An address the provider has not verified proves nothing: it never creates or links an
    // account (anyone can type someone else's address into a provider profile).
    if !identity.email_verified {
        return Err(AppError::forbidden(
            "the provider has not verified this email address; verify it there first",
        ));
    }
    let email = identity
        .email
        .as_deref()
        .map(|e| Email::parse("idToken", e))
        .transpose()?
        .ok_or_else(|| {
            AppError::bad_input("idToken", "the provider did not share an email address")
        })?;
    if let Some(user) = db::users::find_by_email(&mut conn, &email)
        .await
        .context("users::find_by_email")?
    {
        if user.email_verified_at.is_some() {
            // The owner proved the address before: link, as a second way in.
            provider_second_factor(state, &mut conn, &user, totp_code).await?;
            db::users::link_identity(&mut conn, provider, &identity.subject, user.id)
                .await
                .context("users::link_identity")?;
            return start_session(state, &mut conn, user).await;
        }
        return take_over(state, meta, &mut conn, provider, &identity.subject, user).await;
    }
    let user = register_from_provider(&mut conn, provider, &identity, &email, role).await?;
    tracing::info!(user_id = %user.id, %provider, "user registered through a provider");
    start_session(state, &mut conn, user).await
}

/// Why a provider's token is refused, as the client hears it.
fn identity_refused(e: IdentityError) -> AppError {
    match e {
        IdentityError::NotConfigured => AppError::bad_input(
            "provider",
            "sign-in with an identity provider is not configured",
        ),
        IdentityError::Unavailable(cause) => AppError::Internal(cause.context("identity provider")),
        other => {
            tracing::info!(reason = %other, "provider token refused");
            AppError::InvalidCredentials("the identity token was not accepted".into())
        }
    }
}

/// A new account for a provider identity with a verified address: verified at once, the
/// identity linked, named as the provider names the person (or after the address).
async fn register_from_provider(
    conn: &mut PgConn,
    provider: AuthProvider,
    identity: &VerifiedIdentity,
    email: &Email,
    role: Option<Role>,
) -> AppResult<models::User> {
    let role = role.ok_or_else(|| {
        AppError::bad_input("role", "a new account needs a role: TALENT or PRODUCER")
    })?;
    let display_name = identity
        .name
        .as_deref()
        .and_then(|n| values::text("displayName", n, 100).ok())
        .unwrap_or_else(|| {
            email
                .as_str()
                .split('@')
                .next()
                .unwrap_or("member")
                .to_string()
        });
    conn.transaction::<_, AppError, _>(async |c| {
        let user = db::users::insert(
            c,
            models::NewUser {
                id: UserId::generate(),
                email,
                role,
                display_name: &display_name,
                password_hash: None,
            },
        )
        .await
        .context("users::insert")?
        .ok_or_else(|| AppError::conflict("an account with this email already exists"))?;
        db::users::link_identity(c, provider, &identity.subject, user.id)
            .await
            .context("users::link_identity")?;
        db::accounts::mark_verified(c, user.id)
            .await
            .context("accounts::mark_verified")?;
        Ok(user)
    })
    .await
}

/// A verified provider identity whose address matches an account that never verified it: the
/// address belongs to the identity's owner, so whatever someone else set up under it (a
/// password, 2FA, open sessions) is removed, the address is marked verified, and the takeover
/// is audited. This defeats account pre-hijacking (registering a victim's address first).
async fn take_over(
    state: &AppState,
    meta: &RequestMeta,
    conn: &mut PgConn,
    provider: AuthProvider,
    subject: &str,
    user: models::User,
) -> AppResult<AuthPayload> {
    let revoked = conn
        .transaction::<_, AppError, _>(async |c| {
            db::users::lock(c, user.id).await.context("users::lock")?;
            db::accounts::clear_before_proof(c, user.id)
                .await
                .context("accounts::clear_before_proof")?;
            db::accounts::take_over(c, user.id)
                .await
                .context("accounts::take_over")?;
            db::users::link_identity(c, provider, subject, user.id)
                .await
                .context("users::link_identity")?;
            let reason = "taken over by a verified provider identity";
            end_every_session(c, user.id, reason).await
        })
        .await?;
    gate::cache_revoked_sessions(state, &revoked).await;
    let entry = super::audit::Entry {
        actor: Some((user.id, user.role)),
        action: "ACCOUNT_TAKEN_OVER".into(),
        object_type: "User".into(),
        object_id: user.id.to_string(),
        summary: format!(
            "a verified {provider} identity claimed an account whose email was never verified; \
             its password, 2FA and {} session(s) were removed",
            revoked.len()
        ),
    };
    super::audit::record(state, meta, entry).await;
    tracing::warn!(user_id = %user.id, %provider, "unverified account taken over by a verified provider identity");
    let user = db::users::find(conn, user.id)
        .await
        .context("users::find")?
        .ok_or(AppError::Unauthenticated)?;
    start_session(state, conn, user).await
}

/// Resolves a bearer token to the caller. Bad, expired or foreign tokens are UNAUTHENTICATED;
/// revocation is checked by the request gate.
pub fn authenticate(state: &AppState, bearer: Option<&str>) -> AppResult<Option<Viewer>> {
    match bearer {
        None => Ok(None),
        Some(token) => state
            .tokens
            .verify_access(token)
            .map(Some)
            .ok_or(AppError::Unauthenticated),
    }
}

/// Grants or revokes ADMIN (operators only, from the command line). Existing sessions are
/// revoked so the new role takes effect at the next sign-in. PostgreSQL is the truth: the
/// revocation and its outbox event commit together, and every running server closes the
/// sessions' sockets and caches the revocation when the event reaches it. Returns the user and
/// the revoked sessions.
pub async fn set_admin(
    state: &AppState,
    email: &str,
    admin: bool,
) -> AppResult<(models::User, Vec<SessionId>)> {
    let email = Email::parse("email", email)?;
    let mut conn = state.conn().await?;
    let user = db::users::find_by_email(&mut conn, &email)
        .await
        .context("users::find_by_email")?
        .ok_or(AppError::NotFound("user"))?;
    let role = if admin {
        Role::Admin
    } else if db::profiles::find_producer(&mut conn, user.id)
        .await
        .context("profiles::find_producer")?
        .is_some()
    {
        Role::Producer
    } else {
        Role::Talent
    };
    let revoked = conn
        .transaction::<_, AppError, _>(async |c| {
            db::users::set_role(c, user.id, role)
                .await
                .context("users::set_role")?;
            let reason = "role changed";
            end_every_session(c, user.id, reason).await
        })
        .await?;
    Ok((models::User { role, ..user }, revoked))
}
