//! One shell for every in-memory index kept current by events (the match index, the semantic
//! index, and the next ones). What they share is written once here:
//!
//! - **Subscribe, then load.** The actor subscribes to its topic before it loads everything, so
//!   no change committed during the load is missed: changes queue meanwhile and are applied
//!   after, in order. Each subscription has an epoch; events of an older one are ignored.
//! - **The previous data keeps answering** while a (re)load runs; readers see the new data
//!   once it is complete. Until the first load, readers are told the index is warming up.
//! - **One change at a time**, in the order committed, each applied on a blocking thread.
//! - **Failures reload.** A lost subscription (the hub cut the actor off, or restarted) or a
//!   change that could not be applied reloads everything after `RETRY`; a load that fails is
//!   tried again. A panic stops the actor and its supervisor restarts it, which reloads.
//! - **The same statistics** for every index (`KeptStats`), and the outbox position of the last
//!   change applied, which readers wait on to read their own writes.
//!
//! - **Saved copies** (`snapshots`), for an index that can write and open one: every
//!   configured interval and when the server stops, the data is written with the outbox
//!   position it includes. The first load opens the newest intact copy instead of reading
//!   everything, applies the events committed since through the same `apply` (catching up), and
//!   only then says it is built. A missing, damaged or unfit copy, or one older than the
//!   outbox's history, is never opened: the index is loaded from storage.
//!
//! What differs is a `KeptIndex`: how to load, which changes an event asks for, how to apply
//! one, how to write and open a copy. Readers go through the index's own handle, which holds
//! the shared `Kept` state.

use crate::events::{Event, Topic};
use crate::hub::{NotificationHub, Subscribe, Unsubscribe};
use crate::relay::PortFuture;
use crate::snapshots::{Found, SavedAt, SnapshotStore};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// How many events may wait for an index before the hub cuts it off (then it reloads).
const EVENT_QUEUE: usize = 65_536;
/// How long to wait before retrying a failed load or change.
const RETRY: Duration = Duration::from_secs(2);

/// What one kind of kept index does (see the module).
pub trait KeptIndex: Send + Sync + Sized + 'static {
    /// What readers query.
    type Data: Send + Sync + 'static;
    /// What one event changed, as the index needs to know it.
    type Change: Send + 'static;
    /// Where it reads from (the server's storage, through a port).
    type Source: ?Sized + Send + Sync + 'static;
    /// Its name in logs.
    const NAME: &'static str;
    /// The hub topic its changes arrive on.
    const TOPIC: Topic;

    /// Everything, read in pages of `batch` into new data.
    fn load(self: &Arc<Self>, source: &Arc<Self::Source>, batch: usize) -> PortFuture<Self::Data>;

    /// The outbox position of the newest change committed, read before a load begins: the
    /// loaded data includes every change up to it, so readers waiting for one need not wait
    /// for its event. None (the default): not known, readers wait for events only.
    fn committed(self: &Arc<Self>, _source: &Arc<Self::Source>) -> PortFuture<Option<i64>> {
        Box::pin(async { Ok(None) })
    }

    /// The changes an event asks for, in order (empty: none the index holds).
    fn changes(source: &Self::Source, event: &Event) -> Vec<Self::Change>;

    /// Reads what `change` needs and applies it to `kept` (blocking work on a blocking thread).
    /// True when the data should be loaded again from scratch (too many changes piled up).
    fn apply(
        self: &Arc<Self>,
        source: &Arc<Self::Source>,
        kept: &Arc<Kept<Self>>,
        change: Self::Change,
    ) -> PortFuture<bool>;

    /// What a copy must be fit for (layout version, model, dimension). None (the default): the
    /// index is never saved.
    fn fit(&self) -> Option<String> {
        None
    }

    /// Writes a copy of `data` into the empty `folder` (blocking work, on a blocking thread):
    /// how many records it holds.
    fn write_copy(_data: &Self::Data, _folder: &Path) -> anyhow::Result<u64> {
        anyhow::bail!("{} is not saved", Self::NAME)
    }

    /// Opens a copy `write_copy` wrote (blocking work, on a blocking thread). The folder is the
    /// index's from then on (it may keep or remove it).
    fn open_copy(self: &Arc<Self>, _folder: PathBuf) -> anyhow::Result<Self::Data> {
        anyhow::bail!("{} is not saved", Self::NAME)
    }
}

/// What `/readyz` and `/metrics` show of every kept index.
#[derive(Debug, Clone, Default)]
pub struct KeptStats {
    pub built: bool,
    pub last_event_seq: Option<i64>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub events_applied: u64,
    pub last_build: Option<Duration>,
    pub built_at: Option<DateTime<Utc>>,
    pub builds: u64,
    /// Every change committed up to this outbox position is applied.
    pub position: i64,
    /// Where the first load came from: "storage", or a copy ("local", "object store").
    pub loaded_from: Option<&'static str>,
    /// Events applied after opening a copy, before saying it is built.
    pub caught_up: u64,
    /// The last copy saved: the position it includes, when.
    pub saved_through: Option<i64>,
    pub saved_at: Option<DateTime<Utc>>,
    pub saves: u64,
}

/// The state an index's actor writes and its readers read.
pub struct Kept<K: KeptIndex> {
    data: RwLock<Option<K::Data>>,
    built: AtomicBool,
    stats: Mutex<KeptStats>,
    /// The outbox position of the last change applied.
    applied: tokio::sync::watch::Sender<i64>,
}

impl<K: KeptIndex> Kept<K> {
    pub fn new() -> Arc<Kept<K>> {
        Arc::new(Kept {
            data: RwLock::new(None),
            built: AtomicBool::new(false),
            stats: Mutex::new(KeptStats::default()),
            applied: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Whether the first load has completed.
    pub fn is_built(&self) -> bool {
        self.built.load(Ordering::Acquire)
    }

    /// The data (None until the first load completes).
    pub fn read(&self) -> RwLockReadGuard<'_, Option<K::Data>> {
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The data, for a change (only the actor writes).
    pub fn write(&self) -> RwLockWriteGuard<'_, Option<K::Data>> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> KeptStats {
        let mut stats = self.stats_mut().clone();
        stats.built = self.is_built();
        stats.position = *self.applied.borrow();
        stats
    }

    fn stats_mut(&self) -> std::sync::MutexGuard<'_, KeptStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits, at most `within`, until the index has applied the change recorded at outbox
    /// position `seq` (or a later one): whether it has.
    pub async fn applied_through(&self, seq: i64, within: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(within, applied.wait_for(|at| *at >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn applied(&self, event: &Event) {
        {
            let mut stats = self.stats_mut();
            stats.last_event_seq = Some(event.seq);
            stats.last_event_at = Some(event.at);
            stats.events_applied += 1;
        }
        self.passed(event.seq);
    }

    /// Every change up to `seq` is applied (an event that changed nothing the index holds).
    fn passed(&self, seq: i64) {
        self.applied.send_modify(|at| *at = (*at).max(seq));
    }
}

/// The actor that keeps one index: loads it, applies changes, reloads (see the module).
pub struct KeptIndexActor<K: KeptIndex> {
    index: Arc<K>,
    source: Arc<K::Source>,
    kept: Arc<Kept<K>>,
    hub: Addr<NotificationHub>,
    restarts: crate::RestartCounter,
    /// How many records a load reads at a time.
    batch: usize,
    subscription: Option<u64>,
    /// Bumped by each (re)subscription: events of an older one are ignored.
    epoch: u64,
    loading: bool,
    /// Where copies are kept, and how often one is saved (None: never).
    saving: Option<(Arc<dyn SnapshotStore>, Duration)>,
    /// Whether a load has been tried since the actor was created (only the first opens a copy).
    loaded_once: bool,
}

/// Removes a folder a copy was unpacked into when it was not opened.
fn discard(folder: &Path) {
    if let Err(e) = std::fs::remove_dir_all(folder) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, folder = %folder.display(), "could not remove an unused copy");
        }
    }
}

impl<K: KeptIndex> KeptIndexActor<K> {
    pub fn new(
        index: Arc<K>,
        source: Arc<K::Source>,
        kept: Arc<Kept<K>>,
        hub: Addr<NotificationHub>,
        batch: usize,
    ) -> KeptIndexActor<K> {
        KeptIndexActor {
            index,
            source,
            kept,
            hub,
            batch: batch.max(1),
            restarts: crate::RestartCounter::default(),
            subscription: None,
            epoch: 0,
            loading: false,
            saving: None,
            loaded_once: false,
        }
    }

    pub fn counting_restarts_in(mut self, counter: crate::RestartCounter) -> Self {
        self.restarts = counter;
        self
    }

    /// Saves a copy in `store` every `every` (and when asked, see `Save`), and opens the newest
    /// one at the first load. Only for an index with a `fit`.
    pub fn saving_to(mut self, store: Arc<dyn SnapshotStore>, every: Duration) -> Self {
        self.saving = Some((store, every));
        self
    }

    /// Runs `work` before anything else the actor does; if it panics, the actor stops and its
    /// supervisor restarts it (which reloads the index).
    fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        work: impl std::future::Future<Output = anyhow::Result<bool>> + 'static,
    ) {
        use futures_util::FutureExt;
        ctx.wait(
            std::panic::AssertUnwindSafe(work)
                .catch_unwind()
                .into_actor(self)
                .map(|outcome, act, ctx| match outcome {
                    Ok(Ok(false)) => {}
                    Ok(Ok(true)) if !act.loading => {
                        tracing::info!(index = K::NAME, "many changes piled up; reloading");
                        act.load(ctx);
                    }
                    Ok(Ok(true)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(index = K::NAME, error = %e, "a change could not be applied; reloading");
                        ctx.run_later(RETRY, |act, ctx| act.rebuild(ctx));
                    }
                    Err(_) => {
                        tracing::error!(index = K::NAME, "the index panicked; restarting");
                        ctx.stop();
                    }
                }),
        );
    }

    /// Subscribes to changes, then loads everything.
    fn rebuild(&mut self, ctx: &mut Context<Self>) {
        self.unsubscribe();
        self.epoch += 1;
        let hub = self.hub.clone();
        let subscribed = async move {
            hub.send(Subscribe {
                topic: K::TOPIC,
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
                        ctx.add_stream(s.tagged(act.epoch));
                        act.load(ctx);
                    }
                    Err(e) => {
                        tracing::error!(index = K::NAME, error = %e, "the hub did not answer; retrying");
                        ctx.run_later(RETRY, |act, ctx| act.rebuild(ctx));
                    }
                }),
        );
    }

    fn unsubscribe(&mut self) {
        if let Some(id) = self.subscription.take() {
            self.hub.do_send(Unsubscribe {
                topic: K::TOPIC,
                id,
            });
        }
    }

    /// Loads the data; it replaces the previous data once complete. The first load opens the
    /// newest copy, when the index is saved and one is usable, and catches up from it.
    fn load(&mut self, ctx: &mut Context<Self>) {
        self.loading = true;
        let first = !std::mem::replace(&mut self.loaded_once, true);
        let copy = match (&self.saving, self.index.fit()) {
            (Some((store, _)), Some(fit)) if first => Some((Arc::clone(store), fit)),
            _ => None,
        };
        let Some((store, fit)) = copy else {
            return self.load_from_source(ctx);
        };
        let started = Instant::now();
        let opened = open_newest(Arc::clone(&self.index), store, fit);
        ctx.wait(
            opened
                .into_actor(self)
                .map(move |opened, act, ctx| match opened {
                    Some((data, found, missed)) => act.catch_up(ctx, data, found, missed, started),
                    None => act.load_from_source(ctx),
                }),
        );
    }

    /// Reads everything from the source.
    fn load_from_source(&mut self, ctx: &mut Context<Self>) {
        self.loading = true;
        let started = Instant::now();
        tracing::info!(index = K::NAME, "loading");
        let committed = self.index.committed(&self.source);
        let loaded = self.index.load(&self.source, self.batch);
        let loaded = async move {
            let through = committed.await?;
            Ok::<_, anyhow::Error>((loaded.await?, through))
        };
        ctx.wait(loaded.into_actor(self).map(move |built, act, ctx| {
            act.loading = false;
            match built {
                Ok((data, through)) => {
                    *act.kept.write() = Some(data);
                    if let Some(seq) = through {
                        act.kept.passed(seq);
                    }
                    act.built(started, "storage", 0);
                }
                Err(e) => {
                    tracing::error!(index = K::NAME, error = %e, "loading failed; retrying");
                    ctx.run_later(RETRY, |act, ctx| act.load_from_source(ctx));
                }
            }
        }));
    }

    /// Serves an opened copy once the events committed since it was taken are applied.
    fn catch_up(
        &mut self,
        ctx: &mut Context<Self>,
        data: K::Data,
        found: Found,
        missed: Vec<Arc<Event>>,
        started: Instant,
    ) {
        *self.kept.write() = Some(data);
        self.kept.passed(found.saved.through);
        let count = missed.len() as u64;
        let (index, source, kept) = (
            Arc::clone(&self.index),
            Arc::clone(&self.source),
            Arc::clone(&self.kept),
        );
        let applied = async move {
            let mut reload = false;
            for event in missed {
                let changes = K::changes(&source, &event);
                reload |= apply_changes(&index, &source, &kept, changes, &event).await?;
            }
            Ok::<_, anyhow::Error>(reload)
        };
        ctx.wait(applied.into_actor(self).map(move |outcome, act, ctx| {
            act.loading = false;
            match outcome {
                Ok(reload) => {
                    act.built(started, found.from, count);
                    if reload {
                        act.load(ctx);
                    }
                }
                Err(e) => {
                    tracing::error!(index = K::NAME, error = %e, "catching up failed; loading from storage");
                    act.load_from_source(ctx);
                }
            }
        }));
    }

    /// The data answers from now on.
    fn built(&mut self, started: Instant, from: &'static str, caught_up: u64) {
        self.kept.built.store(true, Ordering::Release);
        let took = started.elapsed();
        let mut stats = self.kept.stats_mut();
        stats.last_build = Some(took);
        stats.built_at = Some(Utc::now());
        stats.builds += 1;
        stats.loaded_from.get_or_insert(from);
        stats.caught_up += caught_up;
        tracing::info!(
            index = K::NAME,
            from,
            caught_up,
            took_ms = took.as_millis() as u64,
            "built"
        );
    }

    /// Saving a copy of the data with the position it includes, in order with the changes
    /// (none is applied meanwhile). None: nothing to save (not saved, or not built yet).
    fn saving(&self) -> Option<impl std::future::Future<Output = anyhow::Result<bool>> + 'static> {
        let (store, _) = self.saving.as_ref()?;
        let fit = self.index.fit()?;
        if self.loading || !self.kept.is_built() {
            return None;
        }
        let through = *self.kept.applied.borrow();
        let (store, kept) = (Arc::clone(store), Arc::clone(&self.kept));
        Some(async move {
            let folder = store.scratch()?;
            let (into, from) = (folder.clone(), Arc::clone(&kept));
            let written = tokio::task::spawn_blocking(move || match from.read().as_ref() {
                Some(data) => K::write_copy(data, &into),
                None => anyhow::bail!("nothing to save"),
            })
            .await
            .map_err(anyhow::Error::from)
            .and_then(|written| written);
            let records = match written {
                Ok(records) => records,
                Err(e) => {
                    discard(&folder);
                    return Err(e);
                }
            };
            let at = Utc::now();
            let saved = SavedAt {
                fit,
                through,
                at,
                records,
            };
            store.keep(K::NAME, folder, saved).await?;
            let mut stats = kept.stats_mut();
            stats.saved_through = Some(through);
            stats.saved_at = Some(at);
            stats.saves += 1;
            Ok(true)
        })
    }

    fn save_now(&mut self, ctx: &mut Context<Self>) {
        if let Some(saving) = self.saving() {
            ctx.wait(saving.into_actor(self).map(|saved, _, _| {
                if let Err(e) = saved {
                    tracing::error!(index = K::NAME, error = %e, "a copy could not be saved");
                }
            }));
        }
    }
}

/// Applies `changes`, what `event` asks of the index, in order: whether the data should be
/// loaded again.
async fn apply_changes<K: KeptIndex>(
    index: &Arc<K>,
    source: &Arc<K::Source>,
    kept: &Arc<Kept<K>>,
    changes: Vec<K::Change>,
    event: &Event,
) -> anyhow::Result<bool> {
    if changes.is_empty() {
        kept.passed(event.seq);
        return Ok(false);
    }
    let mut reload = false;
    for change in changes {
        reload |= index.apply(source, kept, change).await?;
    }
    kept.applied(event);
    Ok(reload)
}

/// The newest usable copy opened, and the events committed since it was taken; None (each
/// reason logged) when the index must be loaded from storage.
async fn open_newest<K: KeptIndex>(
    index: Arc<K>,
    store: Arc<dyn SnapshotStore>,
    fit: String,
) -> Option<(K::Data, Found, Vec<Arc<Event>>)> {
    let found = match store.newest(K::NAME, &fit).await {
        Ok(found) => found?,
        Err(e) => {
            tracing::warn!(index = K::NAME, error = %e, "no copy could be read; loading from storage");
            return None;
        }
    };
    let missed = match store.missed(&found.saved).await {
        Ok(Some(missed)) => missed,
        Ok(None) => {
            tracing::info!(
                index = K::NAME,
                "the copy cannot be brought up to date (older than the outbox's history, or rows were loaded in bulk since); loading from storage"
            );
            discard(&found.folder);
            return None;
        }
        Err(e) => {
            tracing::warn!(index = K::NAME, error = %e, "the events since the copy could not be read; loading from storage");
            discard(&found.folder);
            return None;
        }
    };
    let folder = found.folder.clone();
    let error = match tokio::task::spawn_blocking(move || index.open_copy(folder)).await {
        Ok(Ok(data)) => return Some((data, found, missed)),
        Ok(Err(e)) => format!("{e:#}"),
        Err(e) => e.to_string(),
    };
    tracing::warn!(
        index = K::NAME,
        from = found.from,
        error,
        "the copy could not be opened; loading from storage"
    );
    discard(&found.folder);
    None
}

impl<K: KeptIndex> Actor for KeptIndexActor<K> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.rebuild(ctx);
        if let Some((_, every)) = self.saving {
            ctx.run_interval(every, |act, ctx| act.save_now(ctx));
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.unsubscribe();
    }
}

impl<K: KeptIndex> Supervised for KeptIndexActor<K> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        self.loading = false;
        tracing::warn!(
            index = K::NAME,
            "restarting; reloading (the previous data keeps answering)"
        );
    }
}

impl<K: KeptIndex> StreamHandler<(u64, Option<Arc<Event>>)> for KeptIndexActor<K> {
    fn handle(&mut self, (epoch, event): (u64, Option<Arc<Event>>), ctx: &mut Context<Self>) {
        if epoch != self.epoch {
            return;
        }
        let Some(event) = event else {
            tracing::warn!(index = K::NAME, "its event subscription ended; reloading");
            self.subscription = None;
            self.rebuild(ctx);
            return;
        };
        let changes = K::changes(&self.source, &event);
        if changes.is_empty() {
            // Everything before it was applied (changes are applied one at a time, in order).
            self.kept.passed(event.seq);
            return;
        }
        let (index, source, kept) = (
            Arc::clone(&self.index),
            Arc::clone(&self.source),
            Arc::clone(&self.kept),
        );
        let applied = async move { apply_changes(&index, &source, &kept, changes, &event).await };
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

impl<K: KeptIndex> Handler<Rebuild> for KeptIndexActor<K> {
    type Result = ();
    fn handle(&mut self, _msg: Rebuild, ctx: &mut Context<Self>) {
        self.rebuild(ctx);
    }
}

/// Saves a copy now, in order with the changes (the server, when it stops; tests): whether one
/// was saved (false: the index is not saved, or not built yet).
#[derive(Message)]
#[rtype(result = "anyhow::Result<bool>")]
pub struct Save;

impl<K: KeptIndex> Handler<Save> for KeptIndexActor<K> {
    type Result = AtomicResponse<Self, anyhow::Result<bool>>;
    fn handle(&mut self, _msg: Save, _ctx: &mut Context<Self>) -> Self::Result {
        match self.saving() {
            Some(saving) => AtomicResponse::new(Box::pin(saving.into_actor(self))),
            None => AtomicResponse::new(Box::pin(actix::fut::ready(Ok(false)))),
        }
    }
}

/// A supervision drill: the actor panics, is restarted and reloads. Nothing outside the
/// process can send it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl<K: KeptIndex> Handler<Crash> for KeptIndexActor<K> {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        self.guarded(ctx, async { panic!("supervision drill") });
    }
}
