//! Business logic: each module takes the shared state and who is asking, checks the rules,
//! and reaches storage through `db`. GraphQL resolvers call these and nothing below them.

pub mod accounts;
pub mod applications;
pub mod audit;
pub mod auth;
pub mod embeddings;
pub mod events;
pub mod favorites;
pub mod fliers;
pub mod gate;
pub mod groups;
pub mod identity;
pub mod jobs;
pub mod matching;
pub mod media;
pub mod media_workers;
pub mod notifications;
pub mod own_writes;
pub mod persisted_queries;
pub mod pipelines;
pub mod profiles;
pub mod search;
pub mod tokens;
pub mod users;

use crate::configuration::Settings;
use crate::db::{PgConn, PgPool};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::Role;
use crate::errors::{AppError, AppResult};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Everything services share; built once at start and cloned into every worker.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub redis: RedisHandle,
    pub tokens: Arc<tokens::TokenKeys>,
    pub identity: Arc<identity::IdentityVerifier>,
    pub revocation: Arc<gate::RevocationCache>,
    /// Rate-limit counters of this instance, for while Redis is unreachable.
    pub local_limits: Arc<gate::LocalLimits>,
    /// Whose forwarding headers name the client.
    pub proxies: Arc<crate::http::client_ip::TrustedProxies>,
    /// This instance's open websockets, by user and address.
    pub live: Arc<crate::http::live_sessions::LiveSessions>,
    /// Exchange rates the matching model compares pay in.
    pub rates: Arc<castyou_model::ExchangeRates>,
    /// This instance's match index (filled and kept current by the `MatchIndex` actor).
    pub matches: castyou_actors::MatchIndexHandle<crate::db::models::Job>,
    /// Discover pages waiting to be written to the explain log.
    pub explain: Arc<matching::ExplainStage>,
    pub docs: crate::documents::Documents,
    /// The OpenAI-compatible endpoint, when one is configured.
    pub ai: Option<crate::adapters::ai::Ai>,
    /// This instance's semantic index (built only with an endpoint).
    pub semantic: castyou_actors::SemanticHandle,
    /// The embedding worker's counters.
    pub embedding_stats: Arc<castyou_actors::EmbeddingStats>,
    /// Where media objects live.
    pub media_store: Arc<crate::adapters::storage::MediaStore>,
    /// Wakes this instance's media workers (an upload was completed here).
    pub media_wake: Arc<tokio::sync::Notify>,
    /// The media workers' counters.
    pub media_stats: Arc<media_workers::MediaWorkerStats>,
    /// Password-reset lookups waiting to run after their answer (see `accounts`).
    pub reset_lookups: Arc<tokio::sync::Semaphore>,
    /// Users' last writes that the match index holds, for their next reads (`own_writes`).
    pub own_writes: Arc<own_writes::OwnWrites>,
}

impl AppState {
    pub fn new(
        settings: Settings,
        pool: PgPool,
        docs: crate::documents::Documents,
    ) -> anyhow::Result<AppState> {
        let redis = RedisHandle::new(
            settings.redis.url.expose_secret(),
            settings.redis.key_prefix.clone(),
        )?;
        let tokens = tokens::TokenKeys::new(&settings.auth)?;
        let identity = identity::IdentityVerifier::new(settings.auth.identity_providers.clone())?;
        let live = crate::http::live_sessions::LiveSessions::new(
            settings.realtime.max_sockets_per_user,
            settings.realtime.max_sockets_per_address,
        );
        let rates = Arc::new(castyou_model::ExchangeRates::from_map(
            &settings.matching.base_currency,
            &settings.matching.rates,
        ));
        let proxies = Arc::new(crate::http::client_ip::TrustedProxies::new(
            &settings.application.trusted_proxies,
        ));
        let matching = settings.matching.clone();
        let ai = crate::adapters::ai::Ai::from_settings(&settings.ai)?;
        let media_store = Arc::new(crate::adapters::storage::MediaStore::from_settings(
            &settings,
        )?);
        Ok(AppState {
            ai,
            media_store,
            media_wake: Arc::default(),
            media_stats: Arc::default(),
            reset_lookups: Arc::new(tokio::sync::Semaphore::new(accounts::RESET_LOOKUPS)),
            own_writes: Arc::default(),
            semantic: Default::default(),
            embedding_stats: Default::default(),
            settings: Arc::new(settings),
            pool,
            redis,
            tokens: Arc::new(tokens),
            identity: Arc::new(identity),
            revocation: Arc::new(gate::RevocationCache::default()),
            local_limits: Arc::new(gate::LocalLimits::default()),
            proxies,
            live,
            matches: castyou_actors::MatchIndexHandle::new(
                Arc::clone(&rates),
                matching.ranking_cache_jobs,
            ),
            rates,
            explain: Arc::default(),
            docs,
        })
    }

    /// The same state with connections of its own (PostgreSQL pool, Redis connection) for one
    /// HTTP worker. A connection's I/O task runs on the runtime that opened it; with one pool
    /// per worker, queries never wait on another worker's thread to be driven.
    pub fn for_worker(&self) -> anyhow::Result<AppState> {
        Ok(AppState {
            pool: crate::db::build_pool(&self.settings.database)?,
            redis: RedisHandle::new(
                self.settings.redis.url.expose_secret(),
                self.settings.redis.key_prefix.clone(),
            )?,
            ..self.clone()
        })
    }

    pub async fn conn(&self) -> AppResult<PgConn> {
        Ok(self.pool.get().await?)
    }
}

/// A lazily connected, self-reconnecting Redis connection shared by all requests, behind a
/// circuit breaker: a command that fails to reach Redis (refused, dropped, or no answer within
/// `COMMAND_TIMEOUT`) opens it for `BREAKER_OPEN`, and meanwhile every caller is told at once
/// that Redis is unavailable and takes its fallback (rate limits counted in this instance,
/// sessions checked in PostgreSQL) instead of waiting on a dead or hung server at each request.
/// The first command after that time probes Redis again.
#[derive(Clone)]
pub struct RedisHandle {
    client: Arc<redis::Client>,
    manager: Arc<tokio::sync::OnceCell<redis::aio::ConnectionManager>>,
    prefix: Arc<str>,
    breaker: Arc<Breaker>,
}

/// How long one command (and connecting for it) may take before Redis counts as unavailable.
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);
/// How long Redis is left alone after it failed a command.
const BREAKER_OPEN: std::time::Duration = std::time::Duration::from_secs(3);

/// Until when Redis is left alone (milliseconds since `epoch`; 0: closed).
struct Breaker {
    epoch: std::time::Instant,
    open_until_ms: std::sync::atomic::AtomicU64,
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_open(&self) -> bool {
        self.now_ms()
            < self
                .open_until_ms
                .load(std::sync::atomic::Ordering::Acquire)
    }

    fn trip(&self) {
        let until = self
            .now_ms()
            .saturating_add(BREAKER_OPEN.as_millis() as u64);
        self.open_until_ms
            .store(until, std::sync::atomic::Ordering::Release);
    }

    fn close(&self) {
        self.open_until_ms
            .store(0, std::sync::atomic::Ordering::Release);
    }
}

fn unavailable(why: &'static str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::IoError,
        "redis is unavailable",
        why.to_string(),
    ))
}

/// Whether `e` says Redis could not be reached (as opposed to a command it refused).
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
}

impl RedisHandle {
    pub fn new(url: &str, prefix: String) -> anyhow::Result<RedisHandle> {
        Ok(RedisHandle {
            client: Arc::new(redis::Client::open(url)?),
            manager: Arc::new(tokio::sync::OnceCell::new()),
            prefix: prefix.into(),
            breaker: Arc::new(Breaker {
                epoch: std::time::Instant::now(),
                open_until_ms: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The shared connection; the first caller connects, later callers reuse it. Refused at
    /// once while the breaker is open.
    pub async fn connection(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        if self.breaker.is_open() {
            return Err(unavailable("it failed a command moments ago"));
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(std::time::Duration::from_secs(2))
            .set_response_timeout(std::time::Duration::from_secs(2))
            .set_number_of_retries(1);
        self.manager
            .get_or_try_init(|| {
                redis::aio::ConnectionManager::new_with_config((*self.client).clone(), config)
            })
            .await
            .cloned()
    }

    /// Runs `command` on the shared connection within `COMMAND_TIMEOUT`, through the breaker.
    pub async fn run<T, F, Fut>(&self, command: F) -> redis::RedisResult<T>
    where
        F: FnOnce(redis::aio::ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            command(conn).await
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, attempt).await {
            Ok(Ok(value)) => {
                self.breaker.close();
                Ok(value)
            }
            Ok(Err(e)) => {
                if unreachable(&e) && !self.breaker.is_open() {
                    self.breaker.trip();
                }
                Err(e)
            }
            Err(_) => {
                self.breaker.trip();
                Err(unavailable("it did not answer in time"))
            }
        }
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A key in this deployment's namespace.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 48);
        key.push_str(&self.prefix);
        key.push_str(&parts.join(":"));
        key
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        self.run(|mut conn| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            Ok(())
        })
        .await
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: UserId,
    pub role: Role,
    pub session_id: SessionId,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Passes when the caller has one of `roles` (admins always pass).
    pub fn require_role(&self, roles: &[Role], what: &str) -> AppResult<()> {
        if self.is_admin() || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "{what} is not available to a {}",
                self.role
            )))
        }
    }
}

/// Who is asking, and from where (for rate limits and, later, the audit trail).
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Requires a signed-in caller.
pub fn signed_in(viewer: Option<Viewer>) -> AppResult<Viewer> {
    viewer.ok_or(AppError::Unauthenticated)
}
