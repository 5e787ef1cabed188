//! Limits and options.

/// Limits and options of a [`Connection`](crate::Connection).
///
/// Every limit has a default (below) and produces a defined outcome when crossed:
///
/// | field | default | when crossed |
/// |---|---|---|
/// | `max_frame_payload` | 16 MiB | close 1009 (`FrameTooLarge`) as soon as the header arrives |
/// | `max_message_size` | 16 MiB | close 1009 (`MessageTooLarge`) as soon as a header would exceed it |
/// | `max_fragments` | 65 536 | close 1009 (`TooManyFragments`) |
/// | `max_handshake_size` | 8 KiB | server: 431 response; client: handshake error |
/// | `handshake_timeout_ms` | 10 000 (on) | server: 408 response; client: connection closed (1006) |
/// | `auth_timeout_ms` | 0 (off) | close 1008 unless [`Connection::set_authenticated`](crate::Connection::set_authenticated) was called |
/// | `keepalive_interval_ms` | 0 (off) | a ping after this long without input |
/// | `keepalive_timeout_ms` | 10 000 | with keepalive on: no input this long after our ping → closed, 1006 |
/// | `close_timeout_ms` | 5 000 (on) | no close reply (or, for a client, no TCP close by the server) → closed |
///
/// Memory use never depends on these: payload streams through the caller's buffer. They bound
/// what an application that assembles messages must hold, and how long a peer may stall.
/// A value of `u64::MAX` (sizes) or `u32::MAX` (fragments) means "no limit".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload accepted in one frame, in bytes.
    pub max_frame_payload: u64,
    /// Largest message accepted (sum of its frames' payloads), in bytes.
    pub max_message_size: u64,
    /// Most frames one message may span (an unfragmented message is one).
    pub max_fragments: u32,
    /// Largest opening-handshake head (request or response line plus headers), in bytes.
    pub max_handshake_size: usize,
    /// Answer pings with a pong automatically (the pong carries the ping's payload; when
    /// several pings arrive before the pong is sent, only the latest is answered, as RFC 6455
    /// §5.5.3 allows). To answer every ping, call `poll_transmit` after each `read` that
    /// returns an event, not only after the whole read loop.
    pub auto_pong: bool,
    /// Milliseconds from creation by which the handshake must finish (server: the request
    /// must arrive and the application must accept or reject it). 0 disables.
    pub handshake_timeout_ms: u32,
    /// Server only: milliseconds after `accept` by which the application must call
    /// `set_authenticated` (first-message authentication), else close 1008. 0 disables.
    pub auth_timeout_ms: u32,
    /// Send a ping after this many milliseconds without input. 0 disables.
    pub keepalive_interval_ms: u32,
    /// With keepalive on: milliseconds to wait for any input after our ping before the peer
    /// is declared dead (closed, reported as 1006).
    pub keepalive_timeout_ms: u32,
    /// Milliseconds to wait for the peer's close frame after ours, and (client) for the server
    /// to close the TCP connection after the closing handshake. 0 disables (wait forever).
    pub close_timeout_ms: u32,
    /// RSV bits (0b100 = RSV1, 0b010 = RSV2, 0b001 = RSV3) that an extension negotiated by the
    /// application gives meaning to. Frames with other RSV bits set are a protocol error.
    pub allowed_rsv: u8,
}

impl Config {
    /// The defaults, as a `const` (usable in `static` configuration on firmware).
    pub const fn new() -> Config {
        Config {
            max_frame_payload: 16 << 20,
            max_message_size: 16 << 20,
            max_fragments: 65_536,
            max_handshake_size: 8 << 10,
            auto_pong: true,
            handshake_timeout_ms: 10_000,
            auth_timeout_ms: 0,
            keepalive_interval_ms: 0,
            keepalive_timeout_ms: 10_000,
            close_timeout_ms: 5_000,
            allowed_rsv: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}
