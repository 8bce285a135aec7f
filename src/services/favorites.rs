//! Producers' favorite lists of talents; each list is private to its producer.

use super::{signed_in, AppState, Viewer};
use crate::db::models::{FavoriteList, TalentProfile};
use crate::db::page::{Page, PageRequest};
use crate::db::{self, PgConn};
use crate::domain::ids::*;
use crate::domain::{values, Role};
use crate::errors::{AppError, AppResult};
use anyhow::Context;

fn producer(viewer: Option<Viewer>) -> AppResult<Viewer> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Producer {
        return Err(AppError::forbidden("favorite lists belong to producers"));
    }
    Ok(viewer)
}

async fn own_list(
    conn: &mut PgConn,
    viewer: &Viewer,
    list_id: FavoriteListId,
) -> AppResult<FavoriteList> {
    let list = db::favorites::find(conn, list_id)
        .await
        .context("favorites::find")?
        .ok_or(AppError::NotFound("favorite list"))?;
    if list.producer_id != viewer.user_id {
        return Err(AppError::forbidden("this list belongs to another producer"));
    }
    Ok(list)
}

pub async fn create(
    state: &AppState,
    viewer: Option<Viewer>,
    name: &str,
) -> AppResult<FavoriteList> {
    let viewer = producer(viewer)?;
    let name = values::text("name", name, 100)?;
    let mut conn = state.conn().await?;
    db::favorites::insert(&mut conn, FavoriteListId::generate(), viewer.user_id, &name)
        .await
        .context("favorites::insert")?
        .ok_or_else(|| AppError::conflict("you already have a list with this name"))
}

pub async fn add(
    state: &AppState,
    viewer: Option<Viewer>,
    list_id: FavoriteListId,
    talent_id: UserId,
) -> AppResult<FavoriteList> {
    let viewer = producer(viewer)?;
    let mut conn = state.conn().await?;
    let list = own_list(&mut conn, &viewer, list_id).await?;
    if !db::profiles::talent_exists(&mut conn, talent_id)
        .await
        .context("profiles::talent_exists")?
    {
        return Err(AppError::NotFound("talent"));
    }
    db::favorites::add(&mut conn, list_id, talent_id)
        .await
        .context("favorites::add")?;
    Ok(list)
}

pub async fn remove(
    state: &AppState,
    viewer: Option<Viewer>,
    list_id: FavoriteListId,
    talent_id: UserId,
) -> AppResult<FavoriteList> {
    let viewer = producer(viewer)?;
    let mut conn = state.conn().await?;
    let list = own_list(&mut conn, &viewer, list_id).await?;
    db::favorites::remove(&mut conn, list_id, talent_id)
        .await
        .context("favorites::remove")?;
    Ok(list)
}

pub async fn mine(state: &AppState, viewer: Option<Viewer>) -> AppResult<Vec<FavoriteList>> {
    let viewer = producer(viewer)?;
    let mut conn = state.conn().await?;
    Ok(db::favorites::of_producer(&mut conn, viewer.user_id)
        .await
        .context("favorites::of_producer")?)
}

pub async fn talents(
    state: &AppState,
    viewer: Option<Viewer>,
    list: &FavoriteList,
    page: PageRequest,
) -> AppResult<Page<TalentProfile>> {
    let viewer = signed_in(viewer)?;
    if list.producer_id != viewer.user_id && !viewer.is_admin() {
        return Err(AppError::forbidden("this list belongs to another producer"));
    }
    let mut conn = state.conn().await?;
    Ok(db::favorites::talents(&mut conn, list.id, page)
        .await
        .with_context(|| format!("listing the talents of favorite list {}", list.id))?)
}
