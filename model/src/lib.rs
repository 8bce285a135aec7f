//! # castyou-model: the 9-factor talent ↔ job matching model
//!
//! A pure library: no I/O, no clock, no server types. The server converts a talent profile and
//! a job into this crate's plain inputs ([`TalentInput`], [`JobInput`]), pre-processes them
//! once into [`TalentFeatures`] and [`JobFeatures`], and scores pairs:
//!
//! ```
//! use castyou_model::*;
//! use chrono::NaiveDate;
//!
//! let talent = TalentFeatures::new(&TalentInput {
//!     rate_min: Some(400),
//!     rate_max: Some(600),
//!     currency: Some("EUR".into()),
//!     dream_gigs: vec!["Lead in a West End theatre musical".into()],
//!     ..TalentInput::default()
//! });
//! let job = JobFeatures::new(&JobInput {
//!     title: "Lead, new musical".into(),
//!     description: "West End theater run".into(),
//!     production_type: ProductionType::Theatre,
//!     pay_min: Some(500),
//!     pay_max: Some(700),
//!     currency: Some("USD".into()),
//!     ..JobInput::default()
//! });
//! let rates = ExchangeRates::new("USD", [("EUR", 1.08)]);
//! let ctx = Context { rates: &rates, today: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap() };
//!
//! let scored = score(&talent, &job, &Weights::default(), &ctx);
//! assert_eq!(scored.factor(Factor::SalaryAlignment).verdict, Verdict::Match);
//! assert_eq!(scored.factor(Factor::SalaryAlignment).explanation,
//!            "Day rate 400–600 EUR (about 432–648 USD) overlaps the 500–700 USD offered.");
//! assert_eq!(scored.factor(Factor::DreamGig).verdict, Verdict::Match);
//! // The hot path: the same total, no sentences built.
//! assert!((score_total(&talent, &job, &Weights::default(), &ctx) - scored.total).abs() < 1e-4);
//! ```
//!
//! ## The factors
//!
//! Every factor gives a score in 0..=1, a [`Verdict`] and one plain English sentence naming the
//! values compared or what is missing. Unless a factor says otherwise the verdict is MATCH at
//! ≥ 0.999, NO_MATCH at 0 and PARTIAL between. Two rules hold throughout: **a requirement the
//! job does not state is never held against anyone** (the factor is a MATCH, or that part is
//! skipped), and **missing talent data is NO_DATA, never a disguised zero**.
//!
//! | Factor | Default weight | Rule |
//! |---|---|---|
//! | [`SALARY_ALIGNMENT`](salary_alignment) | 0.15 | Day rate vs pay range in the job's currency: overlap or below the pay → 1; above by `gap` → `max(0, 1 − gap / pay_max)`; no pay, no rate or no exchange rate → NO_DATA. |
//! | [`WORK_AUTHORIZATION`](work_authorization) | 0.15 | Remote → MATCH; else share of the required countries (or the job's country) among the talent's authorizations plus its own country; nothing required → MATCH; talent lists none → NO_DATA. |
//! | [`PHYSICAL_ATTRIBUTES`](physical_attributes) | 0.15 | Share of the stated requirements (gender, playing-age overlap, height in range) that hold; a part with no talent value is skipped; none stated → MATCH. |
//! | [`NOTABLE_WORKS`](notable_works) | 0.10 | Per work `r = recency × (0.7 × same type + 0.3 × word share)`, recency 1 within 5 years else 0.5; score `1 − Π(1 − r)`, with embeddings `× (1 − 0.7 × closeness)` inside; MATCH from 0.9; no works → NO_DATA. |
//! | [`PRODUCTION_EXPERIENCE`](production_experience) | 0.10 | `min(1, years / minimum)` and `min(1, works of the job's type / 2)`, mixed 0.7 / 0.3 when both known; nothing to check → MATCH. |
//! | [`AWARDS`](awards()) | 0.05 | `1 − e^(−points)`, a win 1 point, a nomination 0.35, halved when older than 5 years; MATCH from 0.6; no awards → NO_DATA (not a penalty). |
//! | [`DREAM_GIG`](dream_gig) | 0.05 | Best dream gig's share of words found in the job's text and production-type words, or the gigs' semantic closeness to the job if higher; none → NO_DATA. |
//! | [`LANGUAGES`](languages()) | 0.15 | Share of required languages at their minimum (below it counts ½) and required accents held; none required → MATCH. |
//! | [`AVAILABILITY`](availability()) | 0.10 | Share of the shoot days covered by the talent's merged windows; no shoot dates → MATCH; no windows → NO_DATA. |
//!
//! Each function's doc gives the exact rule; [`Weights`] holds the defaults.
//!
//! ## The total
//!
//! `total = 100 × Σ wᵢ·sᵢ / Σ wᵢ`, both sums over the factors whose verdict is **not**
//! NO_DATA: a factor without data is left out and the remaining weights re-normalised, so it
//! neither helps nor hurts. If every factor is NO_DATA (or every factor with data weighs 0) the
//! total is 50. A NO_DATA factor carries the score 0.5 for display; the total never reads it.
//! [`score`] returns the total and the nine [`FactorScore`]s with their sentences;
//! [`score_total`] computes the identical total without building any string and skips factors
//! weighted 0: use it to rank, and [`score`] for the page shown.
//!
//! Because missing data is neutral, a sparse profile whose few facts all match can rank above a
//! complete profile with one weak factor; show how many factors had data
//! ([`Scored::factors_with_data`]) next to the total if that matters to a producer.
//!
//! ## Decisions worth knowing
//!
//! * A day rate wholly **below** the pay is a MATCH: the pay covers it.
//! * A job that is remote, or names no country and no authorization, needs no authorization
//!   (MATCH); NO_DATA is kept for a job that needs one and a profile that lists none.
//! * A talent without awards, notable works, dream gigs or availability windows gets NO_DATA
//!   there, not a zero.
//! * Ranges a job states with one bound are open (`height_min_cm` alone = "at least"); a
//!   talent's or a pay range with one bound is a single value.
//!
//! ## Text
//!
//! Free text (job title, project name, description; work titles and roles; dream gigs;
//! accents) is normalised once when features are built: NFKD with marks removed, lower-cased,
//! split on non-alphanumerics, English stop-words dropped, British -tre/-re/-our spellings
//! mapped to American (`theatre` → `theater`), Snowball English stemming, and each stem hashed
//! to a `u32` (see [`text`]). Word overlap at scoring time is a merge of two sorted `u32`
//! slices, so "Theatre" in a dream gig matches "theater" in a job description.
//!
//! ## Cost
//!
//! [`score_total`] allocates nothing (a test counts allocations). A [`TalentFeatures`] is
//! 304 bytes inline; the typical profile of the `typical_profile_fits_in_a_kibibyte` test
//! (3 languages, 2 accents, 2 authorizations, 5 notable works with roles, 3 awards, 2 dream
//! gigs, 3 availability windows) owns 512 bytes more on the heap (each allocation rounded up
//! to 16 bytes), **816 bytes per talent**, so 100,000 such talents take about 78 MiB (with
//! embeddings of works and dream gigs, 128 bytes more: 944 bytes, 90 MiB);
//! [`TalentFeatures::memory_bytes`] measures one. Building features costs about 9 µs per
//! profile (tokenising and stemming); do it when a profile changes, not per request.
//!
//! `cargo run --release -p castyou-model --example rank_bench` ranks 100,000 generated
//! talents (541 bytes each on average) against one job: `score_total` for all of them plus the
//! sort took about 35 ms on one core of a 2-core machine, and [`score`] for a page of 20 about
//! 0.25 ms.
//!
//! ## Embeddings
//!
//! Where the server has embeddings (an embeddings endpoint is configured), the talent's notable
//! works and dream gigs and the job's text each carry one ([`TalentInput::works_vector`],
//! [`TalentInput::dreams_vector`], [`JobInput::vector`]). Features keep a 1-bit-per-dimension
//! sketch of each ([`semantic::Sketch`], 64 bytes at 512 dimensions), and NOTABLE_WORKS and
//! DREAM_GIG add the estimated similarity (graded by [`semantic::closeness`]) to their word
//! overlap; their sentences then give the similarity. Without embeddings the word-overlap rules
//! stand alone, exactly as before.
//!
//! ## Inputs the factors do not read
//!
//! Union status, skills, the application deadline, bio and headline are not part of the nine
//! factors, so the inputs leave them out.

pub mod factors;
pub mod features;
pub mod rates;
pub mod semantic;
pub mod text;
pub mod weights;

/// The version of the scoring rules, logged with every page a producer is shown: change it
/// whenever a factor's rule, a default weight or the total's formula changes.
pub const ENGINE_VERSION: &str = "castyou-9f/2";

pub use factors::{
    availability, awards, dream_gig, languages, notable_works, physical_attributes,
    production_experience, salary_alignment, work_authorization,
};
pub use features::{
    AvailabilityWindow, Award, Code, JobFeatures, JobInput, JobRequirements, LanguageSkill,
    NotableWork, ProductionType, Proficiency, TalentFeatures, TalentInput,
};
pub use rates::ExchangeRates;
pub use weights::{WeightError, Weights};

use serde::{Deserialize, Serialize};

// The factors and verdicts are shared vocabulary: events and the server name them too.
pub use castyou_vocab::{Factor, Verdict};

/// One factor's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorScore {
    pub factor: Factor,
    /// 0..=1; 0.5 for NO_DATA (not read by the total).
    pub score: f32,
    pub verdict: Verdict,
    /// One plain English sentence.
    pub explanation: String,
}

/// A talent scored against a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// 0..=100 (see the crate doc).
    pub total: f32,
    /// In [`Factor::ALL`] order.
    pub factors: [FactorScore; 9],
}

impl Scored {
    pub fn factor(&self, factor: Factor) -> &FactorScore {
        &self.factors[factor.index()]
    }

    /// How many of the nine factors had data (verdict other than NO_DATA).
    pub fn factors_with_data(&self) -> usize {
        self.factors
            .iter()
            .filter(|f| f.verdict != Verdict::NoData)
            .count()
    }
}

/// What scoring needs besides the pair: exchange rates and the date that "recent" counts from.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub rates: &'a ExchangeRates,
    pub today: chrono::NaiveDate,
}

/// Running sums of the total: Σ w·s and Σ w over the factors with data.
#[derive(Default)]
struct Total {
    weighted: f32,
    weight: f32,
}

impl Total {
    fn add(&mut self, weight: f32, score: f32, verdict: Verdict) {
        if verdict != Verdict::NoData {
            self.weighted += weight * score;
            self.weight += weight;
        }
    }

    fn finish(self) -> f32 {
        if self.weight > 0.0 {
            (100.0 * self.weighted / self.weight).clamp(0.0, 100.0)
        } else {
            50.0
        }
    }
}

/// One factor with its sentence.
pub fn score_factor(
    factor: Factor,
    talent: &TalentFeatures,
    job: &JobFeatures,
    ctx: &Context,
) -> FactorScore {
    factors::run(factor, talent, job, ctx, true).into_factor(factor)
}

/// All nine factors with their sentences, and the total.
pub fn score(
    talent: &TalentFeatures,
    job: &JobFeatures,
    weights: &Weights,
    ctx: &Context,
) -> Scored {
    let factors = Factor::ALL.map(|f| score_factor(f, talent, job, ctx));
    let mut total = Total::default();
    for (fs, (_, w)) in factors.iter().zip(weights.iter()) {
        total.add(w, fs.score, fs.verdict);
    }
    Scored {
        total: total.finish(),
        factors,
    }
}

/// The same total as [`score`], without building sentences and skipping factors weighted 0.
pub fn score_total(
    talent: &TalentFeatures,
    job: &JobFeatures,
    weights: &Weights,
    ctx: &Context,
) -> f32 {
    let mut total = Total::default();
    for (factor, w) in weights.iter() {
        if w > 0.0 {
            let out = factors::run(factor, talent, job, ctx, false);
            total.add(w, out.score, out.verdict);
        }
    }
    total.finish()
}

#[cfg(test)]
mod tests;
