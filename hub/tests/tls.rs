//! https:// and wss:// (`--tls-cert/--tls-key`) with a self-signed certificate made here.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsmachine_hub::{Config, Hub};
use wsmachine_tokio::tokio_rustls::rustls::{
    self, pki_types::CertificateDer, pki_types::ServerName,
};
use wsmachine_tokio::tokio_rustls::TlsConnector;
use wsmachine_tokio::{connect_with, ClientOptions, Options};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn https_and_wss_with_secure_cookies() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("wsmachine-hub-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();

    let config = Config {
        port: 0,
        demo_login: true,
        quiet: true,
        tls_cert: Some(dir.join("cert.pem")),
        tls_key: Some(dir.join("key.pem")),
        ..Config::default()
    };
    let hub = Hub::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = hub.clone();
    tokio::spawn(async move { wsmachine_hub::serve(h, listener, std::future::pending()).await });

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ck.cert.der().to_vec()))
        .unwrap();
    let client = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );

    // https: POST /login over TLS; the cookie is Secure.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = TlsConnector::from(client.clone())
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let body = json!({"name": "tess"}).to_string();
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(T, tls.read_to_end(&mut out))
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let line = out.lines().find(|l| l.starts_with("Set-Cookie: ")).unwrap();
    assert!(line.contains("; Secure"), "{line}");
    let cookie = line["Set-Cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // wss: the cookie authenticates the upgrade.
    let o = ClientOptions::new()
        .options(Options::new())
        .tls(client)
        .header("Cookie", &cookie);
    let (mut ws, _) =
        tokio::time::timeout(T, connect_with(&format!("wss://localhost:{port}/ws"), o))
            .await
            .unwrap()
            .unwrap();
    let m = tokio::time::timeout(T, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let w: Value = serde_json::from_str(m.as_text().unwrap()).unwrap();
    assert_eq!(
        (w["type"].as_str(), w["user"].as_str()),
        (Some("welcome"), Some("tess"))
    );

    // Plain HTTP on the TLS port: no answer, counted.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(T, plain.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&buf).contains("\"status\""));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        hub.metrics()
            .tls_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // A key that does not parse is refused at start-up.
    std::fs::write(dir.join("bad.pem"), "not a key").unwrap();
    let bad = Config {
        tls_cert: Some(dir.join("cert.pem")),
        tls_key: Some(dir.join("bad.pem")),
        ..Config::default()
    };
    assert!(Hub::new(bad).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
