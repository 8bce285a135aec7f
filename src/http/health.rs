//! `/healthz` (the process is alive) and `/readyz` (its dependencies answer). The public
//! listener's `/readyz` says only ready or not, for load balancers; the operators' listener
//! names each dependency.

use crate::clients::storage::Store;
use crate::db;
use crate::services::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 when PostgreSQL, Redis and MongoDB answer within two seconds, otherwise 503; no details
/// (the public listener).
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
fn ai_section(state: &AppState) -> serde_json::Value {
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
            "semanticIndex": {
                "status": if semantic.kept.built { "ready" } else { "warming_up" },
                "vectors": semantic.vectors,
                "tombstones": semantic.tombstones,
                "lastBuildMs": semantic.kept.last_build.map(|d| d.as_millis() as u64),
                "builds": semantic.kept.builds,
                "updates": semantic.kept.events_applied,
            },
        }),
    }
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
    let (postgres, redis, mongodb) = futures_util::join!(
        tokio::time::timeout(limit, db::ping(&state.pool)),
        tokio::time::timeout(limit, state.redis.ping()),
        tokio::time::timeout(limit, state.docs.ping()),
    );
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
    // The match index does not decide readiness: until it is built the feeds say WARMING_UP
    // and everything else works.
    let index = state.matches.stats();
    let lexical = state.lexical.stats();
    let ai = ai_section(state);
    let media = media_section(state);
    json!({
        "ai": ai,
        "media": media,
        "status": if postgres_ok && redis_ok && mongodb_ok { "ready" } else { "unavailable" },
        "checks": {
            "postgres": word(postgres_ok),
            "redis": word(redis_ok),
            "mongodb": word(mongodb_ok),
        },
        "lexicalIndex": {
            "status": if lexical.kept.built { "ready" } else { "warming_up" },
            "talents": lexical.talents,
            "bytes": lexical.bytes,
            "lastEventSeq": lexical.kept.last_event_seq,
            "eventsApplied": lexical.kept.events_applied,
            "lastBuildMs": lexical.kept.last_build.map(|d| d.as_millis() as u64),
            "builds": lexical.kept.builds,
        },
        "matchIndex": {
            "status": if index.kept.built { "ready" } else { "warming_up" },
            "talents": index.size.talents,
            "jobs": index.size.jobs,
            "talentBytes": index.size.talent_bytes,
            "cachedRankings": index.size.cached_rankings,
            "lastEventSeq": index.kept.last_event_seq,
            "lastEventAt": index.kept.last_event_at,
            "eventsApplied": index.kept.events_applied,
            "lastBuildMs": index.kept.last_build.map(|d| d.as_millis() as u64),
            "builtAt": index.kept.built_at,
            "builds": index.kept.builds,
        },
    })
}
