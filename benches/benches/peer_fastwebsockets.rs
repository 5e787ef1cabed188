//! Peer: fastwebsockets 0.10.0 (default features off, `simd` on: simdutf8 validation).
//!
//! How it is driven (its frame parser is only reachable through `WebSocket`, which needs an
//! async stream): `WebSocket::after_handshake(MemSocket, role)` over the in-memory socket
//! (`MemSocket` implements tokio's `AsyncRead`/`AsyncWrite`, always ready), inside ONE
//! `block_on` of a tokio current-thread runtime per Criterion batch, so the runtime's cost is
//! amortised over the batch and never paid per message.
//! * decode — one `read_frame().await` per message (auto-unmask on; text frames with FIN are
//!   validated with simdutf8 by fastwebsockets). The frames come from the same pool as
//!   wsmachine's `wsmachine_io` variant (one copy into fastwebsockets' `BytesMut`).
//! * encode — one `write_frame(Frame::binary(payload)).await` per message. Server: the
//!   payload is `Payload::Borrowed` (no copy; frames above its 1 KiB threshold go out with a
//!   vectored write of header + payload). Client: `Payload::BorrowedMut`, which it masks in
//!   place (the pool's bytes are re-masked each time; no copy, no allocation) with a key from
//!   `rand`. This is the cheapest path its API offers.
//! * handshake — not measured: fastwebsockets delegates HTTP to hyper (`upgrade` feature),
//!   so a handshake benchmark would measure a hyper server, not fastwebsockets.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use wsmachine_benches::{
    payloads, FramePool, Kind, MemSocket, DECODE_GROUPS, ENCODE_GROUPS, SIZES,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    for (group, kind, masked) in DECODE_GROUPS {
        let role = if masked { Role::Server } else { Role::Client };
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = FramePool::new(kind, size, masked, 1);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("fastwebsockets", size), &size, |b, _| {
                let mut ws = WebSocket::after_handshake(MemSocket::new(&pool.bytes, 1 << 10), role);
                ws.set_max_message_size(64 << 20);
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let t = Instant::now();
                        for _ in 0..iters {
                            let f = ws.read_frame().await.unwrap();
                            assert!(matches!(f.opcode, OpCode::Text | OpCode::Binary));
                            black_box(&f.payload[..]);
                        }
                        t.elapsed()
                    })
                });
            });
        }
        g.finish();
    }

    for (group, client) in ENCODE_GROUPS {
        let role = if client { Role::Client } else { Role::Server };
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let mut pool = payloads(Kind::Binary, size, 2);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("fastwebsockets", size), &size, |b, _| {
                let mut ws = WebSocket::after_handshake(MemSocket::new(&[], size + 14), role);
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let t = Instant::now();
                        for _ in 0..iters {
                            let payload = if client {
                                Payload::BorrowedMut(&mut pool[i][..])
                            } else {
                                Payload::Borrowed(&pool[i][..])
                            };
                            ws.write_frame(Frame::binary(payload)).await.unwrap();
                            i = (i + 1) % pool.len();
                        }
                        t.elapsed()
                    })
                });
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = wsmachine_benches::criterion();
    targets = bench
}
criterion_main!(benches);
