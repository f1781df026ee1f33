//! No token, and no TokenReview body, in the logs at any verbosity (SECURITY.md, information
//! disclosure; checklist LOG-01): the controller runs in Kubernetes mode against the fake API
//! server with every target at TRACE (the controller's own, kube, tower, hyper-util and, through
//! the `log` bridge, rustls; hyper itself emits nothing without its unstable `tracing` cfg, and h2
//! serves only with `--http2`), span opening and closing included, all captured in memory, while
//! requests take every authentication path: no token, malformed headers, a bad signature, an
//! expired token, wrong audiences (refused by the local pre-check, and by TokenReview), a revoked
//! token, a service account that TokenReview accepts but the UpdateInformer does not list, an
//! accepted producer (report and read-back), TokenReview failing (500) and unreachable, and with
//! `--subject-access-review` a denied and an allowed producer.
//!
//! Then no token, nor its payload or signature segment, nor the kubeconfig's own bearer token,
//! nor anything of a TokenReview request or response body, may appear anywhere in what was
//! logged; and the log must hold the TRACE output of kube and rustls and one audit line per
//! request, so an empty or filtered capture fails the test instead of passing it.
//!
//! One test function: the capture is the process-wide subscriber (the controller's tasks run on
//! every worker thread), so it must be the only test in this binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use fake_apiserver::{AccessRule, FakeApiServer, FakeConfig, Fault, SigningKey, UserInfo};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use update_status_controller::auth::DEFAULT_AUDIENCE;
use update_status_controller::auth::access_review::SUBJECT_ACCESS_REVIEWS_PATH;
use update_status_controller::auth::token_review::TOKEN_REVIEWS_PATH;
use update_status_controller::cli::{Cli, Command, ServeArgs};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const INFORMER: &str = "example-storage-operator";
const REPORTS: &str = "/v1alpha1/informers/example-storage-operator/reports";
const INSIGHTS: &str = "/v1alpha1/informers/example-storage-operator/insights";
const PRODUCER: &str = "system:serviceaccount:example-storage:storage-operator";
const API_SERVER_AUDIENCE: &str = "https://kubernetes.default.svc";

/// Everything logged, by every thread.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the process-wide subscriber: everything at TRACE, spans' lifecycle too, and `log`
/// records (rustls) bridged in.
fn capture_everything() -> Capture {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_target(true)
        .with_writer(capture.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    capture
}

/// The fake API server with the CRDs and the sample UpdateInformer, signing service-account
/// tokens with a key this test holds too (to sign expired tokens and ones TokenReview refuses).
async fn cluster(signing_pem: &str) -> FakeApiServer {
    let server = FakeApiServer::start(FakeConfig {
        signing_key: SigningKey::Pem(signing_pem.to_owned()),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    for entry in std::fs::read_dir(Path::new(ROOT).join("crds")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        server.register_crd_yaml(&text).unwrap();
    }
    let informer = std::fs::read_to_string(
        Path::new(ROOT).join("samples/cluster/updateinformer-example-storage-operator.yaml"),
    )
    .unwrap();
    server
        .put_object(serde_saphyr::from_str(&informer).unwrap())
        .unwrap();
    server
}

fn serve_args(server: &FakeApiServer, extra: &[&str]) -> ServeArgs {
    let kubeconfig = server.kubeconfig_path().to_str().unwrap().to_owned();
    let (cert, key) = (
        format!("{ROOT}/certs-dev/tls.crt"),
        format!("{ROOT}/certs-dev/tls.key"),
    );
    let mut argv = vec![
        "update-status-controller",
        "serve",
        "--kubeconfig",
        &kubeconfig,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--publish-interval",
        "200ms",
        "--lease-duration",
        "2s",
        "--lease-renew-deadline",
        "1500ms",
        "--lease-retry-period",
        "300ms",
    ];
    argv.extend_from_slice(extra);
    match Cli::parse_from(argv).command {
        Command::Serve(args) => *args,
        _ => unreachable!(),
    }
}

/// The controller in Kubernetes mode with the cluster's authentication, as `serve` builds it.
struct Controller {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    addr: std::net::SocketAddr,
}

impl Controller {
    async fn start(server: &FakeApiServer, extra: &[&str]) -> Self {
        let args = serve_args(server, extra);
        let client = update_status_controller::serve::kube::client(&args.kube)
            .await
            .unwrap();
        let authenticator =
            update_status_controller::serve::kube::authenticator(&args, client.clone())
                .await
                .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                update_status_controller::serve::kube::run_with(
                    &args,
                    client,
                    authenticator,
                    listener,
                    shutdown,
                )
                .await
                .unwrap();
            }
        });
        let controller = Self {
            shutdown,
            task,
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while controller.send("GET", "/readyz", None, Vec::new()).await.0 != 200 {
            assert!(Instant::now() < deadline, "not ready within 15 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        controller
    }

    /// One request on a fresh TLS connection, with `authorization` as the header's whole value.
    async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(format!("{ROOT}/certs-dev/ca.crt")).unwrap();
        for cert in CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let Ok(tcp) = tokio::net::TcpStream::connect(self.addr).await else {
            return (0, "not listening".to_owned());
        };
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(value) = authorization {
            request = request.header(hyper::header::AUTHORIZATION, value);
        }
        let response = tokio::time::timeout(
            Duration::from_secs(20),
            sender.send_request(request.body(Full::new(Bytes::from(body))).unwrap()),
        )
        .await
        .expect("an answer within 20 s")
        .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Reports the example report with `token` and returns the status code.
    async fn report(&self, token: &str) -> u16 {
        let body = std::fs::read(Path::new(ROOT).join("api/examples/report.json")).unwrap();
        let (status, answer) = self
            .send("POST", REPORTS, Some(&format!("Bearer {token}")), body)
            .await;
        println!("report: {status} {answer}");
        status
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Service-account tokens for the producer's account, signed with the issuer's key.
struct Tokens<'a> {
    server: &'a FakeApiServer,
    key: jsonwebtoken::EncodingKey,
    kid: String,
    /// Every token made, to look for in the log.
    made: Vec<String>,
}

impl<'a> Tokens<'a> {
    fn new(server: &'a FakeApiServer, signing_pem: &str) -> Self {
        let mut tokens = Self {
            server,
            key: jsonwebtoken::EncodingKey::from_ec_pem(signing_pem.as_bytes()).unwrap(),
            kid: String::new(),
            made: Vec::new(),
        };
        let first = tokens.minted("storage-operator", "uid-0", DEFAULT_AUDIENCE);
        tokens.kid = jsonwebtoken::decode_header(&first).unwrap().kid.unwrap();
        tokens
    }

    fn keep(&mut self, token: String) -> String {
        self.made.push(token.clone());
        token
    }

    /// Minted by the fake: signed, and known to its TokenReview for `audience`.
    fn minted(&mut self, account: &str, uid: &str, audience: &str) -> String {
        let token = self
            .server
            .mint_service_account_token(
                "example-storage",
                account,
                uid,
                vec![audience.to_owned()],
                Duration::from_secs(3600),
            )
            .unwrap();
        self.keep(token)
    }

    /// Signed with the issuer's key for our audience, expiring `exp_in` seconds from now, and
    /// not known to TokenReview.
    fn signed(&mut self, exp_in: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = json!({
            "aud": [DEFAULT_AUDIENCE], "exp": now + exp_in, "iat": now - 7200, "nbf": now - 7200,
            "iss": self.server.issuer(), "jti": format!("jti-{}", self.made.len()), "sub": PRODUCER,
            "kubernetes.io": {"namespace": "example-storage",
                "serviceaccount": {"name": "storage-operator", "uid": "uid-1"}},
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key).unwrap();
        self.keep(token)
    }
}

/// The parts of `token` that are secret: the whole token and, for a JWT, its payload and
/// signature segments (the header segment is the same for every token of a key: not secret).
fn secret_parts(token: &str) -> Vec<String> {
    let mut parts = vec![token.to_owned()];
    let segments: Vec<&str> = token.split('.').collect();
    if let [_, payload, signature] = segments.as_slice() {
        parts.push((*payload).to_owned());
        parts.push((*signature).to_owned());
    }
    parts
}

/// Text found only in TokenReview request and response bodies: JSON keys of the spec and the
/// status (plain, and as a logger escapes them), the kind, and the fake's `status.error` texts.
const TOKEN_REVIEW_BODY_MARKERS: &[&str] = &[
    "\"TokenReview\"",
    "\\\"TokenReview\\\"",
    "authenticated\":",
    "authenticated\\\":",
    "audiences\":",
    "audiences\\\":",
    "\"token\":",
    "\\\"token\\\":",
    "token lookup failed",
    "token audiences is invalid",
    "service account token has expired",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_token_review_body_is_logged_at_trace_on_any_authentication_path() {
    let capture = capture_everything();
    tracing::trace!(target: "capture", "capturing every target at TRACE");
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let server = cluster(&pem).await;
    let mut tokens = Tokens::new(&server, &pem);
    let controller = Controller::start(&server, &[]).await;
    let reviews = || server.count(|r| r.path == TOKEN_REVIEWS_PATH);
    let mut requests = 0;

    // No Authorization header; malformed ones, some of which carry a real token.
    let real = tokens.minted("storage-operator", "uid-1", DEFAULT_AUDIENCE);
    let (status, _) = controller.send("POST", REPORTS, None, Vec::new()).await;
    assert_eq!(status, 401);
    requests += 1;
    for value in [
        "Bearer not-a-jwt".to_owned(),
        "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
        format!("Bearer {real}.extra"),
        format!("Bearer {real} {real}"),
        format!("Token {real}"),
        format!("Bearer {}", real.replace('.', "..")),
    ] {
        let (status, _) = controller
            .send("POST", REPORTS, Some(&value), Vec::new())
            .await;
        assert_eq!(status, 401, "{value}");
        requests += 1;
    }

    // Refused by the local pre-check, without a TokenReview: a bad signature (another token's),
    // an expired token, a token for the API server's audience.
    let before = reviews();
    let other = tokens.minted("storage-operator", "uid-1", DEFAULT_AUDIENCE);
    let (signed, _) = real.rsplit_once('.').unwrap();
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    let bad_signature = tokens.keep(format!("{signed}.{other_signature}"));
    let expired = tokens.signed(-3600);
    let api_audience = tokens.minted("storage-operator", "uid-1", API_SERVER_AUDIENCE);
    for token in [&bad_signature, &expired, &api_audience] {
        assert_eq!(controller.report(token).await, 401);
        requests += 1;
    }
    assert_eq!(reviews(), before, "the pre-check refused these alone");

    // Refused by TokenReview: a token for our audience the API server knows only for its own
    // (wrong audience), and a well-signed token it does not know (revoked).
    let wrong_audience = tokens.signed(3600);
    server.add_token(
        &wrong_audience,
        UserInfo::new(PRODUCER),
        vec![API_SERVER_AUDIENCE.to_owned()],
    );
    let revoked = tokens.minted("storage-operator", "uid-1", DEFAULT_AUDIENCE);
    assert!(server.revoke_token(&revoked));
    for token in [&wrong_audience, &revoked] {
        assert_eq!(controller.report(token).await, 401);
        requests += 1;
    }
    assert_eq!(reviews(), before + 2, "TokenReview refused these");

    // Accepted by TokenReview, but not a producer the UpdateInformer lists.
    let stranger = tokens.minted("someone-else", "uid-2", DEFAULT_AUDIENCE);
    assert_eq!(controller.report(&stranger).await, 403);
    requests += 1;

    // Accepted: a report and its read-back.
    assert_eq!(controller.report(&real).await, 200);
    let (status, body) = controller
        .send("GET", INSIGHTS, Some(&format!("Bearer {real}")), Vec::new())
        .await;
    assert_eq!(status, 200, "{body}");
    requests += 2;

    // TokenReview fails (500), then the API server is unreachable: 503, never an accept.
    server.add_fault(Fault::next(1, 500).path_prefix(TOKEN_REVIEWS_PATH));
    let unreviewed = tokens.minted("storage-operator", "uid-1", DEFAULT_AUDIENCE);
    assert_eq!(controller.report(&unreviewed).await, 503);
    server.set_unreachable(true);
    let unreviewed = tokens.minted("storage-operator", "uid-1", DEFAULT_AUDIENCE);
    assert_eq!(controller.report(&unreviewed).await, 503);
    server.set_unreachable(false);
    requests += 2;
    controller.stop().await;

    // With --subject-access-review: denied by RBAC (403), then allowed (200). Answers are cached
    // per identity, so the allowed producer is another incarnation (uid) of the account.
    let controller = Controller::start(&server, &["--subject-access-review"]).await;
    let denied = tokens.minted("storage-operator", "uid-3", DEFAULT_AUDIENCE);
    assert_eq!(controller.report(&denied).await, 403);
    server.allow(
        AccessRule::new(PRODUCER, "update", "update.openshift.io", "updateinformers")
            .subresource("insights")
            .name(INFORMER),
    );
    let allowed = tokens.minted("storage-operator", "uid-4", DEFAULT_AUDIENCE);
    assert_eq!(controller.report(&allowed).await, 200);
    requests += 2;
    assert!(server.count(|r| r.path == SUBJECT_ACCESS_REVIEWS_PATH) >= 2);
    controller.stop().await;

    let text = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    let lines = text.lines().count();
    println!(
        "captured {lines} log lines ({} KiB) over {requests} requests and {} tokens",
        text.len() / 1024,
        tokens.made.len()
    );

    // The capture is the real thing: TRACE output of the controller's dependencies, and one
    // audit line per request.
    for needle in [
        " TRACE ",
        " kube",
        " rustls",
        " tower",
        " hyper_util",
        "tokenreviews",
    ] {
        assert!(text.contains(needle), "nothing like {needle:?} was logged");
    }
    let audit = text.lines().filter(|l| l.contains(" audit: ")).count();
    assert_eq!(audit, requests, "one audit line per request");

    let mut secrets: Vec<String> = tokens.made.iter().flat_map(|t| secret_parts(t)).collect();
    secrets.push(server.admin_token().to_owned());
    for secret in &secrets {
        if let Some(at) = text.find(secret.as_str()) {
            let line = text[..at].lines().count();
            panic!("a token (or part of one) is logged, on line {line}: {secret}");
        }
    }
    // Checklist LOG-01: nothing that starts a JWT segment (base64url of `{"`), no bearer scheme.
    assert!(!text.contains("eyJ"), "a JWT segment is logged");
    assert!(
        !text.to_ascii_lowercase().contains("bearer"),
        "an Authorization header is logged"
    );
    for marker in TOKEN_REVIEW_BODY_MARKERS {
        if let Some(at) = text.find(marker) {
            let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
            panic!(
                "a TokenReview body is logged ({marker}): {}",
                &text[start..end]
            );
        }
    }
}
