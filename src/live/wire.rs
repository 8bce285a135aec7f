//! The bytes of one upgraded connection, in the order they must reach the client.
//!
//! Two writers share a websocket: the connection's task (acknowledgements, pings, errors, the
//! close, deliveries that had to wait, all framed by tungstenite) and the cohorts its
//! subscriptions belong to, which write a delivery straight to the socket when nothing waits
//! before it (`Wire::send_text`), so an event reaches 10,000 subscribers without waking 10,000
//! tasks. Everything either writer could not hand to the kernel at once waits in one ordered
//! queue (`pending`), which the connection's task flushes; a cohort writes directly only while
//! that queue is empty and the task is not in the middle of a write, so frames never interleave
//! or reorder.
//!
//! Both writers run on the worker's thread (the connection's task and the cohort's task are
//! local tasks of the same worker), so the state is in cells, never held across an await.
//!
//! The queue is bounded in bytes (`max_unsent`): a client that stops reading while the server
//! still has something to say (a pong for each of its pings, deliveries) fills it, and then the
//! wire is **overflowed**: every later write fails, and the connection stops reading from the
//! client and closes (1008). Memory per connection never grows past the bound whatever the
//! client sends.

use actix_web::web::Bytes;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::WebSocketStream;

/// An upgraded connection (see `upgrade`) as the connection's task reads and writes it: its
/// writes ordered with the cohorts' direct writes.
pub type Socket = WebSocketStream<WireStream>;

/// Chunks of `pending` written in one vectored write, at most.
const WRITE_SLICES: usize = 32;

/// One connection's socket and the bytes waiting for it.
pub struct Wire {
    tcp: TcpStream,
    pending: RefCell<VecDeque<Bytes>>,
    /// Bytes in `pending`.
    pending_bytes: Cell<usize>,
    /// What `pending` may hold before the wire is overflowed.
    max_unsent: usize,
    /// The client stopped taking bytes and more piled up than `max_unsent`: the connection ends.
    overflowed: Cell<bool>,
    /// The connection's task is writing (tungstenite may hold part of a frame).
    busy: Cell<bool>,
}

/// What `Wire::send_text` did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// All of it is with the kernel.
    All,
    /// Part is with the kernel, the rest waits in `pending`: the connection's task must flush.
    Part,
    /// Nothing was written (something waits before it, or the socket is full): queue it.
    NotNow,
}

impl Wire {
    pub fn new(tcp: TcpStream, max_unsent: usize) -> Rc<Wire> {
        Rc::new(Wire {
            tcp,
            pending: RefCell::new(VecDeque::new()),
            pending_bytes: Cell::new(0),
            max_unsent,
            overflowed: Cell::new(false),
            busy: Cell::new(false),
        })
    }

    /// Bytes wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    /// More bytes waited for the client than `max_unsent`: the connection must end.
    pub fn overflowed(&self) -> bool {
        self.overflowed.get()
    }

    /// Queues `chunk` behind what waits; past the bound the wire is overflowed.
    fn queue(&self, pending: &mut VecDeque<Bytes>, chunk: Bytes) {
        let total = self.pending_bytes.get() + chunk.len();
        self.pending_bytes.set(total);
        pending.push_back(chunk);
        if total > self.max_unsent {
            self.overflowed.set(true);
        }
    }

    fn overflow_error() -> io::Error {
        io::Error::other("the client is not reading: too many unsent bytes")
    }

    /// Marks the connection's task as writing (or done): no direct writes meanwhile.
    pub fn set_busy(&self, busy: bool) {
        self.busy.set(busy);
    }

    /// Writes the text frame `head` + `body` + `tail` straight to the socket (one vectored
    /// write, no copy of `body`), if nothing waits before it. The caller writes only text it
    /// knows is UTF-8 (JSON from serde_json).
    pub fn send_text(&self, head: &[u8], body: &Bytes, tail: &[u8]) -> Sent {
        if self.busy.get() || self.has_pending() || self.overflowed() {
            return Sent::NotNow;
        }
        let len = head.len() + body.len() + tail.len();
        let (header, header_len) = frame_header(len);
        let header = &header[..header_len];
        let slices = [
            IoSlice::new(header),
            IoSlice::new(head),
            IoSlice::new(body),
            IoSlice::new(tail),
        ];
        let written = match self.tcp.try_write_vectored(&slices) {
            Ok(n) => n,
            // Full, or broken: the connection's task finds out which when it writes or reads.
            Err(_) => return Sent::NotNow,
        };
        if written == header_len + len {
            return Sent::All;
        }
        // The rest of this frame must go before anything else (past the bound, the wire is
        // overflowed and the connection ends: a frame is never cut short).
        let mut rest = written;
        let mut pending = self.pending.borrow_mut();
        for part in [header, head] {
            if rest < part.len() {
                self.queue(&mut pending, Bytes::copy_from_slice(&part[rest..]));
                rest = 0;
            } else {
                rest -= part.len();
            }
        }
        if rest < body.len() {
            self.queue(&mut pending, body.slice(rest..));
            rest = 0;
        } else {
            rest -= body.len();
        }
        if rest < tail.len() {
            self.queue(&mut pending, Bytes::copy_from_slice(&tail[rest..]));
        }
        Sent::Part
    }

    /// Writes what is pending, until it is all with the kernel.
    fn poll_flush_pending(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if !self.has_pending() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.tcp.poll_write_ready(cx))?;
            let mut pending = self.pending.borrow_mut();
            let slices: Vec<IoSlice<'_>> = pending
                .iter()
                .take(WRITE_SLICES)
                .map(|b| IoSlice::new(b))
                .collect();
            let written = match self.tcp.try_write_vectored(&slices) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            };
            drop(slices);
            self.pending_bytes
                .set(self.pending_bytes.get().saturating_sub(written));
            let mut rest = written;
            while rest > 0 {
                let Some(front) = pending.front_mut() else {
                    break;
                };
                if rest >= front.len() {
                    rest -= front.len();
                    pending.pop_front();
                } else {
                    let _ = front.split_to(rest);
                    rest = 0;
                }
            }
            if pending.is_empty() && pending.capacity() > 8 {
                pending.shrink_to(0);
            }
        }
    }
}

/// A server's (unmasked, final) text frame header for a payload of `len` bytes, as tungstenite
/// writes it: the bytes and how many of them there are.
fn frame_header(len: usize) -> ([u8; 10], usize) {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    let mut bytes = [0u8; 10];
    let mut out: &mut [u8] = &mut bytes;
    // Ten bytes hold any header without a mask: the write cannot fall short.
    let written = header.format(len as u64, &mut out).is_ok();
    let used = if written { 10 - out.len() } else { 0 };
    (bytes, used)
}

/// The connection as tungstenite sees it: reads from the socket; writes join `pending` (after
/// whatever waits there) and go out when flushed.
pub struct WireStream(pub Rc<Wire>);

impl AsyncRead for WireStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let tcp = &self.0.tcp;
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            match tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for WireStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let wire = &self.0;
        if wire.overflowed() {
            return Poll::Ready(Err(Wire::overflow_error()));
        }
        let mut rest = buf;
        if !wire.has_pending() {
            match wire.tcp.try_write(buf) {
                Ok(n) => rest = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if !rest.is_empty() {
            // What the connection's task writes between flushes is a batch, and tungstenite
            // queues a pong for every ping it reads, even while the client reads nothing: the
            // bound ends a connection whose client stopped reading.
            let chunk = Bytes::copy_from_slice(rest);
            wire.queue(&mut wire.pending.borrow_mut(), chunk);
            if wire.overflowed() {
                return Poll::Ready(Err(Wire::overflow_error()));
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush_pending(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket closes when the connection drops it.
        self.0.poll_flush_pending(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::frame_header;

    #[test]
    fn frame_headers_carry_the_length_in_the_shortest_form() {
        let (h, n) = frame_header(5);
        assert_eq!(&h[..n], &[0x81, 5]);
        let (h, n) = frame_header(126);
        assert_eq!(&h[..n], &[0x81, 126, 0, 126]);
        let (h, n) = frame_header(70_000);
        assert_eq!(&h[..n], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }
}
