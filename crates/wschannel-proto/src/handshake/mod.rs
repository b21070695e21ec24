//! The RFC 6455 §4 opening handshake, as pure functions on bytes.
//!
//! Nothing here reads a socket or a clock. The caller feeds what it has received to a
//! [`HeadReader`] ([`RequestReader`] on a server, [`ResponseReader`] on a client), which
//! answers [`Parsed::Partial`] ("read more and call again with everything so far") or
//! [`Parsed::Complete`] with the parsed head and how many bytes it used; the bytes after the
//! head already belong to the WebSocket stream and must be kept. The reader remembers how far
//! it has looked, so the work is linear in the bytes however they are cut into segments.
//! [`parse_request`] and [`ClientHandshake::parse_response`] parse a buffer in one go.
//! Validation is a separate step ([`validate_request`], [`ClientHandshake::validate`]), so a
//! server can also serve plain HTTP on the same port.
//!
//! Client: [`ClientHandshake::new`] writes the request, then a [`ResponseReader`] and
//! `validate`. Server: a [`RequestReader`], `validate_request`, then [`write_accept`] or
//! [`write_reject`] with [`HandshakeError::status`](crate::HandshakeError::status).
//!
//! The files: `head.rs` the one head parser, `headers.rs` the [`Headers`] type, the HTTP list
//! and token grammar and the one list of headers the handshake writes itself, `client.rs` and
//! `server.rs` the two sides; their tests beside them (`*_tests.rs`).
//!
//! # Examples
//!
//! ```
//! use wschannel_proto::Config;
//! use wschannel_proto::handshake::{
//!     parse_request, validate_request, write_accept, ClientHandshake, ClientRequest, Parsed,
//! };
//!
//! let config = Config::default();
//! let req = ClientRequest {
//!     host: "example.com".into(),
//!     path: "/chat".into(),
//!     protocols: vec!["chat".into()],
//!     ..Default::default()
//! };
//! let mut to_server = Vec::new();
//! let client = ClientHandshake::new(&req, config.random, &mut to_server)?;
//!
//! // Server side.
//! let Parsed::Complete { value: request, .. } = parse_request(&to_server, &config)? else {
//!     unreachable!("the whole head is there");
//! };
//! let upgrade = validate_request(&request)?;
//! let mut to_client = Vec::new();
//! write_accept(&upgrade, Some("chat"), &[], &mut to_client);
//!
//! // Client side.
//! let Parsed::Complete { value: response, consumed } = client.parse_response(&to_client, &config)?
//! else {
//!     unreachable!("the whole head is there");
//! };
//! assert_eq!(consumed, to_client.len());
//! let accepted = client.validate(&response)?;
//! assert_eq!(accepted.protocol.as_deref(), Some("chat"));
//! # Ok::<(), wschannel_proto::HandshakeError>(())
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

mod client;
mod head;
mod headers;
mod server;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod head_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod test_util;

pub use client::{Accepted, ClientHandshake, ClientRequest, Response};
pub use head::{HeadReader, RequestReader, ResponseReader};
pub use headers::{check_header, Headers};
pub(crate) use headers::{extension_name, is_token, list_items, trim_ows};
pub use server::{
    accept_headers, parse_request, reject_headers, validate_request, write_accept, write_reject,
    Request, Upgrade,
};

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Result of feeding bytes to a head parser.
///
/// Either not enough bytes yet, or the parsed value and how many bytes of the input the head
/// used. Bytes after `consumed` belong to the WebSocket stream and must be kept by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head is not complete yet: read more and call again with all bytes so far.
    Partial,
    /// The head is complete.
    Complete {
        /// The parsed head.
        value: T,
        /// Bytes of the input the head used, including the final empty line.
        consumed: usize,
    },
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
///
/// RFC 6455 §4.2.2 item 5.4: base64(SHA-1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
///
/// # Examples
///
/// ```
/// use wschannel_proto::handshake::accept_key;
/// // RFC 6455 §1.3
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WS_GUID);
    BASE64.encode(sha1.finalize())
}
