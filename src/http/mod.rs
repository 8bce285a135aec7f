//! HTTP: the GraphQL endpoint, GraphiQL, health and readiness, and the middleware around them.

pub mod audit;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod websocket;
