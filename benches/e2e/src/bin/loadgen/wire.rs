//! What the load generator puts on the wire and how it reads what comes back: the upgrade
//! request, one pre-built masked binary frame, and a minimal incremental parser of the
//! server's (unmasked) frames that checks each echo.

/// The RFC 6455 example key and the accept value a server must answer it with (section 1.3).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The upgrade request (no extensions offered, so no permessage-deflate).
pub fn upgrade_request(host: &str, port: u16) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Checks a complete response head (up to and including the blank line).
pub fn check_response(head: &[u8]) -> Result<(), String> {
    let ok_status = head.starts_with(b"HTTP/1.1 101");
    let has_accept = head.windows(ACCEPT.len()).any(|w| w == ACCEPT);
    if ok_status && has_accept {
        return Ok(());
    }
    let first = head.split(|&b| b == b'\r').next().unwrap_or_default();
    Err(format!(
        "bad upgrade response ({}): {:?}",
        if ok_status {
            "wrong Sec-WebSocket-Accept"
        } else {
            "not 101"
        },
        String::from_utf8_lossy(first)
    ))
}

/// The payload byte at `i` of every message: a pattern whose first and last bytes differ
/// with the size, so that a short or shifted echo is caught by looking at those two.
pub fn payload_byte(i: usize, size: usize) -> u8 {
    (i.wrapping_mul(31).wrapping_add(size) % 251) as u8
}

/// One masked binary frame (FIN set) carrying `size` bytes of the pattern, built once.
pub fn masked_frame(size: usize) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = Vec::with_capacity(size + 14);
    f.push(0x82);
    if size < 126 {
        f.push(0x80 | size as u8);
    } else if size <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(size as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(size as u64).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend((0..size).map(|i| payload_byte(i, size) ^ mask[i % 4]));
    f
}

/// Reads one echoed message at a time: frames of opcode binary then continuation, the last
/// with FIN, carrying exactly `size` bytes in all, first and last byte checked.
pub struct EchoParser {
    size: u64,
    first: u8,
    last: u8,
    hdr: [u8; 10],
    hdr_len: usize,
    /// Header bytes needed (2, 4 or 10); 0 while inside a payload.
    hdr_need: usize,
    payload_left: u64,
    fin: bool,
    /// Payload bytes of the current message so far.
    got: u64,
    /// A frame of the current message was seen (the next must be a continuation).
    started: bool,
}

/// What `EchoParser::feed` found.
pub enum Fed {
    /// The message is not complete yet; all input was used.
    More,
    /// The message is complete and all input was used.
    Done,
}

impl EchoParser {
    pub fn new(size: usize) -> EchoParser {
        EchoParser {
            size: size as u64,
            first: payload_byte(0, size),
            last: payload_byte(size.saturating_sub(1), size),
            hdr: [0; 10],
            hdr_len: 0,
            hdr_need: 2,
            payload_left: 0,
            fin: false,
            got: 0,
            started: false,
        }
    }

    fn header_done(&mut self) -> Result<Option<Fed>, String> {
        let b0 = self.hdr[0];
        let b1 = self.hdr[1];
        if b1 & 0x80 != 0 {
            return Err("server frame is masked".into());
        }
        if b0 & 0x70 != 0 {
            return Err(format!("server frame has RSV bits set (0x{b0:02x})"));
        }
        let len7 = u64::from(b1 & 0x7f);
        let need = match len7 {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        if self.hdr_len < need {
            self.hdr_need = need;
            return Ok(None);
        }
        let len = match len7 {
            126 => u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])),
            127 => u64::from_be_bytes(self.hdr[2..10].try_into().unwrap_or_default()),
            n => n,
        };
        let opcode = b0 & 0x0f;
        let expected = if self.started { 0x0 } else { 0x2 };
        match opcode {
            0x8 => return Err("server sent a close frame".into()),
            0x9 | 0xa => return Err(format!("unexpected control frame (opcode {opcode})")),
            op if op != expected => {
                return Err(format!("unexpected opcode {op} (expected {expected})"))
            }
            _ => {}
        }
        self.started = true;
        self.fin = b0 & 0x80 != 0;
        if self.got + len > self.size {
            return Err(format!(
                "echo longer than sent: {} > {}",
                self.got + len,
                self.size
            ));
        }
        self.payload_left = len;
        self.hdr_len = 0;
        self.hdr_need = 0;
        if len == 0 {
            return self.frame_done().map(Some);
        }
        Ok(None)
    }

    fn frame_done(&mut self) -> Result<Fed, String> {
        self.hdr_need = 2;
        if !self.fin {
            return Ok(Fed::More);
        }
        if self.got != self.size {
            return Err(format!("echo of {} bytes, sent {}", self.got, self.size));
        }
        self.got = 0;
        self.started = false;
        Ok(Fed::Done)
    }

    /// Consumes `input`, which must not go past the end of the message (one message is in
    /// flight per connection, so a server has nothing else to send).
    pub fn feed(&mut self, mut input: &[u8]) -> Result<Fed, String> {
        let mut state = Fed::More;
        while !input.is_empty() {
            if matches!(state, Fed::Done) {
                return Err(format!("{} unexpected bytes after an echo", input.len()));
            }
            if self.hdr_need > 0 {
                let take = (self.hdr_need - self.hdr_len).min(input.len());
                self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&input[..take]);
                self.hdr_len += take;
                input = &input[take..];
                if self.hdr_len == self.hdr_need {
                    if let Some(s) = self.header_done()? {
                        state = s;
                    }
                }
                continue;
            }
            let take = (self.payload_left.min(input.len() as u64)) as usize;
            let chunk = &input[..take];
            if self.got == 0 && chunk[0] != self.first {
                return Err(format!(
                    "echo's first byte is {} (sent {})",
                    chunk[0], self.first
                ));
            }
            self.got += take as u64;
            self.payload_left -= take as u64;
            if self.got == self.size && chunk[take - 1] != self.last {
                return Err(format!(
                    "echo's last byte is {} (sent {})",
                    chunk[take - 1],
                    self.last
                ));
            }
            input = &input[take..];
            if self.payload_left == 0 {
                state = self.frame_done()?;
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked server frame.
    fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![opcode | if fin { 0x80 } else { 0 }];
        let n = payload.len();
        if n < 126 {
            f.push(n as u8);
        } else if n <= 0xffff {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    fn unmask(frame: &[u8]) -> Vec<u8> {
        let (hdr, key_at) = match frame[1] & 0x7f {
            126 => (8, 4),
            127 => (14, 10),
            _ => (6, 2),
        };
        let key = &frame[key_at..key_at + 4];
        frame[hdr..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect()
    }

    #[test]
    fn echoes_parse_whole_split_and_fragmented() {
        for size in [0usize, 1, 20, 125, 126, 512, 8192, 16384, 70_000] {
            let payload = unmask(&masked_frame(size));
            assert_eq!(payload.len(), size);
            let whole = frame(0x2, true, &payload);
            // Every split point, byte by byte for the small ones.
            let step = if size > 1000 { 997 } else { 1 };
            for cut in (0..=whole.len()).step_by(step) {
                let mut p = EchoParser::new(size);
                let a = p.feed(&whole[..cut]).unwrap();
                let b = p.feed(&whole[cut..]).unwrap();
                assert!(matches!(
                    (cut == whole.len(), a, b),
                    (true, Fed::Done, _) | (false, _, Fed::Done)
                ));
            }
            // Fragmented: binary + continuations.
            if size >= 3 {
                let third = size / 3;
                let mut wire = frame(0x2, false, &payload[..third]);
                wire.extend(frame(0x0, false, &payload[third..2 * third]));
                wire.extend(frame(0x0, true, &payload[2 * third..]));
                let mut p = EchoParser::new(size);
                assert!(matches!(p.feed(&wire).unwrap(), Fed::Done));
                // Twice in a row on the same parser.
                assert!(matches!(p.feed(&whole).unwrap(), Fed::Done));
            }
        }
    }

    #[test]
    fn bad_echoes_fail() {
        let size = 512;
        let payload = unmask(&masked_frame(size));
        let mut short = payload.clone();
        short.pop();
        assert!(EchoParser::new(size)
            .feed(&frame(0x2, true, &short))
            .is_err());
        let mut wrong = payload.clone();
        wrong[size - 1] ^= 1;
        assert!(EchoParser::new(size)
            .feed(&frame(0x2, true, &wrong))
            .is_err());
        assert!(EchoParser::new(size)
            .feed(&frame(0x1 | 0x7, true, &payload))
            .is_err());
        assert!(EchoParser::new(size)
            .feed(&frame(0x8, true, &[3, 232]))
            .is_err());
        let mut two = frame(0x2, true, &payload);
        two.extend(frame(0x2, true, &payload));
        assert!(EchoParser::new(size).feed(&two).is_err());
        assert!(check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
        assert!(check_response(
            b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        )
        .is_ok());
    }
}
