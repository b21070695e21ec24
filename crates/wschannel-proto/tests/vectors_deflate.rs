//! RFC 7692 §7.2.3 examples, byte for byte: a client `Connection` with permessage-deflate
//! receives each (unmasked, as a server sends them) and reads "Hello"; a server's encoder
//! produces the §7.2.3.1 and §7.2.3.2 bytes itself.

use std::time::Instant;

use bytes::BytesMut;

use wschannel_proto::deflate::{client_accept, client_offer, server_accept};
use wschannel_proto::{
    CloseCode, Config, Connection, DeflateConfig, Event, Message, ProtocolError, Role,
};

/// §7.2.3.1: "Hello" in one compressed DEFLATE block (fixed Huffman codes, BFINAL unset).
const HELLO: &[u8] = &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// §7.2.3.1: the same payload in two fragments; RSV1 on the first only.
const HELLO_FRAGMENTS: [&[u8]; 2] =
    [&[0x41, 0x03, 0xf2, 0x48, 0xcd], &[0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]];
/// §7.2.3.2: a second "Hello" referring back to the first through the shared window.
const HELLO_AGAIN: &[u8] = &[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
/// §7.2.3.3: "Hello" in a DEFLATE block with no compression.
const HELLO_STORED: &[u8] =
    &[0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
/// §7.2.3.4: "Hello" in a block with BFINAL set, and a padding byte.
const HELLO_BFINAL: &[u8] = &[0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
/// §7.2.3.5: "He" and "llo" in two DEFLATE blocks with an empty stored block between.
const HELLO_TWO_BLOCKS: &[u8] =
    &[0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];

/// A connected client and server with permessage-deflate negotiated from these configs.
fn negotiated(client: DeflateConfig, server: DeflateConfig) -> (Connection, Connection) {
    let now = Instant::now();
    let offer = client_offer(&client);
    let (response, server_ext) = server_accept(Some(&offer), &server).expect("offer accepted");
    let client_ext = client_accept(Some(&response), &client).unwrap().expect("extension");
    let mut c = Connection::new(Role::Client, Config::default(), now);
    let mut s = Connection::new(Role::Server, Config::default(), now);
    c.set_extension(Box::new(client_ext));
    s.set_extension(Box::new(server_ext));
    (c, s)
}

fn client() -> Connection {
    negotiated(DeflateConfig::default(), DeflateConfig::default()).0
}

fn read(conn: &mut Connection, wire: &[u8]) -> Vec<Event> {
    conn.handle_read(Instant::now(), &mut BytesMut::from(wire));
    std::iter::from_fn(|| conn.poll_event()).collect()
}

#[test]
fn one_compressed_block() {
    assert_eq!(read(&mut client(), HELLO), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn one_compressed_block_in_two_fragments() {
    let mut c = client();
    assert_eq!(read(&mut c, HELLO_FRAGMENTS[0]), vec![]);
    assert_eq!(read(&mut c, HELLO_FRAGMENTS[1]), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn sharing_the_sliding_window() {
    let mut c = client();
    assert_eq!(read(&mut c, HELLO), vec![Event::Message(Message::text("Hello"))]);
    assert_eq!(read(&mut c, HELLO_AGAIN), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn a_block_without_compression() {
    assert_eq!(read(&mut client(), HELLO_STORED), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn a_block_with_bfinal_set() {
    let mut c = client();
    assert_eq!(read(&mut c, HELLO_BFINAL), vec![Event::Message(Message::text("Hello"))]);
    // The next message starts a new stream.
    assert_eq!(read(&mut c, HELLO), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn two_blocks_in_one_message() {
    assert_eq!(read(&mut client(), HELLO_TWO_BLOCKS), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn the_server_encodes_the_rfc_bytes() {
    let eager = DeflateConfig::default().threshold(0);
    let (_, mut s) = negotiated(DeflateConfig::default(), eager);
    let mut wire = BytesMut::new();
    s.send(Message::text("Hello")).unwrap();
    s.poll_transmit(&mut wire);
    assert_eq!(wire[..], *HELLO, "§7.2.3.1");
    wire.clear();
    s.send(Message::text("Hello")).unwrap();
    s.poll_transmit(&mut wire);
    assert_eq!(wire[..], *HELLO_AGAIN, "§7.2.3.2: context takeover");
}

#[test]
fn without_context_takeover_the_second_hello_is_encoded_afresh() {
    let eager = DeflateConfig::default().threshold(0).no_context_takeover(true);
    let (_, mut s) = negotiated(DeflateConfig::default(), eager);
    let mut wire = BytesMut::new();
    for _ in 0..2 {
        wire.clear();
        s.send(Message::text("Hello")).unwrap();
        s.poll_transmit(&mut wire);
        assert_eq!(wire[..], *HELLO);
    }
}

#[test]
fn rsv1_on_a_continuation_frame_is_a_protocol_error() {
    let mut c = client();
    let events =
        read(&mut c, &[HELLO_FRAGMENTS[0], &[0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00]].concat());
    assert!(matches!(events[0], Event::Error(ProtocolError::ReservedBits(0b100))), "{events:?}");
}

#[test]
fn rsv1_on_a_control_frame_is_a_protocol_error() {
    let events = read(&mut client(), &[0xc9, 0x00]);
    assert!(matches!(events[0], Event::Error(ProtocolError::ReservedBits(0b100))), "{events:?}");
}

#[test]
fn rsv1_without_the_extension_is_a_protocol_error() {
    let mut c = Connection::new(Role::Client, Config::default(), Instant::now());
    let events = read(&mut c, HELLO);
    assert!(matches!(events[0], Event::Error(ProtocolError::ReservedBits(0b100))), "{events:?}");
}

#[test]
fn corrupt_data_fails_the_connection() {
    // BTYPE 11 is reserved (RFC 1951 §3.2.3).
    let events = read(&mut client(), &[0xc2, 0x02, 0xff, 0xff]);
    assert!(matches!(events[0], Event::Error(ProtocolError::Extension(_))), "{events:?}");
    let Some(Event::Closed(info)) = events.last() else { panic!("{events:?}") };
    assert_eq!(info.code, CloseCode::PROTOCOL_ERROR);
}

#[test]
fn inflated_text_that_is_not_utf8_is_1007() {
    // "\xff" in a stored block.
    let events = read(&mut client(), &[0xc1, 0x07, 0x00, 0x01, 0x00, 0xfe, 0xff, 0xff, 0x00]);
    assert_eq!(events[0], Event::Error(ProtocolError::InvalidUtf8), "{events:?}");
}
