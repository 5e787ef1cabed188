//! The `futures` integration: `Stream` and `Sink` through `StreamExt`/`SinkExt`, over loopback
//! TCP and in-memory duplex streams: echo with `forward` and `send_all`, backpressure in
//! `poll_ready`, the send timeout, and a clean close from `poll_close`. (The inherent `send`,
//! `feed`, `flush` and `close` take precedence over `SinkExt`'s: call those as
//! `SinkExt::send(&mut ws, msg)`.)
#![cfg(feature = "futures")]

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::FusedStream;
use futures_util::{stream, Sink, SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::net::TcpListener;
use wsmachine_tokio::{
    accept_with, client, connect, Accept, ClientOptions, CloseCode, CloseStatus, Error, Message,
    Options, Url, WebSocket,
};

const LIMIT: Duration = Duration::from_secs(20);

/// Options without permessage-deflate (whatever the features).
fn plain() -> Options {
    let o = Options::new();
    #[cfg(feature = "deflate")]
    let o = o.deflate(None);
    o
}

/// A client and a server connected over an in-memory pipe of `capacity` bytes each way.
async fn pair(
    capacity: usize,
    server: Options,
) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(capacity);
    let srv = tokio::spawn(async move { accept_with(b, server, |_| Ok(Accept::new())).await });
    let url = Url::parse("ws://test.invalid/").unwrap();
    let (c, _) = client(a, &url, ClientOptions::new()).await.unwrap();
    (c, srv.await.unwrap().unwrap())
}

fn messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| match i % 3 {
            0 => Message::Text(format!("message {i}")),
            1 => Message::Binary(vec![i as u8; i * 37 % 5000]),
            _ => Message::Binary((0..70_000u32).map(|j| (j * 7 + i as u32) as u8).collect()),
        })
        .collect()
}

#[tokio::test]
async fn forward_echoes_what_send_all_sends_then_close_is_clean() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", l.local_addr().unwrap());
    // Server: the reader forwarded into the writer (permessage-deflate on: compressed frames
    // go through the sink too).
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let ws = accept_with(tcp, Options::new(), |_| Ok(Accept::new()))
            .await
            .unwrap();
        let (reader, writer) = ws.split();
        let closer = writer.clone();
        reader.forward(writer).await.unwrap();
        closer.close_status()
    });
    let (mut ws, _) = connect(&url).await.unwrap();
    let sent = messages(60);
    let mut items = stream::iter(sent.clone()).map(Ok);
    tokio::time::timeout(LIMIT, ws.send_all(&mut items))
        .await
        .unwrap()
        .unwrap();
    let got: Vec<Message> = tokio::time::timeout(
        LIMIT,
        (&mut ws).take(sent.len()).map(Result::unwrap).collect(),
    )
    .await
    .unwrap();
    assert_eq!(got, sent);
    // `SinkExt::close`: a close frame with 1000, then the rest of the handshake.
    tokio::time::timeout(LIMIT, SinkExt::close(&mut ws))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ws.close_status(),
        Some(CloseStatus::Code(CloseCode::NORMAL))
    );
    assert!(ws.next().await.is_none());
    let seen = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(seen, Some(CloseStatus::Code(CloseCode::NORMAL)));
}

#[tokio::test]
async fn poll_ready_waits_while_the_peer_does_not_read_then_resumes() {
    let opts = plain().send_queue_limit(32 << 10);
    // 16 KiB of pipe: the client does not read at first.
    let (mut c, mut s) = pair(16 << 10, opts).await;
    let msg = Message::Binary(vec![7u8; 8 << 10]);
    let mut fed = 0;
    loop {
        let ready = tokio::time::timeout(
            Duration::from_millis(200),
            poll_fn(|cx| Pin::new(&mut s).poll_ready(cx)),
        )
        .await;
        match ready {
            Ok(r) => r.unwrap(),
            Err(_) => break, // Pending: the backpressure.
        }
        Pin::new(&mut s).start_send(msg.clone()).unwrap();
        fed += 1;
        assert!(fed < 100, "poll_ready never waited");
    }
    // The queue holds at most the mark plus one message.
    assert!(s.queued() > 32 << 10 && s.queued() <= (32 << 10) + (8 << 10) + 64);
    // The peer reads: the sink becomes ready and the flush completes.
    let reading = tokio::spawn(async move {
        let mut n = 0;
        while let Some(m) = c.next().await {
            assert_eq!(m.unwrap().len(), 8 << 10);
            n += 1;
        }
        n
    });
    tokio::time::timeout(LIMIT, SinkExt::feed(&mut s, msg.clone()))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(LIMIT, SinkExt::flush(&mut s))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.queued(), 0);
    tokio::time::timeout(LIMIT, SinkExt::close(&mut s))
        .await
        .unwrap()
        .unwrap();
    let n = tokio::time::timeout(LIMIT, reading).await.unwrap().unwrap();
    assert_eq!(n, fed + 1);
    assert_eq!(s.close_status(), Some(CloseStatus::Code(CloseCode::NORMAL)));
}

#[tokio::test(start_paused = true)]
async fn the_sink_send_timeout_abandons_a_peer_that_does_not_read() {
    let opts = plain()
        .send_queue_limit(4 << 10)
        .send_timeout(Some(Duration::from_secs(5)));
    let (_c, s) = pair(4 << 10, opts).await;
    let (_reader, mut writer) = s.split();
    let msg = Message::Binary(vec![1u8; 4 << 10]);
    let mut result = Ok(());
    for _ in 0..10 {
        result = SinkExt::send(&mut writer, msg.clone()).await;
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(Error::SendTimeout)), "{result:?}");
    assert_eq!(writer.close_status(), Some(CloseStatus::Abnormal));
    assert!(matches!(
        SinkExt::send(&mut writer, Message::Text("more".into())).await,
        Err(Error::Closed)
    ));
}

#[tokio::test]
async fn a_writer_closing_through_the_sink_completes_with_its_reader() {
    let (mut c, s) = pair(1 << 16, plain()).await;
    let echo = tokio::spawn(async move {
        while let Some(m) = c.next().await {
            c.send(&m.unwrap()).await.unwrap();
        }
        c.close_status()
    });
    let (mut reader, mut writer) = s.split();
    SinkExt::send(&mut writer, Message::Text("one".into()))
        .await
        .unwrap();
    assert_eq!(
        reader.next().await.unwrap().unwrap(),
        Message::Text("one".into())
    );
    // The writer's close sends the frame; the reader sees the end of the handshake.
    tokio::time::timeout(LIMIT, SinkExt::close(&mut writer))
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::time::timeout(LIMIT, reader.next())
        .await
        .unwrap()
        .is_none());
    assert!(reader.is_terminated());
    assert_eq!(
        reader.close_status(),
        Some(CloseStatus::Code(CloseCode::NORMAL))
    );
    assert_eq!(
        tokio::time::timeout(LIMIT, echo).await.unwrap().unwrap(),
        Some(CloseStatus::Code(CloseCode::NORMAL))
    );
}
