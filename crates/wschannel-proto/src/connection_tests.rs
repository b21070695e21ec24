//! Unit tests of [`Connection`](super::Connection) that look at its private state (buffers,
//! queued bytes); behaviour between two ends is tested in `src/tests/` with a `Pair`.

use super::*;
use crate::random::{DangerFixedRandom, RandomError, SecureRandom};

/// A server that queues large payloads by reference puts the same bytes on the wire as
/// one that copies them, through the vectored and the copying transmit alike, and keeps
/// the payload's memory instead of copying it.
#[test]
fn large_payloads_by_reference_encode_the_same_bytes() {
    let now = Instant::now();
    let messages = || {
        vec![
            Message::binary(vec![1u8; 2000]),
            Message::text("small"),
            Message::text("é".repeat(1500)),
            Message::binary(vec![3u8; 1023]),
            Message::Ping(ControlPayload::try_from_bytes(&b"p"[..]).unwrap()),
            Message::binary(Bytes::from(vec![4u8; 70_000])),
        ]
    };
    let mut copying = Connection::new(Role::Server, Config::default(), now);
    let mut expected = BytesMut::new();
    for m in messages() {
        copying.send(m).unwrap();
    }
    copying.poll_transmit(&mut expected);

    let mut by_ref = Connection::new(Role::Server, Config::default(), now);
    by_ref.set_vectored_min(1024);
    let big = Bytes::from(vec![4u8; 70_000]);
    let big_ptr = big.as_ptr();
    let mut msgs = messages();
    *msgs.last_mut().unwrap() = Message::binary(big);
    for m in msgs {
        by_ref.send(m).unwrap();
    }
    assert_eq!(by_ref.buffered(), expected.len());
    let mut out = Outgoing::new();
    out.buf_mut().extend_from_slice(b"before");
    assert_eq!(by_ref.poll_transmit_vectored(&mut out), expected.len());
    assert!(out.has_bodies());
    let mut slices = [std::io::IoSlice::new(&[]); 16];
    let n = out.chunks_vectored(&mut slices);
    assert!(slices[..n].iter().any(|s| s.as_ptr() == big_ptr), "the payload is not copied");
    let mut wire = Vec::new();
    while out.has_remaining() {
        let c = out.chunk();
        let len = c.len().min(777);
        wire.extend_from_slice(&c[..len]);
        out.advance(len);
    }
    assert_eq!(&wire[..6], b"before");
    assert_eq!(wire[6..], expected[..]);

    // The copying transmit flattens the same queue.
    let mut again = Connection::new(Role::Server, Config::default(), now);
    again.set_vectored_min(1024);
    for m in messages() {
        again.send(m).unwrap();
    }
    let mut flat = BytesMut::new();
    again.poll_transmit(&mut flat);
    assert_eq!(flat, expected);

    // A client masks, so it never keeps a payload by reference.
    let mut client = Connection::new(Role::Client, Config::default(), now);
    client.set_vectored_min(1024);
    client.send(Message::binary(vec![1u8; 5000])).unwrap();
    let mut out = Outgoing::new();
    client.poll_transmit_vectored(&mut out);
    assert!(!out.has_bodies());
}

#[test]
fn poll_transmit_swaps_into_an_empty_buffer_and_appends_otherwise() {
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, Config::default(), now);
    conn.send(Message::binary(vec![1u8; 100])).unwrap();
    let mut buf = BytesMut::with_capacity(4096);
    let (ours, theirs) = (conn.out.buf_mut().as_ptr(), buf.as_ptr());
    assert_eq!(conn.poll_transmit(&mut buf), 102);
    // Swapped, not copied: each side now holds the other's allocation.
    assert_eq!(buf.as_ptr(), ours);
    assert_eq!(conn.out.buf_mut().as_ptr(), theirs);
    assert!(conn.out.is_empty() && conn.out.capacity() >= 4096);

    // `buf` was not written out yet: the next frame goes after its bytes.
    conn.send(Message::binary(vec![2u8; 3])).unwrap();
    assert_eq!(conn.poll_transmit(&mut buf), 5);
    assert_eq!(buf.len(), 107);
    assert_eq!(buf[..2], [0x82, 100]);
    assert_eq!(buf[102..], [0x82, 3, 2, 2, 2]);
    assert_eq!(conn.buffered(), 0);
    assert_eq!(conn.poll_transmit(&mut buf), 0);
}

#[derive(Debug)]
struct FailingRandom;

impl SecureRandom for FailingRandom {
    fn fill(&self, _: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError("entropy pool unavailable".into()))
    }
}

static FAILING: FailingRandom = FailingRandom;
static FIXED: DangerFixedRandom = DangerFixedRandom::new([9; 32]);

fn client_wire(config: Config) -> BytesMut {
    let mut conn = Connection::new(Role::Client, config, Instant::now());
    for _ in 0..3 {
        conn.send(Message::binary(vec![0u8; 8])).unwrap();
    }
    let mut wire = BytesMut::new();
    conn.poll_transmit(&mut wire);
    wire
}

#[test]
fn a_client_masks_with_keys_from_its_configured_source() {
    let fixed = Config::default().random(&FIXED);
    // The same seed gives the same keys; the OS gives others.
    assert_eq!(client_wire(fixed.clone()), client_wire(fixed.clone()));
    assert_ne!(client_wire(fixed), client_wire(Config::default()));
    // Keys differ from frame to frame (bytes 2..6 of each 14-byte frame).
    let wire = client_wire(Config::default().random(&FIXED));
    assert_ne!(wire[2..6], wire[16..20]);
}

#[test]
fn a_client_whose_random_source_fails_starts_closed_without_panicking() {
    let config = Config::default().random(&FAILING);
    let mut client = Connection::new(Role::Client, config.clone(), Instant::now());
    assert_eq!(client.state(), State::Finished);
    match client.poll_event() {
        Some(Event::Closed(info)) => {
            assert_eq!(info.code, CloseCode::INTERNAL_ERROR);
            assert_eq!(info.initiator, Initiator::Library);
            assert_eq!(
                info.reason,
                "no mask keys: the random number source failed: entropy pool unavailable"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.send(Message::text("x")), Err(UsageError::Closed));
    assert_eq!(client.poll_transmit(&mut BytesMut::new()), 0);
    // A server does not mask: it never asks the source.
    let server = Connection::new(Role::Server, config, Instant::now());
    assert_eq!(server.state(), State::Open);
}

#[test]
fn a_long_close_reason_is_cut_at_a_char_boundary_to_fit_the_frame() {
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, Config::default(), now);
    conn.queue_close(CloseCode::GOING_AWAY, &"é".repeat(100)); // 200 bytes
    let mut wire = BytesMut::new();
    conn.poll_transmit(&mut wire);
    // 61 two-byte chars fit in 123 bytes; the 62nd would need 124.
    assert_eq!(wire[..4], [0x88, 2 + 122, 0x03, 0xe9]);
    assert_eq!(std::str::from_utf8(&wire[4..]).unwrap(), "é".repeat(61));
}

/// `values.len()` messages of `size` bytes in two fragments each; message `i` is
/// `values[i]` in every byte.
fn fragmented(values: &[u8], size: usize) -> BytesMut {
    let mut wire = BytesMut::new();
    for &v in values {
        let half = vec![v; size / 2];
        encode_frame(&mut wire, false, 0, OpCode::Binary, Some([1, 2, 3, 4]), &half);
        encode_frame(&mut wire, true, 0, OpCode::Continuation, Some([4, 3, 2, 1]), &half);
    }
    wire
}

fn take_binary(conn: &mut Connection) -> Bytes {
    match conn.poll_event() {
        Some(Event::Message(Message::Binary(b))) => b,
        other => panic!("{other:?}"),
    }
}

#[test]
fn reassembly_reuses_its_buffer_only_once_the_last_message_was_dropped() {
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, Config::default(), now);
    // Held messages keep their bytes while the next ones are assembled.
    let mut held = Vec::new();
    for v in 0..3u8 {
        conn.handle_read(now, &mut fragmented(&[v], 1000));
        held.push(take_binary(&mut conn));
    }
    conn.handle_read(now, &mut fragmented(&[3, 4], 1000));
    held.push(take_binary(&mut conn));
    held.push(take_binary(&mut conn));
    for (v, m) in held.iter().enumerate() {
        assert_eq!(m[..], vec![v as u8; 1000][..], "message {v}");
    }
    // Once dropped, the next message is assembled where the last one was.
    let last = held[4].as_ptr();
    drop(held);
    conn.handle_read(now, &mut fragmented(&[5], 1000));
    let m = take_binary(&mut conn);
    assert_eq!(m.as_ptr(), last);
    assert_eq!(m[..], [5; 1000]);
}

#[test]
fn reassembly_does_not_keep_a_large_buffer() {
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, Config::default(), now);
    conn.handle_read(now, &mut fragmented(&[7], 200 << 10));
    assert_eq!(take_binary(&mut conn).len(), 200 << 10);
    assert_eq!(conn.rx_buf.capacity(), 0);
}

#[test]
fn poll_transmit_does_not_keep_a_burst_sized_buffer() {
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, Config::default(), now);
    let mut buf = BytesMut::new();
    conn.send(Message::binary(vec![0u8; 1 << 20])).unwrap();
    conn.poll_transmit(&mut buf);
    buf.clear(); // written out
    conn.send(Message::text("small")).unwrap();
    conn.poll_transmit(&mut buf);
    assert_eq!(buf[..], *b"\x81\x05small");
    // The 1 MiB buffer came back to the connection, which let it go.
    assert_eq!(conn.out.capacity(), 0);

    // A working-size buffer is kept.
    buf.clear();
    conn.send(Message::text("again")).unwrap();
    conn.poll_transmit(&mut buf);
    assert!(conn.out.capacity() >= 7);
}

/// Issue 11: `close` and `Message::Close` put 1005, 1006 or 1015 on the wire. Now they are
/// refused, nothing is queued and the connection stays open; a close frame built by hand
/// (public fields) with a reason over 123 bytes is refused too.
#[test]
fn close_codes_that_may_not_be_sent_are_refused_and_nothing_is_queued() {
    let now = Instant::now();
    let mut c = Connection::new(Role::Server, Config::default(), now);
    for code in [CloseCode::NO_STATUS, CloseCode::ABNORMAL, CloseCode::TLS_HANDSHAKE] {
        let refused = Err(UsageError::InvalidCloseCode(code.as_u16()));
        assert_eq!(c.close(now, code, ""), refused);
        let frame = CloseFrame { code, reason: Utf8Bytes::new() };
        assert_eq!(c.send(Message::Close(Some(frame))), refused);
    }
    let long = CloseFrame { code: CloseCode::NORMAL, reason: "x".repeat(124).into() };
    assert_eq!(c.send(Message::Close(Some(long))), Err(UsageError::CloseReasonTooLong(124)));
    assert!(c.is_open());
    assert_eq!(c.buffered(), 0);
    c.close(now, CloseCode::NORMAL, "bye").unwrap();
    assert!(!c.is_open());
}
