//! NOTABLE_WORKS: how relevant the talent's notable works are to this job.

use super::{
    coverage, is_recent, join_and, no_data, out, plural, semantic_clause, shared_words, similarity,
    verdict_at, Out, OLD_FACTOR,
};
use crate::features::{JobFeatures, TalentFeatures};
use crate::{semantic, text, Context, Factor, FactorScore};
use std::fmt::Write as _;

/// Weight of production type in a work's relevance (the rest is word overlap).
const WORK_TYPE_SHARE: f32 = 0.7;
/// NOTABLE_WORKS is a MATCH from here (about two recent works of the job's type).
pub const WORKS_MATCH_AT: f32 = 0.9;
/// How much semantic closeness of the works to the job counts (like one recent work of the
/// job's type).
pub const WORKS_SEMANTIC_SHARE: f32 = 0.7;

/// NOTABLE_WORKS: how relevant the talent's notable works are to this job.
///
/// Each work's relevance r = recency × (0.7 × [same production type as the job] + 0.3 × share
/// of the work's title and role words found in the job's title, project name and description),
/// with recency 1 for a work from the last [`RECENT_YEARS`] years (or a future one) and 0.5 for
/// older or undated ones. The works combine like independent chances:
/// score = 1 − Π(1 − rᵢ), so more relevant works raise the score and unrelated ones never lower
/// it. Where both the works and the job have embeddings (see [`crate::semantic`]) their
/// similarity is one more chance: score = 1 − (1 − word score) × (1 − 0.7 × closeness), the
/// closeness being 0 up to a similarity of 0.25 and 1 from 0.65 ([`semantic::closeness`]), so
/// works about the same kind of story count like a recent work of the job's type even when no
/// word is shared. MATCH from 0.9, NO_MATCH at 0 (no work of the type, no shared word, not
/// semantically close), PARTIAL between; no works → NO_DATA.
pub fn notable_works(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::NotableWorks)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, ctx: &Context, explain: bool) -> Out {
    if t.works.is_empty() {
        return no_data(explain, || "The profile lists no notable works.".to_owned());
    }
    let mut miss = 1.0f32;
    let mut best = (0.0f32, 0usize);
    for (i, (meta, words)) in t.works.iter().zip(t.work_words.iter()).enumerate() {
        let same_type = meta.production_type == Some(j.production_type);
        let relevance = WORK_TYPE_SHARE * f32::from(u8::from(same_type))
            + (1.0 - WORK_TYPE_SHARE) * coverage(words, &j.text_words);
        let recency = if is_recent(meta.year, ctx.today) {
            1.0
        } else {
            OLD_FACTOR
        };
        let r = relevance * recency;
        miss *= 1.0 - r;
        if r > best.0 {
            best = (r, i);
        }
    }
    let sim = similarity(&t.works_sketch, &j.sketch);
    if let Some(sim) = sim {
        miss *= 1.0 - WORKS_SEMANTIC_SHARE * semantic::closeness(sim);
    }
    let score = 1.0 - miss;
    out(score, verdict_at(score, WORKS_MATCH_AT), explain, || {
        let mut s = works_sentence(t, j, best);
        if let Some(sim) = sim {
            let what = if t.works.len() == 1 {
                "It is"
            } else {
                "Together they are"
            };
            s.push_str(&semantic_clause(what, sim));
        }
        s
    })
}

fn works_sentence(t: &TalentFeatures, j: &JobFeatures, best: (f32, usize)) -> String {
    {
        let n = t.works.len();
        let of_type = t
            .works
            .iter()
            .filter(|w| w.production_type == Some(j.production_type))
            .count();
        if best.0 <= 0.0 {
            let which = if n == 1 {
                "The one notable work is not".to_owned()
            } else {
                format!("None of the {n} notable works is")
            };
            return format!(
                "{which} {} and shares no word with the job.",
                j.production_type
            );
        }
        let (_, i) = best;
        let meta = t.works[i];
        let words = t.work_words.get(i);
        let shared = text::shared_ids(words, &j.text_words);
        let mut detail = Vec::new();
        if let Some(y) = meta.year {
            detail.push(y.to_string());
        }
        if let Some(p) = meta.production_type {
            detail.push(p.to_string());
        }
        let mut s = format!(
            "{} of {} {} {}; the most relevant is '{}'",
            of_type,
            plural(n, "notable work", "notable works"),
            if of_type == 1 { "is" } else { "are" },
            j.production_type,
            t.work_titles.get(i)
        );
        if !detail.is_empty() {
            let _ = write!(s, " ({})", detail.join(", "));
        }
        if !shared.is_empty() {
            let names = shared_words(t.work_titles.get(i), &shared, j);
            let _ = write!(s, ", sharing {} with the job", join_and(&names));
        }
        s.push('.');
        s
    }
}
