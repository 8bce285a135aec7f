//! Live pipelines over websockets: `applicationPipeline(jobId)` for the job's producer (and
//! admins), `myApplicationUpdates` for a talent. Streams come from this instance's
//! `NotificationHub`; the resolvers never run inside an actor. `mediaProcessing(mediaId)`
//! follows a media item's processing for its owner.

use super::documents::NotificationNode;
use super::matching::Match;
use super::media::MediaItem;
use super::{state, viewer};
use crate::db::models::Application;
use crate::domain::ids::*;
use crate::domain::{ApplicationStage, Role};
use crate::errors::AppError;
use crate::services::events::{self, OutboxEvent, PipelineEventKind, PipelinePayload};
use crate::services::notifications;
use crate::services::{jobs, matching, media, signed_in, AppState, Viewer};
use actix::Addr;
use async_graphql::{Context, Object, Result, Subscription};
use castyou_actors::hub::{SubscribeCounted, Unsubscribe};
use castyou_actors::{Event, NotificationHub, Subscribe, Subscription as HubSubscription, Topic};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// In a request's data: only authorise the subscription, return no events. A websocket
/// connection runs each subscription that would join a cohort once with this before it joins
/// (`live::cohorts`), so a member never gets events it could not subscribe to itself.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionProbe;

/// In a cohort's request data: how many subscribers its hub subscription stands for.
#[derive(Debug, Clone, Default)]
pub struct CohortSubscribers(pub std::sync::Arc<std::sync::atomic::AtomicUsize>);

/// One change in a job's pipeline, decoded once per event and shared by every subscriber.
pub struct PipelineEvent(Arc<PipelinePayload>);

#[Object]
impl PipelineEvent {
    async fn kind(&self) -> PipelineEventKind {
        self.0.kind
    }
    async fn job_id(&self) -> JobId {
        self.0.job_id
    }
    /// The application as it is after the change; null for JOB_CLOSED.
    async fn application(&self) -> Option<Application> {
        self.0.application.as_ref().map(Application::from)
    }
    async fn from_stage(&self) -> Option<ApplicationStage> {
        self.0.from_stage
    }
    async fn to_stage(&self) -> Option<ApplicationStage> {
        self.0.to_stage
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// A hub subscription as a stream; leaving (the client's `complete`, or a closed socket)
/// drops it and tells the hub.
struct Live {
    subscription: HubSubscription,
    hub: Addr<NotificationHub>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.hub.do_send(Unsubscribe {
            topic: self.subscription.topic,
            id: self.subscription.id,
        });
    }
}

/// Subscribes to `topic` on this instance's hub. A cohort's execution (see `graphql::live`)
/// tells the hub how many subscribers the one subscription stands for. The transport admits
/// each subscription before it runs (session, rate limit, the connection's cap).
async fn subscribe(ctx: &Context<'_>, topic: Topic) -> Result<Live> {
    let capacity = state(ctx).settings.realtime.subscriber_queue;
    let hub = ctx.data_unchecked::<Addr<NotificationHub>>().clone();
    let subscribed = match ctx.data_opt::<CohortSubscribers>() {
        Some(counted) => {
            hub.send(SubscribeCounted {
                topic,
                capacity,
                subscribers: counted.0.clone(),
            })
            .await
        }
        None => hub.send(Subscribe { topic, capacity }).await,
    };
    match subscribed {
        Ok(subscription) => Ok(Live { subscription, hub }),
        Err(e) => Err(AppError::Internal(anyhow::Error::new(e).context("subscribing")).into()),
    }
}

/// Subscribes, unless the request only asks whether it may (`AdmissionProbe`): then None, and
/// the stream built on it is empty.
async fn subscribe_unless_probing(ctx: &Context<'_>, topic: Topic) -> Result<Option<Live>> {
    if ctx.data_opt::<AdmissionProbe>().is_some() {
        return Ok(None);
    }
    subscribe(ctx, topic).await.map(Some)
}

fn cut_off_error() -> async_graphql::Error {
    AppError::conflict("the subscription fell too far behind and was closed; subscribe again")
        .into()
}

/// The notifications pushed to `live`'s user; ends with an error if the hub cut it off.
fn notification_events(live: Option<Live>) -> impl Stream<Item = Result<NotificationNode>> {
    futures_util::stream::unfold(live, move |live| async move {
        let mut live = live?;
        loop {
            let Some(event) = live.subscription.events.recv().await else {
                if live.subscription.cut_off.load(Ordering::Acquire) {
                    return Some((Err(cut_off_error()), None));
                }
                return None;
            };
            let Some(decoded) = events::decode(&event) else {
                continue;
            };
            if let OutboxEvent::Notification(n) = &*decoded {
                return Some((Ok(NotificationNode(n.clone())), Some(live)));
            }
        }
    })
}

/// The user's unread count: now, then again whenever a notification arrives or some are
/// marked read (repeats of the same number are not sent).
fn unread_counts(live: Live, state: AppState, viewer: Viewer) -> impl Stream<Item = Result<i32>> {
    let first = true;
    futures_util::stream::unfold(
        (Some(live), first, None::<i32>),
        move |(live, first, last)| {
            let state = state.clone();
            async move {
                let mut live = live?;
                if !first {
                    loop {
                        let Some(event) = live.subscription.events.recv().await else {
                            if live.subscription.cut_off.load(Ordering::Acquire) {
                                return Some((Err(cut_off_error()), (None, false, last)));
                            }
                            return None;
                        };
                        let changes_the_count = events::decode(&event).is_some_and(|e| {
                            matches!(
                                &*e,
                                OutboxEvent::Notification(_) | OutboxEvent::NotificationsRead(_)
                            )
                        });
                        if changes_the_count {
                            // Several at once make one count.
                            while let Ok(_more) = live.subscription.events.try_recv() {}
                            break;
                        }
                    }
                }
                match notifications::unread_count(&state, Some(viewer)).await {
                    Ok(n) => {
                        let n = i32::try_from(n).unwrap_or(i32::MAX);
                        if last == Some(n) {
                            // Unchanged: wait for the next change without answering.
                            return Some((Ok(None), (Some(live), false, last)));
                        }
                        Some((Ok(Some(n)), (Some(live), false, Some(n))))
                    }
                    Err(e) => Some((Err(e.into()), (None, false, last))),
                }
            }
        },
    )
    .filter_map(|item: Result<Option<i32>>| async move { item.transpose() })
}

/// The pipeline events of `live` (other events on the topic are skipped); ends with an error
/// if the hub cut the subscriber off.
fn pipeline_events(live: Option<Live>) -> impl Stream<Item = Result<PipelineEvent>> {
    futures_util::stream::unfold(live, move |live| async move {
        let mut live = live?;
        loop {
            let Some(event): Option<Arc<Event>> = live.subscription.events.recv().await else {
                if live.subscription.cut_off.load(Ordering::Acquire) {
                    return Some((Err(cut_off_error()), None));
                }
                return None;
            };
            let Some(decoded) = events::decode(&event) else {
                continue;
            };
            if let Some(payload) = decoded.pipeline() {
                return Some((Ok(PipelineEvent(payload.clone())), Some(live)));
            }
        }
    })
}

/// `first` (the item as it was when subscribing), then each newer state of it from `live`,
/// until READY or FAILED; ends with an error if the hub cut the subscriber off.
fn media_states(
    live: Live,
    first: crate::db::media::MediaRow,
) -> impl Stream<Item = Result<MediaItem>> {
    futures_util::stream::unfold(
        (Some(live), Some(first), None::<crate::db::media::MediaRow>),
        move |(live, first, last)| async move {
            if let Some(first) = first {
                let done = media::is_final(&first);
                let next_live = if done { None } else { live };
                return Some((Ok(MediaItem(first.clone())), (next_live, None, Some(first))));
            }
            let mut live = live?;
            loop {
                let Some(event): Option<Arc<Event>> = live.subscription.events.recv().await else {
                    if live.subscription.cut_off.load(Ordering::Acquire) {
                        return Some((Err(cut_off_error()), (None, None, last)));
                    }
                    return None;
                };
                let Some(decoded) = events::decode(&event) else {
                    continue;
                };
                let OutboxEvent::MediaChanged(changed) = &*decoded else {
                    continue;
                };
                let row = crate::db::media::MediaRow::from(&changed.media);
                // Events committed before the first read carry nothing new.
                if let Some(last) = &last {
                    let older = row.updated_at < last.updated_at
                        || (row.updated_at == last.updated_at
                            && row.status == last.status
                            && row.progress == last.progress);
                    if row.id != last.id || older {
                        continue;
                    }
                }
                let done = media::is_final(&row);
                let item = MediaItem(row.clone());
                let next_live = if done { None } else { Some(live) };
                return Some((Ok(item), (next_live, None, Some(row))));
            }
        },
    )
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every application created, moved or withdrawn in the job, and JOB_CLOSED when it closes:
    /// the job's producer and admins only.
    async fn application_pipeline(
        &self,
        ctx: &Context<'_>,
        job_id: JobId,
    ) -> Result<impl Stream<Item = Result<PipelineEvent>>> {
        let viewer = signed_in(viewer(ctx))?;
        let job = jobs::find(state(ctx), Some(viewer), job_id)
            .await?
            .ok_or(AppError::NotFound("job"))?;
        if !jobs::manages(&viewer, &job) {
            return Err(
                AppError::forbidden("the pipeline is visible to the job's producer only").into(),
            );
        }
        let live = subscribe_unless_probing(ctx, Topic::Job(job_id.0)).await?;
        Ok(pipeline_events(live))
    }

    /// The signed-in talent's applications as they move, and their jobs closing.
    async fn my_application_updates(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<PipelineEvent>>> {
        let viewer = signed_in(viewer(ctx))?;
        if viewer.role != Role::Talent {
            return Err(AppError::forbidden(
                "myApplicationUpdates follows a talent's own applications",
            )
            .into());
        }
        let live = subscribe_unless_probing(ctx, Topic::User(viewer.user_id.0)).await?;
        Ok(pipeline_events(live))
    }

    /// A media item as it is now, then every status or progress change until READY or FAILED:
    /// its owner (and admins) only.
    async fn media_processing(
        &self,
        ctx: &Context<'_>,
        media_id: MediaId,
    ) -> Result<impl Stream<Item = Result<MediaItem>>> {
        let viewer = signed_in(viewer(ctx))?;
        // Subscribed before reading, so no change falls between the read and the first event.
        let live = subscribe(ctx, Topic::Media(media_id.0)).await?;
        let row = media::watchable(state(ctx), Some(viewer), media_id).await?;
        Ok(media_states(live, row))
    }

    /// The signed-in user's new notifications, pushed once they are stored.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<NotificationNode>>> {
        let viewer = signed_in(viewer(ctx))?;
        let live = subscribe_unless_probing(ctx, Topic::User(viewer.user_id.0)).await?;
        Ok(notification_events(live))
    }

    /// Jobs published (or changed while open) from now on that match the signed-in talent at
    /// least `minScore` (0..100), each at most once per subscription, scored on the instance
    /// the socket is on.
    async fn job_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(60.0)")] min_score: Option<f64>,
    ) -> Result<impl Stream<Item = Result<Match>>> {
        let matches = matching::watch_jobs(state(ctx), viewer(ctx), min_score.unwrap_or(60.0))?;
        Ok(matches.map(|pair| Ok(Match(pair))))
    }

    /// The signed-in user's unread notification count: first the current count, then each
    /// change.
    async fn unread_notification_count(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<i32>>> {
        let viewer = signed_in(viewer(ctx))?;
        let live = subscribe(ctx, Topic::User(viewer.user_id.0)).await?;
        Ok(unread_counts(live, state(ctx).clone(), viewer))
    }
}
