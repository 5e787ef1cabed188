//! The Autobahn|Testsuite client driver:
//! `autobahn_client --url ws://127.0.0.1:9001 --agent NAME` against `wstest -m fuzzingserver`.
//!
//! Runs every case (echoing each message), then asks the fuzzing server to write its
//! reports.

use wsmachine_tokio::{connect_with, ClientOptions, Options};

fn options() -> ClientOptions {
    let mut options = Options::new(); // permessage-deflate offered
    options.config.max_message_size = 64 << 20;
    options.config.max_frame_payload = 64 << 20;
    options.config.max_fragments = 1 << 20;
    ClientOptions::new().options(options)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsmachine_tokio::Error> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1).cloned()
    };
    let url = arg("--url").unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = arg("--agent").unwrap_or_else(|| "wsmachine-tokio".into());

    let (mut ws, _) = connect_with(&format!("{url}/getCaseCount"), options()).await?;
    let count: u32 = match ws.next().await.transpose()? {
        Some(m) => m.as_text().and_then(|t| t.trim().parse().ok()).unwrap_or(0),
        None => 0,
    };
    while ws.next().await.is_some() {}
    println!("{count} cases");
    for case in 1..=count {
        let target = format!("{url}/runCase?case={case}&agent={agent}");
        let Ok((mut ws, _)) = connect_with(&target, options()).await else {
            continue;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if ws.send(&msg).await.is_err() {
                break;
            }
        }
    }
    let (mut ws, _) =
        connect_with(&format!("{url}/updateReports?agent={agent}"), options()).await?;
    while ws.next().await.is_some() {}
    println!("reports updated");
    Ok(())
}
