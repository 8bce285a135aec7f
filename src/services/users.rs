//! Reading users and deciding who may see what of them.

use super::{AppState, Viewer};
use crate::db::{self, models::User};
use crate::domain::ids::*;
use crate::errors::{AppError, AppResult};
use anyhow::Context;

pub async fn find(state: &AppState, id: UserId) -> AppResult<Option<User>> {
    let mut conn = state.conn().await?;
    Ok(db::users::find(&mut conn, id)
        .await
        .context("users::find")?)
}

/// An email is visible to its owner and to admins only.
pub fn email_of(viewer: Option<&Viewer>, user: &User) -> AppResult<String> {
    owner_only(viewer, user, "an email").map(|()| user.email.clone())
}

/// Passes for the user itself and admins: private account details (email, 2FA state).
pub fn owner_only(viewer: Option<&Viewer>, user: &User, what: &str) -> AppResult<()> {
    match viewer {
        Some(v) if v.user_id == user.id || v.is_admin() => Ok(()),
        Some(_) => Err(AppError::forbidden(format!(
            "{what} is visible to its owner only"
        ))),
        None => Err(AppError::Unauthenticated),
    }
}
