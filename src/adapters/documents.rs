//! `DocumentPort` over MongoDB: turns each committed event into its notifications, its activity
//! entry, or (for staged AUDIT rows) its audit entry. Names and titles are read from
//! PostgreSQL when the event is stored, so texts say who and what in words.

use crate::db;
use crate::documents::activity::{self, ActivityDoc};
use crate::documents::ai_results;
use crate::documents::audit::{self, AuditDoc};
use crate::documents::explain;
use crate::documents::media_metadata;
use crate::documents::notifications::{self, NotificationDoc};
use crate::documents::{bson, bson_time, sort_key};
use crate::domain::ids::{GroupId, JobId, UserId};
use crate::services::audit::AuditEntry;
use crate::services::events::{self, OutboxEvent};
use crate::services::matching;
use crate::services::notifications::{live_event, stage_sentence};
use crate::services::AppState;
use anyhow::Context;
use castyou_actors::relay::PortFuture;
use castyou_actors::{DocumentPort, Event};
use castyou_vocab::events::{
    ApplicationSnapshot, DeadlineReminder, GroupMembershipChanged, JobStatusChanged,
    PipelinePayload,
};
use std::sync::Arc;
use uuid::Uuid;

pub struct MongoDocuments {
    state: AppState,
}

impl MongoDocuments {
    pub fn new(state: AppState) -> MongoDocuments {
        MongoDocuments { state }
    }
}

impl DocumentPort for MongoDocuments {
    fn store(&self, event: Arc<Event>) -> PortFuture<Vec<Event>> {
        let state = self.state.clone();
        Box::pin(async move { store(&state, &event).await })
    }
}

/// What one event makes: notifications (to push once stored) and an activity entry.
#[derive(Default)]
struct Made {
    notifications: Vec<NotificationDoc>,
    activity: Option<ActivityDoc>,
}

async fn store(state: &AppState, event: &Event) -> anyhow::Result<Vec<Event>> {
    // The document consumer reads only kinds this server knows (see `db::outbox::pending`).
    let Some(decoded) = events::decode(event) else {
        anyhow::bail!("event {} is of a kind this server does not know", event.id);
    };
    if let OutboxEvent::Audit(staged) = &*decoded {
        audit::store(&state.docs, &audit_doc(staged.clone(), event.id)).await?;
        return Ok(Vec::new());
    }
    if let OutboxEvent::AiResult(result) = &*decoded {
        ai_results::store(&state.docs, &ai_results::AiResultDoc::new(result, event.id)).await?;
        return Ok(Vec::new());
    }
    if let OutboxEvent::MediaProcessed(processed) = &*decoded {
        media_metadata::store(
            &state.docs,
            &media_metadata::MediaMetadataDoc::new(processed),
        )
        .await?;
        return Ok(Vec::new());
    }
    if let OutboxEvent::DiscoverServed(pages) = &*decoded {
        explain::store(&state.docs, &matching::explain_docs(pages, event.id)).await?;
        return Ok(Vec::new());
    }
    let made = make(state, event, &decoded).await?;
    if let Some(entry) = &made.activity {
        activity::store(&state.docs, entry).await?;
    }
    notifications::store(&state.docs, &made.notifications).await?;
    Ok(made
        .notifications
        .iter()
        .map(|n| live_event(n, event.seq))
        .collect())
}

/// The audit document of a staged entry; its id is the staged row's.
fn audit_doc(staged: AuditEntry, id: Uuid) -> AuditDoc {
    let at = bson_time(staged.at);
    AuditDoc {
        key: sort_key(at, &id.to_string()),
        id: id.to_string(),
        actor_id: staged.actor_id.map(|a| a.to_string()),
        role: staged.role,
        action: staged.action,
        object_type: staged.object_type,
        object_id: staged.object_id,
        summary: staged.summary,
        ip: staged.ip,
        user_agent: staged.user_agent,
        request_id: staged.request_id,
        at,
    }
}

struct Names<'a> {
    state: &'a AppState,
}

impl Names<'_> {
    async fn job(&self, id: JobId) -> anyhow::Result<String> {
        let mut conn = self.state.conn().await.map_err(anyhow::Error::from)?;
        Ok(db::jobs::find(&mut conn, id)
            .await
            .with_context(|| format!("reading job {id}"))?
            .map(|j| j.row.title)
            .unwrap_or_else(|| "a casting call".into()))
    }

    async fn user(&self, id: UserId) -> anyhow::Result<String> {
        let mut conn = self.state.conn().await.map_err(anyhow::Error::from)?;
        Ok(db::users::find(&mut conn, id)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_else(|| "Someone".into()))
    }

    async fn group(&self, id: GroupId) -> anyhow::Result<String> {
        let mut conn = self.state.conn().await.map_err(anyhow::Error::from)?;
        Ok(db::groups::find_group(&mut conn, id)
            .await?
            .map(|g| g.name)
            .unwrap_or_else(|| "a group".into()))
    }
}

async fn make(state: &AppState, event: &Event, decoded: &OutboxEvent) -> anyhow::Result<Made> {
    let mut making = Making {
        names: Names { state },
        event,
        at: bson_time(event.at),
        made: Made::default(),
    };
    match decoded {
        OutboxEvent::ApplicationCreated(p) => making.applied(p).await?,
        OutboxEvent::ApplicationMoved(p) => making.moved(p).await?,
        OutboxEvent::ApplicationWithdrawn(p) => making.withdrawn(p).await?,
        OutboxEvent::JobClosed(p) => making.closed(p).await?,
        OutboxEvent::DeadlineReminder(r) => making.deadline_near(r).await?,
        OutboxEvent::JobPublished(c) => making.job_changed(c, "PUBLISHED", "published").await?,
        OutboxEvent::JobCancelled(c) => making.job_changed(c, "CANCELLED", "cancelled").await?,
        OutboxEvent::JobFilled(c) => making.job_changed(c, "FILLED", "marked filled").await?,
        OutboxEvent::GroupInvited(g) => making.invited(g).await?,
        OutboxEvent::GroupJoined(g) => making.joined(g).await?,
        // Sign-outs are in the audit log already; account mail is the mailer's. Neither makes a
        // notification or a feed entry.
        OutboxEvent::SessionsRevoked(_)
        | OutboxEvent::EmailVerificationRequested(_)
        | OutboxEvent::PasswordResetRequested(_) => {}
        // The match index's: nothing to store.
        OutboxEvent::JobUpdated(_) | OutboxEvent::TalentProfileChanged(_) => {}
        // Stored above; the bus-only kinds never reach the outbox.
        OutboxEvent::Audit(_)
        | OutboxEvent::DiscoverServed(_)
        | OutboxEvent::AiResult(_)
        | OutboxEvent::EmbeddingsStored(_)
        | OutboxEvent::MediaChanged(_)
        | OutboxEvent::MediaProcessed(_)
        | OutboxEvent::Notification(_)
        | OutboxEvent::NotificationsRead(_) => {}
    }
    Ok(making.made)
}

/// One event's documents, built up by one method per kind of event.
struct Making<'a> {
    names: Names<'a>,
    event: &'a Event,
    at: bson::DateTime,
    made: Made,
}

impl Making<'_> {
    /// A notification to `user`; its id is derived from the event's and the user's, so storing
    /// the event twice stores it once.
    fn notify(
        &mut self,
        user: UserId,
        kind: &str,
        title: &str,
        body: String,
        data: bson::Document,
    ) {
        let id = Uuid::new_v5(&self.event.id, user.0.as_bytes()).to_string();
        self.made.notifications.push(NotificationDoc {
            key: sort_key(self.at, &id),
            id,
            user_id: user.to_string(),
            event_id: self.event.id.to_string(),
            kind: kind.to_string(),
            title: title.to_string(),
            body,
            data,
            read_at: None,
            created_at: self.at,
        });
    }

    /// The event's activity entry, seen by `audience`.
    fn entry(
        &mut self,
        audience: &[UserId],
        verb: &str,
        actor: Option<UserId>,
        object: (&str, String),
        summary: String,
    ) {
        self.made.activity = Some(ActivityDoc {
            key: sort_key(self.at, &self.event.id.to_string()),
            id: self.event.id.to_string(),
            audience: audience.iter().map(UserId::to_string).collect(),
            verb: verb.to_string(),
            actor_id: actor.map(|a| a.to_string()),
            object_type: object.0.to_string(),
            object_id: object.1,
            summary,
            at: self.at,
        });
    }

    /// The application a pipeline event is about, with its job's title and its talent's name.
    async fn application<'p>(
        &self,
        p: &'p PipelinePayload,
    ) -> anyhow::Result<(&'p ApplicationSnapshot, String, String)> {
        let app = p
            .application
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("event {} has no application", self.event.id))?;
        let job = self.names.job(p.job_id).await?;
        let talent = self.names.user(app.talent_id).await?;
        Ok((app, job, talent))
    }

    async fn applied(&mut self, p: &PipelinePayload) -> anyhow::Result<()> {
        let (app, job, talent) = self.application(p).await?;
        let data = bson::doc! { "jobId": p.job_id.to_string(),
        "applicationId": app.id.to_string(), "talentId": app.talent_id.to_string() };
        self.notify(
            p.producer_id,
            "APPLICATION_RECEIVED",
            "New application",
            format!("{talent} applied to {job}."),
            data,
        );
        self.entry(
            &[app.talent_id, p.producer_id],
            "APPLIED",
            Some(app.talent_id),
            ("Application", app.id.to_string()),
            format!("{talent} applied to {job}"),
        );
        Ok(())
    }

    async fn moved(&mut self, p: &PipelinePayload) -> anyhow::Result<()> {
        let (app, job, talent) = self.application(p).await?;
        let data = bson::doc! { "jobId": p.job_id.to_string(),
        "applicationId": app.id.to_string(), "stage": app.stage.to_string() };
        self.notify(
            app.talent_id,
            "STAGE_CHANGED",
            "Application update",
            stage_sentence(app.stage, &job),
            data,
        );
        let from = p.from_stage.map(|s| s.to_string()).unwrap_or_default();
        self.entry(
            &[p.producer_id, app.talent_id],
            "MOVED",
            Some(p.producer_id),
            ("Application", app.id.to_string()),
            format!(
                "{talent}'s application for {job} moved from {from} to {}",
                app.stage
            ),
        );
        Ok(())
    }

    async fn withdrawn(&mut self, p: &PipelinePayload) -> anyhow::Result<()> {
        let (app, job, talent) = self.application(p).await?;
        let data = bson::doc! { "jobId": p.job_id.to_string(),
        "applicationId": app.id.to_string(), "talentId": app.talent_id.to_string() };
        self.notify(
            p.producer_id,
            "APPLICATION_WITHDRAWN",
            "Application withdrawn",
            format!("{talent} withdrew their application to {job}."),
            data,
        );
        self.entry(
            &[app.talent_id, p.producer_id],
            "WITHDREW",
            Some(app.talent_id),
            ("Application", app.id.to_string()),
            format!("{talent} withdrew from {job}"),
        );
        Ok(())
    }

    /// A job closed: its producer and every applicant hear of it.
    async fn closed(&mut self, p: &PipelinePayload) -> anyhow::Result<()> {
        let job = self.names.job(p.job_id).await?;
        let data = bson::doc! { "jobId": p.job_id.to_string() };
        self.notify(
            p.producer_id,
            "JOB_CLOSED",
            "Casting closed",
            format!("{job} is now closed to new applications."),
            data.clone(),
        );
        for &talent in &p.user_ids {
            self.notify(
                talent,
                "JOB_CLOSED",
                "Casting closed",
                format!("{job} has closed to new applications; yours is still being considered."),
                data.clone(),
            );
        }
        self.entry(
            &[p.producer_id],
            "CLOSED",
            None,
            ("Job", p.job_id.to_string()),
            format!("{job} closed to new applications"),
        );
        Ok(())
    }

    async fn deadline_near(&mut self, r: &DeadlineReminder) -> anyhow::Result<()> {
        let job = self.names.job(r.job_id).await?;
        let when = r.application_deadline.format("%Y-%m-%d %H:%M UTC");
        self.notify(
            r.producer_id,
            "DEADLINE_REMINDER",
            "Deadline approaching",
            format!("Applications for {job} close at {when}."),
            bson::doc! { "jobId": r.job_id.to_string() },
        );
        Ok(())
    }

    /// A job was published, cancelled or filled (`verb`; `done` in words): a feed entry only.
    async fn job_changed(
        &mut self,
        c: &JobStatusChanged,
        verb: &str,
        done: &str,
    ) -> anyhow::Result<()> {
        let job = self.names.job(c.job_id).await?;
        self.entry(
            &[c.producer_id],
            verb,
            Some(c.producer_id),
            ("Job", c.job_id.to_string()),
            format!("{job} was {done}"),
        );
        Ok(())
    }

    async fn invited(&mut self, g: &GroupMembershipChanged) -> anyhow::Result<()> {
        let group = self.names.group(g.group_id).await?;
        let talent = self.names.user(g.talent_id).await?;
        self.notify(
            g.talent_id,
            "GROUP_INVITE",
            "Group invitation",
            format!("You are invited to join {group}."),
            bson::doc! { "groupId": g.group_id.to_string() },
        );
        self.entry(
            &[g.owner_id, g.talent_id],
            "INVITED",
            Some(g.owner_id),
            ("TalentGroup", g.group_id.to_string()),
            format!("{talent} was invited to {group}"),
        );
        Ok(())
    }

    async fn joined(&mut self, g: &GroupMembershipChanged) -> anyhow::Result<()> {
        let group = self.names.group(g.group_id).await?;
        let talent = self.names.user(g.talent_id).await?;
        self.notify(
            g.owner_id,
            "GROUP_INVITE_ACCEPTED",
            "Invitation accepted",
            format!("{talent} joined {group}."),
            bson::doc! { "groupId": g.group_id.to_string() },
        );
        self.entry(
            &[g.talent_id, g.owner_id],
            "JOINED_GROUP",
            Some(g.talent_id),
            ("TalentGroup", g.group_id.to_string()),
            format!("{talent} joined {group}"),
        );
        Ok(())
    }
}
