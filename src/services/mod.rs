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
pub mod lexical;
pub mod matching;
pub mod media;
pub mod media_workers;
pub mod notifications;
pub mod own_writes;
pub mod passwords;
pub mod persisted_queries;
pub mod pipelines;
pub mod profiles;
pub mod search;
pub mod sessions;
pub mod snapshots;
pub mod tokens;
pub mod two_factor;
pub mod users;

pub use crate::clients::redis::RedisHandle;
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
    /// Exchange rates the matching model compares pay in.
    pub rates: Arc<castyou_model::ExchangeRates>,
    /// This instance's match index (filled and kept current by the `MatchIndex` actor).
    pub matches: castyou_actors::MatchIndexHandle<crate::db::models::Job>,
    /// Discover pages waiting to be written to the explain log.
    pub explain: Arc<matching::ExplainStage>,
    pub docs: crate::documents::Documents,
    /// The OpenAI-compatible endpoint, when one is configured.
    pub ai: Option<crate::clients::ai::Ai>,
    /// This instance's semantic index (built only with an endpoint).
    pub semantic: castyou_actors::SemanticHandle,
    /// This instance's lexical index of talents (talent search's lexical lists).
    pub lexical: lexical::LexicalHandle,
    /// The embedding queue's counters, and the embedding work's own.
    pub embedding_queue: Arc<castyou_actors::queue::QueueStats>,
    pub embedding_stats: Arc<embeddings::EmbeddingStats>,
    /// Where media objects live.
    pub media_store: Arc<crate::clients::storage::MediaStore>,
    /// Wakes this instance's media workers (an upload was completed here).
    pub media_wake: Arc<tokio::sync::Notify>,
    /// The media queue's counters.
    pub media_queue: Arc<castyou_actors::queue::QueueStats>,
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

        let rates = Arc::new(castyou_model::ExchangeRates::new(
            settings.matching.base_currency.as_str(),
            settings
                .matching
                .rates
                .iter()
                .map(|(code, rate)| (code.as_str(), *rate)),
        ));

        let matching = settings.matching.clone();
        let ai = crate::clients::ai::Ai::from_settings(&settings.ai)?;
        let media_store = Arc::new(crate::clients::storage::MediaStore::from_settings(
            &settings,
        )?);
        Ok(AppState {
            ai,
            media_store,
            media_wake: Arc::default(),
            media_queue: Arc::default(),
            reset_lookups: Arc::new(tokio::sync::Semaphore::new(accounts::RESET_LOOKUPS)),
            own_writes: Arc::default(),
            semantic: Default::default(),
            lexical: Default::default(),
            embedding_stats: Default::default(),
            embedding_queue: Default::default(),
            settings: Arc::new(settings),
            pool,
            redis,
            tokens: Arc::new(tokens),
            identity: Arc::new(identity),
            revocation: Arc::new(gate::RevocationCache::default()),
            local_limits: Arc::new(gate::LocalLimits::default()),
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
