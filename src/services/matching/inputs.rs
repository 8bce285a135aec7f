//! The server's profiles and jobs as the model reads them, with their embeddings.

use crate::db::models::{Job, TalentProfile};
use crate::db::{self};
use crate::domain::profiles as domain;
use crate::services::embeddings::Part;
use crate::services::AppState;
use anyhow::Context as _;
use castyou_model as model;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use super::weights_of;

fn languages(skills: &[domain::LanguageSkill]) -> Vec<model::LanguageSkill> {
    skills
        .iter()
        .map(|s| model::LanguageSkill {
            language: s.language.to_string(),
            proficiency: s.proficiency,
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
                production_type: w.production_type,
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
        works_vector: None,
        dreams_vector: None,
    }
}

/// Adds the embeddings of the talents' notable works and dream gigs (of the configured model)
/// to their model inputs. Without an embeddings endpoint nothing is added: the semantic parts
/// of NOTABLE_WORKS and DREAM_GIG are off and the word-overlap rules stand alone.
pub async fn add_talent_vectors(
    state: &AppState,
    conn: &mut db::PgConn,
    inputs: &mut [(Uuid, &mut model::TalentInput)],
) -> anyhow::Result<()> {
    let Some(ai) = &state.ai else { return Ok(()) };
    if inputs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = inputs.iter().map(|(id, _)| *id).collect();
    let parts = [Part::Works.as_str(), Part::Dreams.as_str()];
    let rows = db::embeddings::talent_vectors(
        conn,
        &ids,
        &parts,
        ai.embedding_model(),
        ai.dimensions() as i32,
    )
    .await
    .context("reading talents' work and dream-gig embeddings")?;
    let mut found: HashMap<(Uuid, String), Vec<f32>> = rows
        .into_iter()
        .map(|r| {
            (
                (r.subject_id, r.part),
                db::embeddings::from_bytes(&r.vector),
            )
        })
        .collect();
    for (id, input) in inputs.iter_mut() {
        input.works_vector = found.remove(&(*id, Part::Works.as_str().to_owned()));
        input.dreams_vector = found.remove(&(*id, Part::Dreams.as_str().to_owned()));
    }
    Ok(())
}

/// Adds the embeddings of the jobs' text (of the configured model) to their model inputs;
/// nothing without an embeddings endpoint.
pub async fn add_job_vectors(
    state: &AppState,
    conn: &mut db::PgConn,
    inputs: &mut [(Uuid, &mut model::JobInput)],
) -> anyhow::Result<()> {
    let Some(ai) = &state.ai else { return Ok(()) };
    if inputs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = inputs.iter().map(|(id, _)| *id).collect();
    let rows =
        db::embeddings::job_vectors(conn, &ids, ai.embedding_model(), ai.dimensions() as i32)
            .await
            .context("reading jobs' embeddings")?;
    let mut found: HashMap<Uuid, Vec<f32>> = rows
        .into_iter()
        .map(|r| (r.job_id, db::embeddings::from_bytes(&r.vector)))
        .collect();
    for (id, input) in inputs.iter_mut() {
        input.vector = found.remove(id);
    }
    Ok(())
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
        production_type: row.production_type,
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
        vector: None,
    })
}

/// The match index's record of a job; its row travels with it so feed pages need no query.
pub fn job_record(job: Job) -> anyhow::Result<castyou_actors::matching::JobRecord<Job>> {
    Ok(castyou_actors::matching::JobRecord {
        id: job.row.id.0,
        input: job_input(&job)?,
        weights: weights_of(&job),
        application_deadline: job.row.application_deadline,
        row: Arc::new(job),
    })
}
