//! TLS for the fake: a fresh CA per server and a serving certificate for 127.0.0.1 and localhost.
//!
//! A fresh CA (never a shared test CA) means a client can only connect through the kubeconfig the
//! fake wrote, exactly as with a real cluster: the CA travels in `certificate-authority-data`.
//! ring is the only crypto provider, as in the controller.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

/// The serving side: rustls configuration plus the CA certificate clients must trust.
pub(crate) struct ServingTls {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) ca_pem: String,
}

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

/// Makes a CA, a serving certificate signed by it, and the rustls server configuration
/// (HTTP/2 and HTTP/1.1 by ALPN, as a real API server offers both).
pub(crate) fn generate() -> Result<ServingTls, Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fake-apiserver CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls_err)?)
        .map_err(tls_err)?;

    let key = KeyPair::generate().map_err(tls_err)?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(tls_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "fake-apiserver");
    let cert = params.signed_by(&key, &ca).map_err(tls_err)?;

    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca.der().clone()];
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(tls_err)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(ServingTls {
        config: Arc::new(config),
        ca_pem: ca.pem(),
    })
}
