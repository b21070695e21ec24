//! `wschannel serve` end to end: the built binary on port 0, driven by the library, by Python
//! `websockets` and by headless Chromium.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use wschannel::{CloseCode, Message};

use common::{peer_python, repo_root, Serve};

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn text_and_binary_come_back_with_their_opcode() {
    let server = Serve::start(&[]).await;
    let mut ws = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    let png = b"\x89PNG\r\n\x1a\n not a whole image, but binary".to_vec();
    for msg in [
        Message::text("hello"),
        Message::text(""),
        Message::binary(png.clone()),
        Message::binary(vec![0u8; 1 << 20]),
    ] {
        timeout(T, ws.send(msg.clone())).await.unwrap().unwrap();
        let back = timeout(T, ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(back, msg);
    }
    timeout(T, ws.close(CloseCode::NORMAL, "done")).await.unwrap().unwrap();
    assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn traffic_keeps_a_connection_open_and_silence_closes_it_with_1000() {
    let server = Serve::start(&["--idle-timeout", "2s"]).await;
    let mut ws = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    // A message every 100 ms for twice the idle timeout: the server moves its deadline along.
    for i in 0..40 {
        let msg = Message::text(format!("tick {i}"));
        timeout(T, ws.send(msg.clone())).await.unwrap().unwrap();
        let back = timeout(T, ws.next()).await.unwrap();
        assert_eq!(back.map(Result::unwrap), Some(msg), "closed after {i} messages");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then silence: the server closes the connection as idle.
    let end = timeout(T, ws.next()).await.unwrap();
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));
    assert_eq!(ws.close_reason().as_deref(), Some("idle timeout"));
}

#[tokio::test]
async fn greeting_and_subprotocol() {
    let server = Serve::start(&["--greeting", "welcome", "--subprotocol", "chat"]).await;
    let mut ws =
        timeout(T, common::client().protocol("x").protocol("chat").connect(&server.ws_url))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    let first = timeout(T, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first, Message::text("welcome"));
}

#[tokio::test]
async fn python_websockets_client_full_dialogue() {
    let server = Serve::start(&["--subprotocol", "chat"]).await;
    let mut command = tokio::process::Command::new(peer_python());
    // Python `websockets` connects through the environment's proxy: not in tests.
    for name in common::proxy_variables() {
        command.env_remove(name);
    }
    let out = command
        .arg(repo_root().join("tests/peers/py_client.py"))
        .arg(&server.ws_url)
        .kill_on_drop(true)
        .output();
    let out = timeout(T, out).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "PROTOCOL chat",
        "OK text",
        "OK binary",
        "OK 1MiB",
        "OK fragmented",
        "OK ping",
        "CLOSE 4002 client bye",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}");
    }
}

#[tokio::test]
async fn page_health_metrics_and_404() {
    let server = Serve::start(&[]).await;
    let (status, body) = server.http_get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>") && body.contains("id=\"connect\""), "{body}");
    assert_eq!(server.http_get("/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(server.http_get("/nope").await.0, 404);

    let mut ws = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    timeout(T, ws.send(Message::text("abc"))).await.unwrap().unwrap();
    timeout(T, ws.send(Message::binary(vec![1u8; 10]))).await.unwrap().unwrap();
    for _ in 0..2 {
        timeout(T, ws.next()).await.unwrap().unwrap().unwrap();
    }
    // Counted as the echo is queued, which can be a moment after it was written: poll.
    metrics_eventually(
        &server,
        &[
            "wschannel_connections_open 1",
            "wschannel_connections_total 1",
            "wschannel_messages_received_total{type=\"text\"} 1",
            "wschannel_messages_received_total{type=\"binary\"} 1",
            "wschannel_bytes_sent_total{type=\"text\"} 3",
            "wschannel_bytes_sent_total{type=\"binary\"} 10",
        ],
    )
    .await;
    timeout(T, ws.close(CloseCode::new(4000).unwrap(), "")).await.unwrap().unwrap();
    // The server records the close after its side finished: poll until it shows.
    metrics_eventually(
        &server,
        &["wschannel_close_codes_total{code=\"4000\"} 1", "wschannel_connections_open 0"],
    )
    .await;
}

#[tokio::test]
async fn tls_self_signed() {
    let server = Serve::start(&["--tls-self-signed"]).await;
    assert!(server.ws_url.starts_with("wss://"), "{}", server.ws_url);
    // Without trusting the certificate: a TLS error.
    let err = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap_err();
    assert!(matches!(err, wschannel::Error::Tls { .. }), "{err:?}");
    let mut ws =
        timeout(T, common::client().danger_insecure_skip_verify(true).connect(&server.ws_url))
            .await
            .unwrap()
            .unwrap();
    timeout(T, ws.send(Message::text("secure"))).await.unwrap().unwrap();
    assert_eq!(timeout(T, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("secure"));
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503() {
    let server = Serve::start(&["--max-connections", "1"]).await;
    let _first = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    let err = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap_err();
    assert_eq!(err.http_status(), Some(503), "{err:?}");
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_0() {
    let mut server = Serve::start(&[]).await;
    let mut ws = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    server.signal("TERM");
    let end = timeout(T, ws.next()).await.unwrap();
    assert!(end.is_none(), "{end:?}");
    assert_eq!(ws.close_code(), Some(CloseCode::GOING_AWAY));
    let status = timeout(T, server.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn headless_chromium_uses_the_page() {
    chromium_page(&[], "serve-page.png", "none").await;
}

/// Issue 8: Chromium offers permessage-deflate; `serve --deflate` takes it, the page says so.
#[tokio::test]
async fn headless_chromium_negotiates_deflate_and_the_page_shows_it() {
    let server = chromium_page(&["--deflate"], "serve-page-deflate.png", "deflate").await;
    // Counted when the connection has ended on the server's side, which may trail the page.
    let mut metrics = String::new();
    for _ in 0..100 {
        let (status, body) = server.http_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(status, 200);
        metrics = body;
        if metrics.contains("wschannel_deflate_connections_total 1\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains("wschannel_deflate_connections_total 1\n"), "{metrics}");
    // The 3200-byte line went both ways compressed: its wire bytes are counted, smaller.
    let count = |name: &str| -> u64 {
        let line =
            metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let wire_in = count("wschannel_compressed_bytes_total{direction=\"in\"}");
    let raw_in = count("wschannel_uncompressed_bytes_total{direction=\"in\"}");
    assert!(raw_in >= 3200 && wire_in > 0 && wire_in < raw_in / 4, "{metrics}");
    let wire_out = count("wschannel_compressed_bytes_total{direction=\"out\"}");
    let raw_out = count("wschannel_uncompressed_bytes_total{direction=\"out\"}");
    assert!(raw_out >= 3200 && wire_out > 0 && wire_out < raw_out / 4, "{metrics}");
}

async fn chromium_page(args: &[&str], shot: &str, compression: &str) -> Serve {
    let server = Serve::start(args).await;
    let modules = common::peer_node_modules();
    let shot = repo_root().join("target/browser").join(shot);
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let mut command = tokio::process::Command::new("node");
    // Chromium on Linux reads the proxy variables too: not in tests.
    for name in common::proxy_variables() {
        command.env_remove(name);
    }
    let out = command
        .arg(repo_root().join("tests/browser/page.test.mjs"))
        .arg(&server.http_url)
        .arg(&shot)
        .arg(compression)
        .env("NODE_PATH", &modules)
        .kill_on_drop(true)
        .output();
    let out = timeout(Duration::from_secs(120), out).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(shot.exists(), "screenshot {} was not written", shot.display());
    server
}

#[tokio::test]
async fn handshake_failures_are_answered_and_counted_by_reason() {
    let server = Serve::start(&[]).await;
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let (status, body) = server
        .http_request(&format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{upgrade}Sec-WebSocket-Version: 8\r\n\r\n"
        ))
        .await;
    assert_eq!(status, 426, "{body}");
    let (status, _) = server.http_request("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n").await;
    assert_eq!(status, 400, "no Sec-WebSocket-Key");
    // The server counts a failure after answering it: wait until the counters show both.
    metrics_eventually(
        &server,
        &[
            "wschannel_handshake_failures_total{reason=\"unsupported_version\"} 1",
            "wschannel_handshake_failures_total{reason=\"bad_handshake\"} 1",
        ],
    )
    .await;
}

/// Polls `/metrics` until every line in `lines` is present (bounded by `T`).
async fn metrics_eventually(server: &Serve, lines: &[&str]) {
    let mut last = String::new();
    let seen = timeout(T, async {
        loop {
            last = server.http_get("/metrics").await.1;
            if lines.iter().all(|want| last.lines().any(|l| l == *want)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "metrics never showed {lines:?}; last:\n{last}");
}

/// Issue 10: failed handshakes showed in /metrics but in no log at the default level, and
/// SIGTERM printed its notice twice (a log line and a plain line).
#[tokio::test]
async fn failed_handshakes_are_logged_with_peer_and_reason_and_sigterm_is_noticed_once() {
    let mut server = Serve::start_logged(&[]).await;
    let (status, _) = server
        .http_request(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await;
    assert_eq!(status, 426);
    // The start of a TLS ClientHello, sent to the plain port.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]).await.unwrap();
    timeout(T, tcp.read_to_end(&mut Vec::new())).await.unwrap().unwrap();

    server.signal("TERM");
    let log = server.stderr_after_exit().await;
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("handshake failed")).collect();
    assert_eq!(failed.len(), 2, "{log}");
    assert!(failed.iter().all(|l| l.contains(" INFO ") && l.contains("peer=127.0.0.1:")), "{log}");
    // The server logs a failure after its answer, so the two lines may come in either order.
    for reason in ["reason=\"unsupported_version\"", "reason=\"bad_request\""] {
        assert!(failed.iter().any(|l| l.contains(reason)), "{reason}: {log}");
    }
    let notices: Vec<&str> = log.lines().filter(|l| l.contains("SIGTERM")).collect();
    assert_eq!(notices.len(), 1, "{log}");
    assert!(notices[0].contains("SIGTERM received: closing connections"), "{log}");
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_memory_stays_bounded() {
    let server = Serve::start(&["--idle-timeout", "1s", "--write-buffer", "65536"]).await;
    let mut ws = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    // Send 128 MiB of echo requests and never read the echoes: the server's writes back up,
    // it gives up on us after the idle timeout and discards what we still send.
    let chunk = Message::binary(vec![7u8; 64 << 10]);
    let mut sent = 0usize;
    while sent < (128 << 20) {
        match timeout(Duration::from_secs(3), ws.send(chunk.clone())).await {
            Ok(Ok(())) => sent += 64 << 10,
            // Our buffers are full (the server stopped reading) or it closed on us.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    // The server gives up on us: the connection is closed and counted.
    let closed = timeout(T, async {
        loop {
            let (_, m) = server.http_get("/metrics").await;
            if m.contains("wschannel_connections_open 0")
                && m.contains("wschannel_close_codes_total{")
            {
                break m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    closed.await.expect("the server closed the connection of a client that does not read");
    let pid = server.child.id().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kib < 64 << 10, "server peak RSS {peak_kib} KiB after {sent} bytes were sent");
}
