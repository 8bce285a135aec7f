//! Subscriptions shared by cohorts. Subscribers whose operation document, operation name and
//! variables are the same, and who are the same user in the same role, see exactly the same
//! thing; on one worker they form a **cohort** that executes the selection set once per event
//! and serialises the payload once (`Bytes`); each member's frame is only its id and that
//! payload. A job's pipeline watched by its producer on 10,000 devices is one execution per
//! event per worker, not 10,000.
//!
//! Only root fields whose stream carries hub events and nothing per subscription may share
//! (`SHARED_ROOTS`): no first value read when subscribing, no memory of what one subscriber has
//! seen. Every other subscription runs on its own.
//!
//! Each member is admitted on its own before it joins: the subscription's resolver runs for it
//! with an `AdmissionProbe` in the request, which authorises exactly as a real subscription
//! does and then returns an empty stream, so a member never gets events it could not
//! subscribe to itself.
//!
//! A cohort writes each member's frame straight to its socket when nothing of that connection
//! waits to be written (`wire`): no task is woken, no queue touched. Otherwise the
//! delivery goes to the connection's **outbox**, one bounded queue per connection drained by
//! the connection's task. A member whose outbox is full is cut off: it leaves the cohort and
//! its connection ends the subscription with CONFLICT once it has written what was queued.

use super::wire::{Sent, Wire};
use crate::domain::ids::UserId;
use crate::domain::Role;
pub use crate::graphql::subscriptions::{AdmissionProbe, CohortSubscribers};
use actix_web::web::Bytes;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use prometheus_client::metrics::gauge::Gauge;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::task::Waker;

/// Root fields whose subscribers may share one execution.
pub const SHARED_ROOTS: [&str; 3] = [
    "applicationPipeline",
    "myApplicationUpdates",
    "notifications",
];

/// Everything that can change what a cohort's members see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CohortKey {
    query: String,
    operation_name: Option<String>,
    /// The variables as canonical JSON (object keys sorted).
    variables: String,
    user: UserId,
    role: Role,
}

impl CohortKey {
    /// The key of a subscription, or None when it must run on its own: its operation does not
    /// select exactly one root field, or that field is not one of `SHARED_ROOTS`.
    pub fn of(
        document: &ExecutableDocument,
        query: &str,
        operation_name: Option<&str>,
        variables: &serde_json::Value,
        user: UserId,
        role: Role,
    ) -> Option<CohortKey> {
        let operation = match &document.operations {
            DocumentOperations::Single(op) => op,
            DocumentOperations::Multiple(ops) => ops.get(operation_name?)?,
        };
        let [root] = operation.node.selection_set.node.items.as_slice() else {
            return None;
        };
        let Selection::Field(field) = &root.node else {
            return None;
        };
        if !SHARED_ROOTS.contains(&field.node.name.node.as_str()) {
            return None;
        }
        let mut canonical = String::new();
        write_canonical(variables, &mut canonical);
        Some(CohortKey {
            query: query.to_string(),
            operation_name: operation_name.map(str::to_string),
            variables: canonical,
            user,
            role,
        })
    }
}

/// `value` as JSON with every object's keys in order, so equal variables give equal keys.
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What a connection is told about one of its subscriptions.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// A serialised GraphQL response, shared by every member of a cohort.
    Next(Bytes),
    /// The subscription's stream ended.
    Complete,
}

impl Delivery {
    /// What it counts against the outbox's bytes.
    fn size(&self) -> usize {
        match self {
            Delivery::Next(payload) => payload.len(),
            Delivery::Complete => 0,
        }
    }
}

/// A connection's queue of deliveries from cohorts, tagged with the connection's serial number
/// of the subscription. Bounded in deliveries and in bytes: a push to a full outbox cuts that
/// subscription off.
pub struct Outbox {
    queue: RefCell<VecDeque<(u64, Delivery)>>,
    capacity: usize,
    /// Payload bytes queued, and at most.
    bytes: Cell<usize>,
    max_bytes: usize,
    cut_off: RefCell<Vec<u64>>,
    waker: RefCell<Option<Waker>>,
    /// The connection's socket, which a delivery is written to directly when nothing waits.
    wire: Rc<Wire>,
}

impl Outbox {
    pub fn new(capacity: usize, max_bytes: usize, wire: Rc<Wire>) -> Rc<Outbox> {
        Rc::new(Outbox {
            queue: RefCell::new(VecDeque::new()),
            capacity: capacity.max(1),
            bytes: Cell::new(0),
            max_bytes,
            cut_off: RefCell::new(Vec::new()),
            waker: RefCell::new(None),
            wire,
        })
    }

    /// Delivers `payload` to subscription `serial`, whose frames start with `prefix`: straight
    /// to the socket when nothing of this connection waits before it (no task is woken), else
    /// queued. False when the queue is full (the subscription is cut off).
    fn deliver_next(&self, serial: u64, prefix: &[u8], payload: &Bytes) -> bool {
        if self.is_idle() {
            match self.wire.send_text(prefix, payload, b"}") {
                Sent::All => return true,
                Sent::Part => {
                    self.wake();
                    return true;
                }
                Sent::NotNow => {}
            }
        }
        self.push(serial, Delivery::Next(payload.clone()))
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.borrow().as_ref() {
            waker.wake_by_ref();
        }
    }

    /// Queues a delivery; false (and the subscription is listed as cut off) when full.
    fn push(&self, serial: u64, delivery: Delivery) -> bool {
        let accepted = {
            let mut queue = self.queue.borrow_mut();
            let size = delivery.size();
            // A delivery always fits an empty queue, so no subscription is cut off for one
            // large event alone.
            let fits = queue.is_empty() || self.bytes.get() + size <= self.max_bytes;
            if queue.len() < self.capacity && fits {
                self.bytes.set(self.bytes.get() + size);
                queue.push_back((serial, delivery));
                true
            } else {
                false
            }
        };
        if !accepted {
            self.cut_off.borrow_mut().push(serial);
        }
        self.wake();
        accepted
    }

    /// The next queued delivery, if any.
    pub fn pop(&self) -> Option<(u64, Delivery)> {
        let mut queue = self.queue.borrow_mut();
        let next = queue.pop_front();
        if let Some((_, delivery)) = &next {
            self.bytes
                .set(self.bytes.get().saturating_sub(delivery.size()));
        }
        if queue.is_empty() && queue.capacity() > 16 {
            // A burst does not leave its queue's memory behind.
            queue.shrink_to(4);
        }
        next
    }

    /// Subscriptions cut off since the last call (call once the queue is drained, so what was
    /// queued before the cut-off goes out first).
    pub fn take_cut_off(&self) -> Vec<u64> {
        std::mem::take(&mut *self.cut_off.borrow_mut())
    }

    /// Nothing is queued, cut off or waiting for the socket (and the socket is not overflowed).
    pub fn is_idle(&self) -> bool {
        self.queue.borrow().is_empty()
            && self.cut_off.borrow().is_empty()
            && !self.wire.has_pending()
            && !self.wire.overflowed()
    }

    /// Wakes `waker` at the next push.
    pub fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match slot.as_ref() {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

struct Member {
    id: u64,
    outbox: Rc<Outbox>,
    serial: u64,
    /// `{"id":…,"type":"next","payload":` (or the legacy `data`): its frames' start.
    prefix: Rc<[u8]>,
    /// Still a member (a fan-out in progress may hold one that left).
    active: Cell<bool>,
}

/// Members written to before the worker's other tasks get a turn.
const FANOUT_SLICE: usize = 1024;

/// One shared execution and its members.
pub struct Cohort {
    key: CohortKey,
    members: RefCell<HashMap<u64, Rc<Member>>>,
    next_member: Cell<u64>,
    counted: CohortSubscribers,
    task: RefCell<Option<tokio::task::JoinHandle<()>>>,
    registry: Weak<RefCell<HashMap<CohortKey, Rc<Cohort>>>>,
    gauge: Gauge,
}

impl Cohort {
    /// Hands `payload` to every member, a slice at a time (the worker's other tasks run in
    /// between); a member whose outbox is full is cut off and leaves.
    async fn deliver(self: &Rc<Self>, payload: &Bytes) {
        let members: Vec<Rc<Member>> = self.members.borrow().values().cloned().collect();
        for (i, member) in members.iter().enumerate() {
            if i > 0 && i % FANOUT_SLICE == 0 {
                tokio::task::yield_now().await;
            }
            if member.active.get()
                && !member
                    .outbox
                    .deliver_next(member.serial, &member.prefix, payload)
            {
                self.cut(member);
            }
        }
    }

    /// Removes a member that was cut off (its connection ends the subscription).
    fn cut(&self, member: &Member) {
        member.active.set(false);
        let mut members = self.members.borrow_mut();
        members.remove(&member.id);
        self.counted.0.store(members.len(), Ordering::Release);
    }

    /// The stream ended: every member is told, and the cohort is gone.
    fn finish(&self) {
        let members = std::mem::take(&mut *self.members.borrow_mut());
        self.counted.0.store(0, Ordering::Release);
        for member in members.values() {
            member.active.set(false);
            member.outbox.push(member.serial, Delivery::Complete);
        }
        self.unregister();
    }

    fn unregister(&self) {
        if let Some(registry) = self.registry.upgrade() {
            let mut registry = registry.borrow_mut();
            if registry
                .get(&self.key)
                .is_some_and(|c| std::ptr::eq(Rc::as_ptr(c), self))
            {
                registry.remove(&self.key);
                self.gauge.dec();
            }
        }
    }

    fn leave(&self, member: u64) {
        let now_empty = {
            let mut members = self.members.borrow_mut();
            if let Some(left) = members.remove(&member) {
                left.active.set(false);
            }
            self.counted.0.store(members.len(), Ordering::Release);
            members.is_empty()
        };
        if now_empty {
            self.unregister();
            if let Some(task) = self.task.borrow_mut().take() {
                // Dropping the stream leaves the hub.
                task.abort();
            }
        }
    }
}

/// A subscriber's place in a cohort; leaving (complete, a closed socket) drops it.
pub struct Membership {
    cohort: Rc<Cohort>,
    member: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.cohort.leave(self.member);
    }
}

/// This worker's cohorts.
#[derive(Clone)]
pub struct Cohorts {
    map: Rc<RefCell<HashMap<CohortKey, Rc<Cohort>>>>,
    /// Counts the cohorts alive (`/metrics`).
    gauge: Gauge,
}

impl Cohorts {
    pub fn new(gauge: Gauge) -> Cohorts {
        Cohorts {
            map: Rc::default(),
            gauge,
        }
    }

    /// Joins the cohort of `key`, starting it with `start` (given the counter its hub
    /// subscription reports) when there is none.
    pub fn join(
        &self,
        key: CohortKey,
        outbox: &Rc<Outbox>,
        serial: u64,
        prefix: Rc<[u8]>,
        start: impl FnOnce(CohortSubscribers) -> BoxStream<'static, async_graphql::Response>,
    ) -> Membership {
        let existing = self.map.borrow().get(&key).cloned();
        let cohort = match existing {
            Some(cohort) => cohort,
            None => {
                let counted = CohortSubscribers::default();
                let cohort = Rc::new(Cohort {
                    key: key.clone(),
                    members: RefCell::new(HashMap::new()),
                    next_member: Cell::new(0),
                    counted: counted.clone(),
                    task: RefCell::new(None),
                    registry: Rc::downgrade(&self.map),
                    gauge: self.gauge.clone(),
                });
                self.gauge.inc();
                let stream = start(counted);
                let task = actix_web::rt::spawn(drive(Rc::downgrade(&cohort), stream));
                *cohort.task.borrow_mut() = Some(task);
                self.map.borrow_mut().insert(key, cohort.clone());
                cohort
            }
        };
        let member = cohort.next_member.get();
        cohort.next_member.set(member + 1);
        {
            let mut members = cohort.members.borrow_mut();
            members.insert(
                member,
                Rc::new(Member {
                    id: member,
                    outbox: outbox.clone(),
                    serial,
                    prefix,
                    active: Cell::new(true),
                }),
            );
            cohort.counted.0.store(members.len(), Ordering::Release);
        }
        Membership { cohort, member }
    }
}

/// Runs a cohort's execution: each response serialised once, handed to every member.
async fn drive(cohort: Weak<Cohort>, mut stream: BoxStream<'static, async_graphql::Response>) {
    while let Some(response) = stream.next().await {
        let Some(cohort) = cohort.upgrade() else {
            return;
        };
        match serde_json::to_vec(&response) {
            Ok(payload) => cohort.deliver(&Bytes::from(payload)).await,
            Err(e) => tracing::error!(error = %e, "a subscription response did not serialise"),
        }
    }
    if let Some(cohort) = cohort.upgrade() {
        cohort.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str, variables: serde_json::Value, role: Role) -> Option<CohortKey> {
        let document = async_graphql::parser::parse_query(query).ok()?;
        CohortKey::of(
            &document,
            query,
            None,
            &variables,
            UserId(uuid::Uuid::nil()),
            role,
        )
    }

    #[test]
    fn equal_variables_in_any_order_make_one_key() {
        let q = "subscription($a: UUID!, $b: Int) { applicationPipeline(jobId: $a) { kind } }";
        let one = key(q, serde_json::json!({ "a": "x", "b": 1 }), Role::Producer);
        let two = key(q, serde_json::json!({ "b": 1, "a": "x" }), Role::Producer);
        assert!(one.is_some());
        assert_eq!(one, two);
        let other = key(q, serde_json::json!({ "a": "y", "b": 1 }), Role::Producer);
        assert_ne!(one, other);
        let admin = key(q, serde_json::json!({ "a": "x", "b": 1 }), Role::Admin);
        assert_ne!(one, admin, "another role is another cohort");
    }

    #[test]
    fn only_a_single_shared_root_field_makes_a_cohort() {
        let v = serde_json::json!({});
        assert!(key(
            "subscription { notifications { id } }",
            v.clone(),
            Role::Talent
        )
        .is_some());
        assert!(key(
            "subscription { unreadNotificationCount }",
            v.clone(),
            Role::Talent
        )
        .is_none());
        assert!(key(
            "subscription { notifications { id } __typename }",
            v.clone(),
            Role::Talent
        )
        .is_none());
        assert!(key(
            "subscription { ... on Subscription { notifications { id } } }",
            v,
            Role::Talent
        )
        .is_none());
    }
}
