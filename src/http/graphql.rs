//! `/graphql` over HTTP: reads the body ourselves so even a malformed request gets a
//! GraphQL-shaped error with a code; authenticates the bearer token; checks the cost; passes
//! the request gate; executes. `over_http` negotiates the media type and status codes, reads
//! batches and persisted queries.

use crate::errors::AppError;
use crate::graphql::cost::Analysis;
use crate::graphql::errors;
use crate::graphql::loaders::LazyLoaders;
use crate::graphql::{CastYouSchema, QueryCost, RequestContext};
use crate::http::client_ip::TrustedProxies;
use crate::http::over_http::{self, Answer, Body, Cache};
use crate::services::{auth, gate, persisted_queries, AppState, RequestMeta};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use serde_json::json;
use std::sync::Arc;
use tracing_actix_web::RequestId;

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
pub fn request_meta(req: &HttpRequest, proxies: &TrustedProxies) -> RequestMeta {
    meta_of(
        proxies,
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        req.extensions().get::<RequestId>().map(|id| id.to_string()),
    )
}

/// What is known of a request's caller: the client address (through trusted proxies), the
/// user agent (at most 256 characters) and the request id.
pub fn meta_of(
    proxies: &TrustedProxies,
    peer: Option<std::net::IpAddr>,
    headers: &header::HeaderMap,
    request_id: Option<String>,
) -> RequestMeta {
    let client_ip = proxies.client(peer, headers).map(|ip| ip.to_string());
    RequestMeta {
        client_ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
        request_id,
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

/// Everything one operation runs with, shared by the operations of a batch.
struct Exec<'a> {
    schema: &'a CastYouSchema,
    state: &'a AppState,
    documents: &'a errors::DocumentCache,
    cost: &'a QueryCost,
    viewer: Option<crate::services::Viewer>,
    meta: &'a RequestMeta,
    /// Over GET only queries run, and anonymous successes may be cached.
    get: bool,
    /// Ranking fields the request's operations so far asked for (a batch shares one budget).
    ranking: std::cell::Cell<u64>,
}

/// The HTTP status of a request refused before it ran.
fn refusal_status(error: &AppError) -> StatusCode {
    match error {
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A persisted query's document: the registered one for a hash-only request, or the one sent
/// with its hash (checked), to register once it passes the cost check.
async fn resolve_persisted(
    exec: &Exec<'_>,
    request: &mut async_graphql::Request,
) -> Result<Option<String>, AppError> {
    let Some(persisted) = over_http::persisted_query(request)? else {
        return Ok(None);
    };
    if !exec.state.settings.persisted_queries.enabled {
        return Err(AppError::PersistedQueryNotSupported);
    }
    if request.query.is_empty() {
        request.query = persisted_queries::lookup(exec.state, &persisted.hash)
            .await
            .ok_or(AppError::PersistedQueryNotFound)?;
        return Ok(None);
    }
    if over_http::sha256_hex(&request.query) != persisted.hash {
        return Err(AppError::bad_input(
            "extensions.persistedQuery.sha256Hash",
            "provided sha does not match query",
        ));
    }
    Ok(Some(persisted.hash))
}

/// The type of the operation the request selects, once parsed.
fn operation_type(request: &mut async_graphql::Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match name.as_deref() {
            Some(name) => ops.get(name),
            None => ops.values().next(),
        },
    };
    operation.map(|op| op.node.ty)
}

/// Counts the operation's ranking fields against the request's budget (shared by a batch).
fn spend_ranking(
    exec: &Exec<'_>,
    analysis: Analysis,
) -> Result<Analysis, Box<async_graphql::ServerError>> {
    let max = exec.state.settings.query.max_ranking_fields.get();
    let total = exec.ranking.get().saturating_add(analysis.ranking_fields);
    if total > max {
        return Err(validation_failed(format!(
            "this request asks for {total} ranked lists (discoverFeed, jobFeed, searchTalents), \
             over the limit of {max} per request; ask for fewer or send them one by one"
        )));
    }
    exec.ranking.set(total);
    Ok(analysis)
}

/// Runs one operation: persisted query, cost check, rate limit (one unit per root mutation
/// field), audit, execution.
async fn execute(exec: &Exec<'_>, mut request: async_graphql::Request) -> Answer {
    let client = exec.meta.client_ip.as_deref();
    let register = match resolve_persisted(exec, &mut request).await {
        Ok(register) => register,
        Err(e) => {
            // A miss costs a unit like any request: hashes cannot be probed for free.
            if let Err(limited) = gate::admit(exec.state, client, exec.viewer.as_ref(), 1).await {
                return Answer::error(refusal_status(&limited), &limited);
            }
            return Answer::error(refusal_status(&e), &e);
        }
    };
    let checked = check(&mut request, exec.documents, exec.cost)
        .and_then(|analysis| spend_ranking(exec, analysis));
    // Each root mutation field spends a unit: one POST of many aliased logins is many requests.
    let units = checked
        .as_ref()
        .map_or(1, |a| a.root_mutation_fields as u64)
        .max(1);
    if let Err(e) = gate::admit(exec.state, client, exec.viewer.as_ref(), units).await {
        return Answer::error(refusal_status(&e), &e);
    }
    if let Err(error) = checked {
        return Answer::from_response(
            StatusCode::BAD_REQUEST,
            &async_graphql::Response::from_errors(vec![*error]),
        );
    }
    if exec.get && operation_type(&mut request) != Some(OperationType::Query) {
        let e = AppError::Validation(
            "only queries run over GET; send mutations and subscriptions otherwise".into(),
        );
        let mut answer = Answer::error(StatusCode::METHOD_NOT_ALLOWED, &e);
        answer.allow_post = true;
        return answer;
    }
    if let Some(hash) = register {
        let user = exec.viewer.map(|v| v.user_id);
        persisted_queries::register(exec.state, &hash, &request.query, client, user).await;
    }
    let audited = crate::http::audit::plan(&mut request);
    let request = request
        .data(exec.state.clone())
        .data(RequestContext {
            viewer: exec.viewer,
            meta: exec.meta.clone(),
        })
        .data(LazyLoaders::new(exec.state.pool.clone()));
    let mut response = exec.schema.execute(request).await;
    errors::ensure_codes(&mut response);
    let refused = errors::failed_validation(&response);
    if !audited.is_empty() && !refused {
        crate::http::audit::record(exec.state, exec.meta, exec.viewer, audited, &response).await;
    }
    let status = if refused {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut answer = Answer::from_response(status, &response);
    let max_age = exec.state.settings.persisted_queries.get_max_age_secs;
    if exec.get && exec.viewer.is_none() && response.errors.is_empty() && max_age > 0 {
        answer.cache = Cache::Public(max_age);
    }
    answer
}

/// The caller, from the bearer token; a bad one is refused before anything runs.
fn caller(req: &HttpRequest, state: &AppState) -> Result<Option<crate::services::Viewer>, Answer> {
    bearer(req.headers().get(header::AUTHORIZATION))
        .and_then(|token| auth::authenticate(state, token))
        .map_err(|e| Answer::error(StatusCode::UNAUTHORIZED, &e))
}

fn not_acceptable() -> HttpResponse {
    HttpResponse::NotAcceptable().json(json!({ "errors": [{
        "message": "accepts application/graphql-response+json or application/json",
        "extensions": { "code": "GRAPHQL_PARSE_FAILED" } }] }))
}

/// `POST /graphql`: one operation, or a batch (a JSON array) answered in order.
pub async fn graphql_post(
    req: HttpRequest,
    body: web::Bytes,
    schema: web::Data<CastYouSchema>,
    state: web::Data<AppState>,
    documents: web::Data<errors::DocumentCache>,
    cost: web::Data<Arc<QueryCost>>,
    proxies: web::Data<Arc<TrustedProxies>>,
) -> HttpResponse {
    let Some(media) = over_http::negotiate(req.headers()) else {
        return not_acceptable();
    };
    let viewer = match caller(&req, &state) {
        Ok(v) => v,
        Err(answer) => return answer.into_response(media),
    };
    let meta = request_meta(&req, &proxies);
    let exec = Exec {
        schema: &schema,
        state: &state,
        documents: &documents,
        cost: &cost,
        viewer,
        meta: &meta,
        get: false,
        ranking: Default::default(),
    };
    let answer = match over_http::read_body(&body) {
        Err(message) => Answer::malformed(&message),
        Ok(Body::Single(request)) => execute(&exec, *request).await,
        Ok(Body::Batch(requests)) => {
            let max = state.settings.query.max_batch_operations.get();
            if requests.len() > max {
                let e = AppError::Validation(format!(
                    "a batch holds at most {max} operations; this one has {}",
                    requests.len()
                ));
                Answer::error(StatusCode::BAD_REQUEST, &e)
            } else {
                let mut answers = Vec::with_capacity(requests.len());
                for request in requests {
                    answers.push(execute(&exec, request).await);
                }
                over_http::batch(answers)
            }
        }
    };
    answer.into_response(media)
}

/// The parameters of `GET /graphql?query=…&variables=…&operationName=…&extensions=…`.
#[derive(Debug, serde::Deserialize)]
pub struct GetParams {
    #[serde(default)]
    query: Option<String>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<String>,
    #[serde(default)]
    extensions: Option<String>,
}

impl GetParams {
    fn into_request(self) -> Result<async_graphql::Request, String> {
        let json = |name: &str, text: Option<String>| -> Result<serde_json::Value, String> {
            match text {
                None => Ok(serde_json::Value::Null),
                Some(t) => serde_json::from_str(&t).map_err(|e| format!("{name} is not JSON: {e}")),
            }
        };
        let mut body = serde_json::Map::new();
        body.insert("query".into(), self.query.unwrap_or_default().into());
        if let Some(name) = self.operation_name {
            body.insert("operationName".into(), name.into());
        }
        let variables = json("variables", self.variables)?;
        if !variables.is_null() {
            body.insert("variables".into(), variables);
        }
        let extensions = json("extensions", self.extensions)?;
        if !extensions.is_null() {
            body.insert("extensions".into(), extensions);
        }
        serde_json::from_value(serde_json::Value::Object(body))
            .map_err(|e| format!("not a GraphQL request: {e}"))
    }
}

/// `GET /graphql`: a query (often a persisted one, by hash, so a CDN can cache it), or
/// GraphiQL for a browser where it is enabled.
pub async fn graphql_get(
    req: HttpRequest,
    schema: web::Data<CastYouSchema>,
    state: web::Data<AppState>,
    documents: web::Data<errors::DocumentCache>,
    cost: web::Data<Arc<QueryCost>>,
    proxies: web::Data<Arc<TrustedProxies>>,
) -> HttpResponse {
    let params = web::Query::<GetParams>::from_query(req.query_string()).map(|q| q.into_inner());
    let asks_nothing = matches!(&params, Ok(p) if p.query.is_none() && p.extensions.is_none());
    if asks_nothing && state.settings.application.graphiql {
        return graphiql().await;
    }
    let Some(media) = over_http::negotiate(req.headers()) else {
        return not_acceptable();
    };
    let viewer = match caller(&req, &state) {
        Ok(v) => v,
        Err(answer) => return answer.into_response(media),
    };
    let request = match params
        .map_err(|e| e.to_string())
        .and_then(GetParams::into_request)
    {
        Ok(request) => request,
        Err(message) => return Answer::malformed(&message).into_response(media),
    };
    let meta = request_meta(&req, &proxies);
    let exec = Exec {
        schema: &schema,
        state: &state,
        documents: &documents,
        cost: &cost,
        viewer,
        meta: &meta,
        get: true,
        ranking: Default::default(),
    };
    execute(&exec, request).await.into_response(media)
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
