//! `bench-server IMPL ADDR`: one WebSocket echo server per library, for the head-to-head
//! benchmark.
//!
//! Every server runs on a tokio `current_thread` runtime (one core: the server is the
//! bottleneck), spawns one task per connection, sets `TCP_NODELAY` on it, reassembles whole
//! messages, validates text as UTF-8 and echoes every data message with its opcode. Each one is
//! set up the way its library's documentation or examples recommend; see README.md.
//!
//! When it listens, it prints `LISTENING <addr>` on a line of its own on stdout.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest message every server accepts (all of them default to about this; the
/// benchmark's largest is 1 MiB).
const MAX_MESSAGE: usize = 64 << 20;

/// How many immediately ready messages a batching server queues before it flushes: the cap
/// yawc's own benchmark uses, applied to every server that batches by hand.
const MAX_BURST: usize = 32;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, Debug)]
enum Impl {
    Wschannel,
    Fastwebsockets,
    TokioWebsockets,
    Yawc,
    TokioTungstenite,
    Floor,
}

impl Impl {
    const ALL: [(&'static str, Impl); 6] = [
        ("wschannel", Impl::Wschannel),
        ("fastwebsockets", Impl::Fastwebsockets),
        ("tokio-websockets", Impl::TokioWebsockets),
        ("yawc", Impl::Yawc),
        ("tokio-tungstenite", Impl::TokioTungstenite),
        ("floor", Impl::Floor),
    ];

    fn parse(s: &str) -> Option<Impl> {
        Impl::ALL.iter().find(|(n, _)| *n == s).map(|(_, i)| *i)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = Impl::ALL.iter().map(|(n, _)| *n).collect();
    let usage = format!("usage: bench-server {{{}}} ADDR:PORT", names.join("|"));
    let (imp, addr) = match args.as_slice() {
        [i, a] => match (Impl::parse(i), a.parse::<SocketAddr>()) {
            (Some(i), Ok(a)) => (i, a),
            _ => {
                eprintln!("{usage}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(serve(imp, addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(imp: Impl, addr: SocketAddr) -> Result<(), BoxError> {
    let listener = TcpListener::bind(addr).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTENING {}", listener.local_addr()?)?;
        out.flush()?;
    }
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: say so, keep serving.
                eprintln!("bench-server: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        tcp.set_nodelay(true)?;
        match imp {
            Impl::Wschannel => spawn_logged("wschannel", wschannel_conn(tcp)),
            Impl::Fastwebsockets => spawn_logged("fastwebsockets", hyper_conn(tcp, false)),
            Impl::Yawc => spawn_logged("yawc", hyper_conn(tcp, true)),
            Impl::TokioWebsockets => spawn_logged(
                "tokio-websockets",
                tokio::task::unconstrained(tokio_websockets_conn(tcp)),
            ),
            Impl::TokioTungstenite => spawn_logged("tokio-tungstenite", tungstenite_conn(tcp)),
            Impl::Floor => spawn_logged("floor", tokio::task::unconstrained(floor_conn(tcp))),
        }
    }
}

/// Spawns a connection task; an error ends that connection only and is reported on stderr
/// (the load generator's own verdict is what fails a run).
fn spawn_logged<F>(name: &'static str, fut: F)
where
    F: std::future::Future<Output = Result<(), BoxError>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            eprintln!("bench-server {name}: connection ended: {e}");
        }
    });
}

// ---------------------------------------------------------------- wschannel

/// wschannel with its defaults: `feed` queues the echo without flushing; the channel writes
/// what is queued when its `next()` has to wait for the socket (one write per ready burst). No
/// `flush` is needed (with one message in flight a missing write would stall the run, and the
/// load generator fails on a stall).
async fn wschannel_conn(tcp: TcpStream) -> Result<(), BoxError> {
    let mut ws = wschannel::accept(tcp).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if msg.is_data() {
            ws.feed(msg).await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- fastwebsockets, yawc

/// fastwebsockets and yawc both recommend hyper for the server's HTTP upgrade: serve the
/// connection with hyper's HTTP/1 server, upgrade in the service, run the WebSocket in a task of
/// its own once hyper hands the connection over.
async fn hyper_conn(tcp: TcpStream, yawc: bool) -> Result<(), BoxError> {
    let service = hyper::service::service_fn(move |req| async move {
        let upgraded = if yawc { yawc_upgrade(req) } else { fastwebsockets_upgrade(req) };
        // A concrete error type: hyper's service bound does not accept a boxed one here.
        upgraded.map_err(|e| std::io::Error::other(e.to_string()))
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
        .with_upgrades()
        .await?;
    Ok(())
}

type UpgradeResponse = hyper::Response<http_body_util::Empty<bytes::Bytes>>;

/// fastwebsockets as in its `echo_server` example: `upgrade::upgrade`, a `FragmentCollector`
/// (whole messages, text validated as UTF-8), the defaults (auto pong and auto close on, 64 MiB
/// messages), `write_frame` per message (it writes to the socket at once: fastwebsockets has no
/// write buffer to batch in), the task unconstrained.
fn fastwebsockets_upgrade(
    mut req: hyper::Request<hyper::body::Incoming>,
) -> Result<UpgradeResponse, BoxError> {
    let (response, upgrade) = fastwebsockets::upgrade::upgrade(&mut req)?;
    spawn_logged(
        "fastwebsockets",
        tokio::task::unconstrained(async move {
            let mut ws = fastwebsockets::FragmentCollector::new(upgrade.await?);
            loop {
                let frame = ws.read_frame().await?;
                match frame.opcode {
                    fastwebsockets::OpCode::Close => return Ok(()),
                    fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => {
                        ws.write_frame(frame).await?
                    }
                    _ => {}
                }
            }
        }),
    );
    Ok(response)
}

/// yawc as its README's "tuned" benchmark configuration: compression off, UTF-8 validation on
/// (it is off by default), a 128 KiB read buffer, a 64 KiB write backpressure boundary, replies
/// queued with `feed` for up to 32 immediately ready messages, then one `flush`. The message
/// limit is raised from yawc's 1 MiB default (exclusive, so 1 MiB messages would be refused)
/// to 64 MiB like the others.
fn yawc_upgrade(
    mut req: hyper::Request<hyper::body::Incoming>,
) -> Result<UpgradeResponse, BoxError> {
    let options = yawc::Options::default()
        .without_compression()
        .with_utf8()
        .with_max_payload_read(MAX_MESSAGE + 1)
        .with_read_buffer_capacity(128 << 10)
        .with_backpressure_boundary(64 << 10);
    let (response, upgrade) = yawc::WebSocket::upgrade_with_options(&mut req, options)?;
    spawn_logged("yawc", async move {
        let mut ws = upgrade.await?;
        loop {
            let mut frame = ws.next_frame().await?;
            let mut n = 0;
            loop {
                match frame.opcode() {
                    yawc::OpCode::Text | yawc::OpCode::Binary => ws.feed(frame).await?,
                    yawc::OpCode::Close => {
                        ws.flush().await?;
                        return Ok(());
                    }
                    _ => {}
                }
                n += 1;
                if n == MAX_BURST {
                    break;
                }
                match ws.next_frame().now_or_never() {
                    Some(next) => frame = next?,
                    None => break,
                }
            }
            ws.flush().await?;
        }
    });
    Ok(response)
}

// ---------------------------------------------------------------- tokio-websockets

/// tokio-websockets as in its `echo_server` example (`ServerBuilder`, frame size unbounded so
/// a message goes out as one frame, the task unconstrained), with the default 64 MiB payload
/// limit, and replies batched: `feed` for each immediately ready message (its sink flushes by
/// itself past its 8 KiB flush threshold), one `flush` when the stream would wait.
async fn tokio_websockets_conn(tcp: TcpStream) -> Result<(), BoxError> {
    let (_request, mut ws) = tokio_websockets::ServerBuilder::new()
        .config(tokio_websockets::Config::default().frame_size(usize::MAX))
        .limits(tokio_websockets::Limits::default().max_payload_len(Some(MAX_MESSAGE)))
        .accept(tcp)
        .await?;
    while let Some(msg) = ws.next().await {
        let mut msg = msg?;
        let mut n = 0;
        loop {
            if msg.is_text() || msg.is_binary() {
                ws.feed(msg).await?;
            }
            n += 1;
            if n == MAX_BURST {
                break;
            }
            match ws.next().now_or_never() {
                Some(Some(next)) => msg = next?,
                Some(None) => return Ok(ws.flush().await?),
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- tokio-tungstenite

/// tokio-tungstenite: `accept_async` with the default `WebSocketConfig` (128 KiB read buffer,
/// 128 KiB write buffer target, 64 MiB messages, 16 MiB frames), replies batched as its docs
/// advise ("it is often more optimal to allow them to buffer a little"): `feed` for each
/// immediately ready message, one `flush` when the stream would wait.
async fn tungstenite_conn(tcp: TcpStream) -> Result<(), BoxError> {
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    while let Some(msg) = ws.next().await {
        let mut msg = msg?;
        let mut n = 0;
        loop {
            if msg.is_text() || msg.is_binary() {
                ws.feed(msg).await?;
            }
            n += 1;
            if n == MAX_BURST {
                break;
            }
            match ws.next().now_or_never() {
                Some(Some(next)) => msg = next?,
                Some(None) => return Ok(ws.flush().await?),
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- floor

/// Not a WebSocket library: the least a tokio echo server can do per message, as a reference
/// for what the kernel and the runtime cost on their own. It reads into one buffer, unmasks
/// each complete frame in place (wschannel-proto's `apply_mask`), checks text with `simdutf8`,
/// copies header and payload into one reused output buffer and writes it once per read. It
/// trusts its peer: no fragmentation, no control frames but close, no limits, no handshake
/// checks beyond finding the key. The benchmark's load generator is the only client it serves.
async fn floor_conn(mut tcp: TcpStream) -> Result<(), BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 128 << 10];
    let mut have = 0;
    let key = loop {
        let n = tcp.read(&mut buf[have..]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?;
            let key = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-key"))
                .map(|(_, v)| v.trim().to_owned())
                .ok_or("floor: no Sec-WebSocket-Key")?;
            buf.copy_within(end + 4..have, 0);
            have -= end + 4;
            break key;
        }
        if have == buf.len() {
            return Err("floor: request head too long".into());
        }
    };
    let accept = wschannel_proto::handshake::accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await?;
    let mut out: Vec<u8> = Vec::with_capacity(128 << 10);
    loop {
        let mut at = 0;
        while let Some((hlen, len)) = floor_frame(&buf[at..have]) {
            let op = buf[at] & 0x0f;
            if op == 0x8 {
                tcp.write_all(&[0x88, 0]).await?;
                return Ok(());
            }
            let key =
                [buf[at + hlen - 4], buf[at + hlen - 3], buf[at + hlen - 2], buf[at + hlen - 1]];
            let payload = &mut buf[at + hlen..at + hlen + len];
            wschannel_proto::mask::apply_mask(payload, key, 0);
            if op == 0x1 {
                simdutf8::basic::from_utf8(payload)?;
            }
            out.push(0x80 | op);
            match len {
                0..=125 => out.push(len as u8),
                126..=0xffff => {
                    out.push(126);
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    out.push(127);
                    out.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            out.extend_from_slice(payload);
            at += hlen + len;
        }
        if !out.is_empty() {
            tcp.write_all(&out).await?;
            out.clear();
        }
        buf.copy_within(at..have, 0);
        have -= at;
        if have == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = tcp.read(&mut buf[have..]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
    }
}

/// The header length (mask key included) and payload length of the masked frame at the start
/// of `b`, once all of it has arrived.
fn floor_frame(b: &[u8]) -> Option<(usize, usize)> {
    let (hlen, len) = match *b.get(1)? & 0x7f {
        126 => (8, u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize),
        127 => (14, u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize),
        l => (6, l as usize),
    };
    (b.len() >= hlen + len).then_some((hlen, len))
}
