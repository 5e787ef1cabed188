//! RFC 8441: WebSockets over HTTP/2 extended CONNECT, with an h2 server and an h2 client over
//! loopback TCP: two WebSockets echo on one HTTP/2 connection, refusals and invalid requests
//! get their status.
#![cfg(feature = "http2")]

use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use wsmachine_tokio::http2::{accept_h2_with, connect_h2, is_websocket};
use wsmachine_tokio::{
    Accept, ClientOptions, CloseCode, CloseStatus, Error, Message, Options, Reject, Url,
};

const LIMIT: Duration = Duration::from_secs(20);

/// An HTTP/2 server on a free port that turns every extended CONNECT into an echoing
/// WebSocket (refusing the path `/private` with 403), answers other requests 404, and
/// returns the address.
async fn server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut conn = h2::server::Builder::new()
            .enable_connect_protocol()
            .handshake::<_, Bytes>(tcp)
            .await
            .unwrap();
        while let Some(Ok((req, mut respond))) = conn.accept().await {
            if !is_websocket(&req) {
                let resp = http::Response::builder().status(404).body(()).unwrap();
                let _ = respond.send_response(resp, true);
                continue;
            }
            tokio::spawn(async move {
                let accepted = accept_h2_with(req, respond, Options::new(), |req| {
                    if req.uri().path() == "/private" {
                        return Err(Reject::new(403).body("keep out"));
                    }
                    let wanted = req
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.split(',').any(|p| p.trim() == "echo"));
                    Ok(if wanted {
                        Accept::new().subprotocol("echo")
                    } else {
                        Accept::new()
                    })
                })
                .await;
                let Ok(mut ws) = accepted else { return };
                while let Some(Ok(m)) = ws.next().await {
                    if ws.send(&m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// An HTTP/2 client connection to `addr` (its connection task spawned).
async fn h2_client(addr: std::net::SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

#[tokio::test]
async fn two_websockets_echo_over_one_http2_connection() {
    let addr = server().await;
    let mut h2 = h2_client(addr).await;
    let url = Url::parse(&format!("ws://{addr}/chat?room=1")).unwrap();
    let (mut a, resp) = tokio::time::timeout(
        LIMIT,
        connect_h2(&mut h2, &url, ClientOptions::new().subprotocol("echo")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(resp.subprotocol.as_deref(), Some("echo"));
    assert_eq!(a.protocol(), Some("echo"));
    #[cfg(feature = "deflate")]
    assert!(a.deflate().is_some(), "permessage-deflate over h2");
    let (mut b, _) = connect_h2(&mut h2, &url, ClientOptions::new())
        .await
        .unwrap();
    assert_eq!(b.protocol(), None);

    a.send("first").await.unwrap();
    b.send("second").await.unwrap();
    assert_eq!(
        b.next().await.unwrap().unwrap(),
        Message::Text("second".into())
    );
    assert_eq!(
        a.next().await.unwrap().unwrap(),
        Message::Text("first".into())
    );
    // More than the default 64 KiB HTTP/2 window: flow control must release and wait.
    let big: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    a.send(&big).await.unwrap();
    assert_eq!(a.next().await.unwrap().unwrap(), Message::Binary(big));

    let status = tokio::time::timeout(LIMIT, a.close(CloseCode::NORMAL, "done"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, CloseStatus::Code(CloseCode::NORMAL));
    // The other WebSocket on the same connection is unaffected.
    b.send("still here").await.unwrap();
    assert_eq!(
        b.next().await.unwrap().unwrap(),
        Message::Text("still here".into())
    );
    b.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn a_refusal_over_http2_reaches_the_client() {
    let addr = server().await;
    let mut h2 = h2_client(addr).await;
    let url = Url::parse(&format!("ws://{addr}/private")).unwrap();
    match connect_h2(&mut h2, &url, ClientOptions::new()).await {
        Err(Error::Rejected { status, body }) => {
            assert_eq!(status, 403);
            assert_eq!(body, b"keep out");
        }
        other => panic!("{:?}", other.map(drop)),
    }
}

#[tokio::test]
async fn a_connect_without_the_websocket_version_gets_400() {
    let addr = server().await;
    let h2 = h2_client(addr).await;
    let mut ready = h2.ready().await.unwrap();
    while !ready.is_extended_connect_protocol_enabled() {
        tokio::time::sleep(Duration::from_millis(1)).await;
        ready = ready.ready().await.unwrap();
    }
    let req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}/chat"))
        .extension(h2::ext::Protocol::from_static("websocket"))
        .body(())
        .unwrap();
    let (resp, _send) = ready.send_request(req, false).unwrap();
    let resp = tokio::time::timeout(LIMIT, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), 400);
}
