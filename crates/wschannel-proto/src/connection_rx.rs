//! The receive path of [`Connection`](super::Connection): frame headers, payloads completing in
//! the caller's buffer or in the reassembly buffer, control frames. `handle_read` (in
//! `connection.rs`) calls [`read_step`](super::Connection::read_step) until it needs more input.

use bytes::{Buf, BytesMut};

use super::*;

impl Connection {
    /// One step: a header, a control frame, or a piece of a data frame's payload. Returns
    /// whether it consumed anything; `false` means it needs more input.
    pub(super) fn read_step(
        &mut self,
        now: Instant,
        input: &mut BytesMut,
    ) -> Result<bool, ProtocolError> {
        if self.rx_in_place.is_some() {
            return self.read_in_place(input);
        }
        if let Some(frame) = self.rx_frame.as_mut() {
            let take = usize::try_from(frame.remaining).unwrap_or(usize::MAX).min(input.len());
            let header = frame.header;
            let offset = frame.offset;
            frame.remaining -= take as u64;
            frame.offset += take;
            let done = frame.remaining == 0;
            if take > 0 {
                self.append_payload(&header, offset, &mut input[..take])?;
                input.advance(take);
            }
            if done {
                self.rx_frame = None;
                if header.fin {
                    self.finish_message()?;
                }
            }
            return Ok(take > 0 || done);
        }

        let Some((header, header_len)) = parse_header(input)? else {
            return Ok(false);
        };
        self.check_header(&header)?;

        if header.opcode.is_control() {
            // Control payloads are at most 125 bytes (checked by the parser): wait for all of it.
            let total = header_len + header.payload_len as usize;
            if input.len() < total {
                return Ok(false);
            }
            input.advance(header_len);
            let mut payload = input.split_to(header.payload_len as usize);
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            self.handle_control(now, header.opcode, payload.freeze())?;
            return Ok(true);
        }

        self.check_sizes(&header)?;
        let len = header.payload_len as usize; // bounded by max_frame_size above
        let whole = header.fin && header.opcode != OpCode::Continuation && header.rsv == 0;

        if whole && input.len() < header_len + len && len <= self.in_place_limit {
            // Let it complete in the caller's buffer (see `set_in_place_limit`).
            self.rx_in_place =
                Some(InPlace { header, header_len, len, seen: 0, utf8: Utf8Validator::new() });
            return self.read_in_place(input);
        }
        input.advance(header_len);

        // Fast path: a whole unfragmented message is here; hand out its bytes without copying.
        if whole && input.len() >= len {
            let mut payload = input.split_to(len);
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            let msg = match header.opcode {
                OpCode::Text => {
                    utf8::validate(&payload).map_err(|_| ProtocolError::InvalidUtf8)?;
                    Message::Text(Utf8Bytes::from_validated(payload.freeze()))
                }
                _ => Message::Binary(payload.freeze()),
            };
            self.push_message(msg);
            return Ok(true);
        }

        if header.opcode != OpCode::Continuation {
            // Reserve what arrived plus a bounded amount: a declared length costs nothing
            // until its bytes arrive. Reuses the last message's allocation once it was dropped.
            debug_assert!(self.rx_buf.is_empty());
            if header.rsv == 0 {
                self.rx_buf.reserve(len.min(input.len().max(4096)));
            }
            self.rx_message = Some(RxMessage {
                opcode: header.opcode,
                utf8: Utf8Validator::new(),
                ext_rsv: header.rsv,
                wire_len: 0,
            });
        }
        if len == 0 {
            if header.fin {
                self.finish_message()?;
            }
        } else {
            self.rx_frame = Some(RxFrame { header, remaining: len as u64, offset: 0 });
        }
        Ok(true)
    }

    /// Unmasks and validates what arrived of the frame completing in `input`; hands it out
    /// once whole. `Ok(false)`: it needs more input.
    pub(super) fn read_in_place(&mut self, input: &mut BytesMut) -> Result<bool, ProtocolError> {
        let Some(p) = self.rx_in_place.as_mut() else {
            return Ok(false);
        };
        // Invariant: the header is still at the front of `input` (the caller only appends).
        let have = input.len().saturating_sub(p.header_len).min(p.len);
        if have > p.seen {
            let piece = &mut input[p.header_len + p.seen..p.header_len + have];
            if let Some(key) = p.header.mask {
                apply_mask(piece, key, p.seen);
            }
            // RFC 6455 §8.1 + Autobahn 6.4: fail at the first invalid byte, not at the end.
            if p.header.opcode == OpCode::Text {
                p.utf8.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            p.seen = have;
        }
        if have < p.len {
            return Ok(false);
        }
        let Some(mut p) = self.rx_in_place.take() else {
            return Ok(false);
        };
        input.advance(p.header_len);
        let payload = input.split_to(p.len).freeze();
        let msg = if p.header.opcode == OpCode::Text {
            p.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(Utf8Bytes::from_validated(payload))
        } else {
            Message::Binary(payload)
        };
        self.push_message(msg);
        Ok(true)
    }

    pub(super) fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // RFC 6455 §5.1: clients mask, servers don't.
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // RFC 6455 §5.2: RSV bits MUST be 0 unless an extension defines them; extensions
        // (RFC 7692 §6) define them on the first frame of a data message only.
        if h.rsv != 0 {
            let allowed = match (&self.extension, h.opcode) {
                (Some(ext), OpCode::Text | OpCode::Binary) => ext.rsv_mask(),
                _ => 0,
            };
            if h.rsv & !allowed != 0 {
                return Err(ProtocolError::ReservedBits(h.rsv));
            }
        }
        // RFC 6455 §5.4: fragments of one message are contiguous.
        match (h.opcode, self.rx_message.is_some()) {
            (OpCode::Continuation, false) => Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, true) => Err(ProtocolError::ExpectedContinuation),
            _ => Ok(()),
        }
    }

    /// Limits are checked on the declared length, before anything is allocated.
    pub(super) fn check_sizes(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        if h.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                size: h.payload_len,
                limit: self.config.max_frame_size,
            });
        }
        // An encoded message counts its wire bytes here; the extension checks the decoded size.
        let so_far = match &self.rx_message {
            None => 0,
            Some(m) if m.ext_rsv == 0 => self.rx_buf.len() as u64,
            Some(m) => m.wire_len as u64,
        };
        let total = so_far + h.payload_len;
        if total > self.config.max_message_size as u64 {
            return Err(ProtocolError::MessageTooLarge {
                size: total,
                limit: self.config.max_message_size,
            });
        }
        Ok(())
    }

    pub(super) fn append_payload(
        &mut self,
        header: &FrameHeader,
        offset: usize,
        data: &mut [u8],
    ) -> Result<(), ProtocolError> {
        let Some(msg) = self.rx_message.as_mut() else {
            // Invariant: an RxFrame for a data frame exists only with its RxMessage.
            return Err(ProtocolError::UnexpectedContinuation);
        };
        if msg.ext_rsv != 0 {
            // Encoded (RFC 7692 §7.2.2: inflated as it arrives): unmask where it lies in the
            // input, which is consumed anyway, and let the extension decode it from there.
            if let Some(key) = header.mask {
                apply_mask(data, key, offset);
            }
            msg.wire_len += data.len();
            let Some(ext) = self.extension.as_mut() else {
                return Err(ProtocolError::ReservedBits(msg.ext_rsv));
            };
            let decoded = ext.decode(data, self.config.max_message_size)?;
            // RFC 6455 §8.1: fail at the first invalid byte, inflated or not.
            if msg.opcode == OpCode::Text {
                msg.utf8.feed(decoded).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            return Ok(());
        }
        let start = self.rx_buf.len();
        self.rx_buf.put_slice(data);
        let piece = &mut self.rx_buf[start..];
        if let Some(key) = header.mask {
            apply_mask(piece, key, offset);
        }
        // RFC 6455 §8.1 + Autobahn 6.4: fail at the first invalid byte, not at the end.
        if msg.opcode == OpCode::Text {
            msg.utf8.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    pub(super) fn finish_message(&mut self) -> Result<(), ProtocolError> {
        let Some(mut msg) = self.rx_message.take() else {
            return Ok(());
        };
        let payload = if msg.ext_rsv != 0 {
            let Some(ext) = self.extension.as_mut() else {
                return Err(ProtocolError::ReservedBits(msg.ext_rsv));
            };
            let before = ext.decoded_len();
            let payload = ext.decode_finish(self.config.max_message_size)?;
            if msg.opcode == OpCode::Text {
                let end = payload.get(before..).unwrap_or_default();
                msg.utf8.feed(end).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            payload
        } else {
            let large = self.rx_buf.capacity() > MAX_KEPT_RX_CAPACITY;
            let payload = self.rx_buf.split().freeze();
            if large {
                // The message keeps its bytes; the connection does not keep a buffer that size.
                self.rx_buf = BytesMut::new();
            }
            payload
        };
        if msg.opcode == OpCode::Text {
            msg.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let message = match msg.opcode {
            OpCode::Text => Message::Text(Utf8Bytes::from_validated(payload)),
            _ => Message::Binary(payload),
        };
        self.push_message(message);
        Ok(())
    }

    pub(super) fn handle_control(
        &mut self,
        now: Instant,
        opcode: OpCode,
        payload: Bytes,
    ) -> Result<(), ProtocolError> {
        match opcode {
            OpCode::Ping => {
                // RFC 6455 §5.5.2: answer with a pong carrying the same payload.
                if self.state == State::Open {
                    self.write_control(OpCode::Pong, &payload);
                }
                self.push_message(Message::Ping(ControlPayload::from_checked(payload)));
            }
            OpCode::Pong => {
                self.push_message(Message::Pong(ControlPayload::from_checked(payload)));
            }
            OpCode::Close => {
                let (code, reason) = parse_close_payload(payload)?;
                match self.state {
                    State::Open => {
                        // RFC 6455 §5.5.1: reply with a close frame, echoing the status code
                        // (and, as browsers and Node `ws` do, the reason).
                        match code {
                            CloseCode::NO_STATUS => self.write_control(OpCode::Close, b""),
                            code => self.queue_close(code, reason.as_str()),
                        }
                        self.record_close(code, reason, Initiator::Remote);
                    }
                    _ => self.record_close(code, reason, Initiator::Local),
                }
                self.rx_frame = None;
                self.discard_rx_message();
                self.enter_closed(now);
            }
            _ => {}
        }
        Ok(())
    }
}
