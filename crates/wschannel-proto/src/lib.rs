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
//! The opening handshake is in [`handshake`]: pure functions that write a request or response
//! head and parse the peer's, bounded by [`Config::max_handshake_bytes`].
//!
//! # Crate features
//!
//! None. Permessage-deflate (RFC 7692, [`deflate`]) is always built and off unless
//! [`Config::deflate`] is set.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;

pub use config::Config;
pub use connection::{CloseInfo, Connection, Event, Initiator, Role, State};
pub use deflate::{DeflateConfig, PerMessageDeflate};
pub use error::{HandshakeError, ProtocolError, UsageError};
pub use extension::{Extension, ExtensionStats};
pub use frame::OpCode;
pub use message::{CloseCode, CloseFrame, ControlPayload, Message, Utf8Bytes};

#[cfg(test)]
mod tests;
