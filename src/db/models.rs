//! Rows as diesel reads and writes them. JSON columns hold the domain's profile shapes.

use super::schema::*;
use crate::domain::ids::{
    ApplicationEventId, ApplicationId, FavoriteListId, GroupId, JobId, UserId,
};
use crate::domain::jobs::JobRequirements;
use crate::domain::profiles::{AvailabilityWindow, Award, LanguageSkill, NotableWork};
use crate::domain::values::{CountryCode, CurrencyCode, Email};
use crate::domain::{
    ApplicationStage, AuthProvider, GroupRole, JobStatus, MembershipStatus, ProductionType, Role,
    UnionStatus,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value as Json;

/// A user as others may see it; credentials are read separately (`Credentials`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub display_name: String,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
    /// When the owner of `email` proved it; None while unverified.
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// What login needs; `Debug` prints no secret.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct Credentials {
    pub id: UserId,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("totp_enabled", &self.totp_enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: UserId,
    pub email: &'a Email,
    pub role: Role,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = user_identities)]
pub struct NewIdentity<'a> {
    pub provider: AuthProvider,
    pub subject: &'a str,
    pub user_id: UserId,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = talent_profiles, check_for_backend(diesel::pg::Pg))]
pub struct TalentProfileRow {
    pub user_id: UserId,
    pub stage_name: String,
    pub headline: Option<String>,
    pub bio: Option<String>,
    pub city: Option<String>,
    pub country: Option<CountryCode>,
    pub gender: Option<String>,
    pub playing_age_min: Option<i32>,
    pub playing_age_max: Option<i32>,
    pub height_cm: Option<i32>,
    pub languages: Json,
    pub accents: Vec<String>,
    pub work_authorizations: Vec<CountryCode>,
    pub union_status: UnionStatus,
    pub notable_works: Json,
    pub production_experience_years: i32,
    pub awards: Json,
    pub dream_gigs: Vec<String>,
    pub skills: Vec<String>,
    pub rate_min: Option<i32>,
    pub rate_max: Option<i32>,
    pub currency: CurrencyCode,
    pub availability: Json,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A talent profile with its JSON columns decoded.
#[derive(Debug, Clone)]
pub struct TalentProfile {
    pub row: TalentProfileRow,
    pub languages: Vec<LanguageSkill>,
    pub notable_works: Vec<NotableWork>,
    pub awards: Vec<Award>,
    pub availability: Vec<AvailabilityWindow>,
}

impl TryFrom<TalentProfileRow> for TalentProfile {
    type Error = anyhow::Error;
    fn try_from(row: TalentProfileRow) -> anyhow::Result<Self> {
        Ok(TalentProfile {
            languages: serde_json::from_value(row.languages.clone())?,
            notable_works: serde_json::from_value(row.notable_works.clone())?,
            awards: serde_json::from_value(row.awards.clone())?,
            availability: serde_json::from_value(row.availability.clone())?,
            row,
        })
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = talent_profiles, treat_none_as_null = true)]
pub struct TalentProfileChanges {
    pub user_id: UserId,
    pub stage_name: String,
    pub headline: Option<String>,
    pub bio: Option<String>,
    pub city: Option<String>,
    pub country: Option<CountryCode>,
    pub gender: Option<String>,
    pub playing_age_min: Option<i32>,
    pub playing_age_max: Option<i32>,
    pub height_cm: Option<i32>,
    pub languages: Json,
    pub accents: Vec<String>,
    pub work_authorizations: Vec<CountryCode>,
    pub union_status: UnionStatus,
    pub notable_works: Json,
    pub production_experience_years: i32,
    pub awards: Json,
    pub dream_gigs: Vec<String>,
    pub skills: Vec<String>,
    pub rate_min: Option<i32>,
    pub rate_max: Option<i32>,
    pub currency: CurrencyCode,
    pub availability: Json,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = producer_profiles, check_for_backend(diesel::pg::Pg))]
pub struct ProducerProfile {
    pub user_id: UserId,
    pub company: String,
    pub title: Option<String>,
    pub bio: Option<String>,
    pub website: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = producer_profiles, treat_none_as_null = true)]
pub struct ProducerProfileChanges {
    pub user_id: UserId,
    pub company: String,
    pub title: Option<String>,
    pub bio: Option<String>,
    pub website: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    pub id: JobId,
    pub producer_id: UserId,
    pub title: String,
    pub description: String,
    pub project_name: Option<String>,
    pub production_type: ProductionType,
    pub city: Option<String>,
    pub country: Option<CountryCode>,
    pub remote: bool,
    pub pay_min: Option<i32>,
    pub pay_max: Option<i32>,
    pub currency: CurrencyCode,
    pub requirements: Json,
    pub shoot_start: Option<DateTime<Utc>>,
    pub shoot_end: Option<DateTime<Utc>>,
    pub application_deadline: DateTime<Utc>,
    pub status: JobStatus,
    pub flier: Option<Json>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The discover ranking's weights (`[{factor, weight}]`); None means the defaults.
    pub match_weights: Option<Json>,
}

/// A job, and its producer's profile when the query that read it joined it (listings do, so a
/// page costs one round trip).
#[derive(Debug, Clone)]
pub struct Job {
    pub row: JobRow,
    pub producer: Option<ProducerProfile>,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Job {
            row,
            producer: None,
        }
    }
}

impl Job {
    /// The requirements, decoded when asked for (listings rarely show them).
    pub fn decoded_requirements(&self) -> anyhow::Result<JobRequirements> {
        use serde::Deserialize;
        Ok(JobRequirements::deserialize(&self.row.requirements)?)
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = jobs, treat_none_as_null = true)]
pub struct JobChanges {
    pub title: String,
    pub description: String,
    pub project_name: Option<String>,
    pub production_type: ProductionType,
    pub city: Option<String>,
    pub country: Option<CountryCode>,
    pub remote: bool,
    pub pay_min: Option<i32>,
    pub pay_max: Option<i32>,
    pub currency: CurrencyCode,
    pub requirements: Json,
    pub shoot_start: Option<DateTime<Utc>>,
    pub shoot_end: Option<DateTime<Utc>>,
    pub application_deadline: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = applications, check_for_backend(diesel::pg::Pg))]
pub struct Application {
    pub id: ApplicationId,
    pub job_id: JobId,
    pub talent_id: UserId,
    pub stage: ApplicationStage,
    pub rejected_from: Option<ApplicationStage>,
    pub cover_note: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub stage_changed_at: DateTime<Utc>,
}

/// An application as pipeline events carry it.
impl From<&Application> for castyou_vocab::events::ApplicationSnapshot {
    fn from(a: &Application) -> Self {
        castyou_vocab::events::ApplicationSnapshot {
            id: a.id,
            job_id: a.job_id,
            talent_id: a.talent_id,
            stage: a.stage,
            rejected_from: a.rejected_from,
            cover_note: a.cover_note.clone(),
            version: a.version,
            created_at: a.created_at,
            stage_changed_at: a.stage_changed_at,
        }
    }
}

/// The row of an application a pipeline event carried.
impl From<&castyou_vocab::events::ApplicationSnapshot> for Application {
    fn from(a: &castyou_vocab::events::ApplicationSnapshot) -> Self {
        Application {
            id: a.id,
            job_id: a.job_id,
            talent_id: a.talent_id,
            stage: a.stage,
            rejected_from: a.rejected_from,
            cover_note: a.cover_note.clone(),
            version: a.version,
            created_at: a.created_at,
            stage_changed_at: a.stage_changed_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = application_events, check_for_backend(diesel::pg::Pg))]
pub struct ApplicationEvent {
    pub id: ApplicationEventId,
    pub application_id: ApplicationId,
    pub from_stage: Option<ApplicationStage>,
    pub to_stage: ApplicationStage,
    pub actor_id: Option<UserId>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = talent_groups, check_for_backend(diesel::pg::Pg))]
pub struct TalentGroup {
    pub id: GroupId,
    pub name: String,
    pub description: Option<String>,
    pub owner_id: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_memberships, check_for_backend(diesel::pg::Pg))]
pub struct Membership {
    pub group_id: GroupId,
    pub talent_id: UserId,
    pub role: GroupRole,
    pub status: MembershipStatus,
    pub invited_by: Option<UserId>,
    pub invited_at: DateTime<Utc>,
    pub joined_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = favorite_lists, check_for_backend(diesel::pg::Pg))]
pub struct FavoriteList {
    pub id: FavoriteListId,
    pub producer_id: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}
