//! Applications and the pipeline: applying (once, to open jobs, before the deadline),
//! withdrawing, and producer moves under the transition rules. Every change writes one history
//! event in the same transaction, under row locks, so concurrent moves never apply to a stale
//! stage and never lose an event.

use super::events::{self, PipelineEventKind};
use super::jobs::{can_see, manages};
use super::{signed_in, AppState, Viewer};
use crate::db::applications::Owner;
use crate::db::models::{Application, ApplicationEvent, Job};
use crate::db::page::{Page, PageRequest};
use crate::db::{self, PgConn};
use crate::domain::ids::*;
use crate::domain::jobs::pipeline_is_live;
use crate::domain::pipeline::{check_move, rejected_from_after, Mover};
use crate::domain::values;
use crate::domain::{ApplicationStage, JobStatus, Role};
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use chrono::Utc;
use diesel_async::AsyncConnection;
use std::collections::HashMap;

/// The most applications one bulk move may touch.
pub const BULK_MOVE_MAX: usize = 100;

pub async fn apply(
    state: &AppState,
    viewer: Option<Viewer>,
    job_id: JobId,
    cover_note: Option<String>,
) -> AppResult<Application> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Talent {
        return Err(AppError::forbidden("only talents apply to jobs"));
    }
    let cover_note = values::optional_text("coverNote", cover_note.as_deref(), 5000)?;
    let mut conn = state.conn().await?;
    if !db::profiles::talent_exists(&mut conn, viewer.user_id)
        .await
        .context("profiles::talent_exists")?
    {
        return Err(AppError::conflict(
            "create your talent profile before applying",
        ));
    }
    let application = conn
        .transaction::<_, AppError, _>(async |c| {
            // A shared lock: the job cannot close between this check and the insert.
            let job = db::jobs::lock_shared(c, job_id)
                .await
                .context("jobs::lock_shared")?
                .ok_or(AppError::NotFound("job"))?;
            if !can_see(Some(&viewer), &job) {
                return Err(AppError::NotFound("job"));
            }
            if job.row.status != JobStatus::Open {
                return Err(AppError::conflict(format!(
                    "the job is {}, not open for applications",
                    job.row.status
                )));
            }
            let now = Utc::now();
            if job.row.application_deadline <= now {
                return Err(AppError::conflict("the application deadline has passed"));
            }
            let app = db::applications::insert(
                c,
                ApplicationId::generate(),
                job_id,
                viewer.user_id,
                cover_note.as_deref(),
                now,
            )
            .await
            .context("applications::insert")?
            .ok_or_else(|| AppError::conflict("you have already applied to this job"))?;
            record(c, &app, None, Some(viewer.user_id), None).await?;
            events::application_changed(
                c,
                PipelineEventKind::Applied,
                &app,
                job.row.producer_id,
                None,
            )
            .await?;
            Ok(app)
        })
        .await?;
    tracing::info!(application_id = %application.id, %job_id, "application created");
    Ok(application)
}

async fn record(
    conn: &mut PgConn,
    app: &Application,
    from: Option<ApplicationStage>,
    actor: Option<UserId>,
    reason: Option<&str>,
) -> AppResult<()> {
    let event = ApplicationEvent {
        id: ApplicationEventId::generate(),
        application_id: app.id,
        from_stage: from,
        to_stage: app.stage,
        actor_id: actor,
        reason: reason.map(str::to_string),
        created_at: app.stage_changed_at,
    };
    db::applications::insert_event(conn, &event)
        .await
        .context("applications::insert_event")?;
    Ok(())
}

/// The talent withdraws `id`, here and now (`services::pipelines` routes it through the job's
/// actor first).
pub async fn withdraw_now(
    state: &AppState,
    viewer: Viewer,
    id: ApplicationId,
) -> AppResult<Application> {
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let app = db::applications::lock_many(c, &[id])
            .await
            .context("applications::lock_many")?
            .pop()
            .ok_or(AppError::NotFound("application"))?;
        if app.talent_id != viewer.user_id {
            return Err(AppError::forbidden(
                "only the talent who applied can withdraw",
            ));
        }
        check_move(
            app.stage,
            ApplicationStage::Withdrawn,
            app.rejected_from,
            Mover::Talent,
        )
        .map_err(|e| AppError::conflict(e.to_string()))?;
        let moved =
            db::applications::set_stage(c, id, ApplicationStage::Withdrawn, None, Utc::now())
                .await
                .context("applications::set_stage")?;
        record(c, &moved, Some(app.stage), Some(viewer.user_id), None).await?;
        let job = db::jobs::find(c, app.job_id)
            .await
            .context("jobs::find")?
            .ok_or(AppError::NotFound("job"))?;
        events::application_changed(
            c,
            PipelineEventKind::Withdrawn,
            &moved,
            job.row.producer_id,
            Some(app.stage),
        )
        .await?;
        Ok(moved)
    })
    .await
}

/// A checked bulk move: 1 to `BULK_MOVE_MAX` applications to `stage`.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    /// The ids as asked, for the order of the answer.
    ids: Vec<ApplicationId>,
    /// The same ids sorted, once each: the order rows are locked in.
    pub unique: Vec<ApplicationId>,
    stage: ApplicationStage,
    reason: Option<String>,
}

impl MoveRequest {
    pub fn new(
        ids: Vec<ApplicationId>,
        stage: ApplicationStage,
        reason: Option<String>,
    ) -> AppResult<MoveRequest> {
        if ids.is_empty() || ids.len() > BULK_MOVE_MAX {
            return Err(AppError::bad_input(
                "ids",
                format!("give 1 to {BULK_MOVE_MAX} application ids"),
            ));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        let reason = values::optional_text("reason", reason.as_deref(), 1000)?;
        Ok(MoveRequest {
            ids,
            unique,
            stage,
            reason,
        })
    }
}

/// The jobs the applications `ids` belong to, once each (unknown ids are skipped).
pub async fn jobs_of(state: &AppState, ids: &[ApplicationId]) -> AppResult<Vec<JobId>> {
    let mut conn = state.conn().await?;
    Ok(db::applications::job_ids(&mut conn, ids)
        .await
        .context("applications::job_ids")?)
}

/// Moves applications, all or none, here and now (`services::pipelines` routes a job's moves
/// through its actor first). Returned in the order asked.
// Long: one transaction (lock, check every move, write, stage the events) kept in one piece
// so its locking order is visible at once.
pub async fn move_now(
    state: &AppState,
    viewer: Viewer,
    request: MoveRequest,
) -> AppResult<Vec<Application>> {
    let MoveRequest {
        ids,
        unique,
        stage,
        reason,
    } = request;
    let mut conn = state.conn().await?;
    let moved = conn
        .transaction::<_, AppError, _>(async |c| {
            let apps = db::applications::lock_many(c, &unique)
                .await
                .context("applications::lock_many")?;
            if apps.len() != unique.len() {
                return Err(AppError::NotFound("application"));
            }
            let mut jobs: HashMap<JobId, Job> = HashMap::new();
            for app in &apps {
                if let std::collections::hash_map::Entry::Vacant(slot) = jobs.entry(app.job_id) {
                    let job = db::jobs::lock_shared(c, app.job_id)
                        .await
                        .context("jobs::lock_shared")?
                        .ok_or(AppError::NotFound("job"))?;
                    slot.insert(job);
                }
            }
            for app in &apps {
                let job = &jobs[&app.job_id];
                if !manages(&viewer, job) {
                    return Err(AppError::forbidden(
                        "only the job's producer moves its applications",
                    ));
                }
                if !pipeline_is_live(job.row.status) {
                    return Err(AppError::conflict(format!(
                        "the job is {}; its pipeline is closed",
                        job.row.status
                    )));
                }
                check_move(app.stage, stage, app.rejected_from, Mover::Producer)
                    .map_err(|e| AppError::conflict(format!("application {}: {e}", app.id)))?;
            }
            let now = Utc::now();
            let mut moved = HashMap::with_capacity(apps.len());
            for app in apps {
                let next = db::applications::set_stage(
                    c,
                    app.id,
                    stage,
                    rejected_from_after(app.stage, stage),
                    now,
                )
                .await
                .context("applications::set_stage")?;
                record(
                    c,
                    &next,
                    Some(app.stage),
                    Some(viewer.user_id),
                    reason.as_deref(),
                )
                .await?;
                events::application_changed(
                    c,
                    PipelineEventKind::Moved,
                    &next,
                    jobs[&next.job_id].row.producer_id,
                    Some(app.stage),
                )
                .await?;
                moved.insert(next.id, next);
            }
            Ok(moved)
        })
        .await?;
    tracing::info!(count = moved.len(), %stage, "applications moved");
    Ok(ids.iter().filter_map(|id| moved.get(id).cloned()).collect())
}

/// Whether `viewer` may see `app`: the talent, the job's producer, admins.
fn may_see(viewer: &Viewer, app: &Application, job_producer: UserId) -> bool {
    viewer.is_admin() || viewer.user_id == app.talent_id || viewer.user_id == job_producer
}

pub async fn find(
    state: &AppState,
    viewer: Option<Viewer>,
    id: ApplicationId,
) -> AppResult<Option<Application>> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    let Some(app) = db::applications::find(&mut conn, id)
        .await
        .context("applications::find")?
    else {
        return Ok(None);
    };
    let job = db::jobs::find(&mut conn, app.job_id)
        .await
        .context("jobs::find")?
        .ok_or(AppError::NotFound("job"))?;
    if !may_see(&viewer, &app, job.row.producer_id) {
        return Err(AppError::forbidden(
            "only the talent and the job's producer see an application",
        ));
    }
    Ok(Some(app))
}

/// A job's pipeline: its producer and admins only.
pub async fn of_job(
    state: &AppState,
    viewer: Option<Viewer>,
    job: &Job,
    stage: Option<ApplicationStage>,
    page: PageRequest,
) -> AppResult<Page<Application>> {
    let viewer = signed_in(viewer)?;
    if !manages(&viewer, job) {
        return Err(AppError::forbidden(
            "the pipeline is visible to the job's producer only",
        ));
    }
    let mut conn = state.conn().await?;
    Ok(
        db::applications::list(&mut conn, Owner::Job(job.row.id), stage, page)
            .await
            .context("applications::list")?,
    )
}

pub async fn mine(
    state: &AppState,
    viewer: Option<Viewer>,
    stage: Option<ApplicationStage>,
    page: PageRequest,
) -> AppResult<Page<Application>> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Talent {
        return Err(AppError::forbidden(
            "myApplications lists a talent's own applications",
        ));
    }
    let mut conn = state.conn().await?;
    Ok(
        db::applications::list(&mut conn, Owner::Talent(viewer.user_id), stage, page)
            .await
            .context("applications::list")?,
    )
}
