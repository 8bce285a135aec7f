//! Talent and producer profiles, talent search, hiring metrics and producers' favorite lists.

use super::connection::{connection, page_request};
use super::loaders::load_error;
use super::users::UserNode;
use super::{loaders, state, viewer};
use crate::db::models::{FavoriteList, ProducerProfile, TalentProfile};
use crate::db::profiles::HiringMetrics;
use crate::domain::ids::*;
use crate::domain::profiles::{
    AvailabilityWindow, Award, LanguageSkill, Location, NotableWork, ProducerProfileInput,
    TalentProfileInput,
};
use crate::domain::UnionStatus;
use crate::services::{favorites, profiles};
use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

connection!(TalentConnection, TalentEdge, TalentProfile);

async fn user_of(ctx: &Context<'_>, id: UserId) -> Result<UserNode> {
    loaders(ctx)
        .users
        .load_one(id)
        .await
        .map_err(load_error)?
        .map(UserNode::from)
        .ok_or_else(|| {
            crate::errors::AppError::Internal(anyhow::anyhow!("profile {id} has no user")).into()
        })
}

#[Object]
impl TalentProfile {
    /// The user's id.
    async fn id(&self) -> UserId {
        self.row.user_id
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<UserNode> {
        user_of(ctx, self.row.user_id).await
    }
    /// READY items for others; every item for the owner (and admins). Newest first, at most
    /// 100.
    async fn media(
        &self,
        ctx: &Context<'_>,
        kind: Option<crate::services::media::MediaKind>,
    ) -> Result<Vec<super::media::MediaItem>> {
        Ok(
            crate::services::media::of_talent(state(ctx), viewer(ctx), self.row.user_id, kind)
                .await?
                .into_iter()
                .map(super::media::MediaItem)
                .collect(),
        )
    }
    async fn stage_name(&self) -> &str {
        &self.row.stage_name
    }
    async fn headline(&self) -> Option<&str> {
        self.row.headline.as_deref()
    }
    async fn bio(&self) -> Option<&str> {
        self.row.bio.as_deref()
    }
    async fn location(&self) -> Option<Location> {
        self.row.country.clone().map(|country| Location {
            city: self.row.city.clone(),
            country,
        })
    }
    async fn gender(&self) -> Option<&str> {
        self.row.gender.as_deref()
    }
    async fn playing_age_min(&self) -> Option<i32> {
        self.row.playing_age_min
    }
    async fn playing_age_max(&self) -> Option<i32> {
        self.row.playing_age_max
    }
    async fn height_cm(&self) -> Option<i32> {
        self.row.height_cm
    }
    async fn languages(&self) -> &[LanguageSkill] {
        &self.languages
    }
    async fn accents(&self) -> &[String] {
        &self.row.accents
    }
    /// ISO country codes.
    async fn work_authorizations(&self) -> &[crate::domain::values::CountryCode] {
        &self.row.work_authorizations
    }
    async fn union_status(&self) -> UnionStatus {
        self.row.union_status
    }
    async fn notable_works(&self) -> &[NotableWork] {
        &self.notable_works
    }
    async fn production_experience_years(&self) -> i32 {
        self.row.production_experience_years
    }
    async fn awards(&self) -> &[Award] {
        &self.awards
    }
    async fn dream_gigs(&self) -> &[String] {
        &self.row.dream_gigs
    }
    async fn skills(&self) -> &[String] {
        &self.row.skills
    }
    /// Whole currency units per day.
    async fn rate_min(&self) -> Option<i32> {
        self.row.rate_min
    }
    async fn rate_max(&self) -> Option<i32> {
        self.row.rate_max
    }
    /// ISO 4217.
    async fn currency(&self) -> &str {
        self.row.currency.as_str()
    }
    async fn availability(&self) -> &[AvailabilityWindow] {
        &self.availability
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}

#[Object]
impl HiringMetrics {
    async fn open_jobs(&self) -> i32 {
        self.open_jobs
    }
    async fn total_applications(&self) -> i32 {
        self.total_applications
    }
    async fn hires(&self) -> i32 {
        self.hires
    }
    /// Median days from application to hire; null without hires.
    async fn median_days_to_hire(&self) -> Option<f64> {
        self.median_days_to_hire
    }
}

#[Object]
impl ProducerProfile {
    /// The user's id.
    async fn id(&self) -> UserId {
        self.user_id
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<UserNode> {
        user_of(ctx, self.user_id).await
    }
    async fn company(&self) -> &str {
        &self.company
    }
    async fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }
    async fn bio(&self) -> Option<&str> {
        self.bio.as_deref()
    }
    async fn website(&self) -> Option<&str> {
        self.website.as_deref()
    }
    /// The producer and admins only.
    async fn hiring_metrics(&self, ctx: &Context<'_>) -> Result<HiringMetrics> {
        Ok(profiles::hiring_metrics(state(ctx), viewer(ctx), self.user_id).await?)
    }
}

#[Object]
impl FavoriteList {
    async fn id(&self) -> FavoriteListId {
        self.id
    }
    async fn name(&self) -> &str {
        &self.name
    }
    /// Most recently added first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn talents(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<TalentConnection> {
        let page = page_request(first, after)?;
        Ok(favorites::talents(state(ctx), viewer(ctx), self, page)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct ProfileQuery;

#[Object]
impl ProfileQuery {
    async fn talent_profile(&self, ctx: &Context<'_>, id: UserId) -> Result<Option<TalentProfile>> {
        Ok(profiles::talent(state(ctx), viewer(ctx), id).await?)
    }

    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    /// Talents, most recently updated first; `text` matches words of the name, headline and
    /// bio, or a fragment of the name.
    async fn talents(
        &self,
        ctx: &Context<'_>,
        text: Option<String>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<TalentConnection> {
        let page = page_request(first, after)?;
        Ok(
            profiles::search_talents(state(ctx), viewer(ctx), text, page)
                .await?
                .into(),
        )
    }

    async fn producer_profile(
        &self,
        ctx: &Context<'_>,
        id: UserId,
    ) -> Result<Option<ProducerProfile>> {
        Ok(profiles::producer(state(ctx), viewer(ctx), id).await?)
    }

    /// The signed-in producer's lists.
    async fn favorite_lists(&self, ctx: &Context<'_>) -> Result<Vec<FavoriteList>> {
        Ok(favorites::mine(state(ctx), viewer(ctx)).await?)
    }
}

#[derive(Default)]
pub struct ProfileMutation;

#[Object]
impl ProfileMutation {
    /// Creates or replaces the signed-in talent's profile (absent fields are cleared).
    async fn upsert_talent_profile(
        &self,
        ctx: &Context<'_>,
        input: TalentProfileInput,
    ) -> Result<TalentProfile> {
        Ok(profiles::upsert_talent(state(ctx), viewer(ctx), input).await?)
    }

    /// Creates or replaces the signed-in producer's profile.
    async fn upsert_producer_profile(
        &self,
        ctx: &Context<'_>,
        input: ProducerProfileInput,
    ) -> Result<ProducerProfile> {
        Ok(profiles::upsert_producer(state(ctx), viewer(ctx), input).await?)
    }

    async fn create_favorite_list(&self, ctx: &Context<'_>, name: String) -> Result<FavoriteList> {
        Ok(favorites::create(state(ctx), viewer(ctx), &name).await?)
    }

    /// Adding a talent already on the list changes nothing.
    async fn add_to_favorite_list(
        &self,
        ctx: &Context<'_>,
        list_id: FavoriteListId,
        talent_id: UserId,
    ) -> Result<FavoriteList> {
        Ok(favorites::add(state(ctx), viewer(ctx), list_id, talent_id).await?)
    }

    async fn remove_from_favorite_list(
        &self,
        ctx: &Context<'_>,
        list_id: FavoriteListId,
        talent_id: UserId,
    ) -> Result<FavoriteList> {
        Ok(favorites::remove(state(ctx), viewer(ctx), list_id, talent_id).await?)
    }
}
