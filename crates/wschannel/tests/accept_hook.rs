//! The async accept hook (issue 9): it awaits, adds response headers to the 101, refuses with a
//! status, headers and a body, and a header it gets wrong is never sent. The client side is a
//! raw HTTP request over `tokio::io::duplex`, so the test reads the exact response head.

mod common;

use common::{within, Peer};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use wschannel::server::{accept_with_async, Accept};
use wschannel::{accept_with, Config, Error, Message, Reject};

const UPGRADE: &str = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: superchat, chat\r\n\
    Cookie: session=ok\r\n\r\n";

/// Writes the upgrade request and reads the response head (up to the empty line).
async fn send_request(client: &mut DuplexStream) -> String {
    within(client.write_all(UPGRADE.as_bytes())).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = within(client.read(&mut byte)).await.unwrap();
        assert_eq!(n, 1, "the server closed before the end of its head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn an_async_hook_chooses_the_subprotocol_and_adds_a_cookie_to_the_101() {
    let (mut client, server_io) = duplex(1 << 16);
    let server = tokio::spawn(accept_with_async(server_io, Config::default(), |req| async move {
        // The request is owned by the future: awaiting while holding it is fine.
        tokio::task::yield_now().await;
        assert_eq!(req.header("Cookie"), Some(&b"session=ok"[..]));
        let chosen = req.protocols().into_iter().find(|p| p == "chat").unwrap();
        Ok(Accept::new().protocol(chosen).header("Set-Cookie", "seen=1; HttpOnly"))
    }));
    let head = send_request(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(head.contains("\r\nSec-WebSocket-Protocol: chat\r\n"), "{head}");
    assert!(head.contains("\r\nSet-Cookie: seen=1; HttpOnly\r\n"), "{head}");

    let mut ws = within(server).await.unwrap().unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    let mut peer = Peer { io: client, mask: true };
    peer.send(true, 0x1, b"hi").await;
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::text("hi"));
    within(ws.send(Message::binary(&b"back"[..]))).await.unwrap();
    let frame = peer.recv().await.unwrap();
    assert_eq!((frame.opcode, &frame.payload[..]), (0x2, &b"back"[..]));
}

#[tokio::test]
async fn an_async_hook_rejects_with_status_headers_and_body() {
    let (mut client, server_io) = duplex(1 << 16);
    let server = tokio::spawn(accept_with_async(server_io, Config::default(), |_| async {
        Err::<Accept, _>(
            Reject::new(401, "log in first").header("WWW-Authenticate", "Bearer realm=\"ws\""),
        )
    }));
    let head = send_request(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    assert!(head.contains("\r\nWWW-Authenticate: Bearer realm=\"ws\"\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Length: 12\r\n"), "{head}");
    let mut body = Vec::new();
    within(client.read_to_end(&mut body)).await.unwrap();
    assert_eq!(body, b"log in first");
    let err = within(server).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 401 }), "{err:?}");
}

#[tokio::test]
async fn a_header_with_crlf_is_the_callers_error_and_is_never_sent() {
    for reject in [false, true] {
        let (mut client, server_io) = duplex(1 << 16);
        let server = tokio::spawn(accept_with_async(server_io, Config::default(), move |_| {
            let bad = ("X-Injected", "a\r\nSet-Cookie: admin=1");
            std::future::ready(if reject {
                Err(Reject::new(403, "no").header(bad.0, bad.1))
            } else {
                Ok(Accept::new().header(bad.0, bad.1))
            })
        }));
        let head = send_request(&mut client).await;
        assert!(head.starts_with("HTTP/1.1 500 "), "{head}");
        let mut rest = Vec::new();
        within(client.read_to_end(&mut rest)).await.unwrap();
        let all = head + &String::from_utf8_lossy(&rest);
        assert!(!all.contains("admin=1") && !all.contains("X-Injected"), "{all}");
        let err = within(server).await.unwrap().unwrap_err();
        match &err {
            Error::InvalidResponseHeader { name, .. } => assert_eq!(name, "X-Injected"),
            other => panic!("expected InvalidResponseHeader, got {other:?}"),
        }
        assert!(err.to_string().contains("X-Injected"), "{err}");
    }
}

#[tokio::test]
async fn the_sync_hook_still_takes_a_plain_closure_and_its_reject_can_carry_headers() {
    let (mut client, server_io) = duplex(1 << 16);
    let server = tokio::spawn(accept_with(server_io, Config::default(), |req| {
        assert_eq!(req.path, "/chat");
        Err(Reject::new(403, "closed").header("Retry-After", "60"))
    }));
    let head = send_request(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert!(head.contains("\r\nRetry-After: 60\r\n"), "{head}");
    assert!(matches!(within(server).await.unwrap(), Err(Error::Rejected { status: 403 })));
}
