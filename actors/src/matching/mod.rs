//! `MatchIndex`: this instance's in-memory index of every talent's matching features and every
//! OPEN job (see `index`), loaded from the server's storage at start in pages and kept current
//! by the events that change a profile or a job. It also pushes newly published jobs to the
//! talents subscribed to their job feed here.
//!
//! It is a kept index (see `kept`): the shell subscribes, loads, applies changes in order and
//! reloads on failure; `Matching` says how to load, which changes an event asks for and how to
//! apply one. Readers (the feeds) go through a `MatchIndexHandle`, which reads the shared index
//! on a blocking thread: scoring never runs on the arbiter. Until the first load completes,
//! reads answer `IndexError::WarmingUp`.

pub mod index;

pub use crate::kept::{Crash, KeptStats, Rebuild};
pub use index::{
    After, DiscoverFilter, DiscoverQuery, JobEntry, JobRecord, Page, Shown, Size, TalentRecord,
};

use crate::events::{Event, Topic};
use crate::kept::{Kept, KeptIndex, KeptIndexActor};
use crate::relay::PortFuture;
use castyou_model::{Context as ScoreContext, ExchangeRates, Scored};
use chrono::Utc;
use index::Index;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// The actor that keeps the match index.
pub type MatchIndex<R> = KeptIndexActor<Matching<R>>;

/// What an event changed, for the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Talent profiles were created, changed or removed, or got new embeddings.
    Talents(Vec<Uuid>),
    /// A job changed status or content; `announce` when it was published or changed while
    /// open (its job-feed subscribers may hear of it).
    Job { id: Uuid, announce: bool },
}

/// Where the index reads from: the server's storage, and its event vocabulary.
pub trait MatchSource: Send + Sync + 'static {
    /// The server's own representation of a job, handed back with feed pages and pushes (the
    /// index never looks inside).
    type Row: Send + Sync + 'static;
    /// Up to `limit` talent profiles with ids after `after`, in id order.
    fn talents(&self, after: Option<Uuid>, limit: usize) -> PortFuture<Vec<TalentRecord>>;
    /// Up to `limit` OPEN jobs with ids after `after`, in id order.
    fn open_jobs(&self, after: Option<Uuid>, limit: usize)
        -> PortFuture<Vec<JobRecord<Self::Row>>>;
    /// These talent profiles as they now are (a profile gone is left out).
    fn talents_by_id(&self, ids: Vec<Uuid>) -> PortFuture<Vec<TalentRecord>>;
    /// One job if it is OPEN now.
    fn open_job(&self, id: Uuid) -> PortFuture<Option<JobRecord<Self::Row>>>;
    /// What an event on `Topic::Matching` changed, in order (empty: nothing the index holds).
    fn changes(&self, event: &Event) -> Vec<Change>;
}

/// Why a read could not be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexError {
    /// The index is still being built at start.
    WarmingUp,
    /// The talent has no profile in the index.
    NoProfile,
    /// The job is not (or no longer) indexed and no record of it was given: ask again with one.
    NotIndexed,
    /// The blocking thread failed (a bug: logged by the caller).
    Failed(String),
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexError::WarmingUp => f.write_str("the match index is still being built"),
            IndexError::NoProfile => f.write_str("no talent profile"),
            IndexError::NotIndexed => f.write_str("the job is not in the match index"),
            IndexError::Failed(e) => write!(f, "match index read failed: {e}"),
        }
    }
}

impl std::error::Error for IndexError {}

/// A job pushed to a job-feed subscriber.
pub struct Pushed<R> {
    pub job: Arc<JobEntry<R>>,
    pub scored: Scored,
}

/// What `/readyz` and `/metrics` report.
#[derive(Debug, Clone, Default)]
pub struct IndexStats {
    /// What every kept index reports (built, builds, events applied, ...).
    pub kept: KeptStats,
    pub size: Size,
    pub watchers: usize,
    /// Whole rankings computed since the start (cache misses; concurrent identical asks share one).
    pub rankings_computed: u64,
}

struct Watcher<R> {
    talent: Uuid,
    min_score: f32,
    tx: mpsc::Sender<Pushed<R>>,
    /// Jobs already pushed: each at most once.
    pushed: HashSet<Uuid>,
}

struct Watchers<R> {
    next: u64,
    by_id: HashMap<u64, Watcher<R>>,
}

impl<R> Default for Watchers<R> {
    fn default() -> Self {
        Watchers {
            next: 0,
            by_id: HashMap::new(),
        }
    }
}

/// Rankings under way, one lock per job and fingerprint: a second ask for a ranking being
/// computed waits for it and then reads it from the cache instead of ranking every talent again.
#[derive(Default)]
struct Flights(Mutex<FlightMap>);

/// A ranking's job and fingerprint, and the lock its computation holds.
type FlightMap = HashMap<(Uuid, u64), Arc<tokio::sync::Mutex<()>>>;

/// Holds a flight's lock; the last one out removes the flight.
struct Flight {
    flights: Arc<Flights>,
    key: (Uuid, u64),
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Flights {
    fn map(&self) -> std::sync::MutexGuard<'_, FlightMap> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn enter(self: &Arc<Self>, key: (Uuid, u64)) -> Flight {
        let lock = Arc::clone(self.map().entry(key).or_default());
        let guard = Arc::clone(&lock).lock_owned().await;
        Flight {
            flights: Arc::clone(self),
            key,
            lock,
            guard: Some(guard),
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.flights.map();
        // Only the map's and this flight's handles left: nobody waits.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::ptr_eq(l, &self.lock) && Arc::strong_count(l) <= 2)
        {
            map.remove(&self.key);
        }
    }
}

/// The match index as a kept index: what it holds besides its data (the exchange rates it
/// scores with, the job-feed watchers, the rankings under way), and how it loads and changes.
pub struct Matching<R> {
    rates: Arc<ExchangeRates>,
    max_rankings: usize,
    watchers: Mutex<Watchers<R>>,
    flights: Arc<Flights>,
    rankings_computed: AtomicU64,
}

impl<R> Matching<R> {
    fn watchers(&self) -> std::sync::MutexGuard<'_, Watchers<R>> {
        self.watchers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn context(&self) -> ScoreContext<'_> {
        ScoreContext {
            rates: &self.rates,
            today: Utc::now().date_naive(),
        }
    }
}

impl<R: Send + Sync + 'static> KeptIndex for Matching<R> {
    type Data = Index<R>;
    type Change = Change;
    type Source = dyn MatchSource<Row = R>;
    const NAME: &'static str = "match index";
    const TOPIC: Topic = Topic::Matching;

    fn load(self: &Arc<Self>, source: &Arc<Self::Source>, batch: usize) -> PortFuture<Index<R>> {
        Box::pin(build(Arc::clone(self), Arc::clone(source), batch))
    }

    fn changes(source: &Self::Source, event: &Event) -> Vec<Change> {
        source.changes(event)
    }

    fn apply(
        self: &Arc<Self>,
        source: &Arc<Self::Source>,
        kept: &Arc<Kept<Self>>,
        change: Change,
    ) -> PortFuture<bool> {
        let (matching, source, kept) = (Arc::clone(self), Arc::clone(source), Arc::clone(kept));
        Box::pin(async move {
            let record = match &change {
                Change::Talents(ids) => Record::Talents(source.talents_by_id(ids.clone()).await?),
                Change::Job { id, .. } => Record::Job(source.open_job(*id).await?.map(Box::new)),
            };
            tokio::task::spawn_blocking(move || apply(&matching, &kept, change, record)).await?;
            Ok(false)
        })
    }
}

/// The readers' side of the index: cheap to clone, usable from any thread.
pub struct MatchIndexHandle<R: Send + Sync + 'static> {
    matching: Arc<Matching<R>>,
    kept: Arc<Kept<Matching<R>>>,
}

impl<R: Send + Sync + 'static> Clone for MatchIndexHandle<R> {
    fn clone(&self) -> Self {
        MatchIndexHandle {
            matching: Arc::clone(&self.matching),
            kept: Arc::clone(&self.kept),
        }
    }
}

/// A job-feed subscription: matching jobs arrive on `matches`; dropping it unsubscribes.
pub struct Watch<R> {
    pub matches: mpsc::Receiver<Pushed<R>>,
    id: u64,
    matching: Arc<Matching<R>>,
}

impl<R> Drop for Watch<R> {
    fn drop(&mut self) {
        self.matching.watchers().by_id.remove(&self.id);
    }
}

impl<R: Send + Sync + 'static> MatchIndexHandle<R> {
    /// An empty, unbuilt index caching at most `max_rankings` jobs' rankings.
    pub fn new(rates: Arc<ExchangeRates>, max_rankings: usize) -> MatchIndexHandle<R> {
        MatchIndexHandle {
            matching: Arc::new(Matching {
                rates,
                max_rankings,
                watchers: Mutex::new(Watchers::default()),
                flights: Arc::default(),
                rankings_computed: AtomicU64::new(0),
            }),
            kept: Kept::new(),
        }
    }

    /// The actor that loads this index from `source` in pages of `batch` and keeps it current
    /// with the changes `hub` carries.
    pub fn keeper(
        &self,
        source: Arc<dyn MatchSource<Row = R>>,
        hub: actix::Addr<crate::NotificationHub>,
        batch: usize,
    ) -> MatchIndex<R> {
        KeptIndexActor::new(
            Arc::clone(&self.matching),
            source,
            Arc::clone(&self.kept),
            hub,
            batch,
        )
    }

    pub fn is_built(&self) -> bool {
        self.kept.is_built()
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            kept: self.kept.stats(),
            size: self
                .kept
                .read()
                .as_ref()
                .map(Index::size)
                .unwrap_or_default(),
            watchers: self.matching.watchers().by_id.len(),
            rankings_computed: self.matching.rankings_computed.load(Ordering::Relaxed),
        }
    }

    /// Runs `read` on the index on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Matching<R>, &Index<R>) -> Result<T, IndexError> + Send + 'static,
    ) -> Result<T, IndexError> {
        if !self.is_built() {
            return Err(IndexError::WarmingUp);
        }
        let (matching, kept) = (Arc::clone(&self.matching), Arc::clone(&self.kept));
        tokio::task::spawn_blocking(move || match kept.read().as_ref() {
            Some(index) => read(&matching, index),
            None => Err(IndexError::WarmingUp),
        })
        .await
        .map_err(|e| IndexError::Failed(e.to_string()))?
    }

    /// Waits, at most `within`, until the index has applied the change recorded at outbox
    /// position `seq` (or a later one): whether it has. A user who changed something the index
    /// holds reads it back this way on any instance.
    pub async fn applied_through(&self, seq: i64, within: Duration) -> bool {
        self.kept.applied_through(seq, within).await
    }

    /// The indexed entry of an OPEN job, if the index holds it.
    pub fn job(&self, id: Uuid) -> Option<Arc<JobEntry<R>>> {
        self.kept.read().as_ref()?.job(id).cloned()
    }

    /// A page of talents ranked for a job: the indexed job when `id` is OPEN and indexed
    /// (its ranking cached), else `fallback` (a job that is not open), ranked afresh; without
    /// a fallback for a job that is not indexed, `NotIndexed`.
    pub async fn discover(
        &self,
        id: Uuid,
        fallback: Option<JobRecord<R>>,
        query: DiscoverQuery,
    ) -> Result<Page<R>, IndexError> {
        let (job, cached) = {
            let guard = self.kept.read();
            let index = guard.as_ref().ok_or(IndexError::WarmingUp)?;
            let job = match (index.job(id), fallback) {
                (Some(job), _) => Arc::clone(job),
                (None, Some(fallback)) => Arc::new(JobEntry::new(fallback)),
                (None, None) => return Err(IndexError::NotIndexed),
            };
            let cached = index.has_ranking(&job, &self.matching.context());
            (job, cached)
        };
        // Identical rankings asked at once share one computation.
        let _flight = match cached {
            true => None,
            false => Some(self.matching.flights.enter((id, job.fingerprint)).await),
        };
        self.blocking(move |matching, index| {
            let (page, prepared) = index.discover(&job, &query, &matching.context());
            if let Some(prepared) = prepared {
                matching.rankings_computed.fetch_add(1, Ordering::Relaxed);
                index.keep(prepared);
            }
            Ok(page)
        })
        .await
    }

    /// A page of OPEN jobs (deadline after now) ranked for `talent`.
    pub async fn job_feed(
        &self,
        talent: Uuid,
        after: Option<After>,
        first: usize,
        count_total: bool,
    ) -> Result<Page<R>, IndexError> {
        self.blocking(move |matching, index| {
            index
                .job_feed(
                    talent,
                    after,
                    first,
                    count_total,
                    Utc::now(),
                    &matching.context(),
                )
                .ok_or(IndexError::NoProfile)
        })
        .await
    }

    /// Subscribes `talent` to jobs published (or changed while open) from now on that score
    /// at least `min_score` for them, each job at most once; up to `capacity` wait unread
    /// (more are dropped for this subscriber, who can read the job feed).
    pub fn watch(&self, talent: Uuid, min_score: f32, capacity: usize) -> Watch<R> {
        let (tx, matches) = mpsc::channel(capacity.max(1));
        let mut watchers = self.matching.watchers();
        watchers.next += 1;
        let id = watchers.next;
        watchers.by_id.insert(
            id,
            Watcher {
                talent,
                min_score,
                tx,
                pushed: HashSet::new(),
            },
        );
        Watch {
            matches,
            id,
            matching: Arc::clone(&self.matching),
        }
    }
}

enum Record<R> {
    Talents(Vec<TalentRecord>),
    Job(Option<Box<JobRecord<R>>>),
}

/// Applies one change (blocking: features are built and scores computed here).
fn apply<R: Send + Sync + 'static>(
    matching: &Matching<R>,
    kept: &Kept<Matching<R>>,
    change: Change,
    record: Record<R>,
) {
    let ctx = matching.context();
    match (change, record) {
        (Change::Talents(ids), Record::Talents(records)) => {
            let mut found: HashMap<_, _> = records
                .iter()
                .map(|r| (r.id, index::talent_features(r)))
                .collect();
            if let Some(index) = kept.write().as_mut() {
                for id in ids {
                    index.put_talent(id, found.remove(&id), &ctx);
                }
            }
        }
        (Change::Job { id, announce }, Record::Job(record)) => {
            let entry = record.map(|r| JobEntry::new(*r));
            let job = kept.write().as_mut().and_then(|index| {
                index.put_job(id, entry);
                index.job(id).cloned()
            });
            if let (true, Some(job)) = (announce, job) {
                push(matching, kept, &job, &ctx);
            }
        }
        _ => {}
    }
}

/// Pushes `job` to the watchers it matches well enough and who have not had it yet.
fn push<R: Send + Sync + 'static>(
    matching: &Matching<R>,
    kept: &Kept<Matching<R>>,
    job: &Arc<JobEntry<R>>,
    ctx: &ScoreContext,
) {
    let waiting: Vec<(u64, Uuid, f32)> = matching
        .watchers()
        .by_id
        .iter()
        .filter(|(_, w)| !w.pushed.contains(&job.id))
        .map(|(id, w)| (*id, w.talent, w.min_score))
        .collect();
    if waiting.is_empty() {
        return;
    }
    let asks: Vec<(Uuid, f32)> = waiting.iter().map(|(_, t, m)| (*t, *m)).collect();
    let Some(announced) = kept.read().as_ref().map(|i| i.announce(job, &asks, ctx)) else {
        return;
    };
    let mut watchers = matching.watchers();
    for (position, scored) in announced {
        let Some(w) = watchers.by_id.get_mut(&waiting[position].0) else {
            continue;
        };
        if w.pushed.insert(job.id) {
            let _ = w.tx.try_send(Pushed {
                job: Arc::clone(job),
                scored,
            });
        }
    }
}

/// Reads every talent and OPEN job, `batch` at a time, into a new index.
async fn build<R: Send + Sync + 'static>(
    matching: Arc<Matching<R>>,
    source: Arc<dyn MatchSource<Row = R>>,
    batch: usize,
) -> anyhow::Result<Index<R>> {
    let mut index = Index::new(matching.max_rankings);
    let mut after = None;
    loop {
        let records = source.talents(after, batch).await?;
        let Some(last) = records.last() else { break };
        after = Some(last.id);
        let full = records.len() == batch;
        let m = Arc::clone(&matching);
        index = tokio::task::spawn_blocking(move || {
            let ctx = m.context();
            for r in &records {
                index.put_talent(r.id, Some(index::talent_features(r)), &ctx);
            }
            index
        })
        .await?;
        if !full {
            break;
        }
    }
    let mut after = None;
    loop {
        let records = source.open_jobs(after, batch).await?;
        let Some(last) = records.last() else { break };
        after = Some(last.id);
        let full = records.len() == batch;
        index = tokio::task::spawn_blocking(move || {
            for r in records {
                index.put_job(r.id, Some(JobEntry::new(r)));
            }
            index
        })
        .await?;
        if !full {
            break;
        }
    }
    let size = index.size();
    tracing::info!(
        talents = size.talents,
        jobs = size.jobs,
        talent_bytes = size.talent_bytes,
        "match index loaded"
    );
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> JobRecord<()> {
        JobRecord {
            id: Uuid::from_u128(1),
            input: castyou_model::JobInput::default(),
            weights: castyou_model::Weights::default(),
            application_deadline: Utc::now() + chrono::Duration::days(1),
            row: Arc::new(()),
        }
    }

    #[tokio::test]
    async fn reads_before_the_first_load_say_warming_up_instead_of_answering_empty() {
        let handle = MatchIndexHandle::new(Arc::new(ExchangeRates::base_only("USD")), 4);
        assert!(!handle.is_built());
        let discover = handle
            .discover(Uuid::from_u128(1), Some(record()), DiscoverQuery::default())
            .await;
        assert!(matches!(discover, Err(IndexError::WarmingUp)));
        let feed = handle.job_feed(Uuid::from_u128(2), None, 20, false).await;
        assert!(matches!(feed, Err(IndexError::WarmingUp)));
        assert!(!handle.stats().kept.built);
    }
}
