//! AWARDS: the talent's wins and nominations, recent ones counting more.

use super::{
    is_recent, join_and, no_data, out, plural, sentence, verdict_at, Out, OLD_FACTOR, RECENT_YEARS,
};
use crate::features::{JobFeatures, TalentFeatures};
use crate::{Context, Factor, FactorScore};
use std::fmt::Write as _;

/// Points of a win and of a nomination.
const WIN_POINTS: f32 = 1.0;
const NOMINATION_POINTS: f32 = 0.35;
/// AWARDS is a MATCH from here: about one recent win (1 − e⁻¹ ≈ 0.63).
pub const AWARDS_MATCH_AT: f32 = 0.6;

/// AWARDS: recognition, saturating.
///
/// points = Σ (1 per win, 0.35 per nomination) × (1 when from the last [`RECENT_YEARS`]
/// years, 0.5 when older or undated); score = 1 − e^(−points). MATCH from 0.6 (one recent win
/// gives 0.63), PARTIAL below. No awards → NO_DATA: most talents have none, and that must not
/// count against them.
pub fn awards(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::Awards)
}

pub(super) fn rule(t: &TalentFeatures, _j: &JobFeatures, ctx: &Context, explain: bool) -> Out {
    if t.awards.is_empty() {
        return no_data(explain, || "The profile lists no awards.".to_owned());
    }
    let points: f32 = t
        .awards
        .iter()
        .map(|a| {
            let base = if a.won { WIN_POINTS } else { NOMINATION_POINTS };
            base * if is_recent(a.year, ctx.today) {
                1.0
            } else {
                OLD_FACTOR
            }
        })
        .sum();
    let score = 1.0 - (-points).exp();
    out(score, verdict_at(score, AWARDS_MATCH_AT), explain, || {
        let wins = t.awards.iter().filter(|a| a.won).count();
        let noms = t.awards.len() - wins;
        let recent = t
            .awards
            .iter()
            .filter(|a| is_recent(a.year, ctx.today))
            .count();
        let mut parts = Vec::new();
        if wins > 0 {
            parts.push(plural(wins, "win", "wins"));
        }
        if noms > 0 {
            parts.push(plural(noms, "nomination", "nominations"));
        }
        let mut s = join_and(&parts);
        match t.awards.iter().filter_map(|a| a.year).max() {
            Some(latest) => {
                let _ = write!(
                    s,
                    ", the latest in {latest} ({recent} in the last {RECENT_YEARS} years)"
                );
            }
            None => s.push_str(", none dated"),
        }
        sentence(s)
    })
}
