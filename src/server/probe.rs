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

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::listener::{MIN_HTTP1_BUF_SIZE, ServeError, refuse};

/// Most probe connections at once: the kubelet runs two probes, each one connection.
pub const PROBE_MAX_CONNECTIONS: usize = 16;
/// Longest a probe connection may live, from accept to the end of its one response. Below the
/// Deployment's probe `timeoutSeconds`.
pub const PROBE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(4);

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
}
