//! https:// and wss:// with rustls: the acceptor from PEM files.

use std::path::Path;
use std::sync::Arc;

use wsmachine_tokio::tokio_rustls::rustls::pki_types::pem::PemObject;
use wsmachine_tokio::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wsmachine_tokio::tokio_rustls::rustls::ServerConfig;
use wsmachine_tokio::tokio_rustls::TlsAcceptor;

/// A TLS acceptor for the certificate chain in `cert` and the private key in `key` (PEM),
/// TLS 1.2 and 1.3 with rustls' safe defaults, ALPN `http/1.1`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    // The process's default provider: the one rustls was built with (ring, through
    // wsmachine-tokio's `rustls` feature).
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
