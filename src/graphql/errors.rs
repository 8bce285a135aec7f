//! Gives every error an `extensions.code`: parse failures, validation failures (including the
//! depth and complexity limits), malformed argument values, and anything that slipped through
//! without a code (reported as internal, with its message hidden).

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Value, Variables};
use std::sync::Arc;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

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

/// Codes whatever errors a response still carries without one.
pub fn ensure_codes(response: &mut Response) {
    for e in response.errors.iter_mut() {
        if has_code(e) {
            continue;
        }
        if looks_like_input_error(&e.message) {
            set_code(e, "BAD_USER_INPUT");
        } else if e.path.is_empty() {
            // Request-level problems: unknown operation name, several operations and no name.
            set_code(e, "GRAPHQL_VALIDATION_FAILED");
        } else {
            tracing::error!(message = %e.message, path = ?e.path, "error without a code");
            e.message = "internal server error".to_string();
            set_code(e, "INTERNAL_SERVER_ERROR");
        }
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        ensure_codes(&mut response);
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut e| {
            set_code(&mut e, "GRAPHQL_PARSE_FAILED");
            e
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for e in errors.iter_mut() {
                set_code(e, "GRAPHQL_VALIDATION_FAILED");
            }
            errors
        })
    }
}
