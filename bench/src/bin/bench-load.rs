//! `bench-load`: the load generator for the echo benchmark.
//!
//! Raw WebSocket over plain TCP, one mio event loop for every connection (run it on a core of
//! its own). The opening handshake is done by hand; the client frames are built once, masked
//! with a fixed non-zero key, and written from one shared buffer that holds `inflight` copies
//! back to back. Each connection keeps `inflight` messages outstanding: every echo that comes
//! back is checked byte for byte (opcode, length, payload, fragments allowed) and answered by the
//! next message. Round trips go into an HDR histogram. After the warm-up, the measurement window
//! counts messages; at its end the outstanding echoes are drained and every connection is
//! closed with 1000.
//!
//! Nothing on the hot path allocates: one read buffer, fixed per-connection state, the
//! histogram sized up front.
//!
//! Prints one JSON object on stdout; progress and failures on stderr. Any wrong echo, early
//! close, stall or handshake failure exits 1 with the reason.
//!
//! With `--server-pid`, the server's CPU time (the sum of `/proc/PID/task/*/schedstat`) and
//! the machine's busy time (`/proc/stat`) are sampled at the exact edges of the window.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use sha1::{Digest, Sha1};

const MASK: [u8; 4] = [0x5a, 0xc3, 0x96, 0x2f];
const READ_BUF: usize = 256 << 10;
const HANDSHAKE_WAVE: usize = 50;
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const USAGE: &str = "usage: bench-load --addr HOST:PORT|ws://HOST:PORT/ [--conns N] [--inflight D]
       [--size BYTES] [--mode binary|text] [--warmup SECS] [--duration SECS]
       [--server-pid PID] [--stall-timeout SECS]";

struct Args {
    addr: SocketAddr,
    conns: usize,
    inflight: usize,
    size: usize,
    text: bool,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
    stall: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut addr = None;
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        conns: 1,
        inflight: 1,
        size: 20,
        text: false,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(2),
        server_pid: None,
        stall: Duration::from_secs(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let val = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |what: &str| format!("{flag}: bad {what} {val:?}");
        let secs = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        };
        match flag.as_str() {
            "--addr" => {
                let s = val.trim_start_matches("ws://").trim_end_matches('/');
                addr = Some(s.parse::<SocketAddr>().map_err(|_| bad("address"))?);
            }
            "--conns" => a.conns = val.parse().map_err(|_| bad("number"))?,
            "--inflight" => a.inflight = val.parse().map_err(|_| bad("number"))?,
            "--size" => a.size = val.parse().map_err(|_| bad("size"))?,
            "--mode" => {
                a.text = match val.as_str() {
                    "text" => true,
                    "binary" => false,
                    _ => return Err(bad("mode")),
                }
            }
            "--warmup" => a.warmup = secs(&val).ok_or_else(|| bad("duration"))?,
            "--duration" => a.duration = secs(&val).ok_or_else(|| bad("duration"))?,
            "--stall-timeout" => a.stall = secs(&val).ok_or_else(|| bad("duration"))?,
            "--server-pid" => a.server_pid = Some(val.parse().map_err(|_| bad("pid"))?),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    a.addr = addr.ok_or_else(|| format!("--addr is required\n{USAGE}"))?;
    if a.conns == 0 || a.inflight == 0 || a.duration.is_zero() {
        return Err("--conns, --inflight and --duration must be positive".into());
    }
    Ok(a)
}

/// The payload every message carries: pseudo-random bytes, or valid UTF-8 text with one-,
/// two-, three- and four-byte characters, cut on a character boundary and padded with ASCII to
/// exactly `size` bytes.
fn payload(size: usize, text: bool) -> Vec<u8> {
    if text {
        const PATTERN: &str = "é日🦀 echo ünïcödé テキスト ✓ ½ 𝄞 Grüße, κόσμε; ";
        let mut s = String::with_capacity(size + PATTERN.len());
        while s.len() < size {
            s.push_str(PATTERN);
        }
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
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }
}

/// One client frame: FIN, the opcode, the length, the mask key and the masked payload.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// The first half of the opening handshake, by hand: connect and send the request. Every
/// connection sends its request before any answer is read, so the server handshakes them all at
/// its own pace.
fn handshake_send(addr: SocketAddr, n: usize) -> Result<(StdTcpStream, String), String> {
    let mut s = StdTcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).map_err(|e| e.to_string())?;
    let mut key_bytes = [0u8; 16];
    key_bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
    key_bytes[8..].copy_from_slice(&0x6265_6e63_686c_6f61u64.to_le_bytes());
    let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| format!("handshake write: {e}"))?;
    Ok((s, key))
}

/// The second half: read and check the server's answer (101 and the right
/// `Sec-WebSocket-Accept`); returns the socket, non-blocking, ready for frames.
fn handshake_finish(mut s: StdTcpStream, key: &str) -> Result<StdTcpStream, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        let k = s.read(&mut chunk).map_err(|e| format!("handshake read: {e}"))?;
        if k == 0 {
            return Err(format!("server closed during the handshake: {:?}", lossy(&buf)));
        }
        buf.extend_from_slice(&chunk[..k]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 16 << 10 {
            return Err("handshake answer over 16 KiB".into());
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "non-UTF-8 handshake answer")?;
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!("handshake refused: {:?}", head.lines().next().unwrap_or("")));
    }
    let want = {
        let mut h = Sha1::new();
        h.update(key.as_bytes());
        h.update(WS_GUID.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    };
    let accept = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("sec-websocket-accept").then(|| value.trim())
    });
    if accept != Some(want.as_str()) {
        return Err(format!("bad Sec-WebSocket-Accept {accept:?}, want {want:?}"));
    }
    if buf.len() > head_end {
        return Err(format!("server sent {} bytes before any message", buf.len() - head_end));
    }
    s.set_read_timeout(None).map_err(|e| e.to_string())?;
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(s)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    /// No new messages: wait for the outstanding echoes.
    Drain,
    /// Close frames sent: wait for the server's.
    Closing,
}

/// What every connection's parser compares with and where it reports.
struct Ctx<'a> {
    expected: &'a [u8],
    opcode: u8,
    phase: Phase,
    hist: &'a mut Histogram<u64>,
    measured: u64,
    total: u64,
    last_progress: Instant,
}

struct Conn {
    id: usize,
    sock: TcpStream,
    /// Messages queued and not completely written.
    pending: usize,
    /// Bytes of the first queued frame already written.
    woff: usize,
    /// Send times of the outstanding messages (queued or in flight), oldest first.
    sent_at: Box<[Instant]>,
    head: usize,
    outstanding: usize,
    // The incoming frame parser.
    hdr: [u8; 14],
    hdr_len: usize,
    in_payload: bool,
    frame_left: u64,
    frame_fin: bool,
    frame_op: u8,
    /// The message being received: its opcode (0 = none yet) and the bytes seen so far.
    msg_op: u8,
    msg_off: usize,
    /// Messages completed in the measurement window.
    measured: u64,
    closed: bool,
}

type Res<T> = Result<T, String>;

impl Conn {
    fn queue(&mut self, now: Instant) {
        let cap = self.sent_at.len();
        self.sent_at[(self.head + self.outstanding) % cap] = now;
        self.outstanding += 1;
        self.pending += 1;
    }

    /// Writes queued frames from `batch` (which holds `inflight` frames back to back) until
    /// done or the socket is full.
    fn write_pending(&mut self, batch: &[u8], flen: usize) -> Res<()> {
        while self.pending > 0 {
            // `batch` holds `inflight` >= `pending` frames: the rest is one contiguous slice.
            let end = self.pending * flen;
            match self.sock.write(&batch[self.woff..end]) {
                Ok(0) => return Err(format!("conn {}: write returned 0", self.id)),
                Ok(k) => {
                    self.woff += k;
                    self.pending -= self.woff / flen;
                    self.woff %= flen;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("conn {}: write: {e}", self.id)),
            }
        }
        Ok(())
    }

    /// Parses echoed bytes; returns how many messages completed.
    fn consume(&mut self, mut data: &[u8], ctx: &mut Ctx<'_>, now: Instant) -> Res<usize> {
        let mut done = 0;
        while !data.is_empty() {
            if !self.in_payload {
                // Header: 2 bytes, then the extended length (the server must not mask).
                let need = if self.hdr_len < 2 {
                    2
                } else {
                    match self.hdr[1] & 0x7f {
                        126 => 4,
                        127 => 10,
                        _ => 2,
                    }
                };
                let take = (need - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&data[..take]);
                self.hdr_len += take;
                data = &data[take..];
                if self.hdr_len < need {
                    continue;
                }
                if need == 2 && self.hdr[1] & 0x7f >= 126 {
                    continue; // now read the extended length
                }
                self.start_frame(ctx)?;
                if self.frame_left == 0 {
                    done += self.end_frame(ctx, now)?;
                }
                continue;
            }
            let take = (self.frame_left.min(data.len() as u64)) as usize;
            if self.frame_op != 0x8 {
                let want = &ctx.expected[self.msg_off..self.msg_off + take];
                if want != &data[..take] {
                    let at = want.iter().zip(&data[..take]).position(|(a, b)| a != b).unwrap_or(0);
                    return Err(format!(
                        "conn {}: echo differs at byte {} of the message: got {:02x?}, want {:02x?}",
                        self.id,
                        self.msg_off + at,
                        &data[at..(at + 8).min(take)],
                        &want[at..(at + 8).min(take)],
                    ));
                }
                self.msg_off += take;
            }
            self.frame_left -= take as u64;
            data = &data[take..];
            if self.frame_left == 0 {
                done += self.end_frame(ctx, now)?;
            }
        }
        Ok(done)
    }

    fn start_frame(&mut self, ctx: &Ctx<'_>) -> Res<()> {
        let b0 = self.hdr[0];
        let b1 = self.hdr[1];
        let len = match b1 & 0x7f {
            126 => u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as u64,
            127 => u64::from_be_bytes(self.hdr[2..10].try_into().expect("8 bytes")),
            n => n as u64,
        };
        let id = self.id;
        if b1 & 0x80 != 0 {
            return Err(format!("conn {id}: the server masked its frame"));
        }
        if b0 & 0x70 != 0 {
            return Err(format!("conn {id}: RSV bits set ({b0:#04x}) without an extension"));
        }
        let op = b0 & 0x0f;
        let fin = b0 & 0x80 != 0;
        match op {
            0x8 => {
                if ctx.phase != Phase::Closing {
                    return Err(format!(
                        "conn {id}: the server closed the connection (close frame, {len} bytes)"
                    ));
                }
            }
            0x9 | 0xa => return Err(format!("conn {id}: unexpected control frame {op:#x}")),
            0x0 if self.msg_op == 0 => {
                return Err(format!("conn {id}: continuation frame with no message started"))
            }
            0x1 | 0x2 if self.msg_op != 0 => {
                return Err(format!("conn {id}: new message before the previous one ended"))
            }
            0x1 | 0x2 => {
                if op != ctx.opcode {
                    return Err(format!(
                        "conn {id}: echo has opcode {op:#x}, sent {:#x}",
                        ctx.opcode
                    ));
                }
                self.msg_op = op;
                self.msg_off = 0;
            }
            0x0 => {}
            _ => return Err(format!("conn {id}: reserved opcode {op:#x}")),
        }
        if op != 0x8 && self.msg_off as u64 + len > ctx.expected.len() as u64 {
            return Err(format!(
                "conn {id}: echo longer than the {} bytes sent ({} + {len})",
                ctx.expected.len(),
                self.msg_off
            ));
        }
        self.frame_op = op;
        self.frame_fin = fin;
        self.frame_left = len;
        self.in_payload = true;
        self.hdr_len = 0;
        Ok(())
    }

    fn end_frame(&mut self, ctx: &mut Ctx<'_>, now: Instant) -> Res<usize> {
        self.in_payload = false;
        if self.frame_op == 0x8 {
            self.closed = true;
            return Ok(0);
        }
        if !self.frame_fin {
            return Ok(0);
        }
        if self.msg_off != ctx.expected.len() {
            return Err(format!(
                "conn {}: echo has {} bytes, sent {}",
                self.id,
                self.msg_off,
                ctx.expected.len()
            ));
        }
        self.msg_op = 0;
        self.msg_off = 0;
        if self.outstanding == 0 {
            return Err(format!("conn {}: an echo of a message never sent", self.id));
        }
        let sent = self.sent_at[self.head];
        self.head = (self.head + 1) % self.sent_at.len();
        self.outstanding -= 1;
        ctx.total += 1;
        ctx.last_progress = now;
        if ctx.phase == Phase::Measure {
            ctx.hist.saturating_record(now.duration_since(sent).as_nanos() as u64);
            ctx.measured += 1;
            self.measured += 1;
        }
        if matches!(ctx.phase, Phase::Warmup | Phase::Measure) {
            self.queue(now);
        }
        Ok(1)
    }
}

/// CPU nanoseconds of every thread of `pid` (`self` for this process): the first field of
/// `/proc/PID/task/TID/schedstat`.
fn proc_cpu_ns(pid: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Busy time of the whole machine and of each CPU, in nanoseconds (`/proc/stat`, USER_HZ 100):
/// everything but idle and iowait.
fn busy_ns() -> Vec<u64> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return Vec::new() };
    stat.lines()
        .filter(|l| l.starts_with("cpu"))
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle) * 10_000_000
        })
        .collect()
}

/// The machine's `cpu` line of `/proc/stat`: user, nice, system, idle, iowait, irq, softirq,
/// steal, in USER_HZ ticks (kept raw in the report, to tell other processes from interrupt time).
fn stat_cpu_ticks() -> Vec<u64> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().find(|l| l.starts_with("cpu ")).unwrap_or("");
    line.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect()
}

struct Sample {
    at: Instant,
    self_cpu: u64,
    server_cpu: u64,
    busy: Vec<u64>,
    ticks: Vec<u64>,
}

fn sample(server_pid: Option<u32>) -> Sample {
    Sample {
        at: Instant::now(),
        self_cpu: proc_cpu_ns("self"),
        server_cpu: server_pid.map(|p| proc_cpu_ns(&p.to_string())).unwrap_or(0),
        busy: busy_ns(),
        ticks: stat_cpu_ticks(),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-load: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Res<String> {
    let expected = payload(a.size, a.text);
    if a.text {
        std::str::from_utf8(&expected).expect("the text payload is UTF-8");
    }
    let opcode = if a.text { 0x1 } else { 0x2 };
    let frame = client_frame(opcode, &expected);
    let flen = frame.len();
    let batch: Vec<u8> = frame.iter().copied().cycle().take(flen * a.inflight).collect();

    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut conns = Vec::with_capacity(a.conns);
    let t0 = Instant::now();
    // Handshakes in waves: every request of a wave is sent before its answers are read, and a
    // wave is small enough for the listen backlog (an overflow costs a 1 s SYN retransmit).
    let mut wave = Vec::with_capacity(HANDSHAKE_WAVE);
    let mut ready = Vec::with_capacity(a.conns);
    for first in (0..a.conns).step_by(HANDSHAKE_WAVE) {
        for id in first..(first + HANDSHAKE_WAVE).min(a.conns) {
            wave.push(handshake_send(a.addr, id).map_err(|e| format!("conn {id}: {e}"))?);
        }
        for (i, (std_sock, key)) in wave.drain(..).enumerate() {
            let id = first + i;
            ready.push(handshake_finish(std_sock, &key).map_err(|e| format!("conn {id}: {e}"))?);
        }
    }
    for (id, std_sock) in ready.into_iter().enumerate() {
        let mut sock = TcpStream::from_std(std_sock);
        poll.registry()
            .register(&mut sock, Token(id), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
        conns.push(Conn {
            id,
            sock,
            pending: 0,
            woff: 0,
            sent_at: vec![t0; a.inflight].into_boxed_slice(),
            head: 0,
            outstanding: 0,
            hdr: [0; 14],
            hdr_len: 0,
            in_payload: false,
            frame_left: 0,
            frame_fin: false,
            frame_op: 0,
            msg_op: 0,
            msg_off: 0,
            measured: 0,
            closed: false,
        });
    }
    let connect_time = t0.elapsed();

    // 1 µs to 100 s, 3 significant digits, in nanoseconds.
    let mut hist = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3).expect("histogram");
    let start = Instant::now();
    let mut ctx = Ctx {
        expected: &expected,
        opcode,
        phase: Phase::Warmup,
        hist: &mut hist,
        measured: 0,
        total: 0,
        last_progress: start,
    };
    for c in conns.iter_mut() {
        for _ in 0..a.inflight {
            c.queue(start);
        }
        c.write_pending(&batch, flen)?;
    }

    let mut rbuf = vec![0u8; READ_BUF];
    let mut events = Events::with_capacity(1024);
    let mut deadline = start + a.warmup;
    let mut begin: Option<Sample> = None;
    let mut end: Option<Sample> = None;
    let mut warmup_msgs = 0;
    let drain_limit = Duration::from_secs(10);
    loop {
        let now = Instant::now();
        if now >= deadline {
            match ctx.phase {
                Phase::Warmup => {
                    warmup_msgs = ctx.total;
                    ctx.phase = Phase::Measure;
                    begin = Some(sample(a.server_pid));
                    deadline = begin.as_ref().expect("sampled").at + a.duration;
                }
                Phase::Measure => {
                    end = Some(sample(a.server_pid));
                    ctx.phase = Phase::Drain;
                    deadline = now + drain_limit;
                }
                Phase::Drain => {
                    let left: usize = conns.iter().map(|c| c.outstanding).sum();
                    return Err(format!(
                        "stall: {left} echoes still missing {drain_limit:?} after the window"
                    ));
                }
                Phase::Closing => break, // Some servers do not answer the close; not our metric.
            }
        }
        if ctx.phase == Phase::Drain && conns.iter().all(|c| c.outstanding == 0) {
            ctx.phase = Phase::Closing;
            deadline = Instant::now() + Duration::from_secs(2);
            // A masked close frame, code 1000, on every connection.
            let close = client_frame(0x8, &1000u16.to_be_bytes());
            for c in conns.iter_mut() {
                let _ = c.sock.write_all(&close);
            }
        }
        if ctx.phase == Phase::Closing && conns.iter().all(|c| c.closed) {
            break;
        }
        if ctx.last_progress.elapsed() > a.stall
            && matches!(ctx.phase, Phase::Warmup | Phase::Measure)
        {
            let left: usize = conns.iter().map(|c| c.outstanding).sum();
            return Err(format!(
                "stall: no echo for {:?} ({left} messages outstanding, phase {})",
                a.stall,
                if ctx.phase == Phase::Warmup { "warm-up" } else { "measure" }
            ));
        }
        let wait =
            deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                loop {
                    match c.sock.read(&mut rbuf) {
                        Ok(0) => {
                            if ctx.phase == Phase::Closing {
                                c.closed = true;
                                break;
                            }
                            return Err(format!(
                                "conn {}: the server closed the TCP connection ({} echoes outstanding)",
                                c.id, c.outstanding
                            ));
                        }
                        Ok(k) => {
                            let now = Instant::now();
                            c.consume(&rbuf[..k], &mut ctx, now)?;
                            if k < rbuf.len() {
                                // A short read emptied the socket: epoll (edge-triggered) reports
                                // the next bytes as a new event, so the read that would only
                                // say `WouldBlock` is skipped. That read cost the load
                                // generator a third system call per message where the servers
                                // make two, and kept it from running ahead of them.
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            if ctx.phase == Phase::Closing {
                                c.closed = true;
                                break;
                            }
                            return Err(format!("conn {}: read: {e}", c.id));
                        }
                    }
                }
            }
            if c.pending > 0 {
                c.write_pending(&batch, flen)?;
            }
        }
    }

    let (begin, end) = (begin.expect("window began"), end.expect("window ended"));
    let window = end.at.duration_since(begin.at);
    let secs = window.as_secs_f64();
    let per_conn_min = conns.iter().map(|c| c.measured).min().unwrap_or(0);
    let per_conn_max = conns.iter().map(|c| c.measured).max().unwrap_or(0);
    let starved = conns.iter().filter(|c| c.measured == 0).count();
    let closed_cleanly = conns.iter().filter(|c| c.closed).count();
    let busy_total =
        end.busy.first().copied().unwrap_or(0) - begin.busy.first().copied().unwrap_or(0);
    let busy_per_cpu: Vec<String> =
        end.busy.iter().zip(&begin.busy).skip(1).map(|(e, b)| (e - b).to_string()).collect();
    let ticks: Vec<String> =
        end.ticks.iter().zip(&begin.ticks).map(|(e, b)| (e - b).to_string()).collect();
    let measured = ctx.measured;
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    Ok(format!(
        concat!(
            "{{\"conns\":{},\"inflight\":{},\"size\":{},\"mode\":\"{}\",",
            "\"warmup_s\":{:.3},\"window_s\":{:.6},\"connect_s\":{:.3},",
            "\"msgs\":{},\"warmup_msgs\":{},\"msgs_per_s\":{:.1},\"bytes_per_s\":{:.1},",
            "\"rtt_p50_us\":{:.1},\"rtt_p99_us\":{:.1},\"rtt_p999_us\":{:.1},",
            "\"rtt_max_us\":{:.1},\"rtt_mean_us\":{:.1},",
            "\"loadgen_cpu_ns\":{},\"server_cpu_ns\":{},\"busy_ns\":{},\"busy_per_cpu_ns\":[{}],",
            "\"stat_cpu_ticks\":[{}],",
            "\"conn_msgs_min\":{},\"conn_msgs_max\":{},\"conns_starved\":{},\"closed_cleanly\":{}}}"
        ),
        a.conns,
        a.inflight,
        a.size,
        if a.text { "text" } else { "binary" },
        a.warmup.as_secs_f64(),
        secs,
        connect_time.as_secs_f64(),
        measured,
        warmup_msgs,
        measured as f64 / secs,
        (measured * a.size as u64) as f64 / secs,
        q(0.5),
        q(0.99),
        q(0.999),
        hist.max() as f64 / 1000.0,
        hist.mean() / 1000.0,
        end.self_cpu - begin.self_cpu,
        end.server_cpu.saturating_sub(begin.server_cpu),
        busy_total,
        busy_per_cpu.join(","),
        ticks.join(","),
        per_conn_min,
        per_conn_max,
        starved,
        closed_cleanly,
    ))
}
