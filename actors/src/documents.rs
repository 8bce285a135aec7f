//! `DocumentWriter`: the second consumer of the outbox. A second `OutboxRelay` (with its own
//! progress and leader) hands it every committed event; it stores the event's documents
//! (notifications, activity, audit) through its port, then publishes what was stored for live
//! delivery on the event bus. It answers only when both are done, so an event is marked
//! handled only after its notifications are stored *and* pushed: while the document store or
//! the bus is down, events wait in the outbox. Storing is idempotent (ids derive from the
//! event), and so is pushing (the hub drops ids it has seen).

use crate::bus::{Publish, PublishAll};
use crate::events::Event;
use crate::relay::PortFuture;
use actix::{Actor, Context, Handler, Recipient, ResponseFuture, Supervised};
use std::sync::Arc;

/// How the writer reaches the document store.
pub trait DocumentPort: Send + Sync + 'static {
    /// Stores the documents `event` makes; returns the events to push live (e.g. one per
    /// notification, on its recipient's topic), already stored.
    fn store(&self, event: Arc<Event>) -> PortFuture<Vec<Event>>;
}

pub struct DocumentWriter {
    restarts: crate::RestartCounter,
    port: Arc<dyn DocumentPort>,
    bus: Recipient<PublishAll>,
}

impl DocumentWriter {
    pub fn new(port: Arc<dyn DocumentPort>, bus: Recipient<PublishAll>) -> Self {
        DocumentWriter {
            restarts: crate::RestartCounter::default(),
            port,
            bus,
        }
    }

    /// Counts this actor's restarts in `restarts`.
    pub fn counting_restarts_in(mut self, restarts: crate::RestartCounter) -> Self {
        self.restarts = restarts;
        self
    }
}

impl Actor for DocumentWriter {
    type Context = Context<Self>;
}

impl Supervised for DocumentWriter {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!("document writer restarting");
    }
}

impl Handler<Publish> for DocumentWriter {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, Publish(event): Publish, _ctx: &mut Context<Self>) -> Self::Result {
        let port = self.port.clone();
        let bus = self.bus.clone();
        Box::pin(async move {
            let live = port
                .store(event)
                .await
                .map_err(|e| format!("storing documents: {e:#}"))?;
            if live.is_empty() {
                return Ok(());
            }
            bus.send(PublishAll(live.into_iter().map(Arc::new).collect()))
                .await
                .map_err(|e| format!("the bus is gone: {e}"))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::EventBus;
    use crate::hub::{NotificationHub, Subscribe};
    use crate::Topic;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Makes one notification event per stored event; fails while `down`.
    #[derive(Default)]
    struct Store {
        down: AtomicBool,
        stored: AtomicUsize,
    }

    impl DocumentPort for Store {
        fn store(&self, event: Arc<Event>) -> PortFuture<Vec<Event>> {
            let down = self.down.load(Ordering::SeqCst);
            if !down {
                self.stored.fetch_add(1, Ordering::SeqCst);
            }
            Box::pin(async move {
                if down {
                    anyhow::bail!("the store is down");
                }
                Ok(vec![Event {
                    id: uuid::Uuid::from_u128(event.id.as_u128() + 1),
                    body: serde_json::json!({ "kind": "NOTIFICATION" }),
                    topics: vec![Topic::User(uuid::Uuid::from_u128(42))],
                    ..(*event).clone()
                }])
            })
        }
    }

    #[actix::test]
    async fn stored_documents_are_pushed_and_a_failure_is_reported() -> anyhow::Result<()> {
        let hub = NotificationHub::default().start();
        let bus = EventBus::new(None, hub.clone().recipient()).start();
        let store = Arc::new(Store::default());
        let writer = DocumentWriter::new(store.clone(), bus.recipient()).start();
        let mut inbox = hub
            .send(Subscribe {
                topic: Topic::User(uuid::Uuid::from_u128(42)),
                capacity: 8,
            })
            .await?;
        let event = Arc::new(Event {
            id: uuid::Uuid::from_u128(1000),
            seq: 1,
            topics: vec![],
            body: serde_json::json!({ "kind": "APPLICATION_CREATED" }),
            at: chrono::Utc::now(),
            event: None,
        });
        store.down.store(true, Ordering::SeqCst);
        assert!(writer.send(Publish(event.clone())).await?.is_err());
        assert!(
            inbox.events.try_recv().is_err(),
            "nothing pushed before it is stored"
        );
        store.down.store(false, Ordering::SeqCst);
        writer
            .send(Publish(event.clone()))
            .await?
            .map_err(anyhow::Error::msg)?;
        let pushed = inbox.events.recv().await.map(|e| e.body["kind"].clone());
        assert_eq!(pushed, Some(serde_json::json!("NOTIFICATION")));
        assert_eq!(store.stored.load(Ordering::SeqCst), 1);
        Ok(())
    }
}
