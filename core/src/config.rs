//! Limits and options, with their defaults in one place and one validator.
//!
//! [`Config`] is what the application fills in; [`Config::validate`] is the only place that
//! decides what is acceptable, and the connection constructors call it. The C and Python
//! faces take their defaults from [`Config::new`] and forward to the same validator.

use core::fmt;

#[cfg(feature = "deflate")]
use crate::deflate::DeflateConfig;

/// The defaults, one constant each (the C header and the Python signatures are checked
/// against these).
pub mod defaults {
    /// `Config::max_frame_payload`: 16 MiB.
    pub const MAX_FRAME_PAYLOAD: u64 = 16 << 20;
    /// `Config::max_message_size`: 16 MiB.
    pub const MAX_MESSAGE_SIZE: u64 = 16 << 20;
    /// `Config::max_fragments`.
    pub const MAX_FRAGMENTS: u32 = 65_536;
    /// `Config::max_handshake_size`: 8 KiB.
    pub const MAX_HANDSHAKE_SIZE: usize = 8 << 10;
    /// `Config::auto_pong`.
    pub const AUTO_PONG: bool = true;
    /// `Config::handshake_timeout_ms`.
    pub const HANDSHAKE_TIMEOUT_MS: u32 = 10_000;
    /// `Config::auth_timeout_ms` (off).
    pub const AUTH_TIMEOUT_MS: u32 = 0;
    /// `Config::keepalive_interval_ms` (off).
    pub const KEEPALIVE_INTERVAL_MS: u32 = 0;
    /// `Config::keepalive_timeout_ms`.
    pub const KEEPALIVE_TIMEOUT_MS: u32 = 10_000;
    /// `Config::close_timeout_ms`.
    pub const CLOSE_TIMEOUT_MS: u32 = 5_000;
    /// `Config::allowed_rsv` (no extension bits).
    pub const ALLOWED_RSV: u8 = 0;
}

/// The longest timeout accepted, in milliseconds (2^31 - 1, about 24.8 days): deadlines are
/// kept as 32-bit offsets.
pub const MAX_TIMEOUT_MS: u32 = i32::MAX as u32;

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
///
/// The connection constructors check the values with [`validate`](Self::validate) and refuse
/// nonsense with [`Error::InvalidConfig`](crate::Error::InvalidConfig).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload accepted in one data frame, in bytes (control frames have their own
    /// limit of 125).
    pub max_frame_payload: u64,
    /// Largest message accepted (sum of its frames' payloads), in bytes.
    pub max_message_size: u64,
    /// Most frames one message may span (an unfragmented message is one; at least 1).
    pub max_fragments: u32,
    /// Largest opening-handshake head (request or response line plus headers), in bytes (not
    /// 0).
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
    /// is declared dead (closed, reported as 1006). Must not be 0 when keepalive is on.
    pub keepalive_timeout_ms: u32,
    /// Milliseconds to wait for the peer's close frame after ours, and (client) for the server
    /// to close the TCP connection after the closing handshake. 0 disables (wait forever).
    pub close_timeout_ms: u32,
    /// RSV bits (0b100 = RSV1, 0b010 = RSV2, 0b001 = RSV3) that an extension negotiated by the
    /// application gives meaning to. Frames with other RSV bits set are a protocol error.
    pub allowed_rsv: u8,
    /// permessage-deflate ([RFC 7692]): `Some` to offer it (client) or accept it (server).
    /// The connection then negotiates it in the handshake ([`Connection::deflate`]) and
    /// takes RSV1 for it; compressed messages go through
    /// [`Connection::inflate`] and [`Connection::send_compressed`] with a codec from
    /// [`crate::deflate`]. Default `None`.
    ///
    /// [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692
    /// [`Connection::deflate`]: crate::Connection::deflate
    /// [`Connection::inflate`]: crate::Connection::inflate
    /// [`Connection::send_compressed`]: crate::Connection::send_compressed
    #[cfg(feature = "deflate")]
    pub deflate: Option<DeflateConfig>,
}

/// A [`Config`] value that cannot work, found by [`Config::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_fragments` is 0: no message could ever be received.
    NoFragments,
    /// `max_handshake_size` is 0: no handshake could ever complete.
    NoHandshakeRoom,
    /// `allowed_rsv` has bits outside 0b111.
    RsvOutOfRange,
    /// Keepalive is on but `keepalive_timeout_ms` is 0 (every ping would find the peer dead).
    NoKeepaliveTimeout,
    /// A timeout is over [`MAX_TIMEOUT_MS`].
    TimeoutTooLong,
    /// `deflate` has window bits outside 8..=15, or a minimum above the compressor's window.
    InvalidDeflate,
    /// `deflate` is on and `allowed_rsv` also gives RSV1 to the application.
    RsvTaken,
}

impl ConfigError {
    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConfigError::NoFragments => "max_fragments must be at least 1",
            ConfigError::NoHandshakeRoom => "max_handshake_size must not be 0",
            ConfigError::RsvOutOfRange => "allowed_rsv must be within 0b111",
            ConfigError::NoKeepaliveTimeout => {
                "keepalive_timeout_ms must not be 0 when keepalive is on"
            }
            ConfigError::TimeoutTooLong => "timeouts must be at most 2147483647 ms",
            ConfigError::InvalidDeflate => {
                "deflate window bits must be within 8..=15 (minimum not above the window)"
            }
            ConfigError::RsvTaken => "allowed_rsv cannot include RSV1 when deflate is on",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// The defaults, as a `const` (usable in `static` configuration on firmware).
    pub const fn new() -> Config {
        Config {
            max_frame_payload: defaults::MAX_FRAME_PAYLOAD,
            max_message_size: defaults::MAX_MESSAGE_SIZE,
            max_fragments: defaults::MAX_FRAGMENTS,
            max_handshake_size: defaults::MAX_HANDSHAKE_SIZE,
            auto_pong: defaults::AUTO_PONG,
            handshake_timeout_ms: defaults::HANDSHAKE_TIMEOUT_MS,
            auth_timeout_ms: defaults::AUTH_TIMEOUT_MS,
            keepalive_interval_ms: defaults::KEEPALIVE_INTERVAL_MS,
            keepalive_timeout_ms: defaults::KEEPALIVE_TIMEOUT_MS,
            close_timeout_ms: defaults::CLOSE_TIMEOUT_MS,
            allowed_rsv: defaults::ALLOWED_RSV,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Checks that the values can work together. The connection constructors call this; call
    /// it yourself to report a bad configuration early (at start-up rather than at the first
    /// connection).
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.max_fragments == 0 {
            return Err(ConfigError::NoFragments);
        }
        if self.max_handshake_size == 0 {
            return Err(ConfigError::NoHandshakeRoom);
        }
        if self.allowed_rsv & !0b111 != 0 {
            return Err(ConfigError::RsvOutOfRange);
        }
        if self.keepalive_interval_ms != 0 && self.keepalive_timeout_ms == 0 {
            return Err(ConfigError::NoKeepaliveTimeout);
        }
        if self.handshake_timeout_ms > MAX_TIMEOUT_MS
            || self.auth_timeout_ms > MAX_TIMEOUT_MS
            || self.keepalive_interval_ms > MAX_TIMEOUT_MS
            || self.keepalive_timeout_ms > MAX_TIMEOUT_MS
            || self.close_timeout_ms > MAX_TIMEOUT_MS
        {
            return Err(ConfigError::TimeoutTooLong);
        }
        #[cfg(feature = "deflate")]
        if let Some(d) = &self.deflate {
            if !d.is_valid() {
                return Err(ConfigError::InvalidDeflate);
            }
            if self.allowed_rsv & 0b100 != 0 {
                return Err(ConfigError::RsvTaken);
            }
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::new().validate(), Ok(()));
    }

    #[test]
    fn nonsense_is_refused() {
        type Case = (fn(&mut Config), ConfigError);
        let cases: [Case; 7] = [
            (|c| c.max_fragments = 0, ConfigError::NoFragments),
            (|c| c.max_handshake_size = 0, ConfigError::NoHandshakeRoom),
            (|c| c.allowed_rsv = 0b1000, ConfigError::RsvOutOfRange),
            (|c| c.allowed_rsv = 0xFF, ConfigError::RsvOutOfRange),
            (
                |c| {
                    c.keepalive_interval_ms = 1;
                    c.keepalive_timeout_ms = 0;
                },
                ConfigError::NoKeepaliveTimeout,
            ),
            (
                |c| c.close_timeout_ms = u32::MAX,
                ConfigError::TimeoutTooLong,
            ),
            (
                |c| c.handshake_timeout_ms = MAX_TIMEOUT_MS + 1,
                ConfigError::TimeoutTooLong,
            ),
        ];
        for (set, want) in cases {
            let mut c = Config::new();
            set(&mut c);
            assert_eq!(c.validate(), Err(want), "{c:?}");
        }
    }

    #[test]
    fn edges_are_accepted() {
        let mut c = Config::new();
        c.max_fragments = 1;
        c.max_frame_payload = 0;
        c.max_message_size = 0;
        c.max_handshake_size = 1;
        c.allowed_rsv = 0b111;
        c.keepalive_timeout_ms = 0; // keepalive off: not used
        c.close_timeout_ms = MAX_TIMEOUT_MS;
        assert_eq!(c.validate(), Ok(()));
    }
}
