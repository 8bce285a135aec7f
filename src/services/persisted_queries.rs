//! Apollo's automatic persisted queries: a document registered under its SHA-256 once is then
//! sent by hash only. The store is Redis, shared by every instance, bounded by a TTL and by how
//! many documents may be registered per TTL window. Redis holds nothing that cannot be
//! rebuilt: when it is away or has forgotten a hash, clients send the full query again.

use super::AppState;

/// The registered document of `hash`, if this deployment knows it.
pub async fn lookup(state: &AppState, hash: &str) -> Option<String> {
    let key = state.redis.key(&["apq", hash]);
    let found: redis::RedisResult<Option<String>> = async {
        let mut conn = state.redis.connection().await?;
        redis::cmd("GET").arg(&key).query_async(&mut conn).await
    }
    .await;
    match found {
        Ok(query) => query,
        Err(e) => {
            tracing::warn!(error = %e, "persisted query lookup failed; the client will send the query");
            None
        }
    }
}

/// Counts a registration in the window; stores the document unless the window is full.
const REGISTER_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
if n > tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
";

static REGISTER: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(REGISTER_SCRIPT));

/// Registers `query` under `hash` (already checked to be its SHA-256, and under the cost
/// limits). Failing to store only means the next hash-only request misses.
pub async fn register(state: &AppState, hash: &str, query: &str) {
    let settings = &state.settings.persisted_queries;
    let key = state.redis.key(&["apq", hash]);
    let window = state.redis.key(&["apq", "registered"]);
    let stored: redis::RedisResult<u8> = async {
        let mut conn = state.redis.connection().await?;
        REGISTER
            .key(&key)
            .key(&window)
            .arg(query)
            .arg(settings.ttl_secs)
            .arg(settings.max_entries)
            .invoke_async(&mut conn)
            .await
    }
    .await;
    match stored {
        Ok(1) => {}
        Ok(_) => tracing::warn!("persisted query store is full for this window; not stored"),
        Err(e) => tracing::warn!(error = %e, "persisted query not stored"),
    }
}
