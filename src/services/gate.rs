//! The per-request gate, shared across instances through Redis: fixed-window rate limits per
//! client, and the cache of revoked sessions that makes logout and token-theft detection stop
//! access tokens at once. One Redis round trip per request. While Redis is unreachable the
//! limits are kept by in-process counters instead (per instance), never switched off.
//!
//! PostgreSQL is the truth about revocations; Redis only caches it. The cache is trusted only
//! while its `ready` marker exists (written after a full rebuild) and while this instance has
//! no revocation it failed to write: otherwise sessions are checked in PostgreSQL and the
//! cache is rebuilt in the background, so a Redis outage or an emptied Redis never lets a
//! revoked token back in.

use super::{AppState, Viewer};
use crate::db;
use crate::domain::ids::*;
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts ARGV[3] units in the client's window when ARGV[2] is 1 (starting the window's expiry
/// on its first hit), reports whether the revocation cache is ready (KEYS[2]) and whether the
/// caller's session is revoked (KEYS[3], when given).
const GATE_SCRIPT: &str = r"
local n, ttl = 0, 0
if ARGV[2] == '1' then
  n = redis.call('INCRBY', KEYS[1], ARGV[3])
  if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
  ttl = redis.call('TTL', KEYS[1])
end
local ready = redis.call('EXISTS', KEYS[2])
local revoked = 0
if KEYS[3] then revoked = redis.call('EXISTS', KEYS[3]) end
return {n, ttl, ready, revoked}
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

/// Fixed-window counters of this instance, used while Redis is unreachable. Bounded: expired
/// windows are dropped when it grows, and it is emptied rather than grow past its cap.
#[derive(Debug, Default)]
pub struct LocalLimits {
    windows: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u64)>>,
}

impl LocalLimits {
    const MAX_CLIENTS: usize = 100_000;

    /// Adds `units` to `key`'s window; returns the window's count and the seconds it has left.
    fn count(&self, key: &str, units: u64, window: Duration) -> (u64, u64) {
        let now = std::time::Instant::now();
        let Ok(mut windows) = self.windows.lock() else {
            return (0, 1);
        };
        if windows.len() >= Self::MAX_CLIENTS && !windows.contains_key(key) {
            windows.retain(|_, (ends, _)| *ends > now);
            if windows.len() >= Self::MAX_CLIENTS {
                windows.clear();
            }
        }
        let entry = windows.entry(key.to_string()).or_insert((now + window, 0));
        if entry.0 <= now {
            *entry = (now + window, 0);
        }
        entry.1 = entry.1.saturating_add(units);
        (
            entry.1,
            entry.0.saturating_duration_since(now).as_secs().max(1),
        )
    }
}

/// This instance's view of the revocation cache.
#[derive(Debug, Default)]
pub struct RevocationCache {
    /// A revocation could not be written to Redis: the cache lacks it until repaired.
    stale: AtomicBool,
    /// A repair loop is running.
    repairing: AtomicBool,
}

fn client_key(client: Option<&str>) -> &str {
    client.unwrap_or("unknown")
}

fn ready_key(state: &AppState) -> String {
    state.redis.key(&["revoked", "ready"])
}

/// Admits a request: counts `units` (one per operation, or one per root mutation field)
/// against the client's general limit and rejects a token whose session was revoked. Without
/// Redis the limit is counted in this instance and revocation is checked in PostgreSQL.
pub async fn admit(
    state: &AppState,
    client: Option<&str>,
    viewer: Option<&Viewer>,
    units: u64,
) -> AppResult<()> {
    let limits = &state.settings.rate_limit;
    if !limits.enabled && viewer.is_none() {
        return Ok(());
    }
    let redis = &state.redis;
    let counter = redis.key(&["rl", "general", client_key(client)]);
    let ready = ready_key(state);
    let revoked_key = viewer.map(|v| redis.key(&["revoked", &v.session_id.to_string()]));
    let (counter_key, ready_key, revoked) = (&counter, &ready, &revoked_key);
    let outcome: redis::RedisResult<(u64, i64, u8, u8)> = redis
        .run(|mut conn| async move {
            let mut invocation = GATE.prepare_invoke();
            invocation.key(counter_key).key(ready_key);
            if let Some(k) = revoked {
                invocation.key(k);
            }
            invocation
                .arg(limits.window_secs)
                .arg(u8::from(limits.enabled))
                .arg(units.max(1));
            invocation.invoke_async(&mut conn).await
        })
        .await;
    let cache_trusted = match outcome {
        Ok((count, ttl, ready, revoked)) => {
            if revoked == 1 {
                return Err(AppError::Unauthenticated);
            }
            if limits.enabled && count > limits.general_max {
                return Err(AppError::RateLimited {
                    retry_after_secs: ttl.max(1) as u64,
                });
            }
            if ready == 0 {
                tracing::warn!("revocation cache is not ready; rebuilding it");
                start_repair(state);
            }
            ready == 1 && !state.revocation.stale.load(Ordering::Acquire)
        }
        Err(e) => {
            tracing::warn!(error = %e, "redis unavailable: rate limit counted in this instance, revocation checked in PostgreSQL");
            if limits.enabled {
                let (count, left) = state.local_limits.count(
                    &counter,
                    units.max(1),
                    Duration::from_secs(limits.window_secs),
                );
                if count > limits.general_max {
                    return Err(AppError::RateLimited {
                        retry_after_secs: left,
                    });
                }
            }
            false
        }
    };
    if let (false, Some(viewer)) = (cache_trusted, viewer) {
        let mut conn = state.conn().await?;
        if db::sessions::is_revoked(&mut conn, viewer.session_id)
            .await
            .context("sessions::is_revoked")?
        {
            return Err(AppError::Unauthenticated);
        }
    }
    Ok(())
}

/// Counts an authentication attempt (register, login, refresh, provider login, 2FA codes).
pub async fn count_auth_attempt(state: &AppState, client: Option<&str>) -> AppResult<()> {
    let key = state.redis.key(&["rl", "auth", client_key(client)]);
    count_strictly(state, key, "auth attempts").await
}

/// Counts one costly operation (`what`, e.g. a model call) of `who` against the strict limit
/// (`rate_limit.auth_max` per window), in a bucket of its own.
pub async fn count_strict(state: &AppState, what: &str, who: &str) -> AppResult<()> {
    let key = state.redis.key(&["rl", "strict", what, who]);
    count_strictly(state, key, what).await
}

/// Spends one unit of `who`'s budget for `what` (`max` per `window_secs`, shared by every
/// instance through Redis, counted in this instance while Redis is away): false once it is
/// spent. For costs a client's requests cause beyond their own, such as paid model calls.
pub async fn spend_budget(
    state: &AppState,
    what: &str,
    who: &str,
    max: u64,
    window_secs: u64,
) -> bool {
    let key = state.redis.key(&["budget", what, who]);
    let window = window_secs.max(1);
    let outcome: redis::RedisResult<(u64, i64)> = state
        .redis
        .run(|mut conn| {
            let key = &key;
            async move { COUNT.key(key).arg(window).invoke_async(&mut conn).await }
        })
        .await;
    let count = match outcome {
        Ok((count, _)) => count,
        Err(e) => {
            tracing::warn!(error = %e, what, "redis unavailable: budget counted in this instance");
            state
                .local_limits
                .count(&key, 1, Duration::from_secs(window))
                .0
        }
    };
    count <= max
}

async fn count_strictly(state: &AppState, key: String, what: &str) -> AppResult<()> {
    let limits = &state.settings.rate_limit;
    if !limits.enabled {
        return Ok(());
    }
    let outcome: redis::RedisResult<(u64, i64)> = state
        .redis
        .run(|mut conn| {
            let key = &key;
            async move {
                COUNT
                    .key(key)
                    .arg(limits.window_secs)
                    .invoke_async(&mut conn)
                    .await
            }
        })
        .await;
    match outcome {
        Ok((count, ttl)) if count > limits.auth_max => Err(AppError::RateLimited {
            retry_after_secs: ttl.max(1) as u64,
        }),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, what, "redis unavailable: counted in this instance");
            let (count, left) =
                state
                    .local_limits
                    .count(&key, 1, Duration::from_secs(limits.window_secs));
            if count > limits.auth_max {
                return Err(AppError::RateLimited {
                    retry_after_secs: left,
                });
            }
            Ok(())
        }
    }
}

async fn write_revoked(
    state: &AppState,
    sessions: &[SessionId],
    mark_ready: bool,
) -> redis::RedisResult<()> {
    let ttl = state.settings.auth.access_token_ttl_secs.max(1) as u64;
    let mut conn = state.redis.connection().await?;
    let mut pipe = redis::pipe();
    for sid in sessions {
        pipe.set_ex(state.redis.key(&["revoked", &sid.to_string()]), 1u8, ttl)
            .ignore();
    }
    if mark_ready {
        pipe.set(ready_key(state), 1u8).ignore();
    }
    pipe.query_async(&mut conn).await
}

/// Marks sessions revoked in the shared cache for as long as their access tokens can live.
/// PostgreSQL already holds the revocation; if Redis cannot take it, this instance stops
/// trusting the cache and repairs it.
pub async fn cache_revoked_sessions(state: &AppState, sessions: &[SessionId]) {
    if sessions.is_empty() {
        return;
    }
    if let Err(e) = write_revoked(state, sessions, false).await {
        tracing::error!(error = %e, count = sessions.len(), "could not cache revoked sessions; checking PostgreSQL until the cache is repaired");
        state.revocation.stale.store(true, Ordering::Release);
        start_repair(state);
    }
}

/// Writes revoked sessions to the shared cache once, without repairing anything on failure:
/// for short-lived processes (the admin command), whose revocations the servers also apply from
/// the outbox.
pub async fn write_revoked_now(state: &AppState, sessions: &[SessionId]) -> redis::RedisResult<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    write_revoked(state, sessions, false).await
}

/// Rebuilds the revocation cache from PostgreSQL and marks it ready.
pub async fn rebuild_revocation_cache(state: &AppState) -> anyhow::Result<usize> {
    // Cleared first: a revocation that fails to write during the rebuild sets it again.
    state.revocation.stale.store(false, Ordering::Release);
    let mut conn = state.pool.get().await?;
    let since =
        chrono::Utc::now() - chrono::Duration::seconds(state.settings.auth.access_token_ttl_secs);
    let sessions = db::sessions::revoked_since(&mut conn, since)
        .await
        .context("sessions::revoked_since")?;
    drop(conn);
    if let Err(e) = write_revoked(state, &sessions, true).await {
        state.revocation.stale.store(true, Ordering::Release);
        return Err(e.into());
    }
    Ok(sessions.len())
}

/// Starts one background loop (per instance) that rebuilds the cache until it succeeds.
pub fn start_repair(state: &AppState) {
    if state.revocation.repairing.swap(true, Ordering::AcqRel) {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let revocation: Arc<RevocationCache> = state.revocation.clone();
        loop {
            match rebuild_revocation_cache(&state).await {
                Ok(n) => {
                    tracing::info!(sessions = n, "revocation cache rebuilt");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "revocation cache rebuild failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        revocation.repairing.store(false, Ordering::Release);
    });
}
