//! Per-byte work against memory bandwidth: masking (fast and naive) and UTF-8 validation (whole
//! and incremental, ASCII and multi-byte), each beside a `memcpy` of the same buffer as the
//! yardstick; `Utf8Bytes::as_str`; frame header parsing and encoding; and whole frames through a
//! server `Connection`. Read the ratios, not the absolute numbers.
//!
//! ```text
//! cargo bench -p wschannel-proto --bench codec
//! cargo bench -p wschannel-proto --bench codec -- per_byte --warm-up-time 1 --measurement-time 2
//! ```
//!
//! Nothing here needs `-C target-cpu`: simdutf8 (the `ps-simdutf8` package) picks AVX-512, AVX2 or
//! SSE4.2 at run time, and masking is safe code compiled twice and chosen at run time.

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wschannel_proto::frame::{encode_frame, parse_header, FrameHeader, OpCode};
use wschannel_proto::mask::{apply_mask, apply_mask_naive};
use wschannel_proto::utf8::{validate, Utf8Validator};
use wschannel_proto::{Config, Connection, Role, Utf8Bytes};

const SIZES: [usize; 5] = [64, 1 << 10, 16 << 10, 64 << 10, 1 << 20];

fn per_byte(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_byte");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let src = vec![0x5au8; size];
        let mut buf = vec![0u8; size];
        g.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| buf.copy_from_slice(black_box(&src)))
        });
        g.bench_with_input(BenchmarkId::new("mask", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0))
        });
        g.bench_with_input(BenchmarkId::new("mask_naive", size), &size, |b, _| {
            b.iter(|| apply_mask_naive(black_box(&mut buf), [1, 2, 3, 4], 0))
        });
        let ascii = vec![b'a'; size];
        let multibyte = multibyte_text(size);
        g.bench_with_input(BenchmarkId::new("utf8_ascii", size), &size, |b, _| {
            b.iter(|| validate(black_box(&ascii)).is_ok())
        });
        g.bench_with_input(BenchmarkId::new("utf8_multibyte", size), &size, |b, _| {
            b.iter(|| validate(black_box(multibyte.as_bytes())).is_ok())
        });
        g.bench_with_input(BenchmarkId::new("utf8_incremental_multibyte", size), &size, |b, _| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                for chunk in black_box(multibyte.as_bytes()).chunks(4093) {
                    v.feed(chunk).unwrap();
                }
                v.is_complete()
            })
        });
    }
    g.finish();
}

/// `size` bytes (less up to 3, to end on a code point) of Greek, a clef and ASCII: 1-, 2- and
/// 4-byte sequences.
fn multibyte_text(size: usize) -> String {
    let mut s = String::with_capacity(size);
    for c in "wschannel κόσμε 𝄞 ".chars().cycle() {
        if s.len() + c.len_utf8() > size {
            break;
        }
        s.push(c);
    }
    s
}

/// `as_str` is behind `len()`, `==`, `Display` and `Deref`: it must not depend on the length.
fn utf8bytes(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8bytes_as_str");
    for size in [1 << 10, 64 << 10] {
        let text = Utf8Bytes::from(multibyte_text(size));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| black_box(&text).as_str().len())
        });
    }
    g.finish();
}

/// The three length encodings (7-bit, 16-bit, 64-bit), masked as a client sends them.
fn headers(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_header");
    for len in [125u64, 0xFFFF, 1 << 20] {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some([1, 2, 3, 4]),
            payload_len: len,
        };
        let mut wire = BytesMut::new();
        header.encode(&mut wire);
        let name = format!("{}B", wire.len());
        g.bench_with_input(BenchmarkId::new("parse", &name), &wire, |b, wire| {
            b.iter(|| parse_header(black_box(wire)))
        });
        let mut out = BytesMut::with_capacity(64);
        g.bench_with_input(BenchmarkId::new("encode", &name), &header, |b, header| {
            b.iter(|| {
                out.clear();
                black_box(header).encode(&mut out);
            })
        });
    }
    g.finish();
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_receives_masked_binary");
    for size in [125, 16 << 10, 1 << 20] {
        let count = ((4 << 20) / size).max(1);
        let mut wire = BytesMut::new();
        let payload = Bytes::from(vec![1u8; size]);
        for _ in 0..count {
            encode_frame(&mut wire, true, 0, OpCode::Binary, Some([9, 8, 7, 6]), &payload);
        }
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            let now = Instant::now();
            b.iter(|| {
                let mut conn = Connection::new(Role::Server, Config::default(), now);
                let mut input = wire.clone();
                conn.handle_read(now, &mut input);
                let mut n = 0;
                while conn.poll_event().is_some() {
                    n += 1;
                }
                assert_eq!(n, count);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, per_byte, utf8bytes, headers, frames);
criterion_main!(benches);
