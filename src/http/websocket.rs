//! The websocket transport of subscriptions, for `graphql-transport-ws` and the legacy
//! `graphql-ws`. async-graphql speaks the protocol; this module moves its messages and bounds
//! everything a client controls:
//!
//! - **Backpressure.** A message goes out only once the previous one has been taken by the
//!   socket's bounded send queue, which drains only as fast as the client reads. While a
//!   client is not reading, its subscriptions are not polled, so their hub queues fill and the
//!   hub cuts them off (the subscription ends with an error) instead of memory growing.
//! - **Init timeout.** A connection not acknowledged within `init_timeout` is closed with 4408.
//! - **Keep-alive.** The server pings every `keepalive`; a client heard from for none of three
//!   intervals, or that cannot take a message for as long, is closed.
//! - **Size.** Frames and reassembled messages larger than `max_message` close the connection.
//! - **Subscriptions only.** Queries and mutations go over HTTP, where every request passes the
//!   rate limit and mutations are audited; one sent here is refused with
//!   GRAPHQL_VALIDATION_FAILED, and so is a subscription over the query cost limits (checked
//!   before async-graphql sees the document).
//! - **Sessions.** Once `connection_init` is accepted the connection is bound to its session: when
//!   the session is revoked (on any instance) or the access token expires, every open
//!   subscription gets an UNAUTHENTICATED error and the socket is closed with 4401.

use crate::graphql::QueryCost;
use crate::http::live_sessions::SessionEnd;
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// What one connection is allowed.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    pub init_timeout: Duration,
    pub keepalive: Duration,
    pub max_message: usize,
}

/// Client messages that may wait for the protocol handler before the socket stops being read.
const INCOMING_QUEUE: usize = 16;

/// The close code graphql-transport-ws gives an unacknowledged connection.
const INIT_TIMEOUT_CODE: u16 = 4408;

/// The close code of a connection whose session ended (graphql-transport-ws: Unauthorized).
const UNAUTHORIZED_CODE: u16 = 4401;

/// What binds an acknowledged connection to its session, sent by `connection_init`'s handler.
pub struct SessionBinding {
    /// When the access token the connection was opened with expires.
    pub expires_at: Instant,
    /// Fires when the session is revoked.
    pub ended: oneshot::Receiver<SessionEnd>,
    /// Kept for as long as the connection lives (its slot among the user's sockets).
    pub hold: Box<dyn Send>,
}

/// What a connection brings besides the protocol: its cost limits, what it holds while open,
/// and where its session binding arrives from.
pub struct Connection {
    pub cost: std::sync::Arc<QueryCost>,
    pub hold: Box<dyn Send>,
    pub binding: oneshot::Receiver<SessionBinding>,
}

/// Upgrades the request and serves the connection on this worker until either side closes.
pub fn serve<E, OnInit, InitFut>(
    req: &HttpRequest,
    body: web::Payload,
    executor: E,
    data: Data,
    on_init: OnInit,
    limits: WsLimits,
    connection: Connection,
) -> actix_web::Result<HttpResponse>
where
    E: Executor,
    OnInit: FnOnce(serde_json::Value) -> InitFut + Send + 'static,
    InitFut: Future<Output = async_graphql::Result<Data>> + Send + 'static,
{
    let protocol = req
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| {
            offered
                .split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
        .ok_or_else(|| {
            actix_web::error::ErrorBadRequest(
                "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws",
            )
        })?;
    let (mut response, session, messages) = actix_ws::handle(req, body)?;
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.sec_websocket_protocol()),
    );
    let messages = messages
        .max_frame_size(limits.max_message)
        .aggregate_continuations()
        .max_continuation_size(limits.max_message);
    let (to_protocol, from_client) = mpsc::channel::<Vec<u8>>(INCOMING_QUEUE);
    let from_client = futures_util::stream::unfold(from_client, |mut rx| async move {
        rx.recv().await.map(|message| (message, rx))
    });
    let graphql = WebSocket::new(executor, from_client, protocol)
        .connection_data(data)
        .on_connection_init(on_init);
    actix_web::rt::spawn(run(
        graphql,
        session,
        messages,
        to_protocol,
        limits,
        protocol,
        connection,
    ));
    Ok(response)
}

async fn run(
    graphql: impl futures_util::Stream<Item = WsMessage>,
    mut session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
    to_protocol: mpsc::Sender<Vec<u8>>,
    limits: WsLimits,
    protocol: WebSocketProtocols,
    connection: Connection,
) {
    let Connection {
        cost,
        hold: _hold,
        binding,
    } = connection;
    let mut binding = Some(binding);
    // What the session binding holds for the connection's life, and its end signal.
    let mut _bound_hold: Option<Box<dyn Send>> = None;
    let mut ended: Option<oneshot::Receiver<SessionEnd>> = None;
    let expiry = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    let mut expiry = std::pin::pin!(expiry);
    // Ids of the client's subscriptions that have not completed.
    let mut open_ids: HashSet<String> = HashSet::new();
    let mut graphql = std::pin::pin!(graphql);
    let init_deadline = tokio::time::sleep(limits.init_timeout);
    let mut init_deadline = std::pin::pin!(init_deadline);
    let mut pings = tokio::time::interval(limits.keepalive);
    pings.reset();
    let silence = limits.keepalive * 3;
    let mut last_heard = Instant::now();
    let mut acknowledged = false;
    // A client message waiting for room in the protocol handler's queue; the socket is not
    // read meanwhile.
    let mut waiting: Option<Vec<u8>> = None;

    let close = loop {
        tokio::select! {
            room = to_protocol.reserve(), if waiting.is_some() => {
                let Ok(room) = room else { break None };
                if let Some(message) = waiting.take() {
                    room.send(message);
                }
            }
            incoming = messages.next(), if waiting.is_none() => {
                last_heard = Instant::now();
                let message = match incoming {
                    Some(Ok(AggregatedMessage::Text(text))) => text.into_bytes().to_vec(),
                    Some(Ok(AggregatedMessage::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                    Some(Err(e)) => break Some(reason(CloseCode::Protocol, e.to_string())),
                };
                match screen(&message, protocol, &cost) {
                    Screened::Refused(refusal) => {
                        if session.text(refusal).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Screened::Subscribe(id) => {
                        open_ids.insert(id);
                    }
                    Screened::Complete(id) => {
                        open_ids.remove(&id);
                    }
                    Screened::Other => {}
                }
                match to_protocol.try_send(message) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(message)) => waiting = Some(message),
                    Err(mpsc::error::TrySendError::Closed(_)) => break None,
                }
            }
            outgoing = graphql.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    acknowledged |= !acknowledged && text.contains("\"connection_ack\"");
                    if let Some(id) = completed_id(&text) {
                        open_ids.remove(&id);
                    }
                    match tokio::time::timeout(silence, session.text(text)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_closed)) => break None,
                        Err(_) => break Some(reason(
                            CloseCode::Policy,
                            "the client stopped taking messages".into(),
                        )),
                    }
                }
                Some(WsMessage::Close(code, message)) => break Some(reason(code.into(), message)),
                None => break Some(reason(CloseCode::Normal, String::new())),
            },
            arrived = async { binding.as_mut()?.await.ok() }, if binding.is_some() => {
                binding = None;
                if let Some(b) = arrived {
                    expiry.as_mut().reset(b.expires_at);
                    ended = Some(b.ended);
                    _bound_hold = Some(b.hold);
                }
            }
            end = async { ended.as_mut()?.await.ok() }, if ended.is_some() => {
                ended = None;
                if let Some(end) = end {
                    break end_session(&mut session, protocol, &open_ids, end).await;
                }
            }
            () = &mut expiry, if _bound_hold.is_some() => {
                break end_session(&mut session, protocol, &open_ids, SessionEnd::Expired).await;
            }
            () = &mut init_deadline, if !acknowledged => {
                break Some(reason(
                    INIT_TIMEOUT_CODE.into(),
                    "Connection initialisation timeout".into(),
                ));
            }
            _ = pings.tick() => {
                if last_heard.elapsed() >= silence {
                    break Some(reason(CloseCode::Away, "no answer to pings".into()));
                }
                if session.ping(b"").await.is_err() {
                    break None;
                }
            }
        }
    };
    // Closing an already closed session only reports that it was.
    let _ = session.close(close).await;
}

/// What a client message is, as far as the transport cares.
enum Screened {
    /// Answer this instead of passing the message on.
    Refused(String),
    /// A subscription starts (`subscribe`, legacy `start`) with this id.
    Subscribe(String),
    /// The client ends a subscription (`complete`, legacy `stop`).
    Complete(String),
    Other,
}

/// Reads a client message: a `subscribe` (or legacy `start`) whose operation is not a
/// subscription, or that is over the cost limits, is refused; others pass (documents that do
/// not parse too: the protocol handler reports those).
fn screen(message: &[u8], protocol: WebSocketProtocols, cost: &QueryCost) -> Screened {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(message) else {
        return Screened::Other;
    };
    let id_of = |value: &serde_json::Value| value.get("id")?.as_str().map(str::to_string);
    match value.get("type").and_then(|t| t.as_str()) {
        Some("subscribe" | "start") => {}
        Some("complete" | "stop") => {
            return id_of(&value).map_or(Screened::Other, Screened::Complete)
        }
        _ => return Screened::Other,
    }
    let Some(id) = value.get("id").cloned() else {
        return Screened::Other;
    };
    let Some(payload) = value.get("payload") else {
        return Screened::Other;
    };
    let subscribed = || id_of(&value).map_or(Screened::Other, Screened::Subscribe);
    let Some(query) = payload.get("query").and_then(|q| q.as_str()) else {
        return subscribed();
    };
    let refuse = |message: String| {
        let error = serde_json::json!({
            "message": message,
            "extensions": { "code": "GRAPHQL_VALIDATION_FAILED" },
        });
        Screened::Refused(error_frame(&id, protocol, error))
    };
    if let Err(e) = cost.check_text(query) {
        return refuse(e.to_string());
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return subscribed();
    };
    let name = payload.get("operationName").and_then(|n| n.as_str());
    let variables = async_graphql::Variables::from_json(
        payload
            .get("variables")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    );
    if let Err(e) = cost.analyse(&document, name, &variables) {
        return refuse(e.to_string());
    }
    let operation = match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name),
            None => ops.values().next(),
        },
    };
    match operation {
        Some(op) if op.node.ty != OperationType::Subscription => refuse(
            "only subscriptions run over websockets; send queries and mutations over HTTP".into(),
        ),
        _ => subscribed(),
    }
}

/// An `error` message for subscription `id`, in the protocol's shape.
fn error_frame(
    id: &serde_json::Value,
    protocol: WebSocketProtocols,
    error: serde_json::Value,
) -> String {
    let answer = match protocol {
        WebSocketProtocols::GraphQLWS => {
            serde_json::json!({ "id": id, "type": "error", "payload": [error] })
        }
        WebSocketProtocols::SubscriptionsTransportWS => {
            serde_json::json!({ "id": id, "type": "error", "payload": error })
        }
    };
    answer.to_string()
}

/// The id of a server `complete` message (async-graphql writes the type first).
fn completed_id(text: &str) -> Option<String> {
    if !text.starts_with("{\"type\":\"complete\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("id")?.as_str().map(str::to_string)
}

/// Ends a connection whose session ended: an UNAUTHENTICATED error for every open subscription,
/// then close with 4401.
async fn end_session(
    session: &mut Session,
    protocol: WebSocketProtocols,
    open_ids: &HashSet<String>,
    end: SessionEnd,
) -> Option<CloseReason> {
    let message = match end {
        SessionEnd::Revoked => "the session has ended; sign in again",
        SessionEnd::Expired => "the access token has expired; refresh it and reconnect",
    };
    let error = serde_json::json!({
        "message": message,
        "extensions": { "code": "UNAUTHENTICATED" },
    });
    for id in open_ids {
        let frame = error_frame(
            &serde_json::Value::from(id.as_str()),
            protocol,
            error.clone(),
        );
        if session.text(frame).await.is_err() {
            return None;
        }
    }
    Some(reason(UNAUTHORIZED_CODE.into(), message.into()))
}

fn reason(code: CloseCode, description: String) -> CloseReason {
    CloseReason {
        code,
        description: (!description.is_empty()).then_some(description),
    }
}
