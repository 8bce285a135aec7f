//! Jobs: producers create and run them through their lifecycle; everyone browses open ones.

use super::{signed_in, AppState, Viewer};
use crate::db::jobs::JobQuery;
use crate::db::models::{Job, JobChanges};
use crate::db::page::{Page, PageRequest};
use crate::db::{self, PgConn};
use crate::domain::ids::*;
use crate::domain::jobs::{apply_action, is_public, JobAction, JobDraft, JobInput};
use crate::domain::{JobStatus, Role};
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use chrono::Utc;
use diesel_async::AsyncConnection;

fn changes(d: JobDraft) -> AppResult<JobChanges> {
    let (city, country) = match d.location {
        Some(l) => (l.city, Some(l.country)),
        None => (None, None),
    };
    Ok(JobChanges {
        title: d.title,
        description: d.description,
        project_name: d.project_name,
        production_type: d.production_type,
        city,
        country,
        remote: d.remote,
        pay_min: d.pay_min,
        pay_max: d.pay_max,
        currency: d.currency,
        requirements: serde_json::to_value(&d.requirements).context("encoding requirements")?,
        shoot_start: d.shoot_start,
        shoot_end: d.shoot_end,
        application_deadline: d.application_deadline,
        updated_at: Utc::now(),
    })
}

/// Whether `viewer` may see `job` at all.
pub fn can_see(viewer: Option<&Viewer>, job: &Job) -> bool {
    is_public(job.row.status)
        || viewer.is_some_and(|v| v.is_admin() || v.user_id == job.row.producer_id)
}

/// Whether `viewer` runs `job` (its producer, or an admin).
pub fn manages(viewer: &Viewer, job: &Job) -> bool {
    viewer.is_admin() || viewer.user_id == job.row.producer_id
}

pub async fn create(state: &AppState, viewer: Option<Viewer>, input: JobInput) -> AppResult<Job> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Producer {
        return Err(AppError::forbidden("only producers post jobs"));
    }
    let changes = changes(input.check()?)?;
    let mut conn = state.conn().await?;
    if db::profiles::find_producer(&mut conn, viewer.user_id)
        .await
        .context("profiles::find_producer")?
        .is_none()
    {
        return Err(AppError::conflict(
            "create your producer profile before posting jobs",
        ));
    }
    let job = conn
        .transaction::<_, AppError, _>(async |c| {
            let job = db::jobs::insert(c, JobId::generate(), viewer.user_id, &changes)
                .await
                .context("jobs::insert")?;
            db::embeddings::enqueue(c, job.row.id.0, db::embeddings::Subject::Job)
                .await
                .context("embeddings::enqueue")?;
            Ok(job)
        })
        .await?;
    tracing::info!(job_id = %job.row.id, "job created");
    Ok(job)
}

/// Locks the job and checks the caller manages it.
async fn lock_managed(conn: &mut PgConn, viewer: &Viewer, id: JobId) -> AppResult<Job> {
    let job = db::jobs::lock(conn, id)
        .await
        .context("jobs::lock")?
        .ok_or(AppError::NotFound("job"))?;
    if !manages(viewer, &job) {
        return Err(if can_see(Some(viewer), &job) {
            AppError::forbidden("only the job's producer can change it")
        } else {
            AppError::NotFound("job")
        });
    }
    Ok(job)
}

pub async fn update(
    state: &AppState,
    viewer: Option<Viewer>,
    id: JobId,
    input: JobInput,
) -> AppResult<Job> {
    let viewer = signed_in(viewer)?;
    let changes = changes(input.check()?)?;
    let mut conn = state.conn().await?;
    let (job, seq) = conn
        .transaction::<_, AppError, _>(async |c| {
            let job = lock_managed(c, &viewer, id).await?;
            apply_action(job.row.status, JobAction::Update).map_err(AppError::Conflict)?;
            if job.row.status == JobStatus::Open && changes.application_deadline <= Utc::now() {
                return Err(AppError::bad_input(
                    "input.applicationDeadline",
                    "an open job's deadline must be in the future",
                ));
            }
            if changes.application_deadline != job.row.application_deadline {
                db::jobs::clear_reminder(c, id)
                    .await
                    .context("jobs::clear_reminder")?;
            }
            let job = db::jobs::update_content(c, id, &changes)
                .await
                .with_context(|| format!("updating job {id}"))?;
            super::events::job_updated(c, &job).await?;
            let seq = db::outbox::last_seq(c).await.context("outbox::last_seq")?;
            db::embeddings::enqueue(c, id.0, db::embeddings::Subject::Job)
                .await
                .context("embeddings::enqueue")?;
            Ok((job, seq))
        })
        .await?;
    super::own_writes::note(state, viewer.user_id, seq).await;
    Ok(job)
}

/// Publishes, closes, cancels or fills a job.
pub async fn transition(
    state: &AppState,
    viewer: Option<Viewer>,
    id: JobId,
    action: JobAction,
) -> AppResult<Job> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    let (job, seq) = conn
        .transaction::<_, AppError, _>(async |c| {
            let job = lock_managed(c, &viewer, id).await?;
            let next = apply_action(job.row.status, action).map_err(AppError::Conflict)?;
            let now = Utc::now();
            if action == JobAction::Publish && job.row.application_deadline <= now {
                return Err(AppError::conflict(
                    "the application deadline has passed; set a future deadline before publishing",
                ));
            }
            let job = db::jobs::set_status(c, id, next, now)
                .await
                .context("jobs::set_status")?;
            super::events::job_status_changed(c, &job).await?;
            let seq = db::outbox::last_seq(c).await.context("outbox::last_seq")?;
            Ok((job, seq))
        })
        .await?;
    super::own_writes::note(state, viewer.user_id, seq).await;
    tracing::info!(job_id = %id, status = %job.row.status, "job status changed");
    Ok(job)
}

pub async fn find(state: &AppState, viewer: Option<Viewer>, id: JobId) -> AppResult<Option<Job>> {
    let mut conn = state.conn().await?;
    let job = db::jobs::find(&mut conn, id).await.context("jobs::find")?;
    Ok(job.filter(|j| can_see(viewer.as_ref(), j)))
}

/// The job listing. Drafts and cancelled jobs are listed to their producer (and admins) only.
pub async fn list(
    state: &AppState,
    viewer: Option<Viewer>,
    mut query: JobQuery,
    page: PageRequest,
) -> AppResult<Page<Job>> {
    let status = query.status.unwrap_or(JobStatus::Open);
    query.status = Some(status);
    if !is_public(status) {
        match viewer {
            Some(v) if v.is_admin() => {}
            Some(v) => query.producer_id = Some(v.user_id),
            None => {
                return Ok(Page {
                    items: vec![],
                    has_next_page: false,
                    total_count: 0,
                })
            }
        }
    }
    let mut conn = state.conn().await?;
    Ok(db::jobs::list(&mut conn, &query, page)
        .await
        .context("listing jobs")?)
}

pub async fn mine(
    state: &AppState,
    viewer: Option<Viewer>,
    status: Option<JobStatus>,
    page: PageRequest,
) -> AppResult<Page<Job>> {
    let viewer = signed_in(viewer)?;
    viewer.require_role(&[Role::Producer], "myJobs")?;
    let query = JobQuery {
        status,
        producer_id: Some(viewer.user_id),
        ..JobQuery::default()
    };
    let mut conn = state.conn().await?;
    Ok(db::jobs::list(&mut conn, &query, page)
        .await
        .context("listing jobs")?)
}

/// What one deadline sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub closed: usize,
    pub reminded: usize,
}

/// Closes the jobs whose deadline passed and reminds the producers of deadlines within
/// `remind_before`, each with its outbox event in the same transaction. Conditional updates
/// make every close and reminder happen once, across instances and restarts.
pub async fn sweep_deadlines(
    state: &AppState,
    remind_before: chrono::Duration,
) -> AppResult<Sweep> {
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let closed = db::jobs::close_past_deadline(c)
            .await
            .context("jobs::close_past_deadline")?;
        for job in &closed {
            super::events::job_status_changed(c, job).await?;
        }
        let reminded = db::jobs::remind_before_deadline(c, remind_before)
            .await
            .context("jobs::remind_before_deadline")?;
        for job in &reminded {
            super::events::deadline_approaching(c, job).await?;
        }
        Ok(Sweep {
            closed: closed.len(),
            reminded: reminded.len(),
        })
    })
    .await
}
