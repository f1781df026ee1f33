//! A short-lived cache of verified tokens, in front of any authenticator. A producer presents the
//! same token for up to an hour, and verifying it on every report (a signature, or a TokenReview
//! round trip to the API server) costs more than everything else a report does. Entries are keyed
//! by an HMAC of the token (and, when bound, the audiences it was verified for) under a
//! per-process random key, so the token itself is never stored; they live at most the TTL and
//! never past the token's own expiry; failures are never cached.
//!
//! Concurrent lookups of the same key share one verification (single flight): fifty reports
//! arriving together with a fresh token cost one TokenReview, not fifty. The same machinery,
//! `Memo`, caches SubjectAccessReview answers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::hmac;
use tokio::sync::OnceCell;

use super::{AuthError, AuthFuture, Authenticator, Identity};

/// Most cached identities; when full, expired entries go first, then everything.
const MAX_ENTRIES: usize = 10_000;

/// The TTL of verified identities in Kubernetes mode unless configured otherwise: the
/// kube-apiserver's own default for delegated authentication, short enough that a deleted pod or
/// service account stops working within seconds.
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

/// Why the cache could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a random key for the token cache")]
pub struct CacheKeyError;

/// The map key of a memo entry: an HMAC-SHA256 tag, kept inline so that a lookup allocates
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey([u8; TAG_LEN]);

/// The length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// One lookup in progress, shared by every caller asking for the same key meanwhile.
type Flight<V> = Arc<OnceCell<Result<V, AuthError>>>;

/// An HMAC-keyed map of values that expire, with single-flight lookups: the shared mechanism of
/// the token cache and the access-review cache.
///
/// Keys are HMACs under a random per-process key, so neither a token nor an identity is ever a map
/// key, and nobody who sees the keys can test guesses against them. Only successes are stored.
pub(crate) struct Memo<V> {
    key: hmac::Key,
    entries: Mutex<HashMap<CacheKey, (V, Instant)>>,
    flights: Mutex<HashMap<CacheKey, Flight<V>>>,
}

impl<V: Clone> Memo<V> {
    /// An empty memo with a fresh random HMAC key.
    pub(crate) fn new() -> Result<Self, CacheKeyError> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| CacheKeyError)?;
        Ok(Self {
            key,
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        })
    }

    /// The map key of a tuple of byte strings: each part is length-prefixed, so `("ab", "c")` and
    /// `("a", "bc")` never share a key.
    pub(crate) fn key_of<'p>(&self, parts: impl IntoIterator<Item = &'p [u8]>) -> CacheKey {
        let mut context = hmac::Context::with_key(&self.key);
        for part in parts {
            let len = u64::try_from(part.len()).unwrap_or(u64::MAX);
            context.update(&len.to_be_bytes());
            context.update(part);
        }
        // An HMAC-SHA256 tag is always TAG_LEN bytes (a test holds ring to it).
        let mut key = [0; TAG_LEN];
        for (k, t) in key.iter_mut().zip(context.sign().as_ref()) {
            *k = *t;
        }
        CacheKey(key)
    }

    /// The value stored under `id`, or the result of `fetch`: at most one `fetch` per key runs at
    /// a time, and callers arriving meanwhile wait for it and share its result, error included.
    /// A success is stored for `keep(&value)` (nothing when zero); an error is never stored, so
    /// the next caller after a failure asks again.
    ///
    /// Cancel-safe: when the caller running `fetch` is dropped, a waiting caller runs its own.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        id: CacheKey,
        fetch: F,
        keep: impl FnOnce(&V) -> Duration,
    ) -> Result<V, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, AuthError>>,
    {
        if let Some(value) = self.lookup(id, Instant::now()) {
            return Ok(value);
        }
        let Some(flight) = self.join(id) else {
            // The flight table is poisoned: verify without sharing rather than fail.
            return self.fetch_and_store(id, fetch, keep).await;
        };
        let result = flight
            .cell
            .get_or_init(|| async {
                // A flight that ended between the lookup above and joining stored its value.
                match self.lookup(id, Instant::now()) {
                    Some(value) => Ok(value),
                    None => self.fetch_and_store(id, fetch, keep).await,
                }
            })
            .await
            .clone();
        drop(flight);
        result
    }

    async fn fetch_and_store<F, Fut>(
        &self,
        id: CacheKey,
        fetch: F,
        keep: impl FnOnce(&V) -> Duration,
    ) -> Result<V, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, AuthError>>,
    {
        let value = fetch().await?;
        let keep = keep(&value);
        if !keep.is_zero() {
            let now = Instant::now();
            self.store(id, value.clone(), now + keep, now);
        }
        Ok(value)
    }

    /// Joins the flight for `id`, starting one if none is in progress.
    fn join(&self, id: CacheKey) -> Option<FlightGuard<'_, V>> {
        let mut flights = self.flights.lock().ok()?;
        let cell = Arc::clone(flights.entry(id).or_default());
        Some(FlightGuard {
            memo: self,
            id,
            cell,
        })
    }

    fn lookup(&self, id: CacheKey, now: Instant) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&id)
            .filter(|(_, until)| *until > now)
            .map(|(value, _)| value.clone())
    }

    fn store(&self, id: CacheKey, value: V, until: Instant, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id, (value, until));
    }

    /// How many lookups are in progress (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn flights_in_progress(&self) -> usize {
        self.flights.lock().map(|f| f.len()).unwrap_or(0)
    }
}

/// A caller's share of a flight. Dropping it (done or cancelled) removes the flight from the
/// table once it has a result, or once nobody else is waiting for it, so the table never holds
/// more than the lookups actually in progress and a finished error is never handed to a later
/// caller.
struct FlightGuard<'m, V> {
    memo: &'m Memo<V>,
    id: CacheKey,
    cell: Flight<V>,
}

impl<V> Drop for FlightGuard<'_, V> {
    fn drop(&mut self) {
        let Ok(mut flights) = self.memo.flights.lock() else {
            return;
        };
        let ours = flights
            .get(&self.id)
            .is_some_and(|current| Arc::ptr_eq(current, &self.cell));
        // Two references: the table's and ours.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            flights.remove(&self.id);
        }
    }
}

/// Caches the identities an inner authenticator returns, sharing concurrent verifications of the
/// same token.
///
/// Refusals are not cached, deliberately, and neither are errors. An error (API server down) must
/// be retried as soon as the caller retries. A refusal could be cached briefly, as kube-apiserver
/// does, but it buys little and costs something: repeating one *forged, expired or misaddressed*
/// token is refused by the local pre-check without an API call; distinct bad tokens miss any cache;
/// a burst of one token shares one review through the single flight; and the TokenReview cap
/// bounds the rest. What a negative cache would cost is a freshly projected token refused once
/// because the API server's view of its new pod lags by a moment, then refused for the whole TTL.
pub struct CachingAuthenticator<A> {
    inner: A,
    ttl: Duration,
    audiences: Vec<String>,
    memo: Memo<Arc<Identity>>,
}

impl<A> std::fmt::Debug for CachingAuthenticator<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingAuthenticator")
            .field("ttl", &self.ttl)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl<A: Authenticator> CachingAuthenticator<A> {
    /// Wraps `inner`, keeping verified identities for at most `ttl`.
    pub fn new(inner: A, ttl: Duration) -> Result<Self, CacheKeyError> {
        Ok(Self {
            inner,
            ttl,
            audiences: Vec::new(),
            memo: Memo::new()?,
        })
    }

    /// Binds the cache key to the audiences `inner` verifies for (the TokenReview's
    /// `spec.audiences`), as kube-apiserver's token cache does: an identity verified for one
    /// audience can then never answer a lookup made for another, even if one cache were shared.
    pub fn with_audiences<S: AsRef<str>>(mut self, audiences: &[S]) -> Self {
        self.audiences = audiences.iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// The authenticator behind the cache, for its diagnostics.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The longest an identity is kept.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn key(&self, token: &str) -> CacheKey {
        self.memo.key_of(
            std::iter::once(token.as_bytes()).chain(self.audiences.iter().map(|a| a.as_bytes())),
        )
    }
}

/// When an (already verified) token expires, from its `exp` claim.
fn token_expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let exp = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_u64()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(exp))
}

/// How long to keep a verified `token`: the TTL, cut to what is left of the token's life; zero
/// (not kept) for a token with no readable `exp`, which only legacy tokens lack.
fn keep_for(token: &str, ttl: Duration) -> Duration {
    let left = token_expiry(token)
        .and_then(|exp| exp.duration_since(SystemTime::now()).ok())
        .unwrap_or(Duration::ZERO);
    ttl.min(left)
}

impl<A: Authenticator> Authenticator for CachingAuthenticator<A> {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            self.memo
                .get_or_fetch(
                    self.key(token),
                    || self.inner.authenticate(token),
                    |_| keep_for(token, self.ttl),
                )
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::auth::AuthError;

    struct Counting {
        calls: AtomicUsize,
        accept: bool,
    }

    impl Authenticator for Counting {
        fn authenticate<'a>(&'a self, _token: &'a str) -> AuthFuture<'a> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::Relaxed);
                if self.accept {
                    Ok(Arc::new(Identity {
                        username: "system:serviceaccount:a:b".into(),
                        uid: None,
                        groups: vec![],
                    }))
                } else {
                    Err(AuthError::Invalid("signature: does not verify".into()))
                }
            })
        }
    }

    fn token(exp_in: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = serde_json::json!({"exp": now + exp_in});
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.{}",
            b64(b"{\"alg\":\"ES256\"}"),
            b64(claims.to_string().as_bytes()),
            b64(b"sig")
        )
    }

    #[tokio::test]
    async fn verified_tokens_are_reused_within_the_ttl_and_failures_are_not_cached() {
        let cache = CachingAuthenticator::new(
            Counting {
                calls: 0.into(),
                accept: true,
            },
            Duration::from_secs(10),
        )
        .unwrap();
        let t = token(600);
        for _ in 0..100 {
            assert!(cache.authenticate(&t).await.is_ok());
        }
        assert_eq!(cache.inner.calls.load(Ordering::Relaxed), 1);
        assert!(
            !format!("{cache:?}").contains(&t),
            "the cache never shows tokens"
        );

        let failing = CachingAuthenticator::new(
            Counting {
                calls: 0.into(),
                accept: false,
            },
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(failing.authenticate(&t).await.is_err());
        assert!(failing.authenticate(&t).await.is_err());
        assert_eq!(failing.inner.calls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn an_entry_never_outlives_the_token() {
        let cache = CachingAuthenticator::new(
            Counting {
                calls: 0.into(),
                accept: true,
            },
            Duration::from_secs(10),
        )
        .unwrap();
        let expired = token(-5);
        assert!(cache.authenticate(&expired).await.is_ok());
        assert!(cache.authenticate(&expired).await.is_ok());
        assert_eq!(
            cache.inner.calls.load(Ordering::Relaxed),
            2,
            "an expired token is verified every time"
        );
    }

    fn key(memo: &Memo<u32>, parts: &[&[u8]]) -> CacheKey {
        memo.key_of(parts.iter().copied())
    }

    fn memo() -> Arc<Memo<u32>> {
        Arc::new(Memo::new().unwrap())
    }

    /// A fetch that counts itself, waits `delay`, then answers `result`.
    async fn counted(
        calls: &AtomicUsize,
        delay: Duration,
        result: Result<u32, AuthError>,
    ) -> Result<u32, AuthError> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        result
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_fetch_and_leave_no_flight_behind() {
        let memo = memo();
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (memo, calls) = (Arc::clone(&memo), Arc::clone(&calls));
            tasks.spawn(async move {
                let id = key(&memo, &[b"token"]);
                memo.get_or_fetch(
                    id,
                    || counted(&calls, Duration::from_millis(50), Ok(7)),
                    |_| Duration::from_secs(10),
                )
                .await
            });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap(), Ok(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(memo.flights_in_progress(), 0);
        // And the value is cached.
        let id = key(&memo, &[b"token"]);
        let again = memo
            .get_or_fetch(
                id,
                || counted(&calls, Duration::ZERO, Ok(8)),
                |_| Duration::from_secs(10),
            )
            .await;
        assert_eq!(again, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_shared_error_is_not_kept_for_later_callers() {
        let memo = memo();
        let calls = Arc::new(AtomicUsize::new(0));
        let unavailable = AuthError::Unavailable {
            retry_after: Duration::from_secs(5),
        };
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (memo, calls, error) = (Arc::clone(&memo), Arc::clone(&calls), unavailable.clone());
            tasks.spawn(async move {
                let id = key(&memo, &[b"token"]);
                memo.get_or_fetch(
                    id,
                    || counted(&calls, Duration::from_millis(50), Err(error)),
                    |_| Duration::from_secs(10),
                )
                .await
            });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap(), Err(unavailable.clone()));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the waiters shared one failure"
        );
        assert_eq!(memo.flights_in_progress(), 0);
        let id = key(&memo, &[b"token"]);
        let next = memo
            .get_or_fetch(
                id,
                || counted(&calls, Duration::ZERO, Ok(1)),
                |_| Duration::from_secs(10),
            )
            .await;
        assert_eq!(next, Ok(1));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the next caller asked again"
        );
    }

    #[tokio::test]
    async fn a_cancelled_fetch_is_taken_over_by_a_waiter() {
        let memo = memo();
        let calls = Arc::new(AtomicUsize::new(0));
        let leader = {
            let (memo, calls) = (Arc::clone(&memo), Arc::clone(&calls));
            tokio::spawn(async move {
                let id = key(&memo, &[b"token"]);
                memo.get_or_fetch(
                    id,
                    || counted(&calls, Duration::from_secs(3600), Ok(1)),
                    |_| Duration::from_secs(10),
                )
                .await
            })
        };
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let waiter = {
            let (memo, calls) = (Arc::clone(&memo), Arc::clone(&calls));
            tokio::spawn(async move {
                let id = key(&memo, &[b"token"]);
                memo.get_or_fetch(
                    id,
                    || counted(&calls, Duration::ZERO, Ok(2)),
                    |_| Duration::from_secs(10),
                )
                .await
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(memo.flights_in_progress(), 1);
        leader.abort();
        let got = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter must not hang on a cancelled leader")
            .unwrap();
        assert_eq!(got, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(memo.flights_in_progress(), 0);
    }

    #[tokio::test]
    async fn an_abandoned_lookup_leaves_no_flight_behind() {
        let memo = memo();
        let calls = AtomicUsize::new(0);
        let id = key(&memo, &[b"token"]);
        let lookup = memo.get_or_fetch(
            id,
            || counted(&calls, Duration::from_secs(3600), Ok(1)),
            |_| Duration::from_secs(10),
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(20), lookup)
                .await
                .is_err()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(memo.flights_in_progress(), 0);
    }

    #[test]
    fn an_hmac_sha256_tag_fills_the_whole_key() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        assert_eq!(hmac::sign(&key, b"x").as_ref().len(), TAG_LEN);
    }

    #[test]
    fn keys_are_unambiguous_and_bound_to_the_audiences() {
        let memo = Memo::<u32>::new().unwrap();
        assert_ne!(key(&memo, &[b"ab", b"c"]), key(&memo, &[b"a", b"bc"]));
        assert_ne!(key(&memo, &[b"ab"]), key(&memo, &[b"ab", b""]));
        assert_eq!(key(&memo, &[b"ab", b"c"]), key(&memo, &[b"ab", b"c"]));
        assert_ne!(
            key(&memo, &[b"ab"]),
            key(&Memo::<u32>::new().unwrap(), &[b"ab"]),
            "the HMAC key is random per memo"
        );

        let t = token(600);
        let cache = CachingAuthenticator::new(
            Counting {
                calls: 0.into(),
                accept: true,
            },
            Duration::from_secs(10),
        )
        .unwrap();
        let unbound = cache.key(&t);
        let cache = cache.with_audiences(&["a"]);
        let bound_a = cache.key(&t);
        let cache = cache.with_audiences(&["b"]);
        let bound_b = cache.key(&t);
        assert_ne!(unbound, bound_a);
        assert_ne!(bound_a, bound_b);
        assert!(!format!("{cache:?}").contains(&t));
        assert_eq!(cache.ttl(), Duration::from_secs(10));
    }
}
