//! permessage-deflate (RFC 7692) through the connection: compressed decode (read + inflate)
//! and encode (`send_compressed`), text-like payloads (the chat-text pool), 1 KiB, 16 KiB and
//! 1 MiB, with context takeover on and off (the codecs reset after each message when off).
//!
//! Groups: `deflate_decode_takeover`, `deflate_decode_no_takeover` (a server decoding masked
//! compressed text frames), `deflate_encode_takeover`, `deflate_encode_no_takeover` (a server
//! sending compressed text). Throughput is counted in uncompressed message bytes.
//!
//! Subjects:
//! * `wsmachine` — the caller-memory codecs (`Inflater`, `Deflater` at level 6, 15-bit
//!   windows): `Connection::read` on the frames in the caller's buffer, then
//!   `Connection::inflate` into a 64 KiB buffer until the message is done (UTF-8 validated as it
//!   streams, size limit checked); `Connection::send_compressed` into the caller's buffer.
//! * `wsmachine_zlib` — the same calls with the zlib-rs backend (`ZlibInflater`,
//!   `ZlibDeflater` level 6).
//! * `flate2` — the peer baseline: flate2 (zlib-rs) raw deflate plus the framing work by hand:
//!   decode parses the header, unmasks (the AVX2 floor kernel), inflates payload + tail into the
//!   same 64 KiB buffer and validates the text (streaming simdutf8); encode compresses with a
//!   sync flush, drops the tail and writes the header. No WebSocket library on crates.io
//!   has a permessage-deflate that builds: tungstenite 0.30 has no `deflate` feature (its
//!   implementation was reverted upstream; the forks that carry one are git-only), so this is
//!   the work such a peer does at best.
//!
//! Decode frames are made once by flate2 (level 6, 15 bits; one stream per pool with context
//! takeover), so every decoder reads the same bytes. Bytes on the wire per message (frame
//! header included) are written to `$CARGO_TARGET_TMPDIR/deflate-wire.json` for
//! `benches/scripts/report.py`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use wsmachine::deflate::{
    deflater_memory, DeflateConfig, Deflater, Inflater, Params, ZlibDeflater, ZlibInflater, TAIL,
};
use wsmachine::{Config, Connection, Event, MessageKind, Role};
use wsmachine_benches::{floor, payloads, Kind, SplitMix, StreamUtf8};
use wsmachine_test_support::codec::{parse_header, put_frame, LengthForm};

const SIZES: [usize; 3] = [1 << 10, 16 << 10, 1 << 20];
const BITS: u8 = 15;
const LEVEL: u8 = 6;
/// The inflate output buffer (a typical application buffer; 1 MiB messages stream through it).
const OUT: usize = 64 << 10;

fn params(takeover: bool) -> Params {
    Params {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: BITS,
        client_max_window_bits: BITS,
    }
}

fn conn(takeover: bool) -> Connection {
    let mut c = Config::new();
    c.max_frame_payload = u64::MAX;
    c.max_message_size = u64::MAX;
    c.deflate = Some(DeflateConfig::new());
    let mut conn = Connection::new_open(Role::Server, c, 0, [7; 16]).unwrap();
    conn.set_deflate(Some(params(takeover))).unwrap();
    conn
}

/// flate2's raw deflate of one message as RFC 7692 wants it (sync flush, tail removed).
fn flate2_compress(z: &mut Compress, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let before = z.total_in();
    loop {
        let taken = (z.total_in() - before) as usize;
        out.reserve(data.len() / 2 + 1024);
        z.compress_vec(&data[taken..], out, FlushCompress::Sync)
            .unwrap();
        if (z.total_in() - before) as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.is_empty() {
        out.push(0);
    } else {
        debug_assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - TAIL.len());
    }
}

/// The peer's compressed, masked frames for one pool, back to back; their offsets.
struct Frames {
    bytes: Vec<u8>,
    /// (frame start, payload start, payload length, masking key) per message.
    frames: Vec<(usize, usize, usize, [u8; 4])>,
}

fn client_frames(pool: &[Vec<u8>], takeover: bool) -> Frames {
    let mut z = Compress::new_with_window_bits(Compression::new(u32::from(LEVEL)), false, BITS);
    let mut rng = SplitMix(11);
    let mut bytes = Vec::new();
    let mut frames = Vec::new();
    let mut c = Vec::new();
    for m in pool {
        flate2_compress(&mut z, m, &mut c);
        if !takeover {
            z.reset();
        }
        let key = rng.key();
        let start = bytes.len();
        // FIN + RSV1 + text.
        put_frame(&mut bytes, 0xC1, &c, Some(key), LengthForm::Minimal);
        frames.push((start, bytes.len() - c.len(), c.len(), key));
    }
    Frames { bytes, frames }
}

/// Decodes `iters` messages with the connection and `d`, in place, restoring the frames from
/// `f` between passes (outside the timing).
fn decode_conn<D: wsmachine::deflate::Decompress>(
    conn: &mut Connection,
    d: &mut D,
    f: &Frames,
    work: &mut [u8],
    out: &mut [u8],
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        work.copy_from_slice(&f.bytes);
        let n = (iters - done).min(f.frames.len() as u64);
        let t = Instant::now();
        let mut pos = 0usize;
        for _ in 0..n {
            let r = conn.read(0, &mut work[pos..]).unwrap();
            pos += r.consumed;
            let Some(Event::Data(chunk)) = r.event else {
                panic!("a data chunk");
            };
            debug_assert!(chunk.compressed && chunk.message_finished);
            let mut input = chunk.data;
            loop {
                let i = conn.inflate(0, d, &chunk, input, out).unwrap();
                debug_assert!(i.failed.is_none());
                black_box(&out[..i.produced]);
                input = &input[i.consumed..];
                if i.done {
                    break;
                }
            }
        }
        total += t.elapsed();
        done += n;
    }
    total
}

/// The peer baseline: header, unmask, flate2 inflate of payload + tail, streaming UTF-8.
fn decode_flate2(
    z: &mut Decompress,
    takeover: bool,
    f: &Frames,
    work: &mut [u8],
    out: &mut [u8],
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        work.copy_from_slice(&f.bytes);
        let n = (iters - done).min(f.frames.len() as u64);
        let t = Instant::now();
        let mut pos = 0usize;
        for _ in 0..n {
            let h = parse_header(&work[pos..]).unwrap();
            let start = pos + h.size;
            let end = start + h.len as usize;
            floor::mask(&mut work[start..end], h.mask.unwrap());
            let mut utf8 = StreamUtf8::default();
            for input in [&work[start..end], &TAIL[..]] {
                let mut input = input;
                loop {
                    let (i0, o0) = (z.total_in(), z.total_out());
                    z.decompress(input, out, FlushDecompress::Sync).unwrap();
                    let used = (z.total_in() - i0) as usize;
                    let made = (z.total_out() - o0) as usize;
                    assert!(utf8.feed(&out[..made]));
                    black_box(&out[..made]);
                    input = &input[used..];
                    if input.is_empty() && made < out.len() {
                        break;
                    }
                }
            }
            assert!(utf8.complete());
            if !takeover {
                z.reset(false);
            }
            pos = end;
        }
        total += t.elapsed();
        done += n;
    }
    total
}

fn group_name(dir: &str, takeover: bool) -> String {
    format!(
        "deflate_{dir}_{}",
        if takeover { "takeover" } else { "no_takeover" }
    )
}

fn decode(c: &mut Criterion, wire: &mut BTreeMap<String, f64>) {
    for takeover in [true, false] {
        let group = group_name("decode", takeover);
        let mut g = c.benchmark_group(&group);
        for size in SIZES {
            let pool = payloads(Kind::Text, size, 3);
            let f = client_frames(&pool, takeover);
            let per_msg = f.bytes.len() as f64 / f.frames.len() as f64;
            let mut work = f.bytes.clone();
            let mut out = vec![0u8; OUT];
            g.throughput(Throughput::Bytes(size as u64));
            for subject in ["wsmachine", "wsmachine_zlib", "flate2"] {
                wire.insert(format!("{group}/{subject}/{size}"), per_msg);
            }
            g.bench_with_input(BenchmarkId::new("wsmachine", size), &size, |b, _| {
                let mut cn = conn(takeover);
                let mut d = Inflater::new(vec![0u8; 1 << BITS], BITS).unwrap();
                b.iter_custom(|iters| decode_conn(&mut cn, &mut d, &f, &mut work, &mut out, iters));
            });
            g.bench_with_input(BenchmarkId::new("wsmachine_zlib", size), &size, |b, _| {
                let mut cn = conn(takeover);
                let mut d = ZlibInflater::new(BITS);
                b.iter_custom(|iters| decode_conn(&mut cn, &mut d, &f, &mut work, &mut out, iters));
            });
            g.bench_with_input(BenchmarkId::new("flate2", size), &size, |b, _| {
                let mut z = Decompress::new_with_window_bits(false, BITS);
                b.iter_custom(|iters| {
                    decode_flate2(&mut z, takeover, &f, &mut work, &mut out, iters)
                });
            });
        }
        g.finish();
    }
}

/// Encodes `iters` messages from `pool` with the connection and `c`; the bytes written.
fn encode_conn<C: wsmachine::deflate::Compress>(
    conn: &mut Connection,
    c: &mut C,
    pool: &[Vec<u8>],
    out: &mut [u8],
    iters: u64,
    next: &mut usize,
) -> (Duration, u64) {
    let mut bytes = 0u64;
    let t = Instant::now();
    for _ in 0..iters {
        let n = conn
            .send_compressed(MessageKind::Text, &pool[*next], c, out)
            .unwrap();
        black_box(&out[..n]);
        bytes += n as u64;
        *next = (*next + 1) % pool.len();
    }
    (t.elapsed(), bytes)
}

/// The peer baseline: flate2 raw deflate with a sync flush, tail dropped, header in front.
fn encode_flate2(
    z: &mut Compress,
    takeover: bool,
    pool: &[Vec<u8>],
    scratch: &mut Vec<u8>,
    out: &mut [u8],
    iters: u64,
    next: &mut usize,
) -> (Duration, u64) {
    let mut bytes = 0u64;
    let t = Instant::now();
    for _ in 0..iters {
        flate2_compress(z, &pool[*next], scratch);
        if !takeover {
            z.reset();
        }
        let len = scratch.len();
        out[0] = 0xC1;
        let h = if len < 126 {
            out[1] = len as u8;
            2
        } else if len <= 0xFFFF {
            out[1] = 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        } else {
            out[1] = 127;
            out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        out[h..h + len].copy_from_slice(scratch);
        black_box(&out[..h + len]);
        bytes += (h + len) as u64;
        *next = (*next + 1) % pool.len();
    }
    (t.elapsed(), bytes)
}

fn encode(c: &mut Criterion, wire: &mut BTreeMap<String, f64>) {
    for takeover in [true, false] {
        let group = group_name("encode", takeover);
        let mut g = c.benchmark_group(&group);
        for size in SIZES {
            let pool: Vec<Vec<u8>> = payloads(Kind::Text, size, 5);
            let mut out = vec![0u8; 2 * size + 4096];
            g.throughput(Throughput::Bytes(size as u64));
            // Bytes on the wire: one pass over the pool with fresh codecs (setup, untimed).
            let mut mem = vec![0u8; deflater_memory(BITS, LEVEL)];
            let pass = pool.len() as u64;
            {
                let mut i = 0;
                let mut d = Deflater::new(&mut mem[..], BITS, LEVEL).unwrap();
                let (_, n) =
                    encode_conn(&mut conn(takeover), &mut d, &pool, &mut out, pass, &mut i);
                wire.insert(format!("{group}/wsmachine/{size}"), n as f64 / pass as f64);
                let mut z = ZlibDeflater::new(BITS, u32::from(LEVEL)).unwrap();
                let (_, n) =
                    encode_conn(&mut conn(takeover), &mut z, &pool, &mut out, pass, &mut i);
                wire.insert(
                    format!("{group}/wsmachine_zlib/{size}"),
                    n as f64 / pass as f64,
                );
                let mut z =
                    Compress::new_with_window_bits(Compression::new(u32::from(LEVEL)), false, BITS);
                let mut s = Vec::new();
                let (_, n) = encode_flate2(&mut z, takeover, &pool, &mut s, &mut out, pass, &mut i);
                wire.insert(format!("{group}/flate2/{size}"), n as f64 / pass as f64);
            }
            g.bench_with_input(BenchmarkId::new("wsmachine", size), &size, |b, _| {
                let mut cn = conn(takeover);
                let mut d = Deflater::new(&mut mem[..], BITS, LEVEL).unwrap();
                let mut i = 0;
                b.iter_custom(|iters| {
                    encode_conn(&mut cn, &mut d, &pool, &mut out, iters, &mut i).0
                });
            });
            g.bench_with_input(BenchmarkId::new("wsmachine_zlib", size), &size, |b, _| {
                let mut cn = conn(takeover);
                let mut z = ZlibDeflater::new(BITS, u32::from(LEVEL)).unwrap();
                let mut i = 0;
                b.iter_custom(|iters| {
                    encode_conn(&mut cn, &mut z, &pool, &mut out, iters, &mut i).0
                });
            });
            g.bench_with_input(BenchmarkId::new("flate2", size), &size, |b, _| {
                let mut z =
                    Compress::new_with_window_bits(Compression::new(u32::from(LEVEL)), false, BITS);
                let mut s = Vec::with_capacity(size + 1024);
                let mut i = 0;
                b.iter_custom(|iters| {
                    encode_flate2(&mut z, takeover, &pool, &mut s, &mut out, iters, &mut i).0
                });
            });
        }
        g.finish();
    }
}

fn bench(c: &mut Criterion) {
    let mut wire = BTreeMap::new();
    decode(c, &mut wire);
    encode(c, &mut wire);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("deflate-wire.json");
    let body: Vec<String> = wire
        .iter()
        .map(|(k, v)| format!("  \"{k}\": {v:.1}"))
        .collect();
    std::fs::write(&path, format!("{{\n{}\n}}\n", body.join(",\n"))).unwrap();
}

criterion_group! {
    name = benches;
    config = wsmachine_benches::criterion();
    targets = bench
}
criterion_main!(benches);
