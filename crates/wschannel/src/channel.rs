//! [`Channel`], a `Stream` of received messages and a `Sink` of messages to send, and its two
//! halves [`Sender`] and [`Receiver`].

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use wschannel_proto::{
    CloseCode, Config, ControlPayload, Initiator, Message, OpCode, Role, State, Utf8Bytes,
};

use crate::driver::{self, Item, Shared, MAX_PENDING_ITEMS};
use crate::error::{Error, Stage};

/// A WebSocket connection after the opening handshake.
///
/// Read it as a [`Stream`] of `Result<Message, Error>` and write it as a [`Sink`] of
/// [`Message`] (with `futures_util::{StreamExt, SinkExt}`). A driver task spawned on the tokio
/// runtime does the I/O: pings are answered and the peer's close is echoed even when nobody
/// reads, and keepalive and close timers run on their own.
///
/// The stream yields `Err` for a protocol violation by the peer or a failed transport, then
/// ends with `None`. Closing is not an error: the stream ends, and [`close_code`],
/// [`close_reason`] and [`close_initiator`] say how.
///
/// Sending waits while more than [`Config::write_buffer_size`] bytes are queued (backpressure).
/// The driver stops reading from the peer while 16 received messages wait to be read.
///
/// Dropping the channel (or both halves after [`split`]) starts a normal close (1000) when the
/// connection is still open; the driver task finishes the closing handshake, bounded by
/// [`Config::close_timeout`], and exits. Unread messages are discarded.
///
/// [`close_code`]: Channel::close_code
/// [`close_reason`]: Channel::close_reason
/// [`close_initiator`]: Channel::close_initiator
/// [`split`]: Channel::split
pub struct Channel {
    tx: Sender,
    rx: Receiver,
}

/// The sending half of a [`Channel`]: a [`Sink`] of [`Message`].
pub struct Sender {
    handle: Handle,
}

/// The receiving half of a [`Channel`]: a [`Stream`] of received messages.
pub struct Receiver {
    handle: Handle,
    /// The stream has ended.
    done: bool,
}

impl Channel {
    /// Runs the WebSocket protocol over `io`, a transport whose opening handshake already
    /// happened elsewhere (for example an upgraded HTTP connection).
    ///
    /// Spawns the driver task, so it must be called inside a tokio runtime.
    pub fn from_stream<IO>(io: IO, role: Role, config: Config) -> Channel
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Channel::spawn(io, role, config, None, BytesMut::new())
    }

    /// A builder for a client connection (the same as [`ClientBuilder::new`]).
    ///
    /// [`ClientBuilder::new`]: crate::ClientBuilder::new
    pub fn builder() -> crate::ClientBuilder {
        crate::ClientBuilder::new()
    }

    pub(crate) fn spawn<IO>(
        io: IO,
        role: Role,
        config: Config,
        protocol: Option<String>,
        leftover: BytesMut,
    ) -> Channel
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let shared = driver::spawn(io, role, config, protocol, leftover);
        Channel {
            tx: Sender { handle: Handle { shared: shared.clone(), receiver: false } },
            rx: Receiver { handle: Handle { shared, receiver: true }, done: false },
        }
    }

    /// The subprotocol the handshake agreed on (`Sec-WebSocket-Protocol`), if any.
    pub fn protocol(&self) -> Option<&str> {
        self.tx.protocol()
    }

    /// The close code, once the connection closed: the peer's code, the code this end failed
    /// the connection with, or 1006 when it ended without a close frame.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.tx.close_code()
    }

    /// The reason that came with the close code, once the connection closed.
    pub fn close_reason(&self) -> Option<Utf8Bytes> {
        self.tx.close_reason()
    }

    /// Who started the close, once the connection closed.
    pub fn close_initiator(&self) -> Option<Initiator> {
        self.tx.close_initiator()
    }

    /// True until a close frame was sent or received.
    pub fn is_open(&self) -> bool {
        self.tx.is_open()
    }

    /// Closes the connection with `code` and `reason` (RFC 6455 §7.1.2) and waits until the
    /// closing handshake is over and the transport is shut down. Messages that have not been
    /// read are discarded; to read them, send `Message::Close` and read the stream to its end.
    ///
    /// Closing a closed connection returns `Ok(())`.
    ///
    /// # Errors
    /// [`Error::Usage`] for a reason over 123 bytes; [`Error::Timeout`] when the driver has
    /// not finished after twice [`Config::close_timeout`] (it still exits on its own).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.tx.handle.start_close(code, reason)?;
        let rx = &mut self.rx;
        let tx = &self.tx;
        let limit = tx.handle.close_limit();
        tokio::time::timeout(limit, poll_fn(|cx| drain_until_done(rx, &tx.handle, cx)))
            .await
            .map_err(|_| Error::Timeout { stage: Stage::Close })
    }

    /// Sends a ping with `payload`. The peer's pong arrives as `Message::Pong`.
    ///
    /// # Errors
    /// [`Error::Closed`] after the close started.
    pub async fn ping(&self, payload: ControlPayload) -> Result<(), Error> {
        self.tx.ping(payload).await
    }

    /// Sends one frame of a fragmented message: `OpCode::Text` or `OpCode::Binary` starts it,
    /// `OpCode::Continuation` continues it, `fin` ends it. Waits for room in the send buffer.
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
        self.tx.send_frame(opcode, payload, fin).await
    }

    /// Splits the channel into a sending and a receiving half, usable from different tasks.
    pub fn split(self) -> (Sender, Receiver) {
        (self.tx, self.rx)
    }
}

impl Sender {
    /// The subprotocol the handshake agreed on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.handle.shared.protocol.as_deref()
    }

    /// The close code, once the connection closed (see [`Channel::close_code`]).
    pub fn close_code(&self) -> Option<CloseCode> {
        self.handle.close_code()
    }

    /// The close reason, once the connection closed.
    pub fn close_reason(&self) -> Option<Utf8Bytes> {
        self.handle.close_reason()
    }

    /// Who started the close, once the connection closed.
    pub fn close_initiator(&self) -> Option<Initiator> {
        self.handle.close_initiator()
    }

    /// True until a close frame was sent or received.
    pub fn is_open(&self) -> bool {
        self.handle.shared.lock().conn.is_open()
    }

    /// Sends a ping with `payload`.
    ///
    /// # Errors
    /// [`Error::Closed`] after the close started.
    pub async fn ping(&self, payload: ControlPayload) -> Result<(), Error> {
        self.handle.shared.lock().conn.ping(payload)?;
        self.handle.shared.driver.wake();
        Ok(())
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
        poll_fn(|cx| self.handle.poll_ready(cx)).await?;
        self.handle.shared.lock().conn.send_frame(opcode, payload, fin)?;
        self.handle.shared.driver.wake();
        Ok(())
    }

    /// Closes with `code` and `reason` and waits until the driver has finished. The
    /// [`Receiver`] still sees the messages that arrive until the peer's close; it must be read
    /// (from another task) for the close reply to be read.
    ///
    /// # Errors
    /// [`Error::Usage`] for a reason over 123 bytes; [`Error::Timeout`] when the driver has
    /// not finished after twice [`Config::close_timeout`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.handle.start_close(code, reason)?;
        let handle = &self.handle;
        tokio::time::timeout(handle.close_limit(), poll_fn(|cx| handle.poll_done(cx)))
            .await
            .map_err(|_| Error::Timeout { stage: Stage::Close })
    }
}

impl Receiver {
    /// The subprotocol the handshake agreed on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.handle.shared.protocol.as_deref()
    }

    /// The close code, once the connection closed (see [`Channel::close_code`]).
    pub fn close_code(&self) -> Option<CloseCode> {
        self.handle.close_code()
    }

    /// The close reason, once the connection closed.
    pub fn close_reason(&self) -> Option<Utf8Bytes> {
        self.handle.close_reason()
    }

    /// Who started the close, once the connection closed.
    pub fn close_initiator(&self) -> Option<Initiator> {
        self.handle.close_initiator()
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut inner = self.handle.shared.lock();
        let was_full = inner.pending_items() >= MAX_PENDING_ITEMS;
        let item = match inner.next_item() {
            Some(item) => item,
            None if inner.driver_done => Item::Closed,
            None => {
                // Registered under the lock: the driver queues under it and wakes after.
                self.handle.shared.reader.register(cx.waker());
                return Poll::Pending;
            }
        };
        drop(inner);
        if was_full {
            // The driver may have stopped reading for us.
            self.handle.shared.driver.wake();
        }
        Poll::Ready(match item {
            Item::Message(m) => Some(Ok(m)),
            Item::Error(e) => Some(Err(e)),
            Item::Closed => {
                self.done = true;
                None
            }
        })
    }
}

/// One user handle on the shared state; the last to drop starts the close.
struct Handle {
    shared: Arc<Shared>,
    receiver: bool,
}

impl Handle {
    fn close_code(&self) -> Option<CloseCode> {
        self.shared.lock().conn.close_info().map(|c| c.code)
    }

    fn close_reason(&self) -> Option<Utf8Bytes> {
        self.shared.lock().conn.close_info().map(|c| c.reason.clone())
    }

    fn close_initiator(&self) -> Option<Initiator> {
        self.shared.lock().conn.close_info().map(|c| c.initiator)
    }

    fn start_close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.lock().conn.close(driver::now(), code, reason)?;
        self.shared.driver.wake();
        Ok(())
    }

    /// How long `close` waits: the close timeout, then as long again for flushing and the
    /// transport shutdown, plus a margin.
    fn close_limit(&self) -> Duration {
        self.shared.config.close_timeout * 2 + Duration::from_secs(1)
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let inner = self.shared.lock();
        if inner.driver_done || !inner.conn.is_open() {
            return Poll::Ready(Err(Error::Closed));
        }
        if inner.unflushed() < self.shared.config.write_buffer_size {
            return Poll::Ready(Ok(()));
        }
        self.shared.writer.register(cx.waker());
        Poll::Pending
    }

    fn start_send(&self, msg: Message) -> Result<(), Error> {
        let is_close = matches!(msg, Message::Close(_));
        let mut inner = self.shared.lock();
        inner.conn.send(msg)?;
        if is_close {
            inner.conn.arm_close_timer(driver::now());
        }
        drop(inner);
        self.shared.driver.wake();
        Ok(())
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let inner = self.shared.lock();
        if inner.is_flushed() {
            return Poll::Ready(Ok(()));
        }
        if inner.driver_done {
            // The transport is gone with bytes unwritten.
            return Poll::Ready(Err(Error::Closed));
        }
        self.shared.writer.register(cx.waker());
        Poll::Pending
    }

    /// Ready once the driver has exited.
    fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.shared.lock();
        if inner.driver_done {
            return Poll::Ready(());
        }
        self.shared.writer.register(cx.waker());
        Poll::Pending
    }

    /// Starts a normal close (1000) if the connection is still open.
    fn close_normal(&self) {
        let mut inner = self.shared.lock();
        if inner.conn.is_open() {
            // RFC 6455 §7.1.2: a normal close; the reason (empty) always fits.
            let _ = inner.conn.close(driver::now(), CloseCode::NORMAL, "");
            drop(inner);
            self.shared.driver.wake();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.release(self.receiver);
    }
}

/// Discards received items until the driver has exited: what `Channel::close` waits on.
fn drain_until_done(rx: &mut Receiver, handle: &Handle, cx: &mut Context<'_>) -> Poll<()> {
    while let Poll::Ready(Some(_)) = rx.poll_item(cx) {}
    handle.poll_done(cx)
}

impl Stream for Channel {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_item(cx)
    }
}

impl Stream for Receiver {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_item(cx)
    }
}

impl Sink<Message> for Sender {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.handle.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.handle.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.handle.poll_flush(cx)
    }

    /// Sends a normal close (1000) if the connection is open and waits until the driver has
    /// finished. The [`Receiver`] must be read for the peer's reply to be read; the close
    /// timeout bounds the wait either way.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.handle.close_normal();
        self.handle.poll_done(cx).map(Ok)
    }
}

impl Sink<Message> for Channel {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.tx.handle.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.tx.handle.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.tx.handle.poll_flush(cx)
    }

    /// Sends a normal close (1000) if the connection is open and waits until the closing
    /// handshake is over. Unread messages are discarded, as with [`Channel::close`].
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = &mut *self;
        this.tx.handle.close_normal();
        drain_until_done(&mut this.rx, &this.tx.handle, cx).map(Ok)
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.tx.handle.shared.lock();
        f.debug_struct("Channel")
            .field("conn", &inner.conn)
            .field("protocol", &self.tx.handle.shared.protocol)
            .field("pending_messages", &inner.items.len())
            .finish()
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state: State = self.handle.shared.lock().conn.state();
        f.debug_struct("Sender").field("state", &state).finish_non_exhaustive()
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("done", &self.done).finish_non_exhaustive()
    }
}

/// An in-memory connected pair `(client, server)` over [`tokio::io::duplex`], with no
/// handshake: for testing code that uses a [`Channel`].
///
/// Spawns two driver tasks, so it must be called inside a tokio runtime.
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
pub fn pair(config: Config) -> (Channel, Channel) {
    let (a, b) = tokio::io::duplex(64 << 10);
    (
        Channel::spawn(a, Role::Client, config.clone(), None, BytesMut::new()),
        Channel::spawn(b, Role::Server, config, None, BytesMut::new()),
    )
}

#[allow(dead_code)]
fn assert_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin + 'static>() {}
    check::<Channel>();
    check::<Sender>();
    check::<Receiver>();
    check::<Error>();
}
