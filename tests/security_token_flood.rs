//! A flood of reports with invalid tokens against the controller in Kubernetes mode (SECURITY.md,
//! denial of service; checklist DOS-09): the API server never sees more TokenReviews in flight
//! than `--max-outstanding-token-reviews`, every refusal is a 401 or a 503 (never a 200), and
//! the process's memory stays bounded.
//!
//! The fake API server answers TokenReviews slowly (as a loaded API server does), so reviews
//! pile up if anything lets them. The worst case is the one tested first: the local pre-check
//! is bypassed (the cluster's OIDC discovery fails at start and keeps failing), so every token
//! with a JWS header goes to TokenReview and only the cap stands between the flood and the API
//! server. The second test shows what the pre-check adds when it is active: forged, expired and
//! garbage tokens cost no TokenReview at all.
//!
//! Everything runs in this process (fake API server, controller, flood client) on 127.0.0.1, so
//! the memory figure is this process's `VmRSS`, an upper bound of the controller's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use fake_apiserver::{FakeApiServer, FakeConfig, Fault, SigningKey};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use update_status_controller::auth::DEFAULT_AUDIENCE;
use update_status_controller::auth::token_review::TOKEN_REVIEWS_PATH;
use update_status_controller::cli::{Cli, Command, ServeArgs};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const REPORTS: &str = "/v1alpha1/informers/example-storage-operator/reports";
/// `--max-outstanding-token-reviews` for these tests: small, so a flood reaches it at once.
const CAP: usize = 8;
/// How long the fake API server takes to answer a TokenReview: slow enough that reviews would
/// pile up without the cap, well under the controller's 5 s review deadline (a review that timed
/// out would free its slot before the fake noticed the client gone, blurring the count).
const REVIEW_LATENCY: Duration = Duration::from_millis(200);
/// Concurrent flood connections (keep-alive, one request at a time each).
const CONNECTIONS: usize = 64;
/// Tokens sent by the flood of the first test.
const FLOOD: usize = 3000;
/// Distinct tokens of each signed kind in a flood (see [`Forger::tokens`]).
const SIGNED_POOL: usize = 50;
/// The tests of this file run one at a time: the first measures the process's memory, which a
/// test running beside it would inflate.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The most the process may grow during the flood.
const MAX_RSS_GROWTH_KIB: u64 = 50 * 1024;

/// The fake API server with the CRDs and the sample UpdateInformer, signing service-account
/// tokens with a key this test also holds (to forge expired and wrongly signed tokens that name
/// the real key).
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

fn serve_args(server: &FakeApiServer) -> ServeArgs {
    let cap = CAP.to_string();
    let cli = Cli::parse_from([
        "update-status-controller",
        "serve",
        "--kubeconfig",
        server.kubeconfig_path().to_str().unwrap(),
        "--tls-cert-file",
        &format!("{ROOT}/certs-dev/tls.crt"),
        "--tls-key-file",
        &format!("{ROOT}/certs-dev/tls.key"),
        "--max-outstanding-token-reviews",
        &cap,
        // The flood comes from 127.0.0.1, as the producer does: lift the per-address budget of
        // refused tokens, so that these tests measure the TokenReview cap and its pools
        // (tests/security_refused_tokens.rs covers that budget).
        "--refused-token-rate-limit",
        "1000000",
        "--refused-token-burst",
        "1000000",
        "--publish-interval",
        "200ms",
        "--lease-duration",
        "2s",
        "--lease-renew-deadline",
        "1500ms",
        "--lease-retry-period",
        "300ms",
    ]);
    match cli.command {
        Command::Serve(args) => *args,
        _ => unreachable!(),
    }
}

/// The controller in Kubernetes mode with the cluster's authentication (pre-check, cached and
/// capped TokenReview), as `serve` builds it.
struct Controller {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    addr: std::net::SocketAddr,
}

impl Controller {
    async fn start(server: &FakeApiServer) -> Self {
        let args = serve_args(server);
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
        // Ready: it leads and has read the UpdateInformers, so a valid producer is authorized.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(mut conn) = controller.connect().await
                && conn.send("GET", "/readyz", None).await.ok() == Some(200)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the controller was not ready in 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        controller
    }

    async fn connect(&self) -> std::io::Result<Connection> {
        Connection::open(self.addr).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// One keep-alive HTTP/1.1 connection over TLS, trusting only the development CA.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl Connection {
    async fn open(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(format!("{ROOT}/certs-dev/ca.crt"))?;
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
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    /// POSTs an empty report with `token`; the status code, or an error if the connection broke.
    async fn report(&mut self, token: &str) -> Result<u16, hyper::Error> {
        self.send("POST", REPORTS, Some(token)).await
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> Result<u16, hyper::Error> {
        self.sender.ready().await?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Empty::new()).unwrap();
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// Sends every token from [`CONNECTIONS`] connections at once; returns how many of each status
/// code came back.
async fn flood(controller: &Controller, tokens: Vec<String>) -> BTreeMap<u16, usize> {
    reports(controller.addr, tokens, CONNECTIONS).await
}

/// The kinds of invalid token an attacker can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Random printable bytes: refused by the structural check.
    Random,
    /// Three random base64url segments: looks like a JWT, its header does not decode.
    JwtLookingGarbage,
    /// A real header and plausible claims, with a signature that is not the issuer's.
    WrongSignature,
    /// Signed by the issuer's key, expired an hour ago.
    Expired,
    /// Signed by the issuer's key, unexpired, but unknown to the API server (a deleted pod's
    /// token, or one from a leaked key): only TokenReview can refuse it.
    Revoked,
}

/// Makes invalid tokens of every kind, signed (where they are) with the fake's issuer key.
struct Forger {
    key: jsonwebtoken::EncodingKey,
    kid: String,
    issuer: String,
    seed: u64,
}

impl Forger {
    fn new(server: &FakeApiServer, signing_pem: &str) -> Self {
        // A token the fake minted names its key id in the header.
        let real = server
            .mint_service_account_token(
                "example-storage",
                "storage-operator",
                "uid-1",
                vec![DEFAULT_AUDIENCE.to_owned()],
                Duration::from_secs(600),
            )
            .unwrap();
        let kid = jsonwebtoken::decode_header(&real).unwrap().kid.unwrap();
        Self {
            key: jsonwebtoken::EncodingKey::from_ec_pem(signing_pem.as_bytes()).unwrap(),
            kid,
            issuer: server.issuer().to_owned(),
            seed: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        }
    }

    /// A cheap pseudo-random sequence (xorshift): uniqueness matters here, not unpredictability.
    fn random(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.random() as u8).collect()
    }

    /// The header and claims of a service-account token, as base64url segments.
    fn unsigned(&mut self, exp_offset: i64) -> (jsonwebtoken::Header, serde_json::Value) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let jti = self.random();
        let claims = json!({
            "aud": [DEFAULT_AUDIENCE],
            "exp": now + exp_offset,
            "iat": now - 3600,
            "nbf": now - 3600,
            "iss": self.issuer,
            "jti": format!("{jti:x}"),
            "sub": "system:serviceaccount:example-storage:storage-operator",
            "kubernetes.io": {"namespace": "example-storage",
                "serviceaccount": {"name": "storage-operator", "uid": "uid-1"}},
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        (header, claims)
    }

    fn signed(&mut self, exp_offset: i64) -> String {
        let (header, claims) = self.unsigned(exp_offset);
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }

    fn token(&mut self, kind: Kind) -> String {
        match kind {
            Kind::Random => {
                let bytes = self.random_bytes(48);
                bytes.iter().map(|b| char::from(b'!' + b % 94)).collect()
            }
            Kind::JwtLookingGarbage => {
                let parts: Vec<String> = [24, 120, 64]
                    .map(|n| URL_SAFE_NO_PAD.encode(self.random_bytes(n)))
                    .into();
                parts.join(".")
            }
            Kind::WrongSignature => {
                let (header, claims) = self.unsigned(3600);
                format!(
                    "{}.{}.{}",
                    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
                    URL_SAFE_NO_PAD.encode(claims.to_string()),
                    URL_SAFE_NO_PAD.encode(self.random_bytes(64))
                )
            }
            Kind::Expired => self.signed(-3600),
            Kind::Revoked => self.signed(3600),
        }
    }

    /// `count` tokens cycling through `kinds`. Every unsigned kind is a fresh token each time;
    /// the signed kinds (expired, revoked) cycle through [`SIGNED_POOL`] distinct tokens each:
    /// an attacker holds a few captured real tokens, not thousands, and an ECDSA signature costs
    /// milliseconds in a debug build. Distinct wrongly signed tokens are what stress the cap.
    fn tokens(&mut self, kinds: &[Kind], count: usize) -> Vec<String> {
        let mut pools: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
        (0..count)
            .map(|i| {
                let kind = kinds[i % kinds.len()];
                if !matches!(kind, Kind::Expired | Kind::Revoked) {
                    return self.token(kind);
                }
                let round = i / kinds.len();
                if round < SIGNED_POOL {
                    let token = self.token(kind);
                    pools.entry(kind).or_default().push(token.clone());
                    token
                } else {
                    pools[&kind][round % SIGNED_POOL].clone()
                }
            })
            .collect()
    }
}

/// A P-256 key in PKCS#8 PEM for the fake's issuer.
fn signing_pem() -> String {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem()
}

/// This process's resident set, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn token_reviews(server: &FakeApiServer) -> usize {
    server.count(|r| r.path == TOKEN_REVIEWS_PATH)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_flood_never_exceeds_the_token_review_cap_and_memory_stays_bounded() {
    let _serial = SERIAL.lock().await;
    let pem = signing_pem();
    let server = cluster(&pem).await;
    // The worst case: no issuer keys (discovery fails now and at every retry), so the pre-check
    // lets every JWS-shaped token through to TokenReview.
    server.add_fault(Fault::always(404).path_prefix("/.well-known/openid-configuration"));
    server.set_path_latency(TOKEN_REVIEWS_PATH, REVIEW_LATENCY);
    let controller = Controller::start(&server).await;
    let mut forger = Forger::new(&server, &pem);
    let all = [
        Kind::Random,
        Kind::JwtLookingGarbage,
        Kind::WrongSignature,
        Kind::Expired,
        Kind::Revoked,
    ];

    // Warm up (connections, allocator pools, the first reviews), then measure from a fresh log.
    let warm = flood(&controller, forger.tokens(&all, 200)).await;
    assert!(!warm.contains_key(&200), "{warm:?}");
    server.clear_requests();
    let rss_before = rss_kib();

    let tokens = forger.tokens(&all, FLOOD);
    let started = Instant::now();
    let codes = flood(&controller, tokens).await;
    let took = started.elapsed();
    let rss_after = rss_kib();
    let reviews = token_reviews(&server);
    let max_outstanding = server.max_in_flight(TOKEN_REVIEWS_PATH);

    println!(
        "token flood (pre-check bypassed): {FLOOD} invalid tokens from {CONNECTIONS} connections \
         in {took:.1?}; answers {codes:?}; TokenReviews seen by the API server: {reviews}; \
         most outstanding at once: {max_outstanding} (cap {CAP}); VmRSS before {rss_before} KiB, \
         after {rss_after} KiB (growth {} KiB)",
        rss_after.saturating_sub(rss_before)
    );
    let sent: usize = codes.values().sum();
    assert_eq!(sent, FLOOD, "every token got an answer");
    assert!(
        codes.keys().all(|c| *c == 401 || *c == 503),
        "a refusal other than 401/503: {codes:?}"
    );
    assert!(
        codes.get(&503).copied().unwrap_or(0) > 0,
        "the flood never reached the cap, so it proves nothing: {codes:?}"
    );
    assert!(
        max_outstanding <= CAP,
        "{max_outstanding} TokenReviews outstanding at once, over the cap of {CAP}"
    );
    assert!(
        reviews >= CAP,
        "only {reviews} TokenReviews: the tokens did not reach the API server"
    );
    // Structurally invalid tokens never cost a review, whatever the pre-check's state.
    assert!(reviews <= FLOOD * 3 / 5, "{reviews} TokenReviews");
    assert!(
        rss_after.saturating_sub(rss_before) < MAX_RSS_GROWTH_KIB,
        "memory grew by {} KiB during the flood",
        rss_after - rss_before
    );
    // Nothing is left in flight, and the controller still answers a producer.
    server.set_path_latency(TOKEN_REVIEWS_PATH, Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.in_flight(TOKEN_REVIEWS_PATH) > 0 {
        assert!(Instant::now() < deadline, "TokenReviews still in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let producer = server
        .mint_service_account_token(
            "example-storage",
            "storage-operator",
            "uid-1",
            vec![DEFAULT_AUDIENCE.to_owned()],
            Duration::from_secs(600),
        )
        .unwrap();
    let mut conn = controller.connect().await.unwrap();
    let status = conn.report(&producer).await.unwrap();
    // An empty body is not a report (400): what matters is that it was authenticated.
    assert_eq!(status, 400, "a valid producer after the flood");
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_precheck_active_forged_expired_and_garbage_tokens_cost_no_token_review() {
    let _serial = SERIAL.lock().await;
    let pem = signing_pem();
    let server = cluster(&pem).await;
    server.set_path_latency(TOKEN_REVIEWS_PATH, REVIEW_LATENCY);
    let controller = Controller::start(&server).await;
    let mut forger = Forger::new(&server, &pem);
    server.clear_requests();

    // Each wrongly signed or expired token costs a signature check (milliseconds in a debug build).
    const FORGED: usize = 600;
    let forged = [
        Kind::Random,
        Kind::JwtLookingGarbage,
        Kind::WrongSignature,
        Kind::Expired,
    ];
    let codes = flood(&controller, forger.tokens(&forged, FORGED)).await;
    let reviews = token_reviews(&server);
    println!(
        "pre-check active: {FORGED} forged tokens, answers {codes:?}, TokenReviews: {reviews}"
    );
    assert_eq!(codes.get(&401), Some(&FORGED), "{codes:?}");
    assert_eq!(reviews, 0, "a forged token cost a TokenReview");

    // Well-signed tokens the API server does not know pass the pre-check: the cap bounds them.
    const REVOKED: usize = 500;
    let codes = flood(&controller, forger.tokens(&[Kind::Revoked], REVOKED)).await;
    let reviews = token_reviews(&server);
    let max_outstanding = server.max_in_flight(TOKEN_REVIEWS_PATH);
    println!(
        "pre-check active: {REVOKED} reports with {SIGNED_POOL} distinct well-signed unknown \
         tokens, answers {codes:?}, TokenReviews: \
         {reviews}, most outstanding at once: {max_outstanding} (cap {CAP})"
    );
    assert!(
        codes.keys().all(|c| *c == 401 || *c == 503),
        "a refusal other than 401/503: {codes:?}"
    );
    assert!(reviews > 0 && reviews <= REVOKED, "{reviews}");
    assert!(max_outstanding <= CAP, "{max_outstanding} over the cap");
    controller.stop().await;
}

/// Reports from `tokens` over `connections` connections at once (each worker takes the next
/// token; a connection the server closed is reopened once), counting the status codes; all
/// within 60 s.
async fn reports(
    addr: std::net::SocketAddr,
    tokens: Vec<String>,
    connections: usize,
) -> BTreeMap<u16, usize> {
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (tokens, next) = (Arc::clone(&tokens), Arc::clone(&next));
        workers.spawn(async move {
            let mut codes = BTreeMap::<u16, usize>::new();
            let mut conn = Connection::open(addr).await.unwrap();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else { break };
                let status = match conn.report(token).await {
                    Ok(status) => status,
                    Err(_) => {
                        conn = Connection::open(addr).await.unwrap();
                        conn.report(token).await.unwrap()
                    }
                };
                *codes.entry(status).or_default() += 1;
            }
            codes
        });
    }
    let mut codes = BTreeMap::new();
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = workers.join_next().await {
            for (code, n) in done.unwrap() {
                *codes.entry(code).or_default() += n;
            }
        }
    });
    all.await.expect("the flood finished within 60 s");
    codes
}

/// Finding 6a: any namespace can mint distinct, validly signed tokens for our audience, each
/// costing a TokenReview and each refused 403 only afterwards. Listed producers have reserved
/// slots, so a flood of such tokens from many unlisted accounts does not turn their reports into
/// 503s; on `main`, with one pool of 8, most of the producer's fresh tokens were 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_producers_keep_their_token_review_slots_under_a_flood_from_unlisted_accounts() {
    let _serial = SERIAL.lock().await;
    let pem = signing_pem();
    let server = cluster(&pem).await;
    server.set_path_latency(TOKEN_REVIEWS_PATH, REVIEW_LATENCY);
    let controller = Controller::start(&server).await;
    let mint = |ns: &str, name: &str| {
        server
            .mint_service_account_token(
                ns,
                name,
                "uid-1",
                vec![DEFAULT_AUDIENCE.to_owned()],
                Duration::from_secs(600),
            )
            .unwrap()
    };
    // 200 accounts of the attacker's namespace, a few tokens each (under the per-account rate,
    // so it is the reserved slots, not the rate, that this measures).
    const ATTACK: usize = 1000;
    const ATTACK_CONNECTIONS: usize = 48;
    let attack: Vec<String> = (0..ATTACK)
        .map(|i| mint("intruder", &format!("sa-{}", i % 200)))
        .collect();
    // The listed producer, with a fresh token per report: each one costs a review.
    const PRODUCER: usize = 60;
    let producer: Vec<String> = (0..PRODUCER)
        .map(|_| mint("example-storage", "storage-operator"))
        .collect();
    server.clear_requests();

    let addr = controller.addr;
    // Within the per-source connection cap (64) with the producer's three.
    let flood = tokio::spawn(reports(addr, attack, ATTACK_CONNECTIONS));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let legit = reports(addr, producer, 3).await;
    let attacked = flood.await.unwrap();
    let max_outstanding = server.max_in_flight(TOKEN_REVIEWS_PATH);
    println!(
        "valid tokens of {ATTACK} reports from 200 unlisted accounts on {ATTACK_CONNECTIONS} connections: \
         {attacked:?}; listed producer, {PRODUCER} fresh tokens on 3 connections meanwhile: \
         {legit:?}; most TokenReviews outstanding: {max_outstanding} (cap {CAP})"
    );
    assert!(
        attacked.get(&503).copied().unwrap_or(0) > 0,
        "the flood never filled the shared slots, so it proves nothing: {attacked:?}"
    );
    assert!(
        attacked.keys().all(|c| matches!(c, 403 | 429 | 503)),
        "{attacked:?}"
    );
    // An empty body is 400: authenticated and authorized, which is what counts.
    assert_eq!(
        legit.get(&400),
        Some(&PRODUCER),
        "the listed producer was refused during the flood: {legit:?}"
    );
    assert!(max_outstanding <= CAP, "{max_outstanding} over the cap");
    controller.stop().await;
}

/// Finding 6a, one account: distinct valid tokens of one unlisted account cost at most a burst
/// of TokenReviews, then 429s that cost none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_account_gets_a_few_token_reviews_then_429() {
    let _serial = SERIAL.lock().await;
    let pem = signing_pem();
    let server = cluster(&pem).await;
    let controller = Controller::start(&server).await;
    let tokens: Vec<String> = (0..100)
        .map(|_| {
            server
                .mint_service_account_token(
                    "intruder",
                    "one",
                    "uid-1",
                    vec![DEFAULT_AUDIENCE.to_owned()],
                    Duration::from_secs(600),
                )
                .unwrap()
        })
        .collect();
    server.clear_requests();
    let started = Instant::now();
    let codes = reports(controller.addr, tokens, 4).await;
    let reviews = token_reviews(&server);
    let seconds = started.elapsed().as_secs() as usize;
    println!("100 distinct tokens of one unlisted account: {codes:?}, TokenReviews: {reviews}");
    assert!(codes.get(&429).copied().unwrap_or(0) > 0, "{codes:?}");
    // 503: over the two shared slots while four connections ask at once.
    assert!(
        codes.keys().all(|c| matches!(c, 403 | 429 | 503)),
        "{codes:?}"
    );
    // Burst 5, then 1 a second.
    assert!(
        reviews <= 5 + seconds + 1,
        "{reviews} TokenReviews in {seconds} s"
    );
    controller.stop().await;
}
