//! Realtime in one place: GraphQL subscriptions over websockets.
//!
//! - `upgrade`: a request asking to upgrade leaves actix-http's HTTP/1 dispatcher here; the
//!   handshake is checked and answered on the raw connection.
//! - `wire`: the bytes of one connection, written by two writers in order (the connection's
//!   task and the cohorts), bounded.
//! - `protocol`: `graphql-transport-ws` and the legacy `graphql-ws`: messages, frames and close
//!   codes.
//! - `init`: `connection_init`: the token, the session binding, the data subscriptions run with.
//! - `connection`: one connection as a state machine, its subscriptions and its limits.
//! - `cohorts`: identical subscriptions executed once per event, their frames written straight
//!   to each member's socket.
//! - `sessions`: the sockets open on this instance, by user and address; revoked sessions end
//!   theirs.
//!
//! The subscriptions themselves (what each one streams) are GraphQL resolvers
//! (`graphql::subscriptions`); the events they stream come from the actors' hub.

pub mod cohorts;
pub mod connection;
pub mod init;
pub mod protocol;
pub mod sessions;
pub mod upgrade;
pub mod wire;

use crate::graphql::{CastYouSchema, QueryCost};
use crate::http::client_ip::TrustedProxies;
use crate::services::AppState;
use std::sync::Arc;

/// What every connection of a worker runs on (one per worker, shared).
pub struct Worker {
    pub schema: CastYouSchema,
    pub state: AppState,
    pub cohorts: cohorts::Cohorts,
    pub cost: Arc<QueryCost>,
    /// This instance's open sockets (shared by the workers).
    pub sessions: Arc<sessions::LiveSessions>,
    /// Whose forwarding headers name the client.
    pub proxies: Arc<TrustedProxies>,
}
