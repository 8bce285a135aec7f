//! LANGUAGES: the job's languages and the talent's proficiency in them.

use super::{join_and, matched, no_data, out, plural, Out};
use crate::features::{Code, JobFeatures, Proficiency, TalentFeatures};
use crate::{Context, Factor, FactorScore, Verdict};

/// LANGUAGES: the job's required languages (each at a minimum proficiency) and accents.
///
/// Each requirement is one part: a language spoken at or above the minimum counts 1, below it
/// ½, not spoken 0; a required accent the talent lists counts 1 (accents compare after
/// normalisation, order-free, the word "accent" ignored). When the profile lists no languages
/// the language parts are left out, likewise accents. Score = points / parts checked: all met
/// MATCH, 0 NO_MATCH, else PARTIAL; no requirement → MATCH; nothing checkable → NO_DATA.
pub fn languages(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    rule(t, j, ctx, true).into_factor(Factor::Languages)
}

pub(super) fn rule(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
    if j.languages.is_empty() && j.accents.is_empty() {
        return matched(explain, || {
            "The job states no language requirements.".to_owned()
        });
    }
    let check_langs = !t.languages.is_empty() && !j.languages.is_empty();
    let check_accents = !t.accents.is_empty() && !j.accents.is_empty();
    let mut points = 0.0f32;
    let mut checked = 0usize;
    if check_langs {
        for (code, min) in j.languages.iter() {
            checked += 1;
            points += match spoken(t, *code) {
                Some(p) if p >= *min => 1.0,
                Some(_) => 0.5,
                None => 0.0,
            };
        }
    }
    if check_accents {
        for (key, _) in j.accents.iter() {
            checked += 1;
            if t.accents.binary_search(key).is_ok() {
                points += 1.0;
            }
        }
    }
    if checked == 0 {
        return no_data(explain, || unchecked(j));
    }
    let score = points / checked as f32;
    let verdict = if points >= checked as f32 {
        Verdict::Match
    } else if points <= 0.0 {
        Verdict::NoMatch
    } else {
        Verdict::Partial
    };
    out(score, verdict, explain, || {
        let points_s = if points.fract() == 0.0 {
            format!("{points:.0}")
        } else {
            format!("{points:.1}")
        };
        format!(
            "{points_s} of {} met: {}.",
            plural(checked, "language requirement", "language requirements"),
            clauses(t, j, check_langs, check_accents)
        )
    })
}

/// The talent's proficiency in `code`, if it speaks it.
fn spoken(t: &TalentFeatures, code: Code) -> Option<Proficiency> {
    t.languages
        .binary_search_by_key(&code, |(c, _)| *c)
        .ok()
        .and_then(|i| t.languages.get(i))
        .map(|(_, p)| *p)
}

/// One clause per requirement: how the talent meets it, or that the profile does not say.
fn clauses(t: &TalentFeatures, j: &JobFeatures, check_langs: bool, check_accents: bool) -> String {
    let mut c: Vec<String> = Vec::new();
    for (code, min) in j.languages.iter() {
        let code_s = code.as_str().to_ascii_lowercase();
        c.push(match (check_langs, spoken(t, *code)) {
            (false, _) => format!("{code_s} not stated ({} required)", min.as_str()),
            (true, Some(p)) if p >= *min => {
                format!("{code_s} at {} ({} required)", p.as_str(), min.as_str())
            }
            (true, Some(p)) => format!(
                "{code_s} at {}, below the {} required",
                p.as_str(),
                min.as_str()
            ),
            (true, None) => format!("no {code_s} ({} required)", min.as_str()),
        });
    }
    for (key, name) in j.accents.iter() {
        c.push(if !check_accents {
            format!("accents not stated ({name} required)")
        } else if t.accents.binary_search(key).is_ok() {
            format!("the {name} accent")
        } else {
            format!("no {name} accent")
        });
    }
    join_and(&c)
}

/// The sentence when nothing could be checked: what the job asks for.
fn unchecked(j: &JobFeatures) -> String {
    let mut asked: Vec<String> = j
        .languages
        .iter()
        .map(|(code, min)| format!("{} at {}", code.as_str().to_ascii_lowercase(), min.as_str()))
        .collect();
    asked.extend(
        j.accents
            .iter()
            .map(|(_, name)| format!("the {name} accent")),
    );
    format!(
        "The job asks for {}, but the profile lists no languages or accents to compare.",
        join_and(&asked)
    )
}
