//! Builds the application once (migrations, pools, schema, listener) and serves it. `main` and
//! the tests both use `Application::build`.

use crate::configuration::Settings;
use crate::documents::Documents;
use crate::graphql::{self, SchemaLimits};
use crate::http;
use crate::http::client_ip::TrustedProxies;
use crate::http::metrics::Metrics;
use crate::live;
use crate::live::sessions::LiveSessions;
use crate::services::pipelines::Pipelines;
use crate::services::{gate, AppState};
use crate::{db, telemetry};
use actix::Addr;
use actix_http::{HttpService, KeepAlive};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use actors::RealtimeActors;
use anyhow::Context;
use castyou_actors::NotificationHub;
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

pub mod actors;

pub struct Application {
    port: u16,
    server: Server,
    operations_port: u16,
    operations: Server,
    state: AppState,
    actors: RealtimeActors,
    /// This instance's open websockets, waited for at shutdown.
    sessions: Arc<LiveSessions>,
}

impl Application {
    /// Migrates the database, starts the realtime actors, builds the schema and binds the
    /// public and the operators' listeners.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        telemetry::init(&settings.log);
        // Bound first: with port 0 the settings then carry the real port, which the media
        // store's own URLs are built from.
        let listener = bind(
            &settings.application.host,
            settings.application.port,
            "application.host:port",
        )?;
        settings.application.port = listener.local_addr()?.port();
        let state = prepare_state(settings).await?;
        let snapshots = actors::snapshots(&state).await?;
        let actors = RealtimeActors::start(&state, snapshots)?;
        actix_web::rt::spawn(Arc::clone(&state.explain).run(state.clone()));
        let metrics = Metrics::new(
            actors.hub.clone(),
            actors.pipelines.clone(),
            actors.restarts.clone(),
            actors.mail_failures.clone(),
        );
        let realtime = &state.settings.realtime;
        let sessions = LiveSessions::new(
            realtime.max_sockets_per_user,
            realtime.max_sockets_per_address,
        );
        live::sessions::start_watching(state.clone(), Arc::clone(&sessions), actors.hub.clone());
        let proxies = Arc::new(TrustedProxies::new(
            &state.settings.application.trusted_proxies,
        ));

        let app = &state.settings.application;
        let limits = SchemaLimits {
            max_depth: app.max_query_depth,
            max_complexity: app.max_query_complexity,
            introspection: app.introspection,
        };
        let schema = graphql::build_schema(Some(state.clone()), Some(actors.for_schema()), limits);
        let cost = Arc::new(graphql::QueryCost::new(&schema, &state.settings)?);

        let port = app.port;
        let ops = &state.settings.operations;
        let ops_listener = bind(&ops.host, ops.port, "operations.host:port")?;
        let operations_port = ops_listener.local_addr()?.port();
        let metrics = web::Data::new(metrics);
        let edge = Edge {
            schema,
            metrics: metrics.clone(),
            cost,
            sessions: Arc::clone(&sessions),
            proxies,
        };
        let server = serve(listener, state.clone(), edge)?;
        let rebuilders = web::Data::new(actors.rebuilders());
        let operations = serve_operations(ops_listener, state.clone(), metrics, rebuilders)?;
        tracing::info!(address = %format!("http://{}:{port}/graphql", app.host), "listening");
        tracing::info!(address = %format!("http://{}:{operations_port}/metrics", ops.host), "operations listening");
        Ok(Application {
            port,
            server,
            operations_port,
            operations,
            state,
            actors,
            sessions,
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
        &self.actors.hub
    }

    pub fn matches(&self) -> &Addr<castyou_actors::MatchIndex<crate::db::models::Job>> {
        &self.actors.matches
    }

    pub fn pipelines(&self) -> &Pipelines {
        &self.actors.pipelines
    }

    /// Serves until SIGINT/SIGTERM (or the handle stops it), letting open requests finish; the
    /// operators' listener stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let operations = self.operations.handle();
        actix_web::rt::spawn(self.operations);
        let served = self.server.await;
        // Websockets run as tasks of their own: they were told to close (1001) when the stop
        // began, and finish their close handshakes here.
        let limit = Duration::from_secs(self.state.settings.application.shutdown_timeout_secs);
        if !self.sessions.drained(limit).await {
            tracing::warn!(
                open = self.sessions.open_sockets(),
                "websockets still open at the shutdown timeout"
            );
        }
        operations.stop(true).await;
        // Pages served just before the stop still reach the explain log.
        if let Err(e) = self.state.explain.flush(&self.state).await {
            tracing::error!(
                code = e.code(),
                "explain-log pages could not be staged at shutdown"
            );
        }
        // The kept indexes save a copy, so the next start opens it instead of building.
        self.actors.save_indexes(limit).await;
        // The actors stop once the servers no longer use them.
        drop(self.actors);
        served
    }
}

/// Applies pending migrations and builds the shared state (pools, MongoDB, Redis), then starts
/// what rebuilds MongoDB's indexes and Redis's revocation cache in the background.
async fn prepare_state(settings: Settings) -> anyhow::Result<AppState> {
    let applied = db::run_migrations(&settings.database).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let pool = db::build_pool(&settings.database)?;
    let docs = Documents::connect(&settings.mongodb).await?;
    let state = AppState::new(settings, pool, docs)?;
    match &state.ai {
        Some(ai) => tracing::info!(
            embedding_model = ai.embedding_model(),
            chat_model = ai.chat_model(),
            "AI endpoint configured"
        ),
        None => tracing::info!(
            "no AI endpoint (OPENAI_BASE_URL): semantic search, semantic matching and \
             model-written fliers are off"
        ),
    }
    // Indexes are made once MongoDB answers; until then the document consumer waits and
    // events stay in the outbox.
    start_preparing(state.docs.clone());
    crate::services::media::start_sweeping(state.clone());
    // Redis holds nothing that cannot be rebuilt: refill the revocation cache now (and keep
    // retrying in the background while Redis is away).
    gate::start_repair(&state);
    Ok(state)
}

fn bind(host: &str, port: u16, setting: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((host, port)).with_context(|| format!("binding {setting} {host}:{port}"))
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

/// The public listener: every HTTP route through actix-web's middleware, and websocket upgrades
/// handed by actix-http to `live::upgrade` (which leaves the HTTP dispatcher behind). Built on
/// `actix-server` the way `HttpServer::listen` builds it, plus the upgrade service.
/// What the public listener's workers share.
struct Edge {
    schema: graphql::CastYouSchema,
    metrics: web::Data<Arc<Metrics>>,
    cost: Arc<graphql::QueryCost>,
    sessions: Arc<LiveSessions>,
    proxies: Arc<TrustedProxies>,
}

// Long: the route table and middleware stack of the HTTP server, declared in one place.
fn serve(listener: TcpListener, state: AppState, edge: Edge) -> anyhow::Result<Server> {
    let Edge {
        schema,
        metrics,
        cost,
        sessions,
        proxies,
    } = edge;
    let address = listener.local_addr()?;
    let settings = state.settings.clone();
    let app = &settings.application;
    let body_limit = app.body_limit_bytes;
    let server_settings = settings.clone();
    let mut builder = actix_server::Server::build().shutdown_timeout(app.shutdown_timeout_secs);
    if app.workers > 0 {
        builder = builder.workers(app.workers);
    }
    let shutdown = builder.graceful_shutdown_signal();
    let builder = builder.listen("castyou-http", listener, move || {
        let worker_state = state.for_worker().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "worker shares the process-wide connections");
            state.clone()
        });
        let upgrades = Rc::new(live::upgrade::Upgrades {
            worker: Rc::new(live::Worker {
                state: worker_state.clone(),
                schema: schema.clone(),
                cost: cost.clone(),
                cohorts: live::cohorts::Cohorts::new(metrics.cohort_gauge()),
                sessions: Arc::clone(&sessions),
                proxies: Arc::clone(&proxies),
            }),
            metrics: metrics.get_ref().clone(),
            shutdown: shutdown.clone(),
        });
        let graphql_resource = web::resource(live::upgrade::GRAPHQL_PATH)
            .route(web::post().to(http::graphql::graphql_post))
            .route(web::get().to(http::graphql::graphql_get));
        let app = App::new()
            .app_data(web::Data::new(worker_state))
            .app_data(web::Data::new(graphql::errors::DocumentCache::default()))
            .app_data(web::Data::new(schema.clone()))
            .app_data(metrics.clone())
            .app_data(web::Data::new(cost.clone()))
            .app_data(web::Data::new(Arc::clone(&proxies)))
            .app_data(web::PayloadConfig::new(body_limit))
            .wrap(middleware::from_fn(http::metrics::record))
            .wrap(middleware::from_fn(http::middleware::request_id_header))
            .wrap(http::middleware::cors(&server_settings))
            .wrap(http::middleware::security_headers(&server_settings))
            .wrap(TracingLogger::default())
            .service(graphql_resource)
            .route("/healthz", web::get().to(http::health::healthz))
            .route("/readyz", web::get().to(http::health::readyz))
            .route("/media/upload/{key:.*}", web::put().to(http::media::upload))
            .route(
                "/media/files/{key:.*}",
                web::get().to(http::media::download),
            )
            .route(
                "/media/files/{key:.*}",
                web::head().to(http::media::download),
            )
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(serde_json::json!({ "error": "not found" }))
            }));
        let http_signal = shutdown.clone();
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let signal = http_signal.clone();
                async move { signal.notified().await }
            })
            .keep_alive(KeepAlive::default())
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .tcp_nodelay(true)
            .local_addr(address)
            .upgrade(fn_service(move |upgrade| upgrades.clone().serve(upgrade)))
            .finish(map_config(
                app.into_factory()
                    .map_err(|e: actix_web::Error| e.error_response()),
                |_| AppConfig::default(),
            ))
            .tcp()
    })?;
    Ok(builder.run())
}

/// The operators' listener: `/metrics` and the detailed `/readyz` (bearer token when set), one
/// worker, nothing else.
fn serve_operations(
    listener: TcpListener,
    state: AppState,
    metrics: web::Data<Arc<Metrics>>,
    rebuilders: web::Data<http::indexes::Rebuilders>,
) -> anyhow::Result<Server> {
    let token = state.settings.operations.token.clone();
    let shutdown = state.settings.application.shutdown_timeout_secs;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(metrics.clone())
            .app_data(rebuilders.clone())
            .wrap(middleware::from_fn({
                let token = token.clone();
                move |req, next| http::metrics::require_token(token.clone(), req, next)
            }))
            .route("/metrics", web::get().to(http::metrics::metrics))
            .route(
                "/indexes/{index}/rebuild",
                web::post().to(http::indexes::rebuild),
            )
            .route("/readyz", web::get().to(http::health::readyz_detailed))
            .route("/healthz", web::get().to(http::health::healthz))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(shutdown)
    .listen(listener)?;
    Ok(server.run())
}
