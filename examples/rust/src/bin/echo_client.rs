//! echo-client — a WebSocket client on `std::net`, in three modes.
//!
//! ```text
//! echo-client autobahn [--url ws://127.0.0.1:9002] [--agent NAME] [DEFLATE]
//! echo-client send   --url URL [--subprotocol NAME]... [--text TEXT]... [--binary-hex HEX]...
//!                    [DEFLATE]
//! echo-client script --url URL [--subprotocol NAME]... [--wait-secs N] [DEFLATE]   < commands
//!
//! DEFLATE: [--no-deflate] [--zlib] [--deflate-level 0-9] [--window-bits 8-15]
//!          [--no-context-takeover] [--peer-no-context-takeover] [--deflate-min-size N]
//! ```
//!
//! Every mode offers permessage-deflate (RFC 7692) unless `--no-deflate`, with the core's own
//! caller-memory codecs (windows down to 8 bits) or, with `--zlib`, zlib-rs.
//! `--window-bits` caps both windows, `--no-context-takeover` resets our compressor after each
//! message (and says so in the offer), `--peer-no-context-takeover` asks the server to reset
//! its own. When the server accepts, messages are sent compressed (except those shorter than
//! `--deflate-min-size`, default 32 bytes), and in the echo modes a message that arrived
//! compressed is echoed compressed.
//!
//! **autobahn** drives Autobahn|Testsuite's `fuzzingserver`: reads the case count from
//! `/getCaseCount`, runs `/runCase?case=N&agent=NAME` for every case, echoing each message
//! (streamed, chunk by chunk, as in the echo server), then asks for `/updateReports`. The URL
//! and agent default to `$AUTOBAHN_URL` and `$AUTOBAHN_AGENT` (then `ws://127.0.0.1:9002` and
//! `wsmachine`).
//!
//! **send** sends each `--text` / `--binary-hex` message in order, waits for its echo, prints
//! it, then closes with 1000.
//!
//! **script** reads one command per line from stdin and prints one line per event on stdout;
//! it is how the interop tests drive the client. Payloads are hex (so any bytes, and text
//! with any characters, fit on a line).
//!
//! | command | what it does |
//! |---|---|
//! | `text HEX` / `binary HEX` | send one message as one frame (streamed through the output buffer; compressed when agreed) |
//! | `fragments text\|binary HEX,HEX,...` | send one message as several frames (compressed when agreed) |
//! | `ping HEX` | send a ping |
//! | `close CODE [REASON]` | start the closing handshake |
//! | `stats` | print the `stats` line below |
//! | `recv [N]` | wait for N (default 1) of the events below other than `ping` |
//! | `wait-close` | wait until the connection is closed |
//!
//! | output line | meaning |
//! |---|---|
//! | `open SUBPROTOCOL` | handshake done (`-`: no subprotocol) |
//! | `stats deflate=EXT compressed_in=N compressed_out=M` | the agreed extension (the response's header value without spaces, `-` for none) and how many compressed messages came in and went out so far |
//! | `text FRAMES HEX` / `binary FRAMES HEX` | a whole message arrived, in FRAMES frames |
//! | `ping HEX` / `pong HEX` | a control frame arrived (pings are answered automatically) |
//! | `close CODE REASON` | the peer's close frame (1005: it had no code) |
//! | `failed ERROR` | the peer violated the protocol; we sent a close |
//! | `timeout` | `recv` waited `--wait-secs` (default 10) in vain |
//! | `error MESSAGE` | a command could not be carried out |
//! | `closed CODE clean\|unclean` | the connection is over (printed once) |
//!
//! At the end of its input, the script closes with 1000 if the connection is still open and
//! waits for the close. Script mode holds each received message (as hex) until it is
//! complete; the echo modes never hold a message.

use std::io::{self, BufRead as _, Write as _};
use std::process::exit;
use std::time::{Duration, Instant};

use wsmachine::{CloseCode, Config, Connection, Event, MessageKind, ReadyState};
use wsmachine_examples::{
    describe_deflate, echo, from_hex, to_hex, Compression, Flow, Outbox, Session, Stop, Url,
};

const USAGE: &str = "usage:
  echo-client autobahn [--url ws://127.0.0.1:9002] [--agent NAME] [DEFLATE]
  echo-client send   --url URL [--subprotocol NAME]... [--text TEXT]... [--binary-hex HEX]...
                     [DEFLATE]
  echo-client script --url URL [--subprotocol NAME]... [--wait-secs N] [DEFLATE]   < commands
DEFLATE: [--no-deflate] [--zlib] [--deflate-level 0-9] [--window-bits 8-15]
         [--no-context-takeover] [--peer-no-context-takeover] [--deflate-min-size N]";

/// Generous limits, as in the echo server: memory does not depend on them.
fn config() -> Config {
    let mut c = Config::new();
    c.max_frame_payload = 64 << 20;
    c.max_message_size = 64 << 20;
    c.max_fragments = 1 << 20;
    c
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("autobahn") => autobahn(&args[1..]),
        Some("send") => send(&args[1..]),
        Some("script") => script(&args[1..]),
        Some("--help" | "-h") => {
            println!("{USAGE}");
            Ok(0)
        }
        _ => Err(io::Error::other(USAGE)),
    };
    match result {
        Ok(code) => exit(code),
        Err(e) => {
            eprintln!("echo-client: {e}");
            exit(1)
        }
    }
}

/// Options common to the modes.
struct Options {
    url: Option<String>,
    agent: Option<String>,
    subprotocols: Vec<String>,
    /// (kind, payload) messages for `send`.
    messages: Vec<(MessageKind, Vec<u8>)>,
    wait: Duration,
    compression: Compression,
}

fn parse_options(args: &[String]) -> io::Result<Options> {
    let mut o = Options {
        url: None,
        agent: None,
        subprotocols: Vec::new(),
        messages: Vec::new(),
        wait: Duration::from_secs(10),
        compression: Compression::default(),
    };
    let bad = |m: String| io::Error::other(format!("{m}\n{USAGE}"));
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        if o.compression.parse_option(a, &mut value).map_err(bad)? {
            continue;
        }
        let v = value().map_err(bad)?;
        match a.as_str() {
            "--url" => o.url = Some(v),
            "--agent" => o.agent = Some(v),
            "--subprotocol" => o.subprotocols.push(v),
            "--text" => o.messages.push((MessageKind::Text, v.into_bytes())),
            "--binary-hex" => o
                .messages
                .push((MessageKind::Binary, from_hex(&v).map_err(bad)?)),
            "--wait-secs" => {
                o.wait = Duration::from_secs_f64(
                    v.parse().map_err(|e| bad(format!("--wait-secs: {e}")))?,
                )
            }
            _ => return Err(bad(format!("unknown argument {a:?}"))),
        }
    }
    Ok(o)
}

fn required_url(o: &Options) -> io::Result<Url> {
    let url = o
        .url
        .as_deref()
        .ok_or_else(|| io::Error::other(format!("--url is required\n{USAGE}")))?;
    Url::parse(url).map_err(io::Error::other)
}

// -------------------------------------------------------------------------------------------
// autobahn
// -------------------------------------------------------------------------------------------

fn autobahn(args: &[String]) -> io::Result<i32> {
    let o = parse_options(args)?;
    let url = o
        .url
        .or_else(|| std::env::var("AUTOBAHN_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:9002".into());
    let agent = o
        .agent
        .or_else(|| std::env::var("AUTOBAHN_AGENT").ok())
        .unwrap_or_else(|| "wsmachine".into());
    let url = Url::parse(&url).map_err(io::Error::other)?;
    let agent_q = query_escape(&agent);

    // The fuzzingserver sends the number of cases as one text message, then closes.
    let off = Compression::off();
    let (mut s, _) = Session::connect(&url.with_target("/getCaseCount"), &[], config(), &off)?;
    let mut text = Vec::new();
    s.run(None, |_, _, event| {
        if let Event::Data(chunk) = event {
            text.extend_from_slice(chunk.data);
        }
        Ok(Flow::Continue)
    })?;
    let count: u32 = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad case count {text:?}")))?;
    eprintln!("autobahn: {count} cases, agent {agent}");

    for case in 1..=count {
        let target = format!("/runCase?case={case}&agent={agent_q}");
        match Session::connect(&url.with_target(&target), &[], config(), &o.compression) {
            Ok((mut s, _)) => {
                if let Err(e) = s.run(None, echo) {
                    eprintln!("autobahn: case {case}: {e}");
                }
            }
            Err(e) => eprintln!("autobahn: case {case}: {e}"),
        }
    }

    let target = format!("/updateReports?agent={agent_q}");
    let (mut s, _) = Session::connect(&url.with_target(&target), &[], config(), &off)?;
    s.run(None, |_, _, _| Ok(Flow::Continue))?;
    eprintln!("autobahn: reports updated");
    Ok(0)
}

/// Percent-encodes everything but unreserved characters.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// -------------------------------------------------------------------------------------------
// script and send
// -------------------------------------------------------------------------------------------

/// Turns events into output lines, assembling each message's hex.
struct Printer {
    /// Print text messages as text (for `send`) instead of hex.
    human: bool,
    kind: MessageKind,
    message: Vec<u8>,
    frames: u32,
    /// Events counted by `recv` so far.
    seen: usize,
}

impl Printer {
    fn on_event(&mut self, event: Event<'_>) {
        let mut line = String::new();
        match event {
            Event::Data(chunk) => {
                if chunk.message_start {
                    self.kind = chunk.kind;
                    self.message.clear();
                    self.frames = 0;
                }
                self.message.extend_from_slice(chunk.data);
                if chunk.frame_finished {
                    self.frames += 1;
                }
                if !chunk.message_finished {
                    return;
                }
                let kind = match self.kind {
                    MessageKind::Text => "text",
                    MessageKind::Binary => "binary",
                };
                if self.human {
                    line = format!("{kind} ({} frames): ", self.frames);
                    match (self.kind, std::str::from_utf8(&self.message)) {
                        (MessageKind::Text, Ok(t)) => line.push_str(t),
                        _ => to_hex(&self.message, &mut line),
                    }
                } else {
                    line = format!("{kind} {} ", self.frames);
                    to_hex(&self.message, &mut line);
                }
                self.message = Vec::new();
            }
            Event::Ping(p) => {
                line.push_str("ping ");
                to_hex(p, &mut line);
                println!("{line}");
                return; // not counted by `recv`
            }
            Event::Pong(p) => {
                line.push_str("pong ");
                to_hex(p, &mut line);
            }
            Event::Close { status, reason } => {
                line = format!("close {} {}", status.as_u16(), reason.escape_debug());
            }
            Event::Failed(e) => line = format!("failed {e}"),
            Event::RejectBody { .. } => return,
        }
        println!("{line}");
        self.seen += 1;
    }
}

/// Runs the connection until `n` more events were printed, it closed, or `wait` passed.
fn receive(s: &mut Session, p: &mut Printer, n: usize, wait: Duration) -> io::Result<Stop> {
    let target = p.seen + n;
    let stop = s.run(
        Some(Instant::now() + wait),
        |_: &mut Connection, _: &mut Outbox, ev| {
            p.on_event(ev);
            Ok(if p.seen >= target {
                Flow::Pause
            } else {
                Flow::Continue
            })
        },
    )?;
    if stop == Stop::Waited {
        println!("timeout");
    }
    Ok(stop)
}

fn print_closed(s: &Session) {
    let status = s.conn.close_status().map_or(1006, |c| c.as_u16());
    let clean = if s.conn.failure().is_none() && status != 1006 {
        "clean"
    } else {
        "unclean"
    };
    println!("closed {status} {clean}");
}

/// One script command. Errors in a command are printed and the script goes on.
fn command(s: &mut Session, p: &mut Printer, line: &str, wait: Duration) -> io::Result<()> {
    let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
    let kind = |k: &str| match k {
        "text" => Ok(MessageKind::Text),
        "binary" => Ok(MessageKind::Binary),
        _ => Err(io::Error::other(format!("unknown message kind {k:?}"))),
    };
    let hex = |h: &str| from_hex(h).map_err(io::Error::other);
    match cmd {
        "text" | "binary" => send_message(s, kind(cmd)?, &hex(arg)?)?,
        "fragments" => {
            let (k, list) = arg.split_once(' ').unwrap_or((arg, ""));
            let k = kind(k)?;
            let pieces: Vec<&str> = list.split(',').collect();
            for (i, piece) in pieces.iter().enumerate() {
                let fin = i + 1 == pieces.len();
                if s.out.can_compress() {
                    s.out
                        .send_fragment(&mut s.conn, k, &hex(piece)?, fin, true)?;
                } else {
                    s.send_frame(k, fin, &hex(piece)?)?;
                }
            }
            s.out.flush()?;
        }
        "stats" => println!(
            "stats deflate={} compressed_in={} compressed_out={}",
            describe_deflate(s.deflate()),
            s.compressed_received,
            s.out.compressed_sent
        ),
        "ping" => {
            let payload = hex(arg)?;
            s.send_now(|c, buf| c.send_ping(&payload, buf))?
        }
        "close" => {
            let (code, reason) = arg.split_once(' ').unwrap_or((arg, ""));
            let code = code
                .parse()
                .ok()
                .and_then(CloseCode::new)
                .ok_or_else(|| io::Error::other(format!("bad close code {code:?}")))?;
            let now = s.now();
            s.send_now(|c, buf| c.close(now, code, reason, buf))?
        }
        "recv" => {
            let n = if arg.is_empty() {
                1
            } else {
                arg.parse().map_err(io::Error::other)?
            };
            receive(s, p, n, wait)?;
        }
        "wait-close" => {
            receive(s, p, usize::MAX, wait)?;
        }
        _ => return Err(io::Error::other(format!("unknown command {cmd:?}"))),
    }
    io::stdout().flush()
}

/// Sends one message as one frame: compressed (whole) when permessage-deflate was agreed,
/// else streamed through the output buffer.
fn send_message(s: &mut Session, kind: MessageKind, payload: &[u8]) -> io::Result<()> {
    if s.out.can_compress() {
        s.out.send_message(&mut s.conn, kind, payload, true)?;
        s.out.flush()
    } else {
        s.send_frame(kind, true, payload)
    }
}

/// Closes with 1000 if still open, then waits for the end of the connection.
fn close_and_wait(s: &mut Session, p: &mut Printer, wait: Duration) -> io::Result<()> {
    if s.conn.state() == ReadyState::Open {
        let now = s.now();
        s.send_now(|c, buf| c.close(now, CloseCode::NORMAL, "", buf))?;
    }
    while !s.is_closed() {
        if receive(s, p, usize::MAX, wait)? == Stop::Waited {
            break;
        }
    }
    Ok(())
}

fn script(args: &[String]) -> io::Result<i32> {
    let o = parse_options(args)?;
    let url = required_url(&o)?;
    let offered: Vec<&str> = o.subprotocols.iter().map(String::as_str).collect();
    let (mut s, subprotocol) = Session::connect(&url, &offered, config(), &o.compression)?;
    println!("open {}", subprotocol.as_deref().unwrap_or("-"));
    let mut p = Printer {
        human: false,
        kind: MessageKind::Binary,
        message: Vec::new(),
        frames: 0,
        seen: 0,
    };
    let mut closed_printed = false;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(e) = command(&mut s, &mut p, line, o.wait) {
            println!("error {e}");
        }
        if s.is_closed() && !closed_printed {
            print_closed(&s);
            closed_printed = true;
        }
        io::stdout().flush()?;
    }
    close_and_wait(&mut s, &mut p, o.wait)?;
    if !closed_printed {
        print_closed(&s);
    }
    Ok(0)
}

fn send(args: &[String]) -> io::Result<i32> {
    let o = parse_options(args)?;
    let url = required_url(&o)?;
    let offered: Vec<&str> = o.subprotocols.iter().map(String::as_str).collect();
    let (mut s, subprotocol) = Session::connect(&url, &offered, config(), &o.compression)?;
    println!(
        "open, subprotocol {}, extensions {}",
        subprotocol.as_deref().unwrap_or("-"),
        describe_deflate(s.deflate())
    );
    let mut p = Printer {
        human: true,
        kind: MessageKind::Binary,
        message: Vec::new(),
        frames: 0,
        seen: 0,
    };
    let mut failed = false;
    for (kind, payload) in &o.messages {
        send_message(&mut s, *kind, payload)?;
        failed |= receive(&mut s, &mut p, 1, o.wait)? != Stop::Paused;
    }
    close_and_wait(&mut s, &mut p, o.wait)?;
    print_closed(&s);
    Ok(i32::from(failed))
}
