//! The model's inputs: plain data mirroring the server's talent profile and job
//! ([`TalentInput`], [`JobInput`]), and the compact, pre-processed forms that scoring reads
//! ([`TalentFeatures`], [`JobFeatures`]).
//!
//! Building features does all the string work once: codes become 3-byte [`Code`]s, free text
//! becomes sorted word ids (see [`crate::text`]), availability windows are merged, and every
//! list becomes a boxed slice (no spare capacity). Scoring then only compares numbers and merges
//! sorted slices.

use crate::semantic::Sketch;
use crate::text::{self, alloc_bytes, Texts, WordId, WordSets};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO code of 2 or 3 ASCII letters (country, language or currency), upper-cased, stored in
/// 3 bytes and `Copy`. Language codes (`en`) compare case-insensitively like the rest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code([u8; 3]);

impl Code {
    /// US dollars, the default currency.
    pub const USD: Code = Code(*b"USD");

    /// Parses 2 or 3 ASCII letters (surrounding spaces ignored, any case); `None` otherwise.
    pub fn new(raw: &str) -> Option<Code> {
        let raw = raw.trim().as_bytes();
        if !(2..=3).contains(&raw.len()) || !raw.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        let mut out = [0u8; 3];
        for (o, b) in out.iter_mut().zip(raw) {
            *o = b.to_ascii_uppercase();
        }
        Some(Code(out))
    }

    /// The code, upper-case.
    pub fn as_str(&self) -> &str {
        let len = if self.0[2] == 0 { 2 } else { 3 };
        std::str::from_utf8(&self.0[..len]).unwrap_or("??")
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.as_str())
    }
}

// Proficiencies and production types are shared vocabulary (the server stores and shows
// them under the same names).
pub use castyou_vocab::{ProductionType, Proficiency};

/// A language at a proficiency: spoken by a talent, or required by a job (as a minimum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageSkill {
    /// ISO 639-1, e.g. "en".
    pub language: String,
    pub proficiency: Proficiency,
}

/// A past production of a talent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NotableWork {
    pub title: String,
    pub year: Option<i32>,
    pub role: Option<String>,
    pub production_type: Option<ProductionType>,
}

/// An award won or a nomination (`won == false`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Award {
    pub name: String,
    pub year: Option<i32>,
    pub won: bool,
}

/// Days a talent is available: `from` and `to` both included. The server's windows are
/// instants; it passes their dates (`to` included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityWindow {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A talent profile as the model sees it (the server's `TalentProfileDraft` fields that the
/// nine factors read; union status and skills are not scored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TalentInput {
    /// ISO 3166-1 alpha-2 of `location.country`.
    pub location_country: Option<String>,
    pub gender: Option<String>,
    pub playing_age_min: Option<i32>,
    pub playing_age_max: Option<i32>,
    pub height_cm: Option<i32>,
    pub languages: Vec<LanguageSkill>,
    pub accents: Vec<String>,
    /// ISO 3166-1 alpha-2 codes.
    pub work_authorizations: Vec<String>,
    pub notable_works: Vec<NotableWork>,
    /// `None` when unknown; the server's stored 0 may be passed as `Some(0)`.
    pub production_experience_years: Option<i32>,
    pub awards: Vec<Award>,
    pub dream_gigs: Vec<String>,
    /// Day rate range; one bound alone is read as a single amount.
    pub rate_min: Option<i32>,
    pub rate_max: Option<i32>,
    /// ISO 4217; `None` means USD (the server's default).
    pub currency: Option<String>,
    pub availability: Vec<AvailabilityWindow>,
    /// Embedding of the notable works' text, when one exists (see [`crate::semantic`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub works_vector: Option<Vec<f32>>,
    /// Embedding of the dream gigs' text, when one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dreams_vector: Option<Vec<f32>>,
}

/// What a role asks of a talent (the server's `JobRequirements`, less union status and
/// skills, which are not scored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobRequirements {
    pub gender: Option<String>,
    pub playing_age_min: Option<i32>,
    pub playing_age_max: Option<i32>,
    pub height_min_cm: Option<i32>,
    pub height_max_cm: Option<i32>,
    /// Each at its minimum proficiency.
    pub languages: Vec<LanguageSkill>,
    pub accents: Vec<String>,
    /// ISO 3166-1 alpha-2 codes the talent must be authorized to work in.
    pub work_authorizations: Vec<String>,
    pub min_experience_years: Option<i32>,
}

/// A job as the model sees it (the server's `JobDraft` fields that the factors read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobInput {
    pub title: String,
    pub description: String,
    pub project_name: Option<String>,
    pub production_type: ProductionType,
    /// ISO 3166-1 alpha-2 of `location.country`.
    pub location_country: Option<String>,
    pub remote: bool,
    /// Pay range (per day, like the talent's rate); one bound alone is read as a single amount.
    pub pay_min: Option<i32>,
    pub pay_max: Option<i32>,
    /// ISO 4217; `None` means USD.
    pub currency: Option<String>,
    pub requirements: JobRequirements,
    /// Shoot period, both days included; one date alone is a one-day shoot.
    pub shoot_start: Option<NaiveDate>,
    pub shoot_end: Option<NaiveDate>,
    /// Embedding of the job's text (title, project, description), when one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

/// An amount range in one currency, `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Money {
    pub min: f64,
    pub max: f64,
    pub currency: Code,
}

/// Reads an optional range: both bounds, one alone as a point, none as `None`; an inverted
/// range is put in order.
pub(crate) fn range<T: Copy + PartialOrd>(min: Option<T>, max: Option<T>) -> Option<(T, T)> {
    match (min, max) {
        (Some(a), Some(b)) if a <= b => Some((a, b)),
        (Some(a), Some(b)) => Some((b, a)),
        (Some(a), None) | (None, Some(a)) => Some((a, a)),
        (None, None) => None,
    }
}

/// Reads an optional requirement range: a bound left out is open (`i32::MIN` / `i32::MAX`);
/// `None` when neither bound is stated; an inverted range is put in order.
pub(crate) fn open_range(min: Option<i32>, max: Option<i32>) -> Option<(i32, i32)> {
    match (min, max) {
        (None, None) => None,
        (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
        (min, max) => Some((min.unwrap_or(i32::MIN), max.unwrap_or(i32::MAX))),
    }
}

fn money(min: Option<i32>, max: Option<i32>, currency: Option<&str>) -> Option<Money> {
    let (min, max) = range(min, max)?;
    let currency = match currency {
        None => Code::USD,
        Some(c) => Code::new(c)?,
    };
    Some(Money {
        min: f64::from(min),
        max: f64::from(max),
        currency,
    })
}

/// Gender as compared: folded, with common synonyms merged (`woman`, `f` → `female`; `man`,
/// `m` → `male`); `any`, `all`, `either` and blank mean no requirement (`None`).
pub(crate) fn gender_key(raw: Option<&str>) -> Option<Box<str>> {
    let folded = text::fold(raw?);
    let words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .collect();
    let key = words.join(" ");
    let key = match key.as_str() {
        "" | "any" | "all" | "either" | "any gender" | "all genders" | "open" => return None,
        "f" | "woman" | "women" | "female" => "female",
        "m" | "man" | "men" | "male" => "male",
        other => other,
    };
    Some(key.into())
}

/// An accent as compared: the hash of its sorted word ids, the word "accent" left out, so
/// "Irish accent", "irish" and "IRISH" agree. `None` when nothing is left.
pub(crate) fn accent_key(raw: &str) -> Option<u32> {
    let accent_word = text::word_ids("accent");
    let ids: Vec<WordId> = text::word_ids(raw)
        .into_iter()
        .filter(|id| !accent_word.contains(id))
        .collect();
    if ids.is_empty() {
        return None;
    }
    let mut bytes = Vec::with_capacity(ids.len() * 4);
    for id in &ids {
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    Some(h)
}

/// An accent as written, less a trailing word "accent" ("Irish accent" → "Irish"), for
/// sentences that say "the Irish accent".
fn accent_name(raw: &str) -> &str {
    let raw = raw.trim();
    match raw.len().checked_sub("accent".len()) {
        Some(cut) if cut > 0 && raw.is_char_boundary(cut) => {
            let (head, tail) = raw.split_at(cut);
            if tail.eq_ignore_ascii_case("accent") && head.ends_with(char::is_whitespace) {
                head.trim_end()
            } else {
                raw
            }
        }
        _ => raw,
    }
}

/// A notable work as scored: its year and type; its words live in [`TalentFeatures`]'
/// `work_words` at the same index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorkMeta {
    pub year: Option<i32>,
    pub production_type: Option<ProductionType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AwardMeta {
    pub year: Option<i32>,
    pub won: bool,
}

/// A talent, pre-processed for scoring. Build once per profile change with
/// [`TalentFeatures::new`] and keep it (e.g. in the ranking cache); immutable afterwards.
///
/// Memory: `size_of::<TalentFeatures>()` bytes inline plus [`TalentFeatures::heap_bytes`]; a
/// typical profile (3 languages, 2 accents, 2 authorizations, 5 notable works, 3 awards,
/// 2 dream gigs, 3 availability windows) takes 784 bytes in all (272 inline + 512 heap; see
/// the crate doc and the `typical_profile_fits_in_a_kibibyte` test).
#[derive(Debug, Clone, PartialEq)]
pub struct TalentFeatures {
    pub(crate) rate: Option<Money>,
    pub(crate) playing_age: Option<(i32, i32)>,
    pub(crate) height_cm: Option<i32>,
    pub(crate) experience_years: Option<i32>,
    pub(crate) country: Option<Code>,
    pub(crate) gender: Option<Box<str>>,
    pub(crate) languages: Box<[(Code, Proficiency)]>,
    /// Accent keys, sorted.
    pub(crate) accents: Box<[u32]>,
    pub(crate) work_authorizations: Box<[Code]>,
    pub(crate) works: Box<[WorkMeta]>,
    pub(crate) work_words: WordSets,
    pub(crate) work_titles: Texts,
    pub(crate) awards: Box<[AwardMeta]>,
    pub(crate) dream_words: WordSets,
    pub(crate) dream_texts: Texts,
    /// Merged, sorted, disjoint and non-adjacent inclusive day ranges.
    pub(crate) availability: Box<[(NaiveDate, NaiveDate)]>,
    /// Sketches of the works' and the dream gigs' embeddings (only with works / gigs).
    pub(crate) works_sketch: Option<Sketch>,
    pub(crate) dreams_sketch: Option<Sketch>,
}

/// Merges inclusive day ranges: sorted by start, overlapping or touching ranges joined, inverted
/// ones put in order.
pub(crate) fn merge_windows(windows: &[AvailabilityWindow]) -> Vec<(NaiveDate, NaiveDate)> {
    let mut spans: Vec<(NaiveDate, NaiveDate)> = windows
        .iter()
        .map(|w| (w.from.min(w.to), w.from.max(w.to)))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(NaiveDate, NaiveDate)> = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        match merged.last_mut() {
            Some(last) if from <= last.1 || last.1.succ_opt() == Some(from) => {
                last.1 = last.1.max(to);
            }
            _ => merged.push((from, to)),
        }
    }
    merged
}

impl TalentFeatures {
    /// Pre-processes a profile. Codes that are not 2–3 ASCII letters are left out (the server
    /// validates them before); a rate in such a currency counts as no rate stated.
    // Long: one preprocessing step per profile field, in the input's order.
    pub fn new(input: &TalentInput) -> TalentFeatures {
        let mut languages: Vec<(Code, Proficiency)> = input
            .languages
            .iter()
            .filter_map(|l| Some((Code::new(&l.language)?, l.proficiency)))
            .collect();
        languages.sort_unstable();
        // One entry per language, the best proficiency kept.
        languages.reverse();
        languages.dedup_by_key(|(code, _)| *code);
        languages.reverse();

        let mut accents: Vec<u32> = input.accents.iter().filter_map(|a| accent_key(a)).collect();
        accents.sort_unstable();
        accents.dedup();

        let mut auths: Vec<Code> = input
            .work_authorizations
            .iter()
            .filter_map(|c| Code::new(c))
            .collect();
        auths.sort_unstable();
        auths.dedup();

        let works: Vec<WorkMeta> = input
            .notable_works
            .iter()
            .map(|w| WorkMeta {
                year: w.year,
                production_type: w.production_type,
            })
            .collect();
        let work_words = WordSets::new(input.notable_works.iter().map(|w| {
            let mut ids = text::word_ids(&w.title);
            if let Some(role) = &w.role {
                ids.extend(text::word_ids(role));
                ids.sort_unstable();
                ids.dedup();
            }
            ids
        }));
        let work_titles = Texts::new(input.notable_works.iter().map(|w| w.title.as_str()));

        let awards: Vec<AwardMeta> = input
            .awards
            .iter()
            .map(|a| AwardMeta {
                year: a.year,
                won: a.won,
            })
            .collect();

        let gigs: Vec<&str> = input
            .dream_gigs
            .iter()
            .map(|g| g.trim())
            .filter(|g| !text::word_ids(g).is_empty())
            .collect();
        let dream_words = WordSets::new(gigs.iter().map(|g| text::word_ids(g)));
        let dream_texts = Texts::new(gigs.iter().copied());

        TalentFeatures {
            rate: money(input.rate_min, input.rate_max, input.currency.as_deref()),
            playing_age: range(input.playing_age_min, input.playing_age_max),
            height_cm: input.height_cm,
            experience_years: input.production_experience_years,
            country: input.location_country.as_deref().and_then(Code::new),
            gender: gender_key(input.gender.as_deref()),
            languages: languages.into_boxed_slice(),
            accents: accents.into_boxed_slice(),
            work_authorizations: auths.into_boxed_slice(),
            works: works.into_boxed_slice(),
            work_words,
            work_titles,
            awards: awards.into_boxed_slice(),
            dream_words,
            dream_texts,
            availability: merge_windows(&input.availability).into_boxed_slice(),
            works_sketch: (!input.notable_works.is_empty())
                .then(|| input.works_vector.as_deref().and_then(Sketch::new))
                .flatten(),
            dreams_sketch: (!gigs.is_empty())
                .then(|| input.dreams_vector.as_deref().and_then(Sketch::new))
                .flatten(),
        }
    }

    /// The country the talent lives in, if stated and valid.
    pub fn location_country(&self) -> Option<Code> {
        self.country
    }

    /// Bytes owned on the heap, each allocation rounded up to 16 bytes (see
    /// [`crate::text::alloc_bytes`]); add `size_of::<TalentFeatures>()` for the whole.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of_val;
        self.gender.as_ref().map_or(0, |g| alloc_bytes(g.len()))
            + alloc_bytes(size_of_val(&*self.languages))
            + alloc_bytes(size_of_val(&*self.accents))
            + alloc_bytes(size_of_val(&*self.work_authorizations))
            + alloc_bytes(size_of_val(&*self.works))
            + self.work_words.heap_bytes()
            + self.work_titles.heap_bytes()
            + alloc_bytes(size_of_val(&*self.awards))
            + self.dream_words.heap_bytes()
            + self.dream_texts.heap_bytes()
            + alloc_bytes(size_of_val(&*self.availability))
            + [&self.works_sketch, &self.dreams_sketch]
                .iter()
                .filter_map(|s| s.as_ref())
                .map(|s| alloc_bytes(s.heap_bytes()))
                .sum::<usize>()
    }

    /// `size_of::<TalentFeatures>() + heap_bytes()`: what one talent costs in memory.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<TalentFeatures>() + self.heap_bytes()
    }
}

/// A job, pre-processed for scoring. One per ranking request, so it keeps display strings for
/// the explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFeatures {
    pub(crate) production_type: ProductionType,
    pub(crate) remote: bool,
    pub(crate) country: Option<Code>,
    pub(crate) pay: Option<Money>,
    pub(crate) gender: Option<Box<str>>,
    /// Open where a bound is not stated (see [`open_range`]).
    pub(crate) playing_age: Option<(i32, i32)>,
    pub(crate) height_cm: Option<(i32, i32)>,
    pub(crate) languages: Box<[(Code, Proficiency)]>,
    /// (key, as written), de-duplicated by key.
    pub(crate) accents: Box<[(u32, Box<str>)]>,
    pub(crate) work_authorizations: Box<[Code]>,
    pub(crate) min_experience_years: Option<i32>,
    pub(crate) shoot: Option<(NaiveDate, NaiveDate)>,
    /// Words of the title, project name and description.
    pub(crate) text_words: Box<[WordId]>,
    /// `text_words` plus the words naming the production type ([`ProductionType::words`]).
    pub(crate) dream_words: Box<[WordId]>,
    /// The first written (folded) form of each word id, sorted by id, for explanations.
    pub(crate) surfaces: Box<[(WordId, Box<str>)]>,
    /// Sketch of the job text's embedding.
    pub(crate) sketch: Option<Sketch>,
}

impl JobFeatures {
    /// Pre-processes a job. Invalid codes are left out; pay in an invalid currency counts as
    /// no pay stated; `min_experience_years` of 0 or less states no minimum.
    pub fn new(input: &JobInput) -> JobFeatures {
        let req = &input.requirements;
        let mut surfaces: Vec<(WordId, Box<str>)> = Vec::new();
        let mut text_words = Vec::new();
        let mut add = |text: &str, words: &mut Vec<WordId>| {
            text::for_each_word(text, |id, surface| {
                words.push(id);
                surfaces.push((id, surface.into()));
            });
        };
        add(&input.title, &mut text_words);
        if let Some(project) = &input.project_name {
            add(project, &mut text_words);
        }
        add(&input.description, &mut text_words);
        let mut dream_words = text_words.clone();
        for word in input.production_type.words() {
            add(word, &mut dream_words);
        }
        for words in [&mut text_words, &mut dream_words] {
            words.sort_unstable();
            words.dedup();
        }
        // Stable sort keeps the first surface of each id.
        surfaces.sort_by_key(|(id, _)| *id);
        surfaces.dedup_by_key(|(id, _)| *id);

        let mut languages: Vec<(Code, Proficiency)> = req
            .languages
            .iter()
            .filter_map(|l| Some((Code::new(&l.language)?, l.proficiency)))
            .collect();
        languages.sort_unstable();
        // One entry per language, the highest minimum kept.
        languages.reverse();
        languages.dedup_by_key(|(code, _)| *code);
        languages.reverse();

        let mut accents: Vec<(u32, Box<str>)> = Vec::new();
        for a in &req.accents {
            if let Some(key) = accent_key(a) {
                if !accents.iter().any(|(k, _)| *k == key) {
                    accents.push((key, accent_name(a).into()));
                }
            }
        }

        let mut auths: Vec<Code> = req
            .work_authorizations
            .iter()
            .filter_map(|c| Code::new(c))
            .collect();
        auths.sort_unstable();
        auths.dedup();

        JobFeatures {
            production_type: input.production_type,
            remote: input.remote,
            country: input.location_country.as_deref().and_then(Code::new),
            pay: money(input.pay_min, input.pay_max, input.currency.as_deref()),
            gender: gender_key(req.gender.as_deref()),
            playing_age: open_range(req.playing_age_min, req.playing_age_max),
            height_cm: open_range(req.height_min_cm, req.height_max_cm),
            languages: languages.into_boxed_slice(),
            accents: accents.into_boxed_slice(),
            work_authorizations: auths.into_boxed_slice(),
            min_experience_years: req.min_experience_years.filter(|m| *m > 0),
            shoot: range(input.shoot_start, input.shoot_end),
            text_words: text_words.into_boxed_slice(),
            dream_words: dream_words.into_boxed_slice(),
            surfaces: surfaces.into_boxed_slice(),
            sketch: input.vector.as_deref().and_then(Sketch::new),
        }
    }

    /// The written form of a word id of this job's text (or "?" for an unknown id).
    pub(crate) fn surface(&self, id: WordId) -> &str {
        self.surfaces
            .binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .and_then(|i| self.surfaces.get(i))
            .map_or("?", |(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn codes_parse_two_or_three_letters_case_insensitively() {
        let table: &[(&str, Option<&str>)] = &[
            ("us", Some("US")),
            (" gb ", Some("GB")),
            ("eur", Some("EUR")),
            ("USD", Some("USD")),
            ("u", None),
            ("EURO", None),
            ("U1", None),
            ("", None),
        ];
        for (raw, want) in table {
            assert_eq!(
                Code::new(raw).map(|c| c.as_str().to_owned()).as_deref(),
                *want,
                "{raw}"
            );
        }
        assert_eq!(Code::new("en"), Code::new("EN"));
    }

    #[test]
    fn enums_use_the_server_names() {
        for &p in ProductionType::ALL {
            assert_eq!(ProductionType::parse(p.as_str()), Some(p));
        }
        for &p in Proficiency::ALL {
            assert_eq!(Proficiency::parse(p.as_str()), Some(p));
        }
        assert!(Proficiency::Basic < Proficiency::Conversational);
        assert!(Proficiency::Fluent < Proficiency::Native);
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        let de: StrDeserializer<'_, Error> = "MUSIC_VIDEO".into_deserializer();
        assert_eq!(
            ProductionType::deserialize(de).unwrap(),
            ProductionType::MusicVideo
        );
        let de: StrDeserializer<'_, Error> = "CONVERSATIONAL".into_deserializer();
        assert_eq!(
            Proficiency::deserialize(de).unwrap(),
            Proficiency::Conversational
        );
    }

    #[test]
    fn gender_keys_merge_synonyms_and_drop_any() {
        let table: &[(Option<&str>, Option<&str>)] = &[
            (Some("Female"), Some("female")),
            (Some(" woman "), Some("female")),
            (Some("M"), Some("male")),
            (Some("Non-binary"), Some("non-binary")),
            (Some("Any"), None),
            (Some("  "), None),
            (None, None),
        ];
        for (raw, want) in table {
            assert_eq!(gender_key(*raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn accent_keys_ignore_case_order_and_the_word_accent() {
        assert_eq!(accent_key("Irish accent"), accent_key("irish"));
        assert_eq!(
            accent_key("Southern American"),
            accent_key("american southern")
        );
        assert_ne!(accent_key("Irish"), accent_key("Scottish"));
        assert_eq!(accent_key("accent"), None);
        assert_eq!(accent_name(" Irish Accent "), "Irish");
        assert_eq!(accent_name("Irish"), "Irish");
        assert_eq!(accent_name("accent"), "accent");
        assert_eq!(accent_name("Taccent"), "Taccent");
    }

    #[test]
    fn windows_merge_when_they_overlap_or_touch() {
        let w = |a: &str, b: &str| AvailabilityWindow {
            from: day(a),
            to: day(b),
        };
        let merged = merge_windows(&[
            w("2025-03-08", "2025-03-12"),
            w("2025-03-01", "2025-03-05"),
            w("2025-03-04", "2025-03-06"),
            w("2025-03-07", "2025-03-07"),
            w("2025-04-02", "2025-04-01"),
            w("2025-03-20", "2025-03-21"),
        ]);
        assert_eq!(
            merged,
            vec![
                (day("2025-03-01"), day("2025-03-12")),
                (day("2025-03-20"), day("2025-03-21")),
                (day("2025-04-01"), day("2025-04-02")),
            ]
        );
    }

    #[test]
    fn languages_keep_the_best_entry_per_code() {
        let t = TalentFeatures::new(&TalentInput {
            languages: vec![
                LanguageSkill {
                    language: "en".into(),
                    proficiency: Proficiency::Basic,
                },
                LanguageSkill {
                    language: "EN".into(),
                    proficiency: Proficiency::Native,
                },
                LanguageSkill {
                    language: "fr".into(),
                    proficiency: Proficiency::Fluent,
                },
            ],
            ..TalentInput::default()
        });
        assert_eq!(
            &*t.languages,
            &[
                (Code::new("en").unwrap(), Proficiency::Native),
                (Code::new("fr").unwrap(), Proficiency::Fluent)
            ]
        );
    }

    #[test]
    fn job_words_keep_their_first_written_form() {
        let j = JobFeatures::new(&JobInput {
            title: "Lead for a Theatre tour".into(),
            description: "theater, THEATRE and more theatres".into(),
            production_type: ProductionType::Theatre,
            ..JobInput::default()
        });
        let id = text::word_ids("theater")[0];
        assert_eq!(j.surface(id), "theatre");
        assert!(j.text_words.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(j.text_words.len(), 4); // lead, theater, tour, more
        assert_eq!(j.dream_words.len(), 5); // + stage
    }
}
