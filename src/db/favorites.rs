//! Producers' favorite lists of talents.

use super::models::{FavoriteList, TalentProfile, TalentProfileRow};
use super::page::{before_cursor, Cursor, Page, PageRequest};
use super::schema::{favorite_list_items, favorite_lists, talent_profiles};
use super::undecodable;
use super::PgConn;
use crate::domain::ids::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;

/// Inserts a list; `Ok(None)` when the producer already has a list of that name.
pub async fn insert(
    conn: &mut PgConn,
    id: FavoriteListId,
    producer_id: UserId,
    name: &str,
) -> QueryResult<Option<FavoriteList>> {
    match diesel::insert_into(favorite_lists::table)
        .values((
            favorite_lists::id.eq(id),
            favorite_lists::producer_id.eq(producer_id),
            favorite_lists::name.eq(name),
        ))
        .returning(FavoriteList::as_returning())
        .get_result(conn)
        .await
    {
        Ok(list) => Ok(Some(list)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn find(conn: &mut PgConn, id: FavoriteListId) -> QueryResult<Option<FavoriteList>> {
    favorite_lists::table
        .find(id)
        .select(FavoriteList::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn of_producer(conn: &mut PgConn, producer_id: UserId) -> QueryResult<Vec<FavoriteList>> {
    favorite_lists::table
        .filter(favorite_lists::producer_id.eq(producer_id))
        .order((favorite_lists::created_at.desc(), favorite_lists::id.desc()))
        .select(FavoriteList::as_select())
        .load(conn)
        .await
}

/// Adds a talent (idempotent).
pub async fn add(conn: &mut PgConn, list_id: FavoriteListId, talent_id: UserId) -> QueryResult<()> {
    diesel::insert_into(favorite_list_items::table)
        .values((
            favorite_list_items::list_id.eq(list_id),
            favorite_list_items::talent_id.eq(talent_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn remove(
    conn: &mut PgConn,
    list_id: FavoriteListId,
    talent_id: UserId,
) -> QueryResult<usize> {
    diesel::delete(favorite_list_items::table.find((list_id, talent_id)))
        .execute(conn)
        .await
}

/// The talents of a list, most recently added first.
pub async fn talents(
    conn: &mut PgConn,
    list_id: FavoriteListId,
    page: PageRequest,
) -> QueryResult<Page<TalentProfile>> {
    let total: i64 = favorite_list_items::table
        .filter(favorite_list_items::list_id.eq(list_id))
        .count()
        .get_result(conn)
        .await?;
    let mut query = favorite_list_items::table
        .inner_join(talent_profiles::table)
        .filter(favorite_list_items::list_id.eq(list_id))
        .into_boxed();
    if let Some(c) = page.after {
        query = query.filter(before_cursor!(
            favorite_list_items::added_at,
            favorite_list_items::talent_id,
            c
        ));
    }
    let rows: Vec<(DateTime<Utc>, TalentProfileRow)> = query
        .order((
            favorite_list_items::added_at.desc(),
            favorite_list_items::talent_id.desc(),
        ))
        .limit(page.first + 1)
        .select((favorite_list_items::added_at, TalentProfileRow::as_select()))
        .load(conn)
        .await?;
    let rows = rows
        .into_iter()
        .map(|(added, row)| {
            TalentProfile::try_from(row)
                .map(|p| (added, p))
                .map_err(|e| undecodable(e.context("decoding a talent profile")))
        })
        .collect::<QueryResult<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page, total, |(added, p)| Cursor {
        at: *added,
        id: p.row.user_id.0,
    })
    .map(|(_, p)| p))
}
