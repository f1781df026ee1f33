//! Rate limiting by token bucket, one bucket per key, so one noisy caller cannot crowd out the
//! others. Keyed by the authenticated identity (reports, read-backs and `/metrics`, each with
//! buckets of its own, so reading never costs a producer a report) or by the
//! peer address the listener saw (refused tokens, [`super::refusals`]), never by anything a
//! client can spoof; the number of buckets is bounded.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most identities tracked at once; beyond it, full (idle) buckets are forgotten first.
const MAX_KEYS: usize = 10_000;

/// Read-backs (`GET .../insights`) a second one identity may make on average: a restarted
/// producer reads once to reconcile, so this is generous, yet a loop reading a large informer's
/// insights (the whole set serialised each time) cannot take the server's time.
pub const READ_BACK_RATE: f64 = 1.0;

/// The burst of [`READ_BACK_RATE`].
pub const READ_BACK_BURST: u32 = 10;

/// `/metrics` scrapes a second one identity may make on average: the monitoring stack's
/// replicas share one service account and scrape every 30 s; encoding every series on each
/// request is not free.
pub const METRICS_RATE: f64 = 1.0;

/// The burst of [`METRICS_RATE`].
pub const METRICS_BURST: u32 = 10;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A token bucket per key (an identity's username unless said otherwise).
#[derive(Debug)]
pub struct RateLimiter<K = String> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate` requests per second on average, `burst` at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check<Q>(&self, key: &Q, now: Instant) -> Result<(), Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock means a panic elsewhere; failing open here would lift the limit,
            // failing closed would block every producer. Refuse briefly.
            return Err(Duration::from_secs(1));
        };
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        // Looked up before inserting, so a known caller costs no copy of its key.
        let bucket = match buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => buckets.entry(key.to_owned()).or_insert(Bucket {
                tokens: self.burst,
                updated: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait(bucket.tokens))
        }
    }

    /// Whether `key` has a token now, without taking it (or remembering `key`): for a budget
    /// spent only by some outcomes, checked before the work and charged with [`Self::check`]
    /// after it.
    pub fn peek<Q>(&self, key: &Q, now: Instant) -> Result<(), Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Ok(buckets) = self.buckets.lock() else {
            return Err(Duration::from_secs(1));
        };
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        let tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.wait(tokens))
        }
    }

    /// How long until a bucket holding `tokens` holds one.
    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64((1.0 - tokens) / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_applies_per_key() {
        let limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("a", t0).is_ok());
        }
        let wait = limiter.check("a", t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(
            limiter.check("b", t0).is_ok(),
            "other identities are unaffected"
        );
        assert!(limiter.check("a", t0 + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn peeking_takes_nothing_and_sees_an_empty_bucket() {
        let limiter: RateLimiter<u8> = RateLimiter::new(1.0, 2);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.peek(&1, t0).is_ok(), "peeking spends nothing");
        }
        assert!(limiter.check(&1, t0).is_ok());
        assert!(limiter.check(&1, t0).is_ok());
        let wait = limiter.peek(&1, t0).unwrap_err();
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        assert!(limiter.peek(&2, t0).is_ok(), "other keys are unaffected");
        assert!(limiter.peek(&1, t0 + Duration::from_secs(1)).is_ok());
    }
}
