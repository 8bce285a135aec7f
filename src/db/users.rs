//! Users, their credentials and provider identities.

use super::models::{Credentials, NewIdentity, NewUser, User};
use super::schema::{user_identities, users};
use super::PgConn;
use crate::domain::ids::*;
use crate::domain::values::Email;
use crate::domain::{AuthProvider, Role};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;

pub async fn find(conn: &mut PgConn, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Locks the user's row for the rest of the transaction.
pub async fn lock(conn: &mut PgConn, id: UserId) -> QueryResult<()> {
    users::table
        .find(id)
        .select(users::id)
        .for_update()
        .first::<UserId>(conn)
        .await?;
    Ok(())
}

pub async fn find_many(conn: &mut PgConn, ids: &[UserId]) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(conn)
        .await
}

pub async fn find_by_email(conn: &mut PgConn, email: &Email) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn credentials(conn: &mut PgConn, id: UserId) -> QueryResult<Option<Credentials>> {
    users::table
        .find(id)
        .select(Credentials::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a user; `Ok(None)` when the email is taken.
pub async fn insert(conn: &mut PgConn, new: NewUser<'_>) -> QueryResult<Option<User>> {
    match diesel::insert_into(users::table)
        .values(&new)
        .returning(User::as_returning())
        .get_result(conn)
        .await
    {
        Ok(user) => Ok(Some(user)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn set_role(conn: &mut PgConn, id: UserId, role: Role) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::role.eq(role), users::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await
}

/// Stores a new, not yet confirmed TOTP secret.
pub async fn set_pending_totp(conn: &mut PgConn, id: UserId, secret: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id).filter(users::totp_enabled.eq(false)))
        .set((
            users::totp_secret.eq(secret),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

/// Turns 2FA on with the secret stored by `set_pending_totp`; `step` is the code just used.
pub async fn enable_totp(conn: &mut PgConn, id: UserId, step: i64) -> QueryResult<usize> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::totp_secret.is_not_null()),
    )
    .set((
        users::totp_enabled.eq(true),
        users::totp_last_step.eq(step),
        users::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
}

pub async fn disable_totp(conn: &mut PgConn, id: UserId) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::totp_enabled.eq(false),
            users::totp_secret.eq(None::<String>),
            users::totp_last_step.eq(None::<i64>),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
}

/// Records the TOTP step just used, only if it is newer than the last one: a code is good once.
pub async fn claim_totp_step(conn: &mut PgConn, id: UserId, step: i64) -> QueryResult<bool> {
    let n = diesel::update(
        users::table.find(id).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn find_by_identity(
    conn: &mut PgConn,
    provider: AuthProvider,
    subject: &str,
) -> QueryResult<Option<User>> {
    user_identities::table
        .inner_join(users::table)
        .filter(user_identities::provider.eq(provider))
        .filter(user_identities::subject.eq(subject))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Links a provider account to a user (idempotent).
pub async fn link_identity(
    conn: &mut PgConn,
    provider: AuthProvider,
    subject: &str,
    user_id: UserId,
) -> QueryResult<()> {
    diesel::insert_into(user_identities::table)
        .values(&NewIdentity {
            provider,
            subject,
            user_id,
        })
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}
