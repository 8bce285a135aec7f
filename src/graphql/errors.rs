//! Gives every error an `extensions.code`. Documents are parsed before execution, so a parse
//! failure is known for what it is (`GRAPHQL_PARSE_FAILED`); what execution returns without a
//! code is then a request-level validation failure (including the depth and complexity
//! limits), a malformed argument value (`BAD_USER_INPUT`), or something unexpected (reported as
//! internal, with its message hidden).
//!
//! This runs once per response rather than as a schema extension: an extension would sit in
//! the path of every field's resolution.

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, Value};

fn has_code(e: &ServerError) -> bool {
    e.extensions
        .as_ref()
        .is_some_and(|x| x.get("code").is_some())
}

fn set_code(e: &mut ServerError, code: &str) {
    if !has_code(e) {
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", Value::from(code));
    }
}

/// Errors async-graphql raises while coercing input values are the client's mistake.
fn looks_like_input_error(message: &str) -> bool {
    message.starts_with("Failed to parse")
        || message.starts_with("Invalid value for argument")
        || message.contains("Expected input type")
        || message.starts_with("Variable")
}

/// Parses the request's document, or returns the coded error for a syntax error.
/// Documents that parsed before come from `cache`: apps send the same few documents over and
/// over, and a copy is cheaper than a parse.
pub fn parse(request: &mut Request, cache: &DocumentCache) -> Result<(), Box<ServerError>> {
    if let Some(doc) = cache.get(&request.query) {
        request.set_parsed_query(doc);
        return Ok(());
    }
    match async_graphql::parser::parse_query(&request.query) {
        Ok(doc) => {
            cache.put(&request.query, &doc);
            request.set_parsed_query(doc);
            Ok(())
        }
        Err(e) => {
            let mut e = ServerError::from(e);
            set_code(&mut e, "GRAPHQL_PARSE_FAILED");
            Err(Box::new(e))
        }
    }
}

/// Parsed documents by their text; bounded, and emptied when full (a client cannot grow it).
#[derive(Default)]
pub struct DocumentCache {
    docs: std::sync::Mutex<std::collections::HashMap<String, ExecutableDocument>>,
}

impl DocumentCache {
    const MAX_ENTRIES: usize = 256;
    const MAX_QUERY_BYTES: usize = 16 * 1024;

    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.docs.lock().ok()?.get(query).cloned()
    }

    fn put(&self, query: &str, doc: &ExecutableDocument) {
        if query.len() > Self::MAX_QUERY_BYTES {
            return;
        }
        if let Ok(mut docs) = self.docs.lock() {
            if docs.len() >= Self::MAX_ENTRIES {
                docs.clear();
            }
            docs.insert(query.to_string(), doc.clone());
        }
    }
}

/// Codes whatever errors a response carries without one.
pub fn ensure_codes(response: &mut Response) {
    let executed = response.data != Value::Null;
    for e in response.errors.iter_mut() {
        if has_code(e) {
            continue;
        }
        if looks_like_input_error(&e.message) {
            set_code(e, "BAD_USER_INPUT");
        } else if e.path.is_empty() && !executed {
            set_code(e, "GRAPHQL_VALIDATION_FAILED");
        } else {
            tracing::error!(message = %e.message, path = ?e.path, "error without a code");
            e.message = "internal server error".to_string();
            set_code(e, "INTERNAL_SERVER_ERROR");
        }
    }
}

/// Whether nothing ran because the document did not validate.
pub fn failed_validation(response: &Response) -> bool {
    response.data == Value::Null
        && response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|c| *c == Value::from("GRAPHQL_VALIDATION_FAILED"))
        })
}
