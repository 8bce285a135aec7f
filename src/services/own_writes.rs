//! A user reads their own writes, whatever instance answers. The match index learns of a
//! change through the event bus, a few milliseconds after the change committed; a producer who
//! sets a job's weights and reloads the discover feed must not see the old scores meanwhile.
//!
//! A write the index will hold (a job changed, a profile saved) records the outbox position of
//! its event for its user (`note`): in this instance and, for the others, in Redis (kept
//! `REMEMBERED`). A read of that user that the index answers (`wait`) first waits, at most
//! `WAIT`, until this instance's index has applied that position. Without Redis, the instance
//! that took the write still waits for it.

use super::AppState;
use crate::domain::ids::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a write is waited for, at most (the bus normally takes milliseconds).
const WAIT: Duration = Duration::from_secs(2);
/// How long a user's last write is remembered: past it every index has long applied it.
const REMEMBERED: Duration = Duration::from_secs(60);
/// Users remembered in this instance, at most (the oldest are forgotten first).
const MAX_USERS: usize = 100_000;

/// Keeps the larger of the stored position and ARGV[1] for ARGV[2] seconds.
const NOTE_SCRIPT: &str = r"
local at = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > at then at = tonumber(ARGV[1]) end
redis.call('SET', KEYS[1], at, 'EX', ARGV[2])
return at
";

static NOTE: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(NOTE_SCRIPT));

/// This instance's memory of users' last writes.
#[derive(Default)]
pub struct OwnWrites {
    last: Mutex<HashMap<UserId, (i64, Instant)>>,
    /// The newest profile change this instance saw committed.
    newest_profile: std::sync::atomic::AtomicI64,
}

impl OwnWrites {
    fn last(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, (i64, Instant)>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, user: UserId, seq: i64) {
        let now = Instant::now();
        let mut last = self.last();
        if last.len() >= MAX_USERS && !last.contains_key(&user) {
            last.retain(|_, (_, at)| now.duration_since(*at) < REMEMBERED);
            if last.len() >= MAX_USERS {
                last.clear();
            }
        }
        let entry = last.entry(user).or_insert((seq, now));
        *entry = (entry.0.max(seq), now);
    }

    fn recalled(&self, user: UserId) -> Option<i64> {
        let last = self.last();
        let (seq, at) = last.get(&user)?;
        (at.elapsed() < REMEMBERED).then_some(*seq)
    }
}

fn key(state: &AppState, user: UserId) -> String {
    state.redis.key(&["own-writes", &user.to_string()])
}

/// Keeps the larger of `key`'s position and `seq` in Redis for `REMEMBERED`, for the other
/// instances.
async fn share(state: &AppState, key: String, seq: i64) -> redis::RedisResult<i64> {
    let ttl = REMEMBERED.as_secs();
    state
        .redis
        .run(|mut conn| async move {
            NOTE.key(&key)
                .arg(seq)
                .arg(ttl)
                .invoke_async(&mut conn)
                .await
        })
        .await
}

/// The position other instances shared under `key`, if any (and Redis answers).
async fn shared(state: &AppState, key: String) -> Option<i64> {
    state
        .redis
        .run(|mut conn| async move {
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<i64>>(&mut conn)
                .await
        })
        .await
        .ok()
        .flatten()
}

/// Records that `user` wrote the event at outbox position `seq` (after its commit).
pub async fn note(state: &AppState, user: UserId, seq: i64) {
    state.own_writes.remember(user, seq);
    if let Err(e) = share(state, key(state, user), seq).await {
        tracing::warn!(error = %e, "a user's last write was not shared: other instances may answer their next read without it");
    }
}

/// Waits (at most `WAIT`) until this instance's match index has applied `user`'s last write.
pub async fn wait(state: &AppState, user: UserId) {
    let shared = shared(state, key(state, user)).await;
    let Some(seq) = shared.max(state.own_writes.recalled(user)) else {
        return;
    };
    if !state.matches.applied_through(seq, WAIT).await {
        tracing::warn!(%user, seq, "the match index had not applied the user's last write in time; answering without waiting longer");
    }
}

fn profiles_key(state: &AppState) -> String {
    state.redis.key(&["own-writes", "profiles"])
}

/// Records that a talent profile changed at outbox position `seq` (after its commit): every
/// search, whoever makes it, first waits for the lexical index to apply it.
pub async fn note_profile(state: &AppState, seq: i64) {
    state
        .own_writes
        .newest_profile
        .fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
    if let Err(e) = share(state, profiles_key(state), seq).await {
        tracing::warn!(error = %e, "a profile change was not shared: other instances may search without it for a moment");
    }
}

/// The outbox position of the newest profile change committed (0: none remembered).
pub async fn newest_profile(state: &AppState) -> i64 {
    let shared = shared(state, profiles_key(state)).await;
    let local = state
        .own_writes
        .newest_profile
        .load(std::sync::atomic::Ordering::Relaxed);
    shared.unwrap_or(0).max(local)
}
