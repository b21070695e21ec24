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
