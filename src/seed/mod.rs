//! `castyou seed`: fills a database with realistic demo data — producers, talent profiles and
//! OPEN jobs with varied values — in batched multi-row inserts. Names come from several
//! cultures and scripts with realistic frequencies ([`names`]), headlines, bios and works from
//! vocabularies drawn the same way ([`words`]). It doubles as the data of the
//! matching load test (`scripts/matchload.sh`). Generated from a seed, so two runs with the
//! same arguments make the same people (with fresh ids).
//!
//! Seeded accounts sign in with their email and the password `castyou-demo`; talent emails
//! are `talent-<n>@seed.castyou.test`, producers `producer-<n>@seed.castyou.test`.

use crate::db::models::{ProducerProfileChanges, TalentProfileChanges};
use crate::db::schema::{jobs, producer_profiles, talent_profiles, users};
use crate::db::PgConn;
use crate::domain::ids::{JobId, UserId};
use crate::domain::jobs::JobRequirements;
use crate::domain::profiles::{AvailabilityWindow, Award, LanguageSkill, NotableWork};
use crate::domain::values::{CountryCode, CurrencyCode, LanguageCode};
use crate::domain::{JobStatus, ProductionType, Proficiency, Role, UnionStatus};
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use names::Names;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod names;
mod words;
mod zipf;

/// The password of every seeded account.
pub const DEMO_PASSWORD: &str = "castyou-demo";

/// Rows per insert statement.
const BATCH: usize = 1000;

/// What to make.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub talents: usize,
    pub jobs: usize,
    pub producers: usize,
    pub seed: u64,
}

/// What was made.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub talents: usize,
    pub jobs: usize,
    pub producers: usize,
    pub took: std::time::Duration,
}

/// (country, city, main language, currency)
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("GB", "London", "en", "GBP"),
    ("GB", "Manchester", "en", "GBP"),
    ("US", "Los Angeles", "en", "USD"),
    ("US", "New York", "en", "USD"),
    ("US", "Atlanta", "en", "USD"),
    ("FR", "Paris", "fr", "EUR"),
    ("DE", "Berlin", "de", "EUR"),
    ("ES", "Madrid", "es", "EUR"),
    ("IT", "Rome", "it", "EUR"),
    ("CA", "Toronto", "en", "CAD"),
    ("AU", "Sydney", "en", "AUD"),
    ("IN", "Mumbai", "hi", "INR"),
    ("JP", "Tokyo", "ja", "JPY"),
    ("IE", "Dublin", "en", "EUR"),
    ("NL", "Amsterdam", "nl", "EUR"),
];
const LANGUAGES: &[&str] = &[
    "en", "fr", "de", "es", "it", "pt", "ja", "hi", "nl", "pl", "ru",
];
const ACCENTS: &[&str] = &[
    "RP",
    "Cockney",
    "Scottish",
    "Irish",
    "Southern US",
    "New York",
    "Australian",
    "Parisian",
    "Texan",
    "Welsh",
    "Geordie",
    "Midwestern",
];
const GENDERS: &[&str] = &["female", "male", "non-binary"];
const AWARDS: &[&str] = &[
    "BAFTA",
    "Olivier Award",
    "Screen Actors Guild Award",
    "Tony Award",
    "César",
    "Independent Spirit Award",
    "Emmy",
    "Goya Award",
];
const DREAMS: &[&str] = &[
    "Lead in a West End theatre musical",
    "A villain in a big-budget science fiction film",
    "Period drama on a streaming series",
    "Voicing an animated feature",
    "A detective in a Nordic noir series",
    "Shakespeare at the Globe theatre",
    "A comedy series on network TV",
    "An action franchise role",
    "A national commercial campaign",
    "An arthouse film at Cannes",
];
const TYPES: &[ProductionType] = &[
    ProductionType::Film,
    ProductionType::Tv,
    ProductionType::Commercial,
    ProductionType::Theatre,
    ProductionType::Voice,
    ProductionType::MusicVideo,
    ProductionType::Modeling,
];
const UNIONS: &[UnionStatus] = &[
    UnionStatus::NonUnion,
    UnionStatus::SagAftra,
    UnionStatus::Equity,
    UnionStatus::Other,
];
const PROFICIENCIES: &[Proficiency] = &[
    Proficiency::Basic,
    Proficiency::Conversational,
    Proficiency::Fluent,
    Proficiency::Native,
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

fn language(code: &str) -> anyhow::Result<LanguageCode> {
    LanguageCode::parse("seed", code).map_err(|e| anyhow::anyhow!(e.message()))
}

fn country(code: &str) -> anyhow::Result<CountryCode> {
    CountryCode::parse("seed", code).map_err(|e| anyhow::anyhow!(e.message()))
}

fn currency(code: &str) -> anyhow::Result<CurrencyCode> {
    CurrencyCode::parse("seed", code).map_err(|e| anyhow::anyhow!(e.message()))
}

/// Day rates by currency: about 150–1,500 USD a day, in local units.
fn rate_scale(currency: &str) -> f64 {
    match currency {
        "JPY" => 150.0,
        "INR" => 80.0,
        "GBP" => 0.8,
        "AUD" | "CAD" => 1.4,
        _ => 1.0,
    }
}

// Long: one generated value per profile field, in the profile's order.
fn talent(rng: &mut StdRng, n: usize, now: DateTime<Utc>) -> anyhow::Result<TalentProfileChanges> {
    let (home, city, mother_tongue, money) = *pick(rng, PLACES);
    let name = Names::get().draw(rng);
    let mut languages = vec![LanguageSkill {
        language: language(mother_tongue)?,
        proficiency: Proficiency::Native,
    }];
    for _ in 0..rng.gen_range(0..3) {
        let code = *pick(rng, LANGUAGES);
        if languages.iter().all(|l| l.language.as_str() != code) {
            languages.push(LanguageSkill {
                language: language(code)?,
                proficiency: *pick(rng, &PROFICIENCIES[..3]),
            });
        }
    }
    let mut authorizations = vec![country(home)?];
    if rng.gen_bool(0.4) {
        let (other, ..) = *pick(rng, PLACES);
        if other != home {
            authorizations.push(country(other)?);
        }
    }
    let works: Vec<NotableWork> = (0..rng.gen_range(0..6))
        .map(|_| {
            let (role, genre) = words::role(rng);
            NotableWork {
                title: words::title(rng),
                year: Some(rng.gen_range(2005..=2026)),
                role: Some(format!("{role} in {genre}")),
                production_type: Some(*pick(rng, TYPES)),
            }
        })
        .collect();
    let awards: Vec<Award> = (0..rng.gen_range(0..4).min(rng.gen_range(0..4)))
        .map(|_| Award {
            name: pick(rng, AWARDS).to_string(),
            year: Some(rng.gen_range(2008..=2026)),
            won: rng.gen_bool(0.3),
        })
        .collect();
    let availability: Vec<AvailabilityWindow> = (0..rng.gen_range(0..4))
        .map(|_| {
            let from = now + Duration::days(rng.gen_range(0..240));
            AvailabilityWindow {
                from,
                to: from + Duration::days(rng.gen_range(7..90)),
            }
        })
        .collect();
    let age = rng.gen_range(18..70);
    let rate = (rng.gen_range(150.0..1500.0) * rate_scale(money)) as i32;
    Ok(TalentProfileChanges {
        user_id: UserId::generate(),
        stage_name: name.clone(),
        headline: Some(words::headline(rng, city)),
        bio: Some(words::bio(rng, &name, city)),
        city: Some(city.to_string()),
        country: Some(country(home)?),
        gender: Some(pick(rng, GENDERS).to_string()),
        playing_age_min: Some(age - rng.gen_range(0..6)),
        playing_age_max: Some(age + rng.gen_range(0..6)),
        height_cm: Some(rng.gen_range(150..200)),
        languages: serde_json::to_value(&languages)?,
        accents: (0..rng.gen_range(0..3))
            .map(|_| pick(rng, ACCENTS).to_string())
            .collect(),
        work_authorizations: authorizations,
        union_status: *pick(rng, UNIONS),
        notable_works: serde_json::to_value(&works)?,
        production_experience_years: rng.gen_range(0..30),
        awards: serde_json::to_value(&awards)?,
        dream_gigs: (0..rng.gen_range(0..3))
            .map(|_| pick(rng, DREAMS).to_string())
            .collect(),
        skills: {
            let n = rng.gen_range(0..5);
            words::skills(rng, n)
        },
        rate_min: Some(rate),
        rate_max: Some(rate + rate / rng.gen_range(3..8)),
        currency: currency(money)?,
        availability: serde_json::to_value(&availability)?,
        updated_at: now - Duration::minutes(i64::try_from(n % 100_000).unwrap_or(0)),
    })
}

/// An OPEN job's columns.
struct SeedJob {
    id: JobId,
    producer: UserId,
    title: String,
    description: String,
    project: String,
    kind: ProductionType,
    city: String,
    country: CountryCode,
    remote: bool,
    pay: (i32, i32),
    currency: CurrencyCode,
    requirements: serde_json::Value,
    shoot: (DateTime<Utc>, DateTime<Utc>),
    deadline: DateTime<Utc>,
}

fn job(rng: &mut StdRng, producer: UserId, now: DateTime<Utc>) -> anyhow::Result<SeedJob> {
    let (home, city, tongue, money) = *pick(rng, PLACES);
    let (role, genre) = words::role(rng);
    let kind = *pick(rng, TYPES);
    let project = words::title(rng);
    let low = (rng.gen_range(200.0..1200.0) * rate_scale(money)) as i32;
    let mut requirements = JobRequirements {
        languages: vec![LanguageSkill {
            language: language(if rng.gen_bool(0.7) { tongue } else { "en" })?,
            proficiency: *pick(rng, &PROFICIENCIES[1..]),
        }],
        work_authorizations: if rng.gen_bool(0.6) {
            vec![country(home)?]
        } else {
            vec![]
        },
        ..JobRequirements::default()
    };
    if rng.gen_bool(0.5) {
        requirements.gender = Some(pick(rng, GENDERS).to_string());
    }
    if rng.gen_bool(0.6) {
        let age = rng.gen_range(18..65);
        requirements.playing_age_min = Some(age);
        requirements.playing_age_max = Some(age + rng.gen_range(5..15));
    }
    if rng.gen_bool(0.3) {
        requirements.accents = vec![pick(rng, ACCENTS).to_string()];
    }
    if rng.gen_bool(0.4) {
        requirements.min_experience_years = Some(rng.gen_range(1..10));
    }
    let start = now + Duration::days(rng.gen_range(30..200));
    Ok(SeedJob {
        id: JobId(uuid::Uuid::now_v7()),
        producer,
        title: format!("{} in {genre}", words::capitalised(&role)),
        description: format!(
            "We are casting the {role} in \"{project}\", a {genre} shooting in {city}. \
             Strong screen presence and {} experience wanted.",
            kind.to_string().to_lowercase().replace('_', " ")
        ),
        project,
        kind,
        city: city.to_string(),
        country: country(home)?,
        remote: kind == ProductionType::Voice && rng.gen_bool(0.5),
        pay: (low, low + low / 2),
        currency: currency(money)?,
        requirements: serde_json::to_value(&requirements)?,
        shoot: (start, start + Duration::days(rng.gen_range(3..60))),
        deadline: now + Duration::days(rng.gen_range(7..60)),
    })
}

/// Makes `plan` in the database behind `conn`: producers first, then talents, then jobs, each
/// in batches of a thousand rows per statement.
// Long: the seeding script in order (producers, talents, jobs, each batched); one step per
// kind of row reads better than a split across helpers that share the same batch state.
pub async fn run(conn: &mut PgConn, password_hash: &str, plan: Plan) -> anyhow::Result<Seeded> {
    let started = std::time::Instant::now();
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let now = Utc::now();
    let batch_tag = uuid::Uuid::now_v7().simple().to_string();
    let tag = &batch_tag[batch_tag.len() - 8..];
    let producers = plan.producers.max(1);

    let mut producer_ids = Vec::with_capacity(producers);
    for chunk in (0..producers).collect::<Vec<_>>().chunks(BATCH) {
        let ids: Vec<UserId> = chunk.iter().map(|_| UserId::generate()).collect();
        let emails: Vec<String> = chunk
            .iter()
            .map(|n| format!("producer-{n}-{tag}@seed.castyou.test"))
            .collect();
        let names: Vec<String> = chunk.iter().map(|_| Names::get().draw(&mut rng)).collect();
        let profiles: Vec<ProducerProfileChanges> = ids
            .iter()
            .map(|id| ProducerProfileChanges {
                user_id: *id,
                company: format!("{} Pictures", words::title(&mut rng)),
                title: Some("Casting director".into()),
                bio: None,
                website: None,
                updated_at: now,
            })
            .collect();
        insert_users(conn, &ids, &emails, &names, Role::Producer, password_hash).await?;
        diesel::insert_into(producer_profiles::table)
            .values(&profiles)
            .execute(conn)
            .await
            .context("inserting producer profiles")?;
        producer_ids.extend(ids);
    }

    for start in (0..plan.talents).step_by(BATCH) {
        let end = (start + BATCH).min(plan.talents);
        let profiles: Vec<TalentProfileChanges> = (start..end)
            .map(|n| talent(&mut rng, n, now))
            .collect::<anyhow::Result<_>>()?;
        let ids: Vec<UserId> = profiles.iter().map(|p| p.user_id).collect();
        let emails: Vec<String> = (start..end)
            .map(|n| format!("talent-{n}-{tag}@seed.castyou.test"))
            .collect();
        let names: Vec<String> = profiles.iter().map(|p| p.stage_name.clone()).collect();
        conn.transaction::<_, anyhow::Error, _>(async |c| {
            insert_users(c, &ids, &emails, &names, Role::Talent, password_hash).await?;
            diesel::insert_into(talent_profiles::table)
                .values(&profiles)
                .execute(c)
                .await
                .context("inserting talent profiles")?;
            Ok(())
        })
        .await?;
    }

    for start in (0..plan.jobs).step_by(BATCH) {
        let end = (start + BATCH).min(plan.jobs);
        let rows: Vec<SeedJob> = (start..end)
            .map(|_| {
                let producer = *pick(&mut rng, &producer_ids);
                job(&mut rng, producer, now)
            })
            .collect::<anyhow::Result<_>>()?;
        let values: Vec<_> = rows
            .iter()
            .map(|j| {
                (
                    jobs::id.eq(j.id),
                    jobs::producer_id.eq(j.producer),
                    jobs::title.eq(&j.title),
                    jobs::description.eq(&j.description),
                    jobs::project_name.eq(Some(&j.project)),
                    jobs::production_type.eq(j.kind),
                    jobs::city.eq(Some(&j.city)),
                    jobs::country.eq(Some(&j.country)),
                    jobs::remote.eq(j.remote),
                    jobs::pay_min.eq(Some(j.pay.0)),
                    jobs::pay_max.eq(Some(j.pay.1)),
                    jobs::currency.eq(&j.currency),
                    jobs::requirements.eq(&j.requirements),
                    (
                        jobs::shoot_start.eq(Some(j.shoot.0)),
                        jobs::shoot_end.eq(Some(j.shoot.1)),
                        jobs::application_deadline.eq(j.deadline),
                        jobs::status.eq(JobStatus::Open),
                        jobs::published_at.eq(Some(now)),
                    ),
                )
            })
            .collect();
        diesel::insert_into(jobs::table)
            .values(&values)
            .execute(conn)
            .await
            .context("inserting jobs")?;
    }
    // Rows written in bulk carry no events: saved copies of the indexes are stale from here.
    crate::db::snapshots::record_bulk_load(conn)
        .await
        .context("recording the bulk load")?;
    Ok(Seeded {
        talents: plan.talents,
        jobs: plan.jobs,
        producers,
        took: started.elapsed(),
    })
}

async fn insert_users(
    conn: &mut PgConn,
    ids: &[UserId],
    emails: &[String],
    names: &[String],
    role: Role,
    password_hash: &str,
) -> anyhow::Result<()> {
    let rows: Vec<_> = ids
        .iter()
        .zip(emails)
        .zip(names)
        .map(|((id, email), name)| {
            (
                users::id.eq(*id),
                users::email.eq(email),
                users::role.eq(role),
                users::display_name.eq(name),
                users::password_hash.eq(Some(password_hash)),
                users::email_verified_at.eq(Some(Utc::now())),
            )
        })
        .collect();
    diesel::insert_into(users::table)
        .values(&rows)
        .execute(conn)
        .await
        .context("inserting users")?;
    Ok(())
}
