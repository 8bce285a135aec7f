//! `/metrics` in Prometheus text: HTTP requests and latency, open websockets, live
//! subscriptions, the outbox backlog, running pipeline actors and actor restarts.

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

/// The process's metrics; built once and shared by every worker.
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabel, Counter>,
    latency: Histogram,
    websockets: Gauge,
    subscriptions: Gauge,
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
}

impl Metrics {
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
        Arc::new(Metrics {
            registry,
            requests,
            latency,
            websockets,
            subscriptions,
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
        metrics.latency.observe(started.elapsed().as_secs_f64());
        metrics
            .requests
            .get_or_create(&StatusLabel {
                status: response.status().as_u16(),
            })
            .inc();
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
