//! The closing handshake's vocabulary (RFC 6455 §5.5.1, §7.4): [`CloseCode`] with the names of
//! the codes, [`CloseFrame`], the close code each [`ProtocolError`] is reported with, and the
//! parser of a close frame's body. Everything this crate knows about close codes is here.

use std::fmt;

use bytes::Bytes;

use crate::error::{ProtocolError, UsageError};
use crate::utf8::{self, Utf8Bytes};

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

    /// The code's name for people, as RFC 6455 §7.4.1 and the IANA registry define it
    /// (`"normal closure"` for 1000); `None` for the codes they leave to applications.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status",
            1006 => "abnormal closure",
            1007 => "invalid payload",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            _ => return None,
        })
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

impl ProtocolError {
    /// The close code this error is reported with (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> CloseCode {
        use ProtocolError::*;
        match self {
            UnmaskedFrame
            | MaskedFrame
            | ReservedBits(_)
            | ReservedOpcode(_)
            | ControlFrameTooLong(_)
            | FragmentedControlFrame
            | UnexpectedContinuation
            | ExpectedContinuation
            | InvalidLength
            | CloseLength1
            | InvalidCloseCode(_)
            | Extension(_) => CloseCode::PROTOCOL_ERROR,
            InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            FrameTooLarge { .. } | MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            // As Python `websockets` does: the peer stopped answering, an unexpected condition.
            PingTimeout => CloseCode::INTERNAL_ERROR,
        }
    }
}

/// RFC 6455 §5.5.1 and §7.4: a close body is empty, or a valid code and a UTF-8 reason.
pub(crate) fn parse_close_payload(payload: Bytes) -> Result<(CloseCode, Utf8Bytes), ProtocolError> {
    match payload.len() {
        0 => Ok((CloseCode::NO_STATUS, Utf8Bytes::new())),
        1 => Err(ProtocolError::CloseLength1),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !CloseCode::is_sendable(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason = payload.slice(2..);
            utf8::validate(&reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok((CloseCode::from_u16_unchecked(code), Utf8Bytes::from_validated(reason)))
        }
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
    fn every_named_constant_has_a_name_and_application_codes_have_none() {
        let named = [
            (CloseCode::NORMAL, "normal closure"),
            (CloseCode::GOING_AWAY, "going away"),
            (CloseCode::PROTOCOL_ERROR, "protocol error"),
            (CloseCode::UNSUPPORTED_DATA, "unsupported data"),
            (CloseCode::NO_STATUS, "no status"),
            (CloseCode::ABNORMAL, "abnormal closure"),
            (CloseCode::INVALID_PAYLOAD, "invalid payload"),
            (CloseCode::POLICY_VIOLATION, "policy violation"),
            (CloseCode::MESSAGE_TOO_BIG, "message too big"),
            (CloseCode::MANDATORY_EXTENSION, "mandatory extension"),
            (CloseCode::INTERNAL_ERROR, "internal error"),
            (CloseCode::SERVICE_RESTART, "service restart"),
            (CloseCode::TRY_AGAIN_LATER, "try again later"),
            (CloseCode::BAD_GATEWAY, "bad gateway"),
            (CloseCode::TLS_HANDSHAKE, "TLS handshake failure"),
        ];
        for (code, name) in named {
            assert_eq!(code.name(), Some(name), "{code}");
        }
        for code in [3000, 4000, 4999] {
            assert_eq!(CloseCode::new(code).unwrap().name(), None);
        }
    }

    #[test]
    fn close_reason_is_bounded() {
        assert!(CloseFrame::new(CloseCode::NORMAL, "x".repeat(123)).is_ok());
        assert!(CloseFrame::new(CloseCode::NORMAL, "x".repeat(124)).is_err());
    }

    #[test]
    fn codes_follow_rfc_7_4_1() {
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
        assert_eq!(
            ProtocolError::MessageTooLarge { size: 10, limit: 1 }.close_code(),
            CloseCode::MESSAGE_TOO_BIG
        );
        assert_eq!(ProtocolError::ReservedOpcode(3).close_code(), CloseCode::PROTOCOL_ERROR);
    }
}
