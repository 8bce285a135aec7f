//! The notification inbox, the activity feed and the audit log.

use super::connection::PageInfo;
use super::loaders::load_error;
use super::users::UserNode;
use super::{loaders, state, viewer};
use crate::documents::activity::ActivityDoc;
use crate::documents::audit::AuditDoc;
use crate::documents::chrono_time;
use crate::documents::explain::{verdict_of, ExplainDoc};
use crate::domain::ids::*;
use crate::services::notifications::{self as inbox, DocPage, Notification};
use actix::Recipient;
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use castyou_actors::bus::Publish;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A notification as GraphQL shows it.
pub struct NotificationNode(pub Notification);

#[Object(name = "Notification")]
impl NotificationNode {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// APPLICATION_RECEIVED, STAGE_CHANGED, APPLICATION_WITHDRAWN, DEADLINE_REMINDER,
    /// JOB_CLOSED, GROUP_INVITE, GROUP_INVITE_ACCEPTED.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// The ids an app needs to navigate: jobId, applicationId, groupId...
    async fn data(&self) -> async_graphql::Json<&serde_json::Value> {
        async_graphql::Json(&self.0.data)
    }
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(SimpleObject)]
pub struct NotificationEdge {
    node: NotificationNode,
    cursor: String,
}

#[derive(SimpleObject)]
pub struct NotificationConnection {
    edges: Vec<NotificationEdge>,
    page_info: PageInfo,
    total_count: i32,
}

/// A page's edges (made by `edge`) and its page info.
fn split<T, E>(page: DocPage<T>, edge: impl Fn(T, String) -> E) -> (Vec<E>, PageInfo) {
    let page_info = PageInfo {
        has_next_page: page.has_next_page,
        end_cursor: page.items.last().map(|(c, _)| c.clone()),
    };
    let edges = page
        .items
        .into_iter()
        .map(|(cursor, node)| edge(node, cursor))
        .collect();
    (edges, page_info)
}

#[Object(name = "ActivityEntry")]
impl ActivityDoc {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// APPLIED, MOVED, WITHDREW, PUBLISHED, CLOSED, CANCELLED, FILLED, INVITED, JOINED_GROUP.
    async fn verb(&self) -> &str {
        &self.verb
    }
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<UserNode>> {
        user(ctx, self.actor_id.as_deref()).await
    }
    async fn object_type(&self) -> &str {
        &self.object_type
    }
    async fn object_id(&self) -> &str {
        &self.object_id
    }
    async fn summary(&self) -> &str {
        &self.summary
    }
    async fn at(&self) -> DateTime<Utc> {
        chrono_time(self.at)
    }
}

/// The user of a stored id (documents keep ids as strings).
async fn user(ctx: &Context<'_>, id: Option<&str>) -> Result<Option<UserNode>> {
    let Some(id) = id.and_then(|id| id.parse::<UserId>().ok()) else {
        return Ok(None);
    };
    Ok(loaders(ctx)
        .users
        .load_one(id)
        .await
        .map_err(load_error)?
        .map(UserNode::from))
}

#[derive(SimpleObject)]
pub struct ActivityEdge {
    node: ActivityDoc,
    cursor: String,
}

#[derive(SimpleObject)]
pub struct ActivityConnection {
    edges: Vec<ActivityEdge>,
    page_info: PageInfo,
}

#[Object(name = "AuditEntry")]
impl AuditDoc {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// Null for anonymous attempts (e.g. a failed login).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<UserNode>> {
        user(ctx, self.actor_id.as_deref()).await
    }
    /// e.g. LOGIN_SUCCEEDED, LOGIN_FAILED, REFRESH_REUSE_DETECTED, MOVE_APPLICATION.
    async fn action(&self) -> &str {
        &self.action
    }
    async fn object_type(&self) -> &str {
        &self.object_type
    }
    async fn object_id(&self) -> &str {
        &self.object_id
    }
    /// What changed; never a secret, password or token.
    async fn summary(&self) -> &str {
        &self.summary
    }
    async fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }
    async fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
    async fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    async fn at(&self) -> DateTime<Utc> {
        chrono_time(self.at)
    }
}

/// One discover page as it was served: who saw which talents, ranked how and why.
#[Object(name = "DiscoverLogEntry")]
impl ExplainDoc {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn job_id(&self) -> &str {
        &self.job_id
    }
    /// Who was shown the page.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Option<UserNode>> {
        user(ctx, Some(&self.viewer_id)).await
    }
    async fn viewer_role(&self) -> &str {
        &self.viewer_role
    }
    /// The version of the scoring rules that ranked it.
    async fn engine_version(&self) -> &str {
        &self.engine_version
    }
    async fn weights(&self) -> Vec<LoggedWeightNode> {
        self.weights
            .iter()
            .map(|w| LoggedWeightNode {
                factor: w.factor.clone(),
                weight: w.weight,
            })
            .collect()
    }
    /// The page's filter, size and cursor as asked (JSON).
    async fn request(&self) -> &str {
        &self.request
    }
    /// The talents shown, in order.
    async fn talents(&self) -> Vec<LoggedTalentNode> {
        self.talents
            .iter()
            .map(|t| LoggedTalentNode {
                talent_id: t.talent_id.clone(),
                rank: i32::try_from(t.rank).unwrap_or(i32::MAX),
                score: t.score,
                factors: castyou_model::Factor::ALL
                    .iter()
                    .zip(&t.scores)
                    .zip(t.verdicts.chars())
                    .map(|((factor, score), letter)| LoggedFactorNode {
                        factor: factor.as_str().to_string(),
                        score: *score,
                        verdict: verdict_of(letter).to_string(),
                    })
                    .collect(),
            })
            .collect()
    }
    async fn served_at(&self) -> DateTime<Utc> {
        chrono_time(self.at)
    }
}

#[derive(SimpleObject)]
#[graphql(name = "DiscoverLogWeight")]
pub struct LoggedWeightNode {
    factor: String,
    weight: f64,
}

/// A talent as shown on a logged page.
#[derive(SimpleObject)]
#[graphql(name = "DiscoverLogTalent")]
pub struct LoggedTalentNode {
    talent_id: String,
    /// 1-based position in the job's whole ranking (before filters).
    rank: i32,
    score: f64,
    factors: Vec<LoggedFactorNode>,
}

#[derive(SimpleObject)]
#[graphql(name = "DiscoverLogFactor")]
pub struct LoggedFactorNode {
    factor: String,
    score: f64,
    verdict: String,
}

#[derive(SimpleObject)]
pub struct DiscoverLogEdge {
    node: ExplainDoc,
    cursor: String,
}

#[derive(SimpleObject)]
pub struct DiscoverLogConnection {
    edges: Vec<DiscoverLogEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct AuditEdge {
    node: AuditDoc,
    cursor: String,
}

#[derive(SimpleObject)]
pub struct AuditConnection {
    edges: Vec<AuditEdge>,
    page_info: PageInfo,
}

#[derive(Default)]
pub struct DocumentQuery;

#[Object]
impl DocumentQuery {
    /// The signed-in user's notifications, newest first.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(false)")] unread_only: Option<bool>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<NotificationConnection> {
        // Counting is the costly part of a page: only when the client asks for it.
        let with_total = ctx.look_ahead().field("totalCount").exists();
        let (page, total) = inbox::inbox(
            state(ctx),
            viewer(ctx),
            unread_only.unwrap_or(false),
            first,
            after.as_deref(),
            with_total,
        )
        .await?;
        let (edges, page_info) = split(page, |node, cursor| NotificationEdge {
            node: NotificationNode(node),
            cursor,
        });
        Ok(NotificationConnection {
            edges,
            page_info,
            total_count: total.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)),
        })
    }

    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = inbox::unread_count(state(ctx), viewer(ctx)).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// What happened around the signed-in user, newest first.
    async fn activity_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ActivityConnection> {
        let page = inbox::feed(state(ctx), viewer(ctx), first, after.as_deref()).await?;
        let (edges, page_info) = split(page, |node, cursor| ActivityEdge { node, cursor });
        Ok(ActivityConnection { edges, page_info })
    }

    /// The audit trail, newest first: admins only.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        actor_id: Option<UserId>,
        object_id: Option<String>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditConnection> {
        let page = inbox::audit_log(
            state(ctx),
            viewer(ctx),
            actor_id,
            object_id.as_deref(),
            first,
            after.as_deref(),
        )
        .await?;
        let (edges, page_info) = split(page, |node, cursor| AuditEdge { node, cursor });
        Ok(AuditConnection { edges, page_info })
    }
}

#[derive(Default)]
pub struct ExplainQuery;

#[Object]
impl ExplainQuery {
    /// What was shown in a job's discover feed, page by page, newest first; optionally only
    /// the pages shown to one user. Admins only. An entry holds up to 100 talents with nine
    /// factors each: pages are small by default, and a query asking for every field of more
    /// than about six entries is over the query cost limit.
    async fn discover_log(
        &self,
        ctx: &Context<'_>,
        job_id: JobId,
        viewer_id: Option<UserId>,
        #[graphql(default = 5)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<DiscoverLogConnection> {
        let page = inbox::explain_log(
            state(ctx),
            viewer(ctx),
            job_id,
            viewer_id,
            first,
            after.as_deref(),
        )
        .await?;
        let (edges, page_info) = split(page, |node, cursor| DiscoverLogEdge { node, cursor });
        Ok(DiscoverLogConnection { edges, page_info })
    }
}

#[derive(Default)]
pub struct DocumentMutation;

#[Object]
impl DocumentMutation {
    /// Marks the signed-in user's notifications read: those in `ids`, or all with `all: true`.
    /// Returns how many changed (others' ids change nothing).
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        #[graphql(default_with = "Some(false)")] all: Option<bool>,
    ) -> Result<i32> {
        let ids = ids.map(|ids| ids.into_iter().map(|id| id.0).collect());
        let (changed, event) =
            inbox::mark_read(state(ctx), viewer(ctx), ids, all.unwrap_or(false)).await?;
        if let (Some(event), Some(bus)) = (event, ctx.data_opt::<Recipient<Publish>>()) {
            // The live count follows on every instance; if the bus is down it catches up with
            // the next notification.
            match bus.send(Publish(Arc::new(event))).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "read notifications not announced"),
                Err(e) => tracing::warn!(error = %e, "read notifications not announced"),
            }
        }
        Ok(i32::try_from(changed).unwrap_or(i32::MAX))
    }
}
