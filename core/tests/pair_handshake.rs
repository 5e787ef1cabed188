//! Pair tests of the opening handshake: subprotocols, extensions and extra headers through a
//! real request and response, read whole or dribbled; frames that arrive with the 101; a
//! rejection with status, headers and body (with or without `Content-Length`, chunked and
//! decoded, or none); end-of-stream
//! during the handshake; handshake calls in the wrong state.
//!
//! A client and a server `Connection` are wired together through simulated sockets, on a
//! simulated clock, driven exactly as the I/O contract says (`common/pair.rs`).

mod common;

use common::pair::*;
use common::*;
use wsmachine::{
    Accept, ClientRequest, CloseStatus, Config, Connection, Error, Event, Failure, HandshakeError,
    MessageKind, ReadyState, ResponseStatus, EMPTY_HEADER,
};

#[test]
#[cfg_attr(miri, ignore)] // many header parses: slow under Miri (handshakes run in other tests)
fn handshake_with_subprotocol_selection_and_extra_headers() {
    for chunk in [usize::MAX, 7, 1] {
        let mut p = Pair::new(Opts {
            req: ReqSpec {
                host: "example.com:8080".into(),
                target: "/chat?room=1&x=y".into(),
                origin: Some("https://example.com".into()),
                subprotocols: vec!["v2.chat".into(), "chat".into(), "superchat".into()],
                extensions: vec!["x-ext; p=1".into()],
                headers: vec![
                    ("Cookie".into(), "sid=abc".into()),
                    ("Authorization".into(), "Bearer t0k3n".into()),
                ],
            },
            decision: Decision::Accept {
                // The server does not speak v2.chat; the client prefers chat over superchat.
                supported: vec!["superchat".into(), "chat".into()],
                extensions: Some("x-ext".into()),
                headers: vec![("Set-Cookie".into(), "sid=def; HttpOnly".into())],
            },
            ..Opts::default()
        });
        p.ep[C].chunk = chunk;
        p.ep[S].chunk = chunk;
        assert_eq!(p.state(C), ReadyState::Connecting);
        assert_eq!(p.state(S), ReadyState::Connecting);
        p.write_request();
        p.run();
        assert_eq!(p.state(C), ReadyState::Open, "chunk {chunk}");
        assert_eq!(p.state(S), ReadyState::Open);
        if chunk == 1 {
            assert!(p.ep[S].reads > 100, "the request was dribbled");
        }
        let r = p.ep[S].request.clone().unwrap();
        assert_eq!(r.target, "/chat?room=1&x=y");
        assert_eq!(r.path, "/chat");
        assert_eq!(r.query.as_deref(), Some("room=1&x=y"));
        assert_eq!(r.host, b"example.com:8080");
        assert_eq!(r.subprotocols, ["v2.chat", "chat", "superchat"]);
        let hv = |name: &str| {
            r.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(hv("cookie").as_deref(), Some(&b"sid=abc"[..]));
        assert_eq!(hv("authorization").as_deref(), Some(&b"Bearer t0k3n"[..]));
        assert_eq!(hv("origin").as_deref(), Some(&b"https://example.com"[..]));
        match p.ep[C].response.clone().unwrap() {
            SeenResponse::Accepted {
                subprotocol,
                extensions,
                headers,
            } => {
                assert_eq!(subprotocol.as_deref(), Some("chat"));
                assert_eq!(extensions, ["x-ext"]);
                assert!(headers
                    .iter()
                    .any(|(n, v)| n == "Set-Cookie" && v == b"sid=def; HttpOnly"));
            }
            r => panic!("{r:?}"),
        }
        // No timers left once open (keepalive and auth timeouts are off by default).
        assert_eq!(p.ep[C].conn.poll_timeout(), None);
        assert_eq!(p.ep[S].conn.poll_timeout(), None);
        // And it works.
        p.send_msg(C, MessageKind::Text, b"hi");
        p.send_msg(S, MessageKind::Text, b"yo");
        p.run();
        assert_eq!(p.ep[S].msgs[0].data, b"hi");
        assert_eq!(p.ep[C].msgs[0].data, b"yo");
    }
}

#[test]
fn handshake_without_common_subprotocol() {
    let mut p = Pair::new(Opts {
        req: ReqSpec {
            host: "h".into(),
            target: "/".into(),
            subprotocols: vec!["mqtt".into()],
            ..ReqSpec::default()
        },
        decision: Decision::Accept {
            supported: vec!["chat".into()],
            extensions: None,
            headers: vec![],
        },
        ..Opts::default()
    });
    p.write_request();
    p.run();
    assert_eq!(p.state(C), ReadyState::Open);
    match p.ep[C].response.clone().unwrap() {
        SeenResponse::Accepted { subprotocol, .. } => assert_eq!(subprotocol, None),
        r => panic!("{r:?}"),
    }
}

/// Frames the server sends right after the 101 arrive in the same read as the response; they
/// must not be lost.
#[test]
fn frames_right_after_the_101_are_kept() {
    let mut p = Pair::new(Opts::default());
    p.write_request();
    // Server reads the request and answers; then sends before the client reads anything.
    while p.ep[S].hs != HandshakeStage::Done {
        assert!(p.step(S));
    }
    p.send_msg(S, MessageKind::Text, b"welcome");
    p.send(S, |c, o| c.send_ping(b"p", o)).unwrap();
    // The client has not read yet: the 101 and both frames wait on its socket together.
    assert_eq!(p.ep[C].reads, 0);
    let w: Vec<u8> = p.wire[C].bytes.iter().copied().collect();
    let head = w.windows(4).position(|x| x == b"\r\n\r\n").unwrap() + 4;
    assert!(w.starts_with(b"HTTP/1.1 101 "));
    assert_eq!(parse_frames(&w[head..]).len(), 2);
    p.run();
    assert_eq!(p.ep[C].msgs.len(), 1);
    assert_eq!(p.ep[C].msgs[0].data, b"welcome");
    assert_eq!(p.ep[C].pings(), [b"p".to_vec()]);
    assert_eq!(p.ep[S].pongs(), [b"p".to_vec()]);
}

#[test]
fn rejection_with_status_headers_and_body() {
    let body: Vec<u8> = b"you shall not pass; ".repeat(50);
    for (bufsize, chunk) in [(4096, usize::MAX), (4096, 1), (8192, 100)] {
        let mut p = Pair::new(Opts {
            decision: Decision::Reject {
                status: 403,
                headers: vec![
                    ("X-Reason".into(), "banned".into()),
                    ("Retry-After".into(), "120".into()),
                ],
                body: body.clone(),
            },
            bufsize: [bufsize, bufsize],
            ..Opts::default()
        });
        p.ep[C].chunk = chunk;
        p.write_request();
        p.run();
        // The server closed its socket first; the client read everything and followed.
        assert!(p.ep[S].closed_at.unwrap() < p.ep[C].closed_at.unwrap());
        assert_eq!(p.state(S), ReadyState::Closed);
        assert_eq!(p.state(C), ReadyState::Closed);
        let c = &p.ep[C];
        assert_eq!(
            c.conn.failure(),
            Some(Failure::Handshake(HandshakeError::Rejected))
        );
        assert_eq!(c.conn.close_status(), Some(CloseStatus::Abnormal));
        match c.response.clone().unwrap() {
            SeenResponse::Rejected {
                status,
                reason,
                headers,
                body: got,
                complete,
                body_in_head,
                body_events,
            } => {
                assert_eq!(status, 403);
                assert_eq!(reason, "Forbidden");
                assert!(headers.contains(&("X-Reason".into(), b"banned".to_vec())));
                assert!(headers.contains(&("Retry-After".into(), b"120".to_vec())));
                assert!(headers.contains(&("Content-Length".into(), b"1000".to_vec())));
                assert_eq!(got, body);
                assert!(complete);
                if chunk == usize::MAX {
                    assert_eq!((body_in_head, body_events), (1000, 0));
                } else {
                    // The body arrived split across reads, through RejectBody events.
                    assert!(body_in_head < 1000);
                    assert!(body_events >= 2, "{body_events}");
                }
            }
            r => panic!("{r:?}"),
        }
    }
}

/// A client that has written the request `req` and waits for the response.
fn client_awaiting_response(req: &ClientRequest<'_>) -> Connection {
    let mut c = Connection::client(Config::new(), 0, [1; 16]).unwrap();
    let mut out = [0u8; 512];
    c.write_request(req, KEY16, &mut out).unwrap();
    c
}

#[test]
fn rejection_without_content_length_reads_body_until_eof() {
    let req = ClientRequest::new("h", "/");
    let mut c = client_awaiting_response(&req);
    let head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\nbusy";
    let mut headers = [EMPTY_HEADER; 8];
    match c.read_response(0, &req, head, &mut headers).unwrap() {
        ResponseStatus::Rejected {
            response,
            body,
            body_complete,
            len,
        } => {
            assert_eq!(response.status(), 503);
            assert_eq!(response.header("retry-after"), Some(&b"5"[..]));
            assert_eq!(body, b"busy");
            assert!(!body_complete);
            assert_eq!(len, head.len());
        }
        r => panic!("{r:?}"),
    }
    let mut f = Feeder::new(c);
    assert_eq!(
        f.push(b", try later"),
        [Ev::RejectBody(b", try later".to_vec(), false)]
    );
    assert_eq!(f.push(b""), []);
    assert!(!f.conn.should_close_transport());
    f.conn.handle_eof();
    assert_eq!(f.conn.state(), ReadyState::Closed);
    assert!(f.conn.should_close_transport());
    assert_eq!(
        f.conn.failure(),
        Some(Failure::Handshake(HandshakeError::Rejected))
    );
    assert_eq!(f.conn.close_status(), Some(CloseStatus::Abnormal));
}

#[test]
fn rejection_with_a_streamed_chunked_body() {
    let pieces: Vec<Vec<u8>> = vec![
        b"Service ".to_vec(),
        Vec::new(),
        b"unavailable\r\n0\r\n\r\n: ".to_vec(), // looks like chunk framing: it is data
        b"x".repeat(if cfg!(miri) { 300 } else { 3000 }), // byte-wise reads: slow under Miri
        b"!".to_vec(),
    ];
    let body: Vec<u8> = pieces.concat();
    for chunk in [usize::MAX, 1, 2, 7, 100, 1000] {
        let mut p = Pair::new(Opts {
            decision: Decision::RejectStreamed {
                status: 503,
                headers: vec![("Retry-After".into(), "30".into())],
                pieces: pieces.clone(),
            },
            ..Opts::default()
        });
        p.ep[C].chunk = chunk;
        p.write_request();
        p.run();
        assert!(p.ep[S].closed_at.unwrap() < p.ep[C].closed_at.unwrap());
        let c = &p.ep[C];
        // The client saw the body end (the last chunk) before the end of file, and closed.
        assert!(
            !c.eof,
            "chunk {chunk}: the client waited for the end of file"
        );
        assert_eq!(c.conn.state(), ReadyState::Closed);
        assert!(c.conn.should_close_transport());
        assert_eq!(
            c.conn.failure(),
            Some(Failure::Handshake(HandshakeError::Rejected))
        );
        match c.response.clone().unwrap() {
            SeenResponse::Rejected {
                status,
                headers,
                body: got,
                complete,
                body_in_head,
                body_events,
                ..
            } => {
                assert_eq!(status, 503);
                assert!(headers.contains(&("Transfer-Encoding".into(), b"chunked".to_vec())));
                assert!(headers.contains(&("Retry-After".into(), b"30".to_vec())));
                assert_eq!(got, body, "chunk {chunk}");
                assert!(complete);
                if chunk == usize::MAX {
                    // The head and the whole body in one read: the first chunk comes with the
                    // response, each later one as an event (the last with the end).
                    assert_eq!((body_in_head, body_events), (8, 3));
                } else {
                    assert!(body_events >= 3, "{body_events}");
                }
            }
            r => panic!("{r:?}"),
        }
    }
}

#[test]
fn chunked_refusal_read_by_hand() {
    let req = ClientRequest::new("h", "/");
    let mut c = client_awaiting_response(&req);
    // Content-Length loses to Transfer-Encoding; an extension, a bare LF, trailers.
    let head = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut input = head.to_vec();
    input.extend_from_slice(b"5;lang=en\r\nno wa\r\n2\ny!\r\n");
    let mut headers = [EMPTY_HEADER; 8];
    let len = match c.read_response(0, &req, &input, &mut headers).unwrap() {
        ResponseStatus::Rejected {
            response,
            body,
            body_complete,
            len,
        } => {
            assert_eq!(response.status(), 403);
            // The first chunk's data, in place; `len` stops where the second chunk's data
            // starts (after its size line).
            assert_eq!(body, b"no wa");
            assert!(!body_complete);
            assert_eq!(len, head.len() + 20);
            assert_eq!(input[len..], b"y!\r\n"[..]);
            len
        }
        r => panic!("{r:?}"),
    };
    assert_eq!(c.state(), ReadyState::Closed);
    let mut f = Feeder::new(c);
    assert_eq!(
        f.push(&input[len..]),
        [Ev::RejectBody(b"y!".to_vec(), false)]
    );
    // Framing only: consumed, no event.
    assert_eq!(f.push(b"0\r\nX-Trailer: 1\r\n"), []);
    assert!(f.pending.is_empty());
    assert!(!f.conn.should_close_transport());
    // The final CRLF: the end, without data. Bytes after the body are not consumed.
    let mut last = b"\r\nnot body".to_vec();
    let r = f.conn.read(0, &mut last).unwrap();
    assert_eq!(r.consumed, 2);
    assert_eq!(
        r.event,
        Some(Event::RejectBody {
            data: b"",
            finished: true
        })
    );
    assert!(f.conn.should_close_transport());
    assert_eq!(f.conn.close_status(), Some(CloseStatus::Abnormal));
}

#[test]
fn chunked_refusal_wholly_in_the_response_buffer() {
    let req = ClientRequest::new("h", "/");
    let mut c = client_awaiting_response(&req);
    let input = b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n\
4\r\nslow\r\n0\r\n\r\n";
    let mut headers = [EMPTY_HEADER; 8];
    match c.read_response(0, &req, input, &mut headers).unwrap() {
        ResponseStatus::Rejected {
            body,
            body_complete,
            len,
            ..
        } => {
            assert_eq!(body, b"slow");
            assert!(body_complete);
            assert_eq!(len, input.len());
        }
        r => panic!("{r:?}"),
    }
    assert!(c.should_close_transport());
}

#[test]
fn invalid_chunked_refusal_ends_the_body() {
    let req = ClientRequest::new("h", "/");
    let mut c = client_awaiting_response(&req);
    let input = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab";
    let mut headers = [EMPTY_HEADER; 8];
    let len = match c.read_response(0, &req, input, &mut headers).unwrap() {
        ResponseStatus::Rejected {
            body,
            body_complete,
            len,
            ..
        } => {
            assert_eq!((body, body_complete), (&b"ab"[..], false));
            len
        }
        r => panic!("{r:?}"),
    };
    assert_eq!(len, input.len());
    let mut f = Feeder::new(c);
    // A size that is not hex after the chunk: the data before it, then the end; the rest
    // of the input is consumed.
    assert_eq!(
        f.push(b"c\r\nzz\r\nmore"),
        [Ev::RejectBody(b"c".to_vec(), true)]
    );
    assert!(f.pending.is_empty());
    assert!(f.conn.should_close_transport());
    assert_eq!(
        f.conn.failure(),
        Some(Failure::Handshake(HandshakeError::Rejected))
    );
}

#[test]
fn refusals_without_a_body() {
    for status in ["204 No Content", "304 Not Modified", "100 Continue"] {
        let req = ClientRequest::new("h", "/");
        let mut c = client_awaiting_response(&req);
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: 4\r\n\r\n");
        let mut input = head.as_bytes().to_vec();
        input.extend_from_slice(b"next");
        let mut headers = [EMPTY_HEADER; 8];
        match c.read_response(0, &req, &input, &mut headers).unwrap() {
            ResponseStatus::Rejected {
                body,
                body_complete,
                len,
                ..
            } => {
                assert_eq!((body, body_complete, len), (&b""[..], true, head.len()));
            }
            r => panic!("{r:?}"),
        }
        assert!(c.should_close_transport(), "{status}");
    }
}

#[test]
fn handshake_calls_in_wrong_state() {
    let mut p = Pair::new(Opts::default());
    let mut out = [0u8; 256];
    let mut buf = *b"\x81\x00";
    assert_eq!(
        p.ep[C].conn.read(0, &mut buf).map(|r| r.consumed),
        Err(Error::InvalidState)
    );
    assert_eq!(
        p.ep[S].conn.send_text("x", &mut out),
        Err(Error::InvalidState)
    );
    assert_eq!(
        p.ep[S].conn.accept(0, &Accept::default(), &mut out),
        Err(Error::InvalidState)
    );
    let mut h = [EMPTY_HEADER; 4];
    assert!(matches!(
        p.ep[C]
            .conn
            .read_request(0, b"GET / HTTP/1.1\r\n\r\n", &mut h),
        Err(Error::InvalidState)
    ));
    p.write_request();
    assert!(matches!(
        p.ep[C]
            .conn
            .write_request(&ClientRequest::new("h", "/"), KEY16, &mut out),
        Err(Error::InvalidState)
    ));
}

#[test]
fn eof_during_handshake() {
    for i in [C, S] {
        let mut p = Pair::new(Opts::default());
        p.write_request();
        if i == C {
            // The server vanishes after reading the request.
            p.ep[S].frozen = true;
        }
        p.close_socket(other(i));
        p.run();
        assert_eq!(p.state(i), ReadyState::Closed);
        assert_eq!(p.ep[i].conn.close_status(), Some(CloseStatus::Abnormal));
        assert!(p.ep[i].closed_at.is_some());
        assert_eq!(p.ep[i].conn.poll_timeout(), None);
    }
}
