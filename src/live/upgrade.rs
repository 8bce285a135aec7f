//! The websocket upgrade path. A request asking to upgrade to a websocket leaves actix-http's
//! HTTP/1 dispatcher here, with the socket and the bytes already read: the handshake is checked
//! and answered on the raw connection, which a lean websocket codec then serves until it closes
//! (tokio-tungstenite with a small read buffer and no write buffer; the dispatcher's 8 KiB read
//! and write buffers are released). The session then runs as a task of its own and the
//! connection's task ends; the server's graceful shutdown tells the session to close (1001) and
//! waits for it (`LiveSessions::drained`).
//!
//! The HTTP middleware never sees these requests, so this module does for them what it does for
//! the others: a request id (on every log line, echoed as `x-request-id`), the origin allowlist
//! of CORS (a browser page from another origin is refused), and the request metrics.
//!
//! What is refused, before the 101: another path (404), another method (405), a broken
//! handshake (400), an origin not on the allowlist (403), no GraphQL subprotocol offered (400),
//! and an address over its share of sockets (429).

use super::protocol::Protocol;
use super::sessions::AddressSlot;
use super::wire::{Socket, Wire, WireStream};
use super::Worker;
use crate::http::graphql;
use crate::http::metrics::Metrics;
use actix_codec::Framed;
use actix_http::body::BodySize;
use actix_http::h1::{self, Message as H1Message};
use actix_http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_http::{HttpMessage, Method, Request, Response, StatusCode};
use actix_server::GracefulShutdownSignal;
use actix_web::web::Bytes;
use async_graphql::http::WebSocketProtocols;
use futures_util::SinkExt;
use std::convert::Infallible;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

/// The path GraphQL websockets are served on.
pub const GRAPHQL_PATH: &str = "/graphql";

/// What reading a client's frames needs at first: small, since clients send little (a frame
/// larger than this grows the buffer for itself).
const READ_BUFFER: usize = 1024;

/// Frames tungstenite gathers for one write, at most, before they go out anyway.
const WRITE_BUFFER: usize = 16 * 1024;

/// One worker's upgrade service.
pub struct Upgrades {
    /// What this worker's websockets share.
    pub worker: Rc<Worker>,
    pub metrics: Arc<Metrics>,
    pub shutdown: GracefulShutdownSignal,
}

/// The answer to a handshake that is refused.
struct Refusal {
    status: StatusCode,
    body: serde_json::Value,
    allow: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Refusal {
        let body = serde_json::json!({ "errors": [{
            "message": message.into(),
            "extensions": { "code": code },
        }] });
        Refusal {
            status,
            body,
            allow: None,
        }
    }
}

impl Upgrades {
    /// Serves one connection whose request asked to upgrade, until the websocket closes.
    pub async fn serve(
        self: Rc<Self>,
        (request, framed): (Request, Framed<TcpStream, h1::Codec>),
    ) -> Result<(), Infallible> {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let meta = graphql::meta_of(
            &self.worker.proxies,
            request.head().peer_addr.map(|a| a.ip()),
            request.headers(),
            Some(request_id.clone()),
        );
        let span = tracing::info_span!(
            "websocket",
            request_id = %request_id,
            client_ip = meta.client_ip.as_deref().unwrap_or("unknown"),
        );
        async move {
            let accepted = self.check(&request, meta.client_ip.as_deref());
            let status = match &accepted {
                Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
                Err(refusal) => refusal.status,
            };
            self.metrics
                .observe_request(status.as_u16(), started.elapsed());
            match accepted {
                Err(refusal) => {
                    tracing::info!(status = status.as_u16(), "websocket upgrade refused");
                    refuse(framed, refusal, &request_id).await;
                }
                Ok((protocol, address_slot)) => {
                    let settings = &self.worker.state.settings;
                    let limits = CodecLimits {
                        max_message: settings.application.body_limit_bytes,
                        max_unsent: settings.realtime.ws_max_unsent_bytes,
                    };
                    let socket = accept(framed, &request, protocol, &request_id, limits).await;
                    // The request's head holds the HTTP read buffer its headers were parsed
                    // from (8 KiB) and its header map: not kept for the connection's life.
                    drop(request);
                    let Some(socket) = socket else {
                        return;
                    };
                    tracing::debug!(
                        protocol = protocol.sec_websocket_protocol(),
                        "websocket open"
                    );
                    let shutdown = self.shutdown.clone();
                    // Counts the socket while it is open.
                    let hold = Box::new((address_slot, self.metrics.websocket_opened()));
                    let session = super::init::serve(
                        socket,
                        Protocol(protocol),
                        &self.worker,
                        meta,
                        hold,
                        async move { shutdown.notified().await },
                    );
                    // The session is a task of its own: the connection's task (actix-http's
                    // dispatcher, some 11 KiB) ends here. A stopping server tells the session
                    // to close through the shutdown signal and waits for it in
                    // `LiveSessions::drained`.
                    actix_web::rt::spawn(
                        async move {
                            session.await;
                            tracing::debug!("websocket closed");
                        }
                        .instrument(tracing::Span::current()),
                    );
                }
            }
        }
        .instrument(span)
        .await;
        Ok(())
    }

    /// Everything checked before the 101: the subprotocol to speak, and the address's slot.
    fn check(
        &self,
        request: &Request,
        client_ip: Option<&str>,
    ) -> Result<(WebSocketProtocols, AddressSlot), Refusal> {
        if request.path() != GRAPHQL_PATH {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "not found",
            ));
        }
        if request.method() != Method::GET {
            let mut refusal = Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "BAD_REQUEST",
                "websockets are opened with GET",
            );
            refusal.allow = Some("GET, POST");
            return Err(refusal);
        }
        actix_http::ws::verify_handshake(request.head())
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.to_string()))?;
        let origins = &self.worker.state.settings.application.cors_allowed_origins;
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let allowed = origin
                .to_str()
                .is_ok_and(|o| origins.iter().any(|allowed| allowed.as_str() == o));
            if !allowed {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "this origin may not open websockets here",
                ));
            }
        }
        let protocol = offered_protocol(request.headers()).ok_or_else(|| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "Sec-WebSocket-Protocol must offer graphql-transport-ws or graphql-ws",
            )
        })?;
        let slot = self
            .worker
            .sessions
            .open(client_ip)
            .map_err(|e| Refusal::new(StatusCode::TOO_MANY_REQUESTS, e.code(), e.message()))?;
        Ok((protocol, slot))
    }
}

/// The first GraphQL subprotocol the client offers.
fn offered_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|offered| offered.split(','))
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}

fn request_id_header(id: &str) -> Option<(HeaderName, HeaderValue)> {
    let value = HeaderValue::from_str(id).ok()?;
    Some((HeaderName::from_static("x-request-id"), value))
}

/// Answers the refused handshake and closes the connection.
async fn refuse(mut framed: Framed<TcpStream, h1::Codec>, refusal: Refusal, request_id: &str) {
    let body = Bytes::from(refusal.body.to_string());
    let mut response = Response::build(refusal.status);
    response
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CONNECTION, "close"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(allow) = refusal.allow {
        response.insert_header((header::ALLOW, allow));
    }
    if let Some(id) = request_id_header(request_id) {
        response.insert_header(id);
    }
    let response = response.finish().drop_body();
    let size = BodySize::Sized(body.len() as u64);
    let sent = async {
        framed.feed(H1Message::Item((response, size))).await?;
        framed.feed(H1Message::Chunk(Some(body))).await?;
        framed.send(H1Message::Chunk(None)).await
    };
    if let Err(e) = sent.await {
        tracing::debug!(error = %e, "the refusal could not be sent");
    }
}

/// What the codec of one connection may hold.
struct CodecLimits {
    /// A frame or reassembled message from the client, at most.
    max_message: usize,
    /// Bytes waiting for the client, at most (`http::wire`).
    max_unsent: usize,
}

/// Answers 101 and hands the connection, with what the client sent after its handshake, to
/// the websocket codec.
async fn accept(
    mut framed: Framed<TcpStream, h1::Codec>,
    request: &Request,
    protocol: WebSocketProtocols,
    request_id: &str,
    limits: CodecLimits,
) -> Option<Socket> {
    let mut response = actix_http::ws::handshake_response(request.head());
    response.insert_header((
        header::SEC_WEBSOCKET_PROTOCOL,
        protocol.sec_websocket_protocol(),
    ));
    if let Some(id) = request_id_header(request_id) {
        response.insert_header(id);
    }
    let response = response.finish().drop_body();
    if let Err(e) = framed
        .send(H1Message::Item((response, BodySize::None)))
        .await
    {
        tracing::debug!(error = %e, "the handshake answer could not be sent");
        return None;
    }
    let parts = framed.into_parts();
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Frames wait in the codec only until the connection flushes what it has queued (one
        // write), or this much is waiting.
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(limits.max_message))
        .max_frame_size(Some(limits.max_message));
    let socket = WebSocketStream::from_partially_read(
        WireStream(Wire::new(parts.io, limits.max_unsent)),
        parts.read_buf.to_vec(),
        Role::Server,
        Some(config),
    )
    .await;
    Some(socket)
}
