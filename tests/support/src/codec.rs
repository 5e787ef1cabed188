//! An independent WebSocket frame codec (RFC 6455 §5.2), for tests only.
//!
//! Encoding: [`put_header`] / [`put_frame`] append a frame header or a whole frame to a buffer,
//! with the minimal length encoding or a forced longer one ([`LengthForm`]), masked or not;
//! [`header`], [`frame`] and [`frame_with`] return new buffers. [`mask_in_place`] and [`xor`]
//! apply a masking key; [`close_payload`] builds a close frame's payload.
//!
//! Decoding: [`parse_header`] decodes a header (without allocating: the fuzz targets call it on
//! every byte of output), [`parse_frame`] a whole frame into an owned, unmasked [`RawFrame`],
//! [`parse_frames`] a stream that must consist of whole frames.
//!
//! The decoder reports what is on the wire (masking key, RSV bits, whether the length was
//! minimal) and leaves judging it to the caller: it rejects nothing but incomplete input.

/// Opcode of a continuation frame.
pub const OP_CONT: u8 = 0x0;
/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;
/// The FIN bit of a frame's first byte.
pub const FIN: u8 = 0x80;

/// A fixed masking key for tests that need masked input: the key of RFC 6455 §5.7's examples.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// How a header writes the payload length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LengthForm {
    /// The shortest form (7 bits below 126, else 16 bits up to 65 535, else 64 bits), as
    /// RFC 6455 §5.2 requires of every sender.
    #[default]
    Minimal,
    /// Always the 16-bit form (`126` in the 7-bit field); the length must fit in 16 bits.
    Forced16,
    /// Always the 64-bit form (`127` in the 7-bit field), even for a length that fits in less.
    Forced64,
}

/// Appends a frame header to `out`: first byte `b0` (FIN, RSV bits, opcode), then the payload
/// length `len` in the given form with the mask bit set when `mask` is given, then the key.
///
/// Panics if `form` is [`LengthForm::Forced16`] and `len` does not fit in 16 bits.
#[inline]
pub fn put_header(out: &mut Vec<u8>, b0: u8, len: u64, mask: Option<[u8; 4]>, form: LengthForm) {
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    out.push(b0);
    let form = match form {
        LengthForm::Minimal if len < 126 => None,
        LengthForm::Minimal if len <= 0xFFFF => Some(LengthForm::Forced16),
        LengthForm::Minimal => Some(LengthForm::Forced64),
        f => Some(f),
    };
    match form {
        None => out.push(mbit | len as u8),
        Some(LengthForm::Forced16) => {
            let short = u16::try_from(len).expect("length does not fit the 16-bit form");
            out.push(mbit | 126);
            out.extend_from_slice(&short.to_be_bytes());
        }
        Some(_) => {
            out.push(mbit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(m) = mask {
        out.extend_from_slice(&m);
    }
}

/// A frame header with the minimal length encoding (see [`put_header`]).
pub fn header(b0: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = Vec::with_capacity(14);
    put_header(&mut v, b0, len, mask, LengthForm::Minimal);
    v
}

/// XORs `data` in place with `key`, the first byte with `key[offset % 4]`: masks or unmasks
/// (the operation is its own inverse) the part of a payload that starts `offset` bytes into it.
#[inline]
pub fn mask_in_place(data: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

/// `data` XORed with `key` (from key offset 0), as a new buffer.
pub fn xor(data: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut v = data.to_vec();
    mask_in_place(&mut v, key, 0);
    v
}

/// Appends a whole frame to `out`: the header (see [`put_header`]) and the payload, masked
/// with `mask` when given.
pub fn put_frame(
    out: &mut Vec<u8>,
    b0: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    form: LengthForm,
) {
    put_header(out, b0, payload.len() as u64, mask, form);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(m) = mask {
        mask_in_place(&mut out[start..], m, 0);
    }
}

/// A whole frame with the minimal length encoding: header plus (masked, if `mask`) payload.
pub fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    frame_with(b0, payload, mask, LengthForm::Minimal)
}

/// A whole frame with the length written in `form` (see [`put_frame`]).
pub fn frame_with(b0: u8, payload: &[u8], mask: Option<[u8; 4]>, form: LengthForm) -> Vec<u8> {
    let mut v = Vec::with_capacity(14 + payload.len());
    put_frame(&mut v, b0, payload, mask, form);
    v
}

/// A close frame's payload: the code (big endian) followed by the reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason);
    v
}

/// Whether `code` may appear in a close frame: RFC 6455 §7.4.1/§7.4.2 plus the IANA registry
/// (1000–1003, 1007–1014, 3000–4999). Written out independently of the core's `CloseCode`.
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The FIN bit.
    pub fin: bool,
    /// The three RSV bits (RSV1 is 4).
    pub rsv: u8,
    /// The opcode (4 bits).
    pub opcode: u8,
    /// The masking key, if the mask bit is set.
    pub mask: Option<[u8; 4]>,
    /// The declared payload length.
    pub len: u64,
    /// Whether the length used the minimal encoding (and, in the 64-bit form, has its most
    /// significant bit clear, as RFC 6455 §5.2 requires).
    pub minimal: bool,
    /// The header's size in bytes (2 to 14): where the payload starts.
    pub size: usize,
}

/// Decodes the frame header at the front of `b`; `None` if `b` holds less than a whole header.
#[inline]
pub fn parse_header(b: &[u8]) -> Option<FrameHeader> {
    let (&b0, &b1) = (b.first()?, b.get(1)?);
    let (len, mut size, minimal) = match b1 & 0x7F {
        126 => {
            let l = u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]));
            (l, 4, l >= 126)
        }
        127 => {
            let l = u64::from_be_bytes(b.get(2..10)?.try_into().ok()?);
            (l, 10, l > 0xFFFF && l >> 63 == 0)
        }
        n => (u64::from(n), 2, true),
    };
    let mask = if b1 & 0x80 != 0 {
        let m: [u8; 4] = b.get(size..size + 4)?.try_into().ok()?;
        size += 4;
        Some(m)
    } else {
        None
    };
    Some(FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 7,
        opcode: b0 & 0x0F,
        mask,
        len,
        minimal,
        size,
    })
}

/// A whole frame as decoded by [`parse_frame`] (payload unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// The FIN bit.
    pub fin: bool,
    /// The three RSV bits (RSV1 is 4).
    pub rsv: u8,
    /// The opcode (4 bits).
    pub opcode: u8,
    /// The masking key the frame carried, if any.
    pub mask: Option<[u8; 4]>,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
    /// Whether the length used the minimal encoding (see [`FrameHeader::minimal`]).
    pub minimal: bool,
}

impl RawFrame {
    /// The close code of a close frame (`None` for an empty payload). Panics if this is not a
    /// close frame or its payload is a single byte.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, OP_CLOSE, "not a close frame: {self:?}");
        match self.payload.as_slice() {
            [] => None,
            [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
            [_] => panic!("1-byte close payload"),
        }
    }

    /// The reason of a close frame (empty without one). Panics if it is not UTF-8.
    pub fn close_reason(&self) -> &str {
        std::str::from_utf8(self.payload.get(2..).unwrap_or_default()).expect("utf-8 reason")
    }
}

/// Decodes one frame from the front of `b`: the frame and the bytes it took; `None` if `b`
/// holds less than a whole frame.
pub fn parse_frame(b: &[u8]) -> Option<(RawFrame, usize)> {
    let h = parse_header(b)?;
    let end = h.size.checked_add(usize::try_from(h.len).ok()?)?;
    let mut payload = b.get(h.size..end)?.to_vec();
    if let Some(m) = h.mask {
        mask_in_place(&mut payload, m, 0);
    }
    Some((
        RawFrame {
            fin: h.fin,
            rsv: h.rsv,
            opcode: h.opcode,
            mask: h.mask,
            payload,
            minimal: h.minimal,
        },
        end,
    ))
}

/// Decodes a byte stream that must consist of whole frames; panics on a trailing partial one.
pub fn parse_frames(mut b: &[u8]) -> Vec<RawFrame> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (f, n) = parse_frame(b).unwrap_or_else(|| panic!("incomplete frame in {b:02x?}"));
        v.push(f);
        b = &b[n..];
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §5.7's examples, encoded and decoded.
    #[test]
    fn rfc_6455_section_5_7_examples() {
        let hello_unmasked = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let hello_masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(frame(FIN | OP_TEXT, b"Hello", None), hello_unmasked);
        assert_eq!(frame(FIN | OP_TEXT, b"Hello", Some(KEY)), hello_masked);
        assert_eq!(frame(OP_TEXT, b"Hel", None), [0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!(frame(FIN | OP_CONT, b"lo", None), [0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!(header(FIN | OP_BINARY, 256, None), [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(
            header(FIN | OP_BINARY, 65536, None),
            [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        let (f, n) = parse_frame(&hello_masked).unwrap();
        assert_eq!(n, hello_masked.len());
        assert_eq!(
            f,
            RawFrame {
                fin: true,
                rsv: 0,
                opcode: OP_TEXT,
                mask: Some(KEY),
                payload: b"Hello".to_vec(),
                minimal: true,
            }
        );
    }

    #[test]
    fn length_forms_round_trip() {
        for len in [0usize, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for form in [
                LengthForm::Minimal,
                LengthForm::Forced16,
                LengthForm::Forced64,
            ] {
                if form == LengthForm::Forced16 && len > 0xFFFF {
                    continue;
                }
                for mask in [None, Some([1, 2, 3, 4])] {
                    let bytes = frame_with(FIN | OP_BINARY, &payload, mask, form);
                    let minimal = match form {
                        LengthForm::Minimal => true,
                        LengthForm::Forced16 => len >= 126,
                        LengthForm::Forced64 => len > 0xFFFF,
                    };
                    let frames = parse_frames(&bytes);
                    assert_eq!(frames.len(), 1);
                    let f = &frames[0];
                    assert_eq!((f.mask, f.minimal), (mask, minimal), "{len} {form:?}");
                    assert_eq!(f.payload, payload);
                    // Every proper prefix is incomplete.
                    assert!(parse_frame(&bytes[..bytes.len() - 1]).is_none());
                }
            }
        }
    }

    #[test]
    fn header_details() {
        let h = parse_header(&[0x7A, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 9, 8, 7, 6]).unwrap();
        assert_eq!((h.fin, h.rsv, h.opcode), (false, 7, 0xA));
        assert_eq!((h.len, h.minimal, h.size), (1 << 63, false, 14));
        assert_eq!(h.mask, Some([9, 8, 7, 6]));
        assert!(parse_header(&[0x81, 0xFE, 0, 200, 1, 2, 3]).is_none());
        assert!(parse_header(&[0x81]).is_none());
    }

    #[test]
    fn masking_with_offsets() {
        let data: Vec<u8> = (0..11).collect();
        let mut whole = data.clone();
        mask_in_place(&mut whole, KEY, 0);
        let mut pieces = data.clone();
        let (a, b) = pieces.split_at_mut(3);
        mask_in_place(a, KEY, 0);
        mask_in_place(b, KEY, 3);
        assert_eq!(whole, pieces);
        assert_eq!(xor(&whole, KEY), data);
    }

    #[test]
    fn close_payloads_and_codes() {
        let f = parse_frames(&frame(FIN | OP_CLOSE, &close_payload(4001, b"bye"), None));
        assert_eq!(f[0].close_code(), Some(4001));
        assert_eq!(f[0].close_reason(), "bye");
        let allowed = (0..=u16::MAX).filter(|&c| close_code_allowed(c)).count();
        assert_eq!(allowed, 4 + 8 + 2000);
    }
}
