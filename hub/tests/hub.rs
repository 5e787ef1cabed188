//! Integration tests of wsmachine-hub over real loopback sockets: the three auth patterns
//! and their misuse, permissions, publish/ack/fan-out, replay with and without history
//! loss, both backpressure policies, heartbeats, drain, malformed and oversized input.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wsmachine_hub::{Config, Hub};
use wsmachine_tokio::{
    connect_with, ClientOptions, CloseStatus, Error, MaybeTlsStream, Options, WebSocket,
};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;
const T: Duration = Duration::from_secs(10);

struct Running {
    addr: SocketAddr,
    hub: Arc<Hub>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(tweak: impl FnOnce(&mut Config)) -> Running {
    let mut c = Config {
        port: 0,
        demo_login: true,
        quiet: true,
        ..Config::default()
    };
    tweak(&mut c);
    let hub = Hub::new(c);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let h = hub.clone();
    let task = tokio::spawn(async move {
        wsmachine_hub::serve(h, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        addr,
        hub,
        stop: Some(tx),
        task,
    }
}

/// One HTTP request; returns (status, headers text, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(T, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// Logs in `name` and returns the session cookie (`hub_session=...`).
async fn login(addr: SocketAddr, name: &str) -> String {
    let (status, head, _) = http(
        addr,
        "POST",
        "/login",
        &[],
        &json!({ "name": name }).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let line = head
        .lines()
        .find(|l| l.starts_with("Set-Cookie: "))
        .unwrap();
    line["Set-Cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn token(addr: SocketAddr, cookie: &str) -> String {
    let (status, _, body) = http(addr, "POST", "/token", &[("Cookie", cookie)], "").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_string()
}

async fn ws(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> Result<Ws, Error> {
    let mut o = ClientOptions::new().options(Options::new().deflate(None));
    for (n, v) in headers {
        o = o.header(*n, *v);
    }
    let (ws, _) = tokio::time::timeout(T, connect_with(&format!("ws://{addr}/ws{query}"), o))
        .await
        .unwrap()?;
    Ok(ws)
}

async fn recv(ws: &mut Ws) -> Value {
    let m = tokio::time::timeout(T, ws.next())
        .await
        .expect("no frame in time")
        .expect("closed")
        .unwrap();
    serde_json::from_str(m.as_text().unwrap()).unwrap()
}

async fn send(ws: &Ws, v: Value) {
    ws.send(v.to_string().as_str()).await.unwrap();
}

/// Reads until the connection ends; returns the close status.
async fn closed(ws: &mut Ws) -> CloseStatus {
    tokio::time::timeout(T, async { while let Some(Ok(_)) = ws.next().await {} })
        .await
        .expect("not closed in time");
    ws.close_status().unwrap()
}

async fn cookie_client(addr: SocketAddr, name: &str) -> Ws {
    let cookie = login(addr, name).await;
    let mut c = ws(addr, "", &[("Cookie", &cookie)]).await.unwrap();
    let w = recv(&mut c).await;
    assert_eq!(
        (w["type"].as_str(), w["user"].as_str(), w["auth"].as_str()),
        (Some("welcome"), Some(name), Some("cookie"))
    );
    c
}

#[tokio::test]
async fn cookie_auth_publish_ack_and_fan_out() {
    let r = start(|_| {}).await;
    let mut alice = cookie_client(r.addr, "alice").await;
    let mut bob = cookie_client(r.addr, "bob").await;
    for c in [&mut alice, &mut bob] {
        send(c, json!({"type":"subscribe","channel":"chat.lobby","id":1})).await;
        let s = recv(c).await;
        assert_eq!(
            (
                s["type"].as_str(),
                s["id"].as_u64(),
                s["recovered"].as_bool()
            ),
            (Some("subscribed"), Some(1), Some(true))
        );
        assert_eq!(s["policy"], "close");
    }
    send(
        &alice,
        json!({"type":"publish","channel":"chat.lobby","id":"p1","payload":{"text":"hi"}}),
    )
    .await;
    // Alice gets her ack and the message (in either order); Bob the message.
    let mut got = [recv(&mut alice).await, recv(&mut alice).await];
    got.sort_by_key(|v| v["type"].as_str().unwrap().to_string());
    assert_eq!(got[0]["type"], "ack");
    assert_eq!(
        (got[0]["id"].as_str(), got[0]["seq"].as_u64()),
        (Some("p1"), Some(1))
    );
    assert_eq!(got[1]["type"], "message");
    let m = recv(&mut bob).await;
    assert_eq!(
        (
            m["from"].as_str(),
            m["seq"].as_u64(),
            m["payload"]["text"].as_str()
        ),
        (Some("alice"), Some(1), Some("hi"))
    );
    assert_eq!(m["epoch"], got[0]["epoch"]);
    // Ping, unsubscribe.
    send(&bob, json!({"type":"ping","id":9})).await;
    assert_eq!(recv(&mut bob).await, json!({"type":"pong","id":9}));
    send(
        &bob,
        json!({"type":"unsubscribe","channel":"chat.lobby","id":10}),
    )
    .await;
    assert_eq!(recv(&mut bob).await["type"], "ack");
    send(
        &alice,
        json!({"type":"publish","channel":"chat.lobby","payload":2}),
    )
    .await;
    send(&bob, json!({"type":"ping","id":11})).await;
    assert_eq!(
        recv(&mut bob).await["type"],
        "pong",
        "no message after unsubscribe"
    );
    assert_eq!(r.hub.metrics().connections.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn token_in_query_is_single_use_and_expires() {
    let r = start(|_| {}).await;
    let cookie = login(r.addr, "carol").await;
    let t = token(r.addr, &cookie).await;
    let mut c = ws(r.addr, &format!("?token={t}"), &[]).await.unwrap();
    let w = recv(&mut c).await;
    assert_eq!(
        (w["user"].as_str(), w["auth"].as_str()),
        (Some("carol"), Some("token"))
    );
    // Replayed token: refused on the upgrade.
    match ws(r.addr, &format!("?token={t}"), &[]).await {
        Err(Error::Rejected { status, .. }) => assert_eq!(status, 401),
        other => panic!("replayed token accepted: {:?}", other.map(|_| ())),
    }
    // Expired and forged tokens.
    let old = r.hub.authority().token("carol", 1);
    assert!(matches!(
        ws(r.addr, &format!("?token={old}"), &[]).await,
        Err(Error::Rejected { status: 401, .. })
    ));
    assert!(matches!(
        ws(r.addr, "?token=abc.def", &[]).await,
        Err(Error::Rejected { status: 401, .. })
    ));
    // Minting needs a session or an API key.
    let (status, _, _) = http(r.addr, "POST", "/token", &[], "").await;
    assert_eq!(status, 401);
    assert!(r.hub.metrics().auth_failures.load(Ordering::Relaxed) >= 4);
}

#[tokio::test]
async fn api_key_mints_tokens_and_cross_origin_posts_are_refused() {
    let key = "0123456789abcdef-key";
    let r = start(|c| c.api_keys.push(("svc".into(), key.into()))).await;
    let bearer = format!("Bearer {key}");
    let (status, _, body) = http(r.addr, "POST", "/token", &[("Authorization", &bearer)], "").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = http(
        r.addr,
        "POST",
        "/token",
        &[("Authorization", "Bearer wrong-key-wrong-key")],
        "",
    )
    .await;
    assert_eq!(status, 401);
    let cookie = login(r.addr, "dave").await;
    let (status, _, _) = http(
        r.addr,
        "POST",
        "/token",
        &[("Cookie", &cookie), ("Origin", "http://evil.example")],
        "",
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn first_message_auth_and_its_deadline() {
    let r = start(|c| c.auth_timeout = Duration::from_millis(400)).await;
    let cookie = login(r.addr, "erin").await;
    // Authenticates with a token in the first message.
    let t = token(r.addr, &cookie).await;
    let mut c = ws(r.addr, "", &[]).await.unwrap();
    send(&c, json!({"type":"subscribe","channel":"x","id":1})).await;
    let e = recv(&mut c).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str(), e["id"].as_u64()),
        (Some("error"), Some("UNAUTHORIZED"), Some(1))
    );
    send(&c, json!({"type":"auth","token":t,"id":2})).await;
    let w = recv(&mut c).await;
    assert_eq!(
        (w["type"].as_str(), w["auth"].as_str()),
        (Some("welcome"), Some("message"))
    );
    assert_eq!(recv(&mut c).await["type"], "ack");
    // Stays open past the deadline once authenticated.
    tokio::time::sleep(Duration::from_millis(700)).await;
    send(&c, json!({"type":"ping","id":3})).await;
    assert_eq!(recv(&mut c).await["type"], "pong");
    // No auth at all: closed with 1008 after the deadline.
    let t0 = std::time::Instant::now();
    let mut idle = ws(r.addr, "", &[]).await.unwrap();
    assert_eq!(closed(&mut idle).await.as_u16(), 1008);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A bad token in the first message: an error, then 1008 at the deadline.
    let mut bad = ws(r.addr, "", &[]).await.unwrap();
    send(&bad, json!({"type":"auth","token":"x.y"})).await;
    assert_eq!(recv(&mut bad).await["code"], "UNAUTHORIZED");
    assert_eq!(closed(&mut bad).await.as_u16(), 1008);
}

#[tokio::test]
async fn origin_allow_list() {
    let r = start(|c| c.allowed_origins.push("https://app.example".into())).await;
    let cookie = login(r.addr, "fay").await;
    let own = format!("http://{}", r.addr);
    for (origin, ok) in [
        (own.as_str(), true),
        ("https://app.example", true),
        ("https://evil.example", false),
    ] {
        let res = ws(r.addr, "", &[("Cookie", &cookie), ("Origin", origin)]).await;
        match (res, ok) {
            (Ok(_), true) => {}
            (Err(Error::Rejected { status: 403, .. }), false) => {}
            (res, _) => panic!("{origin}: {:?}", res.map(|_| ())),
        }
    }
    assert_eq!(r.hub.metrics().origin_rejections.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn permissions_rate_limit_and_bad_requests() {
    let r = start(|c| {
        c.publish_rate = 5;
        c.admins.push("root".into());
        c.max_message = 1024;
    })
    .await;
    let mut a = cookie_client(r.addr, "gus").await;
    send(&a, json!({"type":"subscribe","channel":"user.hal","id":1})).await;
    assert_eq!(recv(&mut a).await["code"], "FORBIDDEN");
    send(
        &a,
        json!({"type":"subscribe","channel":"user.gus.inbox","id":2}),
    )
    .await;
    assert_eq!(recv(&mut a).await["type"], "subscribed");
    send(
        &a,
        json!({"type":"publish","channel":"announce.all","payload":1,"id":3}),
    )
    .await;
    assert_eq!(recv(&mut a).await["code"], "FORBIDDEN");
    for bad in [
        "{",
        "[1]",
        r#"{"type":"dance"}"#,
        r#"{"type":"publish","channel":"bad name","payload":1}"#,
    ] {
        a.send(bad).await.unwrap();
        assert_eq!(recv(&mut a).await["code"], "BAD_REQUEST", "{bad}");
    }
    a.send(&b"\x01\x02"[..]).await.unwrap();
    assert_eq!(recv(&mut a).await["code"], "BAD_REQUEST");
    // Burst of 2 * rate = 10, then RATE_LIMITED.
    for i in 0..12 {
        send(
            &a,
            json!({"type":"publish","channel":"rl","payload":i,"id":100 + i}),
        )
        .await;
    }
    let mut codes = Vec::new();
    for _ in 0..12 {
        let v = recv(&mut a).await;
        codes.push(v["code"].as_str().unwrap_or("ok").to_string());
    }
    assert_eq!(codes.iter().filter(|c| *c == "ok").count(), 10, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| *c == "RATE_LIMITED").count(), 2);
    // Oversized frame: 1009.
    a.send("x".repeat(2000).as_str()).await.unwrap();
    assert_eq!(closed(&mut a).await.as_u16(), 1009);
    // The admin may announce.
    let mut root = cookie_client(r.addr, "root").await;
    send(
        &root,
        json!({"type":"publish","channel":"announce.all","payload":1,"id":1}),
    )
    .await;
    assert_eq!(recv(&mut root).await["type"], "ack");
}

#[tokio::test]
async fn replay_after_reconnect_with_and_without_history_loss() {
    let r = start(|c| c.history_count = 5).await;
    let mut p = cookie_client(r.addr, "ivy").await;
    let mut epoch = String::new();
    let publish = |n: u64| {
        let p = &p;
        async move {
            send(
                p,
                json!({"type":"publish","channel":"orders","payload":n,"id":n}),
            )
            .await;
        }
    };
    for n in 1..=3 {
        publish(n).await;
    }
    for n in 1..=3 {
        let a = recv(&mut p).await;
        assert_eq!(a["seq"].as_u64(), Some(n));
        epoch = a["epoch"].as_str().unwrap().to_string();
    }
    // A subscriber that saw seq 1 resumes: 2 and 3 are replayed, then live ones follow.
    let mut s = cookie_client(r.addr, "jon").await;
    send(
        &s,
        json!({"type":"subscribe","channel":"orders","last_seq":1,"epoch":epoch,"id":1}),
    )
    .await;
    let sub = recv(&mut s).await;
    assert_eq!(
        (
            sub["recovered"].as_bool(),
            sub["replayed"].as_u64(),
            sub["seq"].as_u64()
        ),
        (Some(true), Some(2), Some(3))
    );
    send(
        &p,
        json!({"type":"publish","channel":"orders","payload":4,"id":4}),
    )
    .await;
    let seqs: Vec<u64> = [recv(&mut s).await, recv(&mut s).await, recv(&mut s).await]
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3, 4]);
    // History keeps 5: after 10 messages, resuming from 2 is impossible.
    for n in 5..=10 {
        send(&p, json!({"type":"publish","channel":"orders","payload":n})).await;
    }
    let mut late = cookie_client(r.addr, "kim").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(
        &late,
        json!({"type":"subscribe","channel":"orders","last_seq":2,"epoch":epoch}),
    )
    .await;
    let sub = recv(&mut late).await;
    assert_eq!(
        (
            sub["recovered"].as_bool(),
            sub["replayed"].as_u64(),
            sub["seq"].as_u64()
        ),
        (Some(false), Some(0), Some(10))
    );
    // A wrong epoch (e.g. the hub restarted): not recovered.
    send(
        &late,
        json!({"type":"subscribe","channel":"orders","last_seq":10,"epoch":"0000"}),
    )
    .await;
    assert_eq!(recv(&mut late).await["recovered"], false);
    // last_seq 0: the whole history (6..=10), not recovered since 1..=5 are gone.
    let mut fresh = cookie_client(r.addr, "lee").await;
    send(
        &fresh,
        json!({"type":"subscribe","channel":"orders","last_seq":0}),
    )
    .await;
    let sub = recv(&mut fresh).await;
    assert_eq!(
        (sub["recovered"].as_bool(), sub["replayed"].as_u64()),
        (Some(false), Some(5))
    );
    assert_eq!(recv(&mut fresh).await["seq"], 6);
    assert!(r.hub.metrics().replays_lost.load(Ordering::Relaxed) >= 2);
}

/// A raw WebSocket client that completes the handshake with `cookie` and then does nothing
/// (never reads, never answers pings).
async fn silent_client(addr: SocketAddr, cookie: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

/// Masks and frames a text message (client to server).
fn client_frame(text: &str) -> Vec<u8> {
    let p = text.as_bytes();
    let mut f = vec![0x81];
    if p.len() < 126 {
        f.push(0x80 | p.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(p.len() as u16).to_be_bytes());
    }
    let mask = [1u8, 2, 3, 4];
    f.extend_from_slice(&mask);
    f.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[tokio::test]
async fn heartbeat_closes_a_silent_peer() {
    let r = start(|c| {
        c.heartbeat = Duration::from_millis(200);
        c.heartbeat_timeout = Duration::from_millis(300);
    })
    .await;
    let cookie = login(r.addr, "mo").await;
    let mut s = silent_client(r.addr, &cookie).await;
    // The hub pings and, with no pong, drops the connection: we read the welcome, a ping or
    // two, then EOF (no close frame: a dead peer gets 1006).
    let t0 = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let eof = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(eof.is_ok(), "silent peer still connected after 5 s");
    assert!(t0.elapsed() >= Duration::from_millis(400));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.hub.metrics().connections.load(Ordering::Relaxed), 0);
}

async fn flood(addr: SocketAddr, channel: &str, count: usize, size: usize) {
    let mut p = cookie_client(addr, "pub").await;
    let text = "x".repeat(size);
    for i in 0..count {
        send(
            &p,
            json!({"type":"publish","channel":channel,"payload":{"i":i,"t":text}}),
        )
        .await;
        // Keep the publisher's own acks drained.
        let _ = recv(&mut p).await;
    }
}

#[tokio::test]
async fn close_policy_closes_a_slow_consumer_with_1013() {
    let r = start(|c| {
        c.publish_rate = 1_000_000;
        c.queue_bytes = 64 << 10;
    })
    .await;
    let cookie = login(r.addr, "slow").await;
    let mut s = silent_client(r.addr, &cookie).await;
    s.write_all(&client_frame(r#"{"type":"subscribe","channel":"orders"}"#))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ~20 MB: more than the socket buffers, the send queue and the outbox hold.
    flood(r.addr, "orders", 2500, 8000).await;
    assert_eq!(
        r.hub.metrics().backpressure_closes.load(Ordering::Relaxed),
        1
    );
    drop(s);
}

#[tokio::test]
async fn drop_oldest_policy_keeps_a_slow_consumer_and_counts_drops() {
    let r = start(|c| {
        c.publish_rate = 1_000_000;
        c.queue_bytes = 64 << 10;
    })
    .await;
    let cookie = login(r.addr, "slow2").await;
    let mut s = silent_client(r.addr, &cookie).await;
    s.write_all(&client_frame(
        r#"{"type":"subscribe","channel":"ticker.btc"}"#,
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    flood(r.addr, "ticker.btc", 2500, 8000).await;
    let m = r.hub.metrics();
    assert_eq!(m.backpressure_closes.load(Ordering::Relaxed), 0);
    assert!(
        m.backpressure_drops.load(Ordering::Relaxed) > 100,
        "{}",
        m.backpressure_drops.load(Ordering::Relaxed)
    );
    assert_eq!(
        m.connections.load(Ordering::Relaxed),
        2,
        "the slow consumer stays connected"
    );
    drop(s);
}

#[tokio::test]
async fn drain_closes_everyone_with_1001_and_ends() {
    let mut r = start(|c| {
        c.drain = Duration::from_secs(2);
        c.drain_batch = 2;
    })
    .await;
    let mut clients = Vec::new();
    for i in 0..5 {
        clients.push(cookie_client(r.addr, &format!("d{i}")).await);
    }
    // One client that never answers the close: it holds the drain until the deadline.
    let cookie = login(r.addr, "stubborn").await;
    let silent = silent_client(r.addr, &cookie).await;
    let (status, _, _) = http(r.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(status, 200);
    let t0 = std::time::Instant::now();
    r.stop.take().unwrap().send(()).unwrap();
    for c in &mut clients {
        assert_eq!(closed(c).await.as_u16(), 1001);
        assert_eq!(
            c.close_reason().as_deref(),
            Some(wsmachine_hub::DRAIN_REASON)
        );
    }
    // While draining: unhealthy, and new upgrades are refused.
    let (status, _, body) = http(r.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(status, 503, "{body}");
    assert!(matches!(
        ws(r.addr, "", &[("Cookie", &cookie)]).await,
        Err(Error::Rejected { status: 503, .. })
    ));
    tokio::time::timeout(Duration::from_secs(5), &mut r.task)
        .await
        .expect("drain did not finish")
        .unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // The listener is gone.
    assert!(TcpStream::connect(r.addr).await.is_err());
    drop(silent);
}

#[tokio::test]
async fn drain_ends_early_when_everyone_has_left() {
    let mut r = start(|c| c.drain = Duration::from_secs(30)).await;
    let mut c = cookie_client(r.addr, "quick").await;
    let t0 = std::time::Instant::now();
    r.stop.take().unwrap().send(()).unwrap();
    assert_eq!(closed(&mut c).await.as_u16(), 1001);
    tokio::time::timeout(Duration::from_secs(5), &mut r.task)
        .await
        .expect("drain waited for the deadline")
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn http_endpoints() {
    let r = start(|_| {}).await;
    let (s, head, body) = http(r.addr, "GET", "/", &[], "").await;
    assert_eq!(s, 200);
    assert!(head.contains("text/html") && body.contains("HubClient"));
    let (s, _, body) = http(r.addr, "GET", "/wsmachine-client.js", &[], "").await;
    assert!(s == 200 && body.contains("export class HubClient"));
    let (s, _, body) = http(r.addr, "GET", "/metrics", &[], "").await;
    assert!(s == 200 && body.contains("wsmachine_hub_connections 0"));
    let (s, _, _) = http(r.addr, "GET", "/nope", &[], "").await;
    assert_eq!(s, 404);
    let (s, _, _) = http(r.addr, "DELETE", "/token", &[], "").await;
    assert_eq!(s, 405);
    let (s, _, _) = http(r.addr, "POST", "/login", &[], r#"{"name":"bad name"}"#).await;
    assert_eq!(s, 400);
    let (s, _, _) = http(r.addr, "GET", "/me", &[], "").await;
    assert_eq!(s, 401);
    // Upgrades elsewhere than /ws are refused.
    assert!(matches!(
        tokio::time::timeout(
            T,
            connect_with(&format!("ws://{}/other", r.addr), ClientOptions::new())
        )
        .await
        .unwrap(),
        Err(Error::Rejected { status: 404, .. })
    ));
    // Login off: 404.
    let r2 = start(|c| c.demo_login = false).await;
    let (s, _, _) = http(r2.addr, "POST", "/login", &[], r#"{"name":"a"}"#).await;
    assert_eq!(s, 404);
}
