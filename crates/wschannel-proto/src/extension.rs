//! The extension hook (RFC 6455 §9): where permessage-deflate (RFC 7692, [`crate::deflate`])
//! plugs in.
//!
//! The codec never names a particular extension. It asks the negotiated one which RSV bits it
//! defines (inbound header), streams it the payload of each inbound message whose first frame
//! set those bits as it arrives (inbound payload), asks it for the decoded message when the last
//! frame is in (message complete), and offers it each outbound data message or fragment
//! (outbound). Negotiation (the `Sec-WebSocket-Extensions` header) happens around the handshake,
//! which yields the boxed extension to install with
//! [`Connection::set_extension`](crate::Connection::set_extension).
//!
//! Decoding is streaming so that limits apply to the decoded size while decoding: the codec
//! passes `limit` (the message size limit) and the extension fails with
//! [`ProtocolError::MessageTooLarge`] as soon as its output would cross it, never after
//! decoding the whole message.

use bytes::Bytes;

use crate::error::ProtocolError;

/// A negotiated WebSocket extension that transforms message payloads.
pub trait Extension: Send + Sync {
    /// The extension token, e.g. `permessage-deflate`.
    fn name(&self) -> &str;

    /// The RSV bits (RSV1 = `0b100`) this extension may set on the first frame of a data
    /// message.
    fn rsv_mask(&self) -> u8;

    /// Decodes the next piece of an inbound message whose first frame carried this extension's
    /// RSV bits (the payload unmasked, in order, across fragments). Returns the bytes this piece
    /// decoded to, which the codec validates as UTF-8 for text as they come.
    ///
    /// # Errors
    /// [`ProtocolError::MessageTooLarge`] as soon as the decoded message would exceed `limit`
    /// bytes; [`ProtocolError::Extension`] when the data is corrupt.
    fn decode(&mut self, payload: &[u8], limit: usize) -> Result<&[u8], ProtocolError>;

    /// The last frame of the message is in: finishes decoding and hands over the whole decoded
    /// message (the bytes of `decode` so far plus any the end produced, at the end of the
    /// returned value).
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    fn decode_finish(&mut self, limit: usize) -> Result<Bytes, ProtocolError>;

    /// Bytes decoded so far of the message in progress (for the reader's byte budget).
    fn decoded_len(&self) -> usize;

    /// Drops the message in progress (the connection is failing or closing).
    fn decode_abort(&mut self);

    /// The RSV bits to set on an outbound data message of `len` payload bytes (`None`: a
    /// fragmented message of unknown length), or 0 to send it untransformed.
    fn encode_rsv(&self, len: Option<usize>) -> u8;

    /// Encodes the next piece of an outbound message that [`encode_rsv`](Self::encode_rsv)
    /// accepted: the whole message, or one fragment; `fin` on its last piece. Returns the frame
    /// payload to send.
    ///
    /// # Errors
    /// A description of the local failure (the encoder's state is then lost; the connection
    /// closes with 1011).
    fn encode(&mut self, payload: &[u8], fin: bool) -> Result<&[u8], &'static str>;

    /// The connection went quiet: give back memory that is not needed between messages.
    fn release_buffers(&mut self) {}

    /// Bytes and messages the extension transformed so far.
    fn stats(&self) -> ExtensionStats {
        ExtensionStats::default()
    }
}

/// What an extension transformed: the messages it encoded and decoded, their size on the wire
/// and their size as the application sees it. Messages sent or received untransformed are not
/// counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtensionStats {
    /// Inbound messages decoded.
    pub messages_in: u64,
    /// Their payload bytes as received (compressed).
    pub wire_bytes_in: u64,
    /// Their payload bytes after decoding.
    pub bytes_in: u64,
    /// Outbound messages encoded.
    pub messages_out: u64,
    /// Their payload bytes as sent (compressed).
    pub wire_bytes_out: u64,
    /// Their payload bytes before encoding.
    pub bytes_out: u64,
}
