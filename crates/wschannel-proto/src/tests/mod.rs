//! Client<->server behaviour through an in-memory [`Pair`] with a fake clock.

mod deflate;
mod pair;

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::close::CloseCode;
use crate::connection::{Event, Initiator, Role, State};
use crate::error::ProtocolError;
use crate::frame::OpCode;
use crate::message::{ControlPayload, Message};
use crate::Config;
use pair::Pair;

#[test]
fn text_and_binary_arrive_typed_both_ways() {
    let mut p = Pair::new(Config::default());
    p.client.send(Message::text("héllo")).unwrap();
    p.client.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    p.drive();
    assert_eq!(
        p.server_messages(),
        vec![Message::text("héllo"), Message::binary(vec![0u8, 1, 2, 255])]
    );
    p.server.send(Message::text("back")).unwrap();
    p.drive();
    assert_eq!(p.client_messages(), vec![Message::text("back")]);
}

#[test]
fn every_split_offset_yields_the_same_messages() {
    let mut reference = Pair::new(Config::default());
    let mut wire = BytesMut::new();
    reference.client.send(Message::text("a€𝄞b".repeat(20))).unwrap();
    reference.client.send_frame(OpCode::Binary, &[1; 130], false).unwrap();
    reference.client.ping(ControlPayload::try_from_bytes(&b"mid"[..]).unwrap()).unwrap();
    reference.client.send_frame(OpCode::Continuation, &[2; 70_000], true).unwrap();
    reference.client.poll_transmit(&mut wire);
    let expected = {
        let mut binary = vec![1u8; 130];
        binary.extend(std::iter::repeat_n(2u8, 70_000));
        vec![
            Message::text("a€𝄞b".repeat(20)),
            Message::Ping(ControlPayload::try_from_bytes(&b"mid"[..]).unwrap()),
            Message::binary(binary),
        ]
    };
    // Every offset up to the third frame's header, then a few inside the long payload.
    let offsets: Vec<usize> =
        (0..400).chain((400..wire.len()).step_by(997)).chain([wire.len() - 1]).collect();
    for split in offsets {
        let mut p = Pair::new(Config::default());
        let mut a = BytesMut::from(&wire[..split]);
        let mut b = BytesMut::from(&wire[split..]);
        p.server.handle_read(p.now, &mut a);
        a.unsplit(b.split());
        p.server.handle_read(p.now, &mut a);
        assert_eq!(p.server_messages(), expected, "split at {split}");
    }
}

#[test]
fn byte_at_a_time_delivery() {
    let mut p = Pair::new(Config::default());
    p.client.send(Message::text("one")).unwrap();
    p.client.send_frame(OpCode::Text, "tw".as_bytes(), false).unwrap();
    p.client.send_frame(OpCode::Continuation, "o".as_bytes(), true).unwrap();
    p.drive_bytewise();
    assert_eq!(p.server_messages(), vec![Message::text("one"), Message::text("two")]);
}

#[test]
fn pings_interleaved_in_fragments_are_answered() {
    let mut p = Pair::new(Config::default());
    p.client.send_frame(OpCode::Text, b"ab", false).unwrap();
    p.client.ping(ControlPayload::try_from_bytes(&b"p1"[..]).unwrap()).unwrap();
    p.client.send_frame(OpCode::Continuation, b"cd", true).unwrap();
    p.drive();
    let events = p.server_messages();
    assert_eq!(
        events,
        vec![
            Message::Ping(ControlPayload::try_from_bytes(&b"p1"[..]).unwrap()),
            Message::text("abcd")
        ]
    );
    // The server's pong went back without the server user doing anything.
    assert_eq!(
        p.client_messages(),
        vec![Message::Pong(ControlPayload::try_from_bytes(&b"p1"[..]).unwrap())]
    );
}

#[test]
fn client_initiated_close() {
    let mut p = Pair::new(Config::default());
    p.client.close(p.now, CloseCode::new(4000).unwrap(), "bye").unwrap();
    assert_eq!(p.client.state(), State::CloseSent);
    assert!(p.client.send(Message::text("late")).is_err());
    p.drive();
    // The server echoed and is done; it closes TCP first (RFC 6455 §7.1.1).
    assert_eq!(p.server.state(), State::Finished);
    let info = p.server.close_info().unwrap();
    assert_eq!((info.code.as_u16(), info.reason.as_str()), (4000, "bye"));
    assert_eq!(info.initiator, Initiator::Remote);
    // The client got the echo and waits for TCP to close.
    assert_eq!(p.client.state(), State::Closed);
    let info = p.client.close_info().unwrap();
    assert_eq!(info.code.as_u16(), 4000);
    assert_eq!(info.initiator, Initiator::Local);
    p.client.handle_eof();
    assert_eq!(p.client.state(), State::Finished);
    assert_eq!(p.client.close_info().unwrap().code.as_u16(), 4000, "EOF after close keeps code");
}

#[test]
fn server_initiated_close_and_client_tcp_wait_times_out() {
    let mut p = Pair::new(Config::default().close_timeout(Duration::from_secs(3)));
    p.server.close(p.now, CloseCode::GOING_AWAY, "restart").unwrap();
    p.drive();
    assert_eq!(p.server.state(), State::Finished);
    assert_eq!(p.client.state(), State::Closed);
    assert_eq!(p.client.close_info().unwrap().code, CloseCode::GOING_AWAY);
    // The server never closes TCP: the client gives up at the deadline it announced.
    let deadline = p.client.poll_timeout().unwrap();
    assert_eq!(deadline, p.now + Duration::from_secs(3));
    p.client.handle_timeout(deadline);
    assert_eq!(p.client.state(), State::Finished);
}

#[test]
fn close_without_code_is_1005_and_echoed_empty() {
    let mut p = Pair::new(Config::default());
    p.client.send(Message::Close(None)).unwrap();
    p.drive();
    assert_eq!(p.server.close_info().unwrap().code, CloseCode::NO_STATUS);
    assert_eq!(p.client.close_info().unwrap().code, CloseCode::NO_STATUS);
}

#[test]
fn eof_without_close_is_1006() {
    let mut p = Pair::new(Config::default());
    p.server.handle_eof();
    assert_eq!(p.server.state(), State::Finished);
    let info = p.server.close_info().unwrap();
    assert_eq!(info.code, CloseCode::ABNORMAL);
    assert!(matches!(p.server.poll_event(), Some(Event::Closed(_))));
}

#[test]
fn peer_unanswered_close_times_out() {
    let mut p = Pair::new(Config::default());
    p.server.close(p.now, CloseCode::NORMAL, "").unwrap();
    let deadline = p.server.poll_timeout().unwrap();
    p.server.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(p.server.state(), State::CloseSent);
    p.server.handle_timeout(deadline);
    assert_eq!(p.server.state(), State::Finished);
    assert_eq!(p.server.close_info().unwrap().code, CloseCode::ABNORMAL);
}

#[test]
fn keepalive_pings_and_detects_a_dead_peer() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(10)))
        .ping_timeout(Duration::from_secs(5));
    let mut p = Pair::new(config);
    let start = p.now;
    assert_eq!(p.client.poll_timeout(), Some(start + Duration::from_secs(10)));
    // A live peer: the ping is answered and the timer re-arms from the answer.
    p.advance(Duration::from_secs(10));
    p.client.handle_timeout(p.now);
    assert_eq!(p.client.poll_timeout(), Some(p.now + Duration::from_secs(5)));
    p.drive();
    assert!(matches!(p.client_messages().as_slice(), [Message::Pong(_)]));
    assert_eq!(p.client.state(), State::Open);
    assert_eq!(p.client.poll_timeout(), Some(p.now + Duration::from_secs(10)));
    // A dead peer: the next ping goes unanswered.
    p.advance(Duration::from_secs(10));
    p.client.handle_timeout(p.now);
    let mut lost = BytesMut::new();
    p.client.poll_transmit(&mut lost);
    assert!(!lost.is_empty(), "a ping was queued");
    p.advance(Duration::from_secs(5));
    p.client.handle_timeout(p.now);
    assert_eq!(p.client.state(), State::Finished);
    let events: Vec<_> = std::iter::from_fn(|| p.client.poll_event()).collect();
    assert!(events.contains(&Event::Error(ProtocolError::PingTimeout)), "{events:?}");
    assert_eq!(p.client.close_info().unwrap().code, CloseCode::ABNORMAL);
}

#[test]
fn protocol_errors_close_with_their_code() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![0x83, 0x80, 0, 0, 0, 0], 1002),       // reserved opcode
        (vec![0xC1, 0x80, 0, 0, 0, 0], 1002),       // RSV1 without extension
        (vec![0x81, 0x00], 1002),                   // unmasked client frame
        (vec![0x80, 0x80, 0, 0, 0, 0], 1002),       // continuation without start
        (vec![0x88, 0x81, 0, 0, 0, 0, 0x03], 1002), // 1-byte close
        (vec![0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED], 1002), // close code 1005
        (vec![0x81, 0x81, 0, 0, 0, 0, 0xFF], 1007), // invalid UTF-8
        (vec![0x88, 0x83, 0, 0, 0, 0, 0x03, 0xE8, 0xFF], 1007), // invalid UTF-8 reason
    ];
    for (bytes, code) in cases {
        let mut p = Pair::new(Config::default());
        let mut input = BytesMut::from(&bytes[..]);
        p.server.handle_read(p.now, &mut input);
        let events: Vec<_> = std::iter::from_fn(|| p.server.poll_event()).collect();
        assert!(matches!(events.first(), Some(Event::Error(_))), "{bytes:x?}: {events:?}");
        assert_eq!(p.server.close_info().unwrap().code.as_u16(), code, "{bytes:x?}");
        assert_eq!(p.server.close_info().unwrap().initiator, Initiator::Library);
        // The close frame with that code is on its way to the peer.
        p.drive();
        assert_eq!(p.client.close_info().unwrap().code.as_u16(), code, "{bytes:x?}");
    }
}

#[test]
fn new_data_frame_inside_fragmented_message_is_an_error() {
    let mut p = Pair::new(Config::default());
    p.client.send_frame(OpCode::Text, b"a", false).unwrap();
    // Bypass the sender's own check to put a protocol violation on the wire.
    let mut wire = BytesMut::new();
    p.client.poll_transmit(&mut wire);
    crate::frame::encode_frame(&mut wire, true, 0, OpCode::Binary, Some([9, 9, 9, 9]), b"b");
    p.server.handle_read(p.now, &mut wire);
    assert_eq!(p.server.poll_event(), Some(Event::Error(ProtocolError::ExpectedContinuation)));
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    let mut p = Pair::new(Config::default());
    // A 1000-byte text frame whose 4th byte is invalid: only the first 10 bytes arrive.
    let mut payload = vec![b'a'; 1000];
    payload[3] = 0xFF;
    let mut wire = BytesMut::new();
    crate::frame::encode_frame(&mut wire, true, 0, OpCode::Text, Some([1, 2, 3, 4]), &payload);
    let mut first = wire.split_to(8 + 10);
    p.server.handle_read(p.now, &mut first);
    assert_eq!(p.server.poll_event(), Some(Event::Error(ProtocolError::InvalidUtf8)));
}

#[test]
fn message_limit_counts_fragments_before_allocating() {
    let config = Config::default().max_message_size(1000).max_frame_size(600);
    let mut p = Pair::new(config);
    p.client.send_frame(OpCode::Binary, &[0; 600], false).unwrap();
    p.client.send_frame(OpCode::Continuation, &[0; 500], true).unwrap();
    let mut wire = BytesMut::new();
    p.client.poll_transmit(&mut wire);
    p.server.handle_read(p.now, &mut wire);
    let events: Vec<_> = std::iter::from_fn(|| p.server.poll_event()).collect();
    assert!(
        matches!(
            events[0],
            Event::Error(ProtocolError::MessageTooLarge { size: 1100, limit: 1000 })
        ),
        "{events:?}"
    );
    assert_eq!(p.server.close_info().unwrap().code, CloseCode::MESSAGE_TOO_BIG);

    // A header declaring 2^62 bytes is refused from its 10 header bytes alone.
    let mut p = Pair::new(Config::default());
    let mut wire = BytesMut::from(&[0x82u8, 0xFF][..]);
    wire.extend_from_slice(&(1u64 << 62).to_be_bytes());
    wire.extend_from_slice(&[1, 2, 3, 4]);
    p.server.handle_read(p.now, &mut wire);
    assert!(matches!(
        p.server.poll_event(),
        Some(Event::Error(ProtocolError::FrameTooLarge { .. }))
    ));
}

#[test]
fn nothing_is_sent_after_close() {
    let mut p = Pair::new(Config::default());
    p.server.close(p.now, CloseCode::NORMAL, "").unwrap();
    assert_eq!(p.server.send(Message::text("x")), Err(crate::UsageError::Closed));
    assert!(p.server.ping(ControlPayload::new()).is_err());
    // A ping arriving after our close is not answered with a pong (only our close is queued).
    let mut out = BytesMut::new();
    p.server.poll_transmit(&mut out);
    let mut wire = BytesMut::new();
    crate::frame::encode_frame(&mut wire, true, 0, OpCode::Ping, Some([1, 1, 1, 1]), b"hi");
    p.server.handle_read(p.now, &mut wire);
    assert_eq!(p.server.buffered(), 0);
}

#[test]
fn role_masking_rules() {
    let mut p = Pair::new(Config::default());
    // A server frame with a mask is a protocol error at the client.
    let mut wire = BytesMut::new();
    crate::frame::encode_frame(&mut wire, true, 0, OpCode::Text, Some([1, 2, 3, 4]), b"x");
    p.client.handle_read(p.now, &mut wire);
    assert_eq!(p.client.poll_event(), Some(Event::Error(ProtocolError::MaskedFrame)));
    // And the client's own frames are masked.
    let mut q = Pair::new(Config::default());
    q.client.send(Message::text("x")).unwrap();
    let mut out = BytesMut::new();
    q.client.poll_transmit(&mut out);
    assert_eq!(out[1] & 0x80, 0x80);
    assert_eq!(q.client.role(), Role::Client);
}

#[test]
fn messages_before_a_protocol_error_can_still_be_answered() {
    // Autobahn 3.2: a valid message, then a frame with RSV bits, in one read. The message is
    // delivered and can be echoed before the connection fails with 1002.
    let mut p = Pair::new(Config::default());
    p.client.send(Message::text("first")).unwrap();
    let mut wire = BytesMut::new();
    p.client.poll_transmit(&mut wire);
    crate::frame::encode_frame(&mut wire, true, 0b010, OpCode::Text, Some([1, 2, 3, 4]), b"bad");
    p.server.handle_read(p.now, &mut wire);
    assert_eq!(p.server.poll_event(), Some(Event::Message(Message::text("first"))));
    p.server.send(Message::text("first")).unwrap();
    assert_eq!(p.server.poll_event(), Some(Event::Error(ProtocolError::ReservedBits(0b010))));
    assert!(matches!(p.server.poll_event(), Some(Event::Closed(_))));
    assert_eq!(p.server.state(), State::Finished);
    // On the wire: the echo, then the close with 1002.
    p.drive();
    assert_eq!(p.client_messages(), vec![Message::text("first")]);
    assert_eq!(p.client.close_info().unwrap().code, CloseCode::PROTOCOL_ERROR);
}

#[test]
fn a_pending_failure_is_bounded_by_the_close_timeout() {
    let mut p = Pair::new(Config::default().close_timeout(Duration::from_secs(2)));
    p.client.send(Message::text("first")).unwrap();
    let mut wire = BytesMut::new();
    p.client.poll_transmit(&mut wire);
    wire.extend_from_slice(&[0x83, 0x80, 0, 0, 0, 0]); // reserved opcode
    p.server.handle_read(p.now, &mut wire);
    // Nobody takes the message: the failure applies at the deadline anyway.
    assert_eq!(p.server.poll_timeout(), Some(p.now + Duration::from_secs(2)));
    p.server.handle_timeout(p.now + Duration::from_secs(2));
    assert_eq!(p.server.state(), State::Finished);
    assert!(p.server.buffered() > 0, "the close frame is queued");
    let events: Vec<_> = std::iter::from_fn(|| p.server.poll_event()).collect();
    assert!(matches!(events[0], Event::Message(_)));
    assert_eq!(events[1], Event::Error(ProtocolError::ReservedOpcode(3)));
}

/// The wire bytes of `msgs` sent by a client.
fn client_wire(msgs: &[Message]) -> BytesMut {
    let mut p = Pair::new(Config::default());
    for m in msgs {
        p.client.send(m.clone()).unwrap();
    }
    let mut wire = BytesMut::new();
    p.client.poll_transmit(&mut wire);
    wire
}

#[test]
fn in_place_frames_arrive_whole_at_every_split() {
    let expected = vec![
        Message::text("a€𝄞b".repeat(300)),
        Message::binary(vec![7u8; 5000]),
        Message::text("short"),
    ];
    let wire = client_wire(&expected);
    for split in (0..wire.len()).step_by(7).chain([wire.len() - 1]) {
        let mut server = crate::Connection::new(Role::Server, Config::default(), Instant::now());
        server.set_in_place_limit(1 << 20);
        // One buffer, only appended to, as the channel keeps it.
        let mut input = BytesMut::with_capacity(wire.len());
        input.extend_from_slice(&wire[..split]);
        server.handle_read(Instant::now(), &mut input);
        if server.read_hint() > 0 {
            assert!(!input.is_empty(), "split at {split}: a frame waits in the buffer");
        }
        input.extend_from_slice(&wire[split..]);
        server.handle_read(Instant::now(), &mut input);
        assert_eq!(server.read_hint(), 0);
        let got: Vec<Message> = std::iter::from_fn(|| server.poll_event())
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(got, expected, "split at {split}");
    }
}

#[test]
fn an_in_place_frame_is_a_slice_of_the_input_buffer() {
    let wire = client_wire(&[Message::binary(vec![3u8; 3000])]);
    let mut server = crate::Connection::new(Role::Server, Config::default(), Instant::now());
    server.set_in_place_limit(1 << 20);
    let mut input = BytesMut::with_capacity(wire.len());
    let start = input.as_ptr() as usize;
    input.extend_from_slice(&wire[..1000]);
    server.handle_read(Instant::now(), &mut input);
    // 8 header bytes: 2, a 16-bit length, the mask key.
    assert_eq!(server.read_hint(), 3000 - (1000 - 8));
    assert_eq!(server.unread_bytes(), 1000 - 8, "what arrived counts against the budget");
    input.extend_from_slice(&wire[1000..]);
    server.handle_read(Instant::now(), &mut input);
    let Some(Event::Message(Message::Binary(b))) = server.poll_event() else { panic!() };
    assert_eq!(&b[..], &[3u8; 3000][..]);
    let at = b.as_ptr() as usize;
    assert!(at >= start && at < start + wire.len(), "the payload was copied");
}

#[test]
fn in_place_text_fails_at_the_first_invalid_byte() {
    let mut payload = vec![b'a'; 1000];
    payload[3] = 0xFF;
    let mut wire = BytesMut::new();
    crate::frame::encode_frame(&mut wire, true, 0, OpCode::Text, Some([1, 2, 3, 4]), &payload);
    let mut server = crate::Connection::new(Role::Server, Config::default(), Instant::now());
    server.set_in_place_limit(1 << 20);
    let mut first = wire.split_to(8 + 10);
    server.handle_read(Instant::now(), &mut first);
    assert_eq!(server.poll_event(), Some(Event::Error(ProtocolError::InvalidUtf8)));
    assert_eq!(server.read_hint(), 0);
}

#[test]
fn release_buffers_gives_back_only_what_is_empty() {
    let mut p = Pair::new(Config::default());
    p.server.send(Message::binary(vec![1u8; 40_000])).unwrap();
    p.server.release_buffers();
    assert_eq!(p.server.buffered(), 40_004, "queued bytes stay");
    let mut wire = BytesMut::new();
    p.server.poll_transmit(&mut wire);
    p.server.release_buffers();
    p.server.send(Message::text("after")).unwrap();
    let mut more = BytesMut::new();
    p.server.poll_transmit(&mut more);
    assert_eq!(&more[..], b"\x81\x05after", "works as before once released");
}
