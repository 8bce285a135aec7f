//! WORK_AUTHORIZATION: whether the talent may work where the job is.

use super::{codes, graded, matched, no_data, Out};
use crate::features::{Code, JobFeatures, TalentFeatures};
use crate::{Context, Factor, FactorScore};

/// WORK_AUTHORIZATION: whether the talent may work where the job is.
///
/// * a remote job → 1.0 MATCH (no authorization needed);
/// * needed countries = the job's required authorizations, or else its location country;
///   none of either → 1.0 MATCH (nothing is required);
/// * held countries = the talent's authorizations plus its own location country; none → NO_DATA;
/// * score = share of needed countries held: all MATCH, some PARTIAL, none NO_MATCH.
pub fn work_authorization(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::WorkAuthorization)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
    if j.remote {
        return matched(explain, || {
            "Remote job: no work authorization is needed.".to_owned()
        });
    }
    let from_location = j.work_authorizations.is_empty();
    let needed: &[Code] = match (&*j.work_authorizations, &j.country) {
        ([], Some(country)) => std::slice::from_ref(country),
        ([], None) => {
            return matched(explain, || {
                "The job names no country or work authorization, so none is needed.".to_owned()
            })
        }
        (list, _) => list,
    };
    let holds = |c: &Code| t.country == Some(*c) || t.work_authorizations.binary_search(c).is_ok();
    if t.work_authorizations.is_empty() && t.country.is_none() {
        return no_data(explain, || {
            format!(
                "The job needs authorization to work in {}, but the profile lists no work \
                 authorization or location.",
                codes(needed.iter().copied())
            )
        });
    }
    let held = needed.iter().filter(|c| holds(c)).count();
    let score = held as f32 / needed.len() as f32;
    graded(score, explain, || {
        let required = if from_location {
            format!("the job is in {}", codes(needed.iter().copied()))
        } else {
            format!("the job requires {}", codes(needed.iter().copied()))
        };
        let yes = codes(needed.iter().copied().filter(|c| holds(c)));
        let no = codes(needed.iter().copied().filter(|c| !holds(c)));
        let mut listed: Vec<Code> = t.work_authorizations.to_vec();
        if let Some(c) = t.country {
            if !listed.contains(&c) {
                listed.push(c);
            }
        }
        if held == needed.len() {
            format!("Authorized to work in {yes}, as {required}.")
        } else if held == 0 {
            format!(
                "Not authorized to work in {no} ({required}; the profile lists {}).",
                codes(listed)
            )
        } else {
            format!("Authorized to work in {yes} but not in {no} ({required}).")
        }
    })
}
