//! `QueueWorker`: the one worker every background job queue runs under (media processing,
//! embeddings). The queue itself lives in the server's storage (see the server's `db::queue`):
//! leased rows, claimed with `FOR UPDATE SKIP LOCKED` so any number of instances share it.
//! What this actor adds is written once here:
//!
//! - **A bounded number of runs at once** (`concurrency`), each over up to `batch` leases.
//! - **Heartbeat**: while a run works, its leases are renewed every third of the lease, up to
//!   the run's `budget` (work past it is not worth a lease).
//! - **Dead letter**: each pass first hands the items whose tries reached the queue's maximum
//!   to the work's `bury`.
//! - **Backoff**: a run that failed as a whole (an endpoint down) pauses the queue here,
//!   doubling up to `retry_max`; the items themselves were given back by the work.
//! - **Wake-ups**: an event the work says queued something, a `Wake` message or the shared
//!   `Notify`, and every `poll` otherwise.
//! - **The same statistics** for every queue (`QueueStats`).
//!
//! The loop runs in the actor; a panic in it stops the actor and its supervisor restarts it.
//! What differs is a `Work`: how to claim, renew, run and dead-letter, and which events wake it.

use crate::events::{Event, Topic};
use crate::hub::{NotificationHub, Subscribe, Unsubscribe};
use crate::relay::PortFuture;
use actix::prelude::*;
use castyou_vocab::queue::{Lease, Ran};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// One kind of background job (see the module).
pub trait Work: Send + Sync + 'static {
    /// Its name in logs and metrics (`queue` label).
    const NAME: &'static str;
    /// The hub topic whose events may queue work (None: none do; wake-ups come otherwise).
    const TOPIC: Option<Topic>;

    /// Leases up to `limit` due items.
    fn claim(&self, limit: usize) -> PortFuture<Vec<Lease>>;
    /// Extends a lease; false when the item is no longer this lease's.
    fn renew(&self, lease: Lease) -> PortFuture<bool>;
    /// Does the work of these leases and records each outcome (done, refused, given back).
    /// An error says the run failed as a whole (the leases were given back or run out): the
    /// queue pauses.
    fn run(&self, leases: Vec<Lease>) -> PortFuture<Ran>;
    /// Dead-letters the items whose tries reached the maximum: how many.
    fn bury(&self) -> PortFuture<u64>;
    /// How many items wait, and how many of them are dead letters.
    fn depth(&self) -> PortFuture<(i64, i64)>;
    /// Whether an event on `TOPIC` queued work.
    fn wakes(&self, event: &Event) -> bool;
}

/// How a queue's worker runs.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// Runs at once on this instance.
    pub concurrency: usize,
    /// Leases per run.
    pub batch: usize,
    /// How long a lease lasts unless renewed.
    pub lease: Duration,
    /// How long a run may keep renewing its leases.
    pub budget: Duration,
    /// How often to look for work without a wake-up.
    pub poll: Duration,
    /// The longest pause after failed runs.
    pub retry_max: Duration,
}

/// What `/metrics` and `/readyz` show of every queue.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Items waiting (all instances), as of the last pass.
    pub waiting: AtomicI64,
    /// Dead letters waiting for an operator (all instances).
    pub dead: AtomicI64,
    /// Items this instance is working on.
    pub running: AtomicU64,
    pub done: AtomicU64,
    pub refused: AtomicU64,
    pub retried: AtomicU64,
    /// Items this instance dead-lettered.
    pub buried: AtomicU64,
    /// Runs that failed as a whole.
    pub failed_runs: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl QueueStats {
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn failed(&self, error: &anyhow::Error) {
        self.failed_runs.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(format!("{error:#}"));
    }

    fn ran(&self, ran: Ran) {
        self.done.fetch_add(ran.done, Ordering::Relaxed);
        self.refused.fetch_add(ran.refused, Ordering::Relaxed);
        self.retried.fetch_add(ran.retried, Ordering::Relaxed);
    }
}

/// Wakes a worker now (tests and operators; events and the shared `Notify` do it too).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

pub struct QueueWorker<W: Work> {
    restarts: crate::RestartCounter,
    work: Arc<W>,
    hub: Addr<NotificationHub>,
    stats: Arc<QueueStats>,
    settings: QueueSettings,
    wake: Arc<Notify>,
    subscription: Option<u64>,
}

impl<W: Work> QueueWorker<W> {
    /// A worker for `work`, woken by `wake` (shared with whoever queues work here).
    pub fn new(
        work: Arc<W>,
        hub: Addr<NotificationHub>,
        stats: Arc<QueueStats>,
        settings: QueueSettings,
        wake: Arc<Notify>,
    ) -> QueueWorker<W> {
        QueueWorker {
            restarts: crate::RestartCounter::default(),
            work,
            hub,
            stats,
            settings,
            wake,
            subscription: None,
        }
    }

    pub fn counting_restarts_in(mut self, counter: crate::RestartCounter) -> Self {
        self.restarts = counter;
        self
    }

    fn subscribe(&mut self, ctx: &mut Context<Self>) {
        let Some(topic) = W::TOPIC else { return };
        let hub = self.hub.clone();
        ctx.wait(
            async move {
                hub.send(Subscribe {
                    topic,
                    capacity: 1024,
                })
                .await
            }
            .into_actor(self)
            .map(|subscription, act, ctx| match subscription {
                Ok(mut s) => {
                    act.subscription = Some(s.id);
                    ctx.add_stream(futures_util::stream::poll_fn(move |cx| {
                        s.events.poll_recv(cx)
                    }));
                }
                Err(e) => {
                    tracing::warn!(queue = W::NAME, error = %e, "no event wake-ups; polling only");
                }
            }),
        );
    }
}

/// The worker's loop: claim, run (up to `concurrency` at once), bury, wait.
async fn work<W: Work>(
    work: Arc<W>,
    stats: Arc<QueueStats>,
    settings: QueueSettings,
    wake: Arc<Notify>,
) {
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    // Set by a run that failed as a whole: the next claim waits it out.
    let pause = Arc::new(Mutex::new(Duration::ZERO));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let wait = *pause.lock().unwrap_or_else(PoisonError::into_inner);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        match work.claim(settings.batch.max(1)).await {
            Ok(leases) if !leases.is_empty() => {
                let (work, stats, pause) =
                    (Arc::clone(&work), Arc::clone(&stats), Arc::clone(&pause));
                tokio::spawn(async move {
                    run(&work, &stats, settings, leases, &pause).await;
                    drop(permit);
                });
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(queue = W::NAME, error = %format!("{e:#}"), "claiming work failed")
            }
        }
        drop(permit);
        match work.bury().await {
            Ok(0) => {}
            Ok(n) => {
                stats.buried.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(
                    queue = W::NAME,
                    items = n,
                    "items dead-lettered after their last try"
                );
            }
            Err(e) => {
                tracing::warn!(queue = W::NAME, error = %format!("{e:#}"), "dead-lettering failed")
            }
        }
        if let Ok((waiting, dead)) = work.depth().await {
            stats.waiting.store(waiting, Ordering::Relaxed);
            stats.dead.store(dead, Ordering::Relaxed);
        }
        let _ = tokio::time::timeout(settings.poll, wake.notified()).await;
    }
}

/// One run, its leases renewed while it works.
async fn run<W: Work>(
    work: &Arc<W>,
    stats: &QueueStats,
    settings: QueueSettings,
    leases: Vec<Lease>,
    pause: &Mutex<Duration>,
) {
    let n = leases.len() as u64;
    stats.running.fetch_add(n, Ordering::Relaxed);
    let heartbeat = tokio::spawn(heartbeat(Arc::clone(work), leases.clone(), settings));
    let outcome = work.run(leases).await;
    heartbeat.abort();
    stats.running.fetch_sub(n, Ordering::Relaxed);
    let mut pause = pause.lock().unwrap_or_else(PoisonError::into_inner);
    match outcome {
        Ok(ran) => {
            stats.ran(ran);
            *pause = Duration::ZERO;
        }
        Err(e) => {
            stats.failed(&e);
            *pause = (*pause * 2)
                .max(Duration::from_secs(1))
                .min(settings.retry_max);
            tracing::warn!(
                queue = W::NAME,
                error = %format!("{e:#}"),
                retry_in_ms = pause.as_millis() as u64,
                "a run failed; the queue waits"
            );
        }
    }
}

/// Renews `leases` every third of the lease until the run's budget is spent or none is left.
async fn heartbeat<W: Work>(work: Arc<W>, mut leases: Vec<Lease>, settings: QueueSettings) {
    let every = (settings.lease / 3).max(Duration::from_millis(500));
    let until = Instant::now() + settings.budget;
    while !leases.is_empty() {
        tokio::time::sleep(every).await;
        if Instant::now() >= until {
            return;
        }
        let mut kept = Vec::with_capacity(leases.len());
        for lease in leases {
            match work.renew(lease).await {
                Ok(true) => kept.push(lease),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(queue = W::NAME, item = %lease.id, error = %format!("{e:#}"), "renewing a lease failed");
                    kept.push(lease);
                }
            }
        }
        leases = kept;
    }
}

impl<W: Work> Actor for QueueWorker<W> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.subscribe(ctx);
        let looped = work(
            Arc::clone(&self.work),
            Arc::clone(&self.stats),
            self.settings,
            Arc::clone(&self.wake),
        );
        ctx.spawn(looped.into_actor(self));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if let (Some(id), Some(topic)) = (self.subscription.take(), W::TOPIC) {
            self.hub.do_send(Unsubscribe { topic, id });
        }
    }
}

impl<W: Work> Supervised for QueueWorker<W> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!(queue = W::NAME, "queue worker restarting");
    }
}

impl<W: Work> StreamHandler<Arc<Event>> for QueueWorker<W> {
    fn handle(&mut self, event: Arc<Event>, _ctx: &mut Context<Self>) {
        if self.work.wakes(&event) {
            self.wake.notify_one();
        }
    }

    /// The hub ended the subscription: subscribe again (polling covers the gap).
    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.subscription = None;
        ctx.run_later(Duration::from_secs(1), |act, ctx| act.subscribe(ctx));
    }
}

impl<W: Work> Handler<Wake> for QueueWorker<W> {
    type Result = ();
    fn handle(&mut self, _msg: Wake, _ctx: &mut Context<Self>) {
        self.wake.notify_one();
    }
}
