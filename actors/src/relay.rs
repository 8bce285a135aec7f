//! `OutboxRelay`: delivers committed outbox events, oldest first and at least once, to the
//! hub; marks them delivered after handing them over, so a crash in between redelivers (the
//! hub drops ids it has seen). Woken by the port's notifications (LISTEN/NOTIFY), and by a
//! periodic poll in case a notification was missed. Runs under a `Supervisor`: a panic in the
//! loop stops the actor, which restarts and resumes from what is not yet delivered.

use crate::bus::Publish;
use crate::events::Event;
use actix::{Actor, Context, Recipient, Supervised};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How often the relaying instance deletes old delivered events.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub type PortFuture<T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send>>;

/// How the relay reaches the outbox.
pub trait OutboxPort: Send + Sync + 'static {
    /// Whether this instance relays now. Exactly one instance at a time should (the others
    /// stand by and take over when it goes), so events are published once and in order.
    fn lead(&self) -> PortFuture<bool>;
    /// Up to `limit` undelivered events, oldest first.
    fn undelivered(&self, limit: usize) -> PortFuture<Vec<Event>>;
    /// Marks events delivered.
    fn mark_delivered(&self, seqs: Vec<i64>) -> PortFuture<()>;
    /// Deletes delivered events older than the retention period; returns how many.
    fn prune(&self) -> PortFuture<u64>;
    /// A stream that yields when new events may be waiting. When it ends (a lost connection)
    /// the relay asks for a new one.
    fn wakeups(&self) -> PortFuture<BoxStream<'static, ()>>;
}

pub struct OutboxRelay {
    restarts: crate::RestartCounter,
    port: Arc<dyn OutboxPort>,
    sink: Recipient<Publish>,
    poll_every: Duration,
    batch: usize,
}

impl OutboxRelay {
    pub fn new(port: Arc<dyn OutboxPort>, sink: Recipient<Publish>, poll_every: Duration) -> Self {
        OutboxRelay {
            restarts: crate::RestartCounter::default(),
            port,
            sink,
            poll_every,
            batch: 256,
        }
    }
}

impl OutboxRelay {
    /// Counts this actor's restarts in `restarts`.
    pub fn counting_restarts_in(mut self, restarts: crate::RestartCounter) -> Self {
        self.restarts = restarts;
        self
    }
}

impl Actor for OutboxRelay {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let run = relay_loop(
            self.port.clone(),
            self.sink.clone(),
            self.poll_every,
            self.batch,
        );
        crate::restarts::spawn_supervised_loop(self, ctx, "outbox relay", run);
    }
}

impl Supervised for OutboxRelay {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!("outbox relay restarting; resuming from undelivered events");
    }
}

async fn relay_loop(
    port: Arc<dyn OutboxPort>,
    sink: Recipient<Publish>,
    poll_every: Duration,
    batch: usize,
) {
    let mut wakeups: Option<BoxStream<'static, ()>> = None;
    // The first leading pass prunes at once; later ones every PRUNE_EVERY.
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        if wakeups.is_none() {
            match port.wakeups().await {
                Ok(stream) => wakeups = Some(stream),
                Err(e) => tracing::warn!(error = %e, "outbox notifications unavailable; polling"),
            }
        }
        match port.lead().await {
            Ok(true) => {
                if let Err(e) = drain(port.as_ref(), &sink, batch).await {
                    tracing::warn!(error = %e, "outbox delivery failed; retrying");
                }
                if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                    last_prune = Some(tokio::time::Instant::now());
                    match port.prune().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "pruned delivered outbox events"),
                        Err(e) => tracing::warn!(error = %e, "outbox pruning failed"),
                    }
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "outbox leadership unknown; retrying"),
        }
        let woke = async {
            match wakeups.as_mut() {
                Some(stream) => stream.next().await.is_some(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            alive = woke => {
                if !alive {
                    wakeups = None;
                }
            }
            _ = tokio::time::sleep(poll_every) => {}
        }
    }
}

/// Delivers everything undelivered, batch after batch.
async fn drain(
    port: &dyn OutboxPort,
    sink: &Recipient<Publish>,
    batch: usize,
) -> anyhow::Result<()> {
    loop {
        let events = port.undelivered(batch).await?;
        if events.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        for event in events {
            // Not marked unless every event of the batch was handed over: a failure leaves
            // them in the outbox for the next attempt.
            sink.send(Publish(Arc::new(event)))
                .await?
                .map_err(|e| anyhow::anyhow!("publishing an event: {e}"))?;
        }
        port.mark_delivered(seqs).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::EventBus;
    use crate::hub::{NotificationHub, Subscribe};
    use crate::Topic;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemoryOutbox {
        events: Mutex<Vec<(Event, bool)>>,
        prunes: std::sync::atomic::AtomicUsize,
    }

    impl OutboxPort for MemoryOutbox {
        fn lead(&self) -> PortFuture<bool> {
            Box::pin(async { Ok(true) })
        }
        fn prune(&self) -> PortFuture<u64> {
            self.prunes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Ok(0) })
        }
        fn undelivered(&self, limit: usize) -> PortFuture<Vec<Event>> {
            let events: anyhow::Result<Vec<Event>> = match self.events.lock() {
                Ok(e) => Ok(e
                    .iter()
                    .filter(|(_, d)| !d)
                    .take(limit)
                    .map(|(e, _)| e.clone())
                    .collect()),
                Err(_) => Err(anyhow::anyhow!("poisoned")),
            };
            Box::pin(async move { events })
        }
        fn mark_delivered(&self, seqs: Vec<i64>) -> PortFuture<()> {
            if let Ok(mut events) = self.events.lock() {
                for (e, d) in events.iter_mut() {
                    if seqs.contains(&e.seq) {
                        *d = true;
                    }
                }
            }
            Box::pin(async { Ok(()) })
        }
        fn wakeups(&self) -> PortFuture<BoxStream<'static, ()>> {
            Box::pin(async { Ok(futures_util::stream::pending().boxed()) })
        }
    }

    /// Panics on its first read, then behaves.
    struct FlakyOutbox {
        inner: MemoryOutbox,
        panicked: std::sync::atomic::AtomicBool,
    }

    impl OutboxPort for FlakyOutbox {
        fn lead(&self) -> PortFuture<bool> {
            self.inner.lead()
        }
        fn prune(&self) -> PortFuture<u64> {
            self.inner.prune()
        }
        fn undelivered(&self, limit: usize) -> PortFuture<Vec<Event>> {
            if !self
                .panicked
                .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return Box::pin(async { panic!("storage adapter bug") });
            }
            self.inner.undelivered(limit)
        }
        fn mark_delivered(&self, seqs: Vec<i64>) -> PortFuture<()> {
            self.inner.mark_delivered(seqs)
        }
        fn wakeups(&self) -> PortFuture<BoxStream<'static, ()>> {
            self.inner.wakeups()
        }
    }

    /// A supervised relay over `port`, publishing through an in-process bus to `hub`.
    fn start_relay(
        port: Arc<dyn OutboxPort>,
        hub: actix::Addr<NotificationHub>,
        restarts: crate::RestartCounter,
    ) -> actix::Addr<OutboxRelay> {
        actix::Supervisor::start(move |_| {
            let bus = EventBus::new(None, hub.clone().recipient()).start();
            OutboxRelay::new(port.clone(), bus.recipient(), Duration::from_millis(20))
                .counting_restarts_in(restarts.clone())
        })
    }

    fn event(seq: i64, topic: Topic) -> Event {
        Event {
            id: uuid::Uuid::new_v4(),
            seq,
            topics: vec![topic],
            body: serde_json::json!({ "n": seq }),
            at: chrono::Utc::now(),
            event: None,
        }
    }

    #[actix::test]
    async fn a_panicking_relay_is_restarted_and_delivers_what_waited() -> anyhow::Result<()> {
        let topic = Topic::Job(uuid::Uuid::new_v4());
        let outbox = Arc::new(FlakyOutbox {
            inner: MemoryOutbox::default(),
            panicked: std::sync::atomic::AtomicBool::new(false),
        });
        if let Ok(mut events) = outbox.inner.events.lock() {
            events.push((event(1, topic), false));
        }
        let hub = NotificationHub::default().start();
        let mut sub = hub.send(Subscribe { topic, capacity: 8 }).await?;
        let port: Arc<dyn OutboxPort> = outbox.clone();
        let restarts = crate::RestartCounter::default();
        let counter = restarts.clone();
        let _relay = start_relay(port, hub, counter);
        let got = tokio::time::timeout(Duration::from_secs(2), sub.events.recv()).await?;
        assert_eq!(got.map(|e| e.seq), Some(1));
        assert!(outbox.panicked.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(restarts.get(), 1);
        Ok(())
    }

    #[actix::test]
    async fn committed_events_reach_subscribers_in_order_and_are_marked() -> anyhow::Result<()> {
        let job = uuid::Uuid::new_v4();
        let outbox = Arc::new(MemoryOutbox::default());
        if let Ok(mut events) = outbox.events.lock() {
            for seq in 1..=3 {
                events.push((event(seq, Topic::Job(job)), false));
            }
        }
        let hub = NotificationHub::default().start();
        let mut sub = hub
            .send(Subscribe {
                topic: Topic::Job(job),
                capacity: 8,
            })
            .await?;
        let port: Arc<dyn OutboxPort> = outbox.clone();
        let _relay = start_relay(port, hub, crate::RestartCounter::default());
        for expected in 1..=3 {
            let got = tokio::time::timeout(Duration::from_secs(2), sub.events.recv()).await?;
            assert_eq!(got.map(|e| e.seq), Some(expected));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            outbox.prunes.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the relaying instance prunes once when it starts leading"
        );
        let all_marked = outbox
            .events
            .lock()
            .map(|e| e.iter().all(|(_, d)| *d))
            .unwrap_or(false);
        assert!(all_marked);
        Ok(())
    }
}
