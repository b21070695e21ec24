//! The in-memory `pair()`: round trips and split halves on separate tasks.

mod common;

use common::within;
use futures_util::{SinkExt, StreamExt};
use wschannel::{pair, CloseCode, Config, ControlPayload, Initiator, Message};

#[tokio::test]
async fn round_trip() {
    let (mut client, mut server) = pair(Config::default());

    within(client.send(Message::text("ping?"))).await.unwrap();
    let got = within(server.next()).await.unwrap().unwrap();
    assert_eq!(got, Message::text("ping?"));
    within(server.send(Message::binary(vec![1, 2, 3]))).await.unwrap();
    let got = within(client.next()).await.unwrap().unwrap();
    assert_eq!(got, Message::binary(vec![1, 2, 3]));

    within(client.ping(ControlPayload::try_from("p").unwrap())).await.unwrap();
    let ping = within(server.next()).await.unwrap().unwrap();
    assert!(matches!(ping, Message::Ping(_)));
    let pong = within(client.next()).await.unwrap().unwrap();
    assert!(matches!(pong, Message::Pong(_)));

    // One task owns both ends: the server must be polled for the close to complete.
    let (closed, end) =
        within(async { tokio::join!(client.close(CloseCode::NORMAL, "done"), server.next()) })
            .await;
    closed.unwrap();
    assert_eq!(client.close_initiator(), Some(Initiator::Local));
    assert!(end.is_none());
    assert_eq!(server.close_code(), Some(CloseCode::NORMAL));
    assert_eq!(server.close_reason().unwrap(), "done");
    assert_eq!(server.close_initiator(), Some(Initiator::Remote));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_work_from_two_tasks() {
    let (client, server) = pair(Config::default().write_buffer_size(4096));
    let (mut tx, mut rx) = client.split();

    // The server echoes until the stream ends.
    let echo = tokio::spawn(async move {
        let (mut stx, mut srx) = server.split();
        while let Some(msg) = srx.next().await {
            let msg = msg.unwrap();
            if msg.is_data() {
                stx.send(msg).await.unwrap();
            }
        }
    });

    const N: usize = 500;
    let sender = tokio::spawn(async move {
        for i in 0..N {
            tx.send(Message::text(format!("message {i}"))).await.unwrap();
        }
        tx
    });
    for i in 0..N {
        let got = within(rx.next()).await.unwrap().unwrap();
        assert_eq!(got, Message::text(format!("message {i}")));
    }
    let mut tx = within(sender).await.unwrap();
    within(SinkExt::close(&mut tx)).await.unwrap();
    assert!(within(rx.next()).await.is_none());
    within(echo).await.unwrap();
}

#[tokio::test]
async fn big_messages_cross_in_both_directions_at_once() {
    // Both ends send more than the duplex holds before reading: neither may stop reading.
    let (client, server) = pair(Config::default());
    let big = Message::binary(vec![0x42; 1 << 20]);

    let run = |ch: wschannel::Channel<tokio::io::DuplexStream>, msg: Message| async move {
        let (mut tx, mut rx) = ch.split();
        let send = tokio::spawn(async move {
            for _ in 0..4 {
                tx.send(msg.clone()).await.unwrap();
            }
            tx
        });
        for _ in 0..4 {
            let got = rx.next().await.unwrap().unwrap();
            assert_eq!(got.len(), 1 << 20);
        }
        send.await.unwrap()
    };
    let (a, b) = within(futures_util::future::join(
        tokio::spawn(run(client, big.clone())),
        tokio::spawn(run(server, big)),
    ))
    .await;
    drop((a.unwrap(), b.unwrap()));
}

/// Issue 8: off by default; with `Config::deflate` both ends compress what is over the
/// threshold, `send_uncompressed` opts one message out, and a bomb ends with 1009.
#[tokio::test]
async fn deflate_threshold_opt_out_and_limit() {
    let (client, _) = pair(Config::default());
    assert_eq!(client.extension(), None);
    assert_eq!(client.extension_stats(), None);

    let deflate = wschannel::DeflateConfig::default().threshold(100).level(1);
    let config = Config::default().max_message_size(64 << 10).deflate(Some(deflate));
    let (mut client, mut server) = pair(config);
    assert_eq!(client.extension(), Some("permessage-deflate"));
    assert_eq!(server.extension(), Some("permessage-deflate"));
    let big = Message::text("compress me, ".repeat(100));
    for msg in [Message::text("small"), big.clone()] {
        within(client.send(msg.clone())).await.unwrap();
        assert_eq!(within(server.next()).await.unwrap().unwrap(), msg);
    }
    within(client.send_uncompressed(big.clone())).await.unwrap();
    assert_eq!(within(server.next()).await.unwrap().unwrap(), big);
    let stats = client.extension_stats().unwrap();
    assert_eq!((stats.messages_out, stats.bytes_out), (1, big.len() as u64));
    assert!(stats.wire_bytes_out < 100, "{stats:?}");
    assert_eq!(server.extension_stats().unwrap().messages_in, 1);

    // 1 MiB of zeros, a few KiB compressed, against a 64 KiB limit.
    within(client.send(Message::binary(vec![0u8; 1 << 20]))).await.unwrap();
    let err = within(server.next()).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    let (_, end) = within(async { tokio::join!(client.next(), server.next()) }).await;
    assert!(end.is_none());
    assert_eq!(server.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
}

#[tokio::test]
async fn a_split_sender_opts_out_of_compression() {
    let deflate = wschannel::DeflateConfig::default().threshold(0);
    let (client, mut server) = pair(Config::default().deflate(Some(deflate)));
    let (mut tx, _rx) = client.split();
    within(tx.send(Message::text("compressed"))).await.unwrap();
    within(tx.send_uncompressed(Message::text("as is"))).await.unwrap();
    assert_eq!(within(server.next()).await.unwrap().unwrap(), Message::text("compressed"));
    assert_eq!(within(server.next()).await.unwrap().unwrap(), Message::text("as is"));
    assert_eq!(server.extension_stats().unwrap().messages_in, 1);
}

/// Issue 11: the channel's `close` and `send(Message::Close)` refuse the codes that only
/// report what happened (1005, 1006, 1015); the connection stays usable.
#[tokio::test]
async fn close_with_a_code_that_may_not_be_sent_is_a_usage_error() {
    let (mut client, mut server) = pair(Config::default());
    for code in [CloseCode::NO_STATUS, CloseCode::ABNORMAL, CloseCode::TLS_HANDSHAKE] {
        let err = within(client.close(code, "")).await.unwrap_err();
        assert!(matches!(err, wschannel::Error::Usage(_)), "{code}: {err:?}");
        assert!(err.to_string().contains("may not be sent"), "{err}");
        let frame = wschannel::CloseFrame { code, reason: "".into() };
        let err = within(client.send(Message::Close(Some(frame)))).await.unwrap_err();
        assert!(matches!(err, wschannel::Error::Usage(_)), "{code}: {err:?}");
    }
    within(client.send(Message::text("still open"))).await.unwrap();
    assert_eq!(within(server.next()).await.unwrap().unwrap(), Message::text("still open"));
}

/// Issue 11: `Config` has public fields, and `write_buffer_size = 0` made every send wait
/// forever. A connection clamps it to 1 as the setter does.
#[tokio::test]
async fn a_write_buffer_of_zero_set_on_the_field_does_not_stall_sends() {
    let mut config = Config::default();
    config.write_buffer_size = 0;
    let (mut client, mut server) = pair(config);
    for i in 0..10 {
        within(client.send(Message::text(format!("m{i}")))).await.unwrap();
    }
    for i in 0..10 {
        assert_eq!(within(server.next()).await.unwrap().unwrap(), Message::text(format!("m{i}")));
    }
}
