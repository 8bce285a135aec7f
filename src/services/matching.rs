//! How well a talent fits a job, by the 9-factor model of `castyou-model`: the server's
//! profiles and jobs turned into the model's inputs, the job's weights, and one pair's
//! breakdown for the people entitled to see it.

use super::{jobs, signed_in, AppState, Viewer};
use crate::db::models::{Job, TalentProfile};
use crate::db::{self};
use crate::domain::ids::{JobId, UserId};
use crate::domain::profiles as domain;
use crate::domain::{ProductionType, Proficiency};
use crate::errors::{AppError, AppResult};
use anyhow::Context as _;
use castyou_model as model;
use castyou_model::{Factor, Weights};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One stored weight (`jobs.match_weights` holds all nine, normalised, in factor order).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredWeight {
    factor: String,
    weight: f32,
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

fn production_type(t: ProductionType) -> model::ProductionType {
    match t {
        ProductionType::Film => model::ProductionType::Film,
        ProductionType::Tv => model::ProductionType::Tv,
        ProductionType::Commercial => model::ProductionType::Commercial,
        ProductionType::Theatre => model::ProductionType::Theatre,
        ProductionType::Voice => model::ProductionType::Voice,
        ProductionType::MusicVideo => model::ProductionType::MusicVideo,
        ProductionType::Modeling => model::ProductionType::Modeling,
        ProductionType::Other => model::ProductionType::Other,
    }
}

fn proficiency(p: Proficiency) -> model::Proficiency {
    match p {
        Proficiency::Basic => model::Proficiency::Basic,
        Proficiency::Conversational => model::Proficiency::Conversational,
        Proficiency::Fluent => model::Proficiency::Fluent,
        Proficiency::Native => model::Proficiency::Native,
    }
}

fn languages(skills: &[domain::LanguageSkill]) -> Vec<model::LanguageSkill> {
    skills
        .iter()
        .map(|s| model::LanguageSkill {
            language: s.language.to_string(),
            proficiency: proficiency(s.proficiency),
        })
        .collect()
}

/// A talent profile as the model reads it.
pub fn talent_input(profile: &TalentProfile) -> model::TalentInput {
    let row = &profile.row;
    model::TalentInput {
        location_country: row.country.as_ref().map(|c| c.to_string()),
        gender: row.gender.clone(),
        playing_age_min: row.playing_age_min,
        playing_age_max: row.playing_age_max,
        height_cm: row.height_cm,
        languages: languages(&profile.languages),
        accents: row.accents.clone(),
        work_authorizations: row
            .work_authorizations
            .iter()
            .map(|c| c.to_string())
            .collect(),
        notable_works: profile
            .notable_works
            .iter()
            .map(|w| model::NotableWork {
                title: w.title.clone(),
                year: w.year,
                role: w.role.clone(),
                production_type: w.production_type.map(production_type),
            })
            .collect(),
        production_experience_years: Some(row.production_experience_years),
        awards: profile
            .awards
            .iter()
            .map(|a| model::Award {
                name: a.name.clone(),
                year: a.year,
                won: a.won,
            })
            .collect(),
        dream_gigs: row.dream_gigs.clone(),
        rate_min: row.rate_min,
        rate_max: row.rate_max,
        currency: Some(row.currency.to_string()),
        availability: profile
            .availability
            .iter()
            .map(|w| model::AvailabilityWindow {
                from: w.from.date_naive(),
                to: w.to.date_naive(),
            })
            .collect(),
    }
}

/// A job as the model reads it.
pub fn job_input(job: &Job) -> anyhow::Result<model::JobInput> {
    let row = &job.row;
    let req = job
        .decoded_requirements()
        .context("decoding requirements")?;
    Ok(model::JobInput {
        title: row.title.clone(),
        description: row.description.clone(),
        project_name: row.project_name.clone(),
        production_type: production_type(row.production_type),
        location_country: row.country.as_ref().map(|c| c.to_string()),
        remote: row.remote,
        pay_min: row.pay_min,
        pay_max: row.pay_max,
        currency: Some(row.currency.to_string()),
        requirements: model::JobRequirements {
            gender: req.gender,
            playing_age_min: req.playing_age_min,
            playing_age_max: req.playing_age_max,
            height_min_cm: req.height_min_cm,
            height_max_cm: req.height_max_cm,
            languages: languages(&req.languages),
            accents: req.accents,
            work_authorizations: req
                .work_authorizations
                .iter()
                .map(|c| c.to_string())
                .collect(),
            min_experience_years: req.min_experience_years,
        },
        shoot_start: row.shoot_start.map(|d| d.date_naive()),
        shoot_end: row.shoot_end.map(|d| d.date_naive()),
    })
}

/// One talent scored against one job.
pub struct PairMatch {
    pub job: Job,
    pub talent: TalentProfile,
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
    let now = Utc::now();
    let ctx = model::Context {
        rates: &state.rates,
        today: now.date_naive(),
    };
    let scored = model::score(
        &model::TalentFeatures::new(&talent_input(&talent)),
        &model::JobFeatures::new(&job_input(&job)?),
        &weights,
        &ctx,
    );
    Ok(PairMatch {
        job,
        talent,
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
    let stored: Vec<StoredWeight> = normalised
        .iter()
        .map(|(factor, weight)| StoredWeight {
            factor: factor.as_str().to_string(),
            weight,
        })
        .collect();
    let stored = serde_json::to_value(stored).context("encoding match weights")?;
    let mut conn = state.conn().await?;
    Ok(db::jobs::set_match_weights(&mut conn, job_id, &stored)
        .await
        .with_context(|| format!("setting the match weights of job {job_id}"))?)
}
