//! What the outbox records for each change, written in the change's own transaction. The
//! payload carries what every consumer needs (the application as it now is, the stages, who
//! is concerned), so delivering it needs no further query.

use crate::db::models::{Application, Job};
use crate::db::{self, PgConn};
use crate::domain::ApplicationStage;
use crate::errors::AppResult;
use castyou_actors::{Event, Topic};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
    pub job_id: Uuid,
    pub producer_id: Uuid,
    pub application: Option<Application>,
    pub from_stage: Option<ApplicationStage>,
    pub to_stage: Option<ApplicationStage>,
    pub at: DateTime<Utc>,
    /// Users who hear of it on their own topic (the talent; for a closed job, every applicant).
    pub user_ids: Vec<Uuid>,
}

fn outbox_kind(kind: PipelineEventKind) -> &'static str {
    match kind {
        PipelineEventKind::Applied => "APPLICATION_CREATED",
        PipelineEventKind::Moved => "APPLICATION_MOVED",
        PipelineEventKind::Withdrawn => "APPLICATION_WITHDRAWN",
        PipelineEventKind::JobClosed => "JOB_CLOSED",
    }
}

async fn record(
    conn: &mut PgConn,
    kind: &str,
    job_id: Option<Uuid>,
    payload: &impl Serialize,
) -> AppResult<()> {
    let payload = serde_json::to_value(payload)
        .map_err(|e| anyhow::Error::new(e).context("encoding an event"))?;
    db::outbox::record(conn, kind, job_id, &payload).await?;
    Ok(())
}

/// An application was created, moved or withdrawn.
pub async fn application_changed(
    conn: &mut PgConn,
    kind: PipelineEventKind,
    application: &Application,
    producer_id: Uuid,
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
    record(conn, outbox_kind(kind), Some(application.job_id), &payload).await
}

/// A job's status changed. Closing is a pipeline event, for the pipeline's watchers and every
/// applicant still in it; the other changes are recorded for consumers of the outbox only.
pub async fn job_status_changed(conn: &mut PgConn, job: &Job) -> AppResult<()> {
    use crate::domain::JobStatus;
    let kind = match job.row.status {
        JobStatus::Open => "JOB_PUBLISHED",
        JobStatus::Closed => "JOB_CLOSED",
        JobStatus::Filled => "JOB_FILLED",
        JobStatus::Cancelled => "JOB_CANCELLED",
        JobStatus::Draft => return Ok(()),
    };
    if job.row.status != JobStatus::Closed {
        let payload = serde_json::json!({
            "jobId": job.row.id,
            "producerId": job.row.producer_id,
            "status": job.row.status,
            "at": job.row.updated_at,
        });
        // No job topic: pipeline watchers only hear of pipeline events.
        return record(conn, kind, None, &payload).await;
    }
    let payload = PipelinePayload {
        kind: PipelineEventKind::JobClosed,
        job_id: job.row.id,
        producer_id: job.row.producer_id,
        application: None,
        from_stage: None,
        to_stage: None,
        at: job.row.updated_at,
        user_ids: db::applications::applicants_in_play(conn, job.row.id).await?,
    };
    record(conn, kind, Some(job.row.id), &payload).await
}

/// A job's application deadline is near: its producer hears of it.
pub async fn deadline_approaching(conn: &mut PgConn, job: &Job) -> AppResult<()> {
    let payload = serde_json::json!({
        "jobId": job.row.id,
        "producerId": job.row.producer_id,
        "title": job.row.title,
        "applicationDeadline": job.row.application_deadline,
        "userIds": [job.row.producer_id],
    });
    // No job topic: the reminder is for the producer, not for pipeline watchers.
    record(conn, "DEADLINE_REMINDER", None, &payload).await
}

/// A talent was invited to a group, or accepted.
pub async fn group_membership_changed(
    conn: &mut PgConn,
    kind: &str,
    group_id: Uuid,
    talent_id: Uuid,
    owner_id: Uuid,
) -> AppResult<()> {
    let payload = serde_json::json!({
        "groupId": group_id,
        "talentId": talent_id,
        "ownerId": owner_id,
        "at": Utc::now(),
        "userIds": [talent_id, owner_id],
    });
    record(conn, kind, None, &payload).await
}

/// The outbox kind of revoked sessions.
pub const SESSIONS_REVOKED: &str = "SESSIONS_REVOKED";

/// Sessions were revoked (logout, refresh-token reuse, a role change): every instance closes
/// their websockets and caches the revocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsRevoked {
    pub user_id: Uuid,
    pub session_ids: Vec<Uuid>,
    pub reason: String,
}

/// Records revoked sessions, in the revoking transaction.
pub async fn sessions_revoked(
    conn: &mut PgConn,
    user_id: Uuid,
    session_ids: &[Uuid],
    reason: &str,
) -> AppResult<()> {
    if session_ids.is_empty() {
        return Ok(());
    }
    let payload = SessionsRevoked {
        user_id,
        session_ids: session_ids.to_vec(),
        reason: reason.to_string(),
    };
    record(conn, SESSIONS_REVOKED, None, &payload).await
}

/// Builds the relay's event from an outbox row: its topics are the job and the users named.
pub fn to_event(row: db::outbox::OutboxRow) -> Event {
    let mut topics = Vec::new();
    if row.kind == SESSIONS_REVOKED {
        topics.push(Topic::Sessions);
    }
    if let Some(job) = row.job_id {
        topics.push(Topic::Job(job));
    }
    if let Some(users) = row.payload.get("userIds").and_then(|v| v.as_array()) {
        topics.extend(
            users
                .iter()
                .filter_map(|u| u.as_str()?.parse().ok())
                .map(Topic::User),
        );
    }
    Event {
        id: row.id,
        seq: row.seq,
        kind: row.kind,
        topics,
        payload: row.payload,
        at: row.created_at,
        decoded: Default::default(),
    }
}
