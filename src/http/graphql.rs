//! `POST /graphql`: reads the body ourselves so even a malformed request gets a GraphQL-shaped
//! error with a code; authenticates the bearer token; passes the request gate; executes.

use crate::errors::AppError;
use crate::graphql::cost::Analysis;
use crate::graphql::errors;
use crate::graphql::loaders::LazyLoaders;
use crate::graphql::{CastYouSchema, QueryCost, RequestContext};
use crate::http::websocket::{self, Connection, SessionBinding, WsLimits};
use crate::services::{auth, gate, AppState, RequestMeta};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use async_graphql::ErrorExtensions;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing_actix_web::RequestId;

/// A response carrying one error with its code.
fn error_response(status: StatusCode, error: &AppError) -> HttpResponse {
    let e = error.extend();
    let mut body = json!({ "errors": [{ "message": e.message, "extensions": e.extensions }] });
    if body["errors"][0]["extensions"].is_null() {
        body["errors"][0]["extensions"] = json!({ "code": error.code() });
    }
    let mut response = HttpResponse::build(status);
    if let AppError::RateLimited { retry_after_secs } = error {
        response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
    }
    response.json(body)
}

fn parse_failed(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "errors": [{ "message": message, "extensions": { "code": "GRAPHQL_PARSE_FAILED" } }]
    }))
}

/// The bearer token of `Authorization`, if any.
pub fn bearer(value: Option<&HeaderValue>) -> Result<Option<&str>, AppError> {
    let Some(value) = value else { return Ok(None) };
    let value = value.to_str().map_err(|_| AppError::Unauthenticated)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AppError::Unauthenticated)?
        .trim();
    Ok((!token.is_empty()).then_some(token))
}

/// Where the request came from: the TCP peer, or the address trusted proxies forwarded for.
pub fn request_meta(req: &HttpRequest, state: &AppState) -> RequestMeta {
    let client_ip = state
        .proxies
        .client(req.peer_addr().map(|a| a.ip()), req.headers())
        .map(|ip| ip.to_string());
    RequestMeta {
        client_ip,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
        request_id: req.extensions().get::<RequestId>().map(|id| id.to_string()),
    }
}

/// A request-level validation failure (a cost limit), as GraphQL reports it.
fn validation_failed(message: String) -> Box<async_graphql::ServerError> {
    let mut error = async_graphql::ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "GRAPHQL_VALIDATION_FAILED");
    Box::new(error)
}

/// The linear checks, before anything whose cost grows faster runs: size and tokens, the
/// parse, then counts and the expanded cost of the operation.
fn check(
    request: &mut async_graphql::Request,
    documents: &errors::DocumentCache,
    cost: &QueryCost,
) -> Result<Analysis, Box<async_graphql::ServerError>> {
    cost.check_text(&request.query)
        .map_err(|e| validation_failed(e.to_string()))?;
    errors::parse(request, documents)?;
    let variables = std::mem::take(&mut request.variables);
    let operation_name = request.operation_name.clone();
    let analysed = request
        .parsed_query()
        .map_err(Box::new)
        .and_then(|document| {
            cost.analyse(document, operation_name.as_deref(), &variables)
                .map_err(|e| validation_failed(e.to_string()))
        });
    request.variables = variables;
    analysed
}

pub async fn graphql_post(
    req: HttpRequest,
    body: web::Bytes,
    schema: web::Data<CastYouSchema>,
    state: web::Data<AppState>,
    documents: web::Data<errors::DocumentCache>,
    cost: web::Data<Arc<QueryCost>>,
) -> HttpResponse {
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return parse_failed(&format!("the request body is not a GraphQL request: {e}")),
    };
    let viewer = match bearer(req.headers().get(header::AUTHORIZATION))
        .and_then(|token| auth::authenticate(&state, token))
    {
        Ok(v) => v,
        Err(e) => return error_response(StatusCode::UNAUTHORIZED, &e),
    };
    let meta = request_meta(&req, &state);
    let checked = check(&mut request, &documents, &cost);
    // Each root mutation field spends a unit: one POST of many aliased logins is many requests.
    let units = checked
        .as_ref()
        .map_or(1, |a| a.root_mutation_fields as u64)
        .max(1);
    if let Err(e) = gate::admit(&state, meta.client_ip.as_deref(), viewer.as_ref(), units).await {
        let status = match e {
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        return error_response(status, &e);
    }
    if let Err(error) = checked {
        return HttpResponse::BadRequest().json(async_graphql::Response::from_errors(vec![*error]));
    }
    let audited = crate::http::audit::plan(&mut request);
    // Only a mutation needs the request's origin again afterwards, for its audit entries.
    let audit_meta = (!audited.is_empty()).then(|| meta.clone());
    let request = request
        .data(state.get_ref().clone())
        .data(RequestContext { viewer, meta })
        .data(LazyLoaders::new(state.pool.clone()));
    let mut response = schema.execute(request).await;
    errors::ensure_codes(&mut response);
    if let Some(meta) = audit_meta {
        if !errors::failed_validation(&response) {
            crate::http::audit::record(&state, &meta, viewer, audited, &response).await;
        }
    }
    let mut http = HttpResponse::Ok();
    if errors::failed_validation(&response) {
        http.status(StatusCode::BAD_REQUEST);
    }
    http.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response)
}

/// GraphiQL, where the settings enable it.
pub async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            async_graphql::http::GraphiQLSource::build()
                .endpoint("/graphql")
                .finish(),
        )
}

/// The bearer token of a websocket's `connection_init` payload:
/// `{"Authorization": "Bearer <token>"}` or `{"token": "<token>"}`.
fn init_token(payload: &serde_json::Value) -> Result<Option<String>, AppError> {
    let header = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str());
    if let Some(header) = header {
        let value = HeaderValue::from_str(header).map_err(|_| AppError::Unauthenticated)?;
        return Ok(bearer(Some(&value))?.map(str::to_string));
    }
    Ok(payload
        .get("token")
        .and_then(|v| v.as_str())
        .map(str::to_string))
}

/// When the access token of a websocket connection expires (in the connection's data).
#[derive(Debug, Clone, Copy)]
pub struct SocketSession {
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /graphql` with `Upgrade: websocket`: subscriptions over `graphql-transport-ws` or the
/// legacy `graphql-ws`. The access token comes in `connection_init`; a missing, bad, expired or
/// revoked one gets no acknowledgement. Sockets are capped per client address (at the upgrade)
/// and per user (at `connection_init`).
pub async fn graphql_ws(
    req: HttpRequest,
    payload: web::Payload,
    schema: web::Data<CastYouSchema>,
    state: web::Data<AppState>,
    metrics: web::Data<std::sync::Arc<crate::http::metrics::Metrics>>,
    cost: web::Data<Arc<QueryCost>>,
) -> actix_web::Result<HttpResponse> {
    let state = state.get_ref().clone();
    let meta = request_meta(&req, &state);
    let address_slot = match state.live.open(meta.client_ip.as_deref()) {
        Ok(slot) => slot,
        Err(e) => return Ok(error_response(StatusCode::TOO_MANY_REQUESTS, &e)),
    };
    let mut data = async_graphql::Data::default();
    // Lives as long as the connection's data: counts the socket while it is open.
    data.insert(metrics.websocket_opened());
    data.insert(crate::graphql::subscriptions::ConnectionSubscriptions::default());
    data.insert(state.clone());
    data.insert(LazyLoaders::new(state.pool.clone()));
    let realtime = &state.settings.realtime;
    let limits = WsLimits {
        init_timeout: Duration::from_secs(realtime.ws_init_timeout_secs),
        keepalive: Duration::from_secs(realtime.ws_keepalive_secs),
        max_message: state.settings.application.body_limit_bytes,
    };
    let (bind, binding) = oneshot::channel();
    let on_init = move |init: serde_json::Value| async move {
        // Every subscription needs a user: a connection without a token is refused.
        let token = init_token(&init)?.ok_or(AppError::Unauthenticated)?;
        let (viewer, expires_at) = state
            .tokens
            .verify_access_until(&token)
            .ok_or(AppError::Unauthenticated)?;
        gate::admit(&state, meta.client_ip.as_deref(), Some(&viewer), 1).await?;
        let (end, ended) = oneshot::channel();
        let slot = state.live.bind(&viewer, end)?;
        let left = (expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        // The connection task is gone only if the socket already closed.
        let _ = bind.send(SessionBinding {
            expires_at: tokio::time::Instant::now() + left,
            ended,
            hold: Box::new(slot),
        });
        let mut data = async_graphql::Data::default();
        data.insert(RequestContext {
            viewer: Some(viewer),
            meta,
        });
        data.insert(SocketSession { expires_at });
        Ok(data)
    };
    websocket::serve(
        &req,
        payload,
        CastYouSchema::clone(&schema),
        data,
        on_init,
        limits,
        Connection {
            cost: cost.get_ref().clone(),
            hold: Box::new(address_slot),
            binding,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let v = HeaderValue::from_static("Bearer abc.def");
        assert_eq!(bearer(Some(&v)).ok(), Some(Some("abc.def")));
        assert_eq!(bearer(None).ok(), Some(None));
        assert!(bearer(Some(&HeaderValue::from_static("Basic xyz"))).is_err());
    }
}
