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
//!   GRAPHQL_VALIDATION_FAILED.

use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor};
use futures_util::StreamExt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::mpsc;
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

/// Upgrades the request and serves the connection on this worker until either side closes.
pub fn serve<E, OnInit, InitFut>(
    req: &HttpRequest,
    body: web::Payload,
    executor: E,
    data: Data,
    on_init: OnInit,
    limits: WsLimits,
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
) {
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
                if let Some(refusal) = refuse_unless_subscription(&message, protocol) {
                    if session.text(refusal).await.is_err() {
                        break None;
                    }
                    continue;
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

/// The error answer to a `subscribe` (or legacy `start`) whose operation is not a subscription;
/// None for every other message (including documents that do not parse: the protocol handler
/// reports those).
fn refuse_unless_subscription(message: &[u8], protocol: WebSocketProtocols) -> Option<String> {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let value: serde_json::Value = serde_json::from_slice(message).ok()?;
    if !matches!(value.get("type")?.as_str()?, "subscribe" | "start") {
        return None;
    }
    let id = value.get("id")?.clone();
    let payload = value.get("payload")?;
    let document = async_graphql::parser::parse_query(payload.get("query")?.as_str()?).ok()?;
    let name = payload.get("operationName").and_then(|n| n.as_str());
    let operation = match &document.operations {
        DocumentOperations::Single(op) => op,
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name)?,
            None => ops.values().next()?,
        },
    };
    if operation.node.ty == OperationType::Subscription {
        return None;
    }
    let error = serde_json::json!({
        "message": "only subscriptions run over websockets; send queries and mutations over HTTP",
        "extensions": { "code": "GRAPHQL_VALIDATION_FAILED" },
    });
    let answer = match protocol {
        WebSocketProtocols::GraphQLWS => {
            serde_json::json!({ "id": id, "type": "error", "payload": [error] })
        }
        WebSocketProtocols::SubscriptionsTransportWS => {
            serde_json::json!({ "id": id, "type": "error", "payload": error })
        }
    };
    Some(answer.to_string())
}

fn reason(code: CloseCode, description: String) -> CloseReason {
    CloseReason {
        code,
        description: (!description.is_empty()).then_some(description),
    }
}
