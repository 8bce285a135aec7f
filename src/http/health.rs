//! `/healthz` (the process is alive) and `/readyz` (its dependencies answer).

use crate::db;
use crate::services::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 when PostgreSQL and Redis answer within two seconds; otherwise 503 naming which did not.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let limit = Duration::from_secs(2);
    let (postgres, redis) = futures_util::join!(
        tokio::time::timeout(limit, db::ping(&state.pool)),
        tokio::time::timeout(limit, state.redis.ping()),
    );
    let postgres_ok = matches!(postgres, Ok(Ok(())));
    let redis_ok = matches!(redis, Ok(Ok(())));
    if !postgres_ok {
        tracing::warn!(error = ?postgres.map(|r| r.map_err(|e| e.to_string())), "readiness: postgres");
    }
    if !redis_ok {
        tracing::warn!(error = ?redis.map(|r| r.map_err(|e| e.to_string())), "readiness: redis");
    }
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = json!({
        "status": if postgres_ok && redis_ok { "ready" } else { "unavailable" },
        "checks": { "postgres": word(postgres_ok), "redis": word(redis_ok) },
    });
    if postgres_ok && redis_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
