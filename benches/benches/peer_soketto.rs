//! Peer: soketto 0.8's `base::Codec` — a bare frame codec (header encode/decode and masking,
//! no connection state, no text validation, no limits beyond a maximum payload size): the
//! floor of what a Rust WebSocket engine's framing costs.
//!
//! How it is driven:
//! * decode — the same `MemSocket` and 64 KiB read buffer as wsmachine's `wsmachine_io`
//!   variant; `decode_header` on the unread bytes, then the payload is unmasked in place with
//!   `Codec::apply_mask` when the header says so. soketto's base codec does not validate
//!   text, so for the text workloads the application validates each payload with simdutf8, as
//!   an RFC-conforming application must (RFC 6455 §8.1).
//! * encode — `encode_header` for a FIN binary frame (clients: `set_masked` with a fresh key
//!   from SplitMix64, cheaper than the peers' `rand` generators), the header copied into a
//!   buffer, then the payload copied after it (masked by a client with `apply_mask`), then the
//!   frame written to `MemSocket` — the same one copy out as the other engines.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use soketto::base::{Codec, Header, OpCode};
use soketto::Parsing;
use wsmachine_benches::{
    payloads, FramePool, Kind, MemSocket, ReadBuf, SplitMix, StreamUtf8, DECODE_GROUPS,
    ENCODE_GROUPS, READ_BUF, SIZES,
};

struct Reader {
    rb: ReadBuf,
    utf8: StreamUtf8,
}

impl Reader {
    fn run(
        &mut self,
        codec: &Codec,
        sock: &mut MemSocket<'_>,
        text: bool,
        iters: u64,
    ) -> std::time::Duration {
        let t = Instant::now();
        let mut msgs = 0u64;
        while msgs < iters {
            match codec.decode_header(self.rb.unread()) {
                Ok(Parsing::Done {
                    value: header,
                    offset,
                }) => {
                    let len = header.payload_len();
                    let from = self.rb.start + offset;
                    if from + len > self.rb.filled {
                        self.rb.refill(sock);
                        continue;
                    }
                    assert!(header.is_fin() && header.opcode() == OpCode::Binary || text);
                    let data = &mut self.rb.buf[from..from + len];
                    if header.is_masked() {
                        Codec::apply_mask(&header, data);
                    }
                    if text {
                        assert!(self.utf8.feed(data) && self.utf8.complete());
                    }
                    black_box(&*data);
                    self.rb.start = from + len;
                    msgs += 1;
                }
                Ok(Parsing::NeedMore(_)) => self.rb.refill(sock),
                Err(e) => panic!("{e:?}"),
            }
        }
        t.elapsed()
    }
}

fn bench(c: &mut Criterion) {
    for (group, kind, masked) in DECODE_GROUPS {
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = FramePool::new(kind, size, masked, 1);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("soketto", size), &size, |b, _| {
                let mut codec = Codec::new();
                codec.set_max_data_size(usize::MAX);
                let mut sock = MemSocket::new(&pool.bytes, 1 << 10);
                let mut rd = Reader {
                    rb: ReadBuf::new(READ_BUF.max(size + 14)),
                    utf8: StreamUtf8::default(),
                };
                b.iter_custom(|iters| rd.run(&codec, &mut sock, kind == Kind::Text, iters));
            });
        }
        g.finish();
    }

    for (group, client) in ENCODE_GROUPS {
        let mut g = c.benchmark_group(group);
        for size in SIZES {
            let pool = payloads(Kind::Binary, size, 2);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new("soketto", size), &size, |b, _| {
                let mut codec = Codec::new();
                let mut rng = SplitMix(3);
                let mut sock = MemSocket::new(&[], size + 14);
                let mut out = vec![0u8; size + 14];
                let mut i = 0usize;
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        let p = &pool[i];
                        let mut header = Header::new(OpCode::Binary);
                        header.set_fin(true);
                        header.set_payload_len(p.len());
                        if client {
                            header.set_masked(true);
                            header.set_mask(u32::from_le_bytes(rng.key()));
                        }
                        let head = codec.encode_header(&header);
                        let h = head.len();
                        out[..h].copy_from_slice(head);
                        let body = &mut out[h..h + p.len()];
                        body.copy_from_slice(p);
                        if client {
                            Codec::apply_mask(&header, body);
                        }
                        sock.write_from(&out[..h + p.len()]);
                        i = (i + 1) % pool.len();
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
    targets = bench
}
criterion_main!(benches);
