//! WebSocket (RFC 6455) channels for tokio: a client for `ws://` and `wss://` URLs, a server
//! handshake over any accepted stream, and a [`Channel`] that is a `Stream` of received
//! messages and a `Sink` of messages to send.
//!
//! It does: DNS, TCP and TLS (rustls with *ring*, webpki roots) for clients, or the client
//! handshake over any stream you opened ([`ClientBuilder::connect_on`]: a Unix socket, a
//! tunnel); HTTP CONNECT and SOCKS5 proxies, from the environment as curl reads it or set with
//! [`ClientBuilder::proxy`]; the opening handshake both ways with subprotocol choice; answering
//! pings and echoing the peer's close; keepalive pings and close timeouts; backpressure in
//! both directions, by bytes; errors that say whose fault they were.
//!
//! It does not: spawn tasks (a channel does its I/O when you poll it: keep polling — reading,
//! or flushing — for pongs and the close reply to go out), run an HTTP server or router (read
//! the request with [`server::read_request`] and answer plain HTTP yourself, or upgrade inside
//! hyper or axum with the `hyper` and `axum` features), follow redirects, speak TLS to a proxy
//! (`https://` proxies), or own a listener loop. Permessage-deflate (RFC 7692) is negotiated when
//! [`Config::deflate`] is set ([`DeflateConfig`]: level, size threshold, window bits, context
//! takeover); [`Channel::send_uncompressed`] opts one message out.
//!
//! ```text
//!                 application
//!    Stream<Message> ▲   │ Sink<Message>
//!                    │   ▼
//!     Channel<S>: owns the transport S, a read and a write buffer, the protocol state and a
//!                 timer; reads, writes and fires the timer inside its own polls
//!                 (after split(): the same, behind a lock the two halves share)
//!                                   bytes ▲   │ bytes, now
//!                                         │   ▼
//!                    wschannel-proto: sans-IO frames, masking, UTF-8, close, limits
//! ```
//!
//! # Examples
//!
//! [`pair`] makes a connected client and server in memory, as a test would:
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use wschannel::{pair, CloseCode, Config, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wschannel::Error> {
//! let (mut client, mut server) = pair(Config::default());
//!
//! client.send(Message::text("Hello!")).await?;
//! let msg = server.next().await.expect("a message")?;
//! server.send(msg).await?;
//! assert_eq!(client.next().await.transpose()?, Some(Message::text("Hello!")));
//!
//! // One task holds both ends here, so both are polled at once: the server's stream
//! // answers the close while the client waits for that answer.
//! let (closed, end) = tokio::join!(client.close(CloseCode::NORMAL, "bye"), server.next());
//! closed?;
//! assert!(end.is_none()); // closing is not an error: the stream ends
//! assert_eq!(server.close_code(), Some(CloseCode::NORMAL));
//! # Ok(())
//! # }
//! ```
//!
//! Over the network, [`connect`] a URL or [`accept`] a stream:
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use wschannel::Message;
//!
//! # async fn run() -> Result<(), wschannel::Error> {
//! let mut ws = wschannel::connect("wss://example.com/chat").await?;
//! ws.send(Message::text("Hello!")).await?;
//! while let Some(msg) = ws.next().await {
//!     println!("{:?}", msg?);
//! }
//! println!("closed with {:?}", ws.close_code());
//! # Ok(())
//! # }
//! ```
//!
//! Through a proxy: by default [`connect`] and [`ClientBuilder`] read `http_proxy` (for
//! `ws://`), `https_proxy` (for `wss://`), `all_proxy` and `no_proxy` as curl does (see
//! [`ClientBuilder::no_proxy`] for the rules); set one explicitly, or turn them off:
//!
//! ```no_run
//! use wschannel::{ClientBuilder, Error, ProxyErrorKind};
//!
//! # async fn run() -> Result<(), wschannel::Error> {
//! // HTTP CONNECT with basic authentication; socks5:// and socks5h:// work alike.
//! let builder = ClientBuilder::new().proxy("http://alice:s3cret@proxy.example.com:3128")?;
//! match builder.connect("wss://example.com/chat").await {
//!     Ok(ws) => println!("connected; subprotocol {:?}", ws.protocol()),
//!     Err(Error::Proxy(e)) => match e.kind {
//!         ProxyErrorKind::AuthRequired { .. } => eprintln!("check the proxy password: {e}"),
//!         _ => eprintln!("{e}"), // unreachable, refused (HTTP status or SOCKS reply), ...
//!     },
//!     Err(e) => eprintln!("{e}"),
//! }
//! // Directly, whatever the environment says.
//! let ws = ClientBuilder::new().no_proxy().connect("ws://127.0.0.1:9001/").await?;
//! # Ok(())
//! # }
//! ```
//!
//! A server that awaits before it accepts (a session lookup) or sets response headers (a
//! cookie) passes an async hook to [`server::accept_with_async`].
//!
//! # Crate features
//!
//! None is on by default; each adds API and changes nothing else.
//!
//! - `hyper`: `wschannel::upgrade`, WebSocket upgrades inside a hyper 1.x server: validate an
//!   `http::Request`, return the `101` response, and await the channel on the upgraded
//!   connection (`UpgradeRequest`, `Upgrading`, `UpgradeError`).
//! - `axum` (implies `hyper`): `wschannel::axum::WebSocketUpgrade`, an extractor with the shape
//!   of axum's own (`protocols`, `max_message_size`, `on_upgrade`), giving a [`Channel`]; see
//!   `examples/axum_echo.rs`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod channel;
mod client;
mod driver;
pub mod error;
mod pool;
mod proxy;
pub mod server;
pub mod tls;
#[cfg(feature = "hyper")]
pub mod upgrade;

pub use channel::{pair, Channel, Receiver, ReuniteError, Sender};
pub use client::{connect, ClientBuilder, MaybeTlsStream};
pub use error::{Error, HttpRejection, ProxyError, ProxyErrorKind, ProxyRefusal, Stage};
pub use server::{accept, accept_with, Accept, Reject};
pub use wschannel_proto::handshake::Request;
/// Where a client's mask keys and handshake nonce come from ([`Config::random`]; the
/// operating system's by default).
pub use wschannel_proto::random;
pub use wschannel_proto::{
    CloseCode, CloseFrame, Config, ControlPayload, DeflateConfig, ExtensionStats, HandshakeError,
    Initiator, Message, OpCode, ProtocolError, Role, UsageError, Utf8Bytes,
};

/// The crate's README (what crates.io shows), compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
