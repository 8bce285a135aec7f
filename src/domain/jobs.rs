//! Job status rules: which lifecycle actions apply in which status.

use super::JobStatus;

/// A lifecycle action a producer takes on a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Update,
    Publish,
    Close,
    Cancel,
    MarkFilled,
}

impl JobAction {
    fn verb(self) -> &'static str {
        match self {
            JobAction::Update => "edited",
            JobAction::Publish => "published",
            JobAction::Close => "closed",
            JobAction::Cancel => "cancelled",
            JobAction::MarkFilled => "marked filled",
        }
    }
}

/// The status after `action`, or why the job's current status forbids it.
pub fn apply_action(status: JobStatus, action: JobAction) -> Result<JobStatus, String> {
    use JobStatus::*;
    let next = match (action, status) {
        (JobAction::Update, Draft | Open) => Some(status),
        (JobAction::Publish, Draft) => Some(Open),
        (JobAction::Close, Open) => Some(Closed),
        (JobAction::Cancel, Draft | Open | Closed) => Some(Cancelled),
        (JobAction::MarkFilled, Open | Closed) => Some(Filled),
        _ => None,
    };
    next.ok_or_else(|| format!("a {status} job cannot be {}", action.verb()))
}

/// Whether the public (any visitor) may see a job in this status.
pub fn is_public(status: JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Open | JobStatus::Closed | JobStatus::Filled
    )
}

/// Whether a producer may still move applications of a job in this status.
pub fn pipeline_is_live(status: JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Open | JobStatus::Closed | JobStatus::Filled
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    #[test]
    fn lifecycle_actions_apply_only_in_their_statuses() {
        let table: &[(JobAction, &[(JobStatus, JobStatus)])] = &[
            (JobAction::Update, &[(Draft, Draft), (Open, Open)]),
            (JobAction::Publish, &[(Draft, Open)]),
            (JobAction::Close, &[(Open, Closed)]),
            (
                JobAction::Cancel,
                &[(Draft, Cancelled), (Open, Cancelled), (Closed, Cancelled)],
            ),
            (JobAction::MarkFilled, &[(Open, Filled), (Closed, Filled)]),
        ];
        for (action, allowed) in table {
            for status in JobStatus::ALL {
                let expected = allowed
                    .iter()
                    .find(|(from, _)| from == status)
                    .map(|(_, to)| *to);
                assert_eq!(
                    apply_action(*status, *action).ok(),
                    expected,
                    "{action:?} on {status}"
                );
            }
        }
    }

    #[test]
    fn drafts_and_cancelled_jobs_are_not_public() {
        assert!(!is_public(Draft));
        assert!(!is_public(Cancelled));
        assert!(is_public(Open) && is_public(Closed) && is_public(Filled));
    }
}

pub use input::*;

mod input {
    use crate::domain::profiles::{check_countries, check_languages, LanguageSkill, Location};
    use crate::domain::values::{self, Checked, CountryCode, CurrencyCode};
    use crate::domain::{ProductionType, UnionStatus};
    use async_graphql::{InputObject, SimpleObject};
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};

    /// What a role asks of a talent; mirrors the talent profile's fields.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, SimpleObject)]
    #[serde(rename_all = "camelCase", default)]
    pub struct JobRequirements {
        pub gender: Option<String>,
        pub playing_age_min: Option<i32>,
        pub playing_age_max: Option<i32>,
        pub height_min_cm: Option<i32>,
        pub height_max_cm: Option<i32>,
        pub languages: Vec<LanguageSkill>,
        pub accents: Vec<String>,
        pub work_authorizations: Vec<CountryCode>,
        pub union_status: Option<UnionStatus>,
        pub min_experience_years: Option<i32>,
        pub skills: Vec<String>,
    }

    #[derive(Debug, Clone, Default, InputObject)]
    pub struct JobRequirementsInput {
        pub gender: Option<String>,
        pub playing_age_min: Option<i32>,
        pub playing_age_max: Option<i32>,
        pub height_min_cm: Option<i32>,
        pub height_max_cm: Option<i32>,
        pub languages: Option<Vec<LanguageSkill>>,
        pub accents: Option<Vec<String>>,
        pub work_authorizations: Option<Vec<String>>,
        pub union_status: Option<UnionStatus>,
        pub min_experience_years: Option<i32>,
        pub skills: Option<Vec<String>>,
    }

    impl JobRequirementsInput {
        pub fn check(self, at: &str) -> Checked<JobRequirements> {
            let f = |name: &str| format!("{at}.{name}");
            let playing_age_min =
                values::int_in(&f("playingAgeMin"), self.playing_age_min, 0, 120)?;
            let playing_age_max =
                values::int_in(&f("playingAgeMax"), self.playing_age_max, 0, 120)?;
            values::ordered(
                &f("playingAgeMin"),
                "playingAgeMax",
                playing_age_min,
                playing_age_max,
            )?;
            let height_min_cm = values::int_in(&f("heightMinCm"), self.height_min_cm, 30, 280)?;
            let height_max_cm = values::int_in(&f("heightMaxCm"), self.height_max_cm, 30, 280)?;
            values::ordered(
                &f("heightMinCm"),
                "heightMaxCm",
                height_min_cm,
                height_max_cm,
            )?;
            Ok(JobRequirements {
                gender: values::optional_text(&f("gender"), self.gender.as_deref(), 50)?,
                playing_age_min,
                playing_age_max,
                height_min_cm,
                height_max_cm,
                languages: check_languages(&f("languages"), self.languages)?,
                accents: values::text_list(&f("accents"), self.accents.as_deref(), 20, 100)?,
                work_authorizations: check_countries(
                    &f("workAuthorizations"),
                    self.work_authorizations,
                )?,
                union_status: self.union_status,
                min_experience_years: values::int_in(
                    &f("minExperienceYears"),
                    self.min_experience_years,
                    0,
                    100,
                )?,
                skills: values::text_list(&f("skills"), self.skills.as_deref(), 50, 100)?,
            })
        }
    }

    #[derive(Debug, Clone, InputObject)]
    pub struct JobInput {
        pub title: String,
        pub description: String,
        pub project_name: Option<String>,
        pub production_type: ProductionType,
        pub location: Option<Location>,
        pub remote: Option<bool>,
        pub pay_min: Option<i32>,
        pub pay_max: Option<i32>,
        pub currency: Option<String>,
        pub requirements: Option<JobRequirementsInput>,
        pub shoot_start: Option<DateTime<Utc>>,
        pub shoot_end: Option<DateTime<Utc>>,
        pub application_deadline: DateTime<Utc>,
    }

    /// The validated content of a job.
    #[derive(Debug, Clone)]
    pub struct JobDraft {
        pub title: String,
        pub description: String,
        pub project_name: Option<String>,
        pub production_type: ProductionType,
        pub location: Option<Location>,
        pub remote: bool,
        pub pay_min: Option<i32>,
        pub pay_max: Option<i32>,
        pub currency: CurrencyCode,
        pub requirements: JobRequirements,
        pub shoot_start: Option<DateTime<Utc>>,
        pub shoot_end: Option<DateTime<Utc>>,
        pub application_deadline: DateTime<Utc>,
    }

    impl JobInput {
        /// Checks every field. Whether the deadline lies ahead is checked on publish and on
        /// edits of an open job, where it matters.
        pub fn check(self) -> Checked<JobDraft> {
            let pay_min = values::int_in("input.payMin", self.pay_min, 0, 100_000_000)?;
            let pay_max = values::int_in("input.payMax", self.pay_max, 0, 100_000_000)?;
            values::ordered("input.payMin", "payMax", pay_min, pay_max)?;
            values::ordered(
                "input.shootStart",
                "shootEnd",
                self.shoot_start,
                self.shoot_end,
            )?;
            Ok(JobDraft {
                title: values::text("input.title", &self.title, 200)?,
                description: values::text("input.description", &self.description, 10_000)?,
                project_name: values::optional_text(
                    "input.projectName",
                    self.project_name.as_deref(),
                    200,
                )?,
                production_type: self.production_type,
                location: self
                    .location
                    .map(|l| l.check("input.location"))
                    .transpose()?,
                remote: self.remote.unwrap_or(false),
                pay_min,
                pay_max,
                currency: match self.currency.as_deref() {
                    Some(c) => values::currency("input.currency", c)?,
                    None => CurrencyCode::usd(),
                },
                requirements: self
                    .requirements
                    .unwrap_or_default()
                    .check("input.requirements")?,
                shoot_start: self.shoot_start,
                shoot_end: self.shoot_end,
                application_deadline: self.application_deadline,
            })
        }
    }
}
