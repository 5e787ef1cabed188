//! Deterministic workload generation: pools of payloads, frames and handshake requests. The
//! generator, the text and the frame encoding come from `wsmachine-test-support` (the tests' own
//! codec, independent of wsmachine); everything is built before timing starts.

use wsmachine_test_support::codec::{put_frame, LengthForm, FIN};
use wsmachine_test_support::text::chat_text;

pub use wsmachine_test_support::rng::SplitMix;

/// Payload sizes of every frame workload.
pub const SIZES: [usize; 6] = [16, 125, 1024, 16 << 10, 64 << 10, 1 << 20];

/// Target total bytes of a pool of distinct messages (at least [`MIN_POOL`] messages, at most
/// [`MAX_POOL`]).
pub const POOL_BYTES: usize = 2 << 20;
/// Fewest distinct messages in a pool.
pub const MIN_POOL: usize = 4;
/// Most distinct messages in a pool.
pub const MAX_POOL: usize = 1024;

/// Number of distinct messages in the pool for `size`-byte payloads.
pub fn pool_len(size: usize) -> usize {
    (POOL_BYTES / size.max(1)).clamp(MIN_POOL, MAX_POOL)
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// Text or binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Opcode 0x1.
    Text,
    /// Opcode 0x2.
    Binary,
}

/// A pool of distinct payloads of one size.
pub fn payloads(kind: Kind, size: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = SplitMix(seed ^ (size as u64).wrapping_mul(0x1234_5678_9ABC_DEF1));
    (0..pool_len(size))
        .map(|_| match kind {
            Kind::Text => chat_text(&mut rng, size).into_bytes(),
            Kind::Binary => rng.bytes(size),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/// Where one frame's payload sits in a [`FramePool`].
#[derive(Clone, Copy, Debug)]
pub struct FrameRef {
    /// Offset of the frame (its header) in `FramePool::bytes`.
    pub start: usize,
    /// Offset of the payload.
    pub payload: usize,
    /// Payload length.
    pub len: usize,
    /// Masking key (masked frames).
    pub key: Option<[u8; 4]>,
}

/// Distinct single-frame (FIN) messages, concatenated as they would arrive on the wire.
#[derive(Clone, Debug)]
pub struct FramePool {
    /// The frames, back to back.
    pub bytes: Vec<u8>,
    /// Each frame's position.
    pub frames: Vec<FrameRef>,
    /// The plain payloads (unmasked), one per frame.
    pub payloads: Vec<Vec<u8>>,
}

impl FramePool {
    /// A pool of `pool_len(size)` distinct FIN frames of `kind`, masked with distinct random
    /// keys when `masked`.
    pub fn new(kind: Kind, size: usize, masked: bool, seed: u64) -> FramePool {
        let payloads = payloads(kind, size, seed);
        let mut rng = SplitMix(seed.wrapping_add(77));
        let mut bytes = Vec::with_capacity(payloads.len() * (size + 14));
        let mut frames = Vec::with_capacity(payloads.len());
        let opcode = match kind {
            Kind::Text => 1,
            Kind::Binary => 2,
        };
        for p in &payloads {
            let start = bytes.len();
            let key = masked.then(|| rng.key());
            put_frame(&mut bytes, FIN | opcode, p, key, LengthForm::Minimal);
            let payload = bytes.len() - p.len();
            frames.push(FrameRef {
                start,
                payload,
                len: p.len(),
                key,
            });
        }
        FramePool {
            bytes,
            frames,
            payloads,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake requests
// ---------------------------------------------------------------------------------------------

/// A realistic browser upgrade request (Chrome's 13 headers plus a subprotocol offer: 14),
/// with a distinct key and cookie per request.
pub fn browser_request(rng: &mut SplitMix) -> Vec<u8> {
    let mut key = [0u8; 16];
    rng.fill(&mut key);
    let key = base64(&key);
    let session = rng.next_u64();
    format!(
        "GET /chat?room={room} HTTP/1.1\r\n\
         Host: chat.example.com\r\n\
         Connection: Upgrade\r\n\
         Pragma: no-cache\r\n\
         Cache-Control: no-cache\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
         Upgrade: websocket\r\n\
         Origin: https://chat.example.com\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
         Cookie: session={session:016x}; theme=dark; _ga=GA1.2.{ga}.1712345678\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\n\
         \r\n",
        room = rng.below(1000),
        ga = rng.next_u64() % 1_000_000_000,
    )
    .into_bytes()
}

/// Number of distinct handshake requests in the pool.
pub const HANDSHAKE_POOL: usize = 256;

/// The handshake request pool.
pub fn browser_requests() -> Vec<Vec<u8>> {
    let mut rng = SplitMix(0x005E_ED0F_4A5D);
    (0..HANDSHAKE_POOL)
        .map(|_| browser_request(&mut rng))
        .collect()
}

/// Standard base64 with padding (for generating keys only).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        s.push(A[(n >> 18) as usize & 63] as char);
        s.push(A[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}
