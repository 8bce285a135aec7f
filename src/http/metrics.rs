//! `/metrics` in Prometheus text: HTTP requests and latency, open websockets, live
//! subscriptions, the outbox backlog, running pipeline actors, actor restarts and the match
//! index.

use crate::db;
use crate::services::pipelines::Pipelines;
use crate::services::AppState;
use actix::Addr;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use castyou_actors::hub::CountSubscriptions;
use castyou_actors::{MailFailures, NotificationHub, Restarts};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabel {
    actor: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

/// Every background job queue, the same figures for each (`queue` label).
#[derive(Default)]
struct QueueGauges {
    waiting: Family<QueueLabel, Gauge>,
    dead: Family<QueueLabel, Gauge>,
    running: Family<QueueLabel, Gauge>,
    done: Family<QueueLabel, Counter>,
    refused: Family<QueueLabel, Counter>,
    retried: Family<QueueLabel, Counter>,
    buried: Family<QueueLabel, Counter>,
    failed_runs: Family<QueueLabel, Counter>,
}

impl QueueGauges {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "queue_waiting",
            "Items waiting in a background job queue (all instances)",
            self.waiting.clone(),
        );
        registry.register(
            "queue_dead",
            "Dead letters: items whose tries reached the queue's maximum (all instances)",
            self.dead.clone(),
        );
        registry.register(
            "queue_running",
            "Items this instance is working on",
            self.running.clone(),
        );
        registry.register(
            "queue_done",
            "Items this instance finished",
            self.done.clone(),
        );
        registry.register(
            "queue_refused",
            "Items this instance refused for good (the input's fault)",
            self.refused.clone(),
        );
        registry.register(
            "queue_retried",
            "Items this instance gave back to be tried again",
            self.retried.clone(),
        );
        registry.register(
            "queue_buried",
            "Items this instance dead-lettered",
            self.buried.clone(),
        );
        registry.register(
            "queue_failed_runs",
            "Runs that failed as a whole (the queue paused)",
            self.failed_runs.clone(),
        );
    }

    fn set(&self, queue: &'static str, stats: &castyou_actors::queue::QueueStats) {
        use std::sync::atomic::Ordering::Relaxed;
        let label = QueueLabel { queue };
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.waiting
            .get_or_create(&label)
            .set(stats.waiting.load(Relaxed));
        self.dead
            .get_or_create(&label)
            .set(stats.dead.load(Relaxed));
        self.running
            .get_or_create(&label)
            .set(n(stats.running.load(Relaxed)));
        let catch_up = |family: &Family<QueueLabel, Counter>, now: u64| {
            let c = family.get_or_create(&label);
            c.inc_by(now.saturating_sub(c.get()));
        };
        catch_up(&self.done, stats.done.load(Relaxed));
        catch_up(&self.refused, stats.refused.load(Relaxed));
        catch_up(&self.retried, stats.retried.load(Relaxed));
        catch_up(&self.buried, stats.buried.load(Relaxed));
        catch_up(&self.failed_runs, stats.failed_runs.load(Relaxed));
    }
}

/// The process's metrics; built once and shared by every worker.
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabel, Counter>,
    latency: Histogram,
    websockets: Gauge,
    subscriptions: Gauge,
    cohorts: Gauge,
    outbox_backlog: Gauge,
    documents_backlog: Gauge,
    pipeline_actors: Gauge,
    restarts: Family<ActorLabel, Counter>,
    restart_sources: Restarts,
    unknown_events: Gauge,
    mail_backlog: Gauge,
    mail_failures: Counter,
    mail_failure_source: MailFailures,
    hub: Addr<NotificationHub>,
    pipelines: Pipelines,
    index: MatchIndexGauges,
    ai: AiGauges,
    queues: QueueGauges,
}

/// The embedding worker and the semantic index, as `/metrics` shows them.
#[derive(Default)]
struct AiGauges {
    configured: Gauge,
    embedding_backlog: Gauge,
    embedded_texts: Counter,
    embedding_calls: Counter,
    embedding_failures: Counter,
    semantic_ready: Gauge,
    semantic_vectors: Gauge,
    semantic_tombstones: Gauge,
    semantic_build_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl AiGauges {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "ai_configured",
            "1 when an OpenAI-compatible endpoint is configured",
            self.configured.clone(),
        );
        registry.register(
            "embedding_backlog",
            "Talents and jobs waiting for their vectors",
            self.embedding_backlog.clone(),
        );
        registry.register(
            "embedded_texts",
            "Texts embedded by this instance",
            self.embedded_texts.clone(),
        );
        registry.register(
            "embedding_calls",
            "Calls this instance made to the embeddings endpoint",
            self.embedding_calls.clone(),
        );
        registry.register(
            "embedding_failures",
            "Embedding passes that failed (the backlog waits and is retried)",
            self.embedding_failures.clone(),
        );
        registry.register(
            "semantic_index_ready",
            "1 once the semantic index is built",
            self.semantic_ready.clone(),
        );
        registry.register(
            "semantic_index_vectors",
            "Talent vectors in the semantic index",
            self.semantic_vectors.clone(),
        );
        registry.register(
            "semantic_index_tombstones",
            "Replaced vectors still in the graph (until the next rebuild)",
            self.semantic_tombstones.clone(),
        );
        registry.register(
            "semantic_index_build_seconds",
            "How long the last semantic index build took",
            self.semantic_build_seconds.clone(),
        );
    }

    fn set(&self, state: &AppState) {
        use std::sync::atomic::Ordering;
        self.configured.set(i64::from(state.ai.is_some()));
        let (stats, queue) = (&state.embedding_stats, &state.embedding_queue);
        self.embedding_backlog
            .set(queue.waiting.load(Ordering::Relaxed));
        let catch_up = |c: &Counter, now: u64| c.inc_by(now.saturating_sub(c.get()));
        catch_up(
            &self.embedded_texts,
            stats.embedded_texts.load(Ordering::Relaxed),
        );
        catch_up(&self.embedding_calls, stats.calls.load(Ordering::Relaxed));
        catch_up(
            &self.embedding_failures,
            queue.failed_runs.load(Ordering::Relaxed),
        );
        let semantic = state.semantic.stats();
        self.semantic_ready.set(i64::from(semantic.kept.built));
        self.semantic_vectors.set(semantic.vectors as i64);
        self.semantic_tombstones.set(semantic.tombstones as i64);
        self.semantic_build_seconds
            .set(semantic.kept.last_build.map_or(0.0, |d| d.as_secs_f64()));
    }
}

/// The match index, as `/metrics` shows it.
#[derive(Default)]
struct MatchIndexGauges {
    ready: Gauge,
    talents: Gauge,
    jobs: Gauge,
    talent_bytes: Gauge,
    cached_rankings: Gauge,
    ranking_bytes: Gauge,
    last_event_seq: Gauge,
    events_applied: Gauge,
    build_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    job_feed_subscribers: Gauge,
    rankings_computed: Gauge,
}

impl MatchIndexGauges {
    fn register(&self, registry: &mut Registry) {
        let mut gauge = |name: &str, help: &str, g: &Gauge| {
            registry.register(name, help, g.clone());
        };
        gauge(
            "match_index_ready",
            "1 once the match index is built",
            &self.ready,
        );
        gauge(
            "match_index_talents",
            "Talent profiles in the match index",
            &self.talents,
        );
        gauge(
            "match_index_jobs",
            "OPEN jobs in the match index",
            &self.jobs,
        );
        gauge(
            "match_index_talent_bytes",
            "Bytes the match index holds for talents (features, ids, lookup)",
            &self.talent_bytes,
        );
        gauge(
            "match_index_cached_rankings",
            "Jobs whose whole ranking the match index keeps",
            &self.cached_rankings,
        );
        gauge(
            "match_index_ranking_bytes",
            "Bytes of the cached rankings",
            &self.ranking_bytes,
        );
        gauge(
            "match_index_last_event_seq",
            "Outbox sequence number of the last change the match index applied",
            &self.last_event_seq,
        );
        gauge(
            "match_index_events_applied",
            "Changes the match index applied since it started",
            &self.events_applied,
        );
        gauge(
            "match_index_rankings_computed",
            "Whole rankings of a job computed since the start (cache misses)",
            &self.rankings_computed,
        );
        gauge(
            "job_feed_subscribers",
            "Live jobFeed subscriptions on this instance",
            &self.job_feed_subscribers,
        );
        registry.register(
            "match_index_build_seconds",
            "How long the last full load of the match index took",
            self.build_seconds.clone(),
        );
    }

    fn set(&self, stats: &castyou_actors::matching::IndexStats) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.ready.set(i64::from(stats.kept.built));
        self.talents.set(n(stats.size.talents));
        self.jobs.set(n(stats.size.jobs));
        self.talent_bytes.set(n(stats.size.talent_bytes));
        self.cached_rankings.set(n(stats.size.cached_rankings));
        self.ranking_bytes.set(n(stats.size.ranking_bytes));
        self.last_event_seq
            .set(stats.kept.last_event_seq.unwrap_or(0));
        self.events_applied
            .set(i64::try_from(stats.kept.events_applied).unwrap_or(i64::MAX));
        self.job_feed_subscribers.set(n(stats.watchers));
        self.rankings_computed
            .set(i64::try_from(stats.rankings_computed).unwrap_or(i64::MAX));
        self.build_seconds
            .set(stats.kept.last_build.map_or(0.0, |d| d.as_secs_f64()));
    }
}

impl Metrics {
    // Long: registers every metric the server exposes; one flat list keeps each name beside
    // its help text.
    pub fn new(
        hub: Addr<NotificationHub>,
        pipelines: Pipelines,
        restart_sources: Restarts,
        mail_failure_source: MailFailures,
    ) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("castyou");
        let requests = Family::<StatusLabel, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by status",
            requests.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            latency.clone(),
        );
        let websockets = Gauge::default();
        registry.register(
            "websockets_open",
            "Open websocket connections",
            websockets.clone(),
        );
        let subscriptions = Gauge::default();
        registry.register(
            "subscriptions_live",
            "Live subscriptions on this instance",
            subscriptions.clone(),
        );
        let cohorts = Gauge::default();
        registry.register(
            "subscription_cohorts",
            "Shared executions of subscriptions on this instance (one per operation, variables \
             and viewer per worker)",
            cohorts.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "outbox_backlog",
            "Outbox events not yet delivered",
            outbox_backlog.clone(),
        );
        let documents_backlog = Gauge::default();
        registry.register(
            "documents_backlog",
            "Outbox events whose documents (notifications, activity, audit) are not yet stored",
            documents_backlog.clone(),
        );
        let pipeline_actors = Gauge::default();
        registry.register(
            "pipeline_actors",
            "Job pipeline actors running on this instance",
            pipeline_actors.clone(),
        );
        let unknown_events = Gauge::default();
        registry.register(
            "outbox_unknown_events",
            "Outbox events of kinds this server does not know, kept for a server that does",
            unknown_events.clone(),
        );
        let mail_backlog = Gauge::default();
        registry.register(
            "mail_backlog",
            "Account mails waiting to be sent",
            mail_backlog.clone(),
        );
        let mail_failures = Counter::default();
        registry.register(
            "mail_failures",
            "Failed attempts to hand a mail to the mail server",
            mail_failures.clone(),
        );
        let restarts = Family::<ActorLabel, Counter>::default();
        registry.register(
            "actor_restarts",
            "Restarts of supervised actors",
            restarts.clone(),
        );
        let index = MatchIndexGauges::default();
        index.register(&mut registry);
        let ai = AiGauges::default();
        ai.register(&mut registry);
        let queues = QueueGauges::default();
        queues.register(&mut registry);
        Arc::new(Metrics {
            index,
            ai,
            queues,
            registry,
            requests,
            latency,
            websockets,
            subscriptions,
            cohorts,
            outbox_backlog,
            documents_backlog,
            pipeline_actors,
            restarts,
            restart_sources,
            unknown_events,
            mail_backlog,
            mail_failures,
            mail_failure_source,
            hub,
            pipelines,
        })
    }

    /// Counts an open websocket until the returned guard is dropped.
    /// The gauge a worker's cohorts count themselves in.
    pub fn cohort_gauge(&self) -> Gauge {
        self.cohorts.clone()
    }

    /// Counts and times one answered request (websocket handshakes included).
    pub fn observe_request(&self, status: u16, took: std::time::Duration) {
        self.latency.observe(took.as_secs_f64());
        self.requests.get_or_create(&StatusLabel { status }).inc();
    }

    pub fn websocket_opened(self: &Arc<Self>) -> WebsocketGuard {
        self.websockets.inc();
        WebsocketGuard(self.clone())
    }
}

/// Held for as long as a websocket connection lives.
pub struct WebsocketGuard(Arc<Metrics>);

impl Drop for WebsocketGuard {
    fn drop(&mut self) {
        self.0.websockets.dec();
    }
}

/// Counts and times every request.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Arc<Metrics>>>().cloned();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe_request(response.status().as_u16(), started.elapsed());
    }
    Ok(response)
}

/// `GET /metrics`.
pub async fn metrics(metrics: web::Data<Arc<Metrics>>, state: web::Data<AppState>) -> HttpResponse {
    if let Ok(n) = metrics.hub.send(CountSubscriptions).await {
        metrics.subscriptions.set(n as i64);
    }
    metrics
        .pipeline_actors
        .set(metrics.pipelines.running().await as i64);
    if let Ok(mut conn) = state.pool.get().await {
        if let Ok(n) = db::outbox::backlog(&mut conn, db::outbox::Consumer::Bus).await {
            metrics.outbox_backlog.set(n);
        }
        if let Ok(n) = db::outbox::backlog(&mut conn, db::outbox::Consumer::Documents).await {
            metrics.documents_backlog.set(n);
        }
        if let Ok(n) = db::outbox::backlog(&mut conn, db::outbox::Consumer::Mail).await {
            metrics.mail_backlog.set(n);
        }
        let known = crate::services::events::known_kinds();
        if let Ok(n) = db::outbox::unknown_pending(&mut conn, &known).await {
            metrics.unknown_events.set(n);
        }
    }
    metrics.index.set(&state.matches.stats());
    metrics.ai.set(&state);
    metrics.queues.set("media", &state.media_queue);
    metrics.queues.set("embeddings", &state.embedding_queue);
    let failed = metrics.mail_failure_source.get();
    metrics
        .mail_failures
        .inc_by(failed.saturating_sub(metrics.mail_failures.get()));
    for (actor, restarts) in metrics.restart_sources.counts() {
        let counter = metrics.restarts.get_or_create(&ActorLabel {
            actor: actor.label(),
        });
        counter.inc_by(restarts.saturating_sub(counter.get()));
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &metrics.registry).is_err() {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body)
}

/// Refuses requests to the operators' listener without `Authorization: Bearer <token>`, when a
/// token is configured.
pub async fn require_token(
    token: Option<secrecy::SecretString>,
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use secrecy::ExposeSecret;
    if let Some(token) = token {
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let expected = token.expose_secret().as_bytes();
        let same = presented.len() == expected.len()
            && presented
                .bytes()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            let response = HttpResponse::Unauthorized()
                .insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"))
                .finish();
            return Ok(req.into_response(response));
        }
    }
    next.call(req).await
}
