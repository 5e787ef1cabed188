//! echo-server — a WebSocket echo server on `std::net`, one thread per connection.
//!
//! ```text
//! echo-server [--host 127.0.0.1] [--port 9001] [--subprotocol NAME]... [--max-seconds N] [--verbose]
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
//! * `--port 0` picks a free port. The first line on stdout is always
//!   `listening on HOST:PORT`; with `--verbose`, one more line per connection says how it
//!   ended.
//! * `--max-seconds N` makes the process exit after N seconds (for test harnesses).
//!
//! Limits are set so the Autobahn|Testsuite 9.* cases pass: messages and frames up to
//! 64 MiB, messages of up to 1 Mi fragments.

use std::io::{self, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::exit;
use std::sync::Arc;
use std::time::Duration;

use wsmachine::Config;
use wsmachine_examples::{echo, Session};

struct Options {
    host: String,
    port: u16,
    subprotocols: Vec<String>,
    max_seconds: Option<u64>,
    verbose: bool,
}

const USAGE: &str = "usage: echo-server [--host 127.0.0.1] [--port 9001] [--subprotocol NAME]... \
                     [--max-seconds N] [--verbose]";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 9001,
        subprotocols: Vec::new(),
        max_seconds: None,
        verbose: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
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
    let Some((mut session, subprotocol)) = Session::accept(stream, config(), offered)? else {
        return Ok(format!("{peer}: handshake refused"));
    };
    // `echo` (in lib.rs) sends each received chunk straight back as a fragment.
    session.run(None, echo)?;
    Ok(format!(
        "{peer}: subprotocol {subprotocol:?}, closed {} ({:?})",
        session
            .conn
            .close_status()
            .map_or(1006, wsmachine::CloseStatus::as_u16),
        session.conn.failure()
    ))
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
