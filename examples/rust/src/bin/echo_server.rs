//! echo-server — a WebSocket echo server on `std::net`, one thread per connection.
//!
//! ```text
//! echo-server [--host 127.0.0.1] [--port 9001] [--subprotocol NAME]... [--max-seconds N]
//!             [--verbose] [--close-command]
//!             [--no-deflate] [--zlib] [--deflate-level 0-9] [--window-bits 8-15]
//!             [--no-context-takeover] [--peer-no-context-takeover] [--deflate-min-size N]
//! ```
//!
//! * Echoes every text and binary message back unchanged, **streaming**: each chunk of payload
//!   is sent back as soon as it arrives, as one fragment of the echoed message (the last chunk
//!   ends the message). Memory per connection is a 64 KiB input and a 65 KiB output buffer,
//!   whatever the message size.
//! * Selects the first subprotocol offered by the client that is also named by a
//!   `--subprotocol` option; without a match, none is selected.
//! * Answers pings (the core queues the pong), answers the peer's close, and fails the
//!   connection with the RFC's close code on any protocol violation.
//! * Accepts permessage-deflate (RFC 7692) when the client offers it, unless `--no-deflate`:
//!   with the core's own caller-memory codecs by default (windows down to 8 bits), with
//!   zlib-rs with `--zlib`. `--window-bits` caps both windows, `--no-context-takeover` resets
//!   our compressor after each message, `--peer-no-context-takeover` requires the client to
//!   reset its own (when its offer allows it). A message that arrives compressed is echoed
//!   compressed (streamed too: each inflated piece goes back out as a compressed fragment).
//! * `--port 0` picks a free port. The first line on stdout is always
//!   `listening on HOST:PORT`; with `--verbose`, one more line per connection says how it
//!   ended: `PEER subprotocol=NAME|- close=CODE reason="..." deflate=EXT compressed_in=N
//!   compressed_out=M failure=...` (the peer's close code and reason, 1006 when there was no
//!   closing handshake; the agreed extension as the response header value without spaces, or
//!   `-`; how many compressed messages came in and went out).
//! * `--max-seconds N` makes the process exit after N seconds (for test harnesses).
//! * `--close-command` (for tests; off by default): a text message `/close CODE REASON` that
//!   arrives in one piece is not echoed; the server starts the closing handshake with that
//!   code and reason instead.
//!
//! Limits are set so the Autobahn|Testsuite 9.* cases pass: messages and frames up to
//! 64 MiB, messages of up to 1 Mi fragments.

use std::io::{self, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::exit;
use std::sync::Arc;
use std::time::Duration;

use wsmachine::{CloseCode, CloseStatus, Config, Event, MessageKind};
use wsmachine_examples::{describe_deflate, echo, Compression, Flow, Session};

struct Options {
    host: String,
    port: u16,
    subprotocols: Vec<String>,
    max_seconds: Option<u64>,
    verbose: bool,
    close_command: bool,
    compression: Compression,
}

const USAGE: &str = "usage: echo-server [--host 127.0.0.1] [--port 9001] [--subprotocol NAME]... \
                     [--max-seconds N] [--verbose] [--close-command] [--no-deflate] [--zlib] \
                     [--deflate-level 0-9] [--window-bits 8-15] [--no-context-takeover] \
                     [--peer-no-context-takeover] [--deflate-min-size N]";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 9001,
        subprotocols: Vec::new(),
        max_seconds: None,
        verbose: false,
        close_command: false,
        compression: Compression::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        if o.compression.parse_option(&a, &mut value)? {
            continue;
        }
        match a.as_str() {
            "--host" => o.host = value()?,
            "--port" => o.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--subprotocol" => o.subprotocols.push(value()?),
            "--max-seconds" => {
                o.max_seconds = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--max-seconds: {e}"))?,
                )
            }
            "--verbose" | "-v" => o.verbose = true,
            "--close-command" => o.close_command = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                exit(0)
            }
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// The limits: generous message sizes (memory does not depend on them), defaults otherwise.
fn config() -> Config {
    let mut c = Config::new();
    c.max_frame_payload = 64 << 20;
    c.max_message_size = 64 << 20;
    c.max_fragments = 1 << 20;
    c
}

fn serve(stream: TcpStream, opts: &Options) -> io::Result<String> {
    let peer = stream.peer_addr()?;
    let offered = |req: &wsmachine::Request<'_>| {
        req.subprotocols()
            .filter_map(|p| std::str::from_utf8(p).ok())
            .find(|p| opts.subprotocols.iter().any(|ours| ours == p))
            .map(str::to_owned)
    };
    let Some((mut session, subprotocol)) =
        Session::accept(stream, config(), &opts.compression, offered)?
    else {
        return Ok(format!("{peer} handshake refused"));
    };
    let clock = session.clock;
    let mut peer_reason = String::new();
    // `echo` (in lib.rs) sends each received chunk straight back as a fragment.
    session.run(None, |conn, out, event| {
        match event {
            // `--close-command`: a one-piece text message `/close CODE REASON`.
            Event::Data(c) if c.message_start && c.message_finished && opts.close_command => {
                if let Some((code, reason)) = close_command(c.kind, c.data) {
                    out.push(|buf| conn.close(clock.now(), code, reason, buf))?;
                    return Ok(Flow::Continue);
                }
            }
            Event::Close { reason, .. } => peer_reason = reason.to_owned(),
            _ => {}
        }
        echo(conn, out, event)
    })?;
    let code = session
        .conn
        .close_status()
        .map_or(1006, CloseStatus::as_u16);
    Ok(format!(
        "{peer} subprotocol={} close={code} reason={peer_reason:?} deflate={} compressed_in={} \
         compressed_out={} failure={:?}",
        subprotocol.as_deref().unwrap_or("-"),
        describe_deflate(session.deflate()),
        session.compressed_received,
        session.out.compressed_sent,
        session.conn.failure()
    ))
}

/// Parses `/close CODE REASON`.
fn close_command(kind: MessageKind, data: &[u8]) -> Option<(CloseCode, &str)> {
    let text = std::str::from_utf8(data.strip_prefix(b"/close ")?).ok()?;
    if kind != MessageKind::Text {
        return None;
    }
    let (code, reason) = text.split_once(' ').unwrap_or((text, ""));
    Some((CloseCode::new(code.parse().ok()?)?, reason))
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("echo-server: {e}");
            exit(2)
        }
    };
    let listener = match TcpListener::bind((opts.host.as_str(), opts.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo-server: bind {}:{}: {e}", opts.host, opts.port);
            exit(1)
        }
    };
    let addr = listener.local_addr().expect("local address");
    println!("listening on {addr}");
    let _ = io::stdout().flush();
    if let Some(secs) = opts.max_seconds {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            exit(0)
        });
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let opts = Arc::clone(&opts);
        std::thread::spawn(move || {
            let outcome = serve(stream, &opts);
            if opts.verbose {
                match outcome {
                    Ok(line) => println!("{line}"),
                    Err(e) => println!("connection error: {e}"),
                }
            }
        });
    }
}
