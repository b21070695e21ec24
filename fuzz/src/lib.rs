//! Shared drivers for the fuzz targets.

mod channel;

pub use channel::run_channel;

use std::time::{Duration, Instant};

use bytes::BytesMut;

use wschannel_proto::deflate::{client_accept, client_offer, server_accept};
use wschannel_proto::random::DangerFixedRandom;
use wschannel_proto::{
    CloseCode, Config, Connection, DeflateConfig, Event, Message, OpCode, Role, State,
};

/// A fixed random source: a client's mask keys are the same on every run, so a crash found by
/// the fuzzer reproduces byte for byte.
pub(crate) static FIXED_RANDOM: DangerFixedRandom = DangerFixedRandom::new([0x5a; 32]);

/// Feeds arbitrary bytes to a `Connection` in `role`, with a fake clock, and checks what must
/// hold whatever the peer sends.
///
/// Input layout: `[flags, s0, s1, s2, s3, stream...]`. `s0..s3` are cycled through to cut
/// `stream` into chunks (each byte picks a size, 1–32 bytes or 64–4096 bytes, and how far the
/// fake clock moves before that chunk, 0–150 ms). `flags` bits:
///
/// - `0x01` small limits (frames of 200 bytes, messages of 600);
/// - `0x02` keepalive every 50 ms with an 80 ms ping timeout;
/// - `0x04` call `handle_timeout` after every chunk, due or not;
/// - `0x08` the user closes after the first chunk;
/// - `0x10` the user sends a text message and a ping after the first chunk;
/// - `0x20` the stream ends with EOF (otherwise with a timeout far in the future);
/// - `0x40` the user starts a fragmented text message after the first chunk and ends it at the
///   end;
/// - `0x80` unfragmented frames complete in the input buffer (`set_in_place_limit`), as the
///   tokio channel reads.
///
/// Checks: no panic; `handle_read` leaves less than one control frame (140 bytes) unconsumed,
/// or with `0x80` at most one frame up to the in-place limit, and then `read_hint` is what that
/// frame still misses;
/// the bytes the connection queues on its own (pongs, close replies, keepalive pings) stay
/// under `8 * input + 512`; at most one `Closed` event and no message after it; once
/// `Finished`, nothing more is queued and no timer is armed.
pub fn run_connection(role: Role, data: &[u8]) {
    run_connection_with(role, data, None);
}

/// As [`run_connection`], with permessage-deflate negotiated from a config the first byte
/// picks (bits: `0x01` no context takeover, `0x02` the peer's, `0x04` 9-bit windows, `0x08`
/// the peer's, `0x10` level 1 instead of 6, `0x20` compress every message (threshold 0)).
/// Extra check: no message is longer than the message limit (the inflated size is bounded).
pub fn run_connection_deflate(role: Role, data: &[u8]) {
    let [pick, ref rest @ ..] = *data else {
        return;
    };
    let mut d = DeflateConfig::default()
        .no_context_takeover(pick & 0x01 != 0)
        .peer_no_context_takeover(pick & 0x02 != 0)
        .level(if pick & 0x10 != 0 { 1 } else { 6 });
    if pick & 0x04 != 0 {
        d = d.max_window_bits(9);
    }
    if pick & 0x08 != 0 {
        d = d.peer_max_window_bits(9);
    }
    if pick & 0x20 != 0 {
        d = d.threshold(0);
    }
    run_connection_with(role, rest, Some(d));
}

/// Negotiates permessage-deflate between two ends with `config`, as the handshake would, and
/// returns this end's extension.
fn negotiate(role: Role, config: &DeflateConfig) -> Box<dyn wschannel_proto::Extension> {
    let (answer, server) = server_accept(Some(&client_offer(config)), config)
        .expect("a server accepts the offer of the same config");
    let client = client_accept(Some(&answer), config)
        .expect("a client accepts the answer to its own offer")
        .expect("an extension");
    match role {
        Role::Server => Box::new(server),
        Role::Client => Box::new(client),
    }
}

/// A server's answer to any `Sec-WebSocket-Extensions` offer is one a default client takes.
pub fn run_negotiation(data: &[u8]) {
    let [pick, ref offer @ ..] = *data else {
        return;
    };
    let Ok(offer) = std::str::from_utf8(offer) else {
        return;
    };
    let mut config = DeflateConfig::default()
        .no_context_takeover(pick & 0x01 != 0)
        .peer_no_context_takeover(pick & 0x02 != 0);
    if pick & 0x04 != 0 {
        config = config.max_window_bits(9 + (pick >> 5));
    }
    if pick & 0x08 != 0 {
        config = config.peer_max_window_bits(9 + (pick >> 5));
    }
    if let Some((answer, _)) = server_accept(Some(offer), &config) {
        // Whatever the offer, the answer grants nothing a client that allows everything
        // (the default offer) would refuse.
        let client = client_accept(Some(&answer), &DeflateConfig::default());
        assert!(matches!(client, Ok(Some(_))), "{offer:?} -> {answer:?}: {client:?}");
    }
    let _ = client_accept(Some(offer), &config);
}

fn run_connection_with(role: Role, data: &[u8], deflate: Option<DeflateConfig>) {
    let [flags, s0, s1, s2, s3, ref stream @ ..] = *data else {
        return;
    };
    let sizes = [s0, s1, s2, s3];
    let mut config =
        Config::default().close_timeout(Duration::from_millis(100)).random(&FIXED_RANDOM);
    if flags & 0x01 != 0 {
        config = config.max_frame_size(200).max_message_size(600);
    }
    if flags & 0x02 != 0 {
        config = config
            .ping_interval(Some(Duration::from_millis(50)))
            .ping_timeout(Duration::from_millis(80));
    }

    let start = Instant::now();
    let mut now = start;
    let in_place = flags & 0x80 != 0;
    let max_frame = config.max_frame_size;
    let max_message = config.max_message_size;
    let mut conn = Connection::new(role, config, now);
    if in_place {
        conn.set_in_place_limit(max_frame);
    }
    if let Some(d) = &deflate {
        conn.set_extension(negotiate(role, d));
    }
    let mut h = Harness::new(conn);
    h.max_message = max_message;
    let mut input = BytesMut::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let s = sizes[i % 4];
        let size = if s < 0xC0 { usize::from(s % 32) + 1 } else { usize::from(s - 0xBF) * 64 };
        now += Duration::from_millis(u64::from(s >> 4) * 10);
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        h.fed += piece.len();
        input.extend_from_slice(piece);
        h.conn.handle_read(now, &mut input);
        // The documented bound on what handle_read leaves behind: an incomplete header or
        // control frame, or in place one incomplete frame.
        if in_place && h.conn.read_hint() > 0 {
            assert!(input.len() < 14 + max_frame, "{} bytes left in place", input.len());
            assert!(input.len() + h.conn.read_hint() <= 14 + max_frame, "hint too large");
        } else {
            assert!(input.len() < 140, "{} bytes left unconsumed", input.len());
        }
        h.drain();

        if h.conn.poll_timeout().is_some_and(|t| t <= now) || flags & 0x04 != 0 {
            h.conn.handle_timeout(now);
            h.drain();
        }
        if i == 0 {
            h.user_commands(flags, now);
        }
        i += 1;
    }
    if flags & 0x40 != 0 {
        h.user(|c| {
            let _ = c.send_frame(OpCode::Continuation, "ment".as_bytes(), true);
        });
    }
    if flags & 0x20 != 0 {
        h.conn.handle_eof();
        assert_eq!(h.conn.state(), State::Finished);
    } else {
        // Whatever timer is armed fires; a second, later one finishes a client's wait.
        for later in [Duration::from_secs(10), Duration::from_secs(20)] {
            h.conn.handle_timeout(now + later);
            h.drain();
        }
    }
    h.drain();
    if h.conn.state() == State::Finished {
        assert!(h.closed, "a finished connection reported how it closed");
        assert!(h.conn.close_info().is_some());
    }
}

struct Harness {
    conn: Connection,
    /// Input bytes fed so far.
    fed: usize,
    /// Bytes queued by user commands (not the peer's doing).
    user_bytes: usize,
    /// Bytes taken with poll_transmit.
    out_bytes: usize,
    closed: bool,
    finished_at: Option<usize>,
    /// The message size limit: no message may be longer (inflated or not).
    max_message: usize,
}

impl Harness {
    fn new(conn: Connection) -> Self {
        Harness {
            conn,
            fed: 0,
            user_bytes: 0,
            out_bytes: 0,
            closed: false,
            finished_at: None,
            max_message: usize::MAX,
        }
    }

    /// Runs a user command, counting the bytes it queues as the user's.
    fn user(&mut self, f: impl FnOnce(&mut Connection)) {
        let before = self.conn.buffered();
        f(&mut self.conn);
        self.user_bytes += self.conn.buffered() - before;
        self.drain();
    }

    fn user_commands(&mut self, flags: u8, now: Instant) {
        if flags & 0x10 != 0 {
            self.user(|c| {
                let _ = c.send(Message::text("hi"));
                let _ = c.send(Message::Ping("ka".try_into().expect("2 bytes")));
            });
        }
        if flags & 0x40 != 0 {
            self.user(|c| {
                let _ = c.send_frame(OpCode::Text, "frag".as_bytes(), false);
            });
        }
        if flags & 0x08 != 0 {
            self.user(|c| {
                let _ = c.close(now, CloseCode::NORMAL, "bye");
            });
        }
    }

    /// Takes every event and every queued byte, checking the invariants.
    fn drain(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Message(m) => {
                    assert!(!self.closed, "message {m:?} after the Closed event");
                    assert!(m.len() <= self.max_message, "{m:?} is over the limit");
                    if let Message::Text(t) = &m {
                        assert!(std::str::from_utf8(t.as_bytes()).is_ok());
                    }
                }
                Event::Error(_) => {}
                Event::Closed(_) => {
                    assert!(!self.closed, "Closed reported twice");
                    self.closed = true;
                }
            }
        }
        let mut out = BytesMut::new();
        self.out_bytes += self.conn.poll_transmit(&mut out);
        let own = self.out_bytes - self.user_bytes;
        assert!(
            own <= 8 * self.fed + 512,
            "{own} bytes queued in answer to {} bytes of input",
            self.fed
        );
        match self.finished_at {
            Some(n) => assert_eq!(n, self.out_bytes, "bytes queued after Finished"),
            None if self.conn.state() == State::Finished => {
                assert_eq!(self.conn.poll_timeout(), None);
                self.finished_at = Some(self.out_bytes);
            }
            None => {}
        }
    }
}

/// Head limits for the handshake targets: the low bit of `limits` picks tight limits (1 KiB,
/// 8 headers, the smallest the setters allow) so the fuzzer reaches them, else the defaults.
/// Feeds `stream` to one resumable head reader in segments of `step` bytes, as the tokio
/// layer reads a socket, and checks its answer against `one_shot` (the same bytes parsed in
/// one go): the same complete head, the same "too large", still partial when it is partial,
/// and for a malformed head the same error or (when the reader has not looked at the
/// incomplete head since it last doubled) partial.
pub fn check_segments<H: std::fmt::Debug + PartialEq>(
    stream: &[u8],
    step: usize,
    one_shot: &Result<wschannel_proto::handshake::Parsed<H>, wschannel_proto::HandshakeError>,
    mut read: impl FnMut(
        &[u8],
    ) -> Result<
        wschannel_proto::handshake::Parsed<H>,
        wschannel_proto::HandshakeError,
    >,
) {
    use wschannel_proto::handshake::Parsed;
    use wschannel_proto::HandshakeError;
    let step = step.max(1);
    let mut end = 0;
    let mut got = Ok(Parsed::Partial);
    while end < stream.len() {
        end = (end + step).min(stream.len());
        got = read(&stream[..end]);
        if !matches!(got, Ok(Parsed::Partial)) {
            break;
        }
    }
    match one_shot {
        Ok(_) | Err(HandshakeError::HeadTooLarge(_)) => {
            assert_eq!(&got, one_shot, "segments of {step}")
        }
        Err(_) => assert!(
            got.as_ref().err() == one_shot.as_ref().err() || got == Ok(Parsed::Partial),
            "segments of {step}: {got:?}, one shot {one_shot:?}"
        ),
    }
}

pub fn handshake_config(limits: u8) -> wschannel_proto::Config {
    if limits & 1 != 0 {
        wschannel_proto::Config::default().max_handshake_bytes(1024).max_headers(8)
    } else {
        wschannel_proto::Config::default()
    }
}
