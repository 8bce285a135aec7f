//! The one place errors become what clients see: a GraphQL `extensions.code` (and `field` for
//! bad input), a plain message, and nothing internal. Unexpected causes are logged here, once.

use async_graphql::ErrorExtensions;

/// What can go wrong in a service call, as the caller should understand it.
///
/// Deliberately not `Display`: async-graphql converts any `Display` type into an error without
/// extensions, and every error here must reach clients through `extend` with its code.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated,
    InvalidCredentials(String),
    Forbidden(String),
    BadInput {
        field: String,
        message: String,
    },
    NotFound(&'static str),
    Conflict(String),
    TwoFactorRequired,
    RateLimited {
        retry_after_secs: u64,
    },
    /// The request as a whole is refused before it runs (over a limit, wrong HTTP method).
    Validation(String),
    /// A persisted query's hash is unknown: send the query with it (Apollo's APQ protocol).
    PersistedQueryNotFound,
    /// Persisted queries are switched off on this server.
    PersistedQueryNotSupported,
    /// A part of the server is still starting (the match index loading): retry shortly.
    WarmingUp(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict(message.into())
    }

    /// The message a client sees (never the internal cause).
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated => "authentication required".to_string(),
            AppError::InvalidCredentials(m) | AppError::Forbidden(m) | AppError::Conflict(m) => {
                m.clone()
            }
            AppError::BadInput { field, message } => format!("{field}: {message}"),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::TwoFactorRequired => "a two-factor code is required".to_string(),
            AppError::RateLimited { retry_after_secs } => {
                format!("too many requests; retry in {retry_after_secs} seconds")
            }
            AppError::Validation(m) | AppError::WarmingUp(m) => m.clone(),
            AppError::PersistedQueryNotFound => "PersistedQueryNotFound".to_string(),
            AppError::PersistedQueryNotSupported => "PersistedQueryNotSupported".to_string(),
            AppError::Internal(_) => "internal server error".to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated | AppError::InvalidCredentials(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Validation(_) => "GRAPHQL_VALIDATION_FAILED",
            AppError::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            AppError::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            AppError::WarmingUp(_) => "WARMING_UP",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// Prefixes the field path, so nested validators report `input.location.country`.
    pub fn within(self, prefix: &str) -> Self {
        match self {
            AppError::BadInput { field, message } => AppError::BadInput {
                field: if field.is_empty() {
                    prefix.to_string()
                } else if field.starts_with('[') {
                    format!("{prefix}{field}")
                } else {
                    format!("{prefix}.{field}")
                },
                message,
            },
            other => other,
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("database query"))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("database pool"))
    }
}

impl From<redis::RedisError> for AppError {
    fn from(e: redis::RedisError) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("redis"))
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// An `AppError` in code that reports rather than answers (workers, adapters, the actors'
/// ports): an internal error is its cause, with its whole chain of context; any other kind is
/// its code and message. Nothing is flattened to a bare code.
impl From<AppError> for anyhow::Error {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(cause) => cause,
            other => anyhow::anyhow!("{}: {}", other.code(), other.message()),
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if let AppError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        async_graphql::Error::new(self.message()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                AppError::BadInput { field, .. } => ext.set("field", field.as_str()),
                AppError::RateLimited { retry_after_secs } => {
                    ext.set("retryAfterSeconds", *retry_after_secs)
                }
                _ => {}
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        e.extend()
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::AppError;
    use anyhow::Context as _;

    #[test]
    fn an_internal_error_keeps_its_whole_cause_when_reported() {
        let failed: Result<(), anyhow::Error> = Err(anyhow::anyhow!("connection refused"));
        let internal = AppError::Internal(failed.context("media::claim").unwrap_err());
        let reported = format!("{:#}", anyhow::Error::from(internal));
        assert_eq!(reported, "media::claim: connection refused");
        let conflict = anyhow::Error::from(AppError::conflict("the job is not open"));
        assert_eq!(conflict.to_string(), "CONFLICT: the job is not open");
    }
}
