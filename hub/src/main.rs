//! `wsmachine-hub`: the pub/sub WebSocket server (docs/hub.md).

use std::sync::Arc;

#[tokio::main]
async fn main() {
    let config = match wsmachine_hub::Config::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let addr = format!("{}:{}", config.host, config.port);
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wsmachine-hub: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    wsmachine_hub::log(
        "listening",
        serde_json::json!({
            "addr": bound,
            "nofile_limit": wsmachine_hub::nofile_limit(),
            "demo_login": config.demo_login,
            "instance": config.instance_id,
            "broker": if config.redis.is_some() { "redis" } else { "memory" },
        }),
    );
    println!("wsmachine-hub: listening on http://{bound}/");
    let hub = wsmachine_hub::Hub::new(config);
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("wsmachine-hub: cannot watch SIGTERM: {e}");
                    std::process::exit(1);
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    if let Err(e) = wsmachine_hub::serve(Arc::clone(&hub), listener, shutdown).await {
        eprintln!("wsmachine-hub: {e}");
        std::process::exit(1);
    }
}
