//! The send path: large messages cross intact both ways over TCP (where a server writes
//! straight from the caller's buffer with vectored writes) and over a duplex stream (the
//! copying path), and a stream that takes a few bytes at a time never splits or reorders
//! frames.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpListener;
use wsmachine_tokio::{
    accept_with, client, connect_with, Accept, ClientOptions, Message, Options, Url, WebSocket,
};

const LIMIT: Duration = Duration::from_secs(60);

/// Options without permessage-deflate (whatever the features), large messages allowed.
fn plain() -> Options {
    let mut o = Options::new();
    #[cfg(feature = "deflate")]
    {
        o = o.deflate(None);
    }
    o.config.max_message_size = 16 << 20;
    o.config.max_frame_payload = 16 << 20;
    o
}

fn pattern(n: usize, salt: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(salt) >> 13) as u8)
        .collect()
}

fn big_text(n: usize) -> String {
    "wsmachine é ✓ 𝄞 ".chars().cycle().take(n / 2).collect()
}

#[tokio::test]
async fn four_mib_messages_cross_tcp_both_ways_intact() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = accept_with(tcp, plain(), |_| Ok(Accept::new()))
            .await
            .unwrap();
        // Server → client first (written straight from this buffer), then an echo.
        ws.send(&pattern(4 << 20, 1)).await.unwrap();
        while let Some(m) = ws.next().await {
            ws.send(&m.unwrap()).await.unwrap();
        }
    });
    let mut copts = ClientOptions::new();
    copts.options = plain();
    let (mut ws, _) = connect_with(&url, copts).await.unwrap();
    let first = tokio::time::timeout(LIMIT, ws.next()).await.unwrap();
    assert!(first.unwrap().unwrap() == Message::Binary(pattern(4 << 20, 1)));
    let bin = pattern(4 << 20, 2);
    let text = big_text(4 << 20);
    for msg in [Message::Binary(bin), Message::Text(text)] {
        ws.send(&msg).await.unwrap();
        let back = tokio::time::timeout(LIMIT, ws.next()).await.unwrap();
        assert!(
            back.unwrap().unwrap() == msg,
            "{:?} echo differs",
            msg.kind()
        );
    }
    ws.close(wsmachine_tokio::CloseCode::NORMAL, "")
        .await
        .unwrap();
    tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn four_mib_messages_cross_a_duplex_stream_both_ways_intact() {
    let (a, b) = tokio::io::duplex(64 << 10);
    let srv = tokio::spawn(async move { accept_with(b, plain(), |_| Ok(Accept::new())).await });
    let url = Url::parse("ws://test.invalid/").unwrap();
    let mut copts = ClientOptions::new();
    copts.options = plain();
    let (c, _) = client(a, &url, copts).await.unwrap();
    let s = srv.await.unwrap().unwrap();
    // Each side sends while the other reads (the pipe holds 64 KiB).
    let (mut cr, cw) = c.split();
    let (mut sr, sw) = s.split();
    let to_client = tokio::spawn(async move {
        sw.send(&pattern(4 << 20, 3)).await.unwrap();
        sw.send(big_text(4 << 20).as_str()).await.unwrap();
        sw
    });
    let to_server = tokio::spawn(async move {
        cw.send(&pattern(4 << 20, 4)).await.unwrap();
        cw
    });
    let got = tokio::time::timeout(LIMIT, sr.next()).await.unwrap();
    assert!(got.unwrap().unwrap() == Message::Binary(pattern(4 << 20, 4)));
    for want in [
        Message::Binary(pattern(4 << 20, 3)),
        Message::Text(big_text(4 << 20)),
    ] {
        let got = tokio::time::timeout(LIMIT, cr.next()).await.unwrap();
        assert!(got.unwrap().unwrap() == want);
    }
    to_client.await.unwrap();
    to_server.await.unwrap();
}

/// A stream that takes vectored writes but only a few bytes of them at a time (following
/// `limits`, cyclically), so that the header and payload of a direct write are cut anywhere.
struct Stingy {
    inner: DuplexStream,
    limits: Vec<usize>,
    at: usize,
}

impl AsyncRead for Stingy {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stingy {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let limit = self.limits[self.at % self.limits.len()];
        let r = Pin::new(&mut self.inner).poll_write(cx, &buf[..buf.len().min(limit)]);
        if r.is_ready() {
            self.at += 1;
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.poll_write(cx, &joined)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn partial_vectored_writes_keep_frames_whole_and_in_order() {
    let (a, b) = tokio::io::duplex(32 << 10);
    let stingy = Stingy {
        inner: b,
        limits: vec![1, 3, 5000, 2, 70_000, 11],
        at: 0,
    };
    let srv =
        tokio::spawn(async move { accept_with(stingy, plain(), |_| Ok(Accept::new())).await });
    let url = Url::parse("ws://test.invalid/").unwrap();
    let mut copts = ClientOptions::new();
    copts.options = plain();
    let (mut c, _) = client(a, &url, copts).await.unwrap();
    let s: WebSocket<Stingy> = srv.await.unwrap().unwrap();
    let sizes = [
        5usize,
        1024,
        1025,
        200,
        65_535,
        65_536,
        200_000,
        3000,
        1 << 20,
        1024,
        0,
    ];
    let msgs: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, i as u32))
        .collect();
    // The server reads in a task of its own: it answers the client's pings, queuing pongs
    // between (and writing them along with) the frames sent straight.
    let (mut sr, sw) = s.split();
    let reading = tokio::spawn(async move {
        while let Some(r) = sr.next().await {
            r.unwrap();
        }
    });
    let sending = {
        let msgs = msgs.clone();
        tokio::spawn(async move {
            for (i, m) in msgs.iter().enumerate() {
                if i % 3 == 2 {
                    // Some go through the queue behind others (`feed`), some straight.
                    sw.feed(m).await.unwrap();
                } else {
                    sw.send(m).await.unwrap();
                }
            }
            sw.flush().await.unwrap();
        })
    };
    for (i, want) in msgs.iter().enumerate() {
        c.ping(b"p").await.unwrap();
        let got = tokio::time::timeout(LIMIT, c.next()).await.unwrap();
        assert!(
            got.unwrap().unwrap() == Message::Binary(want.clone()),
            "message {i}"
        );
    }
    tokio::time::timeout(LIMIT, sending).await.unwrap().unwrap();
    c.close(wsmachine_tokio::CloseCode::NORMAL, "")
        .await
        .unwrap();
    tokio::time::timeout(LIMIT, reading).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_fed_echo_over_tcp_returns_bursts_of_mixed_sizes_intact() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    // The echo of examples/echo_server.rs: `next` + `feed` (fed replies are written straight
    // away when nothing else is pending, else batched until the reader runs out of input).
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = accept_with(tcp, plain(), |_| Ok(Accept::new()))
            .await
            .unwrap();
        while let Some(m) = ws.next().await {
            ws.feed(&m.unwrap()).await.unwrap();
        }
    });
    let mut copts = ClientOptions::new();
    copts.options = plain();
    let (ws, _) = connect_with(&url, copts).await.unwrap();
    let (mut reader, writer) = ws.split();
    let sizes = [20usize, 1024, 4 << 20, 16 << 10, 3, 70_000, 1 << 20, 1023];
    let msgs: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, 10 + i as u32))
        .collect();
    let sending = {
        let msgs = msgs.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                for m in &msgs {
                    writer.feed(m).await.unwrap();
                }
                writer.flush().await.unwrap();
            }
            writer
        })
    };
    for round in 0..3 {
        for (i, want) in msgs.iter().enumerate() {
            let got = tokio::time::timeout(LIMIT, reader.next()).await.unwrap();
            assert!(
                got.unwrap().unwrap() == Message::Binary(want.clone()),
                "round {round}, message {i}"
            );
        }
    }
    let writer = sending.await.unwrap();
    writer
        .close(wsmachine_tokio::CloseCode::NORMAL, "")
        .await
        .unwrap();
    assert!(tokio::time::timeout(LIMIT, reader.next())
        .await
        .unwrap()
        .is_none());
    tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
}
