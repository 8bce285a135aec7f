//! Text normalisation: from free text to sorted, de-duplicated word ids.
//!
//! The pipeline, applied once when features are built (never at scoring time):
//!
//! 1. Unicode compatibility decomposition (NFKD) and removal of combining marks, so `Café`,
//!    `café` and `cafe` agree and ligatures such as `ﬁ` become `fi`;
//! 2. lower-casing (with `ß` → `ss`, as full case folding does);
//! 3. splitting on every character that is not a letter or digit; words of one character are
//!    dropped;
//! 4. removal of English stop-words ([`is_stop_word`]);
//! 5. a small British → American spelling map for -tre/-re and -our endings ([`americanise`]):
//!    `theatre` → `theater`, `centre` → `center`, `colour` → `color`, …;
//! 6. the Snowball English (Porter 2) stemmer, plus two lemma merges it lacks
//!    (`actor`/`actress` → `act`, the stem of `acting`);
//! 7. a 32-bit FNV-1a hash of the stem ([`WordId`]).
//!
//! Hashing instead of interning keeps features free of any shared, growing state: two processes
//! (or two threads) give the same word the same id. Two different stems collide with probability
//! about 2⁻³² per pair; a collision can only add one spurious shared word to an overlap, never
//! remove one.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The id of a normalised, stemmed word: a 32-bit FNV-1a hash of the stem.
pub type WordId = u32;

/// English stop-words, sorted (binary-searched). Kept small on purpose: words that carry meaning
/// in a casting context ("lead", "role", "new", "play") are not in it.
const STOP_WORDS: &[&str] = &[
    "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "being", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have",
    "he", "her", "hers", "him", "his", "how", "if", "in", "into", "is", "it", "its", "me", "my",
    "no", "not", "of", "on", "one", "or", "our", "she", "so", "some", "such", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "up",
    "us", "very", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why",
    "will", "with", "would", "you", "your",
];

/// British spellings (already folded) and their American forms. Applied before stemming; a
/// trailing plural `s` is handled too (`theatres` → `theaters`).
const SPELLING: &[(&str, &str)] = &[
    ("amphitheatre", "amphitheater"),
    ("behaviour", "behavior"),
    ("calibre", "caliber"),
    ("centre", "center"),
    ("colour", "color"),
    ("favourite", "favorite"),
    ("fibre", "fiber"),
    ("honour", "honor"),
    ("humour", "humor"),
    ("labour", "labor"),
    ("litre", "liter"),
    ("lustre", "luster"),
    ("metre", "meter"),
    ("neighbour", "neighbor"),
    ("programme", "program"),
    ("rumour", "rumor"),
    ("sabre", "saber"),
    ("sceptre", "scepter"),
    ("sombre", "somber"),
    ("spectre", "specter"),
    ("theatre", "theater"),
];

/// Stems that mean the same thing in casting text but that Porter 2 keeps apart.
const LEMMAS: &[(&str, &str)] = &[("actor", "act"), ("actress", "act")];

/// Whether a folded word is an English stop-word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// The American spelling of a folded British word, or the word itself.
pub fn americanise(word: &str) -> std::borrow::Cow<'_, str> {
    let lookup = |w: &str| {
        SPELLING
            .binary_search_by(|(gb, _)| (*gb).cmp(w))
            .ok()
            .map(|i| SPELLING[i].1)
    };
    if let Some(us) = lookup(word) {
        return us.into();
    }
    if let Some(singular) = word.strip_suffix('s') {
        if let Some(us) = lookup(singular) {
            return format!("{us}s").into();
        }
    }
    word.into()
}

/// 32-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> WordId {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Folds text: NFKD, combining marks removed, lower-cased, `ß` → `ss`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        if c == 'ß' {
            out.push_str("ss");
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Calls `each(id, surface)` for every kept word of `text` in order (duplicates included);
/// `surface` is the folded word as written (before spelling map and stemming).
pub fn for_each_word(text: &str, mut each: impl FnMut(WordId, &str)) {
    let stemmer = Stemmer::create(Algorithm::English);
    let folded = fold(text);
    for word in folded.split(|c: char| !c.is_alphanumeric()) {
        if word.chars().nth(1).is_none() || is_stop_word(word) {
            continue;
        }
        let spelled = americanise(word);
        let stem = stemmer.stem(&spelled);
        let stem = LEMMAS
            .iter()
            .find(|(from, _)| *from == stem.as_ref())
            .map_or(stem.as_ref(), |(_, to)| *to);
        each(fnv1a(stem.as_bytes()), word);
    }
}

/// The sorted, de-duplicated word ids of `text`.
pub fn word_ids(text: &str) -> Vec<WordId> {
    let mut ids = Vec::new();
    for_each_word(text, |id, _| ids.push(id));
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// How many ids two sorted, de-duplicated slices share. A merge, or binary searches of the
/// shorter slice's ids in the longer one when their sizes differ a lot.
pub fn shared_count(a: &[WordId], b: &[WordId]) -> usize {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.is_empty() {
        return 0;
    }
    if small.len() * 8 < large.len() {
        return small
            .iter()
            .filter(|id| large.binary_search(id).is_ok())
            .count();
    }
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// The ids of `a` (sorted) that `b` (sorted) also holds, in `a`'s order.
pub fn shared_ids(a: &[WordId], b: &[WordId]) -> Vec<WordId> {
    a.iter()
        .copied()
        .filter(|id| b.binary_search(id).is_ok())
        .collect()
}

/// The overlap coefficient |A ∩ B| / min(|A|, |B|) of two sorted id sets; 0 when either is
/// empty.
pub fn overlap_coefficient(a: &[WordId], b: &[WordId]) -> f32 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 0.0;
    }
    shared_count(a, b) as f32 / smaller as f32
}

/// Several sorted id sets stored back to back in one allocation (plus one for their ends), so a
/// profile's notable works or dream gigs cost two allocations, not one per item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordSets {
    ids: Box<[WordId]>,
    ends: Box<[u16]>,
}

impl WordSets {
    /// Builds the sets, each sorted and de-duplicated. A set may be empty.
    pub fn new(sets: impl IntoIterator<Item = Vec<WordId>>) -> WordSets {
        let mut ids = Vec::new();
        let mut ends = Vec::new();
        for set in sets {
            ids.extend(set);
            ends.push(u16::try_from(ids.len()).unwrap_or(u16::MAX));
        }
        // A set cut by the u16 limit (65,535 words in one profile) simply ends there.
        ids.truncate(usize::from(ends.last().copied().unwrap_or(0)));
        WordSets {
            ids: ids.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// How many sets there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no sets.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Set `i` (empty past the end).
    pub fn get(&self, i: usize) -> &[WordId] {
        let start = if i == 0 {
            0
        } else {
            self.ends
                .get(i - 1)
                .map_or(self.ids.len(), |e| usize::from(*e))
        };
        let end = self.ends.get(i).map_or(self.ids.len(), |e| usize::from(*e));
        self.ids.get(start..end).unwrap_or(&[])
    }

    /// The sets in order.
    pub fn iter(&self) -> impl Iterator<Item = &[WordId]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Bytes these sets own on the heap (requested sizes).
    pub fn heap_bytes(&self) -> usize {
        alloc_bytes(std::mem::size_of_val(&*self.ids))
            + alloc_bytes(std::mem::size_of_val(&*self.ends))
    }
}

/// What an allocation of `n` bytes costs: rounded up to the 16-byte granularity of common
/// allocators (glibc malloc, mimalloc's small classes); nothing for an empty one.
pub fn alloc_bytes(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.div_ceil(16) * 16
    }
}

/// Several short texts joined in one allocation with a separator, for explanations only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Texts(Box<str>);

const SEP: char = '\u{1f}';

impl Texts {
    pub fn new<'a>(items: impl IntoIterator<Item = &'a str>) -> Texts {
        let mut out = String::new();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(SEP);
            }
            out.extend(item.trim().chars().filter(|c| *c != SEP));
        }
        Texts(out.into_boxed_str())
    }

    /// Item `i`, or "" past the end.
    pub fn get(&self, i: usize) -> &str {
        self.0.split(SEP).nth(i).unwrap_or("")
    }

    pub fn heap_bytes(&self) -> usize {
        alloc_bytes(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(SPELLING.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn theatre_and_theater_are_one_word() {
        let cases: &[(&str, &str)] = &[
            ("Theatre", "theater"),
            ("THEATRES", "theaters"),
            ("centre", "Center"),
            ("Colour", "color"),
            ("acting", "actor"),
            ("actress", "actors"),
            ("Café", "cafe"),
            ("Straße", "strasse"),
            ("running", "runs"),
        ];
        for (a, b) in cases {
            assert_eq!(word_ids(a), word_ids(b), "{a} vs {b}");
            assert_eq!(word_ids(a).len(), 1, "{a}");
        }
        assert_ne!(word_ids("theater"), word_ids("film"));
    }

    #[test]
    fn stop_words_and_single_letters_are_dropped() {
        assert!(word_ids("the a of and in I s").is_empty());
        assert_eq!(word_ids("The Lead of the Show").len(), 2);
        assert_eq!(word_ids("lead, LEAD; lead!").len(), 1);
    }

    #[test]
    fn americanise_handles_plurals_and_leaves_other_words() {
        assert_eq!(americanise("theatre"), "theater");
        assert_eq!(americanise("theatres"), "theaters");
        assert_eq!(americanise("genre"), "genre");
        assert_eq!(americanise("acre"), "acre");
    }

    #[test]
    fn overlap_counts_agree_between_merge_and_search() {
        let a = word_ids("lead role west end theatre musical");
        let b = word_ids(
            "We cast the lead in a new musical for a West End theater; long run, eight shows a \
             week, rehearsals in London, dance and singing required, strong stage presence",
        );
        assert_eq!(shared_count(&a, &b), shared_count(&b, &a));
        assert_eq!(shared_count(&a, &b), shared_ids(&a, &b).len());
        // lead, west, end, theater, music(al) are shared; "role" is not in the job text.
        assert_eq!(shared_count(&a, &b), 5);
        assert!((overlap_coefficient(&a, &b) - 5.0 / 6.0).abs() < 1e-6);
        assert_eq!(overlap_coefficient(&a, &[]), 0.0);
    }

    #[test]
    fn word_sets_round_trip() {
        let sets = WordSets::new(vec![vec![1, 2], vec![], vec![3]]);
        assert_eq!(sets.len(), 3);
        assert_eq!(sets.get(0), &[1, 2]);
        assert_eq!(sets.get(1), &[] as &[u32]);
        assert_eq!(sets.get(2), &[3]);
        assert_eq!(sets.get(3), &[] as &[u32]);
        let texts = Texts::new(["a", " b ", ""]);
        assert_eq!(
            (texts.get(0), texts.get(1), texts.get(2), texts.get(3)),
            ("a", "b", "", "")
        );
    }
}
