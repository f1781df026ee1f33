//! Who may spend TokenReviews, and how many (SECURITY.md D3).
//!
//! The TokenReview cap protects the API server, but one global pool let anyone who can mint a
//! token for our audience (any service account in any namespace) crowd the producers out: each
//! distinct token costs a review, and a caller refused with 403 afterwards was never slowed down.
//! So once the pre-check has *verified* a token's `sub`:
//! - a listed subject (a producer of some UpdateInformer, or a metrics reader) reviews in
//!   [`ReviewPool::Producers`], which has slots nobody else can take;
//! - any other subject reviews in [`ReviewPool::Shared`], and at most [`UNLISTED_RATE`] reviews a
//!   second per subject (burst [`UNLISTED_BURST`]); past that it is answered 429 without a review.
//!
//! A token the pre-check could not verify (no issuer keys: it stepped aside) carries no subject
//! we can trust, so it is left unclassified and may use every slot, as before the split.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use super::AuthError;
use super::token_review::ReviewPool;
use crate::http::ratelimit::RateLimiter;

/// Reviews a second a verified subject that no informer lists may cost: enough for a producer
/// whose UpdateInformer is not created yet to see its 403s, far below a flood.
pub const UNLISTED_RATE: f64 = 1.0;

/// The burst of [`UNLISTED_RATE`].
pub const UNLISTED_BURST: u32 = 5;

/// The listed subjects and the per-subject limit of the others.
#[derive(Debug)]
pub struct Priority {
    listed: RwLock<Arc<HashSet<String>>>,
    unlisted: RateLimiter,
}

impl Default for Priority {
    fn default() -> Self {
        Self {
            listed: RwLock::default(),
            unlisted: RateLimiter::new(UNLISTED_RATE, UNLISTED_BURST),
        }
    }
}

impl Priority {
    /// Replaces the listed subjects (usernames, `system:serviceaccount:<ns>:<name>`).
    pub fn set_listed(&self, subjects: HashSet<String>) {
        if let Ok(mut listed) = self.listed.write() {
            *listed = Arc::new(subjects);
        }
    }

    /// The pool of a token whose verified subject is `subject` (`None`: not verified, so
    /// unclassified), or a 429 for an unlisted subject over its rate.
    pub fn pool(
        &self,
        subject: Option<&str>,
        now: Instant,
    ) -> Result<Option<ReviewPool>, AuthError> {
        let Some(subject) = subject else {
            return Ok(None);
        };
        let listed = self
            .listed
            .read()
            .map(|listed| listed.contains(subject))
            .unwrap_or(false);
        if listed {
            return Ok(Some(ReviewPool::Producers));
        }
        self.unlisted
            .check(subject, now)
            .map_err(|retry_after| AuthError::RateLimited {
                retry_after: std::time::Duration::from_secs(retry_after.as_secs().max(1)),
            })?;
        Ok(Some(ReviewPool::Shared))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_subjects_get_the_producer_pool_and_others_a_rate() {
        let priority = Priority::default();
        priority.set_listed(HashSet::from([
            "system:serviceaccount:ns:producer".to_owned()
        ]));
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(
                priority.pool(Some("system:serviceaccount:ns:producer"), now),
                Ok(Some(ReviewPool::Producers))
            );
        }
        assert_eq!(priority.pool(None, now), Ok(None));
        for _ in 0..UNLISTED_BURST {
            assert_eq!(
                priority.pool(Some("system:serviceaccount:evil:intruder"), now),
                Ok(Some(ReviewPool::Shared))
            );
        }
        assert!(matches!(
            priority.pool(Some("system:serviceaccount:evil:intruder"), now),
            Err(AuthError::RateLimited { .. })
        ));
        // The listed producer is not slowed by the intruder.
        assert_eq!(
            priority.pool(Some("system:serviceaccount:ns:producer"), now),
            Ok(Some(ReviewPool::Producers))
        );
    }
}
