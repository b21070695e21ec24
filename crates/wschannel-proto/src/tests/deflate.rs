//! Permessage-deflate between an in-memory client and server: every parameter combination,
//! every split point, fragments both ways, and hostile input (bombs, empty-block floods).

use std::time::Instant;

use bytes::BytesMut;
use flate2::{Compress, Compression, FlushCompress};

use super::pair::Pair;
use crate::close::CloseCode;
use crate::connection::{Connection, Event, Role};
use crate::deflate::{client_accept, client_offer, server_accept};
use crate::error::ProtocolError;
use crate::frame::{encode_frame, OpCode};
use crate::message::Message;
use crate::{Config, DeflateConfig};

/// Every client and server setting that changes what is negotiated or how it is used.
fn configs() -> Vec<DeflateConfig> {
    let mut all = Vec::new();
    for no_context_takeover in [false, true] {
        for peer_no_context_takeover in [false, true] {
            for max_window_bits in [9, 15] {
                for peer_max_window_bits in [9, 15] {
                    all.push(
                        DeflateConfig::default()
                            .threshold(16)
                            .no_context_takeover(no_context_takeover)
                            .peer_no_context_takeover(peer_no_context_takeover)
                            .max_window_bits(max_window_bits)
                            .peer_max_window_bits(peer_max_window_bits),
                    );
                }
            }
        }
    }
    all
}

/// Text and binary that compress, with repeats far apart (beyond a 9-bit window).
fn payloads() -> Vec<Message> {
    let text: String = (0..400).map(|i| format!("line {} of the message; ", i % 37)).collect();
    let binary: Vec<u8> =
        (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8).collect();
    vec![
        Message::text(text.clone()),
        Message::binary(binary),
        Message::text(text),
        Message::text("short"),
        Message::binary(Vec::new()),
        Message::text("é".repeat(3000)),
    ]
}

fn exchange(p: &mut Pair) {
    let sent = payloads();
    for m in &sent {
        p.client.send(m.clone()).unwrap();
        p.server.send(m.clone()).unwrap();
    }
    // One message uncompressed on request, one fragmented (compressed, RSV1 on the first).
    p.client.send_uncompressed(sent[0].clone()).unwrap();
    p.server.send_uncompressed(sent[1].clone()).unwrap();
    for conn in [&mut p.client, &mut p.server] {
        conn.send_frame(OpCode::Text, "a€𝄞".repeat(100).as_bytes(), false).unwrap();
        conn.send_frame(OpCode::Continuation, b"", false).unwrap();
        conn.send_frame(OpCode::Continuation, "b€".repeat(300).as_bytes(), true).unwrap();
    }
    p.drive();
    let mut expected = sent.clone();
    expected.push(sent[0].clone());
    let fragmented = Message::text(format!("{}{}", "a€𝄞".repeat(100), "b€".repeat(300)));
    expected.push(fragmented.clone());
    assert_eq!(p.server_messages(), expected);
    expected[sent.len()] = sent[1].clone();
    assert_eq!(p.client_messages(), expected);
}

#[test]
fn every_parameter_combination_round_trips_both_ways() {
    for client in configs() {
        for server in configs() {
            let mut p = Pair::with_deflate(Config::default(), &client, &server);
            exchange(&mut p);
            for conn in [&p.client, &p.server] {
                let stats = conn.extension().unwrap().stats();
                // Everything at or above the 16-byte threshold went compressed, except the one
                // sent uncompressed on request.
                assert_eq!(stats.messages_out, 5, "{client:?} {server:?}");
                assert_eq!(stats.messages_in, 5, "{client:?} {server:?}");
                assert!(stats.wire_bytes_out < stats.bytes_out / 4, "{stats:?}");
            }
        }
    }
}

#[test]
fn byte_by_byte_delivery_yields_the_same_messages() {
    let config = DeflateConfig::default().threshold(0);
    let mut p = Pair::with_deflate(Config::default(), &config, &config);
    for m in payloads() {
        p.client.send(m.clone()).unwrap();
        p.drive_bytewise();
        assert_eq!(p.server_messages(), vec![m.clone()]);
        p.server.send(m.clone()).unwrap();
        p.drive_bytewise();
        assert_eq!(p.client_messages(), vec![m]);
    }
}

/// A fresh server connection with the extension `client` negotiates with a default server.
fn server_for(client: &DeflateConfig) -> (Connection, Connection) {
    let now = Instant::now();
    let offer = client_offer(client);
    let (response, s) = server_accept(Some(&offer), &DeflateConfig::default()).unwrap();
    let c = client_accept(Some(&response), client).unwrap().unwrap();
    let mut cc = Connection::new(Role::Client, Config::default(), now);
    let mut sc = Connection::new(Role::Server, Config::default(), now);
    cc.set_extension(Box::new(c));
    sc.set_extension(Box::new(s));
    (cc, sc)
}

#[test]
fn every_split_point_of_compressed_fragmented_traffic() {
    let config = DeflateConfig::default().threshold(0);
    let (mut client, _) = server_for(&config);
    let mut wire = BytesMut::new();
    client.send(Message::text("Hello, Hello, Hello")).unwrap();
    client.send_frame(OpCode::Binary, &[7; 300], false).unwrap();
    client.ping(crate::ControlPayload::new()).unwrap();
    client.send_frame(OpCode::Continuation, &[8; 300], true).unwrap();
    client.send(Message::text("Hello, Hello, Hello")).unwrap();
    client.poll_transmit(&mut wire);
    let mut binary = vec![7u8; 300];
    binary.extend([8u8; 300]);
    let expected = vec![
        Message::text("Hello, Hello, Hello"),
        Message::Ping(crate::ControlPayload::new()),
        Message::binary(binary),
        Message::text("Hello, Hello, Hello"),
    ];
    for split in 0..=wire.len() {
        let (_, mut server) = server_for(&config);
        let mut a = BytesMut::from(&wire[..split]);
        let mut b = BytesMut::from(&wire[split..]);
        server.handle_read(Instant::now(), &mut a);
        a.unsplit(b.split());
        server.handle_read(Instant::now(), &mut a);
        let got: Vec<Message> = std::iter::from_fn(|| server.poll_event())
            .map(|e| match e {
                Event::Message(m) => m,
                other => panic!("split {split}: {other:?}"),
            })
            .collect();
        assert_eq!(got, expected, "split at {split}");
    }
}

/// `data` compressed as one permessage-deflate payload (tail stripped).
fn compress(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 1024);
    loop {
        let at = c.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        c.compress_vec(&data[at..], &mut out, FlushCompress::Sync).unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    out.truncate(out.len() - 4);
    out
}

/// A server with default deflate settings and `config`'s limits.
fn server(config: Config) -> Connection {
    let d = DeflateConfig::default();
    let (_, ext) = server_accept(Some("permessage-deflate"), &d).unwrap();
    let mut s = Connection::new(Role::Server, config, Instant::now());
    s.set_extension(Box::new(ext));
    s
}

fn events(conn: &mut Connection, wire: &mut BytesMut) -> Vec<Event> {
    conn.handle_read(Instant::now(), wire);
    std::iter::from_fn(|| conn.poll_event()).collect()
}

#[test]
fn a_bomb_is_refused_with_1009_while_inflating() {
    // 16 MiB of zeros are 16 KiB compressed; the limit is 1 MiB.
    let bomb = compress(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 20 << 10, "{}", bomb.len());
    let limit = 1 << 20;
    for fragments in [1, 7] {
        let mut s = server(Config::default().max_message_size(limit));
        let mut wire = BytesMut::new();
        let pieces: Vec<&[u8]> = bomb.chunks(bomb.len().div_ceil(fragments)).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let (rsv, op) =
                if i == 0 { (0b100, OpCode::Binary) } else { (0, OpCode::Continuation) };
            encode_frame(&mut wire, i + 1 == pieces.len(), rsv, op, Some([1, 2, 3, 4]), piece);
        }
        // Fed in 4 KiB reads, as a socket would: the limit trips long before the end.
        let mut got = Vec::new();
        let mut input = BytesMut::new();
        for chunk in wire.chunks(4096) {
            input.extend_from_slice(chunk);
            got.extend(events(&mut s, &mut input));
            // Never more than the limit (plus one chunk of output) in memory.
            assert!(s.unread_bytes() <= limit + (256 << 10));
        }
        let Event::Error(ProtocolError::MessageTooLarge { size, .. }) = got[0] else {
            panic!("{got:?}")
        };
        assert!(size > limit as u64 && size <= (limit + (256 << 10)) as u64, "{size}");
        let Some(Event::Closed(info)) = got.last() else { panic!("{got:?}") };
        assert_eq!(info.code, CloseCode::MESSAGE_TOO_BIG);
        let mut out = BytesMut::new();
        s.poll_transmit(&mut out);
        assert_eq!((out[0], &out[2..4]), (0x88, &[0x03, 0xf1][..]), "close 1009 sent");
    }
}

#[test]
fn a_flood_of_empty_blocks_is_bounded_by_the_wire_limit() {
    // Empty stored blocks (RFC 1951 §3.2.4): no output at all, five bytes each.
    let block = [0x00, 0x00, 0x00, 0xff, 0xff];
    let flood: Vec<u8> = block.iter().copied().cycle().take(5 * 100_000).collect();
    // Under the limit: consumed in one pass, an empty message.
    let mut s = server(Config::default().max_message_size(1 << 20));
    let mut wire = BytesMut::new();
    encode_frame(&mut wire, true, 0b100, OpCode::Binary, Some([9, 8, 7, 6]), &flood);
    assert_eq!(events(&mut s, &mut wire), vec![Event::Message(Message::binary(Vec::new()))]);
    // Over it: refused by its compressed size, however little it inflates to.
    let mut s = server(Config::default().max_message_size(256 << 10));
    let mut wire = BytesMut::new();
    for i in 0..4 {
        let (rsv, op) = if i == 0 { (0b100, OpCode::Binary) } else { (0, OpCode::Continuation) };
        encode_frame(&mut wire, i == 3, rsv, op, Some([9, 8, 7, 6]), &flood[..100_000]);
    }
    let got = events(&mut s, &mut wire);
    assert!(
        matches!(got[0], Event::Error(ProtocolError::MessageTooLarge { size: 300_000, .. })),
        "{got:?}"
    );
}

#[test]
fn empty_messages_compress_to_one_zero_byte_and_an_empty_payload_is_accepted() {
    let config = DeflateConfig::default().threshold(0);
    let (mut c, mut s) = server_for(&config);
    for m in [Message::text("Hello"), Message::binary(Vec::new()), Message::text("Hello")] {
        c.send(m.clone()).unwrap();
        let mut wire = BytesMut::new();
        c.poll_transmit(&mut wire);
        if m.is_empty() {
            // RFC 7692 §7.2.3.6: an empty message is a single 0x00 (masked here).
            assert_eq!(wire[..2], [0xc2, 0x81]);
        }
        assert_eq!(events(&mut s, &mut wire), vec![Event::Message(m)]);
    }
    // A peer that sends an empty compressed payload for an empty message (RSV1, length 0).
    let mut wire = BytesMut::new();
    encode_frame(&mut wire, true, 0b100, OpCode::Text, Some([1, 2, 3, 4]), b"");
    assert_eq!(events(&mut s, &mut wire), vec![Event::Message(Message::text(""))]);
    c.send(Message::text("Hello")).unwrap();
    let mut wire = BytesMut::new();
    c.poll_transmit(&mut wire);
    assert_eq!(events(&mut s, &mut wire), vec![Event::Message(Message::text("Hello"))]);
}

/// Found by Autobahn 12.1.1: a client that offers `client_no_context_takeover` (a hint) but,
/// when the answer leaves it out, keeps its context. The server must not reset its inflater.
#[test]
fn a_client_hint_of_no_context_takeover_does_not_reset_the_inflater() {
    let (answer, ext) = server_accept(
        Some("permessage-deflate; client_no_context_takeover; client_max_window_bits"),
        &DeflateConfig::default(),
    )
    .unwrap();
    assert_eq!(answer, "permessage-deflate");
    let mut s = Connection::new(Role::Server, Config::default(), Instant::now());
    s.set_extension(Box::new(ext));
    // Two messages from one compressor with context takeover: the second refers to the first.
    let mut c = Compress::new(Compression::default(), false);
    for _ in 0..2 {
        let mut out = Vec::with_capacity(256);
        c.compress_vec(b"Hello, Hello, Hello", &mut out, FlushCompress::Sync).unwrap();
        out.truncate(out.len() - 4);
        let mut wire = BytesMut::new();
        encode_frame(&mut wire, true, 0b100, OpCode::Text, Some([5, 6, 7, 8]), &out);
        assert_eq!(
            events(&mut s, &mut wire),
            vec![Event::Message(Message::text("Hello, Hello, Hello"))]
        );
    }
}

#[test]
fn an_unlimited_message_size_does_not_overflow() {
    let config = DeflateConfig::default().threshold(0);
    let limits = Config::default().max_message_size(usize::MAX).max_frame_size(usize::MAX);
    let mut p = Pair::with_deflate(limits, &config, &config);
    p.client.send(Message::text("Hello, Hello")).unwrap();
    p.drive();
    assert_eq!(p.server_messages(), vec![Message::text("Hello, Hello")]);
}
