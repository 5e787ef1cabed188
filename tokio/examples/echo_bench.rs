//! Echo throughput on loopback: `cargo run --release -p wsmachine-tokio --example echo_bench --
//! [--mode send|feed|sink|raw] [--conns 100] [--size 20] [--batch 10] [--secs 5]
//! [--connect HOST:PORT [--server-pid PID]]`.
//!
//! Measures whole messages echoed per second by a server on a `current_thread` runtime of its
//! own thread (permessage-deflate off, as `echo_server --no-deflate`), driven by a raw-TCP
//! client on a second thread: `--conns` connections, each writing `--batch` masked binary
//! frames of `--size` bytes at once and waiting for all of their echoes before the next batch
//! (the shape of uWebSockets' `load_test`). Server loops (`--mode`):
//!
//! * `send`: `while let Some(m) = ws.next().await { ws.send(&m).await }` (one write per
//!   message);
//! * `feed`: the same with `feed`: replies are queued and written when the reader has no
//!   complete message left (one write per batch);
//! * `sink`: `reader.forward(writer)` through the `futures` `Stream`/`Sink` (needs the
//!   `futures` feature);
//! * `raw`: a TCP echo without WebSockets, the ceiling this client can measure.
//!
//! With `--connect` the client drives another echo server instead (any WebSocket server that
//! answers its fixed upgrade request), and `--server-pid` names the process whose CPU time to
//! read (a one-thread server), so that other implementations can be measured the same way.
//!
//! The client is one thread as well and may be the bottleneck (with `--batch 1` it does as
//! much work per message as the server): besides messages per second the benchmark prints
//! the server thread's CPU use (Linux) and messages per CPU-second of the server, the figure
//! to compare between modes and versions. Compare on one machine, not with figures from
//! elsewhere.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsmachine_tokio::{accept_with, Accept, Options};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Send,
    Feed,
    #[cfg(feature = "futures")]
    Sink,
    Raw,
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn num(name: &str, default: usize) -> usize {
    arg(name).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let mode = match arg("--mode").as_deref().unwrap_or("send") {
        "send" => Mode::Send,
        "feed" => Mode::Feed,
        #[cfg(feature = "futures")]
        "sink" => Mode::Sink,
        "raw" => Mode::Raw,
        other => panic!("unknown mode {other}"),
    };
    let conns = num("--conns", 100);
    let size = num("--size", 20);
    let batch = num("--batch", 10).max(1);
    let secs = num("--secs", 5) as u64;

    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let addr = if let Some(addr) = arg("--connect") {
        // Another server (any WebSocket echo server): its CPU use is read from --server-pid.
        let _ = tid_tx.send(arg("--server-pid").map(std::path::PathBuf::from));
        addr.parse().expect("--connect host:port")
    } else {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        spawn_server(std_listener, mode, tid_tx);
        addr
    };
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (count, stop) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for _ in 0..conns {
                    let tcp = TcpStream::connect(addr).await.unwrap();
                    tasks.push(tokio::spawn(drive(
                        tcp,
                        mode,
                        size,
                        batch,
                        count.clone(),
                        stop.clone(),
                    )));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    };
    let server_thread = tid_rx.recv().ok().flatten();
    // Warm up, then measure.
    std::thread::sleep(Duration::from_millis(500));
    let (c0, t0, cpu0, us0) = (
        count.load(Ordering::Relaxed),
        Instant::now(),
        cpu_ns(&server_thread),
        user_sys_ticks(&server_thread),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, t1, cpu1, us1) = (
        count.load(Ordering::Relaxed),
        Instant::now(),
        cpu_ns(&server_thread),
        user_sys_ticks(&server_thread),
    );
    stop.store(true, Ordering::Relaxed);
    let label = match arg("--connect") {
        Some(a) => format!("server={a}"),
        None => format!("mode={mode:?}"),
    };
    let msgs = (c1 - c0) as f64;
    let rate = msgs / (t1 - t0).as_secs_f64();
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) if b > a && msgs > 0.0 => {
            let busy = (b - a) as f64 / 1e9;
            format!(
                "; server thread {:.0}% busy, {:.0} msgs per CPU-second",
                100.0 * busy / (t1 - t0).as_secs_f64(),
                msgs / busy
            )
        }
        _ => String::new(),
    };
    // Ticks are 10 ms (USER_HZ 100 on Linux): the split needs a few seconds to mean much.
    let split = match (us0, us1) {
        (Some((u0, s0)), Some((u1, s1))) if msgs > 0.0 => format!(
            " (user {:.2} µs/msg, system {:.2} µs/msg)",
            (u1 - u0) as f64 * 1e4 / msgs,
            (s1 - s0) as f64 * 1e4 / msgs
        ),
        _ => String::new(),
    };
    println!("{label} conns={conns} size={size} batch={batch}: {rate:.0} msgs/s{cpu}{split}");
    let _ = client.join();
}

fn spawn_server(
    std_listener: std::net::TcpListener,
    mode: Mode,
    tid_tx: std::sync::mpsc::Sender<Option<std::path::PathBuf>>,
) {
    std::thread::spawn(move || {
        // "PID/task/TID": where the kernel counts this thread's CPU time.
        let _ = tid_tx.send(std::fs::read_link("/proc/thread-self").ok());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move { serve(TcpListener::from_std(std_listener).unwrap(), mode).await });
    });
}

/// User and system CPU time of the thread (or process) in clock ticks (Linux `stat`, fields
/// 14 and 15), or `None` elsewhere.
fn user_sys_ticks(thread: &Option<std::path::PathBuf>) -> Option<(u64, u64)> {
    let path = std::path::Path::new("/proc")
        .join(thread.as_ref()?)
        .join("stat");
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which ends with the last ')').
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// Nanoseconds the thread has run on a CPU (Linux `schedstat`), or `None` elsewhere.
fn cpu_ns(thread: &Option<std::path::PathBuf>) -> Option<u64> {
    let path = std::path::Path::new("/proc")
        .join(thread.as_ref()?)
        .join("schedstat");
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn serve(listener: TcpListener, mode: Mode) {
    let mut options = Options::new();
    #[cfg(feature = "deflate")]
    {
        options = options.deflate(None);
    }
    options.config.max_message_size = 64 << 20;
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = tcp.set_nodelay(true);
        let options = options.clone();
        tokio::spawn(async move {
            if mode == Mode::Raw {
                return raw_echo(tcp).await;
            }
            let Ok(mut ws) = accept_with(tcp, options, |_| Ok(Accept::new())).await else {
                return;
            };
            match mode {
                Mode::Send => {
                    while let Some(Ok(msg)) = ws.next().await {
                        if ws.send(&msg).await.is_err() {
                            break;
                        }
                    }
                }
                Mode::Feed => {
                    while let Some(Ok(msg)) = ws.next().await {
                        if ws.feed(&msg).await.is_err() {
                            break;
                        }
                    }
                }
                #[cfg(feature = "futures")]
                Mode::Sink => {
                    use futures_util::StreamExt;
                    let (reader, writer) = ws.split();
                    let _ = reader.forward(writer).await;
                }
                Mode::Raw => {}
            }
        });
    }
}

async fn raw_echo(mut tcp: TcpStream) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tcp.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One client connection: handshake (unless raw), then batches until `stop`.
async fn drive(
    mut tcp: TcpStream,
    mode: Mode,
    size: usize,
    batch: usize,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let _ = tcp.set_nodelay(true);
    let mut buf = vec![0u8; 256 << 10];
    if mode != Mode::Raw {
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "handshake: connection closed");
            got.extend_from_slice(&buf[..n]);
        }
    }
    // A binary frame with FIN, masked with the key 0 (the payload goes as it is).
    let mut frame = vec![0x82u8];
    match size {
        0..=125 => frame.push(0x80 | size as u8),
        126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(size as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend(std::iter::repeat_n(b'x', size));
    let server_header = frame.len() - size - 4;
    let mut out = Vec::new();
    for _ in 0..batch {
        out.extend_from_slice(&frame);
    }
    let expect = if mode == Mode::Raw {
        out.len()
    } else {
        batch * (server_header + size)
    };
    while !stop.load(Ordering::Relaxed) {
        if tcp.write_all(&out).await.is_err() {
            return;
        }
        let mut got = 0;
        while got < expect {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
        count.fetch_add(batch as u64, Ordering::Relaxed);
    }
}
