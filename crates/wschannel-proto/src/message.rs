//! Messages a user sends and receives, and the value types they are made of.
//!
//! Invariants live in the types: [`Utf8Bytes`] is always valid UTF-8, [`ControlPayload`] is never
//! longer than 125 bytes, and [`CloseCode`] refuses the codes that may not be sent on the wire.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::error::UsageError;
use crate::utf8;

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

/// Validated UTF-8 bytes: a cheaply cloneable string.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// A string from a `'static` str, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// Validates `bytes` as UTF-8.
    ///
    /// # Errors
    /// [`UsageError::InvalidUtf8`] when `bytes` is not valid UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, UsageError> {
        match utf8::validate(&bytes) {
            Ok(()) => Ok(Utf8Bytes(bytes)),
            Err(_) => Err(UsageError::InvalidUtf8),
        }
    }

    /// Wraps bytes the caller has validated as UTF-8, without validating them again.
    ///
    /// The one constructor that does not check: [`as_str`](Self::as_str) trusts every
    /// `Utf8Bytes` to hold UTF-8, so a caller must have run [`utf8::validate`] or a finished
    /// [`utf8::Utf8Validator`] over exactly these bytes. Crate-private on purpose; its callers
    /// are the decoder's three places that produce text (whole message, reassembled message,
    /// close reason).
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The string, in O(1): the bytes were validated once, when this value was made.
    // The one `unsafe` of this module (the crate denies it elsewhere): `from_utf8` here would
    // re-validate the whole payload on every `len()`, `==`, `Display` and `Deref`.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: `self.0` is valid UTF-8. Every constructor establishes it: `new` and
        // `Default` (empty), `from_static`, `From<&str>` and `From<String>` (from a `str`),
        // `try_from_bytes` (validates), and the crate-private `from_validated`, whose callers
        // validated the bytes first (see there). The field is private to this module and `Bytes`
        // is immutable, so nothing can change the bytes after construction.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Converts into the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREVIEW: usize = 64;
        let s = self.as_str();
        if s.len() <= PREVIEW {
            fmt::Debug::fmt(s, f)
        } else {
            let mut end = PREVIEW;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            write!(f, "{:?}… ({} bytes)", &s[..end], s.len())
        }
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

/// A close frame's body: a status code and a UTF-8 reason (RFC 6455 §5.5.1).
#[derive(Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most 123 bytes so the frame fits a control frame.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// The longest reason that fits a control frame beside the 2-byte code.
    pub const MAX_REASON_LEN: usize = 123;

    /// A close frame with `code` and `reason`.
    ///
    /// # Errors
    /// [`UsageError::CloseReasonTooLong`] when `reason` exceeds 123 bytes.
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Result<Self, UsageError> {
        let reason = reason.into();
        if reason.len() > Self::MAX_REASON_LEN {
            return Err(UsageError::CloseReasonTooLong(reason.len()));
        }
        Ok(CloseFrame { code, reason })
    }
}

impl fmt::Debug for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseFrame({}, {:?})", self.code, self.reason)
    }
}

/// A close status code (RFC 6455 §7.4).
///
/// Constructing one with [`CloseCode::new`] refuses codes that may not be sent in a close frame
/// (1005, 1006, 1015, and codes outside the ranges §7.4.2 allows). The constants name the codes
/// that §7.4.1 and the IANA registry define.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a message's data was inconsistent with its type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message is too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed (never sent on the wire).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// A code that may be sent in a close frame.
    ///
    /// # Errors
    /// [`UsageError::InvalidCloseCode`] for codes below 1000, 1004–1006, 1015, 1016–2999 and
    /// 5000 and above.
    pub fn new(code: u16) -> Result<Self, UsageError> {
        if Self::is_sendable(code) {
            Ok(CloseCode(code))
        } else {
            Err(UsageError::InvalidCloseCode(code))
        }
    }

    /// A code that only reports what happened locally (1005, 1006, 1015) or a valid wire code.
    pub(crate) const fn from_u16_unchecked(code: u16) -> Self {
        CloseCode(code)
    }

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// RFC 6455 §7.4.1/§7.4.2: which codes may appear in a close frame. 1000–1003 and
    /// 1007–1014 are defined (1012–1014 by the IANA registry); 3000–4999 are for libraries,
    /// frameworks and applications. 1004, 1005, 1006 and 1015 are reserved or local-only.
    pub const fn is_sendable(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

impl TryFrom<u16> for CloseCode {
    type Error = UsageError;
    fn try_from(code: u16) -> Result<Self, UsageError> {
        CloseCode::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_refuses_local_only_codes() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            assert!(CloseCode::new(code).is_err(), "{code}");
        }
        for code in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999] {
            assert_eq!(CloseCode::new(code).unwrap().as_u16(), code);
        }
    }

    #[test]
    fn control_payload_is_bounded() {
        assert!(ControlPayload::try_from_bytes(vec![0u8; 125]).is_ok());
        assert!(matches!(
            ControlPayload::try_from_bytes(vec![0u8; 126]),
            Err(UsageError::ControlPayloadTooLong(126))
        ));
    }

    #[test]
    fn close_reason_is_bounded() {
        assert!(CloseFrame::new(CloseCode::NORMAL, "x".repeat(123)).is_ok());
        assert!(CloseFrame::new(CloseCode::NORMAL, "x".repeat(124)).is_err());
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

    #[test]
    fn every_utf8bytes_constructor_gives_back_its_str() {
        let s = "héllo 𝄞";
        let all = [
            Utf8Bytes::from_static(s),
            Utf8Bytes::from(s),
            Utf8Bytes::from(s.to_owned()),
            Utf8Bytes::try_from_bytes(Bytes::from_static(s.as_bytes())).unwrap(),
            Utf8Bytes::from_validated(Bytes::from_static(s.as_bytes())),
        ];
        for t in all {
            assert_eq!(t.as_str(), s);
            assert_eq!(t.len(), s.len());
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(Utf8Bytes::new().as_str(), "");
        assert_eq!(Utf8Bytes::default().as_str(), "");
    }

    #[test]
    fn utf8bytes_rejects_invalid() {
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"ok")).unwrap(), "ok");
    }
}
