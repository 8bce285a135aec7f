//! The nine factors. Each is one function that computes the score and verdict and, only when
//! asked, the sentence, so [`crate::score_total`] and [`crate::score`] share one rule.

use crate::features::{Code, JobFeatures, Money, TalentFeatures};
use crate::semantic::{self, Sketch};
use crate::text::{self, WordId};
use crate::{Context, Factor, FactorScore, Verdict};
use chrono::{Datelike, NaiveDate};
use std::fmt::Write as _;

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

// ----------------------------------------------------------------------------------------------

/// SALARY_ALIGNMENT: the talent's day-rate range against the job's pay range, in the job's
/// currency (the rate converted through [`crate::ExchangeRates`]).
///
/// * ranges overlap → 1.0 MATCH;
/// * the rate lies wholly below the pay → 1.0 MATCH (the pay more than covers it);
/// * the rate starts above the pay's top by `gap` → `max(0, 1 − gap / pay_max)`: PARTIAL while
///   above 0, NO_MATCH at 0 (asking twice the top or more, or anything for unpaid work);
/// * the job states no pay, the profile no rate, or no exchange rate links the two currencies
///   → NO_DATA.
///
/// One bound alone (only `rate_min`, only `pay_max`, …) is read as a single amount.
pub fn salary_alignment(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    salary(t, j, ctx, true).into_factor(Factor::SalaryAlignment)
}

pub(crate) fn salary(t: &TalentFeatures, j: &JobFeatures, ctx: &Context, explain: bool) -> Out {
    let Some(pay) = j.pay else {
        return no_data(explain, || "The job states no pay.".to_owned());
    };
    let Some(rate) = t.rate else {
        return no_data(explain, || "The profile states no day rate.".to_owned());
    };
    let convert = |x: f64| ctx.rates.convert_code(x, rate.currency, pay.currency);
    let (Some(lo), Some(hi)) = (convert(rate.min), convert(rate.max)) else {
        return no_data(explain, || {
            format!(
                "No exchange rate links {} and {}, so the day rate cannot be compared with the \
                 pay.",
                rate.currency, pay.currency
            )
        });
    };
    let shown = |rate: Money| {
        let own = money_range(rate.min, rate.max, rate.currency);
        if rate.currency == pay.currency {
            format!("Day rate {own}")
        } else {
            format!(
                "Day rate {own} (about {})",
                money_range(lo, hi, pay.currency)
            )
        }
    };
    let offered = || money_range(pay.min, pay.max, pay.currency);
    let tolerance = 1e-9 * pay.max.max(1.0);
    if lo <= pay.max + tolerance && pay.min <= hi + tolerance {
        return matched(explain, || {
            format!("{} overlaps the {} offered.", shown(rate), offered())
        });
    }
    if hi < pay.min {
        return matched(explain, || {
            format!(
                "{} is below the {} offered, so the pay covers it.",
                shown(rate),
                offered()
            )
        });
    }
    let gap = lo - pay.max;
    let score = if pay.max > 0.0 {
        (1.0 - gap / pay.max).max(0.0) as f32
    } else {
        0.0
    };
    graded(score, explain, || {
        format!(
            "{} starts {} {} above the {} offered.",
            shown(rate),
            amount(gap),
            pay.currency,
            offered()
        )
    })
}

// ----------------------------------------------------------------------------------------------

/// WORK_AUTHORIZATION: whether the talent may work where the job is.
///
/// * a remote job → 1.0 MATCH (no authorization needed);
/// * needed countries = the job's required authorizations, or else its location country;
///   none of either → 1.0 MATCH (nothing is required);
/// * held countries = the talent's authorizations plus its own location country; none → NO_DATA;
/// * score = share of needed countries held: all MATCH, some PARTIAL, none NO_MATCH.
pub fn work_authorization(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    authorization(t, j, ctx, true).into_factor(Factor::WorkAuthorization)
}

pub(crate) fn authorization(
    t: &TalentFeatures,
    j: &JobFeatures,
    _ctx: &Context,
    explain: bool,
) -> Out {
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

// ----------------------------------------------------------------------------------------------

/// PHYSICAL_ATTRIBUTES: the job's stated gender, playing-age range and height range.
///
/// Each stated requirement is one part: gender equal (after folding and synonyms, see
/// [`crate::features`]); playing-age ranges overlapping (both ends included); height within the
/// range. A part whose talent value is missing is left out. Score = parts that hold / parts
/// checked: all MATCH, some PARTIAL, none NO_MATCH. Nothing stated → MATCH; stated but nothing
/// checkable → NO_DATA.
pub fn physical_attributes(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    physical(t, j, ctx, true).into_factor(Factor::PhysicalAttributes)
}

pub(crate) fn physical(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
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
    let clauses = || {
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
            c.push(match (t.playing_age, age.flatten()) {
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
            c.push(match (t.height_cm, height.flatten()) {
                (Some(h), Some(true)) => format!("height {h} cm as asked ({want})"),
                (Some(h), _) => format!("height {h} cm where {want} is asked"),
                (None, _) => format!("height not stated ({want} asked)"),
            });
        }
        join_and(&c)
    };
    if checked == 0 {
        return no_data(explain, || {
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
        });
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
            clauses()
        )
    })
}

// ----------------------------------------------------------------------------------------------

/// Weight of production type in a work's relevance (the rest is word overlap).
const WORK_TYPE_SHARE: f32 = 0.7;
/// How much an old (or undated) work or award counts against a recent one.
const OLD_FACTOR: f32 = 0.5;
/// NOTABLE_WORKS is a MATCH from here (about two recent works of the job's type).
pub const WORKS_MATCH_AT: f32 = 0.9;
/// How much semantic closeness of the works to the job counts (like one recent work of the
/// job's type).
pub const WORKS_SEMANTIC_SHARE: f32 = 0.7;

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
    works(t, j, ctx, true).into_factor(Factor::NotableWorks)
}

pub(crate) fn works(t: &TalentFeatures, j: &JobFeatures, ctx: &Context, explain: bool) -> Out {
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

// ----------------------------------------------------------------------------------------------

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
    experience(t, j, ctx, true).into_factor(Factor::ProductionExperience)
}

pub(crate) fn experience(
    t: &TalentFeatures,
    j: &JobFeatures,
    _ctx: &Context,
    explain: bool,
) -> Out {
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

// ----------------------------------------------------------------------------------------------

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
    awards_out(t, j, ctx, true).into_factor(Factor::Awards)
}

pub(crate) fn awards_out(
    t: &TalentFeatures,
    _j: &JobFeatures,
    ctx: &Context,
    explain: bool,
) -> Out {
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

// ----------------------------------------------------------------------------------------------

/// DREAM_GIG: whether this job is one the talent dreams of.
///
/// For each dream gig: the share of its words (normalised and stemmed) found in the job's
/// title, project name, description and the words naming its production type (a THEATRE job
/// adds "theatre" and "stage"); score = the best gig's share. MATCH at 1, NO_MATCH at 0, PARTIAL
/// between; no dream gigs (or none with a meaningful word) → NO_DATA. Where both the dream
/// gigs and the job have embeddings, score = max(best share, closeness of the two
/// ([`semantic::closeness`])): a job that is the dream in other words still counts.
pub fn dream_gig(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    dream(t, j, ctx, true).into_factor(Factor::DreamGig)
}

pub(crate) fn dream(t: &TalentFeatures, j: &JobFeatures, _ctx: &Context, explain: bool) -> Out {
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

// ----------------------------------------------------------------------------------------------

/// LANGUAGES: the job's required languages (each at a minimum proficiency) and accents.
///
/// Each requirement is one part: a language spoken at or above the minimum counts 1, below it
/// ½, not spoken 0; a required accent the talent lists counts 1 (accents compare after
/// normalisation, order-free, the word "accent" ignored). When the profile lists no languages
/// the language parts are left out, likewise accents. Score = points / parts checked: all met
/// MATCH, 0 NO_MATCH, else PARTIAL; no requirement → MATCH; nothing checkable → NO_DATA.
pub fn languages(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    languages_out(t, j, ctx, true).into_factor(Factor::Languages)
}

pub(crate) fn languages_out(
    t: &TalentFeatures,
    j: &JobFeatures,
    _ctx: &Context,
    explain: bool,
) -> Out {
    if j.languages.is_empty() && j.accents.is_empty() {
        return matched(explain, || {
            "The job states no language requirements.".to_owned()
        });
    }
    let spoken = |code: Code| {
        t.languages
            .binary_search_by_key(&code, |(c, _)| *c)
            .ok()
            .and_then(|i| t.languages.get(i))
            .map(|(_, p)| *p)
    };
    let check_langs = !t.languages.is_empty() && !j.languages.is_empty();
    let check_accents = !t.accents.is_empty() && !j.accents.is_empty();
    let mut points = 0.0f32;
    let mut checked = 0usize;
    if check_langs {
        for (code, min) in j.languages.iter() {
            checked += 1;
            points += match spoken(*code) {
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
    let clauses = || {
        let mut c: Vec<String> = Vec::new();
        for (code, min) in j.languages.iter() {
            let code_s = code.as_str().to_ascii_lowercase();
            c.push(match (check_langs, spoken(*code)) {
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
    };
    if checked == 0 {
        return no_data(explain, || {
            let mut asked: Vec<String> = j
                .languages
                .iter()
                .map(|(code, min)| {
                    format!("{} at {}", code.as_str().to_ascii_lowercase(), min.as_str())
                })
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
        });
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
            clauses()
        )
    })
}

// ----------------------------------------------------------------------------------------------

/// AVAILABILITY: how much of the shoot the talent is available for.
///
/// Score = days of the shoot period [shoot_start, shoot_end] (both included; one date alone is
/// a one-day shoot) covered by the talent's merged windows / days of the period: all MATCH,
/// none NO_MATCH, some PARTIAL. No shoot dates → MATCH; no windows → NO_DATA.
pub fn availability(t: &TalentFeatures, j: &JobFeatures, ctx: &Context) -> FactorScore {
    availability_out(t, j, ctx, true).into_factor(Factor::Availability)
}

pub(crate) fn availability_out(
    t: &TalentFeatures,
    j: &JobFeatures,
    _ctx: &Context,
    explain: bool,
) -> Out {
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

/// Runs one factor.
pub(crate) fn run(
    factor: Factor,
    t: &TalentFeatures,
    j: &JobFeatures,
    ctx: &Context,
    explain: bool,
) -> Out {
    match factor {
        Factor::SalaryAlignment => salary(t, j, ctx, explain),
        Factor::WorkAuthorization => authorization(t, j, ctx, explain),
        Factor::PhysicalAttributes => physical(t, j, ctx, explain),
        Factor::NotableWorks => works(t, j, ctx, explain),
        Factor::ProductionExperience => experience(t, j, ctx, explain),
        Factor::Awards => awards_out(t, j, ctx, explain),
        Factor::DreamGig => dream(t, j, ctx, explain),
        Factor::Languages => languages_out(t, j, ctx, explain),
        Factor::Availability => availability_out(t, j, ctx, explain),
    }
}
