//! The client's response parser on arbitrary bytes (optionally after a valid 101 status line
//! and accept header, so that the fuzzer reaches the header checks, or a refusal head with a
//! chunked body), fed as a growing buffer, then whatever follows the head: frames after an
//! accept, body bytes after a rejection (checked against a reference framing and chunked
//! decoder, `wsmachine_fuzz::ref_framing` / `ref_dechunk`, across the reads' splits).
//!
//! Input: `flags: u8` (bits 0-1: the prefix: none, the 101 head without its blank line, the
//! whole 101 head, a chunked refusal head without its blank line; bit 2: time out; bits 3-7:
//! bytes per read after the head, minus one), `max_handshake_size: u16` (0 = default),
//! `headers: u8`, `step: u8` (bytes added per read of the head; 0 = all at once), then the
//! response bytes.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use wsmachine::handshake::client::{parse_response, ParsedResponse};
use wsmachine::{
    Config, Connection, Error, Event, Failure, HandshakeError, ReadyState, ResponseStatus,
    EMPTY_HEADER,
};
use wsmachine_fuzz::{
    ref_dechunk, ref_framing, valid_response, Harness, RefFraming, CLIENT_KEY, REQUEST,
};

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let flags: u8 = u.arbitrary()?;
    let max: u16 = u.arbitrary()?;
    let nheaders = usize::from(u.arbitrary::<u8>()? % 64);
    let step = usize::from(u.arbitrary::<u8>()?);
    let rest = u.take_rest();
    let mut buf = Vec::new();
    match flags & 3 {
        // The valid head without its blank line: the input adds headers and the rest.
        1 => {
            let v = valid_response();
            buf.extend_from_slice(&v[..v.len() - 2]);
        }
        2 => buf.extend_from_slice(&valid_response()),
        // A refusal head with a chunked body: the input is the body (or more headers).
        3 => buf.extend_from_slice(b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n"),
        _ => {}
    }
    buf.extend_from_slice(rest);
    let mut cfg = Config::new();
    if max != 0 {
        cfg.max_handshake_size = usize::from(max % 4096);
    }
    let limit = cfg.max_handshake_size;
    let Ok(mut conn) = Connection::client(cfg, 0, [7; 16]) else {
        assert_eq!(limit, 0, "only a zero handshake limit is refused");
        return Ok(());
    };
    let mut out = [0u8; 512];
    let n = conn
        .write_request(&REQUEST, CLIENT_KEY, &mut out)
        .expect("request");
    assert!(out[..n].starts_with(b"GET /chat HTTP/1.1\r\n"));

    if flags & 4 != 0 && rest.len().is_multiple_of(5) {
        let t = conn.poll_timeout().expect("handshake deadline armed");
        conn.handle_timeout(t);
        assert_eq!(conn.state(), ReadyState::Closed);
        assert!(conn.should_close_transport());
        assert_eq!(
            conn.failure(),
            Some(Failure::Handshake(HandshakeError::Timeout))
        );
        assert_eq!(
            conn.poll_transmit(&mut out),
            Ok(0),
            "a client writes no HTTP error"
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
        match conn.read_response(0, &REQUEST, prefix, &mut headers) {
            Ok(ResponseStatus::Partial) => {
                assert!(k < limit, "Partial at {k} bytes with a {limit}-byte limit");
                assert_eq!(conn.state(), ReadyState::Connecting);
            }
            Ok(ResponseStatus::Accepted { response, len }) => {
                assert!(len <= k && len <= limit);
                assert_eq!(response.status(), 101);
                assert_eq!(conn.state(), ReadyState::Open);
                if let Some(p) = response.subprotocol() {
                    assert!(
                        REQUEST.subprotocols.contains(&p),
                        "unoffered subprotocol {p}"
                    );
                }
                for e in response.extensions() {
                    let name = e.split(|&b| b == b';').next().unwrap_or_default();
                    let name = name.trim_ascii();
                    assert!(
                        name.eq_ignore_ascii_case(b"x-ext"),
                        "unoffered extension {e:?}"
                    );
                }
                let mut h = Harness::new(conn, cfg);
                h.upgraded = true;
                let tail = buf[len..].to_vec();
                for c in tail.chunks(usize::from(flags >> 3) + 1) {
                    h.feed(c, 256);
                }
                h.jump(256);
                return Ok(());
            }
            Ok(ResponseStatus::Rejected {
                response,
                body,
                body_complete,
                len,
            }) => {
                assert_ne!(response.status(), 101);
                assert!(len <= k);
                // The head's length, from a parse of our own.
                let mut hs = vec![EMPTY_HEADER; nheaders];
                let head = match parse_response(prefix, &mut hs, limit) {
                    Ok(ParsedResponse::Complete { len, .. }) => len,
                    r => panic!("the head parses differently the second time: {r:?}"),
                };
                assert!(head <= limit && head + body.len() <= len);
                let framing = ref_framing(response.status(), response.headers());
                assert_eq!(conn.state(), ReadyState::Closed);
                assert_eq!(
                    conn.failure(),
                    Some(Failure::Handshake(HandshakeError::Rejected))
                );
                assert_eq!(conn.poll_transmit(&mut out), Ok(0));
                // The whole byte stream after the head, and what it should decode to.
                let mut stream = buf[head..].to_vec();
                stream.extend_from_slice(b"trailing bytes after the body");
                let (want, want_end) = match framing {
                    RefFraming::NoBody => (Vec::new(), true),
                    RefFraming::Length(cl) => {
                        let n = (cl as usize).min(stream.len());
                        (stream[..n].to_vec(), n as u64 == cl)
                    }
                    RefFraming::Chunked => {
                        let (d, end) = ref_dechunk(&stream);
                        (d, end.is_some())
                    }
                    RefFraming::UntilEof => (stream.clone(), false),
                };
                if framing == RefFraming::NoBody {
                    assert!(body.is_empty() && body_complete && len == head);
                }
                if !matches!(framing, RefFraming::Chunked) {
                    assert_eq!(len, head + body.len(), "only chunk framing is not data");
                }
                // More body arrives through `read`, driven as the contract says: unconsumed
                // bytes are kept and fed again with the next read.
                let mut got = body.to_vec();
                let mut finished = body_complete;
                let more = buf[len..].to_vec();
                let mut pending: Vec<u8> = Vec::new();
                let reads = more
                    .chunks(usize::from(flags >> 3) + 1)
                    .chain([&b"trailing bytes after the body"[..]]);
                for chunk in reads {
                    pending.extend_from_slice(chunk);
                    let mut pos = 0;
                    let mut rounds = 0;
                    loop {
                        rounds += 1;
                        assert!(rounds <= pending.len() + 4, "read keeps reporting events");
                        let avail = pending.len() - pos;
                        let r = conn
                            .read(0, &mut pending[pos..])
                            .expect("read after rejection");
                        assert!(r.consumed <= avail);
                        pos += r.consumed;
                        match r.event {
                            None => {
                                if !finished {
                                    // Need more: a chunked body's framing is all consumed.
                                    assert_eq!(pos, pending.len(), "framing left unconsumed");
                                }
                                break;
                            }
                            Some(Event::RejectBody { data, finished: f }) => {
                                assert!(!finished, "body after the body was complete");
                                assert!(r.consumed > 0 && data.len() <= r.consumed);
                                if !matches!(framing, RefFraming::Chunked) {
                                    assert_eq!(data.len(), r.consumed);
                                }
                                got.extend_from_slice(data);
                                finished = f;
                            }
                            Some(e) => panic!("after a rejection: {e:?}"),
                        }
                    }
                    assert_eq!(conn.state(), ReadyState::Closed);
                    pending.drain(..pos);
                }
                assert_eq!(got, want, "decoded body ({framing:?})");
                assert_eq!(finished, want_end, "end of the body ({framing:?})");
                assert_eq!(conn.should_close_transport(), finished);
                conn.handle_eof();
                assert!(conn.should_close_transport());
                return Ok(());
            }
            Err(Error::Handshake(e)) => {
                if e == HandshakeError::TooLarge {
                    assert!(k >= limit);
                }
                assert_eq!(conn.state(), ReadyState::Closed);
                assert!(conn.should_close_transport());
                assert_eq!(conn.failure(), Some(Failure::Handshake(e)));
                assert_eq!(conn.poll_transmit(&mut out), Ok(0));
                let mut hs = [EMPTY_HEADER; 4];
                assert!(conn.read_response(0, &REQUEST, &buf, &mut hs).is_err());
                return Ok(());
            }
            Err(e) => panic!("read_response: {e:?}"),
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
