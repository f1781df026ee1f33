//! The probe listener: plain HTTP/1.1 for the kubelet's liveness and readiness probes, on a
//! port of its own (`--probe-listen`, 8081 in the Deployment).
//!
//! Why a separate port: the HTTPS port's connection caps are shared with anyone who can reach
//! the pod. A client that fills them (SECURITY.md, D1) would otherwise fail the liveness probe
//! too, and the kubelet would restart the pod in a loop, during an update. Here the probes do
//! not compete with producers or attackers on 8443.
//!
//! What keeps this port itself cheap to defend:
//! - it serves only the router it is given (the health endpoints, which carry no data);
//! - one request per connection (no keep-alive), as the kubelet probes; a whole connection,
//!   headers included, gets [`PROBE_CONNECTION_TIMEOUT`];
//! - at most [`PROBE_MAX_CONNECTIONS`] at once, the rest reset, with the smallest header buffer
//!   hyper allows;
//! - the NetworkPolicy does not open it: the kubelet's probes come from the pod's own node,
//!   which NetworkPolicy does not filter on the usual CNIs (OVN-Kubernetes included), while
//!   other pods are kept out.
//!
//! No TLS: the kubelet does not verify probe certificates anyway, and the answers are "ok".
//!
//! A thread of its own ([`spawn_probe_thread`]): a separate port is not enough when the
//! attack is CPU rather than slots. Under 2,000 hoarding connections and a token flood at once
//! (`benches/attack_mix.rs`), the serving runtime had hundreds of requests queued, and probes
//! waiting behind them took over a second (8 of 110 failed a 1 s timeout). On their own thread
//! and single-threaded runtime, probes wait for nothing but the OS scheduler, which favours a
//! thread that mostly sleeps. So that liveness still means "the controller works", not only
//! "the probe thread works", both endpoints answer 503 once the serving runtime's
//! [`Heartbeat`] is older than the stall limit ([`PROBE_STALL_LIMIT`]): a wedged runtime is
//! still restarted, a busy one is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::listener::{MIN_HTTP1_BUF_SIZE, ServeError, refuse};

/// Most probe connections at once: the kubelet runs two probes, each one connection.
pub const PROBE_MAX_CONNECTIONS: usize = 16;
/// Longest a probe connection may live, from accept to the end of its one response. Below the
/// Deployment's probe `timeoutSeconds`.
pub const PROBE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(4);

/// How long the serving runtime may go without a [`Heartbeat`] before the probe port answers
/// 503. Far above the lag an attack causes (about 1.5 s at worst in a debug build on two busy
/// cores), and short enough that the kubelet (3 failures, 10 s apart) restarts a wedged
/// controller within a minute.
pub const PROBE_STALL_LIMIT: Duration = Duration::from_secs(15);
/// How often the serving runtime beats.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// Proof that the serving runtime still runs tasks: a time it sets every [`HEARTBEAT_PERIOD`]
/// ([`Heartbeat::spawn_beating`]) and the probe thread reads ([`Heartbeat::age`]).
#[derive(Clone, Debug)]
pub struct Heartbeat {
    origin: Instant,
    /// Milliseconds from `origin` to the last beat.
    last_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records that the serving runtime ran a task now.
    pub fn beat(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let last = self.last_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }

    /// Beats every [`HEARTBEAT_PERIOD`] on the calling runtime until `shutdown`.
    pub fn spawn_beating(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let heartbeat = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_PERIOD);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => heartbeat.beat(),
                }
            }
        })
    }
}

/// The probe thread's answer while the serving runtime has stalled for `limit`.
async fn unless_stalled(
    State((heartbeat, limit)): State<(Heartbeat, Duration)>,
    request: Request,
    next: Next,
) -> Response {
    let age = heartbeat.age();
    if age > limit {
        tracing::warn!(
            ?age,
            "the serving runtime has not run for a while; failing probes"
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the serving runtime has stalled",
        )
            .into_response();
    }
    next.run(request).await
}

/// Serves `app` with [`serve_probes`] on a thread of its own, with a single-threaded runtime,
/// so probes do not queue behind the serving runtime's work (see the module's documentation);
/// every answer is 503 while `heartbeat` is older than `stall_limit`. The receiver gives
/// [`serve_probes`]'s result once `shutdown` stopped it.
pub fn spawn_probe_thread(
    listener: TcpListener,
    app: Router,
    heartbeat: Heartbeat,
    stall_limit: Duration,
    shutdown: CancellationToken,
) -> Result<oneshot::Receiver<Result<(), ServeError>>, ServeError> {
    // Moved out of the calling runtime's reactor; registered again with the thread's own.
    let listener = listener.into_std().map_err(ServeError::ProbeThread)?;
    let app = app.layer(axum::middleware::from_fn_with_state(
        (heartbeat, stall_limit),
        unless_stalled,
    ));
    let (done, result) = oneshot::channel();
    std::thread::Builder::new()
        .name("probes".to_owned())
        .spawn(move || {
            let served = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(async move {
                    let listener =
                        TcpListener::from_std(listener).map_err(ServeError::ProbeThread)?;
                    serve_probes(listener, app, shutdown).await
                }),
                Err(e) => Err(ServeError::ProbeThread(e)),
            };
            let _ = done.send(served);
        })
        .map_err(ServeError::ProbeThread)?;
    Ok(result)
}

/// Serves `app` over plain HTTP/1.1 on `listener` until `shutdown`, one request per connection.
///
/// Errors only when the listener's address cannot be read; accept errors are logged and
/// retried after a short pause.
pub async fn serve_probes(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let local = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(PROBE_CONNECTION_TIMEOUT)
        .max_headers(32)
        .max_buf_size(MIN_HTTP1_BUF_SIZE)
        .keep_alive(false);
    let builder = builder.http1_only();
    let permits = std::sync::Arc::new(Semaphore::new(PROBE_MAX_CONNECTIONS));
    let tracker = TaskTracker::new();
    tracing::info!(%local, "serving /healthz and /readyz over plain HTTP for probes");
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::debug!(error = %e, "probe accept failed; pausing");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = std::sync::Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(%peer, "probe connection cap reached; resetting");
            refuse(tcp);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let served = tokio::time::timeout(
                PROBE_CONNECTION_TIMEOUT,
                builder.serve_connection(TokioIo::new(tcp), service),
            )
            .await;
            match served {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "probe connection failed"),
                Err(_) => tracing::debug!(%peer, "probe connection timed out"),
            }
        });
    }
    drop(listener);
    tracker.close();
    // Each connection ends within its timeout; this only waits for those in progress.
    let _ = tokio::time::timeout(PROBE_CONNECTION_TIMEOUT, tracker.wait()).await;
    tracing::info!(%local, "probe listener stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap_or_default();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn answers_one_request_per_connection_and_refuses_large_heads() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let app = Router::new().route("/healthz", get(|| async { "ok" }));
        let server = tokio::spawn(serve_probes(listener, app, shutdown.clone()));

        // Two pipelined requests: one answer, then the server closes (no keep-alive).
        let answer = exchange(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");

        // A head over the 8 KiB buffer is refused, not buffered.
        let big = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(12 * 1024)
        );
        let answer = exchange(addr, big.as_bytes()).await;
        assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");

        shutdown.cancel();
        server.await.unwrap().unwrap();
    }

    /// One probe from a plain blocking socket: the status (0 for none within `within`) and the
    /// time it took.
    fn probe(addr: std::net::SocketAddr, within: Duration) -> (u16, Duration) {
        use std::io::{Read, Write};
        let started = Instant::now();
        let status = (|| {
            let mut tcp = std::net::TcpStream::connect_timeout(&addr, within).ok()?;
            tcp.set_read_timeout(Some(within)).ok()?;
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .ok()?;
            let mut out = Vec::new();
            tcp.read_to_end(&mut out).ok()?;
            String::from_utf8_lossy(&out)
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })()
        .unwrap_or(0);
        (status, started.elapsed())
    }

    /// The attack of `benches/attack_mix.rs` in miniature: the serving runtime's only worker is
    /// kept busy (as by hundreds of queued hoarder requests), and probes on the probe thread
    /// are still answered at once; a runtime that stays stalled past the limit fails them, and
    /// they recover when it runs again.
    #[test]
    fn probes_answer_while_the_serving_runtime_is_busy_and_fail_when_it_stalls() {
        const LIMIT: Duration = Duration::from_secs(3);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shutdown = CancellationToken::new();
        let (addr, heartbeat, done) = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let heartbeat = Heartbeat::new();
            heartbeat.spawn_beating(shutdown.clone());
            let app = Router::new().route("/healthz", get(|| async { "ok" }));
            let done =
                spawn_probe_thread(listener, app, heartbeat.clone(), LIMIT, shutdown.clone())
                    .unwrap();
            (addr, heartbeat, done)
        });
        assert_eq!(probe(addr, Duration::from_secs(2)).0, 200);

        // Busy: the only worker blocked for 1.5 s, under the limit.
        runtime.spawn(async { std::thread::sleep(Duration::from_millis(1500)) });
        std::thread::sleep(Duration::from_millis(300));
        let (status, took) = probe(addr, Duration::from_secs(2));
        assert_eq!(status, 200, "a probe while the serving runtime was busy");
        assert!(took < Duration::from_millis(500), "{took:?}");
        std::thread::sleep(Duration::from_millis(2500));

        // Stalled: blocked for 6 s; past the limit the probes fail, quickly.
        runtime.spawn(async { std::thread::sleep(Duration::from_secs(6)) });
        std::thread::sleep(LIMIT + Duration::from_millis(1500));
        assert!(heartbeat.age() > LIMIT, "{:?}", heartbeat.age());
        let (status, took) = probe(addr, Duration::from_secs(2));
        assert_eq!(status, 503, "a probe while the serving runtime was stalled");
        assert!(took < Duration::from_millis(500), "{took:?}");

        // Running again: answered again within a heartbeat period or two.
        let deadline = Instant::now() + Duration::from_secs(6);
        while probe(addr, Duration::from_secs(2)).0 != 200 {
            assert!(Instant::now() < deadline, "probes did not recover");
            std::thread::sleep(Duration::from_millis(100));
        }
        shutdown.cancel();
        runtime.block_on(done).unwrap().unwrap();
    }
}
