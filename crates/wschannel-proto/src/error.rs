//! Errors, by whose fault they are: the peer's ([`ProtocolError`], [`HandshakeError`]) or the
//! caller's ([`UsageError`]).

/// The peer broke RFC 6455 after the handshake. Each variant maps to exactly one close code
/// ([`ProtocolError::close_code`], in `close.rs` with the rest of the close-code knowledge); the
/// connection sends that code and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A client sent an unmasked frame (RFC 6455 §5.1).
    #[error("the client sent an unmasked frame; clients must mask every frame")]
    UnmaskedFrame,
    /// A server sent a masked frame (RFC 6455 §5.1).
    #[error("the server sent a masked frame; servers must not mask frames")]
    MaskedFrame,
    /// RSV1–3 were set without an extension that defines them (RFC 6455 §5.2).
    #[error("reserved bits {0:#05b} set without a negotiated extension")]
    ReservedBits(u8),
    /// An opcode reserved for future use (RFC 6455 §5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame longer than 125 bytes (RFC 6455 §5.5).
    #[error("control frame of {0} bytes; the limit is 125")]
    ControlFrameTooLong(u64),
    /// A control frame without FIN (RFC 6455 §5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A continuation frame with no message in progress (RFC 6455 §5.4).
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (RFC 6455 §5.4).
    #[error("new data frame while a fragmented message is unfinished")]
    ExpectedContinuation,
    /// The 64-bit length had its most significant bit set (RFC 6455 §5.2).
    #[error("frame length has its most significant bit set")]
    InvalidLength,
    /// A close frame with a 1-byte payload (RFC 6455 §5.5.1).
    #[error("close frame with a 1-byte payload")]
    CloseLength1,
    /// A close frame with a code that may not be sent (RFC 6455 §7.4).
    #[error("close frame with invalid code {0}")]
    InvalidCloseCode(u16),
    /// Text or a close reason that is not UTF-8 (RFC 6455 §8.1).
    #[error("invalid UTF-8 in a text message or close reason")]
    InvalidUtf8,
    /// A frame bigger than the configured `max_frame_size`.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The length the frame header declared.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message bigger than the configured `max_message_size`, counted across fragments.
    #[error("message of at least {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The message length so far, including the frame that crossed the limit.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The peer did not answer a keepalive ping within `ping_timeout`.
    #[error("no pong within the ping timeout; the peer is unresponsive")]
    PingTimeout,
    /// An extension rejected inbound data.
    #[error("extension error: {0}")]
    Extension(&'static str),
}

/// The caller asked for something the protocol or the connection's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The connection is closing or closed; nothing more can be sent.
    #[error("the connection is closed; no more messages can be sent")]
    Closed,
    /// A ping or pong payload over 125 bytes.
    #[error("control payload of {0} bytes; the limit is 125")]
    ControlPayloadTooLong(usize),
    /// A close reason over 123 bytes.
    #[error("close reason of {0} bytes; the limit is 123")]
    CloseReasonTooLong(usize),
    /// A close code that may not be sent (1005, 1006, 1015 or outside the allowed ranges).
    #[error("close code {0} may not be sent; use 1000-1003, 1007-1014 or 3000-4999")]
    InvalidCloseCode(u16),
    /// Bytes that are not UTF-8 where text is required.
    #[error("text must be valid UTF-8")]
    InvalidUtf8,
    /// A fragment sent out of order (continuation without a start, or a new start mid-message).
    #[error("fragment out of order: {0}")]
    FragmentOrder(&'static str),
}

/// The opening handshake failed (RFC 6455 §4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP head is not valid HTTP/1.1.
    #[error("malformed HTTP: {0}")]
    Http(String),
    /// The HTTP head exceeds the configured byte limit.
    #[error("HTTP head exceeds {0} bytes")]
    HeadTooLarge(usize),
    /// More header lines than the configured limit.
    #[error("more than {0} HTTP headers")]
    TooManyHeaders(usize),
    /// The request method is not GET.
    #[error("method {0} is not GET")]
    Method(String),
    /// The HTTP version is not 1.1.
    #[error("HTTP version is not 1.1")]
    Version,
    /// A required header is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header has a value the handshake does not accept.
    #[error("header {name} has an invalid value: {value:?}")]
    InvalidHeader {
        /// Header name.
        name: &'static str,
        /// The offending value (lossy UTF-8).
        value: String,
    },
    /// The client asked for a WebSocket version other than 13.
    #[error("unsupported WebSocket version {0:?}; only 13 is supported")]
    UnsupportedVersion(String),
    /// The server answered with a status other than 101.
    #[error("server answered HTTP {status} instead of 101 Switching Protocols")]
    Status {
        /// The status code.
        status: u16,
    },
    /// Sec-WebSocket-Accept does not match the key sent.
    #[error("Sec-WebSocket-Accept does not match the key sent")]
    AcceptMismatch,
    /// The server chose a subprotocol the client did not offer.
    #[error("server chose subprotocol {0:?}, which the client did not offer")]
    UnofferedSubprotocol(String),
    /// The server chose an extension the client did not offer.
    #[error("server chose extension {0:?}, which the client did not offer")]
    UnofferedExtension(String),
    /// A host, path, key or header the caller supplied for a client request is not valid HTTP
    /// (for example a CR or LF that would start a new header line); nothing was written.
    #[error("invalid {name} in the client request: {reason}")]
    InvalidRequestHeader {
        /// What was invalid: a header name, or "host", "path", "origin", "subprotocol",
        /// "extensions", "key".
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The server's answer to an extension offer (RFC 7692 §5, §7.1 for permessage-deflate)
    /// is malformed or grants something the client did not allow.
    #[error("the server's Sec-WebSocket-Extensions answer {value:?} is not acceptable: {reason}")]
    ExtensionResponse {
        /// The server's answer (lossy UTF-8).
        value: String,
        /// Why the client refused it.
        reason: &'static str,
    },
    /// The random source ([`Config::random`](crate::Config::random)) failed while making a
    /// Sec-WebSocket-Key.
    #[error("could not generate a random Sec-WebSocket-Key: {0}")]
    Random(String),
}
