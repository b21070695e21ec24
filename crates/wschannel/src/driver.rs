//! [`Core`]: one connection's transport, buffers, protocol state and timer, driven from the
//! polls of whoever owns it (a [`Channel`](crate::Channel), or the lock its split halves share).
//!
//! Ownership and wakeups:
//! - `Core` owns the transport `S`, a read buffer, a write buffer, the sans-IO [`Connection`]
//!   and one lazily created timer. Nothing is spawned and nothing is locked here.
//! - Every poll (`poll_next`, `poll_ready`, `poll_flush`, `poll_close`) runs [`Core::drive`]:
//!   it writes what is queued (the user's messages and what the protocol owes the peer: pongs,
//!   the close reply), reads while the byte budget allows, and fires the timer. Each of those
//!   registers the caller's waker with the transport or the timer, so the task that polls is
//!   the task that is woken. A connection that nobody polls does nothing: pongs and close
//!   replies go out at the next poll of any kind.
//! - Reading pauses while unread payload (queued messages plus the message in assembly)
//!   reaches the read budget, or while the peer has made us queue more replies than
//!   `write_buffer_size` without reading them. The write buffer is bounded by the sender's
//!   backpressure (`poll_ready`).
//! - Buffers: a connection that waits for its transport gives every empty buffer (read,
//!   write, the connection's output) to a per-thread pool, so an idle connection holds none,
//!   and takes them back when traffic comes (no allocation in steady state). A server's large
//!   payloads (from [`VECTORED_MIN`]) are written from the message's own memory, header and
//!   payload in one vectored write (see `wschannel_proto::Outgoing`).
//! - Reads: a frame that completes in the read buffer leaves it as the message without a copy.
//!   Once a large frame (from [`ALIGN_MIN`]) was cut by the end of a read, reads end on the
//!   boundaries of frames of that size, so that a stream of equal large messages is never cut
//!   and copied to a larger buffer.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::Instant;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use wschannel_proto::{
    CloseCode, Config, Connection, Event, Extension, Message, Outgoing, Role, State,
};

use crate::error::Error;
use crate::pool;

/// The read buffer's starting size: a 4 KiB message with its header fits, so that it is
/// handed out without a copy.
const READ_MIN: usize = 8 << 10;
/// The largest read asked of the transport at once: a burst of pipelined messages is read
/// (and its echoes written) in one system call each.
const READ_MAX: usize = 128 << 10;
/// Bytes read in one turn (between two `Pending`s) after which the channel yields to the
/// runtime before reading more, so that a connection whose peer keeps sending does not keep
/// the others waiting (and the next turn reads a larger burst).
const TURN_BYTES: usize = 256 << 10;
/// Replies queued up to this many bytes wait while the reader takes in the rest of a burst;
/// beyond it they are written first.
const REPLY_BATCH: usize = 32 << 10;
/// Below this much spare capacity the read buffer is refilled before reading.
const READ_SPARE_MIN: usize = 512;
/// Frames of at least this wire size (up to [`READ_MAX`]) that arrive cut by the end of a read
/// make the next reads end on the boundaries of frames of that size (see `poll_read_in`).
const ALIGN_MIN: usize = 8 << 10;
/// A server's data payloads from this size on are written from the message's own memory,
/// header and payload in one vectored write, instead of being copied into the write buffer
/// (when the transport writes vectored).
const VECTORED_MIN: usize = 8 << 10;
/// At most this many slices per vectored write.
const MAX_SLICES: usize = 64;

/// The frame size reads align to, for a frame of `len` bytes on the wire cut by a read: itself
/// from [`ALIGN_MIN`] to [`READ_MAX`], otherwise none (0).
fn align_unit(len: usize) -> usize {
    if (ALIGN_MIN..=READ_MAX).contains(&len) {
        len
    } else {
        0
    }
}

/// The clock the connection is given. Tokio's, so that `tokio::time::pause` also pauses the
/// protocol's keepalive and close timers.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Which comes first in a round of I/O.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// For the reader: read a whole burst, then write the replies to it at once.
    ReadFirst,
    /// For the sender: make room first, then take in what arrived.
    WriteFirst,
}

/// What [`Core::poll_message`] yields.
pub(crate) enum Item {
    Message(Message),
    Error(Error),
}

/// One connection: transport, buffers, protocol state, timer. See the module docs.
pub(crate) struct Core<S: AsyncRead + AsyncWrite + Unpin> {
    io: S,
    pub(crate) conn: Connection,
    /// Bytes read and not yet consumed by the connection.
    rbuf: BytesMut,
    /// How much the next refill of `rbuf` asks for: grows when reads fill it, shrinks when
    /// they don't (as hyper's adaptive read strategy).
    read_size: usize,
    /// About how large the read buffer's allocation is (for releasing it when quiet).
    rbuf_alloc: usize,
    /// Nothing was read into `rbuf` since it was rewound to the front of its allocation (as
    /// far as the messages pointing into it allowed): no need to try again.
    rbuf_rewound: bool,
    /// The wire size of the last large frame a read cut (0: none, or the last one cut was
    /// small or larger than `READ_MAX`): reads end on the boundaries of frames of this size.
    frame_unit: usize,
    /// Bytes read since the transport last said `Pending` or the channel last yielded.
    turn_bytes: usize,

    /// Bytes taken from the connection and not yet written (large payloads by reference).
    wbuf: Outgoing,
    needs_flush: bool,
    read_eof: bool,
    /// The transport said `Pending` to a read during this call (its waker is registered): no
    /// need to ask again before the call returns. Cleared at every entry point, because the
    /// next call may come with another waker.
    read_parked: bool,
    /// Bytes the peer made us queue (pongs, the close reply) since the output was last empty.
    owed: usize,
    /// Reading pauses while unread payload reaches this many bytes.
    read_budget: usize,
    write_buffer_size: usize,
    /// The connection's timer (keepalive, close timeout) or, once finished, the bound on the
    /// final flush and shutdown; created the first time a deadline exists.
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<Instant>,
    /// The waker the timer last registered while armed for `timer_at`.
    timer_waker: Option<Waker>,
    finish_deadline: Option<Instant>,
    /// The transport failed; delivered to the reader after the messages before it.
    io_error: Option<io::Error>,
    /// The transport is shut down or failed: no more I/O.
    pub(crate) transport_done: bool,
    /// Nobody reads events any more (the receiving half was dropped): discard them.
    pub(crate) discard: bool,
    /// Counters the split halves compare to know whether to wake each other.
    pub(crate) read_epoch: u64,
    pub(crate) write_epoch: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Core<S> {
    /// A core for a transport whose opening handshake is done; `leftover` holds bytes read past
    /// the handshake (the first frames); `extension` is what the handshake negotiated.
    pub(crate) fn new(
        io: S,
        role: Role,
        config: Config,
        mut leftover: BytesMut,
        extension: Option<Box<dyn Extension>>,
    ) -> Self {
        let now = now();
        let mut conn = Connection::new(role, config.clone(), now);
        if let Some(ext) = extension {
            conn.set_extension(ext);
        }
        // Unfragmented frames complete in the read buffer and leave it without a copy.
        conn.set_in_place_limit(config.max_frame_size);
        if io.is_write_vectored() {
            conn.set_vectored_min(VECTORED_MIN);
        }
        if !leftover.is_empty() {
            conn.handle_read(now, &mut leftover);
        }
        if leftover.is_empty() {
            // Let the handshake's buffer go.
            leftover = BytesMut::new();
        }
        Core {
            io,
            conn,
            rbuf: leftover,
            read_size: READ_MIN,
            rbuf_alloc: 0,
            rbuf_rewound: false,
            frame_unit: 0,
            turn_bytes: 0,
            wbuf: Outgoing::new(),
            needs_flush: false,
            read_eof: false,
            read_parked: false,
            owed: 0,
            // Never smaller than one maximum-size message, so that one always fits.
            read_budget: config.max_message_size.max(READ_MAX),
            write_buffer_size: config.write_buffer_size.max(1),
            timer: None,
            timer_at: None,
            timer_waker: None,
            finish_deadline: None,
            io_error: None,
            transport_done: false,
            discard: false,
            read_epoch: 0,
            write_epoch: 0,
        }
    }

    /// The next message or error; `None` once the connection is over and the transport shut
    /// down (or given up on).
    pub(crate) fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.read_parked = false;
        loop {
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Message(m) => {
                        if self.discard {
                            continue;
                        }
                        self.write_owed(cx);
                        return Poll::Ready(Some(Item::Message(m)));
                    }
                    Event::Error(e) => return Poll::Ready(Some(Item::Error(Error::Protocol(e)))),
                    // The stream ends once the transport is done with; keep driving until then.
                    Event::Closed(_) => {}
                }
            }
            if let Some(e) = self.io_error.take() {
                return Poll::Ready(Some(Item::Error(Error::Io(e))));
            }
            if self.transport_done {
                return Poll::Ready(None);
            }
            ready!(self.drive(cx, Order::ReadFirst));
        }
    }

    /// Ready when a message may be queued: the write buffer is under `write_buffer_size`.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.read_parked = false;
        loop {
            if self.transport_done || !self.conn.is_open() {
                return Poll::Ready(Err(Error::Closed));
            }
            if self.unwritten() < self.write_buffer_size {
                return Poll::Ready(Ok(()));
            }
            ready!(self.drive(cx, Order::WriteFirst));
        }
    }

    /// Queues a message (call after `poll_ready`).
    pub(crate) fn start_send(&mut self, msg: Message) -> Result<(), Error> {
        if !self.conn.has_output_buffer() {
            // A quiet connection gave its buffers back (see release_when_quiet).
            self.conn.give_output_buffer(pool::take(0));
        }
        let is_close = matches!(msg, Message::Close(_));
        self.conn.send(msg)?;
        if is_close {
            self.conn.arm_close_timer(now());
        }
        Ok(())
    }

    /// Writes and flushes everything queued; processes what arrived meanwhile (within the
    /// budget), so that a user who only sends still answers pings.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.read_parked = false;
        loop {
            let progress = self.drive(cx, Order::WriteFirst);
            if self.is_flushed() {
                return Poll::Ready(Ok(()));
            }
            if self.transport_done {
                // The transport is gone with bytes unwritten.
                return Poll::Ready(Err(Error::Closed));
            }
            ready!(progress);
        }
    }

    /// Drives the connection until the transport is done, discarding what arrives: the end
    /// of `close`.
    pub(crate) fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.read_parked = false;
        loop {
            while self.conn.poll_event().is_some() {}
            self.io_error = None;
            if self.transport_done {
                return Poll::Ready(());
            }
            ready!(self.drive(cx, Order::WriteFirst));
        }
    }

    /// Drives the connection until the transport is done, keeping what arrives for the reader
    /// (within the read budget): the end of a split sender's `close`.
    pub(crate) fn poll_transport_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.read_parked = false;
        loop {
            if self.transport_done {
                return Poll::Ready(());
            }
            ready!(self.drive(cx, Order::WriteFirst));
        }
    }

    /// Starts a normal close (1000) if the connection is still open.
    pub(crate) fn close_normal(&mut self) {
        if self.conn.is_open() {
            // RFC 6455 §7.1.2: a normal close; the empty reason always fits.
            let _ = self.conn.close(now(), CloseCode::NORMAL, "");
        }
    }

    /// What the protocol owes the peer (a pong, the close reply) goes out before the message
    /// that came with it is handed over, without waiting: the caller may not poll again soon.
    /// The user's own queued messages are written with it only then, so an echo loop still
    /// writes once per burst.
    fn write_owed(&mut self, cx: &mut Context<'_>) {
        if self.owed > 0 && !self.transport_done {
            if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                let _ = self.fail(e);
            }
        }
    }

    /// Bytes queued and not yet written.
    fn unwritten(&self) -> usize {
        self.wbuf.len() + self.conn.buffered()
    }

    fn is_flushed(&self) -> bool {
        self.unwritten() == 0 && !self.needs_flush
    }

    /// One round of I/O: write, read (when `read` and the budget allow), timer, finish.
    /// `Ready` when anything happened (poll again), `Pending` when every source registered
    /// the waker.
    fn drive(&mut self, cx: &mut Context<'_>, order: Order) -> Poll<()> {
        if self.transport_done {
            return Poll::Ready(());
        }
        let mut progress = false;

        // Payloads queued by reference may point into the read buffer: write them first, so
        // that the read buffer is free again for the next read.
        let read_first = order == Order::ReadFirst
            && self.unwritten() < REPLY_BATCH
            && !self.wbuf.has_bodies()
            && !self.conn.has_queued_bodies();
        if read_first && !self.read_parked && self.may_read() {
            // The reader wants messages: read until the transport has nothing more (or the
            // turn is over) before writing, so the replies to a whole burst go out together.
            match self.poll_read_in(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(()),
                Poll::Ready(Err(e)) => return self.fail(e),
                Poll::Pending => {}
            }
        }

        let mut wrote = false;
        match self.poll_write_out(cx) {
            Poll::Ready(Ok(w)) => wrote = w,
            Poll::Ready(Err(e)) => return self.fail(e),
            Poll::Pending => {}
        }

        if !read_first && !self.read_parked && self.may_read() {
            match self.poll_read_in(cx) {
                Poll::Ready(Ok(())) => progress = true,
                Poll::Ready(Err(e)) => return self.fail(e),
                Poll::Pending => {}
            }
        }

        if self.poll_timer(cx).is_ready() {
            progress = true;
        }
        // Bytes written are progress for a sender (room in the buffer, a flush done) and for a
        // reader whose read waits on them (the budget for replies owed). A reader whose read
        // is parked on the transport has nothing new to look at: one round less per message.
        if wrote && !(order == Order::ReadFirst && self.read_parked) {
            progress = true;
        }

        if self.conn.state() == State::Finished && !progress {
            // Flush the last bytes, shut the write side down, done. Bounded by the timer.
            if self.finish_deadline.is_none() {
                self.finish_deadline = Some(now() + self.conn.config().close_timeout);
                return Poll::Ready(());
            }
            if self.is_flushed() && Pin::new(&mut self.io).poll_shutdown(cx).is_ready() {
                return self.finish();
            }
        }

        if progress {
            Poll::Ready(())
        } else {
            self.release_when_quiet();
            Poll::Pending
        }
    }

    /// Whether to read now: not at EOF, the connection takes input, and the budgets allow.
    fn may_read(&self) -> bool {
        if self.read_eof {
            return false;
        }
        match self.conn.state() {
            // Read backpressure: unread payload, or a peer that makes us queue replies (pongs,
            // RFC 6455 §5.5.2) faster than it reads them. The user's own sends do not count:
            // two peers sending bulk data at once must both keep reading.
            State::Open | State::CloseSent => {
                (self.discard || self.conn.unread_bytes() < self.read_budget)
                    && self.owed <= self.write_buffer_size
            }
            // The closing handshake is over and input is discarded: a client keeps reading to
            // see the server's EOF (RFC 6455 §7.1.1).
            State::Closed => true,
            State::Finished => false,
        }
    }

    /// Writes what is queued, then flushes. `Ready(Ok(true))` when bytes moved.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut wrote = false;
        loop {
            if self.wbuf.is_empty() {
                if self.conn.buffered() == 0 {
                    break;
                }
                // Swaps buffers with the connection (see poll_transmit); `wbuf` may have none.
                self.conn.poll_transmit_vectored(&mut self.wbuf);
            }
            let io = Pin::new(&mut self.io);
            let written = if self.wbuf.has_bodies() {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = self.wbuf.chunks_vectored(&mut slices);
                io.poll_write_vectored(cx, &slices[..n])
            } else {
                io.poll_write(cx, self.wbuf.chunk())
            };
            match written {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.wbuf.advance(n);
                    self.needs_flush = true;
                    wrote = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if self.wbuf.is_empty() && self.needs_flush {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if self.is_flushed() {
            self.owed = 0;
        }
        if wrote {
            self.write_epoch += 1;
            Poll::Ready(Ok(true))
        } else if self.is_flushed() {
            Poll::Ready(Ok(false))
        } else {
            Poll::Pending
        }
    }

    /// Reads once into the spare capacity of the read buffer and feeds the connection.
    fn poll_read_in(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.turn_bytes >= TURN_BYTES {
            // Fairness: enough for one turn. Let the other tasks run; come back at once.
            self.turn_bytes = 0;
            self.read_parked = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.rbuf.capacity() == 0 {
            self.rbuf = pool::take(self.read_size);
            self.rbuf_alloc = self.rbuf.capacity();
            self.rbuf_rewound = true;
        } else if self.rbuf.is_empty() && !self.rbuf_rewound {
            // Everything was consumed: start again at the front of the allocation when no
            // message points into it (no copy, no allocation), so that a frame that fits the
            // buffer arrives whole and is handed out without a copy.
            let _ = self.rbuf.try_reclaim(self.rbuf.capacity() + 1);
            self.rbuf_rewound = true;
        }
        let spare = self.rbuf.capacity() - self.rbuf.len();
        let missing = self.conn.read_hint();
        // The size to align to: the frame completing in place, if there is one (so that
        // `missing` <= `unit` <= `READ_MAX`), else the last one a read cut.
        let unit = match missing {
            0 => self.frame_unit,
            _ => align_unit(self.conn.in_place_frame_len()),
        };
        let mut limit = usize::MAX;
        if unit != 0 && (missing > 0 || self.rbuf.is_empty()) {
            // Large frames of one size (a stream of 64 KiB messages, say): a read that fills
            // whatever room the buffer has cuts the last frame, and that frame's bytes must then
            // move to a larger buffer (about a whole frame copied per buffer filled, measured
            // with callgrind: the largest user-space cost at 64 KiB). So read to the end of the
            // frame completing in place plus whole frames of the same size: when the sizes
            // repeat, every read ends on a frame boundary and nothing is copied; when they do
            // not, the next in-place frame sets the new size. Bounded: at most about two
            // `READ_MAX` reserved ahead of the bytes.
            let want = missing + (READ_MAX / unit).max(1) * unit;
            if spare >= want || self.rbuf.is_empty() || spare < missing {
                // An empty buffer moves nothing; a frame that does not fit moves anyway.
                self.rbuf.reserve(want);
                self.rbuf_alloc = self.rbuf.capacity();
                limit = want;
            } else {
                // The rest of this frame fits: read it and the whole frames that fit after it.
                limit = missing + (spare - missing) / unit * unit;
            }
        } else if missing > spare {
            // A frame completing in place: room for the rest of it, but never more than double
            // what has arrived (a declared length costs nothing until its bytes come).
            self.rbuf.reserve(missing.min(self.rbuf.len().max(READ_MAX)));
            self.rbuf_alloc = self.rbuf.capacity();
        } else if spare < READ_SPARE_MIN.max(self.read_size / 2) {
            // Reclaims the buffer in place when no message still points into it (asking for no
            // more than its size, so that a partial frame left in it does not force a new one).
            let want = self.read_size.saturating_sub(self.rbuf.len()).max(READ_SPARE_MIN);
            self.rbuf.reserve(want);
            self.rbuf_alloc = self.rbuf.capacity();
        }
        let spare = (self.rbuf.capacity() - self.rbuf.len()).min(limit);
        // `limit` > 0 (`usize::MAX`, or a positive `want` or `missing`): a read of 0 still
        // means EOF.
        let mut dst = (&mut self.rbuf).limit(limit);
        let poll = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut dst);
        match poll {
            Poll::Ready(Ok(0)) => {
                self.read_eof = true;
                self.conn.handle_eof();
            }
            Poll::Ready(Ok(n)) => {
                self.rbuf_rewound = false;
                self.turn_bytes += n;
                self.adapt_read_size(n, spare);
                let before = self.conn.buffered();
                self.conn.handle_read(now(), &mut self.rbuf);
                self.owed += self.conn.buffered().saturating_sub(before);
                let cut = self.conn.in_place_frame_len();
                if cut != 0 {
                    self.frame_unit = align_unit(cut);
                }
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                self.turn_bytes = 0;
                self.read_parked = true;
                return Poll::Pending;
            }
        }
        self.read_epoch += 1;
        if self.discard {
            while self.conn.poll_event().is_some() {}
        }
        Poll::Ready(Ok(()))
    }

    /// Waiting for the transport: give every empty buffer (read, write, the connection's
    /// output) to the per-thread pool, so that an idle connection holds none. The next message
    /// takes them back from the pool, without allocating.
    ///
    /// Measured with bench/run, 100 connections x 64 KiB: giving them back at once (the pool
    /// hands the same warm memory to the next connection) did 34k messages per CPU second,
    /// keeping them for a second of quiet 24.5k (each connection's own cold buffers).
    fn release_when_quiet(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            let rbuf = std::mem::take(&mut self.rbuf);
            if self.rbuf_rewound {
                pool::give_rewound(rbuf);
            } else {
                pool::give(rbuf);
            }
            self.rbuf_alloc = 0;
        }
        // Write buffers are never advanced (see `Outgoing`): no rewinding needed.
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            pool::give_rewound(self.wbuf.take_buffer());
        }
        if let Some(buf) = self.conn.take_output_buffer() {
            pool::give_rewound(buf);
        }
        self.conn.release_buffers();
    }

    fn adapt_read_size(&mut self, n: usize, spare: usize) {
        if n == spare && 2 * n >= self.read_size {
            self.read_size = (self.read_size * 2).min(READ_MAX);
        } else if n < self.read_size / 8 {
            self.read_size = (self.read_size / 2).max(READ_MIN);
        }
    }

    /// Fires the connection's timer (or, once finished, the bound on finishing).
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let due = match self.conn.state() {
            State::Finished => self.finish_deadline,
            _ => self.conn.poll_timeout(),
        };
        let Some(deadline) = due else {
            return Poll::Pending;
        };
        // Lazy: a deadline that moved later (keepalive after every read) leaves the timer
        // where it is; when it fires early the connection finds nothing due and it is re-armed.
        let timer = self.timer.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)))
        });
        let same_waker = self.timer_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        match self.timer_at {
            Some(at) if at <= deadline => {
                // Still armed with this task's waker (keepalive: every round comes here): polling
                // again would only register the same waker.
                if same_waker && !timer.is_elapsed() {
                    return Poll::Pending;
                }
            }
            _ => {
                timer.as_mut().reset(tokio::time::Instant::from_std(deadline));
                self.timer_at = Some(deadline);
            }
        }
        if timer.as_mut().poll(cx).is_pending() {
            if !same_waker {
                self.timer_waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        self.timer_at = None;
        let now = now();
        if now < deadline {
            // Fired for an earlier deadline that has since moved: re-arm on the next round.
            return Poll::Ready(());
        }
        if self.conn.state() == State::Finished {
            tracing::debug!("websocket gave up flushing after close_timeout");
            return self.finish();
        } else {
            self.conn.handle_timeout(now);
            self.read_epoch += 1;
        }
        Poll::Ready(())
    }

    /// The transport failed: the reader gets the error after what arrived before it.
    fn fail(&mut self, e: io::Error) -> Poll<()> {
        if self.conn.state() != State::Finished {
            tracing::debug!(error = %e, "websocket transport failed");
            self.io_error = Some(e);
            self.conn.handle_eof();
        }
        self.finish()
    }

    fn finish(&mut self) -> Poll<()> {
        if self.conn.state() != State::Finished {
            // Gave up: record the abnormal close so the user learns how it ended.
            self.conn.handle_eof();
        }
        self.transport_done = true;
        self.timer = None;
        pool::give(std::mem::take(&mut self.rbuf));
        pool::give(self.wbuf.take_buffer());
        self.read_epoch += 1;
        self.write_epoch += 1;
        Poll::Ready(())
    }

    /// Starts the closing handshake with `code` and `reason` (RFC 6455 §7.1.2).
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(now(), code, reason)?;
        Ok(())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Drop for Core<S> {
    /// Best effort without a task to finish in: queue a normal close if the connection is
    /// open and try once, without waiting, to write it and shut the transport down.
    fn drop(&mut self) {
        if self.transport_done {
            return;
        }
        self.close_normal();
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        if let Poll::Ready(Ok(_)) = self.poll_write_out(&mut cx) {
            if self.is_flushed() {
                let _ = Pin::new(&mut self.io).poll_shutdown(&mut cx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A client frame masked with the key 0 (so the payload goes as it is).
    fn frame(len: usize, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x82, 0x80 | 127];
        f.extend_from_slice(&(len as u64).to_be_bytes());
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(payload);
        f
    }

    async fn next_len(core: &mut Core<tokio::io::DuplexStream>) -> usize {
        match std::future::poll_fn(|cx| core.poll_message(cx)).await {
            Some(Item::Message(m)) => m.len(),
            _ => panic!("expected a message"),
        }
    }

    /// Reads aligned to large frames reserve at most the rest of the frame being read plus
    /// `READ_MAX`; a far larger declared frame after them reserves no more than before there
    /// was alignment (about what arrived, doubling): the declared length costs nothing until
    /// its bytes come.
    #[tokio::test]
    async fn room_reserved_ahead_stays_bounded_when_frame_sizes_change() {
        let (ours, mut peer) = tokio::io::duplex(4 << 20);
        let mut core = Core::new(ours, Role::Server, Config::default(), BytesMut::new(), None);
        let big = vec![7u8; 64 << 10];
        let (a, b) = (frame(big.len(), &big), frame(big.len(), &big));
        // A whole, B cut after 1000 bytes: reads now align to 64 KiB frames.
        peer.write_all(&a).await.unwrap();
        peer.write_all(&b[..1000]).await.unwrap();
        assert_eq!(next_len(&mut core).await, 64 << 10);
        assert_eq!(core.frame_unit, b.len());
        assert!(core.rbuf.capacity() <= b.len() + READ_MAX, "{}", core.rbuf.capacity());
        // The rest of B, then a frame declaring 16 MiB of which 100 bytes come.
        peer.write_all(&b[1000..]).await.unwrap();
        let huge = frame(16 << 20, &[1; 100]);
        peer.write_all(&huge).await.unwrap();
        assert_eq!(next_len(&mut core).await, 64 << 10);
        let pending = std::future::poll_fn(|cx| Poll::Ready(core.poll_message(cx))).await;
        assert!(pending.is_pending(), "the 16 MiB frame is not complete");
        assert_eq!(core.frame_unit, 0, "a frame over READ_MAX ends the alignment");
        assert!(core.rbuf.capacity() <= 2 * READ_MAX, "reserved {}", core.rbuf.capacity());
    }
}
