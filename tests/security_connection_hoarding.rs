//! Connection hoarding without a token (SECURITY.md, D1; checklist DOS-11): attacks *over* the
//! caps, against `serve --dev` run as its own process on 127.0.0.1, so that its file
//! descriptors and its peak memory are its own.
//!
//! The attack the security review described: keep-alive connections that send `GET /healthz`
//! (no token needed) more often than the idle and header timeouts, until every one of the 1,024
//! slots is taken; new connections, producers' and the kubelet's probes alike, are then reset,
//! liveness fails and the pod restart-loops. What these tests show instead:
//! - one source holds at most `--max-connections-per-source` (64) connections; the rest are reset
//!   at once and counted, and other sources are still served
//!   (`one_source_over_its_cap_is_reset_and_other_sources_are_served`);
//! - 2,000 hoarders from 39 addresses (127.0.0.2 to 127.0.0.40; Linux routes all of 127.0.0.0/8
//!   to lo) fill the global cap, yet the plain-HTTP probe port answers every probe, every
//!   hoarded connection is closed at the unauthenticated lifetime although it keeps sending
//!   requests, and afterwards a new client is served
//!   (`hoarding_from_many_sources_leaves_probes_answering_and_slots_come_back`);
//! - a connection that presented an accepted token outlives that lifetime; one that only sent
//!   `/healthz`, or a token that was refused, does not
//!   (`only_an_authenticated_connection_outlives_the_unauthenticated_lifetime`).
//!
//! Each hoarded request carries a 12 KiB padding header (under the 16 KiB HTTP/1 head buffer),
//! so the server's peak memory, printed by the many-source test, is that of 1,024 connections
//! each with a full head buffer: the number behind the Deployment's memory limit.
//!
//! The test raises its own open-file soft limit to the hard limit (the server process inherits
//! it): 2,000 client connections and the server's 1,024 do not fit CI's usual soft limit of 1,024.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/dev_client.rs"]
mod dev_client;
#[path = "support/dev_token.rs"]
mod dev_token;
#[path = "support/ports.rs"]
mod ports;

#[path = "support/raw_http.rs"]
mod raw_http;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use update_status_controller::publish::dir::FILE_NAME;

use dev_client::{dev_connector, open_from};
use dev_token::dev_token_for as token_for;
use ports::free_port;
use raw_http::read_reply;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Upper bound for any single network step.
const STEP: Duration = Duration::from_secs(5);
/// The identity allowed to read `/metrics` (`serve::DEFAULT_METRICS_READER`).
const METRICS_READER: &str = "system:serviceaccount:openshift-monitoring:prometheus-k8s";
/// The padding header of every hoarded request: a head of about 12 KiB.
const PAD_BYTES: usize = 12 * 1024;

// ---------------------------------------------------------------------------------------------
// The server under attack: the real binary, `serve --dev`, on free ports of 127.0.0.1.

struct Server {
    child: Child,
    https: SocketAddr,
    probe: SocketAddr,
    _cluster: tempfile::TempDir,
}

impl Server {
    /// Starts `serve --dev` with `extra` flags and waits until its probe port says ready.
    async fn start(extra: &[&str]) -> Self {
        let cluster = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(format!("{ROOT}/samples/cluster")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().unwrap() != FILE_NAME {
                std::fs::copy(&path, cluster.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let https = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let probe = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
            .current_dir(ROOT)
            .args(["serve", "--dev", "--cluster-dir"])
            .arg(cluster.path())
            .args(["--listen", &https.to_string()])
            .args(["--probe-listen", &probe.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            https,
            probe,
            _cluster: cluster,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while probe_get(server.probe, "/readyz").await.0 != 200 {
            assert!(
                Instant::now() < deadline,
                "the server was not ready in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// The server's peak resident memory so far (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises the open-file soft limit to the hard limit, and says whether `need` fit under it.
fn raise_fd_limit(need: u64) -> bool {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        return limit.current.is_none_or(|c| c >= need);
    }
    limit.maximum.is_none_or(|m| m >= need)
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// One keep-alive request on `s`: its status and body.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    path: &str,
    extra_headers: &str,
) -> io::Result<(u16, String)> {
    timeout(STEP, async {
        let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n");
        s.write_all(head.as_bytes()).await?;
        s.flush().await?;
        read_reply(s).await.map(|r| (r.status, r.body))
    })
    .await?
}

/// A plain-HTTP GET on the probe port, as the kubelet sends it: its status (0 when it got no
/// answer) and how long it took.
async fn probe_get(addr: SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let answer = timeout(STEP, async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n").as_bytes())
            .await?;
        read_reply(&mut tcp).await.map(|r| (r.status, r.body))
    })
    .await;
    let status = match answer {
        Ok(Ok((status, _))) => status,
        _ => 0,
    };
    (status, started.elapsed())
}

/// The value of one sample of the server's `/metrics`, read over a fresh connection from
/// 127.0.0.1 with the metrics reader's token.
async fn metric(server: &Server, sample: &str) -> u64 {
    let mut conn = open_from(Ipv4Addr::LOCALHOST, server.https, &dev_connector())
        .await
        .unwrap();
    let auth = format!("Authorization: Bearer {}\r\n", token_for(METRICS_READER));
    let (status, text) = request(&mut conn, "/metrics", &auth).await.unwrap();
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(sample))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// What became of one hoarding connection.
#[derive(Debug, Clone, Copy)]
enum Hoard {
    /// Reset before or during the TLS handshake, or closed before the first answer.
    Refused { after: Duration },
    /// Served; `closed` is when the server closed it, measured from before the connect
    /// (`None`: still open when the test stopped it).
    Held {
        opened: Instant,
        served: Instant,
        closed: Option<Instant>,
        answers: u32,
    },
}

/// What the hoarders share: a bound on concurrent connection attempts, how many have been
/// served or refused so far, and the signal to stop.
#[derive(Clone)]
struct Attack {
    gate: Arc<Semaphore>,
    settled: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl Attack {
    fn new(concurrent_opens: usize) -> Self {
        Attack {
            gate: Arc::new(Semaphore::new(concurrent_opens)),
            settled: Arc::new(AtomicUsize::new(0)),
            stop: CancellationToken::new(),
        }
    }

    fn settled(&self) -> usize {
        self.settled.load(Ordering::Relaxed)
    }
}

/// One hoarder: connects from `source`, then sends `GET /healthz` (with a 12 KiB padding
/// header) every `every` until the server closes the connection or the attack stops.
async fn hoard(
    source: Ipv4Addr,
    addr: SocketAddr,
    tls: TlsConnector,
    every: Duration,
    attack: Attack,
) -> Hoard {
    let pad = format!("X-Pad: {}\r\n", "p".repeat(PAD_BYTES));
    let permit = attack.gate.acquire_owned().await.unwrap();
    let opened = Instant::now();
    let refused = |opened: Instant| {
        attack.settled.fetch_add(1, Ordering::Relaxed);
        Hoard::Refused {
            after: opened.elapsed(),
        }
    };
    let Ok(mut conn) = open_from(source, addr, &tls).await else {
        return refused(opened);
    };
    match request(&mut conn, "/healthz", &pad).await {
        Ok((200, _)) => {}
        _ => return refused(opened),
    }
    let served = Instant::now();
    attack.settled.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let stop = attack.stop;
    let mut answers = 1;
    let closed = loop {
        let mut byte = [0u8; 1];
        tokio::select! {
            () = stop.cancelled() => break None,
            // Nothing is due from the server between requests: a read that ends is its close.
            _ = conn.read(&mut byte) => break Some(Instant::now()),
            () = tokio::time::sleep(every) => match request(&mut conn, "/healthz", &pad).await {
                Ok((200, _)) => answers += 1,
                _ => break Some(Instant::now()),
            },
        }
    };
    Hoard::Held {
        opened,
        served,
        closed,
        answers,
    }
}

/// The most connections held at once, from their (served, closed) intervals.
fn peak_held(hoards: &[Hoard], end: Instant) -> usize {
    let mut events: Vec<(Instant, i64)> = Vec::new();
    for h in hoards {
        if let Hoard::Held { served, closed, .. } = h {
            events.push((*served, 1));
            events.push((closed.unwrap_or(end), -1));
        }
    }
    // Closes before opens at the same instant.
    events.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, d) in events {
        now += d;
        peak = peak.max(now);
    }
    usize::try_from(peak).unwrap_or(0)
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// The attacks.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_over_its_cap_is_reset_and_other_sources_are_served() {
    assert!(raise_fd_limit(1024), "open-file limit below 1024");
    // The defaults: 64 connections per source, 30 s unauthenticated lifetime (longer than this
    // test holds its connections).
    let server = Server::start(&[]).await;
    let tls = dev_connector();
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let attack = Attack::new(16);
    let hoarders: Vec<_> = (0..100)
        .map(|_| {
            tokio::spawn(hoard(
                attacker,
                server.https,
                tls.clone(),
                Duration::from_secs(2),
                attack.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while attack.settled() < 100 {
        assert!(Instant::now() < deadline, "the attack did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Other sources are served while 127.0.0.2 holds its share.
    for other in [Ipv4Addr::new(127, 0, 0, 3), Ipv4Addr::LOCALHOST] {
        let mut conn = open_from(other, server.https, &tls).await.unwrap();
        assert_eq!(request(&mut conn, "/healthz", "").await.unwrap().0, 200);
    }
    // And 127.0.0.2 itself still gets nothing more.
    let extra = open_from(attacker, server.https, &tls).await;
    let extra_served = match extra {
        Ok(mut conn) => request(&mut conn, "/healthz", "").await.is_ok(),
        Err(_) => false,
    };
    let refused_source_cap = metric(
        &server,
        "update_status_controller_connections_refused_total{reason=\"source_cap\"}",
    )
    .await;

    attack.stop.cancel();
    let mut hoards = Vec::new();
    for h in hoarders {
        hoards.push(h.await.unwrap());
    }
    let held: Vec<_> = hoards
        .iter()
        .filter_map(|h| match h {
            Hoard::Held {
                closed, answers, ..
            } => Some((*closed, *answers)),
            Hoard::Refused { .. } => None,
        })
        .collect();
    let refused: Vec<Duration> = hoards
        .iter()
        .filter_map(|h| match h {
            Hoard::Refused { after } => Some(*after),
            Hoard::Held { .. } => None,
        })
        .collect();
    let slowest_refusal = refused.iter().max().copied().unwrap_or_default();
    println!(
        "one source, 100 keep-alive connections: {} held, {} reset (slowest reset {}); \
         source_cap refusals counted: {refused_source_cap}; a 101st from the same source served: \
         {extra_served}",
        held.len(),
        refused.len(),
        secs(slowest_refusal),
    );
    assert_eq!(held.len(), 64, "connections held by one source");
    assert_eq!(refused.len(), 36, "connections over the per-source cap");
    assert!(
        held.iter().all(|(closed, _)| closed.is_none()),
        "a held connection was closed: {held:?}"
    );
    assert!(
        !extra_served,
        "a connection over the per-source cap was served"
    );
    assert!(
        slowest_refusal < Duration::from_secs(2),
        "{slowest_refusal:?}"
    );
    assert_eq!(refused_source_cap, 37, "36 hoarders and the extra one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hoarding_from_many_sources_leaves_probes_answering_and_slots_come_back() {
    const HOARDERS: usize = 2000;
    const LIFETIME: Duration = Duration::from_secs(15);
    assert!(
        raise_fd_limit(HOARDERS as u64 + 1024 + 256),
        "the open-file hard limit is below what 2,000 connections need"
    );
    let server = Server::start(&["--unauthenticated-connection-lifetime", "15s"]).await;
    let tls = dev_connector();
    let attack = Attack::new(64);
    let stop = attack.stop.clone();

    // The kubelet: a probe every 250 ms on the probe port, throughout.
    let probes = tokio::spawn({
        let (addr, stop) = (server.probe, stop.clone());
        async move {
            let mut answers = Vec::new();
            while !stop.is_cancelled() {
                answers.push(probe_get(addr, "/healthz").await);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            answers
        }
    });

    let started = Instant::now();
    let hoarders: Vec<_> = (0..HOARDERS)
        .map(|i| {
            let source = Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(i % 39).unwrap());
            // Spread the keep-alive requests over time, every 2 to 2.5 s.
            let every = Duration::from_millis(2000 + (i % 500) as u64);
            tokio::spawn(hoard(
                source,
                server.https,
                tls.clone(),
                every,
                attack.clone(),
            ))
        })
        .collect();
    // Every hoarder ends when its connection is refused or closed; on a server that lets them
    // hold for ever, this bound ends the wait.
    let bound = Duration::from_secs(50);
    let deadline = started + bound;
    let mut hoards = Vec::new();
    let mut still_running = Vec::new();
    for mut h in hoarders {
        match tokio::time::timeout_at(deadline, &mut h).await {
            Ok(result) => hoards.push(result.unwrap()),
            Err(_) => still_running.push(h),
        }
    }
    let ended = Instant::now();
    let attack_took = ended - started;
    // (c) A new client, while every hoarder that the server has not closed still holds on.
    let after_status = match open_from(Ipv4Addr::LOCALHOST, server.https, &tls).await {
        Ok(mut conn) => request(&mut conn, "/healthz", "")
            .await
            .map(|(status, _)| status)
            .unwrap_or(0),
        Err(_) => 0,
    };
    stop.cancel();
    for h in still_running {
        // It records that it was still open.
        hoards.push(h.await.unwrap());
    }
    let probe_answers = probes.await.unwrap();

    let closed_unauthenticated = metric(
        &server,
        "update_status_controller_connections_unauthenticated_closed_total",
    )
    .await;
    let refused_global = metric(
        &server,
        "update_status_controller_connections_refused_total{reason=\"global_cap\"}",
    )
    .await;
    let peak_rss = server.peak_rss_kib();

    let held: Vec<(Duration, Option<Duration>, u32)> = hoards
        .iter()
        .filter_map(|h| match h {
            Hoard::Held {
                opened,
                closed,
                answers,
                ..
            } => Some((*opened - started, closed.map(|c| c - *opened), *answers)),
            Hoard::Refused { .. } => None,
        })
        .collect();
    let refused = hoards.len() - held.len();
    let peak = peak_held(&hoards, ended);
    let lives: Vec<Duration> = held.iter().filter_map(|(_, life, _)| *life).collect();
    let (shortest, longest) = (
        lives.iter().min().copied().unwrap_or_default(),
        lives.iter().max().copied().unwrap_or_default(),
    );
    let requests: u32 = held.iter().map(|(_, _, a)| a).sum();
    let failed_probes: Vec<_> = probe_answers.iter().filter(|(s, _)| *s != 200).collect();
    let slowest_probe = probe_answers
        .iter()
        .map(|(_, d)| *d)
        .max()
        .unwrap_or_default();
    println!(
        "{HOARDERS} hoarders from 39 sources over {}: peak {peak} connections held at once, {} \
         held in all ({requests} /healthz answers with a 12 KiB header), {refused} reset \
         (global_cap refusals counted: {refused_global}); held connections closed after {} to {} \
         (lifetime {}; closes counted: {closed_unauthenticated}); {} probes on the probe port, {} \
         failed, slowest {}; a new client after the attack got {after_status}; server peak RSS \
         {} MiB",
        secs(attack_took),
        held.len(),
        secs(shortest),
        secs(longest),
        secs(LIFETIME),
        probe_answers.len(),
        failed_probes.len(),
        secs(slowest_probe),
        peak_rss / 1024,
    );

    // The attack was real: it filled the global cap, and more was refused.
    assert!(
        peak >= 1000,
        "the attack held only {peak} connections at once"
    );
    assert!(refused >= 500, "only {refused} connections were refused");
    // (a) The probe port answered every probe, promptly.
    assert!(probe_answers.len() >= 40, "{} probes", probe_answers.len());
    assert!(failed_probes.is_empty(), "probes failed: {failed_probes:?}");
    // Under the Deployment's probe timeout (5 s), with room for a loaded CI machine.
    assert!(slowest_probe < Duration::from_secs(3), "{slowest_probe:?}");
    // (b) Every hoarded connection was closed by the server at the lifetime, although it kept
    // sending requests.
    let still_open = held.iter().filter(|(_, life, _)| life.is_none()).count();
    assert_eq!(
        still_open, 0,
        "hoarded connections still open after {bound:?}"
    );
    assert_eq!(hoards.len(), HOARDERS);
    assert!(
        shortest >= LIFETIME - Duration::from_millis(100),
        "closed before the lifetime: {shortest:?}"
    );
    assert!(
        longest <= LIFETIME + Duration::from_secs(6),
        "closed late: {longest:?}"
    );
    assert!(
        closed_unauthenticated >= held.len() as u64,
        "{closed_unauthenticated} closes counted for {} held",
        held.len()
    );
    // (c) Afterwards a new connection is served (0: reset or no answer).
    assert_eq!(after_status, 200, "a new client after the attack");
    // The memory bound the Deployment's limit relies on (see the manifest's comment).
    assert!(peak_rss > 0, "cannot read the server's memory");
    assert!(
        peak_rss < 256 * 1024,
        "server peak RSS {} MiB under attack",
        peak_rss / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_authenticated_connection_outlives_the_unauthenticated_lifetime() {
    let server = Server::start(&["--unauthenticated-connection-lifetime", "2s"]).await;
    let tls = dev_connector();
    let good = format!("Authorization: Bearer {}\r\n", token_for(METRICS_READER));
    // Signed by another key: structurally a token, refused by the authenticator.
    let forged = {
        let mut parts: Vec<String> = token_for(METRICS_READER)
            .split('.')
            .map(str::to_owned)
            .collect();
        parts[2] = "A".repeat(parts[2].len());
        format!("Authorization: Bearer {}\r\n", parts.join("."))
    };

    /// Opens a connection, sends `first` headers to `first_path`, then `GET /healthz` every
    /// 500 ms for 5 s; returns the first status and when the server closed it (None: open).
    async fn keep(
        server: &Server,
        tls: &TlsConnector,
        first_path: &str,
        first: &str,
    ) -> (u16, Option<Duration>) {
        let opened = Instant::now();
        let mut conn = open_from(Ipv4Addr::LOCALHOST, server.https, tls)
            .await
            .unwrap();
        let status = request(&mut conn, first_path, first).await.unwrap().0;
        while opened.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !matches!(request(&mut conn, "/healthz", "").await, Ok((200, _))) {
                return (status, Some(opened.elapsed()));
            }
        }
        (status, None)
    }

    let (authenticated, health_only, refused_token) = tokio::join!(
        keep(&server, &tls, "/metrics", &good),
        keep(&server, &tls, "/healthz", ""),
        keep(&server, &tls, "/metrics", &forged),
    );
    println!(
        "lifetime 2 s: authenticated {authenticated:?}, /healthz only {health_only:?}, \
         refused token {refused_token:?}"
    );
    assert_eq!(authenticated, (200, None), "the authenticated connection");
    for (what, (status, closed)) in [
        ("health only", health_only),
        ("refused token", refused_token),
    ] {
        assert!(status == 200 || status == 401, "{what}: {status}");
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after 5 s"));
        assert!(
            closed >= Duration::from_secs(2) && closed < Duration::from_millis(3500),
            "{what}: closed after {closed:?}"
        );
    }
    assert_eq!(refused_token.0, 401);
}
