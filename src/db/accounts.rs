//! Account tokens (email verification, password reset), stored only as hashes, and the account
//! changes they allow.

use super::schema::{account_tokens, users};
use super::PgConn;
use crate::domain::ids::UserId;
use crate::domain::values::Email;
use crate::domain::AccountTokenPurpose;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

pub async fn insert_token(
    conn: &mut PgConn,
    hash: &[u8],
    user_id: UserId,
    purpose: AccountTokenPurpose,
    email: &Email,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::token_hash.eq(hash),
            account_tokens::user_id.eq(user_id),
            account_tokens::purpose.eq(purpose),
            account_tokens::email.eq(email),
            account_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A presented token, locked: its user, and the address it was sent to.
#[derive(Debug, Clone, Queryable)]
pub struct LiveToken {
    pub user_id: UserId,
    pub email: String,
}

/// Takes a token for `purpose` that is unused and unexpired (by the database's clock), marking
/// it used; None when there is no such token. Single use even under concurrent presentations:
/// the update is conditional.
pub async fn take_token(
    conn: &mut PgConn,
    hash: &[u8],
    purpose: AccountTokenPurpose,
) -> QueryResult<Option<LiveToken>> {
    diesel::update(
        account_tokens::table
            .filter(account_tokens::token_hash.eq(hash))
            .filter(account_tokens::purpose.eq(purpose))
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::expires_at.gt(diesel::dsl::now)),
    )
    .set(account_tokens::used_at.eq(diesel::dsl::now))
    .returning((account_tokens::user_id, account_tokens::email))
    .get_result(conn)
    .await
    .optional()
}

/// Marks every unused token of `user` for `purpose` used (a reset voids older reset links).
pub async fn void_tokens(
    conn: &mut PgConn,
    user_id: UserId,
    purpose: AccountTokenPurpose,
) -> QueryResult<usize> {
    diesel::update(
        account_tokens::table
            .filter(account_tokens::user_id.eq(user_id))
            .filter(account_tokens::purpose.eq(purpose))
            .filter(account_tokens::used_at.is_null()),
    )
    .set(account_tokens::used_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}

/// How many tokens for `purpose` the user was sent since `since`.
pub async fn sent_since(
    conn: &mut PgConn,
    user_id: UserId,
    purpose: AccountTokenPurpose,
    since: DateTime<Utc>,
) -> QueryResult<i64> {
    account_tokens::table
        .filter(account_tokens::user_id.eq(user_id))
        .filter(account_tokens::purpose.eq(purpose))
        .filter(account_tokens::created_at.ge(since))
        .count()
        .get_result(conn)
        .await
}

/// Marks the user's email verified, if it is still `email`; returns whether it changed.
pub async fn verify_email(conn: &mut PgConn, user_id: UserId, email: &str) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .find(user_id)
            .filter(users::email.eq(email))
            .filter(users::email_verified_at.is_null()),
    )
    .set(users::email_verified_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Sets a new password hash and marks the email verified (the reset proved the address).
pub async fn reset_password(conn: &mut PgConn, user_id: UserId, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::email_verified_at.eq(diesel::dsl::now),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The first proof of an account's address (a password reset by mail, or a verified provider
/// identity) while it was never verified: whatever was set up before the proof, by whoever
/// registered the address, goes: 2FA and every provider identity linked to the account.
pub async fn clear_before_proof(conn: &mut PgConn, user_id: UserId) -> QueryResult<()> {
    use crate::db::schema::user_identities;
    diesel::update(users::table.find(user_id))
        .set((
            users::totp_secret.eq(None::<String>),
            users::totp_enabled.eq(false),
            users::totp_last_step.eq(None::<i64>),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    diesel::delete(user_identities::table.filter(user_identities::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    Ok(())
}

/// A verified provider identity takes over an account whose email was never verified: the
/// password and 2FA someone else may have set are removed and the email is marked verified.
pub async fn take_over(conn: &mut PgConn, user_id: UserId) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(None::<String>),
            users::totp_secret.eq(None::<String>),
            users::totp_enabled.eq(false),
            users::totp_last_step.eq(None::<i64>),
            users::email_verified_at.eq(diesel::dsl::now),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the email verified (a provider vouched for it).
pub async fn mark_verified(conn: &mut PgConn, user_id: UserId) -> QueryResult<()> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::email_verified_at.is_null()),
    )
    .set(users::email_verified_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(())
}
