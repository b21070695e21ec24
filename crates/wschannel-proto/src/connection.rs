//! The connection state machine after the handshake: frames in, events out.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::close::{parse_close_payload, CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::{ProtocolError, UsageError};
use crate::extension::Extension;
use crate::frame::{encode_frame, parse_header, FrameHeader, OpCode};
use crate::mask::apply_mask;
use crate::message::{ControlPayload, Message};
use crate::outgoing::Outgoing;
use crate::utf8::{self, Utf8Bytes, Utf8Validator};

/// The outgoing buffer keeps at least this much capacity between sends (and up to
/// `Config::write_buffer_size` when that is larger).
const MIN_KEPT_OUT_CAPACITY: usize = 64 << 10;

/// The reassembly buffer keeps its allocation between messages up to this capacity.
const MAX_KEPT_RX_CAPACITY: usize = 64 << 10;

/// Which end of the connection this is; decides masking (RFC 6455 §5.1) and who closes TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Masks every frame it sends; waits for the server to close TCP.
    Client,
    /// Sends unmasked frames; closes TCP after the closing handshake.
    Server,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// This end sent a close frame and waits for the peer's.
    CloseSent,
    /// The closing handshake is over (or was abandoned); a client waits for the server to close
    /// TCP, bounded by `close_timeout`.
    Closed,
    /// Nothing more will be read or sent: flush what [`Connection::poll_transmit`] gives and
    /// drop the transport.
    Finished,
}

/// Who started the close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// This end's user called `close`.
    Local,
    /// The peer sent a close frame first, or dropped the connection.
    Remote,
    /// The library failed the connection: a protocol error, a limit or a timeout.
    Library,
}

/// How a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The code: the peer's close code when a close frame arrived (1005 if it had none), the
    /// code this end sent when it failed the connection, 1006 when no close frame arrived.
    pub code: CloseCode,
    /// The reason that came with the code (may be empty).
    pub reason: Utf8Bytes,
    /// Who started the close.
    pub initiator: Initiator,
}

/// What the connection reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message from the peer: text, binary, ping or pong (never close: see [`Event::Closed`]).
    Message(Message),
    /// The peer broke the protocol or a limit; a close frame with the error's code is queued.
    Error(ProtocolError),
    /// No more messages will arrive. Reported once.
    Closed(CloseInfo),
}

/// A WebSocket connection after the opening handshake, as a sans-IO state machine.
///
/// It never touches a socket or a clock. The driver calls, in a loop:
///
/// 1. **Inputs** — [`handle_read`](Self::handle_read) with bytes read from the transport,
///    [`handle_eof`](Self::handle_eof) when the peer closed it, and
///    [`handle_timeout`](Self::handle_timeout) when the instant from
///    [`poll_timeout`](Self::poll_timeout) has passed.
/// 2. **Outputs** — [`poll_event`](Self::poll_event) until `None` (messages, errors, close),
///    then [`poll_transmit`](Self::poll_transmit) and write those bytes out, then
///    [`poll_timeout`](Self::poll_timeout) to arm a timer.
/// 3. **Commands** — [`send`](Self::send), [`send_frame`](Self::send_frame),
///    [`ping`](Self::ping), [`close`](Self::close) queue bytes for step 2.
///
/// When [`state`](Self::state) is [`State::Finished`], flush the last bytes and drop the
/// transport. What the protocol owes the peer (pongs, the close reply) is queued with everything
/// else, so it goes out whenever the driver writes.
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    /// Outgoing bytes, drained by `poll_transmit` / `poll_transmit_vectored`.
    out: Outgoing,
    /// Server data payloads of at least this many bytes are queued by reference (0: never).
    vectored_min: usize,
    events: VecDeque<Event>,
    /// Payload bytes of the messages in `events`.
    unread_bytes: usize,
    /// The data frame whose payload is being received.
    rx_frame: Option<RxFrame>,
    /// The data message being assembled (across fragments, or a frame that arrived in pieces).
    rx_message: Option<RxMessage>,
    /// The payload of `rx_message`. Kept across messages: once the user drops a message, its
    /// allocation is this buffer's alone again and the next message reuses it.
    rx_buf: BytesMut,
    /// The unfragmented data frame completing in the caller's buffer (see
    /// [`Connection::set_in_place_limit`]).
    rx_in_place: Option<InPlace>,
    /// The largest frame left to complete in the caller's buffer; 0: none.
    in_place_limit: usize,
    /// After a protocol error the input can no longer be framed: discard it.
    rx_failed: bool,
    /// Outgoing fragmented message in progress: its opcode, UTF-8 state, and whether the
    /// extension encodes it.
    tx_fragment: Option<(OpCode, Utf8Validator, bool)>,
    close_info: Option<CloseInfo>,
    /// A protocol error found behind messages the user has not taken yet, and when it was
    /// found: applied once those messages are taken (or at the close timeout).
    pending_failure: Option<(ProtocolError, Instant)>,
    /// When a client in `CloseSent` or `Closed` gives up waiting.
    close_deadline: Option<Instant>,
    last_rx: Instant,
    ping_sent_at: Option<Instant>,
    /// A client's mask keys (a server masks nothing, so holds none: 300 bytes less each).
    rng: Option<Box<StdRng>>,
    extension: Option<Box<dyn Extension>>,
}

struct RxFrame {
    header: FrameHeader,
    remaining: u64,
    /// Payload bytes of this frame already read (the mask offset).
    offset: usize,
}

/// An unfragmented data frame whose bytes stay in the caller's buffer until it is whole, then
/// leave it as the message without a copy. Unmasked and (text) validated as bytes arrive.
struct InPlace {
    header: FrameHeader,
    header_len: usize,
    len: usize,
    /// Payload bytes already unmasked and validated.
    seen: usize,
    utf8: Utf8Validator,
}

/// The message in assembly; its payload is in `Connection::rx_buf`.
struct RxMessage {
    opcode: OpCode,
    utf8: Utf8Validator,
    /// RSV bits of the first frame: nonzero when the extension decodes the message.
    ext_rsv: u8,
    /// Payload bytes received so far of a message the extension decodes (its wire size; the
    /// decoded bytes are the extension's).
    wire_len: usize,
}

impl Connection {
    /// A connection whose handshake completed at `now`.
    ///
    /// A client draws the seed of its mask keys from [`Config::random`] here. If that source
    /// fails, the connection starts [`State::Finished`] with an [`Event::Closed`] of 1011 whose
    /// reason says so: it cannot mask a frame, so it sends none.
    pub fn new(role: Role, config: Config, now: Instant) -> Self {
        // The fields are public: bring them into the ranges the setters allow.
        let config = config.clamped();
        // RFC 6455 §5.3: a client's masks must be unpredictable; a server sends none.
        let mut seed = [0u8; 32];
        let seeded = match role {
            Role::Client => config.random.fill(&mut seed),
            Role::Server => Ok(()),
        };
        let mut conn = Connection {
            role,
            config,
            state: State::Open,
            out: Outgoing::new(),
            vectored_min: 0,
            events: VecDeque::new(),
            unread_bytes: 0,
            rx_frame: None,
            rx_message: None,
            rx_buf: BytesMut::new(),
            rx_in_place: None,
            in_place_limit: 0,
            rx_failed: false,
            tx_fragment: None,
            close_info: None,
            pending_failure: None,
            close_deadline: None,
            last_rx: now,
            ping_sent_at: None,
            rng: (role == Role::Client).then(|| Box::new(StdRng::from_seed(seed))),
            extension: None,
        };
        if let Err(e) = seeded {
            let reason = format!("no mask keys: {e}");
            let reason = utf8::truncate(&reason, CloseFrame::MAX_REASON_LEN);
            conn.record_close(
                CloseCode::INTERNAL_ERROR,
                Utf8Bytes::from(reason),
                Initiator::Library,
            );
            conn.state = State::Finished;
        }
        conn
    }

    /// Installs a negotiated extension (RFC 6455 §9). Call before any frame is processed.
    pub fn set_extension(&mut self, ext: Box<dyn Extension>) {
        self.extension = Some(ext);
    }

    /// The negotiated extension, if any (its name and [`stats`](Extension::stats)).
    pub fn extension(&self) -> Option<&dyn Extension> {
        self.extension.as_deref()
    }

    /// Lets unfragmented data frames of up to `limit` payload bytes complete in the caller's
    /// input buffer: [`handle_read`](Self::handle_read) then leaves such a frame there until
    /// all of it has arrived (unmasking and validating it as it comes), and hands it out as a
    /// slice of that buffer instead of copying it. Only for a caller that keeps one input buffer
    /// and only appends to it; [`read_hint`](Self::read_hint) says how much more it needs.
    /// 0 (the default) turns this off.
    pub fn set_in_place_limit(&mut self, limit: usize) {
        self.in_place_limit = limit;
    }

    /// Lets a server queue data payloads of at least `min` bytes by reference instead of
    /// copying them into the output (0, the default, turns this off). Only for a caller that
    /// takes the output with [`poll_transmit_vectored`](Self::poll_transmit_vectored) and
    /// writes it with a vectored write; [`poll_transmit`](Self::poll_transmit) copies them.
    /// A client masks every payload, so it always copies.
    pub fn set_vectored_min(&mut self, min: usize) {
        self.vectored_min = min;
    }

    /// Payload bytes still missing for the frame completing in the input buffer (0 when
    /// none): a caller can make room for them before reading.
    pub fn read_hint(&self) -> usize {
        self.rx_in_place.as_ref().map_or(0, |p| p.len - p.seen)
    }

    /// The whole wire length (header and payload) of the frame completing in the input buffer
    /// (0 when none): a caller that sees frames of one size can end its reads on their
    /// boundaries, so that no frame is cut by the end of its buffer (and copied to a larger one).
    pub fn in_place_frame_len(&self) -> usize {
        self.rx_in_place.as_ref().map_or(0, |p| p.header_len + p.len)
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// How the connection closed, once it has.
    pub fn close_info(&self) -> Option<&CloseInfo> {
        self.close_info.as_ref()
    }

    /// True while messages may be sent.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    // ---- inputs ----

    /// Consumes bytes read from the transport.
    ///
    /// Takes everything it can from `input`: complete frames, and the payload of a data frame as
    /// it arrives (so invalid UTF-8 fails fast). At most an incomplete header or control frame
    /// (under 140 bytes) is left in `input` for the next call.
    pub fn handle_read(&mut self, now: Instant, input: &mut BytesMut) {
        if !input.is_empty() {
            self.last_rx = now;
            self.ping_sent_at = None;
        }
        loop {
            if self.rx_failed || matches!(self.state, State::Closed | State::Finished) {
                // RFC 6455 §5.5.1: nothing is processed after the close frame.
                input.clear();
                return;
            }
            match self.read_step(now, input) {
                Ok(true) if !input.is_empty() => {}
                Ok(_) => return,
                Err(e) => {
                    self.fail(now, e);
                    input.clear();
                    return;
                }
            }
        }
    }

    /// The peer closed the transport (read returned 0 bytes).
    pub fn handle_eof(&mut self) {
        if let Some((e, at)) = self.pending_failure.take() {
            self.apply_failure(at, e);
        }
        if self.state != State::Finished {
            // RFC 6455 §7.1.5: without a close frame the close code is 1006.
            self.record_close(CloseCode::ABNORMAL, Utf8Bytes::new(), Initiator::Remote);
            self.state = State::Finished;
        }
        self.rx_frame = None;
        self.discard_rx_message();
    }

    /// Call when the instant from [`poll_timeout`](Self::poll_timeout) has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, at)) = &self.pending_failure {
            if now >= *at + self.config.close_timeout {
                if let Some((e, at)) = self.pending_failure.take() {
                    self.apply_failure(at, e);
                }
                return;
            }
        }
        match self.state {
            State::Finished => {}
            State::CloseSent | State::Closed => {
                if self.close_deadline.is_some_and(|d| now >= d) {
                    // The peer never finished the closing handshake (or never closed TCP).
                    self.record_close(CloseCode::ABNORMAL, Utf8Bytes::new(), Initiator::Library);
                    self.state = State::Finished;
                }
            }
            State::Open => {
                let Some(interval) = self.config.ping_interval else {
                    return;
                };
                match self.ping_sent_at {
                    Some(sent) if now >= sent + self.config.ping_timeout => {
                        // A silently dead peer: nothing arrived since the keepalive ping.
                        let e = ProtocolError::PingTimeout;
                        self.queue_close(e.close_code(), "keepalive ping timeout");
                        self.events.push_back(Event::Error(e));
                        self.record_close(
                            CloseCode::ABNORMAL,
                            Utf8Bytes::from_static("keepalive ping timeout"),
                            Initiator::Library,
                        );
                        self.state = State::Finished;
                    }
                    Some(_) => {}
                    None if now >= self.last_rx + interval => {
                        self.write_control(OpCode::Ping, b"");
                        self.ping_sent_at = Some(now);
                    }
                    None => {}
                }
            }
        }
    }

    // ---- outputs ----

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            if let Some((e, at)) = self.pending_failure.take() {
                self.apply_failure(at, e);
            }
        }
        let event = self.events.pop_front();
        if let Some(Event::Message(m)) = &event {
            self.unread_bytes -= m.len();
        }
        event
    }

    /// Events waiting for [`poll_event`](Self::poll_event) (a driver pauses reading above a
    /// bound of its choice).
    pub fn pending_events(&self) -> usize {
        self.events.len() + usize::from(self.pending_failure.is_some())
    }

    /// Payload bytes received and not yet taken: messages queued for
    /// [`poll_event`](Self::poll_event) plus the message being assembled. A driver pauses
    /// reading while this is at its budget (bytes, never a count of messages).
    pub fn unread_bytes(&self) -> usize {
        let in_place = self.rx_in_place.as_ref().map_or(0, |p| p.seen);
        let assembling = match &self.rx_message {
            None => 0,
            Some(m) if m.ext_rsv == 0 => self.rx_buf.len(),
            Some(_) => self.extension.as_ref().map_or(0, |e| e.decoded_len()),
        };
        self.unread_bytes + assembling + in_place
    }

    /// Moves the queued outgoing bytes to the end of `buf`. Returns how many bytes were moved.
    ///
    /// Keep one `buf` for the life of the connection, write it out, and call this again once it
    /// is empty: the connection then swaps `buf` with its own buffer instead of copying, so the
    /// two buffers trade places and each keeps its capacity. In steady state neither queueing
    /// a message nor taking its bytes allocates. When `buf` still holds bytes, the queued ones
    /// are copied after them. A buffer coming back that can hold more than
    /// [`Config::write_buffer_size`] (at least 64 KiB) is released rather than kept, so an
    /// idle connection does not hold on to the memory of its largest burst.
    pub fn poll_transmit(&mut self, buf: &mut BytesMut) -> usize {
        let n = self.out.len();
        if n == 0 {
            return 0;
        }
        if buf.is_empty() && !self.out.has_bodies() {
            self.out.swap_encoded(buf);
        } else {
            buf.reserve(n);
            while self.out.has_remaining() {
                let chunk = self.out.chunk();
                let len = chunk.len();
                buf.extend_from_slice(chunk);
                self.out.advance(len);
            }
        }
        self.shed_large_output();
        n
    }

    /// As [`poll_transmit`](Self::poll_transmit), for a driver that writes vectored: large
    /// payloads stay by reference (see [`set_vectored_min`](Self::set_vectored_min)), and
    /// `out` is swapped with the connection's queue when empty, appended to otherwise.
    pub fn poll_transmit_vectored(&mut self, out: &mut Outgoing) -> usize {
        let n = self.out.len();
        if n == 0 {
            return 0;
        }
        if out.is_empty() {
            std::mem::swap(&mut self.out, out);
            self.out.clear();
        } else {
            out.append(&mut self.out);
        }
        self.shed_large_output();
        n
    }

    /// Releases an output buffer that can hold more than the write buffer size.
    fn shed_large_output(&mut self) {
        let keep = self.config.write_buffer_size.max(MIN_KEPT_OUT_CAPACITY);
        if self.out.capacity() > keep {
            self.out = Outgoing::new();
        }
    }

    /// Gives back the memory of buffers that are empty now (outgoing bytes, the reassembly
    /// buffer): for a driver whose connection went quiet, so that an idle connection holds
    /// no buffer that a burst grew. The next message allocates again.
    pub fn release_buffers(&mut self) {
        self.out.release();
        if self.rx_message.is_none() && self.rx_buf.is_empty() && self.rx_buf.capacity() > 0 {
            self.rx_buf = BytesMut::new();
        }
        if self.rx_message.is_none() {
            if let Some(ext) = self.extension.as_mut() {
                ext.release_buffers();
            }
        }
    }

    /// Takes the output buffer's memory when nothing is queued, for a driver that keeps spare
    /// buffers (see [`give_output_buffer`](Self::give_output_buffer)); `None` otherwise.
    pub fn take_output_buffer(&mut self) -> Option<BytesMut> {
        (self.out.is_empty() && self.out.capacity() > 0).then(|| self.out.take_buffer())
    }

    /// Gives the connection memory to encode into when its output buffer has none (it
    /// allocates otherwise); ignored when it has some.
    pub fn give_output_buffer(&mut self, buf: BytesMut) {
        if self.out.is_empty() && self.out.capacity() == 0 {
            self.out.set_buffer(buf);
        }
    }

    /// Whether the output buffer has memory to encode into.
    pub fn has_output_buffer(&self) -> bool {
        self.out.capacity() > 0
    }

    /// Whether a payload is queued by reference (see [`set_vectored_min`](Self::set_vectored_min)).
    pub fn has_queued_bodies(&self) -> bool {
        self.out.has_bodies()
    }

    /// Bytes queued but not yet taken by [`poll_transmit`](Self::poll_transmit).
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// When the connection next needs [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some((_, at)) = &self.pending_failure {
            return Some(*at + self.config.close_timeout);
        }
        match self.state {
            State::Finished => None,
            State::CloseSent | State::Closed => self.close_deadline,
            State::Open => {
                let interval = self.config.ping_interval?;
                Some(match self.ping_sent_at {
                    Some(sent) => sent + self.config.ping_timeout,
                    None => self.last_rx + interval,
                })
            }
        }
    }

    // ---- commands ----

    /// Queues a message. `Message::Close` starts the closing handshake (as [`close`](Self::close)
    /// without a deadline change), `Message::Ping`/`Pong` send control frames.
    ///
    /// # Errors
    /// [`UsageError::Closed`] once a close frame was sent or received;
    /// [`UsageError::FragmentOrder`] while a fragmented message is being sent;
    /// for `Message::Close`, [`UsageError::InvalidCloseCode`] for a code that may not be sent
    /// (1005, 1006, 1015, ...) and [`UsageError::CloseReasonTooLong`].
    pub fn send(&mut self, msg: Message) -> Result<(), UsageError> {
        self.send_message(msg, true)
    }

    /// Queues a message as [`send`](Self::send) does, but a text or binary message goes out
    /// without the negotiated extension's transform: uncompressed, under permessage-deflate
    /// (RFC 7692 §6 lets every message choose). For data that does not compress (already
    /// compressed media, random bytes), or that must not share a compression context with
    /// others (a secret next to attacker-chosen text).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_uncompressed(&mut self, msg: Message) -> Result<(), UsageError> {
        self.send_message(msg, false)
    }

    fn send_message(&mut self, msg: Message, transform: bool) -> Result<(), UsageError> {
        self.check_open()?;
        match msg {
            Message::Text(t) => self.send_payload(OpCode::Text, t.into_bytes(), transform),
            Message::Binary(b) => self.send_payload(OpCode::Binary, b, transform),
            Message::Ping(p) => {
                self.write_control(OpCode::Ping, &p);
                Ok(())
            }
            Message::Pong(p) => {
                self.write_control(OpCode::Pong, &p);
                Ok(())
            }
            Message::Close(frame) => {
                let (code, reason) = match &frame {
                    Some(f) => (Some(f.code), f.reason.as_str()),
                    None => (None, ""),
                };
                if let Some(code) = code {
                    check_close(code, reason)?;
                }
                self.start_close(None, code, reason);
                Ok(())
            }
        }
    }

    /// Queues one frame of a fragmented message: `OpCode::Text` or `OpCode::Binary` starts it,
    /// `OpCode::Continuation` continues it, `fin` ends it. Control messages may be sent between
    /// fragments.
    ///
    /// # Errors
    /// [`UsageError::FragmentOrder`] for a continuation without a start, a new start mid-message
    /// or a control opcode; [`UsageError::InvalidUtf8`] when text fragments stop being UTF-8;
    /// [`UsageError::Closed`] after close.
    pub fn send_frame(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), UsageError> {
        self.check_open()?;
        // RFC 7692 §6: an encoded message has RSV1 on its first frame only.
        let rsv = match (opcode, &mut self.tx_fragment) {
            (OpCode::Text | OpCode::Binary, None) => {
                let mut v = Utf8Validator::new();
                if opcode == OpCode::Text {
                    v.feed(payload).map_err(|_| UsageError::InvalidUtf8)?;
                }
                let rsv = self.extension.as_ref().map_or(0, |e| e.encode_rsv(None));
                if fin {
                    if opcode == OpCode::Text {
                        v.finish().map_err(|_| UsageError::InvalidUtf8)?;
                    }
                } else {
                    self.tx_fragment = Some((opcode, v, rsv != 0));
                }
                (rsv != 0).then_some(rsv)
            }
            (OpCode::Continuation, Some((first, v, encoded))) => {
                if *first == OpCode::Text {
                    v.feed(payload).map_err(|_| UsageError::InvalidUtf8)?;
                    if fin {
                        v.finish().map_err(|_| UsageError::InvalidUtf8)?;
                    }
                }
                let encoded = *encoded;
                if fin {
                    self.tx_fragment = None;
                }
                encoded.then_some(0)
            }
            (OpCode::Continuation, None) => {
                return Err(UsageError::FragmentOrder("continuation without a first fragment"))
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(UsageError::FragmentOrder("new message before the last one ended"))
            }
            _ => return Err(UsageError::FragmentOrder("control frames are never fragmented")),
        };
        match rsv {
            Some(rsv) => self.write_encoded(opcode, rsv, payload, fin),
            None => {
                let mask = self.next_mask();
                encode_frame(self.out.buf_mut(), fin, 0, opcode, mask, payload);
                Ok(())
            }
        }
    }

    /// Queues a ping.
    ///
    /// # Errors
    /// [`UsageError::Closed`] after close.
    pub fn ping(&mut self, payload: ControlPayload) -> Result<(), UsageError> {
        self.check_open()?;
        self.write_control(OpCode::Ping, &payload);
        Ok(())
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2) with `code` and `reason`, and waits up to
    /// `close_timeout` from `now` for the peer's reply. Closing twice is not an error.
    ///
    /// # Errors
    /// [`UsageError::InvalidCloseCode`] for a code that may not be sent: the constants
    /// [`CloseCode::NO_STATUS`] (1005), [`CloseCode::ABNORMAL`] (1006) and
    /// [`CloseCode::TLS_HANDSHAKE`] (1015) only report what happened (RFC 6455 §7.4.1);
    /// [`UsageError::CloseReasonTooLong`] when `reason` exceeds 123 bytes.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), UsageError> {
        check_close(code, reason)?;
        self.start_close(Some(now), Some(code), reason);
        Ok(())
    }

    // ---- internals ----

    fn check_open(&self) -> Result<(), UsageError> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(UsageError::Closed)
        }
    }

    fn start_close(&mut self, now: Option<Instant>, code: Option<CloseCode>, reason: &str) {
        if self.state != State::Open {
            return;
        }
        match code {
            Some(code) => self.queue_close(code, reason),
            None => self.write_control(OpCode::Close, b""),
        }
        self.state = State::CloseSent;
        if let Some(now) = now {
            self.close_deadline = Some(now + self.config.close_timeout);
        }
    }

    /// Lets a driver that has no clock at hand (`send(Message::Close)`) set the close deadline.
    pub fn arm_close_timer(&mut self, now: Instant) {
        if matches!(self.state, State::CloseSent | State::Closed) && self.close_deadline.is_none() {
            self.close_deadline = Some(now + self.config.close_timeout);
        }
    }

    /// A whole data message: by reference when large, unmasked and not transformed by an
    /// extension (see `set_vectored_min`); copied into the output otherwise.
    fn send_payload(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        transform: bool,
    ) -> Result<(), UsageError> {
        let encodes = transform
            && self.extension.as_ref().is_some_and(|e| e.encode_rsv(Some(payload.len())) != 0);
        if self.vectored_min > 0
            && payload.len() >= self.vectored_min
            && self.role == Role::Server
            && self.tx_fragment.is_none()
            && !encodes
        {
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode,
                mask: None,
                payload_len: payload.len() as u64,
            };
            header.encode(self.out.buf_mut());
            self.out.push_body(payload);
            return Ok(());
        }
        self.send_data(opcode, &payload, transform)
    }

    fn send_data(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        transform: bool,
    ) -> Result<(), UsageError> {
        if self.tx_fragment.is_some() {
            return Err(UsageError::FragmentOrder("a fragmented message is being sent"));
        }
        match self.extension.as_ref().map(|e| e.encode_rsv(Some(payload.len()))) {
            Some(rsv) if rsv != 0 && transform => self.write_encoded(opcode, rsv, payload, true),
            _ => {
                let mask = self.next_mask();
                encode_frame(self.out.buf_mut(), true, 0, opcode, mask, payload);
                Ok(())
            }
        }
    }

    /// Queues a data frame whose payload the extension encodes, with `rsv` (0 on a
    /// continuation). If the encoder fails (a local fault), the connection closes with 1011.
    fn write_encoded(
        &mut self,
        opcode: OpCode,
        rsv: u8,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), UsageError> {
        let mask = self.next_mask();
        let Some(ext) = self.extension.as_mut() else {
            encode_frame(self.out.buf_mut(), fin, 0, opcode, mask, payload);
            return Ok(());
        };
        match ext.encode(payload, fin) {
            Ok(encoded) => {
                encode_frame(self.out.buf_mut(), fin, rsv, opcode, mask, encoded);
                Ok(())
            }
            Err(reason) => {
                self.start_close(None, Some(CloseCode::INTERNAL_ERROR), reason);
                Err(UsageError::Closed)
            }
        }
    }

    fn write_control(&mut self, opcode: OpCode, payload: &[u8]) {
        debug_assert!(payload.len() <= ControlPayload::MAX_LEN);
        let mask = self.next_mask();
        encode_frame(self.out.buf_mut(), true, 0, opcode, mask, payload);
    }

    /// Queues a close frame; `reason` is cut at a char boundary to fit 123 bytes.
    fn queue_close(&mut self, code: CloseCode, reason: &str) {
        let reason = utf8::truncate(reason, CloseFrame::MAX_REASON_LEN);
        let end = 2 + reason.len();
        let mut payload = [0u8; 125];
        payload[..2].copy_from_slice(&code.as_u16().to_be_bytes());
        payload[2..end].copy_from_slice(reason.as_bytes());
        self.write_control(OpCode::Close, &payload[..end]);
    }

    fn next_mask(&mut self) -> Option<[u8; 4]> {
        // RFC 6455 §5.3: a fresh, unpredictable key for every client frame.
        self.rng.as_mut().map(|rng| rng.next_u32().to_ne_bytes())
    }

    fn push_message(&mut self, msg: Message) {
        self.unread_bytes += msg.len();
        self.events.push_back(Event::Message(msg));
    }

    fn record_close(&mut self, code: CloseCode, reason: Utf8Bytes, initiator: Initiator) {
        if self.close_info.is_none() {
            let info = CloseInfo { code, reason, initiator };
            self.events.push_back(Event::Closed(info.clone()));
            self.close_info = Some(info);
        }
    }

    /// The closing handshake is complete from this end: a server is done, a client waits for
    /// the server to close TCP (RFC 6455 §7.1.1).
    fn enter_closed(&mut self, now: Instant) {
        if self.state == State::Finished {
            return;
        }
        match self.role {
            Role::Server => self.state = State::Finished,
            Role::Client => {
                self.state = State::Closed;
                self.close_deadline = Some(now + self.config.close_timeout);
            }
        }
    }

    /// RFC 6455 §7.1.7 "Fail the WebSocket Connection": stop reading, send a close with the
    /// error's code. Messages that arrived intact before the fault are delivered first, and the
    /// user may still answer them: the failure takes effect when they have been taken (bounded
    /// by `close_timeout`), as a peer reading one frame at a time would have seen it.
    fn fail(&mut self, now: Instant, e: ProtocolError) {
        self.rx_failed = true;
        self.rx_frame = None;
        self.discard_rx_message();
        let behind_messages = self.events.iter().any(|ev| matches!(ev, Event::Message(_)));
        if behind_messages && self.state == State::Open {
            self.pending_failure = Some((e, now));
        } else {
            self.apply_failure(now, e);
        }
    }

    /// Drops the message in assembly and the buffer that held it (the connection is ending).
    fn discard_rx_message(&mut self) {
        self.rx_in_place = None;
        if let Some(RxMessage { ext_rsv: 1.., .. }) = self.rx_message.take() {
            if let Some(ext) = self.extension.as_mut() {
                ext.decode_abort();
            }
        }
        self.rx_buf = BytesMut::new();
    }

    fn apply_failure(&mut self, now: Instant, e: ProtocolError) {
        let code = e.close_code();
        let reason = e.to_string();
        self.events.push_back(Event::Error(e));
        if self.state == State::Open {
            self.queue_close(code, &reason);
        }
        self.record_close(code, Utf8Bytes::from(reason), Initiator::Library);
        self.rx_failed = true;
        self.rx_frame = None;
        self.discard_rx_message();
        self.enter_closed(now);
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered", &self.out.len())
            .field("close_info", &self.close_info)
            .finish_non_exhaustive()
    }
}

/// RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control
/// frame by an endpoint"; neither may the other reserved codes. A [`CloseCode`] can hold them
/// (its constants report what happened), so a close that the user asks for is checked here.
fn check_close(code: CloseCode, reason: &str) -> Result<(), UsageError> {
    if !CloseCode::is_sendable(code.as_u16()) {
        return Err(UsageError::InvalidCloseCode(code.as_u16()));
    }
    if reason.len() > CloseFrame::MAX_REASON_LEN {
        return Err(UsageError::CloseReasonTooLong(reason.len()));
    }
    Ok(())
}

#[path = "connection_rx.rs"]
mod rx;

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
