//! PRODUCTION_EXPERIENCE: years in the trade and work in the job's production type.

use super::{graded, matched, no_data, plural, sentence, Out};
use crate::features::{JobFeatures, TalentFeatures};
use crate::{Context, Factor, FactorScore};

/// Weight of the years part when both parts of PRODUCTION_EXPERIENCE are known.
const YEARS_SHARE: f32 = 0.7;
/// Works of the job's type that make the type part full.
const TYPE_WORKS_FOR_FULL: f32 = 2.0;

/// PRODUCTION_EXPERIENCE: years of experience against the job's minimum, and experience in the
/// job's production type.
///
/// * years part (when the job states a minimum > 0): min(1, years / minimum); unknown years →
///   left out;
/// * type part (when the job's type is not OTHER): min(1, works of that type / 2), counted over
///   the notable works that state a type; no typed works → left out;
/// * both parts → 0.7 × years + 0.3 × type; one part → that part; the job states neither →
///   MATCH (nothing to check); the profile has data for neither → NO_DATA;
/// * verdict: MATCH at 1, NO_MATCH at 0, PARTIAL between.
pub fn production_experience(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::ProductionExperience)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
    let ptype = j.production_type;
    let check_type = ptype != crate::ProductionType::Other;
    if j.min_experience_years.is_none() && !check_type {
        return matched(explain, || {
            "The job states no minimum experience and no production type to check.".to_owned()
        });
    }
    let years = j.min_experience_years.and_then(|min| {
        t.experience_years
            .map(|y| (y.max(0) as f32 / min as f32).min(1.0))
    });
    let typed = t
        .works
        .iter()
        .filter(|w| w.production_type.is_some())
        .count();
    let of_type = t
        .works
        .iter()
        .filter(|w| w.production_type == Some(ptype))
        .count();
    let kind = (check_type && typed > 0).then(|| (of_type as f32 / TYPE_WORKS_FOR_FULL).min(1.0));
    let clauses = || {
        let mut c = Vec::new();
        if let Some(min) = j.min_experience_years {
            c.push(match t.experience_years {
                Some(y) if y >= min => format!(
                    "{} of experience meets the {min}-year minimum",
                    plural(y.max(0) as usize, "year", "years")
                ),
                Some(y) => format!(
                    "{} of experience is below the {min}-year minimum",
                    plural(y.max(0) as usize, "year", "years")
                ),
                None => format!("years of experience not stated ({min} required)"),
            });
        }
        if check_type {
            c.push(match (typed, of_type) {
                (0, _) if t.works.is_empty() => {
                    format!("no notable works listed ({ptype} wanted)")
                }
                (0, _) => format!("no notable work states its production type ({ptype} wanted)"),
                (_, 0) => format!(
                    "none of the {} is {ptype}",
                    plural(typed, "typed notable work", "typed notable works")
                ),
                (_, 1) => format!("1 notable work is {ptype}"),
                (_, n) => format!("{n} notable works are {ptype}"),
            });
        }
        c.join("; ")
    };
    let score = match (years, kind) {
        (Some(y), Some(k)) => YEARS_SHARE * y + (1.0 - YEARS_SHARE) * k,
        (Some(y), None) => y,
        (None, Some(k)) => k,
        (None, None) => return no_data(explain, || sentence(clauses())),
    };
    graded(score, explain, || sentence(clauses()))
}
