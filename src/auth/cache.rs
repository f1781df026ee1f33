//! A short-lived cache of verified tokens, in front of any authenticator. A producer presents the
//! same token for up to an hour, and verifying a signature on every report costs more than
//! everything else a report does. Entries are keyed by an HMAC of the token under a per-process
//! random key (the token itself is never stored), live at most the TTL and never past the token's
//! own expiry, and failures are never cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::hmac;

use super::{AuthFuture, Authenticator, Identity};

/// Most cached identities; when full, expired entries go first, then everything.
const MAX_ENTRIES: usize = 10_000;

/// Caches the identities an inner authenticator returns.
pub struct CachingAuthenticator<A> {
    inner: A,
    ttl: Duration,
    key: hmac::Key,
    entries: Mutex<HashMap<Vec<u8>, (Identity, Instant)>>,
}

impl<A> std::fmt::Debug for CachingAuthenticator<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingAuthenticator")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Why the cache could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a random key for the token cache")]
pub struct CacheKeyError;

impl<A: Authenticator> CachingAuthenticator<A> {
    /// Wraps `inner`, keeping verified identities for at most `ttl`.
    pub fn new(inner: A, ttl: Duration) -> Result<Self, CacheKeyError> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| CacheKeyError)?;
        Ok(Self {
            inner,
            ttl,
            key,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn lookup(&self, id: &[u8], now: Instant) -> Option<Identity> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(id)
            .filter(|(_, until)| *until > now)
            .map(|(identity, _)| identity.clone())
    }

    fn store(&self, id: Vec<u8>, identity: Identity, until: Instant, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id, (identity, until));
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

impl<A: Authenticator> Authenticator for CachingAuthenticator<A> {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            let id = hmac::sign(&self.key, token.as_bytes()).as_ref().to_vec();
            let now = Instant::now();
            if let Some(identity) = self.lookup(&id, now) {
                return Ok(identity);
            }
            let identity = self.inner.authenticate(token).await?;
            let left = token_expiry(token)
                .and_then(|exp| exp.duration_since(SystemTime::now()).ok())
                .unwrap_or(Duration::ZERO);
            let keep = self.ttl.min(left);
            if !keep.is_zero() {
                self.store(id, identity.clone(), now + keep, now);
            }
            Ok(identity)
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
                    Ok(Identity {
                        username: "system:serviceaccount:a:b".into(),
                        uid: None,
                        groups: vec![],
                    })
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
}
