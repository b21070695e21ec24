//! The extension hook (RFC 6455 §9): where permessage-deflate (RFC 7692) will plug in.
//!
//! The codec never names a particular extension. It asks the negotiated one which RSV bits it
//! defines, hands it each complete inbound message whose first frame set those bits, and offers
//! it each outbound data message. Negotiation (the `Sec-WebSocket-Extensions` header) happens in
//! the handshake, which yields the boxed extension to install with
//! [`Connection::set_extension`](crate::Connection::set_extension).

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::frame::OpCode;

/// A negotiated WebSocket extension that transforms message payloads.
pub trait Extension: Send + Sync {
    /// The extension token, e.g. `permessage-deflate`.
    fn name(&self) -> &str;

    /// The RSV bits (RSV1 = `0b100`) this extension may set on the first frame of a message.
    fn rsv_mask(&self) -> u8;

    /// Decodes a complete inbound message whose first frame carried `rsv`. The codec validates
    /// text as UTF-8 after this returns.
    ///
    /// # Errors
    /// A [`ProtocolError`] (usually [`ProtocolError::Extension`]) when the payload is corrupt or
    /// decodes beyond the message size limit.
    fn decode_message(&mut self, rsv: u8, payload: Bytes) -> Result<Bytes, ProtocolError>;

    /// Offers an outbound data message. To transform it, write the new payload to `out` and
    /// return the RSV bits to set; return `None` to send `payload` unchanged.
    fn encode_message(&mut self, opcode: OpCode, payload: &[u8], out: &mut BytesMut) -> Option<u8>;
}
