//! One websocket connection, as a state machine: what can happen to it (`Input`, one `select!`
//! in `next_input`, timers first), what it is (`Phase`: awaiting its init, initialising,
//! ready), and what each input does (`Connection::step` and one function per input). It speaks
//! both protocols (`protocol`), runs the subscriptions (shared by cohorts where it can, see
//! `cohorts`) and bounds everything a client controls:
//!
//! - **Backpressure.** Deliveries wait in the connection's bounded outbox and go out only as
//!   fast as the socket takes them (all that is queued in one write). A subscription whose
//!   deliveries find the outbox full is cut off (CONFLICT, then complete) instead of memory
//!   growing; a subscription running on its own is not polled while the socket is busy, so its
//!   hub queue fills and the hub cuts it off the same way. Everything waiting for one client is
//!   bounded in bytes too (the outbox and the socket's unsent bytes, `wire`): a client that
//!   stops reading is closed with 1008, whatever it keeps sending.
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
//! - **Sessions.** Once `connection_init` is accepted the connection is bound to its session:
//!   when the session is revoked (on any instance) or the access token expires, every open
//!   subscription gets an UNAUTHENTICATED error and the socket is closed with 4401.
//! - **Order.** A connection's messages are handled in the order they came. The legacy protocol
//!   lets a client send `start` right after `connection_init` without waiting for the
//!   acknowledgement (subscriptions-transport-ws does): what follows an init still being
//!   checked waits (at most `max_subscriptions` + a few messages) and runs once it is accepted.
//! - **Protocol errors** close as graphql-transport-ws says: 4400 an unreadable message, 4401 a
//!   subscription before the acknowledgement (in graphql-transport-ws), 4403 a refused
//!   `connection_init`, 4409 an id already in use, 4429 a second `connection_init` (the legacy
//!   protocol gets `connection_error` where it has one).

mod subscriptions;

use super::cohorts::Outbox;
use super::protocol::{self as wire_protocol, ClientMessage, Protocol};
use super::sessions::SessionEnd;
use super::wire::{Socket, Wire};
use super::Worker;
use crate::errors::AppError;
use crate::services::Viewer;
use actix_web::web::Bytes;
use async_graphql::{Data, Response};
use futures_util::stream::{BoxStream, FuturesUnordered};
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use subscriptions::Sub;
use tokio::sync::oneshot;
use tokio::time::{Instant, Interval, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

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

/// What a connection runs on.
pub struct SocketContext {
    pub worker: Rc<Worker>,
    pub client_ip: Option<String>,
    /// Held for as long as the connection lives (its address slot, the open-sockets gauge).
    pub hold: Box<dyn std::any::Any>,
}

/// `connection_init`'s handler: the payload in, the connection's session out.
pub type InitFn = Box<dyn FnOnce(serde_json::Value) -> Init>;
pub type Init = Pin<Box<dyn Future<Output = Result<Initialised, AppError>>>>;
type Admission = Pin<Box<dyn Future<Output = (u64, Result<(), Response>)>>>;

/// What a connection starts with (boxed, so the connection's future holds it once).
pub struct Setup {
    pub socket: Socket,
    pub cx: SocketContext,
    pub on_init: InitFn,
    pub limits: WsLimits,
    pub protocol: Protocol,
}

/// Messages that may wait behind a `connection_init` still being checked (legacy protocol),
/// beyond the connection's subscriptions.
const HELD_SPARE: usize = 4;
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Deliveries written to the socket in one go, at most.
const WRITE_BATCH: usize = 64;

/// How the connection ends: with a close frame, or silently (the client is gone).
type Ending = Option<CloseFrame>;

/// What the connection does after an input.
enum Flow {
    Continue,
    End(Ending),
}

/// What the connection is.
enum Phase {
    /// No `connection_init` yet; its handler waits for one.
    AwaitingInit(InitFn),
    /// `connection_init` is being checked; (legacy) messages sent meanwhile wait, in order.
    Initialising { init: Init, held: VecDeque<Bytes> },
    /// Acknowledged and bound to its session.
    Ready(Box<Initialised>),
    /// A transition is under way (never seen between inputs).
    Switching,
}

/// What woke the connection.
enum Input {
    Shutdown,
    InitDeadline,
    Expired,
    SessionEnded(Option<SessionEnd>),
    Ping,
    Client(Option<Result<Message, WsError>>),
    Deliveries,
    Initialised(Result<Initialised, AppError>),
    Admitted(u64, Result<(), Response>),
    Own(u64, Option<Response>),
}

/// The connection's timers and outside signals (apart from the socket and the subscriptions).
struct Clocks {
    shutdown: Pin<Box<dyn Future<Output = ()>>>,
    init_deadline: Pin<Box<Sleep>>,
    expiry: Pin<Box<Sleep>>,
    ended: Option<oneshot::Receiver<SessionEnd>>,
    pings: Interval,
    last_heard: Instant,
    rate: MessageRate,
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

struct Connection {
    protocol: Protocol,
    limits: WsLimits,
    cx: SocketContext,
    phase: Phase,
    subs: HashMap<u64, Sub>,
    serial_of: HashMap<String, u64>,
    next_serial: u64,
    own: HashMap<u64, BoxStream<'static, Response>>,
    admissions: FuturesUnordered<Admission>,
    outbox: Rc<Outbox>,
    /// Three keep-alive intervals: how long the client may stay silent or not take a message.
    silence: Duration,
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
    let wire = socket.get_ref().0.clone();
    let mut conn = Connection {
        protocol,
        limits,
        cx,
        phase: Phase::AwaitingInit(on_init),
        subs: HashMap::new(),
        serial_of: HashMap::new(),
        next_serial: 0,
        own: HashMap::new(),
        admissions: FuturesUnordered::new(),
        // The socket's write side, shared with the cohorts the subscriptions join.
        outbox: Outbox::new(limits.outbox, limits.outbox_bytes, wire.clone()),
        silence: limits.keepalive * 3,
    };
    let mut pings = tokio::time::interval(limits.keepalive);
    pings.reset();
    let mut clocks = Clocks {
        shutdown,
        init_deadline: Box::pin(tokio::time::sleep(limits.init_timeout)),
        expiry: Box::pin(tokio::time::sleep(Duration::from_secs(365 * 24 * 3600))),
        ended: None,
        pings,
        last_heard: Instant::now(),
        rate: MessageRate::new(&limits),
    };
    let close: Ending = loop {
        if wire.overflowed() {
            break Some(not_reading());
        }
        let input = next_input(&mut socket, &mut conn, &mut clocks).await;
        match Box::pin(conn.step(&mut socket, &mut clocks, input)).await {
            Flow::Continue => {}
            Flow::End(ending) => break ending,
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

/// Waits for the next input. Timers first: they are cheap to poll and no amount of client
/// input may starve them (a client streaming pings must still meet its init deadline). Then
/// what the client sends (only ready when it sent something), then deliveries, which nearly
/// every wake-up is for; the rest is rare.
async fn next_input(socket: &mut Socket, conn: &mut Connection, clocks: &mut Clocks) -> Input {
    let outbox = conn.outbox.clone();
    let ready = matches!(conn.phase, Phase::Ready(_));
    let initialising = matches!(conn.phase, Phase::Initialising { .. });
    tokio::select! {
        biased;
        () = clocks.shutdown.as_mut() => Input::Shutdown,
        () = clocks.init_deadline.as_mut(), if !ready => Input::InitDeadline,
        () = clocks.expiry.as_mut(), if ready => Input::Expired,
        end = async { clocks.ended.as_mut()?.await.ok() }, if clocks.ended.is_some() => {
            Input::SessionEnded(end)
        }
        _ = clocks.pings.tick() => Input::Ping,
        incoming = socket.next() => Input::Client(incoming),
        () = std::future::poll_fn(|cx| {
            outbox.register(cx.waker());
            if outbox.is_idle() { Poll::Pending } else { Poll::Ready(()) }
        }) => Input::Deliveries,
        initialised = std::future::poll_fn(|cx| match &mut conn.phase {
            Phase::Initialising { init, .. } => init.as_mut().poll(cx),
            _ => Poll::Pending,
        }), if initialising => Input::Initialised(initialised),
        Some((serial, result)) = conn.admissions.next(), if !conn.admissions.is_empty() => {
            Input::Admitted(serial, result)
        }
        (serial, response) = std::future::poll_fn(|cx| poll_own(&mut conn.own, cx)) => {
            Input::Own(serial, response)
        }
    }
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

impl Connection {
    /// What `input` does to the connection.
    async fn step(&mut self, socket: &mut Socket, clocks: &mut Clocks, input: Input) -> Flow {
        match input {
            Input::Shutdown => Flow::End(Some(wire_protocol::reason(
                CloseCode::Away,
                "the server is restarting".into(),
            ))),
            Input::InitDeadline => Flow::End(Some(wire_protocol::reason(
                wire_protocol::INIT_TIMEOUT.into(),
                "Connection initialisation timeout".into(),
            ))),
            Input::Expired => self.session_ended(socket, Some(SessionEnd::Expired)).await,
            Input::SessionEnded(end) => {
                clocks.ended = None;
                self.session_ended(socket, end).await
            }
            Input::Ping => self.keep_alive(socket, clocks).await,
            Input::Client(incoming) => {
                clocks.last_heard = Instant::now();
                if !clocks.rate.spend() {
                    return Flow::End(Some(wire_protocol::reason(
                        CloseCode::Policy,
                        "too many messages".into(),
                    )));
                }
                self.client_sent(socket, incoming).await
            }
            Input::Deliveries => ended(self.drain(socket).await),
            Input::Initialised(result) => self.initialised(socket, clocks, result).await,
            Input::Admitted(serial, result) => {
                let replies = self.admitted(serial, result);
                ended(write_all(socket, replies, self.silence).await)
            }
            Input::Own(serial, response) => {
                let replies = self.own_item(serial, response);
                ended(write_all(socket, replies, self.silence).await)
            }
        }
    }

    /// A keep-alive tick: a client silent for three intervals is gone; else it is pinged.
    async fn keep_alive(&mut self, socket: &mut Socket, clocks: &Clocks) -> Flow {
        if clocks.last_heard.elapsed() >= self.silence {
            return Flow::End(Some(wire_protocol::reason(
                CloseCode::Away,
                "no answer to pings".into(),
            )));
        }
        let ping = vec![Message::Ping(Bytes::new())];
        ended(write_all(socket, ping, self.silence).await)
    }

    /// A frame (or the end) from the client.
    async fn client_sent(
        &mut self,
        socket: &mut Socket,
        incoming: Option<Result<Message, WsError>>,
    ) -> Flow {
        let message = match incoming {
            Some(Ok(Message::Text(text))) => Bytes::from(text),
            Some(Ok(Message::Binary(bytes))) => bytes,
            // The codec answers pings itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                return Flow::Continue
            }
            Some(Ok(Message::Close(_))) | None => return Flow::End(None),
            Some(Err(WsError::Capacity(e))) => {
                return Flow::End(Some(wire_protocol::reason(CloseCode::Size, e.to_string())))
            }
            Some(Err(WsError::Protocol(e))) => {
                return Flow::End(Some(wire_protocol::reason(
                    CloseCode::Protocol,
                    e.to_string(),
                )))
            }
            Some(Err(WsError::Utf8)) => {
                return Flow::End(Some(wire_protocol::reason(
                    CloseCode::Invalid,
                    "text frames are UTF-8".into(),
                )))
            }
            Some(Err(_)) if socket.get_ref().0.overflowed() => {
                return Flow::End(Some(not_reading()))
            }
            Some(Err(_)) => return Flow::End(None),
        };
        if let (true, Phase::Initialising { held, .. }) =
            (self.protocol.is_legacy(), &mut self.phase)
        {
            // Legacy clients start subscriptions before the acknowledgement: they run, in
            // order, once the init is accepted.
            if held.len() >= self.limits.max_subscriptions + HELD_SPARE {
                return Flow::End(Some(wire_protocol::reason(
                    CloseCode::Policy,
                    "too many messages before the connection was acknowledged".into(),
                )));
            }
            held.push_back(message);
            return Flow::Continue;
        }
        ended(self.handle(socket, &message).await)
    }

    /// The init was checked: acknowledged (then what waited behind it runs), or refused.
    async fn initialised(
        &mut self,
        socket: &mut Socket,
        clocks: &mut Clocks,
        result: Result<Initialised, AppError>,
    ) -> Flow {
        let held = match std::mem::replace(&mut self.phase, Phase::Switching) {
            Phase::Initialising { held, .. } => held,
            other => {
                self.phase = other;
                return Flow::Continue;
            }
        };
        let mut session = match result {
            Ok(session) => session,
            Err(e) => {
                let (close, frames) = self.protocol.init_refused(e.message());
                let _ = write_all(socket, frames, self.silence).await;
                return Flow::End(Some(close));
            }
        };
        clocks.expiry.as_mut().reset(session.binding.expires_at);
        let (_, dead) = oneshot::channel();
        clocks.ended = Some(std::mem::replace(&mut session.binding.ended, dead));
        // `binding.hold` stays with the session for the connection's life.
        self.phase = Phase::Ready(Box::new(session));
        if let Err(end) = write_all(socket, vec![wire_protocol::ack()], self.silence).await {
            return Flow::End(end);
        }
        for message in held {
            if let Err(end) = Box::pin(self.handle(socket, &message)).await {
                return Flow::End(end);
            }
        }
        Flow::Continue
    }

    /// Handles one client message and writes its answers.
    async fn handle(&mut self, socket: &mut Socket, message: &[u8]) -> Result<(), Ending> {
        match self.receive(message) {
            Ok(replies) => write_all(socket, replies, self.silence).await,
            Err((end, frames)) => {
                let _ = write_all(socket, frames, self.silence).await;
                Err(end)
            }
        }
    }

    /// Handles a client message: the frames to answer with, or how the connection ends (with
    /// frames to send first).
    fn receive(&mut self, message: &[u8]) -> Result<Vec<Message>, (Ending, Vec<Message>)> {
        let message: ClientMessage = match serde_json::from_slice(message) {
            Ok(m) => m,
            Err(e) => {
                return Err((
                    Some(wire_protocol::reason(
                        wire_protocol::BAD_REQUEST.into(),
                        format!("Invalid message received: {e}"),
                    )),
                    vec![],
                ))
            }
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.init(payload.unwrap_or_default()),
            ClientMessage::Ping {} => Ok(vec![wire_protocol::pong()]),
            ClientMessage::Pong {} => Ok(vec![]),
            ClientMessage::ConnectionTerminate => Err((
                Some(wire_protocol::reason(CloseCode::Normal, String::new())),
                vec![],
            )),
            ClientMessage::Complete { id } => {
                let Some(serial) = self.serial_of.remove(&id) else {
                    return Ok(vec![]);
                };
                self.subs.remove(&serial);
                self.own.remove(&serial);
                Ok(vec![wire_protocol::complete(&id)])
            }
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload),
        }
    }

    /// `connection_init`: the first starts checking the session; any other ends the connection.
    fn init(&mut self, payload: serde_json::Value) -> Result<Vec<Message>, (Ending, Vec<Message>)> {
        match std::mem::replace(&mut self.phase, Phase::Switching) {
            Phase::AwaitingInit(on_init) => {
                self.phase = Phase::Initialising {
                    init: on_init(payload),
                    held: VecDeque::new(),
                };
                Ok(vec![])
            }
            other => {
                self.phase = other;
                let (close, frames) = self.protocol.too_many_inits();
                Err((Some(close), frames))
            }
        }
    }

    /// The session ended (revoked, or its token expired): an UNAUTHENTICATED error for every
    /// open subscription, then close with 4401.
    async fn session_ended(&mut self, socket: &mut Socket, end: Option<SessionEnd>) -> Flow {
        let Some(end) = end else {
            return Flow::Continue;
        };
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
            .map(|sub| self.protocol.error(&sub.id, error.clone()))
            .collect();
        let _ = write_all(socket, frames, self.silence).await;
        Flow::End(Some(wire_protocol::reason(
            wire_protocol::UNAUTHORIZED.into(),
            message.into(),
        )))
    }
}

/// A write's outcome as the connection's next step.
fn ended(written: Result<(), Ending>) -> Flow {
    match written {
        Ok(()) => Flow::Continue,
        Err(end) => Flow::End(end),
    }
}

/// The close of a client that stopped reading while the server had bytes for it.
fn not_reading() -> CloseFrame {
    wire_protocol::reason(
        CloseCode::Policy,
        "the client is not reading its messages".into(),
    )
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
        Err(_) => Err(Some(wire_protocol::reason(
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
