//! Issue 7, the hot path: an echoed message of up to 4 KiB costs no heap allocation in steady
//! state, on the server and on the client.
//!
//! A client and a server `Connection` talk through memory, driven as a channel drives them: each
//! end keeps one read buffer and one write buffer for its whole life; `poll_transmit` fills the
//! write buffer, the "socket" copies those bytes to the end of the peer's read buffer and
//! advances the write buffer, and `handle_read` consumes the read buffer. The server echoes
//! every message and drops it once sent back, as `wschannel serve` does.
//!
//! A counting `#[global_allocator]` counts allocations (and reallocations) only while a phase
//! of interest runs. This file has its own `main` (`harness = false`), so nothing else runs on
//! another thread while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use wschannel_proto::{Config, Connection, Event, Message, OpCode, Role, Utf8Bytes};

fn main() {
    // The counter works: a `Vec` with room is one allocation.
    let before = start_counting();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(16)));
    assert_eq!(stop_counting(before), 1, "the counting allocator does not count");

    let mut failures = Vec::new();
    for delivery in [Delivery::Whole, Delivery::Halves, Delivery::TwoFragments] {
        for size in [20, 1 << 10, 4 << 10] {
            for kind in [Kind::Binary, Kind::Text] {
                let counts = echo(kind, size, delivery);
                println!("{:<7} {:<13} {:>5} B: {counts}", kind.name(), delivery.name(), size);
                if counts.total() != 0 {
                    failures.push(format!(
                        "{} {} {size} B: {counts}",
                        kind.name(),
                        delivery.name()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "allocations in steady state:\n{}", failures.join("\n"));
    println!("alloc: every steady-state echo allocated nothing");
}

/// Messages before counting starts: buffers grow to their working size.
const WARM_UP: usize = 100;
/// Messages counted.
const N: usize = 1000;

#[derive(Clone, Copy)]
enum Kind {
    Binary,
    Text,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Text => "text",
        }
    }
}

/// How one message's bytes reach the peer.
#[derive(Clone, Copy, PartialEq)]
enum Delivery {
    /// One read holds the whole frame (the decoder's zero-copy path).
    Whole,
    /// The frame arrives in two reads, split in the middle of its payload, as TCP may do.
    Halves,
    /// The client sends the message as two fragments (`send_frame`); one read holds both.
    TwoFragments,
}

impl Delivery {
    fn name(self) -> &'static str {
        match self {
            Delivery::Whole => "whole",
            Delivery::Halves => "halves",
            Delivery::TwoFragments => "two-fragments",
        }
    }
}

/// Allocations counted over the `N` measured messages, per phase.
struct Counts {
    /// The client queues the message and takes the frame bytes (`send`, `poll_transmit`).
    client_send: usize,
    /// The server reads, takes the message, echoes it and takes the reply's bytes.
    server: usize,
    /// The client reads the echo and drops it.
    client_receive: usize,
}

impl Counts {
    fn total(&self) -> usize {
        self.client_send + self.server + self.client_receive
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "allocations per {N} messages: client send {}, server {}, client receive {}",
            self.client_send, self.server, self.client_receive
        )
    }
}

/// One end as a channel holds it: the connection and its two long-lived buffers.
struct End {
    conn: Connection,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl End {
    fn new(role: Role, now: Instant) -> Self {
        End {
            conn: Connection::new(role, Config::default(), now),
            rbuf: BytesMut::with_capacity(8 << 10),
            wbuf: BytesMut::new(),
        }
    }

    /// The driver's write step: take what the connection queued (only into an empty buffer, as
    /// `wschannel`'s driver does).
    fn transmit(&mut self) {
        if self.wbuf.is_empty() {
            self.conn.poll_transmit(&mut self.wbuf);
        }
    }
}

/// The socket: up to `limit` bytes from `from`'s write buffer to the end of `to`'s read buffer.
fn carry(from: &mut End, to: &mut End, limit: usize) {
    let n = from.wbuf.len().min(limit);
    to.rbuf.extend_from_slice(&from.wbuf[..n]);
    from.wbuf.advance(n);
}

fn data_message(event: Option<Event>) -> Message {
    match event {
        Some(Event::Message(m)) if m.is_data() => m,
        other => panic!("expected a data message, got {other:?}"),
    }
}

/// Echoes `WARM_UP + N` messages of `size` bytes and counts the allocations of the last `N`.
fn echo(kind: Kind, size: usize, delivery: Delivery) -> Counts {
    let now = Instant::now();
    let mut client = End::new(Role::Client, now);
    let mut server = End::new(Role::Server, now);
    // The payload is built before counting; sending a clone of it is a reference count.
    let mut text = String::with_capacity(size);
    for c in "wschannel κόσμε ".chars().cycle() {
        if text.len() + c.len_utf8() > size {
            break;
        }
        text.push(c);
    }
    let text = Utf8Bytes::from(text);
    let binary = Bytes::from(vec![0x5a; size]);
    let outgoing = match kind {
        Kind::Binary => Message::Binary(binary.clone()),
        Kind::Text => Message::Text(text.clone()),
    };
    let payload = match &outgoing {
        Message::Text(t) => t.as_bytes().clone(),
        Message::Binary(b) => b.clone(),
        _ => unreachable!(),
    };

    let mut counts = Counts { client_send: 0, server: 0, client_receive: 0 };
    for i in 0..WARM_UP + N {
        let counting = i >= WARM_UP;

        let before = counting.then(start_counting);
        match delivery {
            Delivery::Whole | Delivery::Halves => client.conn.send(outgoing.clone()).unwrap(),
            Delivery::TwoFragments => {
                let (a, b) = payload.split_at(payload.len() / 2);
                let first = match kind {
                    Kind::Binary => OpCode::Binary,
                    Kind::Text => OpCode::Text,
                };
                client.conn.send_frame(first, a, false).unwrap();
                client.conn.send_frame(OpCode::Continuation, b, true).unwrap();
            }
        }
        client.transmit();
        counts.client_send += before.map_or(0, stop_counting);

        // The request reaches the server: whole, or in two reads split mid-payload.
        let reads = match delivery {
            Delivery::Halves => vec![client.wbuf.len() / 2, usize::MAX],
            _ => vec![usize::MAX],
        };
        let before = counting.then(start_counting);
        for limit in reads {
            carry(&mut client, &mut server, limit);
            server.conn.handle_read(now, &mut server.rbuf);
        }
        let msg = data_message(server.conn.poll_event());
        assert!(server.conn.poll_event().is_none());
        server.conn.send(msg).unwrap();
        server.transmit();
        counts.server += before.map_or(0, stop_counting);

        let before = counting.then(start_counting);
        carry(&mut server, &mut client, usize::MAX);
        client.conn.handle_read(now, &mut client.rbuf);
        let back = data_message(client.conn.poll_event());
        counts.client_receive += before.map_or(0, stop_counting);
        assert_eq!(back, outgoing, "message {i} came back changed");
        drop(back);
        assert!(client.rbuf.is_empty() && server.rbuf.is_empty());
    }
    counts
}

// ---- the counting allocator ----

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn start_counting() -> usize {
    let before = ALLOCATIONS.load(Relaxed);
    COUNTING.store(true, Relaxed);
    before
}

fn stop_counting(before: usize) -> usize {
    COUNTING.store(false, Relaxed);
    ALLOCATIONS.load(Relaxed) - before
}

/// The system allocator, counting `alloc`, `alloc_zeroed` and `realloc` while `COUNTING` is set.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the counters are atomics and never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as received; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` and `layout` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    if COUNTING.load(Relaxed) {
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
