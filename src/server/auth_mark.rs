//! The signal that a connection has authenticated, and the lifetime of connections that never
//! do (SECURITY.md, D1).
//!
//! Without it, a client with no token could hold a connection slot for ever by sending
//! `GET /healthz` (which needs no token) more often than the idle and header timeouts. The
//! listener gives every connection an [`AuthMark`] and puts a clone of it into each request's
//! extensions; the route that accepts a bearer token marks it. A connection still unmarked
//! `unauthenticated_lifetime` after accept is dropped, whatever it is doing then.
//!
//! The signal is "a request on this connection carried a bearer token the authenticator
//! accepted" (signature, issuer, audience and expiry, or TokenReview), whatever the request's
//! outcome afterwards (a 403 for a caller not listed in the UpdateInformer still counts: the
//! caller proved a service-account identity with our audience, and is audited by name). It is
//! set by the authenticating code itself, not inferred from status codes, so no unauthenticated
//! answer (a 200 from `/healthz`, a 404) can keep a connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A connection's "has authenticated" flag, shared by the listener and the request handlers
/// (found in each request's extensions). Once set it stays set for the connection's life.
#[derive(Clone, Debug, Default)]
pub struct AuthMark(Arc<AtomicBool>);

impl AuthMark {
    /// A fresh, unauthenticated mark for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that a request on this connection presented an accepted bearer token.
    pub fn authenticated(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether any request on this connection presented an accepted bearer token.
    pub fn is_authenticated(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Resolves at `deadline` if the connection has not authenticated by then; never resolves
    /// otherwise. A hard deadline: a request in flight then is dropped with its connection, so
    /// no client can extend it (a producer sends its token on its first request, long before).
    pub(super) async fn expired_unauthenticated(&self, deadline: Instant) {
        tokio::time::sleep_until(deadline).await;
        if self.is_authenticated() {
            std::future::pending::<()>().await;
        }
    }
}

/// The default lifetime of a connection that has not authenticated: long enough for any
/// producer's first request (a report carries its token from the first byte), short enough that
/// hoarded slots come back quickly.
pub const DEFAULT_UNAUTHENTICATED_LIFETIME: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_unauthenticated_connection_expires_at_the_deadline() {
        let mark = AuthMark::new();
        let start = Instant::now();
        mark.expired_unauthenticated(start + Duration::from_secs(30))
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn an_authenticated_connection_never_expires() {
        let mark = AuthMark::new();
        let start = Instant::now();
        let waiting = tokio::spawn({
            let mark = mark.clone();
            async move {
                mark.expired_unauthenticated(start + Duration::from_secs(30))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        mark.authenticated();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(
            !waiting.is_finished(),
            "an authenticated connection expired"
        );
        waiting.abort();
    }
}
