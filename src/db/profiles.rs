//! Talent and producer profiles, talent search, and producer hiring metrics.

use super::models::{
    ProducerProfile, ProducerProfileChanges, TalentProfile, TalentProfileChanges, TalentProfileRow,
};
use super::page::{before_cursor, like_pattern, Cursor, Page, PageRequest};
use super::schema::{producer_profiles, talent_profiles};
use super::undecodable;
use super::PgConn;
use crate::domain::ids::*;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;

fn decode(rows: Vec<TalentProfileRow>) -> QueryResult<Vec<TalentProfile>> {
    rows.into_iter()
        .map(|r| {
            TalentProfile::try_from(r)
                .map_err(|e| undecodable(e.context("decoding a talent profile")))
        })
        .collect()
}

pub async fn find_talent(conn: &mut PgConn, id: UserId) -> QueryResult<Option<TalentProfile>> {
    let rows = talent_profiles::table
        .filter(talent_profiles::user_id.eq(id))
        .select(TalentProfileRow::as_select())
        .load(conn)
        .await?;
    Ok(decode(rows)?.into_iter().next())
}

pub async fn find_talents(conn: &mut PgConn, ids: &[UserId]) -> QueryResult<Vec<TalentProfile>> {
    let rows = talent_profiles::table
        .filter(talent_profiles::user_id.eq_any(ids))
        .select(TalentProfileRow::as_select())
        .load(conn)
        .await?;
    decode(rows)
}

pub async fn talent_exists(conn: &mut PgConn, id: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(talent_profiles::table.find(id)))
        .get_result(conn)
        .await
}

pub async fn upsert_talent(
    conn: &mut PgConn,
    changes: &TalentProfileChanges,
) -> QueryResult<TalentProfile> {
    let row = diesel::insert_into(talent_profiles::table)
        .values(changes)
        .on_conflict(talent_profiles::user_id)
        .do_update()
        .set((
            changes,
            talent_profiles::version.eq(talent_profiles::version + 1),
        ))
        .returning(TalentProfileRow::as_returning())
        .get_result(conn)
        .await?;
    decode(vec![row])?
        .pop()
        .ok_or(diesel::result::Error::NotFound)
}

fn talent_search(text: Option<&str>) -> talent_profiles::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = talent_profiles::table.into_boxed();
    if let Some(text) = text {
        query = query.filter(
            diesel::dsl::sql::<Bool>("search @@ websearch_to_tsquery('simple', ")
                .bind::<Text, _>(text.to_string())
                .sql(")")
                .or(talent_profiles::stage_name.ilike(like_pattern(text))),
        );
    }
    query
}

/// Talents, most recently updated first, optionally matching `text` (words or a name fragment).
pub async fn search_talents(
    conn: &mut PgConn,
    text: Option<&str>,
    page: PageRequest,
) -> QueryResult<Page<TalentProfile>> {
    let total: i64 = talent_search(text).count().get_result(conn).await?;
    let mut query = talent_search(text);
    if let Some(c) = page.after {
        query = query.filter(before_cursor!(
            talent_profiles::updated_at,
            talent_profiles::user_id,
            c
        ));
    }
    let rows = query
        .order((
            talent_profiles::updated_at.desc(),
            talent_profiles::user_id.desc(),
        ))
        .limit(page.first + 1)
        .select(TalentProfileRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_rows(decode(rows)?, page, total, |t| Cursor {
        at: t.row.updated_at,
        id: t.row.user_id.0,
    }))
}

pub async fn find_producer(conn: &mut PgConn, id: UserId) -> QueryResult<Option<ProducerProfile>> {
    producer_profiles::table
        .find(id)
        .select(ProducerProfile::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_producers(
    conn: &mut PgConn,
    ids: &[UserId],
) -> QueryResult<Vec<ProducerProfile>> {
    producer_profiles::table
        .filter(producer_profiles::user_id.eq_any(ids))
        .select(ProducerProfile::as_select())
        .load(conn)
        .await
}

pub async fn upsert_producer(
    conn: &mut PgConn,
    changes: &ProducerProfileChanges,
) -> QueryResult<ProducerProfile> {
    diesel::insert_into(producer_profiles::table)
        .values(changes)
        .on_conflict(producer_profiles::user_id)
        .do_update()
        .set(changes)
        .returning(ProducerProfile::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct HiringMetrics {
    #[diesel(sql_type = Integer)]
    pub open_jobs: i32,
    #[diesel(sql_type = Integer)]
    pub total_applications: i32,
    #[diesel(sql_type = Integer)]
    pub hires: i32,
    #[diesel(sql_type = Nullable<Double>)]
    pub median_days_to_hire: Option<f64>,
}

/// Computed from the producer's jobs and applications; a hire's time is from application to
/// the move to HIRED (a final stage, so `stage_changed_at` is that move).
pub async fn hiring_metrics(conn: &mut PgConn, producer_id: UserId) -> QueryResult<HiringMetrics> {
    diesel::sql_query(
        "SELECT
            (SELECT count(*) FROM jobs WHERE producer_id = $1 AND status = 'OPEN')::int AS open_jobs,
            count(a.id)::int AS total_applications,
            (count(a.id) FILTER (WHERE a.stage = 'HIRED'))::int AS hires,
            percentile_cont(0.5) WITHIN GROUP (
                ORDER BY extract(epoch FROM a.stage_changed_at - a.created_at) / 86400.0
            ) FILTER (WHERE a.stage = 'HIRED') AS median_days_to_hire
         FROM jobs j JOIN applications a ON a.job_id = j.id
         WHERE j.producer_id = $1",
    )
    .bind::<SqlUuid, _>(producer_id)
    .get_result(conn)
    .await
}

/// Up to `limit` talent profiles with ids after `after`, in id order (the match index loads
/// them page by page).
pub async fn talents_after(
    conn: &mut PgConn,
    after: Option<UserId>,
    limit: i64,
) -> QueryResult<Vec<TalentProfile>> {
    let mut query = talent_profiles::table.into_boxed();
    if let Some(after) = after {
        query = query.filter(talent_profiles::user_id.gt(after));
    }
    let rows = query
        .order(talent_profiles::user_id.asc())
        .limit(limit)
        .select(TalentProfileRow::as_select())
        .load(conn)
        .await?;
    decode(rows)
}
