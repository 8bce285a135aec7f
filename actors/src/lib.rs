//! CastYou's actors: the supervised, long-lived, stateful parts of the server. They reach
//! storage only through the port traits defined here, which the server implements; this crate
//! knows nothing of HTTP, GraphQL or SQL.
//!
//! - `events`: the vocabulary: an `Event` committed to the outbox, and the `Topic`s it concerns.
//! - `hub`: `NotificationHub`, this instance's live subscribers by topic, with bounded queues.
//! - `relay`: `OutboxRelay`, which delivers committed events, in order, at least once.
//! - `bus`: `EventBus`, which carries relayed events to every instance's hub.
//! - `deadlines`: `DeadlineScheduler`, which closes jobs at their deadline and reminds before.
//! - `documents`: `DocumentWriter`, which stores each event's documents, then pushes them live.
//! - `mailer`: `Mailer`, which sends account mail from the outbox, retrying with backoff.
//! - `kept`: the shell every in-memory index kept current by events runs in.
//! - `matching`: `MatchIndex`, every talent's and OPEN job's matching features in memory.
//! - `semantic`: `SemanticIndex`, an HNSW index over the talents' profile vectors.
//! - `snapshots`: saved copies of kept indexes and the port that keeps them.
//! - `queue`: `QueueWorker`, the one worker every background job queue (media processing,
//!   embeddings) runs under: leases, heartbeat, dead letter, backoff, the same statistics.
//! - `pipeline`: `PipelineRegistry`, one `PipelineActor` per busy job, serializing its moves.

pub mod bus;
pub mod deadlines;
pub mod documents;
pub mod events;
pub mod hub;
pub mod kept;
pub mod mailer;
pub mod matching;
pub mod pipeline;
pub mod queue;
pub mod relay;
pub mod restarts;
pub mod semantic;
pub mod snapshots;

pub use bus::{BusPort, EventBus, Publish, PublishAll};
pub use documents::{DocumentPort, DocumentWriter};
pub use events::{Event, Topic};
pub use hub::{Deliver, NotificationHub, Subscribe, Subscription};
pub use kept::{KeptIndex, KeptIndexActor, KeptStats};
pub use mailer::{MailFailures, MailPort, Mailer};
pub use matching::{MatchIndex, MatchIndexHandle, MatchSource};
pub use pipeline::{PipelinePort, PipelineRegistry};
pub use relay::{OutboxPort, OutboxRelay};
pub use restarts::{ActorName, RestartCounter, Restarts};
pub use semantic::{SemanticHandle, SemanticIndex, SemanticSource};
