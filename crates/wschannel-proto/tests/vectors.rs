//! RFC 6455 §5.7 example frames, byte for byte: parsed by the header parser, parsed by a
//! [`Connection`] in the role that may receive them, and produced by the encoder.
//!
//! (The §1.3 `Sec-WebSocket-Accept` vector lives with the handshake tests.)

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use wschannel_proto::frame::{encode_frame, parse_header, FrameHeader};
use wschannel_proto::mask::apply_mask;
use wschannel_proto::{Config, Connection, Event, Message, OpCode, Role};

/// RFC 6455 §5.7: the masking key of the masked examples.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A single-frame unmasked text message: "Hello".
const UNMASKED_HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// A single-frame masked text message: "Hello".
const MASKED_HELLO: &[u8] = &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// A fragmented unmasked text message: "Hel" ...
const FRAGMENT_1: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c];
/// ... then "lo".
const FRAGMENT_2: &[u8] = &[0x80, 0x02, 0x6c, 0x6f];
/// Unmasked ping with body "Hello".
const UNMASKED_PING: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// Masked pong with body "Hello" (the reply to the ping above).
const MASKED_PONG: &[u8] = &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

/// The "256 bytes binary message in a single unmasked frame" example: header then payload.
fn binary_256() -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
    let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
    wire.extend_from_slice(&payload);
    (wire, payload)
}

/// The "64KiB binary message in a single unmasked frame" example: header then payload.
fn binary_64k() -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut wire = vec![0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    wire.extend_from_slice(&payload);
    (wire, payload)
}

/// Parses one whole frame with the header parser and unmasks its payload.
fn parse_frame(wire: &[u8]) -> (FrameHeader, Vec<u8>) {
    let (header, header_len) = parse_header(wire).unwrap().expect("a complete header");
    let mut payload = wire[header_len..].to_vec();
    assert_eq!(payload.len() as u64, header.payload_len, "the vector is exactly one frame");
    if let Some(key) = header.mask {
        apply_mask(&mut payload, key, 0);
    }
    (header, payload)
}

fn encode(fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(&mut out, fin, 0, opcode, mask, payload);
    out.to_vec()
}

/// Feeds `frames` to a fresh connection in `role`, one `handle_read` per frame, and returns
/// the events and the bytes the connection queued in reply.
fn feed(role: Role, frames: &[&[u8]]) -> (Vec<Event>, BytesMut) {
    let now = Instant::now();
    let mut conn = Connection::new(role, Config::default(), now);
    for frame in frames {
        let mut input = BytesMut::from(*frame);
        conn.handle_read(now, &mut input);
        assert!(input.is_empty(), "a whole frame is consumed");
    }
    let events = std::iter::from_fn(|| conn.poll_event()).collect();
    let mut out = BytesMut::new();
    conn.poll_transmit(&mut out);
    (events, out)
}

fn text(s: &'static str) -> Event {
    Event::Message(Message::Text(s.into()))
}

fn binary(b: Vec<u8>) -> Event {
    Event::Message(Message::Binary(Bytes::from(b)))
}

// ---- parsed by the header parser ----

#[test]
fn parse_unmasked_hello() {
    let (h, payload) = parse_frame(UNMASKED_HELLO);
    assert!(h.fin);
    assert_eq!((h.rsv, h.opcode, h.mask, h.payload_len), (0, OpCode::Text, None, 5));
    assert_eq!(payload, b"Hello");
}

#[test]
fn parse_masked_hello() {
    let (h, payload) = parse_frame(MASKED_HELLO);
    assert!(h.fin);
    assert_eq!((h.rsv, h.opcode, h.mask, h.payload_len), (0, OpCode::Text, Some(KEY), 5));
    assert_eq!(payload, b"Hello");
}

#[test]
fn parse_fragmented_hello() {
    let (h1, p1) = parse_frame(FRAGMENT_1);
    assert!(!h1.fin);
    assert_eq!((h1.opcode, h1.mask, h1.payload_len), (OpCode::Text, None, 3));
    assert_eq!(p1, b"Hel");
    let (h2, p2) = parse_frame(FRAGMENT_2);
    assert!(h2.fin);
    assert_eq!((h2.opcode, h2.mask, h2.payload_len), (OpCode::Continuation, None, 2));
    assert_eq!(p2, b"lo");
}

#[test]
fn parse_unmasked_ping_and_masked_pong() {
    let (ping, body) = parse_frame(UNMASKED_PING);
    assert!(ping.fin);
    assert_eq!((ping.opcode, ping.mask), (OpCode::Ping, None));
    assert_eq!(body, b"Hello");
    let (pong, body) = parse_frame(MASKED_PONG);
    assert!(pong.fin);
    assert_eq!((pong.opcode, pong.mask), (OpCode::Pong, Some(KEY)));
    assert_eq!(body, b"Hello");
}

#[test]
fn parse_256_byte_binary_with_16_bit_length() {
    let (wire, payload) = binary_256();
    let (h, header_len) = parse_header(&wire).unwrap().unwrap();
    assert_eq!(header_len, 4);
    assert_eq!((h.fin, h.opcode, h.mask, h.payload_len), (true, OpCode::Binary, None, 256));
    assert_eq!(parse_frame(&wire).1, payload);
}

#[test]
fn parse_64k_binary_with_64_bit_length() {
    let (wire, payload) = binary_64k();
    let (h, header_len) = parse_header(&wire).unwrap().unwrap();
    assert_eq!(header_len, 10);
    assert_eq!((h.fin, h.opcode, h.mask, h.payload_len), (true, OpCode::Binary, None, 65536));
    assert_eq!(parse_frame(&wire).1, payload);
}

// ---- encoded ----

#[test]
fn encode_unmasked_hello() {
    assert_eq!(encode(true, OpCode::Text, None, b"Hello"), UNMASKED_HELLO);
}

#[test]
fn encode_masked_hello() {
    assert_eq!(encode(true, OpCode::Text, Some(KEY), b"Hello"), MASKED_HELLO);
}

#[test]
fn encode_fragmented_hello() {
    assert_eq!(encode(false, OpCode::Text, None, b"Hel"), FRAGMENT_1);
    assert_eq!(encode(true, OpCode::Continuation, None, b"lo"), FRAGMENT_2);
}

#[test]
fn encode_unmasked_ping_and_masked_pong() {
    assert_eq!(encode(true, OpCode::Ping, None, b"Hello"), UNMASKED_PING);
    assert_eq!(encode(true, OpCode::Pong, Some(KEY), b"Hello"), MASKED_PONG);
}

#[test]
fn encode_256_byte_binary() {
    let (wire, payload) = binary_256();
    assert_eq!(encode(true, OpCode::Binary, None, &payload), wire);
}

#[test]
fn encode_64k_binary() {
    let (wire, payload) = binary_64k();
    assert_eq!(encode(true, OpCode::Binary, None, &payload), wire);
}

// ---- parsed by a connection in the role that receives them ----

#[test]
fn server_receives_masked_hello() {
    let (events, out) = feed(Role::Server, &[MASKED_HELLO]);
    assert_eq!(events, [text("Hello")]);
    assert!(out.is_empty());
}

#[test]
fn client_receives_unmasked_hello() {
    let (events, out) = feed(Role::Client, &[UNMASKED_HELLO]);
    assert_eq!(events, [text("Hello")]);
    assert!(out.is_empty());
}

#[test]
fn client_receives_fragmented_hello_as_one_message() {
    let (events, _) = feed(Role::Client, &[FRAGMENT_1, FRAGMENT_2]);
    assert_eq!(events, [text("Hello")]);
    // The same two frames in one read, and split inside the first header.
    let both = [FRAGMENT_1, FRAGMENT_2].concat();
    let (events, _) = feed(Role::Client, &[&both]);
    assert_eq!(events, [text("Hello")]);
    let now = Instant::now();
    let mut conn = Connection::new(Role::Client, Config::default(), now);
    let mut input = BytesMut::new();
    for piece in both.chunks(1) {
        input.extend_from_slice(piece);
        conn.handle_read(now, &mut input);
    }
    assert_eq!(conn.poll_event(), Some(text("Hello")));
    assert_eq!(conn.poll_event(), None);
}

#[test]
fn server_refuses_unmasked_hello() {
    // RFC 6455 §5.1: a server MUST close the connection on an unmasked frame.
    let (events, _) = feed(Role::Server, &[UNMASKED_HELLO]);
    assert!(matches!(events.first(), Some(Event::Error(_))), "{events:?}");
    assert!(!events.contains(&text("Hello")));
}

#[test]
fn client_answers_unmasked_ping_with_masked_pong() {
    let (events, out) = feed(Role::Client, &[UNMASKED_PING]);
    assert_eq!(events, [Event::Message(Message::Ping(b"Hello".to_vec().try_into().unwrap()))]);
    // The pong's key is random: check its shape, then its payload after unmasking.
    let (h, payload) = parse_frame(&out);
    assert!(h.fin);
    assert_eq!(h.opcode, OpCode::Pong);
    assert!(h.mask.is_some());
    assert_eq!(payload, b"Hello");
}

#[test]
fn server_answers_masked_ping_with_unmasked_pong() {
    let masked_ping = encode(true, OpCode::Ping, Some(KEY), b"Hello");
    let (events, out) = feed(Role::Server, &[&masked_ping]);
    assert_eq!(events, [Event::Message(Message::Ping(b"Hello".to_vec().try_into().unwrap()))]);
    let unmasked_pong = encode(true, OpCode::Pong, None, b"Hello");
    assert_eq!(out[..], unmasked_pong[..]);
    assert_eq!(&out[..2], &[0x8a, 0x05]);
}

#[test]
fn server_receives_masked_pong() {
    let (events, out) = feed(Role::Server, &[MASKED_PONG]);
    assert_eq!(events, [Event::Message(Message::Pong(b"Hello".to_vec().try_into().unwrap()))]);
    assert!(out.is_empty(), "a pong is not answered");
}

#[test]
fn client_receives_256_byte_and_64k_binary() {
    let (w256, p256) = binary_256();
    let (w64k, p64k) = binary_64k();
    let (events, _) = feed(Role::Client, &[&w256, &w64k]);
    assert_eq!(events, [binary(p256), binary(p64k)]);
}

#[test]
fn server_receives_masked_256_byte_and_64k_binary() {
    let (_, p256) = binary_256();
    let (_, p64k) = binary_64k();
    let w256 = encode(true, OpCode::Binary, Some(KEY), &p256);
    let w64k = encode(true, OpCode::Binary, Some(KEY), &p64k);
    // Same headers as the unmasked examples, with the MASK bit and key added.
    assert_eq!(&w256[..8], &[0x82, 0xFE, 0x01, 0x00, 0x37, 0xfa, 0x21, 0x3d]);
    assert_eq!(&w64k[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0, 0]);
    let (events, _) = feed(Role::Server, &[&w256, &w64k]);
    assert_eq!(events, [binary(p256), binary(p64k)]);
}
