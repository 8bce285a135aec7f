//! HTTP: the GraphQL endpoint, GraphiQL, health and readiness, and the middleware around them.

pub mod audit;
pub mod client_ip;
pub mod graphql;
pub mod health;
pub mod indexes;
pub mod media;
pub mod metrics;
pub mod middleware;
pub mod over_http;
