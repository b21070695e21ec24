//! The driver task: one per connection, it owns the transport and does all I/O and timers.
//!
//! The [`Connection`] lives in [`Shared`] behind a `std::sync::Mutex` that is held only for
//! short, non-async steps. The user's halves queue commands into it and wake the driver; the
//! driver reads, feeds the connection, moves its events to the reader's queue, writes what it
//! queued and arms one timer. Each side wakes the other through an [`AtomicWaker`].

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use wschannel_proto::{Config, Connection, Event, Message, Role, State};

use crate::error::Error;

/// Undelivered messages at which the driver stops reading the transport (read backpressure).
pub(crate) const MAX_PENDING_ITEMS: usize = 16;

/// Bytes asked of the transport per read.
const READ_CHUNK: usize = 32 << 10;

/// The clock the connection is given. Tokio's, so that `tokio::time::pause` also pauses the
/// protocol's keepalive and close timers.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What the user's halves and the driver share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Woken when items arrive or the driver exits.
    pub(crate) reader: AtomicWaker,
    /// Woken when outgoing bytes were written or flushed, or the driver exits.
    pub(crate) writer: AtomicWaker,
    /// Woken when the user queued something or took an item.
    pub(crate) driver: AtomicWaker,
    /// The subprotocol the handshake agreed on.
    pub(crate) protocol: Option<String>,
    pub(crate) config: Config,
}

/// What the reader receives, in order.
pub(crate) enum Item {
    Message(Message),
    Error(Error),
    /// The stream ends here.
    Closed,
}

pub(crate) struct Inner {
    pub(crate) conn: Connection,
    /// Events converted for the reader; at most about [`MAX_PENDING_ITEMS`] plus one read's worth.
    pub(crate) items: VecDeque<Item>,
    /// Bytes the driver took from the connection and has not written yet.
    in_flight: usize,
    /// Written bytes wait for a flush.
    needs_flush: bool,
    /// The driver task has exited; nothing more will be read or written.
    pub(crate) driver_done: bool,
    /// Nobody will read items any more: drop them instead of queueing.
    receiver_gone: bool,
    /// Live user handles (`Sender`, `Receiver`); the last one to go starts the close.
    handles: usize,
}

impl Shared {
    /// Locks the state. A panic while the lock was held cannot leave the connection half
    /// updated in a way that matters more than losing the connection, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A user handle went away. The receiver going means items are dropped from now on; the
    /// last handle going starts a normal close (1000) so the driver finishes and exits.
    pub(crate) fn release(&self, receiver: bool) {
        let mut inner = self.lock();
        inner.handles = inner.handles.saturating_sub(1);
        if receiver || inner.handles == 0 {
            inner.receiver_gone = true;
            inner.items.clear();
            inner.discard_unread();
        }
        if inner.handles == 0 && inner.conn.is_open() {
            // RFC 6455 §7.1.2: start the closing handshake; the close timer bounds it.
            let _ = inner.conn.close(now(), wschannel_proto::CloseCode::NORMAL, "");
        }
        drop(inner);
        self.driver.wake();
    }
}

impl Inner {
    /// Bytes queued or in flight: what the sender's backpressure counts.
    pub(crate) fn unflushed(&self) -> usize {
        self.conn.buffered() + self.in_flight
    }

    /// Everything queued has been written and flushed.
    pub(crate) fn is_flushed(&self) -> bool {
        self.unflushed() == 0 && !self.needs_flush
    }

    /// The next item for the reader. Events are taken from the connection only when the reader
    /// asks, so that a protocol error found behind unread messages takes effect after the user
    /// has seen (and perhaps answered) them.
    pub(crate) fn next_item(&mut self) -> Option<Item> {
        if let Some(item) = self.items.pop_front() {
            return Some(item);
        }
        self.conn.poll_event().map(Item::from)
    }

    /// Items waiting for the reader, in the queue and in the connection.
    pub(crate) fn pending_items(&self) -> usize {
        self.items.len() + self.conn.pending_events()
    }

    /// Without a reader, events are dropped as they come.
    fn discard_unread(&mut self) {
        if self.receiver_gone {
            while self.conn.poll_event().is_some() {}
        }
    }

    /// Moves all the connection's events to the reader's queue (when the transport failed and
    /// an I/O error must come after them).
    fn drain_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            if self.receiver_gone {
                continue;
            }
            self.items.push_back(Item::from(event));
        }
    }
}

impl From<Event> for Item {
    fn from(event: Event) -> Self {
        match event {
            Event::Message(m) => Item::Message(m),
            Event::Error(e) => Item::Error(Error::Protocol(e)),
            Event::Closed(_) => Item::Closed,
        }
    }
}

/// Starts the driver task for a transport whose opening handshake is done; `read_buf` holds
/// bytes read past the handshake (the first frames). Must be called inside a tokio runtime.
pub(crate) fn spawn<T>(
    io: T,
    role: Role,
    config: Config,
    protocol: Option<String>,
    mut read_buf: BytesMut,
) -> Arc<Shared>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = Connection::new(role, config.clone(), now());
    if !read_buf.is_empty() {
        conn.handle_read(now(), &mut read_buf);
    }
    let inner = Inner {
        conn,
        items: VecDeque::new(),
        in_flight: 0,
        needs_flush: false,
        driver_done: false,
        receiver_gone: false,
        handles: 2,
    };
    let shared = Arc::new(Shared {
        inner: Mutex::new(inner),
        reader: AtomicWaker::new(),
        writer: AtomicWaker::new(),
        driver: AtomicWaker::new(),
        protocol,
        config,
    });
    let mut driver = Driver {
        io,
        shared: shared.clone(),
        rbuf: read_buf,
        wbuf: BytesMut::new(),
        needs_flush: false,
        read_eof: false,
        owed: 0,
        timer: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
        timer_deadline: None,
        linger: None,
    };
    tokio::spawn(async move {
        poll_fn(|cx| driver.poll(cx)).await;
        tracing::trace!("websocket driver exited");
    });
    shared
}

struct Driver<T> {
    io: T,
    shared: Arc<Shared>,
    /// Bytes read and not yet consumed by the connection (an incomplete header at most).
    rbuf: BytesMut,
    /// Bytes taken from the connection and not yet written.
    wbuf: BytesMut,
    needs_flush: bool,
    read_eof: bool,
    /// Bytes the peer made us queue (pongs, close reply) since the outgoing buffer was last
    /// empty.
    owed: usize,
    /// The connection's timer (keepalive, close timeout).
    timer: Pin<Box<Sleep>>,
    timer_deadline: Option<Instant>,
    /// Bounds flushing and shutting down once the connection is finished, so that a peer that
    /// stopped reading cannot keep the task alive.
    linger: Option<Pin<Box<Sleep>>>,
}

impl<T> Driver<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.driver.register(cx.waker());
        loop {
            let mut progress = false;

            // Sync with the connection: take what it queued, learn what to do.
            let (finished, read_paused, deadline) = {
                let mut inner = self.shared.lock();
                if self.wbuf.is_empty() {
                    inner.conn.poll_transmit(&mut self.wbuf);
                }
                inner.in_flight = self.wbuf.len();
                inner.needs_flush = self.needs_flush;
                let finished = inner.conn.state() == State::Finished;
                if inner.is_flushed() {
                    self.owed = 0;
                }
                // Read backpressure: undelivered messages, or a peer that makes us queue
                // replies (pongs, RFC 6455 §5.5.2) faster than it reads them. The user's own
                // sends do not count: two peers sending bulk data at once must both keep reading.
                // Once the closing handshake is over the connection discards input, so a client
                // keeps reading to see the server's EOF (RFC 6455 §7.1.1) however much is unread.
                let accepts_input = matches!(inner.conn.state(), State::Open | State::CloseSent);
                let read_paused = accepts_input
                    && (inner.pending_items() >= MAX_PENDING_ITEMS
                        || self.owed > self.shared.config.write_buffer_size);
                (finished, read_paused, inner.conn.poll_timeout())
            };

            // Write.
            let mut wrote = false;
            while !self.wbuf.is_empty() {
                match Pin::new(&mut self.io).poll_write(cx, &self.wbuf) {
                    Poll::Ready(Ok(0)) => return self.fail(io::ErrorKind::WriteZero.into()),
                    Poll::Ready(Ok(n)) => {
                        self.wbuf.advance(n);
                        self.needs_flush = true;
                        wrote = true;
                    }
                    Poll::Ready(Err(e)) => return self.fail(e),
                    Poll::Pending => break,
                }
            }
            if self.wbuf.is_empty() && self.needs_flush {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.needs_flush = false;
                        wrote = true;
                    }
                    Poll::Ready(Err(e)) => return self.fail(e),
                    Poll::Pending => {}
                }
            }
            if wrote {
                progress = true;
                let mut inner = self.shared.lock();
                inner.in_flight = self.wbuf.len();
                inner.needs_flush = self.needs_flush;
                drop(inner);
                self.shared.writer.wake();
            }

            // Read.
            if !finished && !read_paused && !self.read_eof {
                match self.poll_read(cx) {
                    Poll::Ready(Ok(0)) => {
                        self.read_eof = true;
                        let mut inner = self.shared.lock();
                        inner.conn.handle_eof();
                        inner.discard_unread();
                        drop(inner);
                        self.shared.reader.wake();
                        progress = true;
                    }
                    Poll::Ready(Ok(_)) => {
                        let mut inner = self.shared.lock();
                        let before = inner.conn.buffered();
                        inner.conn.handle_read(now(), &mut self.rbuf);
                        self.owed += inner.conn.buffered().saturating_sub(before);
                        inner.discard_unread();
                        drop(inner);
                        self.shared.reader.wake();
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return self.fail(e),
                    Poll::Pending => {}
                }
            }

            // Timer.
            match deadline {
                Some(d) if !finished => {
                    if self.timer_deadline != Some(d) {
                        self.timer.as_mut().reset(tokio::time::Instant::from_std(d));
                        self.timer_deadline = Some(d);
                    }
                    if self.timer.as_mut().poll(cx).is_ready() {
                        self.timer_deadline = None;
                        let mut inner = self.shared.lock();
                        inner.conn.handle_timeout(now());
                        inner.discard_unread();
                        drop(inner);
                        self.shared.reader.wake();
                        progress = true;
                    }
                }
                _ => self.timer_deadline = None,
            }

            // Finish: flush the last bytes, shut the write side down, exit. Bounded by linger.
            if finished && !progress {
                let linger = self.linger.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep(self.shared.config.close_timeout))
                });
                if linger.as_mut().poll(cx).is_ready() {
                    tracing::debug!("websocket driver gave up flushing after close_timeout");
                    return self.exit();
                }
                let all_written = self.wbuf.is_empty()
                    && !self.needs_flush
                    && self.shared.lock().conn.buffered() == 0;
                if all_written {
                    match Pin::new(&mut self.io).poll_shutdown(cx) {
                        Poll::Ready(_) => return self.exit(),
                        Poll::Pending => {}
                    }
                }
            }

            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Reads into the spare capacity of `rbuf` (no zero-filling: `poll_read_buf` hands the
    /// transport uninitialised memory through `ReadBuf`, safely).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.rbuf.reserve(READ_CHUNK);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf)
    }

    /// The transport failed: the reader gets the error once, then the end of the stream.
    fn fail(&mut self, e: io::Error) -> Poll<()> {
        let mut inner = self.shared.lock();
        if inner.conn.state() != State::Finished {
            tracing::debug!(error = %e, "websocket transport failed");
            inner.drain_events();
            if !inner.receiver_gone {
                inner.items.push_back(Item::Error(Error::Io(e)));
            }
            inner.conn.handle_eof();
            inner.drain_events();
        }
        drop(inner);
        self.exit()
    }

    fn exit(&mut self) -> Poll<()> {
        let mut inner = self.shared.lock();
        if inner.conn.state() != State::Finished {
            // Gave up: record the abnormal close so the user learns how it ended.
            inner.conn.handle_eof();
            inner.drain_events();
        }
        inner.driver_done = true;
        drop(inner);
        self.shared.reader.wake();
        self.shared.writer.wake();
        Poll::Ready(())
    }
}
