//! Frame encoding: wsmachine against the floor, per payload size.
//!
//! Groups (one message = one FIN binary frame from a pool of distinct payloads):
//! * `server_encode` — unmasked frames;
//! * `client_encode` — masked frames (a fresh masking key per frame).
//!
//! Subjects:
//! * `wsmachine` — `Connection::send_binary(payload, &mut out)`: header + payload (masked for
//!   clients, with a SipHash-derived key) written into the caller's buffer.
//! * `floor` — header written by hand + `memcpy` (server) or the AVX2 mask-while-copying
//!   loop (client) with precomputed keys.
//! * `floor_io` — the transport floor: a vectored write of the header and the payload (masked
//!   in place by a client) to `MemSocket`, the payload copied once, into the socket.
//! * `wsmachine_io` — the variant for the peer comparison: `Connection::send_in_place` (header
//!   into a small buffer, payload masked in place by a client), then the same vectored write
//!   — what fastwebsockets does with `Payload::Borrowed` / `BorrowedMut`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsmachine::{Config, Connection, MessageKind, Role};
use wsmachine_benches::{floor, payloads, Kind, MemSocket, SplitMix, SIZES};

fn conn(role: Role) -> Connection {
    let mut c = Config::new();
    c.max_frame_payload = u64::MAX;
    c.max_message_size = u64::MAX;
    Connection::new_open(role, c, 0, [7; 16]).unwrap()
}

/// Writes a minimal header for a FIN binary frame; returns its length.
#[inline]
fn header(out: &mut [u8], len: usize, key: Option<[u8; 4]>) -> usize {
    let m = if key.is_some() { 0x80 } else { 0 };
    out[0] = 0x82;
    let mut n = if len < 126 {
        out[1] = m | len as u8;
        2
    } else if len <= 0xFFFF {
        out[1] = m | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = m | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(k) = key {
        out[n..n + 4].copy_from_slice(&k);
        n += 4;
    }
    n
}

fn encode(c: &mut Criterion) {
    for (group, role) in [
        ("server_encode", Role::Server),
        ("client_encode", Role::Client),
    ] {
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = payloads(Kind::Binary, size, 2);
            let mut rng = SplitMix(9);
            let keys: Vec<[u8; 4]> = pool.iter().map(|_| rng.key()).collect();
            let mut out = vec![0u8; size + 14];
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("wsmachine", size), &size, |b, _| {
                let mut cn = conn(role);
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let n = cn.send_binary(&pool[i], &mut out).unwrap();
                        black_box(&out[..n]);
                        i = (i + 1) % pool.len();
                    }
                    t.elapsed()
                });
            });
            g.bench_with_input(BenchmarkId::new("floor", size), &size, |b, _| {
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let p = &pool[i];
                        let n = match role {
                            Role::Server => {
                                let h = header(&mut out, p.len(), None);
                                out[h..h + p.len()].copy_from_slice(p);
                                h + p.len()
                            }
                            Role::Client => {
                                let h = header(&mut out, p.len(), Some(keys[i]));
                                floor::mask_copy(p, &mut out[h..], keys[i]);
                                h + p.len()
                            }
                        };
                        black_box(&out[..n]);
                        i = (i + 1) % pool.len();
                    }
                    t.elapsed()
                });
            });
            g.bench_with_input(BenchmarkId::new("floor_io", size), &size, |b, _| {
                // A vectored write: the header, then the payload from where it is (masked in
                // place by a client), each copied once into the socket.
                let mut sock = MemSocket::new(&[], size + 14);
                let mut work = pool.clone();
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let p = &mut work[i];
                        let key = (role == Role::Client).then_some(keys[i]);
                        let h = header(&mut out, p.len(), key);
                        if let Some(k) = key {
                            floor::mask(p, k);
                        }
                        sock.write_from(&out[..h]);
                        sock.write_from(p);
                        i = (i + 1) % work.len();
                    }
                    black_box(sock.written);
                    t.elapsed()
                });
            });
            g.bench_with_input(BenchmarkId::new("wsmachine_io", size), &size, |b, _| {
                let mut cn = conn(role);
                let mut sock = MemSocket::new(&[], size + 14);
                let mut work = pool.clone();
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        // `send_in_place`: header into `out`, payload masked in place by a
                        // client; both written to the socket (a vectored write).
                        let p = &mut work[i];
                        let n = cn.send_in_place(MessageKind::Binary, p, &mut out).unwrap();
                        sock.write_from(&out[..n]);
                        sock.write_from(p);
                        i = (i + 1) % work.len();
                    }
                    black_box(sock.written);
                    t.elapsed()
                });
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = wsmachine_benches::criterion();
    targets = encode
}
criterion_main!(benches);
