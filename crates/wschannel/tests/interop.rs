//! Interop with real peers that no one here wrote: Python `websockets` and Node `ws`, each as
//! server (our client connects) and as client (our server accepts), over `ws://` and `wss://`.
//!
//! The peers are the scripts in `tests/peers/`; their docstrings give the dialogue. `scripts/test`
//! installs them and sets `WSCHANNEL_PEER_PYTHON` and `WSCHANNEL_PEER_NODE_MODULES`; without
//! those these tests fail and say so (they never skip).

mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{peer_python, peers_dir};
use futures_util::{SinkExt, StreamExt};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use wschannel::tls::{server_config, TlsAcceptor};
use wschannel::{
    accept_with, Channel, ClientBuilder, CloseCode, Config, ControlPayload, DeflateConfig,
    ExtensionStats, Initiator, Message, OpCode,
};

/// The bound on every step; generous because the first run of a peer may be slow.
const T: Duration = Duration::from_secs(30);

/// The subprotocols our client offers, in order; both peer servers prefer "chat".
const CLIENT_PROTOCOLS: [&str; 2] = ["superchat", "chat"];

/// Our server's preference: the first of these that the client offered.
const SERVER_PROTOCOLS: [&str; 2] = ["chat", "superchat"];

// ---- the matrix ------------------------------------------------------------------------------

#[tokio::test]
async fn our_client_python_server() {
    our_client_dialogue(Peer::Python, None, false).await;
}

#[tokio::test]
async fn our_client_node_server() {
    our_client_dialogue(Peer::Node, None, false).await;
}

#[tokio::test]
async fn python_client_our_server() {
    their_client_dialogue(Peer::Python, None, false).await;
}

#[tokio::test]
async fn node_client_our_server() {
    their_client_dialogue(Peer::Node, None, false).await;
}

#[tokio::test]
async fn our_client_python_server_wss() {
    our_client_dialogue(Peer::Python, Some(&TestCert::new()), false).await;
}

#[tokio::test]
async fn our_client_node_server_wss() {
    our_client_dialogue(Peer::Node, Some(&TestCert::new()), false).await;
}

#[tokio::test]
async fn python_client_our_server_wss() {
    their_client_dialogue(Peer::Python, Some(&TestCert::new()), false).await;
}

#[tokio::test]
async fn node_client_our_server_wss() {
    their_client_dialogue(Peer::Node, Some(&TestCert::new()), false).await;
}

// Issue 8: the same dialogues with permessage-deflate on both sides (Python `websockets` with
// its default compression, Node `ws` with `perMessageDeflate: true`).

#[tokio::test]
async fn our_client_python_server_deflate() {
    our_client_dialogue(Peer::Python, None, true).await;
}

#[tokio::test]
async fn our_client_node_server_deflate() {
    our_client_dialogue(Peer::Node, None, true).await;
}

#[tokio::test]
async fn python_client_our_server_deflate() {
    their_client_dialogue(Peer::Python, None, true).await;
}

#[tokio::test]
async fn node_client_our_server_deflate() {
    their_client_dialogue(Peer::Node, None, true).await;
}

#[tokio::test]
async fn node_client_our_server_deflate_wss() {
    their_client_dialogue(Peer::Node, Some(&TestCert::new()), true).await;
}

// ---- our client, their server ----------------------------------------------------------------

/// Starts `peer`'s echo server (TLS with `tls`), runs the whole dialogue over one connection,
/// closes with 4001, then has the server close a second connection with 4003. With `deflate`
/// both ends use permessage-deflate, and messages over 1 KiB go compressed both ways.
async fn our_client_dialogue(peer: Peer, tls: Option<&TestCert>, deflate: bool) {
    let mut server = PeerServer::start(peer, tls, deflate).await;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let url = format!("{scheme}://127.0.0.1:{}/", server.port);
    let mut builder = ClientBuilder::new().no_proxy().config(config(deflate));
    for p in CLIENT_PROTOCOLS {
        builder = builder.protocol(p);
    }
    if let Some(cert) = tls {
        builder = builder.root_certificates_pem(cert.cert_pem.as_bytes()).unwrap();
    }

    let mut ws = within("connect", builder.connect(&url)).await.unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    assert_eq!(ws.extension(), deflate.then_some("permessage-deflate"));
    for msg in echo_messages() {
        send(&mut ws, msg.clone()).await;
        assert_eq!(recv(&mut ws).await, msg);
    }
    if deflate {
        // What went over our threshold went compressed; what they compressed (both compress
        // the 3 KiB text and the 1 MiB binary) we inflated.
        let stats = ws.extension_stats().unwrap();
        assert!(stats.messages_out >= 3 && stats.messages_in >= 2, "{stats:?}");
        assert!(stats.wire_bytes_in < stats.bytes_in / 4, "{stats:?}");
        assert!(stats.wire_bytes_out < stats.bytes_out / 4, "{stats:?}");
    }

    // We fragment; they reassemble and echo one message.
    within("send fragments", async {
        ws.send_frame(OpCode::Text, b"frag", false).await?;
        ws.send_frame(OpCode::Continuation, b"men", false).await?;
        ws.send_frame(OpCode::Continuation, b"ted", true).await
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut ws).await, Message::text("fragmented"));

    // They fragment; we reassemble.
    send(&mut ws, Message::text("fragments")).await;
    assert_eq!(recv(&mut ws).await, Message::text("fragmented"));

    // Their ping reaches us, and our automatic pong reaches them.
    send(&mut ws, Message::text("ping-me")).await;
    assert_eq!(recv(&mut ws).await, Message::Ping(control(b"pp")));
    assert_eq!(recv(&mut ws).await, Message::text("pong-ok"));

    // Our ping is answered.
    within("ping", ws.ping(control(b"hi"))).await.unwrap();
    assert_eq!(recv(&mut ws).await, Message::Pong(control(b"hi")));

    send(&mut ws, Message::text("protocol?")).await;
    assert_eq!(recv(&mut ws).await, Message::text("chat"));

    within("close", ws.close(code(4001), "bye")).await.unwrap();
    assert_eq!(ws.close_code(), Some(code(4001)));
    assert_eq!(ws.close_initiator(), Some(Initiator::Local));
    server.expect_line("CLOSED 4001 bye").await;

    // A second connection, which the server closes.
    let mut ws = within("connect again", builder.connect(&url)).await.unwrap();
    send(&mut ws, Message::text("close-me 4003 server bye")).await;
    let end = within("the stream to end", ws.next()).await;
    assert!(end.is_none(), "expected the stream to end, got {end:?}");
    assert_eq!(ws.close_code(), Some(code(4003)));
    assert_eq!(ws.close_reason().as_deref(), Some("server bye"));
    assert_eq!(ws.close_initiator(), Some(Initiator::Remote));
    // Our close echo carries the code (and the reason) back to them.
    server.expect_line("CLOSED 4003 server bye").await;
}

// ---- their client, our server ----------------------------------------------------------------

/// Runs `peer`'s client dialogue against one connection of our echo server (TLS with `tls`).
/// Both peers' clients offer permessage-deflate; our server takes it with `deflate`.
async fn their_client_dialogue(peer: Peer, tls: Option<&TestCert>, deflate: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tls.map(|c| {
        TlsAcceptor::from(server_config(c.cert_pem.as_bytes(), c.key_pem.as_bytes()).unwrap())
    });
    // The task's result is the close code and reason our side saw; a panic in it (a failed
    // accept, an error on the stream) reaches the test through the join.
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        match acceptor {
            Some(acceptor) => echo_server(acceptor.accept(tcp).await.unwrap(), deflate).await,
            None => echo_server(tcp, deflate).await,
        }
    });

    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let mut client = peer.command(Side::Client);
    client.cmd.arg(format!("{scheme}://127.0.0.1:{port}/"));
    if let Some(cert) = tls {
        client.cmd.arg(&cert.cert_path);
    }
    let out = within("the peer client", client.cmd.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|e| panic!("could not run the {peer:?} client: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{peer:?} client {}:\n{stdout}\n{stderr}", out.status);
    for line in [
        "PROTOCOL chat",
        "OK text",
        "OK binary",
        "OK empty-text",
        "OK empty-binary",
        "OK 1MiB",
        "OK fragmented",
        "OK ping",
        "CLOSE 4002 client bye",
        if deflate { "EXTENSIONS permessage-deflate" } else { "EXTENSIONS none" },
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in:\n{stdout}\n{stderr}");
    }

    let (close_code, close_reason, stats) = within("our server", server).await.unwrap();
    assert_eq!(close_code, Some(code(4002)));
    assert_eq!(close_reason.as_deref(), Some("client bye"));
    match stats {
        // Their 1 MiB message came compressed and went back compressed.
        Some(s) => {
            assert!(deflate);
            assert!(s.messages_in >= 1 && s.messages_out >= 1, "{s:?}");
            assert!(s.bytes_in >= 1 << 20 && s.wire_bytes_in < s.bytes_in / 4, "{s:?}");
            assert!(s.bytes_out >= 1 << 20 && s.wire_bytes_out < s.bytes_out / 4, "{s:?}");
        }
        None => assert!(!deflate, "our server did not negotiate permessage-deflate"),
    }
}

/// Accepts one connection, choosing the first of [`SERVER_PROTOCOLS`] the client offered, and
/// echoes data messages until the stream ends; returns the close code and reason, and what the
/// extension compressed.
async fn echo_server<IO>(
    io: IO,
    deflate: bool,
) -> (Option<CloseCode>, Option<String>, Option<ExtensionStats>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut ws = accept_with(io, config(deflate), |req| {
        let offered = req.protocols();
        Ok(SERVER_PROTOCOLS.iter().find(|p| offered.iter().any(|o| o == *p)).map(|p| p.to_string()))
    })
    .await
    .unwrap();
    while let Some(msg) = ws.next().await {
        match msg.unwrap() {
            msg @ (Message::Text(_) | Message::Binary(_)) => ws.send(msg).await.unwrap(),
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
        }
    }
    (ws.close_code(), ws.close_reason().map(|r| r.to_string()), ws.extension_stats())
}

// ---- the dialogue's pieces -------------------------------------------------------------------

/// Limits that fit the 1 MiB message with room to spare; the peers allow 16 MiB too.
fn config(deflate: bool) -> Config {
    Config::default()
        .max_frame_size(16 << 20)
        .max_message_size(16 << 20)
        .deflate(deflate.then(DeflateConfig::default))
}

/// The messages the dialogue echoes, as py_client.py and node_client.mjs send them.
fn echo_messages() -> Vec<Message> {
    vec![
        Message::text("héllo wörld ✓ 日本"),
        Message::binary((0..=255u8).collect::<Vec<u8>>()),
        Message::text(""),
        Message::binary(Vec::new()),
        Message::binary((0..1u32 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>()),
        // Above Node's 1 KiB compression threshold.
        Message::text("a line of text that compresses well; ".repeat(80)),
    ]
}

fn control(payload: &'static [u8]) -> ControlPayload {
    ControlPayload::try_from_bytes(payload).unwrap()
}

fn code(code: u16) -> CloseCode {
    CloseCode::new(code).unwrap()
}

async fn send(ws: &mut Channel, msg: Message) {
    let what = format!("send {msg:?}");
    within(&what, ws.send(msg)).await.unwrap();
}

/// The next message; panics when the stream fails or ends.
async fn recv(ws: &mut Channel) -> Message {
    match within("a message", ws.next()).await {
        Some(Ok(msg)) => msg,
        Some(Err(e)) => panic!("expected a message, got the error {e}"),
        None => panic!(
            "expected a message, the stream ended with {:?} {:?}",
            ws.close_code(),
            ws.close_reason()
        ),
    }
}

/// Bounds `f` by [`T`]; a hang fails the test and says which step hung.
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(T, f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {T:?} waiting for {what}"),
    }
}

// ---- the peers -------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Peer {
    Python,
    Node,
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Server,
    Client,
}

/// A command that runs a peer script, and the directory the script was staged in (if it was)
/// which must outlive the command.
struct PeerCommand {
    cmd: Command,
    _staging: Option<TempDir>,
}

impl Peer {
    /// The command for this peer's server or client script, without its arguments.
    fn command(self, side: Side) -> PeerCommand {
        let side = match side {
            Side::Server => "server",
            Side::Client => "client",
        };
        let mut peer = match self {
            Peer::Python => {
                let mut cmd = Command::new(peer_python());
                cmd.arg(peers_dir().join(format!("py_{side}.py")));
                PeerCommand { cmd, _staging: None }
            }
            Peer::Node => {
                let (script, staging) = node_script(&format!("node_{side}.mjs"));
                let mut cmd = Command::new("node");
                cmd.arg(script);
                PeerCommand { cmd, _staging: staging }
            }
        };
        // Python `websockets` connects through the environment's proxy (as this crate does):
        // a developer's proxy settings must not reach the peers.
        for name in proxy_variables() {
            peer.cmd.env_remove(name);
        }
        peer
    }
}

/// A peer echo server, killed on drop.
struct PeerServer {
    child: Child,
    port: u16,
    /// The lines it printed after `PORT n`.
    stdout: mpsc::UnboundedReceiver<String>,
    _staging: Option<TempDir>,
}

impl PeerServer {
    /// Starts `peer`'s server (with TLS when `tls` is given) and reads its `PORT n` line.
    /// Python `websockets` always accepts permessage-deflate; Node `ws` with `deflate`.
    async fn start(peer: Peer, tls: Option<&TestCert>, deflate: bool) -> PeerServer {
        let PeerCommand { mut cmd, _staging } = peer.command(Side::Server);
        if deflate {
            cmd.env("WS_DEFLATE", "1");
        }
        if let Some(cert) = tls {
            cmd.arg(&cert.cert_path).arg(&cert.key_path);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start the {peer:?} server: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = within("the PORT line", lines.next_line())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the {peer:?} server exited before printing PORT"));
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("expected `PORT n` from the {peer:?} server, got {first:?}"));
        // Keep draining stdout so the server never blocks on a full pipe.
        let (tx, stdout) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PeerServer { child, port, stdout, _staging }
    }

    /// Waits until the server prints `want` as a whole line.
    async fn expect_line(&mut self, want: &str) {
        let stdout = &mut self.stdout;
        let mut seen = Vec::new();
        within(want, async {
            while let Some(line) = stdout.recv().await {
                if line == want {
                    return;
                }
                seen.push(line);
            }
            panic!("the server exited without printing {want:?}; it printed {seen:?}");
        })
        .await;
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        // `kill_on_drop` would do it too; be explicit, the child never outlives its test.
        let _ = self.child.start_kill();
    }
}

/// The path to run for a Node peer script. Node resolves `import 'ws'` from the script's own
/// directory (ES modules ignore NODE_PATH), so when `WSCHANNEL_PEER_NODE_MODULES` is not
/// `tests/peers/node_modules` the script is copied into a temporary directory beside a link
/// to it.
fn node_script(name: &str) -> (PathBuf, Option<TempDir>) {
    let modules = match std::env::var_os("WSCHANNEL_PEER_NODE_MODULES") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "WSCHANNEL_PEER_NODE_MODULES is not set: run the interop tests with scripts/test, \
             which installs Node ws and sets it"
        ),
    };
    assert!(
        modules.join("ws").is_dir(),
        "{} has no `ws`: run scripts/test, which runs `npm ci` in tests/peers",
        modules.display()
    );
    let script = peers_dir().join(name);
    let beside = peers_dir().join("node_modules");
    if beside.canonicalize().ok() == modules.canonicalize().ok() {
        return (script, None);
    }
    let staging = tempfile::tempdir().unwrap();
    std::fs::copy(&script, staging.path().join(name)).unwrap();
    link_dir(&modules, &staging.path().join("node_modules"));
    (staging.path().join(name), Some(staging))
}

#[cfg(unix)]
fn link_dir(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[cfg(windows)]
fn link_dir(target: &Path, link: &Path) {
    std::os::windows::fs::symlink_dir(target, link).unwrap();
}

/// A fresh self-signed certificate for 127.0.0.1 and localhost, as PEM in memory and on disk.
struct TestCert {
    cert_pem: String,
    key_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
    _dir: TempDir,
}

impl TestCert {
    fn new() -> TestCert {
        let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let (cert_pem, key_pem) = (cert.pem(), key_pair.serialize_pem());
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        TestCert { cert_pem, key_pem, cert_path, key_path, _dir: dir }
    }
}

/// The names of the proxy variables set in this environment (`http_proxy`, `NO_PROXY`, ...:
/// every name ending in `_proxy`, any case).
fn proxy_variables() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().to_ascii_lowercase().ends_with("_proxy"))
        .collect()
}
