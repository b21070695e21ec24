//! Compressed echo against uncompressed, in memory: a client `Connection` sends a message, a
//! server `Connection` receives and echoes it, the client receives the echo; both ends on this
//! thread, no sockets. Prints, per payload and setting, echoes per CPU-second of this thread
//! (from `/proc/thread-self/schedstat`, so other processes on the machine do not count) and the
//! compression ratio (wire bytes of the payload ÷ payload bytes; 1.0 uncompressed).
//!
//! ```text
//! cargo bench -p wschannel-proto --bench deflate
//! ```
//!
//! The payloads: JSON-like text (repetitive keys, varied numbers), English-like prose, and bytes
//! that do not compress (already compressed media). Each message is the next slice of a 4 MiB
//! corpus of its kind (as Autobahn's section 12 does), sent with context takeover as a
//! long-lived connection sends them.

use std::time::Duration;

use bytes::BytesMut;
use wschannel_proto::deflate::{client_accept, client_offer, server_accept};
use wschannel_proto::{Config, Connection, DeflateConfig, Event, Message, Role};

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: do one short pass only.
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = if quick { Duration::from_millis(20) } else { Duration::from_millis(700) };
    println!(
        "{:<10} {:>8} {:<22} {:>14} {:>8} {:>8}",
        "payload", "size", "setting", "echoes/CPU-s", "×off", "ratio"
    );
    for (kind, make) in
        [("json", json as fn(usize) -> Vec<u8>), ("prose", prose), ("random", random)]
    {
        let corpus = make(4 << 20);
        for size in [1 << 10, 16 << 10, 64 << 10] {
            let mut baseline = 0.0;
            for (name, deflate) in [
                ("off", None),
                ("deflate level 1", Some(DeflateConfig::default().level(1))),
                ("deflate level 6", Some(DeflateConfig::default())),
                ("deflate 6, 9-bit, nct", Some(small())),
            ] {
                let (rate, ratio) = run(&corpus, size, deflate.as_ref(), budget);
                if deflate.is_none() {
                    baseline = rate;
                }
                println!(
                    "{kind:<10} {size:>8} {name:<22} {rate:>14.0} {:>8.2} {ratio:>8.3}",
                    rate / baseline
                );
            }
        }
    }
}

fn small() -> DeflateConfig {
    DeflateConfig::default()
        .max_window_bits(9)
        .peer_max_window_bits(9)
        .no_context_takeover(true)
        .peer_no_context_takeover(true)
}

/// Echoes consecutive `size`-byte slices of `corpus` for about `budget` of CPU; returns echoes
/// per CPU-second and the ratio of the client's wire bytes to payload bytes.
fn run(
    corpus: &[u8],
    size: usize,
    deflate: Option<&DeflateConfig>,
    budget: Duration,
) -> (f64, f64) {
    let now = std::time::Instant::now();
    let mut c = Connection::new(Role::Client, Config::default(), now);
    let mut s = Connection::new(Role::Server, Config::default(), now);
    if let Some(d) = deflate {
        let (answer, s_ext) = server_accept(Some(&client_offer(d)), d).unwrap();
        c.set_extension(Box::new(client_accept(Some(&answer), d).unwrap().unwrap()));
        s.set_extension(Box::new(s_ext));
    }
    let messages: Vec<Message> =
        corpus.chunks_exact(size).map(|c| Message::binary(c.to_vec())).collect();
    let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
    let mut wire = 0usize;
    let mut echoes = 0u64;
    let start = cpu();
    while cpu() - start < budget {
        for _ in 0..16 {
            let msg = &messages[echoes as usize % messages.len()];
            c.send(msg.clone()).unwrap();
            c.poll_transmit(&mut to_server);
            wire += to_server.len();
            s.handle_read(now, &mut to_server);
            let Some(Event::Message(m)) = s.poll_event() else { panic!("no message") };
            s.send(m).unwrap();
            s.poll_transmit(&mut to_client);
            c.handle_read(now, &mut to_client);
            let Some(Event::Message(back)) = c.poll_event() else { panic!("no echo") };
            assert_eq!(&back, msg);
            echoes += 1;
        }
    }
    let secs = (cpu() - start).as_secs_f64();
    let header = if size > 0xffff { 14 } else { 8 };
    let ratio = (wire as f64 / echoes as f64 - header as f64) / size as f64;
    (echoes as f64 / secs, ratio)
}

/// CPU time of this thread.
fn cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_nanos(ns)
}

fn json(size: usize) -> Vec<u8> {
    let mut out = String::from("[");
    let mut i = 0u64;
    while out.len() < size {
        let x = i.wrapping_mul(2_654_435_761) % 100_000;
        out.push_str(&format!(
            "{{\"id\":{i},\"name\":\"user{x}\",\"score\":{},\"active\":{},\"tags\":[\"a{}\",\"b\"]}},",
            x % 977,
            x % 2 == 0,
            x % 13
        ));
        i += 1;
    }
    out.truncate(size);
    out.into_bytes()
}

fn prose(size: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the", "channel", "message", "server", "compress", "window", "of", "and", "a", "client",
        "frame", "deflate", "to", "bytes", "in", "is",
    ];
    let mut out = String::new();
    let mut x = 12345u64;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(WORDS[(x % 16) as usize]);
        out.push(if x % 11 == 0 { '.' } else { ' ' });
    }
    out.truncate(size);
    out.into_bytes()
}

fn random(size: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
