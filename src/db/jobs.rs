//! Jobs: writes under row locks, the public listing with its filters, per-producer lists.

use super::models::{Job, JobChanges, JobRow, ProducerProfile};
use super::page::{before_cursor, like_pattern, Cursor, Page, PageRequest};
use super::schema::{applications, jobs, producer_profiles};
use super::PgConn;
use crate::domain::ids::*;
use crate::domain::values::CountryCode;
use crate::domain::{JobStatus, ProductionType};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

pub async fn insert(
    conn: &mut PgConn,
    id: JobId,
    producer_id: UserId,
    changes: &JobChanges,
) -> QueryResult<Job> {
    let row = diesel::insert_into(jobs::table)
        .values((jobs::id.eq(id), jobs::producer_id.eq(producer_id), changes))
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(Job::from(row))
}

pub async fn find(conn: &mut PgConn, id: JobId) -> QueryResult<Option<Job>> {
    let row = jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(Job::from))
}

pub async fn find_many(conn: &mut PgConn, ids: &[JobId]) -> QueryResult<Vec<Job>> {
    let rows = jobs::table
        .filter(jobs::id.eq_any(ids))
        .select(JobRow::as_select())
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(Job::from).collect())
}

/// Reads a job and locks its row until the transaction ends.
pub async fn lock(conn: &mut PgConn, id: JobId) -> QueryResult<Option<Job>> {
    let row = jobs::table
        .find(id)
        .select(JobRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(Job::from))
}

/// Reads a job with a shared lock: its status cannot change until the transaction ends.
pub async fn lock_shared(conn: &mut PgConn, id: JobId) -> QueryResult<Option<Job>> {
    let row = jobs::table
        .find(id)
        .select(JobRow::as_select())
        .for_share()
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(Job::from))
}

pub async fn update_content(
    conn: &mut PgConn,
    id: JobId,
    changes: &JobChanges,
) -> QueryResult<Job> {
    let row = diesel::update(jobs::table.find(id))
        .set((changes, jobs::version.eq(jobs::version + 1)))
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(Job::from(row))
}

/// Stores a job's flier spec.
pub async fn set_flier(
    conn: &mut PgConn,
    id: JobId,
    flier: &serde_json::Value,
) -> QueryResult<Job> {
    let row = diesel::update(jobs::table.find(id))
        .set((jobs::flier.eq(flier), jobs::updated_at.eq(diesel::dsl::now)))
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(Job::from(row))
}

/// Stores a job's ranking weights.
pub async fn set_match_weights(
    conn: &mut PgConn,
    id: JobId,
    weights: &serde_json::Value,
) -> QueryResult<Job> {
    let row = diesel::update(jobs::table.find(id))
        .set((
            jobs::match_weights.eq(weights),
            jobs::updated_at.eq(diesel::dsl::now),
        ))
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(Job::from(row))
}

pub async fn set_status(
    conn: &mut PgConn,
    id: JobId,
    status: JobStatus,
    now: DateTime<Utc>,
) -> QueryResult<Job> {
    let target = diesel::update(jobs::table.find(id));
    let common = (
        jobs::status.eq(status),
        jobs::version.eq(jobs::version + 1),
        jobs::updated_at.eq(now),
    );
    let row = if status == JobStatus::Open {
        target
            .set((common, jobs::published_at.eq(now)))
            .returning(JobRow::as_returning())
            .get_result(conn)
            .await?
    } else {
        target
            .set((common, jobs::closed_at.eq(now)))
            .returning(JobRow::as_returning())
            .get_result(conn)
            .await?
    };
    Ok(Job::from(row))
}

/// Filters of the public job listing.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub text: Option<String>,
    pub production_type: Option<ProductionType>,
    pub country: Option<CountryCode>,
    pub remote: Option<bool>,
    pub status: Option<JobStatus>,
    pub producer_id: Option<UserId>,
}

/// The filters, on jobs joined with their producer's profile.
fn filtered(
    q: &JobQuery,
) -> diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::InnerJoin<jobs::table, producer_profiles::table>,
    diesel::pg::Pg,
> {
    let mut query = jobs::table
        .inner_join(producer_profiles::table)
        .into_boxed();
    if let Some(text) = &q.text {
        query = query.filter(
            diesel::dsl::sql::<Bool>("search @@ websearch_to_tsquery('simple', ")
                .bind::<Text, _>(text.clone())
                .sql(")")
                .or(jobs::title.ilike(like_pattern(text))),
        );
    }
    if let Some(t) = q.production_type {
        query = query.filter(jobs::production_type.eq(t));
    }
    if let Some(c) = &q.country {
        query = query.filter(jobs::country.eq(c.clone()));
    }
    if let Some(r) = q.remote {
        query = query.filter(jobs::remote.eq(r));
    }
    if let Some(s) = q.status {
        query = query.filter(jobs::status.eq(s));
    }
    if let Some(p) = q.producer_id {
        query = query.filter(jobs::producer_id.eq(p));
    }
    query
}

/// Jobs matching `q`, newest first, with their producers. The total comes from a window over
/// the same filter (computed before LIMIT), so a page is one round trip; only a page past the
/// end, which has no row to carry it, counts separately.
pub async fn list(conn: &mut PgConn, q: &JobQuery, page: PageRequest) -> QueryResult<Page<Job>> {
    let mut query = filtered(q);
    if let Some(c) = page.after {
        // The window must count the whole filter, not what lies after the cursor.
        query = query.filter(before_cursor!(jobs::created_at, jobs::id, c));
    }
    let order = (jobs::created_at.desc(), jobs::id.desc());
    let (rows, total): (Vec<(JobRow, ProducerProfile)>, i64) = if page.after.is_none() {
        // At least one row, so the window can report the total even for `first: 0`.
        let rows: Vec<(JobRow, ProducerProfile, i64)> = query
            .order(order)
            .limit(page.first.max(1) + 1)
            .select((
                JobRow::as_select(),
                ProducerProfile::as_select(),
                diesel::dsl::count(jobs::id).over(),
            ))
            .load(conn)
            .await?;
        let total = rows.as_slice().first().map_or(0, |(_, _, total)| *total);
        (rows.into_iter().map(|(j, p, _)| (j, p)).collect(), total)
    } else {
        let total: i64 = filtered(q).count().get_result(conn).await?;
        let rows = query
            .order(order)
            .limit(page.first + 1)
            .select((JobRow::as_select(), ProducerProfile::as_select()))
            .load(conn)
            .await?;
        (rows, total)
    };
    let jobs = rows
        .into_iter()
        .map(|(row, producer)| Job {
            row,
            producer: Some(producer),
        })
        .collect();
    Ok(Page::from_rows(jobs, page, total, |j| Cursor {
        at: j.row.created_at,
        id: j.row.id.0,
    }))
}

/// Application counts of each job (jobs without applications are absent).
pub async fn application_counts(
    conn: &mut PgConn,
    job_ids: &[JobId],
) -> QueryResult<Vec<(JobId, i64)>> {
    applications::table
        .filter(applications::job_id.eq_any(job_ids))
        .group_by(applications::job_id)
        .select((applications::job_id, diesel::dsl::count_star()))
        .load(conn)
        .await
}

/// Closes every OPEN job whose deadline has passed (by the database's clock). The condition
/// makes each close happen once, whichever instance runs it.
pub async fn close_past_deadline(conn: &mut PgConn) -> QueryResult<Vec<Job>> {
    let rows = diesel::update(
        jobs::table
            .filter(jobs::status.eq(JobStatus::Open))
            .filter(jobs::application_deadline.le(diesel::dsl::now)),
    )
    .set((
        jobs::status.eq(JobStatus::Closed),
        jobs::closed_at.eq(diesel::dsl::now),
        jobs::updated_at.eq(diesel::dsl::now),
        jobs::version.eq(jobs::version + 1),
    ))
    .returning(JobRow::as_returning())
    .get_results(conn)
    .await?;
    Ok(rows.into_iter().map(Job::from).collect())
}

/// Marks every OPEN job whose deadline is within `before` as reminded, once per deadline, and
/// returns them.
pub async fn remind_before_deadline(
    conn: &mut PgConn,
    before: chrono::Duration,
) -> QueryResult<Vec<Job>> {
    let horizon = Utc::now() + before;
    let rows = diesel::update(
        jobs::table
            .filter(jobs::status.eq(JobStatus::Open))
            .filter(jobs::deadline_reminded_at.is_null())
            .filter(jobs::application_deadline.le(horizon))
            .filter(jobs::application_deadline.gt(diesel::dsl::now)),
    )
    .set(jobs::deadline_reminded_at.eq(diesel::dsl::now))
    .returning(JobRow::as_returning())
    .get_results(conn)
    .await?;
    Ok(rows.into_iter().map(Job::from).collect())
}

/// Forgets the reminder of a job whose deadline moved, so the new deadline gets one.
pub async fn clear_reminder(conn: &mut PgConn, id: JobId) -> QueryResult<()> {
    diesel::update(jobs::table.find(id))
        .set(jobs::deadline_reminded_at.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await?;
    Ok(())
}

/// Up to `limit` OPEN jobs with ids after `after`, in id order (the match index loads them
/// page by page).
pub async fn open_after(
    conn: &mut PgConn,
    after: Option<JobId>,
    limit: i64,
) -> QueryResult<Vec<Job>> {
    let mut query = jobs::table
        .filter(jobs::status.eq(JobStatus::Open))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(jobs::id.gt(after));
    }
    let rows = query
        .order(jobs::id.asc())
        .limit(limit)
        .select(JobRow::as_select())
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(Job::from).collect())
}
