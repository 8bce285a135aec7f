//! Profile shapes shared by talents and job requirements, the profile inputs, and their checks.
//! An upsert replaces the whole profile: an absent optional field is cleared.

use super::values::{self, Checked, CountryCode, CurrencyCode, LanguageCode};
use super::{ProductionType, Proficiency, UnionStatus};
use crate::errors::AppError;
use async_graphql::{InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const SHORT_TEXT: usize = 100;
pub const HEADLINE_MAX: usize = 200;
pub const BIO_MAX: usize = 5000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "LocationInput")]
pub struct Location {
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: CountryCode,
}

impl Location {
    pub fn check(self, field: &str) -> Checked<Location> {
        Ok(Location {
            city: values::optional_text(
                &format!("{field}.city"),
                self.city.as_deref(),
                SHORT_TEXT,
            )?,
            country: values::country(&format!("{field}.country"), self.country.as_str())?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "LanguageSkillInput")]
#[serde(rename_all = "camelCase")]
pub struct LanguageSkill {
    /// ISO 639-1.
    pub language: LanguageCode,
    pub proficiency: Proficiency,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "NotableWorkInput")]
#[serde(rename_all = "camelCase")]
pub struct NotableWork {
    pub title: String,
    pub year: Option<i32>,
    pub role: Option<String>,
    pub production_type: Option<ProductionType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "AwardInput")]
pub struct Award {
    pub name: String,
    pub year: Option<i32>,
    pub won: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, SimpleObject, InputObject)]
#[graphql(input_name = "AvailabilityWindowInput")]
pub struct AvailabilityWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn list_len<T>(field: &str, items: &[T], max: usize) -> Checked<()> {
    if items.len() > max {
        return Err(AppError::bad_input(
            field,
            format!("must have at most {max} entries"),
        ));
    }
    Ok(())
}

fn year(field: &str, value: Option<i32>) -> Checked<Option<i32>> {
    values::int_in(field, value, 1850, 2200)
}

/// Language skills: valid codes, one entry per language.
pub fn check_languages(
    field: &str,
    items: Option<Vec<LanguageSkill>>,
) -> Checked<Vec<LanguageSkill>> {
    let items = items.unwrap_or_default();
    list_len(field, &items, 20)?;
    let mut out: Vec<LanguageSkill> = Vec::with_capacity(items.len());
    for (i, skill) in items.into_iter().enumerate() {
        let language =
            values::language(&format!("{field}[{i}].language"), skill.language.as_str())?;
        if out.iter().any(|s| s.language == language) {
            return Err(AppError::bad_input(
                format!("{field}[{i}].language"),
                "is listed twice",
            ));
        }
        out.push(LanguageSkill {
            language,
            proficiency: skill.proficiency,
        });
    }
    Ok(out)
}

/// Country codes (work authorizations), de-duplicated.
pub fn check_countries(field: &str, items: Option<Vec<String>>) -> Checked<Vec<CountryCode>> {
    let items = items.unwrap_or_default();
    list_len(field, &items, 50)?;
    let mut out: Vec<CountryCode> = Vec::with_capacity(items.len());
    for (i, code) in items.iter().enumerate() {
        let code = values::country(&format!("{field}[{i}]"), code)?;
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// The validated content of a talent profile.
#[derive(Debug, Clone)]
pub struct TalentProfileDraft {
    pub stage_name: String,
    pub headline: Option<String>,
    pub bio: Option<String>,
    pub location: Option<Location>,
    pub gender: Option<String>,
    pub playing_age_min: Option<i32>,
    pub playing_age_max: Option<i32>,
    pub height_cm: Option<i32>,
    pub languages: Vec<LanguageSkill>,
    pub accents: Vec<String>,
    pub work_authorizations: Vec<CountryCode>,
    pub union_status: UnionStatus,
    pub notable_works: Vec<NotableWork>,
    pub production_experience_years: i32,
    pub awards: Vec<Award>,
    pub dream_gigs: Vec<String>,
    pub skills: Vec<String>,
    pub rate_min: Option<i32>,
    pub rate_max: Option<i32>,
    pub currency: CurrencyCode,
    pub availability: Vec<AvailabilityWindow>,
}

#[derive(Debug, Clone, InputObject)]
pub struct TalentProfileInput {
    pub stage_name: String,
    pub headline: Option<String>,
    pub bio: Option<String>,
    pub location: Option<Location>,
    pub gender: Option<String>,
    pub playing_age_min: Option<i32>,
    pub playing_age_max: Option<i32>,
    pub height_cm: Option<i32>,
    pub languages: Option<Vec<LanguageSkill>>,
    pub accents: Option<Vec<String>>,
    pub work_authorizations: Option<Vec<String>>,
    pub union_status: Option<UnionStatus>,
    pub notable_works: Option<Vec<NotableWork>>,
    pub production_experience_years: Option<i32>,
    pub awards: Option<Vec<Award>>,
    pub dream_gigs: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    pub rate_min: Option<i32>,
    pub rate_max: Option<i32>,
    pub currency: Option<String>,
    pub availability: Option<Vec<AvailabilityWindow>>,
}

impl TalentProfileInput {
    /// Checks every field; errors name `input.<field>`.
    // Long: one independent rule per input field, in the input's order.
    pub fn check(self) -> Checked<TalentProfileDraft> {
        let f = |name: &str| format!("input.{name}");
        let playing_age_min = values::int_in(&f("playingAgeMin"), self.playing_age_min, 0, 120)?;
        let playing_age_max = values::int_in(&f("playingAgeMax"), self.playing_age_max, 0, 120)?;
        values::ordered(
            &f("playingAgeMin"),
            "playingAgeMax",
            playing_age_min,
            playing_age_max,
        )?;
        let rate_min = values::int_in(&f("rateMin"), self.rate_min, 0, 10_000_000)?;
        let rate_max = values::int_in(&f("rateMax"), self.rate_max, 0, 10_000_000)?;
        values::ordered(&f("rateMin"), "rateMax", rate_min, rate_max)?;

        let notable_works = self.notable_works.unwrap_or_default();
        list_len(&f("notableWorks"), &notable_works, 50)?;
        let notable_works = notable_works
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                let at = f(&format!("notableWorks[{i}]"));
                Ok(NotableWork {
                    title: values::text(&format!("{at}.title"), &w.title, 200)?,
                    year: year(&format!("{at}.year"), w.year)?,
                    role: values::optional_text(
                        &format!("{at}.role"),
                        w.role.as_deref(),
                        SHORT_TEXT,
                    )?,
                    production_type: w.production_type,
                })
            })
            .collect::<Checked<Vec<_>>>()?;

        let awards = self.awards.unwrap_or_default();
        list_len(&f("awards"), &awards, 50)?;
        let awards = awards
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let at = f(&format!("awards[{i}]"));
                Ok(Award {
                    name: values::text(&format!("{at}.name"), &a.name, 200)?,
                    year: year(&format!("{at}.year"), a.year)?,
                    won: a.won,
                })
            })
            .collect::<Checked<Vec<_>>>()?;

        let availability = self.availability.unwrap_or_default();
        list_len(&f("availability"), &availability, 50)?;
        for (i, w) in availability.iter().enumerate() {
            if w.from >= w.to {
                return Err(AppError::bad_input(
                    f(&format!("availability[{i}].from")),
                    "must be before `to`",
                ));
            }
        }

        Ok(TalentProfileDraft {
            stage_name: values::text(&f("stageName"), &self.stage_name, SHORT_TEXT)?,
            headline: values::optional_text(
                &f("headline"),
                self.headline.as_deref(),
                HEADLINE_MAX,
            )?,
            bio: values::optional_text(&f("bio"), self.bio.as_deref(), BIO_MAX)?,
            location: self.location.map(|l| l.check(&f("location"))).transpose()?,
            gender: values::optional_text(&f("gender"), self.gender.as_deref(), 50)?,
            playing_age_min,
            playing_age_max,
            height_cm: values::int_in(&f("heightCm"), self.height_cm, 30, 280)?,
            languages: check_languages(&f("languages"), self.languages)?,
            accents: values::text_list(&f("accents"), self.accents.as_deref(), 20, SHORT_TEXT)?,
            work_authorizations: check_countries(
                &f("workAuthorizations"),
                self.work_authorizations,
            )?,
            union_status: self.union_status.unwrap_or(UnionStatus::NonUnion),
            notable_works,
            production_experience_years: values::int_in(
                &f("productionExperienceYears"),
                self.production_experience_years,
                0,
                100,
            )?
            .unwrap_or(0),
            awards,
            dream_gigs: values::text_list(&f("dreamGigs"), self.dream_gigs.as_deref(), 20, 200)?,
            skills: values::text_list(&f("skills"), self.skills.as_deref(), 50, SHORT_TEXT)?,
            rate_min,
            rate_max,
            currency: match self.currency.as_deref() {
                Some(c) => values::currency(&f("currency"), c)?,
                None => CurrencyCode::usd(),
            },
            availability,
        })
    }
}

/// The validated content of a producer profile.
#[derive(Debug, Clone)]
pub struct ProducerProfileDraft {
    pub company: String,
    pub title: Option<String>,
    pub bio: Option<String>,
    pub website: Option<String>,
}

#[derive(Debug, Clone, InputObject)]
pub struct ProducerProfileInput {
    pub company: String,
    pub title: Option<String>,
    pub bio: Option<String>,
    pub website: Option<String>,
}

impl ProducerProfileInput {
    pub fn check(self) -> Checked<ProducerProfileDraft> {
        Ok(ProducerProfileDraft {
            company: values::text("input.company", &self.company, 200)?,
            title: values::optional_text("input.title", self.title.as_deref(), SHORT_TEXT)?,
            bio: values::optional_text("input.bio", self.bio.as_deref(), BIO_MAX)?,
            website: values::web_url("input.website", self.website.as_deref())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> TalentProfileInput {
        TalentProfileInput {
            stage_name: "Ada Stone".into(),
            headline: None,
            bio: None,
            location: None,
            gender: None,
            playing_age_min: None,
            playing_age_max: None,
            height_cm: None,
            languages: None,
            accents: None,
            work_authorizations: None,
            union_status: None,
            notable_works: None,
            production_experience_years: None,
            awards: None,
            dream_gigs: None,
            skills: None,
            rate_min: None,
            rate_max: None,
            currency: None,
            availability: None,
        }
    }

    fn field(r: Checked<TalentProfileDraft>) -> String {
        match r {
            Err(AppError::BadInput { field, .. }) => field,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_profile_gets_defaults() {
        let draft = minimal().check().expect("valid");
        assert_eq!(draft.currency.as_str(), "USD");
        assert_eq!(draft.union_status, UnionStatus::NonUnion);
        assert_eq!(draft.production_experience_years, 0);
    }

    #[test]
    fn inverted_ranges_name_the_lower_field() {
        let mut input = minimal();
        input.playing_age_min = Some(40);
        input.playing_age_max = Some(30);
        assert_eq!(field(input.check()), "input.playingAgeMin");
        let mut input = minimal();
        input.rate_min = Some(500);
        input.rate_max = Some(100);
        assert_eq!(field(input.check()), "input.rateMin");
    }

    #[test]
    fn nested_errors_carry_their_path() {
        let mut input = minimal();
        input.languages = Some(vec![
            LanguageSkill {
                language: String::from("en").into(),
                proficiency: Proficiency::Native,
            },
            LanguageSkill {
                language: String::from("xx").into(),
                proficiency: Proficiency::Basic,
            },
        ]);
        assert_eq!(field(input.check()), "input.languages[1].language");
        let mut input = minimal();
        input.location = Some(Location {
            city: None,
            country: String::from("Narnia").into(),
        });
        assert_eq!(field(input.check()), "input.location.country");
    }

    #[test]
    fn availability_windows_must_run_forwards() {
        let now = Utc::now();
        let mut input = minimal();
        input.availability = Some(vec![AvailabilityWindow { from: now, to: now }]);
        assert_eq!(field(input.check()), "input.availability[0].from");
    }
}
