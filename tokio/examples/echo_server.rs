//! An echo server: `cargo run -p wsmachine-tokio --example echo_server -- [--host H] [--port P]`.
//!
//! Echoes every message back, permessage-deflate on (`--no-deflate`: off); with
//! `--max-seconds N` it exits after N seconds (the Autobahn server driver uses it).

use tokio::net::TcpStream;
use wsmachine_tokio::{accept_with, Accept, MessageKind, Options, WebSocket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let arg = |name: &str| {
        let args: Vec<String> = std::env::args().collect();
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1).cloned()
    };
    let host = arg("--host").unwrap_or_else(|| "127.0.0.1".into());
    let port = arg("--port").unwrap_or_else(|| "9001".into());
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}")).await?;
    println!("echo server on ws://{}", listener.local_addr()?);
    if let Some(secs) = arg("--max-seconds").and_then(|s| s.parse().ok()) {
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            std::process::exit(0);
        });
    }
    // Autobahn sends messages and frames up to 16 MiB, and 4 MiB in 64-byte fragments.
    let mut options = Options::new(); // permessage-deflate on, unless --no-deflate
    #[cfg(feature = "deflate")]
    if std::env::args().any(|a| a == "--no-deflate") {
        options = options.deflate(None);
    }
    options.config.max_message_size = 64 << 20;
    options.config.max_frame_payload = 64 << 20;
    options.config.max_fragments = 1 << 20;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let options = options.clone();
        tokio::spawn(async move {
            let Ok(ws) = accept_with(tcp, options, |_| Ok(Accept::new())).await else {
                return;
            };
            echo(ws).await;
        });
    }
}

/// Echoes until the end. (The plain version is `while let Some(Ok(m)) = ws.next().await {
/// ws.feed(&m).await? }`; this one skips a copy.) Messages come as chunks borrowed from the
/// read buffer (`next_chunk`): a message in one chunk is queued straight from there, a longer
/// one is assembled first. `feed` queues the reply; the reader writes the queue once it has
/// no complete message left, so the replies to a burst of messages leave in one write.
async fn echo(ws: WebSocket<TcpStream>) {
    let (mut reader, writer) = ws.split();
    let mut message = Vec::new();
    while let Some(Ok(chunk)) = reader.next_chunk().await {
        let data = if chunk.first && chunk.last {
            chunk.data
        } else {
            if chunk.first {
                message.clear();
            }
            message.extend_from_slice(chunk.data);
            if !chunk.last {
                continue;
            }
            &message
        };
        let sent = match chunk.kind {
            // A whole text message is valid UTF-8 (the connection checked it).
            MessageKind::Text => match std::str::from_utf8(data) {
                Ok(text) => writer.feed(text).await,
                Err(_) => break,
            },
            MessageKind::Binary => writer.feed(data).await,
        };
        if sent.is_err() {
            break;
        }
    }
}
