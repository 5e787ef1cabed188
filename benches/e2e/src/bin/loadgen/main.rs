//! loadgen — the end-to-end benchmark's load generator: one thread, raw non-blocking sockets
//! and level-triggered epoll, the approach of uWebSockets' `load_test.c`.
//!
//! ```text
//! loadgen echo --port P [--host 127.0.0.1] [--connections 100] [--size 20]
//!              [--warmup-secs 1] [--secs 5] [--server-pid PID]
//! loadgen idle --port P [--host 127.0.0.1] [--connections 10000] [--settle-secs 1]
//!              [--server-pid PID]
//! ```
//!
//! `echo`: opens the connections (its own HTTP upgrade, no extensions offered), then each one
//! sends a pre-built masked binary frame of `--size` bytes, waits for the whole echo (which
//! may come back fragmented), checks its length, opcode and first and last bytes, records the
//! round trip and sends the next. After the warm-up it counts for `--secs`, then prints one
//! JSON line: messages/s, round-trip p50/p99 (log-linear histogram, ~3 % buckets), its own
//! CPU % and the server's (from /proc/PID/stat over the same window).
//!
//! `idle`: reads the server's VmRSS (/proc/PID/status), opens the connections (upgrade only),
//! waits `--settle-secs` and reads it again; then sends one 20-byte message on each, waits for
//! every echo and the settle time, and reads it a third time. Prints one JSON line with the
//! three figures and the bytes per connection.
//!
//! Any connection error, refused upgrade or wrong echo ends the run with exit status 1 and a
//! message on standard error: a benchmark that silently lost connections would lie.

mod hist;
mod sys;
mod wire;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use hist::Histogram;
use wire::{EchoParser, Fed};

/// Upgrades in flight at once while connecting (below every server's listen backlog, so that
/// no SYN is dropped and retried a second later).
const CONNECT_BATCH: usize = 64;
/// Readiness reports taken per epoll_wait.
const EVENTS: usize = 1024;
/// The shared receive buffer.
const READ_BUF: usize = 256 << 10;

type Result<T> = std::result::Result<T, String>;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Echo,
    Idle,
}

struct Args {
    mode: Mode,
    host: String,
    port: u16,
    connections: usize,
    size: usize,
    warmup: Duration,
    window: Duration,
    settle: Duration,
    server_pid: Option<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen echo --port P [--host H] [--connections N] [--size BYTES] [--warmup-secs S] \
         [--secs S] [--server-pid PID]\n       loadgen idle --port P [--host H] [--connections N] \
         [--settle-secs S] [--server-pid PID]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mode = match argv.first().map(String::as_str) {
        Some("echo") => Mode::Echo,
        Some("idle") => Mode::Idle,
        _ => usage(),
    };
    let mut a = Args {
        mode,
        host: "127.0.0.1".into(),
        port: 0,
        connections: if mode == Mode::Idle { 10_000 } else { 100 },
        size: 20,
        warmup: Duration::from_secs(1),
        window: Duration::from_secs(5),
        settle: Duration::from_secs(1),
        server_pid: None,
    };
    let secs = |v: &str| {
        v.parse::<f64>()
            .ok()
            .filter(|s| *s >= 0.0)
            .map(Duration::from_secs_f64)
    };
    let mut it = argv[1..].iter();
    while let Some(k) = it.next() {
        let Some(v) = it.next() else { usage() };
        let ok = match k.as_str() {
            "--host" => {
                a.host = v.clone();
                true
            }
            "--port" => v.parse().map(|p| a.port = p).is_ok(),
            "--connections" => v.parse().map(|n| a.connections = n).is_ok(),
            "--size" => v.parse().map(|n| a.size = n).is_ok(),
            "--warmup-secs" => secs(v).map(|d| a.warmup = d).is_some(),
            "--secs" => secs(v).map(|d| a.window = d).is_some(),
            "--settle-secs" => secs(v).map(|d| a.settle = d).is_some(),
            "--server-pid" => v.parse().map(|p| a.server_pid = Some(p)).is_ok(),
            _ => false,
        };
        if !ok {
            usage();
        }
    }
    if a.port == 0 || a.connections == 0 {
        usage();
    }
    a
}

/// CPU time (user + system) of a process in clock ticks, from /proc/PID/stat.
fn cpu_ticks(pid: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may contain spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    match (num(11), num(12)) {
        (Some(u), Some(s)) => Ok(u + s),
        _ => Err(format!("/proc/{pid}/stat: unexpected format")),
    }
}

/// Resident set size of a process in KiB, from /proc/PID/status.
fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("/proc/{pid}/status: no VmRSS"))
}

/// CPU use of this process and of the server over a window.
struct CpuClock {
    server: Option<String>,
    at: Instant,
    own: u64,
    srv: u64,
}

impl CpuClock {
    fn start(server_pid: Option<u32>) -> Result<CpuClock> {
        let server = server_pid.map(|p| p.to_string());
        let srv = match &server {
            Some(p) => cpu_ticks(p)?,
            None => 0,
        };
        Ok(CpuClock {
            own: cpu_ticks("self")?,
            srv,
            server,
            at: Instant::now(),
        })
    }

    /// (own CPU %, server CPU %) since `start`: 100 = one core busy all the time.
    fn stop(&self) -> Result<(f64, Option<f64>)> {
        let wall = self.at.elapsed().as_secs_f64();
        let hz = sys::clock_ticks_per_second() as f64;
        let pct = |ticks: u64| ticks as f64 / hz / wall * 100.0;
        let own = pct(cpu_ticks("self")? - self.own);
        let srv = match &self.server {
            Some(p) => Some(pct(cpu_ticks(p)? - self.srv)),
            None => None,
        };
        Ok((own, srv))
    }
}

enum Phase {
    /// The upgrade request is sent; the response head is collected here.
    Upgrading(Vec<u8>),
    Open,
}

struct Conn {
    sock: TcpStream,
    phase: Phase,
    parser: EchoParser,
    /// Bytes of the frame written so far; `frame.len()` when none is being written.
    written: usize,
    /// Registered for writability (a frame did not fit the socket at once).
    want_out: bool,
    sent_at: Instant,
    /// Echoes received.
    echoes: u64,
}

struct Gen {
    addr: SocketAddr,
    epoll: sys::Epoll,
    events: Vec<libc::epoll_event>,
    ready: Vec<sys::Ready>,
    conns: Vec<Conn>,
    request: Vec<u8>,
    frame: Vec<u8>,
    size: usize,
    buf: Vec<u8>,
    /// Send the next message as soon as an echo is complete.
    resend: bool,
}

fn io_err(i: usize, what: &str, e: io::Error) -> String {
    format!("connection {i}: {what}: {e}")
}

impl Gen {
    fn new(args: &Args, size: usize) -> Result<Gen> {
        let addr = (args.host.as_str(), args.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}:{}: {e}", args.host, args.port))?
            .next()
            .ok_or_else(|| format!("{}: no address", args.host))?;
        Ok(Gen {
            addr,
            epoll: sys::Epoll::new().map_err(|e| format!("epoll_create1: {e}"))?,
            events: Vec::with_capacity(EVENTS),
            ready: Vec::with_capacity(EVENTS),
            conns: Vec::new(),
            request: wire::upgrade_request(&args.host, args.port),
            frame: wire::masked_frame(size),
            size,
            buf: vec![0; READ_BUF],
            resend: true,
        })
    }

    /// Opens `n` connections, at most CONNECT_BATCH upgrades at a time.
    fn connect_all(&mut self, n: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30 + n as u64 / 100);
        let (mut open, mut inflight) = (0, 0);
        while open < n {
            while inflight < CONNECT_BATCH && self.conns.len() < n {
                let i = self.conns.len();
                let mut sock = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))
                    .map_err(|e| io_err(i, "connect", e))?;
                sock.set_nodelay(true)
                    .map_err(|e| io_err(i, "TCP_NODELAY", e))?;
                // Blocking still: the request is small and the socket buffer empty.
                sock.write_all(&self.request)
                    .map_err(|e| io_err(i, "upgrade request", e))?;
                sock.set_nonblocking(true)
                    .map_err(|e| io_err(i, "O_NONBLOCK", e))?;
                self.epoll
                    .add(&sock, sys::IN, i as u64)
                    .map_err(|e| io_err(i, "epoll_ctl", e))?;
                self.conns.push(Conn {
                    sock,
                    phase: Phase::Upgrading(Vec::new()),
                    parser: EchoParser::new(self.size),
                    written: self.frame.len(),
                    want_out: false,
                    sent_at: Instant::now(),
                    echoes: 0,
                });
                inflight += 1;
            }
            if Instant::now() > deadline {
                return Err(format!("only {open} of {n} connections upgraded in time"));
            }
            self.epoll
                .wait(&mut self.events, &mut self.ready, 100)
                .map_err(|e| format!("epoll_wait: {e}"))?;
            for k in 0..self.ready.len() {
                let i = self.ready[k].token as usize;
                let c = &mut self.conns[i];
                let Phase::Upgrading(head) = &mut c.phase else {
                    return Err(format!(
                        "connection {i}: the server sent data after the upgrade"
                    ));
                };
                let got = match c.sock.read(&mut self.buf) {
                    Ok(0) => return Err(format!("connection {i}: closed during the upgrade")),
                    Ok(got) => got,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(io_err(i, "read", e)),
                };
                head.extend_from_slice(&self.buf[..got]);
                if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    wire::check_response(&head[..end + 4])
                        .map_err(|e| format!("connection {i}: {e}"))?;
                    if head.len() > end + 4 {
                        return Err(format!("connection {i}: data after the 101 response"));
                    }
                    c.phase = Phase::Open;
                    open += 1;
                    inflight -= 1;
                } else if head.len() > 16 << 10 {
                    return Err(format!("connection {i}: upgrade response too long"));
                }
            }
        }
        Ok(())
    }

    /// Starts (or goes on) writing connection `i`'s frame. `restart`: a new message.
    fn write_frame(&mut self, i: usize, restart: bool, now: Instant) -> Result<()> {
        let c = &mut self.conns[i];
        if restart {
            c.written = 0;
            c.sent_at = now;
        }
        while c.written < self.frame.len() {
            match c.sock.write(&self.frame[c.written..]) {
                Ok(0) => return Err(format!("connection {i}: write returned 0")),
                Ok(n) => c.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(i, "write", e)),
            }
        }
        let want_out = c.written < self.frame.len();
        if want_out != c.want_out {
            let ev = if want_out {
                sys::IN | sys::OUT
            } else {
                sys::IN
            };
            self.epoll
                .modify(&c.sock, ev, i as u64)
                .map_err(|e| io_err(i, "epoll_ctl", e))?;
            c.want_out = want_out;
        }
        Ok(())
    }

    /// Handles one readiness report: returns the round trip when an echo completed.
    fn service(&mut self, r: sys::Ready) -> Result<Option<Duration>> {
        let i = r.token as usize;
        if r.events & sys::OUT != 0 && self.conns[i].written < self.frame.len() {
            self.write_frame(i, false, Instant::now())?;
        }
        if r.events & !sys::OUT == 0 {
            return Ok(None);
        }
        let c = &mut self.conns[i];
        let got = match c.sock.read(&mut self.buf) {
            Ok(0) => return Err(format!("connection {i}: the server closed the connection")),
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(io_err(i, "read", e)),
        };
        match c
            .parser
            .feed(&self.buf[..got])
            .map_err(|e| format!("connection {i}: {e}"))?
        {
            Fed::More => Ok(None),
            Fed::Done => {
                if c.written < self.frame.len() {
                    return Err(format!(
                        "connection {i}: echo complete before the frame was sent"
                    ));
                }
                let now = Instant::now();
                let rtt = now - c.sent_at;
                c.echoes += 1;
                if self.resend {
                    self.write_frame(i, true, now)?;
                }
                Ok(Some(rtt))
            }
        }
    }

    fn wait(&mut self, timeout_ms: i32) -> Result<()> {
        self.epoll
            .wait(&mut self.events, &mut self.ready, timeout_ms)
            .map_err(|e| format!("epoll_wait: {e}"))
    }
}

fn echo(args: &Args) -> Result<String> {
    let mut g = Gen::new(args, args.size)?;
    let t0 = Instant::now();
    g.connect_all(args.connections)?;
    let connect_secs = t0.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..g.conns.len() {
        g.write_frame(i, true, start)?;
    }
    let warm_end = start + args.warmup;
    let end = warm_end + args.window;
    let mut hist = Histogram::new();
    let mut clock: Option<CpuClock> = None;
    let mut window_start = warm_end;
    loop {
        let now = Instant::now();
        if clock.is_none() && now >= warm_end {
            hist.clear();
            clock = Some(CpuClock::start(args.server_pid)?);
            window_start = Instant::now();
        }
        if now >= end {
            break;
        }
        let until = if clock.is_none() { warm_end } else { end };
        let ms = until
            .saturating_duration_since(now)
            .as_millis()
            .clamp(1, 100) as i32;
        g.wait(ms)?;
        for k in 0..g.ready.len() {
            let r = g.ready[k];
            if let Some(rtt) = g.service(r)? {
                hist.record(rtt.as_nanos() as u64);
            }
        }
    }
    let Some(clock) = clock else {
        return Err("no measuring window".into());
    };
    let (own_cpu, server_cpu) = clock.stop()?;
    let secs = window_start.elapsed().as_secs_f64();
    let messages = hist.count();
    let idle_conns = g.conns.iter().filter(|c| c.echoes == 0).count();
    if idle_conns > 0 {
        return Err(format!("{idle_conns} connections never got an echo"));
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    Ok(format!(
        "{{\"mode\":\"echo\",\"connections\":{},\"size\":{},\"secs\":{:.3},\"connect_secs\":{:.3},\
         \"messages\":{},\"msgs_per_s\":{:.1},\"mb_per_s\":{:.2},\"rtt_p50_us\":{:.1},\"rtt_p99_us\":{:.1},\
         \"rtt_mean_us\":{:.1},\"rtt_max_us\":{:.1},\"loadgen_cpu_pct\":{:.1},\"server_cpu_pct\":{}}}",
        args.connections,
        args.size,
        secs,
        connect_secs,
        messages,
        messages as f64 / secs,
        messages as f64 * args.size as f64 / secs / 1e6,
        us(hist.quantile(0.5)),
        us(hist.quantile(0.99)),
        hist.mean() / 1000.0,
        us(hist.max()),
        own_cpu,
        server_cpu.map_or("null".to_string(), |c| format!("{c:.1}")),
    ))
}

fn idle(args: &Args) -> Result<String> {
    let pid = args.server_pid.ok_or("idle needs --server-pid")?;
    let size = 20;
    let mut g = Gen::new(args, size)?;
    let before = vm_rss_kib(pid)?;
    let t0 = Instant::now();
    g.connect_all(args.connections)?;
    let connect_secs = t0.elapsed().as_secs_f64();
    std::thread::sleep(args.settle);
    let open = vm_rss_kib(pid)?;
    // One echo on each, then idle again.
    let now = Instant::now();
    for i in 0..g.conns.len() {
        g.write_frame(i, true, now)?;
    }
    g.resend = false;
    let mut pending = g.conns.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending > 0 {
        if Instant::now() > deadline {
            return Err(format!("{pending} echoes still missing after 30 s"));
        }
        g.wait(100)?;
        for k in 0..g.ready.len() {
            let r = g.ready[k];
            if g.service(r)?.is_some() {
                pending -= 1;
            }
        }
    }
    std::thread::sleep(args.settle);
    let after = vm_rss_kib(pid)?;
    let n = args.connections as f64;
    let per = |kib: u64| (kib as f64 - before as f64) * 1024.0 / n;
    Ok(format!(
        "{{\"mode\":\"idle\",\"connections\":{},\"connect_secs\":{:.3},\"rss_before_kib\":{},\
         \"rss_open_kib\":{},\"rss_after_echo_kib\":{},\"bytes_per_conn_open\":{:.0},\
         \"bytes_per_conn_after_echo\":{:.0}}}",
        args.connections,
        connect_secs,
        before,
        open,
        after,
        per(open),
        per(after)
    ))
}

fn main() {
    let args = parse_args();
    let out = match args.mode {
        Mode::Echo => echo(&args),
        Mode::Idle => idle(&args),
    };
    match out {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("loadgen: error: {e}");
            std::process::exit(1);
        }
    }
}
