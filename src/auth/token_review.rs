//! Authenticates a bearer token by asking the API server (`authentication.k8s.io/v1`
//! TokenReview), the authoritative check in Kubernetes mode (DESIGN §5 step 3).
//!
//! Every review asks for our audience in `spec.audiences`, and a token is accepted only when the
//! answer says `status.authenticated: true` **and** `status.audiences` is exactly `[ours]`.
//! That refuses the default in-pod token (audience: the API server), legacy secret tokens and
//! tokens minted for anyone else (research S1, S3), and, unlike local verification, it sees
//! revocation: a token whose pod or service account was deleted is refused (S4).
//!
//! Failure is never an accept: an unreachable, slow (past the per-call deadline), overloaded
//! (429) or failing (5xx) API server, an answer that does not decode, and a refusal by the API
//! server to let us review (401/403/404: our RBAC or the cluster is misconfigured, not the
//! producer's token) all become [`AuthError::Unavailable`], which the route answers with 503 and
//! `Retry-After`. Only the API server's own "not authenticated" or a missing audience is a 401.
//!
//! At most a configured number of reviews are outstanding at once; past that, a call fails at
//! once with `Unavailable` and a short `Retry-After` rather than queueing, so a flood of
//! distinct tokens can neither pile up API calls nor memory.
//!
//! **Reserved slots.** Any service account in any namespace can mint distinct, validly signed
//! tokens for our audience, and each costs a review; with one global pool that flood starves the
//! producers. So the cap is split: [`shared_slots`] (a quarter, at least one) for everyone, the
//! rest reserved. A review run inside [`in_pool`] with [`ReviewPool::Producers`] (the pre-check
//! verified the token's `sub` and the registry lists it) takes a reserved slot first, then a
//! shared one; [`ReviewPool::Shared`] (verified, not listed) takes shared slots only. A review
//! outside [`in_pool`] (the pre-check had no keys, so nobody can be told apart) may use every
//! slot, as before the split. The pool travels as a task-local because the review runs inside the
//! cache's single flight, which only forwards the token. Caching and the collapsing of
//! identical concurrent lookups are [`super::cache::CachingAuthenticator`]'s job, in front.
//!
//! The token goes into the request body and nowhere else: it is not logged, not kept, not part of
//! any error, and the response (which echoes it in `spec`) is decoded into a type without it.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use k8s_openapi::api::authentication::v1::TokenReviewStatus;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::apiserver::{CallError, DEFAULT_RETRY_AFTER, call};
use super::{AuthError, AuthFuture, Authenticator, Identity};

/// Where TokenReviews are created.
pub const TOKEN_REVIEWS_PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

/// The deadline of one review, connection and answer included, unless configured otherwise:
/// long enough for a loaded API server, short enough that a producer's request does not hang.
pub const DEFAULT_REVIEW_TIMEOUT: Duration = Duration::from_secs(5);

/// How many reviews may be outstanding at once unless configured otherwise: plenty for the few
/// dozen producers of a cluster (whose tokens are cached), small enough that a flood of distinct
/// tokens cannot become a flood of API calls.
pub const DEFAULT_MAX_OUTSTANDING_REVIEWS: usize = 32;

/// Which slots a review may take; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewPool {
    /// A verified token of a listed producer: reserved slots first, then shared ones.
    Producers,
    /// A verified token of anyone else: shared slots only.
    Shared,
}

tokio::task_local! {
    static REVIEW_POOL: ReviewPool;
}

/// Runs `review` (normally the cached TokenReview of one token) with the slots of `pool`.
pub async fn in_pool<F: std::future::Future>(pool: ReviewPool, review: F) -> F::Output {
    REVIEW_POOL.scope(pool, review).await
}

/// How many of `cap` slots are shared by callers no informer lists: a quarter, at least one
/// (8 of the default 32). The rest are reserved for listed producers.
pub fn shared_slots(cap: usize) -> usize {
    (cap / 4).max(1).min(cap)
}

/// The `Retry-After` of a call refused because the cap is reached: reviews take milliseconds, so
/// a slot is usually free again a second later.
pub const OVER_CAP_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How the TokenReview authenticator is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenReviewSettings {
    /// The audience asked for and required back (normally [`super::DEFAULT_AUDIENCE`]).
    pub audience: String,
    /// The deadline of one review.
    pub timeout: Duration,
    /// The most reviews outstanding at once.
    pub max_outstanding: usize,
}

impl TokenReviewSettings {
    /// Settings for `audience` with the default deadline and cap.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            timeout: DEFAULT_REVIEW_TIMEOUT,
            max_outstanding: DEFAULT_MAX_OUTSTANDING_REVIEWS,
        }
    }
}

/// Why a [`TokenReviewAuthenticator`] could not be built.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenReviewConfigError {
    /// An empty audience would let the API server default it to its own, accepting in-pod tokens.
    #[error("the TokenReview audience must not be empty")]
    EmptyAudience,
    /// A zero deadline would fail every review.
    #[error("the TokenReview timeout must be more than zero")]
    ZeroTimeout,
    /// A zero cap would fail every review.
    #[error("the cap on outstanding TokenReviews must be at least 1")]
    ZeroCap,
}

/// Why a review did not produce an identity. The first three are the API server's verdict on the
/// token (401); the rest mean it could not be asked (503). Never carries the token, and never the
/// API server's free-text `status.error`, which is not ours to vouch for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// `status.authenticated` is not `true`.
    #[error("tokenreview: the API server does not authenticate the token")]
    NotAuthenticated,
    /// Authenticated, but `status.audiences` is not exactly ours (for example the default
    /// in-pod token).
    #[error("tokenreview: the token is not meant for audience {audience}")]
    WrongAudience {
        /// The audience required.
        audience: String,
    },
    /// Authenticated without a username: an API server bug, refused rather than guessed at.
    #[error("tokenreview: the API server authenticated the token without a username")]
    NoUsername,
    /// The cap on outstanding reviews is reached.
    #[error("tokenreview: {cap} reviews already outstanding")]
    OverCap {
        /// The cap.
        cap: usize,
    },
    /// The API server could not be asked, or did not answer usefully.
    #[error("tokenreview")]
    Call(#[from] CallError),
    /// The answer is not a TokenReview. Only the position is kept: the body echoes the token.
    #[error("tokenreview: the API server's answer does not decode (line {line}, column {column})")]
    Decode {
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
    },
}

impl ReviewError {
    /// Whether this is the API server's verdict on the token (401), as opposed to a failure to get
    /// one (503).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::NotAuthenticated | Self::WrongAudience { .. } | Self::NoUsername
        )
    }
}

impl From<ReviewError> for AuthError {
    fn from(error: ReviewError) -> Self {
        match &error {
            ReviewError::NotAuthenticated
            | ReviewError::WrongAudience { .. }
            | ReviewError::NoUsername => AuthError::Invalid(error.to_string()),
            ReviewError::OverCap { .. } => AuthError::Unavailable {
                retry_after: OVER_CAP_RETRY_AFTER,
            },
            ReviewError::Call(call) => AuthError::Unavailable {
                retry_after: call.retry_after(),
            },
            ReviewError::Decode { .. } => AuthError::Unavailable {
                retry_after: DEFAULT_RETRY_AFTER,
            },
        }
    }
}

/// Authenticates tokens with TokenReview; see the module documentation.
pub struct TokenReviewAuthenticator {
    client: kube::Client,
    audience: String,
    timeout: Duration,
    cap: usize,
    /// Slots only listed producers take.
    reserved: Semaphore,
    /// Slots anyone takes.
    shared: Semaphore,
    last_failure: Mutex<Option<ReviewError>>,
}

impl fmt::Debug for TokenReviewAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenReviewAuthenticator")
            .field("audience", &self.audience)
            .field("timeout", &self.timeout)
            .field("cap", &self.cap)
            .field("outstanding", &self.outstanding())
            .finish_non_exhaustive()
    }
}

/// The part of a TokenReview answer that is read; `spec` (with the token) is skipped unread.
#[derive(Deserialize)]
struct ReviewAnswer {
    status: Option<TokenReviewStatus>,
}

impl TokenReviewAuthenticator {
    /// An authenticator asking the API server `client` talks to, with `settings`.
    pub fn new(
        client: kube::Client,
        settings: TokenReviewSettings,
    ) -> Result<Self, TokenReviewConfigError> {
        if settings.audience.is_empty() {
            return Err(TokenReviewConfigError::EmptyAudience);
        }
        if settings.timeout.is_zero() {
            return Err(TokenReviewConfigError::ZeroTimeout);
        }
        if settings.max_outstanding == 0 {
            return Err(TokenReviewConfigError::ZeroCap);
        }
        Ok(Self {
            client,
            audience: settings.audience,
            timeout: settings.timeout,
            cap: settings.max_outstanding,
            reserved: Semaphore::new(
                settings.max_outstanding - shared_slots(settings.max_outstanding),
            ),
            shared: Semaphore::new(shared_slots(settings.max_outstanding)),
            last_failure: Mutex::new(None),
        })
    }

    /// The audience asked for and required.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// How many reviews are in flight now (a gauge for metrics).
    pub fn outstanding(&self) -> usize {
        self.cap
            .saturating_sub(self.reserved.available_permits() + self.shared.available_permits())
    }

    /// A slot for one review, from the pool of the current [`in_pool`] scope.
    fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ReviewError> {
        let pool = REVIEW_POOL.try_with(|pool| *pool).ok();
        let reserved = match pool {
            Some(ReviewPool::Shared) => None,
            Some(ReviewPool::Producers) | None => self.reserved.try_acquire().ok(),
        };
        match reserved {
            Some(permit) => Ok(permit),
            None => self
                .shared
                .try_acquire()
                .map_err(|_| ReviewError::OverCap { cap: self.cap }),
        }
    }

    /// Why the most recent review that could not be made failed, until a review succeeds again:
    /// for a readiness condition or a metric (for example a 403 meaning our service account lacks
    /// `system:auth-delegator`), since nothing in this module logs.
    pub fn last_failure(&self) -> Option<ReviewError> {
        self.last_failure.lock().ok().and_then(|l| l.clone())
    }

    /// Reviews `token` once: no cache, no sharing (see [`super::cache::CachingAuthenticator`]).
    pub async fn review(&self, token: &str) -> Result<Identity, ReviewError> {
        let result = self.review_uncounted(token).await;
        if let Ok(mut last) = self.last_failure.lock() {
            match &result {
                Ok(_) => *last = None,
                Err(e) if !e.is_refusal() => *last = Some(e.clone()),
                Err(_) => {}
            }
        }
        result
    }

    async fn review_uncounted(&self, token: &str) -> Result<Identity, ReviewError> {
        let _permit = self.slot()?;
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": [self.audience]},
        })
        .to_string()
        .into_bytes();
        let status = post_review(&self.client, body, self.timeout).await?;
        self.identity(status)
    }

    /// Applies the acceptance rule to `status`.
    fn identity(&self, status: Option<TokenReviewStatus>) -> Result<Identity, ReviewError> {
        let status = status.ok_or(ReviewError::NotAuthenticated)?;
        if status.authenticated != Some(true) {
            return Err(ReviewError::NotAuthenticated);
        }
        // Exactly ours: we ask for ours alone, so anything else back is not an answer to us.
        if status.audiences.as_deref() != Some(std::slice::from_ref(&self.audience)) {
            return Err(ReviewError::WrongAudience {
                audience: self.audience.clone(),
            });
        }
        authenticated_user(status)
    }
}

/// Creates the TokenReview `body` and reads back its status (the echoed `spec`, with the
/// token, is skipped unread).
pub(super) async fn post_review(
    client: &kube::Client,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Option<TokenReviewStatus>, ReviewError> {
    let answer = call(
        client,
        Method::POST,
        TOKEN_REVIEWS_PATH,
        Some(body),
        timeout,
    )
    .await?;
    let answer: ReviewAnswer =
        serde_json::from_slice(&answer).map_err(|e| ReviewError::Decode {
            line: e.line(),
            column: e.column(),
        })?;
    Ok(answer.status)
}

/// The user of an answer that authenticates the token; refused unless it says so and names a
/// user (an authenticated answer without a username is an API server bug, not guessed at).
pub(super) fn authenticated_user(status: TokenReviewStatus) -> Result<Identity, ReviewError> {
    if status.authenticated != Some(true) {
        return Err(ReviewError::NotAuthenticated);
    }
    let user = status.user.unwrap_or_default();
    let username = user
        .username
        .filter(|u| !u.is_empty())
        .ok_or(ReviewError::NoUsername)?;
    Ok(Identity {
        username,
        uid: user.uid.filter(|u| !u.is_empty()),
        groups: user.groups.unwrap_or_default(),
    })
}

impl Authenticator for TokenReviewAuthenticator {
    fn authenticate<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            self.review(token)
                .await
                .map(Arc::new)
                .map_err(AuthError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use super::*;
    use crate::auth::DEFAULT_AUDIENCE;
    use crate::auth::apiserver::mock::{MockApi, Recorded, Reply};
    use crate::auth::cache::CachingAuthenticator;

    const USER: &str = "system:serviceaccount:openshift-machine-config-operator:mco";
    const UID: &str = "2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b";

    /// A JWT-shaped token expiring in `exp_in` seconds; `n` makes it distinct. TokenReview does
    /// not care about its signature: the stand-in API server decides from the table.
    fn token(n: usize, exp_in: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = json!({"exp": now + exp_in, "n": n});
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"signature")
        )
    }

    fn accepted(audiences: &[&str]) -> Reply {
        Reply::Json(
            201,
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": "<echoed>", "audiences": [DEFAULT_AUDIENCE]},
                "status": {
                    "authenticated": true,
                    "audiences": audiences,
                    "user": {
                        "username": USER,
                        "uid": UID,
                        "groups": ["system:serviceaccounts", "system:serviceaccounts:openshift-machine-config-operator", "system:authenticated"],
                        "extra": {"authentication.kubernetes.io/pod-name": ["mco-1"]},
                    },
                },
            }),
        )
    }

    fn unauthenticated() -> Reply {
        Reply::Json(
            201,
            json!({"status": {"authenticated": false, "error": "[invalid bearer token, token lookup failed]"}}),
        )
    }

    /// The token a recorded TokenReview asked about.
    fn reviewed_token(call: &Recorded) -> String {
        call.json()["spec"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn settings() -> TokenReviewSettings {
        TokenReviewSettings::new(DEFAULT_AUDIENCE)
    }

    fn reviewer(
        reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> (TokenReviewAuthenticator, MockApi) {
        let (client, api) = MockApi::new(reply);
        (
            TokenReviewAuthenticator::new(client, settings()).unwrap(),
            api,
        )
    }

    fn cached(inner: TokenReviewAuthenticator) -> CachingAuthenticator<TokenReviewAuthenticator> {
        CachingAuthenticator::new(inner, Duration::from_secs(10))
            .unwrap()
            .with_audiences(&[DEFAULT_AUDIENCE])
    }

    #[tokio::test]
    async fn accepts_a_token_for_our_audience_and_asks_for_it() {
        let (auth, api) = reviewer(|_| accepted(&[DEFAULT_AUDIENCE]));
        let t = token(1, 600);
        let identity = auth.authenticate(&t).await.unwrap();
        assert_eq!(
            *identity,
            Identity {
                username: USER.to_owned(),
                uid: Some(UID.to_owned()),
                groups: vec![
                    "system:serviceaccounts".to_owned(),
                    "system:serviceaccounts:openshift-machine-config-operator".to_owned(),
                    "system:authenticated".to_owned(),
                ],
            }
        );
        let calls = api.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].method, "POST");
        assert_eq!(calls[0].path, TOKEN_REVIEWS_PATH);
        let body = calls[0].json();
        assert_eq!(body["kind"], "TokenReview");
        assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(body["spec"]["audiences"], json!([DEFAULT_AUDIENCE]));
        assert_eq!(reviewed_token(&calls[0]), t);
        assert_eq!(auth.outstanding(), 0);
        assert_eq!(auth.last_failure(), None);
    }

    #[tokio::test]
    async fn refuses_a_token_whose_audiences_lack_ours() {
        for audiences in [
            vec![],
            vec!["https://kubernetes.default.svc"],
            vec!["update-status-controller.openshift.io.evil"],
            // Ours among others: an answer to some other question than ours.
            vec![DEFAULT_AUDIENCE, "https://kubernetes.default.svc"],
            vec!["other.example", DEFAULT_AUDIENCE],
        ] {
            let (auth, _) = reviewer(move |_| accepted(&audiences));
            let got = auth.authenticate(&token(1, 600)).await;
            assert_eq!(
                got,
                Err(AuthError::Invalid(format!(
                    "tokenreview: the token is not meant for audience {DEFAULT_AUDIENCE}"
                )))
            );
        }
        // No `audiences` at all (a legacy token) is the same refusal.
        let (auth, _) = reviewer(|_| {
            Reply::Json(
                201,
                json!({"status": {"authenticated": true, "user": {"username": USER}}}),
            )
        });
        assert!(matches!(
            auth.authenticate(&token(1, 600)).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn refuses_an_unauthenticated_token_without_quoting_the_api_server() {
        let (auth, _) = reviewer(|_| unauthenticated());
        let got = auth.authenticate(&token(1, 600)).await;
        assert_eq!(
            got,
            Err(AuthError::Invalid(
                "tokenreview: the API server does not authenticate the token".to_owned()
            ))
        );
        for reply in [
            json!({}),
            json!({"status": {}}),
            json!({"status": {"authenticated": null, "audiences": [DEFAULT_AUDIENCE]}}),
        ] {
            let (auth, _) = reviewer(move |_| Reply::Json(201, reply.clone()));
            assert!(matches!(
                auth.authenticate(&token(1, 600)).await,
                Err(AuthError::Invalid(_))
            ));
        }
        let (auth, _) = reviewer(|_| {
            Reply::Json(
                201,
                json!({"status": {"authenticated": true, "audiences": [DEFAULT_AUDIENCE], "user": {"username": ""}}}),
            )
        });
        assert_eq!(
            auth.review(&token(1, 600)).await,
            Err(ReviewError::NoUsername)
        );
        // Refusals are not failures of the authority.
        assert_eq!(auth.last_failure(), None);
    }

    #[tokio::test]
    async fn api_failures_are_unavailable_and_not_cached() {
        let cases: Vec<(fn() -> Reply, Duration)> = vec![
            (|| Reply::Status(500, None), DEFAULT_RETRY_AFTER),
            (|| Reply::Status(503, Some("2")), Duration::from_secs(2)),
            (|| Reply::Status(429, Some("9")), Duration::from_secs(9)),
            (|| Reply::Status(403, None), DEFAULT_RETRY_AFTER),
            (|| Reply::ConnectionError, DEFAULT_RETRY_AFTER),
            (
                || Reply::Json(201, json!("not a review")),
                DEFAULT_RETRY_AFTER,
            ),
        ];
        for (failure, retry_after) in cases {
            // Fails on the first call, accepts on the second: the failure must not be remembered.
            let calls = AtomicUsize::new(0);
            let (client, api) = MockApi::new(move |_| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    failure()
                } else {
                    accepted(&[DEFAULT_AUDIENCE])
                }
            });
            let auth = cached(TokenReviewAuthenticator::new(client, settings()).unwrap());
            let t = token(1, 600);
            assert_eq!(
                auth.authenticate(&t).await,
                Err(AuthError::Unavailable { retry_after })
            );
            assert!(auth.inner().last_failure().is_some());
            assert!(
                auth.authenticate(&t).await.is_ok(),
                "second call asks again"
            );
            assert_eq!(api.count(TOKEN_REVIEWS_PATH), 2);
            assert_eq!(auth.inner().last_failure(), None, "a success clears it");
        }
    }

    #[tokio::test]
    async fn a_stalled_api_server_times_out_as_unavailable() {
        let (client, _) = MockApi::new(|_| Reply::Stall);
        let mut s = settings();
        s.timeout = Duration::from_millis(50);
        let auth = TokenReviewAuthenticator::new(client, s).unwrap();
        let got = auth.authenticate(&token(1, 600)).await;
        assert_eq!(
            got,
            Err(AuthError::Unavailable {
                retry_after: DEFAULT_RETRY_AFTER
            })
        );
        assert!(matches!(
            auth.last_failure(),
            Some(ReviewError::Call(CallError::Timeout { .. }))
        ));
        assert_eq!(auth.outstanding(), 0, "the slot is returned");
    }

    #[tokio::test]
    async fn refusals_are_not_cached_either() {
        let (auth, api) = reviewer(|_| unauthenticated());
        let auth = cached(auth);
        let t = token(1, 600);
        assert!(auth.authenticate(&t).await.is_err());
        assert!(auth.authenticate(&t).await.is_err());
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 2);
    }

    #[tokio::test]
    async fn one_review_per_token_within_the_ttl() {
        let (auth, api) = reviewer(|_| accepted(&[DEFAULT_AUDIENCE]));
        let auth = cached(auth);
        let t = token(1, 600);
        for _ in 0..100 {
            assert_eq!(
                auth.authenticate(&t).await.map(|i| i.username.clone()),
                Ok(USER.to_owned())
            );
        }
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 1);
        // Another token is another review.
        assert!(auth.authenticate(&token(2, 600)).await.is_ok());
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 2);
        assert!(!format!("{auth:?}").contains(&t));
    }

    #[tokio::test]
    async fn concurrent_lookups_of_a_new_token_share_one_review() {
        let (auth, api) = reviewer(|_| {
            Reply::Slow(
                Duration::from_millis(100),
                Box::new(accepted(&[DEFAULT_AUDIENCE])),
            )
        });
        let auth = Arc::new(cached(auth));
        let t = token(7, 600);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (auth, t) = (Arc::clone(&auth), t.clone());
            tasks.spawn(async move { auth.authenticate(&t).await });
        }
        let mut ok = 0;
        while let Some(result) = tasks.join_next().await {
            assert_eq!(
                result.unwrap().map(|i| i.username.clone()),
                Ok(USER.to_owned())
            );
            ok += 1;
        }
        assert_eq!(ok, 50);
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 1);
    }

    #[tokio::test]
    async fn calls_past_the_cap_fail_fast() {
        let (client, api) = MockApi::new(|_| Reply::Stall);
        let mut s = settings();
        s.max_outstanding = 3;
        s.timeout = Duration::from_secs(60);
        let auth = Arc::new(cached(TokenReviewAuthenticator::new(client, s).unwrap()));
        let mut stalled = tokio::task::JoinSet::new();
        for n in 0..3 {
            let auth = Arc::clone(&auth);
            stalled.spawn(async move { auth.authenticate(&token(n, 600)).await });
        }
        // Wait until the stand-in holds all three.
        for _ in 0..200 {
            if api.count(TOKEN_REVIEWS_PATH) == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 3);
        assert_eq!(auth.inner().outstanding(), 3);
        for n in 3..20 {
            let got =
                tokio::time::timeout(Duration::from_secs(1), auth.authenticate(&token(n, 600)))
                    .await
                    .expect("a call over the cap must not wait");
            assert_eq!(
                got,
                Err(AuthError::Unavailable {
                    retry_after: OVER_CAP_RETRY_AFTER
                })
            );
        }
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 3, "no review past the cap");
        assert_eq!(
            auth.inner().last_failure(),
            Some(ReviewError::OverCap { cap: 3 })
        );
        stalled.abort_all();
        while stalled.join_next().await.is_some() {}
        assert_eq!(
            auth.inner().outstanding(),
            0,
            "cancelled reviews return their slots"
        );
    }

    #[tokio::test]
    async fn unlisted_callers_cannot_take_the_producers_slots() {
        let (client, api) = MockApi::new(|_| Reply::Stall);
        let mut s = settings();
        s.max_outstanding = 8;
        s.timeout = Duration::from_secs(60);
        assert_eq!(shared_slots(8), 2);
        assert_eq!(shared_slots(32), 8);
        assert_eq!(shared_slots(1), 1);
        let auth = Arc::new(cached(TokenReviewAuthenticator::new(client, s).unwrap()));
        let mut stalled = tokio::task::JoinSet::new();
        // A flood of distinct tokens from unlisted callers: two slots, then 503s at once.
        for n in 0..20 {
            let auth = Arc::clone(&auth);
            stalled.spawn(async move {
                in_pool(ReviewPool::Shared, auth.authenticate(&token(n, 600))).await
            });
        }
        let mut refused = 0;
        while refused < 18 {
            let got = tokio::time::timeout(Duration::from_secs(1), stalled.join_next())
                .await
                .expect("calls over the shared slots must not wait");
            assert_eq!(
                got.unwrap().unwrap(),
                Err(AuthError::Unavailable {
                    retry_after: OVER_CAP_RETRY_AFTER
                })
            );
            refused += 1;
        }
        assert_eq!(refused, 18);
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 2);
        // Listed producers still have their six.
        for n in 100..106 {
            let auth = Arc::clone(&auth);
            stalled.spawn(async move {
                in_pool(ReviewPool::Producers, auth.authenticate(&token(n, 600))).await
            });
        }
        for _ in 0..200 {
            if api.count(TOKEN_REVIEWS_PATH) == 8 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(api.count(TOKEN_REVIEWS_PATH), 8);
        assert_eq!(auth.inner().outstanding(), 8);
        // And now the cap is the cap for everyone.
        let got = in_pool(ReviewPool::Producers, auth.authenticate(&token(200, 600))).await;
        assert!(matches!(got, Err(AuthError::Unavailable { .. })));
        stalled.abort_all();
        while stalled.join_next().await.is_some() {}
    }

    #[tokio::test]
    async fn the_token_appears_only_in_the_review_request() {
        let (auth, api) = reviewer(|_| accepted(&["https://kubernetes.default.svc"]));
        let t = token(3, 600);
        let err = auth.authenticate(&t).await.unwrap_err();
        assert!(!err.to_string().contains(&t));
        assert!(!format!("{err:?}").contains(&t));
        assert!(!format!("{auth:?}").contains(&t));
        let calls = api.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].path, TOKEN_REVIEWS_PATH);
        let mut body: Value = calls[0].json();
        body["spec"]["token"] = Value::Null;
        assert!(!body.to_string().contains(&t));
    }

    #[test]
    fn refuses_settings_that_would_weaken_or_break_it() {
        let cases = [
            (
                TokenReviewSettings::new(""),
                TokenReviewConfigError::EmptyAudience,
            ),
            (
                TokenReviewSettings {
                    timeout: Duration::ZERO,
                    ..settings()
                },
                TokenReviewConfigError::ZeroTimeout,
            ),
            (
                TokenReviewSettings {
                    max_outstanding: 0,
                    ..settings()
                },
                TokenReviewConfigError::ZeroCap,
            ),
        ];
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        for (s, want) in cases {
            let (client, _) = MockApi::new(|_| Reply::Stall);
            assert_eq!(TokenReviewAuthenticator::new(client, s).err(), Some(want));
        }
    }
}
