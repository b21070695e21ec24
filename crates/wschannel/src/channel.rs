//! [`Channel`], a `Stream` of received messages and a `Sink` of messages to send, and its two
//! halves [`Sender`] and [`Receiver`].
//!
//! Who owns what, who wakes whom:
//! - An unsplit [`Channel`] owns its transport, its buffers and the protocol state, and does
//!   its I/O inside its own `poll_next`, `poll_ready`, `poll_flush` and `poll_close`. No task is
//!   spawned, nothing is locked, and the task that polls is the one the transport and the timer
//!   wake.
//! - After [`Channel::split`], the two halves share the same state behind a mutex that is held
//!   only for one non-async step. A half registers its own waker, then polls the transport with
//!   a waker that wakes both halves, so that readiness reaches whichever half waits for it; after
//!   a step that read (or wrote), the other half is woken if it waits. [`Sender::reunite`] gives
//!   the channel back.
//! - What the protocol owes the peer (pongs, the close reply) and keepalive pings are queued with
//!   the user's messages and go out at the next poll of any kind: a channel must be polled —
//!   read, or flushed — for them to go out.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use futures_sink::Sink;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use wschannel_proto::deflate::{client_accept, client_offer, server_accept};
use wschannel_proto::{
    CloseCode, Config, ControlPayload, Extension, ExtensionStats, Initiator, Message, OpCode, Role,
    Utf8Bytes,
};

use crate::client::MaybeTlsStream;
use crate::driver::{Core, Item};
use crate::error::{Error, Stage};

/// A WebSocket connection after the opening handshake, over the transport `S`.
///
/// Read it as a [`Stream`] of `Result<Message, Error>` and write it as a [`Sink`] of
/// [`Message`] (with `futures_util::{StreamExt, SinkExt}`). The channel does its own I/O when it
/// is polled: no task runs behind your back. Received pings are answered and the peer's close
/// is echoed at the next poll of any kind (reading, sending or flushing), and keepalive and
/// close timers run while a poll waits, so **keep polling the channel**: a server loop that
/// awaits `next()` does.
///
/// The stream yields `Err` for a protocol violation by the peer or a failed transport, then
/// ends with `None` once the closing handshake is over and the transport is shut down. Closing
/// is not an error: [`close_code`], [`close_reason`] and [`close_initiator`] say how it ended.
///
/// Budgets, all in bytes: sending waits while [`Config::write_buffer_size`] bytes are queued
/// (`feed` queues without flushing; the bytes go out at the next poll that writes, so an echo
/// loop of `next` + `feed` writes once per burst of ready messages). Reading pauses while
/// the payload of received messages not yet taken plus the message in assembly reaches
/// [`Config::max_message_size`] (at least 128 KiB), or while the peer has made the channel queue
/// more than `write_buffer_size` of replies it does not read.
///
/// Dropping an open channel queues a normal close (1000), tries once without waiting to write
/// it, and drops the transport; [`close`](Channel::close) closes properly.
///
/// [`close_code`]: Channel::close_code
/// [`close_reason`]: Channel::close_reason
/// [`close_initiator`]: Channel::close_initiator
pub struct Channel<S: AsyncRead + AsyncWrite + Unpin = MaybeTlsStream> {
    core: Core<S>,
    /// The subprotocol the handshake agreed on.
    protocol: Option<Box<str>>,
}

/// The sending half of a [`Channel`]: a [`Sink`] of [`Message`].
pub struct Sender<S: AsyncRead + AsyncWrite + Unpin = MaybeTlsStream> {
    shared: Arc<Shared<S>>,
}

/// The receiving half of a [`Channel`]: a [`Stream`] of received messages.
pub struct Receiver<S: AsyncRead + AsyncWrite + Unpin = MaybeTlsStream> {
    shared: Arc<Shared<S>>,
}

/// [`Sender::reunite`] was given halves of two different channels; here they are back.
pub struct ReuniteError<S: AsyncRead + AsyncWrite + Unpin = MaybeTlsStream>(
    /// The sending half.
    pub Sender<S>,
    /// The receiving half.
    pub Receiver<S>,
);

impl<S: AsyncRead + AsyncWrite + Unpin> Channel<S> {
    /// Runs the WebSocket protocol over `io`, a transport whose opening handshake already
    /// happened elsewhere (for example an upgraded HTTP connection).
    pub fn from_stream(io: S, role: Role, config: Config) -> Channel<S> {
        Channel::new(io, role, config, None, BytesMut::new(), None)
    }

    pub(crate) fn new(
        io: S,
        role: Role,
        config: Config,
        protocol: Option<String>,
        leftover: BytesMut,
        extension: Option<Box<dyn Extension>>,
    ) -> Channel<S> {
        Channel {
            core: Core::new(io, role, config, leftover, extension),
            protocol: protocol.map(Into::into),
        }
    }

    /// The extension the handshake negotiated (`permessage-deflate`), if any.
    pub fn extension(&self) -> Option<&str> {
        self.core.conn.extension().map(|e| e.name())
    }

    /// What the negotiated extension has compressed and inflated so far (messages, wire
    /// bytes, payload bytes); `None` without an extension.
    pub fn extension_stats(&self) -> Option<ExtensionStats> {
        self.core.conn.extension().map(|e| e.stats())
    }

    /// Sends a text or binary message without compression even though permessage-deflate was
    /// negotiated (for data that does not compress, or that must not share a compression
    /// context with other data), then flushes. Otherwise as `SinkExt::send`.
    ///
    /// # Errors
    /// [`Error::Closed`] after the close started; [`Error::Io`] when the transport failed.
    pub async fn send_uncompressed(&mut self, msg: Message) -> Result<(), Error> {
        poll_fn(|cx| self.core.poll_ready(cx)).await?;
        self.core.conn.send_uncompressed(msg)?;
        poll_fn(|cx| self.core.poll_flush(cx)).await
    }

    /// The subprotocol the handshake agreed on (`Sec-WebSocket-Protocol`), if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The close code, once the connection closed: the peer's code, the code this end failed
    /// the connection with, or 1006 when it ended without a close frame.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.core.conn.close_info().map(|c| c.code)
    }

    /// The reason that came with the close code, once the connection closed.
    pub fn close_reason(&self) -> Option<Utf8Bytes> {
        self.core.conn.close_info().map(|c| c.reason.clone())
    }

    /// Who started the close, once the connection closed.
    pub fn close_initiator(&self) -> Option<Initiator> {
        self.core.conn.close_info().map(|c| c.initiator)
    }

    /// True until a close frame was sent or received.
    pub fn is_open(&self) -> bool {
        self.core.conn.is_open()
    }

    /// Closes the connection with `code` and `reason` (RFC 6455 §7.1.2) and waits until the
    /// closing handshake is over and the transport is shut down. Messages that have not been
    /// read are discarded; to read them, send `Message::Close` and read the stream to its end.
    ///
    /// Closing a closed connection returns `Ok(())`.
    ///
    /// # Errors
    /// [`Error::Usage`] for a reason over 123 bytes; [`Error::Timeout`] when the transport is
    /// not done after twice [`Config::close_timeout`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.core.start_close(code, reason)?;
        let limit = close_limit(&self.core);
        let core = &mut self.core;
        tokio::time::timeout(limit, poll_fn(|cx| core.poll_done(cx)))
            .await
            .map_err(|_| Error::Timeout { stage: Stage::Close })
    }

    /// Sends a ping with `payload` and flushes it. The peer's pong arrives as `Message::Pong`.
    ///
    /// # Errors
    /// [`Error::Closed`] after the close started; [`Error::Io`] when the transport failed.
    pub async fn ping(&mut self, payload: ControlPayload) -> Result<(), Error> {
        self.core.conn.ping(payload)?;
        poll_fn(|cx| self.core.poll_flush(cx)).await
    }

    /// Sends one frame of a fragmented message: `OpCode::Text` or `OpCode::Binary` starts it,
    /// `OpCode::Continuation` continues it, `fin` ends it. Waits for room in the write buffer,
    /// then flushes.
    ///
    /// # Errors
    /// [`Error::Usage`] for fragments out of order or text that is not UTF-8;
    /// [`Error::Closed`] after the close started.
    pub async fn send_frame(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        poll_fn(|cx| self.core.poll_ready(cx)).await?;
        self.core.conn.send_frame(opcode, payload, fin)?;
        poll_fn(|cx| self.core.poll_flush(cx)).await
    }

    /// Splits the channel into a sending and a receiving half, usable from different tasks.
    /// They share the connection behind a lock; [`Sender::reunite`] undoes the split.
    pub fn split(self) -> (Sender<S>, Receiver<S>) {
        let wakers = Arc::new(Wakers { rx: AtomicWaker::new(), tx: AtomicWaker::new() });
        let shared = Arc::new(Shared {
            core: Mutex::new(self.core),
            both: Waker::from(wakers.clone()),
            wakers,
            protocol: self.protocol,
        });
        (Sender { shared: shared.clone() }, Receiver { shared })
    }
}

impl Channel {
    /// A builder for a client connection (the same as [`ClientBuilder::new`]).
    ///
    /// [`ClientBuilder::new`]: crate::ClientBuilder::new
    pub fn builder() -> crate::ClientBuilder {
        crate::ClientBuilder::new()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sender<S> {
    /// The subprotocol the handshake agreed on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.shared.protocol.as_deref()
    }

    /// The close code, once the connection closed (see [`Channel::close_code`]).
    pub fn close_code(&self) -> Option<CloseCode> {
        self.shared.lock().conn.close_info().map(|c| c.code)
    }

    /// The close reason, once the connection closed.
    pub fn close_reason(&self) -> Option<Utf8Bytes> {
        self.shared.lock().conn.close_info().map(|c| c.reason.clone())
    }

    /// Who started the close, once the connection closed.
    pub fn close_initiator(&self) -> Option<Initiator> {
        self.shared.lock().conn.close_info().map(|c| c.initiator)
    }

    /// True until a close frame was sent or received.
    pub fn is_open(&self) -> bool {
        self.shared.lock().conn.is_open()
    }

    /// Sends a ping with `payload` and flushes it.
    ///
    /// # Errors
    /// [`Error::Closed`] after the close started.
    pub async fn ping(&mut self, payload: ControlPayload) -> Result<(), Error> {
        self.shared.lock().conn.ping(payload)?;
        poll_fn(|cx| self.shared.poll_tx(cx, Core::poll_flush)).await
    }

    /// Sends one frame of a fragmented message (see [`Channel::send_frame`]).
    ///
    /// # Errors
    /// [`Error::Usage`] for fragments out of order; [`Error::Closed`] after the close started.
    pub async fn send_frame(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        poll_fn(|cx| self.shared.poll_tx(cx, Core::poll_ready)).await?;
        self.shared.lock().conn.send_frame(opcode, payload, fin)?;
        poll_fn(|cx| self.shared.poll_tx(cx, Core::poll_flush)).await
    }

    /// Sends a message without compression (see [`Channel::send_uncompressed`]).
    ///
    /// # Errors
    /// [`Error::Closed`] after the close started; [`Error::Io`] when the transport failed.
    pub async fn send_uncompressed(&mut self, msg: Message) -> Result<(), Error> {
        poll_fn(|cx| self.shared.poll_tx(cx, Core::poll_ready)).await?;
        self.shared.lock().conn.send_uncompressed(msg)?;
        poll_fn(|cx| self.shared.poll_tx(cx, Core::poll_flush)).await
    }

    /// Closes with `code` and `reason` and drives the connection until the transport is done.
    /// Messages that arrive meanwhile are kept for the [`Receiver`] (within its byte budget).
    ///
    /// # Errors
    /// [`Error::Usage`] for a reason over 123 bytes; [`Error::Timeout`] when the transport is
    /// not done after twice [`Config::close_timeout`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let limit = {
            let mut core = self.shared.lock();
            core.start_close(code, reason)?;
            close_limit(&core)
        };
        let shared = &self.shared;
        tokio::time::timeout(limit, poll_fn(|cx| shared.poll_tx(cx, Core::poll_transport_done)))
            .await
            .map_err(|_| Error::Timeout { stage: Stage::Close })
    }

    /// Puts the halves back together.
    ///
    /// # Errors
    /// [`ReuniteError`] with both halves when they come from different channels.
    pub fn reunite(self, rx: Receiver<S>) -> Result<Channel<S>, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.shared, &rx.shared) {
            return Err(ReuniteError(self, rx));
        }
        drop(rx);
        let shared = match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared,
            // Invariant: a channel has exactly two halves and both were given here.
            Err(_) => unreachable!("a channel's halves are the only owners of its state"),
        };
        let mut core = shared.core.into_inner().unwrap_or_else(PoisonError::into_inner);
        core.discard = false;
        Ok(Channel { core, protocol: shared.protocol })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Receiver<S> {
    /// The subprotocol the handshake agreed on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.shared.protocol.as_deref()
    }

    /// The close code, once the connection closed (see [`Channel::close_code`]).
    pub fn close_code(&self) -> Option<CloseCode> {
        self.shared.lock().conn.close_info().map(|c| c.code)
    }

    /// The close reason, once the connection closed.
    pub fn close_reason(&self) -> Option<Utf8Bytes> {
        self.shared.lock().conn.close_info().map(|c| c.reason.clone())
    }

    /// Who started the close, once the connection closed.
    pub fn close_initiator(&self) -> Option<Initiator> {
        self.shared.lock().conn.close_info().map(|c| c.initiator)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Drop for Receiver<S> {
    /// Nobody reads any more: received messages are discarded from now on, so reading (and
    /// with it answering pings and the close) goes on for the [`Sender`].
    fn drop(&mut self) {
        self.shared.lock().discard = true;
    }
}

/// How long `close` waits: the close timeout, then as long again for flushing and the
/// transport shutdown, plus a margin.
fn close_limit<S: AsyncRead + AsyncWrite + Unpin>(core: &Core<S>) -> Duration {
    core.conn.config().close_timeout * 2 + Duration::from_secs(1)
}

/// The state split halves share.
struct Shared<S: AsyncRead + AsyncWrite + Unpin> {
    core: Mutex<Core<S>>,
    wakers: Arc<Wakers>,
    /// Wakes both halves: what the transport and the timer are polled with once split.
    both: Waker,
    protocol: Option<Box<str>>,
}

/// The halves' wakers, registered by each half before it polls.
struct Wakers {
    rx: AtomicWaker,
    tx: AtomicWaker,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rx.wake();
        self.tx.wake();
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Shared<S> {
    /// Locks the state. The lock is held for one non-async step; a panic in one cannot leave
    /// the connection in a state that matters more than losing it, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Core<S>> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One step for the sending half; wakes the receiving half when the step read something.
    fn poll_tx<T>(
        &self,
        cx: &mut Context<'_>,
        step: impl FnOnce(&mut Core<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.poll_half(cx, &self.wakers.tx, &self.wakers.rx, |c| c.read_epoch, step)
    }

    /// One step for the receiving half; wakes the sending half when the step wrote something.
    fn poll_rx<T>(
        &self,
        cx: &mut Context<'_>,
        step: impl FnOnce(&mut Core<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.poll_half(cx, &self.wakers.rx, &self.wakers.tx, |c| c.write_epoch, step)
    }

    /// Registers this half's waker, runs `step` under the lock with the waker that wakes both,
    /// and wakes the other half if `progress` (what it waits for) moved.
    fn poll_half<T>(
        &self,
        cx: &mut Context<'_>,
        mine: &AtomicWaker,
        other: &AtomicWaker,
        progress: fn(&Core<S>) -> u64,
        step: impl FnOnce(&mut Core<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        mine.register(cx.waker());
        let mut core = self.lock();
        let before = progress(&core);
        let poll = step(&mut core, &mut Context::from_waker(&self.both));
        let moved = progress(&core) != before;
        drop(core);
        if moved {
            other.wake();
        }
        poll
    }
}

/// Turns the core's next item into the stream's, taking one unit of tokio's cooperative budget
/// per message so that a connection with many buffered messages lets other tasks run.
fn poll_next_item<S: AsyncRead + AsyncWrite + Unpin>(
    core: &mut Core<S>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Message, Error>>> {
    let coop = ready!(tokio::task::coop::poll_proceed(cx));
    let item = ready!(core.poll_message(cx));
    coop.made_progress();
    Poll::Ready(item.map(|item| match item {
        Item::Message(m) => Ok(m),
        Item::Error(e) => Err(e),
    }))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Channel<S> {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_next_item(&mut self.core, cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Receiver<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared.poll_rx(cx, poll_next_item)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for Channel<S> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.core.poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.core.start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.core.poll_flush(cx)
    }

    /// Sends a normal close (1000) if the connection is open and waits until the closing
    /// handshake is over and the transport is shut down. Unread messages are discarded, as
    /// with [`Channel::close`].
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.core.close_normal();
        self.core.poll_done(cx).map(Ok)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for Sender<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.poll_tx(cx, Core::poll_ready)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.shared.lock().start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.poll_tx(cx, Core::poll_flush)
    }

    /// Sends a normal close (1000) if the connection is open and drives the connection until
    /// the transport is done; messages that arrive meanwhile are kept for the [`Receiver`].
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.poll_tx(cx, |core, cx| {
            core.close_normal();
            core.poll_transport_done(cx).map(Ok)
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> fmt::Debug for Channel<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("conn", &self.core.conn)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> fmt::Debug for Sender<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock().conn.state();
        f.debug_struct("Sender").field("state", &state).finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> fmt::Debug for Receiver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock().conn.state();
        f.debug_struct("Receiver").field("state", &state).finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of two different channels")
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> std::error::Error for ReuniteError<S> {}

/// An in-memory connected pair `(client, server)` over [`tokio::io::duplex`], with no
/// handshake: for testing code that uses a [`Channel`].
///
/// # Examples
/// ```
/// use futures_util::{SinkExt, StreamExt};
/// use wschannel::{pair, Config, Message};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wschannel::Error> {
/// let (mut client, mut server) = pair(Config::default());
/// client.send(Message::text("hi")).await?;
/// assert_eq!(server.next().await.transpose()?, Some(Message::text("hi")));
/// # Ok(())
/// # }
/// ```
pub fn pair(config: Config) -> (Channel<DuplexStream>, Channel<DuplexStream>) {
    let (a, b) = tokio::io::duplex(64 << 10);
    // With `Config::deflate`, both ends get permessage-deflate as a handshake would give it.
    let (client_ext, server_ext) = match &config.deflate {
        Some(d) => match server_accept(Some(&client_offer(d)), d) {
            Some((answer, server)) => {
                let client = client_accept(Some(&answer), d).ok().flatten();
                let boxed =
                    |e: wschannel_proto::PerMessageDeflate| Box::new(e) as Box<dyn Extension>;
                (client.map(boxed), Some(boxed(server)))
            }
            None => (None, None),
        },
        None => (None, None),
    };
    (
        Channel::new(a, Role::Client, config.clone(), None, BytesMut::new(), client_ext),
        Channel::new(b, Role::Server, config, None, BytesMut::new(), server_ext),
    )
}

#[allow(dead_code)]
fn assert_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin + 'static>() {}
    check::<Channel>();
    check::<Channel<tokio::net::TcpStream>>();
    check::<Sender>();
    check::<Receiver>();
    check::<Error>();
    check::<ReuniteError>();
}
