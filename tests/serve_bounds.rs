//! Issue 11: `wschannel serve` under hostile and careless peers, end to end: the built binary
//! on port 0, with raw sockets where the library would refuse to misbehave.
#![cfg(unix)]

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use wschannel::{CloseCode, Message, OpCode};

use common::{cpu_ticks, raise_own_fd_limit, Serve};

const T: Duration = Duration::from_secs(30);

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\n\r\n";

/// Issue 11: 2,000 TCP connections that never send a byte made `accept` fail with EMFILE and a
/// new client wait for the handshake timeout. Now the server raises its soft limit to the hard
/// one and caps the handshakes below it, shedding the oldest: the fresh client is served
/// although the handshake timeout (60 s here) is far from over.
#[tokio::test]
async fn two_thousand_silent_connections_do_not_lock_out_a_fresh_client() {
    assert!(raise_own_fd_limit() >= 2_200, "this test needs 2,200 descriptors (ulimit -Hn)");
    let mut server = Serve::start_with_fd_limit(&["--handshake-timeout", "60s"], 1024, 4096).await;
    let mut silent = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        silent.push(timeout(T, TcpStream::connect(server.addr)).await.unwrap().unwrap());
    }
    let echo = async {
        let mut ws = common::connect(&server.ws_url).await.unwrap();
        ws.send(Message::text("still here")).await.unwrap();
        ws.next().await.unwrap().unwrap()
    };
    let back = timeout(T, echo).await.expect("101 and an echo despite 2,000 silent connections");
    assert_eq!(back, Message::text("still here"));

    // 4096 / 8 = 512 handshake places: at least 2,000 - 512 silent ones were shed.
    let (_, metrics) = server.http_get("/metrics").await;
    let shed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wschannel_handshake_failures_total{reason=\"shed\"} "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no shed handshakes counted:\n{metrics}"));
    assert!(shed >= 2_000 - 512, "{shed} shed\n{metrics}");
    drop(silent);

    server.signal("TERM");
    let log = server.stderr_after_exit().await;
    assert!(
        log.contains(
            "file descriptor limit 4096 (soft limit was 1024, hard limit 4096): \
             --max-connections 3520, --max-handshakes 512"
        ),
        "{log}"
    );
    assert!(!log.contains("accept failed"), "{log}");
}

/// When descriptors truly run out (a hard limit below what the options allow), accept pauses
/// with one log line instead of spinning and warning ten times a second, and picks up the
/// waiting connections by itself once descriptors are free.
#[tokio::test]
async fn out_of_descriptors_accept_pauses_without_spinning_and_recovers() {
    let args = ["--max-connections", "1000", "--max-handshakes", "1000"];
    let mut server = Serve::start_with_fd_limit(&args, 64, 64).await;
    // Upgrade connections until one gets no 101: the server is out of descriptors.
    let mut upgraded = Vec::new();
    let waiting = loop {
        assert!(upgraded.len() < 64, "64 descriptors and still accepting");
        let mut tcp = timeout(T, TcpStream::connect(server.addr)).await.unwrap().unwrap();
        tcp.write_all(UPGRADE.as_bytes()).await.unwrap();
        match timeout(Duration::from_secs(2), read_head(&mut tcp)).await {
            Ok(head) => {
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                upgraded.push(tcp);
            }
            Err(_) => break tcp,
        }
    };
    assert!(upgraded.len() > 20, "only {} upgraded with 64 descriptors", upgraded.len());

    // Out of descriptors with a connection waiting: accept retries at most once a second.
    let pid = server.child.id().unwrap();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    assert!(used < 50, "the server used {used} ticks of CPU in 2 s while out of descriptors");

    // Free some descriptors: the waiting connection gets its 101, and so does a new client.
    upgraded.truncate(upgraded.len() - 10);
    let mut waiting = waiting;
    let head = timeout(T, read_head(&mut waiting)).await.expect("the waiting client is served");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut ws = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    timeout(T, ws.send(Message::text("back"))).await.unwrap().unwrap();
    assert_eq!(timeout(T, ws.next()).await.unwrap().unwrap().unwrap(), Message::text("back"));
    drop((ws, waiting, upgraded));

    server.signal("TERM");
    let log = server.stderr_after_exit().await;
    let failed = log.lines().filter(|l| l.contains("accept failed")).count();
    assert_eq!(failed, 1, "one line per episode:\n{log}");
    assert!(log.contains("accepting again after"), "{log}");
    assert!(log.contains("need about 2064 file descriptors but the limit is 64"), "{log}");
}

/// A peer that is gone (no FIN, no answers) is found by keepalive and its slot freed: it gets
/// a ping, no answer within --ping-timeout ends the connection. A live client, which answers
/// pings, stays connected.
#[tokio::test]
async fn keepalive_ends_a_peer_that_never_answers_and_keeps_one_that_does() {
    let server = Serve::start(&["--ping-interval", "300ms", "--ping-timeout", "700ms"]).await;
    let mut live = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();

    // The live client answers pings as long as it is polled: it waits for a message
    // meanwhile, and gets none (several ping timeouts pass).
    let dead = async {
        let mut dead = TcpStream::connect(server.addr).await.unwrap();
        dead.write_all(UPGRADE.as_bytes()).await.unwrap();
        let head = read_head(&mut dead).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        // A ping first, then (unanswered) a close 1011 and the end of the connection.
        let (opcode, _) = read_frame(&mut dead).await.expect("a ping");
        assert_eq!(opcode, 0x9);
        let mut frames = Vec::new();
        while let Some(frame) = read_frame(&mut dead).await {
            frames.push(frame);
        }
        frames
    };
    let live_pings = async {
        loop {
            match live.next().await {
                Some(Ok(Message::Ping(_))) => {}
                other => break other,
            }
        }
    };
    let (frames, quiet) =
        tokio::join!(timeout(T, dead), timeout(Duration::from_secs(4), live_pings));
    let frames = frames.expect("the server hangs up on the peer that does not answer");
    let close = frames.iter().find(|(op, _)| *op == 0x8).expect("a close frame");
    assert_eq!(close.1[..2], 1011u16.to_be_bytes(), "{frames:?}");
    assert!(quiet.is_err(), "the live client was closed: {quiet:?}");
    timeout(T, live.send(Message::text("alive"))).await.unwrap().unwrap();
    assert_eq!(timeout(T, live.next()).await.unwrap().unwrap().unwrap(), Message::text("alive"));
}

/// Issue 11: an unfinished fragmented message was held forever by a client that pings now and
/// then, because the idle timeout restarted on any frame. Now only whole messages count.
#[tokio::test]
async fn an_unfinished_fragmented_message_idles_out_even_while_the_client_pings() {
    let server = Serve::start(&["--idle-timeout", "1s", "--ping-interval", "off"]).await;
    let mut ws = timeout(T, common::connect(&server.ws_url)).await.unwrap().unwrap();
    timeout(T, ws.send_frame(OpCode::Text, b"the start of ", false)).await.unwrap().unwrap();
    let ended = timeout(T, async {
        loop {
            ws.send(Message::Ping(Default::default())).await.ok();
            match timeout(Duration::from_millis(200), ws.next()).await {
                Ok(Some(Ok(Message::Pong(_)))) | Err(_) => {}
                Ok(None) => break,
                Ok(other) => panic!("{other:?}"),
            }
        }
    });
    ended.await.expect("the server ends a connection whose message never completes");
    assert_eq!(ws.close_code(), Some(CloseCode::NORMAL));
    assert_eq!(ws.close_reason().as_deref(), Some("idle timeout"));
}

/// Issue 11: a connection whose echo waits for a client that does not read ignored SIGTERM
/// until the grace period ended. Now it queues its close 1001 at once: a client that reads
/// again gets it, and one that never does is dropped when the close times out, so the server
/// exits well before this test's 60 s grace period.
#[tokio::test]
async fn sigterm_closes_connections_blocked_on_clients_that_do_not_read() {
    let args = ["--grace-period", "60s", "--write-buffer", "65536", "--idle-timeout", "10m"];
    let mut server = Serve::start(&args).await;
    let never_reads = blocked_client(&server).await;
    let mut reads_later = blocked_client(&server).await;

    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Read everything the server sent: echoes, then the close frame.
    let close = timeout(T, async {
        loop {
            match read_frame(&mut reads_later).await {
                Some((0x8, payload)) => break payload,
                Some(_) => {}
                None => panic!("the connection ended without a close frame"),
            }
        }
    })
    .await
    .expect("a close frame after the echoes");
    assert_eq!(close[..2], 1001u16.to_be_bytes());

    let status = timeout(T, server.child.wait()).await.expect("exit well within the grace period");
    assert!(status.unwrap().success());
    drop(never_reads);
}

/// A connection that sends echo requests and never reads, until its writes block: the server's
/// write buffer and both socket buffers are full.
async fn blocked_client(server: &Serve) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(UPGRADE.as_bytes()).await.unwrap();
    let head = timeout(T, read_head(&mut tcp)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // Masked binary frames of 64 KiB with an all-zero mask key (the payload goes as is).
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(64u64 << 10).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + (64 << 10), 0x61);
    let mut sent = 0usize;
    while timeout(Duration::from_secs(2), tcp.write_all(&frame)).await.is_ok() {
        sent += 1;
        assert!(sent < 4096, "256 MiB sent and the server still reads");
    }
    tcp
}

/// Reads an HTTP response head (up to the blank line) byte by byte.
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tcp.read_u8().await.expect("the server closed during the handshake");
        head.push(byte);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads one unmasked server frame: its opcode and payload; `None` at the end of the stream.
async fn read_frame(tcp: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await.ok()?;
    let len = match head[1] & 0x7f {
        126 => u64::from(tcp.read_u16().await.ok()?),
        127 => tcp.read_u64().await.ok()?,
        n => u64::from(n),
    };
    let mut payload = vec![0; usize::try_from(len).unwrap()];
    tcp.read_exact(&mut payload).await.ok()?;
    Some((head[0] & 0x0f, payload))
}
