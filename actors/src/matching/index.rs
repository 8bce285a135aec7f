//! The in-memory match index: every talent's compact features, every OPEN job's features and
//! weights, and a bounded cache of whole rankings kept exact by the changes applied to it.
//! Plain data, no actor and no I/O: the `MatchIndex` actor owns one behind a lock and readers
//! query it from blocking threads.
//!
//! Order everywhere: score descending, then id ascending (talent ids in a discover ranking, job
//! ids in a job feed). A cursor is a position in that order, `(score, id)`: the next page
//! starts strictly after it, so a talent whose score did not change between two pages is
//! neither repeated nor skipped, whatever else moved.

use castyou_model::{
    self as model, Code, Context, JobFeatures, Scored, TalentFeatures, TalentInput, Weights,
};
use castyou_vocab::UnionStatus;
use chrono::{DateTime, NaiveDate, Utc};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

/// A talent profile as the index needs it (the server builds it from its row).
#[derive(Debug, Clone)]
pub struct TalentRecord {
    pub id: Uuid,
    pub input: TalentInput,
    /// For `DiscoverFilter.unionStatus`.
    pub union_status: UnionStatus,
}

/// An OPEN job as the index needs it, with `R`, the server's own representation of the job.
pub struct JobRecord<R> {
    pub id: Uuid,
    pub input: model::JobInput,
    pub weights: Weights,
    pub application_deadline: DateTime<Utc>,
    /// The server's row, handed back with feed pages and pushes so they need no further
    /// query. The index never looks inside.
    pub row: Arc<R>,
}

impl<R> Clone for JobRecord<R> {
    fn clone(&self) -> Self {
        JobRecord {
            id: self.id,
            input: self.input.clone(),
            weights: self.weights,
            application_deadline: self.application_deadline,
            row: Arc::clone(&self.row),
        }
    }
}

/// A job held by the index.
pub struct JobEntry<R> {
    pub id: Uuid,
    pub features: JobFeatures,
    pub weights: Weights,
    pub application_deadline: DateTime<Utc>,
    pub row: Arc<R>,
    /// A hash of everything the job is ranked by (its model input and weights): two entries
    /// with the same fingerprint rank every talent the same.
    pub fingerprint: u64,
}

impl<R> JobEntry<R> {
    pub fn new(record: JobRecord<R>) -> JobEntry<R> {
        JobEntry {
            id: record.id,
            features: JobFeatures::new(&record.input),
            weights: record.weights,
            application_deadline: record.application_deadline,
            fingerprint: fingerprint(&record.input, &record.weights),
            row: record.row,
        }
    }
}

/// What a job is ranked by, hashed: the model input (its vector by bits) and the weights.
fn fingerprint(input: &model::JobInput, weights: &Weights) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let without_vector = model::JobInput {
        vector: None,
        ..input.clone()
    };
    match serde_json::to_vec(&without_vector) {
        Ok(bytes) => bytes.hash(&mut h),
        // Not expected (plain data); a unique value keeps such a job from sharing a ranking.
        Err(_) => Uuid::new_v4().hash(&mut h),
    }
    for x in input.vector.iter().flatten() {
        x.to_bits().hash(&mut h);
    }
    for (_, w) in weights.iter() {
        w.to_bits().hash(&mut h);
    }
    h.finish()
}

/// A talent held by the index; `features` is None once the profile is gone (the slot stays so
/// positions in cached rankings never shift).
struct TalentSlot {
    features: Option<TalentFeatures>,
    country: Option<Code>,
    /// None once the profile is gone.
    union_status: Option<UnionStatus>,
}

/// One position of a ranking: a score and the talent's slot.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ranked {
    score: f32,
    slot: u32,
}

/// A job's whole ranking over every talent, best first.
struct Ranking<R> {
    /// The job as it was ranked (an OPEN job's indexed entry, or a draft's): talent changes
    /// are scored against it.
    job: Arc<JobEntry<R>>,
    day: NaiveDate,
    entries: Vec<Ranked>,
    last_used: AtomicU64,
}

impl<R> Clone for Ranking<R> {
    fn clone(&self) -> Ranking<R> {
        Ranking {
            job: Arc::clone(&self.job),
            day: self.day,
            entries: self.entries.clone(),
            last_used: AtomicU64::new(self.last_used.load(AtomicOrdering::Relaxed)),
        }
    }
}

type Rankings<R> = HashMap<Uuid, Arc<Ranking<R>>>;

/// A ranking computed under the read lock, to be cached under the write lock (`Index::keep`).
pub struct Prepared<R> {
    job: Arc<JobEntry<R>>,
    generation: u64,
    day: NaiveDate,
    entries: Vec<Ranked>,
}

/// What a discover page asks for.
#[derive(Debug, Clone, Default)]
pub struct DiscoverQuery {
    pub filter: DiscoverFilter,
    pub after: Option<After>,
    pub first: usize,
    /// Count every talent that passes the filter (walks the ranking).
    pub count_total: bool,
}

/// Where a page starts: after this score and id, in the feed's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct After {
    pub score: f32,
    pub id: Uuid,
}

/// Which talents a discover page may show.
#[derive(Debug, Clone, Default)]
pub struct DiscoverFilter {
    pub min_score: Option<f32>,
    pub country: Option<Code>,
    pub union_status: Option<UnionStatus>,
    /// Talents left out (the job's applicants, when asked).
    pub exclude: HashSet<Uuid>,
}

/// One talent or job shown, with its full breakdown.
pub struct Shown {
    pub id: Uuid,
    pub scored: Scored,
    /// 1-based position in the job's whole ranking, before filters (discover pages only).
    pub rank: Option<usize>,
}

/// A page of a feed.
pub struct Page<R> {
    pub items: Vec<Shown>,
    pub has_next: bool,
    /// How many pass the filter in all (only when asked: it walks the whole ranking).
    pub total: Option<usize>,
    /// For a job feed, the jobs shown, in order (their server rows).
    pub jobs: Vec<Arc<JobEntry<R>>>,
}

/// What the index holds, in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Size {
    pub talents: usize,
    pub jobs: usize,
    pub cached_rankings: usize,
    /// Bytes of talent features and their slots (not counting cached rankings).
    pub talent_bytes: usize,
    pub ranking_bytes: usize,
}

pub struct Index<R> {
    ids: Vec<Uuid>,
    slots: Vec<TalentSlot>,
    by_id: HashMap<Uuid, u32>,
    live: usize,
    jobs: HashMap<Uuid, Arc<JobEntry<R>>>,
    /// Cached rankings. Readers (holding the index's read lock) look up and add under this
    /// mutex briefly; talent and job changes (holding the write lock) edit them in place.
    rankings: Mutex<Rankings<R>>,
    max_rankings: usize,
    clock: AtomicU64,
    /// Bumped by every talent change: a ranking prepared before one is not cached.
    generation: u64,
}

/// Below this many talents a ranking is scored on one thread.
const PARALLEL_FROM: usize = 8192;

fn by_score_then_id(a_score: f32, a_id: &Uuid, b_score: f32, b_id: &Uuid) -> Ordering {
    b_score.total_cmp(&a_score).then_with(|| a_id.cmp(b_id))
}

impl<R: Send + Sync> Index<R> {
    /// An empty index caching at most `max_rankings` jobs' rankings.
    pub fn new(max_rankings: usize) -> Index<R> {
        Index {
            ids: Vec::new(),
            slots: Vec::new(),
            by_id: HashMap::new(),
            live: 0,
            jobs: HashMap::new(),
            rankings: Mutex::new(HashMap::new()),
            max_rankings,
            clock: AtomicU64::new(0),
            generation: 0,
        }
    }

    fn rankings(&self) -> std::sync::MutexGuard<'_, Rankings<R>> {
        self.rankings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn size(&self) -> Size {
        let rankings = self.rankings();
        let talent_bytes = self
            .slots
            .iter()
            .map(|s| {
                std::mem::size_of::<TalentSlot>()
                    + s.features.as_ref().map_or(0, TalentFeatures::heap_bytes)
            })
            .sum::<usize>()
            + self.ids.capacity() * std::mem::size_of::<Uuid>()
            // A hash map entry: key, value and a control byte, at the table's load factor.
            + self.by_id.capacity() * (std::mem::size_of::<(Uuid, u32)>() + 1);
        Size {
            talents: self.live,
            jobs: self.jobs.len(),
            cached_rankings: rankings.len(),
            talent_bytes,
            ranking_bytes: rankings
                .values()
                .map(|r| r.entries.capacity() * std::mem::size_of::<Ranked>())
                .sum(),
        }
    }

    pub fn job(&self, id: Uuid) -> Option<&Arc<JobEntry<R>>> {
        self.jobs.get(&id)
    }

    pub fn has_talent(&self, id: Uuid) -> bool {
        self.talent(id).is_some()
    }

    fn talent(&self, id: Uuid) -> Option<&TalentFeatures> {
        let slot = *self.by_id.get(&id)?;
        self.slots[slot as usize].features.as_ref()
    }

    /// Adds or replaces a talent (None: the profile is gone). Every cached ranking moves the
    /// talent to its new place, so cached rankings stay exactly what a fresh one would be.
    pub fn put_talent(
        &mut self,
        id: Uuid,
        record: Option<(TalentFeatures, UnionStatus)>,
        ctx: &Context,
    ) {
        let slot = match self.by_id.get(&id) {
            Some(&slot) => slot,
            None if record.is_none() => return,
            None => {
                let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.ids.push(id);
                self.slots.push(TalentSlot {
                    features: None,
                    country: None,
                    union_status: None,
                });
                self.by_id.insert(id, slot);
                slot
            }
        };
        let (features, union_status) = match record {
            Some((f, u)) => (Some(f), Some(u)),
            None => (None, None),
        };
        self.generation += 1;
        let old = &self.slots[slot as usize].features;
        let rankings = self
            .rankings
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for ranking in rankings.values_mut() {
            // No reader holds a ranking while the index is locked for writing: no copy is made.
            let ranking = Arc::make_mut(ranking);
            let job = Arc::clone(&ranking.job);
            let score_of =
                |t: &TalentFeatures| model::score_total(t, &job.features, &job.weights, ctx);
            let ids = &self.ids;
            let place = |entries: &[Ranked], score: f32| {
                entries.partition_point(|r| {
                    by_score_then_id(r.score, &ids[r.slot as usize], score, &id) == Ordering::Less
                })
            };
            if let Some(old) = old {
                let score = score_of(old);
                let at = place(&ranking.entries, score);
                if ranking.entries.get(at).map(|r| r.slot) == Some(slot) {
                    ranking.entries.remove(at);
                }
            }
            if let Some(new) = &features {
                let score = score_of(new);
                let at = place(&ranking.entries, score);
                ranking.entries.insert(at, Ranked { score, slot });
            }
        }
        let country = features.as_ref().and_then(TalentFeatures::location_country);
        let s = &mut self.slots[slot as usize];
        match (s.features.is_some(), features.is_some()) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        *s = TalentSlot {
            features,
            country,
            union_status,
        };
    }

    /// Adds or replaces an OPEN job (None: it is no longer open). Its cached ranking, if any,
    /// is dropped: the next page ranks afresh.
    pub fn put_job(&mut self, id: Uuid, entry: Option<JobEntry<R>>) {
        self.rankings
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        match entry {
            Some(entry) => {
                self.jobs.insert(id, Arc::new(entry));
            }
            None => {
                self.jobs.remove(&id);
            }
        }
    }

    /// Every live talent scored against `job`, best first. Large indexes are scored on every
    /// core (the caller is a blocking thread already).
    fn rank(&self, job: &JobEntry<R>, ctx: &Context) -> Vec<Ranked> {
        let score_part = |first: usize, part: &[TalentSlot]| -> Vec<Ranked> {
            part.iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let t = s.features.as_ref()?;
                    Some(Ranked {
                        score: model::score_total(t, &job.features, &job.weights, ctx),
                        slot: u32::try_from(first + i).ok()?,
                    })
                })
                .collect()
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let chunk = self.slots.len().div_ceil(threads).max(PARALLEL_FROM);
        let mut entries: Vec<Ranked> = if self.slots.len() > chunk {
            std::thread::scope(|scope| {
                let parts: Vec<_> = self
                    .slots
                    .chunks(chunk)
                    .enumerate()
                    .map(|(n, part)| scope.spawn(move || score_part(n * chunk, part)))
                    .collect();
                let mut all = Vec::with_capacity(self.live);
                for part in parts {
                    // A panicking part panics here too: the caller's thread reports it.
                    match part.join() {
                        Ok(ranked) => all.extend(ranked),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                all
            })
        } else {
            score_part(0, &self.slots)
        };
        let ids = &self.ids;
        entries.sort_unstable_by(|a, b| {
            by_score_then_id(
                a.score,
                &ids[a.slot as usize],
                b.score,
                &ids[b.slot as usize],
            )
        });
        entries
    }

    /// Whether a ranking of `job` is cached for today (`discover` would not rank).
    pub fn has_ranking(&self, job: &JobEntry<R>, ctx: &Context) -> bool {
        self.rankings()
            .get(&job.id)
            .is_some_and(|r| r.day == ctx.today && r.job.fingerprint == job.fingerprint)
    }

    /// A page of talents for `job`: an OPEN job's indexed entry, or the entry of a job the
    /// index does not hold (a draft, a closed job) built by the caller. The ranking is read
    /// from the cache when it holds one for today of a job ranked by the same things (its
    /// fingerprint); otherwise the job is ranked now and the fresh ranking is returned too,
    /// for the caller to `keep` (under the read lock, briefly).
    pub fn discover(
        &self,
        job: &Arc<JobEntry<R>>,
        query: &DiscoverQuery,
        ctx: &Context,
    ) -> (Page<R>, Option<Prepared<R>>) {
        let cached = self
            .rankings()
            .get(&job.id)
            .filter(|r| r.day == ctx.today && r.job.fingerprint == job.fingerprint)
            .cloned();
        if let Some(r) = cached {
            r.last_used.store(
                self.clock.fetch_add(1, AtomicOrdering::Relaxed),
                AtomicOrdering::Relaxed,
            );
            return (self.page(&r.entries, job, query, ctx), None);
        }
        let entries = self.rank(job, ctx);
        let page = self.page(&entries, job, query, ctx);
        let prepared = Prepared {
            job: Arc::clone(job),
            generation: self.generation,
            day: ctx.today,
            entries,
        };
        (page, Some(prepared))
    }

    /// Caches a ranking `discover` prepared, unless a talent or the job changed since (then
    /// the next page ranks afresh); the least recently used ranking goes past the cap. Needs
    /// only the read lock, so no reader waits behind it.
    pub fn keep(&self, prepared: Prepared<R>) {
        // An indexed job's ranking is kept only for its current entry; a job the index does
        // not hold (a draft) only while it still does not.
        let current = match self.jobs.get(&prepared.job.id) {
            Some(j) => Arc::ptr_eq(j, &prepared.job),
            None => true,
        };
        if !current || prepared.generation != self.generation || self.max_rankings == 0 {
            return;
        }
        let mut rankings = self.rankings();
        rankings.remove(&prepared.job.id);
        while rankings.len() >= self.max_rankings {
            let Some(oldest) = rankings
                .iter()
                .min_by_key(|(_, r)| r.last_used.load(AtomicOrdering::Relaxed))
                .map(|(id, _)| *id)
            else {
                break;
            };
            rankings.remove(&oldest);
        }
        let used = self.clock.fetch_add(1, AtomicOrdering::Relaxed);
        rankings.insert(
            prepared.job.id,
            Arc::new(Ranking {
                job: Arc::clone(&prepared.job),
                day: prepared.day,
                entries: prepared.entries,
                last_used: AtomicU64::new(used),
            }),
        );
    }

    fn page(
        &self,
        entries: &[Ranked],
        job: &JobEntry<R>,
        q: &DiscoverQuery,
        ctx: &Context,
    ) -> Page<R> {
        let ids = &self.ids;
        let filter = &q.filter;
        let start = q.after.map_or(0, |a| {
            entries.partition_point(|r| {
                by_score_then_id(r.score, &ids[r.slot as usize], a.score, &a.id)
                    != Ordering::Greater
            })
        });
        let passes = |r: &Ranked| {
            let slot = &self.slots[r.slot as usize];
            (filter.country.is_none() || slot.country == filter.country)
                && filter
                    .union_status
                    .is_none_or(|u| slot.union_status == Some(u))
                && !filter.exclude.contains(&ids[r.slot as usize])
        };
        // Ranked best first: everything from the first score under the minimum is out.
        let end = filter.min_score.map_or(entries.len(), |min| {
            entries.partition_point(|r| r.score >= min)
        });
        let mut items = Vec::with_capacity(q.first);
        let mut has_next = false;
        for (offset, r) in entries
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if !passes(r) {
                continue;
            }
            if items.len() == q.first {
                has_next = true;
                break;
            }
            let Some(t) = self.slots[r.slot as usize].features.as_ref() else {
                continue;
            };
            items.push(Shown {
                id: ids[r.slot as usize],
                scored: model::score(t, &job.features, &job.weights, ctx),
                rank: Some(start + offset + 1),
            });
        }
        let total = q.count_total.then(|| {
            let filtered = filter.country.is_some()
                || filter.union_status.is_some()
                || !filter.exclude.is_empty();
            if filtered {
                entries[..end].iter().filter(|r| passes(r)).count()
            } else {
                end
            }
        });
        Page {
            items,
            has_next,
            total,
            jobs: Vec::new(),
        }
    }

    /// A page of OPEN jobs whose deadline is after `now`, ranked for `talent`; None when the
    /// talent has no profile in the index.
    pub fn job_feed(
        &self,
        talent: Uuid,
        after: Option<After>,
        first: usize,
        count_total: bool,
        now: DateTime<Utc>,
        ctx: &Context,
    ) -> Option<Page<R>> {
        let t = self.talent(talent)?;
        let mut ranked: Vec<(f32, &Arc<JobEntry<R>>)> = self
            .jobs
            .values()
            .filter(|j| j.application_deadline > now)
            .map(|j| (model::score_total(t, &j.features, &j.weights, ctx), j))
            .filter(|(score, j)| {
                after.is_none_or(|a| {
                    by_score_then_id(*score, &j.id, a.score, &a.id) == Ordering::Greater
                })
            })
            .collect();
        let total = count_total.then_some(ranked.len());
        let take = first.saturating_add(1).min(ranked.len());
        let cmp = |a: &(f32, &Arc<JobEntry<R>>), b: &(f32, &Arc<JobEntry<R>>)| {
            by_score_then_id(a.0, &a.1.id, b.0, &b.1.id)
        };
        if take > 0 && take < ranked.len() {
            ranked.select_nth_unstable_by(take - 1, cmp);
            ranked.truncate(take);
        }
        ranked.sort_unstable_by(cmp);
        let has_next = ranked.len() > first;
        ranked.truncate(first);
        let jobs: Vec<Arc<JobEntry<R>>> = ranked.iter().map(|(_, j)| Arc::clone(j)).collect();
        let items = jobs
            .iter()
            .map(|j| Shown {
                id: j.id,
                scored: model::score(t, &j.features, &j.weights, ctx),
                rank: None,
            })
            .collect();
        // A count that counts the jobs before the cursor too.
        let total = total.map(|after_cursor| match after {
            None => after_cursor,
            Some(_) => self
                .jobs
                .values()
                .filter(|j| j.application_deadline > now)
                .count(),
        });
        Some(Page {
            items,
            has_next,
            total,
            jobs,
        })
    }

    /// Which of `asks` (talent, minimum score) `job` scores at least the minimum for: their
    /// positions in `asks`, with the breakdown.
    pub fn announce(
        &self,
        job: &JobEntry<R>,
        asks: &[(Uuid, f32)],
        ctx: &Context,
    ) -> Vec<(usize, Scored)> {
        asks.iter()
            .enumerate()
            .filter_map(|(position, &(talent, min))| {
                let t = self.talent(talent)?;
                let total = model::score_total(t, &job.features, &job.weights, ctx);
                (total >= min)
                    .then(|| (position, model::score(t, &job.features, &job.weights, ctx)))
            })
            .collect()
    }
}

/// Features of a talent record (the CPU part of loading; run off the async threads).
pub fn talent_features(record: &TalentRecord) -> (TalentFeatures, UnionStatus) {
    (TalentFeatures::new(&record.input), record.union_status)
}

#[cfg(test)]
mod tests;
