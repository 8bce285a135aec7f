//! `MatchIndex`: this instance's in-memory index of every talent's matching features and every
//! OPEN job (see `index`), loaded from the server's storage at start in pages and kept current
//! by the events that change a profile or a job. It also pushes newly published jobs to the
//! talents subscribed to their job feed here.
//!
//! The actor only writes: it subscribes to `Topic::Matching` on the hub, asks the port for the
//! changed record and applies it. Readers (the feeds) go through a `MatchIndexHandle`, which
//! reads the shared index on a blocking thread: scoring never runs on the arbiter.
//!
//! Until the first load completes, reads answer `IndexError::WarmingUp`. A lost subscription
//! (the hub cut the actor off, or restarted) or a failed change reloads everything while the
//! previous index keeps answering; so does a supervised restart.

pub mod index;

pub use index::{
    After, DiscoverFilter, DiscoverQuery, JobEntry, JobRecord, Page, Shown, Size, TalentRecord,
};

use crate::events::{Event, Topic};
use crate::hub::{NotificationHub, Subscribe, Unsubscribe};
use crate::relay::PortFuture;
use actix::prelude::*;
use castyou_model::{Context as ScoreContext, ExchangeRates, Scored};
use chrono::{DateTime, Utc};
use index::Index;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

/// How many events may wait for the index before the hub cuts it off (then it reloads).
const EVENT_QUEUE: usize = 65_536;

/// How long to wait before retrying a failed load or change.
const RETRY: Duration = Duration::from_secs(2);

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
    pub built: bool,
    pub size: Size,
    pub last_event_seq: Option<i64>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub events_applied: u64,
    pub last_build: Option<Duration>,
    pub built_at: Option<DateTime<Utc>>,
    pub builds: u64,
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

struct Shared<R> {
    index: RwLock<Index<R>>,
    built: AtomicBool,
    rates: Arc<ExchangeRates>,
    stats: Mutex<IndexStats>,
    watchers: Mutex<Watchers<R>>,
    flights: Arc<Flights>,
    /// The outbox position of the last change applied (for readers waiting on their writes).
    applied: tokio::sync::watch::Sender<i64>,
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

impl<R> Shared<R> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index<R>> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index<R>> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }
    fn stats(&self) -> std::sync::MutexGuard<'_, IndexStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
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

/// The readers' side of the index: cheap to clone, usable from any thread.
pub struct MatchIndexHandle<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Clone for MatchIndexHandle<R> {
    fn clone(&self) -> Self {
        MatchIndexHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A job-feed subscription: matching jobs arrive on `matches`; dropping it unsubscribes.
pub struct Watch<R> {
    pub matches: mpsc::Receiver<Pushed<R>>,
    id: u64,
    shared: Arc<Shared<R>>,
}

impl<R> Drop for Watch<R> {
    fn drop(&mut self) {
        self.shared.watchers().by_id.remove(&self.id);
    }
}

impl<R: Send + Sync + 'static> MatchIndexHandle<R> {
    /// An empty, unbuilt index caching at most `max_rankings` jobs' rankings.
    pub fn new(rates: Arc<ExchangeRates>, max_rankings: usize) -> MatchIndexHandle<R> {
        MatchIndexHandle {
            shared: Arc::new(Shared {
                index: RwLock::new(Index::new(max_rankings)),
                built: AtomicBool::new(false),
                rates,
                stats: Mutex::new(IndexStats::default()),
                watchers: Mutex::new(Watchers::default()),
                flights: Arc::default(),
                applied: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    pub fn is_built(&self) -> bool {
        self.shared.built.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> IndexStats {
        let mut stats = self.shared.stats().clone();
        stats.built = self.is_built();
        stats.size = self.shared.read().size();
        stats.watchers = self.shared.watchers().by_id.len();
        stats
    }

    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Shared<R>) -> Result<T, IndexError> + Send + 'static,
    ) -> Result<T, IndexError> {
        if !self.is_built() {
            return Err(IndexError::WarmingUp);
        }
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || read(&shared))
            .await
            .map_err(|e| IndexError::Failed(e.to_string()))?
    }

    /// Waits, at most `within`, until the index has applied the change recorded at outbox
    /// position `seq` (or a later one): whether it has. A user who changed something the index
    /// holds reads it back this way on any instance.
    pub async fn applied_through(&self, seq: i64, within: Duration) -> bool {
        let mut applied = self.shared.applied.subscribe();
        tokio::time::timeout(within, applied.wait_for(|at| *at >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The indexed entry of an OPEN job, if the index holds it.
    pub fn job(&self, id: Uuid) -> Option<Arc<JobEntry<R>>> {
        self.shared.read().job(id).cloned()
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
        if !self.is_built() {
            return Err(IndexError::WarmingUp);
        }
        let (job, cached) = {
            let index = self.shared.read();
            let job = match (index.job(id), fallback) {
                (Some(job), _) => Arc::clone(job),
                (None, Some(fallback)) => Arc::new(JobEntry::new(fallback)),
                (None, None) => return Err(IndexError::NotIndexed),
            };
            let cached = index.has_ranking(&job, &self.shared.context());
            (job, cached)
        };
        // Identical rankings asked at once share one computation.
        let _flight = match cached {
            true => None,
            false => Some(self.shared.flights.enter((id, job.fingerprint)).await),
        };
        self.blocking(move |shared| {
            let ctx = shared.context();
            let index = shared.read();
            let (page, prepared) = index.discover(&job, &query, &ctx);
            if let Some(prepared) = prepared {
                shared.stats().rankings_computed += 1;
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
        self.blocking(move |shared| {
            let ctx = shared.context();
            shared
                .read()
                .job_feed(talent, after, first, count_total, Utc::now(), &ctx)
                .ok_or(IndexError::NoProfile)
        })
        .await
    }

    /// Subscribes `talent` to jobs published (or changed while open) from now on that score
    /// at least `min_score` for them, each job at most once; up to `capacity` wait unread
    /// (more are dropped for this subscriber, who can read the job feed).
    pub fn watch(&self, talent: Uuid, min_score: f32, capacity: usize) -> Watch<R> {
        let (tx, matches) = mpsc::channel(capacity.max(1));
        let mut watchers = self.shared.watchers();
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
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Applies one change (blocking: features are built and scores computed here).
fn apply<R: Send + Sync>(shared: &Shared<R>, change: Change, record: Record<R>) {
    let ctx = shared.context();
    match (change, record) {
        (Change::Talents(ids), Record::Talents(records)) => {
            let mut found: HashMap<
                Uuid,
                (castyou_model::TalentFeatures, castyou_vocab::UnionStatus),
            > = records
                .iter()
                .map(|r| (r.id, index::talent_features(r)))
                .collect();
            let mut index = shared.write();
            for id in ids {
                index.put_talent(id, found.remove(&id), &ctx);
            }
        }
        (Change::Job { id, announce }, Record::Job(record)) => {
            let entry = record.map(|r| JobEntry::new(*r));
            let job = {
                let mut index = shared.write();
                index.put_job(id, entry);
                index.job(id).cloned()
            };
            if let (true, Some(job)) = (announce, job) {
                push(shared, &job, &ctx);
            }
        }
        _ => {}
    }
}

/// Pushes `job` to the watchers it matches well enough and who have not had it yet.
fn push<R: Send + Sync>(shared: &Shared<R>, job: &Arc<JobEntry<R>>, ctx: &ScoreContext) {
    let waiting: Vec<(u64, Uuid, f32)> = shared
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
    let announced = shared.read().announce(job, &asks, ctx);
    let mut watchers = shared.watchers();
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

enum Record<R> {
    Talents(Vec<TalentRecord>),
    Job(Option<Box<JobRecord<R>>>),
}

/// Reads every talent and OPEN job, `batch` at a time, into a new index.
async fn build<R: Send + Sync + 'static>(
    port: Arc<dyn MatchSource<Row = R>>,
    shared: Arc<Shared<R>>,
    max_rankings: usize,
    batch: usize,
) -> anyhow::Result<Index<R>> {
    let mut index = Index::new(max_rankings);
    let mut after = None;
    loop {
        let records = port.talents(after, batch).await?;
        let Some(last) = records.last() else { break };
        after = Some(last.id);
        let full = records.len() == batch;
        let s = Arc::clone(&shared);
        index = tokio::task::spawn_blocking(move || {
            let ctx = s.context();
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
        let records = port.open_jobs(after, batch).await?;
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
    Ok(index)
}

pub struct MatchIndex<R: Send + Sync + 'static> {
    restarts: crate::RestartCounter,
    port: Arc<dyn MatchSource<Row = R>>,
    hub: Addr<NotificationHub>,
    shared: Arc<Shared<R>>,
    max_rankings: usize,
    batch: usize,
    subscription: Option<u64>,
    /// Bumped by each (re)subscription: events of an older one are ignored.
    epoch: u64,
}

impl<R: Send + Sync + 'static> MatchIndex<R> {
    /// An index reading from `port` in pages of `batch`, hearing of changes through `hub`.
    pub fn new(
        handle: &MatchIndexHandle<R>,
        port: Arc<dyn MatchSource<Row = R>>,
        hub: Addr<NotificationHub>,
        max_rankings: usize,
        batch: usize,
    ) -> MatchIndex<R> {
        MatchIndex {
            restarts: crate::RestartCounter::default(),
            port,
            hub,
            shared: Arc::clone(&handle.shared),
            max_rankings,
            batch: batch.max(1),
            subscription: None,
            epoch: 0,
        }
    }

    pub fn counting_restarts_in(mut self, counter: crate::RestartCounter) -> Self {
        self.restarts = counter;
        self
    }

    /// Runs `work` before anything else the actor does; if it panics, the actor stops and its
    /// supervisor restarts it (which reloads the index).
    fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        work: impl std::future::Future<Output = anyhow::Result<()>> + 'static,
    ) {
        use futures_util::FutureExt;
        ctx.wait(
            std::panic::AssertUnwindSafe(work)
                .catch_unwind()
                .into_actor(self)
                .map(|outcome, _act, ctx| match outcome {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "match index: a change could not be applied; reloading");
                        ctx.run_later(RETRY, |act, ctx| act.rebuild(ctx));
                    }
                    Err(_) => {
                        tracing::error!("match index panicked; restarting");
                        ctx.stop();
                    }
                }),
        );
    }

    /// Subscribes to changes, then loads everything (changes queue meanwhile and are applied
    /// after, so none committed during the load is missed).
    fn rebuild(&mut self, ctx: &mut Context<Self>) {
        if let Some(id) = self.subscription.take() {
            self.hub.do_send(Unsubscribe {
                topic: Topic::Matching,
                id,
            });
        }
        self.epoch += 1;
        let hub = self.hub.clone();
        let subscribed = async move {
            hub.send(Subscribe {
                topic: Topic::Matching,
                capacity: EVENT_QUEUE,
            })
            .await
        };
        ctx.wait(
            subscribed
                .into_actor(self)
                .map(|subscription, act, ctx| match subscription {
                    Ok(s) => {
                        act.subscription = Some(s.id);
                        // Each event, then one `None` when the hub ends the subscription.
                        let events = s.tagged(act.epoch);
                        ctx.add_stream(events);
                        act.load(ctx);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "match index: the hub did not answer; retrying");
                        ctx.run_later(RETRY, |act, ctx| act.rebuild(ctx));
                    }
                }),
        );
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let (port, shared) = (Arc::clone(&self.port), Arc::clone(&self.shared));
        let (max, batch) = (self.max_rankings, self.batch);
        let started = Instant::now();
        tracing::info!("match index: loading talents and open jobs");
        ctx.wait(
            build(port, Arc::clone(&shared), max, batch)
                .into_actor(self)
                .map(move |built, act, ctx| match built {
                    Ok(index) => {
                        let size = index.size();
                        *act.shared.write() = index;
                        act.shared.built.store(true, Ordering::Release);
                        let took = started.elapsed();
                        let mut stats = act.shared.stats();
                        stats.last_build = Some(took);
                        stats.built_at = Some(Utc::now());
                        stats.builds += 1;
                        tracing::info!(
                            talents = size.talents,
                            jobs = size.jobs,
                            talent_bytes = size.talent_bytes,
                            took_ms = took.as_millis() as u64,
                            "match index built"
                        );
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "match index: loading failed; retrying");
                        ctx.run_later(RETRY, |act, ctx| act.load(ctx));
                    }
                }),
        );
    }
}

impl<R: Send + Sync + 'static> Actor for MatchIndex<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rebuild(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if let Some(id) = self.subscription.take() {
            self.hub.do_send(Unsubscribe {
                topic: Topic::Matching,
                id,
            });
        }
    }
}

impl<R: Send + Sync + 'static> Supervised for MatchIndex<R> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!("match index restarting; reloading (the previous index keeps answering)");
    }
}

impl<R: Send + Sync + 'static> StreamHandler<(u64, Option<Arc<Event>>)> for MatchIndex<R> {
    fn handle(&mut self, (epoch, event): (u64, Option<Arc<Event>>), ctx: &mut Context<Self>) {
        if epoch != self.epoch {
            return;
        }
        let Some(event) = event else {
            // The hub cut the index off (it fell behind) or restarted: reload everything.
            tracing::warn!("match index: its event subscription ended; reloading");
            self.subscription = None;
            self.rebuild(ctx);
            return;
        };
        let changes = self.port.changes(&event);
        if changes.is_empty() {
            // Everything before it was applied (changes are applied one at a time, in order).
            self.shared
                .applied
                .send_modify(|at| *at = (*at).max(event.seq));
            return;
        }
        let (port, shared) = (Arc::clone(&self.port), Arc::clone(&self.shared));
        let applied = async move {
            for change in changes {
                let record = match &change {
                    Change::Talents(ids) => Record::Talents(port.talents_by_id(ids.clone()).await?),
                    Change::Job { id, .. } => Record::Job(port.open_job(*id).await?.map(Box::new)),
                };
                let s = Arc::clone(&shared);
                tokio::task::spawn_blocking(move || apply(&s, change, record)).await?;
            }
            {
                let mut stats = shared.stats();
                stats.last_event_seq = Some(event.seq);
                stats.last_event_at = Some(event.at);
                stats.events_applied += 1;
            }
            shared.applied.send_modify(|at| *at = (*at).max(event.seq));
            Ok::<(), anyhow::Error>(())
        };
        // One change at a time, in the order they were committed.
        self.guarded(ctx, applied);
    }

    /// A subscription's stream ended (its `None` was handled above): the actor carries on.
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

/// Reloads everything now (operators; tests).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Rebuild;

impl<R: Send + Sync + 'static> Handler<Rebuild> for MatchIndex<R> {
    type Result = ();
    fn handle(&mut self, _msg: Rebuild, ctx: &mut Context<Self>) {
        self.rebuild(ctx);
    }
}

/// A supervision drill: the actor panics, is restarted and reloads. Nothing outside the
/// process can send it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl<R: Send + Sync + 'static> Handler<Crash> for MatchIndex<R> {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        self.guarded(ctx, async {
            panic!("supervision drill on the match index")
        });
    }
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
        assert!(!handle.stats().built);
    }
}
