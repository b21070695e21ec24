//! The tokio layer: a `wschannel::Channel` over an in-memory duplex, with arbitrary peer bytes
//! interleaved with arbitrary user operations.

use std::future::Future;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::noop_waker_ref;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wschannel::{Channel, CloseCode, Config, ControlPayload, Message, Role};

/// Runs one input against a channel in `role`; see [`run_channel`].
///
/// Input layout: `[limits, op...]`. `limits` picks the message limit (`125 << (limits & 7)`,
/// 125 B to 16 KiB), the write buffer (`64 << ((limits >> 3) & 7)`, 64 B to 8 KiB) and the
/// duplex capacity (`limits & 0x40`: 256 B, else 64 KiB); `limits & 0x80` turns keepalive on
/// (50 ms, 80 ms timeout). Each op is a byte and its arguments:
///
/// - `0 len bytes…`: the peer writes `bytes` (what fits in the duplex);
/// - `1 len`: the user feeds a text message of `len` bytes (when `poll_ready` allows);
/// - `2 len`: the same, binary;
/// - `3`: the user polls the stream once;
/// - `4`: the peer reads everything the channel wrote;
/// - `5`: the user sends a ping; `6 code`: the user starts a close;
/// - `7 ms`: the clock moves `ms * 4` ms; `8`: the user flushes once; `9`: the peer ends its
///   writing side (EOF).
///
/// Polls use a no-op waker: a future that is not ready is dropped, as a `select!` would.
///
/// Checks: no panic; every message delivered is within the message limit; while the peer
/// does not read, the user can queue at most the write buffer plus what the duplex holds plus
/// one message more (the write buffer bounds memory by bytes); the peer never receives more
/// bytes than the user sent plus the protocol's own (pongs, close, pings) bounded by the input.
pub fn run_channel(role: Role, data: &[u8]) {
    let [limits, ref ops @ ..] = *data else {
        return;
    };
    let max_message = 125usize << (limits & 7);
    let write_buffer = 64usize << ((limits >> 3) & 7);
    let duplex = if limits & 0x40 != 0 { 256 } else { 64 << 10 };
    let mut config = Config::default()
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .write_buffer_size(write_buffer)
        .random(&crate::FIXED_RANDOM);
    if limits & 0x80 != 0 {
        config = config
            .ping_interval(Some(Duration::from_millis(50)))
            .ping_timeout(Duration::from_millis(80));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async move {
        let (ours, mut peer) = tokio::io::duplex(duplex);
        let mut ws = Channel::from_stream(ours, role, config);
        let mut cx = Context::from_waker(noop_waker_ref());
        // Bytes the user queued since the peer last read, and the largest message among them.
        let (mut queued, mut largest) = (0usize, 0usize);
        let mut user_bytes = 0usize;
        let mut peer_got = 0usize;
        let mut rest = ops;
        while let [op, ref tail @ ..] = *rest {
            rest = tail;
            match op % 10 {
                0 => {
                    let [len, ref tail @ ..] = *rest else { break };
                    let n = usize::from(len).min(tail.len());
                    let (chunk, tail) = tail.split_at(n);
                    rest = tail;
                    let _ = std::pin::Pin::new(&mut peer).poll_write(&mut cx, chunk);
                }
                1 | 2 => {
                    let [len, ref tail @ ..] = *rest else { break };
                    rest = tail;
                    let len = usize::from(len) * 4;
                    let msg = if op % 10 == 1 {
                        Message::text("é".repeat(len / 2))
                    } else {
                        Message::binary(vec![0xa5; len])
                    };
                    if let Poll::Ready(Ok(())) = std::pin::Pin::new(&mut ws).poll_ready(&mut cx) {
                        let len = msg.len();
                        if std::pin::Pin::new(&mut ws).start_send(msg).is_ok() {
                            queued += len;
                            largest = largest.max(len);
                            user_bytes += len;
                            assert!(
                                queued <= write_buffer + duplex + 2 * (largest + 14),
                                "{queued} bytes queued while the peer does not read \
                                 (write buffer {write_buffer}, duplex {duplex})"
                            );
                        }
                    }
                }
                3 => {
                    if let Poll::Ready(Some(Ok(msg))) =
                        std::pin::Pin::new(&mut ws).poll_next(&mut cx)
                    {
                        assert!(
                            msg.len() <= max_message,
                            "a message of {} bytes over the limit of {max_message}",
                            msg.len()
                        );
                    }
                }
                4 => {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let mut rb = ReadBuf::new(&mut buf);
                        match std::pin::Pin::new(&mut peer).poll_read(&mut cx, &mut rb) {
                            Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                                peer_got += rb.filled().len();
                            }
                            _ => break,
                        }
                    }
                    (queued, largest) = (0, 0);
                }
                5 => {
                    let _ = poll_once(&mut cx, ws.ping(ControlPayload::new()));
                }
                6 => {
                    let [code, ref tail @ ..] = *rest else { break };
                    rest = tail;
                    let code = CloseCode::new(1000 + u16::from(code) * 16)
                        .unwrap_or(CloseCode::NORMAL);
                    let _ = poll_once(&mut cx, ws.close(code, "fuzz"));
                }
                7 => {
                    let [ms, ref tail @ ..] = *rest else { break };
                    rest = tail;
                    tokio::time::advance(Duration::from_millis(u64::from(ms) * 4)).await;
                }
                8 => {
                    let _ = std::pin::Pin::new(&mut ws).poll_flush(&mut cx);
                }
                _ => {
                    let _ = std::pin::Pin::new(&mut peer).poll_shutdown(&mut cx);
                }
            }
        }
        // What the protocol sends on its own (pongs, pings, a close) is bounded by the input.
        assert!(
            peer_got <= user_bytes + 14 * ops.len() + 16 * data.len() + 512,
            "the peer got {peer_got} bytes for {user_bytes} user bytes and {} input bytes",
            data.len()
        );
    });
}

/// Polls a future once with the no-op waker, then drops it.
fn poll_once<F: Future>(cx: &mut Context<'_>, fut: F) -> Poll<F::Output> {
    let mut fut = std::pin::pin!(fut);
    fut.as_mut().poll(cx)
}
