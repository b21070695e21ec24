//! Issue 8: memory per compressed connection, measured, and a decompression bomb's peak.
//!
//! A counting `#[global_allocator]` tracks live heap bytes. For each setting, 50 server
//! connections with permessage-deflate each receive and send one compressed 16 KiB message,
//! then go quiet (`release_buffers`, as the channel calls it); the live heap they hold, divided
//! by 50, is the cost of one compressed connection at rest. The table is printed (the README
//! quotes it) and bounded, so that a change that doubles it fails here.
//!
//! Then a bomb (16 MiB of zeros, 16 KiB compressed, against a 1 MiB limit) is fed to one
//! connection: the peak heap while it is refused with 1009 stays within the limit plus one
//! inflate chunk, never near the 16 MiB it would inflate to.
//!
//! Own `main` (`harness = false`): nothing else allocates on another thread while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::Instant;

use bytes::BytesMut;
use flate2::{Compress, Compression, FlushCompress};
use wschannel_proto::deflate::{client_accept, client_offer, server_accept};
use wschannel_proto::frame::{encode_frame, OpCode};
use wschannel_proto::{Config, Connection, DeflateConfig, Event, Message, ProtocolError, Role};

const CONNECTIONS: usize = 50;

fn main() {
    let text: String = (0..6000).map(|i| format!("{} ", i % 97)).collect::<String>();
    let message = Message::text(text[..16 << 10].to_owned());
    let mut failures = Vec::new();
    println!(
        "{:<58} {:>12} {:>12}",
        "server setting (client: default offer)", "busy B/conn", "idle B/conn"
    );
    for (name, config, idle_bound) in [
        ("default: 15-bit windows, context takeover", DeflateConfig::default(), 480 << 10),
        (
            "9-bit windows both ways",
            DeflateConfig::default().max_window_bits(9).peer_max_window_bits(9),
            340 << 10,
        ),
        (
            "no context takeover both ways",
            DeflateConfig::default().no_context_takeover(true).peer_no_context_takeover(true),
            4 << 10,
        ),
    ] {
        let (busy, idle) = per_connection(&config, &message);
        println!("{name:<58} {busy:>12} {idle:>12}");
        if idle > idle_bound {
            failures.push(format!("{name}: {idle} B per idle connection > {idle_bound}"));
        }
    }
    for bits in [9, 15] {
        let before = live();
        let c = Compress::new_with_window_bits(Compression::default(), false, bits);
        let compressor = live() - before;
        let d = flate2::Decompress::new_with_window_bits(false, bits);
        let inflater = live() - before - compressor;
        println!("flate2/zlib-rs at {bits} bits: compressor {compressor} B, inflater {inflater} B");
        drop((c, d));
    }
    let peak = bomb_peak();
    println!("bomb: 16 MiB of zeros (16 KiB compressed), limit 1 MiB: peak heap {peak} B");
    if peak > (1 << 20) + (1 << 19) + (64 << 10) {
        failures.push(format!("bomb peak {peak} B exceeds 1.5 times the limit"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("deflate_memory: within bounds");
}

/// Live heap per server connection after one compressed message each way: while the
/// connection is busy (state kept), and after `release_buffers` (quiet).
fn per_connection(server: &DeflateConfig, message: &Message) -> (isize, isize) {
    let client = DeflateConfig::default().threshold(0);
    let now = Instant::now();
    let offer = client_offer(&client);
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    let before = live();
    for _ in 0..CONNECTIONS {
        let (answer, s_ext) = server_accept(Some(&offer), server).unwrap();
        let c_ext = client_accept(Some(&answer), &client).unwrap().unwrap();
        let mut c = Connection::new(Role::Client, Config::default(), now);
        let mut s = Connection::new(Role::Server, Config::default(), now);
        c.set_extension(Box::new(c_ext));
        s.set_extension(Box::new(s_ext));
        servers.push(s);
        clients.push(c);
    }
    let mut wire = BytesMut::new();
    for (c, s) in clients.iter_mut().zip(servers.iter_mut()) {
        c.send(message.clone()).unwrap();
        c.poll_transmit(&mut wire);
        s.handle_read(now, &mut wire);
        let Some(Event::Message(m)) = s.poll_event() else { panic!("no message") };
        assert_eq!(&m, message);
        s.send(m).unwrap();
        wire.clear();
        s.poll_transmit(&mut wire);
        wire.clear();
    }
    drop(wire);
    // Count the servers only: drop the clients' share by measuring them alone.
    let total_busy = live() - before;
    let clients_heap: isize = {
        let before_drop = live();
        let kept = std::mem::take(&mut clients);
        drop(kept);
        before_drop - live()
    };
    let busy = (total_busy - clients_heap) / CONNECTIONS as isize;
    for s in &mut servers {
        s.release_buffers();
    }
    let idle = (live() - before) / CONNECTIONS as isize;
    drop(servers);
    (busy, idle)
}

/// The peak heap while one connection refuses a bomb.
fn bomb_peak() -> isize {
    let zeros = vec![0u8; 16 << 20];
    let mut c = Compress::new(Compression::best(), false);
    let mut bomb = Vec::with_capacity(64 << 10);
    c.compress_vec(&zeros, &mut bomb, FlushCompress::Sync).unwrap();
    assert_eq!(c.total_in() as usize, zeros.len(), "bomb fits its buffer");
    drop(zeros);
    bomb.truncate(bomb.len() - 4);
    let mut wire = BytesMut::new();
    encode_frame(&mut wire, true, 0b100, OpCode::Binary, Some([1, 2, 3, 4]), &bomb);
    let (_, ext) = server_accept(Some("permessage-deflate"), &DeflateConfig::default()).unwrap();
    let mut s =
        Connection::new(Role::Server, Config::default().max_message_size(1 << 20), Instant::now());
    s.set_extension(Box::new(ext));
    let base = live();
    PEAK.store(base, Relaxed);
    let mut input = BytesMut::with_capacity(wire.len());
    for chunk in wire.chunks(4096) {
        input.extend_from_slice(chunk);
        s.handle_read(Instant::now(), &mut input);
    }
    let peak = PEAK.load(Relaxed) - base;
    match s.poll_event() {
        Some(Event::Error(ProtocolError::MessageTooLarge { .. })) => {}
        other => panic!("expected 1009, got {other:?}"),
    }
    peak
}

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn live() -> isize {
    LIVE.load(Relaxed)
}

fn grew(n: isize) {
    let now = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

struct Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

// SAFETY: forwards every call to `System` unchanged and only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        System.dealloc(ptr, layout)
    }
}
