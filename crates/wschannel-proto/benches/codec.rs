//! Per-byte work against memory bandwidth: masking (fast and naive), UTF-8 validation
//! (whole and incremental), and whole frames through a server `Connection`, each beside a
//! `memcpy` of the same size as the yardstick. Read the ratios, not the absolute numbers.
//!
//! ```text
//! cargo bench -p wschannel-proto --bench codec
//! ```

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wschannel_proto::frame::{encode_frame, OpCode};
use wschannel_proto::mask::{apply_mask, apply_mask_naive};
use wschannel_proto::utf8::{validate, Utf8Validator};
use wschannel_proto::{Config, Connection, Role};

const SIZES: [usize; 3] = [125, 16 << 10, 1 << 20];

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
        let text = "wschannel κόσμε 𝄞 ".repeat(size / 20 + 1).into_bytes()[..size].to_vec();
        let text = &text[..text.len() - 4]; // never end mid code point for `validate`
        let ascii = vec![b'a'; size];
        g.bench_with_input(BenchmarkId::new("utf8_ascii", size), &size, |b, _| {
            b.iter(|| validate(black_box(&ascii)).is_ok())
        });
        g.bench_with_input(BenchmarkId::new("utf8_mixed", size), &size, |b, _| {
            b.iter(|| validate(black_box(text)).is_ok())
        });
        g.bench_with_input(BenchmarkId::new("utf8_incremental_mixed", size), &size, |b, _| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                for chunk in black_box(text).chunks(4093) {
                    v.feed(chunk).unwrap();
                }
                v.is_complete()
            })
        });
    }
    g.finish();
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_receives_masked_binary");
    for size in SIZES {
        let count = ((4 << 20) / size).max(1);
        let mut wire = BytesMut::new();
        for _ in 0..count {
            encode_frame(&mut wire, true, 0, OpCode::Binary, Some([9, 8, 7, 6]), &vec![1u8; size]);
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

criterion_group!(benches, per_byte, frames);
criterion_main!(benches);
