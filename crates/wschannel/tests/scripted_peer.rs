//! The channel against a scripted raw-frame peer over `tokio::io::duplex`.

mod common;

use std::time::Duration;

use common::{close_payload, within, Peer};
use futures_util::{SinkExt, StreamExt};
use wschannel::{
    Channel, CloseCode, Config, Error, Initiator, Message, OpCode, ProtocolError, Role,
};

/// A channel in `role` and the peer playing the other role.
fn setup(role: Role, config: Config) -> (Channel, Peer) {
    let (ours, theirs) = tokio::io::duplex(64 << 10);
    let channel = Channel::from_stream(ours, role, config);
    (channel, Peer { io: theirs, mask: role == Role::Server })
}

#[tokio::test]
async fn text_and_binary_arrive_typed() {
    let (mut ch, mut peer) = setup(Role::Client, Config::default());

    peer.send(true, 0x1, b"hello").await;
    peer.send(true, 0x2, &[0x01, 0x02, 0x03]).await;
    // A fragmented text message: "fragmented" in two frames.
    peer.send(false, 0x1, b"frag").await;
    peer.send(true, 0x0, b"mented").await;

    assert_eq!(within(ch.next()).await.unwrap().unwrap(), Message::text("hello"));
    assert_eq!(within(ch.next()).await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
    assert_eq!(within(ch.next()).await.unwrap().unwrap(), Message::text("fragmented"));
}

#[tokio::test]
async fn sent_messages_reach_the_peer_masked() {
    let (mut ch, mut peer) = setup(Role::Client, Config::default());

    within(ch.send(Message::text("hi"))).await.unwrap();
    within(ch.send(Message::binary(vec![0xAB; 300]))).await.unwrap();

    let f = peer.recv().await.unwrap();
    assert_eq!((f.opcode, f.masked, f.payload.as_slice()), (0x1, true, &b"hi"[..]));
    let f = peer.recv().await.unwrap();
    assert_eq!((f.opcode, f.payload.len()), (0x2, 300));
}

#[tokio::test]
async fn fragmented_send_goes_out_as_frames() {
    let (mut ch, mut peer) = setup(Role::Server, Config::default());

    within(ch.send_frame(OpCode::Text, b"Hel", false)).await.unwrap();
    within(ch.send_frame(OpCode::Continuation, b"lo", true)).await.unwrap();
    let out_of_order = within(ch.send_frame(OpCode::Continuation, b"!", true)).await;
    assert!(matches!(out_of_order, Err(Error::Usage(_))), "{out_of_order:?}");

    let a = peer.recv().await.unwrap();
    let b = peer.recv().await.unwrap();
    assert_eq!((a.fin, a.opcode, a.masked, a.payload.as_slice()), (false, 0x1, false, &b"Hel"[..]));
    assert_eq!((b.fin, b.opcode, b.payload.as_slice()), (true, 0x0, &b"lo"[..]));
}

#[tokio::test]
async fn ping_is_answered_while_nobody_reads() {
    // The channel is never polled: the driver must answer on its own (RFC 6455 §5.5.2).
    let (_ch, mut peer) = setup(Role::Server, Config::default());

    peer.send(true, 0x9, b"are you there").await;

    let pong = peer.recv().await.unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (0xA, &b"are you there"[..]));
}

#[tokio::test]
async fn peer_close_is_echoed_and_ends_the_stream() {
    let (mut ch, mut peer) = setup(Role::Server, Config::default());

    peer.send(true, 0x1, b"last words").await;
    peer.send(true, 0x8, &close_payload(1000, "bye")).await;

    assert_eq!(within(ch.next()).await.unwrap().unwrap(), Message::text("last words"));
    assert!(within(ch.next()).await.is_none());
    assert!(within(ch.next()).await.is_none(), "None forever after");
    assert_eq!(ch.close_code(), Some(CloseCode::NORMAL));
    assert_eq!(ch.close_reason().unwrap(), "bye");
    assert_eq!(ch.close_initiator(), Some(Initiator::Remote));

    // The echo, then the server closes TCP (RFC 6455 §7.1.1).
    let frames = peer.recv_until_eof().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].close_code(), Some(1000));

    let late = within(ch.send(Message::text("too late"))).await;
    assert!(matches!(late, Err(Error::Closed)), "{late:?}");
}

#[tokio::test]
async fn reserved_opcode_fails_the_connection_with_1002() {
    let (mut ch, mut peer) = setup(Role::Server, Config::default());

    peer.send(true, 0x3, b"").await;

    let err = within(ch.next()).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Protocol(ProtocolError::ReservedOpcode(3))), "{err:?}");
    assert!(within(ch.next()).await.is_none());
    assert_eq!(ch.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    assert_eq!(ch.close_initiator(), Some(Initiator::Library));

    let close = peer.recv().await.unwrap();
    assert_eq!(close.close_code(), Some(1002));
}

#[tokio::test]
async fn invalid_utf8_fails_with_1007() {
    let (mut ch, mut peer) = setup(Role::Client, Config::default());

    peer.send(true, 0x1, &[0xCE, 0xBA, 0xFF]).await;

    let err = within(ch.next()).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Protocol(ProtocolError::InvalidUtf8)), "{err:?}");
    assert!(within(ch.next()).await.is_none());
    assert_eq!(peer.recv().await.unwrap().close_code(), Some(1007));
}

#[tokio::test(start_paused = true)]
async fn send_waits_while_the_peer_does_not_read() {
    let config = Config::default().write_buffer_size(1024);
    let (ours, theirs) = tokio::io::duplex(4096);
    let mut ch = Channel::from_stream(ours, Role::Server, config);
    let mut peer = Peer { io: theirs, mask: true };
    let msg = Message::binary(vec![0x5A; 512]);

    // Fill the duplex and our buffer; `feed` queues without flushing.
    let mut pended = false;
    for _ in 0..100 {
        if tokio::time::timeout(Duration::from_secs(1), ch.feed(msg.clone())).await.is_err() {
            pended = true;
            break;
        }
    }
    assert!(pended, "send never waited although the peer reads nothing");

    // The peer reads: sending resumes.
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while let Some(f) = peer.recv().await {
            if f.opcode == 0x8 {
                peer.send(true, 0x8, &f.payload).await;
                break;
            }
            assert_eq!(f.opcode, 0x2);
            n += 1;
        }
        n
    });
    within(ch.send(msg.clone())).await.unwrap();
    within(ch.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(ch.close_initiator(), Some(Initiator::Local));
    let received = within(reader).await.unwrap();
    assert!(received >= 2, "{received}");
}

#[tokio::test(start_paused = true)]
async fn keepalive_detects_a_silent_peer() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(5)))
        .ping_timeout(Duration::from_secs(5));
    let (mut ch, mut peer) = setup(Role::Client, config);

    // The peer reads but never answers.
    let ping = peer.recv().await.unwrap();
    assert_eq!(ping.opcode, 0x9);

    let err = within(ch.next()).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Protocol(ProtocolError::PingTimeout)), "{err:?}");
    assert!(within(ch.next()).await.is_none());
    assert_eq!(ch.close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(ch.close_initiator(), Some(Initiator::Library));
}

#[tokio::test(start_paused = true)]
async fn keepalive_is_satisfied_by_a_pong() {
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(5)))
        .ping_timeout(Duration::from_secs(5));
    let (mut ch, mut peer) = setup(Role::Client, config);

    for _ in 0..3 {
        let ping = peer.recv().await.unwrap();
        assert_eq!(ping.opcode, 0x9);
        peer.send(true, 0xA, &ping.payload).await;
        let pong = within(ch.next()).await.unwrap().unwrap();
        assert!(matches!(pong, Message::Pong(_)), "{pong:?}");
    }
    assert!(ch.is_open());
}

#[tokio::test]
async fn local_close_completes_the_handshake() {
    let (mut ch, mut peer) = setup(Role::Server, Config::default());

    let script = tokio::spawn(async move {
        let close = peer.recv().await.unwrap();
        assert_eq!(close.close_code(), Some(1001));
        assert_eq!(&close.payload[2..], b"shutting down");
        peer.send(true, 0x8, &close.payload[..2]).await;
        // The server closes TCP after the handshake.
        assert!(peer.recv().await.is_none());
    });

    within(ch.close(CloseCode::GOING_AWAY, "shutting down")).await.unwrap();
    assert_eq!(ch.close_code(), Some(CloseCode::GOING_AWAY));
    assert_eq!(ch.close_initiator(), Some(Initiator::Local));
    assert!(within(ch.next()).await.is_none());
    within(script).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn close_gives_up_on_a_peer_that_never_replies() {
    let (mut ch, mut peer) = setup(Role::Client, Config::default());

    within(ch.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(ch.close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(peer.recv().await.unwrap().close_code(), Some(1000));
}

#[tokio::test]
async fn dropping_the_channel_closes_normally() {
    let (ch, mut peer) = setup(Role::Server, Config::default());

    drop(ch);

    let close = peer.recv().await.unwrap();
    assert_eq!(close.close_code(), Some(1000));
    peer.send(true, 0x8, &close_payload(1000, "")).await;
    assert!(peer.recv().await.is_none(), "the driver shuts the transport down and exits");
}

#[tokio::test]
async fn eof_without_close_ends_with_1006() {
    let (mut ch, peer) = setup(Role::Client, Config::default());

    drop(peer);

    assert!(within(ch.next()).await.is_none());
    assert_eq!(ch.close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(ch.close_initiator(), Some(Initiator::Remote));
}

#[tokio::test]
async fn frames_split_at_every_byte_arrive_whole() {
    let (mut ch, mut peer) = setup(Role::Server, Config::default());

    let bytes = peer.encode(true, 0x1, "héllo wörld".as_bytes());
    for b in &bytes {
        peer.write_raw(&[*b]).await;
        tokio::task::yield_now().await;
    }

    assert_eq!(within(ch.next()).await.unwrap().unwrap(), Message::text("héllo wörld"));
}

#[tokio::test(start_paused = true)]
async fn unread_messages_stop_the_driver_reading() {
    use tokio::io::AsyncWriteExt;

    let (ours, theirs) = tokio::io::duplex(4096);
    let mut ch = Channel::from_stream(ours, Role::Server, Config::default());
    let mut peer = Peer { io: theirs, mask: true };
    let frame = peer.encode(true, 0x2, &[0x11; 1000]);

    // Nobody reads the channel: after a few messages the peer's writes must wait.
    let mut pended = false;
    let mut sent = 0;
    for _ in 0..1000 {
        let write = tokio::time::timeout(Duration::from_secs(1), peer.io.write_all(&frame));
        if write.await.is_err() {
            pended = true;
            break;
        }
        sent += 1;
    }
    assert!(pended, "the driver kept reading {sent} unread messages");

    // Reading resumes the flow; everything arrives in order.
    let mut received = 0;
    while received < sent {
        let msg = within(ch.next()).await.unwrap().unwrap();
        assert_eq!(msg.len(), 1000);
        received += 1;
    }
}

#[tokio::test(start_paused = true)]
async fn a_ping_flood_from_a_peer_that_never_reads_is_bounded() {
    use tokio::io::AsyncWriteExt;

    let config = Config::default().write_buffer_size(2048);
    let (ours, theirs) = tokio::io::duplex(4096);
    let ch = Channel::from_stream(ours, Role::Server, config);
    let mut peer = Peer { io: theirs, mask: true };
    let ping = peer.encode(true, 0x9, &[0x22; 125]);

    // Each ping owes a pong; the peer never reads them, so we must stop reading its pings.
    let mut pended = false;
    for _ in 0..10_000 {
        let write = tokio::time::timeout(Duration::from_secs(1), peer.io.write_all(&ping));
        if write.await.is_err() {
            pended = true;
            break;
        }
    }
    assert!(pended, "the driver kept answering pings nobody reads");
    drop(ch);
}

#[tokio::test(start_paused = true)]
async fn client_sees_the_server_eof_even_with_unread_messages() {
    // Regression: with more unread messages than the read-backpressure bound, a client whose
    // closing handshake was over stopped reading, missed the server's EOF and waited for the
    // close timeout instead.
    let config = Config::default().close_timeout(Duration::from_secs(60));
    let (ch, mut peer) = setup(Role::Client, config);
    let mut burst = Vec::new();
    for _ in 0..40 {
        burst.extend(peer.encode(true, 0x1, b"unread"));
    }
    burst.extend(peer.encode(true, 0x8, &close_payload(1000, "")));
    peer.write_raw(&burst).await;
    let echo = peer.recv().await.unwrap();
    assert_eq!(echo.close_code(), Some(1000));
    // The server closes TCP (its write side); the client must notice without being read.
    tokio::io::AsyncWriteExt::shutdown(&mut peer.io).await.unwrap();
    let (mut tx, _rx) = ch.split();
    let done = tokio::time::timeout(Duration::from_secs(30), tx.close(CloseCode::NORMAL, "")).await;
    assert!(matches!(done, Ok(Ok(()))), "driver did not finish at EOF: {done:?}");
}
