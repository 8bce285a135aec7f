//! The per-request gate, shared across instances through Redis: fixed-window rate limits per
//! client, and the cache of revoked sessions that makes logout and token theft detection stop
//! access tokens at once. One Redis round trip per request.

use super::{AppState, Viewer};
use crate::db;
use crate::errors::{AppError, AppResult};
use uuid::Uuid;

/// INCR the client's window counter (starting its expiry on the first hit) and, when a session
/// is given, look up whether it was revoked.
const GATE_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
local revoked = 0
if KEYS[2] then revoked = redis.call('EXISTS', KEYS[2]) end
return {n, ttl, revoked}
";

/// A fixed-window counter only.
const COUNT_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
";

static GATE: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(GATE_SCRIPT));
static COUNT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(COUNT_SCRIPT));

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    General,
    Auth,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::General => "general",
            Limit::Auth => "auth",
        }
    }
}

fn client_key(client: Option<&str>) -> &str {
    client.unwrap_or("unknown")
}

/// Admits a request: counts it against the client's general limit and rejects a token whose
/// session was revoked. Without Redis the limit is not enforced (logged) and revocation falls
/// back to PostgreSQL, so an outage never lets a revoked token through.
pub async fn admit(
    state: &AppState,
    client: Option<&str>,
    viewer: Option<&Viewer>,
) -> AppResult<()> {
    let limits = &state.settings.rate_limit;
    let redis = &state.redis;
    let counter = redis.key(&["rl", Limit::General.name(), client_key(client)]);
    let revoked_key = viewer.map(|v| redis.key(&["revoked", &v.session_id.to_string()]));
    let outcome: redis::RedisResult<(u64, i64, u8)> = async {
        let mut conn = redis.connection().await?;
        let mut invocation = GATE.prepare_invoke();
        invocation.key(&counter);
        if let Some(k) = &revoked_key {
            invocation.key(k);
        }
        invocation.arg(limits.window_secs);
        invocation.invoke_async(&mut conn).await
    }
    .await;
    match outcome {
        Ok((count, ttl, revoked)) => {
            if revoked == 1 {
                return Err(AppError::Unauthenticated);
            }
            if limits.enabled && count > limits.general_max {
                return Err(AppError::RateLimited {
                    retry_after_secs: ttl.max(1) as u64,
                });
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable: rate limit skipped, revocation checked in PostgreSQL");
            if let Some(viewer) = viewer {
                let mut conn = state.conn().await?;
                if db::sessions::is_revoked(&mut conn, viewer.session_id).await? {
                    return Err(AppError::Unauthenticated);
                }
            }
            Ok(())
        }
    }
}

/// Counts an authentication attempt (register, login, refresh, provider login, 2FA codes).
pub async fn count_auth_attempt(state: &AppState, client: Option<&str>) -> AppResult<()> {
    let limits = &state.settings.rate_limit;
    if !limits.enabled {
        return Ok(());
    }
    let key = state
        .redis
        .key(&["rl", Limit::Auth.name(), client_key(client)]);
    let outcome: redis::RedisResult<(u64, i64)> = async {
        let mut conn = state.redis.connection().await?;
        COUNT
            .key(&key)
            .arg(limits.window_secs)
            .invoke_async(&mut conn)
            .await
    }
    .await;
    match outcome {
        Ok((count, ttl)) if count > limits.auth_max => Err(AppError::RateLimited {
            retry_after_secs: ttl.max(1) as u64,
        }),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable: auth rate limit skipped");
            Ok(())
        }
    }
}

/// Marks sessions revoked in the shared cache for as long as their access tokens can live.
pub async fn cache_revoked_sessions(state: &AppState, sessions: &[Uuid]) {
    if sessions.is_empty() {
        return;
    }
    let ttl = state.settings.auth.access_token_ttl_secs.max(1) as u64;
    let result: redis::RedisResult<()> = async {
        let mut conn = state.redis.connection().await?;
        let mut pipe = redis::pipe();
        for sid in sessions {
            pipe.set_ex(state.redis.key(&["revoked", &sid.to_string()]), 1u8, ttl)
                .ignore();
        }
        pipe.query_async(&mut conn).await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, count = sessions.len(), "could not cache revoked sessions; they are rebuilt from PostgreSQL at the next start");
    }
}

/// Rebuilds the revocation cache from PostgreSQL (Redis holds nothing that cannot be rebuilt).
pub async fn rebuild_revocation_cache(state: &AppState) -> anyhow::Result<usize> {
    let mut conn = state.pool.get().await?;
    let since =
        chrono::Utc::now() - chrono::Duration::seconds(state.settings.auth.access_token_ttl_secs);
    let sessions = db::sessions::revoked_since(&mut conn, since).await?;
    cache_revoked_sessions(state, &sessions).await;
    Ok(sessions.len())
}
