//! The optional authorization step (DESIGN §5, behind a flag): asks the API server whether an
//! authenticated identity may report for an informer, with a SubjectAccessReview for verb
//! `update` on `updateinformers/insights` (group `update.openshift.io`) named after the informer.
//! It lets RBAC, which administrators already audit, grant reporting rights, in addition to the
//! informer's own `spec.producers`.
//!
//! The review carries the identity as TokenReview gave it (user, uid, groups) and never a token.
//! Answers, allow and deny alike, are cached under an HMAC of (identity, informer) for a short
//! TTL (the kube-apiserver's delegated-authorization defaults are 10 s for both), and concurrent
//! identical questions share one review. A deny is cached too: unlike a token refusal it is a
//! settled RBAC answer, and an RBAC change shows within the TTL. Not cached: errors (the API
//! server unreachable, 5xx, 429, a timeout, an undecodable answer: all [`AuthError::Unavailable`],
//! which the route turns into 503), and answers that come with an `evaluationError` (the
//! authorizer was not sure; ask again next time).

use std::fmt;
use std::time::Duration;

use http::Method;
use k8s_openapi::api::authorization::v1::SubjectAccessReviewStatus;
use serde::Deserialize;

use super::apiserver::{CallError, DEFAULT_RETRY_AFTER, call};
use super::cache::{CacheKeyError, Memo};
use super::{AuthError, Identity};

/// Where SubjectAccessReviews are created.
pub const SUBJECT_ACCESS_REVIEWS_PATH: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// The API group of UpdateInformers.
pub const INSIGHTS_GROUP: &str = "update.openshift.io";

/// The resource reviewed.
pub const INSIGHTS_RESOURCE: &str = "updateinformers";

/// The subresource reviewed: reporting insights, not changing the informer itself.
pub const INSIGHTS_SUBRESOURCE: &str = "insights";

/// The verb reviewed.
pub const INSIGHTS_VERB: &str = "update";

/// How long an answer is kept unless configured otherwise (kube-apiserver's default).
pub const DEFAULT_ACCESS_REVIEW_TTL: Duration = Duration::from_secs(10);

/// The deadline of one review unless configured otherwise.
pub const DEFAULT_ACCESS_REVIEW_TIMEOUT: Duration = Duration::from_secs(5);

/// How the reviewer is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessReviewSettings {
    /// How long an allow or deny is kept (zero: never).
    pub ttl: Duration,
    /// The deadline of one review.
    pub timeout: Duration,
}

impl Default for AccessReviewSettings {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_ACCESS_REVIEW_TTL,
            timeout: DEFAULT_ACCESS_REVIEW_TIMEOUT,
        }
    }
}

/// Why a SubjectAccessReview produced no answer; becomes [`AuthError::Unavailable`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessReviewError {
    /// The API server could not be asked, or did not answer usefully.
    #[error("subjectaccessreview")]
    Call(#[from] CallError),
    /// The answer is not a SubjectAccessReview.
    #[error(
        "subjectaccessreview: the API server's answer does not decode (line {line}, column {column})"
    )]
    Decode {
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
    },
}

impl From<AccessReviewError> for AuthError {
    fn from(error: AccessReviewError) -> Self {
        AuthError::Unavailable {
            retry_after: match &error {
                AccessReviewError::Call(call) => call.retry_after(),
                AccessReviewError::Decode { .. } => DEFAULT_RETRY_AFTER,
            },
        }
    }
}

/// One answer, and whether it may be cached.
#[derive(Clone, Copy)]
struct Verdict {
    allowed: bool,
    settled: bool,
}

/// The part of a SubjectAccessReview answer that is read.
#[derive(Deserialize)]
struct ReviewAnswer {
    status: Option<SubjectAccessReviewStatus>,
}

/// Asks the API server whether identities may report for informers; see the module
/// documentation.
pub struct AccessReviewer {
    client: kube::Client,
    settings: AccessReviewSettings,
    memo: Memo<Verdict>,
}

impl fmt::Debug for AccessReviewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessReviewer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AccessReviewer {
    /// A reviewer asking the API server `client` talks to.
    pub fn new(client: kube::Client, settings: AccessReviewSettings) -> Result<Self, CacheKeyError> {
        Ok(Self {
            client,
            settings,
            memo: Memo::new()?,
        })
    }

    /// Whether `identity` may report for `informer`: `Ok(true)` allowed, `Ok(false)` denied
    /// (403), `Err` ([`AuthError::Unavailable`]) when the API server could not answer (503).
    pub async fn allows(&self, identity: &Identity, informer: &str) -> Result<bool, AuthError> {
        let id = self.key(identity, informer);
        let ttl = self.settings.ttl;
        let verdict = self
            .memo
            .get_or_fetch(
                id,
                || async { self.review(identity, informer).await.map_err(AuthError::from) },
                |verdict| if verdict.settled { ttl } else { Duration::ZERO },
            )
            .await?;
        Ok(verdict.allowed)
    }

    /// The cache key: every field of the question, length-prefixed, and the group count, so no
    /// two different questions share a key.
    fn key(&self, identity: &Identity, informer: &str) -> Vec<u8> {
        let groups = u64::try_from(identity.groups.len())
            .unwrap_or(u64::MAX)
            .to_be_bytes();
        let (has_uid, uid): (&[u8], &[u8]) = match &identity.uid {
            Some(uid) => (b"1", uid.as_bytes()),
            None => (b"0", b""),
        };
        let mut parts: Vec<&[u8]> = vec![
            informer.as_bytes(),
            identity.username.as_bytes(),
            has_uid,
            uid,
            &groups,
        ];
        parts.extend(identity.groups.iter().map(|g| g.as_bytes()));
        self.memo.key_of(&parts)
    }

    async fn review(&self, identity: &Identity, informer: &str) -> Result<Verdict, AccessReviewError> {
        let body = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": identity.username,
                "uid": identity.uid,
                "groups": identity.groups,
                "resourceAttributes": {
                    "verb": INSIGHTS_VERB,
                    "group": INSIGHTS_GROUP,
                    "resource": INSIGHTS_RESOURCE,
                    "subresource": INSIGHTS_SUBRESOURCE,
                    "name": informer,
                },
            },
        })
        .to_string()
        .into_bytes();
        let answer = call(
            &self.client,
            Method::POST,
            SUBJECT_ACCESS_REVIEWS_PATH,
            Some(body),
            self.settings.timeout,
        )
        .await?;
        let answer: ReviewAnswer =
            serde_json::from_slice(&answer).map_err(|e| AccessReviewError::Decode {
                line: e.line(),
                column: e.column(),
            })?;
        // No status is no permission; `denied` overrides `allowed` (the API's contract).
        let Some(status) = answer.status else {
            return Ok(Verdict {
                allowed: false,
                settled: false,
            });
        };
        Ok(Verdict {
            allowed: status.allowed && status.denied != Some(true),
            settled: status.evaluation_error.as_deref().unwrap_or_default().is_empty(),
        })
    }
}
