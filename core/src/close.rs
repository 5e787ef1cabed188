//! Close codes (RFC 6455 §7.4).
//!
//! Two types keep apart what may travel on the wire and what is only ever reported locally:
//! [`CloseCode`] is a code that may be sent or received in a close frame; [`CloseStatus`]
//! is what the application is told when a connection ends, and adds the three codes RFC 6455
//! reserves for local reports (1005, 1006, 1015).

use core::fmt;

use crate::error::ProtocolError;

/// Longest close reason: a control frame's 125 bytes less the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// A close code that may appear in a close frame: 1000–1003, 1007–1014 or 3000–4999.
///
/// 1004 is reserved, 1005/1006/1015 are local-only (see [`CloseStatus`]), 1016–2999 are
/// unassigned in the IANA registry and 0–999 and 5000+ are not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

/// One row per named code: (code, name, RFC meaning).
const NAMED: &[(u16, &str, &str)] = &[
    (1000, "NORMAL", "normal closure"),
    (1001, "GOING_AWAY", "endpoint going away"),
    (1002, "PROTOCOL_ERROR", "protocol error"),
    (1003, "UNSUPPORTED_DATA", "unsupported data"),
    (1005, "NO_STATUS", "no status received"),
    (1006, "ABNORMAL", "abnormal closure"),
    (1007, "INVALID_PAYLOAD", "invalid frame payload data"),
    (1008, "POLICY_VIOLATION", "policy violation"),
    (1009, "MESSAGE_TOO_BIG", "message too big"),
    (1010, "MANDATORY_EXTENSION", "mandatory extension"),
    (1011, "INTERNAL_ERROR", "internal error"),
    (1012, "SERVICE_RESTART", "service restart"),
    (1013, "TRY_AGAIN_LATER", "try again later"),
    (1014, "BAD_GATEWAY", "bad gateway"),
    (1015, "TLS_HANDSHAKE", "TLS handshake failure"),
];

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1007: payload inconsistent with the message type (bad UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: an unexpected condition prevented the server from fulfilling the request.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response from upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// The code if it may appear in a close frame, else `None`.
    pub const fn new(code: u16) -> Option<CloseCode> {
        if CloseCode::is_sendable(code) {
            Some(CloseCode(code))
        } else {
            None
        }
    }

    /// Whether `code` may appear in a close frame (sent or received).
    pub const fn is_sendable(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The registered name (`"NORMAL"`, …), or `None` for 3000–4999.
    pub fn name(self) -> Option<&'static str> {
        name_of(self.0)
    }
}

fn name_of(code: u16) -> Option<&'static str> {
    NAMED
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| *n)
}

fn meaning_of(code: u16) -> &'static str {
    match code {
        3000..=3999 => "registered for libraries and frameworks",
        4000..=4999 => "private use",
        _ => NAMED
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, _, m)| *m)
            .unwrap_or("unknown"),
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, meaning_of(self.0))
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

/// How a connection ended, as reported to the application (the `code` of a browser's
/// `CloseEvent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseStatus {
    /// A close frame carried this code (from the peer, or ours when we failed the connection).
    Code(CloseCode),
    /// 1005: a close frame arrived without a status code.
    NoStatus,
    /// 1006: the connection was lost without a close frame (transport closed, dead peer,
    /// close handshake timed out).
    Abnormal,
    /// 1015: the TLS handshake failed (reported by the transport layer; never set by the
    /// core itself, provided so that layers above can use one type).
    TlsHandshake,
}

impl CloseStatus {
    /// The numeric code (1005, 1006 and 1015 for the local-only variants).
    pub const fn as_u16(self) -> u16 {
        match self {
            CloseStatus::Code(c) => c.0,
            CloseStatus::NoStatus => 1005,
            CloseStatus::Abnormal => 1006,
            CloseStatus::TlsHandshake => 1015,
        }
    }

    /// Maps a number to a status: sendable codes and 1005/1006/1015; `None` otherwise.
    pub const fn from_u16(code: u16) -> Option<CloseStatus> {
        match code {
            1005 => Some(CloseStatus::NoStatus),
            1006 => Some(CloseStatus::Abnormal),
            1015 => Some(CloseStatus::TlsHandshake),
            _ => match CloseCode::new(code) {
                Some(c) => Some(CloseStatus::Code(c)),
                None => None,
            },
        }
    }
}

impl fmt::Display for CloseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.as_u16();
        write!(f, "{} ({})", code, meaning_of(code))
    }
}

/// Writes a close frame's payload into `buf`: nothing for `None` (a close without a code),
/// else the code and up to [`MAX_REASON_LEN`] bytes of `reason`. Returns the length. The one
/// writer of close payloads, for closes the application sends and those the connection queues.
pub(crate) fn write_close_payload(
    code: Option<CloseCode>,
    reason: &str,
    buf: &mut [u8; 125],
) -> usize {
    let Some(code) = code else {
        return 0;
    };
    let [a, b] = code.get().to_be_bytes();
    buf[0] = a;
    buf[1] = b;
    let mut n = 2;
    for (d, s) in buf
        .iter_mut()
        .skip(2)
        .zip(reason.bytes().take(MAX_REASON_LEN))
    {
        *d = s;
        n += 1;
    }
    n
}

/// Validates a received close frame's payload: `(status, reason)`.
pub(crate) fn parse_close_payload(payload: &[u8]) -> Result<(CloseStatus, &str), ProtocolError> {
    match payload {
        [] => Ok((CloseStatus::NoStatus, "")),
        [_] => Err(ProtocolError::InvalidClosePayload),
        [a, b, reason @ ..] => {
            let code = CloseCode::new(u16::from_be_bytes([*a, *b]))
                .ok_or(ProtocolError::InvalidCloseCode)?;
            let reason = core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok((CloseStatus::Code(code), reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_ranges() {
        for code in 0..=u16::MAX {
            let expect = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode::new(code).is_some(), expect, "code {code}");
        }
    }

    #[test]
    fn local_only_codes_are_not_sendable_but_reportable() {
        for code in [1005u16, 1006, 1015] {
            assert!(CloseCode::new(code).is_none());
            assert_eq!(
                CloseStatus::from_u16(code).map(CloseStatus::as_u16),
                Some(code)
            );
        }
        assert_eq!(CloseStatus::from_u16(1004), None);
        assert_eq!(CloseCode::NORMAL.name(), Some("NORMAL"));
        assert_eq!(CloseCode::new(4000).and_then(CloseCode::name), None);
    }
}
