//! End-to-end tests of the tokio face over real loopback TCP and in-memory duplex streams:
//! handshakes and refusals, messages both ways, limits and their close codes, backpressure,
//! split halves, timers on tokio's paused clock, closing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use wsmachine_tokio::{
    accept, accept_with, client, connect, connect_with, Accept, ClientOptions, CloseCode,
    CloseStatus, Config, Error, Failure, Message, Options, Reject, Url, WebSocket,
};

/// A bound listener on a free loopback port and its ws:// URL.
async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    (l, url)
}

/// A server task that accepts one connection with `options` and echoes until the end, then
/// returns the close status it saw.
async fn echo_once(l: TcpListener, options: Options) -> Option<CloseStatus> {
    let (tcp, _) = l.accept().await.unwrap();
    let mut ws = accept_with(tcp, options, |_| Ok(Accept::new()))
        .await
        .unwrap();
    while let Some(Ok(m)) = ws.next().await {
        ws.send(&m).await.unwrap();
    }
    ws.close_status()
}

/// A client and a server connected over an in-memory pipe of `capacity` bytes each way.
async fn pair(
    capacity: usize,
    server: Options,
    client_opts: ClientOptions,
) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(capacity);
    let srv = tokio::spawn(async move { accept_with(b, server, |_| Ok(Accept::new())).await });
    let url = Url::parse("ws://test.invalid/").unwrap();
    let (c, _) = client(a, &url, client_opts).await.unwrap();
    (c, srv.await.unwrap().unwrap())
}

/// Options without permessage-deflate (whatever the features).
fn plain() -> Options {
    let o = Options::new();
    #[cfg(feature = "deflate")]
    let o = o.deflate(None);
    o
}

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn echo_text_and_binary_then_clean_close() {
    let (l, url) = listener().await;
    let server = tokio::spawn(echo_once(l, Options::new()));
    let (mut ws, _) = tokio::time::timeout(LIMIT, connect(&format!("{url}/echo")))
        .await
        .unwrap()
        .unwrap();
    ws.send("hello").await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("hello".into())
    );
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    ws.send(&big).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(big));
    ws.send(&[] as &[u8]).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(vec![]));
    let status = tokio::time::timeout(LIMIT, ws.close(CloseCode::new(4000).unwrap(), "done"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.as_u16(), 4000);
    assert_eq!(ws.close_status().map(|s| s.as_u16()), Some(4000));
    let seen = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(seen.map(|s| s.as_u16()), Some(4000));
}

#[tokio::test]
async fn callback_sees_the_request_and_chooses_a_subprotocol() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut seen = None;
        let ws = accept_with(tcp, Options::new(), |req| {
            seen = Some((
                req.path().to_owned(),
                req.query().map(str::to_owned),
                req.cookie("session").map(str::to_owned),
                req.origin().map(str::to_owned),
                req.subprotocols().map(str::to_owned).collect::<Vec<_>>(),
                req.header("x-custom").map(<[u8]>::to_vec),
            ));
            Ok(Accept::new()
                .subprotocol("chat.v2")
                .header("X-Served-By", "test"))
        })
        .await
        .unwrap();
        (seen.unwrap(), ws.protocol().map(str::to_owned))
    });
    let opts = ClientOptions::new()
        .subprotocol("chat.v1")
        .subprotocol("chat.v2")
        .header("Cookie", "theme=dark; session=abc123")
        .header("X-Custom", "yes")
        .origin("https://example.com");
    let (ws, resp) = connect_with(&format!("{url}/room/7?user=ann"), opts)
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v2"));
    assert_eq!(resp.subprotocol.as_deref(), Some("chat.v2"));
    assert_eq!(resp.header("x-served-by"), Some(&b"test"[..]));
    let ((path, query, cookie, origin, protocols, custom), chosen) = server.await.unwrap();
    assert_eq!(path, "/room/7");
    assert_eq!(query.as_deref(), Some("user=ann"));
    assert_eq!(cookie.as_deref(), Some("abc123"));
    assert_eq!(origin.as_deref(), Some("https://example.com"));
    assert_eq!(protocols, ["chat.v1", "chat.v2"]);
    assert_eq!(custom.as_deref(), Some(&b"yes"[..]));
    assert_eq!(chosen.as_deref(), Some("chat.v2"));
}

#[tokio::test]
async fn a_rejection_reaches_the_client_with_status_and_body() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        accept_with(tcp, Options::new(), |req| {
            if req.header("authorization").is_none() {
                Err(Reject::new(401)
                    .header("WWW-Authenticate", "Bearer")
                    .body("log in first"))
            } else {
                Ok(Accept::new())
            }
        })
        .await
        .map(drop)
    });
    match connect(&url).await {
        Err(Error::Rejected { status, body }) => {
            assert_eq!(status, 401);
            assert_eq!(body, b"log in first");
        }
        other => panic!("expected a rejection, got {:?}", other.map(drop)),
    }
    assert!(matches!(
        server.await.unwrap(),
        Err(Error::Handshake(
            wsmachine_tokio::wsmachine::HandshakeError::Rejected
        ))
    ));
}

#[tokio::test]
async fn an_invalid_request_gets_an_http_error() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        accept(tcp).await.map(drop)
    });
    let mut tcp = TcpStream::connect(url.trim_start_matches("ws://"))
        .await
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(LIMIT, tcp.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&resp);
    assert!(head.starts_with("HTTP/1.1 4"), "{head}");
    assert!(matches!(server.await.unwrap(), Err(Error::Handshake(_))));
}

#[tokio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let mut config = Config::new();
    config.max_message_size = 1000;
    let (mut c, mut s) = pair(1 << 20, Options::new().config(config), ClientOptions::new()).await;
    let server = tokio::spawn(async move {
        let r = s.next().await;
        (
            r.map(|r| r.map(drop)),
            s.next().await.is_none(),
            s.close_status(),
        )
    });
    c.send(&vec![b'x'; 1001]).await.unwrap();
    let r = tokio::time::timeout(LIMIT, c.next()).await.unwrap();
    assert!(r.is_none(), "{r:?}");
    assert_eq!(c.close_status().map(|s| s.as_u16()), Some(1009));
    let (first, ended, status) = server.await.unwrap();
    assert!(matches!(
        first,
        Some(Err(Error::Protocol(
            wsmachine_tokio::wsmachine::ProtocolError::MessageTooLarge
        )))
    ));
    assert!(ended);
    assert_eq!(status.map(|s| s.as_u16()), Some(1009));
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn a_compressed_message_inflating_over_the_limit_closes_with_1009() {
    let mut config = Config::new();
    config.max_message_size = 10_000;
    config.deflate = Some(wsmachine_tokio::wsmachine::deflate::DeflateConfig::new());
    let (mut c, mut s) = pair(1 << 20, Options::new().config(config), ClientOptions::new()).await;
    assert!(c.deflate().is_some() && s.deflate().is_some());
    let server = tokio::spawn(async move {
        let r = s.next().await;
        (r.map(|r| r.map(drop)), s.close_status())
    });
    // 100 KB of zeros compress to ~100 bytes: under every wire limit, over the message limit
    // once inflated.
    c.send(&vec![0u8; 100_000]).await.unwrap();
    assert!(tokio::time::timeout(LIMIT, c.next())
        .await
        .unwrap()
        .is_none());
    assert_eq!(c.close_status().map(|s| s.as_u16()), Some(1009));
    let (first, status) = server.await.unwrap();
    assert!(matches!(first, Some(Err(Error::Protocol(_)))));
    assert_eq!(status.map(|s| s.as_u16()), Some(1009));
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let (a, mut raw) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut ws = accept(a).await.unwrap();
        let first = ws.next().await.map(|r| r.map(drop));
        (first, ws.close_status())
    });
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    // A masked text frame (mask 0) with an invalid byte.
    raw.write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xC3, 0x28])
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, raw.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let frames = &got[got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(frames[0], 0x88); // close
    assert_eq!(&frames[2..4], &[0x03, 0xEF]); // 1007
    let (first, status) = server.await.unwrap();
    assert!(matches!(first, Some(Err(Error::Protocol(_)))));
    assert_eq!(status.map(|s| s.as_u16()), Some(1007));
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn deflate_is_negotiated_by_default_and_can_be_turned_off() {
    let (c, s) = pair(1 << 16, Options::new(), ClientOptions::new()).await;
    assert!(c.deflate().is_some() && s.deflate().is_some());
    let off = ClientOptions::new().options(plain());
    let (c, s) = pair(1 << 16, Options::new(), off).await;
    assert!(c.deflate().is_none() && s.deflate().is_none());
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn compressed_messages_round_trip_smaller_on_the_wire() {
    let (l, url) = listener().await;
    let server = tokio::spawn(echo_once(l, Options::new()));
    let (mut ws, resp) = connect(&url).await.unwrap();
    assert!(resp.header("sec-websocket-extensions").is_some());
    let text: String = (0..20_000)
        .map(|i| format!("line {} of text\n", i % 50))
        .collect();
    for _ in 0..3 {
        ws.send(&text).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Text(text.clone())
        );
    }
    // A compressed message larger than the read buffer inflates in several pieces.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 10) as u8).collect();
    ws.send(&big).await.unwrap();
    let mut got = Vec::new();
    let mut pieces = 0;
    loop {
        let chunk = ws.next_chunk().await.unwrap().unwrap();
        assert_eq!(chunk.first, got.is_empty());
        got.extend_from_slice(chunk.data);
        pieces += 1;
        if chunk.last {
            break;
        }
    }
    assert_eq!(got, big);
    assert!(pieces > 1, "{pieces}");
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn the_streaming_api_hands_out_chunks_of_a_large_message() {
    let opts = plain().read_buffer_size(4096);
    let (mut c, s) = pair(1 << 16, opts.clone(), ClientOptions::new().options(opts)).await;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let sent = big.clone();
    let sender = tokio::spawn(async move {
        s.send(&sent).await.unwrap();
        s
    });
    let mut got = Vec::new();
    let mut pieces = 0;
    loop {
        let chunk = c.next_chunk().await.unwrap().unwrap();
        assert!(chunk.data.len() <= 4096);
        assert_eq!(chunk.first, got.is_empty());
        got.extend_from_slice(chunk.data);
        pieces += 1;
        if chunk.last {
            break;
        }
    }
    assert_eq!(got, big);
    assert!(pieces >= 200_000 / 4096, "{pieces}");
    drop(sender.await.unwrap());
}

#[tokio::test]
async fn a_reader_that_stops_makes_send_wait_and_try_send_fail() {
    let opts = plain().send_queue_limit(32 << 10);
    // 16 KiB of pipe: the client never reads.
    let (_c, s) = pair(16 << 10, opts, ClientOptions::new()).await;
    let msg = vec![7u8; 8 << 10];
    // Fill the pipe and the queue until `try_send` refuses.
    let mut accepted = 0;
    loop {
        match s.try_send(&msg) {
            Ok(()) => accepted += 1,
            Err(Error::Full) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted < 100, "try_send never reported Full");
    }
    // Queue above the mark: at most the mark plus one message, beyond what the pipe took.
    assert!(s.queued() > 32 << 10 && s.queued() <= (32 << 10) + msg.len() + 64);
    // `send` waits (the peer reads nothing).
    let waited = tokio::time::timeout(Duration::from_millis(300), s.send(&msg)).await;
    assert!(
        waited.is_err(),
        "send completed although the peer does not read"
    );
}

#[tokio::test]
async fn send_resumes_when_the_reader_resumes() {
    let opts = plain().send_queue_limit(16 << 10);
    let (mut c, s) = pair(8 << 10, opts, ClientOptions::new()).await;
    let msg = vec![1u8; 4 << 10];
    let writer = tokio::spawn(async move {
        for _ in 0..100 {
            s.send(&msg).await.unwrap();
        }
        s
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !writer.is_finished(),
        "100 × 4 KiB went through an 8 KiB pipe unread"
    );
    for _ in 0..100 {
        assert_eq!(c.next().await.unwrap().unwrap().len(), 4 << 10);
    }
    tokio::time::timeout(LIMIT, writer).await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn send_timeout_abandons_a_peer_that_does_not_read() {
    let opts = plain()
        .send_queue_limit(4 << 10)
        .send_timeout(Some(Duration::from_secs(5)));
    let (_c, s) = pair(4 << 10, opts, ClientOptions::new()).await;
    let msg = vec![1u8; 4 << 10];
    let mut result = Ok(());
    for _ in 0..10 {
        result = s.send(&msg).await;
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(Error::SendTimeout)), "{result:?}");
    assert_eq!(s.close_status(), Some(CloseStatus::Abnormal));
    assert!(matches!(s.send("more").await, Err(Error::Closed)));
}

#[tokio::test]
async fn split_halves_work_from_two_tasks() {
    let (l, url) = listener().await;
    let server = tokio::spawn(echo_once(l, Options::new()));
    let (ws, _) = connect(&url).await.unwrap();
    let (mut reader, writer) = ws.split();
    const N: usize = 500;
    let w = writer.clone();
    let sending = tokio::spawn(async move {
        for i in 0..N {
            w.send(format!("message {i}").as_str()).await.unwrap();
        }
    });
    for i in 0..N {
        let m = reader.next().await.unwrap().unwrap();
        assert_eq!(m.as_text(), Some(format!("message {i}").as_str()));
    }
    sending.await.unwrap();
    writer.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(tokio::time::timeout(LIMIT, reader.next())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        reader.close_status(),
        Some(CloseStatus::Code(CloseCode::NORMAL))
    );
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn keepalive_pings_keep_an_answering_peer_alive() {
    let mut config = Config::new();
    config.keepalive_interval_ms = 1_000;
    config.keepalive_timeout_ms = 500;
    let opts = Options::new().config(config);
    let (mut c, mut s) = pair(1 << 16, opts, ClientOptions::new()).await;
    // The client reads (and so answers pings) for 10 s of paused time.
    let client = tokio::spawn(async move {
        let r = tokio::time::timeout(Duration::from_secs(10), c.next()).await;
        (r.is_err(), c)
    });
    let r = tokio::time::timeout(Duration::from_secs(10), s.next()).await;
    assert!(r.is_err(), "the server's reader ended: {:?}", s.failure());
    assert_eq!(s.close_status(), None);
    let (timed_out, _c) = client.await.unwrap();
    assert!(timed_out);
}

#[tokio::test(start_paused = true)]
async fn a_dead_peer_is_detected_with_1006() {
    let mut config = Config::new();
    config.keepalive_interval_ms = 1_000;
    config.keepalive_timeout_ms = 500;
    let (_c, mut s) = pair(1 << 16, Options::new().config(config), ClientOptions::new()).await;
    // The client never reads, so it never answers the ping.
    let start = tokio::time::Instant::now();
    assert!(s.next().await.is_none());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_millis(1_600),
        "{took:?}"
    );
    assert_eq!(s.close_status(), Some(CloseStatus::Abnormal));
    assert_eq!(s.failure(), Some(Failure::DeadPeer));
}

#[tokio::test(start_paused = true)]
async fn the_auth_deadline_closes_with_1008_unless_authenticated() {
    let mut config = Config::new();
    config.auth_timeout_ms = 2_000;
    let opts = Options::new().config(config);
    let (mut c, mut s) = pair(1 << 16, opts.clone(), ClientOptions::new()).await;
    let client = tokio::spawn(async move { (c.next().await.is_none(), c.close_status()) });
    assert!(matches!(s.next().await, Some(Err(Error::Protocol(_)))));
    assert_eq!(s.close_status().map(|s| s.as_u16()), Some(1008));
    let (ended, status) = client.await.unwrap();
    assert!(ended);
    assert_eq!(status.map(|s| s.as_u16()), Some(1008));

    // Authenticated in time: no deadline.
    let (_c, mut s) = pair(1 << 16, opts, ClientOptions::new()).await;
    s.set_authenticated();
    assert!(tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .is_err());
}

#[tokio::test(start_paused = true)]
async fn the_close_deadline_ends_an_unanswered_close_with_1006() {
    let (_c, s) = pair(1 << 16, Options::new(), ClientOptions::new()).await;
    let (mut reader, writer) = s.split();
    writer.close(CloseCode::NORMAL, "").await.unwrap();
    let start = tokio::time::Instant::now();
    assert!(reader.next().await.is_none());
    let default_close_ms = u64::from(Config::new().close_timeout_ms);
    assert_eq!(start.elapsed().as_millis() as u64, default_close_ms);
    assert_eq!(reader.close_status(), Some(CloseStatus::Abnormal));
    assert_eq!(reader.failure(), Some(Failure::CloseTimeout));
}

#[tokio::test(start_paused = true)]
async fn the_handshake_deadline_answers_408() {
    let (a, mut raw) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move { accept(a).await.map(drop) });
    raw.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut got = Vec::new();
    raw.read_to_end(&mut got).await.unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(matches!(
        server.await.unwrap(),
        Err(Error::Handshake(
            wsmachine_tokio::wsmachine::HandshakeError::Timeout
        ))
    ));
}

#[tokio::test]
async fn an_unclean_end_reports_1006() {
    let (mut c, s) = pair(1 << 16, Options::new(), ClientOptions::new()).await;
    drop(s);
    assert!(tokio::time::timeout(LIMIT, c.next())
        .await
        .unwrap()
        .is_none());
    assert_eq!(c.close_status(), Some(CloseStatus::Abnormal));
    assert_eq!(c.failure(), Some(Failure::TransportLost));
    assert!(matches!(c.send("x").await, Err(Error::Closed)));
}

#[tokio::test]
async fn the_peer_closing_first_is_answered() {
    let (mut c, mut s) = pair(1 << 16, Options::new(), ClientOptions::new()).await;
    let server = tokio::spawn(async move {
        let status = s.close(CloseCode::GOING_AWAY, "restart").await.unwrap();
        status
    });
    assert!(tokio::time::timeout(LIMIT, c.next())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        c.close_status(),
        Some(CloseStatus::Code(CloseCode::GOING_AWAY))
    );
    assert_eq!(c.close_reason().as_deref(), Some("restart"));
    assert_eq!(
        server.await.unwrap(),
        CloseStatus::Code(CloseCode::GOING_AWAY)
    );
}

#[test]
fn urls_parse() {
    let u = Url::parse("wss://example.com/chat?x=1").unwrap();
    assert_eq!(
        (u.tls, u.host.as_str(), u.port, u.target.as_str()),
        (true, "example.com", 443, "/chat?x=1")
    );
    let u = Url::parse("ws://[::1]:9001").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.target.as_str()),
        ("::1", 9001, "/")
    );
    assert_eq!(u.host_header(), "[::1]:9001");
    let u = Url::parse("WS://h?q").unwrap();
    assert_eq!(
        (u.port, u.target.as_str(), u.host_header()),
        (80, "/?q", "h".to_owned())
    );
    for bad in [
        "http://x/",
        "ws://",
        "ws://h:99999/",
        "ws://u@h/",
        "ws://h/#f",
        "ws://[::1/",
    ] {
        assert!(matches!(Url::parse(bad), Err(Error::Url(_))), "{bad}");
    }
}
