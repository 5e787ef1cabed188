//! wss:// end to end: a rustls server (tokio-rustls `TlsAcceptor` + `accept`) with a
//! self-signed certificate made here by rcgen, and `connect_with` trusting that certificate.
#![cfg(feature = "rustls")]

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use wsmachine_tokio::tokio_rustls::rustls::{
    self,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};
use wsmachine_tokio::tokio_rustls::TlsAcceptor;
use wsmachine_tokio::{
    accept, connect_with, ClientOptions, CloseCode, CloseStatus, Error, Message,
};

const LIMIT: Duration = Duration::from_secs(20);

#[allow(deprecated)] // ring lacks post-quantum key exchange; fine for a loopback test
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate for `localhost` and the server and client configurations around it.
fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

#[tokio::test]
async fn wss_echo_with_a_self_signed_certificate() {
    let (server_cfg, client_cfg) = configs();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let tls = TlsAcceptor::from(server_cfg).accept(tcp).await.unwrap();
        let mut ws = accept(tls).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            ws.send(&m).await.unwrap();
        }
        ws.close_status()
    });
    let url = format!("wss://localhost:{port}/secure");
    let (mut ws, _) = tokio::time::timeout(
        LIMIT,
        connect_with(&url, ClientOptions::new().tls(client_cfg)),
    )
    .await
    .unwrap()
    .unwrap();
    ws.send("over TLS").await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("over TLS".into())
    );
    // Large enough to span many TLS records and compress (permessage-deflate is on).
    let big: Vec<u8> = (0..500_000u32).map(|i| (i % 97) as u8).collect();
    ws.send(&big).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::Binary(big));
    let status = tokio::time::timeout(LIMIT, ws.close(CloseCode::NORMAL, "bye"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, CloseStatus::Code(CloseCode::NORMAL));
    let seen = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(seen, Some(CloseStatus::Code(CloseCode::NORMAL)));
}

#[tokio::test]
async fn wss_refuses_a_certificate_it_does_not_trust() {
    let (server_cfg, _) = configs();
    let (_, other_client) = configs(); // trusts a different self-signed certificate
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        TlsAcceptor::from(server_cfg).accept(tcp).await.is_err()
    });
    let url = format!("wss://localhost:{port}/");
    let r = connect_with(&url, ClientOptions::new().tls(other_client)).await;
    assert!(matches!(r, Err(Error::Io(_))), "{:?}", r.map(drop));
    assert!(tokio::time::timeout(LIMIT, server).await.unwrap().unwrap());
}
