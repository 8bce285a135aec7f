//! Jobs: the listing, a producer's own jobs, and their lifecycle.

use super::applications::ApplicationConnection;
use super::connection::{connection, page_request};
use super::loaders::load_error;
use super::{loaders, state, viewer};
use crate::db::jobs::JobQuery as JobListQuery;
use crate::db::models::{Job, ProducerProfile};
use crate::domain::ids::*;
use crate::domain::jobs::{JobAction, JobInput, JobRequirements};
use crate::domain::profiles::Location;
use crate::domain::{values, ApplicationStage, JobStatus, ProductionType};
use crate::errors::AppError;
use crate::services::{applications, jobs};
use async_graphql::{Context, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

connection!(JobConnection, JobEdge, Job);

#[derive(Debug, Clone, Default, InputObject)]
pub struct JobFilter {
    /// Words of the title, project and description, or a fragment of the title.
    pub text: Option<String>,
    pub production_type: Option<ProductionType>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub remote: Option<bool>,
    /// OPEN when absent. DRAFT and CANCELLED list the caller's own jobs only.
    pub status: Option<JobStatus>,
}

impl JobFilter {
    fn check(self) -> Result<JobListQuery, AppError> {
        Ok(JobListQuery {
            text: values::optional_text("filter.text", self.text.as_deref(), 200)?,
            production_type: self.production_type,
            country: self
                .country
                .as_deref()
                .map(|c| values::country("filter.country", c))
                .transpose()?,
            remote: self.remote,
            status: self.status,
            producer_id: None,
        })
    }
}

#[Object]
impl Job {
    async fn id(&self) -> JobId {
        self.row.id
    }
    async fn producer<'a>(&'a self, ctx: &Context<'_>) -> Result<Cow<'a, ProducerProfile>> {
        if let Some(producer) = &self.producer {
            return Ok(Cow::Borrowed(producer));
        }
        loaders(ctx)
            .producers
            .load_one(self.row.producer_id)
            .await
            .map_err(load_error)?
            .map(Cow::Owned)
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "job {} has no producer profile",
                    self.row.id
                ))
                .into()
            })
    }
    async fn title(&self) -> &str {
        &self.row.title
    }
    async fn description(&self) -> &str {
        &self.row.description
    }
    async fn project_name(&self) -> Option<&str> {
        self.row.project_name.as_deref()
    }
    async fn production_type(&self) -> ProductionType {
        self.row.production_type
    }
    async fn location(&self) -> Option<Location> {
        self.row.country.clone().map(|country| Location {
            city: self.row.city.clone(),
            country,
        })
    }
    async fn remote(&self) -> bool {
        self.row.remote
    }
    async fn pay_min(&self) -> Option<i32> {
        self.row.pay_min
    }
    async fn pay_max(&self) -> Option<i32> {
        self.row.pay_max
    }
    async fn currency(&self) -> &str {
        self.row.currency.as_str()
    }
    /// The weights its discover ranking uses, in MatchFactor order.
    async fn match_weights(&self) -> Vec<super::matching::MatchWeight> {
        super::matching::weights(&crate::services::matching::weights_of(self))
    }
    async fn requirements(&self) -> Result<JobRequirements> {
        Ok(self
            .decoded_requirements()
            .map_err(|e| AppError::Internal(e.context("decoding requirements")))?)
    }
    async fn shoot_start(&self) -> Option<DateTime<Utc>> {
        self.row.shoot_start
    }
    async fn shoot_end(&self) -> Option<DateTime<Utc>> {
        self.row.shoot_end
    }
    async fn application_deadline(&self) -> DateTime<Utc> {
        self.row.application_deadline
    }
    async fn status(&self) -> JobStatus {
        self.row.status
    }
    async fn flier(&self) -> Option<async_graphql::Json<serde_json::Value>> {
        self.row.flier.clone().map(async_graphql::Json)
    }
    async fn application_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = loaders(ctx)
            .application_counts
            .load_one(self.row.id)
            .await
            .map_err(load_error)?;
        Ok(count.unwrap_or(0) as i32)
    }
    /// The pipeline, newest first: the job's producer and admins only.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn applications(
        &self,
        ctx: &Context<'_>,
        stage: Option<ApplicationStage>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ApplicationConnection> {
        let page = page_request(first, after)?;
        Ok(
            applications::of_job(state(ctx), viewer(ctx), self, stage, page)
                .await?
                .into(),
        )
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// A job; drafts and cancelled jobs only for their producer and admins.
    async fn job(&self, ctx: &Context<'_>, id: JobId) -> Result<Option<Job>> {
        Ok(jobs::find(state(ctx), viewer(ctx), id).await?)
    }

    /// Jobs, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobFilter>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<JobConnection> {
        let page = page_request(first, after)?;
        let query = filter.unwrap_or_default().check()?;
        Ok(jobs::list(state(ctx), viewer(ctx), query, page)
            .await?
            .into())
    }

    /// The signed-in producer's jobs, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn my_jobs(
        &self,
        ctx: &Context<'_>,
        status: Option<JobStatus>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<JobConnection> {
        let page = page_request(first, after)?;
        Ok(jobs::mine(state(ctx), viewer(ctx), status, page)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// Creates a DRAFT job.
    async fn create_job(&self, ctx: &Context<'_>, input: JobInput) -> Result<Job> {
        Ok(jobs::create(state(ctx), viewer(ctx), input).await?)
    }

    /// Replaces a DRAFT or OPEN job's content.
    async fn update_job(&self, ctx: &Context<'_>, id: JobId, input: JobInput) -> Result<Job> {
        Ok(jobs::update(state(ctx), viewer(ctx), id, input).await?)
    }

    /// DRAFT -> OPEN; the deadline must be in the future.
    async fn publish_job(&self, ctx: &Context<'_>, id: JobId) -> Result<Job> {
        Ok(jobs::transition(state(ctx), viewer(ctx), id, JobAction::Publish).await?)
    }

    /// OPEN -> CLOSED: no more applications; the pipeline goes on.
    async fn close_job(&self, ctx: &Context<'_>, id: JobId) -> Result<Job> {
        Ok(jobs::transition(state(ctx), viewer(ctx), id, JobAction::Close).await?)
    }

    /// DRAFT, OPEN or CLOSED -> CANCELLED.
    async fn cancel_job(&self, ctx: &Context<'_>, id: JobId) -> Result<Job> {
        Ok(jobs::transition(state(ctx), viewer(ctx), id, JobAction::Cancel).await?)
    }

    /// OPEN or CLOSED -> FILLED.
    async fn mark_job_filled(&self, ctx: &Context<'_>, id: JobId) -> Result<Job> {
        Ok(jobs::transition(state(ctx), viewer(ctx), id, JobAction::MarkFilled).await?)
    }
}
