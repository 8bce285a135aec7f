//! Every event CastYou records or carries, in one type (`OutboxEvent`), with its payloads, who
//! hears of it (`Topic`) and the envelope that relays and buses carry (`Event`).
//!
//! Services write it, in the change's own transaction; every consumer (the document store,
//! live subscriptions, the match and semantic indexes, the session watcher, the mailer) reads it
//! through this type and matches it exhaustively, so a new kind does not compile until each
//! consumer has decided what it means.
//!
//! Serialised adjacently tagged, `{"kind": "APPLICATION_MOVED", "payload": {…}}`: exactly the
//! `kind` and `payload` columns of an outbox row, so rows written before this type existed
//! decode unchanged (the server's fixtures cover every kind). An event of a kind this build does
//! not know (a newer server's, during a rolling deploy) does not decode: its envelope still
//! travels with its raw body, for the instances that know it.

use crate::enums::{AccountTokenPurpose, ApplicationStage, JobStatus, Verdict};
use crate::ids::*;
use crate::media::ProcessingReport;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// Who may be interested in an event: everyone watching a job's pipeline, one user, one media
/// item's processing, each instance's match index, or each instance's session watcher (revoked
/// sessions, whose sockets must close).
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

/// A committed change, as relays and buses carry it. `seq` orders events as they were written;
/// `id` makes redelivery harmless (consumers ignore an id they have seen).
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub seq: i64,
    pub topics: Vec<Topic>,
    /// The event as stored (`{"kind", "payload"}`), carried as it is so instances that know
    /// more kinds than this one can read it.
    pub body: serde_json::Value,
    pub at: DateTime<Utc>,
    /// The event decoded once, shared by every consumer; None for a kind this build does not
    /// know.
    pub event: Option<Arc<OutboxEvent>>,
}

/// How an `Event` travels between instances (its decoded form is rebuilt on arrival).
#[derive(Serialize, Deserialize)]
struct Wire<B> {
    id: Uuid,
    seq: i64,
    topics: Vec<Topic>,
    body: B,
    at: DateTime<Utc>,
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            id: self.id,
            seq: self.seq,
            topics: self.topics.clone(),
            body: &self.body,
            at: self.at,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::<serde_json::Value>::deserialize(deserializer)?;
        let event = OutboxEvent::deserialize(&wire.body).ok().map(Arc::new);
        Ok(Event {
            id: wire.id,
            seq: wire.seq,
            topics: wire.topics,
            body: wire.body,
            at: wire.at,
            event,
        })
    }
}

impl Event {
    /// The envelope of a committed event of known kind.
    pub fn new(id: Uuid, seq: i64, at: DateTime<Utc>, event: OutboxEvent) -> Event {
        let body = serde_json::to_value(&event).unwrap_or_default();
        Event {
            id,
            seq,
            topics: event.topics(),
            body,
            at,
            event: Some(Arc::new(event)),
        }
    }

    /// The envelope of an outbox row (`kind`, `payload` columns). A row of a kind this build
    /// does not know still travels, to the job and the users it names (`job` and the payload's
    /// `userIds`), so the instances that know it can use it.
    pub fn from_row(
        id: Uuid,
        seq: i64,
        at: DateTime<Utc>,
        kind: &str,
        payload: &serde_json::Value,
        job: Option<JobId>,
    ) -> Event {
        let body = serde_json::json!({ "kind": kind, "payload": payload });
        let event = OutboxEvent::from_columns(kind, payload).ok().map(Arc::new);
        let topics = match &event {
            Some(event) => event.topics(),
            None => {
                let mut topics: Vec<Topic> = job.map(|j| Topic::Job(j.0)).into_iter().collect();
                if let Some(users) = payload.get("userIds").and_then(|v| v.as_array()) {
                    topics.extend(
                        users
                            .iter()
                            .filter_map(|u| u.as_str()?.parse().ok())
                            .map(Topic::User),
                    );
                }
                topics
            }
        };
        Event {
            id,
            seq,
            topics,
            body,
            at,
            event,
        }
    }

    /// The event's kind as stored (known or not).
    pub fn kind(&self) -> Option<&str> {
        self.body.get("kind").and_then(|k| k.as_str())
    }
}

/// Pipeline events as subscribers see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PipelineEventKind {
    Applied,
    Moved,
    Withdrawn,
    JobClosed,
}

/// An application as a pipeline event carries it (the row as it is after the change).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplicationSnapshot {
    pub id: ApplicationId,
    pub job_id: JobId,
    pub talent_id: UserId,
    pub stage: ApplicationStage,
    pub rejected_from: Option<ApplicationStage>,
    pub cover_note: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub stage_changed_at: DateTime<Utc>,
}

/// The payload of every pipeline event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelinePayload {
    pub kind: PipelineEventKind,
    pub job_id: JobId,
    pub producer_id: UserId,
    pub application: Option<ApplicationSnapshot>,
    pub from_stage: Option<ApplicationStage>,
    pub to_stage: Option<ApplicationStage>,
    pub at: DateTime<Utc>,
    /// Users who hear of it on their own topic (the talent; for a closed job, every applicant).
    pub user_ids: Vec<UserId>,
}

/// A job's status changed (other than closing, which is a pipeline event).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatusChanged {
    pub job_id: JobId,
    pub producer_id: UserId,
    pub status: JobStatus,
    pub at: DateTime<Utc>,
}

/// A talent profile was created or changed (the match index re-reads it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TalentProfileChanged {
    pub talent_id: UserId,
    pub at: DateTime<Utc>,
}

/// Vectors were stored for these talents and jobs (each instance's semantic index and match
/// index re-read them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddingsStored {
    pub talent_ids: Vec<UserId>,
    pub job_ids: Vec<JobId>,
    pub at: DateTime<Utc>,
}

/// A media item as it is stored (as `MEDIA_CHANGED` carries it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaSnapshot {
    pub id: MediaId,
    pub owner_id: UserId,
    pub kind: String,
    pub status: String,
    pub content_type: String,
    pub byte_size: i64,
    pub file_name: Option<String>,
    pub object_key: String,
    pub display_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub progress: f32,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_seconds: Option<f64>,
    pub error: Option<String>,
    pub upload_expires_at: DateTime<Utc>,
    /// How many times a worker took it.
    #[serde(default)]
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A media item's status or progress changed: the item as it now is (its owner's
/// `mediaProcessing` subscriptions, on every instance).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaChanged {
    pub media: MediaSnapshot,
}

/// What processing a media item found and how long each step took (the document consumer
/// keeps it as the item's media metadata).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaProcessed {
    pub media_id: MediaId,
    pub owner_id: UserId,
    pub report: ProcessingReport,
}

/// A job's application deadline is near.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadlineReminder {
    pub job_id: JobId,
    pub producer_id: UserId,
    pub title: String,
    pub application_deadline: DateTime<Utc>,
    /// Who hears of it: the producer.
    pub user_ids: Vec<UserId>,
}

/// A talent was invited to a group, or accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembershipChanged {
    pub group_id: GroupId,
    pub talent_id: UserId,
    pub owner_id: UserId,
    pub at: DateTime<Utc>,
    /// Who hears of it: the talent and the owner.
    pub user_ids: Vec<UserId>,
}

/// Sessions were revoked (logout, refresh-token reuse, a role change): every instance closes
/// their websockets and caches the revocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsRevoked {
    pub user_id: UserId,
    pub session_ids: Vec<SessionId>,
    pub reason: String,
}

/// A mail that carries an account token (for the mail consumer only). The token itself is not
/// here: it is derived from `token_id` with the server's key when the mail is written, and only
/// its hash is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountMail {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub token_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// A user's notifications were marked read (carried on the bus only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsRead {
    pub user_id: UserId,
    pub changed: u64,
}

/// A notification as clients see it (and as the bus carries it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    /// The recipient (routes the live event; clients see only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An audit entry as staged in the outbox (kind AUDIT) for the document consumer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub actor_id: Option<UserId>,
    pub role: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub summary: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// What wrote a flier: the model, or the template fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratedBy {
    Model,
    Template,
}

/// One model-backed generation's metadata (never the key, the prompt or the producer's
/// instructions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiResult {
    pub task: String,
    pub job_id: JobId,
    pub user_id: UserId,
    /// The model asked, when an endpoint is configured.
    pub model: Option<String>,
    /// "model" or "template".
    pub outcome: GeneratedBy,
    pub fallback_reason: Option<String>,
    /// Calls made to the endpoint (0 without one).
    pub attempts: u32,
    pub latency_ms: u64,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub at: DateTime<Utc>,
}

/// One stored weight (`jobs.match_weights` holds all nine, normalised, in factor order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredWeight {
    pub factor: String,
    pub weight: f32,
}

/// A discover page as staged for the explain log (outbox kind DISCOVER_SERVED).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Served {
    pub job_id: JobId,
    pub viewer_id: UserId,
    pub viewer_role: String,
    pub engine_version: String,
    pub weights: Vec<StoredWeight>,
    pub request: serde_json::Value,
    pub talents: Vec<ServedTalent>,
    pub at: DateTime<Utc>,
}

/// One talent of a served discover page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedTalent {
    pub talent_id: UserId,
    pub rank: u32,
    pub score: f32,
    /// In factor order: (score, verdict).
    pub factors: Vec<(f32, Verdict)>,
}

/// Discover pages staged together in one outbox row (kind DISCOVER_SERVED).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedPages {
    pub pages: Vec<Served>,
}

/// Every event CastYou records or carries (see the module).
#[derive(Debug, Clone, Serialize, Deserialize, strum::EnumDiscriminants)]
#[strum_discriminants(name(EventKind), derive(strum::IntoStaticStr, strum::VariantArray))]
#[strum_discriminants(strum(serialize_all = "SCREAMING_SNAKE_CASE"))]
#[serde(tag = "kind", content = "payload", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboxEvent {
    ApplicationCreated(Arc<PipelinePayload>),
    ApplicationMoved(Arc<PipelinePayload>),
    ApplicationWithdrawn(Arc<PipelinePayload>),
    JobClosed(Arc<PipelinePayload>),
    JobPublished(JobStatusChanged),
    JobFilled(JobStatusChanged),
    JobCancelled(JobStatusChanged),
    /// A job's content or match weights changed (its status did not).
    JobUpdated(JobStatusChanged),
    TalentProfileChanged(TalentProfileChanged),
    EmbeddingsStored(EmbeddingsStored),
    /// A media item's status or progress changed (bus only: its `mediaProcessing` watchers).
    MediaChanged(MediaChanged),
    /// A media item's processing results, for the document store.
    MediaProcessed(MediaProcessed),
    /// A discover page served, staged for the explain log (document consumer only).
    DiscoverServed(ServedPages),
    /// One AI generation's metadata (model, latency, tokens, outcome), for the document store.
    AiResult(AiResult),
    DeadlineReminder(DeadlineReminder),
    GroupInvited(GroupMembershipChanged),
    GroupJoined(GroupMembershipChanged),
    SessionsRevoked(SessionsRevoked),
    /// A verification mail to send (mail consumer only).
    EmailVerificationRequested(AccountMail),
    /// A password reset mail to send (mail consumer only).
    PasswordResetRequested(AccountMail),
    /// An audit entry staged for the document store (never published on the bus).
    Audit(AuditEntry),
    /// A stored notification pushed to its recipient (bus only).
    Notification(Notification),
    /// A user's notifications were marked read (bus only).
    NotificationsRead(NotificationsRead),
}

impl EventKind {
    /// The kind as stored in the outbox's `kind` column.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every kind this build knows.
    pub fn all() -> &'static [EventKind] {
        <EventKind as strum::VariantArray>::VARIANTS
    }
}

/// The outbox kinds this build knows, as stored.
pub fn known_kinds() -> Vec<&'static str> {
    EventKind::all().iter().map(|k| k.as_str()).collect()
}

impl OutboxEvent {
    pub fn kind(&self) -> EventKind {
        self.into()
    }

    /// The pipeline payload of a pipeline event (shared, not copied).
    pub fn pipeline(&self) -> Option<&Arc<PipelinePayload>> {
        match self {
            OutboxEvent::ApplicationCreated(p)
            | OutboxEvent::ApplicationMoved(p)
            | OutboxEvent::ApplicationWithdrawn(p)
            | OutboxEvent::JobClosed(p) => Some(p),
            OutboxEvent::JobPublished(_)
            | OutboxEvent::JobFilled(_)
            | OutboxEvent::JobCancelled(_)
            | OutboxEvent::JobUpdated(_)
            | OutboxEvent::TalentProfileChanged(_)
            | OutboxEvent::EmbeddingsStored(_)
            | OutboxEvent::MediaChanged(_)
            | OutboxEvent::MediaProcessed(_)
            | OutboxEvent::DiscoverServed(_)
            | OutboxEvent::AiResult(_)
            | OutboxEvent::DeadlineReminder(_)
            | OutboxEvent::GroupInvited(_)
            | OutboxEvent::GroupJoined(_)
            | OutboxEvent::SessionsRevoked(_)
            | OutboxEvent::EmailVerificationRequested(_)
            | OutboxEvent::PasswordResetRequested(_)
            | OutboxEvent::Audit(_)
            | OutboxEvent::Notification(_)
            | OutboxEvent::NotificationsRead(_) => None,
        }
    }

    /// Whether the bus relays it (audit entries and mail are for their consumers only).
    pub fn for_bus(&self) -> bool {
        match self {
            OutboxEvent::Audit(_)
            | OutboxEvent::DiscoverServed(_)
            | OutboxEvent::AiResult(_)
            | OutboxEvent::MediaProcessed(_)
            | OutboxEvent::EmailVerificationRequested(_)
            | OutboxEvent::PasswordResetRequested(_) => false,
            OutboxEvent::MediaChanged(_) => true,
            OutboxEvent::JobUpdated(_)
            | OutboxEvent::TalentProfileChanged(_)
            | OutboxEvent::EmbeddingsStored(_) => true,
            OutboxEvent::Notification(_)
            | OutboxEvent::NotificationsRead(_)
            | OutboxEvent::ApplicationCreated(_)
            | OutboxEvent::ApplicationMoved(_)
            | OutboxEvent::ApplicationWithdrawn(_)
            | OutboxEvent::JobClosed(_)
            | OutboxEvent::JobPublished(_)
            | OutboxEvent::JobFilled(_)
            | OutboxEvent::JobCancelled(_)
            | OutboxEvent::DeadlineReminder(_)
            | OutboxEvent::GroupInvited(_)
            | OutboxEvent::GroupJoined(_)
            | OutboxEvent::SessionsRevoked(_) => true,
        }
    }

    /// The mail it asks for, if any (the mail consumer reads only these).
    pub fn mail(&self) -> Option<(AccountTokenPurpose, &AccountMail)> {
        match self {
            OutboxEvent::EmailVerificationRequested(m) => {
                Some((AccountTokenPurpose::VerifyEmail, m))
            }
            OutboxEvent::PasswordResetRequested(m) => Some((AccountTokenPurpose::ResetPassword, m)),
            OutboxEvent::Audit(_)
            | OutboxEvent::DiscoverServed(_)
            | OutboxEvent::AiResult(_)
            | OutboxEvent::JobUpdated(_)
            | OutboxEvent::TalentProfileChanged(_)
            | OutboxEvent::EmbeddingsStored(_)
            | OutboxEvent::MediaChanged(_)
            | OutboxEvent::MediaProcessed(_)
            | OutboxEvent::Notification(_)
            | OutboxEvent::NotificationsRead(_)
            | OutboxEvent::ApplicationCreated(_)
            | OutboxEvent::ApplicationMoved(_)
            | OutboxEvent::ApplicationWithdrawn(_)
            | OutboxEvent::JobClosed(_)
            | OutboxEvent::JobPublished(_)
            | OutboxEvent::JobFilled(_)
            | OutboxEvent::JobCancelled(_)
            | OutboxEvent::DeadlineReminder(_)
            | OutboxEvent::GroupInvited(_)
            | OutboxEvent::GroupJoined(_)
            | OutboxEvent::SessionsRevoked(_) => None,
        }
    }

    /// Who hears of it live: a job's pipeline watchers, users on their own topic, or each
    /// instance's session watcher.
    pub fn topics(&self) -> Vec<Topic> {
        let users = |ids: &[UserId]| ids.iter().map(|u| Topic::User(u.0)).collect::<Vec<_>>();
        match self {
            OutboxEvent::ApplicationCreated(p)
            | OutboxEvent::ApplicationMoved(p)
            | OutboxEvent::ApplicationWithdrawn(p) => {
                let mut topics = vec![Topic::Job(p.job_id.0)];
                topics.extend(users(&p.user_ids));
                topics
            }
            // A closed job also leaves every match index.
            OutboxEvent::JobClosed(p) => {
                let mut topics = vec![Topic::Job(p.job_id.0), Topic::Matching];
                topics.extend(users(&p.user_ids));
                topics
            }
            // Pipeline watchers hear only of pipeline events; the match indexes of these.
            OutboxEvent::JobPublished(_)
            | OutboxEvent::JobFilled(_)
            | OutboxEvent::JobCancelled(_)
            | OutboxEvent::JobUpdated(_)
            | OutboxEvent::TalentProfileChanged(_)
            | OutboxEvent::EmbeddingsStored(_) => vec![Topic::Matching],
            OutboxEvent::DiscoverServed(_)
            | OutboxEvent::AiResult(_)
            | OutboxEvent::MediaProcessed(_)
            | OutboxEvent::EmailVerificationRequested(_)
            | OutboxEvent::PasswordResetRequested(_)
            | OutboxEvent::Audit(_) => Vec::new(),
            OutboxEvent::MediaChanged(m) => vec![Topic::Media(m.media.id.0)],
            OutboxEvent::DeadlineReminder(r) => users(&r.user_ids),
            OutboxEvent::GroupInvited(g) | OutboxEvent::GroupJoined(g) => users(&g.user_ids),
            OutboxEvent::SessionsRevoked(_) => vec![Topic::Sessions],
            OutboxEvent::Notification(n) => n
                .user_id
                .map(|u| vec![Topic::User(u.0)])
                .unwrap_or_default(),
            OutboxEvent::NotificationsRead(r) => vec![Topic::User(r.user_id.0)],
        }
    }

    /// The `kind` and `payload` columns of its outbox row.
    pub fn to_columns(&self) -> anyhow::Result<(&'static str, serde_json::Value)> {
        let mut tagged = serde_json::to_value(self).context("encoding an event")?;
        let payload = tagged
            .get_mut("payload")
            .map(serde_json::Value::take)
            .context("an event without a payload")?;
        Ok((self.kind().as_str(), payload))
    }

    /// The event of an outbox row's `kind` and `payload`; an error for a kind this build does
    /// not know.
    pub fn from_columns(
        kind: &str,
        payload: &serde_json::Value,
    ) -> serde_json::Result<OutboxEvent> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_travels_and_arrives_decoded() {
        let event = OutboxEvent::NotificationsRead(NotificationsRead {
            user_id: UserId(Uuid::from_u128(7)),
            changed: 3,
        });
        let sent = Event::new(Uuid::from_u128(1), 9, Utc::now(), event);
        assert_eq!(sent.topics, vec![Topic::User(Uuid::from_u128(7))]);
        let wire = serde_json::to_string(&sent).expect("encoded");
        let arrived: Event = serde_json::from_str(&wire).expect("decoded");
        assert_eq!(arrived.seq, 9);
        assert!(matches!(
            arrived.event.as_deref(),
            Some(OutboxEvent::NotificationsRead(r)) if r.changed == 3
        ));

        // A kind from a newer build still travels, undecoded, to whom its row names.
        let unknown = Event::from_row(
            Uuid::from_u128(2),
            10,
            Utc::now(),
            "AUDITION_CONFIRMED",
            &serde_json::json!({ "userIds": [Uuid::from_u128(8)] }),
            Some(JobId(Uuid::from_u128(3))),
        );
        assert!(unknown.event.is_none());
        assert_eq!(unknown.kind(), Some("AUDITION_CONFIRMED"));
        assert_eq!(
            unknown.topics,
            vec![
                Topic::Job(Uuid::from_u128(3)),
                Topic::User(Uuid::from_u128(8))
            ]
        );
        let wire = serde_json::to_string(&unknown).expect("encoded");
        let arrived: Event = serde_json::from_str(&wire).expect("decoded");
        assert!(arrived.event.is_none());
        assert_eq!(arrived.body, unknown.body);
    }
}
