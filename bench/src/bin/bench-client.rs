//! `bench-client IMPL ws://HOST:PORT/ [options]`: the client side of the benchmark.
//!
//! Each of `--conns` connections (default 1), one task each on a tokio `current_thread`
//! runtime, keeps `--inflight` messages of `--size` bytes outstanding against an echo server:
//! it sends them, and for every echo that comes back (checked byte for byte) sends the next.
//! After `--warmup` seconds it counts echoes for `--duration` seconds and reports, as one JSON
//! object on stdout, messages per second and this process's CPU time (all its threads'
//! `schedstat`) in that window: the client's cost per message.
//!
//! Each client is written the way its library recommends: wschannel queues with `feed` (its
//! driver task writes whatever is queued); tokio-tungstenite queues with `feed` and flushes when
//! the next echo is not ready yet; fastwebsockets writes each frame at once (no write buffer).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str =
    "usage: bench-client {wschannel|tokio-tungstenite|fastwebsockets} ws://HOST:PORT/
       [--conns N] [--inflight D] [--size BYTES] [--mode binary|text]
       [--warmup SECS] [--duration SECS]";

struct Args {
    imp: String,
    url: String,
    conns: usize,
    inflight: usize,
    size: usize,
    text: bool,
    warmup: f64,
    duration: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let imp = it.next().ok_or(USAGE)?;
    let url = it.next().ok_or(USAGE)?;
    if !["wschannel", "tokio-tungstenite", "fastwebsockets"].contains(&imp.as_str()) {
        return Err(format!("unknown client {imp:?}\n{USAGE}"));
    }
    let mut a =
        Args { imp, url, conns: 1, inflight: 1, size: 20, text: false, warmup: 1.0, duration: 2.0 };
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = || format!("{flag}: bad value {val:?}");
        match flag.as_str() {
            "--conns" => a.conns = val.parse().map_err(|_| bad())?,
            "--inflight" => a.inflight = val.parse().map_err(|_| bad())?,
            "--size" => a.size = val.parse().map_err(|_| bad())?,
            "--mode" => a.text = val == "text",
            "--warmup" => a.warmup = val.parse().map_err(|_| bad())?,
            "--duration" => a.duration = val.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if a.conns == 0 || a.inflight == 0 || a.duration <= 0.0 || a.warmup < 0.0 {
        return Err("--conns, --inflight and --duration must be positive".into());
    }
    Ok(a)
}

/// Valid UTF-8 with multi-byte characters, or pseudo-random bytes; exactly `size` bytes.
fn payload(size: usize, text: bool) -> Vec<u8> {
    if text {
        let pattern = "é日🦀 echo ünïcödé テキスト ✓ ½ 𝄞 Grüße, κόσμε; ";
        let mut s = pattern.repeat(size / pattern.len() + 1);
        let mut cut = size;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        while s.len() < size {
            s.push('.');
        }
        s.into_bytes()
    } else {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }
}

fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0 };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match rt.block_on(run(&a)) {
        Ok(json) => {
            println!("{json}");
            // The connections are still running: do not wait for them.
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("bench-client: FAIL: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(a: &Args) -> Result<String, BoxError> {
    let data = Bytes::from(payload(a.size, a.text));
    let count = Arc::new(AtomicU64::new(0));
    let (fail_tx, mut fail_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for _ in 0..a.conns {
        let (imp, url, data, count, fail) =
            (a.imp.clone(), a.url.clone(), data.clone(), count.clone(), fail_tx.clone());
        let (inflight, text) = (a.inflight, a.text);
        tokio::spawn(async move {
            let r = match imp.as_str() {
                "wschannel" => wschannel_client(&url, data, text, inflight, &count).await,
                "tokio-tungstenite" => tungstenite_client(&url, data, text, inflight, &count).await,
                _ => fastwebsockets_client(&url, data, text, inflight, &count).await,
            };
            let _ = fail.send(match r {
                Ok(()) => "a connection ended".to_string(),
                Err(e) => e.to_string(),
            });
        });
    }
    let window = async {
        tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
        let (t0, c0, n0) = (Instant::now(), cpu_ns(), count.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_secs_f64(a.duration)).await;
        let (t1, c1, n1) = (Instant::now(), cpu_ns(), count.load(Ordering::Relaxed));
        (t1.duration_since(t0).as_secs_f64(), c1 - c0, n1 - n0)
    };
    let (secs, cpu, msgs) = tokio::select! {
        w = window => w,
        Some(e) = fail_rx.recv() => return Err(e.into()),
    };
    if msgs == 0 {
        return Err("no echo in the measurement window".into());
    }
    Ok(format!(
        concat!(
            "{{\"client\":\"{}\",\"conns\":{},\"inflight\":{},\"size\":{},\"mode\":\"{}\",",
            "\"window_s\":{:.6},\"msgs\":{},\"msgs_per_s\":{:.1},\"client_cpu_ns\":{},",
            "\"client_cpu_ns_per_msg\":{:.1},\"client_cpu_frac\":{:.3}}}"
        ),
        a.imp,
        a.conns,
        a.inflight,
        a.size,
        if a.text { "text" } else { "binary" },
        secs,
        msgs,
        msgs as f64 / secs,
        cpu,
        cpu as f64 / msgs as f64,
        cpu as f64 / 1e9 / secs,
    ))
}

fn check(got: &[u8], got_text: bool, want: &[u8], want_text: bool) -> Result<(), BoxError> {
    if got_text != want_text || got != want {
        return Err(format!(
            "wrong echo: {} bytes (text: {got_text}), sent {} bytes (text: {want_text})",
            got.len(),
            want.len()
        )
        .into());
    }
    Ok(())
}

async fn wschannel_client(
    url: &str,
    data: Bytes,
    text: bool,
    inflight: usize,
    count: &AtomicU64,
) -> Result<(), BoxError> {
    use wschannel::{Message, Utf8Bytes};
    let msg = if text {
        Message::Text(Utf8Bytes::try_from_bytes(data.clone())?)
    } else {
        Message::Binary(data.clone())
    };
    let mut ws = wschannel::connect(url).await?;
    for _ in 0..inflight {
        ws.feed(msg.clone()).await?;
    }
    while let Some(echo) = ws.next().await {
        match echo? {
            Message::Text(t) => check(t.as_bytes(), true, &data, text)?,
            Message::Binary(b) => check(&b, false, &data, text)?,
            _ => continue,
        }
        count.fetch_add(1, Ordering::Relaxed);
        // Queued; the channel's driver writes it.
        ws.feed(msg.clone()).await?;
    }
    Ok(())
}

async fn tungstenite_client(
    url: &str,
    data: Bytes,
    text: bool,
    inflight: usize,
    count: &AtomicU64,
) -> Result<(), BoxError> {
    use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
    let msg = if text {
        Message::Text(Utf8Bytes::try_from(data.clone())?)
    } else {
        Message::Binary(data.clone())
    };
    // connect_async_with_config's last argument turns Nagle off (TCP_NODELAY).
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    for _ in 0..inflight {
        ws.feed(msg.clone()).await?;
    }
    ws.flush().await?;
    while let Some(echo) = ws.next().await {
        let mut echo = echo?;
        loop {
            let is_data = match echo {
                Message::Text(t) => check(t.as_bytes(), true, &data, text).map(|()| true)?,
                Message::Binary(b) => check(&b, false, &data, text).map(|()| true)?,
                _ => false,
            };
            if is_data {
                count.fetch_add(1, Ordering::Relaxed);
                ws.feed(msg.clone()).await?;
            }
            // Flush once the next echo is not there yet: one write per ready burst.
            match ws.next().now_or_never() {
                Some(Some(next)) => echo = next?,
                Some(None) => return Ok(()),
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

async fn fastwebsockets_client(
    url: &str,
    data: Bytes,
    text: bool,
    inflight: usize,
    count: &AtomicU64,
) -> Result<(), BoxError> {
    use fastwebsockets::{Frame, OpCode, Payload};
    let uri: http::Uri = url.parse()?;
    let authority = uri.authority().ok_or("no host in the URL")?.to_string();
    let tcp = tokio::net::TcpStream::connect(&authority).await?;
    tcp.set_nodelay(true)?;
    let req = hyper::Request::builder()
        .method("GET")
        .uri(uri.path())
        .header("Host", authority)
        .header(hyper::header::UPGRADE, "websocket")
        .header(hyper::header::CONNECTION, "upgrade")
        .header("Sec-WebSocket-Key", fastwebsockets::handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .body(http_body_util::Empty::<Bytes>::new())?;
    let (ws, _) = fastwebsockets::handshake::client(&SpawnExecutor, req, tcp).await?;
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    let op = if text { OpCode::Text } else { OpCode::Binary };
    for _ in 0..inflight {
        ws.write_frame(Frame::new(true, op, None, Payload::Borrowed(&data))).await?;
    }
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary => {
                check(&frame.payload, frame.opcode == OpCode::Text, &data, text)?
            }
            OpCode::Close => return Err("the server closed".into()),
            _ => continue,
        }
        count.fetch_add(1, Ordering::Relaxed);
        ws.write_frame(Frame::new(true, op, None, Payload::Borrowed(&data))).await?;
    }
}

/// The executor fastwebsockets' client handshake runs hyper's connection task on.
struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}
