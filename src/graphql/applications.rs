//! Applications and the pipeline: applying, withdrawing, moving, and reading history.

use super::connection::{connection, page_request};
use super::loaders::load_error;
use super::users::UserNode;
use super::{loaders, state, viewer};
use crate::db::models::{Application, ApplicationEvent, Job, TalentProfile};
use crate::domain::ids::*;
use crate::domain::ApplicationStage;
use crate::errors::AppError;
use crate::services::pipelines::Pipelines;
use crate::services::{applications, jobs};
use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

connection!(ApplicationConnection, ApplicationEdge, Application);

pub(crate) fn missing(what: &str, id: impl std::fmt::Display) -> async_graphql::Error {
    AppError::Internal(anyhow::anyhow!("{what} {id} is missing")).into()
}

/// One history entry, with the producer's reason shown only to those who run the job.
pub struct HistoryEntry {
    event: ApplicationEvent,
    show_reason: bool,
}

#[Object(name = "ApplicationEvent")]
impl HistoryEntry {
    async fn id(&self) -> ApplicationEventId {
        self.event.id
    }
    async fn from_stage(&self) -> Option<ApplicationStage> {
        self.event.from_stage
    }
    async fn to_stage(&self) -> ApplicationStage {
        self.event.to_stage
    }
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<UserNode>> {
        match self.event.actor_id {
            Some(id) => Ok(loaders(ctx)
                .users
                .load_one(id)
                .await
                .map_err(load_error)?
                .map(Into::into)),
            None => Ok(None),
        }
    }
    /// The producer's note; visible to the job's producer and admins, null for the talent.
    async fn reason(&self) -> Option<&str> {
        self.show_reason
            .then_some(self.event.reason.as_deref())
            .flatten()
    }
    async fn at(&self) -> DateTime<Utc> {
        self.event.created_at
    }
}

#[Object]
impl Application {
    async fn id(&self) -> ApplicationId {
        self.id
    }
    async fn job(&self, ctx: &Context<'_>) -> Result<Job> {
        loaders(ctx)
            .jobs
            .load_one(self.job_id)
            .await
            .map_err(load_error)?
            .ok_or_else(|| missing("job", self.job_id))
    }
    async fn talent(&self, ctx: &Context<'_>) -> Result<TalentProfile> {
        loaders(ctx)
            .talents
            .load_one(self.talent_id)
            .await
            .map_err(load_error)?
            .ok_or_else(|| missing("talent profile", self.talent_id))
    }
    async fn stage(&self) -> ApplicationStage {
        self.stage
    }
    async fn cover_note(&self) -> Option<&str> {
        self.cover_note.as_deref()
    }
    /// Every change, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<HistoryEntry>> {
        let loaders = loaders(ctx);
        let (events, job) = futures_util::try_join!(
            loaders.histories.load_one(self.id),
            loaders.jobs.load_one(self.job_id)
        )
        .map_err(load_error)?;
        let show_reason = match (viewer(ctx), job) {
            (Some(v), Some(job)) => jobs::manages(&v, &job),
            _ => false,
        };
        Ok(events
            .unwrap_or_default()
            .into_iter()
            .map(|event| HistoryEntry { event, show_reason })
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn stage_changed_at(&self) -> DateTime<Utc> {
        self.stage_changed_at
    }
}

#[derive(Default)]
pub struct ApplicationQuery;

#[Object]
impl ApplicationQuery {
    /// An application: its talent, the job's producer and admins only.
    async fn application(
        &self,
        ctx: &Context<'_>,
        id: ApplicationId,
    ) -> Result<Option<Application>> {
        Ok(applications::find(state(ctx), viewer(ctx), id).await?)
    }

    /// The signed-in talent's applications, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn my_applications(
        &self,
        ctx: &Context<'_>,
        stage: Option<ApplicationStage>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ApplicationConnection> {
        let page = page_request(first, after)?;
        Ok(applications::mine(state(ctx), viewer(ctx), stage, page)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct ApplicationMutation;

fn pipelines<'a>(ctx: &Context<'a>) -> Result<&'a Pipelines> {
    ctx.data::<Pipelines>()
}

#[Object]
impl ApplicationMutation {
    /// Applies once to an OPEN job before its deadline.
    async fn apply_to_job(
        &self,
        ctx: &Context<'_>,
        job_id: JobId,
        cover_note: Option<String>,
    ) -> Result<Application> {
        Ok(applications::apply(state(ctx), viewer(ctx), job_id, cover_note).await?)
    }

    /// The talent withdraws from any stage but HIRED, REJECTED and WITHDRAWN.
    async fn withdraw_application(
        &self,
        ctx: &Context<'_>,
        id: ApplicationId,
    ) -> Result<Application> {
        Ok(pipelines(ctx)?
            .withdraw(state(ctx), viewer(ctx), id)
            .await?)
    }

    /// Moves one application along the pipeline (see ApplicationStage for the allowed moves).
    async fn move_application(
        &self,
        ctx: &Context<'_>,
        id: ApplicationId,
        stage: ApplicationStage,
        reason: Option<String>,
    ) -> Result<Application> {
        let mut moved = pipelines(ctx)?
            .move_many(state(ctx), viewer(ctx), vec![id], stage, reason)
            .await?;
        moved.pop().ok_or_else(|| missing("application", id))
    }

    /// Moves up to 100 applications at once: all of them, or none when any move is refused.
    async fn move_applications(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ApplicationId>,
        stage: ApplicationStage,
        reason: Option<String>,
    ) -> Result<Vec<Application>> {
        Ok(pipelines(ctx)?
            .move_many(state(ctx), viewer(ctx), ids, stage, reason)
            .await?)
    }
}
