//! Messages a user sends and receives, and the ping/pong payload type.
//!
//! Invariants live in the types: [`Utf8Bytes`] (in `utf8`) is always valid UTF-8,
//! [`ControlPayload`] is never longer than 125 bytes, and [`CloseCode`] (in `close`) refuses the
//! codes that may not be sent on the wire.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::error::UsageError;
use crate::utf8::Utf8Bytes;

/// A WebSocket message as a user sends or receives it.
///
/// The frame's opcode decides the variant: a text frame arrives as [`Message::Text`] holding
/// validated UTF-8, a binary frame as [`Message::Binary`].
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (opcode 0x1); always valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message (opcode 0x2).
    Binary(Bytes),
    /// A ping (opcode 0x9). Received pings are answered by the library.
    Ping(ControlPayload),
    /// A pong (opcode 0xA).
    Pong(ControlPayload),
    /// A close (opcode 0x8). Sending it starts the closing handshake.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Message::Text(s.into())
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Message::Binary(b.into())
    }

    /// True for text and binary messages.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }

    /// The payload length in bytes (for a close, code and reason).
    pub fn len(&self) -> usize {
        match self {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
            Message::Ping(p) | Message::Pong(p) => p.len(),
            Message::Close(None) => 0,
            Message::Close(Some(f)) => 2 + f.reason.len(),
        }
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Message {
    // Payloads can be megabytes: print lengths, and a short text preview.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Text(t) => write!(f, "Text({t:?})"),
            Message::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
            Message::Ping(p) => write!(f, "Ping({} bytes)", p.len()),
            Message::Pong(p) => write!(f, "Pong({} bytes)", p.len()),
            Message::Close(c) => write!(f, "Close({c:?})"),
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}
/// The payload of a ping or pong: at most 125 bytes (RFC 6455 §5.5).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ControlPayload(Bytes);

impl ControlPayload {
    /// The largest control frame payload, RFC 6455 §5.5.
    pub const MAX_LEN: usize = 125;

    /// An empty payload.
    pub const fn new() -> Self {
        ControlPayload(Bytes::new())
    }

    /// A payload from bytes.
    ///
    /// # Errors
    /// [`UsageError::ControlPayloadTooLong`] when `bytes` is longer than 125 bytes.
    pub fn try_from_bytes(bytes: impl Into<Bytes>) -> Result<Self, UsageError> {
        let bytes = bytes.into();
        if bytes.len() > Self::MAX_LEN {
            return Err(UsageError::ControlPayloadTooLong(bytes.len()));
        }
        Ok(ControlPayload(bytes))
    }

    pub(crate) fn from_checked(bytes: Bytes) -> Self {
        debug_assert!(bytes.len() <= Self::MAX_LEN);
        ControlPayload(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Converts into the bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for ControlPayload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<&'static str> for ControlPayload {
    type Error = UsageError;
    fn try_from(s: &'static str) -> Result<Self, UsageError> {
        Self::try_from_bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl TryFrom<Vec<u8>> for ControlPayload {
    type Error = UsageError;
    fn try_from(v: Vec<u8>) -> Result<Self, UsageError> {
        Self::try_from_bytes(v)
    }
}

impl fmt::Debug for ControlPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ControlPayload({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_payload_is_bounded() {
        assert!(ControlPayload::try_from_bytes(vec![0u8; 125]).is_ok());
        assert!(matches!(
            ControlPayload::try_from_bytes(vec![0u8; 126]),
            Err(UsageError::ControlPayloadTooLong(126))
        ));
    }

    #[test]
    fn debug_prints_lengths_not_payloads() {
        let m = Message::binary(vec![7u8; 1 << 20]);
        assert_eq!(format!("{m:?}"), "Binary(1048576 bytes)");
        let t = Message::text("é".repeat(100));
        let dbg = format!("{t:?}");
        assert!(dbg.contains("(200 bytes)"), "{dbg}");
        assert!(dbg.len() < 120);
    }
}
