//! The event vocabulary: what the outbox holds and the hub delivers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who may be interested in an event: everyone watching a job's pipeline, or one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    Job(Uuid),
    User(Uuid),
}

/// A committed change, as the outbox relays it. `seq` orders events as they were written;
/// `id` makes redelivery harmless (consumers ignore an id they have seen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub seq: i64,
    /// What happened, e.g. `APPLICATION_MOVED`.
    pub kind: String,
    pub topics: Vec<Topic>,
    /// The facts consumers need, built once when the change committed.
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}
