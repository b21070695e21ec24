//! The frame header (RFC 6455 §5.2): a pure parser on `&[u8]` and an encoder.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::ProtocolError;
use crate::mask::apply_mask;

/// The longest possible header: 2 bytes, 8 bytes of length, 4 bytes of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame opcode (RFC 6455 §5.2). Reserved opcodes are rejected by [`parse_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: text.
    Text,
    /// 0x2: binary.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Decodes a 4-bit opcode.
    ///
    /// # Errors
    /// [`ProtocolError::ReservedOpcode`] for 0x3–0x7 and 0xB–0xF (RFC 6455 §5.2).
    pub const fn from_u8(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// True for close, ping and pong (opcodes with the high bit set, RFC 6455 §5.5).
    pub const fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the low three bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The encoded header length in bytes.
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the encoded header to `out`, using the shortest length encoding (§5.2).
    pub fn encode(&self, out: &mut BytesMut) {
        let b0 = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        out.put_u8(b0);
        match self.payload_len {
            n @ 0..=125 => out.put_u8(mask_bit | n as u8),
            n @ 126..=0xFFFF => {
                out.put_u8(mask_bit | 126);
                out.put_u16(n as u16);
            }
            n => {
                out.put_u8(mask_bit | 127);
                out.put_u64(n);
            }
        }
        if let Some(key) = self.mask {
            out.put_slice(&key);
        }
    }
}

/// Parses a frame header from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or the header and its length in bytes. Checks
/// what the header alone decides: reserved opcodes, the 64-bit length's top bit, and the control
/// frame rules of §5.5. Role, extension and fragmentation rules are the connection's.
///
/// # Errors
/// The [`ProtocolError`] for the first rule the header breaks.
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0b111;
    let opcode = OpCode::from_u8(b0 & 0x0F)?;
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7F;

    if opcode.is_control() {
        // RFC 6455 §5.5: control frames MUST have a payload of 125 bytes or less and MUST NOT
        // be fragmented.
        if len7 > 125 {
            let declared = match extended_len(buf, len7) {
                Some((n, _)) => n,
                None => u64::from(len7),
            };
            return Err(ProtocolError::ControlFrameTooLong(declared));
        }
        if !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
    }

    let Some((payload_len, mut pos)) = extended_len(buf, len7) else {
        return Ok(None);
    };
    // RFC 6455 §5.2: the most significant bit of the 64-bit length MUST be 0.
    if payload_len > i64::MAX as u64 {
        return Err(ProtocolError::InvalidLength);
    }
    let mask = if masked {
        let Some(key) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        pos += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Ok(Some((FrameHeader { fin, rsv, opcode, mask, payload_len }, pos)))
}

/// Reads the payload length; `None` when `buf` is too short.
fn extended_len(buf: &[u8], len7: u8) -> Option<(u64, usize)> {
    match len7 {
        126 => {
            let b = buf.get(2..4)?;
            Some((u64::from(u16::from_be_bytes([b[0], b[1]])), 4))
        }
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            Some((u64::from_be_bytes(b), 10))
        }
        n => Some((u64::from(n), 2)),
    }
}

/// Appends a whole frame (header and payload, masked with `mask` if given) to `out`.
pub fn encode_frame(
    out: &mut BytesMut,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let header = FrameHeader { fin, rsv, opcode, mask, payload_len: payload.len() as u64 };
    out.reserve(header.encoded_len() + payload.len());
    header.encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_more_at_every_short_prefix() {
        let mut out = BytesMut::new();
        encode_frame(&mut out, true, 0, OpCode::Binary, Some([1, 2, 3, 4]), &[0u8; 300]);
        let header_len = 2 + 2 + 4;
        for i in 0..header_len {
            assert_eq!(parse_header(&out[..i]).unwrap(), None, "prefix {i}");
        }
        let (h, n) = parse_header(&out).unwrap().unwrap();
        assert_eq!(n, header_len);
        assert_eq!(h.payload_len, 300);
        assert_eq!(h.mask, Some([1, 2, 3, 4]));
    }

    #[test]
    fn rejects_reserved_opcodes() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(parse_header(&[0x80 | op, 0]), Err(ProtocolError::ReservedOpcode(op)));
        }
    }

    #[test]
    fn control_frame_rules() {
        assert_eq!(
            parse_header(&[0x89, 126, 0, 126]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        assert_eq!(parse_header(&[0x09, 0]), Err(ProtocolError::FragmentedControlFrame));
        // A too-long control frame is refused before its extended length has arrived.
        assert!(parse_header(&[0x88, 127]).is_err());
    }

    #[test]
    fn huge_declared_length_is_just_a_number() {
        let mut b = vec![0x82, 127];
        b.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        let (h, _) = parse_header(&b).unwrap().unwrap();
        assert_eq!(h.payload_len, i64::MAX as u64);
        b[2] = 0x80;
        assert_eq!(parse_header(&b), Err(ProtocolError::InvalidLength));
    }
}
