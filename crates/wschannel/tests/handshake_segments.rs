//! The opening handshake when the head arrives in tiny segments (issue 11): a 16 KiB head
//! sent one byte per read completes, and the bounds answer 431 or 400 whatever the segments.
//! That the work is linear is proven by the proto crate's head_tests, which count it.

mod common;

use common::within;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use wschannel::{accept, ClientBuilder, Config, Error, HandshakeError, Message};
use wschannel_proto::handshake::accept_key;

/// An upgrade request of about 16 KiB: the handshake headers and 58 padding headers.
fn big_request() -> Vec<u8> {
    let mut head = String::from(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n",
    );
    for i in 0..58 {
        head.push_str(&format!("X-Pad-{i:03}: {}\r\n", "a".repeat(260)));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Writes `bytes` one at a time; over `duplex(1)` each of the server's reads gets one byte.
async fn write_bytewise(io: &mut DuplexStream, bytes: &[u8]) {
    for b in bytes {
        io.write_all(&[*b]).await.unwrap();
    }
}

/// Reads until the end of an HTTP head and answers it as text.
async fn read_head<R: AsyncReadExt + Unpin>(io: &mut R) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if io.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn issue_11_a_16_kib_request_sent_one_byte_per_read_is_accepted() {
    let wire = big_request();
    assert!(wire.len() > 15 << 10 && wire.len() <= Config::default().max_handshake_bytes);
    let (mut client, server_io) = duplex(1);
    let server = tokio::spawn(async move {
        let mut ws = accept(server_io).await.unwrap();
        let msg = ws.next().await.unwrap().unwrap();
        ws.send(msg).await.unwrap();
    });
    within(write_bytewise(&mut client, &wire)).await;
    let head = within(read_head(&mut client)).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
    // A masked "hi" (RFC 6455 §5.3), one byte per write too; the echo comes back unmasked.
    let mask = [1, 2, 3, 4];
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ mask[0], b'i' ^ mask[1]];
    within(write_bytewise(&mut client, &frame)).await;
    let mut echo = [0u8; 4];
    within(client.read_exact(&mut echo)).await.unwrap();
    assert_eq!(echo, [0x81, 0x02, b'h', b'i']);
    within(server).await.unwrap();
}

/// Sends `wire` one byte per read to `accept` and answers the status line the client got and
/// the server's error.
async fn refused(wire: Vec<u8>) -> (String, Error) {
    let (client, server_io) = duplex(1);
    let server = tokio::spawn(async move { accept(server_io).await.map(|_| ()).unwrap_err() });
    let (mut rd, mut wr) = tokio::io::split(client);
    // The server stops reading when it refuses: the rest of the writes fail.
    let writer = tokio::spawn(async move {
        for b in wire {
            if wr.write_all(&[b]).await.is_err() {
                break;
            }
        }
    });
    // The rejection, to its end: the server shuts its write side down after the body.
    let mut answer = Vec::new();
    within(rd.read_to_end(&mut answer)).await.unwrap();
    let head = String::from_utf8_lossy(&answer).into_owned();
    let err = within(server).await.unwrap();
    within(writer).await.unwrap();
    (head.lines().next().unwrap_or_default().to_owned(), err)
}

#[tokio::test]
async fn issue_11_a_head_over_the_limit_gets_431_whatever_the_segments() {
    let mut wire = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    wire.extend_from_slice(&vec![b'a'; 20 << 10]);
    let (status, err) = refused(wire).await;
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert!(matches!(err, Error::Handshake(HandshakeError::HeadTooLarge(_))), "{err:?}");
}

#[tokio::test]
async fn issue_11_too_many_headers_get_431_whatever_the_segments() {
    let mut wire = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..100 {
        wire.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    let (status, err) = refused(wire).await;
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert!(matches!(err, Error::Handshake(HandshakeError::TooManyHeaders(_))), "{err:?}");
}

#[tokio::test]
async fn issue_11_a_malformed_head_gets_400_whatever_the_segments() {
    let wire = b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n".to_vec();
    let (status, err) = refused(wire).await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(matches!(err, Error::Handshake(HandshakeError::Http(_))), "{err:?}");
}

#[tokio::test]
async fn issue_11_a_client_reads_a_response_sent_one_byte_per_segment() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let server = tokio::spawn(async move {
        let (mut tcp, _): (TcpStream, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let request = read_head(&mut tcp).await;
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("the client sent a key");
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n",
            accept_key(key.as_bytes())
        );
        for i in 0..50 {
            response.push_str(&format!("X-Pad-{i}: {}\r\n", "b".repeat(200)));
        }
        response.push_str("\r\n");
        let mut wire = response.into_bytes();
        wire.extend_from_slice(&[0x81, 0x02, b'o', b'k']);
        for b in wire {
            tcp.write_all(&[b]).await.unwrap();
            tcp.flush().await.unwrap();
        }
        tcp
    });
    let mut ws = within(ClientBuilder::new().no_proxy().connect(&url)).await.unwrap();
    let msg = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(msg, Message::text("ok"));
    drop(within(server).await.unwrap());
}
