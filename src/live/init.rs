//! `connection_init`: who the connection is (the access token of its payload), the session it
//! is bound to (ended when the session is revoked or the token expires), and the data every
//! subscription of the connection runs with.

use super::connection::{self, Init, Initialised, SessionBinding, Setup, SocketContext, WsLimits};
use super::protocol::Protocol;
use super::wire::Socket;
use super::Worker;
use crate::errors::AppError;
use crate::graphql::loaders::LazyLoaders;
use crate::graphql::RequestContext;
use crate::http::graphql::bearer;
use crate::services::{gate, RequestMeta};
use actix_web::http::header::HeaderValue;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

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

/// What serves one upgraded GraphQL websocket (from `upgrade`, which checked the handshake and
/// took `address_slot`) until it closes or `shutdown` resolves.
pub fn serve(
    socket: Socket,
    protocol: Protocol,
    worker: &Rc<Worker>,
    meta: RequestMeta,
    hold: Box<dyn std::any::Any>,
    shutdown: impl std::future::Future<Output = ()> + 'static,
) -> impl std::future::Future<Output = ()> {
    let state = worker.state.clone();
    let realtime = &state.settings.realtime;
    let limits = WsLimits {
        init_timeout: Duration::from_secs(realtime.ws_init_timeout_secs),
        keepalive: Duration::from_secs(realtime.ws_keepalive_secs),
        max_subscriptions: realtime.max_subscriptions_per_connection,
        outbox: realtime.subscriber_queue,
        outbox_bytes: realtime.ws_max_unsent_bytes,
        messages_per_sec: realtime.ws_messages_per_sec,
        message_burst: realtime.ws_message_burst,
    };
    let cx = SocketContext {
        worker: worker.clone(),
        client_ip: meta.client_ip.clone(),
        hold,
    };
    let sessions = Arc::clone(&worker.sessions);
    let on_init = move |init: serde_json::Value| -> Init {
        Box::pin(async move {
            // Every subscription needs a user: a connection without a token is refused.
            let token = init_token(&init)?.ok_or(AppError::Unauthenticated)?;
            let (viewer, expires_at) = state
                .tokens
                .verify_access_until(&token)
                .ok_or(AppError::Unauthenticated)?;
            gate::admit(&state, meta.client_ip.as_deref(), Some(&viewer), 1).await?;
            let (end, ended) = oneshot::channel();
            let slot = sessions.bind(&viewer, end)?;
            let left = (expires_at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default();
            let mut data = async_graphql::Data::default();
            data.insert(state.clone());
            data.insert(LazyLoaders::new(state.pool.clone()));
            data.insert(RequestContext {
                viewer: Some(viewer),
                meta,
            });
            Ok(Initialised {
                data: Arc::new(data),
                viewer,
                binding: SessionBinding {
                    expires_at: tokio::time::Instant::now() + left,
                    ended,
                    hold: Box::new(slot),
                },
            })
        })
    };
    let setup = Setup {
        socket,
        cx,
        on_init: Box::new(on_init),
        limits,
        protocol,
    };
    connection::run(Box::new(setup), Box::pin(shutdown))
}
