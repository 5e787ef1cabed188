//! A client: `cargo run -p wsmachine-tokio --example echo_client -- ws://127.0.0.1:9001`.
//!
//! Sends a few messages, prints the replies, closes.

use wsmachine_tokio::{connect, CloseCode};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsmachine_tokio::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let (mut ws, _) = connect(&url).await?;
    for text in ["hello", "wsmachine", "over tokio"] {
        ws.send(text).await?;
        if let Some(reply) = ws.next().await.transpose()? {
            println!("{reply:?}");
        }
    }
    let status = ws.close(CloseCode::NORMAL, "bye").await?;
    println!("closed: {status}");
    Ok(())
}
