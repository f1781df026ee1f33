//! A per-source budget of refused tokens (SECURITY.md, D3).
//!
//! Every request with a token costs a signature check at least, and a TokenReview when the
//! pre-check has no keys; the TokenReview cap bounds what a flood costs the API server, not what
//! it costs the producers waiting behind it. A source address that keeps presenting tokens we
//! refuse (401) is therefore answered 429 with `Retry-After`, before its token is looked at,
//! once it has spent its budget.
//!
//! Keyed by the peer address the listener accepted the connection from (it reaches the handlers
//! as [`axum::extract::ConnectInfo`]), never by a header a client could set. Only refusals spend
//! the budget: a producer whose token is accepted never does, so a listed producer behind the
//! same address (host-network pods of one node share it) is slowed down only while a neighbour
//! is actually presenting bad tokens faster than the rate. The number of sources remembered is
//! bounded as in [`RateLimiter`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ratelimit::RateLimiter;

/// Refused tokens a second one source may present on average (`--refused-token-rate-limit`):
/// far above a producer retrying an expired token with backoff, far below a flood.
pub const DEFAULT_RATE: f64 = 10.0;

/// How many refused tokens one source may present at once (`--refused-token-burst`).
pub const DEFAULT_BURST: u32 = 20;

/// The refused-token budgets of all sources.
#[derive(Debug)]
pub struct RefusalLimiter(RateLimiter<IpAddr>);

impl Default for RefusalLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_RATE, DEFAULT_BURST)
    }
}

impl RefusalLimiter {
    /// `rate` refusals a second per source on average, `burst` at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self(RateLimiter::new(rate, burst))
    }

    /// Before any work on the token: `Err(wait)` when `source` has spent its budget.
    pub fn admit(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        self.0.peek(&source.to_canonical(), now)
    }

    /// After a token from `source` was refused (401): spends one from its budget. Requests
    /// admitted together may spend it below one; the bucket then stays empty until refilled.
    pub fn charge(&self, source: IpAddr, now: Instant) {
        // An empty bucket is the outcome being recorded, not an error.
        let _ = self.0.check(&source.to_canonical(), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn only_refusals_spend_and_each_source_has_its_own_budget() {
        let limiter = RefusalLimiter::new(1.0, 3);
        let (a, b) = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(limiter.admit(a, t0).is_ok(), "admitting spends nothing");
        }
        for _ in 0..3 {
            limiter.charge(a, t0);
        }
        let wait = limiter.admit(a, t0).unwrap_err();
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        assert!(limiter.admit(b, t0).is_ok(), "another source is unaffected");
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert!(
            limiter.admit(mapped, t0).is_err(),
            "a mapped IPv6 address is its IPv4 source"
        );
        assert!(limiter.admit(IpAddr::V6(Ipv6Addr::LOCALHOST), t0).is_ok());
        assert!(limiter.admit(a, t0 + Duration::from_secs(1)).is_ok());
    }
}
