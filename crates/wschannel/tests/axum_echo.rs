//! The axum example (`examples/axum_echo.rs`, feature `axum`, issue 9) as a real process on
//! 127.0.0.1:0: a normal route and the WebSocket route on one port, driven by our client,
//! Python `websockets` and headless Chromium, each negotiating the subprotocol `chat`.
//!
//! The example binary is the one cargo builds beside this test (`cargo test --features axum`
//! builds the examples; `scripts/test` runs with every feature). Python and Node come from
//! `scripts/test` (`WSCHANNEL_PEER_PYTHON`, `WSCHANNEL_PEER_NODE_MODULES`); without them these
//! tests fail and say so.
#![cfg(feature = "axum")]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{peer_python, peers_dir};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use wschannel::{ClientBuilder, CloseCode, Message};

/// The bound on every step; generous because a first start of a peer may be slow.
const T: Duration = Duration::from_secs(60);

/// The example, running; killed on drop.
struct AxumEcho {
    _child: Child,
    addr: String,
}

impl AxumEcho {
    /// Starts the example on 127.0.0.1:0 and reads its `LISTENING ADDR` line.
    async fn start() -> AxumEcho {
        let exe = example_path();
        let mut child = Command::new(&exe)
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", exe.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = within(lines.next_line()).await.unwrap();
        let first = first.expect("the example exited before printing LISTENING");
        let addr = first
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("expected `LISTENING ADDR:PORT`, got {first:?}"))
            .to_owned();
        assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"), "{addr}");
        AxumEcho { _child: child, addr }
    }

    /// Sends a raw HTTP/1.1 request and returns the whole response (the server closes).
    async fn raw(&self, request: &str) -> String {
        let mut tcp = within(TcpStream::connect(&self.addr)).await.unwrap();
        within(tcp.write_all(request.as_bytes())).await.unwrap();
        let mut out = Vec::new();
        within(tcp.read_to_end(&mut out)).await.unwrap();
        String::from_utf8(out).unwrap()
    }
}

/// `target/<profile>/examples/axum_echo`, beside this test's `deps/` directory.
fn example_path() -> PathBuf {
    let test_exe = std::env::current_exe().unwrap();
    let profile_dir = test_exe.parent().and_then(|deps| deps.parent()).unwrap();
    let exe =
        profile_dir.join("examples").join(format!("axum_echo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.exists(),
        "{} is missing: run the tests with `scripts/test` (or `cargo test -p wschannel --features \
         axum`), which builds the examples, or build it with `cargo build -p wschannel --example \
         axum_echo --features axum`",
        exe.display()
    );
    exe
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("the test timed out")
}

#[tokio::test]
async fn a_normal_route_and_the_websocket_route_share_one_port_with_our_client() {
    let server = AxumEcho::start().await;

    let page = server.raw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.ends_with("\r\n\r\nwschannel axum echo: WebSocket at /ws (subprotocol chat)\n"),
        "{page}"
    );

    // Our client offers chat second: the server's choice, not the order, decides.
    let url = format!("ws://{}/ws", server.addr);
    let mut ws = within(ClientBuilder::new().protocol("superchat").protocol("chat").connect(&url))
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    for msg in [
        Message::text("héllo"),
        Message::binary(vec![0u8, 1, 2, 0x80, 0xff]),
        Message::text(""),
        Message::binary(vec![7u8; 100_000]),
    ] {
        within(ws.send(msg.clone())).await.unwrap();
        // Same opcode and bytes back.
        assert_eq!(within(ws.next()).await.unwrap().unwrap(), msg);
    }
    within(ws.close(CloseCode::NORMAL, "bye")).await.unwrap();
    assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));

    // Without chat in the offer there is no subprotocol, and the echo still works.
    let mut ws = within(ClientBuilder::new().protocol("other").connect(&url)).await.unwrap();
    assert_eq!(ws.protocol(), None);
    within(ws.send(Message::text("plain"))).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), Message::text("plain"));
}

#[tokio::test]
async fn a_bad_upgrade_on_the_websocket_route_gets_the_answers_accept_gives() {
    let server = AxumEcho::start().await;
    let request = |version: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        )
    };
    let answer = server.raw(&request("8")).await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 426 upgrade required\r\n"), "{answer}");
    assert!(answer.contains("\r\nsec-websocket-version: 13\r\n"), "{answer}");
    assert!(
        answer.ends_with("unsupported websocket version \"8\"; only 13 is supported"),
        "{answer}"
    );

    let no_key = request("13").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    let answer = server.raw(&no_key).await;
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(answer.ends_with("missing header Sec-WebSocket-Key"), "{answer}");
}

#[tokio::test]
async fn python_websockets_negotiates_chat_and_gets_its_messages_back() {
    let server = AxumEcho::start().await;
    // py_client.py offers "superchat", "chat" and runs the interop dialogue (text, binary, empty,
    // 1 MiB, fragmented, ping, close 4002).
    let out = Command::new(peer_python())
        .arg(peers_dir().join("py_client.py"))
        .arg(format!("ws://{}/ws", server.addr))
        .kill_on_drop(true)
        .output();
    let out = within(out).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    for want in
        ["PROTOCOL chat", "OK text", "OK binary", "OK 1MiB", "OK ping", "CLOSE 4002 client bye"]
    {
        assert!(lines.contains(&want), "no line {want:?} in:\n{stdout}");
    }
}

#[tokio::test]
async fn headless_chromium_negotiates_chat_and_gets_its_messages_back() {
    let server = AxumEcho::start().await;
    let modules = common::peer_node_modules();
    let out = Command::new("node")
        .arg(peers_dir().join("../browser/subprotocol_echo.test.mjs"))
        .arg(format!("http://{}/", server.addr))
        .arg(format!("ws://{}/ws", server.addr))
        .env("NODE_PATH", &modules)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for want in ["OK protocol chat", "OK text", "OK binary", "OK close 1000"] {
        assert!(stdout.lines().any(|l| l == want), "no line {want:?} in:\n{stdout}");
    }
}
