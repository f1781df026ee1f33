//! Letting the platform Prometheus scrape `/metrics` the way it scrapes every OpenShift
//! component: with its own service-account token, whose audience is the API server's, not ours.
//! Such a token is checked as kube-rbac-proxy and library-go's delegating authentication check
//! it: a TokenReview without `spec.audiences` (the API server judges the token for its own
//! audiences), then a SubjectAccessReview for `get` on the non-resource URL `/metrics`
//! ([`AccessReviewer::allows_scrape`]).
//!
//! Why this does not widen what a token can do here: only the `/metrics` route asks
//! [`ScrapeAccess`]; reports and read-backs accept our audience alone, through the
//! audience-bound authenticator. Reviews made for scrapes have a small cap of their own
//! ([`SCRAPE_REVIEW_SLOTS`]), so tokens thrown at `/metrics` cannot take the TokenReview slots
//! producers need; verified identities are cached as producers' are (HMAC-keyed, at most
//! [`DEFAULT_TOKEN_CACHE_TTL`], never past the token's `exp`), and RBAC answers for the access
//! reviewer's TTL, so a scrape every 30 s costs two API calls at most once per TTL.
//!
//! As everywhere in `auth`, the token goes into the request body only: it is not logged, not
//! kept, and the answer (which echoes it) is decoded into a type without it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::access_review::{AccessReviewSettings, AccessReviewer};
use super::cache::{CacheKeyError, CachingAuthenticator, DEFAULT_TOKEN_CACHE_TTL};
use super::token_review::{ReviewError, authenticated_user, post_review};
use super::{AuthError, AuthFuture, Authenticator, Identity};

/// Most TokenReviews in flight for scrapes: Prometheus scrapes each target with one token, so
/// two is plenty, and no more can be spent on whatever else arrives at `/metrics`.
pub const SCRAPE_REVIEW_SLOTS: usize = 2;

/// A TokenReview asking the API server to judge a token for its own audiences.
pub struct ApiAudienceReviewer {
    client: kube::Client,
    timeout: Duration,
    slots: Semaphore,
}

impl fmt::Debug for ApiAudienceReviewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiAudienceReviewer")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ApiAudienceReviewer {
    /// A reviewer asking the API server `client` talks to, each review bounded by `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            slots: Semaphore::new(SCRAPE_REVIEW_SLOTS),
        }
    }

    async fn review(&self, token: &str) -> Result<Identity, ReviewError> {
        let _permit = self.slots.try_acquire().map_err(|_| ReviewError::OverCap {
            cap: SCRAPE_REVIEW_SLOTS,
        })?;
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        })
        .to_string()
        .into_bytes();
        let status = post_review(&self.client, body, self.timeout).await?;
        authenticated_user(status.ok_or(ReviewError::NotAuthenticated)?)
    }
}

impl Authenticator for ApiAudienceReviewer {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            self.review(token)
                .await
                .map(Arc::new)
                .map_err(AuthError::from)
        })
    }
}

/// Who may scrape `/metrics` with a token of the API server's audience; see the module.
#[derive(Debug)]
pub struct ScrapeAccess {
    identities: CachingAuthenticator<ApiAudienceReviewer>,
    authorizer: AccessReviewer,
}

impl ScrapeAccess {
    /// Scrape access judged by the API server `client` talks to.
    pub fn new(client: kube::Client, timeout: Duration) -> Result<Self, CacheKeyError> {
        let reviewer = ApiAudienceReviewer::new(client.clone(), timeout);
        let settings = AccessReviewSettings {
            timeout,
            ..AccessReviewSettings::default()
        };
        Ok(Self {
            identities: CachingAuthenticator::new(reviewer, DEFAULT_TOKEN_CACHE_TTL)?,
            authorizer: AccessReviewer::new(client, settings)?,
        })
    }

    /// The caller a token of the API server's audience identifies: `Err` when the API server
    /// refuses it (401) or cannot answer (503).
    pub async fn identify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        self.identities.authenticate(token).await
    }

    /// Whether RBAC lets `identity` scrape (`get` on `/metrics`).
    pub async fn allows(&self, identity: &Identity) -> Result<bool, AuthError> {
        self.authorizer.allows_scrape(identity).await
    }

    /// [`ScrapeAccess::identify`] then [`ScrapeAccess::allows`].
    pub async fn check(&self, token: &str) -> Result<(Arc<Identity>, bool), AuthError> {
        let identity = self.identify(token).await?;
        let allowed = self.allows(&identity).await?;
        Ok((identity, allowed))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::access_review::SUBJECT_ACCESS_REVIEWS_PATH;
    use crate::auth::apiserver::mock::{MockApi, Recorded, Reply};
    use crate::auth::token_review::TOKEN_REVIEWS_PATH;

    const PROMETHEUS: &str = "system:serviceaccount:openshift-monitoring:prometheus-k8s";

    /// A JWT-shaped token (the cache reads `exp`); the stand-in API server decides by `n`.
    fn token(n: u32) -> String {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let exp = jiff::Timestamp::now().as_second() + 3600;
        format!(
            "{}.{}.sig",
            b64(json!({"alg": "RS256"})),
            b64(json!({"exp": exp, "n": n}))
        )
    }

    /// Token 1 is Prometheus (allowed to scrape), token 2 someone else (not allowed), any
    /// other token is not authenticated.
    fn cluster(call: &Recorded) -> Reply {
        let body = call.json();
        if call.path == TOKEN_REVIEWS_PATH {
            let user = match body["spec"]["token"].as_str() {
                Some(t) if t == token(1) => PROMETHEUS,
                Some(t) if t == token(2) => "system:serviceaccount:default:default",
                _ => return Reply::Json(201, json!({"status": {"authenticated": false}})),
            };
            return Reply::Json(
                201,
                json!({"status": {"authenticated": true, "audiences": ["https://kubernetes.default.svc"],
                    "user": {"username": user, "groups": ["system:authenticated"]}}}),
            );
        }
        let allowed = body["spec"]["user"] == PROMETHEUS
            && body["spec"]["nonResourceAttributes"]["path"] == "/metrics";
        Reply::Json(201, json!({"status": {"allowed": allowed}}))
    }

    #[tokio::test]
    async fn an_api_server_token_is_reviewed_without_an_audience_then_authorized_by_rbac() {
        let (client, api) = MockApi::new(cluster);
        let access = ScrapeAccess::new(client, Duration::from_secs(5)).unwrap();
        for _ in 0..3 {
            let (identity, allowed) = access.check(&token(1)).await.unwrap();
            assert_eq!((identity.username.as_str(), allowed), (PROMETHEUS, true));
        }
        let (_, allowed) = access.check(&token(2)).await.unwrap();
        assert!(!allowed, "authenticated is not authorized");
        assert!(matches!(
            access.check(&token(3)).await,
            Err(AuthError::Invalid(_))
        ));
        // No audience asked for: the API server judges the token for its own.
        let review = api
            .calls()
            .into_iter()
            .find(|c| c.path == TOKEN_REVIEWS_PATH)
            .unwrap();
        assert_eq!(review.json()["spec"].get("audiences"), None);
        // Cached: one TokenReview per token and one access review per identity.
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 3);
        assert_eq!(api.count(SUBJECT_ACCESS_REVIEWS_PATH), 2);
    }

    #[tokio::test]
    async fn scrape_reviews_never_take_more_than_their_own_slots() {
        let (client, api) =
            MockApi::new(|call| Reply::Slow(Duration::from_millis(200), Box::new(cluster(call))));
        let access = Arc::new(ScrapeAccess::new(client, Duration::from_secs(5)).unwrap());
        let tasks: Vec<_> = (100..110)
            .map(|n| {
                let access = Arc::clone(&access);
                tokio::spawn(async move { access.check(&token(n)).await })
            })
            .collect();
        let mut unavailable = 0;
        for task in tasks {
            if let Err(AuthError::Unavailable { .. }) = task.await.unwrap() {
                unavailable += 1;
            }
        }
        assert!(
            api.count(TOKEN_REVIEWS_PATH) <= SCRAPE_REVIEW_SLOTS,
            "{} reviews for 10 concurrent tokens",
            api.count(TOKEN_REVIEWS_PATH)
        );
        assert!(unavailable >= 10 - SCRAPE_REVIEW_SLOTS);
    }
}
