//! The HTTPS accept loop: TLS handshake, HTTP/1.1 (or HTTP/2 when negotiated), and every
//! transport-level limit that keeps a slow or hostile client from holding the server.
//!
//! Hand-rolled rather than `axum::serve` because that sets no hyper timer (so hyper's header
//! read timeout never fires), does no TLS, and has no connection cap. Per connection:
//!
//! 1. a permit from a semaphore of `max_connections`, then one of its source address's
//!    `max_connections_per_source` ([`super::peers`]); with either gone the socket is reset at
//!    once (see [`ListenerConfig::max_connections`]), and the refusal is counted by reason;
//! 2. the TLS handshake, bounded by `handshake_timeout`;
//! 3. HTTP over the negotiated ALPN protocol: `h2` only if negotiated, otherwise HTTP/1.1 only;
//!    hyper's `header_read_timeout` bounds the wait for each request's headers, and
//!    `http1_max_buf_size` the bytes buffered for them;
//! 4. an idle watchdog closes the connection once no request has been in flight for
//!    `idle_timeout` (hyper has no keep-alive idle timeout of its own);
//! 5. an authentication deadline drops the connection `unauthenticated_lifetime` after accept
//!    unless a request on it has presented an accepted bearer token by then
//!    ([`super::auth_mark`]): the signal is set by the route that authenticates, through the
//!    [`AuthMark`] every request carries in its extensions. Without it a client with no token
//!    could hold a slot for ever with `GET /healthz` every few seconds;
//! 6. on shutdown: stop accepting, let in-flight requests finish for `shutdown_grace`, then drop
//!    whatever is left.
//!
//! Together: one source holds at most `max_connections_per_source` slots, and a slot held
//! without a token comes back within `unauthenticated_lifetime`. Many sources reconnecting
//! continuously can still keep the port busy (nothing before TLS tells a producer from an
//! attacker); that is why the kubelet's probes are served on a separate plain-HTTP port
//! ([`super::probe`]), which these caps do not cover.
//!
//! Whole-request time and body size are limited by tower layers on the router
//! ([`super::limits::harden`]), not here.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::auth_mark::{AuthMark, DEFAULT_UNAUTHENTICATED_LIFETIME};
use super::conn_metrics::{ConnectionMetrics, GLOBAL_CAP, SOURCE_CAP};
use super::peers::{PeerPermit, PeerTable};
use super::tls::{ALPN_H2, TlsConfigHandle};

/// The smallest HTTP/1 read buffer hyper accepts (it panics below it).
pub const MIN_HTTP1_BUF_SIZE: usize = 8192;

/// Transport limits of the HTTPS listener. Every field bounds how long or how much a client can
/// hold without sending a complete, authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Time allowed from TCP accept to a completed TLS handshake (a client that connects and
    /// sends nothing is dropped after this). Default 10 s.
    pub handshake_timeout: Duration,
    /// Time allowed to receive a request's complete header block, counted from when the server
    /// starts waiting for it (slowloris), including right after the handshake. Applies to
    /// HTTP/1.1; an HTTP/2 stream whose headers never complete is bounded by `idle_timeout`.
    /// hyper also runs this timer while a keep-alive connection waits for its next request, so
    /// an idle HTTP/1.1 connection is closed after `min(header_read_timeout, idle_timeout)`.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed. A request in flight
    /// (handler running or response being written) is never cut by it. Default 60 s.
    pub idle_timeout: Duration,
    /// At most this many connections at once, counted from accept (so handshakes count too).
    /// Connections over the cap are accepted and immediately reset (no TLS alert, no queue):
    /// the client fails fast and retries with backoff, and the server spends nothing on it.
    /// Default 1024.
    pub max_connections: usize,
    /// At most this many of those connections from one source IP address, counted and refused
    /// the same way, so one client cannot take every slot (the kubelet's probes and producers
    /// share the port). Default 64: a producer uses one connection per report, so even the
    /// host-network producers of one node, which share the node's address, stay far below it.
    pub max_connections_per_source: usize,
    /// A connection on which no request has presented an accepted bearer token this long after
    /// accept is dropped ([`super::auth_mark`]). Default 30 s.
    pub unauthenticated_lifetime: Duration,
    /// HTTP/1.1: most bytes hyper buffers while reading a request's head (request line and
    /// headers); a larger head is answered 431. Sized to the 8 KiB bearer-token limit plus
    /// room for the other headers: every open connection may hold this much before it has
    /// authenticated. Default 16 KiB (hyper's own default is about 400 KiB; its minimum 8 KiB).
    pub http1_max_buf_size: usize,
    /// After shutdown is requested, in-flight requests get this long to finish before their
    /// connections are dropped. Default 20 s (within Kubernetes' default 30 s termination grace).
    pub shutdown_grace: Duration,
    /// Serve HTTP/2 to clients that negotiate `h2`. Must agree with the ALPN list of the TLS
    /// configuration (see [`super::tls::server_config`]). Default off: HTTP/1.1 only.
    pub http2: bool,
    /// HTTP/1.1: most header fields accepted in one request (hyper answers 431 above). Default 100.
    pub max_headers: usize,
    /// HTTP/2: most concurrent streams per connection. Default 100.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2: largest accepted header list, in bytes. Default 64 KiB.
    pub http2_max_header_list_size: u32,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_source: 64,
            unauthenticated_lifetime: DEFAULT_UNAUTHENTICATED_LIFETIME,
            http1_max_buf_size: 16 * 1024,
            shutdown_grace: Duration::from_secs(20),
            http2: false,
            max_headers: 100,
            http2_max_concurrent_streams: 100,
            http2_max_header_list_size: 64 * 1024,
        }
    }
}

impl ListenerConfig {
    /// Refuses settings that would disable a limit (zero durations or counts).
    pub fn validate(&self) -> Result<(), ServeError> {
        let zero_durations = [
            ("handshake_timeout", self.handshake_timeout),
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
            ("unauthenticated_lifetime", self.unauthenticated_lifetime),
        ];
        for (name, d) in zero_durations {
            if d.is_zero() {
                return Err(ServeError::InvalidConfig(format!(
                    "{name} must be above zero"
                )));
            }
        }
        if self.max_connections == 0 {
            return Err(ServeError::InvalidConfig(
                "max_connections must be above zero".to_owned(),
            ));
        }
        if self.max_connections_per_source == 0 {
            return Err(ServeError::InvalidConfig(
                "max_connections_per_source must be above zero".to_owned(),
            ));
        }
        if self.http1_max_buf_size < MIN_HTTP1_BUF_SIZE {
            return Err(ServeError::InvalidConfig(format!(
                "http1_max_buf_size must be at least {MIN_HTTP1_BUF_SIZE} bytes (hyper's minimum)"
            )));
        }
        if self.max_headers == 0 || self.http2_max_concurrent_streams == 0 {
            return Err(ServeError::InvalidConfig(
                "max_headers and http2_max_concurrent_streams must be above zero".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Why [`serve`] could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A [`ListenerConfig`] or TLS configuration that would leave the server unprotected or
    /// unable to serve.
    #[error("invalid listener configuration: {0}")]
    InvalidConfig(String),
    /// The listener's own address could not be read (the socket is unusable).
    #[error("cannot read the listening socket's address: {0}")]
    LocalAddr(#[source] io::Error),
    /// The probe listener's thread or its runtime could not be started
    /// ([`super::probe::spawn_probe_thread`]).
    #[error("cannot start the probe thread: {0}")]
    ProbeThread(#[source] io::Error),
}

/// Serves `app` over TLS on `listener` until `shutdown` is cancelled, then drains.
///
/// Returns after in-flight requests finished or `shutdown_grace` passed, whichever is first;
/// connections still open then are dropped. Each request carries the client's address as an
/// [`axum::extract::ConnectInfo<SocketAddr>`] extension.
///
/// Errors only on invalid configuration, before accepting anything; accept errors at run time
/// (e.g. out of file descriptors) are logged and retried after a short pause.
pub async fn serve(
    listener: TcpListener,
    tls: impl Into<TlsConfigHandle>,
    cfg: ListenerConfig,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    serve_with_metrics(
        listener,
        tls,
        cfg,
        app,
        ConnectionMetrics::default(),
        shutdown,
    )
    .await
}

/// [`serve`], counting refused and expired connections in `metrics` (which the caller has
/// registered for `/metrics`).
pub async fn serve_with_metrics(
    listener: TcpListener,
    tls: impl Into<TlsConfigHandle>,
    cfg: ListenerConfig,
    app: Router,
    metrics: ConnectionMetrics,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    cfg.validate()?;
    let tls: TlsConfigHandle = tls.into();
    check_alpn(&tls.current(), cfg.http2)?;
    let local = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let shared = Arc::new(Shared::new(&cfg, app, metrics, shutdown.clone()));
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let peers = PeerTable::new(cfg.max_connections_per_source);
    let tracker = TaskTracker::new();
    let graceful = GracefulShutdown::new();
    tracing::info!(
        %local,
        http2 = cfg.http2,
        max_connections = cfg.max_connections,
        max_connections_per_source = cfg.max_connections_per_source,
        unauthenticated_lifetime = ?cfg.unauthenticated_lifetime,
        "serving HTTPS"
    );

    'accept: loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break 'accept,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) if is_per_connection_error(&e) => continue 'accept,
                Err(e) => {
                    // E.g. EMFILE: do not spin; the condition may clear as connections close.
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break 'accept,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue 'accept,
                    }
                }
            },
        };
        // On a dual-stack listener (`[::]`) an IPv4 client arrives as `::ffff:a.b.c.d`; the
        // per-source cap, the refused-token budget and the logs see it as the IPv4 address it is.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(%peer, max = cfg.max_connections, "connection cap reached; resetting");
            shared.metrics.refused(GLOBAL_CAP);
            refuse(tcp);
            continue 'accept;
        };
        let Some(source_permit) = peers.try_acquire(peer.ip()) else {
            tracing::debug!(
                %peer,
                max = cfg.max_connections_per_source,
                "per-source connection cap reached; resetting"
            );
            shared.metrics.refused(SOURCE_CAP);
            refuse(tcp);
            continue 'accept;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        tracker.spawn(connection(
            tcp,
            peer,
            TlsAcceptor::from(tls.current()),
            Arc::clone(&shared),
            graceful.watcher(),
            Permits::new(permit, source_permit, &shared.metrics),
        ));
    }

    // No new connections from here: the listening socket is closed, so the kernel refuses them.
    drop(listener);
    tracker.close();
    tracing::info!(
        connections = tracker.len(),
        grace = ?cfg.shutdown_grace,
        "shutting down: draining in-flight requests"
    );
    if tokio::time::timeout(cfg.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = tracker.len(),
            "shutdown grace period over; dropping remaining connections"
        );
    }
    shared.force_close.cancel();
    // Dropping a connection future is immediate; this bound only guards against a bug.
    if tokio::time::timeout(Duration::from_secs(2), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            tasks = tracker.len(),
            "connection tasks did not stop after shutdown"
        );
    }
    tracing::info!(%local, "HTTPS listener stopped");
    Ok(())
}

/// Refuses a configuration whose ALPN list disagrees with the HTTP/2 switch: offering h2 that
/// is then not served would break every HTTP/2 client.
fn check_alpn(tls: &ServerConfig, http2: bool) -> Result<(), ServeError> {
    let offers_h2 = tls.alpn_protocols.iter().any(|p| p == ALPN_H2);
    if !http2 && offers_h2 {
        return Err(ServeError::InvalidConfig(
            "the TLS configuration offers h2 but http2 is off".to_owned(),
        ));
    }
    if http2 && !offers_h2 {
        tracing::warn!("http2 is on but the TLS configuration does not offer h2: serving HTTP/1.1");
    }
    Ok(())
}

/// Accept errors that concern one connection only (the client went away before accept).
fn is_per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Closes a connection over the cap with a TCP reset: immediate for the client, and no
/// TIME_WAIT state left on the server.
pub(super) fn refuse(tcp: TcpStream) {
    if let Err(e) = tcp.set_zero_linger() {
        tracing::debug!(error = %e, "cannot set SO_LINGER 0 on a refused connection");
    }
    drop(tcp);
}

/// What every connection task needs, built once.
struct Shared {
    app: Router,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    unauthenticated_lifetime: Duration,
    metrics: ConnectionMetrics,
    /// The caller's shutdown signal: abandons handshakes in progress.
    shutdown: CancellationToken,
    /// Cancelled when the grace period is over: drops connections still open.
    force_close: CancellationToken,
}

impl Shared {
    fn new(
        cfg: &ListenerConfig,
        app: Router,
        metrics: ConnectionMetrics,
        shutdown: CancellationToken,
    ) -> Self {
        let mut http1 = auto::Builder::new(TokioExecutor::new());
        http1
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(cfg.header_read_timeout)
            .max_headers(cfg.max_headers)
            // `validate` refused a size below hyper's minimum, at which this would panic.
            .max_buf_size(cfg.http1_max_buf_size)
            .keep_alive(true);
        let mut http2 = auto::Builder::new(TokioExecutor::new());
        http2
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(cfg.http2_max_concurrent_streams)
            .max_header_list_size(cfg.http2_max_header_list_size);
        Shared {
            app,
            http1: http1.http1_only(),
            http2: http2.http2_only(),
            handshake_timeout: cfg.handshake_timeout,
            idle_timeout: cfg.idle_timeout,
            unauthenticated_lifetime: cfg.unauthenticated_lifetime,
            metrics,
            shutdown,
            force_close: CancellationToken::new(),
        }
    }
}

/// A connection's slots in the global and per-source caps, and its place in the open gauge:
/// all given back when the connection task ends.
struct Permits {
    _global: OwnedSemaphorePermit,
    _source: PeerPermit,
    open: prometheus_client::metrics::gauge::Gauge,
}

impl Permits {
    fn new(global: OwnedSemaphorePermit, source: PeerPermit, metrics: &ConnectionMetrics) -> Self {
        metrics.open.inc();
        Permits {
            _global: global,
            _source: source,
            open: metrics.open.clone(),
        }
    }
}

impl Drop for Permits {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// One connection, from TLS handshake to close. Holds its connection-cap permits throughout.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    watcher: Watcher,
    permits: Permits,
) {
    let _permits = permits;
    // Counted from accept, like the caps: a handshake is no way to buy time.
    let auth_deadline = Instant::now() + shared.unauthenticated_lifetime;
    let auth = AuthMark::new();
    let handshake = tokio::time::timeout(
        shared
            .handshake_timeout
            .min(shared.unauthenticated_lifetime),
        acceptor.accept(tcp),
    );
    let tls = tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => return,
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
    let activity = Arc::new(Activity::new());
    let service = ConnService {
        app: shared.app.clone(),
        peer,
        activity: Arc::clone(&activity),
        auth: auth.clone(),
    };
    let builder = if h2 { &shared.http2 } else { &shared.http1 };
    let conn = watcher.watch(builder.serve_connection(TokioIo::new(tls), service));
    tokio::pin!(conn);
    tokio::select! {
        biased;
        () = shared.force_close.cancelled() => {
            tracing::debug!(%peer, "connection dropped at the end of the shutdown grace period");
        }
        result = &mut conn => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        }
        () = activity.idle_expired(shared.idle_timeout) => {
            tracing::debug!(%peer, "idle connection closed");
        }
        () = auth.expired_unauthenticated(auth_deadline) => {
            shared.metrics.unauthenticated_closed.inc();
            tracing::debug!(
                %peer,
                lifetime = ?shared.unauthenticated_lifetime,
                "connection closed: no request on it authenticated within its lifetime"
            );
        }
    }
}

/// Per-connection request tracking for the idle timeout. A request counts as in flight from
/// the moment its headers are parsed until its response body has been fully written (or
/// dropped), so neither a slow handler nor a slow response is cut by the idle timeout.
///
/// Atomics rather than a channel: a request costs two atomic updates and wakes nobody, and the
/// watchdog looks at them on its own timer, at most once per idle timeout while requests keep
/// coming. (A channel woke the connection task twice per request, at thousands of requests per
/// second, to reset a timer that fires once a minute.)
struct Activity {
    /// The base of `idle_since_nanos`.
    created: Instant,
    /// Requests between [`Activity::begin`] and the drop of their [`InFlight`].
    in_flight: AtomicUsize,
    /// When the last request finished, in nanoseconds after `created`.
    idle_since_nanos: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            created: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_nanos: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Resolves once the connection has had no request in flight for `idle`.
    async fn idle_expired(&self, idle: Duration) {
        let mut deadline = self.created + idle;
        loop {
            tokio::time::sleep_until(deadline).await;
            let now = Instant::now();
            // Acquire pairs with the Release of `InFlight::drop`: a count of zero comes with
            // the finishing time stored before it.
            if self.in_flight.load(Ordering::Acquire) > 0 {
                deadline = now + idle;
                continue;
            }
            let idle_since =
                self.created + Duration::from_nanos(self.idle_since_nanos.load(Ordering::Acquire));
            deadline = idle_since + idle;
            if deadline <= now {
                return;
            }
        }
    }
}

/// Marks one request as in flight until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let since = Instant::now().saturating_duration_since(activity.created);
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        // `fetch_max`: of two requests finishing at once, the later time stays.
        activity.idle_since_nanos.fetch_max(nanos, Ordering::AcqRel);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The per-connection hyper service: adds the peer address and the connection's [`AuthMark`],
/// tracks activity, calls the router.
///
/// Implements hyper's `Service` directly (what `TowerToHyperService` would do: clone the router
/// and `oneshot` it), so the request can be marked in flight before the router runs.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    auth: AuthMark,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        req.extensions_mut().insert(ConnectInfo(self.peer));
        req.extensions_mut().insert(self.auth.clone());
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.oneshot(req).await?;
            Ok(response.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that keeps its request counted as in flight until hyper has written it all.
struct TrackedBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let cfg = ListenerConfig::default();
        assert_eq!(cfg.handshake_timeout, Duration::from_secs(10));
        assert_eq!(cfg.header_read_timeout, Duration::from_secs(10));
        assert_eq!(cfg.idle_timeout, Duration::from_secs(60));
        assert_eq!(cfg.max_connections, 1024);
        assert_eq!(cfg.max_connections_per_source, 64);
        assert_eq!(cfg.unauthenticated_lifetime, Duration::from_secs(30));
        assert_eq!(cfg.http1_max_buf_size, 16 * 1024);
        assert_eq!(cfg.shutdown_grace, Duration::from_secs(20));
        assert!(!cfg.http2);
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn zero_limits_are_refused() {
        let cfg = ListenerConfig {
            max_connections: 0,
            ..ListenerConfig::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = ListenerConfig {
            header_read_timeout: Duration::ZERO,
            ..ListenerConfig::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = ListenerConfig {
            max_connections_per_source: 0,
            ..ListenerConfig::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = ListenerConfig {
            unauthenticated_lifetime: Duration::ZERO,
            ..ListenerConfig::default()
        };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn an_http1_buffer_hyper_would_panic_on_is_refused() {
        let cfg = ListenerConfig {
            http1_max_buf_size: MIN_HTTP1_BUF_SIZE - 1,
            ..ListenerConfig::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = ListenerConfig {
            http1_max_buf_size: MIN_HTTP1_BUF_SIZE,
            ..ListenerConfig::default()
        };
        assert!(cfg.validate().is_ok());
        // And the builder takes it without panicking.
        let _ = Shared::new(
            &cfg,
            Router::new(),
            ConnectionMetrics::default(),
            CancellationToken::new(),
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timer_waits_for_requests_in_flight() {
        let activity = Arc::new(Activity::new());
        let idle = Duration::from_secs(5);
        let guard = activity.begin();
        let start = Instant::now();
        let expired = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { activity.idle_expired(idle).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!expired.is_finished(), "expired with a request in flight");
        drop(guard);
        expired.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(35));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_counts_from_the_last_request_to_finish() {
        let activity = Arc::new(Activity::new());
        let idle = Duration::from_secs(5);
        let start = Instant::now();
        let expired = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { activity.idle_expired(idle).await }
        });
        // Two overlapping requests, the later finishing at 7 s: idle from 7 s, closed at 12 s.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let first = activity.begin();
        let second = activity.begin();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(first);
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(second);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!expired.is_finished(), "expired 4 s after the last request");
        expired.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(12));
    }
}
