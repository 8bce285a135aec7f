//! AVAILABILITY: the share of the job's shoot days the talent is available.

use super::{graded, matched, no_data, plural, Out};
use crate::features::{JobFeatures, TalentFeatures};
use crate::{Context, Factor, FactorScore};

/// AVAILABILITY: how much of the shoot the talent is available for.
///
/// Score = days of the shoot period [shoot_start, shoot_end] (both included; one date alone is
/// a one-day shoot) covered by the talent's merged windows / days of the period: all MATCH,
/// none NO_MATCH, some PARTIAL. No shoot dates → MATCH; no windows → NO_DATA.
pub fn availability(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::Availability)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
    let Some((start, end)) = j.shoot else {
        return matched(explain, || "The job states no shoot dates.".to_owned());
    };
    if t.availability.is_empty() {
        return no_data(explain, || {
            format!(
                "The profile lists no availability windows for the shoot from {start} to {end}."
            )
        });
    }
    let total = (end - start).num_days() + 1;
    let covered: i64 = t
        .availability
        .iter()
        .map(|(from, to)| {
            let lo = (*from).max(start);
            let hi = (*to).min(end);
            ((hi - lo).num_days() + 1).max(0)
        })
        .sum();
    let score = covered as f32 / total as f32;
    graded(score, explain, || {
        let days = plural(total.max(0) as usize, "shoot day", "shoot days");
        if total == 1 {
            let yes = if covered >= 1 {
                "Available"
            } else {
                "Not available"
            };
            format!("{yes} on the one shoot day ({start}).")
        } else if covered >= total {
            format!("Available for all {days} ({start} to {end}).")
        } else if covered == 0 {
            format!("Available on none of the {days} ({start} to {end}).")
        } else {
            format!("Available {covered} of the {days} ({start} to {end}).")
        }
    })
}
