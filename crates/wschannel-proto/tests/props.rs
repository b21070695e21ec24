//! Property tests: the optimised code agrees with its naive twin, and what one end encodes the
//! other end decodes, however the bytes are split.

use std::time::Instant;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;

use wschannel_proto::frame::{encode_frame, parse_header, FrameHeader};
use wschannel_proto::mask::{apply_mask, apply_mask_naive};
use wschannel_proto::utf8::Utf8Validator;
use wschannel_proto::{Config, Connection, ControlPayload, Event, Message, OpCode, Role};

// ---- (a) masking: word-at-a-time == byte-at-a-time ----

/// Every length 0..300 at every start alignment 0..8 and every key phase 0..4, exhaustively.
#[test]
fn mask_agrees_with_naive_on_every_length_alignment_and_phase() {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let data: Vec<u8> = (0..308u32).map(|i| (i.wrapping_mul(151) >> 2) as u8).collect();
    for start in 0..8 {
        for len in 0..300 {
            for offset in 0..4 {
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast[start..start + len], key, offset);
                apply_mask_naive(&mut slow[start..start + len], key, offset);
                assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
            }
        }
    }
}

proptest! {
    #[test]
    fn mask_agrees_with_naive(
        data in vec(any::<u8>(), 308),
        start in 0usize..8,
        len in 0usize..300,
        key in any::<[u8; 4]>(),
        offset in any::<usize>(),
    ) {
        let mut fast = data.clone();
        let mut slow = data.clone();
        apply_mask(&mut fast[start..start + len], key, offset);
        apply_mask_naive(&mut slow[start..start + len], key, offset);
        // Bytes outside the slice are untouched by both, so compare whole buffers.
        prop_assert_eq!(&fast, &slow);
        // Masking twice is the identity.
        apply_mask(&mut fast[start..start + len], key, offset);
        prop_assert_eq!(&fast, &data);
    }

    #[test]
    fn mask_in_pieces_equals_mask_whole(
        data in vec(any::<u8>(), 0..300),
        key in any::<[u8; 4]>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(data.len() + 1);
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data;
        let (a, b) = pieces.split_at_mut(cut);
        apply_mask(a, key, 0);
        apply_mask(b, key, cut);
        prop_assert_eq!(whole, pieces);
    }
}

// ---- (b) incremental UTF-8 == std::str::from_utf8 ----

/// Feeds `data` to a validator in pieces cut at `cuts` (any order, duplicates allowed).
fn validate_in_pieces(data: &[u8], cuts: &[prop::sample::Index]) -> bool {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    at.sort_unstable();
    let mut v = Utf8Validator::new();
    let mut prev = 0;
    for i in at {
        if v.feed(&data[prev..i]).is_err() {
            return false;
        }
        prev = i;
    }
    v.feed(&data[prev..]).is_ok() && v.finish().is_ok()
}

/// Bytes that are mostly near-UTF-8: ASCII, continuation bytes and lead bytes of every kind.
fn utf8ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        0x00u8..0x80,
        0x80u8..0xC0,
        0xC0u8..0xE0,
        0xE0u8..0xF0,
        0xF0u8..0xF8,
        0xF8u8..=0xFF,
        Just(0xEDu8),
        Just(0xF4u8),
    ];
    vec(byte, 0..40)
}

proptest! {
    #[test]
    fn utf8_valid_strings_pass_however_split(
        s in any::<String>(),
        cuts in vec(any::<prop::sample::Index>(), 1..=4),
    ) {
        prop_assert!(validate_in_pieces(s.as_bytes(), &cuts));
    }

    #[test]
    fn utf8_arbitrary_bytes_agree_with_std(
        data in prop_oneof![vec(any::<u8>(), 0..64), utf8ish_bytes()],
        cuts in vec(any::<prop::sample::Index>(), 1..=4),
    ) {
        let expect = std::str::from_utf8(&data).is_ok();
        prop_assert_eq!(validate_in_pieces(&data, &cuts), expect);
    }

    #[test]
    fn utf8_corrupted_strings_agree_with_std(
        s in "\\PC{1,40}",
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cuts in vec(any::<prop::sample::Index>(), 1..=4),
    ) {
        let mut data = s.into_bytes();
        let i = at.index(data.len());
        data[i] = byte;
        let expect = std::str::from_utf8(&data).is_ok();
        prop_assert_eq!(validate_in_pieces(&data, &cuts), expect);
    }

    #[test]
    fn utf8_truncated_strings_agree_with_std(
        s in "\\PC{1,20}",
        at in any::<prop::sample::Index>(),
        cuts in vec(any::<prop::sample::Index>(), 1..=4),
    ) {
        let data = &s.as_bytes()[..at.index(s.len() + 1)];
        let expect = std::str::from_utf8(data).is_ok();
        prop_assert_eq!(validate_in_pieces(data, &cuts), expect);
    }
}

// ---- (c) frame header round trip ----

/// A payload length that exercises every length encoding and its boundaries (§5.2).
fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..=130,
        1 => 120usize..=300,
        1 => 0xFFF0usize..=0x1_0010,
    ]
}

/// A valid header (as [`encode_frame`] may send it) with its payload.
fn frame() -> impl Strategy<Value = (FrameHeader, Vec<u8>)> {
    let data = (
        any::<bool>(),
        0u8..8,
        prop_oneof![Just(OpCode::Continuation), Just(OpCode::Text), Just(OpCode::Binary)],
        payload_len(),
    );
    let control = (
        Just(true),
        0u8..8,
        prop_oneof![Just(OpCode::Close), Just(OpCode::Ping), Just(OpCode::Pong)],
        0usize..=125,
    );
    (prop_oneof![data, control], any::<Option<[u8; 4]>>(), any::<u64>()).prop_map(
        |((fin, rsv, opcode, len), mask, seed)| {
            let payload: Vec<u8> =
                (0..len as u64).map(|i| (seed.rotate_left((i % 64) as u32) ^ i) as u8).collect();
            let header = FrameHeader { fin, rsv, opcode, mask, payload_len: len as u64 };
            (header, payload)
        },
    )
}

proptest! {
    #[test]
    fn frame_round_trip((header, payload) in frame()) {
        let mut out = BytesMut::new();
        encode_frame(&mut out, header.fin, header.rsv, header.opcode, header.mask, &payload);
        let (parsed, header_len) = parse_header(&out).unwrap().expect("a whole header");
        prop_assert_eq!(parsed, header);
        prop_assert_eq!(header_len, header.encoded_len());
        prop_assert_eq!(out.len(), header_len + payload.len());
        // Every strict prefix of the header asks for more.
        for i in 0..header_len {
            prop_assert_eq!(parse_header(&out[..i]), Ok(None));
        }
        let mut body = out[header_len..].to_vec();
        if let Some(key) = parsed.mask {
            apply_mask(&mut body, key, 0);
        }
        prop_assert_eq!(body, payload);
        // FrameHeader::encode agrees with encode_frame's header bytes.
        let mut alone = BytesMut::new();
        header.encode(&mut alone);
        prop_assert_eq!(&alone[..], &out[..header_len]);
    }
}

// ---- (d) connection round trip ----

/// A message a user may send and the peer receives as itself: text, binary or ping.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<String>().prop_map(Message::text),
        "\\PC{0,300}".prop_map(Message::text),
        vec(any::<u8>(), 0..400).prop_map(Message::binary),
        vec(any::<u8>(), 0..=125)
            .prop_map(|p| Message::Ping(ControlPayload::try_from(p).expect("<= 125 bytes"))),
    ]
}

/// Feeds `wire` to `conn` in pieces whose sizes cycle through `chunks`, and returns the events.
fn feed_chunked(conn: &mut Connection, now: Instant, wire: &[u8], chunks: &[usize]) -> Vec<Event> {
    let mut input = BytesMut::new();
    let mut rest = wire;
    for &size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        input.extend_from_slice(piece);
        conn.handle_read(now, &mut input);
    }
    assert!(input.is_empty(), "{} bytes left unconsumed", input.len());
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn round_trip(
    sender_role: Role,
    msgs: &[Message],
    chunks: &[usize],
    back_chunks: &[usize],
) -> Result<(), TestCaseError> {
    let receiver_role = match sender_role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let now = Instant::now();
    let mut sender = Connection::new(sender_role, Config::default(), now);
    let mut receiver = Connection::new(receiver_role, Config::default(), now);
    for m in msgs {
        sender.send(m.clone()).unwrap();
    }
    let mut wire = BytesMut::new();
    sender.poll_transmit(&mut wire);

    let events = feed_chunked(&mut receiver, now, &wire, chunks);
    let expected: Vec<Event> = msgs.iter().cloned().map(Event::Message).collect();
    prop_assert_eq!(&events, &expected);

    // The receiver owes a pong per ping: feed its replies back to the sender.
    let mut reply = BytesMut::new();
    receiver.poll_transmit(&mut reply);
    let pongs = feed_chunked(&mut sender, now, &reply, back_chunks);
    let expected: Vec<Event> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Ping(p) => Some(Event::Message(Message::Pong(p.clone()))),
            _ => None,
        })
        .collect();
    prop_assert_eq!(pongs, expected);
    let mut nothing = BytesMut::new();
    prop_assert_eq!(sender.poll_transmit(&mut nothing), 0, "a pong is not answered");
    Ok(())
}

/// Chunk sizes: mostly small (to split headers and code points), sometimes large.
fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![4 => 1usize..16, 1 => 16usize..2048], 1..8)
}

proptest! {
    #[test]
    fn client_to_server_round_trip(
        msgs in vec(message(), 0..12),
        chunks in chunk_sizes(),
        back_chunks in chunk_sizes(),
    ) {
        round_trip(Role::Client, &msgs, &chunks, &back_chunks)?;
    }

    #[test]
    fn server_to_client_round_trip(
        msgs in vec(message(), 0..12),
        chunks in chunk_sizes(),
        back_chunks in chunk_sizes(),
    ) {
        round_trip(Role::Server, &msgs, &chunks, &back_chunks)?;
    }

    #[test]
    fn fragmented_round_trip(
        text in "\\PC{0,60}",
        cuts in vec(any::<prop::sample::Index>(), 0..4),
        ping in vec(any::<u8>(), 0..=125),
        chunks in chunk_sizes(),
    ) {
        // A text message sent in fragments (split inside code points too), with a ping
        // after the first, arrives whole after the ping.
        let bytes = text.as_bytes();
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        at.push(bytes.len());
        let now = Instant::now();
        let mut client = Connection::new(Role::Client, Config::default(), now);
        let mut server = Connection::new(Role::Server, Config::default(), now);
        let ping = ControlPayload::try_from(ping).unwrap();
        let mut prev = 0;
        for (n, &i) in at.iter().enumerate() {
            let opcode = if n == 0 { OpCode::Text } else { OpCode::Continuation };
            let fin = n + 1 == at.len();
            client.send_frame(opcode, &bytes[prev..i], fin).unwrap();
            if n == 0 {
                client.ping(ping.clone()).unwrap();
            }
            prev = i;
        }
        let mut wire = BytesMut::new();
        client.poll_transmit(&mut wire);
        let events = feed_chunked(&mut server, now, &wire, &chunks);
        let ping = Event::Message(Message::Ping(ping));
        let text = Event::Message(Message::text(text.clone()));
        // Unfragmented (no cuts), the ping follows the message.
        let expected = if at.len() == 1 { vec![text, ping] } else { vec![ping, text] };
        prop_assert_eq!(events, expected);
    }
}

// ---- (e) permessage-deflate: any parameters, any payload, any split point ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn deflate_round_trips_at_any_split(
        piece in vec(any::<u8>(), 0..400),
        repeats in 1usize..20,
        messages in 1usize..4,
        cut in any::<prop::sample::Index>(),
        client_bits in 9u8..=15,
        server_bits in 9u8..=15,
        client_nct in any::<bool>(),
        server_nct in any::<bool>(),
        fragment in any::<bool>(),
    ) {
        use wschannel_proto::deflate::{client_accept, client_offer, server_accept};
        use wschannel_proto::DeflateConfig;
        let client = DeflateConfig::default()
            .threshold(0)
            .max_window_bits(client_bits)
            .no_context_takeover(client_nct);
        let server = DeflateConfig::default()
            .peer_max_window_bits(server_bits)
            .peer_no_context_takeover(server_nct);
        let (response, s_ext) = server_accept(Some(&client_offer(&client)), &server).unwrap();
        let c_ext = client_accept(Some(&response), &client).unwrap().unwrap();
        let now = Instant::now();
        let mut c = Connection::new(Role::Client, Config::default(), now);
        let mut s = Connection::new(Role::Server, Config::default(), now);
        c.set_extension(Box::new(c_ext));
        s.set_extension(Box::new(s_ext));
        let payload = piece.repeat(repeats);
        for _ in 0..messages {
            if fragment {
                let half = payload.len() / 2;
                c.send_frame(OpCode::Binary, &payload[..half], false).unwrap();
                c.send_frame(OpCode::Continuation, &payload[half..], true).unwrap();
            } else {
                c.send(Message::binary(payload.clone())).unwrap();
            }
        }
        let mut wire = BytesMut::new();
        c.poll_transmit(&mut wire);
        let at = cut.index(wire.len() + 1);
        let mut a = BytesMut::from(&wire[..at]);
        let mut b = BytesMut::from(&wire[at..]);
        s.handle_read(now, &mut a);
        a.unsplit(b.split());
        s.handle_read(now, &mut a);
        for _ in 0..messages {
            prop_assert_eq!(s.poll_event(), Some(Event::Message(Message::binary(payload.clone()))));
        }
        prop_assert_eq!(s.poll_event(), None);
    }
}
