//! The websocket transport of subscriptions, for `graphql-transport-ws` and the legacy
//! `graphql-ws`, on a connection `http::upgrade` handed over. This module speaks both
//! protocols, runs the subscriptions (shared by cohorts where it can, see `graphql::live`) and
//! bounds everything a client controls:
//!
//! - **Backpressure.** Deliveries wait in the connection's bounded outbox and go out only as
//!   fast as the socket takes them (all that is queued in one write). A subscription whose
//!   deliveries find the outbox full is cut off (CONFLICT, then complete) instead of memory
//!   growing; a subscription running on its own is not polled while the socket is busy, so its
//!   hub queue fills and the hub cuts it off the same way.
//!   Everything waiting for one client is bounded in bytes too (the outbox and the socket's
//!   unsent bytes, `http::wire`): a client that stops reading is closed with 1008, whatever it
//!   keeps sending.
//! - **Init timeout.** A connection not acknowledged within `init_timeout` is closed with 4408.
//! - **Keep-alive.** The server pings every `keepalive`; a client heard from for none of three
//!   intervals, or that cannot take a message for as long, is closed. Timers are polled before
//!   the client's input, so no amount of input delays them.
//! - **Message rate.** A client may send `messages_per_sec` messages a second (`message_burst`
//!   at once), control frames included; beyond, the socket is closed with 1008.
//! - **Size.** Frames and reassembled messages larger than the body limit close the connection
//!   (1009).
//! - **Subscriptions only.** Queries and mutations go over HTTP, where every request passes the
//!   rate limit and mutations are audited; one sent here is refused with
//!   GRAPHQL_VALIDATION_FAILED, and so is a subscription over the query cost limits.
//! - **Admission.** Each subscription is admitted on its own: the access token must still be
//!   valid, the rate limit must allow it, and the connection may hold at most
//!   `max_subscriptions` (CONFLICT beyond).
//! - **Sessions.** Once `connection_init` is accepted the connection is bound to its session: when
//!   the session is revoked (on any instance) or the access token expires, every open
//!   subscription gets an UNAUTHENTICATED error and the socket is closed with 4401.
//! - **Order.** A connection's messages are handled in the order they came. The legacy protocol
//!   lets a client send `start` right after `connection_init` without waiting for the
//!   acknowledgement (subscriptions-transport-ws does): what follows an init still being checked
//!   waits (at most `max_subscriptions` + a few messages) and runs once it is accepted.
//! - **Protocol errors** close as graphql-transport-ws says: 4400 an unreadable message, 4401 a
//!   subscription before the acknowledgement (in graphql-transport-ws), 4403 a refused `connection_init`, 4409 an id
//!   already in use, 4429 a second `connection_init` (the legacy protocol gets
//!   `connection_error` where it has one).

use crate::errors::AppError;
use crate::graphql::live::{AdmissionProbe, CohortKey, Cohorts, Delivery, Membership, Outbox};
use crate::graphql::{CastYouSchema, QueryCost};
use crate::http::live_sessions::SessionEnd;
use crate::http::wire::{Wire, WireStream};
use crate::services::{gate, AppState, Viewer};
use actix_web::web::Bytes;
use async_graphql::http::WebSocketProtocols;
use async_graphql::{Data, ErrorExtensions, Response};
use futures_util::stream::{BoxStream, FuturesUnordered};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// An upgraded connection (see `http::upgrade`), its writes ordered with the cohorts' direct
/// writes by `http::wire`.
pub type Socket = WebSocketStream<WireStream>;

/// What one connection is allowed (frame and message sizes are the codec's, set at the
/// upgrade).
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    pub init_timeout: Duration,
    pub keepalive: Duration,
    pub max_subscriptions: usize,
    /// Deliveries that may wait for the socket before a subscription is cut off.
    pub outbox: usize,
    /// Bytes of deliveries that may wait for the socket, likewise.
    pub outbox_bytes: usize,
    /// Messages the client may send per second, sustained, control frames included.
    pub messages_per_sec: u32,
    /// Messages the client may send at once above that rate.
    pub message_burst: u32,
}

/// A token bucket over the client's messages.
struct MessageRate {
    tokens: f64,
    per_sec: f64,
    burst: f64,
    last: Instant,
}

impl MessageRate {
    fn new(limits: &WsLimits) -> MessageRate {
        let burst = f64::from(limits.message_burst.max(1));
        MessageRate {
            tokens: burst,
            per_sec: f64::from(limits.messages_per_sec.max(1)),
            burst,
            last: Instant::now(),
        }
    }

    /// Spends one message; false when the client is over its rate.
    fn spend(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_sec;
        self.last = now;
        self.tokens = (self.tokens + refill).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// Messages that may wait behind a `connection_init` still being checked (legacy protocol),
/// beyond the connection's subscriptions.
const HELD_SPARE: usize = 4;

/// The close code graphql-transport-ws gives an unacknowledged connection.
const INIT_TIMEOUT_CODE: u16 = 4408;
/// An unreadable message.
const BAD_REQUEST_CODE: u16 = 4400;
/// A subscription before the acknowledgement, or a session that ended.
const UNAUTHORIZED_CODE: u16 = 4401;
/// A refused `connection_init`.
const FORBIDDEN_CODE: u16 = 4403;
/// A subscription id already in use.
const DUPLICATE_CODE: u16 = 4409;
/// A second `connection_init`.
const TOO_MANY_INITS_CODE: u16 = 4429;

/// How long a closing handshake may take before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Deliveries written to the socket in one go, at most.
const WRITE_BATCH: usize = 64;

/// What binds an acknowledged connection to its session.
pub struct SessionBinding {
    /// When the access token the connection was opened with expires.
    pub expires_at: Instant,
    /// Fires when the session is revoked.
    pub ended: oneshot::Receiver<SessionEnd>,
    /// Kept for as long as the connection lives (its slot among the user's sockets).
    pub hold: Box<dyn Send>,
}

/// What an accepted `connection_init` gives the connection.
pub struct Initialised {
    /// The data every execution of the connection's subscriptions gets.
    pub data: Arc<Data>,
    pub viewer: Viewer,
    pub binding: SessionBinding,
}

/// What every connection of a worker runs on (one per worker, shared).
pub struct Worker {
    pub schema: CastYouSchema,
    pub state: AppState,
    pub cohorts: Cohorts,
    pub cost: Arc<QueryCost>,
}

/// What a connection runs on.
pub struct SocketContext {
    pub worker: Rc<Worker>,
    pub client_ip: Option<String>,
    /// Held for as long as the connection lives (its address slot, the open-sockets gauge).
    pub hold: Box<dyn std::any::Any>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<serde_json::Value>,
    },
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    ConnectionTerminate,
    Ping {},
    Pong {},
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribePayload {
    #[serde(default)]
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json::Value>,
    #[serde(default)]
    extensions: HashMap<String, async_graphql::Value>,
}

impl SubscribePayload {
    fn request(&self) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query.clone()).variables(
            async_graphql::Variables::from_json(
                self.variables.clone().unwrap_or(serde_json::Value::Null),
            ),
        );
        request.operation_name = self.operation_name.clone();
        request.extensions = async_graphql::Extensions(self.extensions.clone());
        request
    }
}

/// Where a subscription is.
enum Running {
    /// Being admitted; what runs once it is.
    Admitting(Box<(SubscribePayload, Option<CohortKey>)>),
    /// A member of a cohort; its deliveries come through the outbox.
    Shared(#[allow(dead_code)] Membership),
    /// Running on its own; its stream is in `Connection::own`.
    Own,
}

struct Sub {
    id: String,
    /// `{"id":…,"type":"next","payload":` (or the legacy `data`), for every frame of it.
    prefix: Rc<[u8]>,
    running: Running,
}

type Admission = Pin<Box<dyn Future<Output = (u64, Result<(), Response>)>>>;
pub type Init = Pin<Box<dyn Future<Output = Result<Initialised, AppError>>>>;

/// How the loop ends: with a close frame, or silently (the client is gone).
type Ending = Option<CloseFrame>;

struct Connection {
    protocol: WebSocketProtocols,
    limits: WsLimits,
    cx: SocketContext,
    session: Option<Initialised>,
    init: Option<Init>,
    /// `connection_init` was received (once only).
    init_seen: bool,
    /// Messages that came while the init was being checked (legacy protocol), in order.
    held: VecDeque<Bytes>,
    subs: HashMap<u64, Sub>,
    serial_of: HashMap<String, u64>,
    next_serial: u64,
    own: HashMap<u64, BoxStream<'static, Response>>,
    admissions: FuturesUnordered<Admission>,
    outbox: Rc<Outbox>,
}

/// `connection_init`'s handler: the payload in, the connection's session out.
pub type InitFn = Box<dyn FnOnce(serde_json::Value) -> Init>;

/// What a connection starts with (boxed, so the connection's future holds it once).
pub struct Setup {
    pub socket: Socket,
    pub cx: SocketContext,
    pub on_init: InitFn,
    pub limits: WsLimits,
    pub protocol: WebSocketProtocols,
}

/// Serves the connection until either side closes it or `shutdown` resolves (then it is closed
/// with 1001, going away).
pub async fn run(setup: Box<Setup>, shutdown: Pin<Box<dyn Future<Output = ()>>>) {
    let Setup {
        mut socket,
        cx,
        on_init,
        limits,
        protocol,
    } = *setup;
    let mut on_init = Some(on_init);
    let wire = socket.get_ref().0.clone();
    let mut conn = Connection {
        protocol,
        limits,
        cx,
        session: None,
        init: None,
        init_seen: false,
        held: VecDeque::new(),
        subs: HashMap::new(),
        serial_of: HashMap::new(),
        next_serial: 0,
        own: HashMap::new(),
        admissions: FuturesUnordered::new(),
        // The socket's write side, shared with the cohorts the subscriptions join.
        outbox: Outbox::new(limits.outbox, limits.outbox_bytes, wire.clone()),
    };
    let mut ended: Option<oneshot::Receiver<SessionEnd>> = None;
    let expiry = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    let mut expiry = std::pin::pin!(expiry);
    let mut shutdown = shutdown;
    let init_deadline = tokio::time::sleep(limits.init_timeout);
    let mut init_deadline = std::pin::pin!(init_deadline);
    let mut pings = tokio::time::interval(limits.keepalive);
    pings.reset();
    let silence = limits.keepalive * 3;
    let mut last_heard = Instant::now();
    let mut rate = MessageRate::new(&limits);

    let close: Ending = loop {
        if wire.overflowed() {
            break Some(not_reading());
        }
        let outbox = conn.outbox.clone();
        // Timers first: they are cheap to poll and no amount of client input may starve them
        // (a client streaming pings must still meet its init deadline). Then what the client
        // sends (only ready when it sent something), then deliveries, which nearly every
        // wake-up is for; the rest is rare.
        tokio::select! {
            biased;
            () = shutdown.as_mut() => {
                break Some(reason(CloseCode::Away, "the server is restarting".into()));
            }
            () = &mut init_deadline, if conn.session.is_none() => {
                break Some(reason(
                    INIT_TIMEOUT_CODE.into(),
                    "Connection initialisation timeout".into(),
                ));
            }
            () = &mut expiry, if conn.session.is_some() => {
                let (frames, close) = conn.end_session(SessionEnd::Expired);
                let _ = write_all(&mut socket, frames, silence).await;
                break close;
            }
            end = async { ended.as_mut()?.await.ok() }, if ended.is_some() => {
                ended = None;
                if let Some(end) = end {
                    let (frames, close) = conn.end_session(end);
                    let _ = write_all(&mut socket, frames, silence).await;
                    break close;
                }
            }
            _ = pings.tick() => {
                if last_heard.elapsed() >= silence {
                    break Some(reason(CloseCode::Away, "no answer to pings".into()));
                }
                if let Err(end) = write_all(&mut socket, vec![Message::Ping(Bytes::new())], silence).await {
                    break end;
                }
            }
            incoming = socket.next() => {
                last_heard = Instant::now();
                if !rate.spend() {
                    break Some(reason(CloseCode::Policy, "too many messages".into()));
                }
                let message = match incoming {
                    Some(Ok(Message::Text(text))) => Bytes::from(text),
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    // The codec answers pings itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(WsError::Capacity(e))) => {
                        break Some(reason(CloseCode::Size, e.to_string()))
                    }
                    Some(Err(WsError::Protocol(e))) => {
                        break Some(reason(CloseCode::Protocol, e.to_string()))
                    }
                    Some(Err(WsError::Utf8)) => {
                        break Some(reason(CloseCode::Invalid, "text frames are UTF-8".into()))
                    }
                    Some(Err(_)) if wire.overflowed() => break Some(not_reading()),
                    Some(Err(_)) => break None,
                };
                if conn.holds_while_initialising() {
                    // Legacy clients start subscriptions before the acknowledgement: they run,
                    // in order, once the init is accepted.
                    if conn.held.len() >= limits.max_subscriptions + HELD_SPARE {
                        break Some(reason(
                            CloseCode::Policy,
                            "too many messages before the connection was acknowledged".into(),
                        ));
                    }
                    conn.held.push_back(message);
                    continue;
                }
                if let Err(end) = conn.handle(&mut socket, &message, &mut on_init, silence).await {
                    break end;
                }
            }
            () = std::future::poll_fn(|cx| {
                outbox.register(cx.waker());
                if outbox.is_idle() { Poll::Pending } else { Poll::Ready(()) }
            }) => {
                // Boxed like `write_all`: deliveries wait here only when a socket is slow.
                if let Err(end) = Box::pin(conn.drain(&mut socket, silence)).await {
                    break end;
                }
            }
            initialised = async { conn.init.as_mut()?.await.into() }, if conn.init.is_some() => {
                conn.init = None;
                match initialised {
                    Some(Ok(session)) => {
                        // `binding.hold` stays with the session for the connection's life.
                        let b = &session.binding;
                        expiry.as_mut().reset(b.expires_at);
                        conn.session = Some(session);
                        if let Some(s) = conn.session.as_mut() {
                            let (_, dead) = oneshot::channel();
                            ended = Some(std::mem::replace(&mut s.binding.ended, dead));
                        }
                        let ack = text(r#"{"type":"connection_ack"}"#.to_string());
                        if let Err(end) = write_all(&mut socket, vec![ack], silence).await {
                            break end;
                        }
                        if let Err(end) = conn.release_held(&mut socket, &mut on_init, silence).await {
                            break end;
                        }
                    }
                    Some(Err(e)) => {
                        let message = e.message();
                        match protocol {
                            WebSocketProtocols::SubscriptionsTransportWS => {
                                let frame = serde_json::json!({
                                    "type": "connection_error",
                                    "payload": { "message": message },
                                });
                                let _ = write_all(&mut socket, vec![text(frame.to_string())], silence).await;
                                break Some(reason(CloseCode::Policy, message));
                            }
                            WebSocketProtocols::GraphQLWS => {
                                break Some(reason(FORBIDDEN_CODE.into(), format!("Forbidden: {message}")));
                            }
                        }
                    }
                    None => break None,
                }
            }
            admitted = conn.admissions.next(), if !conn.admissions.is_empty() => {
                if let Some((serial, result)) = admitted {
                    let replies = conn.admitted(serial, result);
                    if let Err(end) = write_all(&mut socket, replies, silence).await {
                        break end;
                    }
                }
            }
            (serial, response) = std::future::poll_fn(|cx| poll_own(&mut conn.own, cx)) => {
                let replies = conn.own_item(serial, response);
                if let Err(end) = write_all(&mut socket, replies, silence).await {
                    break end;
                }
            }
        }
    };
    // Subscriptions end (cohorts are left, streams dropped) before the socket closes.
    conn.subs.clear();
    conn.own.clear();
    // Closing an already closed socket only reports that it was; a client that does not
    // answer the close is dropped after a moment. An overflowed socket takes nothing more.
    if let Some(frame) = close.filter(|_| !wire.overflowed()) {
        let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, socket.close(Some(frame)))).await;
    }
}

/// The close of a client that stopped reading while the server had bytes for it.
fn not_reading() -> CloseFrame {
    reason(
        CloseCode::Policy,
        "the client is not reading its messages".into(),
    )
}

/// The next response of the subscriptions running on their own (None: that one ended).
fn poll_own(
    own: &mut HashMap<u64, BoxStream<'static, Response>>,
    cx: &mut std::task::Context<'_>,
) -> Poll<(u64, Option<Response>)> {
    for (serial, stream) in own.iter_mut() {
        if let Poll::Ready(item) = stream.poll_next_unpin(cx) {
            return Poll::Ready((*serial, item));
        }
    }
    Poll::Pending
}

/// Sends `messages` in one write, within `silence`. Boxed: while a write waits, the
/// connection's task holds a pointer rather than the write's state, so the task of every
/// connection (nearly all of them idle) is that much smaller.
fn write_all(
    socket: &mut Socket,
    messages: Vec<Message>,
    silence: Duration,
) -> Pin<Box<dyn Future<Output = Result<(), Ending>> + '_>> {
    Box::pin(write_frames(socket, messages, silence))
}

async fn write_frames(
    socket: &mut Socket,
    messages: Vec<Message>,
    silence: Duration,
) -> Result<(), Ending> {
    let wire = socket.get_ref().0.clone();
    if messages.is_empty() && !wire.has_pending() {
        return Ok(());
    }
    // No cohort writes to the socket directly while this write is under way.
    let _busy = Busy::new(&wire);
    let send = async {
        for message in messages {
            socket.feed(message).await?;
        }
        socket.flush().await
    };
    let mut send = std::pin::pin!(send);
    // Nearly every write completes at once: the timer is armed only for one that waits.
    let first = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
    let sent = match first {
        Poll::Ready(result) => Ok(result),
        Poll::Pending => tokio::time::timeout(silence, send).await,
    };
    match sent {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) if wire.overflowed() => Err(Some(not_reading())),
        Ok(Err(_closed)) => Err(None),
        Err(_) => Err(Some(reason(
            CloseCode::Policy,
            "the client stopped taking messages".into(),
        ))),
    }
}

/// Marks the connection as writing for as long as it lives.
struct Busy<'a>(&'a Wire);

impl<'a> Busy<'a> {
    fn new(wire: &'a Wire) -> Busy<'a> {
        wire.set_busy(true);
        Busy(wire)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set_busy(false);
    }
}

fn text(frame: String) -> Message {
    Message::text(frame)
}

fn reason(code: CloseCode, description: String) -> CloseFrame {
    CloseFrame {
        code,
        reason: description.into(),
    }
}

/// A response that is only `errors`, for subscription `id`'s `next` (legacy `data`) frame.
fn error_response(e: &AppError) -> Response {
    let error = e.extend();
    Response::from_errors(vec![error.into_server_error(async_graphql::Pos::default())])
}

impl Connection {
    /// Messages wait until the init is decided: the legacy protocol, an init under way.
    fn holds_while_initialising(&self) -> bool {
        self.protocol == WebSocketProtocols::SubscriptionsTransportWS && self.init.is_some()
    }

    /// Handles one client message and writes its answers.
    async fn handle(
        &mut self,
        socket: &mut Socket,
        message: &[u8],
        on_init: &mut Option<InitFn>,
        silence: Duration,
    ) -> Result<(), Ending> {
        match self.receive(message, on_init) {
            Ok(replies) => write_all(socket, replies, silence).await,
            Err((end, frames)) => {
                let _ = write_all(socket, frames, silence).await;
                Err(end)
            }
        }
    }

    /// Handles, in order, the messages that waited for the init to be accepted.
    async fn release_held(
        &mut self,
        socket: &mut Socket,
        on_init: &mut Option<InitFn>,
        silence: Duration,
    ) -> Result<(), Ending> {
        while let Some(message) = self.held.pop_front() {
            Box::pin(self.handle(socket, &message, on_init, silence)).await?;
        }
        Ok(())
    }

    fn next_kind(&self) -> &'static str {
        match self.protocol {
            WebSocketProtocols::GraphQLWS => "next",
            WebSocketProtocols::SubscriptionsTransportWS => "data",
        }
    }

    fn complete_frame(id: &str) -> Message {
        text(serde_json::json!({ "id": id, "type": "complete" }).to_string())
    }

    /// The frames that end subscription `id` with `response` (an error): `next`, `complete`.
    fn refusal(&self, id: &str, response: &Response) -> Vec<Message> {
        let payload = serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec());
        vec![
            with_prefix(&prefix(id, self.next_kind()), &payload),
            Self::complete_frame(id),
        ]
    }

    /// Handles a client message: the frames to answer with, or how the connection ends (with
    /// frames to send first).
    fn receive(
        &mut self,
        message: &[u8],
        on_init: &mut Option<InitFn>,
    ) -> Result<Vec<Message>, (Ending, Vec<Message>)> {
        let message: ClientMessage = match serde_json::from_slice(message) {
            Ok(m) => m,
            Err(e) => {
                return Err((
                    Some(reason(
                        BAD_REQUEST_CODE.into(),
                        format!("Invalid message received: {e}"),
                    )),
                    vec![],
                ))
            }
        };
        match message {
            ClientMessage::ConnectionInit { payload } => {
                let Some(init) = on_init.take().filter(|_| !self.init_seen) else {
                    return Err(match self.protocol {
                        WebSocketProtocols::GraphQLWS => (
                            Some(reason(
                                TOO_MANY_INITS_CODE.into(),
                                "Too many initialisation requests".into(),
                            )),
                            vec![],
                        ),
                        WebSocketProtocols::SubscriptionsTransportWS => (
                            Some(reason(
                                CloseCode::Policy,
                                "Too many initialisation requests".into(),
                            )),
                            vec![text(
                                serde_json::json!({ "type": "connection_error",
                                    "payload": { "message": "Too many initialisation requests" } })
                                .to_string(),
                            )],
                        ),
                    });
                };
                self.init_seen = true;
                self.init = Some(init(payload.unwrap_or_default()));
                Ok(vec![])
            }
            ClientMessage::Ping {} => Ok(vec![text(r#"{"type":"pong"}"#.to_string())]),
            ClientMessage::Pong {} => Ok(vec![]),
            ClientMessage::ConnectionTerminate => {
                Err((Some(reason(CloseCode::Normal, String::new())), vec![]))
            }
            ClientMessage::Complete { id } => {
                let Some(serial) = self.serial_of.remove(&id) else {
                    return Ok(vec![]);
                };
                self.subs.remove(&serial);
                self.own.remove(&serial);
                Ok(vec![Self::complete_frame(&id)])
            }
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload),
        }
    }

    fn subscribe(
        &mut self,
        id: String,
        payload: SubscribePayload,
    ) -> Result<Vec<Message>, (Ending, Vec<Message>)> {
        let Some(session) = &self.session else {
            return Err((
                Some(reason(UNAUTHORIZED_CODE.into(), "Unauthorized".into())),
                vec![],
            ));
        };
        if self.serial_of.contains_key(&id) {
            return Err((
                Some(reason(
                    DUPLICATE_CODE.into(),
                    format!("Subscriber for {id} already exists"),
                )),
                vec![],
            ));
        }
        let screened = screen(&payload, &self.cx.worker.cost);
        let key = match screened {
            Err(message) => {
                let error = serde_json::json!({
                    "message": message,
                    "extensions": { "code": "GRAPHQL_VALIDATION_FAILED" },
                });
                return Ok(vec![error_frame(&id, self.protocol, error)]);
            }
            Ok(document) => document.and_then(|document| {
                CohortKey::of(
                    &document,
                    &payload.query,
                    payload.operation_name.as_deref(),
                    payload
                        .variables
                        .as_ref()
                        .unwrap_or(&serde_json::Value::Null),
                    session.viewer.user_id,
                    session.viewer.role,
                )
            }),
        };
        let max = self.limits.max_subscriptions;
        if self.subs.len() >= max {
            let refusal = AppError::conflict(format!(
                "this connection already has {max} subscriptions; complete one first"
            ));
            return Ok(self.refusal(&id, &error_response(&refusal)));
        }

        let serial = self.next_serial;
        self.next_serial += 1;
        self.serial_of.insert(id.clone(), serial);
        let state = self.cx.worker.state.clone();
        let client_ip = self.cx.client_ip.clone();
        let viewer = session.viewer;
        let expires_at = session.binding.expires_at;
        let probe = key.as_ref().map(|_| {
            let request = payload.request().data(AdmissionProbe);
            self.cx
                .worker
                .schema
                .execute_stream_with_session_data(request, session.data.clone())
        });
        self.admissions.push(Box::pin(async move {
            if expires_at <= Instant::now() {
                return (serial, Err(error_response(&AppError::Unauthenticated)));
            }
            if let Err(e) = gate::admit(&state, client_ip.as_deref(), Some(&viewer), 1).await {
                return (serial, Err(error_response(&e)));
            }
            if let Some(mut probe) = probe {
                // A probe's stream is empty unless the subscription is refused.
                while let Some(response) = probe.next().await {
                    if response.is_err() {
                        return (serial, Err(response));
                    }
                }
            }
            (serial, Ok(()))
        }));
        self.subs.insert(
            serial,
            Sub {
                prefix: prefix(&id, self.next_kind()).into(),
                id,
                running: Running::Admitting(Box::new((payload, key))),
            },
        );
        Ok(vec![])
    }

    /// A subscription was admitted (it joins its cohort or starts on its own) or refused.
    fn admitted(&mut self, serial: u64, result: Result<(), Response>) -> Vec<Message> {
        // Completed by the client meanwhile: nothing to do.
        let Some(sub) = self.subs.get_mut(&serial) else {
            return vec![];
        };
        let Some(session) = &self.session else {
            return vec![];
        };
        if let Err(response) = result {
            let id = sub.id.clone();
            self.forget(serial);
            return self.refusal(&id, &response);
        }
        let Running::Admitting(admitting) = std::mem::replace(&mut sub.running, Running::Own)
        else {
            return vec![];
        };
        let (payload, key) = *admitting;
        let schema = &self.cx.worker.schema;
        match key {
            Some(key) => {
                let data = session.data.clone();
                let prefix = sub.prefix.clone();
                let membership =
                    self.cx
                        .worker
                        .cohorts
                        .join(key, &self.outbox, serial, prefix, |counted| {
                            schema.execute_stream_with_session_data(
                                payload.request().data(counted),
                                data,
                            )
                        });
                sub.running = Running::Shared(membership);
            }
            None => {
                let stream = schema
                    .execute_stream_with_session_data(payload.request(), session.data.clone());
                self.own.insert(serial, stream);
            }
        }
        vec![]
    }

    /// Drops subscription `serial` (leaving its cohort or dropping its stream).
    fn forget(&mut self, serial: u64) {
        if let Some(sub) = self.subs.remove(&serial) {
            self.serial_of.remove(&sub.id);
        }
        self.own.remove(&serial);
    }

    /// A response (or the end) of a subscription running on its own.
    fn own_item(&mut self, serial: u64, response: Option<Response>) -> Vec<Message> {
        let Some(sub) = self.subs.get(&serial) else {
            self.own.remove(&serial);
            return vec![];
        };
        match response {
            Some(response) => match serde_json::to_vec(&response) {
                Ok(payload) => vec![with_prefix(&sub.prefix, &payload)],
                Err(e) => {
                    tracing::error!(error = %e, "a subscription response did not serialise");
                    vec![]
                }
            },
            None => {
                let frame = Self::complete_frame(&sub.id);
                self.forget(serial);
                vec![frame]
            }
        }
    }

    /// Writes what the outbox holds (in batches, each in one write), then ends the
    /// subscriptions that were cut off.
    async fn drain(&mut self, socket: &mut Socket, silence: Duration) -> Result<(), Ending> {
        loop {
            let mut frames = Vec::new();
            while frames.len() < WRITE_BATCH {
                let Some((serial, delivery)) = self.outbox.pop() else {
                    break;
                };
                let Some(sub) = self.subs.get(&serial) else {
                    continue;
                };
                match delivery {
                    Delivery::Next(payload) => frames.push(with_prefix(&sub.prefix, &payload)),
                    Delivery::Complete => {
                        frames.push(Self::complete_frame(&sub.id));
                        self.forget(serial);
                    }
                }
            }
            if frames.is_empty() {
                break;
            }
            write_all(socket, frames, silence).await?;
        }
        let mut frames = Vec::new();
        for serial in self.outbox.take_cut_off() {
            let Some(sub) = self.subs.get(&serial) else {
                continue;
            };
            let id = sub.id.clone();
            self.forget(serial);
            let error = AppError::conflict(
                "the subscription fell too far behind and was closed; subscribe again",
            );
            frames.extend(self.refusal(&id, &error_response(&error)));
        }
        write_all(socket, frames, silence).await
    }

    /// The session ended: an UNAUTHENTICATED error for every open subscription, then close
    /// with 4401.
    fn end_session(&mut self, end: SessionEnd) -> (Vec<Message>, Ending) {
        let message = match end {
            SessionEnd::Revoked => "the session has ended; sign in again",
            SessionEnd::Expired => "the access token has expired; refresh it and reconnect",
        };
        let error = serde_json::json!({
            "message": message,
            "extensions": { "code": "UNAUTHENTICATED" },
        });
        let frames = self
            .subs
            .values()
            .map(|sub| error_frame(&sub.id, self.protocol, error.clone()))
            .collect();
        (
            frames,
            Some(reason(UNAUTHORIZED_CODE.into(), message.into())),
        )
    }
}

/// `{"id":<id>,"type":<kind>,"payload":`: what every frame of a subscription starts with.
fn prefix(id: &str, kind: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(id.len() + 40);
    prefix.extend_from_slice(b"{\"id\":");
    prefix.extend_from_slice(serde_json::Value::from(id).to_string().as_bytes());
    prefix.extend_from_slice(b",\"type\":\"");
    prefix.extend_from_slice(kind.as_bytes());
    prefix.extend_from_slice(b"\",\"payload\":");
    prefix
}

/// A subscription's frame: its prefix, the shared payload, `}`.
fn with_prefix(prefix: &[u8], payload: &[u8]) -> Message {
    let mut frame = Vec::with_capacity(prefix.len() + payload.len() + 1);
    frame.extend_from_slice(prefix);
    frame.extend_from_slice(payload);
    frame.push(b'}');
    match String::from_utf8(frame) {
        Ok(frame) => text(frame),
        // Both halves are JSON written by serde_json: always UTF-8.
        Err(e) => text(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Checks a subscription before anything runs: an operation that is not a subscription, or
/// that is over the cost limits, is refused (the message says why). A document that does not
/// parse passes (execution reports it) without a document.
fn screen(
    payload: &SubscribePayload,
    cost: &QueryCost,
) -> Result<Option<async_graphql::parser::types::ExecutableDocument>, String> {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    cost.check_text(&payload.query).map_err(|e| e.to_string())?;
    let Ok(document) = async_graphql::parser::parse_query(&payload.query) else {
        return Ok(None);
    };
    let name = payload.operation_name.as_deref();
    let variables = async_graphql::Variables::from_json(
        payload.variables.clone().unwrap_or(serde_json::Value::Null),
    );
    cost.analyse(&document, name, &variables)
        .map_err(|e| e.to_string())?;
    let operation = match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name),
            None => ops.values().next(),
        },
    };
    match operation {
        Some(op) if op.node.ty != OperationType::Subscription => Err(
            "only subscriptions run over websockets; send queries and mutations over HTTP".into(),
        ),
        _ => Ok(Some(document)),
    }
}

/// An `error` message for subscription `id`, in the protocol's shape.
fn error_frame(id: &str, protocol: WebSocketProtocols, error: serde_json::Value) -> Message {
    let answer = match protocol {
        WebSocketProtocols::GraphQLWS => {
            serde_json::json!({ "id": id, "type": "error", "payload": [error] })
        }
        WebSocketProtocols::SubscriptionsTransportWS => {
            serde_json::json!({ "id": id, "type": "error", "payload": error })
        }
    };
    text(answer.to_string())
}
