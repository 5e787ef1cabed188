//! Peer: tungstenite 0.30.0 (default features off, `handshake` on).
//!
//! How it is driven (its lower-level `FrameCodec` is private in 0.30, so through its public
//! synchronous `WebSocket` API, which is how applications use it):
//! * decode — `WebSocket::from_raw_socket(MemSocket, role, config)` with no size limits and
//!   the default 128 KiB read buffer; one `read()` per message (returns `Message::Text`,
//!   UTF-8-validated by tungstenite, or `Message::Binary`). `MemSocket` hands out the same
//!   pool of frames as wsmachine's `wsmachine_io` variant (one copy into tungstenite's buffer).
//! * encode — `send(Message::Binary(bytes))` (write + flush) per message, the payload a
//!   pre-built `Bytes` from the pool (cloning it is a reference-count increment, no copy).
//!   tungstenite formats the frame into its out-buffer (masking it for clients with a key
//!   from `rand`) and writes it to `MemSocket`.
//! * handshake — `accept_with_config(HandshakeStream)`: reads the request, validates it,
//!   writes the 101 and returns the `WebSocket`, which is dropped. The read buffer is set to
//!   4 KiB (the default, 128 KiB, would mostly measure its allocation).
//!
//! Results land in the same Criterion groups as wsmachine's, under `tungstenite`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::Message;
use wsmachine_benches::{
    browser_requests, payloads, FramePool, HandshakeStream, Kind, MemSocket, DECODE_GROUPS,
    ENCODE_GROUPS, SIZES,
};

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None)
}

fn bench(c: &mut Criterion) {
    for (group, kind, masked) in DECODE_GROUPS {
        let role = if masked { Role::Server } else { Role::Client };
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = FramePool::new(kind, size, masked, 1);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("tungstenite", size), &size, |b, _| {
                let mut ws = WebSocket::from_raw_socket(
                    MemSocket::new(&pool.bytes, 1 << 10),
                    role,
                    Some(config()),
                );
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        match ws.read().unwrap() {
                            Message::Text(s) => {
                                black_box(s.as_str());
                            }
                            Message::Binary(d) => {
                                black_box(&d[..]);
                            }
                            other => panic!("{other:?}"),
                        }
                    }
                    t.elapsed()
                });
            });
        }
        g.finish();
    }

    for (group, client) in ENCODE_GROUPS {
        let role = if client { Role::Client } else { Role::Server };
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool: Vec<tungstenite::Bytes> = payloads(Kind::Binary, size, 2)
                .into_iter()
                .map(tungstenite::Bytes::from)
                .collect();
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("tungstenite", size), &size, |b, _| {
                let mut ws = WebSocket::from_raw_socket(
                    MemSocket::new(&[], size + 14),
                    role,
                    Some(config()),
                );
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        ws.send(Message::Binary(pool[i].clone())).unwrap();
                        i = (i + 1) % pool.len();
                    }
                    black_box(ws.get_ref().written);
                    t.elapsed()
                });
            });
        }
        g.finish();
    }

    let reqs = browser_requests();
    let mut g = c.benchmark_group("server_handshake");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("tungstenite", 0), |b| {
        let mut i = 0usize;
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let ws = tungstenite::accept_with_config(
                    HandshakeStream::new(&reqs[i]),
                    Some(config().read_buffer_size(4096)),
                )
                .unwrap();
                black_box(&ws.get_ref().out);
                i = (i + 1) % reqs.len();
            }
            t.elapsed()
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = wsmachine_benches::criterion();
    targets = bench
}
criterion_main!(benches);
