//! What the outbox records for each change, written in the change's own transaction. The
//! payload carries what every consumer needs (the application as it now is, the stages, who
//! is concerned), so delivering it needs no further query.

use crate::db::models::{Application, Job};
use crate::db::{self, PgConn};
use crate::domain::ids::*;
use crate::domain::{ApplicationStage, JobStatus};
use crate::errors::AppResult;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::sync::Arc;

// The events themselves, their payloads and envelope: the shared vocabulary.
pub use castyou_vocab::events::*;

/// The event an envelope carries, decoded once and shared by every subscriber; None (logged)
/// when it is of a kind this server does not know.
pub fn decode(event: &Event) -> Option<Arc<OutboxEvent>> {
    if event.event.is_none() {
        tracing::warn!(id = %event.id, kind = ?event.kind(), "an event of an unknown kind; ignored here");
    }
    event.event.clone()
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
        application: Some(application.into()),
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
pub async fn ai_result(conn: &mut PgConn, result: &AiResult) -> AppResult<()> {
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
        OutboxEvent::MediaChanged(MediaChanged { media: row.into() }),
    )
    .await
}

/// A media item's processing results, for its media metadata document.
pub async fn media_processed(
    conn: &mut PgConn,
    row: &db::media::MediaRow,
    report: castyou_vocab::media::ProcessingReport,
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
    let event = Event::from_row(
        row.id.0,
        row.seq,
        row.created_at,
        &row.kind,
        &row.payload,
        row.job_id,
    );
    if event.event.is_none() {
        tracing::warn!(seq = row.seq, kind = %row.kind, "an outbox event of an unknown kind");
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
