//! PHYSICAL_ATTRIBUTES: the job's stated gender, playing-age range and height range.

use super::{graded, int_range, join_and, matched, no_data, Out};
use crate::features::{JobFeatures, TalentFeatures};
use crate::{Context, Factor, FactorScore};

/// PHYSICAL_ATTRIBUTES: the job's stated gender, playing-age range and height range.
///
/// Each stated requirement is one part: gender equal (after folding and synonyms, see
/// [`crate::features`]); playing-age ranges overlapping (both ends included); height within the
/// range. A part whose talent value is missing is left out. Score = parts that hold / parts
/// checked: all MATCH, some PARTIAL, none NO_MATCH. Nothing stated → MATCH; stated but nothing
/// checkable → NO_DATA.
pub fn physical_attributes(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::PhysicalAttributes)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
    let gender = j
        .gender
        .as_deref()
        .map(|want| t.gender.as_deref().map(|have| have == want));
    let age = j
        .playing_age
        .map(|(lo, hi)| t.playing_age.map(|(a, b)| a <= hi && lo <= b));
    let height = j
        .height_cm
        .map(|(lo, hi)| t.height_cm.map(|h| lo <= h && h <= hi));
    let parts = [gender, age, height];
    let stated = parts.iter().flatten().count();
    if stated == 0 {
        return matched(explain, || {
            "The job states no physical requirements.".to_owned()
        });
    }
    let checked = parts.iter().flatten().flatten().count();
    let held = parts.iter().flatten().flatten().filter(|h| **h).count();
    if checked == 0 {
        return no_data(explain, || unchecked(j));
    }
    let score = held as f32 / checked as f32;
    graded(score, explain, || {
        format!(
            "{held} of {checked} stated {} {}: {}.",
            if checked == 1 {
                "requirement"
            } else {
                "requirements"
            },
            if held == 1 { "holds" } else { "hold" },
            clauses(t, j, age.flatten(), height.flatten())
        )
    })
}

/// One clause per stated requirement: what the talent has against it. `age_holds` and
/// `height_holds` say whether those parts held (None: not checked).
fn clauses(
    t: &TalentFeatures,
    j: &JobFeatures,
    age_holds: Option<bool>,
    height_holds: Option<bool>,
) -> String {
    let mut c: Vec<String> = Vec::new();
    if let Some(want) = j.gender.as_deref() {
        c.push(match t.gender.as_deref() {
            Some(have) if have == want => format!("gender {have} as asked"),
            Some(have) => format!("gender {have} where {want} is asked"),
            None => format!("gender not stated ({want} asked)"),
        });
    }
    if let Some(want) = j.playing_age {
        let want = int_range(want, "");
        c.push(match (t.playing_age, age_holds) {
            (Some(have), Some(true)) => {
                format!("playing age {} as asked ({want})", int_range(have, ""))
            }
            (Some(have), _) => {
                format!("playing age {} where {want} is asked", int_range(have, ""))
            }
            (None, _) => format!("playing age not stated ({want} asked)"),
        });
    }
    if let Some(want) = j.height_cm {
        let want = int_range(want, " cm");
        c.push(match (t.height_cm, height_holds) {
            (Some(h), Some(true)) => format!("height {h} cm as asked ({want})"),
            (Some(h), _) => format!("height {h} cm where {want} is asked"),
            (None, _) => format!("height not stated ({want} asked)"),
        });
    }
    join_and(&c)
}

/// The sentence when nothing stated could be checked: what the job asks for.
fn unchecked(j: &JobFeatures) -> String {
    let mut asked: Vec<String> = Vec::new();
    if let Some(want) = j.gender.as_deref() {
        asked.push(format!("gender {want}"));
    }
    if let Some(want) = j.playing_age {
        asked.push(format!("playing age {}", int_range(want, "")));
    }
    if let Some(want) = j.height_cm {
        asked.push(format!("height {}", int_range(want, " cm")));
    }
    format!(
        "The job asks for {}, but the profile states none of these.",
        join_and(&asked)
    )
}
