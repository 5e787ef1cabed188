//! Shared workloads for the wsmachine benchmarks (`benches/benches/*.rs`).
//!
//! Everything a benchmark measures is generated here, deterministically, before timing starts:
//! pools of distinct payloads and frames (a repeated payload would flatter branchy code), the
//! handshake requests, the in-memory "socket" the peers are driven over, the floor kernels
//! (the fastest masking loop we can write, with `std::arch` AVX2 when the CPU has it, and
//! unmask+`simdutf8` fused per cache-sized block) and the Criterion configuration.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::Criterion;

/// The Criterion configuration for every group. Tuned so that the whole `make bench` run stays
/// under ten minutes on a 2-core machine; `WSMB_WARMUP_MS`, `WSMB_MEASURE_MS` and
/// `WSMB_SAMPLES` override it.
pub fn criterion() -> Criterion {
    fn env(name: &str, default: u64) -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
    Criterion::default()
        .warm_up_time(Duration::from_millis(env("WSMB_WARMUP_MS", 300)))
        .measurement_time(Duration::from_millis(env("WSMB_MEASURE_MS", 700)))
        .sample_size(env("WSMB_SAMPLES", 40) as usize)
        .nresamples(5_000)
        .without_plots()
        .configure_from_args()
}

mod gen;
pub use gen::*;

// ---------------------------------------------------------------------------------------------
// The in-memory transport
// ---------------------------------------------------------------------------------------------

/// An in-memory socket: reads cycle endlessly through a byte stream of whole frames (so the
/// stream never ends and always restarts at a frame boundary); writes are copied into a
/// reusable buffer (standing in for the kernel's copy out of user space) and dropped.
///
/// Every engine's "transport" variant is driven over this same type, so each pays exactly one
/// copy in (the socket read) and one copy out (the socket write) on top of its own work.
#[derive(Debug)]
pub struct MemSocket<'a> {
    input: &'a [u8],
    pos: usize,
    sink: Vec<u8>,
    sink_len: usize,
    /// Bytes written so far.
    pub written: u64,
}

impl<'a> MemSocket<'a> {
    /// A socket that reads `input` over and over and accepts any writes.
    pub fn new(input: &'a [u8], max_write: usize) -> MemSocket<'a> {
        MemSocket {
            input,
            pos: 0,
            sink: vec![0u8; max_write.max(256 << 10)],
            sink_len: 0,
            written: 0,
        }
    }

    /// Copies up to `buf.len()` bytes of input (never across the end of the input, like a
    /// socket read returning what one segment holds).
    #[inline]
    pub fn read_into(&mut self, buf: &mut [u8]) -> usize {
        if self.input.is_empty() {
            return 0;
        }
        if self.pos == self.input.len() {
            self.pos = 0;
        }
        let n = buf.len().min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    /// Copies `data` into the sink.
    #[inline]
    pub fn write_from(&mut self, data: &[u8]) -> usize {
        if self.sink_len + data.len() > self.sink.len() {
            self.sink_len = 0;
        }
        let n = data.len().min(self.sink.len());
        self.sink[self.sink_len..self.sink_len + n].copy_from_slice(&data[..n]);
        self.sink_len += n;
        self.written += n as u64;
        n
    }
}

impl io::Read for MemSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(buf))
    }
}

impl io::Write for MemSocket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.write_from(buf))
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|b| self.write_from(b)).sum())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for MemSocket<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = this.read_into(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for MemSocket<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().write_from(buf)))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Poll::Ready(Ok(bufs.iter().map(|b| this.write_from(b)).sum()))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A stream for one server handshake: reads yield the request once, then `WouldBlock`;
/// writes are copied into a buffer (the response).
#[derive(Debug)]
pub struct HandshakeStream<'a> {
    req: &'a [u8],
    pos: usize,
    /// The response written so far.
    pub out: Vec<u8>,
}

impl<'a> HandshakeStream<'a> {
    /// A stream that will deliver `req`.
    pub fn new(req: &'a [u8]) -> HandshakeStream<'a> {
        HandshakeStream {
            req,
            pos: 0,
            out: Vec::with_capacity(256),
        }
    }
}

impl io::Read for HandshakeStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.req.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.req.len() - self.pos);
        buf[..n].copy_from_slice(&self.req[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl io::Write for HandshakeStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streaming UTF-8 validation for engines that hand text over unvalidated (the application
/// must validate it; RFC 6455 §8.1): `simdutf8` on each chunk, carrying a code point split
/// between chunks.
#[derive(Clone, Debug, Default)]
pub struct StreamUtf8 {
    carry: [u8; 4],
    n: usize,
}

fn seq_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

impl StreamUtf8 {
    /// Validates the next chunk; `false` on invalid text.
    pub fn feed(&mut self, mut chunk: &[u8]) -> bool {
        if self.n > 0 {
            let want = seq_len(self.carry[0]);
            let take = (want - self.n).min(chunk.len());
            self.carry[self.n..self.n + take].copy_from_slice(&chunk[..take]);
            self.n += take;
            chunk = &chunk[take..];
            if self.n < want {
                return true;
            }
            if std::str::from_utf8(&self.carry[..want]).is_err() {
                return false;
            }
            self.n = 0;
        }
        if simdutf8::basic::from_utf8(chunk).is_ok() {
            return true;
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.n = tail.len();
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the text so far ends on a code-point boundary.
    pub fn complete(&self) -> bool {
        self.n == 0
    }
}

/// A deterministic `rand_core` generator for engines that take one (embedded-websocket's
/// client masks).
#[derive(Clone, Debug)]
pub struct BenchRng(pub SplitMix);

impl rand_core::RngCore for BenchRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// The decode workloads: (group, kind, masked).
pub const DECODE_GROUPS: [(&str, Kind, bool); 4] = [
    ("server_decode_text", Kind::Text, true),
    ("server_decode_binary", Kind::Binary, true),
    ("client_decode_text", Kind::Text, false),
    ("client_decode_binary", Kind::Binary, false),
];

/// The encode workloads: (group, client).
pub const ENCODE_GROUPS: [(&str, bool); 2] = [("server_encode", false), ("client_encode", true)];

/// Read buffer size of the wsmachine "transport" variants (a typical socket read buffer).
pub const READ_BUF: usize = 64 << 10;

/// A read buffer fed from a [`MemSocket`], as an engine's socket loop keeps one: unread bytes
/// in `buf[start..filled]`; `refill` moves the leftover to the front and reads behind it. The
/// one refill every socket-fed decode loop (wsmachine's and the peers') uses.
pub struct ReadBuf {
    /// The buffer.
    pub buf: Vec<u8>,
    /// First unread byte.
    pub start: usize,
    /// End of the bytes read so far.
    pub filled: usize,
}

impl ReadBuf {
    /// An empty buffer of `len` bytes.
    pub fn new(len: usize) -> ReadBuf {
        ReadBuf {
            buf: vec![0u8; len],
            start: 0,
            filled: 0,
        }
    }

    /// The unread bytes.
    #[inline]
    pub fn unread(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.filled]
    }

    /// Keeps the leftover at the front and reads more behind it.
    #[inline]
    pub fn refill(&mut self, sock: &mut MemSocket<'_>) {
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        self.filled += sock.read_into(&mut self.buf[self.filled..]);
    }
}

// ---------------------------------------------------------------------------------------------
// The floor
// ---------------------------------------------------------------------------------------------

pub mod floor;
