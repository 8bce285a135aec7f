//! `NotificationHub`: this instance's live subscribers, by topic. Each subscriber has a bounded
//! queue; one that falls behind is cut off (its stream ends with an error) instead of growing
//! memory. An event is shared (`Arc`) by every queue it lands in, so it is built once.

use crate::events::{Event, Topic};
use actix::{Actor, Context, Handler, Message, MessageResult, Supervised};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How many recent event ids the hub remembers to drop redeliveries.
const SEEN_CAPACITY: usize = 8192;

struct Subscriber {
    tx: mpsc::Sender<Arc<Event>>,
    cut_off: Arc<AtomicBool>,
    /// How many clients this subscription stands for, when it is shared by several.
    stands_for: Option<Arc<AtomicUsize>>,
}

#[derive(Default)]
pub struct NotificationHub {
    restarts: crate::RestartCounter,
    topics: HashMap<Topic, HashMap<u64, Subscriber>>,
    next_id: u64,
    seen: HashSet<uuid::Uuid>,
    seen_order: VecDeque<uuid::Uuid>,
}

impl Actor for NotificationHub {
    type Context = Context<Self>;
}

impl Supervised for NotificationHub {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        // Subscribers' queues close with the old state; clients resubscribe.
        *self = NotificationHub::with_restart_counter(self.restarts.clone());
    }
}

/// A live subscription: events arrive on `events`; when `cut_off` is set after the queue
/// closes, the subscriber fell behind and was disconnected.
pub struct Subscription {
    pub id: u64,
    pub topic: Topic,
    pub events: mpsc::Receiver<Arc<Event>>,
    pub cut_off: Arc<AtomicBool>,
}

impl Subscription {
    /// Its events tagged with `epoch`, then one `(epoch, None)` when the hub ends it: for an
    /// actor that resubscribes (bumping its epoch) and must tell a lost subscription from the
    /// events of an older one.
    pub fn tagged(
        mut self,
        epoch: u64,
    ) -> impl futures_util::Stream<Item = (u64, Option<Arc<Event>>)> {
        let mut ended = false;
        futures_util::stream::poll_fn(move |cx| {
            if ended {
                return std::task::Poll::Ready(None);
            }
            self.events.poll_recv(cx).map(|e| {
                ended = e.is_none();
                Some((epoch, e))
            })
        })
    }
}

/// Asks the hub for the events of `topic`, queued up to `capacity`.
#[derive(Message)]
#[rtype(result = "Subscription")]
pub struct Subscribe {
    pub topic: Topic,
    pub capacity: usize,
}

/// Like `Subscribe`, for one subscription shared by several clients: `subscribers` says how
/// many, for `CountSubscriptions`.
#[derive(Message)]
#[rtype(result = "Subscription")]
pub struct SubscribeCounted {
    pub topic: Topic,
    pub capacity: usize,
    pub subscribers: Arc<AtomicUsize>,
}

/// Tells the hub a subscriber has gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub topic: Topic,
    pub id: u64,
}

/// Hands the hub an event to deliver to its subscribers.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<Event>);

/// Asks how many live subscriptions of clients the hub holds (the instance's own session
/// watcher and each match index are not).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSubscriptions;

impl Handler<Subscribe> for NotificationHub {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.add(msg.topic, msg.capacity, None))
    }
}

impl Handler<SubscribeCounted> for NotificationHub {
    type Result = MessageResult<SubscribeCounted>;

    fn handle(&mut self, msg: SubscribeCounted, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.add(msg.topic, msg.capacity, Some(msg.subscribers)))
    }
}

impl Handler<Unsubscribe> for NotificationHub {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _ctx: &mut Context<Self>) {
        if let Some(subs) = self.topics.get_mut(&msg.topic) {
            subs.remove(&msg.id);
            if subs.is_empty() {
                self.topics.remove(&msg.topic);
            }
        }
    }
}

impl Handler<CountSubscriptions> for NotificationHub {
    type Result = usize;

    fn handle(&mut self, _msg: CountSubscriptions, _ctx: &mut Context<Self>) -> usize {
        self.topics
            .iter()
            // Clients' subscriptions only: not the instance's own watchers.
            .filter(|(topic, _)| !matches!(topic, Topic::Sessions | Topic::Matching))
            .flat_map(|(_, subscribers)| subscribers.values())
            .map(|s| {
                s.stands_for
                    .as_ref()
                    .map_or(1, |n| n.load(Ordering::Acquire))
            })
            .sum()
    }
}

impl NotificationHub {
    /// A hub that counts its restarts in `restarts`.
    pub fn with_restart_counter(restarts: crate::RestartCounter) -> Self {
        NotificationHub {
            restarts,
            ..NotificationHub::default()
        }
    }

    fn add(
        &mut self,
        topic: Topic,
        capacity: usize,
        stands_for: Option<Arc<AtomicUsize>>,
    ) -> Subscription {
        let (tx, events) = mpsc::channel(capacity.max(1));
        let cut_off = Arc::new(AtomicBool::new(false));
        self.next_id += 1;
        let id = self.next_id;
        self.topics.entry(topic).or_default().insert(
            id,
            Subscriber {
                tx,
                cut_off: cut_off.clone(),
                stands_for,
            },
        );
        Subscription {
            id,
            topic,
            events,
            cut_off,
        }
    }

    /// Remembers an id; false when it was seen already.
    fn first_sighting(&mut self, id: uuid::Uuid) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > SEEN_CAPACITY {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

impl Handler<Deliver> for NotificationHub {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, _ctx: &mut Context<Self>) {
        if !self.first_sighting(event.id) {
            return;
        }
        for topic in &event.topics {
            let Some(subs) = self.topics.get_mut(topic) else {
                continue;
            };
            subs.retain(|_, sub| match sub.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    sub.cut_off.store(true, Ordering::Release);
                    tracing::warn!(?topic, "subscriber fell behind and was cut off");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if subs.is_empty() {
                self.topics.remove(topic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Actor;
    use chrono::Utc;

    fn event(topic: Topic) -> Arc<Event> {
        Arc::new(Event {
            id: uuid::Uuid::new_v4(),
            seq: 1,
            topics: vec![topic],
            body: serde_json::json!({}),
            at: Utc::now(),
            event: None,
        })
    }

    #[actix::test]
    async fn subscribers_get_their_topics_events_once() -> anyhow::Result<()> {
        let hub = NotificationHub::default().start();
        let job = Topic::Job(uuid::Uuid::new_v4());
        let mut mine = hub
            .send(Subscribe {
                topic: job,
                capacity: 8,
            })
            .await?;
        let mut other = hub
            .send(Subscribe {
                topic: Topic::User(uuid::Uuid::new_v4()),
                capacity: 8,
            })
            .await?;
        let e = event(job);
        hub.send(Deliver(e.clone())).await?;
        hub.send(Deliver(e.clone())).await?;
        assert_eq!(mine.events.recv().await.map(|x| x.id), Some(e.id));
        assert!(
            mine.events.try_recv().is_err(),
            "a redelivered event arrives once"
        );
        assert!(other.events.try_recv().is_err());
        Ok(())
    }

    #[actix::test]
    async fn a_subscriber_that_falls_behind_is_cut_off_and_others_carry_on() -> anyhow::Result<()> {
        let hub = NotificationHub::default().start();
        let job = Topic::Job(uuid::Uuid::new_v4());
        let mut slow = hub
            .send(Subscribe {
                topic: job,
                capacity: 2,
            })
            .await?;
        let mut fast = hub
            .send(Subscribe {
                topic: job,
                capacity: 64,
            })
            .await?;
        for _ in 0..5 {
            hub.send(Deliver(event(job))).await?;
            assert!(fast.events.recv().await.is_some());
        }
        let mut got = 0;
        while slow.events.recv().await.is_some() {
            got += 1;
        }
        assert_eq!(got, 2, "the slow queue held its capacity, then closed");
        assert!(slow.cut_off.load(Ordering::Acquire));
        assert_eq!(hub.send(CountSubscriptions).await?, 1);
        Ok(())
    }
}
