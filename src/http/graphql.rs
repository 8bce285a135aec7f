//! `POST /graphql`: reads the body ourselves so even a malformed request gets a GraphQL-shaped
//! error with a code; authenticates the bearer token; passes the request gate; executes.

use crate::errors::AppError;
use crate::graphql::errors;
use crate::graphql::loaders::LazyLoaders;
use crate::graphql::{CastYouSchema, RequestContext};
use crate::http::websocket::{self, WsLimits};
use crate::services::{auth, gate, AppState, RequestMeta};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use async_graphql::ErrorExtensions;
use serde_json::json;
use std::time::Duration;
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

/// Where the request came from, as the settings say to trust it.
pub fn request_meta(req: &HttpRequest, state: &AppState) -> RequestMeta {
    let client_ip = if state.settings.application.trust_forwarded_for {
        req.connection_info()
            .realip_remote_addr()
            .map(|a| strip_port(a).to_string())
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    };
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

fn strip_port(addr: &str) -> &str {
    if addr.starts_with('[') {
        addr.split(']')
            .next()
            .map(|s| s.trim_start_matches('['))
            .unwrap_or(addr)
    } else if addr.matches(':').count() == 1 {
        addr.split(':').next().unwrap_or(addr)
    } else {
        addr
    }
}

pub async fn graphql_post(
    req: HttpRequest,
    body: web::Bytes,
    schema: web::Data<CastYouSchema>,
    state: web::Data<AppState>,
    documents: web::Data<errors::DocumentCache>,
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
    if let Err(e) = gate::admit(&state, meta.client_ip.as_deref(), viewer.as_ref()).await {
        let status = match e {
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        return error_response(status, &e);
    }
    if let Err(error) = errors::parse(&mut request, &documents) {
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

/// `GET /graphql` with `Upgrade: websocket`: subscriptions over `graphql-transport-ws` or the
/// legacy `graphql-ws`. The access token comes in `connection_init`; a bad, expired or revoked
/// one gets no acknowledgement.
pub async fn graphql_ws(
    req: HttpRequest,
    payload: web::Payload,
    schema: web::Data<CastYouSchema>,
    state: web::Data<AppState>,
    metrics: web::Data<std::sync::Arc<crate::http::metrics::Metrics>>,
) -> actix_web::Result<HttpResponse> {
    let state = state.get_ref().clone();
    let meta = request_meta(&req, &state);
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
    let on_init = move |init: serde_json::Value| async move {
        let token = init_token(&init)?;
        let viewer = auth::authenticate(&state, token.as_deref())?;
        gate::admit(&state, meta.client_ip.as_deref(), viewer.as_ref()).await?;
        let mut data = async_graphql::Data::default();
        data.insert(RequestContext { viewer, meta });
        Ok(data)
    };
    websocket::serve(
        &req,
        payload,
        CastYouSchema::clone(&schema),
        data,
        on_init,
        limits,
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

    #[test]
    fn ports_are_stripped_from_forwarded_addresses() {
        assert_eq!(strip_port("10.0.0.1:443"), "10.0.0.1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
    }
}
