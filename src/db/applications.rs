//! Applications and their history. Stage changes happen under row locks, each with one event.

use super::models::{Application, ApplicationEvent};
use super::page::{before_cursor, Cursor, Page, PageRequest};
use super::schema::{application_events, applications};
use super::PgConn;
use crate::domain::ids::*;
use crate::domain::ApplicationStage;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;

/// Inserts a new APPLIED application; `Ok(None)` when the talent already applied to the job.
pub async fn insert(
    conn: &mut PgConn,
    id: ApplicationId,
    job_id: JobId,
    talent_id: UserId,
    cover_note: Option<&str>,
    now: DateTime<Utc>,
) -> QueryResult<Option<Application>> {
    let result = diesel::insert_into(applications::table)
        .values((
            applications::id.eq(id),
            applications::job_id.eq(job_id),
            applications::talent_id.eq(talent_id),
            applications::cover_note.eq(cover_note),
            applications::created_at.eq(now),
            applications::stage_changed_at.eq(now),
        ))
        .returning(Application::as_returning())
        .get_result(conn)
        .await;
    match result {
        Ok(app) => Ok(Some(app)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn insert_event(conn: &mut PgConn, event: &ApplicationEvent) -> QueryResult<()> {
    diesel::insert_into(application_events::table)
        .values(event)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut PgConn, id: ApplicationId) -> QueryResult<Option<Application>> {
    applications::table
        .find(id)
        .select(Application::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_many(conn: &mut PgConn, ids: &[ApplicationId]) -> QueryResult<Vec<Application>> {
    applications::table
        .filter(applications::id.eq_any(ids))
        .select(Application::as_select())
        .load(conn)
        .await
}

/// Locks the applications' rows in id order (a fixed order, so concurrent bulk moves cannot
/// deadlock) and reads them.
pub async fn lock_many(conn: &mut PgConn, ids: &[ApplicationId]) -> QueryResult<Vec<Application>> {
    applications::table
        .filter(applications::id.eq_any(ids))
        .order(applications::id)
        .select(Application::as_select())
        .for_update()
        .load(conn)
        .await
}

/// The jobs of the applications `ids`, once each.
pub async fn job_ids(conn: &mut PgConn, ids: &[ApplicationId]) -> QueryResult<Vec<JobId>> {
    applications::table
        .filter(applications::id.eq_any(ids))
        .select(applications::job_id)
        .distinct()
        .load(conn)
        .await
}

pub async fn set_stage(
    conn: &mut PgConn,
    id: ApplicationId,
    stage: ApplicationStage,
    rejected_from: Option<ApplicationStage>,
    now: DateTime<Utc>,
) -> QueryResult<Application> {
    diesel::update(applications::table.find(id))
        .set((
            applications::stage.eq(stage),
            applications::rejected_from.eq(rejected_from),
            applications::stage_changed_at.eq(now),
            applications::version.eq(applications::version + 1),
        ))
        .returning(Application::as_returning())
        .get_result(conn)
        .await
}

/// Whom a list of applications belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Job(JobId),
    Talent(UserId),
}

fn owned(
    owner: Owner,
    stage: Option<ApplicationStage>,
) -> applications::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = applications::table.into_boxed();
    query = match owner {
        Owner::Job(id) => query.filter(applications::job_id.eq(id)),
        Owner::Talent(id) => query.filter(applications::talent_id.eq(id)),
    };
    if let Some(stage) = stage {
        query = query.filter(applications::stage.eq(stage));
    }
    query
}

/// A job's pipeline or a talent's applications, newest first.
pub async fn list(
    conn: &mut PgConn,
    owner: Owner,
    stage: Option<ApplicationStage>,
    page: PageRequest,
) -> QueryResult<Page<Application>> {
    let total: i64 = owned(owner, stage).count().get_result(conn).await?;
    let mut query = owned(owner, stage);
    if let Some(c) = page.after {
        query = query.filter(before_cursor!(
            applications::created_at,
            applications::id,
            c
        ));
    }
    let rows = query
        .order((applications::created_at.desc(), applications::id.desc()))
        .limit(page.first + 1)
        .select(Application::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_rows(rows, page, total, |a| Cursor {
        at: a.created_at,
        id: a.id.0,
    }))
}

/// The history of each application, oldest first.
pub async fn events_of(
    conn: &mut PgConn,
    application_ids: &[ApplicationId],
) -> QueryResult<Vec<ApplicationEvent>> {
    application_events::table
        .filter(application_events::application_id.eq_any(application_ids))
        .order((application_events::created_at, application_events::id))
        .select(ApplicationEvent::as_select())
        .load(conn)
        .await
}

/// Talents whose application to the job is still in play (not withdrawn, rejected or hired).
pub async fn applicants_in_play(conn: &mut PgConn, job_id: JobId) -> QueryResult<Vec<UserId>> {
    applications::table
        .filter(applications::job_id.eq(job_id))
        .filter(applications::stage.ne_all(vec![
            ApplicationStage::Withdrawn,
            ApplicationStage::Rejected,
            ApplicationStage::Hired,
        ]))
        .select(applications::talent_id)
        .load(conn)
        .await
}

/// Every talent who applied to a job, whatever the stage.
pub async fn applicant_ids(conn: &mut PgConn, job_id: JobId) -> QueryResult<Vec<UserId>> {
    applications::table
        .filter(applications::job_id.eq(job_id))
        .select(applications::talent_id)
        .load(conn)
        .await
}
