//! Frame headers (RFC 6455 §5.2): decoding from and encoding into caller buffers.

use crate::error::{Error, ProtocolError};
use crate::event::MessageKind;

/// A frame opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: first frame of a text message.
    Text = 0x1,
    /// 0x2: first frame of a binary message.
    Binary = 0x2,
    /// 0x8: close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` for the reserved values.
    pub const fn from_u8(v: u8) -> Option<OpCode> {
        match v {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// Close, ping and pong.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// The opcode that starts a message of `kind` (the one mapping from message kinds to
    /// opcodes).
    pub const fn starting(kind: MessageKind) -> OpCode {
        match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }

    /// The kind of message this opcode starts: `None` for continuation and control frames
    /// (the one mapping from opcodes to message kinds).
    pub const fn message_kind(self) -> Option<MessageKind> {
        match self {
            OpCode::Text => Some(MessageKind::Text),
            OpCode::Binary => Some(MessageKind::Binary),
            _ => None,
        }
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as the low three bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

/// Largest possible header: 2 + 8 (64-bit length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// The length of a header carrying `payload_len` with minimal length encoding.
pub const fn header_len(payload_len: u64, masked: bool) -> usize {
    let base = if payload_len < 126 {
        2
    } else if payload_len <= 0xFFFF {
        4
    } else {
        10
    };
    if masked {
        base + 4
    } else {
        base
    }
}

/// Decodes a header from the start of `buf`.
///
/// `Ok(None)` means `buf` holds only part of a header. Role-independent checks happen here
/// (reserved opcodes, the 64-bit length's top bit, control-frame rules); RSV, masking and
/// fragmentation rules depend on connection state and are checked by the connection.
/// Lengths that are not minimally encoded are accepted (RFC 6455 requires senders to encode
/// minimally but gives receivers no instruction; many deployed peers are lax here).
pub fn decode_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::ReservedOpcode)?;
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7F;
    if opcode.is_control() {
        if !fin {
            return Err(ProtocolError::FragmentedControl);
        }
        if len7 > 125 {
            return Err(ProtocolError::ControlTooLong);
        }
    }
    let (payload_len, mut pos) = match len7 {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4usize),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(s) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                let len = u64::from_be_bytes(a);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                (len, 10usize)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2usize),
    };
    let mask = if masked {
        match buf.get(pos..pos + 4) {
            Some(&[a, b, c, d]) => {
                pos += 4;
                Some([a, b, c, d])
            }
            _ => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some((
        FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        },
        pos,
    )))
}

/// Writes `src` to the start of `dst` (a fixed-size copy: no call to `memcpy`).
#[inline(always)]
fn put<const N: usize>(dst: &mut [u8], src: [u8; N]) {
    if let Some(d) = dst.get_mut(..N) {
        d.copy_from_slice(&src);
    }
}

/// Encodes a header into the start of `out` with minimal length encoding; returns its length.
// Inlined into the send paths on 64-bit hosts (speed); one copy on microcontrollers (flash).
#[cfg_attr(target_pointer_width = "64", inline)]
pub fn encode_header(h: &FrameHeader, out: &mut [u8]) -> Result<usize, Error> {
    let needed = header_len(h.payload_len, h.mask.is_some());
    let dst = out
        .get_mut(..needed)
        .ok_or(Error::BufferTooSmall { needed })?;
    let b0 = (u8::from(h.fin) << 7) | ((h.rsv & 7) << 4) | h.opcode as u8;
    let len = h.payload_len;
    // One fixed-size write per form (7-, 16- or 64-bit length, with or without the key).
    match (len, h.mask) {
        (0..=125, None) => put(dst, [b0, len as u8]),
        (0..=125, Some([k0, k1, k2, k3])) => put(dst, [b0, 0x80 | len as u8, k0, k1, k2, k3]),
        (126..=0xFFFF, mask) => {
            let [a, b] = (len as u16).to_be_bytes();
            match mask {
                None => put(dst, [b0, 126, a, b]),
                Some([k0, k1, k2, k3]) => put(dst, [b0, 0x80 | 126, a, b, k0, k1, k2, k3]),
            }
        }
        (_, mask) => {
            let [a, b, c, d, e, f, g, i] = len.to_be_bytes();
            match mask {
                None => put(dst, [b0, 127, a, b, c, d, e, f, g, i]),
                Some([k0, k1, k2, k3]) => {
                    put(dst, [b0, 0xFF, a, b, c, d, e, f, g, i, k0, k1, k2, k3])
                }
            }
        }
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5_7_single_frame_unmasked() {
        let (h, n) = decode_header(&[0x81, 0x05, b'H']).unwrap().unwrap();
        assert_eq!(n, 2);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.payload_len, 5);
        assert_eq!(h.mask, None);
    }

    #[test]
    fn partial_headers() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(decode_header(&full[..cut]), Ok(None), "cut {cut}");
        }
        let (h, n) = decode_header(&full).unwrap().unwrap();
        assert_eq!((h.payload_len, n, h.mask), (65536, 14, Some([1, 2, 3, 4])));
    }

    #[test]
    fn encode_roundtrip_minimal() {
        for len in [0u64, 1, 125, 126, 65535, 65536, 1 << 40] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                };
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = encode_header(&h, &mut out).unwrap();
                assert_eq!(n, header_len(len, mask.is_some()));
                assert_eq!(decode_header(&out[..n]).unwrap().unwrap(), (h, n));
                assert_eq!(
                    encode_header(&h, &mut out[..n - 1]),
                    Err(Error::BufferTooSmall { needed: n })
                );
            }
        }
    }

    #[test]
    fn rejects() {
        assert_eq!(
            decode_header(&[0x83, 0]),
            Err(ProtocolError::ReservedOpcode)
        );
        assert_eq!(
            decode_header(&[0x09, 0]),
            Err(ProtocolError::FragmentedControl)
        );
        assert_eq!(
            decode_header(&[0x89, 126]),
            Err(ProtocolError::ControlTooLong)
        );
        assert_eq!(
            decode_header(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::LengthOverflow)
        );
    }
}
