//! The server opening handshake: a realistic 14-header browser request in, `101` out.
//!
//! Group `server_handshake` (one element = one handshake, from a pool of 256 requests with
//! distinct keys and cookies):
//! * `wsmachine` — `Connection::server`, `read_request` (httparse + RFC 6455 §4.2.1
//!   validation + accept key), `accept` (writes the 101) into a caller buffer.
//! * `floor` — httparse, find `Sec-WebSocket-Key`, SHA-1 (the `sha1` crate, which uses the
//!   CPU's SHA extensions when present) + base64, copy out a fixed 101. No validation.
//!
//! Group `handshake_parts` breaks the floor down: httparse alone, SHA-1+base64 with
//! `sha1_smol` (the core's portable SHA-1) and with `sha1`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsmachine::{Accept, Config, Connection, ParsedRequest, EMPTY_HEADER};
use wsmachine_benches::{browser_requests, floor};

fn handshake(c: &mut Criterion) {
    let reqs = browser_requests();
    let mut out = vec![0u8; 1024];
    let mut g = c.benchmark_group("server_handshake");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("wsmachine", 0), |b| {
        let mut i = 0usize;
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let mut conn = Connection::server(Config::new(), 0).unwrap();
                let mut headers = [EMPTY_HEADER; 32];
                match conn.read_request(0, &reqs[i], &mut headers).unwrap() {
                    ParsedRequest::Complete { len, .. } => {
                        black_box(len);
                    }
                    ParsedRequest::Partial => panic!("partial"),
                }
                let n = conn.accept(0, &Accept::default(), &mut out).unwrap();
                black_box(&out[..n]);
                black_box(&conn);
                i = (i + 1) % reqs.len();
            }
            t.elapsed()
        });
    });
    g.bench_function(BenchmarkId::new("floor", 0), |b| {
        let mut i = 0usize;
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let n = floor::handshake(&reqs[i], &mut out);
                black_box(&out[..n]);
                i = (i + 1) % reqs.len();
            }
            t.elapsed()
        });
    });
    g.finish();

    let key = b"dGhlIHNhbXBsZSBub25jZQ==";
    let mut g = c.benchmark_group("handshake_parts");
    g.throughput(Throughput::Elements(1));
    g.bench_function("httparse", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Request::new(&mut headers);
            let s = r.parse(&reqs[i]).unwrap();
            i = (i + 1) % reqs.len();
            black_box(s);
        });
    });
    g.bench_function("sha1_base64", |b| {
        b.iter(|| floor::accept_key(black_box(key)))
    });
    g.bench_function("sha1_smol_base64", |b| {
        b.iter(|| wsmachine::accept_key(black_box(key)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = wsmachine_benches::criterion();
    targets = handshake
}
criterion_main!(benches);
