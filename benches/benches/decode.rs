//! Frame decoding: wsmachine against the floor, per payload size.
//!
//! Groups (one message = one FIN frame; a pool of distinct frames, see `pool_len`):
//! * `server_decode_text`   — masked text frames (mixed ASCII/multibyte), unmasked + validated;
//! * `server_decode_binary` — masked binary frames, unmasked;
//! * `client_decode_text`   — unmasked text frames, validated;
//! * `client_decode_binary` — unmasked binary frames (no payload work: messages/s matter).
//!
//! Subjects:
//! * `wsmachine` — `Connection::read` on the frames already in the caller's buffer (what the
//!   core does after the socket read). The buffer is restored from a pristine copy between
//!   passes over the pool, outside the timed region (decoding unmasks in place).
//! * `floor` — the same bytes, same restore: unmask (AVX2) / unmask+simdutf8 fused per 8 KiB
//!   block / simdutf8, with the payload offsets and keys known in advance (no header parsing).
//! * `floor_io` — the floor of the transport variants: copy each frame into a buffer (the
//!   socket read) + the floor's work; shows how much room the peers leave.
//! * `wsmachine_io` — the apples-to-apples variant for the peer comparison: frames arrive
//!   through `MemSocket` (one copy into a 64 KiB read buffer, as a socket read would), then
//!   `Connection::read` until it wants more; leftovers move to the buffer's front.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsmachine::{Config, Connection, Event, Role};
use wsmachine_benches::{floor, FramePool, Kind, MemSocket, ReadBuf, READ_BUF, SIZES};

fn config() -> Config {
    let mut c = Config::new();
    c.max_frame_payload = u64::MAX;
    c.max_message_size = u64::MAX;
    c
}

/// Connection that reads frames of `role`'s peer.
pub fn conn(role: Role) -> Connection {
    Connection::new_open(role, config(), 0, [7; 16]).unwrap()
}

/// Decodes `iters` messages in place from copies of `pool`.
fn wsmachine_in_place(
    conn: &mut Connection,
    pool: &FramePool,
    work: &mut [u8],
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        work.copy_from_slice(&pool.bytes);
        let n = (iters - done).min(pool.frames.len() as u64);
        let t = Instant::now();
        let mut pos = 0usize;
        for _ in 0..n {
            let r = conn.read(0, &mut work[pos..]).unwrap();
            pos += r.consumed;
            match r.event {
                Some(Event::Data(c)) => {
                    debug_assert!(c.message_finished);
                    black_box(c.data);
                }
                other => panic!("{other:?}"),
            }
        }
        total += t.elapsed();
        done += n;
    }
    total
}

/// The floor's work on the same bytes.
fn floor_in_place(
    kind: Kind,
    masked: bool,
    pool: &FramePool,
    work: &mut [u8],
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        work.copy_from_slice(&pool.bytes);
        let n = (iters - done).min(pool.frames.len() as u64) as usize;
        let t = Instant::now();
        for f in &pool.frames[..n] {
            let p = &mut work[f.payload..f.payload + f.len];
            match (kind, masked) {
                (Kind::Text, true) => assert!(floor::unmask_validate(p, f.key.unwrap())),
                (Kind::Binary, true) => floor::mask(p, f.key.unwrap()),
                (Kind::Text, false) => assert!(simdutf8::basic::from_utf8(p).is_ok()),
                (Kind::Binary, false) => {}
            }
            black_box(&*p);
        }
        total += t.elapsed();
        done += n as u64;
    }
    total
}

/// A read buffer fed from a `MemSocket`, kept across Criterion's calls.
pub struct Reader {
    rb: ReadBuf,
}

impl Reader {
    /// An empty 64 KiB read buffer.
    pub fn new() -> Reader {
        Reader {
            rb: ReadBuf::new(READ_BUF),
        }
    }

    /// Reads and decodes until `iters` messages have finished.
    pub fn run(&mut self, conn: &mut Connection, sock: &mut MemSocket<'_>, iters: u64) -> Duration {
        let t = Instant::now();
        let mut msgs = 0u64;
        while msgs < iters {
            // Field borrows (not `unread()`): the event borrows `buf` while `start` moves on.
            let rb = &mut self.rb;
            let r = conn.read(0, &mut rb.buf[rb.start..rb.filled]).unwrap();
            rb.start += r.consumed;
            match r.event {
                Some(Event::Data(c)) => {
                    black_box(c.data);
                    msgs += u64::from(c.message_finished);
                }
                // Out of complete input: keep the leftover, read more behind it.
                None => self.rb.refill(sock),
                Some(other) => panic!("{other:?}"),
            }
        }
        t.elapsed()
    }
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

fn decode(c: &mut Criterion) {
    for (group, kind, masked) in [
        ("server_decode_text", Kind::Text, true),
        ("server_decode_binary", Kind::Binary, true),
        ("client_decode_text", Kind::Text, false),
        ("client_decode_binary", Kind::Binary, false),
    ] {
        let role = if masked { Role::Server } else { Role::Client };
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = FramePool::new(kind, size, masked, 1);
            let mut work = pool.bytes.clone();
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("wsmachine", size), &size, |b, _| {
                let mut cn = conn(role);
                b.iter_custom(|iters| wsmachine_in_place(&mut cn, &pool, &mut work, iters));
            });
            if kind == Kind::Text || masked {
                g.bench_with_input(BenchmarkId::new("floor", size), &size, |b, _| {
                    b.iter_custom(|iters| floor_in_place(kind, masked, &pool, &mut work, iters));
                });
            }
            g.bench_with_input(BenchmarkId::new("floor_io", size), &size, |b, _| {
                let mut buf = vec![0u8; size + 14];
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let f = pool.frames[i];
                        let frame = &pool.bytes[f.start..f.payload + f.len];
                        buf[..frame.len()].copy_from_slice(frame);
                        let p = &mut buf[f.payload - f.start..frame.len()];
                        match (kind, masked) {
                            (Kind::Text, true) => {
                                assert!(floor::unmask_validate(p, f.key.unwrap()))
                            }
                            (Kind::Binary, true) => floor::mask(p, f.key.unwrap()),
                            (Kind::Text, false) => assert!(simdutf8::basic::from_utf8(p).is_ok()),
                            (Kind::Binary, false) => {}
                        }
                        black_box(&*p);
                        i = (i + 1) % pool.frames.len();
                    }
                    t.elapsed()
                });
            });
            g.bench_with_input(BenchmarkId::new("wsmachine_io", size), &size, |b, _| {
                let mut cn = conn(role);
                let mut sock = MemSocket::new(&pool.bytes, 0);
                let mut rd = Reader::new();
                b.iter_custom(|iters| rd.run(&mut cn, &mut sock, iters));
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = wsmachine_benches::criterion();
    targets = decode
}
criterion_main!(benches);
