//! Ending sign-in sessions: every session of a user at once (a password reset, a takeover, a
//! role change), recorded with the outbox event that closes their sockets on every instance.

use crate::db::{self, PgConn};
use crate::domain::ids::*;
use crate::errors::AppResult;
use anyhow::Context;

/// Revokes every live session of `user` and records it for every instance (their sockets
/// close, Redis caches the revocation), in the caller's transaction; returns the sessions.
pub async fn end_every_session(
    conn: &mut PgConn,
    user: UserId,
    reason: &str,
) -> AppResult<Vec<SessionId>> {
    let revoked = db::sessions::revoke_user_sessions(conn, user, reason)
        .await
        .context("sessions::revoke_user_sessions")?;
    super::events::sessions_revoked(conn, user, &revoked, reason).await?;
    Ok(revoked)
}
