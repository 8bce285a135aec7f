//! `EmbeddingWorker`: turns changed profile and job text into vectors. The backlog lives in
//! the server's storage (written in the same transaction as the change, so it survives
//! restarts); the worker leases a batch, asks the port for the texts whose content hash
//! changed, embeds them in one call per `batch` texts, stores the vectors, and settles the
//! batch. A failing endpoint gets the batch back and the worker waits, doubling up to
//! `retry_max`; nothing is lost, and unchanged text is never sent again.
//!
//! Any instance may run a worker: leases keep two from taking the same subject. It wakes on
//! the events that queue work (`Topic::Matching`) and every `poll` otherwise.

use crate::events::{Event, Topic};
use crate::hub::{NotificationHub, Subscribe, Unsubscribe};
use crate::relay::PortFuture;
use actix::prelude::*;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Texts of one subject whose content changed since they were last embedded.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The port's handle on the leased subject (what it needs to store and settle it).
    pub ticket: serde_json::Value,
    pub texts: Vec<String>,
}

/// The server's side: storage and the endpoint.
pub trait EmbeddingPort: Send + Sync + 'static {
    /// Leases up to `limit` subjects; settles at once those whose texts are unchanged and
    /// returns the others.
    fn claim(&self, limit: usize) -> PortFuture<Vec<Pending>>;
    /// One call to the endpoint: a vector per text, in order.
    fn embed(&self, texts: Vec<String>) -> PortFuture<Vec<Vec<f32>>>;
    /// Stores each subject's vectors (in its texts' order) and settles it.
    fn store(&self, done: Vec<(Pending, Vec<Vec<f32>>)>) -> PortFuture<()>;
    /// Gives subjects back after a failure.
    fn release(&self, pending: Vec<Pending>, error: String) -> PortFuture<()>;
    /// How many subjects wait.
    fn backlog(&self) -> PortFuture<i64>;
    /// Whether an event queued work.
    fn wakes(&self, event: &Event) -> bool;
}

/// What `/metrics` and `/readyz` show.
#[derive(Debug, Default)]
pub struct EmbeddingStats {
    pub backlog: AtomicI64,
    pub embedded_texts: AtomicU64,
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl EmbeddingStats {
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Texts per endpoint call (and subjects per lease).
    pub batch: usize,
    pub poll: Duration,
    pub retry_max: Duration,
}

/// Wakes the worker now (tests and operators; events do it too).
#[derive(Message)]
#[rtype(result = "()")]
pub struct WakeWorker;

pub struct EmbeddingWorker {
    restarts: crate::RestartCounter,
    port: Arc<dyn EmbeddingPort>,
    hub: Addr<NotificationHub>,
    stats: Arc<EmbeddingStats>,
    settings: WorkerSettings,
    wake: Arc<Notify>,
    subscription: Option<u64>,
}

impl EmbeddingWorker {
    pub fn new(
        port: Arc<dyn EmbeddingPort>,
        hub: Addr<NotificationHub>,
        stats: Arc<EmbeddingStats>,
        settings: WorkerSettings,
    ) -> EmbeddingWorker {
        EmbeddingWorker {
            restarts: crate::RestartCounter::default(),
            port,
            hub,
            stats,
            settings,
            wake: Arc::new(Notify::new()),
            subscription: None,
        }
    }

    pub fn counting_restarts_in(mut self, counter: crate::RestartCounter) -> Self {
        self.restarts = counter;
        self
    }

    fn subscribe(&mut self, ctx: &mut Context<Self>) {
        let hub = self.hub.clone();
        ctx.wait(
            async move {
                hub.send(Subscribe {
                    topic: Topic::Matching,
                    capacity: 1024,
                })
                .await
            }
            .into_actor(self)
            .map(|subscription, act, ctx| match subscription {
                Ok(mut s) => {
                    act.subscription = Some(s.id);
                    let events = futures_util::stream::poll_fn(move |cx| s.events.poll_recv(cx));
                    ctx.add_stream(events);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "embedding worker: no event wake-ups; polling only");
                }
            }),
        );
    }
}

/// One pass: leases, embeds and stores until the backlog is empty or a call fails.
async fn drain(
    port: &dyn EmbeddingPort,
    stats: &EmbeddingStats,
    batch: usize,
) -> anyhow::Result<()> {
    loop {
        let pending = port.claim(batch).await?;
        if pending.is_empty() {
            return Ok(());
        }
        let texts: Vec<String> = pending
            .iter()
            .flat_map(|p| p.texts.iter().cloned())
            .collect();
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch.max(1)) {
            stats.calls.fetch_add(1, Ordering::Relaxed);
            match port.embed(chunk.to_vec()).await {
                Ok(v) if v.len() == chunk.len() => vectors.extend(v),
                Ok(v) => {
                    let error = format!("{} vectors for {} texts", v.len(), chunk.len());
                    port.release(pending, error.clone()).await?;
                    anyhow::bail!(error);
                }
                Err(e) => {
                    port.release(pending, e.to_string()).await?;
                    return Err(e);
                }
            }
        }
        let mut vectors = vectors.into_iter();
        let done: Vec<(Pending, Vec<Vec<f32>>)> = pending
            .into_iter()
            .map(|p| {
                let own = vectors.by_ref().take(p.texts.len()).collect();
                (p, own)
            })
            .collect();
        port.store(done).await?;
        stats
            .embedded_texts
            .fetch_add(texts.len() as u64, Ordering::Relaxed);
    }
}

impl Actor for EmbeddingWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.subscribe(ctx);
        let (port, stats, wake) = (
            Arc::clone(&self.port),
            Arc::clone(&self.stats),
            Arc::clone(&self.wake),
        );
        let settings = self.settings;
        ctx.spawn(
            async move {
                let mut wait = Duration::ZERO;
                loop {
                    let outcome = drain(port.as_ref(), &stats, settings.batch).await;
                    if let Ok(n) = port.backlog().await {
                        stats.backlog.store(n, Ordering::Relaxed);
                    }
                    match outcome {
                        Ok(()) => {
                            wait = Duration::ZERO;
                            // Until an event or the poll interval.
                            let _ = tokio::time::timeout(settings.poll, wake.notified()).await;
                        }
                        Err(e) => {
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                            *stats
                                .last_error
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                            wait = (wait * 2)
                                .max(Duration::from_secs(1))
                                .min(settings.retry_max);
                            tracing::warn!(
                                error = %e,
                                retry_in_ms = wait.as_millis() as u64,
                                "embedding failed; the backlog waits"
                            );
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
            }
            .into_actor(self),
        );
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

impl Supervised for EmbeddingWorker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!("embedding worker restarting");
    }
}

impl StreamHandler<Arc<Event>> for EmbeddingWorker {
    fn handle(&mut self, event: Arc<Event>, _ctx: &mut Context<Self>) {
        if self.port.wakes(&event) {
            self.wake.notify_one();
        }
    }

    /// The hub ended the subscription: subscribe again (polling covers the gap).
    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.subscription = None;
        ctx.run_later(Duration::from_secs(1), |act, ctx| act.subscribe(ctx));
    }
}

impl Handler<WakeWorker> for EmbeddingWorker {
    type Result = ();
    fn handle(&mut self, _msg: WakeWorker, _ctx: &mut Context<Self>) {
        self.wake.notify_one();
    }
}
