//! GraphQL over HTTP as the specification and Apollo Client expect it: content negotiation
//! (`application/graphql-response+json` with the specification's status codes, or
//! `application/json` with 200 for every well-formed request), request bodies (one operation
//! or a batch of them), GET for queries, and automatic persisted queries.

use crate::errors::AppError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use async_graphql::ErrorExtensions;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The media type a response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: 4xx for requests that never executed, 200 once
    /// execution happened.
    GraphqlResponse,
    /// `application/json`: 200 for every well-formed request, errors included (legacy clients).
    Json,
}

impl MediaType {
    pub fn content_type(self) -> &'static str {
        match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json",
        }
    }

    /// The status a response gets: what the specification gives it for
    /// `application/graphql-response+json`, 200 for `application/json` unless the request
    /// was not a GraphQL request at all.
    pub fn status(self, status: StatusCode, well_formed: bool) -> StatusCode {
        match self {
            MediaType::GraphqlResponse => status,
            MediaType::Json if well_formed => StatusCode::OK,
            MediaType::Json => status,
        }
    }
}

/// Picks the media type from `Accept` (RFC 9110 media ranges with q-values). No header, or
/// `*/*`, means `application/json`; `application/graphql-response+json` wins when it is
/// accepted at least as much as `application/json`. None when neither is acceptable.
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect();
    if accept.is_empty() {
        return Some(MediaType::Json);
    }
    let (mut graphql, mut json) = (None::<f32>, None::<f32>);
    for range in accept.iter().flat_map(|line| line.split(',')) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let better = |slot: &mut Option<f32>, q: f32| *slot = Some(slot.map_or(q, |s| s.max(q)));
        match media.as_str() {
            "application/graphql-response+json" => better(&mut graphql, q),
            "application/json" => better(&mut json, q),
            // A wildcard stands for what the server prefers for legacy clients.
            "*/*" | "application/*" if json.is_none() => better(&mut json, q * 0.999),
            _ => {}
        }
    }
    match (graphql.filter(|q| *q > 0.0), json.filter(|q| *q > 0.0)) {
        (Some(g), Some(j)) if g >= j => Some(MediaType::GraphqlResponse),
        (Some(_), None) => Some(MediaType::GraphqlResponse),
        (_, Some(_)) => Some(MediaType::Json),
        (None, None) => None,
    }
}

/// A response body with the status the specification gives it.
pub struct Answer {
    pub status: StatusCode,
    /// Whether the request was a well-formed GraphQL request (legacy clients get 200 then).
    pub well_formed: bool,
    pub body: Bytes,
    pub retry_after: Option<u64>,
    /// May shared caches keep it (GET queries answered for anonymous clients)?
    pub cache: Cache,
    /// A mutation sent over GET: the answer names POST as the method to use.
    pub allow_post: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    NoStore,
    /// `public, max-age=N`.
    Public(u64),
}

impl Answer {
    /// One error with its code, for a request that never executed.
    pub fn error(status: StatusCode, error: &AppError) -> Answer {
        let e = error.extend();
        let mut value = json!({ "message": e.message, "extensions": e.extensions });
        if value["extensions"].is_null() {
            value["extensions"] = json!({ "code": error.code() });
        }
        let retry_after = match error {
            AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        Answer {
            status,
            well_formed: true,
            body: Bytes::from(json!({ "errors": [value] }).to_string()),
            retry_after,
            cache: Cache::NoStore,
            allow_post: false,
        }
    }

    /// An executed (or validated) response.
    pub fn from_response(status: StatusCode, response: &async_graphql::Response) -> Answer {
        let body = serde_json::to_vec(response).unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not serialise a response");
            br#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
        });
        let retry_after = response.errors.iter().find_map(|e| {
            let extensions = e.extensions.as_ref()?;
            match extensions.get("retryAfterSeconds")? {
                async_graphql::Value::Number(n) => n.as_u64(),
                _ => None,
            }
        });
        Answer {
            status,
            well_formed: true,
            body: Bytes::from(body),
            retry_after,
            cache: Cache::NoStore,
            allow_post: false,
        }
    }

    /// A body that is not a GraphQL request at all.
    pub fn malformed(message: &str) -> Answer {
        Answer {
            status: StatusCode::BAD_REQUEST,
            well_formed: false,
            body: Bytes::from(
                json!({ "errors": [{ "message": message,
                    "extensions": { "code": "GRAPHQL_PARSE_FAILED" } }] })
                .to_string(),
            ),
            retry_after: None,
            cache: Cache::NoStore,
            allow_post: false,
        }
    }

    pub fn into_response(self, media: MediaType) -> HttpResponse {
        let mut response = HttpResponse::build(media.status(self.status, self.well_formed));
        response.insert_header((header::CONTENT_TYPE, media.content_type()));
        response.insert_header((header::VARY, "Accept, Authorization"));
        match self.cache {
            Cache::NoStore => response.insert_header((header::CACHE_CONTROL, "no-store")),
            Cache::Public(secs) => {
                response.insert_header((header::CACHE_CONTROL, format!("public, max-age={secs}")))
            }
        };
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.allow_post {
            response.insert_header((header::ALLOW, "POST"));
        }
        response.body(self.body)
    }
}

/// Answers of a batch, in order, as one JSON array. A batch executed (some of it at least), so
/// it is 200 in both media types; each answer carries its own errors.
pub fn batch(answers: Vec<Answer>) -> Answer {
    let mut body = Vec::with_capacity(answers.iter().map(|a| a.body.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&answer.body);
    }
    body.push(b']');
    Answer {
        status: StatusCode::OK,
        well_formed: true,
        body: Bytes::from(body),
        retry_after: answers.iter().filter_map(|a| a.retry_after).max(),
        cache: Cache::NoStore,
        allow_post: false,
    }
}

/// What a POST body holds.
pub enum Body {
    Single(Box<async_graphql::Request>),
    Batch(Vec<async_graphql::Request>),
}

/// Reads a POST body: one request object, or a non-empty array of request objects. Anything
/// else is refused with a message that says what is expected.
pub fn read_body(body: &[u8]) -> Result<Body, String> {
    const EXPECTED: &str =
        "expected a GraphQL request object ({\"query\": \"…\", \"variables\": {…}}) \
                            or a non-empty array of them (a batch)";
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') => serde_json::from_slice::<async_graphql::Request>(body)
            .map(|r| Body::Single(Box::new(r)))
            .map_err(|e| format!("the request body is not a GraphQL request: {e}")),
        Some(b'[') => {
            let items: Vec<serde_json::Value> = serde_json::from_slice(body)
                .map_err(|e| format!("the request body is not JSON: {e}"))?;
            if items.is_empty() {
                return Err(format!("an empty batch: {EXPECTED}"));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    if !item.is_object() {
                        return Err(format!("batch item {i} is not an object: {EXPECTED}"));
                    }
                    serde_json::from_value::<async_graphql::Request>(item)
                        .map_err(|e| format!("batch item {i} is not a GraphQL request: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Body::Batch)
        }
        _ => Err(EXPECTED.to_string()),
    }
}

/// Apollo's automatic persisted queries: `extensions.persistedQuery = { version: 1,
/// sha256Hash }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedQuery {
    /// Lower-case hex SHA-256 of the query text.
    pub hash: String,
}

/// The request's persisted-query extension, if any; an unusable one is the client's mistake.
pub fn persisted_query(
    request: &async_graphql::Request,
) -> Result<Option<PersistedQuery>, AppError> {
    let Some(value) = request.extensions.0.get("persistedQuery") else {
        return Ok(None);
    };
    let field = "extensions.persistedQuery";
    let async_graphql::Value::Object(fields) = value else {
        return Err(AppError::bad_input(field, "must be an object"));
    };
    match fields.get("version") {
        Some(async_graphql::Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => {
            return Err(AppError::bad_input(
                format!("{field}.version"),
                "only version 1 is supported",
            ))
        }
    }
    let hash = match fields.get("sha256Hash") {
        Some(async_graphql::Value::String(h))
            if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            h.to_ascii_lowercase()
        }
        _ => {
            return Err(AppError::bad_input(
                format!("{field}.sha256Hash"),
                "must be the 64 hex digits of the query's SHA-256",
            ))
        }
    };
    Ok(Some(PersistedQuery { hash }))
}

/// The lower-case hex SHA-256 of a query's text.
pub fn sha256_hex(query: &str) -> String {
    let digest = Sha256::digest(query.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(header::ACCEPT, v);
        }
        headers
    }

    #[test]
    fn media_types_are_negotiated_as_the_specification_says() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        let cases = [
            (
                "application/graphql-response+json, application/json",
                Some(MediaType::GraphqlResponse),
            ),
            (
                "application/graphql-response+json,application/json;q=0.9",
                Some(MediaType::GraphqlResponse),
            ),
            ("application/json", Some(MediaType::Json)),
            (
                "application/json, application/graphql-response+json;q=0.5",
                Some(MediaType::Json),
            ),
            ("*/*", Some(MediaType::Json)),
            (
                "application/graphql-response+json",
                Some(MediaType::GraphqlResponse),
            ),
            ("text/html", None),
            ("application/graphql-response+json;q=0", None),
        ];
        for (value, expected) in cases {
            assert_eq!(negotiate(&accept(value)), expected, "{value}");
        }
    }

    #[test]
    fn bodies_are_one_request_or_a_batch_and_nothing_else() {
        assert!(matches!(
            read_body(br#"{"query":"{ me { id } }"}"#),
            Ok(Body::Single(_))
        ));
        assert!(matches!(
            read_body(br#" [{"query":"{a}"},{"query":"{b}"}]"#),
            Ok(Body::Batch(b)) if b.len() == 2
        ));
        for bad in [
            &br#"["{ me { id } }"]"#[..],
            b"[]",
            b"\"{ me }\"",
            b"42",
            b"",
        ] {
            let message = read_body(bad).err().expect("refused");
            assert!(
                message.contains("expected a GraphQL request object"),
                "{message}"
            );
        }
    }

    #[test]
    fn persisted_query_hashes_are_read_strictly() {
        let hash = sha256_hex("{ me { id } }");
        let request: async_graphql::Request = serde_json::from_value(json!({
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } }
        }))
        .expect("a request");
        assert_eq!(
            persisted_query(&request).ok().flatten(),
            Some(PersistedQuery { hash })
        );
        let bad: async_graphql::Request = serde_json::from_value(json!({
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "xyz" } }
        }))
        .expect("a request");
        assert!(persisted_query(&bad).is_err());
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
