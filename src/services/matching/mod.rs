//! How well a talent fits a job, by the 9-factor model of `castyou-model`: the server's
//! profiles and jobs turned into the model's inputs, the job's weights, and one pair's
//! breakdown for the people entitled to see it.

use super::{events, jobs, signed_in, AppState, Viewer};
use crate::db::models::{Job, TalentProfile};
use crate::db::{self};
use crate::domain::ids::{JobId, UserId};
use crate::errors::{AppError, AppResult};
use anyhow::Context as _;
use castyou_model as model;
use castyou_model::{Factor, Weights};
pub use castyou_vocab::events::{Served, ServedPages, ServedTalent, StoredWeight};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection as _;
use std::sync::Arc;

mod explain_log;
mod feeds;
mod inputs;

pub use explain_log::{explain_docs, ExplainStage};
pub use feeds::{discover, job_feed, watch_jobs, DiscoverFilterArgs, FeedItem, FeedPage};
pub use inputs::{add_job_vectors, add_talent_vectors, job_input, job_record, talent_input};

fn stored(weights: &Weights) -> Vec<StoredWeight> {
    weights
        .iter()
        .map(|(factor, weight)| StoredWeight {
            factor: factor.as_str().to_string(),
            weight,
        })
        .collect()
}

/// The weights a job's ranking uses: its own, or the model's defaults.
pub fn weights_of(job: &Job) -> Weights {
    let Some(stored) = &job.row.match_weights else {
        return Weights::default();
    };
    let parsed: Option<Vec<(Factor, f64)>> =
        serde_json::from_value::<Vec<StoredWeight>>(stored.clone())
            .ok()
            .map(|ws| {
                ws.iter()
                    .filter_map(|w| Some((Factor::parse(&w.factor)?, f64::from(w.weight))))
                    .collect()
            });
    match parsed.map(|pairs| Weights::normalised(&pairs)) {
        Some(Ok(weights)) => weights,
        _ => {
            tracing::error!(job = %job.row.id, "stored match weights do not decode; using the defaults");
            Weights::default()
        }
    }
}

/// The talent of a match: loaded already, or to be loaded when a client asks for it.
pub enum TalentRef {
    Loaded(Box<TalentProfile>),
    Id(UserId),
}

/// One talent scored against one job.
pub struct PairMatch {
    pub job: Arc<Job>,
    pub talent: TalentRef,
    pub weights: Weights,
    pub scored: model::Scored,
    pub computed_at: DateTime<Utc>,
}

/// The breakdown of one pair, for the job's producer, that talent, or an admin.
pub async fn pair(
    state: &AppState,
    viewer: Option<Viewer>,
    job_id: JobId,
    talent_id: UserId,
) -> AppResult<PairMatch> {
    let viewer = signed_in(viewer)?;
    let job = jobs::find(state, Some(viewer), job_id)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    let mut conn = state.conn().await?;
    let talent = db::profiles::find_talent(&mut conn, talent_id)
        .await
        .with_context(|| format!("reading the talent profile of {talent_id}"))?
        .ok_or(AppError::NotFound("talent"))?;
    if !(jobs::manages(&viewer, &job) || viewer.user_id == talent_id) {
        return Err(AppError::forbidden(
            "a match is visible to the job's producer and to that talent",
        ));
    }
    let weights = weights_of(&job);
    let mut t_input = talent_input(&talent);
    let mut j_input = job_input(&job)?;
    add_talent_vectors(state, &mut conn, &mut [(talent_id.0, &mut t_input)]).await?;
    add_job_vectors(state, &mut conn, &mut [(job.row.id.0, &mut j_input)]).await?;
    let now = Utc::now();
    let ctx = model::Context {
        rates: &state.rates,
        today: now.date_naive(),
    };
    let scored = model::score(
        &model::TalentFeatures::new(&t_input),
        &model::JobFeatures::new(&j_input),
        &weights,
        &ctx,
    );
    Ok(PairMatch {
        job: Arc::new(job),
        talent: TalentRef::Loaded(Box::new(talent)),
        weights,
        scored,
        computed_at: now,
    })
}

/// Sets a job's ranking weights (its producer and admins): any non-negative numbers, factors
/// left out keep their default, normalised to sum 1.
pub async fn set_weights(
    state: &AppState,
    viewer: Option<Viewer>,
    job_id: JobId,
    weights: &[(Factor, f64)],
) -> AppResult<Job> {
    let viewer = signed_in(viewer)?;
    let job = jobs::find(state, Some(viewer), job_id)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    if !jobs::manages(&viewer, &job) {
        return Err(AppError::forbidden(
            "only the job's producer sets its match weights",
        ));
    }
    if weights.len() > Factor::ALL.len() {
        return Err(AppError::bad_input(
            "weights",
            "give each factor at most once",
        ));
    }
    let normalised =
        Weights::normalised(weights).map_err(|e| AppError::bad_input("weights", e.to_string()))?;
    let stored = serde_json::to_value(stored(&normalised)).context("encoding match weights")?;
    let mut conn = state.conn().await?;
    let (job, seq) = conn
        .transaction::<_, AppError, _>(async |c| {
            let job = db::jobs::set_match_weights(c, job_id, &stored)
                .await
                .with_context(|| format!("setting the match weights of job {job_id}"))?;
            events::job_updated(c, &job).await?;
            let seq = db::outbox::last_seq(c).await.context("outbox::last_seq")?;
            Ok((job, seq))
        })
        .await?;
    super::own_writes::note(state, viewer.user_id, seq).await;
    Ok(job)
}
