//! `--tls-profile=cluster`: the informer endpoint serves the TLS profile of
//! `apiserver.config.openshift.io/cluster` and follows it when it changes, without a restart and
//! without closing connections already open.
//!
//! Against a real kube-apiserver (`tests/envtest`, `KUBEBUILDER_ASSETS`; skipped without it,
//! failed under `CI=true`), because what the controller reads is what the real server makes of
//! the object: its CRD validation and pruning, the watch events an update and a delete give, the
//! list-then-watch the controller starts with. The APIServer CRD is OpenShift's own, from
//! `../shared/reference/openshift-crds` (`OPENSHIFT_CRDS_DIR` overrides it); where that is absent
//! a cut-down inline copy is installed instead, so the suite runs without `../shared`, and when
//! the real one is installed the copy is still checked against the real server (a server-side
//! dry run), so the fallback stays one the server accepts. Like the real one it declares
//! `metadata` as a bare object, which a server must not prune by. The profile is changed with
//! server-side apply and deleted with kubectl, as an administrator would.
//!
//! `offline_mode_refuses_the_cluster_profile` needs no API server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use envtest::ControlPlane;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedCipherSuite, SupportedProtocolVersion};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use update_status_controller::auth::{JwtAuthenticator, JwtSettings};
use update_status_controller::cli::{Cli, Command, ServeArgs};
use update_status_controller::serve::kube::run_with;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const API_SERVER_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: apiservers.config.openshift.io
spec:
  group: config.openshift.io
  names: {kind: APIServer, listKind: APIServerList, plural: apiservers, singular: apiserver}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            properties:
              tlsSecurityProfile:
                type: object
                properties:
                  type: {type: string, enum: ["", Old, Intermediate, Modern, Custom]}
                  old: {type: object, nullable: true}
                  intermediate: {type: object, nullable: true}
                  modern: {type: object, nullable: true}
                  custom:
                    type: object
                    nullable: true
                    properties:
                      ciphers: {type: array, items: {type: string}}
                      minTLSVersion: {type: string}
          status: {type: object}
"#;

fn api_server(profile: Value) -> Value {
    json!({
        "apiVersion": "config.openshift.io/v1",
        "kind": "APIServer",
        "metadata": {"name": "cluster"},
        "spec": {"tlsSecurityProfile": profile},
    })
}

/// OpenShift's APIServer CRD, when `../shared` (or `OPENSHIFT_CRDS_DIR`) has it.
fn real_api_server_crd() -> Result<String, String> {
    let dir = std::env::var_os("OPENSHIFT_CRDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/reference/openshift-crds"));
    let path = dir.join("0000_10_config-operator_01_apiservers-Default.crd.yaml");
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The shared control plane with our CRDs and the APIServer CRD installed (once per binary).
fn cluster() -> Option<&'static ControlPlane> {
    static SET_UP: OnceLock<()> = OnceLock::new();
    let cp = envtest::shared()?;
    SET_UP.get_or_init(|| {
        for entry in std::fs::read_dir(root().join("crds")).unwrap() {
            let path = entry.unwrap().path();
            cp.apply(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        match real_api_server_crd() {
            Ok(crd) => {
                cp.apply(&crd).expect("OpenShift's APIServer CRD installs");
                // The copy, in a group of its own so it is judged as itself (not merged into the
                // CRD installed under its name), created in a server-side dry run.
                let copy = API_SERVER_CRD.replace("config.openshift.io", "inline-copy.example.com");
                cp.kubectl_stdin(&["create", "--dry-run=server", "-f", "-"], &copy)
                    .expect("the real server accepts the inline APIServer CRD");
            }
            Err(why) => {
                eprintln!("no OpenShift APIServer CRD ({why}); installing the inline copy");
                cp.apply(API_SERVER_CRD)
                    .expect("the real server accepts the inline APIServer CRD");
            }
        }
        cp.wait_established(&[]).unwrap();
    });
    Some(cp)
}

/// Sets the cluster's profile, as an administrator would (server-side apply: fields left out
/// of `profile` are removed).
fn set_profile(cp: &ControlPlane, profile: Value) {
    cp.apply(&api_server(profile).to_string()).unwrap();
}

/// Starts the controller in Kubernetes mode with `--tls-profile=cluster`; returns its address.
/// The controller's API server client is an admin one: RBAC is not what this file tests
/// (`real_api_controller.rs` runs it under its own service account).
async fn start(
    cp: &ControlPlane,
    shutdown: &CancellationToken,
) -> (std::net::SocketAddr, JoinHandle<()>) {
    let r = root();
    let cli = Cli::parse_from([
        "update-status-controller",
        "serve",
        "--tls-cert-file",
        r.join("certs-dev/tls.crt").to_str().unwrap(),
        "--tls-key-file",
        r.join("certs-dev/tls.key").to_str().unwrap(),
        "--tls-profile",
        "cluster",
        // Nothing leaves 127.0.0.1: no alerts informer.
        "--alerts-url=",
    ]);
    let Command::Serve(args) = cli.command else {
        unreachable!()
    };
    let args: ServeArgs = *args;
    let client = cp.client().await.unwrap();
    let authenticator = JwtAuthenticator::from_public_key_file(
        &r.join("certs-dev/token-signing.pub"),
        JwtSettings::new(
            update_status_controller::auth::DEV_ISSUER,
            update_status_controller::auth::DEFAULT_AUDIENCE,
        ),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = shutdown.clone();
    let task = tokio::spawn(async move {
        run_with(&args, client, Arc::new(authenticator), listener, shutdown)
            .await
            .unwrap();
    });
    (addr, task)
}

/// A client offering only `versions` (and, when given, only `suites`), trusting the dev CA.
fn client(
    versions: &[&'static SupportedProtocolVersion],
    suites: Option<&[SupportedCipherSuite]>,
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(root().join("certs-dev/ca.crt")).unwrap();
    roots.add(ca).unwrap();
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = suites {
        provider.cipher_suites = suites.to_vec();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn handshake(addr: std::net::SocketAddr, connector: &TlsConnector) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

/// `/healthz` on an open connection: the connection still serves requests.
async fn healthz(tls: &mut Tls) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Waits until `ok(handshake result)` holds, up to 10 s; returns how long it took.
async fn until(
    addr: std::net::SocketAddr,
    connector: &TlsConnector,
    ok: impl Fn(&std::io::Result<Tls>) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let result = handshake(addr, connector).await;
        if ok(&result) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the served TLS profile did not change within 10 s (last: {:?})",
            result.map(|_| "handshake succeeded")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

#[tokio::test]
async fn serves_and_follows_the_cluster_profile() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(cp) = cluster() else { return };
    set_profile(cp, json!({"type": "Modern", "modern": {}}));
    let shutdown = CancellationToken::new();
    let (addr, controller) = start(cp, &shutdown).await;
    let tls13 = client(TLS13, None);
    let tls12 = client(TLS12, None);

    // Modern: TLS 1.3 only, from the first connection on.
    until(addr, &tls13, Result::is_ok).await;
    assert!(
        handshake(addr, &tls12).await.is_err(),
        "Modern must refuse TLS 1.2"
    );
    let mut open = handshake(addr, &tls13).await.unwrap();
    assert!(healthz(&mut open).await.starts_with("HTTP/1.1 200"));

    // Intermediate: TLS 1.2 is accepted from then on; the open connection keeps working.
    set_profile(cp, json!({"type": "Intermediate", "intermediate": {}}));
    let took = until(addr, &tls12, Result::is_ok).await;
    println!("Modern -> Intermediate applied after {took:?}");
    assert!(healthz(&mut open).await.starts_with("HTTP/1.1 200"));

    // Custom: only the listed TLS 1.2 suite rustls implements is offered.
    set_profile(
        cp,
        json!({
            "type": "Custom",
            "custom": {
                "minTLSVersion": "VersionTLS12",
                "ciphers": ["ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", "AES128-SHA256"]
            }
        }),
    );
    use rustls::crypto::ring::cipher_suite as s;
    let gcm_only = client(
        TLS12,
        Some(&[
            s::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            s::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ]),
    );
    let chacha = client(
        TLS12,
        Some(&[
            s::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            s::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ]),
    );
    until(addr, &gcm_only, Result::is_err).await;
    assert!(handshake(addr, &chacha).await.is_ok());
    assert!(handshake(addr, &tls13).await.is_ok());

    // Deleted (or never set): the platform default, Intermediate.
    cp.kubectl_run(&[
        "delete",
        "apiservers.config.openshift.io",
        "cluster",
        "--timeout=10s",
    ])
    .unwrap();
    until(addr, &gcm_only, Result::is_ok).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), controller)
        .await
        .expect("the controller stops within 30 s of shutdown")
        .unwrap();
}

#[tokio::test]
async fn offline_mode_refuses_the_cluster_profile() {
    let cli = Cli::try_parse_from([
        "update-status-controller",
        "serve",
        "--dev",
        "--tls-profile",
        "cluster",
    ])
    .unwrap();
    let Command::Serve(args) = cli.command else {
        unreachable!()
    };
    let err = update_status_controller::serve::settings(&args).unwrap_err();
    assert!(err.to_string().contains("needs Kubernetes mode"), "{err}");
}
