//! Refresh-token sessions: each sign-in starts a session whose tokens rotate; reuse of a rotated
//! token revokes the session.

use super::schema::{auth_sessions, refresh_tokens};
use super::PgConn;
use crate::domain::ids::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

pub async fn create_session(
    conn: &mut PgConn,
    id: SessionId,
    user_id: UserId,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(auth_sessions::table)
        .values((
            auth_sessions::id.eq(id),
            auth_sessions::user_id.eq(user_id),
            auth_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_token(
    conn: &mut PgConn,
    hash: &[u8],
    session_id: SessionId,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A presented refresh token and its session, read under a row lock.
#[derive(Debug, Clone, Queryable)]
pub struct TokenState {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub token_expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub session_revoked_at: Option<DateTime<Utc>>,
    /// The session's absolute end.
    pub session_expires_at: DateTime<Utc>,
}

/// Locks the token's row and its session's (so refreshes in one session serialize) and reads
/// their state.
pub async fn lock_token(conn: &mut PgConn, hash: &[u8]) -> QueryResult<Option<TokenState>> {
    refresh_tokens::table
        .inner_join(auth_sessions::table)
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((
            auth_sessions::id,
            auth_sessions::user_id,
            refresh_tokens::expires_at,
            refresh_tokens::rotated_at,
            auth_sessions::revoked_at,
            auth_sessions::expires_at,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn mark_rotated(conn: &mut PgConn, hash: &[u8]) -> QueryResult<()> {
    diesel::update(refresh_tokens::table.find(hash))
        .set(refresh_tokens::rotated_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a session; returns whether it was live.
pub async fn revoke_session(
    conn: &mut PgConn,
    session_id: SessionId,
    reason: &str,
) -> QueryResult<bool> {
    let n = diesel::update(
        auth_sessions::table
            .find(session_id)
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set((
        auth_sessions::revoked_at.eq(diesel::dsl::now),
        auth_sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Revokes every live session of a user; returns their ids.
pub async fn revoke_user_sessions(
    conn: &mut PgConn,
    user_id: UserId,
    reason: &str,
) -> QueryResult<Vec<SessionId>> {
    diesel::update(
        auth_sessions::table
            .filter(auth_sessions::user_id.eq(user_id))
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set((
        auth_sessions::revoked_at.eq(diesel::dsl::now),
        auth_sessions::revoked_reason.eq(reason),
    ))
    .returning(auth_sessions::id)
    .get_results(conn)
    .await
}

/// Whether a session has been revoked (the source of truth behind the Redis cache).
pub async fn is_revoked(conn: &mut PgConn, session_id: SessionId) -> QueryResult<bool> {
    let revoked: Option<Option<DateTime<Utc>>> = auth_sessions::table
        .find(session_id)
        .select(auth_sessions::revoked_at)
        .first(conn)
        .await
        .optional()?;
    Ok(!matches!(revoked, Some(None)))
}

/// Sessions revoked since `since` (their access tokens may still be unexpired).
pub async fn revoked_since(conn: &mut PgConn, since: DateTime<Utc>) -> QueryResult<Vec<SessionId>> {
    auth_sessions::table
        .filter(auth_sessions::revoked_at.ge(since))
        .select(auth_sessions::id)
        .load(conn)
        .await
}

/// When a session started (its sign-in), if it exists.
pub async fn started_at(
    conn: &mut PgConn,
    session_id: SessionId,
) -> QueryResult<Option<DateTime<Utc>>> {
    auth_sessions::table
        .find(session_id)
        .select(auth_sessions::created_at)
        .first(conn)
        .await
        .optional()
}

/// Which of `ids` are revoked (or gone).
pub async fn revoked_among(conn: &mut PgConn, ids: &[SessionId]) -> QueryResult<Vec<SessionId>> {
    let live: Vec<SessionId> = auth_sessions::table
        .filter(auth_sessions::id.eq_any(ids))
        .filter(auth_sessions::revoked_at.is_null())
        .select(auth_sessions::id)
        .load(conn)
        .await?;
    Ok(ids
        .iter()
        .copied()
        .filter(|id| !live.contains(id))
        .collect())
}
