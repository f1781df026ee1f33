//! Benchmark (not a test): issue 16's combined attack, "under 2,000 hoarding connections and a
//! token flood at once, a listed producer's p99 stays under 100 ms, probes never fail, RSS stays
//! under the Deployment's limit", on a real kube-apiserver and etcd (`tests/envtest`,
//! `KUBEBUILDER_ASSETS`), the controller run as in a cluster: its own process, its own
//! service account's token, the shipped RBAC, and the shipped limits (1,024 connections, 64 per
//! source, 30 s unauthenticated lifetime, 32 TokenReviews in flight, 10 reports/s per identity).
//!
//!   cargo bench --profile dev --bench attack_mix      # USC_ATTACK_SECONDS=60 by default
//!
//! `USC_BENCH_BIN=target/release/update-status-controller` measures a release build; by default
//! the profile's own build of the binary runs. For `USC_ATTACK_SECONDS` (default 60, at most
//! 600), all of these run at once:
//! - 2,000 hoarders from 127.0.0.2 to 127.0.0.40: TLS keep-alive connections sending
//!   `GET /healthz` with a 12 KiB padding header every 2 to 2.5 s (as
//!   `tests/security_connection_hoarding.rs`), reconnecting when closed or reset, as a
//!   determined attacker would (a reset is retried after 1 s);
//! - a token flood from 127.0.0.41 to 127.0.0.50 on `USC_FLOOD_CONNECTIONS` (default 16)
//!   keep-alive connections sending reports back to back: half with forged JWS tokens naming
//!   random `kid`s (plausible claims, so only the signature check can refuse them), half with
//!   valid TokenRequest tokens for our audience of 50 service accounts that no UpdateInformer
//!   lists (each distinct token costs a TokenReview until the per-account rate stops it);
//! - the listed producer of `example-storage-operator` on 127.0.0.1 reporting one Health
//!   insight every 200 ms over its own keep-alive connection (reopened if closed); its summary
//!   changes every fifth report, so the store changes and publishes once a second;
//! - a kubelet-like prober on the plain-HTTP probe port: `/healthz` and `/readyz` every second,
//!   each on a fresh connection with a 1 s timeout;
//! - the controller's `VmRSS` and `VmHWM` sampled every 500 ms.
//!
//! Prints the producer's answers and latency (p50, p99, max; a report is timed from its first
//! attempt to its answer, reconnects included), the probes, peak memory against the
//! Deployment's `limits.memory` (512Mi), what the hoarders and the flood got, and one PASS/FAIL
//! line per target; exits non-zero when a target is missed. Everything runs on 127.0.0.x.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/dev_client.rs"]
mod dev_client;
#[path = "../tests/support/raw_http.rs"]
mod raw_http;
#[path = "../tests/support/real_cluster.rs"]
mod real_cluster;

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dev_client::open_from;
use envtest::ControlPlane;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use raw_http::read_reply;
use real_cluster::{AUDIENCE, NAMESPACE, SERVICE_ACCOUNT, repo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// The listed producer's informer (the sample's) and its report path.
const INFORMER: &str = "example-storage-operator";
/// Hoarding connections, and the addresses they come from (127.0.0.2 to 127.0.0.40).
const HOARDERS: usize = 2000;
const HOARD_SOURCES: u8 = 39;
/// The padding header of every hoarded request: a head of about 12 KiB (the server buffers at
/// most 16 KiB), so every held connection costs the server a full head buffer.
const PAD_BYTES: usize = 12 * 1024;
/// Hoarders connecting at once: the attacker's client is on the same 2 cores, and a burst of
/// 2,000 simultaneous handshakes measures this process's scheduler, not the server.
const CONCURRENT_OPENS: usize = 64;
/// Unlisted service accounts of the flood, and the distinct tokens minted for each.
const FLOOD_ACCOUNTS: usize = 50;
const TOKENS_PER_ACCOUNT: usize = 6;
/// The flood's addresses: 127.0.0.41 to 127.0.0.50.
const FLOOD_SOURCES: u8 = 10;
/// The producer's period, and the targets of issue 16.
const PRODUCER_PERIOD: Duration = Duration::from_millis(200);
const P99_TARGET: Duration = Duration::from_millis(100);
/// `limits.memory` of the shipped Deployment (manifests/), in KiB.
const MEMORY_LIMIT_KIB: u64 = 512 * 1024;
/// The kubelet-like prober's period and timeout.
const PROBE_PERIOD: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound of any one network step of the attackers (connect, handshake, one exchange).
const STEP: Duration = Duration::from_secs(5);
/// A producer report that gets no answer within this long (reconnects included) counts as
/// failed with status 0.
const REPORT_DEADLINE: Duration = Duration::from_secs(10);

fn main() {
    let code = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(attack_mix());
    std::process::exit(code);
}

/// `USC_ATTACK_SECONDS` (default 60), kept within 5 s to 10 minutes so a typo cannot leave the
/// attack running for hours.
fn attack_duration() -> Duration {
    let seconds: u64 = std::env::var("USC_ATTACK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds.clamp(5, 600))
}

/// `USC_FLOOD_CONNECTIONS` (default 16, 2 to 64): the flood's concurrent connections.
fn flood_connections() -> usize {
    std::env::var("USC_FLOOD_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16usize)
        .clamp(2, 64)
}

/// A port nobody listens on now (bound then released; the controller binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Raises the open-file soft limit to the hard limit (the controller inherits it, as a pod has a
/// high limit), and says whether `need` fits under it.
fn raise_fd_limit(need: u64) -> bool {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        return limit.current.is_none_or(|c| c >= need);
    }
    limit.maximum.is_none_or(|m| m >= need)
}

// ---------------------------------------------------------------------------------------------
// The controller under attack.

/// The controller binary as its own process, as the shipped Deployment runs it.
struct Controller {
    child: Child,
    https: SocketAddr,
    probe: SocketAddr,
    log: PathBuf,
}

impl Controller {
    /// Starts `serve` in Kubernetes mode under a TokenRequest token of the controller's own
    /// service account (the shipped RBAC applies), with the Deployment's flags and every limit
    /// at its default; `USC_BENCH_BIN` names another build of the binary.
    fn start(cp: &ControlPlane) -> Self {
        let binary = std::env::var_os("USC_BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_update-status-controller")));
        let token = cp.token(NAMESPACE, SERVICE_ACCOUNT, None).unwrap();
        let kubeconfig = cp.dir().join("attack-mix.kubeconfig");
        cp.write_token_kubeconfig(&kubeconfig, &token).unwrap();
        let https = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let probe = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = cp.dir().join("attack-mix.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&binary)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg(format!("--listen={https}"))
            .arg(format!("--probe-listen={probe}"))
            .arg(format!(
                "--tls-cert-file={}",
                repo("certs-dev/tls.crt").display()
            ))
            .arg(format!(
                "--tls-key-file={}",
                repo("certs-dev/tls.key").display()
            ))
            .arg("--tls-profile=cluster")
            .arg(format!("--namespace={NAMESPACE}"))
            .arg("--pod-name=attack-mix")
            // No Thanos here: the alerts informer off.
            .arg("--alerts-url=")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        eprintln!("controller: {} (pid {})", binary.display(), child.id());
        Controller {
            child,
            https,
            probe,
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until the probe port's `/readyz` answers 200 (it leads and has read the cluster).
    async fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while probe_get(self.probe, "/readyz").await.0 != 200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the controller exited ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the controller was not ready within {limit:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user and system) used so far by process `pid` ("self" for this one), in seconds;
/// `/proc` counts it in USER_HZ ticks, 100 a second on Linux.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// `VmRSS` and `VmHWM` of process `pid`, in KiB (0 when unreadable).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// TLS trusting only the development CA, ring as the provider (as the server).
fn connector() -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(repo("certs-dev/ca.crt")).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// One keep-alive `GET` on a raw connection: its status.
async fn raw_get<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    path: &str,
    extra_headers: &str,
) -> io::Result<u16> {
    timeout(STEP, async {
        let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n");
        s.write_all(head.as_bytes()).await?;
        s.flush().await?;
        read_reply(s).await.map(|r| r.status)
    })
    .await?
}

/// A plain-HTTP GET on the probe port on a fresh connection, as the kubelet sends it, within
/// [`PROBE_TIMEOUT`]: its status (0 for no answer in time) and how long it took.
async fn probe_get(addr: SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let answer = timeout(PROBE_TIMEOUT, async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n").as_bytes())
            .await?;
        read_reply(&mut tcp).await.map(|r| r.status)
    })
    .await;
    let status = match answer {
        Ok(Ok(status)) => status,
        _ => 0,
    };
    (status, started.elapsed())
}

/// A keep-alive HTTP/1.1 client connection over TLS (hyper), for reports.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    async fn open(source: Ipv4Addr, addr: SocketAddr, tls: &TlsConnector) -> io::Result<Self> {
        let stream = open_from(source, addr, tls).await?;
        let (sender, conn) = timeout(
            STEP,
            hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        )
        .await?
        .map_err(io::Error::other)?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    /// POSTs `body` as a report with `token`: the status, or an error when the connection
    /// broke or the answer took longer than [`STEP`].
    async fn report(&mut self, token: &str, body: Bytes) -> io::Result<u16> {
        timeout(STEP, async {
            self.sender.ready().await.map_err(io::Error::other)?;
            let request = hyper::Request::builder()
                .method("POST")
                .uri(format!("/v1alpha1/informers/{INFORMER}/reports"))
                .header(hyper::header::HOST, "localhost")
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Full::new(body))
                .map_err(io::Error::other)?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(io::Error::other)?;
            let status = response.status().as_u16();
            response
                .into_body()
                .collect()
                .await
                .map_err(io::Error::other)?;
            Ok(status)
        })
        .await?
    }
}

// ---------------------------------------------------------------------------------------------
// The attackers, the producer, the prober, the sampler.

/// What the hoarders got, counted as it happens.
#[derive(Default)]
struct HoardStats {
    /// Connection attempts.
    attempts: AtomicUsize,
    /// Attempts that got a first `/healthz` answer (the connection then held a slot).
    held: AtomicUsize,
    /// Attempts reset or closed before a first answer (over a cap, or a handshake timeout).
    reset: AtomicUsize,
    /// Held connections the server closed while the hoarder kept sending.
    closed_by_server: AtomicUsize,
    /// `/healthz` answers on held connections.
    answers: AtomicUsize,
    /// Held at this moment, and the most at once (sampled with the memory).
    open_now: AtomicUsize,
    open_peak: AtomicUsize,
    /// Lifetimes of the connections the server closed, in ms (for the longest).
    longest_life_ms: AtomicU64,
}

/// One hoarder: connects from `source`, sends `GET /healthz` with the padding header every
/// `every` until the server closes it, then connects again; a reset is retried after 1 s. Stops
/// at `stop`.
async fn hoarder(
    source: Ipv4Addr,
    addr: SocketAddr,
    tls: TlsConnector,
    every: Duration,
    gate: Arc<Semaphore>,
    stats: Arc<HoardStats>,
    stop: CancellationToken,
) {
    let pad = format!("X-Pad: {}\r\n", "p".repeat(PAD_BYTES));
    while !stop.is_cancelled() {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            permit = gate.clone().acquire_owned() => permit.unwrap(),
        };
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        let opened = Instant::now();
        let first = match open_from(source, addr, &tls).await {
            Ok(mut conn) => match raw_get(&mut conn, "/healthz", &pad).await {
                Ok(200) => Some(conn),
                _ => None,
            },
            Err(_) => None,
        };
        drop(permit);
        let Some(mut conn) = first else {
            stats.reset.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => continue,
            }
        };
        stats.held.fetch_add(1, Ordering::Relaxed);
        stats.answers.fetch_add(1, Ordering::Relaxed);
        let now = stats.open_now.fetch_add(1, Ordering::Relaxed) + 1;
        stats.open_peak.fetch_max(now, Ordering::Relaxed);
        let closed = loop {
            let mut byte = [0u8; 1];
            tokio::select! {
                () = stop.cancelled() => break false,
                // Nothing is due from the server between requests: a read that ends is its close.
                _ = conn.read(&mut byte) => break true,
                () = tokio::time::sleep(every) => match raw_get(&mut conn, "/healthz", &pad).await {
                    Ok(200) => { stats.answers.fetch_add(1, Ordering::Relaxed); }
                    _ => break true,
                },
            }
        };
        stats.open_now.fetch_sub(1, Ordering::Relaxed);
        if closed {
            stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
            let life = u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX);
            stats.longest_life_ms.fetch_max(life, Ordering::Relaxed);
        }
    }
}

/// The two kinds of flood token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FloodKind {
    /// A JWS with plausible claims (our audience, the cluster's issuer, unexpired, a service
    /// account subject), a random `kid` and a random signature: refused by the pre-check.
    ForgedRandomKid,
    /// A valid TokenRequest token for our audience of an account no UpdateInformer lists.
    ValidUnlisted,
}

/// A cheap pseudo-random sequence (xorshift): uniqueness matters here, not unpredictability.
struct Xorshift(u64);

impl Xorshift {
    fn seeded(salt: u64) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Self((nanos ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A forged token: see [`FloodKind::ForgedRandomKid`].
fn forged_token(random: &mut Xorshift) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let account = random.next() % FLOOD_ACCOUNTS as u64;
    let header = json!({"alg": "RS256", "kid": format!("{:016x}", random.next()), "typ": "JWT"});
    let claims = json!({
        "aud": [AUDIENCE],
        "exp": now + 3600,
        "iat": now - 60,
        "nbf": now - 60,
        "iss": envtest::API_AUDIENCE,
        "jti": format!("{:x}", random.next()),
        "sub": format!("system:serviceaccount:flood:sa-{account}"),
        "kubernetes.io": {"namespace": "flood", "serviceaccount": {"name": format!("sa-{account}"), "uid": "0"}},
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(random.bytes(256))
    )
}

/// What the flood got: answers by kind and status (0: the connection broke), and connections
/// that could not be opened (reset at a cap).
#[derive(Default)]
struct FloodStats {
    answers: Mutex<BTreeMap<(FloodKind, u16), usize>>,
    connect_failures: AtomicUsize,
}

/// One flood connection: reports back to back with tokens of `kind` until `stop`; reopens a
/// broken connection (after 200 ms when the open fails).
#[allow(clippy::too_many_arguments)]
async fn flooder(
    kind: FloodKind,
    source: Ipv4Addr,
    addr: SocketAddr,
    tls: TlsConnector,
    valid: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    stats: Arc<FloodStats>,
    stop: CancellationToken,
) {
    let body = Bytes::from(real_cluster::report_saying("flood"));
    let mut random =
        Xorshift::seeded(u64::from(source.octets()[3]) << 32 | next.load(Ordering::Relaxed) as u64);
    let mut conn: Option<Client> = None;
    let mut counts: BTreeMap<(FloodKind, u16), usize> = BTreeMap::new();
    while !stop.is_cancelled() {
        let client = match conn.as_mut() {
            Some(client) => client,
            None => {
                let opened = tokio::select! {
                    () = stop.cancelled() => break,
                    opened = Client::open(source, addr, &tls) => opened,
                };
                match opened {
                    Ok(client) => conn.insert(client),
                    Err(_) => {
                        stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
        };
        let token = match kind {
            FloodKind::ForgedRandomKid => forged_token(&mut random),
            FloodKind::ValidUnlisted => {
                valid[next.fetch_add(1, Ordering::Relaxed) % valid.len()].clone()
            }
        };
        let status = tokio::select! {
            () = stop.cancelled() => break,
            status = client.report(&token, body.clone()) => status,
        };
        match status {
            Ok(status) => *counts.entry((kind, status)).or_default() += 1,
            Err(_) => {
                *counts.entry((kind, 0)).or_default() += 1;
                conn = None;
            }
        }
    }
    let mut all = stats.answers.lock().unwrap();
    for (key, n) in counts {
        *all.entry(key).or_default() += n;
    }
}

/// One producer report's outcome: its final status (0: no answer within the deadline) and the
/// time from its first attempt to that answer.
struct Sent {
    status: u16,
    latency: Duration,
}

/// The listed producer: a report every [`PRODUCER_PERIOD`] over one keep-alive connection from
/// 127.0.0.1, reopened (after 50 ms) when it breaks, each report retried until it is answered or
/// [`REPORT_DEADLINE`] passed. Returns every report's outcome and how many times it had to
/// reconnect.
async fn producer(
    addr: SocketAddr,
    tls: TlsConnector,
    token: String,
    mut conn: Option<Client>,
    stop: CancellationToken,
) -> (Vec<Sent>, usize) {
    let mut sent = Vec::new();
    let mut reconnects = 0;
    let mut tick = tokio::time::interval(PRODUCER_PERIOD);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 0usize.. {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let body = Bytes::from(real_cluster::report_saying(&format!(
            "attack mix: report group {}",
            n / 5
        )));
        let started = Instant::now();
        let mut status = 0;
        while started.elapsed() < REPORT_DEADLINE {
            let client = match conn.as_mut() {
                Some(client) => client,
                None => match Client::open(Ipv4Addr::LOCALHOST, addr, &tls).await {
                    Ok(client) => {
                        reconnects += 1;
                        conn.insert(client)
                    }
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            match client.report(&token, body.clone()).await {
                Ok(code) => {
                    status = code;
                    break;
                }
                Err(_) => conn = None,
            }
        }
        sent.push(Sent {
            status,
            latency: started.elapsed(),
        });
    }
    (sent, reconnects)
}

/// The kubelet-like prober: `/healthz` and `/readyz` every [`PROBE_PERIOD`], each on a fresh
/// connection. Returns (path, status, time) of every probe.
async fn prober(addr: SocketAddr, stop: CancellationToken) -> Vec<(&'static str, u16, Duration)> {
    let mut probes = Vec::new();
    let mut tick = tokio::time::interval(PROBE_PERIOD);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        for path in ["/healthz", "/readyz"] {
            let (status, took) = probe_get(addr, path).await;
            probes.push((path, status, took));
        }
    }
    probes
}

/// Samples the controller's memory every 500 ms: (peak VmRSS, peak VmHWM, samples), in KiB.
async fn sampler(pid: u32, stats: Arc<HoardStats>, stop: CancellationToken) -> (u64, u64, usize) {
    let (mut rss_peak, mut hwm_peak, mut samples) = (0, 0, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let (rss, hwm) = memory_kib(pid);
        rss_peak = rss_peak.max(rss);
        hwm_peak = hwm_peak.max(hwm);
        samples += 1;
        if samples % 20 == 0 {
            eprintln!(
                "  t+{:>3} s: VmRSS {} MiB, hoarded connections open {}",
                samples / 2,
                rss / 1024,
                stats.open_now.load(Ordering::Relaxed)
            );
        }
    }
    (rss_peak, hwm_peak, samples)
}

// ---------------------------------------------------------------------------------------------
// Set-up.

/// Creates the flood's namespace and service accounts and mints `TOKENS_PER_ACCOUNT` tokens for
/// our audience for each (TokenRequest, as any namespace's workload can).
async fn mint_flood_tokens(cp: &ControlPlane) -> Vec<String> {
    let accounts: Vec<serde_json::Value> = (0..FLOOD_ACCOUNTS)
        .map(|k| json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": format!("sa-{k}"), "namespace": "flood"}}))
        .collect();
    cp.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: flood}\n")
        .unwrap();
    cp.apply(&json!({"apiVersion": "v1", "kind": "List", "items": accounts}).to_string())
        .unwrap();
    let client = cp.client().await.unwrap();
    let api: Api<ServiceAccount> = Api::namespaced(client, "flood");
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![AUDIENCE.to_owned()],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let mut tokens = Vec::new();
    for _ in 0..TOKENS_PER_ACCOUNT {
        let minted = futures::future::join_all((0..FLOOD_ACCOUNTS).map(|k| {
            let (api, request) = (api.clone(), request.clone());
            async move {
                api.create_token_request(&format!("sa-{k}"), &PostParams::default(), &request)
                    .await
                    .unwrap()
            }
        }))
        .await;
        tokens.extend(minted.into_iter().map(|r| r.status.unwrap().token));
    }
    tokens
}

/// The value of `sample` in a `/metrics` text (0 when absent).
fn metric(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile (nearest rank) of sorted `values`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

async fn attack_mix() -> i32 {
    let duration = attack_duration();
    let flood_conns = flood_connections();
    if !raise_fd_limit(HOARDERS as u64 + 1024 + 1024) {
        eprintln!("the open-file hard limit is below what 2,000 hoarders and the server need");
        return 2;
    }
    let Some(cp) = envtest::own() else { return 0 };
    let setup = Instant::now();
    real_cluster::set_up(&cp);
    // The metrics reader the controller lists by default, to read its counters afterwards.
    cp.service_account("openshift-monitoring", "prometheus-k8s")
        .unwrap();
    let flood_tokens = Arc::new(mint_flood_tokens(&cp).await);
    let producer_token = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let reader_token = cp
        .token("openshift-monitoring", "prometheus-k8s", Some(AUDIENCE))
        .unwrap();
    let mut controller = Controller::start(&cp);
    controller.wait_ready(Duration::from_secs(120)).await;
    let tls = connector();
    // The producer is registered and answered before the attack.
    let warm = Client::open(Ipv4Addr::LOCALHOST, controller.https, &tls)
        .await
        .unwrap()
        .report(
            &producer_token,
            Bytes::from(real_cluster::report_saying("attack mix: before")),
        )
        .await
        .unwrap();
    assert_eq!(warm, 200, "the producer's first report");
    let (rss_before, _) = memory_kib(controller.pid());
    eprintln!(
        "set-up in {:.1} s: {} flood tokens of {FLOOD_ACCOUNTS} unlisted accounts; controller ready, \
         VmRSS {} MiB; attacking for {} s ({HOARDERS} hoarders, {flood_conns} flood connections)",
        setup.elapsed().as_secs_f64(),
        flood_tokens.len(),
        rss_before / 1024,
        duration.as_secs()
    );

    // Everything at once. The producer, the prober and the memory sampler run on a runtime of
    // their own, on their own thread: in a cluster the producer and the kubelet are other
    // processes on other machines, so their timing must not include waiting behind this
    // process's 2,000 attacking tasks (the cores are still shared, as they would not be).
    let stop = CancellationToken::new();
    let hoard_stats = Arc::new(HoardStats::default());
    let flood_stats = Arc::new(FloodStats::default());
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu_before = (
        cpu_seconds("self"),
        cpu_seconds(&controller.pid().to_string()),
    );
    let started = Instant::now();
    let (connected_tx, connected_rx) = tokio::sync::oneshot::channel();
    let measuring = std::thread::spawn({
        let (https, probe, pid) = (controller.https, controller.probe, controller.pid());
        let (tls, stop, stats) = (tls.clone(), stop.clone(), Arc::clone(&hoard_stats));
        move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    // Its keep-alive connection, open before the hoarders fill the slots.
                    let conn = Client::open(Ipv4Addr::LOCALHOST, https, &tls).await.ok();
                    let _ = connected_tx.send(conn.is_some());
                    let producer =
                        tokio::spawn(producer(https, tls, producer_token, conn, stop.clone()));
                    let prober = tokio::spawn(prober(probe, stop.clone()));
                    let sampler = tokio::spawn(sampler(pid, stats, stop));
                    (
                        producer.await.unwrap(),
                        prober.await.unwrap(),
                        sampler.await.unwrap(),
                    )
                })
        }
    });
    assert!(
        connected_rx.await.unwrap(),
        "the producer could not connect before the attack"
    );
    let next = Arc::new(AtomicUsize::new(0));
    let flooders: Vec<_> = (0..flood_conns)
        .map(|i| {
            let kind = if i % 2 == 0 {
                FloodKind::ForgedRandomKid
            } else {
                FloodKind::ValidUnlisted
            };
            let source = Ipv4Addr::new(127, 0, 0, 41 + (i % usize::from(FLOOD_SOURCES)) as u8);
            tokio::spawn(flooder(
                kind,
                source,
                controller.https,
                tls.clone(),
                Arc::clone(&flood_tokens),
                Arc::clone(&next),
                Arc::clone(&flood_stats),
                stop.clone(),
            ))
        })
        .collect();
    let gate = Arc::new(Semaphore::new(CONCURRENT_OPENS));
    let hoarders: Vec<_> = (0..HOARDERS)
        .map(|i| {
            let source = Ipv4Addr::new(127, 0, 0, 2 + (i % usize::from(HOARD_SOURCES)) as u8);
            // Spread the keep-alive requests over time, every 2 to 2.5 s.
            let every = Duration::from_millis(2000 + (i % 500) as u64);
            tokio::spawn(hoarder(
                source,
                controller.https,
                tls.clone(),
                every,
                Arc::clone(&gate),
                Arc::clone(&hoard_stats),
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(duration).await;
    stop.cancel();
    let attack_took = started.elapsed();
    let cpu_after = (
        cpu_seconds("self"),
        cpu_seconds(&controller.pid().to_string()),
    );
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // Every task watches `stop`; these bounds only guard against a bug in one.
    let measured = tokio::task::spawn_blocking(move || measuring.join());
    let ((sent, reconnects), probes, (rss_peak, hwm_peak, samples)) =
        timeout(REPORT_DEADLINE + STEP, measured)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    for task in flooders.into_iter().chain(hoarders) {
        timeout(STEP * 2, task).await.unwrap().unwrap();
    }
    let controller_alive = controller.child.try_wait().unwrap().is_none();
    let (rss_after, hwm_after) = memory_kib(controller.pid());
    let hwm_peak = hwm_peak.max(hwm_after);

    // The controller's own counters, once the attack is over.
    let metrics = {
        let ca_path = repo("certs-dev/ca.crt");
        let ca = std::fs::read(&ca_path).unwrap();
        update_status_controller::commands::report::get(
            &format!("https://{}", controller.https),
            "/metrics",
            &reader_token,
            &ca,
            &ca_path,
        )
        .await
        .map(|a| a.body)
        .unwrap_or_default()
    };

    // Producer.
    let mut codes: BTreeMap<u16, usize> = BTreeMap::new();
    for s in &sent {
        *codes.entry(s.status).or_default() += 1;
    }
    let mut latencies: Vec<Duration> = sent.iter().map(|s| s.latency).collect();
    latencies.sort();
    let (p50, p99, max) = (
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    let over_target = latencies.iter().filter(|l| **l >= P99_TARGET).count();
    println!(
        "attack: {:.1} s; controller alive afterwards: {controller_alive}; CPU used meanwhile: \
         controller {:.1} s, this attacking and measuring process {:.1} s (of {:.0} s on 2 cores); \
         load average before {}, after {}",
        attack_took.as_secs_f64(),
        cpu_after.1 - cpu_before.1,
        cpu_after.0 - cpu_before.0,
        attack_took.as_secs_f64() * 2.0,
        load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_after
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    println!(
        "producer (listed, 127.0.0.1, every {} ms): {} reports, answers {codes:?}, p50 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms, {over_target} at or over {} ms; reconnects {reconnects}",
        PRODUCER_PERIOD.as_millis(),
        sent.len(),
        ms(p50),
        ms(p99),
        ms(max),
        P99_TARGET.as_millis()
    );

    // Probes.
    let failed: Vec<_> = probes
        .iter()
        .filter(|(_, status, _)| *status != 200)
        .collect();
    let slowest_probe = probes.iter().map(|(_, _, d)| *d).max().unwrap_or_default();
    println!(
        "probes (plain HTTP, fresh connection, {} ms timeout): {} attempts, {} failed{}, slowest \
         {:.1} ms",
        PROBE_TIMEOUT.as_millis(),
        probes.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" {:?}", &failed[..failed.len().min(10)])
        },
        ms(slowest_probe)
    );

    // Memory.
    println!(
        "controller memory: VmRSS before {} MiB, after {} MiB, peak sampled {} MiB; VmHWM {} MiB \
         ({samples} samples) vs limit {} MiB",
        rss_before / 1024,
        rss_after / 1024,
        rss_peak / 1024,
        hwm_peak / 1024,
        MEMORY_LIMIT_KIB / 1024
    );

    // Hoarders.
    let h = &hoard_stats;
    println!(
        "hoarders ({HOARDERS} from 127.0.0.2-127.0.0.{}): {} connection attempts, {} held \
         (peak {} open at once), {} reset or refused, {} closed by the server while sending \
         (longest life {:.1} s), {} /healthz answers",
        1 + HOARD_SOURCES,
        h.attempts.load(Ordering::Relaxed),
        h.held.load(Ordering::Relaxed),
        h.open_peak.load(Ordering::Relaxed),
        h.reset.load(Ordering::Relaxed),
        h.closed_by_server.load(Ordering::Relaxed),
        h.longest_life_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        h.answers.load(Ordering::Relaxed),
    );

    // Flood.
    let answers = flood_stats.answers.lock().unwrap().clone();
    for kind in [FloodKind::ForgedRandomKid, FloodKind::ValidUnlisted] {
        let of_kind: BTreeMap<u16, usize> = answers
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, code), n)| (*code, *n))
            .collect();
        println!(
            "flood {kind:?}: {} requests, answers by code {of_kind:?} (0: connection broke)",
            of_kind.values().sum::<usize>()
        );
    }
    println!(
        "flood: {} connection opens failed (reset at a cap)",
        flood_stats.connect_failures.load(Ordering::Relaxed)
    );
    if metrics.is_empty() {
        println!("controller counters: /metrics not readable");
    } else {
        let prefix = "update_status_controller_";
        println!(
            "controller counters: connections refused global_cap {}, source_cap {}; \
             unauthenticated connections closed {}",
            metric(
                &metrics,
                &format!("{prefix}connections_refused_total{{reason=\"global_cap\"}}")
            ),
            metric(
                &metrics,
                &format!("{prefix}connections_refused_total{{reason=\"source_cap\"}}")
            ),
            metric(
                &metrics,
                &format!("{prefix}connections_unauthenticated_closed_total")
            ),
        );
    }

    // Targets.
    let all_200 = codes.len() == 1 && codes.contains_key(&200) && !sent.is_empty();
    let targets = [
        (
            format!(
                "producer p99 {:.1} ms < {} ms",
                ms(p99),
                P99_TARGET.as_millis()
            ),
            !sent.is_empty() && p99 < P99_TARGET,
        ),
        (
            format!("probe failures {} of {} == 0", failed.len(), probes.len()),
            failed.is_empty() && !probes.is_empty(),
        ),
        (
            format!(
                "peak RSS {} MiB < {} MiB",
                hwm_peak / 1024,
                MEMORY_LIMIT_KIB / 1024
            ),
            hwm_peak > 0 && hwm_peak < MEMORY_LIMIT_KIB,
        ),
        (
            format!("every producer report answered 200: {codes:?}"),
            all_200,
        ),
        (
            "the controller is still running".to_owned(),
            controller_alive,
        ),
    ];
    let mut pass = true;
    for (what, ok) in &targets {
        println!("{} {what}", if *ok { "PASS" } else { "FAIL" });
        pass &= ok;
    }
    if !pass {
        eprintln!("controller log tail:\n{}", controller.log_tail());
    }
    drop(controller);
    drop(cp);
    if pass { 0 } else { 1 }
}
