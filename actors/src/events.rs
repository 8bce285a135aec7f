//! The event vocabulary: what the outbox holds and the hub delivers.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// Who may be interested in an event: everyone watching a job's pipeline, one user, one media
/// item's processing, or each instance's session watcher (revoked sessions, whose sockets must
/// close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    Job(Uuid),
    User(Uuid),
    Sessions,
    /// Each instance's match index: talent profiles and jobs whose matching inputs changed.
    Matching,
    /// One media item's processing (its owner's `mediaProcessing` subscriptions).
    Media(Uuid),
}

/// A committed change, as the outbox relays it: an envelope around the server's own event type,
/// which this crate never looks inside (it routes by `topics`). `seq` orders events as they
/// were written; `id` makes redelivery harmless (consumers ignore an id they have seen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub seq: i64,
    pub topics: Vec<Topic>,
    /// The event itself, as the server's event type serialises it (kind and payload), built
    /// once when the change committed.
    pub body: serde_json::Value,
    pub at: DateTime<Utc>,
    /// The payload decoded into the consumers' type, once, by whichever subscriber needs it
    /// first; every other subscriber shares it.
    #[serde(skip)]
    pub decoded: Decoded,
}

impl Event {
    /// The body as a `T`, decoded on first use and shared afterwards; None if it is not a `T`.
    pub fn decoded<T>(&self) -> Option<Arc<T>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        if let Some(shared) = self.decoded.0.get() {
            if let Ok(t) = shared.clone().downcast::<T>() {
                return Some(t);
            }
        }
        let t = Arc::new(T::deserialize(&self.body).ok()?);
        // The first type decoded is the one kept.
        let _ = self.decoded.0.set(t.clone());
        Some(t)
    }
}

/// The once-decoded payload of an event. Not part of its identity: ignored by `==`, `Debug`
/// and serialization, and not carried over by `clone`.
#[derive(Default)]
pub struct Decoded(OnceLock<Arc<dyn Any + Send + Sync>>);

impl Decoded {
    /// Shares an already decoded body (the writer of the event had it at hand); a body that
    /// was decoded before keeps its first value.
    pub fn set<T: Send + Sync + 'static>(&self, decoded: Arc<T>) {
        let _ = self.0.set(decoded);
    }
}

impl Clone for Decoded {
    fn clone(&self) -> Self {
        Decoded::default()
    }
}

impl PartialEq for Decoded {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoded")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Moved {
        n: u32,
    }

    #[derive(Debug, Deserialize)]
    struct Other {
        #[allow(dead_code)]
        n: u32,
    }

    #[test]
    fn a_payload_is_decoded_once_and_shared() {
        let event = Event {
            id: Uuid::from_u128(1),
            seq: 1,
            topics: vec![],
            body: serde_json::json!({ "n": 7 }),
            at: Utc::now(),
            decoded: Decoded::default(),
        };
        let first = event.decoded::<Moved>();
        let second = event.decoded::<Moved>();
        assert_eq!(first.as_deref(), Some(&Moved { n: 7 }));
        assert!(matches!((&first, &second), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        // Another type still decodes, without replacing what is shared.
        assert!(event.decoded::<Other>().is_some());
        assert!(event.decoded::<String>().is_none());
        assert!(
            matches!((&first, &event.decoded::<Moved>()), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
        );
    }
}
