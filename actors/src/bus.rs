//! `EventBus`: carries relayed events to every instance. With a `BusPort` (Redis pub/sub in
//! production) an event is published once and each instance's single bus subscription hands
//! it to its own hub; the subscription reconnects by itself. Without one, events go straight
//! to this instance's hub (a single instance).

use crate::events::Event;
use crate::hub::Deliver;
use crate::relay::PortFuture;
use actix::{Actor, Context, Handler, Message, Recipient, ResponseFuture, Supervised};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the bus reaches other instances.
pub trait BusPort: Send + Sync + 'static {
    /// Publishes an event to every instance (this one included).
    fn publish(&self, event: Arc<Event>) -> PortFuture<()>;
    /// Publishes several events, in order; a port may send them in one round trip.
    fn publish_all(&self, events: Vec<Arc<Event>>) -> PortFuture<()> {
        let published: Vec<_> = events.into_iter().map(|e| self.publish(e)).collect();
        Box::pin(async move {
            for publishing in published {
                publishing.await?;
            }
            Ok(())
        })
    }
    /// This instance's subscription; it ends when the connection is lost.
    fn subscribe(&self) -> PortFuture<BoxStream<'static, Event>>;
}

pub struct EventBus {
    restarts: crate::RestartCounter,
    /// Whether this instance's bus subscription is up. Publishing waits for it: an event
    /// published while it is down would miss this instance's subscribers, and the relay leaves
    /// refused events in the outbox for the next attempt.
    subscribed: Arc<AtomicBool>,
    port: Option<Arc<dyn BusPort>>,
    hub: Recipient<Deliver>,
    retry_every: Duration,
}

impl EventBus {
    /// A bus across instances through `port`, or within this one when `port` is `None`.
    pub fn new(port: Option<Arc<dyn BusPort>>, hub: Recipient<Deliver>) -> Self {
        EventBus {
            restarts: crate::RestartCounter::default(),
            subscribed: Arc::new(AtomicBool::new(false)),
            port,
            hub,
            retry_every: Duration::from_secs(1),
        }
    }
}

/// Asks the bus to carry an event; answers once it is published (or delivered locally).
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct Publish(pub Arc<Event>);

/// Asks the bus to carry several events, in order (e.g. every notification one event made).
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct PublishAll(pub Vec<Arc<Event>>);

impl EventBus {
    /// Counts this actor's restarts in `restarts`.
    pub fn counting_restarts_in(mut self, restarts: crate::RestartCounter) -> Self {
        self.restarts = restarts;
        self
    }
}

impl Actor for EventBus {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(port) = self.port.clone() else {
            return;
        };
        let hub = self.hub.clone();
        let retry_every = self.retry_every;
        let subscribed = self.subscribed.clone();
        let listen = async move {
            loop {
                match port.subscribe().await {
                    Ok(mut events) => {
                        tracing::info!("event bus subscribed");
                        subscribed.store(true, Ordering::Release);
                        while let Some(event) = events.next().await {
                            hub.do_send(Deliver(Arc::new(event)));
                        }
                        subscribed.store(false, Ordering::Release);
                        tracing::warn!("event bus subscription lost; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "event bus unavailable; retrying"),
                }
                tokio::time::sleep(retry_every).await;
            }
        };
        crate::restarts::spawn_supervised_loop(self, ctx, "event bus listener", listen);
    }
}

impl Supervised for EventBus {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        self.subscribed.store(false, Ordering::Release);
        tracing::warn!("event bus restarting");
    }
}

impl Handler<Publish> for EventBus {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, Publish(event): Publish, _ctx: &mut Context<Self>) -> Self::Result {
        match self.port.clone() {
            Some(_) if !self.subscribed.load(Ordering::Acquire) => {
                Box::pin(async { Err("the event bus subscription is down".to_string()) })
            }
            Some(port) => {
                Box::pin(async move { port.publish(event).await.map_err(|e| e.to_string()) })
            }
            None => {
                let hub = self.hub.clone();
                Box::pin(async move { hub.send(Deliver(event)).await.map_err(|e| e.to_string()) })
            }
        }
    }
}

impl Handler<PublishAll> for EventBus {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, PublishAll(events): PublishAll, _ctx: &mut Context<Self>) -> Self::Result {
        match self.port.clone() {
            Some(_) if !self.subscribed.load(Ordering::Acquire) => {
                Box::pin(async { Err("the event bus subscription is down".to_string()) })
            }
            Some(port) => {
                Box::pin(async move { port.publish_all(events).await.map_err(|e| e.to_string()) })
            }
            None => {
                let hub = self.hub.clone();
                Box::pin(async move {
                    for event in events {
                        hub.send(Deliver(event)).await.map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            }
        }
    }
}
