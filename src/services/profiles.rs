//! Talent and producer profiles: upserts by their owners, reads, search and hiring metrics.

use super::{signed_in, AppState, Viewer};
use crate::db::models::{
    ProducerProfile, ProducerProfileChanges, TalentProfile, TalentProfileChanges,
};
use crate::db::page::{Page, PageRequest};
use crate::db::{self, profiles::HiringMetrics};
use crate::domain::ids::*;
use crate::domain::profiles::{ProducerProfileInput, TalentProfileInput};
use crate::domain::Role;
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use diesel_async::AsyncConnection as _;

pub async fn upsert_talent(
    state: &AppState,
    viewer: Option<Viewer>,
    input: TalentProfileInput,
) -> AppResult<TalentProfile> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Talent {
        return Err(AppError::forbidden("only talents have talent profiles"));
    }
    let d = input.check()?;
    let (city, country) = match d.location {
        Some(l) => (l.city, Some(l.country)),
        None => (None, None),
    };
    let changes = TalentProfileChanges {
        user_id: viewer.user_id,
        stage_name: d.stage_name,
        headline: d.headline,
        bio: d.bio,
        city,
        country,
        gender: d.gender,
        playing_age_min: d.playing_age_min,
        playing_age_max: d.playing_age_max,
        height_cm: d.height_cm,
        languages: serde_json::to_value(&d.languages).context("encoding languages")?,
        accents: d.accents,
        work_authorizations: d.work_authorizations,
        union_status: d.union_status,
        notable_works: serde_json::to_value(&d.notable_works).context("encoding notable works")?,
        production_experience_years: d.production_experience_years,
        awards: serde_json::to_value(&d.awards).context("encoding awards")?,
        dream_gigs: d.dream_gigs,
        skills: d.skills,
        rate_min: d.rate_min,
        rate_max: d.rate_max,
        currency: d.currency,
        availability: serde_json::to_value(&d.availability).context("encoding availability")?,
        updated_at: chrono::Utc::now(),
    };
    let mut conn = state.conn().await?;
    // The match indexes re-read the profile from the event committed with it.
    let (profile, seq) = conn
        .transaction::<_, AppError, _>(async |c| {
            let profile = db::profiles::upsert_talent(c, &changes)
                .await
                .with_context(|| format!("saving the talent profile of {}", changes.user_id))?;
            super::events::talent_profile_changed(c, profile.row.user_id, profile.row.updated_at)
                .await?;
            let seq = db::outbox::last_seq(c).await.context("outbox::last_seq")?;
            // Its vectors follow (the embedding worker skips texts that did not change).
            db::embeddings::enqueue(c, profile.row.user_id.0, db::embeddings::Subject::Talent)
                .await
                .context("embeddings::enqueue")?;
            Ok((profile, seq))
        })
        .await?;
    super::own_writes::note(state, profile.row.user_id, seq).await;
    super::own_writes::note_profile(state, seq).await;
    Ok(profile)
}

pub async fn upsert_producer(
    state: &AppState,
    viewer: Option<Viewer>,
    input: ProducerProfileInput,
) -> AppResult<ProducerProfile> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Producer {
        return Err(AppError::forbidden("only producers have producer profiles"));
    }
    let d = input.check()?;
    let changes = ProducerProfileChanges {
        user_id: viewer.user_id,
        company: d.company,
        title: d.title,
        bio: d.bio,
        website: d.website,
        updated_at: chrono::Utc::now(),
    };
    let mut conn = state.conn().await?;
    Ok(db::profiles::upsert_producer(&mut conn, &changes)
        .await
        .context("profiles::upsert_producer")?)
}

pub async fn talent(
    state: &AppState,
    viewer: Option<Viewer>,
    id: UserId,
) -> AppResult<Option<TalentProfile>> {
    signed_in(viewer)?;
    let mut conn = state.conn().await?;
    Ok(db::profiles::find_talent(&mut conn, id)
        .await
        .with_context(|| format!("reading the talent profile of {id}"))?)
}

pub async fn producer(
    state: &AppState,
    viewer: Option<Viewer>,
    id: UserId,
) -> AppResult<Option<ProducerProfile>> {
    signed_in(viewer)?;
    let mut conn = state.conn().await?;
    Ok(db::profiles::find_producer(&mut conn, id)
        .await
        .context("profiles::find_producer")?)
}

pub async fn search_talents(
    state: &AppState,
    viewer: Option<Viewer>,
    text: Option<String>,
    page: PageRequest,
) -> AppResult<Page<TalentProfile>> {
    signed_in(viewer)?;
    let text = crate::domain::values::optional_text("text", text.as_deref(), 200)?;
    let mut conn = state.conn().await?;
    Ok(
        db::profiles::search_talents(&mut conn, text.as_deref(), page)
            .await
            .context("searching talents")?,
    )
}

/// A producer's hiring metrics: the producer and admins only.
pub async fn hiring_metrics(
    state: &AppState,
    viewer: Option<Viewer>,
    producer_id: UserId,
) -> AppResult<HiringMetrics> {
    let viewer = signed_in(viewer)?;
    if viewer.user_id != producer_id && !viewer.is_admin() {
        return Err(AppError::forbidden(
            "hiring metrics are visible to their producer only",
        ));
    }
    let mut conn = state.conn().await?;
    Ok(db::profiles::hiring_metrics(&mut conn, producer_id)
        .await
        .context("profiles::hiring_metrics")?)
}
