//! Deterministic workload generation (no dependencies, shared with ad-hoc harnesses).

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
// Deterministic randomness
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a small, fast, deterministic generator for test data (not for masks on the
/// wire: wsmachine derives its own; the peers use theirs).
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }

    /// Four random bytes.
    pub fn key(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_le_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// Words of realistic chat-like text: mostly English (ASCII), with accented Latin (2-byte),
/// Greek and Cyrillic (2-byte), CJK and typographic punctuation (3-byte) and emoji (4-byte).
/// About 80 % of the bytes of a generated text are ASCII.
const WORDS: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "message",
    "server",
    "client",
    "hello",
    "world",
    "websocket",
    "frame",
    "latency",
    "throughput",
    "connection",
    "price",
    "update",
    "order",
    "filled",
    "ticker",
    "BTC-USD",
    "12345.67",
    "{\"id\":42,",
    "\"ok\":true}",
    "and",
    "with",
    "from",
    "that",
    "this",
    "have",
    "will",
    "user",
    "room",
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "São Paulo",
    "señor",
    "straße",
    "Ærø",
    "Kraków",
    "καλημέρα",
    "κόσμε",
    "привет",
    "мир",
    "日本語",
    "東京",
    "中文",
    "한국어",
    "“quoted”",
    "…",
    "€42",
    "😀",
    "🚀",
    "👍🏽",
    "ok",
];

/// A valid UTF-8 text of exactly `len` bytes: words of [`WORDS`] separated by spaces, padded
/// with ASCII when the next word would not fit.
pub fn text_payload(rng: &mut SplitMix, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let w = WORDS[rng.below(WORDS.len())].as_bytes();
        if out.len() + w.len() < len {
            out.extend_from_slice(w);
            out.push(b' ');
        } else {
            while out.len() < len {
                out.push(b'a' + (rng.below(26) as u8));
            }
        }
    }
    debug_assert!(std::str::from_utf8(&out).is_ok());
    out
}

/// `len` random bytes.
pub fn binary_payload(rng: &mut SplitMix, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

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
            Kind::Text => text_payload(&mut rng, size),
            Kind::Binary => binary_payload(&mut rng, size),
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

/// Writes a frame header (minimal length encoding) into `out`.
pub fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize, key: Option<[u8; 4]>) {
    let m = if key.is_some() { 0x80 } else { 0 };
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(k) = key {
        out.extend_from_slice(&k);
    }
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
            put_header(&mut bytes, opcode, p.len(), key);
            let payload = bytes.len();
            bytes.extend_from_slice(p);
            if let Some(k) = key {
                for (i, b) in bytes[payload..].iter_mut().enumerate() {
                    *b ^= k[i & 3];
                }
            }
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
