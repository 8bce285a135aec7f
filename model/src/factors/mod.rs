//! The nine factors, one module each, named after the factor. A module's `rule` computes the
//! score and verdict and, only when asked, the sentence, so [`crate::score_total`] and
//! [`crate::score`] share one rule; its public function of the same name scores one factor
//! with its sentence. What the rules share (verdict thresholds, phrasing, word overlap,
//! recency, semantic closeness) is here.

mod availability;
mod awards;
mod dream_gig;
mod languages;
mod notable_works;
mod physical_attributes;
mod production_experience;
mod salary_alignment;
mod work_authorization;

pub use self::{
    availability::availability, awards::awards, dream_gig::dream_gig, languages::languages,
    notable_works::notable_works, physical_attributes::physical_attributes,
    production_experience::production_experience, salary_alignment::salary_alignment,
    work_authorization::work_authorization,
};
pub use self::{
    awards::AWARDS_MATCH_AT, notable_works::WORKS_MATCH_AT, notable_works::WORKS_SEMANTIC_SHARE,
};

use crate::features::{Code, JobFeatures, TalentFeatures};
use crate::semantic::{self, Sketch};
use crate::text::{self, WordId};
use crate::{Context, Factor, FactorScore, Verdict};
use chrono::{Datelike, NaiveDate};

/// Score carried by a NO_DATA factor: the neutral midpoint. The total never reads it.
pub const NO_DATA_SCORE: f32 = 0.5;

/// At or above this score a factor is a MATCH (unless the factor states its own rule).
pub const MATCH_AT: f32 = 0.999;

/// Years back (from `today`'s year) within which a work or an award counts as recent.
pub const RECENT_YEARS: i32 = 5;

/// A factor's result before it becomes a [`FactorScore`].
pub(crate) struct Out {
    pub score: f32,
    pub verdict: Verdict,
    pub why: Option<String>,
}

impl Out {
    pub(crate) fn into_factor(self, factor: Factor) -> FactorScore {
        FactorScore {
            factor,
            score: self.score,
            verdict: self.verdict,
            explanation: self.why.unwrap_or_default(),
        }
    }
}

fn out(score: f32, verdict: Verdict, explain: bool, why: impl FnOnce() -> String) -> Out {
    Out {
        score: score.clamp(0.0, 1.0),
        verdict,
        why: explain.then(why),
    }
}

/// MATCH at ≥ `match_at`, NO_MATCH at 0, PARTIAL between.
fn verdict_at(score: f32, match_at: f32) -> Verdict {
    if score >= match_at {
        Verdict::Match
    } else if score <= 0.0 {
        Verdict::NoMatch
    } else {
        Verdict::Partial
    }
}

fn graded(score: f32, explain: bool, why: impl FnOnce() -> String) -> Out {
    out(score, verdict_at(score, MATCH_AT), explain, why)
}

fn matched(explain: bool, why: impl FnOnce() -> String) -> Out {
    out(1.0, Verdict::Match, explain, why)
}

fn no_data(explain: bool, why: impl FnOnce() -> String) -> Out {
    out(NO_DATA_SCORE, Verdict::NoData, explain, why)
}

/// Upper-cases the first letter: the clauses below are joined, then made a sentence.
fn sentence(mut s: String) -> String {
    if let Some(first) = s.chars().next() {
        let upper: String = first.to_uppercase().collect();
        s.replace_range(..first.len_utf8(), &upper);
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn amount(x: f64) -> String {
    format!("{:.0}", x.max(0.0))
}

fn money_range(min: f64, max: f64, currency: Code) -> String {
    if amount(min) == amount(max) {
        format!("{} {currency}", amount(min))
    } else {
        format!("{}–{} {currency}", amount(min), amount(max))
    }
}

fn int_range((min, max): (i32, i32), unit: &str) -> String {
    match (min, max) {
        (i32::MIN, i32::MAX) => "any".to_owned(),
        (min, i32::MAX) => format!("at least {min}{unit}"),
        (i32::MIN, max) => format!("at most {max}{unit}"),
        (min, max) if min == max => format!("{min}{unit}"),
        (min, max) => format!("{min}–{max}{unit}"),
    }
}

fn codes(list: impl IntoIterator<Item = Code>) -> String {
    let items: Vec<String> = list.into_iter().map(|c| c.to_string()).collect();
    join_and(&items)
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// |A ∩ B| / |A|: the share of `a`'s words that `b` holds; 0 for an empty `a`.
fn coverage(a: &[WordId], b: &[WordId]) -> f32 {
    if a.is_empty() {
        0.0
    } else {
        text::shared_count(a, b) as f32 / a.len() as f32
    }
}

/// The job's written forms of `shared` word ids, in the order `written` (the talent's text)
/// uses them; ids not found in `written` follow in id order.
fn shared_words(written: &str, shared: &[WordId], j: &JobFeatures) -> Vec<String> {
    let mut order: Vec<WordId> = Vec::with_capacity(shared.len());
    text::for_each_word(written, |id, _| {
        if shared.contains(&id) && !order.contains(&id) {
            order.push(id);
        }
    });
    for id in shared {
        if !order.contains(id) {
            order.push(*id);
        }
    }
    order.iter().map(|id| j.surface(*id).to_owned()).collect()
}

fn is_recent(year: Option<i32>, today: NaiveDate) -> bool {
    year.is_some_and(|y| y >= today.year() - RECENT_YEARS)
}

/// How much an old (or undated) work or award counts against a recent one.
const OLD_FACTOR: f32 = 0.5;
/// The estimated similarity of two embeddings, when both exist and compare.
fn similarity(a: &Option<Sketch>, b: &Option<Sketch>) -> Option<f32> {
    a.as_ref()?.similarity(b.as_ref()?)
}

/// The clause a sentence ends with when embeddings were compared.
fn semantic_clause(what: &str, similarity: f32) -> String {
    let close = semantic::closeness(similarity);
    let how = if close >= 1.0 {
        "semantically close to"
    } else if close > 0.0 {
        "semantically related to"
    } else {
        "not semantically close to"
    };
    format!(" {what} {how} the job's text (similarity {similarity:.2}).")
}

/// Runs one factor.
pub(crate) fn run(
    factor: Factor,
    t: &TalentFeatures,
    j: &JobFeatures,
    ctx: &Context,
    explain: bool,
) -> Out {
    match factor {
        Factor::SalaryAlignment => salary_alignment::rule(t, j, ctx, explain),
        Factor::WorkAuthorization => work_authorization::rule(t, j, ctx, explain),
        Factor::PhysicalAttributes => physical_attributes::rule(t, j, ctx, explain),
        Factor::NotableWorks => notable_works::rule(t, j, ctx, explain),
        Factor::ProductionExperience => production_experience::rule(t, j, ctx, explain),
        Factor::Awards => awards::rule(t, j, ctx, explain),
        Factor::DreamGig => dream_gig::rule(t, j, ctx, explain),
        Factor::Languages => languages::rule(t, j, ctx, explain),
        Factor::Availability => availability::rule(t, j, ctx, explain),
    }
}
