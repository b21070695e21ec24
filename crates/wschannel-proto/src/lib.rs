//! The sans-IO core of an RFC 6455 WebSocket: opening handshake, framing, masking, UTF-8
//! validation, the closing handshake, limits and keepalive.
//!
//! It does not do I/O: it never touches a socket, never reads a clock and never spawns a task.
//! Bytes go in, events and bytes come out; the caller passes the time. The `wschannel` crate
//! drives it with tokio; a test can drive it with a `Vec<u8>` and a fake `Instant`.
//!
//! ```text
//!        driver (tokio, or a test)
//!   handle_read(now, bytes) │ ▲ poll_event() -> Event::{Message, Error, Closed}
//!   handle_eof()            │ │ poll_transmit(&mut BytesMut)
//!   handle_timeout(now)     ▼ │ poll_timeout() -> Option<Instant>
//!   send / send_frame / ping / close
//!                     Connection
//! ```
//!
//! # Example
//!
//! A client and a server connection talking through memory:
//!
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use wschannel_proto::{Config, Connection, Event, Message, Role};
//!
//! let now = Instant::now();
//! let mut client = Connection::new(Role::Client, Config::default(), now);
//! let mut server = Connection::new(Role::Server, Config::default(), now);
//!
//! client.send(Message::text("Hello")).unwrap();
//! let mut wire = BytesMut::new();
//! client.poll_transmit(&mut wire);          // masked frame bytes, ready for a socket
//! server.handle_read(now, &mut wire);
//! assert_eq!(server.poll_event(), Some(Event::Message(Message::text("Hello"))));
//! ```
//!
//! # What is public
//!
//! - At the root: [`Connection`] and what it reports ([`Event`], [`CloseInfo`], [`Initiator`],
//!   [`State`], [`Role`]), [`Config`], the message types ([`Message`], [`Utf8Bytes`],
//!   [`ControlPayload`], [`CloseFrame`], [`CloseCode`], [`OpCode`]), the errors by whose fault
//!   they are ([`ProtocolError`], [`HandshakeError`], [`UsageError`]) and the [`Extension`] hook.
//! - [`handshake`]: the opening handshake as pure functions that write a request or response
//!   head, and a resumable reader ([`handshake::HeadReader`]) that parses the peer's in work
//!   linear in its bytes, bounded by [`Config::max_handshake_bytes`] and
//!   [`Config::max_headers`].
//! - [`deflate`]: permessage-deflate (RFC 7692): [`DeflateConfig`] (set it in
//!   [`Config::deflate`]), the negotiation in both roles and [`PerMessageDeflate`], the
//!   [`Extension`] it installs.
//! - [`outgoing`]: [`Outgoing`], the output queue a driver that writes vectored takes with
//!   [`Connection::poll_transmit_vectored`] (large server payloads stay by reference).
//! - [`random`]: the random source a client's masks and nonce come from ([`Config::random`]).
//! - [`utf8`]: the validators behind [`Utf8Bytes`], for text that arrives in pieces, and
//!   [`utf8::truncate`].
//!
//! The modules `frame` (header parser and encoder) and `mask` (payload masking and its naive
//! twin) are public only so that this repository's fuzz targets, benchmarks and property tests
//! can reach them. They are hidden from these docs and not part of the semver-stable API; a
//! driver never needs them, since [`Connection`] frames and masks everything itself.
//!
//! # Crate features
//!
//! None. Permessage-deflate (RFC 7692, [`deflate`]) is always built and off unless
//! [`Config::deflate`] is set.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod close;
mod config;
mod connection;
mod error;
mod extension;
mod message;

pub mod deflate;
#[doc(hidden)]
pub mod frame;
pub mod handshake;
#[doc(hidden)]
pub mod mask;
pub mod outgoing;
pub mod random;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{CloseInfo, Connection, Event, Initiator, Role, State};
pub use deflate::{DeflateConfig, PerMessageDeflate};
pub use error::{HandshakeError, ProtocolError, UsageError};
pub use extension::{Extension, ExtensionStats};
pub use frame::OpCode;
pub use message::{ControlPayload, Message};
pub use outgoing::Outgoing;
pub use utf8::Utf8Bytes;

#[cfg(test)]
mod tests;

/// The crate's README (what crates.io shows), compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
