//! The server's request parser on arbitrary bytes, fed as a growing buffer the way a server
//! reads, then `accept` / `reject` / `fail_handshake` and, after an accept, the bytes that
//! followed the head as frames.
//!
//! Input: `flags: u8`, `max_handshake_size: u16` (0 = default), `headers: u8` (size of the
//! header storage), `step: u8` (bytes added per read; 0 = all at once), then the request bytes.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use wsmachine::{
    accept_key, Accept, Config, Connection, Error, HandshakeError, Header, ParsedRequest,
    ReadyState, EMPTY_HEADER,
};
use wsmachine_fuzz::Harness;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn expect_error_response(conn: &mut Connection, e: HandshakeError, cap: usize) {
    assert_eq!(conn.state(), ReadyState::Closed, "{e:?}");
    let mut small = vec![0u8; cap.min(64)];
    match conn.poll_transmit(&mut small) {
        Err(Error::BufferTooSmall { needed }) => assert!(needed > small.len()),
        Ok(n) => {
            assert!(n <= small.len());
            assert!(small.starts_with(format!("HTTP/1.1 {} ", e.status()).as_bytes()));
            assert!(conn.should_close_transport());
            return;
        }
        Err(other) => panic!("{other:?}"),
    }
    assert!(
        !conn.should_close_transport(),
        "transport closed before the response was written"
    );
    let mut out = [0u8; 512];
    let n = conn.poll_transmit(&mut out).expect("error response");
    let resp = &out[..n];
    assert!(
        resp.starts_with(format!("HTTP/1.1 {} ", e.status()).as_bytes()),
        "{e:?}"
    );
    assert!(resp.ends_with(b"\n"));
    if e.status() == 426 {
        assert!(contains(resp, b"Sec-WebSocket-Version: 13\r\n"));
    }
    assert!(conn.should_close_transport());
    assert_eq!(conn.poll_transmit(&mut out), Ok(0), "a second response");
    assert_eq!(conn.state(), ReadyState::Closed);
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let flags: u8 = u.arbitrary()?;
    let max: u16 = u.arbitrary()?;
    let nheaders = usize::from(u.arbitrary::<u8>()? % 64);
    let step = usize::from(u.arbitrary::<u8>()?);
    let buf = u.take_rest();
    let mut cfg = Config::new();
    if max != 0 {
        cfg.max_handshake_size = usize::from(max % 4096);
    }
    let limit = cfg.max_handshake_size;
    let Ok(mut conn) = Connection::server(cfg, 0) else {
        assert_eq!(limit, 0, "only a zero handshake limit is refused");
        return Ok(());
    };
    let cap = 16 + usize::from(flags >> 3) * 8;

    if flags & 1 != 0 && buf.len().is_multiple_of(3) {
        // The deadline passes before the request arrives: 408.
        let t = conn.poll_timeout().expect("handshake deadline armed");
        conn.handle_timeout(t);
        expect_error_response(&mut conn, HandshakeError::Timeout, cap);
        let mut hs = [EMPTY_HEADER; 4];
        assert_eq!(
            conn.read_request(t, buf, &mut hs).err(),
            Some(Error::InvalidState)
        );
        return Ok(());
    }

    let mut k = if step == 0 {
        buf.len()
    } else {
        step.min(buf.len())
    };
    loop {
        let mut headers = vec![EMPTY_HEADER; nheaders];
        let prefix = &buf[..k];
        match conn.read_request(0, prefix, &mut headers) {
            Ok(ParsedRequest::Partial) => {
                assert!(k < limit, "Partial at {k} bytes with a {limit}-byte limit");
                assert_eq!(conn.state(), ReadyState::Connecting);
            }
            Ok(ParsedRequest::Complete { request, len }) => {
                assert!(
                    len <= k && len <= limit,
                    "head of {len} bytes ({k} given, limit {limit})"
                );
                assert!(prefix[..len].ends_with(b"\n"));
                assert_eq!(request.method(), "GET");
                assert_eq!(request.http_minor_version(), 1);
                assert!(request.host().is_some_and(|h| !h.is_empty()));
                let key = request.key().expect("validated key");
                assert_eq!(key.len(), 24);
                assert!(request.headers().len() <= nheaders);
                assert_eq!(conn.state(), ReadyState::Connecting);
                // The head alone parses to the same length on a fresh connection.
                let mut again = Connection::server(cfg, 0).expect("valid above");
                let mut h2 = vec![EMPTY_HEADER; nheaders];
                match again.read_request(0, &prefix[..len], &mut h2) {
                    Ok(ParsedRequest::Complete { len: l2, .. }) => assert_eq!(l2, len),
                    r => panic!("head alone: {r:?}"),
                }
                let expected_accept = accept_key(key);
                let sub = request
                    .subprotocols()
                    .next()
                    .and_then(|p| core::str::from_utf8(p).ok());
                match flags & 6 {
                    0 | 2 => {
                        let opts = Accept {
                            subprotocol: if flags & 2 != 0 { sub } else { None },
                            ..Accept::default()
                        };
                        let mut out = vec![0xEEu8; cap * 4];
                        match conn.accept(0, &opts, &mut out) {
                            Ok(n) => {
                                let resp = &out[..n];
                                assert!(resp.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
                                let mut line = b"Sec-WebSocket-Accept: ".to_vec();
                                line.extend_from_slice(&expected_accept);
                                line.extend_from_slice(b"\r\n");
                                assert!(contains(resp, &line), "wrong accept key");
                                assert!(resp.ends_with(b"\r\n\r\n"));
                                assert_eq!(conn.state(), ReadyState::Open);
                            }
                            Err(Error::BufferTooSmall { needed }) => {
                                assert!(needed > out.len());
                                assert!(out.iter().all(|&b| b == 0xEE));
                                assert_eq!(conn.state(), ReadyState::Connecting);
                                return Ok(());
                            }
                            // A subprotocol offered by the client that is not a token.
                            Err(Error::InvalidHeader) => {
                                assert!(opts.subprotocol.is_some());
                                assert_eq!(conn.state(), ReadyState::Connecting);
                                return Ok(());
                            }
                            Err(e) => panic!("accept: {e:?}"),
                        }
                        // What followed the head are frames.
                        let mut rest = buf[len..].to_vec();
                        let mut h = Harness::new(conn, cfg);
                        h.upgraded = true;
                        let cut = usize::from(flags) % (rest.len() + 1);
                        let tail = rest.split_off(cut);
                        h.feed(&rest, 256);
                        h.feed(&tail, 256);
                        h.jump(256);
                    }
                    4 => {
                        let status = u16::from(flags) * 3;
                        let body = &buf[len..];
                        let hs = [Header {
                            name: "X-Reason",
                            value: b"fuzz",
                        }];
                        let mut out = vec![0u8; 4096];
                        match conn.reject(status, &hs, body, &mut out) {
                            Ok(n) => {
                                assert!((200..=599).contains(&status));
                                let resp = &out[..n];
                                assert!(resp.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
                                let cl = format!("Content-Length: {}\r\n", body.len());
                                assert!(contains(resp, cl.as_bytes()));
                                assert!(resp.ends_with(body));
                                assert_eq!(conn.state(), ReadyState::Closed);
                                assert!(conn.should_close_transport());
                                assert_eq!(conn.poll_transmit(&mut out), Ok(0));
                            }
                            Err(Error::InvalidStatus) => {
                                assert!(!(200..=599).contains(&status));
                                assert_eq!(conn.state(), ReadyState::Connecting);
                            }
                            Err(Error::BufferTooSmall { needed }) => assert!(needed > 4096),
                            Err(e) => panic!("reject: {e:?}"),
                        }
                    }
                    _ => {
                        conn.fail_handshake(HandshakeError::OriginNotAllowed)
                            .expect("fail_handshake");
                        expect_error_response(&mut conn, HandshakeError::OriginNotAllowed, cap);
                    }
                }
                return Ok(());
            }
            Err(Error::Handshake(e)) => {
                if e == HandshakeError::TooLarge {
                    assert!(
                        k >= limit,
                        "TooLarge with {k} bytes and a {limit}-byte limit"
                    );
                }
                if e == HandshakeError::TooManyHeaders {
                    let lines = prefix.iter().filter(|&&b| b == b'\n').count();
                    assert!(lines > nheaders, "TooManyHeaders with {nheaders} slots");
                }
                expect_error_response(&mut conn, e, cap);
                let mut hs = [EMPTY_HEADER; 4];
                assert_eq!(
                    conn.read_request(0, buf, &mut hs).err(),
                    Some(Error::InvalidState)
                );
                return Ok(());
            }
            Err(e) => panic!("read_request: {e:?}"),
        }
        if k == buf.len() {
            return Ok(());
        }
        k = (k + step.max(1)).min(buf.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
