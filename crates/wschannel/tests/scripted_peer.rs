//! The channel against a scripted raw-frame peer over `tokio::io::duplex`.

mod common;

use std::time::Duration;

use common::{close_payload, within, Peer};
use futures_util::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use wschannel::{
    Channel, CloseCode, Config, ControlPayload, Error, Initiator, Message, OpCode, ProtocolError,
    Role,
};

/// A channel in `role` and the peer playing the other role.
fn setup(role: Role, config: Config) -> (Channel<DuplexStream>, Peer) {
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
async fn ping_is_answered_before_it_is_handed_over() {
    // RFC 6455 §5.5.2: the pong goes out in the poll that reads the ping, even if the user
    // then stops polling.
    let (mut ch, mut peer) = setup(Role::Server, Config::default());

    peer.send(true, 0x9, b"are you there").await;
    let ping = within(ch.next()).await.unwrap().unwrap();
    assert_eq!(ping, Message::Ping(ControlPayload::try_from("are you there").unwrap()));

    let pong = within(peer.recv()).await.unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (0xA, &b"are you there"[..]));
}

#[tokio::test]
async fn ping_is_answered_while_the_user_only_sends() {
    // Flushing processes what arrived: a user who never reads still answers pings.
    let (mut ch, mut peer) = setup(Role::Server, Config::default());

    peer.send(true, 0x9, b"hello?").await;
    within(ch.send(Message::text("news"))).await.unwrap();
    within(ch.send(Message::text("more news"))).await.unwrap();

    let mut frames = Vec::new();
    while frames.len() < 3 {
        frames.push(within(peer.recv()).await.unwrap());
    }
    assert!(
        frames.iter().any(|f| (f.opcode, f.payload.as_slice()) == (0xA, &b"hello?"[..])),
        "no pong among {:?}",
        frames.iter().map(|f| f.opcode).collect::<Vec<_>>()
    );
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

    // The peer reads but never answers, while the user waits for a message.
    let (ping, next) = within(async { tokio::join!(peer.recv(), ch.next()) }).await;
    assert_eq!(ping.unwrap().opcode, 0x9);

    let err = next.unwrap().unwrap_err();
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
        // The keepalive timer runs while the user waits in `next()`.
        let answer = async {
            let ping = peer.recv().await.unwrap();
            assert_eq!(ping.opcode, 0x9);
            peer.send(true, 0xA, &ping.payload).await;
        };
        let ((), pong) = within(async { tokio::join!(answer, ch.next()) }).await;
        let pong = pong.unwrap().unwrap();
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
async fn dropping_the_channel_sends_a_normal_close_and_drops_the_transport() {
    let (ch, mut peer) = setup(Role::Server, Config::default());

    drop(ch);

    let close = within(peer.recv()).await.unwrap();
    assert_eq!(close.close_code(), Some(1000));
    assert!(within(peer.recv()).await.is_none(), "the transport is gone");
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

/// Large frames of one size make the channel end its reads on their boundaries (so that no
/// frame is cut by the end of its buffer and copied): whatever sizes follow and however the
/// transport cuts the bytes, every message arrives whole and in order.
#[tokio::test]
async fn large_frames_of_repeating_and_changing_sizes_arrive_whole() {
    use tokio::io::AsyncWriteExt;

    let (ours, theirs) = tokio::io::duplex(256 << 10);
    let mut ch = Channel::from_stream(ours, Role::Server, Config::default());
    let mut peer = Peer { io: theirs, mask: true };
    // Runs of equal sizes (the reads align to them), sizes that change inside a read, one
    // frame larger than a read (128 KiB), small frames between, text among binary.
    let sizes = [65536; 6]
        .into_iter()
        .chain([16384; 12])
        .chain([65543, 65543, 9000, 100, 65543, 200_000, 8192, 8192, 0, 20_000, 20_000])
        .chain([65536; 5])
        .chain([131_072 - 14, 131_072 - 14, 70_000]);
    let messages: Vec<Message> = sizes
        .enumerate()
        .map(|(i, n)| {
            if i % 5 == 3 {
                Message::text("é".repeat(n / 2))
            } else {
                Message::binary((0..n).map(|j| (i * 7 + j * 13) as u8).collect::<Vec<u8>>())
            }
        })
        .collect();
    let wire: Vec<u8> = messages
        .iter()
        .flat_map(|m| match m {
            Message::Text(t) => peer.encode(true, 0x1, t.as_bytes()),
            Message::Binary(b) => peer.encode(true, 0x2, b),
            _ => unreachable!(),
        })
        .collect();

    // Cut the bytes at sizes that land anywhere in a frame (a loopback TCP segment is 65483).
    let cuts = [65483, 1, 7000, 131_072, 13, 65550, 40_000, 3];
    let writer = async {
        let mut rest = &wire[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*cut).min(rest.len()));
            within(peer.io.write_all(now)).await.expect("peer write");
            rest = later;
        }
    };
    let reader = async {
        for (i, want) in messages.iter().enumerate() {
            let got = within(ch.next()).await.expect("a message").expect("no error");
            assert_eq!(got.len(), want.len(), "message {i}");
            assert!(&got == want, "message {i} differs");
        }
    };
    tokio::join!(writer, reader);
}

#[tokio::test(start_paused = true)]
async fn reading_pauses_at_the_byte_budget_when_nobody_takes_messages() {
    use tokio::io::AsyncWriteExt;

    // The budget is max(max_message_size, 128 KiB) of unread payload: 256 KiB here.
    const BUDGET: usize = 256 << 10;
    let (ours, theirs) = tokio::io::duplex(4096);
    let config = Config::default().max_message_size(BUDGET);
    let mut ch = Channel::from_stream(ours, Role::Server, config);
    let mut peer = Peer { io: theirs, mask: true };
    let frame = peer.encode(true, 0x2, &[0x11; 1000]);

    // The user only sends, so the channel reads (and would answer pings) but nobody takes the
    // messages: after the budget the peer's writes must wait.
    let flood = async {
        for sent in 0..1000 {
            let write = tokio::time::timeout(Duration::from_secs(1), peer.io.write_all(&frame));
            if write.await.is_err() {
                return sent;
            }
        }
        panic!("the channel kept reading 1000 unread messages");
    };
    let user_sends = async {
        loop {
            ch.send(Message::text("tick")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let sent = tokio::select! {
        sent = flood => sent,
        () = user_sends => unreachable!(),
    };
    let accepted = sent * 1000;
    // Bytes, not a count of messages: far more than 16 messages were taken in, and no more
    // than the budget plus one read and the pipe's own buffer.
    assert!(accepted >= BUDGET, "paused after only {sent} messages");
    assert!(accepted <= BUDGET + (128 << 10) + 4096 + 1000, "read {sent} messages");

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
    let mut ch = Channel::from_stream(ours, Role::Server, config);
    let mut peer = Peer { io: theirs, mask: true };
    let ping = peer.encode(true, 0x9, &[0x22; 125]);

    // Each ping owes a pong; the peer never reads them, so the channel must stop reading its
    // pings even though the user keeps reading.
    let flood = async {
        for _ in 0..10_000 {
            let write = tokio::time::timeout(Duration::from_secs(1), peer.io.write_all(&ping));
            if write.await.is_err() {
                return;
            }
        }
        panic!("the channel kept answering pings nobody reads");
    };
    let reader = async {
        let mut pings = 0u32;
        while let Some(Ok(Message::Ping(_))) = ch.next().await {
            pings += 1;
        }
        pings
    };
    tokio::select! {
        () = flood => {}
        pings = reader => panic!("the stream ended after {pings} pings"),
    }
}

#[tokio::test]
async fn split_halves_reunite_into_the_channel() {
    let (ch, mut peer) = setup(Role::Server, Config::default());
    let (mut tx, mut rx) = ch.split();

    peer.send(true, 0x1, b"one").await;
    assert_eq!(within(rx.next()).await.unwrap().unwrap(), Message::text("one"));
    within(tx.send(Message::text("two"))).await.unwrap();
    assert_eq!(within(peer.recv()).await.unwrap().payload, b"two");

    let (other, _other_peer) = setup(Role::Server, Config::default());
    let (_, other_rx) = other.split();
    let wschannel::ReuniteError(tx, _) = tx.reunite(other_rx).unwrap_err();
    let mut ch = tx.reunite(rx).unwrap();

    peer.send(true, 0x2, b"three").await;
    assert_eq!(within(ch.next()).await.unwrap().unwrap(), Message::binary(&b"three"[..]));
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
    let (mut tx, _rx) = ch.split();
    let server = async {
        let close = peer.recv().await.unwrap();
        assert_eq!(close.close_code(), Some(1000));
        // The server closes TCP (its write side); the client must notice without being read.
        tokio::io::AsyncWriteExt::shutdown(&mut peer.io).await.unwrap();
    };
    let close = tokio::time::timeout(Duration::from_secs(30), tx.close(CloseCode::NORMAL, ""));
    let ((), done) = tokio::join!(server, close);
    assert!(matches!(done, Ok(Ok(()))), "did not finish at EOF: {done:?}");
}
