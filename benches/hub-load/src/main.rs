//! hub-load: load and fault scenarios against a running wsmachine-hub (loopback only; every
//! scenario is bounded in connections and time). `make load` (scripts/tools/load.sh) starts
//! the hubs and runs the standard set; each scenario prints a human line and, with
//! `--json FILE`, appends one JSON object to FILE.
//!
//! ```text
//! hub-load idle    --url http://127.0.0.1:8080 --conns 10000 [--pid PID] [--idle-secs 10]
//! hub-load fanout  --url … --subs 1000 --messages 1000 [--size 64]
//! hub-load storm   --url … --clients 5000 [--rate 200] [--pid PID]
//! hub-load slow    --url … --subs 1000 --slow-pct 10 [--secs 15] [--size 4096] [--rate 200] [--pid PID] [--channel C]
//! hub-load exhaust --url … --conns 1500 --pid PID
//! ```
//!
//! `--deflate` makes every client offer permessage-deflate (as browsers do).
//!
//! The hub must run with `--demo-login` and a `--rate` high enough for the publisher.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

fn num<N: std::str::FromStr>(name: &str, default: N) -> N {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Appends one result to the `--json` file (and prints it).
fn report(v: Value) {
    println!("{v}");
    if let Some(path) = arg("--json") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{v}");
        }
    }
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

async fn try_connect(host: &str, cookie: &str) -> Result<Ws, String> {
    // permessage-deflate only with --deflate (browsers offer it; it costs zlib's state).
    let deflate = std::env::args()
        .any(|a| a == "--deflate")
        .then(wsmachine_tokio::wsmachine::deflate::DeflateConfig::new);
    let o = ClientOptions::new()
        .options(Options::new().deflate(deflate))
        .header("Cookie", cookie);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        connect_with(&format!("ws://{host}/ws"), o),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| e.to_string())?;
    let w = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .map_err(|_| "no welcome".to_string())?
        .ok_or("closed before welcome")?
        .map_err(|e| e.to_string())?;
    if !w.as_text().is_some_and(|t| t.contains("\"welcome\"")) {
        return Err(format!("unexpected first frame {w:?}"));
    }
    Ok(ws)
}

async fn connect(host: &str, cookie: &str) -> Ws {
    try_connect(host, cookie).await.expect("connect failed")
}

async fn recv(ws: &mut Ws) -> Value {
    let m = tokio::time::timeout(T, ws.next())
        .await
        .expect("no frame in time")
        .expect("closed")
        .expect("error");
    serde_json::from_str(m.as_text().unwrap()).unwrap()
}

async fn subscribe(
    ws: &mut Ws,
    channel: &str,
    last_seq: Option<u64>,
    epoch: Option<&str>,
) -> Value {
    let mut req = json!({"type":"subscribe","channel":channel});
    if let Some(s) = last_seq {
        req["last_seq"] = json!(s);
    }
    if let Some(e) = epoch {
        req["epoch"] = json!(e);
    }
    ws.send(req.to_string().as_str()).await.unwrap();
    loop {
        let v = recv(ws).await;
        if v["type"] == "subscribed" {
            return v;
        }
    }
}

fn rss_kib(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU % of `pid` over `secs`.
async fn cpu_pct(pid: &str, secs: f64) -> Option<f64> {
    let a = cpu_ticks(pid)?;
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let b = cpu_ticks(pid)?;
    Some((b - a) as f64 / secs)
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Opens `n` connections, 500 at a time (so the listen backlog never overflows).
async fn open_many(host: &str, cookie: &str, n: usize) -> Vec<Ws> {
    let mut conns = Vec::with_capacity(n);
    for start in (0..n).step_by(500) {
        let wave: Vec<_> = (start..(start + 500).min(n))
            .map(|_| {
                let (h, c) = (host.to_string(), cookie.to_string());
                tokio::spawn(async move { connect(&h, &c).await })
            })
            .collect();
        for w in wave {
            conns.push(w.await.unwrap());
        }
    }
    conns
}

/// A publisher that publishes `{"t": <send time µs>, "pad": …}` at `rate` per second until
/// `stop` (each publish waits for its ack); returns the acknowledged seqs.
fn publisher(
    host: String,
    cookie: String,
    channel: String,
    rate: u64,
    size: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut ws = connect(&host, &cookie).await;
        let pad = "x".repeat(size);
        let mut acked = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
        let mut id = 0u64;
        while !*stop.borrow() {
            tick.tick().await;
            id += 1;
            let msg = json!({"type":"publish","channel":channel,"id":id,"payload":{"t":now_us(),"pad":pad}});
            ws.send(msg.to_string().as_str()).await.unwrap();
            loop {
                let v = recv(&mut ws).await;
                if v["type"] == "ack" {
                    acked.push(v["seq"].as_u64().unwrap());
                    break;
                }
                assert_ne!(v["type"], "error", "publish refused: {v}");
            }
        }
        acked
    })
}

async fn idle(host: &str, cookie: &str) {
    let n: usize = num("--conns", 1000);
    let pid = arg("--pid");
    let before = pid.as_deref().and_then(rss_kib);
    let t0 = Instant::now();
    let conns = open_many(host, cookie, n).await;
    let open_s = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = pid.as_deref().and_then(rss_kib);
    let secs: f64 = num("--idle-secs", 10.0);
    let cpu = match &pid {
        Some(p) => cpu_pct(p, secs).await,
        None => None,
    };
    let per_conn = match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / n as f64),
        _ => None,
    };
    report(json!({
        "scenario": "idle", "connections": conns.len(), "open_s": open_s,
        "rss_before_kib": before, "rss_after_kib": after, "kib_per_connection": per_conn,
        "idle_cpu_pct": cpu, "idle_secs": secs,
    }));
}

async fn fanout(host: &str, cookie: &str) {
    let subs: usize = num("--subs", 1000);
    let messages: u64 = num("--messages", 1000);
    let size: usize = num("--size", 64);
    let channel = format!("load.fanout.{}", now_us());
    let delivered = Arc::new(AtomicU64::new(0));
    let mut conns = open_many(host, cookie, subs).await;
    for ws in &mut conns {
        subscribe(ws, &channel, None, None).await;
    }
    let mut tasks = Vec::new();
    for mut ws in conns {
        let d = delivered.clone();
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
    let mut publisher = connect(host, cookie).await;
    let pad = "x".repeat(size);
    let t0 = Instant::now();
    for i in 0..messages {
        let msg =
            json!({"type":"publish","channel":channel,"id":i,"payload":{"t":now_us(),"pad":pad}});
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
    let n = delivered.load(Ordering::Relaxed);
    report(json!({
        "scenario": "fanout", "subscribers": subs, "messages": messages, "size": size,
        "deliveries": n, "secs": secs, "deliveries_per_s": n as f64 / secs,
        "p50_ms": pct(&lat, 0.5) as f64 / 1e3, "p99_ms": pct(&lat, 0.99) as f64 / 1e3,
        "max_ms": lat.last().copied().unwrap_or(0) as f64 / 1e3, "lost": 0,
    }));
}

/// 5,000 subscribers drop at once (sockets closed without a close frame) and come back with
/// backoff and jitter (1 s doubling to 30 s, ±25 %), resuming from their last seq, while a
/// publisher keeps publishing.
async fn storm(host: &str, cookie: &str) {
    let clients: usize = num("--clients", 5000);
    let rate: u64 = num("--rate", 200);
    let channel = format!("load.storm.{}", now_us());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (drop_tx, drop_rx) = tokio::sync::watch::channel(false);
    let mut conns = open_many(host, cookie, clients).await;
    let mut starts = Vec::with_capacity(clients);
    for ws in &mut conns {
        let s = subscribe(ws, &channel, Some(0), None).await;
        starts.push(s["epoch"].as_str().unwrap().to_string());
    }
    let pubh = publisher(
        host.into(),
        cookie.into(),
        channel.clone(),
        rate,
        16,
        stop_rx.clone(),
    );
    let connects: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default(); // 100 ms bucket → connects
    let back = Arc::new(AtomicUsize::new(0));
    let dropped_at = Arc::new(Mutex::new(None::<Instant>));
    let mut tasks = Vec::new();
    for (i, mut ws) in conns.into_iter().enumerate() {
        let (h, c, ch, epoch) = (
            host.to_string(),
            cookie.to_string(),
            channel.clone(),
            starts[i].clone(),
        );
        let (mut drop_rx, stop_rx) = (drop_rx.clone(), stop_rx.clone());
        let (connects, back, dropped_at) = (connects.clone(), back.clone(), dropped_at.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs: Vec<u64> = Vec::new();
            // Until the drop: read.
            loop {
                tokio::select! {
                    m = ws.next() => {
                        let v: Value = serde_json::from_str(m.unwrap().unwrap().as_text().unwrap()).unwrap();
                        if v["type"] == "message" { seqs.push(v["seq"].as_u64().unwrap()); }
                    }
                    _ = drop_rx.changed() => break,
                }
            }
            drop(ws); // abrupt: no close frame
            // Back with backoff and jitter.
            let mut attempt = 0u32;
            let mut ws = loop {
                let base = (1000u64 << attempt.min(5)).min(30_000) as f64;
                let jitter = 1.0 + 0.25 * (2.0 * ((now_us() % 1000) as f64 / 1000.0) - 1.0);
                tokio::time::sleep(Duration::from_millis((base * jitter) as u64)).await;
                match try_connect(&h, &c).await {
                    Ok(ws) => break ws,
                    Err(_) => attempt += 1,
                }
            };
            let t0 = dropped_at.lock().unwrap().unwrap_or_else(Instant::now);
            *connects.lock().unwrap().entry(t0.elapsed().as_millis() as u64 / 100).or_default() += 1;
            let last = seqs.last().copied().unwrap_or(0);
            let s = subscribe(&mut ws, &ch, Some(last), Some(&epoch)).await;
            assert_eq!(s["recovered"], true, "history did not reach back: {s}");
            let target = s["seq"].as_u64().unwrap();
            let mut counted = false;
            loop {
                if !counted && seqs.last().copied().unwrap_or(0) >= target {
                    back.fetch_add(1, Ordering::Relaxed);
                    counted = true;
                }
                let m = tokio::select! {
                    m = ws.next() => m,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {
                        if *stop_rx.borrow() { break } else { continue }
                    }
                };
                let v: Value = serde_json::from_str(m.unwrap().unwrap().as_text().unwrap()).unwrap();
                if v["type"] == "message" {
                    seqs.push(v["seq"].as_u64().unwrap());
                }
            }
            seqs
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t_drop = Instant::now();
    *dropped_at.lock().unwrap() = Some(t_drop);
    drop_tx.send(true).unwrap();
    let mut all_back = None;
    while t_drop.elapsed() < Duration::from_secs(120) {
        if back.load(Ordering::Relaxed) == clients {
            all_back = Some(t_drop.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_tx.send(true).unwrap();
    let acked = pubh.await.unwrap();
    let last_acked = acked.last().copied().unwrap_or(0);
    let (mut lost, mut dup_or_gap) = (0u64, 0u64);
    for t in tasks {
        let seqs = t.await.unwrap();
        if seqs.windows(2).any(|w| w[1] != w[0] + 1) {
            dup_or_gap += 1;
        }
        if seqs.last().copied().unwrap_or(0) < last_acked {
            lost += 1;
        }
    }
    let peak = connects
        .lock()
        .unwrap()
        .values()
        .copied()
        .max()
        .unwrap_or(0)
        * 10;
    report(json!({
        "scenario": "storm", "clients": clients, "publish_rate": rate,
        "all_back_s": all_back, "peak_reconnects_per_s": peak, "acked": acked.len(),
        "clients_missing_messages": lost, "clients_with_gap_or_duplicate": dup_or_gap,
    }));
}

/// A subscriber that never reads: a raw socket with a 4 KiB receive buffer (so that the hub
/// feels it within a second, not after megabytes of kernel buffers), the upgrade with
/// `cookie`, one masked `subscribe` frame, then silence.
async fn silent_subscriber(host: &str, cookie: &str, channel: &str) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    let _ = sock.set_recv_buffer_size(4096);
    let mut s = sock.connect(host.parse().unwrap()).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let p = json!({"type":"subscribe","channel":channel})
        .to_string()
        .into_bytes();
    let mask = [7u8, 1, 2, 3];
    let mut f = vec![0x81, 0x80 | p.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).await.unwrap();
    s
}

/// `subs` subscribers, `slow_pct` % of which stop reading; the others' latency and the hub's
/// memory are measured while a publisher sends `size`-byte messages at `rate`.
async fn slow(host: &str, cookie: &str) {
    let subs: usize = num("--subs", 1000);
    let slow_pct: usize = num("--slow-pct", 10);
    let secs: f64 = num("--secs", 15.0);
    let size: usize = num("--size", 4096);
    let rate: u64 = num("--rate", 200);
    let pid = arg("--pid");
    let channel = format!(
        "{}.{}",
        arg("--channel").unwrap_or_else(|| "load.slow".into()),
        now_us()
    );
    let n_slow = subs * slow_pct / 100;
    let mut conns = open_many(host, cookie, subs - n_slow).await;
    for ws in &mut conns {
        subscribe(ws, &channel, None, None).await;
    }
    let mut slow_conns = Vec::new();
    for _ in 0..n_slow {
        slow_conns.push(silent_subscriber(host, cookie, &channel).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for mut ws in conns {
        let stop_rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let m = tokio::select! {
                    m = ws.next() => m,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {
                        if *stop_rx.borrow() { break } else { continue }
                    }
                };
                let Some(Ok(m)) = m else { break };
                let v: Value = serde_json::from_str(m.as_text().unwrap()).unwrap();
                if v["type"] == "message" {
                    lat.push(now_us().saturating_sub(v["payload"]["t"].as_u64().unwrap()));
                }
            }
            lat
        }));
    }
    let before = pid.as_deref().and_then(rss_kib);
    let pubh = publisher(
        host.into(),
        cookie.into(),
        channel.clone(),
        rate,
        size,
        stop_rx,
    );
    let mut max_rss = before.unwrap_or(0);
    let t0 = Instant::now();
    while t0.elapsed().as_secs_f64() < secs {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(r) = pid.as_deref().and_then(rss_kib) {
            max_rss = max_rss.max(r);
        }
    }
    stop_tx.send(true).unwrap();
    let acked = pubh.await.unwrap();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    lat.sort_unstable();
    drop(slow_conns);
    report(json!({
        "scenario": "slow", "channel": channel, "subscribers": subs, "slow": n_slow, "size": size, "rate": rate,
        "secs": secs, "published": acked.len(), "fast_deliveries": lat.len(),
        "fast_p50_ms": pct(&lat, 0.5) as f64 / 1e3, "fast_p99_ms": pct(&lat, 0.99) as f64 / 1e3,
        "rss_before_kib": before, "rss_max_kib": max_rss,
    }));
}

/// More connections than the hub's descriptor limit: the excess is refused or waits, the hub
/// neither crashes nor spins, and accepts again once descriptors free up.
async fn exhaust(host: &str, cookie: &str) {
    let n: usize = num("--conns", 1500);
    let pid = arg("--pid").expect("--pid is required");
    let (ok_tx, mut ok_rx) = tokio::sync::mpsc::unbounded_channel();
    let failed = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let (h, c, tx, failed) = (
            host.to_string(),
            cookie.to_string(),
            ok_tx.clone(),
            failed.clone(),
        );
        tokio::spawn(async move {
            match try_connect(&h, &c).await {
                Ok(ws) => {
                    let _ = tx.send(ws);
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    drop(ok_tx);
    // While exhausted: the hub's CPU.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu = cpu_pct(&pid, 3.0).await;
    let mut held = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) && held.len() + failed.load(Ordering::Relaxed) < n
    {
        match tokio::time::timeout(Duration::from_millis(200), ok_rx.recv()).await {
            Ok(Some(ws)) => held.push(ws),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    while let Ok(ws) = ok_rx.try_recv() {
        held.push(ws);
    }
    let accepted = held.len();
    let refused = failed.load(Ordering::Relaxed);
    // Free half of them: new connections must be served again.
    let freed = held.len() / 2;
    held.truncate(held.len() - freed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut again = 0;
    for _ in 0..(freed / 2).max(1) {
        if try_connect(host, cookie)
            .await
            .map(|ws| held.push(ws))
            .is_ok()
        {
            again += 1;
        }
    }
    let alive = cpu_ticks(&pid).is_some();
    report(json!({
        "scenario": "exhaust", "attempted": n, "accepted": accepted, "refused_or_timed_out": refused,
        "hub_cpu_pct_while_exhausted": cpu, "freed": freed, "accepted_after_freeing": again,
        "tried_after_freeing": (freed / 2).max(1), "hub_alive": alive,
    }));
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
        "idle" => idle(&host, &cookie).await,
        "fanout" => fanout(&host, &cookie).await,
        "storm" => storm(&host, &cookie).await,
        "slow" => slow(&host, &cookie).await,
        "exhaust" => exhaust(&host, &cookie).await,
        _ => {
            eprintln!("usage: hub-load idle|fanout|storm|slow|exhaust --url http://HOST:PORT [...] (see the source)");
            std::process::exit(2);
        }
    }
}
