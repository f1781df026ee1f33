//! TLS clients of `serve --dev`, for the tests that attack it from many source addresses: they
//! trust `certs-dev/ca.crt` and connect from a chosen 127.0.0.x (Linux routes all of
//! 127.0.0.0/8 to lo), so per-source limits can be shown on one machine.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Upper bound for connecting and for the TLS handshake.
const STEP: Duration = Duration::from_secs(5);

/// A TLS client trusting the development CA.
pub fn dev_connector() -> TlsConnector {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = format!("{}/certs-dev/ca.crt", env!("CARGO_MANIFEST_DIR"));
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&ca).unwrap_or_else(|e| panic!("{ca}: {e}")))
        .unwrap_or_else(|e| panic!("{ca}: {e}"));
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

/// A TLS connection to `addr` (its certificate names `localhost`) from the source address
/// `source`.
pub async fn open_from(
    source: Ipv4Addr,
    addr: SocketAddr,
    tls: &TlsConnector,
) -> io::Result<TlsStream<TcpStream>> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let tcp = timeout(STEP, socket.connect(addr)).await??;
    // Small requests back to back: no Nagle delay on them.
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    timeout(STEP, tls.connect(name, tcp)).await?
}
