#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The committed development PKI (`certs-dev/`) is what its README says: the serving certificate
//! chains to the development CA for localhost, 127.0.0.1 and ::1 and matches its key, and tokens
//! minted with the token-signing key verify with its public half. Also: nothing in `manifests/`
//! refers to any of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use update_status_controller::auth::{
    DEFAULT_AUDIENCE, DEV_ISSUER, JwtAuthenticator, JwtSettings, ServiceAccount, SigningAlgorithm,
    mint,
};

fn dev_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs-dev")
        .join(name)
}

fn certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(dev_file(name))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn verifier() -> Arc<WebPkiServerVerifier> {
    let mut roots = RootCertStore::empty();
    let ca = certs("ca.crt");
    assert_eq!(ca.len(), 1, "ca.crt holds one certificate");
    roots.add(ca[0].clone()).unwrap();
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(ring::default_provider()))
        .build()
        .unwrap()
}

#[test]
fn serving_certificate_chains_to_the_dev_ca_for_loopback_names() {
    let verifier = verifier();
    let chain = certs("tls.crt");
    assert_eq!(chain.len(), 1, "tls.crt holds the leaf only");
    let now = UnixTime::now();
    for name in ["localhost", "127.0.0.1", "::1"] {
        let server_name = ServerName::try_from(name).unwrap();
        verifier
            .verify_server_cert(&chain[0], &[], &server_name, &[], now)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in [
        "example.com",
        "update-status-controller.openshift-update-status.svc",
        "127.0.0.2",
        "10.0.0.1",
    ] {
        let server_name = ServerName::try_from(name).unwrap();
        assert!(
            verifier
                .verify_server_cert(&chain[0], &[], &server_name, &[], now)
                .is_err(),
            "the development certificate must not be valid for {name}"
        );
    }
    // Valid for years (the README says ten): fail long before it expires, not on the day.
    let in_a_year =
        UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + 365 * 24 * 60 * 60));
    let localhost = ServerName::try_from("localhost").unwrap();
    verifier
        .verify_server_cert(&chain[0], &[], &localhost, &[], in_a_year)
        .unwrap_or_else(|e| {
            panic!("the dev certificate expires within a year: run certs-dev/generate.sh ({e})")
        });
}

#[test]
fn serving_key_matches_the_certificate() {
    let key = PrivateKeyDer::from_pem_file(dev_file("tls.key")).unwrap();
    assert!(matches!(key, PrivateKeyDer::Pkcs8(_)), "tls.key is PKCS#8");
    let certified =
        CertifiedKey::from_der(certs("tls.crt"), key, &ring::default_provider()).unwrap();
    certified.keys_match().unwrap();
}

#[test]
fn dev_token_key_pair_mints_and_verifies() {
    let authenticator = JwtAuthenticator::from_public_key_file(
        &dev_file("token-signing.pub"),
        JwtSettings::new(DEV_ISSUER, DEFAULT_AUDIENCE),
    )
    .unwrap();
    assert_eq!(authenticator.algorithm(), SigningAlgorithm::Es256);
    let sa =
        ServiceAccount::from_username("system:serviceaccount:openshift-example:producer").unwrap();
    let token = mint(
        &std::fs::read(dev_file("token-signing.key")).unwrap(),
        DEV_ISSUER,
        DEFAULT_AUDIENCE,
        &sa,
        Some("0b8c4a9e-1f2d-4c3b-9a8e-7d6c5b4a3f2e"),
        jiff::Timestamp::now(),
        Duration::from_secs(600),
    )
    .unwrap();
    let id = authenticator.verify(&token).unwrap();
    assert_eq!(id.service_account(), Some(sa));
    assert_eq!(
        id.uid.as_deref(),
        Some("0b8c4a9e-1f2d-4c3b-9a8e-7d6c5b4a3f2e")
    );
}

/// DESIGN §11: `certs-dev/` is never used by the manifests — not by path, not by content.
#[test]
fn manifests_do_not_use_dev_material() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let mut fingerprints: Vec<String> = vec!["certs-dev".to_owned()];
    for name in [
        "ca.crt",
        "ca.key",
        "tls.crt",
        "tls.key",
        "token-signing.key",
        "token-signing.pub",
    ] {
        let pem = std::fs::read_to_string(dev_file(name)).unwrap();
        // The first body line of each PEM file identifies it, even base64-wrapped in YAML.
        let body = pem.lines().nth(1).unwrap().to_owned();
        assert!(body.len() >= 40, "{name}");
        fingerprints.push(body);
    }
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue; // No manifests yet on this branch: nothing can refer to certs-dev.
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for fingerprint in &fingerprints {
                assert!(
                    !text.contains(fingerprint.as_str()),
                    "{} uses development material ({fingerprint:.20}…)",
                    path.display()
                );
            }
        }
    }
}
