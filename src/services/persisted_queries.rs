//! Apollo's automatic persisted queries: a document registered under its SHA-256 once is then
//! sent by hash only. The store is Redis, shared by every instance, bounded by a TTL and by how
//! many documents may be registered per TTL window: in all (`max_entries`), and by one client
//! address or one user (`max_entries_per_client`), so one client filling its share does not
//! stop registration for everyone. A document already stored costs nothing to send again.
//! Redis holds nothing that cannot be rebuilt: when it is away or has forgotten a hash, clients
//! send the full query again.

use super::AppState;
use crate::domain::ids::UserId;

/// The registered document of `hash`, if this deployment knows it.
pub async fn lookup(state: &AppState, hash: &str) -> Option<String> {
    let key = state.redis.key(&["apq", hash]);
    let found: redis::RedisResult<Option<String>> = state
        .redis
        .run(|mut conn| async move { redis::cmd("GET").arg(&key).query_async(&mut conn).await })
        .await;
    match found {
        Ok(query) => query,
        Err(e) => {
            tracing::warn!(error = %e, "persisted query lookup failed; the client will send the query");
            None
        }
    }
}

/// Stores the document (KEYS[1]) unless a window is full: the deployment's (KEYS[2], ARGV[3]
/// at most) or the client's and user's (KEYS[3..], ARGV[4] at most each); a new registration
/// counts in every window. A document already stored only has its TTL renewed.
const REGISTER_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[3]) then return 0 end
for i = 3, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[4]) then return 0 end
end
for i = 2, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
";

static REGISTER: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(REGISTER_SCRIPT));

/// Registers `query` under `hash` (already checked to be its SHA-256, and under the cost
/// limits) for the client at `client` (its address) and `user` (when signed in). Failing to
/// store only means the next hash-only request misses.
pub async fn register(
    state: &AppState,
    hash: &str,
    query: &str,
    client: Option<&str>,
    user: Option<UserId>,
) {
    let settings = &state.settings.persisted_queries;
    let key = state.redis.key(&["apq", hash]);
    let window = state.redis.key(&["apq", "registered"]);
    let by_client = state
        .redis
        .key(&["apq", "registered", "client", client.unwrap_or("unknown")]);
    let by_user = user.map(|u| {
        state
            .redis
            .key(&["apq", "registered", "user", &u.to_string()])
    });
    let stored: redis::RedisResult<u8> = state
        .redis
        .run(|mut conn| async move {
            let mut invocation = REGISTER.prepare_invoke();
            invocation.key(&key).key(&window).key(&by_client);
            if let Some(by_user) = &by_user {
                invocation.key(by_user);
            }
            invocation
                .arg(query)
                .arg(settings.ttl_secs)
                .arg(settings.max_entries)
                .arg(settings.max_entries_per_client)
                .invoke_async(&mut conn)
                .await
        })
        .await;
    match stored {
        Ok(1) => {}
        Ok(_) => tracing::info!(
            client,
            "persisted query not stored: a registration window (the deployment's, the client's \
             or the user's) is full"
        ),
        Err(e) => tracing::warn!(error = %e, "persisted query not stored"),
    }
}
