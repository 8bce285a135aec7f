//! Routes the moves of a job's applications through that job's `PipelineActor`, so on this
//! instance they run one at a time instead of queueing on row locks. A bulk move that spans
//! several jobs runs directly: the transaction's row locks (taken in id order) still keep it
//! correct, as they do against other instances.

use super::applications::{self, MoveRequest};
use super::{signed_in, AppState, Viewer};
use crate::db::models::Application;
use crate::domain::ids::*;
use crate::domain::ApplicationStage;
use crate::errors::{AppError, AppResult};
use actix::{Addr, Supervisor};
use castyou_actors::pipeline::{Apply, CountPipelines, Crash, PipelineError};
use castyou_actors::{PipelinePort, PipelineRegistry, RestartCounter};
use futures_util::future::BoxFuture;
use std::time::Duration;
use uuid::Uuid;

/// What a job's actor is asked to do.
pub enum PipelineCommand {
    Move {
        viewer: Viewer,
        request: MoveRequest,
    },
    Withdraw {
        viewer: Viewer,
        id: ApplicationId,
    },
}

/// The pipeline port: runs a command against PostgreSQL.
pub struct PgPipeline {
    state: AppState,
}

impl PipelinePort for PgPipeline {
    type Command = PipelineCommand;
    type Outcome = AppResult<Vec<Application>>;

    fn apply(&self, _job: Uuid, command: PipelineCommand) -> BoxFuture<'static, Self::Outcome> {
        let state = self.state.clone();
        Box::pin(async move {
            match command {
                PipelineCommand::Move { viewer, request } => {
                    applications::move_now(&state, viewer, request).await
                }
                PipelineCommand::Withdraw { viewer, id } => {
                    Ok(vec![applications::withdraw_now(&state, viewer, id).await?])
                }
            }
        })
    }
}

/// This instance's pipeline actors.
#[derive(Clone)]
pub struct Pipelines(Addr<PipelineRegistry<PgPipeline>>);

impl Pipelines {
    /// Starts the supervised registry; a job's actor stops after `idle_after` without moves.
    pub fn start(
        state: AppState,
        idle_after: Duration,
        registry_restarts: RestartCounter,
        actor_restarts: RestartCounter,
    ) -> Pipelines {
        let port = std::sync::Arc::new(PgPipeline { state });
        Pipelines(Supervisor::start(move |_| {
            PipelineRegistry::new(port.clone(), idle_after)
                .counting_restarts_in(registry_restarts.clone(), actor_restarts.clone())
        }))
    }

    /// Moves applications to `stage`, all or none; returned in the order asked.
    pub async fn move_many(
        &self,
        state: &AppState,
        viewer: Option<Viewer>,
        ids: Vec<ApplicationId>,
        stage: ApplicationStage,
        reason: Option<String>,
    ) -> AppResult<Vec<Application>> {
        let viewer = signed_in(viewer)?;
        let request = MoveRequest::new(ids, stage, reason)?;
        match applications::jobs_of(state, &request.unique).await?[..] {
            [job] => {
                self.run(job, PipelineCommand::Move { viewer, request })
                    .await
            }
            _ => applications::move_now(state, viewer, request).await,
        }
    }

    /// The talent withdraws an application.
    pub async fn withdraw(
        &self,
        state: &AppState,
        viewer: Option<Viewer>,
        id: ApplicationId,
    ) -> AppResult<Application> {
        let viewer = signed_in(viewer)?;
        let withdrawn = match applications::jobs_of(state, &[id]).await?[..] {
            [job] => {
                self.run(job, PipelineCommand::Withdraw { viewer, id })
                    .await?
            }
            _ => return Err(AppError::NotFound("application")),
        };
        withdrawn
            .into_iter()
            .next()
            .ok_or(AppError::NotFound("application"))
    }

    async fn run(&self, job: JobId, command: PipelineCommand) -> AppResult<Vec<Application>> {
        let answer = self
            .0
            .send(Apply {
                job: job.0,
                command,
            })
            .await;
        answer
            .map_err(|e| internal(&e))?
            .map_err(|e| internal(&e))?
    }

    /// How many job actors are running.
    pub async fn running(&self) -> usize {
        self.0.send(CountPipelines).await.unwrap_or(0)
    }

    /// A supervision drill: makes the actor of `job` panic (it restarts). For tests and
    /// operators' drills; nothing a client sends reaches it.
    pub async fn crash(&self, job: Uuid) -> Result<(), PipelineError> {
        self.0
            .send(Crash { job })
            .await
            .unwrap_or(Err(PipelineError::Unavailable))
    }
}

fn internal(e: &dyn std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("pipeline actor: {e}"))
}
