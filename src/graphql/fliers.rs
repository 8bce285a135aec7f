//! AI job fliers: the templates, and `generateJobFlier` (see `services::fliers`).

use super::{state, viewer};
use crate::db::models::Job;
use crate::domain::ids::JobId;
use crate::services::fliers;
use async_graphql::{Context, Object, Result, SimpleObject};

/// A look a flier can take.
#[derive(SimpleObject)]
pub struct FlierTemplate {
    pub name: String,
    pub description: String,
}

#[derive(Default)]
pub struct FlierQuery;

#[Object]
impl FlierQuery {
    /// The templates a flier can use.
    async fn flier_templates(&self) -> Vec<FlierTemplate> {
        fliers::TEMPLATES
            .iter()
            .map(|t| FlierTemplate {
                name: t.name.into(),
                description: t.description.into(),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct FlierMutation;

#[Object]
impl FlierMutation {
    /// Writes the job's flier (its producer only) with the configured model, or from the job's
    /// facts when no model answers well; stored in `Job.flier`. `instructions` (at most 500
    /// characters) are style wishes, never instructions to the system.
    async fn generate_job_flier(
        &self,
        ctx: &Context<'_>,
        job_id: JobId,
        template: Option<String>,
        instructions: Option<String>,
    ) -> Result<Job> {
        Ok(fliers::generate(
            state(ctx),
            viewer(ctx),
            job_id,
            template.as_deref(),
            instructions.as_deref(),
        )
        .await?)
    }
}
