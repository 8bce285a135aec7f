//! DREAM_GIG: how close the job comes to the gigs the talent dreams of.

use super::{
    coverage, graded, join_and, no_data, plural, semantic_clause, shared_words, similarity, Out,
};
use crate::features::{JobFeatures, TalentFeatures};
use crate::{semantic, text, Context, Factor, FactorScore};

/// DREAM_GIG: whether this job is one the talent dreams of.
///
/// For each dream gig: the share of its words (normalised and stemmed) found in the job's
/// title, project name, description and the words naming its production type (a THEATRE job
/// adds "theatre" and "stage"); score = the best gig's share. MATCH at 1, NO_MATCH at 0, PARTIAL
/// between; no dream gigs (or none with a meaningful word) → NO_DATA. Where both the dream
/// gigs and the job have embeddings, score = max(best share, closeness of the two
/// ([`semantic::closeness`])): a job that is the dream in other words still counts.
pub fn dream_gig(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::DreamGig)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
    if t.dream_words.is_empty() {
        return no_data(explain, || "The profile lists no dream gigs.".to_owned());
    }
    let mut best = (0.0f32, 0usize);
    for (i, gig) in t.dream_words.iter().enumerate() {
        let share = coverage(gig, &j.dream_words);
        if share > best.0 {
            best = (share, i);
        }
    }
    let sim = similarity(&t.dreams_sketch, &j.sketch);
    let score = best.0.max(sim.map_or(0.0, semantic::closeness));
    graded(score, explain, || {
        let mut s = if best.0 <= 0.0 {
            let which = match t.dream_words.len() {
                1 => "The dream gig shares".to_owned(),
                n => format!("None of the {n} dream gigs shares"),
            };
            format!("{which} no word with the job or its production type.")
        } else {
            let gig = t.dream_words.get(best.1);
            let shared = text::shared_ids(gig, &j.dream_words);
            let names = shared_words(t.dream_texts.get(best.1), &shared, j);
            format!(
                "Dream gig '{}' shares {} of its {} with the job ({}).",
                t.dream_texts.get(best.1),
                shared.len(),
                plural(gig.len(), "word", "words"),
                join_and(&names)
            )
        };
        if let Some(sim) = sim {
            let what = if t.dream_words.len() == 1 {
                "The dream gig is"
            } else {
                "The dream gigs are"
            };
            s.push_str(&semantic_clause(what, sim));
        }
        s
    })
}
