//! A small load driver for wsmachine-hub (loopback only, bounded in count and time):
//!
//!   load idle   --url http://127.0.0.1:8080 --conns 10000 [--pid PID]
//!       opens N authenticated connections, holds them, prints the hub's RSS per connection
//!       (with --pid, from /proc) and the open count.
//!   load fanout --url http://127.0.0.1:8080 --subs 1000 --messages 2000 [--size 64]
//!       N subscribers on one channel, one publisher sending M messages (each waits for its
//!       ack); prints deliveries per second and the publish-to-delivery latency p50/p99/max,
//!       and checks that every subscriber got every seq once, in order.
//!
//! The hub must run with --demo-login (and a --rate high enough for the publisher).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsmachine_tokio::{connect_with, ClientOptions, MaybeTlsStream, Options, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;
const T: Duration = Duration::from_secs(60);

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

async fn login(host: &str, name: &str) -> String {
    let mut s = TcpStream::connect(host).await.expect("connect");
    let body = json!({ "name": name }).to_string();
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let line = out
        .lines()
        .find(|l| l.starts_with("Set-Cookie: "))
        .expect("no cookie: is the hub running with --demo-login?");
    line["Set-Cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn connect(host: &str, cookie: &str) -> Ws {
    let o = ClientOptions::new()
        .options(Options::new().deflate(None))
        .header("Cookie", cookie);
    let (mut ws, _) = tokio::time::timeout(T, connect_with(&format!("ws://{host}/ws"), o))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    let w = recv(&mut ws).await;
    assert_eq!(w["type"], "welcome");
    ws
}

async fn recv(ws: &mut Ws) -> Value {
    let m = tokio::time::timeout(T, ws.next())
        .await
        .expect("no frame in time")
        .expect("closed")
        .expect("error");
    serde_json::from_str(m.as_text().unwrap()).unwrap()
}

fn rss_kib(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let url = arg("--url").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let cookie = login(&host, "load").await;
    match mode.as_str() {
        "idle" => {
            let n: usize = arg("--conns").and_then(|v| v.parse().ok()).unwrap_or(1000);
            let pid = arg("--pid");
            let before = pid.as_deref().and_then(rss_kib);
            let t0 = Instant::now();
            let mut conns = Vec::with_capacity(n);
            // In waves of 500 so that the listen backlog never overflows.
            for start in (0..n).step_by(500) {
                let wave: Vec<_> = (start..(start + 500).min(n))
                    .map(|_| {
                        let (h, c) = (host.clone(), cookie.clone());
                        tokio::spawn(async move { connect(&h, &c).await })
                    })
                    .collect();
                for w in wave {
                    conns.push(w.await.unwrap());
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = pid.as_deref().and_then(rss_kib);
            println!(
                "idle: {} connections open in {:.1} s",
                conns.len(),
                t0.elapsed().as_secs_f64()
            );
            if let (Some(b), Some(a)) = (before, after) {
                println!(
                    "idle: hub RSS {b} KiB -> {a} KiB: {:.1} KiB per connection",
                    (a.saturating_sub(b)) as f64 / n as f64
                );
            }
        }
        "fanout" => {
            let subs: usize = arg("--subs").and_then(|v| v.parse().ok()).unwrap_or(1000);
            let messages: u64 = arg("--messages")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            let size: usize = arg("--size").and_then(|v| v.parse().ok()).unwrap_or(64);
            let channel = format!("load.{}", now_us());
            let delivered = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for _ in 0..subs {
                let (h, c, ch, d) = (
                    host.clone(),
                    cookie.clone(),
                    channel.clone(),
                    delivered.clone(),
                );
                let mut ws = connect(&h, &c).await;
                ws.send(
                    json!({"type":"subscribe","channel":ch})
                        .to_string()
                        .as_str(),
                )
                .await
                .unwrap();
                assert_eq!(recv(&mut ws).await["type"], "subscribed");
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(messages as usize);
                    let mut next = 1u64;
                    while next <= messages {
                        let m = recv(&mut ws).await;
                        assert_eq!(m["seq"].as_u64(), Some(next), "gap or duplicate");
                        next += 1;
                        lat.push(now_us().saturating_sub(m["payload"]["t"].as_u64().unwrap()));
                        d.fetch_add(1, Ordering::Relaxed);
                    }
                    lat
                }));
            }
            let mut publisher = connect(&host, &cookie).await;
            let pad = "x".repeat(size);
            let t0 = Instant::now();
            for i in 0..messages {
                let msg = json!({"type":"publish","channel":channel,"id":i,"payload":{"t":now_us(),"pad":pad}});
                publisher.send(msg.to_string().as_str()).await.unwrap();
                let ack = recv(&mut publisher).await;
                assert_eq!(ack["type"], "ack", "{ack}");
            }
            let mut lat = Vec::new();
            for t in tasks {
                lat.extend(t.await.unwrap());
            }
            let secs = t0.elapsed().as_secs_f64();
            lat.sort_unstable();
            println!(
                "fanout: 1 publisher -> {subs} subscribers, {messages} messages of ~{size} B: \
                 {} deliveries in {secs:.2} s = {:.0} deliveries/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                delivered.load(Ordering::Relaxed),
                delivered.load(Ordering::Relaxed) as f64 / secs,
                pct(&lat, 0.5) as f64 / 1000.0,
                pct(&lat, 0.99) as f64 / 1000.0,
                lat.last().copied().unwrap_or(0) as f64 / 1000.0,
            );
        }
        _ => {
            eprintln!("usage: load idle|fanout --url http://HOST:PORT [...] (see the source)");
            std::process::exit(2);
        }
    }
}
