//! `/healthz` (the process is alive) and `/readyz` (its dependencies answer). The public
//! listener's `/readyz` says only ready or not, for load balancers; the operators' listener
//! names each dependency.

use crate::clients::storage::Store;
use crate::db;
use crate::services::AppState;
use actix_web::{web, HttpResponse};
use castyou_actors::KeptStats;
use serde_json::json;
use std::time::Duration;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 when PostgreSQL, Redis and MongoDB answer within two seconds and this instance's indexes
/// (lexical, match, semantic with an endpoint) can answer, otherwise 503; no details (the public
/// listener).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let detailed = readiness(&state).await;
    let status = json!({ "status": detailed["status"] });
    if detailed["status"] == "ready" {
        HttpResponse::Ok().json(status)
    } else {
        HttpResponse::ServiceUnavailable().json(status)
    }
}

/// Like `readyz`, naming each dependency (the operators' listener).
pub async fn readyz_detailed(state: web::Data<AppState>) -> HttpResponse {
    let body = readiness(&state).await;
    if body["status"] == "ready" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The AI endpoint's part of readiness: its models, the embedding queue and the semantic
/// index.
fn ai_section(state: &AppState, newest: Option<i64>) -> serde_json::Value {
    let semantic = state.semantic.stats();
    let embeddings = &state.embedding_queue;
    match &state.ai {
        None => json!({
            "status": "off",
            "reason": "no endpoint configured (OPENAI_BASE_URL): semantic search, semantic \
                       matching and model-written fliers are off",
        }),
        Some(ai) => json!({
            "status": "configured",
            "embeddingModel": ai.embedding_model(),
            "dimensions": ai.dimensions(),
            "chatModel": ai.chat_model(),
            "embeddingBacklog": embeddings.waiting.load(std::sync::atomic::Ordering::Relaxed),
            "embeddingDeadLetters": embeddings.dead.load(std::sync::atomic::Ordering::Relaxed),
            "embeddingFailures": embeddings.failed_runs.load(std::sync::atomic::Ordering::Relaxed),
            "lastEmbeddingError": embeddings.last_error(),
            "semanticIndex": kept(&semantic.kept, newest, json!({
                "vectors": semantic.vectors,
                "tombstones": semantic.tombstones,
                "updates": semantic.kept.events_applied,
            })),
        }),
    }
}

/// What every kept index shows, with `own` (its sizes): whether it answers, the outbox position
/// it has applied and how far that is behind the newest event committed (an upper bound: events
/// the index does not follow count too), where its first load came from, its last copy.
fn kept(stats: &KeptStats, newest: Option<i64>, own: serde_json::Value) -> serde_json::Value {
    let mut body = json!({
        "status": if stats.built { "ready" } else { "warming_up" },
        "position": stats.position,
        "lag": newest.map(|n| (n - stats.position).max(0)),
        "lastEventSeq": stats.last_event_seq,
        "lastEventAt": stats.last_event_at,
        "eventsApplied": stats.events_applied,
        "lastBuildMs": stats.last_build.map(|d| d.as_millis() as u64),
        "builtAt": stats.built_at,
        "builds": stats.builds,
        "loadedFrom": stats.loaded_from,
        "caughtUp": stats.caught_up,
        "savedThrough": stats.saved_through,
        "savedAt": stats.saved_at,
        "saves": stats.saves,
    });
    if let (Some(body), serde_json::Value::Object(own)) = (body.as_object_mut(), own) {
        body.extend(own);
    }
    body
}

/// Whether every index of this instance can answer, waiting at most `within` for them (an
/// instance that just started opens or builds them in seconds).
async fn indexes_ready(state: &AppState, within: Duration) -> bool {
    let ready = || {
        state.lexical.is_built()
            && state.matches.is_built()
            && (state.ai.is_none() || state.semantic.is_built())
    };
    let deadline = tokio::time::Instant::now() + within;
    while !ready() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The media part of readiness: the store and the processing queue.
fn media_section(state: &AppState) -> serde_json::Value {
    let workers = &state.media_queue;
    let count = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    json!({
        "storage": state.media_store.name(),
        "processing": state.settings.media.process,
        "workers": if state.settings.media.process {
            crate::services::media_workers::concurrency(state)
        } else {
            0
        },
        "running": count(&workers.running),
        "ready": count(&workers.done),
        "failed": count(&workers.refused) + count(&workers.buried),
        "retried": count(&workers.retried),
        "waiting": workers.waiting.load(std::sync::atomic::Ordering::Relaxed),
        "deadLetters": workers.dead.load(std::sync::atomic::Ordering::Relaxed),
    })
}

async fn readiness(state: &AppState) -> serde_json::Value {
    let limit = Duration::from_secs(2);
    let newest = async {
        let mut conn = state.pool.get().await.ok()?;
        db::outbox::newest_seq(&mut conn).await.ok()
    };
    let (postgres, redis, mongodb, indexes, newest) = futures_util::join!(
        tokio::time::timeout(limit, db::ping(&state.pool)),
        tokio::time::timeout(limit, state.redis.ping()),
        tokio::time::timeout(limit, state.docs.ping()),
        indexes_ready(state, limit),
        tokio::time::timeout(limit, newest),
    );
    let newest = newest.ok().flatten();
    let mongodb_ok = matches!(mongodb, Ok(Ok(())));
    if !mongodb_ok {
        tracing::warn!(error = ?mongodb.map(|r| r.map_err(|e| e.to_string())), "readiness: mongodb");
    }
    let postgres_ok = matches!(postgres, Ok(Ok(())));
    let redis_ok = matches!(redis, Ok(Ok(())));
    if !postgres_ok {
        tracing::warn!(error = ?postgres.map(|r| r.map_err(|e| e.to_string())), "readiness: postgres");
    }
    if !redis_ok {
        tracing::warn!(error = ?redis.map(|r| r.map_err(|e| e.to_string())), "readiness: redis");
    }
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let ready = postgres_ok && redis_ok && mongodb_ok && indexes;
    let index = state.matches.stats();
    let lexical = state.lexical.stats();
    json!({
        "ai": ai_section(state, newest),
        "media": media_section(state),
        "status": if ready { "ready" } else { "unavailable" },
        "checks": {
            "postgres": word(postgres_ok),
            "redis": word(redis_ok),
            "mongodb": word(mongodb_ok),
            "indexes": if indexes { "ok" } else { "warming_up" },
        },
        "lexicalIndex": kept(&lexical.kept, newest, json!({
            "talents": lexical.talents,
            "bytes": lexical.bytes,
        })),
        "matchIndex": kept(&index.kept, newest, json!({
            "talents": index.size.talents,
            "jobs": index.size.jobs,
            "talentBytes": index.size.talent_bytes,
            "cachedRankings": index.size.cached_rankings,
        })),
    })
}
