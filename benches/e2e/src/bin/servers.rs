//! servers — the end-to-end benchmark's Rust echo servers, one library each, every one on a
//! `current_thread` tokio runtime (the benchmark pins the server to one core):
//!
//! ```text
//! servers wsmachine|wsmachine-4k|tungstenite|fastwebsockets [--host 127.0.0.1] [--port 0]
//!         [--max-seconds N]
//! ```
//!
//! Prints `servers: NAME listening on HOST:PORT` (port 0 picks a free one), then echoes each
//! whole message back. Every server sets TCP_NODELAY, offers no permessage-deflate and
//! accepts messages up to 64 MiB (tungstenite's and fastwebsockets' default; wsmachine's is
//! 16 MiB, raised here). Each is written the way the library's own echo example is:
//! wsmachine-tokio `next`/`send`, tokio-tungstenite `split` + `forward`, fastwebsockets
//! behind hyper's upgrade with a `FragmentCollector` in an unconstrained task. `wsmachine-4k`
//! is `wsmachine` with a 4 KiB read buffer (`Options::read_buffer_size`; the default is 64 KiB),
//! for the idle-memory comparison.
//! `--max-seconds N` exits after N seconds, so that a forgotten server does not run forever.

#![forbid(unsafe_code)]

use std::io::Write;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The largest message every server accepts.
const MAX_MESSAGE: usize = 64 << 20;

fn usage() -> ! {
    eprintln!(
        "usage: servers wsmachine|wsmachine-4k|tungstenite|fastwebsockets [--host H] [--port P] \
         [--max-seconds N]"
    );
    std::process::exit(2)
}

fn main() -> std::io::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = argv.first().cloned() else {
        usage()
    };
    let (mut host, mut port, mut max_seconds) = ("127.0.0.1".to_string(), 0u16, 0u64);
    let mut it = argv[1..].iter();
    while let Some(k) = it.next() {
        let Some(v) = it.next() else { usage() };
        let ok = match k.as_str() {
            "--host" => {
                host = v.clone();
                true
            }
            "--port" => v.parse().map(|p| port = p).is_ok(),
            "--max-seconds" => v.parse().map(|s| max_seconds = s).is_ok(),
            _ => false,
        };
        if !ok {
            usage();
        }
    }
    if !matches!(
        name.as_str(),
        "wsmachine" | "wsmachine-4k" | "tungstenite" | "fastwebsockets"
    ) {
        usage();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind((host.as_str(), port)).await?;
        println!("servers: {name} listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        if max_seconds > 0 {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(max_seconds)).await;
                eprintln!("servers: {max_seconds} s are up; exiting");
                std::process::exit(0);
            });
        }
        loop {
            let (tcp, _) = listener.accept().await?;
            tcp.set_nodelay(true)?;
            match name.as_str() {
                "wsmachine" => tokio::spawn(wsmachine(tcp, None)),
                "wsmachine-4k" => tokio::spawn(wsmachine(tcp, Some(4 << 10))),
                "tungstenite" => tokio::spawn(tungstenite(tcp)),
                _ => tokio::spawn(fastwebsockets(tcp)),
            };
        }
    })
}

async fn wsmachine(tcp: TcpStream, read_buffer: Option<usize>) {
    use wsmachine_tokio::{accept_with, Accept, Options};
    let mut options = Options::new().deflate(None);
    options.config.max_message_size = MAX_MESSAGE as u64;
    if let Some(bytes) = read_buffer {
        options = options.read_buffer_size(bytes);
    }
    let Ok(mut ws) = accept_with(tcp, options, |_| Ok(Accept::new())).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if ws.send(&msg).await.is_err() {
            break;
        }
    }
}

async fn tungstenite(tcp: TcpStream) {
    use futures_util::{future, StreamExt, TryStreamExt};
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (write, read) = ws.split();
    let _ = read
        .try_filter(|m| future::ready(m.is_binary() || m.is_text()))
        .forward(write)
        .await;
}

async fn fastwebsockets(tcp: TcpStream) {
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};

    async fn echo(
        upgrade: fastwebsockets::upgrade::UpgradeFut,
    ) -> Result<(), fastwebsockets::WebSocketError> {
        let mut ws = upgrade.await?;
        ws.set_max_message_size(MAX_MESSAGE);
        let mut ws = fastwebsockets::FragmentCollector::new(ws);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                fastwebsockets::OpCode::Close => return Ok(()),
                fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => {
                    ws.write_frame(frame).await?
                }
                _ => {}
            }
        }
    }

    async fn upgrade(
        mut req: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, fastwebsockets::WebSocketError> {
        let (response, fut) = fastwebsockets::upgrade::upgrade(&mut req)?;
        tokio::spawn(async move {
            let _ = tokio::task::unconstrained(echo(fut)).await;
        });
        Ok(response)
    }

    let io = hyper_util::rt::TokioIo::new(tcp);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, hyper::service::service_fn(upgrade))
        .with_upgrades()
        .await;
}
