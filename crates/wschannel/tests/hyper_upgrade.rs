//! A plain hyper 1.x server that upgrades with `wschannel::upgrade` (feature `hyper`, issue 9):
//! a refused upgrade gets the answers `accept` gives (426 with the version header, 400), an
//! accepted one gets the app's extra header and a channel our client talks to, with a
//! subprotocol and with permessage-deflate; on a connection served without upgrades the channel's
//! future fails saying what to fix.
#![cfg(feature = "hyper")]

mod common;

use std::convert::Infallible;

use tokio::sync::mpsc;

use common::within;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wschannel::upgrade::{is_upgrade_request, UpgradeRequest};
use wschannel::{ClientBuilder, CloseCode, Config, DeflateConfig, Message};

/// The app: `/` answers 200 "plain"; an upgrade (any path) chooses "chat" from the client's
/// offer, adds `Set-Cookie`, and echoes until the client closes. A failed upgrade is reported
/// on `failures`.
async fn app(
    mut req: http::Request<Incoming>,
    failures: mpsc::UnboundedSender<String>,
) -> Result<http::Response<String>, Infallible> {
    if !is_upgrade_request(&req) {
        return Ok(http::Response::new("plain".to_owned()));
    }
    let config = Config::default().deflate(Some(DeflateConfig::default()));
    let upgrade = match UpgradeRequest::new(&mut req) {
        Ok(u) => u.protocols(["chat"]).config(config),
        Err(e) => return Ok(e.into_response()),
    };
    let (mut response, upgrading) = upgrade.respond::<String>();
    response.headers_mut().insert("set-cookie", http::HeaderValue::from_static("seen=1"));
    tokio::spawn(async move {
        let mut ws = match upgrading.await {
            Ok(ws) => ws,
            Err(e) => {
                let _ = failures.send(e.to_string());
                return;
            }
        };
        while let Some(Ok(msg)) = ws.next().await {
            if ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    Ok(response)
}

/// Serves `app` on 127.0.0.1:0, each connection `with_upgrades()` when `upgrades`; returns the
/// address and the failed upgrades' errors.
async fn serve_reporting(upgrades: bool) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, failures) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            let service = service_fn(move |req| app(req, tx.clone()));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
            if upgrades {
                tokio::spawn(conn.with_upgrades());
            } else {
                tokio::spawn(conn);
            }
        }
    });
    (addr, failures)
}

async fn serve(upgrades: bool) -> String {
    serve_reporting(upgrades).await.0
}

/// Sends a raw request and reads the response head (up to the empty line).
async fn raw_head(addr: &str, request: &str) -> (TcpStream, String) {
    let mut tcp = within(TcpStream::connect(addr)).await.unwrap();
    within(tcp.write_all(request.as_bytes())).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(within(tcp.read(&mut byte)).await.unwrap(), 1, "EOF in the head: {head:?}");
        head.push(byte[0]);
    }
    (tcp, String::from_utf8(head).unwrap().to_ascii_lowercase())
}

fn upgrade_request(version: &str, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\
         {extra}\r\n"
    )
}

#[tokio::test]
async fn another_websocket_version_gets_426_with_the_version_we_speak() {
    let addr = serve(true).await;
    let (mut tcp, head) = raw_head(&addr, &upgrade_request("8", "")).await;
    assert!(head.starts_with("http/1.1 426 upgrade required\r\n"), "{head}");
    assert!(head.contains("\r\nsec-websocket-version: 13\r\n"), "{head}");
    assert!(head.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: upgrade, close\r\n"), "{head}");
    let len: usize = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.parse().ok())
        .expect("a content-length");
    let mut body = vec![0u8; len];
    within(tcp.read_exact(&mut body)).await.unwrap();
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "unsupported WebSocket version \"8\"; only 13 is supported"
    );
}

#[tokio::test]
async fn a_bad_key_gets_400_and_plain_http_still_works_on_the_same_port() {
    let addr = serve(true).await;
    let bad = upgrade_request("13", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
    let (_, head) = raw_head(&addr, &bad).await;
    assert!(head.starts_with("http/1.1 400 bad request\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
    let (_, head) = raw_head(&addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
}

#[tokio::test]
async fn an_accepted_upgrade_has_the_apps_header_and_the_chosen_subprotocol() {
    let addr = serve(true).await;
    let offer = "Sec-WebSocket-Protocol: superchat, chat\r\n";
    let (_, head) = raw_head(&addr, &upgrade_request("13", offer)).await;
    assert!(head.starts_with("http/1.1 101 switching protocols\r\n"), "{head}");
    // RFC 6455 §1.3's accept key for the key above.
    assert!(head.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"), "{head}");
    assert!(head.contains("\r\nsec-websocket-protocol: chat\r\n"), "{head}");
    assert!(head.contains("\r\nset-cookie: seen=1\r\n"), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "no deflate was offered: {head}");
}

#[tokio::test]
async fn our_client_talks_to_the_upgraded_channel_with_and_without_deflate() {
    let addr = serve(true).await;
    for deflate in [false, true] {
        let config = Config::default().deflate(deflate.then(DeflateConfig::default));
        let mut ws = within(
            ClientBuilder::new()
                .config(config)
                .protocol("superchat")
                .protocol("chat")
                .connect(&format!("ws://{addr}/ws")),
        )
        .await
        .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
        let expected = deflate.then_some("permessage-deflate");
        assert_eq!(ws.extension(), expected);
        let big = "é".repeat(4000);
        for msg in
            [Message::text("héllo"), Message::binary(vec![0u8, 1, 2, 255]), Message::text(big)]
        {
            within(ws.send(msg.clone())).await.unwrap();
            assert_eq!(within(ws.next()).await.unwrap().unwrap(), msg);
        }
        within(ws.close(CloseCode::NORMAL, "bye")).await.unwrap();
        assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));
    }
}

#[tokio::test]
async fn on_a_connection_served_without_upgrades_the_channel_future_says_what_to_fix() {
    let (addr, mut failures) = serve_reporting(false).await;
    // hyper sends the 101, then cannot hand the connection over.
    let (_tcp, head) = raw_head(&addr, &upgrade_request("13", "")).await;
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    let error = within(failures.recv()).await.unwrap();
    assert!(error.contains("with_upgrades()"), "{error}");
}
