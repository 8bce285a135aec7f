//! `DocumentPort` over MongoDB: turns each committed event into its notifications, its activity
//! entry, or (for staged AUDIT rows) its audit entry. Names and titles are read from
//! PostgreSQL when the event is stored, so texts say who and what in words.

use crate::db;
use crate::documents::activity::{self, ActivityDoc};
use crate::documents::audit::{self, AuditDoc};
use crate::documents::notifications::{self, NotificationDoc};
use crate::documents::{bson, bson_time, sort_key};
use crate::services::audit::Staged;
use crate::services::events::{PipelineEventKind, PipelinePayload};
use crate::services::notifications::{live_event, stage_sentence};
use crate::services::AppState;
use castyou_actors::relay::PortFuture;
use castyou_actors::{DocumentPort, Event};
use serde::Deserialize;
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
    if event.kind == "AUDIT" {
        let staged = Staged::deserialize(&event.payload)?;
        audit::store(&state.docs, &audit_doc(staged, event.id)).await?;
        return Ok(Vec::new());
    }
    let made = make(state, event).await?;
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
fn audit_doc(staged: Staged, id: Uuid) -> AuditDoc {
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

/// The facts of a non-pipeline event (jobs' other status changes, reminders, groups).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Facts {
    job_id: Option<Uuid>,
    producer_id: Option<Uuid>,
    group_id: Option<Uuid>,
    talent_id: Option<Uuid>,
    owner_id: Option<Uuid>,
    application_deadline: Option<chrono::DateTime<chrono::Utc>>,
}

struct Names<'a> {
    state: &'a AppState,
}

impl Names<'_> {
    async fn job(&self, id: Uuid) -> anyhow::Result<String> {
        let mut conn = self.state.conn().await.map_err(anyhow_app)?;
        Ok(db::jobs::find(&mut conn, id)
            .await
            .map_err(anyhow_app)?
            .map(|j| j.row.title)
            .unwrap_or_else(|| "a casting call".into()))
    }

    async fn user(&self, id: Uuid) -> anyhow::Result<String> {
        let mut conn = self.state.conn().await.map_err(anyhow_app)?;
        Ok(db::users::find(&mut conn, id)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_else(|| "Someone".into()))
    }

    async fn group(&self, id: Uuid) -> anyhow::Result<String> {
        let mut conn = self.state.conn().await.map_err(anyhow_app)?;
        Ok(db::groups::find_group(&mut conn, id)
            .await?
            .map(|g| g.name)
            .unwrap_or_else(|| "a group".into()))
    }
}

fn anyhow_app(e: crate::errors::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.code())
}

async fn make(state: &AppState, event: &Event) -> anyhow::Result<Made> {
    let names = Names { state };
    let at = bson_time(event.at);
    let notify = |user: Uuid, kind: &str, title: String, body: String, data: bson::Document| {
        let id = Uuid::new_v5(&event.id, user.as_bytes()).to_string();
        NotificationDoc {
            key: sort_key(at, &id),
            id,
            user_id: user.to_string(),
            event_id: event.id.to_string(),
            kind: kind.to_string(),
            title,
            body,
            data,
            read_at: None,
            created_at: at,
        }
    };
    let entry = |audience: &[Uuid],
                 verb: &str,
                 actor: Option<Uuid>,
                 object: (&str, Uuid),
                 summary: String| ActivityDoc {
        key: sort_key(at, &event.id.to_string()),
        id: event.id.to_string(),
        audience: audience.iter().map(Uuid::to_string).collect(),
        verb: verb.to_string(),
        actor_id: actor.map(|a| a.to_string()),
        object_type: object.0.to_string(),
        object_id: object.1.to_string(),
        summary,
        at,
    };
    let mut made = Made::default();
    match event.kind.as_str() {
        "APPLICATION_CREATED" | "APPLICATION_MOVED" | "APPLICATION_WITHDRAWN" | "JOB_CLOSED" => {
            let Some(p) = event.decoded::<PipelinePayload>() else {
                anyhow::bail!("event {} has no pipeline payload", event.id);
            };
            let job = names.job(p.job_id).await?;
            match (p.kind, p.application.as_ref()) {
                (PipelineEventKind::Applied, Some(app)) => {
                    let talent = names.user(app.talent_id).await?;
                    let data = bson::doc! { "jobId": p.job_id.to_string(),
                    "applicationId": app.id.to_string(), "talentId": app.talent_id.to_string() };
                    made.notifications.push(notify(
                        p.producer_id,
                        "APPLICATION_RECEIVED",
                        "New application".into(),
                        format!("{talent} applied to {job}."),
                        data,
                    ));
                    made.activity = Some(entry(
                        &[app.talent_id, p.producer_id],
                        "APPLIED",
                        Some(app.talent_id),
                        ("Application", app.id),
                        format!("{talent} applied to {job}"),
                    ));
                }
                (PipelineEventKind::Moved, Some(app)) => {
                    let talent = names.user(app.talent_id).await?;
                    let data = bson::doc! { "jobId": p.job_id.to_string(),
                    "applicationId": app.id.to_string(), "stage": app.stage.to_string() };
                    made.notifications.push(notify(
                        app.talent_id,
                        "STAGE_CHANGED",
                        "Application update".into(),
                        stage_sentence(app.stage, &job),
                        data,
                    ));
                    let from = p.from_stage.map(|s| s.to_string()).unwrap_or_default();
                    made.activity = Some(entry(
                        &[p.producer_id, app.talent_id],
                        "MOVED",
                        Some(p.producer_id),
                        ("Application", app.id),
                        format!(
                            "{talent}'s application for {job} moved from {from} to {}",
                            app.stage
                        ),
                    ));
                }
                (PipelineEventKind::Withdrawn, Some(app)) => {
                    let talent = names.user(app.talent_id).await?;
                    let data = bson::doc! { "jobId": p.job_id.to_string(),
                    "applicationId": app.id.to_string(), "talentId": app.talent_id.to_string() };
                    made.notifications.push(notify(
                        p.producer_id,
                        "APPLICATION_WITHDRAWN",
                        "Application withdrawn".into(),
                        format!("{talent} withdrew their application to {job}."),
                        data,
                    ));
                    made.activity = Some(entry(
                        &[app.talent_id, p.producer_id],
                        "WITHDREW",
                        Some(app.talent_id),
                        ("Application", app.id),
                        format!("{talent} withdrew from {job}"),
                    ));
                }
                (PipelineEventKind::JobClosed, _) => {
                    let data = bson::doc! { "jobId": p.job_id.to_string() };
                    made.notifications.push(notify(
                        p.producer_id,
                        "JOB_CLOSED",
                        "Casting closed".into(),
                        format!("{job} is now closed to new applications."),
                        data.clone(),
                    ));
                    for &talent in &p.user_ids {
                        made.notifications.push(notify(
                            talent,
                            "JOB_CLOSED",
                            "Casting closed".into(),
                            format!(
                                "{job} has closed to new applications; yours is still being considered."
                            ),
                            data.clone(),
                        ));
                    }
                    made.activity = Some(entry(
                        &[p.producer_id],
                        "CLOSED",
                        None,
                        ("Job", p.job_id),
                        format!("{job} closed to new applications"),
                    ));
                }
                _ => {}
            }
        }
        "DEADLINE_REMINDER" => {
            let facts = Facts::deserialize(&event.payload)?;
            if let (Some(job_id), Some(producer)) = (facts.job_id, facts.producer_id) {
                let job = names.job(job_id).await?;
                let when = facts
                    .application_deadline
                    .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "soon".into());
                made.notifications.push(notify(
                    producer,
                    "DEADLINE_REMINDER",
                    "Deadline approaching".into(),
                    format!("Applications for {job} close at {when}."),
                    bson::doc! { "jobId": job_id.to_string() },
                ));
            }
        }
        "JOB_PUBLISHED" | "JOB_CANCELLED" | "JOB_FILLED" => {
            let facts = Facts::deserialize(&event.payload)?;
            if let (Some(job_id), Some(producer)) = (facts.job_id, facts.producer_id) {
                let job = names.job(job_id).await?;
                let (verb, done) = match event.kind.as_str() {
                    "JOB_PUBLISHED" => ("PUBLISHED", "published"),
                    "JOB_CANCELLED" => ("CANCELLED", "cancelled"),
                    _ => ("FILLED", "marked filled"),
                };
                made.activity = Some(entry(
                    &[producer],
                    verb,
                    Some(producer),
                    ("Job", job_id),
                    format!("{job} was {done}"),
                ));
            }
        }
        "GROUP_INVITED" | "GROUP_JOINED" => {
            let facts = Facts::deserialize(&event.payload)?;
            if let (Some(group_id), Some(talent_id), Some(owner_id)) =
                (facts.group_id, facts.talent_id, facts.owner_id)
            {
                let group = names.group(group_id).await?;
                let data = bson::doc! { "groupId": group_id.to_string() };
                if event.kind == "GROUP_INVITED" {
                    made.notifications.push(notify(
                        talent_id,
                        "GROUP_INVITE",
                        "Group invitation".into(),
                        format!("You are invited to join {group}."),
                        data,
                    ));
                    let talent = names.user(talent_id).await?;
                    made.activity = Some(entry(
                        &[owner_id, talent_id],
                        "INVITED",
                        Some(owner_id),
                        ("TalentGroup", group_id),
                        format!("{talent} was invited to {group}"),
                    ));
                } else {
                    let talent = names.user(talent_id).await?;
                    made.notifications.push(notify(
                        owner_id,
                        "GROUP_INVITE_ACCEPTED",
                        "Invitation accepted".into(),
                        format!("{talent} joined {group}."),
                        data,
                    ));
                    made.activity = Some(entry(
                        &[talent_id, owner_id],
                        "JOINED_GROUP",
                        Some(talent_id),
                        ("TalentGroup", group_id),
                        format!("{talent} joined {group}"),
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(made)
}
