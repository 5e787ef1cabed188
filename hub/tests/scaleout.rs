//! Scale-out with real components: a `redis-server` (append-only file, fsync on every
//! write), two `wsmachine-hub` processes on it, and `nginx` running hub/deploy/nginx.conf in
//! front of them — all started here on 127.0.0.1 free ports and stopped by PID.
//!
//! Clients on different instances chat through nginx; one instance is killed with SIGKILL
//! and its client reconnects through nginx to the other, which replays what it missed (by
//! seq); Redis is killed and restarted mid-run: publishes during the outage get an error and
//! no ack, `/healthz` says degraded, and after the restart every acknowledged message reaches
//! every subscriber, in order, without gap or duplicate.
//!
//! The binaries: `HUB_REDIS_SERVER` and `HUB_NGINX`, else `redis-server`/`nginx` from
//! `<repo>/.tools/hub/bin` (scripts/setup/hub-tools.sh) or PATH. Without them the test says
//! so and passes, unless `HUB_REQUIRE_TOOLS=1` (what `make hub` sets): then it fails.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsmachine_tokio::{connect_with, ClientOptions, MaybeTlsStream, Options, WebSocket};

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;
const T: Duration = Duration::from_secs(15);
const SECRET: &str = "scaleout-test-secret-0123456789abcdef";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(env: &str, name: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let local = repo().join(".tools/hub/bin").join(name);
    if local.exists() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.exists())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed (SIGKILL) and reaped on drop.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { child, name }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (by PID, with the system's `kill`).
    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits up to `limit` for the process to exit; whether it did.
    async fn exited_within(&mut self, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            eprintln!("scaleout: stopping {} (pid {})", self.name, self.child.id());
        }
        self.kill();
    }
}

async fn wait_port(port: u16, what: &str) {
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(t0.elapsed() < T, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_redis(bin: &Path, dir: &Path, port: u16) -> Proc {
    Proc::spawn(
        "redis-server",
        Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ])
            .stdout(Stdio::null()),
    )
}

fn start_hub(port: u16, redis_port: u16, id: &str) -> Proc {
    start_hub_with(port, redis_port, id, &[])
}

fn start_hub_with(port: u16, redis_port: u16, id: &str, extra: &[&str]) -> Proc {
    Proc::spawn(
        "wsmachine-hub",
        Command::new(env!("CARGO_BIN_EXE_wsmachine-hub"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--redis", &format!("redis://127.0.0.1:{redis_port}")])
            .args([
                "--secret",
                SECRET,
                "--demo-login",
                "--quiet",
                "--instance-id",
                id,
            ])
            .args(["--rate", "1000"])
            .args(extra)
            .stdout(Stdio::null()),
    )
}

fn start_nginx(bin: &Path, dir: &Path, port: u16, up: [u16; 2]) -> Proc {
    let site = std::fs::read_to_string(repo().join("hub/deploy/nginx.conf")).unwrap();
    let site = site
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", up[0]))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", up[1]));
    std::fs::write(dir.join("hub.conf"), site).unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         \x20 include {d}/hub.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    Proc::spawn(
        "nginx",
        Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log")),
    )
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
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
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head[9..12].parse().unwrap(),
        head.to_string(),
        body.to_string(),
    )
}

async fn login(addr: SocketAddr, name: &str) -> String {
    let (status, head, body) = http(
        addr,
        "POST",
        "/login",
        &[],
        &json!({ "name": name }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: "))
        .unwrap();
    line["set-cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

struct Client {
    ws: Ws,
    instance: String,
}

async fn connect(addr: SocketAddr, cookie: &str) -> Client {
    let o = ClientOptions::new()
        .options(Options::new().deflate(None))
        .header("Cookie", cookie);
    let (mut ws, _) = tokio::time::timeout(T, connect_with(&format!("ws://{addr}/ws"), o))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    let w = recv(&mut ws).await;
    assert_eq!(w["type"], "welcome", "{w}");
    Client {
        ws,
        instance: w["instance"].as_str().unwrap().to_string(),
    }
}

async fn recv(ws: &mut Ws) -> Value {
    let m = tokio::time::timeout(T, ws.next())
        .await
        .expect("no frame in time")
        .expect("closed")
        .expect("error");
    serde_json::from_str(m.as_text().unwrap()).unwrap()
}

/// Receives frames until one of `kind`, collecting the `message` frames on the way.
async fn until(ws: &mut Ws, kind: &str, messages: &mut Vec<Value>) -> Value {
    loop {
        let v = recv(ws).await;
        if v["type"] == kind {
            return v;
        }
        if v["type"] == "message" {
            messages.push(v);
        } else {
            panic!("unexpected frame while waiting for {kind}: {v}");
        }
    }
}

async fn send(ws: &Ws, v: Value) {
    ws.send(v.to_string().as_str()).await.unwrap();
}

/// Publishes and returns the ack (or the error frame).
async fn publish(c: &mut Client, text: &str, id: u64, seen: &mut Vec<Value>) -> Value {
    send(
        &c.ws,
        json!({"type":"publish","channel":"chat.scale","payload":{"text":text},"id":id}),
    )
    .await;
    loop {
        let v = recv(&mut c.ws).await;
        match v["type"].as_str() {
            Some("message") => seen.push(v),
            Some("ack") | Some("error") if v["id"] == id => return v,
            _ => panic!("unexpected {v}"),
        }
    }
}

async fn healthz(port: u16) -> Value {
    let (_, _, body) = http(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "GET",
        "/healthz",
        &[],
        "",
    )
    .await;
    serde_json::from_str(&body).unwrap()
}

async fn wait_health(port: u16, status: &str) {
    let t0 = Instant::now();
    loop {
        if healthz(port).await["status"] == status {
            return;
        }
        assert!(t0.elapsed() < T, "hub on {port} never became {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

/// The paths of redis-server and nginx, or None (skip) when missing and not required.
fn tools() -> Option<(PathBuf, PathBuf)> {
    match (
        tool("HUB_REDIS_SERVER", "redis-server"),
        tool("HUB_NGINX", "nginx"),
    ) {
        (Some(r), Some(n)) => Some((r, n)),
        _ => {
            assert!(
                std::env::var("HUB_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "redis-server or nginx not found (scripts/setup/hub-tools.sh installs them)"
            );
            eprintln!("scaleout: redis-server or nginx not found; skipped (make hub runs it)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_behind_nginx_survive_a_kill_and_a_redis_restart() {
    let Some((redis_bin, nginx_bin)) = tools() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("wsmachine-hub-scaleout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("redis")).unwrap();
    std::fs::create_dir_all(dir.join("nginx")).unwrap();

    let (rp, h1, h2, np) = (free_port(), free_port(), free_port(), free_port());
    let mut redis = start_redis(&redis_bin, &dir.join("redis"), rp);
    wait_port(rp, "redis-server").await;
    let mut hubs = [
        Some(start_hub(h1, rp, "hub-a")),
        Some(start_hub(h2, rp, "hub-b")),
    ];
    wait_port(h1, "hub-a").await;
    wait_port(h2, "hub-b").await;
    wait_health(h1, "ok").await;
    wait_health(h2, "ok").await;
    let _nginx = start_nginx(&nginx_bin, &dir.join("nginx"), np, [h1, h2]);
    wait_port(np, "nginx").await;
    let front = SocketAddr::from(([127, 0, 0, 1], np));

    // Users whose session cookies nginx routes to different instances.
    let mut by_instance: Vec<(String, Client)> = Vec::new();
    for i in 0..40 {
        let cookie = login(front, &format!("user{i}")).await;
        let c = connect(front, &cookie).await;
        if !by_instance.iter().any(|(_, o)| o.instance == c.instance) {
            by_instance.push((cookie, c));
        }
        if by_instance.len() == 2 {
            break;
        }
    }
    assert_eq!(by_instance.len(), 2, "nginx sent 40 users to one instance");
    let (_, mut b) = by_instance.pop().unwrap();
    let (a_cookie, mut a) = by_instance.pop().unwrap();
    eprintln!("scaleout: a on {}, b on {}", a.instance, b.instance);

    let (mut a_seen, mut b_seen) = (Vec::new(), Vec::new());
    for c in [&mut a, &mut b] {
        send(
            &c.ws,
            json!({"type":"subscribe","channel":"chat.scale","last_seq":0,"id":1}),
        )
        .await;
        let s = until(&mut c.ws, "subscribed", &mut Vec::new()).await;
        assert_eq!(s["recovered"], true);
    }
    // Cross-instance chat.
    let mut acked = Vec::new();
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        let ack = publish(&mut a, text, 10 + i as u64, &mut a_seen).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        acked.push(ack["seq"].as_u64().unwrap());
    }
    let epoch = loop {
        let m = recv(&mut b.ws).await;
        b_seen.push(m.clone());
        if b_seen.len() == 3 {
            break m["epoch"].as_str().unwrap().to_string();
        }
    };
    assert_eq!(seqs(&b_seen), acked);
    assert!(b_seen.iter().all(|m| m["channel"] == "chat.scale"));

    // kill -9 of a's instance: a loses its connection; b keeps publishing.
    let a_index = if a.instance == "hub-a" { 0 } else { 1 };
    hubs[a_index].as_mut().unwrap().kill();
    let t0 = Instant::now();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(T, a.ws.next()).await {
        a_seen.push(serde_json::from_str(m.as_text().unwrap()).unwrap());
    }
    assert!(t0.elapsed() < T, "a's connection did not end");
    for (i, text) in ["four", "five"].iter().enumerate() {
        let ack = publish(&mut b, text, 20 + i as u64, &mut b_seen).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        acked.push(ack["seq"].as_u64().unwrap());
    }
    // a reconnects through nginx (same cookie): the dead instance is skipped, and the other
    // one replays what a missed since the last seq it saw.
    let last = a_seen
        .iter()
        .filter(|m| m["type"] == "message")
        .map(|m| m["seq"].as_u64().unwrap())
        .max()
        .unwrap();
    let mut a = connect(front, &a_cookie).await;
    assert_eq!(
        a.instance, b.instance,
        "a did not move to the surviving instance"
    );
    send(
        &a.ws,
        json!({"type":"subscribe","channel":"chat.scale","last_seq":last,"epoch":epoch,"id":2}),
    )
    .await;
    let s = until(&mut a.ws, "subscribed", &mut Vec::new()).await;
    assert_eq!(s["recovered"], true, "{s}");
    assert_eq!(s["replayed"].as_u64(), Some(5 - last));
    for _ in 0..(5 - last) {
        a_seen.push(recv(&mut a.ws).await);
    }
    let a_msgs: Vec<Value> = a_seen
        .iter()
        .filter(|m| m["type"] == "message")
        .cloned()
        .collect();
    assert_eq!(
        seqs(&a_msgs),
        acked,
        "a missed or repeated messages across the kill"
    );

    // Redis killed: publishes fail with an error and no ack; healthz says degraded.
    redis.kill();
    let err = publish(&mut b, "lost?", 30, &mut b_seen).await;
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("error"), Some("UNAVAILABLE")),
        "{err}"
    );
    let alive = if a_index == 0 { h2 } else { h1 };
    wait_health(alive, "degraded").await;
    // Restarted on the same port and data directory (the append-only file keeps the history).
    let _redis2 = start_redis(&redis_bin, &dir.join("redis"), rp);
    wait_port(rp, "redis-server again").await;
    wait_health(alive, "ok").await;
    let t0 = Instant::now();
    let ack = loop {
        let v = publish(&mut b, "six", 40, &mut b_seen).await;
        if v["type"] == "ack" {
            break v;
        }
        assert!(
            t0.elapsed() < T,
            "publishes still failing after the restart: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        ack["epoch"].as_str(),
        Some(epoch.as_str()),
        "history lost in the restart"
    );
    acked.push(ack["seq"].as_u64().unwrap());
    let m = recv(&mut a.ws).await;
    a_seen.push(m);
    let a_msgs: Vec<Value> = a_seen
        .iter()
        .filter(|m| m["type"] == "message")
        .cloned()
        .collect();
    assert_eq!(
        seqs(&a_msgs),
        acked,
        "every acknowledged message, in order, once"
    );
    assert_eq!(acked, (1..=6).collect::<Vec<u64>>());
    // b saw its own messages too.
    let t0 = Instant::now();
    while seqs(&b_seen).len() < 6 && t0.elapsed() < T {
        b_seen.push(recv(&mut b.ws).await);
    }
    assert_eq!(seqs(&b_seen), acked);

    let (_, _, metrics) = http(
        SocketAddr::from(([127, 0, 0, 1], alive)),
        "GET",
        "/metrics",
        &[],
        "",
    )
    .await;
    assert!(metrics.contains("wsmachine_hub_redis_up 1"), "{metrics}");
    drop(hubs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A subscriber through nginx that keeps reading, reconnecting (through nginx) after a close
/// and resuming from the last seq it saw; returns every seq it received and the close codes.
async fn follower(
    front: SocketAddr,
    cookie: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (Vec<u64>, Vec<u16>) {
    let mut got: Vec<u64> = Vec::new();
    let mut closes = Vec::new();
    let mut epoch: Option<String> = None;
    loop {
        let mut c = connect(front, &cookie).await;
        let mut sub = json!({"type":"subscribe","channel":"chat.drain","last_seq":got.last().copied().unwrap_or(0)});
        if let Some(e) = &epoch {
            sub["epoch"] = json!(e);
        }
        send(&c.ws, sub).await;
        let s = until(&mut c.ws, "subscribed", &mut Vec::new()).await;
        assert_eq!(s["recovered"], true, "{s}");
        epoch = s["epoch"].as_str().map(str::to_string);
        loop {
            // Wake up every 300 ms to see whether the test is over.
            let next = match tokio::time::timeout(Duration::from_millis(300), c.ws.next()).await {
                Ok(m) => m,
                Err(_) if *stop.borrow() => None,
                Err(_) => continue,
            };
            match next {
                Some(Ok(m)) => {
                    let v: Value = serde_json::from_str(m.as_text().unwrap()).unwrap();
                    if v["type"] == "message" {
                        got.push(v["seq"].as_u64().unwrap());
                    }
                }
                _ => break,
            }
        }
        if *stop.borrow() {
            return (got, closes);
        }
        closes.push(c.ws.close_status().map(|s| s.as_u16()).unwrap_or(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drain_under_load_moves_clients_without_loss() {
    let Some((redis_bin, nginx_bin)) = tools() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("wsmachine-hub-drain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("redis")).unwrap();
    std::fs::create_dir_all(dir.join("nginx")).unwrap();
    let (rp, h1, h2, np) = (free_port(), free_port(), free_port(), free_port());
    let _redis = start_redis(&redis_bin, &dir.join("redis"), rp);
    wait_port(rp, "redis-server").await;
    let drain = ["--drain-s", "5", "--drain-batch", "4"];
    let mut hubs = [
        start_hub_with(h1, rp, "hub-a", &drain),
        start_hub_with(h2, rp, "hub-b", &drain),
    ];
    wait_port(h1, "hub-a").await;
    wait_port(h2, "hub-b").await;
    wait_health(h1, "ok").await;
    wait_health(h2, "ok").await;
    let _nginx = start_nginx(&nginx_bin, &dir.join("nginx"), np, [h1, h2]);
    wait_port(np, "nginx").await;
    let front = SocketAddr::from(([127, 0, 0, 1], np));

    // 20 followers (spread over both instances by their cookies) and a publisher.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut followers = Vec::new();
    for i in 0..20 {
        let cookie = login(front, &format!("f{i}")).await;
        followers.push(tokio::spawn(follower(front, cookie, stop_rx.clone())));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pub_cookie = login(front, "publisher").await;
    let publisher = tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut id = 0u64;
        let t0 = Instant::now();
        'outer: while t0.elapsed() < Duration::from_secs(4) {
            let c = connect(front, &pub_cookie).await;
            let mut ws = c.ws;
            loop {
                if t0.elapsed() >= Duration::from_secs(4) {
                    break 'outer;
                }
                id += 1;
                let msg = json!({"type":"publish","channel":"chat.drain","payload":id,"id":id});
                if ws.send(msg.to_string().as_str()).await.is_err() {
                    break;
                }
                match tokio::time::timeout(T, ws.next()).await {
                    Ok(Some(Ok(m))) => {
                        let v: Value = serde_json::from_str(m.as_text().unwrap()).unwrap();
                        if v["type"] == "ack" {
                            acked.push(v["seq"].as_u64().unwrap());
                        }
                    }
                    _ => break, // closed (drain): reconnect through nginx
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        acked
    });
    // Drain one instance under load: SIGTERM; it closes everyone with 1001 and exits.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    hubs[0].terminate();
    assert!(
        hubs[0].exited_within(Duration::from_secs(8)).await,
        "the drained hub did not exit within its 5 s deadline (+3 s)"
    );
    let acked = publisher.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send(true).unwrap();
    let mut moved = 0;
    for f in followers {
        let (got, closes) = f.await.unwrap();
        // Contiguous, no duplicate, and every acknowledged publish is there.
        assert!(
            got.windows(2).all(|w| w[1] == w[0] + 1),
            "gap or duplicate: {got:?}"
        );
        let have: std::collections::HashSet<u64> = got.iter().copied().collect();
        let missing: Vec<u64> = acked
            .iter()
            .copied()
            .filter(|s| !have.contains(s))
            .collect();
        assert!(
            missing.is_empty(),
            "acknowledged but not received: {missing:?}"
        );
        if !closes.is_empty() {
            assert!(closes.iter().all(|c| *c == 1001), "closes {closes:?}");
            moved += 1;
        }
    }
    assert!(
        acked.len() > 50,
        "only {} publishes acknowledged",
        acked.len()
    );
    assert!(moved > 0, "no follower was on the drained instance");
    drop(hubs);
    let _ = std::fs::remove_dir_all(&dir);
}
