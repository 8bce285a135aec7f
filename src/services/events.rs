//! What the outbox records for each change, written in the change's own transaction. The
//! payload carries what every consumer needs (the application as it now is, the stages, who
//! is concerned), so delivering it needs no further query.

use super::audit::Staged;
use super::notifications::Notification;
use crate::db::models::{Application, Job};
use crate::db::{self, PgConn};
use crate::domain::ids::*;
use crate::domain::{AccountTokenPurpose, ApplicationStage, JobStatus};
use crate::errors::AppResult;
use anyhow::Context;
use castyou_actors::{Event, Topic};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// Pipeline events as subscribers see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PipelineEventKind {
    Applied,
    Moved,
    Withdrawn,
    JobClosed,
}

/// The payload of every pipeline event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelinePayload {
    pub kind: PipelineEventKind,
    pub job_id: JobId,
    pub producer_id: UserId,
    pub application: Option<Application>,
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

/// A media item's status or progress changed: the item as it now is (its owner's
/// `mediaProcessing` subscriptions, on every instance).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaChanged {
    pub media: crate::db::media::MediaRow,
}

/// What processing a media item found and how long each step took (the document consumer
/// keeps it as the item's media metadata).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaProcessed {
    pub media_id: MediaId,
    pub owner_id: UserId,
    pub report: super::media::ProcessingReport,
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

/// Every event CastYou records or carries: written by services, read by every consumer (the
/// document store, live subscriptions, the session watcher) through this one type, matched
/// exhaustively, so a new kind does not compile until each consumer has decided what it means.
///
/// Serialised adjacently tagged, `{"kind": "APPLICATION_MOVED", "payload": {…}}`: exactly the
/// `kind` and `payload` columns of an outbox row, so rows written before this type existed
/// decode unchanged (tests/fixtures cover every kind). An event of a kind this server does not
/// know (a newer server's, during a rolling deploy) fails to decode: it is kept in the outbox
/// for a server that knows it, and reported.
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
    DiscoverServed(super::matching::ServedPages),
    /// One AI generation's metadata (model, latency, tokens, outcome), for the document store.
    AiResult(super::fliers::AiResult),
    DeadlineReminder(DeadlineReminder),
    GroupInvited(GroupMembershipChanged),
    GroupJoined(GroupMembershipChanged),
    SessionsRevoked(SessionsRevoked),
    /// A verification mail to send (mail consumer only).
    EmailVerificationRequested(AccountMail),
    /// A password reset mail to send (mail consumer only).
    PasswordResetRequested(AccountMail),
    /// An audit entry staged for the document store (never published on the bus).
    Audit(Staged),
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

    /// Every kind this server knows.
    pub fn all() -> &'static [EventKind] {
        <EventKind as strum::VariantArray>::VARIANTS
    }
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

    /// The event of an outbox row's `kind` and `payload`; an error for a kind this server does
    /// not know.
    pub fn from_columns(
        kind: &str,
        payload: &serde_json::Value,
    ) -> serde_json::Result<OutboxEvent> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }

    /// The bus envelope of an event that has no outbox row (notifications pushed live).
    pub fn into_live(self, id: Uuid, seq: i64, at: DateTime<Utc>) -> Event {
        let topics = self.topics();
        let body = serde_json::to_value(&self).unwrap_or_default();
        let event = Event {
            id,
            seq,
            topics,
            body,
            at,
            decoded: Default::default(),
        };
        // Decoded already: subscribers share this one.
        event.decoded.set(Arc::new(self));
        event
    }
}

/// The outbox kinds this server knows, as stored.
pub fn known_kinds() -> Vec<&'static str> {
    EventKind::all().iter().map(|k| k.as_str()).collect()
}

/// The event an envelope carries, decoded once and shared by every subscriber; None (logged)
/// when it is of a kind this server does not know.
pub fn decode(event: &Event) -> Option<Arc<OutboxEvent>> {
    let decoded = event.decoded::<OutboxEvent>();
    if decoded.is_none() {
        tracing::warn!(id = %event.id, kind = ?event.body.get("kind"), "an event of an unknown kind; ignored here");
    }
    decoded
}

/// Records an event in the change's own transaction, marked done already for the consumers it
/// is not for.
pub(crate) async fn record(conn: &mut PgConn, event: OutboxEvent) -> AppResult<()> {
    let job = event.pipeline().map(|p| p.job_id);
    let (kind, payload) = event.to_columns()?;
    let consumers = db::outbox::Consumers {
        bus: event.for_bus(),
        mail: event.mail().is_some(),
    };
    db::outbox::record(conn, kind, job, &payload, consumers)
        .await
        .context("outbox::record")?;
    Ok(())
}

/// An application was created, moved or withdrawn.
pub async fn application_changed(
    conn: &mut PgConn,
    kind: PipelineEventKind,
    application: &Application,
    producer_id: UserId,
    from_stage: Option<ApplicationStage>,
) -> AppResult<()> {
    let payload = PipelinePayload {
        kind,
        job_id: application.job_id,
        producer_id,
        application: Some(application.clone()),
        from_stage,
        to_stage: Some(application.stage),
        at: application.stage_changed_at,
        user_ids: vec![application.talent_id],
    };
    let payload = Arc::new(payload);
    let event = match kind {
        PipelineEventKind::Applied => OutboxEvent::ApplicationCreated(payload),
        PipelineEventKind::Moved => OutboxEvent::ApplicationMoved(payload),
        PipelineEventKind::Withdrawn => OutboxEvent::ApplicationWithdrawn(payload),
        PipelineEventKind::JobClosed => OutboxEvent::JobClosed(payload),
    };
    record(conn, event).await
}

/// A job's status changed. Closing is a pipeline event, for the pipeline's watchers and every
/// applicant still in it; the other changes are recorded for consumers of the outbox only.
pub async fn job_status_changed(conn: &mut PgConn, job: &Job) -> AppResult<()> {
    let changed = || JobStatusChanged {
        job_id: job.row.id,
        producer_id: job.row.producer_id,
        status: job.row.status,
        at: job.row.updated_at,
    };
    let event = match job.row.status {
        JobStatus::Draft => return Ok(()),
        JobStatus::Open => OutboxEvent::JobPublished(changed()),
        JobStatus::Filled => OutboxEvent::JobFilled(changed()),
        JobStatus::Cancelled => OutboxEvent::JobCancelled(changed()),
        JobStatus::Closed => OutboxEvent::JobClosed(Arc::new(PipelinePayload {
            kind: PipelineEventKind::JobClosed,
            job_id: job.row.id,
            producer_id: job.row.producer_id,
            application: None,
            from_stage: None,
            to_stage: None,
            at: job.row.updated_at,
            user_ids: db::applications::applicants_in_play(conn, job.row.id)
                .await
                .context("applications::applicants_in_play")?,
        })),
    };
    record(conn, event).await
}

/// A job's content or match weights changed: each match index re-reads it.
pub async fn job_updated(conn: &mut PgConn, job: &Job) -> AppResult<()> {
    let changed = JobStatusChanged {
        job_id: job.row.id,
        producer_id: job.row.producer_id,
        status: job.row.status,
        at: job.row.updated_at,
    };
    record(conn, OutboxEvent::JobUpdated(changed)).await
}

/// Vectors were stored: every instance's indexes re-read them.
pub async fn embeddings_stored(
    conn: &mut PgConn,
    talent_ids: Vec<UserId>,
    job_ids: Vec<JobId>,
) -> AppResult<()> {
    let stored = EmbeddingsStored {
        talent_ids,
        job_ids,
        at: Utc::now(),
    };
    record(conn, OutboxEvent::EmbeddingsStored(stored)).await
}

/// An AI generation's metadata, for the document store only.
pub async fn ai_result(conn: &mut PgConn, result: &super::fliers::AiResult) -> AppResult<()> {
    record(conn, OutboxEvent::AiResult(result.clone())).await
}

/// A talent profile was created or changed: each match index re-reads it.
pub async fn talent_profile_changed(
    conn: &mut PgConn,
    talent_id: UserId,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let changed = TalentProfileChanged { talent_id, at };
    record(conn, OutboxEvent::TalentProfileChanged(changed)).await
}

/// A job's application deadline is near: its producer hears of it.
pub async fn deadline_approaching(conn: &mut PgConn, job: &Job) -> AppResult<()> {
    let reminder = DeadlineReminder {
        job_id: job.row.id,
        producer_id: job.row.producer_id,
        title: job.row.title.clone(),
        application_deadline: job.row.application_deadline,
        user_ids: vec![job.row.producer_id],
    };
    record(conn, OutboxEvent::DeadlineReminder(reminder)).await
}

/// Whether a talent was invited to a group or joined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Invited,
    Joined,
}

/// A talent was invited to a group, or accepted.
pub async fn group_membership_changed(
    conn: &mut PgConn,
    change: Membership,
    group_id: GroupId,
    talent_id: UserId,
    owner_id: UserId,
) -> AppResult<()> {
    let changed = GroupMembershipChanged {
        group_id,
        talent_id,
        owner_id,
        at: Utc::now(),
        user_ids: vec![talent_id, owner_id],
    };
    let event = match change {
        Membership::Invited => OutboxEvent::GroupInvited(changed),
        Membership::Joined => OutboxEvent::GroupJoined(changed),
    };
    record(conn, event).await
}

/// Records revoked sessions, in the revoking transaction.
pub async fn sessions_revoked(
    conn: &mut PgConn,
    user_id: UserId,
    session_ids: &[SessionId],
    reason: &str,
) -> AppResult<()> {
    if session_ids.is_empty() {
        return Ok(());
    }
    let revoked = SessionsRevoked {
        user_id,
        session_ids: session_ids.to_vec(),
        reason: reason.to_string(),
    };
    record(conn, OutboxEvent::SessionsRevoked(revoked)).await
}

/// A media item's new status or progress, for its `mediaProcessing` subscribers.
pub async fn media_changed(conn: &mut PgConn, row: &db::media::MediaRow) -> AppResult<()> {
    record(
        conn,
        OutboxEvent::MediaChanged(MediaChanged { media: row.clone() }),
    )
    .await
}

/// A media item's processing results, for its media metadata document.
pub async fn media_processed(
    conn: &mut PgConn,
    row: &db::media::MediaRow,
    report: super::media::ProcessingReport,
) -> AppResult<()> {
    record(
        conn,
        OutboxEvent::MediaProcessed(MediaProcessed {
            media_id: row.id,
            owner_id: row.owner_id,
            report,
        }),
    )
    .await
}

/// Builds the relay's envelope from an outbox row. Its topics come from the decoded event; a
/// row of a kind this server does not know still travels, to the job and the users it names,
/// so the instances that know it can use it.
pub fn to_event(row: db::outbox::OutboxRow) -> Event {
    let decoded = OutboxEvent::from_columns(&row.kind, &row.payload).ok();
    let topics = match &decoded {
        Some(event) => event.topics(),
        None => {
            tracing::warn!(seq = row.seq, kind = %row.kind, "an outbox event of an unknown kind");
            let mut topics: Vec<Topic> = row.job_id.map(|j| Topic::Job(j.0)).into_iter().collect();
            if let Some(users) = row.payload.get("userIds").and_then(|v| v.as_array()) {
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
    let event = Event {
        id: row.id.0,
        seq: row.seq,
        topics,
        body: serde_json::json!({ "kind": row.kind, "payload": row.payload }),
        at: row.created_at,
        decoded: Default::default(),
    };
    if let Some(decoded) = decoded {
        event.decoded.set(Arc::new(decoded));
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outbox rows as servers before this type wrote them, one of every kind.
    const STORED: &str = include_str!("../../tests/fixtures/outbox_rows.json");

    #[test]
    fn rows_already_in_the_outbox_decode_and_encode_back_unchanged() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(STORED).expect("fixtures");
        let mut seen = Vec::new();
        for row in &rows {
            let kind = row["kind"].as_str().expect("a kind");
            let event = OutboxEvent::from_columns(kind, &row["payload"])
                .unwrap_or_else(|e| panic!("{kind} does not decode: {e}"));
            assert_eq!(event.kind().as_str(), kind);
            let (again, payload) = event.to_columns().expect("encodes");
            assert_eq!(again, kind);
            assert_eq!(
                payload, row["payload"],
                "{kind} changes shape when written again"
            );
            let job = event.pipeline().map(|p| p.job_id.to_string());
            assert_eq!(job.as_deref(), row["job_id"].as_str(), "{kind}'s job topic");
            seen.push(event.kind());
        }
        // Every kind the outbox stores has a fixture (the bus-only kinds have no rows).
        for kind in EventKind::all() {
            let bus_only = matches!(kind, EventKind::Notification | EventKind::NotificationsRead);
            assert!(
                bus_only || seen.contains(kind),
                "no stored fixture of {kind:?}"
            );
        }
    }

    #[test]
    fn an_unknown_kind_is_an_error_not_a_silent_default() {
        let unknown = OutboxEvent::from_columns("PROFILE_TELEPORTED", &serde_json::json!({}));
        assert!(unknown.is_err());
    }

    #[test]
    fn envelopes_route_by_the_decoded_event() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(STORED).expect("fixtures");
        let revoked = rows
            .iter()
            .find(|r| r["kind"] == "SESSIONS_REVOKED")
            .expect("a row");
        let event =
            OutboxEvent::from_columns("SESSIONS_REVOKED", &revoked["payload"]).expect("decodes");
        assert_eq!(event.topics(), vec![Topic::Sessions]);
    }
}
