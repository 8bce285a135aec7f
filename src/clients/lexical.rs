//! The lexical index of talent search: one Tantivy index per instance, on local disk (mmap'd
//! segments), answering the three lexical lists.
//!
//! - FULL_TEXT: every word of the query in the stage name (folded, any script), or every
//!   word in what the talent did (headline, bio, notable works: English stemming and stop
//!   words), ranked by BM25.
//! - FUZZY: each query word against the words of stage names and headlines within its typo
//!   budget (optimal string alignment: a swapped pair of letters is one typo), by Levenshtein
//!   automata over the term dictionary. A talent ranks by query words matched, then words found
//!   in the stage name rather than only the headline, then fewer typos.
//! - PHONETIC: double metaphone keys (primary and alternate) of the Latin-script words of the
//!   query against those of stage names; most words matched first.
//!
//! Words are cut at `MAX_WORD_CHARS` when indexed and when searched, so a planted 64-letter
//! look-alike costs what any word costs; a word leaves the index with the last profile that
//! used it (a profile's document is replaced whole). Every search and write here is blocking
//! work: callers run it on a blocking thread.

use anyhow::Context;
use rphonetic::DoubleMetaphone;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};
use uuid::Uuid;

/// Words longer than this (in bytes of UTF-8, as Tantivy counts) are left out: no name or
/// topic word is this long, and a look-alike planted to crowd the dictionary is not kept.
pub const MAX_WORD_BYTES: usize = 64;
/// At most this many query words are looked up by name (fuzzy and phonetic).
pub const MAX_NAME_WORDS: usize = 6;
/// At most this many indexed words stand for one query word in a field (the closest).
const MAX_EXPANSIONS: usize = 256;
/// The indexing heap of the one writer thread.
const WRITER_HEAP_BYTES: usize = 32 * 1024 * 1024;

/// The version of the index's layout (schema and analyzers): an index of another version is
/// built again, never read.
pub const LAYOUT_VERSION: u32 = 1;

/// Typos a query word of this many letters may have: none up to 3, one up to 8, two from 9 (at
/// least Meilisearch's rule, which allows none under 5).
pub fn typo_budget(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=8 => 1,
        _ => 2,
    }
}

/// What the index holds of one talent.
#[derive(Debug, Clone, Default)]
pub struct TalentText {
    pub id: Uuid,
    pub stage_name: String,
    pub headline: String,
    /// The bio and the notable works' titles and roles.
    pub about: String,
}

struct Fields {
    id: Field,
    id_hi: Field,
    id_lo: Field,
    name: Field,
    headline: Field,
    about: Field,
    sounds: Field,
}

/// One instance's lexical index.
pub struct LexicalIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    fields: Fields,
}

fn folded() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES + 1))
        .filter(LowerCaser)
        .build()
}

fn english() -> TextAnalyzer {
    let stop = StopWordFilter::new(Language::English).unwrap_or_else(|| StopWordFilter::remove([]));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES + 1))
        .filter(LowerCaser)
        .filter(stop)
        .filter(Stemmer::new(Language::English))
        .build()
}

fn text_field(tokenizer: &str, record: IndexRecordOption) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(record),
    )
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let fields = Fields {
        id: builder.add_text_field("id", STRING),
        id_hi: builder.add_u64_field("id_hi", FAST),
        id_lo: builder.add_u64_field("id_lo", FAST),
        name: builder.add_text_field("name", text_field("folded", IndexRecordOption::WithFreqs)),
        headline: builder
            .add_text_field("headline", text_field("folded", IndexRecordOption::Basic)),
        about: builder.add_text_field("about", text_field("english", IndexRecordOption::WithFreqs)),
        sounds: builder.add_text_field("sounds", text_field("raw", IndexRecordOption::Basic)),
    };
    (builder.build(), fields)
}

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Double metaphone keys (primary and alternate) of the Latin-script words (two letters or
/// more) of `text`.
pub fn sound_keys(text: &str) -> BTreeSet<String> {
    let metaphone = DoubleMetaphone::default();
    latin_words(text)
        .iter()
        .flat_map(|word| {
            let codes = metaphone.double_metaphone(word);
            [codes.primary(), codes.alternate()]
        })
        .filter(|code| !code.is_empty())
        .collect()
}

/// The words of `text` made of ASCII letters only, two letters or more.
pub fn latin_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| (2..=MAX_WORD_BYTES).contains(&w.len()))
        .map(str::to_string)
        .collect()
}

impl LexicalIndex {
    /// A new, empty index in `dir` (created; anything there before is removed).
    pub fn create(dir: &Path) -> anyhow::Result<LexicalIndex> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (schema, _) = schema();
        let index = Index::create_in_dir(dir, schema).context("creating the lexical index")?;
        LexicalIndex::serving(dir, index)
    }

    /// The index a copy in `dir` holds (see `copy_to`), if it has this layout's fields.
    pub fn open(dir: &Path) -> anyhow::Result<LexicalIndex> {
        let index = Index::open_in_dir(dir).context("opening a lexical index")?;
        let (schema, _) = schema();
        anyhow::ensure!(
            index.schema() == schema,
            "the index in {} has another layout",
            dir.display()
        );
        // Opening its reader opens every segment's files: a missing one fails here.
        LexicalIndex::serving(dir, index)
    }

    fn serving(dir: &Path, index: Index) -> anyhow::Result<LexicalIndex> {
        let (_, fields) = schema();
        index.tokenizers().register("folded", folded());
        index.tokenizers().register("english", english());
        let writer = index
            .writer_with_num_threads(1, WRITER_HEAP_BYTES)
            .context("opening the lexical index's writer")?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .context("opening the lexical index's reader")?;
        Ok(LexicalIndex {
            dir: dir.to_path_buf(),
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// Writes a copy of the committed index into the empty folder `to` (hard links to the
    /// immutable segment files, the commit's `meta.json` written last), checked by opening it:
    /// the talents in it. A background merge may remove a file meanwhile: then it tries again.
    pub fn copy_to(&self, to: &Path) -> anyhow::Result<u64> {
        // No commit while copying.
        let _writer = self.writer();
        let mut last_error = None;
        for _ in 0..5 {
            let metas = self
                .index
                .load_metas()
                .context("reading the index's commit")?;
            for file in metas.list_segment_files() {
                let (from, into) = (self.dir.join(&file), to.join(&file));
                match std::fs::hard_link(&from, &into) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(_) => {
                        std::fs::copy(&from, &into)
                            .with_context(|| format!("copying {}", file.display()))?;
                    }
                }
            }
            let meta = serde_json::to_string_pretty(&metas)?;
            std::fs::write(to.join("meta.json"), meta + "\n")?;
            let docs: u64 = metas.segments.iter().map(|s| u64::from(s.num_docs())).sum();
            match Index::open_in_dir(to).and_then(|copy| {
                let searcher = copy.reader()?.searcher();
                Ok(searcher.num_docs())
            }) {
                Ok(found) if found == docs => return Ok(docs),
                Ok(found) => last_error = Some(anyhow::anyhow!("{found} talents, not {docs}")),
                Err(e) => last_error = Some(e.into()),
            }
            for entry in std::fs::read_dir(to)?.filter_map(Result::ok) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Err(last_error
            .unwrap_or_else(|| anyhow::anyhow!("no copy"))
            .context("the index kept changing while it was copied"))
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter<TantivyDocument>> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn document(&self, talent: &TalentText) -> TantivyDocument {
        let f = &self.fields;
        let id = talent.id.as_u128();
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, talent.id.hyphenated().to_string());
        doc.add_u64(f.id_hi, (id >> 64) as u64);
        doc.add_u64(f.id_lo, id as u64);
        doc.add_text(f.name, &talent.stage_name);
        doc.add_text(f.headline, &talent.headline);
        doc.add_text(f.about, format!("{}\n{}", talent.headline, talent.about));
        for key in sound_keys(&talent.stage_name) {
            doc.add_text(f.sounds, key);
        }
        doc
    }

    /// Replaces the documents of `talents` and removes those of `gone`, then makes the change
    /// visible to searches.
    pub fn put(&self, talents: &[TalentText], gone: &[Uuid]) -> anyhow::Result<()> {
        let mut writer = self.writer();
        for id in talents.iter().map(|t| t.id).chain(gone.iter().copied()) {
            writer.delete_term(Term::from_field_text(
                self.fields.id,
                &id.hyphenated().to_string(),
            ));
        }
        for talent in talents {
            writer
                .add_document(self.document(talent))
                .context("adding a talent to the lexical index")?;
        }
        writer.commit().context("committing the lexical index")?;
        drop(writer);
        self.reader
            .reload()
            .context("reloading the lexical index's reader")?;
        Ok(())
    }

    /// Adds `talents` (not in the index yet) without making them visible: a build adds pages
    /// and commits once at the end.
    pub fn add(&self, talents: &[TalentText]) -> anyhow::Result<()> {
        let writer = self.writer();
        for talent in talents {
            writer
                .add_document(self.document(talent))
                .context("adding a talent to the lexical index")?;
        }
        Ok(())
    }

    /// Commits what `add` wrote, merges the build's segments into one (each search walks
    /// every segment's term dictionary once per fuzzy automaton), and makes it visible.
    pub fn commit(&self) -> anyhow::Result<()> {
        let mut writer = self.writer();
        writer.commit().context("committing the lexical index")?;
        let segments = self
            .index
            .searchable_segment_ids()
            .context("listing the lexical index's segments")?;
        if segments.len() > 1 {
            writer
                .merge(&segments)
                .wait()
                .context("merging the lexical index's segments")?;
        }
        drop(writer);
        self.reader
            .reload()
            .context("reloading the lexical index's reader")
    }

    /// Talents in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index takes on disk.
    pub fn bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn analyzed(&self, field: Field, text: &str) -> Vec<String> {
        match self.index.tokenizer_for_field(field) {
            Ok(mut analyzer) => tokens(&mut analyzer, text),
            Err(_) => Vec::new(),
        }
    }

    /// The ids of `hits` best first; ties (equal scores) by talent id.
    fn ranked(
        &self,
        searcher: &Searcher,
        hits: Vec<(f32, DocAddress)>,
        limit: usize,
    ) -> anyhow::Result<Vec<Uuid>> {
        let mut columns = HashMap::new();
        let mut found = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let segment = address.segment_ord;
            if let std::collections::hash_map::Entry::Vacant(entry) = columns.entry(segment) {
                let fast = searcher.segment_reader(segment).fast_fields();
                entry.insert((fast.u64("id_hi")?, fast.u64("id_lo")?));
            }
            let Some((hi, lo)) = columns.get(&segment) else {
                continue;
            };
            let (Some(hi), Some(lo)) = (hi.first(address.doc_id), lo.first(address.doc_id)) else {
                continue;
            };
            found.push((
                score,
                Uuid::from_u128((u128::from(hi) << 64) | u128::from(lo)),
            ));
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        found.truncate(limit);
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }

    fn search(&self, query: &dyn Query, limit: usize) -> anyhow::Result<Vec<Uuid>> {
        self.search_with(&self.reader.searcher(), query, limit)
    }

    fn search_with(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        limit: usize,
    ) -> anyhow::Result<Vec<Uuid>> {
        let hits = searcher
            .search(query, &TopDocs::with_limit(limit).order_by_score())
            .context("searching the lexical index")?;
        self.ranked(searcher, hits, limit)
    }

    /// Every term of `words` in `field`.
    fn all_of(&self, field: Field, words: &[String]) -> Option<Box<dyn Query>> {
        let clauses: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|w| {
                let term = Term::from_field_text(field, w);
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Must, query)
            })
            .collect();
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
    }

    /// FULL_TEXT: every word in the name, or every (stemmed, non-stop) word in what the
    /// talent did; BM25, best first.
    pub fn full_text(&self, query: &str, limit: usize) -> anyhow::Result<Vec<Uuid>> {
        let name_words = self.analyzed(self.fields.name, query);
        let about_words = self.analyzed(self.fields.about, query);
        let clauses: Vec<(Occur, Box<dyn Query>)> = [
            self.all_of(self.fields.name, &name_words),
            self.all_of(self.fields.about, &about_words),
        ]
        .into_iter()
        .flatten()
        .map(|q| (Occur::Should, q))
        .collect();
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        self.search(&BooleanQuery::new(clauses), limit)
    }

    /// FUZZY: talents with words within each query word's typo budget, in the stage name or
    /// the headline. Each query word counts once, by its best match: 1,000 for matching, 100
    /// more when in the stage name, one less per typo.
    pub fn fuzzy(&self, words: &[String], limit: usize) -> anyhow::Result<Vec<Uuid>> {
        let searcher = self.reader.searcher();
        let mut per_word: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in words.iter().take(MAX_NAME_WORDS) {
            if let Some(query) = self.fuzzy_word(&searcher, word)? {
                per_word.push((Occur::Should, query));
            }
        }
        if per_word.is_empty() {
            return Ok(Vec::new());
        }
        self.search_with(&searcher, &BooleanQuery::new(per_word), limit)
    }

    /// One query word's matches: per field and typo count, the words within its budget.
    fn fuzzy_word(
        &self,
        searcher: &Searcher,
        word: &str,
    ) -> anyhow::Result<Option<Box<dyn Query>>> {
        let chars = word.chars().count();
        if chars < 2 || word.len() > MAX_WORD_BYTES {
            return Ok(None);
        }
        let budget = typo_budget(chars);
        let mut matches: Vec<Box<dyn Query>> = Vec::new();
        for (field, in_name) in [(self.fields.name, 100.0), (self.fields.headline, 0.0)] {
            for (typos, terms) in expansions(searcher, field, word, budget)? {
                let score = 1_000.0 + in_name - typos as f32;
                // Term queries rather than a `TermSetQuery`, which builds a term automaton for
                // every query (a fifth of a search's CPU, most of it the automaton builder's
                // table, for a few words).
                let mut any: Vec<(Occur, Box<dyn Query>)> = terms
                    .into_iter()
                    .map(|term| {
                        let query: Box<dyn Query> =
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                        (Occur::Should, query)
                    })
                    .collect();
                let query = match any.len() {
                    1 => any.remove(0).1,
                    _ => Box::new(BooleanQuery::new(any)),
                };
                matches.push(Box::new(ConstScoreQuery::new(query, score)));
            }
        }
        Ok((!matches.is_empty())
            .then(|| Box::new(DisjunctionMaxQuery::new(matches)) as Box<dyn Query>))
    }

    /// PHONETIC: talents whose stage name has words sounding like the query's Latin-script
    /// words (double metaphone, primary or alternate); most words matched first.
    pub fn phonetic(&self, words: &[String], limit: usize) -> anyhow::Result<Vec<Uuid>> {
        let per_word: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .take(MAX_NAME_WORDS)
            .filter_map(|word| {
                let keys = sound_keys(word);
                let any: Vec<(Occur, Box<dyn Query>)> = keys
                    .iter()
                    .map(|key| {
                        let term = Term::from_field_text(self.fields.sounds, key);
                        let query: Box<dyn Query> =
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                        (Occur::Should, query)
                    })
                    .collect();
                (!any.is_empty()).then(|| {
                    let query: Box<dyn Query> =
                        Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(any)), 1.0));
                    (Occur::Should, query)
                })
            })
            .collect();
        if per_word.is_empty() {
            return Ok(Vec::new());
        }
        self.search(&BooleanQuery::new(per_word), limit)
    }
}

/// The words of `field` within `budget` typos of `word` (optimal string alignment: a swapped
/// pair of letters is one typo), grouped by typo count, fewest first: one walk of each segment's
/// term dictionary with a Levenshtein automaton at the budget, each word found then measured.
/// At most `MAX_EXPANSIONS`, the closest (a planted look-alike cannot push real ones out).
fn expansions(
    searcher: &Searcher,
    field: Field,
    word: &str,
    budget: usize,
) -> anyhow::Result<Vec<(usize, Vec<Term>)>> {
    let mut found: BTreeSet<(usize, String)> = BTreeSet::new();
    if budget == 0 {
        found.insert((0, word.to_string()));
    } else {
        let automaton = FuzzyTermQuery::new(Term::from_field_text(field, word), budget as u8, true)
            .automaton()?;
        for segment in searcher.segment_readers() {
            let index = segment.inverted_index(field)?;
            let mut terms = index.terms().search(&automaton).into_stream()?;
            while terms.advance() {
                if let Ok(text) = std::str::from_utf8(terms.key()) {
                    found.insert((typos(word, text), text.to_string()));
                }
            }
        }
    }
    let mut groups: Vec<(usize, Vec<Term>)> = Vec::new();
    for (typos, text) in found.into_iter().take(MAX_EXPANSIONS) {
        let term = Term::from_field_text(field, &text);
        match groups.last_mut() {
            Some((t, terms)) if *t == typos => terms.push(term),
            _ => groups.push((typos, vec![term])),
        }
    }
    Ok(groups)
}

/// The optimal-string-alignment distance between `a` and `b` (by characters): insertions,
/// deletions, substitutions and swaps of adjacent characters, each one typo.
fn typos(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

impl Drop for LexicalIndex {
    /// An index replaced by a new build takes its files with it once no search holds it.
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, dir = %self.dir.display(), "could not remove an old lexical index");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talent(n: u128, name: &str, headline: &str, about: &str) -> TalentText {
        TalentText {
            id: Uuid::from_u128(n),
            stage_name: name.into(),
            headline: headline.into(),
            about: about.into(),
        }
    }

    fn index() -> (tempfile_dir::Dir, LexicalIndex) {
        let dir = tempfile_dir::Dir::new();
        let index = LexicalIndex::create(&dir.path).expect("an index");
        (dir, index)
    }

    #[test]
    fn typos_count_a_swapped_pair_once() {
        assert_eq!(typos("smith", "smith"), 0);
        assert_eq!(typos("smith", "smyth"), 1);
        assert_eq!(typos("smith", "msith"), 1);
        assert_eq!(typos("smith", "smit"), 1);
        assert_eq!(typos("featherstonehaugh", "featherstonhaug"), 2);
        assert_eq!(typos("müller", "muller"), 1);
        assert_eq!(typos("", "abc"), 3);
    }

    #[test]
    fn planted_look_alikes_cannot_push_the_closest_words_out() {
        let (_dir, index) = index();
        // Hundreds of words two typos from "marchbanks", one word one typo from it.
        let mut talents: Vec<TalentText> = (0..26 * 26u128)
            .map(|n| {
                let a = (b'a' + (n % 26) as u8) as char;
                let b = (b'a' + (n / 26) as u8) as char;
                talent(n + 10, &format!("marchba{a}{b}s"), "", "")
            })
            .filter(|t| typos("marchbanks", &t.stage_name) == 2)
            .collect();
        assert!(talents.len() > MAX_EXPANSIONS, "{}", talents.len());
        talents.push(talent(1, "Ottoline Marchbank", "", ""));
        index.put(&talents, &[]).unwrap();
        let found = index.fuzzy(&["marchbanks".to_string()], 5).unwrap();
        assert_eq!(found[0], Uuid::from_u128(1));
    }

    #[test]
    fn a_copy_opens_with_the_same_answers_and_its_own_writer() {
        let (_dir, index) = index();
        index
            .put(
                &[
                    talent(1, "Ottoline Featherstonehaugh", "Character actor", ""),
                    talent(2, "Siobhan O'Sullivan", "Voice artist", "radio drama"),
                ],
                &[],
            )
            .unwrap();
        index
            .put(&[talent(3, "Ana Quist", "Zarzuela baritone", "")], &[])
            .unwrap();
        let copy = tempfile_dir::Dir::new();
        std::fs::create_dir_all(&copy.path).unwrap();
        assert_eq!(index.copy_to(&copy.path).unwrap(), 3);

        let opened = LexicalIndex::open(&copy.path).unwrap();
        assert_eq!(opened.len(), 3);
        let words = |q: &str| vec![q.to_string()];
        assert_eq!(
            opened.fuzzy(&words("featherstonhaugh"), 10).unwrap(),
            index.fuzzy(&words("featherstonhaugh"), 10).unwrap()
        );
        assert_eq!(opened.full_text("radio", 10).unwrap(), [Uuid::from_u128(2)]);
        // The copy is an index of its own: a change to it leaves the original alone.
        opened.put(&[], &[Uuid::from_u128(3)]).unwrap();
        assert_eq!(opened.len(), 2);
        assert_eq!(index.len(), 3);
        // A folder that is not an index is refused.
        let empty = tempfile_dir::Dir::new();
        std::fs::create_dir_all(&empty.path).unwrap();
        assert!(LexicalIndex::open(&empty.path).is_err());
    }

    mod tempfile_dir {
        pub struct Dir {
            pub path: std::path::PathBuf,
        }

        impl Dir {
            pub fn new() -> Dir {
                let path = std::env::temp_dir().join(format!("lexical-{}", uuid::Uuid::new_v4()));
                Dir { path }
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
    }

    #[test]
    fn each_list_finds_what_it_should() {
        let (_dir, index) = index();
        index
            .put(
                &[
                    talent(1, "John Smith", "Stage and screen actor", ""),
                    talent(
                        2,
                        "Kathrin Schmidt",
                        "Berlin actress",
                        "Detective Inspector in a period drama",
                    ),
                    talent(3, "Дмитрий Иванов", "Moscow theatre actor", ""),
                    talent(4, "Jonas Smithson", "Dancer", ""),
                ],
                &[],
            )
            .expect("indexed");
        let id = Uuid::from_u128;
        assert_eq!(index.full_text("John Smith", 10).ok(), Some(vec![id(1)]));
        assert_eq!(
            index.full_text("detectives in period dramas", 10).ok(),
            Some(vec![id(2)])
        );
        assert_eq!(index.fuzzy(&["smtih".into()], 10).ok(), Some(vec![id(1)]));
        assert_eq!(index.fuzzy(&["иванав".into()], 10).ok(), Some(vec![id(3)]));
        // Both words sound alike in John Smith; "Smyth" alone in Kathrin Schmidt (XMT).
        assert_eq!(
            index.phonetic(&["Jon".into(), "Smyth".into()], 10).ok(),
            Some(vec![id(1), id(2)])
        );
        // A renamed talent is found by the new name only.
        index
            .put(&[talent(1, "John Smythe-Jones", "", "")], &[])
            .expect("renamed");
        assert_eq!(index.full_text("John Smith", 10).ok(), Some(vec![]));
        assert_eq!(index.full_text("Jones", 10).ok(), Some(vec![id(1)]));
        assert_eq!(index.len(), 4);
        index.put(&[], &[id(4)]).expect("removed");
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn fuzzy_ranks_more_words_then_names_then_fewer_typos() {
        let (_dir, index) = index();
        index
            .put(
                &[
                    talent(1, "Maria Lopez", "Voice artist", ""),
                    talent(2, "Artist Lopes", "", ""),
                    talent(3, "Marie Lopez", "", ""),
                ],
                &[],
            )
            .expect("indexed");
        let id = Uuid::from_u128;
        // Both words, exact, in the name first; then both with a typo; then one word.
        assert_eq!(
            index.fuzzy(&["maria".into(), "lopez".into()], 10).ok(),
            Some(vec![id(1), id(3), id(2)])
        );
        // In the name ranks above only in the headline.
        assert_eq!(
            index.fuzzy(&["artist".into()], 10).ok(),
            Some(vec![id(2), id(1)])
        );
    }

    #[test]
    fn overlong_words_are_not_kept_or_looked_up() {
        let (_dir, index) = index();
        let long = "a".repeat(200);
        index
            .put(&[talent(1, &format!("Ann {long}"), "", "")], &[])
            .expect("indexed");
        assert_eq!(
            index.fuzzy(std::slice::from_ref(&long), 10).ok(),
            Some(vec![])
        );
        assert_eq!(index.full_text(&long, 10).ok(), Some(vec![]));
        assert_eq!(
            index.full_text("Ann", 10).ok(),
            Some(vec![Uuid::from_u128(1)])
        );
    }
}
