//! Builds the application once (migrations, pools, schema, listener) and serves it. `main` and
//! the tests both use `Application::build`.

use crate::adapters::deadlines::PgDeadlines;
use crate::adapters::documents::MongoDocuments;
use crate::adapters::outbox::PgOutbox;
use crate::adapters::redis_bus::RedisBus;
use crate::configuration::BusKind;
use crate::configuration::Settings;
use crate::db::outbox::Consumer;
use crate::documents::Documents;
use crate::graphql::{self, Realtime, SchemaLimits};
use crate::http;
use crate::http::metrics::Metrics;
use crate::services::pipelines::Pipelines;
use crate::services::{gate, AppState};
use crate::{db, telemetry};
use actix::Addr;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{guard, middleware, web, App, HttpResponse, HttpServer};
use anyhow::Context;
use castyou_actors::deadlines::{DeadlinePort, DeadlineScheduler};
use castyou_actors::{
    BusPort, DocumentPort, DocumentWriter, EventBus, NotificationHub, OutboxPort, OutboxRelay,
    RestartCounter,
};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

pub struct Application {
    port: u16,
    server: Server,
    operations_port: u16,
    operations: Server,
    state: AppState,
    hub: Addr<NotificationHub>,
    pipelines: Pipelines,
    _relay: Addr<OutboxRelay>,
    _bus: Addr<EventBus>,
    _scheduler: Addr<DeadlineScheduler>,
    _documents: (Addr<DocumentWriter>, Addr<OutboxRelay>),
}

/// How often the relay looks for events when no notification woke it.
const OUTBOX_POLL: Duration = Duration::from_secs(1);

/// How long a job's pipeline actor lives without a move.
const PIPELINE_IDLE: Duration = Duration::from_secs(300);

impl Application {
    /// Migrates the database, then builds everything the server shares and binds its port.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        telemetry::init(&settings.log);
        let applied = db::run_migrations(&settings.database).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
        let pool = db::build_pool(&settings.database)?;
        let docs = Documents::connect(&settings.mongodb).await?;
        let state = AppState::new(settings, pool, docs)?;
        // Indexes are made once MongoDB answers; until then the document consumer waits and
        // events stay in the outbox.
        start_preparing(state.docs.clone());
        // Redis holds nothing that cannot be rebuilt: refill the revocation cache now (and
        // keep retrying in the background while Redis is away).
        gate::start_repair(&state);

        // The realtime core: this instance's live subscribers, and the relay that feeds them
        // the outbox's committed events. Both restart (state rebuilt) if they fail.
        let restarts: Vec<(&'static str, RestartCounter)> =
            ["hub", "bus", "relay", "deadlines", "pipelines", "pipeline"]
                .into_iter()
                .map(|name| (name, RestartCounter::default()))
                .collect();
        let counter = |name: &str| {
            restarts
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| c.clone())
                .unwrap_or_default()
        };
        let hub_restarts = counter("hub");
        let hub = actix::Supervisor::start(move |_| {
            NotificationHub::with_restart_counter(hub_restarts.clone())
        });
        let outbox: Arc<dyn OutboxPort> = Arc::new(PgOutbox::new(
            Consumer::Bus,
            state.pool.clone(),
            state.settings.database.url.clone(),
            chrono::Duration::days(state.settings.realtime.outbox_retention_days),
        ));
        let bus_port: Option<Arc<dyn BusPort>> = match state.settings.realtime.bus {
            BusKind::Redis => Some(Arc::new(RedisBus::new(state.redis.clone()))),
            BusKind::Local => None,
        };
        let bus_hub = hub.clone();
        let bus_restarts = counter("bus");
        let bus = actix::Supervisor::start(move |_| {
            EventBus::new(bus_port.clone(), bus_hub.clone().recipient())
                .counting_restarts_in(bus_restarts.clone())
        });
        let relay_bus = bus.clone();
        let relay_restarts = counter("relay");
        let relay = actix::Supervisor::start(move |_| {
            OutboxRelay::new(outbox.clone(), relay_bus.clone().recipient(), OUTBOX_POLL)
                .counting_restarts_in(relay_restarts.clone())
        });

        // The document consumer: a second relay over the same outbox, with its own progress and
        // leader, feeding the writer that stores notifications, activity and audit entries and
        // then pushes the notifications on the bus.
        let documents: Arc<dyn DocumentPort> = Arc::new(MongoDocuments::new(state.clone()));
        let writer_bus = bus.clone();
        let writer_restarts = counter("documents");
        let writer = actix::Supervisor::start(move |_| {
            DocumentWriter::new(documents.clone(), writer_bus.clone().recipient())
                .counting_restarts_in(writer_restarts.clone())
        });
        let documents_outbox: Arc<dyn OutboxPort> = Arc::new(PgOutbox::new(
            Consumer::Documents,
            state.pool.clone(),
            state.settings.database.url.clone(),
            chrono::Duration::days(state.settings.realtime.outbox_retention_days),
        ));
        let document_relay_writer = writer.clone();
        let document_relay_restarts = counter("document_relay");
        let document_relay = actix::Supervisor::start(move |_| {
            OutboxRelay::new(
                documents_outbox.clone(),
                document_relay_writer.clone().recipient(),
                OUTBOX_POLL,
            )
            .counting_restarts_in(document_relay_restarts.clone())
        });

        let realtime = &state.settings.realtime;
        let deadlines: Arc<dyn DeadlinePort> = Arc::new(PgDeadlines::new(
            state.clone(),
            chrono::Duration::seconds(realtime.deadline_reminder_secs),
        ));
        let sweep_every = Duration::from_secs(realtime.deadline_sweep_secs);
        let deadline_restarts = counter("deadlines");
        let scheduler = actix::Supervisor::start(move |_| {
            DeadlineScheduler::new(deadlines.clone(), sweep_every)
                .counting_restarts_in(deadline_restarts.clone())
        });
        let pipelines = Pipelines::start(
            state.clone(),
            PIPELINE_IDLE,
            counter("pipelines"),
            counter("pipeline"),
        );
        let metrics = Metrics::new(hub.clone(), pipelines.clone(), restarts.clone());

        let app = &state.settings.application;
        let schema = graphql::build_schema(
            Some(state.clone()),
            Some(Realtime {
                hub: hub.clone(),
                pipelines: pipelines.clone(),
                bus: bus.clone().recipient(),
            }),
            SchemaLimits {
                max_depth: app.max_query_depth,
                max_complexity: app.max_query_complexity,
                introspection: app.introspection,
            },
        );
        let cost = Arc::new(graphql::QueryCost::new(&schema, &state.settings)?);
        crate::http::live_sessions::start_watching(state.clone(), hub.clone());
        let listener = TcpListener::bind((app.host.as_str(), app.port))
            .with_context(|| format!("binding {}:{}", app.host, app.port))?;
        let port = listener.local_addr()?.port();
        let ops = &state.settings.operations;
        let ops_listener = TcpListener::bind((ops.host.as_str(), ops.port))
            .with_context(|| format!("binding operations.host:port {}:{}", ops.host, ops.port))?;
        let operations_port = ops_listener.local_addr()?.port();
        let metrics = web::Data::new(metrics);
        let server = serve(listener, state.clone(), schema, metrics.clone(), cost)?;
        let operations = serve_operations(ops_listener, state.clone(), metrics)?;
        tracing::info!(address = %format!("http://{}:{port}/graphql", app.host), "listening");
        tracing::info!(address = %format!("http://{}:{operations_port}/metrics", ops.host), "operations listening");
        Ok(Application {
            port,
            server,
            operations_port,
            operations,
            state,
            hub,
            pipelines,
            _relay: relay,
            _bus: bus,
            _scheduler: scheduler,
            _documents: (writer, document_relay),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the operators' listener (`/metrics`, detailed `/readyz`).
    pub fn operations_port(&self) -> u16 {
        self.operations_port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn hub(&self) -> &Addr<NotificationHub> {
        &self.hub
    }

    pub fn pipelines(&self) -> &Pipelines {
        &self.pipelines
    }

    /// Serves until SIGINT/SIGTERM (or the handle stops it), letting open requests finish; the
    /// operators' listener stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let operations = self.operations.handle();
        actix_web::rt::spawn(self.operations);
        let served = self.server.await;
        operations.stop(true).await;
        served
    }
}

/// Creates the document store's indexes, retrying in the background until MongoDB answers.
fn start_preparing(docs: Documents) {
    actix_web::rt::spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            match docs.prepare().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "MongoDB indexes not created yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
    });
}

fn serve(
    listener: TcpListener,
    state: AppState,
    schema: graphql::CastYouSchema,
    metrics: web::Data<Arc<Metrics>>,
    cost: Arc<graphql::QueryCost>,
) -> anyhow::Result<Server> {
    let cost = web::Data::new(cost);
    let settings = state.settings.clone();
    let app = &settings.application;
    let schema = web::Data::new(schema);
    let body_limit = app.body_limit_bytes;
    let server_settings = settings.clone();
    let mut server = HttpServer::new(move || {
        let worker_state = state.for_worker().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker shares the process-wide connections");
            state.clone()
        });
        let graphql_resource = web::resource("/graphql")
            .route(web::post().to(http::graphql::graphql_post))
            .route(
                web::get()
                    .guard(guard::Header("upgrade", "websocket"))
                    .to(http::graphql::graphql_ws),
            )
            .route(web::get().to(http::graphql::graphql_get));
        App::new()
            .app_data(web::Data::new(worker_state))
            .app_data(web::Data::new(graphql::errors::DocumentCache::default()))
            .app_data(schema.clone())
            .app_data(metrics.clone())
            .app_data(cost.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .wrap(middleware::from_fn(http::metrics::record))
            .wrap(middleware::from_fn(http::middleware::request_id_header))
            .wrap(http::middleware::cors(&server_settings))
            .wrap(http::middleware::security_headers(&server_settings))
            .wrap(TracingLogger::default())
            .service(graphql_resource)
            .route("/healthz", web::get().to(http::health::healthz))
            .route("/readyz", web::get().to(http::health::readyz))
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(serde_json::json!({ "error": "not found" }))
            }))
    })
    .listen(listener)?
    .shutdown_timeout(app.shutdown_timeout_secs);
    if app.workers > 0 {
        server = server.workers(app.workers);
    }
    Ok(server.run())
}

/// The operators' listener: `/metrics` and the detailed `/readyz` (bearer token when set), one
/// worker, nothing else.
fn serve_operations(
    listener: TcpListener,
    state: AppState,
    metrics: web::Data<Arc<Metrics>>,
) -> anyhow::Result<Server> {
    let token = state.settings.operations.token.clone();
    let shutdown = state.settings.application.shutdown_timeout_secs;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(metrics.clone())
            .wrap(middleware::from_fn({
                let token = token.clone();
                move |req, next| http::metrics::require_token(token.clone(), req, next)
            }))
            .route("/metrics", web::get().to(http::metrics::metrics))
            .route("/readyz", web::get().to(http::health::readyz_detailed))
            .route("/healthz", web::get().to(http::health::healthz))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(shutdown)
    .listen(listener)?;
    Ok(server.run())
}
