//! Reading users and deciding who may see what of them.

use super::{AppState, Viewer};
use crate::db::{self, models::User};
use crate::errors::{AppError, AppResult};
use uuid::Uuid;

pub async fn find(state: &AppState, id: Uuid) -> AppResult<Option<User>> {
    let mut conn = state.conn().await?;
    Ok(db::users::find(&mut conn, id).await?)
}

/// An email is visible to its owner and to admins only.
pub fn email_of(viewer: Option<&Viewer>, user: &User) -> AppResult<String> {
    match viewer {
        Some(v) if v.user_id == user.id || v.is_admin() => Ok(user.email.clone()),
        Some(_) => Err(AppError::forbidden("an email is visible to its owner only")),
        None => Err(AppError::Unauthenticated),
    }
}
