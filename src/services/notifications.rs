//! The notification inbox, the activity feed and the audit log as the API serves them: each
//! user sees and marks only their own notifications and feed; the audit log is for admins.

use super::events::{Event, NotificationsRead, OutboxEvent};
use super::{signed_in, AppState, Viewer};
use crate::documents::activity::{self, ActivityDoc};
use crate::documents::audit::{self, AuditDoc};
use crate::documents::explain::{self, ExplainDoc};
use crate::documents::notifications::{self, NotificationDoc};
use crate::documents::{bson, chrono_time, Position};
use crate::domain::ids::UserId;
use crate::domain::page::{self, page_size, CursorKey};
use crate::domain::{ApplicationStage, Role};
use crate::errors::{AppError, AppResult};
pub use castyou_vocab::events::Notification;
use chrono::Utc;
use uuid::Uuid;

impl From<NotificationDoc> for Notification {
    fn from(doc: NotificationDoc) -> Self {
        Notification {
            user_id: doc.user_id.parse().ok(),
            id: doc.id,
            kind: doc.kind,
            title: doc.title,
            body: doc.body,
            data: bson::Bson::Document(doc.data).into_relaxed_extjson(),
            read_at: doc.read_at.map(chrono_time),
            created_at: chrono_time(doc.created_at),
        }
    }
}

/// The bus event that pushes a stored notification to its recipient's live subscriptions.
pub fn live_event(doc: &NotificationDoc, seq: i64) -> Event {
    let id: Uuid = doc.id.parse().unwrap_or_else(|_| Uuid::new_v4());
    let notification = Notification::from(doc.clone());
    let at = notification.created_at;
    Event::new(id, seq, at, OutboxEvent::Notification(notification))
}

/// What a talent reads when their application reaches `stage`.
pub fn stage_sentence(stage: ApplicationStage, job: &str) -> String {
    use ApplicationStage as S;
    match stage {
        S::Applied => format!("Your application to {job} was received."),
        S::Shortlisted => format!("You have been shortlisted for {job}."),
        S::Audition => format!("You are invited to audition for {job}."),
        S::Callback => format!("You have a callback for {job}."),
        S::Offered => format!("You have an offer for {job}."),
        S::Hired => format!("Congratulations: you have been cast in {job}."),
        S::Rejected => format!("Your application to {job} was not taken further this time."),
        S::Withdrawn => format!("You withdrew your application to {job}."),
    }
}

fn unavailable(e: mongodb::error::Error) -> AppError {
    AppError::Internal(anyhow::Error::new(e).context("the document store"))
}

/// A page of results with its cursors.
pub struct DocPage<T> {
    pub items: Vec<(String, T)>,
    pub has_next_page: bool,
}

impl<T> DocPage<T> {
    /// The page of `docs`, each with its cursor from its time and id.
    fn of(docs: Vec<T>, more: bool, place: impl Fn(&T) -> (bson::DateTime, &str)) -> DocPage<T> {
        DocPage {
            items: docs
                .into_iter()
                .map(|d| {
                    let (at, id) = place(&d);
                    let cursor = Position {
                        at: at.timestamp_millis(),
                        id: id.to_string(),
                    }
                    .encode();
                    (cursor, d)
                })
                .collect(),
            has_next_page: more,
        }
    }

    fn map<U>(self, convert: impl Fn(T) -> U) -> DocPage<U> {
        DocPage {
            items: self
                .items
                .into_iter()
                .map(|(cursor, t)| (cursor, convert(t)))
                .collect(),
            has_next_page: self.has_next_page,
        }
    }
}

/// A page of the viewer's inbox, and (when `with_total`) how many notifications match in all.
pub async fn inbox(
    state: &AppState,
    viewer: Option<Viewer>,
    unread_only: bool,
    first: Option<i32>,
    after: Option<&str>,
    with_total: bool,
) -> AppResult<(DocPage<Notification>, Option<u64>)> {
    let viewer = signed_in(viewer)?;
    let first = page_size(first)?;
    let after = page::after::<Position>(after)?;
    let user = viewer.user_id.to_string();
    let (docs, more) = notifications::page(&state.docs, &user, unread_only, after.as_ref(), first)
        .await
        .map_err(unavailable)?;
    let total = if with_total {
        Some(
            notifications::count(&state.docs, &user, unread_only)
                .await
                .map_err(unavailable)?,
        )
    } else {
        None
    };
    let page = DocPage::of(docs, more, |d| (d.created_at, &d.id)).map(Notification::from);
    Ok((page, total))
}

pub async fn unread_count(state: &AppState, viewer: Option<Viewer>) -> AppResult<u64> {
    let viewer = signed_in(viewer)?;
    notifications::count(&state.docs, &viewer.user_id.to_string(), true)
        .await
        .map_err(unavailable)
}

/// Marks the viewer's own notifications read (others' ids are ignored); returns how many
/// changed, and the bus event that tells the viewer's live subscriptions.
pub async fn mark_read(
    state: &AppState,
    viewer: Option<Viewer>,
    ids: Option<Vec<String>>,
    all: bool,
) -> AppResult<(u64, Option<Event>)> {
    let viewer = signed_in(viewer)?;
    let ids = match (ids, all) {
        (_, true) => None,
        (Some(ids), false) if !ids.is_empty() => {
            if ids.len() > 500 {
                return Err(AppError::bad_input("ids", "give at most 500 ids"));
            }
            Some(ids)
        }
        _ => return Err(AppError::bad_input("ids", "give ids, or all: true")),
    };
    let changed =
        notifications::mark_read(&state.docs, &viewer.user_id.to_string(), ids.as_deref())
            .await
            .map_err(unavailable)?;
    let event = (changed > 0).then(|| {
        let read = NotificationsRead {
            user_id: viewer.user_id,
            changed,
        };
        Event::new(
            Uuid::new_v4(),
            0,
            Utc::now(),
            OutboxEvent::NotificationsRead(read),
        )
    });
    Ok((changed, event))
}

pub async fn feed(
    state: &AppState,
    viewer: Option<Viewer>,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<DocPage<ActivityDoc>> {
    let viewer = signed_in(viewer)?;
    let first = page_size(first)?;
    let after = page::after::<Position>(after)?;
    let (docs, more) = activity::page(
        &state.docs,
        &viewer.user_id.to_string(),
        after.as_ref(),
        first,
    )
    .await
    .map_err(unavailable)?;
    Ok(DocPage::of(docs, more, |d| (d.at, &d.id)))
}

pub async fn audit_log(
    state: &AppState,
    viewer: Option<Viewer>,
    actor: Option<UserId>,
    object: Option<&str>,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<DocPage<AuditDoc>> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Admin {
        return Err(AppError::forbidden("the audit log is for admins only"));
    }
    if object.is_some_and(|o| o.len() > 200) {
        return Err(AppError::bad_input("objectId", "at most 200 characters"));
    }
    let first = page_size(first)?;
    let after = page::after::<Position>(after)?;
    let actor = actor.map(|a| a.to_string());
    let (docs, more) = audit::page(&state.docs, actor.as_deref(), object, after.as_ref(), first)
        .await
        .map_err(unavailable)?;
    Ok(DocPage::of(docs, more, |d| (d.at, &d.id)))
}

/// What producers were shown in a job's discover feed, newest first, optionally one viewer's:
/// admins only.
pub async fn explain_log(
    state: &AppState,
    viewer: Option<Viewer>,
    job: crate::domain::ids::JobId,
    shown_to: Option<UserId>,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<DocPage<ExplainDoc>> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Admin {
        return Err(AppError::forbidden("the explain log is for admins only"));
    }
    let first = page_size(first)?;
    let after = page::after::<Position>(after)?;
    let shown_to = shown_to.map(|v| v.to_string());
    let (docs, more) = explain::page(
        &state.docs,
        &job.to_string(),
        shown_to.as_deref(),
        after.as_ref(),
        first,
    )
    .await
    .map_err(unavailable)?;
    Ok(DocPage::of(docs, more, |d| (d.at, &d.id)))
}
