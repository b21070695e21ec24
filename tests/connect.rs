//! `wschannel connect` end to end: pipe mode against `wschannel serve` and Python
//! `websockets`, interactive mode through a pseudo-terminal, and the exit code of each stage
//! that can fail.

#[allow(dead_code)] // each test binary uses part of the helpers
mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::time::timeout;

use common::{peer_python, repo_root, text, Serve};

const T: Duration = Duration::from_secs(30);

/// Starts `wschannel connect ARGS` with piped stdio and no proxy variables.
fn spawn_connect(args: &[&str]) -> (tokio::process::Child, tokio::process::ChildStdin) {
    common::spawn_connect(args, &[])
}

/// Runs `wschannel connect ARGS` with `stdin` and waits (bounded) for it to exit.
async fn connect(args: &[&str], stdin: &[u8]) -> Output {
    common::run_connect(args, &[], stdin).await
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    common::assert_exit(out, code, "");
}

/// A Python `websockets` echo server (tests/peers/py_server.py) and its output lines.
struct PyServer {
    _child: Child,
    url: String,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl PyServer {
    async fn start() -> PyServer {
        let mut child = Command::new(peer_python())
            .arg(repo_root().join("tests/peers/py_server.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start py_server.py");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = timeout(T, lines.next_line()).await.expect("PORT in time").unwrap().unwrap();
        let port = first.strip_prefix("PORT ").unwrap_or_else(|| panic!("not a port: {first}"));
        PyServer { _child: child, url: format!("ws://127.0.0.1:{port}/"), lines }
    }

    /// The next `CLOSED code reason` line.
    async fn closed(&mut self) -> String {
        loop {
            let line = timeout(T, self.lines.next_line())
                .await
                .expect("CLOSED line in time")
                .unwrap()
                .expect("server still running");
            if line.starts_with("CLOSED") {
                return line;
            }
        }
    }
}

#[tokio::test]
async fn pipe_text_lines_echo_and_end_of_stdin_closes_with_1000() {
    let server = Serve::start(&[]).await;
    let out = connect(&[&server.ws_url], b"hello\nworld\n\nlast line without newline").await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "hello\nworld\n\nlast line without newline\n");
    // The server counts a close code when the connection is over; poll it, bounded.
    let seen = timeout(T, async {
        loop {
            if server
                .http_get("/metrics")
                .await
                .1
                .contains("wschannel_close_codes_total{code=\"1000\"} 1")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "no close 1000 in:\n{}", server.http_get("/metrics").await.1);
}

/// Issue 8: `connect --deflate` against `serve --deflate`: long lines go compressed both ways.
#[tokio::test]
async fn pipe_with_deflate_compresses_both_ways() {
    let server = Serve::start(&["--deflate"]).await;
    let line = "a long line that compresses well, ".repeat(60);
    let input = format!("short\n{line}\n{line}\n");
    let out =
        connect(&["--deflate", "--deflate-level", "1", &server.ws_url], input.as_bytes()).await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), input);
    let seen = timeout(T, async {
        loop {
            let m = server.http_get("/metrics").await.1;
            if m.contains("wschannel_deflate_connections_total 1") {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server counts the compressed connection");
    // The two long lines (over the 256-byte threshold) were compressed each way; "short" not.
    assert!(seen.contains("wschannel_compressed_messages_total{direction=\"in\"} 2"), "{seen}");
    assert!(seen.contains("wschannel_compressed_messages_total{direction=\"out\"} 2"), "{seen}");
}

#[tokio::test]
async fn pipe_binary_raw_and_base64() {
    let server = Serve::start(&[]).await;
    let out = connect(&["--binary", &server.ws_url], b"raw \xff bytes\n").await;
    assert_exit(&out, 0);
    assert_eq!(out.stdout, b"raw \xff bytes\n");

    // "aGk=" is "hi"; "/w==" is 0xff.
    let out = connect(&["--binary", "--base64", &server.ws_url], b"aGk=\n/w==\n").await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "aGk=\n/w==\n");

    let out = connect(&["--binary", "--base64", &server.ws_url], b"not base64!\n").await;
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("not base64"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn pipe_text_that_is_not_utf8_says_use_binary() {
    let server = Serve::start(&[]).await;
    let out = connect(&[&server.ws_url], b"\xff\xfe\n").await;
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("--binary"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn one_message_sends_stdin_prints_one_reply_and_exits() {
    let server = Serve::start(&["--greeting", "welcome"]).await;
    let out = connect(&["-1", &server.ws_url], b"{\"a\": 1,\n \"b\": 2}\n").await;
    assert_exit(&out, 0);
    // The greeting is the first message that arrives.
    assert_eq!(text(&out.stdout), "welcome\n");

    let server = Serve::start(&[]).await;
    let out = connect(&["--one-message", &server.ws_url], b"{\"a\": 1,\n \"b\": 2}\n").await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "{\"a\": 1,\n \"b\": 2}\n");
}

#[tokio::test]
async fn pipe_against_python_websockets() {
    let mut py = PyServer::start().await;
    let out = connect(&["--subprotocol", "chat", &py.url], b"protocol?\nhello\n").await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "chat\nhello\n");
    assert_eq!(py.closed().await.trim_end(), "CLOSED 1000");

    let out = connect(&["--subprotocol", "chat", "--binary", "--base64", &py.url], b"AAEC\n").await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "AAEC\n");
    assert_eq!(py.closed().await.trim_end(), "CLOSED 1000");

    let out = connect(&["--subprotocol", "chat", "-1", &py.url], b"once\n").await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "once\n");
    assert_eq!(py.closed().await.trim_end(), "CLOSED 1000");
}

#[tokio::test]
async fn server_close_ends_the_pipe_with_its_code_shown() {
    let mut py = PyServer::start().await;
    // stdin stays open: the server's close alone must end the run.
    let (child, mut stdin) = spawn_connect(&["--subprotocol", "chat", &py.url]);
    stdin.write_all(b"close-me 4001 server says bye\n").await.unwrap();
    let out = timeout(T, child.wait_with_output()).await.unwrap().unwrap();
    drop(stdin);
    assert_exit(&out, 0);
    assert!(text(&out.stderr).contains("4001 \"server says bye\""), "{}", text(&out.stderr));
    assert_eq!(py.closed().await, "CLOSED 4001 server says bye");
}

#[tokio::test]
async fn broken_stdout_pipe_exits_0() {
    let server = Serve::start(&[]).await;
    let (mut child, mut stdin) = spawn_connect(&[&server.ws_url]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"first\n").await.unwrap();
    let mut line = String::new();
    timeout(T, stdout.read_line(&mut line)).await.unwrap().unwrap();
    assert_eq!(line, "first\n");
    // Close stdout as `| head -1` does, and keep sending until the next write to it fails.
    drop(stdout);
    let feed = tokio::spawn(async move {
        for _ in 0..1000 {
            if stdin.write_all(b"more\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stdin
    });
    let status = timeout(T, child.wait()).await.expect("exits after stdout closed").unwrap();
    feed.abort();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn refused_connection_exits_4() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let out = connect(&[&format!("ws://{addr}/")], b"").await;
    assert_exit(&out, 4);
    let err = text(&out.stderr);
    assert!(err.contains("connection refused") && err.contains("wschannel serve"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[tokio::test]
async fn unknown_host_exits_3() {
    let out = connect(&["ws://nonexistent.invalid/"], b"").await;
    assert_exit(&out, 3);
    assert!(text(&out.stderr).contains("nonexistent.invalid"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn bad_url_exits_2() {
    let out = connect(&["http://127.0.0.1:1/"], b"").await;
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("use ws://"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn http_404_exits_6_with_status_and_body() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let body = "no such chat room: /nowhere\n";
        let response = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(response.as_bytes()).await.unwrap();
        let _ = tcp.shutdown().await;
    });
    let out = connect(&[&format!("ws://{addr}/nowhere")], b"").await;
    assert_exit(&out, 6);
    let err = text(&out.stderr);
    assert!(err.contains("HTTP 404 Not Found") && err.contains("check the URL path"), "{err}");
    assert!(err.contains("no such chat room: /nowhere"), "{err}");
}

#[tokio::test]
async fn tls_self_signed_exits_5_without_trust_and_works_with_insecure() {
    let server = Serve::start(&["--tls-self-signed"]).await;
    assert!(server.ws_url.starts_with("wss://"), "{}", server.ws_url);
    let out = connect(&[&server.ws_url], b"hi\n").await;
    assert_exit(&out, 5);
    let err = text(&out.stderr);
    assert!(err.contains("--ca-cert") && err.contains("--insecure"), "{err}");

    let out = connect(&["--insecure", &server.ws_url], b"hi\n").await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "hi\n");
}

#[tokio::test]
async fn dropped_connection_exits_8() {
    // A server that accepts the upgrade and then drops TCP without a close frame.
    let script = r#"
import asyncio
from websockets.asyncio.server import serve

async def handler(ws):
    await ws.recv()
    ws.transport.abort()

async def main():
    async with serve(handler, "127.0.0.1", 0) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()

asyncio.run(main())
"#;
    let mut child = Command::new(peer_python())
        .args(["-c", script])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = timeout(T, lines.next_line()).await.unwrap().unwrap().unwrap();
    let port = first.strip_prefix("PORT ").unwrap().to_owned();
    let (cli, mut stdin) = spawn_connect(&[&format!("ws://127.0.0.1:{port}/")]);
    stdin.write_all(b"hello\n").await.unwrap();
    let out = timeout(T, cli.wait_with_output()).await.unwrap().unwrap();
    drop(stdin);
    assert_exit(&out, 8);
    assert!(text(&out.stderr).contains("1006"), "{}", text(&out.stderr));
}

/// `wschannel connect --subprotocol chat URL` on a pseudo-terminal, every expect bounded by `T`.
fn pty_session(url: &str) -> expectrl::session::OsSession {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wschannel"));
    cmd.args(["connect", "--subprotocol", "chat", url]).env("TERM", "xterm");
    for name in common::proxy_variables() {
        cmd.env_remove(name);
    }
    let mut p = expectrl::Session::spawn(cmd).expect("spawn on a pty");
    p.set_expect_timeout(Some(T));
    p
}

/// Through a pseudo-terminal: the prompt, an echo, `/ping`, and `/close 4000 bye` as the
/// server sees it.
#[tokio::test(flavor = "multi_thread")]
async fn interactive_prompt_echo_ping_and_close() {
    use expectrl::{Eof, Expect};

    let mut py = PyServer::start().await;
    let url = py.url.clone();
    let session = tokio::task::spawn_blocking(move || {
        let mut p = pty_session(&url);
        match p.expect("/help for commands") {
            Ok(_) => {}
            Err(e) => {
                let rest = p.expect(Eof).map(|c| String::from_utf8_lossy(c.before()).into_owned());
                panic!("no banner ({e}); the terminal showed: {rest:?}");
            }
        }
        p.expect("> ").expect("prompt");
        p.send_line("hello from a terminal").unwrap();
        p.expect("< hello from a terminal").expect("echo");
        p.send_line("/ping abc").unwrap();
        p.expect(expectrl::Regex(r#"pong "abc" in [0-9.]+ m?s"#)).expect("round-trip time");
        p.send_line("/close 4000 bye").unwrap();
        p.expect("closed by us: 4000 \"bye\"").expect("close shown");
        p.expect(Eof).expect("exits");
        p.get_process().wait().expect("exit status")
    });
    let status = timeout(T * 2, session).await.expect("session in time").unwrap();
    assert!(matches!(status, expectrl::process::unix::WaitStatus::Exited(_, 0)), "{status:?}");
    assert_eq!(py.closed().await, "CLOSED 4000 bye");
}

/// The server closes while the prompt waits: the close is shown, no prompt is left after it
/// (issue 10: a stray `>` stood on the last line) and the process exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn interactive_server_close_is_shown_without_a_stray_prompt() {
    use expectrl::Expect;

    let mut py = PyServer::start().await;
    let url = py.url.clone();
    let session = tokio::task::spawn_blocking(move || {
        let mut p = pty_session(&url);
        p.expect("> ").expect("prompt");
        p.send_line("close-me 4001 later").unwrap();
        p.expect("closed by the server: 4001 \"later\"").expect("close shown");
        // Everything the terminal shows after the close line, up to the end of the session
        // (read by hand: `expect(Eof)` drops what arrives together with the end).
        let mut rest = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut p, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
        let rest = String::from_utf8_lossy(&rest).into_owned();
        (p.get_process().wait().expect("exit status"), rest)
    });
    let (status, rest) = timeout(T * 2, session).await.expect("session in time").unwrap();
    // The ending is written over the prompt's line, and nothing but the line end follows it.
    assert_eq!(rest.trim(), "", "the terminal showed after the close: {rest:?}");
    assert!(matches!(status, expectrl::process::unix::WaitStatus::Exited(_, 0)), "{status:?}");
    assert_eq!(py.closed().await, "CLOSED 4001 later");
}

/// Issue 11: a rejection body went to the terminal as is, escape sequences and all. Now its
/// control characters are shown escaped in the error message.
#[tokio::test]
async fn control_characters_in_a_rejection_body_are_shown_escaped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let body = "\x1b[2J\x1b]52;c;aGk=\x07gone\n";
        let response = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(response.as_bytes()).await.unwrap();
        let _ = tcp.shutdown().await;
    });
    let out = connect(&[&format!("ws://{addr}/")], b"").await;
    assert_exit(&out, 6);
    let err = text(&out.stderr);
    assert!(!out.stderr.contains(&0x1b) && !out.stderr.contains(&0x07), "{err:?}");
    assert!(err.contains(r"\x1b[2J\x1b]52;c;aGk=\x07gone"), "{err}");
}

/// Issue 11: control characters in server text are escaped on a terminal, and passed through
/// byte for byte in pipe mode.
#[tokio::test(flavor = "multi_thread")]
async fn server_text_is_escaped_on_a_terminal_and_byte_exact_in_a_pipe() {
    use expectrl::Expect;

    let greeting = "\x1b]52;c;aGk=\x07hi";
    let server = Serve::start(&["--greeting", greeting, "--subprotocol", "chat"]).await;
    let out = connect(&["--linger", "0", &server.ws_url], b"").await;
    assert_exit(&out, 0);
    assert_eq!(out.stdout, format!("{greeting}\n").into_bytes());

    let url = server.ws_url.clone();
    let shown = tokio::task::spawn_blocking(move || {
        let mut p = pty_session(&url);
        let seen = p.expect("hi").expect("the greeting");
        let before = seen.before().to_vec();
        p.send_line("/quit").unwrap();
        before
    });
    let before = timeout(T * 2, shown).await.expect("session in time").unwrap();
    let before = String::from_utf8_lossy(&before).into_owned();
    assert!(before.contains(r"< \x1b]52;c;aGk=\x07"), "{before:?}");
    assert!(!before.contains("\x1b]52"), "{before:?}");
}
